/* rclient.h - the Redis client of rtai: one pipelined, non-blocking
 * connection and the queue of its unacknowledged commands.
 *
 * Every tool that talks to Redis (rtai-sink-redis, rtai-join --redis) uses
 * this client, so they share one behaviour: the URL and its password
 * (redisurl.h), pipelining (commands go out as they are queued, replies are
 * read as they come), and no lost write when the connection drops: every
 * command is kept, as the RESP bytes that were sent, until its reply has
 * come; a lost connection is reopened and what was not answered is sent
 * again, in order (at-least-once, as redis-cli --pipe and Jedis pipelines
 * do; commands must therefore be idempotent: SET, HSET, a script).
 *
 * Work is queued in entries: one or more commands about one key, whose
 * replies are settled together (HSET and its PEXPIRE, say). When all the
 * replies of an entry have come, the done callback gets its tag (the
 * caller's number for it), its key, and its first error reply or else its
 * last reply:
 *
 *	rcl_init(&c, "redis://127.0.0.1:6379", done, NULL, err, sizeof(err));
 *	rcl_begin(&c);
 *	rcl_cmd(&c, 3);
 *	rcl_argz(&c, "SET");
 *	rcl_key(&c, "user:u1", 7);
 *	rcl_argz(&c, "42");
 *	rcl_commit(&c, tag, 0);
 *	rcl_sync(&c);		// or rcl_fd()/rcl_events()/rcl_io() in a loop
 *
 * Nothing is allocated per command or reply in the steady state: commands
 * are appended to one buffer that is compacted as replies come, and
 * replies are parsed into reused buffers (no redisReply objects).
 *
 * A reply whose error says a new connection cures it (NOSCRIPT after a
 * SCRIPT FLUSH, LOADING, BUSY, TRYAGAIN, MASTERDOWN) reopens the
 * connection, loads the scripts again and resends, up to 3 times in a row.
 * Scripts registered with rcl_script() are loaded (SCRIPT LOAD) on every
 * connection, before anything else is sent.
 *
 * Redis Cluster: when the server of a redis:// URL answers CLUSTER SLOTS
 * (it runs with cluster-enabled yes), the client becomes a cluster client
 * on its own (unix:// is always a single server). It reads the slot map
 * from CLUSTER SLOTS, keeps one connection and one pipeline per master, and
 * sends each entry to the master of its key's slot (rcl_slot(): CRC16 of
 * the key or of its {hash tag}, as the Redis Cluster specification's "Keys
 * distribution model" says). Every command of an entry must touch only
 * keys of that slot (one key, or keys sharing a hash tag); Redis refuses
 * others with CROSSSLOT, an error reply like any other. A MOVED reply
 * updates the slot's owner (and the whole map is read again, at most once
 * a second) and the entry is sent again to the new owner; an ASK reply
 * sends it to the node named, each command preceded by ASKING, without
 * changing the map. An entry stays queued until a node has answered it, so
 * a slot moving mid-stream loses nothing; while entries of a slot are on
 * their way to a new owner, later entries of that slot follow the same
 * way, so writes to one key keep their order. rcl_fd() is then an epoll
 * descriptor that is readable when any node's socket is ready.
 */
#ifndef RTAI_RCLIENT_H
#define RTAI_RCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "buf.h"
#include "redisurl.h"

/* One element of an array reply (one level deep: an element that is an
 * array itself has type REDIS_REPLY_ARRAY, its size in integer, and its
 * contents left out). */
struct rcl_elem {
	int type;		/* REDIS_REPLY_STRING, _STATUS, _ERROR, _INTEGER, _NIL, _ARRAY */
	long long integer;	/* _INTEGER; _ARRAY: its size */
	const char *str;	/* _STRING, _STATUS, _ERROR: NUL-terminated */
	size_t len;
};

/* A reply: valid during the done callback only. */
struct rcl_reply {
	int type;		/* as rcl_elem's */
	long long integer;	/* _INTEGER; _ARRAY: its size */
	const char *str;	/* _STRING, _STATUS, _ERROR: NUL-terminated */
	size_t len;
	size_t n;		/* _ARRAY: elements kept, all of them */
	const struct rcl_elem *elem;
};

