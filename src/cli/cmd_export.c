/*
 * cmd_export.c - `floe export`: send records to another system.
 *
 *   floe export ipfix udp://HOST:PORT -r FILE... | -R DIR... [-t RANGE]
 *               [--mtu BYTES] [--domain ID] [--template-interval DUR] [FILTER]
 *
 * Reads like `floe read` (same sources, time range and filter) and sends
 * the matching records as IPFIX messages (RFC 7011) over UDP to a
 * collector (nfcapd, ipfixcol2, another floe collect).  docs/ipfix.md.
 */
#include "cli.h"
#include "export/ipfix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char export_help[] =
	"usage: floe export ipfix udp://HOST:PORT -r FILE... | -R DIR... [options] [FILTER]\n"
	"\n"
	"Sends the records of floe files as IPFIX (RFC 7011) over UDP.\n"
	"\n"
	"  -r FILE...       input files (\"-\" reads standard input)\n"
	"  -R DIR...        every .floe file below DIR, e.g. an archive\n"
	"  -t RANGE         records overlapping RANGE (as floe read)\n"
	"  --mtu BYTES      largest IPFIX message (default 1400)\n"
	"  --domain ID      Observation Domain ID (default 0)\n"
	"  --template-interval DUR  send the templates again after DUR (default 60s)\n"
	"  --stats          print counts of blocks and records to stderr\n"
	"\n"
	"An IPFIX file instead: floe read -r FILE -o ipfix -w OUT.ipfix\n";

int cmd_export(int argc, char **argv)
{
	if (argc < 1 || strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
		fputs(export_help, argc < 1 ? stderr : stdout);
		return argc < 1 ? EXIT_USAGE : EXIT_OK;
	}
	if (strcmp(argv[0], "ipfix") != 0) {
		fprintf(stderr, "floe export: unknown format '%s' (ipfix) (try 'floe export --help')\n",
		        argv[0]);
		return EXIT_USAGE;
	}
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "floe export: give the collector: udp://HOST:PORT "
		                "(try 'floe export --help')\n");
		return EXIT_USAGE;
	}
	const char *url = argv[1];
	/* Options of export alone are taken out before the shared parser. */
	char **av = calloc((size_t)argc, sizeof(*av));
	if (!av)
		return EXIT_FAIL;
	int ac = 0;
	uint64_t mtu = 0, domain = 0;
	int64_t tmpl = 0;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
		bool bad = false;
		if (strcmp(a, "--mtu") == 0) {
			bad = !next || !cli_parse_count(next, &mtu) || mtu < 512 || mtu > 65535;
			i++;
		} else if (strcmp(a, "--domain") == 0) {
			bad = !next || !cli_parse_count(next, &domain) || domain > UINT32_MAX;
			i++;
		} else if (strcmp(a, "--template-interval") == 0) {
			bad = !next || !cli_parse_duration(next, &tmpl) || tmpl < 1000000000;
			i++;
		} else {
			av[ac++] = argv[i];
			continue;
		}
		if (bad) {
			fprintf(stderr, "floe export: bad %s '%s' (try 'floe export --help')\n", a,
			        next ? next : "");
			free(av);
			return EXIT_USAGE;
		}
	}
	struct cli_opts o = {.cmd = "export"};
	int rc;
	bool go = cli_begin(&o, OPT_READ | OPT_SOURCE, ac, av, export_help, &rc);
	free(av);
	if (!go)
		return rc;
	o.export_url = url;
	o.ipfix_mtu = (size_t)mtu;
	o.ipfix_domain = (uint32_t)domain;
	o.ipfix_template_secs = tmpl / 1000000000;
	return cli_read_run(&o);
}
