/* test_hist.c - unit tests of the log-linear histograms of lib/hist.c. */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include <string.h>

#include "buf.h"
#include "hist.h"
#include "snap.h"
#include "tap.h"

#define MS INT64_C(1000000)

/* Within the stated error: 1 part in 1000 (3 significant digits). */
static int close3(int64_t got, int64_t want)
{
	double d = fabs((double)got - (double)want);

	return d <= (double)want / 1000.0 + 1;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void test_layout(void)
{
	struct hist h;
	int rc;

	ok(hist_init(&h, 0, 100, 3) < 0, "lowest 0 is refused");
	ok(hist_init(&h, 1, 100, 0) < 0, "0 digits are refused");
	ok(hist_init(&h, 1, 100, 6) < 0, "6 digits are refused");
	ok(hist_init(&h, 10, 15, 3) < 0, "highest below 2 * lowest is refused");
	rc = hist_init(&h, 1, INT64_C(1) << 50, 3);
	ok(rc == 0, "1 ns .. 13 days, 3 digits");
	is_int(h.sub_count, 2048, "2048 sub-buckets per bucket");
	is_int(h.bucket_count, 41, "41 buckets (2^11 .. 2^51)");
	ok((size_t)h.counts_len * sizeof(h.counts[0]) <= 400 << 10, "under 400 KiB (%zu)",
	   (size_t)h.counts_len * sizeof(h.counts[0]));
	for (int64_t v = 1; v < INT64_C(1) << 50; v = v * 3 + 1) {
		int64_t lo = hist_lowest_equiv(&h, v), hi = hist_highest_equiv(&h, v);

		if (!(lo <= v && v <= hi && (v < 2048 || (double)(hi - lo) <= (double)v / 1000))) {
			ok(0, "equivalence range of %lld: [%lld, %lld]", (long long)v,
			   (long long)lo, (long long)hi);
			break;
		}
	}
	ok(1, "every value lies in an equivalence range narrower than 0.1%% of it");
	is_int(hist_lowest_equiv(&h, 1000), 1000, "exact below 2048: lowest");
	is_int(hist_highest_equiv(&h, 1000), 1000, "exact below 2048: highest");
	hist_free(&h);
	hist_free(&h);
	hist_free(NULL);
	ok(1, "hist_free twice and of NULL");
}

static void test_uniform(void)
{
	struct hist h;
	int64_t max_counts;

	hist_init(&h, 1, INT64_C(1) << 50, 3);
	max_counts = h.counts_len;
	is_int(hist_percentile(&h, 50), 0, "empty: percentile 0");
	ok(hist_mean(&h) == 0 && hist_stddev(&h) == 0, "empty: mean and stddev 0");
	/* 1 us, 2 us, ... 1 s: one million values. */
	for (int64_t i = 1; i <= 1000000; i++)
		hist_record(&h, i * 1000);
	is_int(h.total, 1000000, "a million values");
	is_int(h.counts_len, max_counts, "memory did not grow");
	is_int(h.min, 1000, "exact min");
	is_int(h.max, 1000 * MS, "exact max");
	is_int(hist_percentile(&h, 0), 1000, "p0 is the min");
	is_int(hist_percentile(&h, 100), 1000 * MS, "p100 is the max");
	ok(close3(hist_percentile(&h, 50), 500 * MS), "p50 %lld ~ 500ms",
	   (long long)hist_percentile(&h, 50));
	ok(close3(hist_percentile(&h, 90), 900 * MS), "p90 ~ 900ms");
	ok(close3(hist_percentile(&h, 99), 990 * MS), "p99 ~ 990ms");
	ok(close3(hist_percentile(&h, 99.9), 999 * MS), "p99.9 ~ 999ms");
	ok(close3(hist_percentile(&h, 0.1), 1 * MS), "p0.1 ~ 1ms");
	ok(hist_percentile(&h, 50) >= 500 * MS, "percentiles are upper bounds");
	ok(fabs(hist_mean(&h) - 500000500.0) < 1, "exact mean %.1f", hist_mean(&h));
	ok(fabs(hist_stddev(&h) - 288675134.6) < 288675134.6 / 1000, "stddev %.0f ~ 288675135",
	   hist_stddev(&h));
	is_int(hist_count_le(&h, 1000 * 1000), 1000, "1000 values <= 1 ms");
	is_int(hist_count_le(&h, 1000 * MS), 1000000, "all values <= the max");
	is_int(hist_count_le(&h, -1), 0, "no value <= -1");
	ok(llabs((long long)hist_count_le(&h, 250 * MS) - 250000) <= 250, "~250000 values <= 250 ms (%llu)",
	   (unsigned long long)hist_count_le(&h, 250 * MS));
	hist_reset(&h);
	ok(h.total == 0 && hist_percentile(&h, 99) == 0 && h.sum == 0, "reset empties");
	hist_record(&h, 7);
	is_int(hist_percentile(&h, 50), 7, "reused after reset");
	hist_free(&h);
}

/* A skewed distribution (log-normal-like, fixed seed) against the exact
 * percentiles of the sorted values. */
static void test_known_distribution(void)
{
	enum { N = 200000 };
	static const double ps[] = { 1, 10, 50, 90, 95, 99, 99.9, 99.99 };
	int64_t *v = malloc(N * sizeof(*v));
	uint64_t x = 88172645463325252ULL;
	struct hist h;
	int bad = 0;

	hist_init(&h, 1, INT64_C(1) << 50, 3);
	for (int i = 0; i < N; i++) {
		double u1, u2, z;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		u1 = ((x >> 11) + 0.5) / 9007199254740992.0;
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		u2 = ((x >> 11) + 0.5) / 9007199254740992.0;
		z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
		v[i] = (int64_t)(exp(z * 1.5) * 2e6);	/* median 2 ms */
		hist_record(&h, v[i]);
	}
	qsort(v, N, sizeof(*v), cmp64);
	for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
		size_t rank = (size_t)(ps[k] / 100.0 * N + 0.5);
		int64_t want = v[rank > 0 ? rank - 1 : 0], got = hist_percentile(&h, ps[k]);

		if (!close3(got, want)) {
			printf("#   p%g: got %lld, want %lld\n", ps[k], (long long)got, (long long)want);
			bad++;
		}
	}
	ok(bad == 0, "percentiles of a log-normal sample are within 0.1%%");
	is_int(h.max, v[N - 1], "exact max");
	is_int(hist_percentile(&h, 100), v[N - 1], "p100 is the max");
	free(v);
	hist_free(&h);
}

