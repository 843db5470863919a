/* frame.h - the rtai record stream: frames, and buffered reading and
 * writing of streams on file descriptors (see rtai-record(5)).
 *
 * Wire format, all integers little-endian:
 *   stream header  "RTAI" u8 version(2) u8 flags u16 reserved(0)
 *   frame          u32 len, then len bytes:
 *                  u8 kind, u8 enc, u16 flags, i64 ingest_ns, i64 event_ns,
 *                  payload (len - 20 bytes)
 *   payload of a frame with RTAI_F_META:
 *                  u32 meta_len, meta (a binary record, rec.h), the value
 * A header may appear again at any frame boundary (concatenated streams).
 *
 * Version 2 (architecture issue #12) adds the header flag RTAI_H_EOS: the
 * writer promises to end with an end-of-stream frame, so a reader tells a
 * finished stream from a cut one. Readers accept versions 1 and 2; a
 * version 1 stream keeps its meaning (the end of input is the end).
 */
#ifndef RTAI_FRAME_H
#define RTAI_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

#define RTAI_MAGIC "RTAI"
#define RTAI_VERSION 2		/* what writers write */
#define RTAI_VERSION_MIN 1	/* the oldest a reader accepts */
#define RTAI_H_EOS 0x01		/* header flags: an EOS frame will end the stream */
#define RTAI_HEADER_LEN 8
#define RTAI_FRAME_FIXED 20		/* kind..event_ns, after the length */
#define RTAI_MAX_FRAME_DEFAULT (16u << 20)
#define RTAI_MAX_FRAME_HARD (1u << 30)	/* below "RTAI" read as a length */

enum frame_kind {
	RTAI_K_DATA = 1,	/* a record */
	RTAI_K_WATERMARK = 2,	/* event time progress: event_ns is W */
	RTAI_K_BARRIER = 3,	/* checkpoint barrier, forwarded as is */
	RTAI_K_MARKER = 4,	/* latency marker: payload is a list of stamps */
	RTAI_K_EOS = 5,		/* the writer ended cleanly */
	RTAI_K_SCHEMA = 6,	/* JSON schema of the data frames after it */
	RTAI_K_REVOKE = 7,	/* a Kafka partition went to another consumer
				 * (revoke.h) */
	RTAI_K_ASSIGN = 8,	/* a Kafka partition read again from a held-back
				 * commit, with its horizon (revoke.h) */
	RTAI_K_RESUME = 9,	/* a resumed source's stream: the checkpoint it
				 * resumed from (wr_resume) */
};

enum frame_enc {
	RTAI_E_NONE = 0,	/* no payload, or a kind-specific one */
	RTAI_E_RAW = 1,		/* bytes, such as a line as read */
	RTAI_E_JSON = 2,	/* JSON text */
	RTAI_E_REC = 3,		/* binary typed record (rec.h) */
};

#define RTAI_F_EVENT 0x0001	/* flags: event_ns is set */
#define RTAI_F_META 0x0002	/* the payload starts with source metadata */
#define RTAI_F_TOMBSTONE 0x0004	/* the value is null (a Kafka tombstone) */

struct frame {
	uint8_t kind;		/* enum frame_kind, or an unknown kind to forward */
	uint8_t enc;		/* enum frame_enc */
	uint16_t flags;		/* RTAI_F_*; others are forwarded unchanged */
	int64_t ingest_ns;	/* when the record entered the pipeline */
	int64_t event_ns;	/* RTAI_TIME_UNSET unless RTAI_F_EVENT */
	const uint8_t *payload;	/* the value; borrowed: valid until the next read */
	uint32_t len;		/* value bytes */
	const uint8_t *meta;	/* RTAI_F_META: binary record of source metadata
				 * (topic, partition, offset, key, timestamp,
				 * headers); NULL otherwise. Borrowed as payload */
	uint32_t meta_len;	/* its bytes; 0 without RTAI_F_META */
	uint64_t offset;	/* reader: byte offset of the frame in its input */
};

/* The largest frame a reader accepts; set by --max-frame or RTAI_MAX_FRAME. */
extern uint32_t rd_max_frame;

