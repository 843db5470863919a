/* buf.c - growable byte buffers and a chunked arena. */
#include "buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cli.h"

/* Blocks of at least this many bytes are backed by transparent huge pages
 * where the kernel allows them (see xmalloc in buf.h). */
#define HUGE_MIN ((size_t)2 << 20)

static void huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
	uintptr_t a = ((uintptr_t)p + HUGE_MIN - 1) & ~(uintptr_t)(HUGE_MIN - 1);
	uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)(HUGE_MIN - 1);

	if (n >= HUGE_MIN && e > a)
		(void)madvise((void *)a, e - a, MADV_HUGEPAGE);	/* a hint: errors ignored */
#else
	(void)p;
	(void)n;
#endif
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		cli_die(RTAI_EXIT_FAIL, "out of memory (%zu bytes)", n);
	huge(p, n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		cli_die(RTAI_EXIT_FAIL, "out of memory (%zu bytes)", n * size);
	huge(p, n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		cli_die(RTAI_EXIT_FAIL, "out of memory (%zu bytes)", n);
	huge(p, n);
	return p;
}

/* n bytes, 2 MiB-aligned and advised for huge pages when n >= 2 MiB. */
static void *xmalloc_huge(size_t n)
{
	void *p;

	if (n < HUGE_MIN)
		return xmalloc(n);
	if (posix_memalign(&p, HUGE_MIN, n) != 0)
		cli_die(RTAI_EXIT_FAIL, "out of memory (%zu bytes)", n);
	huge(p, n);
	return p;
}

void *xcalloc_huge(size_t n, size_t size)
{
	size_t len = n * size;
	void *p;

	if (size != 0 && len / size != n)
		cli_die(RTAI_EXIT_FAIL, "out of memory (%zu times %zu bytes)", n, size);
	if (len < HUGE_MIN)
		return xcalloc(n, size);
	p = xmalloc_huge(len);
	memset(p, 0, len);
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

uint8_t *buf_reserve(struct buf *b, size_t n)
{
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap - b->len < n) {
			if (cap > SIZE_MAX / 2)
				cli_die(RTAI_EXIT_FAIL, "buffer too large");
			cap *= 2;
		}
		if (cap >= HUGE_MIN) {
			/* A new block on huge pages, not realloc(3): a large
			 * buffer (a snapshot) grown in the heap is copied and
			 * then faulted in 4 KiB at a time. */
			uint8_t *p = xmalloc_huge(cap);

			if (b->len > 0)
				memcpy(p, b->p, b->len);
			free(b->p);
			b->p = p;
		} else {
			b->p = xrealloc(b->p, cap);
		}
		b->cap = cap;
	}
	return b->p + b->len;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	memcpy(buf_reserve(b, n), p, n);
	b->len += n;
}

void buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	/* Reserve before reading cap: argument order is unspecified. */
	char *dst = (char *)buf_reserve(b, 64);
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		buf_reserve(b, (size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf((char *)b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void buf_free(struct buf *b)
{
	if (b == NULL)
		return;
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

struct arena_chunk {
	struct arena_chunk *next;	/* in the list of all chunks */
	size_t used, cap;
	_Alignas(8) uint8_t data[];
};

void *arena_alloc(struct arena *a, size_t n)
{
	struct arena_chunk *c = a->head;

	n = (n + 7) & ~(size_t)7;
	while (c != NULL && c->cap - c->used < n)
		c = c->next;
	if (c == NULL) {
		/* 64 KiB, then twice the last chunk up to 4 MiB: a large arena
		 * is in few chunks, which huge pages back (xmalloc). */
		size_t cap = a->all != NULL && a->all->cap < ((size_t)4 << 20) ? a->all->cap * 2
			   : a->all != NULL ? a->all->cap : 65536;

		if (cap < n)
			cap = n;

		c = xmalloc_huge(sizeof(*c) + cap);
		c->used = 0;
		c->cap = cap;
		c->next = a->all;
		a->all = c;
	}
	a->head = c;
	c->used += n;
	return c->data + c->used - n;
}

void *arena_dup(struct arena *a, const void *p, size_t n)
{
	void *q = arena_alloc(a, n ? n : 1);

	if (n)
		memcpy(q, p, n);
	return q;
}

void arena_reset(struct arena *a)
{
	for (struct arena_chunk *c = a->all; c != NULL; c = c->next)
		c->used = 0;
	a->head = a->all;
}

void arena_free(struct arena *a)
{
	struct arena_chunk *c, *next;

	if (a == NULL)
		return;
	for (c = a->all; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	a->head = a->all = NULL;
}

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void buf_put_base64(struct buf *b, const void *p, size_t n)
{
	const uint8_t *s = p;
	uint8_t *o = buf_reserve(b, (n + 2) / 3 * 4);

	for (; n >= 3; s += 3, n -= 3) {
		*o++ = (uint8_t)b64[s[0] >> 2];
		*o++ = (uint8_t)b64[(s[0] & 3) << 4 | s[1] >> 4];
		*o++ = (uint8_t)b64[(s[1] & 15) << 2 | s[2] >> 6];
		*o++ = (uint8_t)b64[s[2] & 63];
	}
	if (n > 0) {
		*o++ = (uint8_t)b64[s[0] >> 2];
		if (n == 1) {
			*o++ = (uint8_t)b64[(s[0] & 3) << 4];
			*o++ = '=';
		} else {
			*o++ = (uint8_t)b64[(s[0] & 3) << 4 | s[1] >> 4];
			*o++ = (uint8_t)b64[(s[1] & 15) << 2];
		}
		*o++ = '=';
	}
	b->len = (size_t)(o - b->p);
}

static int b64_val(uint8_t c)
{
	const char *at = c != 0 ? strchr(b64, c) : NULL;

	return at != NULL ? (int)(at - b64) : -1;
}

int buf_get_base64(struct buf *b, const char *s, size_t n)
{
	size_t start = b->len;
	uint32_t acc = 0;
	int bits = 0;

	while (n > 0 && s[n - 1] == '=' && n % 4 != 1)
		n--;
	if (n % 4 == 1)
		return -1;
	buf_reserve(b, n / 4 * 3 + 2);
	for (size_t i = 0; i < n; i++) {
		int v = b64_val((uint8_t)s[i]);

		if (v < 0) {
			b->len = start;
			return -1;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			b->p[b->len++] = (uint8_t)(acc >> bits);
		}
	}
	return 0;
}
