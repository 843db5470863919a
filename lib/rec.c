/* rec.c - typed records: binary encoding, field access, JSON. */
#include "config.h"
#include "rec.h"

#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "frame.h"
#include "rtime.h"

uint32_t rec_max_fields = 4096;

void rec_set_max_fields(const char *opt_value)
{
	const char *env = getenv("RTAI_MAX_FIELDS");

	if (env != NULL && *env != '\0')
		rec_max_fields = (uint32_t)cli_opt_int("RTAI_MAX_FIELDS", env, 1, 65535);
	if (opt_value != NULL)
		rec_max_fields = (uint32_t)cli_opt_int("--max-fields", opt_value, 1, 65535);
}

static inline uint64_t ld64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);	/* little-endian hosts only: checked in configure */
	return v;
}

static inline uint32_t ld32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

void rec_reset(struct rec *r)
{
	r->n = 0;
	arena_reset(&r->a);
	if (r->json != NULL) {
		json_decref(r->json);
		r->json = NULL;
	}
}

void rec_free(struct rec *r)
{
	if (r == NULL)
		return;
	rec_reset(r);
	arena_free(&r->a);
	free(r->f);
	r->f = NULL;
	r->cap = 0;
}

static struct rec_field *rec_slot(struct rec *r)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->f = xrealloc(r->f, r->cap * sizeof(*r->f));
	}
	return &r->f[r->n++];
}

int rec_decode(struct rec *r, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n;
	const char *why;
	uint32_t nf;

	rec_reset(r);
	if (n < 2) {
		snprintf(r->err, sizeof(r->err), "binary record: truncated header");
		return -1;
	}
	nf = (uint32_t)(p[0] | p[1] << 8);
	p += 2;
	if (nf > rec_max_fields) {
		snprintf(r->err, sizeof(r->err), "binary record: %u fields exceed the limit of %u (--max-fields or RTAI_MAX_FIELDS)",
			 nf, rec_max_fields);
		return -1;
	}
	for (uint32_t i = 0; i < nf; i++) {
		struct rec_field *f;
		uint8_t type, nlen;

		if (end - p < 2)
			goto truncated;
		type = p[0];
		nlen = p[1];
		p += 2;
		if ((size_t)(end - p) < nlen)
			goto truncated;
		if (memchr(p, '\0', nlen) != NULL) {
			/* JSON readers (jansson) refuse it in a key. */
			snprintf(r->err, sizeof(r->err), "binary record: field %u: NUL byte in the name",
				 i + 1);
			r->n = 0;
			return -1;
		}
		f = rec_slot(r);
		f->name = (const char *)p;
		f->nlen = nlen;
		f->v.type = type;
		p += nlen;
		switch (type) {
		case RT_NULL:
		case RT_FALSE:
		case RT_TRUE:
			break;
		case RT_INT:
		case RT_TIME:
		case RT_FLOAT:
			if (end - p < 8)
				goto truncated;
			f->v.i = (int64_t)ld64(p);	/* same bits for f */
			p += 8;
			break;
		case RT_STR:
		case RT_JSON:
		case RT_BYTES:
			if (end - p < 4)
				goto truncated;
			f->v.s.n = ld32(p);
			p += 4;
			if ((size_t)(end - p) < f->v.s.n)
				goto truncated;
			f->v.s.p = (const char *)p;
			p += f->v.s.n;
			/* Printed verbatim as JSON: must be JSON, or a stream
			 * could inject fields into what rec_to_json() writes. */
			if (type == RT_JSON && rec_json_check(f->v.s.p, f->v.s.n, &why) < 0) {
				snprintf(r->err, sizeof(r->err), "binary record: field %u: invalid JSON value: %s",
					 i + 1, why);
				r->n = 0;
				return -1;
			}
			break;
		default:
			snprintf(r->err, sizeof(r->err), "binary record: field %u: unknown type %u",
				 i + 1, type);
			r->n = 0;
			return -1;
		}
	}
	if (p != end) {
		snprintf(r->err, sizeof(r->err), "binary record: %zu bytes after the last field",
			 (size_t)(end - p));
		r->n = 0;
		return -1;
	}
	return 0;
truncated:
	snprintf(r->err, sizeof(r->err), "binary record: field %u: truncated", r->n ? r->n : 1);
	r->n = 0;
	return -1;
}

