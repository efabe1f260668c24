/*
 * cluster.c - grouping and aggregation with spilling (cluster.h).
 *
 * A group is one fixed-size arena entry: the packed key, the value cells
 * (8 bytes each, only those the output needs: see enum cell), optionally
 * the wider struct acc_ext, then one pointer per distinct-count column.
 * IPv4 addresses are packed in 4 bytes ("narrow" keys); a record with an
 * IPv6 (or no) address in a key goes to a second, wide operator (c->wide)
 * with 16-byte addresses, so mixed traffic is exact and IPv4 groups small.  The table is open addressing with linear probing
 * over 64-bit slots: the low 32 bits of the key's SipHash in the upper half
 * (compared before the key) and the entry index + 1 in the lower half.
 * Partitions take other bits of the same hash (5 per level from the top),
 * so a partition re-read at level L+1 spreads over the whole table again.
 */
#include "query/cluster.h"
#include "query/hll.h"
#include "util/hash.h"
#include "util/mem.h"
#include "util/words.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPART 32
#define PART_BITS 5
#define MAX_LEVEL 5
#define CHUNK_SHIFT 14
#define CHUNK_ENTRIES (1u << CHUNK_SHIFT)

/* ---- aggregate columns ---- */

static const struct floe_field *lookup_word(const char *w, size_t len)
{
	char buf[48];
	if (len == 0 || len >= sizeof(buf))
		return NULL;
	memcpy(buf, w, len);
	buf[len] = '\0';
	return floe_field_lookup(buf);
}

static enum floe_err parse_one_col(const char *w, size_t len, struct floe_aggcol *c,
                                   struct floe_errbuf *eb)
{
	memset(c, 0, sizeof(*c));
	const char *arg = w;
	size_t alen = len;
	if (len > 1 && w[0] == '%') {
		c->op = FLOE_AGG_PCT;
		arg = w + 1;
		alen = len - 1;
	} else if (len > 5 && strncasecmp(w, "pct(", 4) == 0 && w[len - 1] == ')') {
		c->op = FLOE_AGG_PCT;
		arg = w + 4;
		alen = len - 5;
	} else if (len > 8 && strncasecmp(w, "dcount(", 7) == 0 && w[len - 1] == ')') {
		c->op = FLOE_AGG_DCOUNT;
		arg = w + 7;
		alen = len - 8;
	}
	c->arg = lookup_word(arg, alen);
	if (!c->arg)
		return floe_errbuf_set(eb, FLOE_INVALID, "unknown field '%.*s' (see 'floe fields')",
		                       (int)alen, arg);
	switch (c->op) {
	case FLOE_AGG_FIELD:
		return FLOE_OK;
	case FLOE_AGG_PCT:
		if (!(c->arg->kinds & FLOE_FK_VALUE) || c->arg->type != FLOE_FT_UINT)
			return floe_errbuf_set(eb, FLOE_INVALID, "pct() takes a counter such as bytes, not '%s'",
			                       c->arg->name);
		snprintf(c->name, sizeof(c->name), "pct(%s)", c->arg->name);
		snprintf(c->title, sizeof(c->title), "p%s", c->arg->title);
		c->synth.type = FLOE_FT_RATE;
		c->synth.width = 9;
		c->synth.desc = "percent of the total";
		break;
	case FLOE_AGG_DCOUNT:
		if (!(c->arg->kinds & FLOE_FK_KEY))
			return floe_errbuf_set(eb, FLOE_INVALID, "dcount() takes a key field such as daddr, not '%s'",
			                       c->arg->name);
		snprintf(c->name, sizeof(c->name), "dcount(%s)", c->arg->name);
		snprintf(c->title, sizeof(c->title), "dc%s", c->arg->title);
		c->synth.type = FLOE_FT_UINT;
		c->synth.width = 10;
		c->synth.desc = "distinct values";
		break;
	}
	c->synth.name = c->name;
	c->synth.title = c->title;
	c->synth.kinds = FLOE_FK_NUMERIC;
	c->synth.sqltype = "DOUBLE PRECISION";
	return FLOE_OK;
}

enum floe_err floe_aggcol_parse(const char *spec, struct floe_aggcol *cols, size_t cap, size_t *n,
                                struct floe_errbuf *eb)
{
	size_t k = 0;
	const char *p = spec;
	const char *w;
	size_t wlen;
	while (floe_next_word(&p, &w, &wlen)) {
		if (k == cap)
			return floe_errbuf_set(eb, FLOE_LIMIT, "too many columns (at most %zu)", cap);
		enum floe_err e = parse_one_col(w, wlen, &cols[k], eb);
		if (e != FLOE_OK)
			return e;
		k++;
	}
	*n = k;
	return FLOE_OK;
}

const struct floe_field *floe_aggcol_field(const struct floe_aggcol *c)
{
	return c->op == FLOE_AGG_FIELD ? c->arg : &c->synth;
}

/* ---- groups ---- */

struct keypart {
	const struct floe_field *fd;  /* NULL: the time bin */
	int plen;                     /* address prefix; -1 = whole */
	uint16_t off, len;            /* in the packed key */
};

struct acc {
	int64_t stime, ltime;
	uint64_t spkts, dpkts, sbytes, dbytes, trans;
};

/* The values a group keeps, one 8-byte cell each (unaligned, memcpy). */
enum cell { C_STIME, C_LTIME, C_SPKTS, C_DPKTS, C_SBYTES, C_DBYTES, C_TRANS, C_PKTS, C_BYTES };
#define MAX_CELLS 7

/* What flow merging and full records need beyond struct acc. */
struct acc_ext {
	uint64_t sappbytes, dappbytes;
	int64_t synack, ackdat;
	int64_t state_time;           /* ltime of the record state came from */
	uint32_t sretrans, dretrans, sooo, dooo;
	uint32_t sensor, inif, outif, sas, das, sampling;
	uint16_t flags;
	uint8_t state, stcpflags, dtcpflags;
	uint8_t sttlmin, sttlmax, dttlmin, dttlmax, stos, dtos;
	uint8_t smac[6], dmac[6];
	uint8_t seen;                 /* first-seen attributes are set */
};

struct part_set {
	FILE *f[NPART];
};

/* Records on their way into the table: hashed and their slot prefetched
 * when they arrive, looked up PIPE records later, when the slot (and, from
 * halfway, the entry) is in cache.  Used for lean groups without distinct
 * counts and keys of at most PIPE_KEY bytes: the common report queries.
 * A pending record is an item (floe_cluster_prepare): the header, the
 * value cells, the packed key. */
#define PIPE 16
#define PIPE_KEY 64
struct item_hdr {
	uint64_t h;                   /* hash of the key, by the target's key */
	uint32_t wide;                /* 1: for c->wide */
	uint32_t pad;
};
#define ITEM_MAX (sizeof(struct item_hdr) + 8 * MAX_CELLS + PIPE_KEY)

