/* hash.c - SipHash-2-4 through libsodium. */
#include "hash.h"

#include <sodium.h>
#include <string.h>

_Static_assert(crypto_shorthash_KEYBYTES == sizeof(((struct floe_hashkey *)0)->k),
               "SipHash key size");
_Static_assert(crypto_shorthash_BYTES == 8, "SipHash output size");

int floe_hashkey_random(struct floe_hashkey *key)
{
	if (sodium_init() < 0)
		return -1;
	randombytes_buf(key->k, sizeof(key->k));
	return 0;
}

uint64_t floe_hash(const struct floe_hashkey *key, const void *data, size_t len)
{
	unsigned char out[crypto_shorthash_BYTES];
	crypto_shorthash(out, data, len, key->k);
	uint64_t h;
	memcpy(&h, out, sizeof(h));
	return h;
}
