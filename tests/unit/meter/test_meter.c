/*
 * test_meter.c - the flow meter against hand-built packet sequences.
 *
 * Each row of the table builds a sequence of struct floe_pkt (no decoder
 * involved), runs it through a meter with the row's configuration, flushes,
 * and checks the records.  Every row also checks what must hold for any
 * input: each packet is counted in exactly one record, no record runs
 * backwards, trans is 1.  Standalone tests cover the clock (tick), the
 * table limit and allocation failure.
 *
 * Where the expected value is Argus's behaviour, the comment says so; the
 * reference is Argus 3.0.8 on ../shared/data (see meter.h for the rules).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "meter/meter.h"
#include "util/mem.h"
#include "tap.h"

#define MS INT64_C(1000000)
#define SEC INT64_C(1000000000)
#define T0 (INT64_C(1700000000) * SEC)
#define MAXPKT 512
#define MAXREC 256

/* ---- packet builders ---------------------------------------------------- */

static void v4(uint8_t a[16], int host)
{
	const uint8_t b[4] = {10, 0, 0, (uint8_t)host};
	floe_addr_from_v4(a, b);
}

static struct floe_pkt ip4(int64_t ts, int a, int b, uint8_t proto, uint32_t len)
{
	struct floe_pkt p;
	memset(&p, 0, sizeof(p));
	p.ts = ts;
	p.etype = FLOE_ETH_IPV4;
	p.ipver = 4;
	p.proto = proto;
	p.ttl = 64;
	p.flags = FLOE_PKT_MAC | FLOE_PKT_L4;
	v4(p.saddr, a);
	v4(p.daddr, b);
	for (int i = 0; i < 6; i++) {
		p.smac[i] = (uint8_t)a;
		p.dmac[i] = (uint8_t)b;
	}
	p.paylen = len;
	return p;
}

static struct floe_pkt tcp(int64_t ts, int a, int b, uint16_t sport, uint16_t dport,
                           uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len)
{
	struct floe_pkt p = ip4(ts, a, b, 6, len);
	p.sport = sport;
	p.dport = dport;
	p.tcpflags = flags;
	p.seq = seq;
	p.ack = ack;
	p.l3len = 40 + len;
	p.wirelen = 54 + len;
	p.caplen = p.wirelen;
	return p;
}

static struct floe_pkt udp(int64_t ts, int a, int b, uint16_t sport, uint16_t dport,
                           uint32_t len)
{
	struct floe_pkt p = ip4(ts, a, b, 17, len);
	p.sport = sport;
	p.dport = dport;
	p.l3len = 28 + len;
	p.wirelen = 42 + len;
	return p;
}

static struct floe_pkt icmp(int64_t ts, int a, int b, uint8_t type, uint8_t code,
                            uint16_t id)
{
	struct floe_pkt p = ip4(ts, a, b, 1, 56);
	p.sport = type;
	p.dport = code;
	p.icmp_id = id;
	p.wirelen = 98;
	return p;
}

static struct floe_pkt arp(int64_t ts, int sender, int target, int op)
{
	struct floe_pkt p;
	memset(&p, 0, sizeof(p));
	p.ts = ts;
	p.etype = FLOE_ETH_ARP;
	p.flags = FLOE_PKT_ARP | FLOE_PKT_MAC;
	p.arp_op = (uint8_t)op;
	v4(p.saddr, sender);
	v4(p.daddr, target);
	p.wirelen = 60;
	p.paylen = 28;
	return p;
}

/* The same packet between 2001:db8::a and 2001:db8::b. */
static struct floe_pkt to6(struct floe_pkt p)
{
	uint8_t a = p.saddr[15], b = p.daddr[15];
	memset(p.saddr, 0, 16);
	memset(p.daddr, 0, 16);
	p.saddr[0] = p.daddr[0] = 0x20;
	p.saddr[1] = p.daddr[1] = 0x01;
	p.saddr[2] = p.daddr[2] = 0x0d;
	p.saddr[3] = p.daddr[3] = 0xb8;
	p.saddr[15] = a;
	p.daddr[15] = b;
	p.etype = FLOE_ETH_IPV6;
	p.ipver = 6;
	p.wirelen += 20;
	return p;
}

static struct floe_pkt frag(struct floe_pkt p, int first, uint32_t id, uint16_t off,
                            int more)
{
	p.flags |= FLOE_PKT_FRAG;
	if (first)
		p.flags |= FLOE_PKT_FRAG_FIRST;
	else {
		p.flags &= (uint16_t)~FLOE_PKT_L4;
		p.sport = p.dport = 0;
	}
	p.fragid = id;
	p.fragoff = off;
	p.frag_more = more;
	return p;
}

/* ---- harness ------------------------------------------------------------ */

struct seq {
	struct floe_pkt p[MAXPKT];
	int n;
};

static void add(struct seq *s, struct floe_pkt p)
{
	if (s->n < MAXPKT)
		s->p[s->n++] = p;
}

struct result {
	struct floe_flow r[MAXREC];
	int n;             /* records kept */
	uint64_t nrec;     /* records seen */
	uint64_t pkts;     /* packets over all records */
	int bad_time;      /* records with ltime < stime or trans != 1 */
	int from1;         /* records whose source is host 1 */
	struct floe_meter_stats st;
};

static void sink(void *ud, const struct floe_flow *f)
{
	struct result *res = ud;
	if (res->n < MAXREC)
		res->r[res->n++] = *f;
	res->nrec++;
	res->pkts += f->spkts + f->dpkts;
	res->from1 += f->saddr[15] == 1;
	if (f->ltime < f->stime || f->trans != 1)
		res->bad_time++;
}

static int host(const uint8_t a[16])
{
	return a[15];
}

