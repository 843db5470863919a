/* loop.h - the event loop every tool runs on: inputs, timers, signals and
 * the flush of output before the tool would wait.
 *
 * A tool registers what it reads and what it writes, then calls loop_run():
 *   - inputs: rtai readers (frame.h) read as frames or as lines, or sniffed
 *     (frames when the input starts like an rtai stream, lines otherwise),
 *     several at once (a stream and a changelog file); and plain
 *     descriptors (a Redis socket, a librdkafka queue's fd) with a callback
 *     for their readiness;
 *   - timers on CLOCK_MONOTONIC nanoseconds, one-shot or periodic (the idle
 *     watermark advance, interval lines);
 *   - writers, flushed just before the loop would block in poll(): a lone
 *     record leaves at once, a burst leaves in large writes;
 *   - hooks called each time everything buffered has been handed out,
 *     before the loop reads or waits for more (a tool releases a batch,
 *     sends its watermark);
 *   - the signal table of rtai(7), read from sig.h: a stop request ends
 *     every input as at its end (buffered frames are handed out first),
 *     SIGHUP calls the reload hook, SIGUSR1 the checkpoint hook.
 *
 * Frames reach the tool in one of two callbacks: data() for records and
 * control() for every other kind (watermark, barrier, marker, schema,
 * unknown kinds), so a rule about control frames (such as checkpoint
 * barriers) is written once, here. End of stream is the input's end()
 * callback. loop_forward() is what a pass-through stage does with a
 * control frame it does not consume.
 *
 * Order: each pass hands out everything buffered in every input, in the
 * order the inputs were added (so add a changelog before the stream it
 * applies to: a change that arrived before a record is applied before the
 * record), then calls the hooks, fires due timers, and reads: inputs that
 * can make progress without waiting (compressed bytes, the end) first,
 * otherwise poll() on every input and descriptor, with the earliest timer
 * as the timeout.
 *
 * Model: libuv's and Redis's ae event loops (one poll point, timers beside
 * descriptors), with rtai's readers in place of raw sockets.
 */
#ifndef RTAI_LOOP_H
#define RTAI_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

struct loop;
struct loop_in;
struct loop_fd;
struct loop_timer;

/* How an input's bytes are read. */
enum loop_mode {
	LOOP_FRAMES,	/* an rtai stream: data() and control() */
	LOOP_LINES,	/* text: line() */
	LOOP_SNIFF,	/* frames if it starts with "RTAI", lines otherwise */
};

/* Why an input ended, for its end() callback. */
enum loop_end {
	LOOP_END_EOF,		/* the input ended (its stream, or the file) */
	LOOP_END_STOP,		/* a stop signal ended it (sig.h) */
	LOOP_END_ERROR,		/* a read error: the reader's err says what */
};

/* What a tool does with an input. Every callback returns 0 to go on, or
 * -1 to end loop_run() at once with -1 (the tool has reported why). A NULL
 * callback takes the default: data() and line() drop, control() is
 * loop_forward(), end() does nothing (and an error ends loop_run() with -1
 * and loop_err() set). Pointers passed in are valid during the call only:
 * a frame's payload until the reader reads again. */
struct loop_ops {
	int (*data)(void *arg, struct frame_rd *rd, const struct frame *f);
	int (*control)(void *arg, struct frame_rd *rd, const struct frame *f);
	int (*line)(void *arg, struct frame_rd *rd, const uint8_t *p, size_t n);
	int (*end)(void *arg, struct frame_rd *rd, enum loop_end why);
};

/* A new loop with nothing registered. stage names the tool in latency
 * markers that loop_forward() stamps ("rtai-join"); it must outlive the
 * loop. Never fails (aborts on out-of-memory). */
struct loop *loop_new(const char *stage);
/* Frees the loop and everything registered with it; closes no reader,
 * writer or descriptor (they belong to the tool). Accepts NULL. */
void loop_free(struct loop *l);

/* Runs until loop_stop(), a callback's -1, or an input's read error with
 * no end() callback, or until no input is open and no descriptor is
 * watched (timers alone do not keep it running). Returns 0, or -1: after a
 * callback's -1, or with loop_err() set to the reader's or poll()'s
 * message ("NAME: byte N: what"). May be called again, e.g. after adding
 * the next input file. */
int loop_run(struct loop *l);
/* Ends loop_run() with 0 once the current callback returns. */
void loop_stop(struct loop *l);
/* The message of a read or poll() error that ended loop_run(), or NULL
 * when a callback ended it. Valid until the next loop_run(). */
const char *loop_err(const struct loop *l);
/* Nonzero once a stop signal has ended the inputs (sig.h). */
int loop_stopped(const struct loop *l);

/* ---- inputs ---------------------------------------------------------- */

/* Reads rd (opened by the tool, which closes it after the loop is done
 * with it) in the given mode, calling ops with arg. The input is open
 * until its end() has been called; then the loop forgets it (the handle is
 * freed). Returns the handle. */
