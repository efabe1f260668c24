/*
 * maint.c - archive maintenance (maint.h): list, verify, expire, recover.
 * The rules are in maint.h and docs/archive.md "Maintenance"; this file
 * holds how: the .part lock test, the copy of complete blocks into a
 * closed file, and the removal order.
 *
 * Must not depend on: meter, decode, filter, libpcap.
 */
#include "archive/maint.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/archive.h"
#include "util/mem.h"

#define DAY (86400LL * 1000000000LL)

/* snprintf that may cut (paths into messages), said once. */
static void say(char *dst, size_t cap, const char *fmt, ...) FLOE_PRINTF(3, 4);
static void say(char *dst, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(dst, cap, fmt, ap);
	va_end(ap);
}

/* ---- listing ---- */

static enum floe_err list_push(void *ud, const char *path, uint64_t size, struct floe_errbuf *eb)
{
	struct floe_archive_list *l = ud;
	if (!floe_grow(NULL, (void **)&l->files, &l->cap, l->n + 1, sizeof(*l->files), 64))
		return floe_errbuf_set(eb, FLOE_NOMEM, "cannot list '%s': out of memory", path);
	size_t len = strlen(path);
	struct floe_archive_file *f = &l->files[l->n];
	memset(f, 0, sizeof(*f));
	f->path = floe_malloc(NULL, len + 1);
	if (!f->path)
		return floe_errbuf_set(eb, FLOE_NOMEM, "cannot list '%s': out of memory", path);
	memcpy(f->path, path, len + 1);
	f->bytes = size;
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	f->named = floe_archive_parse_name(base, &f->period, &f->part);
	if (!f->named) {
		size_t n = strlen(base);
		f->part = n > 5 && strcmp(base + n - 5, ".part") == 0;
	} else {
		size_t k = strcspn(base, ".");
		if (k >= sizeof(f->instance))
			k = sizeof(f->instance) - 1;
		memcpy(f->instance, base, k);
		f->instance[k] = '\0';
	}
	l->n++;
	return FLOE_OK;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct floe_archive_file *)a)->path,
	              ((const struct floe_archive_file *)b)->path);
}

