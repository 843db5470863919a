/* rtai-kafka - read Kafka topics into an rtai record stream.
 *
 * Each message becomes a data frame whose payload is the message's value
 * (raw bytes) and whose source metadata (topic, partition, offset, key,
 * timestamp, headers) travels with it (RTAI_F_META, rtai-record(5)); a null
 * value is a tombstone (RTAI_F_TOMBSTONE). Partitions are assigned (-p, or
 * all of them) or shared by a consumer group (-G). In a group, the offset
 * of a message is stored only after the frame was written to standard
 * output, and librdkafka commits stored offsets (every
 * auto.commit.interval.ms, on a rebalance and at the end): at-least-once.
 * With checkpoints (--checkpoint-dir, rtai(7) "Checkpoints") it is the
 * pipeline's source, as Flink's Kafka source is: each barrier carries the
 * next offset of every assigned partition, and those offsets are committed
 * to Kafka only once the checkpoint is complete; a rerun starts each
 * partition at its offset in the latest complete checkpoint.
 * With --replay (a group without checkpoints), a partition's committed
 * offset stays at its first message that a window still open downstream may
 * need, so the member that takes the partition over rebuilds that state by
 * reading again (issue 16, rtai(7) "WHEN ONE MACHINE IS NOT ENOUGH"); the
 * commit's metadata names the horizon, so that member skips the messages of
 * windows already written, and a partition given up gets a revoke frame
 * (revoke.h), on which the windows downstream drop its state.
 * The options are kcat's letters.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include <jansson.h>

#include "barrier.h"
#include "buf.h"
#include "ckpt.h"
#include "cli.h"
#include "errpol.h"
#include "frame.h"
#include "kafka.h"
#include "rtime.h"
#include "loop.h"
#include "rec.h"
#include "revoke.h"
#include "sig.h"

#define STAGE "rtai-kafka"

/* ---- options ---------------------------------------------------------- */

enum start { S_DEFAULT, S_BEGINNING, S_END, S_OFFSET, S_TAIL, S_TIME };

static struct {
	const char *brokers;		/* -b: bootstrap servers */
	const char **topics;		/* -t: names, or ^regexes */
	size_t ntopics;
	const char *group;		/* -G: consumer group, or NULL to assign */
	int32_t *parts;			/* -p: partitions to assign, or all */
	size_t nparts;
	enum start start;		/* -o */
	int64_t start_val;		/* -o: offset, count from the end, or ms */
	int exit_eof;			/* -e: stop at the end of the partitions */
	long long count;		/* -c: stop after this many records; 0: no */
	int64_t retry_for;		/* --retry-for: wait for brokers at start, ns */
	int verbose;			/* -v */
	const char *ckpt_dir;		/* --checkpoint-dir, or NULL for $RTAI_CHECKPOINT_DIR */
	int64_t ckpt_every;		/* --checkpoint-interval, ns; 0 = on SIGUSR1 only */
	int64_t replay_size;		/* --replay SIZE, ms; 0: commit what was written */
	int64_t replay_slack;		/* --replay ...+SLACK, ms */
	int64_t max_drift;		/* --max-drift, ms; 0: off */
} opt = {
	.retry_for = 30 * RTAI_NS_PER_SEC,
};

enum {
	OPT_RETRY_FOR = 256, OPT_ON_ERROR, OPT_DLQ, OPT_MAX_FRAME, OPT_VERSION, OPT_CKPT_DIR,
	OPT_CKPT_INTERVAL, OPT_REPLAY, OPT_MAX_DRIFT
};

