/* over.c - per-event rolling aggregates: key state, waiting records, the
 * loop of rtai-window --over. */
#include "config.h"
#include "over.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "buf.h"
#include "cli.h"
#include "rtime.h"

/* ---- stored values and the ring of a key -------------------------------- */

/* A value kept in a ring entry: numbers by their bits, strings as an offset
 * into the key's string bytes. */
struct oval {
	uint64_t u;
	uint32_t n;
	uint8_t type;
};

/* One record of a key's range: its event time and one value per distinct
 * input field of the aggregates (a "slot"). */
struct oent {
	int64_t t;
	struct oval v[];
};

/* A deque of absolute entry numbers, as a ring. */
struct odq {
	uint64_t *v;
	uint32_t cap, head, n;
};

struct okey {
	struct okey *prev, *next;	/* expiry list, least recent first;
					 * next links the free list too */
	uint64_t hash;
	int64_t tmax;			/* newest event time */
	uint8_t *ring;			/* cap entries of o->esz bytes */
	uint64_t cap;			/* a power of two */
	uint64_t head, act, tail;	/* entry numbers: held [head, tail),
					 * in the running row [act, tail) */
	uint64_t churn;			/* removals since the row was rebuilt */
	int drift;			/* floats entered the running row */
	struct buf str;			/* string bytes of the entries */
	size_t garbage;			/* bytes of str no entry uses */
	uint8_t *kp;			/* the encoded key: kin, or a heap block */
	uint32_t klen, kcap;
	uint8_t kin[24];		/* short keys live here */
	struct agg_state *row;		/* running aggregates over [act, tail) */
	struct odq *dq;			/* per aggregate; min, max, first, last */
};

/* ---- waiting records ------------------------------------------------------ */

#define CHUNK_SIZE (1u << 20)
#define CHUNKS_KEPT 4

/* A block of frame payloads; recycled once no waiting record uses it. */
struct pchunk {
	struct pchunk *next;	/* free list */
	size_t cap, used;
	uint64_t live;		/* waiting records in it */
	uint8_t data[];
};

struct pend {
	int64_t t;		/* event time */
	uint64_t seq;		/* arrival order */
	uint64_t recno;		/* for messages */
	int64_t ingest;
	const uint8_t *p;	/* payload, in c */
	struct pchunk *c;
	uint32_t len;
	uint16_t flags;
	uint8_t enc;
};

/* ---- the engine ------------------------------------------------------------ */

enum { DQ_NONE, DQ_MIN, DQ_MAX, DQ_FIRST, DQ_LAST };

struct over {
	struct over_conf c;
	struct rtai_wr *out;
	const struct agg_set *set;
	const char *name;		/* input name, for messages */
	size_t nagg;
	int *slot;			/* per aggregate: its slot, -1 for a bare count */
	uint8_t *dqk;			/* per aggregate: DQ_* */
	int ndq;			/* aggregates kept by a deque */
	uint8_t *drifts;		/* per slot: feeds a sum, avg or stddev */
	uint8_t *stddev;		/* per slot: feeds a stddev */
	size_t nslot, esz;		/* slots; bytes per entry */
	size_t keysz;			/* bytes per key block */

	struct okey **tab;		/* open addressing, linear probing */
	size_t tcap;
	struct okey *lru, *mru;		/* expiry list */
	struct okey *freek;		/* recycled keys */
	uint64_t nfree;

	int64_t maxt;			/* largest event time seen */
	int64_t wm, wm_sent;		/* watermark; last one written */
	uint64_t seq;

	struct pend *heap;		/* waiting records */
	size_t np, pcap;
	struct pchunk *cur, *freec;
	size_t nfreec, nchunks;

	struct pend *grp;		/* records leaving together */
	struct okey **gk;
	struct rtai_rec *recs;
	size_t gcap;

	struct rtai_val *vals, *rvals;	/* per aggregate */
	struct agg_state *scratch;	/* out-of-order results */
	struct buf kbuf, obuf;
	struct over_stats st;
	char err[512];
};

static int fail(struct over *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct over *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(o->err, sizeof(o->err), fmt, ap);
	va_end(ap);
	return -1;
}

static inline struct oent *ent(const struct over *o, const struct okey *k, uint64_t i)
{
	return (struct oent *)(k->ring + (size_t)(i & (k->cap - 1)) * o->esz);
}

static inline struct rtai_val oget(const struct okey *k, const struct oval *s)
{
	struct rtai_val v = { .type = s->type };

	if (s->type == RT_STR || s->type == RT_JSON) {
		v.s.p = (const char *)k->str.p + s->u;
		v.s.n = s->n;
	} else {
		v.i = (int64_t)s->u;
	}
	return v;
}

/* The values of entry e per aggregate; those kept by deques read as null
 * unless all (so agg_add() leaves them alone in the running row). */
static void ent_vals(const struct over *o, const struct okey *k, const struct oent *e,
		     struct rtai_val *vals, int all)
{
	for (size_t i = 0; i < o->nagg; i++) {
		if (o->slot[i] < 0)
			vals[i] = val_bool(1);
		else if (!all && o->dqk[i] != DQ_NONE)
			vals[i] = val_null();
		else
			vals[i] = oget(k, &e->v[o->slot[i]]);
	}
}

/* ---- deques ------------------------------------------------------------------ */

