/*
 * source.c - files, archives and time ranges as one stream of blocks
 * (source.h): enumeration, the skipping steps and their counts, and
 * reading threads (lanes) that keep the records in file order.
 *
 * Must not depend on: meter, decode, filter, libpcap.
 */
#include "archive/source.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "archive/archive.h"
#include "codec/codec.h"
#include "util/mem.h"

struct src_file {
	char *path;
	size_t len;
	bool from_dir;
};

/*
 * With opts.threads > 0, files are read by that many lanes, each a thread
 * with its own reader: lane k reads files k, k + n, k + 2n, ... and queues
 * copies of the blocks it decodes (at most RING), each tagged with its
 * file.  The caller takes files in order: file i is lane i mod n's, done
 * when that lane's queue head is a later file or the lane has moved past
 * it.  The records come out exactly as one thread would produce them, and
 * files that yield nothing (skipped) cost no handover.
 */
#define RING 3

struct item {
	struct floe_flow *recs;
	size_t n, cap;
	size_t file;                    /* the file the block is from */
};

struct lane {
	struct floe_source *s;
	pthread_t thread;
	pthread_cond_t space;           /* the caller took an item */
	bool waiting;                   /* the lane waits on space */
	size_t next_file;               /* its files before this one are done */
	struct item ring[RING];
	size_t head, count;             /* queued items: ring[head], ... */
	bool failed;                    /* at next_file: err */
	struct floe_errbuf err;
	struct floe_source_stats st;    /* of the files this lane finished */
};

struct floe_source {
	struct floe_source_opts o;
	struct floe_errbuf err;
	struct src_file *files;
	size_t nfiles, cap, next;
	struct floe_reader *r;
	size_t cur;                     /* index of r's file */
	bool pred;                      /* a block predicate is needed */
	struct floe_source_stats st;
	/* lanes (opts.threads > 0) */
	struct lane *lanes;
	size_t nlanes;
	bool started, stop;
	pthread_mutex_t mu;
	pthread_cond_t data;            /* a lane queued an item or finished a file */
	bool waiting;                   /* the caller waits on data */
	struct lane *borrowed;          /* holds the block last returned */
};

struct floe_source *floe_source_create(const struct floe_source_opts *opts,
                                       struct floe_errbuf *eb)
{
	struct floe_source *s = floe_calloc(NULL, 1, sizeof(*s));
	if (!s) {
		floe_errbuf_set(eb, FLOE_NOMEM, "cannot create a source: out of memory");
		return NULL;
	}
	s->o = *opts;
	if (!s->o.addrs)
		s->o.naddrs = 0;
	s->pred = !s->o.no_index && (s->o.naddrs > 0 || !floe_timerange_is_all(&s->o.range));
	if (s->o.threads > 0) {
		bool mu = pthread_mutex_init(&s->mu, NULL) == 0;
		if (!mu || pthread_cond_init(&s->data, NULL) != 0) {
			if (mu)
				pthread_mutex_destroy(&s->mu);
			floe_free(NULL, s, sizeof(*s));
			floe_errbuf_set(eb, FLOE_NOMEM, "cannot create a source: out of resources");
			return NULL;
		}
	}
	return s;
}

/* dst += src, count by count. */
static void stats_add(struct floe_source_stats *dst, const struct floe_source_stats *src)
{
	dst->files_considered += src->files_considered;
	dst->files_skipped_name += src->files_skipped_name;
	dst->files_skipped_footer += src->files_skipped_footer;
	dst->files_skipped_addr += src->files_skipped_addr;
	dst->files_read += src->files_read;
	dst->files_failed += src->files_failed;
	dst->blocks_considered += src->blocks_considered;
	dst->blocks_skipped += src->blocks_skipped;
	dst->blocks_read += src->blocks_read;
	dst->blocks_damaged += src->blocks_damaged;
	dst->blocks_probed += src->blocks_probed;
	dst->records += src->records;
	dst->bytes_read += src->bytes_read;
}

