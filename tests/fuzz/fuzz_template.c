/*
 * fuzz_template.c - the template cache of the collector (collect/
 * template.c): length-prefixed sequences of datagrams of any protocol from
 * up to eight exporter addresses, so templates are defined, redefined,
 * withdrawn, expired and refused in any order; the per-source and total
 * limits hold afterwards (fuzz_collect.h).
 */
#include "fuzz_collect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_collect(data, size, 0, true);
}