static void dq_push(struct odq *q, uint64_t x)
{
	if (q->n == q->cap) {
		uint32_t cap = q->cap ? q->cap * 2 : 4;
		uint64_t *v = xmalloc(cap * sizeof(*v));

		for (uint32_t j = 0; j < q->n; j++)
			v[j] = q->v[(q->head + j) & (q->cap - 1)];
		free(q->v);
		q->v = v;
		q->cap = cap;
		q->head = 0;
	}
	q->v[(q->head + q->n++) & (q->cap - 1)] = x;
}

static inline uint64_t dq_front(const struct odq *q) { return q->v[q->head]; }
static inline uint64_t dq_back(const struct odq *q)
{
	return q->v[(q->head + q->n - 1) & (q->cap - 1)];
}
static inline void dq_pop_front(struct odq *q)
{
	q->head = (q->head + 1) & (q->cap - 1);
	q->n--;
}

/* Entry i joins the deques: min and max drop the entries it beats from
 * the back (ties keep the earlier one, as agg_add() does). */
static void dq_enter(struct over *o, struct okey *k, uint64_t i)
{
	const struct oent *e = ent(o, k, i);

	for (size_t a = 0; a < o->nagg; a++) {
		struct odq *q = &k->dq[a];
		struct rtai_val v;

		if (o->dqk[a] == DQ_NONE)
			continue;
		v = oget(k, &e->v[o->slot[a]]);
		if (v.type == RT_NULL)
			continue;
		if (o->dqk[a] == DQ_MIN || o->dqk[a] == DQ_MAX) {
			int sign = o->dqk[a] == DQ_MAX ? 1 : -1;

			while (q->n > 0) {
				struct rtai_val b = oget(k, &ent(o, k, dq_back(q))->v[o->slot[a]]);

				if (sign * val_cmp(&b, &v) >= 0)
					break;
				q->n--;
			}
		}
		dq_push(q, i);
	}
}

static void dq_leave(struct over *o, struct okey *k, uint64_t i)
{
	for (size_t a = 0; a < o->nagg; a++) {
		struct odq *q = &k->dq[a];

		if (o->dqk[a] != DQ_NONE && q->n > 0 && dq_front(q) == i)
			dq_pop_front(q);
	}
}

static void dq_rebuild(struct over *o, struct okey *k)
{
	if (o->ndq == 0)
		return;
	for (size_t a = 0; a < o->nagg; a++)
		k->dq[a].n = 0;
	for (uint64_t i = k->act; i < k->tail; i++)
		dq_enter(o, k, i);
}

/* ---- keys ----------------------------------------------------------------------- */

/* Appends one key value: u8 type, then 8 bytes, or u32 length and bytes. */
static void key_put(struct buf *b, const struct rtai_val *v)
{
	buf_putc(b, v->type);
	if (v->type == RT_STR || v->type == RT_JSON) {
		buf_append(b, &v->s.n, 4);
		buf_append(b, v->s.p, v->s.n);
	} else if (v->type == RT_INT || v->type == RT_FLOAT || v->type == RT_TIME) {
		buf_append(b, &v->i, 8);
	}
}

static size_t tab_find(const struct over *o, const uint8_t *kp, size_t n, uint64_t h)
{
	size_t mask = o->tcap - 1, i = (size_t)h & mask;

	for (;; i = (i + 1) & mask) {
		const struct okey *k = o->tab[i];

		if (k == NULL)
			return i;
		if (k->hash == h && k->klen == n && memcmp(k->kp, kp, n) == 0)
			return i;
	}
}

static void tab_grow(struct over *o)
{
	struct okey **old = o->tab;
	size_t oldcap = o->tcap;

	o->tcap = o->tcap ? o->tcap * 2 : 1024;
	o->tab = xcalloc(o->tcap, sizeof(*o->tab));
	for (size_t i = 0; i < oldcap; i++) {
		size_t j;

		if (old[i] == NULL)
			continue;
		for (j = (size_t)old[i]->hash & (o->tcap - 1); o->tab[j] != NULL;
		     j = (j + 1) & (o->tcap - 1))
			;
		o->tab[j] = old[i];
	}
	free(old);
}

static void tab_delete(struct over *o, const struct okey *k)
{
	size_t mask = o->tcap - 1, i = tab_find(o, k->kp, k->klen, k->hash), j;

	/* Backward-shift deletion: no tombstones. */
	for (j = i;;) {
		size_t want;

		j = (j + 1) & mask;
		if (o->tab[j] == NULL)
			break;
		want = (size_t)o->tab[j]->hash & mask;
		if ((j > i && (want <= i || want > j)) || (j < i && want <= i && want > j)) {
			o->tab[i] = o->tab[j];
			i = j;
		}
	}
	o->tab[i] = NULL;
}

static void lru_unlink(struct over *o, struct okey *k)
{
	if (k->prev != NULL)
		k->prev->next = k->next;
	else
		o->lru = k->next;
	if (k->next != NULL)
		k->next->prev = k->prev;
	else
		o->mru = k->prev;
	k->prev = k->next = NULL;
}

static void lru_append(struct over *o, struct okey *k)
{
	k->prev = o->mru;
	k->next = NULL;
	if (o->mru != NULL)
		o->mru->next = k;
	else
		o->lru = k;
	o->mru = k;
}

