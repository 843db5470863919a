/* rtai-cat - into, out of, and back through the rtai record stream.
 *
 * Lines of text become data frames stamped with their ingest time; input
 * that is already a stream passes through (so captures concatenate); zstd
 * input of either kind is decompressed. -p prints records back for people
 * and jq; --replay paces a capture by its recorded times.
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

#include <jansson.h>
#ifdef HAVE_AVRO
#include <avro.h>
#endif

#include "barrier.h"
#include "buf.h"
#include "ckpt.h"
#include "cli.h"
#include "frame.h"
#include "rec.h"
#include "rtime.h"
#include "sig.h"

/* ---- options ---------------------------------------------------------- */

enum replay_clock { REPLAY_NONE, REPLAY_EVENT, REPLAY_INGEST };
enum text_format { FMT_LINES, FMT_CSV, FMT_TSV, FMT_AVRO };

static struct {
	const char *out;		/* -o: capture file, or NULL for stdout */
	int zstd;			/* -z: compress the capture */
	int print;			/* -p: records as text */
	int meta;			/* --meta: print frame times too */
	enum replay_clock replay;	/* --replay[=event|ingest] */
	double speed;			/* --speed: replay X times faster */
	double rate;			/* --rate: records per second, 0 = no cap */
	long long loop;			/* --loop: passes over the input */
	int keep_time;			/* --keep-time: keep recorded ingest times */
	int progress;			/* --progress: pv-like line on stderr */
	int64_t marker_every;		/* --marker-interval, ns; 0 = none */
	enum text_format format;	/* --format: how text is split into records */
	int no_header;			/* --no-header: a CSV/TSV file's first row is data */
	const char *ckpt_dir;		/* --checkpoint-dir, or NULL for $RTAI_CHECKPOINT_DIR */
	int64_t ckpt_every;		/* --checkpoint-interval, ns; 0 = on SIGUSR1 only */
	int verbose;			/* -v: say how each input resumes */
} opt = {
	.speed = 1.0,
	.loop = 1,
};

enum {
	OPT_META = 256, OPT_REPLAY, OPT_SPEED, OPT_RATE, OPT_LOOP,
	OPT_KEEP_TIME, OPT_PROGRESS, OPT_MARKER, OPT_MAX_FRAME, OPT_VERSION,
	OPT_FORMAT, OPT_NO_HEADER, OPT_CKPT_DIR, OPT_CKPT_INTERVAL,
};

