/* errpol.h - the one error policy: --on-error fail|skip|dlq and --dlq FILE.
 *
 * Every tool that can meet a record it cannot handle (bad JSON, a value of
 * the wrong type, a failing expression, a column the table refuses) treats
 * it the same way, with the same words (decisions of issue #12, rtai(7)
 * "Errors"; in the spirit of Kafka Connect's errors.tolerance and its
 * dead-letter queue):
 *   fail  (the default) report where and what, stop: exit status 1;
 *   skip  count the record and go on; the count is printed at exit;
 *   dlq   write the record to the dead-letter stream --dlq FILE and count it:
 *         the frame as read, with an "_error" field holding the reason when
 *         its payload is a record (binary or JSON); any other payload
 *         (text that did not parse) as read, or as the tool's own letter
 *         (errpol.letter, rtai-parse's JSON object with input, record,
 *         offset, reason and payload).
 * A run in which records came in and every one was skipped or
 * dead-lettered exits RTAI_EXIT_ALLDROP (5): errpol_status().
 *
 * A tool's use:
 *	static struct errpol ep = ERRPOL_INIT;
 *	case OPT_ON_ERROR: errpol_mode_arg(&ep, optarg); break;
 *	case OPT_DLQ: errpol_dlq_arg(&ep, optarg); break;
 *	...
 *	errpol_check(&ep);		// after the option loop
 *	errpol_open(&ep);		// before the first record
 *	if (errpol_refuse(&ep, f, where, reason) < 0)
 *		stop...			// fail: where was reported
 *	...
 *	summary: ep.skipped, ep.dead, ep.first
 *	errpol_close(&ep);
 *	status = errpol_status(&ep, records_in, status, "parsed");
 *	errpol_free(&ep);
 *
 * Messages: a refused record is reported by the tool's own words ("where",
 * e.g. "in.rtai: record 2 (byte 39): invalid JSON ..."); errpol prints it
 * under fail (with a hint naming skip and dlq), under -v for every refused
 * record, and keeps the first one for the summary otherwise (ep.first), so
 * that a run that refused records never says nothing.
 *
 * Nothing here allocates per record in the steady state: dead letters reuse
 * one record and one buffer.
 */
#ifndef RTAI_ERRPOL_H
#define RTAI_ERRPOL_H

#include <stdint.h>

#include "buf.h"
#include "frame.h"
#include "rec.h"

enum errpol_mode {
	ERRPOL_FAIL,		/* report, stop, exit status 1 */
	ERRPOL_SKIP,		/* count, go on */
	ERRPOL_DLQ		/* write to --dlq, count, go on */
};

struct errpol {
	enum errpol_mode mode;	/* --on-error */
	int mode_set;		/* --on-error was given */
	const char *dlq_path;	/* --dlq FILE; borrowed (argv), must outlive ep */
	int verbose;		/* report every refused record (-v) */
	/* A tool's own dead letter for f (NULL: the default, above): fills
	 * out with a payload of encoding *enc and returns 0, or returns -1 to
	 * write the frame as read. Called under dlq only. */
	int (*letter)(void *arg, const struct frame *f, const char *reason,
		      struct buf *out, uint8_t *enc);
	void *letter_arg;

	uint64_t skipped;	/* records skipped */
	uint64_t dead;		/* records dead-lettered */
	char first[1024];	/* the first refused record's message, "" if none */

	struct frame_wr dlq;	/* the dead-letter stream, once errpol_open() */
	int dlq_open;
	uint64_t dlq_len;	/* its bytes at the last errpol_sync() or errpol_load() */
	int resume;		/* errpol_load(): errpol_open() goes on at dlq_len */
	struct rec rec;	/* scratch: the dead letter's record */
	struct buf enc;		/* scratch: its encoding */
};

#define ERRPOL_INIT { .mode = ERRPOL_FAIL }

/* The help text of the two options, the same words in every tool's --help
 * (the man pages say it likewise: rtai(7) "Errors"). */
#define ERRPOL_HELP \
	"      --on-error POLICY    a record that cannot be handled: fail (the default:\n" \
	"                           stop, exit status 1), skip (count it and go on),\n" \
	"                           or dlq (write it to --dlq and go on)\n" \
	"      --dlq FILE           the dead-letter stream, an rtai stream created in\n" \
	"                           place (a .zst name compresses); implies --on-error dlq\n"

/* --on-error's argument: "fail", "skip" or "dlq". Anything else is a usage
 * error (exit 2: "--on-error: 'x': expected fail, skip or dlq"). */
void errpol_mode_arg(struct errpol *ep, const char *arg);

