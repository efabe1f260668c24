/*
 * meter.c - decoded packets -> bidirectional flow records (see meter.h).
 *
 * The per-packet path is: advance the clock (expire due wheel slots), map a
 * later fragment to its ports, build the canonical key, one SipHash, probe
 * the table, account.  Nothing on it allocates: every flow lives in the
 * array sized at create time, and a full table evicts the flow closest to
 * its timeout.  Structures are described in meter_int.h.
 *
 * Argus 3.0.8 is the reference for orientation and states; the rules this
 * file follows, and where it departs from Argus, are listed in meter.h.
 *
 * Must not depend on: codec, libpcap; the sink must not call back into the
 * meter (records are emitted from inside add/tick/flush).
 */
#include "meter_int.h"

#include <string.h>

#define SEC INT64_C(1000000000)

_Static_assert(sizeof(struct mkey) == 44, "flow key is packed");
_Static_assert(sizeof(struct mflow) == FLOE_METER_FLOW_BYTES, "per-flow state as documented");

/* ICMP types the meter pairs into one flow (request, reply). */
#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8
#define ICMP6_ECHO 128
#define ICMP6_ECHOREPLY 129
#define ICMP6_NS 135
#define ICMP6_NA 136

#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_ICMP 1
#define PROTO_ICMP6 58

/* TCP sequence arithmetic (RFC 793 section 3.3: modulo 2^32). */
#define SEQ_LT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)

void floe_meter_config_default(struct floe_meter_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->status_interval = 60 * SEC;
	cfg->timeout_tcp = 60 * SEC;
	cfg->timeout_tcp_closed = 5 * SEC;
	cfg->timeout_udp = 30 * SEC;
	cfg->timeout_icmp = 30 * SEC;
	cfg->timeout_other = 30 * SEC;
}

/* ---- sizing ------------------------------------------------------------ */

static uint64_t pow2_at_least(uint64_t n)
{
	uint64_t c = 1024;
	while (c < n)
		c <<= 1;
	return c;
}

/* The largest flow count whose array, table, fragment cache and handle
 * fit FLOE_METER_DEFAULT_MEM. */
static uint64_t default_max_flows(void)
{
	const uint64_t mem = FLOE_METER_DEFAULT_MEM - sizeof(struct floe_meter) -
	                     FRAG_SLOTS * sizeof(struct mfrag);
	uint64_t best = 0;
	for (uint64_t cap = 2048; cap <= (UINT64_C(1) << 31); cap <<= 1) {
		if (cap * sizeof(uint64_t) >= mem)
			break;
		uint64_t n = (mem - cap * sizeof(uint64_t)) / sizeof(struct mflow);
		if (n > cap / 2)
			n = cap / 2;
		if (n > best)
			best = n;
	}
	return best;
}

/* ---- small helpers ----------------------------------------------------- */

static inline uint64_t slot_of(int64_t t)
{
	return t < 0 ? 0 : (uint64_t)t >> WHEEL_SHIFT;
}

static inline int tcp_closed(const struct mflow *f)
{
	return (f->tcpst & TS_RST) ||
	       ((f->tcpst & TS_FIN_S) && (f->tcpst & TS_FIN_D));
}

static int64_t idle_of(const struct floe_meter *m, const struct mflow *f)
{
	if (f->key.etype == FLOE_ETH_ARP)
		return m->cfg.timeout_other;
	switch (f->key.proto) {
	case PROTO_TCP:
		return tcp_closed(f) ? m->cfg.timeout_tcp_closed : m->cfg.timeout_tcp;
	case PROTO_UDP:
		return m->cfg.timeout_udp;
	case PROTO_ICMP:
	case PROTO_ICMP6:
		return m->cfg.timeout_icmp;
	default:
		return m->cfg.timeout_other;
	}
}

static inline uint64_t rec_pkts(const struct mflow *f)
{
	return f->d[0].pkts + f->d[1].pkts;
}

/* When the flow next needs attention: its idle timeout, or the end of its
 * status interval if that comes first. */
static int64_t due_of(const struct floe_meter *m, const struct mflow *f)
{
	int64_t due = f->last + idle_of(m, f);
	if (m->cfg.status_interval && rec_pkts(f)) {
		int64_t s = f->rec_stime + m->cfg.status_interval;
		if (s < due)
			due = s;
	}
	return due;
}

/* ---- states ------------------------------------------------------------ */

static uint8_t icmp4_state(const struct mflow *f)
{
	switch (f->key.kind) {
	case ICMP_ECHO:
		return (f->tcpst & 1) ? FLOE_ST_ECO : FLOE_ST_ECR;
	case 13:
		return (f->tcpst & 1) ? FLOE_ST_TST : FLOE_ST_TSR;
	case 15:
		return (f->tcpst & 1) ? FLOE_ST_IRQ : FLOE_ST_IRR;
	case 17:
		return (f->tcpst & 1) ? FLOE_ST_MSK : FLOE_ST_MSR;
	case 3:
		switch (f->dport) {
		case 0: case 6: case 9: case 11:
			return FLOE_ST_URN;
		case 1: case 7: case 10: case 12:
			return FLOE_ST_URH;
		case 3:
			return FLOE_ST_URP;
		case 4:
			return FLOE_ST_URF;
		default:
			return FLOE_ST_URO;
		}
	case 4: return FLOE_ST_SRC;
	case 5: return FLOE_ST_RED;
	case 9: return FLOE_ST_RTA;
	case 10: return FLOE_ST_RTS;
	case 11: return FLOE_ST_TXD;
	case 12: return FLOE_ST_PAR;
	default: return FLOE_ST_UNK;
	}
}

