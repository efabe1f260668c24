/*
 * fuzz_netflow5.c - the netflow5 decoder of the collector (collect/collect.h): any
 * bytes, as one datagram and as a length-prefixed sequence with the
 * version forced to 5, decode or are counted, never crash, and template
 * memory stays within its limits (fuzz_collect.h).
 */
#include "fuzz_collect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_collect(data, size, 5, false);
}
