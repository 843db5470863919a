/* rtai-join - enrich each record with what is known about its key: a row
 * of a table file, kept current by a changelog, or a hash in Redis.
 *
 * The table lives in a hash table sized to it; rows are stored already
 * encoded, so a join is a lookup and a memcpy. With --as-of the table
 * keeps every version of a row and a record joins the version valid at its
 * event time, never one from its future. --updates is read alongside the
 * stream on the event loop (loop.h), changes first, so the enrichment
 * follows the source database.
 * With --redis each record's row is fetched with HGETALL, pipelined per
 * burst and kept in a bounded LRU cache.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "barrier.h"
#include "buf.h"
#include "ckpt.h"
#include "cli.h"
#include "debezium.h"
#include "errpol.h"
#include "frame.h"
#include "jflat.h"
#include "loop.h"
#include "lru.h"
#include "rec.h"
#include "rclient.h"
#include "redisurl.h"
#include "rtime.h"
#include "sig.h"
#include "snap.h"
#include "table.h"
#include "tmpl.h"

/* ---- options ---------------------------------------------------------- */

static struct {
	const char *table;		/* --table: the table file */
	const char *on;			/* --on: the stream's key fields */
	const char *table_key;		/* --table-key: the table's, if named otherwise */
	int inner;			/* --inner: drop records without a match */
	const char *fields;		/* --fields: table fields to add */
	const char *prefix;		/* --prefix: renames added fields */
	const char *updates;		/* --updates: changelog read alongside */
	const char *asof;		/* --as-of: the rows' valid-from field */
	int64_t ttl;			/* --ttl: versions older than t - ttl miss */
	const char *redis;		/* --redis: URL of the online store */
	const char *redis_key;		/* --redis-key: key template */
	long long cache;		/* --cache: rows kept from Redis */
	int64_t cache_ttl;		/* --cache-ttl: how long they stay good */
	long long max_rows;		/* --max-rows: table size limit */
	int verbose;			/* -v: counts on stderr */
	const char *ckpt_dir;		/* --checkpoint-dir, else $RTAI_CHECKPOINT_DIR */
	const char *stage_name;		/* --stage-name */
} opt = {
	.cache = 10000,
	.cache_ttl = RTAI_NS_PER_SEC,
	.max_rows = 10000000,
};

enum {
	OPT_TABLE_KEY = 256, OPT_INNER, OPT_FIELDS, OPT_PREFIX, OPT_AS_OF, OPT_TTL,
	OPT_REDIS, OPT_REDIS_KEY, OPT_CACHE, OPT_CACHE_TTL, OPT_ON_ERROR, OPT_MAX_ROWS,
	OPT_DLQ, OPT_MAX_FRAME, OPT_VERSION, OPT_CHECKPOINT_DIR, OPT_STAGE_NAME,
};

