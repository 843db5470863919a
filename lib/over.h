/* over.h - per-event rolling aggregates, the OVER windows of rtai-window
 * (SQL's RANGE BETWEEN INTERVAL ... PRECEDING AND CURRENT ROW): each record
 * leaves carrying the aggregates of its key's records whose event time
 * lies in (t - RANGE, t], itself and its peers (the key's records with the
 * same event time) included. A record exactly RANGE older is outside.
 *
 * Order and lateness (see rtai-window(1)). The watermark W is the largest
 * event time seen minus the delay, or an upstream watermark if later; a
 * record with t < W at its arrival is late, and counted: written to the
 * late stream when there is one, else emitted at once (every record is
 * emitted) with the aggregates of the records of its range that the
 * engine still holds: exact when the records of its key in (t - RANGE, t]
 * are all still held (records within RANGE of the key's newest time, in
 * arrival order within RANGE of W), the rest left out otherwise. It
 * counts for the records that leave after it, not for those already
 * written.
 *   - event order (the default): a record waits until W > t, then leaves in
 *     event-time order, ties in arrival order, with every peer counted,
 *     those that arrived after it too. At the end of input every waiting
 *     record leaves. The output is what a batch computation over the
 *     sorted, non-late records gives.
 *   - arrival order: a record leaves at once, with the aggregates of the
 *     records of its range that have arrived so far; a record that arrives
 *     out of order counts for later ones, not retroactively.
 *
 * State and cost. Per key, a ring of (event time, values) in event-time
 * order holds the records a future record's range can still reach: those
 * within RANGE of the key's newest time (in arrival order, within RANGE of
 * W, for records arriving out of order). count, distinct and the
 * percentiles cover the newest range by counting values in and out
 * (agg_add() and agg_remove(): distinct by its count map, the percentiles
 * by the DDSketch's bin counts); min, max, first and last by a monotonic
 * deque of ring positions each. sum, avg and stddev are never updated by
 * subtracting what leaves (rounding would stay, and a large value that
 * left would keep cancelling small ones): they are kept by the two-stacks
 * algorithm of sliding-window aggregation, as described in Tangwongsan,
 * Hirzel and Schneider, "In-order sliding-window aggregation in
 * worst-case constant time", VLDB Journal 30 (2021) (their baseline; DABA
 * makes it worst case). The ring's entries in range are a front stack
 * whose entries each hold the partial aggregate of themselves and the
 * front entries after them, then a back stack with one running aggregate;
 * when the front empties, the back is flipped into it. A result merges the
 * front's top with the back by agg_merge(): exact int sums (128-bit),
 * float sums by one addition, (n, mean, M2) by Chan's pairwise update. So
 * every result is a computation over the values in its range alone. Per
 * record in order this is O(1) amortised (distinct O(1) expected; reading
 * a percentile walks the sketch's bins, at most 2 * AGG_MAX_BINS and in
 * practice a few hundred). A record that arrives out of order (arrival
 * order only) costs O(records of its key in range).
 * Keys whose records have all left the range are recycled.
 *
 * Waiting records (event order) are copies of their frames in reused
 * chunks, ordered by a binary heap on (event time, arrival); those the
 * watermark passes leave in batches, which lets the engine prefetch the
 * state of the keys a few records ahead (with 100k keys, the state is
 * larger than the caches). Nothing is allocated per record once the state
 * stops growing, beyond what distinct and the percentiles need.
 */
#ifndef RTAI_OVER_H
#define RTAI_OVER_H

#include <stddef.h>
#include <stdint.h>

#include "agg.h"
#include "frame.h"
#include "rec.h"

/* Ranges and delays the engine accepts, and event times: beyond these,
 * t - RANGE - delay could overflow int64 nanoseconds. */
#define OVER_MAX_DURATION (INT64_C(1) << 60)	/* about 36 years */
#define OVER_MAX_TIME (INT64_C(1) << 62)	/* 1824 to 2116 */

