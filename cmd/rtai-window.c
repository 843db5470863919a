/* rtai-window - windowed aggregates per key, in event time.
 *
 * Records go into tumbling, sliding or session windows by their event time
 * (or the wall clock); a watermark (the largest event time seen, minus
 * --delay) decides when a window is complete and fires. Results are
 * records of the key, the window's bounds and the aggregates; watermarks
 * go downstream so a later stage knows how far event time has come.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "agg.h"
#include "barrier.h"
#include "buf.h"
#include "ckpt.h"
#include "cli.h"
#include "frame.h"
#include "key.h"
#include "loop.h"
#include "over.h"
#include "rec.h"
#include "revoke.h"
#include "rtime.h"
#include "sig.h"
#include "snap.h"
#include "win.h"

/* ---- options ---------------------------------------------------------- */

static struct {
	char **keys;			/* -k: key field names */
	size_t nkeys;
	size_t *klen;			/* their lengths */
	int kind;			/* -1 until a window option */
	int64_t size, slide, gap;	/* --tumbling, --sliding, --session */
	int processing;			/* --time processing */
	int64_t offset;			/* --offset */
	int64_t delay;			/* --delay */
	int64_t lateness;		/* --lateness */
	const char *late;		/* --late FILE */
	int64_t idle;			/* --idle, 0 = never */
	int update;			/* --emit update */
	long long max_keys;		/* --max-keys, 0 = no limit */
	int verbose;			/* -v: summary on stderr */
	int64_t over;			/* --over RANGE, 0 = windows */
	int arrival, order_set;		/* --order arrival; --order given */
	const char *ckpt_dir;		/* --checkpoint-dir, else $RTAI_CHECKPOINT_DIR */
	const char *stage_name;		/* --stage-name */
} opt = {
	.kind = -1,
	.max_keys = 10000000,
};

static struct agg_set aggs;		/* -a, in order */

enum {
	OPT_TUMBLING = 256, OPT_SLIDING, OPT_SESSION, OPT_TIME, OPT_OFFSET, OPT_DELAY,
	OPT_LATENESS, OPT_LATE, OPT_IDLE, OPT_EMIT, OPT_MAX_KEYS, OPT_MAX_FRAME, OPT_VERSION,
	OPT_OVER, OPT_ORDER, OPT_CHECKPOINT_DIR, OPT_STAGE_NAME,
};

