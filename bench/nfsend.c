/*
 * nfsend.c - a fast NetFlow v5 / v9 / IPFIX sender for bench/collect.sh.
 *
 *   nfsend -p PORT [-H 127.0.0.1] [-v 5|9|10] [-n RECORDS] [-r RECORDS_PER_S]
 *   nfsend -w FILE.pcap [-v 5|9|10] [-n RECORDS]
 *
 * Sends RECORDS flow records (default 1M) in full datagrams (v5: 30
 * records; v9 and IPFIX: 48 records of a 29-byte template, resent every
 * 1000 datagrams), with correct sequence numbers so the collector can count
 * loss, as fast as sendmmsg goes or paced to -r records per second.
 * Prints "sent N records in S s (R records/s)" on stderr.  With -w the
 * same datagrams go to a pcap file instead (Ethernet, IPv4, UDP to port
 * 2055), for `floe collect -r` to meter the collector's CPU per record
 * without a sender on the other core.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32
#define DGRAM 1500

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	p = put16(p, (uint16_t)(v >> 16));
	return put16(p, (uint16_t)v);
}

/* Appends one datagram to the pcap file as an Ethernet/IPv4/UDP frame. */
static void pcap_put(FILE *fp, const uint8_t *dg, size_t len, uint64_t i)
{
	uint8_t h[16 + 14 + 20 + 8] = {0};
	uint32_t caplen = (uint32_t)(len + 42);
	uint32_t ts = (uint32_t)time(NULL) + (uint32_t)(i / 10000);
	memcpy(h, &ts, 4);
	uint32_t us = (uint32_t)(i % 10000) * 100;
	memcpy(h + 4, &us, 4);
	memcpy(h + 8, &caplen, 4);
	memcpy(h + 12, &caplen, 4);
	uint8_t *e = h + 16;
	e[12] = 0x08;                      /* IPv4 */
	uint8_t *ip = e + 14;
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(len + 28));
	ip[8] = 64;
	ip[9] = 17;
	put32(ip + 12, 0x7f000001u);
	put32(ip + 16, 0x7f000001u);
	uint8_t *udp = ip + 20;
	put16(udp, 40000);
	put16(udp + 2, 2055);
	put16(udp + 4, (uint16_t)(len + 8));
	fwrite(h, 1, sizeof(h), fp);
	fwrite(dg, 1, len, fp);
}

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

/* The template: src, dst, sport, dport, proto, pkts, bytes, first, last. */
static const uint16_t tmpl[][2] = {{8, 4}, {12, 4}, {7, 2}, {11, 2}, {4, 1}, {2, 4}, {1, 4},
                                   {22, 4}, {21, 4}};
#define NT (sizeof(tmpl) / sizeof(tmpl[0]))
#define RECLEN 29
#define PER_SET 48

static uint8_t *rec(uint8_t *p, uint32_t uptime)
{
	p = put32(p, 0x0a000000u | (rnd() & 0xffffff));
	p = put32(p, 0xc0a80000u | (rnd() & 0xffff));
	p = put16(p, (uint16_t)(1024 + rnd() % 60000));
	p = put16(p, (uint16_t)(rnd() % 1024));
	*p++ = 6;
	uint32_t pk = 1 + rnd() % 100;
	p = put32(p, pk);
	p = put32(p, pk * (40 + rnd() % 1400));
	p = put32(p, uptime - 1000 - rnd() % 5000);
	return put32(p, uptime - rnd() % 1000);
}