struct floe_cluster {
	struct keypart kp[FLOE_CLUSTER_MAX_KEYS + 8];
	size_t nk, klen;
	bool merge_mode, ext;
	int64_t bin;
	const struct floe_aggcol *cols;
	size_t ncols;
	size_t ndc;
	size_t dc_col[64];            /* column index of each dcount */
	uint64_t *pct_total;          /* per column; PCT columns only */
	size_t acc_off, ext_off, dc_off, esize, disk_size;
	uint8_t cell[MAX_CELLS];      /* enum cell of each value cell */
	size_t ncell;
	bool narrow;                  /* addresses in keys are IPv4, 4 bytes */
	struct floe_cluster *wide;    /* groups with IPv6 keys (narrow only) */
	struct floe_cluster *sib;     /* the other of the pair: wide <-> narrow */
	struct floe_budget *budget;
	const struct floe_log *log;
	char tmpdir[256];
	struct floe_hashkey hk;
	/* table */
	uint64_t *slots;
	size_t cap, count;
	/* arena */
	uint8_t **chunks;
	size_t nchunks, chunks_cap;
	/* spilling */
	struct part_set top;
	struct part_set *ps;          /* where a spill goes now */
	unsigned level;
	bool spilled;
	uint8_t *iobuf;
	size_t iobuf_cap;
	struct floe_cluster_stats st;
	struct floe_errbuf eb;
	bool piped;
	unsigned phead, pcount;
	uint64_t pushed;              /* records through the pipe */
	_Alignas(8) uint8_t pipe[PIPE][ITEM_MAX];
};

static uint8_t *entry_at(const struct floe_cluster *c, size_t idx)
{
	return c->chunks[idx >> CHUNK_SHIFT] + (idx & (CHUNK_ENTRIES - 1)) * c->esize;
}

/* ---- value cells ---- */

static uint64_t cell_from(enum cell k, const struct acc *a)
{
	switch (k) {
	case C_STIME: return (uint64_t)a->stime;
	case C_LTIME: return (uint64_t)a->ltime;
	case C_SPKTS: return a->spkts;
	case C_DPKTS: return a->dpkts;
	case C_SBYTES: return a->sbytes;
	case C_DBYTES: return a->dbytes;
	case C_TRANS: return a->trans;
	case C_PKTS: return a->spkts + a->dpkts;
	case C_BYTES: return a->sbytes + a->dbytes;
	}
	return 0;
}

/* Combines value v into cell k at p: earliest stime, latest ltime, sums. */
static void cell_merge(enum cell k, uint8_t *p, uint64_t v)
{
	uint64_t o;
	memcpy(&o, p, 8);
	if (k == C_STIME)
		o = (int64_t)v < (int64_t)o ? v : o;
	else if (k == C_LTIME)
		o = (int64_t)v > (int64_t)o ? v : o;
	else
		o += v;
	memcpy(p, &o, 8);
}

static void grp_init(const struct floe_cluster *c, uint8_t *e)
{
	for (size_t k = 0; k < c->ncell; k++) {
		uint64_t v = c->cell[k] == C_STIME ? (uint64_t)INT64_MAX
		           : c->cell[k] == C_LTIME ? (uint64_t)INT64_MIN : 0;
		memcpy(e + c->acc_off + 8 * k, &v, 8);
	}
}

/* Adds a record's values to group e. */
static void grp_add(const struct floe_cluster *c, uint8_t *e, const struct acc *a)
{
	for (size_t k = 0; k < c->ncell; k++)
		cell_merge((enum cell)c->cell[k], e + c->acc_off + 8 * k, cell_from((enum cell)c->cell[k], a));
}

/* Adds value cells (as a group keeps them) to group e. */
static void grp_add_cells(const struct floe_cluster *c, uint8_t *e, const uint8_t *cells)
{
	for (size_t k = 0; k < c->ncell; k++) {
		uint64_t v;
		memcpy(&v, cells + 8 * k, 8);
		cell_merge((enum cell)c->cell[k], e + c->acc_off + 8 * k, v);
	}
}

/* Adds the values of group rec (same layout, e.g. from a spill file) to e. */
static void grp_merge(const struct floe_cluster *c, uint8_t *e, const uint8_t *rec)
{
	grp_add_cells(c, e, rec + c->acc_off);
}

/* Sets the values of out from group e; what it does not keep is 0, a
 * kept sum of both directions is on the source side (spkts, sbytes).
 * With time bins, stime and ltime are the bin's (already set). */
static void grp_get_flow(const struct floe_cluster *c, const uint8_t *e, struct floe_flow *out)
{
	if (!c->bin)
		out->stime = out->ltime = 0;
	out->spkts = out->dpkts = out->sbytes = out->dbytes = 0;
	out->trans = 0;
	for (size_t k = 0; k < c->ncell; k++) {
		uint64_t v;
		memcpy(&v, e + c->acc_off + 8 * k, 8);
		switch ((enum cell)c->cell[k]) {
		case C_STIME: if (!c->bin) out->stime = (int64_t)v; break;
		case C_LTIME: if (!c->bin) out->ltime = (int64_t)v; break;
		case C_SPKTS: case C_PKTS: out->spkts = v; break;
		case C_DPKTS: out->dpkts = v; break;
		case C_SBYTES: case C_BYTES: out->sbytes = v; break;
		case C_DBYTES: out->dbytes = v; break;
		case C_TRANS: out->trans = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v; break;
		}
	}
}

static struct acc_ext *ext_of(const struct floe_cluster *c, uint8_t *e)
{
	return (struct acc_ext *)(void *)(e + c->ext_off);
}

static struct floe_dcount **dc_of(const struct floe_cluster *c, uint8_t *e)
{
	return (struct floe_dcount **)(void *)(e + c->dc_off);
}

static enum floe_err add_keypart(struct floe_cluster *c, const struct floe_field *fd, int plen,
                                 struct floe_errbuf *eb)
{
	if (c->nk == sizeof(c->kp) / sizeof(c->kp[0]))
		return floe_errbuf_set(eb, FLOE_LIMIT, "too many keys (at most %d)", FLOE_CLUSTER_MAX_KEYS);
	struct keypart *k = &c->kp[c->nk++];
	k->fd = fd;
	k->plen = plen;
	k->off = (uint16_t)c->klen;
	k->len = !fd ? 8 : c->narrow && fd->type == FLOE_FT_ADDR ? 4 : fd->size;
	c->klen += k->len;
	return FLOE_OK;
}

