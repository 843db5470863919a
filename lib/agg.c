/* agg.c - aggregates: parsing specs, per-group state, results. */
#include "config.h"
#include "agg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "rtime.h"

/* ---- specs ------------------------------------------------------------- */

static const char *const func_names[] = {
	[AGG_COUNT] = "count", [AGG_SUM] = "sum", [AGG_AVG] = "avg",
	[AGG_MIN] = "min", [AGG_MAX] = "max", [AGG_FIRST] = "first",
	[AGG_LAST] = "last", [AGG_DISTINCT] = "distinct", [AGG_STDDEV] = "stddev",
	[AGG_P50] = "p50", [AGG_P90] = "p90", [AGG_P95] = "p95", [AGG_P99] = "p99",
};
#define NFUNCS (sizeof(func_names) / sizeof(func_names[0]))

const char *agg_func_name(enum agg_func f)
{
	return (size_t)f < NFUNCS ? func_names[f] : "unknown";
}

int agg_removable(enum agg_func f)
{
	switch (f) {
	case AGG_COUNT:
	case AGG_DISTINCT:
	case AGG_P50:
	case AGG_P90:
	case AGG_P95:
	case AGG_P99:
		return 1;
	default:
		return 0;
	}
}

static int is_pct(enum agg_func f)
{
	return f == AGG_P50 || f == AGG_P90 || f == AGG_P95 || f == AGG_P99;
}

static double pct_q(enum agg_func f)
{
	switch (f) {
	case AGG_P50: return 0.50;
	case AGG_P90: return 0.90;
	case AGG_P95: return 0.95;
	default: return 0.99;
	}
}

int agg_set_parse(struct agg_set *set, const char *spec, char *err, size_t errlen)
{
	const char *eq = strchr(spec, '='), *body = eq ? eq + 1 : spec;
	const char *colon = strchr(body, ':');
	size_t flen = colon ? (size_t)(colon - body) : strlen(body);
	struct agg_spec s = { .shared = -1 };
	struct buf name = { 0 };
	size_t f;

	for (f = 0; f < NFUNCS; f++)
		if (strlen(func_names[f]) == flen && memcmp(func_names[f], body, flen) == 0)
			break;
	if (f == NFUNCS) {
		snprintf(err, errlen, "'%s': unknown function '%.*s' (expected count, sum, avg, "
			 "min, max, first, last, distinct, stddev, p50, p90, p95 or p99)",
			 spec, (int)flen, body);
		return -1;
	}
	s.func = (enum agg_func)f;
	if (colon != NULL) {
		s.flen = strlen(colon + 1);
		if (s.flen == 0 || s.flen > 255) {
			snprintf(err, errlen, "'%s': the field name must have 1 to 255 bytes", spec);
			return -1;
		}
		s.field = xstrdup(colon + 1);
	} else if (s.func != AGG_COUNT) {
		snprintf(err, errlen, "'%s': %s needs a field, as in %s:amount", spec,
			 func_names[f], func_names[f]);
		return -1;
	}
	if (eq != NULL) {
		buf_append(&name, spec, (size_t)(eq - spec));
	} else {
		buf_puts(&name, func_names[f]);
		if (s.field != NULL) {
			buf_putc(&name, '_');
			buf_puts(&name, s.field);
		}
	}
	if (name.len == 0 || name.len > 255) {
		snprintf(err, errlen, "'%s': the output name must have 1 to 255 bytes", spec);
		goto fail;
	}
	buf_putc(&name, '\0');
	s.name = (char *)name.p;
	s.nlen = name.len - 1;
	for (size_t i = 0; i < set->n; i++) {
		if (strcmp(set->v[i].name, s.name) == 0) {
			snprintf(err, errlen, "'%s': output field \"%s\" is named twice (name it: -a NAME=%s)",
				 spec, s.name, body);
			goto fail;
		}
		if (is_pct(s.func) && is_pct(set->v[i].func) && set->v[i].shared < 0 &&
		    strcmp(set->v[i].field, s.field) == 0)
			s.shared = (int)i;
	}
	s.sketch = is_pct(s.func) && s.shared < 0;
	if (s.func == AGG_FIRST || s.func == AGG_LAST)
		set->times = 1;
	if (set->n == set->cap) {
		set->cap = set->cap ? set->cap * 2 : 8;
		set->v = xrealloc(set->v, set->cap * sizeof(*set->v));
		set->seen = xrealloc(set->seen, set->cap);
	}
	set->seen[set->n] = 0;
	set->v[set->n++] = s;
	return 0;
fail:
	free(s.field);
	buf_free(&name);
	return -1;
}

void agg_set_free(struct agg_set *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->n; i++) {
		free(set->v[i].name);
		free(set->v[i].field);
	}
	free(set->v);
	free(set->seen);
	memset(set, 0, sizeof(*set));
}

int agg_seen(const struct agg_set *set, size_t i)
{
	return set->v[i].field == NULL || set->seen[i];
}

