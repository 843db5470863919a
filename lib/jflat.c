/* jflat.c - flat JSON objects without jansson, for the common case.
 *
 * The grammar accepted is that of RFC 8259 restricted to one object whose
 * values are strings without escapes, numbers, true, false and null. Every
 * rule mirrors jansson's (json_loadb with JSON_REJECT_DUPLICATES, as
 * rec_from_json() calls it), so that the fast path never accepts what the
 * parser of record refuses, nor reads a value differently:
 *   - whitespace is space, tab, CR and LF; nothing may follow the object;
 *   - strings must be valid UTF-8 (no overlongs, surrogates, or code points
 *     above U+10FFFF) without control characters;
 *   - a number without fraction or exponent is an int (strtoll: out of range
 *     is an error there, so a decline here); others are doubles, converted
 *     exactly (a double overflowing to infinity is an error there).
 */
#include "config.h"
#include "jflat.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Powers of ten that doubles hold exactly. */
static const double pow10_exact[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static inline int is_ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline int is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static const uint8_t *skip_ws(const uint8_t *p, const uint8_t *end)
{
	while (p < end && is_ws(*p))
		p++;
	return p;
}

/* Length of the valid UTF-8 sequence at p (2..4 bytes, p[0] >= 0x80), or 0. */
static size_t utf8_seq(const uint8_t *p, const uint8_t *end)
{
	uint32_t c;
	size_t len;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, c = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, c = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, c = p[0] & 0x07;
	else
		return 0;
	if ((size_t)(end - p) < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (len == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	return len;
}

/* A string without escapes; p is past the opening quote. Returns the
 * position of the closing quote, or NULL to decline. */
static const uint8_t *scan_string(const uint8_t *p, const uint8_t *end)
{
	while (p < end) {
		uint8_t c = *p;

		if (c == '"')
			return p;
		if (c == '\\' || c < 0x20)
			return NULL;
		if (c < 0x80) {
			p++;
		} else {
			size_t len = utf8_seq(p, end);

			if (len == 0)
				return NULL;
			p += len;
		}
	}
	return NULL;
}

/* A number at p. Returns the position after it and sets *v, or NULL. */
static const uint8_t *scan_number(const uint8_t *p, const uint8_t *end,
				  struct val *v)
{
	const uint8_t *start = p;
	uint64_t mant = 0;
	int neg = 0, ndig = 0, frac = 0, isreal = 0;
	long exp = 0;

	if (p < end && *p == '-')
		neg = 1, p++;
	if (p >= end || !is_digit(*p))
		return NULL;
	if (*p == '0') {
		p++;
		if (p < end && is_digit(*p))
			return NULL;	/* leading zero */
	} else {
		for (; p < end && is_digit(*p); p++) {
			if (ndig < 19)
				mant = mant * 10 + (uint64_t)(*p - '0');
			ndig++;
		}
	}
	if (p < end && *p == '.') {
		isreal = 1;
		p++;
		if (p >= end || !is_digit(*p))
			return NULL;
		for (; p < end && is_digit(*p); p++) {
			if (mant == 0 && *p == '0') {
				frac++;		/* leading zeros of 0.00x count nothing */
				continue;
			}
			if (ndig < 19)
				mant = mant * 10 + (uint64_t)(*p - '0');
			ndig++;
			frac++;
		}
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		int eneg = 0;

		isreal = 1;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			eneg = *p == '-', p++;
		if (p >= end || !is_digit(*p))
			return NULL;
		for (; p < end && is_digit(*p); p++)
			if (exp < 100000)
				exp = exp * 10 + (*p - '0');
		if (eneg)
			exp = -exp;
	}
	if (!isreal) {
		/* Up to 19 digits were read exactly (they fit in 64 bits);
		 * more is out of range. */
		if (ndig > 19)
			return NULL;
		if (!neg && mant > (uint64_t)INT64_MAX)
			return NULL;
		if (neg && mant > (uint64_t)INT64_MAX + 1)
			return NULL;
		*v = val_int(neg ? (int64_t)(0 - mant) : (int64_t)mant);
		return p;
	}
	exp -= frac;
	if (ndig <= 15 && exp >= -22 && exp <= 22) {
		/* Both exact, one rounding: the correctly rounded result, as
		 * strtod gives (Clinger's fast path). */
		double d = (double)mant;

		d = exp < 0 ? d / pow10_exact[-exp] : d * pow10_exact[exp];
		*v = val_float(neg ? -d : d);
		return p;
	}
	{
		char tmp[64], *e;
		size_t n = (size_t)(p - start);
		double d;

		if (n >= sizeof(tmp))
			return NULL;
		memcpy(tmp, start, n);
		tmp[n] = '\0';
		errno = 0;
		d = strtod(tmp, &e);
		if (e != tmp + n || isinf(d) || isnan(d))
			return NULL;
		*v = val_float(d);
	}
	return p;
}

/* Rejects a name twice (jansson's JSON_REJECT_DUPLICATES). Quadratic, so
 * only for small records; larger ones decline. */
static int unique_names(const struct rec *r)
{
	if (r->n > 64)
		return 0;
	for (uint32_t i = 1; i < r->n; i++) {
		const struct rec_field *a = &r->f[i];

		for (uint32_t j = 0; j < i; j++) {
			const struct rec_field *b = &r->f[j];

			if (a->nlen == b->nlen && (a->nlen == 0 || (a->name[0] == b->name[0] &&
			    memcmp(a->name, b->name, a->nlen) == 0)))
				return 0;
		}
	}
	return 1;
}

int jflat_parse(struct rec *r, const char *text, size_t n)
{
	const uint8_t *p = (const uint8_t *)text, *end = p + n;

	rec_reset(r);
	p = skip_ws(p, end);
	if (p >= end || *p != '{')
		goto decline;
	p = skip_ws(p + 1, end);
	if (p < end && *p == '}') {
		p++;
		goto done;
	}
	for (;;) {
		const uint8_t *name, *q;
		struct val v;
		size_t nlen;

		if (p >= end || *p != '"')
			goto decline;
		name = p + 1;
		q = scan_string(name, end);
		if (q == NULL || (nlen = (size_t)(q - name)) > 255)
			goto decline;
		p = skip_ws(q + 1, end);
		if (p >= end || *p != ':')
			goto decline;
		p = skip_ws(p + 1, end);
		if (p >= end)
			goto decline;
		switch (*p) {
		case '"':
			q = scan_string(p + 1, end);
			if (q == NULL)
				goto decline;
			v = val_str((const char *)p + 1, (size_t)(q - p - 1));
			p = q + 1;
			break;
		case 't':
			if (end - p < 4 || memcmp(p, "true", 4) != 0)
				goto decline;
			v = val_bool(1);
			p += 4;
			break;
		case 'f':
			if (end - p < 5 || memcmp(p, "false", 5) != 0)
				goto decline;
			v = val_bool(0);
			p += 5;
			break;
		case 'n':
			if (end - p < 4 || memcmp(p, "null", 4) != 0)
				goto decline;
			v = val_null();
			p += 4;
			break;
		default:
			p = scan_number(p, end, &v);
			if (p == NULL)
				goto decline;
			break;
		}
		if (r->n >= rec_max_fields)
			goto decline;
		rec_add(r, (const char *)name, nlen, v);
		p = skip_ws(p, end);
		if (p < end && *p == ',') {
			p = skip_ws(p + 1, end);
			continue;
		}
		if (p < end && *p == '}') {
			p++;
			break;
		}
		goto decline;
	}
done:
	if (skip_ws(p, end) != end || !unique_names(r))
		goto decline;
	return 0;
decline:
	r->n = 0;
	return -1;
}

int jflat_rec_from_json(struct rec *r, const char *text, size_t n)
{
	if (jflat_parse(r, text, n) == 0)
		return 0;
	return rec_from_json(r, text, n);
}