static const struct option longopts[] = {
	{ "table", required_argument, NULL, 't' },		/* table file */
	{ "on", required_argument, NULL, 'k' },			/* stream key fields */
	{ "table-key", required_argument, NULL, OPT_TABLE_KEY },	/* table key fields */
	{ "inner", no_argument, NULL, OPT_INNER },		/* drop unmatched */
	{ "fields", required_argument, NULL, OPT_FIELDS },	/* fields to add */
	{ "prefix", required_argument, NULL, OPT_PREFIX },	/* rename added fields */
	{ "updates", required_argument, NULL, 'u' },		/* changelog */
	{ "as-of", required_argument, NULL, OPT_AS_OF },	/* point in time */
	{ "ttl", required_argument, NULL, OPT_TTL },		/* version lifetime */
	{ "redis", required_argument, NULL, OPT_REDIS },	/* online store */
	{ "redis-key", required_argument, NULL, OPT_REDIS_KEY },	/* its key template */
	{ "cache", required_argument, NULL, OPT_CACHE },	/* LRU size */
	{ "cache-ttl", required_argument, NULL, OPT_CACHE_TTL },	/* LRU freshness */
	{ "on-error", required_argument, NULL, OPT_ON_ERROR },	/* fail, skip or dlq */
	{ "dlq", required_argument, NULL, OPT_DLQ },		/* dead-letter stream */
	{ "max-rows", required_argument, NULL, OPT_MAX_ROWS },	/* table size limit */
	{ "max-frame", required_argument, NULL, OPT_MAX_FRAME },	/* frame size limit */
	{ "verbose", no_argument, NULL, 'v' },			/* counts on stderr */
	{ "checkpoint-dir", required_argument, NULL, OPT_CHECKPOINT_DIR },	/* snapshots */
	{ "stage-name", required_argument, NULL, OPT_STAGE_NAME },	/* checkpoint identity */
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void usage(int status)
{
	FILE *fp = status == 0 ? stdout : stderr;

	fputs("Usage: rtai-join --table FILE --on FIELD[,FIELD...] [OPTION]...\n"
	      "  or:  rtai-join --redis URL --redis-key TEMPLATE [OPTION]...\n"
	      "Add to each record of the stream on standard input the fields of the matching\n"
	      "row of a table, of a changelog, or of a Redis hash.\n"
	      "\n"
	      "Table:\n"
	      "  -t, --table FILE         rows as JSON Lines or an rtai stream, zstd or not;\n"
	      "                           SIGHUP reloads it\n"
	      "  -k, --on FIELD[,FIELD...]  the record fields that make the key\n"
	      "      --table-key FIELD[,FIELD...]  the table's key fields, when named otherwise\n"
	      "  -u, --updates FILE       a changelog (often a FIFO) read alongside the stream:\n"
	      "                           plain rows upsert; Debezium events upsert, delete,\n"
	      "                           truncate; tombstones delete\n"
	      "      --as-of FIELD        keep every version of a row, valid from the time in\n"
	      "                           FIELD; a record joins the version valid at its event\n"
	      "                           time (point in time: nothing from its future)\n"
	      "      --ttl DUR            with --as-of, a version older than the record by more\n"
	      "                           than DUR does not match\n"
	      "      --max-rows N         refuse a table of more than N rows (versions with\n"
	      "                           --as-of; default 10000000)\n"
	      "\n"
	      "Redis (the online store):\n"
	      "      --redis URL          redis://[:password@]host[:port][/db] or unix:///path;\n"
	      "                           the password may come from RTAI_REDIS_PASSWORD;\n"
	      "                           any master of a Redis Cluster (found by itself)\n"
	      "      --redis-key TEMPLATE the hash to read per record, with {field} placeholders\n"
	      "      --cache N            keep up to N rows read from Redis (default 10000;\n"
	      "                           0: none beyond one burst)\n"
	      "      --cache-ttl DUR      read a cached row again after DUR (default 1s; 0:\n"
	      "                           never)\n"
	      "\n"
	      "Output:\n"
	      "      --inner              drop records without a match (default: pass them on\n"
	      "                           unchanged, a left join)\n"
	      "      --fields A,B         the row fields to add (default: all but the key)\n"
	      "      --prefix STR         prepend STR to the names of added fields; without\n"
	      "                           one, a record's own field wins over a row's\n"
	      ERRPOL_HELP
	      "                           (a record that cannot be joined, each with an\n"
	      "                           _error field; a bad table row or change is\n"
	      "                           reported and skipped under skip and dlq)\n"
	      "\n"
	      "Checkpoints:\n"
	      "      --checkpoint-dir DIR resume from DIR's latest complete checkpoint (the\n"
	      "                           table as it stood, and where in the changelog), and\n"
	      "                           snapshot them there at each barrier of the stream\n"
	      "                           (default: $RTAI_CHECKPOINT_DIR; none: off)\n"
	      "      --stage-name NAME    name this stage in DIR (two stages with the same\n"
	      "                           options in one pipeline)\n"
	      "\n"
	      "Other:\n"
	      "      --max-frame BYTES    largest frame or line accepted (default 16777216)\n"
	      "  -v, --verbose            report rows, versions, hits and misses on stderr\n"
	      "  -h, --help               show this help and exit\n"
	      "      --version            show the version and exit\n"
	      "\n"
	      "Examples:\n"
	      "  rtai-cat clicks.jsonl | rtai-parse | rtai-join -t users.jsonl --on user_id\n"
	      "  ... | rtai-join -t history.jsonl --on user_id --as-of updated_at --ttl 30d\n"
	      "  ... | rtai-join --redis redis://127.0.0.1:6379 --redis-key 'user:{user_id}'\n"
	      "\n"
	      "See rtai-join(1), rtai-record(5) and rtai(7).\n", fp);
	exit(status);
}

/* ---- state ------------------------------------------------------------- */

static struct frame_wr out;		/* stdout */
static struct frame_rd in;		/* the stream */
static struct errpol ep = ERRPOL_INIT;	/* --on-error, --dlq */
static struct rec rec;		/* the record being joined */
static struct buf key;			/* its key */
static struct buf oldkey;		/* a changed row's previous key */
static struct buf encoded;		/* a JSON record, encoded */
static struct buf joined;		/* the record and its row */
static struct buf sel;			/* a row's chosen fields, encoded */
static struct tab_names on;		/* --on */
static struct tab_names tkey;		/* --table-key, or --on */
static struct tab_sel pick;		/* --fields, --prefix */
static struct tab table;		/* the rows */
static struct dbz_event ev;		/* a change being applied */
static struct rec urec;		/* a change read as a binary record */
static struct buf utext;		/* ... or as JSON text */

static struct frame_rd upd;		/* --updates: the changelog */

/* Without --as-of a record joins the row as the changelog has made it so
 * far. A record whose event time is this much before the latest change
 * time applied is being joined with its future: a replayed capture, or a
 * stream that fell far behind (see rtai-join(1), "Changelogs"). An hour is
 * far beyond the lag of a live pipeline, and well short of a replay of
 * yesterday's capture. */
#define FUTURE_LAG (3600 * RTAI_NS_PER_SEC)
static int64_t latest_change = RTAI_TIME_UNSET;	/* from --updates, or unset */
static int warned_future;		/* said so once */

/* Checkpoints (rtai(7) "Checkpoints"): at each barrier of the stream the
 * table as it stands (the --table file's rows and every change applied
 * since, with their versions) and the changelog's read position go to
 * DIR; a rerun restores the table from there instead of loading the file,
 * and skips the changes of the changelog that the table already has. */
static struct {
	struct ckpt *c;			/* NULL: checkpoints off */
	struct rec brec;		/* a barrier's fields */
	struct buf snap;		/* a snapshot being written (reused) */
	int64_t resumed;		/* the checkpoint resumed from, 0 for none */
	uint64_t skip_recs, skip_off;	/* resuming: changes (records or lines) and
					 * bytes of the changelog in the table already */
	int skipping;			/* reading those again, not applying them */
} cp;

static struct {
	uint64_t records, hits, misses;
	uint64_t upserts, deletes, tombstones, truncates, bad_changes;
	uint64_t lookups, round_trips, cache_hits;
} stats;

/* ---- bad input ---------------------------------------------------------- */

static void redis_drain(void);

/* A record that cannot be joined (f, record recno of the stream): through
 * the error policy; under fail the tool ends here, its output cut. */
static void bad_record(const struct frame *f, uint64_t recno, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void bad_record(const struct frame *f, uint64_t recno, const char *fmt, ...)
{
	char msg[512], where[800];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(where, sizeof(where), "%s: record %llu: %s", in.name, (unsigned long long)recno,
		 msg);
	if (errpol_refuse(&ep, f, where, msg) < 0) {
		redis_drain();
		wr_flush(&out);
		exit(RTAI_EXIT_FAIL);
	}
}

/* A bad row or change: returns -1 with --on-error fail (the caller stops),
 * 0 once reported with --on-error skip. */
static int bad_change(const char *name, int stream, uint64_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int bad_change(const char *name, int stream, uint64_t n, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ep.mode == ERRPOL_FAIL) {
		cli_warn("%s: %s %llu: %s", name, stream ? "record" : "line", (unsigned long long)n,
			  msg);
		return -1;
	}
	if (++stats.bad_changes <= 10)
		cli_warn("%s: %s %llu: %s (skipped)", name, stream ? "record" : "line",
			  (unsigned long long)n, msg);
	return 0;
}

/* ---- changes: rows, upserts, deletes ------------------------------------- */

/* Where a change came from, for messages. */
struct origin {
	const char *name;
	int stream;		/* records, not lines */
	uint64_t n;		/* line or record number */
	int64_t frame_t;	/* the frame's event time, or RTAI_TIME_UNSET */
};

/* The valid-from time of an upserted row under --as-of. Returns 0, or -1
 * after bad_change() said why (its result in *rc). */
static int valid_from(const struct origin *o, const struct rec *row, int64_t *at, int *rc)
{
	const struct rec_field *f = rec_getz(row, opt.asof);
	const char *why = NULL;

	if (f == NULL || f->v.type == RT_NULL) {
		*at = ev.ts_ns != RTAI_TIME_UNSET ? ev.ts_ns : o->frame_t;
		if (*at != RTAI_TIME_UNSET)
			return 0;
		*rc = bad_change(o->name, o->stream, o->n,
				 "no field \"%s\" (--as-of) and no change time: cannot place the row in time",
				 opt.asof);
		return -1;
	}
	switch (f->v.type) {
	case RT_TIME:
		*at = f->v.i;
		return 0;
	case RT_INT:
		if (rtime_epoch_i64(f->v.i, RTAI_TU_AUTO, at, &why) == 0)
			return 0;
		break;
	case RT_FLOAT:
		if (rtime_epoch_f64(f->v.f, RTAI_TU_AUTO, at, &why) == 0)
			return 0;
		break;
	case RT_STR:
		if (rtime_parse_time(f->v.s.p, f->v.s.n, RTAI_TU_AUTO, at, &why) == 0)
			return 0;
		break;
	default:
		why = "not a time";
		break;
	}
	*rc = bad_change(o->name, o->stream, o->n, "field \"%s\" (--as-of): %s: %s", opt.asof,
			 rt_type_name(f->v.type), why);
	return -1;
}

/* The key of a table row into key. Returns 0, or -1 after bad_change(). */
static int row_key(const struct origin *o, const struct rec *row, int *rc)
{
	size_t bad;
	int k;

	buf_reset(&key);
	k = tab_key(&tkey, row, &key, &bad);
	if (k == TAB_KEY_OK)
		return 0;
	*rc = bad_change(o->name, o->stream, o->n, "%s key field \"%s\"%s",
			 k == TAB_KEY_MISSING ? "no" : "null", tkey.name[bad],
			 opt.table_key ? " (--table-key)" : " (--on)");
	return -1;
}

static int too_many(const struct origin *o, const struct tab *t)
{
	if (t->nver <= (uint64_t)opt.max_rows)
		return 0;
	cli_warn("%s: %s %llu: more than %lld rows%s (--max-rows)", o->name,
		  o->stream ? "record" : "line", (unsigned long long)o->n, opt.max_rows,
		  opt.asof ? " and versions" : "");
	return -1;
}

/* Applies the change in ev to t. Returns 0, or -1 to stop (an error was
 * reported). */
static int apply(struct tab *t, const struct origin *o)
{
	int64_t at = TAB_NOW;
	int rc = 0;
	char err[200];
	uint32_t nf;

	switch (ev.kind) {
	case DBZ_TOMBSTONE:
		stats.tombstones++;
		return 0;
	case DBZ_TRUNCATE:
		if (opt.asof) {
			at = ev.ts_ns != RTAI_TIME_UNSET ? ev.ts_ns : o->frame_t;
			if (at == RTAI_TIME_UNSET)
				return bad_change(o->name, o->stream, o->n,
						  "a truncate without a change time cannot be placed in time (--as-of)");
		}
		tab_clear(t, at);
		stats.truncates++;
		return 0;
	case DBZ_DELETE:
		if (row_key(o, &ev.row, &rc) < 0)
			return rc;
		/* A row marked deleted says when in its own field, unless its
		 * frame has an event time: rtai-parse --debezium gives a delete
		 * the change time there, and writes the `before` image, whose
		 * field holds the old version's time, not the delete's. */
		if (opt.asof && ev.plain && o->frame_t == RTAI_TIME_UNSET &&
		    rec_getz(&ev.row, opt.asof) != NULL) {
			if (valid_from(o, &ev.row, &at, &rc) < 0)
				return rc;
		} else if (opt.asof) {
			at = ev.ts_ns != RTAI_TIME_UNSET ? ev.ts_ns : o->frame_t;
			if (at == RTAI_TIME_UNSET) {
				if (ev.op == 0) {	/* a tombstone after its delete */
					stats.tombstones++;
					return 0;
				}
				return bad_change(o->name, o->stream, o->n,
						  "a delete without a change time (source.ts_ms) cannot be placed in time (--as-of)");
			}
		}
		tab_delete(t, key.p, key.len, at);
		if (ev.op == 0)
			stats.tombstones++;
		else
			stats.deletes++;
		return too_many(o, t);
	case DBZ_ROW:
	case DBZ_UPSERT:
		if (opt.asof && valid_from(o, &ev.row, &at, &rc) < 0)
			return rc;
		if (row_key(o, &ev.row, &rc) < 0)
			return rc;
		/* A key change: the old key goes, as Debezium's delete would. */
		if (ev.has_before) {
			size_t bad;

			buf_reset(&oldkey);
			if (tab_key(&tkey, &ev.before, &oldkey, &bad) == TAB_KEY_OK &&
			    (oldkey.len != key.len || memcmp(oldkey.p, key.p, key.len) != 0))
				tab_delete(t, oldkey.p, oldkey.len, at);
		}
		buf_reset(&sel);
		if (tab_sel_encode(&pick, &ev.row, &sel, &nf, err, sizeof(err)) < 0)
			return bad_change(o->name, o->stream, o->n, "%s", err);
		tab_upsert(t, key.p, key.len, at, sel.p, sel.len, nf);
		stats.upserts++;
		return too_many(o, t);
	}
	return 0;
}

/* Reads one change from a frame or a line into ev. Returns 0, or -1 after
 * bad_change() (whose result is in *rc). */
/* A record that is a change event rather than a row: an envelope, the
 * converter's wrapper, a Kafka message (see debezium.h). */
static int looks_like_event(const struct rec *r)
{
	return (rec_getz(r, "op") != NULL &&
		(rec_getz(r, "after") != NULL || rec_getz(r, "before") != NULL)) ||
	       (rec_getz(r, "schema") != NULL && rec_getz(r, "payload") != NULL) ||
	       (rec_getz(r, "topic") != NULL && rec_getz(r, "key") != NULL);
}

static int read_change(const struct origin *o, const struct frame *f, const uint8_t *line,
		       size_t len, int *rc)
{
	const char *p = f ? (const char *)f->payload : (const char *)line;
	size_t n = f ? f->len : len;

	if (f == NULL || f->enc != RTAI_E_REC) {
		/* Most rows are flat objects: read them without jansson. */
		if (jflat_parse(&urec, p, n) == 0 && !looks_like_event(&urec))
			goto row;
	} else {
		if (rec_decode(&urec, f->payload, f->len) < 0) {
			*rc = bad_change(o->name, o->stream, o->n, "%s", urec.err);
			return -1;
		}
		if (!looks_like_event(&urec))
			goto row;
		/* An envelope parsed by rtai-parse without --debezium: nested
		 * objects became JSON fields; read it as the text it was. */
		buf_reset(&utext);
		rec_to_json(&urec, &utext);
		p = (const char *)utext.p;
		n = utext.len;
	}
	if (dbz_parse(&ev, p, n, 0) == 0)
		return 0;
	*rc = bad_change(o->name, o->stream, o->n, "%s", ev.err);
	return -1;
row:
	if (dbz_from_rec(&ev, &urec) == 0)
		return 0;
	*rc = bad_change(o->name, o->stream, o->n, "%s", ev.err);
	return -1;
}

/* One change (a frame, or a line when f is NULL) applied to t. Returns 0,
 * or -1 to stop. */
static int change_one(struct tab *t, struct origin *o, const struct frame *f,
		      const uint8_t *line, size_t len)
{
	int rc = 0;

	if (f != NULL && f->kind != RTAI_K_DATA)
		return 0;
	o->frame_t = f != NULL ? f->event_ns : RTAI_TIME_UNSET;
	if (read_change(o, f, line, len, &rc) < 0)
		return rc;
	return apply(t, o);
}

/* Loads the table file into t. Returns 0, or -1 after a message. */
static int load_table(const char *path, struct tab *t)
{
	struct frame_rd rd;
	struct frame f;
	struct origin o = { 0 };
	int64_t start = cli_mono_ns();
	int st, ret = 0;

	if (rd_open(&rd, path) < 0) {
		cli_warn("%s", rd.err);
		return -1;
	}
	o.name = rd.name;
	t->bulk = 1;
	st = rd_is_stream(&rd);
	o.stream = st == 1;
	if (st == 1) {
		while ((st = rd_frame(&rd, &f)) > 0) {
			o.n = rd.nrec;
			if (change_one(t, &o, &f, NULL, 0) < 0) {
				ret = -1;
				break;
			}
		}
	} else if (st == 0) {
		const uint8_t *p;
		size_t n;
		struct stat sb;

		while ((st = rd_line(&rd, &p, &n)) > 0) {
			o.n = rd.nrec;
			/* Size the table from the file and its first line:
			 * a hint, so a wrong guess costs only time. */
			if (o.n == 1 && rd.zstd == NULL && fstat(rd.fd, &sb) == 0 &&
			    S_ISREG(sb.st_mode) && sb.st_size > 0)
				tab_reserve(t, t->nkeys + (size_t)sb.st_size / (n + 1));
			if (change_one(t, &o, NULL, p, n) < 0) {
				ret = -1;
				break;
			}
		}
	}
	if (st < 0) {
		cli_warn("%s", rd.err);
		ret = -1;
	}
	t->bulk = 0;
	if (ret == 0 && opt.verbose) {
		char d[RTAI_TIME_BUFSZ];

		rtime_fmt_duration(cli_mono_ns() - start, d);
		cli_warn("%s: %llu rows, %llu versions, loaded in %s", rd.name,
			  (unsigned long long)t->nlive, (unsigned long long)t->nver, d);
	}
	rd_close(&rd);
	return ret;
}

/* SIGHUP: a fresh table from the file; on an error the old one stays. */
static void reload_table(void)
{
	struct tab fresh;
	int cut_before = rd_cut_seen;

	tab_init(&fresh);
	if (load_table(opt.table, &fresh) < 0) {
		/* A cut table file is refused here: the stream goes on whole. */
		rd_cut_seen = cut_before;
		cli_warn("%s: reload failed; keeping the table as it was", opt.table);
		tab_free(&fresh);
		return;
	}
	tab_free(&table);
	table = fresh;
	if (opt.verbose)
		cli_warn("%s: reloaded", opt.table);
}

/* ---- the changelog, read alongside ---------------------------------------- */

/* The changelog does not match the checkpoint being resumed: its first
 * changes are not those the restored table holds. */
static void changelog_changed(const struct frame_rd *rd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
static void changelog_changed(const struct frame_rd *rd, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	wr_flush(&out);
	cli_die(RTAI_EXIT_FAIL, "%s: byte %llu: %s: the changelog changed since checkpoint %lld "
		 "of %s was taken (truncated or replaced?), or its writer did not send it again "
		 "from the start, so it cannot be resumed; remove %s to start afresh", rd->name,
		 (unsigned long long)rd->pos, what, (long long)cp.resumed, ckpt_dir(cp.c),
		 ckpt_dir(cp.c));
}

/* Resuming: whether the change just read (a data frame or a line; f NULL
 * for a line) is one the restored table holds already (then it is not
 * applied again). A changelog is read again from its start by a rerun,
 * and its first cp.skip_recs changes, up to byte cp.skip_off, are those. */
static int changelog_skip(const struct frame_rd *rd, const struct frame *f)
{
	if (!cp.skipping)
		return 0;
	if (f != NULL && f->kind != RTAI_K_DATA)
		return 1;	/* control frames before the position: ignored anyway */
	if (rd->pos > cp.skip_off)
		changelog_changed(rd, "change %llu ends past byte %llu, where change %llu ended "
				  "when the checkpoint was taken", (unsigned long long)rd->nrec,
				  (unsigned long long)cp.skip_off, (unsigned long long)cp.skip_recs);
	if (rd->nrec >= cp.skip_recs)
		cp.skipping = 0;
	return 1;
}

/* One change from the changelog, a frame (f) or a line (p, n). Exits 1
 * on a bad change with --on-error fail. */
static int change_in(struct frame_rd *rd, const struct frame *f, const uint8_t *p,
		     size_t n)
{
	struct origin o = { .name = rd->name, .stream = f != NULL, .n = rd->nrec };
	int64_t t;

	if (changelog_skip(rd, f))
		return 0;
	if (change_one(&table, &o, f, p, n) < 0) {
		wr_flush(&out);
		exit(RTAI_EXIT_FAIL);
	}
	if (f != NULL && f->kind != RTAI_K_DATA)
		return 0;
	t = ev.ts_ns != RTAI_TIME_UNSET ? ev.ts_ns : o.frame_t;
	if (t != RTAI_TIME_UNSET && (latest_change == RTAI_TIME_UNSET || t > latest_change))
		latest_change = t;
	return 0;
}

static int change_frame(void *arg, struct frame_rd *rd, const struct frame *f)
{
	(void)arg;
	return change_in(rd, f, NULL, 0);
}

static int change_line(void *arg, struct frame_rd *rd, const uint8_t *p, size_t n)
{
	(void)arg;
	return change_in(rd, NULL, p, n);
}

/* The changelog ended: the table stays as it is, the stream goes on. */
static int changes_end(void *arg, struct frame_rd *rd, enum loop_end why)
{
	(void)arg;
	if (why == LOOP_END_ERROR) {
		wr_flush(&out);
		cli_die(rd->cut ? RTAI_EXIT_CUT : RTAI_EXIT_FAIL, "%s", rd->err);
	}
	if (why == LOOP_END_EOF && cp.skipping)
		changelog_changed(rd, "it ends after %llu changes, before the position recorded "
				  "(change %llu, byte %llu)", (unsigned long long)rd->nrec,
				  (unsigned long long)cp.skip_recs, (unsigned long long)cp.skip_off);
	if (why == LOOP_END_EOF && opt.verbose)
		cli_warn("%s: end of the changelog; the table stays as it is", rd->name);
	return 0;
}

/* ---- joining --------------------------------------------------------------- */

/* Writes the record r (decoded from f) joined with a row's fields, or,
 * without a row, the record as it came (or nothing with --inner). */
static void emit(const struct frame *f, const struct rec *r, uint64_t recno,
		 const uint8_t *row, size_t len, uint32_t nf, int found)
{
	const uint8_t *p = f->payload;
	size_t n = f->len;

	if (!found) {
		stats.misses++;
		if (!opt.inner)
			wr_frame(&out, f);
		return;
	}
	stats.hits++;
	if (f->enc != RTAI_E_REC) {
		buf_reset(&encoded);
		rec_encode(r, &encoded);
		p = encoded.p;
		n = encoded.len;
	}
	if (tab_join_into(&joined, p, n, r, row, len, nf) < 0) {
		bad_record(f, recno, "more than 65535 fields after the join");
		return;
	}
	wr_put_meta(&out, RTAI_K_DATA, RTAI_E_REC, f->flags, f->ingest_ns, f->event_ns, f->meta,
		    f->meta_len, joined.p, joined.len);
}

/* Table look-ups are software-pipelined over the frames already read: a
 * look-up in a large table costs a cache miss for the slot and one for the
 * row, so each record's slot is prefetched when it is read, its row
 * PREFETCH_ROW records later (with --as-of, a key's versions after that:
 * PREFETCH_VERS), and it is joined and written JOIN_AFTER
 * records later, in order: the misses of neighbouring records overlap
 * instead of adding up. */
#define AHEAD 32			/* ring size: more than JOIN_AFTER */
#define PREFETCH_ROW 8
#define PREFETCH_VERS 11		/* --as-of: the versions' array, then (2
					 * records later) the versions */
#define JOIN_AFTER 16

enum ah_state { AH_FRAME, AH_JOIN, AH_NOKEY, AH_BADREC, AH_MISSING, AH_NOTIME };

struct ahead_item {
	struct frame f;		/* payload still in the reader's buffer */
	struct rec rec;		/* decoded */
	struct buf key;
	uint64_t recno, hash;
	size_t bad;			/* AH_MISSING: which --on field */
	enum ah_state state;
};

static struct {
	struct ahead_item a[AHEAD];
	uint64_t head, tail;		/* items [head, tail) wait, mod AHEAD */
} ahead;

/* Says once that a record is joined with changes from over an hour after
 * its event time (FUTURE_LAG). */
static void warn_future(const struct ahead_item *a)
{
	char et[RTAI_TIME_BUFSZ], ct[RTAI_TIME_BUFSZ];

	rtime_fmt_time(a->f.event_ns, et);
	rtime_fmt_time(latest_change, ct);
	cli_warn("%s: record %llu: event time %s is over an hour before a change already applied "
		  "from %s (%s): without --as-of a record joins the row as it is now, so a replayed "
		  "capture sees values from its future (join as of each record's time with --as-of FIELD)",
		  in.name, (unsigned long long)a->recno, et, upd.name, ct);
	warned_future = 1;
}

static void ahead_join(struct ahead_item *a)
{
	const struct tab_ver *v;

	switch (a->state) {
	case AH_FRAME:
		if (a->f.kind == RTAI_K_MARKER)
			wr_marker(&out, &a->f, "rtai-join");
		else
			wr_frame(&out, &a->f);
		break;
	case AH_BADREC:
		bad_record(&a->f, a->recno, "%s%s", a->rec.err,
			   a->f.enc == RTAI_E_RAW ? " (pipe the stream through rtai-parse first)" : "");
		break;
	case AH_MISSING:
		bad_record(&a->f, a->recno, "no field \"%s\" (--on)", on.name[a->bad]);
		break;
	case AH_NOTIME:
		bad_record(&a->f, a->recno, "no event time: --as-of joins a record as of its event time (give it one with rtai-parse -t FIELD)");
		break;
	case AH_NOKEY:		/* the key rule (key.h): a null key is no key */
		bad_record(&a->f, a->recno, "field \"%s\": null (--on): no key", on.name[a->bad]);
		break;
	case AH_JOIN:
		if (!opt.asof && latest_change != RTAI_TIME_UNSET && !warned_future &&
		    a->f.event_ns != RTAI_TIME_UNSET && a->f.event_ns < latest_change - FUTURE_LAG)
			warn_future(a);
		v = tab_find_h(&table, a->key.p, a->key.len, a->hash,
			       opt.asof ? a->f.event_ns : TAB_NOW, opt.ttl);
		emit(&a->f, &a->rec, a->recno, v ? v->enc : NULL, v ? v->len : 0,
		     v ? v->nf : 0, v != NULL);
		break;
	}
}

static void ahead_prefetch_row(const struct ahead_item *a)
{
	if (a->state == AH_JOIN)
		tab_prefetch_row(&table, a->hash);
}

/* --as-of: a key's versions, in two more steps (tab_prefetch_versions). */
static void ahead_prefetch_versions(const struct ahead_item *a, int deep)
{
	if (a->state == AH_JOIN && opt.asof)
		tab_prefetch_versions(&table, a->hash, deep);
}

/* Reads a frame's key and prefetches its slot; joins older frames. */
static void ahead_add(const struct frame *f)
{
	struct ahead_item *a = &ahead.a[ahead.tail++ % AHEAD];
	int rc;

	a->f = *f;
	a->recno = in.nrec;
	a->state = AH_FRAME;
	if (f->kind == RTAI_K_DATA) {
		stats.records++;
		a->state = AH_BADREC;
		if (rec_from_frame(&a->rec, f) < 0)
			goto next;
		buf_reset(&a->key);
		rc = tab_key(&on, &a->rec, &a->key, &a->bad);
		if (rc != TAB_KEY_OK) {
			a->state = rc == TAB_KEY_MISSING ? AH_MISSING : AH_NOKEY;
		} else if (opt.asof && f->event_ns == RTAI_TIME_UNSET) {
			a->state = AH_NOTIME;
		} else {
			a->hash = tab_hash(&table, a->key.p, a->key.len);
			tab_prefetch(&table, a->hash);
			a->state = AH_JOIN;
		}
	}
next:
	if (ahead.tail - ahead.head > PREFETCH_ROW)
		ahead_prefetch_row(&ahead.a[(ahead.tail - 1 - PREFETCH_ROW) % AHEAD]);
	if (ahead.tail - ahead.head > PREFETCH_VERS)
		ahead_prefetch_versions(&ahead.a[(ahead.tail - 1 - PREFETCH_VERS) % AHEAD], 0);
	if (ahead.tail - ahead.head > PREFETCH_VERS + 2)
		ahead_prefetch_versions(&ahead.a[(ahead.tail - 1 - PREFETCH_VERS - 2) % AHEAD], 1);
	if (ahead.tail - ahead.head > JOIN_AFTER)
		ahead_join(&ahead.a[ahead.head++ % AHEAD]);
}

/* Joins every waiting frame: before waiting for input, at a marker, at
 * the end. */
static void ahead_run(void)
{
	uint64_t from = ahead.tail - ahead.head > PREFETCH_ROW ? ahead.tail - PREFETCH_ROW : ahead.head;

	for (uint64_t i = from; i < ahead.tail; i++)
		ahead_prefetch_row(&ahead.a[i % AHEAD]);
	while (ahead.head < ahead.tail)
		ahead_join(&ahead.a[ahead.head++ % AHEAD]);
}

static void ahead_free(void)
{
	for (size_t i = 0; i < AHEAD; i++) {
		rec_free(&ahead.a[i].rec);
		buf_free(&ahead.a[i].key);
	}
}

/* ---- Redis: look-ups pipelined per burst, and an LRU cache ------------------- */

#define BURST 512			/* records looked up per round trip, at most */

enum { ROW_PENDING, ROW_FOUND, ROW_NONE, ROW_ERROR };

struct held {				/* a frame waiting for its look-up */
	struct frame f;		/* payload: offset into burst.data */
	size_t off;
	uint64_t recno;
	uint32_t ent;			/* cache entry, or LRU_NIL: pass it on */
};

static struct {
	int on;				/* --redis */
	struct rcl c;			/* the shared client */
	struct tmpl tmpl;		/* --redis-key */
	struct lru cache;
	uint64_t burst_no;		/* entries tagged with it are this burst's */
	int64_t now;			/* monotonic time of this burst */
	struct held *held;		/* the burst, in order */
	size_t nheld;
	struct buf data;		/* their payloads */
	int draining;
	struct rec row;		/* a reply as a record */
} rds;

static int cache_good(const struct lru_ent *e)
{
	if (e->tag == rds.burst_no)
		return 1;
	if (opt.cache == 0 || e->state == ROW_ERROR)
		return 0;
	return opt.cache_ttl == 0 || rds.now - e->stamp < opt.cache_ttl;
}

/* A hash value as a record value: numbers (JSON syntax) become numbers,
 * everything else stays a string. */
static struct val hash_val(const char *s, size_t n)
{
	const char *p = s, *end = s + n;
	int frac = 0;
	char tmp[64];

	if (n == 0 || n >= sizeof(tmp))
		return val_str(s, n);
	if (*p == '-')
		p++;
	if (p == end || *p < '0' || *p > '9' || (*p == '0' && p + 1 < end && p[1] >= '0' && p[1] <= '9'))
		return val_str(s, n);
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	if (p < end && *p == '.') {
		frac = 1;
		if (++p == end || *p < '0' || *p > '9')
			return val_str(s, n);
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		frac = 1;
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || *p < '0' || *p > '9')
			return val_str(s, n);
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p != end)
		return val_str(s, n);
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (!frac) {
		long long v;
		const char *why;

		if (cli_parse_int(tmp, INT64_MIN, INT64_MAX, &v, &why) == 0)
			return val_int(v);
	}
	return val_float(strtod(tmp, NULL));
}

/* Stores a reply to HGETALL in cache entry e. */
static void take_reply(struct lru_ent *e, const struct rcl_reply *r)
{
	char err[200];
	uint32_t nf = 0;

	buf_reset(&e->val);
	e->stamp = rds.now;
	if (r->type == REDIS_REPLY_ERROR) {
		e->state = ROW_ERROR;
		buf_append(&e->val, r->str, r->len);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->n % 2 != 0) {
		e->state = ROW_ERROR;
		buf_puts(&e->val, "unexpected reply to HGETALL");
		return;
	}
	rec_reset(&rds.row);
	for (size_t i = 0; i + 1 < r->n; i += 2) {
		const struct rcl_elem *k = &r->elem[i], *v = &r->elem[i + 1];

		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || k->len > 255)
			continue;
		rec_add(&rds.row, k->str, k->len, hash_val(v->str, v->len));
	}
	if (tab_sel_encode(&pick, &rds.row, &e->val, &nf, err, sizeof(err)) < 0) {
		e->state = ROW_ERROR;
		buf_reset(&e->val);
		buf_puts(&e->val, err);
		return;
	}
	e->aux = nf;
	e->state = r->n > 0 ? ROW_FOUND : ROW_NONE;
}

