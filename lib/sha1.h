/* sha1.h - SHA-1 of a byte string, as Redis names scripts (EVALSHA).
 * Not for security: Redis identifies a cached Lua script by the SHA-1 of
 * its text, and a tool that computes it can send EVALSHA without asking. */
#ifndef RTAI_SHA1_H
#define RTAI_SHA1_H

#include <stddef.h>

/* Writes the SHA-1 of p[0..n) as 40 lowercase hex digits and a NUL into
 * hex (41 bytes). */
void sha1_hex(const void *p, size_t n, char hex[41]);

#endif
