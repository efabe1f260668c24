/*
 * mem.h - the one allocation wrapper of libfloe.
 *
 * Every table and buffer that grows with input is allocated through a
 * struct floe_budget, which counts its bytes and refuses (returns NULL) past
 * its limit, so a flood of flows or groups makes the owner evict or spill
 * instead of running the process out of memory.  A NULL budget only counts
 * nothing and limits nothing.
 *
 * In builds with FLOE_FAULT_INJECTION, floe_mem_fail_after(n) makes the
 * (n+1)th following allocation fail, so NOMEM paths can be tested.
 */
#ifndef FLOE_UTIL_MEM_H
#define FLOE_UTIL_MEM_H

#include <stdbool.h>
#include <stddef.h>

struct floe_budget {
	size_t limit;   /* 0 = unlimited */
	size_t used;
	size_t peak;
};

void floe_budget_init(struct floe_budget *b, size_t limit);

/* Allocate n bytes charged to b (may be NULL).  NULL if the system or the
 * budget says no; the caller reports FLOE_NOMEM or evicts. */
void *floe_malloc(struct floe_budget *b, size_t n);
void *floe_calloc(struct floe_budget *b, size_t nmemb, size_t size);
/* Resize p from old_n to new_n bytes; on failure p is untouched. */
void *floe_realloc(struct floe_budget *b, void *p, size_t old_n, size_t new_n);
/* Grows the array *buf of *cap elements of elem bytes to hold at least
 * need, doubling from first (or from *cap); on failure (NOMEM, or a size
 * past SIZE_MAX) returns false with *buf and *cap untouched. */
bool floe_grow(struct floe_budget *b, void **buf, size_t *cap, size_t need, size_t elem,
               size_t first);
/* Free p of n bytes (n as allocated); NULL p does nothing. */
void floe_free(struct floe_budget *b, void *p, size_t n);

/* Test hook: fail the allocation after n more succeed; -1 disarms. */
void floe_mem_fail_after(long n);

#endif