static uint8_t icmp6_state(const struct mflow *f)
{
	switch (f->key.kind) {
	case ICMP6_ECHO:
		return (f->tcpst & 1) ? FLOE_ST_ECO : FLOE_ST_ECR;
	case ICMP6_NS:
		return (f->tcpst & 1) ? FLOE_ST_NNS : FLOE_ST_NNA;
	case 1: /* RFC 4443 section 3.1 */
		switch (f->dport) {
		case 0: return FLOE_ST_URN;
		case 3: return FLOE_ST_URH;
		case 4: return FLOE_ST_URP;
		default: return FLOE_ST_URO;
		}
	case 2: return FLOE_ST_URF;
	case 3: return FLOE_ST_TXD;
	case 4: return FLOE_ST_PAR;
	case 130: return FLOE_ST_MRQ;
	case 131: case 143: return FLOE_ST_MHR;
	case 132: return FLOE_ST_MHD;
	case 133: return FLOE_ST_NRS;
	case 134: return FLOE_ST_NRA;
	case 137: return FLOE_ST_NRED;
	default: return FLOE_ST_UNK;
	}
}

static uint8_t tcp_state(const struct mflow *f)
{
	uint8_t t = f->tcpst;
	if (t & TS_RST)
		return FLOE_ST_RST;
	/* Argus prints FIN as soon as a FIN is seen (one-way flows with a FIN
	 * show FIN in the reference), so CLO is never produced here. */
	if (t & (TS_FIN_S | TS_FIN_D))
		return FLOE_ST_FIN;
	if (t & (TS_EST | TS_MID))
		return FLOE_ST_CON;
	/* SYN/ACKs answering a SYN, never ACKed: Argus says ACC, however
	 * many were retransmitted */
	if (t & TS_SYNACK)
		return FLOE_ST_ACC;
	if (t & TS_SYN)
		return FLOE_ST_REQ;
	return FLOE_ST_CON;
}

static uint8_t state_of(const struct mflow *f)
{
	if (f->key.etype == FLOE_ETH_ARP) {
		if (f->seen == 3)
			return FLOE_ST_CON;
		return (f->seen & 1) ? FLOE_ST_INT : FLOE_ST_RSP;
	}
	if (f->key.orphan)
		return f->seen == 3 ? FLOE_ST_CON : FLOE_ST_INT;
	switch (f->key.proto) {
	case PROTO_TCP:
		return tcp_state(f);
	case PROTO_ICMP:
		return icmp4_state(f);
	case PROTO_ICMP6:
		return icmp6_state(f);
	default:
		return f->seen == 3 ? FLOE_ST_CON : FLOE_ST_INT;
	}
}

/* ---- records ----------------------------------------------------------- */

static void emit(struct floe_meter *m, const struct mflow *f, uint16_t extra)
{
	struct floe_flow r;
	const struct mdir *s = &f->d[0], *d = &f->d[1];

	memset(&r, 0, sizeof(r));
	r.stime = f->rec_stime;
	r.ltime = f->rec_ltime > f->rec_stime ? f->rec_ltime : f->rec_stime;
	memcpy(r.saddr, f->src_is_a ? f->key.a : f->key.b, 16);
	memcpy(r.daddr, f->src_is_a ? f->key.b : f->key.a, 16);
	r.sport = f->sport;
	r.dport = f->dport;
	r.spkts = s->pkts;
	r.dpkts = d->pkts;
	r.sbytes = s->bytes;
	r.dbytes = d->bytes;
	r.sappbytes = s->appbytes;
	r.dappbytes = d->appbytes;
	r.synack = f->synack;
	r.ackdat = f->ackdat;
	r.sretrans = s->retrans;
	r.dretrans = d->retrans;
	r.sooo = s->ooo;
	r.dooo = d->ooo;
	r.trans = 1;
	r.sensor = m->cfg.sensor;
	r.etype = f->key.etype;
	r.vlan = f->vlan;
	r.flags = f->flags | extra;
	if (s->retrans || d->retrans)
		r.flags |= FLOE_F_RETRANS;
	if (s->ooo || d->ooo)
		r.flags |= FLOE_F_OOO;
	r.proto = f->key.etype == FLOE_ETH_ARP ? 0 : f->key.proto;
	r.ipver = f->ipver;
	r.state = state_of(f);
	r.stcpflags = s->tcpflags;
	r.dtcpflags = d->tcpflags;
	r.sttlmin = s->ttlmin;
	r.sttlmax = s->ttlmax;
	r.dttlmin = d->ttlmin;
	r.dttlmax = d->ttlmax;
	r.stos = s->tos;
	r.dtos = d->tos;
	if (f->have_mac) {
		memcpy(r.smac, f->smac, 6);
		memcpy(r.dmac, f->dmac, 6);
	}
	m->st.records++;
	m->sink(m->ud, &r);
}