/* Builds datagram number i; returns its length and the records in it. */
static size_t build(uint8_t *b, int version, uint64_t i, uint64_t *seq, uint32_t *nrec,
                    uint32_t left)
{
	uint32_t t = (uint32_t)time(NULL);
	uint32_t uptime = 100000000u + (uint32_t)(i / 10);
	uint8_t *p = b;
	if (version == 5) {
		uint32_t n = left < 30 ? left : 30;
		p = put16(p, 5);
		p = put16(p, (uint16_t)n);
		p = put32(p, uptime);
		p = put32(p, t);
		p = put32(p, 0);
		p = put32(p, (uint32_t)*seq);
		p = put32(p, 0);
		for (uint32_t k = 0; k < n; k++) {
			uint8_t *r = p;
			memset(r, 0, 48);
			put32(r, 0x0a000000u | (rnd() & 0xffffff));
			put32(r + 4, 0xc0a80000u | (rnd() & 0xffff));
			uint32_t pk = 1 + rnd() % 100;
			put32(r + 16, pk);
			put32(r + 20, pk * (40 + rnd() % 1400));
			put32(r + 24, uptime - 1000 - rnd() % 5000);
			put32(r + 28, uptime - rnd() % 1000);
			put16(r + 32, (uint16_t)(1024 + rnd() % 60000));
			put16(r + 34, (uint16_t)(rnd() % 1024));
			r[38] = 6;
			p += 48;
		}
		*seq += n;
		*nrec = n;
		return (size_t)(p - b);
	}
	uint32_t n = left < PER_SET ? left : PER_SET;
	bool with_tmpl = i % 1000 == 0;
	uint8_t *hdr = p;
	if (version == 9) {
		p = put16(p, 9);
		p = put16(p, (uint16_t)(n + with_tmpl));
		p = put32(p, uptime);
		p = put32(p, t);
		p = put32(p, (uint32_t)i);
		p = put32(p, 1);
	} else {
		p = put16(p, 10);
		p = put16(p, 0);   /* length, below */
		p = put32(p, t);
		p = put32(p, (uint32_t)*seq);
		p = put32(p, 1);
	}
	if (with_tmpl) {
		p = put16(p, version == 9 ? 0 : 2);
		p = put16(p, (uint16_t)(8 + 4 * NT));
		p = put16(p, 256);
		p = put16(p, NT);
		for (size_t k = 0; k < NT; k++) {
			p = put16(p, tmpl[k][0]);
			p = put16(p, tmpl[k][1]);
		}
	}
	uint8_t *set = p;
	p = put16(p, 256);
	p = put16(p, 0);
	if (version == 10) {
		/* IPFIX has no sysUpTime in the header: absolute milliseconds */
		for (uint32_t k = 0; k < n; k++)
			p = rec(p, uptime);
	} else {
		for (uint32_t k = 0; k < n; k++)
			p = rec(p, uptime);
	}
	while ((p - set) % 4)
		*p++ = 0;
	put16(set + 2, (uint16_t)(p - set));
	if (version == 10)
		put16(hdr + 2, (uint16_t)(p - b));
	*seq += n;
	*nrec = n;
	return (size_t)(p - b);
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	int port = 0, version = 9;
	uint64_t total = 1000000, rate = 0;
	const char *wfile = NULL;
	int c;
	while ((c = getopt(argc, argv, "H:p:v:n:r:w:")) != -1) {
		switch (c) {
		case 'H': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'v': version = atoi(optarg); break;
		case 'n': total = strtoull(optarg, NULL, 10); break;
		case 'r': rate = strtoull(optarg, NULL, 10); break;
		case 'w': wfile = optarg; break;
		default:
			fprintf(stderr, "usage: nfsend -p PORT [-H HOST] [-v 5|9|10] [-n RECORDS] [-r RATE]\n");
			return 2;
		}
	}
	if ((port <= 0 && !wfile) || (version != 5 && version != 9 && version != 10)) {
		fprintf(stderr, "nfsend: give -p PORT or -w FILE, and -v 5, 9 or 10\n");
		return 2;
	}
	if (wfile) {
		FILE *fp = fopen(wfile, "wb");
		if (!fp) {
			perror(wfile);
			return 1;
		}
		/* classic pcap header, microseconds, Ethernet */
		const uint32_t fh[6] = {0xa1b2c3d4u, 0x00040002u, 0, 0, 65535, 1};
		fwrite(fh, 1, sizeof(fh), fp);
		static uint8_t b[DGRAM];
		uint64_t sent = 0, seq = 0, dg = 0;
		while (sent < total) {
			uint32_t n;
			size_t len = build(b, version, dg, &seq, &n,
			                   (uint32_t)(total - sent > 1000 ? 1000 : total - sent));
			pcap_put(fp, b, len, dg++);
			sent += n;
		}
		if (fclose(fp) != 0) {
			perror(wfile);
			return 1;
		}
		fprintf(stderr, "wrote %llu records in %llu datagrams to %s\n",
		        (unsigned long long)sent, (unsigned long long)dg, wfile);
		return 0;
	}
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (fd < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("nfsend");
		return 1;
	}
	int sndbuf = 8 << 20;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	static uint8_t bufs[BATCH][DGRAM];
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	uint64_t sent = 0, seq = 0, dg = 0;
	double t0 = now();
	while (sent < total) {
		int nb = 0;
		uint64_t batch_recs = 0;
		for (; nb < BATCH && sent + batch_recs < total; nb++) {
			uint32_t n;
			size_t len = build(bufs[nb], version, dg++, &seq, &n,
			                   (uint32_t)(total - sent - batch_recs > 1000 ? 1000 : total - sent - batch_recs));
			iov[nb] = (struct iovec){bufs[nb], len};
			m[nb].msg_hdr = (struct msghdr){.msg_iov = &iov[nb], .msg_iovlen = 1};
			batch_recs += n;
		}
		int done = 0;
		while (done < nb) {
			int r = sendmmsg(fd, m + done, (unsigned)(nb - done), 0);
			if (r < 0) {
				perror("nfsend: sendmmsg");
				return 1;
			}
			done += r;
		}
		sent += batch_recs;
		if (rate) {
			/* sleep while well ahead, spin the last 100 us: the core
			 * stays free for the collector under test */
			double due = t0 + (double)sent / (double)rate, ahead;
			while ((ahead = due - now()) > 200e-6) {
				double s = ahead - 100e-6;
				struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
				nanosleep(&ts, NULL);
			}
			while (now() < due)
				;
		}
	}
	double dt = now() - t0;
	fprintf(stderr, "sent %llu records in %llu datagrams in %.3f s (%.0f records/s)\n",
	        (unsigned long long)sent, (unsigned long long)dg, dt, (double)sent / dt);
	return 0;
}
