/*
 * ipfix.c - IPFIX message writer (ipfix.h).  RFC 7011 sections are cited
 * where the layout is fixed; element numbers are IANA's "IPFIX Information
 * Elements" registry, reverse elements RFC 5103 §6.1.
 *
 * The templates are one static table: each row is an element, the
 * address family it belongs to (both, v4 only, v6 only) and what it
 * encodes; the template set and the data records are both generated from
 * it, so they cannot disagree.
 */
#include "export/ipfix.h"

#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "util/mem.h"

/* Seconds between 1900-01-01 (NTP era 0) and 1970-01-01 (RFC 7011 §6.1.10). */
#define NTP_UNIX_OFFSET 2208988800u

#define MSG_HDR 16     /* RFC 7011 §3.1 */
#define SET_HDR 4      /* §3.3.2 */
#define MAX_MSG 65535

/* What a template row encodes. */
enum src {
	S_STIME, S_LTIME, S_STIME_MS, S_LTIME_MS, S_ICMP, S_SADDR4, S_DADDR4, S_SADDR6, S_DADDR6, S_SPORT, S_DPORT,
	S_PROTO, S_STCPFLAGS, S_STOS, S_SPKTS, S_SBYTES, S_STTLMIN, S_STTLMAX,
	S_DPKTS, S_DBYTES, S_DTCPFLAGS, S_DTOS, S_DTTLMIN, S_DTTLMAX,
	S_VLAN, S_INIF, S_OUTIF, S_SAS, S_DAS, S_NEXTHOP4, S_NEXTHOP6, S_SAMPLING,
	S_SMAC, S_DMAC, S_EXPORTER4, S_EXPORTER6, S_ETYPE, S_IPVER,
	S_STATE, S_FLAGS, S_SAPPBYTES, S_DAPPBYTES, S_SRETRANS, S_DRETRANS,
	S_SOOO, S_DOOO, S_SYNACK, S_ACKDAT, S_TRANS, S_SENSOR,
};

enum fam { BOTH, V4, V6 };

struct element {
	uint16_t id;
	uint32_t pen;      /* 0: IANA */
	uint16_t len;
	enum fam fam;
	enum src src;
};

#define REV FLOE_IPFIX_PEN_REVERSE
#define FLOE FLOE_IPFIX_PEN

