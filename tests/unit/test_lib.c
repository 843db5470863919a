/* test_lib.c - unit tests of librtai: times, durations, records, frames. */
#include "config.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "barrier.h"
#include "buf.h"
#include "cli.h"
#include "frame.h"
#include "rec.h"
#include "rtime.h"
#include "tap.h"

static void test_durations(void)
{
	static const struct { const char *s; int64_t ns; } good[] = {
		{ "0", 0 }, { "250ms", 250000000 }, { "10s", 10000000000 },
		{ "5m", 300000000000 }, { "2h", 7200000000000 }, { "1d", 86400000000000 },
		{ "1h30m", 5400000000000 }, { "1.5s", 1500000000 }, { "7ns", 7 },
		{ "3us", 3000 },
	};
	static const char *bad[] = { "", "10", "-1s", "5x", "s", "1.s5", "99999999999999999999d", "1d1" };
	const char *why;
	int64_t ns;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int rc = rtime_parse_duration(good[i].s, strlen(good[i].s), &ns, &why);

		ok(rc == 0 && ns == good[i].ns, "duration '%s' = %lld ns", good[i].s,
		   (long long)good[i].ns);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(rtime_parse_duration(bad[i], strlen(bad[i]), &ns, &why) < 0,
		   "duration '%s' is rejected", bad[i]);
}

static void test_times(void)
{
	static const struct { const char *s; int64_t ns; } good[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2026-11-24T10:00:00Z", 1795514400000000000 },
		{ "2026-11-24T10:00:00.5Z", 1795514400500000000 },
		{ "2026-11-24T12:00:00+02:00", 1795514400000000000 },
		{ "2026-11-24T05:30:00-0430", 1795514400000000000 },
		{ "2026-11-24 10:00:00", 1795514400000000000 },
		{ "2026-11-24", 1795478400000000000 },
		{ "1969-12-31T23:59:59.999Z", -1000000 },
		{ "2000-02-29T00:00:00.000000001Z", 951782400000000001 },
	};
	static const char *bad[] = { "2026-13-01", "2026-02-30", "2026-11-24T25:00",
				     "2026-11-24T10:00:00Q", "yesterday", "2026-11-24T10:00:00+99:00",
				     "2025-02-29" };
	char buf[RTAI_TIME_BUFSZ];
	const char *why;
	int64_t ns;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int rc = rtime_parse_iso(good[i].s, strlen(good[i].s), &ns, &why);

		ok(rc == 0 && ns == good[i].ns, "time '%s'", good[i].s);
		if (rc == 0 && ns != good[i].ns)
			printf("#   got %lld\n", (long long)ns);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(rtime_parse_iso(bad[i], strlen(bad[i]), &ns, &why) < 0, "time '%s' is rejected", bad[i]);

	rtime_fmt_time(1795514400000000000, buf);
	is_str(buf, "2026-11-24T10:00:00.000Z", "formats with milliseconds");
	rtime_fmt_time(1795514400000001000, buf);
	is_str(buf, "2026-11-24T10:00:00.000001Z", "formats microseconds when needed");
	rtime_fmt_time(1795514400000000001, buf);
	is_str(buf, "2026-11-24T10:00:00.000000001Z", "formats nanoseconds when needed");
	rtime_fmt_time(-1, buf);
	is_str(buf, "1969-12-31T23:59:59.999999999Z", "formats times before 1970");

	ok(rtime_parse_time("1795514400", 10, RTAI_TU_AUTO, &ns, &why) == 0 &&
	   ns == 1795514400000000000, "auto: seconds");
	ok(rtime_parse_time("1795514400000", 13, RTAI_TU_AUTO, &ns, &why) == 0 &&
	   ns == 1795514400000000000, "auto: milliseconds");
	ok(rtime_parse_time("1795514400000000", 16, RTAI_TU_AUTO, &ns, &why) == 0 &&
	   ns == 1795514400000000000, "auto: microseconds");
	ok(rtime_parse_time("1795514400000000000", 19, RTAI_TU_AUTO, &ns, &why) == 0 &&
	   ns == 1795514400000000000, "auto: nanoseconds");
	ok(rtime_parse_time("1.5", 3, RTAI_TU_S, &ns, &why) == 0 && ns == 1500000000,
	   "fractional seconds");
	ok(rtime_epoch_f64(NAN, RTAI_TU_S, &ns, &why) < 0, "NaN is not a time");
	ok(rtime_epoch_i64(INT64_MAX / 2, RTAI_TU_S, &ns, &why) < 0, "overflow is caught");
	is_int(rtime_floordiv(-1, 10), -1, "floor division rounds down below zero");
	is_int(rtime_floordiv(-10, 10), -1, "floor division of an exact negative");
}

