/* win.h - event-time windows: which windows a record belongs to, their
 * state per (key, window), the watermark, and when windows fire.
 *
 * The engine knows nothing about streams: a tool hands it records as an
 * encoded key, an event time, an ingest time and the values of its
 * aggregates (agg_extract), advances the watermark, and receives results
 * through a callback. The rules (see rtai-window(1)):
 *   - windows are [start, end), aligned to the epoch plus an offset, with
 *     floor division for times before 1970;
 *   - tumbling SIZE: one window; sliding SIZE/SLIDE: every [s, s + SIZE)
 *     with s a multiple of SLIDE and s <= t < s + SIZE; session GAP: each
 *     record opens [t, t + GAP) and windows of a key that overlap or touch
 *     merge (a record is late when the session it would join is, or when
 *     it would touch one already dropped, so a key's sessions written as
 *     final never overlap or touch);
 *   - a window fires when the watermark W >= end, and its state is kept
 *     until W >= end + lateness; a record accepted in that time fires it
 *     again; a record is late for a window when end + lateness <= W;
 *   - windows that fire together come out in order of end, then key, then
 *     start.
 *
 * State: a hash table of keys (open addressing), and per (key, window) a
 * fixed-size block from a slab (a header and one struct agg_state per
 * aggregate), recycled through a free list; a binary heap orders windows by
 * their next deadline. Nothing is allocated per record once the number of
 * open windows stops growing, except what distinct and percentiles need.
 */
#ifndef RTAI_WIN_H
#define RTAI_WIN_H

#include <stddef.h>
#include <stdint.h>

#include "agg.h"
#include "buf.h"
#include "rec.h"

/* Durations and times the engine accepts: beyond these, window bounds
 * could overflow int64 nanoseconds. */
#define WIN_MAX_DURATION (INT64_C(1) << 60)	/* about 36 years */
#define WIN_MAX_TIME (INT64_C(1) << 62)		/* 1824 to 2116 */

enum win_kind { WIN_TUMBLING, WIN_SLIDING, WIN_SESSION };

struct win_conf {
	enum win_kind kind;
	int64_t size;		/* tumbling and sliding */
	int64_t slide;		/* sliding (size for tumbling) */
	int64_t gap;		/* session */
	int64_t offset;		/* alignment shift, any value (taken modulo slide) */
	int64_t lateness;	/* state kept this long after the end */
	int update;		/* emit on every change instead of when firing */
	uint64_t max_keys;	/* keys with open windows; 0 for no limit */
	const struct agg_set *aggs;
};

/* One result, handed to the emit callback; valid during the call. */
struct win_out {
	const uint8_t *key;	/* the typed key (key.h) */
	size_t klen;
	int64_t start, end;
	int64_t ingest;		/* latest ingest time of its records */
	const struct agg_state *row;	/* results via agg_result() */
	int refire;		/* an update of an already fired window */
};

typedef void (*win_emit_fn)(void *arg, const struct win_out *o);

struct win_stats {
	uint64_t records;	/* added to at least one window */
	uint64_t late;		/* late for every window (not added) */
	uint64_t late_some;	/* late for some windows, added to others */
	uint64_t fired, refired;	/* results emitted at firing / re-firing */
	uint64_t updates;	/* results emitted in update mode */
	uint64_t windows, peak_windows;	/* open (key, window) states */
	uint64_t keys, peak_keys;	/* keys with open windows */
	uint64_t revoked;	/* windows dropped unfired by win_drop_tag */
	uint64_t floored;	/* records kept out of windows before the floor */
	uint64_t snap_cow;	/* windows whose image for a snapshot in flight
				 * the records wrote, reaching them before its
				 * writer (win_snapshot_finish) */
};

struct win;

/* A new engine; conf (and its aggregate set) must outlive it. emit is
 * called with arg for every result. Never fails (aborts on out-of-memory). */
struct win *win_new(const struct win_conf *conf, win_emit_fn emit, void *arg);
/* Frees every state without firing. Accepts NULL. */
void win_free(struct win *w);

