/*
 * parse.c - recursive-descent parser of the filter language into the tree
 * of filter_int.h.  The grammar (EBNF) and the meaning of every word are in
 * docs/filter.md; this file is its implementation:
 *
 *   filter    = [ "-" ] [ or-expr ] ;
 *   or-expr   = and-expr { ( "or" | "||" ) and-expr } ;
 *   and-expr  = unary { ( "and" | "&&" ) unary } ;
 *   unary     = ( "not" | "!" ) unary | "(" or-expr ")" | primitive ;
 *
 * Precedence is not > and > or (as in nfdump and SQL; tcpdump gives and/or
 * equal precedence, see docs/filter.md).  And/or chains become one n-ary
 * node, so only parentheses and `not` deepen the tree, and both are counted
 * against FLOE_FILTER_MAX_DEPTH before recursing.
 *
 * Errors name the 1-based column of the offending token:
 *   "column 9: expected an IPv4 or IPv6 address, found 'foo'"
 * Input is the caller's NUL-terminated text; tokens are (offset, length)
 * into it, and words are copied into bounded buffers before conversion.
 */
#include "filter_int.h"
#include "util/addr.h"
#include "util/mem.h"
#include "util/netset.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_NODES 200000u
#define WORD_MAX 128
#define LIST_FILE_MAX (1ull << 30)   /* bytes of an @file list */

/* The primitive an omitted one repeats (tcpdump: `host a or b`). */
enum last_kind { LAST_NONE, LAST_HOST, LAST_NET, LAST_PORT, LAST_PORTRANGE,
                 LAST_PROTO, LAST_ETHER, LAST_VLAN };

struct parser {
	struct floe_filter *f;
	const char *s;
	struct lexer lx;
	struct tok tok;
	struct floe_errbuf *eb;
	const struct floe_filter_opts *opts;
	unsigned depth;
	bool failed;
	struct {
		enum last_kind kind;
		enum side side;
		int proto;        /* `tcp port 80 or 443`: the protocol it carried, or -1 */
	} last;
};

/* ---- errors ---- */

/* Copies token text for a message: at most 40 bytes, unprintables as '?'. */
static void quote_tok(const struct parser *p, const struct tok *t, char *buf, size_t cap)
{
	size_t n = t->len < cap - 1 ? t->len : cap - 1;
	if (n > 40)
		n = 40;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p->s[t->off + i];
		buf[i] = isprint(c) ? (char)c : '?';
	}
	buf[n] = '\0';
	if (n < t->len && n >= 3)
		memcpy(buf + n - 3, "...", 3);
}

static void fail(struct parser *p, enum floe_err err, const struct tok *t,
                 const char *fmt, ...) FLOE_PRINTF(4, 5);

static void fail(struct parser *p, enum floe_err err, const struct tok *t,
                 const char *fmt, ...)
{
	if (p->failed)
		return;
	p->failed = true;
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	floe_errbuf_set(p->eb, err, "column %zu: %s", t->off + 1, msg);
}

/* "expected WHAT, found 'TOKEN'" at the current token. */
static void expected(struct parser *p, const char *what)
{
	char q[48];
	if (p->tok.kind == TK_END) {
		fail(p, FLOE_MALFORMED, &p->tok, "expected %s, found end of filter", what);
		return;
	}
	quote_tok(p, &p->tok, q, sizeof(q));
	fail(p, FLOE_MALFORMED, &p->tok, "expected %s, found '%s'", what, q);
}

/* ---- tokens ---- */

static void advance(struct parser *p)
{
	p->tok = floe_flt_lex_next(&p->lx);
}

static struct tok peek(const struct parser *p)
{
	struct lexer copy = p->lx;
	return floe_flt_lex_next(&copy);
}

static bool tok_is(const struct parser *p, const struct tok *t, const char *kw)
{
	size_t n = strlen(kw);
	return t->kind == TK_WORD && t->len == n && strncasecmp(p->s + t->off, kw, n) == 0;
}

static bool word_is(const struct parser *p, const char *kw)
{
	return tok_is(p, &p->tok, kw);
}

/* Copies the current word into buf; false (error set) if it is too long. */
static bool word_copy(struct parser *p, char *buf, size_t cap)
{
	if (p->tok.len >= cap) {
		char q[48];
		quote_tok(p, &p->tok, q, sizeof(q));
		fail(p, FLOE_MALFORMED, &p->tok, "'%s' is too long", q);
		return false;
	}
	memcpy(buf, p->s + p->tok.off, p->tok.len);
	buf[p->tok.len] = '\0';
	return true;
}

/* ---- tree building ---- */

static uint32_t new_node(struct parser *p, enum node_kind kind)
{
	struct floe_filter *f = p->f;
	if (f->nnodes == f->capnodes) {
		if (f->capnodes >= MAX_NODES) {
			fail(p, FLOE_LIMIT, &p->tok, "filter is too complex (more than %u terms)",
			     MAX_NODES);
			return NO_NODE;
		}
		uint32_t ncap = f->capnodes ? f->capnodes * 2 : 16;
		struct node *nn = floe_realloc(NULL, f->nodes, f->capnodes * sizeof(*nn),
		                               ncap * sizeof(*nn));
		if (!nn) {
			fail(p, FLOE_NOMEM, &p->tok, "out of memory compiling the filter");
			return NO_NODE;
		}
		f->nodes = nn;
		f->capnodes = ncap;
	}
	struct node *n = &f->nodes[f->nnodes];
	memset(n, 0, sizeof(*n));
	n->kind = (uint8_t)kind;
	n->child = NO_NODE;
	n->next = NO_NODE;
	return f->nnodes++;
}

static uint32_t leaf(struct parser *p, const struct test *t)
{
	uint32_t i = new_node(p, N_LEAF);
	if (i != NO_NODE)
		p->f->nodes[i].t = *t;
	return i;
}

