/*
 * render.c - the daily report as aligned text and as JSON (report.h);
 * numbers, names of ports and the JSON string escaping the other
 * renderers share (render_int.h).
 */
#include "report/report.h"

#include "field.h"
#include "report/render_int.h"
#include "util/addr.h"
#include "util/numfmt.h"
#include "util/timefmt.h"

#include <inttypes.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

int floe_report_fmt_parse(const char *s)
{
	static const char *const names[] = {"text", "csv", "json", "html"};
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, names[i]) == 0)
			return i;
	return -1;
}

char *floe_report_thousands(char *buf, size_t len, uint64_t v)
{
	char d[24];
	size_t n = floe_fmt_u64(d, v), o = 0;
	for (size_t i = 0; i < n && o + 2 < len; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = d[i];
	}
	buf[o] = '\0';
	return buf;
}

char *floe_report_human(char *buf, size_t len, uint64_t v)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
	if (v < 1000) {
		snprintf(buf, len, "%" PRIu64 " B", v);
		return buf;
	}
	double x = (double)v;
	int u = 0;
	while (x >= 999.95 && u < 6) {
		x /= 1000;
		u++;
	}
	snprintf(buf, len, "%.1f %s", x, units[u]);
	return buf;
}

void floe_rep_port_name(uint8_t proto, uint16_t port, char *buf, size_t len)
{
	/* floe's records carry ARP as protocol 0 (flow.h) */
	const char *nm = proto == 0 ? "arp" : floe_proto_name(proto);
	char num[8];
	if (!nm) {
		snprintf(num, sizeof(num), "p%u", proto);
		nm = num;
	}
	switch (proto) {
	case 1: case 6: case 17: case 58: case 132:
		snprintf(buf, len, "%s/%u", proto == 58 ? "icmp6" : nm, port);
		break;
	default:
		snprintf(buf, len, "%s", nm);
	}
}

void floe_rep_json_str(FILE *fp, const char *s)
{
	if (!s) {
		fputs("null", fp);
		return;
	}
	fputc('"', fp);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(fp, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(fp, "\\u%04x", *p);
		else
			fputc(*p, fp);
	}
	fputc('"', fp);
}

void floe_rep_time(int64_t t, char *buf, size_t len)
{
	floe_time_format(t, FLOE_TIME_ISO, 0, buf, len);
}

void floe_rep_span(int64_t ns, char *buf, size_t len)
{
	int64_t s = ns / 1000000000;
	if (s >= 86400)
		snprintf(buf, len, "%" PRId64 "d %" PRId64 "h %" PRId64 "m", s / 86400, s % 86400 / 3600,
		         s % 3600 / 60);
	else
		snprintf(buf, len, "%" PRId64 "h %" PRId64 "m %" PRId64 "s", s / 3600, s % 3600 / 60, s % 60);
}

const struct floe_rep_class floe_rep_classes[FLOE_REP_NCLASSES] = {
	{"Total", "", "", offsetof(struct floe_daily_result, total)},
	{"Out", "local -> remote", "local &rarr; remote", offsetof(struct floe_daily_result, out)},
	{"In", "remote -> local", "remote &rarr; local", offsetof(struct floe_daily_result, in)},
	{"Internal", "local <-> local, both directions", "local &harr; local, both directions",
	 offsetof(struct floe_daily_result, internal)},
	{"Transit", "remote <-> remote, both directions", "remote &harr; remote, both directions",
	 offsetof(struct floe_daily_result, transit)},
};

uint64_t floe_rep_class_bytes(const struct floe_daily_result *r, size_t i)
{
	uint64_t v;
	memcpy(&v, (const char *)r + floe_rep_classes[i].off, sizeof(v));
	return v;
}

/* ---- text ---- */

/* Widths of the columns, over every row printed. */
struct widths {
	int name, num, human, flows;
};

static int len_thousands(uint64_t v)
{
	char b[32];
	return (int)strlen(floe_report_thousands(b, sizeof(b), v));
}

static int len_human(uint64_t v)
{
	char b[32];
	return (int)strlen(floe_report_human(b, sizeof(b), v));
}

