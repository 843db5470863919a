/* agg.h - aggregates over a group of records: count, sum, avg, min, max,
 * first, last, distinct, stddev and the percentiles p50/p90/p95/p99.
 *
 * A set of aggregates is parsed once from specs "[NAME=]FUNC[:FIELD]".
 * The state of one group (a window, a key's range of records) is a "row":
 * an array of set->n struct agg_state, fixed-size, plus heap blocks that
 * distinct, the percentiles and first/last of strings need. A row keeps
 * its blocks across agg_reset(), so a recycled row stops allocating.
 *
 *   struct agg_set set = { 0 };
 *   agg_set_parse(&set, "sum:amount", err, sizeof(err));
 *   struct agg_state *row = xcalloc(set.n, sizeof(*row));
 *   agg_extract(&set, rec, vals, err, sizeof(err));	 per record
 *   agg_add(&set, row, vals, event_ns);
 *   agg_result(&set, row, 0, &v);			 v: int, float or null
 *   agg_free(&set, row); free(row); agg_set_free(&set);
 *
 * Null values are skipped by every aggregate except the bare count (which
 * counts records); a field missing from a record reads as null.
 *
 * Sums. A sum's type and value depend only on the values in the group,
 * never on their order: the ints are summed exactly in 128 bits, the
 * floats as doubles. The sum is an int when every value is an int and the
 * exact sum fits in int64; otherwise a float: the double nearest the exact
 * int sum plus the floats' sum (an int sum beyond int64 is therefore a
 * float, whatever the order of the values). avg is that sum over the count.
 *
 * Removal (for ranges that slide record by record): count, distinct and
 * the percentiles are exact under agg_remove() (they count); sum, avg and
 * stddev are not (subtracting a float undoes its addition only up to
 * rounding, and what a large value cancelled stays lost), nor are min,
 * max, first and last: agg_removable() says so, and the caller keeps them
 * another way, such as sliding-window aggregation of partial rows with
 * agg_merge() (lib/over.c) or a monotonic deque.
 *
 * Percentiles use a DDSketch with relative accuracy AGG_ALPHA: the value
 * returned for quantile q is within a factor (1 +- AGG_ALPHA) of the value
 * of rank floor(q * (n - 1)) in the sorted values (0-based), as long as the
 * positive (and the negative) values of a group span less than a factor of
 * about 6e17 (AGG_MAX_BINS bins); beyond that the lowest quantiles lose
 * accuracy first. Magnitudes below AGG_MIN_VALUE count as zero. Sketches
 * merge exactly, so session windows merge without loss.
 */
#ifndef RTAI_AGG_H
#define RTAI_AGG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "rec.h"
#include "snap.h"

#define AGG_ALPHA 0.01		/* percentile relative error bound */
#define AGG_MAX_BINS 2048	/* per sign, per sketch */
#define AGG_MIN_VALUE 1e-9	/* smaller magnitudes are zero for percentiles */

enum agg_func {
	AGG_COUNT,	/* records (no field), or non-null values of a field */
	AGG_SUM,	/* int when every value is an int and their sum fits in int64,
			 * else float (see "Sums" above) */
	AGG_AVG,	/* float */
	AGG_MIN,	/* numbers and times, in their own type */
	AGG_MAX,
	AGG_FIRST,	/* value with the smallest event time (first arrival on ties) */
	AGG_LAST,	/* value with the largest event time (last arrival on ties) */
	AGG_DISTINCT,	/* exact count of distinct non-null values */
	AGG_STDDEV,	/* sample standard deviation (n - 1); null below 2 values */
	AGG_P50,	/* percentiles from the sketch, float */
	AGG_P90,
	AGG_P95,
	AGG_P99,
};

struct agg_spec {
	enum agg_func func;
	char *name;		/* output field name (owned, NUL-terminated) */
	char *field;		/* input field (owned), NULL for a bare count */
	size_t nlen, flen;	/* their lengths */
	int shared;		/* percentiles: index of an earlier spec on the same
				 * field whose sketch this one reads, or -1 */
	int sketch;		/* percentiles: this spec owns a sketch */
};

struct agg_set {
	struct agg_spec *v;	/* the aggregates, in the order given */
	size_t n, cap;
	int times;		/* some aggregate uses event times (first, last) */
	uint8_t *seen;		/* per aggregate: agg_extract() found its field
				 * in a record (for agg_seen()) */
};

/* The fixed-size state of one aggregate in one group (40 bytes). Treat it
 * as opaque; an all-zero state is a valid empty one. */
struct agg_box;
struct agg_distinct;
struct agg_sketch;
struct agg_state {
	union {
		struct {
			int64_t n;		/* values (or records) */
			uint64_t ilo;		/* exact sum of the ints, 128-bit two's */
			int64_t ihi;		/* complement: ihi * 2^64 + ilo */
			double fsum;		/* sum of the floats */
			int64_t nf;		/* floats among the n values */
		} s;				/* count, sum, avg */
		struct {
			int64_t n;
			double mean, m2;	/* Welford */
		} m;				/* stddev */
		struct {
			int64_t t;		/* event time of the value */
			union {
				int64_t i;
				double f;
			} u;			/* ints, times, floats */
			struct agg_box *box;	/* string bytes, kept for reuse */
			uint8_t type;		/* RT_NULL while empty */
		} x;				/* min, max, first, last */
		struct agg_distinct *d;
		struct agg_sketch *k;
	};
};