size_t agg_warn_unseen(const struct agg_set *set, uint64_t records)
{
	size_t n = 0;

	for (size_t i = 0; i < set->n && records > 0; i++) {
		if (agg_seen(set, i))
			continue;
		cli_warn("field \"%s\" of -a %s:%s never occurred in %llu record%s (misspelt?)",
			  set->v[i].field, func_names[set->v[i].func], set->v[i].field,
			  (unsigned long long)records, records == 1 ? "" : "s");
		n++;
	}
	return n;
}

int agg_extract(const struct agg_set *set, const struct rec *rec,
		struct val *vals, char *err, size_t errlen)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct agg_spec *s = &set->v[i];
		const struct rec_field *f;
		const char *want = NULL;
		int t;

		if (s->field == NULL) {
			vals[i] = val_bool(1);
			continue;
		}
		f = rec_get(rec, s->field, s->flen);
		if (f == NULL) {
			vals[i] = val_null();
			continue;
		}
		set->seen[i] = 1;
		vals[i] = f->v;
		t = f->v.type;
		switch (s->func) {
		case AGG_MIN:
		case AGG_MAX:
			if (t != RT_NULL && t != RT_INT && t != RT_FLOAT && t != RT_TIME)
				want = "number or time";
			break;
		case AGG_SUM:
		case AGG_AVG:
		case AGG_STDDEV:
		case AGG_P50:
		case AGG_P90:
		case AGG_P95:
		case AGG_P99:
			if (t != RT_NULL && t != RT_INT && t != RT_FLOAT)
				want = "number";
			break;
		default:
			break;
		}
		if (want != NULL) {
			snprintf(err, errlen, "field \"%s\": expected %s, got %s", s->field, want,
				 rt_type_name(t));
			return -1;
		}
	}
	return 0;
}

/* ---- boxes: string values kept by min/max/first/last -------------------- */

struct agg_box {
	uint32_t cap, len;
	char p[];
};

static void box_set(struct agg_box **bp, const char *p, uint32_t n)
{
	struct agg_box *b = *bp;

	if (b == NULL || b->cap < n) {
		uint32_t cap = n < 16 ? 16 : n;

		b = xrealloc(b, sizeof(*b) + cap);
		b->cap = cap;
		*bp = b;
	}
	b->len = n;
	if (n)
		memcpy(b->p, p, n);
}

/* ---- distinct: an exact set of values with counts ------------------------ */

struct agg_dent {
	uint64_t h;		/* hash of type and contents */
	uint64_t v;		/* number bits, or offset in the pool */
	uint32_t len;		/* string bytes */
	uint32_t cnt;		/* 0: empty slot */
	uint8_t type;
};

struct agg_distinct {
	struct agg_dent *t;
	uint32_t cap, n;	/* cap is a power of two */
	struct buf pool;	/* string bytes */
	size_t garbage;		/* pool bytes of removed values */
};

/* The identity of a value: type, 8 bytes of number, or string bytes. */
static void dkey(const struct val *v, uint8_t *type, uint64_t *bits,
		 const char **p, uint32_t *n)
{
	*type = v->type;
	*bits = 0;
	*p = NULL;
	*n = 0;
	switch (v->type) {
	case RT_INT:
	case RT_TIME:
		*bits = (uint64_t)v->i;
		break;
	case RT_FLOAT: {
		double d = v->f;

		if (d == 0)
			d = 0;		/* -0.0 is 0.0 */
		else if (isnan(d))
			d = NAN;
		memcpy(bits, &d, 8);
		break;
	}
	case RT_STR:
	case RT_JSON:
	case RT_BYTES:
		*p = v->s.p;
		*n = v->s.n;
		break;
	default:
		break;
	}
}

/* Strings hash and compare by their bytes, whether p is NULL or not for
 * an empty one: a value merged from a row whose pool never allocated (it
 * held only "") is the same value as "" added from a record. */
static uint64_t dhash(uint8_t type, uint64_t bits, const char *p, uint32_t n)
{
	if (rt_has_bytes(type))
		return rec_hash(n > 0 ? p : "", n, type);
	return rec_hash(&bits, 8, type);
}

static uint32_t dfind(const struct agg_distinct *d, uint64_t h, uint8_t type,
		      uint64_t bits, const char *p, uint32_t n)
{
	uint32_t mask = d->cap - 1, i = (uint32_t)h & mask;

	for (;; i = (i + 1) & mask) {
		const struct agg_dent *e = &d->t[i];

		if (e->cnt == 0)
			return i;
		if (e->h != h || e->type != type)
			continue;
		if (!rt_has_bytes(type) ? e->v == bits
					: e->len == n && (n == 0 || memcmp(d->pool.p + e->v, p, n) == 0))
			return i;
	}
}

static void dgrow(struct agg_distinct *d)
{
	struct agg_dent *old = d->t;
	uint32_t oldcap = d->cap;

	d->cap = d->cap ? d->cap * 2 : 16;
	d->t = xcalloc(d->cap, sizeof(*d->t));
	for (uint32_t i = 0; i < oldcap; i++) {
		uint32_t j;

		if (old[i].cnt == 0)
			continue;
		for (j = (uint32_t)old[i].h & (d->cap - 1); d->t[j].cnt != 0; j = (j + 1) & (d->cap - 1))
			;
		d->t[j] = old[i];
	}
	free(old);
}