/* Applies RTAI_MAX_FRAME from the environment, then an option's value
 * (NULL for none); exits 2 when out of range. Readers stop at the end of
 * input once sig_stop (sig.h) is set. */
void rd_set_max_frame(const char *opt_value);

/* ---- reading ------------------------------------------------------- */

struct frame_rd {
	int fd;			/* -1 once closed */
	char *name;		/* "stdin" or the path, for messages */
	uint8_t *buf;		/* decompressed bytes */
	size_t cap, off, len;	/* buf[off..len) not yet consumed */
	uint64_t pos;		/* input offset of buf[off] */
	void *zstd;		/* ZSTD_DStream when the input is compressed */
	uint8_t *zin;		/* compressed bytes */
	size_t zcap, zoff, zlen;
	int eof;		/* read() returned 0 */
	int zdone;		/* the last zstd frame ended cleanly */
	int started;		/* the first bytes were examined */
	int csv;		/* rd_line: newlines inside double quotes do not end a line */
	uint64_t nframes;	/* frames returned */
	uint64_t nrec;		/* data frames returned: the record number */
	uint8_t version;	/* of the last stream header; 0 before one */
	int promised;		/* that header had RTAI_H_EOS */
	int at_eos;		/* the last frame was an end-of-stream frame */
	int64_t resume;		/* the checkpoint of the last resume frame read
				 * (kind 9), 0 for none */
	int resume_here;	/* and it named rd_resumed_dir */
	int cut;		/* the input ended without the EOS frame that its
				 * header promised (or inside a frame): the tool
				 * publishes nothing as final and exits
				 * RTAI_EXIT_CUT */
	char err[256];		/* the last error, "where: what" */
	void (*on_block)(void *);	/* rd_on_block(); NULL: none */
	void *on_block_arg;
};

/* Set once any reader of this process found a cut input (r->cut):
 * wr_close() then writes no end-of-stream frame, so the cut reaches the
 * stages downstream instead of looking like a normal end. */
extern int rd_cut_seen;

/* The checkpoint a stage resumed from (set by ckpt_stage), 0 for none.
 * Its standard input then continues a stream from that checkpoint, which
 * only a source that resumed from the same checkpoint can write: such a
 * source sends a resume frame naming it first (wr_resume), and the stages
 * between forward it as they forward any control frame. A standard input
 * whose first record, barrier, revoke or assign frame comes before one,
 * or that ends without one, is cut (r->cut, RTAI_EXIT_CUT),
 * so nothing restored is fired or moved on by it: an empty input (the stage before failed at start, a refused
 * snapshot or a usage error), a finished empty stream from a stage between
 * them that did start (a stateless rtai-parse behind a source that
 * failed), or a whole input read again by a source that did not resume (a
 * plain rtai-cat FILE, or one whose checkpoint differs). Without this a
 * resumed window stage would fire the open windows it restored, partial
 * or counted twice, as final. The rule follows Flink's, where a job
 * restores its sources and operators from one checkpoint together. */
extern int64_t rd_resumed;
/* ckpt_dir_id() of the directory rd_resumed is of: a resume frame must
 * name both. */
extern char rd_resumed_dir[48];
/* Set by a stage whose results depend on every record of its input from
 * the first (rtai-window's windows): when it did not resume (rd_resumed
 * 0), a resume frame on its standard input is an error (rd_error, exit
 * 1), as the stream it reads continues a checkpoint whose state this
 * stage does not have: it was given no --checkpoint-dir, or another one
 * than the source's, and its windows would lack every record before
 * that checkpoint. Flink likewise refuses to restore a job whose
 * sources resume while an operator's state has nowhere to come from
 * (unless told to allow it). */
extern int rd_keeps_state;

/* Opens path ("-" or NULL for stdin). Returns 0, or -1 with r->err set.
 * zstd-compressed input is detected and decompressed transparently. */