static const struct option longopts[] = {
	{ "key", required_argument, NULL, 'k' },		/* key fields */
	{ "tumbling", required_argument, NULL, OPT_TUMBLING },	/* fixed windows */
	{ "sliding", required_argument, NULL, OPT_SLIDING },	/* SIZE/SLIDE */
	{ "session", required_argument, NULL, OPT_SESSION },	/* GAP */
	{ "over", required_argument, NULL, OPT_OVER },		/* per-record range */
	{ "order", required_argument, NULL, OPT_ORDER },	/* --over: event or arrival */
	{ "time", required_argument, NULL, OPT_TIME },		/* event or processing */
	{ "offset", required_argument, NULL, OPT_OFFSET },	/* shift the alignment */
	{ "delay", required_argument, NULL, OPT_DELAY },	/* watermark delay */
	{ "lateness", required_argument, NULL, OPT_LATENESS },	/* keep state after end */
	{ "late", required_argument, NULL, OPT_LATE },		/* late records file */
	{ "idle", required_argument, NULL, OPT_IDLE },		/* wall clock on quiet input */
	{ "emit", required_argument, NULL, OPT_EMIT },		/* final or update */
	{ "max-keys", required_argument, NULL, OPT_MAX_KEYS },	/* bound the key space */
	{ "agg", required_argument, NULL, 'a' },		/* an aggregate */
	{ "verbose", no_argument, NULL, 'v' },			/* summary on stderr */
	{ "max-frame", required_argument, NULL, OPT_MAX_FRAME },	/* frame size limit */
	{ "checkpoint-dir", required_argument, NULL, OPT_CHECKPOINT_DIR },	/* snapshots */
	{ "stage-name", required_argument, NULL, OPT_STAGE_NAME },	/* checkpoint identity */
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void usage(int status)
{
	FILE *fp = status == 0 ? stdout : stderr;

	fputs("Usage: rtai-window [OPTION]... --tumbling SIZE|--sliding SIZE/SLIDE|--session GAP [FILE]\n"
	      "  or:  rtai-window [OPTION]... --over RANGE [--order event|arrival] [FILE]\n"
	      "Aggregate records per key in event-time windows; emit one record per window.\n"
	      "With --over, emit every record with the aggregates of its key's last RANGE.\n"
	      "With no FILE, or when FILE is -, read standard input (an rtai stream).\n"
	      "\n"
	      "Windows (one of):\n"
	      "      --tumbling SIZE      fixed windows [start, start+SIZE), aligned to the epoch\n"
	      "      --sliding SIZE/SLIDE windows of SIZE starting every SLIDE (e.g. 1h/5m)\n"
	      "      --session GAP        per key, records less than GAP apart share a window\n"
	      "      --offset DUR         shift the alignment of tumbling and sliding windows\n"
	      "      --over RANGE         instead: per record, the aggregates of its key's\n"
	      "                           records in (t - RANGE, t], added to the record\n"
	      "      --order event|arrival  with --over: emit in event-time order once the\n"
	      "                           watermark has passed (default), or at once\n"
	      "\n"
	      "Grouping and aggregates:\n"
	      "  -k, --key FIELD[,FIELD...]  group by these fields (default: one group)\n"
	      "  -a, --agg [NAME=]FUNC[:FIELD]  an aggregate (repeatable; default count):\n"
	      "                           count, sum, avg, min, max, first, last, distinct,\n"
	      "                           stddev, p50, p90, p95, p99; output named NAME, or\n"
	      "                           count, sum_FIELD, p95_FIELD, ...\n"
	      "\n"
	      "Time:\n"
	      "      --time event|processing  window by event time (default) or by the wall\n"
	      "                           clock when a record arrives\n"
	      "      --delay DUR          watermark = largest event time seen - DUR (default 0)\n"
	      "      --lateness DUR       keep a window DUR after it fired; a late record in that\n"
	      "                           time fires it again (default 0)\n"
	      "      --late FILE          write records too late for all their windows to FILE\n"
	      "                           (an rtai stream) instead of dropping them\n"
	      "      --idle DUR           when no record arrives for DUR, advance the watermark\n"
	      "                           with the wall clock\n"
	      "\n"
	      "Output:\n"
	      "      --emit final|update  emit each window when it fires (default), or its\n"
	      "                           current result whenever a record changes it\n"
	      "      --max-keys N         fail when more than N keys hold open windows\n"
	      "                           (default 10000000; 0: no limit)\n"
	      "  -v, --verbose            print a summary on stderr at the end\n"
	      "      --max-frame BYTES    largest frame accepted (default 16777216)\n"
	      "\n"
	      "Checkpoints:\n"
	      "      --checkpoint-dir DIR resume from DIR's latest complete checkpoint, and\n"
	      "                           snapshot the windows (or --over ranges) there\n"
	      "                           at each barrier\n"
	      "                           (default: $RTAI_CHECKPOINT_DIR; none: off)\n"
	      "      --stage-name NAME    name this stage in DIR (two stages with the same\n"
	      "                           options in one pipeline)\n"
	      "  -h, --help               show this help and exit\n"
	      "      --version            show the version and exit\n"
	      "\n"
	      "Example:\n"
	      "  rtai-cat clicks.jsonl | rtai-parse -t time | \\\n"
	      "    rtai-window -k user --sliding 1h/5m --delay 10m -a count -a sum:amount\n"
	      "\n"
	      "See rtai-window(1) and rtai(7).\n", fp);
	exit(status);
}

/* A duration option that must be positive and small enough for int64 ns. */
static int64_t opt_span(const char *name, const char *arg, int zero_ok)
{
	int64_t v = cli_opt_duration(name, arg);

	if (v == 0 && !zero_ok)
		cli_usage_error("%s: '%s': must be longer than 0", name, arg);
	if (v > WIN_MAX_DURATION)
		cli_usage_error("%s: '%s': too long (at most 36 years)", name, arg);
	return v;
}

static void set_kind(int kind)
{
	if (opt.kind != -1)
		cli_usage_error("give one of --tumbling, --sliding and --session");
	opt.kind = kind;
}

static void parse_sliding(const char *arg)
{
	const char *slash = strchr(arg, '/');
	char *size;

	if (slash == NULL)
		cli_usage_error("--sliding: '%s': expected SIZE/SLIDE, such as 1h/5m", arg);
	size = xstrndup(arg, (size_t)(slash - arg));
	opt.size = opt_span("--sliding", size, 0);
	opt.slide = opt_span("--sliding", slash + 1, 0);
	free(size);
	if (opt.slide > opt.size)
		cli_usage_error("--sliding: '%s': the slide is longer than the window", arg);
}

static void parse_keys(const char *arg)
{
	const char *p = arg;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if (n == 0 || n > 255)
			cli_usage_error("--key: '%s': field names must have 1 to 255 bytes", arg);
		opt.keys = xrealloc(opt.keys, (opt.nkeys + 1) * sizeof(*opt.keys));
		opt.klen = xrealloc(opt.klen, (opt.nkeys + 1) * sizeof(*opt.klen));
		opt.keys[opt.nkeys] = xstrndup(p, n);
		opt.klen[opt.nkeys++] = n;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
}

/* Output field names must not collide. */
static void check_names(void)
{
	static const char *const fixed[] = { "window_start", "window_end" };
	size_t n = opt.nkeys + 2 + aggs.n;
	const char **names = xmalloc(n * sizeof(*names));

	for (size_t i = 0; i < opt.nkeys; i++)
		names[i] = opt.keys[i];
	names[opt.nkeys] = fixed[0];
	names[opt.nkeys + 1] = fixed[1];
	for (size_t i = 0; i < aggs.n; i++)
		names[opt.nkeys + 2 + i] = aggs.v[i].name;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(names[i], names[j]) == 0)
				cli_usage_error("output field \"%s\" would appear twice (rename an "
						 "aggregate with -a NAME=FUNC:FIELD)", names[i]);
	free(names);
}

/* ---- state ------------------------------------------------------------- */

static struct frame_wr out;		/* results and watermarks */
static struct frame_wr late;		/* --late */
static struct rec orec;		/* a result being written */
static struct buf obuf;			/* encoded result */
static struct val *vals, *kvals;	/* per aggregate; per key field */
static struct win *engine;
static int status = RTAI_EXIT_OK;

static int64_t wm_sent = INT64_MIN;	/* last watermark written */
static struct ckpt *ck;			/* checkpoints; NULL when off */
static struct rec brec;		/* a barrier's fields */
static struct buf snapbuf;		/* a snapshot being written */
static int savepointed;			/* stopped at a savepoint: fire nothing */
static int64_t last_data = -1;		/* monotonic time of the last record */
static int64_t wm_at_data;		/* the watermark then */
static uint64_t nrecords;		/* data frames read */
static struct srcparts srcparts;	/* Kafka partitions, as tags (revoke.h) */
static uint64_t nrevoked;		/* revoke frames read */

/* ---- output ------------------------------------------------------------ */

