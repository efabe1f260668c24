/*
 * codec_int.h - the block codec's insides, shared by block.c (one block),
 * file.c (files) and the fuzz target and tests.  docs/format.md is the
 * spec; the constants here are its numbers.
 *
 * Must not depend on: meter, decode, filter, libpcap.
 */
#ifndef FLOE_CODEC_INT_H
#define FLOE_CODEC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zstd.h>

#include "codec.h"

#define FLOE_FMT_MAJOR 1
#define FLOE_FMT_MINOR 0

/* File header (format.md "File header"). */
#define FLOE_FILE_MAGIC "FLOE"
enum {
	FH_MAGIC = 0,
	FH_MAJOR = 4,
	FH_MINOR = 6,
	FH_HDRLEN = 8,
	FH_FLAGS = 12,
	FH_CREATED = 16,
	FH_CREATOR = 24,
	FH_INSTANCE = 88,
	FH_RESERVED = 152,
	FH_CRC = 156,
	FH_LEN = 160,
};
#define FLOE_FILE_HDR_MAX 4096u   /* a newer minor may grow the header to this */

/* Block frame header (format.md "Block frame"). */
#define FLOE_BLOCK_MAGIC "FLBK"
enum {
	BH_MAGIC = 0,
	BH_HDRLEN = 4,
	BH_CODEC = 6,
	BH_COLVER = 8,
	BH_FLAGS = 10,
	BH_NREC = 12,
	BH_TMIN = 16,
	BH_TMAX = 24,
	BH_SUMLEN = 32,
	BH_RAWLEN = 36,
	BH_COMPLEN = 40,
	BH_SUMCRC = 44,
	BH_PAYCRC = 48,
	BH_CRC = 52,
	BH_LEN = 56,
};
#define FLOE_BLOCK_HDR_MAX 1024u

/* Block summary (format.md "Summary"). */
enum {
	BS_SPORT_MIN = 0,
	BS_SPORT_MAX = 2,
	BS_DPORT_MIN = 4,
	BS_DPORT_MAX = 6,
	BS_PROTO = 8,
	BS_BLOOM_BITS = 40,
	BS_BLOOM_K = 44,
	BS_BLOOM = 48,
	BS_LEN = 48,  /* fixed part; the Bloom filter follows */
};
#define FLOE_BLOOM_BITS_PER_ADDR 10u
#define FLOE_BLOOM_K 7u
/* Bound on a Bloom filter a reader accepts: 16 bits per address. */
#define FLOE_BLOOM_MAX_BITS (2u * FLOE_BLOCK_MAX_RECORDS * 16u)
#define FLOE_SUMMARY_MAX (BS_LEN + FLOE_BLOOM_MAX_BITS / 8u + 1024u)
/* Bound on a block's raw (uncompressed) payload and its compressed form. */
#define FLOE_RAW_MAX (64u << 20)

#define FLOE_COLVER 1u

/* Footer index and trailer (format.md "Footer" and "Trailer"). */
#define FLOE_FOOTER_MAGIC "FLIX"
enum {
	FF_MAGIC = 0,
	FF_COUNT = 4,
	FF_ENTLEN = 8,
	FF_AFLEN = 12,      /* bytes of the address filter after the entries */
	FF_ENTCRC = 16,
	FF_CRC = 20,
	FF_LEN = 24,
};
enum {
	FE_OFFSET = 0,
	FE_NREC = 8,
	FE_SUMLEN = 12,
	FE_TMIN = 16,
	FE_TMAX = 24,
	FE_SUMOFF = 32,
	FE_FRAMELEN = 40,
	FE_RESERVED = 44,
	FE_LEN = 48,
};
/* Address filter, after the footer entries (format.md "Address filter"):
 * one Bloom filter over every address of the file, cut in pages so that a
 * lookup reads and checks one page. */
