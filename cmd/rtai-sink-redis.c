/* rtai-sink-redis - write records into Redis, the online feature store.
 *
 * Each record becomes one command (SET, HSET, or a small script for
 * --only-newer) whose key comes from a {field} template. Commands are sent
 * as records arrive and replies read as they come, on one non-blocking
 * connection that the event loop (lib/loop.h) watches beside standard input: a lone
 * record goes out at once, a burst goes out as one large pipeline. Every
 * command is kept until Redis acknowledges it, so a lost connection is
 * reopened and the unacknowledged commands are sent again (SET and HSET
 * are idempotent); --pass forwards each frame only once its command is
 * acknowledged. A record that cannot become a command, and one whose
 * command Redis answers with an error, go through the one error policy
 * (lib/errpol.h); for its dead letter a record is kept in the
 * acknowledged-output queue until its reply came.
 *
 * Checkpoints (--checkpoint-dir, $RTAI_CHECKPOINT_DIR; lib/ckpt.h): the
 * sink is a stage of the pipeline's checkpoints. A barrier waits in the
 * acknowledged-output queue like a --pass record, so the sink writes its
 * snapshot of checkpoint N (its counts) only once Redis has acknowledged
 * every command of the records before barrier N: N completes only when
 * Redis holds every write before it.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "ackq.h"
#include "barrier.h"
#include "buf.h"
#include "ckpt.h"
#include "cli.h"
#include "errpol.h"
#include "frame.h"
#include "loop.h"
#include "rec.h"
#include "rclient.h"
#include "redisurl.h"
#include "resp.h"
#include "rtime.h"
#include "sig.h"
#include "snap.h"
#include "tmpl.h"

#define STAGE "rtai-sink-redis"
#define TIME_FIELD "_event_time"	/* --only-newer: hash field, key suffix */

/* ---- options ---------------------------------------------------------- */

enum mode { M_NONE, M_VALUE, M_HASH, M_JSON };

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
	int replace;			/* --replace: the hash becomes the record */
	long long inflight;		/* --inflight: unacknowledged commands at most */
	long long inflight_bytes;	/* --inflight-bytes: ... and their bytes */
	int pass;			/* --pass: forward frames once acknowledged */
	int64_t retry_for;		/* --retry-for: how long to try to connect */
	int dry_run;			/* --dry-run: print commands, connect to nothing */
	int verbose;			/* -v: connection and counts on stderr */
	const char *ckpt_dir;		/* --checkpoint-dir, else $RTAI_CHECKPOINT_DIR */
	const char *stage_name;		/* --stage-name */
} opt = {
	.inflight = 10000,
	.inflight_bytes = 64 << 20,
	.retry_for = 30 * RTAI_NS_PER_SEC,
};

