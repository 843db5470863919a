/* redisurl.c - Redis connection URLs, and connecting with them. */
#include "config.h"
#include "redisurl.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "buf.h"
#include "cli.h"
#include "frame.h"
#include "rtime.h"
#include "sig.h"

/* ---- parsing --------------------------------------------------------- */

/* Where the user-info part of a URL ends (its '@'), or NULL when there is
 * none. p points just after "scheme://". Host, port and database never
 * hold an '@', so for TCP the last one wins, which lets a password hold
 * an unencoded '@'. A socket path starts with '/', so there the user info
 * is whatever comes before the first "@/"; without one (a malformed URL,
 * refused later) the last '@' still ends it, so the password is hidden in
 * the message. */
static const char *userinfo_end(const char *p, int is_unix)
{
	const char *at;

	if (!is_unix)
		return strrchr(p, '@');
	if (p[0] == '/')
		return NULL;
	at = strstr(p, "@/");
	return at != NULL ? at : strrchr(p, '@');
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A percent-decoded copy of s[0..n). */
static char *pct_decode(const char *s, size_t n)
{
	char *out = xmalloc(n + 1), *o = out;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0) {
			*o++ = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

static int fail(char *err, size_t errlen, const char *url, const char *why)
{
	char *shown = rurl_mask(url);

	snprintf(err, errlen, "'%s': %s", shown, why);
	free(shown);
	return -1;
}

static int parse_num(const char *s, size_t n, long long min, long long max, long long *out)
{
	char tmp[32];
	const char *why;

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return cli_parse_int(tmp, min, max, out, &why);
}

int rurl_parse(struct rurl *u, const char *url, char *err, size_t errlen)
{
	struct rurl r = { .port = 6379 };
	const char *p, *at, *host, *end;
	struct buf shown = { 0 };
	long long v;
	int is_unix;

	if (url == NULL)
		url = RURL_DEFAULT;
	if (strncmp(url, "redis://", 8) == 0) {
		p = url + 8, is_unix = 0;
	} else if (strncmp(url, "unix://", 7) == 0) {
		p = url + 7, is_unix = 1;
	} else if (strncmp(url, "rediss://", 9) == 0) {
		return fail(err, errlen, url, "TLS (rediss://) is not supported");
	} else {
		return fail(err, errlen, url,
			    "expected redis://[:PASSWORD@]HOST[:PORT][/DB] or unix:///PATH");
	}

	at = userinfo_end(p, is_unix);
	if (at != NULL) {
		const char *colon = memchr(p, ':', (size_t)(at - p));

		if (colon != NULL) {
			if (colon > p)
				r.user = pct_decode(p, (size_t)(colon - p));
			r.password = pct_decode(colon + 1, (size_t)(at - colon - 1));
		} else {
			r.password = pct_decode(p, (size_t)(at - p));
		}
		host = at + 1;
	} else {
		host = p;
	}

	if (is_unix) {
		const char *q = strchr(host, '?');

		end = q != NULL ? q : host + strlen(host);
		if (host[0] != '/' || end == host + 1) {
			rurl_free(&r);
			return fail(err, errlen, url, "expected an absolute socket path: unix:///PATH");
		}
		r.path = xstrndup(host, (size_t)(end - host));
		if (q != NULL) {
			if (strncmp(q, "?db=", 4) != 0 ||
			    parse_num(q + 4, strlen(q + 4), 0, INT_MAX, &v) < 0) {
				rurl_free(&r);
				return fail(err, errlen, url, "expected ?db=N after the socket path");
			}
			r.db = (int)v;
		}
	} else {
		const char *slash = strchr(host, '/'), *hend, *port = NULL;

		end = slash != NULL ? slash : host + strlen(host);
		if (host[0] == '[') {
			const char *rb = memchr(host, ']', (size_t)(end - host));

			if (rb == NULL) {
				rurl_free(&r);
				return fail(err, errlen, url, "unclosed '[' in the host");
			}
			r.host = xstrndup(host + 1, (size_t)(rb - host - 1));
			hend = rb + 1;
			if (hend < end && *hend == ':')
				port = hend + 1;
			else if (hend != end) {
				rurl_free(&r);
				return fail(err, errlen, url, "expected ':PORT' after ']'");
			}
		} else {
			const char *colon = memchr(host, ':', (size_t)(end - host));

			hend = colon != NULL ? colon : end;
			r.host = hend > host ? xstrndup(host, (size_t)(hend - host))
					     : xstrdup("127.0.0.1");
			if (colon != NULL)
				port = colon + 1;
		}
		if (port != NULL) {
			if (parse_num(port, (size_t)(end - port), 1, 65535, &v) < 0) {
				rurl_free(&r);
				return fail(err, errlen, url, "the port must be a number from 1 to 65535");
			}
			r.port = (int)v;
		}
		if (slash != NULL && slash[1] != '\0') {
			if (parse_num(slash + 1, strlen(slash + 1), 0, INT_MAX, &v) < 0) {
				rurl_free(&r);
				return fail(err, errlen, url, "the database after '/' must be a number");
			}
			r.db = (int)v;
		}
	}

	if (r.password == NULL && getenv("RTAI_REDIS_PASSWORD") != NULL &&
	    getenv("RTAI_REDIS_PASSWORD")[0] != '\0')
		r.password = xstrdup(getenv("RTAI_REDIS_PASSWORD"));

	buf_puts(&shown, is_unix ? "unix://" : "redis://");
	if (r.user != NULL)
		buf_puts(&shown, r.user);
	if (r.password != NULL)
		buf_puts(&shown, ":***@");
	else if (r.user != NULL)
		buf_putc(&shown, '@');
	if (is_unix) {
		buf_puts(&shown, r.path);
		if (r.db != 0)
			buf_printf(&shown, "?db=%d", r.db);
	} else {
		if (strchr(r.host, ':') != NULL)
			buf_printf(&shown, "[%s]:%d", r.host, r.port);
		else
			buf_printf(&shown, "%s:%d", r.host, r.port);
		if (r.db != 0)
			buf_printf(&shown, "/%d", r.db);
	}
	buf_putc(&shown, '\0');
	r.shown = (char *)shown.p;
	*u = r;
	return 0;
}

/* Where the password of url starts and ends (*from, *to), when it has one. */
static int password_span(const char *url, const char **from, const char **to)
{
	const char *p = strstr(url, "://"), *at, *colon;
	int is_unix = strncmp(url, "unix://", 7) == 0;

	/* Any scheme: a mistyped one may still carry a password. */
	if (p == NULL)
		return 0;
	p += 3;
	at = userinfo_end(p, is_unix);
	if (at == NULL)
		return 0;
	colon = memchr(p, ':', (size_t)(at - p));
	*from = colon != NULL ? colon + 1 : p;
	*to = at;
	return 1;
}

char *rurl_mask(const char *url)
{
	const char *from, *to;
	size_t head, tail;
	char *out;

	if (!password_span(url, &from, &to))
		return xstrdup(url);
	head = (size_t)(from - url);
	tail = strlen(to);
	out = xmalloc(head + 3 + tail + 1);
	memcpy(out, url, head);
	memcpy(out + head, "***", 3);
	memcpy(out + head + 3, to, tail + 1);
	return out;
}

/* The copy of argv the tool goes on with, kept reachable until exit. */
static char **argv_copy;

char **rurl_hide_argv(int argc, char **argv)
{
	const char *from, *to;
	char *area, *end, *o;
	size_t size, len;
	int i, secret = 0;

	for (i = 0; i < argc; i++)
		secret |= password_span(argv[i], &from, &to);
	if (!secret || argv_copy != NULL)
		return argv;
	/* One block: the pointers, then the strings. A tool may point an
	 * entry elsewhere (cli_init() sets argv[0] to its name) without
	 * leaving a string unreachable. */
	size = (size_t)(argc + 1) * sizeof(*argv_copy);
	for (i = 0; i < argc; i++)
		size += strlen(argv[i]) + 1;
	argv_copy = xmalloc(size);
	o = (char *)(argv_copy + argc + 1);
	for (i = 0; i < argc; i++) {
		len = strlen(argv[i]) + 1;
		memcpy(o, argv[i], len);
		argv_copy[i] = o;
		o += len;
	}
	argv_copy[argc] = NULL;

	/* The strings of argv lie back to back: that area is what ps shows. */
	area = argv[0];
	for (i = 0; i + 1 < argc; i++)
		if (argv[i + 1] != argv[i] + strlen(argv[i]) + 1)
			break;
	if (i + 1 < argc) {
		/* Not one area (never seen on Linux): blank each password. */
		for (i = 0; i < argc; i++)
			if (password_span(argv[i], &from, &to))
				memset(argv[i] + (from - argv[i]), '*', (size_t)(to - from));
		return argv_copy;
	}
	end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;
	size = (size_t)(end - area);

	/* One line, as setproctitle(3) writes it: the arguments joined by
	 * spaces, each password as "***", then NULs, and a last byte that is
	 * not NUL, so that Linux shows the line only up to its first NUL
	 * (fs/proc/base.c, get_mm_cmdline) and the padding, whose length
	 * would tell the password's, is never shown. */
	memset(area, '\0', size);
	o = area;
	for (i = 0; i < argc; i++) {
		char *shown = rurl_mask(argv_copy[i]);

		len = strlen(shown);
		if (i > 0 && o < end - 2)
			*o++ = ' ';
		if (len > (size_t)(end - 2 - o))
			len = (size_t)(end - 2 - o);
		memcpy(o, shown, len);
		o += len;
		free(shown);
	}
	end[-1] = ' ';
	return argv_copy;
}

void rurl_free(struct rurl *u)
{
	if (u == NULL)
		return;
	free(u->host);
	free(u->path);
	free(u->user);
	if (u->password != NULL)
		memset(u->password, 0, strlen(u->password));
	free(u->password);
	free(u->shown);
	memset(u, 0, sizeof(*u));
}

/* ---- connecting ------------------------------------------------------ */

/* Runs one command during the handshake. Returns 0, or -1 with err set. */
static int handshake(redisContext *c, const struct rurl *u, int argc, const char **argv,
		     int *retry, char *err, size_t errlen)
{
	size_t len[4];
	redisReply *rep;
	int ret = 0;

	for (int i = 0; i < argc; i++)
		len[i] = strlen(argv[i]);
	rep = redisCommandArgv(c, argc, argv, len);
	if (rep == NULL) {
		snprintf(err, errlen, "%s: %s: %s", u->shown, argv[0],
			 c->errstr[0] ? c->errstr : "connection lost");
		return -1;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		*retry = strncmp(rep->str, "LOADING", 7) == 0;
		if (strncmp(rep->str, "NOAUTH", 6) == 0)
			snprintf(err, errlen, "%s: %s (give the password in the URL or in RTAI_REDIS_PASSWORD)",
				 u->shown, rep->str);
		else
			snprintf(err, errlen, "%s: %s: %s", u->shown, argv[0], rep->str);
		ret = -1;
	}
	freeReplyObject(rep);
	return ret;
}

redisContext *rurl_connect(const struct rurl *u, int64_t timeout_ns, int *retry,
			   char *err, size_t errlen)
{
	struct timeval tv = { .tv_sec = timeout_ns / RTAI_NS_PER_SEC,
			      .tv_usec = timeout_ns % RTAI_NS_PER_SEC / 1000 };
	redisContext *c;
	char db[16];

	*retry = 1;
	c = u->path != NULL ? redisConnectUnixWithTimeout(u->path, tv)
			    : redisConnectWithTimeout(u->host, u->port, tv);
	if (c == NULL) {
		snprintf(err, errlen, "%s: connect: out of memory", u->shown);
		return NULL;
	}
	if (c->err) {
		snprintf(err, errlen, "%s: connect: %s", u->shown, c->errstr);
		goto fail;
	}
	redisSetTimeout(c, tv);
	if (u->password != NULL) {
		const char *argv[3] = { "AUTH", u->user ? u->user : u->password, u->password };

		if (handshake(c, u, u->user ? 3 : 2, argv, retry, err, errlen) < 0)
			goto fail;
	}
	if (u->db != 0) {
		const char *argv[2] = { "SELECT", db };

		snprintf(db, sizeof(db), "%d", u->db);
		if (handshake(c, u, 2, argv, retry, err, errlen) < 0)
			goto fail;
	}
	{
		const char *argv[1] = { "PING" };

		if (handshake(c, u, 1, argv, retry, err, errlen) < 0)
			goto fail;
	}
	return c;
fail:
	redisFree(c);
	return NULL;
}

redisContext *rurl_connect_retry(const struct rurl *u, int64_t retry_for_ns, char *err,
				 size_t errlen)
{
	int64_t start = cli_mono_ns(), wait = 50000000, left;
	redisContext *c;
	int retry;

	for (;;) {
		left = start + retry_for_ns - cli_mono_ns();
		/* Each attempt may take what is left, within [200ms, 5s]. */
		if (left < 200000000)
			left = 200000000;
		if (left > 5 * RTAI_NS_PER_SEC)
			left = 5 * RTAI_NS_PER_SEC;
		c = rurl_connect(u, left, &retry, err, errlen);
		if (c != NULL || !retry)
			return c;
		left = start + retry_for_ns - cli_mono_ns();
		if (left <= 0 || sig_stop)
			break;
		cli_sleep_until_mono(cli_mono_ns() + (wait < left ? wait : left));
		if (sig_stop)
			break;
		wait = wait * 2 > RTAI_NS_PER_SEC ? RTAI_NS_PER_SEC : wait * 2;
	}
	if (sig_stop) {
		snprintf(err, errlen, "%s: interrupted while connecting", u->shown);
	} else if (retry_for_ns > 0) {
		char d[RTAI_TIME_BUFSZ];
		size_t n = strlen(err);

		rtime_fmt_duration(cli_mono_ns() - start, d);
		snprintf(err + n, n < errlen ? errlen - n : 0, " (gave up after %s)", d);
	}
	return NULL;
}
