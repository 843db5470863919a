/* hist.c - log-linear histograms (the layout of HdrHistogram). */
#include "config.h"
#include "hist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "snap.h"

/* ---- layout -------------------------------------------------------- */

static int bucket_of(const struct hist *h, int64_t v)
{
	int pow2ceil = 64 - __builtin_clzll((uint64_t)(v | h->sub_mask));

	return pow2ceil - h->unit_mag - (h->sub_half_mag + 1);
}

static int32_t index_of(const struct hist *h, int64_t v)
{
	int b = bucket_of(h, v);
	int32_t sub = (int32_t)(v >> (b + h->unit_mag));

	return ((b + 1) << h->sub_half_mag) + (sub - h->sub_half);
}

/* The lowest value of counts[i], and the width of its sub-bucket. */
static int64_t value_at(const struct hist *h, int32_t i, int64_t *width)
{
	int b = (i >> h->sub_half_mag) - 1;
	int32_t sub = (i & (h->sub_half - 1)) + h->sub_half;

	if (b < 0) {
		sub -= h->sub_half;
		b = 0;
	}
	if (width != NULL)
		*width = INT64_C(1) << (h->unit_mag + b);
	return (int64_t)sub << (b + h->unit_mag);
}

int hist_init(struct hist *h, int64_t lowest, int64_t highest, int digits)
{
	int64_t largest, untrackable;
	int sub_count_mag;

	memset(h, 0, sizeof(*h));
	if (lowest < 1 || digits < 1 || digits > 5 || highest < 2 * lowest)
		return -1;
	largest = 2;
	for (int i = 0; i < digits; i++)
		largest *= 10;
	sub_count_mag = (int)ceil(log2((double)largest));
	h->lowest = lowest;
	h->highest = highest;
	h->digits = digits;
	h->sub_half_mag = sub_count_mag - 1;
	h->unit_mag = 63 - __builtin_clzll((uint64_t)lowest);
	if (h->unit_mag + h->sub_half_mag + 1 > 62)
		return -1;
	h->sub_count = INT32_C(1) << (h->sub_half_mag + 1);
	h->sub_half = h->sub_count / 2;
	h->sub_mask = (int64_t)(h->sub_count - 1) << h->unit_mag;
	untrackable = (int64_t)h->sub_count << h->unit_mag;
	h->bucket_count = 1;
	while (untrackable <= highest) {
		if (untrackable > INT64_MAX / 2) {
			h->bucket_count++;
			break;
		}
		untrackable <<= 1;
		h->bucket_count++;
	}
	h->counts_len = (h->bucket_count + 1) * h->sub_half;
	h->counts = xcalloc((size_t)h->counts_len, sizeof(h->counts[0]));
	h->min = INT64_MAX;
	h->max = 0;
	return 0;
}

void hist_free(struct hist *h)
{
	if (h == NULL)
		return;
	free(h->counts);
	h->counts = NULL;
	h->total = 0;
}

void hist_reset(struct hist *h)
{
	memset(h->counts, 0, (size_t)h->counts_len * sizeof(h->counts[0]));
	h->total = h->clamped = 0;
	h->min = INT64_MAX;
	h->max = 0;
	h->sum = 0;
	h->mean = h->m2 = 0;
}

/* ---- recording ----------------------------------------------------- */

/* Counts n values of v (clamped into range) without touching the sum;
 * returns the clamped value. */
static int64_t add_counts(struct hist *h, int64_t v, uint64_t n)
{
	if (v < 0 || v > h->highest) {
		v = v < 0 ? 0 : h->highest;
		h->clamped += n;
	}
	h->counts[index_of(h, v)] += n;
	h->total += n;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	return v;
}

/* Folds nb values of mean mb and squared deviations m2b into h's moments,
 * after h->total already counts them (Chan, Golub and LeVeque's pairwise
 * update; with nb = 1 and m2b = 0 it is Welford's). */
static void moments_add(struct hist *h, uint64_t nb, double mb, double m2b)
{
	double na = (double)(h->total - nb), n = (double)h->total, d = mb - h->mean;

	h->mean += d * (double)nb / n;
	h->m2 += m2b + d * d * na * (double)nb / n;
}

