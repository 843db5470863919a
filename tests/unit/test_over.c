/* test_over.c - unit tests of lib/over: range boundaries, peers, order and
 * lateness, several keys, min and max as records leave, arrival order, and
 * random streams checked against a brute-force batch computation. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "agg.h"
#include "buf.h"
#include "frame.h"
#include "over.h"
#include "rec.h"
#include "rtime.h"
#include "tap.h"

#define S INT64_C(1000000000)

/* One input frame: a record at t seconds, or an upstream watermark (json
 * NULL), or a latency marker (json "MARKER"), or the revoke of tag 1 (json
 * "REVOKE": over_drop_tag). */
struct in {
	int64_t t;
	const char *json;
};

struct setup {
	const char *const *aggs;	/* NULL-terminated specs */
	const char *key;		/* one key field, or NULL */
	int64_t range, delay;		/* seconds */
	int arrival;
	uint64_t max_keys;
	int tagged;			/* every record of tag 1, with floor */
	int64_t floor;			/* seconds (tagged) */
};

static char err[512];
static enum over_errc last_errc;
static struct over_stats last_stats;

/* Reads a stream file back as text: "T JSON" per record (T in seconds, or
 * ns when not whole), "W T" per watermark, "M" per marker. */
static void slurp(const char *path, struct buf *out)
{
	struct frame_rd rd;
	struct frame f;
	struct rec r = { 0 };

	buf_reset(out);
	if (rd_open(&rd, path) < 0) {
		buf_printf(out, "open: %s\n", rd.err);
		return;
	}
	while (rd_frame(&rd, &f) == 1) {
		int64_t t = f.event_ns;

		if (f.kind == RTAI_K_WATERMARK) {
			buf_printf(out, "W %lld\n", (long long)(t / S));
			continue;
		}
		if (f.kind == RTAI_K_MARKER) {
			buf_puts(out, "M\n");
			continue;
		}
		if (t % S == 0)
			buf_printf(out, "%lld ", (long long)(t / S));
		else
			buf_printf(out, "%lldns ", (long long)t);
		if (rec_from_frame(&r, &f) < 0)
			buf_printf(out, "bad record: %s", r.err);
		else
			rec_to_json(&r, out);
		buf_putc(out, '\n');
	}
	buf_putc(out, '\0');
	rd_close(&rd);
	rec_free(&r);
}

/* Runs the engine over the inputs; out gets the results, late the late
 * records (same format). Returns what the engine returned (0 or -1, with
 * err set). */
static int run(const struct setup *su, const struct in *in, size_t n, struct buf *out,
	       struct buf *late)
{
	char opath[] = "/tmp/rtai-over-XXXXXX", lpath[] = "/tmp/rtai-late-XXXXXX";
	int ofd = mkstemp(opath), lfd = mkstemp(lpath);
	struct agg_set set = { 0 };
	struct frame_wr w, lw;
	struct rec r = { 0 };
	struct buf enc = { 0 };
	char *key = su->key ? (char *)su->key : NULL;
	size_t klen = key ? strlen(key) : 0;
	struct over_conf c = { .range = su->range * S, .delay = su->delay * S,
			       .arrival = su->arrival, .max_keys = su->max_keys,
			       .keys = &key, .klen = &klen, .nkeys = key ? 1 : 0,
			       .aggs = &set, .late = &lw };
	struct over *o;
	int rc = 0;

	for (const char *const *a = su->aggs; *a != NULL; a++)
		if (agg_set_parse(&set, *a, err, sizeof(err)) < 0)
			printf("# %s\n", err);
	wr_open_fd(&w, ofd, "out", 0);
	wr_open_fd(&lw, lfd, "late", 0);
	o = over_new(&c, &w);
	if (su->tagged) {
		over_set_tag(o, 1);
		over_set_floor(o, su->floor * S);
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct frame f = { .kind = RTAI_K_DATA, .enc = RTAI_E_REC,
					.flags = RTAI_F_EVENT, .ingest_ns = 1000 + (int64_t)i,
					.event_ns = in[i].t * S };

		if (in[i].json != NULL && strcmp(in[i].json, "REVOKE") == 0) {
			uint64_t dropped;

			rc = over_drop_tag(o, 1, &dropped);
			continue;
		}
		if (in[i].json == NULL) {
			f.kind = RTAI_K_WATERMARK;
			f.enc = RTAI_E_NONE;
			f.flags = 0;
		} else if (strcmp(in[i].json, "MARKER") == 0) {
			f.kind = RTAI_K_MARKER;
			f.enc = RTAI_E_NONE;
			f.flags = 0;
		} else {
			if (rec_from_json(&r, in[i].json, strlen(in[i].json)) < 0)
				printf("# bad test input %s: %s\n", in[i].json, r.err);
			buf_reset(&enc);
			rec_encode(&r, &enc);
			f.payload = enc.p;
			f.len = (uint32_t)enc.len;
		}
		rc = over_frame(o, &f, "in", i + 1);
	}
	if (rc == 0)
		rc = over_finish(o);
	if (rc == 0)
		rc = over_sync(o);
	if (rc < 0)
		snprintf(err, sizeof(err), "%s", over_err(o));
	last_errc = over_errc(o);
	last_stats = *over_stats(o);
	over_free(o);
	wr_close(&w);
	wr_close(&lw);
	slurp(opath, out);
	if (late != NULL)
		slurp(lpath, late);
	unlink(opath);
	unlink(lpath);
	agg_set_free(&set);
	rec_free(&r);
	buf_free(&enc);
	return rc;
}