/* Marks a key used now: to the back of the expiry list. */
static void lru_touch(struct over *o, struct okey *k)
{
	if (o->mru == k)
		return;
	lru_unlink(o, k);
	lru_append(o, k);
}

/* Drops a key whose records all left the range; its blocks are kept. */
static void key_expire(struct over *o, struct okey *k)
{
	tab_delete(o, k);
	lru_unlink(o, k);
	agg_reset(o->set, k->row);
	for (size_t a = 0; a < o->nagg; a++)
		k->dq[a].n = 0;
	o->st.entries -= k->tail - k->head;
	k->head = k->act = k->tail = 0;
	k->churn = 0;
	k->drift = 0;
	buf_reset(&k->str);
	k->garbage = 0;
	k->next = o->freek;
	o->freek = k;
	o->nfree++;
	o->st.keys--;
}

/* Expires the least recently used keys whose newest record is at or
 * before bound. In event order the list is ordered by newest time, so
 * this finds them all; in arrival order it stops at the first key still
 * in use, and the others go later. */
static void keys_expire(struct over *o, int64_t bound)
{
	while (o->lru != NULL && o->lru->tmax <= bound)
		key_expire(o, o->lru);
}

/* The key of the record, created when new. Returns NULL with o->err set
 * when it would exceed max_keys. */
static struct okey *key_get(struct over *o, const uint8_t *kp, size_t n, uint64_t recno)
{
	uint64_t h = rtai_hash(kp, n, 0x6f766572);
	size_t i;
	struct okey *k;

	if ((o->st.keys + 1) * 10 > o->tcap * 7)
		tab_grow(o);
	i = tab_find(o, kp, n, h);
	if (o->tab[i] != NULL) {
		k = o->tab[i];
		lru_touch(o, k);
		return k;
	}
	if (o->c.max_keys > 0 && o->st.keys >= o->c.max_keys) {
		fail(o, "%s: record %llu: a new key would make more than %llu keys hold state "
		     "(--max-keys %llu)", o->name, (unsigned long long)recno,
		     (unsigned long long)o->c.max_keys, (unsigned long long)o->c.max_keys);
		return NULL;
	}
	if (o->freek != NULL) {
		k = o->freek;
		o->freek = k->next;
		o->nfree--;
	} else {
		k = xcalloc(1, o->keysz);
		k->row = (struct agg_state *)(k + 1);
		k->dq = (struct odq *)(k->row + o->nagg);
	}
	k->hash = h;
	if (k->kp == NULL) {
		k->kp = k->kin;
		k->kcap = sizeof(k->kin);
	}
	if (n > k->kcap) {
		if (k->kp != k->kin)
			free(k->kp);
		k->kp = xmalloc(n);
		k->kcap = (uint32_t)n;
	}
	memcpy(k->kp, kp, n);
	k->klen = (uint32_t)n;
	o->tab[i] = k;
	lru_append(o, k);
	if (++o->st.keys > o->st.peak_keys)
		o->st.peak_keys = o->st.keys;
	return k;
}

/* ---- a key's range ------------------------------------------------------------- */

static void ring_grow(struct over *o, struct okey *k)
{
	uint64_t cap = k->cap ? k->cap * 2 : 4;
	uint8_t *r = xmalloc((size_t)cap * o->esz);

	for (uint64_t i = k->head; i < k->tail; i++)
		memcpy(r + (size_t)(i & (cap - 1)) * o->esz, ent(o, k, i), o->esz);
	free(k->ring);
	k->ring = r;
	k->cap = cap;
}

/* Moves the live strings to the front once most of the bytes are garbage. */
static void str_compact(struct over *o, struct okey *k)
{
	size_t at = 0;

	if (k->garbage < 4096 || k->garbage * 2 < k->str.len)
		return;
	/* Entries are in the order their strings were appended, except after
	 * an out-of-order insertion; copying in entry order to a fresh block
	 * is right either way. */
	{
		struct buf nb = { 0 };

		for (uint64_t i = k->head; i < k->tail; i++) {
			struct oent *e = ent(o, k, i);

			for (size_t s = 0; s < o->nslot; s++) {
				struct oval *v = &e->v[s];

				if (v->type != RT_STR && v->type != RT_JSON)
					continue;
				buf_append(&nb, k->str.p + v->u, v->n);
				v->u = at;
				at += v->n;
			}
		}
		buf_free(&k->str);
		k->str = nb;
	}
	k->garbage = 0;
}

/* Writes the values of a record into entry e (strings into the key). */
static void ent_fill(struct over *o, struct okey *k, struct oent *e, int64_t t,
		     const struct rtai_val *vals)
{
	e->t = t;
	for (size_t s = 0; s < o->nslot; s++)
		e->v[s].type = 0xff;	/* not filled yet */
	for (size_t a = 0; a < o->nagg; a++) {
		int s = o->slot[a];
		struct oval *v;

		if (s < 0 || e->v[s].type != 0xff)
			continue;
		v = &e->v[s];
		v->type = vals[a].type;
		v->n = 0;
		v->u = 0;
		if (v->type == RT_STR || v->type == RT_JSON) {
			v->u = k->str.len;
			v->n = vals[a].s.n;
			buf_append(&k->str, vals[a].s.p, vals[a].s.n);
		} else if (v->type == RT_INT || v->type == RT_FLOAT || v->type == RT_TIME) {
			v->u = (uint64_t)vals[a].i;
		}
	}
}

