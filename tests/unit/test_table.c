/* test_table.c - unit tests of lookup tables (table.c) and the LRU cache
 * (lru.c): point-in-time picks, and random operations checked against a
 * plain array, which exercise growing and deleting in open addressing. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "lru.h"
#include "rec.h"
#include "table.h"
#include "tap.h"

static uint64_t rng = 88172645463325252ULL;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A key of one field holding "k<n>". */
static void key_of(struct buf *b, unsigned n)
{
	struct rec r = { 0 };
	struct tab_names names;
	char err[100], s[16];
	size_t bad;

	tab_names_parse(&names, "id", err, sizeof(err));
	snprintf(s, sizeof(s), "k%u", n);
	rec_add(&r, "id", 2, val_str(s, strlen(s)));
	buf_reset(b);
	tab_key(&names, &r, b, &bad);
	rec_free(&r);
	tab_names_free(&names);
}

static void test_keys(void)
{
	struct rec r = { 0 };
	struct tab_names names;
	struct buf a = { 0 }, b = { 0 };
	char err[100];
	size_t bad = 9;
	int rc;

	rc = tab_names_parse(&names, "a,b", err, sizeof(err));
	ok(rc == 0 && names.n == 2, "two key fields");	/* ok() evaluates twice */
	rec_add(&r, "a", 1, val_int(42));
	rec_add(&r, "b", 1, val_str("x", 1));
	tab_key(&names, &r, &a, &bad);
	rec_reset(&r);
	rec_add(&r, "b", 1, val_str("x", 1));
	rec_add(&r, "a", 1, val_str("42", 2));
	tab_key(&names, &r, &b, &bad);
	ok(a.len == b.len && memcmp(a.p, b.p, a.len) == 0, "42 and \"42\" make the same key");
	rec_reset(&r);
	buf_reset(&b);
	rec_add(&r, "a", 1, val_float(42.0));
	rec_add(&r, "b", 1, val_str("x", 1));
	tab_key(&names, &r, &b, &bad);
	ok(a.len == b.len && memcmp(a.p, b.p, a.len) == 0, "42.0 is the key 42 too");
	rec_reset(&r);
	rec_add(&r, "a", 1, val_null());
	ok(tab_key(&names, &r, &b, &bad) == TAB_KEY_NULL && bad == 0, "a null key field");
	rec_reset(&r);
	rec_add(&r, "a", 1, val_int(1));
	ok(tab_key(&names, &r, &b, &bad) == TAB_KEY_MISSING && bad == 1, "a missing key field");
	tab_names_free(&names);
	ok(tab_names_parse(&names, "a,", err, sizeof(err)) < 0, "an empty name is refused: %s", err);
	rec_free(&r);
	buf_free(&a);
	buf_free(&b);
}

static void test_as_of(void)
{
	struct tab t;
	struct buf k = { 0 };
	const struct tab_ver *v;
	uint8_t row[1];

	tab_init(&t);
	key_of(&k, 1);
	row[0] = 'b';
	tab_upsert(&t, k.p, k.len, 20, row, 1, 1);
	row[0] = 'a';
	tab_upsert(&t, k.p, k.len, 10, row, 1, 1);
	row[0] = 'c';
	tab_upsert(&t, k.p, k.len, 20, row, 1, 1);
	tab_delete(&t, k.p, k.len, 30);
	row[0] = 'd';
	tab_upsert(&t, k.p, k.len, 40, row, 1, 1);
	ok(tab_find(&t, k.p, k.len, 9, 0) == NULL, "before the first version: nothing");
	v = tab_find(&t, k.p, k.len, 10, 0);
	ok(v != NULL && v->enc[0] == 'a', "at a valid-from: that version");
	v = tab_find(&t, k.p, k.len, 25, 0);
	ok(v != NULL && v->enc[0] == 'c', "a tie: the version that came last");
	ok(tab_find(&t, k.p, k.len, 30, 0) == NULL, "at a delete: nothing");
	ok(tab_find(&t, k.p, k.len, 39, 0) == NULL, "after a delete: nothing");
	v = tab_find(&t, k.p, k.len, 45, 0);
	ok(v != NULL && v->enc[0] == 'd', "recreated after the delete");
	ok(tab_find(&t, k.p, k.len, 51, 10) == NULL, "older than the ttl: nothing");
	v = tab_find(&t, k.p, k.len, 50, 10);
	ok(v != NULL && v->enc[0] == 'd', "exactly the ttl old: still valid");
	is_int(t.nver, 5, "five versions kept");
	is_int(t.nlive, 1, "one live key");
	tab_clear(&t, 60);
	ok(tab_find(&t, k.p, k.len, 61, 0) == NULL, "truncated at 60");
	v = tab_find(&t, k.p, k.len, 59, 0);
	ok(v != NULL && v->enc[0] == 'd', "before the truncate, still there");
	tab_free(&t);
	buf_free(&k);
}

