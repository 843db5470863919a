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

/* ---- configuration ------------------------------------------------------ */

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