enum {
	OPT_VALUE = 256, OPT_HASH, OPT_FIELDS, OPT_JSON, OPT_TTL, OPT_ONLY_NEWER,
	OPT_INFLIGHT, OPT_PASS, OPT_RETRY_FOR, OPT_ON_ERROR, OPT_DLQ, OPT_DRY_RUN,
	OPT_MAX_FRAME, OPT_VERSION, OPT_REPLACE, OPT_INFLIGHT_BYTES, OPT_CHECKPOINT_DIR,
	OPT_STAGE_NAME,
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
	{ "replace", no_argument, NULL, OPT_REPLACE },		/* --hash: drop stale fields */
	{ "inflight", required_argument, NULL, OPT_INFLIGHT },	/* pipeline depth */
	{ "inflight-bytes", required_argument, NULL, OPT_INFLIGHT_BYTES },	/* ... in bytes */
	{ "pass", no_argument, NULL, OPT_PASS },		/* forward acknowledged frames */
	{ "retry-for", required_argument, NULL, OPT_RETRY_FOR },	/* connect retries */
	{ "on-error", required_argument, NULL, OPT_ON_ERROR },	/* fail, skip or dlq */
	{ "dlq", required_argument, NULL, OPT_DLQ },		/* the dead-letter stream */
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },		/* print the commands */
	{ "verbose", no_argument, NULL, 'v' },			/* counts on stderr */
	{ "max-frame", required_argument, NULL, OPT_MAX_FRAME },	/* frame size limit */
	{ "checkpoint-dir", required_argument, NULL, OPT_CHECKPOINT_DIR },	/* DIR */
	{ "stage-name", required_argument, NULL, OPT_STAGE_NAME },	/* name in DIR */
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
	      "                           the password may come from RTAI_REDIS_PASSWORD;\n"
	      "                           any master of a Redis Cluster (found by itself:\n"
	      "                           see CLUSTER in the manual)\n"
	      "      --retry-for DUR      keep trying to connect for DUR when Redis is not\n"
	      "                           reachable, at start or after losing it (default 30s)\n"
	      "\n"
	      "What is written, per record:\n"
	      "  -k, --key TEMPLATE       the key, with {field} replaced by the record's value,\n"
	      "                           e.g. 'features:user:{user_id}:clicks_last_hour'\n"
	      "      --value FIELD        SET key to the value of FIELD\n"
	      "      --hash               HSET key with every field of the record\n"
	      "      --fields A,B         with --hash, only these fields\n"
	      "      --replace            with --hash, the hash becomes the record: fields\n"
	      "                           absent or null in it are removed (one atomic\n"
	      "                           script); --fields may then name absent fields\n"
	      "      --json               SET key to the record as JSON\n"
	      "      --ttl DUR            expire the key DUR after each write\n"
	      "      --only-newer         write only when the record's event time is not older\n"
	      "                           than the one stored with the key (kept in the hash\n"
	      "                           field _event_time, or in the key KEY:_event_time)\n"
	      "\n"
	      "Flow:\n"
	      "      --inflight N         at most N commands awaiting a reply (default 10000)\n"
	      "      --inflight-bytes N   ... holding at most N bytes of commands, --pass\n"
	      "                           frames and records kept for --dlq (default\n"
	      "                           67108864: 64 MiB)\n"
	      "      --pass               write each frame to standard output once Redis has\n"
	      "                           acknowledged it, in input order\n"
	      "      --dry-run            print the commands, one per line; connect to nothing\n"
	      "\n"
	      "A record that cannot become a command (a key or value field missing, nothing\n"
	      "to write), or whose command Redis answers with an error (e.g. WRONGTYPE):\n"
	      ERRPOL_HELP
	      "\n"
	      "Other:\n"
	      "  -v, --verbose            report the connection, and counts at exit\n"
	      "      --max-frame BYTES    largest frame accepted (default 16777216)\n"
	      "\n"
	      "Checkpoints:\n"
	      "      --checkpoint-dir DIR take part in DIR's checkpoints: a barrier completes\n"
	      "                           only once Redis acknowledged every write before it\n"
	      "                           (default: $RTAI_CHECKPOINT_DIR; none: off)\n"
	      "      --stage-name NAME    name this stage in DIR (two sinks with the same\n"
	      "                           options in one pipeline)\n"
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

/* The script behind --replace: the hash becomes the record, atomically
 * (DEL, HSET and PEXPIRE in one script, so a reader never sees the hash
 * empty or half-written). ARGV[1] the event time when --only-newer checks
 * it, else ""; ARGV[2] TTL in ms (0: none); ARGV[3..] field/value pairs. */
static const char replace_script[] =
	"-- rtai-sink-redis --replace: the hash becomes the record.\n"
	"local function newer(a, b)\n"
	"  local na, nb = a:sub(1, 1) == '-', b:sub(1, 1) == '-'\n"
	"  if na ~= nb then return nb end\n"
	"  if #a ~= #b then return (#a > #b) ~= na end\n"
	"  return (a > b) ~= na and a ~= b\n"
	"end\n"
	"local t, ttl = ARGV[1], tonumber(ARGV[2])\n"
	"if t ~= '' then\n"
	"  local old = redis.call('HGET', KEYS[1], '" TIME_FIELD "')\n"
	"  if old and newer(old, t) then return 0 end\n"
	"end\n"
	"redis.call('DEL', KEYS[1])\n"
	"if t ~= '' then redis.call('HSET', KEYS[1], '" TIME_FIELD "', t) end\n"
	"if #ARGV > 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end\n"
	"if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end\n"
	"return 1\n";

static char replace_sha[41];		/* its SHA-1 */
static struct rcl rc;			/* the Redis client (or the --dry-run printer) */
static struct ackq aq;			/* --pass, --dlq, checkpoints: frames until acknowledged */
static int use_aq;			/* whether aq is in use (--pass, --dlq or checkpoints) */
static struct errpol ep = ERRPOL_INIT;	/* --on-error, --dlq */
static struct ckpt *ck;			/* checkpoints; NULL when off */
static struct rec brec;		/* a barrier's fields */
static struct buf snapbuf;		/* the snapshot, reused */
static struct tmpl key;			/* compiled -k */
static char sha[41];			/* the script's SHA-1, for EVALSHA */
static char ttl_ms[24];			/* --ttl in ms, as text; "0" for none */
static struct frame_rd rd;		/* standard input */
static struct frame_wr out;		/* --pass: the stream; --dry-run: text */
static struct rec rec;		/* the record being encoded */
static struct buf kbuf, vbuf;		/* key, value */
static int status = RTAI_EXIT_OK;
static int stopping;			/* a failure under --on-error fail */