static void dadd(struct agg_distinct *d, uint8_t type, uint64_t bits, const char *p,
		 uint32_t n, uint32_t cnt)
{
	uint64_t h = dhash(type, bits, p, n);
	struct agg_dent *e;

	if ((d->n + 1) * 10 > d->cap * 7)
		dgrow(d);
	e = &d->t[dfind(d, h, type, bits, p, n)];
	if (e->cnt != 0) {
		e->cnt += cnt;
		return;
	}
	*e = (struct agg_dent){ .h = h, .v = bits, .len = n, .cnt = cnt, .type = type };
	if (rt_has_bytes(type)) {
		e->v = d->pool.len;
		buf_append(&d->pool, p, n);
	}
	d->n++;
}

/* Moves the live strings to a new pool once most of it is garbage. */
static void dcompact(struct agg_distinct *d)
{
	struct buf pool = { 0 };

	if (d->garbage < 4096 || d->garbage * 2 < d->pool.len)
		return;
	for (uint32_t i = 0; i < d->cap; i++) {
		struct agg_dent *e = &d->t[i];

		if (e->cnt == 0 || !rt_has_bytes(e->type))
			continue;
		buf_append(&pool, d->pool.p + e->v, e->len);
		e->v = pool.len - e->len;
	}
	buf_free(&d->pool);
	d->pool = pool;
	d->garbage = 0;
}

static void dremove(struct agg_distinct *d, const struct val *v)
{
	uint32_t mask, i, j, n;
	uint64_t bits, h;
	const char *p;
	uint8_t type;

	if (d == NULL || d->cap == 0)
		return;
	dkey(v, &type, &bits, &p, &n);
	h = dhash(type, bits, p, n);
	i = dfind(d, h, type, bits, p, n);
	if (d->t[i].cnt == 0 || --d->t[i].cnt > 0)
		return;
	if (p != NULL)
		d->garbage += n;
	d->n--;
	/* Backward-shift deletion keeps linear probing free of tombstones. */
	mask = d->cap - 1;
	for (j = i;;) {
		uint32_t k;

		j = (j + 1) & mask;
		if (d->t[j].cnt == 0)
			break;
		k = (uint32_t)d->t[j].h & mask;
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			d->t[i] = d->t[j];
			i = j;
		}
	}
	d->t[i].cnt = 0;
	dcompact(d);
}

static void dreset(struct agg_distinct *d)
{
	if (d == NULL)
		return;
	if (d->n > 0)
		memset(d->t, 0, d->cap * sizeof(*d->t));
	d->n = 0;
	buf_reset(&d->pool);
	d->garbage = 0;
}

static void dfree(struct agg_distinct *d)
{
	if (d == NULL)
		return;
	free(d->t);
	buf_free(&d->pool);
	free(d);
}

/* ---- sketch: DDSketch with collapsing dense stores ---------------------- */

struct agg_store {
	uint64_t *c;		/* counts of bins lo .. lo + n - 1 */
	int32_t lo;
	uint32_t n, cap;
	uint64_t total;
};

struct agg_sketch {
	struct agg_store pos, neg;	/* neg is indexed by magnitude */
	uint64_t zero, count;
};

static double sk_gamma, sk_lng;		/* (1 + a) / (1 - a), its log */

static void sk_init(void)
{
	if (sk_lng == 0) {
		sk_gamma = (1 + AGG_ALPHA) / (1 - AGG_ALPHA);
		sk_lng = log(sk_gamma);
	}
}

/* Bin i holds (gamma^(i-1), gamma^i]. */
static int32_t sk_index(double x)
{
	sk_init();
	return (int32_t)ceil(log(x) / sk_lng);
}

/* The value within AGG_ALPHA of everything in bin i. */
static double sk_value(int32_t i)
{
	sk_init();
	return 2 * exp(i * sk_lng) / (1 + sk_gamma);
}

/* Adds cnt to bin idx, widening the store; beyond AGG_MAX_BINS the bins
 * at the low end (keep_high) or the high end are folded together. */
static void store_add(struct agg_store *st, int32_t idx, uint64_t cnt, int keep_high)
{
	int64_t lo, hi, nlo, nhi;

	if (st->n == 0) {
		if (st->cap == 0) {
			st->cap = 64;
			st->c = xcalloc(st->cap, sizeof(*st->c));
		}
		st->lo = idx;
		st->n = 1;
		st->c[0] = cnt;
		st->total = cnt;
		return;
	}
	lo = st->lo;
	hi = lo + st->n - 1;
	st->total += cnt;
	if (idx >= lo && idx <= hi) {
		st->c[idx - lo] += cnt;
		return;
	}
	nlo = idx < lo ? idx : lo;
	nhi = idx > hi ? idx : hi;
	if (nhi - nlo + 1 > AGG_MAX_BINS) {
		if (keep_high)
			nlo = nhi - AGG_MAX_BINS + 1;
		else
			nhi = nlo + AGG_MAX_BINS - 1;
	}
	{
		uint32_t nn = (uint32_t)(nhi - nlo + 1), cap = st->cap;
		uint64_t *c;

		while (cap < nn)
			cap *= 2;
		c = xcalloc(cap, sizeof(*c));
		for (int64_t i = lo; i <= hi; i++) {
			int64_t j = i < nlo ? nlo : i > nhi ? nhi : i;

			c[j - nlo] += st->c[i - lo];
		}
		idx = (int32_t)(idx < nlo ? nlo : idx > nhi ? nhi : idx);
		c[idx - nlo] += cnt;
		free(st->c);
		st->c = c;
		st->cap = cap;
		st->lo = (int32_t)nlo;
		st->n = nn;
	}
}

