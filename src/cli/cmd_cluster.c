/*
 * cmd_cluster.c - `floe cluster`, and the machinery `floe sort` and
 * `floe bins` share with it (docs/aggregate.md).
 *
 *   floe cluster -r FILE... [-m KEYS] [-s COLUMNS] [-b BIN] [--sort KEYS]
 *                [--top N] [--memory SIZE] [-w OUT] [FILTER]
 *
 * Records are read (filtered) from the inputs, fed to an operator of
 * libfloe (query/cluster.h, query/sort.h), and what it emits goes to the
 * text/CSV/JSON writer, or with -w to a floe file so aggregations compose
 * through pipes as Argus's clients do.
 */
#include "cli.h"
#include "archive/source.h"
#include "codec/codec.h"
#include "filter/filter.h"
#include "progress.h"
#include "query/cluster.h"
#include "query/local.h"
#include "query/merge.h"
#include "query/output.h"
#include "query/sort.h"
#include "util/mem.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Memory kept outside the operators' budget for readers (a decompressed
 * block of 64 Ki records), zstd, stdio and the binary itself. */
#define RESERVE (32ull << 20)

static const char cluster_help[] =
	"usage: floe cluster -r FILE... [-m KEYS] [-s COLUMNS] [options] [FILTER]\n"
	"\n"
	"Groups records by key fields and aggregates them (racluster, nfdump -A).\n"
	"Without -m, merges the records of each flow (status intervals) into one.\n"
	"\n"
	"  -r FILE...       input files (\"-\": standard input)\n"
	"  -R DIR...        every floe file below DIR, e.g. an archive\n"
	"  -t RANGE         records overlapping RANGE (as for 'floe read')\n"
	"  -m KEYS          key fields: saddr daddr saddr/24 daddr/64 proto sport dport\n"
	"                   smac dmac vlan state ... ('floe fields': kind key)\n"
	"  -s COLUMNS       output columns: fields, pct(bytes) or %bytes (percent of\n"
	"                   the total), dcount(daddr) (distinct values; exact up to\n"
	"                   2048, HyperLogLog beyond, error under 2 %)\n"
	"  -b BIN           also group by time bin (5m, 1h), spreading each record\n"
	"                   over the bins it covers\n"
	"  --sort KEYS      order the groups: bytes (biggest first), saddr:asc, ...\n"
	"  --top N          only the first N groups (default order: bytes, biggest first)\n"
	"  --memory SIZE    memory target (default 256M); bigger aggregations spill\n"
	"                   to temporary files in $TMPDIR and still finish exactly\n"
	"  -w FILE          write the groups as a floe file (\"-\": stdout)\n"
	"  --local NETS     local networks (or @FILE): enables laddr raddr lport rport\n"
	"                   inbytes outbytes inpkts outpkts, e.g. per local host in/out:\n"
	"                   -m laddr -s laddr inbytes outbytes --local 10.0.0.0/8\n"
	"  -o FORMAT -n -u -p DIGITS --no-header   as for 'floe read'\n"
	"  --stats          print counts (records, groups, spills) to stderr\n";

int cmd_cluster(int argc, char **argv)
{
	return cli_agg_main(CLI_AGG_CLUSTER, cluster_help, argc, argv);
}

/* ---- reading ---- */

/* Takes one element of a feed: a struct floe_flow, or with a prepare
 * function what it made of one. */
typedef cli_add_fn add_fn;
/* Turns a record into an element of esize bytes, in the reading thread. */
typedef void (*prep_fn)(const void *pud, const struct floe_flow *f, void *elem);
/* Takes n prepared elements at once. */
typedef enum floe_err (*batch_fn)(void *ud, const void *elems, size_t n);

/*
 * Reading runs in a thread of its own: it decodes blocks, filters, orients
 * and copies the records into one of two slots of FEED_RECS records while
 * the main thread aggregates the other, so decompression and aggregation
 * overlap.  Only the main thread touches the operators and their budget.
 * With a prepare function (floe_cluster_prepare) the reading thread also
 * makes each record's group key and hash and hands over those small items
 * instead of whole records.  With a shard (floe_cluster_create_shard) it
 * also aggregates a quarter of the groups itself, chosen by hash bits, so
 * both cores aggregate: decoding takes about half of what aggregating
 * does, and a quarter evens the two threads out.
 */
#define SHARD_BITS 3u                  /* item bits 11: a quarter of the groups */
#define FEED_RECS 8192

