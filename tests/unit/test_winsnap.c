/* test_winsnap.c - unit tests of win_snapshot / win_restore (lib/win.c)
 * and agg_row_snapshot / agg_row_restore (lib/agg.c): for random streams
 * (int and string keys, some longer than fit inline, disorder, late
 * records) through tumbling, sliding and session windows with every kind
 * of aggregate, a run snapshotted at record k, restored into a new engine
 * and continued emits exactly what the uninterrupted run emits; the same
 * for an image written in the two steps of win_snapshot_begin/_finish,
 * by another thread while the records go on, or after records reached
 * the windows first; and an image made with other options, truncated,
 * corrupt or of another version is refused, never misread. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "buf.h"
#include "key.h"
#include "rtime.h"
#include "tap.h"
#include "win.h"

static const char *const specs[] = {
	"count", "sum:v", "avg:v", "min:v", "max:v", "first:item", "last:item",
	"distinct:item", "distinct:v", "stddev:v", "p50:v", "p95:v", "p99:f",
};
#define NSPECS (sizeof(specs) / sizeof(specs[0]))

/* A step of a stream: a record, then the watermark the tool would set. */
struct ev {
	struct val key;
	int kid;		/* the key's identity (int or string alike) */
	int64_t t, ingest, wm;
	struct val vals[NSPECS];
};

static struct {
	struct agg_set set;
	struct buf out;		/* results as text, in order */
} g;

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(uint64_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng % n;
}

static const char *const items[] = { "apple", "pear", "plum", "a rather long item name", "" };
static char keytext[4096][24];

/* Every result as one line: key, bounds, ingest, refire, each aggregate. */
static void on_emit(void *arg, const struct win_out *o)
{
	struct buf *b = arg;
	struct val v[4];
	int n = key_values(o->key, o->klen, v, 4);

	for (int i = 0; i < n; i++) {
		val_to_json(&v[i], b);
		buf_putc(b, ' ');
	}
	buf_printf(b, "[%lld,%lld) %lld %d", (long long)o->start, (long long)o->end,
		   (long long)o->ingest, o->refire);
	for (size_t i = 0; i < g.set.n; i++) {
		struct val r;

		agg_result(&g.set, o->row, i, &r);
		buf_putc(b, ' ');
		val_to_json(&r, b);
	}
	buf_putc(b, '\n');
}

/* n events over nkeys keys: a clock that moves on, times up to jitter
 * behind it, the watermark at the largest time seen minus delay. */
static struct ev *stream(int n, int nkeys, int64_t jitter, int64_t delay)
{
	struct ev *e = xcalloc((size_t)n, sizeof(*e));
	int64_t clock = -30 * RTAI_NS_PER_SEC, maxt = INT64_MIN;

	for (int i = 0; i < n; i++) {
		uint64_t k = rnd((uint64_t)nkeys), it = k % 5 == 1 ? 4 : rnd(4);

		clock += (int64_t)rnd(RTAI_NS_PER_SEC / 5);
		e[i].t = clock - (int64_t)rnd((uint64_t)jitter + 1);
		/* 1 in 40 far behind: late for every window */
		if (rnd(40) == 0)
			e[i].t -= 60 * RTAI_NS_PER_SEC;
		maxt = e[i].t > maxt ? e[i].t : maxt;
		e[i].wm = maxt - delay;
		e[i].ingest = i + 1;
		e[i].kid = (int)k;
		/* the same identity as an int or a string; some keys too long to
		 * fit inline */
		if (k % 5 == 0)
			e[i].key = val_str(keytext[k], strlen(keytext[k]));
		else if (k % 2 == 0 && rnd(2))
			e[i].key = val_str(keytext[k], strlen(keytext[k]));
		else
			e[i].key = val_int((int64_t)k);
		for (size_t j = 0; j < NSPECS; j++) {
			const char *s = strchr(specs[j], ':');

			if (s == NULL)
				e[i].vals[j] = val_bool(1);
			else if (strcmp(s, ":item") == 0 && rnd(10) == 0)
				e[i].vals[j] = val_null();
			else if (strcmp(s, ":item") == 0)
				e[i].vals[j] = val_str(items[it], strlen(items[it]));
			else if (strcmp(s, ":f") == 0)
				e[i].vals[j] = val_float((double)rnd(1000000) / 7.0 - 40000);
			else
				e[i].vals[j] = rnd(3) == 0 ? val_float((double)rnd(1000) / 3.0)
							   : val_int((int64_t)rnd(200) - 50);
		}
		/* the same v for every aggregate of v */
		for (size_t j = 2; j < NSPECS; j++)
			if (strchr(specs[j], ':') && strcmp(strchr(specs[j], ':'), ":v") == 0)
				e[i].vals[j] = e[i].vals[1];
		e[i].vals[6] = e[i].vals[5];
		e[i].vals[7] = e[i].vals[5];
	}
	return e;
}