/* An n-ary node over the given children (NO_NODE entries are errors). */
static uint32_t group(struct parser *p, enum node_kind kind, const uint32_t *kids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (kids[i] == NO_NODE)
			return NO_NODE;
	if (n == 1 && kind != N_NOT)
		return kids[0];
	uint32_t g = new_node(p, kind);
	if (g == NO_NODE)
		return NO_NODE;
	/* Last-first: the order code generation emits them in. */
	p->f->nodes[g].child = kids[n - 1];
	for (size_t i = n - 1; i > 0; i--)
		p->f->nodes[kids[i]].next = kids[i - 1];
	return g;
}

static uint32_t and2(struct parser *p, uint32_t a, uint32_t b)
{
	uint32_t k[2] = {a, b};
	return group(p, N_AND, k, 2);
}

static uint32_t not1(struct parser *p, uint32_t a)
{
	return group(p, N_NOT, &a, 1);
}

static struct test mk(enum op op)
{
	struct test t;
	memset(&t, 0, sizeof(t));
	t.op = (uint8_t)op;
	return t;
}

static uint32_t leaf_u(struct parser *p, enum op op, uint64_t u)
{
	struct test t = mk(op);
	t.x.u = u;
	return leaf(p, &t);
}

/* ---- values ---- */

/* Decimal integer of the whole string, <= max; false otherwise. */
static bool parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

static const struct { const char *name; uint16_t port; } services[] = {
	{"ftp-data", 20}, {"ftp", 21}, {"ssh", 22}, {"telnet", 23}, {"smtp", 25},
	{"domain", 53}, {"dns", 53}, {"bootps", 67}, {"bootpc", 68}, {"tftp", 69},
	{"http", 80}, {"pop3", 110}, {"ntp", 123}, {"netbios-ns", 137}, {"imap", 143},
	{"snmp", 161}, {"snmptrap", 162}, {"bgp", 179}, {"ldap", 389}, {"https", 443},
	{"microsoft-ds", 445}, {"smb", 445}, {"syslog", 514}, {"submission", 587},
	{"ldaps", 636}, {"imaps", 993}, {"pop3s", 995}, {"openvpn", 1194},
	{"ms-sql-s", 1433}, {"mysql", 3306}, {"rdp", 3389}, {"sip", 5060},
	{"postgresql", 5432}, {"http-alt", 8080},
};

static bool parse_port_text(const char *s, uint16_t *port)
{
	uint64_t v;
	if (parse_uint(s, 65535, &v)) {
		*port = (uint16_t)v;
		return true;
	}
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++)
		if (strcasecmp(services[i].name, s) == 0) {
			*port = services[i].port;
			return true;
		}
	return false;
}

/*
 * An IPv4 network in tcpdump's short forms: "10", "10.1", "10.1.2" (the
 * prefix length is 8 per octet given) or a full dotted quad (/32).  Returns
 * the number of octets given, 0 if s is not such a form.
 */
static int parse_v4_short(const char *s, uint8_t v4[4])
{
	int n = 0;
	memset(v4, 0, 4);
	for (;;) {
		uint64_t v = 0;
		int digits = 0;
		while (*s >= '0' && *s <= '9' && digits < 4) {
			v = v * 10 + (uint64_t)(*s++ - '0');
			digits++;
		}
		if (!digits || v > 255 || n == 4)
			return 0;
		v4[n++] = (uint8_t)v;
		if (*s == '\0')
			return n;
		if (*s != '.')
			return 0;
		s++;
	}
}

/* ---- primitives ---- */

static uint32_t parse_or(struct parser *p);
static uint32_t parse_unary(struct parser *p);

static bool is_value_word(const struct parser *p)
{
	if (p->tok.kind != TK_WORD || p->tok.len == 0)
		return false;
	char c = p->s[p->tok.off];
	if (c >= '0' && c <= '9')
		return true;
	return memchr(p->s + p->tok.off, ':', p->tok.len) != NULL;
}

static uint32_t host_value(struct parser *p, enum side side)
{
	char w[WORD_MAX];
	struct test t = mk(OP_ADDR);
	if (p->tok.kind != TK_WORD) {
		expected(p, "an IPv4 or IPv6 address");
		return NO_NODE;
	}
	if (!word_copy(p, w, sizeof(w)))
		return NO_NODE;
	if (!floe_addr_parse(w, t.x.net.raw)) {
		expected(p, "an IPv4 or IPv6 address");
		return NO_NODE;
	}
	memcpy(t.x.net.a, t.x.net.raw, 16);
	t.side = (uint8_t)side;
	advance(p);
	p->last.kind = LAST_HOST;
	p->last.side = side;
	return leaf(p, &t);
}

static uint32_t net_value(struct parser *p, enum side side)
{
	char w[WORD_MAX];
	struct tok at = p->tok;
	uint8_t a[16], v4[4];
	unsigned plen;
	bool v6;
	if (p->tok.kind != TK_WORD) {
		expected(p, "a network (10.0.0.0/8, 2001:db8::/32)");
		return NO_NODE;
	}
	if (!word_copy(p, w, sizeof(w)))
		return NO_NODE;
	char *slash = strchr(w, '/');
	if (slash)
		*slash = '\0';
	int octets = parse_v4_short(w, v4);
	if (octets) {
		floe_addr_from_v4(a, v4);
		v6 = false;
		plen = 96 + 8 * (unsigned)octets;
	} else if (strchr(w, ':') && floe_addr_parse(w, a)) {
		v6 = true;
		plen = 128;
	} else {
		expected(p, "a network (10.0.0.0/8, 2001:db8::/32)");
		return NO_NODE;
	}
	if (slash) {
		uint64_t len;
		unsigned max = v6 ? 128 : 32;
		if (!parse_uint(slash + 1, 1000, &len) || len > max) {
			fail(p, FLOE_MALFORMED, &at,
			     "prefix length '%.8s' is out of range for %s (0-%u)",
			     slash + 1, v6 ? "IPv6" : "IPv4", max);
			return NO_NODE;
		}
		plen = v6 ? (unsigned)len : 96 + (unsigned)len;
	}
	advance(p);
	if (!slash && word_is(p, "mask")) {
		advance(p);
		uint8_t m[16];
		if (p->tok.kind != TK_WORD || !word_copy(p, w, sizeof(w)) || v6 ||
		    !floe_addr_parse(w, m) || !floe_addr_is_v4(m)) {
			if (!p->failed)
				expected(p, "an IPv4 netmask (255.255.0.0)");
			return NO_NODE;
		}
		uint32_t mv = (uint32_t)m[12] << 24 | (uint32_t)m[13] << 16 |
		              (uint32_t)m[14] << 8 | m[15];
		unsigned bits = 0;
		while (bits < 32 && (mv & (0x80000000u >> bits)))
			bits++;
		if (bits < 32 && (mv << bits) != 0) {
			fail(p, FLOE_MALFORMED, &p->tok, "netmask '%s' is not contiguous", w);
			return NO_NODE;
		}
		plen = 96 + bits;
		advance(p);
	}
	struct test t = mk(OP_NET);
	floe_addr_mask(a, plen);
	memcpy(t.x.net.raw, a, 16);
	uint8_t m[16];
	memset(m, 0xff, 16);
	floe_addr_mask(m, plen);
	memcpy(t.x.net.a, a, 16);
	memcpy(t.x.net.m, m, 16);
	t.x.net.plen = plen;
	t.v6only = v6 && plen < 96;
	t.side = (uint8_t)side;
	p->last.kind = LAST_NET;
	p->last.side = side;
	return leaf(p, &t);
}

