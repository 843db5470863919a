/* win.c - event-time windows: assignment, state, watermark, firing. */
#include "config.h"
#include "win.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"
#include "rtime.h"
#include "snap.h"

/* ---- structures ---------------------------------------------------------- */

#define KEY_INLINE 16

/* A slot of the key table, which is open-addressed with linear probing:
 * one cache line holds the hash, the key (when short) and its windows, so
 * finding a key's windows costs one miss. A key whose windows have all
 * gone stays as an idle slot, so a key that comes back every hour is not
 * removed and inserted again each time; idle slots go when the table is
 * rebuilt. A key's id is its slot. */
struct wkey {
	uint32_t h;		/* hash; the home slot is h & mask */
	uint32_t klen1;		/* key bytes + 1; 0 for an empty slot */
	uint32_t nwin;		/* open windows of this key; 0 = idle */
	uint32_t head;		/* its windows, by start descending; 0 = none */
	union {
		uint8_t in[KEY_INLINE];
		uint8_t *p;	/* longer keys */
	} b;
};

struct wwin {
	int64_t start, end;
	int64_t ingest;		/* latest ingest time */
	uint32_t key;		/* key id: its slot in the key table; WIN_FREE
				 * while on the free list */
	uint32_t next;		/* next window of the key, or the free list */
	uint32_t hpos;		/* index in the heap */
	uint8_t fired;		/* W has reached its end */
	struct agg_state row[];
};

#define WIN_FREE UINT32_MAX

struct hent {
	int64_t dl;		/* deadline: end, or end + lateness once fired */
	uint32_t id;
};

#define CHUNK_BITS 10
#define CHUNK (1u << CHUNK_BITS)
/* A chunk of the window slab: CHUNK windows of esize bytes, then their
 * stamps (which snapshot has each window's image: win_snapshot_begin),
 * one byte each. The stamps are apart from the windows because the
 * writer thread stamps every window of the slab (claim_window): a stamp
 * inside the window had it write to every window's cache line, which
 * the records' thread, writing the same windows, then had to take back
 * from the other core, line by line. Apart, the writer writes one line
 * of stamps per 64 windows and only reads the windows: its part of a
 * snapshot of 100k keys' windows (6 MB) went from 12.7 ms to 5.9 ms
 * (medians of 7 and 10 snapshots, rtai-window -v, same run). */
#define CHUNK_BYTES(esize) ((size_t)CHUNK * (esize) + CHUNK)

struct win {
	struct win_conf c;
	win_emit_fn emit;
	void *arg;
	int64_t wm;		/* the watermark */
	struct win_stats st;
	char err[160];

	struct wkey *keys;	/* the key table */
	uint32_t kcap;		/* slots, a power of two */
	uint32_t kused;		/* slots in use, idle keys included */
	size_t key_heap;	/* bytes of long keys */

	uint8_t **chunks;	/* window slab */
	uint32_t nchunks, wused, wfree;
	uint8_t **blocks;	/* the chunks' allocations: 1, 1, 2, 4 ... 64
				 * chunks each, so that a large slab is
				 * in blocks that huge pages back (xmalloc) */
	uint32_t nblocks;
	size_t esize;		/* bytes per window */

	struct hent *heap;
	uint32_t hn, hcap;

	/* Sessions only, one per key slot: the end of the key's latest session
	 * that fired and was dropped (INT64_MIN for none). A record whose
	 * session would reach it is late, so no two sessions written for a key
	 * overlap or touch; an idle key is kept while a record could. */
	int64_t *gone;

	/* Tags (win_set_tag), one per key slot: the tag of the key's latest
	 * record; NULL until a tag is set. */
	uint32_t *tags;
	uint32_t tag;		/* the tag of the records added next */
	int64_t floor;		/* their windows start at or after it (win_set_floor) */

	uint32_t *batch;	/* windows firing together, or touched by a record */
	uint32_t bn, bcap;
	struct fsort *fs;	/* the order of those firing */
	uint32_t fcap;

	/* The snapshot in flight (win_snapshot_begin). Each snapshot E
	 * has two stamps: busy (2E) while one thread writes a window's
	 * image, done (2E + 1) once it is written (mod 256: every window
	 * of the slab is stamped by each snapshot, so an older stamp is
	 * never mistaken for these). */
	uint32_t snap_epoch;
	uint8_t snap_busy, snap_done;
	int snap_running;	/* atomic: 1 until win_snapshot_finish ends */
	size_t snap_head;	/* the image's header in out */
	size_t snap_reserve;	/* bytes the rest of the image will about take */
	uint32_t snap_wused;	/* the slab's ids below it are in the image */
	uint32_t snap_nwin;	/* the windows open at the barrier */
	uint8_t **snap_chunks;	/* the slab's chunks then (the writer's copy) */
	uint32_t snap_ccap;
	struct wkey *snap_keys;	/* the key table then (not rehashed until the end) */
	uint32_t snap_kcap;
	struct buf side;	/* images of windows the records reached first */
	uint32_t side_n;	/* atomic: how many */
};

static inline struct wwin *W(const struct win *w, uint32_t id)
{
	return (struct wwin *)(w->chunks[id >> CHUNK_BITS] + (size_t)(id & (CHUNK - 1)) * w->esize);
}

/* Window id's stamp in a chunk array (the slab's, or the writer's copy). */
static inline uint8_t *stamp_of(uint8_t *const *chunks, size_t esize, uint32_t id)
{
	return chunks[id >> CHUNK_BITS] + (size_t)CHUNK * esize + (id & (CHUNK - 1));
}

static void cow_slow(struct win *w, uint32_t id);

/* Before window id changes (or its slot is reused): while a snapshot is
 * being written, its image as of the barrier goes first (cow_slow). Once
 * the window is in the image, or was not open at the barrier, a compare. */
static inline void cow(struct win *w, uint32_t id)
{
	if (__atomic_load_n(stamp_of(w->chunks, w->esize, id), __ATOMIC_ACQUIRE) != w->snap_done)
		cow_slow(w, id);
}

/* Waits for the snapshot in flight to end (before the key table is
 * rebuilt or the engine freed: the writer reads both). */
static void snap_settle(struct win *w)
{
	while (__atomic_load_n(&w->snap_running, __ATOMIC_ACQUIRE))
		sched_yield();
}