/* The one record whose source is host a and destination host b. */
static const struct floe_flow *find(const struct result *r, int a, int b)
{
	for (int i = 0; i < r->n; i++)
		if (host(r->r[i].saddr) == a && host(r->r[i].daddr) == b)
			return &r->r[i];
	return NULL;
}

static const struct floe_flow nullflow;
static const struct floe_flow *one(const struct result *r)
{
	return r->n == 1 ? &r->r[0] : &nullflow;
}

/* ---- cases -------------------------------------------------------------- */

#define SYN FLOE_TCP_SYN
#define ACK FLOE_TCP_ACK
#define FIN FLOE_TCP_FIN
#define RST FLOE_TCP_RST
#define PSH FLOE_TCP_PSH

static void b_handshake(struct seq *s)
{
	add(s, tcp(T0, 1, 2, 40000, 80, SYN, 100, 0, 0));
	add(s, tcp(T0 + 10 * MS, 2, 1, 80, 40000, SYN | ACK, 500, 101, 0));
	add(s, tcp(T0 + 15 * MS, 1, 2, 40000, 80, ACK, 101, 501, 0));
	add(s, tcp(T0 + 20 * MS, 1, 2, 40000, 80, ACK | PSH, 101, 501, 100));
	add(s, tcp(T0 + 30 * MS, 2, 1, 80, 40000, ACK | PSH, 501, 201, 200));
	add(s, tcp(T0 + 40 * MS, 1, 2, 40000, 80, FIN | ACK, 201, 701, 0));
	add(s, tcp(T0 + 41 * MS, 2, 1, 80, 40000, FIN | ACK, 701, 202, 0));
	add(s, tcp(T0 + 42 * MS, 1, 2, 40000, 80, ACK, 202, 702, 0));
}

static void c_handshake(const struct result *r)
{
	const struct floe_flow *f = one(r);
	TAP_CHECK(r->n == 1, "handshake: one record (%d)", r->n);
	TAP_CHECK(f->state == FLOE_ST_FIN, "handshake: state FIN (%s)", floe_state_name(f->state));
	TAP_CHECK(host(f->saddr) == 1 && f->sport == 40000 && f->dport == 80,
	          "handshake: oriented from the SYN sender");
	TAP_CHECK(f->spkts == 5 && f->dpkts == 3, "handshake: packets %llu/%llu",
	          (unsigned long long)f->spkts, (unsigned long long)f->dpkts);
	TAP_CHECK(f->sbytes == 5 * 54 + 100 && f->dbytes == 3 * 54 + 200, "handshake: bytes");
	TAP_CHECK(f->sappbytes == 100 && f->dappbytes == 200, "handshake: appbytes %llu/%llu",
	          (unsigned long long)f->sappbytes, (unsigned long long)f->dappbytes);
	TAP_CHECK(f->synack == 10 * MS && f->ackdat == 5 * MS, "handshake: synack %lld ackdat %lld",
	          (long long)f->synack, (long long)f->ackdat);
	TAP_CHECK(!(f->flags & (FLOE_F_DIRUNK | FLOE_F_RETRANS | FLOE_F_OOO)), "handshake: clean flags");
	TAP_CHECK((f->flags & FLOE_F_MAC) && f->smac[0] == 1 && f->dmac[0] == 2, "handshake: MACs");
	TAP_CHECK(f->stime == T0 && f->ltime == T0 + 42 * MS, "handshake: times");
	TAP_CHECK(f->proto == 6 && f->ipver == 4 && f->etype == FLOE_ETH_IPV4 && f->sensor == 7,
	          "handshake: proto, ipver, etype, sensor");
	TAP_CHECK(f->stcpflags == (SYN | ACK | PSH | FIN) && f->dtcpflags == (SYN | ACK | PSH | FIN),
	          "handshake: flags OR");
	TAP_CHECK(f->sttlmin == 64 && f->sttlmax == 64, "handshake: ttl");
}

static void b_syn_only(struct seq *s)
{
	add(s, tcp(T0, 1, 2, 40000, 22, SYN, 1, 0, 0));
	add(s, tcp(T0 + SEC, 1, 2, 40000, 22, SYN, 1, 0, 0));
}

static void c_syn_only(const struct result *r)
{
	const struct floe_flow *f = one(r);
	TAP_CHECK(f->state == FLOE_ST_REQ && f->spkts == 2 && f->dpkts == 0,
	          "syn only: REQ, 2 packets (%s)", floe_state_name(f->state));
}

static void b_syn_rst(struct seq *s)
{
	add(s, tcp(T0, 1, 2, 40000, 23, SYN, 1, 0, 0));
	add(s, tcp(T0 + MS, 2, 1, 23, 40000, RST | ACK, 0, 2, 0));
}

static void c_syn_rst(const struct result *r)
{
	const struct floe_flow *f = one(r);
	TAP_CHECK(f->state == FLOE_ST_RST && f->spkts == 1 && f->dpkts == 1 &&
	          host(f->saddr) == 1, "syn+rst: RST");
}

/* Argus: a flow picked up mid-stream is oriented client -> service port
 * and printed with a '?' direction. */
/* Argus (gnutella capture): a client retrying with the same ISN after
 * each RST stays one RST record. */
static void b_syn_retry(struct seq *s)
{
	for (int i = 0; i < 3; i++) {
		add(s, tcp(T0 + i * 500 * MS, 1, 2, 3756, 6346, SYN, 777, 0, 0));
		add(s, tcp(T0 + i * 500 * MS + 100 * MS, 2, 1, 6346, 3756, RST | ACK, 0, 778, 0));
	}
	add(s, tcp(T0 + 1600 * MS, 1, 2, 3756, 6346, SYN, 777, 0, 0));
}

