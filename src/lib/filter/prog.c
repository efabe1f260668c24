/*
 * prog.c - the compiled filter: code generation from the tree, matching,
 * and the analyses the file reader uses to skip blocks.
 *
 * Code generation is BPF's: each leaf becomes one instruction with a jump
 * for "true" and one for "false".  gen(n, T, F) emits n so that it ends at
 * T when n holds and at F when it does not; an AND chains its children
 * through their "true" exits, an OR through their "false" exits, and NOT
 * swaps T and F.  So `host X and tcp` is two instructions, and the second is
 * never run for a record without X.  Every leaf is emitted exactly once, so
 * the program has as many instructions as the tree has leaves.
 *
 * Must not depend on: meter, decode, codec.
 */
#include "filter_int.h"
#include "util/mem.h"
#include "util/netset.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- code generation ---- */

struct gen {
	struct floe_filter *f;
	uint32_t n;
};

static uint32_t gen(struct gen *g, uint32_t ni, uint32_t t, uint32_t fl)
{
	const struct node *nd = &g->f->nodes[ni];
	switch (nd->kind) {
	case N_LEAF: {
		struct insn *in = &g->f->prog[g->n];
		in->t = nd->t;
		in->jt = t;
		in->jf = fl;
		return g->n++;
	}
	case N_NOT:
		return gen(g, nd->child, fl, t);
	case N_AND:
	case N_OR: {
		/* Children are linked last-first (filter_int.h), the order in
		 * which they are emitted: each one's exit is the next one's entry. */
		uint32_t entry = NO_NODE;
		for (uint32_t c = nd->child; c != NO_NODE; c = g->f->nodes[c].next) {
			if (nd->kind == N_AND)
				entry = gen(g, c, entry == NO_NODE ? t : entry, fl);
			else
				entry = gen(g, c, t, entry == NO_NODE ? fl : entry);
		}
		return entry;
	}
	}
	return fl;
}

enum floe_err floe_flt_codegen(struct floe_filter *f, struct floe_errbuf *eb)
{
	f->prog = NULL;
	f->ninsn = 0;
	if (f->root == NO_NODE) {
		f->entry = PC_ACCEPT;
		return FLOE_OK;
	}
	uint32_t leaves = 0;
	for (uint32_t i = 0; i < f->nnodes; i++)
		leaves += f->nodes[i].kind == N_LEAF;
	f->prog = floe_calloc(NULL, leaves, sizeof(*f->prog));
	if (!f->prog)
		return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory compiling the filter");
	struct gen g = {f, 0};
	uint32_t entry = gen(&g, f->root, PC_ACCEPT, PC_REJECT);
	f->ninsn = g.n;
	/* Emitted back to front; reverse so a match runs forward in memory. */
	for (uint32_t i = 0; i < f->ninsn / 2; i++) {
		struct insn tmp = f->prog[i];
		f->prog[i] = f->prog[f->ninsn - 1 - i];
		f->prog[f->ninsn - 1 - i] = tmp;
	}
	for (uint32_t i = 0; i < f->ninsn; i++) {
		struct insn *in = &f->prog[i];
		if (in->jt < PC_REJECT)
			in->jt = f->ninsn - 1 - in->jt;
		if (in->jf < PC_REJECT)
			in->jf = f->ninsn - 1 - in->jf;
	}
	f->entry = entry < PC_REJECT ? f->ninsn - 1 - entry : entry;
	return FLOE_OK;
}

/* ---- matching ---- */

static inline bool addr_eq(const uint8_t a[16], const uint64_t b[2])
{
	uint64_t x[2];
	memcpy(x, a, 16);
	return ((x[0] ^ b[0]) | (x[1] ^ b[1])) == 0;
}

static inline bool addr_in(const uint8_t a[16], const struct test *t)
{
	uint64_t x[2];
	memcpy(x, a, 16);
	if (((x[0] & t->x.net.m[0]) ^ t->x.net.a[0]) | ((x[1] & t->x.net.m[1]) ^ t->x.net.a[1]))
		return false;
	return !t->v6only || !floe_addr_is_v4(a);
}

