/*
 * sort.c - multi-key sort and top-N heap (sort.h).
 *
 * Items are stored inline in one array (record, sequence number, extras);
 * the full sort is a merge sort over item indices, stable by construction;
 * top N keeps a heap whose root is the item that would go first, i.e. the
 * worst of the N kept, compared with the sequence number as last key so the
 * result equals the first N of a stable full sort.
 *
 * A full sort that outgrows its budget sorts what it holds and writes it
 * to a temporary file (a run, unlinked at once), then starts over in the
 * same memory; at the end the runs are merged with a heap of one item per
 * run (the sequence number keeps the merge stable).  Past MAX_RUNS open
 * runs, the first ones are merged into one first, so the open files stay
 * bounded.
 */
#include "query/sort.h"
#include "util/mem.h"
#include "util/words.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_KEYS 32
#define MAX_RUNS 64

struct item {
	struct floe_flow f;
	uint64_t seq;
	double extra[];
};

struct floe_sort {
	struct floe_sortkey keys[MAX_KEYS];
	size_t nkeys, nextra, isize;
	uint64_t top, seq;
	struct floe_budget *budget;
	uint8_t *items;
	uint32_t *idx, *tmp;           /* for the merge sort, icap of each */
	size_t n, cap, icap;
	FILE *runs[MAX_RUNS];          /* sorted runs on disk */
	size_t nruns;
	uint64_t spilled;              /* items written to runs */
};

static bool desc_default(const struct floe_field *fd)
{
	return (fd->kinds & FLOE_FK_VALUE) || fd->type == FLOE_FT_RATE || fd->type == FLOE_FT_DUR;
}

enum floe_err floe_sortkeys_parse(const char *spec, const struct floe_aggcol *cols, size_t ncols,
                                  struct floe_sortkey *keys, size_t cap, size_t *n,
                                  struct floe_errbuf *eb)
{
	size_t k = 0;
	const char *p = spec;
	const char *w;
	size_t wlen;
	while (floe_next_word(&p, &w, &wlen)) {
		char word[64];
		size_t len = wlen;
		if (len >= sizeof(word))
			return floe_errbuf_set(eb, FLOE_INVALID, "sort key too long: '%.*s'", (int)len, w);
		memcpy(word, w, len);
		word[len] = '\0';
		int dir = -1;
		char *colon = strrchr(word, ':');
		if (colon) {
			if (strcasecmp(colon + 1, "asc") == 0 || strcasecmp(colon + 1, "a") == 0)
				dir = 0;
			else if (strcasecmp(colon + 1, "desc") == 0 || strcasecmp(colon + 1, "d") == 0)
				dir = 1;
			else
				return floe_errbuf_set(eb, FLOE_INVALID, "bad sort direction in '%s' (asc or desc)", word);
			*colon = '\0';
		}
		if (k == cap)
			return floe_errbuf_set(eb, FLOE_LIMIT, "too many sort keys (at most %zu)", cap);
		struct floe_sortkey *sk = &keys[k];
		sk->fd = NULL;
		sk->extra = -1;
		if (strchr(word, '(') || word[0] == '%') {
			struct floe_aggcol want;
			size_t one;
			enum floe_err e = floe_aggcol_parse(word, &want, 1, &one, eb);
			if (e != FLOE_OK)
				return e;
			for (size_t i = 0; i < ncols; i++)
				if (cols[i].op == want.op && cols[i].arg == want.arg)
					sk->extra = (int)i;
			if (sk->extra < 0)
				return floe_errbuf_set(eb, FLOE_INVALID, "sort key '%s' must also be an output column", word);
			sk->desc = dir < 0 ? true : dir == 1;
		} else {
			sk->fd = floe_field_lookup(word);
			if (!sk->fd)
				return floe_errbuf_set(eb, FLOE_INVALID, "unknown sort key '%s' (see 'floe fields')", word);
			if (!(sk->fd->kinds & (FLOE_FK_KEY | FLOE_FK_NUMERIC | FLOE_FK_VALUE)))
				return floe_errbuf_set(eb, FLOE_INVALID, "cannot sort by '%s'", sk->fd->name);
			sk->desc = dir < 0 ? desc_default(sk->fd) : dir == 1;
		}
		k++;
	}
	*n = k;
	return FLOE_OK;
}