static void widen(struct widths *w, int name, uint64_t out, uint64_t in, uint64_t flows)
{
	uint64_t v[3] = {out + in, out, in};
	if (name > w->name)
		w->name = name;
	for (int i = 0; i < 3; i++) {
		if (len_thousands(v[i]) > w->num)
			w->num = len_thousands(v[i]);
		if (len_human(v[i]) > w->human)
			w->human = len_human(v[i]);
	}
	if (len_thousands(flows) > w->flows)
		w->flows = len_thousands(flows);
}

static void row(FILE *fp, const struct widths *w, const char *name, uint64_t out, uint64_t in,
                uint64_t flows)
{
	uint64_t v[3] = {out + in, out, in};
	fprintf(fp, "%-*s", w->name, name);
	for (int i = 0; i < 3; i++) {
		char t[32], h[32];
		fprintf(fp, "  %*s %*s", w->num, floe_report_thousands(t, sizeof(t), v[i]), w->human + 2,
		        strcat(strcat(strcpy(h, "("), floe_report_human(t, sizeof(t), v[i])), ")"));
	}
	char t[32];
	fprintf(fp, "  %*s\n", w->flows, floe_report_thousands(t, sizeof(t), flows));
}

static void host_name(const struct floe_daily_host *h, size_t rank, char *buf, size_t len)
{
	char a[FLOE_ADDRSTRLEN];
	floe_addr_format(h->addr, a, sizeof(a));
	snprintf(buf, len, "%3zu %s%s", rank, a, h->local ? " L" : "");
}

static void peer_name(const struct floe_daily_peer *p, char *buf, size_t len)
{
	char a[FLOE_ADDRSTRLEN];
	floe_addr_format(p->addr, a, sizeof(a));
	snprintf(buf, len, "      %s%s", a, p->local ? " L" : "");
}

static void port_row_name(const struct floe_daily_port *q, char *buf, size_t len)
{
	char pn[32];
	floe_rep_port_name(q->proto, q->port, pn, sizeof(pn));
	snprintf(buf, len, "          %s", pn);
}

static void peer_other(const struct floe_daily_peer *p, uint64_t *out, uint64_t *in, uint64_t *flows)
{
	*out = p->out;
	*in = p->in;
	*flows = p->flows;
	for (size_t k = 0; k < p->nports; k++) {
		*out -= p->ports[k].out;
		*in -= p->ports[k].in;
		*flows -= p->ports[k].flows;
	}
}

static void text_totals(FILE *fp, const struct floe_daily_result *r)
{
	int wn = len_thousands(r->total), wh = 0;
	for (size_t i = 0; i < FLOE_REP_NCLASSES; i++)
		wh = len_human(floe_rep_class_bytes(r, i)) > wh ? len_human(floe_rep_class_bytes(r, i)) : wh;
	fprintf(fp, "Traffic (bytes)\n");
	for (size_t i = 0; i < FLOE_REP_NCLASSES; i++) {
		const struct floe_rep_class *c = &floe_rep_classes[i];
		uint64_t v = floe_rep_class_bytes(r, i);
		char t[32], h[32];
		double pct = r->total ? 100.0 * (double)v / (double)r->total : 0.0;
		fprintf(fp, "  %-8s  %*s  %-*s  %5.1f%%%s%s\n", c->name, wn, floe_report_thousands(t, sizeof(t), v),
		        wh, floe_report_human(h, sizeof(h), v), pct, *c->text ? "  " : "", c->text);
	}
}

static enum floe_err write_text(FILE *fp, const struct floe_daily_result *r, const char *local_text)
{
	char a[64], b[64], c[64];
	fprintf(fp, "floe daily traffic report\n\n");
	if (r->flows) {
		floe_rep_time(r->start, a, sizeof(a));
		floe_rep_time(r->end, b, sizeof(b));
		floe_rep_span(r->end - r->start, c, sizeof(c));
		fprintf(fp, "Period    %s - %s UTC (%s)\n", a, b, c);
	} else {
		fprintf(fp, "Period    no records\n");
	}
	fprintf(fp, "Local     %s\n", local_text && *local_text ? local_text : "(none given)");
	fprintf(fp, "Records   %s", floe_report_thousands(a, sizeof(a), r->flows));
	fprintf(fp, "   packets %s", floe_report_thousands(a, sizeof(a), r->pkts));
	fprintf(fp, "   hosts %s\n\n", floe_report_thousands(a, sizeof(a), r->hosts_seen));
	text_totals(fp, r);