/* The engine's callback: one result record. */
static void put_result(void *arg, const struct win_out *o)
{
	struct val v;
	int n;

	(void)arg;
	rec_reset(&orec);
	n = key_values(o->key, o->klen, kvals, opt.nkeys);
	for (int i = 0; i < n; i++)
		rec_add(&orec, opt.keys[i], opt.klen[i], kvals[i]);
	rec_add(&orec, "window_start", 12, val_time(o->start));
	rec_add(&orec, "window_end", 10, val_time(o->end));
	for (size_t i = 0; i < aggs.n; i++) {
		agg_result(&aggs, o->row, i, &v);
		rec_add(&orec, aggs.v[i].name, aggs.v[i].nlen, v);
	}
	buf_reset(&obuf);
	rec_encode(&orec, &obuf);
	wr_put(&out, RTAI_K_DATA, RTAI_E_REC, 0, o->ingest == INT64_MIN ? 0 : o->ingest,
	       o->end - 1, obuf.p, obuf.len);
}

/* Tells downstream how far event time has come, once per batch. */
static void put_watermark(void)
{
	int64_t wm = win_watermark(engine);

	if (wm <= wm_sent)
		return;
	wm_sent = wm;
	wr_put(&out, RTAI_K_WATERMARK, RTAI_E_NONE, 0, cli_now_ns(), wm, NULL, 0);
}

/* ---- records ------------------------------------------------------------ */

/* Records are taken in batches of up to BATCH that are already in the
 * input buffer: all are decoded and their keys' table slots, then their
 * newest windows, prefetched before the first is added, so that the cache
 * misses of a batch overlap instead of following one another. Each record
 * is still added, and the watermark moved, one after the other. */
#define BATCH 32

static struct pending {
	struct frame f;		/* payload: in pdata, from off */
	size_t off;
	unsigned long long no;		/* record number */
	struct rec rec;
	struct buf key;			/* encoded key */
	uint32_t h;			/* its hash */
	uint32_t tag;			/* its source partition (srcparts) */
} pend[BATCH];
static int npend;			/* records in the batch */
static struct buf pdata;		/* their payloads, copied out of the reader */

/* Queues a data frame; the reader may move its buffer afterwards. */
static void queue(const struct frame_rd *rd, const struct frame *f)
{
	struct pending *p = &pend[npend++];

	p->f = *f;
	p->off = pdata.len;
	p->no = (unsigned long long)rd->nrec;
	p->tag = srcparts_tag(&srcparts, f);	/* f->meta is not copied */
	buf_append(&pdata, f->payload, f->len);
}

/* Decodes a queued record and encodes its key. Returns 0, or -1 with the
 * reason in msg. */
static int prepare(struct pending *p, char *msg, size_t n)
{
	rec_reset(&p->rec);
	if (rec_from_frame(&p->rec, &p->f) < 0) {
		snprintf(msg, n, "%s%s", p->rec.err,
			 p->f.enc == RTAI_E_RAW ? " (parse raw lines with rtai-parse first)" : "");
		return -1;
	}
	buf_reset(&p->key);
	buf_reserve(&p->key, 64);		/* never NULL, even without -k */
	for (size_t i = 0; i < opt.nkeys; i++) {
		const struct rec_field *kf = rec_get(&p->rec, opt.keys[i], opt.klen[i]);

		if (kf == NULL || key_part(&p->key, &kf->v) < 0) {
			snprintf(msg, n, "field \"%s\": %s (a key field)", opt.keys[i],
				 kf == NULL ? "missing" : "null");
			return -1;
		}
		kvals[i] = kf->v;
	}
	key_typed(&p->key, kvals, opt.nkeys);
	p->h = win_key_hash(p->key.p, p->key.len);
	return 0;
}

/* Windows one prepared record. Returns 0, or -1 after a message. */
static int add_record(const char *name, struct pending *p)
{
	const struct frame *f = &p->f;
	char err[256];
	int64_t t;
	int n;

	if (opt.processing) {
		t = cli_now_ns();
	} else {
		t = f->event_ns;
		if (t == RTAI_TIME_UNSET) {
			cli_warn("%s: record %llu: no event time (set it with rtai-parse -t FIELD, "
				  "or window by arrival with --time processing)", name, p->no);
			return -1;
		}
		if (t > WIN_MAX_TIME || t < -WIN_MAX_TIME) {
			cli_warn("%s: record %llu: event time %lld ns is out of range (1824 to 2116)",
				  name, p->no, (long long)t);
			return -1;
		}
	}
	if (agg_extract(&aggs, &p->rec, vals, err, sizeof(err)) < 0) {
		cli_warn("%s: record %llu: %s", name, p->no, err);
		return -1;
	}
	win_set_tag(engine, p->tag);
	win_set_floor(engine, p->tag != 0 && !opt.processing ?
				      srcparts_get(&srcparts, p->tag)->floor : INT64_MIN);
	n = win_add(engine, p->key.p, p->key.len, t, f->ingest_ns, vals);
	if (n < 0) {
		cli_warn("%s: record %llu: %s (--max-keys %lld)", name, p->no, win_err(engine),
			  opt.max_keys);
		return -1;
	}
	if (n == 0 && opt.late != NULL)
		wr_frame(&late, f);
	win_advance(engine, opt.processing ? cli_now_ns() : t - opt.delay);
	if (opt.idle > 0) {
		last_data = cli_mono_ns();
		wm_at_data = win_watermark(engine);
	}
	return 0;
}

/* Windows the queued records in order. Returns 0, or -1 after a message
 * about the first bad one (those before it are windowed). */
