/*
 * fuzz_customers.c - the customers file parser of floe report (report/prefixes.h),
 * checked as fuzz_prefixes.h says.
 */
#include "fuzz_prefixes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_prefixes(data, size, floe_customers_parse);
}
