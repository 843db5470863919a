/* avrorec.c - Avro values into typed records (see avrorec.h). */
#include "config.h"

#include <avro.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avrorec.h"
#include "rtime.h"

/* ---- plans: schemas with their logical types ----------------------------- */

enum akind {
	AK_NULL, AK_BOOL, AK_INT, AK_LONG, AK_FLOAT, AK_DOUBLE, AK_BYTES, AK_STRING,
	AK_RECORD, AK_ENUM, AK_ARRAY, AK_MAP, AK_UNION, AK_FIXED,
};

enum alogical { AL_NONE, AL_TS_MILLIS, AL_TS_MICROS, AL_DATE, AL_DECIMAL };

struct anode {
	enum akind kind;
	enum alogical logical;
	int scale;			/* decimal */
	char *name;			/* named types: the full name */
	size_t n;			/* record fields, union branches; 1 for array, map */
	struct anode **kid;		/* their types */
	char **fname;			/* record field names */
	json_t **fdefault;		/* record field defaults (borrowed from the plan's json) */
};

struct plan {
	json_t *json;			/* the schema, owning the defaults */
	struct anode **all;		/* every node, for freeing (named types are shared) */
	size_t nall, capall;
	struct anode *root;
	char err[200];
};

struct entry {
	int64_t id;
	struct plan plan;
	avro_schema_t schema;
	avro_value_iface_t *iface;
	avro_value_t value;
	int ok;				/* 0: known to be missing, err says why */
	char *why;
};

struct avrorec {
	struct entry *e;
	size_t n, cap;
	size_t last;			/* index of the last entry used */
	avro_reader_t reader;		/* a memory reader, pointed at each datum */
	struct plan reader_plan;	/* --avro-reader-schema, root NULL if none */
	struct rec tmp;		/* the writer's record before projection */
	struct buf json;		/* nested values as JSON */
	char err[400];
};

static struct anode *node_new(struct plan *p, enum akind k)
{
	struct anode *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	if (p->nall == p->capall) {
		size_t cap = p->capall ? p->capall * 2 : 16;
		struct anode **all = realloc(p->all, cap * sizeof(*all));

		if (all == NULL) {
			free(a);
			return NULL;
		}
		p->all = all;
		p->capall = cap;
	}
	p->all[p->nall++] = a;
	a->kind = k;
	return a;
}

static void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->nall; i++) {
		struct anode *a = p->all[i];

		for (size_t j = 0; a->fname != NULL && j < a->n; j++)
			free(a->fname[j]);
		free(a->fname);
		free(a->fdefault);
		free(a->kid);
		free(a->name);
		free(a);
	}
	free(p->all);
	json_decref(p->json);
	memset(p, 0, sizeof(*p));
}

