/* test_win.c - unit tests of lib/win: random streams through the engine
 * compared with a naive model of the rules in rtai-window(1), for tumbling,
 * sliding and session windows, with delay and lateness, in final and update
 * mode, over enough keys to rebuild the key table several times. */
#include "config.h"

#include <stdlib.h>

#include "agg.h"
#include "buf.h"
#include "key.h"
#include "rtime.h"
#include "tap.h"
#include "win.h"

/* One emitted result, from the engine or the model. */
struct res {
	int64_t key, start, end, count, sum, ingest;
	int refire;
};

struct log {
	struct res *v;
	size_t n, cap;
};

static void log_push(struct log *l, struct res r)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = r;
}

static const struct agg_set *aggs;

/* A typed key (key.h) of n values. */
static void put_key(struct buf *key, const struct val *v, size_t n)
{
	buf_reset(key);
	for (size_t i = 0; i < n; i++)
		key_part(key, &v[i]);
	key_typed(key, v, n);
}

static void on_emit(void *arg, const struct win_out *o)
{
	struct val k, c, s = val_null();
	struct res r;

	key_values(o->key, o->klen, &k, 1);
	agg_result(aggs, o->row, 0, &c);
	if (aggs->n > 1)
		agg_result(aggs, o->row, 1, &s);
	r = (struct res){ k.i, o->start, o->end, c.i, s.type == RT_INT ? s.i : -1, o->ingest,
			  o->refire };
	log_push(arg, r);
}

/* ---- the model: every window in one array, everything by linear scans ---- */

struct mwin {
	int64_t key, start, end, count, sum, ingest;
	int fired, alive;
	int dropped;		/* fired, then dropped past its lateness */
};

static struct {
	struct mwin *v;
	size_t n, cap;
	int64_t wm;
	struct win_conf c;
	struct log out;
	uint64_t late;
	int64_t floor;		/* the record's windows start at or after it */
	uint64_t floored;
} m;

static struct mwin *m_new(int64_t key, int64_t s, int64_t e)
{
	if (m.n == m.cap) {
		m.cap = m.cap ? m.cap * 2 : 1024;
		m.v = xrealloc(m.v, m.cap * sizeof(*m.v));
	}
	m.v[m.n] = (struct mwin){ key, s, e, 0, 0, INT64_MIN, 0, 1, 0 };
	return &m.v[m.n++];
}

static void m_emit(struct mwin *x, int refire)
{
	log_push(&m.out, (struct res){ x->key, x->start, x->end, x->count, x->sum, x->ingest, refire });
}

/* After a record went into x. */
static void m_touched(struct mwin *x)
{
	int past = x->end <= m.wm;

	if (m.c.update || past)
		m_emit(x, x->fired);
	if (past)
		x->fired = 1;
}

static void m_add(struct mwin *x, int64_t v, int64_t ingest)
{
	x->count++;
	x->sum += v;
	if (ingest > x->ingest)
		x->ingest = ingest;
}

static int cmp_order(const void *pa, const void *pb)
{
	const struct mwin *a = *(struct mwin *const *)pa, *b = *(struct mwin *const *)pb;

	if (a->end != b->end)
		return a->end < b->end ? -1 : 1;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return (a->start > b->start) - (a->start < b->start);
}

static void m_fire(int64_t limit, int all)
{
	struct mwin **f = xmalloc((m.n + 1) * sizeof(*f));
	size_t nf = 0;

	for (size_t i = 0; i < m.n; i++)
		if (m.v[i].alive && !m.v[i].fired && m.v[i].end <= limit)
			f[nf++] = &m.v[i];
	qsort(f, nf, sizeof(*f), cmp_order);
	for (size_t i = 0; i < nf; i++) {
		if (!m.c.update)
			m_emit(f[i], 0);
		f[i]->fired = 1;
	}
	for (size_t i = 0; i < m.n; i++)
		if (m.v[i].alive && (all || m.v[i].end + m.c.lateness <= m.wm)) {
			m.v[i].alive = 0;
			m.v[i].dropped = 1;
		}
	free(f);
}

