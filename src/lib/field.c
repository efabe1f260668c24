/*
 * field.c - the field catalog (field.h): the table, lookup and formatting.
 *
 * Names and titles follow Argus's ra(1) so operators' habits and scripts
 * carry over; aliases add nfdump's and common spellings.
 */
#include "field.h"
#include "util/addr.h"
#include "util/numfmt.h"
#include "util/timefmt.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define M(member) (uint16_t)offsetof(struct floe_flow, member), \
	(uint8_t)sizeof(((struct floe_flow *)0)->member)
#define DERIVED 0, 0

static double d_dur(const struct floe_flow *f) { return (double)floe_flow_dur(f) / 1e9; }
static double d_pkts(const struct floe_flow *f) { return (double)(f->spkts + f->dpkts); }
static double d_bytes(const struct floe_flow *f) { return (double)(f->sbytes + f->dbytes); }
static double d_appbytes(const struct floe_flow *f) { return (double)(f->sappbytes + f->dappbytes); }
static double d_tcprtt(const struct floe_flow *f) { return (double)(f->synack + f->ackdat) / 1e9; }
static double d_synack(const struct floe_flow *f) { return (double)f->synack / 1e9; }
static double d_ackdat(const struct floe_flow *f) { return (double)f->ackdat / 1e9; }
static double d_retrans(const struct floe_flow *f) { return (double)f->sretrans + f->dretrans; }

static double per_sec(double v, const struct floe_flow *f)
{
	double d = d_dur(f);
	return d > 0 ? v / d : 0.0;
}
static double d_load(const struct floe_flow *f) { return per_sec(d_bytes(f) * 8, f); }
static double d_sload(const struct floe_flow *f) { return per_sec((double)f->sbytes * 8, f); }
static double d_dload(const struct floe_flow *f) { return per_sec((double)f->dbytes * 8, f); }
static double d_rate(const struct floe_flow *f) { return per_sec(d_pkts(f), f); }
static double d_srate(const struct floe_flow *f) { return per_sec((double)f->spkts, f); }
static double d_drate(const struct floe_flow *f) { return per_sec((double)f->dpkts, f); }

enum {
	K = FLOE_FK_KEY, V = FLOE_FK_VALUE, N = FLOE_FK_NUMERIC, D = FLOE_FK_DEFAULT,
	L = FLOE_FK_LOCAL,
};