/* The client's done callback: tag is the cache entry that asked. */
static void on_reply(void *arg, const struct rcl_done *d)
{
	(void)arg;
	take_reply(&rds.cache.e[d->tag], d->reply);
}

/* Reads the replies of the burst, then writes its frames in order. */
static void redis_drain(void)
{
	if (!rds.on || rds.draining)
		return;
	rds.draining = 1;
	if (rcl_pending(&rds.c) > 0)
		stats.round_trips++;
	if (rcl_sync(&rds.c) < 0) {
		wr_flush(&out);
		cli_die(RTAI_EXIT_FAIL, "%s", rds.c.err);
	}
	for (size_t i = 0; i < rds.nheld; i++) {
		struct held *h = &rds.held[i];
		struct lru_ent *e;

		h->f.payload = rds.data.p + h->off;
		if (h->ent == LRU_NIL) {	/* not a record */
			wr_frame(&out, &h->f);
			continue;
		}
		e = &rds.cache.e[h->ent];
		if (e->state == ROW_ERROR) {
			bad_record(&h->f, h->recno, "redis: HGETALL %.*s: %.*s", (int)e->key.len,
				   (const char *)e->key.p, (int)e->val.len, (const char *)e->val.p);
			continue;
		}
		if (rec_decode(&rec, h->f.payload, h->f.len) < 0)
			continue;	/* cannot happen: encoded by us or checked */
		emit(&h->f, &rec, h->recno, e->val.p, e->val.len, e->aux, e->state == ROW_FOUND);
	}
	rds.nheld = 0;
	buf_reset(&rds.data);
	rds.burst_no++;
	rds.now = cli_mono_ns();
	rds.draining = 0;
}

