/*
 * field.h - the field catalog: one table, a row per field.
 *
 * Every name a user types or reads comes from here: output columns (-s),
 * filter fields, aggregation keys, CSV/JSON names and text headers (and,
 * later, SQL schemas).  A row says how to read the value out of a record,
 * how to print it, and what it may be used for.  Adding a field is one row
 * plus the code that fills struct floe_flow.
 *
 * Must not depend on: meter, decode, codec, filter.
 */
#ifndef FLOE_FIELD_H
#define FLOE_FIELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"

enum floe_ftype {
	FLOE_FT_TIME,     /* int64 ns since the epoch */
	FLOE_FT_DUR,      /* int64 ns, printed in seconds */
	FLOE_FT_ADDR,     /* 16-byte address */
	FLOE_FT_MAC,      /* 6-byte MAC */
	FLOE_FT_PORT,     /* uint16; ICMP type/code printed as numbers */
	FLOE_FT_PROTO,    /* IP protocol, printed by name */
	FLOE_FT_UINT,     /* unsigned counter */
	FLOE_FT_STATE,    /* enum floe_state, printed as Argus's name */
	FLOE_FT_DIR,      /* Argus's direction arrow, derived */
	FLOE_FT_FLAGS,    /* record flags, printed as letters */
	FLOE_FT_TCPFLAGS, /* TCP flags, printed as letters (FSRPAUEC) */
	FLOE_FT_HEX,      /* unsigned, printed in hex (etype) */
	FLOE_FT_RATE,     /* double, derived (bits/s, pkts/s) */
};

/* What a field may be used for. */
enum floe_fkind {
	FLOE_FK_KEY     = 1u << 0,  /* aggregation key (-m) */
	FLOE_FK_VALUE   = 1u << 1,  /* summed/merged value */
	FLOE_FK_NUMERIC = 1u << 2,  /* has a numeric value for comparisons */
	FLOE_FK_DEFAULT = 1u << 3,  /* in the default output */
	FLOE_FK_LOCAL   = 1u << 4,  /* relative to the local networks: valid only
	                             * on records oriented by --local
	                             * (query/local.h); not usable in filters */
};

struct floe_field {
	const char *name;       /* canonical, lower case: "sbytes" */
	const char *aliases;    /* space-separated other names, or NULL */
	const char *title;      /* text/CSV header, ra-style: "SrcBytes" */
	enum floe_ftype type;
	uint8_t kinds;          /* enum floe_fkind */
	int8_t width;           /* text column width; negative = left aligned */
	uint16_t off;           /* offset in struct floe_flow (stored fields) */
	uint8_t size;           /* size of that member; 0 = derived */
	const char *sqltype;    /* PostgreSQL/ClickHouse column type */
	const char *desc;       /* one line for `floe fields` */
	/* Derived numeric value (when size == 0 and FLOE_FK_NUMERIC). */
	double (*derive)(const struct floe_flow *f);
};

/* All fields, in catalog order. */
const struct floe_field *floe_fields(size_t *n);
/* By name or alias, case-insensitive; NULL if unknown. */
const struct floe_field *floe_field_lookup(const char *name);
/* The default output columns (ra's default set), NULL-terminated. */
const struct floe_field *const *floe_fields_default(size_t *n);

/* The numeric value of a FLOE_FK_NUMERIC field (times and durations in
 * seconds as double; counters exactly up to 2^53). */
double floe_field_num(const struct floe_field *fd, const struct floe_flow *f);
/* Exact unsigned value of an integer-typed stored field (UINT, PORT, PROTO,
 * STATE, TIME as bits); 0 for others. */
uint64_t floe_field_u64(const struct floe_field *fd, const struct floe_flow *f);

struct floe_fmtopts {
	int timefmt;            /* enum floe_timefmt (util/timefmt.h) */
	int prec;               /* fractional digits of times/durations (6) */
	bool numeric;           /* -n: no protocol or port names */
};

/* Formats the field of f as text into buf (always terminated). Returns the
 * length written. */
size_t floe_field_format(const struct floe_field *fd, const struct floe_flow *f,
                         const struct floe_fmtopts *o, char *buf, size_t len);

/* Protocol name ("tcp") or NULL, and the reverse (returns -1 if unknown). */
const char *floe_proto_name(unsigned proto);
int floe_proto_parse(const char *name);

#endif
