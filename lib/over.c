/* over.c - per-event rolling aggregates: key state, waiting records, the
 * loop of rtai-window's per-record ranges. */
#include "config.h"
#include "over.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "key.h"
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
	uint64_t *v;			/* DQ_INLINE numbers in the key block, or heap */
	uint32_t cap, head, n;
	uint32_t heap;			/* v was allocated */
};

#define RING_INLINE 4			/* entries in the key block */
#define SL_BLOCK 8			/* entries per partial of the front stack */
#define DQ_INLINE 4			/* deque numbers in the key block */

/* The state of one key: this header, then in the same block its running
 * row, its deques and the first entries of its ring and deques, so that a
 * key with few records in range is one block of memory (fetched together,
 * which matters with many keys: every record of a new key is a miss). */
struct okey {
	int64_t tmax;			/* newest event time */
	uint64_t head, act, tail;	/* entry numbers: held [head, tail),
					 * in the range [act, tail) */
	uint64_t split;			/* the front stack is [act, split), the
					 * back [split, tail) (act <= split) */
	uint64_t fbase;			/* fp[j] is the partial aggregate of
					 * [fbase + j * SL_BLOCK, split) */
	struct agg_state *fp;		/* fpcap rows of o->sset.n states */
	uint32_t fpcap;
	uint8_t *ring;			/* cap entries of o->esz bytes */
	uint32_t cap;			/* a power of two */
	uint32_t klen;
	uint8_t *kp;			/* the encoded key: kin, or a heap block */
	uint8_t kin[16];		/* short keys live here */
	struct agg_state *row;		/* count, distinct, percentiles over
					 * [act, tail), by agg_add/agg_remove */
	struct agg_state *bk;		/* sliding aggregates of the back stack */
	struct odq *dq;			/* per deque aggregate (min, max, first, last) */
	struct buf str;			/* string bytes of the entries */
	size_t garbage;			/* bytes of str no entry uses */
	struct okey *next;		/* the free list */
	uint32_t kcap;
	uint32_t tag;			/* of its latest record (over_set_tag) */
};

/* A slot of the key table: the key's hash and newest time live here too,
 * so probes and sweeps do not touch the keys. */
struct oslot {
	uint64_t hash;
	int64_t tmax;
	struct okey *k;
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
	uint64_t hash;		/* of its key, or 0: not known yet */
	uint32_t len;
	uint16_t flags;
	uint8_t enc;
	uint8_t mark;		/* P_TAG, P_NOEMIT */
};

/* A waiting record's marks: P_TAG, its tag (over_set_tag) is the u32 in
 * the 8 bytes before its payload; P_NOEMIT, it is within RANGE after its
 * floor (over_set_floor): it joins its key's range and is not emitted. */
#define P_TAG 1
#define P_NOEMIT 2

/* ---- the engine ------------------------------------------------------------ */

enum { DQ_NONE, DQ_MIN, DQ_MAX, DQ_FIRST, DQ_LAST };

struct over {
	struct over_conf c;
	struct frame_wr *out;
	const struct agg_set *set;
	const char *name;		/* input name, for messages */
	size_t nagg;
	int *slot;			/* per aggregate: its slot, -1 for a bare count */
	uint8_t *dqk;			/* per aggregate: DQ_* */
	int *dqi;			/* per aggregate: its deque, or -1 */
	int ndq;			/* aggregates kept by a deque */
	struct agg_set sset;		/* the sliding aggregates (sum, avg,
					 * stddev): specs borrowed from set */
	int *sidx;			/* per aggregate: its index in sset, or -1 */
	int *sslot;			/* per sliding aggregate: its slot */
	struct agg_state *srow;		/* the sliding aggregates of a range */
	struct val *svals;		/* per sliding aggregate */
	size_t nslot, esz;		/* slots; bytes per entry */
	size_t keysz;			/* bytes per key block */
	size_t dq_off, ring_off;	/* inline deques and ring in the block */

	struct oslot *tab;		/* open addressing, linear probing */
	size_t tcap;
	uint64_t since_sweep;		/* records since keys were swept */
	int64_t now;			/* event time of the records leaving */
	struct okey *freek;		/* recycled keys */
	uint64_t nfree;
	struct arena kmem;		/* the key blocks, freed all at once */

	int64_t maxt;			/* largest event time seen */
	int64_t wm, wm_sent;		/* watermark; last one written */
	uint64_t seq;

	struct pend *heap;		/* waiting records */
	size_t np, pcap;
	struct pchunk *cur, *freec;
	size_t nfreec, nchunks;

	struct pend *grp;		/* records leaving together */
	struct okey **gk;
	struct rec *recs;
	size_t ng, gcap;
	struct rec arec;		/* a record as it arrives */

	struct val *vals, *rvals;	/* per aggregate */
	struct val *res;		/* results, per aggregate */
	struct agg_state *scratch;	/* out-of-order results */
	struct buf kbuf, obuf;
	uint32_t tag;			/* of the records added next */
	int tagged;			/* a nonzero tag was ever set */
	int64_t floor;			/* of the records added next */
	struct over_stats st;
	char err[512];
	enum over_errc errc;		/* what kind of error err is */
};

static int fail(struct over *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct over *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(o->err, sizeof(o->err), fmt, ap);
	va_end(ap);
	o->errc = OVER_E_INPUT;
	return -1;
}

static inline struct oent *ent(const struct over *o, const struct okey *k, uint64_t i)
{
	return (struct oent *)(k->ring + (size_t)(i & (k->cap - 1)) * o->esz);
}

static inline struct val oget(const struct okey *k, const struct oval *s)
{
	struct val v = { .type = s->type };

	if (rt_has_bytes(s->type)) {
		v.s.p = (const char *)k->str.p + s->u;
		v.s.n = s->n;
	} else {
		v.i = (int64_t)s->u;
	}
	return v;
}

/* The values of entry e per aggregate; those kept by deques or by sliding
 * aggregation read as null unless all (so agg_add() leaves them alone in
 * the running row). */
static void ent_vals(const struct over *o, const struct okey *k, const struct oent *e,
		     struct val *vals, int all)
{
	for (size_t i = 0; i < o->nagg; i++) {
		if (o->slot[i] < 0)
			vals[i] = val_bool(1);
		else if (!all && (o->dqk[i] != DQ_NONE || o->sidx[i] >= 0))
			vals[i] = val_null();
		else
			vals[i] = oget(k, &e->v[o->slot[i]]);
	}
}

/* ---- deques ------------------------------------------------------------------ */