struct feed {
	/* set before the thread starts */
	struct cli_opts *o;
	size_t first, count;
	bool dirs;                     /* also read -R directories */
	const struct floe_filter *filter;
	const uint8_t (*want)[16];     /* the hosts wanted (borrowed), or NULL: the filter's */
	size_t nwant;
	bool quiet;                    /* no progress display */
	const struct floe_netset *orient;
	uint64_t columns;              /* to decode (floe_reader_set_columns); 0: all */
	prep_fn prep;                  /* NULL: elements are records */
	const void *prep_ud;
	size_t esize;                  /* bytes of an element */
	struct floe_cluster *shard;    /* the reader's own operator, or NULL */
	uint8_t *sbuf;                 /* its items, FEED_RECS of them */
	size_t sn;
	/* shared, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint8_t *slot[2];
	size_t len[2];
	bool full[2];
	bool done, stop;
	/* the reader's own */
	int rc;
	uint64_t nrec;
	uint8_t addrs[64][16];         /* the filter's hosts: the source borrows them */
};

static void feed_publish(struct feed *fd, int w, size_t k)
{
	pthread_mutex_lock(&fd->mu);
	fd->len[w] = k;
	fd->full[w] = true;
	pthread_cond_broadcast(&fd->cv);
	pthread_mutex_unlock(&fd->mu);
}

/* Waits until slot w is free; false if the consumer gave up. */
static bool feed_wait_free(struct feed *fd, int w)
{
	pthread_mutex_lock(&fd->mu);
	while (fd->full[w] && !fd->stop)
		pthread_cond_wait(&fd->cv, &fd->mu);
	bool ok = !fd->stop;
	pthread_mutex_unlock(&fd->mu);
	return ok;
}

/* Opens the inputs of this feed as one source: files and -R directories,
 * skipped by -t and by the filter's required addresses (archive/source.h). */
static struct floe_source *feed_source(struct feed *fd)
{
	struct cli_opts *o = fd->o;
	struct floe_errbuf eb = {0};
	size_t naddrs = 0;
	const uint8_t (*addrs)[16] = fd->want;
	if (addrs)
		naddrs = fd->nwant;
	else if (fd->filter && floe_filter_required_addrs(fd->filter, fd->addrs, 64, &naddrs))
		addrs = (const uint8_t (*)[16])fd->addrs;
	else
		naddrs = 0;
	struct floe_source_opts so = {.range = o->trange, .addrs = addrs, .naddrs = naddrs,
	                              .no_index = o->no_index, .columns = fd->columns, .log = cli_log()};
	struct floe_source *src = floe_source_create(&so, &eb);
	bool ok = src != NULL;
	for (size_t i = fd->first; ok && i < fd->first + fd->count; i++)
		ok = floe_source_add_file(src, o->rfiles[i], &eb) == FLOE_OK;
	for (size_t i = 0; ok && fd->dirs && i < o->nrdirs; i++)
		ok = floe_source_add_dir(src, o->rdirs[i], &eb) == FLOE_OK;
	if (!ok) {
		cli_error(o, "%s", eb.msg);
		floe_source_destroy(src);
		return NULL;
	}
	return src;
}

/* Aggregates the reader's share of items; false (error reported) if its
 * operator fails. */
static bool shard_flush(struct feed *fd)
{
	if (!fd->shard || !fd->sn)
		return true;
	enum floe_err e = floe_cluster_add_items(fd->shard, fd->sbuf, fd->sn);
	fd->sn = 0;
	if (e == FLOE_OK)
		return true;
	cli_error(fd->o, "%s", floe_cluster_error(fd->shard));
	fd->rc = EXIT_FAIL;
	return false;
}

