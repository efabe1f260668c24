/*
 * fuzz_chanswer.c - fuzz target for the parsers of ClickHouse's HTTP
 * answers (src/lib/export/clickhouse.c): a count result, the first line
 * of an error body, partition days.
 *
 * The input is an answer body.  Oracles: a count that parses is the
 * decimal the body spells (printing it back gives the body without its
 * newline); the error line is printable ASCII, terminated, within its
 * buffer, and no longer than the body; each line that parses as a day
 * prints back as itself.
 */
#include "export/clickhouse.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t v;
	if (floe_ch_parse_count(data, size, &v) == FLOE_OK) {
		char s[32];
		int n = snprintf(s, sizeof(s), "%" PRIu64, v);
		size_t body = size && data[size - 1] == '\n' ? size - 1 : size;
		/* Leading zeros are the one other spelling of the same number. */
		size_t z = 0;
		while (z + 1 < body && data[z] == '0')
			z++;
		if ((size_t)n != body - z || memcmp(s, data + z, (size_t)n) != 0)
			abort();
	}
	char line[64];
	size_t n = floe_ch_error_line(data, size, line, sizeof(line));
	if (n >= sizeof(line) || n > size || line[n] != '\0' || strlen(line) != n)
		abort();
	for (size_t i = 0; i < n; i++)
		if (line[i] < 0x20 || line[i] > 0x7e)
			abort();
	for (size_t off = 0; off < size;) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t len = nl ? (size_t)(nl - data) - off : size - off;
		int64_t day;
		if (floe_ch_parse_day(data + off, len, &day)) {
			char s[11];
			floe_db_day_str(day, '-', s);
			if (len != 10 || memcmp(s, data + off, 10) != 0)
				abort();
		}
		off += len + 1;
	}
	return 0;
}