static struct held *hold(const struct frame *f, const void *payload, size_t len)
{
	struct held *h = &rds.held[rds.nheld++];

	h->f = *f;
	h->f.len = (uint32_t)len;
	h->f.meta = NULL;		/* not copied: the record goes on without it */
	h->f.flags &= ~RTAI_F_META;
	h->off = rds.data.len;
	h->recno = in.nrec;
	h->ent = LRU_NIL;
	buf_append(&rds.data, payload, len);
	return h;
}

/* Adds a frame to the burst, sending its look-up. */
static void join_redis(const struct frame *f)
{
	struct held *h;
	struct lru_ent *e;
	char err[200];
	uint64_t hash;
	uint32_t i;

	if (f->kind != RTAI_K_DATA) {
		hold(f, f->payload, f->len);
		return;
	}
	stats.records++;
	if (rec_from_frame(&rec, f) < 0) {
		bad_record(f, in.nrec, "%s%s", rec.err,
			   f->enc == RTAI_E_RAW ? " (pipe the stream through rtai-parse first)" : "");
		return;
	}
	buf_reset(&key);
	if (tmpl_render(&rds.tmpl, &rec, &key, err, sizeof(err)) < 0) {
		bad_record(f, in.nrec, "%s (--redis-key)", err);
		return;
	}
	if (f->enc == RTAI_E_REC) {
		h = hold(f, f->payload, f->len);
	} else {
		buf_reset(&encoded);
		rec_encode(&rec, &encoded);
		h = hold(f, encoded.p, encoded.len);
		h->f.enc = RTAI_E_REC;
	}
	hash = rec_hash(key.p, key.len, 0);
	i = lru_get(&rds.cache, key.p, key.len, hash);
	if (i != LRU_NIL && cache_good(&rds.cache.e[i])) {
		stats.cache_hits++;	/* cached, or already asked in this burst */
		h->ent = i;
		return;
	}
	if (i == LRU_NIL)
		i = lru_put(&rds.cache, key.p, key.len, hash);
	e = &rds.cache.e[i];
	e->tag = rds.burst_no;
	e->state = ROW_PENDING;
	rcl_begin(&rds.c);
	rcl_cmd(&rds.c, 2);
	rcl_argz(&rds.c, "HGETALL");
	rcl_key(&rds.c, key.p, key.len);
	rcl_commit(&rds.c, i, 0);
	stats.lookups++;
	h->ent = i;
}

