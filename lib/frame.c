/* frame.c - reading and writing rtai record streams. */
#include "config.h"
#include "frame.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "cli.h"
#include "outfile.h"
#include "rec.h"
#include "rtime.h"
#include "sig.h"

uint32_t rd_max_frame = RTAI_MAX_FRAME_DEFAULT;
int rd_cut_seen;
int64_t rd_resumed;
char rd_resumed_dir[48];
int rd_keeps_state;
void rd_set_max_frame(const char *opt_value)
{
	const char *env = getenv("RTAI_MAX_FRAME");

	if (env != NULL && *env != '\0')
		rd_max_frame = (uint32_t)cli_opt_int("RTAI_MAX_FRAME", env, 64,
							 RTAI_MAX_FRAME_HARD);
	if (opt_value != NULL)
		rd_max_frame = (uint32_t)cli_opt_int("--max-frame", opt_value, 64,
							 RTAI_MAX_FRAME_HARD);
}

static inline uint32_t ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t ld64(const uint8_t *p)
{
	return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32;
}

static inline void st32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static inline void st64(uint8_t *p, uint64_t v)
{
	st32(p, (uint32_t)v);
	st32(p + 4, (uint32_t)(v >> 32));
}

const char *frame_kind_name(int kind)
{
	switch (kind) {
	case RTAI_K_DATA: return "data";
	case RTAI_K_WATERMARK: return "watermark";
	case RTAI_K_BARRIER: return "barrier";
	case RTAI_K_MARKER: return "marker";
	case RTAI_K_EOS: return "eos";
	case RTAI_K_SCHEMA: return "schema";
	case RTAI_K_REVOKE: return "revoke";
	case RTAI_K_ASSIGN: return "assign";
	case RTAI_K_RESUME: return "resume";
	default: return "unknown";
	}
}

/* ---- reading ------------------------------------------------------- */

