/*
 * psv.h - loads the Argus reference flows (shared data reference/
 * *.flows.psv, see its README) as struct floe_flow records, so the codec is
 * measured and tested on real traffic rather than made-up numbers.
 */
#ifndef FLOE_TEST_CODEC_PSV_H
#define FLOE_TEST_CODEC_PSV_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"
#include "util/addr.h"

static const struct {
	const char *name;
	unsigned num;
} psv_protos[] = {
	{"tcp", 6},   {"udp", 17}, {"icmp", 1},   {"ipv6-icmp", 58}, {"igmp", 2},
	{"sctp", 132}, {"gre", 47}, {"rsvp", 46}, {"eigrp", 88},     {"ipv6", 41},
};

static int64_t psv_time(const char *s)
{
	char *end;
	long long sec = strtoll(s, &end, 10);
	long long us = 0;
	if (*end == '.')
		us = strtoll(end + 1, NULL, 10);
	return (int64_t)sec * 1000000000 + us * 1000;
}

static int psv_line(char *line, struct floe_flow *f)
{
	char *col[17];
	int n = 0;
	for (char *p = line; n < 17;) {
		col[n++] = p;
		char *bar = strchr(p, '|');
		if (!bar)
			break;
		*bar = '\0';
		p = bar + 1;
	}
	if (n < 16 || strcmp(col[0], "StartTime") == 0)
		return -1;
	memset(f, 0, sizeof(*f));
	f->stime = psv_time(col[0]);
	f->ltime = psv_time(col[1]);
	for (size_t i = 0; i < sizeof(psv_protos) / sizeof(psv_protos[0]); i++)
		if (strcmp(col[2], psv_protos[i].name) == 0)
			f->proto = (uint8_t)psv_protos[i].num;
	if (floe_addr_parse(col[3], f->saddr) && floe_addr_parse(col[6], f->daddr)) {
		f->ipver = floe_addr_is_v4(f->saddr) ? 4 : 6;
		f->etype = f->ipver == 4 ? FLOE_ETH_IPV4 : FLOE_ETH_IPV6;
	} else {
		memset(f->saddr, 0, 16);
		memset(f->daddr, 0, 16);
		if (strcmp(col[2], "arp") == 0)
			f->etype = FLOE_ETH_ARP;
	}
	f->sport = (uint16_t)strtoul(col[4], NULL, 0);
	f->dport = (uint16_t)strtoul(col[7], NULL, 0);
	if (strstr(col[5], "?"))
		f->flags |= FLOE_F_DIRUNK;
	f->spkts = strtoull(col[8], NULL, 10);
	f->dpkts = strtoull(col[9], NULL, 10);
	f->sbytes = strtoull(col[10], NULL, 10);
	f->dbytes = strtoull(col[11], NULL, 10);
	f->sappbytes = strtoull(col[12], NULL, 10);
	f->dappbytes = strtoull(col[13], NULL, 10);
	unsigned st = floe_state_parse(col[14]);
	f->state = (uint8_t)(st < FLOE_ST__COUNT ? st : 0);
	f->trans = (uint32_t)strtoul(col[15], NULL, 10);
	return 0;
}

static int psv_cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads every reference/ *.flows.psv under dir (sorted by name, so runs are
 * repeatable) whose name does / does not contain `only`/`skip` (NULL: any).
 * Returns the number of records in *out (malloc'd), 0 if none. */
static size_t psv_load(const char *dir, const char *skip, struct floe_flow **out)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/reference", dir);
	DIR *d = opendir(path);
	*out = NULL;
	if (!d)
		return 0;
	char *names[1024];
	size_t nn = 0, n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d)) && nn < 1024) {
		size_t l = strlen(e->d_name);
		if (l > 10 && strcmp(e->d_name + l - 10, ".flows.psv") == 0 &&
		    !(skip && strstr(e->d_name, skip)))
			names[nn++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, nn, sizeof(names[0]), psv_cmp_name);
	for (size_t i = 0; i < nn; i++) {
		snprintf(path, sizeof(path), "%s/reference/%s", dir, names[i]);
		free(names[i]);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		char line[1024];
		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			if (n == cap) {
				cap = cap ? 2 * cap : 4096;
				*out = realloc(*out, cap * sizeof(**out));
			}
			if (psv_line(line, &(*out)[n]) == 0)
				n++;
		}
		fclose(f);
	}
	return n;
}

#endif
