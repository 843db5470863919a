/* loop.c - the event loop every tool runs on (see loop.h). */
#include "config.h"
#include "loop.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "rtime.h"
#include "sig.h"

struct loop_in {
	struct loop *l;
	struct frame_rd *rd;
	enum loop_mode mode;
	int stream;			/* LOOP_SNIFF: -1 until known */
	const struct loop_ops *ops;
	void *arg;
	int paused;
	int open;			/* until end() was called */
	int pfd;			/* its slot in the poll set, or -1 */
};

struct loop_fd {
	int fd;
	short events;
	int (*fn)(void *arg, short revents);
	void *arg;
	int pfd;
};

struct loop_timer {
	int64_t due;			/* INT64_MAX: not armed */
	int64_t period;			/* 0: one-shot */
	int (*fn)(void *arg);
	void *arg;
};

struct hook {
	int (*fn)(void *arg);
	void *arg;
};

struct loop {
	const char *stage;
	struct loop_in **ins;
	size_t nins, cins;
	struct loop_fd **fds;
	size_t nfds, cfds;
	struct loop_timer **timers;
	size_t ntimers, ctimers;
	struct frame_wr **wrs;
	size_t nwrs, cwrs;
	struct hook *drained;
	size_t ndrained, cdrained;
	struct hook reload, checkpoint, stop_hook;
	struct frame_wr *out;
	struct pollfd *pfds;
	size_t cpfds;
	int stop;			/* loop_stop() */
	int stopped;			/* a stop signal ended the inputs */
	int failed;			/* a read or poll error: err is set */
	char err[300];
};

/* Grows an array of n elements of size sz held in *p with capacity *cap
 * so that one more fits. */
static void grow(void *p, size_t n, size_t *cap, size_t sz)
{
	void **pp = p;

	if (n < *cap)
		return;
	*cap = *cap ? *cap * 2 : 4;
	*pp = xrealloc(*pp, *cap * sz);
}

struct loop *loop_new(const char *stage)
{
	struct loop *l = xcalloc(1, sizeof(*l));

	l->stage = stage;
	return l;
}

void loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->nins; i++)
		free(l->ins[i]);
	for (size_t i = 0; i < l->nfds; i++)
		free(l->fds[i]);
	for (size_t i = 0; i < l->ntimers; i++)
		free(l->timers[i]);
	free(l->ins);
	free(l->fds);
	free(l->timers);
	free(l->wrs);
	free(l->drained);
	free(l->pfds);
	free(l);
}

void loop_stop(struct loop *l)
{
	l->stop = 1;
}

const char *loop_err(const struct loop *l)
{
	return l->failed ? l->err : NULL;
}

int loop_stopped(const struct loop *l)
{
	return l->stopped;
}

/* ---- registration ------------------------------------------------------ */

struct loop_in *loop_add_input(struct loop *l, struct frame_rd *rd, enum loop_mode mode,
			       const struct loop_ops *ops, void *arg)
{
	struct loop_in *in = xcalloc(1, sizeof(*in));

	*in = (struct loop_in){ .l = l, .rd = rd, .mode = mode, .stream = -1, .ops = ops,
				.arg = arg, .open = 1, .pfd = -1 };
	if (mode == LOOP_FRAMES)
		in->stream = 1;
	else if (mode == LOOP_LINES)
		in->stream = 0;
	grow(&l->ins, l->nins, &l->cins, sizeof(*l->ins));
	l->ins[l->nins++] = in;
	return in;
}

void loop_pause(struct loop_in *in, int paused)
{
	in->paused = paused;
}

int loop_is_stream(const struct loop_in *in)
{
	return in->stream == 1;
}

struct loop_fd *loop_add_fd(struct loop *l, int fd, short events,
			    int (*fn)(void *arg, short revents), void *arg)
{
	struct loop_fd *w = xcalloc(1, sizeof(*w));

	*w = (struct loop_fd){ .fd = fd, .events = events, .fn = fn, .arg = arg, .pfd = -1 };
	grow(&l->fds, l->nfds, &l->cfds, sizeof(*l->fds));
	l->fds[l->nfds++] = w;
	return w;
}