static enum floe_err parse_keys(struct floe_cluster *c, const char *spec, struct floe_errbuf *eb)
{
	const char *p = spec;
	const char *w;
	size_t wlen;
	while (floe_next_word(&p, &w, &wlen)) {
		size_t len = wlen;
		const char *slash = memchr(w, '/', len);
		size_t nlen = slash ? (size_t)(slash - w) : len;
		const struct floe_field *fd = lookup_word(w, nlen);
		if (!fd)
			return floe_errbuf_set(eb, FLOE_INVALID, "unknown key '%.*s' (see 'floe fields')",
			                       (int)nlen, w);
		if (!(fd->kinds & FLOE_FK_KEY) || fd->size == 0)
			return floe_errbuf_set(eb, FLOE_INVALID, "'%s' is not a key field", fd->name);
		int plen = -1;
		if (slash) {
			char *end;
			long v = strtol(slash + 1, &end, 10);
			if (fd->type != FLOE_FT_ADDR || end != p || end == slash + 1 || v < 0 || v > 128)
				return floe_errbuf_set(eb, FLOE_INVALID, "bad key '%.*s': a mask is /0../32 "
				                       "(IPv4) or /0../128 on an address", (int)len, w);
			plen = (int)v;
		}
		for (size_t i = 0; i < c->nk; i++)
			if (c->kp[i].fd == fd)
				return floe_errbuf_set(eb, FLOE_INVALID, "key '%s' given twice", fd->name);
		if (c->nk >= FLOE_CLUSTER_MAX_KEYS)
			return floe_errbuf_set(eb, FLOE_LIMIT, "too many keys (at most %d)", FLOE_CLUSTER_MAX_KEYS);
		enum floe_err e = add_keypart(c, fd, plen, eb);
		if (e != FLOE_OK)
			return e;
	}
	return FLOE_OK;
}

static void mask_addr(uint8_t a[16], int plen)
{
	if (plen < 0)
		return;
	/* IPv4 (v4-mapped): the prefix counts IPv4 bits, at most 32 */
	unsigned bits = floe_addr_is_v4(a) ? 96 + (unsigned)(plen > 32 ? 32 : plen) : (unsigned)plen;
	for (unsigned i = 0; i < 16; i++) {
		unsigned lo = i * 8;
		if (bits >= lo + 8)
			continue;
		a[i] = bits <= lo ? 0 : (uint8_t)(a[i] & (0xffu << (8 - (bits - lo))));
	}
}

/* Packs the key of f into key; false if a narrow operator cannot hold it
 * (an address of f in the key is not IPv4): it goes to c->wide. */
static bool make_key(const struct floe_cluster *c, const struct floe_flow *f, int64_t binstart,
                     uint8_t *key)
{
	for (size_t i = 0; i < c->nk; i++) {
		const struct keypart *k = &c->kp[i];
		if (!k->fd) {
			memcpy(key + k->off, &binstart, 8);
			continue;
		}
		const uint8_t *v = (const uint8_t *)f + k->fd->off;
		if (k->fd->type != FLOE_FT_ADDR) {
			memcpy(key + k->off, v, k->len);
		} else if (k->len == 4) {
			if (!floe_addr_is_v4(v))
				return false;
			uint8_t a[16];
			memcpy(a, v, 16);
			mask_addr(a, k->plen);
			memcpy(key + k->off, a + 12, 4);
		} else {
			memcpy(key + k->off, v, 16);
			mask_addr(key + k->off, k->plen);
		}
	}
	return true;
}

/* The cells a group keeps: all for full groups, else those values asks for
 * (0: all of struct acc). */
static void choose_cells(struct floe_cluster *c, unsigned values)
{
	if (c->ext || values == 0)
		values = FLOE_CLV_TIMES | FLOE_CLV_SPKTS | FLOE_CLV_SBYTES | FLOE_CLV_TRANS;
	c->ncell = 0;
	if (values & FLOE_CLV_TIMES) {
		c->cell[c->ncell++] = C_STIME;
		c->cell[c->ncell++] = C_LTIME;
	}
	if (values & FLOE_CLV_SPKTS) {
		c->cell[c->ncell++] = C_SPKTS;
		c->cell[c->ncell++] = C_DPKTS;
	} else if (values & FLOE_CLV_PKTS) {
		c->cell[c->ncell++] = C_PKTS;
	}
	if (values & FLOE_CLV_SBYTES) {
		c->cell[c->ncell++] = C_SBYTES;
		c->cell[c->ncell++] = C_DBYTES;
	} else if (values & FLOE_CLV_BYTES) {
		c->cell[c->ncell++] = C_BYTES;
	}
	if (values & FLOE_CLV_TRANS)
		c->cell[c->ncell++] = C_TRANS;
}

static struct floe_cluster *create(const struct floe_cluster_opts *o, bool narrow, struct floe_errbuf *eb)
{
	struct floe_cluster *c = calloc(1, sizeof(*c));
	if (!c) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		return NULL;
	}
	c->budget = o->budget;
	c->log = o->log;
	c->bin = o->bin > 0 ? o->bin : 0;
	c->cols = o->cols;
	c->ncols = o->ncols;
	c->merge_mode = !o->keys;
	c->ext = c->merge_mode || !o->lean;
	c->narrow = narrow;
	const char *td = o->tmpdir ? o->tmpdir : getenv("TMPDIR");
	snprintf(c->tmpdir, sizeof(c->tmpdir), "%s", td && *td ? td : "/tmp");
	if (c->merge_mode) {
		static const char *const mk[] = {"proto", "saddr", "sport", "daddr", "dport", "vlan",
		                                 "etype", "ipver"};
		for (size_t i = 0; i < sizeof(mk) / sizeof(mk[0]); i++)
			if (add_keypart(c, floe_field_lookup(mk[i]), -1, eb) != FLOE_OK)
				goto fail;
	} else if (parse_keys(c, o->keys, eb) != FLOE_OK) {
		goto fail;
	}
	if (c->bin && add_keypart(c, NULL, -1, eb) != FLOE_OK)
		goto fail;
	c->pct_total = calloc(c->ncols ? c->ncols : 1, sizeof(uint64_t));
	if (!c->pct_total) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < c->ncols; i++) {
		if (c->cols[i].op != FLOE_AGG_DCOUNT)
			continue;
		if (c->ndc == sizeof(c->dc_col) / sizeof(c->dc_col[0])) {
			floe_errbuf_set(eb, FLOE_LIMIT, "too many dcount() columns");
			goto fail;
		}
		c->dc_col[c->ndc++] = i;
	}
	choose_cells(c, o->values);
	/* cells are unaligned; acc_ext and the dcount pointers are aligned */
	c->acc_off = c->klen;
	c->ext_off = (c->acc_off + 8 * c->ncell + 7) & ~(size_t)7;
	c->dc_off = c->ext_off + (c->ext ? sizeof(struct acc_ext) : 0);
	if (!c->ext && !c->ndc)
		c->ext_off = c->dc_off = c->acc_off + 8 * c->ncell;
	c->disk_size = c->dc_off;
	c->esize = c->dc_off + c->ndc * sizeof(struct floe_dcount *);
	if (floe_hashkey_random(&c->hk) != 0) {
		floe_errbuf_set(eb, FLOE_UNSUPPORTED, "no random source for the hash key");
		goto fail;
	}
	c->ps = &c->top;
	c->piped = !c->ext && c->ndc == 0 && c->klen <= PIPE_KEY;
	bool addr_key = false;
	for (size_t i = 0; i < c->nk; i++)
		addr_key |= c->kp[i].fd && c->kp[i].fd->type == FLOE_FT_ADDR;
	if (c->narrow && !addr_key)
		c->narrow = false;  /* nothing to narrow: no second operator */
	if (c->narrow && !(c->wide = create(o, false, eb)))
		goto fail;
	if (c->wide) {
		c->sib = c->wide;
		c->wide->sib = c;
	}
	return c;
