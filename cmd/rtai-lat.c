/* rtai-lat - latency, freshness and throughput of a pipeline, per stage.
 *
 * A pass-through filter: every frame goes on unchanged while rtai-lat
 * records, per data frame, latency (now - ingest time) and freshness (now
 * - event time) in log-linear histograms, and counts records and bytes.
 * Latency markers (rtai-cat --marker-interval) carry a stamp per stage;
 * their differences give the latency of each hop. A line per interval on
 * stderr, a summary at the end, and reports as JSON, Prometheus text,
 * HdrHistogram percentile text and an SVG chart. --slo rules are checked
 * per interval and over the run: exit status 3 when one was breached.
 * With a checkpoint directory it is a checkpoint stage: its histograms and
 * counts are snapshotted at each barrier and restored on restart, so a
 * report spans restarts.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "barrier.h"
#include "buf.h"
#include "ckpt.h"
#include "cli.h"
#include "frame.h"
#include "outfile.h"
#include "hist.h"
#include "loop.h"
#include "rec.h"
#include "rtime.h"
#include "sig.h"
#include "snap.h"

/* ---- options ---------------------------------------------------------- */

#define MAX_SLO 32
#define MAX_STAGES 32

enum metric { M_LATENCY, M_FRESHNESS, M_HOP, M_RATE };

struct slo {
	const char *text;	/* the rule as given */
	enum metric metric;
	char stage[64];		/* M_HOP: the stage's name */
	double pct;		/* percentile; -1 for max, -2 for mean */
	int le;			/* "<=" (or ">=" for rate) rather than "<" */
	int64_t limit_ns;	/* time rules */
	double limit_rate;	/* rate rules: records per second */
	uint64_t intervals;	/* intervals in which it could be checked */
	uint64_t breaches;	/* intervals in which it was breached */
	int state;		/* over the run: 1 held, 0 breached, -1 no data */
	double value;		/* over the run: ns, or records/s */
};

static struct {
	int no_pass;			/* -n: consume instead of passing on */
	int64_t interval;		/* -i: ns between interval lines; 0 = none */
	int quiet;			/* -q: no summary on stderr */
	const char *json;		/* --json: report file */
	const char *prom;		/* --prom: Prometheus text file */
	const char *hgrm;		/* --hgrm: HdrHistogram percentile file */
	const char *svg;		/* --svg: chart file */
	const char *name;		/* --name: pipeline label */
	const char *ckpt_dir;		/* --checkpoint-dir, else $RTAI_CHECKPOINT_DIR */
	const char *stage_name;		/* --stage-name: checkpoint identity */
	struct slo slo[MAX_SLO];	/* --slo rules */
	int nslo;
} opt = {
	.interval = RTAI_NS_PER_SEC,
};

enum {
	OPT_SLO = 256, OPT_JSON, OPT_PROM, OPT_HGRM, OPT_SVG, OPT_NAME,
	OPT_MAX_FRAME, OPT_VERSION, OPT_CKPT_DIR, OPT_STAGE_NAME,
};

static const struct option longopts[] = {
	{ "no-pass", no_argument, NULL, 'n' },			/* consume the stream */
	{ "interval", required_argument, NULL, 'i' },		/* line every DUR */
	{ "quiet", no_argument, NULL, 'q' },			/* no summary */
	{ "slo", required_argument, NULL, OPT_SLO },		/* objective to check */
	{ "json", required_argument, NULL, OPT_JSON },		/* JSON report */
	{ "prom", required_argument, NULL, OPT_PROM },		/* Prometheus text */
	{ "hgrm", required_argument, NULL, OPT_HGRM },		/* percentile text */
	{ "svg", required_argument, NULL, OPT_SVG },		/* chart */
	{ "name", required_argument, NULL, OPT_NAME },		/* pipeline label */
	{ "checkpoint-dir", required_argument, NULL, OPT_CKPT_DIR },	/* snapshots, age */
	{ "stage-name", required_argument, NULL, OPT_STAGE_NAME },	/* checkpoint identity */
	{ "max-frame", required_argument, NULL, OPT_MAX_FRAME },	/* frame size limit */
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void usage(int status)
{
	FILE *fp = status == 0 ? stdout : stderr;

	fputs("Usage: rtai-lat [OPTION]... [FILE]...\n"
	      "Measure latency, freshness and throughput of an rtai stream, per stage, and\n"
	      "pass the stream on unchanged. With no FILE, or when FILE is -, read standard\n"
	      "input.\n"
	      "\n"
	      "  latency    now - ingest time: how long since the record entered the pipeline\n"
	      "  freshness  now - event time: how old the data is (records with an event time)\n"
	      "  per hop    from the stamps of latency markers (rtai-cat --marker-interval)\n"
	      "\n"
	      "Output:\n"
	      "  -n, --no-pass            consume the stream instead of passing it on (the\n"
	      "                           default when standard output is a terminal)\n"
	      "  -i, --interval DUR       a line of figures on stderr every DUR (default 1s;\n"
	      "                           0 turns it off)\n"
	      "  -q, --quiet              no summary on stderr at the end\n"
	      "      --json FILE          write the final report as JSON\n"
	      "      --prom FILE          write Prometheus text exposition, replaced atomically\n"
	      "                           every interval and at the end (textfile collector)\n"
	      "      --hgrm FILE          write the latency percentile distribution in\n"
	      "                           HdrHistogram's text format (values in ms)\n"
	      "      --svg FILE           draw latency by percentile as an SVG chart\n"
	      "      --name NAME          name the pipeline in the reports (a Prometheus\n"
	      "                           label pipeline=\"NAME\", the chart's title)\n"
	      "\n"
	      "Objectives:\n"
	      "      --slo RULE           check RULE per interval and over the run; exit\n"
	      "                           status 3 when a rule is breached over the run.\n"
	      "                           RULE is [METRIC.]STAT<LIMIT or STAT<=LIMIT, with\n"
	      "                           METRIC latency (default), freshness or hop.STAGE,\n"
	      "                           STAT pN (p50, p99, p99.9), max or mean, LIMIT a\n"
	      "                           duration; or rate>N (records per second).\n"
	      "                           Examples: p99<100ms  freshness.p99<5s  max<=1s\n"
	      "                           hop.rtai-parse.p99<50us  rate>1000\n"
	      "\n"
	      "Checkpoints:\n"
	      "      --checkpoint-dir DIR take part in the pipeline's checkpoints in DIR\n"
	      "                           (default $RTAI_CHECKPOINT_DIR): snapshot the\n"
	      "                           figures at each barrier, resume from the latest\n"
	      "                           complete checkpoint, so a report spans restarts;\n"
	      "                           --prom adds the age and id of that checkpoint\n"
	      "      --stage-name NAME    name this stage in DIR (two rtai-lat stages with\n"
	      "                           the same options in one pipeline)\n"
	      "\n"
	      "Other:\n"
	      "      --max-frame BYTES    largest frame accepted (default 16777216)\n"
	      "  -h, --help               show this help and exit\n"
	      "      --version            show the version and exit\n"
	      "\n"
	      "Examples:\n"
	      "  rtai-cat --marker-interval 100ms clicks.jsonl | rtai-parse ... | rtai-lat -n\n"
	      "  ... | rtai-lat --slo 'p99<100ms' --svg lat.svg | rtai-sink-redis ...\n"
	      "\n"
	      "Exit status: 0 ok, 1 bad input or an output error, 2 usage, 3 an SLO breached,\n"
	      "4 a cut input, 6 a checkpoint snapshot refused.\n"
	      "See rtai-lat(1) and rtai(7).\n", fp);
	exit(status);
}

/* ---- state ------------------------------------------------------------- */

/* Latency and freshness histograms: 1 ns to 13 days for latency, 1 us to
 * about 146 years for freshness (replays of old captures), 3 digits. */
#define LAT_HIGHEST (INT64_C(1) << 50)
#define FRESH_LOWEST 1000
#define FRESH_HIGHEST (INT64_C(1) << 62)

struct window {
	struct hist lat, fresh;		/* values of the period */
	uint64_t records, bytes;	/* data frames and their bytes */
	uint64_t untimed;		/* data frames without an ingest time */
};

struct stage {
	char name[64];			/* the stamp's stage name, printable */
	int hop;			/* 1-based position in the marker */
	struct hist h;			/* time since the previous stamp */
};

static struct frame_wr out;		/* stdout, when passing on */
static int pass;			/* frames go on to stdout */
static int status = RTAI_EXIT_OK;

static struct window cur, tot;		/* this interval; the whole run */
static struct stage stages[MAX_STAGES];
static int nstages;
static struct hist e2e;			/* markers: ingest to rtai-lat */
static uint64_t markers, bad_markers, stage_overflow;

static int64_t start_mono, start_wall;	/* when rtai-lat began */
static int64_t last_tick;		/* mono time of the last interval line */
static int64_t next_tick;		/* mono time of the next one */
static uint64_t nlines;			/* interval lines printed */

/* ---- formatting -------------------------------------------------------- */

#define FMT_SZ 32

/* A duration with three significant digits and a unit: "812ns", "12.3us",
 * "1.20ms", "4.56s", "2m03s", "3h12m". */
static const char *fmt_ns(int64_t ns, char *b)
{
	static const struct { double div; const char *unit; } u[] = {
		{ 1, "ns" }, { 1e3, "us" }, { 1e6, "ms" }, { 1e9, "s" },
	};
	double v = (double)ns;

	if (ns < 0) {
		b[0] = '-';
		fmt_ns(ns == INT64_MIN ? INT64_MAX : -ns, b + 1);
		return b;
	}
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		double x = v / u[i].div;

		if (x >= 999.5 && i + 1 < sizeof(u) / sizeof(u[0]))
			continue;
		if (i == 3 && x >= 59.95)
			break;
		if (i == 0)
			snprintf(b, FMT_SZ - 1, "%.0f%s", x, u[i].unit);
		else
			snprintf(b, FMT_SZ - 1, x < 9.995 ? "%.2f%s" : x < 99.95 ? "%.1f%s" : "%.0f%s",
				 x, u[i].unit);
		return b;
	}
	if (ns < 3600 * RTAI_NS_PER_SEC)
		snprintf(b, FMT_SZ - 1, "%lldm%02llds", (long long)(ns / (60 * RTAI_NS_PER_SEC)),
			 (long long)(ns / RTAI_NS_PER_SEC % 60));
	else
		snprintf(b, FMT_SZ - 1, "%lldh%02lldm", (long long)(ns / (3600 * RTAI_NS_PER_SEC)),
			 (long long)(ns / (60 * RTAI_NS_PER_SEC) % 60));
	return b;
}