static inline bool sides(unsigned side, bool s, bool d)
{
	switch (side) {
	case SIDE_SRC: return s;
	case SIDE_DST: return d;
	case SIDE_BOTH: return s && d;
	default: return s || d;
	}
}

static inline bool has_ports(const struct floe_flow *r)
{
	if (r->ipver == 0)
		return false;
	switch (r->proto) {
	case 6: case 17: case 33: case 132: case 136:
		return true;
	default:
		return false;
	}
}

/* Records that carry addresses: IP, and ARP (IPv4 addresses).  Others are
 * neither in nor out of a set. */
static inline bool has_addrs(const struct floe_flow *r)
{
	return r->ipver != 0 || r->etype == FLOE_ETH_ARP;
}

static inline bool in_set(const struct test *t, const uint8_t a[16])
{
	bool in = floe_netset_contains(t->x.set.a, a) ||
	          (t->x.set.v6 && !floe_addr_is_v4(a) && floe_netset_contains(t->x.set.v6, a));
	return in != (bool)t->neg;
}

/* One comparison, for each value type a test compares. */
#define DEFINE_CMP(name, type)                              \
	static inline bool name(unsigned cmp, type a, type b) \
	{                                                     \
		switch (cmp) {                                \
		case CMP_EQ: return a == b;                   \
		case CMP_NE: return a != b;                   \
		case CMP_LT: return a < b;                    \
		case CMP_LE: return a <= b;                   \
		case CMP_GT: return a > b;                    \
		default: return a >= b;                       \
		}                                             \
	}
DEFINE_CMP(cmp_u, uint64_t)
DEFINE_CMP(cmp_s, int64_t)
DEFINE_CMP(cmp_d, double)

static inline uint64_t load(const struct floe_flow *r, unsigned off, unsigned size)
{
	const uint8_t *p = (const uint8_t *)r + off;
	switch (size) {
	case 1: return *p;
	case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
	case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
	default: { uint64_t v; memcpy(&v, p, 8); return v; }
	}
}

static inline bool test(const struct test *t, const struct floe_flow *r)
{
	switch (t->op) {
	case OP_ADDR:
		return sides(t->side, addr_eq(r->saddr, t->x.net.a), addr_eq(r->daddr, t->x.net.a));
	case OP_PROTO:
		return r->proto == t->x.u && r->ipver != 0;
	case OP_NET:
		return sides(t->side, addr_in(r->saddr, t), addr_in(r->daddr, t));
	case OP_PORT:
		return has_ports(r) &&
		       sides(t->side, r->sport >= t->x.port.lo && r->sport <= t->x.port.hi,
		             r->dport >= t->x.port.lo && r->dport <= t->x.port.hi);
	case OP_IPVER:
		return r->ipver == t->x.u;
	case OP_ETYPE:
		return r->etype == t->x.u;
	case OP_MAC:
		return (r->flags & FLOE_F_MAC) &&
		       sides(t->side, memcmp(r->smac, t->x.mac, 6) == 0,
		             memcmp(r->dmac, t->x.mac, 6) == 0);
	case OP_VLAN:
		return (r->flags & FLOE_F_VLAN) && (!t->cmp || r->vlan == t->x.u);
	case OP_STATE:
		return r->state == t->x.u;
	case OP_FLAG:
		return (r->flags & t->x.u) != 0;
	case OP_TCPF:
		return r->proto == 6 && r->ipver != 0 &&
		       (r->stcpflags & t->x.tcpf.s) == t->x.tcpf.s &&
		       (r->dtcpflags & t->x.tcpf.d) == t->x.tcpf.d &&
		       (!t->x.tcpf.any || ((r->stcpflags | r->dtcpflags) & t->x.tcpf.any));
	case OP_NUM_U: {
		uint64_t v = load(r, t->off, t->size);
		if (t->sgn)
			return cmp_s(t->cmp, (int64_t)v, (int64_t)t->x.u);
		return cmp_u(t->cmp, v, t->x.u);
	}
	case OP_NUM_D:
		return cmp_d(t->cmp, floe_field_num(t->x.num.fd, r), t->x.num.v);
	case OP_SET:
		if (!has_addrs(r))
			return false;
		/* not sides(): one probe per address actually needed */
		switch (t->side) {
		case SIDE_SRC: return in_set(t, r->saddr);
		case SIDE_DST: return in_set(t, r->daddr);
		case SIDE_BOTH: return in_set(t, r->saddr) && in_set(t, r->daddr);
		default: return in_set(t, r->saddr) || in_set(t, r->daddr);
		}
	}
	return false;
}