struct floe_sort *floe_sort_create(const struct floe_sortkey *keys, size_t nkeys, size_t nextra,
                                   uint64_t top, struct floe_budget *budget)
{
	if (nkeys > MAX_KEYS)
		return NULL;
	struct floe_sort *s = floe_calloc(budget, 1, sizeof(*s));
	if (!s)
		return NULL;
	memcpy(s->keys, keys, nkeys * sizeof(*keys));
	s->nkeys = nkeys;
	s->nextra = nextra;
	s->isize = (sizeof(struct item) + nextra * sizeof(double) + 7) & ~(size_t)7;
	s->top = top;
	s->budget = budget;
	return s;
}

static struct item *item_at(const struct floe_sort *s, size_t i)
{
	return (struct item *)(void *)(s->items + i * s->isize);
}

static int cmp_field(const struct floe_field *fd, const struct floe_flow *a, const struct floe_flow *b)
{
	if (fd->size && (fd->type == FLOE_FT_ADDR || fd->type == FLOE_FT_MAC))
		return memcmp((const uint8_t *)a + fd->off, (const uint8_t *)b + fd->off, fd->size);
	if (fd->size && fd->type == FLOE_FT_TIME) {
		int64_t x, y;
		memcpy(&x, (const uint8_t *)a + fd->off, 8);
		memcpy(&y, (const uint8_t *)b + fd->off, 8);
		return (x > y) - (x < y);
	}
	if (fd->size) {
		uint64_t x = floe_field_u64(fd, a), y = floe_field_u64(fd, b);
		return (x > y) - (x < y);
	}
	double x = floe_field_num(fd, a), y = floe_field_num(fd, b);
	return (x > y) - (x < y);
}

/* < 0 if a goes before b. */
/* Compares record fa (its extra values ea, sequence number seqa) with
 * item b in output order. */
static int cmp_rec(const struct floe_sort *s, const struct floe_flow *fa, const double *ea, uint64_t seqa,
                   const struct item *b)
{
	for (size_t i = 0; i < s->nkeys; i++) {
		const struct floe_sortkey *k = &s->keys[i];
		int r;
		if (k->fd) {
			r = cmp_field(k->fd, fa, &b->f);
		} else {
			double x = ea[k->extra], y = b->extra[k->extra];
			r = (x > y) - (x < y);
		}
		if (r)
			return k->desc ? -r : r;
	}
	return (seqa > b->seq) - (seqa < b->seq);
}

static int cmp_items(const struct floe_sort *s, const struct item *a, const struct item *b)
{
	return cmp_rec(s, &a->f, a->extra, a->seq, b);
}

static void put_item(struct floe_sort *s, struct item *it, const struct floe_flow *f, const double *extra)
{
	it->f = *f;
	it->seq = s->seq++;
	if (s->nextra)
		memcpy(it->extra, extra, s->nextra * sizeof(double));
}

static void sift_down(struct floe_sort *s, size_t i)
{
	/* max-heap on cmp_items: the root is the last in output order */
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < s->n && cmp_items(s, item_at(s, l), item_at(s, m)) > 0)
			m = l;
		if (r < s->n && cmp_items(s, item_at(s, r), item_at(s, m)) > 0)
			m = r;
		if (m == i)
			return;
		uint8_t tmp[s->isize];
		memcpy(tmp, item_at(s, i), s->isize);
		memcpy(item_at(s, i), item_at(s, m), s->isize);
		memcpy(item_at(s, m), tmp, s->isize);
		i = m;
	}
}

static void sift_up(struct floe_sort *s, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (cmp_items(s, item_at(s, i), item_at(s, p)) <= 0)
			return;
		uint8_t tmp[s->isize];
		memcpy(tmp, item_at(s, i), s->isize);
		memcpy(item_at(s, i), item_at(s, p), s->isize);
		memcpy(item_at(s, p), tmp, s->isize);
		i = p;
	}
}

/* Doubles the item array (and, for a full sort, the index arrays of its
 * merge sort, so sorting needs no memory the budget may refuse). */