/* An axis label: a round value in the largest unit that keeps it short
 * ("100us", "2.5ms", "100s", "5m", "1h"); minutes and hours only when
 * whole. */
static const char *fmt_axis(double ns, char *b)
{
	static const struct { double div; const char *unit; int whole; } u[] = {
		{ 3600e9, "h", 1 }, { 60e9, "m", 1 }, { 1e9, "s", 0 }, { 1e6, "ms", 0 },
		{ 1e3, "us", 0 }, { 1, "ns", 0 },
	};
	size_t n = sizeof(u) / sizeof(u[0]);

	if (ns == 0) {
		strcpy(b, "0");
		return b;
	}
	for (size_t i = 0; i < n; i++) {
		double x = ns / u[i].div;

		if (i + 1 < n && (x < 1 || (u[i].whole && x != floor(x))))
			continue;
		snprintf(b, FMT_SZ - 1, "%g%s", x, u[i].unit);
		return b;
	}
	return b;
}

/* A percentile's name: 50 -> "p50", 99.9 -> "p99.9". */
static const char *fmt_pct(double p, char *b)
{
	snprintf(b, FMT_SZ - 1, "p%g", p);
	return b;
}

/* Copies a stage name, replacing bytes that are not printable ASCII. */
static void clean_name(char *dst, size_t cap, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 1 < cap; i++)
		dst[i] = (s[i] > 32 && s[i] < 127) ? s[i] : '?';
	dst[i] = '\0';
}

/* ---- objectives -------------------------------------------------------- */

/* Parses an --slo rule into s; exits 2 with the reason when it is bad. */
static void slo_parse(struct slo *s, const char *text)
{
	const char *op = strpbrk(text, "<>"), *dot, *lim, *why;
	char left[128], stat[128];
	size_t n;

	memset(s, 0, sizeof(*s));
	s->text = text;
	if (op == NULL)
		cli_usage_error("--slo: '%s': expected STAT<LIMIT, such as p99<100ms", text);
	n = (size_t)(op - text);
	while (n > 0 && text[n - 1] == ' ')
		n--;
	while (n > 0 && *text == ' ')
		text++, n--;
	if (n == 0 || n >= sizeof(left))
		cli_usage_error("--slo: '%s': expected STAT<LIMIT, such as p99<100ms", s->text);
	memcpy(left, text, n);
	left[n] = '\0';
	s->le = op[1] == '=';
	lim = op + 1 + s->le;
	while (*lim == ' ')
		lim++;
	if (strcmp(left, "rate") == 0) {
		if (*op != '>')
			cli_usage_error("--slo: '%s': a rate rule reads rate>N", s->text);
		s->metric = M_RATE;
		if (cli_parse_double(lim, &s->limit_rate, &why) < 0 || s->limit_rate < 0)
			cli_usage_error("--slo: '%s': rate '%s': %s (expected records per second)",
					 s->text, lim, s->limit_rate < 0 ? "negative" : why);
		return;
	}
	if (*op != '<')
		cli_usage_error("--slo: '%s': a time rule reads STAT<LIMIT (only rate uses >)",
				 s->text);
	dot = strrchr(left, '.');
	/* "p99.9" has a dot of its own: the metric ends at the last dot
	 * before the STAT, which starts with 'p', "max" or "mean". */
	s->metric = M_LATENCY;
	if (dot != NULL) {
		const char *d = left;
		const char *split = NULL;

		for (const char *p = left; (p = strchr(p, '.')) != NULL; p++)
			if (p[1] == 'p' || strcmp(p + 1, "max") == 0 || strcmp(p + 1, "mean") == 0)
				split = p;
		if (split != NULL) {
			size_t mlen = (size_t)(split - d);

			if (mlen == 7 && strncmp(d, "latency", 7) == 0) {
				s->metric = M_LATENCY;
			} else if (mlen == 9 && strncmp(d, "freshness", 9) == 0) {
				s->metric = M_FRESHNESS;
			} else if (mlen > 4 && strncmp(d, "hop.", 4) == 0 && mlen - 4 < sizeof(s->stage)) {
				s->metric = M_HOP;
				memcpy(s->stage, d + 4, mlen - 4);
				s->stage[mlen - 4] = '\0';
			} else {
				cli_usage_error("--slo: '%s': unknown metric '%.*s' (expected latency, freshness or hop.STAGE)",
						 s->text, (int)mlen, d);
			}
			memmove(left, split + 1, strlen(split + 1) + 1);
		}
	}
	snprintf(stat, sizeof(stat), "%s", left);
	if (strcmp(stat, "max") == 0) {
		s->pct = -1;
	} else if (strcmp(stat, "mean") == 0) {
		s->pct = -2;
	} else if (stat[0] == 'p' && cli_parse_double(stat + 1, &s->pct, &why) == 0 &&
		   s->pct > 0 && s->pct <= 100 && strspn(stat + 1, "0123456789.") == strlen(stat + 1)) {
		if (s->pct == 100)
			s->pct = -1;
	} else {
		cli_usage_error("--slo: '%s': unknown statistic '%s' (expected pN such as p99, max or mean)",
				 s->text, stat);
	}
	if (rtime_parse_duration(lim, strlen(lim), &s->limit_ns, &why) < 0)
		cli_usage_error("--slo: '%s': limit '%s': %s (expected a duration such as 100ms)",
				 s->text, lim, why);
}

static int64_t stat_of(const struct hist *h, double pct)
{
	if (pct == -1)
		return h->max;
	if (pct == -2)
		return (int64_t)llround(hist_mean(h));
	return hist_percentile(h, pct);
}

/* The hops of the named stage, merged; NULL when there are none. */
static const struct hist *hop_hist(const char *name, struct hist *tmp)
{
	const struct hist *one = NULL;
	int n = 0;

	for (int i = 0; i < nstages; i++) {
		if (strcmp(stages[i].name, name) != 0 || stages[i].h.total == 0)
			continue;
		if (n++ == 0) {
			one = &stages[i].h;
			continue;
		}
		if (n == 2) {
			hist_init(tmp, 1, LAT_HIGHEST, 3);
			hist_merge(tmp, one);
			one = tmp;
		}
		hist_merge(tmp, &stages[i].h);
	}
	return one;
}

/* Checks a rule against a window (or the run, with its hop histograms).
 * Returns 1 held, 0 breached, -1 no data; stores the value checked. */
