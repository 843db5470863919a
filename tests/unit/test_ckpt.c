/* test_ckpt.c - unit tests of lib/ckpt: the round trip of a snapshot;
 * truncated, bit-flipped, foreign and other-version snapshots refused with
 * the file named; only complete checkpoints restored; pruning to the last
 * CKPT_KEEP; a second live stage with the same identity refused; a
 * directory of another pipeline refused; a stage that joined a run late or
 * was not in the checkpoint's pipeline refused; a failed write (file size
 * limit, as a full disk) leaves the last complete checkpoint usable. */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "barrier.h"
#include "buf.h"
#include "ckpt.h"
#include "frame.h"
#include "tap.h"

static char dir[256];
static char err[1024];

/* Opens a stage of tool "rtai-test" with the options in opts (spaces). */
static struct ckpt *open_stage(const char *opts, const char *name)
{
	char *copy = strdup(opts), *argv[16], *tok, *save = NULL;
	int argc = 1;
	struct ckpt *c = NULL;

	argv[0] = "./rtai-test";
	for (tok = strtok_r(copy, " ", &save); tok != NULL && argc < 15;
	     tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	err[0] = '\0';
	if (ckpt_open(&c, "rtai-test", dir, argc, argv, name, err, sizeof(err)) < 0)
		c = NULL;
	free(copy);
	return c;
}

/* open_stage, as the pipeline's source (ckpt_source): a checkpoint
 * completes only in a run where a source of the directory registered. */
static struct ckpt *open_source(const char *opts)
{
	struct ckpt *c = open_stage(opts, NULL);

	if (c != NULL && ckpt_source(c, err, sizeof(err)) < 0) {
		printf("# ckpt_source: %s\n", err);
		ckpt_close(c);
		c = NULL;
	}
	return c;
}

static char *snap_path(const struct ckpt *c, int64_t id)
{
	static char p[600];
	char hex[300];
	DIR *dp;
	struct dirent *e;

	(void)c;
	snprintf(hex, sizeof(hex), "%s/ckpt-%lld", dir, (long long)id);
	p[0] = '\0';
	dp = opendir(hex);
	while (dp != NULL && (e = readdir(dp)) != NULL)
		if (strstr(e->d_name, ".snap") != NULL && e->d_name[0] != '.')
			snprintf(p, sizeof(p), "%s/%s", hex, e->d_name);
	if (dp != NULL)
		closedir(dp);
	return p;
}

static void fresh_dir(const char *name)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (dir[0] != '\0' && system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	snprintf(dir, sizeof(dir), "%s/ckpt-%s-XXXXXX",
		 getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp", name);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
}

static int exists(const char *fmt, long long id)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), fmt, dir, id);
	return stat(p, &st) == 0;
}

static void patch(const char *path, long off, uint8_t xor_with, long truncate_to)
{
	int fd = open(path, O_RDWR);
	uint8_t b;

	if (fd < 0) {
		printf("# cannot open %s\n", path);
		return;
	}
	if (truncate_to >= 0) {
		if (ftruncate(fd, truncate_to) < 0)
			printf("# ftruncate failed\n");
	} else if (pread(fd, &b, 1, off) == 1) {
		b ^= xor_with;
		if (pwrite(fd, &b, 1, off) != 1)
			printf("# pwrite failed\n");
	}
	close(fd);
}

static void test_off(void)
{
	struct ckpt *c = (struct ckpt *)1;
	char *argv[] = {"x", NULL};
	int64_t id = 9;
	struct buf st = {0};

	unsetenv("RTAI_CHECKPOINT_DIR");
	is_int(ckpt_open(&c, "rtai-test", NULL, 1, argv, NULL, err, sizeof(err)), 0,
	       "no dir, no environment: off");
	ok(c == NULL, "off is a NULL handle");
	is_int(ckpt_restore(NULL, &id, &st, err, sizeof(err)), 0, "restore when off: fresh");
	is_int(id, 0, "no id when off");
	is_int(ckpt_write(NULL, 1, "x", 1, err, sizeof(err)), 0, "write when off: nothing");
	setenv("RTAI_CHECKPOINT_DIR", "", 1);
	is_int(ckpt_open(&c, "rtai-test", NULL, 1, argv, NULL, err, sizeof(err)), 0,
	       "empty environment: off");
	ok(c == NULL, "empty is off");
	fresh_dir("env");
	setenv("RTAI_CHECKPOINT_DIR", dir, 1);
	is_int(ckpt_open(&c, "rtai-test", NULL, 1, argv, NULL, err, sizeof(err)), 0,
	       "the environment names the directory");
	ok(c != NULL && strcmp(ckpt_dir(c), dir) == 0, "it is used");
	ckpt_close(c);
	unsetenv("RTAI_CHECKPOINT_DIR");
	buf_free(&st);
}

