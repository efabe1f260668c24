/*
 * golden.c - decodes every sFlow datagram of the shared captures
 * ($FLOE_SHARED_DATA/netflow/ *sflow*.pcap) with floe_sflow_decode and
 * compares each emitted record, and the per-file sample counts, with
 * tests/data/sflow/golden.txt.
 *
 * golden.txt is written by tests/data/sflow/tshark-golden.py from tshark's
 * dissection of the same packets (tshark -T json -d udp.port==6343,sflow),
 * not from floe, so a regression in floe cannot bless itself.  The line
 * format is described there.  Skips when the captures are absent.
 *
 * Usage: test_sflow_golden [--print]   (--print writes floe's lines).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect/sflow.h"
#include "util/cursor.h"
#include "tap.h"
#include "testutil.h"

struct out {
	const char *file;
	char lines[64][1024];
	int n;
};

static void fmt_addr(char *b, size_t n, const uint8_t a[16])
{
	static const uint8_t zero[16];
	if (memcmp(a, zero, 16) == 0 || (floe_addr_is_v4(a) && !a[12] && !a[13] && !a[14] && !a[15]))
		snprintf(b, n, "-");
	else if (floe_addr_is_v4(a))
		inet_ntop(AF_INET, a + 12, b, (socklen_t)n);
	else
		inet_ntop(AF_INET6, a, b, (socklen_t)n);
}

static void fmt_mac(char *b, size_t n, const uint8_t m[6], int valid)
{
	if (!valid)
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static enum floe_err emit(void *ctx, const struct floe_flow *f)
{
	struct out *o = ctx;
	if (o->n == 64)
		return FLOE_LIMIT;
	char ex[64], sa[64], da[64], nh[64], sm[24], dm[24];
	fmt_addr(ex, sizeof(ex), f->exporter);
	fmt_addr(sa, sizeof(sa), f->saddr);
	fmt_addr(da, sizeof(da), f->daddr);
	fmt_addr(nh, sizeof(nh), f->nexthop);
	fmt_mac(sm, sizeof(sm), f->smac, f->flags & FLOE_F_MAC);
	fmt_mac(dm, sizeof(dm), f->dmac, f->flags & FLOE_F_MAC);
	snprintf(o->lines[o->n++], sizeof(o->lines[0]),
	         "%s|%s|%u|%u|%u|%u|%llu|%llu|%u|%u|%s|%u|%s|%u|%u|%u|%u|%s|%s|%u|%s|%u|%u",
	         o->file, ex, f->sensor, f->inif, f->outif, f->sampling,
	         (unsigned long long)f->spkts, (unsigned long long)f->sbytes, f->ipver,
	         f->proto, sa, f->sport, da, f->dport, f->stcpflags, f->stos, f->sttlmin,
	         sm, dm, (f->flags & FLOE_F_VLAN) ? f->vlan : 0, nh, f->sas, f->das);
	return FLOE_OK;
}

/* The UDP payload of an Ethernet/IPv4/IPv6 frame, walked with the checked
 * cursor; src gets the IP source (v4-mapped).  NULL if not UDP. */
static const uint8_t *udp_payload(const uint8_t *p, size_t n, size_t *plen, uint8_t src[16])
{
	struct floe_cursor c = floe_cursor_make(p, n);
	floe_cur_skip(&c, 12);
	uint16_t et = floe_cur_be16(&c);
	while (et == 0x8100 || et == 0x88a8) {
		floe_cur_skip(&c, 2);
		et = floe_cur_be16(&c);
	}
	if (et == 0x0800) {
		uint8_t vihl = floe_cur_u8(&c);
		floe_cur_skip(&c, 8);
		if (floe_cur_u8(&c) != 17)
			return NULL;
		floe_cur_skip(&c, 2);
		const uint8_t *s = floe_cur_take(&c, 4);
		if (!s)
			return NULL;
		floe_addr_from_v4(src, s);
		floe_cur_skip(&c, 4 + ((size_t)(vihl & 15) * 4 - 20));
	} else if (et == 0x86dd) {
		floe_cur_skip(&c, 6);
		if (floe_cur_u8(&c) != 17)
			return NULL;
		floe_cur_skip(&c, 1);
		floe_cur_copy(&c, src, 16);
		floe_cur_skip(&c, 16);
	} else {
		return NULL;
	}
	floe_cur_skip(&c, 4);
	uint16_t ulen = floe_cur_be16(&c);
	floe_cur_skip(&c, 2);
	if (c.bad || ulen < 8 || ulen - 8u > floe_cur_left(&c))
		return NULL;
	*plen = ulen - 8u;
	return floe_cur_take(&c, *plen);
}