static int plan_fail(struct plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int plan_fail(struct plan *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
	return -1;
}

static struct anode *find_named(struct plan *p, const char *name, const char *ns)
{
	char full[512];

	for (size_t i = 0; i < p->nall; i++)
		if (p->all[i]->name != NULL && strcmp(p->all[i]->name, name) == 0)
			return p->all[i];
	if (ns != NULL && strchr(name, '.') == NULL) {
		snprintf(full, sizeof(full), "%s.%s", ns, name);
		for (size_t i = 0; i < p->nall; i++)
			if (p->all[i]->name != NULL && strcmp(p->all[i]->name, full) == 0)
				return p->all[i];
	}
	return NULL;
}

static const struct {
	const char *name;
	enum akind kind;
} primitives[] = {
	{ "null", AK_NULL }, { "boolean", AK_BOOL }, { "int", AK_INT }, { "long", AK_LONG },
	{ "float", AK_FLOAT }, { "double", AK_DOUBLE }, { "bytes", AK_BYTES },
	{ "string", AK_STRING },
};

static struct anode *compile(struct plan *p, json_t *s, const char *ns, int depth);

/* The full name of a named type (specification, "Names"). */
static char *full_name(json_t *s, const char *ns)
{
	const char *name = json_string_value(json_object_get(s, "name"));
	const char *own = json_string_value(json_object_get(s, "namespace"));
	char buf[512];

	if (name == NULL)
		return NULL;
	if (strchr(name, '.') != NULL || ((own == NULL || *own == '\0') && (ns == NULL || *ns == '\0')))
		return strdup(name);
	snprintf(buf, sizeof(buf), "%s.%s", own != NULL && *own != '\0' ? own : ns, name);
	return strdup(buf);
}

static struct anode *compile_object(struct plan *p, json_t *s, const char *ns, int depth)
{
	const char *type = json_string_value(json_object_get(s, "type"));
	const char *logical = json_string_value(json_object_get(s, "logicalType"));
	struct anode *a = NULL;

	if (type == NULL) {
		json_t *t = json_object_get(s, "type");

		if (json_is_object(t) || json_is_array(t))
			return compile(p, t, ns, depth + 1);
		plan_fail(p, "a schema object without a \"type\"");
		return NULL;
	}
	if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0) {
		json_t *fields = json_object_get(s, "fields");
		char *fn = full_name(s, ns);
		const char *rns;
		size_t i;

		if (fn == NULL || !json_is_array(fields)) {
			free(fn);
			plan_fail(p, "a record needs a \"name\" and \"fields\"");
			return NULL;
		}
		if ((a = node_new(p, AK_RECORD)) == NULL) {
			free(fn);
			return NULL;
		}
		a->name = fn;
		rns = strrchr(fn, '.') != NULL ? fn : NULL;
		a->n = json_array_size(fields);
		a->kid = calloc(a->n + 1, sizeof(*a->kid));
		a->fname = calloc(a->n + 1, sizeof(*a->fname));
		a->fdefault = calloc(a->n + 1, sizeof(*a->fdefault));
		if (a->kid == NULL || a->fname == NULL || a->fdefault == NULL)
			return NULL;
		for (i = 0; i < a->n; i++) {
			json_t *f = json_array_get(fields, i);
			const char *name = json_string_value(json_object_get(f, "name"));
			char nsbuf[512];

			if (name == NULL || strlen(name) > 255) {
				plan_fail(p, "record %s: field %zu: a name of 1 to 255 bytes is needed", fn, i + 1);
				return NULL;
			}
			a->fname[i] = strdup(name);
			a->fdefault[i] = json_object_get(f, "default");
			if (rns != NULL) {
				snprintf(nsbuf, sizeof(nsbuf), "%.*s", (int)(strrchr(fn, '.') - fn), fn);
				a->kid[i] = compile(p, json_object_get(f, "type"), nsbuf, depth + 1);
			} else {
				a->kid[i] = compile(p, json_object_get(f, "type"), NULL, depth + 1);
			}
			if (a->kid[i] == NULL || a->fname[i] == NULL)
				return NULL;
		}
		return a;
	}
	if (strcmp(type, "enum") == 0 || strcmp(type, "fixed") == 0) {
		a = node_new(p, type[0] == 'e' ? AK_ENUM : AK_FIXED);
		if (a == NULL || (a->name = full_name(s, ns)) == NULL) {
			plan_fail(p, "%s needs a \"name\"", type);
			return NULL;
		}
	} else if (strcmp(type, "array") == 0 || strcmp(type, "map") == 0) {
		a = node_new(p, type[0] == 'a' ? AK_ARRAY : AK_MAP);
		if (a == NULL || (a->kid = calloc(1, sizeof(*a->kid))) == NULL)
			return NULL;
		a->n = 1;
		a->kid[0] = compile(p, json_object_get(s, type[0] == 'a' ? "items" : "values"), ns, depth + 1);
		if (a->kid[0] == NULL)
			return NULL;
		return a;
	} else {
		for (size_t i = 0; i < sizeof(primitives) / sizeof(primitives[0]); i++)
			if (strcmp(type, primitives[i].name) == 0)
				a = node_new(p, primitives[i].kind);
		if (a == NULL) {
			a = find_named(p, type, ns);
			if (a == NULL)
				plan_fail(p, "unknown type \"%s\"", type);
			return a;	/* a reference: no logical type of its own */
		}
	}
	if (logical != NULL) {
		if ((strcmp(logical, "timestamp-millis") == 0 || strcmp(logical, "local-timestamp-millis") == 0) &&
		    a->kind == AK_LONG)
			a->logical = AL_TS_MILLIS;
		else if ((strcmp(logical, "timestamp-micros") == 0 || strcmp(logical, "local-timestamp-micros") == 0) &&
			 a->kind == AK_LONG)
			a->logical = AL_TS_MICROS;
		else if (strcmp(logical, "date") == 0 && a->kind == AK_INT)
			a->logical = AL_DATE;
		else if (strcmp(logical, "decimal") == 0 && (a->kind == AK_BYTES || a->kind == AK_FIXED)) {
			json_t *sc = json_object_get(s, "scale");

			a->logical = AL_DECIMAL;
			a->scale = json_is_integer(sc) ? (int)json_integer_value(sc) : 0;
			if (a->scale < 0 || a->scale > 38)
				return plan_fail(p, "decimal: scale %d out of range", a->scale), NULL;
		}
		/* Other logical types (uuid, time-millis, ...) read as their
		 * underlying type, as the specification asks of unknown ones. */
	}
	return a;
}

