/* rtai-sink-lake - the feature history as a partitioned Parquet table
 * under a Delta Lake log.
 *
 * Records become rows of Parquet files (lib/pq.h), one open file per
 * partition (the event time's UTC date and hour, or chosen fields), under
 * TABLE_DIR. Files are made visible by commits to the table's Delta log
 * (lib/delta.h): without checkpoints each roll of the files is a commit;
 * with checkpoint barriers in the stream, the files of checkpoint N are
 * committed together with a txn action (this sink's --app-id, version N),
 * so that a replay after a crash skips what was committed and removes what
 * was not. --optimize compacts a partition's small files; --vacuum deletes
 * the files that no version needs any more.
 *
 * Checkpoints (--checkpoint-dir, $RTAI_CHECKPOINT_DIR; lib/ckpt.h): the
 * sink is a stage of the pipeline's checkpoints, and they imply
 * --exactly-once. It commits in two phases (Flink's two-phase commit
 * sink): at barrier N its files are closed and fsynced and listed in its
 * snapshot of N (pre-commit); N's commit comes once checkpoint N is
 * complete; resuming N, what N's snapshot lists and the table lacks is
 * committed (recover). Files of checkpoints after N are in no version:
 * removed at start. A table that lacks commits or files the checkpoint
 * resumed needs is refused (exit 6).
 */
#include "config.h"

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ackq.h"
#include "buf.h"
#include "ckpt.h"
#include "cli.h"
#include "delta.h"
#include "errpol.h"
#include "frame.h"
#include "loop.h"
#include "pq.h"
#include "rec.h"
#include "rtime.h"
#include "sig.h"
#include "snap.h"

#define STAGE "rtai-sink-lake"
#define T_BYTES 8		/* RT_BYTES (decisions.md), once rec.h has it */
#define MAX_OPEN 64		/* open files at most; more closes them all */
#define HOUR_NS (3600 * RTAI_NS_PER_SEC)

/* ---- options ---------------------------------------------------------- */

static struct {
	char **pby;			/* --partition-by fields, or NULL: dt, hr */
	size_t npby;
	enum pq_codec codec;		/* --compression */
	long long roll_rows;		/* --roll-rows: rows per file at most */
	long long roll_bytes;		/* --roll-bytes: bytes per file at most */
	int64_t roll_interval;		/* --roll-interval, ns; 0 = never by time */
	long long rg_rows;		/* --row-group-rows */
	const char *app_id;		/* --app-id: this sink's txn appId */
	int exactly_once;		/* --exactly-once: commit only at barriers */
	int pass;			/* --pass: forward frames once committed */
	int optimize;			/* --optimize: compact small files */
	int64_t vacuum;			/* --vacuum RETENTION, ns; -1 = not asked */
	int verbose;			/* -v: counts and commits on stderr */
	const char *ckpt_dir;		/* --checkpoint-dir, else $RTAI_CHECKPOINT_DIR */
	const char *stage_name;		/* --stage-name */
} opt = {
	.codec = PQ_ZSTD,
	.roll_rows = 1000000,
	.roll_bytes = 128ll << 20,
	.roll_interval = 300 * RTAI_NS_PER_SEC,
	.rg_rows = 122880,
	.app_id = STAGE,
	.vacuum = -1,
};

enum {
	OPT_COMPRESSION = 256, OPT_ROLL_ROWS, OPT_ROLL_BYTES, OPT_ROLL_INTERVAL,
	OPT_RG_ROWS, OPT_APP_ID, OPT_EXACTLY_ONCE, OPT_PASS, OPT_ON_ERROR, OPT_DLQ,
	OPT_OPTIMIZE, OPT_VACUUM, OPT_MAX_FRAME, OPT_VERSION, OPT_CHECKPOINT_DIR,
	OPT_STAGE_NAME,
};

