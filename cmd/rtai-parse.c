/* rtai-parse - schema on write: JSON payloads in, typed records out.
 *
 * Each data frame's payload (a raw line from rtai-cat, JSON text, or a
 * binary record) is parsed once, checked against the schema given with -f or
 * --schema, and written as a binary record (or compact JSON with --json).
 * -t takes each frame's event time from a field. Records that do not fit
 * stop the tool, are skipped, or go to a dead-letter stream (--on-error).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "barrier.h"
#include "buf.h"
#include "ckpt.h"
#include "cli.h"
#include "csvrec.h"
#ifdef HAVE_AVRO
#include "avrorec.h"
#endif
#ifdef HAVE_CURL
#include "registry.h"
#endif
#include "debezium.h"
#include "errpol.h"
#include "frame.h"
#include "jflat.h"
#include "key.h"
#include "rec.h"
#include "rtime.h"
#include "sig.h"
#include "snap.h"

/* ---- options ---------------------------------------------------------- */

enum ftype { FT_STRING, FT_INT, FT_FLOAT, FT_BOOL, FT_TIME, FT_JSON, FT_BYTES };
static const char *const ftype_names[] = { "string", "int", "float", "bool", "time", "json",
					   "bytes" };

struct sfield {
	char *name;			/* the field's name, NUL-terminated */
	size_t nlen;
	enum ftype type;
	int optional;			/* may be missing or null */
	int kept;			/* written out (no --keep, or named there) */
};

enum in_format { IN_JSON, IN_CSV, IN_TSV, IN_AVRO };
static const char *const in_format_names[] = { "json", "csv", "tsv", "avro" };

static struct {
	struct sfield *schema;		/* -f and --schema, in order */
	size_t nschema;
	const char *time_field;		/* -t: event time from this field */
	size_t time_nlen;
	enum rtime_tunit tunit;		/* --time-format */
	int strict;			/* --strict: no undeclared fields */
	char **keep;			/* --keep: names to write, NULL = all */
	size_t nkeep;
	int json;			/* --json: write JSON payloads */
	int debezium;			/* --debezium: unwrap change events */
	char **pkey;			/* --key: the primary-key fields */
	size_t npkey;
	int meta;			/* --meta: source metadata into _ fields */
	enum in_format format;		/* --format */
	char **columns;			/* --columns: CSV column names, no header row */
	size_t ncolumns;
	unsigned char delim;		/* --delimiter (CSV) */
	int no_infer;			/* --no-infer: undeclared CSV columns are strings */
	const char *avro_schema;	/* --avro-schema: plain Avro binary of this schema */
	const char *avro_schemas;	/* --avro-schemas: DIR of ID.avsc */
	const char *avro_reader;	/* --avro-reader-schema: project onto it */
	int avro_key;			/* --avro-key: the Kafka key is Avro too */
	const char *registry;		/* --schema-registry URL */
	const char *registry_auth;	/* --registry-auth or RTAI_REGISTRY_AUTH */
	const char *ckpt_dir;		/* --checkpoint-dir, else $RTAI_CHECKPOINT_DIR */
	const char *stage_name;		/* --stage-name: checkpoint identity */
} opt = {
	.delim = ',',
	.tunit = RTAI_TU_AUTO,
};

enum {
	OPT_SCHEMA = 256, OPT_TIME_FORMAT, OPT_STRICT, OPT_KEEP, OPT_JSON,
	OPT_ON_ERROR, OPT_DLQ, OPT_MAX_FIELDS, OPT_MAX_FRAME, OPT_VERSION, OPT_DEBEZIUM,
	OPT_FORMAT, OPT_COLUMNS, OPT_DELIMITER, OPT_NO_INFER, OPT_META,
	OPT_AVRO_SCHEMA, OPT_AVRO_SCHEMAS, OPT_AVRO_READER, OPT_REGISTRY, OPT_REGISTRY_AUTH,
	OPT_KEY, OPT_AVRO_KEY, OPT_CKPT_DIR, OPT_STAGE_NAME,
};