#define FIELD(fn, ud, m) \
	fn(ud, offsetof(struct floe_flow, m), sizeof(((struct floe_flow *)0)->m))

bool floe_filter_fields(const struct floe_filter *f,
                        void (*fn)(void *ud, size_t off, size_t size), void *ud)
{
	/* what test() and its helpers (has_ports, has_addrs) read */
	for (uint32_t i = 0; i < f->ninsn; i++) {
		const struct test *t = &f->prog[i].t;
		switch (t->op) {
		case OP_ADDR: case OP_NET: case OP_SET:
			FIELD(fn, ud, saddr);
			FIELD(fn, ud, daddr);
			FIELD(fn, ud, ipver);
			FIELD(fn, ud, etype);
			break;
		case OP_PORT:
			FIELD(fn, ud, sport);
			FIELD(fn, ud, dport);
			FIELD(fn, ud, proto);
			FIELD(fn, ud, ipver);
			break;
		case OP_PROTO:
			FIELD(fn, ud, proto);
			FIELD(fn, ud, ipver);
			break;
		case OP_IPVER:
			FIELD(fn, ud, ipver);
			break;
		case OP_ETYPE:
			FIELD(fn, ud, etype);
			break;
		case OP_MAC:
			FIELD(fn, ud, smac);
			FIELD(fn, ud, dmac);
			FIELD(fn, ud, flags);
			break;
		case OP_VLAN:
			FIELD(fn, ud, vlan);
			FIELD(fn, ud, flags);
			break;
		case OP_FLAG:
			FIELD(fn, ud, flags);
			break;
		case OP_STATE:
			FIELD(fn, ud, state);
			break;
		case OP_TCPF:
			FIELD(fn, ud, stcpflags);
			FIELD(fn, ud, dtcpflags);
			FIELD(fn, ud, proto);
			FIELD(fn, ud, ipver);
			break;
		case OP_NUM_U:
			fn(ud, t->off, t->size);
			break;
		case OP_NUM_D:
			if (!t->x.num.fd->size)
				return false;  /* derived: reads what its function reads */
			fn(ud, t->x.num.fd->off, t->x.num.fd->size);
			break;
		default:
			return false;  /* a test this list does not know yet */
		}
	}
	return true;
}

bool floe_filter_match(const struct floe_filter *f, const struct floe_flow *rec)
{
	uint32_t pc = f->entry;
	while (pc < PC_REJECT) {
		const struct insn *in = &f->prog[pc];
		pc = test(&in->t, rec) ? in->jt : in->jf;
	}
	return pc == PC_ACCEPT;
}

/*
 * The same semantics by walking the tree: slower, recursive (the depth is
 * bounded by the parser), and independent of code generation, so tests and
 * the fuzz target can check the program against it.
 */
bool floe_flt_eval_tree(const struct floe_filter *f, uint32_t ni, const struct floe_flow *rec)
{
	if (ni == NO_NODE)
		return true;
	const struct node *nd = &f->nodes[ni];
	switch (nd->kind) {
	case N_LEAF:
		return test(&nd->t, rec);
	case N_NOT:
		return !floe_flt_eval_tree(f, nd->child, rec);
	case N_AND:
		for (uint32_t c = nd->child; c != NO_NODE; c = f->nodes[c].next)
			if (!floe_flt_eval_tree(f, c, rec))
				return false;
		return true;
	case N_OR:
		for (uint32_t c = nd->child; c != NO_NODE; c = f->nodes[c].next)
			if (floe_flt_eval_tree(f, c, rec))
				return true;
		return false;
	}
	return false;
}

/* ---- compile / destroy ---- */

