/*
 * notes.c - labelled prefixes (prefixes.h): the notes and customers file
 * parsers and the longest-prefix lookup.
 */
#include "report/prefixes.h"

#include "flow.h"
#include "util/addr.h"
#include "util/mem.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct ent {
	uint8_t net[16];
	uint32_t label;
	uint32_t line;
	uint8_t plen;
};

struct run {
	size_t first, n;   /* ents[first .. first + n) all have length plen */
	unsigned plen;
};

struct floe_prefixes {
	struct floe_budget *b;
	struct ent *ents;
	size_t n, cap;
	struct run runs[129];
	size_t nruns;
	char *text;            /* labels, NUL-terminated one after the other */
	size_t tlen, tcap;
	uint32_t *loff;        /* label i starts at text + loff[i] */
	uint32_t *lline;       /* the line label i came from */
	size_t nlabels, lcap, llcap;
};

#define NAME_MAX_LEN 64

static struct floe_prefixes *create(struct floe_budget *b)
{
	struct floe_prefixes *p = floe_calloc(b, 1, sizeof(*p));
	if (p)
		p->b = b;
	return p;
}

void floe_prefixes_destroy(struct floe_prefixes *p)
{
	if (!p)
		return;
	floe_free(p->b, p->ents, p->cap * sizeof(*p->ents));
	floe_free(p->b, p->text, p->tcap);
	floe_free(p->b, p->loff, p->lcap * sizeof(*p->loff));
	floe_free(p->b, p->lline, p->llcap * sizeof(*p->lline));
	floe_free(p->b, p, sizeof(*p));
}

static enum floe_err add_label(struct floe_prefixes *p, const char *s, size_t n, unsigned line)
{
	if (!floe_grow(p->b, (void **)&p->text, &p->tcap, p->tlen + n + 1, 1, 256) ||
	    !floe_grow(p->b, (void **)&p->loff, &p->lcap, p->nlabels + 1, sizeof(*p->loff), 16) ||
	    !floe_grow(p->b, (void **)&p->lline, &p->llcap, p->nlabels + 1, sizeof(*p->lline), 16))
		return FLOE_NOMEM;
	if (p->tlen + n + 1 > UINT32_MAX)
		return FLOE_LIMIT;
	memcpy(p->text + p->tlen, s, n);
	p->text[p->tlen + n] = '\0';
	p->loff[p->nlabels] = (uint32_t)p->tlen;
	p->lline[p->nlabels] = line;
	p->nlabels++;
	p->tlen += n + 1;
	return FLOE_OK;
}

static enum floe_err add_prefix(struct floe_prefixes *p, const char *tok, size_t n, unsigned line,
                                struct floe_errbuf *eb)
{
	char buf[64];
	struct ent e = {.label = (uint32_t)(p->nlabels - 1), .line = line};
	unsigned plen;
	if (n >= sizeof(buf))
		return floe_errbuf_set(eb, FLOE_MALFORMED, "line %u: '%.40s...' is not an address or prefix",
		                       line, tok);
	memcpy(buf, tok, n);
	buf[n] = '\0';
	if (!floe_cidr_parse(buf, e.net, &plen))
		return floe_errbuf_set(eb, FLOE_MALFORMED, "line %u: '%s' is not an address or prefix", line,
		                       buf);
	e.plen = (uint8_t)plen;
	if (!floe_grow(p->b, (void **)&p->ents, &p->cap, p->n + 1, sizeof(*p->ents), 16))
		return floe_errbuf_set(eb, FLOE_NOMEM, "line %u: out of memory", line);
	p->ents[p->n++] = e;
	return FLOE_OK;
}