static void m_record(int64_t key, int64_t t, int64_t v, int64_t ingest)
{
	if (m.c.kind == WIN_SESSION) {
		int64_t ns = t, ne = t + m.c.gap;
		struct mwin *keep = NULL;
		int changed, reaches_dropped = 0;

		for (size_t i = 0; i < m.n; i++) {
			struct mwin *x = &m.v[i];

			if (x->key != key || x->start > t + m.c.gap || t > x->end)
				continue;
			if (x->alive) {
				ns = x->start < ns ? x->start : ns;
				ne = x->end > ne ? x->end : ne;
			}
			reaches_dropped |= x->dropped;
		}
		/* late too when it would merge into a session already written
		 * and dropped: sessions of a key never overlap or touch */
		if (ne + m.c.lateness <= m.wm || reaches_dropped) {
			m.late++;
			return;
		}
		for (size_t i = 0; i < m.n; i++) {
			struct mwin *x = &m.v[i];

			if (!x->alive || x->key != key || x->start > t + m.c.gap || t > x->end)
				continue;
			if (keep == NULL || x->start < keep->start) {
				if (keep != NULL) {
					x->count += keep->count, x->sum += keep->sum;
					x->ingest = keep->ingest > x->ingest ? keep->ingest : x->ingest;
					keep->alive = 0;
				}
				keep = x;
			} else {
				keep->count += x->count, keep->sum += x->sum;
				keep->ingest = x->ingest > keep->ingest ? x->ingest : keep->ingest;
				x->alive = 0;
			}
		}
		if (keep == NULL) {
			keep = m_new(key, ns, ne);
		} else {
			changed = keep->start != ns || keep->end != ne;
			keep->start = ns;
			keep->end = ne;
			if (changed && keep->fired && ne > m.wm)
				keep->fired = 0;
		}
		m_add(keep, v, ingest);
		m_touched(keep);
		return;
	}
	{
		int64_t slide = m.c.kind == WIN_TUMBLING ? m.c.size : m.c.slide;
		int64_t off = m.c.offset % slide;
		int64_t first = off + rtime_floordiv(t - off - m.c.size, slide) * slide + slide;
		size_t touched[64];	/* indices: m_new may move the array */
		int nt = 0;
		int64_t ex = INT64_MIN;	/* the latest window left out */

		/* every s = off + k*slide with s <= t < s + size, ascending */
		for (int64_t s = first; s <= t; s += slide) {
			size_t x = SIZE_MAX;

			if (s + m.c.size <= t)
				continue;
			if (s + m.c.size + m.c.lateness <= m.wm || s < m.floor) {
				ex = s;
				continue;
			}
			for (size_t i = 0; i < m.n; i++)
				if (m.v[i].alive && m.v[i].key == key && m.v[i].start == s)
					x = i;
			if (x == SIZE_MAX) {
				m_new(key, s, s + m.c.size);
				x = m.n - 1;
			}
			m_add(&m.v[x], v, ingest);
			touched[nt++] = x;
		}
		if (nt == 0)
			m.late++;
		/* the floor, not lateness, left out the latest window left out */
		if (ex != INT64_MIN && ex + m.c.size + m.c.lateness > m.wm)
			m.floored++;
		for (int i = 0; i < nt; i++)
			m_touched(&m.v[touched[i]]);
	}
}

/* Partition p (1..NPART) takes keys k with k % NPART == p - 1; revoking it
 * drops the open windows of its keys unfired and forgets their dropped
 * sessions (win_drop_tag). Returns the windows dropped. */
#define NPART 4

static uint64_t m_revoke(uint32_t p)
{
	uint64_t n = 0;

	for (size_t i = 0; i < m.n; i++) {
		struct mwin *x = &m.v[i];

		if ((uint32_t)(x->key % NPART) + 1 != p)
			continue;
		n += x->alive;
		x->alive = 0;
		x->dropped = 0;
	}
	return n;
}

static int res_eq(const struct res *a, const struct res *b)
{
	return a->key == b->key && a->start == b->start && a->end == b->end &&
	       a->count == b->count && a->sum == b->sum && a->ingest == b->ingest &&
	       a->refire == b->refire;
}

/* ---- one scenario --------------------------------------------------------------- */

static uint64_t rng = 0x853c49e6748fea9bULL;
static int revoke_every;	/* a partition revoked every this many records, about */

static uint64_t rnd(uint64_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng % n;
}

