/*
 * fuzz_netflow9.c - the netflow9 decoder of the collector (collect/collect.h): any
 * bytes, as one datagram and as a length-prefixed sequence with the
 * version forced to 9, decode or are counted, never crash, and template
 * memory stays within its limits (fuzz_collect.h).
 */
#include "fuzz_collect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_collect(data, size, 9, false);
}