void loop_fd_set(struct loop_fd *w, int fd, short events)
{
	w->fd = fd;
	w->events = events;
}

struct loop_timer *loop_timer_new(struct loop *l, int (*fn)(void *arg), void *arg)
{
	struct loop_timer *t = xcalloc(1, sizeof(*t));

	*t = (struct loop_timer){ .due = INT64_MAX, .fn = fn, .arg = arg };
	grow(&l->timers, l->ntimers, &l->ctimers, sizeof(*l->timers));
	l->timers[l->ntimers++] = t;
	return t;
}

void loop_timer_at(struct loop_timer *t, int64_t t_mono)
{
	t->due = t_mono;
	t->period = 0;
}

void loop_timer_after(struct loop_timer *t, int64_t ns)
{
	int64_t now = cli_mono_ns();

	t->period = 0;
	if (ns < 0)
		t->due = INT64_MAX;
	else
		t->due = ns > INT64_MAX - 1 - now ? INT64_MAX - 1 : now + ns;
}

void loop_timer_every(struct loop_timer *t, int64_t period)
{
	loop_timer_after(t, period);
	t->period = period > 0 ? period : 0;
}

void loop_add_writer(struct loop *l, struct frame_wr *w)
{
	for (size_t i = 0; i < l->nwrs; i++)
		if (l->wrs[i] == w)
			return;
	grow(&l->wrs, l->nwrs, &l->cwrs, sizeof(*l->wrs));
	l->wrs[l->nwrs++] = w;
}

void loop_set_output(struct loop *l, struct frame_wr *w)
{
	l->out = w;
	if (w != NULL)
		loop_add_writer(l, w);
}

void loop_on_drained(struct loop *l, int (*fn)(void *arg), void *arg)
{
	grow(&l->drained, l->ndrained, &l->cdrained, sizeof(*l->drained));
	l->drained[l->ndrained++] = (struct hook){ fn, arg };
}

void loop_on_reload(struct loop *l, int (*fn)(void *arg), void *arg)
{
	l->reload = (struct hook){ fn, arg };
}

void loop_on_checkpoint(struct loop *l, int (*fn)(void *arg), void *arg)
{
	l->checkpoint = (struct hook){ fn, arg };
}

void loop_on_stop(struct loop *l, int (*fn)(void *arg), void *arg)
{
	l->stop_hook = (struct hook){ fn, arg };
}

int loop_forward(struct loop *l, const struct frame *f)
{
	if (l->out == NULL)
		return 0;
	if (f->kind == RTAI_K_MARKER)
		wr_marker(l->out, f, l->stage);
	else
		wr_frame(l->out, f);
	return 0;
}

/* ---- handing out ------------------------------------------------------- */

/* Ends an input: its end() callback, then it is closed. Returns the
 * callback's result; without one, a read error fails the loop. */
static int end_input(struct loop_in *in, enum loop_end why)
{
	struct loop *l = in->l;

	in->open = 0;
	if (in->ops->end != NULL)
		return in->ops->end(in->arg, in->rd, why);
	if (why == LOOP_END_ERROR) {
		snprintf(l->err, sizeof(l->err), "%s", in->rd->err);
		l->failed = 1;
		return -1;
	}
	return 0;
}

/* Whether the input starts like an rtai stream, from what is buffered:
 * 1, 0, or 2 when fewer than 4 bytes are there and more may come. */
static int sniff(struct loop_in *in)
{
	int s = rd_is_stream_buffered(in->rd);

	if (s != 2)
		in->stream = s;
	return s;
}

