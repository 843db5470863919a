/* test_oversnap.c - unit tests of over_snapshot / over_restore (lib/over.c):
 * for random streams (several keys, int and string, some too long to fit
 * inline; times out of order, peers, late records; values of adversarial
 * magnitudes: ints near the int64 limits, floats near the double limits
 * and tiny ones, so that sums overflow to float and cancel) through every
 * aggregate --over supports, in event and arrival order, with late records
 * set aside or emitted, a run snapshotted after frame k, restored into a
 * new engine and continued writes exactly the frames of the uninterrupted
 * run (results, forwarded frames, late records, watermarks), byte for
 * byte; and an image made with other options, truncated, corrupt or of
 * another version is refused, never misread. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agg.h"
#include "buf.h"
#include "frame.h"
#include "over.h"
#include "rec.h"
#include "rtime.h"
#include "tap.h"

#define S INT64_C(1000000000)

static const char *const specs[] = {
	"count", "count:v", "sum:v", "avg:v", "min:v", "max:v", "first:item", "last:item",
	"first:v", "last:v", "distinct:item", "distinct:v", "stddev:v", "p50:v", "p90:v",
	"p95:f", "p99:f", "sum:f", "avg:f", "stddev:f", "min:f", "max:f",
};
#define NSPECS (sizeof(specs) / sizeof(specs[0]))

static struct agg_set set;
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(uint64_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng % n;
}

/* One input frame: a record (payload in buf at off) or an upstream
 * watermark (len 0, kind WATERMARK), and whether over_sync() follows it
 * (as the tool does before it blocks for input). */
struct ev {
	uint8_t kind;
	int64_t t;
	size_t off, len;
	int sync;
};

static const char *const items[] = { "apple", "pear", "plum", "a rather long item name", "" };

/* A value of v: ints and floats of every magnitude, nulls, a missing field. */
static int put_v(struct rec *r)
{
	static const int64_t big[] = { INT64_MAX, INT64_MIN, INT64_MAX - 7, INT64_MIN + 3,
				       (INT64_C(1) << 53) + 1, -(INT64_C(1) << 62) };
	static const double huge[] = { 1e308, -1e308, 1.7976931348623157e308, 1e-300, -0.0,
				       4.9e-324, 1e16, -1e16, 0.1 };
	uint64_t c = rnd(20);

	if (c == 0)
		return 0;	/* missing: null */
	if (c == 1)
		rec_add(r, "v", 1, val_null());
	else if (c < 4)
		rec_add(r, "v", 1, val_int(big[rnd(sizeof(big) / sizeof(big[0]))]));
	else if (c < 6)
		rec_add(r, "v", 1, val_float(huge[rnd(sizeof(huge) / sizeof(huge[0]))]));
	else if (c < 12)
		rec_add(r, "v", 1, val_float((double)rnd(1000000) / 7.0 - 30000));
	else
		rec_add(r, "v", 1, val_int((int64_t)rnd(2000) - 900));
	return 0;
}

/* n frames over nkeys keys: a clock that moves on in steps of 100 ms (so
 * records share times: peers), times up to jitter behind it, 1 in 30 far
 * behind (late), now and then an upstream watermark. */
static struct ev *stream(int n, int nkeys, int64_t jitter, struct buf *data)
{
	struct ev *e = xcalloc((size_t)n, sizeof(*e));
	struct rec r = { 0 };
	int64_t clock = 1700000000 * S;
	char kt[64];