static const struct option longopts[] = {
	{ "brokers", required_argument, NULL, 'b' },		/* bootstrap servers */
	{ "topic", required_argument, NULL, 't' },		/* topic or ^regex */
	{ "group", required_argument, NULL, 'G' },		/* consumer group */
	{ "partition", required_argument, NULL, 'p' },		/* assign this partition */
	{ "offset", required_argument, NULL, 'o' },		/* where to start */
	{ "exit", no_argument, NULL, 'e' },			/* stop at the end */
	{ "count", required_argument, NULL, 'c' },		/* stop after N records */
	{ "property", required_argument, NULL, 'X' },		/* librdkafka name=value */
	{ "config", required_argument, NULL, 'F' },		/* properties from a file */
	{ "retry-for", required_argument, NULL, OPT_RETRY_FOR },	/* wait for brokers */
	{ "on-error", required_argument, NULL, OPT_ON_ERROR },	/* fail, skip or dlq */
	{ "dlq", required_argument, NULL, OPT_DLQ },		/* the dead-letter stream */
	{ "verbose", no_argument, NULL, 'v' },			/* librdkafka's log, counts */
	{ "max-frame", required_argument, NULL, OPT_MAX_FRAME },	/* frame size limit */
	{ "checkpoint-dir", required_argument, NULL, OPT_CKPT_DIR },	/* checkpoints there */
	{ "checkpoint-interval", required_argument, NULL, OPT_CKPT_INTERVAL }, /* barrier period */
	{ "replay", required_argument, NULL, OPT_REPLAY },	/* commit behind open windows */
	{ "max-drift", required_argument, NULL, OPT_MAX_DRIFT },	/* watermark alignment */
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void usage(int status)
{
	FILE *fp = status == 0 ? stdout : stderr;

	fputs("Usage: rtai-kafka -b BROKERS -t TOPIC [-G GROUP | -p PARTITION]... [OPTION]...\n"
	      "Read Kafka topics into an rtai record stream on standard output: one data frame\n"
	      "per message, its value as the payload, its topic, partition, offset, key,\n"
	      "timestamp and headers as the frame's source metadata.\n"
	      "\n"
	      "What to read:\n"
	      "  -b, --brokers LIST       bootstrap servers, host:port[,host:port...]\n"
	      "  -t, --topic TOPIC        a topic; several -t read several; a name starting\n"
	      "                           with ^ is a regular expression\n"
	      "  -G, --group GROUP        share the partitions with the other members of the\n"
	      "                           consumer group GROUP, starting from its committed\n"
	      "                           offsets (stored once a record is written out)\n"
	      "  -p, --partition N        read partition N of each topic (several -p: several);\n"
	      "                           without -G or -p, every partition\n"
	      "  -o, --offset WHERE       start at: beginning (the default), end, N (an offset),\n"
	      "                           -N (N before the end), s@MS (the first message at or\n"
	      "                           after MS milliseconds since the epoch); with -G only\n"
	      "                           beginning or end, for partitions without a committed\n"
	      "                           offset\n"
	      "  -e, --exit               stop at the end of the partitions (else follow them)\n"
	      "  -c, --count N            stop after N records\n"
	      "      --replay SIZE[+SLACK]  with -G: commit each partition only up to its first\n"
	      "                           message at or after the start of the SIZE window\n"
	      "                           (aligned to the epoch) holding the newest timestamp\n"
	      "                           read minus SLACK, so a member taking a partition over\n"
	      "                           reads again what open windows need (after tumbling\n"
	      "                           windows of SIZE: SLACK = their delay + lateness)\n"
	      "      --max-drift DUR      pause a partition whose newest timestamp is more than\n"
	      "                           DUR ahead of the slowest partition still being read,\n"
	      "                           until that one catches up (watermark alignment)\n"
	      "\n"
	      "librdkafka:\n"
	      "  -X, --property NAME=VALUE  any librdkafka property, e.g. -X security.protocol=SSL\n"
	      "                           (values of names holding 'password' are hidden from ps)\n"
	      "  -F, --config FILE        read NAME=VALUE properties from FILE\n"
	      "      --retry-for DUR      at start, keep trying to reach the brokers for DUR\n"
	      "                           (default 30s), then exit 1\n"
	      "\n"
	      "Checkpoints (rtai(7)):\n"
	      "      --checkpoint-dir DIR the pipeline's checkpoint directory (default:\n"
	      "                           $RTAI_CHECKPOINT_DIR): barriers carry each assigned\n"
	      "                           partition's next offset, committed to Kafka once\n"
	      "                           the checkpoint is complete; a rerun resumes at the\n"
	      "                           offsets of the latest complete checkpoint\n"
	      "      --checkpoint-interval DUR  inject a checkpoint barrier every DUR, once the\n"
	      "                           previous one is complete (SIGUSR1: one now;\n"
	      "                           SIGTERM: a savepoint, then the end of the stream)\n"
	      "\n"
	      "A message that cannot become a frame (larger than the frame limit, or a\n"
	      "consumer error about that one message; its dead letter keeps its metadata):\n"
	      ERRPOL_HELP
	      "\n"
	      "Other:\n"
	      "  -v, --verbose            librdkafka's log and counts on stderr\n"
	      "      --max-frame BYTES    largest frame written (default 16777216)\n"
	      "  -h, --help               show this help and exit\n"
	      "      --version            show the version and exit\n"
	      "\n"
	      "Examples:\n"
	      "  rtai-kafka -b localhost:9092 -t clicks -e | rtai-cat -p --meta\n"
	      "  rtai-kafka -b localhost:9092 -G features -t clicks | rtai-parse --meta -t _timestamp ...\n"
	      "\n"
	      "See rtai-kafka(1), rtai-record(5) and rtai(7).\n", fp);
	exit(status);
}

/* ---- state ------------------------------------------------------------ */

struct part {
	char *topic;			/* owned */
	int32_t partition;
	int64_t next;			/* offset after the last record written */
	int64_t ck;			/* resuming: its offset in the checkpoint, until
					 * assigned; -1: none */
	uint8_t assigned;		/* ours now */
	uint8_t eof;			/* at its end (-e, --max-drift) */
	uint8_t paused;			/* by --max-drift */
	int64_t ts;			/* --max-drift: the newest timestamp written
					 * (ms); INT64_MIN: none yet */
	uint8_t dirty;			/* next not yet stored */
	/* --replay: the offsets and timestamps (ms) of the messages written
	 * whose offsets are not committable yet, oldest first, in a ring
	 * that grows to the horizon's size and is reused */
	struct held { int64_t off, ts; } *held;
	size_t hcap, hhead, hlen;
	int64_t stored;			/* the offset last stored; -1: none */
	int64_t stored_h;		/* --replay: the horizon (ms) then; INT64_MIN: none */
	int64_t stored_read;		/* --replay: next then */
	/* --replay, reading again from a commit: messages before skip_to
	 * whose timestamp is before skip_h (ms) belong to windows the last
	 * owner wrote whole, and are skipped */
	int64_t skip_h, skip_to;
};

static rd_kafka_t *rk;
static rd_kafka_queue_t *queue;		/* the consumer queue: messages, events */
static struct frame_wr out;
static int out_open;			/* out can take frames */
static struct buf frame;		/* a message's metadata (kafka.h) */
static struct buf rbuf;			/* a revoke frame's payload (revoke.h) */
static struct errpol ep = ERRPOL_INIT;	/* --on-error, --dlq */
static struct rec dmeta;		/* scratch: a dead letter's metadata */
static struct buf dbuf;			/* ... encoded */
static struct part *parts;		/* every partition seen */
static size_t nparts, partcap, last_part;
static int done;			/* -e or -c reached */
static int status = RTAI_EXIT_OK;

/* Checkpoints (rtai(7) "Checkpoints"): rtai-kafka as the pipeline's source.
 * One checkpoint is in flight at a time (Flink's default
 * max-concurrent-checkpoints of 1): the next barrier waits until the last
 * is complete, whose offsets are then committed. */
static struct {
	struct ckpt *c;			/* NULL: checkpoints off */
	int64_t resumed;		/* the checkpoint resumed from, 0 for none */
	int64_t id;			/* the last barrier's id */
	int64_t inflight;		/* a barrier sent, not yet complete; 0: none */
	int64_t due;			/* CLOCK_MONOTONIC time of the next barrier */
	int asked;			/* SIGUSR1 asked for one */
	int64_t backoff;		/* the wait after the last declined (ckpt_backoff) */
	int failed;			/* a snapshot could not be written */
	struct buf pos;			/* the positions, as JSON */
	size_t n, cap;			/* the in-flight checkpoint's positions: */
	size_t *idx;			/* ... parts[idx[i]] */
	int64_t *off;			/* ... at offset off[i] */
	uint64_t commits;		/* checkpoints whose offsets were committed */
} cp;

static struct {
	uint64_t records, tombstones;
	uint64_t revoked;		/* revoke frames written (--replay) */
	uint64_t skipped;		/* read again, of windows written (--replay) */
	uint64_t paused;		/* partitions paused by --max-drift */
} count;

/* --replay: the newest message timestamp read (ms), over every partition
 * this member read; INT64_MIN before the first. */
static int64_t newest_ts = INT64_MIN;

/* ---- partitions ----------------------------------------------------------- */

static struct part *part_get(const char *topic, int32_t partition)
{
	struct part *p;

	if (last_part < nparts && parts[last_part].partition == partition &&
	    strcmp(parts[last_part].topic, topic) == 0)
		return &parts[last_part];
	for (size_t i = 0; i < nparts; i++)
		if (parts[i].partition == partition && strcmp(parts[i].topic, topic) == 0)
			return &parts[last_part = i];
	if (nparts == partcap) {
		partcap = partcap ? partcap * 2 : 16;
		parts = xrealloc(parts, partcap * sizeof(*parts));
	}
	p = &parts[last_part = nparts++];
	*p = (struct part){ .topic = xstrdup(topic), .partition = partition, .next = -1, .ck = -1,
			    .stored = -1, .stored_h = INT64_MIN, .skip_h = INT64_MIN,
			    .ts = INT64_MIN };
	return p;
}

/* --replay: remembers that message off, of timestamp ts (ms; < 0: none,
 * taken as the newest read so far), was written. The ring doubles when
 * full, so in the steady state nothing is allocated. */
static void held_push(struct part *p, int64_t off, int64_t ts)
{
	if (ts < 0)
		ts = newest_ts != INT64_MIN ? newest_ts : 0;
	if (ts > newest_ts)
		newest_ts = ts;
	if (p->hlen == p->hcap) {
		size_t cap = p->hcap ? p->hcap * 2 : 256;
		struct held *h = xmalloc(cap * sizeof(*h));

		for (size_t i = 0; i < p->hlen; i++)
			h[i] = p->held[(p->hhead + i) % p->hcap];
		free(p->held);
		p->held = h;
		p->hcap = cap;
		p->hhead = 0;
	}
	p->held[(p->hhead + p->hlen++) % p->hcap] = (struct held){ off, ts };
}

/* --replay: the offset to commit for p: its first message written whose
 * timestamp is at or after the horizon H, the start of the window of
 * opt.replay_size ms, aligned to the epoch (as rtai-window --tumbling
 * aligns), that holds newest_ts - opt.replay_slack; or, when every message
 * written is older than H, the offset after the last one. A window that
 * downstream has not fired (its end + lateness above its watermark, itself
 * at most newest_ts - delay) starts at or after H, and every message of it
 * in p is at that offset or later, so the member that takes p over from the
 * commit reads every message of every open window of p's keys, and none of
 * a window that closed (H is a window boundary). Messages older than H
 * leave the ring (H only grows, so they never count again). Needs the
 * messages' timestamps to be their event times (rtai-sink-kafka writes
 * them so). */
static int64_t held_commit(struct part *p, int64_t *horizon)
{
	int64_t x, h;

	*horizon = INT64_MIN;
	if (newest_ts == INT64_MIN)
		return p->next;
	x = newest_ts - opt.replay_slack;
	h = x / opt.replay_size * opt.replay_size;
	if (h > x)	/* floor division, for times before 1970 */
		h -= opt.replay_size;
	while (p->hlen > 0 && p->held[p->hhead].ts < h) {
		p->hhead = (p->hhead + 1) % p->hcap;
		p->hlen--;
	}
	*horizon = h;
	return p->hlen > 0 ? p->held[p->hhead].off : p->next;
}

/* --replay: the messages still held, over the assigned partitions. */
static size_t held_total(void)
{
	size_t n = 0;

	for (size_t i = 0; i < nparts; i++)
		n += parts[i].assigned ? parts[i].hlen : 0;
	return n;
}

/* --replay: the commit's metadata (the horizon and the position it was
 * taken at), and the commits. librdkafka 2.0's auto-commit sends no
 * metadata with stored offsets (its issue 3927, fixed in 2.2), so with
 * --replay the tool commits itself, every auto.commit.interval.ms, as a
 * partition goes, and at the end. */
static int replay_dirty;		/* stored since the last commit */
static int64_t replay_every = 5000 * 1000000LL;	/* auto.commit.interval.ms, in ns */
static struct loop_timer *replay_timer;
static int replay_armed;

#define REPLAY_META "rtai-kafka --replay horizon=%lld read=%lld"

/* Commits the stored offsets of the assigned partitions, each with its
 * horizon, synchronously unless async. */
static void replay_commit(int async)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)nparts + 1);
	rd_kafka_resp_err_t e;

	for (size_t i = 0; i < nparts; i++) {
		struct part *p = &parts[i];
		rd_kafka_topic_partition_t *t;
		char md[96];
		int n;

		if (!p->assigned || p->stored < 0)
			continue;
		t = rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
		t->offset = p->stored;
		n = snprintf(md, sizeof(md), REPLAY_META, (long long)p->stored_h,
			     (long long)p->stored_read);
		t->metadata = xmalloc((size_t)n);	/* freed by librdkafka */
		memcpy(t->metadata, md, (size_t)n);
		t->metadata_size = (size_t)n;
	}
	replay_dirty = 0;
	if (l->cnt > 0) {
		e = rd_kafka_commit(rk, l, async);
		if (e != RD_KAFKA_RESP_ERR_NO_ERROR && opt.verbose)
			cli_warn("committing offsets: %s", rd_kafka_err2str(e));
	}
	rd_kafka_topic_partition_list_destroy(l);
}

