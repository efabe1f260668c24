/*
 * input.c - what the reading commands share about their input: the -r
 * files and -R directories opened as one source, and the columns a list
 * of key fields needs decoded (cli.h).  Only the front end: it prints
 * through cli_error and does not depend on any one command.
 */
#include "cli.h"
#include "archive/source.h"
#include "codec/codec.h"

#include <string.h>

struct floe_source *cli_source_open(const struct cli_opts *o, const struct floe_source_opts *so)
{
	struct floe_errbuf eb = {0};
	struct floe_source *src = floe_source_create(so, &eb);
	bool ok = src != NULL;
	for (size_t i = 0; ok && i < o->nrfiles; i++)
		ok = floe_source_add_file(src, o->rfiles[i], &eb) == FLOE_OK;
	for (size_t i = 0; ok && i < o->nrdirs; i++)
		ok = floe_source_add_dir(src, o->rdirs[i], &eb) == FLOE_OK;
	if (!ok) {
		cli_error(o, "%s", eb.msg);
		floe_source_destroy(src);
		return NULL;
	}
	return src;
}

bool cli_keys_columns(const char *keys, uint64_t *m)
{
	for (const char *p = keys ? keys : ""; *p;) {
		char w[64];
		p += strspn(p, " ,");
		size_t n = strcspn(p, " ,/");
		if (n >= sizeof(w))
			return false;
		memcpy(w, p, n);
		w[n] = '\0';
		const struct floe_field *fd = n ? floe_field_lookup(w) : NULL;
		if (n && (!fd || !fd->size))
			return false;
		if (fd)
			*m |= floe_columns_of(fd->off, fd->size);
		p += n;
		p += strcspn(p, " ,");
	}
	return true;
}