static inline uint32_t key_len(const struct wkey *k)
{
	return k->klen1 - 1;
}

static inline const uint8_t *kbytes(const struct wkey *k)
{
	return key_len(k) <= KEY_INLINE ? k->b.in : k->b.p;
}

static void batch_push(struct win *w, uint32_t id)
{
	if (w->bn == w->bcap) {
		w->bcap = w->bcap ? w->bcap * 2 : 256;
		w->batch = xrealloc(w->batch, w->bcap * sizeof(*w->batch));
	}
	w->batch[w->bn++] = id;
}

/* ---- keys ---------------------------------------------------------------- */

/* The values of a key (typed: key.h), at most KEY_VALS of them. */
#define KEY_VALS 64

static int key_vals(const struct wkey *k, struct val *v)
{
	return key_values(kbytes(k), key_len(k), v, KEY_VALS);
}

static int key_cmp(const struct wkey *a, const struct wkey *b)
{
	struct val x[KEY_VALS], y[KEY_VALS];
	int nx = key_vals(a, x), ny = key_vals(b, y);

	for (int i = 0; i < nx && i < ny; i++) {
		int c = val_cmp(&x[i], &y[i]);

		if (c != 0)
			return c;
		if (x[i].type != y[i].type)	/* 1 and 1.5 compare by value: order by type */
			return x[i].type < y[i].type ? -1 : 1;
	}
	if (nx != ny)
		return (nx > ny) - (nx < ny);
	/* Beyond KEY_VALS fields: by identity bytes. */
	{
		size_t ia = key_idlen(kbytes(a), key_len(a)), ib = key_idlen(kbytes(b), key_len(b));
		int c = memcmp(kbytes(a), kbytes(b), ia < ib ? ia : ib);

		return c != 0 ? c : (ia > ib) - (ia < ib);
	}
}

/* The hash of a typed key's identity. */
static uint32_t key_hash32(const uint8_t *key, size_t n)
{
	return (uint32_t)key_hash(key, key_idlen(key, n));
}

/* The slot of key, or the empty slot where it would go. */
static uint32_t key_find(const struct win *w, uint32_t h, const uint8_t *key, size_t n)
{
	uint32_t mask = w->kcap - 1, i = h & mask;
	size_t id = key_idlen(key, n);

	for (;; i = (i + 1) & mask) {
		const struct wkey *k = &w->keys[i];

		if (k->klen1 == 0)
			return i;
		if (k->h == h && key_idlen(kbytes(k), key_len(k)) == id &&
		    memcmp(kbytes(k), key, id) == 0)
			return i;
	}
}

uint32_t win_key_hash(const uint8_t *key, size_t klen)
{
	return key_hash32(key, klen);
}

void win_prefetch(const struct win *w, const uint8_t *key, size_t klen, uint32_t h, int step)
{
	const struct wkey *k;

	if (step == 1) {
		__builtin_prefetch(&w->keys[h & (w->kcap - 1)]);
		return;
	}
	k = &w->keys[key_find(w, h, key, klen)];
	if (k->klen1 != 0 && k->head != 0) {
		const char *x = (const char *)W(w, k->head);

		__builtin_prefetch(x);
		__builtin_prefetch(x + 64);	/* the aggregates */
	}
}

/* Whether a record could still reach a dropped session that ended at
 * gone: one with t <= gone and t + gap + lateness > W. */
static int gone_matters(const struct win *w, int64_t gone)
{
	if (gone == INT64_MIN)
		return 0;
	return w->wm < INT64_MIN / 2 || gone > w->wm - w->c.gap - w->c.lateness;
}

/* Rebuilds the table with room for twice the live keys, dropping idle
 * ones, and points every window at its key's new slot. */
static void key_rehash(struct win *w)
{
	struct wkey *old = w->keys;
	int64_t *oldgone = w->gone;
	uint32_t *oldtags = w->tags;
	uint32_t oldcap = w->kcap, cap = 1024;
	uint64_t live = w->st.keys;

	snap_settle(w);		/* the writer reads the table and the windows' keys */

	for (uint32_t i = 0; oldgone != NULL && i < oldcap; i++)
		if (old[i].klen1 != 0 && old[i].nwin == 0 && gone_matters(w, oldgone[i]))
			live++;
	while ((live + 1) * 20 > (uint64_t)cap * 7)
		cap *= 2;
	w->keys = xcalloc_huge(cap, sizeof(*w->keys));
	w->kcap = cap;
	w->kused = 0;
	if (oldgone != NULL)
		w->gone = xmalloc(cap * sizeof(*w->gone));
	if (oldtags != NULL)
		w->tags = xcalloc(cap, sizeof(*w->tags));
	for (uint32_t i = 0; i < oldcap; i++) {
		struct wkey *k = &old[i];
		uint32_t j;

		if (k->klen1 == 0)
			continue;
		if (k->nwin == 0 && (oldgone == NULL || !gone_matters(w, oldgone[i]))) {
			if (key_len(k) > KEY_INLINE) {
				free(k->b.p);
				w->key_heap -= key_len(k);
			}
			continue;
		}
		for (j = k->h & (cap - 1); w->keys[j].klen1 != 0; j = (j + 1) & (cap - 1))
			;
		w->keys[j] = *k;
		if (oldgone != NULL)
			w->gone[j] = oldgone[i];
		if (oldtags != NULL)
			w->tags[j] = oldtags[i];
		w->kused++;
		for (uint32_t id = k->head; id != 0; id = W(w, id)->next)
			W(w, id)->key = j;
	}
	free(old);
	free(oldgone);
	free(oldtags);
}

/* Makes the empty slot i hold key[0..n) with hash h: the key inline when
 * it fits, else a copy on the heap (counted in key_heap). */
static void key_set(struct win *w, uint32_t i, uint32_t h, const uint8_t *key, size_t n)
{
	struct wkey *k = &w->keys[i];

	/* klen1 last, released: a snapshot's writer may be reading the
	 * table (win_snapshot_finish), and takes a slot once klen1 is set. */
	k->h = h;
	k->nwin = 0;
	k->head = 0;
	memset(&k->b, 0, sizeof(k->b));
	if (n <= KEY_INLINE) {
		memcpy(k->b.in, key, n);
	} else {
		k->b.p = xmalloc(n);
		memcpy(k->b.p, key, n);
		w->key_heap += n;
	}
	__atomic_store_n(&k->klen1, (uint32_t)n + 1, __ATOMIC_RELEASE);
	w->kused++;
}

