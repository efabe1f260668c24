/*
 * cmd_capture.c - `floe capture`: packets -> flow records.
 *
 *   floe capture -r in.pcap [-w out.floe] [--status 60s] [--max-flows N]
 *                [--stats] ['bpf filter']
 *   floe capture -i IFACE [-i IFACE2] [--buffer SIZE] [--snaplen N] [-u USER]
 *                [--threads N] [--duration D] [--count N] [...] ['bpf filter']
 *
 * Reads pcap or pcapng ("-" for standard input) through libpcap, which
 * also compiles the BPF filter; decodes each frame (decode/), meters flows
 * (meter/) and writes records as a floe file, or prints them when no -w is
 * given.  Every packet is accounted for: it lands in a flow or in a
 * per-reason "not metered" counter, and --stats shows both.  With -i the
 * packets come from live interfaces (sensor/live.h; docs/capture.md):
 * the sockets are opened, root is dropped (-u), then the sink is opened
 * and records flow until a signal, --duration or --count.
 */
#include "cli.h"
#include "archive/archive.h"
#include "codec/codec.h"
#include "decode/decode.h"
#include "meter/meter.h"
#include "query/output.h"
#include "sensor/live.h"
#include "sink.h"

#include <inttypes.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char capture_help[] =
	"usage: floe capture -r FILE [options] [BPF-FILTER]\n"
	"       floe capture -i IFACE [-i IFACE2] [options] [BPF-FILTER]\n"
	"\n"
	"Turns a packet capture (pcap or pcapng; \"-\" reads standard input) or\n"
	"the traffic of live interfaces into bidirectional flow records.\n"
	"\n"
	"  -r FILE          the capture\n"
	"  -i IFACE         capture on a live interface; a second -i: the other\n"
	"                   direction of the same link (two half-duplex taps)\n"
	"  --buffer SIZE    kernel ring per interface (default 64M)\n"
	"  --snaplen N      bytes kept of each frame (default 128: headers only)\n"
	"  -u USER          with -i: become USER once the interfaces are open\n"
	"                   (--user USER too; without -i, -u prints epoch times)\n"
	"  --threads N      with -i: N capture threads, flows spread by the kernel\n"
	"  --duration DUR   with -i: stop after DUR (SIGINT/SIGTERM stop too)\n"
	"  --count N        with -i: stop after N packets\n"
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
	"  --encoders N       threads compressing blocks for -w and --archive\n"
	"                     (default 1 on two or more processors; 29 MB each)\n"
	"  --stats          print packet, flow and decode counts to stderr\n"
	"  --listen [ADDR:]PORT  serve the records to stream subscribers (docs/stream.md;\n"
	"                   --subscribers N, --linger DUR, --tls-cert, --tls-key, --tls-ca,\n"
	"                   --token FILE, --spool DIR, --spool-max SIZE as for 'floe read')\n";


struct cap_state {
	struct cli_sink sink;
	uint64_t records;
	struct floe_live *live;  /* -i: stopped when the sink fails */
};