static enum floe_err grow(struct floe_sort *s)
{
	size_t nc = s->cap ? s->cap * 2 : 256;
	if (s->top && nc > s->top)
		nc = (size_t)s->top;
	if (nc > UINT32_MAX)
		return FLOE_NOMEM;
	if (!s->top && s->icap < nc) {
		/* both index arrays in one block; the first to grow (what it
		 * got stays its own, icap) */
		uint32_t *a = floe_realloc(s->budget, s->idx, s->icap * 8, nc * 8);
		if (!a)
			return FLOE_NOMEM;
		s->idx = a;
		s->tmp = a + nc;
		s->icap = nc;
	}
	uint8_t *ni = floe_realloc(s->budget, s->items, s->cap * s->isize, nc * s->isize);
	if (!ni)
		return FLOE_NOMEM;
	s->items = ni;
	s->cap = nc;
	return FLOE_OK;
}

static void release_items(struct floe_sort *s)
{
	floe_free(s->budget, s->items, s->cap * s->isize);
	floe_free(s->budget, s->idx, s->icap * 8);
	s->items = NULL;
	s->idx = s->tmp = NULL;
	s->cap = s->icap = s->n = 0;
}

static enum floe_err spill_run(struct floe_sort *s);

enum floe_err floe_sort_add(struct floe_sort *s, const struct floe_flow *f, const double *extra)
{
	if (s->top && s->n == s->top) {
		/* full heap: replace the root if the new record goes before it
		 * (compared in place: most records of a top-N do not) */
		struct item *root = item_at(s, 0);
		if (cmp_rec(s, f, extra, s->seq, root) < 0) {
			put_item(s, root, f, extra);
			sift_down(s, 0);
		} else {
			s->seq++;
		}
		return FLOE_OK;
	}
	if (s->n == s->cap) {
		enum floe_err err = grow(s);
		if (err == FLOE_NOMEM && !s->top && s->n)
			err = spill_run(s);  /* full sort: the items so far become a run */
		if (err != FLOE_OK)
			return err;
	}
	put_item(s, item_at(s, s->n), f, extra);
	s->n++;
	if (s->top)
		sift_up(s, s->n - 1);
	return FLOE_OK;
}

static void merge_sort(const struct floe_sort *s, uint32_t *a, uint32_t *tmp, size_t n)
{
	if (n < 2)
		return;
	size_t h = n / 2;
	merge_sort(s, a, tmp, h);
	merge_sort(s, a + h, tmp, n - h);
	size_t i = 0, j = h, k = 0;
	while (i < h && j < n)
		tmp[k++] = cmp_items(s, item_at(s, a[j]), item_at(s, a[i])) < 0 ? a[j++] : a[i++];
	while (i < h)
		tmp[k++] = a[i++];
	while (j < n)
		tmp[k++] = a[j++];
	memcpy(a, tmp, n * sizeof(*a));
}

/* Sorts the items held: s->idx[0..n) in output order. */
static void sort_held(struct floe_sort *s)
{
	for (size_t i = 0; i < s->n; i++)
		s->idx[i] = (uint32_t)i;
	merge_sort(s, s->idx, s->tmp, s->n);
}