static void *feed_main(void *arg)
{
	struct feed *fd = arg;
	struct cli_opts *o = fd->o;
	int w = 0;
	size_t k = 0;
	bool go = true;
	bool timed = !floe_timerange_is_all(&o->trange);
	/* -S: the records of stream servers instead of files (sink_stream.c) */
	struct cli_stream_in *sin = o->nstreams && fd->dirs ? cli_stream_in_open(o) : NULL;
	struct floe_source *src = o->nstreams ? NULL : feed_source(fd);
	if (!src && !sin) {
		fd->rc = EXIT_FAIL;
		go = false;
	}
	struct cli_progress pg;
	cli_progress_init(&pg, o->cmd, fd->quiet ? NULL : src, false);
	while (go) {
		const struct floe_flow *recs;
		size_t n;
		enum floe_err e = sin ? cli_stream_in_next(sin, &recs, &n) : floe_source_next(src, &recs, &n);
		cli_progress_update(&pg, e == FLOE_OK ? n : 0);
		if (e == FLOE_EOF)
			break;
		if (e != FLOE_OK) {
			if (!sin)   /* the stream source printed its error */
				cli_error(o, "%s", floe_source_error(src));
			fd->rc = EXIT_FAIL;
			break;
		}
		for (size_t i = 0; i < n && go; i++) {
			if (timed && !floe_timerange_overlaps(&o->trange, recs[i].stime, recs[i].ltime))
				continue;
			if (fd->filter && !floe_filter_match(fd->filter, &recs[i]))
				continue;
			fd->nrec++;
			uint8_t *el = fd->slot[w] + k++ * fd->esize;
			if (fd->prep) {
				const struct floe_flow *f = &recs[i];
				struct floe_flow turned;
				if (fd->orient) {
					turned = recs[i];
					floe_flow_orient_local(&turned, fd->orient);
					f = &turned;
				}
				fd->prep(fd->prep_ud, f, el);
				if (fd->shard && (floe_cluster_item_bits(el) & SHARD_BITS) == SHARD_BITS) {
					memcpy(fd->sbuf + fd->sn++ * fd->esize, el, fd->esize);
					k--;
					if (fd->sn == FEED_RECS && !shard_flush(fd))
						go = false;
					continue;
				}
			} else {
				struct floe_flow *f = (struct floe_flow *)(void *)el;
				*f = recs[i];
				if (fd->orient)
					floe_flow_orient_local(f, fd->orient);
			}
			if (k == FEED_RECS) {
				feed_publish(fd, w, k);
				w ^= 1;
				k = 0;
				go = feed_wait_free(fd, w);
			}
		}
	}
	if (go && !shard_flush(fd))
		go = false;
	cli_progress_release(&pg);
	if (src) {
		struct floe_source_stats ss;
		floe_source_stats(src, &ss);
		if (fd->rc == EXIT_OK && (ss.blocks_damaged || ss.files_failed))
			fd->rc = EXIT_DAMAGED;
		floe_source_destroy(src);
	}
	if (sin) {
		int src_rc = cli_stream_in_close(sin);
		if (fd->rc == EXIT_OK)
			fd->rc = src_rc;
	}
	if (k && go)
		feed_publish(fd, w, k);
	pthread_mutex_lock(&fd->mu);
	fd->done = true;
	pthread_cond_broadcast(&fd->cv);
	pthread_mutex_unlock(&fd->mu);
	return NULL;
}

/* Runs the feed set up in *fd0 (its o, inputs, filter, orient, columns,
 * prep, esize, shard, want, quiet): its reading thread hands slots to add
 * (or batch), in this thread.  rc as cli_read_records. */
static int feed_read(struct feed *fd0, add_fn add, batch_fn batch, void *ud,
                     const char *(*errmsg)(void *ud), uint64_t *nrec)
{
	struct feed fd = *fd0;
	struct cli_opts *o = fd.o;
	fd.slot[0] = malloc((fd.shard ? 3 : 2) * FEED_RECS * fd.esize);
	if (!fd.slot[0]) {
		cli_error(o, "out of memory");
		return EXIT_FAIL;
	}
	fd.slot[1] = fd.slot[0] + FEED_RECS * fd.esize;
	fd.sbuf = fd.slot[1] + FEED_RECS * fd.esize;
	pthread_mutex_init(&fd.mu, NULL);
	pthread_cond_init(&fd.cv, NULL);
	pthread_t th;
	int rc = EXIT_OK;
	if (pthread_create(&th, NULL, feed_main, &fd) != 0) {
		cli_error(o, "cannot start the reading thread");
		pthread_cond_destroy(&fd.cv);
		pthread_mutex_destroy(&fd.mu);
		free(fd.slot[0]);
		return EXIT_FAIL;
	}
	for (int r = 0;; r ^= 1) {
		pthread_mutex_lock(&fd.mu);
		while (!fd.full[r] && !fd.done)
			pthread_cond_wait(&fd.cv, &fd.mu);
		bool have = fd.full[r];
		pthread_mutex_unlock(&fd.mu);
		if (!have)
			break;
		enum floe_err e = FLOE_OK;
		if (batch)
			e = batch(ud, fd.slot[r], fd.len[r]);
		for (size_t i = 0; !batch && i < fd.len[r] && e == FLOE_OK; i++)
			e = add(ud, fd.slot[r] + i * fd.esize);
		if (e != FLOE_OK) {
			cli_error(o, "%s", e == FLOE_NOMEM && !errmsg ? "out of memory: the records do not "
			          "fit in --memory (use --top N or a larger --memory)" : errmsg(ud));
			rc = EXIT_FAIL;
		}
		pthread_mutex_lock(&fd.mu);
		fd.full[r] = false;
		if (rc != EXIT_OK)
			fd.stop = true;
		pthread_cond_broadcast(&fd.cv);
		pthread_mutex_unlock(&fd.mu);
		if (rc != EXIT_OK)
			break;
	}
	pthread_join(th, NULL);
	pthread_cond_destroy(&fd.cv);
	pthread_mutex_destroy(&fd.mu);
	free(fd.slot[0]);
	*nrec += fd.nrec;
	if (rc == EXIT_OK || fd.rc == EXIT_FAIL)
		rc = fd.rc == EXIT_OK ? rc : fd.rc;
	return rc;
}

/* Feeds every record of the inputs that passes filter to add; oriented to
 * the local networks first if orient is set; made into an element of
 * esize bytes by prep if that is set. */