	struct widths w = {.name = 4, .num = 3, .human = 1, .flows = 5};
	char nm[128];
	for (size_t i = 0; i < r->nhosts; i++) {
		const struct floe_daily_host *h = &r->hosts[i];
		host_name(h, i + 1, nm, sizeof(nm));
		widen(&w, (int)strlen(nm), h->out, h->in, h->flows);
		for (size_t j = 0; j < h->npeers; j++) {
			const struct floe_daily_peer *p = &h->peers[j];
			peer_name(p, nm, sizeof(nm));
			widen(&w, (int)strlen(nm), p->out, p->in, p->flows);
			for (size_t k = 0; k < p->nports; k++) {
				port_row_name(&p->ports[k], nm, sizeof(nm));
				widen(&w, (int)strlen(nm), p->ports[k].out, p->ports[k].in, p->ports[k].flows);
			}
		}
	}
	fprintf(fp, "\nTop %zu hosts by volume, each with its top %zu peers and their top %zu ports\n"
	        "(Out: bytes the host sent, In: bytes it received; L: local)\n\n", r->top, r->peers, r->ports);
	int cw = w.num + w.human + 3;
	fprintf(fp, "%-*s  %*s  %*s  %*s  %*s\n", w.name, "  # Host / peer / port", cw, "Tot", cw, "Out", cw,
	        "In", w.flows, "Flows");
	for (size_t i = 0; i < r->nhosts; i++) {
		const struct floe_daily_host *h = &r->hosts[i];
		if (i)
			fputc('\n', fp);
		host_name(h, i + 1, nm, sizeof(nm));
		row(fp, &w, nm, h->out, h->in, h->flows);
		if (h->note)
			fprintf(fp, "    = %s\n", h->note);
		for (size_t j = 0; j < h->npeers; j++) {
			const struct floe_daily_peer *p = &h->peers[j];
			peer_name(p, nm, sizeof(nm));
			row(fp, &w, nm, p->out, p->in, p->flows);
			if (p->note)
				fprintf(fp, "        = %s\n", p->note);
			for (size_t k = 0; k < p->nports; k++) {
				port_row_name(&p->ports[k], nm, sizeof(nm));
				row(fp, &w, nm, p->ports[k].out, p->ports[k].in, p->ports[k].flows);
			}
			uint64_t oo, oi, of;
			peer_other(p, &oo, &oi, &of);
			if (oo || oi || of)
				row(fp, &w, "          other ports", oo, oi, of);
		}
	}
	if (!r->nhosts)
		fprintf(fp, "(no hosts)\n");
	return ferror(fp) ? FLOE_IO : FLOE_OK;
}

/* ---- JSON ---- */

static void json_bytes(FILE *fp, uint64_t out, uint64_t in)
{
	fprintf(fp, "{\"total\": %" PRIu64 ", \"out\": %" PRIu64 ", \"in\": %" PRIu64 "}", out + in, out, in);
}

static void json_time(FILE *fp, int64_t t)
{
	char b[64];
	floe_time_format(t, FLOE_TIME_RFC3339, 0, b, sizeof(b));
	floe_rep_json_str(fp, b);
}

static void json_addr(FILE *fp, const uint8_t a[16])
{
	char b[FLOE_ADDRSTRLEN];
	floe_addr_format(a, b, sizeof(b));
	floe_rep_json_str(fp, b);
}