static void test_clamp_merge(void)
{
	struct hist a, b, c;

	hist_init(&a, 1, 1000000, 3);
	hist_record(&a, -5);
	hist_record(&a, INT64_C(1) << 40);
	is_int(a.clamped, 2, "two values clamped");
	is_int(a.min, 0, "negative counts as 0");
	is_int(a.max, 1000000, "too large counts as the highest");
	hist_reset(&a);

	hist_init(&b, 1, 1000000, 3);
	hist_init(&c, 1000, INT64_C(1) << 40, 2);
	for (int i = 1; i <= 100; i++) {
		hist_record(&a, i * 1000);
		hist_record_n(&b, (100 + i) * 1000, 2);
	}
	hist_record_n(&b, 5, 0);
	is_int(b.total, 200, "record_n counts n");
	hist_merge(&a, &b);
	is_int(a.total, 300, "merge adds counts");
	is_int(a.min, 1000, "merge keeps the min");
	is_int(a.max, 200000, "merge keeps the max");
	ok(close3(hist_percentile(&a, 50), 125000), "merged p50 ~ 125 us (%lld)",
	   (long long)hist_percentile(&a, 50));
	ok(fabs(hist_mean(&a) - (5050.0 * 1000 + 2 * 15050.0 * 1000) / 300) < 1, "merged mean exact");
	hist_merge(&c, &a);
	is_int(c.total, 300, "merge across configurations adds counts");
	is_int(c.max, 200000, "and keeps the exact max");
	ok(fabs(hist_percentile(&c, 50) - 125000.0) <= 125000.0 / 100 + 1,
	   "within the coarser histogram's error (%lld)", (long long)hist_percentile(&c, 50));
	hist_free(&a);
	hist_free(&b);
	hist_free(&c);
}

