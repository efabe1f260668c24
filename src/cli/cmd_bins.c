/*
 * cmd_bins.c - `floe bins`: time series (rabins, rwcount).  The work is in
 * cmd_cluster.c and query/cluster.h (a cluster with a time-bin key).
 */
#include "cli.h"

static const char bins_help[] =
	"usage: floe bins -r FILE... -b BIN [-m KEYS] [-s COLUMNS] [options] [FILTER]\n"
	"\n"
	"Counts records, packets and bytes per time bin (rwcount, rabins), for each\n"
	"group of KEYS if given.  A record covering several bins is spread over them\n"
	"in proportion to its time in each; every counter is apportioned with\n"
	"floor(X * t_end / dur) - floor(X * t_start / dur), so per-record totals, and\n"
	"so the totals of the series, are exact.\n"
	"\n"
	"  -r FILE... -R DIR... -t RANGE   inputs, as for 'floe read'\n"
	"  -b BIN           bin width: 60s, 5m, 1h, 1d\n"
	"  -m KEYS          one series per key group (as for cluster)\n"
	"  -s COLUMNS       default: stime KEYS trans pkts bytes load\n"
	"  --memory SIZE    memory target (default 256M), spills beyond\n"
	"  -w -o -n -u -p --no-header --stats   as for 'floe cluster'\n";

int cmd_bins(int argc, char **argv)
{
	return cli_agg_main(CLI_AGG_BINS, bins_help, argc, argv);
}