static const struct option longopts[] = {
	{ "field", required_argument, NULL, 'f' },		/* NAME:TYPE[?] */
	{ "schema", required_argument, NULL, OPT_SCHEMA },	/* schema file (JSON) */
	{ "time-field", required_argument, NULL, 't' },	/* event time field */
	{ "time-format", required_argument, NULL, OPT_TIME_FORMAT }, /* epoch unit */
	{ "strict", no_argument, NULL, OPT_STRICT },		/* reject undeclared fields */
	{ "keep", required_argument, NULL, OPT_KEEP },		/* project to these fields */
	{ "json", no_argument, NULL, OPT_JSON },		/* JSON payloads out */
	{ "debezium", no_argument, NULL, OPT_DEBEZIUM },	/* unwrap change events */
	{ "key", required_argument, NULL, OPT_KEY },		/* primary-key fields */
	{ "meta", no_argument, NULL, OPT_META },		/* metadata into fields */
	{ "format", required_argument, NULL, OPT_FORMAT },	/* json, csv or tsv */
	{ "columns", required_argument, NULL, OPT_COLUMNS },	/* CSV column names */
	{ "delimiter", required_argument, NULL, OPT_DELIMITER }, /* CSV field separator */
	{ "no-infer", no_argument, NULL, OPT_NO_INFER },	/* CSV values stay strings */
	{ "avro-schema", required_argument, NULL, OPT_AVRO_SCHEMA },	/* plain Avro's schema */
	{ "avro-schemas", required_argument, NULL, OPT_AVRO_SCHEMAS },	/* DIR of ID.avsc */
	{ "avro-reader-schema", required_argument, NULL, OPT_AVRO_READER }, /* projection */
	{ "avro-key", no_argument, NULL, OPT_AVRO_KEY },	/* _key is Avro too */
	{ "schema-registry", required_argument, NULL, OPT_REGISTRY },	/* registry URL */
	{ "registry-auth", required_argument, NULL, OPT_REGISTRY_AUTH },	/* USER:PASSWORD */
	{ "on-error", required_argument, NULL, OPT_ON_ERROR },	/* fail, skip or dlq */
	{ "dlq", required_argument, NULL, OPT_DLQ },		/* dead-letter stream */
	{ "max-fields", required_argument, NULL, OPT_MAX_FIELDS }, /* fields per record */
	{ "max-frame", required_argument, NULL, OPT_MAX_FRAME },	/* frame size limit */
	{ "checkpoint-dir", required_argument, NULL, OPT_CKPT_DIR },	/* counts, DLQ length */
	{ "stage-name", required_argument, NULL, OPT_STAGE_NAME },	/* checkpoint identity */
	{ "verbose", no_argument, NULL, 'v' },			/* summary, bad records */
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void usage(int status)
{
	FILE *fp = status == 0 ? stdout : stderr;

	fputs("Usage: rtai-parse [OPTION]... [FILE]...\n"
	      "Parse JSON (or CSV, TSV) payloads of an rtai stream once into typed records,\n"
	      "checked against a schema, with event times taken from a field.\n"
	      "With no FILE, or when FILE is -, read standard input (an rtai stream: pipe\n"
	      "text through rtai-cat first).\n"
	      "\n"
	      "Schema:\n"
	      "  -f, --field NAME:TYPE    declare a field; TYPE is string, int, float, bool,\n"
	      "                           time, json or bytes (base64 text in JSON); a\n"
	      "                           trailing ? makes it optional (amount:float?);\n"
	      "                           repeatable. A schema frame goes out first\n"
	      "      --schema FILE        read declarations from a JSON file:\n"
	      "                           {\"fields\":[{\"name\":\"amount\",\"type\":\"float\",\n"
	      "                           \"optional\":true}, ...], \"event_time\":\"t\"}\n"
	      "      --strict             reject records with undeclared fields\n"
	      "      --keep A,B,...       write only these fields\n"
	      "\n"
	      "Input format:\n"
	      "      --format FORMAT      json (the default), csv (RFC 4180), tsv or avro; frame\n"
	      "                           CSV with rtai-cat --format csv, whose header rows\n"
	      "                           name the columns\n"
	      "      --columns A,B,...    the CSV/TSV column names; every row is data\n"
	      "      --delimiter C        the CSV field separator (default ,)\n"
	      "      --no-infer           CSV/TSV columns without a declared type stay\n"
	      "                           strings (default: null, bool, int, float or\n"
	      "                           string by the value's text)\n"
	      "Avro (--format avro; values in the Confluent wire format: a zero byte, a\n"
	      "4-byte schema id, the Avro binary):\n"
	      "      --avro-schemas DIR   writer schemas by id, as files DIR/ID.avsc\n"
	      "      --schema-registry URL  fetch each id's schema once from a schema\n"
	      "                           registry (GET URL/schemas/ids/ID)\n"
	      "      --registry-auth USER:PASSWORD  basic authentication for the registry\n"
	      "                           (better: the RTAI_REGISTRY_AUTH variable)\n"
	      "      --avro-schema FILE   values are plain Avro binary of this schema\n"
	      "      --avro-reader-schema FILE  project each value onto this reader\n"
	      "                           schema: fields it adds take their defaults\n"
	      "      --avro-key           with --meta, the Kafka message key is in the\n"
	      "                           Confluent wire format too: _key is its value\n"
	      "\n"
	      "Event time:\n"
	      "  -t, --time-field NAME    take each record's event time from field NAME\n"
	      "                           (ISO 8601 text or an epoch number); the field\n"
	      "                           becomes a time value\n"
	      "      --time-format UNIT   unit of epoch numbers: s, ms, us, ns, or auto\n"
	      "                           (the default: decided by magnitude)\n"
	      "\n"
	      "Bad records:\n"
	      ERRPOL_HELP
	      "                           (here each dead letter is a JSON object {record,\n"
	      "                           offset, input, reason, payload})\n"
	      "      --checkpoint-dir DIR with --on-error skip or dlq: resume from DIR's\n"
	      "                           latest complete checkpoint, and snapshot the\n"
	      "                           counts and the --dlq file's length there at each\n"
	      "                           barrier, so a rerun writes no dead letter twice\n"
	      "                           (default: $RTAI_CHECKPOINT_DIR; none: off)\n"
	      "      --stage-name NAME    name this stage in DIR (two stages with the same\n"
	      "                           options in one pipeline)\n"
	      "\n"
	      "Change events:\n"
	      "      --debezium           unwrap Debezium change events: the row (after, or\n"
	      "                           before for a delete) with an _op field (c, r, u,\n"
	      "                           d), {\"_op\":\"t\"} for a truncate, and source.ts_ms\n"
	      "                           as the event time; tombstones without a key are\n"
	      "                           dropped (blank)\n"
	      "      --key A,B            with --debezium, the primary-key fields: an update\n"
	      "                           whose before image has another key is preceded by\n"
	      "                           a delete of the old key (default: the fields of\n"
	      "                           the Kafka message key, when there is one)\n"
	      "      --meta               source metadata (Kafka topic, partition, offset,\n"
	      "                           key, timestamp, headers) becomes _topic, ...\n"
	      "                           fields; a tombstone becomes \"_value\":null\n"
	      "\n"
	      "Other:\n"
	      "      --json               write JSON payloads instead of binary records\n"
	      "      --max-fields N       most fields in a record (default 4096)\n"
	      "      --max-frame BYTES    largest frame accepted (default 16777216)\n"
	      "  -v, --verbose            report each bad record, and always print the summary\n"
	      "  -h, --help               show this help and exit\n"
	      "      --version            show the version and exit\n"
	      "\n"
	      "Examples:\n"
	      "  rtai-cat clicks.jsonl | rtai-parse -t event_time | rtai-cat -p\n"
	      "  rtai-cat --format csv clicks.csv | rtai-parse --format csv -t event_time\n"
	      "  rtai-cat clicks.jsonl | rtai-parse -f user_id:string -f amount:float? \\\n"
	      "      -t event_time --on-error dlq --dlq bad.rtai >clicks.rtai\n"
	      "\n"
	      "See rtai-parse(1), rtai-record(5) and rtai(7).\n", fp);
	exit(status);
}

/* ---- the schema ------------------------------------------------------- */

static struct sfield *schema_find(const char *name, size_t nlen)
{
	for (size_t i = 0; i < opt.nschema; i++)
		if (opt.schema[i].nlen == nlen && memcmp(opt.schema[i].name, name, nlen) == 0)
			return &opt.schema[i];
	return NULL;
}

static int ftype_parse(const char *s, size_t n, enum ftype *out)
{
	for (size_t i = 0; i < sizeof(ftype_names) / sizeof(ftype_names[0]); i++)
		if (strlen(ftype_names[i]) == n && memcmp(ftype_names[i], s, n) == 0) {
			*out = (enum ftype)i;
			return 0;
		}
	return -1;
}

/* Declares a field. Returns NULL, or why it cannot be (a static string). */
static const char *schema_add(const char *name, size_t nlen, enum ftype type, int optional)
{
	static char why[320];
	struct sfield *s;

	if (nlen == 0)
		return "empty field name";
	if (nlen > 255)
		return "field name longer than 255 bytes";
	if (schema_find(name, nlen) != NULL) {
		snprintf(why, sizeof(why), "field \"%.*s\" is declared twice",
			 (int)(nlen > 255 ? 255 : nlen), name);
		return why;
	}
	opt.schema = xrealloc(opt.schema, (opt.nschema + 1) * sizeof(*opt.schema));
	s = &opt.schema[opt.nschema++];
	*s = (struct sfield){ .name = xstrndup(name, nlen), .nlen = nlen, .type = type,
			      .optional = optional, .kept = 1 };
	return NULL;
}

/* -f NAME:TYPE[?]; the name may itself hold colons (the last one counts). */
static void schema_opt(const char *arg)
{
	const char *colon = strrchr(arg, ':'), *why;
	size_t tlen;
	enum ftype type;
	int optional = 0;

	if (colon == NULL)
		cli_usage_error("-f: '%s': expected NAME:TYPE, e.g. amount:float", arg);
	tlen = strlen(colon + 1);
	if (tlen > 0 && colon[tlen] == '?') {
		optional = 1;
		tlen--;
	}
	if (ftype_parse(colon + 1, tlen, &type) < 0)
		cli_usage_error("-f: '%s': unknown type '%.*s' (expected string, int, float, bool, time, json or bytes)",
				 arg, (int)tlen, colon + 1);
	if ((why = schema_add(arg, (size_t)(colon - arg), type, optional)) != NULL)
		cli_usage_error("-f: %s", why);
}

static char *schema_time;		/* --schema's "event_time", for -t */

/* --schema FILE: {"fields": [{"name": N, "type": T, "optional": B}, ...],
 * "event_time": F}, the payload of a schema frame (rtai-record(5)). */
static void schema_file(const char *path)
{
	json_error_t e;
	json_t *root, *fields, *fd, *v;
	const char *key, *why;
	char msg[400];
	size_t i;

	root = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
	if (root == NULL)
		cli_usage_error("--schema: %s: line %d column %d: %s", path, e.line, e.column, e.text);
	msg[0] = '\0';
	if (!json_is_object(root)) {
		snprintf(msg, sizeof(msg), "expected a JSON object {\"fields\": [...]}");
		goto out;
	}
	json_object_foreach(root, key, v)
		if (strcmp(key, "fields") != 0 && strcmp(key, "event_time") != 0) {
			snprintf(msg, sizeof(msg), "unknown key \"%s\" (expected \"fields\" or \"event_time\")",
				 key);
			goto out;
		}
	v = json_object_get(root, "event_time");
	if (v != NULL && !json_is_string(v) && !json_is_null(v)) {
		snprintf(msg, sizeof(msg), "\"event_time\" must be a field name");
		goto out;
	}
	if (json_is_string(v)) {	/* after the options, if no -t */
		free(schema_time);
		schema_time = xstrdup(json_string_value(v));
	}
	fields = json_object_get(root, "fields");
	if (!json_is_array(fields)) {
		snprintf(msg, sizeof(msg), "\"fields\" must be an array");
		goto out;
	}
	json_array_foreach(fields, i, fd) {
		json_t *name = json_object_get(fd, "name"), *type = json_object_get(fd, "type");
		json_t *optional = json_object_get(fd, "optional");
		enum ftype t;

		if (!json_is_object(fd)) {
			snprintf(msg, sizeof(msg), "field %zu: expected an object", i + 1);
			goto out;
		}
		json_object_foreach(fd, key, v)
			if (strcmp(key, "name") != 0 && strcmp(key, "type") != 0 &&
			    strcmp(key, "optional") != 0) {
				snprintf(msg, sizeof(msg), "field %zu: unknown key \"%s\" (expected name, type, optional)",
					 i + 1, key);
				goto out;
			}
		if (!json_is_string(name)) {
			snprintf(msg, sizeof(msg), "field %zu: \"name\" must be a string", i + 1);
			goto out;
		}
		if (!json_is_string(type) ||
		    ftype_parse(json_string_value(type), json_string_length(type), &t) < 0) {
			snprintf(msg, sizeof(msg), "field %zu: \"type\" must be one of string, int, float, bool, time, json, bytes",
				 i + 1);
			goto out;
		}
		if (optional != NULL && !json_is_boolean(optional)) {
			snprintf(msg, sizeof(msg), "field %zu: \"optional\" must be true or false", i + 1);
			goto out;
		}
		why = schema_add(json_string_value(name), json_string_length(name), t,
				 json_is_true(optional));
		if (why != NULL) {
			snprintf(msg, sizeof(msg), "field %zu: %s", i + 1, why);
			goto out;
		}
	}
out:
	json_decref(root);
	if (msg[0] != '\0')
		cli_usage_error("--schema: %s: %s", path, msg);
}

/* --keep A,B,C and --columns A,B,C: appends the names to *list. */
static void names_opt(const char *optname, const char *arg, char ***list, size_t *n)
{
	const char *p = arg;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == 0)
			cli_usage_error("%s: '%s': empty field name", optname, arg);
		if (len > 255)
			cli_usage_error("%s: a field name longer than 255 bytes", optname);
		*list = xrealloc(*list, (*n + 1) * sizeof(**list));
		(*list)[(*n)++] = xstrndup(p, len);
		if (comma == NULL)
			break;
		p = comma + 1;
	}
}

static uint8_t keep_seen[4096];		/* --keep names found (or declared) */