static int slo_check(const struct slo *s, const struct window *w, double secs,
		     int whole_run, double *value)
{
	const struct hist *h;
	struct hist tmp = { 0 };
	int64_t v;
	int held;

	switch (s->metric) {
	case M_RATE:
		if (secs <= 0)
			return -1;
		*value = (double)w->records / secs;
		return s->le ? *value >= s->limit_rate : *value > s->limit_rate;
	case M_LATENCY: h = &w->lat; break;
	case M_FRESHNESS: h = &w->fresh; break;
	case M_HOP:
		if (!whole_run)
			return -1;
		h = hop_hist(s->stage, &tmp);
		if (h == NULL)
			return -1;
		break;
	default: return -1;
	}
	if (h->total == 0) {
		hist_free(&tmp);
		return -1;
	}
	v = stat_of(h, s->pct);
	*value = (double)v;
	held = s->le ? v <= s->limit_ns : v < s->limit_ns;
	hist_free(&tmp);
	return held;
}

/* ---- recording --------------------------------------------------------- */

static struct stage *stage_for(int hop, const char *s, size_t n)
{
	char name[64];

	clean_name(name, sizeof(name), s, n);
	for (int i = 0; i < nstages; i++)
		if (stages[i].hop == hop && strcmp(stages[i].name, name) == 0)
			return &stages[i];
	if (nstages == MAX_STAGES) {
		stage_overflow++;
		return NULL;
	}
	memcpy(stages[nstages].name, name, sizeof(name));
	stages[nstages].hop = hop;
	hist_init(&stages[nstages].h, 1, LAT_HIGHEST, 3);
	return &stages[nstages++];
}

struct stamping {
	int hop;		/* stamps seen so far */
	int64_t prev;		/* time of the previous stamp (ingest first) */
};

static void on_stamp(void *arg, const char *s, size_t n, int64_t t)
{
	struct stamping *m = arg;
	struct stage *st = stage_for(++m->hop, s, n);

	if (st != NULL)
		hist_record(&st->h, t - m->prev);
	m->prev = t;
}

static void on_marker(const struct frame *f, int64_t now)
{
	struct stamping m = { 0, f->ingest_ns };
	struct stage *st;

	if (marker_stamps(f, NULL, NULL) < 0) {
		bad_markers++;
		return;
	}
	markers++;
	marker_stamps(f, on_stamp, &m);
	st = stage_for(m.hop + 1, "rtai-lat", 8);
	if (st != NULL)
		hist_record(&st->h, now - m.prev);
	hist_record(&e2e, now - f->ingest_ns);
}

static void on_frame(const struct frame *f)
{
	int64_t now = cli_now_ns();

	if (f->kind == RTAI_K_DATA) {
		cur.records++;
		cur.bytes += (uint64_t)f->len + 4 + RTAI_FRAME_FIXED;
		if (f->ingest_ns > 0 && f->ingest_ns != RTAI_TIME_UNSET)
			hist_record(&cur.lat, now - f->ingest_ns);
		else
			cur.untimed++;
		if (f->event_ns != RTAI_TIME_UNSET)
			hist_record(&cur.fresh, now - f->event_ns);
		if (pass)
			wr_frame(&out, f);
	} else if (f->kind == RTAI_K_MARKER) {
		on_marker(f, now);
		if (pass)
			wr_marker(&out, f, "rtai-lat");
	} else if (pass) {
		wr_frame(&out, f);
	}
}

/* ---- files ------------------------------------------------------------- */

/* Replaces path with the bytes of b (outfile_replace(): a temporary file
 * with an unpredictable name, renamed), so a reader (a collector, a
 * browser) never sees half a file. Warns and returns -1 on failure. */
