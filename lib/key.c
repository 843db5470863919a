/* key.c - the one key rule (see key.h). */
#include "config.h"
#include "key.h"

#include <math.h>
#include <string.h>

/* Decimal digits of v into the end of tmp; returns the first digit. */
static char *fmt_i64(int64_t v, char tmp[24])
{
	char *p = tmp + 24;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	return p;
}

/* One part: a length (one byte, or 0xff and four bytes), the text. */
static void put_part(struct buf *out, const char *p, size_t n)
{
	uint8_t *d = buf_reserve(out, n + 5);

	if (n < 255) {
		*d++ = (uint8_t)n;
	} else {
		uint32_t n32 = (uint32_t)n;

		*d++ = 0xff;
		memcpy(d, &n32, 4);
		d += 4;
	}
	if (n > 0)
		memcpy(d, p, n);
	out->len = (size_t)(d + n - out->p);
}

int key_part(struct buf *key, const struct val *v)
{
	char tmp[24], *s;
	size_t at;

	switch (v->type) {
	case RT_NULL:
		return -1;
	case RT_INT:
		s = fmt_i64(v->i, tmp);
		put_part(key, s, (size_t)(tmp + 24 - s));
		return 0;
	case RT_FLOAT:
		/* 42.0 is the key 42: the shortest text that reads back as
		 * the same double. */
		if (v->f == floor(v->f) && fabs(v->f) < 9e18) {
			s = fmt_i64((int64_t)v->f, tmp);
			put_part(key, s, (size_t)(tmp + 24 - s));
			return 0;
		}
		break;
	case RT_TRUE:
	case RT_FALSE:
	case RT_TIME:
		break;
	default:		/* strings, JSON, bytes: the bytes as they are */
		put_part(key, v->s.p, v->s.n);
		return 0;
	}
	at = key->len;
	buf_putc(key, 0);
	val_text(v, key);	/* short: numbers, times, bools */
	key->p[at] = (uint8_t)(key->len - at - 1);
	return 0;
}

void key_typed(struct buf *key, const struct val *vals, size_t n)
{
	size_t at = key->len, t;

	for (size_t i = 0; i < n; i++) {
		buf_putc(key, vals[i].type);
		if (vals[i].type == RT_INT || vals[i].type == RT_FLOAT || vals[i].type == RT_TIME)
			buf_append(key, &vals[i].i, 8);
	}
	t = key->len - at;
	buf_putc(key, (int)(t & 0xff));
	buf_putc(key, (int)(t >> 8));
}

/* Reads one part at *p: its text in *s, *n. Returns 0, or -1. */
static int get_part(const uint8_t **p, const uint8_t *end, const char **s, uint32_t *n)
{
	const uint8_t *q = *p;

	if (q >= end)
		return -1;
	*n = *q++;
	if (*n == 0xff) {
		if (end - q < 4)
			return -1;
		memcpy(n, q, 4);
		q += 4;
	}
	if ((size_t)(end - q) < *n)
		return -1;
	*s = (const char *)q;
	*p = q + *n;
	return 0;
}

int key_values(const uint8_t *key, size_t klen, struct val *vals, size_t n)
{
	size_t idlen = key_idlen(key, klen);
	const uint8_t *p = key, *pe = key + idlen, *t = key + idlen, *te = key + klen - 2;
	size_t i;

	if (idlen == 0 && klen != 2)
		return -1;
	for (i = 0; i < n && p < pe; i++) {
		const char *s;
		uint32_t sn;

		if (get_part(&p, pe, &s, &sn) < 0 || t >= te)
			return -1;
		vals[i].type = *t++;
		switch (vals[i].type) {
		case RT_INT:
		case RT_FLOAT:
		case RT_TIME:
			if (te - t < 8)
				return -1;
			memcpy(&vals[i].i, t, 8);
			t += 8;
			break;
		case RT_NULL:
		case RT_TRUE:
		case RT_FALSE:
			break;
		default:
			vals[i].s.p = s;
			vals[i].s.n = sn;
			break;
		}
	}
	return (int)i;
}

uint64_t key_hash(const uint8_t *id, size_t n)
{
	return rec_hash(id, n, 0x9e3779b97f4a7c15ULL);
}