/* Hands out every frame complete in the buffer. Returns 0, or -1. */
static int pump_frames(struct loop_in *in)
{
	const struct loop_ops *ops = in->ops;
	struct loop *l = in->l;
	struct frame_rd *rd = in->rd;
	struct frame f;
	int st, rc;

	while (!in->paused && !l->stop) {
		st = rd_frame_buffered(rd, &f);
		if (st == 2)
			return 0;
		if (st != 1)
			return end_input(in, st == 0 ? LOOP_END_EOF : LOOP_END_ERROR);
		if (f.kind == RTAI_K_DATA)
			rc = ops->data != NULL ? ops->data(in->arg, rd, &f) : 0;
		else
			rc = ops->control != NULL ? ops->control(in->arg, rd, &f) : loop_forward(l, &f);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Hands out every line complete in the buffer. Returns 0, or -1. */
static int pump_lines(struct loop_in *in)
{
	struct loop *l = in->l;
	const uint8_t *p;
	size_t n;
	int st;

	while (!in->paused && !l->stop) {
		st = rd_line_buffered(in->rd, &p, &n);
		if (st == 2)
			return 0;
		if (st != 1)
			return end_input(in, st == 0 ? LOOP_END_EOF : LOOP_END_ERROR);
		if (in->ops->line != NULL && in->ops->line(in->arg, in->rd, p, n) < 0)
			return -1;
	}
	return 0;
}

static int pump(struct loop_in *in)
{
	if (in->stream < 0 && sniff(in) == 2)
		return 0;
	return in->stream ? pump_frames(in) : pump_lines(in);
}

/* Drops the inputs that have ended. */
static void forget_ended(struct loop *l)
{
	size_t j = 0;

	for (size_t i = 0; i < l->nins; i++) {
		if (l->ins[i]->open)
			l->ins[j++] = l->ins[i];
		else
			free(l->ins[i]);
	}
	l->nins = j;
}

static int call_hook(const struct hook *h)
{
	return h->fn != NULL ? h->fn(h->arg) : 0;
}

/* Signals that arrived since the last look. Returns 0, or -1. */
static int take_signals(struct loop *l)
{
	if (sig_reload) {
		sig_reload = 0;
		if (call_hook(&l->reload) < 0)
			return -1;
	}
	if (sig_checkpoint) {
		sig_checkpoint = 0;
		if (call_hook(&l->checkpoint) < 0)
			return -1;
	}
	if (sig_stop && !l->stopped) {
		l->stopped = 1;
		for (size_t i = 0; i < l->nins; i++)
			if (l->ins[i]->open && end_input(l->ins[i], LOOP_END_STOP) < 0)
				return -1;
		if (call_hook(&l->stop_hook) < 0)
			return -1;
	}
	return 0;
}

/* ---- timers -------------------------------------------------------------- */

static int64_t next_due(const struct loop *l)
{
	int64_t due = INT64_MAX;

	for (size_t i = 0; i < l->ntimers; i++)
		if (l->timers[i]->due < due)
			due = l->timers[i]->due;
	return due;
}

/* Fires the timers that are due. Returns 0, or -1. */
static int fire_timers(struct loop *l)
{
	int64_t now;

	if (next_due(l) == INT64_MAX)
		return 0;
	now = cli_mono_ns();
	for (size_t i = 0; i < l->ntimers && !l->stop; i++) {
		struct loop_timer *t = l->timers[i];

		if (t->due > now)
			continue;
		if (t->period > 0) {
			t->due += t->period;
			if (t->due <= now)
				t->due = now + t->period;
		} else {
			t->due = INT64_MAX;
		}
		if (t->fn(t->arg) < 0)
			return -1;
	}
	return 0;
}

/* ---- reading --------------------------------------------------------------- */

static int read_error(struct loop_in *in)
{
	return end_input(in, LOOP_END_ERROR);
}

/* Reads the inputs that can make progress without waiting. Returns 1 if
 * one did, 0 if none could, -1. */
static int fill_ready(struct loop *l)
{
	int any = 0;

	for (size_t i = 0; i < l->nins; i++) {
		struct loop_in *in = l->ins[i];

		if (!in->open || in->paused || !rd_fill_ready(in->rd))
			continue;
		any = 1;
		if (rd_fill(in->rd) < 0 && read_error(in) < 0)
			return -1;
	}
	return any;
}

/* Waits in poll() for an input, a descriptor or the next timer, flushing
 * the writers first when it would block, and reads what is ready. Returns
 * 0, or -1. */
static int wait_and_read(struct loop *l)
{
	size_t n = 0;
	int64_t due;
	int rc, timeout;

	if (l->cpfds < l->nins + l->nfds) {
		l->cpfds = l->nins + l->nfds;
		l->pfds = xrealloc(l->pfds, l->cpfds * sizeof(*l->pfds));
	}
	for (size_t i = 0; i < l->nins; i++) {
		struct loop_in *in = l->ins[i];

		in->pfd = -1;
		if (!in->open || in->paused)
			continue;
		in->pfd = (int)n;
		l->pfds[n++] = (struct pollfd){ .fd = in->rd->fd, .events = POLLIN };
	}
	for (size_t i = 0; i < l->nfds; i++) {
		struct loop_fd *w = l->fds[i];

		w->pfd = -1;
		if (w->fd < 0 || w->events == 0)
			continue;
		w->pfd = (int)n;
		l->pfds[n++] = (struct pollfd){ .fd = w->fd, .events = w->events };
	}
	rc = poll(l->pfds, (nfds_t)n, 0);
	if (rc == 0) {
		for (size_t i = 0; i < l->nwrs; i++)
			wr_flush(l->wrs[i]);
		due = next_due(l);
		timeout = -1;
		if (due != INT64_MAX) {
			int64_t ms = due - cli_mono_ns();

			ms = ms <= 0 ? 0 : (ms + 999999) / 1000000;
			timeout = ms > INT_MAX ? INT_MAX : (int)ms;
		}
		if (sig_stop || sig_reload || sig_checkpoint)
			return 0;	/* arrived just now: take them first */
		rc = poll(l->pfds, (nfds_t)n, timeout);
	}
	if (rc < 0) {
		if (errno == EINTR)
			return 0;
		snprintf(l->err, sizeof(l->err), "poll: %s", strerror(errno));
		l->failed = 1;
		return -1;
	}
	if (rc == 0)		/* a timer is due: before hooks re-arm it */
		return fire_timers(l);
	for (size_t i = 0; i < l->nins; i++) {
		struct loop_in *in = l->ins[i];

		if (in->pfd < 0 || l->pfds[in->pfd].revents == 0)
			continue;
		if (rd_fill(in->rd) < 0 && read_error(in) < 0)
			return -1;
	}
	for (size_t i = 0; i < l->nfds && !l->stop; i++) {
		struct loop_fd *w = l->fds[i];

		if (w->pfd < 0 || l->pfds[w->pfd].revents == 0)
			continue;
		if (w->fn(w->arg, l->pfds[w->pfd].revents) < 0)
			return -1;
	}
	return 0;
}

/* Whether anything can still happen: an open input or a watched
 * descriptor. */
static int alive(const struct loop *l)
{
	for (size_t i = 0; i < l->nins; i++)
		if (l->ins[i]->open)
			return 1;
	for (size_t i = 0; i < l->nfds; i++)
		if (l->fds[i]->fd >= 0 && l->fds[i]->events != 0)
			return 1;
	return 0;
}

int loop_run(struct loop *l)
{
	int rc = 0;

	l->stop = 0;
	l->failed = 0;
	l->err[0] = '\0';
	while (!l->stop) {
		for (size_t i = 0; i < l->nins && !l->stop; i++) {
			struct loop_in *in = l->ins[i];

			if (in->open && !in->paused && pump(in) < 0) {
				rc = -1;
				goto out;
			}
		}
		if (l->stop)
			break;
		for (size_t i = 0; i < l->ndrained; i++)
			if (call_hook(&l->drained[i]) < 0) {
				rc = -1;
				goto out;
			}
		if (take_signals(l) < 0 || fire_timers(l) < 0) {
			rc = -1;
			goto out;
		}
		forget_ended(l);
		if (l->stop || !alive(l))
			break;
		rc = fill_ready(l);
		if (rc < 0)
			goto out;
		if (rc == 0 && wait_and_read(l) < 0) {
			rc = -1;
			goto out;
		}
		rc = 0;
	}
out:
	forget_ended(l);
	return rc;
}

int loop_wait_hangup(int fd, int64_t timeout_ns)
{
	struct pollfd pfd = { .fd = fd, .events = 0 };
	int r = poll(&pfd, 1, (int)(timeout_ns / 1000000));

	if (r < 0)
		return errno == EINTR ? 0 : -1;
	return r > 0 && (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0;
}