static void c_syn_retry(const struct result *r)
{
	const struct floe_flow *f = one(r);
	TAP_CHECK(f->state == FLOE_ST_RST && f->spkts == 4 && f->dpkts == 3,
	          "syn retry after RST: one RST record (%d)", r->n);
}

/* Argus (suspicious-time capture): SYN answered by SYN/ACKs only is ACC */
static void b_acc(struct seq *s)
{
	add(s, tcp(T0, 1, 2, 1087, 80, SYN, 5, 0, 0));
	add(s, tcp(T0 + 100 * MS, 2, 1, 80, 1087, SYN | ACK, 9, 6, 0));
	add(s, tcp(T0 + 8 * SEC, 2, 1, 80, 1087, SYN | ACK, 9, 6, 0));
}

static void c_acc(const struct result *r)
{
	const struct floe_flow *f = one(r);
	TAP_CHECK(f->state == FLOE_ST_ACC && f->synack == 100 * MS && f->ackdat == 0,
	          "syn + synacks: ACC (%s)", floe_state_name(f->state));
}

static void b_midstream(struct seq *s)
{
	add(s, tcp(T0, 2, 1, 443, 50677, ACK | PSH, 9000, 700, 24));
	add(s, tcp(T0 + MS, 1, 2, 50677, 443, ACK, 700, 9024, 0));
}

static void c_midstream(const struct result *r)
{
	const struct floe_flow *f = one(r);
	TAP_CHECK((f->flags & FLOE_F_DIRUNK) && host(f->saddr) == 1 && f->sport == 50677 &&
	          f->dport == 443 && f->dpkts == 1 && f->spkts == 1 && f->dappbytes == 24,
	          "midstream: DIRUNK, client is the source");
	TAP_CHECK(f->state == FLOE_ST_CON, "midstream: CON (%s)", floe_state_name(f->state));
}

static void b_midstream_high(struct seq *s)
{
	add(s, tcp(T0, 3, 4, 6881, 62821, ACK | PSH, 1, 1, 1452));
}

static void c_midstream_high(const struct result *r)
{
	const struct floe_flow *f = one(r);
	TAP_CHECK((f->flags & FLOE_F_DIRUNK) && host(f->saddr) == 3 && f->sport == 6881 &&
	          f->spkts == 1, "midstream, no service port: sender is the source");
}

static void b_synack_first(struct seq *s)
{
	add(s, tcp(T0, 2, 1, 80, 40001, SYN | ACK, 500, 101, 0));
}

static void c_synack_first(const struct result *r)
{
	const struct floe_flow *f = one(r);
	TAP_CHECK((f->flags & FLOE_F_DIRUNK) && host(f->saddr) == 1 && f->sport == 40001 &&
	          f->spkts == 0 && f->dpkts == 1 && f->state == FLOE_ST_ACC,
	          "synack first: reversed, DIRUNK, ACC (%s)", floe_state_name(f->state));
}

static void handshake3(struct seq *s)
{
	add(s, tcp(T0, 1, 2, 40000, 80, SYN, 100, 0, 0));
	add(s, tcp(T0 + MS, 2, 1, 80, 40000, SYN | ACK, 500, 101, 0));
	add(s, tcp(T0 + 2 * MS, 1, 2, 40000, 80, ACK, 101, 501, 0));
}

static void b_retrans(struct seq *s)
{
	handshake3(s);
	add(s, tcp(T0 + 3 * MS, 1, 2, 40000, 80, ACK | PSH, 101, 501, 100));
	add(s, tcp(T0 + 300 * MS, 1, 2, 40000, 80, ACK | PSH, 101, 501, 100));
	add(s, tcp(T0 + 301 * MS, 2, 1, 80, 40000, ACK, 501, 201, 0));
}

static void c_retrans(const struct result *r)
{
	const struct floe_flow *f = one(r);
	TAP_CHECK(f->sappbytes == 100 && f->sretrans == 1 && f->dretrans == 0 &&
	          (f->flags & FLOE_F_RETRANS) && f->spkts == 4,
	          "retrans: appbytes exclude it (%llu), sretrans %u",
	          (unsigned long long)f->sappbytes, f->sretrans);
	TAP_CHECK(f->state == FLOE_ST_CON, "retrans: CON");
}

static void b_ooo(struct seq *s)
{
	handshake3(s);
	add(s, tcp(T0 + 3 * MS, 1, 2, 40000, 80, ACK, 101, 501, 100));
	add(s, tcp(T0 + 4 * MS, 1, 2, 40000, 80, ACK, 301, 501, 100));  /* gap */
	add(s, tcp(T0 + 5 * MS, 1, 2, 40000, 80, ACK, 201, 501, 100));  /* fills it */
	add(s, tcp(T0 + 6 * MS, 1, 2, 40000, 80, ACK, 401, 501, 100));
	add(s, tcp(T0 + 7 * MS, 1, 2, 40000, 80, ACK, 201, 501, 100));  /* now a retransmission */
}

static void c_ooo(const struct result *r)
{
	const struct floe_flow *f = one(r);
	TAP_CHECK(f->sooo == 2 && f->sappbytes == 400 && f->sretrans == 1 &&
	          (f->flags & FLOE_F_OOO), "ooo: sooo %u appbytes %llu retrans %u", f->sooo,
	          (unsigned long long)f->sappbytes, f->sretrans);
}

static void b_udp_both(struct seq *s)
{
	add(s, udp(T0, 1, 2, 5353, 53, 30));
	add(s, udp(T0 + MS, 2, 1, 53, 5353, 100));
}

/* Argus: udp both ways CON, 72-byte DNS query frame counts 72 sbytes */
static void c_udp_both(const struct result *r)
{
	const struct floe_flow *f = one(r);
	TAP_CHECK(f->state == FLOE_ST_CON && f->spkts == 1 && f->dpkts == 1 && f->sbytes == 72 &&
	          f->sappbytes == 30 && f->dappbytes == 100 && f->sport == 5353 && f->dport == 53,
	          "udp both ways: CON");
}

