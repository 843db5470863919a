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
#include <sys/epoll.h>
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
	uint16_t slot;			/* cluster: its key's slot */
};

#define NSLOTS 16384
#define NO_NODE UINT16_MAX

/* A master of a cluster: a single-server client of its own. */
struct rcl_node {
	struct rcl c;			/* its connection and pipeline */
	struct rcl *owner;		/* the cluster client */
	uint16_t idx;			/* its place in owner->cl->node */
	uint32_t *cnt;			/* entries queued here, per slot */
	int armed_fd;			/* as registered with epoll */
	uint32_t armed_ev;
	uint64_t armed_conn;		/* c.connects when registered */
};

struct rcl_cluster {
	struct rcl_node **node;		/* the masters known, in order met */
	size_t nnode;
	uint16_t map[NSLOTS];		/* slot -> node, or NO_NODE */
	uint16_t last[NSLOTS];		/* slot -> node its newest entry went to */
	int epfd;
	int refresh;			/* MOVED seen: read the slot map again */
	int64_t refreshed;		/* when it was last read (monotonic ns) */
	struct buf tmp;			/* an entry being moved between nodes */
};

static int cl_probe(struct rcl *c);
static int cl_connect(struct rcl *c);
static int cl_flush(struct rcl *c);
static int cl_io(struct rcl *c);
static int cl_sync(struct rcl *c);
static void cl_commit(struct rcl *c, uint64_t tag, uint64_t tag2);
static struct rcl_node *cl_route(struct rcl_cluster *cl, uint16_t s);
static void cl_push(struct rcl_node *t, const void *p, size_t len, uint64_t key_rel,
		    uint32_t klen, uint64_t tag, uint64_t tag2, uint32_t nreply, uint16_t slot);
static int cl_redirect(struct rcl *c);

/* An error reply that sends the command to another node. */
static int is_redirect(const char *msg)
{
	return strncmp(msg, "MOVED ", 6) == 0 || strncmp(msg, "ASK ", 4) == 0;
}

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
	buf_free(&c->redir);
	rurl_free(&c->url);
	if (c->cl != NULL) {
		for (size_t i = 0; i < c->cl->nnode; i++) {
			rcl_free(&c->cl->node[i]->c);
			free(c->cl->node[i]->cnt);
			free(c->cl->node[i]);
		}
		free(c->cl->node);
		if (c->cl->epfd >= 0)
			close(c->cl->epfd);
		buf_free(&c->cl->tmp);
		free(c->cl);
	}
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
	int64_t start = cli_mono_ns(), wait = 50000000, left;
	redisContext *ctx;
	int retry, announced = 0;

	for (;;) {
		left = start + c->retry_for - cli_mono_ns();
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
		left = start + c->retry_for - cli_mono_ns();
		if (left <= 0 || sig_stop)
			break;
		if (!announced) {
			char d[RTAI_TIME_BUFSZ];

			rtime_fmt_duration(c->retry_for, d);
			cli_warn("%s; trying again for up to %s%s%s%s", err, d,
				  c->retry_opt ? " (" : "", c->retry_opt ? c->retry_opt : "",
				  c->retry_opt ? ")" : "");
			announced = 1;
		}
		cli_sleep_until_mono(cli_mono_ns() + (wait < left ? wait : left));
		if (sig_stop)
			break;
		wait = wait * 2 > RTAI_NS_PER_SEC ? RTAI_NS_PER_SEC : wait * 2;
	}
	if (sig_stop) {
		snprintf(err, errlen, "%s: interrupted while connecting", c->url.shown);
	} else if (c->retry_for > 0) {
		char d[RTAI_TIME_BUFSZ];
		size_t n = strlen(err);

		rtime_fmt_duration(cli_mono_ns() - start, d);
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
	if (c->cl != NULL)
		return cl_connect(c);
	if (c->ctx != NULL || c->dry)
		return 0;
	c->ctx = connect_retrying(c, err, sizeof(err));
	if (c->ctx == NULL)
		return fail(c, "%s", err);
	if (!c->probed && c->node == NULL && c->url.host != NULL) {
		int r;

		c->probed = 1;
		if ((r = cl_probe(c)) != 0)
			return r < 0 ? -1 : cl_connect(c);
	}
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
		cli_warn("connected to %s", c->url.shown);
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
	buf_reset(&c->redir);
	c->retried += resend;
	c->sent = c->acked;
	redisFree(c->ctx);
	c->ctx = NULL;
	if (resend > 0)
		cli_warn("%s: %s; reconnecting to send %llu unacknowledged commands again",
			  c->url.shown, why, (unsigned long long)resend);
	else if (c->verbose)
		cli_warn("%s: %s; reconnecting when there is more to write", c->url.shown, why);
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

/* A new entry at the end of the ring, which grows when full (a doubling,
 * so the steady state allocates nothing). */
static struct rcl_ent *ent_new(struct rcl *c)
{
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
	return ent_at(c, c->n++);
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
	if (c->cl != NULL) {
		cl_commit(c, tag, tag2);
		return;
	}
	e = ent_new(c);
	e->end = c->cmd_base + c->cmd.len;
	e->key_off = c->key_off;
	e->klen = c->klen;
	e->tag = tag;
	e->tag2 = tag2;
	e->nreply = c->ncmd;
	e->got = 0;
	e->slot = 0;
	c->ncmd = 0;
}

int rcl_sent_settled(const struct rcl *c)
{
	if (c->cl != NULL) {
		for (size_t i = 0; i < c->cl->nnode; i++)
			if (!rcl_sent_settled(&c->cl->node[i]->c))
				return 0;
		return 1;
	}
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
					     "MASTERDOWN", "CLUSTERDOWN" };

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
		cli_sleep_until_mono(cli_mono_ns() + 100000000);
		lost(c, c->reply.str);
		return -1;
	}
	c->transient_streak = 0;
	if (c->node != NULL && c->reply.type == REDIS_REPLY_ERROR && is_redirect(c->reply.str)) {
		/* The entry goes to another node once all its replies came. */
		if (c->redir.len == 0)
			buf_append(&c->redir, c->reply.str, c->reply.len + 1);
		if (++e->got < e->nreply)
			return 0;
		return cl_redirect(c);
	}
	e->got++;
	if (e->got == e->nreply && c->redir.len > 0)
		return cl_redirect(c);
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
	c->done_slot = e->slot;
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
	if (c->cl != NULL)
		return cl_flush(c);
	if (c->ctx == NULL && c->sent < c->cmd_base + c->cmd.len && rcl_connect(c) < 0)
		return -1;
	send_some(c);
	return 0;
}

