/*
 * html.c - the daily report as one self-contained HTML file: inline CSS,
 * a few lines of inline JavaScript that sort a table by the column header
 * clicked, an inline SVG sparkline per host of its bytes per time bin.
 * Nothing is fetched from anywhere (no links, no external scripts, fonts
 * or images), so the file can be mailed or archived as it is.
 */
#include "report/render_int.h"

#include "util/addr.h"

#include <inttypes.h>
#include <string.h>

static const char css[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}"
	"h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}"
	"table{border-collapse:collapse;margin:.5em 0}"
	"th,td{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}"
	"th{background:#f0f0f0;cursor:pointer;user-select:none}"
	"th.s-asc:after{content:' \\25b2'}th.s-desc:after{content:' \\25bc'}"
	"td.t,th.t{text-align:left}td.note{color:#555;font-style:italic;text-align:left;white-space:normal}"
	".loc{color:#070;font-size:.8em}.h{color:#777;font-size:.85em}"
	"ul.ports{list-style:none;margin:0;padding:0;text-align:left}"
	"svg.spark polyline{fill:none;stroke:#36c;stroke-width:1.2}";

/* Sorts the rows of a table when one of its headers is clicked: by each
 * cell's data-v (a number) when it has one, by its text otherwise. */
static const char js[] =
	"document.querySelectorAll('table.sort th').forEach(function(th){"
	"th.addEventListener('click',function(){"
	"var t=th.closest('table'),b=t.tBodies[0],i=th.cellIndex,d=th.className!='s-desc';"
	"t.querySelectorAll('th').forEach(function(x){x.className=x.className.replace(/ ?s-(asc|desc)/,'')});"
	"th.className=d?'s-desc':'s-asc';"
	"var r=Array.prototype.slice.call(b.rows);"
	"r.sort(function(x,y){var p=x.cells[i],q=y.cells[i],"
	"u=p.getAttribute('data-v'),v=q.getAttribute('data-v'),c;"
	"if(u!==null&&v!==null)c=parseFloat(u)-parseFloat(v);"
	"else c=p.textContent.localeCompare(q.textContent);return d?-c:c});"
	"r.forEach(function(x){b.appendChild(x)})})});";

static void esc(FILE *fp, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", fp); break;
		case '<': fputs("&lt;", fp); break;
		case '>': fputs("&gt;", fp); break;
		case '"': fputs("&quot;", fp); break;
		case '\'': fputs("&#39;", fp); break;
		default: fputc(*s, fp);
		}
	}
}

static void num_cell(FILE *fp, uint64_t v, bool human)
{
	char t[32], h[32];
	fprintf(fp, "<td data-v=\"%" PRIu64 "\">%s", v, floe_report_thousands(t, sizeof(t), v));
	if (human)
		fprintf(fp, " <span class=\"h\">%s</span>", floe_report_human(h, sizeof(h), v));
	fputs("</td>", fp);
}

static void addr_cell(FILE *fp, const uint8_t a[16], bool local, const char *anchor)
{
	char b[FLOE_ADDRSTRLEN];
	floe_addr_format(a, b, sizeof(b));
	fputs("<td class=\"t\">", fp);
	if (anchor)
		fprintf(fp, "<a href=\"#%s\">", anchor);
	esc(fp, b);
	if (anchor)
		fputs("</a>", fp);
	if (local)
		fputs(" <span class=\"loc\">local</span>", fp);
	fputs("</td>", fp);
}

static void note_cell(FILE *fp, const char *note)
{
	fputs("<td class=\"note\">", fp);
	esc(fp, note);
	fputs("</td>", fp);
}

static void sparkline(FILE *fp, const uint64_t *bins, unsigned n)
{
	const int w = 120, h = 24;
	uint64_t max = 0;
	for (unsigned i = 0; i < n; i++)
		max = bins[i] > max ? bins[i] : max;
	fprintf(fp, "<svg class=\"spark\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">"
	        "<polyline points=\"", w, h, w, h);
	for (unsigned i = 0; i < n; i++) {
		double x = n > 1 ? (double)i * (w - 2) / (n - 1) + 1 : w / 2.0;
		double y = max ? (h - 2) - (double)bins[i] * (h - 4) / (double)max : h - 2;
		fprintf(fp, "%s%.1f,%.1f", i ? " " : "", x, y);
	}
	fputs("\"/></svg>", fp);
}

