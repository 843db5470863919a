/* ackq.c - the acknowledged-output queue of a sink's --pass. */
#include "config.h"
#include "ackq.h"

#include <stdlib.h>
#include <string.h>

enum { PENDING, ACKED, FAILED };

struct ackq_ent {
	uint64_t end;			/* stream offset just past its bytes */
	uint8_t state;
};

struct hdr {				/* a frame's fields, before its metadata and payload */
	int64_t ingest_ns, event_ns;
	uint32_t len, meta_len;
	uint16_t flags;
	uint8_t kind, enc;
};

static inline struct ackq_ent *at(const struct ackq *q, size_t i)
{
	return &q->e[(q->head + i) % q->cap];
}

void ackq_init(struct ackq *q, size_t max_bytes, size_t max_records, ackq_fwd_fn fwd,
	       void *arg)
{
	memset(q, 0, sizeof(*q));
	q->max_bytes = max_bytes;
	q->max_records = max_records;
	q->fwd = fwd;
	q->arg = arg;
}

size_t ackq_bytes(const struct ackq *q)
{
	return (size_t)(q->base + q->data.len - q->done);
}

int ackq_full(const struct ackq *q)
{
	if (q->n == 0)
		return 0;
	return (q->max_records > 0 && q->n >= q->max_records) ||
	       (q->max_bytes > 0 && ackq_bytes(q) >= q->max_bytes);
}

/* Drops settled bytes from the front once they are most of the buffer, so
 * it stays as large as what is held, not as the stream. */
static void compact(struct ackq *q)
{
	size_t gone = (size_t)(q->done - q->base);

	if (gone == q->data.len) {
		q->data.len = 0;
		q->base = q->done;
	} else if (gone > (256u << 10) && gone > q->data.len / 2) {
		memmove(q->data.p, q->data.p + gone, q->data.len - gone);
		q->data.len -= gone;
		q->base = q->done;
	}
}

/* The frame whose header starts at p: its fields, metadata and payload
 * point into the queue's buffer. */
static void frame_at(const uint8_t *p, struct frame *f)
{
	struct hdr h;

	memcpy(&h, p, sizeof(h));
	memset(f, 0, sizeof(*f));
	f->kind = h.kind;
	f->enc = h.enc;
	f->flags = h.flags;
	f->ingest_ns = h.ingest_ns;
	f->event_ns = h.event_ns;
	f->len = h.len;
	f->meta_len = h.meta_len;
	f->meta = h.meta_len > 0 ? p + sizeof(h) : NULL;
	f->payload = p + sizeof(h) + h.meta_len;
}

/* Forwards (or drops) the settled entries at the head. */
static void release(struct ackq *q)
{
	while (q->n > 0 && at(q, 0)->state != PENDING) {
		struct ackq_ent *e = at(q, 0);

		if (e->state == ACKED) {
			struct frame f;

			frame_at(q->data.p + (q->done - q->base), &f);
			q->forwarded++;
			q->fwd(q->arg, &f);
		} else {
			q->dropped++;
		}
		q->done = e->end;
		q->head = (q->head + 1) % q->cap;
		q->n--;
		q->seq0++;
	}
	compact(q);
}

uint64_t ackq_push(struct ackq *q, const struct frame *f, int need_ack)
{
	uint32_t meta_len = f->meta != NULL ? f->meta_len : 0;
	struct hdr h = { f->ingest_ns, f->event_ns, f->len, meta_len, f->flags, f->kind, f->enc };
	struct ackq_ent *e;
	uint64_t seq;

	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64;
		struct ackq_ent *ne = xmalloc(cap * sizeof(*ne));

		for (size_t i = 0; i < q->n; i++)
			ne[i] = *at(q, i);
		free(q->e);
		q->e = ne;
		q->cap = cap;
		q->head = 0;
	}
	buf_append(&q->data, &h, sizeof(h));
	if (meta_len > 0)
		buf_append(&q->data, f->meta, meta_len);
	if (f->len > 0)
		buf_append(&q->data, f->payload, f->len);
	e = at(q, q->n++);
	e->end = q->base + q->data.len;
	e->state = need_ack ? PENDING : ACKED;
	seq = q->seq0 + q->n - 1;
	if (!need_ack && q->n == 1)
		release(q);
	return seq;
}

int ackq_peek(const struct ackq *q, uint64_t seq, struct frame *f)
{
	uint64_t start;
	size_t i;

	if (seq < q->seq0 || seq - q->seq0 >= q->n)
		return -1;
	i = (size_t)(seq - q->seq0);
	if (at(q, i)->state != PENDING)
		return -1;
	start = i == 0 ? q->done : at(q, i - 1)->end;
	frame_at(q->data.p + (start - q->base), f);
	return 0;
}

int ackq_ack(struct ackq *q, uint64_t seq, int ok)
{
	struct ackq_ent *e;

	if (seq < q->seq0 || seq - q->seq0 >= q->n)
		return -1;
	e = at(q, (size_t)(seq - q->seq0));
	if (e->state != PENDING)
		return -1;
	e->state = ok ? ACKED : FAILED;
	if (seq == q->seq0)
		release(q);
	return 0;
}

void ackq_free(struct ackq *q)
{
	if (q == NULL)
		return;
	buf_free(&q->data);
	free(q->e);
	q->e = NULL;
	q->cap = q->n = q->head = 0;
}
