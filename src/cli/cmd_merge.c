/*
 * cmd_merge.c - `floe merge A B`: two captures of one link, each seeing
 * one direction, joined into bidirectional flows (query/merge.h).  The
 * reading and output are cmd_cluster.c's.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char merge_help[] =
	"usage: floe merge A B [options] [FILTER]    (or: floe merge -r A B ...)\n"
	"\n"
	"Joins two floe files of the same link, each from a tap that saw one\n"
	"direction, into bidirectional flows.  A record of A joins the record of B\n"
	"with the reverse key (addresses and ports swapped; ICMP by addresses) whose\n"
	"time overlaps its own (1 s of slack for the taps' clocks): A's counters\n"
	"become the source's, B's the destination's.  Records without a partner\n"
	"pass through.  B is held in memory: give the smaller file as B.\n"
	"\n"
	"  -w FILE          write the flows as a floe file (\"-\": stdout)\n"
	"  --sort KEYS --top N --memory SIZE   as for 'floe cluster'\n"
	"  -s -o -n -u -p --no-header --stats  as for 'floe read'\n";

int cmd_merge(int argc, char **argv)
{
	/* "floe merge A B ...": the two leading words are the inputs */
	if (argc >= 2 && argv[0][0] != '-' && argv[1][0] != '-') {
		char **nv = calloc((size_t)argc + 2, sizeof(*nv));
		if (!nv) {
			fprintf(stderr, "floe: out of memory\n");
			return EXIT_FAIL;
		}
		nv[0] = (char *)"-r";
		for (int i = 0; i < argc; i++)
			nv[i + 1] = argv[i];
		int rc = cli_agg_main(CLI_AGG_MERGE, merge_help, argc + 1, nv);
		free(nv);
		return rc;
	}
	return cli_agg_main(CLI_AGG_MERGE, merge_help, argc, argv);
}