static struct anode *compile(struct plan *p, json_t *s, const char *ns, int depth)
{
	struct anode *a;

	if (depth > 64) {
		plan_fail(p, "schema nested more than 64 levels");
		return NULL;
	}
	if (json_is_string(s)) {
		const char *t = json_string_value(s);

		for (size_t i = 0; i < sizeof(primitives) / sizeof(primitives[0]); i++)
			if (strcmp(t, primitives[i].name) == 0)
				return node_new(p, primitives[i].kind);
		if ((a = find_named(p, t, ns)) == NULL)
			plan_fail(p, "unknown type \"%s\"", t);
		return a;
	}
	if (json_is_array(s)) {
		if ((a = node_new(p, AK_UNION)) == NULL)
			return NULL;
		a->n = json_array_size(s);
		if ((a->kid = calloc(a->n + 1, sizeof(*a->kid))) == NULL)
			return NULL;
		for (size_t i = 0; i < a->n; i++)
			if ((a->kid[i] = compile(p, json_array_get(s, i), ns, depth + 1)) == NULL)
				return NULL;
		return a;
	}
	if (json_is_object(s))
		return compile_object(p, s, ns, depth);
	plan_fail(p, "a schema must be a string, an array or an object");
	return NULL;
}

static int plan_build(struct plan *p, const char *text, size_t len)
{
	json_error_t e;

	memset(p, 0, sizeof(*p));
	p->json = json_loadb(text, len, JSON_DECODE_ANY, &e);
	if (p->json == NULL)
		return plan_fail(p, "not JSON: line %d column %d: %s", e.line, e.column, e.text);
	p->root = compile(p, p->json, NULL, 0);
	if (p->root == NULL) {
		if (p->err[0] == '\0')
			plan_fail(p, "out of memory");
		return -1;
	}
	return 0;
}

/* ---- the decoder ------------------------------------------------------------- */

static int fail(struct avrorec *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct avrorec *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->err, sizeof(a->err), fmt, ap);
	va_end(ap);
	return -1;
}

struct avrorec *avrorec_new(const char *reader_schema, size_t len, const char **err)
{
	static char why[240];
	struct avrorec *a = calloc(1, sizeof(*a));

	if (a == NULL) {
		*err = "out of memory";
		return NULL;
	}
	a->reader = avro_reader_memory("", 0);
	if (a->reader == NULL) {
		free(a);
		*err = "cannot make an Avro reader";
		return NULL;
	}
	if (reader_schema != NULL) {
		if (plan_build(&a->reader_plan, reader_schema, len) < 0 ||
		    a->reader_plan.root->kind != AK_RECORD) {
			snprintf(why, sizeof(why), "%s", a->reader_plan.err[0] ? a->reader_plan.err :
				 "the reader schema must be a record");
			*err = why;
			avrorec_free(a);
			return NULL;
		}
	}
	return a;
}

void avrorec_free(struct avrorec *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n; i++) {
		struct entry *e = &a->e[i];

		if (e->ok) {
			avro_value_decref(&e->value);
			avro_value_iface_decref(e->iface);
			avro_schema_decref(e->schema);
		}
		plan_free(&e->plan);
		free(e->why);
	}
	free(a->e);
	plan_free(&a->reader_plan);
	if (a->reader != NULL)
		avro_reader_free(a->reader);
	rec_free(&a->tmp);
	buf_free(&a->json);
	free(a);
}

const char *avrorec_error(const struct avrorec *a)
{
	return a->err;
}