static void b_udp_one(struct seq *s)
{
	add(s, udp(T0, 1, 2, 5353, 53, 30));
	add(s, udp(T0 + SEC, 1, 2, 5353, 53, 30));
}

/* Argus: one-way UDP is INT */
static void c_udp_one(const struct result *r)
{
	const struct floe_flow *f = one(r);
	TAP_CHECK(f->state == FLOE_ST_INT && f->spkts == 2 && f->dpkts == 0, "udp one way: INT");
}

static void b_echo(struct seq *s)
{
	add(s, icmp(T0, 1, 2, 8, 0, 7));
	add(s, icmp(T0 + MS, 2, 1, 0, 0, 7));
	add(s, icmp(T0 + SEC, 1, 2, 8, 0, 7));
	add(s, icmp(T0 + SEC + MS, 2, 1, 0, 0, 7));
	add(s, icmp(T0 + 2 * SEC, 1, 2, 8, 0, 8));   /* another id: another flow */
}

static void c_echo(const struct result *r)
{
	TAP_CHECK(r->n == 2, "echo: two flows by id (%d)", r->n);
	const struct floe_flow *f = r->n == 2 ? &r->r[0] : &nullflow;
	if (r->n == 2 && r->r[0].spkts == 1)
		f = &r->r[1];
	TAP_CHECK(f->state == FLOE_ST_ECO && f->spkts == 2 && f->dpkts == 2 && f->sport == 8 &&
	          f->dport == 0 && host(f->saddr) == 1, "echo: request and reply in one ECO flow");
}

static void b_echo_reply_only(struct seq *s)
{
	add(s, icmp(T0, 2, 1, 0, 0, 9));
}

static void c_echo_reply_only(const struct result *r)
{
	const struct floe_flow *f = one(r);
	TAP_CHECK(f->state == FLOE_ST_ECR && f->sport == 0, "echo reply only: ECR");
}

static void b_unreach(struct seq *s)
{
	add(s, icmp(T0, 2, 1, 3, 3, 0));
	add(s, icmp(T0 + MS, 5, 1, 11, 0, 0));
	add(s, icmp(T0 + 2 * MS, 6, 1, 3, 1, 0));
}

static void c_unreach(const struct result *r)
{
	const struct floe_flow *u = find(r, 2, 1), *t = find(r, 5, 1), *h = find(r, 6, 1);
	TAP_CHECK(u && u->state == FLOE_ST_URP && u->sport == 3 && u->dport == 3 && u->spkts == 1,
	          "port unreachable: URP, type/code as ports");
	TAP_CHECK(t && t->state == FLOE_ST_TXD, "time exceeded: TXD");
	TAP_CHECK(h && h->state == FLOE_ST_URH, "host unreachable: URH");
}

static void b_icmp6(struct seq *s)
{
	struct floe_pkt p = to6(icmp(T0, 1, 2, 128, 0, 3));
	p.proto = 58;
	add(s, p);
	p = to6(icmp(T0 + MS, 2, 1, 129, 0, 3));
	p.proto = 58;
	add(s, p);
	p = to6(icmp(T0 + 2 * MS, 1, 2, 135, 0, 0));
	p.proto = 58;
	add(s, p);
	p = to6(icmp(T0 + 3 * MS, 2, 1, 136, 0, 0));
	p.proto = 58;
	add(s, p);
	p = to6(icmp(T0 + 4 * MS, 3, 4, 143, 0, 0));
	p.proto = 58;
	add(s, p);
}

static void c_icmp6(const struct result *r)
{
	TAP_CHECK(r->n == 3, "icmp6: three flows (%d)", r->n);
	int eco = 0, nns = 0, mhr = 0;
	for (int i = 0; i < r->n; i++) {
		const struct floe_flow *f = &r->r[i];
		eco += f->state == FLOE_ST_ECO && f->spkts == 1 && f->dpkts == 1 && f->ipver == 6;
		nns += f->state == FLOE_ST_NNS && f->spkts == 1 && f->dpkts == 1;
		mhr += f->state == FLOE_ST_MHR;
	}
	TAP_CHECK(eco == 1 && nns == 1 && mhr == 1, "icmp6: ECO, NNS pair, MHR");
}

static void b_arp(struct seq *s)
{
	add(s, arp(T0, 1, 2, FLOE_ARP_REQUEST));
	add(s, arp(T0 + MS, 2, 1, FLOE_ARP_REPLY));
	add(s, arp(T0 + 2 * MS, 3, 4, FLOE_ARP_REPLY));  /* unasked */
	add(s, arp(T0 + 3 * MS, 5, 6, FLOE_ARP_REQUEST)); /* unanswered */
}

/* Argus: request+reply CON; a lone reply is RSP, oriented from the asker
 * (its target) and counted as destination packets; a lone request INT. */
static void c_arp(const struct result *r)
{
	const struct floe_flow *c = find(r, 1, 2), *p = find(r, 4, 3), *i = find(r, 5, 6);
	TAP_CHECK(r->n == 3, "arp: three flows (%d)", r->n);
	TAP_CHECK(c && c->state == FLOE_ST_CON && c->spkts == 1 && c->dpkts == 1 &&
	          c->proto == 0 && c->ipver == 0 && c->etype == FLOE_ETH_ARP, "arp: request+reply CON");
	TAP_CHECK(p && p->state == FLOE_ST_RSP && p->spkts == 0 && p->dpkts == 1, "arp: reply only RSP");
	TAP_CHECK(i && i->state == FLOE_ST_INT && i->spkts == 1, "arp: request only INT");
}