static int kept(const char *name, size_t nlen)
{
	if (opt.keep == NULL)
		return 1;
	for (size_t i = 0; i < opt.nkeep; i++)
		if (strlen(opt.keep[i]) == nlen && memcmp(opt.keep[i], name, nlen) == 0) {
			if (i < sizeof(keep_seen))
				keep_seen[i] = 1;
			return 1;
		}
	return 0;
}

/* ---- state ------------------------------------------------------------- */

static struct frame_wr out;		/* stdout */
static struct errpol ep = ERRPOL_INIT;	/* --on-error, --dlq */

/* rd_on_block(): before waiting for input, the output and the dead
 * letters so far leave (a lone record at once; a DLQ whole if killed). */
static void flush_outputs(void *arg)
{
	(void)arg;
	wr_flush(&out);
	errpol_flush(&ep);
}
static struct rec in;		/* the payload as parsed */
static struct rec rec;		/* the record written */
static struct buf enc;			/* its encoding */
static struct buf seen;			/* per input field: used by the schema */
static struct buf dups;			/* hash slots for the duplicate check */
static struct buf b64;			/* a bytes field decoded from base64 */
static struct arena bytes;		/* the record's decoded bytes fields */
static struct rec mrec;		/* --meta: the source metadata */
static struct rec withmeta;	/* --meta: _ fields, then the record */
static char reason[512];		/* why the current record is bad */

static struct {
	uint64_t parsed, blank;
	uint64_t tombstones;		/* passed on as they came (no --meta) */
} count;

/* Sets the reason a record is bad; returns -1. */
static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- CSV and TSV -------------------------------------------------------- */

/* The columns of the current input: from --columns, from the header row a
 * schema frame of rtai-cat --format csv carries, or else from the input's
 * first row. Each with its -f declaration, if any. */
struct column {
	char *name;
	size_t nlen;
	const struct sfield *decl;
};
static struct csvrec csv;
static struct {
	struct column *c;
	uint32_t n;
	int known;			/* names known for the current input */
} cols;

static void columns_free(void)
{
	for (uint32_t i = 0; i < cols.n; i++)
		free(cols.c[i].name);
	free(cols.c);
	cols.c = NULL;
	cols.n = 0;
	cols.known = 0;
}

/* Names the columns from the fields of a parsed header row (or from
 * --columns when row is NULL). Returns 0, or -1 after bad(). */