/* Whether entry e makes the running row inexact by rounding. */
static int ent_drifts(const struct over *o, const struct oent *e)
{
	for (size_t s = 0; s < o->nslot; s++)
		if ((o->drifts[s] && e->v[s].type == RT_FLOAT) ||
		    (o->stddev[s] && e->v[s].type != RT_NULL))
			return 1;
	return 0;
}

/* Recomputes the running row from the entries, so rounding from values
 * that came and went does not build up. */
static void row_rebuild(struct over *o, struct okey *k)
{
	agg_reset(o->set, k->row);
	k->drift = 0;
	for (uint64_t i = k->act; i < k->tail; i++) {
		const struct oent *e = ent(o, k, i);

		ent_vals(o, k, e, o->rvals, 0);
		agg_add(o->set, k->row, o->rvals, e->t);
		k->drift |= ent_drifts(o, e);
	}
	k->churn = 0;
}

/* The running row drops the entries at or before lo. */
static void range_advance(struct over *o, struct okey *k, int64_t lo)
{
	while (k->act < k->tail) {
		const struct oent *e = ent(o, k, k->act);

		if (e->t > lo)
			break;
		ent_vals(o, k, e, o->rvals, 0);
		agg_remove(o->set, k->row, o->rvals, e->t);
		dq_leave(o, k, k->act);
		k->act++;
		k->churn++;
	}
	if (k->act == k->tail) {
		k->drift = 0;
		k->churn = 0;
	} else if (k->drift && k->churn >= k->tail - k->act + 16) {
		row_rebuild(o, k);
	}
}

/* The ring forgets entries at or before bound that the running row no
 * longer holds. */
static void range_drop(struct over *o, struct okey *k, int64_t bound)
{
	uint64_t h0 = k->head;

	while (k->head < k->act) {
		const struct oent *e = ent(o, k, k->head);

		if (e->t > bound)
			break;
		for (size_t s = 0; s < o->nslot; s++)
			if (e->v[s].type == RT_STR || e->v[s].type == RT_JSON)
				k->garbage += e->v[s].n;
		k->head++;
	}
	if (k->head == k->tail) {
		buf_reset(&k->str);
		k->garbage = 0;
	} else if (k->head != h0) {
		str_compact(o, k);
	}
	o->st.entries -= k->head - h0;
}

static void entries_added(struct over *o)
{
	if (++o->st.entries > o->st.peak_entries)
		o->st.peak_entries = o->st.entries;
}

/* A record at or after the key's newest time: the range moves up to t. */
static void key_push(struct over *o, struct okey *k, int64_t t, const struct rtai_val *vals,
		     int64_t keep)
{
	struct oent *e;

	range_advance(o, k, t - o->c.range);
	range_drop(o, k, keep);
	if (k->tail - k->head == k->cap)
		ring_grow(o, k);
	e = ent(o, k, k->tail);
	ent_fill(o, k, e, t, vals);
	ent_vals(o, k, e, o->rvals, 0);
	agg_add(o->set, k->row, o->rvals, t);
	k->drift |= ent_drifts(o, e);
	dq_enter(o, k, k->tail);
	k->tail++;
	k->tmax = t;
	entries_added(o);
}

/* A record older than the key's newest (arrival order only): it takes its
 * place in the ring, and joins the running row if inside the newest range.
 * Its own aggregates are computed into o->scratch. */
static void key_insert(struct over *o, struct okey *k, int64_t t, const struct rtai_val *vals,
		       int64_t keep)
{
	uint64_t p, q;
	struct oent *e;

	range_drop(o, k, keep);
	if (k->tail - k->head == k->cap)
		ring_grow(o, k);
	for (p = k->tail; p > k->head && ent(o, k, p - 1)->t > t; p--)
		memcpy(ent(o, k, p), ent(o, k, p - 1), o->esz);
	e = ent(o, k, p);
	ent_fill(o, k, e, t, vals);
	k->tail++;
	entries_added(o);
	if (t > k->tmax - o->c.range) {
		ent_vals(o, k, e, o->rvals, 0);
		agg_add(o->set, k->row, o->rvals, t);
		k->drift |= ent_drifts(o, e);
	} else {
		k->act++;
	}
	dq_rebuild(o, k);

	agg_reset(o->set, o->scratch);
	for (q = p; q > k->head && ent(o, k, q - 1)->t > t - o->c.range; q--)
		;
	for (; q <= p; q++) {
		const struct oent *x = ent(o, k, q);

		ent_vals(o, k, x, o->vals, 1);
		agg_add(o->set, o->scratch, o->vals, x->t);
	}
}

/* Aggregate a of the key's newest range. */
static void key_result(const struct over *o, const struct okey *k, size_t a,
		       struct rtai_val *v)
{
	const struct odq *q = &k->dq[a];

	switch (o->dqk[a]) {
	case DQ_NONE:
		agg_result(o->set, k->row, a, v);
		return;
	case DQ_LAST:
		if (q->n == 0)
			break;
		*v = oget(k, &ent(o, k, dq_back(q))->v[o->slot[a]]);
		return;
	default:
		if (q->n == 0)
			break;
		*v = oget(k, &ent(o, k, dq_front(q))->v[o->slot[a]]);
		return;
	}
	*v = val_null();
}

/* ---- records in and out ------------------------------------------------------------ */

