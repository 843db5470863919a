/* resp.h - Redis commands in the Redis protocol (RESP), built and printed.
 *
 * A command is an array of bulk strings, each sent with its length, so a
 * key or value holding spaces, CR LF or any byte is one argument and can
 * never start a second command. The bytes are those redisFormatCommandArgv
 * makes, appended to a reused buf so that a tool encoding a command per
 * record allocates nothing in the steady state:
 *
 *	resp_array(&b, 3);
 *	resp_bulk(&b, "SET", 3);
 *	resp_bulk(&b, key, klen);
 *	resp_bulk(&b, val, vlen);
 */
#ifndef RTAI_RESP_H
#define RTAI_RESP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Appends "*n\r\n": a command of n arguments follows. */
void resp_array(struct buf *b, size_t n);
/* Appends one argument: "$len\r\n", the bytes, "\r\n". */
void resp_bulk(struct buf *b, const void *p, size_t n);
static inline void resp_bulkz(struct buf *b, const char *s)
{
	size_t n = 0;

	while (s[n] != '\0')
		n++;
	resp_bulk(b, s, n);
}

/* Appends the command encoded at p (n bytes, as resp_array() and
 * resp_bulk() make it) in the form redis-cli reads and prints: arguments
 * separated by spaces, each bare when it is printable without spaces,
 * quotes or backslashes, else in double quotes with \n, \r, \t, \", \\ and
 * \xHH escapes. Returns the bytes of p it used, or 0 when p does not
 * start with a whole command. */
size_t resp_print(struct buf *out, const uint8_t *p, size_t n);

/* Appends one argument as resp_print() shows it. */
void resp_repr(struct buf *out, const void *p, size_t n);

#endif