void hist_record(struct hist *h, int64_t v)
{
	double x = (double)add_counts(h, v, 1);

	h->sum += x;
	moments_add(h, 1, x, 0);
}

void hist_record_n(struct hist *h, int64_t v, uint64_t n)
{
	double x;

	if (n == 0)
		return;
	x = (double)add_counts(h, v, n);
	h->sum += x * (double)n;
	moments_add(h, n, x, 0);
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	if (src->total == 0)
		return;
	if (dst->counts_len == src->counts_len && dst->unit_mag == src->unit_mag &&
	    dst->sub_half_mag == src->sub_half_mag && dst->highest == src->highest) {
		for (int32_t i = 0; i < src->counts_len; i++)
			dst->counts[i] += src->counts[i];
		dst->total += src->total;
		dst->clamped += src->clamped;
		if (src->min < dst->min)
			dst->min = src->min;
		if (src->max > dst->max)
			dst->max = src->max;
		dst->sum += src->sum;
		moments_add(dst, src->total, src->mean, src->m2);
		return;
	}
	{
		struct hist_iter it;
		int64_t lo, hi;

		hist_iter_init(&it, src);
		while (hist_iter_next(&it))
			add_counts(dst, it.lo + (it.hi - it.lo + 1) / 2, it.count);
		/* The exact extremes, clamped into dst's range. */
		lo = src->min > dst->highest ? dst->highest : src->min;
		hi = src->max > dst->highest ? dst->highest : src->max;
		if (lo < dst->min)
			dst->min = lo;
		if (hi > dst->max)
			dst->max = hi;
		dst->sum += src->sum;
		moments_add(dst, src->total, src->mean, src->m2);
	}
}

/* ---- snapshots ----------------------------------------------------- */

#define HIST_SNAP_VERSION 1

void hist_snapshot(const struct hist *h, struct buf *b)
{
	uint32_t n = 0;
	size_t at;

	snap_u8(b, HIST_SNAP_VERSION);
	snap_i64(b, h->lowest);
	snap_i64(b, h->highest);
	snap_u32(b, (uint32_t)h->digits);
	snap_u64(b, h->total);
	snap_u64(b, h->clamped);
	snap_i64(b, h->min);
	snap_i64(b, h->max);
	snap_f64(b, h->sum);
	snap_f64(b, h->mean);
	snap_f64(b, h->m2);
	at = b->len;
	snap_u32(b, 0); /* the number of pairs, filled in below */
	for (int32_t i = 0; i < h->counts_len; i++) {
		if (h->counts[i] == 0)
			continue;
		snap_u32(b, (uint32_t)i);
		snap_u64(b, h->counts[i]);
		n++;
	}
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
	n = __builtin_bswap32(n);
#endif
	memcpy(b->p + at, &n, 4);
}

int hist_restore(struct hist *h, struct snap_rd *r)
{
	uint64_t sum = 0;
	int64_t last = -1;
	uint32_t n;

	hist_reset(h);
	if (snap_get_u8(r) != HIST_SNAP_VERSION)
		return r->bad ? -1 : snap_fail(r, "histogram: another snapshot version");
	if (snap_get_i64(r) != h->lowest || snap_get_i64(r) != h->highest ||
	    snap_get_u32(r) != (uint32_t)h->digits)
		return r->bad ? -1 : snap_fail(r, "histogram: another range or precision");
	h->total = snap_get_u64(r);
	h->clamped = snap_get_u64(r);
	h->min = snap_get_i64(r);
	h->max = snap_get_i64(r);
	h->sum = snap_get_f64(r);
	h->mean = snap_get_f64(r);
	h->m2 = snap_get_f64(r);
	n = snap_get_count(r, 12);
	for (uint32_t k = 0; k < n && r->bad == NULL; k++) {
		uint32_t i = snap_get_u32(r);
		uint64_t c = snap_get_u64(r);

		if (r->bad != NULL)
			break;
		if ((int64_t)i <= last || i >= (uint32_t)h->counts_len || c == 0 ||
		    c > UINT64_MAX - sum) {
			snap_fail(r, "histogram: a sub-bucket out of range, out of order or empty");
			break;
		}
		h->counts[i] = c;
		sum += c;
		last = i;
	}
	if (r->bad == NULL &&
	    (sum != h->total || h->clamped > h->total ||
	     (h->total > 0 && (h->min > h->max || h->min < 0 || h->max > h->highest))))
		snap_fail(r, "histogram: counts that do not add up to its total, or bad extremes");
	if (r->bad != NULL) {
		hist_reset(h);
		return -1;
	}
	return 0;
}

