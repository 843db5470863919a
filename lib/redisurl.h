/* redisurl.h - Redis connection URLs, and connecting with them.
 *
 *   redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]   TCP; defaults 127.0.0.1, 6379, 0
 *   unix://[[USER]:PASSWORD@]/PATH[?db=DB]       a Unix socket
 *
 * Without a password in the URL, RTAI_REDIS_PASSWORD is used when set.
 * User and password may be percent-encoded (%40 for '@'). A password is
 * never part of a message: rurl.shown is the URL with it masked, and
 * rurl_hide() blanks it in the argv string it came from, so ps does not
 * show it either.
 */
#ifndef RTAI_REDISURL_H
#define RTAI_REDISURL_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#define RURL_DEFAULT "redis://127.0.0.1:6379"

struct rurl {
	char *host;		/* TCP host, or NULL for a socket */
	char *path;		/* socket path, or NULL for TCP */
	int port;		/* TCP port */
	int db;			/* database selected after connecting */
	char *user;		/* ACL user, or NULL */
	char *password;		/* or NULL: no AUTH */
	char *shown;		/* for messages: "redis://:***@127.0.0.1:6379/2" */
};

/* Parses url (NULL means RURL_DEFAULT) into u. Returns 0, or -1 with a
 * reason in err ("'http://x': expected redis:// or unix://"), which never
 * holds the password. u is filled only on success; free it with
 * rurl_free(). */
int rurl_parse(struct rurl *u, const char *url, char *err, size_t errlen);

/* Overwrites the password part of a URL string in place with '*' (same
 * length), for an argv element after it was parsed. */
void rurl_hide(char *url);

/* Frees what rurl_parse() allocated. Accepts NULL. */
void rurl_free(struct rurl *u);

/* Connects, authenticates (AUTH) and selects the database, each step
 * within timeout_ns. Returns a blocking context (free it with redisFree),
 * or NULL with err set ("redis://127.0.0.1:6379: connect: Connection
 * refused") and *retry set to 1 when trying again later may succeed (no
 * server yet, a timeout, a server still loading) or 0 when it cannot (a
 * wrong password). */
redisContext *rurl_connect(const struct rurl *u, int64_t timeout_ns, int *retry,
			   char *err, size_t errlen);

/* rurl_connect() until it succeeds, fails for good, or retry_for_ns have
 * passed (0: one attempt), sleeping between attempts from 50ms doubling up
 * to 1s. Returns early (NULL, err "interrupted") once rtai_stop is set.
 * On failure after retrying, err ends with "(gave up after 30s)". */
redisContext *rurl_connect_retry(const struct rurl *u, int64_t retry_for_ns,
				 char *err, size_t errlen);

#endif