/* The catalog.  Order is the order of `floe fields` and of JSON output. */
static const struct floe_field fields[] = {
	{"stime", "starttime start first", "StartTime", FLOE_FT_TIME, N | D, 26, M(stime), "BIGINT", "time of the first packet", NULL},
	{"ltime", "lasttime last end", "LastTime", FLOE_FT_TIME, N, 26, M(ltime), "BIGINT", "time of the last packet", NULL},
	{"dur", "duration td", "Dur", FLOE_FT_DUR, N | D, 12, DERIVED, "DOUBLE PRECISION", "ltime - stime, seconds", d_dur},
	{"proto", "pr protocol", "Proto", FLOE_FT_PROTO, K | N | D, 6, M(proto), "SMALLINT", "IP protocol (or arp)", NULL},
	{"saddr", "srcaddr srcip sa", "SrcAddr", FLOE_FT_ADDR, K | D, 18, M(saddr), "INET", "initiator address", NULL},
	{"sport", "srcport sp", "Sport", FLOE_FT_PORT, K | N | D, 6, M(sport), "INTEGER", "initiator port; ICMP type", NULL},
	{"dir", NULL, "Dir", FLOE_FT_DIR, D, 5, DERIVED, "TEXT", "direction as Argus prints it (-> <-> ?> <?> who)", NULL},
	{"daddr", "dstaddr dstip da", "DstAddr", FLOE_FT_ADDR, K | D, 18, M(daddr), "INET", "responder address", NULL},
	{"dport", "dstport dp", "Dport", FLOE_FT_PORT, K | N | D, 6, M(dport), "INTEGER", "responder port; ICMP code", NULL},
	{"spkts", "srcpkts ipkt", "SrcPkts", FLOE_FT_UINT, V | N | D, 8, M(spkts), "BIGINT", "packets from the initiator", NULL},
	{"dpkts", "dstpkts opkt", "DstPkts", FLOE_FT_UINT, V | N | D, 8, M(dpkts), "BIGINT", "packets from the responder", NULL},
	{"pkts", "totpkts packets", "TotPkts", FLOE_FT_UINT, V | N, 8, DERIVED, "BIGINT", "packets both ways", d_pkts},
	{"sbytes", "srcbytes ibyt", "SrcBytes", FLOE_FT_UINT, V | N | D, 10, M(sbytes), "BIGINT", "bytes on the wire from the initiator", NULL},
	{"dbytes", "dstbytes obyt", "DstBytes", FLOE_FT_UINT, V | N | D, 10, M(dbytes), "BIGINT", "bytes on the wire from the responder", NULL},
	{"bytes", "totbytes byt", "TotBytes", FLOE_FT_UINT, V | N, 10, DERIVED, "BIGINT", "bytes both ways", d_bytes},
	{"sappbytes", "srcappbytes", "SAppBytes", FLOE_FT_UINT, V | N, 10, M(sappbytes), "BIGINT", "L4 payload from the initiator, retransmissions excluded", NULL},
	{"dappbytes", "dstappbytes", "DAppBytes", FLOE_FT_UINT, V | N, 10, M(dappbytes), "BIGINT", "L4 payload from the responder, retransmissions excluded", NULL},
	{"appbytes", "totappbytes", "TotAppByte", FLOE_FT_UINT, V | N, 10, DERIVED, "BIGINT", "L4 payload both ways", d_appbytes},
	{"state", "st", "State", FLOE_FT_STATE, K | D, 5, M(state), "TEXT", "connection state (REQ ACC CON CLO FIN RST TIM INT, ICMP ECO ...)", NULL},
	{"trans", "flows fl", "Trans", FLOE_FT_UINT, V | N, 6, M(trans), "INTEGER", "records merged into this one", NULL},
	{"flgs", "flags", "Flgs", FLOE_FT_FLAGS, 0, -9, M(flags), "TEXT", "record flags: U direction unknown, F fragments, f orphan fragments, R retransmissions, M multiple MACs, S sampled, s status, E evicted, O out of order, L MPLS, T tunnel", NULL},
	{"smac", "srcmac", "SrcMac", FLOE_FT_MAC, K, 18, M(smac), "MACADDR", "initiator MAC", NULL},
	{"dmac", "dstmac", "DstMac", FLOE_FT_MAC, K, 18, M(dmac), "MACADDR", "responder MAC", NULL},
	{"vlan", "svlan", "VLAN", FLOE_FT_UINT, K | N, 5, M(vlan), "INTEGER", "802.1Q VLAN id (outermost)", NULL},
	{"etype", "ethertype", "Etype", FLOE_FT_HEX, K | N, 6, M(etype), "INTEGER", "ethertype", NULL},
	{"ipver", "ipv", "IpVer", FLOE_FT_UINT, K | N, 5, M(ipver), "SMALLINT", "IP version (4, 6; 0 for ARP)", NULL},
	{"stcpflags", "swin sflags", "sTcpFl", FLOE_FT_TCPFLAGS, K, -8, M(stcpflags), "TEXT", "TCP flags from the initiator (FSRPAUEC)", NULL},
	{"dtcpflags", "dflags", "dTcpFl", FLOE_FT_TCPFLAGS, K, -8, M(dtcpflags), "TEXT", "TCP flags from the responder", NULL},
	{"sttl", "sttlmin", "sTtl", FLOE_FT_UINT, N, 4, M(sttlmin), "SMALLINT", "lowest TTL from the initiator", NULL},
	{"dttl", "dttlmin", "dTtl", FLOE_FT_UINT, N, 4, M(dttlmin), "SMALLINT", "lowest TTL from the responder", NULL},
	{"sttlmax", NULL, "sMaxTtl", FLOE_FT_UINT, N, 4, M(sttlmax), "SMALLINT", "highest TTL from the initiator", NULL},
	{"dttlmax", NULL, "dMaxTtl", FLOE_FT_UINT, N, 4, M(dttlmax), "SMALLINT", "highest TTL from the responder", NULL},
	{"stos", "stc", "sTos", FLOE_FT_UINT, K | N, 4, M(stos), "SMALLINT", "TOS / traffic class from the initiator", NULL},
	{"dtos", "dtc", "dTos", FLOE_FT_UINT, K | N, 4, M(dtos), "SMALLINT", "TOS / traffic class from the responder", NULL},
	{"tcprtt", "rtt", "TcpRtt", FLOE_FT_DUR, N, 10, DERIVED, "DOUBLE PRECISION", "TCP setup round trip: synack + ackdat, seconds", d_tcprtt},
	{"synack", NULL, "SynAck", FLOE_FT_DUR, N, 10, DERIVED, "DOUBLE PRECISION", "SYN to SYN/ACK, seconds (responder side RTT)", d_synack},
	{"ackdat", NULL, "AckDat", FLOE_FT_DUR, N, 10, DERIVED, "DOUBLE PRECISION", "SYN/ACK to ACK, seconds (initiator side RTT)", d_ackdat},
	{"sretrans", "sretrn", "SrcRetra", FLOE_FT_UINT, V | N, 8, M(sretrans), "INTEGER", "retransmitted segments from the initiator", NULL},
	{"dretrans", "dretrn", "DstRetra", FLOE_FT_UINT, V | N, 8, M(dretrans), "INTEGER", "retransmitted segments from the responder", NULL},
	{"retrans", NULL, "Retrans", FLOE_FT_UINT, V | N, 8, DERIVED, "INTEGER", "retransmitted segments both ways", d_retrans},
	{"sooo", "soutoforder", "SrcOoo", FLOE_FT_UINT, V | N, 6, M(sooo), "INTEGER", "out-of-order segments from the initiator", NULL},
	{"dooo", "doutoforder", "DstOoo", FLOE_FT_UINT, V | N, 6, M(dooo), "INTEGER", "out-of-order segments from the responder", NULL},
	{"load", NULL, "Load", FLOE_FT_RATE, N, 12, DERIVED, "DOUBLE PRECISION", "bits per second both ways", d_load},
	{"sload", NULL, "SrcLoad", FLOE_FT_RATE, N, 12, DERIVED, "DOUBLE PRECISION", "bits per second from the initiator", d_sload},
	{"dload", NULL, "DstLoad", FLOE_FT_RATE, N, 12, DERIVED, "DOUBLE PRECISION", "bits per second from the responder", d_dload},
	{"rate", NULL, "Rate", FLOE_FT_RATE, N, 10, DERIVED, "DOUBLE PRECISION", "packets per second both ways", d_rate},
	{"srate", NULL, "SrcRate", FLOE_FT_RATE, N, 10, DERIVED, "DOUBLE PRECISION", "packets per second from the initiator", d_srate},
	{"drate", NULL, "DstRate", FLOE_FT_RATE, N, 10, DERIVED, "DOUBLE PRECISION", "packets per second from the responder", d_drate},
	{"sid", "srcid sensor", "SrcId", FLOE_FT_UINT, K | N, 8, M(sensor), "BIGINT", "sensor or exporter id", NULL},
	{"inif", "input", "InIf", FLOE_FT_UINT, K | N, 6, M(inif), "BIGINT", "input interface (router exports)", NULL},
	{"outif", "output", "OutIf", FLOE_FT_UINT, K | N, 6, M(outif), "BIGINT", "output interface (router exports)", NULL},
	{"exporter", "ra router exaddr", "Exporter", FLOE_FT_ADDR, K, 18, M(exporter), "INET", "exporting router or sFlow agent (router exports)", NULL},
	{"nexthop", "nh nhop", "NextHop", FLOE_FT_ADDR, K, 18, M(nexthop), "INET", "next-hop router (router exports)", NULL},
	{"sas", "srcas", "SrcAS", FLOE_FT_UINT, K | N, 8, M(sas), "BIGINT", "source AS (router exports)", NULL},
	{"das", "dstas", "DstAS", FLOE_FT_UINT, K | N, 8, M(das), "BIGINT", "destination AS (router exports)", NULL},
	{"sampling", "samp", "Sampling", FLOE_FT_UINT, K | N, 6, M(sampling), "BIGINT", "1-in-N sampling rate, 0 if counted", NULL},
	{"seq", "seqnum", "Seq", FLOE_FT_UINT, N, 10, M(seq), "BIGINT", "per-source sequence number, from where records are first served (--listen); 0 if none", NULL},
	/* Relative to --local (query/local.h orients the record so the local
	 * side is the source; these rows then read the source or destination). */
	{"laddr", "localaddr", "LocAddr", FLOE_FT_ADDR, K | L, 18, M(saddr), "INET", "with --local: the address in the local networks (the initiator if both or neither are)", NULL},
	{"raddr", "remoteaddr", "RemAddr", FLOE_FT_ADDR, K | L, 18, M(daddr), "INET", "with --local: the other side's address", NULL},
	{"lport", "localport", "LocPort", FLOE_FT_PORT, K | L, 6, M(sport), "INTEGER", "with --local: the local side's port", NULL},
	{"rport", "remoteport", "RemPort", FLOE_FT_PORT, K | L, 6, M(dport), "INTEGER", "with --local: the other side's port", NULL},
	{"outpkts", NULL, "OutPkts", FLOE_FT_UINT, V | L, 8, M(spkts), "BIGINT", "with --local: packets sent by the local side", NULL},
	{"inpkts", NULL, "InPkts", FLOE_FT_UINT, V | L, 8, M(dpkts), "BIGINT", "with --local: packets received by the local side", NULL},
	{"outbytes", NULL, "OutBytes", FLOE_FT_UINT, V | L, 10, M(sbytes), "BIGINT", "with --local: bytes sent by the local side", NULL},
	{"inbytes", NULL, "InBytes", FLOE_FT_UINT, V | L, 10, M(dbytes), "BIGINT", "with --local: bytes received by the local side", NULL},
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

const struct floe_field *floe_fields(size_t *n)
{
	*n = NFIELDS;
	return fields;
}

static bool word_in(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ' ');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l == n && strncasecmp(p, name, n) == 0)
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

