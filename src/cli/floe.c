/*
 * floe.c - the floe command: one binary, one subcommand per job.
 */
#include "cli.h"
#include "daemon.h"

#include <stdio.h>
#include <string.h>

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("floe %s\n", FLOE_VERSION);
	return EXIT_OK;
}

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{"capture", cmd_capture, "packets (pcap, pcapng) -> flow records"},
	{"collect", cmd_collect, "NetFlow v5/v9 and IPFIX exports -> flow records"},
	{"read", cmd_read, "print, filter or copy records from floe files"},
	{"cluster", cmd_cluster, "group and aggregate records (racluster, nfdump -A)"},
	{"sort", cmd_sort, "order records by keys, or the top N (rasort)"},
	{"bins", cmd_bins, "time series per bin (rabins, rwcount)"},
	{"merge", cmd_merge, "join two one-direction captures into two-way flows"},
	{"relay", cmd_relay, "merge stream servers' records and serve them (radium)"},
	{"export", cmd_export, "send records to another collector (IPFIX over UDP)"},
	{"archive", cmd_archive, "list, verify, expire and recover an archive's files"},
	{"graph", cmd_graph, "a time series chart of records (SVG, JSON)"},
	{"serve", cmd_serve, "the web UI: dashboard, host pages, queries, live view"},
	{"top", cmd_top, "a full-screen live view of flows (ratop)"},
	{"detect", cmd_detect, "scanners, mail spam, watchlist hits, beacons, baselines"},
	{"report", cmd_report, "daily traffic, accounting, top ports, talkers, broadcasters"},
	{"fields", cmd_fields, "list the fields usable in -s, filters and keys"},
	{"version", cmd_version, "print the version"},
};

static void usage(FILE *fp)
{
	fprintf(fp, "usage: floe COMMAND [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(fp, "\n'floe COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(0, NULL);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0) {
			int ac = argc - 2, rc;
			char **av = argv + 2;
			if (!cli_service_begin(commands[i].name, &ac, &av, &rc))   /* daemon.h */
				return rc;
			return commands[i].fn(ac, av);
		}
	fprintf(stderr, "floe: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
