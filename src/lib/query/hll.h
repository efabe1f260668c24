/*
 * hll.h - distinct counts: exact while small, HyperLogLog beyond.
 *
 * A counter starts as a sorted array of 64-bit hashes (exact, up to
 * FLOE_DCOUNT_EXACT distinct values) and turns into a dense HyperLogLog of
 * 2^14 one-byte registers (16 KiB, standard error 1.04/sqrt(2^14) = 0.8 %)
 * when it outgrows that.  The estimate is Ertl's improved raw estimator
 * ("New cardinality estimation algorithms for HyperLogLog sketches", 2017),
 * which needs neither bias tables nor a switch to linear counting.
 *
 * Callers hash the values themselves (keyed SipHash, util/hash.h) so a
 * counter never sees attacker-chosen bits; all counters that are merged
 * must use the same hash key.  Memory is charged to a budget.
 *
 * Must not depend on anything but util/mem.h.
 */
#ifndef FLOE_QUERY_HLL_H
#define FLOE_QUERY_HLL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define FLOE_HLL_P 14
#define FLOE_DCOUNT_EXACT 2048u

struct floe_budget;
struct floe_dcount;

/* Creates an empty counter; NULL on NOMEM (budget refused). */
struct floe_dcount *floe_dcount_create(struct floe_budget *b);
void floe_dcount_destroy(struct floe_dcount *d, struct floe_budget *b);

/* Adds the hash of a value.  NOMEM if growing was refused; the counter is
 * then unchanged and still valid. */
FLOE_WUR enum floe_err floe_dcount_add(struct floe_dcount *d, struct floe_budget *b, uint64_t h);
/* Adds every value of src into d (src unchanged).  NOMEM as above. */
FLOE_WUR enum floe_err floe_dcount_merge(struct floe_dcount *d, struct floe_budget *b,
                                         const struct floe_dcount *src);
/* The count: exact below FLOE_DCOUNT_EXACT, an estimate above. */
double floe_dcount_value(const struct floe_dcount *d);

/* Serialisation for spill files (same process, not a file format):
 * size of the bytes, writing them to out, and reading them back. */
size_t floe_dcount_size(const struct floe_dcount *d);
void floe_dcount_save(const struct floe_dcount *d, uint8_t *out);
/* p/len from floe_dcount_save; NULL on NOMEM or MALFORMED length. */
struct floe_dcount *floe_dcount_load(struct floe_budget *b, const uint8_t *p, size_t len);

/* The bare estimator over 2^FLOE_HLL_P registers (exposed for tests). */
double floe_hll_estimate(const uint8_t *reg);

#endif
