/*
 * golden.c - decodes every packet of the shared real-world captures and
 * compares per-file counts (IPv4, IPv6, ARP, not decoded; TCP, UDP, ICMP,
 * ICMPv6 at the first network layer) with tests/data/decode/counts.txt.
 *
 * The golden numbers come from tshark (tests/data/decode/tshark-counts.py),
 * not from floe, so a regression in floe cannot bless itself.  Lines that
 * differ from tshark on purpose are explained in counts.txt.
 *
 * Usage: test_decode_golden [--print]   (--print writes floe's counts in
 * counts.txt format instead of testing).  Reads $FLOE_SHARED_DATA/pcaps and
 * $FLOE_TEST_DATA/decode/counts.txt; skips when the captures are absent.
 */
#include <dirent.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"
#include "tap.h"
#include "testutil.h"

enum { C_PKTS, C_V4, C_V6, C_ARP, C_NOTIP, C_TCP, C_UDP, C_ICMP, C_ICMP6, C__N };
static const char *const col_names[C__N] = {
	"pkts", "ipv4", "ipv6", "arp", "notip", "tcp", "udp", "icmp", "icmp6",
};

/* Counts one file; returns -1 if it cannot be read. */
static int count_file(const char *path, long n[C__N], long res[FLOE_DEC__COUNT])
{
	char errbuf[PCAP_ERRBUF_SIZE];
	pcap_t *pc = pcap_open_offline(path, errbuf);
	if (!pc) {
		TAP_DIAG("%s", errbuf);
		return -1;
	}
	int lt = pcap_datalink(pc);
	struct pcap_pkthdr *h;
	const u_char *data;
	int rc;
	memset(n, 0, sizeof(long) * C__N);
	memset(res, 0, sizeof(long) * FLOE_DEC__COUNT);
	while ((rc = pcap_next_ex(pc, &h, &data)) == 1) {
		struct floe_pkt pkt;
		int64_t ts = (int64_t)h->ts.tv_sec * 1000000000 + (int64_t)h->ts.tv_usec * 1000;
		enum floe_dec_result r = floe_decode(&pkt, lt, data, h->caplen, h->len, ts);
		n[C_PKTS]++;
		res[r]++;
		if (r != FLOE_DEC_OK) {
			n[C_NOTIP]++;
			continue;
		}
		if (pkt.flags & FLOE_PKT_ARP) {
			n[C_ARP]++;
			continue;
		}
		n[pkt.ipver == 4 ? C_V4 : C_V6]++;
		/* First-layer transport, as tshark shows it with reassembly
		 * off: later fragments have none. */
		if ((pkt.flags & FLOE_PKT_FRAG) && !(pkt.flags & FLOE_PKT_FRAG_FIRST))
			continue;
		switch (pkt.proto) {
		case 6: n[C_TCP]++; break;
		case 17: n[C_UDP]++; break;
		case 1: n[C_ICMP]++; break;
		case 58: n[C_ICMP6]++; break;
		default: break;
		}
	}
	pcap_close(pc);
	return rc == -1 ? -1 : 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* --print: floe's own counts for every capture, sorted by name. */
static int print_all(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return 1;
	char *names[1024];
	size_t nn = 0;
	struct dirent *e;
	while ((e = readdir(d)) && nn < 1024) {
		size_t l = strlen(e->d_name);
		if (l > 5 && (strcmp(e->d_name + l - 5, ".pcap") == 0 ||
		              (l > 7 && strcmp(e->d_name + l - 7, ".pcapng") == 0)))
			names[nn++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, nn, sizeof(*names), cmp_str);
	printf("# file");
	for (int i = 0; i < C__N; i++)
		printf(" %s", col_names[i]);
	printf("\n");
	for (size_t k = 0; k < nn; k++) {
		char path[8192];
		long n[C__N], res[FLOE_DEC__COUNT];
		snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
		if (count_file(path, n, res) == 0) {
			printf("%s", names[k]);
			for (int i = 0; i < C__N; i++)
				printf(" %ld", n[i]);
			printf("\n");
		}
		free(names[k]);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *shared = getenv("FLOE_SHARED_DATA");
	char dir[4096], golden[4096];
	snprintf(dir, sizeof(dir), "%s/pcaps", shared ? shared : "../shared/data");
	snprintf(golden, sizeof(golden), "%s/decode/counts.txt", test_data_dir());
	if (argc > 1 && strcmp(argv[1], "--print") == 0)
		return print_all(dir);

	DIR *d = opendir(dir);
	if (!d) {
		printf("1..0 # SKIP no captures in %s\n", dir);
		return 0;
	}
	closedir(d);
	FILE *f = fopen(golden, "r");
	TAP_CHECK(f != NULL, "open %s", golden);
	if (!f)
		return tap_done();

	char line[8192];
	int files = 0;
	char *listed[1024];
	size_t nlisted = 0;
	while (fgets(line, sizeof(line), f)) {
		char name[4096];
		long want[C__N], got[C__N], res[FLOE_DEC__COUNT];
		if (line[0] == '#' || line[0] == '\n')
			continue;
		int k = sscanf(line, "%4095s %ld %ld %ld %ld %ld %ld %ld %ld %ld", name,
		               &want[0], &want[1], &want[2], &want[3], &want[4],
		               &want[5], &want[6], &want[7], &want[8]);
		if (k != 1 + C__N) {
			TAP_CHECK(0, "parse counts.txt line: %s", line);
			continue;
		}
		char path[8192];
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (count_file(path, got, res) != 0) {
			TAP_CHECK(0, "read %s", name);
			continue;
		}
		files++;
		if (nlisted < 1024)
			listed[nlisted++] = strdup(name);
		int same = memcmp(want, got, sizeof(want)) == 0;
		TAP_CHECK(same, "%s", name);
		if (!same) {
			for (int i = 0; i < C__N; i++)
				if (want[i] != got[i])
					TAP_DIAG("  %s: want %ld, floe %ld", col_names[i], want[i], got[i]);
			for (int r = 0; r < FLOE_DEC__COUNT; r++)
				if (res[r])
					TAP_DIAG("  result %s: %ld", floe_dec_result_name((enum floe_dec_result)r), res[r]);
		}
	}
	fclose(f);
	TAP_CHECK(files > 0, "counts.txt lists captures (%d)", files);

	/* A capture added to the shared set needs its golden line. */
	d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l <= 5 || strcmp(e->d_name + l - 5, ".pcap") != 0)
			continue;
		int found = 0;
		for (size_t i = 0; i < nlisted && !found; i++)
			found = strcmp(listed[i], e->d_name) == 0;
		if (!found)
			TAP_CHECK(0, "%s has no line in counts.txt", e->d_name);
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < nlisted; i++)
		free(listed[i]);
	return tap_done();
}
