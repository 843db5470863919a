/* buf.h - growable byte buffers and a chunked arena.
 *
 * A buf owns a heap block that only grows; buf_reset() keeps the block, so a
 * per-record buffer stops allocating once it has seen the largest record.
 * An arena hands out pointers that stay valid until arena_reset(); its chunks
 * are kept across resets for the same reason.
 */
#ifndef RTAI_BUF_H
#define RTAI_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *p;	/* bytes; NULL until the first append */
	size_t len;	/* bytes in use */
	size_t cap;	/* bytes allocated */
};

/* Makes room for n more bytes. Returns a pointer to the first free byte;
 * aborts with a message on out-of-memory (a tool cannot go on without it). */
uint8_t *buf_reserve(struct buf *b, size_t n);
/* Appends n bytes. */
void buf_append(struct buf *b, const void *p, size_t n);
/* Appends a NUL-terminated string, without the NUL. */
void buf_puts(struct buf *b, const char *s);
/* Appends printf-formatted text, without a NUL. */
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline void buf_putc(struct buf *b, uint8_t c)
{
	if (b->len == b->cap)
		buf_reserve(b, 1);
	b->p[b->len++] = c;
}
static inline void buf_reset(struct buf *b) { b->len = 0; }
/* Frees the block; b may be reused afterwards. Accepts NULL. */
void buf_free(struct buf *b);

/* Appends the base64 text of n bytes (RFC 4648 section 4: the standard
 * alphabet, '=' padding), without quotes or a NUL. */
void buf_put_base64(struct buf *b, const void *p, size_t n);
/* Appends the bytes that base64 text s of n bytes stands for (standard
 * alphabet, padding optional, no whitespace). Returns 0, or -1 (nothing
 * appended) when s is not base64. */
int buf_get_base64(struct buf *b, const char *s, size_t n);

struct arena_chunk;
struct arena {
	struct arena_chunk *head;	/* chunk being filled */
	struct arena_chunk *all;	/* every chunk, for reset and free */
};

/* Returns n bytes aligned to 8, valid until arena_reset() or arena_free().
 * Chunks are 64 KiB, then each twice the last up to 4 MiB (or n). */
void *arena_alloc(struct arena *a, size_t n);
/* Copies n bytes into the arena; returns the copy. */
void *arena_dup(struct arena *a, const void *p, size_t n);
/* Forgets every allocation but keeps the chunks for reuse. */
void arena_reset(struct arena *a);
/* Frees every chunk. Accepts NULL. */
void arena_free(struct arena *a);

/* Allocation helpers that abort with a message on out-of-memory. A block
 * of 2 MiB or more is advised for transparent huge pages (madvise(2)
 * MADV_HUGEPAGE on its 2 MiB-aligned part, as glibc's
 * glibc.malloc.hugetlb=1 tunable does for every block): where the kernel's
 * THP mode is "madvise", one page fault then maps 2 MiB instead of 4 KiB,
 * which counts on a machine where each fault is expensive (a VM). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
/* xcalloc for a large table: n * size zeroed bytes, 2 MiB-aligned when
 * they are 2 MiB or more, so that all of it can be huge pages; freed with
 * free(3). Costs a memset of the block (the first touch of its pages). */
void *xcalloc_huge(size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