struct over_conf {
	int64_t range;			/* RANGE, 1 ns to OVER_MAX_DURATION */
	int arrival;			/* emit at arrival instead of in event order */
	int64_t delay;			/* watermark delay, 0 to OVER_MAX_DURATION */
	uint64_t max_keys;		/* keys holding state; 0 = no limit */
	char *const *keys;		/* key field names, NUL-terminated */
	const size_t *klen;		/* their lengths */
	size_t nkeys;			/* 0: one group */
	const struct agg_set *aggs;	/* at least one aggregate */
	struct frame_wr *late;		/* late records go here; NULL emits them
					 * at once over what of their range is held */
};

struct over_stats {
	uint64_t records;		/* data frames read */
	uint64_t emitted;		/* records written with their aggregates */
	uint64_t late;			/* late records (written aside or emitted) */
	uint64_t late_emitted;		/* late records emitted at once */
	uint64_t keys, peak_keys;	/* keys holding state */
	uint64_t entries, peak_entries;	/* records held in ranges */
	uint64_t waiting, peak_waiting;	/* records waiting for the watermark */
	uint64_t peak_bytes;		/* see over_bytes() */
	uint64_t floored;		/* records before their floor: dropped */
	uint64_t rebuilt;		/* records within RANGE after their floor:
					 * into their key's range (or, late, set
					 * aside as any), never emitted nor
					 * written to the late stream */
	uint64_t revoked;		/* waiting records dropped by over_drop_tag */
	uint64_t revoked_keys;		/* keys whose state it dropped */
};

struct over;

/* A new engine writing to out; conf (with its key names and aggregate set)
 * and out must outlive it. Never fails (aborts on out-of-memory). */
struct over *over_new(const struct over_conf *conf, struct frame_wr *out);
/* Frees everything; waiting records are dropped. Accepts NULL. */
void over_free(struct over *o);

/* Handles one input frame: a record (name and recno, its record number,
 * are for messages), an upstream watermark (moves W, not forwarded: the
 * engine's own watermark goes downstream through over_sync()), a
 * latency marker (forwarded at once), any other frame (forwarded). Returns
 * 0, or -1 with over_err() set ("NAME: record N: what") on bad input: a
 * record that is not a record, lacks its event time or a key field, has a
 * value of the wrong type, or would exceed max_keys. In event order a
 * record's faults show when it leaves, with its own record number. */
int over_frame(struct over *o, const struct frame *f, const char *name,
	       uint64_t recno);
/* Moves W to wm if that is later, emitting the records it passes.
 * Returns 0, or -1 with over_err() set. */
int over_advance(struct over *o, int64_t wm);
/* The end of input: every waiting record leaves. Same contract. */
int over_finish(struct over *o);
/* Before blocking for input: the records W has passed leave (they go in
 * batches otherwise, to look ahead in memory), then a watermark frame if W
 * moved since the last one. Same contract. */
int over_sync(struct over *o);

/* ---- tags and floors: a revoked or assigned Kafka partition (rtai(7), issue 16)
 * As win.h's, for ranges. rtai-kafka --replay commits each partition back
 * to its first message at or after a horizon H, and the member that takes
 * the partition over reads it again from there, with H for floor. A
 * record at t has all of (t - RANGE, t] read again when t - RANGE >= H - 1
 * ns: it is emitted, with the aggregates its previous owner gave it
 * (unless a record of its range was late in one run and not the other).
 * A record before that went out from its previous owner: it only rebuilds
 * its key's range (late, it is late as any record, but neither emitted
 * nor written to the late stream). A record before H (a straggler of an
 * older range) is dropped. With --replay SIZE+(RANGE+DELAY), the previous
 * owner's watermark was at or past H + RANGE when it committed, so every
 * record it had not emitted is emitted here, whole. Counted in over_stats: floored,
 * rebuilt, revoked, revoked_keys. Tags and floors are not in snapshots
 * (--replay excludes checkpoints). */

/* Sets the tag (nonzero) of the records added next, 0 for none: a key's
 * tag is that of its latest record to join its range, so a key must keep
 * to one partition (a topic keyed by it). A tagged record waiting for the
 * watermark costs 8 bytes more. */
