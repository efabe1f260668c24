/*
 * test_stream.c - the stream protocol's frames and hellos against golden
 * bytes (docs/stream.md), a table of malformed hellos, and a server and
 * clients on loopback: every record arrives once, in order, with
 * contiguous seq; a filter is applied at the server; END ends the client;
 * a bad token is refused and counted.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/stream.h"
#include "tap.h"

static const uint8_t golden_hello[] = {
	'F', 'L', 'S', 'H', 1, 0, 0, 0,           /* magic, major 1, minor 0 */
	1, 1, 1, 0,                               /* subscriber, backlog, 1 resume entry */
	0, 0, 0, 0, 0, 0, 0, 0,                   /* session */
	2, 0, 2, 0, 3, 0, 0, 0,                   /* instance 2, token 2, filter 3 */
	's', '1', 't', 'k', 't', 'c', 'p',
	7, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0,
};

static void test_golden(void)
{
	struct floe_stream_resume rs = {7, 42};
	struct floe_stream_hello h = {.major = 1,
	                              .minor = 0,
	                              .role = FLOE_STREAM_SUBSCRIBER,
	                              .flags = FLOE_STREAM_F_BACKLOG,
	                              .token = "tk",
	                              .token_len = 2,
	                              .filter = "tcp",
	                              .filter_len = 3,
	                              .resume = &rs,
	                              .nresume = 1};
	strcpy(h.instance, "s1");
	uint8_t buf[256];
	size_t n = floe_stream_hello_encode(&h, buf, sizeof(buf));
	TAP_CHECK(n == sizeof(golden_hello) && memcmp(buf, golden_hello, n) == 0,
	          "hello encodes to the golden bytes (%zu)", n);
	TAP_CHECK(floe_stream_hello_encode(&h, buf, n - 1) == 0, "hello: no room, no bytes");
	struct floe_stream_hello d;
	struct floe_errbuf eb = {0};
	enum floe_err e = floe_stream_hello_decode(golden_hello, sizeof(golden_hello), &d, &eb);
	struct floe_stream_resume r = e == FLOE_OK && d.nresume == 1
	                                      ? floe_stream_hello_resume(&d, 0)
	                                      : (struct floe_stream_resume){0};
	TAP_CHECK(e == FLOE_OK && d.role == 1 && d.flags == 1 && strcmp(d.instance, "s1") == 0 &&
	          d.token_len == 2 && memcmp(d.token, "tk", 2) == 0 && d.filter_len == 3 &&
	          memcmp(d.filter, "tcp", 3) == 0 && r.sensor == 7 && r.seq == 42,
	          "golden hello decodes: %s", eb.msg);

	uint8_t fh[8];
	static const uint8_t golden_fh[8] = {2, 0, 0, 0, 0x34, 0x12, 0, 0};
	floe_stream_frame_header(fh, FLOE_SF_BLOCK, 0x1234);
	TAP_CHECK(memcmp(fh, golden_fh, 8) == 0, "frame header golden bytes");
	uint8_t t;
	uint32_t pl;
	TAP_CHECK(floe_stream_frame_parse(fh, 8, &t, &pl, &eb) == FLOE_OK && t == 2 && pl == 0x1234,
	          "frame header parses");

	struct floe_stream_status st = {.time = 5, .records = 6, .filtered = 7, .dropped = 8,
	                                .subscribers = 9}, st2;
	uint8_t sb[FLOE_STREAM_STATUS_LEN];
	floe_stream_status_encode(&st, sb);
	static const uint8_t golden_st[40] = {5, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0,
	                                      7, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0,
	                                      9, 0, 0, 0, 0, 0, 0, 0};
	TAP_CHECK(memcmp(sb, golden_st, 40) == 0, "status golden bytes");
	TAP_CHECK(floe_stream_status_decode(sb, 40, &st2, &eb) == FLOE_OK && st2.records == 6 &&
	          st2.dropped == 8 && st2.subscribers == 9, "status decodes");
	TAP_CHECK(floe_stream_status_decode(sb, 39, &st2, &eb) == FLOE_MALFORMED, "short status");
	/* minor 1: the sensor's kernel drops follow */
	st.kernel_dropped = 10;
	st.iface_dropped = 11;
	uint8_t sb1[FLOE_STREAM_STATUS_LEN1];
	floe_stream_status_encode1(&st, sb1);
	static const uint8_t golden_tail[16] = {10, 0, 0, 0, 0, 0, 0, 0, 11, 0, 0, 0, 0, 0, 0, 0};
	TAP_CHECK(memcmp(sb1, golden_st, 40) == 0 && memcmp(sb1 + 40, golden_tail, 16) == 0,
	          "status of minor 1: golden bytes");
	TAP_CHECK(floe_stream_status_decode(sb1, 56, &st2, &eb) == FLOE_OK &&
	          st2.kernel_dropped == 10 && st2.iface_dropped == 11 && st2.dropped == 8,
	          "status of minor 1 decodes");
	TAP_CHECK(floe_stream_status_decode(sb, 40, &st2, &eb) == FLOE_OK &&
	          st2.kernel_dropped == 0 && st2.iface_dropped == 0,
	          "status of minor 0: no kernel drops");
	TAP_CHECK(floe_stream_status_decode(sb1, 48, &st2, &eb) == FLOE_MALFORMED,
	          "status of 48 bytes is malformed");
}

