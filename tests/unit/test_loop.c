/* test_loop.c - unit tests of lib/loop: several inputs on pipes (frames,
 * lines, sniffed), the order of their callbacks, control frames and the
 * default forwarding, pausing, plain descriptors, one-shot and periodic
 * timers, the flush of writers before the loop blocks, read errors, and
 * the signals of the signal table (SIGHUP, SIGUSR1, then a stop, and the
 * stop hook of a loop that watches a descriptor only). */
#include "config.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "frame.h"
#include "loop.h"
#include "rtime.h"
#include "sig.h"
#include "tap.h"

/* What the callbacks saw, in order, as a string of letters. */
static char seen[512];
static size_t nseen;

static void note(char c)
{
	if (nseen + 1 < sizeof(seen))
		seen[nseen++] = c;
	seen[nseen] = '\0';
}

static void reset(void)
{
	nseen = 0;
	seen[0] = '\0';
}

/* Writes a stream of the given kinds ('d' data, 'w' watermark, 'm' marker,
 * 'b' barrier) to a new pipe, closed unless keep is set; returns the read
 * end, and the write end in *wfd when kept. */
static int stream_pipe(const char *kinds, int keep, int *wfd)
{
	struct frame_wr w;
	int p[2];

	if (pipe(p) < 0)
		abort();
	wr_open_fd(&w, p[1], "pipe", 0);
	for (const char *k = kinds; *k != '\0'; k++) {
		switch (*k) {
		case 'd': wr_put(&w, RTAI_K_DATA, RTAI_E_RAW, 0, 1, 5, "x", 1); break;
		case 'w': wr_put(&w, RTAI_K_WATERMARK, RTAI_E_NONE, 0, 1, 7, NULL, 0); break;
		case 'm': wr_put(&w, RTAI_K_MARKER, RTAI_E_NONE, 0, 1, RTAI_TIME_UNSET, NULL, 0); break;
		case 'b': wr_put(&w, RTAI_K_BARRIER, RTAI_E_NONE, 0, 1, RTAI_TIME_UNSET, NULL, 0); break;
		}
	}
	if (keep) {
		wr_flush(&w);
		*wfd = dup(p[1]);
	}
	wr_close(&w);
	return p[0];
}

