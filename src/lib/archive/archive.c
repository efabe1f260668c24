/*
 * archive.c - the archive writer (archive.h): rotation by the records'
 * clock, .part files renamed when complete, and the file naming both the
 * writer and the source (source.c) rely on.
 *
 * Must not depend on: meter, decode, filter, libpcap.
 */
#include "archive/archive.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive/maint.h"
#include "util/mem.h"

#define NS 1000000000LL
#define SEQ_MAX 9999u

struct floe_archive {
	char dir[PATH_MAX];
	char instance[FLOE_ARCHIVE_NAME_MAX];
	int64_t rotate;
	int64_t expire_keep;
	uint64_t expire_max_bytes;
	struct floe_writer_opts wopts;
	const struct floe_log *log;
	struct floe_errbuf err;
	/* the open file */
	struct floe_writer *w;
	int fd;
	int64_t pstart, pend;        /* its period */
	char part[PATH_MAX];         /* its path while written */
	char final[PATH_MAX];        /* its path once closed */
	struct floe_archive_stats st;
};

static bool instance_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= FLOE_ARCHIVE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

bool floe_archive_path(char *buf, size_t len, const char *instance, int64_t t, unsigned seq)
{
	time_t secs = (time_t)floor_div(t, NS);
	struct tm tm;
	if (!gmtime_r(&secs, &tm))
		return false;
	char sfx[16] = "";
	if (seq)
		snprintf(sfx, sizeof(sfx), "-%u", seq);
	int k = snprintf(buf, len, "%s/%04d/%02d/%02d/%s.%04d%02d%02dT%02d%02d%02dZ%s.floe", instance,
	                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, instance, tm.tm_year + 1900,
	                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, sfx);
	return k > 0 && (size_t)k < len;
}

static bool digits(const char *s, size_t n, int *v)
{
	int x = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		x = x * 10 + (s[i] - '0');
	}
	*v = x;
	return true;
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

bool floe_archive_parse_name(const char *base, int64_t *t, bool *part)
{
	size_t n = strlen(base);
	*part = false;
	if (n > 5 && strcmp(base + n - 5, ".part") == 0) {
		*part = true;
		n -= 5;
	}
	if (n < 5 || memcmp(base + n - 5, ".floe", 5) != 0)
		return false;
	n -= 5;
	/* optional -N */
	size_t e = n;
	while (e > 0 && base[e - 1] >= '0' && base[e - 1] <= '9')
		e--;
	if (e < n && e > 0 && base[e - 1] == '-')
		n = e - 1;
	/* ".YYYYMMDDTHHMMSSZ" = 17 characters */
	if (n < 18 || base[n - 17] != '.' || base[n - 8] != 'T' || base[n - 1] != 'Z')
		return false;
	const char *s = base + n - 16;
	int y, mo, d, h, mi, sec;
	if (!digits(s, 4, &y) || !digits(s + 4, 2, &mo) || !digits(s + 6, 2, &d) ||
	    !digits(s + 9, 2, &h) || !digits(s + 11, 2, &mi) || !digits(s + 13, 2, &sec))
		return false;
	if (y < 1970 || y > 2261 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 59)
		return false;
	*t = ((days_from_civil(y, mo, d) * 86400) + h * 3600 + mi * 60 + sec) * NS;
	return true;
}

static void log_recovered(void *ud, const struct floe_recover_report *rep)
{
	const struct floe_archive *a = ud;
	switch (rep->outcome) {
	case FLOE_RECOVER_CLOSED:
		floe_logf(a->log, FLOE_LOG_INFO,
		          "recovered '%s' as '%s': %llu blocks, %llu records, %llu bytes dropped",
		          rep->part, rep->final, (unsigned long long)rep->blocks,
		          (unsigned long long)rep->records, (unsigned long long)rep->bytes_dropped);
		break;
	case FLOE_RECOVER_RENAMED:
		floe_logf(a->log, FLOE_LOG_INFO, "recovered '%s' as '%s' (it was complete)", rep->part,
		          rep->final);
		break;
	case FLOE_RECOVER_REMOVED:
		floe_logf(a->log, FLOE_LOG_INFO, "removed '%s': no complete block", rep->part);
		break;
	case FLOE_RECOVER_BUSY:
		break;   /* another writer's */
	case FLOE_RECOVER_FAILED:
		break;   /* in the returned error */
	}
}