fail:
	free(c->pct_total);
	free(c);
	return NULL;
}

struct floe_cluster *floe_cluster_create(const struct floe_cluster_opts *o, struct floe_errbuf *eb)
{
	return create(o, true, eb);
}

/* Asks for transparent huge pages under a big table: every new group
 * probes a random slot, and with 4 KiB pages each probe also misses the
 * TLB.  Only a hint (Linux; elsewhere nothing). */
static void huge_pages(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
	const uintptr_t huge = 2u << 20;
	uintptr_t lo = ((uintptr_t)p + huge - 1) & ~(huge - 1);
	uintptr_t hi = ((uintptr_t)p + n) & ~(huge - 1);
	if (hi > lo)
		(void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
	(void)p;
	(void)n;
#endif
}

/* Finds the group of key or makes an empty one.  NOMEM when the budget
 * refuses a bigger table or a new arena chunk. */
static enum floe_err find_or_insert(struct floe_cluster *c, const uint8_t *key, uint64_t h, uint8_t **out)
{
	uint32_t h32 = (uint32_t)h;
	if (c->cap) {
		size_t mask = c->cap - 1;
		for (size_t i = h32 & mask;; i = (i + 1) & mask) {
			uint64_t s = c->slots[i];
			if (!s)
				break;
			if ((uint32_t)(s >> 32) == h32) {
				uint8_t *e = entry_at(c, (size_t)(uint32_t)s - 1);
				if (memcmp(e, key, c->klen) == 0) {
					*out = e;
					return FLOE_OK;
				}
			}
		}
	}
	/* new group: room in the table (load at most 3/4) and in the arena */
	if ((c->count + 1) * 4 > c->cap * 3) {
		size_t ncap = c->cap ? c->cap * 2 : 1024;
		uint64_t *ns = floe_calloc(c->budget, ncap, sizeof(uint64_t));
		if (!ns)
			return FLOE_NOMEM;
		huge_pages(ns, ncap * sizeof(uint64_t));
		for (size_t i = 0; i < c->cap; i++) {
			uint64_t s = c->slots[i];
			if (!s)
				continue;
			size_t j = (uint32_t)(s >> 32) & (ncap - 1);
			while (ns[j])
				j = (j + 1) & (ncap - 1);
			ns[j] = s;
		}
		floe_free(c->budget, c->slots, c->cap * sizeof(uint64_t));
		c->slots = ns;
		c->cap = ncap;
	}
	if ((c->count >> CHUNK_SHIFT) >= c->nchunks) {
		if (c->nchunks == c->chunks_cap) {
			size_t ncc = c->chunks_cap ? c->chunks_cap * 2 : 16;
			uint8_t **nc = floe_realloc(c->budget, c->chunks, c->chunks_cap * sizeof(*nc),
			                            ncc * sizeof(*nc));
			if (!nc)
				return FLOE_NOMEM;
			c->chunks = nc;
			c->chunks_cap = ncc;
		}
		uint8_t *chunk = floe_malloc(c->budget, CHUNK_ENTRIES * c->esize);
		if (!chunk)
			return FLOE_NOMEM;
		c->chunks[c->nchunks++] = chunk;
	}
	if (c->count >= UINT32_MAX - 1)
		return FLOE_NOMEM;
	size_t idx = c->count++;
	uint8_t *e = entry_at(c, idx);
	if (c->ext_off > c->acc_off + 8 * c->ncell || c->esize > c->ext_off)
		memset(e, 0, c->esize);  /* padding, acc_ext, dcount pointers */
	memcpy(e, key, c->klen);
	grp_init(c, e);
	size_t mask = c->cap - 1;
	size_t i = h32 & mask;
	while (c->slots[i])
		i = (i + 1) & mask;
	c->slots[i] = (uint64_t)h32 << 32 | (uint64_t)(idx + 1);
	*out = e;
	return FLOE_OK;
}

static uint8_t min8(uint8_t a, uint8_t b) { return a < b ? a : b; }
static uint8_t max8(uint8_t a, uint8_t b) { return a > b ? a : b; }

/* Counters add, flags OR, TTLs keep their range, state comes from the
 * latest record, other attributes from the first record seen. */
static void ext_merge(struct acc_ext *a, const struct acc_ext *b)
{
	if (!b->seen)
		return;
	a->sappbytes += b->sappbytes;
	a->dappbytes += b->dappbytes;
	a->sretrans += b->sretrans;
	a->dretrans += b->dretrans;
	a->sooo += b->sooo;
	a->dooo += b->dooo;
	a->flags |= b->flags;
	a->stcpflags |= b->stcpflags;
	a->dtcpflags |= b->dtcpflags;
	if (!a->seen) {
		*a = *b;
		return;
	}
	if (!a->synack)
		a->synack = b->synack;
	if (!a->ackdat)
		a->ackdat = b->ackdat;
	if (b->state_time >= a->state_time) {
		a->state = b->state;
		a->state_time = b->state_time;
	}
	a->sttlmin = min8(a->sttlmin, b->sttlmin);
	a->dttlmin = min8(a->dttlmin, b->dttlmin);
	a->sttlmax = max8(a->sttlmax, b->sttlmax);
	a->dttlmax = max8(a->dttlmax, b->dttlmax);
}

static void ext_from_flow(struct acc_ext *x, const struct floe_flow *f)
{
	memset(x, 0, sizeof(*x));
	x->sappbytes = f->sappbytes;
	x->dappbytes = f->dappbytes;
	x->synack = f->synack;
	x->ackdat = f->ackdat;
	x->state_time = f->ltime;
	x->sretrans = f->sretrans;
	x->dretrans = f->dretrans;
	x->sooo = f->sooo;
	x->dooo = f->dooo;
	x->sensor = f->sensor;
	x->inif = f->inif;
	x->outif = f->outif;
	x->sas = f->sas;
	x->das = f->das;
	x->sampling = f->sampling;
	x->flags = f->flags;
	x->state = f->state;
	x->stcpflags = f->stcpflags;
	x->dtcpflags = f->dtcpflags;
	x->sttlmin = f->sttlmin;
	x->sttlmax = f->sttlmax;
	x->dttlmin = f->dttlmin;
	x->dttlmax = f->dttlmax;
	x->stos = f->stos;
	x->dtos = f->dtos;
	memcpy(x->smac, f->smac, 6);
	memcpy(x->dmac, f->dmac, 6);
	x->seen = 1;
}

/* ---- spilling ---- */

static unsigned part_of(uint64_t h, unsigned level)
{
	return (unsigned)(h >> (64 - PART_BITS * (level + 1))) & (NPART - 1);
}

static FILE *spill_file(struct floe_cluster *c)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/floe-spill-XXXXXX", c->tmpdir);
	int fd = mkstemp(path);
	if (fd < 0) {
		floe_errbuf_set(&c->eb, FLOE_IO, "cannot create a spill file in '%s': %s", c->tmpdir,
		                strerror(errno));
		return NULL;
	}
	unlink(path);  /* gone when closed, whatever happens to the process */
	FILE *f = fdopen(fd, "w+b");
	if (!f) {
		close(fd);
		floe_errbuf_set(&c->eb, FLOE_IO, "cannot open a spill file: %s", strerror(errno));
	}
	return f;
}