enum floe_err floe_archive_list(struct floe_archive_list *l, const char *dir,
                                struct floe_errbuf *eb)
{
	struct stat st;
	if (stat(dir, &st) != 0)
		return floe_errbuf_set(eb, FLOE_IO, "cannot read directory '%s': %s", dir,
		                       strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return floe_errbuf_set(eb, FLOE_INVALID, "cannot read directory '%s': not a directory",
		                       dir);
	enum floe_err e = floe_archive_walk(dir, list_push, l, eb);
	if (e == FLOE_OK && l->n > 1)
		qsort(l->files, l->n, sizeof(*l->files), by_path);
	return e;
}

void floe_archive_list_release(struct floe_archive_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		floe_free(NULL, l->files[i].path, strlen(l->files[i].path) + 1);
	floe_free(NULL, l->files, l->cap * sizeof(*l->files));
	memset(l, 0, sizeof(*l));
}

/* ---- what a file holds ---- */

static bool count_block(void *ud, const struct floe_block_summary *s)
{
	struct floe_archive_info *in = ud;
	in->blocks++;
	in->records += s->nrec;
	if (s->tmin < in->tmin)
		in->tmin = s->tmin;
	if (s->tmax > in->tmax)
		in->tmax = s->tmax;
	return false;   /* headers only: seek over the payload */
}

enum floe_err floe_archive_file_info(const char *path, const struct floe_log *log,
                                     struct floe_archive_info *out, struct floe_errbuf *eb)
{
	memset(out, 0, sizeof(*out));
	out->tmin = INT64_MAX;
	out->tmax = INT64_MIN;
	struct floe_reader *r = floe_reader_open(path, log, eb);
	if (!r)
		return eb->code;
	say(out->instance, sizeof(out->instance), "%s", floe_reader_info(r)->instance);
	out->closed = floe_reader_footer_range(r, &out->tmin, &out->tmax, &out->blocks,
	                                       &out->records);
	enum floe_err e = FLOE_EOF;
	if (!out->closed) {
		out->tmin = INT64_MAX;
		out->tmax = INT64_MIN;
		floe_reader_set_block_filter(r, count_block, out);
		const struct floe_flow *recs;
		size_t n;
		while ((e = floe_reader_next(r, &recs, &n)) == FLOE_OK)
			;
		if (e != FLOE_EOF)
			floe_errbuf_set(eb, e, "%s", floe_reader_error(r));
	}
	floe_reader_close(r);
	return e == FLOE_EOF ? FLOE_OK : e;
}

/* ---- verifying ---- */

static void note_damage(void *ud, enum floe_damage_kind kind, uint64_t blockno, uint64_t offset,
                        const char *what)
{
	struct floe_verify_result *v = ud;
	if (kind == FLOE_DAMAGE_TORN) {
		v->torn = true;
		v->torn_offset = offset;
	} else if (kind == FLOE_DAMAGE_BLOCK) {
		v->blocks_damaged++;
	}
	if (v->ndamage < FLOE_VERIFY_DAMAGE_MAX) {
		struct floe_verify_damage *d = &v->damage[v->ndamage++];
		d->kind = kind;
		d->block = blockno;
		d->offset = offset;
		say(d->what, sizeof(d->what), "%s", what);
	}
}

enum floe_err floe_archive_verify_file(const char *path, const struct floe_log *log,
                                       struct floe_verify_result *out, struct floe_errbuf *eb)
{
	memset(out, 0, sizeof(*out));
	size_t n = strlen(path);
	out->part = n > 5 && strcmp(path + n - 5, ".part") == 0;
	struct floe_errbuf oe = {0};
	struct floe_reader *r = floe_reader_open(path, log, &oe);
	if (!r) {
		out->open_err = oe.code;
		say(out->open_msg, sizeof(out->open_msg), "%s", oe.msg);
		out->footer = FLOE_VERIFY_FOOTER_MISSING;
		return FLOE_OK;
	}
	int64_t lo, hi;
	uint64_t nb, nr;
	bool indexed = floe_reader_footer_range(r, &lo, &hi, &nb, &nr);
	floe_reader_set_damage_fn(r, note_damage, out);
	out->af_pages_damaged = floe_reader_check_addr_filter(r);
	const struct floe_flow *recs;
	size_t k;
	enum floe_err e;
	while ((e = floe_reader_next(r, &recs, &k)) == FLOE_OK)
		;
	struct floe_reader_stats st;
	floe_reader_stats(r, &st);
	out->blocks = st.blocks_read;
	out->records = st.records;
	if (st.footer_damaged || (!indexed && floe_reader_info(r)->has_footer))
		out->footer = FLOE_VERIFY_FOOTER_DAMAGED;   /* a footer, but no usable trailer */
	else
		out->footer = indexed ? FLOE_VERIFY_FOOTER_OK : FLOE_VERIFY_FOOTER_MISSING;
	if (e != FLOE_EOF)
		floe_errbuf_set(eb, e, "%s", floe_reader_error(r));
	floe_reader_close(r);
	if (e != FLOE_EOF)
		return e;
	out->clean = out->blocks_damaged == 0 && out->af_pages_damaged == 0 &&
	             out->footer != FLOE_VERIFY_FOOTER_DAMAGED &&
	             (out->part || (out->footer == FLOE_VERIFY_FOOTER_OK && !out->torn));
	return FLOE_OK;
}

/* ---- the .part lock ---- */

/* Opens path and takes its lock without waiting.  Returns the descriptor
 * (holding the lock), -1 with *busy set when a writer holds it, or -1
 * with errno set. */
static int lock_part(const char *path, bool *busy)
{
	*busy = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int en = errno;
		close(fd);
		*busy = en == EWOULDBLOCK || en == EAGAIN;
		errno = en;
		return -1;
	}
	/* still the file of that name (not removed by a recovery that held
	 * the lock before us)? */
	struct stat a, b;
	if (fstat(fd, &a) != 0 || stat(path, &b) != 0 || a.st_ino != b.st_ino ||
	    a.st_dev != b.st_dev) {
		close(fd);
		errno = ENOENT;
		return -1;
	}
	return fd;
}