/* Emits the current record if it holds packets. */
static void finish(struct floe_meter *m, const struct mflow *f, uint16_t extra)
{
	if (rec_pkts(f))
		emit(m, f, extra);
}

/* Starts a new record of the same flow: counters go, sequence tracking
 * stays (the connection goes on). */
static void reset_counters(struct mflow *f)
{
	for (int i = 0; i < 2; i++) {
		struct mdir *d = &f->d[i];
		d->pkts = d->bytes = d->appbytes = 0;
		d->retrans = d->ooo = 0;
		d->tcpflags = 0;
		d->ttlmin = d->ttlmax = d->tos = 0;
	}
	f->rec_stime = f->rec_ltime = 0;
}

/* ---- timer wheel -------------------------------------------------------- */

static void wheel_unlink(struct floe_meter *m, uint32_t idx)
{
	struct mflow *f = &m->flows[idx];
	if (f->wslot == NOSLOT)
		return;
	if (f->wprev != NIL)
		m->flows[f->wprev].wnext = f->wnext;
	else
		m->wheel[f->wslot] = f->wnext;
	if (f->wnext != NIL)
		m->flows[f->wnext].wprev = f->wprev;
	else
		m->wtail[f->wslot] = f->wprev;
	f->wslot = NOSLOT;
	f->wnext = f->wprev = NIL;
}

/* Clamps a due time to a slot the wheel can hold: not before the current
 * slot, not a full turn ahead (such flows are re-filed when it comes). */
static uint64_t wheel_slot(const struct floe_meter *m, int64_t due)
{
	uint64_t s = slot_of(due);
	if (s < m->wpos)
		s = m->wpos;
	if (s > m->wpos + WHEEL_SLOTS - 1)
		s = m->wpos + WHEEL_SLOTS - 1;
	return s;
}

/* Appends: a slot's list runs from the flow filed first, which is where
 * eviction looks. */
static void wheel_file(struct floe_meter *m, uint32_t idx, uint64_t abs_slot)
{
	struct mflow *f = &m->flows[idx];
	uint32_t s = (uint32_t)(abs_slot & WHEEL_MASK);
	f->wslot = (uint16_t)s;
	f->wnext = NIL;
	f->wprev = m->wtail[s];
	if (f->wprev != NIL)
		m->flows[f->wprev].wnext = idx;
	else
		m->wheel[s] = idx;
	m->wtail[s] = idx;
	if (abs_slot < m->ehint)
		m->ehint = abs_slot;
}

/* ---- table ----------------------------------------------------------------- */

static uint32_t tab_find(const struct floe_meter *m, const struct mkey *k, uint32_t h)
{
	uint32_t i = h & m->tmask;
	for (;;) {
		uint64_t e = m->table[i];
		if (!e)
			return NIL;
		if ((uint32_t)(e >> 32) == h) {
			uint32_t idx = (uint32_t)e - 1;
			if (memcmp(&m->flows[idx].key, k, sizeof(*k)) == 0)
				return idx;
		}
		i = (i + 1) & m->tmask;
	}
}

static void tab_insert(struct floe_meter *m, uint32_t h, uint32_t idx)
{
	uint32_t i = h & m->tmask;
	while (m->table[i])
		i = (i + 1) & m->tmask;
	m->table[i] = ((uint64_t)h << 32) | ((uint64_t)idx + 1);
}

/* Deletes by shifting later entries of the probe run back, so lookups
 * never meet tombstones (Knuth vol. 3, 6.4 Algorithm R). */
static void tab_delete(struct floe_meter *m, uint32_t idx)
{
	uint32_t mask = m->tmask;
	uint32_t i = m->flows[idx].hash & mask;
	while ((uint32_t)m->table[i] != idx + 1)
		i = (i + 1) & mask;
	uint32_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		uint64_t e = m->table[j];
		if (!e)
			break;
		uint32_t home = (uint32_t)(e >> 32) & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->table[i] = e;
			i = j;
		}
	}
	m->table[i] = 0;
}

/* Takes a flow out of the table and the wheel and frees its entry. */
static void flow_remove(struct floe_meter *m, uint32_t idx)
{
	struct mflow *f = &m->flows[idx];
	tab_delete(m, idx);
	wheel_unlink(m, idx);
	f->live = 0;
	f->wnext = m->free_head;
	m->free_head = idx;
	m->st.live--;
}

/* Handles a flow whose wheel slot came up: expire it, emit its status
 * record, or re-file it at its real due time. */
static void wheel_visit(struct floe_meter *m, uint32_t idx, int64_t now)
{
	struct mflow *f = &m->flows[idx];
	if (now - f->last > idle_of(m, f)) {
		finish(m, f, 0);
		flow_remove(m, idx);
		return;
	}
	if (m->cfg.status_interval && rec_pkts(f) &&
	    now - f->rec_stime >= m->cfg.status_interval) {
		emit(m, f, FLOE_F_STATUS);
		reset_counters(f);
	}
	wheel_file(m, idx, wheel_slot(m, due_of(m, f)));
}