static int drain(const char *name)
{
	char msg[300];
	int n = npend, bad = -1, ret = 0;

	npend = 0;
	for (int i = 0; i < n; i++)
		pend[i].f.payload = pdata.p + pend[i].off;
	for (int i = 0; i < n && bad < 0; i++) {
		if (prepare(&pend[i], msg, sizeof(msg)) < 0)
			bad = i;
		else
			win_prefetch(engine, pend[i].key.p, pend[i].key.len, pend[i].h, 1);
	}
	for (int i = 0; i < (bad < 0 ? n : bad); i++)
		win_prefetch(engine, pend[i].key.p, pend[i].key.len, pend[i].h, 2);
	for (int i = 0; i < (bad < 0 ? n : bad) && ret == 0; i++)
		ret = add_record(name, &pend[i]);
	if (ret == 0 && bad >= 0) {
		cli_warn("%s: record %llu: %s", name, pend[bad].no, msg);
		ret = -1;
	}
	nrecords += (uint64_t)n;
	buf_reset(&pdata);
	return ret;
}

/* ---- the loop's callbacks ------------------------------------------------ */

static const char *inname;		/* the input's name, for messages */
static struct loop_timer *clock_timer;	/* --idle, --time processing */

static int on_data(void *arg, struct frame_rd *rd, const struct frame *f)
{
	(void)arg;
	queue(rd, f);
	return npend == BATCH ? drain(rd->name) : 0;
}

/* ---- checkpoints ---------------------------------------------------------- */

/* The stage's state, after a tag and version of its own: the records
 * read, the watermark sent, which aggregate fields were seen (for the
 * warning at the end), then, to the end, the engine's image (win_snapshot,
 * or over_snapshot with --over, written in place: b is reused from one
 * barrier to the next). The tags differ, so that a window stage never
 * reads an --over stage's state or the reverse. */
#define STATE_TAG "rtai-window 1"
#define OVER_STATE_TAG "rtai-window --over 1"

static struct over *over;		/* the --over engine */

static const char *state_tag(void)
{
	return over != NULL ? OVER_STATE_TAG : STATE_TAG;
}

/* The stage's own part, before the engine's image. */
static void save_head(struct buf *b)
{
	snap_bytes(b, state_tag(), strlen(state_tag()));
	snap_u64(b, nrecords);
	snap_i64(b, wm_sent);
	snap_bytes(b, aggs.seen, aggs.n);
}

static void save_state(struct buf *b)
{
	save_head(b);
	if (over != NULL)
		over_snapshot(over, b);
	else
		win_snapshot(engine, b);
}

/* save_state() for ckpt_write_async, at the barrier: the windows' image
 * is only begun (win_snapshot_begin), and fill_bg, in the writer thread,
 * writes the rest while the records go on, when win_snapshot_async says
 * there is a rest. --over serializes here, whole. */
static void save_bg(struct buf *b, void *arg)
{
	(void)arg;
	save_head(b);
	if (over != NULL)
		over_snapshot(over, b);
	else
		(void)win_snapshot_begin(engine, b);
}

static void fill_bg(struct buf *b, void *arg)
{
	(void)arg;
	win_snapshot_finish(engine, b);
}

/* Loads what save_state() wrote. Returns 0, or -1 with err set. */
static int load_state(const uint8_t *p, size_t n, char *err, size_t errlen)
{
	struct snap_rd r;
	const uint8_t *tag, *seen;
	size_t tn, sn;

	snap_rd_init(&r, p, n);
	tag = snap_get_bytes(&r, 64, &tn);
	if (tag == NULL || tn != strlen(state_tag()) || memcmp(tag, state_tag(), tn) != 0) {
		snprintf(err, errlen, "not a snapshot of rtai-window's %s (\"%s\" expected)",
			 over != NULL ? "--over ranges" : "windows", state_tag());
		return -1;
	}
	nrecords = snap_get_u64(&r);
	wm_sent = snap_get_i64(&r);
	seen = snap_get_bytes(&r, aggs.n, &sn);
	if (r.bad != NULL || sn != aggs.n) {
		snprintf(err, errlen, "a corrupt snapshot: byte %zu: %s", r.off,
			 r.bad ? r.bad : "the aggregates do not match");
		return -1;
	}
	for (size_t i = 0; i < sn; i++)
		aggs.seen[i] |= seen[i];
	if (over != NULL)
		return over_restore(over, p + r.off, n - r.off, err, errlen);
	return win_restore(engine, p + r.off, n - r.off, err, errlen);
}

/* Opens DIR and loads the latest complete checkpoint, if any. Returns 0,
 * or an exit status after a message. */
static int ckpt_start(int argc, char **argv)
{
	int64_t id;

	return ckpt_stage(&ck, &id, "rtai-window", opt.ckpt_dir, argc, argv, opt.stage_name,
			  load_state);
}

/* A barrier: the state as of every record before it goes to DIR, then
 * the barrier goes on (Flink's aligned checkpoint, with one input). A
 * savepoint ends the stage after that, firing nothing. Windows never fire
 * because of a barrier. Returns 0, or -1 after a message. */
static int on_barrier(struct loop *l, struct frame_rd *rd, const struct frame *f)
{
	struct barrier b;
	char err[1024];

	if (barrier_read(rd, f, &brec, &b) < 0)
		return -1;
	if (!b.savepoint) {
		/* Begun now, serialized and written in the background
		 * (ckpt_write_async): the records wait neither for the disk
		 * nor, with windows, for the serialization. */
		if (ckpt_write_async(ck, b.checkpoint, save_bg,
				     over == NULL && win_snapshot_async(engine) ? fill_bg : NULL, NULL,
				     err, sizeof(err)) < 0) {
			cli_warn("%s", err);
			return -1;
		}
		loop_forward(l, f);
		return 0;
	}
	/* A savepoint ends the run: written before the barrier goes on. */
	buf_reset(&snapbuf);
	save_state(&snapbuf);
	if (ckpt_wait(ck, err, sizeof(err)) < 0 ||
	    ckpt_write(ck, b.checkpoint, snapbuf.p, snapbuf.len, err, sizeof(err)) < 0) {
		cli_warn("checkpoint %lld: %s", (long long)b.checkpoint, err);
		return -1;
	}
	loop_forward(l, f);
	if (b.savepoint) {
		savepointed = 1;
		loop_stop(l);
	}
	return 0;
}

