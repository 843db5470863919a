/* resp.c - Redis commands in the Redis protocol (RESP), built and printed. */
#include "config.h"
#include "resp.h"

#include <string.h>

/* Appends c, the marker, then n in decimal and CR LF. */
static void put_len(struct buf *b, char c, size_t n)
{
	char tmp[24];
	int i = sizeof(tmp);
	uint8_t *p;

	do {
		tmp[--i] = (char)('0' + n % 10);
		n /= 10;
	} while (n > 0);
	p = buf_reserve(b, 1 + sizeof(tmp) - i + 2);
	*p++ = (uint8_t)c;
	memcpy(p, tmp + i, sizeof(tmp) - i);
	p += sizeof(tmp) - i;
	*p++ = '\r';
	*p++ = '\n';
	b->len = (size_t)(p - b->p);
}

void resp_array(struct buf *b, size_t n)
{
	put_len(b, '*', n);
}

void resp_bulk(struct buf *b, const void *p, size_t n)
{
	uint8_t *o;

	put_len(b, '$', n);
	o = buf_reserve(b, n + 2);
	if (n > 0)
		memcpy(o, p, n);
	o[n] = '\r';
	o[n + 1] = '\n';
	b->len += n + 2;
}

void resp_repr(struct buf *out, const void *arg, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = arg;
	int bare = n > 0;

	for (size_t i = 0; i < n && bare; i++)
		bare = p[i] > ' ' && p[i] < 0x7f && p[i] != '"' && p[i] != '\'' && p[i] != '\\';
	if (bare) {
		buf_append(out, p, n);
		return;
	}
	buf_putc(out, '"');
	for (size_t i = 0; i < n; i++) {
		switch (p[i]) {
		case '\\': buf_puts(out, "\\\\"); break;
		case '"': buf_puts(out, "\\\""); break;
		case '\n': buf_puts(out, "\\n"); break;
		case '\r': buf_puts(out, "\\r"); break;
		case '\t': buf_puts(out, "\\t"); break;
		default:
			if (p[i] >= ' ' && p[i] < 0x7f) {
				buf_putc(out, p[i]);
			} else {
				buf_puts(out, "\\x");
				buf_putc(out, (uint8_t)hex[p[i] >> 4]);
				buf_putc(out, (uint8_t)hex[p[i] & 15]);
			}
		}
	}
	buf_putc(out, '"');
}

/* Reads "<c>N\r\n" at p; returns the bytes used, 0 when malformed. */
static size_t get_len(const uint8_t *p, size_t n, char c, size_t *out)
{
	size_t i = 1, v = 0;

	if (n < 4 || p[0] != (uint8_t)c)
		return 0;
	while (i < n && p[i] >= '0' && p[i] <= '9' && i < 20)
		v = v * 10 + (size_t)(p[i++] - '0');
	if (i == 1 || i + 1 >= n || p[i] != '\r' || p[i + 1] != '\n')
		return 0;
	*out = v;
	return i + 2;
}

size_t resp_print(struct buf *out, const uint8_t *p, size_t n)
{
	size_t argc, used, len, at;

	used = get_len(p, n, '*', &argc);
	if (used == 0)
		return 0;
	at = used;
	for (size_t i = 0; i < argc; i++) {
		used = get_len(p + at, n - at, '$', &len);
		if (used == 0 || len > n - at - used || n - at - used - len < 2)
			return 0;
		if (i > 0)
			buf_putc(out, ' ');
		resp_repr(out, p + at + used, len);
		at += used + len + 2;
	}
	return at;
}
