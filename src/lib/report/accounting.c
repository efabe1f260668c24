/*
 * accounting.c - bytes in and out per customer per UTC day (report.h),
 * and its text, CSV and JSON output.
 *
 * The rows live in an open-addressing table keyed by (customer, day),
 * charged to the budget: customers x days is what it can grow to, and
 * past the budget the report fails with NOMEM rather than guess.
 */
#include "report/report.h"

#include "report/prefixes.h"
#include "report/render_int.h"
#include "report/report_int.h"
#include "query/output.h"
#include "util/mem.h"
#include "util/timefmt.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define DAY_NS (86400LL * 1000000000LL)

struct floe_acct {
	struct floe_acct_opts o;
	struct floe_acct_row *tab;   /* cap slots; flows == 0 marks a free one */
	size_t cap, n;
	bool failed;
	struct floe_acct_row *sorted;
	size_t nsorted;
};

struct floe_acct *floe_acct_create(const struct floe_acct_opts *o, struct floe_errbuf *eb)
{
	struct floe_acct *a = floe_calloc(o->budget, 1, sizeof(*a));
	if (a) {
		a->o = *o;
		a->cap = 64;
		a->tab = floe_calloc(o->budget, a->cap, sizeof(*a->tab));
	}
	if (!a || !a->tab) {
		floe_acct_destroy(a);
		floe_errbuf_set(eb, FLOE_NOMEM, "out of memory");
		return NULL;
	}
	return a;
}

void floe_acct_destroy(struct floe_acct *a)
{
	if (!a)
		return;
	floe_free(a->o.budget, a->tab, a->cap * sizeof(*a->tab));
	floe_free(a->o.budget, a->sorted, a->nsorted * sizeof(*a->sorted));
	floe_free(a->o.budget, a, sizeof(*a));
}

static size_t slot_of(size_t customer, int64_t day, size_t cap)
{
	uint64_t h = (uint64_t)customer * 0x9e3779b97f4a7c15ull ^ (uint64_t)day * 0xc2b2ae3d27d4eb4full;
	h ^= h >> 29;
	return (size_t)(h & (cap - 1));
}

static struct floe_acct_row *find_or_add(struct floe_acct_row *tab, size_t cap, size_t customer, int64_t day)
{
	for (size_t i = slot_of(customer, day, cap);; i = (i + 1) & (cap - 1)) {
		struct floe_acct_row *r = &tab[i];
		if (!r->flows) {
			r->customer = customer;
			r->day = day;
			return r;
		}
		if (r->customer == customer && r->day == day)
			return r;
	}
}

static bool grow(struct floe_acct *a)
{
	size_t ncap = a->cap * 2;
	struct floe_acct_row *t = floe_calloc(a->o.budget, ncap, sizeof(*t));
	if (!t)
		return false;
	for (size_t i = 0; i < a->cap; i++)
		if (a->tab[i].flows)
			*find_or_add(t, ncap, a->tab[i].customer, a->tab[i].day) = a->tab[i];
	floe_free(a->o.budget, a->tab, a->cap * sizeof(*a->tab));
	a->tab = t;
	a->cap = ncap;
	return true;
}

struct spread_ctx {
	struct floe_acct *a;
	size_t customer;
	bool nomem;
};

static void add_day(void *ud, int64_t day, uint64_t out, uint64_t in)
{
	struct spread_ctx *c = ud;
	struct floe_acct *a = c->a;
	if (a->n + 1 > a->cap / 2 && !grow(a)) {
		c->nomem = true;
		return;
	}
	struct floe_acct_row *r = find_or_add(a->tab, a->cap, c->customer, day);
	if (!r->flows)
		a->n++;
	r->out += out;
	r->in += in;
	r->flows++;
}

enum floe_err floe_acct_add(struct floe_acct *a, const struct floe_flow *f)
{
	if (a->failed)
		return FLOE_NOMEM;
	long cs = floe_prefixes_find(a->o.customers, f->saddr);
	long cd = floe_prefixes_find(a->o.customers, f->daddr);
	if (cs == cd)
		return FLOE_OK;   /* neither end a customer's, or both the same one's */
	for (int s = 0; s < 2; s++) {
		long c = s ? cd : cs;
		if (c < 0)
			continue;
		struct spread_ctx ctx = {.a = a, .customer = (size_t)c};
		const struct floe_timerange *r = &a->o.range;
		bool all = r->start >= r->end;
		int64_t lo = all || r->start == INT64_MIN ? INT64_MIN : floe_rep_floordiv(r->start, DAY_NS);
		int64_t hi = all || r->end == INT64_MAX ? INT64_MAX : floe_rep_floordiv(r->end - 1, DAY_NS);
		floe_rep_spread(f->stime, f->ltime, 0, DAY_NS, lo, hi, s ? f->dbytes : f->sbytes,
		                s ? f->sbytes : f->dbytes, add_day, &ctx);
		if (ctx.nomem) {
			a->failed = true;
			return FLOE_NOMEM;
		}
	}
	return FLOE_OK;
}