/* An entry's outcome. key (klen bytes, not NUL-terminated) is the
 * argument given with rcl_key(), or NULL. Valid during the call only. */
struct rcl_done {
	uint64_t tag, tag2;		/* as given to rcl_commit() */
	const struct rcl_reply *reply;	/* first error reply, else the last reply */
	const void *key;
	size_t klen;
};

/* Called once per entry, in the order the entries were committed (with a
 * cluster: in that order per node, in any order across nodes). It may not
 * queue commands or free the client. */
typedef void (*rcl_done_fn)(void *arg, const struct rcl_done *d);

struct rcl_ent;
struct rcl_cluster;
struct rcl_node;

struct rcl {
	struct rurl url;		/* where; url.shown names it in messages */
	int64_t retry_for;		/* how long to try to (re)connect, ns (0: once) */
	const char *retry_opt;		/* the option that sets it, for hints, or NULL */
	int verbose;			/* report connections and losses on stderr */
	int dry;			/* rcl_init_dry(): commands are printed, not sent */
	struct buf dry_text;		/* ... here, one line per command */
	rcl_done_fn done;
	void *arg;
	redisContext *ctx;		/* NULL while not connected */
	redisReader *reader;
	struct buf cmd;			/* commands from stream offset cmd_base on */
	uint64_t cmd_base, acked, sent;
	struct rcl_ent *e;		/* ring of unsettled entries */
	size_t cap, head, n;
	size_t mark;			/* rcl_begin(): where the entry starts in cmd */
	uint32_t ncmd;			/* commands in the entry being built */
	uint64_t key_off;		/* its key, as an offset in cmd, and length */
	uint32_t klen;
	char **script;			/* rcl_script(): loaded on each connection */
	size_t *script_len;
	size_t nscript;
	struct buf rstr;		/* the reply being parsed: its strings */
	struct buf relem;		/* ... its elements (offsets into rstr) */
	struct rcl_reply reply;		/* ... and its top level */
	size_t reply_off;		/* where its string is in rstr */
	struct buf first_err;		/* the entry's first error, when not its last reply */
	int has_err;
	int transient_streak;		/* transient errors without progress */
	int failed;			/* gave up: err says why */
	char err[1024];
	uint64_t retried;		/* commands sent again after a lost connection */
	uint64_t connects;		/* connections made */
	uint64_t redirects;		/* cluster: entries sent again after MOVED or ASK */
	struct rcl_cluster *cl;		/* a cluster client: its nodes, or NULL */
	struct rcl_node *node;		/* a cluster node's client: its node, or NULL */
	int probed;			/* asked once whether the server is a cluster */
	uint16_t done_slot;		/* the slot of the entry being settled */
	struct buf redir;		/* the entry's MOVED or ASK reply, if any */
};

/* The cluster slot of a key of n bytes: CRC16 (XMODEM: polynomial 0x1021,
 * initial 0) of the key, or of its hash tag when it has one (the bytes
 * between its first '{' and the first '}' after it, when there is at least
 * one), modulo 16384, as the Redis Cluster specification says. */
uint16_t rcl_slot(const void *key, size_t n);

/* CRC16 (XMODEM) of n bytes: rcl_slot()'s hash ("123456789" -> 0x31C3). */
uint16_t rcl_crc16(const void *p, size_t n);

/* Parses url (NULL: redis://127.0.0.1:6379) and prepares c; connects
 * nothing yet (rcl_connect(), or the first rcl_flush(), does). done(arg,
 * ...) receives each settled entry. Returns 0, or -1 with err set
 * ("'http://x': expected redis:// or unix://", never the password). On
 * success free c with rcl_free(). retry_for is 0 (one attempt); set
 * c->retry_for, c->retry_opt and c->verbose after it. */
int rcl_init(struct rcl *c, const char *url, rcl_done_fn done, void *arg, char *err,
	     size_t errlen);

