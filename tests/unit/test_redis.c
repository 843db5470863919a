/* test_redis.c - unit tests of the Redis helpers of librtai: connection
 * URLs and key templates. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "rec.h"
#include "redisurl.h"
#include "resp.h"
#include "sha1.h"
#include "tap.h"
#include "tmpl.h"

static void test_urls(void)
{
	struct rurl u;
	char err[256], *shown;
	int rc;

	unsetenv("RTAI_REDIS_PASSWORD");
	rc = rurl_parse(&u, NULL, err, sizeof(err));
	ok(rc == 0, "the default URL parses");
	is_str(u.host, "127.0.0.1", "default host");
	is_int(u.port, 6379, "default port");
	is_int(u.db, 0, "default db");
	ok(u.password == NULL && u.user == NULL && u.path == NULL, "no password, user or path");
	is_str(u.shown, "redis://127.0.0.1:6379", "shown");
	rurl_free(&u);

	rc = rurl_parse(&u, "redis://:s3cr@t@db.example:6380/2", err, sizeof(err));
	ok(rc == 0,
	   "password with '@', port and db");
	is_str(u.host, "db.example", "host");
	is_int(u.port, 6380, "port");
	is_int(u.db, 2, "db");
	is_str(u.password, "s3cr@t", "password");
	ok(u.user == NULL, "no user");
	is_str(u.shown, "redis://:***@db.example:6380/2", "shown masks the password");
	rurl_free(&u);

	rc = rurl_parse(&u, "redis://alice:p%40ss@[::1]", err, sizeof(err));
	ok(rc == 0, "user, IPv6");
	is_str(u.user, "alice", "user");
	is_str(u.password, "p@ss", "percent-decoded password");
	is_str(u.host, "::1", "IPv6 host");
	is_str(u.shown, "redis://alice:***@[::1]:6379", "shown");
	rurl_free(&u);

	rc = rurl_parse(&u, "redis://pw@h", err, sizeof(err));
	ok(rc == 0, "user info without ':'");
	is_str(u.password, "pw", "is the password, as redis-cli reads it");
	rurl_free(&u);

	rc = rurl_parse(&u, "redis://", err, sizeof(err));
	ok(rc == 0, "empty authority");
	is_str(u.host, "127.0.0.1", "means the local host");
	rurl_free(&u);

	rc = rurl_parse(&u, "unix:///run/redis.sock?db=3", err, sizeof(err));
	ok(rc == 0, "unix socket");
	is_str(u.path, "/run/redis.sock", "path");
	is_int(u.db, 3, "db");
	ok(u.host == NULL, "no host");
	is_str(u.shown, "unix:///run/redis.sock?db=3", "shown");
	rurl_free(&u);

	rc = rurl_parse(&u, "unix://:pw@/tmp/r@dis.sock", err, sizeof(err));
	ok(rc == 0, "unix with password");
	is_str(u.path, "/tmp/r@dis.sock", "path may hold '@'");
	is_str(u.password, "pw", "password");
	rurl_free(&u);

	setenv("RTAI_REDIS_PASSWORD", "fromenv", 1);
	rc = rurl_parse(&u, "redis://h", err, sizeof(err));
	ok(rc == 0, "RTAI_REDIS_PASSWORD");
	is_str(u.password, "fromenv", "is used without one in the URL");
	is_str(u.shown, "redis://:***@h:6379", "and masked");
	rurl_free(&u);
	rc = rurl_parse(&u, "redis://:url@h", err, sizeof(err));
	ok(rc == 0, "a URL password");
	is_str(u.password, "url", "wins over the environment");
	rurl_free(&u);
	unsetenv("RTAI_REDIS_PASSWORD");

	static const struct { const char *url, *why; } bad[] = {
		{ "http://x", "'http://x': expected redis://" },
		{ "rediss://h", "TLS (rediss://) is not supported" },
		{ "redis://h:0", "port must be a number from 1 to 65535" },
		{ "redis://h:99999", "port must be" },
		{ "redis://h:x", "port must be" },
		{ "redis://h/x", "database after '/' must be a number" },
		{ "redis://[::1", "unclosed '['" },
		{ "unix://", "absolute socket path" },
		{ "unix:///s?x=1", "?db=N" },
		{ "redis://:hunter2@h:bad", "'redis://:***@h:bad': the port" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rc = rurl_parse(&u, bad[i].url, err, sizeof(err));

		ok(rc < 0 && strstr(err, bad[i].why) != NULL && strstr(err, "hunter2") == NULL,
		   "'%s' is rejected: %s", bad[i].url, err);
	}

	shown = rurl_mask("redis://:hunter2@h:1/0");
	is_str(shown, "redis://:***@h:1/0", "rurl_mask shows a password as ***");
	free(shown);
	shown = rurl_mask("redis://user:a-much-longer-password@h");
	is_str(shown, "redis://user:***@h", "whatever its length, and keeps the user");
	free(shown);
	shown = rurl_mask("redis://h:1");
	is_str(shown, "redis://h:1", "a URL without password is unchanged");
	free(shown);
}

static void test_templates(void)
{
	struct tmpl t;
	struct rec r = { 0 };
	struct buf out = { 0 };
	char err[256];
	int rc;

	static const char *json = "{\"user_id\":\"u1\",\"n\":42,\"x\":1.5,\"t\":null,\"ok\":true}";

	rc = rec_from_json(&r, json, strlen(json));
	ok(rc == 0, "a record");
	rec_set(&r, "ts", 2, val_time(1795514400000000000));

	rc = tmpl_compile(&t, "features:user:{user_id}:n={n}", err, sizeof(err));
	ok(rc == 0, "compile");
	is_int(t.nfields, 2, "two placeholders");
	rc = tmpl_render(&t, &r, &out, err, sizeof(err));
	ok(rc == 0, "render");
	buf_putc(&out, 0);
	is_str((char *)out.p, "features:user:u1:n=42", "rendered");
	tmpl_free(&t);

	buf_reset(&out);
	rc = tmpl_compile(&t, "{{{x}}}:{ts}:{ok}", err, sizeof(err));
	ok(rc == 0, "braces and a time");
	rc = tmpl_render(&t, &r, &out, err, sizeof(err));
	ok(rc == 0, "render");
	buf_putc(&out, 0);
	is_str((char *)out.p, "{1.5}:2026-11-24T10:00:00.000Z:true", "escaped braces, ISO time");
	tmpl_free(&t);

	buf_reset(&out);
	rc = tmpl_compile(&t, "plain", err, sizeof(err));
	ok(rc == 0 && t.nfields == 0, "no placeholder");
	tmpl_render(&t, &r, &out, err, sizeof(err));
	buf_putc(&out, 0);
	is_str((char *)out.p, "plain", "constant key");
	tmpl_free(&t);

	rc = tmpl_compile(&t, "k:{missing}", err, sizeof(err));
	ok(rc == 0, "compile");
	rc = tmpl_render(&t, &r, &out, err, sizeof(err));
	ok(rc < 0, "a missing field fails");
	is_str(err, "no field \"missing\"", "naming it");
	tmpl_free(&t);
	rc = tmpl_compile(&t, "k:{t}", err, sizeof(err));
	ok(rc == 0, "compile");
	rc = tmpl_render(&t, &r, &out, err, sizeof(err));
	ok(rc < 0, "a null field fails");
	is_str(err, "field \"t\" is null", "naming it");
	tmpl_free(&t);

	static const struct { const char *t, *why; } bad[] = {
		{ "k:{user", "column 3: '{' without a closing '}'" },
		{ "k:{a{b}", "column 3: '{' without" },
		{ "k:{}", "column 3: empty placeholder" },
		{ "k}", "column 2: '}' without an opening '{'" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rc = tmpl_compile(&t, bad[i].t, err, sizeof(err));
		ok(rc < 0 && strstr(err, bad[i].why) != NULL, "'%s' is rejected: %s", bad[i].t, err);
	}
	tmpl_free(NULL);
	rec_free(&r);
	buf_free(&out);
}

/* Commands are the bytes hiredis makes, whatever the arguments hold; and
 * they print as redis-cli reads them. */