static int over_fail(void);

/* A revoke frame: the Kafka partition was taken away in a rebalance; the
 * member it is assigned to next reads its open windows again and writes
 * them whole, so they are dropped here unfired (win_drop_tag). An assign frame: the
 * partition is read again from a commit whose horizon is the floor of its
 * records' windows (win_set_floor). The frame goes on. */
static int on_partition(struct frame_rd *rd, const struct frame *f)
{
	static struct rec scratch;
	const char *topic;
	size_t tlen;
	int32_t part;
	int64_t horizon;
	uint32_t tag;
	char err[200];

	if (partition_frame_decode(f, &scratch, &topic, &tlen, &part, &horizon, err, sizeof(err)) < 0) {
		cli_warn("%s: after record %llu: %s", rd->name, (unsigned long long)rd->nrec, err);
		rec_free(&scratch);
		return -1;
	}
	if (f->kind == RTAI_K_ASSIGN) {
		srcparts_get(&srcparts, srcparts_add(&srcparts, topic, tlen, part))->floor = horizon;
		rec_free(&scratch);
		return 0;
	}
	nrevoked++;
	tag = srcparts_find(&srcparts, topic, tlen, part);
	if (tag != 0) {	/* else no record came from it: nothing to drop */
		uint64_t n = 0;

		if (over != NULL && over_drop_tag(over, tag, &n) < 0) {
			rec_free(&scratch);
			return over_fail();
		}
		if (over != NULL)	/* it may have started afresh: --idle counts from it */
			wm_at_data = over_wm(over);
		if (over == NULL)
			win_drop_tag(engine, tag);
		srcparts_get(&srcparts, tag)->floor = INT64_MIN;
	}
	if (opt.verbose)
		cli_warn("%.*s [%d] revoked: its %s dropped, for its new owner to write", (int)tlen,
			 topic, (int)part, over != NULL ? "records waiting and ranges" : "open windows");
	rec_free(&scratch);
	return 0;
}

static int on_control(void *arg, struct frame_rd *rd, const struct frame *f)
{
	struct loop *l = arg;

	if (drain(rd->name) < 0)
		return -1;
	if (f->kind == RTAI_K_BARRIER && ck != NULL)
		return on_barrier(l, rd, f);
	/* Upstream's promise moves ours; ours goes downstream instead. */
	if (f->kind == RTAI_K_WATERMARK) {
		if (!opt.processing && f->event_ns != RTAI_TIME_UNSET)
			win_advance(engine, f->event_ns);
		return 0;
	}
	if (f->kind == RTAI_K_SCHEMA)
		return 0;	/* windows are new records: no schema goes on */
	if ((f->kind == RTAI_K_REVOKE || f->kind == RTAI_K_ASSIGN) && on_partition(rd, f) < 0)
		return -1;
	return loop_forward(l, f);
}

static int on_end(void *arg, struct frame_rd *rd, enum loop_end why)
{
	(void)arg;
	if (why != LOOP_END_ERROR)
		return 0;
	cli_warn("%s", rd->err);
	return -1;
}

/* ---- time without input --------------------------------------------------- */

/* Nanoseconds until the clock moves the watermark far enough to matter,
 * or -1 when only input can. */
static int64_t next_timer(void)
{
	int64_t dl = win_next_deadline(engine);

	if (opt.processing) {
		if (dl == INT64_MAX)
			return -1;
		return dl > cli_now_ns() ? dl - cli_now_ns() : 0;
	}
	if (opt.idle == 0 || last_data < 0)
		return -1;
	{
		int64_t now = cli_mono_ns(), since = now - last_data, wake, gap;

		if (since < opt.idle)
			return opt.idle - since;
		/* Idle: W = wm_at_data + since. Wake when it reaches the next
		 * deadline, and every --idle anyway so watermarks keep flowing. */
		wake = since + opt.idle;
		if (dl != INT64_MAX && !__builtin_sub_overflow(dl, wm_at_data, &gap) && gap < wake)
			wake = gap;
		return wake > since ? wake - since : 0;
	}
}

static int on_timer(void *arg)
{
	(void)arg;
	if (opt.processing) {
		win_advance(engine, cli_now_ns());
	} else if (opt.idle > 0 && last_data >= 0) {
		int64_t since = cli_mono_ns() - last_data;

		if (since >= opt.idle && wm_at_data <= INT64_MAX - since)
			win_advance(engine, wm_at_data + since);
	}
	put_watermark();
	loop_timer_after(clock_timer, next_timer());
	return 0;
}

/* Everything buffered is windowed: the batch goes, the watermark follows,
 * and the clock is set for the next time the wall clock matters. */
static int on_drained(void *arg)
{
	(void)arg;
	if (drain(inname) < 0)
		return -1;
	put_watermark();
	if (opt.processing || opt.idle > 0)
		loop_timer_after(clock_timer, next_timer());
	return 0;
}

/* Reads the input to its end (or a stop signal). Returns 0, or -1 after a
 * message. */
