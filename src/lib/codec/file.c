/*
 * file.c - floe files: the writer (header, blocks, footer index, trailer)
 * and the reader, which checks the header, walks blocks in order on any
 * input (pipes included), uses the footer index when the file is seekable
 * and closed, and survives damage: a block that fails its checks is logged
 * with its number and offset, counted and skipped, and reading resumes at
 * the next block whose header checksum verifies.
 *
 * Must not depend on: meter, decode, filter, libpcap.
 */
#include "codec_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/crc32c.h"
#include "util/cursor.h"
#include "util/mem.h"

#define FLOE_CREATOR "floe 0.1.0"

static void copy_name(char *dst, size_t cap, const char *name)
{
	snprintf(dst, cap, "%s", name ? name : "?");
}

/* ---- writer ----
 *
 * With opts.threads > 0 blocks are encoded by that many threads while the
 * caller fills the next one: a full block's record buffer is swapped with
 * an idle encoder's and the caller goes on.  Each encoder writes its frame
 * (and its footer entry and address filter keys) when every earlier block
 * is written: blocks reach the file in the order they were filled, and one
 * encoder writes at a time, holding the writer's lock.  flush and close
 * wait until every block handed over is written. */

struct floe_writer;

struct enc_worker {
	struct floe_writer *w;
	pthread_t th;
	struct floe_enc enc;
	struct floe_flow *recs;  /* the block handed over (capacity w->cap) */
	size_t nrec;
	uint64_t seq;            /* its place in the file */
	bool busy;               /* a block is handed over (under w->mu) */
};

struct floe_writer {
	int fd;
	bool own_fd;
	bool regular;
	char name[256];
	struct floe_errbuf err;
	struct floe_enc enc;
	struct floe_flow *recs;
	size_t nrec, cap;
	uint64_t off;         /* bytes written */
	uint8_t *index;       /* footer entries, FE_LEN each */
	size_t nblocks, index_cap;
	uint32_t *akeys;      /* address filter keys of the file so far */
	size_t nakeys, akeys_cap;
	size_t af_max;        /* at most this many keys, or no file filter */
	bool akeys_off;       /* too many distinct addresses: no filter */
	/* encoder threads (none: the caller encodes) */
	struct enc_worker *workers;
	unsigned nworkers, started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t next_seq;    /* blocks handed over */
	uint64_t written_seq; /* blocks written (or failed): the next to write */
	bool stopping;
	enum floe_err perr;   /* the caller's copy of err.code */
};

static enum floe_err write_all(struct floe_writer *w, const uint8_t *p, size_t n)
{
	if (w->err.code != FLOE_OK)
		return w->err.code;
	while (n) {
		ssize_t k = write(w->fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return floe_errbuf_set(&w->err, FLOE_IO, "cannot write '%s': %s", w->name,
			                       strerror(errno));
		}
		p += k;
		n -= (size_t)k;
		w->off += (uint64_t)k;
	}
	return FLOE_OK;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void workers_start(struct floe_writer *w, unsigned n, int level);
static void workers_stop(struct floe_writer *w);

static void writer_free(struct floe_writer *w)
{
	workers_stop(w);
	floe_enc_release(&w->enc);
	floe_free(NULL, w->recs, w->cap * sizeof(*w->recs));
	floe_free(NULL, w->index, w->index_cap * FE_LEN);
	floe_free(NULL, w->akeys, w->akeys_cap * sizeof(*w->akeys));
	if (w->own_fd && w->fd >= 0)
		close(w->fd);
	floe_free(NULL, w, sizeof(*w));
}

static struct floe_writer *writer_create(int fd, bool own, const char *name,
                                         const struct floe_writer_opts *opts,
                                         struct floe_errbuf *eb)
{
	struct floe_writer *w = floe_calloc(NULL, 1, sizeof(*w));
	if (!w) {
		if (own)
			close(fd);
		floe_errbuf_set(eb, FLOE_NOMEM, "cannot write '%s': out of memory", name);
		return NULL;
	}
	w->fd = fd;
	w->own_fd = own;
	copy_name(w->name, sizeof(w->name), name);
	struct stat st;
	w->regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	w->cap = opts && opts->block_records ? opts->block_records : FLOE_BLOCK_MAX_RECORDS;
	w->af_max = opts && opts->af_max_addrs && opts->af_max_addrs < FLOE_AF_MAX_ADDRS
	                ? opts->af_max_addrs
	                : FLOE_AF_MAX_ADDRS;
	if (w->cap > FLOE_BLOCK_MAX_RECORDS) {
		floe_errbuf_set(eb, FLOE_INVALID, "cannot write '%s': block_records %zu exceeds %u",
		                name, w->cap, FLOE_BLOCK_MAX_RECORDS);
		w->cap = 0;
		writer_free(w);
		return NULL;
	}
	enum floe_err e = floe_enc_init(&w->enc, opts ? opts->zstd_level : 0);
	w->recs = e == FLOE_OK ? floe_malloc(NULL, w->cap * sizeof(*w->recs)) : NULL;
	if (!w->recs) {
		w->cap = 0;
		floe_errbuf_set(eb, e == FLOE_INVALID ? FLOE_INVALID : FLOE_NOMEM,
		                "cannot write '%s': %s", name,
		                e == FLOE_INVALID ? "bad zstd level" : "out of memory");
		writer_free(w);
		return NULL;
	}
	uint8_t h[FH_LEN] = {0};
	memcpy(h + FH_MAGIC, FLOE_FILE_MAGIC, 4);
	floe_put_le16(h + FH_MAJOR, FLOE_FMT_MAJOR);
	floe_put_le16(h + FH_MINOR, FLOE_FMT_MINOR);
	floe_put_le32(h + FH_HDRLEN, FH_LEN);
	floe_put_le32(h + FH_FLAGS, 0);
	floe_put_le64(h + FH_CREATED, (uint64_t)now_ns());
	snprintf((char *)h + FH_CREATOR, 64, "%s", FLOE_CREATOR);
	if (opts && opts->instance)
		snprintf((char *)h + FH_INSTANCE, 64, "%s", opts->instance);
	floe_put_le32(h + FH_CRC, floe_crc32c(0, h, FH_CRC));
	if (write_all(w, h, sizeof(h)) != FLOE_OK) {
		floe_errbuf_set(eb, w->err.code, "%s", w->err.msg);
		writer_free(w);
		return NULL;
	}
	workers_start(w, opts ? opts->threads : 0, opts ? opts->zstd_level : 0);
	return w;
}

struct floe_writer *floe_writer_open(const char *path, const struct floe_writer_opts *opts,
                                     struct floe_errbuf *eb)
{
	if (strcmp(path, "-") == 0)
		return writer_create(STDOUT_FILENO, false, "(stdout)", opts, eb);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		floe_errbuf_set(eb, FLOE_IO, "cannot create '%s': %s", path, strerror(errno));
		return NULL;
	}
	return writer_create(fd, true, path, opts, eb);
}

