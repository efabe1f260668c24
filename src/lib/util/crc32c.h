/*
 * crc32c.h - CRC32C (Castagnoli), the checksum of floe's files and streams.
 *
 * Polynomial 0x1EDC6F41, reflected 0x82F63B78, initial value and final xor
 * 0xFFFFFFFF, as iSCSI (RFC 3720 section 12.1, test vectors in B.4), ext4
 * and SCTP use it.  floe_crc32c(0, "123456789", 9) == 0xE3069283.
 *
 * Must not depend on anything but the C library.
 */
#ifndef FLOE_UTIL_CRC32C_H
#define FLOE_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) with len bytes at p; returns the new CRC.
 * floe_crc32c(floe_crc32c(0, a, n), b, m) == CRC of a then b. */
uint32_t floe_crc32c(uint32_t crc, const void *p, size_t len);
/* The table path alone, whatever the CPU (tests compare the two). */
uint32_t floe_crc32c_sw(uint32_t crc, const void *p, size_t len);

#endif
