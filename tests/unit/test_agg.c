/* test_agg.c - unit tests of lib/agg: specs, every aggregate, removal,
 * merging, and DDSketch percentiles within their stated error. */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "agg.h"
#include "buf.h"
#include "rec.h"
#include "rtime.h"
#include "tap.h"

static char err[256];

static struct agg_set set_of(const char *const *specs)
{
	struct agg_set s = { 0 };

	for (; *specs != NULL; specs++)
		if (agg_set_parse(&s, *specs, err, sizeof(err)) < 0)
			printf("# %s\n", err);
	return s;
}

static void test_specs(void)
{
	static const char *const good[] = { "count", "sum:amount", "p95:amount",
					    "distinct:item_id", "n=count:user", "p50:amount",
					    "mx=max:amount", NULL };
	struct agg_set s = set_of(good);

	is_int(s.n, 7, "seven specs parsed");
	is_str(s.v[0].name, "count", "count is named count");
	ok(s.v[0].field == NULL, "a bare count has no field");
	is_str(s.v[1].name, "sum_amount", "sum:amount is named sum_amount");
	is_str(s.v[2].name, "p95_amount", "p95:amount is named p95_amount");
	is_str(s.v[3].name, "distinct_item_id", "distinct:item_id is named distinct_item_id");
	is_str(s.v[4].name, "n", "NAME= names the output");
	is_str(s.v[4].field, "user", "count:FIELD keeps its field");
	ok(s.v[2].sketch && s.v[2].shared == -1, "the first percentile of a field owns a sketch");
	ok(!s.v[5].sketch && s.v[5].shared == 2, "a second percentile of a field shares it");
	is_str(s.v[6].name, "mx", "mx=max:amount");

	ok(agg_set_parse(&s, "sums:amount", err, sizeof(err)) < 0, "unknown function");
	ok(strstr(err, "unknown function 'sums'") != NULL, "... says so: %s", err);
	ok(agg_set_parse(&s, "sum", err, sizeof(err)) < 0, "sum without a field");
	ok(strstr(err, "sum needs a field") != NULL, "... says so: %s", err);
	ok(agg_set_parse(&s, "sum:amount", err, sizeof(err)) < 0, "a name used twice");
	ok(strstr(err, "output field \"sum_amount\" is named twice") != NULL, "... says so: %s", err);
	ok(agg_set_parse(&s, "=count", err, sizeof(err)) < 0, "an empty name");
	ok(agg_set_parse(&s, "sum:", err, sizeof(err)) < 0, "an empty field");
	is_int(s.n, 7, "failed specs are not added");
	agg_set_free(&s);
	agg_set_free(NULL);
	is_str(agg_func_name(AGG_DISTINCT), "distinct", "function names");
	ok(agg_removable(AGG_COUNT) && agg_removable(AGG_P99) && agg_removable(AGG_DISTINCT) &&
	   !agg_removable(AGG_SUM) && !agg_removable(AGG_AVG) && !agg_removable(AGG_STDDEV) &&
	   !agg_removable(AGG_MIN) && !agg_removable(AGG_LAST), "removable functions");
}

/* Adds a record {"x": v} at time t to a row, through agg_extract. */
static int put(struct agg_set *s, struct agg_state *row, struct rec *r,
	       struct val v, int64_t t, int remove)
{
	struct val vals[16];

	rec_reset(r);
	rec_add(r, "x", 1, v);
	if (agg_extract(s, r, vals, err, sizeof(err)) < 0)
		return -1;
	if (remove)
		agg_remove(s, row, vals, t);
	else
		agg_add(s, row, vals, t);
	return 0;
}

static double fres(struct agg_set *s, struct agg_state *row, size_t i)
{
	struct val v;

	agg_result(s, row, i, &v);
	return v.type == RT_FLOAT ? v.f : v.type == RT_INT ? (double)v.i : NAN;
}

static int rtype(struct agg_set *s, struct agg_state *row, size_t i)
{
	struct val v;

	agg_result(s, row, i, &v);
	return v.type;
}