static int columns_set(const struct csvrec *row)
{
	uint32_t n = row != NULL ? row->n : (uint32_t)opt.ncolumns;

	columns_free();
	cols.c = xrealloc(NULL, (n ? n : 1) * sizeof(*cols.c));
	for (uint32_t i = 0; i < n; i++) {
		const char *p = row != NULL ? csvrec_field(row, i)->p : opt.columns[i];
		size_t len = row != NULL ? csvrec_field(row, i)->n : strlen(opt.columns[i]);

		if (i == 0 && len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
			p += 3, len -= 3;	/* a byte order mark */
		if (len == 0 || len > 255) {
			cols.n = i;
			return bad("header: column %u: %s", i + 1,
				   len == 0 ? "empty name" : "name longer than 255 bytes");
		}
		for (uint32_t j = 0; j < i; j++)
			if (cols.c[j].nlen == len && memcmp(cols.c[j].name, p, len) == 0) {
				cols.n = i;
				return bad("header: column %u: \"%.*s\" is also column %u", i + 1,
					   (int)len, p, j + 1);
			}
		cols.c[i] = (struct column){ .name = xstrndup(p, len), .nlen = len,
					     .decl = schema_find(p, len) };
		cols.n = i + 1;
	}
	cols.known = 1;
	return 0;
}

/* A schema frame from rtai-cat --format csv or tsv: its header row names
 * the columns. Returns 1 when it was one (consumed), 0 for another schema
 * frame (forwarded), -1 after a message. */
static int columns_from_frame(const struct frame_rd *rd, const struct frame *f)
{
	json_t *root, *hdr, *fmt;
	int ret = 0;

	root = json_loadb((const char *)f->payload, f->len, 0, NULL);
	hdr = json_object_get(root, "header");
	fmt = json_object_get(root, "format");
	if (json_is_string(hdr) && json_is_string(fmt)) {
		ret = 1;
		if (strcmp(json_string_value(fmt), in_format_names[opt.format]) != 0) {
			cli_warn("%s: byte %llu: a %s header from rtai-cat --format %s, but --format is %s",
				  rd->name, (unsigned long long)f->offset, json_string_value(fmt),
				  json_string_value(fmt), in_format_names[opt.format]);
			ret = -1;
		} else if (opt.columns == NULL) {
			if (csvrec_parse(&csv, json_string_value(hdr), json_string_length(hdr)) < 0 ?
			    bad("header: %s", csv.err) : columns_set(&csv)) {
				cli_warn("%s: byte %llu: %s", rd->name, (unsigned long long)f->offset,
					  reason);
				ret = -1;
			}
		}
	}
	json_decref(root);
	return ret;
}

/* A CSV field's value for its column: of the declared type (a time stays
 * text, or a number, for the -t rules), or by csv_infer()'s rule. An empty
 * unquoted field is null, except in a required string column, where it is
 * the empty string. Returns 0, or -1 after bad(). */
static int csv_value(uint32_t i, const struct csvfield *f, struct val *v)
{
	const struct sfield *s = cols.c[i].decl;
	const char *why;

	if (f->null) {
		*v = s != NULL && s->type == FT_STRING && !s->optional ? val_str("", 0) : val_null();
		return 0;
	}
	if (s == NULL) {
		if (opt.no_infer)
			*v = val_str(f->p, f->n);
		else
			csv_infer(f, v);
		return 0;
	}
	switch (s->type) {
	case FT_STRING:
		*v = val_str(f->p, f->n);
		return 0;
	case FT_JSON:
		if (rec_json_check(f->p, f->n, &why) < 0)
			return bad("column %u (\"%s\"): expected json: %s", i + 1, s->name, why);
		*v = (struct val){ .type = RT_JSON, .s = { f->p, f->n } };
		return 0;
	default:
		csv_infer(f, v);
		if (s->type == FT_TIME && v->type != RT_INT && v->type != RT_FLOAT)
			*v = val_str(f->p, f->n);
		else if ((s->type == FT_INT && v->type != RT_INT) ||
			 (s->type == FT_FLOAT && v->type != RT_FLOAT && v->type != RT_INT) ||
			 (s->type == FT_BOOL && v->type != RT_TRUE && v->type != RT_FALSE))
			return bad("column %u (\"%s\"): expected %s, got \"%.*s\"", i + 1, s->name,
				   ftype_names[s->type], f->n > 40 ? 40 : (int)f->n, f->p);
		return 0;
	}
}

/* A CSV or TSV row into in. Returns 0, 1 when the row was the header, or
 * -1 after bad(). */
static int csv_decode(const struct frame *f)
{
	int n;

	if (f->enc != RTAI_E_RAW && f->enc != RTAI_E_JSON)
		return bad("payload encoding %u is not text: --format %s reads rows as rtai-cat "
			   "--format %s frames them", f->enc, in_format_names[opt.format],
			   in_format_names[opt.format]);
	n = csvrec_parse(&csv, (const char *)f->payload, f->len);
	if (n < 0)
		return bad("%s", csv.err);
	if (!cols.known)
		return columns_set(&csv) < 0 ? -1 : 1;
	if ((uint32_t)n != cols.n)
		return bad("%d field%s, the header has %u", n, n == 1 ? "" : "s", cols.n);
	rec_reset(&in);
	for (uint32_t i = 0; i < cols.n; i++) {
		struct val v;

		if (csv_value(i, csvrec_field(&csv, i), &v) < 0)
			return -1;
		rec_add(&in, cols.c[i].name, cols.c[i].nlen, v);
	}
	return 0;
}

/* ---- Avro ------------------------------------------------------------------- */

#ifdef HAVE_AVRO
static struct avrorec *avro;		/* schemas by id, the decoder */
#ifdef HAVE_CURL
static struct registry *registry;	/* --schema-registry */
#endif
static struct buf schema_text;		/* a schema being loaded */

#define PLAIN_ID (-1)			/* --avro-schema: no wire-format header */
static int64_t stream_id;		/* the stream's schema frames: the current one's id */
static int64_t stream_ids;		/* ids given to them so far (1, 2, ...) */

/* No --avro-schema, --avro-schemas or --schema-registry: the schemas come
 * from the stream's schema frames (rtai-cat --format avro). */
static int avro_from_stream(void)
{
	return opt.avro_schema == NULL && opt.avro_schemas == NULL && opt.registry == NULL;
}

/* Reads a whole (small) file into b. Returns 0, or -1 with why set. */
static int slurp(const char *path, struct buf *b, char *why, size_t cap)
{
	FILE *fp = fopen(path, "r");
	char chunk[4096];
	size_t n;

	buf_reset(b);
	if (fp == NULL) {
		snprintf(why, cap, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		if (b->len + n > (16u << 20)) {
			fclose(fp);
			snprintf(why, cap, "%s: larger than 16 MiB", path);
			return -1;
		}
		buf_append(b, chunk, n);
	}
	if (ferror(fp)) {
		snprintf(why, cap, "%s: %s", path, strerror(errno));
		fclose(fp);
		return -1;
	}
	fclose(fp);
	return 0;
}

/* Makes sure the schema of id is known, from --avro-schemas or the
 * registry; a schema that cannot be had is remembered as missing, so it is
 * looked for once. */
static void avro_load(int64_t id)
{
	char why[600];
	const char *w;

	if (avrorec_known(avro, id))
		return;
	if (opt.avro_schemas != NULL) {
		char path[4200];

		snprintf(path, sizeof(path), "%s/%lld.avsc", opt.avro_schemas, (long long)id);
		if (slurp(path, &schema_text, why, sizeof(why)) < 0) {
			char miss[700];

			snprintf(miss, sizeof(miss), "schema id %lld: %s", (long long)id, why);
			avrorec_add_missing(avro, id, miss);
			return;
		}
	} else {
#ifdef HAVE_CURL
		if (registry_get(registry, id, &schema_text, &w) < 0) {
			snprintf(why, sizeof(why), "schema id %lld: %s", (long long)id, w);
			avrorec_add_missing(avro, id, why);
			return;
		}
#else
		(void)w;
		avrorec_add_missing(avro, id, "no schema source");
		return;
#endif
	}
	if (avrorec_add_schema(avro, id, (const char *)schema_text.p, schema_text.len) < 0) {
		snprintf(why, sizeof(why), "%s", avrorec_error(avro));
		avrorec_add_missing(avro, id, why);
	}
}

/* An Avro value into in. Returns 0, or -1 after bad(). */
static int avro_decode(const struct frame *f)
{
	const uint8_t *body = f->payload;
	int64_t id = PLAIN_ID;

	if (f->enc != RTAI_E_RAW)
		return bad("payload encoding %u is not raw bytes: --format avro reads values as "
			   "rtai-kafka delivers them", f->enc);
	if (avro_from_stream()) {
		if (stream_id == 0)
			return bad("no Avro schema yet: a data frame before the stream's avro schema "
				   "frame (frame .avro files with rtai-cat --format avro, or give "
				   "--avro-schema FILE for plain Avro binary)");
		id = stream_id;
	} else if (opt.avro_schema == NULL) {
		id = avro_confluent_id(f->payload, f->len, &body);
		if (id < 0)
			return bad("not the Confluent wire format: %s (use --avro-schema FILE for plain Avro binary)",
				   f->len < 5 ? "shorter than its 5-byte header" : "the first byte is not 0");
		avro_load(id);
	}
	if (avrorec_decode(avro, id, body, f->len - (size_t)(body - f->payload), &in) < 0)
		return bad("%s", avrorec_error(avro));
	return 0;
}

/* --avro-key: the message key k (bytes, Confluent wire format) into *out,
 * copied into withmeta's arena. Returns 0, or -1 after bad(). */
static int avro_key(const struct val *k, struct rec *arena, struct val *out)
{
	const uint8_t *body;
	int64_t id = avro_confluent_id((const uint8_t *)k->s.p, k->s.n, &body);

	if (id < 0)
		return bad("the Kafka key is not in the Confluent wire format: %s",
			   k->s.n < 5 ? "shorter than its 5-byte header" : "the first byte is not 0");
	avro_load(id);
	if (avrorec_decode_value(avro, id, body, k->s.n - (size_t)(body - (const uint8_t *)k->s.p),
				 arena, out) < 0)
		return bad("the Kafka key: %s", avrorec_error(avro));
	return 0;
}

/* A schema frame from rtai-cat --format avro: {"format":"avro","schema":S}
 * makes S the writer schema of the data frames after it. Returns 1 when it
 * was one (consumed), 0 for another schema frame (forwarded), -1 after a
 * message. */
static int avro_schema_from_frame(const struct frame_rd *rd, const struct frame *f)
{
	json_t *root, *fmt, *sch;
	char *text = NULL;
	int ret = 0;

	root = json_loadb((const char *)f->payload, f->len, 0, NULL);
	fmt = json_object_get(root, "format");
	sch = json_object_get(root, "schema");
	if (json_is_string(fmt) && strcmp(json_string_value(fmt), "avro") == 0 && sch != NULL) {
		ret = 1;
		text = json_dumps(sch, JSON_COMPACT | JSON_ENCODE_ANY);
		if (text == NULL || avrorec_add_schema(avro, stream_ids + 1, text, strlen(text)) < 0) {
			cli_warn("%s: byte %llu: the avro schema frame's schema: %s", rd->name,
				  (unsigned long long)f->offset,
				  text == NULL ? "cannot be written as JSON" : avrorec_error(avro));
			ret = -1;
		} else {
			stream_id = ++stream_ids;
		}
	} else if (json_is_string(fmt) && json_object_get(root, "header") != NULL) {
		cli_warn("%s: byte %llu: a %s header from rtai-cat --format %s, but --format is avro",
			  rd->name, (unsigned long long)f->offset, json_string_value(fmt),
			  json_string_value(fmt));
		ret = -1;
	}
	free(text);
	json_decref(root);
	return ret;
}

/* Sets up --format avro from the options; exits 2 on a bad option. */
static void avro_setup(void)
{
	char why[600];
	const char *err = NULL;
	int sources = (opt.avro_schema != NULL) + (opt.avro_schemas != NULL) + (opt.registry != NULL);

	if (sources > 1)
		cli_usage_error("--format avro takes one of --avro-schemas DIR, --schema-registry URL "
				 "and --avro-schema FILE (none: the stream's schema frames)");
	if (opt.avro_reader != NULL) {
		if (slurp(opt.avro_reader, &schema_text, why, sizeof(why)) < 0)
			cli_usage_error("--avro-reader-schema: %s", why);
		avro = avrorec_new((const char *)schema_text.p, schema_text.len, &err);
		if (avro == NULL)
			cli_usage_error("--avro-reader-schema: %s: %s", opt.avro_reader, err);
	} else if ((avro = avrorec_new(NULL, 0, &err)) == NULL) {
		cli_die(RTAI_EXIT_FAIL, "%s", err);
	}
	if (opt.avro_schema != NULL) {
		if (slurp(opt.avro_schema, &schema_text, why, sizeof(why)) < 0)
			cli_usage_error("--avro-schema: %s", why);
		if (avrorec_add_schema(avro, PLAIN_ID, (const char *)schema_text.p, schema_text.len) < 0)
			cli_usage_error("--avro-schema: %s: %s", opt.avro_schema, avrorec_error(avro));
	}
	if (opt.registry != NULL) {
#ifdef HAVE_CURL
		const char *auth = opt.registry_auth != NULL ? opt.registry_auth : getenv("RTAI_REGISTRY_AUTH");

		if (auth != NULL && strchr(auth, ':') == NULL)
			cli_usage_error("--registry-auth: expected USER:PASSWORD");
		registry = registry_new(opt.registry, auth, 10000);
		if (registry == NULL)
			cli_die(RTAI_EXIT_FAIL, "--schema-registry: %s", registry_load_error());
#else
		cli_die(RTAI_EXIT_USAGE, "--schema-registry: this rtai-parse was built without libcurl "
			 "(configure found no curl/curl.h); install libcurl4-openssl-dev and rebuild, "
			 "or use --avro-schemas DIR");
#endif
	}
}

static void avro_teardown(void)
{
	avrorec_free(avro);
	avro = NULL;
#ifdef HAVE_CURL
	registry_free(registry);
	registry = NULL;
#endif
	buf_free(&schema_text);
}
#endif

/* ---- one record ---------------------------------------------------------- */

/* Field names of a binary record are not checked by the decoder: a name
 * twice is as bad as a duplicate JSON key. Hashes when the record is big. */
static int check_dups(const struct rec *r)
{
	uint32_t *slot, mask, size = 64;

	if (r->n <= 16) {
		for (uint32_t i = 1; i < r->n; i++)
			for (uint32_t j = 0; j < i; j++)
				if (r->f[i].nlen == r->f[j].nlen &&
				    memcmp(r->f[i].name, r->f[j].name, r->f[i].nlen) == 0)
					goto dup;
		return 0;
	}
	while (size < r->n * 2)
		size *= 2;
	mask = size - 1;
	buf_reset(&dups);
	slot = (uint32_t *)buf_reserve(&dups, size * sizeof(*slot));
	memset(slot, 0xff, size * sizeof(*slot));
	for (uint32_t i = 0; i < r->n; i++) {
		uint32_t h = (uint32_t)rec_hash(r->f[i].name, r->f[i].nlen, 0) & mask;

		for (; slot[h] != UINT32_MAX; h = (h + 1) & mask) {
			const struct rec_field *o = &r->f[slot[h]];

			if (o->nlen == r->f[i].nlen && memcmp(o->name, r->f[i].name, o->nlen) == 0)
				goto dup;
		}
		slot[h] = i;
	}
	return 0;
dup:
	return bad("duplicate field name in binary record");
}

/* The payload as a record, whatever its encoding. */
/* Whether text that failed as JSON looks like a CSV row: no '{' or '['
 * first, and a comma outside quotes. */
static int looks_csv(const char *p, size_t n)
{
	int q = 0;

	while (n > 0 && (*p == ' ' || *p == '\t'))
		p++, n--;
	if (n == 0 || *p == '{' || *p == '[')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"')
			q = !q;
		else if (p[i] == ',' && !q)
			return 1;
	}
	return 0;
}

static int decode(const struct frame *f)
{
#ifdef HAVE_AVRO
	if (opt.format == IN_AVRO)
		return avro_decode(f);
#endif
	if (opt.format != IN_JSON)
		return csv_decode(f);
	switch (f->enc) {
	case RTAI_E_RAW:
	case RTAI_E_JSON: {
		const char *p = (const char *)f->payload;
		size_t n = f->len;

		if (opt.debezium)
			return 0;	/* debezium() reads the text itself */
		if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
			p += 3;		/* a UTF-8 byte order mark, as a file's */
			n -= 3;		/* first line has from some editors */
		}
		if (jflat_rec_from_json(&in, p, n) < 0)
			return bad("%s%s", in.err, looks_csv(p, n) ?
				   " (this looks like CSV, not JSON: read it with --format csv)" : "");
		return 0;
	}
	case RTAI_E_REC:
		if (rec_decode(&in, f->payload, f->len) < 0)
			return bad("%s", in.err);
		return check_dups(&in);
	default:
		return bad("payload encoding %u is not a record", f->enc);
	}
}