static void store_remove(struct agg_store *st, int32_t idx)
{
	int64_t lo = st->lo, hi = lo + st->n - 1;

	if (st->n == 0)
		return;
	if (idx < lo)
		idx = (int32_t)lo;	/* folded in by a collapse */
	if (idx > hi)
		idx = (int32_t)hi;
	if (st->c[idx - lo] == 0)
		return;
	st->c[idx - lo]--;
	if (--st->total == 0) {
		memset(st->c, 0, st->n * sizeof(*st->c));
		st->n = 0;
	}
}

static void sk_add(struct agg_sketch *k, double x)
{
	if (!isfinite(x))
		return;
	k->count++;
	if (x >= AGG_MIN_VALUE)
		store_add(&k->pos, sk_index(x), 1, 1);
	else if (x <= -AGG_MIN_VALUE)
		store_add(&k->neg, sk_index(-x), 1, 0);
	else
		k->zero++;
}

static void sk_remove(struct agg_sketch *k, double x)
{
	if (!isfinite(x) || k->count == 0)
		return;
	k->count--;
	if (x >= AGG_MIN_VALUE)
		store_remove(&k->pos, sk_index(x));
	else if (x <= -AGG_MIN_VALUE)
		store_remove(&k->neg, sk_index(-x));
	else if (k->zero > 0)
		k->zero--;
}

static void sk_merge(struct agg_sketch *dst, const struct agg_sketch *src)
{
	for (uint32_t i = 0; i < src->pos.n; i++)
		if (src->pos.c[i])
			store_add(&dst->pos, src->pos.lo + (int32_t)i, src->pos.c[i], 1);
	for (uint32_t i = 0; i < src->neg.n; i++)
		if (src->neg.c[i])
			store_add(&dst->neg, src->neg.lo + (int32_t)i, src->neg.c[i], 0);
	dst->zero += src->zero;
	dst->count += src->count;
}

static int sk_quantile(const struct agg_sketch *k, double q, double *out)
{
	double rank;
	uint64_t cum = 0;

	if (k == NULL || k->count == 0)
		return -1;
	q = q < 0 ? 0 : q > 1 ? 1 : q;
	rank = floor(q * (double)(k->count - 1));
	for (uint32_t i = k->neg.n; i-- > 0;) {
		cum += k->neg.c[i];
		if ((double)cum > rank) {
			*out = -sk_value(k->neg.lo + (int32_t)i);
			return 0;
		}
	}
	cum += k->zero;
	if ((double)cum > rank) {
		*out = 0;
		return 0;
	}
	for (uint32_t i = 0; i < k->pos.n; i++) {
		cum += k->pos.c[i];
		if ((double)cum > rank) {
			*out = sk_value(k->pos.lo + (int32_t)i);
			return 0;
		}
	}
	*out = k->pos.n ? sk_value(k->pos.lo + (int32_t)k->pos.n - 1) : 0;
	return 0;
}

static void sk_reset(struct agg_sketch *k)
{
	if (k == NULL)
		return;
	if (k->pos.n > 0)
		memset(k->pos.c, 0, k->pos.n * sizeof(uint64_t));
	if (k->neg.n > 0)
		memset(k->neg.c, 0, k->neg.n * sizeof(uint64_t));
	k->pos.n = k->neg.n = 0;
	k->pos.total = k->neg.total = 0;
	k->zero = k->count = 0;
}

static void sk_free(struct agg_sketch *k)
{
	if (k == NULL)
		return;
	free(k->pos.c);
	free(k->neg.c);
	free(k);
}

/* ---- one aggregate ------------------------------------------------------ */

static struct val xval(const struct agg_state *a)
{
	struct val v = { .type = a->x.type };

	if (rt_has_bytes(v.type)) {
		v.s.p = a->x.box->p;
		v.s.n = a->x.box->len;
	} else {
		v.i = a->x.u.i;
	}
	return v;
}

static void xset(struct agg_state *a, const struct val *v, int64_t t)
{
	a->x.type = v->type;
	a->x.t = t;
	if (rt_has_bytes(v->type))
		box_set(&a->x.box, v->s.p, v->s.n);
	else
		a->x.u.i = v->i;
}