static const struct element elements[] = {
	{156, 0, 8, BOTH, S_STIME},      /* flowStartNanoseconds */
	{157, 0, 8, BOTH, S_LTIME},      /* flowEndNanoseconds */
	/* the same in milliseconds, for collectors without nanoseconds
	 * (nfdump 1.7 reads only these) */
	{152, 0, 8, BOTH, S_STIME_MS},   /* flowStartMilliseconds */
	{153, 0, 8, BOTH, S_LTIME_MS},   /* flowEndMilliseconds */
	{8, 0, 4, V4, S_SADDR4},         /* sourceIPv4Address */
	{12, 0, 4, V4, S_DADDR4},        /* destinationIPv4Address */
	{27, 0, 16, V6, S_SADDR6},       /* sourceIPv6Address */
	{28, 0, 16, V6, S_DADDR6},       /* destinationIPv6Address */
	{7, 0, 2, BOTH, S_SPORT},        /* sourceTransportPort */
	{11, 0, 2, BOTH, S_DPORT},       /* destinationTransportPort */
	{32, 0, 2, V4, S_ICMP},          /* icmpTypeCodeIPv4: type << 8 | code */
	{139, 0, 2, V6, S_ICMP},         /* icmpTypeCodeIPv6 */
	{4, 0, 1, BOTH, S_PROTO},        /* protocolIdentifier */
	{60, 0, 1, BOTH, S_IPVER},       /* ipVersion */
	{256, 0, 2, BOTH, S_ETYPE},      /* ethernetType */
	{2, 0, 8, BOTH, S_SPKTS},        /* packetDeltaCount */
	{1, 0, 8, BOTH, S_SBYTES},       /* octetDeltaCount */
	{6, 0, 2, BOTH, S_STCPFLAGS},    /* tcpControlBits (RFC 7125: 16 bits) */
	{5, 0, 1, BOTH, S_STOS},         /* ipClassOfService */
	{52, 0, 1, BOTH, S_STTLMIN},     /* minimumTTL */
	{53, 0, 1, BOTH, S_STTLMAX},     /* maximumTTL */
	{2, REV, 8, BOTH, S_DPKTS},      /* reversePacketDeltaCount */
	{1, REV, 8, BOTH, S_DBYTES},     /* reverseOctetDeltaCount */
	{6, REV, 2, BOTH, S_DTCPFLAGS},  /* reverseTcpControlBits */
	{5, REV, 1, BOTH, S_DTOS},       /* reverseIpClassOfService */
	{52, REV, 1, BOTH, S_DTTLMIN},   /* reverseMinimumTTL */
	{53, REV, 1, BOTH, S_DTTLMAX},   /* reverseMaximumTTL */
	{58, 0, 2, BOTH, S_VLAN},        /* vlanId */
	{56, 0, 6, BOTH, S_SMAC},        /* sourceMacAddress */
	{80, 0, 6, BOTH, S_DMAC},        /* destinationMacAddress */
	{10, 0, 4, BOTH, S_INIF},        /* ingressInterface */
	{14, 0, 4, BOTH, S_OUTIF},       /* egressInterface */
	{16, 0, 4, BOTH, S_SAS},         /* bgpSourceAsNumber */
	{17, 0, 4, BOTH, S_DAS},         /* bgpDestinationAsNumber */
	{15, 0, 4, V4, S_NEXTHOP4},      /* ipNextHopIPv4Address */
	{62, 0, 16, V6, S_NEXTHOP6},     /* ipNextHopIPv6Address */
	{34, 0, 4, BOTH, S_SAMPLING},    /* samplingInterval */
	{130, 0, 4, V4, S_EXPORTER4},    /* exporterIPv4Address */
	{131, 0, 16, V6, S_EXPORTER6},   /* exporterIPv6Address */
	{1, FLOE, 1, BOTH, S_STATE},     /* floeState */
	{2, FLOE, 2, BOTH, S_FLAGS},     /* floeFlags */
	{3, FLOE, 8, BOTH, S_SAPPBYTES}, /* floeSourceAppOctets */
	{4, FLOE, 8, BOTH, S_DAPPBYTES}, /* floeDestinationAppOctets */
	{5, FLOE, 4, BOTH, S_SRETRANS},  /* floeSourceRetransmissions */
	{6, FLOE, 4, BOTH, S_DRETRANS},  /* floeDestinationRetransmissions */
	{7, FLOE, 4, BOTH, S_SOOO},      /* floeSourceOutOfOrder */
	{8, FLOE, 4, BOTH, S_DOOO},      /* floeDestinationOutOfOrder */
	{9, FLOE, 8, BOTH, S_SYNACK},    /* floeSynAckNanoseconds */
	{10, FLOE, 8, BOTH, S_ACKDAT},   /* floeAckDataNanoseconds */
	{11, FLOE, 4, BOTH, S_TRANS},    /* floeRecordsMerged */
	{12, FLOE, 4, BOTH, S_SENSOR},   /* floeSensorId */
};

#define NELEM (sizeof(elements) / sizeof(elements[0]))

