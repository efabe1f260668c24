/*
 * filter_int.h - the inside of struct floe_filter, shared by the lexer
 * (lex.c), the parser (parse.c) and the code generator / matcher (prog.c).
 *
 * A filter lives in two forms:
 *
 *  - the tree: n-ary AND/OR, NOT and leaf tests, as parsed.  Analyses read
 *    it (floe_filter_required_addrs; later the time range and column sets a
 *    block-level evaluator needs).  And/or chains are n-ary, so the tree's
 *    depth is bounded by the nesting of parentheses and `not`, which the
 *    parser limits (FLOE_FILTER_MAX_DEPTH): no walk over it can blow the
 *    stack, however long the filter.
 *
 *  - the program: the same leaf tests as a flat array of instructions, each
 *    with a jump target for "true" and one for "false" (as BPF does), so
 *    and/or short-circuit by construction and matching a record is one loop
 *    with no recursion, no allocation and no parsing.
 *
 * Lists and local networks: `host in [...]`, `host in @file`, `local` and
 * `remote` are one leaf op, OP_SET, whose test points at prefix sets
 * (util/netset.h).  A list's sets are owned by struct floe_filter (sets[],
 * freed in floe_filter_destroy); the local networks are borrowed from
 * struct floe_filter_opts.  A lookup costs one hash probe per distinct
 * prefix length in the set, whatever the number of entries.
 *
 * Analyses over the tree: floe_filter_required_addrs (addresses for the
 * Bloom filters) and floe_filter_time_range (OP_NUM_U leaves with sgn set
 * on stime/ltime, intersected under AND, hulled under OR).
 *
 * Where the next features go:
 *  - Evaluation over a block's columns: walk the program once per block
 *    with a selection vector instead of once per record; each leaf names
 *    the columns it reads (op + side, or off for OP_NUM_U).
 *
 * Must not depend on: meter, decode, codec.
 */
#ifndef FLOE_FILTER_INT_H
#define FLOE_FILTER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "field.h"
#include "filter.h"
#include "flow.h"

/* Limits against hostile text. */
#define FLOE_FILTER_MAX_TEXT  65536  /* bytes of filter text */
#define FLOE_FILTER_MAX_DEPTH 200    /* nesting of ( and not */

/* ---- lexer ---- */

enum tok_kind {
	TK_END,
	TK_WORD,     /* anything else: keywords, addresses, numbers, names */
	TK_LPAREN,
	TK_RPAREN,
	TK_AND,      /* && (the word "and" is a TK_WORD) */
	TK_OR,       /* || */
	TK_NOT,      /* !  */
	TK_CMP,      /* = == != < <= > >= (cmp holds which) */
	TK_PUNCT,    /* [ ] , @ for lists (and a lone & or |) */
};

enum cmp_op { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE };

struct tok {
	enum tok_kind kind;
	enum cmp_op cmp;
	size_t off;   /* byte offset of the first character in the text */
	size_t len;
};

struct lexer {
	const char *s;
	size_t len;
	size_t pos;
};

void floe_flt_lex_init(struct lexer *lx, const char *s, size_t len);
struct tok floe_flt_lex_next(struct lexer *lx);
/* The path after '@' (lexer just past it): `"..."` (no escapes) or the
 * characters up to a blank, '(' or ')'.  The token spans the path without
 * quotes; TK_END if it is empty or a quote is not closed. */
struct tok floe_flt_lex_path(struct lexer *lx);

/* ---- tests (leaves) ---- */

enum op {
	OP_ADDR = 1,    /* saddr/daddr == a */
	OP_NET,         /* saddr/daddr in a/plen (masks precomputed) */
	OP_PORT,        /* sport/dport in [lo, hi], port-carrying protocols */
	OP_PROTO,       /* proto == u (IP records only) */
	OP_IPVER,       /* ipver == u */
	OP_ETYPE,       /* etype == u */
	OP_MAC,         /* smac/dmac == mac, FLOE_F_MAC set */
	OP_VLAN,        /* FLOE_F_VLAN set and (cmp == 0 or vlan == u) */
	OP_STATE,       /* state == u */
	OP_FLAG,        /* flags & u */
	OP_TCPF,        /* TCP flags: see struct test.tcpf */
	OP_NUM_U,       /* stored integer field (off, size) cmp exact u64 */
	OP_NUM_D,       /* any numeric field via floe_field_num, cmp double */
	OP_SET,         /* saddr/daddr in a prefix set (neg: not in it) */
};

/* Which side(s) an address, port or MAC test looks at. */
enum side { SIDE_SRC = 1, SIDE_DST = 2, SIDE_EITHER = 3, SIDE_BOTH = 4 };

struct test {
	uint8_t op;       /* enum op */
	uint8_t side;     /* enum side */
	uint8_t cmp;      /* enum cmp_op */
	uint8_t v6only;   /* OP_NET: record address must not be v4-mapped */
	uint8_t sgn;      /* OP_NUM_U: the member is signed (int64 times) */
	uint8_t neg;      /* OP_SET: true where the address is NOT in the set */
	uint8_t size;     /* OP_NUM_U: member size and offset */
	uint16_t off;
	union {
		struct { uint64_t a[2]; uint64_t m[2]; unsigned plen; uint8_t raw[16]; } net;
		struct { uint16_t lo, hi; } port;
		struct { uint8_t s, d, any; } tcpf;  /* s & s == s, d & d == d, (s|d) & any */
		uint8_t mac[6];
		uint64_t u;
		struct { double v; const struct floe_field *fd; } num;
		/* OP_SET: a = the prefixes; v6 = IPv6-notation prefixes shorter
		 * than /96, which match IPv6 addresses only (as `net` does; NULL
		 * if none).  hosts: a holds only full addresses (Bloom skipping). */
		struct { const struct floe_netset *a, *v6; uint8_t hosts; } set;
	} x;
};

/* ---- tree ---- */

enum node_kind { N_LEAF, N_AND, N_OR, N_NOT };

#define NO_NODE UINT32_MAX

struct node {
	uint8_t kind;         /* enum node_kind */
	/* Children of AND/OR are linked from the last written to the first
	 * (the order code generation needs); NOT has one. */
	uint32_t child;       /* last child, NO_NODE for a leaf */
	uint32_t next;        /* the child written before this one */
	struct test t;        /* N_LEAF */
};

/* ---- program ---- */

/* Jump targets at or beyond PC_ACCEPT end the match. */
#define PC_ACCEPT UINT32_MAX
#define PC_REJECT (UINT32_MAX - 1)

struct insn {
	struct test t;
	uint32_t jt, jf;
};

struct floe_filter {
	struct node *nodes;
	uint32_t nnodes, capnodes;
	uint32_t root;        /* NO_NODE: the empty filter */
	struct insn *prog;
	uint32_t ninsn;
	uint32_t entry;       /* first pc; PC_ACCEPT for the empty filter */
	struct floe_netset **sets;  /* owned: the lists' prefix sets */
	uint32_t nsets, capsets;
};

/* parse.c: builds f->nodes/f->root from text.  FLOE_OK or an error in eb. */
enum floe_err floe_flt_parse(struct floe_filter *f, const char *text,
                             const struct floe_filter_opts *opts, struct floe_errbuf *eb);
/* prog.c: builds f->prog from the tree. */
enum floe_err floe_flt_codegen(struct floe_filter *f, struct floe_errbuf *eb);
/* prog.c: the match of node ni (f->root for the filter) by walking the
 * tree; a reference for tests, floe_filter_match is the fast path. */
bool floe_flt_eval_tree(const struct floe_filter *f, uint32_t ni,
                        const struct floe_flow *rec);

#endif