static void test_round_trip(void)
{
	struct ckpt *c;
	struct buf st = {0};
	int64_t id = -1;

	fresh_dir("rt");
	{
		char *argv[] = {"./x",	      "-k",
				"user",	      "--checkpoint-dir",
				"/elsewhere", "--checkpoint-interval=1s",
				"-w",	      "x y",
				"it's",	      "",
				NULL};

		c = NULL;
		ckpt_open(&c, "rtai-test", dir, 10, argv, NULL, err, sizeof(err));
		ok(c != NULL, "open: %s", err);
		is_str(c != NULL ? ckpt_identity(c) : NULL,
		       "rtai-test -k user -w 'x y' 'it'\\''s' ''",
		       "the identity: tool, options shell-quoted, no --checkpoint-*");
		ckpt_close(c);
	}
	c = open_source("-k user -w x");
	ok(c != NULL, "open: %s", err);
	is_int(ckpt_restore(c, &id, &st, err, sizeof(err)), 0, "an empty directory: fresh start");
	is_int(id, 0, "id 0 on a fresh start");
	is_int(ckpt_write(c, 1, "state one", 9, err, sizeof(err)), 1,
	       "the only stage's write completes checkpoint 1: %s", err);
	ok(ckpt_complete(c, 1), "checkpoint 1 is complete");
	ok(!ckpt_complete(c, 2), "checkpoint 2 is not");
	is_int(ckpt_write(c, 2, "", 0, err, sizeof(err)), 1, "an empty state is a state");
	ckpt_close(c);

	c = open_source("-k user --checkpoint-interval 5s -w x");
	ok(c != NULL, "reopen with another interval: the same stage: %s", err);
	is_int(ckpt_restore(c, &id, &st, err, sizeof(err)), 1, "restore: %s", err);
	is_int(id, 2, "the latest complete checkpoint");
	is_int(st.len, 0, "its empty state");
	ckpt_close(c);

	/* back to checkpoint 1: remove 2 */
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf %s/ckpt-2", dir);
		int rc = system(cmd);

		ok(rc == 0, "remove checkpoint 2");
	}
	c = open_source("-k user -w x");
	is_int(ckpt_restore(c, &id, &st, err, sizeof(err)), 1, "restore 1: %s", err);
	is_int(id, 1, "checkpoint 1");
	ok(st.len == 9 && memcmp(st.p, "state one", 9) == 0, "its state, byte for byte");
	ckpt_close(c);

	{
		int64_t lid = 0, mt = 0;

		is_int(ckpt_latest(dir, &lid, &mt), 1, "ckpt_latest finds one");
		is_int(lid, 1, "the latest complete is 1");
		ok(mt > 0, "with the time it completed");
	}
	buf_free(&st);
}

static void expect_refused(const char *what, const char *needle)
{
	struct ckpt *c = open_stage("-k user", NULL);
	struct buf st = {0};
	int64_t id = 7;
	const char *path = snap_path(c, 1);

	is_int(ckpt_restore(c, &id, &st, err, sizeof(err)), -1, "%s: refused", what);
	ok(strstr(err, path) != NULL && strstr(err, needle) != NULL,
	   "%s: the message names the file and says '%s': %s", what, needle, err);
	is_int(st.len, 0, "%s: no state handed out", what);
	is_int(id, 0, "%s: no id", what);
	ckpt_close(c);
	buf_free(&st);
}

static void write_one(const char *opts, const char *state)
{
	struct ckpt *c;

	fresh_dir("bad");
	c = open_source(opts);
	ckpt_write(c, 1, state, strlen(state), err, sizeof(err));
	ckpt_close(c);
}

static void test_refusals(void)
{
	const char *state = "some state of a window engine";

	write_one("-k user", state);
	patch(snap_path(NULL, 1), 0, 0, 60);
	expect_refused("truncated", "truncated");

	write_one("-k user", state);
	patch(snap_path(NULL, 1), 0, 0, 20);
	expect_refused("truncated in the header", "truncated");

	write_one("-k user", state);
	patch(snap_path(NULL, 1), 40 + (long)strlen("rtai-test -k user") + 3, 0x10, -1);
	expect_refused("bit-flipped state", "checksum");

	write_one("-k user", state);
	patch(snap_path(NULL, 1), 33, 0x01, -1);
	expect_refused("bit-flipped length", "announces");

	write_one("-k user", state);
	patch(snap_path(NULL, 1), 8, 0x02, -1);
	expect_refused("another format version", "format version 3");

	write_one("-k user", state);
	patch(snap_path(NULL, 1), 0, 0x20, -1);
	expect_refused("no magic", "not a checkpoint snapshot");

	/* A snapshot of stage "-k session" put where "-k user"'s goes. */
	{
		char other[512], mine[512], cmd[1200];
		struct ckpt *c;
		int rc;

		write_one("-k session", state);
		snprintf(other, sizeof(other), "%s", snap_path(NULL, 1));
		/* the same directory's source, now "-k user" */
		snprintf(cmd, sizeof(cmd), "rm %s/source", dir);
		ok(system(cmd) == 0, "the source of the directory removed");
		c = open_source("-k user");
		ckpt_write(c, 1, state, strlen(state), err, sizeof(err));
		ckpt_close(c);
		snprintf(mine, sizeof(mine), "%s", snap_path(NULL, 1));
		/* snap_path returns the last one listed: find ours by name */
		snprintf(cmd, sizeof(cmd),
			 "cd %s/ckpt-1 && for f in *.snap; do "
			 "grep -q -- '-k user' \"$f\" && u=$f; grep -q -- '-k session' \"$f\" && "
			 "s=$f; done; cp \"$s\" \"$u\" && echo \"$u\" > ../which",
			 dir);
		rc = system(cmd);
		ok(rc == 0, "copy the foreign snapshot over ours");
		{
			struct buf st = {0};
			int64_t id;

			c = open_stage("-k user", NULL);
			is_int(ckpt_restore(c, &id, &st, err, sizeof(err)), -1,
			       "a foreign stage's snapshot: refused");
			ok(strstr(err, "written by stage 'rtai-test -k session', not by this one "
				       "('rtai-test -k user')") != NULL &&
			       strstr(err, ".snap") != NULL,
			   "the message names both stages and the file: %s", err);
			ckpt_close(c);
			buf_free(&st);
		}
	}
}

