/* fuzz_resp.c - libFuzzer harness for Redis commands (RESP).
 *
 * The input, split at 0xff bytes, is the arguments of one command. It is
 * encoded with resp_array()/resp_bulk(); resp_print() must use exactly the
 * encoded bytes, and its text, read as redis-cli reads a line
 * (sdssplitargs), must give back the same arguments: no byte of an
 * argument (space, quote, CR LF) can split it or start another command.
 * The input is also given to resp_print() as it is, as hostile RESP.
 */
#include "config.h"

#include <hiredis/sds.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "resp.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static struct buf cmd, text;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p, *end = data + size, *sep;
	size_t nargs = 1;
	sds *argv;
	int argc;

	buf_reset(&text);
	CHECK(resp_print(&text, data, size) <= size);

	for (p = data; (p = memchr(p, 0xff, (size_t)(end - p))) != NULL; p++)
		nargs++;
	buf_reset(&cmd);
	resp_array(&cmd, nargs);
	for (p = data;; p = sep + 1) {
		sep = memchr(p, 0xff, (size_t)(end - p));
		resp_bulk(&cmd, p, (size_t)((sep != NULL ? sep : end) - p));
		if (sep == NULL)
			break;
	}
	buf_reset(&text);
	CHECK(resp_print(&text, cmd.p, cmd.len) == cmd.len);
	buf_putc(&text, '\0');
	argv = sdssplitargs((const char *)text.p, &argc);
	CHECK(argv != NULL);
	CHECK((size_t)argc == nargs);
	p = data;
	for (int i = 0; i < argc; i++) {
		size_t n;

		sep = memchr(p, 0xff, (size_t)(end - p));
		n = (size_t)((sep != NULL ? sep : end) - p);
		CHECK(sdslen(argv[i]) == n && (n == 0 || memcmp(argv[i], p, n) == 0));
		p = sep != NULL ? sep + 1 : end;
	}
	sdsfreesplitres(argv, argc);
	return 0;
}