static void drop_groups(struct floe_cluster *c)
{
	for (size_t i = 0; i < c->count && c->ndc; i++) {
		struct floe_dcount **dc = dc_of(c, entry_at(c, i));
		for (size_t j = 0; j < c->ndc; j++)
			floe_dcount_destroy(dc[j], c->budget);
	}
	c->count = 0;
	if (c->slots)
		memset(c->slots, 0, c->cap * sizeof(uint64_t));
}

/* Writes every group to c->ps by hash bits of c->level and empties the
 * table (keeping its memory for what comes next). */
static enum floe_err spill(struct floe_cluster *c)
{
	if (c->level > MAX_LEVEL)
		return floe_errbuf_set(&c->eb, FLOE_NOMEM, "memory budget too small to aggregate "
		                       "(partitioned %d times)", MAX_LEVEL);
	c->st.spills++;
	if (c->level > c->st.max_level)
		c->st.max_level = c->level;
	for (size_t i = 0; i < c->count; i++) {
		uint8_t *e = entry_at(c, i);
		uint64_t h = floe_hash(&c->hk, e, c->klen);
		unsigned p = part_of(h, c->level);
		if (!c->ps->f[p] && !(c->ps->f[p] = spill_file(c)))
			return c->eb.code;
		FILE *f = c->ps->f[p];
		fwrite(e, 1, c->disk_size, f);
		struct floe_dcount **dc = dc_of(c, e);
		for (size_t j = 0; j < c->ndc; j++) {
			uint8_t tmp[4 + (1u << FLOE_HLL_P)];
			uint8_t *buf = tmp;
			size_t sz = dc[j] ? floe_dcount_size(dc[j]) : 0;
			uint32_t sz32 = (uint32_t)sz;
			fwrite(&sz32, 4, 1, f);
			if (sz > sizeof(tmp))
				return floe_errbuf_set(&c->eb, FLOE_LIMIT, "distinct counter too large");
			if (sz) {
				floe_dcount_save(dc[j], buf);
				fwrite(buf, 1, sz, f);
			}
		}
		if (ferror(f))
			return floe_errbuf_set(&c->eb, FLOE_IO, "cannot write a spill file in '%s': %s",
			                       c->tmpdir, strerror(errno));
	}
	c->st.spilled_groups += c->count;
	c->spilled = true;
	drop_groups(c);
	return FLOE_OK;
}

/* Gives the memory of the table and arena back to the budget (after the
 * groups were spilled or emitted). */
static void free_table(struct floe_cluster *c)
{
	drop_groups(c);
	for (size_t i = 0; i < c->nchunks; i++)
		floe_free(c->budget, c->chunks[i], CHUNK_ENTRIES * c->esize);
	floe_free(c->budget, c->chunks, c->chunks_cap * sizeof(*c->chunks));
	floe_free(c->budget, c->slots, c->cap * sizeof(uint64_t));
	c->chunks = NULL;
	c->nchunks = c->chunks_cap = 0;
	c->slots = NULL;
	c->cap = 0;
}

/* The budget refused c memory: spill c (it keeps its memory to refill)
 * and the other operator of the pair (IPv4 / IPv6 keys), which also gives
 * its memory back, so neither can starve the other. */
static enum floe_err make_room(struct floe_cluster *c)
{
	enum floe_err err = spill(c);
	if (err == FLOE_OK && c->sib && c->sib->count)
		err = spill(c->sib);
	if (err == FLOE_OK && c->sib)
		free_table(c->sib);
	if (err != FLOE_OK && c->sib && c->sib->eb.code && !c->eb.code)
		c->eb = c->sib->eb;
	return err;
}

/* find_or_insert, spilling once if the budget says no. */
static enum floe_err room_h(struct floe_cluster *c, const uint8_t *key, uint64_t h, uint8_t **e)
{
	enum floe_err err = find_or_insert(c, key, h, e);
	if (err != FLOE_NOMEM)
		return err;
	if ((err = make_room(c)) != FLOE_OK)
		return err;
	err = find_or_insert(c, key, h, e);
	if (err == FLOE_NOMEM)
		return floe_errbuf_set(&c->eb, FLOE_NOMEM, "memory budget too small for one group");
	return err;
}

static enum floe_err room(struct floe_cluster *c, const uint8_t *key, uint8_t **e)
{
	return room_h(c, key, floe_hash(&c->hk, key, c->klen), e);
}

static void prefetch_slot(const struct floe_cluster *c, uint64_t h)
{
	if (c->cap)
		__builtin_prefetch(&c->slots[(uint32_t)h & (c->cap - 1)]);
}

static size_t item_key_off(const struct floe_cluster *c)
{
	return sizeof(struct item_hdr) + 8 * c->ncell;
}

/* The value cells of f, as grp_merge adds them. */
static void cells_from(const struct floe_cluster *c, const struct floe_flow *f, uint8_t *cells)
{
	struct acc a = {f->stime, f->ltime, f->spkts, f->dpkts, f->sbytes, f->dbytes, f->trans};
	for (size_t k = 0; k < c->ncell; k++) {
		uint64_t v = cell_from((enum cell)c->cell[k], &a);
		memcpy(cells + 8 * k, &v, 8);
	}
}

/* Adds the oldest pending record to its group. */
static enum floe_err pipe_pop(struct floe_cluster *c)
{
	const uint8_t *p = c->pipe[c->phead];
	c->phead = (c->phead + 1) % PIPE;
	c->pcount--;
	struct item_hdr hd;
	memcpy(&hd, p, sizeof(hd));
	uint8_t *e;
	enum floe_err err = room_h(c, p + item_key_off(c), hd.h, &e);
	if (err == FLOE_OK)
		grp_add_cells(c, e, p + sizeof(struct item_hdr));
	return err;
}

/* Makes room at the tail of the pipe; returns the free item there. */
static enum floe_err pipe_tail(struct floe_cluster *c, uint8_t **p)
{
	enum floe_err err = FLOE_OK;
	if (c->pcount == PIPE && (err = pipe_pop(c)) != FLOE_OK)
		return err;
	*p = c->pipe[(c->phead + c->pcount) % PIPE];
	return FLOE_OK;
}

/* Queues the item at the tail (filled in): prefetches its slot, and, when
 * records mostly find their group already there, the entry of the record
 * halfway down the pipe.  (Reading that slot stalls if it is not in cache
 * yet; when most records make new groups, as with millions of sources of
 * one flow each, there is no entry to fetch and the stall is all cost:
 * 10% of the time of -m saddr on the big capture.) */