static FILE *run_file(void)
{
	const char *td = getenv("TMPDIR");
	char path[300];
	snprintf(path, sizeof(path), "%s/floe-sort-XXXXXX", td && *td ? td : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	unlink(path);  /* gone when closed, whatever happens to the process */
	FILE *f = fdopen(fd, "w+b");
	if (!f)
		close(fd);
	return f;
}

typedef enum floe_err (*item_fn)(void *ud, const struct item *it);

/* Merges runs[0..k) (rewound here) in order into fn; frees nothing. */
static enum floe_err merge_runs(struct floe_sort *s, FILE **runs, size_t k, item_fn fn, void *ud)
{
	/* heads[i]: the next item of run i; heap[]: run numbers, min-heap */
	uint8_t *heads = floe_malloc(s->budget, k * s->isize);
	size_t *heap = floe_malloc(s->budget, k * sizeof(size_t));
	enum floe_err err = FLOE_OK;
	size_t n = 0;
	if (!heads || !heap) {
		err = FLOE_NOMEM;
		goto out;
	}
#define HEAD(r) ((const struct item *)(const void *)(heads + (r) * s->isize))
#define LESS(a, b) (cmp_items(s, HEAD(heap[a]), HEAD(heap[b])) < 0)
	for (size_t r = 0; r < k && err == FLOE_OK; r++) {
		if (fflush(runs[r]) != 0 || fseek(runs[r], 0, SEEK_SET) != 0)
			err = FLOE_IO;
		else if (fread(heads + r * s->isize, s->isize, 1, runs[r]) == 1) {
			/* sift up */
			size_t i = n++;
			heap[i] = r;
			while (i > 0 && LESS(i, (i - 1) / 2)) {
				size_t p = (i - 1) / 2, t = heap[p];
				heap[p] = heap[i];
				heap[i] = t;
				i = p;
			}
		}
	}
	while (n && err == FLOE_OK) {
		size_t r = heap[0];
		err = fn(ud, HEAD(r));
		if (err != FLOE_OK)
			break;
		if (fread(heads + r * s->isize, s->isize, 1, runs[r]) != 1) {
			if (ferror(runs[r])) {
				err = FLOE_IO;
				break;
			}
			heap[0] = heap[--n];
		}
		for (size_t i = 0;;) {  /* sift down */
			size_t l = 2 * i + 1, m = i;
			if (l < n && LESS(l, m))
				m = l;
			if (l + 1 < n && LESS(l + 1, m))
				m = l + 1;
			if (m == i)
				break;
			size_t t = heap[m];
			heap[m] = heap[i];
			heap[i] = t;
			i = m;
		}
	}
#undef LESS
#undef HEAD
out:
	floe_free(s->budget, heads, heads ? k * s->isize : 0);
	floe_free(s->budget, heap, heap ? k * sizeof(size_t) : 0);
	return err;
}

struct run_writer {
	FILE *f;
	size_t isize;
};

static enum floe_err write_item(void *ud, const struct item *it)
{
	struct run_writer *w = ud;
	return fwrite(it, w->isize, 1, w->f) == 1 ? FLOE_OK : FLOE_IO;
}

/* Writes the items held, sorted, as a new run and empties the array
 * (keeping its memory).  At MAX_RUNS runs, merges them into one first. */
static enum floe_err spill_run(struct floe_sort *s)
{
	if (s->nruns == MAX_RUNS) {
		FILE *out = run_file();
		if (!out)
			return FLOE_IO;
		struct run_writer w = {out, s->isize};
		enum floe_err err = merge_runs(s, s->runs, s->nruns, write_item, &w);
		if (err != FLOE_OK) {
			fclose(out);
			return err;
		}
		for (size_t r = 0; r < s->nruns; r++)
			fclose(s->runs[r]);
		s->runs[0] = out;
		s->nruns = 1;
	}
	FILE *f = run_file();
	if (!f)
		return FLOE_IO;
	sort_held(s);
	for (size_t i = 0; i < s->n; i++)
		if (fwrite(item_at(s, s->idx[i]), s->isize, 1, f) != 1) {
			fclose(f);
			return FLOE_IO;
		}
	if (fflush(f) != 0) {
		fclose(f);
		return FLOE_IO;
	}
	s->runs[s->nruns++] = f;
	s->spilled += s->n;
	s->n = 0;
	return FLOE_OK;
}

struct emit_ctx {
	floe_cluster_emit emit;
	void *ud;
};

static enum floe_err emit_item(void *ud, const struct item *it)
{
	struct emit_ctx *e = ud;
	return e->emit(e->ud, &it->f, it->extra);
}

enum floe_err floe_sort_finish(struct floe_sort *s, floe_cluster_emit emit, void *ud)
{
	enum floe_err err = FLOE_OK;
	if (s->nruns) {
		/* the last items are a run too; then their memory goes back */
		if (s->n && (err = spill_run(s)) != FLOE_OK)
			return err;
		release_items(s);
		struct emit_ctx e = {emit, ud};
		return merge_runs(s, s->runs, s->nruns, emit_item, &e);
	}
	if (!s->n)
		return FLOE_OK;
	if (s->icap < s->n) {  /* top N: its index arrays now */
		uint32_t *a = floe_realloc(s->budget, s->idx, s->icap * 8, s->n * 8);
		if (!a)
			return FLOE_NOMEM;
		s->idx = a;
		s->tmp = a + s->n;
		s->icap = s->n;
	}
	sort_held(s);
	for (size_t i = 0; i < s->n && err == FLOE_OK; i++) {
		struct item *it = item_at(s, s->idx[i]);
		err = emit(ud, &it->f, it->extra);
	}
	return err;
}

uint64_t floe_sort_spilled(const struct floe_sort *s)
{
	return s->spilled;
}

void floe_sort_destroy(struct floe_sort *s)
{
	if (!s)
		return;
	release_items(s);
	for (size_t r = 0; r < s->nruns; r++)
		fclose(s->runs[r]);
	floe_free(s->budget, s, sizeof(*s));
}
