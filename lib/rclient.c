/* rclient.c - the Redis client of rtai: one pipelined, non-blocking
 * connection and the queue of its unacknowledged commands.
 *
 * Commands are appended to one buffer as RESP bytes and stay there until
 * their entry is settled: "sent" moves forward as the socket takes them,
 * and back to "acked" when the connection is lost, so they go out again.
 * Positions are offsets in the stream of all commands ever queued (buffer
 * byte 0 is at cmd_base), so compacting the buffer moves no entry.
 */
#include "config.h"
#include "rclient.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "frame.h"
#include "resp.h"
#include "rtime.h"
#include "sha1.h"
#include "sig.h"

struct rcl_ent {
	uint64_t end;			/* stream offset just past its commands */
	uint64_t key_off;		/* its key (stream offset), or UINT64_MAX */
	uint64_t tag, tag2;
	uint32_t klen;
	uint32_t nreply;		/* replies awaited */
	uint32_t got;			/* replies received */
};

static inline struct rcl_ent *ent_at(const struct rcl *c, size_t i)
{
	return &c->e[(c->head + i) % c->cap];
}

/* ---- replies, parsed without allocating -----------------------------------
 * hiredis's reader calls these per reply element; they copy what a done
 * callback needs into c->rstr and c->relem, which are reused. Element
 * strings are kept as offsets (in str) until the reply is whole, since
 * rstr may move as it grows. */

static void *top(struct rcl *c, const redisReadTask *t)
{
	buf_reset(&c->rstr);
	buf_reset(&c->relem);
	memset(&c->reply, 0, sizeof(c->reply));
	c->reply.type = t->type;
	return c;
}

static void *r_string(const redisReadTask *t, char *s, size_t n)
{
	struct rcl *c = t->privdata;
	size_t off;

	if (t->parent == NULL)
		top(c, t);
	else if (t->parent->parent != NULL)
		return c;	/* deeper than one level: left out */
	off = c->rstr.len;
	buf_append(&c->rstr, s, n);
	buf_putc(&c->rstr, '\0');
	if (t->parent == NULL) {
		c->reply_off = off;
		c->reply.len = n;
	} else {
		struct rcl_elem e = { .type = t->type, .str = (const char *)(uintptr_t)off,
				      .len = n };

		buf_append(&c->relem, &e, sizeof(e));
	}
	return c;
}

static void *r_other(const redisReadTask *t, int type, long long v)
{
	struct rcl *c = t->privdata;

	if (t->parent == NULL) {
		top(c, t);
		c->reply.type = type;
		c->reply.integer = v;
	} else if (t->parent->parent == NULL) {
		struct rcl_elem e = { .type = type, .integer = v };

		buf_append(&c->relem, &e, sizeof(e));
	}
	return c;
}

static void *r_array(const redisReadTask *t, int n)
{
	return r_other(t, REDIS_REPLY_ARRAY, n);
}

static void *r_integer(const redisReadTask *t, long long v)
{
	return r_other(t, REDIS_REPLY_INTEGER, v);
}

static void *r_nil(const redisReadTask *t)
{
	return r_other(t, REDIS_REPLY_NIL, 0);
}

static void r_free(void *p)
{
	(void)p;
}

static redisReplyObjectFunctions reply_fns = {
	.createString = r_string,
	.createArray = r_array,
	.createInteger = r_integer,
	.createNil = r_nil,
	.freeObject = r_free,
};

/* Makes c->reply point at its strings and elements, now that it is whole. */
static void reply_finish(struct rcl *c)
{
	struct rcl_elem *e = (struct rcl_elem *)c->relem.p;
	size_t n = c->relem.len / sizeof(*e);

	if (c->reply.type == REDIS_REPLY_STRING || c->reply.type == REDIS_REPLY_STATUS ||
	    c->reply.type == REDIS_REPLY_ERROR)
		c->reply.str = (const char *)c->rstr.p + c->reply_off;
	for (size_t i = 0; i < n; i++)
		if (e[i].type == REDIS_REPLY_STRING || e[i].type == REDIS_REPLY_STATUS ||
		    e[i].type == REDIS_REPLY_ERROR)
			e[i].str = (const char *)c->rstr.p + (uintptr_t)e[i].str;
	c->reply.n = n;
	c->reply.elem = e;
}