/* Parses "[NAME=]FUNC[:FIELD]" and appends it to set. Returns 0, or -1 with
 * err set ("unknown function 'sums' (expected count, sum, ...)"). Output
 * names default to "count", "count_FIELD", "FUNC_FIELD" ("sum_amount",
 * "p95_amount", "distinct_item_id"); a name used twice is an error. */
int agg_set_parse(struct agg_set *set, const char *spec, char *err, size_t errlen);
/* Frees the specs. Accepts NULL. Rows must have been freed first. */
void agg_set_free(struct agg_set *set);
/* "count", "sum", ... */
const char *agg_func_name(enum agg_func f);
/* 1 if agg_remove() keeps f exact, 0 if the caller must keep it otherwise. */
int agg_removable(enum agg_func f);

/* Fills vals[i] (set->n values) from a record: the field of each aggregate,
 * or null when missing (a bare count gets true), and notes the fields
 * found for agg_seen(). Values borrow from rec.
 * Returns 0, or -1 with err set to 'field "amount": expected number, got
 * string' when a value has the wrong type for its aggregate. */
int agg_extract(const struct agg_set *set, const struct rec *rec,
		struct val *vals, char *err, size_t errlen);

/* Whether aggregate i's field occurred (even as null) in a record given to
 * agg_extract(); 1 for a bare count. A field that never occurs is most
 * likely misspelt ("-a sum:amout"): tools warn about it at the end. */
int agg_seen(const struct agg_set *set, size_t i);
/* Warns (cli_warn) about each aggregate whose field never occurred in the
 * records read ("field "amout" of -a sum:amout never occurred in 20
 * records (misspelt?)"), when records > 0. Returns how many. */
size_t agg_warn_unseen(const struct agg_set *set, uint64_t records);

/* Adds one record's values (from agg_extract) with its event time t (used by
 * first and last; RTAI_TIME_UNSET is allowed and orders by arrival). Copies
 * what it keeps; vals may go away afterwards. */
void agg_add(const struct agg_set *set, struct agg_state *row,
	     const struct val *vals, int64_t t);
/* Takes values added earlier back out, for the removable aggregates
 * (agg_removable()); the others are left as they are. vals must equal what was added (strings
 * compare by content, so a caller keeping past records in a ring may pass
 * its own copies). Removing what was never added is undefined. */
void agg_remove(const struct agg_set *set, struct agg_state *row,
		const struct val *vals, int64_t t);
/* Folds src into dst (both rows of set), as if dst had seen src's values
 * too; src is left unchanged. For session windows that merge and for
 * sliding-window aggregation. Sums merge exactly (ints) or by one float
 * addition; stddev by Chan et al.'s pairwise update of (n, mean, M2)
 * ("Updating formulae and a pairwise algorithm for computing sample
 * variances", 1979). */
void agg_merge(const struct agg_set *set, struct agg_state *dst,
	       const struct agg_state *src);
/* The result of aggregate i. Strings point into the row and stay valid
 * until the row changes. */
void agg_result(const struct agg_set *set, const struct agg_state *row, size_t i,
		struct val *out);

/* Empties a row, keeping its heap blocks for reuse. */
void agg_reset(const struct agg_set *set, struct agg_state *row);
/* Frees a row's heap blocks and zeroes it (the array itself is the
 * caller's). Accepts NULL. */
void agg_free(const struct agg_set *set, struct agg_state *row);
/* Heap bytes held by a row, for memory accounting. */
size_t agg_heap_bytes(const struct agg_set *set, const struct agg_state *row);

/* A quantile of a row's sketch for aggregate i (a percentile), for any q in
 * [0, 1]; stores it and returns 0, or returns -1 when the sketch is empty. */
int agg_quantile(const struct agg_set *set, const struct agg_state *row, size_t i,
		 double q, double *out);

/* ---- snapshots (checkpoints, rtai(7)) ---------------------------------- */

/* Appends a text that identifies the set for snapshots: each aggregate's
 * output name, function and field ("count=count,sum_amount=sum:amount"),
 * so that a snapshot is only restored by a set that reads it the same
 * way. */
void agg_set_describe(const struct agg_set *set, struct buf *out);
/* Appends the state of one row (set->n aggregates) to out in the snap.h
 * encoding: everything that decides its future results (sums to the bit,
 * min/max/first/last with their event times, every distinct value with
 * its count, each sketch's bins), so a restored row goes on exactly as
 * the original would, and nothing else: no tag per aggregate (the image
 * that holds rows names the set, agg_set_describe), a count as its 8
 * bytes, a sum as a form byte and the 16 bytes of an int-only or a
 * float-only sum (all 40 only when ints and floats mix). Row order of
 * distinct values is not kept (it decides nothing). Cannot fail. The
 * encoding is part of the images of win and over: a change to it is a
 * new version of both (WIN_SNAP_VERSION, OVER_SNAP_VERSION). */
void agg_row_snapshot(const struct agg_set *set, const struct agg_state *row,
		      struct buf *out);
/* Reads one row written by agg_row_snapshot() for the same set from r into
 * row, which must be empty (fresh from calloc, or agg_reset()). Returns 0,
 * or -1 with r->bad set when the bytes are truncated or inconsistent (an
 * unknown type, a sketch whose totals disagree, ...); row may then hold
 * part of the state and is freed by agg_free() as usual. */
int agg_row_restore(const struct agg_set *set, struct agg_state *row, struct snap_rd *r);

#endif
