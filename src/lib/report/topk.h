/*
 * topk.h - keeping the best k of a stream of fixed-size items in O(k)
 * memory (the report engines' top lists): a heap whose root is the worst
 * item kept, so an item that does not beat it costs one comparison.
 *
 * Internal to report/.  Must not depend on anything but the C library.
 */
#ifndef FLOE_REPORT_TOPK_H
#define FLOE_REPORT_TOPK_H

#include <stddef.h>

/* Negative if a ranks before b (is better), positive after, 0 equal.  A
 * total order (ties broken by key) makes the kept set independent of the
 * order items come in. */
typedef int (*floe_topk_cmp)(const void *a, const void *b);

struct floe_topk {
	unsigned char *items;   /* storage for cap items, borrowed */
	size_t size, cap, n;
	floe_topk_cmp cmp;
};

void floe_topk_init(struct floe_topk *t, void *storage, size_t size, size_t cap, floe_topk_cmp cmp);
/* Offers item (copied); kept if fewer than cap are kept or it beats the worst. */
void floe_topk_push(struct floe_topk *t, const void *item);
/* Orders the kept items best first (the heap is spent). */
void floe_topk_sort(struct floe_topk *t);

#endif