/* --debezium: the change event of f (already decoded into in), as the
 * record to check: "_op" first, then the row's fields ({"_op":"t"} for a
 * truncate). Sets *event to the change time, and moved (with has_moved)
 * to the delete that goes before an update which changed the primary key.
 * Returns NULL after bad(), or &nothing for a tombstone without a key. */
static struct dbz_event change;		/* the event, owning the row */
static struct rec unwrapped;	/* _op and the row's fields */
static struct buf ctext;		/* a binary record as JSON text */
static struct rec nothing;		/* "no record here" */
static struct rec moved;		/* _op d and the old key's fields */
static int has_moved;			/* moved goes out before unwrapped */
static struct buf oldkey, newkey;	/* the update's keys, compared */
static struct rec kmeta;		/* the frame's source metadata */

/* Sets moved and has_moved when the update in change has a before image
 * whose primary key (--key, else the fields of the message key from kcat
 * -J or from rtai-kafka's metadata) differs from its after image's, as
 * keys compare (rtai(7), "Keys"). Without every key field in both images
 * there is nothing to compare, and no delete. */
static void key_moved(const struct frame *f)
{
	size_t n = opt.npkey;

	has_moved = 0;
	if (change.op != 'u' || !change.has_before)
		return;
	if (n == 0) {
		if (!change.has_key && f->meta != NULL &&
		    rec_decode(&kmeta, f->meta, f->meta_len) == 0) {
			const struct rec_field *k = rec_get(&kmeta, "key", 3);

			if (k != NULL && (k->v.type == RT_BYTES || k->v.type == RT_STR))
				(void)dbz_key(&change, k->v.s.p, k->v.s.n);
		}
		if (!change.has_key)
			return;
		n = change.key.n;
	}
	buf_reset(&oldkey);
	buf_reset(&newkey);
	rec_reset(&moved);
	rec_add(&moved, "_op", 3, val_str("d", 1));
	for (size_t i = 0; i < n; i++) {
		const char *name = opt.npkey ? opt.pkey[i] : change.key.f[i].name;
		size_t nlen = opt.npkey ? strlen(name) : change.key.f[i].nlen;
		const struct rec_field *b = rec_get(&change.before, name, nlen);
		const struct rec_field *a = rec_get(&change.row, name, nlen);

		if (a == NULL || b == NULL || key_part(&oldkey, &b->v) < 0 ||
		    key_part(&newkey, &a->v) < 0)
			return;
		rec_add(&moved, name, nlen, b->v);
	}
	has_moved = oldkey.len != newkey.len || memcmp(oldkey.p, newkey.p, oldkey.len) != 0;
}

static struct rec *debezium(const struct frame *f, int64_t *event)
{
	static const char *const op_names[] = { "c", "r", "u", "d", "t" };
	const char *p = (const char *)f->payload;
	size_t n = f->len;

	if (f->enc == RTAI_E_REC) {
		buf_reset(&ctext);
		rec_to_json(&in, &ctext);
		p = (const char *)ctext.p;
		n = ctext.len;
	}
	if (dbz_parse(&change, p, n, 1) < 0) {
		bad("%s", change.err);
		return NULL;
	}
	if (change.kind == DBZ_TOMBSTONE)
		return &nothing;
	key_moved(f);
	rec_reset(&unwrapped);
	for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
		if (change.op == op_names[i][0])
			rec_add(&unwrapped, "_op", 3, val_str(op_names[i], 1));
	if (change.op == 0)	/* a tombstone deleting its message key */
		rec_add(&unwrapped, "_op", 3, val_str("d", 1));
	for (uint32_t i = 0; i < change.row.n; i++)
		rec_add(&unwrapped, change.row.f[i].name, change.row.f[i].nlen, change.row.f[i].v);
	if (change.ts_ns != RTAI_TIME_UNSET)
		*event = change.ts_ns;
	return &unwrapped;
}

/* The record to check against the schema: the payload's record itself,
 * or with --debezium the row a change event carries. */
static struct rec *unwrap(const struct frame *f, struct rec *r, int64_t *event)
{
	if (opt.debezium)
		return debezium(f, event);
	return r;
}

/* Quotes a value for a message, cut short when long. */
static const char *shown(const struct val *v)
{
	static char s[80];
	struct buf b = { 0 };
	size_t n;

	val_to_json(v, &b);
	n = b.len < sizeof(s) - 1 ? b.len : sizeof(s) - 1;
	memcpy(s, b.p, n);
	if (n < b.len && n >= 3)
		memcpy(s + n - 3, "...", 3);
	s[n] = '\0';
	buf_free(&b);
	return s;
}

/* A time from a field's value, as the -t rules say. */
static int to_time(const struct rec_field *f, struct val *v)
{
	const char *why = NULL;
	int64_t t;
	int st;

	switch (f->v.type) {
	case RT_TIME:
		*v = f->v;
		return 0;
	case RT_STR:
		st = rtime_parse_time(f->v.s.p, f->v.s.n, opt.tunit, &t, &why);
		break;
	case RT_INT:
		st = rtime_epoch_i64(f->v.i, opt.tunit, &t, &why);
		break;
	case RT_FLOAT:
		st = rtime_epoch_f64(f->v.f, opt.tunit, &t, &why);
		break;
	default:
		return bad("field \"%.*s\": expected time, got %s", f->nlen, f->name,
			   rt_type_name(f->v.type));
	}
	if (st < 0 && opt.tunit != RTAI_TU_AUTO && (f->v.type == RT_INT || f->v.type == RT_FLOAT) &&
	    fabs(f->v.type == RT_INT ? (double)f->v.i : f->v.f) < 9.2e18) {
		/* A unit that reads it: "1795514400000 with --time-format s". */
		static const char *const names[] = { "auto", "s", "ms", "us", "ns" };
		enum rtime_tunit u = rtime_tunit_auto(f->v.type == RT_INT ? f->v.i
							: (int64_t)f->v.f);

		if (u != opt.tunit)
			return bad("field \"%.*s\": %s: %s with --time-format %s (its magnitude "
				   "says %s: --time-format %s, or auto)", f->nlen, f->name,
				   shown(&f->v), why, names[opt.tunit], names[u], names[u]);
	}
	if (st < 0)
		return bad("field \"%.*s\": %s: %s", f->nlen, f->name, shown(&f->v), why);
	*v = val_time(t);
	return 0;
}

/* Checks a value against a declared type; ints widen to floats, times are
 * parsed, nothing else is converted. */
static int typed(const struct sfield *s, const struct rec_field *f, struct val *v)
{
	int t = f->v.type;

	*v = f->v;
	if (t == RT_NULL) {
		if (s->optional)
			return 0;
		return bad("field \"%s\": expected %s, got null", s->name, ftype_names[s->type]);
	}
	switch (s->type) {
	case FT_STRING:
		if (t == RT_STR)
			return 0;
		break;
	case FT_INT:
		if (t == RT_INT)
			return 0;
		break;
	case FT_FLOAT:
		if (t == RT_FLOAT)
			return 0;
		if (t == RT_INT) {
			*v = val_float((double)f->v.i);
			return 0;
		}
		break;
	case FT_BOOL:
		if (t == RT_TRUE || t == RT_FALSE)
			return 0;
		break;
	case FT_TIME:
		return to_time(f, v);
	case FT_JSON:
		if (t == RT_JSON)
			return 0;
		break;
	case FT_BYTES:
		if (t == RT_BYTES)
			return 0;
		if (t == RT_STR) {	/* JSON has no bytes: base64 text */
			buf_reset(&b64);
			if (buf_get_base64(&b64, f->v.s.p, f->v.s.n) < 0)
				return bad("field \"%s\": expected bytes as base64 text, got %s",
					   s->name, shown(&f->v));
			*v = val_bytes(b64.len ? arena_dup(&bytes, b64.p, b64.len) : "", b64.len);
			return 0;
		}
		break;
	}
	return bad("field \"%s\": expected %s, got %s", s->name, ftype_names[s->type],
		   rt_type_name(t));
}