struct floe_writer *floe_writer_fdopen(int fd, const char *name, const struct floe_writer_opts *opts,
                                       struct floe_errbuf *eb)
{
	return writer_create(fd, false, name, opts, eb);
}

static int by_key(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* LSD radix sort of n 32-bit keys in three passes of 11, 11 and 10 bits,
 * through tmp (n keys); the result ends in a.  A comparison sort through
 * a callback cost a quarter of writing a file. */
static void radix_sort_u32(uint32_t *a, uint32_t *tmp, size_t n)
{
	static const unsigned shift[3] = {0, 11, 22};
	uint32_t *src = a, *dst = tmp;
	for (unsigned p = 0; p < 3; p++) {
		size_t count[2048] = {0};
		for (size_t i = 0; i < n; i++)
			count[(src[i] >> shift[p]) & 2047]++;
		size_t sum = 0;
		for (size_t d = 0; d < 2048; d++) {
			size_t c = count[d];
			count[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[count[(src[i] >> shift[p]) & 2047]++] = src[i];
		uint32_t *t = src;
		src = dst;
		dst = t;
	}
	if (src != a)
		memcpy(a, src, n * sizeof(*a));
}

/* Sorts the keys and drops duplicates. */
static void akeys_unique(struct floe_writer *w)
{
	if (w->nakeys < 2)
		return;
	uint32_t *tmp = w->nakeys > 64 ? floe_malloc(NULL, w->nakeys * sizeof(*tmp)) : NULL;
	if (tmp) {
		radix_sort_u32(w->akeys, tmp, w->nakeys);
		floe_free(NULL, tmp, w->nakeys * sizeof(*tmp));
	} else {
		qsort(w->akeys, w->nakeys, sizeof(*w->akeys), by_key);
	}
	size_t o = 1;
	for (size_t i = 1; i < w->nakeys; i++)
		if (w->akeys[i] != w->akeys[o - 1])
			w->akeys[o++] = w->akeys[i];
	w->nakeys = o;
}

static void akeys_drop(struct floe_writer *w)
{
	floe_free(NULL, w->akeys, w->akeys_cap * sizeof(*w->akeys));
	w->akeys = NULL;
	w->nakeys = w->akeys_cap = 0;
	w->akeys_off = true;
}

/* Adds the distinct addresses of the block just encoded to the file's
 * address filter keys.  Memory stays under af_max keys (FLOE_AF_MAX_ADDRS
 * unless the writer's options say fewer): past that the file gets no
 * address filter (its blocks keep theirs). */
static void akeys_add(struct floe_writer *w, const struct floe_enc *e)
{
	for (size_t d = 0; d < e->nhlist && !w->akeys_off; d++) {
		uint64_t h = e->hlist[d];
		if (w->nakeys == w->akeys_cap) {
			akeys_unique(w);
			if (w->nakeys > w->akeys_cap / 2 || w->akeys_cap == 0) {
				size_t ncap = w->akeys_cap ? 2 * w->akeys_cap : 4096;
				uint32_t *nk = ncap <= w->af_max
				                   ? floe_realloc(NULL, w->akeys, w->akeys_cap * sizeof(*nk),
				                                  ncap * sizeof(*nk))
				                   : NULL;
				if (!nk) {
					akeys_drop(w);
					break;
				}
				w->akeys = nk;
				w->akeys_cap = ncap;
			}
		}
		w->akeys[w->nakeys++] = (uint32_t)h ^ (uint32_t)(h >> 32);
	}
}

/* Builds the address filter section into *out (floe_malloc'd, *len
 * bytes); *len = 0 when the file gets none. */
static enum floe_err build_af(struct floe_writer *w, uint8_t **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	if (w->akeys_off || w->nakeys == 0)
		return FLOE_OK;
	akeys_unique(w);
	uint64_t bits = (uint64_t)w->nakeys * FLOE_AF_BITS_PER_ADDR;
	uint32_t pb = FLOE_AF_PAGE_MIN, pages = 1;
	while (pb < FLOE_AF_PAGE_MAX && 8ull * pb < bits)
		pb *= 2;
	if (8ull * pb < bits)
		pages = (uint32_t)((bits + 8ull * pb - 1) / (8ull * pb));
	size_t n = AF_LEN + 4 * (size_t)pages + (size_t)pages * pb;
	uint8_t *o = floe_calloc(NULL, 1, n);
	if (!o)
		return FLOE_NOMEM;
	uint8_t *tab = o + AF_LEN, *pg = tab + 4 * (size_t)pages;
	for (size_t i = 0; i < w->nakeys; i++) {
		uint32_t key = w->akeys[i];
		floe_af_set(pg + (size_t)floe_af_page(key, pages) * pb, pb, FLOE_AF_K, key);
	}
	for (uint32_t p = 0; p < pages; p++)
		floe_put_le32(tab + 4 * (size_t)p, floe_crc32c(0, pg + (size_t)p * pb, pb));
	memcpy(o + AF_MAGIC, FLOE_AF_MAGIC, 4);
	floe_put_le32(o + AF_PAGES, pages);
	floe_put_le32(o + AF_PAGE_BYTES, pb);
	o[AF_K] = FLOE_AF_K;
	floe_put_le64(o + AF_ADDRS, w->nakeys);
	floe_put_le32(o + AF_TABCRC, floe_crc32c(0, tab, 4 * (size_t)pages));
	floe_put_le32(o + AF_CRC, floe_crc32c(0, o, AF_CRC));
	*out = o;
	*len = n;
	return FLOE_OK;
}

/* Writes the frame just encoded in e (len bytes) with its footer entry
 * and address filter keys; w->err on failure. */
static enum floe_err put_frame(struct floe_writer *w, const struct floe_enc *e, size_t len)
{
	if (w->err.code != FLOE_OK)
		return w->err.code;
	if (!floe_grow(NULL, (void **)&w->index, &w->index_cap, w->nblocks + 1, FE_LEN, 64))
		return floe_errbuf_set(&w->err, FLOE_NOMEM, "cannot write '%s': out of memory", w->name);
	const uint8_t *f = e->frame;
	uint8_t *x = w->index + w->nblocks * FE_LEN;
	memset(x, 0, FE_LEN);
	floe_put_le64(x + FE_OFFSET, w->off);
	memcpy(x + FE_NREC, f + BH_NREC, 4);
	memcpy(x + FE_SUMLEN, f + BH_SUMLEN, 4);
	memcpy(x + FE_TMIN, f + BH_TMIN, 8);
	memcpy(x + FE_TMAX, f + BH_TMAX, 8);
	floe_put_le64(x + FE_SUMOFF, w->off + BH_LEN);
	floe_put_le32(x + FE_FRAMELEN, (uint32_t)len);
	if (write_all(w, f, len) != FLOE_OK)
		return w->err.code;
	akeys_add(w, e);
	w->nblocks++;
	return FLOE_OK;
}

static void *worker_main(void *arg)
{
	struct enc_worker *k = arg;
	struct floe_writer *w = k->w;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!k->busy && !w->stopping)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!k->busy)
			break;
		pthread_mutex_unlock(&w->mu);
		size_t len = 0;
		struct floe_errbuf eb = {0};
		enum floe_err e = floe_block_encode(&k->enc, k->recs, k->nrec, &len, &eb);
		pthread_mutex_lock(&w->mu);
		while (w->written_seq != k->seq)
			pthread_cond_wait(&w->cv, &w->mu);
		if (e != FLOE_OK) {
			if (w->err.code == FLOE_OK)
				floe_errbuf_set(&w->err, eb.code, "cannot write '%s': %s", w->name, eb.msg);
		} else {
			(void)put_frame(w, &k->enc, len);
		}
		w->written_seq++;
		k->busy = false;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Starts the encoder threads; with fewer than asked (out of memory, no
 * thread) the writer goes on with those it has, or encodes itself. */
static void workers_start(struct floe_writer *w, unsigned n, int level)
{
	if (n == 0)
		return;
	w->workers = floe_calloc(NULL, n, sizeof(*w->workers));
	if (!w->workers)
		return;
	w->nworkers = n;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	for (unsigned i = 0; i < n; i++) {
		struct enc_worker *k = &w->workers[i];
		k->w = w;
		if (floe_enc_init(&k->enc, level) != FLOE_OK)
			break;
		k->recs = floe_malloc(NULL, w->cap * sizeof(*k->recs));
		if (!k->recs || pthread_create(&k->th, NULL, worker_main, k) != 0) {
			floe_enc_release(&k->enc);
			floe_free(NULL, k->recs, w->cap * sizeof(*k->recs));
			k->recs = NULL;
			break;
		}
		w->started++;
	}
}

/* Waits until every block handed over is written. */
static void workers_drain(struct floe_writer *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->written_seq != w->next_seq)
		pthread_cond_wait(&w->cv, &w->mu);
	w->perr = w->err.code;
	pthread_mutex_unlock(&w->mu);
}

static void workers_stop(struct floe_writer *w)
{
	if (!w->workers)
		return;
	if (w->started) {
		pthread_mutex_lock(&w->mu);
		w->stopping = true;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
	for (unsigned i = 0; i < w->started; i++) {
		struct enc_worker *k = &w->workers[i];
		pthread_join(k->th, NULL);
		floe_enc_release(&k->enc);
		floe_free(NULL, k->recs, w->cap * sizeof(*k->recs));
	}
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	floe_free(NULL, w->workers, w->nworkers * sizeof(*w->workers));
	w->workers = NULL;
	w->nworkers = w->started = 0;
}

/* Hands the block being filled to an idle encoder, waiting for one. */
static enum floe_err hand_over(struct floe_writer *w)
{
	pthread_mutex_lock(&w->mu);
	struct enc_worker *k = NULL;
	while (w->err.code == FLOE_OK) {
		for (unsigned i = 0; i < w->started && !k; i++)
			if (!w->workers[i].busy)
				k = &w->workers[i];
		if (k)
			break;
		pthread_cond_wait(&w->cv, &w->mu);
	}
	w->perr = w->err.code;
	if (k && w->perr == FLOE_OK) {
		struct floe_flow *t = k->recs;
		k->recs = w->recs;
		w->recs = t;
		k->nrec = w->nrec;
		k->seq = w->next_seq++;
		k->busy = true;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	w->nrec = 0;
	return w->perr;
}

static enum floe_err write_block(struct floe_writer *w)
{
	if (w->perr != FLOE_OK || w->nrec == 0)
		return w->perr;
	if (w->started)
		return hand_over(w);
	size_t len;
	struct floe_errbuf eb = {0};
	if (floe_block_encode(&w->enc, w->recs, w->nrec, &len, &eb) != FLOE_OK)
		floe_errbuf_set(&w->err, eb.code, "cannot write '%s': %s", w->name, eb.msg);
	else
		(void)put_frame(w, &w->enc, len);
	w->nrec = 0;
	return w->perr = w->err.code;
}

enum floe_err floe_writer_add(struct floe_writer *w, const struct floe_flow *f)
{
	if (w->perr != FLOE_OK)
		return w->perr;
	w->recs[w->nrec++] = *f;
	return w->nrec == w->cap ? write_block(w) : FLOE_OK;
}

enum floe_err floe_writer_flush(struct floe_writer *w)
{
	enum floe_err e = write_block(w);
	if (w->started)
		workers_drain(w);
	return e != FLOE_OK ? e : w->perr;
}

enum floe_err floe_writer_close(struct floe_writer *w, struct floe_errbuf *eb)
{
	if (!w)
		return FLOE_OK;
	(void)write_block(w);
	workers_stop(w);   /* every block handed over is written first */
	if (w->err.code == FLOE_OK) {
		uint64_t footer_off = w->off;
		uint8_t *af;
		size_t aflen;
		if (build_af(w, &af, &aflen) != FLOE_OK)
			floe_errbuf_set(&w->err, FLOE_NOMEM, "cannot write '%s': out of memory", w->name);
		uint8_t h[FF_LEN] = {0};
		memcpy(h + FF_MAGIC, FLOE_FOOTER_MAGIC, 4);
		floe_put_le32(h + FF_COUNT, (uint32_t)w->nblocks);
		floe_put_le32(h + FF_ENTLEN, FE_LEN);
		floe_put_le32(h + FF_AFLEN, (uint32_t)aflen);
		floe_put_le32(h + FF_ENTCRC, floe_crc32c(0, w->index, w->nblocks * FE_LEN));
		floe_put_le32(h + FF_CRC, floe_crc32c(0, h, FF_CRC));
		uint8_t t[FT_LEN] = {0};
		floe_put_le64(t + FT_FOOTER_OFF, footer_off);
		floe_put_le32(t + FT_COUNT, (uint32_t)w->nblocks);
		memcpy(t + FT_MAGIC, FLOE_TRAILER_MAGIC, 4);
		floe_put_le32(t + FT_CRC, floe_crc32c(0, t, FT_CRC));
		if (write_all(w, h, sizeof(h)) == FLOE_OK &&
		    write_all(w, w->index, w->nblocks * FE_LEN) == FLOE_OK &&
		    write_all(w, af, aflen) == FLOE_OK &&
		    write_all(w, t, sizeof(t)) == FLOE_OK && w->own_fd && w->regular &&
		    fsync(w->fd) != 0)
			floe_errbuf_set(&w->err, FLOE_IO, "cannot sync '%s': %s", w->name,
			                strerror(errno));
		floe_free(NULL, af, aflen);
	}
	if (w->own_fd) {
		if (close(w->fd) != 0)
			floe_errbuf_set(&w->err, FLOE_IO, "cannot close '%s': %s", w->name,
			                strerror(errno));
		w->fd = -1;
	}
	enum floe_err err = w->err.code;
	if (err != FLOE_OK && eb)
		floe_errbuf_set(eb, err, "%s", w->err.msg);
	writer_free(w);
	return err;
}

void floe_writer_abandon(struct floe_writer *w)
{
	if (w)
		writer_free(w);
}

/* ---- reader ---- */

struct floe_reader {
	int fd;
	bool own_fd;
	bool seekable;
	bool verify;
	bool done;
	bool eof;            /* read() returned 0 */
	bool resync;         /* scanning for the next good block after damage */
	char name[256];
	const struct floe_log *log;
	struct floe_errbuf err;
	struct floe_file_info info;
	floe_block_pred pred;
	void *ud;
	uint8_t *buf;        /* buffered input: buf[start..end) is at file offset pos */
	size_t cap, start, end;
	uint64_t pos;
	uint8_t *footer;     /* footer head and entries, when the file has a valid footer */
	const uint8_t *index;  /* its entries */
	uint64_t size;       /* of a seekable file, at open */
	uint32_t *af_crc;    /* address filter: page checksums (NULL: no filter) */
	uint32_t af_pages, af_page_bytes;
	uint8_t af_k;
	uint64_t af_off;     /* file offset of page 0 */
	uint32_t nindex, next_index;
	uint64_t blockno;
	struct floe_dec dec;
	struct floe_flow *recs;
	size_t recs_cap;
	struct floe_block_summary sum;
	struct floe_reader_stats st;
	floe_damage_fn on_damage;
	void *damage_ud;
};

#define READ_CHUNK (256u << 10)

static size_t avail(const struct floe_reader *r)
{
	return r->end - r->start;
}

/* Makes at least need bytes available if the input has them.  Returns OK
 * (check avail()), or IO/NOMEM (sticky). */
static enum floe_err fill(struct floe_reader *r, size_t need)
{
	if (r->err.code != FLOE_OK)
		return r->err.code;
	if (avail(r) >= need || r->eof)
		return FLOE_OK;
	if (r->buf && (r->cap - r->start < need || r->cap - r->end < READ_CHUNK / 4)) {
		memmove(r->buf, r->buf + r->start, avail(r));
		r->end -= r->start;
		r->start = 0;
	}
	size_t want = need > READ_CHUNK ? need : READ_CHUNK;
	if (r->cap < want) {
		uint8_t *nb = floe_realloc(NULL, r->buf, r->cap, want);
		if (!nb)
			return floe_errbuf_set(&r->err, FLOE_NOMEM, "cannot read '%s': out of memory",
			                       r->name);
		r->buf = nb;
		r->cap = want;
	}
	while (avail(r) < need) {
		/* A seekable file reads what is needed (from 4 KiB): a reader
		 * that skips blocks by their summaries must not pull in the
		 * blocks it skips.  A pipe reads ahead in big chunks. */
		size_t room = r->cap - r->end;
		if (r->seekable) {
			size_t ask = ((need - avail(r)) + 4095) & ~(size_t)4095;
			if (ask < room)
				room = ask;
		}
		ssize_t k = read(r->fd, r->buf + r->end, room);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return floe_errbuf_set(&r->err, FLOE_IO, "cannot read '%s': %s", r->name,
			                       strerror(errno));
		}
		if (k == 0) {
			r->eof = true;
			break;
		}
		r->end += (size_t)k;
		r->st.bytes_read += (uint64_t)k;
	}
	return FLOE_OK;
}

static void consume(struct floe_reader *r, size_t n)
{
	r->start += n;
	r->pos += n;
}

/* Moves to file offset off (>= pos unless seekable).  Past the end of a
 * non-seekable input leaves the reader at its end. */
static enum floe_err seek_to(struct floe_reader *r, uint64_t off)
{
	if (off >= r->pos && off - r->pos <= avail(r)) {
		consume(r, (size_t)(off - r->pos));
		return FLOE_OK;
	}
	if (r->seekable) {
		if (lseek(r->fd, (off_t)off, SEEK_SET) < 0)
			return floe_errbuf_set(&r->err, FLOE_IO, "cannot seek in '%s': %s", r->name,
			                       strerror(errno));
		r->start = r->end = 0;
		r->pos = off;
		r->eof = false;
		return FLOE_OK;
	}
	while (off > r->pos) {
		consume(r, avail(r));
		uint64_t left = off - r->pos;
		enum floe_err e = fill(r, left < READ_CHUNK ? (size_t)left : READ_CHUNK);
		if (e != FLOE_OK)
			return e;
		if (avail(r) == 0)
			return FLOE_OK;
		size_t k = avail(r) < left ? avail(r) : (size_t)left;
		consume(r, k);
	}
	return FLOE_OK;
}

static void reader_free(struct floe_reader *r)
{
	floe_dec_release(&r->dec);
	floe_free(NULL, r->buf, r->cap);
	if (r->footer)
		floe_free(NULL, r->footer, FF_LEN + (size_t)r->nindex * FE_LEN);
	floe_free(NULL, r->af_crc, 4 * (size_t)r->af_pages);
	floe_free(NULL, r->recs, r->recs_cap * sizeof(*r->recs));
	if (r->own_fd && r->fd >= 0)
		close(r->fd);
	floe_free(NULL, r, sizeof(*r));
}


/* Checks a footer frame header; *count is its number of entries. */
static bool pread_all(int fd, uint8_t *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t k = pread(fd, p, n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return true;
}

static bool footer_head(const uint8_t *p, size_t len, uint32_t *count, uint32_t *entcrc,
                        uint32_t *aflen, bool verify)
{
	struct floe_cursor c = floe_cursor_make(p, len);
	const uint8_t *h = floe_cur_take(&c, FF_LEN);
	if (!h || memcmp(h, FLOE_FOOTER_MAGIC, 4) != 0)
		return false;
	struct floe_cursor f = floe_cursor_make(h + FF_COUNT, FF_LEN - FF_COUNT);
	*count = floe_cur_le32(&f);
	uint32_t entlen = floe_cur_le32(&f);
	*aflen = floe_cur_le32(&f);
	*entcrc = floe_cur_le32(&f);
	uint32_t crc = floe_cur_le32(&f);
	if (verify && floe_crc32c(0, h, FF_CRC) != crc)
		return false;
	return entlen == FE_LEN && *count <= (1u << 26);
}

/* Loads the address filter's head and page checksums (len bytes at off).
 * A filter that fails its checks is ignored with a warning: the blocks'
 * own filters still work. */
static enum floe_err load_af(struct floe_reader *r, uint64_t off, uint32_t len)
{
	/* the head and, for up to 1016 pages, the page table in one read */
	uint8_t buf[AF_LEN + 4096];
	size_t first = len < sizeof(buf) ? len : sizeof(buf);
	if (len < AF_LEN || !pread_all(r->fd, buf, first, off))
		goto bad;
	struct floe_cursor c = floe_cursor_make(buf, AF_LEN);
	const uint8_t *magic = floe_cur_take(&c, 4);
	uint32_t pages = floe_cur_le32(&c), pb = floe_cur_le32(&c);
	unsigned k = floe_cur_u8(&c);
	floe_cur_skip(&c, 3 + 8);
	uint32_t tabcrc = floe_cur_le32(&c), crc = floe_cur_le32(&c);
	if (c.bad || memcmp(magic, FLOE_AF_MAGIC, 4) != 0 ||
	    (r->verify && floe_crc32c(0, buf, AF_CRC) != crc))
		goto bad;
	if (pages == 0 || pages > (1u << 24) || pb < FLOE_AF_PAGE_MIN || pb > FLOE_AF_PAGE_MAX ||
	    (pb & (pb - 1)) != 0 || k == 0 || k > 32 ||
	    (uint64_t)pages * (4 + pb) != (uint64_t)len - AF_LEN)
		goto bad;
	size_t tlen = 4 * (size_t)pages;
	uint32_t *tab = floe_malloc(NULL, tlen);
	if (!tab)
		return floe_errbuf_set(&r->err, FLOE_NOMEM, "cannot read '%s': out of memory", r->name);
	bool got = AF_LEN + tlen <= first;
	if (got)
		memcpy(tab, buf + AF_LEN, tlen);
	else
		got = pread_all(r->fd, (uint8_t *)tab, tlen, off + AF_LEN);
	if (!got || (r->verify && floe_crc32c(0, tab, tlen) != tabcrc)) {
		floe_free(NULL, tab, tlen);
		goto bad;
	}
	for (uint32_t i = 0; i < pages; i++) { /* stored little-endian */
		struct floe_cursor tc = floe_cursor_make((const uint8_t *)&tab[i], 4);
		tab[i] = floe_cur_le32(&tc);
	}
	r->af_crc = tab;
	r->af_pages = pages;
	r->af_page_bytes = pb;
	r->af_k = (uint8_t)k;
	r->af_off = off + AF_LEN + tlen;
	return FLOE_OK;
bad:
	r->st.af_damaged = 1;
	floe_logf(r->log, FLOE_LOG_WARN,
	          "'%s': address filter is damaged; looking at each block's filter", r->name);
	return FLOE_OK;
}

/* With a seekable file: loads the footer index through the trailer.  A
 * file without a (valid) footer is read by walking its blocks. */
static enum floe_err load_footer(struct floe_reader *r, uint64_t hdr_len)
{
	uint64_t size = r->size;
	uint8_t t[FT_LEN];
	if (size < hdr_len + FF_LEN + FT_LEN || !pread_all(r->fd, t, FT_LEN, size - FT_LEN))
		return FLOE_OK;
	struct floe_cursor c = floe_cursor_make(t, FT_LEN);
	uint64_t foff = floe_cur_le64(&c);
	uint32_t count = floe_cur_le32(&c);
	const uint8_t *magic = floe_cur_take(&c, 4);
	floe_cur_skip(&c, 4);
	uint32_t crc = floe_cur_le32(&c);
	if (c.bad || memcmp(magic, FLOE_TRAILER_MAGIC, 4) != 0)
		return FLOE_OK;  /* never closed */
	if ((r->verify && floe_crc32c(0, t, FT_CRC) != crc) || foff < hdr_len ||
	    foff > size - FT_LEN - FF_LEN || count > (1u << 26) ||
	    (uint64_t)count * FE_LEN > size - FT_LEN - FF_LEN - foff)
		goto damaged;
	/* the footer head and its entries, in one read */
	size_t fbl = FF_LEN + (size_t)count * FE_LEN;
	uint8_t *fb = floe_malloc(NULL, fbl);
	if (!fb)
		return floe_errbuf_set(&r->err, FLOE_NOMEM, "cannot read '%s': out of memory", r->name);
	uint32_t n, entcrc, aflen;
	if (!pread_all(r->fd, fb, fbl, foff) ||
	    !footer_head(fb, FF_LEN, &n, &entcrc, &aflen, r->verify) || n != count ||
	    (uint64_t)n * FE_LEN + aflen != size - FT_LEN - FF_LEN - foff ||
	    (r->verify && floe_crc32c(0, fb + FF_LEN, (size_t)n * FE_LEN) != entcrc)) {
		floe_free(NULL, fb, fbl);
		goto damaged;
	}
	const uint8_t *idx = fb + FF_LEN;
	/* entries must be in order and inside [hdr_len, footer) */
	uint64_t prev_end = hdr_len;
	for (uint32_t i = 0; i < n; i++) {
		struct floe_cursor e = floe_cursor_make(idx + (size_t)i * FE_LEN, FE_LEN);
		uint64_t off = floe_cur_le64(&e);
		floe_cur_skip(&e, FE_FRAMELEN - FE_NREC);
		uint32_t flen = floe_cur_le32(&e);
		if (off < prev_end || flen > foff || off > foff - flen) {
			floe_free(NULL, fb, fbl);
			goto damaged;
		}
		prev_end = off + flen;
	}
	r->footer = fb;
	r->index = idx;
	r->nindex = n;
	r->info.has_footer = true;
	return aflen ? load_af(r, foff + FF_LEN + (uint64_t)n * FE_LEN, aflen) : FLOE_OK;
damaged:
	r->st.footer_damaged = 1;
	floe_logf(r->log, FLOE_LOG_WARN, "'%s': footer index is damaged; reading block by block",
	          r->name);
	return FLOE_OK;
}

enum floe_err floe_fh_check(const uint8_t *b, const char *name, unsigned *major, unsigned *minor,
                            uint32_t *hdr_len, struct floe_errbuf *eb)
{
	struct floe_cursor c = floe_cursor_make(b, FH_FLAGS);
	floe_cur_skip(&c, FH_MAJOR);
	*major = floe_cur_le16(&c);
	*minor = floe_cur_le16(&c);
	*hdr_len = floe_cur_le32(&c);
	if (*major > FLOE_FMT_MAJOR)
		return floe_errbuf_set(eb, FLOE_UNSUPPORTED,
		                       "cannot read '%s': written by a newer floe (format %u.%u)", name,
		                       *major, *minor);
	if (*major == 0 || *hdr_len < FH_LEN || *hdr_len > FLOE_FILE_HDR_MAX)
		return floe_errbuf_set(eb, FLOE_MALFORMED,
		                       "cannot read '%s': bad file header (format %u.%u, %u bytes)", name,
		                       *major, *minor, *hdr_len);
	return FLOE_OK;
}

enum floe_err floe_fh_decode(const uint8_t *h, uint32_t hdr_len, unsigned major, unsigned minor,
                             bool verify, const char *name, struct floe_file_info *info,
                             struct floe_errbuf *eb)
{
	struct floe_cursor hc = floe_cursor_make(h, hdr_len);
	floe_cur_skip(&hc, hdr_len - 4);
	uint32_t crc = floe_cur_le32(&hc);
	if (verify && floe_crc32c(0, h, hdr_len - 4) != crc)
		return floe_errbuf_set(eb, FLOE_CHECKSUM,
		                       "cannot read '%s': file header fails its checksum", name);
	info->major = (uint16_t)major;
	info->minor = (uint16_t)minor;
	hc = floe_cursor_make(h, hdr_len);
	floe_cur_skip(&hc, FH_CREATED);
	info->created = (int64_t)floe_cur_le64(&hc);
	floe_cur_copy(&hc, info->creator, 64);
	floe_cur_copy(&hc, info->instance, 64);
	info->creator[63] = info->instance[63] = '\0';
	return FLOE_OK;
}

static struct floe_reader *reader_fail(struct floe_reader *r, struct floe_errbuf *eb)
{
	floe_errbuf_set(eb, r->err.code, "%s", r->err.msg);
	reader_free(r);
	return NULL;
}

static struct floe_reader *reader_create(int fd, bool own, const char *name,
                                         const struct floe_log *log, struct floe_errbuf *eb)
{
	struct floe_reader *r = floe_calloc(NULL, 1, sizeof(*r));
	if (!r) {
		if (own)
			close(fd);
		floe_errbuf_set(eb, FLOE_NOMEM, "cannot read '%s': out of memory", name);
		return NULL;
	}
	r->fd = fd;
	r->own_fd = own;
	r->verify = true;
	r->log = log;
	copy_name(r->name, sizeof(r->name), name);
	floe_dec_init(&r->dec);
	struct stat st;
	/* a file opened here is at offset 0; one handed over must be too */
	r->seekable = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	              (own || lseek(fd, 0, SEEK_CUR) == 0);
	r->size = r->seekable ? (uint64_t)st.st_size : 0;
	if (fill(r, FH_LEN) != FLOE_OK)
		return reader_fail(r, eb);
	size_t n = avail(r);
	const uint8_t *p = r->buf + r->start;
	if (n == 0) {
		floe_errbuf_set(&r->err, FLOE_TRUNCATED, "cannot read '%s': empty file", r->name);
		return reader_fail(r, eb);
	}
	if (memcmp(p, FLOE_FILE_MAGIC, n < 4 ? n : 4) != 0) {
		floe_errbuf_set(&r->err, FLOE_MALFORMED, "cannot read '%s': not a floe file", r->name);
		return reader_fail(r, eb);
	}
	struct floe_cursor c = floe_cursor_make(p, n);
	floe_cur_skip(&c, 4);
	unsigned major = floe_cur_le16(&c), minor = floe_cur_le16(&c);
	uint32_t hdr_len = floe_cur_le32(&c);
	if (c.bad) {
		floe_errbuf_set(&r->err, FLOE_TRUNCATED, "cannot read '%s': file header cut short",
		                r->name);
		return reader_fail(r, eb);
	}
	if (floe_fh_check(p, r->name, &major, &minor, &hdr_len, &r->err) != FLOE_OK)
		return reader_fail(r, eb);
	if (fill(r, hdr_len) != FLOE_OK)
		return reader_fail(r, eb);
	c = floe_cursor_make(r->buf + r->start, avail(r));
	const uint8_t *h = floe_cur_take(&c, hdr_len);
	if (!h) {
		floe_errbuf_set(&r->err, FLOE_TRUNCATED, "cannot read '%s': file header cut short",
		                r->name);
		return reader_fail(r, eb);
	}
	if (floe_fh_decode(h, hdr_len, major, minor, r->verify, r->name, &r->info, &r->err) != FLOE_OK)
		return reader_fail(r, eb);
	consume(r, hdr_len);
	if (r->seekable && load_footer(r, hdr_len) != FLOE_OK)
		return reader_fail(r, eb);
	return r;
}

struct floe_reader *floe_reader_open(const char *path, const struct floe_log *log,
                                     struct floe_errbuf *eb)
{
	if (strcmp(path, "-") == 0)
		return reader_create(STDIN_FILENO, false, "(stdin)", log, eb);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		floe_errbuf_set(eb, FLOE_IO, "cannot read '%s': %s", path, strerror(errno));
		return NULL;
	}
	return reader_create(fd, true, path, log, eb);
}

struct floe_reader *floe_reader_fdopen(int fd, const char *name, const struct floe_log *log,
                                       struct floe_errbuf *eb)
{
	return reader_create(fd, false, name, log, eb);
}

void floe_reader_close(struct floe_reader *r)
{
	if (r)
		reader_free(r);
}

const struct floe_file_info *floe_reader_info(const struct floe_reader *r)
{
	return &r->info;
}

bool floe_reader_footer_range(const struct floe_reader *r, int64_t *tmin, int64_t *tmax,
                              uint64_t *nblocks, uint64_t *nrec)
{
	*tmin = INT64_MAX;
	*tmax = INT64_MIN;
	*nblocks = *nrec = 0;
	if (!r->index)
		return false;
	for (uint32_t i = 0; i < r->nindex; i++) {
		const uint8_t *e = r->index + (size_t)i * FE_LEN;
		struct floe_cursor c = floe_cursor_make(e + FE_NREC, FE_LEN - FE_NREC);
		uint32_t n = floe_cur_le32(&c);
		floe_cur_skip(&c, FE_TMIN - FE_SUMLEN);
		int64_t lo = (int64_t)floe_cur_le64(&c), hi = (int64_t)floe_cur_le64(&c);
		if (lo < *tmin)
			*tmin = lo;
		if (hi > *tmax)
			*tmax = hi;
		*nrec += n;
	}
	*nblocks = r->nindex;
	return true;
}

void floe_reader_set_probe(struct floe_reader *r, uint64_t mask, floe_block_probe probe, void *ud)
{
	r->dec.probemask = mask | ((mask & 2) ? 1 : 0);
	r->dec.probe = probe;
	r->dec.probe_ud = ud;
}

void floe_reader_set_columns(struct floe_reader *r, uint64_t mask)
{
	r->dec.colmask = mask;
}

void floe_reader_set_block_filter(struct floe_reader *r, floe_block_pred pred, void *ud)
{
	r->pred = pred;
	r->ud = ud;
}

void floe_reader_set_verify(struct floe_reader *r, bool verify_crc)
{
	r->verify = verify_crc;
}

/* A page of the address filter failed its checksum: the filter goes. */
static void af_page_damaged(struct floe_reader *r, uint32_t p)
{
	floe_logf(r->log, FLOE_LOG_WARN,
	          "'%s': address filter page %u is damaged; looking at each block's filter",
	          r->name, p);
	floe_free(NULL, r->af_crc, 4 * (size_t)r->af_pages);
	r->af_crc = NULL;
	r->st.af_damaged = 1;
}

uint32_t floe_reader_check_addr_filter(struct floe_reader *r)
{
	if (!r->af_crc)
		return r->st.af_damaged;
	uint8_t page[FLOE_AF_PAGE_MAX];
	const uint32_t pb = r->af_page_bytes;
	uint32_t bad = 0, first = 0;
	for (uint32_t p = 0; p < r->af_pages; p++) {
		if (!pread_all(r->fd, page, pb, r->af_off + (uint64_t)p * pb) ||
		    floe_crc32c(0, page, pb) != r->af_crc[p]) {
			if (!bad)
				first = p;
			bad++;
		}
	}
	if (bad)
		af_page_damaged(r, first);
	return bad;
}

void floe_reader_set_damage_fn(struct floe_reader *r, floe_damage_fn fn, void *ud)
{
	r->on_damage = fn;
	r->damage_ud = ud;
}

bool floe_reader_may_contain(struct floe_reader *r, const uint8_t (*addrs)[16], size_t n)
{
	if (!r->af_crc)
		return true;
	uint8_t page[FLOE_AF_PAGE_MAX];
	const uint32_t pb = r->af_page_bytes;
	for (size_t i = 0; i < n; i++) {
		uint32_t key = floe_af_key(addrs[i]);
		uint32_t p = floe_af_page(key, r->af_pages);
		if (!pread_all(r->fd, page, pb, r->af_off + (uint64_t)p * pb) ||
		    (r->verify && floe_crc32c(0, page, pb) != r->af_crc[p])) {
			af_page_damaged(r, p);
			return true;
		}
		if (floe_af_test(page, pb, r->af_k, key))
			return true;
	}
	return false;
}

const char *floe_reader_error(const struct floe_reader *r)
{
	return r->err.msg;
}

void floe_reader_stats(const struct floe_reader *r, struct floe_reader_stats *st)
{
	*st = r->st;
}

/* A block failed: log it (unless we are scanning for a good header, where
 * failures are expected), count it, and arrange where to continue. */
static enum floe_err damaged(struct floe_reader *r, enum floe_damage_kind kind, uint64_t off,
                             const char *what, uint64_t next)
{
	if (!r->resync) {
		floe_logf(r->log, FLOE_LOG_WARN, "'%s': block %llu at offset %llu: %s; skipped",
		          r->name, (unsigned long long)r->blockno, (unsigned long long)off, what);
		if (r->on_damage)
			r->on_damage(r->damage_ud, kind, r->blockno, off, what);
		r->st.blocks_damaged++;
		r->blockno++;
	}
	if (r->index) {
		r->next_index++;
		return FLOE_OK;
	}
	if (next) {  /* the header verified: its length is trusted */
		r->resync = false;
		return seek_to(r, next);
	}
	r->resync = true;
	return seek_to(r, off + 1);
}

/* While resyncing: moves to the next candidate frame magic, if any. */
static enum floe_err scan(struct floe_reader *r)
{
	for (;;) {
		enum floe_err e = fill(r, 4);
		if (e != FLOE_OK || avail(r) < 4)
			return e;
		const uint8_t *p = r->buf + r->start;
		size_t n = avail(r);
		for (size_t i = 0; i + 4 <= n; i++) {
			if (p[i] == 'F' && p[i + 1] == 'L' &&
			    ((p[i + 2] == 'B' && p[i + 3] == 'K') || (p[i + 2] == 'I' && p[i + 3] == 'X'))) {
				consume(r, i);
				return FLOE_OK;
			}
		}
		consume(r, n - 3);
		if (r->eof) {
			consume(r, avail(r));
			return FLOE_OK;
		}
		if (fill(r, 4) != FLOE_OK)
			return r->err.code;
	}
}

/* At a footer frame in the stream: accept it if it verifies. */
static enum floe_err stream_footer(struct floe_reader *r, bool *ok)
{
	uint32_t count, entcrc;
	*ok = false;
	enum floe_err e = fill(r, FF_LEN);
	if (e != FLOE_OK)
		return e;
	uint32_t aflen;
	if (!footer_head(r->buf + r->start, avail(r), &count, &entcrc, &aflen, r->verify))
		return FLOE_OK;
	size_t len = FF_LEN + (size_t)count * FE_LEN;
	if ((e = fill(r, len)) != FLOE_OK)
		return e;
	if (avail(r) < len)
		return FLOE_OK;
	if (r->verify && floe_crc32c(0, r->buf + r->start + FF_LEN, len - FF_LEN) != entcrc)
		return FLOE_OK;
	*ok = true;
	return FLOE_OK;
}

/* The footer entry of the block about to be read says what its verified
 * header says (records, time range, sizes): an index that does not match
 * its blocks would make readers skip blocks wrongly. */
static bool index_agrees(const struct floe_reader *r, const struct floe_block_frame *fr)
{
	struct floe_cursor e = floe_cursor_make(r->index + (size_t)r->next_index * FE_LEN, FE_LEN);
	floe_cur_skip(&e, FE_NREC);
	uint32_t nrec = floe_cur_le32(&e), sumlen = floe_cur_le32(&e);
	int64_t tmin = (int64_t)floe_cur_le64(&e), tmax = (int64_t)floe_cur_le64(&e);
	floe_cur_skip(&e, 8);
	uint32_t flen = floe_cur_le32(&e);
	return nrec == fr->nrec && sumlen == fr->summary_len && tmin == fr->tmin &&
	       tmax == fr->tmax && flen == fr->total;
}

enum floe_err floe_reader_next(struct floe_reader *r, const struct floe_flow **recs, size_t *n)
{
	*recs = NULL;
	*n = 0;
	while (!r->done) {
		if (r->err.code != FLOE_OK)
			return r->err.code;
		if (r->index) {
			if (r->next_index >= r->nindex)
				break;
			struct floe_cursor e =
			    floe_cursor_make(r->index + (size_t)r->next_index * FE_LEN, FE_LEN);
			if (seek_to(r, floe_cur_le64(&e)) != FLOE_OK)
				return r->err.code;
		} else if (r->resync && scan(r) != FLOE_OK) {
			return r->err.code;
		}
		uint64_t off = r->pos;
		if (fill(r, BH_LEN) != FLOE_OK)
			return r->err.code;
		if (avail(r) == 0)
			break;
		const uint8_t *p = r->buf + r->start;
		if (!r->index && avail(r) >= 4 && memcmp(p, FLOE_FOOTER_MAGIC, 4) == 0) {
			bool ok;
			if (stream_footer(r, &ok) != FLOE_OK)
				return r->err.code;
			if (ok) {
				r->info.has_footer = true;
				/* On a pipe, read the trailer (and anything after
				 * it) too: the writer upstream must not die of
				 * SIGPIPE on its last write because its reader
				 * stopped at the footer. */
				while (!r->seekable && !r->eof && r->err.code == FLOE_OK) {
					consume(r, avail(r));
					if (fill(r, 1) != FLOE_OK)
						return r->err.code;
				}
				consume(r, avail(r));
				break;
			}
			if (damaged(r, FLOE_DAMAGE_FOOTER, off, "footer fails its checks", 0) != FLOE_OK)
				return r->err.code;
			continue;
		}
		if (avail(r) >= BH_HDRLEN + 2) {
			/* a newer minor version may have a longer header */
			struct floe_cursor hc = floe_cursor_make(p, avail(r));
			floe_cur_skip(&hc, BH_HDRLEN);
			unsigned hl = floe_cur_le16(&hc);
			if (hl > BH_LEN && hl <= FLOE_BLOCK_HDR_MAX && fill(r, hl) != FLOE_OK)
				return r->err.code;
			p = r->buf + r->start;
		}
		struct floe_block_frame fr;
		struct floe_errbuf eb = {0};
		enum floe_err e = floe_frame_parse(p, avail(r), &fr, r->verify, &eb);
		if (e == FLOE_TRUNCATED && r->eof) {
			if (!r->resync)
				damaged(r, FLOE_DAMAGE_TORN, off, "cut short (torn last block)", 0);
			break;
		}
		if (e != FLOE_OK) {
			if (damaged(r, FLOE_DAMAGE_BLOCK, off, eb.msg, 0) != FLOE_OK)
				return r->err.code;
			continue;
		}
		if (r->resync) {
			floe_logf(r->log, FLOE_LOG_INFO, "'%s': blocks resume at offset %llu", r->name,
			          (unsigned long long)off);
			r->resync = false;
		}
		if (r->index && !index_agrees(r, &fr)) {
			if (damaged(r, FLOE_DAMAGE_BLOCK, off, "block disagrees with the footer index",
			            0) != FLOE_OK)
				return r->err.code;
			continue;
		}
		size_t head = (size_t)fr.hdr_len + fr.summary_len;
		if (fill(r, head) != FLOE_OK)
			return r->err.code;
		if (avail(r) < head) {
			damaged(r, FLOE_DAMAGE_TORN, off, "cut short (torn last block)", 0);
			break;
		}
		p = r->buf + r->start;
		e = floe_summary_parse(p + fr.hdr_len, &fr, &r->sum, r->verify, &eb);
		if (e != FLOE_OK) {
			if (damaged(r, FLOE_DAMAGE_BLOCK, off, eb.msg, off + fr.total) != FLOE_OK)
				return r->err.code;
			continue;
		}
		r->sum.offset = off;
		if (r->pred && !r->pred(r->ud, &r->sum)) {
			r->st.blocks_skipped++;
			r->blockno++;
			if (r->index)
				r->next_index++;
			else if (seek_to(r, off + fr.total) != FLOE_OK)
				return r->err.code;
			continue;
		}
		if (fill(r, (size_t)fr.total) != FLOE_OK)
			return r->err.code;
		if (avail(r) < fr.total) {
			damaged(r, FLOE_DAMAGE_TORN, off, "cut short (torn last block)", 0);
			break;
		}
		if (r->recs_cap < fr.nrec) {
			size_t ncap = fr.nrec;
			struct floe_flow *nr = floe_realloc(NULL, r->recs, r->recs_cap * sizeof(*nr),
			                                     ncap * sizeof(*nr));
			if (!nr)
				return floe_errbuf_set(&r->err, FLOE_NOMEM, "cannot read '%s': out of memory",
				                       r->name);
			r->recs = nr;
			r->recs_cap = ncap;
		}
		p = r->buf + r->start;
		size_t kept;
		e = floe_payload_decode(&r->dec, &fr, p + head, r->verify, r->recs, &kept, &eb);
		if (e == FLOE_NOMEM)
			return floe_errbuf_set(&r->err, e, "cannot read '%s': %s", r->name, eb.msg);
		if (e != FLOE_OK) {
			if (damaged(r, FLOE_DAMAGE_BLOCK, off, eb.msg, off + fr.total) != FLOE_OK)
				return r->err.code;
			continue;
		}
		consume(r, (size_t)fr.total);
		if (r->index)
			r->next_index++;
		r->blockno++;
		if (r->dec.probe_miss) {
			r->st.blocks_skipped++;
			r->st.blocks_probed++;
			continue;
		}
		r->st.blocks_read++;
		r->st.records += fr.nrec;
		*recs = r->recs;
		*n = kept;
		return FLOE_OK;
	}
	r->done = true;
	return r->err.code != FLOE_OK ? r->err.code : FLOE_EOF;
}
