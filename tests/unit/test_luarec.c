/* test_luarec.c - Lua expressions over records (lib/luarec.h).
 *
 * Values into and out of Lua keep their types (int64 above 2^53 too),
 * syntax errors name their column, runtime errors leave the engine usable,
 * and, with the garbage collector stopped so that every byte shows, the
 * expressions of the benchmark allocate nothing per record once warm.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "frame.h"
#include "luarec.h"
#include "rec.h"
#include "rtime.h"
#include "tap.h"

static struct rec src;
static struct buf payload;
static struct frame frame;
static struct lr_rec cur;

/* A frame holding one binary record: amount, user_id, n, big, t. */
static void make(double amount, const char *user, int64_t n, int64_t t)
{
	rec_reset(&src);
	rec_add(&src, "amount", 6, val_float(amount));
	rec_add(&src, "user_id", 7, val_str(user, strlen(user)));
	rec_add(&src, "n", 1, val_int(n));
	rec_add(&src, "big", 3, val_int(INT64_C(9007199254740993)));
	rec_add(&src, "t", 1, val_time(t));
	rec_add(&src, "user-id", 7, val_str("odd", 3));
	buf_reset(&payload);
	rec_encode(&src, &payload);
	frame = (struct frame){ .kind = RTAI_K_DATA, .enc = RTAI_E_REC,
				     .ingest_ns = 1, .event_ns = t,
				     .payload = payload.p, .len = (uint32_t)payload.len };
	lr_rec_frame(&cur, &frame);
}

/* Bytes Lua allocates per run of expression id over n records, once warm. */
static double per_run(struct lr *lr, int id, int test)
{
	struct val v;
	size_t before;
	int n = 20000;

	for (int i = 0; i < 2000; i++) {	/* warm: the JIT compiles it */
		lr_rec_frame(&cur, &frame);
		if (test)
			lr_test(lr, id, &cur);
		else
			lr_value(lr, id, &cur, "out", 3, LR_ANY, &v);
	}
	lr_gc(lr, 0);
	before = lr_mem(lr);
	for (int i = 0; i < n; i++) {
		lr_rec_frame(&cur, &frame);
		if (test)
			lr_test(lr, id, &cur);
		else
			lr_value(lr, id, &cur, "out", 3, LR_ANY, &v);
	}
	lr_gc(lr, 1);
	return (double)(lr_mem(lr) - before) / n;
}

static int value_of(struct lr *lr, const char *expr, const char *name, enum lr_want want,
		    struct val *v)
{
	int id = lr_compile(lr, expr);

	if (id < 0) {
		printf("# %s: %s\n", expr, lr_err(lr));
		return -1;
	}
	lr_rec_frame(&cur, &frame);
	if (lr_value(lr, id, &cur, name, strlen(name), want, v) < 0) {
		printf("# %s: %s\n", expr, lr_err(lr));
		return -1;
	}
	return 0;
}

/* The value of expr set to a new field. */
static int value(struct lr *lr, const char *expr, enum lr_want want, struct val *v)
{
	return value_of(lr, expr, "out", want, v);
}