/* Processes every slot that ended before now.  A jump of more than a
 * turn visits each slot once: everything filed has been seen then. */
static void wheel_advance(struct floe_meter *m, int64_t now)
{
	uint64_t target = slot_of(now);
	if (target <= m->wpos)
		return;
	uint64_t n = target - m->wpos;
	if (n > WHEEL_SLOTS)
		n = WHEEL_SLOTS;
	uint64_t start = m->wpos;
	m->wpos = target;
	for (uint64_t i = 0; i < n; i++) {
		uint32_t s = (uint32_t)((start + i) & WHEEL_MASK);
		uint32_t idx = m->wheel[s];
		m->wheel[s] = m->wtail[s] = NIL;
		while (idx != NIL) {
			struct mflow *f = &m->flows[idx];
			uint32_t next = f->wnext;
			f->wslot = NOSLOT;
			f->wnext = f->wprev = NIL;
			wheel_visit(m, idx, now);
			idx = next;
		}
	}
}

/* The table is full: flush the flow nearest its timeout (the least
 * recently active one for its protocol).  The first slot holding a flow
 * that is really due there gives up to EVICT_SAMPLE candidates and the one
 * with the earliest due time goes, so a busy flow filed beside idle ones
 * is not the one taken.  Flows filed early because they were active since
 * are re-filed on the way, which their packets paid for.  Returns with one
 * entry on the free list. */
#define EVICT_SAMPLE 4

static void evict(struct floe_meter *m, uint32_t idx)
{
	if (!m->st.evicted)
		floe_logf(m->cfg.log, FLOE_LOG_WARN,
		          "flow table full (%u flows): evicting flows early",
		          m->nflows);
	finish(m, &m->flows[idx], FLOE_F_EVICTED);
	flow_remove(m, idx);
	m->st.evicted++;
}

static void evict_one(struct floe_meter *m)
{
	/* Slots below ehint are known empty, so a flood does not rescan
	 * them for every eviction. */
	uint64_t from = m->ehint > m->wpos ? m->ehint : m->wpos;
	for (uint64_t s = from; s < m->wpos + WHEEL_SLOTS; s++) {
		uint32_t slot = (uint32_t)(s & WHEEL_MASK);
		m->ehint = s;
		uint32_t idx = m->wheel[slot], best = NIL;
		int64_t best_due = 0;
		int seen = 0;
		while (idx != NIL && seen < EVICT_SAMPLE) {
			struct mflow *f = &m->flows[idx];
			uint32_t next = f->wnext;
			int64_t due = due_of(m, f);
			uint64_t ds = wheel_slot(m, due);
			if (ds > s) {
				/* a later slot, never this list again */
				wheel_unlink(m, idx);
				wheel_file(m, idx, ds);
			} else {
				seen++;
				if (best == NIL || due < best_due) {
					best = idx;
					best_due = due;
				}
			}
			idx = next;
		}
		if (best != NIL) {
			evict(m, best);
			return;
		}
	}
}

static uint32_t flow_alloc(struct floe_meter *m)
{
	if (m->free_head == NIL) {
		if (m->bump < m->nflows)
			return m->bump++;
		evict_one(m);
		/* Every live flow is filed in the wheel, so eviction always
		 * finds one; should it not, any live flow will do rather than
		 * an out-of-bounds index. */
		if (m->free_head == NIL) {
			m->ehint = m->wpos;
			evict(m, 0);
		}
	}
	uint32_t idx = m->free_head;
	m->free_head = m->flows[idx].wnext;
	return idx;
}

/* ---- keys ------------------------------------------------------------------ */

/* What a packet says about its flow before canonical ordering. */
struct pview {
	uint16_t sp, dp;   /* key ports as sent */
	uint8_t kind;
	uint8_t reply;     /* 1: ICMP/ARP answer, 2: ICMP request */
};

static void icmp_view(const struct floe_pkt *p, struct pview *v)
{
	uint8_t type = (uint8_t)p->sport, code = (uint8_t)p->dport;
	int req = -1;          /* -1: not paired */
	uint8_t kind = type;
	uint16_t id = p->icmp_id;

	if (p->proto == PROTO_ICMP) {
		switch (type) {
		case ICMP_ECHO: case 13: case 15: case 17:
			req = 1;
			break;
		case ICMP_ECHOREPLY:
			req = 0;
			kind = ICMP_ECHO;
			break;
		case 14: case 16: case 18:
			req = 0;
			kind = (uint8_t)(type - 1);
			break;
		}
	} else {
		switch (type) {
		case ICMP6_ECHO:
			req = 1;
			break;
		case ICMP6_ECHOREPLY:
			req = 0;
			kind = ICMP6_ECHO;
			break;
		case ICMP6_NS:   /* NS and NA have no id: pair by addresses */
			req = 1;
			id = 0;
			break;
		case ICMP6_NA:
			req = 0;
			kind = ICMP6_NS;
			id = 0;
			break;
		}
	}
	v->kind = kind;
	if (req < 0) {
		v->sp = code;
		v->dp = 0;
		v->reply = 0;
	} else if (req) {
		v->sp = id;
		v->dp = 0;
		v->reply = 2;
	} else {
		v->sp = 0;
		v->dp = id;
		v->reply = 1;
	}
}

