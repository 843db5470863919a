/* test_jflat.c - the flat-object fast path agrees with jansson.
 *
 * The rule under test: whatever jflat_parse() accepts, rec_from_json()
 * accepts too, with the same fields, types and values (bit for bit for
 * floats). Hand-picked cases, then random numbers, then random mutations of
 * valid objects, from a fixed seed.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "jflat.h"
#include "rec.h"
#include "tap.h"

static struct rec fast, slow;

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int same_fields(const struct rec *a, const struct rec *b)
{
	if (a->n != b->n)
		return 0;
	for (uint32_t i = 0; i < a->n; i++) {
		const struct rec_field *x = &a->f[i], *y = &b->f[i];

		if (x->nlen != y->nlen || memcmp(x->name, y->name, x->nlen) != 0)
			return 0;
		if (x->v.type != y->v.type)
			return 0;
		if (x->v.type == RT_FLOAT) {
			if (memcmp(&x->v.f, &y->v.f, sizeof(double)) != 0)
				return 0;
		} else if (!val_equal(&x->v, &y->v)) {
			return 0;
		}
	}
	return 1;
}

/* 1 when jflat accepted (and agreed), 0 when it declined, -1 when it
 * accepted something jansson refuses or reads differently. */
static int check(const char *text, size_t n)
{
	if (jflat_parse(&fast, text, n) < 0)
		return 0;
	if (rec_from_json(&slow, text, n) < 0 || !same_fields(&fast, &slow)) {
		printf("# disagree on '%.*s': jansson %s\n", (int)n, text,
		       slow.n ? "reads it differently" : slow.err);
		return -1;
	}
	return 1;
}

static void test_cases(void)
{
	static const char *accept[] = {
		"{}", " { } ", "{\"a\":1}", "{\"a\":-0}", "{\"a\":-0.0}",
		"{\"a\":9223372036854775807}", "{\"a\":-9223372036854775808}",
		"{\"s\":\"x\",\"i\":3,\"f\":2.5,\"b\":true,\"c\":false,\"n\":null}",
		"{\"a\":1e2,\"b\":1E-2,\"c\":0.001,\"d\":123.456e+3,\"e\":1e-400}",
		"{\"a\":1.7976931348623157e308,\"b\":4.9e-324,\"c\":0.1,\"d\":25.51}",
		"{\"\":1}", "{\"u\":\"h\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
		"\t\r\n{\"a\" :\n1 , \"b\": \"c\"}\n",
		"{\"user_id\":\"u17611\",\"item_id\":\"i37303\",\"action\":\"view\",\"amount\":25.51,\"event_time\":\"2026-11-24T10:00:00.000Z\"}",
	};
	static const char *decline[] = {
		"", " ", "[]", "1", "\"a\"", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}",
		"{,}", "{\"a\":1}x", "{\"a\":1}{}", "{\"a\":01}", "{\"a\":-}", "{\"a\":1.}",
		"{\"a\":.5}", "{\"a\":1e}", "{\"a\":+1}", "{\"a\":NaN}", "{\"a\":Infinity}",
		"{\"a\":9223372036854775808}", "{\"a\":-9223372036854775809}",
		"{\"a\":99999999999999999999}", "{\"a\":1e999}", "{\"a\":-1e999}",
		"{\"a\":1,\"a\":2}", "{\"a\":\"x\\\"y\"}", "{\"a\\u0041\":1}",
		"{\"a\":{\"b\":1}}", "{\"a\":[1]}", "{\"a\":tru}", "{\"a\":nul}",
		"{\"a\":\"\x01\"}", "{\"a\":\"\xc3\"}", "{\"a\":\"\xed\xa0\x80\"}",
		"{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xf4\x90\x80\x80\"}", "{'a':1}",
		"\xef\xbb\xbf{}", "{\"a\":1 2}", "{\"a\" 1}",
	};
	char big[400];
	int n;

	for (size_t i = 0; i < sizeof(accept) / sizeof(accept[0]); i++)
		is_int(check(accept[i], strlen(accept[i])), 1, "fast path takes case %zu", i);
	for (size_t i = 0; i < sizeof(decline) / sizeof(decline[0]); i++)
		is_int(check(decline[i], strlen(decline[i])), 0, "fast path declines case %zu", i);
	is_int(check("{\"a\":1\0}", 8), 0, "a NUL byte is declined");
	n = snprintf(big, sizeof(big), "{\"%0256d\":1}", 0);
	is_int(check(big, (size_t)n), 0, "a name over 255 bytes is declined");
	rec_max_fields = 2;
	is_int(check("{\"a\":1,\"b\":2,\"c\":3}", 19), 0, "over --max-fields is declined");
	rec_max_fields = 4096;
	is_int(jflat_rec_from_json(&fast, "{\"a\":[1]}", 9), 0, "declined text goes to jansson");
	is_int(fast.n == 1 ? fast.f[0].v.type : -1, RT_JSON, "and comes back typed");
	is_int(jflat_rec_from_json(&fast, "{\"a\":1,\"a\":1}", 13), -1, "jansson's errors come back");
	ok(strstr(fast.err, "duplicate") != NULL, "with its message: %s", fast.err);
}

