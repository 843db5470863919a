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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef HAVE_AVRO
#include <avro.h>
#include <jansson.h>
#endif

#include "buf.h"
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
} opt = {
	.speed = 1.0,
	.loop = 1,
};

enum {
	OPT_META = 256, OPT_REPLAY, OPT_SPEED, OPT_RATE, OPT_LOOP,
	OPT_KEEP_TIME, OPT_PROGRESS, OPT_MARKER, OPT_MAX_FRAME, OPT_VERSION,
	OPT_FORMAT, OPT_NO_HEADER,
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

static struct rtai_wr out;		/* stdout or the capture */
static struct rtai_rec rec;		/* for -p of typed records */
static struct rtai_rec mrec;		/* -p --meta: source metadata */
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
	int64_t start, last_draw;
} prog;

static int64_t shift;			/* --loop: added to event times */
static int64_t ev_min = INT64_MAX, ev_max = INT64_MIN;	/* span of one pass */
static int64_t next_marker;		/* mono time of the next marker */
static int warned_unpaced;		/* --replay met a record without event time */

/* ---- pacing ------------------------------------------------------------ */

/* Waits until a record with recorded time t (or none) is due; returns the
 * wall-clock time it was scheduled for, which becomes its ingest time, so a
 * stalled pipeline shows up as latency (coordinated omission). */
static int64_t pace_record(int64_t t)
{
	int64_t due = 0;

	if (opt.replay == REPLAY_NONE && opt.rate <= 0)
		return rtai_now_ns();
	if (!pace.started) {
		pace.started = 1;
		pace.start_mono = rtai_mono_ns();
		pace.start_wall = rtai_now_ns();
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
	if (due > rtai_mono_ns()) {
		wr_flush(&out);
		rtai_sleep_until_mono(due);
	}
	if (opt.rate > 0)
		pace.next_mono = (due > pace.next_mono ? due : pace.next_mono) +
				 (int64_t)(1e9 / opt.rate);
	if (due == 0)
		return rtai_now_ns();
	return pace.start_wall + (due - pace.start_mono);
}

/* ---- progress ---------------------------------------------------------- */

static void progress_draw(int final)
{
	int64_t now = rtai_mono_ns(), el = now - prog.start;
	double secs = el / 1e9, rate = secs > 0 ? prog.records / secs : 0;
	char d[RTAI_TIME_BUFSZ];

	if (!final && now - prog.last_draw < 200000000)
		return;
	prog.last_draw = now;
	rtai_fmt_duration(el, d);
	fprintf(stderr, "\r%s: %llu records  %.1f MiB  %.0f rec/s  %.1f MiB/s  %s",
		rtai_progname, (unsigned long long)prog.records, prog.bytes_in / 1048576.0,
		rate, secs > 0 ? prog.bytes_in / 1048576.0 / secs : 0.0, d);
	if (prog.total_in > 0 && prog.bytes_in <= prog.total_in) {
		double frac = (double)prog.bytes_in / prog.total_in;

		fprintf(stderr, "  %3.0f%%", frac * 100);
		if (frac > 0 && !final)
			fprintf(stderr, "  ETA %.0fs", secs / frac - secs);
	}
	fputs(final ? "\n" : "\033[K", stderr);
}

/* ---- output ------------------------------------------------------------ */

static void print_meta_prefix(struct buf *b, const struct rtai_frame *f)
{
	char t[RTAI_TIME_BUFSZ];

	buf_puts(b, "\"_ingest_time\":\"");
	buf_append(b, t, rtai_fmt_time(f->ingest_ns, t));
	buf_puts(b, "\",\"_event_time\":");
	if (f->event_ns == RTAI_TIME_UNSET) {
		buf_puts(b, "null");
	} else {
		buf_putc(b, '"');
		buf_append(b, t, rtai_fmt_time(f->event_ns, t));
		buf_putc(b, '"');
	}
}

/* -p --meta: the source metadata of f as "_NAME" members, each after a
 * comma (rtai-record(5); named as kcat -J names them). Returns -1 when it
 * cannot be decoded. */
static int print_source_meta(struct buf *b, const struct rtai_frame *f)
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
	buf_append(b, ts, rtai_fmt_time(t, ts));
	buf_puts(b, "\"},");
}

/* -p --meta: what a control frame carries, as members after a comma: a
 * schema's JSON ("_schema"), a barrier's record ("_barrier"). Warns and
 * returns -1 when it is malformed. */
static int print_control(struct buf *b, const struct rtai_frame *f, const char *name)
{
	const char *why;

	if (f->kind == RTAI_K_SCHEMA) {
		if (f->enc != RTAI_E_JSON || rtai_json_check((const char *)f->payload, f->len, &why) < 0) {
			rtai_warn("%s: byte %llu: schema frame: expected JSON text, got %s", name,
				  (unsigned long long)f->offset,
				  f->enc != RTAI_E_JSON ? "another encoding" : why);
			return -1;
		}
		buf_puts(b, ",\"_schema\":");
		buf_append(b, f->payload, f->len);
	} else if (f->kind == RTAI_K_BARRIER && f->enc == RTAI_E_REC) {
		if (rec_decode(&rec, f->payload, f->len) < 0) {
			rtai_warn("%s: byte %llu: barrier: %s", name, (unsigned long long)f->offset,
				  rec.err);
			return -1;
		}
		buf_puts(b, ",\"_barrier\":");
		rec_to_json(&rec, b);
	}
	return 0;
}

