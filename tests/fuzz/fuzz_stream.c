/*
 * fuzz_stream.c - fuzz target for the stream protocol's decoders
 * (docs/stream.md): the input is read as a connection's bytes, frame after
 * frame, each payload decoded as its type says (hello, block, status,
 * seen, error), and also given whole to the hello, status and seen
 * decoders.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "net/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct floe_flow out[FLOE_BLOCK_MAX_RECORDS];

static void payload(uint8_t type, const uint8_t *p, size_t len)
{
	struct floe_errbuf eb = {0};
	struct floe_stream_hello h;
	struct floe_stream_status st;
	size_t n, used;
	uint64_t sum = 0;
	switch (type) {
	case FLOE_SF_HELLO:
		if (floe_stream_hello_decode(p, len, &h, &eb) == FLOE_OK) {
			for (size_t i = 0; i < h.nresume; i++)
				sum += floe_stream_hello_resume(&h, i).seq;
			for (size_t i = 0; i < h.token_len; i++)
				sum += (uint8_t)h.token[i];
			for (size_t i = 0; i < h.filter_len; i++)
				sum += (uint8_t)h.filter[i];
			if (strlen(h.instance) > FLOE_STREAM_INSTANCE_MAX)
				abort();
		}
		break;
	case FLOE_SF_BLOCK:
		if (floe_block_decode(p, len, out, &n, &used, &eb) == FLOE_OK) {
			if (n == 0 || used > len)
				abort();
			for (size_t i = 0; i < n; i++)
				sum += out[i].seq;
		}
		break;
	case FLOE_SF_STATUS:
		if (floe_stream_status_decode(p, len, &st, &eb) == FLOE_OK)
			sum += st.records;
		break;
	case FLOE_SF_SEEN:
		if (floe_stream_seen_decode(p, len, &n, &eb) == FLOE_OK)
			for (size_t i = 0; i < n; i++)
				if (floe_stream_seen_entry(p, i).first >
				    floe_stream_seen_entry(p, i).last)
					abort();
		break;
	default:
		break;
	}
	(void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct floe_errbuf eb = {0};
	size_t off = 0;
	while (size - off >= FLOE_STREAM_FRAME_HDR) {
		uint8_t type;
		uint32_t plen;
		floe_errbuf_clear(&eb);
		if (floe_stream_frame_parse(data + off, size - off, &type, &plen, &eb) != FLOE_OK)
			break;
		if (plen > size - off - FLOE_STREAM_FRAME_HDR)
			break;   /* the rest has not arrived */
		payload(type, data + off + FLOE_STREAM_FRAME_HDR, plen);
		off += FLOE_STREAM_FRAME_HDR + plen;
	}
	payload(FLOE_SF_HELLO, data, size);
	payload(FLOE_SF_STATUS, data, size);
	payload(FLOE_SF_SEEN, data, size);
	return 0;
}