/* Writes rec with the aggregates added (from the key's running state, or
 * from o->scratch when k is NULL), keeping the frame's times and flags. */
static int emit(struct over *o, struct rtai_rec *rec, const struct okey *k, uint16_t flags,
		int64_t ingest, int64_t t, uint64_t recno)
{
	for (size_t a = 0; a < o->nagg; a++) {
		struct rtai_val v;

		if (k != NULL)
			key_result(o, k, a, &v);
		else
			agg_result(o->set, o->scratch, a, &v);
		if (rec_get(rec, o->set->v[a].name, o->set->v[a].nlen) == NULL && rec->n >= 65535)
			return fail(o, "%s: record %llu: too many fields to add the aggregates",
				    o->name, (unsigned long long)recno);
		rec_set(rec, o->set->v[a].name, o->set->v[a].nlen, v);
	}
	buf_reset(&o->obuf);
	rec_encode(rec, &o->obuf);
	wr_put(o->out, RTAI_K_DATA, RTAI_E_REC, flags, ingest, t, o->obuf.p, o->obuf.len);
	o->st.emitted++;
	return 0;
}

/* Decodes a record, finds its key and extracts the aggregates' values into
 * o->vals. Returns the key, or NULL with o->err set. */
static struct okey *take(struct over *o, struct rtai_rec *rec, const struct rtai_frame *f,
			 uint64_t recno)
{
	unsigned long long no = (unsigned long long)recno;
	char err[300];

	if (rec_from_frame(rec, f) < 0) {
		fail(o, "%s: record %llu: %s%s", o->name, no, rec->err,
		     f->enc == RTAI_E_RAW ? " (parse raw lines with rtai-parse first)" : "");
		return NULL;
	}
	buf_reset(&o->kbuf);
	for (size_t i = 0; i < o->c.nkeys; i++) {
		const struct rtai_field *kf = rec_get(rec, o->c.keys[i], o->c.klen[i]);

		if (kf == NULL) {
			fail(o, "%s: record %llu: field \"%s\": missing (a key field)", o->name, no,
			     o->c.keys[i]);
			return NULL;
		}
		key_put(&o->kbuf, &kf->v);
	}
	if (agg_extract(o->set, rec, o->vals, err, sizeof(err)) < 0) {
		fail(o, "%s: record %llu: %s", o->name, no, err);
		return NULL;
	}
	buf_reserve(&o->kbuf, 1);	/* a pointer even for no key fields */
	return key_get(o, o->kbuf.p, o->kbuf.len, recno);
}

/* The bound below which nothing needs to be kept for records arriving out
 * of order: W - RANGE (arrival order). */
static int64_t keep_bound(const struct over *o)
{
	return o->wm == INT64_MIN ? INT64_MIN : o->wm - o->c.range;
}

/* --order arrival: one record, at once. */
static int arrive(struct over *o, const struct rtai_frame *f, uint64_t recno)
{
	struct rtai_rec *rec = &o->recs[0];
	struct okey *k = take(o, rec, f, recno);

	if (k == NULL)
		return -1;
	if (k->tail == k->head || f->event_ns >= k->tmax) {
		key_push(o, k, f->event_ns, o->vals, keep_bound(o));
		return emit(o, rec, k, f->flags, f->ingest_ns, f->event_ns, recno);
	}
	key_insert(o, k, f->event_ns, o->vals, keep_bound(o));
	return emit(o, rec, NULL, f->flags, f->ingest_ns, f->event_ns, recno);
}

/* ---- the waiting heap (event order) -------------------------------------------------- */

static inline int pend_before(const struct pend *a, const struct pend *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void heap_push(struct over *o, const struct pend *p)
{
	size_t i;

	if (o->np == o->pcap) {
		o->pcap = o->pcap ? o->pcap * 2 : 64;
		o->heap = xrealloc(o->heap, o->pcap * sizeof(*o->heap));
	}
	for (i = o->np++; i > 0; i = (i - 1) / 2) {
		struct pend *up = &o->heap[(i - 1) / 2];

		if (!pend_before(p, up))
			break;
		o->heap[i] = *up;
	}
	o->heap[i] = *p;
}

static void heap_pop(struct over *o, struct pend *top)
{
	struct pend last;
	size_t i = 0;

	*top = o->heap[0];
	last = o->heap[--o->np];
	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= o->np)
			break;
		if (c + 1 < o->np && pend_before(&o->heap[c + 1], &o->heap[c]))
			c++;
		if (!pend_before(&o->heap[c], &last))
			break;
		o->heap[i] = o->heap[c];
		i = c;
	}
	if (o->np > 0)
		o->heap[i] = last;
}

static void chunk_recycle(struct over *o, struct pchunk *c)
{
	c->used = 0;
	if (c->cap == CHUNK_SIZE && o->nfreec < CHUNKS_KEPT) {
		c->next = o->freec;
		o->freec = c;
		o->nfreec++;
	} else {
		free(c);
		o->nchunks--;
	}
}

