/*
 * progress.c - the progress line of long reads (progress.h).
 */
#include "progress.h"
#include "archive/source.h"
#include "graph/axis.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define FIRST_AFTER 0.5   /* s: quick commands print nothing */
#define EVERY 0.25        /* s between redraws */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_progress_init(struct cli_progress *p, const char *cmd, const struct floe_source *src,
                       bool streaming)
{
	*p = (struct cli_progress){.cmd = cmd, .src = src};
	p->on = src && isatty(STDERR_FILENO) && !(streaming && isatty(STDOUT_FILENO));
	p->start = now();
	p->next = p->start + FIRST_AFTER;
}

void cli_progress_update(struct cli_progress *p, size_t n)
{
	if (!p->on)
		return;
	p->records += n;
	if (n) {
		/* reading threads report a file's counts when it ends: the
		 * files and records the caller has seen are more current */
		const char *path = floe_source_path(p->src);
		if (path != p->path) {
			p->path = path;
			p->files++;
		}
	}
	double t = now();
	if (t < p->next)
		return;
	p->next = t + EVERY;
	struct floe_source_stats st;
	floe_source_stats(p->src, &st);
	size_t nfiles = floe_source_nfiles(p->src);
	double el = t - p->start;
	char recs[32], rate[32], left[32] = "";
	uint64_t files = st.files_considered > p->files ? st.files_considered : p->files;
	floe_axis_format_value((double)p->records, "", recs, sizeof(recs));
	floe_axis_format_value(el > 0 ? (double)p->records / el : 0, "", rate, sizeof(rate));
	/* files before the one being read are done */
	uint64_t done = files ? files - 1 : 0;
	if (done && nfiles > done) {
		unsigned s = (unsigned)(el * (double)(nfiles - done) / (double)done + 0.5);
		if (s >= 3600)
			snprintf(left, sizeof(left), ", %u:%02u:%02u left", s / 3600, s / 60 % 60, s % 60);
		else
			snprintf(left, sizeof(left), ", %u:%02u left", s / 60, s % 60);
	}
	char line[160];
	int len = snprintf(line, sizeof(line), "floe %s: file %" PRIu64 " of %zu, %s records, "
	                   "%s records/s%s", p->cmd, files, nfiles, recs, rate, left);
	if (len < 0)
		return;
	/* pad over a longer previous line; no newline: the next one overwrites */
	fprintf(stderr, "\r%s%*s", line, p->width > len ? p->width - len : 0, "");
	fflush(stderr);
	p->width = len;
	p->shown = true;
}

void cli_progress_release(struct cli_progress *p)
{
	if (p->shown) {
		fprintf(stderr, "\r%*s\r", p->width, "");
		fflush(stderr);
	}
	p->shown = false;
	p->on = false;
}