void over_set_tag(struct over *o, uint32_t tag);
/* Sets the floor of the records added next, INT64_MIN for none (see above). */
void over_set_floor(struct over *o, int64_t floor);
/* The partition of tag (nonzero) went to another consumer: first the
 * records the watermark passed leave (they would have), then every record
 * of tag still waiting is dropped unemitted (its new owner emits it) and
 * every key whose tag it is loses its state; when no key and no waiting
 * record is left, the watermark starts afresh (INT64_MIN), so that
 * partitions read again from their commits are not late against the
 * newest time before (a partition given to a member that keeps others,
 * as cooperative-sticky does, is judged by its watermark: records behind
 * it are late). Sets *dropped to the waiting records dropped. Returns 0, or -1 with over_err() set as over_advance().
 * Time: the waiting records and the key table's size. */
int over_drop_tag(struct over *o, uint32_t tag, uint64_t *dropped);

/* The watermark (INT64_MIN before any record), and the earliest watermark
 * at which a waiting record would leave (INT64_MAX when none waits). */
int64_t over_wm(const struct over *o);
int64_t over_next_deadline(const struct over *o);

const struct over_stats *over_stats(const struct over *o);
/* Bytes held by keys, rings, deques and waiting frames (not counting what
 * distinct and the percentiles allocate). */
size_t over_bytes(const struct over *o);
/* The message of the last error: "NAME: record N: what", naming no
 * option of any tool (the tool words its own hint from over_errc()). */
const char *over_err(const struct over *o);

/* ---- snapshots (checkpoints: rtai(7), issue 14) ----------------------------
 *
 * The image: "RTOS", u32 version (OVER_SNAP_VERSION), u64 length of what
 * follows the header, u64 checksum of it (rec_hash), then in the snap.h
 * encoding: the options that decide output as text (range, order, delay,
 * whether late records go aside, the key fields and agg_set_describe()),
 * the largest event time seen, the watermark and the last one written,
 * the time of the records leaving, the arrival counter, the counters of
 * over_stats and the key table's size; then every key holding state: its
 * encoded key, newest time, its ring of records (event time and one value
 * per input field, strings with their bytes) with the range's bounds and,
 * for sum, avg and stddev, the two stacks (the first front entry that
 * keeps a partial and the partials kept, one per SL_BLOCK entries of the
 * front, then the back's running one, agg_row_snapshot), the running row
 * of count, distinct and the percentiles (agg_row_snapshot: sketch bins,
 * distinct counts), and each min/max/first/last deque as ring positions;
 * last, every record waiting for the watermark (event order), with its
 * event and ingest times, arrival number, record number, frame flags and
 * encoding, and its payload. Times are int64 nanoseconds. As win.h's,
 * it is the state, not a log: restoring it and feeding the frames after
 * it gives what the uninterrupted run gives, byte for byte (sums kept to
 * the bit, so no rounding differs), waiting records included.
 * Version 3 (this one): the rows of agg_row_snapshot lost their tag per
 * aggregate and 24 to 32 bytes per count or sum; an image of an earlier
 * version is refused, not converted. */
#define OVER_SNAP_VERSION 3

/* Appends the image of o to out. Cannot fail; allocates only in out. Time
 * and bytes grow with the records held in ranges and waiting, and with
 * distinct values and sketches. Emits nothing and changes nothing: the
 * records of a batch that has not left yet are written as waiting. */
void over_snapshot(const struct over *o, struct buf *out);
/* Loads an image of len bytes at p (borrowed; waiting payloads are
 * copied) into o, which must be fresh from over_new() with the same
 * options (max_keys may differ). Returns 0, or -1 with err set when o is
 * not fresh, or the image is not a range snapshot, is of another version,
 * is truncated or corrupt (length, checksum, or contents that no engine
 * writes: "a corrupt range snapshot: byte N: what"), or was made with
 * other options ("made with 'over range=...', these are '...'"). A
 * waiting record whose bytes are bad is not an error here: it fails when
 * it leaves, as it would have. After -1, o holds part of the state:
 * over_free() it. Emits nothing. */
int over_restore(struct over *o, const void *p, size_t len, char *err, size_t errlen);

/* What the last error was, for the tool's hint. */
enum over_errc {
	OVER_E_NONE,		/* no error yet */
	OVER_E_INPUT,		/* a bad record: not a record, a missing key
				 * field, a value of the wrong type */
	OVER_E_NO_TIME,		/* a record without event time */
	OVER_E_MAX_KEYS		/* more than conf.max_keys keys in range */
};
enum over_errc over_errc(const struct over *o);

#endif