static void test_basic(void)
{
	static const char *const specs[] = { "count", "count:x", "sum:x", "avg:x", "min:x",
					     "max:x", "first:x", "last:x", "distinct:x",
					     "stddev:x", NULL };
	struct agg_set s = set_of(specs);
	struct agg_state row[10] = { 0 };
	struct rec r = { 0 };
	struct val v;

	for (size_t i = 0; i < s.n; i++) {
		int zero = i == 0 || i == 1 || i == 8;

		agg_result(&s, row, i, &v);
		ok(v.type == (zero ? RT_INT : RT_NULL), "empty %s is %s", s.v[i].name,
		   zero ? "0" : "null");
	}
	/* values 4, 2 (late: t=5), null, 9, 2 at times 10, 5, 11, 20, 20 */
	put(&s, row, &r, val_int(4), 10, 0);
	put(&s, row, &r, val_int(2), 5, 0);
	put(&s, row, &r, val_null(), 11, 0);
	put(&s, row, &r, val_int(9), 20, 0);
	put(&s, row, &r, val_int(2), 20, 0);
	is_int(fres(&s, row, 0), 5, "count counts records, nulls included");
	is_int(fres(&s, row, 1), 4, "count:x counts non-null values");
	ok(rtype(&s, row, 2) == RT_INT && fres(&s, row, 2) == 17, "sum of ints is the int 17");
	ok(fres(&s, row, 3) == 4.25, "avg is 4.25");
	ok(rtype(&s, row, 4) == RT_INT && fres(&s, row, 4) == 2, "min is 2");
	ok(fres(&s, row, 5) == 9, "max is 9");
	ok(fres(&s, row, 6) == 2, "first by event time is the value at t=5");
	ok(fres(&s, row, 7) == 2, "last by event time: the later arrival wins a tie");
	is_int(fres(&s, row, 8), 3, "distinct counts 4, 2, 9");
	/* sample stddev of 4 2 9 2: mean 4.25, squares 0.0625+5.0625+22.5625+5.0625 = 32.75 */
	ok(fabs(fres(&s, row, 9) - sqrt(32.75 / 3)) < 1e-12, "stddev is sqrt(32.75/3)");

	/* removal of the removable ones: take out 9 */
	put(&s, row, &r, val_int(9), 20, 1);
	is_int(fres(&s, row, 0), 4, "count after removal");
	ok(fres(&s, row, 2) == 17 && fres(&s, row, 3) == 4.25, "removal leaves sum and avg alone");
	is_int(fres(&s, row, 8), 2, "distinct after removing 9");
	put(&s, row, &r, val_int(2), 5, 1);
	is_int(fres(&s, row, 8), 2, "distinct keeps 2 while one copy remains");
	put(&s, row, &r, val_int(2), 20, 1);
	is_int(fres(&s, row, 8), 1, "distinct drops 2 with its last copy");
	put(&s, row, &r, val_int(4), 10, 1);
	is_int(fres(&s, row, 8), 0, "distinct of nothing is 0");

	/* mixed ints and floats, and types */
	agg_reset(&s, row);
	is_int(fres(&s, row, 0), 0, "reset empties the row");
	put(&s, row, &r, val_int(1), 1, 0);
	put(&s, row, &r, val_float(0.5), 2, 0);
	ok(rtype(&s, row, 2) == RT_FLOAT && fres(&s, row, 2) == 1.5, "int + float sums to a float");
	ok(rtype(&s, row, 4) == RT_FLOAT && fres(&s, row, 4) == 0.5, "min keeps the float's type");
	ok(rtype(&s, row, 5) == RT_INT, "max keeps the int's type");
	is_int(fres(&s, row, 8), 2, "1 and 0.5 are distinct");
	ok(put(&s, row, &r, val_str("a", 1), 3, 0) < 0, "a string into sum is an error");
	is_str(err, "field \"x\": expected number, got string", "... naming field and types");

	/* int overflow turns the sum into a float */
	agg_reset(&s, row);
	put(&s, row, &r, val_int(INT64_MAX), 1, 0);
	put(&s, row, &r, val_int(INT64_MAX), 1, 0);
	ok(rtype(&s, row, 2) == RT_FLOAT && fres(&s, row, 2) == 2 * (double)INT64_MAX,
	   "an int sum beyond int64 is a float");

	/* The type of a sum does not depend on the order of its values (issue
	 * #13): max, min, 1 and max, 1, min both sum to the int 0. */
	{
		static const int64_t orders[2][3] = { { INT64_MAX, INT64_MIN, 1 },
						      { INT64_MAX, 1, INT64_MIN } };

		for (int o = 0; o < 2; o++) {
			struct val v;

			agg_reset(&s, row);
			for (int j = 0; j < 3; j++)
				put(&s, row, &r, val_int(orders[o][j]), j, 0);
			agg_result(&s, row, 2, &v);
			ok(v.type == RT_INT && v.i == 0, "sum of max, %s is the int 0 (type %d)",
			   o == 0 ? "min, 1" : "1, min", v.type);
			ok(fres(&s, row, 3) == 0, "... and avg 0");
		}
	}
	/* Partial sums beyond int64 merge back into an int. */
	{
		struct agg_state a[10] = { 0 }, b[10] = { 0 };
		struct val v;

		put(&s, a, &r, val_int(INT64_MAX), 1, 0);
		put(&s, a, &r, val_int(INT64_MAX), 2, 0);
		put(&s, b, &r, val_int(INT64_MIN), 3, 0);
		put(&s, b, &r, val_int(-5), 4, 0);
		agg_merge(&s, a, b);
		agg_result(&s, a, 2, &v);
		ok(v.type == RT_INT && v.i == INT64_MAX - 6, "max + max merged with min - 5 is the int "
		   "max - 6 (%lld)", (long long)v.i);
		/* An exact int part keeps a small float: 2^60 + 1 (ints) + 0.5 */
		agg_reset(&s, a);
		put(&s, a, &r, val_int(INT64_C(1) << 60), 1, 0);
		put(&s, a, &r, val_int(1), 1, 0);
		put(&s, a, &r, val_float(0.5), 1, 0);
		agg_result(&s, a, 2, &v);
		ok(v.type == RT_FLOAT && v.f == 1152921504606846976.0, "2^60 + 1 + 0.5 is the double "
		   "nearest the exact sum");
		agg_free(&s, a);
		agg_free(&s, b);
	}
	agg_free(&s, row);
	rec_free(&r);
	agg_set_free(&s);
}

