/*
 * conf.c - the configuration file parser (conf.h) and the table of the
 * options it knows.
 *
 * Must not depend on: cli.c, libfloe (the fuzz target links this file
 * alone).
 */
#include "conf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAP CLI_CONF_CAPTURE
#define COL CLI_CONF_COLLECT
#define ARC CLI_CONF_ARCHIVE
#define REL CLI_CONF_RELAY
#define ALL (CAP | COL | ARC | REL)

/* The sections, in the order of their bits. */
static const char *const sections[] = {"capture", "collect", "archive", "relay"};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

/* Every option a service takes, by long name.  The command's own parser
 * checks the values; this table knows only names, which command takes
 * which, and whether a value follows. */
static const struct cli_conf_key keys[] = {
	/* name            flag                cmds             arg    repeat service */
	{"log",            "--log",            ALL,             true,  false, true},
	{"syslog",         "--syslog",         ALL,             true,  false, true},
	{"pidfile",        "--pidfile",        ALL,             true,  false, true},
	{"instance",       "--instance",       ALL,             true,  false, false},
	{"read",           "-r",               CAP | COL | ARC, true,  true,  false},
	{"write",          "-w",               CAP | COL,       true,  false, false},
	{"interface",      "-i",               CAP,             true,  true,  false},
	{"buffer",         "--buffer",         CAP,             true,  false, false},
	{"snaplen",        "--snaplen",        CAP,             true,  false, false},
	{"user",           "--user",           CAP,             true,  false, false},
	{"threads",        "--threads",        CAP,             true,  false, false},
	{"source",         "-S",               ARC | REL,       true,  true,  false},
	{"listen",         "--listen",         CAP | COL | REL, true,  true,  false},
	{"archive",        "--archive",        CAP | COL,       true,  false, false},
	{"dir",            "--dir",            ARC,             true,  false, false},
	{"rotate",         "--rotate",         CAP | COL | ARC, true,  false, false},
	{"keep",           "--keep",           CAP | COL | ARC, true,  false, false},
	{"max-size",       "--max-size",       CAP | COL | ARC, true,  false, false},
	{"block-records",  "--block-records",  CAP | COL | ARC, true,  false, false},
	{"encoders",       "--encoders",       CAP | COL | ARC, true,  false, false},
	{"resume",         "--resume",         ARC,             false, false, false},
	{"stats",          "--stats",          ALL,             false, false, false},
	{"local",          "--local",          CAP | COL,       true,  true,  false},
	{"status",         "--status",         CAP,             true,  false, false},
	{"max-flows",      "--max-flows",      CAP,             true,  false, false},
	{"sensor",         "--sensor",         CAP,             true,  false, false},
	{"sampling",       "--sampling",       COL,             true,  false, false},
	{"template-timeout", "--template-timeout", COL,         true,  false, false},
	{"max-templates",  "--max-templates",  COL,             true,  false, false},
	{"idle",           "--idle",           COL,             true,  false, false},
	{"rcvbuf",         "--rcvbuf",         COL,             true,  false, false},
	/* streams (docs/stream.md) */
	{"token",          "--token",          ALL,             true,  false, false},
	{"tls-ca",         "--tls-ca",         ALL,             true,  false, false},
	{"tls-cert",       "--tls-cert",       ALL,             true,  false, false},
	{"tls-key",        "--tls-key",        ALL,             true,  false, false},
	{"subscribers",    "--subscribers",    CAP | COL | REL, true,  false, false},
	{"linger",         "--linger",         CAP | COL | REL, true,  false, false},
	/* loading into databases (docs/db.md) */
	{"pg",             "--pg",             ARC,             true,  false, false},
	{"clickhouse",     "--clickhouse",     ARC,             true,  false, false},
	{"db-expire",      "--db-expire",      ARC,             true,  false, false},
	/* the disk spool of stream servers (docs/stream.md) */
	{"spool",          "--spool",          CAP | COL | REL, true,  false, false},
	{"spool-max",      "--spool-max",      CAP | COL | REL, true,  false, false},
};

unsigned cli_conf_cmd_bit(const char *cmd)
{
	for (size_t i = 0; i < NSECTIONS; i++)
		if (strcmp(cmd, sections[i]) == 0)
			return 1u << i;
	return 0;
}

const struct cli_conf_key *cli_conf_key_lookup(const char *name)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(name, keys[i].name) == 0)
			return &keys[i];
	return NULL;
}

void cli_conf_release(struct cli_conf *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].key);
		free(c->v[i].value);
	}
	free(c->v);
	c->v = NULL;
	c->n = c->cap = 0;
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Trims [*s, *e) of blanks. */
static void trim(const char **s, const char **e)
{
	while (*s < *e && is_space(**s))
		(*s)++;
	while (*e > *s && is_space((*e)[-1]))
		(*e)--;
}