/* Adds a reader's counts to st. */
static void reader_counts(const struct floe_reader *r, struct floe_source_stats *st)
{
	struct floe_reader_stats rs;
	floe_reader_stats(r, &rs);
	st->blocks_read += rs.blocks_read;
	st->blocks_skipped += rs.blocks_skipped;
	st->blocks_probed += rs.blocks_probed;
	st->blocks_damaged += rs.blocks_damaged;
	st->blocks_considered += rs.blocks_read + rs.blocks_skipped + rs.blocks_damaged;
	st->records += rs.records;
	st->bytes_read += rs.bytes_read;
}

/* Adds a reader's counts to st and closes it. */
static void reader_done(struct floe_reader *r, struct floe_source_stats *st)
{
	reader_counts(r, st);
	floe_reader_close(r);
}

static void close_reader(struct floe_source *s)
{
	if (!s->r)
		return;
	reader_done(s->r, &s->st);
	s->r = NULL;
}

static void stop_lanes(struct floe_source *s)
{
	if (!s->lanes)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	for (size_t k = 0; k < s->nlanes; k++)
		pthread_cond_signal(&s->lanes[k].space);
	pthread_mutex_unlock(&s->mu);
	for (size_t k = 0; k < s->nlanes; k++) {
		struct lane *l = &s->lanes[k];
		pthread_join(l->thread, NULL);
		pthread_cond_destroy(&l->space);
		for (size_t j = 0; j < RING; j++)
			floe_free(NULL, l->ring[j].recs, l->ring[j].cap * sizeof(struct floe_flow));
	}
	floe_free(NULL, s->lanes, s->nlanes * sizeof(*s->lanes));
	s->lanes = NULL;
}

void floe_source_destroy(struct floe_source *s)
{
	if (!s)
		return;
	stop_lanes(s);
	if (s->o.threads > 0) {
		pthread_cond_destroy(&s->data);
		pthread_mutex_destroy(&s->mu);
	}
	close_reader(s);
	for (size_t i = 0; i < s->nfiles; i++)
		floe_free(NULL, s->files[i].path, s->files[i].len + 1);
	floe_free(NULL, s->files, s->cap * sizeof(*s->files));
	floe_free(NULL, s, sizeof(*s));
}

static enum floe_err push(struct floe_source *s, const char *path, bool from_dir,
                          struct floe_errbuf *eb)
{
	if (!floe_grow(NULL, (void **)&s->files, &s->cap, s->nfiles + 1, sizeof(*s->files), 64))
		return floe_errbuf_set(eb, FLOE_NOMEM, "cannot list '%s': out of memory", path);
	size_t len = strlen(path);
	char *p = floe_malloc(NULL, len + 1);
	if (!p)
		return floe_errbuf_set(eb, FLOE_NOMEM, "cannot list '%s': out of memory", path);
	memcpy(p, path, len + 1);
	s->files[s->nfiles++] = (struct src_file){p, len, from_dir};
	return FLOE_OK;
}

enum floe_err floe_source_add_file(struct floe_source *s, const char *path,
                                   struct floe_errbuf *eb)
{
	return push(s, path, false, eb);
}

static enum floe_err push_found(void *ud, const char *path, uint64_t size,
                                struct floe_errbuf *eb)
{
	(void)size;
	return push(ud, path, true, eb);
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct src_file *)a)->path, ((const struct src_file *)b)->path);
}