static void b_ipv6(struct seq *s)
{
	add(s, to6(tcp(T0, 1, 2, 40000, 443, SYN, 1, 0, 0)));
	add(s, to6(tcp(T0 + MS, 2, 1, 443, 40000, SYN | ACK, 1, 2, 0)));
	add(s, to6(tcp(T0 + 2 * MS, 1, 2, 40000, 443, ACK, 2, 2, 0)));
}

static void c_ipv6(const struct result *r)
{
	const struct floe_flow *f = one(r);
	TAP_CHECK(f->ipver == 6 && f->etype == FLOE_ETH_IPV6 && f->state == FLOE_ST_CON &&
	          f->saddr[0] == 0x20 && f->saddr[15] == 1 && f->spkts == 2 && f->dpkts == 1,
	          "ipv6: one CON flow");
}

static void b_frag(struct seq *s)
{
	add(s, frag(udp(T0, 1, 2, 4000, 53, 1472), 1, 77, 0, 1));
	add(s, frag(udp(T0 + MS, 1, 2, 4000, 53, 600), 0, 77, 1480, 0));
	add(s, udp(T0 + 2 * MS, 2, 1, 53, 4000, 20));
}

static void c_frag(const struct result *r)
{
	const struct floe_flow *f = one(r);
	TAP_CHECK(f->spkts == 2 && f->dpkts == 1 && (f->flags & FLOE_F_FRAG) &&
	          !(f->flags & FLOE_F_FRAGPART) && f->sappbytes == 2072 && f->dport == 53,
	          "fragments: later fragment joins its flow");
	TAP_CHECK(r->st.frag_orphans == 0, "fragments: no orphans");
}

static void b_frag_orphan(struct seq *s)
{
	add(s, frag(udp(T0, 1, 2, 4000, 53, 600), 0, 78, 1480, 0));
	add(s, udp(T0 + MS, 1, 2, 4000, 53, 20));
}

static void c_frag_orphan(const struct result *r)
{
	const struct floe_flow *o = NULL, *u = NULL;
	for (int i = 0; i < r->n; i++) {
		if (r->r[i].flags & FLOE_F_FRAGPART)
			o = &r->r[i];
		else
			u = &r->r[i];
	}
	TAP_CHECK(r->n == 2 && o && u, "orphan fragment: own flow (%d records)", r->n);
	TAP_CHECK(o && o->sport == 0 && o->dport == 0 && o->spkts == 1 && (o->flags & FLOE_F_FRAG),
	          "orphan fragment: port-less");
	TAP_CHECK(r->st.frag_orphans == 1, "orphan fragment: counted");
}

static void b_idle(struct seq *s)
{
	add(s, udp(T0, 1, 2, 4000, 53, 10));
	add(s, udp(T0 + 31 * SEC, 1, 2, 4000, 53, 10));           /* UDP idle 30 s */
	add(s, tcp(T0, 3, 4, 40000, 80, ACK, 1, 1, 10));
	add(s, tcp(T0 + 59 * SEC, 3, 4, 40000, 80, ACK, 11, 1, 10)); /* TCP idle 60 s */
	add(s, tcp(T0 + 120 * SEC, 3, 4, 40000, 80, ACK, 21, 1, 10));
}

static void c_idle(const struct result *r)
{
	int udp_n = 0, tcp_n = 0;
	for (int i = 0; i < r->n; i++) {
		udp_n += r->r[i].proto == 17 && r->r[i].spkts == 1;
		tcp_n += r->r[i].proto == 6;
	}
	TAP_CHECK(udp_n == 2, "idle: UDP split after 30 s");
	TAP_CHECK(tcp_n == 2, "idle: TCP kept at 59 s, split after 61 s (%d)", tcp_n);
}

static void b_status(struct seq *s)
{
	for (int i = 0; i <= 200; i += 10)
		add(s, udp(T0 + i * SEC, 1, 2, 4000, 123, 48));
	add(s, udp(T0 + 205 * SEC, 2, 1, 123, 4000, 48));
}

static void c_status(const struct result *r)
{
	uint64_t pk = 0, by = 0;
	int status = 0, ok = 1;
	for (int i = 0; i < r->n; i++) {
		const struct floe_flow *f = &r->r[i];
		pk += f->spkts + f->dpkts;
		by += f->sbytes + f->dbytes;
		status += !!(f->flags & FLOE_F_STATUS);
		if (f->ltime - f->stime >= 60 * SEC)
			ok = 0;
		if (i && f->stime <= r->r[i - 1].ltime)
			ok = 0;
	}
	TAP_CHECK(r->n == 4 && status == 3, "status: 3 interval records + final (%d, %d)", r->n, status);
	TAP_CHECK(r->n == 4 && !(r->r[3].flags & FLOE_F_STATUS) && r->r[3].dpkts == 1,
	          "status: the last record is final");
	TAP_CHECK(pk == 22 && by == 22 * 90, "status: intervals sum to the totals");
	TAP_CHECK(ok, "status: each record inside its interval, in order");
	TAP_CHECK(r->n >= 2 && r->r[1].stime == T0 + 60 * SEC, "status: next record starts at its first packet");
	TAP_CHECK(r->n == 4 && r->r[3].state == FLOE_ST_CON && r->r[0].state == FLOE_ST_INT,
	          "status: state per record");
}

static void b_reuse(struct seq *s)
{
	b_handshake(s);
	add(s, tcp(T0 + SEC, 1, 2, 40000, 80, SYN, 9000, 0, 0));
	add(s, tcp(T0 + 2 * SEC, 1, 2, 40000, 80, SYN, 9000, 0, 0));
	add(s, tcp(T0 + 3 * SEC, 2, 1, 80, 40000, RST | ACK, 0, 9001, 0));
	add(s, tcp(T0 + 4 * SEC, 1, 2, 40000, 80, SYN, 12000, 0, 0));
}