/* Malformed hellos and frame headers: {name, patch offset, byte, length, expected}. */
static const struct bad_case {
	const char *name;
	int off;          /* byte to change, -1: none */
	uint8_t val;
	size_t len;       /* bytes given (0 = all) */
	enum floe_err want;
} bad_hellos[] = {
	{"empty", -1, 0, 1, FLOE_TRUNCATED},
	{"bad magic", 0, 'X', 0, FLOE_MALFORMED},
	{"cut in the fixed part", -1, 0, 20, FLOE_TRUNCATED},
	{"major 2", 4, 2, 0, FLOE_UNSUPPORTED},
	{"role 0", 8, 0, 0, FLOE_MALFORMED},
	{"role 3", 8, 3, 0, FLOE_MALFORMED},
	{"instance longer than 63", 21, 1, 0, FLOE_MALFORMED},
	{"token longer than the payload", 22, 200, 0, FLOE_TRUNCATED},
	{"token past its bound", 23, 2, 0, FLOE_MALFORMED},
	{"filter past its bound", 26, 2, 0, FLOE_MALFORMED},
	{"resume past its bound", 11, 8, 0, FLOE_MALFORMED},
	{"cut in the resume entries", -1, 0, sizeof(golden_hello) - 1, FLOE_TRUNCATED},
	{"control character in instance", 28, 1, 0, FLOE_MALFORMED},
	{"NUL in filter", 32, 0, 0, FLOE_MALFORMED},
	{"one resume entry too many", 10, 2, 0, FLOE_TRUNCATED},
	{"no resume entry: bytes left", 10, 0, 0, FLOE_MALFORMED},
};

