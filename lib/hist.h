/* hist.h - log-linear histograms of int64 values with a fixed relative
 * error and constant memory, as HdrHistogram lays them out.
 *
 * Values (nanoseconds in rtai, though any unit works) fall into buckets
 * that double in width; each bucket is split into 2^k linear sub-buckets,
 * with 2^k the smallest power of two above 2 * 10^digits. A value is then
 * known to within 1 part in 10^digits of itself (3 digits: 0.1%), from
 * the lowest discernible value up to the highest trackable one, and the
 * memory is fixed when the histogram is made: for 3 digits, 1 ns .. 13
 * days takes 42 buckets of 1024 counts, 336 KiB.
 *
 * Values below 0 count as 0 and values above the highest as the highest
 * (hist.clamped counts both), so recording never fails. min, max, the sum,
 * the mean and the standard deviation are kept from the values themselves; percentiles are the highest value
 * equivalent to the bucket holding them (an upper bound within the
 * error), never above the exact maximum.
 *
 *	struct hist h;
 *	hist_init(&h, 1, INT64_C(1) << 50, 3);
 *	hist_record(&h, 1234567);
 *	printf("%lld\n", (long long)hist_percentile(&h, 99.0));
 *	hist_free(&h);
 */
#ifndef RTAI_HIST_H
#define RTAI_HIST_H

#include <stdint.h>

struct buf;

struct hist {
	int64_t lowest;		/* lowest discernible value (>= 1) */
	int64_t highest;	/* highest trackable value */
	int digits;		/* significant digits, 1 to 5 */
	int unit_mag;		/* log2 of the granularity of bucket 0 */
	int sub_half_mag;	/* log2 of sub_half */
	int32_t sub_count;	/* sub-buckets per bucket (2^(sub_half_mag+1)) */
	int32_t sub_half;	/* sub_count / 2 */
	int64_t sub_mask;	/* (sub_count - 1) << unit_mag */
	int32_t bucket_count;	/* buckets up to highest */
	int32_t counts_len;	/* entries in counts */
	uint64_t *counts;	/* per sub-bucket */
	uint64_t total;		/* values recorded */
	uint64_t clamped;	/* values outside [0, highest], recorded at the edge */
	int64_t min, max;	/* exact, of the recorded (clamped) values */
	double sum;		/* exact sum, for the mean */
	double mean, m2;	/* Welford's running mean and sum of squared
				 * deviations, for the standard deviation */
};

/* Makes an empty histogram for values from lowest (>= 1) to highest (>=
 * 2 * lowest) with 1..5 significant digits. Returns 0, or -1 when the
 * parameters are out of range. Allocates once (aborts on out-of-memory);
 * free with hist_free(). */
int hist_init(struct hist *h, int64_t lowest, int64_t highest, int digits);
/* Frees the counts. Accepts NULL and a histogram already freed. */
void hist_free(struct hist *h);
/* Forgets every value, keeping the configuration and memory. */
void hist_reset(struct hist *h);

/* Records one value, or n equal values. Never fails (see clamping above);
 * allocates nothing. */
void hist_record(struct hist *h, int64_t v);
void hist_record_n(struct hist *h, int64_t v, uint64_t n);

/* Adds every value of src into dst. Histograms of the same configuration
 * add their counts exactly; otherwise each of src's buckets is recorded in
 * dst at its middle value. */
void hist_merge(struct hist *dst, const struct hist *src);

/* Snapshots (checkpoints, lib/ckpt.h). hist_snapshot appends h's image
 * to b, in lib/snap.h's encoding: a version byte (1), the configuration
 * (lowest, highest, digits), the totals and moments (total, clamped, min,
 * max, sum, mean, m2), then only the non-empty sub-buckets, as a count and
 * (index, count) pairs in increasing index order: a few kilobytes for a
 * latency histogram, not its 336 KiB. Cannot fail (buf aborts on
 * out-of-memory); allocates nothing but b's growth.
 *
 * hist_restore reads such an image from r into h, which must be made by
 * hist_init with the same lowest, highest and digits: the histogram then
 * holds exactly what the snapshotted one did (every count, the exact min,
 * max, sum and moments), so it answers every query the same. Returns 0; or
 * -1 with r marked bad (r->bad says why: another version or configuration,
 * an index out of range or out of order, counts that do not add up to the
 * total, a cut image) and h left empty. Allocates nothing. */
struct snap_rd;
void hist_snapshot(const struct hist *h, struct buf *b);
int hist_restore(struct hist *h, struct snap_rd *r);

/* The value at or below which p percent of the values fall (0 <= p <=
 * 100; p = 0 gives the minimum, 100 the maximum). 0 when empty. */
int64_t hist_percentile(const struct hist *h, double p);
/* Exact mean (0 when empty) and the population standard deviation of the
 * recorded (clamped) values, from Welford's running moments, merged by
 * Chan et al.'s pairwise update (1979): 0 for equal values, within
 * rounding otherwise; 0 when empty. */
double hist_mean(const struct hist *h);
double hist_stddev(const struct hist *h);
/* Values recorded at or below v (for cumulative buckets such as
 * Prometheus's): counts whole sub-buckets, so it is exact when v is the
 * highest equivalent value of one, and off by at most one sub-bucket of
 * values otherwise. */
uint64_t hist_count_le(const struct hist *h, int64_t v);

/* The range of values that share v's sub-bucket (equal within the
 * histogram's precision). */
int64_t hist_lowest_equiv(const struct hist *h, int64_t v);
int64_t hist_highest_equiv(const struct hist *h, int64_t v);

/* Iterates over the sub-buckets that hold values, in increasing order:
 *
 *	struct hist_iter it;
 *	hist_iter_init(&it, &h);
 *	while (hist_iter_next(&it))
 *		use(it.lo, it.hi, it.count, it.cum);
 */
struct hist_iter {
	const struct hist *h;
	int32_t idx;		/* next index to look at */
	int64_t lo, hi;		/* values in the sub-bucket */
	uint64_t count;		/* values in it */
	uint64_t cum;		/* values in it and all below */
};
void hist_iter_init(struct hist_iter *it, const struct hist *h);
/* Returns 1 and fills the fields for the next non-empty sub-bucket, or 0
 * at the end. */
int hist_iter_next(struct hist_iter *it);

/* Iterates percentile levels as HdrHistogram's percentile distribution
 * does: ticks_per_half steps between 0% and 50%, as many between 50% and
 * 75%, and so on, then one last step at 100%.
 *
 *	struct hist_piter it;
 *	hist_piter_init(&it, &h, 5);
 *	while (hist_piter_next(&it))
 *		use(it.value, it.level, it.cum, it.last);
 */
struct hist_piter {
	struct hist_iter b;	/* the sub-bucket being reported */
	int ticks;		/* steps per halving of the distance to 100% */
	double level;		/* percentile (0..100) reached by this step */
	double next_level;	/* percentile to report next */
	int64_t value;		/* highest equivalent value of the sub-bucket */
	uint64_t cum;		/* values at or below value */
	int last;		/* this is the final step, at 100% */
	int state;		/* 0 walking, 1 final step due, 2 done */
	int have;		/* b holds a sub-bucket not yet fully reported */
};
void hist_piter_init(struct hist_piter *it, const struct hist *h, int ticks_per_half);
int hist_piter_next(struct hist_piter *it);

#endif