static void test_strings(void)
{
	static const char *const specs[] = { "first:x", "last:x", "distinct:x", NULL };
	static const char *const min_specs[] = { "min:x", NULL };
	struct agg_set s = set_of(specs), smin = set_of(min_specs);
	struct agg_state row[4] = { 0 }, other[4] = { 0 };
	struct rec r = { 0 };
	struct val v;
	char big[100];

	memset(big, 'z', sizeof(big));
	put(&s, row, &r, val_str("home", 4), 30, 0);
	put(&s, row, &r, val_str("cart", 4), 10, 0);
	put(&s, row, &r, val_str(big, sizeof(big)), 40, 0);
	put(&s, row, &r, val_str("home", 4), 20, 0);
	agg_result(&s, row, 0, &v);
	ok(v.type == RT_STR && v.s.n == 4 && memcmp(v.s.p, "cart", 4) == 0,
	   "first string by event time");
	agg_result(&s, row, 1, &v);
	ok(v.type == RT_STR && v.s.n == 100 && v.s.p[99] == 'z', "last string (100 bytes)");
	is_int(fres(&s, row, 2), 3, "three distinct strings");
	ok(put(&smin, other, &r, val_str("a", 1), 3, 0) < 0, "a string into min is an error");
	is_str(err, "field \"x\": expected number or time, got string", "... says what min takes");

	/* merge: other holds "shop" at t=5 and "home" at 50 */
	put(&s, other, &r, val_str("shop", 4), 5, 0);
	put(&s, other, &r, val_str("home", 4), 50, 0);
	agg_merge(&s, row, other);
	agg_result(&s, row, 0, &v);
	ok(v.s.n == 4 && memcmp(v.s.p, "shop", 4) == 0, "merged first is the earliest");
	agg_result(&s, row, 1, &v);
	ok(v.s.n == 4 && memcmp(v.s.p, "home", 4) == 0, "merged last is the latest");
	is_int(fres(&s, row, 2), 4, "merged distinct is the union");
	ok(agg_heap_bytes(&s, row) > 0, "heap bytes are accounted");

	/* many distinct values removed again: the pool is compacted */
	agg_reset(&s, row);
	for (int i = 0; i < 5000; i++) {
		char key[32];
		int n = snprintf(key, sizeof(key), "key-%d-%s", i, "padding-padding");

		put(&s, row, &r, val_str(key, (size_t)n), i, 0);
	}
	is_int(fres(&s, row, 2), 5000, "5000 distinct strings");
	for (int i = 0; i < 4990; i++) {
		char key[32];
		int n = snprintf(key, sizeof(key), "key-%d-%s", i, "padding-padding");

		put(&s, row, &r, val_str(key, (size_t)n), i, 1);
	}
	is_int(fres(&s, row, 2), 10, "10 left after removing 4990");
	put(&s, row, &r, val_str("key-4995-padding-padding", 24), 0, 0);
	is_int(fres(&s, row, 2), 10, "a remaining value is still found after compaction");
	agg_free(&s, row);
	agg_free(&s, other);
	rec_free(&r);
	agg_set_free(&s);
	agg_set_free(&smin);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static uint64_t rng = 88172645463325252ULL;

static double uniform(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0;
}

/* Checks every quantile 0.00 .. 1.00 of a row against the sorted values. */
static int within_bound(struct agg_set *s, struct agg_state *row, double *vals, size_t n,
			double *worst)
{
	int good = 1;

	qsort(vals, n, sizeof(*vals), cmp_double);
	*worst = 0;
	for (int k = 0; k <= 100; k++) {
		double q = k / 100.0, got, want = vals[(size_t)floor(q * (double)(n - 1))], e;

		if (agg_quantile(s, row, 0, q, &got) < 0)
			return 0;
		e = want == 0 ? fabs(got) : fabs(got - want) / fabs(want);
		if (e > *worst)
			*worst = e;
		if (e > AGG_ALPHA + 1e-12)
			good = 0;
	}
	return good;
}

static void test_percentiles(void)
{
	static const char *const specs[] = { "p50:x", "p90:x", "p95:x", "p99:x", NULL };
	struct agg_set s = set_of(specs);
	struct agg_state row[4] = { 0 }, a[4] = { 0 }, b[4] = { 0 };
	struct rec r = { 0 };
	enum { N = 100000 };
	double *vals = xmalloc(N * sizeof(double)), worst;

	/* 1 .. 10000: exact p50 is 5000 (rank 4999.5 -> 4999), p99 9900 */
	for (int i = 1; i <= 10000; i++)
		put(&s, row, &r, val_int(i), 0, 0);
	ok(fabs(fres(&s, row, 0) - 5000) <= 5000 * AGG_ALPHA, "p50 of 1..10000 within 1%% of 5000: %g",
	   fres(&s, row, 0));
	ok(fabs(fres(&s, row, 1) - 9000) <= 9000 * AGG_ALPHA, "p90 within 1%% of 9000: %g",
	   fres(&s, row, 1));
	ok(fabs(fres(&s, row, 2) - 9500) <= 9500 * AGG_ALPHA, "p95 within 1%% of 9500: %g",
	   fres(&s, row, 2));
	ok(fabs(fres(&s, row, 3) - 9900) <= 9900 * AGG_ALPHA, "p99 within 1%% of 9900: %g",
	   fres(&s, row, 3));
	agg_reset(&s, row);

	/* log-normal values spanning many orders of magnitude */
	for (int i = 0; i < N; i++) {
		double u1 = uniform() + 1e-12, u2 = uniform();
		double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);

		vals[i] = exp(3 + 2.5 * z);
		put(&s, row, &r, val_float(vals[i]), 0, 0);
	}
	ok(within_bound(&s, row, vals, N, &worst), "log-normal: every quantile within 1%% (worst %.4f%%)",
	   worst * 100);

	/* negative, zero and positive values, split over two rows then merged */
	agg_reset(&s, row);
	for (int i = 0; i < N; i++) {
		vals[i] = i % 10 == 0 ? 0 : (uniform() - 0.3) * 1000;
		put(&s, i % 2 ? a : b, &r, val_float(vals[i]), 0, 0);
	}
	agg_merge(&s, row, a);
	agg_merge(&s, row, b);
	ok(within_bound(&s, row, vals, N, &worst),
	   "mixed signs, merged sketches: every quantile within 1%% (worst %.4f%%)", worst * 100);

	/* removal: add 1..2000, remove 1..1000, leaving 1001..2000 */
	agg_reset(&s, row);
	for (int i = 1; i <= 2000; i++)
		put(&s, row, &r, val_int(i), 0, 0);
	for (int i = 1; i <= 1000; i++)
		put(&s, row, &r, val_int(i), 0, 1);
	for (int i = 0; i < 1000; i++)
		vals[i] = 1001 + i;
	ok(within_bound(&s, row, vals, 1000, &worst), "after removals: within 1%% (worst %.4f%%)",
	   worst * 100);

	/* a single value, and an empty sketch */
	agg_reset(&s, row);
	put(&s, row, &r, val_int(42), 0, 0);
	ok(fabs(fres(&s, row, 3) - 42) <= 42 * AGG_ALPHA, "p99 of one value is that value");
	put(&s, row, &r, val_int(42), 0, 1);
	ok(rtype(&s, row, 0) == RT_NULL, "an emptied sketch gives null");

	/* an enormous range collapses the lowest bins, keeping the high quantiles */
	agg_reset(&s, row);
	for (int i = 0; i < 1000; i++)
		put(&s, row, &r, val_float(pow(10, -8 + 0.03 * i)), 0, 0);
	{
		double want = pow(10, -8 + 0.03 * 989), got = fres(&s, row, 3);

		ok(fabs(got - want) <= want * AGG_ALPHA, "30 decades: p99 still within 1%%");
	}
	free(vals);
	agg_free(&s, row);
	agg_free(&s, a);
	agg_free(&s, b);
	rec_free(&r);
	agg_set_free(&s);
}

