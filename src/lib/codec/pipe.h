/*
 * pipe.h - reading a floe file as it arrives on a pipe or socket, without
 * blocking (docs/daemon.md).
 *
 * floe_reader (codec.h) reads a pipe too, but it calls read(2) itself and
 * waits inside floe_reader_next until a whole block is there: a daemon
 * that must also answer signals and timers cannot use it.  The pipe
 * reader is fed instead: the caller reads the descriptor when poll(2)
 * says so, into space the reader lends, and asks for blocks until the
 * reader wants more bytes (FLOE_AGAIN).  Blocks are decoded by the codec's
 * own block decoder, so a block reads the same from a file, a pipe and a
 * stream.
 *
 * The input is a floe file as `floe ... -w -` writes it: file header,
 * blocks, then footer, address filter and trailer once the writer closes.
 * The footer marks the end of the records; what follows it is read and
 * dropped, so the writer upstream never dies of SIGPIPE on its last
 * write.
 *
 * Must not depend on: meter, decode, filter, libpcap.
 */
#ifndef FLOE_CODEC_PIPE_H
#define FLOE_CODEC_PIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/codec.h"
#include "err.h"

struct floe_pipe_reader;

struct floe_pipe_stats {
	uint64_t bytes, blocks, records;
	uint64_t blocks_damaged;  /* failed a check, logged and skipped */
	bool footer;              /* the writer's footer has arrived */
};

/* name is for messages ("standard input").  log may be NULL.  NULL with eb
 * set (NOMEM). */
struct floe_pipe_reader *floe_pipe_reader_create(const char *name, const struct floe_log *log,
                                                 struct floe_errbuf *eb);
void floe_pipe_reader_destroy(struct floe_pipe_reader *p);

/* Space for at least want bytes of input (the caller read(2)s into it):
 * returns the space and its size in *room, NULL when memory runs out
 * (NOMEM, sticky).  Then floe_pipe_reader_commit(p, n) with the n bytes
 * read. */
uint8_t *floe_pipe_reader_space(struct floe_pipe_reader *p, size_t want, size_t *room);
void floe_pipe_reader_commit(struct floe_pipe_reader *p, size_t n);

/* The next block of what was fed.  OK: *recs, *n (valid until the next
 * call).  AGAIN: feed more bytes.  EOF: the footer has arrived; later
 * bytes are dropped.  Errors are sticky, with floe_pipe_reader_error()
 * naming the input and byte offset: MALFORMED (not a floe file, a block
 * frame that does not parse: the stream cannot be followed past it),
 * UNSUPPORTED (a newer major format), CHECKSUM (the file header), NOMEM.
 * A block whose frame parses but whose summary or payload fails a check
 * is logged (WARN), counted and skipped: the next block is where its
 * frame says. */
FLOE_WUR enum floe_err floe_pipe_reader_next(struct floe_pipe_reader *p,
                                             const struct floe_flow **recs, size_t *n);

/* The input is at its end (read(2) returned 0).  OK when it ended at a
 * block boundary or after the footer; TRUNCATED (message with the offset)
 * when it ended inside the header or a block: those bytes are lost. */
FLOE_WUR enum floe_err floe_pipe_reader_end(struct floe_pipe_reader *p);

/* The file header's instance name and creator, once the header was read
 * ("" before). */
const struct floe_file_info *floe_pipe_reader_info(const struct floe_pipe_reader *p);
const char *floe_pipe_reader_error(const struct floe_pipe_reader *p);
void floe_pipe_reader_stats(const struct floe_pipe_reader *p, struct floe_pipe_stats *st);

#endif
