/*
 * conf.h - the configuration file of floe's long-running commands
 * (docs/daemon.md "Configuration file").
 *
 *   # comment                       ; comment too
 *   instance = link1                 (before any section: every command)
 *   [archive]
 *   dir = /srv/floe
 *   keep = 180d
 *   stats = yes                      (an option without argument: yes/no)
 *
 * Every key is the long option of the same name without its dashes, so
 * `keep = 180d` in [archive] is `floe archive --keep 180d`, and every
 * option is also a key.  The few options that are short on the command
 * line have a long name too (read -r, write -w, interface -i, source -S),
 * which the command line accepts as well.  Sections are the commands that
 * run as services: capture, collect, archive, relay.  Keys before the
 * first section apply to every command that takes them.
 *
 * The file is outside bytes: the parser takes (text, length), never reads
 * past it, and rejects with "FILE:LINE: why" a line it cannot take (no
 * '=', an unknown key or section, a value missing, a NUL byte, a line
 * over 4 KiB).  It is fuzzed (tests/fuzz/fuzz_conf.c).
 *
 * Must not depend on: cli.c (the fuzz target links this file alone), libfloe.
 */
#ifndef FLOE_CLI_CONF_H
#define FLOE_CLI_CONF_H

#include <stdbool.h>
#include <stddef.h>

#define CLI_CONF_LINE_MAX 4096
#define CLI_CONF_ENTRIES_MAX 1024

/* One "key = value" line. */
struct cli_conf_entry {
	char *key;              /* owned by the conf */
	char *value;            /* owned; "yes" or "no" for an option without value */
	unsigned line;          /* 1-based */
	int section;            /* index in the command table; -1: before any section */
	const struct cli_conf_key *def;
};

struct cli_conf {
	struct cli_conf_entry *v;
	size_t n, cap;
};

/* What an option is, for the file and the command line alike. */
struct cli_conf_key {
	const char *name;       /* the key and, after "--", the long option */
	const char *flag;       /* what the command's parser reads: "--name" or "-r" */
	unsigned cmds;          /* CLI_CONF_CAPTURE | ... : the sections taking it */
	bool arg;               /* takes a value */
	bool repeat;            /* may be given more than once (each adds) */
	bool service;           /* handled by daemon.c (log, syslog, pidfile) */
};

enum {
	CLI_CONF_CAPTURE = 1u << 0,
	CLI_CONF_COLLECT = 1u << 1,
	CLI_CONF_ARCHIVE = 1u << 2,
	CLI_CONF_RELAY = 1u << 3,
};

/* The section bit of command name cmd ("capture", ...); 0 if not one. */
unsigned cli_conf_cmd_bit(const char *cmd);

/* The option named name (a key, or a long option without "--"); NULL if
 * none. */
const struct cli_conf_key *cli_conf_key_lookup(const char *name);

/* Parses text[0..len) of the file named path into c (zeroed, or
 * released).  Returns true, or false with err (errlen bytes) set to
 * "PATH:LINE: why"; c then holds nothing. */
bool cli_conf_parse(struct cli_conf *c, const char *path, const char *text, size_t len,
                    char *err, size_t errlen);
void cli_conf_release(struct cli_conf *c);

/* Calls fn for each entry that applies to command cmd_bit, in file order:
 * the entries before any section that cmd takes, then those of its
 * section.  For an option that is not repeatable only the last entry is
 * passed (a section's entry wins over a global one). */
void cli_conf_each(const struct cli_conf *c, unsigned cmd_bit,
                   void (*fn)(void *ud, const struct cli_conf_entry *e), void *ud);

#endif