static void dq_push(struct odq *q, uint64_t x)
{
	if (q->n == q->cap) {
		uint32_t cap = q->cap * 2;
		uint64_t *v = xmalloc(cap * sizeof(*v));

		for (uint32_t j = 0; j < q->n; j++)
			v[j] = q->v[(q->head + j) & (q->cap - 1)];
		if (q->heap)
			free(q->v);
		q->v = v;
		q->cap = cap;
		q->head = 0;
		q->heap = 1;
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
		struct odq *q;
		struct val v;

		if (o->dqk[a] == DQ_NONE)
			continue;
		q = &k->dq[o->dqi[a]];
		v = oget(k, &e->v[o->slot[a]]);
		if (v.type == RT_NULL)
			continue;
		if (o->dqk[a] == DQ_MIN || o->dqk[a] == DQ_MAX) {
			int sign = o->dqk[a] == DQ_MAX ? 1 : -1;

			while (q->n > 0) {
				struct val b = oget(k, &ent(o, k, dq_back(q))->v[o->slot[a]]);

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
		struct odq *q;

		if (o->dqk[a] == DQ_NONE)
			continue;
		q = &k->dq[o->dqi[a]];
		if (q->n > 0 && dq_front(q) == i)
			dq_pop_front(q);
	}
}

static void dq_rebuild(struct over *o, struct okey *k)
{
	if (o->ndq == 0)
		return;
	for (int d = 0; d < o->ndq; d++)
		k->dq[d].n = 0;
	for (uint64_t i = k->act; i < k->tail; i++)
		dq_enter(o, k, i);
}

/* ---- keys ----------------------------------------------------------------------- */

static size_t tab_find(const struct over *o, const uint8_t *kp, size_t n, uint64_t h)
{
	size_t mask = o->tcap - 1, i = (size_t)h & mask;

	for (;; i = (i + 1) & mask) {
		const struct oslot *e = &o->tab[i];

		if (e->k == NULL)
			return i;
		if (e->hash == h && e->k->klen == n && memcmp(e->k->kp, kp, n) == 0)
			return i;
	}
}

static void tab_grow(struct over *o)
{
	struct oslot *old = o->tab;
	size_t oldcap = o->tcap;

	o->tcap = o->tcap ? o->tcap * 2 : 1024;
	o->tab = xcalloc(o->tcap, sizeof(*o->tab));
	for (size_t i = 0; i < oldcap; i++) {
		size_t j;

		if (old[i].k == NULL)
			continue;
		for (j = (size_t)old[i].hash & (o->tcap - 1); o->tab[j].k != NULL;
		     j = (j + 1) & (o->tcap - 1))
			;
		o->tab[j] = old[i];
	}
	free(old);
}

/* Empties slot i by backward-shift deletion (no tombstones): a later
 * entry of the probe run may move into i. */
static void tab_delete(struct over *o, size_t i)
{
	size_t mask = o->tcap - 1, j;

	for (j = i;;) {
		size_t want;

		j = (j + 1) & mask;
		if (o->tab[j].k == NULL)
			break;
		want = (size_t)o->tab[j].hash & mask;
		if ((j > i && (want <= i || want > j)) || (j < i && want <= i && want > j)) {
			o->tab[i] = o->tab[j];
			i = j;
		}
	}
	o->tab[i].k = NULL;
}

/* Drops the key of slot i, whose records all left every range a future
 * record can have; its blocks are kept for the next new key. */
static void key_expire(struct over *o, size_t i)
{
	struct okey *k = o->tab[i].k;

	tab_delete(o, i);
	agg_reset(o->set, k->row);
	for (int d = 0; d < o->ndq; d++)
		k->dq[d].n = 0;
	agg_reset(&o->sset, k->bk);
	o->st.entries -= k->tail - k->head;
	k->head = k->act = k->tail = k->split = 0;
	buf_reset(&k->str);
	k->garbage = 0;
	k->next = o->freek;
	o->freek = k;
	o->nfree++;
	o->st.keys--;
}

/* The bound below which nothing needs to be kept for records arriving out
 * of order: W - RANGE (arrival order). */
static int64_t keep_bound(const struct over *o)
{
	return o->wm == INT64_MIN ? INT64_MIN : o->wm - o->c.range;
}

/* The newest time at which no future record can reach a key's records:
 * in event order the time of the records leaving now minus RANGE (later
 * ones are not older), in arrival order W - RANGE. */
static int64_t expire_bound(const struct over *o)
{
	if (o->c.arrival)
		return keep_bound(o);
	return o->now == INT64_MIN ? INT64_MIN : o->now - o->c.range;
}

/* Expires the keys whose newest record is at or before the bound: a
 * sequential pass over the table (each slot holds its key's newest time),
 * done once per half a table's worth of records, or when max_keys is
 * reached. Which keys hold state changes no result. */
static void keys_sweep(struct over *o)
{
	int64_t bound = expire_bound(o);

	o->since_sweep = 0;
	if (bound == INT64_MIN)
		return;
	for (size_t i = 0; i < o->tcap;) {
		if (o->tab[i].k != NULL && o->tab[i].tmax <= bound)
			key_expire(o, i);	/* slot i may hold another key now */
		else
			i++;
	}
}

/* A key block (recycled, or new and empty) holding the key kp of n bytes,
 * in table slot i (empty) with hash h and newest time t. */
static struct okey *key_put(struct over *o, size_t i, const uint8_t *kp, size_t n,
			    uint64_t h, int64_t t)
{
	struct okey *k;

	if (o->freek != NULL) {
		k = o->freek;
		o->freek = k->next;
		o->nfree--;
	} else {
		k = arena_alloc(&o->kmem, o->keysz);
		memset(k, 0, o->keysz);
		k->row = (struct agg_state *)(k + 1);
		k->bk = k->row + o->nagg;
		k->dq = (struct odq *)(k->bk + o->sset.n);
		for (int d = 0; d < o->ndq; d++) {
			k->dq[d].v = (uint64_t *)((uint8_t *)k + o->dq_off) + d * DQ_INLINE;
			k->dq[d].cap = DQ_INLINE;
		}
		k->ring = (uint8_t *)k + o->ring_off;
		k->cap = RING_INLINE;
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
	k->tag = 0;
	o->tab[i] = (struct oslot){ .hash = h, .tmax = t, .k = k };
	if (++o->st.keys > o->st.peak_keys)
		o->st.peak_keys = o->st.keys;
	return k;
}

/* The key of a record at time t, created when new. Returns NULL with
 * o->err set when it would exceed max_keys. */
static struct okey *key_get(struct over *o, const uint8_t *kp, size_t n, uint64_t h,
			    int64_t t, uint64_t recno)
{
	size_t i;

	if (++o->since_sweep >= o->tcap / 2)
		keys_sweep(o);
	if ((o->st.keys + 1) * 10 > o->tcap * 7)
		tab_grow(o);
	i = tab_find(o, kp, n, h);
	if (o->tab[i].k != NULL) {
		if (t > o->tab[i].tmax)
			o->tab[i].tmax = t;
		return o->tab[i].k;
	}
	if (o->c.max_keys > 0 && o->st.keys >= o->c.max_keys) {
		keys_sweep(o);
		i = tab_find(o, kp, n, h);
	}
	if (o->c.max_keys > 0 && o->st.keys >= o->c.max_keys) {
		fail(o, "%s: record %llu: more than %llu keys with records in range", o->name,
		     (unsigned long long)recno, (unsigned long long)o->c.max_keys);
		o->errc = OVER_E_MAX_KEYS;
		return NULL;
	}
	return key_put(o, i, kp, n, h, t);
}

/* ---- a key's range ------------------------------------------------------------- */

static int ring_inline(const struct over *o, const struct okey *k)
{
	return k->ring == (const uint8_t *)k + o->ring_off;
}

static void ring_grow(struct over *o, struct okey *k)
{
	uint32_t cap = k->cap * 2;
	uint8_t *r = xmalloc((size_t)cap * o->esz);

	for (uint64_t i = k->head; i < k->tail; i++)
		memcpy(r + (size_t)(i & (cap - 1)) * o->esz, ent(o, k, i), o->esz);
	if (!ring_inline(o, k))
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

				if (!rt_has_bytes(v->type))
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
		     const struct val *vals)
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
		if (rt_has_bytes(v->type)) {
			v->u = k->str.len;
			v->n = vals[a].s.n;
			buf_append(&k->str, vals[a].s.p, vals[a].s.n);
		} else if (v->type == RT_INT || v->type == RT_FLOAT || v->type == RT_TIME) {
			v->u = (uint64_t)vals[a].i;
		}
	}
}

/* ---- sliding-window aggregation ------------------------------------------------- */

/* Sums, averages and deviations are kept by two stacks (the "two-stacks"
 * algorithm of sliding-window aggregation; see over.h): the range's
 * entries [act, tail) are a front stack [act, split) and a back stack
 * [split, tail) whose aggregate is k->bk. A record enters by one agg_add()
 * into k->bk; an entry leaves by act++; when the front is empty and an
 * entry must leave, the back becomes the front (a flip: one agg_add() per
 * entry, so O(1) amortised). The range's aggregate is the front's top (the
 * partial aggregate of [act, split)) merged with k->bk: it is computed from
 * the values in range alone, nothing is ever subtracted.
 *
 * The classic algorithm keeps the partial of [i, split) in every front
 * entry i. Here only one entry in SL_BLOCK keeps it (k->fp, beside the
 * ring), and the top is that partial plus the fewer than SL_BLOCK entries
 * before it, added in the same order the flip added them: the same bits
 * as the classic algorithm's, for a fifth of the memory per entry (a
 * partial is 40 bytes, an entry of one slot 24), which is what limits a
 * range over many keys (page faults and cache misses, not instructions). */

static inline size_t sl_rowsz(const struct over *o)
{
	return o->sset.n * sizeof(struct agg_state);
}

static inline struct agg_state *fpart(const struct over *o, const struct okey *k, uint64_t j)
{
	return k->fp + (size_t)j * o->sset.n;
}

/* Room for n partials in k->fp (kept across flips and keys). */
static void fp_reserve(struct over *o, struct okey *k, uint64_t n)
{
	uint32_t cap = k->fpcap > 0 ? k->fpcap : 4;

	if (n <= k->fpcap)
		return;
	while (cap < n)
		cap *= 2;
	k->fp = xrealloc(k->fp, (size_t)cap * sl_rowsz(o));
	k->fpcap = cap;
}

/* The values of entry e per sliding aggregate, into o->svals. */
static void sl_vals(const struct over *o, const struct okey *k, const struct oent *e)
{
	for (size_t j = 0; j < o->sset.n; j++)
		o->svals[j] = oget(k, &e->v[o->sslot[j]]);
}

/* Entry i (the newest) joins the back stack. */
static void sl_push(struct over *o, struct okey *k, uint64_t i)
{
	const struct oent *e = ent(o, k, i);

	sl_vals(o, k, e);
	agg_add(&o->sset, k->bk, o->svals, e->t);
}

/* The back stack becomes the front: the entries of [act, tail) are added
 * from the newest down, and every SL_BLOCK-th from act keeps the partial
 * of [itself, tail). The sliding aggregates (sum, avg, stddev) hold no
 * heap blocks, so their states copy with memcpy. */
static void sl_flip(struct over *o, struct okey *k)
{
	size_t sz = sl_rowsz(o);
	struct agg_state *acc = o->srow;

	fp_reserve(o, k, (k->tail - k->act + SL_BLOCK - 1) / SL_BLOCK);
	k->fbase = k->act;
	memset(acc, 0, sz);
	for (uint64_t i = k->tail; i-- > k->act;) {
		sl_vals(o, k, ent(o, k, i));
		agg_add(&o->sset, acc, o->svals, ent(o, k, i)->t);
		if ((i - k->fbase) % SL_BLOCK == 0)
			memcpy(fpart(o, k, (i - k->fbase) / SL_BLOCK), acc, sz);
	}
	k->split = k->tail;
	agg_reset(&o->sset, k->bk);
}

/* The first entry at or after act that keeps a partial, and its index in
 * k->fp in *j; at or past split when none does. */
static inline uint64_t sl_first(const struct okey *k, uint64_t *j)
{
	*j = 0;
	if (k->act <= k->fbase)
		return k->fbase;
	*j = (k->act - k->fbase + SL_BLOCK - 1) / SL_BLOCK;
	return k->fbase + *j * SL_BLOCK;
}

/* The partial of the front [act, split) into out: the kept partial of the
 * first block at or after act, then the entries before it, newest first. */
static void sl_top(struct over *o, const struct okey *k, struct agg_state *out)
{
	size_t sz = sl_rowsz(o);
	uint64_t j, s = sl_first(k, &j);

	if (s < k->split) {
		memcpy(out, fpart(o, k, j), sz);
	} else {
		memset(out, 0, sz);
		s = k->split;
	}
	while (s-- > k->act) {
		sl_vals(o, k, ent(o, k, s));
		agg_add(&o->sset, out, o->svals, ent(o, k, s)->t);
	}
}

/* Rebuilds both stacks from the entries, after an insertion out of order
 * moved entries: all of [act, tail) in the back. */
static void sl_rebuild(struct over *o, struct okey *k)
{
	agg_reset(&o->sset, k->bk);
	k->split = k->act;
	for (uint64_t i = k->act; i < k->tail; i++)
		sl_push(o, k, i);
}

/* The sliding aggregates of the range [act, tail), into o->srow. */
static void sl_result(struct over *o, const struct okey *k)
{
	if (k->act < k->split) {
		sl_top(o, k, o->srow);
		agg_merge(&o->sset, o->srow, k->bk);
	} else {
		memcpy(o->srow, k->bk, sl_rowsz(o));
	}
}

/* The range drops the entries at or before lo. */
static void range_advance(struct over *o, struct okey *k, int64_t lo)
{
	while (k->act < k->tail) {
		const struct oent *e = ent(o, k, k->act);

		if (e->t > lo)
			break;
		ent_vals(o, k, e, o->rvals, 0);
		agg_remove(o->set, k->row, o->rvals, e->t);
		dq_leave(o, k, k->act);
		if (o->sset.n > 0 && k->act == k->split)
			sl_flip(o, k);
		k->act++;
	}
	if (k->act == k->tail && k->split != k->tail) {
		/* An empty range: nothing stays in the back either. */
		agg_reset(&o->sset, k->bk);
		k->split = k->tail;
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
			if (rt_has_bytes(e->v[s].type))
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
static void key_push(struct over *o, struct okey *k, int64_t t, const struct val *vals,
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
	if (o->sset.n > 0)
		sl_push(o, k, k->tail);
	dq_enter(o, k, k->tail);
	k->tail++;
	k->tmax = t;
	entries_added(o);
}

/* A record older than the key's newest (arrival order only): it takes its
 * place in the ring, and joins the running row if inside the newest range.
 * Its own aggregates are computed into o->scratch. */
static void key_insert(struct over *o, struct okey *k, int64_t t, const struct val *vals,
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
	} else {
		k->act++;
	}
	dq_rebuild(o, k);
	if (o->sset.n > 0)
		sl_rebuild(o, k);

	agg_reset(o->set, o->scratch);
	for (q = p; q > k->head && ent(o, k, q - 1)->t > t - o->c.range; q--)
		;
	for (; q <= p; q++) {
		const struct oent *x = ent(o, k, q);

		ent_vals(o, k, x, o->vals, 1);
		agg_add(o->set, o->scratch, o->vals, x->t);
	}
}

/* Aggregate a of the key's newest range (the sliding ones from o->srow,
 * which sl_result() filled). */
static void key_result(const struct over *o, const struct okey *k, size_t a,
		       struct val *v)
{
	const struct odq *q = o->dqi[a] >= 0 ? &k->dq[o->dqi[a]] : NULL;

	switch (o->dqk[a]) {
	case DQ_NONE:
		if (o->sidx[a] >= 0)
			agg_result(&o->sset, o->srow, (size_t)o->sidx[a], v);
		else
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

/* Whether rec has a field called name. */
static int has_field(const struct rec *rec, const char *name, size_t nlen)
{
	for (uint32_t i = 0; i < rec->n; i++)
		if (rec->f[i].nlen == nlen && rec->f[i].name[0] == name[0] &&
		    memcmp(rec->f[i].name, name, nlen) == 0)
			return 1;
	return 0;
}

/* Appends the encoding of one field (rec.h) to b. */
static void put_field(struct buf *b, const char *name, size_t nlen, const struct val *v)
{
	uint8_t *p = buf_reserve(b, 2 + nlen + 12 + (rt_has_bytes(v->type) ?
						     v->s.n : 0));
	uint8_t *p0 = p;

	*p++ = v->type;
	*p++ = (uint8_t)nlen;
	memcpy(p, name, nlen);
	p += nlen;
	switch (v->type) {
	case RT_INT:
	case RT_TIME:
	case RT_FLOAT:
		for (int i = 0; i < 8; i++)
			*p++ = (uint8_t)((uint64_t)v->i >> (8 * i));
		break;
	case RT_STR:
	case RT_JSON:
	case RT_BYTES:
		for (int i = 0; i < 4; i++)
			*p++ = (uint8_t)(v->s.n >> (8 * i));
		if (v->s.n)
			memcpy(p, v->s.p, v->s.n);
		p += v->s.n;
		break;
	default:
		break;
	}
	b->len += (size_t)(p - p0);
}

/* Writes the record of frame f (decoded in rec) with the aggregates added,
 * from the key's running state, or from o->scratch when k is NULL; the
 * frame's times and flags stay. A binary record whose fields do not clash
 * with the aggregates' names is copied with the new fields appended; any
 * other is encoded afresh, a clashing field taking the aggregate's value. */
static int emit(struct over *o, struct rec *rec, const struct okey *k,
		const struct frame *f, uint64_t recno)
{
	int copy = f->enc == RTAI_E_REC && f->len >= 2;
	struct val *res = o->res;

	if (k != NULL && o->sset.n > 0)
		sl_result(o, k);
	for (size_t a = 0; a < o->nagg; a++) {
		const struct agg_spec *s = &o->set->v[a];

		if (k != NULL)
			key_result(o, k, a, &res[a]);
		else
			agg_result(o->set, o->scratch, a, &res[a]);
		if (copy && has_field(rec, s->name, s->nlen))
			copy = 0;
	}
	buf_reset(&o->obuf);
	if (copy && rec->n + o->nagg <= 65535) {
		uint32_t n = rec->n + (uint32_t)o->nagg;

		buf_append(&o->obuf, f->payload, f->len);
		o->obuf.p[0] = (uint8_t)n;
		o->obuf.p[1] = (uint8_t)(n >> 8);
		for (size_t a = 0; a < o->nagg; a++)
			put_field(&o->obuf, o->set->v[a].name, o->set->v[a].nlen, &res[a]);
	} else {
		for (size_t a = 0; a < o->nagg; a++) {
			const struct agg_spec *s = &o->set->v[a];

			if (!has_field(rec, s->name, s->nlen) && rec->n >= 65535)
				return fail(o, "%s: record %llu: too many fields to add the "
					    "aggregates", o->name, (unsigned long long)recno);
			rec_set(rec, s->name, s->nlen, res[a]);
		}
		rec_encode(rec, &o->obuf);
	}
	wr_put(o->out, RTAI_K_DATA, RTAI_E_REC, f->flags, f->ingest_ns, f->event_ns, o->obuf.p,
	       o->obuf.len);
	o->st.emitted++;
	return 0;
}

/* The hash of an encoded key; never 0, which means "not known yet". */
/* A key's hash, never 0 (0 stands for "not known yet"). */
static uint64_t okey_hash(const uint8_t *kp, size_t n)
{
	uint64_t h = key_hash(kp, n);

	return h != 0 ? h : 1;
}

/* Encodes the key of a decoded record into o->kbuf. Returns 0, or -1 with
 * o->err set when a key field is missing. */
static int key_of(struct over *o, const struct rec *rec, uint64_t recno)
{
	buf_reset(&o->kbuf);
	buf_reserve(&o->kbuf, 1);	/* a pointer even for no key fields */
	for (size_t i = 0; i < o->c.nkeys; i++) {
		const struct rec_field *kf = rec_get(rec, o->c.keys[i], o->c.klen[i]);

		if (kf == NULL || key_part(&o->kbuf, &kf->v) < 0)
			return fail(o, "%s: record %llu: field \"%s\": %s (a key field)",
				    o->name, (unsigned long long)recno, o->c.keys[i],
				    kf == NULL ? "missing" : "null");
	}
	return 0;
}

/* Decodes a record, finds its key (hash: its hash when known, else 0) and
 * extracts the aggregates' values into o->vals. Returns the key, or NULL
 * with o->err set. */
static struct okey *take(struct over *o, struct rec *rec, const struct frame *f,
			 uint64_t hash, uint64_t recno)
{
	char err[300];

	if (rec_from_frame(rec, f) < 0) {
		fail(o, "%s: record %llu: %s%s", o->name, (unsigned long long)recno, rec->err,
		     f->enc == RTAI_E_RAW ? " (parse raw lines with rtai-parse first)" : "");
		return NULL;
	}
	if (key_of(o, rec, recno) < 0)
		return NULL;
	if (agg_extract(o->set, rec, o->vals, err, sizeof(err)) < 0) {
		fail(o, "%s: record %llu: %s", o->name, (unsigned long long)recno, err);
		return NULL;
	}
	if (hash == 0)
		hash = okey_hash(o->kbuf.p, o->kbuf.len);
	return key_get(o, o->kbuf.p, o->kbuf.len, hash, f->event_ns, recno);
}

/* Arrival order (conf.arrival), and late records: one record, at once;
 * noemit: into its key's range only (over_set_floor). */
static int arrive(struct over *o, const struct frame *f, uint64_t recno, int noemit)
{
	struct rec *rec = &o->recs[0];
	struct okey *k = take(o, rec, f, 0, recno);

	if (k == NULL)
		return -1;
	if (o->tagged)
		k->tag = o->tag;
	if (k->tail == k->head || f->event_ns >= k->tmax) {
		key_push(o, k, f->event_ns, o->vals, keep_bound(o));
		if (noemit) {
			o->st.rebuilt++;
			return 0;
		}
		return emit(o, rec, k, f, recno);
	}
	key_insert(o, k, f->event_ns, o->vals, keep_bound(o));
	if (noemit) {
		o->st.rebuilt++;
		return 0;
	}
	return emit(o, rec, NULL, f, recno);
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

/* Sifts entry i of the heap down to its place. */
static void heap_down(struct over *o, size_t i)
{
	struct pend x = o->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= o->np)
			break;
		if (c + 1 < o->np && pend_before(&o->heap[c + 1], &o->heap[c]))
			c++;
		if (!pend_before(&o->heap[c], &x))
			break;
		o->heap[i] = o->heap[c];
		i = c;
	}
	o->heap[i] = x;
}

static void heap_pop(struct over *o, struct pend *top)
{
	*top = o->heap[0];
	if (--o->np > 0) {
		o->heap[0] = o->heap[o->np];
		heap_down(o, 0);
	}
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

/* Copies a payload into the current chunk, after 8 bytes holding tag when
 * tag is nonzero; returns where the payload is. */
static const uint8_t *stash(struct over *o, const uint8_t *p, size_t n, uint32_t tag,
			    struct pchunk **cp)
{
	size_t pre = tag != 0 ? 8 : 0, need = pre + ((n + 7) & ~(size_t)7);
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
	if (pre)
		memcpy(c->data + c->used, &tag, sizeof(tag));
	if (n)
		memcpy(c->data + c->used + pre, p, n);
	c->used += need;
	c->live++;
	*cp = c;
	return c->data + c->used - need + pre;
}

/* The tag of a waiting record (0: none). */
static uint32_t pend_tag(const struct pend *p)
{
	uint32_t tag = 0;

	if (p->mark & P_TAG)
		memcpy(&tag, p->p - 8, sizeof(tag));
	return tag;
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

/* How many records leave together at most (all those of the last event
 * time in a batch go too): enough to look ahead and prefetch keys. */
#define BATCH 32
#define AHEAD 4

/* Fetches the table slot of a waiting record's key into the cache. */
static void prefetch_slot(const struct over *o, const struct pend *p)
{
	if (p->hash != 0)
		__builtin_prefetch(&o->tab[(size_t)p->hash & (o->tcap - 1)]);
}

/* Fetches the key block of a waiting record into the cache, if its slot
 * is found at once (the slot itself was prefetched earlier). */
static void prefetch_key(const struct over *o, const struct pend *p)
{
	const struct oslot *e;

	if (p->hash == 0)
		return;
	e = &o->tab[(size_t)p->hash & (o->tcap - 1)];
	if (e->hash != p->hash || e->k == NULL)
		return;
	for (size_t b = 0; b < o->keysz && b < 512; b += 64)
		__builtin_prefetch((const uint8_t *)e->k + b);
}

/* Processes the batch o->grp[0..ng): time group by time group, every
 * record of a group into its key first, then each out with its key's
 * aggregates, so that peers see each other. */
static int process(struct over *o)
{
	size_t g0 = 0, ng = o->ng;
	int rc = 0;

	while (g0 < ng && rc == 0) {
		int64_t t = o->grp[g0].t;
		size_t g1 = g0;

		while (g1 < ng && o->grp[g1].t == t)
			g1++;
		o->now = t;
		for (size_t i = g0; i < g1 && rc == 0; i++) {
			const struct pend *p = &o->grp[i];
			struct frame f = { .kind = RTAI_K_DATA, .enc = p->enc, .flags = p->flags,
						.ingest_ns = p->ingest, .event_ns = t,
						.payload = p->p, .len = p->len };

			if (i + AHEAD < ng)
				prefetch_key(o, &o->grp[i + AHEAD]);
			o->gk[i] = take(o, &o->recs[i], &f, p->hash, p->recno);
			if (o->gk[i] == NULL) {
				rc = -1;
			} else {
				key_push(o, o->gk[i], t, o->vals, t - o->c.range);
				if (o->tagged)
					o->gk[i]->tag = pend_tag(p);
			}
		}
		for (size_t i = g0; i < g1 && rc == 0; i++) {
			const struct pend *p = &o->grp[i];
			struct frame f = { .kind = RTAI_K_DATA, .enc = p->enc, .flags = p->flags,
						.ingest_ns = p->ingest, .event_ns = t,
						.payload = p->p, .len = p->len };

			if (p->mark & P_NOEMIT)
				o->st.rebuilt++;
			else
				rc = emit(o, &o->recs[i], o->gk[i], &f, p->recno);
		}
		g0 = g1;
	}
	for (size_t i = 0; i < ng; i++)
		unstash(o, o->grp[i].c);
	o->ng = 0;
	return rc;
}

/* The waiting records with t < limit leave, in order of event time, then
 * arrival. Unless force, they go in batches of BATCH and a smaller batch
 * waits for more (over_sync() and over_finish() force it out before the
 * tool blocks for input or ends, so nothing is held back for long). */
static int release(struct over *o, int64_t limit, int force)
{
	for (;;) {
		while (o->np > 0 && o->heap[0].t < limit &&
		       (o->ng < BATCH || o->heap[0].t == o->grp[o->ng - 1].t)) {
			if (o->ng == o->gcap) {
				size_t cap = o->gcap * 2;

				o->grp = xrealloc(o->grp, cap * sizeof(*o->grp));
				o->gk = xrealloc(o->gk, cap * sizeof(*o->gk));
				o->recs = xrealloc(o->recs, cap * sizeof(*o->recs));
				memset(o->recs + o->gcap, 0, (cap - o->gcap) * sizeof(*o->recs));
				o->gcap = cap;
			}
			heap_pop(o, &o->grp[o->ng]);
			prefetch_slot(o, &o->grp[o->ng]);
			o->ng++;
			o->st.waiting--;
		}
		if (o->ng == 0 || (!force && o->ng < BATCH))
			return 0;
		if (process(o) < 0)
			return -1;
	}
}

/* ---- the interface ------------------------------------------------------------------- */

struct over *over_new(const struct over_conf *conf, struct frame_wr *out)
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
	o->dqi = xcalloc(set->n + 1, sizeof(*o->dqi));
	o->sidx = xcalloc(set->n + 1, sizeof(*o->sidx));
	o->sslot = xcalloc(set->n + 1, sizeof(*o->sslot));
	o->sset.v = xcalloc(set->n + 1, sizeof(*o->sset.v));
	for (size_t a = 0; a < set->n; a++) {
		const struct agg_spec *s = &set->v[a];
		size_t j;

		o->slot[a] = -1;
		o->dqi[a] = -1;
		o->sidx[a] = -1;
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
		case AGG_AVG:
		case AGG_STDDEV:
			o->sslot[o->sset.n] = o->slot[a];
			o->sidx[a] = (int)o->sset.n;
			o->sset.v[o->sset.n++] = *s;	/* borrowed: never agg_set_free()d */
			break;
		default: break;
		}
		o->dqi[a] = o->dqk[a] != DQ_NONE ? o->ndq++ : -1;
	}
	o->esz = sizeof(struct oent) + o->nslot * sizeof(struct oval);
	o->esz = (o->esz + 7) & ~(size_t)7;
	o->dq_off = sizeof(struct okey) + (o->nagg + o->sset.n) * sizeof(struct agg_state) +
		    (size_t)o->ndq * sizeof(struct odq);
	o->ring_off = o->dq_off + (size_t)o->ndq * DQ_INLINE * sizeof(uint64_t);
	o->keysz = o->ring_off + RING_INLINE * o->esz;
	o->maxt = INT64_MIN;
	o->floor = INT64_MIN;
	o->wm = o->wm_sent = INT64_MIN;
	o->now = INT64_MIN;
	o->gcap = BATCH * 2;
	o->grp = xcalloc(o->gcap, sizeof(*o->grp));
	o->gk = xcalloc(o->gcap, sizeof(*o->gk));
	o->recs = xcalloc(o->gcap, sizeof(*o->recs));
	o->vals = xcalloc(o->nagg + 1, sizeof(*o->vals));
	o->rvals = xcalloc(o->nagg + 1, sizeof(*o->rvals));
	o->res = xcalloc(o->nagg + 1, sizeof(*o->res));
	o->scratch = xcalloc(o->nagg + 1, sizeof(*o->scratch));
	o->srow = xcalloc(o->sset.n + 1, sizeof(*o->srow));
	o->svals = xcalloc(o->sset.n + 1, sizeof(*o->svals));
	tab_grow(o);
	return o;
}

static void key_free(struct over *o, struct okey *k)
{
	agg_free(o->set, k->row);
	for (int d = 0; d < o->ndq; d++)
		if (k->dq[d].heap)
			free(k->dq[d].v);
	if (!ring_inline(o, k))
		free(k->ring);
	free(k->fp);
	buf_free(&k->str);
	if (k->kp != k->kin)
		free(k->kp);
	/* the block itself is o->kmem's */
}

void over_free(struct over *o)
{
	struct pchunk *c;

	if (o == NULL)
		return;
	for (size_t i = 0; i < o->tcap; i++)
		if (o->tab[i].k != NULL)
			key_free(o, o->tab[i].k);
	while (o->freek != NULL) {
		struct okey *k = o->freek;

		o->freek = k->next;
		key_free(o, k);
	}
	arena_free(&o->kmem);
	free(o->tab);
	/* Chunks still holding waiting records are found through the heap
	 * and the batch. */
	for (size_t i = 0; i < o->np + o->ng; i++) {
		c = i < o->np ? o->heap[i].c : o->grp[i - o->np].c;
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
	rec_free(&o->arec);
	free(o->vals);
	free(o->rvals);
	free(o->res);
	agg_free(o->set, o->scratch);
	free(o->scratch);
	free(o->slot);
	free(o->dqk);
	free(o->dqi);
	free(o->sidx);
	free(o->sslot);
	free(o->sset.v);
	free(o->srow);
	free(o->svals);
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

static int record(struct over *o, const struct frame *f, uint64_t recno)
{
	int64_t t = f->event_ns;
	int rc = 0, noemit = 0;

	o->st.records++;
	if (t == RTAI_TIME_UNSET) {
		fail(o, "%s: record %llu: no event time", o->name, (unsigned long long)recno);
		o->errc = OVER_E_NO_TIME;
		return -1;
	}
	if (t > OVER_MAX_TIME || t < -OVER_MAX_TIME)
		return fail(o, "%s: record %llu: event time %lld ns is out of range (1824 to 2116)",
			    o->name, (unsigned long long)recno, (long long)t);
	if (o->floor != INT64_MIN) {
		if (t < o->floor) {
			o->st.floored++;
			return 0;
		}
		/* (t - RANGE, t] reaches before the floor: its previous owner
		 * emitted it; it only rebuilds its key's range here, and is
		 * late or not as any record (not written aside when late). */
		noemit = t - o->c.range < o->floor - 1;
	}
	if (t < o->wm) {
		o->st.late++;
		if (o->c.late != NULL) {
			if (noemit)
				o->st.rebuilt++;
			else
				wr_frame(o->c.late, f);
			return 0;
		}
		/* Every record is emitted: a late one leaves at once, over the
		 * records of its range still held, after those W has passed (so
		 * the keys' newest times stay in order for them). */
		if (!o->c.arrival && release(o, o->wm, 1) < 0)
			return -1;
		if (!noemit)
			o->st.late_emitted++;
		return arrive(o, f, recno, noemit);
	}
	if (t > o->maxt)
		o->maxt = t;
	if (o->c.arrival) {
		/* W moves first, so keys out of reach are gone before a new one
		 * counts against max_keys; t >= W holds all the same. */
		if (o->maxt - o->c.delay > o->wm)
			over_advance(o, o->maxt - o->c.delay);
		rc = arrive(o, f, recno, noemit);
	} else {
		struct pend p = { .t = t, .seq = o->seq++, .recno = recno, .ingest = f->ingest_ns,
				  .len = f->len, .flags = f->flags, .enc = f->enc,
				  .mark = (o->tag != 0 ? P_TAG : 0) | (noemit ? P_NOEMIT : 0) };

		/* The key's hash now, so its slot can be fetched ahead of use;
		 * faults wait for the record's turn. */
		if (f->enc == RTAI_E_REC && rec_decode(&o->arec, f->payload, f->len) == 0 &&
		    key_of(o, &o->arec, recno) == 0) {
			p.hash = okey_hash(o->kbuf.p, o->kbuf.len);
			prefetch_slot(o, &p);
		}
		p.p = stash(o, f->payload, f->len, o->tag, &p.c);
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

int over_frame(struct over *o, const struct frame *f, const char *name, uint64_t recno)
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
	case RTAI_K_SCHEMA:
		return 0;	/* records gain aggregate fields: no schema goes on */
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
	if (o->c.arrival)
		return 0;
	return release(o, wm, 0);
}

int over_finish(struct over *o)
{
	note_bytes(o);
	return release(o, INT64_MAX, 1);
}

int over_sync(struct over *o)
{
	if (!o->c.arrival && release(o, o->wm, 1) < 0)
		return -1;
	if (o->wm > o->wm_sent) {
		o->wm_sent = o->wm;
		wr_put(o->out, RTAI_K_WATERMARK, RTAI_E_NONE, 0, cli_now_ns(), o->wm, NULL, 0);
	}
	return 0;
}

void over_set_tag(struct over *o, uint32_t tag)
{
	o->tag = tag;
	if (tag != 0)
		o->tagged = 1;
}

void over_set_floor(struct over *o, int64_t floor)
{
	o->floor = floor;
}

int over_drop_tag(struct over *o, uint32_t tag, uint64_t *dropped)
{
	size_t n = 0;

	*dropped = 0;
	if (tag == 0 || !o->tagged)
		return 0;
	/* What the watermark passed leaves first, as it would have. */
	if (!o->c.arrival && release(o, o->wm, 1) < 0)
		return -1;
	for (size_t i = 0; i < o->np; i++) {
		if (pend_tag(&o->heap[i]) == tag) {
			unstash(o, o->heap[i].c);
			(*dropped)++;
		} else {
			o->heap[n++] = o->heap[i];
		}
	}
	o->np = n;
	for (size_t i = n / 2; i-- > 0;)	/* Floyd's heap construction */
		heap_down(o, i);
	o->st.waiting -= *dropped;
	o->st.revoked += *dropped;
	for (size_t i = 0; i < o->tcap;) {
		if (o->tab[i].k != NULL && o->tab[i].k->tag == tag) {
			key_expire(o, i);	/* slot i may hold another key now */
			o->st.revoked_keys++;
		} else {
			i++;
		}
	}
	/* Nothing held any more (every partition given up, as librdkafka's
	 * default eager protocol does at each rebalance): no record can be
	 * late for a range, so the watermark starts afresh, and the
	 * partitions read again from their commits are judged by their own
	 * event times, not by the newest time of before. (Downstream, no
	 * watermark goes back: over_sync() writes only a later one.) */
	if (o->st.keys == 0 && o->np == 0) {
		o->maxt = INT64_MIN;
		o->wm = INT64_MIN;
		o->now = INT64_MIN;
	}
	return 0;
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

enum over_errc over_errc(const struct over *o)
{
	return o->errc;
}

/* ---- snapshots --------------------------------------------------------------------- */

#define SNAP_MAGIC "RTOS"
#define SNAP_SEED UINT64_C(0x727461696f766572)	/* "rtaiover" */
#define SNAP_MAX_KEY (1u << 24)

/* The options that decide output, as text (the image's fingerprint). */
static void describe(const struct over *o, struct buf *out)
{
	buf_printf(out, "over range=%lldns order=%s delay=%lldns late=%s keys=",
		   (long long)o->c.range, o->c.arrival ? "arrival" : "event",
		   (long long)o->c.delay, o->c.late != NULL ? "aside" : "emitted");
	for (size_t i = 0; i < o->c.nkeys; i++) {
		if (i > 0)
			buf_putc(out, ',');
		buf_append(out, o->c.keys[i], o->c.klen[i]);
	}
	buf_puts(out, " aggregates=");
	agg_set_describe(o->set, out);
}

/* A waiting record: times, order, frame header, payload. */
static void snap_pend(struct buf *out, const struct pend *p)
{
	snap_i64(out, p->t);
	snap_u64(out, p->seq);
	snap_u64(out, p->recno);
	snap_i64(out, p->ingest);
	snap_u32(out, p->flags);
	snap_u8(out, p->enc);
	snap_bytes(out, p->p, p->len);
}

/* A key: its bytes and newest time, its ring's entries with their values
 * (and, for the front stack, their partial states), its running row, the
 * back stack, its deques. Entry numbers are written relative to head. */
static void snap_key(const struct over *o, const struct oslot *sl, struct buf *out)
{
	const struct okey *k = sl->k;

	snap_bytes(out, k->kp, k->klen);
	snap_i64(out, k->tmax);
	snap_i64(out, sl->tmax);
	snap_u32(out, (uint32_t)(k->tail - k->head));
	snap_u32(out, (uint32_t)(k->act - k->head));
	if (o->sset.n > 0)
		snap_u32(out, (uint32_t)(k->split - k->head));
	for (uint64_t i = k->head; i < k->tail; i++) {
		const struct oent *e = ent(o, k, i);

		snap_i64(out, e->t);
		for (size_t s = 0; s < o->nslot; s++) {
			const struct oval *v = &e->v[s];

			snap_u8(out, v->type);
			if (rt_has_bytes(v->type))
				snap_bytes(out, k->str.p + v->u, v->n);
			else
				snap_u64(out, v->u);
		}
	}
	if (o->sset.n > 0) {
		uint64_t j, s0 = sl_first(k, &j), m = 0;

		if (k->act >= k->split)
			s0 = k->act;
		else if (s0 < k->split)
			m = (k->split - s0 + SL_BLOCK - 1) / SL_BLOCK;
		snap_u32(out, (uint32_t)(s0 - k->head));
		snap_u32(out, (uint32_t)m);
		for (uint64_t b = 0; b < m; b++)
			agg_row_snapshot(&o->sset, fpart(o, k, j + b), out);
	}
	agg_row_snapshot(o->set, k->row, out);
	if (o->sset.n > 0)
		agg_row_snapshot(&o->sset, k->bk, out);
	for (int d = 0; d < o->ndq; d++) {
		const struct odq *q = &k->dq[d];

		snap_u32(out, q->n);
		for (uint32_t j = 0; j < q->n; j++)
			snap_u32(out, (uint32_t)(q->v[(q->head + j) & (q->cap - 1)] - k->head));
	}
}

void over_snapshot(const struct over *o, struct buf *out)
{
	size_t head;
	struct buf desc = { 0 };

	buf_reserve(out, (size_t)o->st.entries * (o->esz + 16) + (size_t)o->st.keys * 64 + 256);
	head = snap_begin(out, SNAP_MAGIC, OVER_SNAP_VERSION);
	describe(o, &desc);
	snap_bytes(out, desc.p, desc.len);
	buf_free(&desc);
	snap_i64(out, o->maxt);
	snap_i64(out, o->wm);
	snap_i64(out, o->wm_sent);
	snap_i64(out, o->now);
	snap_u64(out, o->seq);
	snap_u64(out, o->since_sweep);
	snap_u64(out, o->st.records);
	snap_u64(out, o->st.emitted);
	snap_u64(out, o->st.late);
	snap_u64(out, o->st.late_emitted);
	snap_u64(out, o->st.peak_keys);
	snap_u64(out, o->st.peak_entries);
	snap_u64(out, o->st.peak_waiting);
	snap_u64(out, o->st.peak_bytes);
	snap_u64(out, o->tcap);
	snap_u32(out, (uint32_t)o->st.keys);
	for (size_t i = 0; i < o->tcap; i++)
		if (o->tab[i].k != NULL)
			snap_key(o, &o->tab[i], out);
	/* The records of a batch not processed yet come first: they were the
	 * first in line. */
	snap_u32(out, (uint32_t)(o->ng + o->np));
	for (size_t i = 0; i < o->ng; i++)
		snap_pend(out, &o->grp[i]);
	for (size_t i = 0; i < o->np; i++)
		snap_pend(out, &o->heap[i]);
	snap_seal(out, head, SNAP_SEED);
}

/* Reads one key written by snap_key() into the table. Returns 0, or -1
 * with r marked bad (the key, once in the table, is freed with it). */
static int restore_key(struct over *o, struct snap_rd *r)
{
	const uint8_t *kp = NULL;
	size_t kn, min_ent = 8 + o->nslot * 5;
	uint64_t hash;
	int64_t tmax, stmax, prev = INT64_MIN;
	uint32_t n, act, split, cap = RING_INLINE;
	struct okey *k;
	size_t i;

	kp = snap_get_bytes(r, SNAP_MAX_KEY, &kn);
	tmax = snap_get_i64(r);
	stmax = snap_get_i64(r);
	n = snap_get_count(r, min_ent);
	act = snap_get_u32(r);
	split = o->sset.n > 0 ? snap_get_u32(r) : n;
	if (r->bad != NULL)
		return -1;
	if (act > n || (o->sset.n > 0 && (split < act || split > n)))
		return snap_fail(r, "a range with impossible bounds");
	if (tmax > OVER_MAX_TIME || tmax < -OVER_MAX_TIME || stmax != tmax)
		return snap_fail(r, "a key with an impossible newest time");
	if ((o->st.keys + 1) * 10 > o->tcap * 7)
		return snap_fail(r, "more keys than its table holds");
	hash = okey_hash(kp, kn);
	i = tab_find(o, kp, kn, hash);
	if (o->tab[i].k != NULL)
		return snap_fail(r, "a key listed twice");
	k = key_put(o, i, kp, kn, hash, tmax);
	k->tmax = tmax;
	while (cap < n)
		cap *= 2;
	if (cap > k->cap) {
		k->ring = xmalloc((size_t)cap * o->esz);
		k->cap = cap;
	}
	k->head = 0;
	k->act = act;
	k->split = split;
	k->tail = n;
	o->st.entries += n;
	for (uint32_t j = 0; j < n && r->bad == NULL; j++) {
		struct oent *e = ent(o, k, j);

		e->t = snap_get_i64(r);
		if (e->t < prev || e->t > tmax || e->t < -OVER_MAX_TIME)
			return snap_fail(r, "a range whose times are out of order");
		prev = e->t;
		for (size_t s = 0; s < o->nslot && r->bad == NULL; s++) {
			struct oval *v = &e->v[s];

			v->type = snap_get_u8(r);
			v->n = 0;
			v->u = 0;
			if (v->type > RT_BYTES) {
				snap_fail(r, "an unknown value type");
			} else if (rt_has_bytes(v->type)) {
				size_t bn;
				const uint8_t *bp = snap_get_bytes(r, UINT32_MAX, &bn);

				if (bp != NULL) {
					v->u = k->str.len;
					v->n = (uint32_t)bn;
					buf_append(&k->str, bp, bn);
				}
			} else {
				v->u = snap_get_u64(r);
			}
		}
	}
	if (o->sset.n > 0 && r->bad == NULL) {
		uint32_t s0 = snap_get_u32(r), m = snap_get_u32(r), want = 0;

		if (r->bad != NULL)
			return -1;
		if (s0 < split)
			want = (split - s0 + SL_BLOCK - 1) / SL_BLOCK;
		if (s0 < act || (act < split && s0 >= act + SL_BLOCK) || (act == split && s0 != act) || m != want)
			return snap_fail(r, "a front stack with impossible partials");
		k->fbase = s0;
		fp_reserve(o, k, m);
		for (uint32_t b = 0; b < m && r->bad == NULL; b++) {
			memset(fpart(o, k, b), 0, sl_rowsz(o));
			agg_row_restore(&o->sset, fpart(o, k, b), r);
		}
	}
	if (r->bad == NULL)
		agg_row_restore(o->set, k->row, r);
	if (r->bad == NULL && o->sset.n > 0)
		agg_row_restore(&o->sset, k->bk, r);
	for (int d = 0; d < o->ndq && r->bad == NULL; d++) {
		struct odq *q = &k->dq[d];
		uint32_t qn = snap_get_u32(r);
		uint64_t last = 0;

		if (r->bad != NULL)
			break;
		if (qn > n - act)
			return snap_fail(r, "a deque longer than its range");
		q->head = 0;
		q->n = 0;
		for (uint32_t j = 0; j < qn && r->bad == NULL; j++) {
			uint64_t x = snap_get_u32(r);

			if (r->bad == NULL && (x < act || x >= n || (j > 0 && x <= last)))
				return snap_fail(r, "a deque out of its range");
			last = x;
			dq_push(q, x);
		}
	}
	return r->bad != NULL ? -1 : 0;
}

/* Reads one waiting record written by snap_pend() into the heap. */
static int restore_pend(struct over *o, struct snap_rd *r)
{
	struct pend p = { 0 };
	const uint8_t *pp;
	size_t n;
	uint32_t flags;

	p.t = snap_get_i64(r);
	p.seq = snap_get_u64(r);
	p.recno = snap_get_u64(r);
	p.ingest = snap_get_i64(r);
	flags = snap_get_u32(r);
	p.enc = snap_get_u8(r);
	pp = snap_get_bytes(r, UINT32_MAX, &n);
	if (r->bad != NULL)
		return -1;
	if (p.t > OVER_MAX_TIME || p.t < -OVER_MAX_TIME || p.seq >= o->seq || flags > UINT16_MAX)
		return snap_fail(r, "an impossible waiting record");
	p.flags = (uint16_t)flags;
	p.len = (uint32_t)n;
	/* The key's hash is recomputed, as record() does, not trusted. */
	if (p.enc == RTAI_E_REC && rec_decode(&o->arec, pp, n) == 0 &&
	    key_of(o, &o->arec, p.recno) == 0)
		p.hash = okey_hash(o->kbuf.p, o->kbuf.len);
	p.p = stash(o, pp, n, 0, &p.c);
	heap_push(o, &p);
	o->st.waiting++;
	return 0;
}

/* Whether t is INT64_MIN (none yet) or a time the engine can hold; slack
 * 1 for the watermark, which over_advance() clamps one beyond. */
static int time_ok(int64_t t, int64_t slack)
{
	return t == INT64_MIN || (t <= OVER_MAX_TIME + slack && t >= -OVER_MAX_TIME - slack);
}

int over_restore(struct over *o, const void *p, size_t len, char *err, size_t errlen)
{
	struct snap_rd r;
	struct buf desc = { 0 };
	struct over_stats st = { 0 };
	const uint8_t *d;
	uint32_t nk, np;
	uint64_t tcap;
	size_t dn;
	int rc = -1;

	if (o->st.records != 0 || o->st.keys != 0 || o->np != 0 || o->wm != INT64_MIN) {
		snprintf(err, errlen, "the engine already holds state (restore into a new one)");
		return -1;
	}
	if (snap_open(&r, p, len, SNAP_MAGIC, OVER_SNAP_VERSION, SNAP_SEED, "range", err, errlen) < 0)
		return -1;
	d = snap_get_bytes(&r, 1u << 20, &dn);
	describe(o, &desc);
	if (d == NULL) {
		snprintf(err, errlen, "a corrupt range snapshot: byte %zu: %s", r.off, r.bad);
		goto out;
	}
	if (dn != desc.len || memcmp(d, desc.p, dn) != 0) {
		snprintf(err, errlen, "a range snapshot made with other options ('%.*s'; these are "
			 "'%.*s')", (int)dn, (const char *)d, (int)desc.len, (const char *)desc.p);
		goto out;
	}
	o->maxt = snap_get_i64(&r);
	o->wm = snap_get_i64(&r);
	o->wm_sent = snap_get_i64(&r);
	o->now = snap_get_i64(&r);
	o->seq = snap_get_u64(&r);
	o->since_sweep = snap_get_u64(&r);
	st.records = snap_get_u64(&r);
	st.emitted = snap_get_u64(&r);
	st.late = snap_get_u64(&r);
	st.late_emitted = snap_get_u64(&r);
	st.peak_keys = snap_get_u64(&r);
	st.peak_entries = snap_get_u64(&r);
	st.peak_waiting = snap_get_u64(&r);
	st.peak_bytes = snap_get_u64(&r);
	tcap = snap_get_u64(&r);
	nk = snap_get_count(&r, 4 + 8 + 8 + 4 + 4);
	/* The table only grows past 1024 slots when 70% of it is in use: it
	 * is never more than about three times the peak number of keys. */
	if (r.bad == NULL && (tcap < 1024 || tcap > (UINT64_C(1) << 31) ||
			      (tcap & (tcap - 1)) != 0 ||
			      (tcap > 1024 && tcap / 4 > st.peak_keys + 1) ||
			      nk > st.peak_keys))
		snap_fail(&r, "an impossible key table size");
	if (r.bad == NULL && (!time_ok(o->maxt, 0) || !time_ok(o->now, 0) ||
			      !time_ok(o->wm, 1) || o->since_sweep > tcap))
		snap_fail(&r, "an impossible watermark or event time");
	if (r.bad == NULL && tcap != o->tcap) {
		free(o->tab);
		o->tab = xcalloc((size_t)tcap, sizeof(*o->tab));
		o->tcap = (size_t)tcap;
	}
	for (uint32_t i = 0; i < nk && r.bad == NULL; i++)
		restore_key(o, &r);
	np = snap_get_count(&r, 8 * 4 + 4 + 1 + 4);
	if (r.bad == NULL && np > 0 && o->c.arrival)
		snap_fail(&r, "records waiting in arrival order");
	for (uint32_t i = 0; i < np && r.bad == NULL; i++)
		restore_pend(o, &r);
	/* key_of() above may have noted a bad key: it shows when the record
	 * leaves, as it would have. */
	o->err[0] = '\0';
	o->errc = OVER_E_NONE;
	if (r.bad == NULL && r.off != r.n)
		snap_fail(&r, "bytes after its last waiting record");
	if (r.bad != NULL) {
		snprintf(err, errlen, "a corrupt range snapshot: byte %zu: %s", r.off, r.bad);
		goto out;
	}
	st.keys = o->st.keys;
	st.entries = o->st.entries;
	st.waiting = o->st.waiting;
	if (st.peak_keys < st.keys)
		st.peak_keys = st.keys;
	if (st.peak_entries < st.entries)
		st.peak_entries = st.entries;
	if (st.peak_waiting < st.waiting)
		st.peak_waiting = st.waiting;
	o->st = st;
	rc = 0;
out:
	buf_free(&desc);
	return rc;
}