static struct entry *entry_find(const struct avrorec *a, int64_t id)
{
	if (a->last < a->n && a->e[a->last].id == id)
		return &a->e[a->last];
	for (size_t i = 0; i < a->n; i++)
		if (a->e[i].id == id) {
			((struct avrorec *)a)->last = i;
			return &a->e[i];
		}
	return NULL;
}

int avrorec_known(const struct avrorec *a, int64_t id)
{
	return entry_find(a, id) != NULL;
}

static struct entry *entry_new(struct avrorec *a, int64_t id)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 8;
		struct entry *e = realloc(a->e, cap * sizeof(*e));

		if (e == NULL)
			return NULL;
		a->e = e;
		a->cap = cap;
	}
	memset(&a->e[a->n], 0, sizeof(a->e[a->n]));
	a->e[a->n].id = id;
	return &a->e[a->n++];
}

void avrorec_add_missing(struct avrorec *a, int64_t id, const char *why)
{
	struct entry *e;

	if (entry_find(a, id) != NULL || (e = entry_new(a, id)) == NULL)
		return;
	e->why = strdup(why);
}

int avrorec_add_schema(struct avrorec *a, int64_t id, const char *json, size_t len)
{
	struct entry *e;
	struct plan plan;

	if (entry_find(a, id) != NULL)
		return 0;
	if (plan_build(&plan, json, len) < 0) {
		fail(a, "schema %" PRId64 ": %s", id, plan.err);
		plan_free(&plan);
		return -1;
	}
	if ((e = entry_new(a, id)) == NULL) {
		plan_free(&plan);
		return fail(a, "out of memory");
	}
	e->plan = plan;
	if (avro_schema_from_json_length(json, len, &e->schema) != 0) {
		fail(a, "schema %" PRId64 ": not valid Avro: %s", id, avro_strerror());
		e->why = strdup(a->err);
		return -1;
	}
	e->iface = avro_generic_class_from_schema(e->schema);
	if (e->iface == NULL || avro_generic_value_new(e->iface, &e->value) != 0) {
		fail(a, "schema %" PRId64 ": %s", id, avro_strerror());
		if (e->iface != NULL)
			avro_value_iface_decref(e->iface);
		avro_schema_decref(e->schema);
		e->why = strdup(a->err);
		return -1;
	}
	e->ok = 1;
	return 0;
}

int64_t avro_confluent_id(const uint8_t *p, size_t n, const uint8_t **body)
{
	if (n < 5 || p[0] != 0)
		return -1;
	*body = p + 5;
	return (int64_t)((uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4]);
}

/* ---- values ---------------------------------------------------------------- */

/* The exact decimal text of a big-endian two's complement unscaled value
 * of n bytes (at most 16) with scale digits after the point. */
static int decimal_text(const uint8_t *p, size_t n, int scale, char *out, size_t cap)
{
	__int128 v = 0;
	unsigned __int128 u;
	char digits[64];
	int nd = 0, neg;
	size_t o = 0;

	if (n == 0 || n > 16)
		return -1;
	v = (p[0] & 0x80) ? -1 : 0;
	for (size_t i = 0; i < n; i++)
		v = (__int128)(((unsigned __int128)v << 8) | p[i]);
	neg = v < 0;
	u = neg ? (unsigned __int128)0 - (unsigned __int128)v : (unsigned __int128)v;
	do {
		digits[nd++] = (char)('0' + (int)(u % 10));
		u /= 10;
	} while (u > 0);
	while (nd <= scale)
		digits[nd++] = '0';
	if ((size_t)nd + 3 > cap)
		return -1;
	if (neg)
		out[o++] = '-';
	for (int i = nd - 1; i >= 0; i--) {
		out[o++] = digits[i];
		if (i == scale && scale > 0)
			out[o++] = '.';
	}
	out[o] = '\0';
	return (int)o;
}


/* A time in ns from a timestamp or date, or -1 when out of int64 ns. */
static int to_ns(const struct anode *t, int64_t v, int64_t *ns)
{
	int64_t mul = t->logical == AL_TS_MILLIS ? 1000000 : t->logical == AL_TS_MICROS ? 1000 :
		      INT64_C(86400000000000);

	if (__builtin_mul_overflow(v, mul, ns))
		return -1;
	return 0;
}

