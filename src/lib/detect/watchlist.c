/*
 * watchlist.c - the watchlist: parse, sort, nest, look up (watchlist.h).
 */
#include "detect/watchlist.h"
#include "flow.h"
#include "util/addr.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wentry {
	uint64_t hi, lo;     /* first address, big-endian halves */
	int32_t parent;      /* innermost enclosing entry, -1 if none */
	uint8_t plen;        /* 128-bit terms */
};

/* IPv4 entries are found through their first 16 bits: v4idx[b] is the
 * first entry starting at or after ::ffff:b.0.0 (b = 65536: past the IPv4
 * space), so a lookup searches only the entries of one /16. */
#define V4_BUCKETS 65536

struct floe_watchlist {
	struct floe_budget *budget;
	struct wentry *e;
	size_t n, cap;
	uint32_t *v4idx;    /* V4_BUCKETS + 1 entries */
};

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Last address of entry x, as (hi, lo). */
static void entry_end(const struct wentry *x, uint64_t *hi, uint64_t *lo)
{
	if (x->plen >= 64) {
		*hi = x->hi;
		*lo = x->plen == 128 ? x->lo : x->lo | (UINT64_MAX >> (x->plen - 64));
	} else {
		*hi = x->plen == 0 ? UINT64_MAX : x->hi | (UINT64_MAX >> x->plen);
		*lo = UINT64_MAX;
	}
}

static int cmp128(uint64_t ah, uint64_t al, uint64_t bh, uint64_t bl)
{
	if (ah != bh)
		return ah < bh ? -1 : 1;
	if (al != bl)
		return al < bl ? -1 : 1;
	return 0;
}

static bool entry_contains(const struct wentry *x, uint64_t hi, uint64_t lo)
{
	uint64_t eh, el;
	entry_end(x, &eh, &el);
	return cmp128(x->hi, x->lo, hi, lo) <= 0 && cmp128(hi, lo, eh, el) <= 0;
}

/* By first address, then the wider prefix first (it encloses the other). */
static int entry_cmp(const void *a, const void *b)
{
	const struct wentry *x = a, *y = b;
	int c = cmp128(x->hi, x->lo, y->hi, y->lo);
	if (c)
		return c;
	return (x->plen > y->plen) - (x->plen < y->plen);
}

static enum floe_err add_entry(struct floe_watchlist *w, const char *tok, size_t line,
                               struct floe_errbuf *eb)
{
	uint8_t a[16];
	unsigned plen;
	if (!floe_cidr_parse(tok, a, &plen))
		return floe_errbuf_set(eb, FLOE_INVALID, "line %zu: '%s' is not an address or network",
		                       line, tok);
	if (!floe_grow(w->budget, (void **)&w->e, &w->cap, w->n + 1, sizeof(*w->e), 1024))
		return floe_errbuf_set(eb, FLOE_NOMEM, "watchlist: out of memory at line %zu", line);
	w->e[w->n++] = (struct wentry){.hi = be64(a), .lo = be64(a + 8), .parent = -1,
	                                .plen = (uint8_t)plen};
	return FLOE_OK;
}

/* Sorts, drops duplicates, links each entry to its innermost container
 * with a stack of the entries enclosing the current one. */
static enum floe_err finish(struct floe_watchlist *w, struct floe_errbuf *eb)
{
	if (w->n == 0)
		return FLOE_OK;
	qsort(w->e, w->n, sizeof(*w->e), entry_cmp);
	size_t k = 1;
	for (size_t i = 1; i < w->n; i++)
		if (entry_cmp(&w->e[i], &w->e[k - 1]) != 0)
			w->e[k++] = w->e[i];
	w->n = k;
	if (w->n > INT32_MAX)
		return floe_errbuf_set(eb, FLOE_LIMIT, "watchlist: more than %d entries", INT32_MAX);
	int32_t stack[130];
	size_t depth = 0;
	for (size_t i = 0; i < w->n; i++) {
		struct wentry *x = &w->e[i];
		while (depth && !entry_contains(&w->e[stack[depth - 1]], x->hi, x->lo))
			depth--;
		x->parent = depth ? stack[depth - 1] : -1;
		stack[depth++] = (int32_t)i;  /* at most 129 nested lengths */
	}
	w->v4idx = floe_malloc(w->budget, (V4_BUCKETS + 1) * sizeof(*w->v4idx));
	if (!w->v4idx)
		return floe_errbuf_set(eb, FLOE_NOMEM, "watchlist: out of memory");
	size_t i = 0;
	for (uint64_t b = 0; b <= V4_BUCKETS; b++) {
		uint64_t lo = b < V4_BUCKETS ? 0xffff00000000ull | b << 16 : 0x0001000000000000ull;
		while (i < w->n && cmp128(w->e[i].hi, w->e[i].lo, 0, lo) < 0)
			i++;
		w->v4idx[b] = (uint32_t)i;
	}
	return FLOE_OK;
}