short rcl_events(const struct rcl *c)
{
	short ev = POLLIN;

	if (c->cl != NULL)
		return ev;
	if (c->sent < c->cmd_base + c->cmd.len)
		ev |= POLLOUT;
	return ev;
}

int rcl_io(struct rcl *c, short revents)
{
	if (c->failed)
		return -1;
	if (c->cl != NULL)
		return cl_io(c);
	if (c->ctx != NULL && (revents & (POLLIN | POLLHUP | POLLERR)) && read_replies(c) < 0)
		return -1;
	return rcl_flush(c);
}

int rcl_sync(struct rcl *c)
{
	struct pollfd p;

	if (c->cl != NULL)
		return cl_sync(c);
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

/* ---- Redis Cluster ----------------------------------------------------------
 * The cluster client (c->cl) keeps no connection of its own: each master is
 * a node, a single-server client whose done callback is node_done(). An
 * entry is built in c->cmd, then copied to its node's queue (cl_commit());
 * a MOVED or ASK reply moves it to another node's queue (cl_redirect()).
 * Rules from the Redis Cluster specification ("Keys distribution model",
 * "Redirection and resharding"). */

uint16_t rcl_crc16(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint16_t crc = 0;

	for (size_t i = 0; i < n; i++) {
		crc ^= (uint16_t)(b[i] << 8);
		for (int k = 0; k < 8; k++)
			crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
	}
	return crc;
}

uint16_t rcl_slot(const void *key, size_t n)
{
	const char *k = key, *open = n > 0 ? memchr(k, '{', n) : NULL;

	if (open != NULL) {
		size_t rest = n - (size_t)(open + 1 - k);
		const char *close = rest > 0 ? memchr(open + 1, '}', rest) : NULL;

		if (close != NULL && close > open + 1)
			return rcl_crc16(open + 1, (size_t)(close - open - 1)) & (NSLOTS - 1);
	}
	return rcl_crc16(k, n) & (NSLOTS - 1);
}

int rcl_fd(const struct rcl *c)
{
	if (c->cl != NULL)
		return c->cl->epfd;
	return c->ctx != NULL ? c->ctx->fd : -1;
}

uint64_t rcl_pending_bytes(const struct rcl *c)
{
	uint64_t n = 0;

	if (c->cl == NULL)
		return c->cmd_base + c->cmd.len - c->acked;
	for (size_t i = 0; i < c->cl->nnode; i++)
		n += rcl_pending_bytes(&c->cl->node[i]->c);
	return n;
}

/* A node's entry is settled: the cluster client's caller hears of it. */
static void node_done(void *arg, const struct rcl_done *d)
{
	struct rcl_node *n = arg;
	struct rcl *o = n->owner;

	n->cnt[n->c.done_slot]--;
	o->n--;
	if (o->done != NULL)
		o->done(o->arg, d);
}

/* The node at host:port, made (not connected) when new; NULL when there are
 * too many. Its URL is the cluster URL's with host and port replaced (the
 * same user and password). */
static struct rcl_node *cl_node(struct rcl *c, const char *host, int port)
{
	struct rcl_cluster *cl = c->cl;
	struct rcl_node *n;
	struct buf shown = { 0 };
	char sha[41];

	for (size_t i = 0; i < cl->nnode; i++)
		if (cl->node[i]->c.url.port == port && strcmp(cl->node[i]->c.url.host, host) == 0)
			return cl->node[i];
	if (cl->nnode >= NO_NODE)
		return NULL;
	n = xcalloc(1, sizeof(*n));
	n->owner = c;
	n->idx = (uint16_t)cl->nnode;
	n->cnt = xcalloc(NSLOTS, sizeof(*n->cnt));
	n->armed_fd = -1;
	n->c.url.host = xstrdup(host);
	n->c.url.port = port;
	n->c.url.db = c->url.db;
	n->c.url.user = c->url.user != NULL ? xstrdup(c->url.user) : NULL;
	n->c.url.password = c->url.password != NULL ? xstrdup(c->url.password) : NULL;
	buf_puts(&shown, "redis://");
	if (c->url.user != NULL)
		buf_puts(&shown, c->url.user);
	if (c->url.password != NULL)
		buf_puts(&shown, ":***@");
	else if (c->url.user != NULL)
		buf_putc(&shown, '@');
	buf_printf(&shown, strchr(host, ':') != NULL ? "[%s]:%d" : "%s:%d", host, port);
	buf_putc(&shown, '\0');
	n->c.url.shown = (char *)shown.p;
	n->c.done = node_done;
	n->c.arg = n;
	n->c.node = n;
	n->c.probed = 1;
	n->c.retry_for = c->retry_for;
	n->c.retry_opt = c->retry_opt;
	n->c.verbose = c->verbose;
	for (size_t i = 0; i < c->nscript; i++)
		rcl_script(&n->c, c->script[i], c->script_len[i], sha);
	cl->node = xrealloc(cl->node, (cl->nnode + 1) * sizeof(*cl->node));
	cl->node[cl->nnode++] = n;
	return n;
}

/* Takes a CLUSTER SLOTS reply into the slot map: each range's master (its
 * first address; an empty host is the one asked, dflt_host). Returns the
 * slots covered. */
static size_t cl_take_slots(struct rcl *c, const redisReply *r, const char *dflt_host)
{
	size_t covered = 0;

	for (size_t s = 0; s < NSLOTS; s++)
		c->cl->map[s] = NO_NODE;
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i], *m;
		struct rcl_node *n;

		if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
		    e->element[0]->type != REDIS_REPLY_INTEGER ||
		    e->element[1]->type != REDIS_REPLY_INTEGER ||
		    e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2)
			continue;
		m = e->element[2];
		if (m->element[0]->type != REDIS_REPLY_STRING ||
		    m->element[1]->type != REDIS_REPLY_INTEGER)
			continue;
		n = cl_node(c, m->element[0]->len > 0 && strcmp(m->element[0]->str, "?") != 0
			       ? m->element[0]->str : dflt_host, (int)m->element[1]->integer);
		if (n == NULL)
			continue;
		for (long long s = e->element[0]->integer; s <= e->element[1]->integer; s++)
			if (s >= 0 && s < NSLOTS) {
				covered += c->cl->map[s] == NO_NODE;
				c->cl->map[s] = n->idx;
			}
	}
	return covered;
}