/* The 128-bit int sum (ihi * 2^64 + ilo) plus b (bhi * 2^64 + blo). */
static inline void i128_add(struct agg_state *a, uint64_t blo, int64_t bhi)
{
	uint64_t lo = a->s.ilo + blo;

	a->s.ihi = (int64_t)((uint64_t)a->s.ihi + (uint64_t)bhi + (lo < blo));
	a->s.ilo = lo;
}

static void sum_add(struct agg_state *a, const struct val *v)
{
	a->s.n++;
	if (v->type == RT_INT) {
		i128_add(a, (uint64_t)v->i, v->i < 0 ? -1 : 0);
	} else {
		a->s.nf++;
		a->s.fsum += v->f;
	}
}

/* Whether the int sum fits in int64. */
static inline int sum_fits(const struct agg_state *a)
{
	return a->s.ihi == ((int64_t)a->s.ilo < 0 ? -1 : 0);
}

/* The whole sum as the nearest double: the int part converts exactly
 * rounded (a 128-bit int to double), then one addition. */
static double sum_double(const struct agg_state *a)
{
	__int128 i = (__int128)(((unsigned __int128)(uint64_t)a->s.ihi << 64) | a->s.ilo);

	if (a->s.nf == 0)
		return (double)i;
	if (a->s.nf == a->s.n)
		return a->s.fsum;
	return (double)i + a->s.fsum;
}

static double num(const struct val *v)
{
	return v->type == RT_FLOAT ? v->f : (double)v->i;
}

static void add1(const struct agg_spec *s, struct agg_state *a, const struct val *v,
		 int64_t t)
{
	if (v->type == RT_NULL)
		return;
	switch (s->func) {
	case AGG_COUNT:
		a->s.n++;
		break;
	case AGG_SUM:
	case AGG_AVG:
		sum_add(a, v);
		break;
	case AGG_STDDEV: {
		double x = num(v), d = x - a->m.mean;

		a->m.n++;
		a->m.mean += d / (double)a->m.n;
		a->m.m2 += d * (x - a->m.mean);
		break;
	}
	case AGG_MIN:
	case AGG_MAX: {
		struct val cur;
		int c;

		if (a->x.type == RT_NULL) {
			xset(a, v, t);
			break;
		}
		cur = xval(a);
		c = val_cmp(v, &cur);
		if (s->func == AGG_MIN ? c < 0 : c > 0)
			xset(a, v, t);
		break;
	}
	case AGG_FIRST:
		if (a->x.type == RT_NULL || t < a->x.t)
			xset(a, v, t);
		break;
	case AGG_LAST:
		if (a->x.type == RT_NULL || t >= a->x.t)
			xset(a, v, t);
		break;
	case AGG_DISTINCT: {
		uint64_t bits;
		const char *p;
		uint32_t n;
		uint8_t type;

		if (a->d == NULL)
			a->d = xcalloc(1, sizeof(*a->d));
		dkey(v, &type, &bits, &p, &n);
		dadd(a->d, type, bits, p, n, 1);
		break;
	}
	default:
		if (!s->sketch)
			break;
		if (a->k == NULL)
			a->k = xcalloc(1, sizeof(*a->k));
		sk_add(a->k, num(v));
		break;
	}
}

static void remove1(const struct agg_spec *s, struct agg_state *a, const struct val *v)
{
	if (v->type == RT_NULL)
		return;
	switch (s->func) {
	case AGG_COUNT:
		if (a->s.n > 0)
			a->s.n--;
		break;
	case AGG_DISTINCT:
		dremove(a->d, v);
		break;
	case AGG_P50:
	case AGG_P90:
	case AGG_P95:
	case AGG_P99:
		if (s->sketch && a->k != NULL)
			sk_remove(a->k, num(v));
		break;
	default:
		break;
	}
}

static void merge1(const struct agg_spec *s, struct agg_state *a, const struct agg_state *b)
{
	switch (s->func) {
	case AGG_COUNT:
	case AGG_SUM:
	case AGG_AVG:
		if (b->s.n == 0)
			break;
		a->s.n += b->s.n;
		i128_add(a, b->s.ilo, b->s.ihi);
		if (b->s.nf > 0) {
			a->s.fsum += b->s.fsum;
			a->s.nf += b->s.nf;
		}
		break;
	case AGG_STDDEV: {
		double n, d;

		if (b->m.n == 0)
			break;
		n = (double)(a->m.n + b->m.n);
		d = b->m.mean - a->m.mean;
		a->m.m2 += b->m.m2 + d * d * (double)a->m.n * (double)b->m.n / n;
		a->m.mean += d * (double)b->m.n / n;
		a->m.n += b->m.n;
		break;
	}
	case AGG_MIN:
	case AGG_MAX: {
		struct val v;

		if (b->x.type == RT_NULL)
			break;
		v = xval(b);
		add1(s, a, &v, b->x.t);
		break;
	}
	case AGG_FIRST:
	case AGG_LAST: {
		struct val v;

		if (b->x.type == RT_NULL)
			break;
		v = xval(b);
		add1(s, a, &v, b->x.t);
		break;
	}
	case AGG_DISTINCT:
		if (b->d == NULL || b->d->n == 0)
			break;
		if (a->d == NULL)
			a->d = xcalloc(1, sizeof(*a->d));
		for (uint32_t i = 0; i < b->d->cap; i++) {
			const struct agg_dent *e = &b->d->t[i];
			int str = rt_has_bytes(e->type);

			if (e->cnt != 0)
				dadd(a->d, e->type, str ? 0 : e->v,
				     str && e->len ? (const char *)b->d->pool.p + e->v : NULL, e->len,
				     e->cnt);
		}
		break;
	default:
		if (!s->sketch || b->k == NULL || b->k->count == 0)
			break;
		if (a->k == NULL)
			a->k = xcalloc(1, sizeof(*a->k));
		sk_merge(a->k, b->k);
		break;
	}
}

