/*
 * test_httpq.c - golden tests of the web API's query string parser
 * (src/lib/web/httpq.c): tests/data/web/httpq.txt holds pairs of lines,
 * "IN <query string>" and "OUT <floe_httpq_describe of the result>" or
 * "OUT error <CODE>: <message>".  Times are UTC, "now" is fixed.
 */
#include "tap.h"
#include "testutil.h"
#include "web/httpq.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *code_name(enum floe_err e)
{
	static const char *const names[] = {"OK", "EOF", "MALFORMED", "TRUNCATED", "NOMEM", "IO",
	                                    "LIMIT", "AGAIN", "UNSUPPORTED", "INVALID", "CHECKSUM"};
	return (unsigned)e < sizeof(names) / sizeof(names[0]) ? names[e] : "?";
}

static void run(const char *qs, char *out, size_t len)
{
	static struct floe_httpq q;
	struct floe_errbuf eb = {0};
	enum floe_err e = floe_httpq_parse(qs, strlen(qs), 1749794400000000000LL, &q, &eb);
	if (e == FLOE_OK)
		floe_httpq_describe(&q, out, len);
	else
		snprintf(out, len, "error %s: %s", code_name(e), eb.msg);
}

static void test_decode(void)
{
	static const struct {
		const char *in;
		const char *out;   /* NULL: an error */
	} cases[] = {
		{"/api/host/10.0.0.1", "/api/host/10.0.0.1"},
		{"/api/host/2001%3Adb8%3A%3A1", "/api/host/2001:db8::1"},
		{"/a+b", "/a+b"},          /* '+' is a space only in query strings */
		{"/a%2", NULL},
		{"/a%zz", NULL},
		{"/a%00b", NULL},
		{"", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[64];
		struct floe_errbuf eb = {0};
		enum floe_err e = floe_httpq_decode(cases[i].in, strlen(cases[i].in), out, sizeof(out), &eb);
		if (cases[i].out)
			TAP_CHECK(e == FLOE_OK && strcmp(out, cases[i].out) == 0, "decode '%s' -> '%s'",
			          cases[i].in, e == FLOE_OK ? out : eb.msg);
		else
			TAP_CHECK(e == FLOE_MALFORMED && eb.msg[0], "decode '%s' fails: %s", cases[i].in, eb.msg);
	}
	char small[4];
	struct floe_errbuf eb = {0};
	TAP_CHECK(floe_httpq_decode("/abcdef", 7, small, sizeof(small), &eb) == FLOE_LIMIT,
	          "decode past the buffer: LIMIT");
}

int main(void)
{
	setenv("TZ", "UTC0", 1);
	tzset();
	char path[1024];
	snprintf(path, sizeof(path), "%s/web/httpq.txt", test_data_dir());
	FILE *fp = fopen(path, "r");
	TAP_CHECK(fp != NULL, "open %s", path);
	if (!fp)
		return tap_done();
	static char line[70000], in[70000];
	bool have_in = false;
	while (fgets(line, sizeof(line), fp)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "IN ", 3) == 0 || strcmp(line, "IN") == 0) {
			snprintf(in, sizeof(in), "%s", line[2] ? line + 3 : "");
			have_in = true;
		} else if (strncmp(line, "OUT ", 4) == 0 && have_in) {
			char got[70000];
			run(in, got, sizeof(got));
			TAP_CHECK(strcmp(got, line + 4) == 0, "'%s'", in);
			if (strcmp(got, line + 4) != 0)
				TAP_DIAG("got      %s\n# expected %s", got, line + 4);
			have_in = false;
		}
	}
	fclose(fp);
	/* a query string at the limit */
	char *big = malloc(FLOE_HTTPQ_MAX_QUERY + 8);
	memset(big, 'a', FLOE_HTTPQ_MAX_QUERY + 7);
	memcpy(big, "filter=", 7);
	big[FLOE_HTTPQ_MAX_QUERY] = '\0';
	char got[256];
	run(big, got, sizeof(got));
	TAP_CHECK(strncmp(got, "error LIMIT", 11) == 0, "a query string of %d bytes: %s",
	          FLOE_HTTPQ_MAX_QUERY, got);
	big[FLOE_HTTPQ_MAX_QUERY - 1] = '\0';
	struct floe_httpq *q = malloc(sizeof(*q));
	struct floe_errbuf eb = {0};
	TAP_CHECK(floe_httpq_parse(big, strlen(big), 0, q, &eb) == FLOE_OK &&
	          strlen(q->filter) == FLOE_HTTPQ_MAX_QUERY - 8, "the longest filter fits");
	free(q);
	free(big);
	test_decode();
	return tap_done();
}