static void scenario(const char *name, struct win_conf c, int64_t delay, int nkeys, int nrec,
		     int64_t jitter)
{
	static const char *const specs[] = { "count", "sum:v" };
	struct agg_set set = { 0 };
	struct log got = { 0 };
	struct buf key = { 0 };
	struct win *w;
	char err[200];
	int64_t clock = -50 * RTAI_NS_PER_SEC;	/* start before 1970 */
	size_t same = 0;
	uint64_t revoked = 0;
	int64_t floor[NPART + 1];

	for (int p = 0; p <= NPART; p++)
		floor[p] = INT64_MIN;

	for (size_t i = 0; i < 2; i++)
		agg_set_parse(&set, specs[i], err, sizeof(err));
	aggs = &set;
	c.aggs = &set;
	free(m.v);
	memset(&m, 0, sizeof(m));
	m.c = c;
	m.wm = INT64_MIN;
	m.floor = INT64_MIN;
	w = win_new(&c, on_emit, &got);
	for (int i = 0; i < nrec; i++) {
		int64_t k = (int64_t)rnd((uint64_t)nkeys), v = (int64_t)rnd(100);
		int64_t t = clock - (int64_t)rnd((uint64_t)jitter + 1), wm;
		struct val vals[2] = { val_bool(1), val_int(v) }, kv = val_int(k);

		clock += (int64_t)rnd(RTAI_NS_PER_SEC / 10);
		put_key(&key, &kv, 1);
		if (revoke_every > 0) {
			uint32_t tag = (uint32_t)(k % NPART) + 1;

			if (rnd((uint64_t)revoke_every) == 0) {
				uint32_t p = (uint32_t)rnd(NPART) + 1;

				revoked += m_revoke(p);
				win_drop_tag(w, p);
				floor[p] = INT64_MIN;
			}
			/* an assign frame: the partition's windows start at or
			 * after a horizon (win_set_floor) */
			if (rnd((uint64_t)revoke_every) == 0)
				floor[rnd(NPART) + 1] = clock - (int64_t)rnd(20 * RTAI_NS_PER_SEC);
			win_set_tag(w, tag);
			win_set_floor(w, floor[tag]);
			m.floor = floor[tag];
		}
		if (win_add(w, key.p, key.len, t, i + 1, vals) < 0)
			printf("# win_add failed: %s\n", win_err(w));
		m_record(k, t, v, i + 1);
		wm = t - delay;
		win_advance(w, wm);
		if (wm > m.wm) {
			m.wm = wm;
			m_fire(wm, 0);
		}
	}
	win_flush(w);
	m_fire(INT64_MAX, 1);
	while (same < got.n && same < m.out.n && res_eq(&got.v[same], &m.out.v[same]))
		same++;
	ok(got.n == m.out.n && same == got.n, "%s: %zu results as the model gives", name, m.out.n);
	if (same < got.n || same < m.out.n) {
		printf("#   first difference at result %zu of %zu/%zu\n", same, got.n, m.out.n);
		if (same < got.n)
			printf("#   engine: key %lld [%lld, %lld) count %lld sum %lld refire %d\n",
			       (long long)got.v[same].key, (long long)got.v[same].start,
			       (long long)got.v[same].end, (long long)got.v[same].count,
			       (long long)got.v[same].sum, got.v[same].refire);
		if (same < m.out.n)
			printf("#   model:  key %lld [%lld, %lld) count %lld sum %lld refire %d\n",
			       (long long)m.out.v[same].key, (long long)m.out.v[same].start,
			       (long long)m.out.v[same].end, (long long)m.out.v[same].count,
			       (long long)m.out.v[same].sum, m.out.v[same].refire);
	}
	is_int(win_stats(w)->late, m.late, "%s: late records as the model counts", name);
	is_int(win_stats(w)->windows, 0, "%s: no state left after the flush", name);
	if (revoke_every > 0)
		ok(revoked > 0 && win_stats(w)->revoked == revoked,
		   "%s: %llu windows dropped by revocations, as the model drops", name,
		   (unsigned long long)revoked);
	if (revoke_every > 0 && c.kind != WIN_SESSION)
		ok(m.floored > 0 && win_stats(w)->floored == m.floored,
		   "%s: %llu records kept out of windows before their floor, as the model keeps",
		   name, (unsigned long long)m.floored);
	win_free(w);
	free(got.v);
	free(m.out.v);
	buf_free(&key);
	agg_set_free(&set);
}

