/* test_rclient.c - unit tests of the shared Redis client against a fake
 * server (a child process on a Unix socket) that answers as a script says,
 * so losses and transient errors happen exactly where a test wants them. */
#include "config.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "buf.h"
#include "cli.h"
#include "rclient.h"
#include "sha1.h"
#include "tap.h"

static char dir[] = "/tmp/rtai-rclient-XXXXXX";
static char path[200];
static int lfd = -1;

/* ---- the fake server ----------------------------------------------------- */

/* Serves connections one after another. For each, `plan` holds one line:
 * the replies to send to the commands after the handshake, in order, each
 * as RESP (e.g. "+OK\r\n"); "CLOSE" closes the connection instead of the
 * next reply. Every command seen is logged to LOG as a line (its name and
 * first argument). PING and SCRIPT are answered by themselves. */
static void serve(const char *const *plan, size_t nplan, const char *log)
{
	FILE *lf = fopen(log, "w");

	for (size_t conn = 0; conn < nplan; conn++) {
		int fd = accept(lfd, NULL, NULL);
		redisReader *rd = redisReaderCreate();
		const char *next = plan[conn];
		char tmp[4096];
		ssize_t n;
		void *r;

		if (fd < 0)
			break;
		while ((n = read(fd, tmp, sizeof(tmp))) > 0) {
			redisReaderFeed(rd, tmp, (size_t)n);
			while (redisReaderGetReply(rd, &r) == REDIS_OK && r != NULL) {
				redisReply *c = r;
				const char *name = c->element[0]->str;

				fprintf(lf, "%d %s %s\n", (int)conn, name,
					c->elements > 1 ? c->element[1]->str : "");
				fflush(lf);
				if (strcmp(name, "PING") == 0) {
					(void)!write(fd, "+PONG\r\n", 7);
				} else if (strcmp(name, "SCRIPT") == 0) {
					char sha[41], rep[64];

					sha1_hex(c->element[2]->str, c->element[2]->len, sha);
					snprintf(rep, sizeof(rep), "$40\r\n%s\r\n", sha);
					(void)!write(fd, rep, strlen(rep));
				} else if (strncmp(next, "CLOSE", 5) == 0) {
					freeReplyObject(r);
					goto next_conn;
				} else {
					/* One reply: up to and including its last CR LF. */
					const char *end = strstr(next, "\r\n");

					if (next[0] == '*') {	/* an array: the whole of it */
						end = next + strlen(next) - 2;
					}
					(void)!write(fd, next, (size_t)(end + 2 - next));
					next = end + 2;
				}
				freeReplyObject(r);
			}
		}
next_conn:
		close(fd);
		redisReaderFree(rd);
	}
	fclose(lf);
	_exit(0);
}

static pid_t start(const char *const *plan, size_t nplan)
{
	pid_t pid = fork();

	if (pid == 0)
		serve(plan, nplan, "log");
	return pid;
}

static char *slurp(const char *name)
{
	static char text[8192];
	FILE *f = fopen(name, "r");
	size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;

	text[n] = '\0';
	if (f)
		fclose(f);
	return text;
}

/* ---- what the client reported -------------------------------------------- */

static struct buf got;

static void done(void *arg, const struct rcl_done *d)
{
	(void)arg;
	buf_printf(&got, "%llu/%llu:%.*s:", (unsigned long long)d->tag,
		   (unsigned long long)d->tag2, (int)d->klen, d->key ? (const char *)d->key : "");
	switch (d->reply->type) {
	case REDIS_REPLY_ERROR: buf_printf(&got, "E(%s)", d->reply->str); break;
	case REDIS_REPLY_STATUS: buf_printf(&got, "S(%s)", d->reply->str); break;
	case REDIS_REPLY_STRING: buf_printf(&got, "B(%s)", d->reply->str); break;
	case REDIS_REPLY_INTEGER: buf_printf(&got, "I(%lld)", d->reply->integer); break;
	case REDIS_REPLY_NIL: buf_printf(&got, "nil"); break;
	case REDIS_REPLY_ARRAY:
		buf_printf(&got, "A[");
		for (size_t i = 0; i < d->reply->n; i++)
			buf_printf(&got, "%s%s", i ? "," : "",
				   d->reply->elem[i].str ? d->reply->elem[i].str : "#");
		buf_printf(&got, "]");
		break;
	}
	buf_putc(&got, ' ');
}

static const char *got_text(void)
{
	buf_putc(&got, '\0');
	got.len--;
	return (const char *)got.p;
}

static void set_url(char *url, size_t n)
{
	snprintf(url, n, "unix://%s", path);
}

