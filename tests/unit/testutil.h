/*
 * testutil.h - file helpers the C unit tests share: where the test data
 * is, read a whole file (golden text, a written .floe file to damage) and
 * write bytes to one.
 * For tests only: plain stdio and malloc, no budgets, no libfloe.
 */
#ifndef FLOE_TEST_UTIL_H
#define FLOE_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>

/* The folder of the unit tests' data files: $FLOE_TEST_DATA (set by
 * meson to tests/data of the source tree), else tests/data of the working
 * folder, for running a test program by hand from the source root. */
static inline const char *test_data_dir(void)
{
	const char *d = getenv("FLOE_TEST_DATA");
	return d ? d : "tests/data";
}

/* Reads the whole file at path into a malloc'd buffer with a NUL after
 * its last byte (so text can be used as a string); *len gets the number
 * of bytes.  NULL if the file cannot be opened or read, or on no memory.
 * The caller frees. */
static inline void *test_slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	char *buf = NULL;
	size_t cap = 0;
	*len = 0;
	for (;;) {
		if (*len + 4096 > cap) {
			size_t ncap = cap ? cap * 2 : 8192;
			char *nbuf = realloc(buf, ncap + 1);
			if (!nbuf) {
				free(buf);
				fclose(fp);
				return NULL;
			}
			buf = nbuf;
			cap = ncap;
		}
		size_t n = fread(buf + *len, 1, cap - *len, fp);
		*len += n;
		if (n == 0)
			break;
	}
	int bad = ferror(fp);
	fclose(fp);
	if (bad) {
		free(buf);
		return NULL;
	}
	buf[*len] = '\0';
	return buf;
}

/* Writes len bytes of p to the file at path, replacing it; a file that
 * cannot be written is left as it is (the test's later checks fail). */
static inline void test_spit(const char *path, const void *p, size_t len)
{
	FILE *fp = fopen(path, "wb");
	if (fp) {
		fwrite(p, 1, len, fp);
		fclose(fp);
	}
}

#endif