static int run(struct frame_rd *rd)
{
	static const struct loop_ops ops = { .data = on_data, .control = on_control,
					     .end = on_end };
	struct loop *l = loop_new("rtai-window");
	int rc;

	inname = rd->name;
	loop_set_output(l, &out);
	if (opt.late != NULL)
		loop_add_writer(l, &late);
	loop_add_input(l, rd, LOOP_FRAMES, &ops, l);
	loop_on_drained(l, on_drained, NULL);
	clock_timer = loop_timer_new(l, on_timer, NULL);
	rc = loop_run(l);
	if (rc < 0 && loop_err(l) != NULL)
		cli_warn("%s", loop_err(l));
	loop_free(l);
	return rc;
}

static void summary(void)
{
	const struct win_stats *s = win_stats(engine);
	struct rusage ru;

	if (opt.verbose) {
		getrusage(RUSAGE_SELF, &ru);
		fprintf(stderr, "%s: %llu records, %llu late", cli_progname,
			(unsigned long long)nrecords, (unsigned long long)s->late);
		if (s->late > 0)
			fprintf(stderr, opt.late ? " (to %s)" : " (dropped)", opt.late);
		if (s->late_some > 0)
			fprintf(stderr, ", %llu late for some windows",
				(unsigned long long)s->late_some);
		fprintf(stderr, ", %llu windows fired", (unsigned long long)s->fired);
		if (s->refired > 0)
			fprintf(stderr, ", %llu fired again", (unsigned long long)s->refired);
		if (s->updates > 0)
			fprintf(stderr, ", %llu updates", (unsigned long long)s->updates);
		if (nrevoked > 0)
			fprintf(stderr, ", %llu dropped for %llu revoked partition%s",
				(unsigned long long)s->revoked, (unsigned long long)nrevoked,
				nrevoked == 1 ? "" : "s");
		if (s->floored > 0)
			fprintf(stderr, ", %llu record%s kept out of windows before their "
				"partition's horizon", (unsigned long long)s->floored,
				s->floored == 1 ? "" : "s");
		if (s->snap_cow > 0)
			fprintf(stderr, ", %llu windows written for snapshots by the records",
				(unsigned long long)s->snap_cow);
		fprintf(stderr, "; peak state %llu windows, %llu keys, %.1f MiB; max resident %.1f MiB\n",
			(unsigned long long)s->peak_windows, (unsigned long long)s->peak_keys,
			win_bytes(engine) / 1048576.0, ru.ru_maxrss / 1024.0);
	} else if (s->late > 0 && opt.late == NULL) {
		cli_warn("%llu late record%s dropped (keep them with --late FILE; accept them "
			  "with --delay or --lateness)", (unsigned long long)s->late,
			  s->late == 1 ? "" : "s");
	}
	if (!opt.verbose && s->revoked > 0)
		cli_warn("%llu open window%s of %llu revoked partition%s dropped unfired: their new "
			  "owner in the consumer group writes them", (unsigned long long)s->revoked,
			  s->revoked == 1 ? "" : "s", (unsigned long long)nrevoked,
			  nrevoked == 1 ? "" : "s");
	srcparts_free(&srcparts);
	agg_warn_unseen(&aggs, nrecords);
}

/* ---- --over: per-record ranges (lib/over) ------------------------------ */

/* The engine's message, with this tool's hint: the engine names no option. */
static int over_fail(void)
{
	switch (over_errc(over)) {
	case OVER_E_MAX_KEYS:
		cli_warn("%s (--max-keys %lld)", over_err(over), opt.max_keys);
		break;
	case OVER_E_NO_TIME:
		cli_warn("%s (set it with rtai-parse -t FIELD)", over_err(over));
		break;
	default:
		cli_warn("%s", over_err(over));
		break;
	}
	return -1;
}

static int over_data(void *arg, struct frame_rd *rd, const struct frame *f)
{
	uint32_t tag = srcparts_tag(&srcparts, f);

	(void)arg;
	over_set_tag(over, tag);
	over_set_floor(over, tag != 0 ? srcparts_get(&srcparts, tag)->floor : INT64_MIN);
	if (over_frame(over, f, rd->name, rd->nrec) < 0)
		return over_fail();
	if (opt.idle > 0) {
		last_data = cli_mono_ns();
		wm_at_data = over_wm(over);
	}
	return 0;
}

static int over_control(void *arg, struct frame_rd *rd, const struct frame *f)
{
	/* A barrier: the state as of every record before it, those waiting
	 * for the watermark included, goes to DIR; none leaves because of it. */
	if (f->kind == RTAI_K_BARRIER && ck != NULL)
		return on_barrier(arg, rd, f);
	/* Upstream's promise moves ours; ours goes downstream instead. */
	if (f->kind == RTAI_K_WATERMARK) {
		if (f->event_ns != RTAI_TIME_UNSET && over_advance(over, f->event_ns) < 0)
			return over_fail();
		return 0;
	}
	if ((f->kind == RTAI_K_REVOKE || f->kind == RTAI_K_ASSIGN) && on_partition(rd, f) < 0)
		return -1;
	return loop_forward(arg, f);
}

/* Nanoseconds until idleness moves the watermark far enough to matter,
 * or -1 when only input can. */
static int64_t over_next_timer(void)
{
	int64_t since, wake, dl;

	if (opt.idle == 0 || last_data < 0)
		return -1;
	since = cli_mono_ns() - last_data;
	if (since < opt.idle)
		return opt.idle - since;
	/* Idle: W = wm_at_data + since. Wake when it passes the next waiting
	 * record, and every --idle anyway so watermarks keep flowing. */
	dl = over_next_deadline(over);
	wake = since + opt.idle;
	if (dl != INT64_MAX && wm_at_data != INT64_MIN && dl - wm_at_data < wake)
		wake = dl - wm_at_data;
	return wake > since ? wake - since : 0;
}