/* --replay: where a partition assigned with committed offset t starts
 * skipping: what its commit's metadata says, or, without one, what this
 * process stored of it. */
static void replay_skip_from(struct part *p, const rd_kafka_topic_partition_t *t)
{
	long long h, rd;
	char md[96];

	p->skip_h = INT64_MIN;
	p->skip_to = -1;
	if (t->offset >= 0 && t->metadata != NULL && t->metadata_size < sizeof(md)) {
		memcpy(md, t->metadata, t->metadata_size);
		md[t->metadata_size] = '\0';
		/* A horizon beyond the times a window can have is not ours. */
		if (sscanf(md, REPLAY_META, &h, &rd) == 2 && h > -(1LL << 62) / 1000000 &&
		    h < (1LL << 62) / 1000000) {
			p->skip_h = h;
			p->skip_to = rd;
		}
	} else if (t->offset >= 0 && t->offset == p->stored) {
		p->skip_h = p->stored_h;
		p->skip_to = p->stored_read;
	}
}

static int on_replay_timer(void *arg)
{
	(void)arg;
	replay_armed = 0;
	if (replay_dirty)
		replay_commit(1);
	return 0;
}

/* Stores the offsets of the records written since the last call (a group
 * only): librdkafka commits them; with --replay, replay_commit does. Call
 * once they left for stdout. */
static void store_offsets(void)
{
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t e;
	size_t n = 0;
	int64_t h;

	if (opt.group == NULL || cp.c != NULL)
		return;	/* with checkpoints, offsets are committed on completion */
	if (opt.replay_size > 0) {
		for (size_t i = 0; i < nparts; i++) {
			struct part *p = &parts[i];
			int64_t off;

			if (!p->dirty || !p->assigned)
				continue;
			p->dirty = 0;
			off = held_commit(p, &h);
			if (off == p->stored && h == p->stored_h && p->next == p->stored_read)
				continue;
			p->stored = off;
			p->stored_h = h;
			p->stored_read = p->next;
			replay_dirty = 1;
		}
		if (replay_dirty && !replay_armed && replay_timer != NULL) {
			loop_timer_after(replay_timer, replay_every);
			replay_armed = 1;
		}
		return;
	}
	for (size_t i = 0; i < nparts; i++) {
		struct part *p = &parts[i];

		n += p->dirty && p->assigned;
	}
	if (n == 0)
		return;
	l = rd_kafka_topic_partition_list_new((int)n);
	for (size_t i = 0; i < nparts; i++) {
		struct part *p = &parts[i];

		if (!p->dirty || !p->assigned)
			continue;
		p->stored = p->next;
		rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->stored;
		p->dirty = 0;
	}
	e = rd_kafka_offsets_store(rk, l);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR && opt.verbose)
		cli_warn("storing offsets: %s", rd_kafka_err2str(e));
	rd_kafka_topic_partition_list_destroy(l);
}

/* Everything written so far leaves for stdout (and dead letters for --dlq),
 * then its offsets are stored. */
static void flush_and_store(void)
{
	if (out_open)
		wr_flush(&out);
	errpol_flush(&ep);
	store_offsets();
}

static int all_at_eof(void)
{
	size_t n = 0;

	for (size_t i = 0; i < nparts; i++) {
		if (!parts[i].assigned)
			continue;
		if (!parts[i].eof)
			return 0;
		n++;
	}
	return n > 0;
}

/* ---- --max-drift: watermark alignment -------------------------------------
 * One watermark downstream serves every partition of this process, so a
 * partition read ahead in event time (a backlog taken in turns of bytes,
 * where a partition of fewer events per second moves on faster) makes the
 * records of the others late. As Flink's watermark alignment (FLIP-182,
 * its max allowed drift), a partition whose newest timestamp is more than
 * the drift ahead of the slowest partition still being read is paused
 * (rd_kafka_pause_partitions: what librdkafka had fetched of it is
 * dropped and fetched again on resume) until that one catches up. A
 * partition not read from yet holds every other back until its first
 * message (its event time is not known: it may be far behind) or its end;
 * a partition at its end (PARTITION_EOF) holds nothing back. As in Flink,
 * a partition that never answers (its leader down) holds the others until
 * it does. */

/* The slowest partition's newest timestamp (ms) as of the last
 * drift_min(); INT64_MIN: none. drift_unknown: a partition being read has
 * no timestamp yet. */
static int64_t drift_floor = INT64_MIN;
static int drift_unknown;

/* Pauses (pause) or resumes partition p. */
static void drift_pause(struct part *p, int pause)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_resp_err_t e;

	rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
	e = pause ? rd_kafka_pause_partitions(rk, l) : rd_kafka_resume_partitions(rk, l);
	if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
		e = l->elems[0].err;
	if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
		p->paused = (uint8_t)pause;
		if (pause)
			count.paused++;
	} else if (opt.verbose) {
		cli_warn("--max-drift: %s \"%s\" partition %d: %s", pause ? "pausing" : "resuming",
			  p->topic, (int)p->partition, rd_kafka_err2str(e));
	}
	rd_kafka_topic_partition_list_destroy(l);
}

/* Sets drift_floor and drift_unknown from the partitions being read.
 * Time: the partitions. */
static void drift_min(void)
{
	int64_t lo = INT64_MAX;

	drift_unknown = 0;
	for (size_t i = 0; i < nparts; i++) {
		const struct part *p = &parts[i];

		if (!p->assigned || p->eof)
			continue;
		if (p->ts == INT64_MIN)
			drift_unknown = 1;
		else if (p->ts < lo)
			lo = p->ts;
	}
	drift_floor = lo == INT64_MAX ? INT64_MIN : lo;
}

/* Whether p is more than the drift ahead. */
static inline int drift_ahead(const struct part *p)
{
	return p->ts != INT64_MIN &&
	       (drift_unknown || (drift_floor != INT64_MIN && p->ts - drift_floor > opt.max_drift));
}

/* A message of timestamp ts (ms; < 0: none) of p was written. The floor
 * is found again when p was the slowest or no floor is known: only the
 * slowest partition's messages cost a pass over the partitions. */
static inline void drift_note(struct part *p, int64_t ts)
{
	int64_t old = p->ts;

	if (ts >= 0 && ts > p->ts)
		p->ts = ts;
	else if (ts < 0 && p->ts == INT64_MIN)	/* no timestamp: read, not behind */
		p->ts = drift_floor != INT64_MIN ? drift_floor : 0;
	if (drift_unknown || drift_floor == INT64_MIN || old == drift_floor)
		drift_min();
	if (!p->paused && drift_ahead(p))
		drift_pause(p, 1);
}

/* Finds the slowest partition being read, and resumes those within the
 * drift of it (the slowest itself always: nothing waits on nothing). */
static void drift_align(void)
{
	drift_min();
	for (size_t i = 0; i < nparts; i++) {
		struct part *p = &parts[i];

		if (p->paused && (!p->assigned || !drift_ahead(p)))
			drift_pause(p, 0);
	}
}

/* A group rebalance: partitions come and go. Before any go, what was read
 * from them is written and its offsets stored, so that the commit
 * librdkafka makes as they go covers it: a rebalance loses nothing. */
