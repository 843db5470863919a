/* kafka.c - configuration, messages, the wait for brokers, and source
 * metadata for the Kafka tools (see kafka.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kafka.h"
#include "rec.h"
#include "rtime.h"

/* ---- configuration ------------------------------------------------------ */

int kaf_conf_set(rd_kafka_conf_t *conf, const char *kv, char *err, size_t errlen)
{
	const char *eq = strchr(kv, '=');
	char name[256], why[512];

	if (eq == NULL || eq == kv || (size_t)(eq - kv) >= sizeof(name)) {
		snprintf(err, errlen, "'%s': expected NAME=VALUE, such as security.protocol=SSL",
			 kv);
		return -1;
	}
	memcpy(name, kv, (size_t)(eq - kv));
	name[eq - kv] = '\0';
	if (rd_kafka_conf_set(conf, name, eq + 1, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	return 0;
}

int kaf_conf_file(rd_kafka_conf_t *conf, const char *path, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL, why[600];
	size_t cap = 0;
	ssize_t n;
	long lineno = 0;
	int ret = 0;

	if (fp == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, fp)) >= 0) {
		char *p = line;

		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' ||
				 line[n - 1] == ' ' || line[n - 1] == '\t'))
			line[--n] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		if (kaf_conf_set(conf, p, why, sizeof(why)) < 0) {
			/* Say which line, but never echo a value: it may be a password. */
			char *eq = strchr(p, '=');

			if (eq != NULL)
				*eq = '\0';
			snprintf(err, errlen, "%s: line %ld: %s%s", path, lineno,
				 eq != NULL ? p : "expected NAME=VALUE", eq != NULL ? ": " : "");
			if (eq != NULL) {
				size_t used = strlen(err);

				snprintf(err + used, errlen - used, "%s", why);
			}
			ret = -1;
			break;
		}
	}
	if (ret == 0 && ferror(fp)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		ret = -1;
	}
	free(line);
	fclose(fp);
	return ret;
}

void kaf_hide_secret(char *kv)
{
	static const char *const secret[] = { "password", "secret", "key.pem", "token",
					      "credentials" };
	char *eq = strchr(kv, '=');

	if (eq == NULL)
		return;
	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++) {
		const char *hit = strstr(kv, secret[i]);

		if (hit != NULL && hit < eq) {
			for (char *p = eq + 1; *p != '\0'; p++)
				*p = '*';
			return;
		}
	}
}

/* The configuration being built: read by kaf_new(), which any call out of
 * this file could reach, so the store cannot be optimised away and a usage
 * error that exits leaves the configuration reachable. */
static rd_kafka_conf_t *building;

void kaf_props_add(struct kaf_props *p, char *arg, int file)
{
	p->v = xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
	p->v[p->n++] = (struct kaf_prop){ xstrdup(arg), file };
	if (!file)
		kaf_hide_secret(arg);
}

void kaf_props_free(struct kaf_props *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].arg);
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

rd_kafka_conf_t *kaf_conf_new(void)
{
	building = rd_kafka_conf_new();
	if (building == NULL)
		cli_die(RTAI_EXIT_FAIL, "out of memory");
	return building;
}

void kaf_conf_must(rd_kafka_conf_t *conf, const char *name, const char *value)
{
	char why[512];

	if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) != RD_KAFKA_CONF_OK)
		cli_usage_error("%s=%s: %s", name, value, why);
}

const char *kaf_conf_apply(rd_kafka_conf_t *conf, struct kaf_props *p, const char *brokers,
			   int verbose)
{
	static char from_conf[1024];
	size_t n = sizeof(from_conf);
	char err[1024];

	for (size_t i = 0; i < p->n; i++) {
		const struct kaf_prop *q = &p->v[i];

		if (q->file ? kaf_conf_file(conf, q->arg, err, sizeof(err)) < 0
			    : kaf_conf_set(conf, q->arg, err, sizeof(err)) < 0)
			cli_usage_error("%s: %s", q->file ? "-F" : "-X", err);
	}
	kaf_props_free(p);
	if (brokers != NULL)
		kaf_conf_must(conf, "bootstrap.servers", brokers);
	else if (rd_kafka_conf_get(conf, "bootstrap.servers", from_conf, &n) !=
			 RD_KAFKA_CONF_OK ||
		 from_conf[0] == '\0')
		cli_usage_error("brokers are needed: -b host:port");
	else
		brokers = from_conf;
	kaf_conf_messages(conf, verbose);
	return brokers;
}

