/*
 * daemon.h - what floe's long-running commands share as services
 * (docs/daemon.md): the configuration file, where messages go, the pid
 * file, and signals.
 *
 * floe capture, collect, relay and archive (its daemon mode, `floe archive
 * --dir ...` without a subcommand) take, besides their own options:
 *
 *   --config FILE      options from FILE (conf.h); by default
 *                      /etc/floe/floe.conf when started by systemd and the
 *                      file exists; options on the command line win
 *   --log FILE         messages appended to FILE, one line each with time
 *                      and pid; SIGHUP reopens it (after logrotate moved it)
 *   --syslog [FACILITY]  messages to syslog (default facility daemon)
 *   --pidfile FILE     the process id, removed at exit
 *
 * Messages go to standard error unless --log or --syslog says otherwise,
 * through cli_log() and cli_error()/cli_warn() alike (cli_log_route).
 *
 * The state here is process-wide by nature (one log, one pid file, signal
 * flags a handler sets): it lives in daemon.c's statics, nowhere else.
 *
 * Must not depend on: libfloe beyond err.h (it is front end: cli.h, conf.h).
 */
#ifndef FLOE_CLI_DAEMON_H
#define FLOE_CLI_DAEMON_H

#include <stdbool.h>

#include "conf.h"

#define CLI_CONF_DEFAULT "/etc/floe/floe.conf"

/* Called by main() with the command's name and arguments before the
 * command runs.  For a service command it takes the service options out
 * of the arguments, reads the configuration, puts its options before the
 * command line's (skipping those the command line gives: flags override
 * the file), turns long names of short options (--read) into the short
 * ones, opens the log and writes the pid file; *argc and *argv are then
 * the arguments the command parses (valid until exit).  Other commands'
 * arguments are left alone.  Returns false with *rc the exit code (a
 * usage or configuration error, printed). */
bool cli_service_begin(const char *cmd, int *argc, char ***argv, int *rc);

/* Whether the command line (not the file) gave the option key. */
bool cli_service_cmdline_has(const char *key);

/* For a command's own loop: handlers for SIGTERM, SIGINT (stop) and
 * SIGHUP (reload), without SA_RESTART.  Returns a descriptor that becomes
 * readable when a signal arrives, for poll(2); -1 if it cannot be made. */
int cli_service_signals(void);
enum { CLI_SIG_STOP = 1u << 0, CLI_SIG_RELOAD = 1u << 1 };
/* The signals that arrived since the last call (CLI_SIG_*), cleared. */
unsigned cli_service_pending(void);

/* SIGHUP's work: reopens the log file and rereads the configuration file
 * (if one was read at start).  fn sees each option of the file that
 * applies to the command and that the command line did not give; the
 * service options (log, syslog, pidfile) are applied here: a new log
 * file is opened, syslog and pid file stay as they were.  Returns false
 * (logged, nothing changed) if the file no longer parses. */
bool cli_service_reload(void (*fn)(void *ud, const struct cli_conf_entry *e), void *ud);

#endif