#define FLOE_AF_MAGIC "FLAF"
enum {
	AF_MAGIC = 0,
	AF_PAGES = 4,
	AF_PAGE_BYTES = 8,
	AF_K = 12,
	AF_ADDRS = 16,
	AF_TABCRC = 24,
	AF_CRC = 28,
	AF_LEN = 32,
};
#define FLOE_AF_BITS_PER_ADDR 8u
#define FLOE_AF_K 6u
#define FLOE_AF_PAGE_MAX 4096u          /* bytes */
#define FLOE_AF_PAGE_MIN 64u
#define FLOE_AF_MAX_ADDRS (4u << 20)    /* keys held (codec.h af_max_addrs) */
#define FLOE_AF_MAX_PAGES (FLOE_AF_MAX_ADDRS * FLOE_AF_BITS_PER_ADDR / (8u * FLOE_AF_PAGE_MAX) + 1u)

/* The filter's 32-bit key of an address: (uint32)h ^ (uint32)(h >> 32)
 * of floe_bloom_hash. */
uint32_t floe_af_key(const uint8_t addr[16]);
/* The page (0..pages-1) key lands in. */
uint32_t floe_af_page(uint32_t key, uint32_t pages);
/* Sets / tests key's k bits in one page of page_bytes bytes. */
void floe_af_set(uint8_t *page, uint32_t page_bytes, unsigned k, uint32_t key);
bool floe_af_test(const uint8_t *page, uint32_t page_bytes, unsigned k, uint32_t key);

#define FLOE_TRAILER_MAGIC "FLND"
enum {
	FT_FOOTER_OFF = 0,
	FT_COUNT = 8,
	FT_MAGIC = 12,
	FT_RESERVED = 16,
	FT_CRC = 20,
	FT_LEN = 24,
};

enum floe_codec_id { FLOE_CODEC_NONE = 0, FLOE_CODEC_ZSTD = 1 };

/* Column encodings (format.md "Column encodings"). */
enum floe_col_enc {
	FLOE_ENC_FIXED = 1,       /* fixed width, byte planes */
	FLOE_ENC_VARINT = 2,      /* unsigned LEB128 */
	FLOE_ENC_ZIGZAG = 3,      /* zigzag LEB128 */
	FLOE_ENC_DELTA = 4,       /* zigzag LEB128 of v[i] - v[i-1], v[-1] = 0 */
	FLOE_ENC_DELTA_STIME = 5, /* zigzag LEB128 of v[i] - stime[i] */
	FLOE_ENC_CONST = 6,       /* one value, fixed width */
	FLOE_ENC_ADDR = 7,        /* v4 bitmap, v4 planes, v6 planes */
	FLOE_ENC__COUNT
};

#define FLOE_COL_MAX 44  /* highest column id this version knows */

/* A parsed block frame header. */
struct floe_block_frame {
	uint16_t hdr_len, codec, colver, flags;
	uint32_t nrec, summary_len, raw_len, comp_len;
	int64_t tmin, tmax;
	uint32_t summary_crc, payload_crc;
	uint64_t total;  /* hdr_len + summary_len + comp_len */
};

/* Parses the frame header at p (len bytes available).  TRUNCATED if len is
 * too short to hold it, MALFORMED on bad magic or out-of-range fields,
 * CHECKSUM if verify_crc and the header CRC fails. */
enum floe_err floe_frame_parse(const uint8_t *p, size_t len, struct floe_block_frame *fr,
                               bool verify_crc, struct floe_errbuf *eb);
/* Parses the summary (fr->summary_len bytes at p); s->bloom borrows p. */
enum floe_err floe_summary_parse(const uint8_t *p, const struct floe_block_frame *fr,
                                 struct floe_block_summary *s, bool verify_crc,
                                 struct floe_errbuf *eb);