static void test_completion(void)
{
	struct ckpt *a, *b;
	struct buf st = {0};
	int64_t id;

	fresh_dir("two");
	a = open_source("-a");
	b = open_stage("-b", NULL);
	ok(a != NULL && b != NULL, "two stages register: %s", err);
	is_int(ckpt_write(a, 1, "a1", 2, err, sizeof(err)), 0, "a writes 1: not complete yet");
	ok(!ckpt_complete(a, 1), "1 waits for b");
	is_int(ckpt_write(b, 1, "b1", 2, err, sizeof(err)), 1, "b writes 1: complete");
	is_int(ckpt_write(a, 2, "a2", 2, err, sizeof(err)), 0, "a writes 2");
	ckpt_close(b); /* b "dies" before writing 2 */
	is_int(ckpt_write(a, 3, "a3", 2, err, sizeof(err)), 0,
	       "a dead stage stays registered: 3 does not complete without it");
	ckpt_close(a);

	a = open_source("-a");
	b = open_stage("-b", NULL);
	is_int(ckpt_restore(a, &id, &st, err, sizeof(err)), 1, "restart: a restores");
	ok(id == 1 && st.len == 2 && memcmp(st.p, "a1", 2) == 0,
	   "the latest complete checkpoint (1), not 2 or 3");
	is_int(ckpt_restore(b, &id, &st, err, sizeof(err)), 1, "b restores");
	ok(id == 1 && st.len == 2 && memcmp(st.p, "b1", 2) == 0, "b's state of 1");
	/* The new run takes checkpoint 2 again: a's old snapshot of 2 (last run)
	 * must not count for b. */
	is_int(ckpt_write(b, 2, "B2", 2, err, sizeof(err)), 0,
	       "b writes 2: a's snapshot of 2 from the last run does not count");
	is_int(ckpt_write(a, 2, "A2", 2, err, sizeof(err)), 1, "a writes 2: complete");
	ckpt_close(a);
	ckpt_close(b);

	/* A stage that registers after a checkpoint of its run completed. */
	fresh_dir("late");
	a = open_source("-a");
	ckpt_write(a, 1, "a1", 2, err, sizeof(err));
	b = open_stage("-b", NULL);
	is_int(ckpt_restore(b, &id, &st, err, sizeof(err)), -1, "a late stage is refused");
	ok(strstr(err, "before this stage registered") != NULL && strstr(err, "ckpt-1/") != NULL,
	   "saying so: %s", err);
	ckpt_close(a);
	ckpt_close(b);

	/* A late stage whose snapshot of that checkpoint is left from an earlier
	 * run: stale, refused too. (b is in no complete checkpoint, so a may
	 * complete 2 without it: prev_stages_here.) */
	fresh_dir("stale");
	a = open_source("-a");
	ckpt_write(a, 1, "a1", 2, err, sizeof(err));
	ckpt_close(a);
	a = open_source("-a");
	b = open_stage("-b", NULL);
	ckpt_write(b, 2, "b2", 2, err, sizeof(err));
	ckpt_close(a);
	ckpt_close(b);
	a = open_source("-a");
	is_int(ckpt_write(a, 2, "A2", 2, err, sizeof(err)), 1,
	       "alone in the new run, a completes 2");
	b = open_stage("-b", NULL);
	is_int(ckpt_restore(b, &id, &st, err, sizeof(err)), -1,
	       "b's snapshot of 2 from the last run is not taken for this run's");
	ok(strstr(err, "left by an earlier run") != NULL, "saying so: %s", err);
	ckpt_close(a);
	ckpt_close(b);

	/* A rerun without a stage of the latest complete checkpoint: nothing
	 * completes, as pruning would remove the only copy of its state; the
	 * stage rerun then resumes from it. */
	fresh_dir("gone");
	a = open_source("-a");
	b = open_stage("-b", NULL);
	ckpt_write(a, 1, "a1", 2, err, sizeof(err));
	is_int(ckpt_write(b, 1, "b1", 2, err, sizeof(err)), 1, "a and b complete 1");
	ckpt_close(a);
	ckpt_close(b);
	a = open_source("-a");
	is_int(ckpt_write(a, 2, "a2", 2, err, sizeof(err)), -1,
	       "a rerun of a alone does not complete 2");
	ok(strstr(err, "not completed: checkpoint 1 holds the state of a stage that is not in this run (rtai-test -b)") != NULL,
	   "naming the stage: %s", err);
	is_int(ckpt_outcome(a, 2), -1, "2 is declined");
	b = open_stage("-b", NULL);
	is_int(ckpt_restore(b, &id, &st, err, sizeof(err)), 1, "b, rerun, restores");
	ok(id == 1 && st.len == 2 && memcmp(st.p, "b1", 2) == 0, "its state of 1");
	ckpt_close(a);
	ckpt_close(b);

	/* A stage that was not in the pipeline of the latest checkpoint. */
	fresh_dir("absent");
	a = open_source("-a");
	ckpt_write(a, 1, "a1", 2, err, sizeof(err));
	ckpt_close(a);
	a = open_source("-a");
	b = open_stage("-b", NULL);
	is_int(ckpt_restore(b, &id, &st, err, sizeof(err)), -1,
	       "a stage absent from the checkpoint is refused");
	ok(strstr(err, "taken by a pipeline without this stage") != NULL, "saying so: %s", err);
	ckpt_close(a);
	ckpt_close(b);

	/* A stage rerun with other options: refused, naming the snapshot of
	 * its tool that no stage of the run claimed (not the source's). */
	fresh_dir("changed");
	a = open_source("-a");
	b = open_stage("-b x", NULL);
	ckpt_write(a, 1, "a1", 2, err, sizeof(err));
	is_int(ckpt_write(b, 1, "b1", 2, err, sizeof(err)), 1, "a and b complete 1");
	ckpt_close(a);
	ckpt_close(b);
	a = open_source("-a");
	b = open_stage("-c x", NULL);
	is_int(ckpt_restore(b, &id, &st, err, sizeof(err)), -1, "b with other options is refused");
	ok(strstr(err, "holds no snapshot of this stage (rtai-test -c x), but of 'rtai-test -b x': "
		       "if that is this stage with other options, run it as written there") != NULL,
	   "naming the snapshot it would resume from: %s", err);
	ok(strstr(err, "rtai-test -a") == NULL, "not the source's, which is in the run: %s", err);
	ckpt_close(b);

	/* -v and --verbose are not part of the identity: b rerun with
	 * either resumes. */
	b = open_stage("-v -b --verbose x", NULL);
	is_int(ckpt_restore(b, &id, &st, err, sizeof(err)), 1, "b rerun with -v resumes: %s", err);
	ok(id == 1 && st.len == 2 && memcmp(st.p, "b1", 2) == 0, "from its state of 1");
	ckpt_close(a);
	ckpt_close(b);
	buf_free(&st);
}