static void test_bad(void)
{
	for (size_t i = 0; i < sizeof(bad_hellos) / sizeof(bad_hellos[0]); i++) {
		const struct bad_case *bc = &bad_hellos[i];
		uint8_t b[sizeof(golden_hello)];
		memcpy(b, golden_hello, sizeof(b));
		if (bc->off >= 0)
			b[bc->off] = bc->val;
		struct floe_stream_hello h;
		struct floe_errbuf eb = {0};
		enum floe_err e =
		        floe_stream_hello_decode(b, bc->len ? bc->len : sizeof(b), &h, &eb);
		TAP_CHECK(e == bc->want, "bad hello: %s -> %s (%s)", bc->name, floe_strerror(e),
		          eb.msg);
	}
	static const struct {
		const char *name;
		uint8_t b[8];
		size_t len;
		enum floe_err want;
	} frames[] = {
		{"type 0", {0, 0, 0, 0, 0, 0, 0, 0}, 8, FLOE_MALFORMED},
		{"type 8", {8, 0, 0, 0, 0, 0, 0, 0}, 8, FLOE_MALFORMED},
		{"flags", {2, 1, 0, 0, 0, 0, 0, 0}, 8, FLOE_MALFORMED},
		{"reserved", {2, 0, 0, 1, 0, 0, 0, 0}, 8, FLOE_MALFORMED},
		{"past the bound", {2, 0, 0, 0, 1, 0, 0, 4}, 8, FLOE_MALFORMED},
		{"at the bound", {2, 0, 0, 0, 0, 0, 0, 4}, 8, FLOE_OK},
		{"cut short", {2, 0, 0, 0, 0, 0, 0, 0}, 7, FLOE_TRUNCATED},
	};
	for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		uint8_t t;
		uint32_t pl;
		struct floe_errbuf eb = {0};
		enum floe_err e = floe_stream_frame_parse(frames[i].b, frames[i].len, &t, &pl, &eb);
		TAP_CHECK(e == frames[i].want, "frame header: %s -> %s", frames[i].name,
		          floe_strerror(e));
	}
	static const struct {
		const char *text;
		bool ok;
		const char *host;
		uint16_t port;
	} addrs[] = {
		{"9000", true, "127.0.0.1", 9000},
		{"10.1.2.3:80", true, "10.1.2.3", 80},
		{"[::1]:9000", true, "::1", 9000},
		{"::1:9000", false, NULL, 0},
		{"host:", false, NULL, 0},
		{"host:65536", false, NULL, 0},
		{"host:-1", false, NULL, 0},
		{"[::1]9000", false, NULL, 0},
		{":9000", false, NULL, 0},
	};
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		char host[64];
		uint16_t port = 0;
		struct floe_errbuf eb = {0};
		bool ok = floe_stream_parse_addr(addrs[i].text, "127.0.0.1", host, sizeof(host),
		                                 &port, &eb) == FLOE_OK;
		TAP_CHECK(ok == addrs[i].ok && (!ok || (strcmp(host, addrs[i].host) == 0 &&
		                                        port == addrs[i].port)),
		          "address '%s' %s", addrs[i].text, ok ? "parses" : eb.msg);
	}
}

static void fill(struct floe_flow *f, uint64_t i)
{
	memset(f, 0, sizeof(*f));
	f->stime = 1700000000000000000LL + (int64_t)i * 1000;
	f->ltime = f->stime + 500;
	f->saddr[10] = f->saddr[11] = 0xff;
	f->saddr[15] = (uint8_t)i;
	f->daddr[10] = f->daddr[11] = 0xff;
	f->daddr[12] = 10;
	f->ipver = 4;
	f->proto = 17;
	f->dport = i % 4 == 0 ? 53 : 123;
	f->spkts = i;
	f->trans = 1;
	f->sensor = 3;
	f->seq = i + 1;
}

struct reader {
	struct floe_stream_client *c;
	uint64_t step;      /* seq step between records it gets */
	uint64_t from;      /* the seq before the first it must get (0: seq 1 first) */
	uint64_t got, bad;
	enum floe_err end;
};

/* Reads until EOF, counting records and seq out of order. */
static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	uint64_t last = rd->from;
	int idle = 0;
	for (;;) {
		const struct floe_flow *r;
		size_t n;
		enum floe_err e = floe_stream_client_next(rd->c, &r, &n, 1000000000LL);
		if (e == FLOE_AGAIN && ++idle < 30)
			continue;
		if (e != FLOE_OK) {
			rd->end = e;
			return NULL;
		}
		idle = 0;
		for (size_t i = 0; i < n; i++) {
			if (r[i].seq != (last ? last + rd->step : 1))
				rd->bad++;
			last = r[i].seq;
			rd->got++;
		}
	}
}