/* Builds the canonical key; returns 1 if the packet travels a -> b. */
static int key_build(const struct floe_meter *m, const struct floe_pkt *p,
                     int orphan, struct mkey *k, struct pview *v)
{
	const uint8_t *sa = p->saddr, *da = p->daddr;

	memset(k, 0, sizeof(*k));
	memset(v, 0, sizeof(*v));
	k->etype = p->etype;
	k->orphan = (uint8_t)orphan;
	if (!m->cfg.ignore_vlan && (p->flags & FLOE_PKT_VLAN))
		k->vlan = p->vlan;
	if (p->etype == FLOE_ETH_ARP) {
		/* A reply runs against its request: (1,0) asks, (0,1) answers. */
		v->reply = p->arp_op == FLOE_ARP_REPLY;
		v->sp = v->reply ? 0 : 1;
		v->dp = v->reply ? 1 : 0;
	} else {
		k->proto = p->proto;
		if (orphan) {
			/* no ports: all orphans between two hosts share a flow */
		} else if (p->proto == PROTO_ICMP || p->proto == PROTO_ICMP6) {
			icmp_view(p, v);
		} else {
			v->sp = p->sport;
			v->dp = p->dport;
		}
	}
	k->kind = v->kind;
	int c = memcmp(sa, da, 16);
	if (c < 0 || (c == 0 && v->sp <= v->dp)) {
		memcpy(k->a, sa, 16);
		memcpy(k->b, da, 16);
		k->ap = v->sp;
		k->bp = v->dp;
		return 1;
	}
	memcpy(k->a, da, 16);
	memcpy(k->b, sa, 16);
	k->ap = v->dp;
	k->bp = v->sp;
	return 0;
}

/* ---- flows ------------------------------------------------------------------ */

/* Sets up a fresh record of a flow from the packet that opens it and
 * decides who the source is (meter.h lists the rules). */
static void flow_init(struct floe_meter *m, struct mflow *f,
                      const struct floe_pkt *p, int sender_is_a,
                      const struct pview *v, int orphan)
{
	int src_is_sender = 1;
	uint16_t flags = 0;

	if (p->etype == FLOE_ETH_ARP) {
		/* Argus orients an unanswered reply from the asker's side. */
		src_is_sender = !v->reply;
	} else if (p->proto == PROTO_TCP && !orphan) {
		uint8_t fl = p->tcpflags;
		if (!(p->flags & FLOE_PKT_L4)) {
			flags |= FLOE_F_DIRUNK;
		} else if ((fl & (FLOE_TCP_SYN | FLOE_TCP_ACK)) == FLOE_TCP_SYN) {
			/* the initiator: nothing to guess */
		} else if (fl & FLOE_TCP_SYN) {
			/* a SYN/ACK answers a SYN the sensor missed */
			src_is_sender = 0;
			flags |= FLOE_F_DIRUNK;
		} else {
			/* mid-stream: a service port answers a client port */
			if (p->sport < 1024 && p->dport >= 1024)
				src_is_sender = 0;
			flags |= FLOE_F_DIRUNK;
		}
	}

	uint8_t keep_live = f->live;
	struct mkey key = f->key;
	uint32_t hash = f->hash, wn = f->wnext, wp = f->wprev;
	uint16_t ws = f->wslot;
	memset(f, 0, sizeof(*f));
	f->key = key;
	f->hash = hash;
	f->wnext = wn;
	f->wprev = wp;
	f->wslot = ws;
	f->live = keep_live;

	f->src_is_a = (uint8_t)(src_is_sender ? sender_is_a : !sender_is_a);
	f->flags = flags;
	f->ipver = p->ipver;
	if (orphan)
		f->flags |= FLOE_F_FRAGPART;
	if (p->etype == FLOE_ETH_ARP || orphan) {
		f->sport = f->dport = 0;
	} else if (p->proto == PROTO_ICMP || p->proto == PROTO_ICMP6) {
		f->sport = p->sport;   /* type */
		f->dport = p->dport;   /* code */
	} else if (src_is_sender) {
		f->sport = p->sport;
		f->dport = p->dport;
	} else {
		f->sport = p->dport;
		f->dport = p->sport;
	}
	f->last = p->ts;
	m->st.flows_created++;
}

/* TCP: connection progress, setup times and sequence tracking.  dir 0 is
 * the source. */