/* Copies a payload into the current chunk; returns where. */
static const uint8_t *stash(struct over *o, const uint8_t *p, size_t n, struct pchunk **cp)
{
	size_t need = (n + 7) & ~(size_t)7;
	struct pchunk *c = o->cur;

	if (c == NULL || c->cap - c->used < need) {
		if (c != NULL && c->live == 0)
			chunk_recycle(o, c);
		if (need <= CHUNK_SIZE && o->freec != NULL) {
			c = o->freec;
			o->freec = c->next;
			o->nfreec--;
		} else {
			size_t cap = need > CHUNK_SIZE ? need : CHUNK_SIZE;

			c = xmalloc(sizeof(*c) + cap);
			c->cap = cap;
			o->nchunks++;
		}
		c->used = 0;
		c->live = 0;
		o->cur = c;
	}
	if (n)
		memcpy(c->data + c->used, p, n);
	c->used += need;
	c->live++;
	*cp = c;
	return c->data + c->used - need;
}

static void unstash(struct over *o, struct pchunk *c)
{
	if (--c->live > 0)
		return;
	if (c == o->cur)
		c->used = 0;
	else
		chunk_recycle(o, c);
}

/* Emits the waiting records with t < limit, in order of event time, then
 * arrival. The records of one event time leave together: each sees all of
 * its key's peers. */
