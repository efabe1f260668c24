/*
 * test_live.c - the sensor library (sensor/live.h) on real sockets.
 *
 * The test enters a network namespace of its own (unshare; needs root, as
 * CI has), brings its loopback up and sends UDP datagrams over it, so the
 * sockets floe opens see only the test's packets.  Checked: opening errors
 * (a table), records reaching the sink on the calling thread, --count and
 * duration stops, a stop from another thread, fanout threads, the merge of
 * two sockets in timestamp order, and the privilege drop (in a child).
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sensor/live.h"
#include "tap.h"

#define MS INT64_C(1000000)

static int lo_up(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	int rc = fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) != 0 ? -1 : 0;
	ifr.ifr_flags |= IFF_UP;
	if (rc == 0)
		rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int udp_bound(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends n datagrams from each of nflows source ports to one receiver. */
static int send_udp(int nflows, int n)
{
	int rx = udp_bound(9000), ok = rx >= 0;
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9000)};
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int f = 0; f < nflows && ok; f++) {
		int tx = udp_bound((uint16_t)(9100 + f));
		ok = tx >= 0;
		for (int i = 0; i < n && ok; i++)
			ok = sendto(tx, "floe", 4, 0, (struct sockaddr *)&to, sizeof(to)) == 4;
		if (tx >= 0)
			close(tx);
	}
	if (rx >= 0)
		close(rx);
	return ok ? 0 : -1;
}

struct got {
	pthread_t caller;
	int records, wrong_thread;
	uint64_t pkts;
	int64_t last_stime;
};

static void sink(void *ud, const struct floe_flow *f)
{
	struct got *g = ud;
	g->records++;
	g->pkts += f->spkts + f->dpkts;
	g->wrong_thread += !pthread_equal(pthread_self(), g->caller);
}

static void config(struct floe_live_config *c, const char *ifc, unsigned threads)
{
	floe_live_config_default(c);
	c->ifaces[0] = ifc;
	c->nifaces = 1;
	c->threads = threads;
	c->buffer = 4 << 20;
	c->meter.max_flows = 4096;
}

static const struct {
	const char *name;
	const char *ifaces[3];
	unsigned nifaces, threads;
	const char *filter;
	enum floe_err want;
	const char *msg;
} open_cases[] = {
	{"no interface", {NULL}, 0, 1, NULL, FLOE_INVALID, "configuration"},
	{"three interfaces", {"lo", "lo", "lo"}, 3, 1, NULL, FLOE_INVALID, "configuration"},
	{"too many threads", {"lo"}, 1, FLOE_LIVE_MAX_THREADS + 1, NULL, FLOE_INVALID,
	 "configuration"},
	{"no such interface", {"floe-nosuch0"}, 1, 1, NULL, FLOE_IO,
	 "cannot capture on 'floe-nosuch0': no such interface"},
	{"bad filter", {"lo"}, 1, 1, "udp port and", FLOE_INVALID, "bad filter 'udp port and'"},
	{"bad filter, threads", {"lo"}, 1, 3, "ip6 and tcp[", FLOE_INVALID, "bad filter"},
};

static void test_open_errors(void)
{
	for (size_t i = 0; i < sizeof(open_cases) / sizeof(open_cases[0]); i++) {
		struct floe_live_config c;
		config(&c, NULL, open_cases[i].threads);
		for (unsigned k = 0; k < open_cases[i].nifaces && k < FLOE_LIVE_MAX_IFACES; k++)
			c.ifaces[k] = open_cases[i].ifaces[k];
		c.nifaces = open_cases[i].nifaces;
		c.filter = open_cases[i].filter;
		struct floe_errbuf eb = {0};
		struct floe_live *lv = (struct floe_live *)&eb;
		enum floe_err err = floe_live_open(&c, &lv, &eb);
		TAP_CHECK(err == open_cases[i].want && lv == NULL &&
		          strstr(eb.msg, open_cases[i].msg) != NULL, "open: %s (%s)",
		          open_cases[i].name, eb.msg);
	}
	floe_live_destroy(NULL);
}

/* Packets sent before the run wait in the ring; --count stops the run
 * when they are read, records come out on the calling thread. */