static void sink(void *ud, const struct floe_flow *f)
{
	struct cap_state *st = ud;
	st->records++;
	(void)!cli_sink_add(&st->sink, f);   /* sticky; reported when closed */
	if (!st->live)
		return;
	if (st->sink.err != FLOE_OK)
		floe_live_stop(st->live);
	else if (st->sink.out)
		fflush(stdout);   /* printed live: each record as it comes out */
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

/* ---- live capture (-i) ------------------------------------------------------ */

struct live_opts {
	struct floe_live_config cfg;
	const char *user;        /* -u USER / --user USER */
	bool given;              /* a live-only option was given */
};

/* Takes the live capture's own options out of argv (the rest goes to
 * cli_parse).  -u means USER when -i is given, else cli_parse's epoch
 * times. */
static int take_live_opts(struct cli_opts *o, struct live_opts *lo, int *argc, char **argv)
{
	bool live = false;
	for (int i = 0; i < *argc; i++)
		if (strcmp(argv[i], "-i") == 0)
			live = true;
	int out = 0;
	for (int i = 0; i < *argc; i++) {
		const char *a = argv[i];
		const char *next = i + 1 < *argc ? argv[i + 1] : NULL;
		bool ours = strcmp(a, "-i") == 0 || strcmp(a, "--buffer") == 0 ||
		            strcmp(a, "--snaplen") == 0 || strcmp(a, "--user") == 0 ||
		            (live && strcmp(a, "-u") == 0) || strcmp(a, "--threads") == 0 ||
		            strcmp(a, "--duration") == 0 || strcmp(a, "--count") == 0;
		if (!ours) {
			argv[out++] = argv[i];
			continue;
		}
		if (!next) {
			cli_error(o, "%s needs an argument", a);
			return EXIT_USAGE;
		}
		i++;
		uint64_t v;
		if (strcmp(a, "-i") == 0) {
			if (lo->cfg.nifaces == FLOE_LIVE_MAX_IFACES) {
				cli_error(o, "at most %d -i (the two directions of one link)",
				          FLOE_LIVE_MAX_IFACES);
				return EXIT_USAGE;
			}
			lo->cfg.ifaces[lo->cfg.nifaces++] = next;
			continue;
		}
		lo->given = true;
		if (strcmp(a, "--buffer") == 0) {
			if (!cli_parse_size(next, &v) || v < (1u << 20) ||
			    v > (UINT64_C(1) << 40)) {
				cli_error(o, "bad --buffer '%s': a size such as 64M (at least 1M)",
				          next);
				return EXIT_USAGE;
			}
			lo->cfg.buffer = v;
		} else if (strcmp(a, "--snaplen") == 0) {
			if (!cli_parse_count(next, &v) || v < 64 || v > 262144) {
				cli_error(o, "bad --snaplen '%s': 64 to 262144 bytes", next);
				return EXIT_USAGE;
			}
			lo->cfg.snaplen = (int)v;
		} else if (strcmp(a, "--threads") == 0) {
			if (!cli_parse_count(next, &v) || v == 0 || v > FLOE_LIVE_MAX_THREADS) {
				cli_error(o, "bad --threads '%s': 1 to %d", next,
				          FLOE_LIVE_MAX_THREADS);
				return EXIT_USAGE;
			}
			lo->cfg.threads = (unsigned)v;
		} else if (strcmp(a, "--count") == 0) {
			if (!cli_parse_count(next, &v) || v == 0) {
				cli_error(o, "bad --count '%s'", next);
				return EXIT_USAGE;
			}
			lo->cfg.count = v;
		} else if (strcmp(a, "--duration") == 0) {
			if (!cli_parse_duration(next, &lo->cfg.duration) || lo->cfg.duration <= 0) {
				cli_error(o, "bad --duration '%s': give a duration (30s, 5m)",
				          next);
				return EXIT_USAGE;
			}
		} else {
			lo->user = next;
		}
	}
	*argc = out;
	return EXIT_OK;
}

/* The capture a signal stops; set while floe_live_run runs. */
static struct floe_live *volatile live_to_stop;

static void on_signal(int sig)
{
	(void)sig;
	struct floe_live *lv = live_to_stop;
	if (lv)
		floe_live_stop(lv);
}

static void print_live_stats(const struct cli_opts *o, const struct floe_live_stats *ls,
                             uint64_t records, double secs)
{
	print_stats(o, ls->packets, ls->reasons, &ls->meter, records, secs);
	for (unsigned k = 0; k < ls->nifaces; k++)
		fprintf(stderr, "interface %s: received %" PRIu64 ", dropped by the kernel %" PRIu64
		        ", dropped by the interface %" PRIu64 "\n", ls->ifs[k].name,
		        ls->ifs[k].recv, ls->ifs[k].drop, ls->ifs[k].ifdrop);
	if (ls->nthreads > 1)
		for (unsigned i = 0; i < ls->nthreads; i++)
			fprintf(stderr, "thread %u: packets %" PRIu64 "\n", i,
			        ls->thread_packets[i]);
	if (ls->nifaces > 1)
		fprintf(stderr, "merge: released before the hold %" PRIu64 "\n", ls->merge_early);
	if (ls->sink_waits)
		fprintf(stderr, "capture threads waited for the output %" PRIu64 " times\n",
		        ls->sink_waits);
}

/* The kernel's drop counts, to the stream's subscribers (STATUS). */
static void pass_drops(void *ud, uint64_t kernel, uint64_t iface)
{
	struct cap_state *st = ud;
	cli_stream_out_sensor_drops(st->sink.stream, kernel, iface);
}

/* floe capture -i ...: open, drop root, open the sink, run, close. */
static int capture_live(struct cli_opts *o, struct live_opts *lo)
{
	struct floe_live_config *c = &lo->cfg;
	c->filter = o->filter;
	if (o->status_interval >= 0) {
		c->meter.status_interval = o->status_interval;
		c->stats_interval = o->status_interval;
	}
	if (o->max_flows)
		c->meter.max_flows = o->max_flows;
	c->meter.sensor = o->sensor;
	c->meter.log = cli_log();
	c->log = cli_log();
	struct cap_state st = {0};
	c->on_drops = pass_drops;
	c->drops_ud = &st;
	struct floe_errbuf eb = {0};
	struct floe_live *lv = NULL;
	enum floe_err err = floe_live_open(c, &lv, &eb);
	if (err != FLOE_OK) {
		cli_error(o, "%s", eb.msg);
		return err == FLOE_INVALID ? EXIT_USAGE : EXIT_FAIL;
	}
	/* Root is needed only to open the sockets: gone before the first
	 * packet and before any output file is created. */
	if (lo->user && floe_live_drop_privileges(lo->user, &eb) != FLOE_OK) {
		cli_error(o, "%s; not capturing as root", eb.msg);
		floe_live_destroy(lv);
		return EXIT_FAIL;
	}
	st.live = lv;
	if (cli_sink_open(&st.sink, o) != EXIT_OK) {
		floe_live_destroy(lv);
		return EXIT_FAIL;
	}
	struct sigaction sa = {0}, oldint, oldterm;
	sa.sa_handler = on_signal;
	live_to_stop = lv;
	sigaction(SIGINT, &sa, &oldint);
	sigaction(SIGTERM, &sa, &oldterm);
	double t0 = now_s();
	int rc = EXIT_OK;
	if (floe_live_run(lv, sink, &st, &eb) != FLOE_OK) {
		cli_error(o, "%s", eb.msg);
		rc = EXIT_FAIL;
	}
	sigaction(SIGINT, &oldint, NULL);
	sigaction(SIGTERM, &oldterm, NULL);
	live_to_stop = NULL;
	if (cli_sink_close(&st.sink, o, false) != EXIT_OK)
		rc = EXIT_FAIL;
	if (o->stats) {
		struct floe_live_stats ls;
		floe_live_stats(lv, &ls);
		print_live_stats(o, &ls, st.records, now_s() - t0);
	}
	floe_live_destroy(lv);
	return rc;
}

int cmd_capture(int argc, char **argv)
{
	struct cli_opts o = {.cmd = "capture"};
	struct live_opts lo;
	floe_live_config_default(&lo.cfg);
	lo.user = NULL;
	lo.given = false;
	int rc = take_live_opts(&o, &lo, &argc, argv);
	if (rc != EXIT_OK)
		return rc;
	if (!cli_begin(&o, OPT_READ | OPT_WRITE | OPT_PRINT | OPT_METER | OPT_ARCHIVE | OPT_LISTEN, argc, argv,
	               capture_help, &rc))
		return rc;
	if (lo.cfg.nifaces && o.nrfiles) {
		cli_error(&o, "give -r FILE or -i IFACE, not both");
		cli_opts_release(&o);
		return EXIT_USAGE;
	}
	if (lo.cfg.nifaces) {
		rc = capture_live(&o, &lo);
		cli_opts_release(&o);
		return rc;
	}
	if (lo.given || lo.user) {
		cli_error(&o, "--buffer, --snaplen, --user, --threads, --duration and --count "
		          "go with -i");
		cli_opts_release(&o);
		return EXIT_USAGE;
	}
	if (o.nrfiles != 1) {
		cli_error(&o, o.nrfiles ? "give one capture with -r" :
		          "no input: give -r FILE or -i IFACE (try 'floe capture --help')");
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
