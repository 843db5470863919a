/* rtai-sink-redis - write records into Redis, the online feature store.
 *
 * Each record becomes one command (SET, HSET, or a small script for
 * --only-newer) whose key comes from a {field} template. Commands are sent
 * as records arrive and replies read as they come, on one non-blocking
 * connection watched with poll() together with standard input: a lone
 * record goes out at once, a burst goes out as one large pipeline. Every
 * command is kept until Redis acknowledges it, so a lost connection is
 * reopened and the unacknowledged commands are sent again (SET and HSET
 * are idempotent); --pass forwards each frame only once its command is
 * acknowledged.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "buf.h"
#include "cli.h"
#include "frame.h"
#include "rec.h"
#include "redisurl.h"
#include "resp.h"
#include "rtime.h"
#include "sha1.h"
#include "sig.h"
#include "tmpl.h"

#define STAGE "rtai-sink-redis"
#define TIME_FIELD "_event_time"	/* --only-newer: hash field, key suffix */

/* ---- options ---------------------------------------------------------- */

enum mode { M_NONE, M_VALUE, M_HASH, M_JSON };
enum on_error { ON_FAIL, ON_SKIP };

struct name {
	const char *s;
	size_t n;
};

static struct {
	char *url;			/* -u: where Redis is (password hidden in argv) */
	const char *key;		/* -k: key template */
	enum mode mode;			/* --value, --hash or --json */
	const char *value;		/* --value: the field written */
	struct name *fields;		/* --fields: the hash fields, or NULL for all */
	size_t nfields;
	int64_t ttl;			/* --ttl, ns; 0 = keys do not expire */
	int only_newer;			/* --only-newer */
	long long inflight;		/* --inflight: unacknowledged commands at most */
	int pass;			/* --pass: forward frames once acknowledged */
	int64_t retry_for;		/* --retry-for: how long to try to connect */
	enum on_error on_error;		/* --on-error */
	int dry_run;			/* --dry-run: print commands, connect to nothing */
	int verbose;			/* -v: connection and counts on stderr */
} opt = {
	.inflight = 10000,
	.retry_for = 30 * RTAI_NS_PER_SEC,
};

enum {
	OPT_VALUE = 256, OPT_HASH, OPT_FIELDS, OPT_JSON, OPT_TTL, OPT_ONLY_NEWER,
	OPT_INFLIGHT, OPT_PASS, OPT_RETRY_FOR, OPT_ON_ERROR, OPT_DRY_RUN,
	OPT_MAX_FRAME, OPT_VERSION,
};

static const struct option longopts[] = {
	{ "url", required_argument, NULL, 'u' },		/* redis:// or unix:// */
	{ "key", required_argument, NULL, 'k' },		/* key template */
	{ "value", required_argument, NULL, OPT_VALUE },	/* SET key FIELD's value */
	{ "hash", no_argument, NULL, OPT_HASH },		/* HSET the fields */
	{ "fields", required_argument, NULL, OPT_FIELDS },	/* which fields, a,b */
	{ "json", no_argument, NULL, OPT_JSON },		/* SET key the record as JSON */
	{ "ttl", required_argument, NULL, OPT_TTL },		/* expire keys after DUR */
	{ "only-newer", no_argument, NULL, OPT_ONLY_NEWER },	/* never go back in event time */
	{ "inflight", required_argument, NULL, OPT_INFLIGHT },	/* pipeline depth */
	{ "pass", no_argument, NULL, OPT_PASS },		/* forward acknowledged frames */
	{ "retry-for", required_argument, NULL, OPT_RETRY_FOR },	/* connect retries */
	{ "on-error", required_argument, NULL, OPT_ON_ERROR },	/* fail or skip */
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },		/* print the commands */
	{ "verbose", no_argument, NULL, 'v' },			/* counts on stderr */
	{ "max-frame", required_argument, NULL, OPT_MAX_FRAME },	/* frame size limit */
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void usage(int status)
{
	FILE *fp = status == 0 ? stdout : stderr;

	fputs("Usage: rtai-sink-redis -k TEMPLATE (--value FIELD | --hash | --json) [OPTION]...\n"
	      "Write each record of the rtai stream on standard input into Redis.\n"
	      "\n"
	      "Connection:\n"
	      "  -u, --url URL            redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or\n"
	      "                           unix:///PATH[?db=DB] (default redis://127.0.0.1:6379);\n"
	      "                           the password may come from RTAI_REDIS_PASSWORD\n"
	      "      --retry-for DUR      keep trying to connect for DUR when Redis is not\n"
	      "                           reachable, at start or after losing it (default 30s)\n"
	      "\n"
	      "What is written, per record:\n"
	      "  -k, --key TEMPLATE       the key, with {field} replaced by the record's value,\n"
	      "                           e.g. 'features:user:{user_id}:clicks_last_hour'\n"
	      "      --value FIELD        SET key to the value of FIELD\n"
	      "      --hash               HSET key with every field of the record\n"
	      "      --fields A,B         with --hash, only these fields\n"
	      "      --json               SET key to the record as JSON\n"
	      "      --ttl DUR            expire the key DUR after each write\n"
	      "      --only-newer         write only when the record's event time is not older\n"
	      "                           than the one stored with the key (kept in the hash\n"
	      "                           field _event_time, or in the key KEY:_event_time)\n"
	      "\n"
	      "Flow:\n"
	      "      --inflight N         at most N commands awaiting a reply (default 10000)\n"
	      "      --pass               write each frame to standard output once Redis has\n"
	      "                           acknowledged it, in input order\n"
	      "      --on-error MODE      on an error reply or a bad record: fail (stop, exit 1;\n"
	      "                           the default) or skip (report it, go on)\n"
	      "      --dry-run            print the commands, one per line; connect to nothing\n"
	      "  -v, --verbose            report the connection, and counts at exit\n"
	      "      --max-frame BYTES    largest frame accepted (default 16777216)\n"
	      "  -h, --help               show this help and exit\n"
	      "      --version            show the version and exit\n"
	      "\n"
	      "Examples:\n"
	      "  rtai-cat clicks.jsonl | rtai-sink-redis -k 'click:{user_id}' --json\n"
	      "  ... | rtai-sink-redis -k 'features:user:{user_id}' --hash --ttl 1h --only-newer\n"
	      "\n"
	      "See rtai-sink-redis(1) and rtai(7).\n", fp);
	exit(status);
}