/* A checkpoint completes only in a run where a source of the directory
 * registered: stages fed barriers from elsewhere (a replayed capture)
 * decline them. */
static void test_no_source(void)
{
	struct ckpt *a, *b, *s;

	fresh_dir("nosrc");
	a = open_stage("-a", NULL);
	b = open_stage("-b", NULL);
	ok(a != NULL && b != NULL, "two stages register, no source: %s", err);
	is_int(ckpt_write(a, 1, "a1", 2, err, sizeof(err)), -1, "a's write of 1 is declined");
	ok(strstr(err, "no source of") != NULL && strstr(err, "checkpoint 1 not taken") != NULL &&
	       strstr(err, dir) != NULL && strstr(err, "replayed") != NULL,
	   "saying why, naming the directory: %s", err);
	is_int(ckpt_write(b, 1, "b1", 2, err, sizeof(err)), -1, "so is b's");
	ok(!ckpt_complete(a, 1) && !exists("%s/ckpt-%lld/COMPLETE", 1),
	   "1 is not complete, though every stage of the run wrote it");
	is_int(ckpt_outcome(a, 1), -1, "ckpt_outcome: never");
	is_int(ckpt_settled(b, 1), -1, "ckpt_settled: declined");
	ckpt_close(a);
	ckpt_close(b);
	/* A source of an earlier run does not count for this one. */
	s = open_source("-s");
	ok(s != NULL, "a source registers: %s", err);
	is_int(ckpt_write(s, 2, "s2", 2, err, sizeof(err)), 1, "its run completes 2: %s", err);
	ckpt_close(s);
	a = open_stage("-a", NULL);
	is_int(ckpt_write(a, 3, "a3", 2, err, sizeof(err)), -1,
	       "the next run, with no source, declines 3");
	ckpt_close(a);
	/* A source and a stage: the stage's write completes it. */
	s = open_source("-s");
	a = open_stage("-a", NULL);
	is_int(ckpt_write(s, 4, "s4", 2, err, sizeof(err)), 0, "the source writes 4");
	is_int(ckpt_write(a, 4, "a4", 2, err, sizeof(err)), 1, "the stage completes it: %s", err);
	ckpt_close(a);
	ckpt_close(s);
}