static void redis_open(const char *url_arg)
{
	char err[300];

	if (rcl_init(&rds.c, url_arg, on_reply, NULL, err, sizeof(err)) < 0)
		cli_usage_error("--redis: %s", err);
	rds.on = 1;
	if (tmpl_compile(&rds.tmpl, opt.redis_key, err, sizeof(err)) < 0)
		cli_usage_error("--redis-key: %s", err);
	if (rcl_connect(&rds.c) < 0)
		cli_die(RTAI_EXIT_FAIL, "%s", rds.c.err);
	lru_init(&rds.cache, (uint32_t)(opt.cache > BURST ? opt.cache : BURST));
	rds.held = xmalloc(BURST * sizeof(*rds.held));
	rds.burst_no = 1;
	rds.now = cli_mono_ns();
}

static void redis_close(void)
{
	rcl_free(&rds.c);
	rds.on = 0;
	tmpl_free(&rds.tmpl);
	lru_free(&rds.cache);
	free(rds.held);
	buf_free(&rds.data);
	rec_free(&rds.row);
}

/* ---- checkpoints ------------------------------------------------------------ */

/* The stage's state, after a tag and version of its own: the counts, the
 * latest change time (for the warning about joins with the future), the
 * changelog's read position (changes applied, bytes read; both 0 without
 * --updates), then, to the end, the table's image (tab_snapshot). The
 * Redis cache is not kept: a rerun reads the rows again. */
