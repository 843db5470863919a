/* ackq.h - the acknowledged-output queue of a sink's --pass.
 *
 * A sink that forwards what it wrote (rtai-sink-redis --pass, the Kafka and
 * lake sinks) must forward a record only once its target has acknowledged
 * the write that carries it, and in input order, so that the next stage
 * never sees a record that a crash could still lose (the contract of
 * Kafka's delivery reports and of Flink's two-phase sinks). The queue holds
 * a copy of each frame from the moment the sink reads it until every frame
 * before it is settled, then hands it to the sink's forward callback:
 *
 *	ackq_init(&q, 64 << 20, 100000, forward, &out);
 *	seq = ackq_push(&q, &f, 1);	// a record, written to the target
 *	...				// the target acknowledges it:
 *	ackq_ack(&q, seq, 1);		// forward() runs for it, in order
 *
 * Ownership: ackq_push() copies the frame's fields, source metadata and
 * payload; the caller's frame may change as soon as it returns. The frame handed to forward() is
 * the queue's: valid only during the call.
 *
 * Order: frames are forwarded in the order they were pushed, whatever the
 * order of the acknowledgements (a cluster answers per node). A frame that
 * needs no acknowledgement (a watermark, a schema, an end-of-stream) is
 * forwarded as soon as everything before it is settled; a failed record
 * (ackq_ack(..., 0)) settles without being forwarded.
 *
 * Memory: the queue allocates only while it grows; in the steady state
 * pushing and forwarding reuse its buffers. The bound is the caller's: it
 * stops reading while ackq_full() says the queue holds max_bytes of
 * payload or max_records frames, so what a slow target costs is bounded
 * in bytes, not only in records (one record larger than max_bytes is still
 * taken when the queue is empty).
 */
#ifndef RTAI_ACKQ_H
#define RTAI_ACKQ_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "frame.h"

/* Called once per forwarded frame, in push order. f and its payload are
 * valid during the call only. */
typedef void (*ackq_fwd_fn)(void *arg, const struct frame *f);

struct ackq_ent;

struct ackq {
	struct buf data;		/* headers and payloads, from byte `base` on */
	uint64_t base;			/* stream offset of data.p[0] */
	uint64_t done;			/* stream offset just past the last settled frame */
	struct ackq_ent *e;		/* ring of cap entries, n of them from head */
	size_t cap, head, n;
	uint64_t seq0;			/* sequence number of the entry at head */
	size_t max_bytes;		/* ackq_full() above this many bytes held */
	size_t max_records;		/* ... or this many frames */
	ackq_fwd_fn fwd;
	void *arg;
	uint64_t forwarded;		/* frames handed to fwd so far */
	uint64_t dropped;		/* failed records, settled unforwarded */
};

/* Prepares an empty queue. max_bytes and max_records bound ackq_full() (0:
 * no bound of that kind); fwd(arg, frame) forwards a settled frame. Frees
 * nothing; free with ackq_free(). */
void ackq_init(struct ackq *q, size_t max_bytes, size_t max_records, ackq_fwd_fn fwd,
	       void *arg);

/* Queues a copy of f. need_ack 1: the frame waits for ackq_ack() with the
 * returned sequence number; 0: it is settled already and is forwarded at
 * once when nothing before it is pending (then before this call returns).
 * Sequence numbers count every push from 0 and never repeat. */
uint64_t ackq_push(struct ackq *q, const struct frame *f, int need_ack);

/* Settles frame seq (from ackq_push(..., 1), not yet settled): ok 1 when
 * its write was acknowledged, 0 when it failed for good (it is then
 * counted in q->dropped, never forwarded). Forwards every frame at the
 * head that is now settled. Returns 0, or -1 when seq is not pending (a
 * caller's bug; nothing changes). */
int ackq_ack(struct ackq *q, uint64_t seq, int ok);

/* The frame of pending record seq, as pushed (metadata included), in *f:
 * a sink whose target refused the record hands it to its error policy
 * (lib/errpol.h: the dead letter) before ackq_ack(q, seq, 0). f points
 * into the queue and is valid until the next push, ack or free. Returns
 * 0, or -1 when seq is not pending (nothing is set). */
int ackq_peek(const struct ackq *q, uint64_t seq, struct frame *f);

/* Frames held (pending, or settled behind a pending one). */
static inline size_t ackq_len(const struct ackq *q) { return q->n; }

/* Bytes of payload and headers held. */
size_t ackq_bytes(const struct ackq *q);

/* 1 when the caller should stop taking input until acknowledgements come:
 * the queue is not empty and holds max_bytes or max_records. */
int ackq_full(const struct ackq *q);

/* Frees the buffers; frames still held are discarded unforwarded (after a
 * target was lost for good). Accepts NULL. */
void ackq_free(struct ackq *q);

#endif