const struct floe_field *floe_field_lookup(const char *name)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (strcasecmp(fields[i].name, name) == 0)
			return &fields[i];
	for (size_t i = 0; i < NFIELDS; i++)
		if (word_in(fields[i].aliases, name))
			return &fields[i];
	return NULL;
}

const struct floe_field *const *floe_fields_default(size_t *n)
{
	static const struct floe_field *defaults[NFIELDS + 1];
	static size_t ndef;
	/* Computed from the table; the table is constant so this is idempotent
	 * (and harmless if two threads race to fill it with the same values). */
	if (!ndef) {
		size_t k = 0;
		for (size_t i = 0; i < NFIELDS; i++)
			if (fields[i].kinds & FLOE_FK_DEFAULT)
				defaults[k++] = &fields[i];
		defaults[k] = NULL;
		ndef = k;
	}
	*n = ndef;
	return defaults;
}

static uint64_t load_uint(const struct floe_field *fd, const struct floe_flow *f)
{
	const uint8_t *p = (const uint8_t *)f + fd->off;
	switch (fd->size) {
	case 1: return *p;
	case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
	case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
	case 8: { uint64_t v; memcpy(&v, p, 8); return v; }
	default: return 0;
	}
}

uint64_t floe_field_u64(const struct floe_field *fd, const struct floe_flow *f)
{
	if (fd->size == 0) {
		if (fd->derive && fd->type == FLOE_FT_UINT)
			return (uint64_t)fd->derive(f);
		return 0;
	}
	if (fd->type == FLOE_FT_ADDR || fd->type == FLOE_FT_MAC)
		return 0;
	return load_uint(fd, f);
}