static enum floe_err write_json(FILE *fp, const struct floe_daily_result *r, const char *local_text)
{
	fprintf(fp, "{\"report\": \"daily\",\n \"period\": {\"start\": ");
	json_time(fp, r->start);
	fprintf(fp, ", \"end\": ");
	json_time(fp, r->end);
	fprintf(fp, ", \"start_ns\": %" PRId64 ", \"end_ns\": %" PRId64 "},\n \"local\": ", r->start, r->end);
	floe_rep_json_str(fp, local_text);
	fprintf(fp, ",\n \"records\": %" PRIu64 ", \"packets\": %" PRIu64 ", \"hosts_seen\": %" PRIu64 ",\n",
	        r->flows, r->pkts, r->hosts_seen);
	fprintf(fp, " \"bytes\": {\"total\": %" PRIu64 ", \"out\": %" PRIu64 ", \"in\": %" PRIu64
	        ", \"internal\": %" PRIu64 ", \"transit\": %" PRIu64 "},\n", r->total, r->out, r->in,
	        r->internal, r->transit);
	fprintf(fp, " \"limits\": {\"top\": %zu, \"peers\": %zu, \"ports\": %zu},\n", r->top, r->peers, r->ports);
	fprintf(fp, " \"bins\": {\"count\": %u, \"width_ns\": %" PRId64 "},\n \"hosts\": [", r->nbins, r->bin_ns);
	for (size_t i = 0; i < r->nhosts; i++) {
		const struct floe_daily_host *h = &r->hosts[i];
		fprintf(fp, "%s\n  {\"rank\": %zu, \"addr\": ", i ? "," : "", i + 1);
		json_addr(fp, h->addr);
		fprintf(fp, ", \"local\": %s, \"note\": ", h->local ? "true" : "false");
		floe_rep_json_str(fp, h->note);
		fprintf(fp, ", \"bytes\": ");
		json_bytes(fp, h->out, h->in);
		fprintf(fp, ", \"packets\": {\"out\": %" PRIu64 ", \"in\": %" PRIu64 "}, \"flows\": %" PRIu64
		        ",\n   \"bins\": [", h->pkts_out, h->pkts_in, h->flows);
		for (unsigned k = 0; k < r->nbins; k++)
			fprintf(fp, "%s%" PRIu64, k ? ", " : "", h->bins[k]);
		fprintf(fp, "],\n   \"peers\": [");
		for (size_t j = 0; j < h->npeers; j++) {
			const struct floe_daily_peer *p = &h->peers[j];
			fprintf(fp, "%s\n    {\"addr\": ", j ? "," : "");
			json_addr(fp, p->addr);
			fprintf(fp, ", \"local\": %s, \"note\": ", p->local ? "true" : "false");
			floe_rep_json_str(fp, p->note);
			fprintf(fp, ", \"bytes\": ");
			json_bytes(fp, p->out, p->in);
			fprintf(fp, ", \"flows\": %" PRIu64 ",\n     \"ports\": [", p->flows);
			for (size_t k = 0; k < p->nports; k++) {
				const struct floe_daily_port *q = &p->ports[k];
				char pn[32];
				floe_rep_port_name(q->proto, q->port, pn, sizeof(pn));
				fprintf(fp, "%s{\"name\": ", k ? ", " : "");
				floe_rep_json_str(fp, pn);
				fprintf(fp, ", \"proto\": %u, \"port\": %u, \"bytes\": ", q->proto, q->port);
				json_bytes(fp, q->out, q->in);
				fprintf(fp, ", \"flows\": %" PRIu64 "}", q->flows);
			}
			uint64_t oo, oi, of;
			peer_other(p, &oo, &oi, &of);
			fprintf(fp, "],\n     \"other_ports\": {\"bytes\": ");
			json_bytes(fp, oo, oi);
			fprintf(fp, ", \"flows\": %" PRIu64 "}}", of);
		}
		fprintf(fp, "%s]}", h->npeers ? "\n   " : "");
	}
	fprintf(fp, "%s]}\n", r->nhosts ? "\n " : "");
	return ferror(fp) ? FLOE_IO : FLOE_OK;
}

enum floe_err floe_daily_write(FILE *fp, enum floe_report_fmt fmt, const struct floe_daily_result *r,
                               const char *local_text)
{
	switch (fmt) {
	case FLOE_REPORT_TEXT:
		return write_text(fp, r, local_text);
	case FLOE_REPORT_JSON:
		return write_json(fp, r, local_text);
	case FLOE_REPORT_HTML:
		return floe_rep_daily_html(fp, r, local_text);
	default:
		return FLOE_INVALID;
	}
}