static void on_rebalance(rd_kafka_t *h, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *list, void *opaque)
{
	int coop = strcmp(rd_kafka_rebalance_protocol(h), "COOPERATIVE") == 0;
	rd_kafka_error_t *error = NULL;
	rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;

	(void)opaque;
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		/* Each partition starts after what was written of it: its
		 * committed offset, or, when this process wrote further (its
		 * commit during the rebalance failed, as commits do while a
		 * group is joining), its own position, so a partition that
		 * comes back is not read twice. */
		rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_copy(list);

		if (rd_kafka_committed(h, l, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
			for (int i = 0; i < l->cnt; i++)
				l->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
		for (int i = 0; i < l->cnt; i++) {
			struct part *p = part_get(l->elems[i].topic, l->elems[i].partition);

			if (l->elems[i].err)
				l->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
			if (opt.replay_size > 0) {
				/* --replay: downstream dropped the partition's
				 * open windows when it went (a revoke frame), so
				 * they are read again from the commit, held
				 * back to their first message; from what this
				 * process stored when the commit is unknown. */
				if (l->elems[i].offset < 0 && p->stored >= 0)
					l->elems[i].offset = p->stored;
				replay_skip_from(p, &l->elems[i]);
				if (p->skip_h != INT64_MIN && out_open) {
					/* Before its records: the windows that
					 * start before the horizon are written. */
					buf_reset(&rbuf);
					assign_encode(p->topic, strlen(p->topic), p->partition,
						      p->skip_h * (RTAI_NS_PER_SEC / 1000), &rbuf);
					wr_put(&out, RTAI_K_ASSIGN, RTAI_E_REC, 0, cli_now_ns(),
					       RTAI_TIME_UNSET, rbuf.p, rbuf.len);
				}
			} else if (p->next >= 0 && p->next > l->elems[i].offset) {
				l->elems[i].offset = p->next;
			}
			if (p->ck >= 0) {
				/* Resuming: the offset in the checkpoint, which
				 * the restored state of the pipeline matches. */
				l->elems[i].offset = p->ck;
				p->next = p->ck;
				p->ck = -1;
			}
			p->assigned = 1;
			p->eof = 0;
			p->dirty = 0;
			p->hlen = 0;
			p->ts = INT64_MIN;	/* --max-drift: from its first message */
			if (opt.replay_size > 0 && l->elems[i].offset >= 0)
				p->next = l->elems[i].offset;
			p->stored = opt.replay_size > 0 ? l->elems[i].offset : -1;
			p->stored_h = p->skip_h;	/* the pair committed */
			p->stored_read = p->skip_to;
		}
		if (coop)
			error = rd_kafka_incremental_assign(h, l);
		else
			e = rd_kafka_assign(h, l);
		rd_kafka_topic_partition_list_destroy(l);
	} else {
		flush_and_store();
		if (opt.replay_size > 0)
			replay_commit(0);	/* before the partitions go */
		for (int i = 0; i < list->cnt; i++) {
			struct part *p = part_get(list->elems[i].topic, list->elems[i].partition);

			if (p->paused)	/* a pause would outlive the assignment */
				drift_pause(p, 0);
			p->assigned = 0;
			p->dirty = 0;
			p->hlen = 0;
			if (opt.replay_size > 0 && out_open) {
				/* The stages downstream drop its open windows:
				 * its next owner writes them. */
				buf_reset(&rbuf);
				revoke_encode(p->topic, strlen(p->topic), p->partition, &rbuf);
				wr_put(&out, RTAI_K_REVOKE, RTAI_E_REC, 0, cli_now_ns(),
				       RTAI_TIME_UNSET, rbuf.p, rbuf.len);
				count.revoked++;
			}
		}
		if (opt.replay_size > 0 && out_open)
			wr_flush(&out);
		if (coop)
			error = rd_kafka_incremental_unassign(h, list);
		else
			e = rd_kafka_assign(h, NULL);
	}
	if (opt.verbose)
		cli_warn("group %s: %s %d partition%s", opt.group,
			  err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? "assigned" : "revoked",
			  list->cnt, list->cnt == 1 ? "" : "s");
	if (error != NULL) {
		cli_warn("group %s: %s", opt.group, rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	} else if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		cli_warn("group %s: %s", opt.group, rd_kafka_err2str(e));
	}
}

/* ---- messages ------------------------------------------------------------- */

/* errpol's letter: the frame refuse() builds is written as it is (the
 * message, its metadata with the reason in "error"), never as a record. */
static int letter_as_read(void *arg, const struct frame *f, const char *reason,
			  struct buf *out_, uint8_t *enc)
{
	(void)arg, (void)f, (void)reason, (void)out_, (void)enc;
	return -1;
}

/* A message that cannot become a record goes through the error policy
 * (lib/errpol.h): under dlq its dead letter is the message as read, its
 * value the payload and its metadata (kafka.h) with the reason as
 * "error". Under skip and dlq its offset counts as done. Returns -1 when
 * the tool must stop (fail). */
static int refuse(const rd_kafka_message_t *m, struct part *p, const char *what)
{
	const char *topic = rd_kafka_topic_name(m->rkt);
	struct frame f = { 0 };
	char where[1024];

	snprintf(where, sizeof(where), "topic \"%s\" partition %d offset %lld: %s", topic,
		 (int)m->partition, (long long)m->offset, what);
	if (ep.mode == ERRPOL_DLQ) {
		buf_reset(&frame);
		kaf_meta_encode(m, &frame);
		if (rec_decode(&dmeta, frame.p, frame.len) < 0)
			cli_die(RTAI_EXIT_FAIL, "%s: its metadata: %s", where, dmeta.err);
		rec_set(&dmeta, "error", 5, val_str(what, strlen(what)));
		buf_reset(&dbuf);
		rec_encode(&dmeta, &dbuf);
		f.kind = RTAI_K_DATA;
		f.enc = RTAI_E_RAW;
		f.flags = RTAI_F_META | (m->err == 0 && m->payload == NULL ? RTAI_F_TOMBSTONE : 0);
		f.ingest_ns = cli_now_ns();
		f.event_ns = RTAI_TIME_UNSET;
		f.meta = dbuf.p;
		f.meta_len = (uint32_t)dbuf.len;
		f.payload = m->payload != NULL ? m->payload : (const void *)"";
		f.len = (uint32_t)m->len;
	}
	if (errpol_refuse(&ep, &f, where, what) < 0)
		return -1;
	p->next = m->offset + 1;
	p->dirty = 1;
	return 0;
}

/* A consumer error or event. Returns -1 when the tool must stop. */
static int on_consumer_error(const rd_kafka_message_t *m)
{
	const char *topic = m->rkt != NULL ? rd_kafka_topic_name(m->rkt) : NULL;

	switch (m->err) {
	case RD_KAFKA_RESP_ERR__PARTITION_EOF:
		if (topic != NULL)
			part_get(topic, m->partition)->eof = 1;
		if (opt.exit_eof && all_at_eof())
			done = 1;
		if (opt.max_drift > 0)
			drift_align();	/* it holds nothing back now */
		return 0;
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
		cli_warn("topic \"%s\": %s (create it, or check -t)", topic ? topic : "?",
			  rd_kafka_message_errstr(m));
		return -1;
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR__FATAL:
		cli_warn("%s%s%s%s", topic ? "topic \"" : "", topic ? topic : "",
			  topic ? "\": " : "", rd_kafka_message_errstr(m));
		return -1;
	case RD_KAFKA_RESP_ERR__BAD_MSG:
	case RD_KAFKA_RESP_ERR__BAD_COMPRESSION:
	case RD_KAFKA_RESP_ERR_INVALID_MSG:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
		/* One message (or its batch) that cannot be read: librdkafka
		 * names its offset and goes on past it. */
		if (topic != NULL && m->offset >= 0) {
			char what[512];

			snprintf(what, sizeof(what), "cannot be read: %s",
				 rd_kafka_message_errstr(m));
			return refuse(m, part_get(topic, m->partition), what);
		}
		/* FALLTHROUGH */
	default:
		if (rd_kafka_fatal_error(rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR) {
			cli_warn("%s", rd_kafka_message_errstr(m));
			return -1;
		}
		if (opt.verbose)
			cli_warn("kafka: %s", rd_kafka_message_errstr(m));
		return 0;
	}
}

/* One message becomes one data frame. Returns -1 when the tool must stop. */
static int take(const rd_kafka_message_t *m)
{
	const char *topic;
	struct part *p;
	uint16_t flags = 0;

	if (m->err)
		return on_consumer_error(m);
	topic = rd_kafka_topic_name(m->rkt);
	p = part_get(topic, m->partition);
	p->eof = 0;

	buf_reset(&frame);
	kaf_meta_encode(m, &frame);
	if ((uint64_t)RTAI_FRAME_FIXED + 4 + frame.len + m->len > rd_max_frame) {
		char what[512];

		snprintf(what, sizeof(what),
			 "a message of %zu bytes (value) and %zu (metadata) is larger than the "
			 "frame limit of %u bytes (--max-frame raises it)",
			 m->len, frame.len, rd_max_frame);
		return refuse(m, p, what);
	}
	if (m->offset < p->skip_to && p->skip_h != INT64_MIN) {
		int64_t ts = rd_kafka_message_timestamp(m, NULL);

		if (ts >= 0 && ts < p->skip_h) {
			/* Read again, of a window its last owner wrote whole. */
			p->next = m->offset + 1;
			p->dirty = 1;
			count.skipped++;
			return 0;
		}
	}
	if (m->payload == NULL) {
		flags |= RTAI_F_TOMBSTONE;
		count.tombstones++;
	}
	wr_put_meta(&out, RTAI_K_DATA, RTAI_E_RAW, flags, cli_now_ns(), RTAI_TIME_UNSET,
		    frame.p, frame.len, m->payload != NULL ? m->payload : "", m->len);
	if (opt.replay_size > 0)
		held_push(p, m->offset, rd_kafka_message_timestamp(m, NULL));
	if (opt.max_drift > 0)
		drift_note(p, rd_kafka_message_timestamp(m, NULL));
	p->next = m->offset + 1;
	p->dirty = 1;
	count.records++;
	if (opt.count > 0 && count.records >= (uint64_t)opt.count)
		done = 1;
	return 0;
}

/* Takes what the consumer queue holds, at most a batch. Returns 1 when
 * more may be waiting, 0 when the queue is empty, -1 to stop. */
static int drain(void)
{
	rd_kafka_message_t *m;

	for (int n = 0; n < 4096; n++) {
		int r;

		if (done || sig_stop)
			return 0;
		m = rd_kafka_consumer_poll(rk, 0);
		if (m == NULL)
			return kaf_fatal() ? -1 : 0;
		r = take(m);
		rd_kafka_message_destroy(m);
		if (r < 0)
			return -1;
	}
	return 1;
}

/* ---- checkpoints --------------------------------------------------------- */

/* The positions of the assigned partitions, as the barrier's "sources"
 * array (rtai-record(5) "Barriers") and in cp.idx/cp.off: the offset after
 * the last record written, or, for a partition nothing was read from yet,
 * librdkafka's fetch position when it is known. A partition whose position
 * is not known yet (its start not resolved) is left out: a rerun starts it
 * as a fresh start would (-o, or the group's committed offset). */
static void cp_positions(void)
{
	rd_kafka_topic_partition_list_t *l = NULL;

	for (size_t i = 0; i < nparts; i++) {
		if (!parts[i].assigned || parts[i].next >= 0)
			continue;
		if (l == NULL)
			l = rd_kafka_topic_partition_list_new(4);
		rd_kafka_topic_partition_list_add(l, parts[i].topic, parts[i].partition);
	}
	if (l != NULL && rd_kafka_position(rk, l) != RD_KAFKA_RESP_ERR_NO_ERROR)
		l->cnt = 0;
	if (cp.cap < nparts) {
		cp.cap = nparts;
		cp.idx = xrealloc(cp.idx, cp.cap * sizeof(*cp.idx));
		cp.off = xrealloc(cp.off, cp.cap * sizeof(*cp.off));
	}
	cp.n = 0;
	buf_reset(&cp.pos);
	buf_putc(&cp.pos, '[');
	for (size_t i = 0; i < nparts; i++) {
		int64_t off = parts[i].next;

		if (!parts[i].assigned)
			continue;
		for (int k = 0; off < 0 && l != NULL && k < l->cnt; k++)
			if (l->elems[k].partition == parts[i].partition &&
			    strcmp(l->elems[k].topic, parts[i].topic) == 0 && !l->elems[k].err)
				off = l->elems[k].offset;
		if (off < 0)
			continue;
		buf_puts(&cp.pos, cp.n > 0 ? ",{\"source\":\"rtai-kafka\",\"topic\":" :
					     "{\"source\":\"rtai-kafka\",\"topic\":");
		json_put_str(&cp.pos, parts[i].topic, strlen(parts[i].topic));
		buf_printf(&cp.pos, ",\"partition\":%d,\"offset\":%lld}", (int)parts[i].partition,
			   (long long)off);
		cp.idx[cp.n] = i;
		cp.off[cp.n++] = off;
	}
	buf_putc(&cp.pos, ']');
	/* Lists librdkafka filled go before the handle (rd_kafka_destroy). */
	if (l != NULL)
		rd_kafka_topic_partition_list_destroy(l);
}

/* Takes checkpoint (or savepoint) id + 1 (barrier_take), after every
 * record read before it: the snapshot is written in the background; one
 * that could not be written is reported at the next barrier or at the end
 * (barrier_wait), declines its checkpoint, and the run exits 1. */
static void cp_take(int savepoint)
{
	int rc;

	cp.id++;
	cp_positions();
	rc = barrier_take(cp.c, &out, cp.id, savepoint, cp.pos.p, cp.pos.len, cp.pos.p,
			  cp.pos.len);
	if (rc != 0)
		cp.failed = 1;
	if (rc < 0)
		return;
	cp.inflight = cp.id;
}

/* Checkpoint cp.inflight is complete: its offsets go to Kafka (the
 * partitions still assigned; a partition that moved to another member is
 * that member's to commit). async: rd_kafka_commit's flag, 0 at the end so
 * the commit is done before the consumer closes. */
static void cp_commit(int async)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)cp.n + 1);
	rd_kafka_resp_err_t e;

	for (size_t i = 0; i < cp.n; i++) {
		struct part *p = &parts[cp.idx[i]];

		if (p->assigned)
			rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset =
				cp.off[i];
	}
	if (l->cnt > 0) {
		e = rd_kafka_commit(rk, l, async);
		if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
			cli_warn("checkpoint %lld: committing its offsets: %s",
				  (long long)cp.inflight, rd_kafka_err2str(e));
		else
			cp.commits++;
	}
	rd_kafka_topic_partition_list_destroy(l);
	cp.inflight = 0;
}

