/* test_ackq.c - unit tests of the acknowledged-output queue: order,
 * settling, the bounds in bytes and records, ownership of the copies. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "ackq.h"
#include "buf.h"
#include "tap.h"

/* What forward() saw: each frame's kind and payload, as "kind:payload ". */
static struct buf seen;

static void fwd(void *arg, const struct frame *f)
{
	(*(int *)arg)++;
	buf_printf(&seen, "%d:%.*s ", f->kind, (int)f->len, (const char *)f->payload);
}

static struct frame frame(uint8_t kind, const char *payload)
{
	struct frame f;

	memset(&f, 0, sizeof(f));
	f.kind = kind;
	f.enc = RTAI_E_JSON;
	f.ingest_ns = 11;
	f.event_ns = 22;
	f.payload = (const uint8_t *)payload;
	f.len = (uint32_t)strlen(payload);
	return f;
}

static const char *got(void)
{
	buf_putc(&seen, '\0');
	seen.len--;
	return (const char *)seen.p;
}

static void test_order(void)
{
	struct ackq q;
	struct frame f;
	uint64_t a, b, c;
	int calls = 0;
	char tmp[8];

	ackq_init(&q, 0, 0, fwd, &calls);
	buf_reset(&seen);
	strcpy(tmp, "a");
	f = frame(RTAI_K_DATA, tmp);
	a = ackq_push(&q, &f, 1);
	strcpy(tmp, "X");	/* the queue holds its own copy */
	f = frame(RTAI_K_DATA, "b");
	b = ackq_push(&q, &f, 1);
	f = frame(RTAI_K_WATERMARK, "");
	ackq_push(&q, &f, 0);
	f = frame(RTAI_K_DATA, "c");
	c = ackq_push(&q, &f, 1);
	ok(a == 0 && b == 1 && c == 3, "sequence numbers count every push");
	is_int(ackq_len(&q), 4, "four frames held");
	is_int(ackq_ack(&q, c, 1), 0, "the last acknowledged first");
	is_int(calls, 0, "nothing forwarded while the first is pending");
	is_int(ackq_ack(&q, b, 1), 0, "the second");
	is_int(calls, 0, "still nothing");
	is_int(ackq_ack(&q, a, 1), 0, "the first");
	is_str(got(), "1:a 1:b 2: 1:c ", "all forwarded, in push order, the watermark in its place");
	is_int(ackq_len(&q), 0, "nothing held");
	is_int(ackq_ack(&q, a, 1), -1, "a settled frame cannot be settled again");
	is_int(ackq_ack(&q, 99, 1), -1, "nor one never pushed");

	buf_reset(&seen);
	f = frame(RTAI_K_WATERMARK, "");
	ackq_push(&q, &f, 0);
	is_str(got(), "2: ", "a frame that needs no acknowledgement goes at once when nothing is pending");
	ackq_free(&q);
}

static void test_failed(void)
{
	struct ackq q;
	struct frame f;
	uint64_t a, b;
	int calls = 0;

	ackq_init(&q, 0, 0, fwd, &calls);
	buf_reset(&seen);
	f = frame(RTAI_K_DATA, "a");
	a = ackq_push(&q, &f, 1);
	f = frame(RTAI_K_DATA, "b");
	b = ackq_push(&q, &f, 1);
	ackq_ack(&q, b, 1);
	ackq_ack(&q, a, 0);
	is_str(got(), "1:b ", "a failed record settles unforwarded; the next goes on");
	ok(q.dropped == 1 && q.forwarded == 1, "counted: 1 dropped, 1 forwarded");
	ackq_free(&q);
	ackq_free(NULL);
	ok(1, "ackq_free accepts NULL");
}

