/*
 * fuzz_decode.c - fuzz target for floe_decode (decode/decode.h).
 *
 * The first input byte picks a link type from the supported list (modulo
 * its length, so every byte value is useful); the rest is the frame.  The
 * wire length is the captured length plus a second byte's worth of slack
 * when present, so the TSO/jumbo paths that consult wirelen are reached.
 * Checks the contract's invariants beyond "no crash": a result in range
 * with a name, and fields that only make sense for decoded packets.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int linktypes[] = {1, 113, 276, 12, 14, 101, 228, 229, 0, 108};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int lt = linktypes[data[0] % (sizeof(linktypes) / sizeof(linktypes[0]))];
	/* Copy the frame to an exact-size heap buffer so ASan sees any read
	 * past the captured bytes. */
	size_t n = size - 1;
	uint8_t *frame = malloc(n ? n : 1);
	if (!frame)
		return 0;
	if (n)
		memcpy(frame, data + 1, n);
	uint32_t wire = (uint32_t)n + (data[0] >> 4) * 97u;

	struct floe_pkt pkt;
	enum floe_dec_result r = floe_decode(&pkt, lt, frame, n, wire, 1);
	if ((unsigned)r >= FLOE_DEC__COUNT || !floe_dec_result_name(r))
		abort();
	if (r == FLOE_DEC_OK) {
		if (pkt.ipver != 4 && pkt.ipver != 6 && !(pkt.flags & FLOE_PKT_ARP))
			abort();
		if ((pkt.flags & FLOE_PKT_L4) && (pkt.flags & FLOE_PKT_L4_TRUNC))
			abort();
		if ((pkt.flags & FLOE_PKT_FRAG_FIRST) && !(pkt.flags & FLOE_PKT_FRAG))
			abort();
		if (pkt.ipver == 4 && pkt.paylen > pkt.l3len)
			abort();
	}
	free(frame);
	return 0;
}