/* An asynchronous commit's result (served by rd_kafka_consumer_poll). */
static void on_commit(rd_kafka_t *h, rd_kafka_resp_err_t err,
		      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
	(void)h, (void)offsets, (void)opaque;
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
		cli_warn("committing a checkpoint's offsets: %s (a later checkpoint commits "
			  "again)", rd_kafka_err2str(err));
}

/* The checkpoint clock: commits the checkpoint in flight once it is
 * complete, then injects the next when SIGUSR1 asked or the interval is
 * up. Returns the CLOCK_MONOTONIC time to look again (INT64_MAX: never
 * by itself). A checkpoint in flight is looked at every CP_POLL_NS. */
#define CP_POLL_NS (5 * 1000000LL)
static int64_t cp_tick(void)
{
	int64_t now = cli_mono_ns();

	if (cp.c == NULL)
		return INT64_MAX;
	if (cp.inflight > 0) {
		int st = ckpt_settled(cp.c, cp.inflight);

		if (st == 0)
			return now + CP_POLL_NS;
		if (st > 0) {
			cp_commit(1);
			cp.backoff = 0;
		} else {
			cp.inflight = 0;	/* declined: its offsets are not committed */
			cp.backoff = ckpt_backoff(cp.backoff, opt.ckpt_every);
			cp.due = now + cp.backoff;
		}
	}
	if (cp.asked || (opt.ckpt_every > 0 && now >= cp.due)) {
		cp.asked = 0;
		cp_take(0);
		if (cp.inflight > 0) {
			cp.due = now + opt.ckpt_every;
			return now + CP_POLL_NS;
		}
		/* Its own snapshot failed (said): the next after a back-off,
		 * as after one a stage declined. */
		cp.backoff = ckpt_backoff(cp.backoff, opt.ckpt_every);
		cp.due = now + cp.backoff;
		return opt.ckpt_every > 0 ? cp.due : INT64_MAX;
	}
	return opt.ckpt_every > 0 ? cp.due : INT64_MAX;
}

/* The stream is about to end: a checkpoint in flight (the savepoint of a
 * SIGTERM) is waited for while a registered stage may still complete it:
 * as long as the reader of standard output (a pipe) is there. Then its
 * offsets are committed, synchronously. Called before the end-of-stream
 * frame: a reader waits for the end of its input after that frame, so
 * standard output stays open while the stages snapshot. */