static void queue_set(struct rcl *c, const char *k, uint64_t tag)
{
	rcl_begin(c);
	rcl_cmd(c, 3);
	rcl_argz(c, "SET");
	rcl_key(c, k, strlen(k));
	rcl_argz(c, "v");
	rcl_commit(c, tag, tag + 100);
}

/* ---- the tests ------------------------------------------------------------ */

static void test_replies(void)
{
	static const char *const plan[] = {
		"+OK\r\n-ERR first\r\n:1\r\n*4\r\n$4\r\ntier\r\n$4\r\ngold\r\n:7\r\n$-1\r\n",
	};
	struct rcl c;
	char url[300], err[300];
	pid_t pid = start(plan, 1);

	buf_reset(&got);
	set_url(url, sizeof(url));
	ok(rcl_init(&c, url, done, NULL, err, sizeof(err)) == 0, "init");
	queue_set(&c, "a", 0);
	/* Two commands in one entry: the first one's error is the outcome. */
	rcl_begin(&c);
	rcl_cmd(&c, 3);
	rcl_argz(&c, "HSET");
	rcl_key(&c, "b\r\nc", 4);
	rcl_argz(&c, "x");
	rcl_cmd(&c, 3);
	rcl_argz(&c, "PEXPIRE");
	rcl_argz(&c, "b");
	rcl_arg_int(&c, 1000);
	rcl_commit(&c, 1, 101);
	rcl_begin(&c);
	rcl_cmd(&c, 2);
	rcl_argz(&c, "HGETALL");
	rcl_key(&c, "h", 1);
	rcl_commit(&c, 2, 102);
	rcl_begin(&c);		/* a cancelled entry is never sent */
	rcl_cmd(&c, 2);
	rcl_argz(&c, "DEL");
	rcl_cancel(&c);
	is_int(rcl_pending(&c), 3, "three entries queued");
	ok(rcl_pending_bytes(&c) > 0, "their bytes counted");
	is_int(rcl_sync(&c), 0, "sync");
	is_str(got_text(), "0/100:a:S(OK) 1/101:b\r\nc:E(ERR first) 2/102:h:A[tier,gold,#,#] ",
	       "each entry settled once, in order, with its tags, key and outcome");
	is_int(rcl_pending(&c), 0, "nothing pending");
	is_int(rcl_pending_bytes(&c), 0, "no bytes pending");
	rcl_free(&c);
	waitpid(pid, NULL, 0);
	ok(strstr(slurp("log"), "DEL") == NULL, "the cancelled command was not sent");
}

static void test_resend(void)
{
	static const char *const plan[] = {
		"+OK\r\n+OK\r\nCLOSE",
		"+OK\r\n+OK\r\n+OK\r\n",
	};
	struct rcl c;
	char url[300], err[300];
	pid_t pid = start(plan, 2);

	buf_reset(&got);
	set_url(url, sizeof(url));
	rcl_init(&c, url, done, NULL, err, sizeof(err));
	c.retry_for = 2 * 1000000000LL;
	for (int i = 0; i < 5; i++) {
		char k[8];

		snprintf(k, sizeof(k), "k%d", i);
		queue_set(&c, k, (uint64_t)i);
	}
	is_int(rcl_sync(&c), 0, "sync across a lost connection");
	is_str(got_text(), "0/100:k0:S(OK) 1/101:k1:S(OK) 2/102:k2:S(OK) 3/103:k3:S(OK) 4/104:k4:S(OK) ",
	       "every entry settled exactly once, in order");
	is_int(c.retried, 3, "the three unanswered commands were sent again");
	is_int(c.connects, 2, "two connections");
	rcl_free(&c);
	waitpid(pid, NULL, 0);
	ok(strstr(slurp("log"), "1 SET k2\n1 SET k3\n1 SET k4\n") != NULL,
	   "the second connection got k2, k3, k4 again, in order:\n%s", slurp("log"));
}