static int release(struct over *o, int64_t limit)
{
	while (o->np > 0 && o->heap[0].t < limit) {
		int64_t t = o->heap[0].t;
		size_t n = 0;
		int rc = 0;

		while (o->np > 0 && o->heap[0].t == t) {
			if (n == o->gcap) {
				size_t cap = o->gcap * 2;

				o->grp = xrealloc(o->grp, cap * sizeof(*o->grp));
				o->gk = xrealloc(o->gk, cap * sizeof(*o->gk));
				o->recs = xrealloc(o->recs, cap * sizeof(*o->recs));
				memset(o->recs + o->gcap, 0, (cap - o->gcap) * sizeof(*o->recs));
				o->gcap = cap;
			}
			heap_pop(o, &o->grp[n++]);
		}
		o->st.waiting -= n;
		keys_expire(o, t - o->c.range);
		for (size_t i = 0; i < n && rc == 0; i++) {
			const struct pend *p = &o->grp[i];
			struct rtai_frame f = { .kind = RTAI_K_DATA, .enc = p->enc, .flags = p->flags,
						.ingest_ns = p->ingest, .event_ns = t,
						.payload = p->p, .len = p->len };

			o->gk[i] = take(o, &o->recs[i], &f, p->recno);
			if (o->gk[i] == NULL)
				rc = -1;
			else
				key_push(o, o->gk[i], t, o->vals, t - o->c.range);
		}
		for (size_t i = 0; i < n && rc == 0; i++) {
			const struct pend *p = &o->grp[i];

			rc = emit(o, &o->recs[i], o->gk[i], p->flags, p->ingest, t, p->recno);
		}
		for (size_t i = 0; i < n; i++)
			unstash(o, o->grp[i].c);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ---- the interface ------------------------------------------------------------------- */

struct over *over_new(const struct over_conf *conf, struct rtai_wr *out)
{
	struct over *o = xcalloc(1, sizeof(*o));
	const struct agg_set *set = conf->aggs;

	o->c = *conf;
	o->out = out;
	o->set = set;
	o->name = "stdin";
	o->nagg = set->n;
	o->slot = xcalloc(set->n + 1, sizeof(*o->slot));
	o->dqk = xcalloc(set->n + 1, 1);
	o->drifts = xcalloc(set->n + 1, 1);
	o->stddev = xcalloc(set->n + 1, 1);
	for (size_t a = 0; a < set->n; a++) {
		const struct agg_spec *s = &set->v[a];
		size_t j;

		o->slot[a] = -1;
		if (s->field == NULL)
			continue;
		for (j = 0; j < a; j++)
			if (set->v[j].field != NULL && strcmp(set->v[j].field, s->field) == 0)
				break;
		o->slot[a] = j < a ? o->slot[j] : (int)o->nslot++;
		switch (s->func) {
		case AGG_MIN: o->dqk[a] = DQ_MIN; break;
		case AGG_MAX: o->dqk[a] = DQ_MAX; break;
		case AGG_FIRST: o->dqk[a] = DQ_FIRST; break;
		case AGG_LAST: o->dqk[a] = DQ_LAST; break;
		case AGG_SUM:
		case AGG_AVG: o->drifts[o->slot[a]] = 1; break;
		case AGG_STDDEV: o->stddev[o->slot[a]] = 1; break;
		default: break;
		}
		if (o->dqk[a] != DQ_NONE)
			o->ndq++;
	}
	o->esz = sizeof(struct oent) + o->nslot * sizeof(struct oval);
	o->keysz = sizeof(struct okey) + o->nagg * (sizeof(struct agg_state) + sizeof(struct odq));
	o->maxt = INT64_MIN;
	o->wm = o->wm_sent = INT64_MIN;
	o->gcap = 4;
	o->grp = xcalloc(o->gcap, sizeof(*o->grp));
	o->gk = xcalloc(o->gcap, sizeof(*o->gk));
	o->recs = xcalloc(o->gcap, sizeof(*o->recs));
	o->vals = xcalloc(o->nagg + 1, sizeof(*o->vals));
	o->rvals = xcalloc(o->nagg + 1, sizeof(*o->rvals));
	o->scratch = xcalloc(o->nagg + 1, sizeof(*o->scratch));
	tab_grow(o);
	return o;
}

static void key_free(struct over *o, struct okey *k)
{
	agg_free(o->set, k->row);
	for (size_t a = 0; a < o->nagg; a++)
		free(k->dq[a].v);
	free(k->ring);
	buf_free(&k->str);
	if (k->kp != k->kin)
		free(k->kp);
	free(k);
}

void over_free(struct over *o)
{
	struct pchunk *c;

	if (o == NULL)
		return;
	for (size_t i = 0; i < o->tcap; i++)
		if (o->tab[i] != NULL)
			key_free(o, o->tab[i]);
	while (o->freek != NULL) {
		struct okey *k = o->freek;

		o->freek = k->next;
		key_free(o, k);
	}
	free(o->tab);
	/* Chunks still holding waiting records are found through the heap. */
	for (size_t i = 0; i < o->np; i++) {
		c = o->heap[i].c;
		if (--c->live == 0 && c != o->cur)
			free(c);
	}
	free(o->cur);
	while ((c = o->freec) != NULL) {
		o->freec = c->next;
		free(c);
	}
	free(o->heap);
	free(o->grp);
	free(o->gk);
	for (size_t i = 0; i < o->gcap; i++)
		rec_free(&o->recs[i]);
	free(o->recs);
	free(o->vals);
	free(o->rvals);
	agg_free(o->set, o->scratch);
	free(o->scratch);
	free(o->slot);
	free(o->dqk);
	free(o->drifts);
	free(o->stddev);
	buf_free(&o->kbuf);
	buf_free(&o->obuf);
	free(o);
}

static void note_bytes(struct over *o)
{
	size_t b = over_bytes(o);

	if (b > o->st.peak_bytes)
		o->st.peak_bytes = b;
}

static int record(struct over *o, const struct rtai_frame *f, uint64_t recno)
{
	int64_t t = f->event_ns;
	int rc = 0;

	o->st.records++;
	if (t == RTAI_TIME_UNSET)
		return fail(o, "%s: record %llu: no event time (set it with rtai-parse -t FIELD)",
			    o->name, (unsigned long long)recno);
	if (t > OVER_MAX_TIME || t < -OVER_MAX_TIME)
		return fail(o, "%s: record %llu: event time %lld ns is out of range (1824 to 2116)",
			    o->name, (unsigned long long)recno, (long long)t);
	if (t < o->wm) {
		o->st.late++;
		if (o->c.late != NULL)
			wr_frame(o->c.late, f);
		return 0;
	}
	if (t > o->maxt)
		o->maxt = t;
	if (o->c.arrival) {
		/* W moves first, so keys out of reach are gone before a new one
		 * counts against --max-keys; t >= W holds all the same. */
		if (o->maxt - o->c.delay > o->wm)
			over_advance(o, o->maxt - o->c.delay);
		rc = arrive(o, f, recno);
	} else {
		struct pend p = { .t = t, .seq = o->seq++, .recno = recno, .ingest = f->ingest_ns,
				  .len = f->len, .flags = f->flags, .enc = f->enc };

		p.p = stash(o, f->payload, f->len, &p.c);
		heap_push(o, &p);
		if (++o->st.waiting > o->st.peak_waiting)
			o->st.peak_waiting = o->st.waiting;
		if (o->maxt - o->c.delay > o->wm)
			rc = over_advance(o, o->maxt - o->c.delay);
	}
	if (rc == 0 && (o->st.records & 1023) == 0)
		note_bytes(o);
	return rc;
}

int over_frame(struct over *o, const struct rtai_frame *f, const char *name, uint64_t recno)
{
	o->name = name;
	switch (f->kind) {
	case RTAI_K_DATA:
		return record(o, f, recno);
	case RTAI_K_WATERMARK:
		/* Upstream's promise moves ours; ours goes downstream instead. */
		if (f->event_ns != RTAI_TIME_UNSET)
			return over_advance(o, f->event_ns);
		return 0;
	case RTAI_K_MARKER:
		wr_marker(o->out, f, "rtai-window");
		return 0;
	default:
		wr_frame(o->out, f);
		return 0;
	}
}

int over_advance(struct over *o, int64_t wm)
{
	/* Beyond the times a record may have, every watermark means the same;
	 * clamping keeps W - RANGE and the idle clock from overflowing. */
	if (wm < -OVER_MAX_TIME - 1)
		wm = -OVER_MAX_TIME - 1;
	if (wm > OVER_MAX_TIME + 1)
		wm = OVER_MAX_TIME + 1;
	if (wm <= o->wm)
		return 0;
	o->wm = wm;
	if (o->c.arrival) {
		keys_expire(o, keep_bound(o));
		return 0;
	}
	return release(o, wm);
}

int over_finish(struct over *o)
{
	note_bytes(o);
	return release(o, INT64_MAX);
}

void over_watermark(struct over *o)
{
	if (o->wm <= o->wm_sent)
		return;
	o->wm_sent = o->wm;
	wr_put(o->out, RTAI_K_WATERMARK, RTAI_E_NONE, 0, rtai_now_ns(), o->wm, NULL, 0);
}

int64_t over_wm(const struct over *o)
{
	return o->wm;
}

int64_t over_next_deadline(const struct over *o)
{
	return o->np > 0 ? o->heap[0].t + 1 : INT64_MAX;
}

const struct over_stats *over_stats(const struct over *o)
{
	return &o->st;
}

size_t over_bytes(const struct over *o)
{
	uint64_t nk = o->st.keys + o->nfree;
	size_t b = sizeof(*o) + o->tcap * sizeof(*o->tab) + o->pcap * sizeof(*o->heap) +
		   (o->nchunks) * (sizeof(struct pchunk) + CHUNK_SIZE);

	/* Rings and deques grow by doubling: about twice what they hold. */
	b += (size_t)nk * (o->keysz + 64);
	b += (size_t)o->st.entries * 2 * (o->esz + (size_t)o->ndq * sizeof(uint64_t));
	return b;
}

const char *over_err(const struct over *o)
{
	return o->err;
}

/* ---- the loop of rtai-window --over ------------------------------------------------ */

struct loop {
	struct over *o;
	int64_t idle;
	int64_t last_data;	/* monotonic time of the last record, -1 before */
	int64_t wm_at_data;	/* the watermark then */
};

/* Nanoseconds until idleness moves the watermark far enough to matter,
 * or -1 when only input can. */
static int64_t next_timer(const struct loop *l)
{
	int64_t now, since, wake, dl;

	if (l->idle == 0 || l->last_data < 0)
		return -1;
	now = rtai_mono_ns();
	since = now - l->last_data;
	if (since < l->idle)
		return l->idle - since;
	/* Idle: W = wm_at_data + since. Wake when it passes the next waiting
	 * record, and every --idle anyway so watermarks keep flowing. */
	dl = over_next_deadline(l->o);
	wake = since + l->idle;
	if (dl != INT64_MAX && l->wm_at_data != INT64_MIN && dl - l->wm_at_data < wake)
		wake = dl - l->wm_at_data;
	return wake > since ? wake - since : 0;
}

static int on_timer(struct loop *l)
{
	int64_t since = rtai_mono_ns() - l->last_data;

	if (l->idle > 0 && l->last_data >= 0 && since >= l->idle && l->wm_at_data != INT64_MIN &&
	    over_advance(l->o, l->wm_at_data + since) < 0)
		return -1;
	over_watermark(l->o);
	return 0;
}

static int loop_run(struct loop *l, struct rtai_rd *rd, struct rtai_wr *out)
{
	struct rtai_frame f;

	for (;;) {
		int st = rd_frame_buffered(rd, &f);
		int64_t wait;

		if (st == 1) {
			if (over_frame(l->o, &f, rd->name, rd->nrec) < 0)
				return -1;
			if (f.kind == RTAI_K_DATA) {
				l->last_data = rtai_mono_ns();
				l->wm_at_data = over_wm(l->o);
			}
			continue;
		}
		if (st == 0 || rtai_stop)
			return 0;
		if (st < 0) {
			snprintf(l->o->err, sizeof(l->o->err), "%s", rd->err);
			return -1;
		}
		/* More input is needed: flush, then wait for it or a timer. */
		over_watermark(l->o);
		wr_flush(out);
		if (rd->started && !(rd->zstd != NULL && rd->zoff < rd->zlen) &&
		    (wait = next_timer(l)) >= 0) {
			struct pollfd pfd = { .fd = rd->fd, .events = POLLIN };
			int64_t ms = (wait + 999999) / 1000000;
			int n;

			n = poll(&pfd, 1, ms > INT_MAX ? INT_MAX : (int)ms);
			if (n < 0 && errno != EINTR) {
				snprintf(l->o->err, sizeof(l->o->err), "%s: poll: %s", rd->name,
					 strerror(errno));
				return -1;
			}
			if (n <= 0) {
				if (n == 0 && on_timer(l) < 0)
					return -1;
				continue;
			}
		}
		if (rd_fill(rd) < 0) {
			snprintf(l->o->err, sizeof(l->o->err), "%s", rd->err);
			return -1;
		}
	}
}

static void summary(const struct over_conf *c, const struct over *o)
{
	const struct over_stats *s = over_stats(o);
	struct rusage ru;

	if (c->verbose) {
		getrusage(RUSAGE_SELF, &ru);
		fprintf(stderr, "%s: %llu records, %llu late", rtai_progname,
			(unsigned long long)s->records, (unsigned long long)s->late);
		if (s->late > 0 && c->late != NULL)
			fprintf(stderr, " (to %s)", c->late->name);
		else if (s->late > 0)
			fputs(" (dropped)", stderr);
		fprintf(stderr, ", %llu emitted; peak state %llu keys, %llu records in ranges, "
			"%llu waiting, %.1f MiB; max resident %.1f MiB\n",
			(unsigned long long)s->emitted, (unsigned long long)s->peak_keys,
			(unsigned long long)s->peak_entries, (unsigned long long)s->peak_waiting,
			s->peak_bytes / 1048576.0, ru.ru_maxrss / 1024.0);
	} else if (s->late > 0 && c->late == NULL) {
		rtai_warn("%llu late records dropped (keep them with --late FILE; accept them "
			  "with --delay)", (unsigned long long)s->late);
	}
}

int over_run(const struct over_conf *conf, struct rtai_rd *rd, struct rtai_wr *out)
{
	struct loop l = { .o = over_new(conf, out), .idle = conf->idle, .last_data = -1,
			  .wm_at_data = INT64_MIN };
	int rc;

	rc = loop_run(&l, rd, out);
	if (rc == 0)
		rc = over_finish(l.o);
	if (rc == 0)
		over_watermark(l.o);
	else
		rtai_warn("%s", over_err(l.o));
	summary(conf, l.o);
	over_free(l.o);
	return rc;
}