static int write_atomic(const char *path, const struct buf *b)
{
	if (outfile_replace(path, b->p, b->len) < 0) {
		cli_warn("%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static void save(const char *path, const struct buf *b)
{
	if (write_atomic(path, b) < 0)
		status = RTAI_EXIT_FAIL;
}

/* ---- Prometheus -------------------------------------------------------- */

/* Bucket bounds in seconds: 1-2.5-5 from 10 us to 5000 s, then 3 h, 1 d. */
static double prom_bound(int i)
{
	static const double m[3] = { 1, 2.5, 5 };

	if (i < 27)
		return m[i % 3] * pow(10, i / 3 - 5);
	return i == 27 ? 10800 : 86400;
}
#define PROM_NBOUNDS 29

static void prom_label_value(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			buf_putc(b, '\\');
		if (*s == '\n')
			buf_puts(b, "\\n");
		else
			buf_putc(b, (uint8_t)*s);
	}
}

/* "{pipeline="NAME",EXTRA}" or "{EXTRA}" or "" when both are empty. */
static void prom_labels(struct buf *b, const char *extra)
{
	if (opt.name == NULL && *extra == '\0')
		return;
	buf_putc(b, '{');
	if (opt.name != NULL) {
		buf_puts(b, "pipeline=\"");
		prom_label_value(b, opt.name);
		buf_putc(b, '"');
		if (*extra)
			buf_putc(b, ',');
	}
	buf_puts(b, extra);
	buf_putc(b, '}');
}

static void prom_histogram(struct buf *b, const char *name, const char *help,
			   const struct hist *h)
{
	char le[64];

	buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (int i = 0; i < PROM_NBOUNDS; i++) {
		double bound = prom_bound(i);

		snprintf(le, sizeof(le), "le=\"%g\"", bound);
		buf_printf(b, "%s_bucket", name);
		prom_labels(b, le);
		buf_printf(b, " %llu\n",
			   (unsigned long long)hist_count_le(h, (int64_t)llround(bound * 1e9)));
	}
	buf_printf(b, "%s_bucket", name);
	prom_labels(b, "le=\"+Inf\"");
	buf_printf(b, " %llu\n%s_sum", (unsigned long long)h->total, name);
	prom_labels(b, "");
	buf_putc(b, ' ');
	json_put_double(b, h->sum / 1e9);
	buf_printf(b, "\n%s_count", name);
	prom_labels(b, "");
	buf_printf(b, " %llu\n", (unsigned long long)h->total);
}

static void prom_counter(struct buf *b, const char *name, const char *help, uint64_t v)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s", name, help, name, name);
	prom_labels(b, "");
	buf_printf(b, " %llu\n", (unsigned long long)v);
}

/* The latest complete checkpoint of the pipeline's directory: its age and
 * id as gauges (ckpt_latest: when DIR/ckpt-N/COMPLETE was written), so an
 * alert can fire when checkpoints stop completing. No samples while none
 * has completed (or DIR cannot be read): absent() tells. */
static void prom_checkpoint(struct buf *b)
{
	int64_t id, done_ns;
	int found = ckpt_latest(opt.ckpt_dir, &id, &done_ns) == 1;

	buf_puts(b, "# HELP rtai_checkpoint_age_seconds Time since the latest complete checkpoint of the pipeline's checkpoint directory completed.\n"
		 "# TYPE rtai_checkpoint_age_seconds gauge\n");
	if (found) {
		buf_puts(b, "rtai_checkpoint_age_seconds");
		prom_labels(b, "");
		buf_putc(b, ' ');
		json_put_double(b, (double)(cli_now_ns() - done_ns) / 1e9);
		buf_putc(b, '\n');
	}
	buf_puts(b, "# HELP rtai_checkpoint_id The id of the latest complete checkpoint of the pipeline's checkpoint directory.\n"
		 "# TYPE rtai_checkpoint_id gauge\n");
	if (found) {
		buf_puts(b, "rtai_checkpoint_id");
		prom_labels(b, "");
		buf_printf(b, " %lld\n", (long long)id);
	}
}

static void write_prom(const struct window *w)
{
	static const double q[] = { 0.5, 0.9, 0.99, 1 };
	struct buf b = { 0 }, lab = { 0 };
	const char *sl = "rtai_stage_latency_seconds";

	prom_histogram(&b, "rtai_latency_seconds",
		       "Time from a record's ingest into the pipeline to its arrival at rtai-lat.",
		       &w->lat);
	prom_histogram(&b, "rtai_freshness_seconds",
		       "Age of a record's event time at its arrival at rtai-lat.", &w->fresh);
	prom_counter(&b, "rtai_records_total", "Data records seen.", w->records);
	prom_counter(&b, "rtai_bytes_total", "Bytes of data frames seen.", w->bytes);
	prom_counter(&b, "rtai_markers_total", "Latency markers seen.", markers);
	buf_printf(&b, "# HELP %s Latency of each hop of the pipeline: time from the previous stage's stamp on a latency marker to this stage's.\n"
		   "# TYPE %s summary\n", sl, sl);
	for (int i = 0; i < nstages; i++) {
		const struct stage *s = &stages[i];

		for (size_t k = 0; k < sizeof(q) / sizeof(q[0]); k++) {
			buf_reset(&lab);
			buf_printf(&lab, "hop=\"%d\",stage=\"", s->hop);
			prom_label_value(&lab, s->name);
			buf_printf(&lab, "\",quantile=\"%g\"", q[k]);
			buf_putc(&lab, '\0');
			buf_puts(&b, sl);
			prom_labels(&b, (const char *)lab.p);
			buf_putc(&b, ' ');
			json_put_double(&b, (double)hist_percentile(&s->h, q[k] * 100) / 1e9);
			buf_putc(&b, '\n');
		}
		buf_reset(&lab);
		buf_printf(&lab, "hop=\"%d\",stage=\"", s->hop);
		prom_label_value(&lab, s->name);
		buf_puts(&lab, "\"");
		buf_putc(&lab, '\0');
		buf_printf(&b, "%s_sum", sl);
		prom_labels(&b, (const char *)lab.p);
		buf_putc(&b, ' ');
		json_put_double(&b, s->h.sum / 1e9);
		buf_printf(&b, "\n%s_count", sl);
		prom_labels(&b, (const char *)lab.p);
		buf_printf(&b, " %llu\n", (unsigned long long)s->h.total);
	}
	if (opt.ckpt_dir != NULL)
		prom_checkpoint(&b);
	if (opt.nslo > 0) {
		buf_puts(&b, "# HELP rtai_slo_ok 1 while a service-level objective holds over the run, 0 once breached, -1 without data.\n"
			 "# TYPE rtai_slo_ok gauge\n");
		for (int i = 0; i < opt.nslo; i++) {
			double v;
			double secs = (cli_mono_ns() - start_mono) / 1e9;

			buf_reset(&lab);
			buf_puts(&lab, "rule=\"");
			prom_label_value(&lab, opt.slo[i].text);
			buf_puts(&lab, "\"");
			buf_putc(&lab, '\0');
			buf_puts(&b, "rtai_slo_ok");
			prom_labels(&b, (const char *)lab.p);
			buf_printf(&b, " %d\n", slo_check(&opt.slo[i], w, secs, 1, &v));
		}
	}
	save(opt.prom, &b);
	buf_free(&b);
	buf_free(&lab);
}

/* ---- interval lines ---------------------------------------------------- */

static void interval_header(void)
{
	fprintf(stderr, "%8s %9s %8s %9s %9s %9s %9s %9s", "elapsed", "rec/s", "MB/s",
		"lat.p50", "lat.p99", "lat.max", "fresh.p50", "fresh.p99");
	for (int i = 0; i < opt.nslo; i++)
		fprintf(stderr, " %*s", (int)(strlen(opt.slo[i].text) > 6 ? strlen(opt.slo[i].text) : 6),
			opt.slo[i].text);
	fputc('\n', stderr);
}

static void interval_line(int64_t now)
{
	double secs = (now - last_tick) / 1e9;
	char a[FMT_SZ], b[FMT_SZ], c[FMT_SZ], d[FMT_SZ], e[FMT_SZ], el[FMT_SZ];

	if (nlines++ % 40 == 0)
		interval_header();
	fmt_ns(now - start_mono, el);
	if (cur.lat.total == 0)
		strcpy(a, "-"), strcpy(b, "-"), strcpy(c, "-");
	else
		fmt_ns(hist_percentile(&cur.lat, 50), a), fmt_ns(hist_percentile(&cur.lat, 99), b),
			fmt_ns(cur.lat.max, c);
	if (cur.fresh.total == 0)
		strcpy(d, "-"), strcpy(e, "-");
	else
		fmt_ns(hist_percentile(&cur.fresh, 50), d), fmt_ns(hist_percentile(&cur.fresh, 99), e);
	fprintf(stderr, "%8s %9.0f %8.2f %9s %9s %9s %9s %9s", el, secs > 0 ? cur.records / secs : 0,
		secs > 0 ? cur.bytes / secs / 1e6 : 0, a, b, c, d, e);
	for (int i = 0; i < opt.nslo; i++) {
		struct slo *s = &opt.slo[i];
		double v;
		int st = slo_check(s, &cur, secs, 0, &v);
		int wdt = (int)(strlen(s->text) > 6 ? strlen(s->text) : 6);

		if (st >= 0)
			s->intervals++;
		if (st == 0)
			s->breaches++;
		fprintf(stderr, " %*s", wdt, st < 0 ? "-" : st ? "ok" : "BREACH");
	}
	fputc('\n', stderr);
}

/* Folds the interval into the run's totals. */
static void fold(void)
{
	hist_merge(&tot.lat, &cur.lat);
	hist_merge(&tot.fresh, &cur.fresh);
	tot.records += cur.records;
	tot.bytes += cur.bytes;
	tot.untimed += cur.untimed;
	hist_reset(&cur.lat);
	hist_reset(&cur.fresh);
	cur.records = cur.bytes = cur.untimed = 0;
}

/* Prints an interval line when one is due. */
static void tick(void)
{
	int64_t now;

	if (opt.interval <= 0)
		return;
	now = cli_mono_ns();
	if (now < next_tick)
		return;
	interval_line(now);
	fold();
	if (opt.prom != NULL)
		write_prom(&tot);
	last_tick = now;
	next_tick += opt.interval;
	if (next_tick <= now)
		next_tick = now + opt.interval;
}

/* ---- the summary ------------------------------------------------------- */

static const double sum_pct[] = { 50, 90, 95, 99, 99.9 };
#define NSUM (sizeof(sum_pct) / sizeof(sum_pct[0]))

static void summary_row(FILE *fp, const char *label, const struct hist *h)
{
	char v[FMT_SZ];

	fprintf(fp, "%-12s", label);
	if (h->total == 0) {
		fputs(" (no values)\n", fp);
		return;
	}
	for (size_t i = 0; i < NSUM; i++)
		fprintf(fp, " %8s", fmt_ns(hist_percentile(h, sum_pct[i]), v));
	fprintf(fp, " %8s", fmt_ns(h->max, v));
	fprintf(fp, " %8s\n", fmt_ns((int64_t)llround(hist_mean(h)), v));
}

/* An ASCII bar chart of the latency distribution over 1-2-5 ranges. */
static void bar_chart(FILE *fp, const struct hist *h)
{
	enum { NB = 48, WIDTH = 40 };
	uint64_t bins[NB] = { 0 }, top = 0;
	int64_t edge[NB + 1];
	struct hist_iter it;
	int first = NB, last = -1, step = 1;
	char lo[FMT_SZ], hi[FMT_SZ];

	if (h->total == 0)
		return;
	/* edge[i] = 1-2-5 * 10^(i/3) ns, from 1 ns. */
	for (int i = 0; i <= NB; i++)
		edge[i] = (int64_t)((i % 3 == 0 ? 1 : i % 3 == 1 ? 2 : 5) * pow(10, i / 3));
	hist_iter_init(&it, h);
	while (hist_iter_next(&it)) {
		int64_t mid = it.lo + (it.hi - it.lo) / 2;
		int i = 0;

		while (i < NB - 1 && mid >= edge[i + 1])
			i++;
		bins[i] += it.count;
		if (i < first)
			first = i;
		if (i > last)
			last = i;
	}
	if (last - first >= 18) {	/* too many rows: decades */
		step = 3;
		first -= first % 3;
	}
	for (int i = first; i <= last; i += step) {
		uint64_t c = 0;

		for (int k = i; k < i + step && k < NB; k++)
			c += bins[k];
		if (c > top)
			top = c;
	}
	fputs("latency distribution:\n", fp);
	for (int i = first; i <= last; i += step) {
		uint64_t c = 0;
		int n;

		for (int k = i; k < i + step && k < NB; k++)
			c += bins[k];
		n = (int)((double)c / (double)top * WIDTH + 0.5);
		if (c > 0 && n == 0)
			n = 1;
		fprintf(fp, "  %6s .. %-6s |", fmt_axis((double)edge[i], lo),
			fmt_axis((double)edge[i + step < NB ? i + step : NB], hi));
		for (int k = 0; k < WIDTH; k++)
			fputc(k < n ? '#' : ' ', fp);
		fprintf(fp, "| %10llu %5.1f%%\n", (unsigned long long)c, 100.0 * c / h->total);
	}
}

static void summary(FILE *fp, double secs)
{
	char v[FMT_SZ], w[FMT_SZ], x[FMT_SZ], pn[FMT_SZ];

	fprintf(fp, "%s: %llu records in %.3fs: %.1f records/s, %.3f MB/s\n", cli_progname,
		(unsigned long long)tot.records, secs, secs > 0 ? tot.records / secs : 0,
		secs > 0 ? tot.bytes / secs / 1e6 : 0);
	fprintf(fp, "%-12s", "");
	for (size_t i = 0; i < NSUM; i++)
		fprintf(fp, " %8s", fmt_pct(sum_pct[i], pn));
	fprintf(fp, " %8s %8s\n", "max", "mean");
	summary_row(fp, "latency", &tot.lat);
	summary_row(fp, "freshness", &tot.fresh);
	if (tot.untimed > 0)
		fprintf(fp, "(%llu records had no ingest time)\n", (unsigned long long)tot.untimed);
	if (tot.lat.clamped > 0)
		fprintf(fp, "(%llu latency values were negative, counted as 0: ingest times in the future, clocks disagree?)\n",
			(unsigned long long)tot.lat.clamped);
	if (tot.fresh.clamped > 0)
		fprintf(fp, "(%llu freshness values were negative, counted as 0: event times in the future, such as a window's end)\n",
			(unsigned long long)tot.fresh.clamped);
	if (markers > 0) {
		char head[64];

		snprintf(head, sizeof(head), "hop (%llu markers)", (unsigned long long)markers);
		fprintf(fp, "%-30s %8s %8s %8s\n", head, "p50", "p99", "max");
		for (int i = 0; i < nstages; i++)
			fprintf(fp, "%3d %-26s %8s %8s %8s\n", stages[i].hop, stages[i].name,
				fmt_ns(hist_percentile(&stages[i].h, 50), v),
				fmt_ns(hist_percentile(&stages[i].h, 99), w), fmt_ns(stages[i].h.max, x));
		fprintf(fp, "    %-26s %8s %8s %8s\n", "end to end", fmt_ns(hist_percentile(&e2e, 50), v),
			fmt_ns(hist_percentile(&e2e, 99), w), fmt_ns(e2e.max, x));
	}
	if (bad_markers > 0)
		fprintf(fp, "(%llu malformed markers were ignored)\n", (unsigned long long)bad_markers);
	if (stage_overflow > 0)
		fprintf(fp, "(%llu stamps beyond %d stages were ignored)\n",
			(unsigned long long)stage_overflow, MAX_STAGES);
	for (int i = 0; i < opt.nslo; i++) {
		const struct slo *s = &opt.slo[i];

		fprintf(fp, "slo %-26s", s->text);
		if (s->state < 0) {
			fputs(" no data\n", fp);
			continue;
		}
		fprintf(fp, " %-8s", s->state ? "held" : "BREACHED");
		if (s->metric == M_RATE)
			fprintf(fp, " %.1f records/s", s->value);
		else
			fprintf(fp, " %s", fmt_ns((int64_t)s->value, v));
		if (s->intervals > 0)
			fprintf(fp, ", breached in %llu of %llu intervals", (unsigned long long)s->breaches,
				(unsigned long long)s->intervals);
		fputc('\n', fp);
	}
	bar_chart(fp, &tot.lat);
}

/* ---- JSON, hgrm, SVG --------------------------------------------------- */

static void json_ms(struct buf *b, const char *key, double ns)
{
	buf_printf(b, "\"%s\":", key);
	json_put_double(b, ns / 1e6);
}

static void json_dist(struct buf *b, const char *key, const struct hist *h)
{
	static const char *keys[] = { "p50", "p90", "p95", "p99", "p999" };

	buf_printf(b, "\"%s\":{\"count\":%llu,\"clamped\":%llu", key, (unsigned long long)h->total,
		   (unsigned long long)h->clamped);
	for (size_t i = 0; i < NSUM; i++) {
		buf_putc(b, ',');
		if (h->total == 0)
			buf_printf(b, "\"%s\":null", keys[i]);
		else
			json_ms(b, keys[i], (double)hist_percentile(h, sum_pct[i]));
	}
	if (h->total == 0) {
		buf_puts(b, ",\"min\":null,\"max\":null,\"mean\":null,\"stddev\":null}");
		return;
	}
	buf_putc(b, ',');
	json_ms(b, "min", (double)h->min);
	buf_putc(b, ',');
	json_ms(b, "max", (double)h->max);
	buf_putc(b, ',');
	json_ms(b, "mean", hist_mean(h));
	buf_putc(b, ',');
	json_ms(b, "stddev", hist_stddev(h));
	buf_putc(b, '}');
}

static void write_json(double secs)
{
	struct buf b = { 0 };
	char t[RTAI_TIME_BUFSZ];

	buf_puts(&b, "{");
	if (opt.name != NULL) {
		buf_puts(&b, "\"name\":");
		json_put_str(&b, opt.name, strlen(opt.name));
		buf_putc(&b, ',');
	}
	buf_puts(&b, "\"start\":\"");
	buf_append(&b, t, rtime_fmt_time(start_wall, t));
	buf_printf(&b, "\",\"records\":%llu,\"bytes\":%llu,\"duration_s\":",
		   (unsigned long long)tot.records, (unsigned long long)tot.bytes);
	json_put_double(&b, secs);
	buf_puts(&b, ",\"rate_per_s\":");
	json_put_double(&b, secs > 0 ? tot.records / secs : 0.0);
	buf_puts(&b, ",\"bytes_per_s\":");
	json_put_double(&b, secs > 0 ? tot.bytes / secs : 0.0);
	buf_printf(&b, ",\"untimed\":%llu,", (unsigned long long)tot.untimed);
	json_dist(&b, "latency_ms", &tot.lat);
	buf_putc(&b, ',');
	json_dist(&b, "freshness_ms", &tot.fresh);
	buf_printf(&b, ",\"markers\":%llu,\"stages\":[", (unsigned long long)markers);
	for (int i = 0; i < nstages; i++) {
		const struct hist *h = &stages[i].h;

		buf_printf(&b, "%s{\"hop\":%d,\"stage\":", i ? "," : "", stages[i].hop);
		json_put_str(&b, stages[i].name, strlen(stages[i].name));
		buf_printf(&b, ",\"count\":%llu,", (unsigned long long)h->total);
		json_ms(&b, "p50_ms", (double)hist_percentile(h, 50));
		buf_putc(&b, ',');
		json_ms(&b, "p99_ms", (double)hist_percentile(h, 99));
		buf_putc(&b, ',');
		json_ms(&b, "max_ms", (double)h->max);
		buf_putc(&b, ',');
		json_ms(&b, "mean_ms", hist_mean(h));
		buf_putc(&b, '}');
	}
	buf_puts(&b, "],\"slo\":[");
	for (int i = 0; i < opt.nslo; i++) {
		const struct slo *s = &opt.slo[i];
		static const char *mname[] = { "latency", "freshness", "hop", "rate" };

		buf_printf(&b, "%s{\"rule\":", i ? "," : "");
		json_put_str(&b, s->text, strlen(s->text));
		buf_printf(&b, ",\"metric\":\"%s\",", mname[s->metric]);
		if (s->metric == M_HOP) {
			buf_puts(&b, "\"stage\":");
			json_put_str(&b, s->stage, strlen(s->stage));
			buf_putc(&b, ',');
		}
		if (s->metric == M_RATE) {
			buf_puts(&b, "\"limit_per_s\":");
			json_put_double(&b, s->limit_rate);
			buf_puts(&b, ",\"value_per_s\":");
			if (s->state < 0)
				buf_puts(&b, "null");
			else
				json_put_double(&b, s->value);
		} else {
			json_ms(&b, "limit_ms", (double)s->limit_ns);
			buf_puts(&b, ",\"value_ms\":");
			if (s->state < 0)
				buf_puts(&b, "null");
			else
				json_put_double(&b, s->value / 1e6);
		}
		buf_printf(&b, ",\"held\":%s,\"intervals\":%llu,\"breached_intervals\":%llu}",
			   s->state < 0 ? "null" : s->state ? "true" : "false",
			   (unsigned long long)s->intervals, (unsigned long long)s->breaches);
	}
	buf_puts(&b, "]}\n");
	save(opt.json, &b);
	buf_free(&b);
}

/* HdrHistogram's outputPercentileDistribution, values in milliseconds. */
static void write_hgrm(const struct hist *h)
{
	struct buf b = { 0 };
	struct hist_piter it;

	buf_printf(&b, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount",
		   "1/(1-Percentile)");
	hist_piter_init(&it, h, 5);
	while (hist_piter_next(&it)) {
		double p = it.level / 100.0;

		if (it.last)
			buf_printf(&b, "%12.3f %2.12f %10llu\n", it.value / 1e6, p,
				   (unsigned long long)it.cum);
		else
			buf_printf(&b, "%12.3f %2.12f %10llu %14.2f\n", it.value / 1e6, p,
				   (unsigned long long)it.cum, 1.0 / (1.0 - p));
	}
	buf_printf(&b, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", hist_mean(h) / 1e6,
		   hist_stddev(h) / 1e6);
	buf_printf(&b, "#[Max     = %12.3f, Total count    = %12llu]\n", h->max / 1e6,
		   (unsigned long long)h->total);
	buf_printf(&b, "#[Buckets = %12d, SubBuckets     = %12d]\n", h->bucket_count, h->sub_count);
	save(opt.hgrm, &b);
	buf_free(&b);
}

/* ---- the SVG chart ----------------------------------------------------- */

static void xml_text(struct buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': buf_puts(b, "&lt;"); break;
		case '>': buf_puts(b, "&gt;"); break;
		case '&': buf_puts(b, "&amp;"); break;
		case '"': buf_puts(b, "&quot;"); break;
		default: buf_putc(b, (uint8_t)*s);
		}
	}
}