/* ---- rows --------------------------------------------------------------- */

void agg_add(const struct agg_set *set, struct agg_state *row,
	     const struct val *vals, int64_t t)
{
	for (size_t i = 0; i < set->n; i++)
		add1(&set->v[i], &row[i], &vals[i], t);
}

void agg_remove(const struct agg_set *set, struct agg_state *row,
		const struct val *vals, int64_t t)
{
	(void)t;
	for (size_t i = 0; i < set->n; i++)
		remove1(&set->v[i], &row[i], &vals[i]);
}

void agg_merge(const struct agg_set *set, struct agg_state *dst,
	       const struct agg_state *src)
{
	for (size_t i = 0; i < set->n; i++)
		merge1(&set->v[i], &dst[i], &src[i]);
}

int agg_quantile(const struct agg_set *set, const struct agg_state *row, size_t i,
		 double q, double *out)
{
	const struct agg_spec *s = &set->v[i];

	if (!is_pct(s->func))
		return -1;
	if (s->shared >= 0)
		i = (size_t)s->shared;
	return sk_quantile(row[i].k, q, out);
}

void agg_result(const struct agg_set *set, const struct agg_state *row, size_t i,
		struct val *out)
{
	const struct agg_spec *s = &set->v[i];
	const struct agg_state *a = &row[i];
	double q;

	*out = val_null();
	switch (s->func) {
	case AGG_COUNT:
		*out = val_int(a->s.n);
		break;
	case AGG_SUM:
		if (a->s.n == 0)
			break;
		*out = a->s.nf == 0 && sum_fits(a) ? val_int((int64_t)a->s.ilo)
						   : val_float(sum_double(a));
		break;
	case AGG_AVG:
		if (a->s.n == 0)
			break;
		*out = val_float(sum_double(a) / (double)a->s.n);
		break;
	case AGG_STDDEV:
		if (a->m.n < 2)
			break;
		*out = val_float(sqrt(a->m.m2 / (double)(a->m.n - 1)));
		break;
	case AGG_MIN:
	case AGG_MAX:
	case AGG_FIRST:
	case AGG_LAST:
		if (a->x.type != RT_NULL)
			*out = xval(a);
		break;
	case AGG_DISTINCT:
		*out = val_int(a->d != NULL ? a->d->n : 0);
		break;
	default:
		if (agg_quantile(set, row, i, pct_q(s->func), &q) == 0)
			*out = val_float(q);
		break;
	}
}

void agg_reset(const struct agg_set *set, struct agg_state *row)
{
	for (size_t i = 0; i < set->n; i++) {
		struct agg_state *a = &row[i];

		switch (set->v[i].func) {
		case AGG_MIN:
		case AGG_MAX:
		case AGG_FIRST:
		case AGG_LAST:
			a->x.type = RT_NULL;
			a->x.t = 0;
			a->x.u.i = 0;
			break;
		case AGG_DISTINCT:
			dreset(a->d);
			break;
		case AGG_P50:
		case AGG_P90:
		case AGG_P95:
		case AGG_P99:
			sk_reset(a->k);
			break;
		default:
			memset(a, 0, sizeof(*a));
			break;
		}
	}
}

void agg_free(const struct agg_set *set, struct agg_state *row)
{
	if (row == NULL)
		return;
	for (size_t i = 0; i < set->n; i++) {
		struct agg_state *a = &row[i];

		switch (set->v[i].func) {
		case AGG_MIN:
		case AGG_MAX:
		case AGG_FIRST:
		case AGG_LAST:
			free(a->x.box);
			break;
		case AGG_DISTINCT:
			dfree(a->d);
			break;
		case AGG_P50:
		case AGG_P90:
		case AGG_P95:
		case AGG_P99:
			sk_free(a->k);
			break;
		default:
			break;
		}
		memset(a, 0, sizeof(*a));
	}
}