static int ent_cmp(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;
	if (x->plen != y->plen)
		return x->plen > y->plen ? -1 : 1;
	int c = memcmp(x->net, y->net, 16);
	if (c)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* Sorts the prefixes, refuses duplicates, builds the runs. */
static enum floe_err finish(struct floe_prefixes *p, struct floe_errbuf *eb)
{
	if (p->n)
		qsort(p->ents, p->n, sizeof(*p->ents), ent_cmp);
	p->nruns = 0;
	for (size_t i = 0; i < p->n; i++) {
		if (i && p->ents[i].plen == p->ents[i - 1].plen &&
		    memcmp(p->ents[i].net, p->ents[i - 1].net, 16) == 0) {
			char a[FLOE_ADDRSTRLEN];
			floe_addr_format(p->ents[i].net, a, sizeof(a));
			unsigned pl = p->ents[i].plen;
			if (floe_addr_is_v4(p->ents[i].net) && pl >= 96)
				pl -= 96;
			return floe_errbuf_set(eb, FLOE_MALFORMED, "line %u: %s/%u is already on line %u",
			                       (unsigned)p->ents[i].line, a, pl, (unsigned)p->ents[i - 1].line);
		}
		if (!p->nruns || p->runs[p->nruns - 1].plen != p->ents[i].plen)
			p->runs[p->nruns++] = (struct run){.first = i, .n = 0, .plen = p->ents[i].plen};
		p->runs[p->nruns - 1].n++;
	}
	return FLOE_OK;
}

long floe_prefixes_find(const struct floe_prefixes *p, const uint8_t a[16])
{
	if (!p)
		return -1;
	for (size_t r = 0; r < p->nruns; r++) {
		uint8_t m[16];
		memcpy(m, a, 16);
		floe_addr_mask(m, p->runs[r].plen);
		size_t lo = p->runs[r].first, hi = lo + p->runs[r].n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = memcmp(p->ents[mid].net, m, 16);
			if (c == 0)
				return p->ents[mid].label;
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	return -1;
}

size_t floe_prefixes_nlabels(const struct floe_prefixes *p)
{
	return p ? p->nlabels : 0;
}

const char *floe_prefixes_label(const struct floe_prefixes *p, size_t i)
{
	return p->text + p->loff[i];
}

size_t floe_prefixes_count(const struct floe_prefixes *p)
{
	return p ? p->n : 0;
}

const char *floe_prefixes_lookup(const struct floe_prefixes *p, const uint8_t a[16])
{
	long i = floe_prefixes_find(p, a);
	return i < 0 ? NULL : floe_prefixes_label(p, (size_t)i);
}

/* ---- parsing ---- */

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Length of a valid UTF-8 sequence of printable text at s (at most n
 * bytes), 0 if s starts with a control character or bad UTF-8. */
static size_t utf8_char(const unsigned char *s, size_t n)
{
	if (s[0] == '\t' || (s[0] >= 0x20 && s[0] < 0x7f))
		return 1;
	size_t k;
	uint32_t cp;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		k = 2;
		cp = s[0] & 0x1fu;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		k = 3;
		cp = s[0] & 0x0fu;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		k = 4;
		cp = s[0] & 0x07u;
	} else {
		return 0;
	}
	if (k > n)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (k == 4 && (cp < 0x10000 ||
	    cp > 0x10ffff)) || (cp >= 0x80 && cp < 0xa0))
		return 0;
	return k;
}

typedef enum floe_err (*line_fn)(struct floe_prefixes *p, const char *s, size_t n, unsigned line,
                                 struct floe_errbuf *eb);

static enum floe_err parse_lines(const char *text, size_t len, struct floe_budget *b, line_fn fn,
                                 struct floe_prefixes **out, struct floe_errbuf *eb)
{
	*out = NULL;
	struct floe_prefixes *p = create(b);
	if (!p)
		return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
	enum floe_err e = FLOE_OK;
	unsigned line = 0;
	for (size_t at = 0; at < len && e == FLOE_OK;) {
		const char *s = text + at;
		const char *nl = memchr(s, '\n', len - at);
		size_t n = nl ? (size_t)(nl - s) : len - at;
		at += n + (nl != NULL);
		line++;
		if (n && s[n - 1] == '\r')
			n--;
		while (n && blank(*s)) {
			s++;
			n--;
		}
		while (n && blank(s[n - 1]))
			n--;
		if (!n || *s == '#')
			continue;
		e = fn(p, s, n, line, eb);
	}
	if (e == FLOE_OK)
		e = finish(p, eb);
	if (e != FLOE_OK) {
		floe_prefixes_destroy(p);
		return e;
	}
	*out = p;
	return FLOE_OK;
}