static void test_bounds(void)
{
	struct ackq q;
	struct frame f;
	static char big[5000];
	uint64_t s[3];
	int calls = 0;

	memset(big, 'x', sizeof(big) - 1);
	ackq_init(&q, 0, 3, fwd, &calls);
	ok(!ackq_full(&q), "an empty queue is never full");
	f = frame(RTAI_K_DATA, "a");
	for (int i = 0; i < 3; i++) {
		ok(!ackq_full(&q), "not full with %d of 3 records", i);
		s[i] = ackq_push(&q, &f, 1);
	}
	ok(ackq_full(&q), "full at 3 records");
	ackq_ack(&q, s[0], 1);
	ok(!ackq_full(&q), "room again once the first is acknowledged");
	ackq_free(&q);

	ackq_init(&q, 4096, 0, fwd, &calls);
	f = frame(RTAI_K_DATA, big);
	s[0] = ackq_push(&q, &f, 1);
	ok(ackq_bytes(&q) > 4096, "a record larger than the byte bound is taken when empty");
	ok(ackq_full(&q), "and the queue is full with it");
	ackq_ack(&q, s[0], 1);
	is_int(ackq_bytes(&q), 0, "no bytes held once forwarded");
	f = frame(RTAI_K_DATA, "small");
	s[0] = ackq_push(&q, &f, 1);
	ok(!ackq_full(&q), "a small record leaves room");
	ackq_free(&q);
}

/* Many frames through a queue kept a few deep: its memory stays that of
 * what is held, not of the stream. */
static void test_steady(void)
{
	struct ackq q;
	struct frame f;
	static char payload[1000];
	uint64_t pend[8];
	size_t cap_after_warmup = 0;
	int calls = 0, ordered = 1;

	memset(payload, 'p', sizeof(payload) - 1);
	ackq_init(&q, 0, 0, fwd, &calls);
	f = frame(RTAI_K_DATA, payload);
	for (int i = 0; i < 100000; i++) {
		pend[i % 8] = ackq_push(&q, &f, 1);
		if (i >= 7)
			ordered &= ackq_ack(&q, pend[(i - 7) % 8], 1) == 0;
		if (i == 20000)
			cap_after_warmup = q.data.cap;
	}
	ok(ordered, "every acknowledgement accepted");
	is_int(calls, 100000 - 7, "all but the last 7 forwarded");
	ok(q.data.cap == cap_after_warmup, "no growth after warm-up (%zu bytes)", q.data.cap);
	ok(q.data.cap < (2u << 20), "the buffer stays small: %zu bytes", q.data.cap);
	ackq_free(&q);
}

/* A pending frame can be read back, metadata included (a refused
 * record's dead letter), and only while it is pending. */
static void test_peek(void)
{
	struct ackq q;
	struct frame f, g;
	uint64_t a, b;
	int calls = 0;

	ackq_init(&q, 0, 0, fwd, &calls);
	buf_reset(&seen);
	f = frame(RTAI_K_DATA, "one");
	a = ackq_push(&q, &f, 1);
	f = frame(RTAI_K_DATA, "value");
	f.flags |= RTAI_F_META;
	f.meta = (const uint8_t *)"META";
	f.meta_len = 4;
	b = ackq_push(&q, &f, 1);
	is_int(ackq_peek(&q, b, &g), 0, "a pending frame is read back");
	ok(g.len == 5 && memcmp(g.payload, "value", 5) == 0, "its payload");
	ok(g.meta_len == 4 && g.meta != NULL && memcmp(g.meta, "META", 4) == 0,
	   "its metadata");
	is_int(ackq_peek(&q, a, &g), 0, "the first");
	ok(g.len == 3 && memcmp(g.payload, "one", 3) == 0 && g.meta == NULL,
	   "its payload, no metadata");
	is_int(ackq_ack(&q, a, 1), 0, "the first acknowledged");
	is_int(ackq_peek(&q, a, &g), -1, "a settled frame cannot be read back");
	is_int(ackq_peek(&q, 7, &g), -1, "nor one never pushed");
	is_int(ackq_peek(&q, b, &g), 0, "the second still can");
	ok(g.len == 5 && memcmp(g.payload, "value", 5) == 0, "its payload after the first left");
	is_int(ackq_ack(&q, b, 0), 0, "the second failed");
	is_str(got(), "1:one ", "only the acknowledged one was forwarded");
	ackq_free(&q);
}

int main(void)
{
	test_order();
	test_failed();
	test_bounds();
	test_steady();
	test_peek();
	buf_free(&seen);
	return tap_done();
}