/* The lowest value above 0 (or 1 when there is none), for a log axis. */
static int64_t lowest_positive(const struct hist *h)
{
	struct hist_iter it;

	hist_iter_init(&it, h);
	while (hist_iter_next(&it))
		if (it.hi > 0)
			return it.lo > 0 ? it.lo : h->min > 0 ? h->min : 1;
	return 1;
}

struct chart {
	double x0, y0, w, h;		/* plot area */
	double xmax;			/* decades of 1/(1-p) shown */
	double ylo, yhi;		/* value range (ns), log or linear */
	int ylog;
};

static double cx(const struct chart *c, double p)
{
	double d = p >= 1.0 ? c->xmax : log10(1.0 / (1.0 - p));

	if (d > c->xmax)
		d = c->xmax;
	return c->x0 + d / c->xmax * c->w;
}

static double cy(const struct chart *c, double v)
{
	double f;

	if (c->ylog)
		f = (log10(v < c->ylo ? c->ylo : v) - log10(c->ylo)) / (log10(c->yhi) - log10(c->ylo));
	else
		f = (v - c->ylo) / (c->yhi - c->ylo);
	if (f < 0)
		f = 0;
	if (f > 1)
		f = 1;
	return c->y0 + c->h - f * c->h;
}

/* A nice round step for a linear axis with about n ticks. */
static double nice_step(double range, int n)
{
	double raw = range / n, mag = pow(10, floor(log10(raw))), f = raw / mag;

	return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static void svg_curve(struct buf *b, const struct chart *c, const struct hist *h,
		      const char *color, const char *label)
{
	struct hist_piter it;
	int n = 0;

	buf_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
	hist_piter_init(&it, h, 5);
	while (hist_piter_next(&it)) {
		double p = it.level / 100.0;

		buf_printf(b, "%s%.1f,%.1f", n++ ? " " : "", cx(c, p), cy(c, (double)it.value));
	}
	buf_puts(b, "\"><title>");
	xml_text(b, label);
	buf_puts(b, "</title></polyline>\n");
}

static void write_svg(void)
{
	static const char *lat_color = "#1f77b4", *fresh_color = "#2ca02c", *slo_color = "#d62728";
	struct chart c = { .x0 = 90, .y0 = 60, .w = 760, .h = 440 };
	struct buf b = { 0 };
	char v[FMT_SZ], lab[256];
	double lo = INFINITY, hi = 0;
	/* A metric whose values are all 0 (clamped: times in the future) has
	 * no curve to draw. */
	int has_lat = tot.lat.max > 0, has_fresh = tot.fresh.max > 0, nlabels = 0;
	double label_y[MAX_SLO], ly;
	uint64_t n = tot.lat.total > tot.fresh.total ? tot.lat.total : tot.fresh.total;

	/* x: up to the decade of 1/(1-p) that the count resolves, 2..6. */
	c.xmax = n > 1 ? ceil(log10((double)n)) : 2;
	if (c.xmax < 2)
		c.xmax = 2;
	if (c.xmax > 6)
		c.xmax = 6;
	if (has_lat)
		lo = fmin(lo, (double)lowest_positive(&tot.lat)), hi = fmax(hi, (double)tot.lat.max);
	if (has_fresh)
		lo = fmin(lo, (double)lowest_positive(&tot.fresh)), hi = fmax(hi, (double)tot.fresh.max);
	for (int i = 0; i < opt.nslo; i++)
		if ((opt.slo[i].metric == M_LATENCY && has_lat) ||
		    (opt.slo[i].metric == M_FRESHNESS && has_fresh))
			lo = fmin(lo, (double)opt.slo[i].limit_ns), hi = fmax(hi, (double)opt.slo[i].limit_ns);
	if (!isfinite(lo) || hi <= 0)
		lo = 1e3, hi = 1e9;
	if (lo < 1)
		lo = 1;
	c.ylog = hi / lo > 20;
	if (c.ylog) {
		c.ylo = pow(10, floor(log10(lo)));
		c.yhi = pow(10, ceil(log10(hi * 1.0001)));
	} else {
		double step = nice_step(hi, 5);

		c.ylo = 0;
		c.yhi = ceil(hi * 1.05 / step) * step;
	}

	buf_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"600\" "
		   "viewBox=\"0 0 900 600\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"13\">\n"
		   "<rect width=\"900\" height=\"600\" fill=\"white\"/>\n");
	snprintf(lab, sizeof(lab), "%s%s%s by percentile", opt.name ? opt.name : "",
		 opt.name ? ": " : "", has_fresh ? "latency and freshness" : "latency");
	buf_puts(&b, "<text x=\"450\" y=\"30\" text-anchor=\"middle\" font-size=\"18\" font-weight=\"bold\">");
	xml_text(&b, lab);
	buf_puts(&b, "</text>\n");
	buf_printf(&b, "<text x=\"450\" y=\"48\" text-anchor=\"middle\" fill=\"#555\">%llu records, %llu markers</text>\n",
		   (unsigned long long)tot.records, (unsigned long long)markers);

	/* Grid and x ticks: 0%, 90%, 99%, ... */
	buf_puts(&b, "<g stroke=\"#ddd\" stroke-width=\"1\">\n");
	for (int d = 0; d <= (int)c.xmax; d++) {
		double x = c.x0 + d / c.xmax * c.w;

		buf_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x, c.y0, x,
			   c.y0 + c.h);
	}
	if (c.ylog) {
		for (double y = c.ylo; y <= c.yhi * 1.0001; y *= 10)
			buf_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", c.x0,
				   cy(&c, y), c.x0 + c.w, cy(&c, y));
	} else {
		double step = nice_step(c.yhi, 5);

		for (double y = 0; y <= c.yhi * 1.0001; y += step)
			buf_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", c.x0,
				   cy(&c, y), c.x0 + c.w, cy(&c, y));
	}
	buf_puts(&b, "</g>\n<g fill=\"#333\">\n");
	for (int d = 0; d <= (int)c.xmax; d++) {
		static const char *names[] = { "0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%" };

		buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
			   c.x0 + d / c.xmax * c.w, c.y0 + c.h + 20, names[d]);
	}
	if (c.ylog) {
		for (double y = c.ylo; y <= c.yhi * 1.0001; y *= 10)
			buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
				   c.x0 - 8, cy(&c, y) + 4, fmt_axis(y, v));
	} else {
		double step = nice_step(c.yhi, 5);

		for (double y = 0; y <= c.yhi * 1.0001; y += step)
			buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
				   c.x0 - 8, cy(&c, y) + 4, fmt_axis(y, v));
	}
	buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">percentile (log scale of 1/(1-p))</text>\n",
		   c.x0 + c.w / 2, c.y0 + c.h + 44);
	buf_printf(&b, "<text transform=\"translate(22 %.1f) rotate(-90)\" text-anchor=\"middle\">%s</text>\n",
		   c.y0 + c.h / 2, c.ylog ? "time (log scale)" : "time");
	buf_puts(&b, "</g>\n");
	buf_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n",
		   c.x0, c.y0, c.w, c.h);

	/* SLO lines: horizontal at the limit, a dotted line at the rule's
	 * percentile, and a dot at the value measured there. */
	for (int i = 0; i < opt.nslo; i++) {
		const struct slo *s = &opt.slo[i];
		const char *color = s->state == 0 ? slo_color
				    : s->metric == M_LATENCY ? lat_color : fresh_color;
		const struct hist *h = s->metric == M_LATENCY ? &tot.lat : &tot.fresh;
		double y, x;

		if ((s->metric != M_LATENCY && s->metric != M_FRESHNESS) || h->max == 0)
			continue;
		y = cy(&c, (double)s->limit_ns);
		x = s->pct > 0 ? cx(&c, s->pct / 100.0) : c.x0 + c.w;
		buf_printf(&b, "<g class=\"slo\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
			   "stroke=\"%s\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n",
			   c.x0, y, c.x0 + c.w, y, color);
		if (s->pct > 0)
			buf_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
				   "stroke-dasharray=\"2 3\"/>\n", x, c.y0, x, c.y0 + c.h, color);
		buf_printf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", x,
			   cy(&c, s->value), color);
		/* Labels of rules with close limits go one under the other. */
		ly = y - 6 < c.y0 + 14 ? y + 16 : y - 6;
		for (int k = 0; k < nlabels; k++)
			if (fabs(ly - label_y[k]) < 15) {
				ly = label_y[k] + 16;
				k = -1;
			}
		label_y[nlabels++] = ly;
		buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"%s\" "
			   "stroke=\"white\" stroke-width=\"4\" paint-order=\"stroke\">",
			   c.x0 + c.w - 6, ly, color);
		xml_text(&b, s->text);
		buf_printf(&b, " %s (%s)</text></g>\n", s->state ? "held" : "BREACHED",
			   fmt_ns((int64_t)s->value, v));
	}
	if (!has_lat && !has_fresh)
		buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#555\">"
			   "no timed records</text>\n", c.x0 + c.w / 2, c.y0 + c.h / 2);
	if (has_lat)
		svg_curve(&b, &c, &tot.lat, lat_color, "latency");
	if (has_fresh)
		svg_curve(&b, &c, &tot.fresh, fresh_color, "freshness");

	/* Legend */
	buf_printf(&b, "<g class=\"legend\"><rect x=\"%.1f\" y=\"%.1f\" width=\"150\" height=\"%d\" fill=\"white\" stroke=\"#999\"/>\n",
		   c.x0 + 12, c.y0 + 12, has_fresh ? 48 : 28);
	buf_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>"
		   "<text x=\"%.1f\" y=\"%.1f\">latency</text>\n",
		   c.x0 + 20, c.y0 + 26, c.x0 + 48, c.y0 + 26, lat_color, c.x0 + 56, c.y0 + 30);
	if (has_fresh)
		buf_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>"
			   "<text x=\"%.1f\" y=\"%.1f\">freshness</text>\n",
			   c.x0 + 20, c.y0 + 46, c.x0 + 48, c.y0 + 46, fresh_color, c.x0 + 56, c.y0 + 50);
	buf_puts(&b, "</g>\n");
	/* The figures under the chart. */
	for (int k = 0; k < 2; k++) {
		const struct hist *h = k == 0 ? &tot.lat : &tot.fresh;
		char p50[FMT_SZ], p99[FMT_SZ], p999[FMT_SZ], mx[FMT_SZ];

		if (h->total == 0)
			continue;
		if (h->max == 0) {
			buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\">%s: every value 0 "
				   "(times in the future)</text>\n", c.x0, c.y0 + c.h + 66 + 18 * k,
				   k == 0 ? lat_color : fresh_color, k == 0 ? "latency" : "freshness");
			continue;
		}
		buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\">%s: p50 %s, p99 %s, p99.9 %s, max %s</text>\n",
			   c.x0, c.y0 + c.h + 66 + 18 * k, k == 0 ? lat_color : fresh_color,
			   k == 0 ? "latency" : "freshness", fmt_ns(hist_percentile(h, 50), p50),
			   fmt_ns(hist_percentile(h, 99), p99), fmt_ns(hist_percentile(h, 99.9), p999),
			   fmt_ns(h->max, mx));
	}
	buf_puts(&b, "</svg>\n");
	save(opt.svg, &b);
	buf_free(&b);
}