double floe_field_num(const struct floe_field *fd, const struct floe_flow *f)
{
	if (fd->size == 0)
		return fd->derive ? fd->derive(f) : 0.0;
	if (fd->type == FLOE_FT_TIME)
		return (double)(int64_t)load_uint(fd, f) / 1e9;
	return (double)floe_field_u64(fd, f);
}

static const char *const proto_names[256] = {
	[0] = "ip", [1] = "icmp", [2] = "igmp", [4] = "ipnip", [6] = "tcp", [8] = "egp",
	[9] = "igp", [17] = "udp", [41] = "ipv6", [43] = "ipv6-route", [44] = "ipv6-frag",
	[46] = "rsvp", [47] = "gre", [50] = "esp", [51] = "ah", [58] = "ipv6-icmp",
	[59] = "ipv6-no", [60] = "ipv6-opts", [88] = "eigrp", [89] = "ospf", [103] = "pim",
	[112] = "vrrp", [115] = "l2tp", [132] = "sctp", [136] = "udplite",
};

const char *floe_proto_name(unsigned proto)
{
	return proto < 256 ? proto_names[proto] : NULL;
}

int floe_proto_parse(const char *name)
{
	if (strcasecmp(name, "icmp6") == 0 || strcasecmp(name, "icmpv6") == 0)
		return 58;
	for (int i = 0; i < 256; i++)
		if (proto_names[i] && strcasecmp(proto_names[i], name) == 0)
			return i;
	return -1;
}