#define STATE_TAG "rtai-join 1"

static void save_state(struct buf *b)
{
	uint64_t nrec = upd.nrec, pos = upd.pos;

	if (cp.skipping) {	/* the table has the changes up to there already */
		nrec = cp.skip_recs;
		pos = cp.skip_off;
	}
	snap_bytes(b, STATE_TAG, strlen(STATE_TAG));
	snap_u64(b, stats.records);
	snap_u64(b, stats.hits);
	snap_u64(b, stats.misses);
	snap_u64(b, stats.upserts);
	snap_u64(b, stats.deletes);
	snap_u64(b, stats.tombstones);
	snap_u64(b, stats.truncates);
	snap_u64(b, stats.bad_changes);
	snap_u64(b, stats.lookups);
	snap_u64(b, stats.round_trips);
	snap_u64(b, stats.cache_hits);
	snap_i64(b, latest_change);
	snap_u8(b, (uint8_t)warned_future);
	snap_u8(b, opt.updates != NULL);
	snap_u64(b, nrec);
	snap_u64(b, pos);
	tab_snapshot(&table, b);
}

/* Loads what save_state() wrote into the fresh table. Returns 0, or -1
 * with err set. */
static int load_state(const uint8_t *p, size_t n, char *err, size_t errlen)
{
	struct snap_rd r;
	int has_updates;

	if (snap_open_tagged(&r, p, n, STATE_TAG, "rtai-join's table", err, errlen) < 0)
		return -1;
	stats.records = snap_get_u64(&r);
	stats.hits = snap_get_u64(&r);
	stats.misses = snap_get_u64(&r);
	stats.upserts = snap_get_u64(&r);
	stats.deletes = snap_get_u64(&r);
	stats.tombstones = snap_get_u64(&r);
	stats.truncates = snap_get_u64(&r);
	stats.bad_changes = snap_get_u64(&r);
	stats.lookups = snap_get_u64(&r);
	stats.round_trips = snap_get_u64(&r);
	stats.cache_hits = snap_get_u64(&r);
	latest_change = snap_get_i64(&r);
	warned_future = snap_get_u8(&r) != 0;
	has_updates = snap_get_u8(&r);
	cp.skip_recs = snap_get_u64(&r);
	cp.skip_off = snap_get_u64(&r);
	if (has_updates != (opt.updates != NULL))
		snap_fail(&r, "--updates does not match");
	if (snap_close_tagged(&r, 0, err, errlen) < 0)
		return -1;
	cp.skipping = cp.skip_recs > 0;
	return tab_restore(&table, p + r.off, n - r.off, err, errlen);
}