/* Reusable decoding scratch. */
struct floe_dec {
	ZSTD_DCtx *zd;
	uint8_t *raw;
	size_t raw_cap;
	uint64_t *tmp;
	size_t tmp_cap;  /* in values */
	uint64_t colmask; /* columns to decode (bit id-1); the rest are left zero */
	/* optional probe: decode probemask first, and the rest only for the
	 * records probe keeps (only those are output); probe_miss is set when
	 * it keeps none */
	uint64_t probemask;
	bool (*probe)(void *ud, const struct floe_flow *rec);
	void *probe_ud;
	bool probe_miss;
	struct floe_flow *tile;  /* scratch rows of the probe's columns */
};
void floe_dec_init(struct floe_dec *d);
void floe_dec_release(struct floe_dec *d);
/* Decodes the payload (fr->comp_len bytes at p) of a parsed frame into
 * out[0..*nout): every record (fr->nrec), or with a probe the records it
 * keeps.  out has room for fr->nrec records. */
enum floe_err floe_payload_decode(struct floe_dec *d, const struct floe_block_frame *fr,
                                  const uint8_t *p, bool verify_crc, struct floe_flow *out,
                                  size_t *nout, struct floe_errbuf *eb);
/* floe_block_decode with reusable scratch and CRC checks optional (fuzzing
 * reaches the column decoders only with verify_crc false). */
enum floe_err floe_block_decode_ex(struct floe_dec *d, const uint8_t *p, size_t len,
                                   struct floe_flow *out, size_t *n, size_t *used,
                                   bool verify_crc, struct floe_errbuf *eb);

/* Reusable encoding state. */
struct floe_enc {
	ZSTD_CCtx *zc;
	int level;
	uint16_t codec;                 /* FLOE_CODEC_ZSTD, or NONE for tests */
	uint8_t enc[FLOE_COL_MAX + 1];  /* per column id: 0 = the table's choice */
	uint8_t *raw;
	size_t raw_cap;
	uint8_t *frame;                 /* the encoded block */
	size_t frame_cap;
	uint64_t *tmp;
	size_t tmp_cap;
	uint8_t *cols;                  /* the block transposed, column by column */
	size_t cols_cap;
	uint64_t *hset;                 /* hash set of the block's address hashes */
	size_t hset_cap;
	uint64_t *hlist;                /* the last block's distinct address */
	size_t hlist_cap, nhlist;       /* hashes (floe_bloom_hash), nhlist of them */
};
/* level 0 = 1.  Returns NOMEM. */
enum floe_err floe_enc_init(struct floe_enc *e, int level);
void floe_enc_release(struct floe_enc *e);
/* Encodes n (1..FLOE_BLOCK_MAX_RECORDS) records into e->frame[0..*len). */
enum floe_err floe_block_encode(struct floe_enc *e, const struct floe_flow *recs, size_t n,
                                size_t *len, struct floe_errbuf *eb);

/* The Bloom filter's address hash (format.md "Bloom filter"). */
uint64_t floe_bloom_hash(const uint8_t addr[16]);

/* The file header as both readers of files (file.c, pipe.c) check it.
 * floe_fh_check: b holds at least the header's first 12 bytes (magic,
 * version, length; the caller has checked the magic); *major, *minor and
 * *hdr_len get them.  UNSUPPORTED for a newer major format, MALFORMED for
 * major 0 or a length outside [FH_LEN, FLOE_FILE_HDR_MAX]; eb quotes name.
 * floe_fh_decode: h holds the whole header of hdr_len bytes checked by
 * floe_fh_check; fills info but for has_footer.  CHECKSUM (only when
 * verify) if the header's CRC does not match; info is then untouched. */
FLOE_WUR enum floe_err floe_fh_check(const uint8_t *b, const char *name, unsigned *major,
                                     unsigned *minor, uint32_t *hdr_len, struct floe_errbuf *eb);
FLOE_WUR enum floe_err floe_fh_decode(const uint8_t *h, uint32_t hdr_len, unsigned major,
                                      unsigned minor, bool verify, const char *name,
                                      struct floe_file_info *info, struct floe_errbuf *eb);

/* Tests and fuzzing: make a reader skip CRC checks. */
void floe_reader_set_verify(struct floe_reader *r, bool verify_crc);

#endif