/* ckpt_outcome: complete, still possible (a live stage has not written
 * it), or never (the stages that have not written it are dead). */
static void test_outcome(void)
{
	struct ckpt *a, *b;

	fresh_dir("outcome");
	a = open_source("-a");
	b = open_stage("-b", NULL);
	ok(a != NULL && b != NULL, "two stages register: %s", err);
	is_int(ckpt_write(a, 1, "a1", 2, err, sizeof(err)), 0, "a writes 1");
	is_int(ckpt_outcome(a, 1), 0, "1 may complete: b is alive and has not written it");
	is_int(ckpt_write(b, 1, "b1", 2, err, sizeof(err)), 1, "b writes 1: complete");
	is_int(ckpt_outcome(a, 1), 1, "1 is complete");
	is_int(ckpt_outcome(b, 1), 1, "for b too");
	is_int(ckpt_write(a, 2, "a2", 2, err, sizeof(err)), 0, "a writes 2");
	ckpt_close(b); /* b "dies" before writing 2 */
	is_int(ckpt_outcome(a, 2), -1, "b died without writing 2: 2 never completes");
	ok(!ckpt_complete(a, 2), "and it is not complete");
	is_int(ckpt_outcome(a, 0), -1, "an id below 1: never");
	is_int(ckpt_outcome(NULL, 1), -1, "checkpoints off: never");
	ckpt_close(a);
}

/* ckpt_write of 64 kB under a file size limit of 4 kB, as a full disk:
 * returns what it returns (err set). */
static int write_too_big(struct ckpt *c, int64_t id)
{
	static char big[1 << 16];
	struct rlimit old, lim;
	int rc;

	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 4096;
	setrlimit(RLIMIT_FSIZE, &lim);
	rc = ckpt_write(c, id, big, sizeof(big), err, sizeof(err));
	setrlimit(RLIMIT_FSIZE, &old);
	return rc;
}

/* A stage that cannot write its snapshot declines it: ckpt_settled and
 * ckpt_outcome say it never completes while that stage is alive, and
 * only for the run that declined it; ckpt_backoff spaces the next. */
static void test_declined(void)
{
	struct ckpt *a, *b;

	fresh_dir("declined");
	a = open_source("-a");
	b = open_stage("-b", NULL);
	ok(a != NULL && b != NULL, "two stages register: %s", err);
	is_int(ckpt_write(a, 1, "a1", 2, err, sizeof(err)), 0, "a writes 1");
	is_int(ckpt_settled(a, 1), 0, "1 is not settled: b has still to write it");
	is_int(write_too_big(b, 1), -1, "b cannot write 1 (the file size limit)");
	is_int(ckpt_settled(a, 1), -1, "1 is declined: settled, never complete");
	is_int(ckpt_outcome(a, 1), -1, "ckpt_outcome: never, with b alive");
	ok(!ckpt_complete(a, 1), "and it is not complete");
	is_int(ckpt_write(a, 2, "a2", 2, err, sizeof(err)), 0, "a writes 2");
	is_int(ckpt_settled(a, 2), 0, "2 is open again");
	is_int(ckpt_write(b, 2, "b2", 2, err, sizeof(err)), 1, "b writes 2: complete");
	is_int(ckpt_settled(a, 2), 1, "2 is settled: complete");
	is_int(ckpt_settled(a, 0), -1, "an id below 1: settled, never complete");
	is_int(ckpt_settled(NULL, 1), -1, "checkpoints off: the same");
	ckpt_close(a);
	ckpt_close(b);
	/* A rerun is another run: the marker of the last does not count. */
	a = open_source("-a");
	b = open_stage("-b", NULL);
	is_int(ckpt_write(a, 1, "a1", 2, err, sizeof(err)), 0, "the rerun's a writes 1");
	is_int(ckpt_settled(a, 1), 0, "the last run's declining does not settle it");
	ckpt_close(a);
	ckpt_close(b);

	is_int(ckpt_backoff(0, 100000000), 100000000, "backoff: the interval after the first");
	is_int(ckpt_backoff(100000000, 100000000), 200000000, "then twice the last");
	is_int(ckpt_backoff(0, 1000), 1000000, "at least 1 ms");
	is_int(ckpt_backoff(40000000000LL, 1000000), 60000000000LL, "at most 60 s");
	is_int(ckpt_backoff(0, 90000000000LL), 60000000000LL, "also for a longer interval");
}