/* The id of key, made live; UINT32_MAX (with err set) when that would
 * exceed max_keys. */
static uint32_t key_get(struct win *w, const uint8_t *key, size_t n)
{
	uint32_t h = key_hash32(key, n), i = key_find(w, h, key, n);
	struct wkey *k = &w->keys[i];

	if (w->tags != NULL)
		w->tags[i] = w->tag;	/* before a rehash, which moves it */
	if (k->klen1 != 0 && k->nwin > 0)
		return i;
	if (w->c.max_keys > 0 && w->st.keys >= w->c.max_keys) {
		snprintf(w->err, sizeof(w->err), "more than %llu keys with open windows",
			 (unsigned long long)w->c.max_keys);
		return UINT32_MAX;
	}
	if (k->klen1 != 0)
		return i;	/* an idle key comes back */
	if ((uint64_t)(w->kused + 1) * 10 > (uint64_t)w->kcap * 7) {
		key_rehash(w);
		i = key_find(w, h, key, n);
		if (w->tags != NULL)
			w->tags[i] = w->tag;
	}
	key_set(w, i, h, key, n);
	if (w->gone != NULL)
		w->gone[i] = INT64_MIN;
	return i;
}

/* ---- the heap of deadlines ------------------------------------------------- */

static inline int hless(const struct hent *a, const struct hent *b)
{
	return a->dl < b->dl || (a->dl == b->dl && a->id < b->id);
}

static void hset(struct win *w, uint32_t i, struct hent e)
{
	w->heap[i] = e;
	W(w, e.id)->hpos = i;
}

static void hup(struct win *w, uint32_t i)
{
	struct hent e = w->heap[i];

	while (i > 0) {
		uint32_t p = (i - 1) / 2;

		if (!hless(&e, &w->heap[p]))
			break;
		hset(w, i, w->heap[p]);
		i = p;
	}
	hset(w, i, e);
}

static void hdown(struct win *w, uint32_t i)
{
	struct hent e = w->heap[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= w->hn)
			break;
		if (c + 1 < w->hn && hless(&w->heap[c + 1], &w->heap[c]))
			c++;
		if (!hless(&w->heap[c], &e))
			break;
		hset(w, i, w->heap[c]);
		i = c;
	}
	hset(w, i, e);
}

static void hpush(struct win *w, uint32_t id, int64_t dl)
{
	if (w->hn == w->hcap) {
		w->hcap = w->hcap ? w->hcap * 2 : 1024;
		w->heap = xrealloc(w->heap, w->hcap * sizeof(*w->heap));
	}
	w->heap[w->hn] = (struct hent){ dl, id };
	hup(w, w->hn++);
}

static void hremove(struct win *w, uint32_t i)
{
	struct hent last;

	if (--w->hn == i)
		return;
	last = w->heap[w->hn];
	hset(w, i, last);
	if (i > 0 && hless(&last, &w->heap[(i - 1) / 2]))
		hup(w, i);
	else
		hdown(w, i);
}

/* Sets a window's deadline, which may move either way. */
static void hupdate(struct win *w, uint32_t id, int64_t dl)
{
	uint32_t i = W(w, id)->hpos;

	w->heap[i].dl = dl;
	hup(w, i);
	hdown(w, W(w, id)->hpos);
}

static int64_t deadline(const struct win *w, const struct wwin *x)
{
	return x->fired ? x->end + w->c.lateness : x->end;
}

/* ---- windows --------------------------------------------------------------- */

static uint32_t win_alloc(struct win *w, uint32_t key, int64_t start, int64_t end)
{
	struct wwin *x;
	uint32_t id;

	if (w->wfree != 0) {
		id = w->wfree;
		w->wfree = W(w, id)->next;
	} else {
		if (w->wused == 0)
			w->wused = 1;	/* id 0 means none */
		id = w->wused++;
		if ((id >> CHUNK_BITS) >= w->nchunks) {
			uint32_t g = w->nchunks == 0 ? 1 : w->nchunks < 64 ? w->nchunks : 64;
			uint8_t *blk = xcalloc_huge(g, CHUNK_BYTES(w->esize));

			w->chunks = xrealloc(w->chunks, (w->nchunks + g) * sizeof(*w->chunks));
			w->blocks = xrealloc(w->blocks, (w->nblocks + 1) * sizeof(*w->blocks));
			w->blocks[w->nblocks++] = blk;
			for (uint32_t i = 0; i < g; i++)
				w->chunks[w->nchunks++] = blk + (size_t)i * CHUNK_BYTES(w->esize);
		}
	}
	cow(w, id);	/* a free slot of the image's slab: the writer looks at it */
	x = W(w, id);
	x->start = start;
	x->end = end;
	x->ingest = INT64_MIN;
	x->key = key;
	x->next = 0;
	x->fired = 0;
	if (w->keys[key].nwin++ == 0 && ++w->st.keys > w->st.peak_keys)
		w->st.peak_keys = w->st.keys;
	if (++w->st.windows > w->st.peak_windows)
		w->st.peak_windows = w->st.windows;
	hpush(w, id, end);
	return id;
}

/* Frees a window that is already out of the heap and unlinked from its key. */
static void win_release(struct win *w, uint32_t id)
{
	struct wwin *x = W(w, id);

	cow(w, id);
	agg_reset(w->c.aggs, x->row);
	if (--w->keys[x->key].nwin == 0)
		w->st.keys--;	/* idle: the slot stays for the key's return */
	x->key = WIN_FREE;	/* win_snapshot's walk of the slab skips it */
	x->next = w->wfree;
	w->wfree = id;
	w->st.windows--;
}

static void win_unlink(struct win *w, uint32_t id)
{
	struct wwin *x = W(w, id);
	uint32_t *link = &w->keys[x->key].head;

	while (*link != 0 && *link != id)
		link = &W(w, *link)->next;
	if (*link == id)
		*link = x->next;
}

