/* snap.h - the byte encoding of engine snapshots (win_snapshot,
 * agg_row_snapshot, ...): little-endian fixed-width integers, doubles by
 * their IEEE 754 bits, byte strings as a u32 length and the bytes.
 *
 * Writers append to a struct buf and cannot fail (buf aborts on
 * out-of-memory). A reader walks a borrowed byte range: each get either
 * returns the value or, once the range is exhausted or a check failed,
 * returns zero and marks the reader bad (with the first reason kept), so
 * a decoder checks r->bad once at the end of a section instead of after
 * every field. Peer: the cursor style of Redis's rdbLoad*, minus its I/O.
 */
#ifndef RTAI_SNAP_H
#define RTAI_SNAP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"

/* Inline: a snapshot of a million windows writes tens of millions. */
static inline void snap_u8(struct buf *b, uint8_t v)
{
	if (b->cap == b->len)
		buf_reserve(b, 1);
	b->p[b->len++] = v;
}
static inline void snap_u32(struct buf *b, uint32_t v)
{
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	if (b->cap - b->len < 4)
		buf_reserve(b, 4);
	memcpy(b->p + b->len, &v, 4);
	b->len += 4;
}
static inline void snap_u64(struct buf *b, uint64_t v)
{
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	if (b->cap - b->len < 8)
		buf_reserve(b, 8);
	memcpy(b->p + b->len, &v, 8);
	b->len += 8;
}
static inline void snap_i64(struct buf *b, int64_t v) { snap_u64(b, (uint64_t)v); }
void snap_f64(struct buf *b, double v);
/* A u32 length, then n bytes (n < 2^32). */
void snap_bytes(struct buf *b, const void *p, size_t n);

struct snap_rd {
	const uint8_t *p;	/* the image (borrowed) */
	size_t n;		/* its bytes */
	size_t off;		/* bytes consumed */
	const char *bad;	/* NULL, or why decoding failed (static text) */
};

/* A reader over n bytes at p, which must stay valid while it is used. */
static inline void snap_rd_init(struct snap_rd *r, const void *p, size_t n)
{
	r->p = p;
	r->n = n;
	r->off = 0;
	r->bad = NULL;
}

/* Marks r bad with why (kept if it was already bad). Returns -1. */
int snap_fail(struct snap_rd *r, const char *why);

uint8_t snap_get_u8(struct snap_rd *r);
uint32_t snap_get_u32(struct snap_rd *r);
uint64_t snap_get_u64(struct snap_rd *r);
static inline int64_t snap_get_i64(struct snap_rd *r) { return (int64_t)snap_get_u64(r); }
double snap_get_f64(struct snap_rd *r);
/* A length-prefixed byte string of at most max bytes: returns a pointer
 * into the image and its length in *n, or NULL (r marked bad) when it is
 * longer than max or than what is left. */
const uint8_t *snap_get_bytes(struct snap_rd *r, size_t max, size_t *n);
/* A count of items that each take at least min_size bytes: returns it, or
 * 0 with r marked bad when the rest of the image could not hold that many
 * (so a corrupt count never makes a decoder allocate gigabytes). */
uint32_t snap_get_count(struct snap_rd *r, size_t min_size);

/* A tool's own part of its checkpoint (the state around its engines) starts
 * with a tag naming the tool and its version, written with
 * snap_bytes(b, tag, strlen(tag)). snap_open_tagged() starts reading such
 * an image: r over the n bytes at p (borrowed), the tag read. Returns 0,
 * or -1 with err set to 'not a snapshot of WHAT ("TAG" expected)' when
 * the image does not start with tag, so a snapshot of another tool or
 * version is refused, not misread. */
int snap_open_tagged(struct snap_rd *r, const void *p, size_t n, const char *tag,
		     const char *what, char *err, size_t errlen);
/* Ends reading such an image: returns 0 when r is good (and, if whole,
 * every byte was read), else -1 with err set to "a corrupt snapshot: byte
 * N: why" (r->bad, or "bytes after the state"). A check of the tool's own
 * marks r with snap_fail() before. */
int snap_close_tagged(struct snap_rd *r, int whole, char *err, size_t errlen);

/* The envelope of an engine's image (win_snapshot, over_snapshot,
 * tab_snapshot): SNAP_HEAD bytes of header, 4 bytes of magic naming the
 * engine, u32 format version, u64 length of the body that follows (bytes),
 * u64 checksum of the body (rec_hash, rec.h, with the engine's seed), then
 * the body. The checksum finds damage before any field is trusted; the
 * length finds truncation and padding.
 *
 * snap_begin appends the header with length and checksum zero and returns
 * its offset in out, for snap_seal, which fills them in once the body is
 * appended after it. */
#define SNAP_HEAD 24
size_t snap_begin(struct buf *out, const char magic[4], uint32_t version);
void snap_seal(struct buf *out, size_t head, uint64_t seed);

/* Deferred seals, for ckpt_write_bg: between snap_defer_begin(list) and
 * snap_defer_end(), snap_seal fills in the length at once but leaves the
 * checksum (a pass over the whole body: about 3 ms for 12 MB) for later,
 * appending a record of what it left to list (a buf the caller owns,
 * emptied first and reused: no allocation once grown).
 * snap_seal_list(image, list) then computes those checksums into image,
 * the buffer that was being written, in the order the seals were asked
 * for (an inner image before the one around it, whose checksum covers the
 * inner's). The writer thread calls it, so the stage's records do not
 * wait for the checksums. Calling thread only: the deferral is that
 * thread's (one snapshot in flight at a time); a seal asked for by
 * another thread meanwhile is computed at once. */
void snap_defer_begin(struct buf *list);
void snap_defer_end(void);
void snap_seal_list(uint8_t *image, const struct buf *list);

/* Checks the envelope of the len bytes at p (borrowed) and sets r to read
 * the body. Returns 0, or -1 with a message in err naming the engine by
 * what ("window"): not its magic, a header cut short, another version
 * ("this build reads version N"), a length other than the header says
 * (truncated or padded), or a checksum that does not match. */
int snap_open(struct snap_rd *r, const void *p, size_t len, const char magic[4],
	      uint32_t version, uint64_t seed, const char *what, char *err, size_t errlen);

#endif
