/* floe.c - the floe command: subcommand dispatch. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "version") == 0) {
		printf("floe 0.1.0\n");
		return 0;
	}
	fprintf(stderr, "usage: floe COMMAND [options]\n");
	return 2;
}
