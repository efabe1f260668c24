/* flow.c - names of record states. */
#include "flow.h"

#include <strings.h>

static const char *const state_names[FLOE_ST__COUNT] = {
	[FLOE_ST_NONE] = "",
	[FLOE_ST_REQ] = "REQ", [FLOE_ST_ACC] = "ACC", [FLOE_ST_CON] = "CON",
	[FLOE_ST_CLO] = "CLO", [FLOE_ST_FIN] = "FIN", [FLOE_ST_RST] = "RST",
	[FLOE_ST_TIM] = "TIM", [FLOE_ST_INT] = "INT",
	[FLOE_ST_ECO] = "ECO", [FLOE_ST_ECR] = "ECR", [FLOE_ST_URN] = "URN",
	[FLOE_ST_URH] = "URH", [FLOE_ST_URP] = "URP", [FLOE_ST_URF] = "URF",
	[FLOE_ST_URO] = "URO", [FLOE_ST_SRC] = "SRC", [FLOE_ST_RED] = "RED",
	[FLOE_ST_RTA] = "RTA", [FLOE_ST_RTS] = "RTS", [FLOE_ST_TXD] = "TXD",
	[FLOE_ST_PAR] = "PAR", [FLOE_ST_TST] = "TST", [FLOE_ST_TSR] = "TSR",
	[FLOE_ST_IRQ] = "IRQ", [FLOE_ST_IRR] = "IRR", [FLOE_ST_MSK] = "MSK",
	[FLOE_ST_MSR] = "MSR", [FLOE_ST_NNS] = "NNS", [FLOE_ST_NNA] = "NNA",
	[FLOE_ST_NRS] = "NRS", [FLOE_ST_NRA] = "NRA", [FLOE_ST_NRED] = "NRD",
	[FLOE_ST_MRQ] = "MRQ", [FLOE_ST_MHR] = "MHR", [FLOE_ST_MHD] = "MHD",
	[FLOE_ST_UNK] = "UNK", [FLOE_ST_RSP] = "RSP",
};

const char *floe_state_name(unsigned state)
{
	return state < FLOE_ST__COUNT && state_names[state] ? state_names[state] : "UNK";
}

unsigned floe_state_parse(const char *name)
{
	for (unsigned i = 1; i < FLOE_ST__COUNT; i++)
		if (state_names[i] && strcasecmp(state_names[i], name) == 0)
			return i;
	return FLOE_ST__COUNT;
}
