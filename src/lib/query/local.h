/*
 * local.h - orienting records to the local networks (--local).
 *
 * A record's source is its initiator.  For per-host accounting operators
 * want the local side instead, whoever initiated: floe_flow_orient_local
 * swaps the two sides of a record whose destination is local and whose
 * source is not, so that afterwards the catalog's local fields (kind
 * FLOE_FK_LOCAL: laddr, raddr, lport, rport, outbytes, inbytes, outpkts,
 * inpkts) read the source as the local side and the destination as the
 * remote one.  When both sides are local, or neither, the record is left as
 * it is: laddr is the initiator, and outbytes what it sent.
 *
 * Must not depend on anything but flow.h and util/netset.h.
 */
#ifndef FLOE_QUERY_LOCAL_H
#define FLOE_QUERY_LOCAL_H

#include <stdbool.h>

#include "flow.h"
#include "util/netset.h"

/* Orients f in place; returns true if it swapped the sides. */
bool floe_flow_orient_local(struct floe_flow *f, const struct floe_netset *local);

/* Swaps initiator and responder of f: addresses, ports (not ICMP type and
 * code), and every per-direction counter and attribute. */
void floe_flow_reverse(struct floe_flow *f);

#endif
