/*
 * mkarchive.c - builds a large benchmark archive from one floe file
 * (bench/archive.sh).  Not installed.
 *
 *   mkarchive IN.floe ARCHIVE COPIES DAYS MARKER HOUR HOURS
 *
 * Writes COPIES copies of IN's records into ARCHIVE (instance "bench",
 * hourly files) so that together they cover DAYS days continuously: copy k
 * starts where copy k-1 ends, each copy's start times are stretched to
 * DAYS/COPIES (durations kept), and its addresses are rewritten (IPv4: the
 * second octet XOR k; IPv6: byte 5 XOR k) so the copies are different
 * hosts.  One record in 200 whose new stime falls in [HOUR, HOUR+HOURS)
 * (hours since the archive's start) gets MARKER as its source address, so
 * MARKER is present in only those hours.  Prints the archive's time range
 * and the marker's record count.
 */
#include "archive/archive.h"
#include "codec/codec.h"
#include "util/addr.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS ((int64_t)1000000000)

static void rewrite(uint8_t a[16], unsigned k)
{
	static const uint8_t v4[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (memcmp(a, v4, 12) == 0)
		a[13] ^= (uint8_t)k;
	else
		a[5] ^= (uint8_t)k;
}

static int scan_range(const char *in, int64_t *tmin, int64_t *tmax, uint64_t *nrec)
{
	struct floe_errbuf eb = {0};
	struct floe_reader *r = floe_reader_open(in, NULL, &eb);
	if (!r) {
		fprintf(stderr, "mkarchive: %s\n", eb.msg);
		return 1;
	}
	uint64_t nb;
	if (!floe_reader_footer_range(r, tmin, tmax, &nb, nrec)) {
		fprintf(stderr, "mkarchive: '%s' has no footer\n", in);
		floe_reader_close(r);
		return 1;
	}
	floe_reader_close(r);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr, "usage: mkarchive IN.floe ARCHIVE COPIES DAYS MARKER HOUR HOURS\n");
		return 2;
	}
	const char *in = argv[1];
	unsigned copies = (unsigned)atoi(argv[3]);
	int64_t days = atoll(argv[4]);
	uint8_t marker[16];
	if (copies == 0 || copies > 255 || days <= 0 || !floe_addr_parse(argv[5], marker)) {
		fprintf(stderr, "mkarchive: bad arguments\n");
		return 2;
	}
	int64_t mh = atoll(argv[6]), mhours = atoll(argv[7]);
	int64_t tmin, tmax;
	uint64_t nrec;
	if (scan_range(in, &tmin, &tmax, &nrec))
		return 1;
	int64_t span = tmax - tmin + 1;
	int64_t slot = days * 86400 * NS / copies;
	double stretch = (double)slot / (double)span;
	int64_t base = tmin;    /* the archive starts where IN does */
	int64_t m0 = base + mh * 3600 * NS, m1 = m0 + mhours * 3600 * NS;

	struct floe_errbuf eb = {0};
	struct floe_archive_opts ao = {.dir = argv[2], .instance = "bench",
	                               .rotate = 3600 * NS};
	struct floe_archive *a = floe_archive_create(&ao, &eb);
	if (!a) {
		fprintf(stderr, "mkarchive: %s\n", eb.msg);
		return 1;
	}
	uint64_t total = 0, marked = 0, inwin = 0;
	for (unsigned k = 0; k < copies; k++) {
		struct floe_reader *r = floe_reader_open(in, NULL, &eb);
		if (!r) {
			fprintf(stderr, "mkarchive: %s\n", eb.msg);
			floe_archive_abandon(a);
			return 1;
		}
		const struct floe_flow *recs;
		size_t n;
		enum floe_err e;
		while ((e = floe_reader_next(r, &recs, &n)) == FLOE_OK) {
			for (size_t i = 0; i < n; i++) {
				struct floe_flow f = recs[i];
				int64_t d = f.ltime - f.stime;
				f.stime = base + (int64_t)k * slot + (int64_t)((double)(f.stime - tmin) * stretch);
				f.ltime = f.stime + d;
				rewrite(f.saddr, k);
				rewrite(f.daddr, k);
				if (f.stime >= m0 && f.stime < m1 && f.ipver == 4 && inwin++ % 200 == 0) {
					memcpy(f.saddr, marker, 16);
					marked++;
				}
				if (floe_archive_add(a, &f) != FLOE_OK) {
					fprintf(stderr, "mkarchive: %s\n", floe_archive_error(a));
					floe_reader_close(r);
					floe_archive_abandon(a);
					return 1;
				}
				total++;
			}
		}
		floe_reader_close(r);
		if (e != FLOE_EOF) {
			fprintf(stderr, "mkarchive: cannot read '%s'\n", in);
			floe_archive_abandon(a);
			return 1;
		}
	}
	struct floe_archive_stats st;
	floe_archive_stats(a, &st);
	if (floe_archive_close(a, &eb) != FLOE_OK) {
		fprintf(stderr, "mkarchive: %s\n", eb.msg);
		return 1;
	}
	printf("records %" PRIu64 " files %" PRIu64 " start %" PRId64 " end %" PRId64
	       " marker %s records %" PRIu64 " window %" PRId64 "..%" PRId64 "\n",
	       total, st.files + 1, base / NS, (base + (int64_t)copies * slot) / NS, argv[5], marked,
	       m0 / NS, m1 / NS);
	return 0;
}
