/*
 * fuzz_conf.c - fuzz target for the configuration file parser
 * (src/cli/conf.c, linked alone).
 *
 * The input is the file's text.  Oracles: parsing is deterministic; a
 * failure leaves nothing and names "fuzz:LINE:" with LINE within the
 * text; a success gives entries whose key is their option's name, whose
 * line is within the text, whose value is non-empty without NUL or line
 * end, "yes" or "no" for options without a value; walking the entries of
 * every command visits each at most once.
 */
#include "conf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count(void *ud, const struct cli_conf_entry *e)
{
	if (!e->def || !e->key)
		abort();
	(*(size_t *)ud)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 20))
		return 0;
	const char *text = (const char *)data;
	unsigned lines = 1;
	for (size_t i = 0; i < size; i++)
		lines += text[i] == '\n';
	struct cli_conf a = {0}, b = {0};
	char ea[512], eb[512];
	bool ok = cli_conf_parse(&a, "fuzz", text, size, ea, sizeof(ea));
	if (ok != cli_conf_parse(&b, "fuzz", text, size, eb, sizeof(eb)))
		abort();
	if (!ok) {
		unsigned line = 0;
		if (a.n || a.v || strcmp(ea, eb) != 0 || sscanf(ea, "fuzz:%u:", &line) != 1 ||
		    line == 0 || line > lines)
			abort();
		return 0;
	}
	if (a.n != b.n)
		abort();
	for (size_t i = 0; i < a.n; i++) {
		const struct cli_conf_entry *e = &a.v[i];
		if (!e->def || strcmp(e->key, e->def->name) != 0 || e->line == 0 || e->line > lines ||
		    !e->value[0] || strpbrk(e->value, "\n") || strcmp(e->value, b.v[i].value) != 0)
			abort();
		if (!e->def->arg && strcmp(e->value, "yes") != 0 && strcmp(e->value, "no") != 0)
			abort();
	}
	static const char *const cmds[] = {"capture", "collect", "archive", "relay"};
	size_t total = 0;
	for (size_t i = 0; i < 4; i++)
		cli_conf_each(&a, cli_conf_cmd_bit(cmds[i]), count, &total);
	if (total > 4 * a.n)
		abort();
	cli_conf_release(&a);
	cli_conf_release(&b);
	return 0;
}