/* ---- queries ------------------------------------------------------- */

int64_t hist_lowest_equiv(const struct hist *h, int64_t v)
{
	if (v < 0)
		v = 0;
	if (v > h->highest)
		v = h->highest;
	return value_at(h, index_of(h, v), NULL);
}

int64_t hist_highest_equiv(const struct hist *h, int64_t v)
{
	int64_t w, lo;

	if (v < 0)
		v = 0;
	if (v > h->highest)
		v = h->highest;
	lo = value_at(h, index_of(h, v), &w);
	return lo + w - 1;
}

int64_t hist_percentile(const struct hist *h, double p)
{
	uint64_t want, cum = 0;

	if (h->total == 0)
		return 0;
	if (p <= 0)
		return h->min;
	if (p >= 100)
		return h->max;
	want = (uint64_t)(p / 100.0 * (double)h->total + 0.5);
	if (want < 1)
		want = 1;
	if (want > h->total)
		want = h->total;
	for (int32_t i = 0; i < h->counts_len; i++) {
		cum += h->counts[i];
		if (cum >= want) {
			int64_t w, v = value_at(h, i, &w) + w - 1;

			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max;
}

double hist_mean(const struct hist *h)
{
	return h->total ? h->sum / (double)h->total : 0.0;
}

double hist_stddev(const struct hist *h)
{
	if (h->total == 0)
		return 0.0;
	return sqrt(h->m2 / (double)h->total);
}

uint64_t hist_count_le(const struct hist *h, int64_t v)
{
	uint64_t cum = 0;
	int32_t last;

	if (h->total == 0 || v < 0)
		return 0;
	if (v >= h->max)
		return h->total;
	last = index_of(h, v);
	for (int32_t i = 0; i <= last; i++)
		cum += h->counts[i];
	return cum;
}

/* ---- iteration ----------------------------------------------------- */

void hist_iter_init(struct hist_iter *it, const struct hist *h)
{
	memset(it, 0, sizeof(*it));
	it->h = h;
}

int hist_iter_next(struct hist_iter *it)
{
	const struct hist *h = it->h;

	while (it->idx < h->counts_len && it->cum < h->total) {
		int32_t i = it->idx++;
		int64_t w;

		if (h->counts[i] == 0)
			continue;
		it->lo = value_at(h, i, &w);
		it->hi = it->lo + w - 1;
		it->count = h->counts[i];
		it->cum += it->count;
		return 1;
	}
	return 0;
}

void hist_piter_init(struct hist_piter *it, const struct hist *h, int ticks_per_half)
{
	memset(it, 0, sizeof(*it));
	hist_iter_init(&it->b, h);
	it->ticks = ticks_per_half < 1 ? 1 : ticks_per_half;
	it->state = h->total == 0 ? 2 : 0;
}

int hist_piter_next(struct hist_piter *it)
{
	const struct hist *h = it->b.h;

	if (it->state == 2)
		return 0;
	while (it->state == 0) {
		double reached;

		if (!it->have) {
			if (!hist_iter_next(&it->b)) {
				it->state = 1;
				break;
			}
			it->have = 1;
		}
		reached = 100.0 * (double)it->b.cum / (double)h->total;
		if (it->next_level > reached) {
			it->have = 0;
			continue;
		}
		it->value = it->b.hi > h->max ? h->max : it->b.hi;
		it->level = it->next_level;
		it->cum = it->b.cum;
		it->last = 0;
		if (it->next_level < 100.0) {
			double halvings = floor(log2(100.0 / (100.0 - it->next_level)));

			it->next_level += 100.0 / ((double)it->ticks * pow(2.0, halvings + 1));
			if (it->next_level > 100.0)
				it->next_level = 100.0;
		}
		if (it->b.cum >= h->total)
			it->state = 1;
		return 1;
	}
	it->value = h->max;
	it->level = 100.0;
	it->cum = h->total;
	it->last = 1;
	it->state = 2;
	return 1;
}