static enum floe_err notes_line(struct floe_prefixes *p, const char *s, size_t n, unsigned line,
                                struct floe_errbuf *eb)
{
	size_t t = 0;
	while (t < n && !blank(s[t]))
		t++;
	size_t l = t;
	while (l < n && blank(s[l]))
		l++;
	if (l == n)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "line %u: '%.*s' has no label text", line,
		                       (int)(t < 60 ? t : 60), s);
	if (n - l > FLOE_LABEL_MAX)
		return floe_errbuf_set(eb, FLOE_LIMIT, "line %u: the label is longer than %d bytes", line,
		                       FLOE_LABEL_MAX);
	for (size_t i = l; i < n;) {
		size_t k = utf8_char((const unsigned char *)s + i, n - i);
		if (!k)
			return floe_errbuf_set(eb, FLOE_MALFORMED, "line %u: the label has a control "
			                       "character or is not UTF-8 (byte %zu)", line, i + 1);
		i += k;
	}
	if (add_label(p, s + l, n - l, line) != FLOE_OK)
		return floe_errbuf_set(eb, FLOE_NOMEM, "line %u: out of memory", line);
	return add_prefix(p, s, t, line, eb);
}

enum floe_err floe_notes_parse(const char *text, size_t len, struct floe_budget *b,
                               struct floe_prefixes **out, struct floe_errbuf *eb)
{
	return parse_lines(text, len, b, notes_line, out, eb);
}

static enum floe_err customers_line(struct floe_prefixes *p, const char *s, size_t n, unsigned line,
                                    struct floe_errbuf *eb)
{
	const char *hash = memchr(s, '#', n);
	if (hash)
		n = (size_t)(hash - s);
	size_t t = 0;
	while (t < n && !blank(s[t])) {
		unsigned char c = (unsigned char)s[t];
		if (c < 0x21 || c > 0x7e)
			return floe_errbuf_set(eb, FLOE_MALFORMED, "line %u: the customer name has a byte "
			                       "that is not printable ASCII (byte %zu)", line, t + 1);
		t++;
	}
	if (t > NAME_MAX_LEN)
		return floe_errbuf_set(eb, FLOE_LIMIT, "line %u: the customer name is longer than %d bytes",
		                       line, NAME_MAX_LEN);
	if (add_label(p, s, t, line) != FLOE_OK)
		return floe_errbuf_set(eb, FLOE_NOMEM, "line %u: out of memory", line);
	size_t nets = 0;
	for (size_t i = t; i < n;) {
		while (i < n && blank(s[i]))
			i++;
		size_t j = i;
		while (j < n && !blank(s[j]))
			j++;
		if (j > i) {
			enum floe_err e = add_prefix(p, s + i, j - i, line, eb);
			if (e != FLOE_OK)
				return e;
			nets++;
		}
		i = j;
	}
	if (!nets)
		return floe_errbuf_set(eb, FLOE_MALFORMED, "line %u: customer '%.*s' has no address or prefix",
		                       line, (int)t, s);
	return FLOE_OK;
}

struct name_ref {
	const char *name;
	uint32_t line;
};

static int name_cmp(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : (x->line < y->line ? -1 : x->line > y->line);
}

enum floe_err floe_customers_parse(const char *text, size_t len, struct floe_budget *b,
                                   struct floe_prefixes **out, struct floe_errbuf *eb)
{
	enum floe_err e = parse_lines(text, len, b, customers_line, out, eb);
	if (e != FLOE_OK || (*out)->nlabels < 2)
		return e;
	struct floe_prefixes *p = *out;
	struct name_ref *r = floe_malloc(b, p->nlabels * sizeof(*r));
	if (!r) {
		e = floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
	} else {
		for (size_t i = 0; i < p->nlabels; i++)
			r[i] = (struct name_ref){floe_prefixes_label(p, i), p->lline[i]};
		qsort(r, p->nlabels, sizeof(*r), name_cmp);
		for (size_t i = 1; i < p->nlabels && e == FLOE_OK; i++)
			if (strcmp(r[i].name, r[i - 1].name) == 0)
				e = floe_errbuf_set(eb, FLOE_MALFORMED, "line %u: customer '%s' is already on line %u",
				                    (unsigned)r[i].line, r[i].name, (unsigned)r[i - 1].line);
		floe_free(b, r, p->nlabels * sizeof(*r));
	}
	if (e != FLOE_OK) {
		floe_prefixes_destroy(p);
		*out = NULL;
	}
	return e;
}
