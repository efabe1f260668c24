/*
 * lex.c - tokens of the filter language (docs/filter.md).
 *
 * Operators and parentheses are tokens of their own so `bytes>1M`,
 * `!tcp` and `(tcp)` need no blanks; everything else up to a blank or an
 * operator character is one word (keywords, field names, numbers with
 * units, IPv4/IPv6 addresses and prefixes, MACs, port ranges).  Reads only
 * within [s, s + len).
 */
#include "filter_int.h"

#include <string.h>

void floe_flt_lex_init(struct lexer *lx, const char *s, size_t len)
{
	lx->s = s;
	lx->len = len;
	lx->pos = 0;
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int is_special(char c)
{
	return strchr("()!<>=&|[],@", c) != NULL && c != '\0';
}

struct tok floe_flt_lex_next(struct lexer *lx)
{
	struct tok t = {TK_END, CMP_EQ, 0, 0};
	while (lx->pos < lx->len && is_blank(lx->s[lx->pos]))
		lx->pos++;
	t.off = lx->pos;
	if (lx->pos >= lx->len)
		return t;
	const char *p = lx->s + lx->pos;
	size_t left = lx->len - lx->pos;
	char c1 = left > 1 ? p[1] : '\0';
	t.len = 1;
	switch (p[0]) {
	case '(': t.kind = TK_LPAREN; break;
	case ')': t.kind = TK_RPAREN; break;
	case '&':
		t.kind = c1 == '&' ? TK_AND : TK_PUNCT;
		t.len = c1 == '&' ? 2 : 1;
		break;
	case '|':
		t.kind = c1 == '|' ? TK_OR : TK_PUNCT;
		t.len = c1 == '|' ? 2 : 1;
		break;
	case '!':
		if (c1 == '=') {
			t.kind = TK_CMP;
			t.cmp = CMP_NE;
			t.len = 2;
		} else {
			t.kind = TK_NOT;
		}
		break;
	case '=':
		t.kind = TK_CMP;
		t.cmp = CMP_EQ;
		t.len = c1 == '=' ? 2 : 1;
		break;
	case '<':
		t.kind = TK_CMP;
		t.cmp = c1 == '=' ? CMP_LE : CMP_LT;
		t.len = c1 == '=' ? 2 : 1;
		break;
	case '>':
		t.kind = TK_CMP;
		t.cmp = c1 == '=' ? CMP_GE : CMP_GT;
		t.len = c1 == '=' ? 2 : 1;
		break;
	case '[': case ']': case ',': case '@':
		t.kind = TK_PUNCT;
		break;
	default:
		t.kind = TK_WORD;
		t.len = 0;
		while (t.len < left && !is_blank(p[t.len]) && !is_special(p[t.len]))
			t.len++;
		break;
	}
	lx->pos += t.len;
	return t;
}

struct tok floe_flt_lex_path(struct lexer *lx)
{
	struct tok t = {TK_END, CMP_EQ, lx->pos, 0};
	if (lx->pos >= lx->len)
		return t;
	const char *p = lx->s + lx->pos;
	size_t left = lx->len - lx->pos;
	if (p[0] == '"') {
		const char *q = memchr(p + 1, '"', left - 1);
		if (!q || q == p + 1)
			return t;
		t.kind = TK_WORD;
		t.off = lx->pos + 1;
		t.len = (size_t)(q - p - 1);
		lx->pos += t.len + 2;
		return t;
	}
	while (t.len < left && !is_blank(p[t.len]) && p[t.len] != '(' && p[t.len] != ')')
		t.len++;
	if (t.len) {
		t.kind = TK_WORD;
		lx->pos += t.len;
	}
	return t;
}