static int is_time_field(const char *name, size_t nlen)
{
	return opt.time_field != NULL && nlen == opt.time_nlen &&
	       memcmp(name, opt.time_field, nlen) == 0;
}

/* --debezium's "_op": not a field of the row, so no schema option drops
 * or refuses it. */
static int is_op(const char *name, size_t nlen)
{
	return opt.debezium && nlen == 3 && memcmp(name, "_op", 3) == 0;
}

/* Builds rec from r under the schema: declared fields in their order, then
 * the others in theirs. Sets *event from the -t field (left alone when the
 * field is optional and missing). partial: r is a truncate or a delete of
 * a moved key, which carries only some fields: a missing field is no
 * error. */
static int shape(const struct rec *r, int64_t *event, int partial)
{
	uint8_t *used;
	int found_time = 0;

	rec.n = 0;
	arena_reset(&bytes);
	used = NULL;
	if (opt.nschema > 0) {		/* which fields the schema took */
		buf_reset(&seen);
		used = buf_reserve(&seen, r->n + 1);
		memset(used, 0, r->n);
	}
	for (size_t k = 0; k < opt.nschema; k++) {
		const struct sfield *s = &opt.schema[k];
		struct val v;
		uint32_t i;

		for (i = 0; i < r->n; i++)
			if (r->f[i].nlen == s->nlen && memcmp(r->f[i].name, s->name, s->nlen) == 0)
				break;
		if (i == r->n) {
			if (s->optional || partial)
				continue;
			return bad("field \"%s\": missing%s", s->name,
				   is_time_field(s->name, s->nlen) ? " (the -t time field)" : "");
		}
		used[i] = 1;
		if (typed(s, &r->f[i], &v) < 0)
			return -1;
		if (is_time_field(s->name, s->nlen) && v.type == RT_TIME) {
			*event = v.i;
			found_time = 1;
		}
		if (s->kept)
			rec_add(&rec, r->f[i].name, r->f[i].nlen, v);
	}
	for (uint32_t i = 0; i < r->n; i++) {
		const struct rec_field *f = &r->f[i];
		struct val v = f->v;

		if (used != NULL && used[i])
			continue;
		if (is_time_field(f->name, f->nlen)) {
			if (to_time(f, &v) < 0)
				return -1;
			*event = v.i;
			found_time = 1;
		} else if (opt.strict && !is_op(f->name, f->nlen)) {
			return bad("field \"%.*s\": not in the schema (--strict)", f->nlen, f->name);
		}
		if (kept(f->name, f->nlen) || is_op(f->name, f->nlen))
			rec_add(&rec, f->name, f->nlen, v);
	}
	if (opt.time_field != NULL && !found_time && !partial &&
	    schema_find(opt.time_field, opt.time_nlen) == NULL)
		return bad("field \"%s\": missing (the -t time field)", opt.time_field);
	return 0;
}

static int blank(const struct frame *f)
{
	if (f->enc != RTAI_E_RAW && f->enc != RTAI_E_JSON)
		return 0;
	for (uint32_t i = 0; i < f->len; i++)
		if (f->payload[i] != ' ' && f->payload[i] != '\t' && f->payload[i] != '\r' &&
		    f->payload[i] != '\n')
			return 0;
	return 1;
}

/* ---- bad records ----------------------------------------------------------- */

/* The dead letter of a bad record (errpol's letter; arg is the reader): a
 * JSON object holding where it was, why it was refused, and its payload as
 * text, so it can be fixed and replayed (see rtai-parse(1)). */
static int dead_letter(void *arg, const struct frame *f, const char *why,
		       struct buf *dbuf, uint8_t *denc)
{
	static const char hex[] = "0123456789abcdef";
	const struct frame_rd *rd = arg;

	buf_printf(dbuf, "{\"record\":%llu,\"offset\":%llu,\"input\":",
		   (unsigned long long)rd->nrec, (unsigned long long)f->offset);
	json_put_str(dbuf, rd->name, strlen(rd->name));
	buf_puts(dbuf, ",\"reason\":");
	json_put_str(dbuf, why, strlen(why));
	buf_puts(dbuf, ",\"payload\":");
	if (f->enc != RTAI_E_REC) {
		json_put_str(dbuf, (const char *)f->payload, f->len);
	} else if (rec_decode(&in, f->payload, f->len) == 0) {
		/* A binary record travels as its JSON text. */
		struct buf t = { 0 };

		rec_to_json(&in, &t);
		json_put_str(dbuf, (const char *)t.p, t.len);
		buf_free(&t);
	} else {
		buf_puts(dbuf, "null,\"payload_hex\":\"");
		for (uint32_t i = 0; i < f->len; i++) {
			buf_putc(dbuf, (uint8_t)hex[f->payload[i] >> 4]);
			buf_putc(dbuf, (uint8_t)hex[f->payload[i] & 15]);
		}
		buf_putc(dbuf, '"');
	}
	buf_putc(dbuf, '}');
	*denc = RTAI_E_JSON;
	return 0;
}

/* Applies --on-error to the record in f. Returns 0 to go on, -1 to stop. */
static int refuse(const struct frame_rd *rd, const struct frame *f)
{
	char where[1024];

	snprintf(where, sizeof(where), "%s: record %llu (byte %llu): %s", rd->name,
		 (unsigned long long)rd->nrec, (unsigned long long)f->offset, reason);
	ep.letter_arg = (void *)(uintptr_t)rd;
	return errpol_refuse(&ep, f, where, reason);
}

/* ---- the main loop ---------------------------------------------------------- */

/* --meta: the source metadata of f as fields named with a '_' before
 * (_topic, _partition, ...), then the fields of r, or "_value": null for a
 * tombstone (r NULL). Returns the record, or NULL after bad(). */
static struct rec *with_meta(const struct frame *f, struct rec *r)
{
	char name[256];
	struct val v;

	rec_reset(&withmeta);
	if (f->meta != NULL) {
		if (rec_decode(&mrec, f->meta, f->meta_len) < 0) {
			bad("source metadata: %s", mrec.err);
			return NULL;
		}
		for (uint32_t i = 0; i < mrec.n; i++) {
			const struct rec_field *m = &mrec.f[i];

			if (m->nlen == 255) {
				bad("source metadata: field name of 255 bytes leaves no room for '_'");
				return NULL;
			}
			name[0] = '_';
			memcpy(name + 1, m->name, m->nlen);
			if (r != NULL && rec_get(r, name, m->nlen + 1U) != NULL) {
				bad("field \"%.*s\" is both in the record and in its source metadata",
				    m->nlen + 1, name);
				return NULL;
			}
			v = m->v;
#ifdef HAVE_AVRO
			if (opt.avro_key && v.type == RT_BYTES && m->nlen == 3 &&
			    memcmp(m->name, "key", 3) == 0 && avro_key(&m->v, &withmeta, &v) < 0)
				return NULL;
#endif
			rec_add(&withmeta, rec_strdup(&withmeta, name, m->nlen + 1U), m->nlen + 1U, v);
		}
	}
	if (r == NULL) {
		rec_add(&withmeta, "_value", 6, val_null());
		return &withmeta;
	}
	for (uint32_t i = 0; i < r->n; i++)
		rec_add(&withmeta, r->f[i].name, r->f[i].nlen, r->f[i].v);
	return &withmeta;
}

static struct buf menc;			/* the delete of a moved key, encoded */

/* Encodes rec into b. */
static void encode(struct buf *b)
{
	buf_reset(b);
	if (opt.json)
		rec_to_json(&rec, b);
	else
		rec_encode(&rec, b);
}

/* Writes the record encoded in b for frame f. The metadata goes on with
 * the record, unless --meta made it fields. */
static void write_out(const struct frame *f, int64_t event, const struct buf *b)
{
	wr_put_meta(&out, RTAI_K_DATA, opt.json ? RTAI_E_JSON : RTAI_E_REC,
		    f->flags & ~RTAI_F_TOMBSTONE, f->ingest_ns, event,
		    opt.meta ? NULL : f->meta, f->meta_len, b->p, b->len);
}

/* One data frame: parse, unwrap, check, write. Returns 0, or -1 on a bad
 * record under --on-error fail. */
static int parse_one(const struct frame_rd *rd, const struct frame *f)
{
	struct rec *r = NULL;
	int64_t event = f->event_ns;
	int tombstone = (f->flags & RTAI_F_TOMBSTONE) != 0;
	int st;

	has_moved = 0;

	if (tombstone && !opt.meta) {
		/* No value to parse: a delete, for the stages after. */
		wr_frame(&out, f);
		count.tombstones++;
		return 0;
	}
	if (!tombstone) {
		if (blank(f)) {
			count.blank++;
			return 0;
		}
		if ((st = decode(f)) < 0 || (r = unwrap(f, &in, &event)) == NULL)
			return refuse(rd, f);
		if (st == 1)		/* a CSV header row */
			return 0;
		if (r == &nothing) {
			count.blank++;
			return 0;
		}
	}
	if (opt.meta && (r = with_meta(f, r)) == NULL)
		return refuse(rd, f);
	if (shape(r, &event, r == &unwrapped && change.kind == DBZ_TRUNCATE) < 0)
		return refuse(rd, f);
	encode(&enc);
	if (has_moved) {
		/* The old key goes first, at the update's time. */
		if ((opt.meta && (r = with_meta(f, &moved)) == NULL) ||
		    shape(opt.meta ? r : &moved, &event, 1) < 0)
			return refuse(rd, f);
		encode(&menc);
		write_out(f, event, &menc);
	}
	write_out(f, event, &enc);
	count.parsed++;
	return 0;
}