static int over_timer(void *arg)
{
	int64_t since = cli_mono_ns() - last_data;

	(void)arg;
	if (opt.idle > 0 && last_data >= 0 && since >= opt.idle && wm_at_data != INT64_MIN &&
	    over_advance(over, wm_at_data + since) < 0)
		return over_fail();
	if (over_sync(over) < 0)
		return over_fail();
	loop_timer_after(clock_timer, over_next_timer());
	return 0;
}

/* Before reading more: the records the watermark passed leave, then the
 * watermark; the clock is set for --idle. */
static int over_drained(void *arg)
{
	(void)arg;
	if (over_sync(over) < 0)
		return over_fail();
	if (opt.idle > 0)
		loop_timer_after(clock_timer, over_next_timer());
	return 0;
}

static void over_summary(void)
{
	const struct over_stats *s = over_stats(over);
	struct rusage ru;

	if (opt.verbose) {
		getrusage(RUSAGE_SELF, &ru);
		fprintf(stderr, "%s: %llu records, %llu late", cli_progname,
			(unsigned long long)s->records, (unsigned long long)s->late);
		if (s->late > 0 && opt.late != NULL)
			fprintf(stderr, " (to %s)", opt.late);
		else if (s->late > 0)
			fputs(" (emitted at once over what of their range was held)", stderr);
		fprintf(stderr, ", %llu emitted", (unsigned long long)s->emitted);
		if (nrevoked > 0)
			fprintf(stderr, ", %llu waiting dropped and %llu keys' ranges for %llu "
				"revoked partition%s", (unsigned long long)s->revoked,
				(unsigned long long)s->revoked_keys, (unsigned long long)nrevoked,
				nrevoked == 1 ? "" : "s");
		if (s->rebuilt > 0)
			fprintf(stderr, ", %llu read again into ranges only (their partition's "
				"last owner emitted them)", (unsigned long long)s->rebuilt);
		if (s->floored > 0)
			fprintf(stderr, ", %llu before their partition's horizon dropped",
				(unsigned long long)s->floored);
		fprintf(stderr, "; peak state %llu keys, %llu records in ranges, "
			"%llu waiting, %.1f MiB; max resident %.1f MiB\n",
			(unsigned long long)s->peak_keys,
			(unsigned long long)s->peak_entries, (unsigned long long)s->peak_waiting,
			s->peak_bytes / 1048576.0, ru.ru_maxrss / 1024.0);
	} else if (s->late > 0 && opt.late == NULL) {
		cli_warn("%llu late record%s emitted at once over the part of %s range still held "
			  "(wait for out-of-order records with --delay; set late ones aside with "
			  "--late FILE)", (unsigned long long)s->late, s->late == 1 ? "" : "s",
			  s->late == 1 ? "its" : "their");
	}
	if (!opt.verbose && s->revoked > 0)
		cli_warn("%llu waiting record%s of %llu revoked partition%s dropped unemitted: their "
			  "new owner in the consumer group emits them", (unsigned long long)s->revoked,
			  s->revoked == 1 ? "" : "s", (unsigned long long)nrevoked,
			  nrevoked == 1 ? "" : "s");
	if (!opt.verbose && s->floored > 0)
		cli_warn("%llu record%s before their partition's horizon dropped (late for its last "
			  "owner)", (unsigned long long)s->floored, s->floored == 1 ? "" : "s");
	srcparts_free(&srcparts);
	agg_warn_unseen(&aggs, s->records);
}

/* rtai-window --over: reads the input to its end (or a stop signal), lets
 * every waiting record leave (unless stopped at a savepoint: they are in
 * it), prints the summary. Returns 0, or -1 after a message. */
static int run_over(struct frame_rd *rd)
{
	static const struct loop_ops ops = { .data = over_data, .control = over_control,
					     .end = on_end };
	struct loop *l = loop_new("rtai-window");
	int rc;

	wm_at_data = INT64_MIN;
	loop_set_output(l, &out);
	if (opt.late != NULL)
		loop_add_writer(l, &late);
	loop_add_input(l, rd, LOOP_FRAMES, &ops, l);
	loop_on_drained(l, over_drained, NULL);
	clock_timer = loop_timer_new(l, over_timer, NULL);
	rc = loop_run(l);
	if (rc < 0 && loop_err(l) != NULL)
		cli_warn("%s", loop_err(l));
	loop_free(l);
	if (rc == 0 && !savepointed && (over_finish(over) < 0 || over_sync(over) < 0))
		rc = over_fail();
	over_summary();
	return rc;
}

