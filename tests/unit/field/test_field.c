/* test_field.c - the field catalog, formatting and the output writers. */
#include "tap.h"
#include "field.h"
#include "query/output.h"
#include "util/addr.h"
#include "util/timefmt.h"

#include <stdlib.h>
#include <strings.h>

/* Every Argus name the issue lists must resolve. */
static const char *const argus_names[] = {
	"stime", "ltime", "dur", "proto", "saddr", "sport", "dir", "daddr", "dport",
	"spkts", "dpkts", "pkts", "sbytes", "dbytes", "bytes", "sappbytes", "dappbytes",
	"state", "trans", "flgs", "smac", "dmac", "sttl", "dttl", "tcprtt", "synack",
	"ackdat", "sretrans", "dretrans", "load", "rate", "vlan", "srcid",
};

static struct floe_flow sample(void)
{
	struct floe_flow f = {0};
	f.stime = 1270661369794785000;
	f.ltime = 1270661369923989000;
	uint8_t v4a[4] = {172, 16, 0, 122}, v4b[4] = {199, 181, 132, 250};
	floe_addr_from_v4(f.saddr, v4a);
	floe_addr_from_v4(f.daddr, v4b);
	f.sport = 52166;
	f.dport = 80;
	f.proto = 6;
	f.ipver = 4;
	f.etype = FLOE_ETH_IPV4;
	f.spkts = 4;
	f.dpkts = 2;
	f.sbytes = 651;
	f.dbytes = 570;
	f.sappbytes = 379;
	f.dappbytes = 430;
	f.state = FLOE_ST_CON;
	f.trans = 1;
	f.stcpflags = FLOE_ST_NONE | 0x1b;
	f.flags = FLOE_F_MAC | FLOE_F_RETRANS;
	f.smac[5] = 1;
	return f;
}

static void test_catalog(void)
{
	size_t n;
	const struct floe_field *fs = floe_fields(&n);
	TAP_CHECK(n > 40, "catalog has %zu fields", n);
	for (size_t i = 0; i < sizeof(argus_names) / sizeof(argus_names[0]); i++)
		TAP_CHECK(floe_field_lookup(argus_names[i]) != NULL, "Argus name '%s' resolves", argus_names[i]);
	TAP_CHECK(floe_field_lookup("SrcAddr") == NULL || floe_field_lookup("srcaddr") != NULL, "aliases");
	TAP_CHECK(floe_field_lookup("SBYTES") == floe_field_lookup("sbytes"), "case-insensitive");
	TAP_CHECK(floe_field_lookup("nosuchfield") == NULL, "unknown field");
	/* Names and aliases are unique across the catalog. */
	int dups = 0;
	for (size_t i = 0; i < n; i++)
		if (floe_field_lookup(fs[i].name) != &fs[i])
			dups++;
	TAP_CHECK(dups == 0, "canonical names unique (%d clashes)", dups);
	for (size_t i = 0; i < n; i++) {
		bool ok = fs[i].size != 0 || fs[i].derive != NULL || fs[i].type == FLOE_FT_DIR;
		TAP_CHECK(ok && fs[i].title && fs[i].sqltype && fs[i].desc, "row '%s' complete", fs[i].name);
	}
	size_t nd;
	const struct floe_field *const *d = floe_fields_default(&nd);
	TAP_CHECK(nd == 13 && strcmp(d[0]->name, "stime") == 0 && d[nd] == NULL, "default columns (%zu)", nd);
}

static const struct { const char *field; const char *text; } formats[] = {
	{"stime", "1270661369.794785"},
	{"dur", "0.129204"},
	{"proto", "tcp"},
	{"saddr", "172.16.0.122"},
	{"sport", "52166"},
	{"dir", "->"},
	{"pkts", "6"},
	{"bytes", "1221"},
	{"appbytes", "809"},
	{"state", "CON"},
	{"flgs", "R"},
	{"stcpflags", "FSPA"},
	{"smac", "00:00:00:00:00:01"},
	{"etype", "0x0800"},
	{"load", "75601.375"},
};