static void tcp_account(struct mflow *f, struct mdir *d, const struct floe_pkt *p,
                        int dir)
{
	uint8_t fl = p->tcpflags;
	int64_t ts = p->ts;

	if (fl & FLOE_TCP_RST)
		f->tcpst |= TS_RST;
	if (fl & FLOE_TCP_FIN)
		f->tcpst |= dir ? TS_FIN_D : TS_FIN_S;
	if ((fl & (FLOE_TCP_SYN | FLOE_TCP_ACK)) == FLOE_TCP_SYN) {
		if (dir == 0 && !(f->tcpst & TS_SYN)) {
			f->tcpst |= TS_SYN;
			f->syn_ts = ts;
			f->syn_seq = p->seq;
		}
	} else if ((fl & (FLOE_TCP_SYN | FLOE_TCP_ACK)) ==
	           (FLOE_TCP_SYN | FLOE_TCP_ACK)) {
		if (dir == 1 && !(f->tcpst & TS_SYNACK)) {
			f->tcpst |= TS_SYNACK;
			f->synack_ts = ts;
			if ((f->tcpst & TS_SYN) && ts > f->syn_ts)
				f->synack = ts - f->syn_ts;
		}
	} else if ((fl & FLOE_TCP_ACK) && dir == 0 &&
	           (f->tcpst & (TS_SYN | TS_SYNACK)) == (TS_SYN | TS_SYNACK) &&
	           !(f->tcpst & TS_EST)) {
		f->tcpst |= TS_EST;
		if (ts > f->synack_ts)
			f->ackdat = ts - f->synack_ts;
	}

	/* Data: a segment wholly below the highest sequence seen is a
	 * retransmission (not application bytes); one above the next
	 * expected byte is out of order and leaves a hole, which a late
	 * segment may fill (counted once, as out of order). */
	uint32_t start = p->seq + ((fl & FLOE_TCP_SYN) ? 1u : 0u);
	uint32_t len = p->paylen;
	if (fl & FLOE_TCP_RST) {
		/* A RST's data (a reason text) is not part of the stream and
		 * repeats with the same sequence number on every reset: count
		 * it, as Argus does, without sequence checks. */
		d->appbytes += len;
		return;
	}
	if (!d->seqok) {
		d->seqok = 1;
		d->nxt = start;
	}
	if (len) {
		uint32_t end = start + len;
		if (SEQ_LEQ(end, d->nxt)) {
			if (d->hole_lo != d->hole_hi && SEQ_LEQ(d->hole_lo, start) &&
			    SEQ_LEQ(end, d->hole_hi)) {
				d->ooo++;
				d->appbytes += len;
				if (start == d->hole_lo)
					d->hole_lo = end;
				else if (end == d->hole_hi)
					d->hole_hi = start;
				if (!SEQ_LT(d->hole_lo, d->hole_hi))
					d->hole_lo = d->hole_hi = 0;
			} else {
				d->retrans++;
			}
		} else if (SEQ_LT(d->nxt, start)) {
			d->ooo++;
			d->appbytes += len;
			d->hole_lo = d->nxt;
			d->hole_hi = start;
			d->nxt = end;
		} else {
			d->appbytes += end - d->nxt;
			d->nxt = end;
		}
	}
	if (fl & FLOE_TCP_FIN) {
		uint32_t e = start + len + 1;
		if (SEQ_LT(d->nxt, e))
			d->nxt = e;
	}
}

static void account(struct floe_meter *m, uint32_t idx, const struct floe_pkt *p,
                    int dir, int l4)
{
	struct mflow *f = &m->flows[idx];
	struct mdir *d = &f->d[dir];
	int64_t ts = p->ts;

	if (!rec_pkts(f)) {
		f->rec_stime = f->rec_ltime = ts;
	} else {
		if (ts < f->rec_stime)
			f->rec_stime = ts;
		if (ts > f->rec_ltime)
			f->rec_ltime = ts;
	}
	if (ts > f->last)
		f->last = ts;

	if (d->pkts == 0) {
		d->ttlmin = d->ttlmax = p->ttl;
		d->tos = p->tos;
	} else {
		if (p->ttl < d->ttlmin)
			d->ttlmin = p->ttl;
		if (p->ttl > d->ttlmax)
			d->ttlmax = p->ttl;
	}
	d->pkts++;
	d->bytes += p->wirelen;
	f->seen |= (uint8_t)(1u << dir);

	if (p->flags & FLOE_PKT_MAC) {
		const uint8_t *sm = dir ? p->dmac : p->smac;
		const uint8_t *dm = dir ? p->smac : p->dmac;
		if (!f->have_mac) {
			f->have_mac = 1;
			memcpy(f->smac, sm, 6);
			memcpy(f->dmac, dm, 6);
			f->flags |= FLOE_F_MAC;
		} else if (memcmp(f->smac, sm, 6) || memcmp(f->dmac, dm, 6)) {
			f->flags |= FLOE_F_MULTIMAC;
		}
	}
	if ((p->flags & FLOE_PKT_VLAN) && !(f->flags & FLOE_F_VLAN)) {
		f->flags |= FLOE_F_VLAN;
		f->vlan = p->vlan;
	}
	if (p->flags & FLOE_PKT_MPLS)
		f->flags |= FLOE_F_MPLS;
	if (p->flags & FLOE_PKT_FRAG)
		f->flags |= FLOE_F_FRAG;

	if (p->etype != FLOE_ETH_ARP && p->proto == PROTO_TCP && l4) {
		uint8_t was_closed = (uint8_t)tcp_closed(f);
		d->tcpflags |= p->tcpflags;
		tcp_account(f, d, p, dir);
		/* A close shortens the flow's timeout: re-file it now, the
		 * one change the lazy wheel cannot wait for. */
		if (!was_closed && tcp_closed(f)) {
			wheel_unlink(m, idx);
			wheel_file(m, idx, wheel_slot(m, due_of(m, f)));
		}
	} else {
		d->appbytes += p->paylen;
	}
}

