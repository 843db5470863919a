/* barrier.h - the payload of a checkpoint barrier frame (kind 3).
 *
 * A source injects a barrier with its read position; every stage that
 * keeps state snapshots it when the barrier passes, then forwards it
 * (rtai-record(5) "Barriers"; Flink's aligned checkpoints). The payload is
 * a binary record (encoding 3, rec.h) with three fields:
 *   checkpoint  int     the id, increasing from 1
 *   type        string  "checkpoint" or "savepoint"
 *   sources     json    an array of positions, one per source, such as
 *                       [{"source":"rtai-cat","input":"a.rtai","offset":1234,
 *                         "records":10}] or, for Kafka,
 *                       [{"source":"rtai-kafka","topic":"t","partition":0,
 *                         "offset":42}] (one per assigned partition, the
 *                       next offset to read)
 * Other fields are allowed and ignored, so later versions can add some.
 */
#ifndef RTAI_BARRIER_H
#define RTAI_BARRIER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "frame.h"
#include "rec.h"

struct barrier {
	int64_t checkpoint;	/* id, >= 1 */
	int savepoint;		/* 1 for "savepoint", 0 for "checkpoint" */
	const char *sources;	/* JSON array text, not NUL-terminated */
	size_t sources_len;	/* its bytes */
};

/* Appends the payload of b (a binary record) to out. sources NULL is the
 * empty array. The caller makes sure sources is a JSON array. */
void barrier_encode(const struct barrier *b, struct buf *out);

/* Decodes the barrier frame f into *b, using scratch (a record the caller
 * owns and frees) for the fields: b->sources then borrows from f's
 * payload, valid as long as it is. Returns 0, or -1 with a reason in err
 * ("field \"checkpoint\": expected an int >= 1, got string"). */
int barrier_decode(const struct frame *f, struct rec *scratch,
		   struct barrier *b, char *err, size_t errlen);

/* barrier_decode() for a stage reading rd: on a bad barrier, warns
 * "NAME: after record N: why" (cli_warn; N counts rd's records) and
 * returns -1; the caller decides whether the run stops. Returns 0 with *b
 * filled (borrowing as barrier_decode's) otherwise. */
int barrier_read(const struct frame_rd *rd, const struct frame *f, struct rec *scratch,
		 struct barrier *b);

/* Writes a barrier frame (kind 3, encoding 3, no event time) stamped with
 * ingest_ns, and flushes: a barrier is never held back behind buffered
 * records, as latency markers are not. */
void barrier_put(struct frame_wr *w, const struct barrier *b, int64_t ingest_ns);

struct ckpt;

/* A source takes checkpoint (or, savepoint set, savepoint) id (>= 1), as
 * rtai-cat and rtai-kafka do: its read positions, len bytes of a JSON
 * array at sources, go in the barrier's "sources", and its snapshot,
 * snap_len bytes at snap (the same positions, or more about them; copied,
 * not kept), is written in the background (ckpt_write_bg), as Flink's
 * sources snapshot their offsets: the copy is taken now, the write, its
 * fsyncs and the completion check run in the writer thread while the
 * records go on. The barrier goes to w (barrier_put, flushed) at once,
 * after every record written to w before it: checkpoint id completes only
 * once the source's snapshot is in DIR too (ckpt.h, completion rule), so a
 * barrier that runs ahead of its source's snapshot cannot make a
 * checkpoint that lacks it. The snapshot of the last barrier is waited for
 * first (barrier_wait).
 * Returns 0 when the barrier was sent and the last snapshot had been
 * written; 1 when the barrier was sent but the last snapshot could not be
 * written; -1 when no writer thread could be started for this one, and
 * no barrier was sent, as that checkpoint could never complete. A failure
 * is reported on stderr ("TOOL: checkpoint N: DIR/ckpt-N/...: what"). A
 * snapshot that cannot be written declines its checkpoint (ckpt_settled),
 * and the previous complete one stays usable. c NULL: the barrier alone is
 * sent, returns 0. */
int barrier_take(struct ckpt *c, struct frame_wr *w, int64_t id, int savepoint,
		 const void *snap, size_t snap_len, const void *sources, size_t len);

/* Waits for the snapshot the last barrier_take started to be written
 * (ckpt_wait), as a source must before it ends, or before it asks whether
 * a checkpoint is complete at the end of its input. Returns 0, or -1 after
 * a message on stderr when that snapshot could not be written. c NULL:
 * returns 0. */
int barrier_wait(struct ckpt *c);

#endif