/* The schema frame (rtai-record(5)), for the stages after: the declared
 * fields that are written, and the -t field, which becomes a time. With
 * --debezium, _op comes first and every other field is optional: a
 * truncate, or the delete of a moved key, carries only some. */
static void put_schema(void)
{
	struct buf b = { 0 };
	int n = 0;

	buf_puts(&b, "{\"fields\":[");
	if (opt.debezium) {
		buf_puts(&b, "{\"name\":\"_op\",\"type\":\"string\",\"optional\":false}");
		n++;
	}
	for (size_t i = 0; i < opt.nschema; i++) {
		const struct sfield *s = &opt.schema[i];

		if (!s->kept)
			continue;
		buf_puts(&b, n++ ? ",{\"name\":" : "{\"name\":");
		json_put_str(&b, s->name, s->nlen);
		buf_printf(&b, ",\"type\":\"%s\",\"optional\":%s}", ftype_names[s->type],
			   s->optional || opt.debezium ? "true" : "false");
	}
	if (opt.time_field != NULL && schema_find(opt.time_field, opt.time_nlen) == NULL &&
	    kept(opt.time_field, opt.time_nlen)) {
		buf_puts(&b, n++ ? ",{\"name\":" : "{\"name\":");
		json_put_str(&b, opt.time_field, opt.time_nlen);
		buf_printf(&b, ",\"type\":\"time\",\"optional\":%s}",
			   opt.debezium ? "true" : "false");
	}
	buf_puts(&b, "]");
	if (opt.time_field != NULL) {
		buf_puts(&b, ",\"event_time\":");
		json_put_str(&b, opt.time_field, opt.time_nlen);
	}
	buf_putc(&b, '}');
	wr_put(&out, RTAI_K_SCHEMA, RTAI_E_JSON, 0, cli_now_ns(), RTAI_TIME_UNSET, b.p, b.len);
	buf_free(&b);
}

/* Parses one input. Returns 0, or -1 after a message. */
/* ---- checkpoints (rtai(7) "Checkpoints") ------------------------------- */

/* Under --on-error skip or dlq rtai-parse keeps what a rerun must not
 * lose nor repeat: its counts (the summary and the all-dropped status span
 * restarts) and how far the dead-letter stream was written. The records
 * after a checkpoint come again on a rerun, and so would their dead
 * letters: the --dlq file is cut back to its length at the checkpoint
 * (errpol_open after errpol_load). Under fail it holds nothing (a refused
 * record stops it) and forwards barriers as a stateless stage. */
static struct ckpt *ck;			/* checkpoints; NULL when off */
static struct rec brec;		/* scratch for barrier_decode */
static int ckpt_failed;			/* a checkpoint could not be written */

#define STATE_TAG "rtai-parse 1"

static void save_state(struct buf *b, void *arg)
{
	(void)arg;
	snap_bytes(b, STATE_TAG, strlen(STATE_TAG));
	snap_u64(b, count.parsed);
	snap_u64(b, count.blank);
	snap_u64(b, count.tombstones);
	errpol_save(&ep, b);
}

/* Loads what save_state() wrote. Returns 0, or -1 with err set. */
static int load_state(const uint8_t *p, size_t n, char *err, size_t errlen)
{
	struct snap_rd r;

	if (snap_open_tagged(&r, p, n, STATE_TAG, "rtai-parse", err, errlen) < 0)
		return -1;
	count.parsed = snap_get_u64(&r);
	count.blank = snap_get_u64(&r);
	count.tombstones = snap_get_u64(&r);
	errpol_load(&ep, &r);
	return snap_close_tagged(&r, 1, err, errlen);
}

/* Takes part in checkpoints when they are on (--checkpoint-dir or
 * $RTAI_CHECKPOINT_DIR) and the policy keeps counts (skip, dlq), and loads
 * the latest complete checkpoint, if any. Returns 0, or an exit status
 * after a message. */
static int ckpt_start(int argc, char **argv)
{
	const char *dir = opt.ckpt_dir != NULL ? opt.ckpt_dir : getenv("RTAI_CHECKPOINT_DIR");
	int64_t id;

	if (dir == NULL || dir[0] == '\0' || ep.mode == ERRPOL_FAIL)
		return 0;
	return ckpt_stage(&ck, &id, "rtai-parse", dir, argc, argv, opt.stage_name, load_state);
}

/* A barrier: every dead letter before it made durable (errpol_sync), the
 * counts and the DLQ's length written as this stage's snapshot (in the
 * background), then the barrier goes on. Returns 0, or -1 after a
 * message: the checkpoint cannot complete, and the run stops. */
static int on_barrier(const struct frame_rd *rd, const struct frame *f)
{
	struct barrier b;
	char err[1024];

	if (barrier_read(rd, f, &brec, &b) < 0) {
		ckpt_failed = 1;
		return -1;
	}
	if (errpol_sync(&ep, err, sizeof(err)) < 0 ||
	    ckpt_write_bg(ck, b.checkpoint, save_state, NULL, err, sizeof(err)) < 0) {
		cli_warn("checkpoint %lld: %s", (long long)b.checkpoint, err);
		ckpt_failed = 1;
		return -1;
	}
	wr_frame(&out, f);
	wr_flush(&out);
	return 0;
}

static int parse_input(const char *path)
{
	struct frame_rd rd;
	struct frame f;
	int st, ret = 0;

	if (rd_open(&rd, path) < 0) {
		cli_warn("%s", rd.err);
		return -1;
	}
	rd_on_block(&rd, flush_outputs, NULL);
#ifdef HAVE_AVRO
	stream_id = 0;		/* each input has its own schema frames */
#endif
	if (opt.format == IN_CSV || opt.format == IN_TSV) {	/* each input has its own header */
		if (opt.columns != NULL)
			columns_set(NULL);	/* checked at start */
		else
			columns_free();
	}
	while ((st = rd_frame(&rd, &f)) > 0) {
#ifdef HAVE_AVRO
		if (f.kind == RTAI_K_SCHEMA && opt.format == IN_AVRO && avro_from_stream()) {
			int h = avro_schema_from_frame(&rd, &f);

			if (h < 0) {
				ret = -2;
				break;
			}
			if (h == 0 && opt.nschema == 0)
				wr_frame(&out, &f);
			continue;
		}
#endif
		if (f.kind == RTAI_K_SCHEMA && (opt.format == IN_CSV || opt.format == IN_TSV)) {
			int h = columns_from_frame(&rd, &f);

			if (h < 0) {
				ret = -2;
				break;
			}
			if (h == 0 && opt.nschema == 0)	/* else ours replaces it */
				wr_frame(&out, &f);
		} else if (f.kind == RTAI_K_DATA) {
			if (parse_one(&rd, &f) < 0) {
				ret = -2;
				break;
			}
		} else if (f.kind == RTAI_K_MARKER) {
			wr_marker(&out, &f, "rtai-parse");
		} else if (f.kind == RTAI_K_BARRIER && ck != NULL) {
			if (on_barrier(&rd, &f) < 0) {
				ret = -2;
				break;
			}
		} else if (f.kind == RTAI_K_SCHEMA && opt.nschema > 0) {
			continue;	/* ours, written at the start, replaces it */
		} else {
			wr_frame(&out, &f);
		}
	}
	if (st < 0) {
		cli_warn("%s", rd.err);
		ret = -1;
	}
	rd_close(&rd);
	return ret;
}

/* A --keep name that no record had nor the schema declares is most likely
 * misspelt: named at the end. */
static void warn_unseen_keep(void)
{
	uint64_t n = count.parsed + errpol_dropped(&ep);

	for (size_t i = 0; i < opt.nkeep && i < sizeof(keep_seen) && n > 0; i++)
		if (!keep_seen[i])
			cli_warn("--keep field \"%s\" never occurred in %llu record%s (misspelt?)",
				  opt.keep[i], (unsigned long long)n, n == 1 ? "" : "s");
}

/* The counts, one line through cli_warn, the shared message helper (that
 * a line leaves in one write, whoever else writes to the same file, is
 * cli_init's line-buffered stderr). */
static void summary(void)
{
	char tomb[64] = "";

	if (errpol_dropped(&ep) + count.blank == 0 && !ep.verbose)
		return;
	if (count.tombstones > 0)
		snprintf(tomb, sizeof(tomb), ", %llu tombstones passed on",
			 (unsigned long long)count.tombstones);
	cli_warn("%llu parsed, %llu skipped, %llu dead-lettered, %llu blank%s%s%s",
		 (unsigned long long)count.parsed, (unsigned long long)ep.skipped,
		 (unsigned long long)ep.dead, (unsigned long long)count.blank, tomb,
		 ep.first[0] != '\0' && !ep.verbose ? "; first: " : "",
		 ep.first[0] != '\0' && !ep.verbose ? ep.first : "");
}

