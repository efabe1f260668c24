/*
 * daemon.c - the service conventions of floe's long-running commands
 * (daemon.h): configuration, log, pid file, signals.
 */
#include "daemon.h"
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define CONF_FILE_MAX (1u << 20)

enum log_mode { LOGTO_STDERR, LOGTO_FILE, LOGTO_SYSLOG };

/* The process's service state (daemon.h says why it is static). */
static struct {
	bool on;                     /* a service command */
	char cmd[32];
	unsigned cmd_bit;
	const char *config;          /* the file read, or NULL */
	char **words;                /* owned: the arguments for the command */
	int nwords, capwords;
	char **argv;                 /* a copy handed to the command, which may reorder it */
	char **cmdline;              /* the command line as given (after the name) */
	int ncmdline;
	enum log_mode mode;
	const char *log_arg;         /* --log on the command line */
	char *log_path;              /* the file logged to (owned) */
	int log_fd;
	const char *syslog_arg;      /* facility from the command line */
	char *pidfile;               /* owned; removed at exit */
	struct floe_log log;
	int sigpipe[2];
} svc = {.log_fd = -1, .sigpipe = {-1, -1}};

static volatile sig_atomic_t sig_stop, sig_hup;

/* ---- the log ---- */

static const char *const level_names[] = {"error", "warning", "info", "debug"};

static void open_log_file(void)
{
	int fd = open(svc.log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		/* keep the old descriptor (a moved file still takes lines) */
		fprintf(stderr, "floe %s: cannot open log '%s': %s\n", svc.cmd, svc.log_path,
		        strerror(errno));
		return;
	}
	if (svc.log_fd >= 0)
		close(svc.log_fd);
	svc.log_fd = fd;
}