struct floe_watchlist *floe_watchlist_parse(const char *text, size_t len,
                                            struct floe_budget *budget, struct floe_errbuf *eb)
{
	struct floe_watchlist *w = floe_calloc(budget, 1, sizeof(*w));
	if (!w) {
		floe_errbuf_set(eb, FLOE_NOMEM, "watchlist: out of memory");
		return NULL;
	}
	w->budget = budget;
	size_t line = 1;
	for (size_t i = 0; i < len;) {
		char c = text[i];
		if (c == '\n') {
			line++;
			i++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == ',') {
			i++;
		} else if (c == '#') {
			while (i < len && text[i] != '\n')
				i++;
		} else {
			char tok[64];
			size_t n = 0;
			while (i < len && !strchr(" \t\r\n,#", text[i]) && text[i] != '\0') {
				if (n + 1 < sizeof(tok))
					tok[n] = text[i];
				n++;
				i++;
			}
			if (n == 0) {  /* a NUL byte */
				floe_errbuf_set(eb, FLOE_INVALID, "line %zu: a NUL byte in the list", line);
				goto fail;
			}
			if (n >= sizeof(tok)) {
				floe_errbuf_set(eb, FLOE_INVALID, "line %zu: an entry of %zu characters",
				                line, n);
				goto fail;
			}
			tok[n] = '\0';
			if (add_entry(w, tok, line, eb) != FLOE_OK)
				goto fail;
		}
	}
	if (finish(w, eb) == FLOE_OK)
		return w;
fail:
	floe_watchlist_destroy(w);
	return NULL;
}

void floe_watchlist_destroy(struct floe_watchlist *w)
{
	if (!w)
		return;
	floe_free(w->budget, w->e, w->cap * sizeof(*w->e));
	if (w->v4idx)
		floe_free(w->budget, w->v4idx, (V4_BUCKETS + 1) * sizeof(*w->v4idx));
	floe_free(w->budget, w, sizeof(*w));
}

long floe_watchlist_lookup(const struct floe_watchlist *w, const uint8_t a[16])
{
	uint64_t hi = be64(a), lo = be64(a + 8);
	size_t l = 0, r = w->n;  /* the first entry starting after a is at r */
	if (w->v4idx && floe_addr_is_v4(a)) {
		unsigned b = (unsigned)a[12] << 8 | a[13];
		l = w->v4idx[b];
		r = w->v4idx[b + 1];
	}
	while (l < r) {
		size_t m = l + (r - l) / 2;
		if (cmp128(w->e[m].hi, w->e[m].lo, hi, lo) <= 0)
			l = m + 1;
		else
			r = m;
	}
	long i = (long)l - 1;
	while (i >= 0 && !entry_contains(&w->e[i], hi, lo))
		i = w->e[i].parent;
	return i;
}

size_t floe_watchlist_count(const struct floe_watchlist *w)
{
	return w->n;
}

static void entry_addr(const struct wentry *x, uint8_t a[16])
{
	for (int k = 0; k < 8; k++) {
		a[k] = (uint8_t)(x->hi >> (56 - 8 * k));
		a[8 + k] = (uint8_t)(x->lo >> (56 - 8 * k));
	}
}

bool floe_watchlist_hosts(const struct floe_watchlist *w, uint8_t (*out)[16], size_t cap,
                          size_t *n)
{
	if (w->n > cap)
		return false;
	for (size_t i = 0; i < w->n; i++)
		if (w->e[i].plen != 128)
			return false;
	for (size_t i = 0; i < w->n; i++)
		entry_addr(&w->e[i], out[i]);
	*n = w->n;
	return true;
}

void floe_watchlist_format(const struct floe_watchlist *w, size_t i, char *buf, size_t len)
{
	const struct wentry *x = &w->e[i];
	uint8_t a[16];
	entry_addr(x, a);
	char s[FLOE_ADDRSTRLEN];
	floe_addr_format(a, s, sizeof(s));
	unsigned plen = floe_addr_is_v4(a) && x->plen >= 96 ? x->plen - 96u : x->plen;
	snprintf(buf, len, "%s/%u", s, plen);
}
