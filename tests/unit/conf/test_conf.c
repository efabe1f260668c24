/*
 * test_conf.c - golden tests of the configuration file parser
 * (src/cli/conf.c): every tests/data/conf/NAME.conf is parsed and what
 * each service command gets from it (or the error) is compared with
 * NAME.out.  FLOE_GOLDEN_WRITE=1 writes the .out files instead.
 */
#include "conf.h"
#include "tap.h"
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct out {
	char *p;
	size_t n, cap;
};

static void put(struct out *o, const char *s)
{
	size_t k = strlen(s);
	if (o->n + k + 1 > o->cap) {
		o->cap = (o->n + k + 1) * 2;
		o->p = realloc(o->p, o->cap);
	}
	memcpy(o->p + o->n, s, k + 1);
	o->n += k;
}

static void show(void *ud, const struct cli_conf_entry *e)
{
	char line[CLI_CONF_LINE_MAX + 200];
	snprintf(line, sizeof(line), "  line %u: %s -> %s %s\n", e->line, e->key, e->def->flag,
	         e->value);
	put(ud, line);
}

static const char *const cmds[] = {"capture", "collect", "archive", "relay"};

static void golden(const char *dir, const char *name)
{
	char path[2048], outpath[2100];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(outpath, sizeof(outpath), "%.*s.out", (int)(strlen(path) - 5), path);
	size_t len;
	char *text = test_slurp(path, &len);
	TAP_CHECK(text != NULL, "%s: read", name);
	if (!text)
		return;
	struct out o = {0};
	put(&o, "");
	struct cli_conf c = {0};
	char err[512];
	if (!cli_conf_parse(&c, name, text, len, err, sizeof(err))) {
		put(&o, "error: ");
		put(&o, err);
		put(&o, "\n");
		TAP_CHECK(c.n == 0 && c.v == NULL, "%s: nothing kept after an error", name);
	} else {
		for (size_t i = 0; i < 4; i++) {
			put(&o, "[");
			put(&o, cmds[i]);
			put(&o, "]\n");
			cli_conf_each(&c, cli_conf_cmd_bit(cmds[i]), show, &o);
		}
	}
	cli_conf_release(&c);
	if (getenv("FLOE_GOLDEN_WRITE")) {
		FILE *f = fopen(outpath, "w");
		fputs(o.p, f);
		fclose(f);
	}
	size_t wlen;
	char *want = test_slurp(outpath, &wlen);
	bool same = want && wlen == o.n && memcmp(want, o.p, o.n) == 0;
	TAP_CHECK(same, "%s matches %s", name, outpath);
	if (!same)
		TAP_DIAG("got:\n%s", o.p);
	free(want);
	free(o.p);
	free(text);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/conf", test_data_dir());
	DIR *d = opendir(dir);
	TAP_CHECK(d != NULL, "open %s", dir);
	if (!d)
		return tap_done();
	char *names[256];
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < 256) {
		size_t k = strlen(de->d_name);
		if (k > 5 && strcmp(de->d_name + k - 5, ".conf") == 0)
			names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), by_name);
	TAP_CHECK(n >= 10, "%zu golden files", n);
	for (size_t i = 0; i < n; i++) {
		golden(dir, names[i]);
		free(names[i]);
	}

	/* the table: every key is a long option, found by its name */
	static const char *const some[] = {"dir", "keep", "max-size", "read", "source", "syslog"};
	for (size_t i = 0; i < sizeof(some) / sizeof(some[0]); i++) {
		const struct cli_conf_key *k = cli_conf_key_lookup(some[i]);
		TAP_CHECK(k && strcmp(k->name, some[i]) == 0, "key %s", some[i]);
	}
	TAP_CHECK(cli_conf_key_lookup("config") == NULL, "no config inside a config");
	TAP_CHECK(cli_conf_cmd_bit("archive") == CLI_CONF_ARCHIVE && cli_conf_cmd_bit("read") == 0,
	          "command bits");
	/* bounded: past CLI_CONF_ENTRIES_MAX lines is an error, not growth */
	size_t big = (CLI_CONF_ENTRIES_MAX + 1) * 16;
	char *text = malloc(big + 16), *p = text;
	p += sprintf(p, "[relay]\n");
	for (int i = 0; i <= CLI_CONF_ENTRIES_MAX; i++)
		p += sprintf(p, "source = a:%d\n", i % 10);
	struct cli_conf c = {0};
	char err[512];
	TAP_CHECK(!cli_conf_parse(&c, "big", text, (size_t)(p - text), err, sizeof(err)) &&
	              strstr(err, "more than 1024 entries"),
	          "entries bounded: %s", err);
	free(text);
	return tap_done();
}