static void test_prune(void)
{
	struct ckpt *c;
	int all = 1;

	fresh_dir("prune");
	c = open_source("-p");
	for (int i = 1; i <= 7; i++)
		all &= ckpt_write(c, i, "s", 1, err, sizeof(err)) == 1;
	ok(all, "7 checkpoints complete");
	ok(!exists("%s/ckpt-%lld", 1) && !exists("%s/ckpt-%lld", 4), "1 to 4 pruned");
	ok(exists("%s/ckpt-%lld/COMPLETE", 5) && exists("%s/ckpt-%lld/COMPLETE", 6) &&
	       exists("%s/ckpt-%lld/COMPLETE", 7),
	   "the last %d kept", CKPT_KEEP);
	ckpt_close(c);

	/* An incomplete newer one is kept beside them. */
	fresh_dir("prune2");
	{
		struct ckpt *a = open_source("-a"), *b = open_stage("-b", NULL);

		for (int i = 1; i <= 5; i++) {
			ckpt_write(a, i, "s", 1, err, sizeof(err));
			ckpt_write(b, i, "s", 1, err, sizeof(err));
		}
		ckpt_write(a, 6, "s", 1, err, sizeof(err));
		ok(exists("%s/ckpt-%lld", 6) && exists("%s/ckpt-%lld", 3) &&
		       !exists("%s/ckpt-%lld", 2),
		   "3, 4, 5 complete and 6 in progress kept");
		ckpt_close(a);
		ckpt_close(b);
	}
}

static void test_identity(void)
{
	struct ckpt *a, *b, *s;

	fresh_dir("dup");
	a = open_stage("-k u", NULL);
	b = open_stage("-k u", NULL);
	ok(a != NULL && b == NULL, "a second live stage with the same identity is refused");
	ok(strstr(err, "--stage-name") != NULL && strstr(err, "/stages/") != NULL,
	   "with a hint and the registration named: %s", err);
	b = open_stage("-k u", "second");
	ok(b != NULL, "--stage-name tells them apart: %s", err);
	s = open_stage("-k u", "second");
	ok(s == NULL, "the same name twice is refused too");
	ckpt_close(a);
	a = open_stage("-k u", NULL);
	ok(a != NULL, "once the first has exited, its identity is free: %s", err);
	ckpt_close(a);
	ckpt_close(b);

	fresh_dir("src");
	s = open_stage("in.rtai", NULL);
	is_int(ckpt_source(s, err, sizeof(err)), 0, "the first source records itself: %s", err);
	is_int(ckpt_source(s, err, sizeof(err)), 0, "the same source again: fine");
	ckpt_close(s);
	s = open_stage("other.rtai", NULL);
	is_int(ckpt_source(s, err, sizeof(err)), -1, "a pipeline with another source: refused");
	ok(strstr(err, "used by another pipeline") != NULL && strstr(err, "in.rtai") != NULL &&
	       strstr(err, dir) != NULL,
	   "naming the directory and its source: %s", err);
	ckpt_close(s);
	is_int(ckpt_source(NULL, err, sizeof(err)), 0, "no checkpoints: nothing to check");
}

static void test_write_fails(void)
{
	struct ckpt *c;
	struct buf st = {0};
	int64_t id;

	fresh_dir("full");
	c = open_source("-f");
	ckpt_write(c, 1, "good", 4, err, sizeof(err));
	is_int(write_too_big(c, 2), -1,
	       "a write that cannot finish (the file size limit, as a full disk) fails");
	ok(strstr(err, "ckpt-2/") != NULL && strstr(err, "the last complete one stays") != NULL,
	   "loudly: %s", err);
	ok(!ckpt_complete(c, 2), "2 is not complete");
	ckpt_close(c);
	c = open_source("-f");
	is_int(ckpt_restore(c, &id, &st, err, sizeof(err)), 1, "the previous one restores");
	ok(id == 1 && st.len == 4 && memcmp(st.p, "good", 4) == 0, "checkpoint 1, intact");
	ckpt_close(c);
	buf_free(&st);

	{
		char bad[600];
		char *argv[] = {"x", NULL};

		snprintf(bad, sizeof(bad), "%s/a-file", dir);
		fclose(fopen(bad, "w"));
		strcat(bad, "/sub");
		is_int(ckpt_open(&c, "rtai-test", bad, 1, argv, NULL, err, sizeof(err)), -1,
		       "a directory that cannot be made: error");
		ok(strstr(err, bad) != NULL, "naming it: %s", err);
	}
}

/* ckpt_write_bg's save callback: serializes a string. */
static void save_str(struct buf *b, void *arg)
{
	buf_append(b, arg, strlen(arg));
}

/* ckpt_write_bg: what is written is the state at the call (the stage's
 * later changes do not reach it); ckpt_wait reports the outcome; a
 * failed background write is reported by the next ckpt_wait, and the
 * last complete checkpoint stays. */
