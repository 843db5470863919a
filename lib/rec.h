/* rec.h - typed records and their compact binary encoding.
 *
 * Encoding (payload encoding 3 of a frame, see rtai-record(5)):
 *   u16 nfields, then per field:
 *   u8 type, u8 name length, name bytes, value
 * Values by type: null and bools have no bytes (the type says it all);
 * int, float and time are 8 bytes little-endian (int64, IEEE double,
 * int64 ns since the epoch); string, json and bytes are u32 length +
 * bytes (json carries nested objects and arrays as compact JSON text;
 * bytes are binary: Kafka keys, Avro bytes and fixed, Parquet BYTE_ARRAY).
 *
 * A decoded record borrows: field names and string values point into the
 * payload, which must outlive the record. Fields added by a tool point
 * wherever the tool says; rec_strdup() copies into the record's arena,
 * which lives until rec_reset().
 */
#ifndef RTAI_REC_H
#define RTAI_REC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"

enum val_type {
	RT_NULL = 0,
	RT_FALSE = 1,
	RT_TRUE = 2,
	RT_INT = 3,
	RT_FLOAT = 4,
	RT_STR = 5,
	RT_TIME = 6,
	RT_JSON = 7,
	RT_BYTES = 8,		/* stream version 2 (rtai-record(5)) */
};

struct val {
	uint8_t type;		/* enum val_type */
	union {
		int64_t i;	/* RT_INT, RT_TIME (ns) */
		double f;	/* RT_FLOAT */
		struct {
			const char *p;
			uint32_t n;
		} s;		/* RT_STR, RT_JSON, RT_BYTES: not NUL-terminated */
	};
};

struct rec_field {
	const char *name;	/* not NUL-terminated */
	uint8_t nlen;
	struct val v;
};

struct rec {
	struct rec_field *f;	/* fields in order */
	uint32_t n, cap;
	struct arena a;		/* copies owned by the record */
	void *json;		/* a json_t the fields borrow from, or NULL */
	char err[200];		/* the last error, for messages */
};

/* Fields per record that a hostile stream cannot exceed: decoding a
 * record with more fails (rec_decode, rec_from_json). Default 4096. */
extern uint32_t rec_max_fields;
/* Applies RTAI_MAX_FIELDS from the environment, then an option's value
 * (--max-fields; NULL for none), so the option wins. Exits 2 when a value
 * is not an integer in 1..65535. */
void rec_set_max_fields(const char *opt_value);

/* Empties the record, keeping its memory for the next one. */
void rec_reset(struct rec *r);
/* Frees everything. Accepts NULL. */
void rec_free(struct rec *r);

/* Decodes a binary payload, replacing the record's fields. Returns 0, or
 * -1 with r->err describing the fault ("field 3: truncated string"). */
int rec_decode(struct rec *r, const uint8_t *p, size_t n);
/* Appends the encoding of r to out. */
void rec_encode(const struct rec *r, struct buf *out);

/* The field called name, or NULL. Linear: records are small. */
struct rec_field *rec_get(const struct rec *r, const char *name, size_t nlen);
static inline struct rec_field *rec_getz(const struct rec *r, const char *name)
{
	return rec_get(r, name, strlen(name));
}
/* Appends a field (no check for an existing one); returns it. */
struct rec_field *rec_add(struct rec *r, const char *name, size_t nlen,
			   struct val v);
/* Replaces the value of the field called name, or appends it. */
struct rec_field *rec_set(struct rec *r, const char *name, size_t nlen,
			   struct val v);
/* Removes the field at index i, keeping the order of the others. */
void rec_del(struct rec *r, uint32_t i);
/* Copies n bytes into the record's arena; the copy lives until rec_reset. */
const char *rec_strdup(struct rec *r, const char *p, size_t n);

/* Value constructors. */
static inline struct val val_null(void) { return (struct val){ .type = RT_NULL }; }
static inline struct val val_bool(int b) { return (struct val){ .type = b ? RT_TRUE : RT_FALSE }; }
static inline struct val val_int(int64_t i) { return (struct val){ .type = RT_INT, .i = i }; }
static inline struct val val_float(double f) { return (struct val){ .type = RT_FLOAT, .f = f }; }
static inline struct val val_time(int64_t t) { return (struct val){ .type = RT_TIME, .i = t }; }
static inline struct val val_str(const char *p, size_t n)
{
	return (struct val){ .type = RT_STR, .s = { p, (uint32_t)n } };
}
static inline struct val val_bytes(const void *p, size_t n)
{
	return (struct val){ .type = RT_BYTES, .s = { p, (uint32_t)n } };
}
/* A value whose bytes follow its u32 length in the encoding. */
static inline int rt_has_bytes(int type)
{
	return type == RT_STR || type == RT_JSON || type == RT_BYTES;
}