static void c_reuse(const struct result *r)
{
	TAP_CHECK(r->n == 3, "port reuse: a new SYN after a close starts a new flow (%d)", r->n);
	TAP_CHECK(r->n == 3 && r->r[0].state == FLOE_ST_FIN && r->r[1].state == FLOE_ST_RST &&
	          r->r[2].state == FLOE_ST_REQ && r->r[1].spkts == 2,
	          "port reuse: FIN, RST, REQ");
}

static void b_backwards(struct seq *s)
{
	add(s, udp(T0 + 10 * SEC, 1, 2, 4000, 53, 10));
	add(s, udp(T0 + 5 * SEC, 1, 2, 4000, 53, 10));
	add(s, udp(T0 + 3 * SEC, 2, 1, 53, 4000, 10));
	add(s, udp(T0 + 20 * SEC, 1, 2, 4000, 53, 10));
	add(s, udp(T0 - 1000 * SEC, 7, 8, 4000, 53, 10));           /* far past */
	add(s, udp(T0 + 3 * 365 * 86400 * SEC, 1, 2, 4000, 53, 10)); /* years ahead */
}

static void c_backwards(const struct result *r)
{
	const struct floe_flow *f = find(r, 1, 2);
	if (!f)
		f = &nullflow;
	TAP_CHECK(r->st.time_backwards == 3, "backwards: counted (%llu)",
	          (unsigned long long)r->st.time_backwards);
	TAP_CHECK(r->n == 3 && r->bad_time == 0, "backwards: no negative durations (%d)", r->n);
	TAP_CHECK(f->stime == T0 + 3 * SEC && f->ltime == T0 + 20 * SEC && f->spkts == 3,
	          "backwards: times span the packets");
}

static void b_vlan(struct seq *s)
{
	struct floe_pkt p = udp(T0, 1, 2, 4000, 53, 10);
	p.flags |= FLOE_PKT_VLAN;
	p.vlan = 10;
	add(s, p);
	p.vlan = 20;
	add(s, p);
}

static void c_vlan(const struct result *r)
{
	TAP_CHECK(r->n == 2 && (r->r[0].flags & FLOE_F_VLAN) && r->r[0].vlan != r->r[1].vlan,
	          "vlan: different VLANs, different flows");
}

static void c_vlan_ignored(const struct result *r)
{
	const struct floe_flow *f = one(r);
	TAP_CHECK(f->spkts == 2 && f->vlan == 10, "vlan ignored: one flow, first tag");
}

static void b_multimac(struct seq *s)
{
	struct floe_pkt p = udp(T0, 1, 2, 4000, 53, 10);
	add(s, p);
	p.smac[0] = 0x99;
	p.flags |= FLOE_PKT_MPLS;
	add(s, p);
}

static void c_multimac(const struct result *r)
{
	const struct floe_flow *f = one(r);
	TAP_CHECK((f->flags & FLOE_F_MULTIMAC) && (f->flags & FLOE_F_MPLS) && f->smac[0] == 1,
	          "mac change: MULTIMAC, first MACs kept, MPLS");
}

static void c_no_status(const struct result *r)
{
	const struct floe_flow *f = one(r);
	TAP_CHECK(f->spkts == 21 && f->dpkts == 1 && !(f->flags & FLOE_F_STATUS) &&
	          f->ltime - f->stime == 205 * SEC, "status interval 0: one record per flow");
}

static void cfg_no_status(struct floe_meter_config *c)
{
	c->status_interval = 0;
}

static void cfg_none(struct floe_meter_config *c)
{
	(void)c;
}

static void cfg_ignore_vlan(struct floe_meter_config *c)
{
	c->ignore_vlan = true;
}

static const struct mcase {
	const char *name;
	void (*build)(struct seq *);
	void (*cfg)(struct floe_meter_config *);
	void (*check)(const struct result *);
} cases[] = {
	{"handshake", b_handshake, cfg_none, c_handshake},
	{"syn-only", b_syn_only, cfg_none, c_syn_only},
	{"syn-rst", b_syn_rst, cfg_none, c_syn_rst},
	{"syn-retry", b_syn_retry, cfg_none, c_syn_retry},
	{"acc", b_acc, cfg_none, c_acc},
	{"midstream", b_midstream, cfg_none, c_midstream},
	{"midstream-high", b_midstream_high, cfg_none, c_midstream_high},
	{"synack-first", b_synack_first, cfg_none, c_synack_first},
	{"retrans", b_retrans, cfg_none, c_retrans},
	{"ooo", b_ooo, cfg_none, c_ooo},
	{"udp-both", b_udp_both, cfg_none, c_udp_both},
	{"udp-one", b_udp_one, cfg_none, c_udp_one},
	{"echo", b_echo, cfg_none, c_echo},
	{"echo-reply-only", b_echo_reply_only, cfg_none, c_echo_reply_only},
	{"unreach", b_unreach, cfg_none, c_unreach},
	{"icmp6", b_icmp6, cfg_none, c_icmp6},
	{"arp", b_arp, cfg_none, c_arp},
	{"ipv6", b_ipv6, cfg_none, c_ipv6},
	{"frag", b_frag, cfg_none, c_frag},
	{"frag-orphan", b_frag_orphan, cfg_none, c_frag_orphan},
	{"idle", b_idle, cfg_none, c_idle},
	{"status", b_status, cfg_none, c_status},
	{"no-status", b_status, cfg_no_status, c_no_status},
	{"reuse", b_reuse, cfg_none, c_reuse},
	{"backwards", b_backwards, cfg_none, c_backwards},
	{"vlan", b_vlan, cfg_none, c_vlan},
	{"vlan-ignored", b_vlan, cfg_ignore_vlan, c_vlan_ignored},
	{"multimac", b_multimac, cfg_none, c_multimac},
};

