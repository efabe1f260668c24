/*
 * cmd_fields.c - `floe fields`: the field catalog, as users need it to
 * write -s, -m and filters.  Generated from field.c's table.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

int cmd_fields(int argc, char **argv)
{
	(void)argv;
	if (argc > 0) {
		fputs("usage: floe fields\n\nLists every field: name, aliases, use, description.\n", stdout);
		return argc == 1 && (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0)
		               ? EXIT_OK : EXIT_USAGE;
	}
	size_t n;
	const struct floe_field *fs = floe_fields(&n);
	printf("%-10s %-24s %-5s %s\n", "NAME", "ALIASES", "USE", "DESCRIPTION");
	for (size_t i = 0; i < n; i++) {
		char use[6] = "-----";
		if (fs[i].kinds & FLOE_FK_KEY)
			use[0] = 'k';
		if (fs[i].kinds & FLOE_FK_VALUE)
			use[1] = 'v';
		if (fs[i].kinds & FLOE_FK_NUMERIC)
			use[2] = 'n';
		if (fs[i].kinds & FLOE_FK_DEFAULT)
			use[3] = 'd';
		use[4] = '\0';
		printf("%-10s %-24s %-5s %s\n", fs[i].name, fs[i].aliases ? fs[i].aliases : "", use,
		       fs[i].desc);
	}
	printf("\nUSE: k aggregation key, v summed value, n numeric (filters), d default column\n");
	return EXIT_OK;
}