/* ---- the main loop ----------------------------------------------------- */

static struct loop *loop;		/* the event loop */
static struct loop_timer *tick_timer;	/* the next interval line */
static uint64_t nframes;		/* frames of the current input */

/* ---- checkpoints ---------------------------------------------------------- */

static struct ckpt *ck;			/* checkpoints; NULL when off */
static struct rec brec;		/* scratch for barrier_decode */
static struct buf snapbuf;		/* the state, reused from barrier to barrier */
static int savepointed;			/* a savepoint ended the run */
static int ckpt_failed;			/* a checkpoint could not be written */

/* The stage's state, after a tag and version of its own: the time run so
 * far and when the first run began, the marker counts, the run's and the
 * interval's records and histograms, the hops, and per --slo rule its
 * interval counts (the rules are part of the stage's identity). */
#define STATE_TAG "rtai-lat 1"

static void save_window(struct buf *b, const struct window *w)
{
	snap_u64(b, w->records);
	snap_u64(b, w->bytes);
	snap_u64(b, w->untimed);
	hist_snapshot(&w->lat, b);
	hist_snapshot(&w->fresh, b);
}

static void save_state(struct buf *b)
{
	snap_bytes(b, STATE_TAG, strlen(STATE_TAG));
	snap_i64(b, cli_mono_ns() - start_mono);
	snap_i64(b, start_wall);
	snap_u64(b, markers);
	snap_u64(b, bad_markers);
	snap_u64(b, stage_overflow);
	save_window(b, &tot);
	save_window(b, &cur);
	hist_snapshot(&e2e, b);
	snap_u32(b, (uint32_t)nstages);
	for (int i = 0; i < nstages; i++) {
		snap_bytes(b, stages[i].name, strlen(stages[i].name));
		snap_u32(b, (uint32_t)stages[i].hop);
		hist_snapshot(&stages[i].h, b);
	}
	snap_u32(b, (uint32_t)opt.nslo);
	for (int i = 0; i < opt.nslo; i++) {
		snap_u64(b, opt.slo[i].intervals);
		snap_u64(b, opt.slo[i].breaches);
	}
}

