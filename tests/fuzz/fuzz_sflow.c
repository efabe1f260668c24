/*
 * fuzz_sflow.c - fuzz target for floe_sflow_decode (collect/sflow.h).
 *
 * The input is one datagram (UDP payload).  It is decoded twice into the
 * same statistics, so the sequence-number and table paths see a known
 * agent.  Checks beyond "no crash": an error is always counted, a record
 * carries the sampling flag and rate, and no more records come out than
 * flow samples went in.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collect/sflow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum floe_err emit(void *ctx, const struct floe_flow *f)
{
	(void)ctx;
	if (!(f->flags & FLOE_F_SAMPLED) || f->sampling == 0 || f->spkts != f->sampling)
		abort();
	return FLOE_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct floe_sflow_stats st;
	static const uint8_t src[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1};
	uint8_t *p = malloc(size ? size : 1);
	if (!p)
		return 0;
	if (size)
		memcpy(p, data, size);
	floe_sflow_stats_init(&st);
	for (int i = 0; i < 2; i++) {
		uint64_t errs = st.malformed + st.truncated + st.unsupported;
		struct floe_errbuf eb = {0};
		enum floe_err e = floe_sflow_decode(p, size, src, 1, emit, NULL, &st, &eb);
		if (e != FLOE_OK && (st.malformed + st.truncated + st.unsupported == errs ||
		                     eb.code != e))
			abort();
		if (st.records > st.flow_samples || st.n_ifs > FLOE_SFLOW_MAX_IFS ||
		    st.n_sources > FLOE_SFLOW_MAX_SOURCES || st.n_agents > FLOE_SFLOW_MAX_AGENTS)
			abort();
	}
	free(p);
	return 0;
}