/* ---- set-up ---------------------------------------------------------------- */

int rcl_init(struct rcl *c, const char *url, rcl_done_fn done, void *arg, char *err,
	     size_t errlen)
{
	memset(c, 0, sizeof(*c));
	if (rurl_parse(&c->url, url, err, errlen) < 0)
		return -1;
	c->done = done;
	c->arg = arg;
	return 0;
}

void rcl_init_dry(struct rcl *c)
{
	memset(c, 0, sizeof(*c));
	c->dry = 1;
}

void rcl_script(struct rcl *c, const char *lua, size_t len, char sha[41])
{
	c->script = xrealloc(c->script, (c->nscript + 1) * sizeof(*c->script));
	c->script_len = xrealloc(c->script_len, (c->nscript + 1) * sizeof(*c->script_len));
	c->script[c->nscript] = xstrndup(lua, len);
	c->script_len[c->nscript] = len;
	c->nscript++;
	sha1_hex(lua, len, sha);
}

void rcl_free(struct rcl *c)
{
	if (c == NULL)
		return;
	if (c->ctx != NULL)
		redisFree(c->ctx);
	if (c->reader != NULL)
		redisReaderFree(c->reader);
	for (size_t i = 0; i < c->nscript; i++)
		free(c->script[i]);
	free(c->script);
	free(c->script_len);
	free(c->e);
	buf_free(&c->cmd);
	buf_free(&c->rstr);
	buf_free(&c->relem);
	buf_free(&c->first_err);
	buf_free(&c->dry_text);
	rurl_free(&c->url);
	memset(c, 0, sizeof(*c));
}

/* ---- connecting ------------------------------------------------------------ */

static int fail(struct rcl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct rcl *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->failed) {
		va_start(ap, fmt);
		vsnprintf(c->err, sizeof(c->err), fmt, ap);
		va_end(ap);
		c->failed = 1;
	}
	if (c->ctx != NULL)
		redisFree(c->ctx);
	c->ctx = NULL;
	return -1;
}

