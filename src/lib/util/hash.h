/*
 * hash.h - keyed hashing for tables that hold attacker-chosen keys.
 *
 * Flow and group tables hash addresses and ports an attacker controls; with
 * an unkeyed hash they could send flows that all collide and turn the table
 * into a list.  floe_hash is SipHash-2-4 (libsodium crypto_shorthash) under
 * a key drawn from the system's random source when the table is created.
 */
#ifndef FLOE_UTIL_HASH_H
#define FLOE_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

struct floe_hashkey {
	uint8_t k[16];
};

/* Fills key from the system CSPRNG.  Returns 0, or -1 if libsodium could
 * not initialise. */
int floe_hashkey_random(struct floe_hashkey *key);
uint64_t floe_hash(const struct floe_hashkey *key, const void *data, size_t len);

#endif