static void test_iterators(void)
{
	struct hist h;
	struct hist_iter it;
	struct hist_piter pit;
	uint64_t sum = 0;
	int n = 0, mono = 1, steps = 0;
	double prev = -1;

	hist_init(&h, 1, INT64_C(1) << 50, 3);
	hist_piter_init(&pit, &h, 5);
	ok(!hist_piter_next(&pit), "no percentile steps when empty");
	hist_record(&h, 10);
	hist_record_n(&h, 3000, 4);
	hist_record(&h, 1000000);
	hist_iter_init(&it, &h);
	while (hist_iter_next(&it)) {
		sum += it.count;
		n++;
		ok(it.lo <= it.hi && it.cum == sum, "sub-bucket [%lld, %lld] holds %llu",
		   (long long)it.lo, (long long)it.hi, (unsigned long long)it.count);
	}
	is_int(n, 3, "three sub-buckets hold values");
	hist_reset(&h);
	for (int i = 1; i <= 10000; i++)
		hist_record(&h, i);
	hist_piter_init(&pit, &h, 5);
	while (hist_piter_next(&pit)) {
		if (pit.level < prev)
			mono = 0;
		if (steps == 0)
			ok(pit.level == 0 && pit.value == 1, "first step: 0%% at the min");
		prev = pit.level;
		steps++;
		if (pit.last)
			ok(pit.level == 100 && pit.value == 10000 && pit.cum == 10000,
			   "last step: 100%% at the max");
	}
	ok(mono, "levels never go down");
	ok(steps > 50 && steps < 200, "%d steps for 10000 values at 5 ticks per half", steps);
	hist_free(&h);
}

/* The standard deviation comes from the values, not the buckets: equal
 * values give 0 (issue #13: rtai-lat reported a nonzero stddev for a
 * constant latency), and merging keeps it. */
static void test_stddev(void)
{
	struct hist h, g, other;
	double want;

	hist_init(&h, 1, INT64_C(1) << 40, 3);
	hist_init(&g, 1, INT64_C(1) << 40, 3);
	hist_init(&other, 1, INT64_C(1) << 30, 2);
	for (int i = 0; i < 1000; i++)
		hist_record(&h, 1234567);
	hist_record_n(&h, 1234567, 500);
	ok(hist_stddev(&h) == 0, "1500 equal values: stddev 0 (got %g)", hist_stddev(&h));
	hist_merge(&g, &h);
	hist_merge(&other, &h);
	ok(hist_stddev(&g) == 0 && hist_stddev(&other) == 0, "... and merged, 0 too");
	/* 1, 3, 1001, 1003 (python3: statistics.pstdev([1, 3, 1001, 1003])
	 * = 500.000999999, the square root of 250001), two histograms merged */
	hist_reset(&h);
	hist_reset(&g);
	hist_record(&h, 1);
	hist_record(&h, 1003);
	hist_record_n(&g, 3, 1);
	hist_record(&g, 1001);
	hist_merge(&h, &g);
	want = sqrt(250001.0);
	ok(fabs(hist_stddev(&h) - want) < 1e-9, "pstdev of 1, 3, 1001, 1003 merged: %.13g",
	   hist_stddev(&h));
	hist_free(&h);
	hist_free(&g);
	hist_free(&other);
}

/* Same state, field for field and count for count. */
static int same_hist(const struct hist *a, const struct hist *b)
{
	return a->counts_len == b->counts_len &&
	       memcmp(a->counts, b->counts, (size_t)a->counts_len * sizeof(a->counts[0])) == 0 &&
	       a->total == b->total && a->clamped == b->clamped && a->min == b->min &&
	       a->max == b->max && memcmp(&a->sum, &b->sum, sizeof(double)) == 0 &&
	       memcmp(&a->mean, &b->mean, sizeof(double)) == 0 &&
	       memcmp(&a->m2, &b->m2, sizeof(double)) == 0;
}

/* Snapshot at value k of a random stream, restore into a fresh histogram,
 * record the rest into both: the same as the uninterrupted one. Then the
 * refusals: another configuration, every cut, damaged counts. */
