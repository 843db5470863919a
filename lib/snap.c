/* snap.c - the byte encoding of engine snapshots. */
#include "config.h"
#include "snap.h"
#include "rec.h"

#include <stdio.h>

#include <string.h>

void snap_f64(struct buf *b, double v)
{
	uint64_t u;

	memcpy(&u, &v, 8);
	snap_u64(b, u);
}

void snap_bytes(struct buf *b, const void *p, size_t n)
{
	snap_u32(b, (uint32_t)n);
	buf_append(b, p, n);
}

int snap_fail(struct snap_rd *r, const char *why)
{
	if (r->bad == NULL)
		r->bad = why;
	return -1;
}

/* The next n bytes, or NULL (r marked bad) when fewer are left. */
static const uint8_t *take(struct snap_rd *r, size_t n)
{
	const uint8_t *p;

	if (r->bad != NULL)
		return NULL;
	if (r->n - r->off < n) {
		snap_fail(r, "truncated");
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

uint8_t snap_get_u8(struct snap_rd *r)
{
	const uint8_t *p = take(r, 1);

	return p ? p[0] : 0;
}

uint32_t snap_get_u32(struct snap_rd *r)
{
	const uint8_t *p = take(r, 4);
	uint32_t v = 0;

	for (int i = 0; p != NULL && i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

uint64_t snap_get_u64(struct snap_rd *r)
{
	const uint8_t *p = take(r, 8);
	uint64_t v = 0;

	for (int i = 0; p != NULL && i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

double snap_get_f64(struct snap_rd *r)
{
	uint64_t u = snap_get_u64(r);
	double d;

	memcpy(&d, &u, 8);
	return d;
}

const uint8_t *snap_get_bytes(struct snap_rd *r, size_t max, size_t *n)
{
	uint32_t len = snap_get_u32(r);

	*n = 0;
	if (r->bad != NULL)
		return NULL;
	if (len > max) {
		snap_fail(r, "a length beyond its limit");
		return NULL;
	}
	*n = len;
	return take(r, len);
}

uint32_t snap_get_count(struct snap_rd *r, size_t min_size)
{
	uint32_t c = snap_get_u32(r);

	if (r->bad != NULL)
		return 0;
	if (min_size > 0 && c > (r->n - r->off) / min_size) {
		snap_fail(r, "a count larger than the image can hold");
		return 0;
	}
	return c;
}

size_t snap_begin(struct buf *out, const char magic[4], uint32_t version)
{
	size_t head = out->len;

	buf_append(out, magic, 4);
	snap_u32(out, version);
	snap_u64(out, 0);	/* length and checksum: snap_seal */
	snap_u64(out, 0);
	return head;
}

/* Writes the length and checksum of the image at head of p, whose body
 * ends at end. */
static void seal_at(uint8_t *p, size_t head, size_t end, uint64_t seed)
{
	size_t body = head + SNAP_HEAD;
	uint64_t len = end - body, sum = rec_hash(p + body, len, seed);
	uint8_t *h = p + head + 8;

	for (int i = 0; i < 8; i++) {
		h[i] = (uint8_t)(len >> (8 * i));
		h[8 + i] = (uint8_t)(sum >> (8 * i));
	}
}

/* A seal left for snap_seal_list. */
struct pending_seal {
	size_t head, end;
	uint64_t seed;
};

/* snap_defer_begin's list, while deferring: the calling thread's only, so
 * that a writer thread sealing an image of its own (win_snapshot_finish)
 * computes that seal at once. */
static _Thread_local struct buf *deferred;

void snap_seal(struct buf *out, size_t head, uint64_t seed)
{
	if (deferred != NULL) {
		struct pending_seal s = { .head = head, .end = out->len, .seed = seed };
		uint64_t len = out->len - head - SNAP_HEAD;
		uint8_t *h = out->p + head + 8;

		for (int i = 0; i < 8; i++)
			h[i] = (uint8_t)(len >> (8 * i));
		buf_append(deferred, &s, sizeof(s));
		return;
	}
	seal_at(out->p, head, out->len, seed);
}

void snap_defer_begin(struct buf *list)
{
	buf_reset(list);
	deferred = list;
}

void snap_defer_end(void)
{
	deferred = NULL;
}

void snap_seal_list(uint8_t *image, const struct buf *list)
{
	for (size_t off = 0; off + sizeof(struct pending_seal) <= list->len;
	     off += sizeof(struct pending_seal)) {
		struct pending_seal s;

		memcpy(&s, list->p + off, sizeof(s));
		seal_at(image, s.head, s.end, s.seed);
	}
}

int snap_open(struct snap_rd *r, const void *p, size_t len, const char magic[4],
	      uint32_t version, uint64_t seed, const char *what, char *err, size_t errlen)
{
	const uint8_t *b = p;
	uint32_t v;
	uint64_t blen, sum;

	if (len < 4 || memcmp(b, magic, 4) != 0) {
		snprintf(err, errlen, "not a %s snapshot (it does not start with \"%.4s\")", what,
			 magic);
		return -1;
	}
	snap_rd_init(r, p, len);
	r->off = 4;
	v = snap_get_u32(r);
	blen = snap_get_u64(r);
	sum = snap_get_u64(r);
	if (r->bad != NULL) {
		snprintf(err, errlen, "a %s snapshot cut short in its header (%zu bytes)", what, len);
		return -1;
	}
	if (v != version) {
		snprintf(err, errlen, "a %s snapshot of version %u (this build reads version %u)",
			 what, v, version);
		return -1;
	}
	if (blen != len - SNAP_HEAD) {
		snprintf(err, errlen, "a %s snapshot of %zu bytes where its header says %llu "
			 "(truncated or padded)", what, len, (unsigned long long)(blen + SNAP_HEAD));
		return -1;
	}
	if (rec_hash(b + SNAP_HEAD, blen, seed) != sum) {
		snprintf(err, errlen, "a corrupt %s snapshot (its checksum does not match)", what);
		return -1;
	}
	return 0;
}

int snap_open_tagged(struct snap_rd *r, const void *p, size_t n, const char *tag,
		     const char *what, char *err, size_t errlen)
{
	const uint8_t *t;
	size_t tn;

	snap_rd_init(r, p, n);
	t = snap_get_bytes(r, 64, &tn);
	if (t == NULL || tn != strlen(tag) || memcmp(t, tag, tn) != 0) {
		snprintf(err, errlen, "not a snapshot of %s (\"%s\" expected)", what, tag);
		return -1;
	}
	return 0;
}

int snap_close_tagged(struct snap_rd *r, int whole, char *err, size_t errlen)
{
	if (whole && r->bad == NULL && r->off != r->n)
		snap_fail(r, "bytes after the state");
	if (r->bad != NULL) {
		snprintf(err, errlen, "a corrupt snapshot: byte %zu: %s", r->off, r->bad);
		return -1;
	}
	return 0;
}