enum floe_err floe_source_add_dir(struct floe_source *s, const char *dir, struct floe_errbuf *eb)
{
	size_t first = s->nfiles;
	struct stat st;
	if (stat(dir, &st) != 0)
		return floe_errbuf_set(eb, FLOE_IO, "cannot read directory '%s': %s", dir,
		                       strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return floe_errbuf_set(eb, FLOE_INVALID, "cannot read directory '%s': not a directory",
		                       dir);
	enum floe_err e = floe_archive_walk(dir, push_found, s, eb);
	if (e == FLOE_OK && s->nfiles - first > 1)
		qsort(s->files + first, s->nfiles - first, sizeof(*s->files), by_path);
	return e;
}

size_t floe_source_nfiles(const struct floe_source *s)
{
	return s->nfiles;
}

static bool block_ok(void *ud, const struct floe_block_summary *b)
{
	const struct floe_source *s = ud;
	if (b->tmin >= s->o.range.end || b->tmax < s->o.range.start)
		return false;
	if (s->o.naddrs == 0)
		return true;
	for (size_t i = 0; i < s->o.naddrs; i++)
		if (floe_block_may_contain(b, s->o.addrs[i]))
			return true;
	return false;
}

/* Step 3b: a block whose summary admits the addresses may still hold none
 * of them (a Bloom false positive), and most of its records may not be
 * wanted: decode the address, time and filter columns and keep only the
 * records that can match before decoding the rest. */
static bool rec_probe(void *ud, const struct floe_flow *rec)
{
	const struct floe_source *s = ud;
	if (!floe_timerange_overlaps(&s->o.range, rec->stime, rec->ltime))
		return false;
	bool hit = s->o.naddrs == 0;
	for (size_t k = 0; !hit && k < s->o.naddrs; k++)
		hit = memcmp(rec->saddr, s->o.addrs[k], 16) == 0 ||
		      memcmp(rec->daddr, s->o.addrs[k], 16) == 0;
	return hit && (!s->o.rec_probe || s->o.rec_probe(s->o.rec_probe_ud, rec));
}

/* Step 1: a file the archive named for period T has ltime < T + slack. */
static bool skip_by_name(const struct floe_source *s, const struct src_file *f)
{
	if (s->o.no_index || !f->from_dir || s->o.range.start == INT64_MIN)
		return false;
	const char *base = strrchr(f->path, '/');
	base = base ? base + 1 : f->path;
	int64_t t;
	bool part;
	if (!floe_archive_parse_name(base, &t, &part))
		return false;
	return t + FLOE_SOURCE_SLACK <= s->o.range.start;
}

/* Opens file i if it is worth reading: *rp is its reader, or NULL if the
 * file is skipped (counted in st).  False on a fatal error, in err. */
static bool open_file(struct floe_source *s, size_t i, struct floe_source_stats *st,
                      struct floe_reader **rp, struct floe_errbuf *err)
{
	const struct src_file *f = &s->files[i];
	*rp = NULL;
	st->files_considered++;
	if (skip_by_name(s, f)) {
		st->files_skipped_name++;
		return true;
	}
	struct floe_errbuf eb = {0};
	struct floe_reader *r = floe_reader_open(f->path, s->o.log, &eb);
	if (!r) {
		if (!f->from_dir || eb.code == FLOE_NOMEM) {
			floe_errbuf_set(err, eb.code, "%s", eb.msg);
			return false;
		}
		floe_logf(s->o.log, FLOE_LOG_WARN, "%s; skipped", eb.msg);
		st->files_failed++;
		return true;
	}
	int64_t tmin, tmax;
	uint64_t nb, nrec;
	if (!s->o.no_index && floe_reader_footer_range(r, &tmin, &tmax, &nb, &nrec) &&
	    (nrec == 0 || tmin >= s->o.range.end || tmax < s->o.range.start)) {
		st->files_skipped_footer++;
		floe_reader_close(r);
		return true;
	}
	if (!s->o.no_index && s->o.naddrs && !floe_reader_may_contain(r, s->o.addrs, s->o.naddrs)) {
		st->files_skipped_addr++;
		floe_reader_close(r);
		return true;
	}
	if (s->pred)
		floe_reader_set_block_filter(r, block_ok, s);
	if (!s->o.no_index && (s->pred || s->o.rec_probe)) {
		uint64_t pm = 0;
		if (!floe_timerange_is_all(&s->o.range))
			pm |= floe_columns_of(offsetof(struct floe_flow, stime), 8) |
			      floe_columns_of(offsetof(struct floe_flow, ltime), 8);
		if (s->o.naddrs)
			pm |= floe_columns_of(offsetof(struct floe_flow, saddr), 16) |
			      floe_columns_of(offsetof(struct floe_flow, daddr), 16);
		if (s->o.rec_probe)
			pm |= s->o.rec_columns;
		floe_reader_set_probe(r, pm, rec_probe, s);
	}
	if (s->o.columns)
		floe_reader_set_columns(r, s->o.columns);
	st->files_read++;
	*rp = r;
	return true;
}

/* Opens the next file worth reading; false when there is none (or on a
 * fatal error, left in s->err). */
static bool open_next(struct floe_source *s)
{
	while (s->next < s->nfiles) {
		size_t i = s->next++;
		struct floe_reader *r;
		if (!open_file(s, i, &s->st, &r, &s->err))
			return false;
		if (r) {
			s->r = r;
			s->cur = i;
			return true;
		}
	}
	return false;
}

/* ---- lanes ---- */

/* Wakes the caller if it waits; under s->mu. */
static void wake_caller(struct floe_source *s)
{
	if (s->waiting)
		pthread_cond_signal(&s->data);
}

/* The lane's next free item, once there is room; NULL when stopping. */
static struct item *lane_slot(struct lane *l)
{
	struct floe_source *s = l->s;
	pthread_mutex_lock(&s->mu);
	while (l->count == RING && !s->stop) {
		l->waiting = true;
		pthread_cond_wait(&l->space, &s->mu);
		l->waiting = false;
	}
	struct item *it = s->stop ? NULL : &l->ring[(l->head + l->count) % RING];
	pthread_mutex_unlock(&s->mu);
	return it;
}

static void lane_push(struct lane *l)
{
	pthread_mutex_lock(&l->s->mu);
	l->count++;
	wake_caller(l->s);
	pthread_mutex_unlock(&l->s->mu);
}

/* Reads file i into the lane's queue; false on a fatal error (in err)
 * or when stopping. */
static bool lane_file(struct lane *l, size_t i, struct floe_errbuf *err)
{
	struct floe_source *s = l->s;
	struct floe_source_stats st = {0};
	struct floe_reader *r;
	bool ok = open_file(s, i, &st, &r, err);
	while (ok && r) {
		const struct floe_flow *recs;
		size_t n;
		enum floe_err e = floe_reader_next(r, &recs, &n);
		if (e == FLOE_EOF)
			break;
		if (e != FLOE_OK) {
			floe_errbuf_set(err, e, "%s", floe_reader_error(r));
			ok = false;
			break;
		}
		struct item *it = lane_slot(l);
		if (!it) {
			ok = false;   /* stopping */
			break;
		}
		if (it->cap < n) {
			struct floe_flow *nr = floe_realloc(NULL, it->recs, it->cap * sizeof(*nr),
			                                     n * sizeof(*nr));
			if (!nr) {
				floe_errbuf_set(err, FLOE_NOMEM, "cannot read '%s': out of memory",
				                s->files[i].path);
				ok = false;
				break;
			}
			it->recs = nr;
			it->cap = n;
		}
		memcpy(it->recs, recs, n * sizeof(*recs));
		it->n = n;
		it->file = i;
		lane_push(l);
	}
	if (r)
		reader_done(r, &st);
	pthread_mutex_lock(&s->mu);
	stats_add(&l->st, &st);
	if (ok)
		l->next_file = i + s->nlanes;
	else if (err->code != FLOE_OK) {
		l->err = *err;
		l->failed = true;
	}
	wake_caller(s);
	pthread_mutex_unlock(&s->mu);
	return ok;
}

static void *lane_main(void *arg)
{
	struct lane *l = arg;
	struct floe_source *s = l->s;
	for (size_t i = l->next_file; i < s->nfiles; i += s->nlanes) {
		struct floe_errbuf err = {0};
		if (!lane_file(l, i, &err))
			break;
	}
	return NULL;
}

static enum floe_err start_lanes(struct floe_source *s)
{
	s->started = true;
	size_t n = s->o.threads < s->nfiles ? s->o.threads : s->nfiles;
	if (n == 0)
		return FLOE_OK;
	s->lanes = floe_calloc(NULL, n, sizeof(*s->lanes));
	if (!s->lanes)
		return floe_errbuf_set(&s->err, FLOE_NOMEM, "cannot read: out of memory");
	s->nlanes = n;
	for (size_t k = 0; k < n; k++) {
		struct lane *l = &s->lanes[k];
		l->s = s;
		l->next_file = k;
		bool cv = pthread_cond_init(&l->space, NULL) == 0;
		if (!cv || pthread_create(&l->thread, NULL, lane_main, l) != 0) {
			if (cv)
				pthread_cond_destroy(&l->space);
			s->nlanes = k;   /* join those started; fail */
			stop_lanes(s);
			return floe_errbuf_set(&s->err, FLOE_NOMEM, "cannot start a reading thread");
		}
	}
	return FLOE_OK;
}

static enum floe_err next_from_lanes(struct floe_source *s, const struct floe_flow **recs,
                                     size_t *n)
{
	if (!s->started && start_lanes(s) != FLOE_OK)
		return s->err.code;
	if (s->err.code != FLOE_OK)
		return s->err.code;
	if (!s->lanes)
		return FLOE_EOF;
	pthread_mutex_lock(&s->mu);
	if (s->borrowed) {
		struct lane *l = s->borrowed;
		l->head = (l->head + 1) % RING;
		l->count--;
		s->borrowed = NULL;
		if (l->waiting)
			pthread_cond_signal(&l->space);
	}
	enum floe_err e = FLOE_OK;
	for (;;) {
		size_t i = s->next;
		if (i >= s->nfiles) {
			e = FLOE_EOF;
			break;
		}
		struct lane *l = &s->lanes[i % s->nlanes];
		struct item *it = l->count ? &l->ring[l->head] : NULL;
		if (it && it->file == i) {
			s->borrowed = l;
			s->cur = i;
			*recs = it->recs;
			*n = it->n;
			break;
		}
		if ((it && it->file > i) || l->next_file > i) {
			s->next++;     /* file i is done */
			continue;
		}
		if (l->failed) {
			s->err = l->err;
			e = s->err.code;
			break;
		}
		s->waiting = true;
		pthread_cond_wait(&s->data, &s->mu);
		s->waiting = false;
	}
	pthread_mutex_unlock(&s->mu);
	return e;
}

enum floe_err floe_source_next(struct floe_source *s, const struct floe_flow **recs, size_t *n)
{
	*recs = NULL;
	*n = 0;
	if (s->o.threads > 0)
		return next_from_lanes(s, recs, n);
	for (;;) {
		if (s->err.code != FLOE_OK)
			return s->err.code;
		if (!s->r && !open_next(s))
			return s->err.code != FLOE_OK ? s->err.code : FLOE_EOF;
		enum floe_err e = floe_reader_next(s->r, recs, n);
		if (e == FLOE_OK)
			return FLOE_OK;
		if (e != FLOE_EOF) {
			floe_errbuf_set(&s->err, e, "%s", floe_reader_error(s->r));
			close_reader(s);
			return e;
		}
		close_reader(s);
	}
}

const char *floe_source_error(const struct floe_source *s)
{
	return s->err.msg;
}

const char *floe_source_path(const struct floe_source *s)
{
	return s->nfiles ? s->files[s->cur].path : "";
}

void floe_source_stats(const struct floe_source *s, struct floe_source_stats *st)
{
	*st = s->st;
	if (s->lanes) {
		pthread_mutex_lock((pthread_mutex_t *)&s->mu);
		for (size_t k = 0; k < s->nlanes; k++) {
			stats_add(st, &s->lanes[k].st);
		}
		pthread_mutex_unlock((pthread_mutex_t *)&s->mu);
	}
	if (s->r)
		reader_counts(s->r, st);
}