void rec_encode(const struct rec *r, struct buf *out)
{
	size_t need = 2;
	uint8_t *p;

	for (uint32_t i = 0; i < r->n; i++) {
		need += 2 + (size_t)r->f[i].nlen + 8;
		if (rt_has_bytes(r->f[i].v.type))
			need += (size_t)r->f[i].v.s.n;
	}
	p = buf_reserve(out, need);
	*p++ = (uint8_t)r->n;
	*p++ = (uint8_t)(r->n >> 8);
	for (uint32_t i = 0; i < r->n; i++) {
		const struct rec_field *f = &r->f[i];

		*p++ = f->v.type;
		*p++ = f->nlen;
		memcpy(p, f->name, f->nlen);
		p += f->nlen;
		switch (f->v.type) {
		case RT_INT:
		case RT_TIME:
		case RT_FLOAT:
			memcpy(p, &f->v.i, 8);
			p += 8;
			break;
		case RT_STR:
		case RT_JSON:
		case RT_BYTES:
			memcpy(p, &f->v.s.n, 4);
			p += 4;
			if (f->v.s.n)
				memcpy(p, f->v.s.p, f->v.s.n);
			p += f->v.s.n;
			break;
		default:
			break;
		}
	}
	out->len = (size_t)(p - out->p);
}

struct rec_field *rec_get(const struct rec *r, const char *name, size_t nlen)
{
	for (uint32_t i = 0; i < r->n; i++)
		if (r->f[i].nlen == nlen && memcmp(r->f[i].name, name, nlen) == 0)
			return &r->f[i];
	return NULL;
}

struct rec_field *rec_add(struct rec *r, const char *name, size_t nlen,
			   struct val v)
{
	struct rec_field *f = rec_slot(r);

	f->name = name;
	f->nlen = (uint8_t)(nlen > 255 ? 255 : nlen);
	f->v = v;
	return f;
}

struct rec_field *rec_set(struct rec *r, const char *name, size_t nlen,
			   struct val v)
{
	struct rec_field *f = rec_get(r, name, nlen);

	if (f == NULL)
		return rec_add(r, name, nlen, v);
	f->v = v;
	return f;
}

void rec_del(struct rec *r, uint32_t i)
{
	if (i >= r->n)
		return;
	memmove(&r->f[i], &r->f[i + 1], (r->n - i - 1) * sizeof(*r->f));
	r->n--;
}

const char *rec_strdup(struct rec *r, const char *p, size_t n)
{
	return arena_dup(&r->a, p, n);
}

const char *rt_type_name(int type)
{
	switch (type) {
	case RT_NULL: return "null";
	case RT_FALSE:
	case RT_TRUE: return "bool";
	case RT_INT: return "int";
	case RT_FLOAT: return "float";
	case RT_STR: return "string";
	case RT_TIME: return "time";
	case RT_JSON: return "json";
	case RT_BYTES: return "bytes";
	default: return "unknown";
	}
}

int val_number(const struct val *v, double *out)
{
	switch (v->type) {
	case RT_INT:
	case RT_TIME:
		*out = (double)v->i;
		return 0;
	case RT_FLOAT:
		*out = v->f;
		return 0;
	default:
		return -1;
	}
}

int val_equal(const struct val *a, const struct val *b)
{
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case RT_INT:
	case RT_TIME:
		return a->i == b->i;
	case RT_FLOAT:
		return a->f == b->f || (isnan(a->f) && isnan(b->f));
	case RT_STR:
	case RT_JSON:
	case RT_BYTES:
		return a->s.n == b->s.n && (a->s.n == 0 || memcmp(a->s.p, b->s.p, a->s.n) == 0);
	default:
		return 1;
	}
}

static int is_num(int t) { return t == RT_INT || t == RT_FLOAT || t == RT_TIME; }

