/*
 * cmd_capture.c - `floe capture`: packets -> flow records.
 *
 *   floe capture -r in.pcap [-w out.floe] [--status 60s] [--max-flows N]
 *                [--stats] ['bpf filter']
 *
 * Reads pcap or pcapng ("-" for standard input) through libpcap, which
 * also compiles the BPF filter; decodes each frame (decode/), meters flows
 * (meter/) and writes records as a floe file, or prints them when no -w is
 * given.  Every packet is accounted for: it lands in a flow or in a
 * per-reason "not metered" counter, and --stats shows both.
 */
#include "cli.h"
#include "archive/archive.h"
#include "codec/codec.h"
#include "decode/decode.h"
#include "meter/meter.h"
#include "query/output.h"
#include "sink.h"

#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char capture_help[] =
	"usage: floe capture -r FILE [options] [BPF-FILTER]\n"
	"\n"
	"Turns a packet capture (pcap or pcapng; \"-\" reads standard input) into\n"
	"bidirectional flow records.\n"
	"\n"
	"  -r FILE          the capture\n"
	"  -w FILE          write records as a floe file (\"-\": stdout); without -w\n"
	"                   the records are printed (-s, -o, -n, -u as for 'floe read')\n"
	"  --status DUR     emit a status record for flows alive this long\n"
	"                   (default 60s, like Argus; 0 = one record per flow)\n"
	"  --max-flows N    flow table limit (default: about 720k flows, so the sensor\n"
	"                   stays under 256 MB); when full the\n"
	"                   least recently active flows are flushed early and counted\n"
	"  --sensor ID      sensor id stored in every record\n"
	"  --instance NAME  instance name stored in the file header (and of --archive)\n"
	"  --archive DIR    write records into an archive: DIR/NAME/YYYY/MM/DD/\n"
	"                   NAME.YYYYMMDDTHHMMSSZ.floe, one file per period\n"
	"  --rotate DUR     archive file period, dividing a day (default 1h)\n"
	"  --keep DUR       with --archive: expire files older than DUR (e.g. 180d) at\n"
	"                   start and at each rotation, as 'floe archive expire'\n"
	"  --max-size SIZE  with --archive: and the oldest past SIZE (e.g. 400G)\n"
	"  --block-records N  records per block (default 65536)\n"
	"  --stats          print packet, flow and decode counts to stderr\n"
	"  --listen [ADDR:]PORT  serve the records to stream subscribers (docs/stream.md;\n"
	"                   --subscribers N, --linger DUR, --tls-cert, --tls-key, --tls-ca,\n"
	"                   --token FILE as for 'floe read')\n";

struct cap_state {
	struct cli_sink sink;
	uint64_t records;
};