static int to_val(struct avrorec *a, const struct anode *t, avro_value_t *v, struct val *out,
		  struct rec *r, const char *field);

/* Appends a nested value as JSON. */
static int to_json(struct avrorec *a, const struct anode *t, avro_value_t *v, struct buf *b,
		   const char *field, int depth)
{
	struct val x;

	if (depth > 64)
		return fail(a, "field \"%s\": nested more than 64 levels", field);
	switch (t->kind) {
	case AK_RECORD:
		buf_putc(b, '{');
		for (size_t i = 0; i < t->n; i++) {
			avro_value_t c;

			if (avro_value_get_by_index(v, i, &c, NULL) != 0)
				return fail(a, "field \"%s\": %s", field, avro_strerror());
			if (i > 0)
				buf_putc(b, ',');
			json_put_str(b, t->fname[i], strlen(t->fname[i]));
			buf_putc(b, ':');
			if (to_json(a, t->kid[i], &c, b, field, depth + 1) < 0)
				return -1;
		}
		buf_putc(b, '}');
		return 0;
	case AK_ARRAY:
	case AK_MAP: {
		size_t n;

		if (avro_value_get_size(v, &n) != 0)
			return fail(a, "field \"%s\": %s", field, avro_strerror());
		buf_putc(b, t->kind == AK_ARRAY ? '[' : '{');
		for (size_t i = 0; i < n; i++) {
			avro_value_t c;
			const char *key = NULL;

			if (avro_value_get_by_index(v, i, &c, &key) != 0)
				return fail(a, "field \"%s\": %s", field, avro_strerror());
			if (i > 0)
				buf_putc(b, ',');
			if (t->kind == AK_MAP) {
				json_put_str(b, key, strlen(key));
				buf_putc(b, ':');
			}
			if (to_json(a, t->kid[0], &c, b, field, depth + 1) < 0)
				return -1;
		}
		buf_putc(b, t->kind == AK_ARRAY ? ']' : '}');
		return 0;
	}
	case AK_UNION: {
		int d;
		avro_value_t c;

		if (avro_value_get_discriminant(v, &d) != 0 || d < 0 || (size_t)d >= t->n ||
		    avro_value_get_current_branch(v, &c) != 0)
			return fail(a, "field \"%s\": bad union branch", field);
		return to_json(a, t->kid[d], &c, b, field, depth + 1);
	}
	case AK_BYTES:
	case AK_FIXED:
		if (t->logical == AL_DECIMAL) {
			const void *p;
			size_t n;
			char text[64];
			int len;

			if ((t->kind == AK_BYTES ? avro_value_get_bytes(v, &p, &n) :
						   avro_value_get_fixed(v, &p, &n)) != 0)
				return fail(a, "field \"%s\": %s", field, avro_strerror());
			if ((len = decimal_text(p, n, t->scale, text, sizeof(text))) < 0)
				return fail(a, "field \"%s\": a decimal of %zu bytes is wider than 16", field, n);
			json_put_str(b, text, (size_t)len);
			return 0;
		}
		/* fall through */
	default:
		if (to_val(a, t, v, &x, NULL, field) < 0)
			return -1;
		val_to_json(&x, b);	/* bytes as a base64 string */
		return 0;
	}
}

/* One value: scalars straight, nested ones as JSON text in r's arena (or
 * refused when r is NULL: to_json handles those itself). */
static int to_val(struct avrorec *a, const struct anode *t, avro_value_t *v, struct val *out,
		  struct rec *r, const char *field)
{
	const void *p;
	const char *s;
	size_t n;
	int32_t i32;
	int64_t i64;
	float f;
	double d;
	int bl;