static void test_snapshot(void)
{
	struct hist a, b, c;
	struct buf img = {0};
	struct snap_rd r;
	int bad_cuts = 0;
	uint32_t seed = 12345;

	hist_init(&a, 1, INT64_C(1) << 50, 3);
	hist_init(&b, 1, INT64_C(1) << 50, 3);
	hist_snapshot(&a, &img);
	snap_rd_init(&r, img.p, img.len);
	is_int(hist_restore(&b, &r), 0, "an empty histogram round-trips: %s", r.bad ? r.bad : "");
	ok(same_hist(&a, &b) && r.off == img.len, "empty, and the whole image read");
	for (int round = 0; round < 20; round++) {
		int n = 2000 + round * 37, k = (round * 97) % n;
		int64_t *v = malloc((size_t)n * sizeof(*v));

		for (int i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			/* log-uniform over 1 ns .. 2^52 (some above the range, clamped),
			 * and a few negatives */
			v[i] = (int64_t)exp2((double)(seed >> 8) / (double)(1u << 24) * 52.0);
			if (seed % 97 == 0)
				v[i] = -v[i];
		}
		hist_reset(&a);
		for (int i = 0; i < n; i++)
			hist_record(&a, v[i]);
		hist_init(&c, 1, INT64_C(1) << 50, 3);
		for (int i = 0; i < k; i++)
			hist_record(&c, v[i]);
		buf_reset(&img);
		hist_snapshot(&c, &img);
		hist_free(&c);
		hist_init(&c, 1, INT64_C(1) << 50, 3);
		snap_rd_init(&r, img.p, img.len);
		if (hist_restore(&c, &r) < 0 || r.off != img.len) {
			ok(0, "round %d: restore: %s", round, r.bad ? r.bad : "not all read");
			free(v);
			continue;
		}
		for (int i = k; i < n; i++)
			hist_record(&c, v[i]);
		/* moments computed in another order differ in rounding only */
		ok(memcmp(a.counts, c.counts, (size_t)a.counts_len * sizeof(a.counts[0])) == 0 &&
			   a.total == c.total && a.clamped == c.clamped && a.min == c.min &&
			   a.max == c.max && hist_percentile(&a, 99) == hist_percentile(&c, 99) &&
			   fabs(a.sum - c.sum) <= 1e-9 * fabs(a.sum) &&
			   fabs(hist_stddev(&a) - hist_stddev(&c)) <= 1e-9 * hist_stddev(&a),
		   "round %d: snapshot at value %d of %d, restore, go on: the uninterrupted histogram",
		   round, k, n);
		hist_free(&c);
		free(v);
	}
	/* the exact state comes back */
	buf_reset(&img);
	hist_snapshot(&a, &img);
	hist_init(&c, 1, INT64_C(1) << 50, 3);
	snap_rd_init(&r, img.p, img.len);
	is_int(hist_restore(&c, &r), 0, "restore of a full histogram");
	ok(same_hist(&a, &c), "every count, the extremes, sum and moments, bit for bit");
	ok(img.len < 64 * 1024, "a sparse image (%zu bytes for %d counts)", img.len, a.counts_len);
	hist_free(&c);

	hist_init(&c, 1000, INT64_C(1) << 62, 3);
	snap_rd_init(&r, img.p, img.len);
	is_int(hist_restore(&c, &r), -1, "another configuration: refused");
	ok(r.bad != NULL && strstr(r.bad, "range") != NULL, "said so: %s", r.bad ? r.bad : "");
	ok(c.total == 0, "and left empty");
	hist_free(&c);

	hist_init(&c, 1, INT64_C(1) << 50, 3);
	for (size_t cut = 0; cut < img.len; cut++) {
		snap_rd_init(&r, img.p, cut);
		if (hist_restore(&c, &r) == -1 && c.total == 0)
			bad_cuts++;
	}
	is_int(bad_cuts, (int)img.len, "every cut image is refused, the histogram left empty");
	img.p[0] = 2;
	snap_rd_init(&r, img.p, img.len);
	is_int(hist_restore(&c, &r), -1, "another version: refused");
	img.p[0] = 1;
	img.p[img.len - 1] ^= 0x40;	/* the last count's top byte */
	snap_rd_init(&r, img.p, img.len);
	is_int(hist_restore(&c, &r), -1, "a damaged count: refused");
	ok(r.bad != NULL && strstr(r.bad, "add up") != NULL, "said so: %s", r.bad ? r.bad : "");
	hist_free(&c);
	hist_free(&a);
	hist_free(&b);
	buf_free(&img);
}

int main(void)
{
	test_layout();
	test_uniform();
	test_known_distribution();
	test_clamp_merge();
	test_iterators();
	test_stddev();
	test_snapshot();
	return tap_done();
}