/* ---- fragments ---------------------------------------------------------------- */

struct fkey {
	uint8_t s[16], d[16];
	uint32_t fragid;
	uint8_t proto, pad[3];
};

static struct mfrag *frag_slot(const struct floe_meter *m, const struct floe_pkt *p)
{
	struct fkey k;
	memset(&k, 0, sizeof(k));
	memcpy(k.s, p->saddr, 16);
	memcpy(k.d, p->daddr, 16);
	k.fragid = p->fragid;
	k.proto = p->proto;
	uint64_t h = floe_hash(&m->hkey, &k, sizeof(k));
	return &m->frags[h & (FRAG_SLOTS - 1)];
}

static int frag_match(const struct mfrag *e, const struct floe_pkt *p)
{
	return e->valid && e->fragid == p->fragid && e->proto == p->proto &&
	       memcmp(e->s, p->saddr, 16) == 0 && memcmp(e->d, p->daddr, 16) == 0;
}

/* How long a first fragment's ports are kept for its followers. */
#define FRAG_TTL (30 * SEC)

static void frag_remember(struct floe_meter *m, const struct floe_pkt *p)
{
	struct mfrag *e = frag_slot(m, p);
	memcpy(e->s, p->saddr, 16);
	memcpy(e->d, p->daddr, 16);
	e->fragid = p->fragid;
	e->proto = p->proto;
	e->valid = 1;
	e->sport = p->sport;
	e->dport = p->dport;
	e->icmp_id = p->icmp_id;
	e->ts = p->ts;
}

/* ---- the per-packet path ---------------------------------------------------- */

static void clock_to(struct floe_meter *m, int64_t t)
{
	if (!m->clock_set) {
		m->clock_set = 1;
		m->now = t;
		m->wpos = slot_of(t);
		return;
	}
	if (t < m->now)
		return;
	m->now = t;
	wheel_advance(m, t);
}

void floe_meter_add(struct floe_meter *m, const struct floe_pkt *pkt)
{
	const struct floe_pkt *p = pkt;
	struct floe_pkt q;
	int orphan = 0, l4 = (pkt->flags & FLOE_PKT_L4) != 0;

	m->st.packets++;
	if (m->clock_set && pkt->ts < m->now)
		m->st.time_backwards++;
	clock_to(m, pkt->ts);

	if (pkt->etype != FLOE_ETH_ARP && (pkt->flags & FLOE_PKT_FRAG)) {
		if (pkt->flags & FLOE_PKT_FRAG_FIRST) {
			if (l4)
				frag_remember(m, pkt);
		} else {
			struct mfrag *e = frag_slot(m, pkt);
			l4 = 0;
			if (frag_match(e, pkt) && pkt->ts - e->ts <= FRAG_TTL &&
			    e->ts - pkt->ts <= FRAG_TTL) {
				q = *pkt;
				q.sport = e->sport;
				q.dport = e->dport;
				q.icmp_id = e->icmp_id;
				p = &q;
			} else {
				orphan = 1;
				m->st.frag_orphans++;
			}
		}
	}

	struct mkey k;
	struct pview v;
	int sender_is_a = key_build(m, p, orphan, &k, &v);
	uint32_t h = (uint32_t)floe_hash(&m->hkey, &k, sizeof(k));
	uint32_t idx = tab_find(m, &k, h);
	struct mflow *f;

	if (idx == NIL) {
		idx = flow_alloc(m);
		f = &m->flows[idx];
		f->key = k;
		f->hash = h;
		f->live = 1;
		f->wslot = NOSLOT;
		f->wnext = f->wprev = NIL;
		flow_init(m, f, p, sender_is_a, &v, orphan);
		tab_insert(m, h, idx);
		m->st.live++;
	} else {
		f = &m->flows[idx];
		int64_t ts = p->ts;
		int restart = ts - f->last > idle_of(m, f);
		/* Port reuse: a SYN with a new ISN after a FIN or RST opens a new
		 * connection.  The same ISN is the client retrying (SYN, RST,
		 * SYN, RST...), which Argus keeps in one record. */
		if (!restart && k.proto == PROTO_TCP && l4 && k.etype != FLOE_ETH_ARP &&
		    (p->tcpflags & (FLOE_TCP_SYN | FLOE_TCP_ACK)) == FLOE_TCP_SYN &&
		    (f->tcpst & (TS_RST | TS_FIN_S | TS_FIN_D)) &&
		    !((f->tcpst & TS_SYN) && p->seq == f->syn_seq))
			restart = 1;
		if (restart) {
			finish(m, f, 0);
			flow_init(m, f, p, sender_is_a, &v, orphan);
		} else if (m->cfg.status_interval && rec_pkts(f) &&
		           ts - f->rec_stime >= m->cfg.status_interval) {
			emit(m, f, FLOE_F_STATUS);
			reset_counters(f);
		}
	}

	int from_a = sender_is_a;
	int dir = (from_a == f->src_is_a) ? 0 : 1;
	if (v.reply == 2)
		f->tcpst |= 1;   /* ICMP: a request was seen */
	if (k.etype != FLOE_ETH_ARP && (k.proto == PROTO_ICMP || k.proto == PROTO_ICMP6) && v.reply == 1)
		f->tcpst |= 2;
	account(m, idx, p, dir, l4);
	if (f->wslot == NOSLOT)
		wheel_file(m, idx, wheel_slot(m, due_of(m, f)));
}