	switch (t->kind) {
	case AK_NULL:
		*out = val_null();
		return 0;
	case AK_BOOL:
		if (avro_value_get_boolean(v, &bl) != 0)
			break;
		*out = val_bool(bl);
		return 0;
	case AK_INT:
		if (avro_value_get_int(v, &i32) != 0)
			break;
		if (t->logical == AL_DATE) {
			if (to_ns(t, i32, &i64) < 0)
				return fail(a, "field \"%s\": date %d days is past the range of times", field, (int)i32);
			*out = val_time(i64);
		} else {
			*out = val_int(i32);
		}
		return 0;
	case AK_LONG:
		if (avro_value_get_long(v, &i64) != 0)
			break;
		if (t->logical == AL_TS_MILLIS || t->logical == AL_TS_MICROS) {
			int64_t ns;

			if (to_ns(t, i64, &ns) < 0)
				return fail(a, "field \"%s\": timestamp %" PRId64 " is past the range of times "
					    "(years 1677 to 2262)", field, i64);
			*out = val_time(ns);
		} else {
			*out = val_int(i64);
		}
		return 0;
	case AK_FLOAT:
		if (avro_value_get_float(v, &f) != 0)
			break;
		*out = val_float(f);
		return 0;
	case AK_DOUBLE:
		if (avro_value_get_double(v, &d) != 0)
			break;
		*out = val_float(d);
		return 0;
	case AK_STRING:
		if (avro_value_get_string(v, &s, &n) != 0)
			break;
		*out = val_str(s, n > 0 ? n - 1 : 0);	/* libavro counts the NUL */
		return 0;
	case AK_ENUM: {
		int sym;
		const char *name;

		if (avro_value_get_enum(v, &sym) != 0)
			break;
		name = avro_schema_enum_get(avro_value_get_schema(v), sym);
		if (name == NULL)
			return fail(a, "field \"%s\": enum symbol %d out of range", field, sym);
		*out = val_str(name, strlen(name));
		return 0;
	}
	case AK_BYTES:
	case AK_FIXED:
		if ((t->kind == AK_BYTES ? avro_value_get_bytes(v, &p, &n) :
					   avro_value_get_fixed(v, &p, &n)) != 0)
			break;
		if (t->logical == AL_DECIMAL) {
			char text[64];
			int len = decimal_text(p, n, t->scale, text, sizeof(text));

			if (len < 0)
				return fail(a, "field \"%s\": a decimal of %zu bytes is wider than 16", field, n);
			if (r == NULL)
				return fail(a, "field \"%s\": internal: decimal outside a record", field);
			*out = val_str(rec_strdup(r, text, (size_t)len), (size_t)len);
			return 0;
		}
		*out = val_bytes(p, n);
		return 0;
	case AK_UNION: {
		int br;
		avro_value_t c;

		if (avro_value_get_discriminant(v, &br) != 0 || br < 0 || (size_t)br >= t->n ||
		    avro_value_get_current_branch(v, &c) != 0)
			return fail(a, "field \"%s\": bad union branch", field);
		return to_val(a, t->kid[br], &c, out, r, field);
	}
	case AK_RECORD:
	case AK_ARRAY:
	case AK_MAP:
		if (r == NULL)
			return fail(a, "field \"%s\": internal: nested value outside a record", field);
		buf_reset(&a->json);
		if (to_json(a, t, v, &a->json, field, 0) < 0)
			return -1;
		*out = (struct val){ .type = RT_JSON,
					  .s = { rec_strdup(r, (const char *)a->json.p, a->json.len),
						 (uint32_t)a->json.len } };
		return 0;
	}
	return fail(a, "field \"%s\": %s", field, avro_strerror());
}

/* A reader schema's default (JSON) as a value of type t. */
static int default_val(struct avrorec *a, const struct anode *t, json_t *j, struct val *out,
		       struct rec *r, const char *field)
{
	if (t->kind == AK_UNION)	/* a union's default is of its first branch */
		t = t->kid[0];
	switch (t->kind) {
	case AK_NULL:
		*out = val_null();
		return json_is_null(j) ? 0 : -1;
	case AK_BOOL:
		*out = val_bool(json_is_true(j));
		return json_is_boolean(j) ? 0 : -1;
	case AK_INT:
	case AK_LONG:
		if (!json_is_integer(j))
			return -1;
		*out = val_int(json_integer_value(j));
		if (t->logical != AL_NONE) {
			int64_t ns;

			if (to_ns(t, out->i, &ns) < 0)
				return -1;
			*out = val_time(ns);
		}
		return 0;
	case AK_FLOAT:
	case AK_DOUBLE:
		if (!json_is_number(j))
			return -1;
		*out = val_float(json_number_value(j));
		return 0;
	case AK_STRING:
	case AK_ENUM:
		if (!json_is_string(j))
			return -1;
		*out = val_str(json_string_value(j), json_string_length(j));
		return 0;
	case AK_BYTES:
	case AK_FIXED:	/* JSON strings whose code points are the bytes */
		if (!json_is_string(j))
			return -1;
		*out = val_bytes(json_string_value(j), json_string_length(j));
		return 0;
	default: {
		char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

		if (text == NULL)
			return -1;
		*out = (struct val){ .type = RT_JSON,
					  .s = { rec_strdup(r, text, strlen(text)), (uint32_t)strlen(text) } };
		free(text);
		(void)a;
		(void)field;
		return 0;
	}
	}
}