int rd_open(struct frame_rd *r, const char *path);
/* Reads from an open descriptor; name is used in messages. */
void rd_open_fd(struct frame_rd *r, int fd, const char *name);
/* Moves an input to byte pos of a file without reading up to it: a
 * resumed source (rtai-cat) going back to the position a checkpoint
 * recorded. Call it after rd_is_stream() (which finds out whether the input
 * is compressed), between frames or lines (a CSV file's header row may be
 * read first). Only an uncompressed regular file can seek: its bytes are
 * the stream's, so pos is the offset rd_frame() and rd_line() count
 * (r->pos). Bytes buffered past the last frame or line are dropped; a stream header at the start of the file is
 * taken first (its version and end-of-stream promise hold for the frames
 * after pos, as they would have had the reader read through; a second
 * header between it and pos is not seen). The record number r->nrec is
 * the caller's to set (the records before pos). Returns 0 when r reads
 * from pos now; -1 (errno EINVAL for zstd input, ESPIPE for a pipe or
 * another file that is not regular, or lseek's) with r unchanged, so the
 * caller reads up to pos instead; -2 when the file has fewer than pos
 * bytes (r unchanged). */
int rd_seek(struct frame_rd *r, uint64_t pos);
/* Closes the input (not stdin) and frees buffers. Accepts NULL. */
void rd_close(struct frame_rd *r);

/* Sets the function this reader calls (with arg) just before a read()
 * would block waiting for input: a tool that reads with rd_frame() or
 * rd_line() gives it its writers' flush (wr_flush_cb()), so a lone record
 * leaves at once while a burst leaves in large writes. Call after
 * rd_open() (which clears it); fn NULL for none. Tools on lib/loop need
 * none: the loop flushes the writers given to loop_add_writer(). */
static inline void rd_on_block(struct frame_rd *r, void (*fn)(void *), void *arg)
{
	r->on_block = fn;
	r->on_block_arg = arg;
}

/* Returns 1 if the input starts like an rtai stream, 0 if not (text),
 * -1 on a read error. Reads ahead without consuming; empty input is 1. */
int rd_is_stream(struct frame_rd *r);

/* Reads the next frame into *f, whose payload stays valid until the next
 * call. Returns 1 for a frame, 0 at the end of input, -1 on an error with
 * r->err set to "NAME: byte OFFSET: what" (the stream cannot be trusted
 * past it). End-of-stream frames are consumed and not returned.
 * A version 2 stream whose input ends without its end-of-stream frame
 * (inside a frame, or a zstd frame, too) is cut: -1 with r->cut and
 * rd_cut_seen set and r->err "NAME: byte N: the stream was cut: ..."
 * (every whole frame before it was returned); so is standard input
 * without a resume frame of checkpoint rd_resumed, when that is set, at
 * its first frame that moves state or at its end (rd_resumed).
 * A resume frame (kind 9) is returned like any control frame, after the
 * reader took its checkpoint into r->resume; a malformed one is an error. A version 1 stream ending
 * inside a frame is the error it always was ("truncated frame"). After sig_stop the end of
 * input is a normal end (0): the tool stopped reading, nothing was cut. */
int rd_frame(struct frame_rd *r, struct frame *f);

/* Makes rd_line() and rd_line_buffered() return CSV records (RFC 4180)
 * instead of lines: a newline inside double quotes belongs to the record.
 * Call after rd_open(). The record's bytes are returned as read, quotes
 * and all, for a CSV parser (csvrec.h). */
static inline void rd_set_csv(struct frame_rd *r, int on) { r->csv = on; }

/* Reads the next line (without its '\n' and any '\r'). Returns 1 and sets
 * *line and *len (valid until the next call), 0 at the end, -1 on an error.
 * A last line without '\n' is returned too, unless reading ended on a
 * stop (sig_stop): then the bytes after the last '\n' belong to a line not
 * read yet and are not returned, so a source stopped by a signal never
 * sends half a line. Lines longer than rd_max_frame are an error. */
int rd_line(struct frame_rd *r, const uint8_t **line, size_t *len);

/* Bytes available without a read() call: lets a tool that polls several
 * inputs know whether to wait. */
static inline size_t rd_buffered(const struct frame_rd *r) { return r->len - r->off; }

/* Reads once more into the buffer (blocking). Returns bytes added, 0 at
 * end of input, -1 on error. Used by tools that poll() several inputs. */
ssize_t rd_fill(struct frame_rd *r);

