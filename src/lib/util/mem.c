/* mem.c - counted allocation with budgets and fault injection. */
#include "mem.h"

#include <stdint.h>
#include <stdlib.h>

#ifdef FLOE_FAULT_INJECTION
static _Thread_local long fail_countdown = -1;

void floe_mem_fail_after(long n)
{
	fail_countdown = n;
}

static int inject_failure(void)
{
	if (fail_countdown < 0)
		return 0;
	if (fail_countdown == 0) {
		fail_countdown = -1;
		return 1;
	}
	fail_countdown--;
	return 0;
}
#else
void floe_mem_fail_after(long n)
{
	(void)n;
}

static int inject_failure(void)
{
	return 0;
}
#endif

void floe_budget_init(struct floe_budget *b, size_t limit)
{
	b->limit = limit;
	b->used = 0;
	b->peak = 0;
}

static int charge(struct floe_budget *b, size_t n)
{
	if (!b)
		return 0;
	if (b->limit && (n > b->limit || b->used > b->limit - n))
		return -1;
	b->used += n;
	if (b->used > b->peak)
		b->peak = b->used;
	return 0;
}

static void uncharge(struct floe_budget *b, size_t n)
{
	if (b)
		b->used = n > b->used ? 0 : b->used - n;
}

bool floe_grow(struct floe_budget *b, void **buf, size_t *cap, size_t need, size_t elem,
               size_t first)
{
	if (*cap >= need)
		return true;
	size_t ncap = *cap ? *cap : first;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return false;
		ncap *= 2;
	}
	if (ncap > SIZE_MAX / elem)
		return false;
	void *nb = floe_realloc(b, *buf, *cap * elem, ncap * elem);
	if (!nb)
		return false;
	*buf = nb;
	*cap = ncap;
	return true;
}

void *floe_malloc(struct floe_budget *b, size_t n)
{
	if (inject_failure() || charge(b, n) < 0)
		return NULL;
	void *p = malloc(n ? n : 1);
	if (!p)
		uncharge(b, n);
	return p;
}

void *floe_calloc(struct floe_budget *b, size_t nmemb, size_t size)
{
	if (size && nmemb > SIZE_MAX / size)
		return NULL;
	size_t n = nmemb * size;
	if (inject_failure() || charge(b, n) < 0)
		return NULL;
	void *p = calloc(n ? n : 1, 1);
	if (!p)
		uncharge(b, n);
	return p;
}

void *floe_realloc(struct floe_budget *b, void *p, size_t old_n, size_t new_n)
{
	if (inject_failure())
		return NULL;
	if (new_n > old_n && charge(b, new_n - old_n) < 0)
		return NULL;
	void *q = realloc(p, new_n ? new_n : 1);
	if (!q) {
		if (new_n > old_n)
			uncharge(b, new_n - old_n);
		return NULL;
	}
	if (new_n < old_n)
		uncharge(b, old_n - new_n);
	return q;
}

void floe_free(struct floe_budget *b, void *p, size_t n)
{
	if (!p)
		return;
	uncharge(b, n);
	free(p);
}
