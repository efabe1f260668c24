/*
 * dbload.c - the loop of the database exporters over files (dbload.h).
 */
#include "export/dbload.h"
#include "archive/archive.h"
#include "codec/codec.h"
#include "util/crc32c.h"
#include "util/mem.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Path lists: a walk of a big archive holds some 10^5 names. */
#define LIST_BUDGET (256u << 20)

enum floe_err floe_dbfile_identify(struct floe_dbfile *f, const char *path,
                                   const struct floe_timerange *range, struct floe_errbuf *eb)
{
	memset(f, 0, sizeof(*f));
	f->path = path;
	struct floe_reader *r = floe_reader_open(path, NULL, eb);
	if (!r)
		return eb->code;
	const struct floe_file_info *info = floe_reader_info(r);
	char instance[sizeof(info->instance)];
	snprintf(instance, sizeof(instance), "%s", info->instance);
	int64_t created = info->created;
	uint64_t nb, nr;
	f->ranged = floe_reader_footer_range(r, &f->tmin, &f->tmax, &nb, &nr) &&
	            f->tmin <= f->tmax;
	floe_reader_close(r);

	FILE *fp = fopen(path, "rb");
	if (!fp)
		return floe_errbuf_set(eb, FLOE_IO, "cannot open '%s': %s", path, strerror(errno));
	static const size_t chunk = 1u << 20;
	uint8_t *buf = malloc(chunk);
	if (!buf) {
		fclose(fp);
		return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory reading '%s'", path);
	}
	uint32_t crc = 0;
	size_t n;
	while ((n = fread(buf, 1, chunk, fp)) > 0) {
		crc = floe_crc32c(crc, buf, n);
		f->size += n;
	}
	bool bad = ferror(fp);
	int e = errno;
	free(buf);
	fclose(fp);
	if (bad)
		return floe_errbuf_set(eb, FLOE_IO, "cannot read '%s': %s", path, strerror(e));
	/* Instance names are [A-Za-z0-9_-]; anything else is kept out of the key. */
	for (char *p = instance; *p; p++)
		if (!(*p == '-' || *p == '_' || (*p >= '0' && *p <= '9') ||
		      ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')))
			*p = '_';
	int k = snprintf(f->key, sizeof(f->key), "%s/%" PRId64 "/%" PRIu64 "/%08" PRIx32,
	                 instance, created, f->size, crc);
	if (range && !floe_timerange_is_all(range))
		snprintf(f->key + k, sizeof(f->key) - (size_t)k, "/t=%" PRId64 ",%" PRId64,
		         range->start, range->end);
	uint64_t h = 0xcbf29ce484222325ull;
	for (const char *p = f->key; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	f->id = h;
	return FLOE_OK;
}

/* ---- path lists ---- */

struct plist {
	char **v;
	size_t n, cap;
	struct floe_budget *b;
};

static void plist_release(struct plist *l)
{
	for (size_t i = 0; i < l->n; i++)
		floe_free(l->b, l->v[i], strlen(l->v[i]) + 1);
	floe_free(l->b, l->v, l->cap * sizeof(*l->v));
	l->v = NULL;
	l->n = l->cap = 0;
}

static enum floe_err plist_add(struct plist *l, const char *path, struct floe_errbuf *eb)
{
	size_t len = strlen(path) + 1;
	char *s = floe_malloc(l->b, len);
	if (!s || !floe_grow(l->b, (void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v), 256)) {
		floe_free(l->b, s, len);
		return floe_errbuf_set(eb, FLOE_NOMEM, "too many files to list (%zu)", l->n);
	}
	memcpy(s, path, len);
	l->v[l->n++] = s;
	return FLOE_OK;
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool plist_has(const struct plist *l, const char *path)
{
	return l->n && bsearch(&path, l->v, l->n, sizeof(*l->v), cmp_path) != NULL;
}

static enum floe_err walk_one(void *ud, const char *path, uint64_t size, struct floe_errbuf *eb)
{
	(void)size;
	size_t n = strlen(path);
	if (n >= 5 && strcmp(path + n - 5, ".part") == 0)
		return FLOE_OK;  /* still being written: a later pass takes it */
	return plist_add(ud, path, eb);
}

/* The files of o in load order: -r as given, then each -R sorted. */
static enum floe_err list_files(const struct floe_dbload_opts *o, struct plist *l,
                                struct floe_errbuf *eb)
{
	enum floe_err e = FLOE_OK;
	for (size_t i = 0; i < o->nfiles && !e; i++)
		e = plist_add(l, o->files[i], eb);
	for (size_t i = 0; i < o->ndirs && !e; i++) {
		size_t first = l->n;
		e = floe_archive_walk(o->dirs[i], walk_one, l, eb);
		if (!e && l->n > first)
			qsort(l->v + first, l->n - first, sizeof(*l->v), cmp_path);
	}
	return e;
}

/* ---- loading one file ---- */

/* One target and what loading through it needs of its own. */
struct loader {
	const struct floe_dbload_opts *o;
	const struct floe_dbload_ops *ops;
	void *t;
	bool prepare;               /* several targets: ops->prepare first */
	struct floe_dbload_stats st;
	struct floe_flow *scratch;  /* the records of a block in the range; NULL: all */
};

static enum floe_err load_records(struct loader *ld, struct floe_reader *r, uint64_t *rows,
                                  struct floe_errbuf *eb)
{
	for (;;) {
		const struct floe_flow *recs;
		size_t n;
		enum floe_err e = floe_reader_next(r, &recs, &n);
		if (e == FLOE_EOF)
			return FLOE_OK;
		if (e)
			return floe_errbuf_set(eb, e, "%s", floe_reader_error(r));
		if (ld->scratch) {
			size_t k = 0;
			for (size_t i = 0; i < n; i++)
				if (floe_timerange_overlaps(&ld->o->range, recs[i].stime, recs[i].ltime))
					ld->scratch[k++] = recs[i];
			recs = ld->scratch;
			n = k;
		}
		if (n == 0)
			continue;
		e = ld->ops->add(ld->t, recs, n, eb);
		if (e)
			return e;
		*rows += n;
	}
}

/* *bad: the error is the file's (unreadable, not a floe file), not the
 * target's. */
static enum floe_err load_file(struct loader *ld, const char *path, bool *bad,
                               struct floe_errbuf *eb)
{
	struct floe_dbfile f;
	*bad = false;
	enum floe_err e = floe_dbfile_identify(&f, path, &ld->o->range, eb);
	if (e) {
		*bad = true;
		return e;
	}
	bool done = false;
	e = ld->ops->loaded(ld->t, &f, &done, eb);
	if (e)
		return e;
	if (done) {
		ld->st.files_skipped++;
		floe_logf(ld->o->log, FLOE_LOG_DEBUG, "'%s' is loaded already", path);
		return FLOE_OK;
	}
	if (ld->prepare && ld->ops->prepare && (e = ld->ops->prepare(ld->t, &f, eb)))
		return e;
	struct floe_reader *r = floe_reader_open(path, ld->o->log, eb);
	if (!r) {
		*bad = true;
		return eb->code;
	}
	uint64_t rows = 0;
	e = ld->ops->begin(ld->t, &f, eb);
	if (!e)
		e = load_records(ld, r, &rows, eb);
	if (!e)
		e = ld->ops->commit(ld->t, &f, rows, eb);
	floe_reader_close(r);
	if (e) {
		ld->ops->abort(ld->t);
		return e;
	}
	ld->st.files_loaded++;
	ld->st.rows += rows;
	floe_logf(ld->o->log, FLOE_LOG_INFO, "loaded '%s': %" PRIu64 " rows", path, rows);
	return FLOE_OK;
}

static bool stopped(const struct floe_dbload_opts *o)
{
	return o->stop && *o->stop;
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleeps ns in short steps so a stop request is seen quickly; a wake
 * request ends it too when woken is true, a finish request always. */
static void nap(const struct floe_dbload_opts *o, int64_t ns, bool woken)
{
	while (ns > 0 && !stopped(o) && !(o->finish && atomic_load(o->finish))) {
		if (woken && o->wake && atomic_load(o->wake))
			break;
		int64_t step = ns < 100000000 ? ns : 100000000;
		struct timespec ts = {0, (long)step};
		nanosleep(&ts, NULL);
		ns -= step;
	}
	if (o->wake)
		atomic_store(o->wake, 0);
}

/* One pass over the files still to load (todo, indexes into cur), shared
 * by the workers: each takes the next file; the first failure of a target
 * ends the pass for all. */
struct pass {
	pthread_mutex_t mu;
	const struct plist *cur;
	const size_t *todo;
	size_t ntodo, next;
	bool *ok;
	bool failed;
	enum floe_err err;
	struct floe_errbuf eb;
};

static void work(struct pass *ps, struct loader *ld)
{
	for (;;) {
		pthread_mutex_lock(&ps->mu);
		bool quit = ps->failed || ps->next == ps->ntodo || stopped(ld->o);
		size_t i = quit ? 0 : ps->todo[ps->next++];
		pthread_mutex_unlock(&ps->mu);
		if (quit)
			return;
		struct floe_errbuf eb = {0};
		bool bad;
		enum floe_err e = load_file(ld, ps->cur->v[i], &bad, &eb);
		pthread_mutex_lock(&ps->mu);
		if (e && bad) {
			/* A damaged file is skipped (and not retried), the rest loaded. */
			floe_logf(ld->o->log, FLOE_LOG_WARN, "skipped: %s", eb.msg);
			ld->st.files_damaged++;
			ps->ok[i] = true;
		} else if (e) {
			if (!ps->failed) {
				ps->failed = true;
				ps->err = e;
				ps->eb = eb;
			}
		} else {
			ps->ok[i] = true;
		}
		pthread_mutex_unlock(&ps->mu);
	}
}

static void *work_thread(void *arg)
{
	void **a = arg;
	work(a[0], a[1]);
	return NULL;
}

/* Loads the files of cur not in done with the loaders ld[0..nl); ok[i]
 * says which are handled now.  Returns the first failure. */
static enum floe_err pass(struct loader *ld, size_t nl, const struct plist *cur,
                          const struct plist *done, bool *ok, struct floe_errbuf *eb)
{
	size_t *todo = cur->n ? malloc(cur->n * sizeof(*todo)) : NULL;
	if (cur->n && !todo)
		return floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
	struct pass ps = {.cur = cur, .todo = todo, .ok = ok};
	for (size_t i = 0; i < cur->n; i++) {
		if (plist_has(done, cur->v[i]))
			ok[i] = true;
		else
			todo[ps.ntodo++] = i;
	}
	pthread_mutex_init(&ps.mu, NULL);
	size_t nw = nl < ps.ntodo ? nl : ps.ntodo;
	pthread_t th[FLOE_DBLOAD_MAX_JOBS];
	void *args[FLOE_DBLOAD_MAX_JOBS][2];
	size_t started = 1;
	for (size_t k = 1; k < nw; k++) {
		args[k][0] = &ps;
		args[k][1] = &ld[k];
		if (pthread_create(&th[k], NULL, work_thread, args[k]) != 0)
			break;   /* fewer workers: the ones running take every file */
		started++;
	}
	work(&ps, &ld[0]);
	for (size_t k = 1; k < started; k++)
		pthread_join(th[k], NULL);
	pthread_mutex_destroy(&ps.mu);
	free(todo);
	if (ps.failed) {
		*eb = ps.eb;
		return ps.err;
	}
	for (size_t k = 0; k < nl; k++)
		if (ld[k].ops->idle) {
			enum floe_err e = ld[k].ops->idle(ld[k].t, eb);
			if (e)
				return e;
		}
	return FLOE_OK;
}

enum floe_err floe_dbload_run(const struct floe_dbload_opts *o, const struct floe_dbload_ops *ops,
                              void *const *t, size_t nt, struct floe_dbload_stats *st,
                              struct floe_errbuf *eb)
{
	struct floe_dbload_stats dummy;
	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	if (nt == 0 || nt > FLOE_DBLOAD_MAX_JOBS)
		return floe_errbuf_set(eb, FLOE_INVALID, "1 to %d jobs", FLOE_DBLOAD_MAX_JOBS);
	struct floe_budget b;
	floe_budget_init(&b, LIST_BUDGET);
	struct loader ld[FLOE_DBLOAD_MAX_JOBS];
	enum floe_err e = FLOE_OK;
	for (size_t k = 0; k < nt; k++) {
		ld[k] = (struct loader){.o = o, .ops = ops, .t = t[k], .prepare = nt > 1};
		if (!floe_timerange_is_all(&o->range)) {
			ld[k].scratch = malloc(FLOE_BLOCK_MAX_RECORDS * sizeof(*ld[k].scratch));
			if (!ld[k].scratch)
				e = floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		}
	}
	int64_t interval = o->interval > 0 ? o->interval : 5000000000LL;
	int64_t maxi = o->max_interval > interval ? o->max_interval : interval;
	int64_t wait = interval, next_expiry = 0;
	struct plist done = {.b = &b};
	for (; !e;) {
		bool last = o->finish && atomic_load(o->finish);
		struct plist cur = {.b = &b};
		bool *ok = NULL;
		struct floe_errbuf peb = {0};
		enum floe_err pe = list_files(o, &cur, &peb);
		if (!pe && cur.n) {
			ok = calloc(cur.n, sizeof(*ok));
			if (!ok)
				pe = floe_errbuf_set(&peb, FLOE_NOMEM, "out of memory");
		}
		if (!pe)
			pe = pass(ld, nt, &cur, &done, ok, &peb);
		/* What is handled is the part of this walk done now or before. */
		struct plist next = {.b = &b};
		for (size_t i = 0; i < cur.n && ok; i++)
			if (ok[i] && plist_add(&next, cur.v[i], &peb) != FLOE_OK)
				break;
		if (next.n)
			qsort(next.v, next.n, sizeof(*next.v), cmp_path);
		free(ok);
		plist_release(&cur);
		plist_release(&done);
		done = next;
		if (!o->follow) {
			if (pe)
				*eb = peb;
			e = pe;
			break;
		}
		if (pe) {
			st->retries++;
			floe_logf(o->log, FLOE_LOG_WARN, "%s (retrying in %" PRId64 " s)", peb.msg,
			          (wait + 999999999) / 1000000000);
		} else if (o->expire_keep > 0 && ops->expire && mono_ns() >= next_expiry) {
			struct timespec now;
			clock_gettime(CLOCK_REALTIME, &now);
			uint64_t dropped = 0;
			struct floe_errbuf xeb = {0};
			if (ops->expire(t[0], o->expire_keep,
			                (int64_t)now.tv_sec * 1000000000 + now.tv_nsec, &dropped,
			                &xeb) != FLOE_OK)
				floe_logf(o->log, FLOE_LOG_WARN, "expiry: %s", xeb.msg);
			else
				next_expiry = mono_ns() + 3600LL * 1000000000;
			st->partitions_dropped += dropped;
		}
		if (last || stopped(o))
			break;
		/* A database that fails is asked again later and later; one that
		 * works is looked at every interval, or when woken. */
		nap(o, pe ? wait : interval, !pe);
		wait = pe ? (wait > maxi / 2 ? maxi : wait * 2) : interval;
		if (stopped(o))
			break;
	}
	for (size_t k = 0; k < nt; k++) {
		st->files_loaded += ld[k].st.files_loaded;
		st->files_skipped += ld[k].st.files_skipped;
		st->rows += ld[k].st.rows;
		st->files_damaged += ld[k].st.files_damaged;
		free(ld[k].scratch);
	}
	plist_release(&done);
	return e;
}

/* ---- following in a thread ---- */

struct floe_dbfollow {
	pthread_t th;
	struct floe_dbload_opts o;
	const struct floe_dbload_ops *ops;
	void *t[FLOE_DBLOAD_MAX_JOBS];
	size_t nt;
	atomic_int wake, finish;
	struct floe_dbload_stats st;
};

static void *follow_thread(void *arg)
{
	struct floe_dbfollow *f = arg;
	/* Signals are the caller's main thread's business. */
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	struct floe_errbuf eb = {0};
	if (floe_dbload_run(&f->o, f->ops, f->t, f->nt, &f->st, &eb) != FLOE_OK)
		floe_logf(f->o.log, FLOE_LOG_ERR, "loading stopped: %s", eb.msg);
	return NULL;
}

struct floe_dbfollow *floe_dbfollow_start(const struct floe_dbload_opts *o,
                                          const struct floe_dbload_ops *ops, void *const *t,
                                          size_t nt, struct floe_errbuf *eb)
{
	if (nt == 0 || nt > FLOE_DBLOAD_MAX_JOBS) {
		floe_errbuf_set(eb, FLOE_INVALID, "1 to %d jobs", FLOE_DBLOAD_MAX_JOBS);
		return NULL;
	}
	struct floe_dbfollow *f = calloc(1, sizeof(*f));
	if (!f) {
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		return NULL;
	}
	f->o = *o;
	f->o.follow = true;
	f->o.stop = NULL;   /* the thread ends by finish */
	f->o.wake = &f->wake;
	f->o.finish = &f->finish;
	f->ops = ops;
	memcpy(f->t, t, nt * sizeof(*t));
	f->nt = nt;
	int rc = pthread_create(&f->th, NULL, follow_thread, f);
	if (rc != 0) {
		floe_errbuf_set(eb, FLOE_IO, "cannot start the loading thread: %s", strerror(rc));
		free(f);
		return NULL;
	}
	return f;
}

void floe_dbfollow_wake(struct floe_dbfollow *f)
{
	if (f)
		atomic_store(&f->wake, 1);
}

void floe_dbfollow_stop(struct floe_dbfollow *f, struct floe_dbload_stats *st)
{
	if (!f)
		return;
	atomic_store(&f->finish, 1);
	pthread_join(f->th, NULL);
	if (st)
		*st = f->st;
	free(f);
}

/* ---- columns ---- */

size_t floe_dbcols(struct floe_dbcol *cols, bool v4)
{
	size_t nf, n = 0;
	const struct floe_field *fs = floe_fields(&nf);
	for (size_t i = 0; i < nf && n + 4 <= FLOE_DBCOL_MAX; i++) {
		const struct floe_field *fd = &fs[i];
		if (fd->size == 0 || (fd->kinds & FLOE_FK_LOCAL))
			continue;
		cols[n] = (struct floe_dbcol){.kind = FLOE_DBCOL_FIELD, .fd = fd};
		snprintf(cols[n++].name, sizeof(cols->name), "%s", fd->name);
		if (fd->type == FLOE_FT_TIME) {
			cols[n] = (struct floe_dbcol){.kind = FLOE_DBCOL_SUBNS, .fd = fd};
			snprintf(cols[n++].name, sizeof(cols->name), "%s_ns", fd->name);
		} else if (fd->type == FLOE_FT_ADDR && v4) {
			cols[n] = (struct floe_dbcol){.kind = FLOE_DBCOL_V4, .fd = fd};
			snprintf(cols[n++].name, sizeof(cols->name), "%s_v4", fd->name);
		}
	}
	cols[n] = (struct floe_dbcol){.kind = FLOE_DBCOL_SYNACK};
	snprintf(cols[n++].name, sizeof(cols->name), "synack_ns");
	cols[n] = (struct floe_dbcol){.kind = FLOE_DBCOL_ACKDAT};
	snprintf(cols[n++].name, sizeof(cols->name), "ackdat_ns");
	return n;
}

bool floe_db_table_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 40 || (name[0] >= '0' && name[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!(c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z')))
			return false;
	}
	return true;
}

void floe_db_day_str(int64_t day, char sep, char out[11])
{
	/* Civil from days (H. Hinnant's algorithm), proleptic Gregorian. */
	int64_t z = day + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	if (y < 0)
		y = 0;
	if (y > 9999)
		y = 9999;
	if (sep)
		snprintf(out, 11, "%04d%c%02d%c%02d", (int)y, sep, (int)m, sep, (int)d);
	else
		snprintf(out, 11, "%04d%02d%02d", (int)y, (int)m, (int)d);
}

bool floe_db_day_parse(const char *s, int64_t *day)
{
	int v[8];
	for (int i = 0; i < 8; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v[i] = s[i] - '0';
	}
	if (s[8] != '\0')
		return false;
	int64_t y = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3];
	int64_t m = v[4] * 10 + v[5], d = v[6] * 10 + v[7];
	if (m < 1 || m > 12 || d < 1 || d > 31)
		return false;
	/* Days from civil (the inverse of floe_db_day_str). */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	int64_t n = era * 146097 + doe - 719468;
	/* 02-30 and the like come back as another date: not a date. */
	char back[11];
	floe_db_day_str(n, 0, back);
	if (memcmp(back, s, 8) != 0)
		return false;
	*day = n;
	return true;
}