/* Opens DIR and loads the latest complete checkpoint, if any, into the
 * table (fresh from tab_init). Returns 0 with *restored set, or an exit
 * status after a message. */
static int ckpt_start(int argc, char **argv, int *restored)
{
	int rc = ckpt_stage(&cp.c, &cp.resumed, "rtai-join", opt.ckpt_dir, argc, argv,
			    opt.stage_name, load_state);

	*restored = rc == 0 && cp.resumed > 0;
	return rc;
}

/* save_state() for ckpt_write_bg (it serializes into its own buffer). */
static void save_bg(struct buf *b, void *arg)
{
	(void)arg;
	save_state(b);
}

/* A barrier of the stream: every record before it is joined and written,
 * the table and the changelog's position go to DIR, then the barrier goes
 * on. Barriers come from the stream only (the changelog's are ignored):
 * the changelog is a side input whose position is part of the snapshot
 * (rtai-record(5), "Barriers"). A savepoint ends the stage after that. */
static void on_barrier(struct loop *l, struct frame_rd *rd, const struct frame *f)
{
	struct barrier b;
	char err[1024];

	ahead_run();
	redis_drain();
	/* What went before the barrier leaves before the snapshot is written:
	 * once the checkpoint is complete, a rerun never writes it again. */
	wr_flush(&out);
	if (barrier_read(rd, f, &cp.brec, &b) < 0) {
		wr_flush(&out);
		exit(RTAI_EXIT_FAIL);
	}
	if (!b.savepoint) {
		/* In the background (ckpt_write_bg); a savepoint ends the run,
		 * so it is written before the barrier goes on. */
		if (ckpt_write_bg(cp.c, b.checkpoint, save_bg, NULL, err, sizeof(err)) < 0) {
			wr_flush(&out);
			cli_die(RTAI_EXIT_FAIL, "%s", err);
		}
	} else {
		buf_reset(&cp.snap);
		save_state(&cp.snap);
		if (ckpt_wait(cp.c, err, sizeof(err)) < 0 ||
		    ckpt_write(cp.c, b.checkpoint, cp.snap.p, cp.snap.len, err, sizeof(err)) < 0) {
			wr_flush(&out);
			cli_die(RTAI_EXIT_FAIL, "checkpoint %lld: %s", (long long)b.checkpoint, err);
		}
	}
	wr_frame(&out, f);
	wr_flush(&out);
	if (b.savepoint)
		loop_stop(l);
}

/* ---- the main loop -------------------------------------------------------- */

/* A frame of the stream, a record or not: in order with the records. */
static int stream_frame(void *arg, struct frame_rd *rd, const struct frame *f)
{
	if (f->kind == RTAI_K_SCHEMA)
		return 0;	/* joined records have more fields: none goes on */
	if (f->kind == RTAI_K_BARRIER && cp.c != NULL) {
		on_barrier(arg, rd, f);
		return 0;
	}
	if (!rds.on) {
		ahead_add(f);
		if (f->kind == RTAI_K_MARKER)
			ahead_run();
	} else if (f->kind == RTAI_K_MARKER) {
		redis_drain();
		wr_marker(&out, f, "rtai-join");
	} else {
		join_redis(f);
		if (rds.nheld == BURST || rcl_pending(&rds.c) == BURST)
			redis_drain();
	}
	return 0;
}

/* The stream ended (or a stop signal ended it): so does the join. */
static int stream_end(void *arg, struct frame_rd *rd, enum loop_end why)
{
	if (why == LOOP_END_ERROR) {
		ahead_run();
		redis_drain();
		wr_flush(&out);
		cli_die(rd->cut ? RTAI_EXIT_CUT : RTAI_EXIT_FAIL, "%s", rd->err);
	}
	loop_stop(arg);
	return 0;
}

/* Before reading or waiting: every waiting frame is joined (their
 * payloads are in the reader's buffer, which reading may move). */
static int joined_all(void *arg)
{
	(void)arg;
	ahead_run();
	redis_drain();
	return 0;
}

/* SIGHUP, between frames (none waits: the loop calls it after
 * joined_all()). */
static int on_reload(void *arg)
{
	(void)arg;
	reload_table();
	return 0;
}

/* Joins the stream to its end; changes from the changelog that arrived
 * before a record are applied before it is joined. */
static void run(void)
{
	static const struct loop_ops stream_ops = { .data = stream_frame,
						    .control = stream_frame, .end = stream_end };
	static const struct loop_ops change_ops = { .data = change_frame,
						    .control = change_frame, .line = change_line,
						    .end = changes_end };
	struct loop *l = loop_new("rtai-join");

	loop_add_writer(l, &out);
	if (errpol_writer(&ep) != NULL)
		loop_add_writer(l, errpol_writer(&ep));	/* dead letters kept if killed */
	if (opt.updates != NULL)
		loop_add_input(l, &upd, LOOP_SNIFF, &change_ops, l);
	loop_add_input(l, &in, LOOP_FRAMES, &stream_ops, l);
	loop_on_drained(l, joined_all, NULL);
	if (opt.table != NULL)
		loop_on_reload(l, on_reload, NULL);
	if (loop_run(l) < 0) {
		wr_flush(&out);
		cli_die(RTAI_EXIT_FAIL, "%s", loop_err(l));
	}
	ahead_run();
	redis_drain();
	loop_free(l);
}

/* ", N dead-lettered" under dlq, for the counts. */
static const char *dead_text(void)
{
	static char t[48];

	t[0] = '\0';
	if (ep.mode == ERRPOL_DLQ)
		snprintf(t, sizeof(t), ", dead-lettered %llu", (unsigned long long)ep.dead);
	return t;
}

static void report(void)
{
	if (opt.redis != NULL) {
		cli_warn("records: %llu, hits %llu, misses %llu, skipped %llu%s; redis: %llu lookups in %llu round trips, %llu cache hits",
			  (unsigned long long)stats.records, (unsigned long long)stats.hits,
			  (unsigned long long)stats.misses, (unsigned long long)ep.skipped,
			  dead_text(), (unsigned long long)stats.lookups, (unsigned long long)stats.round_trips,
			  (unsigned long long)stats.cache_hits);
		return;
	}
	cli_warn("table: %llu rows, %llu versions, %zu keys; records: %llu, hits %llu, misses %llu, skipped %llu%s; changes: %llu upserts, %llu deletes, %llu tombstones, %llu truncates, %llu skipped",
		  (unsigned long long)table.nlive, (unsigned long long)table.nver, table.nkeys,
		  (unsigned long long)stats.records, (unsigned long long)stats.hits,
		  (unsigned long long)stats.misses, (unsigned long long)ep.skipped, dead_text(),
		  (unsigned long long)stats.upserts, (unsigned long long)stats.deletes,
		  (unsigned long long)stats.tombstones, (unsigned long long)stats.truncates,
		  (unsigned long long)stats.bad_changes);
}