/* Loads the scripts on the fresh blocking connection. */
static int load_scripts(struct rcl *c, redisContext *ctx, char *err, size_t errlen)
{
	for (size_t i = 0; i < c->nscript; i++) {
		const char *argv[3] = { "SCRIPT", "LOAD", c->script[i] };
		size_t len[3] = { 6, 4, c->script_len[i] };
		redisReply *r = redisCommandArgv(ctx, 3, argv, len);
		char sha[41];

		sha1_hex(c->script[i], c->script_len[i], sha);
		if (r == NULL || r->type != REDIS_REPLY_STRING || strcmp(r->str, sha) != 0) {
			snprintf(err, errlen, "%s: SCRIPT LOAD: %s", c->url.shown,
				 r == NULL ? ctx->errstr
				 : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
			freeReplyObject(r);
			return -1;
		}
		freeReplyObject(r);
	}
	return 0;
}

/* One attempt, then (when it may help) more until retry_for has passed,
 * sleeping from 50ms doubling up to 1s, as rurl_connect_retry() does; the
 * first failure says at once that it goes on trying, and for how long. */
static redisContext *connect_retrying(struct rcl *c, char *err, size_t errlen)
{
	int64_t start = rtai_mono_ns(), wait = 50000000, left;
	redisContext *ctx;
	int retry, announced = 0;

	for (;;) {
		left = start + c->retry_for - rtai_mono_ns();
		/* Each attempt may take what is left, within [200ms, 5s]; a
		 * single attempt, 5s. */
		if (left < 200000000 && c->retry_for > 0)
			left = 200000000;
		if (left < 200000000)
			left = 5 * RTAI_NS_PER_SEC;
		if (left > 5 * RTAI_NS_PER_SEC)
			left = 5 * RTAI_NS_PER_SEC;
		ctx = rurl_connect(&c->url, left, &retry, err, errlen);
		if (ctx != NULL || !retry)
			return ctx;
		left = start + c->retry_for - rtai_mono_ns();
		if (left <= 0 || sig_stop)
			break;
		if (!announced) {
			char d[RTAI_TIME_BUFSZ];

			rtai_fmt_duration(c->retry_for, d);
			rtai_warn("%s; trying again for up to %s%s%s%s", err, d,
				  c->retry_opt ? " (" : "", c->retry_opt ? c->retry_opt : "",
				  c->retry_opt ? ")" : "");
			announced = 1;
		}
		rtai_sleep_until_mono(rtai_mono_ns() + (wait < left ? wait : left));
		if (sig_stop)
			break;
		wait = wait * 2 > RTAI_NS_PER_SEC ? RTAI_NS_PER_SEC : wait * 2;
	}
	if (sig_stop) {
		snprintf(err, errlen, "%s: interrupted while connecting", c->url.shown);
	} else if (c->retry_for > 0) {
		char d[RTAI_TIME_BUFSZ];
		size_t n = strlen(err);

		rtai_fmt_duration(rtai_mono_ns() - start, d);
		snprintf(err + n, n < errlen ? errlen - n : 0, " (gave up after %s)%s%s%s", d,
			 c->retry_opt ? "; " : "", c->retry_opt ? c->retry_opt : "",
			 c->retry_opt ? " waits longer" : "");
	}
	return NULL;
}

int rcl_connect(struct rcl *c)
{
	char err[sizeof(c->err)];
	int fl;

	if (c->failed)
		return -1;
	if (c->ctx != NULL || c->dry)
		return 0;
	c->ctx = connect_retrying(c, err, sizeof(err));
	if (c->ctx == NULL)
		return fail(c, "%s", err);
	if (load_scripts(c, c->ctx, err, sizeof(err)) < 0)
		return fail(c, "%s", err);
	fl = fcntl(c->ctx->fd, F_GETFL);
	if (fl < 0 || fcntl(c->ctx->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return fail(c, "%s: fcntl: %s", c->url.shown, strerror(errno));
	if (c->reader != NULL)
		redisReaderFree(c->reader);
	c->reader = redisReaderCreateWithFunctions(&reply_fns);
	if (c->reader == NULL)
		return fail(c, "%s: out of memory", c->url.shown);
	c->reader->privdata = c;
	c->connects++;
	if (c->verbose)
		rtai_warn("connected to %s", c->url.shown);
	return 0;
}

/* The connection is gone (or must be reopened): everything not settled is
 * sent again on the next one. */
static void lost(struct rcl *c, const char *why)
{
	uint64_t start = c->acked, resend = 0;

	for (size_t i = 0; i < c->n; i++) {
		struct rcl_ent *e = ent_at(c, i);

		if (start < c->sent)
			resend++;
		e->got = 0;
		start = e->end;
	}
	c->has_err = 0;
	c->retried += resend;
	c->sent = c->acked;
	redisFree(c->ctx);
	c->ctx = NULL;
	if (resend > 0)
		rtai_warn("%s: %s; reconnecting to send %llu unacknowledged commands again",
			  c->url.shown, why, (unsigned long long)resend);
	else if (c->verbose)
		rtai_warn("%s: %s; reconnecting when there is more to write", c->url.shown, why);
}

/* ---- queueing ---------------------------------------------------------------- */

void rcl_begin(struct rcl *c)
{
	c->mark = c->cmd.len;
	c->ncmd = 0;
	c->key_off = UINT64_MAX;
	c->klen = 0;
}

void rcl_cmd(struct rcl *c, size_t argc)
{
	resp_array(&c->cmd, argc);
	c->ncmd++;
}

void rcl_arg(struct rcl *c, const void *p, size_t n)
{
	resp_bulk(&c->cmd, p, n);
}

void rcl_argz(struct rcl *c, const char *s)
{
	resp_bulk(&c->cmd, s, strlen(s));
}

void rcl_arg_int(struct rcl *c, long long v)
{
	char tmp[24];

	resp_bulk(&c->cmd, tmp, (size_t)snprintf(tmp, sizeof(tmp), "%lld", v));
}

void rcl_key(struct rcl *c, const void *p, size_t n)
{
	resp_bulk(&c->cmd, p, n);
	if (c->key_off == UINT64_MAX) {
		c->key_off = c->cmd_base + c->cmd.len - n - 2;
		c->klen = (uint32_t)n;
	}
}

void rcl_cancel(struct rcl *c)
{
	c->cmd.len = c->mark;
	c->ncmd = 0;
}

void rcl_commit(struct rcl *c, uint64_t tag, uint64_t tag2)
{
	struct rcl_ent *e;

	if (c->ncmd == 0)
		return;
	if (c->dry) {
		size_t at = c->mark, used;

		while (at < c->cmd.len &&
		       (used = resp_print(&c->dry_text, c->cmd.p + at, c->cmd.len - at)) > 0) {
			buf_putc(&c->dry_text, '\n');
			at += used;
		}
		c->cmd.len = c->mark;
		c->ncmd = 0;
		return;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct rcl_ent *ne = xmalloc(cap * sizeof(*ne));

		for (size_t i = 0; i < c->n; i++)
			ne[i] = *ent_at(c, i);
		free(c->e);
		c->e = ne;
		c->cap = cap;
		c->head = 0;
	}
	e = ent_at(c, c->n++);
	e->end = c->cmd_base + c->cmd.len;
	e->key_off = c->key_off;
	e->klen = c->klen;
	e->tag = tag;
	e->tag2 = tag2;
	e->nreply = c->ncmd;
	e->got = 0;
	c->ncmd = 0;
}

int rcl_sent_settled(const struct rcl *c)
{
	return c->n == 0 || c->ctx == NULL || ent_at(c, 0)->end > c->sent;
}

/* Drops settled bytes from the front once they are most of the buffer. */
static void compact(struct rcl *c)
{
	size_t gone = (size_t)(c->acked - c->cmd_base);

	if (gone == c->cmd.len) {
		c->cmd.len = 0;
		c->cmd_base = c->acked;
	} else if (gone > (256u << 10) && gone > c->cmd.len / 2) {
		memmove(c->cmd.p, c->cmd.p + gone, c->cmd.len - gone);
		c->cmd.len -= gone;
		c->cmd_base = c->acked;
	}
}

/* ---- sending and receiving ------------------------------------------------- */

/* Writes queued commands until the socket would block. */
static void send_some(struct rcl *c)
{
	while (c->ctx != NULL && c->sent < c->cmd_base + c->cmd.len) {
		size_t off = (size_t)(c->sent - c->cmd_base);
		ssize_t w = write(c->ctx->fd, c->cmd.p + off, c->cmd.len - off);

		if (w > 0)
			c->sent += (uint64_t)w;
		else if (w < 0 && errno == EINTR)
			continue;
		else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		else
			lost(c, w < 0 ? strerror(errno) : "write returned 0");
	}
}

/* An error reply that a new connection cures: the script cache emptied
 * (NOSCRIPT: reconnecting loads it again), a server still loading, busy
 * or failing over. */
static int transient(const char *msg)
{
	static const char *const kinds[] = { "NOSCRIPT", "LOADING", "BUSY", "TRYAGAIN",
					     "MASTERDOWN" };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strncmp(msg, kinds[i], strlen(kinds[i])) == 0)
			return 1;
	return 0;
}

/* One whole reply: it answers the oldest entry still waiting. Returns -1
 * when the connection was dropped to start again, or the client failed. */
static int on_reply(struct rcl *c)
{
	struct rcl_ent *e = c->n > 0 ? ent_at(c, 0) : NULL;
	struct rcl_done d;
	struct rcl_reply errep;

	reply_finish(c);
	if (e == NULL)
		return fail(c, "%s: a reply that no command asked for", c->url.shown);
	if (c->reply.type == REDIS_REPLY_ERROR && transient(c->reply.str)) {
		if (++c->transient_streak > 3)
			return fail(c, "%s: Redis keeps answering %s; giving up", c->url.shown,
				    c->reply.str);
		rtai_sleep_until_mono(rtai_mono_ns() + 100000000);
		lost(c, c->reply.str);
		return -1;
	}
	c->transient_streak = 0;
	e->got++;
	if (e->got < e->nreply) {
		if (c->reply.type == REDIS_REPLY_ERROR && !c->has_err) {
			buf_reset(&c->first_err);
			buf_append(&c->first_err, c->reply.str, c->reply.len + 1);
			c->has_err = 1;
		}
		return 0;
	}
	d.tag = e->tag;
	d.tag2 = e->tag2;
	d.reply = &c->reply;
	if (c->has_err) {
		memset(&errep, 0, sizeof(errep));
		errep.type = REDIS_REPLY_ERROR;
		errep.str = (const char *)c->first_err.p;
		errep.len = c->first_err.len - 1;
		d.reply = &errep;
	}
	d.key = e->key_off == UINT64_MAX ? NULL : c->cmd.p + (e->key_off - c->cmd_base);
	d.klen = e->klen;
	c->has_err = 0;
	c->acked = e->end;
	c->head = (c->head + 1) % c->cap;
	c->n--;
	if (c->done != NULL)
		c->done(c->arg, &d);
	compact(c);
	return 0;
}

/* Reads what Redis has sent and handles each whole reply. */
static int read_replies(struct rcl *c)
{
	static char tmp[64 << 10];
	ssize_t n;
	void *r;

	while (c->ctx != NULL) {
		n = read(c->ctx->fd, tmp, sizeof(tmp));
		if (n == 0) {
			lost(c, "the server closed the connection");
			break;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				lost(c, strerror(errno));
			break;
		}
		if (redisReaderFeed(c->reader, tmp, (size_t)n) != REDIS_OK)
			return fail(c, "%s: out of memory", c->url.shown);
		for (;;) {
			if (redisReaderGetReply(c->reader, &r) != REDIS_OK)
				return fail(c, "%s: protocol error: %s", c->url.shown,
					    c->reader->errstr);
			if (r == NULL)
				break;
			if (on_reply(c) < 0)
				return c->failed ? -1 : 0;
		}
		if ((size_t)n < sizeof(tmp))
			break;
	}
	return c->failed ? -1 : 0;
}

int rcl_flush(struct rcl *c)
{
	if (c->failed)
		return -1;
	if (c->dry)
		return 0;
	if (c->ctx == NULL && c->sent < c->cmd_base + c->cmd.len && rcl_connect(c) < 0)
		return -1;
	send_some(c);
	return 0;
}

short rcl_events(const struct rcl *c)
{
	short ev = POLLIN;

	if (c->sent < c->cmd_base + c->cmd.len)
		ev |= POLLOUT;
	return ev;
}

int rcl_io(struct rcl *c, short revents)
{
	if (c->failed)
		return -1;
	if (c->ctx != NULL && (revents & (POLLIN | POLLHUP | POLLERR)) && read_replies(c) < 0)
		return -1;
	return rcl_flush(c);
}

int rcl_sync(struct rcl *c)
{
	struct pollfd p;

	while (c->n > 0) {
		if (rcl_flush(c) < 0)
			return -1;
		if (c->ctx == NULL)
			continue;	/* lost while sending: connect again */
		p = (struct pollfd){ .fd = c->ctx->fd, .events = rcl_events(c) };
		if (poll(&p, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return fail(c, "poll: %s", strerror(errno));
		}
		if (rcl_io(c, p.revents) < 0)
			return -1;
	}
	return c->failed ? -1 : 0;
}