/* Prepares c to print commands instead of sending them (--dry-run): each
 * committed entry's commands are appended to c->dry_text as redis-cli
 * shows them (resp_print()), one per line, and settle at once without a
 * done call. Free with rcl_free(). */
void rcl_init_dry(struct rcl *c);

/* Registers a Lua script (len bytes, copied) that every connection loads
 * with SCRIPT LOAD before any command; writes its SHA-1 (40 hex digits and
 * a NUL) to sha, for EVALSHA. Call before connecting. */
void rcl_script(struct rcl *c, const char *lua, size_t len, char sha[41]);

/* Connects now unless connected: AUTH, SELECT, PING, the scripts; tries
 * for c->retry_for, and says at once on stderr that it is trying again and
 * for how long. Blocks while connecting. Returns 0, or -1 with c->err set
 * and c->failed: "redis://...: connect: Connection refused (gave up after
 * 30s); --retry-for waits longer". Returns -1 at once after SIGINT/SIGTERM
 * (sig_stop) interrupted it. */
int rcl_connect(struct rcl *c);

/* ---- queueing commands -------------------------------------------------
 * rcl_begin(), then for each command rcl_cmd(argc) and argc arguments
 * (one of them may be rcl_key()), then rcl_commit() or rcl_cancel(). */

void rcl_begin(struct rcl *c);
/* Starts a command of argc arguments, the command name included. */
void rcl_cmd(struct rcl *c, size_t argc);
/* One argument: n bytes, any bytes (sent with its length: a CR LF or a
 * space in it cannot start another command). */
void rcl_arg(struct rcl *c, const void *p, size_t n);
void rcl_argz(struct rcl *c, const char *s);
void rcl_arg_int(struct rcl *c, long long v);
/* The argument that is the entry's key: named in the done callback (and,
 * with a cluster, the one that routes the entry). */
void rcl_key(struct rcl *c, const void *p, size_t n);
/* Queues the entry built since rcl_begin(); each of its commands will be
 * answered once. tag and tag2 are the caller's, handed back to the done
 * callback (rtai-sink-redis: the record number, and where the record waits
 * in its acknowledged-output queue). Nothing is sent until rcl_flush() or
 * rcl_io(). */
void rcl_commit(struct rcl *c, uint64_t tag, uint64_t tag2);
/* Forgets the entry built since rcl_begin(). */
void rcl_cancel(struct rcl *c);

/* Entries queued and not yet settled. */
static inline size_t rcl_pending(const struct rcl *c) { return c->n; }
/* Bytes of commands queued and not yet settled (with a cluster: on all
 * nodes). */
uint64_t rcl_pending_bytes(const struct rcl *c);

/* ---- driving it ----------------------------------------------------------
 * In an event loop: watch rcl_fd() (when >= 0) for rcl_events(), call
 * rcl_io() with what poll() returned, and rcl_flush() after queueing. */

/* Sends what the socket takes now, connecting first when there is
 * something to send and no connection (that blocks, see rcl_connect()).
 * Returns 0, or -1 once the client has failed (c->err). */
int rcl_flush(struct rcl *c);

/* The socket to watch, or -1 while not connected; with a cluster, the
 * epoll descriptor that watches every node's socket. */
int rcl_fd(const struct rcl *c);

/* poll() events wanted on rcl_fd(): POLLIN, and POLLOUT while commands
 * wait to be sent (with a cluster: POLLIN, the epoll descriptor's). */
short rcl_events(const struct rcl *c);

/* Handles what poll() reported on rcl_fd(): reads replies (calling done
 * for settled entries) and sends more. Returns 0, or -1 once failed. */
int rcl_io(struct rcl *c, short revents);

/* Blocks until every queued entry is settled (reconnecting as needed).
 * Returns 0, or -1 once failed. */
int rcl_sync(struct rcl *c);

/* 1 when no entry that went out whole awaits its replies (those never
 * sent, or not whole, may be dropped without losing a reply on its way):
 * a tool that stops after a failure waits for this. */
int rcl_sent_settled(const struct rcl *c);

/* Closes the connection and frees everything; entries still queued are
 * dropped without a done call. Accepts NULL. */
void rcl_free(struct rcl *c);

#endif
