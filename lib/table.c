/* table.c - lookup tables for enrichment (see table.h). */
#include "config.h"
#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"
#include "rtime.h"
#include "snap.h"

/* ---- keys ---------------------------------------------------------- */

int tab_names_parse(struct tab_names *l, const char *list, char *err, size_t errsz)
{
	const char *p = list;

	memset(l, 0, sizeof(*l));
	for (;;) {
		const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
		size_t n = (size_t)(end - p);

		if (n == 0) {
			snprintf(err, errsz, "empty field name in '%s'", list);
			goto bad;
		}
		if (n > 255) {
			snprintf(err, errsz, "field name longer than 255 bytes in '%s'", list);
			goto bad;
		}
		l->name = xrealloc(l->name, (l->n + 1) * sizeof(*l->name));
		l->len = xrealloc(l->len, l->n + 1);
		l->name[l->n] = xstrndup(p, n);
		l->len[l->n] = (uint8_t)n;
		l->n++;
		if (comma == NULL)
			return 0;
		p = comma + 1;
	}
bad:
	tab_names_free(l);
	return -1;
}

void tab_names_free(struct tab_names *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->name[i]);
	free(l->name);
	free(l->len);
	memset(l, 0, sizeof(*l));
}

static int names_has(const struct tab_names *l, const char *name, size_t n)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->len[i] == n && memcmp(l->name[i], name, n) == 0)
			return 1;
	return 0;
}

int tab_key(const struct tab_names *names, const struct rec *r, struct buf *out,
	    size_t *bad)
{
	for (size_t i = 0; i < names->n; i++) {
		const struct rec_field *f = rec_get(r, names->name[i], names->len[i]);

		if (f == NULL || key_part(out, &f->v) < 0) {
			*bad = i;
			return f == NULL ? TAB_KEY_MISSING : TAB_KEY_NULL;
		}
	}
	return TAB_KEY_OK;
}

/* ---- the fields a join adds ------------------------------------------ */

/* Bytes of a value in the binary layout, after type and name. */
static size_t val_size(const uint8_t *p, size_t avail, int type)
{
	uint32_t n;

	switch (type) {
	case RT_INT:
	case RT_FLOAT:
	case RT_TIME:
		return 8;
	case RT_STR:
	case RT_JSON:
	case RT_BYTES:
		if (avail < 4)
			return avail + 1;
		memcpy(&n, p, 4);
		return 4 + (size_t)n;
	default:
		return 0;
	}
}

static void put_field(struct buf *out, const struct tab_sel *s, const struct rec_field *f)
{
	size_t vn = rt_has_bytes(f->v.type) ? 4 + (size_t)f->v.s.n
		    : (f->v.type == RT_INT || f->v.type == RT_FLOAT || f->v.type == RT_TIME) ? 8 : 0;
	uint8_t *d = buf_reserve(out, 2 + s->nprefix + f->nlen + vn);

	*d++ = f->v.type;
	*d++ = (uint8_t)(s->nprefix + f->nlen);
	if (s->nprefix > 0)
		memcpy(d, s->prefix, s->nprefix);
	d += s->nprefix;
	memcpy(d, f->name, f->nlen);
	d += f->nlen;
	if (f->v.type == RT_INT || f->v.type == RT_FLOAT || f->v.type == RT_TIME) {
		memcpy(d, &f->v.i, 8);
	} else if (vn > 0) {
		memcpy(d, &f->v.s.n, 4);
		if (f->v.s.n > 0)
			memcpy(d + 4, f->v.s.p, f->v.s.n);
	}
	out->len = (size_t)(d + vn - out->p);
}

int tab_sel_encode(const struct tab_sel *s, const struct rec *row, struct buf *out,
		   uint32_t *nf, char *err, size_t errsz)
{
	uint32_t n = 0;

	if (s->seen != NULL)
		s->seen[s->fields.n] = 1;
	if (s->fields.n > 0) {
		for (size_t i = 0; i < s->fields.n; i++) {
			const struct rec_field *f = rec_get(row, s->fields.name[i], s->fields.len[i]);

			if (f == NULL)
				continue;
			if (s->seen != NULL)
				s->seen[i] = 1;
			if (s->nprefix + f->nlen > 255)
				goto long_name;
			put_field(out, s, f);
			n++;
		}
	} else {
		for (uint32_t i = 0; i < row->n; i++) {
			const struct rec_field *f = &row->f[i];

			if (names_has(&s->skip, f->name, f->nlen))
				continue;
			if (s->nprefix + f->nlen > 255)
				goto long_name;
			put_field(out, s, f);
			n++;
		}
	}
	*nf = n;
	return 0;
long_name:
	snprintf(err, errsz, "prefix '%s' makes a field name longer than 255 bytes", s->prefix);
	return -1;
}

