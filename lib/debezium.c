/* debezium.c - change events read as upserts and deletes (see debezium.h). */
#include "config.h"
#include "debezium.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rtime.h"

static void ev_reset(struct dbz_event *ev)
{
	rec_reset(&ev->row);
	rec_reset(&ev->before);
	rec_reset(&ev->key);
	ev->has_key = 0;
	ev->kind = DBZ_TOMBSTONE;
	ev->op = 0;
	ev->has_before = 0;
	ev->plain = 0;
	ev->ts_ns = RTAI_TIME_UNSET;
	ev->err[0] = '\0';
}

static int fail(struct dbz_event *ev, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct dbz_event *ev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ev->err, sizeof(ev->err), fmt, ap);
	va_end(ap);
	return -1;
}

const char *dbz_kind_name(enum dbz_kind k)
{
	switch (k) {
	case DBZ_ROW: return "row";
	case DBZ_UPSERT: return "upsert";
	case DBZ_DELETE: return "delete";
	case DBZ_TOMBSTONE: return "tombstone";
	case DBZ_TRUNCATE: return "truncate";
	}
	return "?";
}

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_NULL: return "null";
	default: return "a scalar";
	}
}

/* Milliseconds since the epoch in member name of o, as ns. */
static int64_t ms_member(const json_t *o, const char *name)
{
	const json_t *v = json_object_get(o, name);

	if (json_is_integer(v)) {
		json_int_t ms = json_integer_value(v);

		if (ms > INT64_MAX / 1000000 || ms < INT64_MIN / 1000000 + 1)
			return RTAI_TIME_UNSET;
		return (int64_t)ms * 1000000;
	}
	if (json_is_real(v)) {
		double ms = json_real_value(v);

		if (ms > 9e12 || ms < -9e12)
			return RTAI_TIME_UNSET;
		return (int64_t)(ms * 1e6);
	}
	return RTAI_TIME_UNSET;
}

static int is_wrapper(const json_t *o)
{
	return json_object_size(o) == 2 && json_object_get(o, "schema") != NULL &&
	       json_object_get(o, "payload") != NULL;
}

static int is_envelope(const json_t *o)
{
	return json_is_string(json_object_get(o, "op")) &&
	       (json_object_get(o, "before") != NULL || json_object_get(o, "after") != NULL);
}

static int is_message(const json_t *o)
{
	return json_object_get(o, "topic") != NULL && json_object_get(o, "key") != NULL &&
	       (json_object_get(o, "payload") != NULL || json_object_get(o, "value") != NULL);
}

static int to_rec(struct dbz_event *ev, struct rec *r, json_t *o, const char *what)
{
	if (!json_is_object(o))
		return fail(ev, "unknown changelog shape: \"%s\" is %s, expected an object", what,
			    json_kind(o));
	if (rec_from_jansson(r, o) < 0)
		return fail(ev, "\"%s\": %s", what, r->err);
	return 0;
}

static int envelope(struct dbz_event *ev, json_t *o)
{
	const char *op = json_string_value(json_object_get(o, "op"));
	json_t *before = json_object_get(o, "before"), *after = json_object_get(o, "after");
	int64_t ts = ms_member(json_object_get(o, "source"), "ts_ms");

	ev->ts_ns = ts != RTAI_TIME_UNSET ? ts : ms_member(o, "ts_ms");
	if (strlen(op) != 1)
		return fail(ev, "unknown changelog shape: op \"%s\" (expected c, r, u, d or t)", op);
	ev->op = op[0];
	switch (op[0]) {
	case 'c':
	case 'r':
	case 'u':
		ev->kind = DBZ_UPSERT;
		if (after == NULL || json_is_null(after))
			return fail(ev, "unknown changelog shape: op %s without \"after\"", op);
		if (to_rec(ev, &ev->row, after, "after") < 0)
			return -1;
		if (op[0] == 'u' && json_is_object(before)) {
			if (to_rec(ev, &ev->before, before, "before") < 0)
				return -1;
			ev->has_before = 1;
		}
		return 0;
	case 'd':
		ev->kind = DBZ_DELETE;
		if (before == NULL || json_is_null(before))
			return fail(ev, "unknown changelog shape: op d without \"before\" (which row to delete?)");
		return to_rec(ev, &ev->row, before, "before");
	case 't':
		ev->kind = DBZ_TRUNCATE;
		return 0;
	default:
		return fail(ev, "unknown changelog shape: op \"%s\" (expected c, r, u, d or t)", op);
	}
}

/* A value, a wrapper's payload, or JSON text of either. */
static int change(struct dbz_event *ev, json_t *v, int strict, json_t **hold);

/* A message key (JSON text, an object, or the converter's wrapper around
 * one) into r; pfx starts a message. */
static int key_rec(struct dbz_event *ev, json_t *key, json_t **hold, struct rec *r,
		   const char *pfx)
{
	if (json_is_string(key)) {
		json_error_t e;
		json_t *k = json_loadb(json_string_value(key), json_string_length(key), 0, &e);

		if (k == NULL)
			return fail(ev, "%sthe key is not JSON: %s", pfx, e.text);
		json_decref(*hold);
		*hold = key = k;
	}
	if (json_is_object(key) && is_wrapper(key))
		key = json_object_get(key, "payload");
	return to_rec(ev, r, key, "key");
}