/* Asks the server of c->ctx (just connected) whether it is a cluster:
 * CLUSTER SLOTS. Returns 0 (a single server: keep the connection), 1 (a
 * cluster: c->cl is set up, the connection closed) or -1 (failed). */
static int cl_probe(struct rcl *c)
{
	redisReply *r = redisCommand(c->ctx, "CLUSTER SLOTS");
	size_t covered;

	if (r == NULL)
		return fail(c, "%s: CLUSTER SLOTS: %s", c->url.shown,
			    c->ctx->errstr[0] ? c->ctx->errstr : "connection lost");
	if (r->type != REDIS_REPLY_ARRAY) {	/* "cluster support disabled" */
		freeReplyObject(r);
		return 0;
	}
	c->cl = xcalloc(1, sizeof(*c->cl));
	c->cl->epfd = epoll_create1(EPOLL_CLOEXEC);
	for (size_t s = 0; s < NSLOTS; s++)
		c->cl->last[s] = NO_NODE;
	covered = cl_take_slots(c, r, c->url.host);
	freeReplyObject(r);
	redisFree(c->ctx);
	c->ctx = NULL;
	c->cl->refreshed = cli_mono_ns();
	if (c->cl->epfd < 0)
		return fail(c, "epoll_create1: %s", strerror(errno));
	if (c->cl->nnode == 0)
		return fail(c, "%s: a cluster node, but CLUSTER SLOTS names no master "
			    "(is the cluster created? redis-cli --cluster create)", c->url.shown);
	if (c->n > 0) {		/* entries queued before: to their nodes */
		uint64_t start = c->acked;

		for (size_t i = 0; i < c->n; i++) {
			struct rcl_ent *e = ent_at(c, i);
			const uint8_t *p = c->cmd.p + (start - c->cmd_base);
			uint64_t key_rel = e->key_off == UINT64_MAX ? UINT64_MAX : e->key_off - start;
			uint16_t s = key_rel == UINT64_MAX ? 0 : rcl_slot(p + key_rel, e->klen);
			struct rcl_node *n = cl_route(c->cl, s);

			cl_push(n, p, (size_t)(e->end - start), key_rel, e->klen, e->tag, e->tag2,
				e->nreply, s);
			c->cl->last[s] = n->idx;
			start = e->end;
		}
		c->head = 0;
		c->cmd.len = 0;
		c->cmd_base = c->acked = c->sent = 0;
	}
	if (c->verbose)
		cli_warn("%s: a cluster of %zu masters serving %zu of %d slots", c->url.shown,
			  c->cl->nnode, covered, NSLOTS);
	if (covered < NSLOTS)
		cli_warn("%s: the cluster serves %zu of %d slots; keys of the others fail "
			  "(CLUSTERDOWN) until it serves them", c->url.shown, covered, NSLOTS);
	return 1;
}