static const struct option longopts[] = {
	{ "partition-by", required_argument, NULL, 'p' },	/* fields, a,b */
	{ "compression", required_argument, NULL, OPT_COMPRESSION },	/* zstd|snappy|none */
	{ "roll-rows", required_argument, NULL, OPT_ROLL_ROWS },	/* rows per file */
	{ "roll-bytes", required_argument, NULL, OPT_ROLL_BYTES },	/* bytes per file */
	{ "roll-interval", required_argument, NULL, OPT_ROLL_INTERVAL },	/* file age */
	{ "row-group-rows", required_argument, NULL, OPT_RG_ROWS },	/* rows per row group */
	{ "app-id", required_argument, NULL, OPT_APP_ID },	/* txn appId, file prefix */
	{ "exactly-once", no_argument, NULL, OPT_EXACTLY_ONCE },	/* commit at barriers only */
	{ "pass", no_argument, NULL, OPT_PASS },		/* forward committed frames */
	{ "on-error", required_argument, NULL, OPT_ON_ERROR },	/* fail|skip|dlq */
	{ "dlq", required_argument, NULL, OPT_DLQ },		/* dead-letter stream */
	{ "optimize", no_argument, NULL, OPT_OPTIMIZE },	/* compact small files */
	{ "vacuum", required_argument, NULL, OPT_VACUUM },	/* delete old unused files */
	{ "verbose", no_argument, NULL, 'v' },			/* counts on stderr */
	{ "max-frame", required_argument, NULL, OPT_MAX_FRAME },	/* frame size limit */
	{ "checkpoint-dir", required_argument, NULL, OPT_CHECKPOINT_DIR },	/* DIR */
	{ "stage-name", required_argument, NULL, OPT_STAGE_NAME },	/* name in DIR */
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void usage(int status)
{
	FILE *fp = status == 0 ? stdout : stderr;

	fputs("Usage: rtai-sink-lake [OPTION]... TABLE_DIR\n"
	      "       rtai-sink-lake --optimize [OPTION]... TABLE_DIR\n"
	      "       rtai-sink-lake --vacuum RETENTION TABLE_DIR\n"
	      "Write the records of the rtai stream on standard input as a partitioned Parquet\n"
	      "table with a Delta Lake log, that DuckDB, Spark and others read while it grows.\n"
	      "\n"
	      "Layout:\n"
	      "  -p, --partition-by A,B   partition by these fields (string partition columns,\n"
	      "                           not stored in the files); default: the event time's\n"
	      "                           UTC date and hour, dt=YYYY-MM-DD/hr=HH\n"
	      "      --compression C      zstd (the default), snappy or none\n"
	      "      --row-group-rows N   rows per row group (default 122880)\n"
	      "\n"
	      "Files and commits:\n"
	      "      --roll-rows N        start a new file after N rows (default 1000000)\n"
	      "      --roll-bytes SIZE    ... after about SIZE bytes (default 128M; K, M, G)\n"
	      "      --roll-interval DUR  ... when a file is DUR old (default 5m; 0: never)\n"
	      "      --exactly-once       commit only at checkpoint barriers, each with a txn\n"
	      "                           action; on by itself once a barrier arrives or the\n"
	      "                           log holds a txn of this --app-id\n"
	      "      --app-id ID          this sink's id in txn actions and file names\n"
	      "                           (default rtai-sink-lake; one per writer of a table)\n"
	      "      --pass               write each frame to standard output once the commit\n"
	      "                           holding it is durable (with checkpoints: once its\n"
	      "                           files are staged), in input order\n"
	      ERRPOL_HELP
	      "                           (a conflicting type, no event time; each record\n"
	      "                           with an _error field)\n"
	      "\n"
	      "Maintenance (no input is read):\n"
	      "      --optimize           compact each partition's files smaller than\n"
	      "                           --roll-bytes into one (remove + add, dataChange false)\n"
	      "      --vacuum RETENTION   delete files no longer in the table and older than\n"
	      "                           RETENTION (a duration such as 168h)\n"
	      "\n"
	      "Other:\n"
	      "  -v, --verbose            report commits and counts on stderr\n"
	      "      --max-frame BYTES    largest frame accepted (default 16777216)\n"
	      "\n"
	      "Checkpoints (they imply --exactly-once):\n"
	      "      --checkpoint-dir DIR take part in DIR's checkpoints: files are staged in\n"
	      "                           the snapshot at a barrier and committed once its\n"
	      "                           checkpoint is complete; resuming, what the\n"
	      "                           snapshot staged is committed if the table lacks it\n"
	      "                           (default: $RTAI_CHECKPOINT_DIR; none: off)\n"
	      "      --stage-name NAME    name this stage in DIR (two sinks with the same\n"
	      "                           options in one pipeline)\n"
	      "  -h, --help               show this help and exit\n"
	      "      --version            show the version and exit\n"
	      "\n"
	      "Examples:\n"
	      "  rtai-cat clicks.jsonl | rtai-parse -t event_time | rtai-sink-lake lake/clicks\n"
	      "  duckdb -c \"SELECT count(*) FROM read_parquet('lake/clicks/**/*.parquet',\n"
	      "             hive_partitioning = true)\"\n"
	      "\n"
	      "See rtai-sink-lake(1) and rtai(7).\n", fp);
	exit(status);
}

/* ---- state ------------------------------------------------------------ */

/* Column kinds: what a column holds, and its Delta type. */
enum ck { CK_BOOL, CK_INT, CK_FLOAT, CK_STRING, CK_TIME, CK_JSON, CK_BYTES };
static const char *const ck_delta[] = { "boolean", "long", "double", "string",
					"timestamp", "string", "binary" };
static const char *const ck_name[] = { "bool", "int", "float", "string", "time",
				       "json", "bytes" };

struct col {
	char *name;
	size_t nlen;
	enum ck kind;
	uint64_t stamp;		/* the row that last set it: duplicates */
};

/* The table's data columns (partition columns are not in the files). */
static struct {
	struct col *c;
	size_t n, cap;
	int dirty;		/* changed since the last commit: write metaData */
} cols;

/* A partition with an open file. */
struct part {
	char *dir;		/* relative, Hive-escaped: "dt=2026-11-30/hr=10" */
	json_t *values;		/* partitionValues */
	int64_t hour;		/* default partitioning: floor(event time / 1h) */
	struct pq_writer *w;
	int fd;
	char *tmp, *name;	/* relative paths: being written, final */
	size_t ncols;		/* the file's columns: the first ncols of cols */
	int64_t opened;		/* monotonic ns */
};

static struct part *parts[MAX_OPEN];
static size_t nparts;
static struct part *last_part;		/* the previous record's */

/* Closed files waiting for the next commit. */
static struct {
	json_t *adds;		/* array of add action values */
	char **paths;		/* their relative paths, to remove on failure */
	size_t n, cap;
	uint64_t rows;
} pend;

static struct delta_table tbl;
static json_t *removes;			/* --optimize: remove actions to commit */
static const char *table_dir;
static char run_id[37];			/* names files without checkpoints */
static int64_t committed = -1;		/* this app's last committed checkpoint */
static int64_t last_barrier = -1;	/* the last barrier's checkpoint id here */
static uint64_t file_seq;		/* files named in this checkpoint */
static uint64_t row_stamp;		/* rows taken: column duplicate stamps */

static struct frame_rd rd;
static struct frame_wr out;		/* --pass */
static struct errpol ep = ERRPOL_INIT;	/* --on-error, --dlq */
static struct rec rec;
static struct buf kbuf, pbuf, tmp;	/* partition key, paths, scratch */
static size_t *hint;			/* field position -> column, a guess */
static size_t nhint;
static int status = RTAI_EXIT_OK;

/* --pass: frames wait in the acknowledged-output queue until the commit
 * that holds them; frames [pass_acked, pass_next) are not settled yet. */
static struct ackq passq;
static uint64_t pass_acked, pass_next;

static struct {
	uint64_t records, written, replayed, commits, files;
} count;

static struct ckpt *ck;			/* checkpoints; NULL when off */
static int64_t resumed;			/* the checkpoint resumed, 0 for none */
static struct buf snapbuf;		/* a snapshot being written */

/* ---- messages and the error policy ------------------------------------ */

static void remove_uncommitted(void);

static void __attribute__((noreturn, format(printf, 1, 2))) fatal(const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cli_warn("%s", msg);
	remove_uncommitted();
	exit(RTAI_EXIT_FAIL);
}

/* A record that cannot be written: fail, skip or dead-letter it. */
static void __attribute__((format(printf, 2, 3)))
record_failed(const struct frame *f, const char *fmt, ...)
{
	va_list ap;
	char msg[1024], where[1280];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(where, sizeof(where), "%s: record %llu: %s", rd.name,
		 (unsigned long long)rd.nrec, msg);
	if (errpol_refuse(&ep, f, where, msg) < 0) {
		remove_uncommitted();
		exit(RTAI_EXIT_FAIL);
	}
}

static void print_counts(void)
{
	cli_warn("%llu records: %llu written in %llu files and %llu commits, %llu skipped, "
		  "%llu dead-lettered, %llu already committed (replayed); table version %lld%s%s",
		  (unsigned long long)count.records, (unsigned long long)count.written,
		  (unsigned long long)count.files, (unsigned long long)count.commits,
		  (unsigned long long)ep.skipped, (unsigned long long)ep.dead,
		  (unsigned long long)count.replayed, (long long)tbl.version,
		  ep.first[0] != '\0' && !opt.verbose ? "; first: " : "",
		  opt.verbose ? "" : ep.first);
}

/* ---- paths ------------------------------------------------------------ */

static const char *abs_path(const char *rel)
{
	buf_reset(&pbuf);
	buf_printf(&pbuf, "%s/%s", table_dir, rel);
	buf_putc(&pbuf, 0);
	return (const char *)pbuf.p;
}

/* mkdir -p of TABLE_DIR/rel, parents of TABLE_DIR included. */
static int make_dirs(const char *rel)
{
	char path[4096];
	size_t base = (size_t)snprintf(path, sizeof(path), "%s/", table_dir);

	if (base + strlen(rel) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(path + base, rel);
	for (char *p = path + 1; ; p++) {
		if (*p == '/' || *p == 0) {
			char c = *p;

			*p = 0;
			if (mkdir(path, 0777) < 0 && errno != EEXIST)
				return -1;
			*p = c;
			if (c == 0)
				return 0;
		}
	}
}

/* ---- schema ------------------------------------------------------------ */

static int is_partition_col(const char *name, size_t n)
{
	if (opt.pby == NULL)
		return (n == 2 && (memcmp(name, "dt", 2) == 0 || memcmp(name, "hr", 2) == 0));
	for (size_t i = 0; i < opt.npby; i++)
		if (strlen(opt.pby[i]) == n && memcmp(opt.pby[i], name, n) == 0)
			return 1;
	return 0;
}

static struct col *col_find(const char *name, size_t n, size_t pos)
{
	if (pos < nhint && hint[pos] < cols.n && cols.c[hint[pos]].nlen == n &&
	    memcmp(cols.c[hint[pos]].name, name, n) == 0)
		return &cols.c[hint[pos]];
	for (size_t i = 0; i < cols.n; i++)
		if (cols.c[i].nlen == n && memcmp(cols.c[i].name, name, n) == 0) {
			if (pos == SIZE_MAX)
				return &cols.c[i];	/* not a record's field: no hint */
			if (pos >= nhint) {
				hint = xrealloc(hint, (pos + 1) * sizeof(*hint));
				while (nhint <= pos)
					hint[nhint++] = SIZE_MAX;
			}
			hint[pos] = i;
			return &cols.c[i];
		}
	return NULL;
}

static void close_all(void);

static void col_add(const char *name, size_t n, enum ck kind)
{
	/* Open files have the old columns: they end here (schema evolution:
	 * new files carry the new column, old ones read as null). */
	close_all();
	if (cols.n == cols.cap) {
		cols.cap = cols.cap ? cols.cap * 2 : 16;
		cols.c = xrealloc(cols.c, cols.cap * sizeof(*cols.c));
	}
	cols.c[cols.n++] = (struct col){ xstrndup(name, n), n, kind, 0 };
	cols.dirty = 1;
}

/* The column kind a value makes, or -1 for null. */
static int kind_of(const struct val *v)
{
	switch (v->type) {
	case RT_FALSE: case RT_TRUE: return CK_BOOL;
	case RT_INT: return CK_INT;
	case RT_FLOAT: return CK_FLOAT;
	case RT_STR: return CK_STRING;
	case RT_TIME: return CK_TIME;
	case RT_JSON: return CK_JSON;
	case T_BYTES: return CK_BYTES;
	default: return -1;
	}
}

/* Whether a value of kind k fits column kind ck: the same kind, or an int
 * in a float column (stored as a double). */
static int fits(int k, enum ck c)
{
	return k == (int)c || (k == CK_INT && c == CK_FLOAT);
}

static const char *schema_string(void)
{
	json_t *fields = json_array(), *s;
	char *text;
	static char *last;

	for (size_t i = 0; i < cols.n; i++)
		json_array_append_new(fields, json_pack("{s:s, s:s, s:b, s:o}",
			"name", cols.c[i].name, "type", ck_delta[cols.c[i].kind], "nullable", 1,
			"metadata", cols.c[i].kind == CK_JSON ? json_pack("{s:s}", "rtai.type", "json")
							       : json_object()));
	for (size_t i = 0; i < (opt.pby ? opt.npby : 2); i++)
		json_array_append_new(fields, json_pack("{s:s, s:s, s:b, s:{}}",
			"name", opt.pby ? opt.pby[i] : i == 0 ? "dt" : "hr", "type", "string",
			"nullable", 1, "metadata"));
	s = json_pack("{s:s, s:o}", "type", "struct", "fields", fields);
	text = json_dumps(s, JSON_COMPACT);
	json_decref(s);
	free(last);
	last = text;
	return text;
}

/* Loads the columns of an existing table and checks its partitioning. */
static void load_schema(void)
{
	const char *ss = json_string_value(json_object_get(tbl.meta, "schemaString"));
	json_t *pc = json_object_get(tbl.meta, "partitionColumns"), *schema, *f;
	json_error_t je;
	size_t i, want = opt.pby ? opt.npby : 2;
	int same = json_is_array(pc) && json_array_size(pc) == want;

	for (i = 0; same && i < want; i++) {
		const char *n = json_string_value(json_array_get(pc, i));

		same = n != NULL && strcmp(n, opt.pby ? opt.pby[i] : i == 0 ? "dt" : "hr") == 0;
	}
	if (!same) {
		char *t = json_dumps(pc, JSON_COMPACT);

		cli_die(RTAI_EXIT_USAGE, "%s: the table is partitioned by %s: give the same "
			 "--partition-by", table_dir, t ? t : "(nothing)");
	}
	schema = ss ? json_loads(ss, 0, &je) : NULL;
	if (schema == NULL)
		cli_die(RTAI_EXIT_FAIL, "%s: the table's metaData has no readable schemaString",
			 table_dir);
	json_array_foreach(json_object_get(schema, "fields"), i, f) {
		const char *name = json_string_value(json_object_get(f, "name"));
		const char *type = json_string_value(json_object_get(f, "type"));
		const char *rt = json_string_value(json_object_get(json_object_get(f, "metadata"),
								   "rtai.type"));
		int k = -1;

		if (name == NULL || is_partition_col(name, strlen(name)))
			continue;
		for (int j = 0; j < (int)(sizeof(ck_delta) / sizeof(*ck_delta)); j++)
			if (type != NULL && strcmp(type, ck_delta[j]) == 0 && k < 0)
				k = j;
		if (k == CK_STRING && rt != NULL && strcmp(rt, "json") == 0)
			k = CK_JSON;
		if (k < 0)
			cli_die(RTAI_EXIT_FAIL, "%s: column \"%s\" has the Delta type %s, which "
				 "rtai-sink-lake does not write", table_dir, name,
				 type ? type : json_dumps(json_object_get(f, "type"), JSON_COMPACT));
		col_add(name, strlen(name), (enum ck)k);
	}
	json_decref(schema);
	cols.dirty = 0;
}

/* A schema frame (kind 6): declares the columns and their types. */
static void take_schema(const struct frame *f)
{
	json_error_t je;
	json_t *s = json_loadb((const char *)f->payload, f->len, 0, &je), *fl;
	size_t i;

	if (s == NULL) {
		cli_warn("%s: byte %llu: a schema frame that is not JSON (%s): ignored", rd.name,
			  (unsigned long long)f->offset, je.text);
		return;
	}
	json_array_foreach(json_object_get(s, "fields"), i, fl) {
		const char *name = json_string_value(json_object_get(fl, "name"));
		const char *type = json_string_value(json_object_get(fl, "type"));
		struct col *c;
		int k = -1;

		if (name == NULL || type == NULL || is_partition_col(name, strlen(name)))
			continue;
		for (int j = 0; j < (int)(sizeof(ck_name) / sizeof(*ck_name)); j++)
			if (strcmp(type, ck_name[j]) == 0)
				k = j;
		if (k < 0)
			continue;	/* "null": no column until a value comes */
		c = col_find(name, strlen(name), SIZE_MAX);
		if (c == NULL)
			col_add(name, strlen(name), (enum ck)k);
		else if (!fits(k, c->kind))
			cli_warn("%s: byte %llu: the schema says field \"%s\" is %s, the table has "
				  "%s: records are checked against the table", rd.name,
				  (unsigned long long)f->offset, name, type, ck_name[c->kind]);
	}
	json_decref(s);
}

/* ---- files ------------------------------------------------------------- */

static const char *codec_ext(void)
{
	return opt.codec == PQ_ZSTD ? ".zstd" : opt.codec == PQ_SNAPPY ? ".snappy" : "";
}

static void open_file(struct part *p)
{
	struct pq_colspec *cs = xcalloc(cols.n ? cols.n : 1, sizeof(*cs));
	static const enum pq_type pt[] = { PQ_BOOL, PQ_INT64, PQ_DOUBLE, PQ_STRING,
					   PQ_TIME_US, PQ_STRING, PQ_BYTES };
	struct pq_options o = pq_defaults;
	char name[512];

	if (opt.optimize) {
		snprintf(name, sizeof(name), "part-optimize-%s-%05llu%s.parquet", run_id,
			 (unsigned long long)file_seq++, codec_ext());
	} else if (opt.exactly_once) {
		/* Named by checkpoint; a name some version holds already (the tail
		 * of a finished run, committed without a txn) is passed over. */
		for (;;) {
			snprintf(name, sizeof(name), "part-%s-c%020lld-%05llu%s.parquet",
				 opt.app_id,
				 (long long)(last_barrier >= 0 ? last_barrier + 1 : committed + 1),
				 (unsigned long long)file_seq++, codec_ext());
			buf_reset(&tmp);
			buf_printf(&tmp, "%s%s%s", p->dir, *p->dir ? "/" : "", name);
			buf_reset(&pbuf);
			delta_uri_encode(&pbuf, (const char *)tmp.p, tmp.len);
			buf_putc(&pbuf, 0);
			if (json_object_get(tbl.known, (const char *)pbuf.p) == NULL)
				break;
		}
	} else
		snprintf(name, sizeof(name), "part-%s-%s-%05llu%s.parquet", opt.app_id, run_id,
			 (unsigned long long)file_seq++, codec_ext());
	buf_reset(&tmp);
	buf_printf(&tmp, "%s%s%s", p->dir, *p->dir ? "/" : "", name);
	p->name = xstrndup((const char *)tmp.p, tmp.len);
	buf_reset(&tmp);
	buf_printf(&tmp, "%s%s.%s.tmp", p->dir, *p->dir ? "/" : "", name);
	p->tmp = xstrndup((const char *)tmp.p, tmp.len);
	if (make_dirs(p->dir) < 0)
		fatal("%s: %s", abs_path(p->dir), strerror(errno));
	p->fd = open(abs_path(p->tmp), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (p->fd < 0)
		fatal("%s: %s", abs_path(p->tmp), strerror(errno));
	for (size_t i = 0; i < cols.n; i++)
		cs[i] = (struct pq_colspec){ cols.c[i].name, pt[cols.c[i].kind] };
	o.codec = opt.codec;
	o.rg_rows = (uint32_t)opt.rg_rows;
	o.created_by = "rtai-sink-lake version " PACKAGE_VERSION;
	p->w = pq_open(p->fd, cs, cols.n, &o);
	p->ncols = cols.n;
	p->opened = cli_mono_ns();
	free(cs);
}

/* The Delta stats of a closed file: numRecords, minValues, maxValues,
 * nullCount (PROTOCOL.md "Per-file Statistics"). Strings over 64 bytes
 * or not UTF-8, bytes, bools, json and non-finite numbers get no min/max. */
static char *file_stats(const struct part *p)
{
	json_t *mn = json_object(), *mx = json_object(), *nc = json_object(), *s;
	char t[RTAI_TIME_BUFSZ];
	char *text;

	for (size_t i = 0; i < p->ncols; i++) {
		const struct pq_stats *st = pq_col_stats(p->w, i);
		const char *name = cols.c[i].name;
		json_t *a = NULL, *b = NULL;

		json_object_set_new(nc, name, json_integer(st->nulls));
		if (!st->has_minmax)
			continue;
		switch (cols.c[i].kind) {
		case CK_INT:
			a = json_integer(st->imin);
			b = json_integer(st->imax);
			break;
		case CK_FLOAT:
			if (isfinite(st->fmin) && isfinite(st->fmax)) {
				a = json_real(st->fmin);
				b = json_real(st->fmax);
			}
			break;
		case CK_TIME: {
			/* Milliseconds, as Delta's stats: min down, max up; none
			 * for times that nanoseconds cannot hold. */
			int64_t lo = rtime_floordiv(st->imin, 1000), hi = -rtime_floordiv(-st->imax, 1000);

			if (lo <= INT64_MIN / 1000000 || hi >= INT64_MAX / 1000000)
				break;
			rtime_fmt_time(lo * 1000000, t);
			a = json_string(t);
			rtime_fmt_time(hi * 1000000, t);
			b = json_string(t);
			break;
		}
		case CK_STRING:
			if (st->smin.len <= 64 && st->smax.len <= 64) {
				a = json_stringn((const char *)st->smin.p, st->smin.len);
				b = json_stringn((const char *)st->smax.p, st->smax.len);
			}
			break;
		default:
			break;
		}
		if (a != NULL && b != NULL) {
			json_object_set_new(mn, name, a);
			json_object_set_new(mx, name, b);
		} else {
			json_decref(a);
			json_decref(b);
		}
	}
	s = json_pack("{s:I, s:o, s:o, s:o}", "numRecords", (json_int_t)p->w->rows,
		      "minValues", mn, "maxValues", mx, "nullCount", nc);
	text = json_dumps(s, JSON_COMPACT);
	json_decref(s);
	return text;
}

static void pend_add(json_t *add, const char *path, uint64_t rows)
{
	if (pend.n == pend.cap) {
		pend.cap = pend.cap ? pend.cap * 2 : 16;
		pend.paths = xrealloc(pend.paths, pend.cap * sizeof(*pend.paths));
	}
	if (pend.adds == NULL)
		pend.adds = json_array();
	json_array_append_new(pend.adds, add);
	pend.paths[pend.n++] = xstrdup(path);
	pend.rows += rows;
}

/* Finishes p's file: footer, fsync, its final name; it waits for a commit. */
static void close_file(struct part *p)
{
	char *stats;
	json_t *add;
	uint64_t size;

	if (p->w == NULL)
		return;
	if (pq_close(p->w) < 0)
		fatal("%s: %s", abs_path(p->tmp), p->w->err);
	if (fsync(p->fd) < 0 || close(p->fd) < 0)
		fatal("%s: %s", abs_path(p->tmp), strerror(errno));
	p->fd = -1;
	{
		char from[4096];

		snprintf(from, sizeof(from), "%s", abs_path(p->tmp));
		if (link(from, abs_path(p->name)) < 0)
			fatal("%s: %s%s", abs_path(p->name), strerror(errno),
			      errno == EEXIST ? " (two sinks with one --app-id?)" : "");
		unlink(from);
	}
	size = p->w->offset;
	stats = file_stats(p);
	buf_reset(&tmp);
	delta_uri_encode(&tmp, p->name, strlen(p->name));
	add = json_pack("{s:s%, s:O, s:I, s:I, s:b, s:s}", "path", (const char *)tmp.p, tmp.len,
			"partitionValues", p->values, "size", (json_int_t)size,
			"modificationTime", (json_int_t)(cli_now_ns() / 1000000),
			"dataChange", 1, "stats", stats);
	free(stats);
	pend_add(add, p->name, p->w->rows);
	count.files++;
	pq_free(p->w);
	p->w = NULL;
	free(p->tmp);
	free(p->name);
	p->tmp = p->name = NULL;
}

static void part_free(struct part *p)
{
	if (p == NULL)
		return;
	free(p->dir);
	json_decref(p->values);
	free(p);
}

/* Closes every open file (they wait for the next commit). */
static void close_all(void)
{
	for (size_t i = 0; i < nparts; i++) {
		close_file(parts[i]);
		part_free(parts[i]);
	}
	nparts = 0;
	last_part = NULL;
}

/* Unlinks the files that no commit will hold: open ones and pending ones. */
static void remove_uncommitted(void)
{
	for (size_t i = 0; i < nparts; i++)
		if (parts[i]->tmp != NULL)
			unlink(abs_path(parts[i]->tmp));
	for (size_t i = 0; i < pend.n; i++)
		unlink(abs_path(pend.paths[i]));
}

static void pend_clear(void)
{
	for (size_t i = 0; i < pend.n; i++)
		free(pend.paths[i]);
	pend.n = 0;
	pend.rows = 0;
	json_decref(pend.adds);
	pend.adds = NULL;
}

/* ---- commits ------------------------------------------------------------ */

/* The queue's forward callback: a settled frame goes out. */
static void forward(void *arg, const struct frame *f)
{
	(void)arg;
	if (f->kind == RTAI_K_MARKER)
		wr_marker(&out, f, STAGE);
	else
		wr_frame(&out, f);
}

/* Everything read so far is committed: forwards the frames held for
 * --pass. (A record that failed was settled unforwarded already: its
 * second settlement is refused, harmlessly.) */
static void release(void)
{
	if (!opt.pass)
		return;
	for (; pass_acked < pass_next; pass_acked++)
		ackq_ack(&passq, pass_acked, 1);
	wr_flush(&out);
}

/* Commits the files of adds (an array of add action values, borrowed;
 * nfiles of them holding rows rows), the schema when it changed and the
 * removes of --optimize, with a txn action when checkpoint >= 0. A race
 * lost to another writer is retried when the winner appended only; any
 * other change is an error. */
static void commit_adds(int64_t checkpoint, const char *operation, json_t *adds, size_t nfiles,
			uint64_t rows)
{
	int64_t base_meta = tbl.meta_version, now_ms = cli_now_ns() / 1000000;
	int creating = tbl.version < 0;

	if (nfiles == 0 && !cols.dirty && checkpoint < 0 && removes == NULL)
		return;
	if (creating && cols.n == 0 && nfiles == 0)
		return;	/* nothing to say about a table that has no columns yet */
	for (int tries = 0; ; tries++) {
		json_t *acts = json_array(), *meta;
		size_t i;
		json_t *a;
		int rc;

		if (tbl.version < 0)
			json_array_append_new(acts, json_pack("{s:{s:i, s:i}}", "protocol",
				"minReaderVersion", 1, "minWriterVersion", 2));
		if (tbl.version < 0 || cols.dirty) {
			json_t *pcols = json_array();
			char id[37];
			const char *old = json_string_value(json_object_get(tbl.meta, "id"));

			for (i = 0; i < (opt.pby ? opt.npby : 2); i++)
				json_array_append_new(pcols, json_string(opt.pby ? opt.pby[i]
									: i == 0 ? "dt" : "hr"));
			delta_uuid(id);
			meta = json_pack("{s:s, s:{s:s, s:{}}, s:s, s:o, s:{}, s:I}",
				"id", old ? old : id, "format", "provider", "parquet", "options",
				"schemaString", schema_string(), "partitionColumns", pcols,
				"configuration", "createdTime",
				(json_int_t)(old ? json_integer_value(json_object_get(tbl.meta,
							"createdTime")) : now_ms));
			json_array_append_new(acts, json_pack("{s:o}", "metaData", meta));
		}
		json_array_foreach(adds, i, a)
			json_array_append_new(acts, json_pack("{s:O}", "add", a));
		json_array_foreach(removes, i, a)
			json_array_append_new(acts, json_pack("{s:O}", "remove", a));
		if (checkpoint >= 0)
			json_array_append_new(acts, json_pack("{s:{s:s, s:I, s:I}}", "txn",
				"appId", opt.app_id, "version", (json_int_t)checkpoint,
				"lastUpdated", (json_int_t)now_ms));
		json_array_append_new(acts, json_pack("{s:{s:I, s:s, s:s, s:b}}", "commitInfo",
			"timestamp", (json_int_t)now_ms, "operation", operation,
			"engineInfo", STAGE "/" PACKAGE_VERSION, "isBlindAppend", removes == NULL));
		rc = delta_commit(&tbl, acts);
		json_decref(acts);
		if (rc == 0)
			break;
		if (rc < 0)
			fatal("%s", tbl.err);
		/* Another writer took this version. */
		if (delta_update(&tbl) < 0)
			fatal("%s", tbl.err);
		if (creating || tbl.meta_version != base_meta)
			fatal("%s: version %lld was committed by another writer meanwhile and it %s "
			      "the table; these files were not committed: start again to write "
			      "them against the new table", table_dir, (long long)tbl.version,
			      creating ? "created" : "changed the schema or protocol of");
		if (checkpoint >= 0 && delta_txn_version(&tbl, opt.app_id) >= checkpoint)
			fatal("%s: another writer committed checkpoint %lld for --app-id %s "
			      "meanwhile: two sinks share one --app-id", table_dir,
			      (long long)checkpoint, opt.app_id);
		json_array_foreach(removes, i, a) {
			buf_reset(&tmp);
			if (delta_uri_decode(&tmp, json_string_value(json_object_get(a, "path")),
					     strlen(json_string_value(json_object_get(a, "path")))) == 0) {
				buf_reset(&pbuf);
				delta_uri_encode(&pbuf, (const char *)tmp.p, tmp.len);
				buf_putc(&pbuf, 0);
			}
			if (json_object_get(tbl.live, (const char *)pbuf.p) == NULL)
				fatal("%s: version %lld removed %s, which this commit compacts: "
				      "nothing was changed; run --optimize again", table_dir,
				      (long long)tbl.version, json_string_value(json_object_get(a, "path")));
		}
		if (tries >= 100)
			fatal("%s: lost the race for the next version 100 times in a row",
			      table_dir);
	}
	count.commits++;
	count.written += rows;
	if (opt.verbose)
		cli_warn("%s: version %lld: %zu files, %llu rows%s", table_dir,
			  (long long)tbl.version, nfiles, (unsigned long long)rows,
			  checkpoint >= 0 ? ", checkpoint" : "");
	if (checkpoint >= 0)
		committed = checkpoint;
	cols.dirty = 0;
}

/* Commits the pending files (commit_adds), then forgets them. */
static void commit(int64_t checkpoint, const char *operation)
{
	commit_adds(checkpoint, operation, pend.adds, pend.n, pend.rows);
	pend_clear();
}

/* Without checkpoints: every roll is a commit of everything closed. */
static void roll(void)
{
	close_all();
	if (!opt.exactly_once) {
		commit(-1, "STREAMING UPDATE");
		release();
	}
}

/* ---- records ------------------------------------------------------------ */

/* The partition directory of a record into kbuf (and its hour), or -1
 * with a reason. */
static int part_key(const struct frame *f, int64_t *hour, const char **why)
{
	buf_reset(&kbuf);
	if (opt.pby == NULL) {
		if (!(f->flags & RTAI_F_EVENT) || f->event_ns == RTAI_TIME_UNSET) {
			*why = "no event time to partition by (parse with rtai-parse -t FIELD, or "
			       "choose --partition-by)";
			return -1;
		}
		if (f->event_ns < INT64_MIN + HOUR_NS) {
			*why = "an event time within an hour of the earliest an int64 of ns holds (1677-09-21)";
			return -1;
		}
		*hour = rtime_floordiv(f->event_ns, HOUR_NS);
		return 0;
	}
	for (size_t i = 0; i < opt.npby; i++) {
		struct rec_field *fl = rec_getz(&rec, opt.pby[i]);
		size_t mark;

		buf_printf(&kbuf, "%s%s=", i ? "/" : "", opt.pby[i]);
		mark = kbuf.len;
		if (fl != NULL && fl->v.type != RT_NULL) {
			buf_reset(&tmp);
			val_text(&fl->v, &tmp);
			if (tmp.len > 200) {
				*why = "a partition value longer than 200 bytes";
				return -1;
			}
			delta_hive_escape(&kbuf, (const char *)tmp.p, tmp.len);
		}
		if (kbuf.len == mark)
			buf_puts(&kbuf, "__HIVE_DEFAULT_PARTITION__");
	}
	*hour = 0;
	return 0;
}

static struct part *part_get(int64_t hour)
{
	struct part *p;
	char d[64];

	if (opt.pby == NULL) {
		if (last_part != NULL && last_part->hour == hour)
			return last_part;
		for (size_t i = 0; i < nparts; i++)
			if (parts[i]->hour == hour)
				return last_part = parts[i];
	} else {
		if (last_part != NULL && strlen(last_part->dir) == kbuf.len &&
		    memcmp(last_part->dir, kbuf.p, kbuf.len) == 0)
			return last_part;
		for (size_t i = 0; i < nparts; i++)
			if (strlen(parts[i]->dir) == kbuf.len &&
			    memcmp(parts[i]->dir, kbuf.p, kbuf.len) == 0)
				return last_part = parts[i];
	}
	if (nparts == MAX_OPEN)
		close_all();	/* committed with the next roll */
	p = xcalloc(1, sizeof(*p));
	p->fd = -1;
	p->hour = hour;
	if (opt.pby == NULL) {
		char date[RTAI_TIME_BUFSZ];

		rtime_fmt_time(hour * HOUR_NS, date);
		snprintf(d, sizeof(d), "%.10s", date);
		p->values = json_pack("{s:s, s:s#}", "dt", d, "hr", date + 11, (size_t)2);
		snprintf(d, sizeof(d), "dt=%.10s/hr=%.2s", date, date + 11);
		p->dir = xstrdup(d);
	} else {
		p->values = json_object();
		for (size_t i = 0; i < opt.npby; i++) {
			struct rec_field *fl = rec_getz(&rec, opt.pby[i]);
			json_t *v = json_null();

			buf_reset(&tmp);
			if (fl != NULL && fl->v.type != RT_NULL)
				val_text(&fl->v, &tmp);
			if (tmp.len > 0 && (v = json_stringn((const char *)tmp.p, tmp.len)) == NULL) {
				json_decref(p->values);
				free(p);
				return NULL;
			}
			json_object_set_new(p->values, opt.pby[i], v);
		}
		p->dir = xstrndup((const char *)kbuf.p, kbuf.len);
	}
	parts[nparts++] = p;
	return last_part = p;
}

/* Whether a field that is not a column yet cannot become one: its name
 * is not UTF-8 (Delta's schema is JSON), or it appears twice. */
static int new_field_bad(const struct frame *f, size_t i)
{
	const struct rec_field *fl = &rec.f[i];
	json_t *name = json_stringn(fl->name, fl->nlen);

	if (name == NULL) {
		record_failed(f, "field %zu: a name that is not valid UTF-8", i + 1);
		return 1;
	}
	json_decref(name);
	for (size_t j = 0; j < i; j++)
		if (rec.f[j].nlen == fl->nlen && memcmp(rec.f[j].name, fl->name, fl->nlen) == 0) {
			record_failed(f, "field \"%.*s\" appears twice", (int)fl->nlen, fl->name);
			return 1;
		}
	return 0;
}

static void take_record(const struct frame *f)
{
	const char *why = NULL;
	struct part *p;
	int64_t hour;
	size_t i;
	int added = 0;

	count.records++;
	if (last_barrier >= 0 && last_barrier < committed) {
		count.replayed++;	/* its checkpoint was committed already */
		return;
	}
	if (rec_from_frame(&rec, f) < 0) {
		record_failed(f, "%s", rec.err);
		return;
	}
	if (part_key(f, &hour, &why) < 0) {
		record_failed(f, "%s", why);
		return;
	}
	/* Check every field before changing anything. */
	row_stamp++;
	for (i = 0; i < rec.n; i++) {
		const struct rec_field *fl = &rec.f[i];
		int k = kind_of(&fl->v);
		struct col *c;

		if (is_partition_col(fl->name, fl->nlen)) {
			if (opt.pby == NULL) {
				record_failed(f, "field \"%.*s\" has the name of a partition column "
					      "(rename it, or choose --partition-by)", (int)fl->nlen,
					      fl->name);
				return;
			}
			continue;
		}
		c = col_find(fl->name, fl->nlen, i);
		if (c == NULL) {
			if (k >= 0 && new_field_bad(f, i))
				return;
			added |= k >= 0;
			continue;
		}
		if (k >= 0 && !fits(k, c->kind)) {
			record_failed(f, "field \"%.*s\": the table's column is %s, the value is %s",
				      (int)fl->nlen, fl->name, ck_name[c->kind], ck_name[k]);
			return;
		}
		if (c->stamp == row_stamp) {
			record_failed(f, "field \"%.*s\" appears twice", (int)fl->nlen, fl->name);
			return;
		}
		c->stamp = row_stamp;
	}
	if (!added && cols.n == 0) {
		/* Nothing to make a column of yet, and a Parquet file needs
		 * one (DuckDB refuses a file of none): Spark's Delta writer
		 * refuses such a row too ("empty schema"). */
		record_failed(f, "no field has a value and the table has no column yet (a Parquet "
			      "file needs one): nothing to write");
		return;
	}
	if (added) {
		for (i = 0; i < rec.n; i++) {
			const struct rec_field *fl = &rec.f[i];
			int k = kind_of(&fl->v);

			if (k >= 0 && !is_partition_col(fl->name, fl->nlen) &&
			    col_find(fl->name, fl->nlen, i) == NULL)
				col_add(fl->name, fl->nlen, (enum ck)k);
		}
	}
	p = part_get(hour);
	if (p == NULL) {
		record_failed(f, "a partition value that is not valid UTF-8");
		return;
	}
	if (p->w == NULL)
		open_file(p);
	for (i = 0; i < rec.n; i++) {
		const struct rec_field *fl = &rec.f[i];
		struct col *c;
		size_t j;

		if (fl->v.type == RT_NULL || is_partition_col(fl->name, fl->nlen))
			continue;
		c = col_find(fl->name, fl->nlen, i);
		j = (size_t)(c - cols.c);
		switch (fl->v.type) {
		case RT_FALSE: case RT_TRUE:
			pq_put_bool(p->w, j, fl->v.type == RT_TRUE);
			break;
		case RT_INT:
			if (c->kind == CK_FLOAT)
				pq_put_double(p->w, j, (double)fl->v.i);
			else
				pq_put_int64(p->w, j, fl->v.i);
			break;
		case RT_FLOAT:
			pq_put_double(p->w, j, fl->v.f);
			break;
		case RT_TIME:
			/* Delta's timestamp is in microseconds: nanoseconds are cut
			 * (towards the past, so a time never moves to a later µs). */
			pq_put_int64(p->w, j, rtime_floordiv(fl->v.i, 1000));
			break;
		default:	/* string, json, bytes */
			pq_put_bytes(p->w, j, fl->v.s.p, fl->v.s.n);
		}
	}
	if (pq_end_row(p->w) < 0)
		fatal("%s: %s", abs_path(p->tmp), p->w->err);
	if ((long long)p->w->rows >= opt.roll_rows ||
	    (long long)pq_size_estimate(p->w) >= opt.roll_bytes) {
		if (opt.exactly_once)
			close_file(p);
		else
			roll();
	}
}

/* ---- checkpoints ---------------------------------------------------------- */

/* With a checkpoint directory the sink commits in two phases, as Flink's
 * TwoPhaseCommitSinkFunction: at barrier N (preCommit) the files written
 * since the barrier before are closed, fsynced and named, in no version
 * yet, and listed in the sink's snapshot of N together with every earlier
 * checkpoint not committed yet; once checkpoint N is complete
 * (notifyCheckpointComplete: ckpt_complete, looked at by a timer, and
 * waited for at the end of the input) they are committed in one version
 * with a txn (--app-id, N); resuming N (recoverAndCommit), what N's
 * snapshot lists is committed unless the table's txn holds it already.
 * A kill -9 at any moment leaves N either complete, and committed now or
 * by the rerun, or incomplete, its files in no version: the rerun resumes
 * before N, removes them and writes their records again from the replay. */

/* A checkpoint's files, pre-committed, waiting for it to complete. */
struct staged {
	int64_t id;		/* the checkpoint */
	json_t *adds;		/* array of their add action values (owned) */
	size_t nfiles;
	uint64_t rows;
};

static struct {
	struct staged *v;	/* by increasing id */
	size_t n, cap;
} staged;

/* Columns of the snapshot resumed (they may be more than the table's, if
 * its staged files added some). */
static struct {
	char **name;
	uint8_t *kind;
	size_t n;
} snapcols;

static struct loop_timer *settle_timer;	/* looks for completions */
#define SETTLE_NS 1000000		/* every millisecond while staged */

/* Takes adds (an array, or NULL for none) as checkpoint id's files. */
static void staged_push(int64_t id, json_t *adds, size_t nfiles, uint64_t rows)
{
	if (staged.n == staged.cap) {
		staged.cap = staged.cap ? staged.cap * 2 : 4;
		staged.v = xrealloc(staged.v, staged.cap * sizeof(*staged.v));
	}
	staged.v[staged.n++] = (struct staged){ id, adds != NULL ? adds : json_array(), nfiles,
						rows };
}

/* The commit step: commits the staged checkpoints up to id, in order,
 * each in one version with its txn; one the table holds already (its txn
 * version for the app id is at least the checkpoint) is not committed
 * again. */
static void commit_staged(int64_t upto)
{
	size_t i;

	for (i = 0; i < staged.n && staged.v[i].id <= upto; i++) {
		if (staged.v[i].id > committed)
			commit_adds(staged.v[i].id, "STREAMING UPDATE", staged.v[i].adds,
				    staged.v[i].nfiles, staged.v[i].rows);
		json_decref(staged.v[i].adds);
	}
	memmove(staged.v, staged.v + i, (staged.n - i) * sizeof(*staged.v));
	staged.n -= i;
}

/* Commits every staged checkpoint up to the newest complete one: once N
 * is complete no restore replays the records before it, so the checkpoints
 * before N are committed with it even if they never completed (a stage
 * failed to write one) or were pruned since. */
static void settle(void)
{
	for (size_t i = staged.n; i-- > 0;)
		if (ckpt_complete(ck, staged.v[i].id)) {
			commit_staged(staged.v[i].id);
			return;
		}
}

/* The end of the input: waits for the newest staged checkpoint to complete
 * (a stage may still be writing its snapshot: upstream in the background,
 * downstream of --pass once it read the barrier), then commits. Returns
 * 0, or -1 after a message when it cannot complete any more (a stage of
 * the run died without writing it): what is not complete stays staged,
 * for a rerun to commit (if it completes) or remove. */
static int finish_staged(void)
{
	struct timespec ms = { 0, SETTLE_NS };
	size_t files = 0;
	int o;

	while (staged.n > 0) {
		if ((o = ckpt_outcome(ck, staged.v[staged.n - 1].id)) == 1) {
			commit_staged(staged.v[staged.n - 1].id);
			return 0;
		}
		if (o < 0)
			break;
		nanosleep(&ms, NULL);
	}
	if (staged.n == 0)
		return 0;
	settle();
	for (size_t i = 0; i < staged.n; i++)
		files += staged.v[i].nfiles;
	cli_warn("%s: checkpoint %lld of %s cannot complete (a stage of the pipeline could "
		  "not write its snapshot, or ended without it): %zu files of checkpoints %lld to %lld are not committed, "
		  "nor the records after the last barrier; a rerun resumes from the last complete "
		  "checkpoint and writes them again", table_dir,
		  (long long)staged.v[staged.n - 1].id, ckpt_dir(ck), files,
		  (long long)staged.v[0].id, (long long)staged.v[staged.n - 1].id);
	return -1;
}

/* Makes the names of the pending files durable before a snapshot lists
 * them: fsync(2) of their directories (link(2) put them there), and of
 * each parent up to the table's (make_dirs may have created them). */
static void sync_dirs(void)
{
	json_t *done = json_object();

	for (size_t i = 0; i <= pend.n; i++) {
		const char *rel = i < pend.n ? pend.paths[i] : "";
		size_t n = strlen(rel);

		for (;;) {
			int fd;

			while (n > 0 && rel[n - 1] != '/')
				n--;	/* the directory, "" for the table's */
			if (n > 0)
				n--;
			buf_reset(&tmp);
			buf_append(&tmp, rel, n);
			buf_putc(&tmp, 0);
			if (json_object_get(done, (const char *)tmp.p) != NULL)
				break;
			json_object_set_new(done, (const char *)tmp.p, json_true());
			fd = open(abs_path((const char *)tmp.p), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd < 0 || fsync(fd) < 0)
				fatal("%s: fsync: %s", abs_path((const char *)tmp.p), strerror(errno));
			close(fd);
			if (n == 0)
				break;
		}
	}
	json_decref(done);
}

/* The stage's state: a tag and version, the --app-id, the checkpoint, the
 * columns (name, kind), and the checkpoints staged and not committed yet
 * (their id, rows, files and add actions as JSON). Version 1 (before the
 * two-phase commit) had the first three only: its checkpoint was
 * committed before its snapshot was written. */
#define STATE_TAG "rtai-sink-lake 2"
#define STATE_TAG1 "rtai-sink-lake 1"

/* The serialized state into snapbuf. */
static void save_state(int64_t id)
{
	buf_reset(&snapbuf);
	snap_bytes(&snapbuf, STATE_TAG, strlen(STATE_TAG));
	snap_bytes(&snapbuf, opt.app_id, strlen(opt.app_id));
	snap_i64(&snapbuf, id);
	snap_u32(&snapbuf, (uint32_t)cols.n);
	for (size_t i = 0; i < cols.n; i++) {
		snap_bytes(&snapbuf, cols.c[i].name, cols.c[i].nlen);
		snap_u8(&snapbuf, (uint8_t)cols.c[i].kind);
	}
	snap_u32(&snapbuf, (uint32_t)staged.n);
	for (size_t i = 0; i < staged.n; i++) {
		char *text = json_dumps(staged.v[i].adds, JSON_COMPACT);

		snap_i64(&snapbuf, staged.v[i].id);
		snap_u64(&snapbuf, staged.v[i].rows);
		snap_u64(&snapbuf, staged.v[i].nfiles);
		snap_bytes(&snapbuf, text, strlen(text));
		free(text);
	}
}

/* Whether a staged add action from a snapshot has what a commit needs. */
static int add_ok(const json_t *a)
{
	return json_is_object(a) && json_is_string(json_object_get(a, "path")) &&
	       json_is_integer(json_object_get(a, "size")) &&
	       json_is_object(json_object_get(a, "partitionValues"));
}

/* This stage's state from its snapshot (save_state wrote it; version 1
 * is read too): the app id must be this run's; the columns go to
 * snapcols and the staged checkpoints to staged, for recover(). Returns
 * 0, or -1 with a message. */
static int load_state(const uint8_t *p, size_t n, char *err, size_t errlen)
{
	struct snap_rd r;
	const uint8_t *tag, *app;
	size_t tn, an;
	int64_t id, prev = 0;
	int v1;

	snap_rd_init(&r, p, n);
	tag = snap_get_bytes(&r, 64, &tn);
	v1 = tag != NULL && tn == strlen(STATE_TAG1) && memcmp(tag, STATE_TAG1, tn) == 0;
	if (tag == NULL || (!v1 && (tn != strlen(STATE_TAG) || memcmp(tag, STATE_TAG, tn) != 0))) {
		snprintf(err, errlen, "not a snapshot of rtai-sink-lake (\"%s\" expected)",
			 STATE_TAG);
		return -1;
	}
	app = snap_get_bytes(&r, 64, &an);
	id = snap_get_i64(&r);
	if (!v1 && r.bad == NULL) {
		uint32_t nc = snap_get_count(&r, 5), ns;

		snapcols.name = xcalloc(nc ? nc : 1, sizeof(*snapcols.name));
		snapcols.kind = xcalloc(nc ? nc : 1, 1);
		for (uint32_t i = 0; i < nc && r.bad == NULL; i++) {
			const uint8_t *name = snap_get_bytes(&r, 65536, &tn);
			uint8_t k = snap_get_u8(&r);

			if (r.bad == NULL && (tn == 0 || k > CK_BYTES ||
					      memchr(name, 0, tn) != NULL))
				snap_fail(&r, "a column without a name or of an unknown kind");
			if (r.bad == NULL) {
				snapcols.name[snapcols.n] = xstrndup((const char *)name, tn);
				snapcols.kind[snapcols.n++] = k;
			}
		}
		ns = snap_get_count(&r, 20);
		for (uint32_t i = 0; i < ns && r.bad == NULL; i++) {
			int64_t sid = snap_get_i64(&r);
			uint64_t rows = snap_get_u64(&r), nfiles = snap_get_u64(&r);
			const uint8_t *text = snap_get_bytes(&r, n, &tn);
			json_t *adds, *a;
			size_t j;
			int ok;

			if (r.bad != NULL)
				break;
			adds = json_loadb((const char *)text, tn, 0, NULL);
			ok = json_is_array(adds) && json_array_size(adds) == nfiles &&
			     sid > prev && sid <= id;
			json_array_foreach(adds, j, a)
				ok = ok && add_ok(a);
			if (!ok) {
				json_decref(adds);
				snap_fail(&r, "a staged checkpoint that is not a list of add actions");
				break;
			}
			staged_push(sid, adds, (size_t)nfiles, rows);
			prev = sid;
		}
	}
	if (r.bad != NULL || r.off != n || id < 1) {
		snprintf(err, errlen, "a corrupt snapshot: byte %zu: %s", r.off,
			 r.bad ? r.bad : id < 1 ? "a checkpoint id below 1" : "bytes after the state");
		return -1;
	}
	if (an != strlen(opt.app_id) || memcmp(app, opt.app_id, an) != 0) {
		snprintf(err, errlen, "written with --app-id %.*s, not %s", (int)an,
			 (const char *)app, opt.app_id);
		return -1;
	}
	return 0;
}

/* Registers in DIR and loads the latest complete checkpoint, if any;
 * checkpoints on imply --exactly-once. Returns 0, or an exit status after
 * a message. recover() then brings the table to that checkpoint. */
static int ckpt_start(int argc, char **argv)
{
	int rc = ckpt_stage(&ck, &resumed, STAGE, opt.ckpt_dir, argc, argv, opt.stage_name,
			    load_state);

	if (rc != 0 || ck == NULL)
		return rc;
	opt.exactly_once = 1;
	return 0;
}

/* With the table open, resuming checkpoint R (recoverAndCommit): the
 * table must hold every checkpoint before the first one R's snapshot
 * staged (or R itself when it staged none); the staged ones it does not
 * hold are committed now from the snapshot, their files checked first
 * (there, of their size). Returns 0, or RTAI_EXIT_SNAPSHOT after a message:
 * a table whose txn version is older, or whose staged files are gone, was
 * restored from a copy or replaced, and rows are missing. */
static int recover(void)
{
	int64_t need = staged.n > 0 ? staged.v[0].id - 1 : resumed;
	uint64_t rows = 0;
	size_t files = 0, i, j;
	int64_t from = -1;
	char last[64] = "none";
	json_t *a;

	if (resumed == 0)
		return 0;
	if (committed < need) {
		if (committed >= 0)
			snprintf(last, sizeof(last), "checkpoint %lld", (long long)committed);
		cli_warn("%s: the table's last commit of --app-id %s is %s, but checkpoint %lld "
			  "of %s is complete and needs checkpoint %lld committed: the table lost "
			  "commits (restored from a copy, or replaced?); remove %s to start afresh",
			  table_dir, opt.app_id, last, (long long)resumed, ckpt_dir(ck),
			  (long long)need, ckpt_dir(ck));
		return RTAI_EXIT_SNAPSHOT;
	}
	for (i = 0; i < staged.n; i++) {
		if (staged.v[i].id <= committed)
			continue;
		if (from < 0)
			from = staged.v[i].id;
		json_array_foreach(staged.v[i].adds, j, a) {
			const char *path = json_string_value(json_object_get(a, "path"));
			struct stat st;

			buf_reset(&kbuf);
			if (delta_uri_decode(&kbuf, path, strlen(path)) < 0 ||
			    memchr(kbuf.p, 0, kbuf.len) != NULL) {
				cli_warn("%s: the snapshot of checkpoint %lld of %s stages a file "
					  "named \"%s\", not a path", table_dir, (long long)resumed,
					  ckpt_dir(ck), path);
				return RTAI_EXIT_SNAPSHOT;
			}
			buf_putc(&kbuf, 0);
			int gone = stat(abs_path((const char *)kbuf.p), &st) < 0;

			if (gone || st.st_size != json_integer_value(json_object_get(a, "size"))) {
				cli_warn("%s: staged for checkpoint %lld, which is complete in %s but "
					  "not committed, and %s: the table lost files (restored from "
					  "a copy, or replaced?); remove %s to start afresh",
					  abs_path((const char *)kbuf.p), (long long)staged.v[i].id,
					  ckpt_dir(ck), gone ? "missing" : "not of its size",
					  ckpt_dir(ck));
				return RTAI_EXIT_SNAPSHOT;
			}
		}
		files += staged.v[i].nfiles;
		rows += staged.v[i].rows;
	}
	/* Columns that the staged files added, which the table lacks. */
	for (i = 0; i < snapcols.n; i++)
		if (col_find(snapcols.name[i], strlen(snapcols.name[i]), SIZE_MAX) == NULL)
			col_add(snapcols.name[i], strlen(snapcols.name[i]), (enum ck)snapcols.kind[i]);
	commit_staged(resumed);	/* the staged ones the table holds are passed over */
	if (from < 0)
		return 0;
	buf_reset(&kbuf);
	if (from < resumed)
		buf_printf(&kbuf, "checkpoints %lld to %lld were", (long long)from, (long long)resumed);
	else
		buf_printf(&kbuf, "checkpoint %lld was", (long long)resumed);
	buf_putc(&kbuf, 0);
	cli_warn("%s: %s complete but not committed: committed from the snapshot, %zu files, "
		  "%llu rows (table version %lld)", table_dir, (const char *)kbuf.p, files,
		  (unsigned long long)rows, (long long)tbl.version);
	return 0;
}

/* Writes this stage's part of checkpoint id: the state, with what is
 * staged. Returns 1 when the write completed id, else 0. */
static int ckpt_barrier(int64_t id)
{
	char err[1024];
	int rc;

	if (ck == NULL)
		return 0;
	save_state(id);
	if ((rc = ckpt_write(ck, id, snapbuf.p, snapbuf.len, err, sizeof(err))) < 0)
		fatal("checkpoint %lld: %s", (long long)id, err);
	return rc;
}

/* A barrier (kind 3): the files of checkpoint N are closed. Without a
 * checkpoint directory they are committed at once, in one commit with txn
 * (app id, N); with one they are staged, the snapshot of N lists them,
 * and the commit comes once N is complete (settle). A checkpoint the
 * table holds already is a replay: dropped with its files. */
static void take_barrier(const struct frame *f)
{
	struct rec_field *c;
	int64_t id;

	if (f->enc != RTAI_E_REC || rec_decode(&rec, f->payload, f->len) < 0 ||
	    (c = rec_getz(&rec, "checkpoint")) == NULL || c->v.type != RT_INT || c->v.i < 1)
		fatal("%s: byte %llu: a barrier without a checkpoint id (a binary record with "
		      "an int field \"checkpoint\" from 1, rtai-record(5))", rd.name,
		      (unsigned long long)f->offset);
	id = c->v.i;
	if (id <= last_barrier)
		fatal("%s: byte %llu: checkpoint %lld after checkpoint %lld: checkpoint ids "
		      "must increase", rd.name, (unsigned long long)f->offset, (long long)id,
		      (long long)last_barrier);
	opt.exactly_once = 1;
	close_all();
	if (id <= committed) {
		/* A replay: its rows are in the table already. With a checkpoint
		 * directory only when it was started afresh beside a table that
		 * holds this app id's commits: a restore resumes at or after the
		 * table's txn version. */
		count.replayed += pend.rows;
		remove_uncommitted();
		pend_clear();
	} else if (ck == NULL) {
		commit(id, "STREAMING UPDATE");
	} else {
		sync_dirs();
		staged_push(id, pend.adds, pend.n, pend.rows);
		pend.adds = NULL;
		pend_clear();
	}
	last_barrier = id;
	file_seq = 0;
	if (ckpt_barrier(id) == 1)
		settle();
	if (staged.n > 0 && settle_timer != NULL)
		loop_timer_at(settle_timer, cli_mono_ns() + SETTLE_NS);
}

static void take(const struct frame *f)
{
	uint64_t skipped = errpol_dropped(&ep), seq = 0;

	/* Held for --pass until the commit that covers it. */
	if (opt.pass) {
		seq = ackq_push(&passq, f, 1);
		pass_next = seq + 1;
	}

	switch (f->kind) {
	case RTAI_K_DATA:
		take_record(f);
		break;
	case RTAI_K_SCHEMA:
		take_schema(f);
		break;
	case RTAI_K_BARRIER:
		take_barrier(f);
		break;
	default:
		break;
	}
	/* A record that was not written is not forwarded either (it failed
	 * before anything was written, so nothing was released meanwhile). */
	if (opt.pass && errpol_dropped(&ep) != skipped)
		ackq_ack(&passq, seq, 0);
	/* At a barrier everything before it is committed, or, with
	 * checkpoints, staged in the snapshot just written: a stage
	 * downstream must see the barrier for the checkpoint to complete. */
	if (f->kind == RTAI_K_BARRIER)
		release();
}

/* ---- the loop ------------------------------------------------------------ */

/* --roll-interval: rolls when the oldest open file is that old. */
static struct loop_timer *roll_timer;
static int input_failed;		/* a read error or a cut stream ended it */

/* Every frame goes to take(): records, schemas and barriers are written
 * or committed, and with --pass every frame waits for its commit (with
 * checkpoints: for its checkpoint's snapshot). */
static int on_frame(void *arg, struct frame_rd *r, const struct frame *f)
{
	(void)arg;
	(void)r;
	take(f);
	return 0;
}

static int on_end(void *arg, struct frame_rd *r, enum loop_end why)
{
	(void)arg;
	if (why == LOOP_END_ERROR) {
		cli_warn("%s", r->err);
		input_failed = 1;
	}
	return 0;
}

/* Once the buffered frames were taken: the roll timer is due when the
 * oldest open file is --roll-interval old (disarmed with no open file). */
static int arm_roll(void *arg)
{
	int64_t oldest = INT64_MAX;

	(void)arg;
	for (size_t i = 0; i < nparts; i++)
		if (parts[i]->w != NULL && parts[i]->opened < oldest)
			oldest = parts[i]->opened;
	loop_timer_at(roll_timer, oldest == INT64_MAX ? INT64_MAX : oldest + opt.roll_interval);
	return 0;
}

static int on_roll(void *arg)
{
	(void)arg;
	roll();
	return 0;
}

/* With checkpoints: commits what became complete; looks again while
 * anything is staged. */
static int on_settle(void *arg)
{
	(void)arg;
	settle();
	loop_timer_at(settle_timer, staged.n > 0 ? cli_mono_ns() + SETTLE_NS : INT64_MAX);
	return 0;
}

/* Reads standard input to its end. Returns 0, or -1 after reporting a
 * read error. */
static int run(void)
{
	static const struct loop_ops ops = { .data = on_frame, .control = on_frame,
					     .end = on_end };
	struct loop *l = loop_new(STAGE);
	int rc;

	if (opt.pass)
		loop_add_writer(l, &out);
	if (errpol_writer(&ep) != NULL)
		loop_add_writer(l, errpol_writer(&ep));	/* dead letters kept if killed */
	loop_add_input(l, &rd, LOOP_FRAMES, &ops, NULL);
	if (opt.roll_interval > 0) {
		roll_timer = loop_timer_new(l, on_roll, NULL);
		loop_on_drained(l, arm_roll, NULL);
	}
	if (ck != NULL) {
		settle_timer = loop_timer_new(l, on_settle, NULL);
		if (staged.n > 0)
			loop_timer_at(settle_timer, cli_mono_ns() + SETTLE_NS);
	}
	rc = loop_run(l);
	if (rc < 0 && loop_err(l) != NULL)
		cli_warn("%s", loop_err(l));
	loop_free(l);
	settle_timer = NULL;
	return rc < 0 || input_failed ? -1 : 0;
}

/* ---- start-up: the table as the log says, crash leftovers removed ------------ */

static char leftover_prefix[128];
static size_t table_len;
static struct {
	uint64_t files;		/* files in no version, not named as ours */
	char first[512];	/* the first of them */
} foreign;

static int sweep(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	const char *base = path + ftw->base, *rel = path + table_len + 1;

	if (type == FTW_F && strncmp(rel, "_delta_log/.rtai-commit.", 24) == 0 &&
	    cli_now_ns() - ((int64_t)sb->st_mtim.tv_sec * RTAI_NS_PER_SEC) > HOUR_NS) {
		unlink(path);	/* a commit cut short by a crash an hour ago or more */
		return 0;
	}
	if (type != FTW_F || strncmp(rel, "_delta_log/", 11) == 0)
		return 0;
	if (strncmp(base, leftover_prefix, strlen(leftover_prefix)) == 0 ||
	    (base[0] == '.' && strncmp(base + 1, leftover_prefix, strlen(leftover_prefix)) == 0)) {
		buf_reset(&tmp);
		delta_uri_encode(&tmp, rel, strlen(rel));
		buf_putc(&tmp, 0);
		if (json_object_get(tbl.known, (const char *)tmp.p) == NULL) {
			if (opt.verbose)
				cli_warn("%s: never committed: removed", path);
			unlink(path);
		}
	} else if (base[0] != '_' && base[0] != '.') {
		buf_reset(&tmp);
		delta_uri_encode(&tmp, rel, strlen(rel));
		buf_putc(&tmp, 0);
		if (json_object_get(tbl.known, (const char *)tmp.p) == NULL &&
		    foreign.files++ == 0)
			snprintf(foreign.first, sizeof(foreign.first), "%s", path);
	}
	return 0;
}

static void open_table(void)
{
	if (make_dirs("") < 0)
		cli_die(RTAI_EXIT_FAIL, "%s: %s", table_dir, strerror(errno));
	delta_init(&tbl, table_dir);
	if (delta_update(&tbl) < 0)
		cli_die(RTAI_EXIT_FAIL, "%s", tbl.err);
	if (tbl.meta != NULL)
		load_schema();
	committed = delta_txn_version(&tbl, opt.app_id);
	if (committed >= 0)
		opt.exactly_once = 1;
	delta_uuid(run_id);
	run_id[8] = 0;
}

/* Removes the files of this app id that no version mentions: left by a
 * crash, or staged for a checkpoint that never completed (after recover(),
 * which commits those of the checkpoint resumed). Files in no version
 * that are not named as this sink's are left; resuming, they are counted
 * in a message. */
static void sweep_leftovers(void)
{
	snprintf(leftover_prefix, sizeof(leftover_prefix), "part-%s-", opt.app_id);
	table_len = strlen(table_dir);
	nftw(table_dir, sweep, 16, FTW_PHYS);
	if (resumed > 0 && foreign.files > 0)
		cli_warn("%s: %llu files that no version holds and not named part-%s-* (another "
			  "writer's, or left by --optimize) were left in place, such as %s",
			  table_dir, (unsigned long long)foreign.files, opt.app_id, foreign.first);
}

/* ---- --vacuum -------------------------------------------------------------- */

static int64_t vacuum_before;		/* ns: files older than this go */
static uint64_t vacuumed;

static int vacuum_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	const char *rel = path + table_len + 1, *base = path + ftw->base;
	int64_t mtime = (int64_t)sb->st_mtim.tv_sec * RTAI_NS_PER_SEC + sb->st_mtim.tv_nsec;

	if (type == FTW_DP && ftw->level > 0 && strcmp(rel, "_delta_log") != 0) {
		rmdir(path);	/* only when empty */
		return 0;
	}
	if (type != FTW_F || strncmp(rel, "_delta_log", 10) == 0 || base[0] == '_')
		return 0;
	buf_reset(&tmp);
	delta_uri_encode(&tmp, rel, strlen(rel));
	buf_putc(&tmp, 0);
	if (json_object_get(tbl.live, (const char *)tmp.p) != NULL || mtime >= vacuum_before)
		return 0;
	if (unlink(path) < 0) {
		cli_warnx_errno("%s", path);
		status = RTAI_EXIT_FAIL;
		return 0;
	}
	vacuumed++;
	if (opt.verbose)
		cli_warn("%s: removed", path);
	return 0;
}

static void vacuum(void)
{
	delta_init(&tbl, table_dir);
	if (delta_update(&tbl) < 0)
		cli_die(RTAI_EXIT_FAIL, "%s", tbl.err);
	if (tbl.version < 0)
		cli_die(RTAI_EXIT_FAIL, "%s: not a Delta table (no _delta_log/%020d.json)",
			 table_dir, 0);
	table_len = strlen(table_dir);
	vacuum_before = cli_now_ns() - opt.vacuum;
	nftw(table_dir, vacuum_one, 16, FTW_PHYS | FTW_DEPTH);
	cli_warn("%s: %llu files removed (not in version %lld, older than the retention)",
		  table_dir, (unsigned long long)vacuumed, (long long)tbl.version);
}

/* ---- --optimize ------------------------------------------------------------- */

/* Appends the rows of a file read back to p's open file, column by name. */
static void copy_rows(struct part *p, const struct pq_file *src, const char *path)
{
	static const enum pq_type pt[] = { PQ_BOOL, PQ_INT64, PQ_DOUBLE, PQ_STRING,
					   PQ_TIME_US, PQ_STRING, PQ_BYTES };
	size_t *map = xcalloc(p->ncols ? p->ncols : 1, sizeof(*map));
	size_t *at = xcalloc(src->ncols ? src->ncols : 1, sizeof(*at));

	for (size_t j = 0; j < p->ncols; j++) {
		map[j] = SIZE_MAX;
		for (size_t k = 0; k < src->ncols; k++)
			if (strcmp(src->c[k].name, cols.c[j].name) == 0)
				map[j] = k;
		if (map[j] != SIZE_MAX && src->c[map[j]].type != pt[cols.c[j].kind])
			fatal("%s: column \"%s\" is not of the table's type %s", path,
			      cols.c[j].name, ck_delta[cols.c[j].kind]);
	}
	for (uint64_t r = 0; r < src->rows; r++) {
		for (size_t j = 0; j < p->ncols; j++) {
			const struct pq_column *c;
			const uint8_t *v;
			int64_t i;
			double d;
			uint32_t n;

			if (map[j] == SIZE_MAX)
				continue;
			c = &src->c[map[j]];
			if (!c->def[r])
				continue;
			v = c->vals.p + at[map[j]];
			switch (c->type) {
			case PQ_BOOL:
				pq_put_bool(p->w, j, *v);
				at[map[j]] += 1;
				break;
			case PQ_INT64: case PQ_TIME_US:
				memcpy(&i, v, 8);
				pq_put_int64(p->w, j, i);
				at[map[j]] += 8;
				break;
			case PQ_DOUBLE:
				memcpy(&d, v, 8);
				pq_put_double(p->w, j, d);
				at[map[j]] += 8;
				break;
			default:
				memcpy(&n, v, 4);
				pq_put_bytes(p->w, j, v + 4, n);
				at[map[j]] += 4 + (size_t)n;
			}
		}
		if (pq_end_row(p->w) < 0)
			fatal("%s: %s", abs_path(p->tmp), p->w->err);
	}
	free(map);
	free(at);
}

/* Compacts each partition's files smaller than --roll-bytes into one file:
 * one commit removes them and adds it, both with dataChange false (Delta's
 * OPTIMIZE), retried when the live writer committed meanwhile. */
static void optimize(void)
{
	json_t *groups = json_object(), *pc, *g, *add;
	const char *key, *dir;
	char err[512];
	size_t i, compacted = 0;

	delta_init(&tbl, table_dir);
	if (delta_update(&tbl) < 0)
		cli_die(RTAI_EXIT_FAIL, "%s", tbl.err);
	if (tbl.meta == NULL)
		cli_die(RTAI_EXIT_FAIL, "%s: not a Delta table (no _delta_log/%020d.json)",
			 table_dir, 0);
	pc = json_object_get(tbl.meta, "partitionColumns");
	if (opt.pby == NULL && !(json_array_size(pc) == 2 &&
	    strcmp(json_string_value(json_array_get(pc, 0)) ?: "", "dt") == 0 &&
	    strcmp(json_string_value(json_array_get(pc, 1)) ?: "", "hr") == 0)) {
		json_t *c;

		json_array_foreach(pc, i, c) {
			opt.pby = xrealloc(opt.pby, (opt.npby + 1) * sizeof(*opt.pby));
			opt.pby[opt.npby++] = xstrdup(json_string_value(c) ?: "?");
		}
	}
	load_schema();
	delta_uuid(run_id);
	run_id[8] = 0;
	json_object_foreach(tbl.live, key, add) {
		const char *slash = strrchr(key, '/');

		if (json_integer_value(json_object_get(add, "size")) >= opt.roll_bytes)
			continue;
		buf_reset(&kbuf);
		if (slash != NULL)
			buf_append(&kbuf, key, (size_t)(slash - key));
		buf_putc(&kbuf, 0);
		g = json_object_get(groups, (const char *)kbuf.p);
		if (g == NULL)
			json_object_set_new(groups, (const char *)kbuf.p, g = json_array());
		json_array_append(g, add);
	}
	removes = json_array();
	json_object_foreach(groups, dir, g) {
		struct part *p;
		json_t *a;

		if (json_array_size(g) < 2)
			continue;
		p = xcalloc(1, sizeof(*p));
		buf_reset(&kbuf);
		delta_uri_decode(&kbuf, dir, strlen(dir));
		p->dir = xstrndup((const char *)kbuf.p, kbuf.len);
		p->values = json_incref(json_object_get(json_array_get(g, 0), "partitionValues"));
		parts[nparts++] = p;
		open_file(p);
		json_array_foreach(g, i, a) {
			struct pq_file f;
			const char *path = json_string_value(json_object_get(a, "path"));

			buf_reset(&kbuf);
			delta_uri_decode(&kbuf, path, strlen(path));
			buf_putc(&kbuf, 0);
			if (pq_read_file(abs_path((const char *)kbuf.p), &f, err, sizeof(err)) < 0)
				fatal("%s", err);
			copy_rows(p, &f, abs_path((const char *)kbuf.p));
			pq_file_free(&f);
			json_array_append_new(removes, json_pack("{s:s, s:I, s:b, s:b, s:O, s:O}",
				"path", path, "deletionTimestamp", (json_int_t)(cli_now_ns() / 1000000),
				"dataChange", 0, "extendedFileMetadata", 1,
				"partitionValues", json_object_get(a, "partitionValues"),
				"size", json_object_get(a, "size")));
		}
		compacted += json_array_size(g);
		close_all();
		json_object_set_new(json_array_get(pend.adds, pend.n - 1), "dataChange", json_false());
	}
	if (pend.n > 0)
		commit(-1, "OPTIMIZE");
	cli_warn("%s: %zu files compacted into %llu (version %lld)", table_dir, compacted,
		  (unsigned long long)count.files, (long long)tbl.version);
	json_decref(groups);
	json_decref(removes);
	removes = NULL;
}

/* ---- main ------------------------------------------------------------------- */

static void parse_partition_by(const char *arg)
{
	const char *p = arg;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);

		if (n == 0 || n > 255)
			cli_usage_error("--partition-by: '%s': expected field names separated "
					 "by commas", arg);
		opt.pby = xrealloc(opt.pby, (opt.npby + 1) * sizeof(*opt.pby));
		opt.pby[opt.npby++] = xstrndup(p, n);
		if (comma == NULL)
			break;
		p = comma + 1;
	}
}