static bool name_ok(const char *s, const char *e)
{
	if (s == e || e - s > 63)
		return false;
	for (; s < e; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

static char *dup_range(const char *s, const char *e)
{
	char *d = malloc((size_t)(e - s) + 1);
	if (d) {
		memcpy(d, s, (size_t)(e - s));
		d[e - s] = '\0';
	}
	return d;
}

/* Quotes what the user wrote, printable and cut short, for a message. */
static void quote(char *out, size_t len, const char *s, const char *e)
{
	size_t k = 0;
	for (; s < e && k + 4 < len; s++)
		out[k++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	if (s < e && k + 4 <= len) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
}

static bool fail(struct cli_conf *c, char *err, size_t errlen, const char *path, unsigned line,
                 const char *fmt, const char *arg)
{
	char why[200];
	snprintf(why, sizeof(why), fmt, arg);
	snprintf(err, errlen, "%s:%u: %s", path, line, why);
	cli_conf_release(c);
	return false;
}

static bool truthy(const char *s, const char *e, bool *on)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	size_t n = (size_t)(e - s);
	for (size_t i = 0; i < 4; i++) {
		if (strlen(yes[i]) == n && memcmp(s, yes[i], n) == 0) {
			*on = true;
			return true;
		}
		if (strlen(no[i]) == n && memcmp(s, no[i], n) == 0) {
			*on = false;
			return true;
		}
	}
	return false;
}

bool cli_conf_parse(struct cli_conf *c, const char *path, const char *text, size_t len,
                    char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	int section = -1;
	unsigned line = 0;
	const char *p = text, *end = text + len;
	char q[80];
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;   /* a UTF-8 byte order mark some editors write */
	while (p < end) {
		line++;
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *s = p, *e = le;
		p = nl ? nl + 1 : end;
		if ((size_t)(e - s) > CLI_CONF_LINE_MAX)
			return fail(c, err, errlen, path, line, "line longer than %s bytes", "4096");
		if (memchr(s, '\0', (size_t)(e - s)))
			return fail(c, err, errlen, path, line, "%s", "NUL byte in the line");
		trim(&s, &e);
		if (s == e || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			if (e[-1] != ']' || e - s < 2) {
				quote(q, sizeof(q), s, e);
				return fail(c, err, errlen, path, line, "bad section header '%s'", q);
			}
			const char *ns = s + 1, *ne = e - 1;
			trim(&ns, &ne);
			section = -1;
			for (size_t i = 0; i < NSECTIONS; i++)
				if (strlen(sections[i]) == (size_t)(ne - ns) &&
				    memcmp(ns, sections[i], (size_t)(ne - ns)) == 0)
					section = (int)i;
			if (section < 0) {
				quote(q, sizeof(q), ns, ne);
				return fail(c, err, errlen, path, line,
				            "unknown section [%s] (capture, collect, archive, relay)", q);
			}
			continue;
		}
		const char *eq = memchr(s, '=', (size_t)(e - s));
		if (!eq) {
			quote(q, sizeof(q), s, e);
			return fail(c, err, errlen, path, line, "expected 'key = value', not '%s'", q);
		}
		const char *ks = s, *ke = eq, *vs = eq + 1, *ve = e;
		trim(&ks, &ke);
		trim(&vs, &ve);
		quote(q, sizeof(q), ks, ke);
		if (!name_ok(ks, ke))
			return fail(c, err, errlen, path, line, "bad key '%s'", q);
		char key[64];
		memcpy(key, ks, (size_t)(ke - ks));
		key[ke - ks] = '\0';
		const struct cli_conf_key *def = cli_conf_key_lookup(key);
		if (!def)
			return fail(c, err, errlen, path, line, "unknown key '%s'", key);
		if (section >= 0 && !(def->cmds & (1u << section))) {
			char why[120];
			snprintf(why, sizeof(why), "'%s' is not an option of floe %s", key,
			         sections[section]);
			return fail(c, err, errlen, path, line, "%s", why);
		}
		if (ve > vs && *vs == '"') {
			if (ve - vs < 2 || ve[-1] != '"' || memchr(vs + 1, '"', (size_t)(ve - vs - 2)))
				return fail(c, err, errlen, path, line, "value of '%s' is badly quoted", key);
			vs++;
			ve--;
		}
		if (vs == ve)
			return fail(c, err, errlen, path, line, "'%s' needs a value", key);
		bool on = true;
		if (!def->arg && !truthy(vs, ve, &on))
			return fail(c, err, errlen, path, line, "'%s' takes yes or no", key);
		for (size_t i = 0; i < c->n && !def->repeat; i++)
			if (c->v[i].def == def && c->v[i].section == section) {
				char why[120];
				snprintf(why, sizeof(why), "'%s' given twice (first on line %u)", key,
				         c->v[i].line);
				return fail(c, err, errlen, path, line, "%s", why);
			}
		if (c->n == CLI_CONF_ENTRIES_MAX)
			return fail(c, err, errlen, path, line, "more than %s entries", "1024");
		if (c->n == c->cap) {
			size_t ncap = c->cap ? c->cap * 2 : 16;
			struct cli_conf_entry *nv = realloc(c->v, ncap * sizeof(*nv));
			if (!nv)
				return fail(c, err, errlen, path, line, "%s", "out of memory");
			c->v = nv;
			c->cap = ncap;
		}
		struct cli_conf_entry *en = &c->v[c->n];
		en->key = dup_range(ks, ke);
		en->value = def->arg ? dup_range(vs, ve) : strdup(on ? "yes" : "no");
		en->line = line;
		en->section = section;
		en->def = def;
		c->n++;
		if (!en->key || !en->value)
			return fail(c, err, errlen, path, line, "%s", "out of memory");
	}
	return true;
}

static bool applies(const struct cli_conf_entry *e, unsigned cmd_bit)
{
	if (e->section < 0)
		return (e->def->cmds & cmd_bit) != 0;
	return (1u << e->section) == cmd_bit;
}

void cli_conf_each(const struct cli_conf *c, unsigned cmd_bit,
                   void (*fn)(void *ud, const struct cli_conf_entry *e), void *ud)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct cli_conf_entry *e = &c->v[i];
		if (!applies(e, cmd_bit))
			continue;
		bool later = false;
		for (size_t k = i + 1; k < c->n && !e->def->repeat && !later; k++)
			later = c->v[k].def == e->def && applies(&c->v[k], cmd_bit);
		if (!later)
			fn(ud, e);
	}
}
