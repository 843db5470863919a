/* rtai-sink-kafka - write records into Kafka topics.
 *
 * Each record of the stream on standard input becomes one Kafka message:
 * its value the record as JSON (or, with --raw, the frame's payload as it
 * is), its key and topic rendered from {field} templates, its timestamp
 * the record's event time, its headers from -H. librdkafka's idempotent
 * producer (acks=all, retries without duplicates or reordering) sends
 * them; the key picks the partition with the Java client's murmur2, so a
 * key lands where other clients put it. Delivery reports drive the counts
 * and the exit status, and --pass forwards each frame only once Kafka
 * acknowledged it (lib/ackq.h). There are no transactions: a sink that is
 * restarted sends again what it had not been told was delivered, so the
 * sink is at-least-once. A record that cannot be sent (not a record, a
 * template field missing) or that Kafka refuses (too large, invalid) goes
 * through the one error policy (lib/errpol.h; under dlq it is kept in the
 * queue until its delivery report came); a message that was not delivered
 * after retries is not a record's fault: it always ends the sink, status 1.
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

#include <librdkafka/rdkafka.h>

#include "ackq.h"
#include "buf.h"
#include "cli.h"
#include "errpol.h"
#include "frame.h"
#include "kafka.h"
#include "loop.h"
#include "rec.h"
#include "rtime.h"
#include "sig.h"
#include "tmpl.h"

#define STAGE "rtai-sink-kafka"
#define MAX_HEADERS 64


/* ---- options ---------------------------------------------------------- */

struct header {
	const char *name;		/* points into the -H argument */
	size_t nlen;
	struct tmpl value;		/* compiled value template */
};

static struct {
	const char *brokers;		/* -b */
	const char *topic;		/* -t: topic template */
	const char *key;		/* -k: key template, or NULL */
	struct header hdr[MAX_HEADERS];	/* -H */
	size_t nhdr;
	int raw;			/* --raw: the payload as the value */
	const char *codec;		/* -z */
	int pass;			/* --pass */
	long long inflight;		/* --inflight: unacknowledged messages at most */
	int64_t retry_for;		/* --retry-for: brokers at start, each message */
	int verbose;			/* -v */
} opt = {
	.inflight = 100000,
	.retry_for = 30 * RTAI_NS_PER_SEC,
};

enum {
	OPT_RAW = 256, OPT_PASS, OPT_INFLIGHT, OPT_RETRY_FOR, OPT_ON_ERROR, OPT_DLQ, OPT_MAX_FRAME,
	OPT_VERSION,
};