static void test_format(void)
{
	struct floe_flow f = sample();
	struct floe_fmtopts o = {.timefmt = FLOE_TIME_EPOCH, .prec = 6};
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		char buf[128];
		floe_field_format(floe_field_lookup(formats[i].field), &f, &o, buf, sizeof(buf));
		TAP_CHECK(strcmp(buf, formats[i].text) == 0, "format %s = '%s' (want '%s')",
		          formats[i].field, buf, formats[i].text);
	}
	TAP_CHECK(floe_field_num(floe_field_lookup("bytes"), &f) == 1221.0, "numeric bytes");
	TAP_CHECK(floe_field_num(floe_field_lookup("dport"), &f) == 80.0, "numeric dport");
	f.flags |= FLOE_F_DIRUNK;
	char buf[16];
	floe_field_format(floe_field_lookup("dir"), &f, &o, buf, sizeof(buf));
	TAP_CHECK(strcmp(buf, "<?>") == 0, "dir uncertain both ways: %s", buf);
	f.proto = 17;
	f.flags = 0;
	floe_field_format(floe_field_lookup("dir"), &f, &o, buf, sizeof(buf));
	TAP_CHECK(strcmp(buf, "<->") == 0, "udp both ways: %s", buf);
	o.numeric = true;
	floe_field_format(floe_field_lookup("proto"), &f, &o, buf, sizeof(buf));
	TAP_CHECK(strcmp(buf, "17") == 0, "-n proto: %s", buf);
	TAP_CHECK(floe_proto_parse("tcp") == 6 && floe_proto_parse("icmp6") == 58 &&
	          floe_proto_parse("nope") == -1, "protocol names");
}

static char *render(enum floe_outfmt fmt, const char *spec)
{
	const struct floe_field *cols[32];
	size_t n;
	struct floe_errbuf eb = {0};
	if (floe_output_parse_cols(spec, cols, 32, &n, &eb) != FLOE_OK)
		return NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	struct floe_fmtopts o = {.timefmt = FLOE_TIME_EPOCH, .prec = 6};
	struct floe_output *out = floe_output_create(fp, fmt, (const struct floe_field *const *)cols, n, &o, true);
	struct floe_flow f = sample();
	if (floe_output_write(out, &f) != FLOE_OK || floe_output_finish(out) != FLOE_OK) {
		fclose(fp);
		free(buf);
		return NULL;
	}
	fclose(fp);
	return buf;
}

static void test_output(void)
{
	char *s = render(FLOE_OUT_CSV, "saddr,daddr bytes state");
	TAP_CHECK(s && strcmp(s, "saddr,daddr,bytes,state\n172.16.0.122,199.181.132.250,1221,CON\n") == 0,
	          "csv");
	free(s);
	s = render(FLOE_OUT_JSON, "stime saddr sport bytes state");
	TAP_CHECK(s && strcmp(s, "{\"stime\":\"2010-04-07T17:29:29.794785Z\",\"saddr\":\"172.16.0.122\","
	                         "\"sport\":52166,\"bytes\":1221,\"state\":\"CON\"}\n") == 0, "json");
	free(s);
	s = render(FLOE_OUT_TEXT, "saddr sport bytes");
	TAP_CHECK(s && strcmp(s, "           SrcAddr  Sport   TotBytes\n      172.16.0.122  52166       1221\n") == 0,
	          "text");
	free(s);
	const struct floe_field *cols[32];
	size_t n;
	struct floe_errbuf eb = {0};
	TAP_CHECK(floe_output_parse_cols("+bytes -dir", cols, 32, &n, &eb) == FLOE_OK && n == 13 &&
	          strcmp(cols[12]->name, "bytes") == 0, "+/- edit the defaults (%zu)", n);
	TAP_CHECK(floe_output_parse_cols("saddr bogus", cols, 32, &n, &eb) == FLOE_INVALID &&
	          strstr(eb.msg, "bogus"), "unknown field named: %s", eb.msg);
}

int main(void)
{
	test_catalog();
	test_format();
	test_output();
	return tap_done();
}