static void log_expired(void *ud, const struct floe_archive_file *f, bool by_age)
{
	const struct floe_archive *a = ud;
	floe_logf(a->log, FLOE_LOG_INFO, "expired '%s' (%s, %llu bytes)", f->path,
	          by_age ? "age" : "size", (unsigned long long)f->bytes);
}

/* The daemon's expiry (archive.h expire_keep, expire_max_bytes). */
static void run_expiry(struct floe_archive *a)
{
	if (!a->expire_keep && !a->expire_max_bytes)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct floe_expire_opts eo = {.now = (int64_t)ts.tv_sec * NS + ts.tv_nsec,
	                              .keep = a->expire_keep, .max_bytes = a->expire_max_bytes,
	                              .log = a->log, .removed = log_expired, .ud = a};
	struct floe_expire_result res;
	struct floe_errbuf eb = {0};
	if (floe_archive_expire(a->dir, &eo, &res, &eb) != FLOE_OK)
		floe_logf(a->log, FLOE_LOG_WARN, "%s", eb.msg);
}

struct floe_archive *floe_archive_create(const struct floe_archive_opts *o,
                                         struct floe_errbuf *eb)
{
	const char *inst = o->instance ? o->instance : "";
	if (!instance_ok(inst)) {
		floe_errbuf_set(eb, FLOE_INVALID,
		                "bad instance name '%s': 1..63 of A-Z a-z 0-9 _ -", inst);
		return NULL;
	}
	int64_t rot = o->rotate ? o->rotate : FLOE_ARCHIVE_ROTATE_DEFAULT;
	if (rot < NS || rot > FLOE_ARCHIVE_ROTATE_MAX || FLOE_ARCHIVE_ROTATE_MAX % rot != 0) {
		floe_errbuf_set(eb, FLOE_INVALID,
		                "bad rotation %lld s: it must divide a day (e.g. 5m, 1h, 1d)",
		                (long long)(rot / NS));
		return NULL;
	}
	if (!o->dir || !o->dir[0] || strlen(o->dir) + 1 + strlen(inst) + 64 >= PATH_MAX) {
		floe_errbuf_set(eb, FLOE_INVALID, "bad archive directory '%s'", o->dir ? o->dir : "");
		return NULL;
	}
	struct floe_archive *a = floe_calloc(NULL, 1, sizeof(*a));
	if (!a) {
		floe_errbuf_set(eb, FLOE_NOMEM, "cannot write archive '%s': out of memory", o->dir);
		return NULL;
	}
	snprintf(a->dir, sizeof(a->dir), "%s", o->dir);
	snprintf(a->instance, sizeof(a->instance), "%s", inst);
	a->rotate = rot;
	a->log = o->log;
	a->fd = -1;
	a->wopts.instance = a->instance;
	a->wopts.zstd_level = o->zstd_level;
	a->wopts.block_records = o->block_records;
	a->wopts.threads = o->threads;
	a->wopts.log = o->log;
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s", a->dir, a->instance) < 0 ||
	    (mkdir(a->dir, 0755) != 0 && errno != EEXIST) ||
	    (mkdir(path, 0755) != 0 && errno != EEXIST)) {
		floe_errbuf_set(eb, FLOE_IO, "cannot create archive directory '%s': %s", path,
		                strerror(errno));
		floe_free(NULL, a, sizeof(*a));
		return NULL;
	}
	if (o->recover) {
		struct floe_errbuf re = {0};
		if (floe_archive_recover(path, a->log, log_recovered, a, &re) != FLOE_OK)
			floe_logf(a->log, FLOE_LOG_WARN, "%s", re.msg);
	}
	a->expire_keep = o->expire_keep > 0 ? o->expire_keep : 0;
	a->expire_max_bytes = o->expire_max_bytes;
	run_expiry(a);
	return a;
}

