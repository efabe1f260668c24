/*
 * sink_stream.c - streams on the command line (docs/stream.md): the
 * stream sink of the commands that produce records (--listen: capture,
 * collect, read, relay) and the stream source of the commands that read
 * them (-S: read, cluster, sort, bins, relay).
 *
 * The sink numbers records (seq 1, 2, ... per run) as it serves them,
 * unless they came from a stream (-S), which numbered them already: a
 * relay keeps each source's sensor id and seq.  With --spool DIR a
 * restarted producer is the same run: it numbers on after the last seq in
 * the spool, and a restarted relay resumes its sources after it.
 */
#include "cli.h"
#include "net/spool.h"
#include "net/stream.h"
#include "sink.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile int stream_stop;

static void on_signal(int sig)
{
	(void)sig;
	stream_stop = 1;
}

/* SIGINT and SIGTERM end the stream (not SA_RESTART: poll returns). */
static void catch_signals(void)
{
	struct sigaction sa = {0};
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the sink (--listen) ---- */

struct cli_stream_out {
	struct floe_stream_server *srv;
	char *token;
	bool keep_seq;
	uint64_t seq;
	int64_t linger;
	bool stats;
	struct floe_flow rec;
};

int cli_stream_out_open(struct cli_stream_out **out, const struct cli_opts *o)
{
	struct floe_errbuf eb = {0};
	struct cli_stream_out *so = calloc(1, sizeof(*so));
	*out = NULL;
	if (!so) {
		cli_error(o, "out of memory");
		return EXIT_FAIL;
	}
	if (o->token_file && !(so->token = floe_stream_read_token(o->token_file, &eb))) {
		cli_error(o, "%s", eb.msg);
		free(so);
		return EXIT_FAIL;
	}
	struct floe_stream_server_opts sopt = {
		.listen = o->listen, .instance = o->instance ? o->instance : "floe",
		.tls_cert = o->tls_cert, .tls_key = o->tls_key,
		.tls_ca = o->tls_cert ? o->tls_ca : NULL, .token = so->token,
		.local = o->local, .log = cli_log(), .sub_buffer = (size_t)o->sub_buffer,
		/* a producer reading files waits for the server's encoding; a live
		 * one (collect --listen udp://, a relay) drops and counts */
		.pace = o->nrfiles > 0 || o->nrdirs > 0,
		.spool_dir = o->spool, .spool_max = o->spool_max};
	so->srv = floe_stream_server_create(&sopt, &eb);
	if (!so->srv) {
		cli_error(o, "%s", eb.msg);
		free(so->token);
		free(so);
		return EXIT_FAIL;
	}
	so->keep_seq = o->nstreams > 0;
	if (o->spool && !so->keep_seq) {
		/* the same run as the spool's: on after its last seq */
		struct floe_stream_resume *rs = calloc(FLOE_STREAM_RESUME_MAX, sizeof(*rs));
		size_t n = rs ? floe_stream_server_spooled(so->srv, rs, FLOE_STREAM_RESUME_MAX) : 0;
		for (size_t i = 0; i < n; i++)
			if (rs[i].seq > so->seq)
				so->seq = rs[i].seq;
		free(rs);
		if (so->seq)
			floe_logf(cli_log(), FLOE_LOG_INFO, "spool '%s': numbering on after seq %"
			          PRIu64, o->spool, so->seq);
	}
	so->linger = o->linger;
	so->stats = o->stats;
	if (o->verbose)
		fprintf(stderr, "floe %s: serving records on port %d\n", o->cmd,
		        floe_stream_server_port(so->srv));
	if (o->subscribers) {
		catch_signals();
		if (!floe_stream_server_wait(so->srv, (unsigned)o->subscribers, -1, &stream_stop)) {
			cli_error(o, "stopped while waiting for %" PRIu64 " subscribers",
			          o->subscribers);
			floe_stream_server_destroy(so->srv, 0, NULL);
			free(so->token);
			free(so);
			return EXIT_FAIL;
		}
	}
	*out = so;
	return EXIT_OK;
}

const struct floe_flow *cli_stream_out_add(struct cli_stream_out *so, const struct floe_flow *f,
                                           enum floe_err *err)
{
	so->rec = *f;
	if (!so->keep_seq)
		so->rec.seq = ++so->seq;
	*err = floe_stream_server_add(so->srv, &so->rec);
	return &so->rec;
}

void cli_stream_out_sensor_drops(struct cli_stream_out *so, uint64_t kernel, uint64_t iface)
{
	if (so)
		floe_stream_server_sensor_drops(so->srv, kernel, iface);
}

int cli_stream_out_close(struct cli_stream_out *so, const struct cli_opts *o, bool discard)
{
	if (!so)
		return EXIT_OK;
	floe_stream_server_flush(so->srv);
	if (!discard && so->linger > 0) {
		/* keep the backlog available to late subscribers */
		catch_signals();
		int64_t end = mono_ns() + so->linger;
		while (!stream_stop && mono_ns() < end) {
			struct timespec ts = {0, 50 * 1000000};
			nanosleep(&ts, NULL);
		}
	}
	struct floe_stream_server_stats st;
	floe_stream_server_destroy(so->srv, discard ? 0 : 10LL * 1000000000, &st);
	if (so->stats)
		fprintf(stderr, "stream: records %" PRIu64 ", dropped %" PRIu64 ", blocks %" PRIu64
		        "; subscribers accepted %" PRIu64 ", refused %" PRIu64 ", cut off %" PRIu64
		        ", went away %" PRIu64 "\n", st.records, st.dropped, st.blocks, st.accepted,
		        st.refused, st.cut_off, st.closed);
	if (so->stats && o->spool)
		fprintf(stderr, "spool: records %" PRIu64 ", removed %" PRIu64 ", failed blocks %"
		        PRIu64 ", bytes %" PRIu64 "\n", st.spool_records, st.spool_dropped,
		        st.spool_errors, st.spool_bytes);
	if (st.spool_dropped)
		cli_warn(o, "%" PRIu64 " records removed from the spool past --spool-max",
		         st.spool_dropped);
	if (st.dropped)
		cli_warn(o, "%" PRIu64 " records not served: the stream server fell behind",
		         st.dropped);
	free(so->token);
	free(so);
	return EXIT_OK;
}

/* ---- the source (-S) ---- */

struct cli_stream_in {
	const struct cli_opts *o;
	struct floe_stream_client *c;
	char *token;
	uint64_t got;
	int64_t end;
};

struct cli_stream_in *cli_stream_in_open(const struct cli_opts *o)
{
	struct floe_errbuf eb = {0};
	struct cli_stream_in *in = calloc(1, sizeof(*in));
	if (!in) {
		cli_error(o, "out of memory");
		return NULL;
	}
	in->o = o;
	if (o->token_file && !(in->token = floe_stream_read_token(o->token_file, &eb))) {
		cli_error(o, "%s", eb.msg);
		free(in);
		return NULL;
	}
	/* a relay restarted on its spool resumes each sensor after the
	 * spool's last seq, from any run of the sources */
	struct floe_stream_resume *rs = NULL;
	size_t nrs = 0;
	if (o->listen && o->spool) {
		uint64_t run;
		rs = calloc(FLOE_STREAM_RESUME_MAX, sizeof(*rs));
		if (!rs || floe_spool_peek(o->spool, rs, FLOE_STREAM_RESUME_MAX, &nrs, &run, &eb) !=
		                   FLOE_OK) {
			cli_error(o, "%s", rs ? eb.msg : "out of memory");
			free(rs);
			free(in->token);
			free(in);
			return NULL;
		}
		if (nrs)
			floe_logf(cli_log(), FLOE_LOG_INFO,
			          "spool '%s': resuming %zu sensors after their last seq in it",
			          o->spool, nrs);
	}
	struct floe_stream_client_opts co = {.sources = o->streams,
	                                     .resume = rs, .nresume = nrs,
	                                     .nsources = o->nstreams,
	                                     .instance = o->instance ? o->instance : "floe",
	                                     .token = in->token,
	                                     .filter = o->filter,
	                                     .tls_ca = o->tls_ca,
	                                     .tls_cert = o->tls_ca ? o->tls_cert : NULL,
	                                     .tls_key = o->tls_ca ? o->tls_key : NULL,
	                                     .backlog = true,
	                                     .wait = o->stream_wait,
	                                     .log = cli_log()};
	in->c = floe_stream_client_create(&co, &eb);
	free(rs);   /* copied */
	if (!in->c) {
		cli_error(o, "%s", eb.msg);
		free(in->token);
		free(in);
		return NULL;
	}
	in->end = o->duration > 0 ? mono_ns() + o->duration : INT64_MAX;
	stream_stop = 0;
	catch_signals();
	return in;
}

enum floe_err cli_stream_in_next(struct cli_stream_in *in, const struct floe_flow **recs, size_t *n)
{
	for (;;) {
		if (stream_stop || (in->o->count && in->got >= in->o->count))
			return FLOE_EOF;
		int64_t now = mono_ns();
		if (now >= in->end)
			return FLOE_EOF;
		int64_t wait = in->end - now < 200000000 ? in->end - now : 200000000;
		enum floe_err e = floe_stream_client_next(in->c, recs, n, wait);
		if (e == FLOE_AGAIN)
			continue;
		if (e == FLOE_OK) {
			if (in->o->count && *n > in->o->count - in->got)
				*n = (size_t)(in->o->count - in->got);
			in->got += *n;
			return FLOE_OK;
		}
		if (e != FLOE_EOF)
			cli_error(in->o, "%s", floe_stream_client_error(in->c));
		return e;
	}
}

int cli_stream_in_close(struct cli_stream_in *in)
{
	if (!in)
		return EXIT_OK;
	struct floe_stream_client_stats st;
	floe_stream_client_stats(in->c, &st);
	if (in->o->stats)
		fprintf(stderr,
		        "stream: records %" PRIu64 ", blocks %" PRIu64 ", bytes %" PRIu64
		        ", lost %" PRIu64 ", restarts %" PRIu64 ", connects %" PRIu64
		        ", reconnects %" PRIu64 ", dropped by servers %" PRIu64
		        ", dropped by sensors' kernel %" PRIu64 ", by their interfaces %" PRIu64
		        "\n",
		        st.records, st.blocks, st.bytes, st.lost, st.restarts, st.connects,
		        st.reconnects, st.server_dropped, st.kernel_dropped, st.iface_dropped);
	int rc = EXIT_OK;
	if (st.kernel_dropped || st.iface_dropped)
		cli_warn(in->o, "the sensors dropped %" PRIu64 " packets in their kernel ring, %"
		         PRIu64 " at their interfaces", st.kernel_dropped, st.iface_dropped);
	if (st.lost || st.server_dropped) {
		cli_warn(in->o, "%" PRIu64 " records lost by seq, %" PRIu64 " dropped by servers",
		         st.lost, st.server_dropped);
		rc = EXIT_DAMAGED;
	}
	floe_stream_client_destroy(in->c);
	free(in->token);
	free(in);
	return rc;
}