	for (int i = 0; i < n; i++) {
		uint64_t k = rnd((uint64_t)nkeys);

		clock += (int64_t)rnd(3) * S / 10;
		e[i].sync = rnd(7) == 0;
		if (rnd(50) == 0) {
			e[i].kind = RTAI_K_WATERMARK;
			e[i].t = clock - jitter - (int64_t)rnd(3) * S;
			continue;
		}
		e[i].kind = RTAI_K_DATA;
		e[i].t = clock - (int64_t)rnd((uint64_t)(jitter / (S / 10)) + 1) * (S / 10);
		if (rnd(30) == 0)
			e[i].t -= 40 * S;
		rec_reset(&r);
		if (k % 3 == 0) {
			snprintf(kt, sizeof(kt), k % 2 ? "customer-%030llu" : "c%llu",
				 (unsigned long long)k);
			rec_add(&r, "k", 1, val_str(kt, strlen(kt)));
		} else {
			rec_add(&r, "k", 1, val_int((int64_t)k));
		}
		put_v(&r);
		if (rnd(8) != 0) {
			const char *it = items[rnd(5)];

			rec_add(&r, "item", 4, val_str(it, strlen(it)));
		}
		if (rnd(6) != 0)
			rec_add(&r, "f", 1, val_float((double)rnd(1u << 30) * (rnd(2) ? 1e-3 : 1e9)));
		rec_add(&r, "n", 1, val_int(i));
		e[i].off = data->len;
		rec_encode(&r, data);
		e[i].len = data->len - e[i].off;
	}
	rec_free(&r);
	return e;
}

/* The frames of a stream file as text, one per line, every byte of each
 * (a watermark's ingest time is the wall clock: left out). */
static void dump(const char *path, struct buf *out)
{
	struct frame_rd rd;
	struct frame f;

	if (rd_open(&rd, path) < 0) {
		buf_printf(out, "open: %s\n", rd.err);
		return;
	}
	while (rd_frame(&rd, &f) == 1) {
		if (f.kind == RTAI_K_EOS)
			continue;
		if (f.kind == RTAI_K_WATERMARK) {
			buf_printf(out, "W %lld\n", (long long)f.event_ns);
			continue;
		}
		buf_printf(out, "%u %u %u %lld %lld ", f.kind, f.enc, f.flags,
			   (long long)f.ingest_ns, (long long)f.event_ns);
		for (uint32_t i = 0; i < f.len; i++)
			buf_printf(out, "%02x", f.payload[i]);
		buf_putc(out, '\n');
	}
	rd_close(&rd);
}

static int quiet;		/* damaged images: their records may fail */

/* An engine writing to two temporary files. */
struct eng {
	struct over *o;
	struct frame_wr w, lw;
	char opath[32], lpath[32];
};

static char *keyname = "k";
static size_t keylen = 1;

static void eng_open(struct eng *g, struct over_conf *c)
{
	int ofd, lfd;

	strcpy(g->opath, "/tmp/rtai-osnap-XXXXXX");
	strcpy(g->lpath, "/tmp/rtai-olate-XXXXXX");
	ofd = mkstemp(g->opath);
	lfd = mkstemp(g->lpath);
	wr_open_fd(&g->w, ofd, "out", 0);
	wr_open_fd(&g->lw, lfd, "late", 0);
	if (c->late != NULL)
		c->late = &g->lw;
	g->o = over_new(c, &g->w);
}

/* Ends the engine (finishing it unless it crashed) and appends what it
 * wrote to out and late. */
static void eng_close(struct eng *g, int finish, struct buf *out, struct buf *late)
{
	if (finish && (over_finish(g->o) < 0 || over_sync(g->o) < 0) && !quiet)
		printf("# finish: %s\n", over_err(g->o));
	over_free(g->o);
	wr_close(&g->w);
	wr_close(&g->lw);
	dump(g->opath, out);
	dump(g->lpath, late);
	unlink(g->opath);
	unlink(g->lpath);
}

static void feed(struct over *o, const struct ev *e, const struct buf *data, int from, int to)
{
	for (int i = from; i < to; i++) {
		struct frame f = { .kind = e[i].kind, .event_ns = e[i].t,
					.ingest_ns = 1000 + i };

		if (e[i].kind == RTAI_K_DATA) {
			f.enc = RTAI_E_REC;
			f.flags = RTAI_F_EVENT;
			f.payload = data->p + e[i].off;
			f.len = (uint32_t)e[i].len;
		}
		if (over_frame(o, &f, "in", (uint64_t)i + 1) < 0 && !quiet)
			printf("# frame %d: %s\n", i, over_err(o));
		if (e[i].sync && over_sync(o) < 0 && !quiet)
			printf("# sync %d: %s\n", i, over_err(o));
	}
}