/* --dlq's argument: the path is borrowed and must outlive ep. */
void errpol_dlq_arg(struct errpol *ep, const char *path);

/* After the option loop: --dlq without --on-error means dlq; dlq without
 * --dlq ("--on-error dlq needs --dlq FILE") and --dlq with fail or skip
 * ("--dlq needs --on-error dlq") are usage errors (exit 2). */
void errpol_check(struct errpol *ep);

/* Opens the dead-letter stream under dlq (wr_open_path(): created in place,
 * exclusively, never through a symbolic link; a name ending in .zst is
 * compressed); nothing otherwise. Exits 1 when it cannot be created.
 * After errpol_load() it reopens the stream of the run resumed instead,
 * cut to the length recorded in the snapshot (wr_open_at()), so that the
 * dead letters written after that checkpoint, whose records come again,
 * are not written twice; exits 1 ("--dlq FILE: ...: the dead-letter stream
 * changed since the checkpoint") when the file is missing or shorter. */
void errpol_open(struct errpol *ep);

/* Applies the policy to a record that cannot be handled. f is the frame as
 * read (under dlq it is required; otherwise it may be NULL, e.g. a table
 * row read as text); where is the whole message ("NAME: record N (byte
 * B): what") and reason the short one that goes into the dead letter's
 * "_error" (may equal where). Both are copied as needed; nothing is kept.
 * Returns -1 under fail, after reporting where and a hint (the caller
 * stops and exits 1), and 0 after counting the record under skip or dlq.
 * A failed write to the DLQ exits 1 (wr_frame()). */
int errpol_refuse(struct errpol *ep, const struct frame *f, const char *where,
		  const char *reason);

/* Records refused so far (skipped + dead-lettered). */
static inline uint64_t errpol_dropped(const struct errpol *ep)
{
	return ep->skipped + ep->dead;
}

/* Flushes the dead-letter stream, if one is open (wr_flush(): every frame
 * written so far reaches the file, a .zst one as a flushed zstd block), so
 * that a tool killed while it waits for input loses no dead letter (issue
 * #13 item 12: the DLQ is read back up to its last whole frame). Tools call
 * it from the function they give rd_on_block(), or register
 * errpol_writer() with loop_add_writer(). A failed write exits 1. */
void errpol_flush(struct errpol *ep);

/* The dead-letter stream's writer, or NULL when none is open: for
 * loop_add_writer(), after errpol_open(). Stays the policy's. */
static inline struct frame_wr *errpol_writer(struct errpol *ep)
{
	return ep->dlq_open ? &ep->dlq : NULL;
}

/* Checkpoints (rtai(7) "Checkpoints"): the policy's part of a stage's
 * snapshot is its counts and the dead-letter stream's length.
 *
 * errpol_sync() makes every dead letter so far durable (wr_sync(): written,
 * a .zst stream's zstd frame ended, fsync'ed) and records the stream's
 * length in ep->dlq_len; call it at the barrier, before the snapshot is
 * written, so that a complete checkpoint never names bytes the file may
 * lack. Returns 0 (also with no stream open), or -1 with a message in err
 * ("--dlq FILE: fsync: ...", or ESPIPE's for a DLQ that is not a regular
 * file, which cannot be cut back to a length): the checkpoint fails then.
 *
 * errpol_save() appends the counts (skipped, dead), dlq_len and the first
 * message to b (snap.h encoding): the state as of the last errpol_sync().
 * errpol_load() reads them back from r (a reader's failure marks r bad,
 * as snap.h's getters do) and sets ep->resume under dlq, before
 * errpol_open(). The mode is not in the snapshot: it is part of the
 * stage's options, which its identity holds. */
int errpol_sync(struct errpol *ep, char *err, size_t errlen);
void errpol_save(const struct errpol *ep, struct buf *b);
struct snap_rd;
void errpol_load(struct errpol *ep, struct snap_rd *r);

/* Ends the dead-letter stream as finished (wr_close(): with its end-of-
 * stream frame). Accepts a policy with no stream, or one closed already. */
void errpol_close(struct errpol *ep);

/* The exit status: status unchanged unless it is RTAI_EXIT_OK, records came
 * in (nin > 0) and every one was refused: then RTAI_EXIT_ALLDROP, said as
 * "every record (N) was skipped: nothing was DONE (exit status 5)". */
int errpol_status(const struct errpol *ep, uint64_t nin, int status, const char *done);

/* Frees the scratch memory. Accepts NULL. The stream must be closed. */
void errpol_free(struct errpol *ep);

#endif