static const char *dir_arrow(const struct floe_flow *f)
{
	if (f->etype == FLOE_ETH_ARP)
		return "who";
	if (f->flags & FLOE_F_DIRUNK) {
		if (f->spkts && f->dpkts)
			return "<?>";
		return f->dpkts ? "<?" : "?>";
	}
	if (f->proto == 6)
		return "->";
	return f->dpkts ? "<->" : "->";
}

static size_t put(char *buf, size_t len, const char *s)
{
	size_t n = strlen(s);
	if (len == 0)
		return 0;
	if (n >= len)
		n = len - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return n;
}

static size_t letters(char *buf, size_t len, unsigned v, const char *map)
{
	char tmp[20];
	size_t k = 0;
	for (unsigned i = 0; map[i] && k < sizeof(tmp) - 1; i++)
		if ((v & (1u << i)) && map[i] != '.')
			tmp[k++] = map[i];
	tmp[k] = '\0';
	return put(buf, len, tmp);
}

size_t floe_field_format(const struct floe_field *fd, const struct floe_flow *f,
                         const struct floe_fmtopts *o, char *buf, size_t len)
{
	char tmp[64];
	const uint8_t *mem = (const uint8_t *)f + fd->off;
	switch (fd->type) {
	case FLOE_FT_TIME: {
		int64_t t = (int64_t)load_uint(fd, f);
		floe_time_format(t, (enum floe_timefmt)o->timefmt, o->prec, tmp, sizeof(tmp));
		return put(buf, len, tmp);
	}
	case FLOE_FT_DUR: {
		int64_t ns;
		if (fd->size)
			ns = (int64_t)load_uint(fd, f);
		else
			ns = (int64_t)(fd->derive(f) * 1e9 + (fd->derive(f) >= 0 ? 0.5 : -0.5));
		floe_dur_format(ns, o->prec, tmp, sizeof(tmp));
		return put(buf, len, tmp);
	}
	case FLOE_FT_ADDR:
		if (f->ipver == 0 && f->etype != FLOE_ETH_ARP) {
			tmp[0] = '\0';
		} else {
			floe_addr_format(mem, tmp, sizeof(tmp));
		}
		return put(buf, len, tmp);
	case FLOE_FT_MAC:
		if (!(f->flags & FLOE_F_MAC))
			return put(buf, len, "");
		floe_mac_format(mem, tmp, sizeof(tmp));
		return put(buf, len, tmp);
	case FLOE_FT_PORT:
		if (f->etype == FLOE_ETH_ARP)
			return put(buf, len, "");
		floe_fmt_u64(tmp, load_uint(fd, f));
		return put(buf, len, tmp);
	case FLOE_FT_PROTO: {
		const char *nm = f->etype == FLOE_ETH_ARP ? "arp" : o->numeric ? NULL : floe_proto_name(f->proto);
		if (nm)
			return put(buf, len, nm);
		floe_fmt_u64(tmp, f->proto);
		return put(buf, len, tmp);
	}
	case FLOE_FT_UINT:
		floe_fmt_u64(tmp, floe_field_u64(fd, f));
		return put(buf, len, tmp);
	case FLOE_FT_HEX:
		snprintf(tmp, sizeof(tmp), "0x%04" PRIx64, floe_field_u64(fd, f));
		return put(buf, len, tmp);
	case FLOE_FT_STATE:
		return put(buf, len, floe_state_name(f->state));
	case FLOE_FT_DIR:
		return put(buf, len, dir_arrow(f));
	case FLOE_FT_FLAGS:
		return letters(buf, len, f->flags, "UFfRMSs.E.OLT");
	case FLOE_FT_TCPFLAGS:
		return letters(buf, len, (unsigned)load_uint(fd, f), "FSRPAUEC");
	case FLOE_FT_RATE:
		snprintf(tmp, sizeof(tmp), "%.*f", o->prec > 3 ? 3 : o->prec, fd->derive(f));
		return put(buf, len, tmp);
	}
	return put(buf, len, "");
}
