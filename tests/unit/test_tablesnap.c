/* test_tablesnap.c - unit tests of tab_snapshot / tab_restore (lib/table.c):
 * for random streams of upserts, deletes, truncates and lookups (as of a
 * time, with and without a ttl) on an unversioned and a versioned table,
 * some of it loaded in bulk as a table file is, a table snapshotted after
 * operation k, restored into a new table and continued answers every
 * lookup exactly as the uninterrupted table does; and an image that is
 * truncated, corrupt, of another version or restored into a table that
 * holds rows is refused, never misread. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "rec.h"
#include "rtime.h"
#include "table.h"
#include "tap.h"

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint64_t rnd(uint64_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng % n;
}

enum op_kind { OP_UPSERT, OP_DELETE, OP_CLEAR, OP_FIND };

struct op {
	enum op_kind kind;
	struct buf key;
	int64_t at;		/* valid-from, delete time, lookup time; TAB_NOW */
	int64_t ttl;		/* OP_FIND */
	struct buf enc;		/* OP_UPSERT: the row's fields, encoded */
	uint32_t nf;
};

static struct tab_sel sel;

/* A key of one field: an int or a string, some long. */
static void make_key(struct buf *b, unsigned k)
{
	struct rec r = { 0 };
	struct tab_names names;
	char err[100], s[80];
	size_t bad;

	tab_names_parse(&names, "id", err, sizeof(err));
	if (k % 3 == 0)
		rec_add(&r, "id", 2, val_int((int64_t)k));
	else {
		snprintf(s, sizeof(s), k % 3 == 1 ? "k%u" : "customer-with-a-long-name-%040u", k);
		rec_add(&r, "id", 2, val_str(s, strlen(s)));
	}
	buf_reset(b);
	tab_key(&names, &r, b, &bad);
	rec_free(&r);
	tab_names_free(&names);
}

/* A row of random fields of every type (some absent), encoded. */
static void make_row(struct op *o, unsigned k)
{
	static const char *const words[] = { "gold", "silver", "", "a much longer value, "
					     "longer than a cache line of sixty-four bytes" };
	struct rec r = { 0 };
	char err[100];
	uint8_t bytes[5] = { 0, 1, 2, 254, 255 };

	rec_add(&r, "id", 2, val_int((int64_t)k));
	if (rnd(4)) {
		const char *w = words[rnd(4)];

		rec_add(&r, "tier", 4, val_str(w, strlen(w)));
	}
	if (rnd(4))
		rec_add(&r, "score", 5, val_float((double)rnd(100000) / 7.0));
	if (rnd(3))
		rec_add(&r, "n", 1, val_int((int64_t)rnd(1000) - 500));
	if (rnd(5) == 0)
		rec_add(&r, "since", 5, val_time((int64_t)rnd(1000000) * RTAI_NS_PER_SEC));
	if (rnd(5) == 0)
		rec_add(&r, "vip", 3, val_bool((int)rnd(2)));
	if (rnd(6) == 0)
		rec_add(&r, "note", 4, val_null());
	if (rnd(8) == 0)
		rec_add(&r, "raw", 3, val_bytes(bytes, rnd(6)));
	if (rnd(8) == 0)
		rec_add(&r, "tags", 4, (struct val){ .type = RT_JSON, .s = { "[1,2]", 5 } });
	buf_reset(&o->enc);
	if (tab_sel_encode(&sel, &r, &o->enc, &o->nf, err, sizeof(err)) < 0)
		printf("# %s\n", err);
	rec_free(&r);
}

/* n operations over nkeys keys; versioned: times that mostly move on,
 * some behind, some equal (the last to arrive wins among equal times). */
static struct op *stream(int n, unsigned nkeys, int versioned)
{
	struct op *ops = xcalloc((size_t)n, sizeof(*ops));
	int64_t clock = 1000 * RTAI_NS_PER_SEC;

	for (int i = 0; i < n; i++) {
		struct op *o = &ops[i];
		uint64_t d = rnd(100);
		unsigned k = (unsigned)rnd(nkeys);

		clock += (int64_t)rnd(RTAI_NS_PER_SEC);
		o->at = TAB_NOW;
		if (versioned) {
			o->at = clock - (rnd(4) == 0 ? (int64_t)rnd(20) * RTAI_NS_PER_SEC : 0);
			if (rnd(10) == 0)
				o->at = clock - clock % (5 * RTAI_NS_PER_SEC);
		}
		make_key(&o->key, k);
		if (d < 35) {
			o->kind = OP_UPSERT;
			make_row(o, k);
		} else if (d < 45) {
			o->kind = OP_DELETE;
		} else if (d == 45 && rnd(4) == 0) {
			o->kind = OP_CLEAR;
		} else {
			o->kind = OP_FIND;
			if (versioned) {
				o->at = clock - (int64_t)rnd(30) * RTAI_NS_PER_SEC + (int64_t)rnd(3);
				o->ttl = rnd(3) == 0 ? (int64_t)(1 + rnd(15)) * RTAI_NS_PER_SEC : 0;
			}
		}
	}
	return ops;
}

