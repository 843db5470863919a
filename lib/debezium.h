/* debezium.h - change events: Debezium envelopes, tombstones and plain
 * rows, read as upserts and deletes of table rows.
 *
 * Shapes understood in JSON text (dbz_parse), tried in this order:
 *   null, or empty text           a tombstone without a key: nothing to do
 *   {"schema":..., "payload":P}   the converter's wrapper; P is an envelope,
 *                                 or null (a tombstone)
 *   {"op":..., "before":..., "after":..., "source":{"ts_ms":...}, ...}
 *                                 an envelope: op c, r (snapshot) and u upsert
 *                                 `after`, d deletes `before`, t truncates
 *   {"topic":..., "key":K, "payload" or "value":V, ...}
 *                                 a Kafka message as kcat -J prints it: V is
 *                                 one of the above (or JSON text of one);
 *                                 V null is a tombstone deleting key K
 *   any other object              a plain row (an upsert), or, with an
 *                                 "_op" field as rtai-parse --debezium
 *                                 writes, a change of that kind
 * The change time is source.ts_ms, else the envelope's ts_ms, else the
 * Kafka message's ts or timestamp (all milliseconds).
 */
#ifndef RTAI_DEBEZIUM_H
#define RTAI_DEBEZIUM_H

#include <stdint.h>

#include "rec.h"

enum dbz_kind {
	DBZ_ROW,	/* a plain row: upsert it */
	DBZ_UPSERT,	/* op c, r or u: upsert row (the after image) */
	DBZ_DELETE,	/* op d, or a keyed tombstone: delete row's key */
	DBZ_TOMBSTONE,	/* a tombstone without a key: nothing to do */
	DBZ_TRUNCATE,	/* op t: every row goes */
};

struct dbz_event {
	enum dbz_kind kind;
	char op;		/* 'c', 'r', 'u', 'd', 't', or 0 (row, tombstone) */
	struct rec row;	/* the row: after, or before / the key to delete */
	struct rec before;	/* op u: the before image, when the event has one */
	int has_before;
	struct rec key;	/* op u with a before image, in a Kafka message
				 * (kcat -J) whose key is a JSON object: the
				 * message key, naming the primary-key fields */
	int has_key;
	int64_t ts_ns;		/* the change time, or RTAI_TIME_UNSET */
	int plain;		/* a row (with or without "_op"), not an envelope:
				 * its own fields may say when it changed */
	char err[200];		/* why dbz_parse() failed */
};

/* Parses one event of JSON text. strict: only change events (a plain row
 * is then an error). Returns 0, or -1 with ev->err set ("unknown changelog
 * shape: ...", "invalid JSON at column 3: ..."). The records of ev stay
 * valid until the next call or dbz_free(). ev starts zeroed. */
int dbz_parse(struct dbz_event *ev, const char *text, size_t n, int strict);

/* Reads a Kafka message key (JSON text: an object, or the converter's
 * wrapper around one) into ev->key and sets ev->has_key, so that a tool
 * that has the key apart from the value (rtai-kafka's metadata) knows the
 * primary-key fields. Returns 0, or -1 with ev->err set (not JSON, not an
 * object); ev->key is then empty. Call it after dbz_parse(). */
int dbz_key(struct dbz_event *ev, const char *text, size_t n);

/* Reads a record as a change: with an "_op" field (c, r, u, d, t; removed
 * from r) it is that change, else a plain row. Swaps r with ev->row, so
 * that ev->row holds r's fields and r is left empty. Returns 0, or -1 with
 * ev->err set for an unknown _op. */
int dbz_from_rec(struct dbz_event *ev, struct rec *r);

/* Frees the records. Accepts NULL. */
void dbz_free(struct dbz_event *ev);

/* "row", "upsert", "delete", "tombstone", "truncate". */
const char *dbz_kind_name(enum dbz_kind k);

#endif