static void pipe_commit(struct floe_cluster *c, uint64_t h)
{
	c->pcount++;
	c->pushed++;
	prefetch_slot(c, h);
	if (c->pushed > 2 * c->count && c->pcount > PIPE / 2 && c->cap) {
		struct item_hdr q;
		memcpy(&q, c->pipe[(c->phead + c->pcount - 1 - PIPE / 2) % PIPE], sizeof(q));
		uint64_t s = c->slots[(uint32_t)q.h & (c->cap - 1)];
		if (s)
			__builtin_prefetch(entry_at(c, (size_t)(uint32_t)s - 1));
	}
}

static enum floe_err add_piece(struct floe_cluster *c, const struct floe_flow *f, int64_t binstart);

static enum floe_err pipe_push(struct floe_cluster *c, const struct floe_flow *f, int64_t binstart)
{
	uint8_t *p;
	enum floe_err err = pipe_tail(c, &p);
	if (err != FLOE_OK)
		return err;
	uint8_t *key = p + item_key_off(c);
	if (!make_key(c, f, binstart, key))
		return add_piece(c->wide, f, binstart);
	struct item_hdr hd = {floe_hash(&c->hk, key, c->klen), 0, 0};
	memcpy(p, &hd, sizeof(hd));
	cells_from(c, f, p + sizeof(hd));
	pipe_commit(c, hd.h);
	return FLOE_OK;
}

static enum floe_err pipe_drain(struct floe_cluster *c)
{
	enum floe_err err = FLOE_OK;
	while (c->pcount && err == FLOE_OK)
		err = pipe_pop(c);
	return err;
}

/* Adds value hash vh to dcount j of the group of key; spills on NOMEM and
 * starts that group again (its counters merge back from the partition). */
static enum floe_err dc_add(struct floe_cluster *c, const uint8_t *key, uint8_t **e, size_t j,
                            uint64_t vh, const struct floe_dcount *src)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		struct floe_dcount **dc = dc_of(c, *e);
		enum floe_err err = FLOE_OK;
		if (!dc[j] && !(dc[j] = floe_dcount_create(c->budget)))
			err = FLOE_NOMEM;
		if (err == FLOE_OK)
			err = src ? floe_dcount_merge(dc[j], c->budget, src) : floe_dcount_add(dc[j], c->budget, vh);
		if (err != FLOE_NOMEM)
			return err;
		if ((err = make_room(c)) != FLOE_OK || (err = room(c, key, e)) != FLOE_OK)
			return err;
	}
	return floe_errbuf_set(&c->eb, FLOE_NOMEM, "memory budget too small for a distinct count");
}

static uint64_t value_hash(const struct floe_cluster *c, const struct floe_field *fd,
                           const struct floe_flow *f)
{
	return floe_hash(&c->hk, (const uint8_t *)f + fd->off, fd->size);
}

static enum floe_err add_piece(struct floe_cluster *c, const struct floe_flow *f, int64_t binstart)
{
	if (c->piped)
		return pipe_push(c, f, binstart);
	uint8_t key[512];
	if (!make_key(c, f, binstart, key))
		return add_piece(c->wide, f, binstart);
	uint8_t *e;
	enum floe_err err = room(c, key, &e);
	if (err != FLOE_OK)
		return err;
	struct acc a = {f->stime, f->ltime, f->spkts, f->dpkts, f->sbytes, f->dbytes, f->trans};
	grp_add(c, e, &a);
	if (c->ext) {
		struct acc_ext x;
		ext_from_flow(&x, f);
		ext_merge(ext_of(c, e), &x);
	}
	for (size_t j = 0; j < c->ndc; j++) {
		const struct floe_field *fd = c->cols[c->dc_col[j]].arg;
		if ((err = dc_add(c, key, &e, j, value_hash(c, fd, f), NULL)) != FLOE_OK)
			return err;
	}
	return FLOE_OK;
}

/* x * num / den rounded down, without overflow (num <= den). */
static uint64_t share(uint64_t x, uint64_t num, uint64_t den)
{
	return (uint64_t)((unsigned __int128)x * num / den);
}

/* The part of f's counters in [s - f->stime, e - f->stime] of its
 * duration d: floor(X * e / d) - floor(X * s / d), which telescopes to X
 * over all bins, so totals are exact. */
static void apportion(struct floe_flow *p, const struct floe_flow *f, uint64_t s, uint64_t e, uint64_t d)
{
#define PART(m) p->m = share(f->m, e, d) - share(f->m, s, d)
	PART(spkts); PART(dpkts); PART(sbytes); PART(dbytes);
	PART(sappbytes); PART(dappbytes);
#undef PART
#define PART32(m) p->m = (uint32_t)(share(f->m, e, d) - share(f->m, s, d))
	PART32(trans); PART32(sretrans); PART32(dretrans); PART32(sooo); PART32(dooo);
#undef PART32
}

static int64_t floor_bin(int64_t t, int64_t bin)
{
	int64_t q = t / bin;
	if (t % bin < 0)
		q--;
	return q * bin;
}

enum floe_err floe_cluster_add(struct floe_cluster *c, const struct floe_flow *f)
{
	if (c->eb.code)
		return c->eb.code;
	c->st.records++;
	for (size_t i = 0; i < c->ncols; i++)
		if (c->cols[i].op == FLOE_AGG_PCT)
			c->pct_total[i] += floe_field_u64(c->cols[i].arg, f);
	enum floe_err err;
	if (!c->bin) {
		err = add_piece(c, f, 0);
	} else {
		int64_t b0 = floor_bin(f->stime, c->bin);
		int64_t dur = floe_flow_dur(f);
		if (dur == 0 || f->ltime < b0 + c->bin) {
			err = add_piece(c, f, b0);
		} else {
			err = FLOE_OK;
			for (int64_t b = b0; b <= f->ltime && err == FLOE_OK; b += c->bin) {
				struct floe_flow p = *f;
				int64_t s = b > f->stime ? b : f->stime;
				int64_t e = b + c->bin < f->ltime ? b + c->bin : f->ltime;
				apportion(&p, f, (uint64_t)(s - f->stime), (uint64_t)(e - f->stime), (uint64_t)dur);
				p.stime = s;
				p.ltime = e;
				err = add_piece(c, &p, b);
				if (e == f->ltime)
					break;
			}
		}
	}
	if (err != FLOE_OK && !c->eb.code) {
		if (c->wide && c->wide->eb.code)
			c->eb = c->wide->eb;
		else
			floe_errbuf_set(&c->eb, err, "%s", floe_strerror(err));
	}
	return err;
}

/* ---- adding from another thread ---- */

