/* fuzz_table.c - libFuzzer harness for join tables: keys, the fields a
 * join adds, and joined records.
 *
 * Input: byte 0 (bit 0: a prefix for added names; bit 1: add only fields
 * a and b; bit 2: a versioned table), a u16 length L, a binary row of L
 * bytes, then a binary record. Invariants besides memory safety: the
 * fields chosen from the row encode as a valid record; a joined record
 * decodes, holds the record's fields first and unchanged, then the added
 * ones under names the record does not have; a row stored under the
 * record's key is found again with the same bytes, and gone once deleted.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "rec.h"
#include "table.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static struct rec row, rec, joined, sel_rec;
static struct buf enc, out, key, tmp;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tab_sel sel = { 0 };
	struct tab_names on = { 0 };
	const uint8_t *rp, *pp;
	size_t rlen, plen, bad;
	uint32_t nf;
	char err[256];
	int added;

	if (size < 3)
		return 0;
	rlen = (size_t)(data[1] | data[2] << 8);
	if (rlen > size - 3)
		return 0;
	rp = data + 3;
	pp = rp + rlen;
	plen = size - 3 - rlen;
	rec_max_fields = 65535;
	if (rec_decode(&row, rp, rlen) < 0 || rec_decode(&rec, pp, plen) < 0)
		goto out;

	CHECK(tab_names_parse(&on, "user_id", err, sizeof(err)) == 0);
	CHECK(tab_names_parse(&sel.skip, "user_id", err, sizeof(err)) == 0);
	if (data[0] & 2)
		CHECK(tab_names_parse(&sel.fields, "a,b", err, sizeof(err)) == 0);
	if (data[0] & 1) {
		sel.prefix = "p_";
		sel.nprefix = 2;
	}
	buf_reset(&enc);
	buf_reserve(&enc, 1);	/* rtai-join passes a stored row: never NULL */
	err[0] = '\0';
	if (tab_sel_encode(&sel, &row, &enc, &nf, err, sizeof(err)) < 0) {
		CHECK(err[0] != '\0');
		goto out;
	}
	/* With its count in front, the chosen fields are a record. */
	buf_reset(&tmp);
	buf_putc(&tmp, (uint8_t)nf);
	buf_putc(&tmp, (uint8_t)(nf >> 8));
	buf_append(&tmp, enc.p, enc.len);
	CHECK(nf <= 65535 && rec_decode(&sel_rec, tmp.p, tmp.len) == 0 && sel_rec.n == nf);

	added = tab_join_into(&out, pp, plen, &rec, enc.p, enc.len, nf);
	if (added >= 0) {
		CHECK(rec_decode(&joined, out.p, out.len) == 0);
		CHECK(joined.n == rec.n + (uint32_t)added);
		for (uint32_t i = 0; i < rec.n; i++) {
			CHECK(joined.f[i].nlen == rec.f[i].nlen);
			CHECK(memcmp(joined.f[i].name, rec.f[i].name, rec.f[i].nlen) == 0);
			CHECK(joined.f[i].v.type == rec.f[i].v.type);
		}
		for (uint32_t i = rec.n; i < joined.n; i++)
			CHECK(rec_get(&rec, joined.f[i].name, joined.f[i].nlen) == NULL);
	}

	buf_reset(&key);
	if (tab_key(&on, &rec, &key, &bad) == TAB_KEY_OK) {
		struct tab t;
		const struct tab_ver *v;
		int64_t from = data[0] & 4 ? 1000 : TAB_NOW;

		tab_init(&t);
		tab_upsert(&t, key.p, key.len, from, enc.p, enc.len, nf);
		v = tab_find(&t, key.p, key.len, data[0] & 4 ? 2000 : TAB_NOW, 0);
		CHECK(v != NULL && v->nf == nf && v->len == enc.len);
		CHECK(enc.len == 0 || memcmp(v->enc, enc.p, enc.len) == 0);
		if (data[0] & 4)
			CHECK(tab_find(&t, key.p, key.len, 999, 0) == NULL);
		CHECK(tab_delete(&t, key.p, key.len, data[0] & 4 ? 1500 : TAB_NOW) == 1);
		CHECK(tab_find(&t, key.p, key.len, data[0] & 4 ? 2000 : TAB_NOW, 0) == NULL);
		tab_free(&t);
	}
out:
	tab_names_free(&on);
	tab_names_free(&sel.skip);
	tab_names_free(&sel.fields);
	rec_reset(&row);
	rec_reset(&rec);
	rec_reset(&joined);
	rec_reset(&sel_rec);
	return 0;
}