size_t agg_heap_bytes(const struct agg_set *set, const struct agg_state *row)
{
	size_t n = 0;

	for (size_t i = 0; i < set->n; i++) {
		const struct agg_state *a = &row[i];

		switch (set->v[i].func) {
		case AGG_MIN:
		case AGG_MAX:
		case AGG_FIRST:
		case AGG_LAST:
			if (a->x.box != NULL)
				n += sizeof(*a->x.box) + a->x.box->cap;
			break;
		case AGG_DISTINCT:
			if (a->d != NULL)
				n += sizeof(*a->d) + a->d->cap * sizeof(*a->d->t) + a->d->pool.cap;
			break;
		case AGG_P50:
		case AGG_P90:
		case AGG_P95:
		case AGG_P99:
			if (a->k != NULL)
				n += sizeof(*a->k) + (a->k->pos.cap + a->k->neg.cap) * sizeof(uint64_t);
			break;
		default:
			break;
		}
	}
	return n;
}

/* ---- snapshots ---------------------------------------------------------- */

void agg_set_describe(const struct agg_set *set, struct buf *out)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct agg_spec *s = &set->v[i];

		if (i > 0)
			buf_putc(out, ',');
		buf_printf(out, "%s=%s", s->name, func_names[s->func]);
		if (s->field != NULL)
			buf_printf(out, ":%s", s->field);
	}
}

/* A value of min/max/first/last or a distinct entry: bits or bytes. */
static void snap_val(struct buf *out, uint8_t type, uint64_t bits, const void *p, uint32_t n)
{
	snap_u8(out, type);
	if (rt_has_bytes(type))
		snap_bytes(out, p, n);
	else
		snap_u64(out, bits);
}

static void snap_store(struct buf *out, const struct agg_store *st)
{
	snap_u32(out, (uint32_t)st->lo);
	snap_u32(out, st->n);
	for (uint32_t i = 0; i < st->n; i++)
		snap_u64(out, st->c[i]);
}

/* The forms of a sum's state in a snapshot (a byte, then its fields):
 * most groups hold ints only (an int64 sum: the high half of the 128 bits
 * is the low half's sign) or floats only, and need 16 of the 40 bytes. */
enum { SUM_INTS, SUM_FLOATS, SUM_MIXED };

static void snap_sum(struct buf *out, const struct agg_state *a)
{
	uint64_t fbits;

	memcpy(&fbits, &a->s.fsum, 8);
	if (a->s.nf == 0 && fbits == 0 && a->s.ihi == ((int64_t)a->s.ilo < 0 ? -1 : 0)) {
		snap_u8(out, SUM_INTS);
		snap_i64(out, a->s.n);
		snap_u64(out, a->s.ilo);
	} else if (a->s.nf == a->s.n && a->s.ilo == 0 && a->s.ihi == 0) {
		snap_u8(out, SUM_FLOATS);
		snap_i64(out, a->s.n);
		snap_f64(out, a->s.fsum);
	} else {
		snap_u8(out, SUM_MIXED);
		snap_i64(out, a->s.n);
		snap_u64(out, a->s.ilo);
		snap_i64(out, a->s.ihi);
		snap_f64(out, a->s.fsum);
		snap_i64(out, a->s.nf);
	}
}

void agg_row_snapshot(const struct agg_set *set, const struct agg_state *row, struct buf *out)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct agg_spec *s = &set->v[i];
		const struct agg_state *a = &row[i];

		switch (s->func) {
		case AGG_COUNT:
			snap_i64(out, a->s.n);	/* a count keeps nothing else */
			break;
		case AGG_SUM:
		case AGG_AVG:
			snap_sum(out, a);
			break;
		case AGG_STDDEV:
			snap_i64(out, a->m.n);
			snap_f64(out, a->m.mean);
			snap_f64(out, a->m.m2);
			break;
		case AGG_MIN:
		case AGG_MAX:
		case AGG_FIRST:
		case AGG_LAST:
			snap_val(out, a->x.type, (uint64_t)a->x.u.i,
				 a->x.box ? a->x.box->p : NULL, a->x.box ? a->x.box->len : 0);
			snap_i64(out, a->x.t);
			break;
		case AGG_DISTINCT:
			snap_u32(out, a->d ? a->d->n : 0);
			for (uint32_t j = 0; a->d != NULL && j < a->d->cap; j++) {
				const struct agg_dent *e = &a->d->t[j];
				int str = rt_has_bytes(e->type);

				if (e->cnt == 0)
					continue;
				snap_val(out, e->type, e->v, str && e->len ? a->d->pool.p + e->v : NULL,
					 e->len);
				snap_u32(out, e->cnt);
			}
			break;
		default:
			if (!s->sketch)
				break;	/* reads an earlier aggregate's sketch */
			snap_u64(out, a->k ? a->k->count : 0);
			if (a->k == NULL || a->k->count == 0)
				break;
			snap_u64(out, a->k->zero);
			snap_store(out, &a->k->pos);
			snap_store(out, &a->k->neg);
			break;
		}
	}
}

/* A value written by snap_val(): its type, bits or bytes (borrowed). */
static void restore_val(struct snap_rd *r, struct val *v)
{
	size_t n;

	*v = val_null();
	v->type = snap_get_u8(r);
	if (v->type > RT_BYTES) {
		snap_fail(r, "an unknown value type");
		v->type = RT_NULL;
	} else if (rt_has_bytes(v->type)) {
		v->s.p = (const char *)snap_get_bytes(r, UINT32_MAX, &n);
		v->s.n = n;
		if (v->s.p == NULL)
			v->type = RT_NULL;
	} else {
		v->i = (int64_t)snap_get_u64(r);
	}
}