size_t floe_cluster_item_size(const struct floe_cluster *c)
{
	if (!c->piped || c->bin || (c->wide && !c->wide->piped))
		return 0;
	for (size_t i = 0; i < c->ncols; i++)
		if (c->cols[i].op == FLOE_AGG_PCT)
			return 0;
	size_t klen = c->wide && c->wide->klen > c->klen ? c->wide->klen : c->klen;
	return (item_key_off(c) + klen + 7) & ~(size_t)7;
}

void floe_cluster_prepare(const struct floe_cluster *c, const struct floe_flow *f, void *item)
{
	uint8_t *p = item;
	uint8_t *key = p + item_key_off(c);
	struct item_hdr hd = {0, 0, 0};
	const struct floe_cluster *t = c;
	if (!make_key(c, f, 0, key)) {
		t = c->wide;
		hd.wide = 1;
		(void)make_key(t, f, 0, key);  /* wide keys always fit */
	}
	hd.h = floe_hash(&t->hk, key, t->klen);
	memcpy(p, &hd, sizeof(hd));
	cells_from(c, f, p + sizeof(hd));
}

struct floe_cluster *floe_cluster_create_shard(const struct floe_cluster_opts *o,
                                               const struct floe_cluster *like, struct floe_errbuf *eb)
{
	struct floe_cluster *c = floe_cluster_create(o, eb);
	if (!c)
		return NULL;
	if (c->klen != like->klen || c->ncell != like->ncell || !c->wide != !like->wide ||
	    (c->wide && c->wide->klen != like->wide->klen)) {
		floe_cluster_destroy(c);
		floe_errbuf_set(eb, FLOE_INVALID, "a shard needs the options of its operator");
		return NULL;
	}
	/* the same hash keys: items prepared by like are valid here */
	c->hk = like->hk;
	if (c->wide)
		c->wide->hk = like->wide->hk;
	return c;
}

unsigned floe_cluster_item_bits(const void *item)
{
	struct item_hdr hd;
	memcpy(&hd, item, sizeof(hd));
	/* bits 32..38: neither the slot (low bits) nor a partition (5 per
	 * level from the top, at most 5 levels: bits 63..39) */
	return (unsigned)(hd.h >> 32) & 0x7f;
}

/* The whole pipeline over items in place: the slot of item i + PIPE and
 * (when records mostly find their group) the entry of item i + PIPE/2 are
 * fetched while item i is added.  No copies into the ring, no call per
 * item. */
enum floe_err floe_cluster_add_items(struct floe_cluster *c, const void *items, size_t n)
{
	if (c->eb.code)
		return c->eb.code;
	enum floe_err err = pipe_drain(c);
	const uint8_t *base = items;
	size_t isz = floe_cluster_item_size(c);
	size_t koff = item_key_off(c);
	bool entries = c->pushed > 2 * c->count;
	for (size_t i = 0; i < n && err == FLOE_OK; i++) {
		struct item_hdr hd;
		if (i + PIPE < n) {
			memcpy(&hd, base + (i + PIPE) * isz, sizeof(hd));
			if (!hd.wide)
				prefetch_slot(c, hd.h);
		}
		if (entries && i + PIPE / 2 < n && c->cap) {
			memcpy(&hd, base + (i + PIPE / 2) * isz, sizeof(hd));
			uint64_t s = hd.wide ? 0 : c->slots[(uint32_t)hd.h & (c->cap - 1)];
			if (s)
				__builtin_prefetch(entry_at(c, (size_t)(uint32_t)s - 1));
		}
		const uint8_t *it = base + i * isz;
		memcpy(&hd, it, sizeof(hd));
		if (hd.wide) {
			uint8_t *p;
			if ((err = pipe_tail(c->wide, &p)) == FLOE_OK) {
				memcpy(p, it, item_key_off(c->wide) + c->wide->klen);
				pipe_commit(c->wide, hd.h);
			}
			continue;
		}
		uint8_t *e;
		if ((err = room_h(c, it + koff, hd.h, &e)) == FLOE_OK)
			grp_add_cells(c, e, it + sizeof(hd));
	}
	c->pushed += n;
	c->st.records += n;
	if (err != FLOE_OK && !c->eb.code) {
		if (c->wide && c->wide->eb.code)
			c->eb = c->wide->eb;
		else
			floe_errbuf_set(&c->eb, err, "%s", floe_strerror(err));
	}
	return err;
}

/* ---- output ---- */

static enum floe_err emit_all(struct floe_cluster *c, floe_cluster_emit emit, void *ud)
{
	double extra[256];
	/* every field set below is set for every group, so one clearing does */
	struct floe_flow out = {0};
	for (size_t i = 0; i < c->count; i++) {
		uint8_t *e = entry_at(c, i);
		out.flags = 0;
		bool addr_set = false;
		uint16_t keyflags = 0;
		for (size_t k = 0; k < c->nk; k++) {
			const struct keypart *kp = &c->kp[k];
			if (!kp->fd) {
				memcpy(&out.stime, e + kp->off, 8);
				continue;
			}
			if (kp->len == 4 && kp->fd->type == FLOE_FT_ADDR)
				floe_addr_from_v4((uint8_t *)&out + kp->fd->off, e + kp->off);
			else
				memcpy((uint8_t *)&out + kp->fd->off, e + kp->off, kp->len);
			if (kp->fd->type == FLOE_FT_MAC)
				keyflags |= FLOE_F_MAC;
			if (kp->fd->off == offsetof(struct floe_flow, vlan))
				keyflags |= FLOE_F_VLAN;
			if (kp->fd->type == FLOE_FT_ADDR && !addr_set && !c->merge_mode) {
				bool v4 = kp->len == 4 || floe_addr_is_v4(e + kp->off);
				out.ipver = v4 ? 4 : 6;
				out.etype = v4 ? FLOE_ETH_IPV4 : FLOE_ETH_IPV6;
				addr_set = true;
			}
		}
		if (c->bin)
			out.ltime = out.stime + c->bin;  /* the bin, from the key */
		grp_get_flow(c, e, &out);
		if (c->ext) {
			const struct acc_ext *x = ext_of(c, e);
			out.sappbytes = x->sappbytes;
			out.dappbytes = x->dappbytes;
			out.synack = x->synack;
			out.ackdat = x->ackdat;
			out.sretrans = x->sretrans;
			out.dretrans = x->dretrans;
			out.sooo = x->sooo;
			out.dooo = x->dooo;
			out.sensor = x->sensor;
			out.inif = x->inif;
			out.outif = x->outif;
			out.sas = x->sas;
			out.das = x->das;
			out.sampling = x->sampling;
			out.flags = x->flags;
			out.stcpflags = x->stcpflags;
			out.dtcpflags = x->dtcpflags;
			out.sttlmin = x->sttlmin;
			out.sttlmax = x->sttlmax;
			out.dttlmin = x->dttlmin;
			out.dttlmax = x->dttlmax;
			out.stos = x->stos;
			out.dtos = x->dtos;
			if (c->merge_mode) {
				out.state = x->state;
				memcpy(out.smac, x->smac, 6);
				memcpy(out.dmac, x->dmac, 6);
			} else {
				/* attributes of one record only mean something for one flow */
				out.flags &= (uint16_t) ~(FLOE_F_MAC | FLOE_F_VLAN);
			}
		}
		out.flags |= keyflags;
		for (size_t j = 0; j < c->ncols && j < 256; j++) {
			const struct floe_aggcol *col = &c->cols[j];
			extra[j] = 0;
			if (col->op == FLOE_AGG_PCT)
				extra[j] = c->pct_total[j] ? 100.0 * (double)floe_field_u64(col->arg, &out) /
				                             (double)c->pct_total[j] : 0.0;
		}
		struct floe_dcount **dc = dc_of(c, e);
		for (size_t j = 0; j < c->ndc; j++)
			if (c->dc_col[j] < 256)
				extra[c->dc_col[j]] = floe_dcount_value(dc[j]);
		c->st.groups++;
		enum floe_err err = emit(ud, &out, extra);
		if (err != FLOE_OK)
			return err;
	}
	return FLOE_OK;
}