static void check(const char *what, const struct setup *su, const struct in *in, size_t n,
		  const char *want, const char *want_late)
{
	struct buf out = { 0 }, late = { 0 };
	int rc = run(su, in, n, &out, &late);

	ok(rc == 0, "%s: runs", what);
	if (rc != 0)
		printf("#   %s\n", err);
	is_str((char *)out.p, want, "%s: output", what);
	if (want_late != NULL)
		is_str((char *)late.p, want_late, "%s: late records", what);
	buf_free(&out);
	buf_free(&late);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- hand-computed cases ------------------------------------------------------ */

static const char *const cnt_sum_min_max[] = { "count", "sum:v", "min:v", "max:v", NULL };

static void test_boundaries(void)
{
	static const struct in in[] = {
		{ 0, "{\"v\":1}" }, { 5, "{\"v\":2}" }, { 10, "{\"v\":3}" },
		{ 15, "{\"v\":4}" }, { 25, "{\"v\":5}" },
	};
	struct setup su = { .aggs = cnt_sum_min_max, .range = 10 };

	/* (t - 10, t]: the record exactly 10 s older is outside. */
	check("range boundaries", &su, in, N(in),
	      "0 {\"v\":1,\"count\":1,\"sum_v\":1,\"min_v\":1,\"max_v\":1}\n"
	      "5 {\"v\":2,\"count\":2,\"sum_v\":3,\"min_v\":1,\"max_v\":2}\n"
	      "10 {\"v\":3,\"count\":2,\"sum_v\":5,\"min_v\":2,\"max_v\":3}\n"
	      "15 {\"v\":4,\"count\":2,\"sum_v\":7,\"min_v\":3,\"max_v\":4}\n"
	      "25 {\"v\":5,\"count\":1,\"sum_v\":5,\"min_v\":5,\"max_v\":5}\n"
	      "W 25\n", "");
}

static void test_peers(void)
{
	static const char *const aggs[] = { "count", "sum:v", "min:v", "max:v", "first:v",
					    "last:v", NULL };
	static const struct in in[] = {
		{ 0, "{\"v\":1}" }, { 3, "{\"v\":2}" }, { 3, "{\"v\":5}" }, { 3, "{\"v\":1}" },
		{ 4, "{\"v\":7}" },
	};
	struct setup su = { .aggs = aggs, .range = 10 };

	/* Every peer at t=3 sees all three, in event order; the last of the
	 * peers by arrival is last. */
	check("peers, event order", &su, in, N(in),
	      "0 {\"v\":1,\"count\":1,\"sum_v\":1,\"min_v\":1,\"max_v\":1,\"first_v\":1,\"last_v\":1}\n"
	      "3 {\"v\":2,\"count\":4,\"sum_v\":9,\"min_v\":1,\"max_v\":5,\"first_v\":1,\"last_v\":1}\n"
	      "3 {\"v\":5,\"count\":4,\"sum_v\":9,\"min_v\":1,\"max_v\":5,\"first_v\":1,\"last_v\":1}\n"
	      "3 {\"v\":1,\"count\":4,\"sum_v\":9,\"min_v\":1,\"max_v\":5,\"first_v\":1,\"last_v\":1}\n"
	      "4 {\"v\":7,\"count\":5,\"sum_v\":16,\"min_v\":1,\"max_v\":7,\"first_v\":1,\"last_v\":7}\n"
	      "W 4\n", "");
	/* In arrival order a peer sees only those that came before it. */
	su.arrival = 1;
	check("peers, arrival order", &su, in, N(in),
	      "0 {\"v\":1,\"count\":1,\"sum_v\":1,\"min_v\":1,\"max_v\":1,\"first_v\":1,\"last_v\":1}\n"
	      "3 {\"v\":2,\"count\":2,\"sum_v\":3,\"min_v\":1,\"max_v\":2,\"first_v\":1,\"last_v\":2}\n"
	      "3 {\"v\":5,\"count\":3,\"sum_v\":8,\"min_v\":1,\"max_v\":5,\"first_v\":1,\"last_v\":5}\n"
	      "3 {\"v\":1,\"count\":4,\"sum_v\":9,\"min_v\":1,\"max_v\":5,\"first_v\":1,\"last_v\":1}\n"
	      "4 {\"v\":7,\"count\":5,\"sum_v\":16,\"min_v\":1,\"max_v\":7,\"first_v\":1,\"last_v\":7}\n"
	      "W 4\n", "");
}

static void test_delay_and_late(void)
{
	static const char *const aggs[] = { "count", "sum:v", NULL };
	static const struct in in[] = {
		{ 10, "{\"v\":1}" },	/* W = 5 */
		{ 7, "{\"v\":2}" },	/* out of order, within the delay */
		{ 12, "{\"v\":3}" },	/* W = 7 */
		{ 4, "{\"v\":4}" },	/* late: 4 < 7 */
		{ 6, "{\"v\":5}" },	/* late */
		{ 7, "{\"v\":9}" },	/* t = W: not late */
		{ 20, "{\"v\":6}" },	/* W = 15: 7, 7, 10, 12 leave */
	};
	struct setup su = { .aggs = aggs, .range = 5, .delay = 5 };
	struct buf out = { 0 };

	check("out of order within the delay, late records", &su, in, N(in),
	      "7 {\"v\":2,\"count\":2,\"sum_v\":11}\n"
	      "7 {\"v\":9,\"count\":2,\"sum_v\":11}\n"
	      "10 {\"v\":1,\"count\":3,\"sum_v\":12}\n"
	      "12 {\"v\":3,\"count\":2,\"sum_v\":4}\n"
	      "20 {\"v\":6,\"count\":1,\"sum_v\":6}\n"
	      "W 15\n",
	      "4 {\"v\":4}\n6 {\"v\":5}\n");
	is_int(last_stats.late, 2, "two late records counted");
	is_int(last_stats.records, 7, "seven records read");
	is_int(last_stats.emitted, 5, "five emitted");

	/* End of input: with a long delay nothing leaves before it, then all. */
	su.delay = 100;
	run(&su, in, N(in), &out, NULL);
	is_str((char *)out.p,
	       "4 {\"v\":4,\"count\":1,\"sum_v\":4}\n"
	       "6 {\"v\":5,\"count\":2,\"sum_v\":9}\n"
	       "7 {\"v\":2,\"count\":4,\"sum_v\":20}\n"
	       "7 {\"v\":9,\"count\":4,\"sum_v\":20}\n"
	       "10 {\"v\":1,\"count\":4,\"sum_v\":17}\n"
	       "12 {\"v\":3,\"count\":2,\"sum_v\":4}\n"
	       "20 {\"v\":6,\"count\":1,\"sum_v\":6}\n"
	       "W -80\n",
	       "end of input: every waiting record leaves, in event order");
	is_int(last_stats.peak_waiting, 7, "all seven waited");
	buf_free(&out);
}

static void test_keys_min_max(void)
{
	static const struct in in[] = {
		{ 0, "{\"k\":\"a\",\"v\":5}" }, { 1, "{\"k\":\"b\",\"v\":4}" },
		{ 2, "{\"k\":\"a\",\"v\":9}" }, { 4, "{\"k\":\"a\",\"v\":1}" },
		{ 11, "{\"k\":\"a\",\"v\":3}" }, { 12, "{\"k\":\"b\",\"v\":8}" },
		{ 13, "{\"k\":\"a\",\"v\":2}" }, { 15, "{\"k\":\"a\",\"v\":7}" },
	};
	struct setup su = { .aggs = cnt_sum_min_max, .key = "k", .range = 10 };

	check("keys interleaved; min and max as records leave", &su, in, N(in),
	      "0 {\"k\":\"a\",\"v\":5,\"count\":1,\"sum_v\":5,\"min_v\":5,\"max_v\":5}\n"
	      "1 {\"k\":\"b\",\"v\":4,\"count\":1,\"sum_v\":4,\"min_v\":4,\"max_v\":4}\n"
	      "2 {\"k\":\"a\",\"v\":9,\"count\":2,\"sum_v\":14,\"min_v\":5,\"max_v\":9}\n"
	      "4 {\"k\":\"a\",\"v\":1,\"count\":3,\"sum_v\":15,\"min_v\":1,\"max_v\":9}\n"
	      "11 {\"k\":\"a\",\"v\":3,\"count\":3,\"sum_v\":13,\"min_v\":1,\"max_v\":9}\n"
	      "12 {\"k\":\"b\",\"v\":8,\"count\":1,\"sum_v\":8,\"min_v\":8,\"max_v\":8}\n"
	      "13 {\"k\":\"a\",\"v\":2,\"count\":3,\"sum_v\":6,\"min_v\":1,\"max_v\":3}\n"
	      "15 {\"k\":\"a\",\"v\":7,\"count\":3,\"sum_v\":12,\"min_v\":2,\"max_v\":7}\n"
	      "W 15\n", "");
	is_int(last_stats.peak_keys, 2, "two keys held state");
	/* b's only record (12) left the range of t=15? no: 12 > 5; a stays too */
	su.arrival = 1;
	check("the same in arrival order (input in order)", &su, in, N(in),
	      "0 {\"k\":\"a\",\"v\":5,\"count\":1,\"sum_v\":5,\"min_v\":5,\"max_v\":5}\n"
	      "1 {\"k\":\"b\",\"v\":4,\"count\":1,\"sum_v\":4,\"min_v\":4,\"max_v\":4}\n"
	      "2 {\"k\":\"a\",\"v\":9,\"count\":2,\"sum_v\":14,\"min_v\":5,\"max_v\":9}\n"
	      "4 {\"k\":\"a\",\"v\":1,\"count\":3,\"sum_v\":15,\"min_v\":1,\"max_v\":9}\n"
	      "11 {\"k\":\"a\",\"v\":3,\"count\":3,\"sum_v\":13,\"min_v\":1,\"max_v\":9}\n"
	      "12 {\"k\":\"b\",\"v\":8,\"count\":1,\"sum_v\":8,\"min_v\":8,\"max_v\":8}\n"
	      "13 {\"k\":\"a\",\"v\":2,\"count\":3,\"sum_v\":6,\"min_v\":1,\"max_v\":3}\n"
	      "15 {\"k\":\"a\",\"v\":7,\"count\":3,\"sum_v\":12,\"min_v\":2,\"max_v\":7}\n"
	      "W 15\n", "");
}

static void test_arrival(void)
{
	static const char *const aggs[] = { "count", "sum:v", "max:v", NULL };
	static const struct in in[] = {
		{ 10, "{\"v\":1}" }, { 15, "{\"v\":2}" }, { 12, "{\"v\":3}" }, { 30, "{\"v\":4}" },
		{ 21, "{\"v\":5}" }, { 25, "{\"v\":6}" }, { 32, "{\"v\":7}" }, { 19, "{\"v\":8}" },
	};
	struct setup su = { .aggs = aggs, .range = 10, .delay = 10, .arrival = 1 };

	/* At once, over what has arrived: 12 does not see 15 (newer); 21 sees
	 * 12 and 15, kept for it although 30 made them leave the newest range;
	 * 19 is late (W = 22). */
	check("arrival order with records out of order", &su, in, N(in),
	      "10 {\"v\":1,\"count\":1,\"sum_v\":1,\"max_v\":1}\n"
	      "15 {\"v\":2,\"count\":2,\"sum_v\":3,\"max_v\":2}\n"
	      "12 {\"v\":3,\"count\":2,\"sum_v\":4,\"max_v\":3}\n"
	      "30 {\"v\":4,\"count\":1,\"sum_v\":4,\"max_v\":4}\n"
	      "21 {\"v\":5,\"count\":3,\"sum_v\":10,\"max_v\":5}\n"
	      "25 {\"v\":6,\"count\":2,\"sum_v\":11,\"max_v\":6}\n"
	      "32 {\"v\":7,\"count\":3,\"sum_v\":17,\"max_v\":7}\n"
	      "W 22\n", "19 {\"v\":8}\n");
	/* The same records in event order: the batch result. */
	su.arrival = 0;
	check("the same in event order", &su, in, N(in),
	      "10 {\"v\":1,\"count\":1,\"sum_v\":1,\"max_v\":1}\n"
	      "12 {\"v\":3,\"count\":2,\"sum_v\":4,\"max_v\":3}\n"
	      "15 {\"v\":2,\"count\":3,\"sum_v\":6,\"max_v\":3}\n"
	      "21 {\"v\":5,\"count\":3,\"sum_v\":10,\"max_v\":5}\n"
	      "25 {\"v\":6,\"count\":2,\"sum_v\":11,\"max_v\":6}\n"
	      "30 {\"v\":4,\"count\":3,\"sum_v\":15,\"max_v\":6}\n"
	      "32 {\"v\":7,\"count\":3,\"sum_v\":17,\"max_v\":7}\n"
	      "W 22\n", "19 {\"v\":8}\n");
}

static void test_frames(void)
{
	static const char *const aggs[] = { "n=count", NULL };
	static const struct in in[] = {
		{ 1, "{\"v\":1}" }, { 2, "{\"v\":2}" }, { 0, "MARKER" },
		{ 5, NULL },		/* an upstream watermark: 1 and 2 leave */
		{ 3, "{\"v\":3}" },	/* late for W = 5 */
		{ 6, "{\"v\":4,\"n\":\"old\"}" },
	};
	struct setup su = { .aggs = aggs, .range = 10, .delay = 100 };

	/* The marker passes at once, ahead of waiting records; the upstream
	 * watermark moves W but is not forwarded; a field named like an
	 * aggregate is replaced. */
	check("markers, upstream watermarks, a field replaced", &su, in, N(in),
	      "M\n"
	      "1 {\"v\":1,\"n\":1}\n"
	      "2 {\"v\":2,\"n\":2}\n"
	      "6 {\"v\":4,\"n\":3}\n"
	      "W 5\n", "3 {\"v\":3}\n");
}

static void test_other_aggs(void)
{
	static const char *const aggs[] = { "distinct:s", "first:s", "last:s", "avg:v",
					    "stddev:v", "p50:v", "count:v", NULL };
	static const struct in in[] = {
		{ 0, "{\"s\":\"x\",\"v\":2}" }, { 1, "{\"s\":\"y\",\"v\":4}" },
		{ 2, "{\"s\":\"x\",\"v\":null}" }, { 3, "{\"s\":null,\"v\":6}" },
		{ 4, "{\"s\":\"z\",\"v\":8}" },
	};
	struct setup su = { .aggs = aggs, .range = 3 };

	/* t=3: (0,3] holds y/4, x/null, null/6; t=4: (1,4] holds x, null, z. */
	check("distinct, first and last of strings, avg, stddev, p50, count of a field",
	      &su, in, N(in),
	      "0 {\"s\":\"x\",\"v\":2,\"distinct_s\":1,\"first_s\":\"x\",\"last_s\":\"x\",\"avg_v\":2.0,"
	      "\"stddev_v\":null,\"p50_v\":1.993661701417345,\"count_v\":1}\n"
	      "1 {\"s\":\"y\",\"v\":4,\"distinct_s\":2,\"first_s\":\"x\",\"last_s\":\"y\",\"avg_v\":3.0,"
	      "\"stddev_v\":1.4142135623730951,\"p50_v\":1.993661701417345,\"count_v\":2}\n"
	      "2 {\"s\":\"x\",\"v\":null,\"distinct_s\":2,\"first_s\":\"x\",\"last_s\":\"x\",\"avg_v\":3.0,"
	      "\"stddev_v\":1.4142135623730951,\"p50_v\":1.993661701417345,\"count_v\":2}\n"
	      "3 {\"s\":null,\"v\":6,\"distinct_s\":2,\"first_s\":\"y\",\"last_s\":\"x\",\"avg_v\":5.0,"
	      "\"stddev_v\":1.4142135623730951,\"p50_v\":4.0148353330285875,\"count_v\":2}\n"
	      "4 {\"s\":\"z\",\"v\":8,\"distinct_s\":2,\"first_s\":\"x\",\"last_s\":\"z\",\"avg_v\":7.0,"
	      "\"stddev_v\":1.4142135623730951,\"p50_v\":5.989510371172621,\"count_v\":2}\n"
	      "W 4\n", NULL);
}

static void test_errors(void)
{
	static const char *const aggs[] = { "sum:v", NULL };
	static const struct in nokey[] = { { 1, "{\"k\":\"a\",\"v\":1}" }, { 2, "{\"v\":2}" } };
	static const struct in badval[] = { { 1, "{\"k\":\"a\",\"v\":\"x\"}" } };
	static const struct in keys[] = {
		{ 1, "{\"k\":\"a\",\"v\":1}" }, { 2, "{\"k\":\"b\",\"v\":1}" },
		{ 13, "{\"k\":\"c\",\"v\":1}" },	/* a and b left the range: fine */
		{ 14, "{\"k\":\"d\",\"v\":1}" },
		{ 15, "{\"k\":\"e\",\"v\":1}" },	/* a third key in range */
	};
	struct setup su = { .aggs = aggs, .key = "k", .range = 10 };
	struct buf out = { 0 };

	ok(run(&su, nokey, N(nokey), &out, NULL) < 0, "a missing key field fails");
	is_str(err, "in: record 2: field \"k\": missing (a key field)", "... with where and what");
	ok(run(&su, badval, N(badval), &out, NULL) < 0, "a string to sum fails");
	is_str(err, "in: record 1: field \"v\": expected number, got string", "... saying so");
	su.max_keys = 2;
	ok(run(&su, keys, 4, &out, NULL) == 0, "--max-keys counts keys holding state only");
	ok(run(&su, keys, N(keys), &out, NULL) < 0, "a third key in range fails");
	is_str(err, "in: record 5: more than 2 keys with records in range", "... saying so");
	ok(last_errc == OVER_E_MAX_KEYS, "... as a limit, for the tool to word");
	su.arrival = 1;
	ok(run(&su, keys, 4, &out, NULL) == 0, "arrival order: keys out of reach do not count");
	ok(run(&su, keys, N(keys), &out, NULL) < 0, "arrival order: a third key in range fails");
	is_str(err, "in: record 5: more than 2 keys with records in range", "... saying so");
	ok(last_errc == OVER_E_MAX_KEYS, "... as a limit, for the tool to word");
	buf_free(&out);
}

/* ---- random streams against a batch computation ----------------------------------- */

struct rrec {
	int64_t t;
	int key, v;		/* v < 0: null */
	int late;
};

static uint64_t rng = 42;

static uint32_t rnd(uint32_t n)
{
	rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(rng >> 33) % n;
}

/* The expected line for r over the records of its key in its range:
 * event order takes every non-late record; arrival order those that
 * arrived up to r. */
static void expect_part(const struct rrec *rs, size_t lo, size_t hi, size_t me, int arrival,
			int64_t range, struct buf *out);

static void expect_line(const struct rrec *rs, size_t n, size_t me, int arrival, int64_t range,
			struct buf *out)
{
	expect_part(rs, 0, n, me, arrival, range, out);
}

/* expect_line over the records [lo, hi) only. */
static void expect_part(const struct rrec *rs, size_t lo, size_t hi, size_t me, int arrival,
			int64_t range, struct buf *out)
{
	const struct rrec *r = &rs[me];
	int64_t cnt = 0, cntv = 0, sum = 0, mn = 0, mx = 0, first = -1, last = -1;
	int64_t ft = 0, lt = 0, seen[10] = { 0 }, distinct = 0;
	struct rec x = { 0 };

	for (size_t i = lo; i < hi; i++) {
		const struct rrec *o = &rs[i];

		if (o->late || o->key != r->key || o->t <= r->t - range || o->t > r->t)
			continue;
		if (arrival && i > me)
			continue;
		cnt++;
		if (o->v < 0)
			continue;
		if (cntv == 0 || o->v < mn)
			mn = o->v;
		if (cntv == 0 || o->v > mx)
			mx = o->v;
		if (first < 0 || o->t < ft)
			first = o->v, ft = o->t;
		if (last < 0 || o->t >= lt)
			last = o->v, lt = o->t;
		if (!seen[o->v]++)
			distinct++;
		cntv++;
		sum += o->v;
	}
	rec_add(&x, "k", 1, val_int(r->key));
	rec_add(&x, "v", 1, r->v < 0 ? val_null() : val_int(r->v));
	rec_add(&x, "i", 1, val_int((int64_t)me));
	rec_add(&x, "count", 5, val_int(cnt));
	rec_add(&x, "count_v", 7, val_int(cntv));
	rec_add(&x, "sum_v", 5, cntv ? val_int(sum) : val_null());
	rec_add(&x, "min_v", 5, cntv ? val_int(mn) : val_null());
	rec_add(&x, "max_v", 5, cntv ? val_int(mx) : val_null());
	rec_add(&x, "first_v", 7, cntv ? val_int(first) : val_null());
	rec_add(&x, "last_v", 6, cntv ? val_int(last) : val_null());
	rec_add(&x, "distinct_v", 10, val_int(distinct));
	buf_printf(out, "%lld ", (long long)r->t);
	rec_to_json(&x, out);
	buf_putc(out, '\n');
	rec_free(&x);
}

/* Prints, as TAP comments, the first line where got and want differ. */
static void show_first_diff(const struct buf *got, const struct buf *want)
{
	size_t i = 0;

	if (strcmp((char *)got->p, (char *)want->p) == 0)
		return;
	while (got->p[i] == want->p[i])
		i++;
	while (i > 0 && got->p[i - 1] != '\n')
		i--;
	printf("#   got  %.200s\n#   want %.200s\n", (char *)got->p + i, (char *)want->p + i);
}

static int cmp_event(const void *a, const void *b)
{
	const struct rrec *x = *(const struct rrec *const *)a, *y = *(const struct rrec *const *)b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x < y ? -1 : x > y;
}

static void test_random(int arrival, int round)
{
	static const char *const aggs[] = { "count", "count:v", "sum:v", "min:v", "max:v",
					    "first:v", "last:v", "distinct:v", NULL };
	enum { NR = 400 };
	struct rrec rs[NR];
	const struct rrec *order[NR];
	struct in in[NR];
	char json[NR][64];
	struct buf out = { 0 }, want = { 0 };
	int64_t clock = 0, maxt = INT64_MIN, delay = 1 + rnd(8), range = 1 + rnd(15);
	struct setup su = { .aggs = aggs, .key = "k", .range = range, .delay = delay,
			    .arrival = arrival };
	size_t no = 0;
	char *nl;

	for (size_t i = 0; i < NR; i++) {
		struct rrec *r = &rs[i];

		clock += rnd(3);
		r->t = clock - rnd(12);		/* disorder: some late */
		r->key = (int)rnd(4);
		r->v = rnd(10) == 0 ? -1 : (int)rnd(10);
		r->late = maxt != INT64_MIN && r->t < maxt - delay;
		if (r->t > maxt)
			maxt = r->t;
		if (r->v < 0)
			snprintf(json[i], sizeof(json[i]), "{\"k\":%d,\"v\":null,\"i\":%zu}", r->key, i);
		else
			snprintf(json[i], sizeof(json[i]), "{\"k\":%d,\"v\":%d,\"i\":%zu}", r->key, r->v, i);
		in[i] = (struct in){ r->t, json[i] };
		if (!r->late)
			order[no++] = r;
	}
	if (!arrival)
		qsort(order, no, sizeof(*order), cmp_event);
	for (size_t i = 0; i < no; i++)
		expect_line(rs, NR, (size_t)(order[i] - rs), arrival, range, &want);
	buf_putc(&want, '\0');
	run(&su, in, NR, &out, NULL);
	/* The watermark line at the end is not part of the comparison. */
	nl = strstr((char *)out.p, "W ");
	if (nl != NULL)
		*nl = '\0';
	ok(strcmp((char *)out.p, (char *)want.p) == 0,
	   "random stream %d (%s order, range %lld, delay %lld): batch result", round,
	   arrival ? "arrival" : "event", (long long)range, (long long)delay);
	show_first_diff(&out, &want);
	buf_free(&out);
	buf_free(&want);
}

/* A partition read again from a commit with horizon H (over_set_floor),
 * then revoked part way (over_drop_tag), then read again, against a brute
 * force: a record before H is dropped and moves nothing; one whose range
 * reaches before H joins its key's range unemitted; the others are
 * emitted over the non-late records of their range. At the revoke, the
 * records the watermark passed leave, the others are dropped, and with
 * nothing left the watermark starts afresh: the rest is a stream of its
 * own. */
static void test_floor_revoke(int arrival, int round)
{
	static const char *const aggs[] = { "count", "count:v", "sum:v", "min:v", "max:v",
					    "first:v", "last:v", "distinct:v", NULL };
	enum { NR = 400 };
	struct rrec rs[NR];
	const struct rrec *order[NR];
	struct in in[NR + 1];
	char json[NR][64];
	struct buf out = { 0 }, want = { 0 };
	int64_t clock = 0, maxt = INT64_MIN, delay = 1 + rnd(8), range = 1 + rnd(15);
	int64_t floor = 20 + rnd(40), wm_cut = INT64_MIN;
	size_t cut = NR / 4 + rnd(NR / 2), no, ni = 0;
	struct setup su = { .aggs = aggs, .key = "k", .range = range, .delay = delay,
			    .arrival = arrival, .tagged = 1, .floor = floor };
	uint8_t dropped[NR] = { 0 }, noemit[NR] = { 0 };

	for (size_t i = 0; i < NR; i++) {
		struct rrec *r = &rs[i];

		if (i == cut) {		/* the revoke: W as it was, then afresh */
			in[ni++] = (struct in){ 0, "REVOKE" };
			wm_cut = maxt == INT64_MIN ? INT64_MIN : maxt - delay;
			maxt = INT64_MIN;
			/* read again from a commit: event time goes back */
			clock = clock - 25 > floor ? clock - 25 : floor;
		}
		clock += rnd(3);
		r->t = clock - rnd(12);		/* disorder: some late */
		r->key = (int)rnd(4);
		r->v = rnd(10) == 0 ? -1 : (int)rnd(10);
		/* Before the floor: dropped, not even late. */
		dropped[i] = r->t < floor;
		r->late = dropped[i] || (maxt != INT64_MIN && r->t < maxt - delay);
		noemit[i] = !dropped[i] && r->t - range < floor;
		if (!dropped[i] && r->t > maxt)
			maxt = r->t;
		if (r->v < 0)
			snprintf(json[i], sizeof(json[i]), "{\"k\":%d,\"v\":null,\"i\":%zu}", r->key, i);
		else
			snprintf(json[i], sizeof(json[i]), "{\"k\":%d,\"v\":%d,\"i\":%zu}", r->key, r->v, i);
		in[ni++] = (struct in){ r->t, json[i] };
	}
	/* Before the revoke, then after: each part on its own. */
	for (int part = 0; part < 2; part++) {
		size_t lo = part == 0 ? 0 : cut, hi = part == 0 ? cut : NR;

		no = 0;
		for (size_t i = lo; i < hi; i++) {
			const struct rrec *r = &rs[i];

			if (r->late || noemit[i])
				continue;
			/* Waiting at the revoke (event order): dropped. */
			if (part == 0 && !arrival && (wm_cut == INT64_MIN || r->t >= wm_cut))
				continue;
			order[no++] = r;
		}
		if (!arrival)
			qsort(order, no, sizeof(*order), cmp_event);
		for (size_t i = 0; i < no; i++)
			expect_part(rs, lo, hi, (size_t)(order[i] - rs), arrival, range, &want);
	}
	buf_putc(&want, '\0');
	run(&su, in, ni, &out, NULL);
	/* Watermark lines are not part of the comparison. */
	{
		char *src = (char *)out.p, *dst = src;

		while (*src) {
			size_t len = strcspn(src, "\n") + (src[strcspn(src, "\n")] == '\n');

			if (strncmp(src, "W ", 2) != 0) {
				memmove(dst, src, len);
				dst += len;
			}
			src += len;
		}
		*dst = '\0';
	}
	ok(strcmp((char *)out.p, (char *)want.p) == 0,
	   "floor and revoke %d (%s order, range %lld, delay %lld, floor %lld, revoke at %zu): "
	   "batch result", round, arrival ? "arrival" : "event", (long long)range,
	   (long long)delay, (long long)floor, cut);
	show_first_diff(&out, &want);
	ok(last_stats.rebuilt > 0 && last_stats.floored > 0,
	   "floor and revoke %d: %llu records dropped before the floor, %llu only rebuilt ranges",
	   round, (unsigned long long)last_stats.floored, (unsigned long long)last_stats.rebuilt);
	buf_free(&out);
	buf_free(&want);
}

/* Float sums: amounts in cents come and go for many turns of the range;
 * the result stays within rounding of a fresh sum. */
static void test_drift(void)
{
	static const char *const aggs[] = { "sum:v", "stddev:v", NULL };
	enum { NR = 3000 };
	static struct in in[NR];
	static char json[NR][48];
	static double vals[NR];
	struct setup su = { .aggs = aggs, .range = 5 };
	struct buf out = { 0 };
	double worst = 0;
	const char *p;
	size_t i = 0;

	for (size_t j = 0; j < NR; j++) {
		vals[j] = (rnd(2) ? rnd(100000) : rnd(100)) / 100.0;
		snprintf(json[j], sizeof(json[j]), "{\"v\":%.17g}", vals[j]);
		in[j] = (struct in){ (int64_t)j, json[j] };
	}
	run(&su, in, NR, &out, NULL);
	for (p = (char *)out.p; (p = strstr(p, "\"sum_v\":")) != NULL; p++, i++) {
		double got = strtod(p + 8, NULL), fresh = 0;

		for (size_t j = i >= 4 ? i - 4 : 0; j <= i; j++)
			fresh += vals[j];
		if (fresh > 0 && fabs(got - fresh) / fresh > worst)
			worst = fabs(got - fresh) / fresh;
	}
	is_int(i, NR, "every record has its sum");
	ok(worst < 1e-12, "float sums stay within rounding of a fresh sum (worst %.3g)", worst);
	buf_free(&out);
}


/* ---- exact sums: aggregates of the records in range alone ------------------------- */

/* The value of "NAME": in the output line of the record whose "i" is i:
 * its text (up to , or }), or NULL. */
static const char *field_of(const char *out, size_t i, const char *name, char *val, size_t vlen)
{
	char pat[64], key[64];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "\"i\":%zu,", i);
	p = strstr(out, pat);
	if (p == NULL)
		return NULL;
	e = strchr(p, '\n');
	snprintf(key, sizeof(key), "\"%s\":", name);
	p = strstr(p, key);
	if (p == NULL || (e != NULL && p > e))
		return NULL;
	p += strlen(key);
	snprintf(val, vlen, "%.*s", (int)strcspn(p, ",}"), p);
	return val;
}