static void restore_store(struct snap_rd *r, struct agg_store *st)
{
	int32_t lo = (int32_t)snap_get_u32(r);
	uint32_t n = snap_get_u32(r), cap = 64;

	if (r->bad != NULL)
		return;
	if (n > AGG_MAX_BINS || n > (r->n - r->off) / 8) {
		snap_fail(r, "a sketch with too many bins");
		return;
	}
	if (n == 0)
		return;
	while (cap < n)
		cap *= 2;
	free(st->c);
	st->c = xcalloc(cap, sizeof(*st->c));
	st->cap = cap;
	st->lo = lo;
	st->n = n;
	st->total = 0;
	for (uint32_t i = 0; i < n; i++) {
		st->c[i] = snap_get_u64(r);
		st->total += st->c[i];
	}
	if (r->bad == NULL && st->total == 0)
		snap_fail(r, "an empty sketch store with bins");
}

/* A sum written by snap_sum(). */
static void restore_sum(struct snap_rd *r, struct agg_state *a)
{
	uint8_t form = snap_get_u8(r);

	a->s.n = snap_get_i64(r);
	a->s.ilo = 0;
	a->s.ihi = 0;
	a->s.fsum = 0;
	a->s.nf = 0;
	switch (form) {
	case SUM_INTS:
		a->s.ilo = snap_get_u64(r);
		a->s.ihi = (int64_t)a->s.ilo < 0 ? -1 : 0;
		break;
	case SUM_FLOATS:
		a->s.fsum = snap_get_f64(r);
		a->s.nf = a->s.n;
		break;
	case SUM_MIXED:
		a->s.ilo = snap_get_u64(r);
		a->s.ihi = snap_get_i64(r);
		a->s.fsum = snap_get_f64(r);
		a->s.nf = snap_get_i64(r);
		break;
	default:
		snap_fail(r, "a sum of an unknown form");
		return;
	}
	if (a->s.n < 0 || a->s.nf < 0 || a->s.nf > a->s.n)
		snap_fail(r, "a sum with inconsistent counts");
}

int agg_row_restore(const struct agg_set *set, struct agg_state *row, struct snap_rd *r)
{
	for (size_t i = 0; i < set->n && r->bad == NULL; i++) {
		const struct agg_spec *s = &set->v[i];
		struct agg_state *a = &row[i];
		struct val v;

		switch (s->func) {
		case AGG_COUNT:
			a->s.n = snap_get_i64(r);
			if (a->s.n < 0)
				snap_fail(r, "a negative count");
			break;
		case AGG_SUM:
		case AGG_AVG:
			restore_sum(r, a);
			break;
		case AGG_STDDEV:
			a->m.n = snap_get_i64(r);
			a->m.mean = snap_get_f64(r);
			a->m.m2 = snap_get_f64(r);
			if (a->m.n < 0)
				snap_fail(r, "a negative count");
			break;
		case AGG_MIN:
		case AGG_MAX:
		case AGG_FIRST:
		case AGG_LAST: {
			int64_t t;

			restore_val(r, &v);
			t = snap_get_i64(r);
			if (r->bad == NULL && v.type != RT_NULL)
				xset(a, &v, t);
			break;
		}
		case AGG_DISTINCT: {
			uint32_t n = snap_get_count(r, 1 + 4 + 4);	/* "": type, length, count */

			for (uint32_t j = 0; j < n && r->bad == NULL; j++) {
				uint32_t cnt;
				int str;

				restore_val(r, &v);
				cnt = snap_get_u32(r);
				if (r->bad != NULL)
					break;
				if (cnt == 0 || v.type == RT_NULL) {
					snap_fail(r, "an empty distinct entry");
					break;
				}
				if (a->d == NULL)
					a->d = xcalloc(1, sizeof(*a->d));
				str = rt_has_bytes(v.type);
				dadd(a->d, v.type, str ? 0 : (uint64_t)v.i, str ? v.s.p : NULL,
				     str ? (uint32_t)v.s.n : 0, cnt);
			}
			if (r->bad == NULL && n > 0 && a->d->n != n)
				snap_fail(r, "a distinct value listed twice");
			break;
		}
		default: {
			uint64_t count;

			if (!s->sketch)
				break;
			count = snap_get_u64(r);
			if (r->bad != NULL || count == 0)
				break;
			if (a->k == NULL)
				a->k = xcalloc(1, sizeof(*a->k));
			a->k->count = count;
			a->k->zero = snap_get_u64(r);
			restore_store(r, &a->k->pos);
			restore_store(r, &a->k->neg);
			if (r->bad == NULL &&
			    a->k->zero + a->k->pos.total + a->k->neg.total != count)
				snap_fail(r, "a sketch whose bins do not add up to its count");
			break;
		}
		}
	}
	return r->bad != NULL ? -1 : 0;
}