/* Reads the slot map again from the first node that answers (blocking, a
 * second at most per node). Keeps the old map when none does. */
static void cl_refresh(struct rcl *c)
{
	struct rcl_cluster *cl = c->cl;
	char err[512];
	int retry;

	cl->refresh = 0;
	cl->refreshed = cli_mono_ns();
	for (size_t i = 0; i < cl->nnode; i++) {
		redisContext *ctx = rurl_connect(&cl->node[i]->c.url, RTAI_NS_PER_SEC, &retry, err,
						 sizeof(err));
		redisReply *r = ctx != NULL ? redisCommand(ctx, "CLUSTER SLOTS") : NULL;
		int ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0;

		if (ok)
			cl_take_slots(c, r, cl->node[i]->c.url.host);
		freeReplyObject(r);
		if (ctx != NULL)
			redisFree(ctx);
		if (ok) {
			if (c->verbose)
				cli_warn("%s: slot map read again", cl->node[i]->c.url.shown);
			return;
		}
	}
}

/* Queues on node t an entry of len bytes at p, of nreply commands. */
static void cl_push(struct rcl_node *t, const void *p, size_t len, uint64_t key_rel,
		    uint32_t klen, uint64_t tag, uint64_t tag2, uint32_t nreply, uint16_t slot)
{
	struct rcl *c = &t->c;
	uint64_t start = c->cmd_base + c->cmd.len;
	struct rcl_ent *e;

	buf_append(&c->cmd, p, len);
	e = ent_new(c);
	e->end = start + len;
	e->key_off = key_rel == UINT64_MAX ? UINT64_MAX : start + key_rel;
	e->klen = klen;
	e->tag = tag;
	e->tag2 = tag2;
	e->nreply = nreply;
	e->got = 0;
	e->slot = slot;
	t->cnt[slot]++;
}

/* The node for a new entry of slot s: where its slot's newest entry went
 * while entries of the slot wait there (so one key's writes stay in
 * order, also while they are being redirected), else the slot's master. */
