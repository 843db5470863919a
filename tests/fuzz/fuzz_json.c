/* fuzz_json.c - libFuzzer harness for JSON text to record.
 *
 * Invariants besides memory safety: text that parses prints as JSON that
 * parses again into the same record (same fields, names, types and
 * values), and prints the same the second time; the binary encoding of
 * the record decodes to the same JSON. And the checker of json fields,
 * rec_json_check(), accepts nothing that jansson would refuse as the
 * value of a field.
 */
#include "config.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "rec.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static struct rec rec, again, bin;
static struct buf js1, js2, enc;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the checker accepts, jansson reads as the element of an array. */
static void differential(const uint8_t *data, size_t size)
{
	const char *why;
	json_error_t e;
	json_t *j;
	char *arr;

	if (rec_json_check((const char *)data, size, &why) < 0)
		return;
	arr = malloc(size + 2);
	CHECK(arr != NULL);
	arr[0] = '[';
	memcpy(arr + 1, data, size);
	arr[size + 1] = ']';
	j = json_loadb(arr, size + 2, JSON_ALLOW_NUL, &e);
	CHECK(j != NULL);
	json_decref(j);
	free(arr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	differential(data, size);
	if (rec_from_json(&rec, (const char *)data, size) < 0) {
		CHECK(rec.err[0] != '\0');
		rec_reset(&rec);
		return 0;
	}
	buf_reset(&js1);
	rec_to_json(&rec, &js1);
	CHECK(rec_from_json(&again, (const char *)js1.p, js1.len) == 0);
	CHECK(again.n == rec.n);
	for (uint32_t i = 0; i < rec.n; i++) {
		CHECK(again.f[i].nlen == rec.f[i].nlen);
		CHECK(memcmp(again.f[i].name, rec.f[i].name, rec.f[i].nlen) == 0);
		CHECK(val_equal(&again.f[i].v, &rec.f[i].v));
	}
	buf_reset(&js2);
	rec_to_json(&again, &js2);
	CHECK(js2.len == js1.len && memcmp(js2.p, js1.p, js1.len) == 0);

	buf_reset(&enc);
	rec_encode(&rec, &enc);
	CHECK(rec_decode(&bin, enc.p, enc.len) == 0);
	buf_reset(&js2);
	rec_to_json(&bin, &js2);
	CHECK(js2.len == js1.len && memcmp(js2.p, js1.p, js1.len) == 0);
	rec_reset(&rec);
	rec_reset(&again);
	rec_reset(&bin);
	return 0;
}