static uint32_t port_leaf(struct parser *p, enum side side, uint16_t lo, uint16_t hi)
{
	struct test t = mk(OP_PORT);
	t.side = (uint8_t)side;
	t.x.port.lo = lo;
	t.x.port.hi = hi;
	uint32_t n = leaf(p, &t);
	if (p->last.proto >= 0)
		n = and2(p, leaf_u(p, OP_PROTO, (uint64_t)p->last.proto), n);
	return n;
}

static uint32_t port_value(struct parser *p, enum side side)
{
	char w[WORD_MAX];
	uint16_t v;
	if (p->tok.kind != TK_WORD || !word_copy(p, w, sizeof(w)) ||
	    !parse_port_text(w, &v)) {
		if (!p->failed)
			expected(p, "a port number (0-65535) or service name");
		return NO_NODE;
	}
	advance(p);
	p->last.kind = LAST_PORT;
	p->last.side = side;
	return port_leaf(p, side, v, v);
}

static uint32_t portrange_value(struct parser *p, enum side side)
{
	char w[WORD_MAX];
	uint16_t lo, hi;
	char *dash;
	if (p->tok.kind != TK_WORD || !word_copy(p, w, sizeof(w)) ||
	    !(dash = strchr(w, '-'))) {
		if (!p->failed)
			expected(p, "a port range (6000-6010)");
		return NO_NODE;
	}
	*dash = '\0';
	if (!parse_port_text(w, &lo) || !parse_port_text(dash + 1, &hi)) {
		expected(p, "a port range (6000-6010)");
		return NO_NODE;
	}
	if (lo > hi) {
		uint16_t tmp = lo;
		lo = hi;
		hi = tmp;
	}
	advance(p);
	p->last.kind = LAST_PORTRANGE;
	p->last.side = side;
	return port_leaf(p, side, lo, hi);
}

static uint32_t mac_value(struct parser *p, enum side side)
{
	char w[WORD_MAX];
	struct test t = mk(OP_MAC);
	if (p->tok.kind != TK_WORD || !word_copy(p, w, sizeof(w)) ||
	    !floe_mac_parse(w, t.x.mac)) {
		if (!p->failed)
			expected(p, "a MAC address (00:11:22:33:44:55)");
		return NO_NODE;
	}
	/* floe_mac_parse stops at 6 groups; refuse "…:55:66" leftovers. */
	if (strlen(w) > 17) {
		expected(p, "a MAC address (00:11:22:33:44:55)");
		return NO_NODE;
	}
	t.side = (uint8_t)side;
	advance(p);
	p->last.kind = LAST_ETHER;
	p->last.side = side;
	return leaf(p, &t);
}

/* vlan N: tagged with N (a bare `vlan` is any tag). */
static uint32_t vlan_value(struct parser *p)
{
	char w[WORD_MAX];
	uint64_t v;
	if (!word_copy(p, w, sizeof(w)) || !parse_uint(w, 4095, &v)) {
		if (!p->failed)
			expected(p, "a VLAN id (0-4095)");
		return NO_NODE;
	}
	advance(p);
	p->last.kind = LAST_VLAN;
	struct test t = mk(OP_VLAN);
	t.x.u = v;
	t.cmp = 1;   /* an id was given */
	return leaf(p, &t);
}

/* proto N|name; arp is an ethertype, not an IP protocol. */
static uint32_t proto_value(struct parser *p)
{
	char w[WORD_MAX];
	uint64_t v;
	if (p->tok.kind != TK_WORD || !word_copy(p, w, sizeof(w))) {
		if (!p->failed)
			expected(p, "a protocol number (0-255) or name");
		return NO_NODE;
	}
	if (strcasecmp(w, "arp") == 0) {
		advance(p);
		return leaf_u(p, OP_ETYPE, FLOE_ETH_ARP);
	}
	int pr = parse_uint(w, 255, &v) ? (int)v : floe_proto_parse(w);
	if (pr < 0) {
		expected(p, "a protocol number (0-255) or name");
		return NO_NODE;
	}
	advance(p);
	p->last.kind = LAST_PROTO;
	return leaf_u(p, OP_PROTO, (uint64_t)pr);
}

/* `src`, `dst`, `src or dst`, `src and dst`: consumes them, returns the side. */
static enum side parse_side(struct parser *p)
{
	bool src = word_is(p, "src");
	advance(p);
	struct tok n = peek(p);
	if ((word_is(p, "or") || word_is(p, "and") || p->tok.kind == TK_OR ||
	     p->tok.kind == TK_AND) && tok_is(p, &n, src ? "dst" : "src")) {
		bool both = word_is(p, "and") || p->tok.kind == TK_AND;
		advance(p);
		advance(p);
		return both ? SIDE_BOTH : SIDE_EITHER;
	}
	return src ? SIDE_SRC : SIDE_DST;
}

/* ---- lists and local networks ---- */

static bool punct_is(const struct parser *p, char c)
{
	return p->tok.kind == TK_PUNCT && p->s[p->tok.off] == c;
}