static int rd_error(struct frame_rd *r, uint64_t at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int rd_error(struct frame_rd *r, uint64_t at, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(r->err, sizeof(r->err), "%s: byte %llu: ", r->name,
		     (unsigned long long)at);
	if (n < 0 || (size_t)n >= sizeof(r->err))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(r->err + n, sizeof(r->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

void rd_open_fd(struct frame_rd *r, int fd, const char *name)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->name = xstrdup(name);
	r->cap = 256 << 10;
	r->buf = xmalloc(r->cap);
}

int rd_open(struct frame_rd *r, const char *path)
{
	int fd;

	if (path == NULL || strcmp(path, "-") == 0) {
		rd_open_fd(r, 0, "stdin");
		return 0;
	}
	/* Opening a FIFO waits for its writer: a signal that does not stop
	 * the tool (SIGHUP, SIGUSR1) only interrupts the wait. */
	do
		fd = open(path, O_RDONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR && !sig_stop);
	if (fd < 0) {
		memset(r, 0, sizeof(*r));
		r->fd = -1;
		snprintf(r->err, sizeof(r->err), "%s: %s", path, strerror(errno));
		return -1;
	}
	rd_open_fd(r, fd, path);
	return 0;
}

void rd_close(struct frame_rd *r)
{
	if (r == NULL)
		return;
	if (r->fd > 0)
		close(r->fd);
	r->fd = -1;
	ZSTD_freeDStream(r->zstd);
	free(r->buf);
	free(r->zin);
	free(r->name);
	r->zstd = NULL;
	r->buf = r->zin = NULL;
	r->name = NULL;
}

int rd_seek(struct frame_rd *r, uint64_t pos)
{
	const uint8_t *p = r->buf + r->off;
	struct stat st;

	if (r->zstd != NULL) {
		errno = EINVAL;
		return -1;
	}
	if (fstat(r->fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = ESPIPE;
		return -1;
	}
	if ((uint64_t)st.st_size < pos)
		return -2;
	if (lseek(r->fd, (off_t)pos, SEEK_SET) < 0)
		return -1;
	if (r->pos == 0 && r->len - r->off >= RTAI_HEADER_LEN && memcmp(p, RTAI_MAGIC, 4) == 0 &&
	    p[4] >= RTAI_VERSION_MIN && p[4] <= RTAI_VERSION) {
		r->version = p[4];
		r->promised = p[4] >= 2 && (p[5] & RTAI_H_EOS);
	}
	r->off = r->len = 0;
	r->pos = pos;
	r->eof = 0;
	r->at_eos = 0;
	return 0;
}

/* One read() of raw bytes into dst, calling the reader's on_block
 * function first (rd_on_block()) when the read would block. */
static ssize_t raw_read(struct frame_rd *r, uint8_t *dst, size_t n)
{
	ssize_t got;

	if (r->on_block != NULL) {
		struct pollfd pfd = { .fd = r->fd, .events = POLLIN };

		if (poll(&pfd, 1, 0) == 0)
			r->on_block(r->on_block_arg);
	}
	for (;;) {
		if (sig_stop)
			return 0;
		got = read(r->fd, dst, n);
		if (got >= 0 || errno != EINTR)
			return got;
	}
}

/* Makes room for at least want more bytes after buf[len]. */
static void rd_room(struct frame_rd *r, size_t want)
{
	if (r->cap - r->len >= want)
		return;
	if (r->off > 0) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	if (r->cap - r->len < want) {
		while (r->cap - r->len < want)
			r->cap *= 2;
		r->buf = xrealloc(r->buf, r->cap);
	}
}

static ssize_t zstd_fill(struct frame_rd *r)
{
	for (;;) {
		ZSTD_inBuffer in = { r->zin, r->zlen, r->zoff };
		ZSTD_outBuffer out = { r->buf + r->len, r->cap - r->len, 0 };
		size_t ret;
		ssize_t got;

		if (r->zoff < r->zlen) {
			ret = ZSTD_decompressStream(r->zstd, &out, &in);
			r->zoff = in.pos;
			if (ZSTD_isError(ret)) {
				rd_error(r, r->pos + (r->len - r->off), "zstd: %s",
					 ZSTD_getErrorName(ret));
				return -1;
			}
			r->zdone = ret == 0;
			if (out.pos > 0) {
				r->len += out.pos;
				return (ssize_t)out.pos;
			}
			if (r->zoff < r->zlen)
				continue;
		}
		if (r->eof)
			return 0;
		r->zoff = r->zlen = 0;
		got = raw_read(r, r->zin, r->zcap);
		if (got < 0) {
			rd_error(r, r->pos + (r->len - r->off), "read: %s", strerror(errno));
			return -1;
		}
		if (got == 0) {
			r->eof = 1;
			/* A cut version 2 stream: its whole frames are read,
			 * then rd_end() reports the cut. */
			if (!r->zdone && !sig_stop && !r->promised) {
				rd_error(r, r->pos + (r->len - r->off),
					 "truncated zstd input");
				return -1;
			}
			return 0;
		}
		r->zlen = (size_t)got;
	}
}

/* Looks at the first bytes once: a zstd frame switches to decompression. */
static int rd_start(struct frame_rd *r)
{
	static const uint8_t zmagic[4] = { 0x28, 0xb5, 0x2f, 0xfd };

	r->started = 1;
	while (r->len < 4 && !r->eof) {
		ssize_t got = raw_read(r, r->buf + r->len, r->cap - r->len);

		if (got < 0)
			return rd_error(r, 0, "read: %s", strerror(errno));
		if (got == 0)
			r->eof = 1;
		r->len += (size_t)got;
	}
	if (r->len >= 4 && memcmp(r->buf, zmagic, 4) == 0) {
		r->zcap = 128 << 10;
		r->zin = xmalloc(r->zcap > r->len ? r->zcap : r->len);
		if (r->len > r->zcap)
			r->zcap = r->len;
		memcpy(r->zin, r->buf, r->len);
		r->zlen = r->len;
		r->zoff = 0;
		r->len = 0;
		r->zstd = ZSTD_createDStream();
		if (r->zstd == NULL)
			cli_die(RTAI_EXIT_FAIL, "out of memory (zstd)");
		ZSTD_initDStream(r->zstd);
		if (zstd_fill(r) < 0)
			return -1;
	}
	return 0;
}

ssize_t rd_fill(struct frame_rd *r)
{
	ssize_t got;

	if (!r->started)
		return rd_start(r) < 0 ? -1 : (ssize_t)(r->len - r->off);
	rd_room(r, 64 << 10);
	if (r->zstd != NULL)
		return zstd_fill(r);
	if (r->eof)
		return 0;
	got = raw_read(r, r->buf + r->len, r->cap - r->len);
	if (got < 0)
		return rd_error(r, r->pos + (r->len - r->off), "read: %s", strerror(errno));
	if (got == 0)
		r->eof = 1;
	r->len += (size_t)got;
	return got;
}

/* Ensures n bytes are buffered. Returns 1, 0 when the input ends first, -1. */
static int rd_need(struct frame_rd *r, size_t n)
{
	while (r->len - r->off < n) {
		ssize_t got;

		rd_room(r, n - (r->len - r->off));
		got = rd_fill(r);
		if (got < 0)
			return -1;
		if (got == 0 && (r->eof || r->zstd != NULL) && r->len - r->off < n)
			return 0;
	}
	return 1;
}

int rd_is_stream(struct frame_rd *r)
{
	if (!r->started && rd_start(r) < 0)
		return -1;
	if (rd_need(r, 4) < 0)
		return -1;
	if (r->len - r->off == 0)
		return 1;
	return r->len - r->off >= 4 && memcmp(r->buf + r->off, RTAI_MAGIC, 4) == 0;
}

int rd_is_stream_buffered(const struct frame_rd *r)
{
	size_t avail = r->len - r->off;

	if (avail < 4)
		return r->eof && (r->zstd == NULL || r->zoff >= r->zlen) ? avail == 0 : 2;
	return memcmp(r->buf + r->off, RTAI_MAGIC, 4) == 0;
}

/* A resume frame (kind 9, wr_resume): its checkpoint goes to r->resume,
 * and whether it names rd_resumed_dir to r->resume_here. Returns 0, or -1
 * (rd_error) when the payload is not a binary record with an int
 * "checkpoint" >= 1. Rare (once a stream): the record's fields are
 * allocated and freed here. */
static int take_resume(struct frame_rd *r, const struct frame *f)
{
	struct rec rec = { 0 };
	const struct rec_field *id, *dir;
	int64_t v = 0;

	if (f->enc == RTAI_E_REC && rec_decode(&rec, f->payload, f->len) == 0 &&
	    (id = rec_getz(&rec, "checkpoint")) != NULL && id->v.type == RT_INT && id->v.i >= 1) {
		v = id->v.i;
		dir = rec_getz(&rec, "directory");
		r->resume_here = dir != NULL && dir->v.type == RT_STR &&
				 dir->v.s.n == strlen(rd_resumed_dir) &&
				 memcmp(dir->v.s.p, rd_resumed_dir, dir->v.s.n) == 0;
	}
	rec_free(&rec);
	if (v == 0)
		return rd_error(r, f->offset, "a resume frame (kind 9): expected a binary record with an int \"checkpoint\" >= 1");
	r->resume = v;
	return 0;
}

/* Whether standard input continues the checkpoint this stage resumed
 * from: a resume frame of it and of its directory came (frame.h). */
static int resume_ok(const struct frame_rd *r)
{
	return r->resume == rd_resumed && r->resume_here;
}

/* Frames that move a resumed stage's state: none may come before the
 * resume frame, as a source that resumed sends that first, and a stage
 * that resumed sends its own first (wr_put_meta). A schema, a latency
 * marker or an unknown kind may, and so may a watermark, which carries no
 * record: a window stage between them that takes no part in checkpoints
 * may advance one on its clock while idle (rtai-window --idle) before the
 * source's first frame reaches it (a resume that reads a zstd input up
 * to its position takes a while). */
static int moves_state(int kind)
{
	return kind == RTAI_K_DATA || kind == RTAI_K_BARRIER || kind == RTAI_K_REVOKE ||
	       kind == RTAI_K_ASSIGN;
}

/* A resumed stage's standard input does not continue its checkpoint (at
 * byte at: a frame before the resume frame, or the end): taken as cut,
 * so the stage publishes nothing as final and the cut travels on
 * (frame.h, rd_resumed). Returns -1. */
static int not_resumed(struct frame_rd *r, uint64_t at)
{
	r->cut = 1;
	rd_cut_seen = 1;
	if (r->version == 0 && at == 0)
		return rd_error(r, at, "the stream was cut before it began: this stage resumed from checkpoint %lld, and the stage before it wrote nothing (it failed at start: see its message)",
				(long long)rd_resumed);
	if (r->resume == 0)
		return rd_error(r, at, "taken as cut: this stage resumed from checkpoint %lld, and no source before it did (one failed at start: see its message; or one has no --checkpoint-dir)",
				(long long)rd_resumed);
	return rd_error(r, at, "taken as cut: this stage resumed from checkpoint %lld, but the source before it from checkpoint %lld of %s",
			(long long)rd_resumed, (long long)r->resume,
			r->resume_here ? "this directory (another pipeline's?)" : "another directory");
}

static int rd_parse(struct frame_rd *r, struct frame *f, size_t *need)
{
	for (;;) {
		size_t avail = r->len - r->off;
		const uint8_t *p = r->buf + r->off;
		uint32_t len;

		if (avail < 4) {
			*need = 4;
			return 2;
		}
		if (memcmp(p, RTAI_MAGIC, 4) == 0) {
			if (avail < RTAI_HEADER_LEN) {
				*need = RTAI_HEADER_LEN;
				return 2;
			}
			if (p[4] < RTAI_VERSION_MIN || p[4] > RTAI_VERSION)
				return rd_error(r, r->pos, "rtai stream version %u is not supported (this reader reads versions %u to %u)",
						p[4], RTAI_VERSION_MIN, RTAI_VERSION);
			r->version = p[4];
			r->promised = p[4] >= 2 && (p[5] & RTAI_H_EOS);
			r->at_eos = 0;
			r->off += RTAI_HEADER_LEN;
			r->pos += RTAI_HEADER_LEN;
			continue;
		}
		if (r->pos == 0) {
			snprintf(r->err, sizeof(r->err),
				 "%s is not an rtai stream; pipe text through rtai-cat first",
				 r->name);
			return -1;
		}
		len = ld32(p);
		if (len < RTAI_FRAME_FIXED)
			return rd_error(r, r->pos, "frame length %u is shorter than a frame header (%u)",
					len, RTAI_FRAME_FIXED);
		if (len > rd_max_frame)
			return rd_error(r, r->pos, "frame of %u bytes exceeds the limit of %u bytes (--max-frame)",
					len, rd_max_frame);
		if (avail < 4 + (size_t)len) {
			*need = 4 + (size_t)len;
			return 2;
		}
		f->kind = p[4];
		f->enc = p[5];
		f->flags = (uint16_t)(p[6] | p[7] << 8);
		f->ingest_ns = (int64_t)ld64(p + 8);
		f->event_ns = (f->flags & RTAI_F_EVENT) ? (int64_t)ld64(p + 16) : RTAI_TIME_UNSET;
		f->payload = p + 4 + RTAI_FRAME_FIXED;
		f->len = len - RTAI_FRAME_FIXED;
		f->meta = NULL;
		f->meta_len = 0;
		f->offset = r->pos;
		if (f->kind == 0)
			return rd_error(r, r->pos, "frame kind 0 is not valid (corrupt stream?)");
		if (f->flags & RTAI_F_META) {
			uint32_t mlen;

			if (f->len < 4)
				return rd_error(r, r->pos, "frame flag META: expected a 4-byte metadata length, found %u bytes",
						f->len);
			mlen = ld32(f->payload);
			if (mlen > f->len - 4)
				return rd_error(r, r->pos, "frame flag META: %u bytes of metadata exceed the %u bytes of the payload",
						mlen, f->len - 4);
			f->meta = f->payload + 4;
			f->meta_len = mlen;
			f->payload += 4 + mlen;
			f->len -= 4 + mlen;
		}
		if ((f->flags & RTAI_F_TOMBSTONE) && f->len > 0)
			return rd_error(r, r->pos, "frame flag TOMBSTONE: expected no value, found %u bytes",
					f->len);
		r->off += 4 + (size_t)len;
		r->pos += 4 + (size_t)len;
		r->at_eos = f->kind == RTAI_K_EOS;
		if (f->kind == RTAI_K_EOS)
			continue;
		if (f->kind == RTAI_K_RESUME && take_resume(r, f) < 0)
			return -1;
		if (f->kind == RTAI_K_RESUME && rd_keeps_state && rd_resumed == 0 && r->fd == 0)
			return rd_error(r, f->offset,
					"a resume frame of checkpoint %lld: the source resumed, but this stage did not "
					"(no --checkpoint-dir, or not the source's), so its results would lack every "
					"record before it; give it the source's --checkpoint-dir",
					(long long)r->resume);
		if (rd_resumed > 0 && r->fd == 0 && moves_state(f->kind) && !resume_ok(r))
			return not_resumed(r, f->offset);
		r->nframes++;
		if (f->kind == RTAI_K_DATA)
			r->nrec++;
		return 1;
	}
}

/* The input ended (need: bytes the next frame or header wanted, 0 when
 * none were buffered). Returns 0 for a normal end, -1 for a cut or a
 * truncated stream. */
static int rd_end(struct frame_rd *r, size_t need)
{
	size_t avail = r->len - r->off;

	if (sig_stop)
		return 0;
	if (r->promised && (avail > 0 || !r->at_eos)) {
		r->cut = 1;
		rd_cut_seen = 1;
		if (avail > 0)
			return rd_error(r, r->pos, "the stream was cut inside a frame (%zu of %zu bytes): its writer ended without an end-of-stream frame (a crashed or killed upstream stage?)",
					avail, need);
		return rd_error(r, r->pos, "the stream was cut: its writer ended without an end-of-stream frame (a crashed or killed upstream stage?)");
	}
	if (rd_resumed > 0 && r->fd == 0 && avail == 0 && !resume_ok(r))
		return not_resumed(r, r->pos);
	if (avail == 0)
		return 0;
	if (need <= RTAI_HEADER_LEN)
		return rd_error(r, r->pos, "truncated frame header (%zu bytes at end of input)",
				avail);
	return rd_error(r, r->pos, "truncated frame: %zu of %zu bytes before end of input",
			avail, need);
}

int rd_frame(struct frame_rd *r, struct frame *f)
{
	for (;;) {
		size_t need = 0;
		int st, got;

		if (!r->started && rd_start(r) < 0)
			return -1;
		st = rd_parse(r, f, &need);
		if (st != 2)
			return st;
		got = rd_need(r, need);
		if (got < 0)
			return -1;
		if (got == 0)
			return rd_end(r, need);
	}
}

int rd_frame_buffered(struct frame_rd *r, struct frame *f)
{
	size_t need = 0;
	int st;

	if (!r->started)
		return 2;
	st = rd_parse(r, f, &need);
	if (st != 2)
		return st;
	if (r->eof && (r->zstd == NULL || r->zoff >= r->zlen))
		return rd_end(r, need);
	rd_room(r, need - (r->len - r->off));
	return 2;
}

/* The end of a line in p[from..n): the first '\n', or with csv the first
 * outside double quotes, *inq saying whether p[from] is inside them.
 * Doubled quotes toggle twice and need no special case. NULL when the line
 * goes on past n. */
static uint8_t *line_end(uint8_t *p, size_t from, size_t n, int csv, int *inq)
{
	int q = *inq;

	if (!csv || !q) {
		/* Most records quote nothing: the newline ends them unless a
		 * quote comes before it. */
		uint8_t *nl = n > from ? memchr(p + from, '\n', n - from) : NULL;

		if (!csv || (nl != NULL && memchr(p + from, '"', (size_t)(nl - (p + from))) == NULL))
			return nl;
	}
	for (size_t i = from; i < n; i++) {
		if (p[i] == '"') {
			q = !q;
		} else if (p[i] == '\n' && !q) {
			*inq = 0;
			return p + i;
		}
	}
	*inq = q;
	return NULL;
}

int rd_line(struct frame_rd *r, const uint8_t **line, size_t *len)
{
	size_t scanned = 0;
	int inq = 0;

	if (!r->started && rd_start(r) < 0)
		return -1;
	for (;;) {
		uint8_t *p = r->buf + r->off, *nl;
		size_t avail = r->len - r->off;
		ssize_t got;

		nl = line_end(p, scanned, avail, r->csv, &inq);
		if (nl != NULL) {
			size_t n = (size_t)(nl - p);

			if (n > rd_max_frame)
				return rd_error(r, r->pos, "line longer than %u bytes (--max-frame)",
						rd_max_frame);
			*line = p;
			r->off += n + 1;
			r->pos += n + 1;
			if (n > 0 && p[n - 1] == '\r')
				n--;
			*len = n;
			r->nrec++;
			return 1;
		}
		scanned = avail;
		if (avail > rd_max_frame)
			return rd_error(r, r->pos, "line longer than %u bytes (--max-frame)",
					rd_max_frame);
		got = rd_fill(r);
		if (got < 0)
			return -1;
		if (got == 0 && r->len - r->off == avail) {
			/* A stop (sig_stop) ends reading where it is: bytes
			 * after the last newline are part of a line not read
			 * yet, not a last line (a savepoint records the
			 * position before them). */
			if (avail == 0 || sig_stop)
				return 0;
			*line = r->buf + r->off;
			*len = avail;
			r->off += avail;
			r->pos += avail;
			r->nrec++;
			return 1;
		}
		/* rd_fill may have moved the data to the start of buf. */
	}
}

int rd_line_buffered(struct frame_rd *r, const uint8_t **line, size_t *len)
{
	uint8_t *p = r->buf + r->off, *nl;
	size_t avail = r->len - r->off, n;
	int inq = 0;

	if (!r->started)
		return 2;
	nl = line_end(p, 0, avail, r->csv, &inq);
	if (nl == NULL) {
		if (avail > rd_max_frame)
			return rd_error(r, r->pos, "line longer than %u bytes (--max-frame)",
					rd_max_frame);
		if (!r->eof || (r->zstd != NULL && r->zoff < r->zlen))
			return 2;
		if (avail == 0 || sig_stop)	/* as in rd_line */
			return 0;
		n = avail;
		r->off += n;
		r->pos += n;
	} else {
		n = (size_t)(nl - p);
		if (n > rd_max_frame)
			return rd_error(r, r->pos, "line longer than %u bytes (--max-frame)",
					rd_max_frame);
		r->off += n + 1;
		r->pos += n + 1;
		if (n > 0 && p[n - 1] == '\r')
			n--;
	}
	*line = p;
	*len = n;
	r->nrec++;
	return 1;
}

/* ---- writing ------------------------------------------------------- */

static void wr_init(struct frame_wr *w, int fd, const char *name, int raw)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->name = xstrdup(name);
	w->raw = raw;
	w->flush_at = 128 << 10;
	buf_reserve(&w->out, w->flush_at + 4096);
}

static void wr_header(struct frame_wr *w)
{
	static const uint8_t hdr[RTAI_HEADER_LEN] = { 'R', 'T', 'A', 'I', RTAI_VERSION,
						       RTAI_H_EOS, 0, 0 };

	if (!w->raw)
		wr_bytes(w, hdr, sizeof(hdr));
}

void wr_open_fd(struct frame_wr *w, int fd, const char *name, int raw)
{
	if (!raw && isatty(fd)) {
		cli_warn("refusing to write a binary rtai stream to a terminal");
		fprintf(stderr, "%s: redirect it to a file or a pipe, or print records with 'rtai-cat -p'\n",
			cli_progname);
		exit(RTAI_EXIT_USAGE);
	}
	wr_init(w, fd, name, raw);
	wr_header(w);
}

void wr_open_path(struct frame_wr *w, const char *path, int compress, int raw)
{
	int fd;

	wr_init(w, -1, path, raw);
	fd = outfile_open_stream(path);
	if (fd < 0)
		cli_die(RTAI_EXIT_FAIL, "%s: %s", path, strerror(errno));
	w->fd = fd;
	w->flush_at = 256 << 10;
	wr_header(w);
	if (compress)
		wr_set_zstd(w);
}

int wr_open_at(struct frame_wr *w, const char *path, int compress, uint64_t size, char *err,
	       size_t errlen)
{
	struct stat st;
	int fd;

	wr_init(w, -1, path, 0);
	fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	if ((uint64_t)st.st_size < size) {
		snprintf(err, errlen, "%s: %llu bytes, fewer than the %llu expected", path,
			 (unsigned long long)st.st_size, (unsigned long long)size);
		goto fail;
	}
	if (ftruncate(fd, (off_t)size) < 0 || lseek(fd, (off_t)size, SEEK_SET) < 0) {
		snprintf(err, errlen, "%s: truncating to %llu bytes: %s", path,
			 (unsigned long long)size, strerror(errno));
		goto fail;
	}
	w->fd = fd;
	w->flush_at = 256 << 10;
	if (size == 0)
		wr_header(w);
	if (compress)
		wr_set_zstd(w);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	buf_free(&w->out);
	free(w->name);
	w->name = NULL;
	return -1;
}

void wr_set_zstd(struct frame_wr *w)
{
	w->zstd = ZSTD_createCStream();
	if (w->zstd == NULL)
		cli_die(RTAI_EXIT_FAIL, "out of memory (zstd)");
	ZSTD_CCtx_setParameter(w->zstd, ZSTD_c_compressionLevel, 3);
	buf_append(&w->zraw, w->out.p, w->out.len);
	w->out.len = 0;
}

static void write_all(struct frame_wr *w, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t put = write(w->fd, p, n);

		if (put < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE)
				exit(RTAI_EXIT_OK);
			cli_die(RTAI_EXIT_FAIL, "%s: write: %s", w->name, strerror(errno));
		}
		p += put;
		n -= (size_t)put;
		w->bytes += (size_t)put;
	}
}

static void zstd_push(struct frame_wr *w, ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = { w->zraw.p, w->zraw.len, 0 };
	size_t ret;

	do {
		ZSTD_outBuffer out;

		buf_reserve(&w->out, ZSTD_CStreamOutSize());
		out = (ZSTD_outBuffer){ w->out.p + w->out.len, w->out.cap - w->out.len, 0 };
		ret = ZSTD_compressStream2(w->zstd, &out, &in, mode);
		if (ZSTD_isError(ret))
			cli_die(RTAI_EXIT_FAIL, "%s: zstd: %s", w->name, ZSTD_getErrorName(ret));
		w->out.len += out.pos;
		if (w->out.len >= w->flush_at) {
			write_all(w, w->out.p, w->out.len);
			w->out.len = 0;
		}
	} while (mode != ZSTD_e_continue ? ret != 0 : in.pos < in.size);
	w->zraw.len = 0;
}

void wr_flush(struct frame_wr *w)
{
	if (w->fd < 0)
		return;
	if (w->zstd != NULL && w->zraw.len > 0)
		zstd_push(w, ZSTD_e_flush);
	if (w->out.len > 0) {
		write_all(w, w->out.p, w->out.len);
		w->out.len = 0;
	}
}

int wr_sync(struct frame_wr *w, uint64_t *size)
{
	off_t end;

	if (w->zstd != NULL)
		zstd_push(w, ZSTD_e_end);
	wr_flush(w);
	end = lseek(w->fd, 0, SEEK_CUR);
	if (end < 0)
		return -1;
	if (fsync(w->fd) < 0)
		return -1;
	*size = (uint64_t)end;
	return 0;
}

void wr_flush_cb(void *arg)
{
	wr_flush(arg);
}

void wr_bytes(struct frame_wr *w, const void *p, size_t n)
{
	struct buf *b = w->zstd != NULL ? &w->zraw : &w->out;

	buf_append(b, p, n);
	if (b->len >= w->flush_at) {
		if (w->zstd != NULL)
			zstd_push(w, ZSTD_e_continue);
		else
			wr_flush(w);
	}
}

void wr_put_meta(struct frame_wr *w, uint8_t kind, uint8_t enc, uint16_t flags,
		 int64_t ingest_ns, int64_t event_ns, const void *meta,
		 size_t meta_len, const void *payload, size_t len)
{
	struct buf *b = w->zstd != NULL ? &w->zraw : &w->out;
	size_t mhead = meta != NULL ? 4 + meta_len : 0;
	uint8_t *h;

	if (rd_resumed > 0 && w->resumed != 2 && w->fd == STDOUT_FILENO && !w->raw) {
		/* A resumed stage's output: its own resume frame first, then
		 * no other (frame.h) */
		if (w->resumed == 0) {
			w->resumed = 2;
			wr_resume(w, rd_resumed, rd_resumed_dir, cli_now_ns());
			w->resumed = 1;
		}
		if (kind == RTAI_K_RESUME)
			return;
	}
	if (len > RTAI_MAX_FRAME_HARD - RTAI_FRAME_FIXED - mhead ||
	    meta_len > RTAI_MAX_FRAME_HARD)
		cli_die(RTAI_EXIT_FAIL, "%s: frame of %zu bytes is too large", w->name,
			 len + mhead);
	if (event_ns == RTAI_TIME_UNSET)
		flags &= ~RTAI_F_EVENT;
	else
		flags |= RTAI_F_EVENT;
	if (meta != NULL)
		flags |= RTAI_F_META;
	else
		flags &= ~RTAI_F_META;
	h = buf_reserve(b, 4 + RTAI_FRAME_FIXED + mhead + len);
	st32(h, (uint32_t)(RTAI_FRAME_FIXED + mhead + len));
	h[4] = kind;
	h[5] = enc;
	h[6] = (uint8_t)flags;
	h[7] = (uint8_t)(flags >> 8);
	st64(h + 8, (uint64_t)ingest_ns);
	st64(h + 16, (flags & RTAI_F_EVENT) ? (uint64_t)event_ns : 0);
	h += 4 + RTAI_FRAME_FIXED;
	if (meta != NULL) {
		st32(h, (uint32_t)meta_len);
		if (meta_len)
			memcpy(h + 4, meta, meta_len);
		h += mhead;
	}
	if (len)
		memcpy(h, payload, len);
	b->len += 4 + RTAI_FRAME_FIXED + mhead + len;
	w->frames++;
	if (b->len >= w->flush_at) {
		if (w->zstd != NULL)
			zstd_push(w, ZSTD_e_continue);
		else
			wr_flush(w);
	}
}

void wr_put(struct frame_wr *w, uint8_t kind, uint8_t enc, uint16_t flags,
	    int64_t ingest_ns, int64_t event_ns, const void *payload, size_t len)
{
	wr_put_meta(w, kind, enc, flags, ingest_ns, event_ns, NULL, 0, payload, len);
}

void wr_resume(struct frame_wr *w, int64_t id, const char *dir_id, int64_t ingest_ns)
{
	struct rec_field fld[2] = {
		{ "checkpoint", 10, val_int(id) },
		{ "directory", 9, val_str(dir_id, strlen(dir_id)) },
	};
	struct rec r = { .f = fld, .n = 2, .cap = 2 };
	struct buf p = { 0 };

	if (w->raw)
		return;	/* text output (-p): no control frames */
	rec_encode(&r, &p);
	wr_put(w, RTAI_K_RESUME, RTAI_E_REC, 0, ingest_ns, RTAI_TIME_UNSET, p.p, p.len);
	buf_free(&p);
}

void wr_frame(struct frame_wr *w, const struct frame *f)
{
	wr_put_meta(w, f->kind, f->enc, f->flags, f->ingest_ns, f->event_ns,
		    (f->flags & RTAI_F_META) ? f->meta : NULL, f->meta_len,
		    f->payload, f->len);
}

/* Ends the stream, with its end-of-stream frame when eos. */
static void wr_end(struct frame_wr *w, int eos)
{
	if (w->fd < 0)
		goto out;
	if (eos && !w->raw)
		wr_put(w, RTAI_K_EOS, RTAI_E_NONE, 0, cli_now_ns(), RTAI_TIME_UNSET, NULL, 0);
	if (w->zstd != NULL) {
		zstd_push(w, ZSTD_e_end);
		ZSTD_freeCStream(w->zstd);
		w->zstd = NULL;
	}
	wr_flush(w);
	if (close(w->fd) < 0 && errno != EINTR)
		cli_die(RTAI_EXIT_FAIL, "%s: close: %s", w->name, strerror(errno));
	w->fd = -1;
out:
	ZSTD_freeCStream(w->zstd);
	w->zstd = NULL;
	buf_free(&w->out);
	buf_free(&w->zraw);
	free(w->name);
	w->name = NULL;
}

void wr_close(struct frame_wr *w)
{
	wr_end(w, !rd_cut_seen);
}

void wr_abandon(struct frame_wr *w)
{
	wr_end(w, 0);
}

void wr_marker(struct frame_wr *w, const struct frame *f, const char *stage)
{
	size_t n = strlen(stage);
	uint8_t stamp[8], tmp[1024];
	struct buf b = { 0 };
	uint8_t *p;

	if (n > 255)
		n = 255;
	st64(stamp, (uint64_t)cli_now_ns());
	if (f->len + 1 + n + 8 <= sizeof(tmp)) {
		p = tmp;
	} else {
		p = buf_reserve(&b, f->len + 1 + n + 8);
	}
	if (f->len > 0)		/* a fresh marker has no payload (NULL) */
		memcpy(p, f->payload, f->len);
	p[f->len] = (uint8_t)n;
	memcpy(p + f->len + 1, stage, n);
	memcpy(p + f->len + 1 + n, stamp, 8);
	wr_put(w, f->kind, f->enc, f->flags, f->ingest_ns, f->event_ns, p,
	       f->len + 1 + n + 8);
	wr_flush(w);
	buf_free(&b);
}

int marker_stamps(const struct frame *f,
		  void (*fn)(void *arg, const char *stage, size_t n, int64_t t),
		  void *arg)
{
	const uint8_t *p = f->payload, *end = f->payload + f->len;
	int count = 0;

	while (p < end) {
		size_t n = *p++;

		if ((size_t)(end - p) < n + 8)
			return -1;
		if (fn != NULL)
			fn(arg, (const char *)p, n, (int64_t)ld64(p + n));
		p += n + 8;
		count++;
	}
	return count;
}