/* The two examples: a large float that left the range must not
 * stay in the small ones' stddev; an int sum is exact when it fits. */
static void test_exact_examples(void)
{
	static const char *const aggs[] = { "count", "sum:f", "stddev:f", NULL };
	static const struct in fin[] = {
		{ 5, "{\"k\":\"a\",\"f\":1e9,\"i\":0}" }, { 12, "{\"k\":\"a\",\"f\":1.0,\"i\":1}" },
		{ 14, "{\"k\":\"a\",\"f\":2.0,\"i\":2}" }, { 23, "{\"k\":\"a\",\"f\":1.0,\"i\":3}" },
	};
	static const char *const iaggs[] = { "sum:f", NULL };
	static const struct in iin[] = {
		{ 0, "{\"k\":\"a\",\"f\":9223372036854775807,\"i\":0}" },
		{ 5, "{\"k\":\"a\",\"f\":1,\"i\":1}" }, { 11, "{\"k\":\"a\",\"f\":2,\"i\":2}" },
		{ 12, "{\"k\":\"a\",\"f\":3,\"i\":3}" },
	};
	struct buf out = { 0 };
	char v[64];

	for (int arrival = 0; arrival < 2; arrival++) {
		struct setup su = { .aggs = aggs, .key = "k", .range = 10, .arrival = arrival };
		const char *how = arrival ? "arrival order" : "event order";

		run(&su, fin, 4, &out, NULL);
		is_str(field_of((char *)out.p, 3, "count", v, sizeof(v)), "2",
		       "%s: 1e9, then 1, 2, 1: at t=23 two records in range", how);
		is_str(field_of((char *)out.p, 3, "sum_f", v, sizeof(v)), "3.0", "... their sum 3.0");
		is_str(field_of((char *)out.p, 3, "stddev_f", v, sizeof(v)), "0.7071067811865476",
		       "... their stddev 0.7071067811865476 (python3: statistics.stdev([2.0, 1.0]))");
		su.aggs = iaggs;
		run(&su, iin, 4, &out, NULL);
		is_str(field_of((char *)out.p, 1, "sum_f", v, sizeof(v)), "9.223372036854776e+18",
		       "%s: INT64_MAX + 1 is the float nearest 2^63", how);
		is_str(field_of((char *)out.p, 2, "sum_f", v, sizeof(v)), "3",
		       "... at t=11 the range holds 1 and 2: the int 3");
		is_str(field_of((char *)out.p, 3, "sum_f", v, sizeof(v)), "6", "... at t=12 the int 6");
	}
	buf_free(&out);
}