/* Keys are typed keys of key.h (key_part() per field, then key_typed()):
 * records whose keys have the same identity share their windows, and a
 * result carries the key as the first record of its group had it
 * (key_values()). */

/* The hash of a key's identity, for win_prefetch(). */
uint32_t win_key_hash(const uint8_t *key, size_t klen);
/* A hint that a record of this key (h from win_key_hash) is coming: step
 * 1 prefetches its slot in the key table; step 2, issued later, reads the
 * slot and prefetches the key's newest window. Changes nothing, so a tool
 * can prefetch a batch of records ahead of adding them one by one. */
void win_prefetch(const struct win *w, const uint8_t *key, size_t klen, uint32_t h, int step);

/* Adds a record: key (klen bytes, copied when new), event time t, ingest
 * time, and one value per aggregate. Returns the number of windows it was
 * added to, 0 when it was late for all of them (nothing kept), or -1 when
 * a new key would exceed max_keys (err says so). In update mode, and for
 * windows that have already fired, results are emitted before it returns. */
int win_add(struct win *w, const uint8_t *key, size_t klen, int64_t t, int64_t ingest,
	    const struct val *vals);
/* Moves the watermark to wm if that is later; fires the windows whose end
 * it reaches and drops those past their lateness. Returns 1 if it moved. */
int win_advance(struct win *w, int64_t wm);
/* The watermark (INT64_MIN before any). */
int64_t win_watermark(const struct win *w);
/* The earliest watermark at which something fires or is dropped, or
 * INT64_MAX when nothing is open. */
int64_t win_next_deadline(const struct win *w);
/* Fires every window that has not fired yet, in order of end, then key,
 * and drops all state: the end of input. */
void win_flush(struct win *w);

/* ---- tags: the state of a revoked Kafka partition (rtai(7), issue 16) ------
 * A tool that knows where records come from (a Kafka partition) tags the
 * keys with it, and when the partition goes to another consumer of the
 * group, drops the open windows of its keys unfired: the new owner reads
 * them again from the group's committed offset, which rtai-kafka --replay
 * holds back to their first record, and writes them whole. As Kafka
 * Streams closes the tasks of revoked partitions (their state stays with
 * the task, not the process). A key's tag is that of its latest record,
 * so a key must keep to one partition (a topic keyed by it). */

/* Sets the tag (nonzero) of the keys of the records added next; 0 for
 * none. Tags cost one u32 per key slot, allocated at the first nonzero
 * tag; until then nothing. Tags are not in snapshots. */
void win_set_tag(struct win *w, uint32_t tag);
/* Sets the floor of the records added next (tumbling and sliding
 * windows): they go only into windows starting at or after start, as if
 * late for the others (counted in win_stats' floored when that leaves out
 * a window, and as late when it leaves out all), INT64_MIN for none.
 * A partition read again from a commit rtai-kafka --replay held back has
 * for floor the horizon in the commit: its windows that start before it
 * closed in the last owner, which wrote them whole; a sliding window
 * that straddles the horizon would be written again with part of its
 * records. Floors are not in snapshots. */
void win_set_floor(struct win *w, int64_t start);
/* Drops, without firing or emitting, every open window of the keys whose
 * latest record had tag (nonzero), and forgets their tag and, for
 * sessions, the end of their last dropped session. Returns the windows
 * dropped, also added to win_stats' revoked. Time: the key table's size. */
uint64_t win_drop_tag(struct win *w, uint32_t tag);

const struct win_stats *win_stats(const struct win *w);
/* Bytes held by the engine's tables and slabs (not counting what distinct
 * and percentiles allocate). */
size_t win_bytes(const struct win *w);
/* The message of the last error. */
const char *win_err(const struct win *w);