static long long parse_size(const char *opt_name, const char *arg)
{
	char *end;
	long long v, mul = 1;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (end != arg && *end != 0 && end[1] == 0) {
		switch (*end) {
		case 'K': case 'k': mul = 1ll << 10; end++; break;
		case 'M': case 'm': mul = 1ll << 20; end++; break;
		case 'G': case 'g': mul = 1ll << 30; end++; break;
		}
	}
	if (errno != 0 || end == arg || *end != 0 || v < 1 || v > (1ll << 50) / mul)
		cli_usage_error("%s: '%s': expected a size in bytes such as 64M (K, M, G)",
				 opt_name, arg);
	return v * mul;
}

int main(int argc, char **argv)
{
	const char *max_frame = NULL;
	char **argv0 = argv;
	int c, argc0 = argc, unfinished = 0;

	cli_init(STAGE, argv);
	while ((c = getopt_long(argc, argv, "p:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': parse_partition_by(optarg); break;
		case OPT_COMPRESSION:
			if (strcmp(optarg, "zstd") == 0)
				opt.codec = PQ_ZSTD;
			else if (strcmp(optarg, "snappy") == 0)
				opt.codec = PQ_SNAPPY;
			else if (strcmp(optarg, "none") == 0)
				opt.codec = PQ_UNCOMPRESSED;
			else
				cli_usage_error("--compression: '%s': expected zstd, snappy or none",
						 optarg);
#ifndef HAVE_SNAPPY
			if (opt.codec == PQ_SNAPPY)
				cli_usage_error("--compression snappy: this build has no libsnappy "
						 "(configure found none): use zstd");
#endif
			break;
		case OPT_ROLL_ROWS:
			opt.roll_rows = cli_opt_int("--roll-rows", optarg, 1, INT32_MAX);
			break;
		case OPT_ROLL_BYTES: opt.roll_bytes = parse_size("--roll-bytes", optarg); break;
		case OPT_ROLL_INTERVAL:
			opt.roll_interval = cli_opt_duration("--roll-interval", optarg);
			break;
		case OPT_RG_ROWS:
			opt.rg_rows = cli_opt_int("--row-group-rows", optarg, 1, 100000000);
			break;
		case OPT_APP_ID:
			opt.app_id = optarg;
			if (*optarg == 0 || strlen(optarg) > 64 ||
			    strspn(optarg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				   "0123456789_.-") != strlen(optarg))
				cli_usage_error("--app-id: '%s': expected 1 to 64 letters, digits, "
						 "'_', '.' or '-'", optarg);
			break;
		case OPT_EXACTLY_ONCE: opt.exactly_once = 1; break;
		case OPT_PASS: opt.pass = 1; break;
		case OPT_ON_ERROR: errpol_mode_arg(&ep, optarg); break;
		case OPT_DLQ: errpol_dlq_arg(&ep, optarg); break;
		case OPT_OPTIMIZE: opt.optimize = 1; break;
		case OPT_VACUUM: opt.vacuum = cli_opt_duration("--vacuum", optarg); break;
		case 'v': opt.verbose = ep.verbose = 1; break;
		case OPT_MAX_FRAME: max_frame = optarg; break;
		case OPT_CHECKPOINT_DIR: opt.ckpt_dir = optarg; break;
		case OPT_STAGE_NAME: opt.stage_name = optarg; break;
		case 'h': usage(RTAI_EXIT_OK); break;
		case OPT_VERSION: cli_version(); break;
		default: cli_usage_hint();
		}
	}
	argc -= optind;
	argv += optind;
	rd_set_max_frame(max_frame);
	if (argc != 1)
		cli_usage_error(argc == 0 ? "the table's directory is needed: rtai-sink-lake "
			"[OPTION]... TABLE_DIR" : "one table directory, not %d arguments", argc);
	table_dir = argv[0];
	errpol_check(&ep);
	if (opt.optimize && opt.vacuum >= 0)
		cli_usage_error("--optimize and --vacuum are separate runs");
	if ((opt.optimize || opt.vacuum >= 0) && opt.pass)
		cli_usage_error("--pass is for writing a stream, not for table maintenance");

	if (opt.vacuum >= 0) {
		vacuum();
		delta_free(&tbl);
		return status;
	}
	if (opt.optimize) {
		optimize();
		goto out;
	}

	sig_catch_stop();	/* rtai(7): a stage; the source upstream ends the stream */
	sig_set_source(0);
	signal(SIGXFSZ, SIG_IGN);	/* a file size limit is an EFBIG error */
	/* Maintenance (--optimize, --vacuum) takes no part in checkpoints. */
	if ((status = ckpt_start(argc0, argv0)) != 0)
		goto out;
	open_table();
	if ((status = recover()) != 0)
		goto out;
	sweep_leftovers();
	if (resumed > 0)
		last_barrier = resumed;	/* the source resumes after it */
	rd_open_fd(&rd, 0, "stdin");
	out.fd = -1;
	if (opt.pass) {
		wr_open_fd(&out, 1, "stdout", 0);
		ackq_init(&passq, 0, 0, forward, NULL);	/* a checkpoint's worth */
	}
	errpol_open(&ep);
	if (run() < 0)
		status = rd_cut_seen ? RTAI_EXIT_CUT : RTAI_EXIT_FAIL;
	if (status != RTAI_EXIT_OK && opt.exactly_once) {
		/* A broken input: what came after the last checkpoint is not
		 * final; staged checkpoints are committed if complete, else left
		 * for a rerun (recover, sweep_leftovers). */
		close_all();
		remove_uncommitted();
		pend_clear();
		settle();
	} else {
		close_all();
		if (finish_staged() == 0) {
			commit(-1, "STREAMING UPDATE");
			release();
		} else {
			remove_uncommitted();
			pend_clear();
			status = RTAI_EXIT_FAIL;
			unfinished = 1;
		}
	}
	if (opt.pass && unfinished)
		wr_abandon(&out);	/* cut: what follows the last barrier is not final */
	else if (opt.pass)
		wr_close(&out);
	errpol_close(&ep);
	if (opt.verbose || errpol_dropped(&ep) > 0)
		print_counts();
	status = errpol_status(&ep, count.records, status, "written");
out:
	ckpt_close(ck);
	for (size_t i = 0; i < staged.n; i++)
		json_decref(staged.v[i].adds);
	free(staged.v);
	for (size_t i = 0; i < snapcols.n; i++)
		free(snapcols.name[i]);
	free(snapcols.name);
	free(snapcols.kind);
	buf_free(&snapbuf);
	rd_close(&rd);
	rec_free(&rec);
	delta_free(&tbl);
	for (size_t i = 0; i < cols.n; i++)
		free(cols.c[i].name);
	free(cols.c);
	free(hint);
	for (size_t i = 0; i < opt.npby; i++)
		free(opt.pby[i]);
	free(opt.pby);
	free(pend.paths);
	buf_free(&kbuf);
	buf_free(&pbuf);
	buf_free(&tmp);
	errpol_free(&ep);
	ackq_free(&passq);
	return status;
}
