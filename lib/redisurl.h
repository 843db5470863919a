/* redisurl.h - Redis connection URLs, and connecting with them.
 *
 *   redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]   TCP; defaults 127.0.0.1, 6379, 0
 *   unix://[[USER]:PASSWORD@]/PATH[?db=DB]       a Unix socket
 *
 * Without a password in the URL, RTAI_REDIS_PASSWORD is used when set.
 * User and password may be percent-encoded (%40 for '@'). A password is
 * never part of a message: rurl.shown is the URL with it masked as "***",
 * and rurl_hide_argv() masks it in the command line that ps shows.
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

/* A copy of url (any scheme) with its password, if any, replaced by "***",
 * whatever its length: "redis://u:***@h:1". The caller frees it. */
char *rurl_mask(const char *url);

/* Hides every password of a URL in the arguments from ps: when one of
 * argv[0..argc) holds one, copies the arguments to the heap, rewrites the
 * process's command line in place as the arguments joined by spaces with
 * each password shown as "***" (setproctitle(3)'s way, so its length does
 * not show either), and returns the copy, which the tool then parses
 * instead (it stays valid until exit). Otherwise returns argv unchanged.
 * Call it first in main(), before anything keeps a pointer into argv. */
char **rurl_hide_argv(int argc, char **argv);

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
 * to 1s. Returns early (NULL, err "interrupted") once sig_stop is set.
 * On failure after retrying, err ends with "(gave up after 30s)". */
redisContext *rurl_connect_retry(const struct rurl *u, int64_t retry_for_ns,
				 char *err, size_t errlen);

#endif
