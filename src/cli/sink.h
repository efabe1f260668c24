/*
 * sink.h - where a command's records go: an archive (--archive), a floe
 * file (-w, "-" for stdout), printed (-s, -o), an IPFIX file (-o ipfix, to
 * -w FILE or stdout) or IPFIX messages to a collector (floe export).
 * Shared by the commands that produce records (capture, read, export), and
 * served to stream subscribers with --listen (sink_stream.c).
 */
#ifndef FLOE_CLI_SINK_H
#define FLOE_CLI_SINK_H

#include "archive/archive.h"
#include "cli.h"
#include "codec/codec.h"
#include "export/ipfix.h"
#include "query/output.h"

struct cli_sink {
	struct floe_archive *ar;
	struct floe_writer *w;
	struct floe_output *out;
	struct floe_ipfix_writer *ipfix; /* -o ipfix, or floe export ipfix */
	FILE *ipfix_fp;          /* the IPFIX file (-w FILE) or stdout */
	int udp_fd;              /* floe export ipfix: the socket, if udp */
	bool udp;
	const char *ipfix_name;  /* file or URL, for messages */
	enum floe_err err;       /* first failure of cli_sink_add */
	struct cli_stream_out *stream;  /* --listen (sink_stream.c), besides the others */
};

/* sink_stream.c: serving records (--listen); add numbers the record (seq)
 * unless it came from a stream and returns the record as served. */
int cli_stream_out_open(struct cli_stream_out **out, const struct cli_opts *o);
const struct floe_flow *cli_stream_out_add(struct cli_stream_out *so, const struct floe_flow *f,
                                           enum floe_err *err);
int cli_stream_out_close(struct cli_stream_out *so, const struct cli_opts *o, bool discard);
/* The sensor's kernel drop counts so far, for the STATUS frames; so may
 * be NULL (not serving). */
void cli_stream_out_sensor_drops(struct cli_stream_out *so, uint64_t kernel, uint64_t iface);

/* Opens the sink the options ask for; prints why and returns EXIT_FAIL if
 * it cannot. */
int cli_sink_open(struct cli_sink *s, const struct cli_opts *o);
/* Adds one record; errors are sticky and reported by cli_sink_close. */
enum floe_err cli_sink_add(struct cli_sink *s, const struct floe_flow *f);
/* Closes (footer, rename, flush) and prints the first error the sink met,
 * once.  discard: the command failed, print nothing more on stdout (not
 * even a header).  Returns EXIT_OK or EXIT_FAIL. */
int cli_sink_close(struct cli_sink *s, const struct cli_opts *o, bool discard);
/* Frees without finishing anything (the command is failing). */
void cli_sink_abandon(struct cli_sink *s);

#endif