/* A new empty prefix set owned by the filter (freed with it). */
static struct floe_netset *own_set(struct parser *p)
{
	struct floe_filter *f = p->f;
	if (f->nsets == f->capsets) {
		uint32_t ncap = f->capsets ? f->capsets * 2 : 4;
		struct floe_netset **ns = floe_realloc(NULL, f->sets, f->capsets * sizeof(*ns),
		                                       ncap * sizeof(*ns));
		if (!ns) {
			fail(p, FLOE_NOMEM, &p->tok, "out of memory compiling the filter");
			return NULL;
		}
		f->sets = ns;
		f->capsets = ncap;
	}
	struct floe_netset *set = floe_netset_create(NULL);
	if (!set) {
		fail(p, FLOE_NOMEM, &p->tok, "out of memory compiling the filter");
		return NULL;
	}
	f->sets[f->nsets++] = set;
	return set;
}

/* A list being built: a and v6 as in struct test.x.set. */
struct list_build {
	struct floe_netset *a, *v6;
	bool hosts;
};

/* Adds one "ADDR[/LEN]" (w, NUL-terminated).  MALFORMED if w is not one,
 * NOMEM (error set) if the set cannot grow. */
static enum floe_err list_add(struct parser *p, struct list_build *lb, const char *w)
{
	uint8_t a[16];
	unsigned plen;
	if (!floe_cidr_parse(w, a, &plen))
		return FLOE_MALFORMED;
	struct floe_netset *set = lb->a;
	if (plen < 96 && strchr(w, ':')) {
		/* IPv6 notation shorter than /96: IPv6 addresses only, like `net` */
		if (!lb->v6 && !(lb->v6 = own_set(p)))
			return FLOE_NOMEM;
		set = lb->v6;
	}
	if (plen != 128)
		lb->hosts = false;
	if (floe_netset_add(set, a, plen) != FLOE_OK) {
		fail(p, FLOE_NOMEM, &p->tok, "out of memory compiling the filter");
		return FLOE_NOMEM;
	}
	return FLOE_OK;
}

static const char list_entry[] = "an address or network (10.0.0.1, 192.168.0.0/16)";

/* "[" { ENTRY | "," } "]"; the current token is the '['. */
static bool list_inline(struct parser *p, struct list_build *lb)
{
	struct tok open = p->tok;
	char w[WORD_MAX], what[96];
	advance(p);
	for (;;) {
		if (punct_is(p, ']')) {
			advance(p);
			return true;
		}
		if (punct_is(p, ',')) {
			advance(p);
			continue;
		}
		if (p->tok.kind == TK_END) {
			snprintf(what, sizeof(what), "']' to close '[' at column %zu", open.off + 1);
			expected(p, what);
			return false;
		}
		enum floe_err e = FLOE_MALFORMED;
		if (p->tok.kind == TK_WORD && word_copy(p, w, sizeof(w)))
			e = list_add(p, lb, w);
		if (e != FLOE_OK) {
			if (!p->failed) {
				snprintf(what, sizeof(what), "%s or ']'", list_entry);
				expected(p, what);
			}
			return false;
		}
		advance(p);
	}
}

/* Reads a regular file of at most LIST_FILE_MAX bytes into a NUL-terminated
 * buffer (*len bytes, owned by the caller, floe_free(NULL, *buf, *len + 1)).
 * Opened without blocking so a FIFO or device is refused, not waited on. */