rd_kafka_t *kaf_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *err, size_t errlen)
{
	rd_kafka_t *rk = rd_kafka_new(type, conf, err, errlen);

	if (rk != NULL && conf == building)
		building = NULL;	/* the handle owns it now */
	return rk;
}

/* ---- messages -------------------------------------------------------------
 * librdkafka calls these from its own threads (log) or from the poll
 * (error; log lines too with log.queue), so the state is behind a mutex. */

static struct {
	pthread_mutex_t mu;
	char last[512];
	int verbose;
	int fatal;
	int down;		/* all brokers down was reported */
	int started;		/* past kaf_wait_brokers(): report errors */
} msgs = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	if (msgs.verbose)
		cli_warn("kafka: %s: %s", fac, buf);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	char fatal[400];

	(void)opaque;
	pthread_mutex_lock(&msgs.mu);
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
		snprintf(msgs.last, sizeof(msgs.last), "fatal: %s", fatal);
		msgs.fatal = 1;
	} else {
		snprintf(msgs.last, sizeof(msgs.last), "%s", reason);
	}
	if (msgs.started && err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && !msgs.down) {
		msgs.down = 1;
		cli_warn("kafka: all brokers are down (%s); retrying", reason);
	} else if (msgs.started && msgs.verbose) {
		cli_warn("kafka: %s", msgs.last);
	}
	pthread_mutex_unlock(&msgs.mu);
}

void kaf_conf_messages(rd_kafka_conf_t *conf, int verbose)
{
	msgs.verbose = verbose;
	rd_kafka_conf_set_log_cb(conf, on_log);
	rd_kafka_conf_set_error_cb(conf, on_error);
	if (!verbose)
		rd_kafka_conf_set(conf, "log.connection.close", "false", NULL, 0);
}

const char *kaf_last_error(void)
{
	return msgs.last;
}

int kaf_fatal(void)
{
	return msgs.fatal;
}

/* ---- waiting for brokers ---------------------------------------------------- */

const struct rd_kafka_metadata *kaf_wait_brokers(rd_kafka_t *rk, const char *brokers,
						 int all_topics, int64_t retry_ns,
						 volatile int *stop, char *err, size_t errlen)
{
	const struct rd_kafka_metadata *md = NULL;
	int64_t start = cli_mono_ns(), left;
	char d[RTAI_TIME_BUFSZ];
	int announced = 0;

	rtime_fmt_duration(retry_ns, d);
	for (;;) {
		rd_kafka_resp_err_t e;
		int ms, why;

		left = start + retry_ns - cli_mono_ns();
		ms = left > 1000000000 ? 1000 : (int)(left / 1000000);
		if (ms < 100)
			ms = 100;
		e = rd_kafka_metadata(rk, all_topics, NULL, &md, ms);
		if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
			break;
		md = NULL;
		rd_kafka_poll(rk, 0);	/* the error callback says why */
		if (stop != NULL && *stop) {
			err[0] = '\0';
			return NULL;
		}
		if (cli_mono_ns() - start >= retry_ns) {
			pthread_mutex_lock(&msgs.mu);
			snprintf(err, errlen, "brokers %s: not reachable after %s: %s", brokers, d,
				 msgs.last[0] != '\0' ? msgs.last : rd_kafka_err2str(e));
			pthread_mutex_unlock(&msgs.mu);
			return NULL;
		}
		/* Slow (a loaded machine, valgrind) is not unreachable: say so
		 * once librdkafka has reported why it cannot connect. */
		pthread_mutex_lock(&msgs.mu);
		why = msgs.last[0] != '\0';
		pthread_mutex_unlock(&msgs.mu);
		if (!announced && why) {
			announced = 1;
			pthread_mutex_lock(&msgs.mu);
			cli_warn("brokers %s: not reachable (%s); retrying for %s (--retry-for)",
				  brokers, msgs.last[0] != '\0' ? msgs.last : rd_kafka_err2str(e), d);
			pthread_mutex_unlock(&msgs.mu);
		}
	}
	pthread_mutex_lock(&msgs.mu);
	msgs.started = 1;
	msgs.down = 0;
	pthread_mutex_unlock(&msgs.mu);
	if (announced)
		cli_warn("brokers %s: reachable", brokers);
	return md;
}