static void stream_free(struct op *ops, int n)
{
	for (int i = 0; i < n; i++) {
		buf_free(&ops[i].key);
		buf_free(&ops[i].enc);
	}
	free(ops);
}

/* Runs ops[from, to) on t; each lookup's answer goes to out as a line. */
static void run(struct tab *t, const struct op *ops, int from, int to, int bulk_until,
		struct buf *out)
{
	for (int i = from; i < to; i++) {
		const struct op *o = &ops[i];
		const struct tab_ver *v;

		t->bulk = i < bulk_until;
		switch (o->kind) {
		case OP_UPSERT:
			tab_upsert(t, o->key.p, o->key.len, o->at, o->enc.p, o->enc.len, o->nf);
			break;
		case OP_DELETE:
			tab_delete(t, o->key.p, o->key.len, o->at);
			break;
		case OP_CLEAR:
			tab_clear(t, o->at);
			break;
		case OP_FIND:
			v = tab_find(t, o->key.p, o->key.len, o->at, o->ttl);
			buf_printf(out, "%d ", i);
			if (v == NULL) {
				buf_puts(out, "miss\n");
				break;
			}
			buf_printf(out, "%lld %u %u ", (long long)v->from, v->nf, v->len);
			for (uint32_t j = 0; j < v->len; j++)
				buf_printf(out, "%02x", v->enc[j]);
			buf_putc(out, '\n');
			break;
		}
	}
	t->bulk = 0;
}

static void scenario(const char *name, int n, unsigned nkeys, int versioned)
{
	struct op *ops = stream(n, nkeys, versioned);
	struct buf want = { 0 }, got = { 0 }, img = { 0 }, img2 = { 0 };
	struct tab t;
	int ks[] = { 0, 1, n / 10, n / 3, n / 2, n - 1, n };
	int bulk_until = n / 5;	/* the first fifth as a table file loads */
	int hits = 0;
	char err[300];

	tab_init(&t);
	run(&t, ops, 0, n, bulk_until, &want);
	buf_putc(&want, '\0');
	for (const char *p = (const char *)want.p; (p = strchr(p, '\n')) != NULL; p++)
		hits++;
	for (const char *p = (const char *)want.p; (p = strstr(p, " miss")) != NULL; p++)
		hits--;
	want.len--;
	tab_free(&t);
	ok(want.len > 0 && hits > n / 100, "%s: the uninterrupted run finds rows (%d hits)", name,
	   hits);

	for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
		struct tab a, b;
		uint64_t nkeys_a, nver_a, nlive_a;
		int rc;

		buf_reset(&got);
		buf_reset(&img);
		tab_init(&a);
		run(&a, ops, 0, ks[i], bulk_until, &got);
		tab_snapshot(&a, &img);
		nkeys_a = a.nkeys;
		nver_a = a.nver;
		nlive_a = a.nlive;
		tab_free(&a);

		tab_init(&b);
		rc = tab_restore(&b, img.p, img.len, err, sizeof(err));
		ok(rc == 0, "%s: snapshot after operation %d (%zu bytes, %llu keys) restores%s%s",
		   name, ks[i], img.len, (unsigned long long)nkeys_a, rc ? ": " : "",
		   rc ? err : "");
		ok(b.nkeys == nkeys_a && b.nver == nver_a && b.nlive == nlive_a,
		   "%s: after %d: the same keys, versions and live rows", name, ks[i]);
		/* the image of the restored table is the same image, up to order */
		buf_reset(&img2);
		tab_snapshot(&b, &img2);
		ok(img2.len == img.len, "%s: after %d: its own image is as long", name, ks[i]);
		run(&b, ops, ks[i], n, bulk_until, &got);
		ok(got.len == want.len && memcmp(got.p, want.p, want.len) == 0,
		   "%s: restored after %d and continued: every lookup as uninterrupted", name,
		   ks[i]);
		tab_free(&b);
	}
	stream_free(ops, n);
	buf_free(&want);
	buf_free(&got);
	buf_free(&img);
	buf_free(&img2);
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int try_restore(const void *p, size_t len, char *err, size_t errlen)
{
	struct tab t;
	int rc;

	tab_init(&t);
	rc = tab_restore(&t, p, len, err, errlen);
	tab_free(&t);
	return rc;
}