/* A value of the adversarial stream: an int or a float, magnitudes mixed. */
struct xrec {
	int64_t t;
	int key, late, isint;
	int64_t i;
	double f;
};

static void xvalue(struct xrec *r)
{
	static const double big[] = { 1e9, 1e15, 1e17, -1e16, 3.5e12 };

	switch (rnd(8)) {
	case 0: r->isint = 1; r->i = INT64_MAX - rnd(3); break;
	case 1: r->isint = 1; r->i = INT64_MIN + rnd(3); break;
	case 2: r->isint = 1; r->i = (int64_t)rnd(100) - 50; break;
	case 3: r->isint = 1; r->i = (int64_t)rnd(100000) * 1000000007; break;
	case 4: r->f = big[rnd(5)]; break;
	case 5: r->f = ((double)rnd(2000) - 1000) / 8; break;
	case 6: r->f = (double)rnd(1000) / 1000; break;
	default: r->f = (double)rnd(100); break;
	}
}

/* Random streams of adversarial magnitudes against a brute force over the
 * records in each range: int sums exact (an int when every value is an
 * int and the exact sum fits in int64, else the double nearest it), float
 * sums and averages within n * 2^-52 of the sum of |x| in range, stddev
 * within rounding of a two-pass computation over the values in range. */
static void test_exact_random(int arrival, int round)
{
	static const char *const aggs[] = { "count", "sum:v", "avg:v", "stddev:v", NULL };
	enum { NR = 500 };
	static struct xrec rs[NR];
	static struct in in[NR];
	static char json[NR][96];
	int64_t clock = 0, maxt = INT64_MIN, delay = arrival ? 4 : 30, range = 1 + rnd(12);
	struct setup su = { .aggs = aggs, .key = "k", .range = range, .delay = delay,
			    .arrival = arrival };
	struct buf out = { 0 };
	int bad = 0, checked = 0;
	char v[64];

	for (size_t i = 0; i < NR; i++) {
		struct xrec *r = &rs[i];

		memset(r, 0, sizeof(*r));
		clock += rnd(3);
		r->t = clock - (arrival ? rnd(6) : rnd(20));
		r->key = (int)rnd(3);
		xvalue(r);
		r->late = maxt != INT64_MIN && r->t < maxt - delay;
		if (r->t > maxt)
			maxt = r->t;
		if (r->isint)
			snprintf(json[i], sizeof(json[i]), "{\"k\":%d,\"v\":%lld,\"i\":%zu}", r->key,
				 (long long)r->i, i);
		else	/* %.17e: a float in JSON, even when integral */
			snprintf(json[i], sizeof(json[i]), "{\"k\":%d,\"v\":%.17e,\"i\":%zu}", r->key,
				 r->f, i);
		in[i] = (struct in){ r->t, json[i] };
	}
	run(&su, in, NR, &out, NULL);
	for (size_t me = 0; me < NR && bad < 3; me++) {
		const struct xrec *r = &rs[me];
		__int128 isum = 0;
		long double fsum = 0, fabs_sum = 0, mean, m2 = 0, sq = 0;
		int64_t n = 0, nf = 0;
		double got, want, tol;
		const char *sum, *avg, *sd;

		if (r->late)
			continue;
		for (size_t i = 0; i < NR; i++) {
			const struct xrec *o = &rs[i];

			if (o->late || o->key != r->key || o->t <= r->t - range || o->t > r->t ||
			    (arrival && i > me))
				continue;
			n++;
			if (o->isint) {
				isum += o->i;
				fabs_sum += fabsl((long double)o->i);
			} else {
				nf++;
				fsum += o->f;
				fabs_sum += fabsl((long double)o->f);
			}
		}
		mean = ((long double)isum + fsum) / n;
		for (size_t i = 0; i < NR; i++) {
			const struct xrec *o = &rs[i];
			long double x, d;

			if (o->late || o->key != r->key || o->t <= r->t - range || o->t > r->t ||
			    (arrival && i > me))
				continue;
			x = o->isint ? (long double)o->i : (long double)o->f;
			d = x - mean;
			m2 += d * d;
			sq += x * x;
		}
		sum = field_of((char *)out.p, me, "sum_v", v, sizeof(v));
		checked++;
		if (sum == NULL) {
			printf("# record %zu: no sum_v\n", me);
			bad++;
			continue;
		}
		if (nf == 0 && isum >= INT64_MIN && isum <= INT64_MAX) {
			char w[32];

			snprintf(w, sizeof(w), "%lld", (long long)isum);
			if (strcmp(sum, w) != 0) {
				printf("# record %zu: sum_v %s, want the int %s\n", me, sum, w);
				bad++;
			}
			continue;
		}
		got = strtod(sum, NULL);
		want = (double)((long double)isum + fsum);
		tol = (double)((long double)(n + 2) * 0x1p-52L * fabs_sum);
		if (strpbrk(sum, ".e") == NULL || fabs(got - want) > tol) {
			printf("# record %zu: sum_v %s, want the float %.17g (within %.3g)\n", me, sum,
			       want, tol);
			bad++;
			continue;
		}
		avg = field_of((char *)out.p, me, "avg_v", v, sizeof(v));
		if (avg == NULL || fabs(strtod(avg, NULL) - want / (double)n) > tol / (double)n + 1e-300) {
			printf("# record %zu: avg_v %s, want %.17g\n", me, avg ? avg : "none",
			       want / (double)n);
			bad++;
			continue;
		}
		sd = field_of((char *)out.p, me, "stddev_v", v, sizeof(v));
		if (n < 2)
			continue;
		got = sd != NULL ? strtod(sd, NULL) : NAN;
		/* Variance within a few n ulps of the sum of squares. */
		tol = (double)(8 * (long double)n * 0x1p-52L * sq / (n - 1));
		if (!(fabs(got * got - (double)(m2 / (n - 1))) <= tol)) {
			printf("# record %zu: stddev_v %s, want %.17g (variance within %.3g)\n", me,
			       sd ? sd : "none", sqrt((double)(m2 / (n - 1))), tol);
			bad++;
		}
	}
	ok(bad == 0 && checked > 100, "adversarial magnitudes %d (%s order, range %lld): %d records "
	   "match a brute force over their range", round, arrival ? "arrival" : "event",
	   (long long)range, checked);
	buf_free(&out);
}

int main(void)
{
	test_boundaries();
	test_peers();
	test_delay_and_late();
	test_keys_min_max();
	test_arrival();
	test_frames();
	test_other_aggs();
	test_errors();
	for (int round = 0; round < 12; round++)
		test_random(round & 1, round);
	for (int round = 0; round < 12; round++)
		test_floor_revoke(round & 1, round);
	test_drift();
	test_exact_examples();
	for (int round = 0; round < 8; round++)
		test_exact_random(round & 1, round);
	return tap_done();
}