/* One bit of 64 for a field name, from its length and end bytes: a row
 * field whose bit the record lacks cannot clash, and needs no compare. */
static inline uint64_t name_bit(const uint8_t *name, size_t n)
{
	return (uint64_t)1 << ((n * 7 + (n ? name[0] * 3u + name[n - 1] : 0u)) & 63);
}

int tab_join_into(struct buf *out, const uint8_t *payload, size_t plen,
		  const struct rec *r, const uint8_t *enc, size_t len, uint32_t n)
{
	const uint8_t *p = enc, *end = enc + len;
	uint32_t added = 0, total;
	uint64_t names = 0;
	uint8_t *d;

	for (uint32_t i = 0; i < r->n; i++)
		names |= name_bit((const uint8_t *)r->f[i].name, r->f[i].nlen);

	buf_reset(out);
	d = buf_reserve(out, plen + len);
	memcpy(d, payload, plen);
	out->len = plen;
	for (uint32_t i = 0; i < n && p + 2 <= end; i++) {
		size_t flen = 2 + (size_t)p[1];

		flen += val_size(p + flen, (size_t)(end - p) - flen, p[0]);
		if (!(names & name_bit(p + 2, p[1])) || rec_get(r, (const char *)p + 2, p[1]) == NULL) {
			memcpy(out->p + out->len, p, flen);
			out->len += flen;
			added++;
		}
		p += flen;
	}
	total = r->n + added;
	if (total > 65535)
		return -1;
	out->p[0] = (uint8_t)total;
	out->p[1] = (uint8_t)(total >> 8);
	return (int)added;
}

/* ---- the table ------------------------------------------------------ */

struct tab_ent {
	struct tab_ver **v;	/* by valid-from, then arrival */
	uint32_t nv, cap;
	uint32_t klen;
	struct tab_ver *one;	/* v's storage while cap == 1 */
	struct tab_ver *inl;	/* the version allocated with the entry (so that
				 * a lookup touches one block), or NULL */
	int in_mem;		/* allocated in the table's arena */
	uint8_t key[];		/* then, aligned, the inline version */
};

static void ver_free(struct tab_ent *e, struct tab_ver *v)
{
	if (v != e->inl)
		free(v);
}

void tab_init(struct tab *t)
{
	memset(t, 0, sizeof(*t));
	t->mask = 15;
	t->slot = xcalloc(t->mask + 1, sizeof(*t->slot));
	t->seed = 0x9e3779b97f4a7c15ULL;
}

static void ent_free(struct tab_ent *e)
{
	for (uint32_t i = 0; i < e->nv; i++)
		ver_free(e, e->v[i]);
	if (e->v != &e->one)
		free(e->v);
	if (!e->in_mem)
		free(e);
}

void tab_free(struct tab *t)
{
	if (t == NULL || t->slot == NULL)
		return;
	for (size_t i = 0; i <= t->mask; i++) {
		struct tab_ent *e = t->slot[i].e;

		/* Keys loaded in bulk with one row own nothing else. */
		if (e != NULL && !(e->in_mem && e->nv == 1 && e->v[0] == e->inl))
			ent_free(e);
	}
	free(t->slot);
	arena_free(&t->mem);
	memset(t, 0, sizeof(*t));
}

/* The slot holding key, or the empty slot where it would go. */
static size_t probe(const struct tab *t, const uint8_t *key, size_t klen, uint64_t h)
{
	size_t i = h & t->mask;

	for (;;) {
		const struct tab_slot *s = &t->slot[i];

		if (s->e == NULL ||
		    (s->hash == h && s->e->klen == klen && memcmp(s->e->key, key, klen) == 0))
			return i;
		i = (i + 1) & t->mask;
	}
}