void floe_filter_destroy(struct floe_filter *f)
{
	if (!f)
		return;
	floe_free(NULL, f->nodes, f->capnodes * sizeof(*f->nodes));
	floe_free(NULL, f->prog, f->ninsn * sizeof(*f->prog));
	for (uint32_t i = 0; i < f->nsets; i++)
		floe_netset_destroy(f->sets[i]);
	floe_free(NULL, f->sets, f->capsets * sizeof(*f->sets));
	floe_free(NULL, f, sizeof(*f));
}

struct floe_filter *floe_filter_compile(const char *text, struct floe_errbuf *eb)
{
	return floe_filter_compile_opts(text, NULL, eb);
}

struct floe_filter *floe_filter_compile_opts(const char *text, const struct floe_filter_opts *opts,
                                             struct floe_errbuf *eb)
{
	struct floe_errbuf local;
	if (!eb) {
		floe_errbuf_clear(&local);
		eb = &local;
	}
	struct floe_filter *f = floe_calloc(NULL, 1, sizeof(*f));
	if (!f) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory compiling the filter");
		return NULL;
	}
	f->root = NO_NODE;
	if (!text)
		text = "";
	if (floe_flt_parse(f, text, opts, eb) != FLOE_OK || floe_flt_codegen(f, eb) != FLOE_OK) {
		floe_filter_destroy(f);
		return NULL;
	}
	return f;
}

/* ---- analyses ---- */