static int read_prepared(struct cli_opts *o, size_t first, size_t count, const struct floe_filter *filter,
                         const struct floe_netset *orient, uint64_t columns, prep_fn prep,
                         const void *prep_ud, size_t esize, struct floe_cluster *shard, add_fn add,
                         batch_fn batch, void *ud, const char *(*errmsg)(void *ud), uint64_t *nrec)
{
	struct feed fd = {.o = o, .first = first, .count = count, .dirs = first == 0 && count == o->nrfiles,
	                  .filter = filter, .orient = orient, .columns = columns, .prep = prep, .prep_ud = prep_ud,
	                  .esize = prep ? esize : sizeof(struct floe_flow), .shard = prep ? shard : NULL};
	return feed_read(&fd, add, batch, ud, errmsg, nrec);
}

static int read_files(struct cli_opts *o, size_t first, size_t count, const struct floe_filter *filter,
                      const struct floe_netset *orient, add_fn add, void *ud,
                      const char *(*errmsg)(void *ud), uint64_t *nrec)
{
	return read_prepared(o, first, count, filter, orient, 0, NULL, NULL, 0, NULL, add, NULL, ud, errmsg, nrec);
}

int cli_read_records(struct cli_opts *o, const struct floe_filter *filter,
                     const uint8_t (*addrs)[16], size_t naddrs, uint64_t columns, cli_add_fn add,
                     void *ud, const char *(*errmsg)(void *ud), uint64_t *nrec)
{
	struct feed fd = {.o = o, .count = o->nrfiles, .dirs = true, .filter = filter,
	                  .want = naddrs <= 64 ? addrs : NULL, .nwant = naddrs, .quiet = true,
	                  .columns = columns, .esize = sizeof(struct floe_flow)};
	return feed_read(&fd, add, NULL, ud, errmsg, nrec);
}

static int read_all(struct cli_opts *o, const struct floe_filter *filter,
                    const struct floe_netset *orient, add_fn add, void *ud,
                    const char *(*errmsg)(void *ud), uint64_t *nrec)
{
	return read_files(o, 0, o->nrfiles, filter, orient, add, ud, errmsg, nrec);
}

/* ---- writing ---- */

struct sink {
	struct cli_opts *o;
	const struct floe_aggcol *cols;
	size_t ncols;
	struct floe_output *out;
	struct floe_writer *w;
	struct floe_sort *sort;   /* when set, records go here first */
	uint64_t written;
};

static enum floe_err sink_write(void *ud, const struct floe_flow *f, const double *extra)
{
	struct sink *s = ud;
	s->written++;
	if (s->w)
		return floe_writer_add(s->w, f);
	char text[CLI_MAX_COLS][32];
	const char *cells[CLI_MAX_COLS];
	for (size_t i = 0; i < s->ncols; i++) {
		cells[i] = NULL;
		switch (s->cols[i].op) {
		case FLOE_AGG_FIELD:
			break;
		case FLOE_AGG_PCT:
			snprintf(text[i], sizeof(text[i]), "%.2f", extra[i]);
			cells[i] = text[i];
			break;
		case FLOE_AGG_DCOUNT:
			snprintf(text[i], sizeof(text[i]), "%.0f", extra[i]);
			cells[i] = text[i];
			break;
		}
	}
	return floe_output_write_cells(s->out, f, cells);
}

static enum floe_err sink_emit(void *ud, const struct floe_flow *f, const double *extra)
{
	struct sink *s = ud;
	if (s->sort)
		return floe_sort_add(s->sort, f, extra);
	return sink_write(s, f, extra);
}

/* ---- the commands ---- */

struct agg {
	struct cli_opts o;
	enum cli_agg_mode mode;
	struct floe_aggcol cols[CLI_MAX_COLS];
	size_t ncols;
	struct floe_budget budget;
	struct floe_cluster *cl;
	struct floe_budget sbudget;    /* the shard's share of --memory */
	struct floe_cluster *shard;    /* aggregated by the reading thread */
	struct floe_merge *mg;
	struct sink sink;
};

static enum floe_err add_b(void *ud, const void *f)
{
	return floe_merge_add_b(((struct agg *)ud)->mg, f);
}

static enum floe_err add_a(void *ud, const void *f)
{
	struct agg *g = ud;
	return floe_merge_join(g->mg, f, sink_emit, &g->sink);
}

static const char *merge_err(void *ud)
{
	(void)ud;
	return "out of memory: the second capture does not fit in --memory";
}

static enum floe_err add_cluster(void *ud, const void *f)
{
	return floe_cluster_add(((struct agg *)ud)->cl, f);
}

static void prep_cluster(const void *pud, const struct floe_flow *f, void *item)
{
	floe_cluster_prepare(pud, f, item);
}

static enum floe_err add_items(void *ud, const void *items, size_t n)
{
	return floe_cluster_add_items(((struct agg *)ud)->cl, items, n);
}