static void feed(struct win *w, const struct ev *e, int from, int to, struct buf *key)
{
	for (int i = from; i < to; i++) {
		buf_reset(key);
		key_part(key, &e[i].key);
		key_typed(key, &e[i].key, 1);
		if (win_add(w, key->p, key->len, e[i].t, e[i].ingest, e[i].vals) < 0)
			printf("# win_add: %s\n", win_err(w));
		win_advance(w, e[i].wm);
	}
}

struct fin {
	struct win *w;
	struct buf *img;
};

static void *fin_main(void *arg)
{
	struct fin *f = arg;

	win_snapshot_finish(f->w, f->img);
	return NULL;
}

/* A snapshot begun at record k and finished by another thread while this
 * one feeds the rest of the stream: the run's output is the uninterrupted
 * run's, and the image, restored and fed the same rest, gives it too.
 * Returns the windows the records wrote (win_stats' snap_cow). */
static uint64_t async_at(const char *name, const struct win_conf *c, const struct ev *e, int n,
			 int k, const struct buf *want)
{
	struct buf run = { 0 }, rest = { 0 }, img = { 0 }, key = { 0 };
	struct win *w = win_new(c, on_emit, &run), *w2;
	struct fin f = { w, &img };
	pthread_t t;
	uint64_t cow;
	char err[512];
	int rc, started = 0;

	feed(w, e, 0, k, &key);
	buf_append(&rest, run.p, run.len);	/* what the crashed run had emitted */
	if (win_snapshot_begin(w, &img))
		started = pthread_create(&t, NULL, fin_main, &f) == 0;
	feed(w, e, k, n, &key);
	if (started)
		pthread_join(t, NULL);
	cow = win_stats(w)->snap_cow;
	win_flush(w);
	win_free(w);
	is_bytes(run.p, run.len, want->p, want->len, "%s: a snapshot written by another thread "
		 "from record %d changes nothing of the run", name, k);
	w2 = win_new(c, on_emit, &rest);
	rc = win_restore(w2, img.p, img.len, err, sizeof(err));
	ok(rc == 0, "%s: that image (%zu bytes) restores", name, img.len);
	if (rc != 0)
		printf("#   %s\n", err);
	feed(w2, e, k, n, &key);
	win_flush(w2);
	win_free(w2);
	is_bytes(rest.p, rest.len, want->p, want->len, "%s: restored, it gives the uninterrupted "
		 "run's output", name);
	buf_free(&run);
	buf_free(&rest);
	buf_free(&img);
	buf_free(&key);
	return cow;
}

/* A snapshot begun at record k, then up to 300 more records of keys seen
 * before k (so that the key table, with room for them all, is not rebuilt
 * before the finish, which this thread runs), then the finish: every
 * window those records reached went into the image from the records'
 * side. The image is the synchronous one at k in another order: restored
 * and fed the rest, it gives the same output. Returns snap_cow. */