int main(int argc, char **argv)
{
	static char *stdin_only[] = { "-", NULL };
	const char *max_frame = NULL, *max_fields = NULL;
	char **files, **argv0 = argv;
	int c, nfiles, st = 0, status = RTAI_EXIT_OK, argc0 = argc;

	cli_init("rtai-parse", argv);
	while ((c = getopt_long(argc, argv, "f:t:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': schema_opt(optarg); break;
		case OPT_SCHEMA: schema_file(optarg); break;
		case 't':
			if (optarg[0] == '\0')
				cli_usage_error("-t: empty field name");
			opt.time_field = optarg;
			opt.time_nlen = strlen(optarg);
			break;
		case OPT_TIME_FORMAT:
			if (rtime_parse_tunit(optarg, &opt.tunit) < 0)
				cli_usage_error("--time-format: '%s': expected s, ms, us, ns or auto", optarg);
			break;
		case OPT_STRICT: opt.strict = 1; break;
		case OPT_KEEP: names_opt("--keep", optarg, &opt.keep, &opt.nkeep); break;
		case OPT_FORMAT:
			for (c = 0; c < 4 && strcmp(optarg, in_format_names[c]) != 0; c++)
				;
			if (c == 4)
				cli_usage_error("--format: '%s': expected json, csv, tsv or avro", optarg);
			opt.format = (enum in_format)c;
#ifndef HAVE_AVRO
			if (opt.format == IN_AVRO)
				cli_die(RTAI_EXIT_USAGE, "--format avro: this rtai-parse was built without "
					 "libavro (configure found no avro.h); install libavro-dev and rebuild");
#endif
#ifndef HAVE_CSV
			if (opt.format == IN_CSV)
				cli_die(RTAI_EXIT_USAGE, "--format csv: this rtai-parse was built without "
					 "libcsv (configure found no csv.h); install libcsv-dev and rebuild");
#endif
			break;
		case OPT_COLUMNS: names_opt("--columns", optarg, &opt.columns, &opt.ncolumns); break;
		case OPT_DELIMITER:
			if (strlen(optarg) != 1 || optarg[0] == '"' || optarg[0] == '\n' || optarg[0] == '\r')
				cli_usage_error("--delimiter: '%s': expected one character other than a quote or a newline",
						 optarg);
			opt.delim = (unsigned char)optarg[0];
			break;
		case OPT_NO_INFER: opt.no_infer = 1; break;
		case OPT_AVRO_SCHEMA: opt.avro_schema = optarg; break;
		case OPT_AVRO_SCHEMAS: opt.avro_schemas = optarg; break;
		case OPT_AVRO_READER: opt.avro_reader = optarg; break;
		case OPT_AVRO_KEY: opt.avro_key = 1; break;
		case OPT_REGISTRY: opt.registry = optarg; break;
		case OPT_REGISTRY_AUTH: opt.registry_auth = optarg; break;
		case OPT_JSON: opt.json = 1; break;
		case OPT_DEBEZIUM: opt.debezium = 1; break;
		case OPT_KEY: names_opt("--key", optarg, &opt.pkey, &opt.npkey); break;
		case OPT_META: opt.meta = 1; break;
		case OPT_ON_ERROR: errpol_mode_arg(&ep, optarg); break;
		case OPT_DLQ: errpol_dlq_arg(&ep, optarg); break;
		case OPT_MAX_FIELDS: max_fields = optarg; break;
		case OPT_MAX_FRAME: max_frame = optarg; break;
		case OPT_CKPT_DIR: opt.ckpt_dir = optarg; break;
		case OPT_STAGE_NAME: opt.stage_name = optarg; break;
		case 'v': ep.verbose = 1; break;
		case 'h': usage(RTAI_EXIT_OK); break;
		case OPT_VERSION: cli_version(); break;
		default: cli_usage_hint();
		}
	}
	argc -= optind;
	argv += optind;
	rd_set_max_frame(max_frame);
	rec_set_max_fields(max_fields);
	if (opt.time_field == NULL && schema_time != NULL) {
		opt.time_field = schema_time;
		opt.time_nlen = strlen(schema_time);
	}
	errpol_check(&ep);
	if (opt.strict && opt.nschema == 0)
		cli_usage_error("--strict needs a schema (-f or --schema)");
	if (opt.time_field != NULL) {
		struct sfield *s = schema_find(opt.time_field, opt.time_nlen);

		if (s != NULL && s->type != FT_TIME)
			cli_usage_error("-t %s: the field is declared %s; the time field must be of type time",
					 opt.time_field, ftype_names[s->type]);
	}
	for (size_t i = 0; i < opt.nschema; i++)
		opt.schema[i].kept = kept(opt.schema[i].name, opt.schema[i].nlen);
	if ((opt.format == IN_JSON || opt.format == IN_AVRO) &&
	    (opt.columns != NULL || opt.delim != ',' || opt.no_infer))
		cli_usage_error("--columns, --delimiter and --no-infer need --format csv or tsv");
	if (opt.format != IN_AVRO && (opt.avro_schema != NULL || opt.avro_schemas != NULL ||
				      opt.avro_reader != NULL || opt.registry != NULL ||
				      opt.registry_auth != NULL || opt.avro_key))
		cli_usage_error("--avro-schema, --avro-schemas, --avro-reader-schema, --avro-key, "
				 "--schema-registry and --registry-auth need --format avro");
	if (opt.avro_key && !opt.meta)
		cli_usage_error("--avro-key decodes the key into the _key field: it needs --meta");
	if (opt.avro_key && opt.avro_schemas == NULL && opt.registry == NULL)
		cli_usage_error("--avro-key: Avro keys carry a schema id: give --avro-schemas DIR or "
				 "--schema-registry URL");
	if (opt.format == IN_TSV && opt.delim != ',')
		cli_usage_error("--delimiter: TSV fields are always separated by tabs");
	if (opt.pkey != NULL && !opt.debezium)
		cli_usage_error("--key needs --debezium (it names the key of change events)");
	if (opt.format != IN_JSON && opt.debezium)
		cli_usage_error("--debezium reads JSON change events, not --format %s",
				 in_format_names[opt.format]);
#ifdef HAVE_AVRO
	if (opt.format == IN_AVRO)
		avro_setup();
#endif
	if (opt.format == IN_CSV || opt.format == IN_TSV) {
		if (csvrec_init(&csv, opt.delim, opt.format == IN_TSV) < 0)
			cli_die(RTAI_EXIT_FAIL, "%s", csv.err);
		if (opt.columns != NULL && columns_set(NULL) < 0)
			cli_usage_error("--columns: %s", reason);
	}
	files = argc > 0 ? argv : stdin_only;
	nfiles = argc > 0 ? argc : 1;

	sig_catch_stop();
	sig_from_operands(argc, argv);
	if ((status = ckpt_start(argc0, argv0)) != 0)
		goto done;
	wr_open_fd(&out, 1, "stdout", 0);
	if (opt.nschema > 0)
		put_schema();
	ep.letter = dead_letter;
	errpol_open(&ep);
	for (int i = 0; i < nfiles && !sig_stop; i++) {
		st = parse_input(files[i]);
		if (st < 0)
			status = rd_cut_seen ? RTAI_EXIT_CUT : RTAI_EXIT_FAIL;
		if (st == -2)
			break;
	}
	if (ck != NULL) {
		char err[1024];

		/* The last snapshot in place before the end of the stream. */
		if (ckpt_wait(ck, err, sizeof(err)) < 0) {
			cli_warn("%s", err);
			ckpt_failed = 1;
		}
	}
	if (ckpt_failed && status == RTAI_EXIT_OK)
		status = RTAI_EXIT_FAIL;
	summary();
	warn_unseen_keep();
	if (st == -2 || ckpt_failed) {	/* stopped by --on-error fail: not a clean end */
		wr_abandon(&out);
	} else {
		wr_close(&out);
	}
	errpol_close(&ep);
	status = errpol_status(&ep, count.parsed + errpol_dropped(&ep), status, "parsed");
done:
	ckpt_close(ck);
	rec_free(&brec);

	rec_free(&in);
	rec_free(&rec);
	csvrec_free(&csv);
	columns_free();
#ifdef HAVE_AVRO
	avro_teardown();
#endif
	for (size_t i = 0; i < opt.ncolumns; i++)
		free(opt.columns[i]);
	free(opt.columns);
	dbz_free(&change);
	rec_free(&unwrapped);
	rec_free(&moved);
	rec_free(&kmeta);
	buf_free(&oldkey);
	buf_free(&newkey);
	buf_free(&menc);
	for (size_t i = 0; i < opt.npkey; i++)
		free(opt.pkey[i]);
	free(opt.pkey);
	buf_free(&ctext);
	buf_free(&enc);
	errpol_free(&ep);
	buf_free(&seen);
	buf_free(&dups);
	buf_free(&b64);
	arena_free(&bytes);
	rec_free(&mrec);
	rec_free(&withmeta);
	for (size_t i = 0; i < opt.nschema; i++)
		free(opt.schema[i].name);
	free(opt.schema);
	free(schema_time);
	for (size_t i = 0; i < opt.nkeep; i++)
		free(opt.keep[i]);
	free(opt.keep);
	return status;
}