static int message(struct dbz_event *ev, json_t *o, json_t **hold)
{
	json_t *key = json_object_get(o, "key"), *val = json_object_get(o, "payload");
	int64_t ts = ms_member(o, "ts");

	if (val == NULL)
		val = json_object_get(o, "value");
	if (ts == RTAI_TIME_UNSET)
		ts = ms_member(o, "timestamp");
	if (!json_is_null(val)) {
		if (change(ev, val, 1, hold) < 0)
			return -1;
		if (ev->ts_ns == RTAI_TIME_UNSET)
			ev->ts_ns = ts;
		/* The key names the primary-key fields, which an update
		 * whose before image has other values moved. */
		if (ev->has_before && !json_is_null(key)) {
			json_t *kh = NULL;

			if (key_rec(ev, key, &kh, &ev->key, "") == 0)
				ev->has_key = 1;
			else
				rec_reset(&ev->key);
			ev->err[0] = '\0';
			json_decref(kh);
		}
		return 0;
	}
	/* A tombstone for key: Debezium sends one after each delete, so
	 * that Kafka's compaction can drop the key. */
	ev->kind = DBZ_DELETE;
	ev->ts_ns = ts;
	return key_rec(ev, key, hold, &ev->row, "tombstone: ");
}

static int change(struct dbz_event *ev, json_t *v, int strict, json_t **hold)
{
	if (json_is_string(v)) {
		json_error_t e;
		json_t *inner = json_loadb(json_string_value(v), json_string_length(v),
					   JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);

		if (inner == NULL)
			return fail(ev, "unknown changelog shape: a string that is not JSON: %s", e.text);
		json_decref(*hold);
		*hold = v = inner;
	}
	if (json_is_null(v)) {
		ev->kind = DBZ_TOMBSTONE;
		return 0;
	}
	if (!json_is_object(v))
		return fail(ev, "unknown changelog shape: %s, expected an object", json_kind(v));
	if (is_wrapper(v)) {
		json_t *p = json_object_get(v, "payload");

		if (json_is_null(p)) {
			ev->kind = DBZ_TOMBSTONE;
			return 0;
		}
		if (!json_is_object(p) || !is_envelope(p))
			return fail(ev, "unknown changelog shape: \"payload\" is not a change event (no \"op\" with \"before\" or \"after\")");
		return envelope(ev, p);
	}
	if (is_envelope(v))
		return envelope(ev, v);
	if (strict)
		return fail(ev, "unknown changelog shape: not a Debezium change event (no \"op\" with \"before\" or \"after\")");
	ev->kind = DBZ_ROW;
	if (to_rec(ev, &ev->row, v, "row") < 0)
		return -1;
	return dbz_from_rec(ev, &ev->row);
}

int dbz_parse(struct dbz_event *ev, const char *text, size_t n, int strict)
{
	json_error_t e;
	json_t *root, *hold = NULL;
	size_t i = 0;
	int rc;

	ev_reset(ev);
	while (i < n && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r'))
		i++;
	if (i == n)
		return 0;	/* an empty value: a tombstone */
	root = json_loadb(text, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
	if (root == NULL)
		return fail(ev, "invalid JSON at column %d: %s", e.column, e.text);
	if (json_is_object(root) && is_message(root))
		rc = message(ev, root, &hold);
	else
		rc = change(ev, root, strict, &hold);
	json_decref(hold);
	json_decref(root);
	return rc;
}

int dbz_from_rec(struct dbz_event *ev, struct rec *r)
{
	struct rec_field *f;

	if (r != &ev->row) {
		struct rec tmp;

		ev_reset(ev);
		tmp = ev->row;
		ev->row = *r;
		*r = tmp;
		ev->kind = DBZ_ROW;
	}
	ev->plain = 1;
	f = rec_get(&ev->row, "_op", 3);
	if (f == NULL)
		return 0;
	if (f->v.type != RT_STR || f->v.s.n != 1 || f->v.s.p[0] == '\0' ||
	    strchr("crudt", f->v.s.p[0]) == NULL)
		return fail(ev, "unknown changelog shape: \"_op\" is not one of c, r, u, d, t");
	ev->op = f->v.s.p[0];
	ev->kind = ev->op == 'd' ? DBZ_DELETE : ev->op == 't' ? DBZ_TRUNCATE : DBZ_UPSERT;
	rec_del(&ev->row, (uint32_t)(f - ev->row.f));
	return 0;
}

int dbz_key(struct dbz_event *ev, const char *text, size_t n)
{
	json_error_t e;
	json_t *root, *hold = NULL;
	int rc;

	rec_reset(&ev->key);
	ev->has_key = 0;
	root = json_loadb(text, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
	if (root == NULL)
		return fail(ev, "the key is not JSON: %s", e.text);
	rc = key_rec(ev, root, &hold, &ev->key, "");
	json_decref(hold);
	json_decref(root);
	if (rc < 0) {
		rec_reset(&ev->key);
		return -1;
	}
	ev->has_key = 1;
	return 0;
}

void dbz_free(struct dbz_event *ev)
{
	if (ev == NULL)
		return;
	rec_free(&ev->row);
	rec_free(&ev->before);
	rec_free(&ev->key);
}