static struct seq sq;
static struct result res;

static void run_case(const struct mcase *c)
{
	struct floe_meter_config cfg;
	enum floe_err err;

	memset(&sq, 0, sizeof(sq));
	memset(&res, 0, sizeof(res));
	floe_meter_config_default(&cfg);
	cfg.max_flows = 1024;
	cfg.sensor = 7;
	c->cfg(&cfg);
	c->build(&sq);
	struct floe_meter *m = floe_meter_create(&cfg, sink, &res, &err);
	TAP_CHECK(m != NULL, "%s: create", c->name);
	if (!m)
		return;
	for (int i = 0; i < sq.n; i++)
		floe_meter_add(m, &sq.p[i]);
	floe_meter_flush(m);
	floe_meter_stats(m, &res.st);
	floe_meter_destroy(m);
	TAP_CHECK(res.pkts == (uint64_t)sq.n && res.st.packets == (uint64_t)sq.n,
	          "%s: conservation (%llu in records, %d added)", c->name,
	          (unsigned long long)res.pkts, sq.n);
	TAP_CHECK(res.bad_time == 0 && res.st.live == 0 && res.st.records == res.nrec,
	          "%s: sane records, table empty", c->name);
	c->check(&res);
}

/* ---- standalone tests --------------------------------------------------- */

/* The clock alone expires flows: idle ones after their timeout, closed
 * TCP after a few seconds, without waiting for flush. */
static void test_tick(void)
{
	struct floe_meter_config cfg;
	enum floe_err err;

	memset(&res, 0, sizeof(res));
	floe_meter_config_default(&cfg);
	cfg.max_flows = 64;
	struct floe_meter *m = floe_meter_create(&cfg, sink, &res, &err);
	if (!m) {
		TAP_CHECK(0, "tick: create");
		return;
	}
	struct floe_pkt p = tcp(T0, 1, 2, 40000, 80, SYN, 1, 0, 0);
	floe_meter_add(m, &p);
	p = tcp(T0 + MS, 2, 1, 80, 40000, RST | ACK, 0, 2, 0);
	floe_meter_add(m, &p);
	p = udp(T0, 3, 4, 4000, 53, 10);
	floe_meter_add(m, &p);
	floe_meter_tick(m, T0 + 2 * SEC);
	TAP_CHECK(res.nrec == 0, "tick: nothing due at 2 s");
	floe_meter_tick(m, T0 + 8 * SEC);
	TAP_CHECK(res.nrec == 1 && res.r[0].state == FLOE_ST_RST,
	          "tick: reset flow expired after the closed timeout");
	floe_meter_tick(m, T0 + 40 * SEC);
	TAP_CHECK(res.nrec == 2 && res.r[1].proto == 17, "tick: UDP expired after 30 s");
	floe_meter_stats(m, &res.st);
	TAP_CHECK(res.st.live == 0, "tick: table empty");
	floe_meter_destroy(m);
}

/* Ticks as a live sensor gives them (sensor/live.h): before the first
 * packet, a status record on a quiet link, and a packet a little older
 * than the last tick still lands in its flow. */
static void test_tick_live(void)
{
	struct floe_meter_config cfg;
	enum floe_err err;

	memset(&res, 0, sizeof(res));
	floe_meter_config_default(&cfg);
	cfg.max_flows = 64;
	cfg.status_interval = 10 * SEC;
	struct floe_meter *m = floe_meter_create(&cfg, sink, &res, &err);
	if (!m) {
		TAP_CHECK(0, "tick live: create");
		return;
	}
	floe_meter_tick(m, T0 - SEC);
	struct floe_pkt p = tcp(T0, 1, 2, 40000, 80, SYN, 1, 0, 0);
	floe_meter_add(m, &p);
	p = tcp(T0 + MS, 2, 1, 80, 40000, SYN | ACK, 7, 2, 0);
	floe_meter_add(m, &p);
	floe_meter_tick(m, T0 + 11 * SEC);
	TAP_CHECK(res.nrec == 1 && (res.r[0].flags & FLOE_F_STATUS) && res.r[0].spkts == 1 &&
	          res.r[0].dpkts == 1, "tick live: status record on a quiet link");
	p = tcp(T0 + 10 * SEC, 1, 2, 40000, 80, ACK, 2, 8, 0);
	floe_meter_add(m, &p);
	floe_meter_flush(m);
	floe_meter_stats(m, &res.st);
	TAP_CHECK(res.nrec == 2 && res.r[1].spkts == 1 && res.r[1].dpkts == 0 &&
	          res.st.time_backwards == 1 && res.st.flows_created == 1,
	          "tick live: a packet older than the tick stays in its flow");
	floe_meter_destroy(m);
}

static int warnings;
static void count_log(void *ud, enum floe_loglevel level, const char *msg)
{
	(void)ud;
	(void)msg;
	warnings += level == FLOE_LOG_WARN;
}

/* A scan: many distinct SYNs through a tiny table.  The table never holds
 * more than max_flows, every packet still lands in one record. */