/* ---- state ------------------------------------------------------------ */

/* The script behind --only-newer. Event times are decimal ns, compared as
 * strings (sign, then length, then digits): Lua's doubles cannot hold an
 * int64 exactly. Equal times overwrite, so a window's later updates win. */
static const char script[] =
	"-- rtai-sink-redis --only-newer: write unless what is stored is newer.\n"
	"-- KEYS[1] the key, KEYS[2] its event-time key (absent for a hash);\n"
	"-- ARGV[1] event time in ns, ARGV[2] TTL in ms (0: none), ARGV[3..]\n"
	"-- the value or the hash's field/value pairs. 1: written, 0: older.\n"
	"local function newer(a, b)\n"
	"  local na, nb = a:sub(1, 1) == '-', b:sub(1, 1) == '-'\n"
	"  if na ~= nb then return nb end\n"
	"  if #a ~= #b then return (#a > #b) ~= na end\n"
	"  return (a > b) ~= na and a ~= b\n"
	"end\n"
	"local t, ttl, old = ARGV[1], tonumber(ARGV[2])\n"
	"if #KEYS == 2 then\n"
	"  old = redis.call('GET', KEYS[2])\n"
	"else\n"
	"  old = redis.call('HGET', KEYS[1], '" TIME_FIELD "')\n"
	"end\n"
	"if old and newer(old, t) then return 0 end\n"
	"if #KEYS == 2 then\n"
	"  if ttl > 0 then\n"
	"    redis.call('SET', KEYS[1], ARGV[3], 'PX', ttl)\n"
	"    redis.call('SET', KEYS[2], t, 'PX', ttl)\n"
	"  else\n"
	"    redis.call('SET', KEYS[1], ARGV[3])\n"
	"    redis.call('SET', KEYS[2], t)\n"
	"  end\n"
	"else\n"
	"  redis.call('HSET', KEYS[1], '" TIME_FIELD "', t, unpack(ARGV, 3))\n"
	"  if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end\n"
	"end\n"
	"return 1\n";

static struct rurl url;			/* parsed -u */
static struct tmpl key;			/* compiled -k */
static char sha[41];			/* the script's SHA-1, for EVALSHA */
static char ttl_ms[24];			/* --ttl in ms, as text; "0" for none */
static struct rtai_rd rd;		/* standard input */
static struct rtai_wr out;		/* --pass: the stream; --dry-run: text */
static struct rtai_rec rec;		/* the record being encoded */
static struct buf kbuf, vbuf, dry;	/* key, value, --dry-run commands */
static redisContext *ctx;		/* NULL while not connected */
static redisReader *reader;		/* parses replies without allocating */
static int status = RTAI_EXIT_OK;
static int stopping;			/* a failure under --on-error fail */
static int noscript_streak;		/* NOSCRIPT replies without progress */