static void fsync_dir_of(const char *path)
{
	char d[PATH_MAX];
	say(d, sizeof(d), "%s", path);
	char *slash = strrchr(d, '/');
	if (slash)
		*slash = '\0';
	else
		say(d, sizeof(d), ".");
	int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* ---- expiring ---- */

struct cand {
	const struct floe_archive_file *f;
	bool busy, gone;
};

/* The removal order: period start, then path. */
static int by_age(const void *a, const void *b)
{
	const struct floe_archive_file *x = ((const struct cand *)a)->f;
	const struct floe_archive_file *y = ((const struct cand *)b)->f;
	if (x->period != y->period)
		return x->period < y->period ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* True when every record of f ended before cutoff (maint.h, step 1). */
static bool ended_before(const struct floe_archive_file *f, int64_t cutoff)
{
	if (f->period > INT64_MAX - DAY || f->period + DAY <= cutoff)
		return f->period <= INT64_MAX - DAY;
	if (f->period >= cutoff || f->part)
		return false;
	struct floe_errbuf eb = {0};
	struct floe_reader *r = floe_reader_open(f->path, NULL, &eb);
	if (!r)
		return false;
	int64_t lo, hi;
	uint64_t nb, nr;
	bool ok = floe_reader_footer_range(r, &lo, &hi, &nb, &nr) && hi < cutoff;
	floe_reader_close(r);
	return ok;
}

/* Removes the directories a removal left empty: DD, MM, YYYY (names of
 * digits only, below root). */
static uint64_t prune_dirs(const char *root, const char *file)
{
	char d[PATH_MAX];
	say(d, sizeof(d), "%s", file);
	size_t rl = strlen(root);
	uint64_t n = 0;
	for (int level = 0; level < 3; level++) {
		char *slash = strrchr(d, '/');
		if (!slash || (size_t)(slash - d) <= rl)
			break;
		*slash = '\0';
		const char *name = strrchr(d, '/');
		name = name ? name + 1 : d;
		if (!*name || strspn(name, "0123456789") != strlen(name) || (size_t)(name - d) <= rl)
			break;
		if (rmdir(d) != 0)
			break;
		n++;
	}
	return n;
}

/* Removes f (a .part only under its lock).  OK, or AGAIN when a writer
 * holds it, or IO. */
static enum floe_err remove_file(const struct floe_archive_file *f, bool dry_run,
                                 struct floe_errbuf *eb)
{
	int fd = -1;
	if (f->part) {
		bool busy;
		fd = lock_part(f->path, &busy);
		if (fd < 0)
			return busy || errno == ENOENT ? FLOE_AGAIN
			                               : floe_errbuf_set(eb, FLOE_IO, "cannot remove '%s': %s",
			                                                 f->path, strerror(errno));
	}
	enum floe_err e = FLOE_OK;
	if (!dry_run && unlink(f->path) != 0 && errno != ENOENT)
		e = floe_errbuf_set(eb, FLOE_IO, "cannot remove '%s': %s", f->path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return e;
}

enum floe_err floe_archive_expire(const char *dir, const struct floe_expire_opts *o,
                                  struct floe_expire_result *res, struct floe_errbuf *eb)
{
	memset(res, 0, sizeof(*res));
	struct floe_archive_list l = {0};
	enum floe_err e = floe_archive_list(&l, dir, eb);
	struct cand *c = NULL;
	size_t nc = 0;
	if (e == FLOE_OK && l.n) {
		c = floe_calloc(NULL, l.n, sizeof(*c));
		if (!c)
			e = floe_errbuf_set(eb, FLOE_NOMEM, "cannot expire '%s': out of memory", dir);
	}
	if (e != FLOE_OK)
		goto out;
	for (size_t i = 0; i < l.n; i++) {
		res->files_before++;
		res->bytes_before += l.files[i].bytes;
		if (l.files[i].named)
			c[nc++] = (struct cand){.f = &l.files[i]};
	}
	if (nc > 1)
		qsort(c, nc, sizeof(*c), by_age);
	uint64_t total = res->bytes_before;
	int64_t cutoff = o->keep > 0 && o->now > INT64_MIN + o->keep ? o->now - o->keep : INT64_MIN;
	for (int step = 0; step < 2 && e == FLOE_OK; step++) {
		for (size_t k = 0; k < nc && e == FLOE_OK; k++) {
			struct cand *x = &c[k];
			const struct floe_archive_file *f = x->f;
			if (x->gone || x->busy)
				continue;
			if (step == 0 && (cutoff == INT64_MIN || !ended_before(f, cutoff)))
				continue;
			if (step == 1 && (o->max_bytes == 0 || total <= o->max_bytes))
				break;
			e = remove_file(f, o->dry_run, eb);
			if (e == FLOE_AGAIN) {
				x->busy = true;
				e = FLOE_OK;
				continue;
			}
			if (e != FLOE_OK)
				break;
			x->gone = true;
			total -= f->bytes;
			res->files_removed++;
			res->bytes_removed += f->bytes;
			if (o->removed)
				o->removed(o->ud, f, step == 0);
			if (!o->dry_run)
				res->dirs_removed += prune_dirs(dir, f->path);
		}
	}
	for (size_t k = 0; k < nc; k++)
		res->files_busy += c[k].busy;
	/* busy .parts not reached by either step still count as busy if locked */
	for (size_t k = 0; k < nc; k++) {
		const struct floe_archive_file *f = c[k].f;
		if (!c[k].gone && !c[k].busy && f->part) {
			bool busy;
			int fd = lock_part(f->path, &busy);
			if (fd >= 0)
				close(fd);
			res->files_busy += busy;
		}
	}
	res->over_size = o->max_bytes && total > o->max_bytes;
out:
	floe_free(NULL, c, l.n * sizeof(*c));
	floe_archive_list_release(&l);
	return e;
}

/* ---- recovering ---- */

struct rec_state {
	uint64_t damaged;
	bool torn;
	uint64_t torn_offset;
};

static void rec_damage(void *ud, enum floe_damage_kind kind, uint64_t blockno, uint64_t offset,
                       const char *what)
{
	(void)blockno;
	(void)what;
	struct rec_state *s = ud;
	if (kind == FLOE_DAMAGE_TORN) {
		s->torn = true;
		s->torn_offset = offset;
	} else {
		s->damaged++;
	}
}

static enum floe_err rec_fail(struct floe_recover_report *rep, struct floe_errbuf *eb,
                              enum floe_err code, const char *msg)
{
	rep->outcome = FLOE_RECOVER_FAILED;
	say(rep->msg, sizeof(rep->msg), "%s", msg);
	return floe_errbuf_set(eb, code, "%s", msg);
}

/* Copies the complete blocks of r into fd as a closed file, block for
 * block.  Returns OK or the error with msg set. */
static enum floe_err copy_blocks(struct floe_reader *r, int fd, const char *name,
                                 const char *instance, struct floe_recover_report *rep,
                                 char *msg, size_t msglen)
{
	struct floe_writer_opts wo = {.instance = instance};
	struct floe_errbuf eb = {0};
	struct floe_writer *w = floe_writer_fdopen(fd, name, &wo, &eb);
	if (!w) {
		say(msg, msglen, "%s", eb.msg);
		return eb.code;
	}
	const struct floe_flow *recs;
	size_t n;
	enum floe_err e;
	while ((e = floe_reader_next(r, &recs, &n)) == FLOE_OK) {
		for (size_t i = 0; i < n && e == FLOE_OK; i++)
			e = floe_writer_add(w, &recs[i]);
		if (e == FLOE_OK)
			e = floe_writer_flush(w);   /* keep the .part's block boundaries */
		if (e != FLOE_OK)
			break;
		rep->blocks++;
		rep->records += n;
	}
	if (e != FLOE_EOF) {
		say(msg, msglen, "%s", e == FLOE_OK || !floe_reader_error(r)[0]
		                                ? "cannot write the recovered file"
		                                : floe_reader_error(r));
		floe_writer_abandon(w);
		return e == FLOE_OK ? FLOE_IO : e;
	}
	e = floe_writer_close(w, &eb);
	if (e == FLOE_OK && fsync(fd) != 0) {
		say(eb.msg, sizeof(eb.msg), "cannot sync '%s': %s", name, strerror(errno));
		e = FLOE_IO;
	}
	if (e != FLOE_OK)
		say(msg, msglen, "%s", eb.msg);
	return e;
}

enum floe_err floe_archive_recover_file(const char *part, const struct floe_log *log,
                                        struct floe_recover_report *rep, struct floe_errbuf *eb)
{
	memset(rep, 0, sizeof(*rep));
	say(rep->part, sizeof(rep->part), "%s", part);
	size_t n = strlen(part);
	char buf[FLOE_ARCHIVE_PATH_MAX + 64], final[FLOE_ARCHIVE_PATH_MAX], tmp[FLOE_ARCHIVE_PATH_MAX];
	if (n <= 5 || strcmp(part + n - 5, ".part") != 0 || n + 10 >= sizeof(final)) {
		say(buf, sizeof(buf), "cannot recover '%s': not a .part file", part);
		return rec_fail(rep, eb, FLOE_INVALID, buf);
	}
	memcpy(final, part, n - 5);
	final[n - 5] = '\0';
	const char *base = strrchr(final, '/');
	int dl = base ? (int)(base - final) + 1 : 0;
	base = base ? base + 1 : final;
	say(tmp, sizeof(tmp), "%.*s.%s.recover", dl, final, base);

	bool busy;
	int fd = lock_part(part, &busy);
	if (fd < 0) {
		if (busy || errno == ENOENT) {
			rep->outcome = FLOE_RECOVER_BUSY;
			return FLOE_OK;
		}
		say(buf, sizeof(buf), "cannot recover '%s': %s", part, strerror(errno));
		return rec_fail(rep, eb, FLOE_IO, buf);
	}
	enum floe_err e = FLOE_OK;
	if (access(final, F_OK) == 0) {
		say(buf, sizeof(buf), "cannot recover '%s': '%s' exists", part, final);
		e = rec_fail(rep, eb, FLOE_INVALID, buf);
		close(fd);
		return e;
	}
	struct stat st;
	uint64_t size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	struct floe_errbuf re = {0};
	struct floe_reader *r = floe_reader_fdopen(fd, part, log, &re);
	if (!r) {
		if (re.code == FLOE_TRUNCATED) {   /* crash at creation: nothing to keep */
			if (unlink(part) != 0) {
				say(buf, sizeof(buf), "cannot remove '%s': %s", part, strerror(errno));
				e = rec_fail(rep, eb, FLOE_IO, buf);
			} else {
				fsync_dir_of(part);
				rep->outcome = FLOE_RECOVER_REMOVED;
				rep->bytes_dropped = size;
			}
		} else {
			e = rec_fail(rep, eb, re.code, re.msg);
		}
		close(fd);
		return e;
	}
	int64_t lo, hi;
	if (floe_reader_footer_range(r, &lo, &hi, &rep->blocks, &rep->records)) {
		/* closed but not renamed: finish the writer's job */
		floe_reader_close(r);
		if (fsync(fd) != 0 || rename(part, final) != 0) {
			say(buf, sizeof(buf), "cannot rename '%s': %s", part, strerror(errno));
			e = rec_fail(rep, eb, FLOE_IO, buf);
		} else {
			fsync_dir_of(final);
			rep->outcome = FLOE_RECOVER_RENAMED;
			say(rep->final, sizeof(rep->final), "%s", final);
		}
		close(fd);
		return e;
	}
	struct rec_state rs = {0};
	floe_reader_set_damage_fn(r, rec_damage, &rs);
	int tfd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (tfd < 0) {
		say(buf, sizeof(buf), "cannot create '%s': %s", tmp, strerror(errno));
		e = rec_fail(rep, eb, FLOE_IO, buf);
	} else {
		char msg[256];
		e = copy_blocks(r, tfd, tmp, floe_reader_info(r)->instance, rep, msg, sizeof(msg));
		if (close(tfd) != 0 && e == FLOE_OK) {
			say(msg, sizeof(msg), "cannot close '%s': %s", tmp, strerror(errno));
			e = FLOE_IO;
		}
		if (e != FLOE_OK)
			rec_fail(rep, eb, e, msg);
	}
	floe_reader_close(r);
	rep->blocks_damaged = rs.damaged;
	rep->bytes_dropped = rs.torn && rs.torn_offset < size ? size - rs.torn_offset : 0;
	if (e == FLOE_OK && rep->blocks == 0) {
		unlink(tmp);
		rep->outcome = FLOE_RECOVER_REMOVED;
	} else if (e == FLOE_OK) {
		/* link, not rename: never replace a file that appeared meanwhile */
		int rc = link(tmp, final);
		if (rc != 0 && errno != EEXIST)
			rc = rename(tmp, final);
		else
			unlink(tmp);
		if (rc != 0) {
			say(buf, sizeof(buf), "cannot create '%s': %s", final, strerror(errno));
			e = rec_fail(rep, eb, FLOE_IO, buf);
		} else {
			rep->outcome = FLOE_RECOVER_CLOSED;
			say(rep->final, sizeof(rep->final), "%s", final);
		}
	}
	if (e != FLOE_OK) {
		unlink(tmp);
	} else if (unlink(part) != 0) {
		say(buf, sizeof(buf), "cannot remove '%s': %s", part, strerror(errno));
		e = rec_fail(rep, eb, FLOE_IO, buf);
	} else {
		fsync_dir_of(part);
	}
	close(fd);
	return e;
}

enum floe_err floe_archive_recover(const char *dir, const struct floe_log *log,
                                   void (*fn)(void *ud, const struct floe_recover_report *rep),
                                   void *ud, struct floe_errbuf *eb)
{
	struct floe_archive_list l = {0};
	enum floe_err first = floe_archive_list(&l, dir, eb);
	for (size_t i = 0; first == FLOE_OK && i < l.n; i++) {
		if (!l.files[i].part)
			continue;
		struct floe_recover_report rep;
		struct floe_errbuf fe = {0};
		enum floe_err e = floe_archive_recover_file(l.files[i].path, log, &rep, &fe);
		if (fn)
			fn(ud, &rep);
		if (e != FLOE_OK)
			floe_errbuf_set(eb, e, "%s", fe.msg);
	}
	floe_archive_list_release(&l);
	return eb->code == FLOE_OK ? first : eb->code;
}