static void test_evict(void)
{
	struct floe_meter_config cfg;
	enum floe_err err;
	const uint32_t n = 200000;

	memset(&res, 0, sizeof(res));
	floe_meter_config_default(&cfg);
	cfg.max_flows = 100;
	const struct floe_log log = {count_log, NULL};
	cfg.log = &log;
	struct floe_meter *m = floe_meter_create(&cfg, sink, &res, &err);
	if (!m) {
		TAP_CHECK(0, "evict: create");
		return;
	}
	struct floe_meter_stats st0, st;
	floe_meter_stats(m, &st0);
	uint64_t maxlive = 0, evicted_rec = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct floe_pkt p = tcp(T0 + (int64_t)i * 1000, 1, 2, (uint16_t)(1024 + i % 60000),
		                        80, SYN, i, 0, 0);
		p.daddr[13] = (uint8_t)(i >> 16);
		p.daddr[14] = (uint8_t)(i >> 8);
		p.daddr[15] = (uint8_t)i;
		floe_meter_add(m, &p);
		floe_meter_stats(m, &st);
		if (st.live > maxlive)
			maxlive = st.live;
	}
	for (int i = 0; i < res.n; i++)
		evicted_rec += !!(res.r[i].flags & FLOE_F_EVICTED);
	floe_meter_flush(m);
	floe_meter_stats(m, &st);
	floe_meter_destroy(m);
	TAP_CHECK(maxlive == 100 && st.max_flows == 100, "evict: live flows bounded (%llu)",
	          (unsigned long long)maxlive);
	TAP_CHECK(st.evicted == n - 100, "evict: evictions counted (%llu)",
	          (unsigned long long)st.evicted);
	TAP_CHECK(evicted_rec > 0, "evict: records carry FLOE_F_EVICTED");
	TAP_CHECK(warnings == 1, "evict: the first eviction is logged once (%d)", warnings);
	TAP_CHECK(st.mem_bytes == st0.mem_bytes && st.mem_bytes < (1u << 20),
	          "evict: memory fixed (%zu bytes)", st.mem_bytes);
	TAP_CHECK(res.pkts == n && st.packets == n && res.nrec == n,
	          "evict: conservation (%llu)", (unsigned long long)res.pkts);
}

/* A long flow through a full table keeps its records correct: evictions
 * take the flows nearest their timeout, not the active one. */
static void test_evict_keeps_active(void)
{
	struct floe_meter_config cfg;
	enum floe_err err;

	memset(&res, 0, sizeof(res));
	floe_meter_config_default(&cfg);
	cfg.max_flows = 8;
	cfg.status_interval = 0;
	struct floe_meter *m = floe_meter_create(&cfg, sink, &res, &err);
	if (!m) {
		TAP_CHECK(0, "evict-active: create");
		return;
	}
	for (int i = 0; i < 1000; i++) {
		struct floe_pkt p = udp(T0 + (int64_t)i * 100 * MS, 1, 2, 4000, 53, 10);
		floe_meter_add(m, &p);
		p = udp(T0 + (int64_t)i * 100 * MS + MS, 3, (uint8_t)(10 + i % 200), 5000, 53, 10);
		floe_meter_add(m, &p);
	}
	res.n = 0;   /* keep what the flush emits */
	floe_meter_flush(m);
	int found = 0;
	for (int i = 0; i < res.n; i++)
		if (host(res.r[i].saddr) == 1 && res.r[i].spkts == 1000 &&
		    !(res.r[i].flags & FLOE_F_EVICTED))
			found = 1;
	floe_meter_stats(m, &res.st);
	floe_meter_destroy(m);
	TAP_CHECK(found && res.from1 == 1, "evict-active: the busy flow survives in one record");
	TAP_CHECK(res.pkts == 2000, "evict-active: conservation");
}

/* Every allocation of create can fail; each failure is NOMEM and leaks
 * nothing (the ASan build checks that). */
static void test_nomem(void)
{
	struct floe_meter_config cfg;
	enum floe_err err;
	int fails = 0;

	floe_meter_config_default(&cfg);
	cfg.max_flows = 1000;
	for (long n = 0; n < 4; n++) {
		floe_mem_fail_after(n);
		struct floe_meter *m = floe_meter_create(&cfg, sink, &res, &err);
		floe_mem_fail_after(-1);
		if (!m && err == FLOE_NOMEM)
			fails++;
		floe_meter_destroy(m);
	}
	TAP_CHECK(fails == 4, "nomem: each allocation failure reported (%d/4)", fails);

	struct floe_budget b;
	floe_budget_init(&b, 4096);
	cfg.budget = &b;
	struct floe_meter *m = floe_meter_create(&cfg, sink, &res, &err);
	TAP_CHECK(!m && err == FLOE_NOMEM && b.used == 0, "nomem: budget refuses, nothing held");
	floe_budget_init(&b, 0);
	m = floe_meter_create(&cfg, sink, &res, &err);
	struct floe_meter_stats st;
	if (m)
		floe_meter_stats(m, &st);
	TAP_CHECK(m && b.used == st.mem_bytes, "budget: charged the table (%zu)", b.used);
	floe_meter_destroy(m);
	TAP_CHECK(b.used == 0, "budget: released on destroy");
	floe_meter_destroy(NULL);

	cfg.budget = NULL;
	cfg.timeout_udp = -1;
	m = floe_meter_create(&cfg, sink, &res, &err);
	TAP_CHECK(!m && err == FLOE_INVALID, "invalid: negative timeout refused");
}

static void test_default_size(void)
{
	struct floe_meter_config cfg;
	enum floe_err err;
	struct floe_meter_stats st;

	floe_meter_config_default(&cfg);
	struct floe_meter *m = floe_meter_create(&cfg, sink, &res, &err);
	if (!m) {
		TAP_CHECK(0, "default size: create");
		return;
	}
	floe_meter_stats(m, &st);
	floe_meter_destroy(m);
	TAP_DIAG("default max_flows %llu, %zu bytes", (unsigned long long)st.max_flows, st.mem_bytes);
	TAP_CHECK(st.max_flows >= 500000 && st.mem_bytes <= FLOE_METER_DEFAULT_MEM + (1u << 20),
	          "default size: fits FLOE_METER_DEFAULT_MEM");
}

int main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	test_tick();
	test_tick_live();
	test_evict();
	test_evict_keeps_active();
	test_nomem();
	test_default_size();
	return tap_done();
}