static void test_background(void)
{
	struct ckpt *c;
	struct buf st = {0};
	static char state[32];
	int64_t id;
	static char big[1 << 16];
	struct rlimit old, lim;
	int rc;

	fresh_dir("bg");
	c = open_source("-b");
	strcpy(state, "at the barrier");
	is_int(ckpt_write_bg(c, 1, save_str, state, err, sizeof(err)), 0, "a background write starts");
	strcpy(state, "after it");	/* the stage goes on; the snapshot is taken already */
	is_int(ckpt_wait(c, err, sizeof(err)), 0, "and is written: %s", err);
	ok(ckpt_complete(c, 1), "checkpoint 1 complete once written");
	is_int(ckpt_wait(c, err, sizeof(err)), 0, "waiting with none in flight: 0");
	ckpt_close(c);
	c = open_source("-b");
	is_int(ckpt_restore(c, &id, &st, err, sizeof(err)), 1, "restore: %s", err);
	ok(id == 1 && st.len == strlen("at the barrier") &&
	   memcmp(st.p, "at the barrier", st.len) == 0,
	   "the state as it was when ckpt_write_bg was called");
	is_int(ckpt_write_bg(c, 2, save_str, "two", err, sizeof(err)), 0, "a second one");
	is_int(ckpt_write_bg(c, 3, save_str, "three", err, sizeof(err)), 0,
	       "a third waits for the second first");
	ckpt_close(c);	/* waits for the third */
	c = open_source("-b");
	is_int(ckpt_restore(c, &id, &st, err, sizeof(err)), 1, "restore: %s", err);
	ok(id == 3 && st.len == 5 && memcmp(st.p, "three", 5) == 0,
	   "the third, in place when ckpt_close returned");
	ok(ckpt_complete(c, 2), "and the second");

	/* A write that fails in the writer thread: reported by ckpt_wait. */
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 4096;
	setrlimit(RLIMIT_FSIZE, &lim);
	memset(big, 'x', sizeof(big) - 1);
	is_int(ckpt_write_bg(c, 4, save_str, big, err, sizeof(err)), 0, "a write bound to fail starts");
	rc = ckpt_wait(c, err, sizeof(err));
	setrlimit(RLIMIT_FSIZE, &old);
	is_int(rc, -1, "ckpt_wait reports the failure");
	ok(strstr(err, "checkpoint 4") != NULL && strstr(err, "ckpt-4/") != NULL,
	   "naming the checkpoint and the file: %s", err);
	ok(!ckpt_complete(c, 4), "4 not complete");
	is_int(ckpt_write_bg(c, 5, save_str, "five", err, sizeof(err)), 0, "the next one starts");
	is_int(ckpt_wait(c, err, sizeof(err)), 0, "and is written");
	ckpt_close(c);

	buf_free(&st);
}

/* Polls ckpt_settled(c, id) every millisecond for up to 10 s while it is
 * 0 (the writer thread still at it); returns its last answer. */
static int settled_within(const struct ckpt *c, int64_t id)
{
	int st = 0;

	for (int i = 0; i < 10000 && (st = ckpt_settled(c, id)) == 0; i++)
		usleep(1000);
	return st;
}

/* barrier_take, a source's checkpoint: the barrier is written at once and
 * the snapshot (a copy of the caller's bytes) in the background; a
 * snapshot that cannot be written declines its checkpoint, known to
 * ckpt_settled even when the directory refuses the marker too, and the
 * next barrier_take says so (1) and still sends its barrier. */
static void test_source_barrier(void)
{
	struct ckpt *c;
	struct frame_wr w;
	struct frame_rd r;
	struct frame f;
	struct buf st = {0};
	char pos[32], path[600];
	int64_t id;
	int n = 0;

	fresh_dir("src");
	c = open_source("-s");
	snprintf(path, sizeof(path), "%s/out.rtai", dir);
	wr_open_path(&w, path, 0, 0);
	strcpy(pos, "[1]");
	is_int(barrier_take(c, &w, 1, 0, pos, 3, pos, 3), 0, "a barrier is taken");
	strcpy(pos, "[9]");	/* the source goes on: its snapshot was copied */
	is_int(barrier_wait(c), 0, "its snapshot is written");
	ok(ckpt_complete(c, 1), "checkpoint 1 complete (the only stage)");
	/* Checkpoint 2's directory taken by a file: neither the snapshot nor
	 * the marker of its refusal can be made there. */
	snprintf(path, sizeof(path), "%s/ckpt-2", dir);
	fclose(fopen(path, "w"));
	is_int(barrier_take(c, &w, 2, 0, "[2]", 3, "[2]", 3), 0,
	       "the next barrier goes out before its snapshot fails");
	is_int(settled_within(c, 2), -1, "the source's own refusal settles checkpoint 2");
	is_int(barrier_take(c, &w, 3, 1, "[3]", 3, "[3]", 3), 1,
	       "the savepoint after it says so (1) and is sent");
	is_int(barrier_wait(c), 0, "and written");
	ok(ckpt_complete(c, 3), "savepoint 3 complete");
	wr_close(&w);
	ckpt_close(c);
	c = open_source("-s");
	is_int(ckpt_restore(c, &id, &st, err, sizeof(err)), 1, "restore: %s", err);
	ok(id == 3 && st.len == 3 && memcmp(st.p, "[3]", 3) == 0, "the savepoint's positions");
	ckpt_close(c);
	buf_free(&st);
	snprintf(path, sizeof(path), "%s/out.rtai", dir);
	if (rd_open(&r, path) == 0) {
		while (rd_frame(&r, &f) == 1)
			n += f.kind == RTAI_K_BARRIER;
		rd_close(&r);
	}
	is_int(n, 3, "three barriers in the stream, the one whose snapshot failed too");
}