/* An int64 against a double, exactly (converting the int to a double
 * would make 2^53 + 1 equal 2^53 and break transitivity); NaN is greater
 * than every number. */
static int cmp_int_double(int64_t i, double d)
{
	int64_t t;

	if (isnan(d) || d >= 9223372036854775808.0)
		return -1;
	if (d < -9223372036854775808.0)
		return 1;
	t = (int64_t)d;			/* truncated, in range */
	if (i != t)
		return (i > t) - (i < t);
	return (d < (double)t) - (d > (double)t);
}

int val_cmp(const struct val *a, const struct val *b)
{
	if (is_num(a->type) && is_num(b->type)) {
		/* A total order whatever a stream holds: qsort needs one. */
		if (a->type != RT_FLOAT && b->type != RT_FLOAT)
			return (a->i > b->i) - (a->i < b->i);
		if (a->type != RT_FLOAT)
			return cmp_int_double(a->i, b->f);
		if (b->type != RT_FLOAT)
			return -cmp_int_double(b->i, a->f);
		if (isnan(a->f) || isnan(b->f))
			return !!isnan(a->f) - !!isnan(b->f);
		return (a->f > b->f) - (a->f < b->f);
	}
	if (a->type != b->type) {
		/* Numbers are one class: time after string but before int
		 * would make a cycle. */
		int ta = is_num(a->type) ? RT_INT : a->type;
		int tb = is_num(b->type) ? RT_INT : b->type;

		return (ta > tb) - (ta < tb);
	}
	if (rt_has_bytes(a->type)) {
		size_t n = a->s.n < b->s.n ? a->s.n : b->s.n;
		int c = n ? memcmp(a->s.p, b->s.p, n) : 0;

		if (c != 0)
			return c;
		return (a->s.n > b->s.n) - (a->s.n < b->s.n);
	}
	return 0;
}