static void test_stddev_merge(void)
{
	static const char *const specs[] = { "stddev:x", "avg:x", "count", NULL };
	struct agg_set s = set_of(specs);
	struct agg_state all[3] = { 0 }, a[3] = { 0 }, b[3] = { 0 };
	struct rec r = { 0 };

	for (int i = 0; i < 1000; i++) {
		double x = sin(i) * 100 + i;

		put(&s, all, &r, val_float(x), i, 0);
		put(&s, i < 300 ? a : b, &r, val_float(x), i, 0);
	}
	agg_merge(&s, a, b);
	ok(fabs(fres(&s, a, 0) - fres(&s, all, 0)) < 1e-9 * fres(&s, all, 0),
	   "merged stddev equals the stddev of all values");
	ok(fabs(fres(&s, a, 1) - fres(&s, all, 1)) < 1e-9 * fabs(fres(&s, all, 1)), "merged avg");
	is_int(fres(&s, a, 2), 1000, "merged count");
	agg_free(&s, all);
	agg_free(&s, a);
	agg_free(&s, b);
	rec_free(&r);
	agg_set_free(&s);
}

/* A row that saw only "" never allocates its string pool: merging it must
 * still find "" in the other row, and a snapshot must carry both rows'
 * values. */
static void test_distinct_empty(void)
{
	static const char *const specs[] = { "distinct:x", NULL };
	struct agg_set s = set_of(specs);
	struct agg_state a[1] = { 0 }, b[1] = { 0 }, c[1] = { 0 };
	struct val e = val_str("", 0), x = val_str("x", 1);
	struct buf img = { 0 };
	struct snap_rd r;
	int rc;

	agg_add(&s, a, &e, 0);
	agg_add(&s, a, &x, 0);
	agg_add(&s, b, &e, 0);
	agg_merge(&s, a, b);
	is_int(fres(&s, a, 0), 2, "\"\" merged from a row of only \"\" is not counted twice");
	agg_row_snapshot(&s, a, &img);
	snap_rd_init(&r, img.p, img.len);
	rc = agg_row_restore(&s, c, &r);
	ok(rc == 0 && r.off == img.len, "a distinct row restores from its snapshot");
	is_int(fres(&s, c, 0), 2, "... with its 2 values");
	agg_remove(&s, c, &e, 0);
	agg_remove(&s, c, &e, 0);
	is_int(fres(&s, c, 0), 1, "... and their counts (\"\" was added twice)");
	snap_rd_init(&r, img.p, img.len - 1);
	agg_free(&s, c);
	ok(agg_row_restore(&s, c, &r) == -1 && r.bad != NULL, "a truncated row is refused: %s",
	   r.bad ? r.bad : "");
	agg_free(&s, a);
	agg_free(&s, b);
	agg_free(&s, c);
	buf_free(&img);
	agg_set_free(&s);
}