static void log_line(void *ud, enum floe_loglevel level, const char *msg)
{
	(void)ud;
	if (svc.mode == LOGTO_SYSLOG) {
		static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
		syslog(prio[level], "%s: %s", level_names[level], msg);
		return;
	}
	if (svc.mode == LOGTO_STDERR || svc.log_fd < 0) {
		fprintf(stderr, "floe %s: %s: %s\n", svc.cmd, level_names[level], msg);
		return;
	}
	if (sig_hup && svc.mode == LOGTO_FILE) {
		/* a command without a loop of its own: reopen at the next line */
		sig_hup = 0;
		open_log_file();
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char line[1400];
	int k = snprintf(line, sizeof(line),
	                 "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ floe %s[%ld]: %s: %s\n",
	                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	                 tm.tm_sec, ts.tv_nsec / 1000000, svc.cmd, (long)getpid(),
	                 level_names[level], msg);
	if (k < 0)
		return;
	if ((size_t)k >= sizeof(line)) {
		k = (int)sizeof(line) - 1;
		line[k - 1] = '\n';
	}
	/* one write per line: O_APPEND keeps lines whole */
	(void)!write(svc.log_fd, line, (size_t)k);
}

static const struct {
	const char *name;
	int fac;
} facilities[] = {
	{"daemon", LOG_DAEMON}, {"user", LOG_USER},     {"local0", LOG_LOCAL0},
	{"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},
	{"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6},
	{"local7", LOG_LOCAL7},
};

static int facility(const char *name)
{
	if (strcmp(name, "yes") == 0)
		return LOG_DAEMON;
	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (strcmp(name, facilities[i].name) == 0)
			return facilities[i].fac;
	return -1;
}

/* ---- arguments ---- */

static bool push(const char *w)
{
	if (svc.nwords + 2 > svc.capwords) {
		int ncap = svc.capwords ? svc.capwords * 2 : 32;
		char **nw = realloc(svc.words, (size_t)ncap * sizeof(*nw));
		if (!nw)
			return false;
		svc.words = nw;
		svc.capwords = ncap;
	}
	char *d = strdup(w);
	if (!d)
		return false;
	svc.words[svc.nwords++] = d;
	svc.words[svc.nwords] = NULL;
	return true;
}

static bool cmdline_has(const struct cli_conf_key *def)
{
	for (int i = 0; i < svc.ncmdline; i++) {
		const char *a = svc.cmdline[i];
		if (strcmp(a, def->flag) == 0 || (a[0] == '-' && a[1] == '-' &&
		                                  strcmp(a + 2, def->name) == 0))
			return true;
	}
	return false;
}

bool cli_service_cmdline_has(const char *key)
{
	const struct cli_conf_key *def = cli_conf_key_lookup(key);
	return svc.on && def && cmdline_has(def);
}

static void cleanup(void)
{
	if (svc.pidfile) {
		/* only our own: a newer instance may have written it */
		char buf[32];
		int fd = open(svc.pidfile, O_RDONLY | O_CLOEXEC);
		ssize_t k = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (k > 0) {
			buf[k] = '\0';
			if (strtol(buf, NULL, 10) == (long)getpid())
				unlink(svc.pidfile);
		}
		free(svc.pidfile);
	}
	for (int i = 0; i < svc.nwords; i++)
		free(svc.words[i]);
	free(svc.words);
	free(svc.argv);
	free(svc.log_path);
	if (svc.log_fd >= 0)
		close(svc.log_fd);
	if (svc.mode == LOGTO_SYSLOG)
		closelog();
	for (int i = 0; i < 2; i++)
		if (svc.sigpipe[i] >= 0)
			close(svc.sigpipe[i]);
	cli_log_route(NULL);
	memset(&svc, 0, sizeof(svc));
	svc.log_fd = svc.sigpipe[0] = svc.sigpipe[1] = -1;
}

/* Reads and parses path; false with the error printed. */
static bool load_conf(const char *path, struct cli_conf *c, bool quiet_missing, bool *missing)
{
	*missing = false;
	FILE *f = fopen(path, "rb");
	if (!f) {
		*missing = errno == ENOENT;
		if (!(quiet_missing && *missing))
			cli_error(&(struct cli_opts){.cmd = svc.cmd}, "cannot read config '%s': %s", path,
			          strerror(errno));
		return false;
	}
	char *text = malloc(CONF_FILE_MAX + 1);
	size_t n = text ? fread(text, 1, CONF_FILE_MAX + 1, f) : 0;
	bool bad = !text || ferror(f);
	fclose(f);
	if (bad || n > CONF_FILE_MAX) {
		cli_error(&(struct cli_opts){.cmd = svc.cmd}, "cannot read config '%s': %s", path,
		          bad ? "read error" : "larger than 1 MiB");
		free(text);
		return false;
	}
	char err[512];
	bool ok = cli_conf_parse(c, path, text, n, err, sizeof(err));
	free(text);
	if (!ok)
		cli_error(&(struct cli_opts){.cmd = svc.cmd}, "%s", err);
	return ok;
}

struct build {
	bool ok;
	const char *log, *syslog, *pidfile;
};

static void add_entry(void *ud, const struct cli_conf_entry *e)
{
	struct build *b = ud;
	if (e->def->service) {
		/* log and syslog: the later wins (a section's over the global) */
		if (strcmp(e->key, "log") == 0) {
			b->log = e->value;
			b->syslog = NULL;
		} else if (strcmp(e->key, "syslog") == 0) {
			/* syslog = no: a section's way out of a global syslog */
			b->syslog = strcmp(e->value, "no") == 0 ? NULL : e->value;
			if (b->syslog)
				b->log = NULL;
		} else {
			b->pidfile = e->value;
		}
		return;
	}
	if (cmdline_has(e->def))
		return;
	if (!e->def->arg) {
		if (strcmp(e->value, "yes") == 0)
			b->ok = b->ok && push(e->def->flag);
		return;
	}
	b->ok = b->ok && push(e->def->flag) && push(e->value);
}

static int usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "floe %s: ", svc.cmd);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (try 'floe %s --help')\n", svc.cmd);
	return EXIT_USAGE;
}

static bool is_service(const char *cmd, int argc, char **argv)
{
	if (!cli_conf_cmd_bit(cmd))
		return false;
	if (strcmp(cmd, "archive") != 0)
		return true;
	/* floe archive --dir ...: the daemon; floe archive ls ...: not */
	return argc > 0 && argv[0][0] == '-' && strcmp(argv[0], "-h") != 0 &&
	       strcmp(argv[0], "--help") != 0;
}

static bool write_pidfile(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	char buf[32];
	int k = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (fd < 0 || write(fd, buf, (size_t)k) != k) {
		cli_error(&(struct cli_opts){.cmd = svc.cmd}, "cannot write pid file '%s': %s", path,
		          strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	close(fd);
	svc.pidfile = strdup(path);
	return svc.pidfile != NULL;
}

static void on_hup_lazy(int sig)
{
	(void)sig;
	sig_hup = 1;
}

bool cli_service_begin(const char *cmd, int *argc, char ***argv, int *rc)
{
	*rc = EXIT_OK;
	if (!is_service(cmd, *argc, *argv))
		return true;
	svc.on = true;
	snprintf(svc.cmd, sizeof(svc.cmd), "%s", cmd);
	svc.cmd_bit = cli_conf_cmd_bit(cmd);
	atexit(cleanup);
	svc.cmdline = *argv;
	svc.ncmdline = *argc;
	/* the service options of the command line */
	const char *config = NULL, *pidfile = NULL;
	char **av = *argv;
	int n = *argc, out = 0;
	for (int i = 0; i < n; i++) {
		const char *a = av[i], *next = i + 1 < n ? av[i + 1] : NULL;
		if (strcmp(a, "--config") == 0 || strcmp(a, "--log") == 0 ||
		    strcmp(a, "--pidfile") == 0) {
			if (!next) {
				*rc = usage("%s needs an argument", a);
				return false;
			}
			if (a[2] == 'c')
				config = next;
			else if (a[2] == 'l')
				svc.log_arg = next;
			else
				pidfile = next;
			i++;
			continue;
		}
		if (strcmp(a, "--syslog") == 0) {
			svc.syslog_arg = "daemon";
			if (next && facility(next) >= 0) {
				svc.syslog_arg = next;
				i++;
			}
			continue;
		}
		av[out++] = av[i];
	}
	svc.ncmdline = out;
	/* the file */
	struct cli_conf conf = {0};
	bool have = false, missing;
	if (config) {
		if (!load_conf(config, &conf, false, &missing)) {
			*rc = EXIT_USAGE;
			return false;
		}
		have = true;
		svc.config = config;
	} else if (getenv("INVOCATION_ID")) {
		/* started by systemd: the default file, if there is one */
		have = load_conf(CLI_CONF_DEFAULT, &conf, true, &missing);
		if (!have && !missing) {
			*rc = EXIT_USAGE;
			return false;
		}
		if (have)
			svc.config = CLI_CONF_DEFAULT;
	}
	struct build b = {.ok = push(cmd)};
	if (have)
		cli_conf_each(&conf, svc.cmd_bit, add_entry, &b);
	for (int i = 0; i < out && b.ok; i++) {
		const struct cli_conf_key *def =
		    av[i][0] == '-' && av[i][1] == '-' ? cli_conf_key_lookup(av[i] + 2) : NULL;
		b.ok = push(def && !def->service ? def->flag : av[i]);
	}
	const char *log = svc.log_arg ? svc.log_arg : svc.syslog_arg ? NULL : b.log;
	const char *sysl = svc.syslog_arg ? svc.syslog_arg : svc.log_arg ? NULL : b.syslog;
	if (!pidfile)
		pidfile = b.pidfile;
	if (b.ok && log)
		b.ok = (svc.log_path = strdup(log)) != NULL;
	if (b.ok && pidfile)
		b.ok = (svc.pidfile = strdup(pidfile)) != NULL;
	cli_conf_release(&conf);
	if (!b.ok) {
		fprintf(stderr, "floe %s: out of memory\n", cmd);
		*rc = EXIT_FAIL;
		return false;
	}
	svc.argv = malloc((size_t)(svc.nwords + 1) * sizeof(*svc.argv));
	if (!svc.argv) {
		fprintf(stderr, "floe %s: out of memory\n", cmd);
		*rc = EXIT_FAIL;
		return false;
	}
	memcpy(svc.argv, svc.words, (size_t)(svc.nwords + 1) * sizeof(*svc.argv));
	*argc = svc.nwords - 1;
	*argv = svc.argv + 1;
	for (int i = 1; i < svc.nwords; i++)
		if (strcmp(svc.words[i], "-h") == 0 || strcmp(svc.words[i], "--help") == 0)
			return true;   /* help: the file is checked, nothing is opened */
	if (log && sysl) {
		*rc = usage("%s", "give --log FILE or --syslog, not both");
		return false;
	}
	if (sysl && facility(sysl) < 0) {
		*rc = usage("unknown syslog facility '%s' (daemon, user, local0..local7)", sysl);
		return false;
	}
	/* the log */
	svc.log = (struct floe_log){log_line, NULL};
	if (sysl) {
		char ident[48];
		snprintf(ident, sizeof(ident), "floe-%s", cmd);
		static char ident_kept[48];   /* openlog keeps the pointer */
		memcpy(ident_kept, ident, sizeof(ident));
		openlog(ident_kept, LOG_PID | LOG_NDELAY, facility(sysl));
		svc.mode = LOGTO_SYSLOG;
		cli_log_route(&svc.log);
	} else if (log) {
		svc.mode = LOGTO_FILE;
		open_log_file();
		if (svc.log_fd < 0) {
			*rc = EXIT_FAIL;
			return false;
		}
		cli_log_route(&svc.log);
	}
	/* SIGHUP (systemctl reload) must not kill a service: the log file is
	 * reopened at the next message, for commands without a loop of their
	 * own that asks (cli_service_signals replaces this) */
	struct sigaction sa = {0};
	sa.sa_handler = on_hup_lazy;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGHUP, &sa, NULL);
	if (pidfile) {
		char *p = svc.pidfile;
		svc.pidfile = NULL;
		bool ok = write_pidfile(p);
		free(p);
		if (!ok) {
			*rc = EXIT_FAIL;
			return false;
		}
	}
	return true;
}

/* ---- signals ---- */

static void on_signal(int sig)
{
	int saved = errno;
	if (sig == SIGHUP)
		sig_hup = 1;
	else
		sig_stop = 1;
	if (svc.sigpipe[1] >= 0)
		(void)!write(svc.sigpipe[1], "s", 1);
	errno = saved;
}

int cli_service_signals(void)
{
	if (svc.sigpipe[0] < 0 && pipe2(svc.sigpipe, O_NONBLOCK | O_CLOEXEC) != 0)
		svc.sigpipe[0] = svc.sigpipe[1] = -1;
	struct sigaction sa = {0};
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return svc.sigpipe[0];
}

unsigned cli_service_pending(void)
{
	char buf[64];
	while (svc.sigpipe[0] >= 0 && read(svc.sigpipe[0], buf, sizeof(buf)) > 0)
		;
	unsigned m = 0;
	if (sig_stop) {
		sig_stop = 0;
		m |= CLI_SIG_STOP;
	}
	if (sig_hup) {
		sig_hup = 0;
		m |= CLI_SIG_RELOAD;
	}
	return m;
}

struct reload {
	void (*fn)(void *ud, const struct cli_conf_entry *e);
	void *ud;
	const char *log;
};

static void reload_entry(void *ud, const struct cli_conf_entry *e)
{
	struct reload *r = ud;
	if (e->def->service) {
		if (strcmp(e->key, "log") == 0)
			r->log = e->value;
		return;
	}
	if (!cmdline_has(e->def))
		r->fn(r->ud, e);
}

bool cli_service_reload(void (*fn)(void *ud, const struct cli_conf_entry *e), void *ud)
{
	struct cli_conf conf = {0};
	bool ok = true, missing;
	struct reload r = {fn, ud, NULL};
	if (svc.config) {
		ok = load_conf(svc.config, &conf, false, &missing);
		if (ok)
			cli_conf_each(&conf, svc.cmd_bit, reload_entry, &r);
	}
	if (svc.mode == LOGTO_FILE && ok && !svc.log_arg && r.log && strcmp(r.log, svc.log_path) != 0) {
		char *np = strdup(r.log);
		if (np) {
			floe_logf(&svc.log, FLOE_LOG_INFO, "logging to '%s' from now on", np);
			free(svc.log_path);
			svc.log_path = np;
		}
	}
	if (svc.mode == LOGTO_FILE) {
		open_log_file();
		floe_logf(&svc.log, FLOE_LOG_INFO, "log reopened");
	}
	cli_conf_release(&conf);
	if (svc.config)
		floe_logf(&svc.log, ok ? FLOE_LOG_INFO : FLOE_LOG_ERR, "%s '%s'",
		          ok ? "reread configuration" : "configuration unchanged: cannot use",
		          svc.config);
	return ok;
}