static void emit(struct win *w, uint32_t id, int refire)
{
	struct wwin *x = W(w, id);
	const struct wkey *k = &w->keys[x->key];
	struct win_out o = { .key = kbytes(k), .klen = key_len(k), .start = x->start, .end = x->end,
			     .ingest = x->ingest, .row = x->row, .refire = refire };

	w->emit(w->arg, &o);
}

/* After a record went into window id: emits what the mode asks for now. */
static void touched(struct win *w, uint32_t id)
{
	struct wwin *x = W(w, id);
	int past = x->end <= w->wm;

	if (w->c.update) {
		emit(w, id, x->fired);
		w->st.updates++;
	} else if (past) {
		emit(w, id, x->fired);
		if (x->fired)
			w->st.refired++;
		else
			w->st.fired++;
	}
	if (past && !x->fired) {
		cow(w, id);
		x->fired = 1;
		hupdate(w, id, deadline(w, x));
	}
}

static void add_to(struct win *w, uint32_t id, int64_t t, int64_t ingest,
		   const struct val *vals)
{
	struct wwin *x = W(w, id);

	cow(w, id);
	if (ingest > x->ingest)
		x->ingest = ingest;
	agg_add(w->c.aggs, x->row, vals, t);
}

/* Tumbling and sliding windows. */
static int add_fixed(struct win *w, const uint8_t *key, size_t klen, int64_t t, int64_t ingest,
		     const struct val *vals)
{
	int64_t size = w->c.size, slide = w->c.slide, off = w->c.offset;
	int64_t last = off + rtime_floordiv(t - off, slide) * slide, s;
	uint32_t kid = UINT32_MAX, cur = 0, *link = NULL;
	int added = 0;

	w->bn = 0;
	for (s = last; s > t - size; s -= slide) {
		int64_t end = s + size;
		uint32_t id;

		if (end + w->c.lateness <= w->wm)
			break;		/* late here, and for every earlier window */
		if (s < w->floor) {
			w->st.floored++;	/* and every earlier window */
			break;
		}
		if (kid == UINT32_MAX) {
			kid = key_get(w, key, klen);
			if (kid == UINT32_MAX)
				return -1;
			link = &w->keys[kid].head;
			cur = *link;
		}
		while (cur != 0 && W(w, cur)->start > s) {
			link = &W(w, cur)->next;
			cur = *link;
		}
		if (cur != 0 && W(w, cur)->start == s) {
			id = cur;
		} else {
			id = win_alloc(w, kid, s, end);
			W(w, id)->next = cur;
			*link = id;
			cur = id;
		}
		add_to(w, id, t, ingest, vals);
		batch_push(w, id);
		added++;
	}
	if (added > 0 && s > t - size && s >= w->floor)
		w->st.late_some++;
	/* Windows in order of end for what is emitted now. */
	for (uint32_t i = w->bn; i-- > 0;)
		touched(w, w->batch[i]);
	return added;
}

/* Session windows: [t, t + gap) merged with the sessions it touches. */
static int add_session(struct win *w, const uint8_t *key, size_t klen, int64_t t,
		       int64_t ingest, const struct val *vals)
{
	int64_t ns = t, ne = t + w->c.gap;
	uint32_t kid, id, keep = 0, *link, cur;
	int changed;

	/* Merged bounds first: the record is late if that session is, and
	 * when it would reach a session already fired and dropped. */
	kid = key_find(w, key_hash32(key, klen), key, klen);
	if (w->keys[kid].klen1 != 0 && t <= w->gone[kid])
		return 0;
	for (cur = w->keys[kid].klen1 ? w->keys[kid].head : 0; cur != 0; cur = W(w, cur)->next) {
		struct wwin *x = W(w, cur);

		if (x->end < t)
			break;		/* this and all later in the list are before */
		if (x->start <= t + w->c.gap) {
			if (x->start < ns)
				ns = x->start;
			if (x->end > ne)
				ne = x->end;
		}
	}
	if (ne + w->c.lateness <= w->wm)
		return 0;
	if ((kid = key_get(w, key, klen)) == UINT32_MAX)
		return -1;
	/* Fold every touching session into the one that starts first. */
	link = &w->keys[kid].head;
	while ((cur = *link) != 0) {
		struct wwin *x = W(w, cur);

		if (x->end < t)
			break;
		if (x->start > t + w->c.gap) {
			link = &x->next;
			continue;
		}
		if (keep == 0) {
			keep = cur;
			link = &x->next;
			continue;
		}
		/* keep starts later than cur: move keep's state into cur */
		{
			struct wwin *k = W(w, keep);

			cow(w, cur);
			agg_merge(w->c.aggs, x->row, k->row);
			if (k->ingest > x->ingest)
				x->ingest = k->ingest;
			win_unlink(w, keep);
			hremove(w, k->hpos);
			win_release(w, keep);
			keep = cur;
			link = &W(w, cur)->next;
		}
	}
	if (keep == 0) {
		id = win_alloc(w, kid, ns, ne);
		/* insert by start descending */
		link = &w->keys[kid].head;
		while (*link != 0 && W(w, *link)->start > ns)
			link = &W(w, *link)->next;
		W(w, id)->next = *link;
		*link = id;
	} else {
		struct wwin *x = W(w, keep);

		id = keep;
		cow(w, id);
		changed = x->start != ns || x->end != ne;
		x->start = ns;
		x->end = ne;
		if (changed && x->fired && ne > w->wm)
			x->fired = 0;	/* a merged session fires again at its new end */
		hupdate(w, id, deadline(w, x));
	}
	add_to(w, id, t, ingest, vals);
	touched(w, id);
	return 1;
}

int win_add(struct win *w, const uint8_t *key, size_t klen, int64_t t, int64_t ingest,
	    const struct val *vals)
{
	int n = w->c.kind == WIN_SESSION ? add_session(w, key, klen, t, ingest, vals)
					 : add_fixed(w, key, klen, t, ingest, vals);

	if (n > 0)
		w->st.records++;
	else if (n == 0)
		w->st.late++;
	return n;
}

/* ---- firing ------------------------------------------------------------------ */

/* What the order of firing compares, gathered in one array so that
 * sorting 100k windows does not chase pointers: the first key field's
 * leading bytes, in an order-preserving form, settle most comparisons. */