static void scenario(const char *name, struct over_conf c, int n, int nkeys, int64_t jitter)
{
	struct buf data = { 0 }, want = { 0 }, wlate = { 0 }, got = { 0 }, glate = { 0 };
	struct buf img = { 0 }, img2 = { 0 };
	struct ev *e = stream(n, nkeys, jitter, &data);
	int ks[] = { 0, 1, 2, n / 7, n / 3, n / 2, (int)rnd((uint64_t)n), n - 1, n };
	struct eng g;
	char err[512];

	c.aggs = &set;
	c.keys = &keyname;
	c.klen = &keylen;
	c.nkeys = 1;
	eng_open(&g, &c);
	feed(g.o, e, &data, 0, n);
	eng_close(&g, 1, &want, &wlate);
	ok(want.len > 1000, "%s: the uninterrupted run emits results (%zu bytes)", name, want.len);
	for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
		int rc;

		buf_reset(&got);
		buf_reset(&glate);
		buf_reset(&img);
		buf_reset(&img2);
		eng_open(&g, &c);
		feed(g.o, e, &data, 0, ks[i]);
		over_snapshot(g.o, &img);
		eng_close(&g, 0, &got, &glate);	/* a crash: nothing more leaves */
		eng_open(&g, &c);
		err[0] = '\0';
		rc = over_restore(g.o, img.p, img.len, err, sizeof(err));
		ok(rc == 0, "%s: snapshot after frame %d (%zu bytes) restores", name, ks[i],
		   img.len);
		if (rc != 0)
			printf("#   %s\n", err);
		over_snapshot(g.o, &img2);
		is_int(img2.len, img.len, "%s: frame %d: the restored engine's image has the "
		       "same size", name, ks[i]);
		feed(g.o, e, &data, ks[i], n);
		eng_close(&g, 1, &got, &glate);
		is_bytes(got.p, got.len, want.p, want.len, "%s: restored after frame %d, the "
			 "output is the uninterrupted run's", name, ks[i]);
		is_bytes(glate.p, glate.len, wlate.p, wlate.len, "%s: frame %d: so are the late "
			 "records (%zu bytes)", name, ks[i], wlate.len);
	}
	/* Snapshot, restore, snapshot again and again on the way: no state
	 * drifts through repeated round trips. */
	{
		int step = n / 5 + 1;

		buf_reset(&got);
		buf_reset(&glate);
		eng_open(&g, &c);
		for (int at = 0; at < n; at += step) {
			feed(g.o, e, &data, at, at + step < n ? at + step : n);
			buf_reset(&img);
			over_snapshot(g.o, &img);
			eng_close(&g, 0, &got, &glate);
			eng_open(&g, &c);
			if (over_restore(g.o, img.p, img.len, err, sizeof(err)) != 0)
				printf("#   %s\n", err);
		}
		eng_close(&g, 1, &got, &glate);
		is_bytes(got.p, got.len, want.p, want.len, "%s: restored every %d frames, the "
			 "output is the uninterrupted run's", name, step);
		is_bytes(glate.p, glate.len, wlate.p, wlate.len, "%s: restored every %d frames, so "
			 "are the late records", name, step);
	}
	free(e);
	buf_free(&data);
	buf_free(&want);
	buf_free(&wlate);
	buf_free(&got);
	buf_free(&glate);
	buf_free(&img);
	buf_free(&img2);
}

/* ---- refusals ------------------------------------------------------------ */

/* Restores len bytes of p into a new engine of c; returns the result and
 * leaves the message in err. */
