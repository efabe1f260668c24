/*
 * words.h - splitting option values into words the way every list option
 * of floe accepts them: separated by spaces, tabs or commas
 * (-s saddr,daddr bytes; -m saddr/24 dport; --sort bytes:desc).
 */
#ifndef FLOE_UTIL_WORDS_H
#define FLOE_UTIL_WORDS_H

#include <stdbool.h>
#include <stddef.h>

/* Finds the next word at *p: sets *w and *len and advances *p past it;
 * false when only separators remain. */
static inline bool floe_next_word(const char **p, const char **w, size_t *len)
{
	const char *s = *p;
	while (*s == ' ' || *s == ',' || *s == '\t')
		s++;
	if (!*s) {
		*p = s;
		return false;
	}
	const char *e = s;
	while (*e && *e != ' ' && *e != ',' && *e != '\t')
		e++;
	*w = s;
	*len = (size_t)(e - s);
	*p = e;
	return true;
}

#endif