void floe_meter_tick(struct floe_meter *m, int64_t now)
{
	clock_to(m, now);
}

void floe_meter_flush(struct floe_meter *m)
{
	for (uint32_t i = 0; i < m->bump; i++) {
		struct mflow *f = &m->flows[i];
		if (f->live) {
			finish(m, f, 0);
			f->live = 0;
		}
	}
	if (m->st.live)
		memset(m->table, 0, ((size_t)m->tmask + 1) * sizeof(uint64_t));
	for (uint32_t s = 0; s < WHEEL_SLOTS; s++)
		m->wheel[s] = m->wtail[s] = NIL;
	m->bump = 0;
	m->free_head = NIL;
	m->st.live = 0;
}

/* ---- lifecycle ---------------------------------------------------------------- */

static size_t table_bytes(const struct floe_meter *m)
{
	return ((size_t)m->tmask + 1) * sizeof(uint64_t);
}

struct floe_meter *floe_meter_create(const struct floe_meter_config *cfg,
                                     floe_flow_sink sink, void *ud,
                                     enum floe_err *err)
{
	struct floe_meter_config c;
	struct floe_meter_config def;

	floe_meter_config_default(&def);
	c = *cfg;
	if (!sink || c.status_interval < 0 || c.timeout_tcp < 0 ||
	    c.timeout_tcp_closed < 0 || c.timeout_udp < 0 || c.timeout_icmp < 0 ||
	    c.timeout_other < 0 || c.max_flows > FLOE_METER_MAX_FLOWS) {
		*err = FLOE_INVALID;
		return NULL;
	}
	if (!c.max_flows)
		c.max_flows = default_max_flows();
	if (!c.timeout_tcp)
		c.timeout_tcp = def.timeout_tcp;
	if (!c.timeout_tcp_closed)
		c.timeout_tcp_closed = def.timeout_tcp_closed;
	if (!c.timeout_udp)
		c.timeout_udp = def.timeout_udp;
	if (!c.timeout_icmp)
		c.timeout_icmp = def.timeout_icmp;
	if (!c.timeout_other)
		c.timeout_other = def.timeout_other;

	struct floe_meter *m = floe_calloc(c.budget, 1, sizeof(*m));
	if (!m) {
		*err = FLOE_NOMEM;
		return NULL;
	}
	m->cfg = c;
	m->sink = sink;
	m->ud = ud;
	m->nflows = (uint32_t)c.max_flows;
	uint64_t cap = pow2_at_least(c.max_flows * 2);
	m->tmask = (uint32_t)(cap - 1);
	m->flows = floe_calloc(c.budget, m->nflows, sizeof(struct mflow));
	m->table = floe_calloc(c.budget, cap, sizeof(uint64_t));
	m->frags = floe_calloc(c.budget, FRAG_SLOTS, sizeof(struct mfrag));
	if (!m->flows || !m->table || !m->frags) {
		floe_meter_destroy(m);
		*err = FLOE_NOMEM;
		return NULL;
	}
	if (floe_hashkey_random(&m->hkey) < 0) {
		floe_meter_destroy(m);
		*err = FLOE_IO;
		return NULL;
	}
	for (uint32_t s = 0; s < WHEEL_SLOTS; s++)
		m->wheel[s] = m->wtail[s] = NIL;
	m->free_head = NIL;
	m->st.max_flows = c.max_flows;
	m->st.mem_bytes = sizeof(*m) + (size_t)m->nflows * sizeof(struct mflow) +
	                  table_bytes(m) + FRAG_SLOTS * sizeof(struct mfrag);
	*err = FLOE_OK;
	return m;
}

void floe_meter_destroy(struct floe_meter *m)
{
	if (!m)
		return;
	struct floe_budget *b = m->cfg.budget;
	if (m->flows)
		floe_free(b, m->flows, (size_t)m->nflows * sizeof(struct mflow));
	if (m->table)
		floe_free(b, m->table, table_bytes(m));
	if (m->frags)
		floe_free(b, m->frags, FRAG_SLOTS * sizeof(struct mfrag));
	floe_free(b, m, sizeof(*m));
}

void floe_meter_stats(const struct floe_meter *m, struct floe_meter_stats *st)
{
	*st = m->st;
}