static bool slurp(struct parser *p, const struct tok *at, const char *path, char **buf,
                  size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		fail(p, FLOE_IO, at, "cannot read list '%.100s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 0) {
		close(fd);
		fail(p, FLOE_IO, at, "cannot read list '%.100s': not a regular file", path);
		return false;
	}
	if ((unsigned long long)st.st_size > LIST_FILE_MAX) {
		close(fd);
		fail(p, FLOE_LIMIT, at, "list '%.100s' is larger than 1 GiB", path);
		return false;
	}
	size_t cap = (size_t)st.st_size, n = 0;
	char *b = floe_malloc(NULL, cap + 1);
	if (!b) {
		close(fd);
		fail(p, FLOE_NOMEM, at, "out of memory reading list '%.100s'", path);
		return false;
	}
	/* The size may change under us: read what fits, stop at end. */
	while (n < cap) {
		ssize_t k = read(fd, b + n, cap - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			fail(p, FLOE_IO, at, "cannot read list '%.100s': %s", path, strerror(errno));
			close(fd);
			floe_free(NULL, b, cap + 1);
			return false;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	memset(b + n, 0, cap + 1 - n);
	*buf = b;
	*len = cap;
	return true;
}

/* "@" PATH: one entry per line (blanks and commas also separate entries),
 * '#' to the end of a line is a comment.  The current token is the '@'. */
static bool list_file(struct parser *p, struct list_build *lb)
{
	struct tok path = floe_flt_lex_path(&p->lx);
	char name[1024];
	if (path.kind != TK_WORD) {
		fail(p, FLOE_MALFORMED, &path,
		     "expected a file name after '@' (@list.txt, @\"my list.txt\")");
		return false;
	}
	if (path.len >= sizeof(name)) {
		fail(p, FLOE_MALFORMED, &path, "list file name is longer than %zu bytes",
		     sizeof(name) - 1);
		return false;
	}
	memcpy(name, p->s + path.off, path.len);
	name[path.len] = '\0';
	char *buf;
	size_t cap;
	if (!slurp(p, &path, name, &buf, &cap))
		return false;
	bool ok = true;
	unsigned line = 1;
	char *q = buf;
	while (ok && *q) {
		if (*q == '#') {
			while (*q && *q != '\n')
				q++;
			continue;
		}
		if (*q == '\n')
			line++;
		if (isspace((unsigned char)*q) || *q == ',') {
			q++;
			continue;
		}
		char *start = q;
		while (*q && !isspace((unsigned char)*q) && *q != ',' && *q != '#')
			q++;
		char save = *q;
		*q = '\0';
		enum floe_err e = list_add(p, lb, start);
		if (e == FLOE_MALFORMED)
			fail(p, FLOE_MALFORMED, &path, "list '%.100s' line %u: not an address or network: '%.40s'",
			     name, line, start);
		*q = save;
		ok = e == FLOE_OK;
	}
	floe_free(NULL, buf, cap + 1);
	if (ok)
		advance(p);
	return ok;
}

/* After `host in`, `net in` or `SIDE in`: an inline list or @file. */
static uint32_t list_value(struct parser *p, enum side side)
{
	advance(p);   /* in */
	struct list_build lb = {NULL, NULL, true};
	if (!(lb.a = own_set(p)))
		return NO_NODE;
	bool ok;
	if (punct_is(p, '['))
		ok = list_inline(p, &lb);
	else if (punct_is(p, '@'))
		ok = list_file(p, &lb);
	else {
		expected(p, "a list: '[' or '@file'");
		ok = false;
	}
	if (!ok)
		return NO_NODE;
	struct test t = mk(OP_SET);
	t.side = (uint8_t)side;
	t.x.set.a = lb.a;
	t.x.set.v6 = lb.v6;
	t.x.set.hosts = lb.hosts;
	p->last.kind = LAST_HOST;   /* `host in [...] or 10.0.0.9` */
	p->last.side = side;
	return leaf(p, &t);
}

/* `local` or `remote` (the current word): the address is (not) in the
 * local networks. */
static uint32_t local_value(struct parser *p, enum side side)
{
	if (!p->opts || !p->opts->local) {
		fail(p, FLOE_INVALID, &p->tok, "local networks are not set: use --local");
		return NO_NODE;
	}
	struct test t = mk(OP_SET);
	t.side = (uint8_t)side;
	t.neg = word_is(p, "remote");
	t.x.set.a = p->opts->local;
	advance(p);
	p->last.kind = LAST_NONE;
	return leaf(p, &t);
}

static bool is_local_word(const struct parser *p)
{
	return word_is(p, "local") || word_is(p, "remote");
}

/* After a side: host/net/port/portrange, a list, local/remote, or a bare
 * address (host) or prefix (net), as tcpdump allows. */
static uint32_t sided(struct parser *p, enum side side)
{
	if (word_is(p, "host") || word_is(p, "net")) {
		bool host = word_is(p, "host");
		advance(p);
		if (word_is(p, "in"))
			return list_value(p, side);
		if (is_local_word(p))
			return local_value(p, side);
		return host ? host_value(p, side) : net_value(p, side);
	}
	if (word_is(p, "in"))
		return list_value(p, side);
	if (is_local_word(p))
		return local_value(p, side);
	if (word_is(p, "port")) {
		advance(p);
		return port_value(p, side);
	}
	if (word_is(p, "portrange")) {
		advance(p);
		return portrange_value(p, side);
	}
	if (is_value_word(p)) {
		if (memchr(p->s + p->tok.off, '/', p->tok.len))
			return net_value(p, side);
		return host_value(p, side);
	}
	expected(p, "'host', 'net', 'port', 'portrange', 'in', 'local', 'remote' or an address");
	return NO_NODE;
}

/* Words that may follow a protocol to qualify it: `tcp port 80`,
 * `ip host 10.1.1.1`, `udp dst port 53`. */
static bool starts_qualified(const struct parser *p)
{
	static const char *const w[] = {"src", "dst", "host", "net", "port", "portrange",
	                                "local", "remote"};
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		if (word_is(p, w[i]))
			return true;
	return false;
}

static uint32_t qualified(struct parser *p)
{
	if (word_is(p, "src") || word_is(p, "dst"))
		return sided(p, parse_side(p));
	return sided(p, SIDE_EITHER);
}

/* A protocol word and what may qualify it: `ip proto 47`, `tcp port 80`
 * (and `tcp port 80 or 443`, which repeats tcp with the port). */
static uint32_t proto_word(struct parser *p, uint32_t n, int proto)
{
	advance(p);
	if (proto < 0 && word_is(p, "proto")) {
		advance(p);
		return and2(p, n, proto_value(p));
	}
	if (!starts_qualified(p))
		return n;
	p->last.proto = proto;
	uint32_t q = qualified(p);
	bool portish = p->last.kind == LAST_PORT || p->last.kind == LAST_PORTRANGE;
	if (!portish)
		p->last.proto = -1;
	if (portish && proto >= 0)
		return q;   /* port_leaf already required the protocol */
	return and2(p, n, q);
}

/* ---- numbers for comparisons ---- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* n decimal digits at s, or -1. */
static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* "YYYY-MM-DD[Thh:mm[:ss[.frac]]][Z]", UTC, into ns since the epoch. */
static bool parse_time(const char *s, int64_t *ns)
{
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y = digits(s, 4), mo, d, h = 0, mi = 0, sec = 0;
	if (y < 0 || s[4] != '-' || (mo = digits(s + 5, 2)) < 1 || mo > 12 ||
	    s[7] != '-' || (d = digits(s + 8, 2)) < 1 || d > mdays[mo - 1])
		return false;
	const char *r = s + 10;
	int64_t frac = 0;
	if (*r == 'T' || *r == 't') {
		if ((h = digits(r + 1, 2)) < 0 || h > 23 || r[3] != ':' ||
		    (mi = digits(r + 4, 2)) < 0 || mi > 59)
			return false;
		r += 6;
		if (*r == ':') {
			if ((sec = digits(r + 1, 2)) < 0 || sec > 60)
				return false;
			r += 3;
			if (*r == '.') {
				int64_t scale = 100000000;
				r++;
				if (*r < '0' || *r > '9')
					return false;
				for (; *r >= '0' && *r <= '9'; r++) {
					frac += (*r - '0') * scale;
					scale /= 10;
				}
			}
		}
	}
	if (*r == 'Z' || *r == 'z')
		r++;
	if (*r)
		return false;
	int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
	               h * 3600 + mi * 60 + sec;
	if (secs > INT64_MAX / 1000000000LL - 1 || secs < INT64_MIN / 1000000000LL + 1)
		return false;   /* outside 1677..2262: int64 ns cannot hold it */
	*ns = secs * 1000000000LL + frac;
	return true;
}

/*
 * A number with an optional unit.  Counts and rates: k M G T (powers of
 * 1000).  Durations (seconds): ns us ms s m h d.  Hex integers (0x...)
 * take no unit.
 */
static bool parse_number(const char *s, bool duration, double *out)
{
	char *end;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		if (!isxdigit((unsigned char)s[2]))
			return false;
		for (const char *q = s + 2; *q; q++)
			if (!isxdigit((unsigned char)*q))
				return false;
		if (strlen(s + 2) > 16)
			return false;
		*out = (double)strtoull(s + 2, NULL, 16);
		return true;
	}
	if (!isdigit((unsigned char)s[0]))
		return false;
	/* digits [. digits] only: strtod would also take exponents, inf, nan */
	const char *q = s;
	while (isdigit((unsigned char)*q))
		q++;
	if (*q == '.') {
		q++;
		if (!isdigit((unsigned char)*q))
			return false;
		while (isdigit((unsigned char)*q))
			q++;
	}
	if (q - s > 40)
		return false;
	char num[48];
	memcpy(num, s, (size_t)(q - s));
	num[q - s] = '\0';
	double v = strtod(num, &end);
	if (*end)
		return false;
	double mul = 1;
	if (*q == '\0') {
		mul = 1;
	} else if (duration) {
		static const struct { const char *u; double m; } du[] = {
			{"ns", 1e-9}, {"us", 1e-6}, {"ms", 1e-3}, {"s", 1}, {"m", 60},
			{"min", 60}, {"h", 3600}, {"d", 86400},
		};
		size_t i;
		for (i = 0; i < sizeof(du) / sizeof(du[0]); i++)
			if (strcmp(q, du[i].u) == 0)
				break;
		if (i == sizeof(du) / sizeof(du[0]))
			return false;
		mul = du[i].m;
	} else {
		if (q[1] != '\0')
			return false;
		switch (*q) {
		case 'k': case 'K': mul = 1e3; break;
		case 'M': mul = 1e6; break;
		case 'G': mul = 1e9; break;
		case 'T': mul = 1e12; break;
		default: return false;
		}
	}
	*out = v * mul;
	return isfinite(*out);
}

/* FIELD CMP VALUE; the current token is the field name, the next a TK_CMP. */
static uint32_t comparison(struct parser *p)
{
	char w[WORD_MAX];
	struct tok name = p->tok;
	if (!word_copy(p, w, sizeof(w)))
		return NO_NODE;
	const struct floe_field *fd = floe_field_lookup(w);
	if (!fd) {
		fail(p, FLOE_MALFORMED, &name, "unknown field '%s'", w);
		return NO_NODE;
	}
	if (!(fd->kinds & FLOE_FK_NUMERIC)) {
		fail(p, FLOE_MALFORMED, &name, "field '%s' is not numeric; it cannot be compared", w);
		return NO_NODE;
	}
	advance(p);
	enum cmp_op cmp = p->tok.cmp;
	advance(p);
	struct test t = mk(OP_NUM_D);
	t.cmp = (uint8_t)cmp;
	t.x.num.fd = fd;
	if (fd->type == FLOE_FT_TIME && fd->size == 8) {
		int64_t ns;
		double secs;
		if (p->tok.kind != TK_WORD || !word_copy(p, w, sizeof(w))) {
			if (!p->failed)
				expected(p, "a time (2025-06-13T06:00:00 or epoch seconds)");
			return NO_NODE;
		}
		if (parse_time(w, &ns)) {
			/* exact */
		} else if (parse_number(w, false, &secs) && secs < 9.2e9) {
			ns = (int64_t)llround(secs * 1e9);
		} else {
			expected(p, "a time (2025-06-13T06:00:00 or epoch seconds)");
			return NO_NODE;
		}
		t.op = OP_NUM_U;
		t.sgn = 1;
		t.off = fd->off;
		t.size = 8;
		t.x.u = (uint64_t)ns;
		advance(p);
		p->last.kind = LAST_NONE;
		return leaf(p, &t);
	}
	bool dur = fd->type == FLOE_FT_DUR;
	double v;
	uint16_t port;
	int pr;
	const char *what = dur ? "a duration (60, 1.5s, 5m, 2h)" : "a number (10, 1.5k, 1M, 0x800)";
	if (p->tok.kind != TK_WORD) {
		expected(p, what);
		return NO_NODE;
	}
	if (!word_copy(p, w, sizeof(w)))
		return NO_NODE;
	/* `proto = gre`, `dport < https`: names where the field has them */
	if (fd->type == FLOE_FT_PROTO && !isdigit((unsigned char)w[0]) &&
	    (pr = floe_proto_parse(w)) >= 0)
		snprintf(w, sizeof(w), "%d", pr);
	else if (fd->type == FLOE_FT_PORT && !isdigit((unsigned char)w[0]) &&
	         parse_port_text(w, &port))
		snprintf(w, sizeof(w), "%u", port);
	if (!parse_number(w, dur, &v)) {
		expected(p, what);
		return NO_NODE;
	}
	advance(p);
	t.x.num.v = v;
	/* Stored integer fields with an integral constant compare exactly. */
	if (fd->size > 0 && fd->type != FLOE_FT_DUR && fd->type != FLOE_FT_TIME &&
	    v == floor(v) && v < 18446744073709551616.0) {
		t.op = OP_NUM_U;
		t.off = fd->off;
		t.size = fd->size;
		t.x.u = (uint64_t)v;
	}
	p->last.kind = LAST_NONE;
	return leaf(p, &t);
}

/* ---- TCP words ---- */

enum { TH_FIN = 0x01, TH_SYN = 0x02, TH_RST = 0x04, TH_ACK = 0x10 };

static uint32_t tcpf(struct parser *p, uint8_t s, uint8_t d, uint8_t any)
{
	struct test t = mk(OP_TCPF);
	t.x.tcpf.s = s;
	t.x.tcpf.d = d;
	t.x.tcpf.any = any;
	return leaf(p, &t);
}

/* `retrans`: the flag, or either counter (collector records carry only
 * counters, meter records may carry only the flag). */
static uint32_t flag_or_counters(struct parser *p, uint16_t flag, const char *sname,
                                 const char *dname)
{
	uint32_t k[3];
	k[0] = leaf_u(p, OP_FLAG, flag);
	for (int i = 0; i < 2; i++) {
		const struct floe_field *fd = floe_field_lookup(i ? dname : sname);
		struct test t = mk(OP_NUM_U);
		t.cmp = CMP_GT;
		t.off = fd->off;
		t.size = fd->size;
		t.x.u = 0;
		k[1 + i] = leaf(p, &t);
	}
	return group(p, N_OR, k, 3);
}

static uint32_t state_value(struct parser *p)
{
	char w[WORD_MAX];
	unsigned st;
	if (p->tok.kind != TK_WORD || !word_copy(p, w, sizeof(w)) ||
	    (st = floe_state_parse(w)) >= FLOE_ST__COUNT) {
		if (!p->failed)
			expected(p, "a state name (CON, RST, FIN, REQ, ECO, ...)");
		return NO_NODE;
	}
	advance(p);
	return leaf_u(p, OP_STATE, st);
}

/* ---- primitive ---- */

static const struct { const char *w; unsigned st; } state_words[] = {
	{"req", FLOE_ST_REQ}, {"acc", FLOE_ST_ACC}, {"con", FLOE_ST_CON},
	{"clo", FLOE_ST_CLO}, {"rst", FLOE_ST_RST}, {"tim", FLOE_ST_TIM},
	{"int", FLOE_ST_INT},
};

static const struct { const char *w; int proto; } proto_words[] = {
	{"tcp", 6}, {"udp", 17}, {"sctp", 132}, {"icmp", 1}, {"icmp6", 58},
	{"icmpv6", 58}, {"gre", 47}, {"esp", 50}, {"ah", 51},
};

static uint32_t primitive(struct parser *p)
{
	if (p->tok.kind != TK_WORD) {
		expected(p, "a primitive (host, net, port, proto, tcp, state, a field comparison, ...)");
		return NO_NODE;
	}
	struct tok next = peek(p);
	if (next.kind == TK_CMP && !word_is(p, "state"))
		return comparison(p);

	if (word_is(p, "src") || word_is(p, "dst")) {
		p->last.proto = -1;
		return sided(p, parse_side(p));
	}
	if (word_is(p, "host") || word_is(p, "net") || word_is(p, "port") ||
	    word_is(p, "portrange") || is_local_word(p)) {
		p->last.proto = -1;
		return sided(p, SIDE_EITHER);
	}
	for (size_t i = 0; i < sizeof(proto_words) / sizeof(proto_words[0]); i++)
		if (word_is(p, proto_words[i].w)) {
			int pr = proto_words[i].proto;
			return proto_word(p, leaf_u(p, OP_PROTO, (uint64_t)pr), pr);
		}
	if (word_is(p, "ip"))
		return proto_word(p, leaf_u(p, OP_IPVER, 4), -1);
	if (word_is(p, "ip6") || word_is(p, "ipv6"))
		return proto_word(p, leaf_u(p, OP_IPVER, 6), -1);
	if (word_is(p, "arp")) {
		advance(p);
		return leaf_u(p, OP_ETYPE, FLOE_ETH_ARP);
	}
	if (word_is(p, "proto")) {
		advance(p);
		return proto_value(p);
	}
	if (word_is(p, "ether")) {
		advance(p);
		enum side side = SIDE_EITHER;
		bool had_side = false;
		if (word_is(p, "src") || word_is(p, "dst")) {
			side = parse_side(p);
			had_side = true;
		}
		if (word_is(p, "host")) {
			advance(p);
		} else if (!had_side) {
			expected(p, "'host', 'src' or 'dst' after 'ether'");
			return NO_NODE;
		}
		return mac_value(p, side);
	}
	if (word_is(p, "vlan")) {
		advance(p);
		if (p->tok.kind == TK_WORD && is_value_word(p))
			return vlan_value(p);
		return leaf(p, &(struct test){.op = OP_VLAN});
	}
	if (word_is(p, "state")) {
		advance(p);
		bool neg = false;
		if (p->tok.kind == TK_CMP) {
			if (p->tok.cmp != CMP_EQ && p->tok.cmp != CMP_NE) {
				expected(p, "a state name, '=' or '!='");
				return NO_NODE;
			}
			neg = p->tok.cmp == CMP_NE;
			advance(p);
		}
		uint32_t n = state_value(p);
		return neg ? not1(p, n) : n;
	}
	for (size_t i = 0; i < sizeof(state_words) / sizeof(state_words[0]); i++)
		if (word_is(p, state_words[i].w)) {
			advance(p);
			return leaf_u(p, OP_STATE, state_words[i].st);
		}
	if (word_is(p, "syn")) {
		advance(p);
		return tcpf(p, TH_SYN, 0, 0);
	}
	if (word_is(p, "synack")) {
		advance(p);
		return tcpf(p, 0, TH_SYN | TH_ACK, 0);
	}
	if (word_is(p, "fin")) {
		advance(p);
		return tcpf(p, 0, 0, TH_FIN);
	}
	if (word_is(p, "reset")) {
		advance(p);
		return tcpf(p, 0, 0, TH_RST);
	}
	if (word_is(p, "retrans") || word_is(p, "retransmission")) {
		advance(p);
		return flag_or_counters(p, FLOE_F_RETRANS, "sretrans", "dretrans");
	}
	if (word_is(p, "outoforder") || word_is(p, "ooo")) {
		advance(p);
		return flag_or_counters(p, FLOE_F_OOO, "sooo", "dooo");
	}
	if (word_is(p, "frag")) {
		advance(p);
		return leaf_u(p, OP_FLAG, FLOE_F_FRAG);
	}
	if (word_is(p, "dirunk")) {
		advance(p);
		return leaf_u(p, OP_FLAG, FLOE_F_DIRUNK);
	}
	/* tcpdump's omitted primitive: `host a or b`, `port 22 or 80`. */
	if (is_value_word(p) && p->last.kind != LAST_NONE) {
		switch (p->last.kind) {
		case LAST_HOST: return host_value(p, p->last.side);
		case LAST_NET: return net_value(p, p->last.side);
		case LAST_PORT: return port_value(p, p->last.side);
		case LAST_PORTRANGE: return portrange_value(p, p->last.side);
		case LAST_PROTO: return proto_value(p);
		case LAST_ETHER: return mac_value(p, p->last.side);
		case LAST_VLAN: return vlan_value(p);
		case LAST_NONE: break;
		}
	}
	char w[WORD_MAX];
	if (word_is(p, "-")) {
		expected(p, "a primitive ('-' separates options from the filter and may only start it)");
		return NO_NODE;
	}
	if (p->tok.len < sizeof(w)) {
		memcpy(w, p->s + p->tok.off, p->tok.len);
		w[p->tok.len] = '\0';
		const struct floe_field *fd = floe_field_lookup(w);
		if (fd && (fd->kinds & FLOE_FK_NUMERIC)) {
			advance(p);
			expected(p, "a comparison operator (= != < <= > >=)");
			return NO_NODE;
		}
	}
	expected(p, "a primitive (host, net, port, proto, tcp, state, a field comparison, ...)");
	return NO_NODE;
}

/* ---- expressions ---- */

static bool is_and(const struct parser *p)
{
	return p->tok.kind == TK_AND || word_is(p, "and");
}

static bool is_or(const struct parser *p)
{
	return p->tok.kind == TK_OR || word_is(p, "or");
}

static bool enter(struct parser *p)
{
	if (++p->depth > FLOE_FILTER_MAX_DEPTH) {
		fail(p, FLOE_LIMIT, &p->tok, "nesting deeper than %d levels of '(' and 'not'",
		     FLOE_FILTER_MAX_DEPTH);
		return false;
	}
	return true;
}

static uint32_t parse_unary(struct parser *p)
{
	if (p->failed)
		return NO_NODE;
	if (p->tok.kind == TK_NOT || word_is(p, "not")) {
		if (!enter(p))
			return NO_NODE;
		advance(p);
		uint32_t n = not1(p, parse_unary(p));
		p->depth--;
		return n;
	}
	if (p->tok.kind == TK_LPAREN) {
		struct tok open = p->tok;
		if (!enter(p))
			return NO_NODE;
		advance(p);
		if (p->tok.kind == TK_RPAREN) {
			fail(p, FLOE_MALFORMED, &open, "empty parentheses");
			return NO_NODE;
		}
		uint32_t n = parse_or(p);
		if (p->failed)
			return NO_NODE;
		if (p->tok.kind != TK_RPAREN) {
			char what[64];
			snprintf(what, sizeof(what), "')' to close '(' at column %zu", open.off + 1);
			if (p->tok.kind == TK_END || is_and(p) || is_or(p))
				expected(p, what);
			else
				expected(p, "'and', 'or' or ')'");
			return NO_NODE;
		}
		advance(p);
		p->depth--;
		return n;
	}
	return primitive(p);
}

/* Children of an and/or chain, grown on the heap past a small buffer. */
struct kids {
	uint32_t buf[16];
	uint32_t *v;
	size_t n, cap;
};

static bool kids_push(struct parser *p, struct kids *k, uint32_t x)
{
	if (k->n == k->cap) {
		size_t ncap = k->cap * 2;
		uint32_t *nv;
		if (k->v == k->buf) {
			nv = floe_malloc(NULL, ncap * sizeof(*nv));
			if (nv)
				memcpy(nv, k->buf, k->n * sizeof(*nv));
		} else {
			nv = floe_realloc(NULL, k->v, k->cap * sizeof(*nv), ncap * sizeof(*nv));
		}
		if (!nv) {
			fail(p, FLOE_NOMEM, &p->tok, "out of memory compiling the filter");
			return false;
		}
		k->v = nv;
		k->cap = ncap;
	}
	k->v[k->n++] = x;
	return true;
}

static uint32_t chain(struct parser *p, enum node_kind kind)
{
	struct kids k;
	k.v = k.buf;
	k.n = 0;
	k.cap = sizeof(k.buf) / sizeof(k.buf[0]);
	uint32_t r = NO_NODE;
	for (;;) {
		uint32_t x = kind == N_AND ? parse_unary(p) : chain(p, N_AND);
		if (p->failed || x == NO_NODE || !kids_push(p, &k, x))
			goto out;
		if (kind == N_AND ? !is_and(p) : !is_or(p))
			break;
		advance(p);
	}
	r = group(p, kind, k.v, k.n);
out:
	if (k.v != k.buf)
		floe_free(NULL, k.v, k.cap * sizeof(*k.v));
	return p->failed ? NO_NODE : r;
}

static uint32_t parse_or(struct parser *p)
{
	return chain(p, N_OR);
}

enum floe_err floe_flt_parse(struct floe_filter *f, const char *text,
                             const struct floe_filter_opts *opts, struct floe_errbuf *eb)
{
	struct parser ps;
	memset(&ps, 0, sizeof(ps));
	ps.f = f;
	ps.opts = opts;
	ps.s = text;
	ps.eb = eb;
	ps.last.kind = LAST_NONE;
	ps.last.proto = -1;
	size_t len = strlen(text);
	if (len > FLOE_FILTER_MAX_TEXT)
		return floe_errbuf_set(eb, FLOE_LIMIT, "filter is longer than %d bytes",
		                       FLOE_FILTER_MAX_TEXT);
	floe_flt_lex_init(&ps.lx, text, len);
	advance(&ps);
	if (word_is(&ps, "-"))   /* ra -r f - host x */
		advance(&ps);
	f->root = NO_NODE;
	if (ps.tok.kind == TK_END)
		return FLOE_OK;
	uint32_t root = parse_or(&ps);
	if (!ps.failed && ps.tok.kind != TK_END) {
		if (ps.tok.kind == TK_RPAREN)
			fail(&ps, FLOE_MALFORMED, &ps.tok, "unbalanced ')': no '(' to close");
		else
			expected(&ps, "'and', 'or' or end of filter");
	}
	if (ps.failed)
		return eb->code != FLOE_OK ? eb->code : FLOE_MALFORMED;
	f->root = root;
	return FLOE_OK;
}
