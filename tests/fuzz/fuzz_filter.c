/*
 * fuzz_filter.c - fuzz target for the filter compiler (src/lib/filter).
 *
 * The input is filter text: it is copied and NUL-terminated, compiled with
 * fixed local networks (10.0.0.0/8, 2001::/16, so `local`/`remote` are
 * reachable), and if it compiles, matched against a few records of
 * different kinds.  Oracles: the compiled program must agree with a walk of
 * the tree on every record; a record that matches must carry one of the
 * addresses floe_filter_required_addrs names and meet the interval
 * floe_filter_time_range gives; compiled without local networks the filter
 * must either fail or match the same records.  Failure to compile must come
 * with an error code and a message.  `@file` lists open whatever path the
 * input names: a missing one must just be an error (devices and FIFOs are
 * refused by the compiler, so nothing blocks).
 */
#include "filter/filter.h"
#include "filter/filter_int.h"

#include "util/netset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void records(struct floe_flow r[4])
{
	static const uint8_t v4a[4] = {10, 0, 1, 17}, v4b[4] = {192, 168, 1, 10};
	memset(r, 0, 4 * sizeof(*r));
	floe_addr_from_v4(r[0].saddr, v4a);
	floe_addr_from_v4(r[0].daddr, v4b);
	r[0].proto = 6;
	r[0].ipver = 4;
	r[0].etype = 0x0800;
	r[0].sport = 51234;
	r[0].dport = 22;
	r[0].stime = 1749794400000000000LL;
	r[0].ltime = r[0].stime + 90000000000LL;
	r[0].sbytes = 1500000;
	r[0].stcpflags = 0x1b;
	r[0].dtcpflags = 0x14;
	r[0].state = 3;
	r[0].flags = 0x0280;
	r[0].vlan = 100;
	r[1] = r[0];
	r[1].saddr[0] = 0x20;
	r[1].saddr[1] = 0x01;
	r[1].daddr[15] = 0x53;
	r[1].ipver = 6;
	r[1].proto = 17;
	r[1].etype = 0x86dd;
	r[2] = r[0];
	r[2].proto = 1;
	r[2].sport = 8;
	r[2].dport = 0;
	r[2].flags |= FLOE_F_DIRUNK;
	r[3] = r[0];
	r[3].etype = 0x0806;
	r[3].ipver = 0;
	r[3].proto = 0;
}

/* The local networks, built once (the fuzzer runs inputs in one process). */
static const struct floe_netset *local_nets(void)
{
	static struct floe_netset *set;
	if (!set) {
		struct floe_errbuf eb;
		floe_errbuf_clear(&eb);
		set = floe_netset_create(NULL);
		if (!set || floe_netset_add_text(set, "10.0.0.0/8 2001::/16", &eb) != FLOE_OK)
			abort();
	}
	return set;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 70000)
		return 0;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	struct floe_errbuf eb;
	floe_errbuf_clear(&eb);
	struct floe_filter_opts opts = {.local = local_nets()};
	struct floe_filter *f = floe_filter_compile_opts(text, &opts, &eb);
	if (f) {
		struct floe_flow r[4];
		records(r);
		uint8_t addrs[8][16];
		size_t n;
		bool req = floe_filter_required_addrs(f, addrs, 8, &n);
		if (n > 8)
			abort();
		int64_t tmin, tmax;
		bool timed = floe_filter_time_range(f, &tmin, &tmax);
		if (!timed && (tmin != INT64_MIN || tmax != INT64_MAX))
			abort();
		struct floe_errbuf eb2;
		floe_errbuf_clear(&eb2);
		struct floe_filter *g = floe_filter_compile(text, &eb2);
		if (!g && (eb2.code == FLOE_OK || eb2.msg[0] == '\0'))
			abort();
		for (int i = 0; i < 4; i++) {
			bool m = floe_filter_match(f, &r[i]);
			if (m != floe_flt_eval_tree(f, f->root, &r[i]))
				abort();
			if (g && m != floe_filter_match(g, &r[i]))
				abort();
			if (m && timed && (r[i].ltime < tmin || r[i].stime > tmax))
				abort();
			if (m && req) {
				bool found = false;
				for (size_t k = 0; k < n; k++)
					found |= memcmp(addrs[k], r[i].saddr, 16) == 0 ||
					         memcmp(addrs[k], r[i].daddr, 16) == 0;
				if (!found)
					abort();
			}
		}
		floe_filter_destroy(g);
		floe_filter_destroy(f);
	} else if (eb.code == FLOE_OK || eb.msg[0] == '\0') {
		abort();   /* a failure must say why */
	}
	free(text);
	return 0;
}
