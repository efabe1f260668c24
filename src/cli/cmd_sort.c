/*
 * cmd_sort.c - `floe sort`: order records by several keys, or keep the top
 * N (rasort -m, nfdump -O).  The work is in cmd_cluster.c and query/sort.h.
 */
#include "cli.h"

static const char sort_help[] =
	"usage: floe sort -r FILE... -m KEYS [--top N] [options] [FILTER]\n"
	"\n"
	"Prints records ordered by KEYS (rasort).  Counters, rates and durations sort\n"
	"biggest first, other fields ascending; KEY:asc or KEY:desc says it outright:\n"
	"  floe sort -r x.floe -m bytes            biggest first\n"
	"  floe sort -r x.floe -m saddr dport:desc\n"
	"\n"
	"  -r FILE...       input files (\"-\": standard input, e.g. from floe cluster -w -)\n"
	"  -R DIR... -t RANGE  archives and time ranges, as for 'floe read'\n"
	"  -m KEYS          sort keys\n"
	"  --top N          only the first N records (a heap of N, not a full sort)\n"
	"  --memory SIZE    memory target (default 256M); a bigger full sort writes\n"
	"                   sorted runs to temporary files in $TMPDIR and merges them\n"
	"  -s -o -n -u -p --no-header -w   as for 'floe read'\n";

int cmd_sort(int argc, char **argv)
{
	return cli_agg_main(CLI_AGG_SORT, sort_help, argc, argv);
}