static void cp_finish(void)
{
	struct stat st;
	int piped;

	if (barrier_wait(cp.c) < 0)	/* the source's own snapshot in place */
		cp.failed = 1;
	if (cp.c == NULL || cp.inflight == 0)
		return;
	piped = fstat(1, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
	for (;;) {
		int st = ckpt_settled(cp.c, cp.inflight);

		if (st > 0) {
			cp_commit(0);
			return;
		}
		if (!piped || st < 0)
			break;
		if (loop_wait_hangup(1, CP_POLL_NS) == 1)
			piped = 0;	/* one last look: it may have completed it as it went */
	}
	if (opt.verbose || sig_savepoint)
		cli_warn("%s %lld did not complete (a stage of the pipeline could not write "
			  "its snapshot, or ended without it): its offsets are not committed",
			  sig_savepoint ? "savepoint" : "checkpoint", (long long)cp.inflight);
}

/* The last run's positions, from the snapshot (cp_positions' JSON): each
 * partition starts there when it is assigned. */
static void cp_load(const struct buf *state)
{
	json_error_t jerr;
	json_t *a = json_loadb((const char *)state->p, state->len, 0, &jerr), *o;
	size_t i;

	if (a == NULL || !json_is_array(a))
		goto bad;
	json_array_foreach(a, i, o) {
		json_t *t = json_object_get(o, "topic"), *pa = json_object_get(o, "partition"),
		       *off = json_object_get(o, "offset");

		if (!json_is_string(t) || !json_is_integer(pa) || json_integer_value(pa) < 0 ||
		    json_integer_value(pa) > INT32_MAX || !json_is_integer(off) ||
		    json_integer_value(off) < 0)
			goto bad;
		part_get(json_string_value(t), (int32_t)json_integer_value(pa))->ck =
			json_integer_value(off);
	}
	json_decref(a);
	return;
bad:
	json_decref(a);
	cli_die(RTAI_EXIT_SNAPSHOT, "checkpoint %lld of %s: rtai-kafka's snapshot: expected an "
		 "array of {\"topic\",\"partition\",\"offset\"}, got '%.*s'",
		 (long long)cp.resumed, ckpt_dir(cp.c), state->len > 200 ? 200 : (int)state->len,
		 (const char *)state->p);
}

/* Opens checkpoints when asked (or $RTAI_CHECKPOINT_DIR is set), and
 * loads the positions to resume from. The source's identity is what
 * decides the messages it reads: its topics, group and partitions; the
 * brokers, -o (a fresh start's position), -e, -c and the properties may
 * change from run to run. */
static char *opt_arg(const char *name, const char *val)
{
	size_t n = strlen(name) + strlen(val) + 2;
	char *s = xmalloc(n);

	snprintf(s, n, "%s=%s", name, val);
	return s;
}

static void cp_start(void)
{
	char num[32];
	size_t n = 0;
	char **argv = xcalloc(opt.ntopics + opt.nparts + 3, sizeof(*argv));
	struct buf state = { 0 };
	char err[1024];
	int rc;

	argv[n++] = xstrdup(STAGE);
	for (size_t i = 0; i < opt.ntopics; i++)
		argv[n++] = opt_arg("--topic", opt.topics[i]);
	if (opt.group != NULL)
		argv[n++] = opt_arg("--group", opt.group);
	for (size_t i = 0; i < opt.nparts; i++) {
		snprintf(num, sizeof(num), "%d", (int)opt.parts[i]);
		argv[n++] = opt_arg("--partition", num);
	}
	rc = ckpt_open(&cp.c, STAGE, opt.ckpt_dir, (int)n, argv, NULL, err, sizeof(err));
	for (size_t i = 0; i < n; i++)
		free(argv[i]);
	free(argv);
	if (rc < 0)
		cli_die(RTAI_EXIT_FAIL, "%s", err);
	if (cp.c != NULL && opt.replay_size > 0)
		cli_usage_error("--replay and checkpoints exclude each other: with checkpoints, "
				 "the offsets committed are those of a complete checkpoint");
	if (cp.c == NULL) {
		if (opt.ckpt_every > 0)
			cli_usage_error("--checkpoint-interval needs --checkpoint-dir DIR or "
					 "RTAI_CHECKPOINT_DIR");
		return;
	}
	if (ckpt_source_start(cp.c, &cp.resumed, &state) == 1)
		cp_load(&state);
	cp.id = cp.resumed;
	cp.due = cli_mono_ns() + opt.ckpt_every;
	buf_free(&state);
}

static void cp_done(void)
{
	if (opt.verbose && cp.c != NULL)
		cli_warn("%lld checkpoints taken, the offsets of %llu committed",
			  (long long)(cp.id - cp.resumed), (unsigned long long)cp.commits);
	ckpt_close(cp.c);
	free(cp.idx);
	free(cp.off);
	buf_free(&cp.pos);
}

/* ---- the loop (lib/loop.h) ---------------------------------------------------
 * librdkafka writes a byte to a pipe when its queue turns non-empty
 * (rd_kafka_queue_io_event_enable): the loop watches that pipe and wakes
 * for messages, rebalances and errors. A batch that left more waiting
 * comes back through a timer due at once (the pipe says nothing more
 * until the queue was empty). */

static struct loop *loop;
static struct loop_timer *more;		/* due at once while the queue holds more */
static int kpipe[2] = { -1, -1 };
static int failed;

/* Takes a batch from the queue, writes it and stores its offsets. */
static int batch(void *arg)
{
	int r;

	(void)arg;
	r = drain();
	if (r < 0) {
		failed = 1;
		loop_stop(loop);
		return 0;
	}
	if (opt.max_drift > 0)
		drift_align();
	flush_and_store();
	if (done || sig_stop)
		loop_stop(loop);
	else if (r > 0)
		loop_timer_after(more, 0);
	return 0;
}

static int on_queue(void *arg, short revents)
{
	char tmp[256];

	(void)revents;
	while (read(kpipe[0], tmp, sizeof(tmp)) > 0)
		;
	return batch(arg);
}

static struct loop_timer *cktimer;	/* the checkpoint clock (cp_tick) */

static int on_cktimer(void *arg)
{
	(void)arg;
	loop_timer_at(cktimer, cp_tick());
	return 0;
}

/* SIGUSR1: a checkpoint now, or once the one in flight is complete. */
static int on_checkpoint(void *arg)
{
	cp.asked = cp.c != NULL;
	return on_cktimer(arg);
}

/* SIGINT, SIGTERM (sig_stop): the stream ends (rtai(7)). */
static int on_stop_signal(void *arg)
{
	(void)arg;
	loop_stop(loop);
	return 0;
}

static int run(void)
{
	if (pipe(kpipe) < 0)
		cli_die(RTAI_EXIT_FAIL, "pipe: %s", strerror(errno));
	for (int i = 0; i < 2; i++)
		fcntl(kpipe[i], F_SETFL, fcntl(kpipe[i], F_GETFL) | O_NONBLOCK);
	rd_kafka_queue_io_event_enable(queue, kpipe[1], "k", 1);
	loop = loop_new(STAGE);
	if (errpol_writer(&ep) != NULL)
		loop_add_writer(loop, errpol_writer(&ep));	/* dead letters kept if killed */
	loop_add_fd(loop, kpipe[0], POLLIN, on_queue, NULL);
	loop_on_stop(loop, on_stop_signal, NULL);
	more = loop_timer_new(loop, batch, NULL);
	loop_timer_after(more, 0);	/* what came before the pipe was set */
	cktimer = loop_timer_new(loop, on_cktimer, NULL);
	if (opt.replay_size > 0 && opt.group != NULL)
		replay_timer = loop_timer_new(loop, on_replay_timer, NULL);
	loop_on_checkpoint(loop, on_checkpoint, NULL);
	if (cp.c != NULL)
		loop_timer_at(cktimer, cp_tick());
	if (!done && !sig_stop && loop_run(loop) < 0 && loop_err(loop) != NULL)
		cli_die(RTAI_EXIT_FAIL, "%s", loop_err(loop));
	loop_free(loop);
	replay_timer = NULL;
	rd_kafka_queue_io_event_enable(queue, -1, NULL, 0);
	close(kpipe[0]);
	close(kpipe[1]);
	return failed ? -1 : 0;
}

/* ---- start ------------------------------------------------------------------- */

static int is_regex(const char *t)
{
	return t[0] == '^';
}

static const struct rd_kafka_metadata_topic *md_topic(const struct rd_kafka_metadata *md,
						       const char *name)
{
	for (int i = 0; i < md->topic_cnt; i++)
		if (strcmp(md->topics[i].topic, name) == 0)
			return &md->topics[i];
	return NULL;
}

/* Adds a topic's partitions (all, or those of -p) to l. Returns 0, or -1
 * after a message. */
static int add_partitions(rd_kafka_topic_partition_list_t *l,
			  const struct rd_kafka_metadata_topic *t)
{
	if (opt.nparts == 0) {
		for (int i = 0; i < t->partition_cnt; i++)
			rd_kafka_topic_partition_list_add(l, t->topic, t->partitions[i].id);
		return 0;
	}
	for (size_t j = 0; j < opt.nparts; j++) {
		int found = 0;

		for (int i = 0; i < t->partition_cnt; i++)
			found |= t->partitions[i].id == opt.parts[j];
		if (!found) {
			cli_warn("topic \"%s\": no partition %d (it has %d: 0 to %d)", t->topic,
				  (int)opt.parts[j], t->partition_cnt, t->partition_cnt - 1);
			return -1;
		}
		rd_kafka_topic_partition_list_add(l, t->topic, opt.parts[j]);
	}
	return 0;
}

/* The topics exist (regexes match some, when assigning). Returns the
 * partitions to assign (without -G), an empty list (with -G), or NULL
 * after a message. */
static rd_kafka_topic_partition_list_t *check_topics(const struct rd_kafka_metadata *md)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);

	for (size_t i = 0; i < opt.ntopics; i++) {
		const char *name = opt.topics[i];
		const struct rd_kafka_metadata_topic *t;

		if (is_regex(name)) {
			regex_t re;
			int matched = 0, rc;

			if (opt.group != NULL)
				continue;	/* librdkafka matches it, as topics come and go */
			rc = regcomp(&re, name, REG_EXTENDED | REG_NOSUB);
			if (rc != 0) {
				char why[256];

				regerror(rc, &re, why, sizeof(why));
				cli_warn("-t '%s': %s", name, why);
				goto fail;
			}
			for (int k = 0; k < md->topic_cnt; k++) {
				t = &md->topics[k];
				if (t->err || regexec(&re, t->topic, 0, NULL, 0) != 0)
					continue;
				matched++;
				if (add_partitions(l, t) < 0) {
					regfree(&re);
					goto fail;
				}
			}
			regfree(&re);
			if (matched == 0) {
				cli_warn("-t '%s': no topic on brokers %s matches", name,
					  opt.brokers);
				goto fail;
			}
			continue;
		}
		t = md_topic(md, name);
		if (t == NULL || t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
			cli_warn("topic \"%s\": not on brokers %s (create it, or check -t)", name,
				  opt.brokers);
			goto fail;
		}
		if (t->err) {
			cli_warn("topic \"%s\": %s", name, rd_kafka_err2str(t->err));
			goto fail;
		}
		if (opt.group == NULL && add_partitions(l, t) < 0)
			goto fail;
	}
	return l;
