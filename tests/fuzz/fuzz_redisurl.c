/* fuzz_redisurl.c - libFuzzer harness for Redis URLs.
 *
 * Input: a password, a 0xff byte, then the rest of a URL. The harness
 * builds "redis://:PASSWORD@REST" (or unix://, by byte 0 of the rest) and
 * parses it. A password never appears in a message: not in the error of a
 * failed parse, not in the URL shown for a parsed one, and rurl_mask()
 * leaves no trace of it in its copy. Checked when the password is long
 * enough to be told apart from the rest of the URL.
 */
#define _GNU_SOURCE	/* memmem */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "redisurl.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *sep = memchr(data, 0xff, size);
	size_t plen, rlen;
	char *url, *pw, *shown, err[512];
	struct buf b = { 0 };
	struct rurl u;
	int watch;

	if (sep == NULL || memchr(data, '\0', size) != NULL)
		return 0;
	plen = (size_t)(sep - data);
	rlen = size - plen - 1;
	pw = xstrndup((const char *)data, plen);
	buf_puts(&b, rlen > 0 && sep[1] == 'u' ? "unix://:" : "redis://:");
	buf_append(&b, data, plen);
	buf_putc(&b, '@');
	buf_append(&b, sep + 1, rlen);
	buf_putc(&b, '\0');
	url = (char *)b.p;
	/* A password that also occurs in the rest could be seen there; one
	 * with quotes or brackets could be made of a message's own quoting. */
	watch = plen >= 6 && strpbrk(pw, "@/%*:?#'\"[]") == NULL &&
		memmem(sep + 1, rlen, pw, plen) == NULL;

	err[0] = '\0';
	if (rurl_parse(&u, url, err, sizeof(err)) == 0) {
		CHECK(u.shown != NULL);
		if (watch)
			CHECK(strstr(u.shown, pw) == NULL);
		rurl_free(&u);
	} else {
		CHECK(err[0] != '\0');
		if (watch)
			CHECK(strstr(err, pw) == NULL);
	}
	shown = rurl_mask(url);
	if (watch)
		CHECK(strstr(shown, pw) == NULL);
	free(shown);
	buf_free(&b);
	free(pw);
	return 0;
}