static void sink(void *ud, const struct floe_flow *f)
{
	struct cap_state *st = ud;
	st->records++;
	(void)!cli_sink_add(&st->sink, f);   /* sticky; reported when closed */
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_stats(const struct cli_opts *o, uint64_t total, const uint64_t *reasons,
                        const struct floe_meter_stats *ms, uint64_t records, double secs)
{
	uint64_t dropped = 0;
	for (int r = 1; r < FLOE_DEC__COUNT; r++)
		dropped += reasons[r];
	fprintf(stderr, "packets %" PRIu64 ": metered %" PRIu64 ", not metered %" PRIu64 "\n",
	        total, ms->packets, dropped);
	for (int r = 1; r < FLOE_DEC__COUNT; r++)
		if (reasons[r])
			fprintf(stderr, "  not metered, %s: %" PRIu64 "\n",
			        floe_dec_result_name((enum floe_dec_result)r), reasons[r]);
	fprintf(stderr, "flows %" PRIu64 ", records %" PRIu64 ", evicted early %" PRIu64
	        ", orphan fragments %" PRIu64 ", time went backwards %" PRIu64 "\n",
	        ms->flows_created, records, ms->evicted, ms->frag_orphans, ms->time_backwards);
	fprintf(stderr, "flow table: limit %" PRIu64 " flows, %zu bytes\n", ms->max_flows,
	        ms->mem_bytes);
	fprintf(stderr, "elapsed %.3f s, %.0f packets/s\n", secs, secs > 0 ? (double)total / secs : 0.0);
	if (ms->packets + dropped != total)
		fprintf(stderr, "floe %s: warning: %" PRIu64 " packets unaccounted for\n", o->cmd,
		        total - ms->packets - dropped);
}

int cmd_capture(int argc, char **argv)
{
	struct cli_opts o = {.cmd = "capture"};
	int rc;
	if (!cli_begin(&o, OPT_READ | OPT_WRITE | OPT_PRINT | OPT_METER | OPT_ARCHIVE | OPT_LISTEN, argc, argv,
	               capture_help, &rc))
		return rc;
	if (o.nrfiles != 1) {
		cli_error(&o, o.nrfiles ? "give one capture with -r" :
		          "no input: give -r FILE (try 'floe capture --help')");
		cli_opts_release(&o);
		return EXIT_USAGE;
	}
	const char *in = o.rfiles[0];
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	pcap_t *pc = pcap_open_offline_with_tstamp_precision(in, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (!pc) {
		cli_error(&o, "cannot read '%s': %s", in, errbuf);
		cli_opts_release(&o);
		return EXIT_FAIL;
	}
	int linktype = pcap_datalink(pc);
	if (!floe_decode_linktype_ok(linktype)) {
		const char *nm = pcap_datalink_val_to_name(linktype);
		cli_error(&o, "cannot read '%s': link type %s (%d) is not supported", in,
		          nm ? nm : "unknown", linktype);
		pcap_close(pc);
		cli_opts_release(&o);
		return EXIT_FAIL;
	}
	if (o.filter) {
		struct bpf_program prog;
		if (pcap_compile(pc, &prog, o.filter, 1, PCAP_NETMASK_UNKNOWN) != 0 ||
		    pcap_setfilter(pc, &prog) != 0) {
			cli_error(&o, "bad filter '%s': %s", o.filter, pcap_geterr(pc));
			pcap_close(pc);
			cli_opts_release(&o);
			return EXIT_USAGE;
		}
		pcap_freecode(&prog);
	}

	struct cap_state st = {0};
	if (cli_sink_open(&st.sink, &o) != EXIT_OK) {
		pcap_close(pc);
		cli_opts_release(&o);
		return EXIT_FAIL;
	}

	struct floe_meter_config mc;
	floe_meter_config_default(&mc);
	if (o.status_interval >= 0)
		mc.status_interval = o.status_interval;
	if (o.max_flows)
		mc.max_flows = o.max_flows;
	mc.sensor = o.sensor;
	mc.log = cli_log();
	enum floe_err err = FLOE_OK;
	struct floe_meter *m = floe_meter_create(&mc, sink, &st, &err);
	if (!m) {
		cli_error(&o, "cannot create the flow table: %s", floe_strerror(err));
		cli_sink_abandon(&st.sink);
		pcap_close(pc);
		cli_opts_release(&o);
		return EXIT_FAIL;
	}

	double t0 = now_s();
	uint64_t total = 0, reasons[FLOE_DEC__COUNT] = {0};
	struct floe_pkt pkt;
	struct pcap_pkthdr *h;
	const u_char *bytes;
	int prc;
	while ((prc = pcap_next_ex(pc, &h, &bytes)) == 1) {
		total++;
		int64_t ts = (int64_t)h->ts.tv_sec * 1000000000 + h->ts.tv_usec;  /* nano precision */
		enum floe_dec_result r = floe_decode(&pkt, linktype, bytes, h->caplen, h->len, ts);
		if (r != FLOE_DEC_OK) {
			reasons[r]++;
			continue;
		}
		floe_meter_add(m, &pkt);
		if (st.sink.err != FLOE_OK)
			break;
	}
	if (prc == PCAP_ERROR) {
		/* libpcap says why ("truncated dump file; ..."); the flows of the
		 * packets read so far are kept and written. */
		cli_error(&o, "cannot read '%s' past packet %" PRIu64 ": %s", in, total, pcap_geterr(pc));
		rc = EXIT_FAIL;
	}
	floe_meter_flush(m);
	struct floe_meter_stats ms;
	floe_meter_stats(m, &ms);
	floe_meter_destroy(m);
	pcap_close(pc);

	if (cli_sink_close(&st.sink, &o, false) != EXIT_OK)
		rc = EXIT_FAIL;
	if (o.stats)
		print_stats(&o, total, reasons, &ms, st.records, now_s() - t0);
	cli_opts_release(&o);
	return rc;
}
