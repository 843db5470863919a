/* thrift.h - a writer for the Thrift compact protocol, enough for Parquet's
 * footer and page headers (parquet.thrift; the encoding is Apache Thrift's
 * "Thrift Compact protocol encoding" spec, doc/specs/thrift-compact-protocol.md).
 *
 * Fields are written in increasing id order inside a struct; the writer
 * keeps the last field id of each open struct to encode ids as deltas.
 * Everything is appended to a struct buf, which never fails (it aborts on
 * out-of-memory), so no function here returns an error.
 *
 *   struct tc t = { .b = &out };
 *   tc_i32(&t, 1, 1);             field 1: i32 1
 *   tc_struct_begin(&t, 2);       field 2: a struct...
 *   tc_bin(&t, 1, "x", 1);        ...whose field 1 is binary "x"
 *   tc_struct_end(&t);
 *   tc_stop(&t);                  ends the outermost struct
 */
#ifndef RTAI_THRIFT_H
#define RTAI_THRIFT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"

/* Compact protocol type codes (field headers and list element types). */
enum tc_type {
	TC_TRUE = 1, TC_FALSE = 2, TC_BYTE = 3, TC_I16 = 4, TC_I32 = 5,
	TC_I64 = 6, TC_DOUBLE = 7, TC_BINARY = 8, TC_LIST = 9, TC_SET = 10,
	TC_MAP = 11, TC_STRUCT = 12,
};

#define TC_MAX_DEPTH 16

struct tc {
	struct buf *b;			/* where bytes go; set by the caller */
	int16_t last[TC_MAX_DEPTH];	/* last field id per open struct */
	int depth;			/* open structs, the outermost being 0 */
};

/* Appends an unsigned LEB128 varint / a zigzag-encoded signed one. */
void tc_uvarint(struct buf *b, uint64_t v);
void tc_varint(struct buf *b, int64_t v);

/* A field header: the id as a delta from the previous field when it is
 * 1..15 ahead, else the type byte and the id as a zigzag varint. */
void tc_field(struct tc *t, int16_t id, enum tc_type type);
/* Scalar fields. */
void tc_bool(struct tc *t, int16_t id, int v);
void tc_i32(struct tc *t, int16_t id, int32_t v);
void tc_i64(struct tc *t, int16_t id, int64_t v);
void tc_bin(struct tc *t, int16_t id, const void *p, size_t n);
static inline void tc_str(struct tc *t, int16_t id, const char *s)
{
	tc_bin(t, id, s, strlen(s));
}
/* A list field of n elements of type elem; then append each element:
 * tc_list_i32() for i32 elements, tc_list_bin() for binary ones, or
 * tc_elem_struct_begin()/tc_struct_end() for structs. */
void tc_list(struct tc *t, int16_t id, enum tc_type elem, size_t n);
void tc_list_i32(struct tc *t, int32_t v);
void tc_list_bin(struct tc *t, const void *p, size_t n);
/* A struct field (or a union: a struct with one field set). */
void tc_struct_begin(struct tc *t, int16_t id);
/* A struct as a list element: no field header. */
void tc_elem_struct_begin(struct tc *t);
/* Ends the innermost open struct with a stop byte. */
void tc_struct_end(struct tc *t);
/* Ends the outermost struct (a stop byte at depth 0). */
void tc_stop(struct tc *t);

#endif