static void load_window(struct snap_rd *r, struct window *w)
{
	w->records = snap_get_u64(r);
	w->bytes = snap_get_u64(r);
	w->untimed = snap_get_u64(r);
	hist_restore(&w->lat, r);
	hist_restore(&w->fresh, r);
}

/* Loads what save_state() wrote into the freshly initialised state.
 * Returns 0, or -1 with err set. */
static int load_state(const uint8_t *p, size_t n, char *err, size_t errlen)
{
	struct snap_rd r;
	const uint8_t *name;
	size_t nn;
	uint32_t ns, nslo;
	int64_t elapsed;

	if (snap_open_tagged(&r, p, n, STATE_TAG, "rtai-lat's figures", err, errlen) < 0)
		return -1;
	elapsed = snap_get_i64(&r);
	start_wall = snap_get_i64(&r);
	markers = snap_get_u64(&r);
	bad_markers = snap_get_u64(&r);
	stage_overflow = snap_get_u64(&r);
	load_window(&r, &tot);
	load_window(&r, &cur);
	hist_restore(&e2e, &r);
	ns = snap_get_count(&r, 4 + 4);
	if (ns > MAX_STAGES)
		snap_fail(&r, "more hops than rtai-lat keeps");
	for (uint32_t i = 0; i < ns && r.bad == NULL; i++) {
		name = snap_get_bytes(&r, sizeof(stages[0].name) - 1, &nn);
		if (name == NULL)
			break;
		memcpy(stages[i].name, name, nn);
		stages[i].name[nn] = '\0';
		stages[i].hop = (int)snap_get_u32(&r);
		hist_init(&stages[i].h, 1, LAT_HIGHEST, 3);
		nstages = (int)i + 1;
		hist_restore(&stages[i].h, &r);
	}
	nslo = snap_get_u32(&r);
	if (r.bad == NULL && nslo != (uint32_t)opt.nslo)
		snap_fail(&r, "another number of --slo rules");
	for (int i = 0; i < opt.nslo && r.bad == NULL; i++) {
		opt.slo[i].intervals = snap_get_u64(&r);
		opt.slo[i].breaches = snap_get_u64(&r);
	}
	if (elapsed < 0)
		snap_fail(&r, "a negative run time");
	if (snap_close_tagged(&r, 1, err, errlen) < 0)
		return -1;
	start_mono = cli_mono_ns() - elapsed;
	return 0;
}

/* Opens DIR and loads the latest complete checkpoint, if any. Returns 0,
 * or an exit status after a message. */
