/*
 * hll.c - exact-then-HyperLogLog distinct counters (hll.h).
 */
#include "query/hll.h"
#include "util/mem.h"

#include <math.h>
#include <string.h>

#define M (1u << FLOE_HLL_P)
#define Q (64 - FLOE_HLL_P)

struct floe_dcount {
	uint32_t n;        /* exact: hashes in set; UINT32_MAX once dense */
	uint32_t cap;      /* capacity of set */
	uint64_t *set;     /* sorted, exact mode */
	uint8_t *reg;      /* M registers, dense mode */
};

struct floe_dcount *floe_dcount_create(struct floe_budget *b)
{
	return floe_calloc(b, 1, sizeof(struct floe_dcount));
}

void floe_dcount_destroy(struct floe_dcount *d, struct floe_budget *b)
{
	if (!d)
		return;
	floe_free(b, d->set, d->cap * sizeof(uint64_t));
	floe_free(b, d->reg, d->reg ? M : 0);
	floe_free(b, d, sizeof(*d));
}

static void reg_add(uint8_t *reg, uint64_t h)
{
	uint32_t idx = (uint32_t)(h >> Q);
	uint64_t w = h << FLOE_HLL_P;
	/* rank: leading zeros of the Q remaining bits, plus one, at most Q+1 */
	uint8_t r = w ? (uint8_t)(__builtin_clzll(w) + 1) : (uint8_t)(Q + 1);
	if (r > Q + 1)
		r = Q + 1;
	if (reg[idx] < r)
		reg[idx] = r;
}

static enum floe_err densify(struct floe_dcount *d, struct floe_budget *b)
{
	uint8_t *reg = floe_calloc(b, M, 1);
	if (!reg)
		return FLOE_NOMEM;
	for (uint32_t i = 0; i < d->n; i++)
		reg_add(reg, d->set[i]);
	floe_free(b, d->set, d->cap * sizeof(uint64_t));
	d->set = NULL;
	d->cap = 0;
	d->n = UINT32_MAX;
	d->reg = reg;
	return FLOE_OK;
}

enum floe_err floe_dcount_add(struct floe_dcount *d, struct floe_budget *b, uint64_t h)
{
	if (d->reg) {
		reg_add(d->reg, h);
		return FLOE_OK;
	}
	uint32_t lo = 0, hi = d->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (d->set[mid] < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < d->n && d->set[lo] == h)
		return FLOE_OK;
	if (d->n == d->cap) {
		if (d->cap >= FLOE_DCOUNT_EXACT) {
			enum floe_err e = densify(d, b);
			if (e == FLOE_OK)
				reg_add(d->reg, h);
			return e;
		}
		uint32_t nc = d->cap ? d->cap * 2 : 2;
		uint64_t *ns = floe_realloc(b, d->set, d->cap * sizeof(uint64_t), nc * sizeof(uint64_t));
		if (!ns)
			return FLOE_NOMEM;
		d->set = ns;
		d->cap = nc;
	}
	memmove(&d->set[lo + 1], &d->set[lo], (d->n - lo) * sizeof(uint64_t));
	d->set[lo] = h;
	d->n++;
	return FLOE_OK;
}

enum floe_err floe_dcount_merge(struct floe_dcount *d, struct floe_budget *b,
                                const struct floe_dcount *src)
{
	if (src->reg) {
		if (!d->reg) {
			enum floe_err e = densify(d, b);
			if (e != FLOE_OK)
				return e;
		}
		for (uint32_t i = 0; i < M; i++)
			if (d->reg[i] < src->reg[i])
				d->reg[i] = src->reg[i];
		return FLOE_OK;
	}
	for (uint32_t i = 0; i < src->n; i++) {
		enum floe_err e = floe_dcount_add(d, b, src->set[i]);
		if (e != FLOE_OK)
			return e;
	}
	return FLOE_OK;
}

static double sigma(double x)
{
	if (x == 1.0)
		return INFINITY;
	double y = 1.0, z = x, zp;
	do {
		x *= x;
		zp = z;
		z += x * y;
		y += y;
	} while (z != zp);
	return z;
}

static double tau(double x)
{
	if (x == 0.0 || x == 1.0)
		return 0.0;
	double y = 1.0, z = 1.0 - x, zp;
	do {
		x = sqrt(x);
		zp = z;
		y *= 0.5;
		z -= (1.0 - x) * (1.0 - x) * y;
	} while (z != zp);
	return z / 3.0;
}

double floe_hll_estimate(const uint8_t *reg)
{
	uint32_t c[Q + 2] = {0};
	for (uint32_t i = 0; i < M; i++)
		c[reg[i]]++;
	double m = M;
	double z = m * tau(1.0 - c[Q + 1] / m);
	for (int k = Q; k >= 1; k--)
		z = 0.5 * (z + c[k]);
	z += m * sigma(c[0] / m);
	return (m * m / (2.0 * log(2.0))) / z;
}

double floe_dcount_value(const struct floe_dcount *d)
{
	if (!d)
		return 0;
	if (d->reg)
		return floor(floe_hll_estimate(d->reg) + 0.5);
	return d->n;
}

size_t floe_dcount_size(const struct floe_dcount *d)
{
	return 4 + (d->reg ? M : (size_t)d->n * 8);
}

void floe_dcount_save(const struct floe_dcount *d, uint8_t *out)
{
	uint32_t n = d->reg ? UINT32_MAX : d->n;
	memcpy(out, &n, 4);
	if (d->reg)
		memcpy(out + 4, d->reg, M);
	else if (d->n)
		memcpy(out + 4, d->set, (size_t)d->n * 8);
}

struct floe_dcount *floe_dcount_load(struct floe_budget *b, const uint8_t *p, size_t len)
{
	uint32_t n;
	if (len < 4)
		return NULL;
	memcpy(&n, p, 4);
	struct floe_dcount *d = floe_dcount_create(b);
	if (!d)
		return NULL;
	if (n == UINT32_MAX) {
		if (len != 4 + M || !(d->reg = floe_malloc(b, M)))
			goto fail;
		memcpy(d->reg, p + 4, M);
		d->n = UINT32_MAX;
		return d;
	}
	if (n > FLOE_DCOUNT_EXACT || len != 4 + (size_t)n * 8)
		goto fail;
	if (n) {
		uint32_t cap = 2;
		while (cap < n)
			cap *= 2;
		if (!(d->set = floe_malloc(b, cap * sizeof(uint64_t))))
			goto fail;
		d->cap = cap;
		memcpy(d->set, p + 4, (size_t)n * 8);
	}
	d->n = n;
	return d;
fail:
	floe_dcount_destroy(d, b);
	return NULL;
}
