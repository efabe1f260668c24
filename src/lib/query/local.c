/*
 * local.c - orienting records to the local networks (local.h).
 */
#include "query/local.h"

#include <string.h>

#define SWAP(a, b) do { __typeof__(a) t_ = (a); (a) = (b); (b) = t_; } while (0)

static void swap_bytes(uint8_t *a, uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t t = a[i];
		a[i] = b[i];
		b[i] = t;
	}
}

void floe_flow_reverse(struct floe_flow *f)
{
	swap_bytes(f->saddr, f->daddr, 16);
	swap_bytes(f->smac, f->dmac, 6);
	if (f->proto != 1 && f->proto != 58)
		SWAP(f->sport, f->dport);
	SWAP(f->spkts, f->dpkts);
	SWAP(f->sbytes, f->dbytes);
	SWAP(f->sappbytes, f->dappbytes);
	SWAP(f->sretrans, f->dretrans);
	SWAP(f->sooo, f->dooo);
	SWAP(f->sas, f->das);
	SWAP(f->inif, f->outif);
	SWAP(f->stcpflags, f->dtcpflags);
	SWAP(f->sttlmin, f->dttlmin);
	SWAP(f->sttlmax, f->dttlmax);
	SWAP(f->stos, f->dtos);
}

bool floe_flow_orient_local(struct floe_flow *f, const struct floe_netset *local)
{
	if (!local || floe_netset_contains(local, f->saddr) || !floe_netset_contains(local, f->daddr))
		return false;
	floe_flow_reverse(f);
	return true;
}