static struct rcl_node *cl_route(struct rcl_cluster *cl, uint16_t s)
{
	uint16_t i = cl->last[s];

	if (i != NO_NODE && cl->node[i]->cnt[s] > 0)
		return cl->node[i];
	i = cl->map[s];
	return cl->node[i != NO_NODE ? i : 0];	/* unserved: a node answers CLUSTERDOWN */
}

static void cl_commit(struct rcl *c, uint64_t tag, uint64_t tag2)
{
	struct rcl_cluster *cl = c->cl;
	const uint8_t *p = c->cmd.p + c->mark;
	uint64_t key_rel = UINT64_MAX;
	uint16_t s = 0;
	struct rcl_node *n;

	if (c->key_off != UINT64_MAX) {
		key_rel = c->key_off - c->cmd_base - c->mark;
		s = rcl_slot(p + key_rel, c->klen);
	}
	n = cl_route(cl, s);
	cl_push(n, p, c->cmd.len - c->mark, key_rel, c->klen, tag, tag2, c->ncmd, s);
	cl->last[s] = n->idx;
	c->n++;
	c->cmd.len = c->mark;
	c->ncmd = 0;
}

/* Bytes of the one command at p (n bytes), or 0 when not whole. */
static size_t cmd_len(const uint8_t *p, size_t n)
{
	size_t at = 0;
	long long argc, len;
	char *end;

	if (n < 4 || p[0] != '*')
		return 0;
	argc = strtoll((const char *)p + 1, &end, 10);
	at = (size_t)(end - (const char *)p) + 2;
	while (argc-- > 0) {
		if (at >= n || p[at] != '$')
			return 0;
		len = strtoll((const char *)p + at + 1, &end, 10);
		at = (size_t)(end - (const char *)p) + 2 + (size_t)len + 2;
	}
	return at <= n ? at : 0;
}

#define ASKING "*1\r\n$6\r\nASKING\r\n"

/* The head entry of node client c was answered MOVED or ASK (c->redir):
 * queues it on the node named, each command preceded by ASKING for ASK;
 * MOVED also gives the slot to that node and asks for a new slot map.
 * Returns 0, or -1 when the reply cannot be followed (c fails). */
static int cl_redirect(struct rcl *c)
{
	struct rcl_node *from = c->node, *to;
	struct rcl *o = from->owner;
	struct rcl_cluster *cl = o->cl;
	struct rcl_ent e = *ent_at(c, 0);
	uint64_t start = c->acked, key_rel = UINT64_MAX;
	const char *msg = (const char *)c->redir.p, *sp = strchr(msg, ' '), *colon;
	const uint8_t *p = c->cmd.p + (start - c->cmd_base);
	size_t len = (size_t)(e.end - start), at, n;
	int ask = msg[0] == 'A', port;
	uint32_t nreply = 0;
	char host[256], *end;
	long slot;

	slot = strtol(sp + 1, &end, 10);
	colon = strrchr(end, ':');
	if (*end != ' ' || colon == NULL || slot < 0 || slot >= NSLOTS ||
	    (size_t)(colon - end - 1) >= sizeof(host) ||
	    (port = (int)strtol(colon + 1, NULL, 10)) <= 0)
		return fail(c, "%s: cannot follow the redirection '%s'", c->url.shown, msg);
	memcpy(host, end + 1, (size_t)(colon - end - 1));
	host[colon - end - 1] = '\0';
	if (host[0] == '\0')
		snprintf(host, sizeof(host), "%s", c->url.host);
	to = cl_node(o, host, port);
	if (to == NULL)
		return fail(c, "%s: too many cluster nodes", c->url.shown);
	buf_reset(&cl->tmp);
	for (at = 0; at < len; at += n) {
		if ((n = cmd_len(p + at, len - at)) == 0)
			return fail(c, "%s: a queued command is cut (a bug)", c->url.shown);
		if (n == strlen(ASKING) && memcmp(p + at, ASKING, n) == 0)
			continue;	/* an earlier ASK's */
		if (ask) {
			buf_append(&cl->tmp, ASKING, strlen(ASKING));
			nreply++;
		}
		if (e.key_off != UINT64_MAX && e.key_off >= start + at && e.key_off < start + at + n)
			key_rel = cl->tmp.len + (e.key_off - start - at);
		buf_append(&cl->tmp, p + at, n);
		nreply++;
	}
	c->acked = e.end;
	c->head = (c->head + 1) % c->cap;
	c->n--;
	c->has_err = 0;
	buf_reset(&c->redir);
	from->cnt[e.slot]--;
	if (!ask && (uint16_t)slot == e.slot) {
		cl->map[e.slot] = to->idx;
		cl->refresh = 1;
	}
	cl_push(to, cl->tmp.p, cl->tmp.len, key_rel, e.klen, e.tag, e.tag2, nreply, e.slot);
	if (cl->last[e.slot] == from->idx && from->cnt[e.slot] == 0)
		cl->last[e.slot] = to->idx;
	o->redirects++;
	if (c->verbose)
		cli_warn("%s: %s", c->url.shown, msg);
	compact(c);
	return 0;
}