uint64_t rec_hash(const void *p, size_t n, uint64_t seed)
{
	const uint8_t *s = p;
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	while (n >= 8) {
		uint64_t k;

		memcpy(&k, s, 8);
		h = (h ^ k) * 0x100000001b3ULL;
		h ^= h >> 29;
		s += 8;
		n -= 8;
	}
	while (n--)
		h = (h ^ *s++) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

uint64_t val_hash(const struct val *v, uint64_t seed)
{
	switch (v->type) {
	case RT_STR:
	case RT_JSON:
	case RT_BYTES:
		return rec_hash(v->s.p, v->s.n, seed ^ v->type);
	case RT_INT:
	case RT_TIME:
	case RT_FLOAT:
		return rec_hash(&v->i, 8, seed ^ v->type);
	default:
		return rec_hash(&v->type, 1, seed);
	}
}

/* The text "%.15g" gives for d, built without printf (whose float
 * formatting is most of the cost of writing a record), when d has at most
 * 6 decimals and a magnitude in [1e-4, 1e15), or is 0: amounts, scores.
 * Returns its length, or 0 for any other d. The text is checked to read
 * back as d; having at most 15 significant digits, it is then what %.15g
 * prints (DBL_DIG is 15). */
static int short_double(double d, char *tmp)
{
	static const double p10[] = { 1, 10, 100, 1e3, 1e4, 1e5, 1e6 };
	double a = fabs(d), m;
	char digits[24];
	int nd = 0, n = 0, k;
	uint64_t u;

	if (d == 0) {
		strcpy(tmp, signbit(d) ? "-0" : "0");
		return signbit(d) ? 2 : 1;
	}
	if (!(a >= 1e-4 && a < 1e15))
		return 0;
	for (k = 0; k < 7; k++) {
		m = a * p10[k];
		if (m >= 1e15)
			return 0;
		if (m == floor(m))
			break;
	}
	if (k == 7)
		return 0;
	u = (uint64_t)m;
	while (k > 0 && u % 10 == 0)	/* no trailing zeros, as %g */
		u /= 10, k--;
	do {
		digits[nd++] = (char)('0' + u % 10);
		u /= 10;
	} while (u > 0);
	if (d < 0)
		tmp[n++] = '-';
	if (nd <= k) {
		tmp[n++] = '0';
		tmp[n++] = '.';
		for (int i = 0; i < k - nd; i++)
			tmp[n++] = '0';
	}
	for (int i = nd - 1; i >= 0; i--) {
		tmp[n++] = digits[i];
		if (i == k && k > 0 && i != nd)
			tmp[n++] = '.';
	}
	tmp[n] = '\0';
	return strtod(tmp, NULL) == d ? n : 0;
}

int rec_fmt_double(double d, char *tmp)
{
	int n;

	if (!isfinite(d)) {
		tmp[0] = '\0';
		return 0;
	}
	n = short_double(d, tmp);
	if (n == 0 && d != 0 && fabs(d) < DBL_MIN) {
		/* Subnormals have fewer digits of precision than DBL_DIG. */
		for (int p = 1; p <= 17; p++) {
			n = snprintf(tmp, RTAI_DBL_BUFSZ, "%.*g", p, d);
			if (strtod(tmp, NULL) == d)
				break;
		}
	} else if (n == 0) {
		/* The shortest of %.15g (DBL_DIG: every text of 15 digits reads
		 * back as itself, so this is the shortest when one of at most
		 * 15 digits exists), %.16g and %.17g (always reads back). */
		n = snprintf(tmp, RTAI_DBL_BUFSZ, "%.15g", d);
		if (strtod(tmp, NULL) != d) {
			n = snprintf(tmp, RTAI_DBL_BUFSZ, "%.16g", d);
			if (strtod(tmp, NULL) != d)
				n = snprintf(tmp, RTAI_DBL_BUFSZ, "%.17g", d);
		}
	}
	if (strpbrk(tmp, ".e") == NULL) {
		memcpy(tmp + n, ".0", 3);
		n += 2;
	}
	return n;
}

void json_put_double(struct buf *out, double d)
{
	char tmp[RTAI_DBL_BUFSZ];
	int n = rec_fmt_double(d, tmp);

	if (n == 0)
		buf_puts(out, "null");
	else
		buf_append(out, tmp, (size_t)n);
}

void val_text(const struct val *v, struct buf *out)
{
	char tmp[RTAI_TIME_BUFSZ];

	switch (v->type) {
	case RT_STR:
	case RT_JSON:
	case RT_BYTES:
		buf_append(out, v->s.p, v->s.n);
		break;
	case RT_INT:
		buf_printf(out, "%lld", (long long)v->i);
		break;
	case RT_FLOAT:
		json_put_double(out, v->f);
		break;
	case RT_TIME:
		buf_append(out, tmp, rtime_fmt_time(v->i, tmp));
		break;
	case RT_TRUE:
		buf_puts(out, "true");
		break;
	case RT_FALSE:
		buf_puts(out, "false");
		break;
	default:
		buf_puts(out, "null");
		break;
	}
}

/* Length of a valid UTF-8 sequence at p (1..4), or 0 when invalid. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
	uint32_t c;
	size_t len;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, c = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, c = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, c = p[0] & 0x07;
	else
		return 0;
	if (n < len)
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

/* ---- validating JSON text --------------------------------------------- */

/* Deepest nesting of a JSON field value: jansson reads values nested
 * JSON_PARSER_MAX_DEPTH deep, and a field's value sits one level inside
 * the record's object. */
#define JSON_VALUE_MAX_DEPTH (JSON_PARSER_MAX_DEPTH - 1)

static const uint8_t *json_ws(const uint8_t *p, const uint8_t *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static int hex4(const uint8_t *p, const uint8_t *end, uint32_t *out)
{
	uint32_t v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		uint8_t c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v |= (c | 0x20) - 'a' + 10;
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* A string literal at *pp (at its quote); advances past it. Keys may not
 * hold U+0000, which jansson refuses in keys. */
static const char *json_scan_str(const uint8_t **pp, const uint8_t *end, int key)
{
	const uint8_t *p = *pp + 1;

	while (p < end) {
		uint32_t u, lo;
		size_t len;

		if (*p == '"') {
			*pp = p + 1;
			return NULL;
		}
		if (*p < 0x20)
			return "control character in a string";
		if (*p >= 0x80) {
			len = utf8_len(p, (size_t)(end - p));
			if (len == 0)
				return "invalid UTF-8 in a string";
			p += len;
			continue;
		}
		if (*p++ != '\\')
			continue;
		if (p >= end)
			break;
		if (*p != '\0' && strchr("\"\\/bfnrt", *p) != NULL) {
			p++;
			continue;
		}
		if (*p != 'u' || hex4(p + 1, end, &u) < 0)
			return "invalid escape in a string";
		p += 5;
		if (u == 0 && key)
			return "NUL byte in an object key";
		if (u >= 0xdc00 && u <= 0xdfff)
			return "lone surrogate in a string";
		if (u >= 0xd800 && u <= 0xdbff) {
			if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
			    hex4(p + 2, end, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
				return "lone surrogate in a string";
			p += 6;
		}
	}
	return "unterminated string";
}

/* A number at *pp; advances past it. Rejects what jansson cannot hold:
 * integers beyond int64, reals beyond double. */
static const char *json_scan_num(const uint8_t **pp, const uint8_t *end)
{
	const uint8_t *p = *pp, *start = p;
	char tmp[64];
	int real = 0;

	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else if (p < end && *p >= '1' && *p <= '9')
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	else
		return "invalid number";
	if (p < end && *p == '.') {
		real = 1;
		if (++p >= end || *p < '0' || *p > '9')
			return "invalid number";
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		real = 1;
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return "invalid number";
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if ((size_t)(p - start) >= sizeof(tmp))
		return "number too long";
	memcpy(tmp, start, (size_t)(p - start));
	tmp[p - start] = '\0';
	errno = 0;
	if (real) {
		if (!isfinite(strtod(tmp, NULL)))
			return "number out of range";
	} else {
		(void)strtoll(tmp, NULL, 10);
		if (errno == ERANGE)
			return "integer out of range";
	}
	*pp = p;
	return NULL;
}

int rec_json_check(const char *text, size_t n, const char **why)
{
	const uint8_t *p = (const uint8_t *)text, *end = p + n;
	uint8_t stack[(JSON_VALUE_MAX_DEPTH + 7) / 8] = { 0 };	/* bit set: object */
	unsigned depth = 0;
	int want_key = 0;
	const char *err = NULL;

	/* Each turn reads a key or a value, then what may follow a value. */
	for (;;) {
		p = json_ws(p, end);
		if (want_key) {
			if (p >= end || *p != '"') {
				err = "expected a string key";
				goto bad;
			}
			if ((err = json_scan_str(&p, end, 1)) != NULL)
				goto bad;
			p = json_ws(p, end);
			if (p >= end || *p != ':') {
				err = "expected ':'";
				goto bad;
			}
			p++;
			want_key = 0;
			continue;
		}
		if (p >= end) {
			err = "unexpected end of JSON text";
			goto bad;
		}
		if (depth >= JSON_VALUE_MAX_DEPTH) {
			err = "JSON nested too deeply";
			goto bad;
		}
		if (*p == '{' || *p == '[') {
			int obj = *p++ == '{';

			if (obj)
				stack[depth / 8] |= (uint8_t)(1u << depth % 8);
			else
				stack[depth / 8] &= (uint8_t)~(1u << depth % 8);
			depth++;
			p = json_ws(p, end);
			if (p < end && *p == (obj ? '}' : ']')) {
				p++;		/* empty: a whole value */
				depth--;
			} else {
				want_key = obj;
				continue;
			}
		} else if (*p == '"') {
			err = json_scan_str(&p, end, 0);
		} else if (*p == '-' || (*p >= '0' && *p <= '9')) {
			err = json_scan_num(&p, end);
		} else if (end - p >= 4 && memcmp(p, "true", 4) == 0) {
			p += 4;
		} else if (end - p >= 5 && memcmp(p, "false", 5) == 0) {
			p += 5;
		} else if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
			p += 4;
		} else {
			err = "invalid JSON value";
		}
		if (err != NULL)
			goto bad;
		/* After a value: close containers, or a comma for the next. */
		for (;;) {
			int obj;

			p = json_ws(p, end);
			if (depth == 0) {
				if (p != end) {
					err = "text after the JSON value";
					goto bad;
				}
				return 0;
			}
			obj = stack[(depth - 1) / 8] >> (depth - 1) % 8 & 1;
			if (p < end && *p == (obj ? '}' : ']')) {
				p++;
				depth--;
				continue;
			}
			if (p >= end || *p != ',') {
				err = obj ? "expected ',' or '}'" : "expected ',' or ']'";
				goto bad;
			}
			p++;
			want_key = obj;
			break;
		}
	}
bad:
	*why = err;
	return -1;
}

void json_put_str(struct buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = (const uint8_t *)s, *end = p + n, *run = p;

	buf_reserve(out, n + 2);
	buf_putc(out, '"');
	while (p < end) {
		uint8_t c = *p;
		size_t len;

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			p++;
			continue;
		}
		buf_append(out, run, (size_t)(p - run));
		if (c >= 0x80) {
			len = utf8_len(p, (size_t)(end - p));
			if (len == 0) {
				buf_append(out, "\xef\xbf\xbd", 3);
				len = 1;
			} else {
				buf_append(out, p, len);
			}
			p += len;
			run = p;
			continue;
		}
		buf_putc(out, '\\');
		switch (c) {
		case '"': buf_putc(out, '"'); break;
		case '\\': buf_putc(out, '\\'); break;
		case '\n': buf_putc(out, 'n'); break;
		case '\r': buf_putc(out, 'r'); break;
		case '\t': buf_putc(out, 't'); break;
		case '\b': buf_putc(out, 'b'); break;
		case '\f': buf_putc(out, 'f'); break;
		default:
			buf_append(out, "u00", 3);
			buf_putc(out, (uint8_t)hex[c >> 4]);
			buf_putc(out, (uint8_t)hex[c & 15]);
		}
		p++;
		run = p;
	}
	buf_append(out, run, (size_t)(p - run));
	buf_putc(out, '"');
}

void val_to_json(const struct val *v, struct buf *out)
{
	char tmp[RTAI_TIME_BUFSZ];

	switch (v->type) {
	case RT_STR:
		json_put_str(out, v->s.p, v->s.n);
		break;
	case RT_JSON:
		buf_append(out, v->s.p, v->s.n);
		break;
	case RT_BYTES:
		buf_putc(out, '"');
		buf_put_base64(out, v->s.p, v->s.n);
		buf_putc(out, '"');
		break;
	case RT_TIME:
		buf_putc(out, '"');
		buf_append(out, tmp, rtime_fmt_time(v->i, tmp));
		buf_putc(out, '"');
		break;
	default:
		val_text(v, out);
		break;
	}
}

void rec_to_json(const struct rec *r, struct buf *out)
{
	buf_putc(out, '{');
	for (uint32_t i = 0; i < r->n; i++) {
		if (i)
			buf_putc(out, ',');
		json_put_str(out, r->f[i].name, r->f[i].nlen);
		buf_putc(out, ':');
		val_to_json(&r->f[i].v, out);
	}
	buf_putc(out, '}');
}

/* Copies JSON text to out with ".0" after every integer literal that does
 * not fit in int64, so that it reads as a float (the nearest double), as
 * JSON readers without big integers (JavaScript, jq) read it. Returns the
 * number of literals changed. */
static int bigints_as_floats(const char *t, size_t n, struct buf *out)
{
	int in_str = 0, changed = 0;

	buf_reset(out);
	for (size_t i = 0; i < n;) {
		size_t j = i;

		if (in_str) {
			if (t[i] == '\\' && i + 1 < n)
				j = i + 2;
			else
				j = i + 1, in_str = t[i] != '"';
			buf_append(out, t + i, j - i);
			i = j;
			continue;
		}
		if (t[i] == '"') {
			in_str = 1;
			buf_putc(out, '"');
			i++;
			continue;
		}
		if (t[i] != '-' && (t[i] < '0' || t[i] > '9')) {
			buf_putc(out, t[i++]);
			continue;
		}
		if (t[j] == '-')
			j++;
		while (j < n && t[j] >= '0' && t[j] <= '9')
			j++;
		buf_append(out, t + i, j - i);
		if (j < n && (t[j] == '.' || t[j] == 'e' || t[j] == 'E')) {
			/* a float already: copy its fraction and exponent too */
			for (i = j; j < n && strchr("0123456789.eE+-", t[j]) != NULL; j++)
				;
			buf_append(out, t + i, j - i);
		} else {
			char tmp[32];
			size_t len = j - i;

			if (len >= sizeof(tmp)) {
				buf_append(out, ".0", 2);
				changed++;
			} else {
				memcpy(tmp, t + i, len);
				tmp[len] = '\0';
				errno = 0;
				(void)strtoll(tmp, NULL, 10);
				if (errno == ERANGE) {
					buf_append(out, ".0", 2);
					changed++;
				}
			}
		}
		i = j;
	}
	return changed;
}

int rec_from_json(struct rec *r, const char *text, size_t n)
{
	json_error_t e;
	json_t *root;
	int rc;

	rec_reset(r);
	root = json_loadb(text, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
	if (root == NULL && strstr(e.text, "too big") != NULL) {
		struct buf b = { 0 };

		if (bigints_as_floats(text, n, &b) > 0)
			root = json_loadb((const char *)b.p, b.len,
					  JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
		buf_free(&b);
	}
	if (root == NULL) {
		snprintf(r->err, sizeof(r->err), "invalid JSON at column %d: %s",
			 e.column, e.text);
		return -1;
	}
	rc = rec_from_jansson(r, root);
	json_decref(root);
	return rc;
}

int rec_from_jansson(struct rec *r, void *obj)
{
	json_t *root = obj, *v;
	const char *key;

	rec_reset(r);
	r->json = json_incref(root);
	if (!json_is_object(root)) {
		snprintf(r->err, sizeof(r->err), "expected a JSON object, got %s",
			 json_is_array(root) ? "an array" : "a scalar");
		return -1;
	}
	if (json_object_size(root) > rec_max_fields) {
		snprintf(r->err, sizeof(r->err), "%zu fields exceed the limit of %u (--max-fields or RTAI_MAX_FIELDS)",
			 json_object_size(root), rec_max_fields);
		return -1;
	}
	json_object_foreach(root, key, v) {
		size_t klen = strlen(key);
		struct val val;

		if (klen > 255) {
			snprintf(r->err, sizeof(r->err), "field name of %zu bytes exceeds 255 bytes",
				 klen);
			return -1;
		}
		switch (json_typeof(v)) {
		case JSON_NULL:
			val = val_null();
			break;
		case JSON_TRUE:
			val = val_bool(1);
			break;
		case JSON_FALSE:
			val = val_bool(0);
			break;
		case JSON_INTEGER:
			val = val_int(json_integer_value(v));
			break;
		case JSON_REAL:
			val = val_float(json_real_value(v));
			break;
		case JSON_STRING:
			val = val_str(json_string_value(v), json_string_length(v));
			break;
		default: {
			char *dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
			size_t dl;

			if (dump == NULL) {
				snprintf(r->err, sizeof(r->err), "field \"%s\": cannot encode nested value", key);
				return -1;
			}
			dl = strlen(dump);
			val.type = RT_JSON;
			val.s.p = rec_strdup(r, dump, dl);
			val.s.n = (uint32_t)dl;
			free(dump);
			break;
		}
		}
		rec_add(r, key, klen, val);
	}
	return 0;
}

int rec_from_frame(struct rec *r, const struct frame *f)
{
	switch (f->enc) {
	case RTAI_E_REC:
		return rec_decode(r, f->payload, f->len);
	case RTAI_E_JSON:
	case RTAI_E_RAW:
		return rec_from_json(r, (const char *)f->payload, f->len);
	default:
		rec_reset(r);
		snprintf(r->err, sizeof(r->err), "payload encoding %u is not a record", f->enc);
		return -1;
	}
}