static const struct option longopts[] = {
	{ "brokers", required_argument, NULL, 'b' },		/* bootstrap servers */
	{ "topic", required_argument, NULL, 't' },		/* topic template */
	{ "key", required_argument, NULL, 'k' },		/* key template */
	{ "header", required_argument, NULL, 'H' },		/* name=value template */
	{ "raw", no_argument, NULL, OPT_RAW },			/* payload as the value */
	{ "compression", required_argument, NULL, 'z' },	/* lz4, zstd, snappy, gzip */
	{ "property", required_argument, NULL, 'X' },		/* librdkafka name=value */
	{ "config", required_argument, NULL, 'F' },		/* properties from a file */
	{ "pass", no_argument, NULL, OPT_PASS },		/* forward acknowledged frames */
	{ "inflight", required_argument, NULL, OPT_INFLIGHT },	/* unacknowledged at most */
	{ "retry-for", required_argument, NULL, OPT_RETRY_FOR },	/* how long to retry */
	{ "on-error", required_argument, NULL, OPT_ON_ERROR },	/* fail, skip or dlq */
	{ "dlq", required_argument, NULL, OPT_DLQ },		/* the dead-letter stream */
	{ "verbose", no_argument, NULL, 'v' },			/* librdkafka's log, counts */
	{ "max-frame", required_argument, NULL, OPT_MAX_FRAME },	/* frame size limit */
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void usage(int status)
{
	FILE *fp = status == 0 ? stdout : stderr;

	fputs("Usage: rtai-sink-kafka -b BROKERS -t TOPIC [-k TEMPLATE] [OPTION]...\n"
	      "Write each record of the rtai stream on standard input into Kafka.\n"
	      "\n"
	      "Where and what:\n"
	      "  -b, --brokers LIST       bootstrap servers, host:port[,host:port...]\n"
	      "  -t, --topic TEMPLATE     the topic, with {field} replaced by the record's value\n"
	      "  -k, --key TEMPLATE       the key, e.g. 'user:{user_id}'; it picks the partition\n"
	      "                           with the Java client's murmur2 (without -k, the key of\n"
	      "                           a record read by rtai-kafka, or none)\n"
	      "  -H, --header NAME=TEMPLATE  add a header (several -H: several)\n"
	      "      --raw                the value is the frame's payload as it is (bytes or\n"
	      "                           text), not the record as JSON\n"
	      "\n"
	      "Kafka:\n"
	      "  -z, --compression CODEC  lz4, zstd, snappy, gzip or none (default none)\n"
	      "  -X, --property NAME=VALUE  any librdkafka property, e.g. -X security.protocol=SSL\n"
	      "                           (values of names holding 'password' are hidden from ps)\n"
	      "  -F, --config FILE        read NAME=VALUE properties from FILE\n"
	      "      --retry-for DUR      keep trying to reach the brokers at start, and to\n"
	      "                           deliver each message, for DUR (default 30s)\n"
	      "\n"
	      "Flow:\n"
	      "      --pass               write each frame to standard output once Kafka has\n"
	      "                           acknowledged it, in input order\n"
	      "      --inflight N         at most N messages awaiting acknowledgement\n"
	      "                           (default 100000)\n"
	      "\n"
	      "A record that cannot be sent (not a record, a template field missing) or that\n"
	      "Kafka refuses (too large, invalid); a message not delivered within --retry-for\n"
	      "always stops the sink (exit 1):\n"
	      ERRPOL_HELP
	      "\n"
	      "Other:\n"
	      "  -v, --verbose            librdkafka's log, and counts at exit\n"
	      "      --max-frame BYTES    largest frame accepted (default 16777216)\n"
	      "  -h, --help               show this help and exit\n"
	      "      --version            show the version and exit\n"
	      "\n"
	      "Examples:\n"
	      "  ... | rtai-sink-kafka -b localhost:9092 -t features -k '{user_id}' -z zstd\n"
	      "  rtai-kafka -b B -t in | rtai-sink-kafka -b B -t copy --raw\n"
	      "\n"
	      "See rtai-sink-kafka(1), rtai-kafka(1) and rtai(7).\n", fp);
	exit(status);
}

/* ---- state ------------------------------------------------------------ */

static rd_kafka_t *rk;
static int kpipe[2] = { -1, -1 };	/* librdkafka's queue event pipe */
static struct frame_rd rd;
static struct frame_wr out;		/* --pass */
static struct ackq q;			/* --pass, --dlq: frames until acknowledged */
static int use_q;			/* records go into q (--pass or --dlq) */
static struct errpol ep = ERRPOL_INIT;	/* --on-error, --dlq */
static struct loop *loop;
static struct loop_in *input;		/* standard input, until it ends */
static struct tmpl topic_tmpl, key_tmpl;
static int topic_fixed;			/* -t has no placeholder */
static rd_kafka_topic_t *topic_h;	/* its handle, then */
static int need_rec;			/* some template or the value needs the record */
static struct rec rec;
#ifdef RTAI_F_META
static struct rec mrec;		/* a frame's source metadata */
#endif
static struct buf topic_b, key_b, val_b, hdr_b[MAX_HEADERS];
static int input_done;			/* the input ended (or a failure ends it) */
static long long inflight;		/* produced, not yet reported */
static int status = RTAI_EXIT_OK;

static struct {
	uint64_t records, delivered, failed;
} count;

/* ---- --pass: frames kept until acknowledged (lib/ackq.h) ---------------------- */

/* A settled frame goes on; a latency marker gets this stage's stamp. */
static void forward(void *arg, const struct frame *f)
{
	(void)arg;
	if (!opt.pass)
		return;		/* --dlq alone: the queue only keeps records */
	if (f->kind == RTAI_K_MARKER)
		wr_marker(&out, f, STAGE);
	else
		wr_frame(&out, f);
}

/* ---- flow ------------------------------------------------------------------ */

/* Reading pauses while --inflight messages or a full --pass queue wait
 * for acknowledgements, and for good once the input is done (its end, or
 * a failure under --on-error fail). */
static void update_pause(void)
{
	if (input != NULL)
		loop_pause(input, input_done || inflight >= opt.inflight ||
					  (use_q && ackq_full(&q)));
}

/* The work is over once the input ended and every message was reported. */
static void maybe_finish(void)
{
	if (input_done && inflight == 0)
		loop_stop(loop);
}

/* A record that cannot go, or that Kafka refused: f is its frame (NULL
 * when it was not kept: never under dlq); where names it, reason is what
 * went wrong. The error policy decides; under fail the input ends. */
static void refused(const struct frame *f, const char *where, const char *reason)
{
	if (errpol_refuse(&ep, f, where, reason) < 0) {
		status = RTAI_EXIT_FAIL;
		input_done = 1;
	}
}

/* refused() for record recno of the input, reason printf-style. */
static void bad_record(const struct frame *f, uint64_t recno, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void bad_record(const struct frame *f, uint64_t recno, const char *fmt, ...)
{
	char reason[1024], where[1400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	snprintf(where, sizeof(where), "%s: record %llu: %s", rd.name, (unsigned long long)recno,
		 reason);
	refused(f, where, reason);
}

/* Whether a delivery error is Kafka refusing this message (a policy
 * matter), not a failure to deliver it (brokers gone, time out). */
static int refusal(rd_kafka_resp_err_t e)
{
	switch (e) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_MSG:
	case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
	case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
		return 1;
	default:
		return 0;
	}
}

/* librdkafka's delivery report, from rd_kafka_poll(): the message is in
 * Kafka (all in-sync replicas have it), or failed for good. */
static void on_delivery(rd_kafka_t *h, const rd_kafka_message_t *m, void *opaque)
{
	uint64_t seq = (uint64_t)(uintptr_t)m->_private;

	(void)h;
	(void)opaque;
	inflight--;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		count.delivered++;
	} else if (refusal(m->err)) {
		char where[1024], reason[256];
		struct frame f;
		int kept = use_q && ackq_peek(&q, seq, &f) == 0;

		snprintf(reason, sizeof(reason), "refused: %s", rd_kafka_err2str(m->err));
		snprintf(where, sizeof(where), "topic \"%s\" partition %d: key %.*s: %s",
			 rd_kafka_topic_name(m->rkt), (int)m->partition,
			 m->key != NULL ? (int)(m->key_len > 64 ? 64 : m->key_len) : 4,
			 m->key != NULL ? (const char *)m->key : "null", reason);
		refused(kept ? &f : NULL, where, reason);
	} else {
		count.failed++;
		cli_warn("topic \"%s\" partition %d: key %.*s: not delivered: %s%s",
			  rd_kafka_topic_name(m->rkt), (int)m->partition,
			  m->key != NULL ? (int)(m->key_len > 64 ? 64 : m->key_len) : 4,
			  m->key != NULL ? (const char *)m->key : "null", rd_kafka_err2str(m->err),
			  m->err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT ? " (--retry-for waits longer)"
								    : "");
		status = RTAI_EXIT_FAIL;
		input_done = 1;
	}
	if (use_q)
		ackq_ack(&q, seq, m->err == RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* ---- records ------------------------------------------------------------------ */

/* Renders template t for the record into b; -1 after reporting. */
static int render(const struct frame *f, const struct tmpl *t, struct buf *b,
		  const char *what, uint64_t recno)
{
	char err[512];

	buf_reset(b);
	if (tmpl_render(t, &rec, b, err, sizeof(err)) == 0)
		return 0;
	bad_record(f, recno, "%s: %s", what, err);
	return -1;
}

/* Produces one record. Returns 0 (queued, or reported and skipped), or -1
 * to end the loop. */
static int produce(const struct frame *f)
{
	rd_kafka_vu_t vu[8 + MAX_HEADERS];
	rd_kafka_error_t *error;
	uint64_t recno = rd.nrec, seq = 0;
	size_t n = 0;
	int tombstone = (f->flags & RTAI_F_TOMBSTONE) != 0;

	count.records++;
	if (need_rec && rec_from_frame(&rec, f) < 0) {
		bad_record(f, recno, "%s%s", rec.err,
			   opt.raw ? "" : " (--raw sends a payload that is not a record as it is)");
		return 0;
	}
	if (!topic_fixed && render(f, &topic_tmpl, &topic_b, "topic", recno) < 0)
		return 0;
	if (opt.key != NULL && render(f, &key_tmpl, &key_b, "key", recno) < 0)
		return 0;
	for (size_t i = 0; i < opt.nhdr; i++)
		if (render(f, &opt.hdr[i].value, &hdr_b[i], "header", recno) < 0)
			return 0;
	if (!tombstone && !opt.raw) {
		buf_reset(&val_b);
		rec_to_json(&rec, &val_b);
	}

	if (topic_fixed) {
		vu[n].vtype = RD_KAFKA_VTYPE_RKT;
		vu[n++].u.rkt = topic_h;
	} else {
		buf_putc(&topic_b, '\0');
		vu[n].vtype = RD_KAFKA_VTYPE_TOPIC;
		vu[n++].u.cstr = (const char *)topic_b.p;
	}
	if (opt.key != NULL) {
		vu[n].vtype = RD_KAFKA_VTYPE_KEY;
		vu[n].u.mem.ptr = key_b.p;
		vu[n++].u.mem.size = key_b.len;
	}
#ifdef RTAI_F_META
	else if (f->meta != NULL && rec_decode(&mrec, f->meta, f->meta_len) == 0) {
		/* A record read by rtai-kafka keeps its Kafka key (a null key is
		 * an absent field). */
		const struct rec_field *k = rec_getz(&mrec, "key");

		if (k != NULL && (k->v.type == RT_BYTES || k->v.type == RT_STR)) {
			vu[n].vtype = RD_KAFKA_VTYPE_KEY;
			vu[n].u.mem.ptr = (void *)k->v.s.p;
			vu[n++].u.mem.size = k->v.s.n;
		}
	}
#endif
	vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
	vu[n].u.mem.ptr = tombstone ? NULL : opt.raw ? (void *)f->payload : val_b.p;
	vu[n++].u.mem.size = tombstone ? 0 : opt.raw ? f->len : val_b.len;
	vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
	vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
	if ((f->flags & RTAI_F_EVENT) && f->event_ns >= 0) {
		vu[n].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
		vu[n++].u.i64 = f->event_ns / 1000000;
	}
	for (size_t i = 0; i < opt.nhdr; i++) {
		vu[n].vtype = RD_KAFKA_VTYPE_HEADER;
		vu[n].u.header.name = opt.hdr[i].name;
		vu[n].u.header.val = hdr_b[i].p;
		vu[n++].u.header.size = (ssize_t)hdr_b[i].len;
	}
	if (use_q)
		seq = ackq_push(&q, f, 1);
	vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
	vu[n++].u.ptr = (void *)(uintptr_t)seq;

	for (;;) {
		error = rd_kafka_produceva(rk, vu, n);
		if (error == NULL) {
			inflight++;
			update_pause();
			return 0;
		}
		if (rd_kafka_error_code(error) != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		/* librdkafka's own bound (queue.buffering.max.*): wait for reports. */
		rd_kafka_error_destroy(error);
		rd_kafka_poll(rk, 100);
	}
	bad_record(f, recno, "%s", rd_kafka_error_string(error));
	rd_kafka_error_destroy(error);
	if (use_q)
		ackq_ack(&q, seq, 0);
	return 0;
}

/* ---- the loop (lib/loop.h) -----------------------------------------------------
 * Standard input is the loop's frame input; the pipe librdkafka writes a
 * byte to when its queue turns non-empty (rd_kafka_queue_io_event_enable)
 * is a descriptor it watches. */

static int on_data(void *arg, struct frame_rd *r, const struct frame *f)
{
	(void)arg;
	(void)r;
	produce(f);
	update_pause();
	maybe_finish();		/* a failure under --on-error fail ends the input */
	return 0;
}

/* Frames other than records follow the records before them with --pass. */
static int on_control(void *arg, struct frame_rd *r, const struct frame *f)
{
	(void)arg;
	(void)r;
	if (opt.pass)
		ackq_push(&q, f, 0);
	update_pause();
	return 0;
}

static int on_end(void *arg, struct frame_rd *r, enum loop_end why)
{
	(void)arg;
	if (why == LOOP_END_ERROR) {
		cli_warn("%s", r->err);
		status = rd_cut_seen ? RTAI_EXIT_CUT : RTAI_EXIT_FAIL;
	}
	input = NULL;		/* the loop forgets it */
	input_done = 1;
	maybe_finish();
	return 0;
}

/* librdkafka's queue turned non-empty: serve it (delivery reports, errors). */
static int on_kafka(void *arg, short revents)
{
	char tmp[256];

	(void)arg;
	(void)revents;
	while (read(kpipe[0], tmp, sizeof(tmp)) > 0)
		;
	rd_kafka_poll(rk, 0);
	if (kaf_fatal()) {
		cli_warn("kafka: %s", kaf_last_error());
		status = RTAI_EXIT_FAIL;
		return -1;
	}
	update_pause();
	maybe_finish();
	return 0;
}

static void run(void)
{
	static const struct loop_ops ops = { .data = on_data, .control = on_control,
					     .end = on_end };

	loop = loop_new(STAGE);
	if (opt.pass)
		loop_add_writer(loop, &out);
	if (errpol_writer(&ep) != NULL)
		loop_add_writer(loop, errpol_writer(&ep));	/* dead letters kept if killed */
	input = loop_add_input(loop, &rd, LOOP_FRAMES, &ops, NULL);
	loop_add_fd(loop, kpipe[0], POLLIN, on_kafka, NULL);
	if (loop_run(loop) < 0 && loop_err(loop) != NULL)
		cli_die(RTAI_EXIT_FAIL, "%s", loop_err(loop));
	loop_free(loop);
	input = NULL;
}

/* ---- options -------------------------------------------------------------------- */

static struct kaf_props props;		/* -X and -F, in the order given */

static void add_header(const char *arg)
{
	const char *eq = strchr(arg, '=');
	struct header *h;
	char err[512];

	if (eq == NULL || eq == arg)
		cli_usage_error("-H '%s': expected NAME=VALUE", arg);
	if (opt.nhdr == MAX_HEADERS)
		cli_usage_error("-H: at most %d headers", MAX_HEADERS);
	h = &opt.hdr[opt.nhdr];
	h->name = xstrndup(arg, (size_t)(eq - arg));
	h->nlen = (size_t)(eq - arg);
	if (tmpl_compile(&h->value, eq + 1, err, sizeof(err)) < 0)
		cli_usage_error("-H '%s': %s", arg, err);
	need_rec |= h->value.nfields > 0;
	opt.nhdr++;
}

/* The configuration (kafka.h): the tool's defaults, then -X and -F in
 * order, then what the tool's guarantees rest on. Exits 2 on a bad
 * property. */
static rd_kafka_conf_t *make_conf(void)
{
	rd_kafka_conf_t *conf = kaf_conf_new();
	char ms[32];

	/* Defaults that -X may change. */
	kaf_conf_must(conf, "client.id", STAGE);
	kaf_conf_must(conf, "enable.idempotence", "true");	/* acks=all, no duplicates on retries */
	kaf_conf_must(conf, "partitioner", "murmur2_random");	/* the Java client's partitions */
	kaf_conf_must(conf, "linger.ms", "5");
	snprintf(ms, sizeof(ms), "%lld", (long long)(opt.retry_for / 1000000));
	kaf_conf_must(conf, "message.timeout.ms", ms);
	if (opt.codec != NULL)
		kaf_conf_must(conf, "compression.codec", opt.codec);
	opt.brokers = kaf_conf_apply(conf, &props, opt.brokers, opt.verbose);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	return conf;
}

static void parse_options(int argc, char **argv)
{
	const char *max_frame = NULL;
	char err[512];
	int c;

	while ((c = getopt_long(argc, argv, "b:t:k:H:z:X:F:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'b': opt.brokers = optarg; break;
		case 't': opt.topic = optarg; break;
		case 'k': opt.key = optarg; break;
		case 'H': add_header(optarg); break;
		case OPT_RAW: opt.raw = 1; break;
		case 'z':
			if (strcmp(optarg, "lz4") != 0 && strcmp(optarg, "zstd") != 0 &&
			    strcmp(optarg, "snappy") != 0 && strcmp(optarg, "gzip") != 0 &&
			    strcmp(optarg, "none") != 0)
				cli_usage_error("-z '%s': expected lz4, zstd, snappy, gzip or none",
						 optarg);
			opt.codec = optarg;
			break;
		case 'X': kaf_props_add(&props, optarg, 0); break;
		case 'F': kaf_props_add(&props, optarg, 1); break;
		case OPT_PASS: opt.pass = 1; break;
		case OPT_INFLIGHT:
			opt.inflight = cli_opt_int("--inflight", optarg, 1, 10000000);
			break;
		case OPT_RETRY_FOR:
			opt.retry_for = cli_opt_duration("--retry-for", optarg);
			if (opt.retry_for < 1000000)
				cli_usage_error("--retry-for: '%s': at least 1ms", optarg);
			break;
		case OPT_ON_ERROR: errpol_mode_arg(&ep, optarg); break;
		case OPT_DLQ: errpol_dlq_arg(&ep, optarg); break;
		case 'v': opt.verbose = 1; break;
		case OPT_MAX_FRAME: max_frame = optarg; break;
		case 'h': usage(RTAI_EXIT_OK); break;
		case OPT_VERSION: cli_version(); break;
		default: cli_usage_hint();
		}
	}
	if (optind < argc)
		cli_usage_error("unexpected argument '%s': records come on standard input",
				 argv[optind]);
	rd_set_max_frame(max_frame);
	errpol_check(&ep);
	ep.verbose = opt.verbose;
	if (opt.topic == NULL)
		cli_usage_error("a topic is needed: -t TOPIC");
	if (tmpl_compile(&topic_tmpl, opt.topic, err, sizeof(err)) < 0)
		cli_usage_error("-t '%s': %s", opt.topic, err);
	topic_fixed = topic_tmpl.nfields == 0;
	need_rec |= !topic_fixed || !opt.raw;
	if (opt.key != NULL) {
		if (tmpl_compile(&key_tmpl, opt.key, err, sizeof(err)) < 0)
			cli_usage_error("-k '%s': %s", opt.key, err);
		need_rec |= key_tmpl.nfields > 0;
	}
}

/* ---- main ---------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_queue_t *mq;
	char err[1024];

	cli_init(STAGE, argv);
	parse_options(argc, argv);
	rk = kaf_new(RD_KAFKA_PRODUCER, make_conf(), err, sizeof(err));
	if (rk == NULL)
		cli_die(RTAI_EXIT_USAGE, "%s", err);

	sig_catch_stop();	/* rtai(7): a stage; the source upstream ends the stream */
	sig_set_source(0);

	md = kaf_wait_brokers(rk, opt.brokers, 0, opt.retry_for, NULL, err, sizeof(err));
	if (md == NULL) {
		cli_warn("%s (check -b, or wait longer with --retry-for)", err);
		rd_kafka_destroy(rk);
		return RTAI_EXIT_FAIL;
	}
	rd_kafka_metadata_destroy(md);
	/* A handle asks for the topic's metadata now, not at librdkafka's next
	 * scan of its topics (a second later): the first message goes at once. */
	if (topic_fixed && (topic_h = rd_kafka_topic_new(rk, opt.topic, NULL)) == NULL)
		cli_die(RTAI_EXIT_FAIL, "topic \"%s\": %s", opt.topic,
			 rd_kafka_err2str(rd_kafka_last_error()));

	if (pipe(kpipe) < 0)
		cli_die(RTAI_EXIT_FAIL, "pipe: %s", strerror(errno));
	for (int i = 0; i < 2; i++)
		fcntl(kpipe[i], F_SETFL, fcntl(kpipe[i], F_GETFL) | O_NONBLOCK);
	mq = rd_kafka_queue_get_main(rk);
	rd_kafka_queue_io_event_enable(mq, kpipe[1], "k", 1);

	rd_open_fd(&rd, 0, "stdin");
	if (opt.pass)
		wr_open_fd(&out, 1, "stdout", 0);
	use_q = opt.pass || ep.mode == ERRPOL_DLQ;
	/* Reading stops while 64 MiB or --inflight frames are held. */
	ackq_init(&q, 64u << 20, (size_t)opt.inflight, forward, NULL);
	errpol_open(&ep);
	rd_kafka_poll(rk, 0);	/* reports that came before the pipe was set */
	run();
	if (inflight > 0) {
		/* Stopped early (a fatal error): what was not reported has failed. */
		count.failed += (uint64_t)inflight;
		status = RTAI_EXIT_FAIL;
	}
	if (opt.pass && status == RTAI_EXIT_OK)
		wr_close(&out);
	else if (opt.pass)
		wr_flush(&out);
	errpol_close(&ep);
	if (opt.verbose || count.failed > 0 || errpol_dropped(&ep) > 0)
		cli_warn("%llu records: %llu delivered, %llu failed, %llu skipped, %llu dead-lettered%s%s",
			  (unsigned long long)count.records, (unsigned long long)count.delivered,
			  (unsigned long long)count.failed, (unsigned long long)ep.skipped,
			  (unsigned long long)ep.dead,
			  ep.first[0] != '\0' && !opt.verbose ? "; first: " : "",
			  opt.verbose ? "" : ep.first);
	status = errpol_status(&ep, count.records, status, "delivered");

	rd_kafka_queue_io_event_enable(mq, -1, NULL, 0);
	rd_kafka_queue_destroy(mq);
	if (topic_h != NULL)
		rd_kafka_topic_destroy(topic_h);
	rd_kafka_destroy(rk);
	close(kpipe[0]);
	close(kpipe[1]);
	rd_close(&rd);
	ackq_free(&q);
	rec_free(&rec);
#ifdef RTAI_F_META
	rec_free(&mrec);
#endif
	tmpl_free(&topic_tmpl);
	tmpl_free(&key_tmpl);
	for (size_t i = 0; i < opt.nhdr; i++) {
		tmpl_free(&opt.hdr[i].value);
		free((char *)opt.hdr[i].name);
		buf_free(&hdr_b[i]);
	}
	buf_free(&topic_b);
	buf_free(&key_b);
	buf_free(&val_b);
	errpol_free(&ep);
	return status;
}