static struct {
	uint64_t written, older, retried, failed;
} count;

/* ---- the queue of unacknowledged commands ------------------------------
 * Commands are appended to one buffer as RESP bytes and stay there until
 * acknowledged: "sent" moves forward as the socket takes them, and back to
 * "acked" when the connection is lost, so they go out again. Positions are
 * offsets in the stream of all commands ever queued (buffer byte 0 is at
 * cmd_base), so compacting the buffer moves no entry. --pass keeps each
 * frame in a second buffer the same way. */

struct entry {
	uint64_t end;			/* just past its commands */
	uint64_t key;			/* where its key is, for messages */
	uint32_t klen;
	uint8_t nreply;			/* replies awaited; 0: a frame to forward */
	uint8_t got;			/* replies received */
	uint8_t failed;			/* an error reply came */
	uint8_t older;			/* --only-newer: the stored value was newer */
	uint64_t recno;			/* record number, for messages */
	uint64_t pass_end;		/* just past its frame in q.pass */
};

struct passhdr {			/* a frame kept for --pass */
	int64_t ingest_ns, event_ns;
	uint32_t len;
	uint16_t flags;
	uint8_t kind, enc;
};

static struct {
	struct buf cmd;			/* commands from cmd_base on */
	uint64_t cmd_base, acked, sent;
	struct buf pass;		/* --pass frames from pass_base on */
	uint64_t pass_base, pass_acked;
	struct entry *e;		/* ring of cap entries, n from head */
	size_t cap, head, n;
} q;

static inline uint64_t q_end(void) { return q.cmd_base + q.cmd.len; }
static inline struct entry *q_at(size_t i) { return &q.e[(q.head + i) % q.cap]; }

/* A new entry at the tail, its command bytes still to append. */
static struct entry *q_push(void)
{
	struct entry *e;

	if (q.n == q.cap) {
		size_t cap = q.cap ? q.cap * 2 : 64;
		struct entry *ne = xmalloc(cap * sizeof(*ne));

		for (size_t i = 0; i < q.n; i++)
			ne[i] = *q_at(i);
		free(q.e);
		q.e = ne;
		q.cap = cap;
		q.head = 0;
	}
	e = q_at(q.n++);
	memset(e, 0, sizeof(*e));
	return e;
}

/* Drops acknowledged bytes from the front of a buffer once they are most
 * of it, so the buffers stay as large as the pipeline, not the stream. */
static void compact(struct buf *b, uint64_t *base, uint64_t done)
{
	size_t gone = (size_t)(done - *base);

	if (gone == b->len) {
		b->len = 0;
		*base = done;
	} else if (gone > (256u << 10) && gone > b->len / 2) {
		memmove(b->p, b->p + gone, b->len - gone);
		b->len -= gone;
		*base = done;
	}
}

static void forward(const struct entry *e)
{
	const uint8_t *p = q.pass.p + (q.pass_acked - q.pass_base);
	struct passhdr h;

	memcpy(&h, p, sizeof(h));
	wr_put(&out, h.kind, h.enc, h.flags, h.ingest_ns, h.event_ns, p + sizeof(h), h.len);
	q.pass_acked = e->pass_end;
}

/* Keeps a frame for --pass until the entry before it is acknowledged. */
static void keep_frame(struct entry *e, const struct rtai_frame *f)
{
	struct passhdr h = { f->ingest_ns, f->event_ns, f->len, f->flags, f->kind, f->enc };

	buf_append(&q.pass, &h, sizeof(h));
	if (f->len > 0)
		buf_append(&q.pass, f->payload, f->len);
	e->pass_end = q.pass_base + q.pass.len;
}

/* Retires the acknowledged entries at the head, forwarding their frames. */
static void q_release(void)
{
	while (q.n > 0) {
		struct entry *e = q_at(0);

		if (e->got < e->nreply)
			break;
		if (e->nreply > 0 && !e->failed) {
			if (e->older)
				count.older++;
			else
				count.written++;
		}
		if (opt.pass) {
			if (e->failed)
				q.pass_acked = e->pass_end;
			else
				forward(e);
		}
		q.acked = e->end;
		q.head = (q.head + 1) % q.cap;
		q.n--;
	}
	compact(&q.cmd, &q.cmd_base, q.acked);
	if (opt.pass)
		compact(&q.pass, &q.pass_base, q.pass_acked);
}