static void test_records(void)
{
	struct rec r = { 0 }, d = { 0 };
	struct buf enc = { 0 }, js = { 0 };
	const char *text = "{\"user\":\"u1\",\"n\":3,\"x\":1.5,\"ok\":true,\"no\":null,"
			   "\"nest\":{\"a\":[1,2]},\"s\":\"a\\\"b\\u00e9\"}";
	struct rec_field *f;

	ok(rec_from_json(&r, text, strlen(text)) == 0, "JSON object parses");
	is_int(r.n, 7, "seven fields");
	f = rec_getz(&r, "n");
	ok(f != NULL && f->v.type == RT_INT && f->v.i == 3, "int field");
	f = rec_getz(&r, "x");
	ok(f != NULL && f->v.type == RT_FLOAT && f->v.f == 1.5, "float field");
	f = rec_getz(&r, "nest");
	ok(f != NULL && f->v.type == RT_JSON, "nested object kept as JSON");
	rec_set(&r, "t", 1, val_time(1795514400000000000));
	rec_encode(&r, &enc);
	ok(rec_decode(&d, enc.p, enc.len) == 0, "binary round trip decodes");
	is_int(d.n, 8, "eight fields after adding a time");
	rec_to_json(&d, &js);
	buf_putc(&js, 0);
	is_str((char *)js.p,
	       "{\"user\":\"u1\",\"n\":3,\"x\":1.5,\"ok\":true,\"no\":null,\"nest\":{\"a\":[1,2]},"
	       "\"s\":\"a\\\"b\xc3\xa9\",\"t\":\"2026-11-24T10:00:00.000Z\"}",
	       "JSON output");
	ok(rec_from_json(&r, "[1]", 3) < 0, "an array is not a record");
	ok(rec_from_json(&r, "{\"a\":1,\"a\":2}", 13) < 0, "duplicate keys are rejected");
	ok(rec_from_json(&r, "{\"a\":", 5) < 0, "truncated JSON is rejected");
	for (size_t cut = 0; cut < enc.len; cut++)
		if (rec_decode(&d, enc.p, cut) == 0) {
			ok(0, "truncated binary record of %zu bytes decodes", cut);
			break;
		}
	ok(1, "every truncation of a binary record is rejected");
	buf_reset(&js);
	json_put_str(&js, "\xff\x01", 2);
	buf_putc(&js, 0);
	is_str((char *)js.p, "\"\xef\xbf\xbd\\u0001\"", "invalid UTF-8 and control bytes are escaped");
	{
		struct val a = val_int(2), b = val_float(2.5), c = val_str("b", 1);

		ok(val_cmp(&a, &b) < 0 && val_cmp(&b, &a) > 0, "ints and floats compare by value");
		ok(val_cmp(&a, &c) < 0, "numbers sort before strings");
	}
	rec_free(&r);
	rec_free(&d);
	buf_free(&enc);
	buf_free(&js);
}

static void test_frames(void)
{
	char path[] = "/tmp/rtai-unit-XXXXXX";
	int fd = mkstemp(path);
	struct frame_wr w;
	struct frame_rd r;
	struct frame f;
	int n = 0;

	wr_open_fd(&w, fd, path, 0);
	for (int i = 0; i < 1000; i++)
		wr_put(&w, RTAI_K_DATA, RTAI_E_RAW, 0, i, i % 2 ? i * 10 : RTAI_TIME_UNSET, "abc", 3);
	wr_put(&w, 99, RTAI_E_NONE, 0x8000, 1, 2, NULL, 0);
	wr_close(&w);
	fd = open(path, O_RDONLY);
	rd_open_fd(&r, fd, path);
	while (rd_frame(&r, &f) > 0 && f.kind == RTAI_K_DATA) {
		if (f.ingest_ns != n || f.len != 3 ||
		    f.event_ns != (n % 2 ? n * 10 : RTAI_TIME_UNSET))
			break;
		n++;
	}
	is_int(n, 1000, "1000 frames read back with their times");
	ok(f.kind == 99 && f.flags == (0x8000 | RTAI_F_EVENT) && f.event_ns == 2,
	   "unknown kinds and flags survive");
	is_int(rd_frame(&r, &f), 0, "then the end");
	rd_close(&r);
	unlink(path);
}