/* ---- snapshots (checkpoints: rtai(7), issue 14) ----------------------------
 *
 * The image: "RTWS", u32 version (WIN_SNAP_VERSION), u64 length of what
 * follows the header, u64 checksum of it (rec_hash), then in the snap.h
 * encoding: the options that decide output as text (kind, size, slide,
 * gap, offset, lateness, emit mode, and agg_set_describe()), the
 * watermark, the counters of win_stats; the key table: its size (u32),
 * the number of keys (u32) and every key (idle ones too, since a key that
 * comes back keeps the value it was first seen with) as its slot (u32)
 * and its bytes, with, for sessions, the end of its latest dropped session
 * (i64, INT64_MIN for none); then the number of open windows (u32) and
 * each, in the order of the engine's slab (read from start to end, not
 * key by key, so serializing misses the cache once per page rather than
 * once per window): its key's slot (u32), start (i64), for sessions its
 * end (i64; else start + size), latest ingest time (i64), whether it
 * fired (u8), and its aggregates (agg_row_snapshot). Every field is
 * fixed-width. As Flink's keyed state snapshots, it is the state, not a
 * log: restoring it and feeding the records after it gives what the
 * uninterrupted run gives.
 * Version 2 (this one) replaced version 1, which wrote each key's windows
 * after it with 40 bytes per count or sum and a tag per aggregate (about
 * twice the bytes); an image of version 1 is refused, not converted. */
#define WIN_SNAP_VERSION 2

/* Appends the image of w to out. Cannot fail; allocates only in out. Time
 * and bytes grow with the open windows and their distinct values and
 * sketches. Emits nothing and changes no window. */
void win_snapshot(struct win *w, struct buf *out);

/* win_snapshot in two steps, so that the records need not wait for it
 * (Flink's asynchronous snapshots of heap state, whose CopyOnWriteStateMap
 * copies an entry the records change before the snapshot has read it;
 * here a window's image is written instead of a copy made).
 *
 * win_snapshot_begin appends the start of the image (options, watermark,
 * counters) to out and notes what the image holds: the windows open now.
 * Returns 1 when the rest is left to win_snapshot_finish, 0 when out holds
 * the whole image (session windows, whose per-key state beside the
 * windows is written at once). Microseconds: a copy of the slab's chunk
 * pointers (8 bytes per 1024 windows). Waits first for a snapshot still
 * in flight.
 *
 * win_snapshot_finish(w, out) appends the rest (the keys, the windows)
 * and seals the image; it may run in another thread while this one goes
 * on with win_add, win_advance and the rest, and out is then that
 * thread's (nothing else may use it meanwhile). Each window carries a
 * stamp: the first of the two threads to reach a window open at the
 * barrier writes its image, the writer into out, the records (before the
 * window changes or is dropped) into a side buffer that the writer
 * appends at the end, so the image is the state at the barrier whatever
 * happens after. What it costs the records: a compare per window
 * changed, and the image of each window they reach before the writer
 * does (the writer walks the slab from start to end). The key table is
 * not rebuilt while a snapshot is in flight (a record that would grow it
 * waits for the writer). win_free waits for it too. The image may list
 * a key added after the barrier, with no window (an idle key, as
 * restored). Its seal (snap_seal) is computed by win_snapshot_finish's
 * thread, so the image must not sit inside another image sealed by the
 * caller's thread. One snapshot at a time per engine. */
int win_snapshot_begin(struct win *w, struct buf *out);
void win_snapshot_finish(struct win *w, struct buf *out);
/* What win_snapshot_begin will return for w: 1 when it leaves the rest of
 * the image to win_snapshot_finish, 0 for session windows. */
int win_snapshot_async(const struct win *w);
/* Loads an image of len bytes at p (borrowed) into w, which must be fresh
 * from win_new() with the same options (max_keys may differ). Returns 0,
 * or -1 with err set when w is not fresh, or the image is not a window
 * snapshot, is of another version, is truncated or corrupt (length or
 * checksum), or was made with other options ("made with 'tumbling 60s
 * ...', this engine has '...'"). After -1, w holds part of the state:
 * win_free() it. Emits nothing. */
int win_restore(struct win *w, const void *p, size_t len, char *err, size_t errlen);

#endif
