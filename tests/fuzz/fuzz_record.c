/* fuzz_record.c - libFuzzer harness for the binary record decoder.
 *
 * The input is a record payload as a frame carries it. Invariants besides
 * memory safety: a payload that decodes encodes back to the same bytes
 * (the encoding is canonical); its JSON form is valid JSON that jansson
 * reads back, with as many fields; every field can be printed, compared
 * and hashed; val_cmp() is a total order on the values (antisymmetric and
 * transitive: qsort relies on it).
 */
#include "config.h"

#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "rec.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static struct rec rec;

static int sign(int c) { return (c > 0) - (c < 0); }

/* val_cmp() must order the fields' values totally. */
static void check_order(const struct rec *r)
{
	uint32_t n = r->n < 12 ? r->n : 12;

	for (uint32_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < n; j++) {
			int ij = sign(val_cmp(&r->f[i].v, &r->f[j].v));

			CHECK(ij == -sign(val_cmp(&r->f[j].v, &r->f[i].v)));
			for (uint32_t k = 0; k < n; k++) {
				int jk = sign(val_cmp(&r->f[j].v, &r->f[k].v));
				int ik = sign(val_cmp(&r->f[i].v, &r->f[k].v));

				if (ij <= 0 && jk <= 0)
					CHECK(ik <= 0 && (ik < 0 || (ij == 0 && jk == 0)));
			}
		}
}
static struct buf enc, js, txt;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t e;
	json_t *back;

	rec_max_fields = size > 0 && data[0] == 0xff ? 8 : 4096;
	if (rec_decode(&rec, data, size) < 0) {
		CHECK(rec.n == 0);
		CHECK(rec.err[0] != '\0');
		return 0;
	}
	CHECK(rec.n <= rec_max_fields);
	buf_reset(&enc);
	rec_encode(&rec, &enc);
	CHECK(enc.len == size && (size == 0 || memcmp(enc.p, data, size) == 0));

	buf_reset(&js);
	rec_to_json(&rec, &js);
	back = json_loadb((const char *)js.p, js.len, JSON_ALLOW_NUL, &e);
	CHECK(back != NULL);
	CHECK(json_is_object(back));
	json_decref(back);

	for (uint32_t i = 0; i < rec.n; i++) {
		double d;

		buf_reset(&txt);
		val_text(&rec.f[i].v, &txt);
		(void)val_number(&rec.f[i].v, &d);
		(void)val_hash(&rec.f[i].v, i);
		CHECK(val_cmp(&rec.f[i].v, &rec.f[i].v) == 0);
		CHECK(rec.f[i].v.type == RT_FLOAT || val_equal(&rec.f[i].v, &rec.f[i].v));
		CHECK(rec_get(&rec, rec.f[i].name, rec.f[i].nlen) != NULL);
	}
	check_order(&rec);
	rec_reset(&rec);
	return 0;
}
