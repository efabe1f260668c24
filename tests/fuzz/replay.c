/*
 * replay.c - runs a fuzz target over every file of its corpus directories,
 * so the corpus and every past crash are replayed by the normal test suite
 * without libFuzzer.  Usage: replay_NAME DIR_OR_FILE...
 * Prints TAP: one test point per directory (a crash aborts the run, which
 * the harness reports as a failure).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			uint8_t *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		if (got == 0)
			break;
		n += got;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	int point = 0, failed = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0)
			continue;  /* an absent crashes/ dir is fine */
		long files = 0, errors = 0;
		if (S_ISDIR(st.st_mode)) {
			DIR *d = opendir(argv[i]);
			if (!d) {
				errors++;
			} else {
				char **names = NULL;
				size_t nn = 0;
				struct dirent *e;
				while ((e = readdir(d))) {
					if (e->d_name[0] == '.')
						continue;
					char **nm = realloc(names, (nn + 1) * sizeof(*names));
					if (!nm)
						break;
					names = nm;
					names[nn++] = strdup(e->d_name);
				}
				closedir(d);
				qsort(names, nn, sizeof(*names), cmp);
				for (size_t k = 0; k < nn; k++) {
					char path[4096];
					snprintf(path, sizeof(path), "%s/%s", argv[i], names[k]);
					if (run_file(path) != 0)
						errors++;
					else
						files++;
					free(names[k]);
				}
				free(names);
			}
		} else if (run_file(argv[i]) != 0) {
			errors++;
		} else {
			files++;
		}
		point++;
		if (errors)
			failed++;
		printf("%s %d - replayed %ld inputs from %s\n", errors ? "not ok" : "ok",
		       point, files, argv[i]);
	}
	printf("1..%d\n", point);
	return failed ? 1 : 0;
}
