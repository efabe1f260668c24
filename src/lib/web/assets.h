/*
 * assets.h - the web UI's static files (src/web/), embedded in the binary
 * at build time by src/web/embed.py, so floe serve needs no files at run
 * time and loads nothing from other sites.
 *
 * Must not depend on anything.
 */
#ifndef FLOE_WEB_ASSETS_H
#define FLOE_WEB_ASSETS_H

#include <stddef.h>

struct floe_web_asset {
	const char *path;             /* "/static/app.js"; pages by their URL: "/", "/host" */
	const char *type;             /* Content-Type */
	const unsigned char *data;
	size_t len;
};

/* The asset served at path (exact match), or NULL. */
const struct floe_web_asset *floe_web_asset_find(const char *path);

#endif
