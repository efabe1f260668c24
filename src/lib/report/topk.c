/*
 * topk.c - a bounded heap keeping the best items (topk.h).
 */
#include "report/topk.h"

#include <stdlib.h>
#include <string.h>

void floe_topk_init(struct floe_topk *t, void *storage, size_t size, size_t cap, floe_topk_cmp cmp)
{
	t->items = storage;
	t->size = size;
	t->cap = cap;
	t->n = 0;
	t->cmp = cmp;
}

#define AT(t, i) ((t)->items + (i) * (t)->size)

static void swap(struct floe_topk *t, size_t i, size_t j)
{
	unsigned char tmp[256];
	unsigned char *a = AT(t, i), *b = AT(t, j);
	for (size_t off = 0; off < t->size; off += sizeof(tmp)) {
		size_t k = t->size - off < sizeof(tmp) ? t->size - off : sizeof(tmp);
		memcpy(tmp, a + off, k);
		memcpy(a + off, b + off, k);
		memcpy(b + off, tmp, k);
	}
}

/* The root is the worst: a parent ranks after (or with) its children. */
static void sift_down(struct floe_topk *t, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, w = i;
		if (l < t->n && t->cmp(AT(t, l), AT(t, w)) > 0)
			w = l;
		if (r < t->n && t->cmp(AT(t, r), AT(t, w)) > 0)
			w = r;
		if (w == i)
			return;
		swap(t, i, w);
		i = w;
	}
}

void floe_topk_push(struct floe_topk *t, const void *item)
{
	if (!t->cap)
		return;
	if (t->n < t->cap) {
		size_t i = t->n++;
		memcpy(AT(t, i), item, t->size);
		while (i && t->cmp(AT(t, i), AT(t, (i - 1) / 2)) > 0) {
			swap(t, i, (i - 1) / 2);
			i = (i - 1) / 2;
		}
		return;
	}
	if (t->cmp(item, AT(t, 0)) >= 0)
		return;
	memcpy(AT(t, 0), item, t->size);
	sift_down(t, 0);
}

void floe_topk_sort(struct floe_topk *t)
{
	if (t->n > 1)
		qsort(t->items, t->n, t->size, t->cmp);
}