static int run_file(const char *dir, const char *name, struct out *o,
                    struct floe_sflow_stats *st)
{
	char path[4096], errbuf[PCAP_ERRBUF_SIZE];
	snprintf(path, sizeof(path), "%.2000s/%.1000s", dir, name);
	pcap_t *pc = pcap_open_offline(path, errbuf);
	if (!pc) {
		TAP_DIAG("%s", errbuf);
		return -1;
	}
	struct pcap_pkthdr *h;
	const u_char *data;
	o->file = name;
	o->n = 0;
	floe_sflow_stats_init(st);
	while (pcap_next_ex(pc, &h, &data) == 1) {
		size_t plen;
		uint8_t src[16] = {0};
		const uint8_t *pl = udp_payload(data, h->caplen, &plen, src);
		if (!pl)
			continue;
		struct floe_errbuf eb = {0};
		int64_t ts = (int64_t)h->ts.tv_sec * 1000000000 + (int64_t)h->ts.tv_usec * 1000;
		enum floe_err e = floe_sflow_decode(pl, plen, src, ts, emit, o, st, &eb);
		if (e != FLOE_OK)
			TAP_DIAG("%s: %s: %s", name, floe_strerror(e), eb.msg);
	}
	pcap_close(pc);
	snprintf(o->lines[o->n++], sizeof(o->lines[0]), "%s|samples=%llu flow=%llu counter=%llu records=%llu",
	         name, (unsigned long long)st->samples, (unsigned long long)st->flow_samples,
	         (unsigned long long)st->counter_samples, (unsigned long long)st->records);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	int print = argc > 1 && strcmp(argv[1], "--print") == 0;
	const char *shared = getenv("FLOE_SHARED_DATA");
	char dir[4096], gpath[4096];
	snprintf(dir, sizeof(dir), "%s/netflow", shared ? shared : "../shared/data");
	snprintf(gpath, sizeof(gpath), "%s/sflow/golden.txt", test_data_dir());
	DIR *d = opendir(dir);
	if (!d) {
		printf("1..0 # SKIP no %s\n", dir);
		return 0;
	}
	char *names[256];
	int nn = 0;
	struct dirent *de;
	while ((de = readdir(d)) && nn < 256)
		if (strstr(de->d_name, "sflow") && strstr(de->d_name, ".pcap"))
			names[nn++] = strdup(de->d_name);
	closedir(d);
	qsort(names, (size_t)nn, sizeof(names[0]), cmp_str);

	/* Golden lines, in file order. */
	static char golden[1024][512];
	int ng = 0;
	FILE *g = print ? NULL : fopen(gpath, "r");
	if (!print && !g) {
		TAP_CHECK(0, "open %s", gpath);
		return tap_done();
	}
	while (g && ng < 1024 && fgets(golden[ng], 512, g)) {
		golden[ng][strcspn(golden[ng], "\n")] = '\0';
		if (golden[ng][0] && golden[ng][0] != '#')
			ng++;
	}
	if (g)
		fclose(g);

	static struct out o;
	static struct floe_sflow_stats st;
	int gi = 0;
	for (int i = 0; i < nn; i++) {
		if (run_file(dir, names[i], &o, &st) != 0) {
			TAP_CHECK(0, "read %s", names[i]);
			continue;
		}
		for (int j = 0; j < o.n; j++) {
			if (print) {
				printf("%s\n", o.lines[j]);
				continue;
			}
			const char *want = gi < ng ? golden[gi] : "(none)";
			gi++;
			TAP_CHECK(strcmp(o.lines[j], want) == 0, "%s line %d", names[i], j + 1);
			if (strcmp(o.lines[j], want) != 0)
				TAP_DIAG("floe: %s\n# want: %s", o.lines[j], want);
		}
		if (!print)
			TAP_CHECK(st.malformed == 0 && st.truncated == 0, "%s no errors", names[i]);
		free(names[i]);
	}
	if (print)
		return 0;
	TAP_CHECK(gi == ng, "all %d golden lines matched (%d seen)", ng, gi);
	return tap_done();
}