static void test_numbers(void)
{
	int bad = 0, fast_hits = 0;
	char text[96];

	for (int i = 0; i < 200000; i++) {
		char num[48];
		size_t k = 0;
		int nint = (int)(rnd() % 20), nfrac = (int)(rnd() % 18), n;

		if (rnd() % 3 == 0)
			num[k++] = '-';
		num[k++] = (char)('1' + rnd() % 9);
		for (int j = 0; j < nint; j++)
			num[k++] = (char)('0' + rnd() % 10);
		if (rnd() % 4 != 0 && nfrac > 0) {
			num[k++] = '.';
			for (int j = 0; j < nfrac; j++)
				num[k++] = (char)('0' + rnd() % 10);
		}
		if (rnd() % 4 == 0)
			k += (size_t)sprintf(num + k, "e%d", (int)(rnd() % 80) - 40);
		num[k] = '\0';
		n = snprintf(text, sizeof(text), "{\"x\":%s}", num);
		switch (check(text, (size_t)n)) {
		case -1: bad++; break;
		case 1: fast_hits++; break;
		}
	}
	is_int(bad, 0, "200000 random numbers read as jansson reads them");
	ok(fast_hits > 150000, "most of them on the fast path (%d)", fast_hits);
}

static void test_mutations(void)
{
	static const char alphabet[] = "{}[]\",:\\ \t\n0123456789eE.+-tfnulxa\x80\xc3\xa9\xed\xa0\xf0";
	static const char *seeds[] = {
		"{\"user_id\":\"u1\",\"amount\":12.5,\"n\":-3,\"ok\":true,\"z\":null,\"e\":1e5}",
		"{\"a\":\"h\xc3\xa9\",\"b\":false,\"c\":0.25}",
		"{}",
	};
	int bad = 0, accepted = 0, total = 0;

	for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
		size_t len = strlen(seeds[s]);

		for (int i = 0; i < 100000; i++) {
			char text[128];
			size_t n = len;
			int edits = 1 + (int)(rnd() % 3);

			memcpy(text, seeds[s], len);
			for (int e = 0; e < edits; e++) {
				size_t at = n ? rnd() % n : 0;
				char c = alphabet[rnd() % (sizeof(alphabet) - 1)];

				switch (rnd() % 4) {
				case 0: if (n) text[at] = c; break;
				case 1: if (n) { memmove(text + at, text + at + 1, n - at - 1); n--; } break;
				case 2: if (n < sizeof(text) - 1) { memmove(text + at + 1, text + at, n - at); text[at] = c; n++; } break;
				case 3: n = at; break;
				}
			}
			total++;
			switch (check(text, n)) {
			case -1: bad++; break;
			case 1: accepted++; break;
			}
		}
	}
	is_int(bad, 0, "%d mutated objects: never accepted unless jansson agrees", total);
	ok(accepted > 1000, "and the fast path still took %d of them", accepted);
}

int main(void)
{
	test_cases();
	test_numbers();
	test_mutations();
	rec_free(&fast);
	rec_free(&slow);
	return tap_done();
}
