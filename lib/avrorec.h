/* avrorec.h - Avro values into typed records, on libavro.
 *
 * Decodes Avro binary (Avro 1.11 specification, "Binary Encoding") with
 * libavro's generic values, then walks each value beside a plan compiled
 * from the schema's JSON, since libavro's C schemas drop logical types
 * (specification, "Logical Types"). A value that is an Avro record becomes
 * a record of rec.h; its fields map as rtai-parse(1) --format avro says:
 *
 *   null -> null; boolean -> bool; int, long -> int; float, double -> float;
 *   string, enum -> string; bytes, fixed -> bytes;
 *   union -> the value of its branch (null for the null branch);
 *   record, array, map -> json (nested JSON text; bytes inside as base64,
 *     times as ISO 8601 strings);
 *   long timestamp-millis, timestamp-micros (and local-timestamp-*) -> time;
 *   int date -> time (midnight UTC of the day);
 *   bytes or fixed decimal(precision, scale) -> string holding the exact
 *     decimal number ("-12.34"), up to 16 bytes of unscaled value.
 *
 * Schemas come from the caller by id (the Confluent wire format's schema
 * id: a zero byte, a big-endian u32 id, then the Avro binary: Confluent
 * Schema Registry documentation, "Wire format"); each id's schema is
 * compiled once and kept. An optional reader schema projects every decoded
 * record onto its top-level fields: a field the writer lacks takes the
 * reader's default (specification, "Schema Resolution"), a field the reader
 * lacks is dropped. libavro's resolved writer refuses added fields with
 * defaults, hence this.
 */
#ifndef RTAI_AVROREC_H
#define RTAI_AVROREC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "rec.h"

struct avrorec;

/* A new decoder. reader_schema: the JSON text of a reader schema (a
 * record) for projection, or NULL. Returns NULL with *err (a static or
 * thread-unsafe buffer) set when the reader schema is not a valid Avro
 * record schema. Free with avrorec_free(). */
struct avrorec *avrorec_new(const char *reader_schema, size_t len, const char **err);
/* Frees the decoder and every schema it holds. Accepts NULL. */
void avrorec_free(struct avrorec *a);

/* Adds the writer schema for id (JSON text, not kept). Returns 0, or -1
 * with avrorec_error() saying why ("not valid Avro: ..."); an id added
 * twice keeps the first schema. */
int avrorec_add_schema(struct avrorec *a, int64_t id, const char *json, size_t len);
/* Remembers that id has no schema (why is copied), so a caller that looks
 * schemas up (a registry) asks once: avrorec_decode() then fails with why. */
void avrorec_add_missing(struct avrorec *a, int64_t id, const char *why);
/* 1 when id has a schema or is known to be missing, 0 when it was never
 * added. */
int avrorec_known(const struct avrorec *a, int64_t id);

/* Decodes one Avro binary datum p[0..n) written with the schema of id into
 * r (replacing its fields). Strings and bytes borrow from the decoder's
 * value and nested JSON lives in r's arena: both stay valid until the next
 * call or rec_reset(r). Returns 0, or -1 with avrorec_error() set: an
 * unknown id, truncated or invalid data, trailing bytes after the value
 * (the re-encoded size differs from n), a value that is not a record (the
 * schema's top-level type), a decimal too wide, a time out of range. */
int avrorec_decode(struct avrorec *a, int64_t id, const uint8_t *p, size_t n,
		   struct rec *r);

/* Decodes one datum p[0..n) of schema id, of any top-level type (a Kafka
 * message key is often a plain string or long), into *out, mapped as the
 * fields of a record are (the table above): a record, array or map
 * becomes json. Everything *out points to is copied into r's arena, so it
 * stays valid until rec_reset(r), whatever is decoded next. Returns 0, or
 * -1 with avrorec_error() set, for the reasons avrorec_decode() gives
 * except "not a record". The reader schema does not apply. */
int avrorec_decode_value(struct avrorec *a, int64_t id, const uint8_t *p, size_t n,
			 struct rec *r, struct val *out);

/* The last error, for messages. */
const char *avrorec_error(const struct avrorec *a);

/* The Confluent wire format's header: returns the schema id of payload
 * p[0..n) and sets *body to the Avro bytes after it, or -1 when p does not
 * start with the magic byte 0 and four id bytes. */
int64_t avro_confluent_id(const uint8_t *p, size_t n, const uint8_t **body);

#endif