int main(void)
{
	struct lr *lr = lr_new();
	struct val v;
	int64_t t = INT64_C(1795514400123456789);	/* 2026-11-24T10:00:00.123456789Z */
	double b;
	int id;

	make(150.5, "u1", 41, t);

	/* ---- values in and out */
	ok(value_of(lr, "amount * 2", "amount", LR_ANY, &v) == 0 && v.type == RT_FLOAT && v.f == 301.0,
	   "a float field set to a whole number stays a float");
	ok(value(lr, "amount * 2", LR_ANY, &v) == 0 && v.type == RT_INT && v.i == 301,
	   "a new field of a whole number is an int");
	ok(value(lr, "amount * 2", LR_FLOAT, &v) == 0 && v.type == RT_FLOAT && v.f == 301.0,
	   "unless its type is given");
	ok(value_of(lr, "n + 0.5", "n", LR_ANY, &v) == 0 && v.type == RT_FLOAT && v.f == 41.5,
	   "an int field set to a fraction becomes a float");
	ok(value_of(lr, "t + 60", "t", LR_ANY, &v) == 0 && v.type == RT_TIME &&
	   v.i == INT64_C(1795514460123457000), "a time field set to a number stays a time");
	ok(value(lr, "n + 1", LR_ANY, &v) == 0 && v.type == RT_INT && v.i == 42,
	   "an int plus 1 is an int");
	ok(value(lr, "n / 2", LR_ANY, &v) == 0 && v.type == RT_FLOAT && v.f == 20.5,
	   "a fraction is a float");
	ok(value(lr, "big", LR_ANY, &v) == 0 && v.type == RT_INT && v.i == INT64_C(9007199254740993),
	   "an int above 2^53 comes back exactly (boxed int64)");
	ok(value(lr, "big + 1", LR_ANY, &v) == 0 && v.type == RT_INT && v.i == INT64_C(9007199254740994),
	   "int64 arithmetic is exact");
	ok(value(lr, "r[\"user-id\"]", LR_ANY, &v) == 0 && v.type == RT_STR && v.s.n == 3 &&
	   memcmp(v.s.p, "odd", 3) == 0, "r[\"user-id\"] reads an odd name");
	ok(value(lr, "t", LR_TIME, &v) == 0 && v.type == RT_TIME && v.i == INT64_C(1795514400123457000),
	   "a time read and set back keeps microseconds");
	ok(value(lr, "_event_time - t", LR_ANY, &v) == 0 && v.type == RT_INT && v.i == 0,
	   "_event_time is the frame's event time, in the same unit as a time field");
	ok(value(lr, "hour(t)", LR_ANY, &v) == 0 && v.type == RT_INT && v.i == 10, "hour(t) in UTC");
	ok(value(lr, "hour(t, 'Asia/Kolkata')", LR_ANY, &v) == 0 && v.i == 15, "hour(t) in +05:30");
	ok(value(lr, "dow(t)", LR_ANY, &v) == 0 && v.i == 2, "2026-11-24 is a Tuesday (2)");
	ok(value(lr, "format_time(t)", LR_ANY, &v) == 0 && v.type == RT_STR &&
	   strncmp(v.s.p, "2026-11-24T10:00:00.123457Z", v.s.n) == 0, "format_time, ISO 8601");
	ok(value(lr, "parse_time('2026-11-24T10:00:00Z') == t - 0.123456789", LR_ANY, &v) == 0 &&
	   v.type == RT_TRUE, "parse_time gives seconds");
	ok(value(lr, "n", LR_STR, &v) == 0 && v.type == RT_STR && strncmp(v.s.p, "41", v.s.n) == 0,
	   ":string of an int");
	ok(value(lr, "'{\"a\":1}'", LR_JSON, &v) == 0 && v.type == RT_JSON, ":json of JSON text");
	ok(value(lr, "'{\"a\":'", LR_JSON, &v) < 0, ":json of bad JSON is an error");
	ok(value(lr, "1/0", LR_ANY, &v) < 0, "an infinity is an error: %s", lr_err(lr));
	ok(value(lr, "amount", LR_INT, &v) < 0, ":int of 150.5 is an error: %s", lr_err(lr));

	/* ---- errors */
	ok(lr_compile(lr, "amount > > 1") < 0 && strncmp(lr_err(lr), "column 10:", 10) == 0,
	   "a syntax error names its column: %s", lr_err(lr));
	id = lr_compile(lr, "nosuch + 1");
	lr_rec_frame(&cur, &frame);
	ok(lr_value(lr, id, &cur, "out", 3, LR_ANY, &v) < 0 && strstr(lr_err(lr), "field 'nosuch'"),
	   "a nil in arithmetic names the field: %s", lr_err(lr));
	is_str(lr_missing(lr, id), "nosuch", "the name is reported as missing");
	ok(lr_missing(lr, lr_compile(lr, "true")) == NULL, "a constant reads no field: no warning");
	ok(value(lr, "n + 1", LR_ANY, &v) == 0 && v.i == 42, "the engine works after an error");

	/* ---- allocation per record, once warm (the GC stopped: every byte shows) */
	b = per_run(lr, lr_compile(lr, "amount > 100"), 1);
	is_int(b, 0, "-w 'amount > 100' allocates %.1f bytes per record", b);
	b = per_run(lr, lr_compile(lr, "amount * 1.1"), 0);
	is_int(b, 0, "-s 'x=amount * 1.1' allocates %.1f bytes per record", b);
	b = per_run(lr, lr_compile(lr, "user_id == 'u1' and hour(t) < 6"), 1);
	is_int(b, 0, "a string compared and an hour: %.1f bytes per record", b);
	b = per_run(lr, lr_compile(lr, "big + 1"), 0);
	ok(b > 0, "an int above 2^53 is boxed: %.1f bytes per record", b);
	printf("# LuaJIT allocates %.1f bytes per record for an int64 above 2^53\n", b);

	lr_free(lr);
	lr_rec_free(&cur);
	rec_free(&src);
	buf_free(&payload);
	return tap_done();
}