static void test_refusals(void)
{
	struct op *ops = stream(2000, 200, 1);
	struct buf img = { 0 }, bad = { 0 }, sink = { 0 };
	struct tab t;
	char err[300];
	int rc, clean = 1;

	tab_init(&t);
	run(&t, ops, 0, 2000, 300, &sink);
	tab_snapshot(&t, &img);
	rc = tab_restore(&t, img.p, img.len, err, sizeof(err));
	ok(rc == -1 && strstr(err, "already holds rows") != NULL,
	   "a table that holds rows is refused: %s", err);
	tab_free(&t);

	rc = try_restore("RTWS", 4, err, sizeof(err));
	ok(rc == -1 && strstr(err, "not a table snapshot") != NULL, "another magic: %s", err);
	rc = try_restore("", 0, err, sizeof(err));
	ok(rc == -1 && strstr(err, "not a table snapshot") != NULL, "an empty image: %s", err);
	rc = try_restore(img.p, 10, err, sizeof(err));
	ok(rc == -1 && strstr(err, "cut short in its header") != NULL, "a header cut short: %s",
	   err);
	rc = try_restore(img.p, img.len - 1, err, sizeof(err));
	ok(rc == -1 && strstr(err, "truncated") != NULL, "a truncated image: %s", err);

	buf_append(&bad, img.p, img.len);
	bad.p[4] = 2;
	rc = try_restore(bad.p, bad.len, err, sizeof(err));
	is_int(rc, -1, "another version is refused");
	is_str(err, "a table snapshot of version 2 (this build reads version 1)", "... and says so");
	bad.p[4] = 1;
	bad.p[bad.len / 2] ^= 0x10;
	rc = try_restore(bad.p, bad.len, err, sizeof(err));
	ok(rc == -1 && strstr(err, "checksum") != NULL, "a flipped bit is refused: %s", err);

	/* Damage that keeps a valid checksum (a writer's bug, or a crafted
	 * file): refused with a clear message or restored, never a crash or
	 * a read out of bounds (ASan watches). The checksum is recomputed as
	 * lib/table.c does. */
	for (int i = 0; i < 3000; i++) {
		size_t at = 24 + rnd(img.len - 24);

		buf_reset(&bad);
		buf_append(&bad, img.p, img.len);
		bad.p[at] ^= (uint8_t)(1 + rnd(255));
		if (rnd(4) == 0)	/* shorter, with a consistent length */
			bad.len = 24 + rnd(bad.len - 24);
		put_u64(bad.p + 8, bad.len - 24);
		put_u64(bad.p + 16, rec_hash(bad.p + 24, bad.len - 24,
					      UINT64_C(0x7274616974616231)));
		rc = try_restore(bad.p, bad.len, err, sizeof(err));
		if (rc != 0 && strncmp(err, "a corrupt table snapshot: byte ", 31) != 0) {
			printf("#   damage at byte %zu: %s\n", at, err);
			clean = 0;
		}
	}
	ok(clean, "3000 damaged images with valid checksums: each refused with a clear "
	   "message or restored");

	/* an empty table round-trips */
	tab_init(&t);
	buf_reset(&img);
	tab_snapshot(&t, &img);
	tab_free(&t);
	tab_init(&t);
	rc = tab_restore(&t, img.p, img.len, err, sizeof(err));
	ok(rc == 0 && t.nkeys == 0 && t.nver == 0, "an empty table round-trips (%zu bytes)",
	   img.len);
	tab_free(&t);

	stream_free(ops, 2000);
	buf_free(&img);
	buf_free(&bad);
	buf_free(&sink);
}

int main(void)
{
	char err[100];

	if (tab_names_parse(&sel.skip, "id", err, sizeof(err)) < 0)
		printf("# %s\n", err);
	scenario("unversioned", 6000, 300, 0);
	scenario("unversioned, 5000 keys", 12000, 5000, 0);
	scenario("as of", 6000, 150, 1);
	scenario("as of, 4000 keys", 12000, 4000, 1);
	sel.prefix = "u_";
	sel.nprefix = 2;
	scenario("as of, prefixed", 3000, 60, 1);
	test_refusals();
	tab_names_free(&sel.skip);
	return tap_done();
}