static int row_cmp(const void *x, const void *y)
{
	const struct floe_acct_row *a = x, *b = y;
	if (a->day != b->day)
		return a->day < b->day ? -1 : 1;
	return a->customer < b->customer ? -1 : a->customer > b->customer;
}

const struct floe_acct_row *floe_acct_rows(struct floe_acct *a, size_t *n)
{
	if (!a->sorted && a->n) {
		a->sorted = floe_malloc(a->o.budget, a->n * sizeof(*a->sorted));
		if (!a->sorted) {
			*n = 0;
			return NULL;
		}
		a->nsorted = 0;
		for (size_t i = 0; i < a->cap; i++)
			if (a->tab[i].flows)
				a->sorted[a->nsorted++] = a->tab[i];
		qsort(a->sorted, a->nsorted, sizeof(*a->sorted), row_cmp);
	}
	*n = a->nsorted;
	return a->sorted;
}

/* ---- output ---- */

static void day_text(int64_t day, char *buf, size_t len)
{
	char t[64];
	floe_time_format(day * DAY_NS, FLOE_TIME_ISO, 0, t, sizeof(t));
	snprintf(buf, len, "%.10s", t);
}

enum floe_err floe_acct_write(FILE *fp, enum floe_report_fmt fmt, const struct floe_acct_row *rows, size_t n,
                              const struct floe_prefixes *customers)
{
	char d[32], t1[32], t2[32], t3[32];
	if (fmt == FLOE_REPORT_CSV) {
		fputs("day,customer,out,in,total,flows\n", fp);
		for (size_t i = 0; i < n; i++) {
			day_text(rows[i].day, d, sizeof(d));
			fprintf(fp, "%s,", d);
			floe_output_csv_cell(fp, floe_prefixes_label(customers, rows[i].customer));
			fprintf(fp, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n", rows[i].out, rows[i].in,
			        rows[i].out + rows[i].in, rows[i].flows);
		}
	} else if (fmt == FLOE_REPORT_JSON) {
		fputs("{\"report\": \"accounting\", \"rows\": [", fp);
		for (size_t i = 0; i < n; i++) {
			day_text(rows[i].day, d, sizeof(d));
			fprintf(fp, "%s\n  {\"day\": \"%s\", \"customer\": ", i ? "," : "", d);
			floe_rep_json_str(fp, floe_prefixes_label(customers, rows[i].customer));
			fprintf(fp, ", \"out\": %" PRIu64 ", \"in\": %" PRIu64 ", \"total\": %" PRIu64 ", \"flows\": %"
			        PRIu64 "}", rows[i].out, rows[i].in, rows[i].out + rows[i].in, rows[i].flows);
		}
		fprintf(fp, "%s]}\n", n ? "\n " : "");
	} else if (fmt == FLOE_REPORT_TEXT) {
		int wc = 8, wn = 5;
		for (size_t i = 0; i < n; i++) {
			int l = (int)strlen(floe_prefixes_label(customers, rows[i].customer));
			wc = l > wc ? l : wc;
			l = (int)strlen(floe_report_thousands(t1, sizeof(t1), rows[i].out + rows[i].in));
			wn = l > wn ? l : wn;
		}
		fprintf(fp, "%-10s  %-*s  %*s  %*s  %*s  %9s\n", "Day (UTC)", wc, "Customer", wn, "Out", wn, "In", wn,
		        "Total", "Flows");
		for (size_t i = 0; i < n; i++) {
			char h[32];
			day_text(rows[i].day, d, sizeof(d));
			fprintf(fp, "%-10s  %-*s  %*s  %*s  %*s  %9" PRIu64 "  %s\n", d, wc,
			        floe_prefixes_label(customers, rows[i].customer), wn,
			        floe_report_thousands(t1, sizeof(t1), rows[i].out), wn,
			        floe_report_thousands(t2, sizeof(t2), rows[i].in), wn,
			        floe_report_thousands(t3, sizeof(t3), rows[i].out + rows[i].in), rows[i].flows,
			        floe_report_human(h, sizeof(h), rows[i].out + rows[i].in));
		}
	} else {
		return FLOE_INVALID;
	}
	return ferror(fp) ? FLOE_IO : FLOE_OK;
}