/* Random upserts and deletes against a plain array. */
static void test_random(void)
{
	enum { KEYS = 3000, OPS = 60000 };
	static int model[KEYS];		/* 0: absent, else the row's value */
	struct tab t;
	struct buf k = { 0 };
	int wrong = 0;

	tab_init(&t);
	for (int op = 0; op < OPS; op++) {
		unsigned n = (unsigned)(next() % KEYS);
		int val = (int)(next() % 1000) + 1;

		key_of(&k, n);
		if (next() % 3 == 0) {
			tab_delete(&t, k.p, k.len, TAB_NOW);
			model[n] = 0;
		} else {
			tab_upsert(&t, k.p, k.len, TAB_NOW, (const uint8_t *)&val, sizeof(val), 1);
			model[n] = val;
		}
		if (op % 1000 == 999 || op == OPS - 1) {
			size_t live = 0;

			for (unsigned i = 0; i < KEYS; i++) {
				const struct tab_ver *v;
				int got;

				key_of(&k, i);
				v = tab_find(&t, k.p, k.len, TAB_NOW, 0);
				memcpy(&got, v ? v->enc : (const uint8_t *)"\0\0\0\0", 4);
				if ((v == NULL) != (model[i] == 0) || (v != NULL && got != model[i]))
					wrong++;
				live += model[i] != 0;
			}
			if (t.nkeys != live)
				wrong++;
		}
	}
	is_int(wrong, 0, "%d random upserts and deletes agree with a plain array", OPS);
	tab_free(&t);

	/* The same keys loaded in bulk (arena) and then changed. */
	tab_init(&t);
	t.bulk = 1;
	tab_reserve(&t, KEYS);
	for (unsigned i = 0; i < KEYS; i++) {
		int val = (int)i + 1;

		key_of(&k, i);
		tab_upsert(&t, k.p, k.len, TAB_NOW, (const uint8_t *)&val, sizeof(val), 1);
	}
	t.bulk = 0;
	for (unsigned i = 0; i < KEYS; i += 2) {
		int val = -1;

		key_of(&k, i);
		if (i % 4 == 0)
			tab_delete(&t, k.p, k.len, TAB_NOW);
		else
			tab_upsert(&t, k.p, k.len, TAB_NOW, (const uint8_t *)&val, sizeof(val), 1);
	}
	wrong = 0;
	for (unsigned i = 0; i < KEYS; i++) {
		const struct tab_ver *v;
		int got = 0, want = i % 4 == 0 ? 0 : i % 2 == 0 ? -1 : (int)i + 1;

		key_of(&k, i);
		v = tab_find(&t, k.p, k.len, TAB_NOW, 0);
		if (v != NULL)
			memcpy(&got, v->enc, 4);
		wrong += got != want;
	}
	is_int(wrong, 0, "rows loaded in bulk, then replaced and deleted");
	tab_free(&t);
	buf_free(&k);
}

static void test_lru(void)
{
	enum { CAP = 50, KEYS = 200, OPS = 20000 };
	static uint64_t last_use[KEYS];	/* model: 0 = absent */
	struct lru c;
	uint64_t clock = 0;
	int wrong = 0;

	lru_init(&c, CAP);
	for (int op = 0; op < OPS; op++) {
		unsigned n = (unsigned)(next() % KEYS);
		char key[16];
		uint64_t h;
		uint32_t i;
		size_t kn = (size_t)snprintf(key, sizeof(key), "key%u", n);

		/* Few hash values, so collisions are exercised too. */
		h = n % 37;
		i = lru_get(&c, key, kn, h);
		clock++;
		if ((i == LRU_NIL) != (last_use[n] == 0))
			wrong++;
		if (i == LRU_NIL) {
			unsigned inuse = 0, oldest = KEYS;

			for (unsigned j = 0; j < KEYS; j++)
				if (last_use[j] != 0) {
					inuse++;
					if (oldest == KEYS || last_use[j] < last_use[oldest])
						oldest = j;
				}
			if (inuse == CAP)
				last_use[oldest] = 0;
			i = lru_put(&c, key, kn, h);
			buf_append(&c.e[i].val, &n, sizeof(n));
		} else {
			unsigned got;

			memcpy(&got, c.e[i].val.p, sizeof(got));
			wrong += got != n;
		}
		last_use[n] = clock;
	}
	is_int(wrong, 0, "%d random gets and puts agree with a model LRU", OPS);
	lru_free(&c);
}

int main(void)
{
	test_keys();
	test_as_of();
	test_random();
	test_lru();
	return tap_done();
}