/* ckpt_list and ckpt_prune: two stages, checkpoints 1..5 complete, 6
 * written by one of them only; checkpoint 2 made incomplete by hand. */
static void test_list_prune(void)
{
	struct ckpt *a, *b;
	struct ckpt_info *v = NULL;
	int64_t *gone = NULL;
	size_t n = 0;
	char p[600];

	fresh_dir("ops");
	is_int(ckpt_list(dir, &v, &n, err, sizeof(err)), -1, "not yet a checkpoint directory");
	ok(strstr(err, "not a checkpoint directory") != NULL, "said so: %s", err);
	snprintf(p, sizeof(p), "%s/nosuch", dir);
	is_int(ckpt_prune(p, 1, 0, NULL, err, sizeof(err)), -1, "prune of a missing directory");
	ok(strstr(err, "No such file") != NULL, "said so: %s", err);

	a = open_source("-a");
	b = open_stage("-b", NULL);
	ok(a != NULL && b != NULL, "two stages: %s", err);
	is_int(ckpt_list(dir, &v, &n, err, sizeof(err)), 0, "an empty directory lists");
	ok(n == 0 && v == NULL, "nothing");
	for (int64_t id = 1; id <= 5; id++) {
		ckpt_write(a, id, "aaaa", 4, err, sizeof(err));
		ckpt_write(b, id, "bb", 2, err, sizeof(err));
	}
	ckpt_write(a, 6, "aaaa", 4, err, sizeof(err));
	is_int(ckpt_list(dir, &v, &n, err, sizeof(err)), 0, "list: %s", err);
	/* the stages' own pruning kept 3..5 complete, and 6 */
	is_int(n, 4, "four checkpoints");
	if (n == 4) {
		is_int(v[0].id, 3, "oldest first");
		ok(v[0].complete && v[2].complete && !v[3].complete, "3..5 complete, 6 not");
		is_int(v[0].nsnaps, 2, "two snapshots in 3");
		is_int(v[3].nsnaps, 1, "one in 6");
		/* 40-byte header, identity, state, CRC; COMPLETE holds "run 1\n" */
		is_int(v[0].bytes, (40 + 12 + 4 + 4) + (40 + 12 + 2 + 4) + 6, "bytes of 3");
		ok(strcmp(v[0].snaps[0].identity, "rtai-test -a") == 0 ||
		       strcmp(v[0].snaps[1].identity, "rtai-test -a") == 0,
		   "the identities from the headers");
		ok(strcmp(v[0].snaps[0].key, v[0].snaps[1].key) < 0, "sorted by key");
		ok(v[0].mtime_ns > 0, "a time");
	}
	ckpt_list_free(v, n);

	is_int(ckpt_prune(dir, 1, 0, &gone, err, sizeof(err)), -2, "live stages: refused");
	ok(strstr(err, "a stage is running: rtai-test -") != NULL, "named: %s", err);
	free(gone);
	ckpt_close(a);
	ckpt_close(b);
	snprintf(p, sizeof(p), "%s/ckpt-4/COMPLETE", dir);
	unlink(p);
	is_int(ckpt_prune(dir, 0, 0, NULL, err, sizeof(err)), -1, "keep 0: refused");
	is_int(ckpt_prune(dir, 1, 0, &gone, err, sizeof(err)), 2, "prune --keep 1: %s", err);
	ok(gone != NULL && gone[0] == 4 && gone[1] == 3, "removed the incomplete 4, then 3");
	free(gone);
	gone = NULL;
	ok(!exists("%s/ckpt-%lld", 3), "3 is gone");
	ok(exists("%s/ckpt-%lld", 5) && exists("%s/ckpt-%lld", 6), "5 and the newer 6 stay");
}

int main(void)
{
	test_off();
	test_round_trip();
	test_refusals();
	test_completion();
	test_no_source();
	test_outcome();
	test_declined();
	test_prune();
	test_identity();
	test_write_fails();
	test_background();
	test_source_barrier();
	test_list_prune();
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	}
	return tap_done();
}