/* ---- source metadata ---------------------------------------------------------- */

/* Nonzero when the n bytes at p are valid UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF). */
static int utf8_valid(const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n;

	while (p < end) {
		uint32_t c;
		size_t len;

		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf)
			len = 2, c = *p & 0x1f;
		else if (*p >= 0xe0 && *p <= 0xef)
			len = 3, c = *p & 0x0f;
		else if (*p >= 0xf0 && *p <= 0xf4)
			len = 4, c = *p & 0x07;
		else
			return 0;
		if ((size_t)(end - p) < len)
			return 0;
		for (size_t i = 1; i < len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			c = c << 6 | (p[i] & 0x3f);
		}
		if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
		    (len == 4 && (c < 0x10000 || c > 0x10ffff)))
			return 0;
		p += len;
	}
	return 1;
}


static void put_u8(struct buf *b, uint8_t v) { buf_putc(b, v); }
static void put_u32(struct buf *b, uint32_t v) { buf_append(b, &v, 4); }
static void put_i64(struct buf *b, int64_t v) { buf_append(b, &v, 8); }

static void put_name(struct buf *b, uint8_t type, const char *name)
{
	size_t n = strlen(name);

	put_u8(b, type);
	put_u8(b, (uint8_t)n);
	buf_append(b, name, n);
}

/* RT_BYTES (decisions, architecture issue #12): u32 length + bytes. */
#ifndef RT_BYTES
#define RT_BYTES 8
#endif

void kaf_meta_encode(const rd_kafka_message_t *m, struct buf *out)
{
	rd_kafka_headers_t *hdrs = NULL;
	rd_kafka_timestamp_type_t tstype;
	const char *topic = rd_kafka_topic_name(m->rkt);
	size_t at = out->len, nh = 0;
	uint16_t nfields = 3;
	int64_t ts = rd_kafka_message_timestamp(m, &tstype);

	put_u32(out, 0);	/* nfields (u16), fixed up below; 2 bytes undone */
	out->len -= 2;
	put_name(out, RT_STR, "topic");
	put_u32(out, (uint32_t)strlen(topic));
	buf_append(out, topic, strlen(topic));
	put_name(out, RT_INT, "partition");
	put_i64(out, m->partition);
	put_name(out, RT_INT, "offset");
	put_i64(out, m->offset);
	if (m->key != NULL) {
		put_name(out, RT_BYTES, "key");
		put_u32(out, (uint32_t)m->key_len);
		buf_append(out, m->key, m->key_len);
		nfields++;
	}
	if (tstype != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && ts >= 0) {
		put_name(out, RT_TIME, "timestamp");
		put_i64(out, ts * 1000000);
		nfields++;
	}
	/* rd_kafka_message_headers() parses them on first use; const is a
	 * promise about the message's payload, which it keeps. */
	if (rd_kafka_message_headers((rd_kafka_message_t *)m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
		nh = rd_kafka_header_cnt(hdrs);
	if (nh > 0) {
		const char *name;
		const void *val;
		size_t vlen, lenat;
		int utf8 = 1;

		for (size_t i = 0; i < nh && utf8; i++)
			if (rd_kafka_header_get_all(hdrs, i, &name, &val, &vlen) == 0 && val != NULL)
				utf8 = utf8_valid(val, vlen);
		put_name(out, RT_JSON, "headers");
		lenat = out->len;
		put_u32(out, 0);
		buf_putc(out, '{');
		for (size_t i = 0; i < nh; i++) {
			if (rd_kafka_header_get_all(hdrs, i, &name, &val, &vlen) != 0)
				break;
			if (i > 0)
				buf_putc(out, ',');
			json_put_str(out, name, strlen(name));
			buf_putc(out, ':');
			if (val == NULL)
				buf_puts(out, "null");
			else if (utf8)
				json_put_str(out, val, vlen);
			else {
				buf_putc(out, '"');
				buf_put_base64(out, val, vlen);
				buf_putc(out, '"');
			}
		}
		buf_putc(out, '}');
		{
			uint32_t len = (uint32_t)(out->len - lenat - 4);

			memcpy(out->p + lenat, &len, 4);
		}
		nfields++;
	}
	memcpy(out->p + at, &nfields, 2);
}