static void test_noscript(void)
{
	static const char *const plan[] = {
		"-NOSCRIPT No matching script\r\n",
		":1\r\n",
	};
	static const char lua[] = "return 1";
	struct rcl c;
	char url[300], err[300], sha[41];
	pid_t pid = start(plan, 2);

	buf_reset(&got);
	set_url(url, sizeof(url));
	rcl_init(&c, url, done, NULL, err, sizeof(err));
	rcl_script(&c, lua, sizeof(lua) - 1, sha);
	is_int(strlen(sha), 40, "a SHA-1 for EVALSHA");
	rcl_begin(&c);
	rcl_cmd(&c, 4);
	rcl_argz(&c, "EVALSHA");
	rcl_arg(&c, sha, 40);
	rcl_argz(&c, "1");
	rcl_key(&c, "s", 1);
	rcl_commit(&c, 7, 0);
	is_int(rcl_sync(&c), 0, "sync");
	is_str(got_text(), "7/0:s:I(1) ", "NOSCRIPT cured by a new connection, not reported");
	rcl_free(&c);
	waitpid(pid, NULL, 0);
	ok(strstr(slurp("log"), "0 SCRIPT LOAD\n0 PING \n") == NULL &&
	   strstr(slurp("log"), "1 SCRIPT LOAD\n1 EVALSHA") != NULL,
	   "the script is loaded again on the new connection:\n%s", slurp("log"));
}

static void test_unreachable(void)
{
	struct rcl c;
	char err[300];

	ok(rcl_init(&c, "unix:///nonexistent/rtai.sock", done, NULL, err, sizeof(err)) == 0,
	   "init");
	queue_set(&c, "x", 0);
	is_int(rcl_flush(&c), -1, "flush fails without a server");
	ok(c.failed && strstr(c.err, "unix:///nonexistent/rtai.sock: connect: No such file") != NULL,
	   "the error names the URL: %s", c.err);
	is_int(rcl_sync(&c), -1, "and stays failed");
	rcl_free(&c);
	ok(rcl_init(&c, "http://x", done, NULL, err, sizeof(err)) == -1, "a bad URL: %s", err);
	rcl_free(NULL);
	ok(1, "rcl_free accepts NULL");
}

static void test_dry(void)
{
	struct rcl c;

	rcl_init_dry(&c);
	queue_set(&c, "a b", 0);
	is_str((buf_putc(&c.dry_text, '\0'), (const char *)c.dry_text.p), "SET \"a b\" v\n",
	       "dry mode prints the command as redis-cli shows it");
	is_int(rcl_pending(&c), 0, "and queues nothing");
	rcl_free(&c);
}

/* Key slots: CRC16 against the specification's test vector, and slots
 * against what Redis 7's CLUSTER KEYSLOT answered for the same keys (hash
 * tags, empty tags, braces unclosed, random keys). */
static void test_slots(void)
{
	static const struct {
		const char *key;
		int slot;
	} want[] = {
		{ "123456789", 12739 },
		{ "", 0 },
		{ "{user1000}.following", 3443 },
		{ "{user1000}.followers", 3443 },
		{ "foo{}{bar}", 8363 },
		{ "foo{{bar}}zap", 4015 },
		{ "foo{bar}{zap}", 5061 },
		{ "{", 4092 },
		{ "}", 12090 },
		{ "{}", 15257 },
		{ "a{b", 13340 },
		{ "a}b{c}", 7365 },
		{ "user:{u42}:clicks", 11448 },
		{ "features:user:u1:clicks_last_hour", 7250 },
		{ "44s0o2a0qp}o", 5295 },
		{ "s", 3828 },
		{ "vj-tbo-qbj", 14849 },
		{ "}b33-}sotxq0fw517l:s", 8563 },
		{ "csfa7xp5jttu33ek4a2", 5635 },
		{ "a4h3{f5bjozxc8cz", 399 },
		{ "u46eougf8hpaz}chdzj}", 10800 },
		{ "qpl_ap7phgjry0cz333qcdb", 5299 },
		{ "m1q6ygnh0}gsh31jzpiiz16", 928 },
		{ "zlx5l0n1", 14964 },
		{ "5", 9974 },
		{ ":shet5p84n", 8406 },
		{ "26i59f}gud3f5d6v8kg", 10537 },
		{ "xzszeom3na}aovz-{ndr}by", 6481 },
		{ "dj8on6}8}r6b{{6n4_4wi", 4180 },
		{ "3lgmbfxsgjcl{hown:1flf3", 15256 },
	};

	is_int(rcl_crc16("123456789", 9), 0x31C3, "CRC16 of 123456789 is 0x31C3 (the spec's vector)");
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		is_int(rcl_slot(want[i].key, strlen(want[i].key)), want[i].slot,
		       "slot of '%s' as CLUSTER KEYSLOT says", want[i].key);
}

int main(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(dir) == NULL || chdir(dir) < 0) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/s", dir);
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "%s: too long for a socket path\n", path);
		return 1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0) {
		perror("socket");
		return 1;
	}
	test_replies();
	test_resend();
	test_noscript();
	test_unreachable();
	test_dry();
	test_slots();
	close(lfd);
	unlink(path);
	unlink("log");
	rmdir(dir);
	buf_free(&got);
	return tap_done();
}