struct loop_in *loop_add_input(struct loop *l, struct frame_rd *rd, enum loop_mode mode,
			       const struct loop_ops *ops, void *arg);
/* Pauses an input (nothing more is handed out or read from it: a sink with
 * a full queue of unacknowledged writes), or resumes it. A paused input
 * still counts as open. Takes effect after the current callback. */
void loop_pause(struct loop_in *in, int paused);
/* Nonzero when the input was sniffed (LOOP_SNIFF) as an rtai stream; 0
 * when as text, or before its first bytes arrived. */
int loop_is_stream(const struct loop_in *in);

/* What a pass-through stage does with a control frame: a latency marker
 * is forwarded with this stage's stamp and flushed at once (wr_marker()),
 * any other frame is forwarded unchanged, to the writer of
 * loop_set_output(). Returns 0 (without an output, it drops the frame). */
int loop_forward(struct loop *l, const struct frame *f);
/* The writer loop_forward() writes to (registered with loop_add_writer()
 * too). NULL for none. */
void loop_set_output(struct loop *l, struct frame_wr *w);

/* ---- descriptors ----------------------------------------------------- */

/* Watches fd for events (POLLIN, POLLOUT; 0 pauses it) and calls fn with
 * arg and poll()'s revents when it is ready (POLLHUP and POLLERR come
 * whatever the events). fn returns 0, or -1 to end loop_run() with -1.
 * The descriptor stays the tool's. Returns the handle. */
struct loop_fd *loop_add_fd(struct loop *l, int fd, short events,
			    int (*fn)(void *arg, short revents), void *arg);
/* Changes what is watched: a new descriptor (after a reconnect; -1 for
 * none) and events. */
void loop_fd_set(struct loop_fd *w, int fd, short events);

/* ---- timers ---------------------------------------------------------- */

/* A timer calling fn with arg, not armed. fn returns 0, or -1 to end
 * loop_run() with -1. Timers fire from loop_run(), never during a
 * callback: when poll() times out for them, and when the loop comes round
 * to reading (after handing out what is buffered and the drained hooks;
 * a busy input delays them by at most one buffer). Input that is ready
 * goes first: a hook that re-arms a timer (an idle clock pushed back by
 * new records) sees the records before the timer fires. */
struct loop_timer *loop_timer_new(struct loop *l, int (*fn)(void *arg), void *arg);
/* Arms the timer to fire once at t, cli_mono_ns() time (CLOCK_MONOTONIC,
 * ns); INT64_MAX disarms it. Re-arming replaces the previous time. */
void loop_timer_at(struct loop_timer *t, int64_t t_mono);
/* Arms it to fire once, ns from now (a negative ns disarms it). */
void loop_timer_after(struct loop_timer *t, int64_t ns);
/* Arms it to fire every period ns, the first time period from now. A
 * late firing does not make up for missed ones: the next is one period
 * after the time it was due, or later if that has passed too. */
void loop_timer_every(struct loop_timer *t, int64_t period);

/* ---- output and hooks -------------------------------------------------- */

/* Flushes w (wr_flush()) just before the loop blocks in poll(). */
void loop_add_writer(struct loop *l, struct frame_wr *w);
/* Calls fn with arg each time everything buffered has been handed out,
 * before the loop reads or waits for more; fn returns 0 or -1 (as the
 * callbacks). Hooks run in the order added. */
void loop_on_drained(struct loop *l, int (*fn)(void *arg), void *arg);
/* SIGHUP (sig.h): fn is called from the loop, between callbacks. Without
 * a reload hook, SIGHUP is ignored. */
void loop_on_reload(struct loop *l, int (*fn)(void *arg), void *arg);
/* SIGUSR1 (sig.h): a checkpoint is requested; fn is called from the loop,
 * between callbacks. Without a hook, the request is ignored. */
void loop_on_checkpoint(struct loop *l, int (*fn)(void *arg), void *arg);
/* A stop signal (sig.h's sig_stop): fn is called once, from the loop,
 * after the open inputs were ended with LOOP_END_STOP. A source that reads
 * no input but a descriptor (rtai-kafka: librdkafka's queue fd) stops
 * here: it calls loop_stop() and then ends its stream. Without a hook a
 * stop ends the inputs only, and watched descriptors keep the loop running
 * (a sink still waits for its acknowledgements). fn returns 0 or -1 (as
 * the callbacks). */
void loop_on_stop(struct loop *l, int (*fn)(void *arg), void *arg);

/* Outside a loop: waits up to timeout_ns (ns, >= 0) for the reader of the
 * pipe or socket fd (a writer's end) to go away, as poll(2) reports it
 * (POLLERR or POLLHUP on a descriptor polled for no event). Returns 1 when
 * the reader is gone (or fd is not open: POLLNVAL), 0 when the time ran
 * out or a signal came, -1 with errno set on another poll error. For a
 * source that, before its end-of-stream frame, waits while a stage
 * downstream may still complete its last checkpoint (rtai-kafka). */
int loop_wait_hangup(int fd, int64_t timeout_ns);

#endif