static uint64_t records_first(const char *name, const struct win_conf *c, const struct ev *e,
			      int n, int nkeys, int k)
{
	struct buf a = { 0 }, r = { 0 }, imga = { 0 }, imgr = { 0 }, key = { 0 }, sink = { 0 };
	struct win *w = win_new(c, on_emit, &sink), *wr = win_new(c, on_emit, &sink);
	char *known = xcalloc((size_t)nkeys, 1), err[512];
	uint64_t cow;
	int rc, fed = 0;

	feed(w, e, 0, k, &key);
	feed(wr, e, 0, k, &key);
	for (int i = 0; i < k; i++)
		known[e[i].kid] = 1;
	win_snapshot(wr, &imgr);
	if (win_snapshot_begin(w, &imga)) {
		for (int i = k; i < n && fed < 300; i++)
			if (known[e[i].kid]) {
				feed(w, e, i, i + 1, &key);
				fed++;
			}
		win_snapshot_finish(w, &imga);
	}
	cow = win_stats(w)->snap_cow;
	win_free(w);
	win_free(wr);
	/* A key dropped while idle (a rebuild of the table) and seen again
	 * comes back as a new slot, which the image may list (idle). */
	ok(imga.len >= imgr.len && imga.len < imgr.len + 64 * 300,
	   "%s: at record %d, %d records before the writer: the image has the windows of "
	   "the one taken at once (%zu bytes, %zu)", name, k, fed, imga.len, imgr.len);
	w = win_new(c, on_emit, &a);
	wr = win_new(c, on_emit, &r);
	rc = win_restore(w, imga.p, imga.len, err, sizeof(err));
	ok(rc == 0, "%s: ... and restores", name);
	if (rc != 0)
		printf("#   %s\n", err);
	win_restore(wr, imgr.p, imgr.len, err, sizeof(err));
	feed(w, e, k, n, &key);
	feed(wr, e, k, n, &key);
	win_flush(w);
	win_flush(wr);
	win_free(w);
	win_free(wr);
	is_bytes(a.p, a.len, r.p, r.len, "%s: ... and fed the rest, gives what the other gives",
		 name);
	free(known);
	buf_free(&a);
	buf_free(&r);
	buf_free(&imga);
	buf_free(&imgr);
	buf_free(&key);
	buf_free(&sink);
	return cow;
}

static void scenario(const char *name, struct win_conf c, int n, int nkeys, int64_t jitter,
		     int64_t delay)
{
	struct ev *e = stream(n, nkeys, jitter, delay);
	struct buf want = { 0 }, got = { 0 }, img = { 0 }, img2 = { 0 }, key = { 0 };
	uint64_t cow = 0;
	const int ks[] = { 0, 1, n / 7, n / 2, n - 1, n };
	struct win *w;
	char err[512];

	c.aggs = &g.set;
	w = win_new(&c, on_emit, &want);
	feed(w, e, 0, n, &key);
	win_flush(w);
	win_free(w);
	ok(want.len > 0, "%s: the uninterrupted run emits results", name);
	for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
		struct win *w2;
		int rc;

		buf_reset(&got);
		buf_reset(&img);
		buf_reset(&img2);
		w = win_new(&c, on_emit, &got);
		feed(w, e, 0, ks[i], &key);
		win_snapshot(w, &img);
		win_free(w);	/* a crash: nothing fires */
		w2 = win_new(&c, on_emit, &got);
		err[0] = '\0';
		rc = win_restore(w2, img.p, img.len, err, sizeof(err));
		ok(rc == 0, "%s: snapshot at record %d (%zu bytes) restores", name, ks[i], img.len);
		if (rc != 0)
			printf("#   %s\n", err);
		win_snapshot(w2, &img2);
		is_int(img2.len, img.len, "%s: record %d: the restored engine's image has the "
		       "same size", name, ks[i]);
		feed(w2, e, ks[i], n, &key);
		win_flush(w2);
		win_free(w2);
		is_bytes(got.p, got.len, want.p, want.len, "%s: restored at record %d, the output is "
			 "the uninterrupted run's", name, ks[i]);
		cow += async_at(name, &c, e, n, ks[i], &want);
		cow += records_first(name, &c, e, n, nkeys, ks[i]);
	}
	if (c.kind != WIN_SESSION)
		ok(cow > 0, "%s: records reached windows before the snapshot's writer (%llu "
		   "windows written by the records)", name, (unsigned long long)cow);
	free(e);
	buf_free(&want);
	buf_free(&got);
	buf_free(&img);
	buf_free(&img2);
	buf_free(&key);
}

