/*
 * addr.h - parsing and printing addresses, prefixes and times.
 *
 * Addresses are 16 bytes, IPv4 v4-mapped (flow.h).  Prefix lengths are in
 * IPv6 terms internally (an IPv4 /24 is /120); the parsers accept and the
 * printers produce the user's notation.
 */
#ifndef FLOE_UTIL_ADDR_H
#define FLOE_UTIL_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLOE_ADDRSTRLEN 46   /* INET6_ADDRSTRLEN */

/* Formats a as dotted quad (v4-mapped) or RFC 5952 IPv6 text. */
void floe_addr_format(const uint8_t a[16], char *buf, size_t len);
/* Parses IPv4 or IPv6 text into a; false if it is neither. */
bool floe_addr_parse(const char *s, uint8_t a[16]);
/* Parses "ADDR[/LEN]" (v4 or v6); *plen is the prefix in 128-bit terms.
 * Host bits are cleared.  False on bad text or length. */
bool floe_cidr_parse(const char *s, uint8_t a[16], unsigned *plen);
/* True if a lies in net/plen (plen in 128-bit terms). */
bool floe_addr_in_prefix(const uint8_t a[16], const uint8_t net[16], unsigned plen);
/* Clears the bits of a beyond plen (128-bit terms). */
void floe_addr_mask(uint8_t a[16], unsigned plen);

/* Formats a MAC address as aa:bb:cc:dd:ee:ff (buf >= 18). */
void floe_mac_format(const uint8_t m[6], char *buf, size_t len);
bool floe_mac_parse(const char *s, uint8_t m[6]);

#endif