/* rd_frame() without reading: returns 1 for a frame complete in the
 * buffer, 2 when more input is needed (call rd_fill() once poll() says the
 * descriptor is readable), 0 at the end, -1 on error. */
int rd_frame_buffered(struct frame_rd *r, struct frame *f);

/* rd_line() without reading: returns 1 for a line complete in the buffer
 * (or the last one, without '\n', once the input has ended), 2 when more
 * input is needed, 0 at the end, -1 on error (a line longer than
 * rd_max_frame). */
int rd_line_buffered(struct frame_rd *r, const uint8_t **line, size_t *len);

/* rd_is_stream() without reading: 1 if what is buffered starts like an
 * rtai stream (or the input ended empty), 0 if not (text), 2 when fewer
 * than 4 bytes are buffered and more may come. Look before consuming:
 * it judges the unconsumed bytes. */
int rd_is_stream_buffered(const struct frame_rd *r);

/* Nonzero when rd_fill() makes progress without waiting on the descriptor
 * (compressed bytes are waiting, or the input has ended): poll() it then
 * only after this says 0. */
static inline int rd_fill_ready(const struct frame_rd *r)
{
	return r->eof || (r->zstd != NULL && r->zoff < r->zlen);
}

/* ---- writing ------------------------------------------------------- */

struct frame_wr {
	int fd;			/* -1 when closed */
	char *name;		/* "stdout" or the path */
	struct buf out;		/* pending bytes (compressed if zstd) */
	struct buf zraw;	/* uncompressed staging for zstd */
	void *zstd;		/* ZSTD_CStream when compressing */
	size_t flush_at;	/* write when this much is pending */
	uint64_t frames, bytes;	/* written so far */
	int raw;		/* plain bytes, no stream header (text out) */
	int resumed;		/* standard output of a resumed stage: 2 while
				 * its own resume frame is written, 1 after */
};

/* Writes a stream to fd. Refuses a terminal unless raw (exit 2 with a
 * hint); writes the stream header at once unless raw. */
void wr_open_fd(struct frame_wr *w, int fd, const char *name, int raw);
/* Writes a stream to path in place (outfile_open_stream(): created
 * exclusively, never through a symbolic link; an existing file is
 * replaced), so that a kill -9 leaves every frame flushed so far readable;
 * compress adds zstd. Exits 1 on error. */
void wr_open_path(struct frame_wr *w, const char *path, int compress, int raw);
/* Reopens the stream at path that an earlier run wrote in place
 * (wr_open_path), to go on after its first size bytes: a checkpoint's
 * restore, where what the earlier run wrote after its snapshot is to be
 * written again. path must be a regular file (not through a symbolic
 * link) of at least size bytes; it is cut to size and written from there,
 * with no stream header when size > 0 (the file has one), a new zstd frame
 * when compress (so size must end one: wr_sync). size 0 starts the stream
 * anew. Returns 0, or -1 with a message in err ("PATH: 120 bytes, fewer
 * than the 300 expected", "PATH: not a regular file", an open error). */
int wr_open_at(struct frame_wr *w, const char *path, int compress, uint64_t size, char *err,
	       size_t errlen);
/* Makes every frame written so far durable: written out, a zstd stream's
 * frame ended (the next frame starts a new one, so the file up to here is
 * a whole zstd file), and the file fsync'ed. Sets *size to the file's
 * length then, the size wr_open_at takes to go on from here. Returns 0, or
 * -1 with errno set (ESPIPE: the stream is not a regular file, which has
 * no length to go back to; EIO, ENOSPC from fsync). */
int wr_sync(struct frame_wr *w, uint64_t *size);
/* Compresses everything written from now on, the stream header included
 * (call before the first frame). */
void wr_set_zstd(struct frame_wr *w);
/* Appends a frame, its source metadata (f->meta) included. Flushes when
 * enough is pending. */
void wr_frame(struct frame_wr *w, const struct frame *f);
/* Appends a frame from parts, without metadata: RTAI_F_META is cleared
 * from flags (a tool writing a new value from a frame's flags cannot
 * carry a stale bit). RTAI_F_EVENT follows event_ns (RTAI_TIME_UNSET:
 * none). Exits 1 when the frame would exceed RTAI_MAX_FRAME_HARD. */