static void test_loopback(void)
{
	struct floe_errbuf eb = {0};
	struct floe_stream_server_opts so = {.listen = "127.0.0.1:0", .instance = "t",
	                                     .token = "secret", .block_records = 1000,
	                                     .queue_blocks = 64};
	struct floe_stream_server *s = floe_stream_server_create(&so, &eb);
	TAP_CHECK(s != NULL, "server on loopback: %s", eb.msg);
	if (!s)
		return;
	char addr[32];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", floe_stream_server_port(s));
	const char *srcs[] = {addr};
	const uint64_t N = 20000;
	for (uint64_t i = 0; i < N; i++) {
		struct floe_flow f;
		fill(&f, i);
		if (floe_stream_server_add(s, &f) != FLOE_OK)
			break;
	}
	floe_stream_server_flush(s);
	/* a bad token is refused: the client says why */
	struct floe_stream_client_opts bad = {.sources = srcs, .nsources = 1, .token = "wrong"};
	struct floe_stream_client *cb = floe_stream_client_create(&bad, &eb);
	const struct floe_flow *r;
	size_t n;
	enum floe_err e = FLOE_AGAIN;
	while (cb && e == FLOE_AGAIN)
		e = floe_stream_client_next(cb, &r, &n, 1000000000LL);
	TAP_CHECK(e == FLOE_INVALID && strstr(floe_stream_client_error(cb), "bad token"),
	          "bad token refused: %s", cb ? floe_stream_client_error(cb) : eb.msg);
	floe_stream_client_destroy(cb);

	struct floe_stream_client_opts co = {.sources = srcs, .nsources = 1, .token = "secret",
	                                     .backlog = true, .instance = "all"};
	struct floe_stream_client_opts cf = co;
	cf.filter = "dst port 53";
	struct floe_stream_client *c1 = floe_stream_client_create(&co, &eb);
	struct floe_stream_client *c2 = floe_stream_client_create(&cf, &eb);
	TAP_CHECK(c1 && c2, "clients: %s", eb.msg);
	if (!c1 || !c2) {
		floe_stream_server_destroy(s, 0, NULL);
		return;
	}
	/* both read in threads while the server gets more and ends */
	struct reader rd[2] = {{.c = c1, .step = 1}, {.c = c2, .step = 4}};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, reader_main, &rd[i]);
	TAP_CHECK(floe_stream_server_wait(s, 2, 10000000000LL, NULL), "two subscribers");
	for (uint64_t i = N; i < 2 * N; i++) {
		struct floe_flow f;
		fill(&f, i);
		if (floe_stream_server_add(s, &f) != FLOE_OK)
			break;
	}
	floe_stream_server_destroy(s, 20000000000LL, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	struct floe_stream_client_stats st1, st2;
	floe_stream_client_stats(c1, &st1);
	floe_stream_client_stats(c2, &st2);
	TAP_CHECK(rd[0].got == 2 * N && rd[0].bad == 0 && st1.lost == 0,
	          "every record once, in order: %llu of %llu, %llu out of order, %llu lost",
	          (unsigned long long)rd[0].got, (unsigned long long)(2 * N),
	          (unsigned long long)rd[0].bad, (unsigned long long)st1.lost);
	TAP_CHECK(rd[1].got == 2 * N / 4 && rd[1].bad == 0 && st2.lost == 0,
	          "filter at the server: %llu of %llu, %llu counted lost",
	          (unsigned long long)rd[1].got, (unsigned long long)(2 * N / 4),
	          (unsigned long long)st2.lost);
	TAP_CHECK(rd[0].end == FLOE_EOF && rd[1].end == FLOE_EOF, "END ends the clients");
	floe_stream_client_destroy(c1);
	floe_stream_client_destroy(c2);
}