/* ---- refusals ------------------------------------------------------------ */

static void discard(void *arg, const struct win_out *o)
{
	(void)arg;
	(void)o;
}

/* Restores len bytes of p into a new engine of c; returns the result and
 * leaves the message in err. */
static int try_restore(const struct win_conf *c, const void *p, size_t len, char *err,
		       size_t errlen)
{
	struct win *w = win_new(c, discard, NULL);
	int rc;

	err[0] = '\0';
	rc = win_restore(w, p, len, err, errlen);
	win_free(w);
	return rc;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void test_refusals(void)
{
	struct win_conf c = { .kind = WIN_TUMBLING, .size = 10 * RTAI_NS_PER_SEC,
			      .lateness = 2 * RTAI_NS_PER_SEC, .aggs = &g.set };
	struct win_conf other = c;
	struct agg_set fewer = { 0 };
	struct ev *e = stream(400, 50, 3 * RTAI_NS_PER_SEC, 0);
	struct buf img = { 0 }, bad = { 0 }, key = { 0 };
	struct win *w = win_new(&c, discard, NULL);
	char err[512];
	int rc, clean = 1;

	feed(w, e, 0, 300, &key);
	win_snapshot(w, &img);

	/* not fresh */
	rc = win_restore(w, img.p, img.len, err, sizeof(err));
	is_int(rc, -1, "restoring into an engine that holds state is refused");
	is_str(err, "the engine already holds state (restore into a new one)", "... and says so");
	win_free(w);

	other.size = 20 * RTAI_NS_PER_SEC;
	rc = try_restore(&other, img.p, img.len, err, sizeof(err));
	is_int(rc, -1, "another window size is refused");
	ok(strstr(err, "made with other options ('tumbling size=10000000000ns") != NULL &&
	   strstr(err, "these are 'tumbling size=20000000000ns") != NULL, "... naming both: %s", err);
	other = c;
	other.lateness = 0;
	rc = try_restore(&other, img.p, img.len, err, sizeof(err));
	ok(rc == -1 && strstr(err, "other options") != NULL, "another lateness is refused");
	other = c;
	other.kind = WIN_SESSION;
	other.gap = c.size;
	rc = try_restore(&other, img.p, img.len, err, sizeof(err));
	ok(rc == -1 && strstr(err, "other options") != NULL, "another window kind is refused");
	other = c;
	other.update = 1;
	rc = try_restore(&other, img.p, img.len, err, sizeof(err));
	ok(rc == -1 && strstr(err, "other options") != NULL, "another emit mode is refused");
	other = c;
	agg_set_parse(&fewer, "count", err, sizeof(err));
	agg_set_parse(&fewer, "sum:w", err, sizeof(err));
	other.aggs = &fewer;
	rc = try_restore(&other, img.p, img.len, err, sizeof(err));
	ok(rc == -1 && strstr(err, "aggregates=count=count,sum_v=sum:v,avg_v") != NULL &&
	   strstr(err, "aggregates=count=count,sum_w=sum:w'") != NULL,
	   "other aggregates are refused: %s", err);
	other = c;
	other.max_keys = 10;
	rc = try_restore(&other, img.p, img.len, err, sizeof(err));
	is_int(rc, 0, "another --max-keys is accepted (it decides no result)");

	rc = try_restore(&c, "RTWX", 4, err, sizeof(err));
	ok(rc == -1 && strstr(err, "not a window snapshot") != NULL, "another magic: %s", err);
	rc = try_restore(&c, "", 0, err, sizeof(err));
	ok(rc == -1 && strstr(err, "not a window snapshot") != NULL, "an empty image: %s", err);
	rc = try_restore(&c, img.p, 10, err, sizeof(err));
	ok(rc == -1 && strstr(err, "cut short in its header") != NULL, "a header cut short: %s",
	   err);
	rc = try_restore(&c, img.p, img.len - 1, err, sizeof(err));
	ok(rc == -1 && strstr(err, "truncated") != NULL, "a truncated image: %s", err);

	buf_append(&bad, img.p, img.len);
	bad.p[4] = 1;
	rc = try_restore(&c, bad.p, bad.len, err, sizeof(err));
	is_int(rc, -1, "another version is refused");
	is_str(err, "a window snapshot of version 1 (this build reads version 2)", "... and says so");
	bad.p[4] = 2;
	bad.p[bad.len / 2] ^= 0x10;
	rc = try_restore(&c, bad.p, bad.len, err, sizeof(err));
	ok(rc == -1 && strstr(err, "checksum") != NULL, "a flipped bit is refused: %s", err);

	/* Damage that keeps a valid checksum (a writer's bug, or a crafted
	 * file): refused or restored, never a crash (ASan watches). The
	 * checksum is recomputed as lib/win.c does. */
	for (int i = 0; i < 3000; i++) {
		size_t at = 24 + rnd(img.len - 24);

		buf_reset(&bad);
		buf_append(&bad, img.p, img.len);
		bad.p[at] ^= (uint8_t)(1 + rnd(255));
		if (rnd(4) == 0)	/* shorter, with a consistent length */
			bad.len = 24 + rnd(bad.len - 24);
		put_u64(bad.p + 8, bad.len - 24);
		put_u64(bad.p + 16, rec_hash(bad.p + 24, bad.len - 24,
					      UINT64_C(0x7274616977696e31)));
		rc = try_restore(&c, bad.p, bad.len, err, sizeof(err));
		if (rc != 0 && strncmp(err, "a corrupt window snapshot: byte ", 32) != 0 &&
		    strstr(err, "other options") == NULL) {
			printf("#   damage at byte %zu: %s\n", at, err);
			clean = 0;
		}
	}
	ok(clean, "3000 damaged images with valid checksums: each refused with a clear "
	   "message or restored");

	free(e);
	buf_free(&img);
	buf_free(&bad);
	buf_free(&key);
	agg_set_free(&fewer);
}

int main(void)
{
	const int64_t s = RTAI_NS_PER_SEC;
	char err[200];

	for (size_t i = 0; i < NSPECS; i++)
		if (agg_set_parse(&g.set, specs[i], err, sizeof(err)) != 0)
			printf("# %s\n", err);
	for (size_t k = 0; k < sizeof(keytext) / sizeof(keytext[0]); k++)
		snprintf(keytext[k], sizeof(keytext[k]), k % 5 == 0 ? "customer-%018zu" : "%zu",
			 k);

	scenario("tumbling", (struct win_conf){ .kind = WIN_TUMBLING, .size = 10 * s,
						.lateness = 3 * s },
		 3000, 40, 4 * s, 0);
	scenario("tumbling, 3000 keys", (struct win_conf){ .kind = WIN_TUMBLING, .size = 60 * s },
		 6000, 3000, 2 * s, s);
	scenario("sliding", (struct win_conf){ .kind = WIN_SLIDING, .size = 10 * s, .slide = 3 * s,
					       .offset = s, .lateness = 2 * s },
		 3000, 30, 5 * s, s);
	scenario("session", (struct win_conf){ .kind = WIN_SESSION, .gap = 2 * s,
					       .lateness = 4 * s },
		 3000, 25, 6 * s, 0);
	/* a key table rebuilt past 1024 slots, and sessions dropped at once that
	 * late records reach (win.c's ends of dropped sessions) */
	scenario("session, 3000 keys, lateness 0", (struct win_conf){ .kind = WIN_SESSION,
								      .gap = 2 * s },
		 6000, 3000, 6 * s, 0);
	scenario("session, update mode", (struct win_conf){ .kind = WIN_SESSION, .gap = 3 * s,
							    .lateness = 2 * s, .update = 1 },
		 2000, 20, 4 * s, s);
	test_refusals();
	agg_set_free(&g.set);
	buf_free(&g.out);
	return tap_done();
}