static void test_count(unsigned threads)
{
	struct floe_live_config c;
	config(&c, "lo", threads);
	c.count = 40;
	c.filter = "udp";
	struct floe_errbuf eb = {0};
	struct floe_live *lv;
	if (floe_live_open(&c, &lv, &eb) != FLOE_OK) {
		TAP_CHECK(0, "count, %u threads: open: %s", threads, eb.msg);
		return;
	}
	TAP_CHECK(send_udp(4, 12) == 0, "count, %u threads: send", threads);
	struct got g = {.caller = pthread_self()};
	enum floe_err err = floe_live_run(lv, sink, &g, &eb);
	struct floe_live_stats st;
	floe_live_stats(lv, &st);
	uint64_t per = 0;
	for (unsigned i = 0; i < st.nthreads; i++)
		per += st.thread_packets[i];
	TAP_CHECK(err == FLOE_OK && g.pkts == 40 && st.packets == 40 && st.meter.packets == 40 &&
	          per == 40 && st.nthreads == threads && g.records == 4 &&
	          g.wrong_thread == 0, "count, %u threads: 40 packets in 4 flows, on the caller "
	          "(%llu packets, %d records)", threads, (unsigned long long)g.pkts, g.records);
	TAP_CHECK(st.nifaces == 1 && st.ifs[0].recv >= 40 && st.ifs[0].drop == 0 &&
	          strcmp(st.ifs[0].name, "lo") == 0, "count, %u threads: socket counts", threads);
	TAP_CHECK(floe_live_run(lv, sink, &g, &eb) == FLOE_INVALID, "count: a capture runs once");
	floe_live_destroy(lv);
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *stopper(void *arg)
{
	struct timespec d = {0, 200 * MS};
	nanosleep(&d, NULL);
	floe_live_stop(arg);
	return NULL;
}

/* A duration ends a quiet capture; so does a stop from another thread. */
static void test_stops(void)
{
	for (int how = 0; how < 2; how++) {
		struct floe_live_config c;
		config(&c, "lo", 2);
		c.filter = "udp port 9999";
		if (how == 0)
			c.duration = 300 * MS;
		struct floe_errbuf eb = {0};
		struct floe_live *lv;
		if (floe_live_open(&c, &lv, &eb) != FLOE_OK) {
			TAP_CHECK(0, "stop: open: %s", eb.msg);
			return;
		}
		pthread_t th;
		if (how == 1)
			pthread_create(&th, NULL, stopper, lv);
		struct got g = {.caller = pthread_self()};
		int64_t t0 = mono_ns();
		enum floe_err err = floe_live_run(lv, sink, &g, &eb);
		int64_t took = mono_ns() - t0;
		if (how == 1)
			pthread_join(th, NULL);
		TAP_CHECK(err == FLOE_OK && g.records == 0 && took >= 200 * MS && took < 2000 * MS,
		          "stop by %s after %lld ms", how ? "floe_live_stop" : "duration",
		          (long long)(took / MS));
		floe_live_destroy(lv);
	}
}

/* Two sockets on one interface see every packet twice: the merge meters
 * both copies in timestamp order (the clock never goes back). */
static void test_merge(void)
{
	struct floe_live_config c;
	config(&c, "lo", 1);
	c.ifaces[1] = "lo";
	c.nifaces = 2;
	c.count = 400;
	c.filter = "udp";
	struct floe_errbuf eb = {0};
	struct floe_live *lv;
	if (floe_live_open(&c, &lv, &eb) != FLOE_OK) {
		TAP_CHECK(0, "merge: open: %s", eb.msg);
		return;
	}
	TAP_CHECK(send_udp(2, 100) == 0, "merge: send");
	struct got g = {.caller = pthread_self()};
	enum floe_err err = floe_live_run(lv, sink, &g, &eb);
	struct floe_live_stats st;
	floe_live_stats(lv, &st);
	TAP_CHECK(err == FLOE_OK && g.pkts == 400 && g.records == 2,
	          "merge: 2 flows of 200 packets (%llu packets, %d records)",
	          (unsigned long long)g.pkts, g.records);
	TAP_CHECK(st.meter.time_backwards == 0 && st.merge_early == 0 && st.nifaces == 2,
	          "merge: in timestamp order (%llu backwards)",
	          (unsigned long long)st.meter.time_backwards);
	floe_live_destroy(lv);
}

/* In a child: become nobody, and root cannot come back. */
static void test_drop_privileges(void)
{
	struct floe_errbuf eb = {0};
	TAP_CHECK(floe_live_drop_privileges("no-such-user-floe", &eb) == FLOE_INVALID &&
	          strstr(eb.msg, "no-such-user-floe"), "drop: unknown user (%s)", eb.msg);
	struct passwd *pw = getpwnam("nobody");
	if (!pw) {
		TAP_CHECK(0, "drop: no user nobody");
		return;
	}
	uid_t want = pw->pw_uid;
	pid_t pid = fork();
	if (pid == 0) {
		struct floe_errbuf ceb = {0};
		gid_t groups[8];
		int ok = floe_live_drop_privileges("nobody", &ceb) == FLOE_OK && getuid() == want &&
		         geteuid() == want && setuid(0) != 0 && getgroups(8, groups) == 1 &&
		         groups[0] == pw->pw_gid;
		_exit(ok ? 0 : 1);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	TAP_CHECK(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	          "drop: the child is nobody, root is gone");
}

int main(void)
{
	if (unshare(CLONE_NEWNET) != 0 || lo_up() != 0) {
		TAP_CHECK(0, "a network namespace of our own (run as root)");
		return tap_done();
	}
	test_open_errors();
	test_count(1);
	test_count(2);
	test_stops();
	test_merge();
	test_drop_privileges();
	return tap_done();
}