static const struct option longopts[] = {
	{ "output", required_argument, NULL, 'o' },		/* capture file */
	{ "zstd", no_argument, NULL, 'z' },			/* compress it */
	{ "print", no_argument, NULL, 'p' },			/* records as text */
	{ "meta", no_argument, NULL, OPT_META },		/* with frame times */
	{ "replay", optional_argument, NULL, OPT_REPLAY },	/* pace by recorded times */
	{ "speed", required_argument, NULL, OPT_SPEED },	/* replay speed factor */
	{ "rate", required_argument, NULL, OPT_RATE },		/* records/s cap */
	{ "loop", required_argument, NULL, OPT_LOOP },		/* repeat N times */
	{ "keep-time", no_argument, NULL, OPT_KEEP_TIME },	/* keep ingest times */
	{ "progress", no_argument, NULL, OPT_PROGRESS },	/* progress on stderr */
	{ "marker-interval", required_argument, NULL, OPT_MARKER }, /* latency markers */
	{ "max-frame", required_argument, NULL, OPT_MAX_FRAME },	/* frame size limit */
	{ "format", required_argument, NULL, OPT_FORMAT },	/* lines, csv, tsv or avro */
	{ "no-header", no_argument, NULL, OPT_NO_HEADER },	/* CSV without a header row */
	{ "checkpoint-dir", required_argument, NULL, OPT_CKPT_DIR },	/* checkpoints there */
	{ "checkpoint-interval", required_argument, NULL, OPT_CKPT_INTERVAL }, /* barrier period */
	{ "verbose", no_argument, NULL, 'v' },			/* how inputs resume */
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void usage(int status)
{
	FILE *fp = status == 0 ? stdout : stderr;

	fputs("Usage: rtai-cat [OPTION]... [FILE]...\n"
	      "Turn lines into an rtai record stream, pass streams through, print them back.\n"
	      "With no FILE, or when FILE is -, read standard input. Text, rtai streams and\n"
	      "zstd-compressed input of either kind are recognised.\n"
	      "\n"
	      "Output:\n"
	      "  -o, --output FILE        write the stream to FILE, in place (readable up to\n"
	      "                           its last frame after a crash; a file or link there\n"
	      "                           is replaced, never followed); a .zst name compresses\n"
	      "  -z, --zstd               compress the output with zstd\n"
	      "  -p, --print              print records: one JSON object per line for typed\n"
	      "                           and JSON records, the bytes of raw ones\n"
	      "      --meta               with -p, add the recorded ingest and event times\n"
	      "                           and source metadata (_topic, _partition, _offset,\n"
	      "                           _key, _timestamp, _headers; _value null for a\n"
	      "                           tombstone), and print watermarks, markers, schemas,\n"
	      "                           barriers and other frames\n"
	      "\n"
	      "Replay:\n"
	      "      --replay[=CLOCK]     pace output by recorded event times (CLOCK=event,\n"
	      "                           the default) or ingest times (CLOCK=ingest)\n"
	      "      --speed X            replay X times faster (default 1)\n"
	      "      --rate N             at most N records per second\n"
	      "      --loop N             read the input N times (files only; 0 = forever);\n"
	      "                           event times move forward by the input's span each pass\n"
	      "      --keep-time          keep recorded ingest times instead of stamping new ones\n"
	      "\n"
	      "Text:\n"
	      "      --format FORMAT      how text input splits into records: lines (the\n"
	      "                           default), csv (RFC 4180: a newline inside quotes\n"
	      "                           stays in its record) or tsv; a CSV or TSV file's\n"
	      "                           header row becomes a schema frame that names the\n"
	      "                           columns for rtai-parse --format csv, so a second\n"
	      "                           file's header is not data; a UTF-8 byte order mark\n"
	      "                           at the start of a file is skipped; avro reads\n"
	      "                           Avro object container files (.avro, any codec\n"
	      "                           libavro has): a schema frame with each file's\n"
	      "                           writer schema, then one frame of plain Avro\n"
	      "                           binary per datum, for rtai-parse --format avro\n"
	      "      --no-header          with --format csv or tsv: the first row is data\n"
	      "\n"
	      "Checkpoints (rtai(7) \"Checkpoints\"; with FILE operands, not -p):\n"
	      "      --checkpoint-dir DIR the pipeline's checkpoint directory (default:\n"
	      "                           $RTAI_CHECKPOINT_DIR); record the position of each\n"
	      "                           FILE at every barrier, and on a rerun of the same\n"
	      "                           command line resume from the latest complete\n"
	      "                           checkpoint\n"
	      "      --checkpoint-interval DUR  inject a checkpoint barrier every DUR (SIGUSR1:\n"
	      "                           one at once; SIGTERM: a savepoint, then the end)\n"
	      "  -v, --verbose            resuming, say how each FILE goes back to its\n"
	      "                           position: by seeking (a plain file) or by reading\n"
	      "                           up to it (zstd, not a regular file, schema frames)\n"
	      "\n"
	      "Other:\n"
	      "      --progress           show records, bytes, rate and elapsed time on stderr\n"
	      "      --marker-interval DUR  inject a latency marker every DUR (see rtai-lat)\n"
	      "      --max-frame BYTES    largest frame or line accepted (default 16777216)\n"
	      "  -h, --help               show this help and exit\n"
	      "      --version            show the version and exit\n"
	      "\n"
	      "Examples:\n"
	      "  rtai-cat -o clicks.rtai.zst clicks.jsonl     capture a file\n"
	      "  rtai-cat --replay --speed 10 clicks.rtai.zst | rtai-parse ...\n"
	      "  rtai-cat -p --meta clicks.rtai.zst | head    look inside a capture\n"
	      "  rtai-cat --format csv clicks.csv | rtai-parse --format csv -t event_time\n"
	      "  rtai-cat --format avro clicks.avro | rtai-parse --format avro -t ts\n"
	      "\n"
	      "See rtai-cat(1), rtai-record(5) and rtai(7).\n", fp);
	exit(status);
}

/* ---- state ------------------------------------------------------------- */

static struct frame_wr out;		/* stdout or the capture */
static struct rec rec;		/* for -p of typed records */
static struct rec mrec;		/* -p --meta: source metadata */
static struct buf line;			/* -p output line */
static int status = RTAI_EXIT_OK;

static struct {
	int64_t start_mono, start_wall;	/* when output began */
	int64_t base_rec;		/* recorded time mapped to start_mono */
	int64_t next_mono;		/* --rate: earliest next send */
	int started;
} pace;

static struct {
	uint64_t records, bytes_in, total_in;	/* total_in: 0 when unknown */
	uint64_t skipped;	/* bytes a resume went past by seeking (cp_seek):
				 * done, but not read in this run's time */
	int64_t start, last_draw;
} prog;

static int64_t shift;			/* --loop: added to event times */
static int64_t ev_min = INT64_MAX, ev_max = INT64_MIN;	/* span of one pass */
static int64_t next_marker;		/* mono time of the next marker */
static int warned_unpaced;		/* --replay met a record without event time */

/* ---- checkpoints (rtai(7) "Checkpoints") ------------------------------- */

/* rtai-cat as the pipeline's source: at each barrier it injects, the
 * position of each input (bytes consumed, records sent) is both its
 * snapshot and the barrier's "sources"; a rerun resumes each input there by
 * re-reading it up to that byte, so plain, zstd and text inputs resume
 * alike, and an input that changed meanwhile is found out. */
static struct {
	struct ckpt *c;			/* NULL: checkpoints off */
	char **files;			/* the inputs, in order */
	int n;				/* how many */
	int cur;			/* the input being read */
	uint64_t *off, *recs;		/* per input: bytes consumed, records sent */
	uint64_t *schemas;		/* per input: schema frames before off */
	uint64_t *skip_off, *skip_recs;	/* resuming: where each input restarts; NULL: fresh */
	uint64_t *skip_schemas;		/* and the schema frames before it (UINT64_MAX:
					 * not recorded) */
	uint64_t seek_at;		/* the current input was moved here by
					 * seeking (cp_seek); UINT64_MAX: not */
	int64_t resumed;		/* the checkpoint resumed from, 0 for none */
	int64_t id;			/* the last barrier's id */
	int64_t due;			/* CLOCK_MONOTONIC time of the next barrier */
	unsigned unclocked;		/* records since the clock was last read */
	struct buf pos;			/* the positions, as JSON */
	struct buf snap;		/* the snapshot: pos with the schema counts */
	uint64_t dropped;		/* barrier and resume frames of the input dropped */
	int failed;			/* a checkpoint could not be written */
	int64_t settled;		/* the last barrier's id once complete or declined */
	int64_t backoff;		/* the wait after the last declined (ckpt_backoff) */
} cp;

/* The position of every input as the barrier's "sources" array; with
 * schemas (the snapshot), each with the schema frames before it too, which
 * decide whether a rerun may seek (cp_seek). */
static void cp_positions(struct buf *b, int schemas)
{
	buf_reset(b);
	buf_putc(b, '[');
	for (int i = 0; i < cp.n; i++) {
		buf_puts(b, i > 0 ? ",{\"source\":\"rtai-cat\",\"input\":" :
				    "{\"source\":\"rtai-cat\",\"input\":");
		json_put_str(b, cp.files[i], strlen(cp.files[i]));
		buf_printf(b, ",\"offset\":%llu,\"records\":%llu", (unsigned long long)cp.off[i],
			   (unsigned long long)cp.recs[i]);
		if (schemas)
			buf_printf(b, ",\"schemas\":%llu", (unsigned long long)cp.schemas[i]);
		buf_putc(b, '}');
	}
	buf_putc(b, ']');
}

/* Takes checkpoint (or savepoint) id + 1 (barrier_take): the snapshot is
 * written in the background; one that could not be written is reported at
 * the next barrier or at the end (barrier_wait), and the run exits 1. */
static void cp_take(int savepoint)
{
	cp.id++;
	cp_positions(&cp.pos, 0);
	cp_positions(&cp.snap, 1);
	if (barrier_take(cp.c, &out, cp.id, savepoint, cp.snap.p, cp.snap.len, cp.pos.p,
			 cp.pos.len) != 0)
		cp.failed = 1;
}

/* Records between two readings of the clock for --checkpoint-interval: a
 * reading costs about as much as forwarding a record on some virtual
 * machines, and CP_CLOCK_EVERY records take well under a millisecond at
 * full speed. Before a read that would block, the clock is read at the
 * next record whatever the count (cp_on_block), so a slow input is not
 * held back by the stride. */
#define CP_CLOCK_EVERY 64

/* Between records: a barrier when SIGUSR1 asked for one or the interval is up. */
static void cp_maybe(void)
{
	int64_t now;

	if (cp.c == NULL)
		return;
	if (!sig_checkpoint && ++cp.unclocked < CP_CLOCK_EVERY)
		return;
	cp.unclocked = 0;
	if (sig_checkpoint) {
		sig_checkpoint = 0;
		cp_take(0);
		cp.due = cli_mono_ns() + opt.ckpt_every;
	} else if (opt.ckpt_every > 0 && (now = cli_mono_ns()) >= cp.due) {
		/* One checkpoint in flight, as Flink's default
		 * (execution.checkpointing.max-concurrent-checkpoints 1): the
		 * next barrier waits until the last one's checkpoint is
		 * complete or declined (a stage could not write its
		 * snapshot: ckpt_settled), looked at again every millisecond,
		 * so that slow snapshots make checkpoints rarer, not the
		 * stages slower. */
		if (cp.id > 0 && cp.settled != cp.id) {
			int st = ckpt_settled(cp.c, cp.id);

			if (st == 0) {
				cp.due = now + (opt.ckpt_every < 1000000 ? opt.ckpt_every : 1000000);
				return;
			}
			cp.settled = cp.id;
			cp.backoff = st > 0 ? 0 : ckpt_backoff(cp.backoff, opt.ckpt_every);
			if (st < 0) {
				cp.due = now + cp.backoff;
				return;
			}
		}
		cp_take(0);
		cp.due = cli_mono_ns() + opt.ckpt_every;
	}
}

/* rd_on_block: the input would block; the output is flushed (wr_flush_cb)
 * and the next record reads the clock. */
static void cp_on_block(void *arg)
{
	cp.unclocked = CP_CLOCK_EVERY;
	wr_flush_cb(arg);
}

/* The frame or line just read ended at byte pos of the current input. */
static void cp_advance(uint64_t pos, int record)
{
	if (cp.c == NULL)
		return;
	cp.off[cp.cur] = pos;
	cp.recs[cp.cur] += record != 0;
}

/* The input does not match the checkpoint being resumed: nothing can be
 * trusted, so the stream is abandoned (no end-of-stream frame). */
static void cp_changed(const char *name, uint64_t at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
static void cp_changed(const char *name, uint64_t at, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	cli_warn("%s: byte %llu: %s: the input changed since checkpoint %lld of %s was taken "
		  "(truncated or replaced?), so it cannot be resumed; remove %s to start afresh",
		  name, (unsigned long long)at, what, (long long)cp.resumed, ckpt_dir(cp.c),
		  ckpt_dir(cp.c));
	wr_abandon(&out);
	exit(RTAI_EXIT_FAIL);
}

/* Resuming: whether the frame or line from byte before to byte after of
 * the current input was sent by the last run already (then it is skipped). */
static int cp_skipping(const char *name, uint64_t before, uint64_t after, int record)
{
	uint64_t target;

	if (cp.skip_off == NULL || before >= (target = cp.skip_off[cp.cur]))
		return 0;
	if (after > target)
		cp_changed(name, before, "expected a frame or line to end at byte %llu, the "
			   "position recorded, found one ending at byte %llu",
			   (unsigned long long)target, (unsigned long long)after);
	cp_advance(after, record);
	if (after == target && cp.recs[cp.cur] != cp.skip_recs[cp.cur])
		cp_changed(name, after, "expected %llu records before it, as recorded, found %llu",
			   (unsigned long long)cp.skip_recs[cp.cur],
			   (unsigned long long)cp.recs[cp.cur]);
	return 1;
}

/* Resuming, at the start of the current input (after a CSV file's header
 * row): goes to the recorded position at once when the input is a plain
 * regular file (rd_seek), where the records before it count as sent;
 * otherwise (zstd, a pipe, schema frames before the position, which the
 * stages after need again) it is read up to the position, as cp_skipping
 * does. Seeking checks only that a line ends just before the position
 * (text) or that a frame starts at it (a stream: the first rd_frame after,
 * cp_seek_failed); reading up to it checks every frame and line before it. */
static void cp_seek(struct frame_rd *rd, int stream)
{
	uint64_t target, recs, sch, from = rd->pos;
	const char *why = NULL;
	struct stat st;
	int r;

	cp.seek_at = UINT64_MAX;
	if (cp.c == NULL || cp.skip_off == NULL || (target = cp.skip_off[cp.cur]) == 0 ||
	    rd->pos >= target)
		return;
	recs = cp.skip_recs[cp.cur];
	sch = cp.skip_schemas[cp.cur];
	if (stream && sch != 0)
		why = sch == UINT64_MAX ? "the checkpoint does not say whether schema frames "
					  "come before it" :
					  "schema frames come before it, and are sent again";
	else if ((r = rd_seek(rd, target)) == -2)
		cp_changed(rd->name, fstat(rd->fd, &st) == 0 ? (uint64_t)st.st_size : 0,
			   "the input ends before the position recorded (byte %llu)",
			   (unsigned long long)target);
	else if (r < 0)
		why = errno == EINVAL ? "zstd input cannot seek" :
		      errno == ESPIPE ? "not a regular file" : strerror(errno);
	if (why != NULL) {
		if (opt.verbose)
			cli_warn("%s: resuming at byte %llu (record %llu) by reading up to it: %s",
				 rd->name, (unsigned long long)target, (unsigned long long)recs, why);
		return;
	}
	if (!stream) {
		char nl = '\n';

		if (fstat(rd->fd, &st) == 0 && (uint64_t)st.st_size > target &&
		    (pread(rd->fd, &nl, 1, (off_t)target - 1) != 1 || nl != '\n'))
			cp_changed(rd->name, target, "no line ends just before the position recorded");
	}
	rd->nrec = recs;
	cp.off[cp.cur] = target;
	cp.recs[cp.cur] = recs;
	cp.seek_at = target;
	prog.skipped += target - from;
	if (opt.verbose)
		cli_warn("%s: resuming at byte %llu (record %llu) by seeking", rd->name,
			 (unsigned long long)target, (unsigned long long)recs);
}

/* The first frame after a seek (cp_seek) could not be read: the recorded
 * position is not where a frame starts, so the input changed. */
static void cp_seek_failed(const struct frame_rd *rd, uint64_t before)
{
	if (cp.seek_at != UINT64_MAX && before == cp.seek_at)
		cp_changed(rd->name, before, "no frame starts at the position recorded: %s",
			   rd->err);
}

/* The current input ended at byte pos: before its recorded position is an error. */
static void cp_input_end(const char *name, uint64_t pos)
{
	if (cp.skip_off != NULL && !sig_stop && pos < cp.skip_off[cp.cur])
		cp_changed(name, pos, "the input ends before the position recorded (byte %llu)",
			   (unsigned long long)cp.skip_off[cp.cur]);
}

/* A barrier or resume frame in the input of a source that injects its own
 * (a capture of a checkpointed run): dropped. */
static void cp_drop_barrier(const char *name, uint64_t at, int kind)
{
	if (cp.dropped++ == 0)
		cli_warn("%s: byte %llu: a %s frame in the input: dropped, as every barrier and "
			  "resume frame after it (this rtai-cat injects the pipeline's own)",
			  name, (unsigned long long)at, frame_kind_name(kind));
}

/* The last run's positions from rtai-cat's snapshot (cp_positions' JSON). */
static void cp_load(const struct buf *state)
{
	json_error_t jerr;
	json_t *a = json_loadb((const char *)state->p, state->len, 0, &jerr), *o;
	size_t i;

	if (a == NULL || !json_is_array(a) || json_array_size(a) != (size_t)cp.n)
		goto bad;
	cp.skip_off = xcalloc((size_t)cp.n, sizeof(*cp.skip_off));
	cp.skip_recs = xcalloc((size_t)cp.n, sizeof(*cp.skip_recs));
	cp.skip_schemas = xcalloc((size_t)cp.n, sizeof(*cp.skip_schemas));
	json_array_foreach(a, i, o) {
		json_t *in = json_object_get(o, "input"), *off = json_object_get(o, "offset"),
		       *recs = json_object_get(o, "records"), *sch = json_object_get(o, "schemas");

		if (!json_is_string(in) || strcmp(json_string_value(in), cp.files[i]) != 0 ||
		    !json_is_integer(off) || json_integer_value(off) < 0 ||
		    !json_is_integer(recs) || json_integer_value(recs) < 0)
			goto bad;
		cp.skip_off[i] = (uint64_t)json_integer_value(off);
		cp.skip_recs[i] = (uint64_t)json_integer_value(recs);
		cp.skip_schemas[i] = json_is_integer(sch) && json_integer_value(sch) >= 0 ?
					     (uint64_t)json_integer_value(sch) : UINT64_MAX;
	}
	json_decref(a);
	return;
bad:
	json_decref(a);
	cli_die(RTAI_EXIT_SNAPSHOT, "checkpoint %lld of %s: rtai-cat's snapshot: expected the "
		 "position of each of its %d inputs, got '%.*s'", (long long)cp.resumed,
		 ckpt_dir(cp.c), cp.n, state->len > 200 ? 200 : (int)state->len,
		 (const char *)state->p);
}

/* Opens checkpoints when asked (or $RTAI_CHECKPOINT_DIR is set and this run
 * is a source of records: FILE operands, no -p), and resumes. The source's
 * identity is what decides the records it sends: its FILEs and how text
 * is split (--format, --no-header); pacing (--rate, --replay, --speed) and
 * output options may change from run to run. */
static void cp_start(char **files, int nfiles)
{
	static const char *formats[] = { "--format=lines", "--format=csv", "--format=tsv",
					 "--format=avro" };
	char **argv = xcalloc((size_t)nfiles + 4, sizeof(*argv));
	int argc = 0;

	int asked = opt.ckpt_dir != NULL || opt.ckpt_every > 0;
	const char *why = NULL;
	struct buf state = { 0 };
	char err[1024];
	int rc;

	if (opt.print)
		why = "-p prints text, where no barrier can go";
	else if (opt.loop != 1)
		why = "--loop is not resumable";
	else if (opt.format == FMT_AVRO)
		why = "--format avro is not resumable yet";
	for (int i = 0; i < nfiles && why == NULL; i++)
		if (strcmp(files[i], "-") == 0)
			why = "standard input cannot be read again (give FILE operands)";
	if (why != NULL) {
		if (asked)
			cli_usage_error("checkpoints need a source of records: %s", why);
		free(argv);
		return;		/* $RTAI_CHECKPOINT_DIR alone: a stage, not the source */
	}
	argv[argc++] = "rtai-cat";
	if (opt.format != FMT_LINES)
		argv[argc++] = (char *)formats[opt.format];
	if (opt.no_header)
		argv[argc++] = "--no-header";
	for (int i = 0; i < nfiles; i++)
		argv[argc++] = files[i];
	rc = ckpt_open(&cp.c, "rtai-cat", opt.ckpt_dir, argc, argv, NULL, err, sizeof(err));
	free(argv);
	if (rc < 0)
		cli_die(RTAI_EXIT_FAIL, "%s", err);
	if (cp.c == NULL) {
		if (asked)
			cli_usage_error("--checkpoint-interval needs --checkpoint-dir DIR or "
					 "RTAI_CHECKPOINT_DIR");
		return;
	}
	cp.files = files;
	cp.n = nfiles;
	cp.off = xcalloc((size_t)nfiles, sizeof(*cp.off));
	cp.recs = xcalloc((size_t)nfiles, sizeof(*cp.recs));
	cp.schemas = xcalloc((size_t)nfiles, sizeof(*cp.schemas));
	if (ckpt_source_start(cp.c, &cp.resumed, &state) == 1)
		cp_load(&state);
	cp.id = cp.resumed;
	cp.due = cli_mono_ns() + opt.ckpt_every;
	buf_free(&state);
}

static void cp_done(void)
{
	if (cp.dropped > 0)
		cli_warn("%llu barrier and resume frames of the input dropped", (unsigned long long)cp.dropped);
	ckpt_close(cp.c);
	free(cp.off);
	free(cp.recs);
	free(cp.schemas);
	free(cp.skip_off);
	free(cp.skip_recs);
	free(cp.skip_schemas);
	buf_free(&cp.pos);
	buf_free(&cp.snap);
}

/* ---- pacing ------------------------------------------------------------ */

/* Waits until a record with recorded time t (or none) is due; returns the
 * wall-clock time it was scheduled for, which becomes its ingest time, so a
 * stalled pipeline shows up as latency (coordinated omission). */
static int64_t pace_record(int64_t t)
{
	int64_t due = 0;

	if (opt.replay == REPLAY_NONE && opt.rate <= 0)
		return cli_now_ns();
	if (!pace.started) {
		pace.started = 1;
		pace.start_mono = cli_mono_ns();
		pace.start_wall = cli_now_ns();
		pace.base_rec = t;
		pace.next_mono = pace.start_mono;
	}
	if (opt.replay != REPLAY_NONE && t != RTAI_TIME_UNSET) {
		if (pace.base_rec == RTAI_TIME_UNSET)
			pace.base_rec = t;
		due = pace.start_mono + (int64_t)((double)(t - pace.base_rec) / opt.speed);
	}
	if (opt.rate > 0 && pace.next_mono > due)
		due = pace.next_mono;
	if (due > cli_mono_ns()) {
		wr_flush(&out);
		cp.unclocked = CP_CLOCK_EVERY;	/* a paced record reads the clock */
		/* SIGUSR1 wakes the sleep: its barrier goes out at once. */
		for (;;) {
			cli_sleep_until_mono(due);
			if (sig_stop || cli_mono_ns() >= due)
				break;
			cp_maybe();
		}
	}
	if (opt.rate > 0)
		pace.next_mono = (due > pace.next_mono ? due : pace.next_mono) +
				 (int64_t)(1e9 / opt.rate);
	if (due == 0)
		return cli_now_ns();
	return pace.start_wall + (due - pace.start_mono);
}

/* ---- progress ---------------------------------------------------------- */

static void progress_draw(int final)
{
	int64_t now = cli_mono_ns(), el = now - prog.start;
	double secs = el / 1e9, rate = secs > 0 ? prog.records / secs : 0;
	char d[RTAI_TIME_BUFSZ];

	if (!final && now - prog.last_draw < 200000000)
		return;
	prog.last_draw = now;
	rtime_fmt_duration(el, d);
	fprintf(stderr, "\r%s: %llu records  %.1f MiB  %.0f rec/s  %.1f MiB/s  %s",
		cli_progname, (unsigned long long)prog.records, prog.bytes_in / 1048576.0,
		rate, secs > 0 ? prog.bytes_in / 1048576.0 / secs : 0.0, d);
	if (prog.total_in > 0 && prog.bytes_in + prog.skipped <= prog.total_in) {
		/* done: read in this run, or gone past by a resume's seek; the
		 * time left at this run's own pace */
		uint64_t done = prog.bytes_in + prog.skipped;

		fprintf(stderr, "  %3.0f%%", (double)done / prog.total_in * 100);
		if (prog.bytes_in > 0 && !final)
			fprintf(stderr, "  ETA %.0fs",
				(double)(prog.total_in - done) / prog.bytes_in * secs);
	}
	fputs(final ? "\n" : "\033[K", stderr);
	fflush(stderr);	/* line-buffered (cli_init): a line redrawn with no newline */
}

/* ---- output ------------------------------------------------------------ */

static void print_meta_prefix(struct buf *b, const struct frame *f)
{
	char t[RTAI_TIME_BUFSZ];

	buf_puts(b, "\"_ingest_time\":\"");
	buf_append(b, t, rtime_fmt_time(f->ingest_ns, t));
	buf_puts(b, "\",\"_event_time\":");
	if (f->event_ns == RTAI_TIME_UNSET) {
		buf_puts(b, "null");
	} else {
		buf_putc(b, '"');
		buf_append(b, t, rtime_fmt_time(f->event_ns, t));
		buf_putc(b, '"');
	}
}

/* -p --meta: the source metadata of f as "_NAME" members, each after a
 * comma (rtai-record(5); named as kcat -J names them). Returns -1 when it
 * cannot be decoded. */
static int print_source_meta(struct buf *b, const struct frame *f)
{
	if (f->meta == NULL)
		return 0;
	if (rec_decode(&mrec, f->meta, f->meta_len) < 0)
		return -1;
	for (uint32_t i = 0; i < mrec.n; i++) {
		char name[256];

		name[0] = '_';
		memcpy(name + 1, mrec.f[i].name, mrec.f[i].nlen);
		buf_putc(b, ',');
		json_put_str(b, name, mrec.f[i].nlen + 1U);
		buf_putc(b, ':');
		val_to_json(&mrec.f[i].v, b);
	}
	return 0;
}

/* A marker's stamp as a JSON object, for -p --meta. */
static void stamp(void *arg, const char *s, size_t n, int64_t t)
{
	struct buf *b = arg;
	char ts[RTAI_TIME_BUFSZ];

	buf_puts(b, "{\"stage\":");
	json_put_str(b, s, n);
	buf_puts(b, ",\"time\":\"");
	buf_append(b, ts, rtime_fmt_time(t, ts));
	buf_puts(b, "\"},");
}

/* -p --meta: what a control frame carries, as members after a comma: a
 * schema's JSON ("_schema"), a barrier's record ("_barrier"), a resume
 * frame's ("_resume"). Warns and
 * returns -1 when it is malformed. */
static int print_control(struct buf *b, const struct frame *f, const char *name)
{
	const char *why;

	if (f->kind == RTAI_K_SCHEMA) {
		if (f->enc != RTAI_E_JSON || rec_json_check((const char *)f->payload, f->len, &why) < 0) {
			cli_warn("%s: byte %llu: schema frame: expected JSON text, got %s", name,
				  (unsigned long long)f->offset,
				  f->enc != RTAI_E_JSON ? "another encoding" : why);
			return -1;
		}
		buf_puts(b, ",\"_schema\":");
		buf_append(b, f->payload, f->len);
	} else if ((f->kind == RTAI_K_BARRIER || f->kind == RTAI_K_RESUME) && f->enc == RTAI_E_REC) {
		if (rec_decode(&rec, f->payload, f->len) < 0) {
			cli_warn("%s: byte %llu: %s: %s", name, (unsigned long long)f->offset,
				  frame_kind_name(f->kind), rec.err);
			return -1;
		}
		buf_puts(b, f->kind == RTAI_K_BARRIER ? ",\"_barrier\":" : ",\"_resume\":");
		rec_to_json(&rec, b);
	}
	return 0;
}

/* -p: one line per frame; warns and returns -1 for an unreadable record. */
static int print_frame(const struct frame *f, const char *name, uint64_t recno)
{
	buf_reset(&line);
	if (f->kind != RTAI_K_DATA) {
		if (!opt.meta)
			return 0;
		buf_puts(&line, "{\"_kind\":");
		json_put_str(&line, frame_kind_name(f->kind), strlen(frame_kind_name(f->kind)));
		if (strcmp(frame_kind_name(f->kind), "unknown") == 0)
			buf_printf(&line, ",\"_kind_code\":%u", f->kind);
		buf_putc(&line, ',');
		print_meta_prefix(&line, f);
		if (print_control(&line, f, name) < 0)
			return -1;
		if (f->kind == RTAI_K_MARKER) {
			buf_puts(&line, ",\"_stamps\":[");
			marker_stamps(f, stamp, &line);
			if (line.p[line.len - 1] == ',')
				line.len--;
			buf_putc(&line, ']');
		}
		buf_puts(&line, "}\n");
	} else if ((f->flags & RTAI_F_TOMBSTONE) && !opt.meta) {
		buf_puts(&line, "null\n");	/* the value is null */
	} else if ((f->flags & RTAI_F_TOMBSTONE) || f->enc == RTAI_E_RAW) {
		if (!opt.meta) {
			buf_append(&line, f->payload, f->len);
			buf_putc(&line, '\n');
			goto put;
		}
		buf_putc(&line, '{');
		print_meta_prefix(&line, f);
		if (print_source_meta(&line, f) < 0)
			goto bad_meta;
		if (f->flags & RTAI_F_TOMBSTONE) {
			buf_puts(&line, ",\"_value\":null}\n");
		} else {
			buf_puts(&line, ",\"_raw\":");
			json_put_str(&line, (const char *)f->payload, f->len);
			buf_puts(&line, "}\n");
		}
	} else {
		size_t at = 0;	/* where the record's own '{' lands */

		if (rec_from_frame(&rec, f) < 0) {
			cli_warn("%s: record %llu: %s", name, (unsigned long long)recno, rec.err);
			return -1;
		}
		if (opt.meta) {
			/* The times and the source metadata first, then the
			 * record's fields in the same object. */
			buf_putc(&line, '{');
			print_meta_prefix(&line, f);
			if (print_source_meta(&line, f) < 0)
				goto bad_meta;
			at = line.len;
		}
		rec_to_json(&rec, &line);
		if (opt.meta) {
			if (line.len - at > 2) {
				line.p[at] = ',';
			} else {
				line.len = at;
				buf_putc(&line, '}');
			}
		}
		buf_putc(&line, '\n');
	}
put:
	wr_bytes(&out, line.p, line.len);
	return 0;
bad_meta:
	cli_warn("%s: record %llu: source metadata: %s", name, (unsigned long long)recno,
		  mrec.err);
	return -1;
}

static void maybe_marker(void)
{
	int64_t now;

	if (opt.marker_every <= 0 || opt.print)
		return;
	now = cli_mono_ns();
	if (now < next_marker)
		return;
	next_marker = now + opt.marker_every;
	{
		struct frame m = { .kind = RTAI_K_MARKER, .enc = RTAI_E_NONE,
					.ingest_ns = cli_now_ns(),
					.event_ns = RTAI_TIME_UNSET };

		wr_marker(&out, &m, "rtai-cat");
	}
}

/* Sends one frame on, re-stamped and paced as the options say. */
static int emit(struct frame *f, const char *name, uint64_t recno)
{
	int64_t when;

	if (f->kind == RTAI_K_DATA || f->kind == RTAI_K_WATERMARK) {
		if (f->event_ns != RTAI_TIME_UNSET) {
			if (f->event_ns < ev_min)
				ev_min = f->event_ns;
			if (f->event_ns > ev_max)
				ev_max = f->event_ns;
		}
	}
	if (opt.print)
		return print_frame(f, name, recno);
	if (f->kind == RTAI_K_MARKER) {
		wr_marker(&out, f, "rtai-cat");
		return 0;
	}
	if (f->kind != RTAI_K_DATA) {
		if (shift && f->event_ns != RTAI_TIME_UNSET && f->kind == RTAI_K_WATERMARK)
			f->event_ns += shift;
		wr_frame(&out, f);
		return 0;
	}
	maybe_marker();
	if (opt.replay == REPLAY_EVENT && f->event_ns == RTAI_TIME_UNSET && !warned_unpaced) {
		/* --replay cannot take effect on it: say so once, not silently. */
		cli_warn("%s: record %llu has no event time: --replay cannot pace it and "
			  "records without one go out unpaced (pipe the input through "
			  "rtai-parse -t FIELD first, or pace by ingest times with --replay=ingest)",
			  name, (unsigned long long)recno);
		warned_unpaced = 1;
	}
	when = pace_record(opt.replay == REPLAY_INGEST ? f->ingest_ns : f->event_ns);
	if (!opt.keep_time)
		f->ingest_ns = when;
	if (shift && f->event_ns != RTAI_TIME_UNSET)
		f->event_ns += shift;
	wr_frame(&out, f);
	return 0;
}

/* ---- input ------------------------------------------------------------- */

/* A CSV or TSV header row: a schema frame carrying the row as read, for
 * rtai-parse --format csv to take its column names from (rtai-record(5));
 * with -p, the row itself. */
static struct buf hdr;			/* a header's schema frame */

static void header_frame(const uint8_t *p, size_t n)
{
	struct buf *b = &hdr;

	if (opt.print) {
		wr_bytes(&out, p, n);
		wr_bytes(&out, "\n", 1);
		return;
	}
	buf_reset(b);
	buf_puts(b, opt.format == FMT_TSV ? "{\"format\":\"tsv\",\"header\":" :
					     "{\"format\":\"csv\",\"header\":");
	json_put_str(b, (const char *)p, n);
	buf_putc(b, '}');
	wr_put(&out, RTAI_K_SCHEMA, RTAI_E_JSON, 0, cli_now_ns(), RTAI_TIME_UNSET, b->p, b->len);
}

/* Copies one input to the output. Returns 0, or -1 after a message. */
static int cat_one(const char *path)
{
	struct frame_rd rd;
	struct frame f;
	uint64_t before;
	int st, ret = 0;

	if (rd_open(&rd, path) < 0) {
		cli_warn("%s", rd.err);
		return -1;
	}
	rd_on_block(&rd, cp_on_block, &out);	/* a lone record leaves at once */
	st = rd_is_stream(&rd);
	if (st < 0) {
		cli_warn("%s", rd.err);
		ret = -1;
	} else if (st == 1) {
		cp_seek(&rd, 1);
		while (before = rd.pos, (st = rd_frame(&rd, &f)) > 0) {
			if (cp.c != NULL && f.kind == RTAI_K_SCHEMA)
				cp.schemas[cp.cur]++;
			if (cp_skipping(rd.name, before, rd.pos, f.kind == RTAI_K_DATA)) {
				if (f.kind == RTAI_K_SCHEMA)
					wr_frame(&out, &f);	/* the records after it need it */
				continue;
			}
			if (cp.c != NULL && (f.kind == RTAI_K_BARRIER || f.kind == RTAI_K_RESUME)) {
				cp_drop_barrier(rd.name, before, f.kind);
				cp_advance(rd.pos, 0);
				continue;
			}
			if (emit(&f, rd.name, rd.nrec) < 0)
				ret = -1;
			prog.records += f.kind == RTAI_K_DATA;
			prog.bytes_in += rd.pos - before;
			if (opt.progress)
				progress_draw(0);
			cp_advance(rd.pos, f.kind == RTAI_K_DATA);
			cp_maybe();
		}
		if (st == 0)
			cp_input_end(rd.name, rd.pos);
		if (st < 0) {
			cp_seek_failed(&rd, before);
			cli_warn("%s", rd.err);
			ret = -1;
		}
	} else {
		const uint8_t *p;
		size_t n;
		uint64_t row = 0;

		rd_set_csv(&rd, opt.format == FMT_CSV);
		if (opt.format == FMT_LINES || opt.no_header)
			cp_seek(&rd, 0);
		if (opt.replay != REPLAY_NONE && !opt.print && !warned_unpaced) {
			cli_warn("%s: text has no recorded times: --replay cannot pace it and "
				  "it goes out unpaced (replay a capture: rtai-cat -o FILE first)",
				  rd.name);
			warned_unpaced = 1;
		}
		while (before = rd.pos, (st = rd_line(&rd, &p, &n)) > 0) {
			if (opt.format != FMT_LINES && row++ == 0) {
				/* A byte order mark is not part of the first column's name. */
				if (n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
					p += 3, n -= 3;
				if (!opt.no_header) {
					header_frame(p, n);
					prog.bytes_in += rd.pos - before;
					cp_advance(rd.pos, 0);
					cp_seek(&rd, 0);
					continue;
				}
			}
			if (cp_skipping(rd.name, before, rd.pos, 1))
				continue;
			f = (struct frame){ .kind = RTAI_K_DATA, .enc = RTAI_E_RAW,
						 .event_ns = RTAI_TIME_UNSET,
						 .payload = p, .len = (uint32_t)n };
			f.ingest_ns = RTAI_TIME_UNSET;
			if (opt.print) {
				wr_bytes(&out, p, n);
				wr_bytes(&out, "\n", 1);
			} else {
				maybe_marker();
				f.ingest_ns = pace_record(RTAI_TIME_UNSET);
				wr_frame(&out, &f);
			}
			prog.records++;
			prog.bytes_in += rd.pos - before;
			if (opt.progress)
				progress_draw(0);
			cp_advance(rd.pos, 1);
			cp_maybe();
		}
		if (st == 0)
			cp_input_end(rd.name, rd.pos);
		if (st < 0) {
			cli_warn("%s", rd.err);
			ret = -1;
		}
	}
	rd_close(&rd);
	return ret;
}

#ifdef HAVE_AVRO
/* ---- Avro object container files ---------------------------------------- */

static struct buf avro_schema;		/* the last schema frame's writer schema */
static struct buf avro_out;		/* one datum's plain Avro binary */
static struct buf avro_frame;		/* a schema frame being built */

/* Reads a zigzag varint long (Avro 1.11 specification, "Binary Encoding").
 * Returns 0, or -1 at end of file or when it runs over 10 bytes. */
static int avro_long(FILE *fp, int64_t *v)
{
	uint64_t u = 0;
	int c;

	for (int shift = 0; shift < 64; shift += 7) {
		if ((c = getc(fp)) == EOF)
			return -1;
		u |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
			return 0;
		}
	}
	return -1;
}

/* The writer schema's JSON text from a container file's header (magic
 * "Obj" 1, then the metadata map whose "avro.schema" entry holds it: Avro
 * 1.11 specification, "Object Container Files"), into b. Read here, since
 * libavro's parsed schema drops logical types. Returns 0, or -1 with why. */
static int avro_header_schema(const char *path, struct buf *b, const char **why)
{
	FILE *fp = fopen(path, "rb");
	char magic[4];
	int64_t count, len;
	int found = 0;

	buf_reset(b);
	*why = "not an Avro object container file: no \"Obj\" 1 magic at byte 0";
	if (fp == NULL) {
		*why = strerror(errno);
		return -1;
	}
	if (fread(magic, 1, 4, fp) != 4 || memcmp(magic, "Obj\1", 4) != 0)
		goto out;
	*why = "the header's metadata is truncated";
	while (avro_long(fp, &count) == 0 && count != 0) {
		if (count < 0 && (count = -count, avro_long(fp, &len) < 0))
			break;
		for (; count > 0; count--) {
			char key[64];
			int64_t klen, vlen;

			if (avro_long(fp, &klen) < 0 || klen < 0 || klen > (1 << 20))
				goto out;
			if (klen < (int64_t)sizeof(key)) {
				if (fread(key, 1, (size_t)klen, fp) != (size_t)klen)
					goto out;
				key[klen] = 0;
			} else {
				key[0] = 0;
				if (fseek(fp, (long)klen, SEEK_CUR) < 0)
					goto out;
			}
			if (avro_long(fp, &vlen) < 0 || vlen < 0 || vlen > (16 << 20))
				goto out;
			if (strcmp(key, "avro.schema") == 0) {
				buf_reserve(b, (size_t)vlen);
				if (fread(b->p, 1, (size_t)vlen, fp) != (size_t)vlen)
					goto out;
				b->len = (size_t)vlen;
				found = 1;
			} else if (fseek(fp, (long)vlen, SEEK_CUR) < 0) {
				goto out;
			}
		}
	}
	*why = found ? NULL : "the header has no avro.schema";
out:
	fclose(fp);
	return *why == NULL ? 0 : -1;
}

/* A schema frame {"format":"avro","schema":SCHEMA} for rtai-parse --format
 * avro (rtai-record(5)), unless the last one had the same schema. */
static int avro_schema_frame(const char *path, const struct buf *schema)
{
	json_error_t jerr;
	json_t *root;

	if (avro_schema.len == schema->len && memcmp(avro_schema.p, schema->p, schema->len) == 0)
		return 0;
	root = json_loadb((const char *)schema->p, schema->len, 0, &jerr);
	if (root == NULL) {
		cli_warn("%s: the header's writer schema is not JSON: %s", path, jerr.text);
		return -1;
	}
	json_decref(root);
	buf_reset(&avro_schema);
	buf_append(&avro_schema, schema->p, schema->len);
	buf_reset(&avro_frame);
	buf_puts(&avro_frame, "{\"format\":\"avro\",\"schema\":");
	buf_append(&avro_frame, schema->p, schema->len);
	buf_putc(&avro_frame, '}');
	wr_put(&out, RTAI_K_SCHEMA, RTAI_E_JSON, 0, cli_now_ns(), RTAI_TIME_UNSET,
	       avro_frame.p, avro_frame.len);
	return 0;
}

/* One Avro object container file: its schema frame, then each datum
 * re-encoded as plain Avro binary in a data frame. The value and the
 * memory writer are reused from datum to datum. Returns 0, or -1 after a
 * message. */
static int avro_one(const char *path)
{
	static struct buf schema;
	avro_file_reader_t fr;
	avro_schema_t ws;
	avro_value_iface_t *iface;
	avro_writer_t aw;
	avro_value_t v;
	const char *why;
	uint64_t datum = 0;
	int rc = EOF, ret = 0;	/* EOF until a datum is read */

	if (avro_header_schema(path, &schema, &why) < 0) {
		cli_warn("%s: %s", path, why);
		return -1;
	}
	if (avro_file_reader(path, &fr) != 0) {
		cli_warn("%s: libavro cannot open it: %s", path, avro_strerror());
		return -1;
	}
	if (avro_schema_frame(path, &schema) < 0) {
		avro_file_reader_close(fr);
		return -1;
	}
	/* libavro hands out a new reference to the writer schema: ours to drop. */
	ws = avro_file_reader_get_writer_schema(fr);
	iface = avro_generic_class_from_schema(ws);
	if (iface == NULL || avro_generic_value_new(iface, &v) != 0) {
		cli_warn("%s: libavro: %s", path, avro_strerror());
		if (iface != NULL)
			avro_value_iface_decref(iface);
		avro_schema_decref(ws);
		avro_file_reader_close(fr);
		return -1;
	}
	buf_reserve(&avro_out, 4096);
	aw = avro_writer_memory((const char *)avro_out.p, avro_out.cap);
	while (!sig_stop && (rc = avro_file_reader_read_value(fr, &v)) == 0) {
		size_t n;
		struct frame f;

		datum++;
		if (avro_value_sizeof(&v, &n) != 0) {
			cli_warn("%s: datum %llu: libavro: %s", path, (unsigned long long)datum,
				  avro_strerror());
			ret = -1;
			break;
		}
		if (n > avro_out.cap) {
			buf_reserve(&avro_out, n);
			avro_writer_memory_set_dest(aw, (const char *)avro_out.p, avro_out.cap);
		}
		avro_writer_reset(aw);
		if (avro_value_write(aw, &v) != 0) {
			cli_warn("%s: datum %llu: libavro: %s", path, (unsigned long long)datum,
				  avro_strerror());
			ret = -1;
			break;
		}
		f = (struct frame){ .kind = RTAI_K_DATA, .enc = RTAI_E_RAW,
					 .event_ns = RTAI_TIME_UNSET,
					 .payload = avro_out.p, .len = (uint32_t)n };
		maybe_marker();
		f.ingest_ns = pace_record(RTAI_TIME_UNSET);
		wr_frame(&out, &f);
		prog.records++;
		if (opt.progress)
			progress_draw(0);
	}
	if (ret == 0 && !sig_stop && rc != EOF) {
		cli_warn("%s: datum %llu: not a valid Avro datum or block: %s", path,
			  (unsigned long long)datum + 1, avro_strerror());
		ret = -1;
	}
	avro_writer_free(aw);
	avro_value_decref(&v);
	avro_value_iface_decref(iface);
	avro_schema_decref(ws);
	avro_file_reader_close(fr);
	return ret;
}

static void avro_done(void)
{
	buf_free(&avro_schema);
	buf_free(&avro_out);
	buf_free(&avro_frame);
}
#endif

/* One input, as --format says. */
static int cat_input(const char *path)
{
#ifdef HAVE_AVRO
	if (opt.format == FMT_AVRO)
		return avro_one(path);
#endif
	return cat_one(path);
}

static uint64_t input_size(char **files, int n)
{
	uint64_t total = 0;
	struct stat st;

	for (int i = 0; i < n; i++) {
		if (strcmp(files[i], "-") == 0 || stat(files[i], &st) < 0 || !S_ISREG(st.st_mode))
			return 0;
		total += (uint64_t)st.st_size;
	}
	return total;
}

int main(int argc, char **argv)
{
	static char *stdin_only[] = { "-", NULL };
	const char *max_frame = NULL;
	char **files;
	int c, nfiles;

	cli_init("rtai-cat", argv);
	while ((c = getopt_long(argc, argv, "o:zphv", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': opt.out = optarg; break;
		case 'v': opt.verbose = 1; break;
		case 'z': opt.zstd = 1; break;
		case 'p': opt.print = 1; break;
		case OPT_META: opt.meta = 1; break;
		case OPT_REPLAY:
			if (optarg == NULL || strcmp(optarg, "event") == 0)
				opt.replay = REPLAY_EVENT;
			else if (strcmp(optarg, "ingest") == 0)
				opt.replay = REPLAY_INGEST;
			else
				cli_usage_error("--replay: '%s': expected event or ingest", optarg);
			break;
		case OPT_SPEED: opt.speed = cli_opt_double("--speed", optarg, 1e-6, 1e9); break;
		case OPT_RATE: opt.rate = cli_opt_double("--rate", optarg, 1e-6, 1e9); break;
		case OPT_LOOP: opt.loop = cli_opt_int("--loop", optarg, 0, INT32_MAX); break;
		case OPT_KEEP_TIME: opt.keep_time = 1; break;
		case OPT_PROGRESS: opt.progress = 1; break;
		case OPT_MARKER:
			opt.marker_every = cli_opt_duration("--marker-interval", optarg);
			break;
		case OPT_MAX_FRAME: max_frame = optarg; break;
		case OPT_FORMAT:
			if (strcmp(optarg, "lines") == 0 || strcmp(optarg, "text") == 0)
				opt.format = FMT_LINES;
			else if (strcmp(optarg, "csv") == 0)
				opt.format = FMT_CSV;
			else if (strcmp(optarg, "tsv") == 0)
				opt.format = FMT_TSV;
			else if (strcmp(optarg, "avro") == 0)
				opt.format = FMT_AVRO;
			else
				cli_usage_error("--format: '%s': expected lines, csv, tsv or avro", optarg);
#ifndef HAVE_AVRO
			if (opt.format == FMT_AVRO)
				cli_die(RTAI_EXIT_USAGE, "--format avro: this rtai-cat was built without "
					 "libavro (configure found no avro.h); install libavro-dev and rebuild");
#endif
			break;
		case OPT_NO_HEADER: opt.no_header = 1; break;
		case OPT_CKPT_DIR: opt.ckpt_dir = optarg; break;
		case OPT_CKPT_INTERVAL:
			opt.ckpt_every = cli_opt_duration("--checkpoint-interval", optarg);
			if (opt.ckpt_every <= 0)
				cli_usage_error("--checkpoint-interval: '%s': expected a duration "
						 "above 0", optarg);
			break;
		case 'h': usage(RTAI_EXIT_OK); break;
		case OPT_VERSION: cli_version(); break;
		default: cli_usage_hint();
		}
	}
	argc -= optind;
	argv += optind;
	rd_set_max_frame(max_frame);
	rec_set_max_fields(NULL);
	if (opt.meta && !opt.print)
		cli_usage_error("--meta needs -p");
	if (opt.no_header && (opt.format == FMT_LINES || opt.format == FMT_AVRO))
		cli_usage_error("--no-header needs --format csv or tsv");
	if (opt.format == FMT_AVRO && opt.print)
		cli_usage_error("-p and --format avro: decode first, as in "
				 "rtai-cat --format avro FILE | rtai-parse --format avro | rtai-cat -p");
	files = argc > 0 ? argv : stdin_only;
	nfiles = argc > 0 ? argc : 1;
	if (opt.format == FMT_AVRO)
		for (int i = 0; i < nfiles; i++)
			if (strcmp(files[i], "-") == 0)
				cli_usage_error("--format avro reads files: an Avro container file's "
						 "reader needs a FILE name, not standard input");
	if (opt.loop != 1)
		for (int i = 0; i < nfiles; i++)
			if (strcmp(files[i], "-") == 0)
				cli_usage_error("--loop needs files: standard input can be read only once");

	sig_catch_stop();
	sig_from_operands(argc, argv);
	cp_start(files, nfiles);
	if (opt.out != NULL) {
		size_t n = strlen(opt.out);
		int z = opt.zstd || (n > 4 && strcmp(opt.out + n - 4, ".zst") == 0);

		wr_open_path(&out, opt.out, z, opt.print);
	} else {
		if (opt.zstd && isatty(1))
			cli_usage_error("refusing to write compressed data to a terminal");
		wr_open_fd(&out, 1, "stdout", opt.print && !opt.zstd);
		if (opt.zstd)
			wr_set_zstd(&out);
	}
	if (cp.resumed > 0)
		wr_resume(&out, cp.resumed, ckpt_dir_id(cp.c), cli_now_ns());	/* first: the stages resumed check it */
	prog.total_in = input_size(files, nfiles);
	prog.start = cli_mono_ns();
	next_marker = prog.start;

	for (long long pass = 0; opt.loop == 0 || pass < opt.loop; pass++) {
		for (int i = 0; i < nfiles && !sig_stop; i++)
			if (cp.cur = i, cat_input(files[i]) < 0)
				status = RTAI_EXIT_FAIL;
		if (sig_stop || status != RTAI_EXIT_OK)
			break;
		if (ev_max >= ev_min && !opt.keep_time)
			shift += ev_max - ev_min + 1;
		if (opt.replay != REPLAY_NONE)
			pace.base_rec = RTAI_TIME_UNSET, pace.started = 0;
	}
	if (cp.c != NULL && sig_savepoint)
		cp_take(1);	/* SIGTERM: stop with a savepoint, then end the stream */
	if (barrier_wait(cp.c) < 0)	/* the last snapshot in place */
		cp.failed = 1;
	if (cp.failed && status == RTAI_EXIT_OK)
		status = RTAI_EXIT_FAIL;
	if (opt.progress)
		progress_draw(1);
	if (rd_cut_seen)	/* and wr_close() writes no end-of-stream frame */
		status = RTAI_EXIT_CUT;
	wr_close(&out);
	rec_free(&rec);
	rec_free(&mrec);
	buf_free(&line);
	buf_free(&hdr);
	cp_done();
#ifdef HAVE_AVRO
	avro_done();
#endif
	return status;
}