static void test_keys(void)
{
	static const char *const specs[] = { "count" };
	struct agg_set set = { 0 };
	struct win_conf c = { .kind = WIN_TUMBLING, .size = 10, .max_keys = 3 };
	struct log got = { 0 };
	struct val one = val_bool(1), vals[4];
	struct buf key = { 0 };
	struct win *w;
	char err[200];

	agg_set_parse(&set, specs[0], err, sizeof(err));
	aggs = &set;
	c.aggs = &set;
	w = win_new(&c, on_emit, &got);
	/* keys of several fields, one longer than fits in a slot */
	{
		struct val kv[2] = { val_str("a-rather-long-key-value", 23), val_int(7) };

		put_key(&key, kv, 2);
		is_int(key_values(key.p, key.len, vals, 4), 2, "a two-field key decodes to 2 values");
		ok(vals[0].type == RT_STR && vals[0].s.n == 23 && vals[1].i == 7, "... with their values");
		is_int(key_values(key.p, key.len - 1, vals, 4), -1, "a truncated key is malformed");
		is_int(win_add(w, key.p, key.len, 1, 1, &one), 1, "a long key is added");
	}
	for (int i = 0; i < 2; i++) {
		struct val k = val_int(i);

		put_key(&key, &k, 1);
		is_int(win_add(w, key.p, key.len, 2, 1, &one), 1, "key %d is added", i);
	}
	{
		struct val k = val_int(9);

		struct val same = val_str("1", 1), also = val_float(1.0);

		put_key(&key, &same, 1);
		is_int(win_add(w, key.p, key.len, 2, 1, &one), 1,
		       "the string \"1\" is the key 1 (textual keys): no new key");
		put_key(&key, &also, 1);
		is_int(win_add(w, key.p, key.len, 2, 1, &one), 1, "so is the float 1.0");
		put_key(&key, &k, 1);
		is_int(win_add(w, key.p, key.len, 3, 1, &one), -1, "a 4th key exceeds max_keys 3");
		is_str(win_err(w), "more than 3 keys with open windows", "... with a message");
		win_advance(w, 10);
		is_int(win_stats(w)->keys, 0, "firing frees the keys");
		is_int(win_add(w, key.p, key.len, 13, 1, &one), 1, "now the 4th key fits");
		is_int(win_stats(w)->peak_keys, 3, "peak keys");
	}
	win_flush(w);
	is_int(got.n, 4, "4 results");
	ok(win_bytes(w) > 0, "win_bytes");
	win_free(w);
	win_free(NULL);
	free(got.v);
	buf_free(&key);
	agg_set_free(&set);
}

int main(void)
{
	const int64_t S = RTAI_NS_PER_SEC;
	struct win_conf c;

	test_keys();
	c = (struct win_conf){ .kind = WIN_TUMBLING, .size = 10 * S };
	scenario("tumbling, in order", c, 0, 50, 3000, 0);
	scenario("tumbling, disorder within the delay", c, 3 * S, 50, 3000, 3 * S);
	scenario("tumbling, disorder beyond the delay", c, 1 * S, 50, 3000, 20 * S);
	c.lateness = 15 * S;
	scenario("tumbling, lateness", c, 1 * S, 50, 3000, 30 * S);
	c.update = 1;
	scenario("tumbling, lateness, update mode", c, 1 * S, 50, 3000, 30 * S);
	c = (struct win_conf){ .kind = WIN_TUMBLING, .size = 7 * S, .offset = 3 * S };
	scenario("tumbling, offset, many keys (table rebuilds)", c, 2 * S, 5000, 20000, 5 * S);
	c = (struct win_conf){ .kind = WIN_SLIDING, .size = 10 * S, .slide = 3 * S };
	scenario("sliding 10s/3s", c, 2 * S, 40, 3000, 6 * S);
	c.lateness = 5 * S;
	scenario("sliding, lateness", c, 1 * S, 40, 3000, 12 * S);
	c.update = 1;
	scenario("sliding, update mode", c, 1 * S, 40, 3000, 12 * S);
	c = (struct win_conf){ .kind = WIN_SESSION, .gap = 2 * S };
	scenario("sessions", c, 1 * S, 20, 3000, 3 * S);
	c.lateness = 4 * S;
	scenario("sessions, lateness (merges of fired sessions)", c, 0, 20, 3000, 8 * S);
	c.update = 1;
	scenario("sessions, update mode", c, 1 * S, 20, 3000, 8 * S);
	c = (struct win_conf){ .kind = WIN_SESSION, .gap = 2 * S };
	scenario("sessions, lateness 0, disorder beyond the gap", c, 0, 20, 3000, 6 * S);
	scenario("sessions, many keys (table rebuilds keep dropped sessions' ends)", c, 0, 3000,
		 12000, 6 * S);

	/* Revoked partitions (win_set_tag, win_drop_tag). */
	revoke_every = 300;
	c = (struct win_conf){ .kind = WIN_TUMBLING, .size = 10 * S, .lateness = 15 * S };
	scenario("revocations, tumbling, lateness", c, 1 * S, 50, 3000, 30 * S);
	c = (struct win_conf){ .kind = WIN_TUMBLING, .size = 7 * S };
	scenario("revocations, tumbling, many keys (table rebuilds keep tags)", c, 2 * S, 5000,
		 20000, 5 * S);
	c = (struct win_conf){ .kind = WIN_SLIDING, .size = 10 * S, .slide = 3 * S, .update = 1 };
	scenario("revocations, sliding, update mode", c, 1 * S, 40, 3000, 12 * S);
	c = (struct win_conf){ .kind = WIN_SESSION, .gap = 2 * S, .lateness = 4 * S };
	scenario("revocations, sessions, lateness", c, 0, 20, 3000, 8 * S);
	c = (struct win_conf){ .kind = WIN_SESSION, .gap = 2 * S };
	scenario("revocations, sessions, many keys", c, 0, 3000, 12000, 6 * S);
	revoke_every = 0;
	free(m.v);
	return tap_done();
}
