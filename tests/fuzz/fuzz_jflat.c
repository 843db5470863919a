/* fuzz_jflat.c - libFuzzer harness for the fast path of JSON to record.
 *
 * jflat promises to agree with rec_from_json(), the parser of record:
 * whatever it accepts, rec_from_json() accepts with the same fields,
 * types and values; and jflat_rec_from_json() succeeds exactly when
 * rec_from_json() does, with the same record.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "jflat.h"
#include "rec.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static struct rec fast, slow, both;

static void same(const struct rec *a, const struct rec *b)
{
	CHECK(a->n == b->n);
	for (uint32_t i = 0; i < a->n; i++) {
		CHECK(a->f[i].nlen == b->f[i].nlen);
		CHECK(memcmp(a->f[i].name, b->f[i].name, a->f[i].nlen) == 0);
		CHECK(val_equal(&a->f[i].v, &b->f[i].v));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	int fast_ok, slow_ok, both_ok;

	rec_max_fields = size > 0 && data[size - 1] == ' ' ? 3 : 4096;
	fast_ok = jflat_parse(&fast, text, size) == 0;
	slow_ok = rec_from_json(&slow, text, size) == 0;
	both_ok = jflat_rec_from_json(&both, text, size) == 0;
	CHECK(both_ok == slow_ok);
	if (fast_ok) {
		CHECK(slow_ok);
		same(&fast, &slow);
	} else {
		CHECK(fast.n == 0);
	}
	if (slow_ok)
		same(&both, &slow);
	rec_reset(&fast);
	rec_reset(&slow);
	rec_reset(&both);
	return 0;
}
