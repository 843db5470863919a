/* kafka.h - what rtai-kafka and rtai-sink-kafka share on top of librdkafka:
 * configuration from -X and -F as kcat takes it, librdkafka's logs and
 * errors turned into rtai messages, the bounded wait for brokers at start,
 * and the source metadata of a Kafka message (rtai-record(5), RTAI_F_META).
 *
 * Built only with librdkafka (HAVE_RDKAFKA); one prefix, kaf_.
 */
#ifndef RTAI_KAFKA_H
#define RTAI_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "buf.h"

/* ---- configuration ------------------------------------------------------
 * A tool builds its configuration in this order, as kcat does: its
 * defaults (kaf_conf_must), then -X and -F in the order given, then -b
 * (kaf_conf_apply), then what its guarantees rest on (kaf_conf_must), and
 * hands it to kaf_new():
 *
 *	static struct kaf_props props;		// kaf_props_add() per -X, -F
 *	rd_kafka_conf_t *conf = kaf_conf_new();
 *	kaf_conf_must(conf, "client.id", "rtai-kafka");
 *	brokers = kaf_conf_apply(conf, &props, opt.brokers, opt.verbose);
 *	kaf_conf_must(conf, "enable.auto.commit", "false");
 *	rk = kaf_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
 */

/* The -X and -F arguments of a tool, in the order given. Zero-initialised
 * it is empty; keep it in a static, so that the copies stay reachable when a
 * usage error exits (LeakSanitizer). */
struct kaf_props {
	struct kaf_prop {
		char *arg;		/* a copy, owned: the original is hidden from ps */
		int file;		/* -F PATH, else -X NAME=VALUE */
	} *v;
	size_t n;
};

/* Records a -X (file 0) or -F (file 1) argument: keeps a copy, then for -X
 * overwrites a secret value in arg itself (kaf_hide_secret), so ps(1) does
 * not show it. Exits 1 when out of memory (xrealloc). */
void kaf_props_add(struct kaf_props *p, char *arg, int file);

/* Frees the copies; p is empty after. Accepts an empty p. */
void kaf_props_free(struct kaf_props *p);

/* A new configuration, held by this module (in a static that kaf_new()
 * reads) until kaf_new() hands it to librdkafka, so that a usage error that
 * exits while it is being built leaves it reachable, not leaked
 * (LeakSanitizer). Exits 1 when librdkafka cannot allocate it. */
rd_kafka_conf_t *kaf_conf_new(void);

/* Sets a property the tool chose (a default, or one its guarantees rest
 * on); a refusal is a usage error (exit 2): "NAME=VALUE: librdkafka's
 * reason", which happens when a -X or -F value makes it impossible, or an
 * option (-z) passed an unknown value. */
void kaf_conf_must(rd_kafka_conf_t *conf, const char *name, const char *value);

/* Applies the -X and -F arguments of p to conf in order and frees them (p
 * is empty after), then the broker list: brokers (-b) when non-NULL,
 * overriding bootstrap.servers, else the bootstrap.servers that -X or -F
 * set. Then installs the log and error callbacks (kaf_conf_messages).
 * Returns the broker list: brokers, or a static copy of the property.
 * Usage errors exit 2: "-X: why" (kaf_conf_set), "-F: PATH: line N: why"
 * (kaf_conf_file), "brokers are needed: -b host:port". */
const char *kaf_conf_apply(rd_kafka_conf_t *conf, struct kaf_props *p, const char *brokers,
			   int verbose);

/* rd_kafka_new() of conf, which must come from kaf_conf_new(). Returns the
 * handle, which then owns conf; or NULL with librdkafka's reason in err,
 * and conf still held here (the tool exits). */
rd_kafka_t *kaf_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *err, size_t errlen);

/* Sets one "name=value" property (kcat's -X) on conf; topic-level names
 * (such as partitioner or compression.codec) are accepted too, as
 * librdkafka does. Returns 0, or -1 with err set to librdkafka's reason
 * ("No such configuration property: ..."), or to the expected form when
 * there is no '='. */
int kaf_conf_set(rd_kafka_conf_t *conf, const char *kv, char *err, size_t errlen);

/* Reads properties from a file (kcat's -F): "name=value" lines, blank
 * lines and lines starting with '#' ignored. Returns 0, or -1 with err set
 * to "PATH: line N: what". */
int kaf_conf_file(rd_kafka_conf_t *conf, const char *path, char *err, size_t errlen);

/* Overwrites the value of a -X argument in place when its name holds a
 * secret (password, secret, key.pem...), so ps(1) does not show it. */
void kaf_hide_secret(char *kv);

/* Installs log and error callbacks on conf: librdkafka's own log lines go
 * to stderr as "rtai-NAME: kafka: ..." only when verbose is set; errors are
 * kept for kaf_last_error() and, past the start, reported once each time
 * the state changes (all brokers down, then back). Call before rd_kafka_new. */
void kaf_conf_messages(rd_kafka_conf_t *conf, int verbose);

/* The last error librdkafka reported ("127.0.0.1:1/bootstrap: Connect to
 * ipv4#127.0.0.1:1 failed: Connection refused"), or "" when none. */
const char *kaf_last_error(void);

/* Nonzero once librdkafka reported a fatal error (kaf_last_error says
 * which); the tool should then stop with status 1. */
int kaf_fatal(void);

/* Waits until a broker answers a metadata request (of every topic when
 * all_topics is set, else of none: a producer then still learns of topics
 * that are created as it writes to them), for at most retry_ns,
 * asking every second; once librdkafka has said why it cannot connect, it
 * says so on stderr ("brokers B: not reachable (why); retrying for 30s
 * (--retry-for)"), and "reachable" if they come. Returns the metadata (free
 * it with rd_kafka_metadata_destroy), or NULL with err set to "brokers B:
 * not reachable after 30s: why". A SIGINT (*stop, when stop is non-NULL)
 * ends the wait with NULL and err "". It serves rk's main queue
 * (rd_kafka_poll), so a consumer calls it before
 * rd_kafka_poll_set_consumer(). */
const struct rd_kafka_metadata *kaf_wait_brokers(rd_kafka_t *rk, const char *brokers,
						 int all_topics, int64_t retry_ns,
						 volatile int *stop, char *err, size_t errlen);

/* ---- source metadata -------------------------------------------------------
 * The meta of a data frame (decisions: architecture issue #12), a binary
 * record (rec.h) with the fields named as kcat -J names them:
 *   topic (string), partition (int), offset (int), key (bytes, absent when
 *   the key is null), timestamp (time, ns; absent when the broker gave
 *   none), headers (json: an object of name -> value; the values are the
 *   strings when every value is UTF-8, else all are base64 (RFC 4648) of
 *   the bytes; a null value is null; absent when there are no headers). */

/* Appends the meta record of message m to out. Allocates nothing once out
 * has grown. */
void kaf_meta_encode(const rd_kafka_message_t *m, struct buf *out);

#endif