/* ---- messages ----------------------------------------------------------- */

static void print_counts(void)
{
	if (opt.only_newer)
		rtai_warn("%llu written, %llu older skipped, %llu retried, %llu failed",
			  (unsigned long long)count.written, (unsigned long long)count.older,
			  (unsigned long long)count.retried, (unsigned long long)count.failed);
	else
		rtai_warn("%llu written, %llu retried, %llu failed",
			  (unsigned long long)count.written, (unsigned long long)count.retried,
			  (unsigned long long)count.failed);
}

/* A failed record: reported with where it came from, counted, and under
 * --on-error fail the end of the input. */
static void record_failed(uint64_t recno, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void record_failed(uint64_t recno, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rtai_warn("%s: record %llu: %s", rd.name, (unsigned long long)recno, msg);
	count.failed++;
	if (opt.on_error == ON_FAIL) {
		stopping = 1;
		status = RTAI_EXIT_FAIL;
	}
}

/* Gives up: what was not acknowledged is counted as failed. */
static void __attribute__((noreturn)) give_up(const char *msg)
{
	for (size_t i = 0; i < q.n; i++)
		count.failed += q_at(i)->nreply > 0;
	rtai_warn("%s", msg);
	print_counts();
	if (out.fd >= 0)
		wr_close(&out);	/* what was acknowledged still goes on */
	exit(RTAI_EXIT_FAIL);
}

/* ---- the connection ----------------------------------------------------- */

/* Reply objects of the reader: nothing is allocated per reply; the last
 * top-level reply's type, integer and error text are kept here. */
static struct {
	int type;
	long long integer;
	char str[512];
} reply;

static void *reply_string(const redisReadTask *t, char *s, size_t n)
{
	if (t->parent == NULL) {
		reply.type = t->type;
		if (n >= sizeof(reply.str))
			n = sizeof(reply.str) - 1;
		memcpy(reply.str, s, n);
		reply.str[n] = '\0';
	}
	return &reply;
}

static void *reply_array(const redisReadTask *t, int n)
{
	(void)n;
	if (t->parent == NULL)
		reply.type = REDIS_REPLY_ARRAY;
	return &reply;
}

static void *reply_integer(const redisReadTask *t, long long v)
{
	if (t->parent == NULL) {
		reply.type = REDIS_REPLY_INTEGER;
		reply.integer = v;
	}
	return &reply;
}

static void *reply_nil(const redisReadTask *t)
{
	if (t->parent == NULL)
		reply.type = REDIS_REPLY_NIL;
	return &reply;
}

static void reply_free(void *p)
{
	(void)p;
}

static redisReplyObjectFunctions reply_fns = {
	.createString = reply_string,
	.createArray = reply_array,
	.createInteger = reply_integer,
	.createNil = reply_nil,
	.freeObject = reply_free,
};

/* Connects (retrying for --retry-for), loads the script for --only-newer,
 * and makes the socket non-blocking. Exits 1 when Redis stays away. */
static void connect_now(void)
{
	char err[1024];
	int fl;

	ctx = rurl_connect_retry(&url, opt.retry_for, err, sizeof(err));
	if (ctx == NULL) {
		size_t n = strlen(err);

		if (strstr(err, "gave up") != NULL)
			snprintf(err + n, sizeof(err) - n, "; --retry-for waits longer");
		give_up(err);
	}
	if (opt.only_newer) {
		const char *argv[3] = { "SCRIPT", "LOAD", script };
		size_t len[3] = { 6, 4, sizeof(script) - 1 };
		redisReply *r = redisCommandArgv(ctx, 3, argv, len);

		if (r == NULL || r->type != REDIS_REPLY_STRING || strcmp(r->str, sha) != 0) {
			snprintf(err, sizeof(err), "%s: SCRIPT LOAD: %s", url.shown,
				 r == NULL ? ctx->errstr
				 : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
			freeReplyObject(r);
			give_up(err);
		}
		freeReplyObject(r);
	}
	fl = fcntl(ctx->fd, F_GETFL);
	if (fl < 0 || fcntl(ctx->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		rtai_die(RTAI_EXIT_FAIL, "%s: fcntl: %s", url.shown, strerror(errno));
	redisReaderFree(reader);
	reader = redisReaderCreateWithFunctions(&reply_fns);
	if (reader == NULL)
		rtai_die(RTAI_EXIT_FAIL, "out of memory");
	if (opt.verbose)
		rtai_warn("connected to %s", url.shown);
}

/* The connection is gone (or must be reopened): everything not
 * acknowledged is sent again on the next one. */
static void lost(const char *why)
{
	uint64_t start = q.acked, resend = 0;

	for (size_t i = 0; i < q.n; i++) {
		struct entry *e = q_at(i);

		if (e->nreply > 0 && start < q.sent)
			resend++;
		e->got = 0;
		e->older = 0;
		start = e->end;
	}
	count.retried += resend;
	q.sent = q.acked;
	redisFree(ctx);
	ctx = NULL;
	if (resend > 0)
		rtai_warn("%s: %s; reconnecting to send %llu unacknowledged commands again",
			  url.shown, why, (unsigned long long)resend);
	else if (opt.verbose)
		rtai_warn("%s: %s; reconnecting when there is more to write", url.shown, why);
}

/* Writes queued commands until the socket would block. */
static void send_some(void)
{
	while (ctx != NULL && q.sent < q_end()) {
		size_t off = (size_t)(q.sent - q.cmd_base);
		ssize_t w = write(ctx->fd, q.cmd.p + off, q.cmd.len - off);

		if (w > 0) {
			q.sent += (uint64_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return;
		} else {
			lost(w < 0 ? strerror(errno) : "write returned 0");
			return;
		}
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

/* One reply: it answers the oldest entry still waiting. Returns -1 when
 * the connection was dropped to start again. */
static int on_reply(void)
{
	struct entry *e = q.n > 0 ? q_at(0) : NULL;

	if (e == NULL || e->got >= e->nreply)
		rtai_die(RTAI_EXIT_FAIL, "%s: a reply that no command asked for", url.shown);
	if (reply.type == REDIS_REPLY_ERROR && transient(reply.str)) {
		if (++noscript_streak > 3)
			give_up("Redis keeps answering NOSCRIPT or LOADING; giving up");
		rtai_sleep_until_mono(rtai_mono_ns() + 100000000);
		lost(reply.str);
		return -1;
	}
	noscript_streak = 0;
	if (reply.type == REDIS_REPLY_ERROR) {
		if (!e->failed) {
			struct buf k = { 0 };

			resp_repr(&k, q.cmd.p + (e->key - q.cmd_base), e->klen);
			buf_putc(&k, '\0');
			record_failed(e->recno, "key %s: %s", (char *)k.p, reply.str);
			buf_free(&k);
		}
		e->failed = 1;
	} else if (opt.only_newer && reply.type == REDIS_REPLY_INTEGER && reply.integer == 0) {
		e->older = 1;
	}
	e->got++;
	q_release();
	return 0;
}

/* Reads what Redis has sent and handles each whole reply. */
static void read_replies(void)
{
	static char tmp[64 << 10];
	ssize_t n;
	void *r;

	for (;;) {
		n = read(ctx->fd, tmp, sizeof(tmp));
		if (n == 0) {
			lost("the server closed the connection");
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				lost(strerror(errno));
			return;
		}
		if (redisReaderFeed(reader, tmp, (size_t)n) != REDIS_OK)
			rtai_die(RTAI_EXIT_FAIL, "%s: out of memory", url.shown);
		for (;;) {
			if (redisReaderGetReply(reader, &r) != REDIS_OK)
				rtai_die(RTAI_EXIT_FAIL, "%s: protocol error: %s", url.shown,
					 reader->errstr);
			if (r == NULL)
				break;
			if (on_reply() < 0)
				return;
		}
		if ((size_t)n < sizeof(tmp))
			return;
	}
}

/* ---- encoding ------------------------------------------------------------ */

static void bulk_num(struct buf *b, long long v)
{
	char tmp[24];

	resp_bulk(b, tmp, (size_t)snprintf(tmp, sizeof(tmp), "%lld", v));
}

/* Appends the value of f (null as the empty string). */
static void bulk_val(struct buf *b, const struct rtai_field *f)
{
	buf_reset(&vbuf);
	if (f->v.type != RT_NULL)
		val_text(&f->v, &vbuf);
	resp_bulk(b, vbuf.p, vbuf.len);
}

/* The key argument, remembering where it went for messages. */
static void bulk_key(struct buf *b, uint64_t base, struct entry *e)
{
	resp_bulk(b, kbuf.p, kbuf.len);
	if (e != NULL) {
		e->key = base + b->len - kbuf.len - 2;
		e->klen = (uint32_t)kbuf.len;
	}
}

/* Appends the commands for the record in rec to b (whose byte 0 is at
 * stream offset base). Returns the replies they will get, or -1 after
 * reporting a bad record. */
static int encode(const struct rtai_frame *f, uint64_t recno, struct buf *b, uint64_t base,
		  struct entry *e)
{
	char err[512];
	const struct rtai_field *fld = NULL;
	size_t npairs = 0;

	buf_reset(&kbuf);
	if (tmpl_render(&key, &rec, &kbuf, err, sizeof(err)) < 0) {
		record_failed(recno, "key: %s", err);
		return -1;
	}
	if (opt.only_newer && f->event_ns == RTAI_TIME_UNSET) {
		record_failed(recno, "no event time (--only-newer compares event times: give the stream one, e.g. with rtai-parse)");
		return -1;
	}
	if (opt.mode == M_VALUE) {
		fld = rec_getz(&rec, opt.value);
		if (fld == NULL) {
			record_failed(recno, "no field \"%s\" (--value)", opt.value);
			return -1;
		}
	} else if (opt.mode == M_HASH && opt.fields != NULL) {
		for (size_t i = 0; i < opt.nfields; i++)
			if (rec_get(&rec, opt.fields[i].s, opt.fields[i].n) == NULL) {
				record_failed(recno, "no field \"%.*s\" (--fields)",
					      (int)opt.fields[i].n, opt.fields[i].s);
				return -1;
			}
		npairs = opt.nfields;
	} else if (opt.mode == M_HASH) {
		for (uint32_t i = 0; i < rec.n; i++)
			npairs += !(opt.only_newer && rec.f[i].nlen == strlen(TIME_FIELD) &&
				    memcmp(rec.f[i].name, TIME_FIELD, rec.f[i].nlen) == 0);
		if (npairs == 0) {
			record_failed(recno, "no fields to write (--hash)");
			return -1;
		}
	}

	if (opt.mode != M_HASH) {
		/* The value first, into a buffer of its own. */
		static struct buf val;

		buf_reset(&val);
		if (opt.mode == M_JSON)
			rec_to_json(&rec, &val);
		else if (fld->v.type != RT_NULL)
			val_text(&fld->v, &val);
		if (opt.only_newer) {
			resp_array(b, 8);
			resp_bulk(b, "EVALSHA", 7);
			resp_bulk(b, sha, 40);
			resp_bulk(b, "2", 1);
			bulk_key(b, base, e);
			buf_append(&kbuf, ":" TIME_FIELD, strlen(":" TIME_FIELD));
			resp_bulk(b, kbuf.p, kbuf.len);
			bulk_num(b, f->event_ns);
			resp_bulkz(b, ttl_ms);
		} else {
			resp_array(b, opt.ttl ? 5 : 3);
			resp_bulk(b, "SET", 3);
			bulk_key(b, base, e);
		}
		resp_bulk(b, val.p, val.len);
		if (opt.ttl && !opt.only_newer) {
			resp_bulk(b, "PX", 2);
			resp_bulkz(b, ttl_ms);
		}
		return 1;
	}

	if (opt.only_newer) {
		resp_array(b, 6 + 2 * npairs);
		resp_bulk(b, "EVALSHA", 7);
		resp_bulk(b, sha, 40);
		resp_bulk(b, "1", 1);
		bulk_key(b, base, e);
		bulk_num(b, f->event_ns);
		resp_bulkz(b, ttl_ms);
	} else {
		resp_array(b, 2 + 2 * npairs);
		resp_bulk(b, "HSET", 4);
		bulk_key(b, base, e);
	}
	if (opt.fields != NULL) {
		for (size_t i = 0; i < opt.nfields; i++) {
			resp_bulk(b, opt.fields[i].s, opt.fields[i].n);
			bulk_val(b, rec_get(&rec, opt.fields[i].s, opt.fields[i].n));
		}
	} else {
		for (uint32_t i = 0; i < rec.n; i++) {
			if (opt.only_newer && rec.f[i].nlen == strlen(TIME_FIELD) &&
			    memcmp(rec.f[i].name, TIME_FIELD, rec.f[i].nlen) == 0)
				continue;
			resp_bulk(b, rec.f[i].name, rec.f[i].nlen);
			bulk_val(b, &rec.f[i]);
		}
	}
	if (opt.ttl && !opt.only_newer) {
		resp_array(b, 3);
		resp_bulk(b, "PEXPIRE", 7);
		bulk_key(b, base, NULL);
		resp_bulkz(b, ttl_ms);
		return 2;
	}
	return 1;
}

/* ---- the stream --------------------------------------------------------- */

/* One frame from the input: a record is queued as commands (or printed
 * with --dry-run); other frames follow it with --pass. */
static void take(const struct rtai_frame *f)
{
	uint64_t recno = rd.nrec;
	struct entry *e;
	size_t mark;
	int nreply;

	if (f->kind == RTAI_K_MARKER) {
		if (opt.pass)
			wr_marker(&out, f, STAGE);
		return;
	}
	if (f->kind != RTAI_K_DATA) {
		if (!opt.pass)
			return;
		if (q.n == 0) {
			wr_frame(&out, f);
			return;
		}
		e = q_push();
		e->end = q_end();
		keep_frame(e, f);
		return;
	}
	if (rec_from_frame(&rec, f) < 0) {
		record_failed(recno, "%s", rec.err);
		return;
	}
	if (opt.dry_run) {
		size_t at = 0, used;

		buf_reset(&dry);
		if (encode(f, recno, &dry, 0, NULL) < 0)
			return;
		buf_reset(&vbuf);
		while (at < dry.len && (used = resp_print(&vbuf, dry.p + at, dry.len - at)) > 0) {
			buf_putc(&vbuf, '\n');
			at += used;
		}
		wr_bytes(&out, vbuf.p, vbuf.len);
		count.written++;
		return;
	}
	mark = q.cmd.len;
	e = q_push();
	nreply = encode(f, recno, &q.cmd, q.cmd_base, e);
	if (nreply < 0) {
		q.cmd.len = mark;
		q.n--;
		return;
	}
	e->nreply = (uint8_t)nreply;
	e->recno = recno;
	e->end = q_end();
	if (opt.pass)
		keep_frame(e, f);
}

/* The input ends at its end, on a fault, or at SIGINT/SIGTERM. */
static int input_open;

static void take_buffered(void)
{
	struct rtai_frame f;
	int st;

	while (input_open && !stopping && (opt.dry_run || q.n < (size_t)opt.inflight)) {
		st = rd_frame_buffered(&rd, &f);
		if (st == 2)
			return;
		if (st == 1) {
			take(&f);
			continue;
		}
		if (st < 0) {
			rtai_warn("%s", rd.err);
			status = RTAI_EXIT_FAIL;
		}
		input_open = 0;
	}
}

/* Whether the work is over: all acknowledged after the input ended, or
 * after a failure, all that was sent acknowledged. */
static int finished(void)
{
	if (q.n == 0)
		return !input_open || stopping;
	if (stopping)
		return ctx == NULL || q_at(0)->end > q.sent;
	return 0;
}

static void run(void)
{
	struct pollfd pfd[2];
	int nfd, in, rds;

	input_open = 1;
	for (;;) {
		take_buffered();
		if (opt.dry_run && (!input_open || stopping))
			return;
		if (ctx == NULL && q.sent < q_end() && !stopping) {
			if (out.fd >= 0)
				wr_flush(&out);	/* connecting may take a while */
			connect_now();
		}
		send_some();
		if (!opt.dry_run && finished())
			return;
		nfd = 0;
		in = rds = -1;
		if (input_open && !stopping && (opt.dry_run || q.n < (size_t)opt.inflight)) {
			pfd[nfd] = (struct pollfd){ .fd = rd.fd, .events = POLLIN };
			in = nfd++;
		}
		if (ctx != NULL) {
			pfd[nfd] = (struct pollfd){ .fd = ctx->fd, .events = POLLIN };
			if (q.sent < q_end())
				pfd[nfd].events |= POLLOUT;
			rds = nfd++;
		}
		if (out.fd >= 0)
			wr_flush(&out);
		if (poll(pfd, (nfds_t)nfd, -1) < 0 && errno != EINTR)
			rtai_die(RTAI_EXIT_FAIL, "poll: %s", strerror(errno));
		if (sig_stop)
			input_open = 0;
		if (in >= 0 && pfd[in].revents != 0 && input_open && rd_fill(&rd) < 0) {
			rtai_warn("%s", rd.err);
			status = RTAI_EXIT_FAIL;
			input_open = 0;
		}
		if (rds >= 0 && ctx != NULL && (pfd[rds].revents & (POLLIN | POLLHUP | POLLERR)))
			read_replies();
	}
}

/* ---- main ----------------------------------------------------------------- */

static void parse_fields(const char *arg)
{
	const char *p = arg;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);

		if (n == 0 || n > 255)
			rtai_usage_error("--fields: '%s': expected field names separated by commas",
					 arg);
		opt.fields = xrealloc(opt.fields, (opt.nfields + 1) * sizeof(*opt.fields));
		opt.fields[opt.nfields++] = (struct name){ p, n };
		if (comma == NULL)
			break;
		p = comma + 1;
	}
}

static void set_mode(enum mode m)
{
	if (opt.mode != M_NONE && opt.mode != m)
		rtai_usage_error("--value, --hash and --json exclude each other");
	opt.mode = m;
}

int main(int argc, char **argv)
{
	const char *max_frame = NULL;
	char err[512];
	int c;

	rtai_init(STAGE, argv);
	while ((c = getopt_long(argc, argv, "u:k:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			free(opt.url);
			opt.url = xstrdup(optarg);
			rurl_hide(optarg);
			break;
		case 'k': opt.key = optarg; break;
		case OPT_VALUE: set_mode(M_VALUE); opt.value = optarg; break;
		case OPT_HASH: set_mode(M_HASH); break;
		case OPT_FIELDS: set_mode(M_HASH); parse_fields(optarg); break;
		case OPT_JSON: set_mode(M_JSON); break;
		case OPT_TTL:
			opt.ttl = rtai_opt_duration("--ttl", optarg);
			if (opt.ttl < 1000000)
				rtai_usage_error("--ttl: '%s': Redis expires keys in whole milliseconds; give at least 1ms",
						 optarg);
			break;
		case OPT_ONLY_NEWER: opt.only_newer = 1; break;
		case OPT_INFLIGHT:
			opt.inflight = rtai_opt_int("--inflight", optarg, 1, 1000000);
			break;
		case OPT_PASS: opt.pass = 1; break;
		case OPT_RETRY_FOR: opt.retry_for = rtai_opt_duration("--retry-for", optarg); break;
		case OPT_ON_ERROR:
			if (strcmp(optarg, "fail") == 0)
				opt.on_error = ON_FAIL;
			else if (strcmp(optarg, "skip") == 0)
				opt.on_error = ON_SKIP;
			else
				rtai_usage_error("--on-error: '%s': expected fail or skip", optarg);
			break;
		case OPT_DRY_RUN: opt.dry_run = 1; break;
		case 'v': opt.verbose = 1; break;
		case OPT_MAX_FRAME: max_frame = optarg; break;
		case 'h': usage(RTAI_EXIT_OK); break;
		case OPT_VERSION: rtai_version(); break;
		default: rtai_usage_hint();
		}
	}
	argc -= optind;
	argv += optind;
	rtai_set_max_frame(max_frame);
	rec_set_max_fields(NULL);
	if (argc > 0)
		rtai_usage_error("unexpected argument '%s': records come on standard input", argv[0]);
	if (opt.key == NULL)
		rtai_usage_error("a key template is needed: -k 'features:user:{user_id}'");
	if (opt.mode == M_NONE)
		rtai_usage_error("say what to write: --value FIELD, --hash or --json");
	if (opt.pass && opt.dry_run)
		rtai_usage_error("--pass and --dry-run exclude each other");
	if (tmpl_compile(&key, opt.key, err, sizeof(err)) < 0)
		rtai_usage_error("--key: '%s': %s", opt.key, err);
	if (key.nfields == 0)	/* "-k user_id": every record into one key */
		rtai_warn("--key: '%s' has no {field}: every record goes to that one key "
			  "(did you mean -k '{%s}'?)", opt.key, opt.key);
	if (rurl_parse(&url, opt.url, err, sizeof(err)) < 0)
		rtai_usage_error("--url: %s", err);
	sha1_hex(script, sizeof(script) - 1, sha);
	snprintf(ttl_ms, sizeof(ttl_ms), "%lld", (long long)(opt.ttl / 1000000));

	sig_catch_stop();
	rd_open_fd(&rd, 0, "stdin");
	out.fd = -1;
	if (opt.pass)
		wr_open_fd(&out, 1, "stdout", 0);
	else if (opt.dry_run)
		wr_open_fd(&out, 1, "stdout", 1);
	if (!opt.dry_run)
		connect_now();
	run();
	/* After a failure, what was never sent is not written either. */
	for (size_t i = 0; i < q.n; i++)
		count.failed += q_at(i)->nreply > 0;
	if (out.fd >= 0)
		wr_close(&out);
	if (opt.verbose || count.failed > 0)
		print_counts();

	redisFree(ctx);
	redisReaderFree(reader);
	rd_close(&rd);
	rec_free(&rec);
	tmpl_free(&key);
	rurl_free(&url);
	buf_free(&kbuf);
	buf_free(&vbuf);
	buf_free(&dry);
	buf_free(&q.cmd);
	buf_free(&q.pass);
	free(q.e);
	free(opt.fields);
	free(opt.url);
	return status;
}