/* The snapshot of counts and sums holds what they use: a count's 8 bytes,
 * a sum's form byte and 16 bytes when its values are all ints (whose sum
 * fits in int64) or all floats, all 40 only otherwise; each restores to
 * the same results and the same image. Sizes are counted from the
 * encoding in lib/agg.h, not taken from the code. */
static void test_snapshot_sums(void)
{
	static const char *const specs[] = { "count", "sum:x", "avg:x", NULL };
	struct agg_set s = set_of(specs);
	const struct {
		const char *name;
		int n;
		struct val x[3];
		size_t bytes;	/* count 8, each sum 1 + 16 or 1 + 40 */
	} cases[] = {
		{ "no value", 0, { { 0 } }, 8 + 2 * 17 },
		{ "ints", 3, { val_int(5), val_int(-7), val_int(40) }, 8 + 2 * 17 },
		{ "negative ints", 2, { val_int(-5), val_int(INT64_MIN + 9) }, 8 + 2 * 17 },
		{ "floats", 2, { val_float(1.5), val_float(-2.25) }, 8 + 2 * 17 },
		{ "ints and floats", 2, { val_int(1), val_float(2.5) }, 8 + 2 * 41 },
		{ "ints past int64", 2, { val_int(INT64_MAX), val_int(INT64_MAX) }, 8 + 2 * 41 },
		{ "nulls", 2, { val_null(), val_int(3) }, 8 + 2 * 17 },
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct agg_state a[3] = { 0 }, b[3] = { 0 };
		struct buf img = { 0 }, img2 = { 0 };
		struct snap_rd r;
		int same = 1, rc;

		for (int i = 0; i < cases[c].n; i++) {
			struct val v[3] = { val_bool(1), cases[c].x[i], cases[c].x[i] };

			agg_add(&s, a, v, 0);
		}
		agg_row_snapshot(&s, a, &img);
		is_int(img.len, cases[c].bytes, "%s: a count and two sums in %zu bytes",
		       cases[c].name, cases[c].bytes);
		snap_rd_init(&r, img.p, img.len);
		rc = agg_row_restore(&s, b, &r);
		ok(rc == 0 && r.off == img.len, "%s: the row restores", cases[c].name);
		for (size_t i = 0; i < 3; i++) {
			struct val x, y;

			agg_result(&s, a, i, &x);
			agg_result(&s, b, i, &y);
			same &= x.type == y.type && x.i == y.i;	/* floats to the bit */
		}
		ok(same, "%s: with the same results", cases[c].name);
		agg_row_snapshot(&s, b, &img2);
		ok(img2.len == img.len && memcmp(img.p, img2.p, img.len) == 0,
		   "%s: and the same image", cases[c].name);
		if (c == 5) {
			struct val x;

			agg_result(&s, b, 1, &x);
			ok(x.type == RT_FLOAT && x.f == 2.0 * (double)INT64_MAX,
			   "ints past int64: the restored sum is the float of the exact sum");
		}
		buf_free(&img);
		buf_free(&img2);
	}
	agg_set_free(&s);
}

int main(void)
{
	test_specs();
	test_basic();
	test_strings();
	test_percentiles();
	test_stddev_merge();
	test_distinct_empty();
	test_snapshot_sums();
	return tap_done();
}
