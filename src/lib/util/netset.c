/*
 * netset.c - prefix sets as one hash set per prefix length (netset.h).
 *
 * Each length's set is open addressing with linear probing over the masked
 * 16-byte prefix; the hash is unkeyed (splitmix-style mixing) because the
 * set's contents come from the operator, not from traffic.
 */
#include "util/netset.h"
#include "util/addr.h"
#include "util/mem.h"

#include <ctype.h>
#include <string.h>

struct lenset {
	uint8_t (*slot)[16];
	uint8_t *used;
	size_t cap, n;
};

struct floe_netset {
	struct floe_budget *budget;
	struct lenset len[129];
	uint8_t lengths[129];   /* distinct lengths present, longest first */
	unsigned nlengths;
	size_t count;
};

static uint64_t mix(const uint8_t a[16])
{
	uint64_t x, y;
	memcpy(&x, a, 8);
	memcpy(&y, a + 8, 8);
	x ^= y * 0x9e3779b97f4a7c15ull;
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

struct floe_netset *floe_netset_create(struct floe_budget *budget)
{
	struct floe_netset *s = floe_calloc(budget, 1, sizeof(*s));
	if (s)
		s->budget = budget;
	return s;
}

void floe_netset_destroy(struct floe_netset *s)
{
	if (!s)
		return;
	for (int i = 0; i <= 128; i++) {
		floe_free(s->budget, s->len[i].slot, s->len[i].cap * 16);
		floe_free(s->budget, s->len[i].used, s->len[i].cap);
	}
	floe_free(s->budget, s, sizeof(*s));
}

static bool lookup(const struct lenset *ls, const uint8_t a[16])
{
	if (!ls->cap)
		return false;
	size_t mask = ls->cap - 1;
	for (size_t i = mix(a) & mask;; i = (i + 1) & mask) {
		if (!ls->used[i])
			return false;
		if (memcmp(ls->slot[i], a, 16) == 0)
			return true;
	}
}

static void put(struct lenset *ls, const uint8_t a[16])
{
	size_t mask = ls->cap - 1;
	size_t i = mix(a) & mask;
	while (ls->used[i])
		i = (i + 1) & mask;
	ls->used[i] = 1;
	memcpy(ls->slot[i], a, 16);
	ls->n++;
}

static enum floe_err grow(struct floe_netset *s, struct lenset *ls)
{
	size_t ncap = ls->cap ? ls->cap * 2 : 8;
	struct lenset nl = {0};
	nl.slot = floe_malloc(s->budget, ncap * 16);
	nl.used = floe_calloc(s->budget, ncap, 1);
	if (!nl.slot || !nl.used) {
		floe_free(s->budget, nl.slot, ncap * 16);
		floe_free(s->budget, nl.used, ncap);
		return FLOE_NOMEM;
	}
	nl.cap = ncap;
	for (size_t i = 0; i < ls->cap; i++)
		if (ls->used[i])
			put(&nl, ls->slot[i]);
	floe_free(s->budget, ls->slot, ls->cap * 16);
	floe_free(s->budget, ls->used, ls->cap);
	*ls = nl;
	return FLOE_OK;
}

enum floe_err floe_netset_add(struct floe_netset *s, const uint8_t net[16], unsigned plen)
{
	if (plen > 128)
		return FLOE_INVALID;
	uint8_t a[16];
	memcpy(a, net, 16);
	floe_addr_mask(a, plen);
	struct lenset *ls = &s->len[plen];
	if (lookup(ls, a))
		return FLOE_OK;
	if ((ls->n + 1) * 4 > ls->cap * 3) {   /* load factor 3/4 */
		enum floe_err e = grow(s, ls);
		if (e != FLOE_OK)
			return e;
	}
	if (ls->n == 0) {
		/* keep the distinct lengths sorted, longest first */
		unsigned k = s->nlengths;
		while (k > 0 && s->lengths[k - 1] < plen) {
			s->lengths[k] = s->lengths[k - 1];
			k--;
		}
		s->lengths[k] = (uint8_t)plen;
		s->nlengths++;
	}
	put(ls, a);
	s->count++;
	return FLOE_OK;
}

bool floe_netset_contains(const struct floe_netset *s, const uint8_t a[16])
{
	for (unsigned i = 0; i < s->nlengths; i++) {
		unsigned plen = s->lengths[i];
		uint8_t m[16];
		memcpy(m, a, 16);
		floe_addr_mask(m, plen);
		if (lookup(&s->len[plen], m))
			return true;
	}
	return false;
}

size_t floe_netset_count(const struct floe_netset *s)
{
	return s->count;
}

bool floe_netset_hosts(const struct floe_netset *s, uint8_t (*out)[16], size_t cap, size_t *n)
{
	*n = 0;
	if (s->nlengths != 1 || s->lengths[0] != 128 || s->count > cap)
		return s->nlengths == 0;
	const struct lenset *ls = &s->len[128];
	for (size_t i = 0; i < ls->cap; i++)
		if (ls->used[i])
			memcpy(out[(*n)++], ls->slot[i], 16);
	return true;
}

enum floe_err floe_netset_add_text(struct floe_netset *s, const char *text,
                                   struct floe_errbuf *eb)
{
	unsigned line = 1;
	const char *p = text;
	while (*p) {
		if (*p == '#') {
			while (*p && *p != '\n')
				p++;
			continue;
		}
		if (*p == '\n')
			line++;
		if (isspace((unsigned char)*p) || *p == ',') {
			p++;
			continue;
		}
		const char *start = p;
		while (*p && !isspace((unsigned char)*p) && *p != ',' && *p != '#')
			p++;
		char word[64];
		size_t len = (size_t)(p - start);
		uint8_t a[16];
		unsigned plen;
		if (len >= sizeof(word)) {
			return floe_errbuf_set(eb, FLOE_INVALID, "line %u: entry too long: '%.20s...'", line,
			                       start);
		}
		memcpy(word, start, len);
		word[len] = '\0';
		if (!floe_cidr_parse(word, a, &plen))
			return floe_errbuf_set(eb, FLOE_INVALID, "line %u: not an address or network: '%s'",
			                       line, word);
		if (floe_netset_add(s, a, plen) != FLOE_OK)
			return floe_errbuf_set(eb, FLOE_NOMEM, "line %u: out of memory", line);
	}
	return FLOE_OK;
}