/* A node failed: so does the cluster client, naming it. */
static int node_failed(struct rcl *c, struct rcl_node *n)
{
	return fail(c, "cluster node %s", n->c.err);
}

/* Registers node n's socket with the epoll descriptor, for what it waits. */
static void cl_arm(struct rcl_cluster *cl, struct rcl_node *n)
{
	int fd = n->c.ctx != NULL ? n->c.ctx->fd : -1;
	uint32_t ev = EPOLLIN | (n->c.sent < n->c.cmd_base + n->c.cmd.len ? EPOLLOUT : 0);
	struct epoll_event ee = { .events = ev, .data.ptr = n };
	int op;

	if (fd < 0) {
		n->armed_fd = -1;	/* closed: epoll forgot it */
		return;
	}
	if (fd == n->armed_fd && n->armed_conn == n->c.connects) {
		if (ev == n->armed_ev)
			return;
		op = EPOLL_CTL_MOD;
	} else {
		op = EPOLL_CTL_ADD;
	}
	if (epoll_ctl(cl->epfd, op, fd, &ee) < 0)
		(void)epoll_ctl(cl->epfd, op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd,
				&ee);
	n->armed_fd = fd;
	n->armed_ev = ev;
	n->armed_conn = n->c.connects;
}

/* The nodes' counters, summed into the cluster client's. */
static void cl_sum(struct rcl *c)
{
	c->retried = 0;
	c->connects = 0;
	for (size_t i = 0; i < c->cl->nnode; i++) {
		c->retried += c->cl->node[i]->c.retried;
		c->connects += c->cl->node[i]->c.connects;
	}
}

/* Connects every master not connected (as rcl_connect() does, each with
 * the retry policy). */
static int cl_connect(struct rcl *c)
{
	for (size_t i = 0; i < c->cl->nnode; i++) {
		struct rcl_node *n = c->cl->node[i];

		if (rcl_connect(&n->c) < 0)
			return node_failed(c, n);
		cl_arm(c->cl, n);
	}
	cl_sum(c);
	return 0;
}

static int cl_flush(struct rcl *c)
{
	struct rcl_cluster *cl = c->cl;

	if (cl->refresh && cli_mono_ns() - cl->refreshed >= RTAI_NS_PER_SEC)
		cl_refresh(c);
	for (size_t i = 0; i < cl->nnode; i++) {
		struct rcl_node *n = cl->node[i];

		if (rcl_flush(&n->c) < 0)
			return node_failed(c, n);
		cl_arm(cl, n);
	}
	cl_sum(c);
	return 0;
}

static int cl_io(struct rcl *c)
{
	struct epoll_event ev[16];
	int k = epoll_wait(c->cl->epfd, ev, 16, 0);

	for (int i = 0; i < k; i++) {
		struct rcl_node *n = ev[i].data.ptr;
		short re = (short)(((ev[i].events & EPOLLIN) ? POLLIN : 0) |
				   ((ev[i].events & EPOLLOUT) ? POLLOUT : 0) |
				   ((ev[i].events & EPOLLERR) ? POLLERR : 0) |
				   ((ev[i].events & EPOLLHUP) ? POLLHUP : 0));

		if (rcl_io(&n->c, re) < 0)
			return node_failed(c, n);
	}
	return cl_flush(c);
}

static int cl_sync(struct rcl *c)
{
	struct pollfd p;

	while (c->n > 0) {
		if (cl_flush(c) < 0)
			return -1;
		p = (struct pollfd){ .fd = c->cl->epfd, .events = POLLIN };
		if (poll(&p, 1, 1000) < 0) {
			if (errno == EINTR)
				continue;
			return fail(c, "poll: %s", strerror(errno));
		}
		if (cl_io(c) < 0)
			return -1;
	}
	return c->failed ? -1 : 0;
}
