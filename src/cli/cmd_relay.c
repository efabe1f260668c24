/*
 * cmd_relay.c - `floe relay`: subscribe to several stream servers, merge
 * their records and serve them again (Argus's radium).
 *
 *   floe relay -S HOST:PORT [-S ...] --listen [ADDR:]PORT [options] [FILTER]
 *
 * Records keep their sensor id and seq, so a subscriber of the relay
 * proves per sensor that it lost nothing.  A source that goes away is
 * reconnected with backoff and resumed after the last seq the relay has
 * of each of its sensors; one that is not up at the start is waited for.
 * The relay ends when every source has ended (END), or on SIGINT/SIGTERM.
 */
#include "cli.h"

#include <stdio.h>

static const char relay_help[] =
	"usage: floe relay -S HOST:PORT [-S HOST:PORT...] --listen [ADDR:]PORT [options] [FILTER]\n"
	"\n"
	"Merges the records of stream servers and serves them (docs/stream.md).\n"
	"\n"
	"  -S HOST:PORT     a source (repeatable); reconnected with backoff when it goes\n"
	"                   away, resuming after the last seq of each of its sensors\n"
	"  --listen [ADDR:]PORT  where subscribers connect (loopback unless ADDR; other\n"
	"                   addresses need --tls-cert, --tls-key and --token)\n"
	"  --tls-cert FILE --tls-key FILE  the relay's certificate (TLS on)\n"
	"  --tls-ca FILE    the CA of sources' and subscribers' certificates\n"
	"  --token FILE     the token subscribers must send, and the relay sends\n"
	"  --subscribers N  wait for N subscribers before the first record\n"
	"  --spool DIR --spool-max SIZE  keep the blocks served in DIR (at most SIZE,\n"
	"                   default 1G) for subscribers that were away; restarted on DIR,\n"
	"                   the relay resumes its sources after the spool's last seq\n"
	"  --count N, --duration DUR  stop after N records or DUR\n"
	"  -w FILE, --archive DIR  also write the records (as 'floe read')\n"
	"  --instance NAME  the relay's name in hellos (default floe)\n"
	"  --stats          print the client's and the server's counts to stderr\n"
	"\n"
	"FILTER is applied at the sources' servers (docs/filter.md).\n";

int cmd_relay(int argc, char **argv)
{
	struct cli_opts o = {.cmd = "relay"};
	int rc;
	if (!cli_begin(&o, OPT_STREAM | OPT_LISTEN | OPT_WRITE | OPT_ARCHIVE, argc, argv,
	               relay_help, &rc))
		return rc;
	if (o.nstreams == 0 || !o.listen) {
		cli_error(&o,
		          "give -S HOST:PORT and --listen [ADDR:]PORT (try 'floe relay --help')");
		cli_opts_release(&o);
		return EXIT_USAGE;
	}
	o.stream_wait = true;
	return cli_read_run(&o);
}
