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

/* Writes a barrier frame (kind 3, encoding 3, no event time) stamped with
 * ingest_ns, and flushes: a barrier is never held back behind buffered
 * records, as latency markers are not. */
void barrier_put(struct frame_wr *w, const struct barrier *b, int64_t ingest_ns);

#endif