static int text_pipe(const char *text)
{
	int p[2];

	if (pipe(p) < 0 || write(p[1], text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(p[1]);
	return p[0];
}

/* ---- callbacks ------------------------------------------------------------ */

static int on_data(void *arg, struct frame_rd *rd, const struct frame *f)
{
	(void)arg;
	(void)rd;
	note(f->len == 1 && f->payload[0] == 'x' ? 'D' : '?');
	return 0;
}

static int on_control(void *arg, struct frame_rd *rd, const struct frame *f)
{
	struct loop *l = arg;

	(void)rd;
	note(f->kind == RTAI_K_WATERMARK ? 'W' : f->kind == RTAI_K_MARKER ? 'M' : 'C');
	return loop_forward(l, f);
}

static int on_line(void *arg, struct frame_rd *rd, const uint8_t *p, size_t n)
{
	(void)arg;
	(void)rd;
	note(n == 1 ? (char)p[0] : '?');
	return 0;
}

static int on_end(void *arg, struct frame_rd *rd, enum loop_end why)
{
	(void)arg;
	(void)rd;
	note(why == LOOP_END_EOF ? 'E' : why == LOOP_END_STOP ? 'S' : 'X');
	return 0;
}

static const struct loop_ops frame_ops = { .data = on_data, .control = on_control,
					    .line = on_line, .end = on_end };

/* ---- inputs --------------------------------------------------------------- */

/* Frames and lines from two pipes; the lines were added first, so they come
 * first; a marker is forwarded with this stage's stamp. */
static void test_inputs(void)
{
	struct loop *l = loop_new("test-stage");
	struct frame_rd a, b, o;
	struct frame_wr out;
	struct frame f;
	int op[2], n = 0, markers = 0, stamps = -1;

	rd_open_fd(&a, stream_pipe("dwdmd", 0, NULL), "a");
	rd_open_fd(&b, text_pipe("p\nq\r\nr"), "b");
	if (pipe(op) < 0)
		abort();
	wr_open_fd(&out, op[1], "out", 0);
	loop_set_output(l, &out);
	loop_add_input(l, &b, LOOP_LINES, &frame_ops, l);
	loop_add_input(l, &a, LOOP_FRAMES, &frame_ops, l);
	reset();
	is_int(loop_run(l), 0, "two inputs to their ends: loop_run returns 0");
	is_str(seen, "pqDWDMDrEE", "lines first (added first), then frames; the last line and the ends once the inputs end");
	ok(loop_err(l) == NULL, "no error message");
	wr_close(&out);
	rd_open_fd(&o, op[0], "out");
	while (rd_frame(&o, &f) == 1) {
		n++;
		if (f.kind == RTAI_K_MARKER) {
			markers++;
			stamps = marker_stamps(&f, NULL, NULL);
		}
	}
	is_int(n, 2, "loop_forward wrote the watermark and the marker");
	is_int(markers, 1, "one marker");
	is_int(stamps, 1, "with one stamp, this stage's");
	rd_close(&o);
	rd_close(&a);
	rd_close(&b);
	loop_free(l);
}

/* LOOP_SNIFF reads frames or lines by the first bytes. */
static void test_sniff(void)
{
	struct loop *l = loop_new("t");
	struct frame_rd a, b;
	struct loop_in *ia, *ib;

	rd_open_fd(&a, stream_pipe("dd", 0, NULL), "a");
	rd_open_fd(&b, text_pipe("u\nv\n"), "b");
	ia = loop_add_input(l, &a, LOOP_SNIFF, &frame_ops, l);
	ib = loop_add_input(l, &b, LOOP_SNIFF, &frame_ops, l);
	ok(!loop_is_stream(ia) && !loop_is_stream(ib), "nothing known before the first bytes");
	reset();
	is_int(loop_run(l), 0, "sniffed inputs run to their ends");
	is_str(seen, "DDuvEE", "the stream as frames, the text as lines");
	rd_close(&a);
	rd_close(&b);
	loop_free(l);
}

/* A callback's -1 ends the loop at once, without a message. */
static int fail_data(void *arg, struct frame_rd *rd, const struct frame *f)
{
	(void)arg;
	(void)rd;
	(void)f;
	note('F');
	return -1;
}

static void test_errors(void)
{
	static const struct loop_ops fail_ops = { .data = fail_data };
	static const struct loop_ops no_end = { .data = on_data };
	static const uint8_t bad[] = { 'R', 'T', 'A', 'I', 1, 0, 0, 0, 3, 0, 0, 0 };
	struct loop *l = loop_new("t");
	struct frame_rd a;
	int p[2];

	rd_open_fd(&a, stream_pipe("ddd", 0, NULL), "a");
	loop_add_input(l, &a, LOOP_FRAMES, &fail_ops, l);
	reset();
	is_int(loop_run(l), -1, "a callback's -1 ends loop_run with -1");
	is_str(seen, "F", "at the first record");
	ok(loop_err(l) == NULL, "the callback reported it: no loop message");
	rd_close(&a);
	loop_free(l);

	/* A frame length shorter than a header: a read error. */
	l = loop_new("t");
	if (pipe(p) < 0 || write(p[1], bad, sizeof(bad)) != (ssize_t)sizeof(bad))
		abort();
	close(p[1]);
	rd_open_fd(&a, p[0], "bad");
	loop_add_input(l, &a, LOOP_FRAMES, &no_end, l);
	is_int(loop_run(l), -1, "a read error without end() ends loop_run with -1");
	ok(loop_err(l) != NULL && strncmp(loop_err(l), "bad: byte 8: ", 13) == 0,
	   "loop_err names the input and the byte: %s", loop_err(l) ? loop_err(l) : "(null)");
	rd_close(&a);
	loop_free(l);

	l = loop_new("t");
	if (pipe(p) < 0 || write(p[1], bad, sizeof(bad)) != (ssize_t)sizeof(bad))
		abort();
	close(p[1]);
	rd_open_fd(&a, p[0], "bad");
	loop_add_input(l, &a, LOOP_FRAMES, &frame_ops, l);
	reset();
	is_int(loop_run(l), 0, "with end(), the tool decides: here it goes on");
	is_str(seen, "X", "end() saw LOOP_END_ERROR");
	rd_close(&a);
	loop_free(l);
}

/* ---- pausing, descriptors, timers ----------------------------------------- */

static struct loop_in *paused_in;
static struct loop_timer *resume_timer;

static int pause_data(void *arg, struct frame_rd *rd, const struct frame *f)
{
	(void)arg;
	(void)rd;
	(void)f;
	note('D');
	loop_pause(paused_in, 1);
	loop_timer_after(resume_timer, 0);
	return 0;
}

static int resume(void *arg)
{
	(void)arg;
	note('R');
	loop_pause(paused_in, 0);
	return 0;
}

static void test_pause(void)
{
	static const struct loop_ops ops = { .data = pause_data, .end = on_end };
	struct loop *l = loop_new("t");
	struct frame_rd a;

	rd_open_fd(&a, stream_pipe("ddd", 0, NULL), "a");
	paused_in = loop_add_input(l, &a, LOOP_FRAMES, &ops, l);
	resume_timer = loop_timer_new(l, resume, NULL);
	reset();
	is_int(loop_run(l), 0, "a paused input resumed by a timer runs to its end");
	is_str(seen, "DRDRDRE", "one record per resumption: nothing handed out while paused");
	rd_close(&a);
	loop_free(l);
}

/* A plain descriptor; the loop ends when no input is open and it is no
 * longer watched. */
static struct loop_fd *watch;
static int watched_fd;

static int on_fd(void *arg, short revents)
{
	char c;

	(void)arg;
	if (revents & POLLIN) {
		if (read(watched_fd, &c, 1) == 1) {
			note(c);
			return 0;
		}
	}
	note('H');
	loop_fd_set(watch, -1, 0);
	return 0;
}

static void test_fd(void)
{
	struct loop *l = loop_new("t");

	watched_fd = text_pipe("xyz");
	watch = loop_add_fd(l, watched_fd, POLLIN, on_fd, NULL);
	reset();
	is_int(loop_run(l), 0, "a watched descriptor keeps the loop running");
	is_str(seen, "xyzH", "its bytes, then its end; unwatched, the loop ends");
	close(watched_fd);
	loop_free(l);
}

/* Timers with an input that stays open: a periodic timer fires until it
 * stops the loop, a one-shot fires once; the writer is flushed before the
 * loop blocks, so the output pipe holds the record when a timer fires. */
static int ticks, shots, flushed_before;
static int out_r;
static struct loop *tl;

static int on_tick(void *arg)
{
	struct pollfd p = { .fd = out_r, .events = POLLIN };

	(void)arg;
	if (++ticks == 1)
		flushed_before = poll(&p, 1, 0) == 1;
	if (ticks == 4)
		loop_stop(tl);
	return 0;
}

static int on_shot(void *arg)
{
	(void)arg;
	shots++;
	return 0;
}

static int copy_data(void *arg, struct frame_rd *rd, const struct frame *f)
{
	(void)rd;
	wr_frame(arg, f);
	return 0;
}

static void test_timers(void)
{
	static const struct loop_ops ops = { .data = copy_data };
	struct loop_timer *tick, *shot, *never;
	struct frame_rd a;
	struct frame_wr out;
	int wfd = -1, op[2];

	tl = loop_new("t");
	rd_open_fd(&a, stream_pipe("d", 1, &wfd), "a");
	if (pipe(op) < 0)
		abort();
	out_r = op[0];
	wr_open_fd(&out, op[1], "out", 0);
	loop_add_writer(tl, &out);
	loop_add_input(tl, &a, LOOP_FRAMES, &ops, &out);
	tick = loop_timer_new(tl, on_tick, NULL);
	shot = loop_timer_new(tl, on_shot, NULL);
	never = loop_timer_new(tl, on_shot, NULL);
	loop_timer_every(tick, 5 * (RTAI_NS_PER_SEC / 1000));
	loop_timer_after(shot, 1 * (RTAI_NS_PER_SEC / 1000));
	loop_timer_at(never, cli_mono_ns() + 3600 * RTAI_NS_PER_SEC);
	loop_timer_at(never, INT64_MAX);
	is_int(loop_run(tl), 0, "stopped by a timer with the input still open");
	is_int(ticks, 4, "the periodic timer fired until it stopped the loop");
	is_int(shots, 1, "the one-shot fired once; the disarmed one never");
	ok(flushed_before, "the output was flushed before the loop blocked");
	close(wfd);
	wr_close(&out);
	close(out_r);
	rd_close(&a);
	loop_free(tl);
}

/* ---- signals ----------------------------------------------------------------- */

static int reloads, checkpoints;

static int on_reload(void *arg)
{
	(void)arg;
	reloads++;
	note('H');
	return 0;
}

static int on_checkpoint(void *arg)
{
	(void)arg;
	checkpoints++;
	note('U');
	return 0;
}

static int raise_data(void *arg, struct frame_rd *rd, const struct frame *f)
{
	static const int sigs[] = { SIGHUP, SIGUSR1, SIGTERM };
	int *i = arg;

	(void)rd;
	(void)f;
	note('D');
	if (*i < 3)
		raise(sigs[(*i)++]);
	return 0;
}

static int raise_tick(void *arg)
{
	(void)arg;
	raise(SIGINT);
	return 0;
}

static int raise_term(void *arg)
{
	(void)arg;
	raise(SIGTERM);		/* a second SIGINT would abort (sig.h) */
	return 0;
}

static int stops;

static int stop_loop(void *arg)
{
	stops++;
	loop_stop(arg);
	return 0;
}

static void test_signals(void)
{
	static const struct loop_ops ops = { .data = raise_data, .end = on_end };
	struct loop *l = loop_new("t");
	struct frame_rd a, b;
	int i = 0, wfd = -1, wfd2 = -1, fds[2];

	sig_catch_stop();
	sig_set_source(1);	/* a source: the first stop signal sets sig_stop */
	/* Reload, checkpoint, then a stop: the frames buffered before it are
	 * still handed out, and the open input ends with LOOP_END_STOP. */
	rd_open_fd(&a, stream_pipe("dddd", 1, &wfd), "a");
	loop_on_reload(l, on_reload, NULL);
	loop_on_checkpoint(l, on_checkpoint, NULL);
	loop_add_input(l, &a, LOOP_FRAMES, &ops, &i);
	reset();
	is_int(loop_run(l), 0, "a stop signal ends loop_run with 0");
	is_str(seen, "DDDDHUS", "what was buffered, then reload, checkpoint, and the stop");
	is_int(reloads, 1, "SIGHUP called the reload hook once");
	is_int(checkpoints, 1, "SIGUSR1 called the checkpoint hook once");
	ok(loop_stopped(l), "loop_stopped says so");
	close(wfd);
	rd_close(&a);
	loop_free(l);

	/* A signal while the loop waits in poll() wakes it. */
	sig_stop = 0;
	l = loop_new("t");
	rd_open_fd(&b, stream_pipe("", 1, &wfd2), "b");
	loop_add_input(l, &b, LOOP_FRAMES, &frame_ops, l);
	loop_timer_after(loop_timer_new(l, raise_tick, NULL), (RTAI_NS_PER_SEC / 1000));
	reset();
	is_int(loop_run(l), 0, "woken from poll() by the stop signal");
	is_str(seen, "S", "the waiting input ended with LOOP_END_STOP");
	close(wfd2);
	rd_close(&b);
	loop_free(l);

	/* A source watching a descriptor only: the stop hook ends the loop. */
	sig_stop = 0;
	l = loop_new("t");
	if (pipe(fds) < 0)
		abort();
	watched_fd = fds[0];
	watch = loop_add_fd(l, fds[0], POLLIN, on_fd, NULL);
	loop_on_stop(l, stop_loop, l);
	loop_timer_after(loop_timer_new(l, raise_term, NULL), (RTAI_NS_PER_SEC / 1000));
	reset();
	stops = 0;
	is_int(loop_run(l), 0, "a descriptor-only loop ends through its stop hook");
	is_int(stops, 1, "the stop hook was called once");
	is_str(seen, "", "the quiet descriptor was never called");
	close(fds[0]);
	close(fds[1]);
	loop_free(l);
}

/* loop_wait_hangup: the time runs out while the pipe's reader is there;
 * 1 once it has closed its end. */
static void test_hangup(void)
{
	int fds[2];

	ok(pipe(fds) == 0, "a pipe");
	is_int(loop_wait_hangup(fds[1], 10 * 1000000LL), 0, "the reader is there: 0 after the timeout");
	close(fds[0]);
	is_int(loop_wait_hangup(fds[1], 1000 * 1000000LL), 1, "the reader closed its end: 1");
	close(fds[1]);
}

int main(void)
{
	cli_init("test_loop", NULL);
	signal(SIGPIPE, SIG_IGN);
	test_inputs();
	test_sniff();
	test_errors();
	test_pause();
	test_fd();
	test_timers();
	test_hangup();
	test_signals();	/* last: a stop signal is never taken back */
	return tap_done();
}
