/*
 * progress.h - a progress line on the terminal for long reads of files
 * and archives (read, cluster, sort, bins, graph): files started of all,
 * records read, their rate, and the time left, estimated from the files
 * done so far.
 *
 * The line goes to stderr only when it is a terminal (and, for commands
 * that print records as they go, only when stdout is not one), first
 * after half a second, then four times a second; it is erased at the
 * end, so short commands and pipes see nothing.  It reads the source's
 * counts (archive/source.h) and must be used from the thread that calls
 * floe_source_next.
 */
#ifndef FLOE_CLI_PROGRESS_H
#define FLOE_CLI_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct floe_source;

struct cli_progress {
	bool on;
	bool shown;                  /* a line is on the screen */
	const char *cmd;
	const struct floe_source *src;
	double start, next;          /* monotonic seconds */
	int width;                   /* of the last line, to erase it */
	uint64_t records;            /* in the blocks returned so far */
	uint64_t files;              /* files the blocks came from */
	const char *path;            /* of the last block */
};

/* Sets p up for src (borrowed).  streaming: the command prints records
 * to stdout as it reads, so a terminal on stdout turns the line off. */
void cli_progress_init(struct cli_progress *p, const char *cmd, const struct floe_source *src,
                       bool streaming);
/* Counts a block of n records just returned by floe_source_next (0 at
 * the end) and redraws the line if it is time. */
void cli_progress_update(struct cli_progress *p, size_t n);
/* Erases the line. */
void cli_progress_release(struct cli_progress *p);

#endif
