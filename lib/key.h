/* key.h - the one key rule: what makes two records the same group in
 * rtai-window -k, the same key in --over and the same match in rtai-join
 * --on (rtai(7), "Keys").
 *
 * Keys are textual. A key field's identity is its text: a string as is,
 * an int in decimal, a float as the shortest text that reads back as the
 * same double (an integral float below 9e18 as an int: 42.0 is 42, since
 * JSON writers do not keep the difference), true/false, a time in ISO 8601
 * (val_text()), JSON as its text. So {"u":42}, {"u":"42"} and {"u":42.0}
 * are one key. A null or absent key field makes no key: the tool sends the
 * record through its error policy ("no key"). Each part is prefixed by its
 * length, so ("a:b", "c") and ("a", "b:c") differ. Peers: SQL GROUP BY
 * after a cast to text; Kafka and Redis keys, which are bytes.
 *
 * A key as built by key_part() is its identity: hash and compare its
 * bytes. A typed key (key_typed()) carries after its identity the type and
 * binary value of each field, so that a result can carry the key's values
 * as the first record of its group had them; its identity is the first
 * key_idlen() bytes.
 */
#ifndef RTAI_KEY_H
#define RTAI_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "rec.h"

/* Appends v's identity to key (one part: a length, one byte or 0xff and
 * four, then the text). Returns 0, or -1 for a null value (nothing is
 * appended: the record has no key). */
int key_part(struct buf *key, const struct val *v);

/* Appends the typed trailer of a key whose n parts were appended from
 * vals: per field its type and, for ints, floats and times, its 8 bytes;
 * then the trailer's length (u16). Strings and JSON are read back from
 * their parts. */
void key_typed(struct buf *key, const struct val *vals, size_t n);

/* The identity bytes of a typed key of klen bytes (0 when malformed). */
static inline size_t key_idlen(const uint8_t *key, size_t klen)
{
	size_t t;

	if (klen < 2)
		return 0;
	t = (size_t)key[klen - 2] | (size_t)key[klen - 1] << 8;
	return t + 2 <= klen ? klen - 2 - t : 0;
}

/* Decodes a typed key into up to n values (strings point into key).
 * Returns the number of fields, or -1 when malformed. */
int key_values(const uint8_t *key, size_t klen, struct val *vals, size_t n);

/* A 64-bit hash of n identity bytes (rec_hash with the key seed). */
uint64_t key_hash(const uint8_t *id, size_t n);

#endif