static void names_or_die(struct tab_names *l, const char *opt_name, const char *arg)
{
	char err[200];

	if (tab_names_parse(l, arg, err, sizeof(err)) < 0)
		cli_usage_error("%s: %s", opt_name, err);
}

/* Checks that the options make one coherent join. */
static void check_options(void)
{
	if (opt.redis != NULL && (opt.table != NULL || opt.updates != NULL))
		cli_usage_error("--redis cannot be combined with --table or --updates");
	if (opt.redis == NULL && opt.table == NULL && opt.updates == NULL)
		cli_usage_error("nothing to join with: give --table, --updates or --redis");
	if (opt.redis != NULL) {
		if (opt.redis_key == NULL)
			cli_usage_error("--redis needs --redis-key TEMPLATE");
		if (opt.on != NULL || opt.table_key != NULL)
			cli_usage_error("--on and --table-key are for tables; with --redis the key is --redis-key");
		if (opt.asof != NULL || opt.ttl > 0)
			cli_usage_error("--as-of and --ttl need a table (--table or --updates)");
		return;
	}
	if (opt.redis_key != NULL)
		cli_usage_error("--redis-key needs --redis");
	if (opt.on == NULL)
		cli_usage_error("--on FIELD is needed to match records with rows");
	if (opt.ttl > 0 && opt.asof == NULL)
		cli_usage_error("--ttl needs --as-of");
	names_or_die(&on, "--on", opt.on);
	names_or_die(&tkey, "--table-key", opt.table_key ? opt.table_key : opt.on);
	if (tkey.n != on.n)
		cli_usage_error("--table-key names %zu fields, --on %zu", tkey.n, on.n);
}

/* A --fields name that occurred in no row of the table is most likely
 * misspelt ("--fields teir"): named at the end, once rows were read. */
static void warn_unseen_fields(void)
{
	if (pick.seen == NULL || !pick.seen[pick.fields.n])
		return;
	for (size_t i = 0; i < pick.fields.n; i++)
		if (!pick.seen[i])
			cli_warn("--fields: field \"%s\" occurred in no row of the table "
				  "(misspelt?)", pick.fields.name[i]);
}

int main(int argc, char **argv)
{
	const char *max_frame = NULL;
	char *redis_arg = NULL, **argv0;
	int c, cache_set = 0, argc0 = argc, restored, status;

	argv = rurl_hide_argv(argc, argv);
	argv0 = argv;
	cli_init("rtai-join", argv);
	while ((c = getopt_long(argc, argv, "t:k:u:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 't': opt.table = optarg; break;
		case 'k': opt.on = optarg; break;
		case OPT_TABLE_KEY: opt.table_key = optarg; break;
		case OPT_INNER: opt.inner = 1; break;
		case OPT_FIELDS: opt.fields = optarg; break;
		case OPT_PREFIX: opt.prefix = optarg; break;
		case 'u': opt.updates = optarg; break;
		case OPT_AS_OF: opt.asof = optarg; break;
		case OPT_TTL: opt.ttl = cli_opt_duration("--ttl", optarg); break;
		case OPT_REDIS: opt.redis = redis_arg = optarg; break;
		case OPT_REDIS_KEY: opt.redis_key = optarg; break;
		case OPT_CACHE:
			opt.cache = cli_opt_int("--cache", optarg, 0, 100000000);
			cache_set = 1;
			break;
		case OPT_CACHE_TTL:
			opt.cache_ttl = cli_opt_duration("--cache-ttl", optarg);
			cache_set = 1;
			break;
		case OPT_ON_ERROR: errpol_mode_arg(&ep, optarg); break;
		case OPT_DLQ: errpol_dlq_arg(&ep, optarg); break;
		case OPT_MAX_ROWS: opt.max_rows = cli_opt_int("--max-rows", optarg, 1, INT64_MAX); break;
		case OPT_MAX_FRAME: max_frame = optarg; break;
		case 'v': opt.verbose = ep.verbose = 1; break;
		case OPT_CHECKPOINT_DIR: opt.ckpt_dir = optarg; break;
		case OPT_STAGE_NAME: opt.stage_name = optarg; break;
		case 'h': usage(RTAI_EXIT_OK); break;
		case OPT_VERSION: cli_version(); break;
		default: cli_usage_hint();
		}
	}
	argc -= optind;
	argv += optind;
	errpol_check(&ep);
	if (argc > 0)
		cli_usage_error("unexpected argument '%s': the stream is read from standard input",
				 argv[0]);
	rd_set_max_frame(max_frame);
	rec_set_max_fields(NULL);
	check_options();
	if (cache_set && opt.redis == NULL)
		cli_usage_error("--cache and --cache-ttl need --redis");
	if (opt.fields != NULL) {
		names_or_die(&pick.fields, "--fields", opt.fields);
		pick.seen = xcalloc(pick.fields.n + 1, 1);
	}
	if (opt.prefix != NULL) {
		pick.prefix = opt.prefix;
		pick.nprefix = strlen(opt.prefix);
		if (pick.nprefix > 254)
			cli_usage_error("--prefix: longer than 254 bytes");
	}
	if (opt.redis == NULL)
		names_or_die(&pick.skip, "--table-key", opt.table_key ? opt.table_key : opt.on);

	sig_catch_stop();
	tab_init(&table);
	if (opt.redis != NULL)
		redis_open(redis_arg);
	/* Registered before a large table is loaded: the stages of a pipeline
	 * register before its first checkpoint (ckpt.h). */
	if ((status = ckpt_start(argc0, argv0, &restored)) != 0)
		exit(status);
	if (opt.table != NULL && !restored && load_table(opt.table, &table) < 0)
		exit(RTAI_EXIT_FAIL);
	if (opt.updates != NULL && rd_open(&upd, opt.updates) < 0)
		cli_die(RTAI_EXIT_FAIL, "%s", upd.err);
	rd_open_fd(&in, 0, "stdin");
	wr_open_fd(&out, 1, "stdout", 0);
	errpol_open(&ep);

	run();
	{
		char err[512];

		if (ckpt_wait(cp.c, err, sizeof(err)) < 0)	/* the last snapshot in place */
			cli_die(RTAI_EXIT_FAIL, "%s", err);
	}

	warn_unseen_fields();
	if (opt.verbose)
		report();
	else if (errpol_dropped(&ep) + stats.bad_changes > 0)
		cli_warn("records: %llu, skipped %llu%s; %llu bad changes skipped%s%s",
			  (unsigned long long)stats.records, (unsigned long long)ep.skipped,
			  dead_text(), (unsigned long long)stats.bad_changes,
			  ep.first[0] != '\0' ? "; first: " : "", ep.first);
	wr_close(&out);
	errpol_close(&ep);
	redis_close();
	rd_close(&in);
	rd_close(&upd);
	tab_free(&table);
	ckpt_close(cp.c);
	rec_free(&cp.brec);
	buf_free(&cp.snap);
	dbz_free(&ev);
	rec_free(&rec);
	rec_free(&urec);
	ahead_free();
	tab_names_free(&on);
	tab_names_free(&tkey);
	tab_names_free(&pick.fields);
	free(pick.seen);
	tab_names_free(&pick.skip);
	buf_free(&key);
	buf_free(&oldkey);
	buf_free(&encoded);
	buf_free(&joined);
	buf_free(&sel);
	buf_free(&utext);
	errpol_free(&ep);
	return errpol_status(&ep, stats.records, RTAI_EXIT_OK, "joined");
}