/* Reads the datum p[0..n) of schema id into e's value (e from entry_find).
 * Returns 0, or -1 with the error set: no schema, bad or truncated data,
 * trailing bytes (libavro does not report them: the re-encoded size must
 * be n). */
static int read_datum(struct avrorec *a, struct entry *e, int64_t id, const uint8_t *p, size_t n)
{
	size_t size;

	if (e == NULL)
		return fail(a, "schema id %" PRId64 ": no schema", id);
	if (!e->ok)
		return fail(a, "%s", e->why != NULL ? e->why : "no schema");
	avro_value_reset(&e->value);
	avro_reader_memory_set_source(a->reader, (const char *)p, (int64_t)n);
	if (avro_value_read(a->reader, &e->value) != 0)
		return fail(a, "schema %" PRId64 ": invalid or truncated Avro data: %s", id, avro_strerror());
	if (avro_value_sizeof(&e->value, &size) != 0)
		return fail(a, "schema %" PRId64 ": %s", id, avro_strerror());
	if (size != n)
		return fail(a, "schema %" PRId64 ": %zu bytes after the value (the value is %zu of %zu bytes)",
			    id, n > size ? n - size : 0, size, n);
	return 0;
}

int avrorec_decode(struct avrorec *a, int64_t id, const uint8_t *p, size_t n,
		   struct rec *r)
{
	struct entry *e = entry_find(a, id);
	const struct anode *root;
	struct rec *w;

	if (read_datum(a, e, id, p, n) < 0)
		return -1;
	root = e->plan.root;
	if (root->kind != AK_RECORD)
		return fail(a, "schema %" PRId64 ": the top-level type must be a record", id);
	w = a->reader_plan.root != NULL ? &a->tmp : r;
	rec_reset(w);
	rec_reset(r);
	for (size_t i = 0; i < root->n; i++) {
		avro_value_t c;
		struct val v;

		if (avro_value_get_by_index(&e->value, i, &c, NULL) != 0)
			return fail(a, "field \"%s\": %s", root->fname[i], avro_strerror());
		if (to_val(a, root->kid[i], &c, &v, w, root->fname[i]) < 0)
			return -1;
		rec_add(w, root->fname[i], strlen(root->fname[i]), v);
	}
	if (a->reader_plan.root != NULL) {
		const struct anode *rd = a->reader_plan.root;

		for (size_t i = 0; i < rd->n; i++) {
			const char *name = rd->fname[i];
			struct rec_field *f = rec_get(w, name, strlen(name));
			struct val v;

			if (f != NULL) {
				v = f->v;
				if (v.type == RT_JSON)
					v.s.p = rec_strdup(r, v.s.p, v.s.n);
			} else if (rd->fdefault[i] == NULL) {
				return fail(a, "field \"%s\": in the reader schema, without a default, "
					    "and not written by schema %" PRId64, name, id);
			} else if (default_val(a, rd->kid[i], rd->fdefault[i], &v, r, name) < 0) {
				return fail(a, "field \"%s\": the reader schema's default does not fit its type", name);
			}
			rec_add(r, name, strlen(name), v);
		}
	}
	return 0;
}

int avrorec_decode_value(struct avrorec *a, int64_t id, const uint8_t *p, size_t n,
			 struct rec *r, struct val *out)
{
	struct entry *e = entry_find(a, id);

	if (read_datum(a, e, id, p, n) < 0 || to_val(a, e->plan.root, &e->value, out, r, "key") < 0)
		return -1;
	/* Strings and bytes borrow from e's value, which the next datum of
	 * the same schema (the record's value, say) overwrites: copy them. */
	if (out->type == RT_STR || out->type == RT_BYTES) {
		const char *c = rec_strdup(r, out->s.p, out->s.n);

		out->s.p = c;
	}
	return 0;
}