void wr_put(struct frame_wr *w, uint8_t kind, uint8_t enc, uint16_t flags,
	    int64_t ingest_ns, int64_t event_ns, const void *payload, size_t len);
/* A stage that resumed (rd_resumed) writes a resume frame of its own
 * checkpoint and directory on its standard output (fd 1) before anything
 * else it writes there, and drops those it would forward: it vouches
 * that its output continues that checkpoint, having checked that its
 * input does (a cut input cuts its output, whose stages after it see the
 * cut). Frames it writes at start from its restored state alone (a
 * window's watermark, records held for event order) then reach resumed
 * stages after it behind the resume frame, as they must. wr_put_meta()
 * does this; no call is needed. */

/* Writes the resume frame of a source that resumed from checkpoint id
 * (>= 1) of the checkpoint directory dir_id (ckpt_dir_id, ckpt.h): kind
 * 9, a binary record {"checkpoint": id, "directory": dir_id}
 * (rtai-record(5)), stamped with ingest_ns. A source sends it before any
 * other frame of its stream, so every stage that resumed from the same
 * checkpoint knows its input continues it (rd_resumed). Not written to a
 * text output (-p). */
void wr_resume(struct frame_wr *w, int64_t id, const char *dir_id, int64_t ingest_ns);
/* wr_put() with source metadata: meta is a binary record (rec_encode) of
 * meta_len bytes, written before the value with RTAI_F_META set; meta
 * NULL writes none. Fields, named as kcat -J names them: topic (string),
 * partition (int), offset (int), key (bytes; absent when null), timestamp
 * (time), headers (json object). A tombstone (a null value, distinct from
 * an empty one) is flags RTAI_F_TOMBSTONE with len 0. For example:
 *	rec_reset(&m);
 *	rec_add(&m, "topic", 5, val_str(topic, strlen(topic)));
 *	rec_add(&m, "offset", 6, val_int(off));
 *	buf_reset(&mb); rec_encode(&m, &mb);
 *	wr_put_meta(w, RTAI_K_DATA, RTAI_E_RAW, 0, now, ts, mb.p, mb.len,
 *		    value, value_len);
 */
void wr_put_meta(struct frame_wr *w, uint8_t kind, uint8_t enc, uint16_t flags,
		 int64_t ingest_ns, int64_t event_ns, const void *meta,
		 size_t meta_len, const void *payload, size_t len);
/* Appends bytes (raw writers: text output). */
void wr_bytes(struct frame_wr *w, const void *p, size_t n);
/* Writes everything pending. A closed pipe (EPIPE) exits 0 quietly; any
 * other error exits 1 with a message. */
void wr_flush(struct frame_wr *w);
/* Ends the stream as finished: writes the end-of-stream frame (unless
 * raw, or rd_cut_seen: a stage whose input was cut must not claim a clean
 * end), flushes, finishes compression, renames a temporary file into
 * place and closes (stdout is closed too, so a full disk shows). Exits 1
 * on error. Accepts a writer already closed. */
void wr_close(struct frame_wr *w);
/* Ends the stream as not finished: flushes what was written (every frame
 * in it is whole) and closes, without the end-of-stream frame, so readers
 * downstream report a cut stream. For a fatal error after which the tool
 * still exits in order. Accepts a writer already closed. */
void wr_abandon(struct frame_wr *w);
/* An rd_on_block() callback: arg is a struct frame_wr *, flushed. */
void wr_flush_cb(void *arg);

/* Forwards a latency marker with this tool's stamp appended, and flushes
 * at once: markers are never held back behind buffered state. */
void wr_marker(struct frame_wr *w, const struct frame *f, const char *stage);

/* Decodes the stamps of a marker. Calls fn for each (stage name, its
 * length, time); returns the count, or -1 when the payload is malformed. */
int marker_stamps(const struct frame *f,
		  void (*fn)(void *arg, const char *stage, size_t n, int64_t t),
		  void *arg);

/* Kind names for messages and printing: "data", "watermark", ... */
const char *frame_kind_name(int kind);

#endif