struct fsort {
	int64_t end, start;
	uint64_t pre;		/* prefix of the first key field */
	uint32_t id, key;
	uint8_t ptype;		/* its type; 0xff: compare keys in full */
};

static void key_prefix(const struct wkey *k, struct fsort *f)
{
	struct val v;
	uint64_t bits;

	f->pre = 0;
	f->ptype = 0xff;
	if (key_values(kbytes(k), key_len(k), &v, 1) != 1)
		return;
	switch (v.type) {
	case RT_INT:
	case RT_TIME:
		f->pre = (uint64_t)v.i ^ (UINT64_C(1) << 63);
		break;
	case RT_FLOAT:
		if (v.f != v.f)
			return;	/* NaN */
		memcpy(&bits, &v.f, 8);
		f->pre = bits >> 63 ? ~bits : bits | (UINT64_C(1) << 63);
		break;
	case RT_STR:
	case RT_JSON:
	case RT_BYTES:
		for (uint32_t i = 0; i < 8; i++)
			f->pre = f->pre << 8 | (i < v.s.n ? (uint8_t)v.s.p[i] : 0);
		break;
	default:
		break;
	}
	f->ptype = v.type;
}

static const struct win *sort_ctx;

static int fire_cmp(const void *pa, const void *pb)
{
	const struct fsort *a = pa, *b = pb;
	int c;

	if (a->end != b->end)
		return a->end < b->end ? -1 : 1;
	if (a->key != b->key) {
		if (a->ptype == b->ptype && a->ptype != 0xff && a->pre != b->pre)
			return a->pre < b->pre ? -1 : 1;
		c = key_cmp(&sort_ctx->keys[a->key], &sort_ctx->keys[b->key]);
		if (c != 0)
			return c;
	}
	return (a->start > b->start) - (a->start < b->start);
}

/* Pops every window whose deadline is <= limit; fires those that had not
 * fired, in order; drops those past their lateness (all, if drop_all). */
static void fire_until(struct win *w, int64_t limit, int drop_all)
{
	uint32_t nfire = 0;

	w->bn = 0;
	while (w->hn > 0 && w->heap[0].dl <= limit) {
		uint32_t id = w->heap[0].id;

		hremove(w, 0);
		batch_push(w, id);
	}
	if (w->bn > w->fcap) {
		w->fcap = w->bn;
		free(w->fs);
		w->fs = xmalloc(w->fcap * sizeof(*w->fs));
	}
	for (uint32_t i = 0; i < w->bn; i++) {
		struct wwin *x = W(w, w->batch[i]);
		struct fsort *f = &w->fs[nfire];

		if (x->fired)
			continue;
		cow(w, w->batch[i]);
		x->fired = 1;
		if (w->c.update)
			continue;	/* nothing to emit: updates went out already */
		f->end = x->end;
		f->start = x->start;
		f->id = w->batch[i];
		f->key = x->key;
		key_prefix(&w->keys[x->key], f);
		nfire++;
	}
	sort_ctx = w;
	if (nfire > 1)
		qsort(w->fs, nfire, sizeof(*w->fs), fire_cmp);
	for (uint32_t i = 0; i < nfire; i++) {
		if (i + 8 < nfire) {	/* the windows and keys are all over memory */
			__builtin_prefetch(W(w, w->fs[i + 8].id));
			__builtin_prefetch(&w->keys[w->fs[i + 8].key]);
		}
		emit(w, w->fs[i].id, 0);
		w->st.fired++;
	}
	for (uint32_t i = 0; i < w->bn; i++) {
		uint32_t id = w->batch[i];
		struct wwin *x = W(w, id);

		if (drop_all || x->end + w->c.lateness <= w->wm) {
			if (w->gone != NULL && x->end > w->gone[x->key])
				w->gone[x->key] = x->end;
			win_unlink(w, id);
			win_release(w, id);
		} else {
			hpush(w, id, deadline(w, x));
		}
	}
	w->bn = 0;
}

int win_advance(struct win *w, int64_t wm)
{
	if (wm <= w->wm)
		return 0;
	w->wm = wm;
	fire_until(w, wm, 0);
	return 1;
}

void win_flush(struct win *w)
{
	fire_until(w, INT64_MAX, 1);
}

int64_t win_watermark(const struct win *w)
{
	return w->wm;
}

int64_t win_next_deadline(const struct win *w)
{
	return w->hn > 0 ? w->heap[0].dl : INT64_MAX;
}

/* ---- tags --------------------------------------------------------------------- */

void win_set_tag(struct win *w, uint32_t tag)
{
	if (w->tags == NULL && tag != 0)
		w->tags = xcalloc(w->kcap, sizeof(*w->tags));
	w->tag = tag;
}

void win_set_floor(struct win *w, int64_t start)
{
	w->floor = start;
}

uint64_t win_drop_tag(struct win *w, uint32_t tag)
{
	uint64_t n = 0;

	if (w->tags == NULL || tag == 0)
		return 0;
	for (uint32_t i = 0; i < w->kcap; i++) {
		struct wkey *k = &w->keys[i];
		uint32_t id = k->head;

		if (k->klen1 == 0 || w->tags[i] != tag)
			continue;
		while (id != 0) {
			uint32_t next = W(w, id)->next;

			hremove(w, W(w, id)->hpos);
			win_release(w, id);
			id = next;
			n++;
		}
		k->head = 0;
		if (w->gone != NULL)
			w->gone[i] = INT64_MIN;	/* its sessions are another's now */
		w->tags[i] = 0;
	}
	w->st.revoked += n;
	return n;
}

/* ---- life ---------------------------------------------------------------------- */

struct win *win_new(const struct win_conf *conf, win_emit_fn fn, void *arg)
{
	struct win *w = xcalloc(1, sizeof(*w));

	w->c = *conf;
	if (w->c.kind == WIN_TUMBLING)
		w->c.slide = w->c.size;
	if (w->c.kind != WIN_SESSION)
		w->c.offset = w->c.offset % w->c.slide;
	w->emit = fn;
	w->arg = arg;
	w->wm = INT64_MIN;
	w->floor = INT64_MIN;
	w->esize = sizeof(struct wwin) + conf->aggs->n * sizeof(struct agg_state);
	w->kcap = 1024;
	w->keys = xcalloc_huge(w->kcap, sizeof(*w->keys));
	if (w->c.kind == WIN_SESSION)
		w->gone = xmalloc(w->kcap * sizeof(*w->gone));
	return w;
}