static void grow(struct tab *t)
{
	struct tab_slot *old = t->slot;
	size_t oldn = t->mask + 1;

	t->mask = oldn * 2 - 1;
	t->slot = xcalloc(oldn * 2, sizeof(*t->slot));
	for (size_t i = 0; i < oldn; i++) {
		size_t j;

		if (old[i].e == NULL)
			continue;
		j = old[i].hash & t->mask;
		while (t->slot[j].e != NULL)
			j = (j + 1) & t->mask;
		t->slot[j] = old[i];
	}
	free(old);
}

void tab_reserve(struct tab *t, size_t n)
{
	while (n * 2 > t->mask + 1 && n < ((size_t)1 << 40))
		grow(t);
}

/* Removes the entry at slot i, shifting later ones of the run back so
 * that linear probing still finds them. */
static void slot_remove(struct tab *t, size_t i)
{
	size_t j = i;

	t->slot[i].e = NULL;
	for (;;) {
		size_t k;

		j = (j + 1) & t->mask;
		if (t->slot[j].e == NULL)
			return;
		k = t->slot[j].hash & t->mask;
		/* Move j back to i unless its home k lies cyclically in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		t->slot[i] = t->slot[j];
		t->slot[j].e = NULL;
		i = j;
	}
}

static int ent_live(const struct tab_ent *e)
{
	return e->nv > 0 && !e->v[e->nv - 1]->dead;
}

/* Adds version v to e, after every version valid no later than it. */
static void ent_add(struct tab *t, struct tab_ent *e, struct tab_ver *v)
{
	uint32_t at = e->nv;
	int was = ent_live(e);

	if (e->nv == e->cap) {
		uint32_t cap = e->cap * 2;
		struct tab_ver **nv = xmalloc(cap * sizeof(*nv));

		memcpy(nv, e->v, e->nv * sizeof(*nv));
		if (e->v != &e->one)
			free(e->v);
		e->v = nv;
		e->cap = cap;
	}
	while (at > 0 && e->v[at - 1]->from > v->from)
		at--;
	memmove(&e->v[at + 1], &e->v[at], (e->nv - at) * sizeof(*e->v));
	e->v[at] = v;
	e->nv++;
	t->nver++;
	t->nlive += ent_live(e) - was;
}

static struct tab_ver *ver_init(struct tab_ver *v, int64_t from, const uint8_t *enc, size_t len,
				uint32_t nf, int dead)
{
	v->from = from;
	v->nf = nf;
	v->len = (uint32_t)len;
	v->dead = (uint8_t)dead;
	if (len)
		memcpy(v->enc, enc, len);
	return v;
}

static struct tab_ver *ver_new(int64_t from, const uint8_t *enc, size_t len, uint32_t nf,
			       int dead)
{
	return ver_init(xmalloc(sizeof(struct tab_ver) + len), from, enc, len, nf, dead);
}

/* Where the inline version starts after a key of klen bytes. */
static size_t inl_at(size_t klen)
{
	return (sizeof(struct tab_ent) + klen + 7) & ~(size_t)7;
}

/* The entry for key; a new one when create, with room for an inline
 * version of vlen bytes when vlen >= 0. */
static struct tab_ent *ent_get(struct tab *t, const uint8_t *key, size_t klen, int create,
			       long vlen)
{
	uint64_t h = rec_hash(key, klen, t->seed);
	size_t i = probe(t, key, klen, h);
	struct tab_ent *e;

	if (t->slot[i].e != NULL || !create)
		return t->slot[i].e;
	if ((t->nkeys + 1) * 2 > t->mask + 1) {
		grow(t);
		i = probe(t, key, klen, h);
	}
	if (vlen >= 0) {
		size_t n = inl_at(klen) + sizeof(struct tab_ver) + (size_t)vlen;

		e = t->bulk ? arena_alloc(&t->mem, n) : xmalloc(n);
		e->inl = (struct tab_ver *)((uint8_t *)e + inl_at(klen));
	} else {
		e = t->bulk ? arena_alloc(&t->mem, sizeof(*e) + klen) : xmalloc(sizeof(*e) + klen);
		e->inl = NULL;
	}
	e->in_mem = t->bulk;
	e->nv = 0;
	e->cap = 1;
	e->v = &e->one;
	e->klen = (uint32_t)klen;
	memcpy(e->key, key, klen);
	t->slot[i].hash = h;
	t->slot[i].e = e;
	t->nkeys++;
	return e;
}

void tab_upsert(struct tab *t, const uint8_t *key, size_t klen, int64_t from,
		const uint8_t *enc, size_t len, uint32_t nf)
{
	struct tab_ent *e = ent_get(t, key, klen, 1, (long)len);
	struct tab_ver *v;

	if (e->nv == 0 && e->inl != NULL)
		v = ver_init(e->inl, from, enc, len, nf, 0);
	else
		v = ver_new(from, enc, len, nf, 0);
	if (from == TAB_NOW && e->nv > 0) {
		ver_free(e, e->v[0]);
		e->v[0] = v;
		return;
	}
	ent_add(t, e, v);
}

int tab_delete(struct tab *t, const uint8_t *key, size_t klen, int64_t at)
{
	uint64_t h = rec_hash(key, klen, t->seed);
	size_t i = probe(t, key, klen, h);
	struct tab_ent *e = t->slot[i].e;
	int had;

	if (at != TAB_NOW) {
		e = ent_get(t, key, klen, 1, -1);
		had = ent_live(e);
		ent_add(t, e, ver_new(at, NULL, 0, 0, 1));
		return had;
	}
	if (e == NULL)
		return 0;
	t->nver -= e->nv;
	t->nlive -= ent_live(e);
	t->nkeys--;
	ent_free(e);
	slot_remove(t, i);
	return 1;
}

void tab_clear(struct tab *t, int64_t at)
{
	if (at == TAB_NOW) {
		tab_free(t);
		tab_init(t);
		return;
	}
	for (size_t i = 0; i <= t->mask; i++) {
		struct tab_ent *e = t->slot[i].e;

		if (e != NULL && ent_live(e))
			ent_add(t, e, ver_new(at, NULL, 0, 0, 1));
	}
}

uint64_t tab_hash(const struct tab *t, const uint8_t *key, size_t klen)
{
	return rec_hash(key, klen, t->seed);
}

void tab_prefetch_row(const struct tab *t, uint64_t hash)
{
	const struct tab_slot *s = &t->slot[hash & t->mask];

	if (s->e != NULL && s->hash == hash) {
		const uint8_t *p = (const uint8_t *)s->e;

		__builtin_prefetch(p);
		__builtin_prefetch(p + 64);
		__builtin_prefetch(p + 128);
	}
}

void tab_prefetch_versions(const struct tab *t, uint64_t hash, int deep)
{
	const struct tab_slot *s = &t->slot[hash & t->mask];
	const struct tab_ent *e = s->e;

	if (e == NULL || s->hash != hash || e->nv < 2)
		return;
	if (!deep) {
		__builtin_prefetch(e->v);
		return;
	}
	for (uint32_t i = 0; i < e->nv && i < 8; i++)
		__builtin_prefetch(e->v[i]);
}

const struct tab_ver *tab_find(const struct tab *t, const uint8_t *key, size_t klen,
			       int64_t at, int64_t ttl)
{
	return tab_find_h(t, key, klen, rec_hash(key, klen, t->seed), at, ttl);
}

const struct tab_ver *tab_find_h(const struct tab *t, const uint8_t *key, size_t klen,
				 uint64_t h, int64_t at, int64_t ttl)
{
	const struct tab_ent *e = t->slot[probe(t, key, klen, h)].e;
	const struct tab_ver *v;
	uint32_t lo = 0, hi;

	if (e == NULL || e->nv == 0)
		return NULL;
	if (at == TAB_NOW) {
		v = e->v[e->nv - 1];
		return v->dead ? NULL : v;
	}
	/* The first version valid after at; the one before it is the pick. */
	hi = e->nv;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (e->v[mid]->from <= at)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	v = e->v[lo - 1];
	if (v->dead)
		return NULL;
	if (ttl > 0 && (uint64_t)at - (uint64_t)v->from > (uint64_t)ttl)
		return NULL;
	return v;
}

/* ---- snapshots ---------------------------------------------------------- */

#define TAB_MAGIC "RTTB"
#define TAB_SEED UINT64_C(0x7274616974616231)	/* "rtaitab1" */

void tab_snapshot(const struct tab *t, struct buf *out)
{
	size_t head;

	/* Room for most of it at once: growing by doubling copies it again. */
	buf_reserve(out, (size_t)t->nkeys * 48 + (size_t)t->nver * 32 + 64);
	head = snap_begin(out, TAB_MAGIC, TAB_SNAP_VERSION);
	snap_u64(out, t->nkeys);
	for (size_t i = 0; i <= t->mask; i++) {
		const struct tab_ent *e = t->slot[i].e;

		if (e == NULL)
			continue;
		snap_bytes(out, e->key, e->klen);
		snap_u32(out, e->nv);
		for (uint32_t j = 0; j < e->nv; j++) {
			const struct tab_ver *v = e->v[j];

			snap_i64(out, v->from);
			snap_u8(out, v->dead);
			snap_u32(out, v->nf);
			snap_bytes(out, v->enc, v->len);
		}
	}
	snap_seal(out, head, TAB_SEED);
}

/* Whether enc/len holds exactly nf fields in the layout tab_sel_encode()
 * writes (type, name length, name, value), so that joining it never reads
 * past its end. */
static int enc_valid(const uint8_t *enc, size_t len, uint32_t nf)
{
	size_t off = 0;

	for (uint32_t i = 0; i < nf; i++) {
		size_t vn;
		int type;

		if (len - off < 2 || enc[off] > RT_BYTES)
			return 0;
		type = enc[off];
		off += 2 + (size_t)enc[off + 1];
		if (off > len)
			return 0;
		vn = val_size(enc + off, len - off, type);
		if (vn > len - off)
			return 0;
		off += vn;
	}
	return off == len;
}

int tab_restore(struct tab *t, const void *p, size_t len, char *err, size_t errlen)
{
	struct snap_rd r;
	uint64_t nkeys;
	int bulk = t->bulk, rc = -1;

	if (t->nkeys != 0) {
		snprintf(err, errlen, "the table already holds rows (restore into a new one)");
		return -1;
	}
	if (snap_open(&r, p, len, TAB_MAGIC, TAB_SNAP_VERSION, TAB_SEED, "table", err, errlen) < 0)
		return -1;
	nkeys = snap_get_u64(&r);
	/* a key takes at least 8 bytes: its length and its count of versions */
	if (r.bad == NULL && nkeys > (len - r.off) / 8)
		snap_fail(&r, "a count of keys larger than the image can hold");
	if (r.bad == NULL)
		tab_reserve(t, (size_t)nkeys);
	t->bulk = 1;
	for (uint64_t k = 0; k < nkeys && r.bad == NULL; k++) {
		const uint8_t *key, *enc;
		size_t klen, elen;
		uint32_t nv;
		struct tab_ent *e;
		long first = -1;
		size_t at;

		key = snap_get_bytes(&r, len, &klen);
		/* a version takes at least 17 bytes: from, delete, fields, length */
		nv = snap_get_count(&r, 17);
		if (r.bad != NULL)
			break;
		if (nv == 0) {
			snap_fail(&r, "a key without a version");
			break;
		}
		/* The first version goes inline when it is a row, as tab_upsert's. */
		at = r.off;
		(void)snap_get_i64(&r);
		if (snap_get_u8(&r) == 0) {
			(void)snap_get_u32(&r);
			if (snap_get_bytes(&r, len, &elen) != NULL)
				first = (long)elen;
		}
		r.off = at;
		if (r.bad != NULL)
			break;
		e = ent_get(t, key, klen, 1, first);
		if (e->nv != 0) {
			snap_fail(&r, "a key that occurs twice");
			break;
		}
		for (uint32_t j = 0; j < nv; j++) {
			int64_t from = snap_get_i64(&r);
			uint8_t dead = snap_get_u8(&r);
			uint32_t nf = snap_get_u32(&r);
			struct tab_ver *v;

			enc = snap_get_bytes(&r, len, &elen);
			if (r.bad != NULL)
				break;
			if (dead > 1 || (dead && (nf != 0 || elen != 0)) || !enc_valid(enc, elen, nf)) {
				snap_fail(&r, "a version whose fields do not parse");
				break;
			}
			if (e->nv > 0 && e->v[e->nv - 1]->from > from) {
				snap_fail(&r, "versions out of order");
				break;
			}
			if (j == 0 && first >= 0)
				v = ver_init(e->inl, from, enc, elen, nf, dead);
			else
				v = ver_new(from, enc, elen, nf, dead);
			ent_add(t, e, v);
		}
	}
	if (r.bad == NULL && r.off != len)
		snap_fail(&r, "bytes after the last key");
	if (r.bad != NULL)
		snprintf(err, errlen, "a corrupt table snapshot: byte %zu: %s", r.off, r.bad);
	else
		rc = 0;
	t->bulk = bulk;
	return rc;
}