static int ckpt_start(int argc, char **argv)
{
	int64_t id;

	return ckpt_stage(&ck, &id, "rtai-lat", opt.ckpt_dir, argc, argv, opt.stage_name,
			  load_state);
}

/* save_state() for ckpt_write_bg (it serializes into its own buffer). */
static void save_bg(struct buf *b, void *arg)
{
	(void)arg;
	save_state(b);
}

/* A barrier: the figures as of every frame before it go to DIR, then the
 * barrier goes on; a savepoint ends the run after that (the reports are
 * written as at the end of the input). Returns 0, or -1 after a message. */
static int on_barrier(struct frame_rd *rd, const struct frame *f)
{
	struct barrier b;
	char err[1024];

	if (barrier_read(rd, f, &brec, &b) < 0) {
		ckpt_failed = 1;
		return -1;
	}
	if (!b.savepoint) {
		/* Written in the background (ckpt_write_bg): no fsync in the way
		 * of the frames being timed. A savepoint is written before it
		 * goes on. */
		if (ckpt_write_bg(ck, b.checkpoint, save_bg, NULL, err, sizeof(err)) < 0) {
			cli_warn("%s", err);
			ckpt_failed = 1;
			return -1;
		}
	} else {
		buf_reset(&snapbuf);
		save_state(&snapbuf);
		if (ckpt_wait(ck, err, sizeof(err)) < 0 ||
		    ckpt_write(ck, b.checkpoint, snapbuf.p, snapbuf.len, err, sizeof(err)) < 0) {
			cli_warn("checkpoint %lld: %s", (long long)b.checkpoint, err);
			ckpt_failed = 1;
			return -1;
		}
	}
	if (pass)
		wr_frame(&out, f);
	if (b.savepoint) {
		savepointed = 1;
		loop_stop(loop);
	}
	return 0;
}

static int lat_frame(void *arg, struct frame_rd *rd, const struct frame *f)
{
	(void)arg;
	if (f->kind == RTAI_K_BARRIER && ck != NULL)
		return on_barrier(rd, f);
	on_frame(f);
	if ((++nframes & 63) == 0)
		tick();
	return 0;
}

static int lat_end(void *arg, struct frame_rd *rd, enum loop_end why)
{
	if (why == LOOP_END_ERROR) {
		cli_warn("%s", rd->err);
		*(int *)arg = -1;
	}
	return 0;
}

/* Before reading or waiting: an interval line if one is due, and the
 * timer set for the next. */
static int lat_wake(void *arg)
{
	(void)arg;
	tick();
	if (opt.interval > 0)
		loop_timer_at(tick_timer, next_tick);
	return 0;
}

/* Reads one input to its end (or until stopped), waking for interval
 * lines while it is idle. Returns 0, or -1 after a message. */
static int lat_one(const char *path)
{
	static const struct loop_ops ops = { .data = lat_frame, .control = lat_frame,
					     .end = lat_end };
	struct frame_rd rd;
	int ret = 0;

	if (rd_open(&rd, path) < 0) {
		cli_warn("%s", rd.err);
		return -1;
	}
	nframes = 0;
	loop_add_input(loop, &rd, LOOP_FRAMES, &ops, &ret);
	if (loop_run(loop) < 0) {
		if (loop_err(loop) == NULL)	/* a callback's -1, reported */
			ret = -1;
		else
			cli_die(RTAI_EXIT_FAIL, "%s", loop_err(loop));
	}
	rd_close(&rd);
	return ret;
}

static void init_window(struct window *w)
{
	hist_init(&w->lat, 1, LAT_HIGHEST, 3);
	hist_init(&w->fresh, FRESH_LOWEST, FRESH_HIGHEST, 3);
}

static void free_window(struct window *w)
{
	hist_free(&w->lat);
	hist_free(&w->fresh);
}

/* Judges every rule over the run; returns 1 if one was breached. */
static int judge(double secs)
{
	int breached = 0;

	for (int i = 0; i < opt.nslo; i++) {
		struct slo *s = &opt.slo[i];

		s->state = slo_check(s, &tot, secs, 1, &s->value);
		breached |= s->state == 0;
	}
	return breached;
}

int main(int argc, char **argv)
{
	static char *stdin_only[] = { "-", NULL };
	const char *max_frame = NULL;
	char **files, **argv0 = argv;
	double secs;
	int c, nfiles, breached = 0, argc0 = argc;

	cli_init("rtai-lat", argv);
	while ((c = getopt_long(argc, argv, "ni:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': opt.no_pass = 1; break;
		case 'i': opt.interval = cli_opt_duration("--interval", optarg); break;
		case 'q': opt.quiet = 1; break;
		case OPT_SLO:
			if (opt.nslo == MAX_SLO)
				cli_usage_error("--slo: at most %d rules", MAX_SLO);
			slo_parse(&opt.slo[opt.nslo++], optarg);
			break;
		case OPT_JSON: opt.json = optarg; break;
		case OPT_PROM: opt.prom = optarg; break;
		case OPT_HGRM: opt.hgrm = optarg; break;
		case OPT_SVG: opt.svg = optarg; break;
		case OPT_NAME: opt.name = optarg; break;
		case OPT_CKPT_DIR: opt.ckpt_dir = optarg; break;
		case OPT_STAGE_NAME: opt.stage_name = optarg; break;
		case OPT_MAX_FRAME: max_frame = optarg; break;
		case 'h': usage(RTAI_EXIT_OK); break;
		case OPT_VERSION: cli_version(); break;
		default: cli_usage_hint();
		}
	}
	argc -= optind;
	argv += optind;
	rd_set_max_frame(max_frame);
	rec_set_max_fields(NULL);
	if (opt.ckpt_dir == NULL)
		opt.ckpt_dir = getenv("RTAI_CHECKPOINT_DIR");
	if (opt.ckpt_dir != NULL && *opt.ckpt_dir == '\0')
		opt.ckpt_dir = NULL;
	files = argc > 0 ? argv : stdin_only;
	nfiles = argc > 0 ? argc : 1;

	init_window(&cur);
	init_window(&tot);
	hist_init(&e2e, 1, LAT_HIGHEST, 3);
	start_mono = cli_mono_ns();
	start_wall = cli_now_ns();
	if ((status = ckpt_start(argc0, argv0)) != 0)	/* may move both back */
		goto out;
	last_tick = cli_mono_ns();
	next_tick = last_tick + opt.interval;

	sig_catch_stop();
	pass = !opt.no_pass && !isatty(1);
	loop = loop_new("rtai-lat");
	if (pass) {
		wr_open_fd(&out, 1, "stdout", 0);
		loop_add_writer(loop, &out);
	}
	loop_on_drained(loop, lat_wake, NULL);
	tick_timer = loop_timer_new(loop, lat_wake, NULL);

	for (int i = 0; i < nfiles && !loop_stopped(loop) && !savepointed && !ckpt_failed; i++)
		if (lat_one(files[i]) < 0)
			status = ckpt_failed ? RTAI_EXIT_FAIL
				 : rd_cut_seen ? RTAI_EXIT_CUT : RTAI_EXIT_FAIL;
	loop_free(loop);
	loop = NULL;
	{
		char err[512];

		/* The last snapshot in place before the reports: --prom's
		 * checkpoint gauges then name the latest checkpoint. */
		if (ckpt_wait(ck, err, sizeof(err)) < 0) {
			cli_warn("%s", err);
			ckpt_failed = 1;
			status = RTAI_EXIT_FAIL;
		}
	}
	if (pass)
		wr_flush(&out);

	/* The last, partial interval goes into the totals unprinted. */
	fold();
	secs = (cli_mono_ns() - start_mono) / 1e9;
	breached = judge(secs);
	if (!opt.quiet)
		summary(stderr, secs);
	if (opt.json != NULL)
		write_json(secs);
	if (opt.prom != NULL)
		write_prom(&tot);
	if (opt.hgrm != NULL)
		write_hgrm(&tot.lat);
	if (opt.svg != NULL)
		write_svg();
	if (pass && ckpt_failed)	/* not a clean end: no end-of-stream frame */
		wr_abandon(&out);
	else if (pass)
		wr_close(&out);
out:
	loop_free(loop);
	ckpt_close(ck);
	rec_free(&brec);
	buf_free(&snapbuf);
	free_window(&cur);
	free_window(&tot);
	hist_free(&e2e);
	for (int i = 0; i < nstages; i++)
		hist_free(&stages[i].h);
	if (status == RTAI_EXIT_OK && breached)
		status = RTAI_EXIT_SLO;
	return status;
}