struct floe_ipfix_writer {
	struct floe_ipfix_opts o;
	floe_ipfix_out_fn out;
	void *ctx;
	enum floe_err err;
	int64_t now;
	int64_t tmpl_time;        /* export time templates were last sent */
	uint32_t msgs_since_tmpl;
	bool tmpl_due;
	uint32_t seq;             /* data records sent before this message */
	size_t rec_len[2];        /* data record length per template */
	size_t tmpl_len;          /* bytes of the template set */
	uint8_t *buf;
	size_t n;                 /* bytes in buf; 0 = no message open */
	size_t set_off;           /* offset of the open data set header; 0 = none */
	int set_fam;              /* family of the open set */
	uint32_t msg_records;
	struct floe_ipfix_stats st;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static bool in_fam(const struct element *e, int fam)
{
	return e->fam == BOTH || (e->fam == V4 && fam == 0) || (e->fam == V6 && fam == 1);
}

/* dateTimeNanoseconds (RFC 7011 §6.1.10): NTP seconds and 2^-32 fraction.
 * The fraction is rounded up so that a reader truncating it back to
 * nanoseconds gets the exact value. */
static uint64_t ntp_time(int64_t ns)
{
	int64_t s = ns / 1000000000, r = ns % 1000000000;
	if (r < 0) {
		s--;
		r += 1000000000;
	}
	uint64_t frac = (((uint64_t)r << 32) + 999999999u) / 1000000000u;
	return (uint64_t)(uint32_t)(s + NTP_UNIX_OFFSET) << 32 | frac;
}

/* dateTimeMilliseconds (RFC 7011 §6.1.8), rounded down. */
static int64_t floor_ms(int64_t ns)
{
	return ns >= 0 ? ns / 1000000 : -((-ns + 999999) / 1000000);
}

/* Writes the template set (§3.4.1) at p; returns its length. */
static size_t write_templates(uint8_t *p)
{
	size_t n = SET_HDR;
	for (int fam = 0; fam < 2; fam++) {
		size_t cnt_off = n + 2;
		uint16_t cnt = 0;
		put16(p + n, (uint16_t)(fam ? FLOE_IPFIX_TEMPLATE_V6 : FLOE_IPFIX_TEMPLATE_V4));
		n += 4;
		for (size_t i = 0; i < NELEM; i++) {
			const struct element *e = &elements[i];
			if (!in_fam(e, fam))
				continue;
			put16(p + n, (uint16_t)(e->id | (e->pen ? 0x8000 : 0)));
			put16(p + n + 2, e->len);
			n += 4;
			if (e->pen) {
				put32(p + n, e->pen);
				n += 4;
			}
			cnt++;
		}
		put16(p + cnt_off, cnt);
	}
	put16(p, 2);  /* Set ID 2: Template Set */
	put16(p + 2, (uint16_t)n);
	return n;
}

static void write_record(uint8_t *p, const struct floe_flow *f, int fam)
{
	for (size_t i = 0; i < NELEM; i++) {
		const struct element *e = &elements[i];
		if (!in_fam(e, fam))
			continue;
		switch (e->src) {
		case S_STIME: put64(p, ntp_time(f->stime)); break;
		case S_LTIME: put64(p, ntp_time(f->ltime)); break;
		case S_STIME_MS: put64(p, (uint64_t)floor_ms(f->stime)); break;
		case S_LTIME_MS: put64(p, (uint64_t)floor_ms(f->ltime)); break;
		case S_ICMP:
			put16(p, f->proto == 1 || f->proto == 58
			         ? (uint16_t)((f->sport & 0xff) << 8 | (f->dport & 0xff)) : 0);
			break;
		case S_SADDR4: memcpy(p, f->saddr + 12, 4); break;
		case S_DADDR4: memcpy(p, f->daddr + 12, 4); break;
		case S_SADDR6: memcpy(p, f->saddr, 16); break;
		case S_DADDR6: memcpy(p, f->daddr, 16); break;
		case S_SPORT: put16(p, f->sport); break;
		case S_DPORT: put16(p, f->dport); break;
		case S_PROTO: *p = f->proto; break;
		case S_IPVER: *p = f->ipver; break;
		case S_ETYPE: put16(p, f->etype); break;
		case S_SPKTS: put64(p, f->spkts); break;
		case S_SBYTES: put64(p, f->sbytes); break;
		case S_STCPFLAGS: put16(p, f->stcpflags); break;
		case S_STOS: *p = f->stos; break;
		case S_STTLMIN: *p = f->sttlmin; break;
		case S_STTLMAX: *p = f->sttlmax; break;
		case S_DPKTS: put64(p, f->dpkts); break;
		case S_DBYTES: put64(p, f->dbytes); break;
		case S_DTCPFLAGS: put16(p, f->dtcpflags); break;
		case S_DTOS: *p = f->dtos; break;
		case S_DTTLMIN: *p = f->dttlmin; break;
		case S_DTTLMAX: *p = f->dttlmax; break;
		case S_VLAN: put16(p, (f->flags & FLOE_F_VLAN) ? f->vlan : 0); break;
		case S_SMAC:
			if (f->flags & FLOE_F_MAC)
				memcpy(p, f->smac, 6);
			else
				memset(p, 0, 6);
			break;
		case S_DMAC:
			if (f->flags & FLOE_F_MAC)
				memcpy(p, f->dmac, 6);
			else
				memset(p, 0, 6);
			break;
		case S_INIF: put32(p, f->inif); break;
		case S_OUTIF: put32(p, f->outif); break;
		case S_SAS: put32(p, f->sas); break;
		case S_DAS: put32(p, f->das); break;
		/* An IPv4 template carries the low 4 bytes of v4-mapped next hop
		 * and exporter; 0.0.0.0 when they are not IPv4 (or ::). */
		case S_NEXTHOP4:
			if (floe_addr_is_v4(f->nexthop))
				memcpy(p, f->nexthop + 12, 4);
			else
				memset(p, 0, 4);
			break;
		case S_NEXTHOP6: memcpy(p, f->nexthop, 16); break;
		case S_EXPORTER4:
			if (floe_addr_is_v4(f->exporter))
				memcpy(p, f->exporter + 12, 4);
			else
				memset(p, 0, 4);
			break;
		case S_EXPORTER6: memcpy(p, f->exporter, 16); break;
		case S_SAMPLING: put32(p, f->sampling); break;
		case S_STATE: *p = f->state; break;
		case S_FLAGS: put16(p, f->flags); break;
		case S_SAPPBYTES: put64(p, f->sappbytes); break;
		case S_DAPPBYTES: put64(p, f->dappbytes); break;
		case S_SRETRANS: put32(p, f->sretrans); break;
		case S_DRETRANS: put32(p, f->dretrans); break;
		case S_SOOO: put32(p, f->sooo); break;
		case S_DOOO: put32(p, f->dooo); break;
		case S_SYNACK: put64(p, (uint64_t)f->synack); break;
		case S_ACKDAT: put64(p, (uint64_t)f->ackdat); break;
		case S_TRANS: put32(p, f->trans); break;
		case S_SENSOR: put32(p, f->sensor); break;
		}
		p += e->len;
	}
}

struct floe_ipfix_writer *floe_ipfix_writer_create(const struct floe_ipfix_opts *opts,
                                                   floe_ipfix_out_fn out, void *ctx,
                                                   struct floe_errbuf *eb)
{
	struct floe_ipfix_opts o = opts ? *opts : (struct floe_ipfix_opts){0};
	if (o.max_msg == 0 || o.max_msg > MAX_MSG)
		o.max_msg = MAX_MSG;
	size_t rec[2] = {0, 0};
	for (int fam = 0; fam < 2; fam++)
		for (size_t i = 0; i < NELEM; i++)
			if (in_fam(&elements[i], fam))
				rec[fam] += elements[i].len;
	uint8_t scratch[2048];
	size_t tl = write_templates(scratch);
	if (o.max_msg < MSG_HDR + tl + SET_HDR + rec[1]) {
		floe_errbuf_set(eb, FLOE_INVALID,
		                "IPFIX messages of %zu bytes cannot hold the templates and a record (%zu)",
		                o.max_msg, MSG_HDR + tl + SET_HDR + rec[1]);
		return NULL;
	}
	struct floe_ipfix_writer *w = floe_calloc(NULL, 1, sizeof(*w));
	uint8_t *buf = floe_malloc(NULL, o.max_msg);
	if (!w || !buf) {
		floe_free(NULL, w, sizeof(*w));
		floe_free(NULL, buf, o.max_msg);
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory for an IPFIX writer");
		return NULL;
	}
	w->o = o;
	w->out = out;
	w->ctx = ctx;
	w->buf = buf;
	w->rec_len[0] = rec[0];
	w->rec_len[1] = rec[1];
	w->tmpl_len = tl;
	w->tmpl_due = true;
	return w;
}

void floe_ipfix_writer_set_time(struct floe_ipfix_writer *w, int64_t unix_secs)
{
	w->now = unix_secs;
}

/* Starts a message: header, then the template set when due (§8.4). */
static void open_msg(struct floe_ipfix_writer *w)
{
	if (w->o.template_interval > 0 && w->now - w->tmpl_time >= w->o.template_interval)
		w->tmpl_due = true;
	if (w->o.template_msgs > 0 && w->msgs_since_tmpl >= w->o.template_msgs)
		w->tmpl_due = true;
	w->n = MSG_HDR;
	if (w->tmpl_due) {
		w->n += write_templates(w->buf + w->n);
		w->tmpl_due = false;
		w->tmpl_time = w->now;
		w->msgs_since_tmpl = 0;
		w->st.templates_sent++;
	}
	w->set_off = 0;
	w->msg_records = 0;
}

static void close_set(struct floe_ipfix_writer *w)
{
	if (w->set_off)
		put16(w->buf + w->set_off + 2, (uint16_t)(w->n - w->set_off));
	w->set_off = 0;
}

enum floe_err floe_ipfix_writer_flush(struct floe_ipfix_writer *w)
{
	if (w->err != FLOE_OK || w->n == 0)
		return w->err;
	close_set(w);
	/* Message header, RFC 7011 §3.1. */
	put16(w->buf, 10);
	put16(w->buf + 2, (uint16_t)w->n);
	put32(w->buf + 4, (uint32_t)w->now);
	put32(w->buf + 8, w->seq);
	put32(w->buf + 12, w->o.domain);
	w->err = w->out(w->ctx, w->buf, w->n);
	w->seq += w->msg_records;
	w->st.messages++;
	w->st.bytes += w->n;
	w->msgs_since_tmpl++;
	w->n = 0;
	return w->err;
}

enum floe_err floe_ipfix_writer_add(struct floe_ipfix_writer *w, const struct floe_flow *f)
{
	if (w->err != FLOE_OK)
		return w->err;
	int fam = floe_addr_is_v4(f->saddr) && floe_addr_is_v4(f->daddr) ? 0 : 1;
	size_t need = w->rec_len[fam] + (w->set_off && w->set_fam == fam ? 0 : SET_HDR);
	if (w->n && w->n + need > w->o.max_msg)
		if (floe_ipfix_writer_flush(w) != FLOE_OK)
			return w->err;
	if (w->n == 0)
		open_msg(w);
	if (!w->set_off || w->set_fam != fam) {
		close_set(w);
		w->set_off = w->n;
		w->set_fam = fam;
		put16(w->buf + w->n, (uint16_t)(fam ? FLOE_IPFIX_TEMPLATE_V6 : FLOE_IPFIX_TEMPLATE_V4));
		w->n += SET_HDR;
	}
	write_record(w->buf + w->n, f, fam);
	w->n += w->rec_len[fam];
	w->msg_records++;
	w->st.records++;
	return FLOE_OK;
}

void floe_ipfix_writer_stats(const struct floe_ipfix_writer *w, struct floe_ipfix_stats *st)
{
	*st = w->st;
}

void floe_ipfix_writer_destroy(struct floe_ipfix_writer *w)
{
	if (!w)
		return;
	floe_free(NULL, w->buf, w->o.max_msg);
	floe_free(NULL, w, sizeof(*w));
}

enum floe_err floe_ipfix_out_file(void *ctx, const uint8_t *msg, size_t len)
{
	return fwrite(msg, 1, len, ctx) == len ? FLOE_OK : FLOE_IO;
}

int floe_ipfix_udp_open(const char *url, struct floe_errbuf *eb)
{
	const char *hp = url;
	if (strncmp(hp, "udp://", 6) == 0)
		hp += 6;
	else if (strstr(hp, "://")) {
		floe_errbuf_set(eb, FLOE_INVALID, "'%s': only udp:// is supported", url);
		return -1;
	}
	char host[256];
	const char *port = NULL;
	size_t hl;
	if (hp[0] == '[') {
		const char *e = strchr(hp, ']');
		if (!e || (e[1] != '\0' && e[1] != ':')) {
			floe_errbuf_set(eb, FLOE_INVALID, "'%s': bad [IPv6]:PORT", url);
			return -1;
		}
		hl = (size_t)(e - hp - 1);
		if (hl >= sizeof(host))
			hl = sizeof(host) - 1;
		memcpy(host, hp + 1, hl);
		port = e[1] == ':' ? e + 2 : NULL;
	} else {
		const char *c = strrchr(hp, ':');
		hl = c ? (size_t)(c - hp) : strlen(hp);
		if (hl >= sizeof(host))
			hl = sizeof(host) - 1;
		memcpy(host, hp, hl);
		port = c ? c + 1 : NULL;
	}
	host[hl] = '\0';
	if (!host[0] || (port && !*port)) {
		floe_errbuf_set(eb, FLOE_INVALID, "'%s': want udp://HOST:PORT", url);
		return -1;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(host, port ? port : "4739", &hints, &res);
	if (gai != 0) {
		floe_errbuf_set(eb, FLOE_INVALID, "'%s': %s", url, gai_strerror(gai));
		return -1;
	}
	int fd = -1, err = 0;
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		floe_errbuf_set(eb, FLOE_IO, "cannot connect to '%s': %s", url, strerror(err));
	return fd;
}

enum floe_err floe_ipfix_out_udp(void *ctx, const uint8_t *msg, size_t len)
{
	int fd = *(const int *)ctx;
	for (;;) {
		ssize_t r = send(fd, msg, len, 0);
		if (r == (ssize_t)len)
			return FLOE_OK;
		/* A collector not yet listening gives ECONNREFUSED on the next
		 * send; UDP export goes on, as routers do. */
		if (r < 0 && (errno == EINTR))
			continue;
		if (r < 0 && errno == ECONNREFUSED)
			return FLOE_OK;
		return FLOE_IO;
	}
}