/* mkdir -p for the parent directories of path (below a->dir). */
static bool make_parents(struct floe_archive *a, char *path)
{
	size_t base = strlen(a->dir) + 1;
	for (char *p = path + base; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int rc = mkdir(path, 0755);
		int en = errno;
		*p = '/';
		if (rc != 0 && en != EEXIST) {
			*p = '\0';
			floe_errbuf_set(&a->err, FLOE_IO, "cannot create archive directory '%s': %s", path,
			                strerror(en));
			*p = '/';
			return false;
		}
	}
	return true;
}

static void fsync_dir_of(const char *path)
{
	char d[PATH_MAX];
	snprintf(d, sizeof(d), "%s", path);
	char *slash = strrchr(d, '/');
	if (!slash)
		return;
	*slash = '\0';
	int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* Takes fd's exclusive lock (waiting for a recovery or expiry that holds
 * it) and checks that path still names that file. */
static bool locked_still_named(int fd, const char *path)
{
	int rc;
	while ((rc = flock(fd, LOCK_EX)) != 0 && errno == EINTR)
		;
	struct stat x, y;
	if (rc != 0 || fstat(fd, &x) != 0 || stat(path, &y) != 0)
		return false;
	return x.st_ino == y.st_ino && x.st_dev == y.st_dev;
}

static enum floe_err open_period(struct floe_archive *a, int64_t t)
{
	int64_t ps = floor_div(t, a->rotate) * a->rotate;
	unsigned tries = 0;
	for (unsigned seq = 0; seq <= SEQ_MAX; seq++) {
		char rel[PATH_MAX];
		if (!floe_archive_path(rel, sizeof(rel), a->instance, ps, seq))
			return floe_errbuf_set(&a->err, FLOE_INVALID,
			                       "cannot write archive '%s': time %lld out of range", a->dir,
			                       (long long)(t / NS));
		int k1 = snprintf(a->final, sizeof(a->final), "%s/%s", a->dir, rel);
		int k2 = snprintf(a->part, sizeof(a->part), "%s.part", a->final);
		if (k1 < 0 || k2 < 0 || (size_t)k2 >= sizeof(a->part))
			return floe_errbuf_set(&a->err, FLOE_LIMIT, "cannot write archive '%s': path too long",
			                       a->dir);
		if (seq == 0 && !make_parents(a, a->final))
			return a->err.code;
		if (access(a->final, F_OK) == 0)
			continue;
		int fd = open(a->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 && errno == ENOENT && tries++ < 3 && make_parents(a, a->final)) {
			seq--;   /* expire removed the emptied day directory meanwhile */
			continue;
		}
		if (fd < 0 && errno == EEXIST)
			continue;
		if (fd < 0)
			return floe_errbuf_set(&a->err, FLOE_IO, "cannot create '%s': %s", a->part,
			                       strerror(errno));
		/* Hold the .part's lock while writing it (maint.h): recovery
		 * and expiry leave a locked .part alone.  One of them may have
		 * taken the unlocked new file for a crash's and removed it:
		 * then start over. */
		if (!locked_still_named(fd, a->part)) {
			close(fd);
			if (tries++ < 3) {
				seq--;
				continue;
			}
			return floe_errbuf_set(&a->err, FLOE_IO, "cannot lock '%s': %s", a->part,
			                       strerror(errno));
		}
		struct floe_errbuf eb = {0};
		a->w = floe_writer_fdopen(fd, a->part, &a->wopts, &eb);
		if (!a->w) {
			close(fd);
			unlink(a->part);
			return floe_errbuf_set(&a->err, eb.code, "%s", eb.msg);
		}
		a->fd = fd;
		a->pstart = ps;
		a->pend = ps + a->rotate;
		return FLOE_OK;
	}
	return floe_errbuf_set(&a->err, FLOE_LIMIT, "cannot write archive '%s': more than %u files "
	                       "for period of '%s'", a->dir, SEQ_MAX, a->final);
}