/* A subscriber that restarts with resume points gets what follows them. */
static void test_resume(void)
{
	struct floe_errbuf eb = {0};
	struct floe_stream_server_opts so = {.listen = "127.0.0.1:0", .block_records = 500,
	                                     .queue_blocks = 64, .pace = true};
	struct floe_stream_server *s = floe_stream_server_create(&so, &eb);
	TAP_CHECK(s != NULL, "server: %s", eb.msg);
	if (!s)
		return;
	char addr[32];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", floe_stream_server_port(s));
	const char *srcs[] = {addr};
	const uint64_t N = 10000;
	for (uint64_t i = 0; i < N; i++) {
		struct floe_flow f;
		fill(&f, i);
		if (floe_stream_server_add(s, &f) != FLOE_OK)
			break;
	}
	floe_stream_server_flush(s);
	struct floe_stream_resume rp = {.sensor = 3, .seq = 6543};
	struct floe_stream_client_opts co = {.sources = srcs, .nsources = 1, .backlog = true,
	                                     .resume = &rp, .nresume = 1};
	struct floe_stream_client *c = floe_stream_client_create(&co, &eb);
	struct reader rd = {.c = c, .step = 1};
	pthread_t th;
	pthread_create(&th, NULL, reader_main, &rd);
	TAP_CHECK(floe_stream_server_wait(s, 1, 10000000000LL, NULL), "resuming subscriber");
	floe_stream_server_destroy(s, 20000000000LL, NULL);
	pthread_join(th, NULL);
	struct floe_stream_client_stats st;
	floe_stream_client_stats(c, &st);
	/* reader_main expects seq 1 first: the first record is the one "bad" */
	TAP_CHECK(rd.got == N - 6543 && rd.bad == 1 && st.lost == 0 && st.restarts == 0,
	          "resumed after seq 6543: %llu records, %llu lost",
	          (unsigned long long)rd.got, (unsigned long long)st.lost);
	TAP_CHECK(floe_stream_client_session(c, 0) != 0, "the server's run id is known");
	floe_stream_client_destroy(c);
}

/* A server with a spool: while the producer adds records without pause,
 * subscribers with resume points read the spool and then go live; each
 * gets every record after its point once, in order, across the change
 * from the spool to the live blocks.  A server started again on the spool
 * is the same run: same session, and it knows the last seq. */