/* "null", "bool", "int", "float", "string", "time", "json", "bytes". */
const char *rt_type_name(int type);
/* The value as a double when it is a number (int, float, time in ns);
 * returns 0 and stores it, -1 otherwise. */
int val_number(const struct val *v, double *out);
/* Two values equal (same type and contents; int 1 and float 1.0 differ). */
int val_equal(const struct val *a, const struct val *b);
/* Total order for sorting and min/max: null, false, true, then numbers
 * by value across int, float and time (exactly; NaN after every number),
 * then strings bytewise, then json bytewise, then bytes bytewise. */
int val_cmp(const struct val *a, const struct val *b);
/* Appends the value as text for keys and templates: strings as is, numbers
 * as JSON would print them, times as ISO 8601, bools as true/false, bytes
 * raw (rtai(7) "Keys"). */
void val_text(const struct val *v, struct buf *out);
/* Bytes rec_fmt_double() may write, with its NUL. */
#define RTAI_DBL_BUFSZ 32
/* Writes finite d into tmp (RTAI_DBL_BUFSZ bytes) as the shortest text
 * that reads back (strtod) as the same double, as JavaScript's and
 * Python's repr do (ECMA-262 Number::toString: fewest significant
 * digits): 627.42, 0.1, 1e-07, 9.223372036854776e+18. An integral float
 * keeps a ".0" ("3.0", "-0.0"; "1e+16" reads as a float already), so it
 * reads back as a float. Returns its length; NaN and infinities write
 * nothing and return 0 (JSON has no text for them: callers write null). */
int rec_fmt_double(double d, char *tmp);
/* Appends d to out as rec_fmt_double() writes it, or "null" when d is
 * NaN or infinite: a number in JSON, in Prometheus and in Redis values. */
void json_put_double(struct buf *out, double d);
/* A hash of the value's type class and contents (ints and floats with equal
 * value hash alike only if both are integral). */
uint64_t val_hash(const struct val *v, uint64_t seed);
/* 64-bit hash of bytes (FNV-1a style mixing, fast and good enough for
 * tables keyed by short strings). */
uint64_t rec_hash(const void *p, size_t n, uint64_t seed);

/* ---- JSON ---------------------------------------------------------- */

/* Parses JSON text that must be an object into r (replacing its fields).
 * Nested objects and arrays become RT_JSON fields. Duplicate keys are an
 * error. An integer beyond int64 (9223372036854775808) reads as a float,
 * the nearest double, as JavaScript and jq read it. Returns 0, or -1 with r->err set ("line 1 column 7: ..."). */
int rec_from_json(struct rec *r, const char *text, size_t n);
/* The same from a parsed jansson value (a json_t *, void * here so that
 * this header does not need jansson.h): r takes a reference to it, and its
 * string fields borrow from it until rec_reset(). */
int rec_from_jansson(struct rec *r, void *obj);
/* Fills r from a frame's payload whatever its encoding (binary record,
 * JSON text, or raw bytes holding JSON). Same contract. */
struct frame;
int rec_from_frame(struct rec *r, const struct frame *f);
/* Appends r as one line of compact JSON (no newline). Times print as ISO
 * 8601 strings, floats keep a decimal point, bytes as base64 strings (RFC
 * 4648, padded), invalid UTF-8 in strings is replaced by U+FFFD so the
 * output is always valid JSON. */
void rec_to_json(const struct rec *r, struct buf *out);
/* Appends one value as JSON. */
void val_to_json(const struct val *v, struct buf *out);
/* Appends s as a JSON string literal, quotes included. */
void json_put_str(struct buf *out, const char *s, size_t n);
/* Checks that text is one JSON value (RFC 8259, UTF-8) that jansson can
 * read back as a field's value: integers within int64, finite reals,
 * nesting at most 2047 deep, no lone surrogates. Returns 0, or -1 with
 * *why set to a static reason ("invalid escape in a string"). rec_decode()
 * checks json fields with it, so rec_to_json() always writes JSON. */
int rec_json_check(const char *text, size_t n, const char **why);

#endif