static enum floe_err read_partition(struct floe_cluster *c, FILE *in, unsigned level,
                                    floe_cluster_emit emit, void *ud);

static enum floe_err drain(struct floe_cluster *c, struct part_set *ps, unsigned level,
                           floe_cluster_emit emit, void *ud)
{
	enum floe_err err = FLOE_OK;
	for (unsigned p = 0; p < NPART; p++) {
		if (!ps->f[p])
			continue;
		if (err == FLOE_OK)
			err = read_partition(c, ps->f[p], level, emit, ud);
		fclose(ps->f[p]);
		ps->f[p] = NULL;
	}
	return err;
}

static enum floe_err merge_entry(struct floe_cluster *c, FILE *in, uint8_t *rec)
{
	uint8_t *e;
	enum floe_err err = room(c, rec, &e);
	if (err != FLOE_OK)
		return err;
	grp_merge(c, e, rec);
	if (c->ext)
		ext_merge(ext_of(c, e), ext_of(c, rec));
	for (size_t j = 0; j < c->ndc; j++) {
		uint32_t sz;
		if (fread(&sz, 4, 1, in) != 1)
			return floe_errbuf_set(&c->eb, FLOE_IO, "spill file cut short");
		if (!sz)
			continue;
		if (sz > c->iobuf_cap) {
			uint8_t *nb = realloc(c->iobuf, sz);
			if (!nb)
				return floe_errbuf_set(&c->eb, FLOE_NOMEM, "out of memory");
			c->iobuf = nb;
			c->iobuf_cap = sz;
		}
		if (fread(c->iobuf, 1, sz, in) != sz)
			return floe_errbuf_set(&c->eb, FLOE_IO, "spill file cut short");
		struct floe_dcount *src = floe_dcount_load(NULL, c->iobuf, sz);
		if (!src)
			return floe_errbuf_set(&c->eb, FLOE_NOMEM, "out of memory");
		err = dc_add(c, rec, &e, j, 0, src);
		floe_dcount_destroy(src, NULL);
		if (err != FLOE_OK)
			return err;
	}
	return FLOE_OK;
}

static enum floe_err read_partition(struct floe_cluster *c, FILE *in, unsigned level,
                                    floe_cluster_emit emit, void *ud)
{
	if (fflush(in) != 0 || fseek(in, 0, SEEK_SET) != 0)
		return floe_errbuf_set(&c->eb, FLOE_IO, "cannot rewind a spill file: %s", strerror(errno));
	struct part_set sub = {0};
	struct part_set *saved_ps = c->ps;
	unsigned saved_level = c->level;
	c->ps = &sub;
	c->level = level;
	c->spilled = false;
	_Alignas(8) uint8_t rec[1024];
	enum floe_err err = FLOE_OK;
	while (err == FLOE_OK) {
		size_t got = fread(rec, 1, c->disk_size, in);
		if (got == 0 && feof(in))
			break;
		if (got != c->disk_size) {
			err = floe_errbuf_set(&c->eb, FLOE_IO, "spill file cut short");
			break;
		}
		err = merge_entry(c, in, rec);
	}
	bool sub_spilled = c->spilled;
	if (err == FLOE_OK && sub_spilled)
		err = spill(c);
	if (err == FLOE_OK && !sub_spilled)
		err = emit_all(c, emit, ud);
	drop_groups(c);
	if (err == FLOE_OK && sub_spilled)
		err = drain(c, &sub, level + 1, emit, ud);
	for (unsigned p = 0; p < NPART; p++)
		if (sub.f[p])
			fclose(sub.f[p]);
	c->ps = saved_ps;
	c->level = saved_level;
	return err;
}

static enum floe_err finish_own(struct floe_cluster *c, floe_cluster_emit emit, void *ud)
{
	enum floe_err err = pipe_drain(c);
	if (err != FLOE_OK)
		return err;
	if (!c->spilled) {
		err = emit_all(c, emit, ud);
		drop_groups(c);
		return err;
	}
	if ((err = spill(c)) != FLOE_OK)
		return err;
	return drain(c, &c->top, 1, emit, ud);
}

enum floe_err floe_cluster_finish(struct floe_cluster *c, floe_cluster_emit emit, void *ud)
{
	if (c->eb.code)
		return c->eb.code;
	enum floe_err err = finish_own(c, emit, ud);
	if (err == FLOE_OK && c->wide) {
		free_table(c);  /* all of the budget for the wide groups */
		/* the wide groups' percentages are of the totals of all records */
		memcpy(c->wide->pct_total, c->pct_total, (c->ncols ? c->ncols : 1) * sizeof(uint64_t));
		err = finish_own(c->wide, emit, ud);
		if (err != FLOE_OK && c->wide->eb.code && !c->eb.code)
			c->eb = c->wide->eb;
	}
	return err;
}

const char *floe_cluster_error(const struct floe_cluster *c)
{
	return c->eb.code ? c->eb.msg : c->wide ? floe_cluster_error(c->wide) : "";
}

void floe_cluster_stats(const struct floe_cluster *c, struct floe_cluster_stats *st)
{
	*st = c->st;
	if (c->wide) {
		st->groups += c->wide->st.groups;
		st->spills += c->wide->st.spills;
		st->spilled_groups += c->wide->st.spilled_groups;
		if (c->wide->st.max_level > st->max_level)
			st->max_level = c->wide->st.max_level;
	}
}

void floe_cluster_destroy(struct floe_cluster *c)
{
	if (!c)
		return;
	floe_cluster_destroy(c->wide);
	drop_groups(c);
	for (unsigned p = 0; p < NPART; p++)
		if (c->top.f[p])
			fclose(c->top.f[p]);
	for (size_t i = 0; i < c->nchunks; i++)
		floe_free(c->budget, c->chunks[i], CHUNK_ENTRIES * c->esize);
	floe_free(c->budget, c->chunks, c->chunks_cap * sizeof(*c->chunks));
	floe_free(c->budget, c->slots, c->cap * sizeof(uint64_t));
	free(c->pct_total);
	free(c->iobuf);
	free(c);
}