fail:
	rd_kafka_topic_partition_list_destroy(l);
	return NULL;
}

/* Sets where each assigned partition starts (-o). Returns 0, or -1 after a
 * message.
 *
 * The beginning and the end are looked up here, as a time is: one
 * ListOffsets request per leader, for all partitions at once, with Kafka's
 * special timestamps -2 (earliest) and -1 (latest) (KIP-79). Assigned as
 * logical offsets instead, librdkafka 2.0.2 queries each partition itself
 * once its broker thread has taken it; a partition started before that
 * waits a fixed 500 ms ("no current leader for partition"), so a run of
 * -e took 0.3 s or 0.8 s by chance. */
static int set_start(rd_kafka_topic_partition_list_t *l)
{
	rd_kafka_resp_err_t e;
	char what[64];

	for (int i = 0; i < l->cnt; i++) {
		switch (opt.start) {
		case S_DEFAULT:
		case S_BEGINNING: l->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING; break;
		case S_END: l->elems[i].offset = RD_KAFKA_OFFSET_END; break;
		case S_OFFSET: l->elems[i].offset = opt.start_val; break;
		case S_TAIL: l->elems[i].offset = RD_KAFKA_OFFSET_TAIL(opt.start_val); break;
		case S_TIME: l->elems[i].offset = opt.start_val; break;
		}
	}
	if (opt.start == S_OFFSET || opt.start == S_TAIL || l->cnt == 0)
		return 0;
	if (opt.start == S_TIME)
		snprintf(what, sizeof(what), "-o s@%lld", (long long)opt.start_val);
	else
		snprintf(what, sizeof(what), "-o %s", opt.start == S_END ? "end" : "beginning");
	e = rd_kafka_offsets_for_times(rk, l, 10000);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		cli_warn("%s: looking up the partitions' offsets: %s", what, rd_kafka_err2str(e));
		return -1;
	}
	for (int i = 0; i < l->cnt; i++) {
		if (l->elems[i].err) {
			cli_warn("%s: topic \"%s\" partition %d: %s", what, l->elems[i].topic,
				  (int)l->elems[i].partition, rd_kafka_err2str(l->elems[i].err));
			return -1;
		}
		/* No message at or after the time: -1, the end of the partition. */
		if (l->elems[i].offset < 0)
			l->elems[i].offset = RD_KAFKA_OFFSET_END;
	}
	return 0;
}

/* Checks the topics in the brokers' metadata, assigns or subscribes.
 * Returns 0, or -1 after a message. */
static int start(const struct rd_kafka_metadata *md)
{
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t e;
	int ret = -1;

	l = check_topics(md);
	rd_kafka_metadata_destroy(md);
	if (l == NULL)
		return -1;
	if (opt.group != NULL) {
		rd_kafka_topic_partition_list_destroy(l);
		l = rd_kafka_topic_partition_list_new((int)opt.ntopics);
		for (size_t i = 0; i < opt.ntopics; i++)
			rd_kafka_topic_partition_list_add(l, opt.topics[i], RD_KAFKA_PARTITION_UA);
		e = rd_kafka_subscribe(rk, l);
		if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
			cli_warn("group %s: subscribing: %s", opt.group, rd_kafka_err2str(e));
		else
			ret = 0;
	} else if (set_start(l) == 0) {
		for (int i = 0; i < l->cnt; i++) {
			struct part *p = part_get(l->elems[i].topic, l->elems[i].partition);

			p->assigned = 1;
			if (p->ck >= 0) {	/* resuming: where the checkpoint was */
				l->elems[i].offset = p->next = p->ck;
				p->ck = -1;
			}
		}
		e = rd_kafka_assign(rk, l);
		if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
			cli_warn("assigning partitions: %s", rd_kafka_err2str(e));
		else
			ret = 0;
	}
	rd_kafka_topic_partition_list_destroy(l);
	return ret;
}

/* ---- options ------------------------------------------------------------------- */

static void parse_offset(const char *arg)
{
	long long v;
	const char *why;

	if (strcmp(arg, "beginning") == 0) {
		opt.start = S_BEGINNING;
	} else if (strcmp(arg, "end") == 0) {
		opt.start = S_END;
	} else if (strncmp(arg, "s@", 2) == 0) {
		if (cli_parse_int(arg + 2, 0, INT64_MAX / 1000000, &v, &why) < 0)
			cli_usage_error("-o '%s': s@ takes milliseconds since the epoch: %s", arg,
					 why);
		opt.start = S_TIME;
		opt.start_val = v;
	} else if (arg[0] == '-') {
		if (cli_parse_int(arg + 1, 1, INT64_MAX / 2, &v, &why) < 0)
			cli_usage_error("-o '%s': -N takes a count of messages before the end: %s",
					 arg, why);
		opt.start = S_TAIL;
		opt.start_val = v;
	} else if (cli_parse_int(arg, 0, INT64_MAX / 2, &v, &why) == 0) {
		opt.start = S_OFFSET;
		opt.start_val = v;
	} else {
		cli_usage_error("-o '%s': expected beginning, end, an offset, -N or s@MS", arg);
	}
}

static struct kaf_props props;		/* -X and -F, in the order given */

/* --replay SIZE[+SLACK]: two durations, kept in ms (message timestamps'
 * unit); SIZE at least 1ms, SLACK at least 0. */
static void parse_replay(const char *arg)
{
	const char *plus = strchr(arg, '+'), *why = NULL;
	size_t n = plus != NULL ? (size_t)(plus - arg) : strlen(arg);
	int64_t size, slack = 0;

	if (rtime_parse_duration(arg, n, &size, &why) < 0 ||
	    (plus != NULL && rtime_parse_duration(plus + 1, strlen(plus + 1), &slack, &why) < 0))
		cli_usage_error("--replay: '%s': %s (expected SIZE or SIZE+SLACK, such as 1m+10s)",
				 arg, why != NULL ? why : "not a duration");
	if (size < RTAI_NS_PER_SEC / 1000 || slack < 0)
		cli_usage_error("--replay: '%s': SIZE must be at least 1ms and SLACK at least 0",
				 arg);
	opt.replay_size = size / (RTAI_NS_PER_SEC / 1000);
	opt.replay_slack = slack / (RTAI_NS_PER_SEC / 1000);
}