static const char *cluster_err(void *ud)
{
	return floe_cluster_error(((struct agg *)ud)->cl);
}

static enum floe_err add_sort(void *ud, const void *f)
{
	return floe_sort_add(((struct agg *)ud)->sink.sort, f, NULL);
}

static const char *sort_err(void *ud)
{
	(void)ud;
	return "cannot sort: --memory is too small, or a run cannot be written in $TMPDIR";
}

/* Appends the field names of a key list (masks dropped) to buf. */
static void key_names(const char *keys, char *buf, size_t len)
{
	for (const char *p = keys; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t n = strcspn(p, " ,/");
		if (n) {
			size_t have = strlen(buf);
			snprintf(buf + have, len - have, " %.*s", (int)n, p);
		}
		p += n;
		p += strcspn(p, " ,");
	}
}

/* True if every column and sort key can be computed from a lean group;
 * *values gets the FLOE_CLV_* of the values they need. */
static bool lean_enough(const struct agg *g, const struct floe_sortkey *sk, size_t nsk, unsigned *values)
{
	static const struct {
		const char *name;
		unsigned values;
	} lean[] = {
		{"stime", FLOE_CLV_TIMES}, {"ltime", FLOE_CLV_TIMES}, {"dur", FLOE_CLV_TIMES},
		{"spkts", FLOE_CLV_SPKTS}, {"dpkts", FLOE_CLV_SPKTS}, {"pkts", FLOE_CLV_PKTS},
		{"sbytes", FLOE_CLV_SBYTES}, {"dbytes", FLOE_CLV_SBYTES}, {"bytes", FLOE_CLV_BYTES},
		{"trans", FLOE_CLV_TRANS},
		{"load", FLOE_CLV_TIMES | FLOE_CLV_BYTES},
		{"sload", FLOE_CLV_TIMES | FLOE_CLV_SBYTES}, {"dload", FLOE_CLV_TIMES | FLOE_CLV_SBYTES},
		{"rate", FLOE_CLV_TIMES | FLOE_CLV_PKTS},
		{"srate", FLOE_CLV_TIMES | FLOE_CLV_SPKTS}, {"drate", FLOE_CLV_TIMES | FLOE_CLV_SPKTS},
	};
	const struct floe_field *need[CLI_MAX_COLS + 32];
	size_t nn = 0;
	for (size_t i = 0; i < g->ncols; i++)
		if (g->cols[i].op != FLOE_AGG_DCOUNT)
			need[nn++] = g->cols[i].arg;
	for (size_t i = 0; i < nsk; i++)
		if (sk[i].fd)
			need[nn++] = sk[i].fd;
	*values = 0;
	for (size_t i = 0; i < nn; i++) {
		bool ok = (need[i]->kinds & FLOE_FK_KEY) != 0;
		for (size_t j = 0; j < sizeof(lean) / sizeof(lean[0]) && !ok; j++)
			if (strcmp(need[i]->name, lean[j].name) == 0) {
				*values |= lean[j].values;
				ok = true;
			}
		if (!ok)
			return false;
	}
	if (*values == 0)
		*values = FLOE_CLV_TRANS;  /* keys only: keep the smallest cell */
	return true;
}

#define COLS(m) floe_columns_of(offsetof(struct floe_flow, m), sizeof(((struct floe_flow *)0)->m))

/* The columns a lean aggregation without --local reads (the others are
 * not decoded): its key fields, its values (FLOE_CLV_*), the fields of its
 * pct() columns, the fields its filter reads, and the times and protocol
 * fields every record carries.  0: all. */
static uint64_t lean_columns(const char *keys, const struct agg *g, unsigned values,
                             const struct floe_filter *filter)
{
	uint64_t m = COLS(stime) | COLS(ltime) | COLS(proto) | COLS(ipver) | COLS(etype) | COLS(flags);
	if (filter) {
		uint64_t fm = cli_filter_columns(filter);
		if (!fm)
			return 0;
		m |= fm;
	}
	if (values & (FLOE_CLV_PKTS | FLOE_CLV_SPKTS))
		m |= COLS(spkts) | COLS(dpkts);
	if (values & (FLOE_CLV_BYTES | FLOE_CLV_SBYTES))
		m |= COLS(sbytes) | COLS(dbytes);
	if (values & FLOE_CLV_TRANS)
		m |= COLS(trans);
	for (size_t i = 0; i < g->ncols; i++)
		if (g->cols[i].op == FLOE_AGG_PCT) {
			if (!g->cols[i].arg->size)
				return 0;
			m |= floe_columns_of(g->cols[i].arg->off, g->cols[i].arg->size);
		}
	return cli_keys_columns(keys, &m) ? m : 0;
}