static int cmp16(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

/* The host address a leaf pins down, if any. */
static const uint8_t *leaf_addr(const struct test *t)
{
	if (t->op == OP_ADDR || (t->op == OP_NET && t->x.net.plen == 128))
		return t->x.net.raw;
	return NULL;
}

/* How many host addresses a leaf requires: 1 for an address, the size of
 * a list of hosts; -1 for none we can name or more than cap. */
static long leaf_count(const struct test *t, size_t cap)
{
	if (leaf_addr(t))
		return 1;
	if (t->op == OP_SET && t->x.set.hosts && !t->neg && !t->x.set.v6) {
		/* an empty list matches nothing; name no set rather than none */
		size_t k = floe_netset_count(t->x.set.a);
		return k > 0 && k <= cap ? (long)k : -1;
	}
	return -1;
}

/*
 * How many addresses node ni requires (one of them must be saddr or daddr
 * of every matching record), counted with repeats; -1 if it requires none
 * we can name or more than cap.
 */
static long req_count(const struct floe_filter *f, uint32_t ni, size_t cap)
{
	const struct node *nd = &f->nodes[ni];
	switch (nd->kind) {
	case N_LEAF:
		return leaf_count(&nd->t, cap);
	case N_NOT:
		return -1;
	case N_AND: {
		long best = -1;
		for (uint32_t c = nd->child; c != NO_NODE; c = f->nodes[c].next) {
			long k = req_count(f, c, cap);
			if (k >= 0 && (best < 0 || k < best))
				best = k;
		}
		return best;
	}
	case N_OR: {
		long sum = 0;
		for (uint32_t c = nd->child; c != NO_NODE; c = f->nodes[c].next) {
			long k = req_count(f, c, cap);
			if (k < 0)
				return -1;
			sum += k;
			if ((size_t)sum > cap)
				return -1;
		}
		return sum;
	}
	}
	return -1;
}

/* Appends the addresses counted by req_count (which returned >= 0). */
static void req_fill(const struct floe_filter *f, uint32_t ni, size_t cap,
                     uint8_t (*out)[16], size_t *n)
{
	const struct node *nd = &f->nodes[ni];
	switch (nd->kind) {
	case N_LEAF:
		if (nd->t.op == OP_SET) {
			size_t k = 0;
			/* req_count made sure the whole set fits */
			if (floe_netset_hosts(nd->t.x.set.a, out + *n, cap - *n, &k))
				*n += k;
			return;
		}
		memcpy(out[(*n)++], leaf_addr(&nd->t), 16);
		return;
	case N_AND: {
		long best = -1;
		uint32_t pick = NO_NODE;
		for (uint32_t c = nd->child; c != NO_NODE; c = f->nodes[c].next) {
			long k = req_count(f, c, cap);
			if (k >= 0 && (best < 0 || k < best)) {
				best = k;
				pick = c;
			}
		}
		req_fill(f, pick, cap, out, n);
		return;
	}
	case N_OR:
		for (uint32_t c = nd->child; c != NO_NODE; c = f->nodes[c].next)
			req_fill(f, c, cap, out, n);
		return;
	case N_NOT:
		return;
	}
}

bool floe_filter_required_addrs(const struct floe_filter *f, uint8_t (*out)[16],
                                size_t cap, size_t *n)
{
	*n = 0;
	if (!f || f->root == NO_NODE)
		return false;
	long k = req_count(f, f->root, cap);
	if (k < 0 || (size_t)k > cap)
		return false;
	req_fill(f, f->root, cap, out, n);
	/* Drop repeats: `host X or (host X and tcp)`.  Sorted, so a cap of
	 * many thousands costs n log n, not n^2. */
	qsort(out, *n, 16, cmp16);
	size_t w = 0;
	for (size_t i = 0; i < *n; i++)
		if (w == 0 || memcmp(out[w - 1], out[i], 16) != 0) {
			if (w != i)
				memcpy(out[w], out[i], 16);
			w++;
		}
	*n = w;
	return true;
}

/* ---- time range ---- */

struct trange {
	int64_t lo, hi;   /* ltime >= lo and stime <= hi; lo > hi: empty */
};

static const struct trange T_ALL = {INT64_MIN, INT64_MAX};

/* What one leaf says about [stime, ltime], using stime <= ltime. */
static struct trange leaf_range(const struct test *t)
{
	struct trange r = T_ALL;
	if (t->op != OP_NUM_U || !t->sgn)
		return r;
	bool st = t->off == offsetof(struct floe_flow, stime);
	bool lt = t->off == offsetof(struct floe_flow, ltime);
	if (!st && !lt)
		return r;
	int64_t v = (int64_t)t->x.u;
	switch (t->cmp) {
	case CMP_EQ:     /* stime = v: ltime >= v, stime <= v; ltime = v likewise */
		r.lo = v;
		r.hi = v;
		break;
	case CMP_GE:
		r.lo = v;
		break;
	case CMP_GT:
		if (v == INT64_MAX) {   /* nothing is greater: empty */
			r.lo = INT64_MAX;
			r.hi = INT64_MIN;
		} else {
			r.lo = v + 1;
		}
		break;
	case CMP_LE:
		r.hi = v;
		break;
	case CMP_LT:
		if (v == INT64_MIN) {   /* nothing is less: empty */
			r.lo = INT64_MAX;
			r.hi = INT64_MIN;
		} else {
			r.hi = v - 1;
		}
		break;
	default:         /* != */
		break;
	}
	return r;
}

static struct trange node_range(const struct floe_filter *f, uint32_t ni)
{
	const struct node *nd = &f->nodes[ni];
	struct trange r = T_ALL;
	switch (nd->kind) {
	case N_LEAF:
		return leaf_range(&nd->t);
	case N_NOT:
		return r;
	case N_AND:
		for (uint32_t c = nd->child; c != NO_NODE; c = f->nodes[c].next) {
			struct trange k = node_range(f, c);
			if (k.lo > r.lo)
				r.lo = k.lo;
			if (k.hi < r.hi)
				r.hi = k.hi;
		}
		return r;
	case N_OR: {
		/* the hull of the branches that can match at all */
		bool any = false;
		for (uint32_t c = nd->child; c != NO_NODE; c = f->nodes[c].next) {
			struct trange k = node_range(f, c);
			if (k.lo > k.hi)
				continue;
			if (!any || k.lo < r.lo)
				r.lo = k.lo;
			if (!any || k.hi > r.hi)
				r.hi = k.hi;
			any = true;
		}
		if (!any) {             /* no branch can match */
			r.lo = INT64_MAX;
			r.hi = INT64_MIN;
		}
		return r;
	}
	}
	return r;
}

bool floe_filter_time_range(const struct floe_filter *f, int64_t *tmin, int64_t *tmax)
{
	struct trange r = T_ALL;
	if (f && f->root != NO_NODE)
		r = node_range(f, f->root);
	*tmin = r.lo;
	*tmax = r.hi;
	return r.lo != INT64_MIN || r.hi != INT64_MAX;
}