int main(int argc, char **argv)
{
	const char *max_frame = NULL, *path = "-";
	struct win_conf conf = { 0 };
	struct frame_rd rd;
	char err[300], **argv0 = argv;
	int c, argc0 = argc;

	cli_init("rtai-window", argv);
	while ((c = getopt_long(argc, argv, "k:a:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'k': parse_keys(optarg); break;
		case OPT_TUMBLING:
			set_kind(WIN_TUMBLING);
			opt.size = opt_span("--tumbling", optarg, 0);
			break;
		case OPT_SLIDING:
			set_kind(WIN_SLIDING);
			parse_sliding(optarg);
			break;
		case OPT_SESSION:
			set_kind(WIN_SESSION);
			opt.gap = opt_span("--session", optarg, 0);
			break;
		case OPT_OVER: opt.over = opt_span("--over", optarg, 0); break;
		case OPT_ORDER:
			if (strcmp(optarg, "event") != 0 && strcmp(optarg, "arrival") != 0)
				cli_usage_error("--order: '%s': expected event or arrival", optarg);
			opt.arrival = strcmp(optarg, "arrival") == 0;
			opt.order_set = 1;
			break;
		case OPT_TIME:
			if (strcmp(optarg, "event") == 0)
				opt.processing = 0;
			else if (strcmp(optarg, "processing") == 0)
				opt.processing = 1;
			else
				cli_usage_error("--time: '%s': expected event or processing", optarg);
			break;
		case OPT_OFFSET: opt.offset = opt_span("--offset", optarg, 1); break;
		case OPT_DELAY: opt.delay = opt_span("--delay", optarg, 1); break;
		case OPT_LATENESS: opt.lateness = opt_span("--lateness", optarg, 1); break;
		case OPT_LATE: opt.late = optarg; break;
		case OPT_IDLE: opt.idle = opt_span("--idle", optarg, 0); break;
		case OPT_EMIT:
			if (strcmp(optarg, "final") == 0)
				opt.update = 0;
			else if (strcmp(optarg, "update") == 0)
				opt.update = 1;
			else
				cli_usage_error("--emit: '%s': expected final or update", optarg);
			break;
		case OPT_MAX_KEYS: opt.max_keys = cli_opt_int("--max-keys", optarg, 0, LLONG_MAX); break;
		case 'a':
			if (agg_set_parse(&aggs, optarg, err, sizeof(err)) < 0)
				cli_usage_error("-a %s", err);
			break;
		case 'v': opt.verbose = 1; break;
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
	rec_set_max_fields(NULL);
	if (argc > 1)
		cli_usage_error("one input at most (got %d)", argc);
	if (argc == 1)
		path = argv[0];
	if (opt.over > 0 && opt.kind != -1)
		cli_usage_error("--over: give it without --tumbling, --sliding and --session");
	if (opt.over > 0 && (opt.offset || opt.lateness || opt.update || opt.processing))
		cli_usage_error("--over: --offset, --lateness, --emit update and --time processing "
				 "apply to --tumbling, --sliding and --session");
	if (opt.order_set && opt.over == 0)
		cli_usage_error("--order applies to --over");
	if (opt.kind == -1 && opt.over == 0)
		cli_usage_error("give a window: --tumbling SIZE, --sliding SIZE/SLIDE or --session GAP"
				 " (or --over RANGE)");
	if (opt.kind == WIN_SESSION && opt.offset != 0)
		cli_usage_error("--offset applies to tumbling and sliding windows");
	if (opt.processing && (opt.delay || opt.lateness || opt.late || opt.idle))
		cli_usage_error("--delay, --lateness, --late and --idle apply to --time event");
	if (aggs.n == 0 && agg_set_parse(&aggs, "count", err, sizeof(err)) < 0)
		cli_die(RTAI_EXIT_FAIL, "%s", err);
	check_names();

	conf = (struct win_conf){ .kind = opt.kind, .size = opt.size, .slide = opt.slide,
				  .gap = opt.gap, .offset = opt.offset, .lateness = opt.lateness,
				  .update = opt.update, .max_keys = (uint64_t)opt.max_keys,
				  .aggs = &aggs };
	vals = xcalloc(aggs.n, sizeof(*vals));
	kvals = xcalloc(opt.nkeys + 1, sizeof(*kvals));
	if (opt.over == 0) {
		engine = win_new(&conf, put_result, NULL);
	} else {
		/* out and late are opened below; the engine only keeps them. */
		static struct over_conf oc;

		oc = (struct over_conf){ .range = opt.over, .arrival = opt.arrival,
					 .delay = opt.delay, .max_keys = (uint64_t)opt.max_keys,
					 .keys = opt.keys, .klen = opt.klen, .nkeys = opt.nkeys,
					 .aggs = &aggs, .late = opt.late != NULL ? &late : NULL };
		over = over_new(&oc, &out);
	}
	if ((status = ckpt_start(argc0, argv0)) != 0)
		goto out;
	ckpt_verbose(ck, opt.verbose);
	rd_keeps_state = 1;	/* a resumed stream needs resumed windows */
	if (rd_open(&rd, path) < 0)
		cli_die(RTAI_EXIT_FAIL, "%s", rd.err);
	sig_catch_stop();
	wr_open_fd(&out, 1, "stdout", 0);
	if (opt.late != NULL) {
		size_t n = strlen(opt.late);

		wr_open_path(&late, opt.late, n > 4 && strcmp(opt.late + n - 4, ".zst") == 0, 0);
	}
	if (opt.over > 0) {
		if (run_over(&rd) < 0)
			status = rd.cut ? RTAI_EXIT_CUT : RTAI_EXIT_FAIL;
		goto done;
	}
	if (run(&rd) < 0) {
		/* A cut input or an error: open windows are not final. */
		status = rd.cut ? RTAI_EXIT_CUT : RTAI_EXIT_FAIL;
	} else if (!savepointed) {
		win_flush(engine);
		put_watermark();
	}
	summary();
done:
	if (ckpt_wait(ck, err, sizeof(err)) < 0) {	/* the last snapshot in place */
		cli_warn("%s", err);
		if (status == RTAI_EXIT_OK)
			status = RTAI_EXIT_FAIL;
	}
	if (opt.late != NULL)
		wr_close(&late);
	if (status != RTAI_EXIT_OK)	/* stopped early: not a clean end */
		wr_abandon(&out);
	else
		wr_close(&out);
	rd_close(&rd);
out:
	ckpt_close(ck);
	rec_free(&brec);
	buf_free(&snapbuf);
	win_free(engine);
	over_free(over);
	agg_set_free(&aggs);
	for (int i = 0; i < BATCH; i++) {
		rec_free(&pend[i].rec);
		buf_free(&pend[i].key);
	}
	buf_free(&pdata);
	rec_free(&orec);
	buf_free(&obuf);
	free(vals);
	free(kvals);
	for (size_t i = 0; i < opt.nkeys; i++)
		free(opt.keys[i]);
	free(opt.keys);
	free(opt.klen);
	return status;
}
