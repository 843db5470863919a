/* fuzz_debezium.c - libFuzzer harness for the Debezium unwrapper.
 *
 * Byte 0 bit 0 sets strict mode; the rest is one change event as JSON
 * text. Invariants besides memory safety: a parsed event has a known kind,
 * and its rows print as JSON that jansson reads back; a failure says why;
 * the same text read first as a record goes through dbz_from_rec().
 */
#include "config.h"

#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "debezium.h"
#include "rec.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static struct dbz_event ev;
static struct rec rec;
static struct buf js;

static void printable(const struct rec *r)
{
	json_t *j;

	buf_reset(&js);
	rec_to_json(r, &js);
	j = json_loadb((const char *)js.p, js.len, JSON_ALLOW_NUL, NULL);
	CHECK(j != NULL);
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text;
	size_t n;

	if (size < 1)
		return 0;
	text = (const char *)data + 1;
	n = size - 1;
	ev.err[0] = '\0';
	if (dbz_parse(&ev, text, n, data[0] & 1) == 0) {
		CHECK(ev.kind >= DBZ_ROW && ev.kind <= DBZ_TRUNCATE);
		CHECK(dbz_kind_name(ev.kind) != NULL);
		printable(&ev.row);
		if (ev.has_before)
			printable(&ev.before);
		if (ev.has_key)
			printable(&ev.key);
		CHECK(!ev.has_key || ev.has_before);
	} else {
		CHECK(ev.err[0] != '\0');
	}
	/* The same text as a message key apart from its value. */
	ev.err[0] = '\0';
	if (dbz_key(&ev, text, n) == 0) {
		CHECK(ev.has_key);
		printable(&ev.key);
	} else {
		CHECK(!ev.has_key && ev.key.n == 0 && ev.err[0] != '\0');
	}
	if (rec_from_json(&rec, text, n) == 0) {
		ev.err[0] = '\0';
		if (dbz_from_rec(&ev, &rec) == 0)
			printable(&ev.row);
		else
			CHECK(ev.err[0] != '\0');
	}
	rec_reset(&rec);
	return 0;
}