enum floe_err floe_rep_daily_html(FILE *fp, const struct floe_daily_result *r, const char *local_text)
{
	char a[64], b[64], c[64];
	fprintf(fp, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	        "<title>floe daily traffic report</title>\n<style>%s</style></head>\n<body>\n"
	        "<h1>floe daily traffic report</h1>\n<p>", css);
	if (r->flows) {
		floe_rep_time(r->start, a, sizeof(a));
		floe_rep_time(r->end, b, sizeof(b));
		floe_rep_span(r->end - r->start, c, sizeof(c));
		fprintf(fp, "Period %s &ndash; %s UTC (%s)", a, b, c);
	} else {
		fputs("Period: no records", fp);
	}
	fputs("<br>Local networks: ", fp);
	esc(fp, local_text && *local_text ? local_text : "(none given)");
	fprintf(fp, "<br>Records %s", floe_report_thousands(a, sizeof(a), r->flows));
	fprintf(fp, ", packets %s", floe_report_thousands(a, sizeof(a), r->pkts));
	fprintf(fp, ", hosts %s</p>\n", floe_report_thousands(a, sizeof(a), r->hosts_seen));

	fputs("<table class=\"sum\"><thead><tr><th class=\"t\">Traffic</th><th>Bytes</th><th>%</th>"
	      "<th class=\"t\"></th></tr></thead><tbody>\n", fp);
	for (size_t i = 0; i < FLOE_REP_NCLASSES; i++) {
		uint64_t v = floe_rep_class_bytes(r, i);
		fprintf(fp, "<tr><td class=\"t\">%s</td>", floe_rep_classes[i].name);
		num_cell(fp, v, true);
		fprintf(fp, "<td>%.1f</td><td class=\"t\">%s</td></tr>\n",
		        r->total ? 100.0 * (double)v / (double)r->total : 0.0, floe_rep_classes[i].html);
	}
	fputs("</tbody></table>\n", fp);

	fprintf(fp, "<h2>Top %zu hosts by volume</h2>\n<p>Out: bytes the host sent; In: bytes it received. "
	        "Click a header to sort.</p>\n", r->top);
	fputs("<table class=\"sort\" id=\"hosts\"><thead><tr><th>#</th><th class=\"t\">Host</th>"
	      "<th class=\"t\">Note</th><th>Tot</th><th>Out</th><th>In</th><th>Flows</th>"
	      "<th class=\"t\">Volume over the period</th></tr></thead><tbody>\n", fp);
	for (size_t i = 0; i < r->nhosts; i++) {
		const struct floe_daily_host *h = &r->hosts[i];
		char anchor[32];
		snprintf(anchor, sizeof(anchor), "h%zu", i + 1);
		fprintf(fp, "<tr><td data-v=\"%zu\">%zu</td>", i + 1, i + 1);
		addr_cell(fp, h->addr, h->local, anchor);
		note_cell(fp, h->note);
		num_cell(fp, h->out + h->in, true);
		num_cell(fp, h->out, true);
		num_cell(fp, h->in, true);
		num_cell(fp, h->flows, false);
		fputs("<td class=\"t\">", fp);
		sparkline(fp, h->bins, r->nbins);
		fputs("</td></tr>\n", fp);
	}
	fputs("</tbody></table>\n", fp);

	for (size_t i = 0; i < r->nhosts; i++) {
		const struct floe_daily_host *h = &r->hosts[i];
		floe_addr_format(h->addr, a, sizeof(a));
		fprintf(fp, "<h2 id=\"h%zu\">%zu. ", i + 1, i + 1);
		esc(fp, a);
		if (h->note) {
			fputs(" &mdash; ", fp);
			esc(fp, h->note);
		}
		fprintf(fp, "</h2>\n<table class=\"sort\"><thead><tr><th class=\"t\">Peer</th><th class=\"t\">Note"
		        "</th><th>Tot</th><th>Out</th><th>In</th><th>Flows</th><th class=\"t\">Top %zu ports"
		        " (Tot)</th></tr></thead><tbody>\n", r->ports);
		for (size_t j = 0; j < h->npeers; j++) {
			const struct floe_daily_peer *p = &h->peers[j];
			fputs("<tr>", fp);
			addr_cell(fp, p->addr, p->local, NULL);
			note_cell(fp, p->note);
			num_cell(fp, p->out + p->in, true);
			num_cell(fp, p->out, true);
			num_cell(fp, p->in, true);
			num_cell(fp, p->flows, false);
			fputs("<td class=\"t\"><ul class=\"ports\">", fp);
			for (size_t k = 0; k < p->nports; k++) {
				const struct floe_daily_port *q = &p->ports[k];
				floe_rep_port_name(q->proto, q->port, b, sizeof(b));
				fputs("<li>", fp);
				esc(fp, b);
				fprintf(fp, " %s</li>", floe_report_human(c, sizeof(c), q->out + q->in));
			}
			fputs("</ul></td></tr>\n", fp);
		}
		fputs("</tbody></table>\n", fp);
	}
	fprintf(fp, "<script>%s</script>\n</body></html>\n", js);
	return ferror(fp) ? FLOE_IO : FLOE_OK;
}