/* Footer, fsync, rename, fsync of the directory. */
static enum floe_err close_file(struct floe_archive *a)
{
	if (!a->w)
		return a->err.code;
	struct floe_errbuf eb = {0};
	enum floe_err e = floe_writer_close(a->w, &eb);
	a->w = NULL;
	if (e != FLOE_OK)
		floe_errbuf_set(&a->err, e, "%s", eb.msg);
	else if (fsync(a->fd) != 0)
		floe_errbuf_set(&a->err, FLOE_IO, "cannot sync '%s': %s", a->part, strerror(errno));
	if (close(a->fd) != 0)
		floe_errbuf_set(&a->err, FLOE_IO, "cannot close '%s': %s", a->part, strerror(errno));
	a->fd = -1;
	if (a->err.code != FLOE_OK)
		return a->err.code;  /* the .part stays: readable to its last block */
	if (rename(a->part, a->final) != 0)
		return floe_errbuf_set(&a->err, FLOE_IO, "cannot rename '%s': %s", a->part,
		                       strerror(errno));
	fsync_dir_of(a->final);
	a->st.files++;
	return FLOE_OK;
}

enum floe_err floe_archive_add(struct floe_archive *a, const struct floe_flow *f)
{
	if (a->err.code != FLOE_OK)
		return a->err.code;
	if (a->w && f->ltime >= a->pend) {
		if (close_file(a) != FLOE_OK)
			return a->err.code;
		run_expiry(a);
	}
	if (!a->w && open_period(a, f->ltime) != FLOE_OK)
		return a->err.code;
	enum floe_err e = floe_writer_add(a->w, f);
	if (e != FLOE_OK)
		return floe_errbuf_set(&a->err, e, "cannot write '%s': %s", a->part, floe_strerror(e));
	a->st.records++;
	return FLOE_OK;
}

enum floe_err floe_archive_close(struct floe_archive *a, struct floe_errbuf *eb)
{
	if (!a)
		return FLOE_OK;
	close_file(a);
	enum floe_err e = a->err.code;
	if (e != FLOE_OK && eb)
		floe_errbuf_set(eb, e, "%s", a->err.msg);
	floe_free(NULL, a, sizeof(*a));
	return e;
}

void floe_archive_abandon(struct floe_archive *a)
{
	if (!a)
		return;
	if (a->w) {
		floe_writer_abandon(a->w);   /* records not yet in a block are lost */
		close(a->fd);
	}
	floe_free(NULL, a, sizeof(*a));
}

const char *floe_archive_error(const struct floe_archive *a)
{
	return a->err.msg;
}

void floe_archive_stats(const struct floe_archive *a, struct floe_archive_stats *st)
{
	*st = a->st;
}

#define WALK_DEPTH_MAX 32

static bool floe_name(const char *name)
{
	size_t n = strlen(name);
	if (n > 5 && strcmp(name + n - 5, ".part") == 0)
		n -= 5;
	return n > 5 && memcmp(name + n - 5, ".floe", 5) == 0;
}

static enum floe_err walk(const char *dir, int depth, floe_archive_walk_fn fn, void *ud,
                          struct floe_errbuf *eb)
{
	if (depth > WALK_DEPTH_MAX)
		return floe_errbuf_set(eb, FLOE_LIMIT, "cannot list '%s': deeper than %d levels", dir,
		                       WALK_DEPTH_MAX);
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
			e = walk(path, depth + 1, fn, ud, eb);
		else if (S_ISREG(st.st_mode) && floe_name(de->d_name))
			e = fn(ud, path, (uint64_t)st.st_size, eb);
		if (e != FLOE_OK)
			break;
	}
	closedir(d);
	return e;
}

enum floe_err floe_archive_walk(const char *dir, floe_archive_walk_fn fn, void *ud,
                                struct floe_errbuf *eb)
{
	return walk(dir, 0, fn, ud, eb);
}