static void test_resp(void)
{
	const char *argv[4] = { "SET", "a b\r\nSET injected 1\r\n", "", "\"q\"\\\x01\xff" };
	size_t len[4] = { 3, 21, 0, 6 };
	struct buf b = { 0 }, p = { 0 };
	char *want;
	int n = redisFormatCommandArgv(&want, 4, argv, len);

	resp_array(&b, 4);
	for (int i = 0; i < 4; i++)
		resp_bulk(&b, argv[i], len[i]);
	ok(n > 0 && (size_t)n == b.len && memcmp(b.p, want, b.len) == 0,
	   "resp_array and resp_bulk make what redisFormatCommandArgv makes");
	redisFreeCommand(want);
	is_int(resp_print(&p, b.p, b.len), b.len, "resp_print reads the whole command");
	buf_putc(&p, 0);
	is_str((char *)p.p, "SET \"a b\\r\\nSET injected 1\\r\\n\" \"\" \"\\\"q\\\"\\\\\\x01\\xff\"",
	       "and quotes what needs quoting");
	is_int(resp_print(&p, b.p, b.len - 1), 0, "a truncated command is not printed");
	buf_free(&b);
	buf_free(&p);
}

static void test_sha1(void)
{
	char hex[41];

	sha1_hex("abc", 3, hex);
	is_str(hex, "a9993e364706816aba3e25717850c26c9cd0d89d", "sha1 of 'abc'");
	sha1_hex("", 0, hex);
	is_str(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709", "sha1 of ''");
	sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
	is_str(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1", "sha1 of 56 bytes (two blocks)");
}

/* Significant digits of a number's text: of the mantissa, without
 * leading and trailing zeros (at least 1). */
static int sig_digits(const char *t)
{
	const char *e = t + strcspn(t, "eE");
	char d[48] = { 0 };
	int n = 0, lo = 0, hi;

	for (const char *p = t; p < e && n < (int)sizeof d; p++)
		if (*p >= '0' && *p <= '9')
			d[n++] = *p;
	while (lo < n && d[lo] == '0')
		lo++;
	for (hi = n; hi > lo && d[hi - 1] == '0'; hi--)
		;
	return hi > lo ? hi - lo : 1;
}

/* The check, by definition: got reads back as d, reads as a float (a "."
 * or an exponent), and has the fewest significant digits (%.Pg for P = 1,
 * 2, ...) that read back as d. Returns 1 if so, else 0 with want set to
 * the shortest %.Pg text. */
static int shortest_ok(double d, const char *got, char *want)
{
	int p;

	for (p = 1; p <= 17; p++) {
		snprintf(want, 40, "%.*g", p, d);
		if (strtod(want, NULL) == d)
			break;
	}
	return strtod(got, NULL) == d && signbit(strtod(got, NULL)) == signbit(d) &&
	       strpbrk(got, ".e") != NULL && sig_digits(got) == sig_digits(want);
}

/* Floats are what the sink writes most; val_text() formats the usual ones
 * without printf, and must print the shortest text that reads back. */
static void test_floats(void)
{
	static const double fixed[] = { 0.0, -0.0, 1.0, -1.0, 28.5, 0.1, 0.2, 0.30000000000000004,
		0.05, 0.0001, 0.00012, 0.00009999, 1e-5, 123456.789, 999999999999999.0, 1e15, 1e16,
		-7.25, 3.14159265358979, 1.0 / 3, 2.5e-7, 100.0, 1234567.000001, 0.000001,
		4503599627370497.0, 0.1 + 0.7, 1e14 + 0.5 };
	struct buf b = { 0 };
	char want[48];
	unsigned long long bad = 0, n = 0;
	uint64_t x = 88172645463325252ull;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		buf_reset(&b);
		val_text(&(struct val){ .type = RT_FLOAT, .f = fixed[i] }, &b);
		buf_putc(&b, 0);
		ok(shortest_ok(fixed[i], (char *)b.p, want), "float %.17g prints as %s (%s)",
		   fixed[i], (char *)b.p, want);
	}
	/* Decimals of every scale, and random bit patterns. */
	for (int i = 0; i < 400000; i++) {
		double d;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		switch (i % 4) {
		case 0: d = (double)(int64_t)(x % 2000000001) / 100 - 1e7; break;
		case 1: d = (double)(x % 100000000) / pow(10, (double)((x >> 40) % 9)); break;
		case 2: d = (double)(x % 1000000000000000ull) / 1e6; break;
		default: memcpy(&d, &x, sizeof(d));
		}
		if (!isfinite(d))
			continue;
		buf_reset(&b);
		val_text(&(struct val){ .type = RT_FLOAT, .f = d }, &b);
		buf_putc(&b, 0);
		n++;
		if (!shortest_ok(d, (char *)b.p, want) && bad++ < 5)
			printf("# %.17g: got %s, want %s\n", d, (char *)b.p, want);
	}
	is_int(bad, 0, "%llu random floats print in the fewest digits that read back", n);
	buf_free(&b);
}

int main(void)
{
	cli_init("test_redis", NULL);
	test_urls();
	test_templates();
	test_floats();
	test_resp();
	test_sha1();
	return tap_done();
}