static void parse_options(int argc, char **argv)
{
	const char *max_frame = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "b:t:G:p:o:ec:X:F:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'b': opt.brokers = optarg; break;
		case 't':
			if (optarg[0] == '\0')
				cli_usage_error("-t: a topic name cannot be empty");
			opt.topics = xrealloc(opt.topics, (opt.ntopics + 1) * sizeof(*opt.topics));
			opt.topics[opt.ntopics++] = optarg;
			break;
		case 'G': opt.group = optarg; break;
		case 'p':
			opt.parts = xrealloc(opt.parts, (opt.nparts + 1) * sizeof(*opt.parts));
			opt.parts[opt.nparts++] = (int32_t)cli_opt_int("-p", optarg, 0, INT32_MAX);
			break;
		case 'o': parse_offset(optarg); break;
		case 'e': opt.exit_eof = 1; break;
		case 'c': opt.count = cli_opt_int("-c", optarg, 1, INT64_MAX); break;
		case 'X': kaf_props_add(&props, optarg, 0); break;
		case 'F': kaf_props_add(&props, optarg, 1); break;
		case OPT_RETRY_FOR: opt.retry_for = cli_opt_duration("--retry-for", optarg); break;
		case OPT_ON_ERROR: errpol_mode_arg(&ep, optarg); break;
		case OPT_DLQ: errpol_dlq_arg(&ep, optarg); break;
		case 'v': opt.verbose = 1; break;
		case OPT_MAX_FRAME: max_frame = optarg; break;
		case OPT_CKPT_DIR: opt.ckpt_dir = optarg; break;
		case OPT_CKPT_INTERVAL:
			opt.ckpt_every = cli_opt_duration("--checkpoint-interval", optarg);
			if (opt.ckpt_every <= 0)
				cli_usage_error("--checkpoint-interval: '%s': expected a duration "
						 "above 0", optarg);
			break;
		case OPT_REPLAY: parse_replay(optarg); break;
		case OPT_MAX_DRIFT:
			opt.max_drift = cli_opt_duration("--max-drift", optarg) / (RTAI_NS_PER_SEC / 1000);
			if (opt.max_drift <= 0)
				cli_usage_error("--max-drift: '%s': expected a duration of at least 1ms",
						 optarg);
			break;
		case 'h': usage(RTAI_EXIT_OK); break;
		case OPT_VERSION: cli_version(); break;
		default: cli_usage_hint();
		}
	}
	if (optind < argc)
		cli_usage_error("unexpected argument '%s': name topics with -t", argv[optind]);
	rd_set_max_frame(max_frame);
	errpol_check(&ep);
	ep.verbose = opt.verbose;
	ep.letter = letter_as_read;
	if (opt.ntopics == 0)
		cli_usage_error("a topic is needed: -t TOPIC");
	if (opt.group != NULL && opt.nparts > 0)
		cli_usage_error("-G and -p exclude each other: a group assigns the partitions");
	if (opt.group != NULL && opt.start != S_DEFAULT && opt.start != S_BEGINNING &&
	    opt.start != S_END)
		cli_usage_error("with -G, a group starts from its committed offsets; -o takes "
				 "beginning or end (for partitions without one)");
	if (opt.replay_size > 0 && opt.group == NULL)
		cli_usage_error("--replay needs -G: it holds back the offsets a group commits");
}

/* The configuration (kafka.h): the tool's defaults, then -X and -F in
 * order, then what the tool's guarantees rest on. Exits 2 on a bad
 * property. */
static rd_kafka_conf_t *make_conf(void)
{
	rd_kafka_conf_t *conf = kaf_conf_new();
	size_t n = 0;

	kaf_conf_must(conf, "client.id", STAGE);
	if (cp.c != NULL) {
		/* Offsets are committed by cp_commit, once a checkpoint is complete. */
		kaf_conf_must(conf, "enable.auto.commit", "false");
		kaf_conf_must(conf, "enable.auto.offset.store", "false");
		rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
	}
	kaf_conf_must(conf, "auto.offset.reset", "earliest");
	if (opt.exit_eof) {
		/* The end shows once a fetch comes back empty, which a broker
		 * holds for fetch.wait.max.ms (500 by default): 10 ms ends a
		 * run of -e sooner, for a fetch every 10 ms to a broker whose
		 * partitions are all at their end while others are not. */
		kaf_conf_must(conf, "fetch.wait.max.ms", "10");
		kaf_conf_must(conf, "fetch.error.backoff.ms", "100");
	}
	opt.brokers = kaf_conf_apply(conf, &props, opt.brokers, opt.verbose);
	if (opt.group != NULL) {
		kaf_conf_must(conf, "group.id", opt.group);
		kaf_conf_must(conf, "enable.auto.offset.store", "false");
		if (opt.replay_size > 0) {
			char v[32];
			size_t vn = sizeof(v);

			if (rd_kafka_conf_get(conf, "auto.commit.interval.ms", v, &vn) ==
			    RD_KAFKA_CONF_OK && atoll(v) > 0)
				replay_every = atoll(v) * 1000000LL;
			/* replay_commit commits, with the horizon. */
			kaf_conf_must(conf, "enable.auto.commit", "false");
		}
		if (opt.start == S_END)
			kaf_conf_must(conf, "auto.offset.reset", "latest");
		else if (opt.start == S_BEGINNING)
			kaf_conf_must(conf, "auto.offset.reset", "earliest");
		rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
	} else {
		/* librdkafka 2.0 assigns only with a group.id; none is joined. */
		if (rd_kafka_conf_get(conf, "group.id", NULL, &n) != RD_KAFKA_CONF_OK || n <= 1)
			kaf_conf_must(conf, "group.id", STAGE);
		kaf_conf_must(conf, "enable.auto.commit", "false");
	}
	if (opt.exit_eof || opt.max_drift > 0)
		kaf_conf_must(conf, "enable.partition.eof", "true");
	return conf;
}

/* ---- main ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_conf_t *conf;
	char err[1024];
	int r;

	cli_init(STAGE, argv);
	parse_options(argc, argv);
	cp_start();
	conf = make_conf();

	sig_catch_stop();	/* rtai(7): a source; SIGINT and SIGTERM set sig_stop */
	sig_set_source(1);
	rk = kaf_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (rk == NULL)
		cli_die(RTAI_EXIT_USAGE, "%s", err);
	md = kaf_wait_brokers(rk, opt.brokers, 1, opt.retry_for, &sig_stop, err, sizeof(err));
	rd_kafka_poll_set_consumer(rk);
	queue = rd_kafka_queue_get_consumer(rk);
	if (md == NULL) {
		r = err[0] == '\0' ? 1 : -1;	/* "": a signal ended the wait */
		if (r < 0)
			cli_warn("%s (check -b, or wait longer with --retry-for)", err);
	} else {
		r = start(md);
	}
	if (r >= 0) {
		/* Stopped while waiting for the brokers: an empty, clean stream. */
		errpol_open(&ep);
		wr_open_fd(&out, 1, "stdout", 0);
		out_open = 1;
		if (cp.resumed > 0)
			wr_resume(&out, cp.resumed, ckpt_dir_id(cp.c), cli_now_ns());	/* first: the stages resumed check it */
		if (r == 0 && run() < 0)
			status = RTAI_EXIT_FAIL;
	} else {
		status = RTAI_EXIT_FAIL;
	}
	if (out_open) {
		flush_and_store();
		if (status == RTAI_EXIT_OK && cp.c != NULL && sig_savepoint)
			cp_take(1);	/* SIGTERM: stop with a savepoint, then end the stream */
		if (status == RTAI_EXIT_OK) {
			cp_finish();
			wr_close(&out);	/* the end-of-stream frame: a clean end */
		}
		out_open = 0;
	}
	if (cp.failed && status == RTAI_EXIT_OK)
		status = RTAI_EXIT_FAIL;
	errpol_close(&ep);
	if (opt.verbose || errpol_dropped(&ep) > 0)
		cli_warn("%llu records (%llu tombstones), %llu skipped, %llu dead-lettered%s%s",
			  (unsigned long long)count.records, (unsigned long long)count.tombstones,
			  (unsigned long long)ep.skipped, (unsigned long long)ep.dead,
			  ep.first[0] != '\0' && !opt.verbose ? "; first: " : "",
			  opt.verbose ? "" : ep.first);
	if (opt.verbose && opt.max_drift > 0)
		cli_warn("--max-drift: %llu pauses of a partition ahead of the slowest",
			  (unsigned long long)count.paused);
	if (opt.verbose && opt.replay_size > 0)
		cli_warn("--replay: the commit holds back %zu messages, read again by the member "
			  "that takes their partitions; %llu partitions revoked; %llu messages "
			  "read again skipped (of windows their last owner wrote)", held_total(),
			  (unsigned long long)count.revoked, (unsigned long long)count.skipped);
	status = errpol_status(&ep, count.records + errpol_dropped(&ep), status, "written");

	/* The group is left (committing what was stored); the lists librdkafka
	 * handed out are gone before the handle, or rd_kafka_destroy() hangs. */
	if (opt.replay_size > 0 && opt.group != NULL)
		replay_commit(0);
	rd_kafka_consumer_close(rk);
	rd_kafka_queue_destroy(queue);
	rd_kafka_destroy(rk);
	cp_done();
	for (size_t i = 0; i < nparts; i++) {
		free(parts[i].topic);
		free(parts[i].held);
	}
	free(parts);
	free(opt.topics);
	free(opt.parts);
	buf_free(&frame);
	buf_free(&rbuf);
	buf_free(&dbuf);
	rec_free(&dmeta);
	errpol_free(&ep);
	return status;
}