static void test_bufs(void)
{
	struct buf b = { 0 };

	buf_printf(&b, "redis://%s:%d", "h", 1);
	buf_putc(&b, '\0');
	is_str((char *)b.p, "redis://h:1", "buf_printf into an empty buffer");
	buf_reset(&b);
	buf_printf(&b, "%0100d", 7);
	is_int(b.len, 100, "buf_printf grows the buffer for long text");
	buf_free(&b);
}

/* RFC 4648 section 10's test vectors, both ways. */
static void test_base64(void)
{
	static const char *const vec[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	struct buf b = { 0 };
	int st;

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		buf_reset(&b);
		buf_put_base64(&b, vec[i][0], strlen(vec[i][0]));
		ok(b.len == strlen(vec[i][1]) && (b.len == 0 || memcmp(b.p, vec[i][1], b.len) == 0),
		   "base64 of \"%s\" is \"%s\"", vec[i][0], vec[i][1]);
		buf_reset(&b);
		st = buf_get_base64(&b, vec[i][1], strlen(vec[i][1]));
		ok(st == 0 && b.len == strlen(vec[i][0]) &&
		   (b.len == 0 || memcmp(b.p, vec[i][0], b.len) == 0),
		   "\"%s\" decodes to \"%s\"", vec[i][1], vec[i][0]);
	}
	buf_reset(&b);
	st = buf_get_base64(&b, "Zm9vYg", 6);
	ok(st == 0 && b.len == 4, "padding is optional");
	buf_reset(&b);
	st = buf_get_base64(&b, "Zm9v!", 5);
	ok(st < 0 && b.len == 0, "a character outside the alphabet is refused");
	st = buf_get_base64(&b, "Z", 1);
	ok(st < 0, "one character cannot be base64");
	buf_free(&b);
}

/* A barrier's record encodes and decodes back; bad ones are named. */
static void test_barriers(void)
{
	struct barrier b = { .checkpoint = 7, .savepoint = 1,
			     .sources = "[{\"topic\":\"t\",\"partition\":0,\"offset\":42}]" };
	struct frame f = { .kind = RTAI_K_BARRIER, .enc = RTAI_E_REC };
	struct rec scratch = { 0 };
	struct barrier got;
	struct buf p = { 0 };
	char err[200];
	int st;

	b.sources_len = strlen(b.sources);
	barrier_encode(&b, &p);
	f.payload = p.p;
	f.len = (uint32_t)p.len;
	st = barrier_decode(&f, &scratch, &got, err, sizeof(err));
	ok(st == 0, "a barrier decodes");
	is_int(got.checkpoint, 7, "its checkpoint id");
	is_int(got.savepoint, 1, "its type");
	ok(got.sources_len == b.sources_len && memcmp(got.sources, b.sources, b.sources_len) == 0,
	   "its sources");
	b.sources = NULL;
	b.checkpoint = 0;
	buf_reset(&p);
	barrier_encode(&b, &p);
	f.payload = p.p;
	f.len = (uint32_t)p.len;
	st = barrier_decode(&f, &scratch, &got, err, sizeof(err));
	ok(st < 0, "checkpoint 0 is refused");
	is_str(err, "barrier: field \"checkpoint\": expected an int >= 1, got int", "and named");
	f.enc = RTAI_E_JSON;
	st = barrier_decode(&f, &scratch, &got, err, sizeof(err));
	ok(st < 0, "a JSON barrier is refused");
	rec_free(&scratch);
	buf_free(&p);
}

int main(void)
{
	cli_init("test_lib", NULL);
	test_durations();
	test_times();
	test_records();
	test_frames();
	test_bufs();
	test_base64();
	test_barriers();
	return tap_done();
}