void win_free(struct win *w)
{
	if (w == NULL)
		return;
	snap_settle(w);
	free(w->snap_chunks);
	buf_free(&w->side);
	for (uint32_t id = 1; id < w->wused; id++)
		agg_free(w->c.aggs, W(w, id)->row);
	for (uint32_t i = 0; i < w->nblocks; i++)
		free(w->blocks[i]);
	free(w->blocks);
	free(w->chunks);
	for (uint32_t i = 0; i < w->kcap; i++)
		if (w->keys[i].klen1 != 0 && key_len(&w->keys[i]) > KEY_INLINE)
			free(w->keys[i].b.p);
	free(w->keys);
	free(w->gone);
	free(w->tags);
	free(w->heap);
	free(w->batch);
	free(w->fs);
	free(w);
}

const struct win_stats *win_stats(const struct win *w)
{
	return &w->st;
}

size_t win_bytes(const struct win *w)
{
	return sizeof(*w) + (size_t)w->kcap * sizeof(*w->keys) +
	       (w->gone != NULL ? (size_t)w->kcap * sizeof(*w->gone) : 0) +
	       (w->tags != NULL ? (size_t)w->kcap * sizeof(*w->tags) : 0) +
	       w->key_heap +
	       (size_t)w->nchunks * CHUNK_BYTES(w->esize) + (size_t)w->hcap * sizeof(*w->heap) +
	       (size_t)w->bcap * sizeof(*w->batch) + (size_t)w->fcap * sizeof(*w->fs);
}

const char *win_err(const struct win *w)
{
	return w->err;
}

/* ---- snapshots --------------------------------------------------------------- */

#define SNAP_MAGIC "RTWS"
#define SNAP_SEED UINT64_C(0x7274616977696e31)	/* "rtaiwin1" */
#define SNAP_MAX_KEY (1u << 24)
/* Window bounds of an image beyond which start + size could overflow:
 * every window the engine makes is well inside (WIN_MAX_TIME, plus a
 * window's size at most). */
#define SNAP_MAX_START (WIN_MAX_TIME + (WIN_MAX_TIME >> 1))

static const char *const kind_names[] = { "tumbling", "sliding", "session" };

/* The options that decide output, as text (the image's fingerprint). */
static void describe(const struct win *w, struct buf *out)
{
	const struct win_conf *c = &w->c;

	buf_printf(out, "%s", kind_names[c->kind]);
	if (c->kind == WIN_SESSION)
		buf_printf(out, " gap=%lldns", (long long)c->gap);
	else
		buf_printf(out, " size=%lldns slide=%lldns offset=%lldns", (long long)c->size,
			   (long long)c->slide, (long long)c->offset);
	buf_printf(out, " lateness=%lldns emit=%s aggregates=", (long long)c->lateness,
		   c->update ? "update" : "final");
	agg_set_describe(c->aggs, out);
}

static void put_stats(struct buf *out, const struct win_stats *st)
{
	snap_u64(out, st->records);
	snap_u64(out, st->late);
	snap_u64(out, st->late_some);
	snap_u64(out, st->fired);
	snap_u64(out, st->refired);
	snap_u64(out, st->updates);
	snap_u64(out, st->peak_windows);
	snap_u64(out, st->peak_keys);
}

/* One window's part of the image. */
static void put_window(int session, const struct agg_set *aggs, const struct wwin *x,
		       struct buf *out)
{
	snap_u32(out, x->key);
	snap_i64(out, x->start);
	if (session)
		snap_i64(out, x->end);	/* else start + size */
	snap_i64(out, x->ingest);
	snap_u8(out, x->fired);
	agg_row_snapshot(aggs, x->row, out);
}

/* What the writer thread reads of the engine, copied once to its own
 * stack: the records' thread writes struct win's other fields at every
 * record, and a read of a line it has just written costs it the line
 * (a cache miss for each window the writer claims, otherwise). */
struct snapview {
	uint8_t *const *chunks;	/* the slab at the barrier (snap_chunks) */
	size_t esize;
	uint8_t busy, done;	/* this snapshot's stamps */
	int session;
	const struct agg_set *aggs;
};

/* The record path's side of cow(): window id is about to change. An id
 * the image does not look at (past the slab at the barrier) is only
 * stamped. Otherwise the window is claimed (busy) unless the writer has
 * it: then this waits for the writer to finish it (the image of one
 * window). A claimed open window's image goes to side, counted in side_n
 * (released, so the writer sees the bytes once it sees the count). */
