/*
 * source.c - files, archives and time ranges as one stream of blocks
 * (source.h): enumeration, the three skipping steps, and their counts.
 *
 * Must not depend on: meter, decode, filter, libpcap.
 */
#include "archive/source.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "archive/archive.h"
#include "codec/codec.h"
#include "util/mem.h"

#define DEPTH_MAX 32

struct src_file {
	char *path;
	size_t len;
	bool from_dir;
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
	return s;
}

static void close_reader(struct floe_source *s)
{
	if (!s->r)
		return;
	struct floe_reader_stats rs;
	floe_reader_stats(s->r, &rs);
	s->st.blocks_read += rs.blocks_read;
	s->st.blocks_skipped += rs.blocks_skipped;
	s->st.blocks_probed += rs.blocks_probed;
	s->st.blocks_damaged += rs.blocks_damaged;
	s->st.blocks_considered += rs.blocks_read + rs.blocks_skipped + rs.blocks_damaged;
	s->st.records += rs.records;
	s->st.bytes_read += rs.bytes_read;
	floe_reader_close(s->r);
	s->r = NULL;
}

void floe_source_destroy(struct floe_source *s)
{
	if (!s)
		return;
	close_reader(s);
	for (size_t i = 0; i < s->nfiles; i++)
		floe_free(NULL, s->files[i].path, s->files[i].len + 1);
	floe_free(NULL, s->files, s->cap * sizeof(*s->files));
	floe_free(NULL, s, sizeof(*s));
}

static enum floe_err push(struct floe_source *s, const char *path, bool from_dir,
                          struct floe_errbuf *eb)
{
	if (s->nfiles == s->cap) {
		size_t ncap = s->cap ? 2 * s->cap : 64;
		struct src_file *nf = floe_realloc(NULL, s->files, s->cap * sizeof(*nf),
		                                   ncap * sizeof(*nf));
		if (!nf)
			return floe_errbuf_set(eb, FLOE_NOMEM, "cannot list '%s': out of memory", path);
		s->files = nf;
		s->cap = ncap;
	}
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

static bool wanted(const char *name)
{
	size_t n = strlen(name);
	if (name[0] == '.')
		return false;
	if (n > 5 && strcmp(name + n - 5, ".part") == 0)
		n -= 5;
	return n > 5 && memcmp(name + n - 5, ".floe", 5) == 0;
}

static enum floe_err walk(struct floe_source *s, const char *dir, int depth,
                          struct floe_errbuf *eb)
{
	if (depth > DEPTH_MAX)
		return floe_errbuf_set(eb, FLOE_LIMIT, "cannot list '%s': deeper than %d levels", dir,
		                       DEPTH_MAX);
	DIR *d = opendir(dir);
	if (!d)
		return floe_errbuf_set(eb, FLOE_IO, "cannot read directory '%s': %s", dir,
		                       strerror(errno));
	enum floe_err e = FLOE_OK;
	struct dirent *de;
	char path[PATH_MAX];
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;   /* ".", "..", hidden */
		int k = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (k < 0 || (size_t)k >= sizeof(path)) {
			e = floe_errbuf_set(eb, FLOE_LIMIT, "cannot list '%s': path too long", dir);
			break;
		}
		struct stat st;
		if (lstat(path, &st) != 0)
			continue;   /* vanished (a .part renamed meanwhile) */
		if (S_ISDIR(st.st_mode))
			e = walk(s, path, depth + 1, eb);
		else if (S_ISREG(st.st_mode) && wanted(de->d_name))
			e = push(s, path, true, eb);
		if (e != FLOE_OK)
			break;
	}
	closedir(d);
	return e;
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
	enum floe_err e = walk(s, dir, 0, eb);
	if (e == FLOE_OK)
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

/* Opens the next file worth reading; false when there is none (or on a
 * fatal error, left in s->err). */
static bool open_next(struct floe_source *s)
{
	while (s->next < s->nfiles) {
		size_t i = s->next++;
		const struct src_file *f = &s->files[i];
		s->st.files_considered++;
		if (skip_by_name(s, f)) {
			s->st.files_skipped_name++;
			continue;
		}
		struct floe_errbuf eb = {0};
		struct floe_reader *r = floe_reader_open(f->path, s->o.log, &eb);
		if (!r) {
			if (!f->from_dir || eb.code == FLOE_NOMEM) {
				floe_errbuf_set(&s->err, eb.code, "%s", eb.msg);
				return false;
			}
			floe_logf(s->o.log, FLOE_LOG_WARN, "%s; skipped", eb.msg);
			s->st.files_failed++;
			continue;
		}
		int64_t tmin, tmax;
		uint64_t nb, nrec;
		if (!s->o.no_index && floe_reader_footer_range(r, &tmin, &tmax, &nb, &nrec) &&
		    (nrec == 0 || tmin >= s->o.range.end || tmax < s->o.range.start)) {
			s->st.files_skipped_footer++;
			floe_reader_close(r);
			continue;
		}
		if (!s->o.no_index && s->o.naddrs &&
		    !floe_reader_may_contain(r, s->o.addrs, s->o.naddrs)) {
			s->st.files_skipped_addr++;
			floe_reader_close(r);
			continue;
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
		s->r = r;
		s->cur = i;
		s->st.files_read++;
		return true;
	}
	return false;
}

enum floe_err floe_source_next(struct floe_source *s, const struct floe_flow **recs, size_t *n)
{
	*recs = NULL;
	*n = 0;
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
	if (s->r) {
		struct floe_reader_stats rs;
		floe_reader_stats(s->r, &rs);
		st->blocks_read += rs.blocks_read;
		st->blocks_skipped += rs.blocks_skipped;
		st->blocks_probed += rs.blocks_probed;
		st->blocks_damaged += rs.blocks_damaged;
		st->blocks_considered += rs.blocks_read + rs.blocks_skipped + rs.blocks_damaged;
		st->records += rs.records;
		st->bytes_read += rs.bytes_read;
	}
}
