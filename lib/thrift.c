/* thrift.c - the Thrift compact protocol writer (thrift.h). */
#include "config.h"

#include <stdlib.h>

#include "thrift.h"

void tc_uvarint(struct buf *b, uint64_t v)
{
	while (v >= 0x80) {
		buf_putc(b, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	buf_putc(b, (uint8_t)v);
}

void tc_varint(struct buf *b, int64_t v)
{
	tc_uvarint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void tc_field(struct tc *t, int16_t id, enum tc_type type)
{
	int delta = id - t->last[t->depth];

	if (delta > 0 && delta <= 15) {
		buf_putc(t->b, (uint8_t)(delta << 4 | type));
	} else {
		buf_putc(t->b, (uint8_t)type);
		tc_varint(t->b, id);
	}
	t->last[t->depth] = id;
}

void tc_bool(struct tc *t, int16_t id, int v)
{
	tc_field(t, id, v ? TC_TRUE : TC_FALSE);
}

void tc_i32(struct tc *t, int16_t id, int32_t v)
{
	tc_field(t, id, TC_I32);
	tc_varint(t->b, v);
}

void tc_i64(struct tc *t, int16_t id, int64_t v)
{
	tc_field(t, id, TC_I64);
	tc_varint(t->b, v);
}

void tc_bin(struct tc *t, int16_t id, const void *p, size_t n)
{
	tc_field(t, id, TC_BINARY);
	tc_list_bin(t, p, n);
}

void tc_list(struct tc *t, int16_t id, enum tc_type elem, size_t n)
{
	tc_field(t, id, TC_LIST);
	if (n < 15) {
		buf_putc(t->b, (uint8_t)(n << 4 | elem));
	} else {
		buf_putc(t->b, (uint8_t)(0xf0 | elem));
		tc_uvarint(t->b, n);
	}
}

void tc_list_i32(struct tc *t, int32_t v)
{
	tc_varint(t->b, v);
}

void tc_list_bin(struct tc *t, const void *p, size_t n)
{
	tc_uvarint(t->b, n);
	buf_append(t->b, p, n);
}

static void push(struct tc *t)
{
	if (t->depth + 1 >= TC_MAX_DEPTH)
		abort();	/* a programming error: Parquet nests 4 deep */
	t->last[++t->depth] = 0;
}

void tc_struct_begin(struct tc *t, int16_t id)
{
	tc_field(t, id, TC_STRUCT);
	push(t);
}

void tc_elem_struct_begin(struct tc *t)
{
	push(t);
}

void tc_struct_end(struct tc *t)
{
	buf_putc(t->b, 0);
	if (t->depth > 0)
		t->depth--;
}

void tc_stop(struct tc *t)
{
	buf_putc(t->b, 0);
}