/* -p: one line per frame; warns and returns -1 for an unreadable record. */
static int print_frame(const struct rtai_frame *f, const char *name, uint64_t recno)
{
	buf_reset(&line);
	if (f->kind != RTAI_K_DATA) {
		if (!opt.meta)
			return 0;
		buf_puts(&line, "{\"_kind\":");
		json_put_str(&line, rtai_kind_name(f->kind), strlen(rtai_kind_name(f->kind)));
		if (strcmp(rtai_kind_name(f->kind), "unknown") == 0)
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
			rtai_warn("%s: record %llu: %s", name, (unsigned long long)recno, rec.err);
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
	rtai_warn("%s: record %llu: source metadata: %s", name, (unsigned long long)recno,
		  mrec.err);
	return -1;
}

static void maybe_marker(void)
{
	int64_t now;

	if (opt.marker_every <= 0 || opt.print)
		return;
	now = rtai_mono_ns();
	if (now < next_marker)
		return;
	next_marker = now + opt.marker_every;
	{
		struct rtai_frame m = { .kind = RTAI_K_MARKER, .enc = RTAI_E_NONE,
					.ingest_ns = rtai_now_ns(),
					.event_ns = RTAI_TIME_UNSET };

		wr_marker(&out, &m, "rtai-cat");
	}
}

/* Sends one frame on, re-stamped and paced as the options say. */
static int emit(struct rtai_frame *f, const char *name, uint64_t recno)
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
		rtai_warn("%s: record %llu has no event time: --replay cannot pace it and "
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
	wr_put(&out, RTAI_K_SCHEMA, RTAI_E_JSON, 0, rtai_now_ns(), RTAI_TIME_UNSET, b->p, b->len);
}

/* Copies one input to the output. Returns 0, or -1 after a message. */
static int cat_one(const char *path)
{
	struct rtai_rd rd;
	struct rtai_frame f;
	uint64_t before;
	int st, ret = 0;

	if (rd_open(&rd, path) < 0) {
		rtai_warn("%s", rd.err);
		return -1;
	}
	st = rd_is_stream(&rd);
	if (st < 0) {
		rtai_warn("%s", rd.err);
		ret = -1;
	} else if (st == 1) {
		while (before = rd.pos, (st = rd_frame(&rd, &f)) > 0) {
			if (emit(&f, rd.name, rd.nrec) < 0)
				ret = -1;
			prog.records += f.kind == RTAI_K_DATA;
			prog.bytes_in += rd.pos - before;
			if (opt.progress)
				progress_draw(0);
		}
		if (st < 0) {
			rtai_warn("%s", rd.err);
			ret = -1;
		}
	} else {
		const uint8_t *p;
		size_t n;
		uint64_t row = 0;

		rd_set_csv(&rd, opt.format == FMT_CSV);
		if (opt.replay != REPLAY_NONE && !opt.print && !warned_unpaced) {
			rtai_warn("%s: text has no recorded times: --replay cannot pace it and "
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
					continue;
				}
			}
			f = (struct rtai_frame){ .kind = RTAI_K_DATA, .enc = RTAI_E_RAW,
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
		}
		if (st < 0) {
			rtai_warn("%s", rd.err);
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
		rtai_warn("%s: the header's writer schema is not JSON: %s", path, jerr.text);
		return -1;
	}
	json_decref(root);
	buf_reset(&avro_schema);
	buf_append(&avro_schema, schema->p, schema->len);
	buf_reset(&avro_frame);
	buf_puts(&avro_frame, "{\"format\":\"avro\",\"schema\":");
	buf_append(&avro_frame, schema->p, schema->len);
	buf_putc(&avro_frame, '}');
	wr_put(&out, RTAI_K_SCHEMA, RTAI_E_JSON, 0, rtai_now_ns(), RTAI_TIME_UNSET,
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
	int rc, ret = 0;

	if (avro_header_schema(path, &schema, &why) < 0) {
		rtai_warn("%s: %s", path, why);
		return -1;
	}
	if (avro_file_reader(path, &fr) != 0) {
		rtai_warn("%s: libavro cannot open it: %s", path, avro_strerror());
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
		rtai_warn("%s: libavro: %s", path, avro_strerror());
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
		struct rtai_frame f;

		datum++;
		if (avro_value_sizeof(&v, &n) != 0) {
			rtai_warn("%s: datum %llu: libavro: %s", path, (unsigned long long)datum,
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
			rtai_warn("%s: datum %llu: libavro: %s", path, (unsigned long long)datum,
				  avro_strerror());
			ret = -1;
			break;
		}
		f = (struct rtai_frame){ .kind = RTAI_K_DATA, .enc = RTAI_E_RAW,
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
		rtai_warn("%s: datum %llu: not a valid Avro datum or block: %s", path,
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

	rtai_init("rtai-cat", argv);
	while ((c = getopt_long(argc, argv, "o:zph", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': opt.out = optarg; break;
		case 'z': opt.zstd = 1; break;
		case 'p': opt.print = 1; break;
		case OPT_META: opt.meta = 1; break;
		case OPT_REPLAY:
			if (optarg == NULL || strcmp(optarg, "event") == 0)
				opt.replay = REPLAY_EVENT;
			else if (strcmp(optarg, "ingest") == 0)
				opt.replay = REPLAY_INGEST;
			else
				rtai_usage_error("--replay: '%s': expected event or ingest", optarg);
			break;
		case OPT_SPEED: opt.speed = rtai_opt_double("--speed", optarg, 1e-6, 1e9); break;
		case OPT_RATE: opt.rate = rtai_opt_double("--rate", optarg, 1e-6, 1e9); break;
		case OPT_LOOP: opt.loop = rtai_opt_int("--loop", optarg, 0, INT32_MAX); break;
		case OPT_KEEP_TIME: opt.keep_time = 1; break;
		case OPT_PROGRESS: opt.progress = 1; break;
		case OPT_MARKER:
			opt.marker_every = rtai_opt_duration("--marker-interval", optarg);
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
				rtai_usage_error("--format: '%s': expected lines, csv, tsv or avro", optarg);
#ifndef HAVE_AVRO
			if (opt.format == FMT_AVRO)
				rtai_die(RTAI_EXIT_USAGE, "--format avro: this rtai-cat was built without "
					 "libavro (configure found no avro.h); install libavro-dev and rebuild");
#endif
			break;
		case OPT_NO_HEADER: opt.no_header = 1; break;
		case 'h': usage(RTAI_EXIT_OK); break;
		case OPT_VERSION: rtai_version(); break;
		default: rtai_usage_hint();
		}
	}
	argc -= optind;
	argv += optind;
	rtai_set_max_frame(max_frame);
	rec_set_max_fields(NULL);
	if (opt.meta && !opt.print)
		rtai_usage_error("--meta needs -p");
	if (opt.no_header && (opt.format == FMT_LINES || opt.format == FMT_AVRO))
		rtai_usage_error("--no-header needs --format csv or tsv");
	if (opt.format == FMT_AVRO && opt.print)
		rtai_usage_error("-p and --format avro: decode first, as in "
				 "rtai-cat --format avro FILE | rtai-parse --format avro | rtai-cat -p");
	files = argc > 0 ? argv : stdin_only;
	nfiles = argc > 0 ? argc : 1;
	if (opt.format == FMT_AVRO)
		for (int i = 0; i < nfiles; i++)
			if (strcmp(files[i], "-") == 0)
				rtai_usage_error("--format avro reads files: an Avro container file's "
						 "reader needs a FILE name, not standard input");
	if (opt.loop != 1)
		for (int i = 0; i < nfiles; i++)
			if (strcmp(files[i], "-") == 0)
				rtai_usage_error("--loop needs files: standard input can be read only once");

	sig_catch_stop();
	sig_from_operands(argc, argv);
	if (opt.out != NULL) {
		size_t n = strlen(opt.out);
		int z = opt.zstd || (n > 4 && strcmp(opt.out + n - 4, ".zst") == 0);

		wr_open_path(&out, opt.out, z, opt.print);
	} else {
		if (opt.zstd && isatty(1))
			rtai_usage_error("refusing to write compressed data to a terminal");
		wr_open_fd(&out, 1, "stdout", opt.print && !opt.zstd);
		if (opt.zstd)
			wr_set_zstd(&out);
	}
	rtai_on_block(wr_flush_cb, &out);
	prog.total_in = input_size(files, nfiles);
	prog.start = rtai_mono_ns();
	next_marker = prog.start;

	for (long long pass = 0; opt.loop == 0 || pass < opt.loop; pass++) {
		for (int i = 0; i < nfiles && !sig_stop; i++)
			if (cat_input(files[i]) < 0)
				status = RTAI_EXIT_FAIL;
		if (sig_stop || status != RTAI_EXIT_OK)
			break;
		if (ev_max >= ev_min && !opt.keep_time)
			shift += ev_max - ev_min + 1;
		if (opt.replay != REPLAY_NONE)
			pace.base_rec = RTAI_TIME_UNSET, pace.started = 0;
	}
	if (opt.progress)
		progress_draw(1);
	if (rd_cut_seen)	/* and wr_close() writes no end-of-stream frame */
		status = RTAI_EXIT_CUT;
	wr_close(&out);
	rec_free(&rec);
	rec_free(&mrec);
	buf_free(&line);
	buf_free(&hdr);
#ifdef HAVE_AVRO
	avro_done();
#endif
	return status;
}