static int try_restore(struct over_conf *c, const void *p, size_t len, char *err,
		       size_t errlen)
{
	struct eng g;
	struct buf a = { 0 }, b = { 0 };
	int rc;

	eng_open(&g, c);
	err[0] = '\0';
	rc = over_restore(g.o, p, len, err, errlen);
	eng_close(&g, 0, &a, &b);
	buf_free(&a);
	buf_free(&b);
	return rc;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void test_refusals(void)
{
	struct over_conf c = { .range = 5 * S, .delay = 2 * S, .aggs = &set, .keys = &keyname,
			       .klen = &keylen, .nkeys = 1 };
	struct over_conf other;
	struct agg_set fewer = { 0 };
	struct buf data = { 0 }, img = { 0 }, bad = { 0 }, x = { 0 }, y = { 0 };
	struct ev *e = stream(600, 30, 3 * S, &data);
	struct eng g;
	char err[1024], want[200];
	int rc, clean = 1, restored = 0;

	eng_open(&g, &c);
	feed(g.o, e, &data, 0, 500);
	over_snapshot(g.o, &img);
	rc = over_restore(g.o, img.p, img.len, err, sizeof(err));
	is_int(rc, -1, "restoring into an engine that holds state is refused");
	is_str(err, "the engine already holds state (restore into a new one)", "... and says so");
	eng_close(&g, 0, &x, &y);

	other = c;
	other.range = 6 * S;
	rc = try_restore(&other, img.p, img.len, err, sizeof(err));
	ok(rc == -1 && strstr(err, "made with other options ('over range=5000000000ns") != NULL &&
	   strstr(err, "these are 'over range=6000000000ns") != NULL,
	   "another range is refused, naming both: %s", err);
	other = c;
	other.delay = 0;
	rc = try_restore(&other, img.p, img.len, err, sizeof(err));
	ok(rc == -1 && strstr(err, "other options") != NULL, "another delay is refused");
	other = c;
	other.arrival = 1;
	rc = try_restore(&other, img.p, img.len, err, sizeof(err));
	ok(rc == -1 && strstr(err, "order=event") != NULL && strstr(err, "order=arrival") != NULL,
	   "another order is refused");
	other = c;
	other.late = &g.lw;	/* replaced by eng_open */
	rc = try_restore(&other, img.p, img.len, err, sizeof(err));
	ok(rc == -1 && strstr(err, "late=aside") != NULL, "late records set aside instead of "
	   "emitted is refused");
	other = c;
	other.nkeys = 0;
	rc = try_restore(&other, img.p, img.len, err, sizeof(err));
	ok(rc == -1 && strstr(err, "other options") != NULL, "another key is refused");
	other = c;
	agg_set_parse(&fewer, "count", err, sizeof(err));
	agg_set_parse(&fewer, "sum:w", err, sizeof(err));
	other.aggs = &fewer;
	rc = try_restore(&other, img.p, img.len, err, sizeof(err));
	ok(rc == -1 && strstr(err, "aggregates=count=count,count_v") != NULL &&
	   strstr(err, "aggregates=count=count,sum_w=sum:w'") != NULL,
	   "other aggregates are refused: %s", err);
	other = c;
	other.max_keys = 10;
	rc = try_restore(&other, img.p, img.len, err, sizeof(err));
	is_int(rc, 0, "another max_keys is accepted (it decides no result)");

	rc = try_restore(&c, "RTWS", 4, err, sizeof(err));
	ok(rc == -1 && strstr(err, "not a range snapshot") != NULL, "a window snapshot: %s", err);
	rc = try_restore(&c, "", 0, err, sizeof(err));
	ok(rc == -1 && strstr(err, "not a range snapshot") != NULL, "an empty image: %s", err);
	rc = try_restore(&c, img.p, 10, err, sizeof(err));
	ok(rc == -1 && strstr(err, "cut short in its header") != NULL, "a header cut short: %s",
	   err);
	rc = try_restore(&c, img.p, img.len - 1, err, sizeof(err));
	ok(rc == -1 && strstr(err, "truncated") != NULL, "a truncated image: %s", err);

	buf_append(&bad, img.p, img.len);
	bad.p[4] = OVER_SNAP_VERSION + 1;
	rc = try_restore(&c, bad.p, bad.len, err, sizeof(err));
	is_int(rc, -1, "another version is refused");
	snprintf(want, sizeof(want), "a range snapshot of version %d (this build reads version %d)",
		 OVER_SNAP_VERSION + 1, OVER_SNAP_VERSION);
	is_str(err, want, "... and says so");
	bad.p[4] = OVER_SNAP_VERSION;
	bad.p[bad.len / 2] ^= 0x10;
	rc = try_restore(&c, bad.p, bad.len, err, sizeof(err));
	ok(rc == -1 && strstr(err, "checksum") != NULL, "a flipped bit is refused: %s", err);

	/* Damage that keeps a valid checksum (a writer's bug, or a crafted
	 * file): refused with a clear message or restored, never a crash
	 * (ASan and valgrind watch); a restored engine then runs on. The
	 * checksum is recomputed as lib/over.c does. */
	quiet = 1;
	for (int i = 0; i < 2000; i++) {
		size_t at = 24 + rnd(img.len - 24);

		buf_reset(&bad);
		buf_append(&bad, img.p, img.len);
		bad.p[at] ^= (uint8_t)(1 + rnd(255));
		if (rnd(4) == 0)	/* shorter, with a consistent length */
			bad.len = 24 + rnd(bad.len - 24);
		put_u64(bad.p + 8, bad.len - 24);
		put_u64(bad.p + 16, rec_hash(bad.p + 24, bad.len - 24,
					      UINT64_C(0x727461696f766572)));
		eng_open(&g, &c);
		err[0] = '\0';
		rc = over_restore(g.o, bad.p, bad.len, err, sizeof(err));
		if (rc == 0) {
			restored++;
			feed(g.o, e, &data, 500, 600);
		} else if (strncmp(err, "a corrupt range snapshot: byte ", 31) != 0 &&
			   strstr(err, "other options") == NULL) {
			printf("#   damage at byte %zu: %s\n", at, err);
			clean = 0;
		}
		buf_reset(&x);
		buf_reset(&y);
		eng_close(&g, rc == 0, &x, &y);
	}
	quiet = 0;
	ok(clean, "2000 damaged images with valid checksums: each refused with a clear "
	   "message or restored (%d restored and run on)", restored);

	free(e);
	buf_free(&data);
	buf_free(&img);
	buf_free(&bad);
	buf_free(&x);
	buf_free(&y);
	agg_set_free(&fewer);
}

int main(void)
{
	struct frame_wr aside;	/* a placeholder: eng_open() points late at its own file */
	char err[200];

	for (size_t i = 0; i < NSPECS; i++)
		if (agg_set_parse(&set, specs[i], err, sizeof(err)) != 0)
			printf("# %s\n", err);

	scenario("event order", (struct over_conf){ .range = 5 * S, .delay = 2 * S },
		 3000, 40, 3 * S);
	scenario("event order, late records aside",
		 (struct over_conf){ .range = 3 * S, .late = &aside }, 3000, 25, 2 * S);
	scenario("event order, 3000 keys", (struct over_conf){ .range = 20 * S, .delay = S },
		 6000, 3000, 2 * S);
	scenario("event order, one key, long range",
		 (struct over_conf){ .range = 60 * S, .delay = 4 * S }, 2500, 1, 5 * S);
	scenario("arrival order", (struct over_conf){ .range = 4 * S, .delay = S, .arrival = 1 },
		 3000, 30, 3 * S);
	scenario("arrival order, late records aside, max_keys",
		 (struct over_conf){ .range = 2 * S, .delay = 3 * S, .arrival = 1,
				     .late = &aside, .max_keys = 5000 }, 3000, 2000, 4 * S);
	test_refusals();
	agg_set_free(&set);
	return tap_done();
}