static struct {
	uint64_t in, written, older, failed;
} count;

/* ---- messages ----------------------------------------------------------- */

/* The counts: failed are records not written because the work stopped
 * (--on-error fail, or Redis lost for good); skipped and dead-lettered
 * are the error policy's, with the first one named (without -v). */
static void print_counts(void)
{
	char older[48] = "";

	if (opt.only_newer)
		snprintf(older, sizeof(older), "%llu older skipped, ",
			 (unsigned long long)count.older);
	cli_warn("%llu written, %s%llu retried, %llu failed, %llu skipped, %llu dead-lettered%s%s",
		  (unsigned long long)count.written, older, (unsigned long long)rc.retried,
		  (unsigned long long)count.failed, (unsigned long long)ep.skipped,
		  (unsigned long long)ep.dead, ep.first[0] != '\0' && !opt.verbose ? "; first: " : "",
		  opt.verbose ? "" : ep.first);
}

/* A record refused (it cannot become a command, or Redis answered its
 * command with an error): f is its frame (NULL when it was not kept:
 * then never under dlq). It goes through the error policy; under fail it
 * is counted as failed and the input ends. */
static void record_failed(const struct frame *f, uint64_t recno, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void record_failed(const struct frame *f, uint64_t recno, const char *fmt, ...)
{
	char msg[1024], where[1280];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(where, sizeof(where), "%s: record %llu: %s", rd.name, (unsigned long long)recno,
		 msg);
	if (errpol_refuse(&ep, f, where, msg) < 0) {
		count.failed++;
		stopping = 1;
		status = RTAI_EXIT_FAIL;
	}
}

/* Gives up: what was not acknowledged is counted as failed. */
static void __attribute__((noreturn)) give_up(const char *msg)
{
	count.failed += rcl_pending(&rc);
	cli_warn("%s", msg);
	print_counts();
	if (out.fd >= 0)
		wr_close(&out);	/* what was acknowledged still goes on */
	errpol_close(&ep);	/* and the dead letters so far */
	exit(RTAI_EXIT_FAIL);
}

/* ---- acknowledgements ------------------------------------------------------ */

/* ---- checkpoints ---------------------------------------------------------- */

/* The stage's state: a tag and version, then the counts, so that -v and
 * the failure report of a resumed run count the records before its
 * checkpoint too. What Redis holds is the rest of the state. */
#define STATE_TAG "rtai-sink-redis 1"

/* This stage's state from its snapshot (on_barrier writes it): the tag,
 * then the counts. Returns 0, or -1 with a message. */
static int load_state(const uint8_t *p, size_t n, char *err, size_t errlen)
{
	struct snap_rd r;

	if (snap_open_tagged(&r, p, n, STATE_TAG, "rtai-sink-redis", err, errlen) < 0)
		return -1;
	count.written = snap_get_u64(&r);
	count.older = snap_get_u64(&r);
	count.failed = snap_get_u64(&r);
	return snap_close_tagged(&r, 1, err, errlen);
}

/* Opens DIR and loads the latest complete checkpoint, if any. Returns 0,
 * or an exit status after a message. */
static int ckpt_start(int argc, char **argv)
{
	int64_t id;

	return ckpt_stage(&ck, &id, STAGE, opt.ckpt_dir, argc, argv, opt.stage_name, load_state);
}

/* A barrier leaving the queue: every command before it is acknowledged,
 * so this stage's part of the checkpoint is written. Not after a failure
 * under --on-error fail: that checkpoint would skip the failed record on
 * a rerun. A barrier that cannot be decoded or written ends the input
 * (exit 1), as in rtai-window. */
static void on_barrier(const struct frame *f)
{
	struct barrier b;
	char err[1024];

	if (stopping)
		return;
	if (barrier_read(&rd, f, &brec, &b) < 0) {
		stopping = 1;
		status = RTAI_EXIT_FAIL;
		return;
	}
	errpol_flush(&ep);	/* the dead letters before the barrier are in the DLQ */
	buf_reset(&snapbuf);
	snap_bytes(&snapbuf, STATE_TAG, strlen(STATE_TAG));
	snap_u64(&snapbuf, count.written);
	snap_u64(&snapbuf, count.older);
	snap_u64(&snapbuf, count.failed);
	if (ckpt_write(ck, b.checkpoint, snapbuf.p, snapbuf.len, err, sizeof(err)) < 0) {
		cli_warn("checkpoint %lld: %s", (long long)b.checkpoint, err);
		stopping = 1;
		status = RTAI_EXIT_FAIL;
	}
}

/* A frame whose write was acknowledged, in input order: a barrier is
 * checkpointed; with --pass, every frame goes on (without it the queue
 * holds only the frames' headers, or whole records for --dlq). */
static void forward(void *arg, const struct frame *f)
{
	(void)arg;
	if (f->kind == RTAI_K_BARRIER && ck != NULL)
		on_barrier(f);
	if (opt.pass)
		wr_put(&out, f->kind, f->enc, f->flags, f->ingest_ns, f->event_ns, f->payload,
		       f->len);
}

/* Queues f in the acknowledged-output queue: the whole frame with --pass
 * or --dlq (a refused record's dead letter), else (checkpoints only) its
 * header, and a barrier's payload. */
static uint64_t queue(const struct frame *f, int need_ack)
{
	struct frame h;

	if (opt.pass || ep.mode == ERRPOL_DLQ || f->kind == RTAI_K_BARRIER)
		return ackq_push(&aq, f, need_ack);
	h = *f;
	h.len = 0;
	h.payload = NULL;
	return ackq_push(&aq, &h, need_ack);
}

/* Redis answered a record's commands: tag is its record number, tag2 its
 * place in the --pass queue. */
static void on_done(void *arg, const struct rcl_done *d)
{
	int ok = 1;

	(void)arg;
	if (d->reply->type == REDIS_REPLY_ERROR) {
		static struct buf k;	/* reused: no allocation per refused record */
		struct frame f;
		int kept = use_aq && ep.mode == ERRPOL_DLQ && ackq_peek(&aq, d->tag2, &f) == 0;

		buf_reset(&k);
		resp_repr(&k, d->key, d->klen);
		buf_putc(&k, '\0');
		record_failed(kept ? &f : NULL, d->tag, "key %s: %s", (char *)k.p, d->reply->str);
		ok = 0;
	} else if (opt.only_newer && d->reply->type == REDIS_REPLY_INTEGER &&
		   d->reply->integer == 0) {
		count.older++;
	} else {
		count.written++;
	}
	if (use_aq)
		ackq_ack(&aq, d->tag2, ok);
}

/* ---- encoding ------------------------------------------------------------ */

/* Adds the value of f (null as the empty string). */
static void arg_val(const struct rec_field *f)
{
	buf_reset(&vbuf);
	if (f->v.type != RT_NULL)
		val_text(&f->v, &vbuf);
	rcl_arg(&rc, vbuf.p, vbuf.len);
}

/* --replace: whether field f of the record goes into the hash: not when
 * null, nor when --fields leaves it out, nor --only-newer's own field. */
static int keep_field(const struct rec_field *f)
{
	int chosen = opt.fields == NULL;

	if (f->v.type == RT_NULL)
		return 0;
	if (opt.only_newer && f->nlen == strlen(TIME_FIELD) &&
	    memcmp(f->name, TIME_FIELD, f->nlen) == 0)
		return 0;
	for (size_t i = 0; i < opt.nfields && !chosen; i++)
		chosen = opt.fields[i].n == f->nlen && memcmp(opt.fields[i].s, f->name, f->nlen) == 0;
	return chosen;
}

/* Builds the commands for the record in rec as one entry of the client,
 * not yet committed. Returns 0, or -1 after reporting a bad record. */
static int encode(const struct frame *f, uint64_t recno)
{
	char err[512];
	const struct rec_field *fld = NULL;
	size_t npairs = 0;

	buf_reset(&kbuf);
	if (tmpl_render(&key, &rec, &kbuf, err, sizeof(err)) < 0) {
		record_failed(f, recno, "key: %s", err);
		return -1;
	}
	if (opt.only_newer && opt.mode != M_HASH && kbuf.len >= strlen(":" TIME_FIELD) &&
	    memcmp(kbuf.p + kbuf.len - strlen(":" TIME_FIELD), ":" TIME_FIELD,
		   strlen(":" TIME_FIELD)) == 0) {
		/* Such a key is another key's version: writing it could freeze
		 * that key, or move it back in time. */
		buf_putc(&kbuf, '\0');
		record_failed(f, recno, "key %s ends in \":" TIME_FIELD "\", where --only-newer keeps the event time of key %.*s; no record may write there",
			      (char *)kbuf.p, (int)(kbuf.len - 1 - strlen(":" TIME_FIELD)),
			      (char *)kbuf.p);
		return -1;
	}
	if (opt.only_newer && f->event_ns == RTAI_TIME_UNSET) {
		record_failed(f, recno, "no event time (--only-newer compares event times: give the stream one, e.g. with rtai-parse)");
		return -1;
	}
	if (opt.mode == M_VALUE) {
		fld = rec_getz(&rec, opt.value);
		if (fld == NULL) {
			record_failed(f, recno, "no field \"%s\" (--value)", opt.value);
			return -1;
		}
	} else if (opt.mode == M_HASH && opt.replace) {
		/* Absent and null fields are left out: the script removes them. */
		for (uint32_t i = 0; i < rec.n; i++)
			npairs += keep_field(&rec.f[i]);
	} else if (opt.mode == M_HASH && opt.fields != NULL) {
		for (size_t i = 0; i < opt.nfields; i++)
			if (rec_get(&rec, opt.fields[i].s, opt.fields[i].n) == NULL) {
				record_failed(f, recno, "no field \"%.*s\" (--fields)",
					      (int)opt.fields[i].n, opt.fields[i].s);
				return -1;
			}
		npairs = opt.nfields;
	} else if (opt.mode == M_HASH) {
		for (uint32_t i = 0; i < rec.n; i++)
			npairs += !(opt.only_newer && rec.f[i].nlen == strlen(TIME_FIELD) &&
				    memcmp(rec.f[i].name, TIME_FIELD, rec.f[i].nlen) == 0);
		if (npairs == 0) {
			record_failed(f, recno, "no fields to write (--hash)");
			return -1;
		}
	}

	rcl_begin(&rc);
	if (opt.mode != M_HASH) {
		/* The value first, into a buffer of its own. */
		static struct buf val;

		buf_reset(&val);
		if (opt.mode == M_JSON)
			rec_to_json(&rec, &val);
		else if (fld->v.type != RT_NULL)
			val_text(&fld->v, &val);
		if (opt.only_newer) {
			rcl_cmd(&rc, 8);
			rcl_argz(&rc, "EVALSHA");
			rcl_arg(&rc, sha, 40);
			rcl_argz(&rc, "2");
			rcl_key(&rc, kbuf.p, kbuf.len);
			buf_append(&kbuf, ":" TIME_FIELD, strlen(":" TIME_FIELD));
			rcl_arg(&rc, kbuf.p, kbuf.len);
			rcl_arg_int(&rc, f->event_ns);
			rcl_argz(&rc, ttl_ms);
		} else {
			rcl_cmd(&rc, opt.ttl ? 5 : 3);
			rcl_argz(&rc, "SET");
			rcl_key(&rc, kbuf.p, kbuf.len);
		}
		rcl_arg(&rc, val.p, val.len);
		if (opt.ttl && !opt.only_newer) {
			rcl_argz(&rc, "PX");
			rcl_argz(&rc, ttl_ms);
		}
		return 0;
	}

	if (opt.replace) {
		rcl_cmd(&rc, 6 + 2 * npairs);
		rcl_argz(&rc, "EVALSHA");
		rcl_arg(&rc, replace_sha, 40);
		rcl_argz(&rc, "1");
		rcl_key(&rc, kbuf.p, kbuf.len);
		if (opt.only_newer)
			rcl_arg_int(&rc, f->event_ns);
		else
			rcl_arg(&rc, "", 0);
		rcl_argz(&rc, ttl_ms);
		for (uint32_t i = 0; i < rec.n; i++) {
			if (!keep_field(&rec.f[i]))
				continue;
			rcl_arg(&rc, rec.f[i].name, rec.f[i].nlen);
			arg_val(&rec.f[i]);
		}
		return 0;
	}
	if (opt.only_newer) {
		rcl_cmd(&rc, 6 + 2 * npairs);
		rcl_argz(&rc, "EVALSHA");
		rcl_arg(&rc, sha, 40);
		rcl_argz(&rc, "1");
		rcl_key(&rc, kbuf.p, kbuf.len);
		rcl_arg_int(&rc, f->event_ns);
		rcl_argz(&rc, ttl_ms);
	} else {
		rcl_cmd(&rc, 2 + 2 * npairs);
		rcl_argz(&rc, "HSET");
		rcl_key(&rc, kbuf.p, kbuf.len);
	}
	if (opt.fields != NULL) {
		for (size_t i = 0; i < opt.nfields; i++) {
			rcl_arg(&rc, opt.fields[i].s, opt.fields[i].n);
			arg_val(rec_get(&rec, opt.fields[i].s, opt.fields[i].n));
		}
	} else {
		for (uint32_t i = 0; i < rec.n; i++) {
			if (opt.only_newer && rec.f[i].nlen == strlen(TIME_FIELD) &&
			    memcmp(rec.f[i].name, TIME_FIELD, rec.f[i].nlen) == 0)
				continue;
			rcl_arg(&rc, rec.f[i].name, rec.f[i].nlen);
			arg_val(&rec.f[i]);
		}
	}
	if (opt.ttl && !opt.only_newer) {
		rcl_cmd(&rc, 3);
		rcl_argz(&rc, "PEXPIRE");
		rcl_arg(&rc, kbuf.p, kbuf.len);
		rcl_argz(&rc, ttl_ms);
	}
	return 0;
}

/* ---- the stream --------------------------------------------------------- */

/* One frame from the input: a record is queued as commands (or printed
 * with --dry-run); other frames follow it with --pass. */
static void take(const struct frame *f)
{
	uint64_t recno = rd.nrec, seq = 0;

	if (f->kind == RTAI_K_MARKER) {
		if (opt.pass)
			wr_marker(&out, f, STAGE);
		return;
	}
	if (f->kind != RTAI_K_DATA) {
		if (use_aq && (opt.pass || (f->kind == RTAI_K_BARRIER && ck != NULL)))
			queue(f, 0);
		return;
	}
	count.in++;
	if (rec_from_frame(&rec, f) < 0) {
		record_failed(f, recno, "%s", rec.err);
		return;
	}
	if (encode(f, recno) < 0)
		return;
	if (use_aq)
		seq = queue(f, 1);
	rcl_commit(&rc, recno, seq);
	if (opt.dry_run) {
		wr_bytes(&out, rc.dry_text.p, rc.dry_text.len);
		buf_reset(&rc.dry_text);
		count.written++;
	}
}

/* The input ends at its end, on a fault, or at SIGINT/SIGTERM. */
static int input_open;

/* The most that awaited replies at once, for -v. */
static struct {
	size_t cmds;
	uint64_t bytes;
} peak;

/* Whether to take more input: not while the pipeline is full, in commands
 * or in bytes (one record is always taken when nothing is pending). */
static int want_input(void)
{
	uint64_t bytes = rcl_pending_bytes(&rc) + ackq_bytes(&aq);

	if (rcl_pending(&rc) > peak.cmds)
		peak.cmds = rcl_pending(&rc);
	if (bytes > peak.bytes)
		peak.bytes = bytes;
	return input_open && !stopping &&
	       (opt.dry_run || rcl_pending(&rc) == 0 ||
		(rcl_pending(&rc) < (size_t)opt.inflight &&
		 bytes < (uint64_t)opt.inflight_bytes));
}

/* Whether the work is over: all acknowledged after the input ended, or
 * after a failure, all that was sent acknowledged. */
static int finished(void)
{
	if (rcl_pending(&rc) == 0)
		return !input_open || stopping;
	if (stopping)
		return rcl_sent_settled(&rc);
	return 0;
}

/* ---- the loop (lib/loop.h) -----------------------------------------------
 * Standard input is the loop's frame input, paused while the pipeline is
 * full; the Redis socket is a descriptor it watches, for what rcl_events()
 * asks. */

static struct loop *loop;
static struct loop_in *input;		/* standard input, until it ends */
static struct loop_fd *redis_fd;	/* the socket (none with --dry-run) */

/* After the input was handed out, replies were read, or the input ended:
 * sends what is queued (connecting first when needed), ends the loop once
 * the work is over, and says what to watch and whether to read. */
static void settle(void)
{
	if (opt.dry_run) {
		if (!input_open || stopping)
			loop_stop(loop);
		return;
	}
	if (!stopping || rcl_fd(&rc) >= 0) {
		if (rcl_fd(&rc) < 0 && out.fd >= 0)
			wr_flush(&out);	/* connecting may take a while */
		if (rcl_flush(&rc) < 0)
			give_up(rc.err);
	}
	if (finished()) {
		loop_stop(loop);
		return;
	}
	loop_fd_set(redis_fd, rcl_fd(&rc), rcl_fd(&rc) >= 0 ? rcl_events(&rc) : 0);
	if (input != NULL)
		loop_pause(input, !want_input());
}

static int on_frame(void *arg, struct frame_rd *r, const struct frame *f)
{
	(void)arg;
	(void)r;
	take(f);
	loop_pause(input, !want_input());
	return 0;
}

/* The input's end, a read error, or SIGINT/SIGTERM (sig_stop). */
static int on_end(void *arg, struct frame_rd *r, enum loop_end why)
{
	(void)arg;
	if (why == LOOP_END_ERROR) {
		cli_warn("%s", r->err);
		status = r->cut ? RTAI_EXIT_CUT : RTAI_EXIT_FAIL;
	}
	input_open = 0;
	input = NULL;		/* the loop forgets it */
	settle();
	return 0;
}

static int on_drained(void *arg)
{
	(void)arg;
	settle();
	return 0;
}

/* Replies (or the connection's end): rcl_io() reads them; what waits to
 * be sent goes from settle(). */
static int on_redis(void *arg, short revents)
{
	short ev = revents & (POLLIN | POLLHUP | POLLERR);

	(void)arg;
	if (ev != 0 && rcl_io(&rc, ev) < 0)
		give_up(rc.err);
	return 0;
}

static void run(void)
{
	static const struct loop_ops ops = { .data = on_frame, .control = on_frame,
					     .end = on_end };

	loop = loop_new(STAGE);
	if (out.fd >= 0)
		loop_add_writer(loop, &out);
	if (errpol_writer(&ep) != NULL)
		loop_add_writer(loop, errpol_writer(&ep));	/* dead letters kept if killed */
	input_open = 1;
	input = loop_add_input(loop, &rd, LOOP_FRAMES, &ops, NULL);
	if (!opt.dry_run)
		redis_fd = loop_add_fd(loop, rcl_fd(&rc), rcl_fd(&rc) >= 0 ? rcl_events(&rc) : 0,
				       on_redis, NULL);
	loop_on_drained(loop, on_drained, NULL);
	if (loop_run(loop) < 0 && loop_err(loop) != NULL)
		cli_die(RTAI_EXIT_FAIL, "%s", loop_err(loop));
	loop_free(loop);
	input = NULL;
}

/* ---- main ----------------------------------------------------------------- */

static void parse_fields(const char *arg)
{
	const char *p = arg;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);

		if (n == 0 || n > 255)
			cli_usage_error("--fields: '%s': expected field names separated by commas",
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
		cli_usage_error("--value, --hash and --json exclude each other");
	opt.mode = m;
}

int main(int argc, char **argv)
{
	const char *max_frame = NULL;
	char err[512], **argv0;
	int c, argc0 = argc;

	argv = argv0 = rurl_hide_argv(argc, argv);
	cli_init(STAGE, argv);
	while ((c = getopt_long(argc, argv, "u:k:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			free(opt.url);
			opt.url = xstrdup(optarg);
			break;
		case 'k': opt.key = optarg; break;
		case OPT_VALUE: set_mode(M_VALUE); opt.value = optarg; break;
		case OPT_HASH: set_mode(M_HASH); break;
		case OPT_FIELDS: set_mode(M_HASH); parse_fields(optarg); break;
		case OPT_JSON: set_mode(M_JSON); break;
		case OPT_TTL:
			opt.ttl = cli_opt_duration("--ttl", optarg);
			if (opt.ttl < 1000000)
				cli_usage_error("--ttl: '%s': Redis expires keys in whole milliseconds; give at least 1ms",
						 optarg);
			break;
		case OPT_ONLY_NEWER: opt.only_newer = 1; break;
		case OPT_REPLACE: opt.replace = 1; break;
		case OPT_INFLIGHT:
			opt.inflight = cli_opt_int("--inflight", optarg, 1, 1000000);
			break;
		case OPT_INFLIGHT_BYTES:
			opt.inflight_bytes = cli_opt_int("--inflight-bytes", optarg, 1, INT64_MAX);
			break;
		case OPT_PASS: opt.pass = 1; break;
		case OPT_RETRY_FOR: opt.retry_for = cli_opt_duration("--retry-for", optarg); break;
		case OPT_ON_ERROR: errpol_mode_arg(&ep, optarg); break;
		case OPT_DLQ: errpol_dlq_arg(&ep, optarg); break;
		case OPT_DRY_RUN: opt.dry_run = 1; break;
		case 'v': opt.verbose = 1; break;
		case OPT_MAX_FRAME: max_frame = optarg; break;
		case OPT_CHECKPOINT_DIR: opt.ckpt_dir = optarg; break;
		case OPT_STAGE_NAME: opt.stage_name = optarg; break;
		case 'h': usage(RTAI_EXIT_OK); break;
		case OPT_VERSION: cli_version(); break;
		default: cli_usage_hint();
		}
	}
	argc -= optind;
	argv += optind;
	rd_set_max_frame(max_frame);
	rec_set_max_fields(NULL);
	errpol_check(&ep);
	ep.verbose = opt.verbose;
	if (argc > 0)
		cli_usage_error("unexpected argument '%s': records come on standard input", argv[0]);
	if (opt.key == NULL)
		cli_usage_error("a key template is needed: -k 'features:user:{user_id}'");
	if (opt.mode == M_NONE)
		cli_usage_error("say what to write: --value FIELD, --hash or --json");
	if (opt.replace && opt.mode != M_HASH)
		cli_usage_error("--replace is for --hash (--value and --json replace the whole value already)");
	if (opt.pass && opt.dry_run)
		cli_usage_error("--pass and --dry-run exclude each other");
	if (tmpl_compile(&key, opt.key, err, sizeof(err)) < 0)
		cli_usage_error("--key: '%s': %s", opt.key, err);
	if (key.nfields == 0)	/* "-k user_id": every record into one key */
		cli_warn("--key: '%s' has no {field}: every record goes to that one key "
			  "(did you mean -k '{%s}'?)", opt.key, opt.key);
	if (rcl_init(&rc, opt.url, on_done, NULL, err, sizeof(err)) < 0)
		cli_usage_error("--url: %s", err);
	if (opt.dry_run) {
		rcl_free(&rc);
		rcl_init_dry(&rc);
	}
	rc.retry_for = opt.retry_for;
	rc.retry_opt = "--retry-for";
	rc.verbose = opt.verbose;
	if (opt.only_newer)
		rcl_script(&rc, script, sizeof(script) - 1, sha);
	if (opt.replace)
		rcl_script(&rc, replace_script, sizeof(replace_script) - 1, replace_sha);
	snprintf(ttl_ms, sizeof(ttl_ms), "%lld", (long long)(opt.ttl / 1000000));

	/* --dry-run writes nothing to Redis: it takes no part in checkpoints. */
	if (!opt.dry_run && (status = ckpt_start(argc0, argv0)) != 0)
		goto out;
	sig_catch_stop();
	rd_open_fd(&rd, 0, "stdin");
	out.fd = -1;
	if (opt.pass)
		wr_open_fd(&out, 1, "stdout", 0);
	else if (opt.dry_run)
		wr_open_fd(&out, 1, "stdout", 1);
	use_aq = opt.pass || ck != NULL || (ep.mode == ERRPOL_DLQ && !opt.dry_run);
	ackq_init(&aq, 0, 0, forward, NULL);
	errpol_open(&ep);
	if (!opt.dry_run && rcl_connect(&rc) < 0)
		give_up(rc.err);
	run();
	/* After a failure, what was never sent is not written either. */
	count.failed += rcl_pending(&rc);
	if (out.fd >= 0)
		wr_close(&out);
	errpol_close(&ep);
	if (opt.verbose || count.failed > 0 || errpol_dropped(&ep) > 0)
		print_counts();
	status = errpol_status(&ep, count.in, status, "written");
	if (opt.verbose && !opt.dry_run)
		cli_warn("in flight at most: %zu commands, %llu bytes", peak.cmds,
			  (unsigned long long)peak.bytes);
	if (opt.verbose && rc.cl != NULL)
		cli_warn("cluster: %llu records sent again to another node (MOVED, ASK)",
			  (unsigned long long)rc.redirects);

out:
	ckpt_close(ck);
	rec_free(&brec);
	buf_free(&snapbuf);
	rcl_free(&rc);
	ackq_free(&aq);
	rd_close(&rd);
	rec_free(&rec);
	tmpl_free(&key);
	buf_free(&kbuf);
	buf_free(&vbuf);
	free(opt.fields);
	free(opt.url);
	errpol_free(&ep);
	return status;
}