static void test_spool_handover(void)
{
	char dir[] = "/tmp/floe-stream-spool-XXXXXX";
	if (!mkdtemp(dir)) {
		TAP_CHECK(0, "mkdtemp");
		return;
	}
	struct floe_errbuf eb = {0};
	struct floe_stream_server_opts so = {.listen = "127.0.0.1:0", .block_records = 500,
	                                     .queue_blocks = 64, .pace = true, .spool_dir = dir,
	                                     .spool_max = 64u << 20};
	struct floe_stream_server *s = floe_stream_server_create(&so, &eb);
	TAP_CHECK(s != NULL, "server with a spool: %s", eb.msg);
	if (!s)
		return;
	char addr[32];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", floe_stream_server_port(s));
	const char *srcs[] = {addr};
	const uint64_t N = 200000, FIRST = 40000;
	for (uint64_t i = 0; i < FIRST; i++) {
		struct floe_flow f;
		fill(&f, i);
		if (floe_stream_server_add(s, &f) != FLOE_OK)
			break;
	}
	floe_stream_server_flush(s);
	struct floe_stream_resume r1 = {3, 5000}, r2 = {3, FIRST - 1};
	struct floe_stream_client_opts co = {.sources = srcs, .nsources = 1, .backlog = true,
	                                     .resume = &r1, .nresume = 1, .instance = "r1"};
	struct floe_stream_client_opts c2o = co;
	c2o.resume = &r2;
	c2o.instance = "r2";
	struct floe_stream_client_opts c3o = co;
	c3o.filter = "dst port 53";
	c3o.instance = "r3";
	struct floe_stream_client *c[3] = {floe_stream_client_create(&co, &eb),
	                                   floe_stream_client_create(&c2o, &eb),
	                                   floe_stream_client_create(&c3o, &eb)};
	if (!c[0] || !c[1] || !c[2]) {
		TAP_CHECK(0, "clients: %s", eb.msg);
		floe_stream_server_destroy(s, 0, NULL);
		return;
	}
	/* the filtered one gets seq 5001, 5005, ... (dst port 53: seq % 4 == 1) */
	struct reader rd[3] = {{.c = c[0], .step = 1, .from = 5000},
	                       {.c = c[1], .step = 1, .from = FIRST - 1},
	                       {.c = c[2], .step = 4, .from = 4997}};
	pthread_t th[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, reader_main, &rd[i]);
	TAP_CHECK(floe_stream_server_wait(s, 3, 10000000000LL, NULL), "three subscribers");
	for (uint64_t i = FIRST; i < N; i++) {
		struct floe_flow f;
		fill(&f, i);
		if (floe_stream_server_add(s, &f) != FLOE_OK)
			break;
	}
	struct floe_stream_server_stats sst;
	floe_stream_server_destroy(s, 20000000000LL, &sst);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	/* a client belongs to the thread reading it: asked once that is done */
	uint64_t session = floe_stream_client_session(c[0], 0);
	struct floe_stream_client_stats st[3];
	for (int i = 0; i < 3; i++)
		floe_stream_client_stats(c[i], &st[i]);
	TAP_CHECK(sst.spool_records == N && sst.spool_errors == 0 && sst.spool_dropped == 0,
	          "every block spooled (%llu)", (unsigned long long)sst.spool_records);
	TAP_CHECK(rd[0].got == N - 5000 && rd[0].bad == 0 && st[0].lost == 0 &&
	          rd[0].end == FLOE_EOF,
	          "from the spool, then live: every record after seq 5000 once, in order "
	          "(%llu, %llu out of order, %llu lost)", (unsigned long long)rd[0].got,
	          (unsigned long long)rd[0].bad, (unsigned long long)st[0].lost);
	TAP_CHECK(rd[1].got == N - FIRST + 1 && rd[1].bad == 0 && st[1].lost == 0,
	          "resuming at the spool's end: every record after it once (%llu)",
	          (unsigned long long)rd[1].got);
	TAP_CHECK(rd[2].got == (N - 5000) / 4 && rd[2].bad == 0 && st[2].lost == 0,
	          "with a filter: its records after seq 5000, SEEN proves the rest (%llu, %llu "
	          "lost)", (unsigned long long)rd[2].got, (unsigned long long)st[2].lost);
	for (int i = 0; i < 3; i++)
		floe_stream_client_destroy(c[i]);

	/* the same spool again: the same run, seq on after N */
	s = floe_stream_server_create(&so, &eb);
	struct floe_stream_resume last[2];
	size_t nl = s ? floe_stream_server_spooled(s, last, 2) : 0;
	TAP_CHECK(s && nl == 1 && last[0].sensor == 3 && last[0].seq == N,
	          "restarted on the spool: sensor 3 at seq %llu",
	          nl ? (unsigned long long)last[0].seq : 0);
	if (s) {
		snprintf(addr, sizeof(addr), "127.0.0.1:%d", floe_stream_server_port(s));
		struct floe_stream_client_opts c4o = {.sources = srcs, .nsources = 1,
		                                      .resume = &r2, .nresume = 1};
		struct floe_stream_client *c4 = floe_stream_client_create(&c4o, &eb);
		const struct floe_flow *r;
		size_t n;
		enum floe_err e = FLOE_AGAIN;
		for (int k = 0; c4 && e == FLOE_AGAIN && k < 10; k++)
			e = floe_stream_client_next(c4, &r, &n, 1000000000LL);
		TAP_CHECK(e == FLOE_OK && floe_stream_client_session(c4, 0) == session &&
		          r[0].seq == FIRST, "the restarted server keeps its run id and replays");
		floe_stream_client_destroy(c4);
		floe_stream_server_destroy(s, 0, NULL);
	}
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		TAP_DIAG("rm failed");
}

int main(void)
{
	test_golden();
	test_bad();
	test_loopback();
	test_resume();
	test_spool_handover();
	return tap_done();
}
