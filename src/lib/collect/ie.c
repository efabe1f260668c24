/*
 * ie.c - the information elements floe maps into struct floe_flow.
 *
 * One static table of IANA IPFIX Information Elements ("IP Flow
 * Information Export (IPFIX) Entities" registry, RFC 7012 section 4); the
 * NetFlow v9 field types 1..127 are the same numbers (RFC 3954 section 8).
 * An element not in the table is skipped by its length, whatever its
 * enterprise.  RFC 5103 reverse elements (enterprise 29305) map the
 * counters, flags and TOS of the table to the destination direction.
 * docs/collect.md lists the same mapping for users.
 */
#include "collect_int.h"

static const struct floe_ie {
	uint16_t id;
	uint8_t act;
	uint8_t rev;        /* action of the RFC 5103 reverse element; 0 = skip */
	const char *name;
} ie_table[] = {
	{1, IE_SBYTES, IE_DBYTES, "octetDeltaCount"},
	{2, IE_SPKTS, IE_DPKTS, "packetDeltaCount"},
	{4, IE_PROTO, 0, "protocolIdentifier"},
	{5, IE_STOS, IE_DTOS, "ipClassOfService"},
	{6, IE_STCPF, IE_DTCPF, "tcpControlBits"},
	{7, IE_SPORT, 0, "sourceTransportPort"},
	{8, IE_SRC4, 0, "sourceIPv4Address"},
	{10, IE_INIF, 0, "ingressInterface"},
	{11, IE_DPORT, 0, "destinationTransportPort"},
	{12, IE_DST4, 0, "destinationIPv4Address"},
	{14, IE_OUTIF, 0, "egressInterface"},
	{15, IE_NH4, 0, "ipNextHopIPv4Address"},
	{16, IE_SAS, 0, "bgpSourceAsNumber"},
	{17, IE_DAS, 0, "bgpDestinationAsNumber"},
	{18, IE_BGPNH4, 0, "bgpNextHopIPv4Address"},
	{21, IE_LAST_UP, 0, "flowEndSysUpTime"},
	{22, IE_FIRST_UP, 0, "flowStartSysUpTime"},
	{27, IE_SRC6, 0, "sourceIPv6Address"},
	{28, IE_DST6, 0, "destinationIPv6Address"},
	{32, IE_ICMP_TC, 0, "icmpTypeCodeIPv4"},
	{34, IE_SAMP_INTERVAL, 0, "samplingInterval"},
	{48, IE_SAMPLER_ID, 0, "samplerId"},
	{50, IE_SAMP_INTERVAL, 0, "samplerRandomInterval"},
	{52, IE_STTLMIN, IE_DTTLMIN, "minimumTTL"},
	{53, IE_STTLMAX, IE_DTTLMAX, "maximumTTL"},
	{56, IE_SMAC, 0, "sourceMacAddress"},
	{58, IE_VLAN, 0, "vlanId"},
	{60, IE_IPVER, 0, "ipVersion"},
	{62, IE_NH6, 0, "ipNextHopIPv6Address"},
	{63, IE_BGPNH6, 0, "bgpNextHopIPv6Address"},
	{80, IE_DMAC, 0, "destinationMacAddress"},
	{85, IE_SBYTES, IE_DBYTES, "octetTotalCount"},
	{86, IE_SPKTS, IE_DPKTS, "packetTotalCount"},
	{139, IE_ICMP_TC, 0, "icmpTypeCodeIPv6"},
	{150, IE_START_S, 0, "flowStartSeconds"},
	{151, IE_END_S, 0, "flowEndSeconds"},
	{152, IE_START_MS, 0, "flowStartMilliseconds"},
	{153, IE_END_MS, 0, "flowEndMilliseconds"},
	{154, IE_START_US, 0, "flowStartMicroseconds"},
	{155, IE_END_US, 0, "flowEndMicroseconds"},
	{156, IE_START_NS, 0, "flowStartNanoseconds"},
	{157, IE_END_NS, 0, "flowEndNanoseconds"},
	{158, IE_START_DUS, 0, "flowStartDeltaMicroseconds"},
	{159, IE_END_DUS, 0, "flowEndDeltaMicroseconds"},
	{160, IE_SYSINIT_MS, 0, "systemInitTimeMilliseconds"},
	{176, IE_ICMP_TYPE, 0, "icmpTypeIPv4"},
	{177, IE_ICMP_CODE, 0, "icmpCodeIPv4"},
	{178, IE_ICMP_TYPE, 0, "icmpTypeIPv6"},
	{179, IE_ICMP_CODE, 0, "icmpCodeIPv6"},
	{252, IE_INPHYS, 0, "ingressPhysicalInterface"},
	{253, IE_OUTPHYS, 0, "egressPhysicalInterface"},
	{256, IE_ETYPE, 0, "ethernetType"},
	{302, IE_SAMPLER_ID, 0, "selectorId"},
	{305, IE_SAMP_PKT_INTERVAL, 0, "samplingPacketInterval"},
	{306, IE_SAMP_PKT_SPACE, 0, "samplingPacketSpace"},
	{309, IE_SAMP_SIZE, 0, "samplingSize"},
	{310, IE_SAMP_POP, 0, "samplingPopulation"},
};

#define RFC5103_PEN 29305u

static const struct floe_ie *ie_find(uint16_t id)
{
	size_t lo = 0, hi = sizeof(ie_table) / sizeof(ie_table[0]);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (ie_table[mid].id == id)
			return &ie_table[mid];
		if (ie_table[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

uint8_t floe_ie_action(uint16_t id, uint32_t pen, bool v9scope)
{
	if (v9scope)
		return IE_SKIP;
	const struct floe_ie *e = ie_find(id);
	if (!e)
		return IE_SKIP;
	if (pen == 0)
		return e->act;
	if (pen == RFC5103_PEN)
		return e->rev;
	return IE_SKIP;
}

const char *floe_ie_name(uint16_t id)
{
	const struct floe_ie *e = ie_find(id);
	return e ? e->name : "";
}