int cli_agg_main(enum cli_agg_mode mode, const char *help, int argc, char **argv)
{
	static const char *const names[] = {"cluster", "sort", "bins", "merge"};
	struct agg *g = calloc(1, sizeof(*g));
	if (!g) {
		fprintf(stderr, "floe: out of memory\n");
		return EXIT_FAIL;
	}
	struct cli_opts *o = &g->o;
	o->cmd = names[mode];
	g->mode = mode;
	bool hflag;
	struct floe_filter *filter = NULL;
	struct floe_errbuf eb = {0};
	struct floe_sortkey sk[32];
	size_t nsk = 0;
	int rc = cli_parse(o, OPT_READ | OPT_WRITE | OPT_PRINT | OPT_AGG |
	                   (mode == CLI_AGG_MERGE ? 0 : OPT_SOURCE | OPT_STREAM),
	                   argc, argv, &hflag);
	if (rc != EXIT_OK || hflag) {
		if (hflag)
			fputs(help, stdout);
		goto out;
	}
	rc = EXIT_USAGE;
	if (o->nrfiles == 0 && o->nrdirs == 0 && o->nstreams == 0) {
		cli_error(o, "no input: give -r FILE, -R DIR or -S HOST:PORT (try 'floe %s --help')",
		          o->cmd);
		goto out;
	}
	if (mode == CLI_AGG_SORT && !o->keys && !o->top) {
		cli_error(o, "give the sort keys with -m, e.g. -m bytes (try 'floe sort --help')");
		goto out;
	}
	if (mode == CLI_AGG_BINS && !o->bin) {
		cli_error(o, "give the bin size with -b, e.g. -b 5m");
		goto out;
	}
	if ((mode == CLI_AGG_SORT || mode == CLI_AGG_MERGE) && o->bin) {
		cli_error(o, "-b is for cluster and bins");
		goto out;
	}
	if (mode == CLI_AGG_MERGE && (o->nrfiles != 2 || o->keys)) {
		cli_error(o, "give two captures, A and B, and no -m (try 'floe merge --help')");
		goto out;
	}

	/* columns */
	char spec[1024] = "";
	if (o->aggcols) {
		snprintf(spec, sizeof(spec), "%s", o->aggcols);
	} else if (mode == CLI_AGG_SORT || mode == CLI_AGG_MERGE || (mode == CLI_AGG_CLUSTER && !o->keys)) {
		snprintf(spec, sizeof(spec), "stime dur proto saddr sport dir daddr dport spkts dpkts "
		         "sbytes dbytes state%s", mode == CLI_AGG_CLUSTER ? " trans" : "");
	} else {
		snprintf(spec, sizeof(spec), "stime%s", mode == CLI_AGG_CLUSTER && !o->bin ? " dur" : "");
		key_names(o->keys ? o->keys : "", spec, sizeof(spec));
		snprintf(spec + strlen(spec), sizeof(spec) - strlen(spec), " trans pkts bytes%s",
		         mode == CLI_AGG_BINS ? " load" : "");
	}
	if (floe_aggcol_parse(spec, g->cols, CLI_MAX_COLS, &g->ncols, &eb) != FLOE_OK) {
		cli_error(o, "%s", eb.msg);
		goto out;
	}
	for (size_t i = 0; i < g->ncols && (mode == CLI_AGG_SORT || mode == CLI_AGG_MERGE); i++)
		if (g->cols[i].op != FLOE_AGG_FIELD) {
			cli_error(o, "%s is computed by 'floe cluster'", g->cols[i].name);
			goto out;
		}

	/* order */
	const char *order = mode == CLI_AGG_SORT ? o->keys : o->sortkeys;
	char binorder[512] = "stime:asc";
	if (mode == CLI_AGG_BINS && !order) {
		key_names(o->keys ? o->keys : "", binorder, sizeof(binorder));
		order = binorder;
	}
	if (!order && o->top)
		order = "bytes";
	if (order && floe_sortkeys_parse(order, g->cols, g->ncols, sk, 32, &nsk, &eb) != FLOE_OK) {
		cli_error(o, "%s", eb.msg);
		goto out;
	}
	/* groups that tie come in the order of their keys, ascending: the same
	 * output whatever order the operator emits them in (it changes with
	 * spills, and the reading thread aggregates a share of them) */
	if (order && mode == CLI_AGG_CLUSTER && o->keys) {
		char tie[512] = "";
		struct floe_sortkey more[32];
		size_t nmore = 0;
		key_names(o->keys, tie, sizeof(tie));
		if (o->bin)
			snprintf(tie + strlen(tie), sizeof(tie) - strlen(tie), " stime");
		if (floe_sortkeys_parse(tie, NULL, 0, more, 32, &nmore, &eb) != FLOE_OK)
			nmore = 0;
		for (size_t i = 0; i < nmore && nsk < 32; i++) {
			bool have = false;
			for (size_t j = 0; j < nsk; j++)
				have |= sk[j].fd == more[i].fd;
			if (!have) {
				more[i].desc = false;
				sk[nsk++] = more[i];
			}
		}
	}

	/* fields relative to --local (laddr, inbytes, ...) orient the records */
	bool local_fields = false;
	for (size_t i = 0; i < g->ncols; i++)
		local_fields |= (g->cols[i].arg->kinds & FLOE_FK_LOCAL) != 0;
	for (size_t i = 0; i < nsk; i++)
		local_fields |= sk[i].fd && (sk[i].fd->kinds & FLOE_FK_LOCAL);
	for (const char *p = o->keys ? o->keys : ""; *p;) {
		char w[64];
		p += strspn(p, " ,");
		size_t n = strcspn(p, " ,/");
		if (n && n < sizeof(w)) {
			memcpy(w, p, n);
			w[n] = '\0';
			const struct floe_field *fd = floe_field_lookup(w);
			local_fields |= fd && (fd->kinds & FLOE_FK_LOCAL);
		}
		p += n;
		p += strcspn(p, " ,");
	}
	if (local_fields && !o->local) {
		cli_error(o, "laddr, raddr, lport, rport, inbytes, outbytes, inpkts and outpkts need "
		          "the local networks: --local NETS or --local @FILE");
		goto out;
	}
	if (o->filter && !(filter = floe_filter_compile(o->filter, &eb))) {
		cli_error(o, "bad filter '%s': %s", o->filter, eb.msg);
		goto out;
	}
	uint64_t mem = o->memory ? o->memory : CLI_DEFAULT_MEMORY;
	floe_budget_init(&g->budget, (size_t)(mem > RESERVE + (8u << 20) ? mem - RESERVE : (8u << 20)));

	rc = EXIT_FAIL;
	unsigned values = 0;
	bool lean = false;
	if (mode == CLI_AGG_MERGE && !(g->mg = floe_merge_create(1000000000, &g->budget))) {
		cli_error(o, "out of memory");
		goto out;
	}
	if (mode == CLI_AGG_CLUSTER || mode == CLI_AGG_BINS) {
		lean = !o->wfile && lean_enough(g, sk, nsk, &values);
		struct floe_cluster_opts co = {
			.keys = mode == CLI_AGG_BINS && !o->keys ? "" : o->keys,
			.bin = o->bin, .cols = g->cols, .ncols = g->ncols,
			.lean = lean, .values = values,
			.budget = &g->budget, .log = cli_log(),
		};
		g->cl = floe_cluster_create(&co, &eb);
		if (!g->cl) {
			cli_error(o, "%s", eb.msg);
			rc = eb.code == FLOE_INVALID ? EXIT_USAGE : EXIT_FAIL;
			goto out;
		}
		/* a quarter of the groups (and of the budget) to the reading
		 * thread; not when a quarter could not hold a few chunks of
		 * groups (--memory under 64M) */
		size_t share = g->budget.limit / 4;
		if (floe_cluster_item_size(g->cl) && sysconf(_SC_NPROCESSORS_ONLN) > 1 && share >= (8u << 20)) {
			floe_budget_init(&g->sbudget, share);
			co.budget = &g->sbudget;
			if (!(g->shard = floe_cluster_create_shard(&co, g->cl, &eb))) {
				cli_error(o, "%s", eb.msg);
				goto out;
			}
			g->budget.limit -= share;
		}
	}
	if (order) {
		g->sink.sort = floe_sort_create(sk, nsk, mode == CLI_AGG_SORT || mode == CLI_AGG_MERGE ? 0 : g->ncols, o->top,
		                                 &g->budget);
		if (!g->sink.sort) {
			cli_error(o, "out of memory");
			goto out;
		}
	}
	g->sink.o = o;
	g->sink.cols = g->cols;
	g->sink.ncols = g->ncols;
	static char obuf[1 << 16];
	setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
	if (o->wfile) {
		struct floe_writer_opts wo = {.block_records = o->block_records, .log = cli_log()};
		for (size_t i = 0; i < g->ncols; i++)
			if (g->cols[i].op != FLOE_AGG_FIELD)
				cli_warn(o, "%s is not stored in floe files; -w leaves it out", g->cols[i].name);
		if (!(g->sink.w = floe_writer_open(o->wfile, &wo, &eb))) {
			cli_error(o, "%s", eb.msg);
			goto out;
		}
	} else {
		const struct floe_field *fcols[CLI_MAX_COLS];
		for (size_t i = 0; i < g->ncols; i++)
			fcols[i] = floe_aggcol_field(&g->cols[i]);
		memcpy(o->cols, fcols, g->ncols * sizeof(fcols[0]));
		o->ncols = g->ncols;
		g->sink.out = floe_output_create(stdout, (enum floe_outfmt)o->outfmt, o->cols, o->ncols,
		                                 &o->fmt, !o->no_header);
		if (!g->sink.out) {
			cli_error(o, "out of memory");
			goto out;
		}
	}

	uint64_t nrec = 0;
	if (mode == CLI_AGG_MERGE) {
		/* B first, held in memory; then A streams past it */
		rc = read_files(o, 1, 1, filter, NULL, add_b, g, merge_err, &nrec);
		if (rc != EXIT_FAIL) {
			int r2 = read_files(o, 0, 1, filter, NULL, add_a, g, NULL, &nrec);
			rc = r2 != EXIT_OK ? r2 : rc;
		}
		if (rc != EXIT_FAIL && floe_merge_finish(g->mg, sink_emit, &g->sink) != FLOE_OK) {
			cli_error(o, "cannot write output");
			rc = EXIT_FAIL;
		}
	} else if (mode == CLI_AGG_SORT)
		rc = read_all(o, filter, local_fields ? o->local : NULL, add_sort, g, sort_err, &nrec);
	else if (floe_cluster_item_size(g->cl))
		rc = read_prepared(o, 0, o->nrfiles, filter, local_fields ? o->local : NULL,
		                   lean && !local_fields ? lean_columns(o->keys, g, values, filter) : 0,
		                   prep_cluster, g->cl, floe_cluster_item_size(g->cl), g->shard, NULL, add_items, g,
		                   cluster_err, &nrec);
	else
		rc = read_all(o, filter, local_fields ? o->local : NULL, add_cluster, g, cluster_err, &nrec);
	for (int i = 0; i < 2 && rc != EXIT_FAIL; i++) {
		struct floe_cluster *cl = i ? g->shard : g->cl;
		enum floe_err e = cl ? floe_cluster_finish(cl, sink_emit, &g->sink) : FLOE_OK;
		if (e != FLOE_OK) {
			const char *m = floe_cluster_error(cl);
			cli_error(o, "%s", *m ? m : e == FLOE_NOMEM ? "out of memory: the groups do not fit in "
			          "--memory (use --top N or a larger --memory)" : floe_strerror(e));
			rc = EXIT_FAIL;
		}
	}
	if (rc != EXIT_FAIL && g->sink.sort) {
		struct floe_sort *s = g->sink.sort;
		g->sink.sort = NULL;  /* from now on emit writes */
		if (floe_sort_finish(s, sink_write, &g->sink) != FLOE_OK) {
			cli_error(o, "cannot sort: --memory is too small, or a run cannot be written in $TMPDIR");
			rc = EXIT_FAIL;
		}
		g->sink.sort = s;
	}
	if (g->sink.w) {
		floe_errbuf_clear(&eb);
		if (floe_writer_close(g->sink.w, &eb) != FLOE_OK && rc != EXIT_FAIL) {
			cli_error(o, "%s", eb.msg);
			rc = EXIT_FAIL;
		}
		g->sink.w = NULL;
	}
	if (g->sink.out) {
		if (rc == EXIT_FAIL) {
			floe_output_discard(g->sink.out);
		} else if (floe_output_finish(g->sink.out) != FLOE_OK) {
			cli_error(o, "cannot write output");
			rc = EXIT_FAIL;
		}
		g->sink.out = NULL;
	}
	if (o->stats && g->mg) {
		struct floe_merge_stats ms;
		floe_merge_stats(g->mg, &ms);
		fprintf(stderr, "records of A %" PRIu64 ", of B %" PRIu64 ", joined %" PRIu64 ", written %" PRIu64 "\n",
		        ms.a, ms.b, ms.joined, g->sink.written);
	} else if (o->stats) {
		struct floe_cluster_stats st = {0}, sst = {0};
		if (g->cl)
			floe_cluster_stats(g->cl, &st);
		if (g->shard) {
			floe_cluster_stats(g->shard, &sst);
			st.groups += sst.groups;
			st.spills += sst.spills;
			st.spilled_groups += sst.spilled_groups;
			st.max_level = sst.max_level > st.max_level ? sst.max_level : st.max_level;
		}
		fprintf(stderr, "records %" PRIu64 ", groups %" PRIu64 ", written %" PRIu64 ", spills %" PRIu64
		        ", spilled groups %" PRIu64 ", partition levels %u, budget peak %zu MB of %zu MB\n",
		        nrec, g->cl ? st.groups : nrec, g->sink.written, st.spills, st.spilled_groups,
		        st.max_level, (g->budget.peak + g->sbudget.peak) >> 20,
		        (g->budget.limit + g->sbudget.limit) >> 20);
	}
out:
	if (g->sink.w)
		floe_writer_abandon(g->sink.w);
	floe_sort_destroy(g->sink.sort);
	floe_cluster_destroy(g->shard);
	floe_cluster_destroy(g->cl);
	floe_merge_destroy(g->mg);
	floe_filter_destroy(filter);
	cli_opts_release(o);
	free(g);
	return rc;
}
