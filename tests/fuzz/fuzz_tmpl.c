/* fuzz_tmpl.c - libFuzzer harness for key templates.
 *
 * Input: the template, a newline, then a JSON object as the record to
 * render. Invariants besides memory safety: a template without
 * placeholders renders as its text with "{{" and "}}" undone; a failed
 * compile or render says why.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "rec.h"
#include "tmpl.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static struct rec rec;
static struct buf out;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t tlen = nl != NULL ? (size_t)(nl - data) : size;
	char *text, err[256];
	struct tmpl t;

	if (memchr(data, '\0', tlen) != NULL)
		return 0;	/* templates come from argv: NUL-terminated */
	text = malloc(tlen + 1);
	CHECK(text != NULL);
	memcpy(text, data, tlen);
	text[tlen] = '\0';
	if (nl != NULL)
		(void)rec_from_json(&rec, (const char *)nl + 1, size - tlen - 1);
	err[0] = '\0';
	if (tmpl_compile(&t, text, err, sizeof(err)) < 0) {
		CHECK(err[0] != '\0');
	} else {
		buf_reset(&out);
		err[0] = '\0';
		if (tmpl_render(&t, &rec, &out, err, sizeof(err)) < 0) {
			CHECK(err[0] != '\0');
		} else if (t.nfields == 0) {
			CHECK(out.len == strlen(t.text));
			CHECK(out.len == 0 || memcmp(out.p, t.text, out.len) == 0);
		}
		tmpl_free(&t);
	}
	free(text);
	rec_reset(&rec);
	return 0;
}