static void cow_slow(struct win *w, uint32_t id)
{
	struct wwin *x = W(w, id);
	uint8_t *st = stamp_of(w->chunks, w->esize, id);
	uint8_t s;

	if (id >= w->snap_wused) {
		__atomic_store_n(st, w->snap_done, __ATOMIC_RELAXED);
		return;
	}
	for (;;) {
		s = __atomic_load_n(st, __ATOMIC_ACQUIRE);
		if (s == w->snap_done)
			return;
		if (s == w->snap_busy) {
			sched_yield();	/* the writer is at this window */
			continue;
		}
		if (__atomic_compare_exchange_n(st, &s, w->snap_busy, 0, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			break;
	}
	if (x->key != WIN_FREE) {
		put_window(w->c.kind == WIN_SESSION, w->c.aggs, x, &w->side);
		__atomic_store_n(&w->side_n, w->side_n + 1, __ATOMIC_RELEASE);
		w->st.snap_cow++;
	}
	__atomic_store_n(st, w->snap_done, __ATOMIC_RELEASE);
}

/* The writer's side: claims window id of the slab as it was at the
 * barrier (chunks) and appends its image to out; returns 1 when it did,
 * 0 when the slot was free or the records had it already. */
static int claim_window(const struct snapview *v, uint32_t id, struct buf *out)
{
	struct wwin *x = (struct wwin *)(v->chunks[id >> CHUNK_BITS] +
					 (size_t)(id & (CHUNK - 1)) * v->esize);
	uint8_t *st = stamp_of(v->chunks, v->esize, id);
	uint8_t s = __atomic_load_n(st, __ATOMIC_ACQUIRE);
	int wrote = 0;

	if (s == v->done || s == v->busy ||
	    !__atomic_compare_exchange_n(st, &s, v->busy, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return 0;	/* in the image already, or the records have it */
	if (x->key != WIN_FREE) {
		put_window(v->session, v->aggs, x, out);
		wrote = 1;
	}
	__atomic_store_n(st, v->done, __ATOMIC_RELEASE);
	return wrote;
}

int win_snapshot_begin(struct win *w, struct buf *out)
{
	size_t wbytes = 4 + 8 + 8 + 8 + 1 + 17 * w->c.aggs->n;
	struct buf desc = { 0 };

	snap_settle(w);
	w->snap_reserve = (size_t)w->st.windows * wbytes + (size_t)w->kused * (16 + KEY_INLINE) +
			  w->key_heap + 256;
	w->snap_head = snap_begin(out, SNAP_MAGIC, WIN_SNAP_VERSION);
	describe(w, &desc);
	snap_bytes(out, desc.p, desc.len);
	buf_free(&desc);
	snap_i64(out, w->wm);
	put_stats(out, &w->st);
	/* What the image holds: the key table and the slab as they are now. */
	w->snap_epoch++;
	w->snap_busy = (uint8_t)(2 * w->snap_epoch);
	w->snap_done = (uint8_t)(2 * w->snap_epoch + 1);
	w->snap_wused = w->wused;
	w->snap_nwin = (uint32_t)w->st.windows;
	if (w->snap_ccap < w->nchunks) {
		w->snap_ccap = w->nchunks;
		free(w->snap_chunks);
		w->snap_chunks = xmalloc(w->snap_ccap * sizeof(*w->snap_chunks));
	}
	if (w->nchunks > 0)
		memcpy(w->snap_chunks, w->chunks, w->nchunks * sizeof(*w->chunks));
	w->snap_keys = w->keys;
	w->snap_kcap = w->kcap;
	buf_reset(&w->side);
	w->side_n = 0;
	__atomic_store_n(&w->snap_running, 1, __ATOMIC_RELEASE);
	if (!win_snapshot_async(w)) {
		win_snapshot_finish(w, out);
		return 0;
	}
	return 1;
}

int win_snapshot_async(const struct win *w)
{
	/* Sessions keep per-key state beside their windows (gone), which
	 * the records change: written at the barrier, whole. */
	return w->c.kind != WIN_SESSION;
}

void win_snapshot_finish(struct win *w, struct buf *out)
{
	const struct snapview v = { w->snap_chunks, w->esize, w->snap_busy, w->snap_done,
				    w->c.kind == WIN_SESSION, w->c.aggs };
	const struct wkey *keys = w->snap_keys;
	const int64_t *gone = w->gone;
	uint32_t kcap = w->snap_kcap, wused = w->snap_wused, want = w->snap_nwin;
	uint32_t nk = 0, nwin = 0;
	size_t nk_at;
	/* out, on this thread's stack while it grows: its length changes at
	 * every value, and the struct it is in may share a cache line with
	 * what the records' thread writes */
	struct buf o = *out;

	/* Room for most of it at once, here rather than at the barrier:
	 * growing by doubling copies it again (a reused buffer has it). */
	buf_reserve(&o, w->snap_reserve);
	/* The keys, each with its slot, so the table comes back as it was:
	 * every slot in use (idle keys too; a key the records add meanwhile
	 * may be among them, with no window: an idle key). */
	snap_u32(&o, kcap);
	nk_at = o.len;
	snap_u32(&o, 0);	/* the count, below */
	for (uint32_t i = 0; i < kcap; i++) {
		const struct wkey *k = &keys[i];
		uint32_t klen1 = __atomic_load_n(&k->klen1, __ATOMIC_ACQUIRE);

		if (klen1 == 0)
			continue;
		snap_u32(&o, i);
		snap_bytes(&o, klen1 - 1 <= KEY_INLINE ? k->b.in : k->b.p, klen1 - 1);
		if (gone != NULL)
			snap_i64(&o, gone[i]);	/* sessions: no records meanwhile */
		nk++;
	}
	for (int i = 0; i < 4; i++)
		o.p[nk_at + (size_t)i] = (uint8_t)(nk >> (8 * i));
	/* The windows open at the barrier: those of the slab the records
	 * have not reached since, in the slab's order (read from start to
	 * end: a walk of each key's list would miss the cache at every
	 * window), then those they reached first (side), once every one is
	 * accounted for. */
	snap_u32(&o, want);
	for (uint32_t id = 1; id < wused; id++)
		nwin += (uint32_t)claim_window(&v, id, &o);
	while (nwin + __atomic_load_n(&w->side_n, __ATOMIC_ACQUIRE) < want)
		sched_yield();	/* a window being written by the records */
	if (w->side.len > 0)
		buf_append(&o, w->side.p, w->side.len);
	snap_seal(&o, w->snap_head, SNAP_SEED);
	*out = o;
	__atomic_store_n(&w->snap_running, 0, __ATOMIC_RELEASE);
}

void win_snapshot(struct win *w, struct buf *out)
{
	if (win_snapshot_begin(w, out))
		win_snapshot_finish(w, out);
}

/* Puts a key of the image into the slot it names. Returns 0, or -1 with
 * r marked bad. */
static int restore_key(struct win *w, struct snap_rd *r)
{
	struct val v[KEY_VALS];
	const uint8_t *key;
	size_t n;
	uint32_t i;

	i = snap_get_u32(r);
	key = snap_get_bytes(r, SNAP_MAX_KEY, &n);
	if (key == NULL)
		return -1;
	if (i >= w->kcap)
		return snap_fail(r, "a key slot beyond its table");
	if (w->keys[i].klen1 != 0)
		return snap_fail(r, "a key slot listed twice");
	if (key_idlen(key, n) == 0 || key_values(key, n, v, KEY_VALS) < 0)
		return snap_fail(r, "a malformed key");
	if ((uint64_t)(w->kused + 1) * 10 > (uint64_t)w->kcap * 7)
		return snap_fail(r, "more keys than its table holds");
	key_set(w, i, key_hash32(key, n), key, n);
	if (w->gone != NULL)
		w->gone[i] = snap_get_i64(r);
	return 0;
}

/* Whether every key of the restored table is where a lookup finds it:
 * slots were taken from the image, so a damaged one could have put a key
 * out of reach of its probe, or listed it twice. */
static int keys_findable(const struct win *w)
{
	for (uint32_t i = 0; i < w->kcap; i++) {
		const struct wkey *k = &w->keys[i];

		if (k->klen1 != 0 && key_find(w, k->h, kbytes(k), key_len(k)) != i)
			return 0;
	}
	return 1;
}

/* Links window id into its key's list, which is by start descending;
 * tail[kid] is the list's last window (the slab's order is often the
 * order of start, one way or the other, so most links take one step).
 * Returns 0, or -1 with r marked bad when the key has a window with the
 * same start. */
static int link_window(struct win *w, struct snap_rd *r, uint32_t id, uint32_t *tail)
{
	struct wwin *x = W(w, id);
	uint32_t kid = x->key, *link = &w->keys[kid].head;

	if (*link != 0 && W(w, tail[kid])->start > x->start) {
		W(w, tail[kid])->next = id;	/* the oldest yet */
		tail[kid] = id;
		return 0;
	}
	while (*link != 0 && W(w, *link)->start > x->start)
		link = &W(w, *link)->next;
	if (*link != 0 && W(w, *link)->start == x->start)
		return snap_fail(r, "a window listed twice");
	x->next = *link;
	if (*link == 0)
		tail[kid] = id;
	*link = id;
	return 0;
}

/* The windows of the image, in its order. */
static void restore_windows(struct win *w, struct snap_rd *r)
{
	int session = w->c.kind == WIN_SESSION;
	uint32_t n = snap_get_count(r, 4 + 8 + 8 + 1 + (session ? 8 : 0)), *tail;

	if (n == 0)
		return;
	tail = xmalloc((size_t)w->kcap * sizeof(*tail));
	for (uint32_t j = 0; j < n && r->bad == NULL; j++) {
		uint32_t kid = snap_get_u32(r), id;
		int64_t start = snap_get_i64(r);
		int64_t end = session ? snap_get_i64(r) : start + w->c.size;
		int64_t ingest = snap_get_i64(r);
		uint8_t fired = snap_get_u8(r);
		struct wwin *x;

		if (r->bad != NULL)
			break;
		if (kid >= w->kcap || w->keys[kid].klen1 == 0) {
			snap_fail(r, "a window of no key");
			break;
		}
		if (fired > 1 || start > SNAP_MAX_START || start < -SNAP_MAX_START ||
		    (session && (end <= start || end > SNAP_MAX_START))) {
			snap_fail(r, "a window with impossible bounds");
			break;
		}
		id = win_alloc(w, kid, start, end);
		x = W(w, id);
		x->ingest = ingest;
		x->fired = fired;
		if (fired)
			hupdate(w, id, deadline(w, x));
		if (link_window(w, r, id, tail) < 0)
			break;
		agg_row_restore(w->c.aggs, x->row, r);
	}
	free(tail);
}

int win_restore(struct win *w, const void *p, size_t len, char *err, size_t errlen)
{
	struct snap_rd r;
	struct buf desc = { 0 };
	struct win_stats st;
	const uint8_t *d;
	uint32_t kcap, nk;
	size_t dn;
	int rc = -1;

	if (w->wused != 0 || w->wm != INT64_MIN || w->kused != 0) {
		snprintf(err, errlen, "the engine already holds state (restore into a new one)");
		return -1;
	}
	if (snap_open(&r, p, len, SNAP_MAGIC, WIN_SNAP_VERSION, SNAP_SEED, "window", err, errlen) < 0)
		return -1;
	d = snap_get_bytes(&r, 1u << 20, &dn);
	describe(w, &desc);
	if (d == NULL) {
		snprintf(err, errlen, "a corrupt window snapshot: byte %zu: %s", r.off, r.bad);
		goto out;
	}
	if (dn != desc.len || memcmp(d, desc.p, dn) != 0) {
		snprintf(err, errlen, "a window snapshot made with other options ('%.*s'; these are "
			 "'%.*s')", (int)dn, (const char *)d, (int)desc.len, (const char *)desc.p);
		goto out;
	}
	w->wm = snap_get_i64(&r);
	st.records = snap_get_u64(&r);
	st.late = snap_get_u64(&r);
	st.late_some = snap_get_u64(&r);
	st.fired = snap_get_u64(&r);
	st.refired = snap_get_u64(&r);
	st.updates = snap_get_u64(&r);
	st.peak_windows = snap_get_u64(&r);
	st.peak_keys = snap_get_u64(&r);
	kcap = snap_get_u32(&r);
	nk = snap_get_count(&r, 4 + 4);	/* slot, key length */
	if (r.bad == NULL && (kcap < 1024 || kcap > (1u << 31) || (kcap & (kcap - 1)) != 0))
		snap_fail(&r, "an impossible key table size");
	if (r.bad == NULL && kcap != w->kcap) {
		free(w->keys);
		w->keys = xcalloc_huge(kcap, sizeof(*w->keys));
		w->kcap = kcap;
		if (w->gone != NULL) {
			free(w->gone);
			w->gone = xmalloc(kcap * sizeof(*w->gone));
		}
		if (w->tags != NULL) {
			free(w->tags);
			w->tags = xcalloc(kcap, sizeof(*w->tags));
		}
	}
	for (uint32_t i = 0; i < nk && r.bad == NULL; i++)
		restore_key(w, &r);
	if (r.bad == NULL && !keys_findable(w))
		snap_fail(&r, "a key out of its place in the table");
	if (r.bad == NULL)
		restore_windows(w, &r);
	if (r.bad == NULL && r.off != r.n)
		snap_fail(&r, "bytes after its last window");
	if (r.bad != NULL) {
		snprintf(err, errlen, "a corrupt window snapshot: byte %zu: %s", r.off, r.bad);
		goto out;
	}
	st.windows = w->st.windows;
	st.keys = w->st.keys;
	st.peak_windows = st.peak_windows > st.windows ? st.peak_windows : st.windows;
	st.peak_keys = st.peak_keys > st.keys ? st.peak_keys : st.keys;
	w->st = st;
	rc = 0;
out:
	buf_free(&desc);
	return rc;
}
