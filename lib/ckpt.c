/* ckpt.c - checkpoints: registration, durable snapshots, completion,
 * restore and pruning (the rules are in ckpt.h). */
#include "ckpt.h"
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "cli.h"
#include "frame.h"
#include "outfile.h"
#include "rtime.h"
#include "sha1.h"
#include "snap.h"

#define HDR_LEN 40 /* magic, version, identity length, id, run, state length */
#define CRC_LEN 4

struct ckpt {
	char *dir;	/* DIR as given */
	char *tool;	/* "rtai-window" */
	char *identity; /* tool and options, shell-quoted */
	char key[64];	/* file name in DIR/stages/ and of the snapshots */
	char dirid[48];	/* DIR's "DEV:INODE" (ckpt_dir_id) */
	int regfd;	/* DIR/stages/KEY, flock'ed while we live */
	int64_t run;	/* the run we registered in */
	/* ckpt_write_bg's writer thread: while bg_live, it owns bg_buf,
	 * bg_id, bg_rc and bg_err (the stage touches them only after
	 * joining it in ckpt_wait) */
	pthread_t bg_thread;
	int bg_live;
	struct buf bg_buf;	/* the state being written */
	struct buf bg_seals;	/* its images' checksums, left to the thread
				 * (snap_defer_begin) */
	int64_t bg_id;		/* its checkpoint */
	int bg_rc;		/* ckpt_write's return */
	char bg_err[512];	/* and its message */
	int64_t bg_save_ns;	/* the serialization's time (ns) */
	void (*bg_fill)(struct buf *b, void *arg);	/* ckpt_write_async's */
	void *bg_arg;
	int64_t bg_fill_ns;	/* bg_fill's time in the thread (ns) */
	int64_t bg_ns;		/* ckpt_write's time in the thread (ns) */
	int64_t declined;	/* atomic: the last checkpoint this stage declined,
				 * known here even when its marker could not be
				 * made (ckpt_settled, from the writer thread) */
	int verbose;	/* ckpt_verbose: report each snapshot's size and time */
	int stranger;	/* refused as not of the pipeline running in DIR
			 * (another pipeline's source, or a stage that joined
			 * its run late): leave() removes the registration */
	int source;	/* registered as DIR's source (ckpt_source) */
};

/* ---- small helpers ------------------------------------------------------ */

static char *path_of(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *path_of(const char *fmt, ...)
{
	struct buf b = {0};
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	buf_reserve(&b, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf((char *)b.p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return (char *)b.p;
}

/* CRC-32 as ISO 3309 / zlib / PNG define it (reflected, 0xEDB88320):
 * zlib's crc32_z (zlib 1.2.9 and later), which checksums several bytes
 * a step with its braided tables and runs 2 to 3 times faster than a
 * plain slicing-by-8 loop: every snapshot is checksummed whole, tens
 * of MB for a large window state, in the writer thread of
 * ckpt_write_bg. Takes the running crc (0 to start), n bytes at p;
 * returns the crc of everything so far. */
static uint32_t crc32_update(uint32_t crc, const void *p, size_t n)
{
	return (uint32_t)crc32_z(crc, p, n);
}

/* The fixed header of a snapshot file after its magic (ckpt.h has the
 * layout), little-endian as lib/snap writes and reads it. */
struct hdr {
	uint32_t format;	/* CKPT_FORMAT */
	uint32_t ilen;		/* bytes of the stage identity after the header */
	int64_t id;		/* the checkpoint */
	int64_t run;		/* the run that wrote it */
	uint64_t slen;		/* bytes of state after the identity */
};

/* Decodes the HDR_LEN bytes at p (their magic checked by the caller). */
static void hdr_decode(const uint8_t *p, struct hdr *h)
{
	struct snap_rd r;

	snap_rd_init(&r, p + 8, HDR_LEN - 8);
	h->format = snap_get_u32(&r);
	h->ilen = snap_get_u32(&r);
	h->id = snap_get_i64(&r);
	h->run = snap_get_i64(&r);
	h->slen = snap_get_u64(&r);
}

/* The run in the header at p (HDR_LEN bytes). */
static int64_t hdr_run(const uint8_t *p)
{
	struct hdr h;

	hdr_decode(p, &h);
	return h.run;
}

/* The u32 at p (little-endian): the checksum after the state. */
static uint32_t crc_at(const uint8_t *p)
{
	struct snap_rd r;

	snap_rd_init(&r, p, CRC_LEN);
	return snap_get_u32(&r);
}

/* Reads the whole file path into b (reset first). Returns 0, or -1 with errno. */
static int read_file(const char *path, struct buf *b)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	buf_reset(b);
	if (fd < 0)
		return -1;
	for (;;) {
		ssize_t r = read(fd, buf_reserve(b, 65536), 65536);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			close(fd);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		b->len += (size_t)r;
	}
	close(fd);
	return 0;
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* Writes the bytes p1[0..n1), p2[0..n2), p3[0..n3) (NULL/0 to leave out)
 * to a new mkstemp(3) file in dir, named after name, and fsyncs it.
 * Returns its path (the caller frees it, after install_temp or unlink),
 * or NULL with errno set and nothing left behind. */
static char *write_temp(const char *dir, const char *name, const void *p1, size_t n1,
			const void *p2, size_t n2, const void *p3, size_t n3)
{
	char *tmp = path_of("%s/.%s.XXXXXX", dir, name);
	int fd = mkstemp(tmp), e;

	if (fd < 0)
		goto fail;
	if (outfile_write_all(fd, p1, n1) < 0 || outfile_write_all(fd, p2, n2) < 0 ||
	    outfile_write_all(fd, p3, n3) < 0 || fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		e = errno;
		close(fd);
		unlink(tmp);
		errno = e;
		goto fail;
	}
	if (close(fd) < 0) {
		e = errno;
		unlink(tmp);
		errno = e;
		goto fail;
	}
	return tmp;
fail:
	e = errno;
	free(tmp);
	errno = e;
	return NULL;
}

/* Renames the file tmp (from write_temp; freed here) to dir/name and
 * fsyncs dir. Returns 0, or -1 with errno set and tmp removed. */
static int install_temp(char *tmp, const char *dir, const char *name)
{
	char *dst = path_of("%s/%s", dir, name);
	int rc = -1, e;

	if (rename(tmp, dst) < 0) {
		e = errno;
		unlink(tmp);
		errno = e;
	} else {
		rc = fsync_path(dir);
	}
	e = errno;
	free(tmp);
	free(dst);
	errno = e;
	return rc;
}

/* Writes the file dir/name durably and atomically: write_temp, then
 * install_temp. Returns 0, or -1 with errno set and nothing left behind. */
static int write_durable(const char *dir, const char *name, const void *p1, size_t n1,
			 const void *p2, size_t n2, const void *p3, size_t n3)
{
	char *tmp = write_temp(dir, name, p1, n1, p2, n2, p3, n3);

	return tmp == NULL ? -1 : install_temp(tmp, dir, name);
}

/* Takes DIR/lock; returns its descriptor (closing it releases the lock). */
static int lock_dir(const char *dir, char *err, size_t errlen)
{
	char *p = path_of("%s/lock", dir);
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);

	if (fd < 0)
		snprintf(err, errlen, "%s: %s", p, strerror(errno));
	else
		while (flock(fd, LOCK_EX) < 0) {
			if (errno != EINTR) {
				snprintf(err, errlen, "%s: flock: %s", p, strerror(errno));
				close(fd);
				fd = -1;
				break;
			}
		}
	free(p);
	return fd;
}

/* The number in "run R" at the start of the file path, or 0. */
static int64_t read_run(const char *path)
{
	struct buf b = {0};
	long long r = 0;

	if (read_file(path, &b) == 0) {
		buf_putc(&b, 0);
		if (sscanf((const char *)b.p, "run %lld", &r) != 1)
			r = 0;
	}
	buf_free(&b);
	return r;
}

/* "ckpt-N" -> N, or -1. */
static int64_t ckpt_name_id(const char *name)
{
	long long id;
	const char *why;

	if (strncmp(name, "ckpt-", 5) != 0 || cli_parse_int(name + 5, 1, INT64_MAX, &id, &why) < 0)
		return -1;
	return id;
}

static int is_complete(const char *dir, int64_t id)
{
	char *p = path_of("%s/ckpt-%lld/COMPLETE", dir, (long long)id);
	struct stat st;
	int rc = stat(p, &st) == 0;

	free(p);
	return rc;
}

/* A stage that could not write its snapshot of checkpoint id says so in
 * DIR/ckpt-N/KEY.declined.RUN, an empty file (its creation needs no data
 * block, so a full disk that refused the snapshot still takes it as a
 * rule), so that the stages and sources waiting for id stop waiting:
 * Flink's declineCheckpoint, which aborts the checkpoint. The run in the
 * name keeps an earlier run's marker from counting. Best effort: with no
 * marker the others wait as before. */
static void decline(struct ckpt *c, int64_t id)
{
	char *p = path_of("%s/ckpt-%lld/%s.declined.%lld", c->dir, (long long)id, c->key,
			  (long long)c->run);
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);

	if (fd >= 0)
		close(fd);
	free(p);
	__atomic_store_n(&c->declined, id, __ATOMIC_RELEASE);
}

/* Whether a stage of c's run declined checkpoint id (decline): c's own
 * stage, or another's marker. */
static int is_declined(const struct ckpt *c, int64_t id)
{
	char *d = path_of("%s/ckpt-%lld", c->dir, (long long)id), suffix[32];
	DIR *dp = opendir(d);
	struct dirent *e;
	size_t ns;
	int rc = __atomic_load_n(&c->declined, __ATOMIC_ACQUIRE) == id;

	snprintf(suffix, sizeof(suffix), ".declined.%lld", (long long)c->run);
	ns = strlen(suffix);
	while (dp != NULL && !rc && (e = readdir(dp)) != NULL) {
		size_t n = strlen(e->d_name);

		rc = e->d_name[0] != '.' && n > ns && strcmp(e->d_name + n - ns, suffix) == 0;
	}
	if (dp != NULL)
		closedir(dp);
	free(d);
	return rc;
}

/* Removes DIR/ckpt-N and what it holds. Returns 0, or -1 with errno
 * (of the first failure) when something stays. */
static int remove_ckpt(const char *dir, int64_t id)
{
	char *d = path_of("%s/ckpt-%lld", dir, (long long)id);
	DIR *dp = opendir(d);
	struct dirent *e;
	int rc = 0, first = 0;

	if (dp != NULL) {
		while ((e = readdir(dp)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			if (unlinkat(dirfd(dp), e->d_name, 0) < 0 && first == 0)
				first = errno;
		}
		closedir(dp);
	}
	if (rmdir(d) < 0) {
		rc = -1;
		if (first == 0)
			first = errno;
	}
	free(d);
	errno = first;
	return rc;
}

static int cmp_desc(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* The ids of DIR's checkpoints, complete ones only when complete_only,
 * sorted newest first, in *ids (freed by the caller). Returns the count. */
static size_t list_ckpts(const char *dir, int complete_only, int64_t **ids)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	size_t n = 0, cap = 0;

	*ids = NULL;
	if (dp == NULL)
		return 0;
	while ((e = readdir(dp)) != NULL) {
		int64_t id = ckpt_name_id(e->d_name);

		if (id < 0 || (complete_only && !is_complete(dir, id)))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			*ids = xrealloc(*ids, cap * sizeof(**ids));
		}
		(*ids)[n++] = id;
	}
	closedir(dp);
	if (n > 0)
		qsort(*ids, n, sizeof(**ids), cmp_desc);
	return n;
}

/* Keeps the newest CKPT_KEEP complete checkpoints and what is newer than
 * the oldest of them; removes the rest. */
static void prune(const char *dir)
{
	int64_t *done, *all;
	size_t nd = list_ckpts(dir, 1, &done), na;

	if (nd > CKPT_KEEP) {
		na = list_ckpts(dir, 0, &all);
		for (size_t i = 0; i < na; i++)
			if (all[i] < done[CKPT_KEEP - 1])
				remove_ckpt(dir, all[i]);
		free(all);
	}
	free(done);
}

/* Appends s to b as a shell word: as is when it is made of safe bytes only,
 * else in single quotes (a ' as '\''). */
static void put_word(struct buf *b, const char *s)
{
	const char *safe =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=@%+,-";

	if (*s != '\0' && strspn(s, safe) == strlen(s)) {
		buf_puts(b, s);
		return;
	}
	buf_putc(b, '\'');
	for (; *s != '\0'; s++)
		if (*s == '\'')
			buf_puts(b, "'\\''");
		else
			buf_putc(b, (uint8_t)*s);
	buf_putc(b, '\'');
}

/* ---- opening: identity and registration ----------------------------- */

/* The stage identity (ckpt.h, ckpt_open): tool, then the arguments
 * shell-quoted, minus the --checkpoint-* options and -v / --verbose, which
 * every stage that checkpoints takes as "a summary on stderr": a rerun
 * with -v added to look at a stage resumes it rather than being refused. */
static char *make_identity(const char *tool, int argc, char **argv)
{
	struct buf b = {0};

	buf_puts(&b, tool);
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--checkpoint-", 13) == 0) {
			if (strchr(argv[i], '=') == NULL)
				i++; /* its argument */
			continue;
		}
		if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
			continue;
		if (strcmp(argv[i], "--") == 0) {
			for (; i < argc; i++) {
				buf_putc(&b, ' ');
				put_word(&b, argv[i]);
			}
			break;
		}
		buf_putc(&b, ' ');
		put_word(&b, argv[i]);
	}
	buf_putc(&b, 0);
	return (char *)b.p;
}

/* Calls fn for each registration of DIR/stages/ (dot files skipped) with
 * the directory's fd, the registration's name and an fd open on it for
 * reading (closed after the call), until fn returns nonzero; returns that
 * value, or 0. A registration that cannot be opened is skipped. */
static int each_stage(const char *dir, int (*fn)(int dfd, const char *name, int fd, void *arg),
		      void *arg)
{
	char *d = path_of("%s/stages", dir);
	DIR *dp = opendir(d);
	struct dirent *e;
	int rc = 0;

	while (rc == 0 && dp != NULL && (e = readdir(dp)) != NULL) {
		int fd;

		if (e->d_name[0] == '.')
			continue;
		fd = openat(dirfd(dp), e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		rc = fn(dirfd(dp), e->d_name, fd, arg);
		close(fd);
	}
	if (dp != NULL)
		closedir(dp);
	free(d);
	return rc;
}

struct scan {
	const char *mine;	/* our registration's name, passed over */
	int live;		/* set when another is flock'ed */
	int remove;		/* remove those that are not */
};

static int scan_one(int dfd, const char *name, int fd, void *arg)
{
	struct scan *sc = arg;

	if (strcmp(name, sc->mine) == 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		sc->live = 1;
	else if (sc->remove)
		unlinkat(dfd, name, 0);
	return 0;
}

/* Scans DIR/stages/ for registrations other than ours: sets *live when one
 * is flock'ed by a running stage; with remove set, removes the others. */
static void scan_stages(const char *dir, const char *mine, int *live, int remove)
{
	struct scan sc = { mine, 0, remove };

	(void)each_stage(dir, scan_one, &sc);
	*live = sc.live;
}

/* Writes c's registration, DIR/stages/KEY: "run R\nIDENTITY\n", or for
 * the pipeline's source "run R source\nIDENTITY\n" (the identity may
 * hold a newline in quotes; the first line does not). Returns 0, or -1
 * with a message. */
static int write_registration(struct ckpt *c, char *err, size_t errlen)
{
	struct buf b = {0};
	int rc = 0;

	buf_printf(&b, "run %lld%s\n%s\n", (long long)c->run, c->source ? " source" : "",
		   c->identity);
	if (ftruncate(c->regfd, 0) < 0 || pwrite(c->regfd, b.p, b.len, 0) != (ssize_t)b.len) {
		snprintf(err, errlen, "%s/stages/%s: %s", c->dir, c->key, strerror(errno));
		rc = -1;
	}
	buf_free(&b);
	return rc;
}

/* each_stage: 1 when the registration's first line is arg's ("run R
 * source"), which ends the walk. */
static int is_source_of(int dfd, const char *name, int fd, void *arg)
{
	const char *want = arg;
	size_t wn = strlen(want);
	char line[64];
	ssize_t n = pread(fd, line, sizeof(line) - 1, 0);

	(void)dfd;
	(void)name;
	if (n <= 0)
		return 0;
	line[n] = '\0';
	return strncmp(line, want, wn) == 0 && line[wn] == '\n';
}

/* Whether a source (ckpt_source) registered in c's run: a registration's
 * first line is "run R source". Called under DIR/lock, which every
 * rewrite of a registration holds too. */
static int source_in_run(const struct ckpt *c)
{
	char want[48];

	if (c->source)
		return 1;
	snprintf(want, sizeof(want), "run %lld source", (long long)c->run);
	return each_stage(c->dir, is_source_of, want);
}

/* Registers c in DIR/stages/ (c->regfd open): joins the current run, or
 * starts the next one when no other stage is live. Called under DIR/lock. */
static int do_register(struct ckpt *c, char *err, size_t errlen)
{
	char *runp = path_of("%s/run", c->dir);
	struct buf b = {0};
	int live, rc = -1;

	scan_stages(c->dir, c->key, &live, 0);
	c->run = read_run(runp);
	if (!live) {
		scan_stages(c->dir, c->key, &live, 1); /* the last run's, not running */
		c->run++;
		buf_printf(&b, "run %lld\n", (long long)c->run);
		if (write_durable(c->dir, "run", b.p, b.len, NULL, 0, NULL, 0) < 0) {
			snprintf(err, errlen, "%s: %s", runp, strerror(errno));
			goto out;
		}
	}
	if (write_registration(c, err, errlen) < 0)
		goto out;
	rc = 0;
out:
	buf_free(&b);
	free(runp);
	return rc;
}

int ckpt_open(struct ckpt **out, const char *tool, const char *dir, int argc, char **argv,
	      const char *stage_name, char *err, size_t errlen)
{
	struct ckpt *c;
	char hex[41], *reg = NULL;
	int lockfd = -1;

	*out = NULL;
	if (dir != NULL && *dir == '\0') {
		/* given, but empty (--checkpoint-dir= or ''): not "off" */
		snprintf(err, errlen, "--checkpoint-dir: the directory name is empty");
		return -1;
	}
	if (dir == NULL)
		dir = getenv("RTAI_CHECKPOINT_DIR");
	if (dir == NULL || *dir == '\0')
		return 0;
	c = xcalloc(1, sizeof(*c));
	c->regfd = -1;
	c->dir = xstrdup(dir);
	c->tool = xstrdup(tool);
	c->identity = make_identity(tool, argc, argv);
	if (stage_name != NULL) {
		char *k = path_of("%s\n%s", tool, stage_name);

		sha1_hex(k, strlen(k), hex);
		free(k);
	} else {
		sha1_hex(c->identity, strlen(c->identity), hex);
	}
	snprintf(c->key, sizeof(c->key), "%.40s-%.16s", tool, hex);

	if (mkdir(c->dir, 0777) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: mkdir: %s", c->dir, strerror(errno));
		goto fail;
	}
	{
		struct stat st;

		if (stat(c->dir, &st) < 0) {
			snprintf(err, errlen, "%s: %s", c->dir, strerror(errno));
			goto fail;
		}
		snprintf(c->dirid, sizeof(c->dirid), "%llx:%llx", (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino);
	}
	reg = path_of("%s/stages", c->dir);
	if (mkdir(reg, 0777) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: mkdir: %s", reg, strerror(errno));
		goto fail;
	}
	free(reg);
	reg = NULL;
	if ((lockfd = lock_dir(c->dir, err, errlen)) < 0)
		goto fail;
	reg = path_of("%s/stages/%s", c->dir, c->key);
	c->regfd = open(reg, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (c->regfd < 0) {
		snprintf(err, errlen, "%s: %s", reg, strerror(errno));
		goto fail;
	}
	if (flock(c->regfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			snprintf(err, errlen,
				 "%s: a running stage is registered as this one (%s), in this "
				 "pipeline or another: give each of two like stages its own "
				 "--stage-name NAME, or each pipeline its own --checkpoint-dir",
				 reg, stage_name != NULL ? stage_name : c->identity);
		else
			snprintf(err, errlen, "%s: flock: %s", reg, strerror(errno));
		goto fail;
	}
	if (do_register(c, err, errlen) < 0)
		goto fail;
	close(lockfd);
	free(reg);
	*out = c;
	return 0;
fail:
	if (lockfd >= 0)
		close(lockfd);
	free(reg);
	ckpt_close(c);
	return -1;
}

int ckpt_source(struct ckpt *c, char *err, size_t errlen)
{
	struct buf b = {0};
	char *p;
	int lockfd, rc = -1;
	size_t n;

	if (c == NULL)
		return 0;
	if ((lockfd = lock_dir(c->dir, err, errlen)) < 0)
		return -1;
	p = path_of("%s/source", c->dir);
	n = strlen(c->identity);
	if (read_file(p, &b) == 0) {
		if (b.len > 0 && b.p[b.len - 1] == '\n')
			b.len--;
		if (b.len != n || memcmp(b.p, c->identity, n) != 0) {
			c->stranger = 1;
			snprintf(err, errlen,
				 "%s: used by another pipeline, whose source is '%.*s', not '%s': "
				 "give each pipeline its own --checkpoint-dir",
				 c->dir, b.len > 200 ? 200 : (int)b.len, (const char *)b.p,
				 c->identity);
			goto out;
		}
	} else if (errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", p, strerror(errno));
		goto out;
	} else if (write_durable(c->dir, "source", c->identity, n, "\n", 1, NULL, 0) < 0) {
		snprintf(err, errlen, "%s: %s", p, strerror(errno));
		goto out;
	}
	/* Checkpoints complete only in a run where the source registered
	 * (ckpt_write): say so in the registration. */
	c->source = 1;
	if (write_registration(c, err, errlen) < 0)
		goto out;
	rc = 0;
out:
	close(lockfd);
	buf_free(&b);
	free(p);
	return rc;
}

/* ---- snapshots -------------------------------------------------------- */

/* Checks the snapshot file path, read into b, against c and id; on success
 * leaves only the state in b. Returns 0 or -1 with a message. */
static int check_snapshot(const struct ckpt *c, const char *path, int64_t id, struct buf *b,
			  char *err, size_t errlen)
{
	const uint8_t *p = b->p;
	uint64_t ilen, slen, want;
	uint32_t crc;
	size_t n = b->len;
	struct hdr h;

	if (n >= 8 && memcmp(p, "RTAICKPT", 8) != 0) {
		snprintf(err, errlen, "%s: not a checkpoint snapshot: no RTAICKPT magic", path);
		return -1;
	}
	if (n < HDR_LEN + CRC_LEN) {
		snprintf(err, errlen, "%s: truncated: %zu bytes, a snapshot has at least %d", path,
			 n, HDR_LEN + CRC_LEN);
		return -1;
	}
	hdr_decode(p, &h);
	if (h.format != CKPT_FORMAT) {
		snprintf(err, errlen,
			 "%s: snapshot format version %u, this rtai reads version %d (written "
			 "by another rtai version?)",
			 path, h.format, CKPT_FORMAT);
		return -1;
	}
	ilen = h.ilen;
	slen = h.slen;
	if (slen > n || ilen + slen > n - HDR_LEN - CRC_LEN) {
		snprintf(err, errlen,
			 "%s: truncated or corrupt: its header announces %llu bytes of state, the "
			 "file has "
			 "%zu bytes in all",
			 path, (unsigned long long)slen, n);
		return -1;
	}
	want = HDR_LEN + ilen + slen + CRC_LEN;
	crc = crc32_update(0, p, (size_t)want - CRC_LEN);
	if (want != n || crc_at(p + want - CRC_LEN) != crc) {
		snprintf(err, errlen, "%s: corrupt: %s (the file was damaged after it was written)",
			 path, want != n ? "bytes after its checksum" : "checksum mismatch");
		return -1;
	}
	if (ilen != strlen(c->identity) || memcmp(p + HDR_LEN, c->identity, ilen) != 0) {
		snprintf(err, errlen,
			 "%s: written by stage '%.*s', not by this one ('%s'): refused (options "
			 "changed? use a new --checkpoint-dir)",
			 path, ilen > 200 ? 200 : (int)ilen, (const char *)p + HDR_LEN,
			 c->identity);
		return -1;
	}
	if (h.id != id) {
		snprintf(err, errlen, "%s: holds checkpoint %lld, expected %lld", path,
			 (long long)h.id, (long long)id);
		return -1;
	}
	memmove(b->p, p + HDR_LEN + ilen, (size_t)slen);
	b->len = (size_t)slen;
	return 0;
}

static char *snap_identity(int dfd, const char *name);

/* Whether the stage whose key is key[0..n) is registered in this run
 * (DIR/stages/KEY begins "run R" with R this run's). */
static int in_this_run(const struct ckpt *c, const char *key, size_t n)
{
	char *p = path_of("%s/stages/%.*s", c->dir, (int)n, key);
	int in = read_run(p) == c->run;

	free(p);
	return in;
}

/* The message for a checkpoint id of DIR that holds no snapshot of this
 * stage (path), from a run without it: with the identities of the
 * snapshots of the same tool that it does hold and that no stage of this
 * run has claimed, so that a stage whose options changed shows the
 * command line that would resume it. */
static void missing_message(const struct ckpt *c, int64_t id, const char *path, char *err,
			    size_t errlen)
{
	char *d = path_of("%s/ckpt-%lld", c->dir, (long long)id);
	size_t tlen = strlen(c->tool);
	struct buf held = {0};
	DIR *dp = opendir(d);
	struct dirent *e;
	int n = 0;

	while (dp != NULL && (e = readdir(dp)) != NULL) {
		size_t nl = strlen(e->d_name);
		char *who;

		if (strncmp(e->d_name, c->tool, tlen) != 0 || e->d_name[tlen] != '-' ||
		    nl < 5 || strcmp(e->d_name + nl - 5, ".snap") != 0 ||
		    in_this_run(c, e->d_name, nl - 5) ||
		    (who = snap_identity(dirfd(dp), e->d_name)) == NULL)
			continue;
		buf_puts(&held, n++ ? "', '" : "'");
		buf_puts(&held, who);
		free(who);
	}
	if (dp != NULL)
		closedir(dp);
	if (n > 0) {
		buf_putc(&held, '\'');
		buf_putc(&held, 0);
		snprintf(err, errlen,
			 "%s: missing: checkpoint %lld holds no snapshot of this stage (%s), "
			 "but of %s: if that is this stage with other options, run it as "
			 "written there to resume; else start with a new --checkpoint-dir, or "
			 "remove %s to start afresh",
			 path, (long long)id, c->identity, (const char *)held.p, c->dir);
	} else {
		snprintf(err, errlen,
			 "%s: missing: checkpoint %lld was taken by a pipeline without this "
			 "stage (%s): start with a new --checkpoint-dir, or remove %s to "
			 "start afresh",
			 path, (long long)id, c->identity, c->dir);
	}
	buf_free(&held);
	free(d);
}

int ckpt_restore(struct ckpt *c, int64_t *id, struct buf *state, char *err, size_t errlen)
{
	int64_t *ids = NULL, run;
	char *path = NULL, *done = NULL;
	int lockfd, rc = -1, missing = 0;

	*id = 0;
	buf_reset(state);
	if (c == NULL)
		return 0;
	if ((lockfd = lock_dir(c->dir, err, errlen)) < 0)
		return -1;
	if (list_ckpts(c->dir, 1, &ids) == 0) {
		rc = 0;
		goto out;
	}
	path = path_of("%s/ckpt-%lld/%s.snap", c->dir, (long long)ids[0], c->key);
	done = path_of("%s/ckpt-%lld/COMPLETE", c->dir, (long long)ids[0]);
	run = read_run(done);
	if (read_file(path, state) < 0) {
		if (errno != ENOENT) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		missing = 1;
	}
	/* A snapshot from another run than the one that completed the
	 * checkpoint is stale: this stage did not take part in it. */
	if (missing || (state->len >= HDR_LEN && memcmp(state->p, "RTAICKPT", 8) == 0 &&
			hdr_run(state->p) != run)) {
		buf_reset(state);
		c->stranger = run == c->run;
		if (run == c->run)
			snprintf(err, errlen,
				 "%s: missing, or left by an earlier run: checkpoint %lld of this "
				 "run completed before this "
				 "stage registered, so this stage's records before it are in no "
				 "checkpoint: start every stage at once, with a longer "
				 "--checkpoint-interval; or another pipeline is running in %s: "
				 "give each pipeline its own --checkpoint-dir",
				 path, (long long)ids[0], c->dir);
		else
			missing_message(c, ids[0], path, err, errlen);
		goto out;
	}
	if (check_snapshot(c, path, ids[0], state, err, errlen) < 0) {
		buf_reset(state);
		goto out;
	}
	*id = ids[0];
	fprintf(stderr, "%s: resuming from checkpoint %lld of %s\n", c->tool, (long long)ids[0],
		c->dir);
	rc = 1;
out:
	close(lockfd);
	free(ids);
	free(path);
	free(done);
	return rc;
}

/* Whether the stage registered at reg (DIR/stages/KEY) is alive: its
 * process holds the registration's flock. */
static int stage_live(const char *reg)
{
	int fd = open(reg, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), live;

	if (fd < 0)
		return 0;
	live = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return live;
}

/* Whether every stage registered in run c->run has written checkpoint id
 * in that run. With upstream set: every stage but c's own that has not
 * written id is dead (its registration not flock'ed), for ckpt_outcome.
 * Called under DIR/lock. */
static int all_written(const struct ckpt *c, int64_t id, int upstream)
{
	char *d = path_of("%s/stages", c->dir);
	DIR *dp = opendir(d);
	struct dirent *e;
	int all = dp != NULL;

	while (all && (e = readdir(dp)) != NULL) {
		char *reg, *snap;
		uint8_t hdr[HDR_LEN];
		int fd;

		if (e->d_name[0] == '.')
			continue;
		if (upstream && strcmp(e->d_name, c->key) == 0)
			continue;
		reg = path_of("%s/%s", d, e->d_name);
		if (read_run(reg) == c->run) {
			snap = path_of("%s/ckpt-%lld/%s.snap", c->dir, (long long)id, e->d_name);
			fd = open(snap, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			if (fd < 0 || pread(fd, hdr, HDR_LEN, 0) != HDR_LEN ||
			    hdr_run(hdr) != c->run)
				all = upstream && !stage_live(reg);
			if (fd >= 0)
				close(fd);
			free(snap);
		}
		free(reg);
	}
	if (dp != NULL)
		closedir(dp);
	free(d);
	return all;
}

/* Whether every stage whose snapshot is in the latest complete checkpoint
 * before id is registered in c's run. A stage of that checkpoint that is
 * not (a rerun left it out, or gave it other options or another
 * directory) has its state there and nowhere else: completing id would
 * prune that checkpoint in the end and the state with it. Flink likewise
 * refuses to start from a checkpoint with state no operator takes,
 * unless told to allow it (--allowNonRestoredState). Returns 1 when every
 * one is; 0 with a message in err when one is not. Called under
 * DIR/lock. */
static int prev_stages_here(const struct ckpt *c, int64_t id, char *err, size_t errlen)
{
	int64_t *done, prev = 0;
	size_t nd = list_ckpts(c->dir, 1, &done);
	char *d;
	DIR *dp;
	struct dirent *e;
	int ok = 1;

	for (size_t i = 0; i < nd && prev == 0; i++)	/* newest first */
		if (done[i] < id)
			prev = done[i];
	free(done);
	if (prev == 0)
		return 1;
	d = path_of("%s/ckpt-%lld", c->dir, (long long)prev);
	if ((dp = opendir(d)) == NULL) {
		free(d);
		return 1;
	}
	while (ok && (e = readdir(dp)) != NULL) {
		size_t n = strlen(e->d_name);
		char *reg, *ident;

		if (e->d_name[0] == '.' || n <= 5 || strcmp(e->d_name + n - 5, ".snap") != 0)
			continue;
		reg = path_of("%s/stages/%.*s", c->dir, (int)(n - 5), e->d_name);
		if (read_run(reg) != c->run) {
			ident = snap_identity(dirfd(dp), e->d_name);
			snprintf(err, errlen,
				 "not completed: checkpoint %lld holds the state of a "
				 "stage that is not in this run (%s), which completing it would prune "
				 "in the end: rerun that stage with the pipeline (the same options and "
				 "--checkpoint-dir), or start afresh with a new directory",
				 (long long)prev, ident != NULL ? ident : e->d_name);
			free(ident);
			ok = 0;
		}
		free(reg);
	}
	closedir(dp);
	free(d);
	return ok;
}

/* Marks checkpoint id complete (DIR/ckpt-N/COMPLETE, then prunes) when
 * it is not yet and every stage registered in c's run has written it in
 * this run (a run without a source writes no snapshot: ckpt_write
 * declines first) and every stage of the complete checkpoint before it
 * is (prev_stages_here). Called under DIR/lock. Returns 1 when it did, 0
 * when not, -1 with a message when the marker cannot be written or a
 * stage of the checkpoint before is missing. */
static int mark_complete(const struct ckpt *c, int64_t id, char *err, size_t errlen)
{
	char *d, run[32];
	int rc = 0;

	if (is_complete(c->dir, id) || !all_written(c, id, 0))
		return 0;
	if (!prev_stages_here(c, id, err, errlen))
		return -1;
	d = path_of("%s/ckpt-%lld", c->dir, (long long)id);
	snprintf(run, sizeof(run), "run %lld\n", (long long)c->run);
	if (write_durable(d, "COMPLETE", run, strlen(run), NULL, 0, NULL, 0) < 0) {
		snprintf(err, errlen, "%s/COMPLETE: %s", d, strerror(errno));
		rc = -1;
	} else {
		prune(c->dir);
		rc = 1;
	}
	free(d);
	return rc;
}

int ckpt_write(struct ckpt *c, int64_t id, const void *state, size_t len, char *err, size_t errlen)
{
	char *d, *name = NULL, *tmp;
	struct buf b = {0};
	size_t ilen;
	uint32_t crc;
	int lockfd = -1, rc = -1, src;

	if (c == NULL)
		return 0;
	d = path_of("%s/ckpt-%lld", c->dir, (long long)id);
	if (id < 1) {
		snprintf(err, errlen, "checkpoint id %lld: expected >= 1", (long long)id);
		goto out;
	}
	/* A barrier is only ever the source's of this run: one that comes
	 * with no source of DIR in the run was read from elsewhere, e.g. a
	 * capture replayed with the barriers of the run that wrote it, and a
	 * rerun resumed from it would go back to a position no source
	 * recorded. */
	if ((lockfd = lock_dir(c->dir, err, errlen)) < 0)
		goto out;
	src = source_in_run(c);
	close(lockfd);
	lockfd = -1;
	if (src == 0) {
		snprintf(err, errlen,
			 "no source of %s runs in this pipeline (rtai-cat FILE... "
			 "or rtai-kafka, with the same --checkpoint-dir): its barrier came from "
			 "elsewhere, such as a capture replayed with the barriers of the run that "
			 "wrote it; or the source ended before this stage started (a "
			 "--checkpoint-interval shorter than the stages take to start) "
			 "(checkpoint %lld not taken)",
			 c->dir, (long long)id);
		goto out;
	}
	if (mkdir(d, 0777) == 0) {
		if (fsync_path(c->dir) < 0) {
			snprintf(err, errlen, "%s: fsync: %s", c->dir, strerror(errno));
			goto out;
		}
	} else if (errno != EEXIST) {
		snprintf(err, errlen, "%s: mkdir: %s", d, strerror(errno));
		goto out;
	}
	/* The header and the identity, the state, then the checksum of all
	 * three (kept after the identity in b, written last). */
	ilen = strlen(c->identity);
	buf_append(&b, "RTAICKPT", 8);
	snap_u32(&b, CKPT_FORMAT);
	snap_u32(&b, (uint32_t)ilen);
	snap_i64(&b, id);
	snap_i64(&b, c->run);
	snap_u64(&b, len);
	buf_append(&b, c->identity, ilen);
	crc = crc32_update(0, b.p, b.len);
	crc = crc32_update(crc, state, len);
	snap_u32(&b, crc);
	name = path_of("%s.snap", c->key);
	if ((tmp = write_temp(d, name, b.p, b.len - CRC_LEN, state, len, b.p + b.len - CRC_LEN,
			      CRC_LEN)) == NULL)
		goto io_fail;
	/* The rename happens under DIR/lock, with the completion check. */
	if ((lockfd = lock_dir(c->dir, err, errlen)) < 0) {
		unlink(tmp);
		free(tmp);
		goto out;
	}
	if (install_temp(tmp, d, name) < 0)
		goto io_fail;
	rc = mark_complete(c, id, err, errlen);
	goto out;
io_fail:
	snprintf(err, errlen, "%s/%s: %s (checkpoint %lld not taken; the last complete one stays)",
		 d, name, strerror(errno), (long long)id);
out:
	if (lockfd >= 0)
		close(lockfd);
	if (rc < 0 && id >= 1)
		decline(c, id);
	buf_free(&b);
	free(name);
	free(d);
	return rc;
}

/* The writer thread: ckpt_write of what ckpt_write_bg serialized. */
static void *bg_main(void *arg)
{
	struct ckpt *c = arg;
	int64_t t0 = cli_mono_ns();

	if (c->bg_fill != NULL) {
		c->bg_fill(&c->bg_buf, c->bg_arg);
		c->bg_fill_ns = cli_mono_ns() - t0;
		t0 = cli_mono_ns();
	}
	snap_seal_list(c->bg_buf.p, &c->bg_seals);
	c->bg_rc = ckpt_write(c, c->bg_id, c->bg_buf.p, c->bg_buf.len, c->bg_err,
			      sizeof(c->bg_err));
	c->bg_ns = cli_mono_ns() - t0;
	return NULL;
}

int ckpt_write_bg(struct ckpt *c, int64_t id, void (*save)(struct buf *b, void *arg), void *arg,
		  char *err, size_t errlen)
{
	return ckpt_write_async(c, id, save, NULL, arg, err, errlen);
}

int ckpt_write_async(struct ckpt *c, int64_t id, void (*save)(struct buf *b, void *arg),
		     void (*fill)(struct buf *b, void *arg), void *arg, char *err, size_t errlen)
{
	sigset_t all, old;
	int64_t t0;
	int e;

	if (c == NULL)
		return 0;
	if (ckpt_wait(c, err, errlen) < 0)
		return -1;
	t0 = cli_mono_ns();
	buf_reset(&c->bg_buf);	/* reused: no allocation once it has grown */
	snap_defer_begin(&c->bg_seals);	/* the images' checksums: in the thread */
	save(&c->bg_buf, arg);
	snap_defer_end();
	c->bg_id = id;
	c->bg_rc = -1;
	c->bg_err[0] = '\0';
	c->bg_save_ns = cli_mono_ns() - t0;
	c->bg_fill = fill;
	c->bg_arg = arg;
	c->bg_fill_ns = 0;
	/* Signals stay the stage's: the thread starts with all blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&c->bg_thread, NULL, bg_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		if (fill != NULL)
			fill(&c->bg_buf, arg);	/* the state's snapshot ends either way */
		snprintf(err, errlen, "checkpoint %lld: pthread_create: %s", (long long)id,
			 strerror(e));
		if (id >= 1)
			decline(c, id);
		return -1;
	}
	c->bg_live = 1;
	return 0;
}

void ckpt_verbose(struct ckpt *c, int on)
{
	if (c != NULL)
		c->verbose = on;
}

int ckpt_wait(struct ckpt *c, char *err, size_t errlen)
{
	if (c == NULL || !c->bg_live)
		return 0;
	pthread_join(c->bg_thread, NULL);
	c->bg_live = 0;
	if (c->bg_rc < 0) {
		snprintf(err, errlen, "checkpoint %lld: %s", (long long)c->bg_id, c->bg_err);
		return -1;
	}
	if (c->verbose && c->bg_fill != NULL)
		cli_warn("checkpoint %lld: snapshot of %zu bytes serialized in %.1f ms "
			  "(%.1f ms more in the writer thread), written in the background in %.1f ms",
			  (long long)c->bg_id, c->bg_buf.len, c->bg_save_ns / 1e6,
			  c->bg_fill_ns / 1e6, c->bg_ns / 1e6);
	else if (c->verbose)
		cli_warn("checkpoint %lld: snapshot of %zu bytes serialized in %.1f ms, written "
			  "in the background in %.1f ms", (long long)c->bg_id, c->bg_buf.len,
			  c->bg_save_ns / 1e6, c->bg_ns / 1e6);
	return 0;
}

int ckpt_outcome(const struct ckpt *c, int64_t id)
{
	char err[256];
	int lockfd, rc;

	if (c == NULL || id < 1)
		return -1;
	if (is_complete(c->dir, id))
		return 1;
	/* Under DIR/lock: a stage's rename of its snapshot and the
	 * completion check that follows it are one step then. */
	if ((lockfd = lock_dir(c->dir, err, sizeof(err))) < 0)
		return 0;	/* looked at again later */
	rc = is_complete(c->dir, id) ? 1 : is_declined(c, id) || all_written(c, id, 1) ? -1 : 0;
	close(lockfd);
	return rc;
}

int64_t ckpt_backoff(int64_t prev, int64_t every)
{
	const int64_t max = 60 * 1000000000LL;

	if (every < 1000000)
		every = 1000000;
	if (prev <= 0)
		return every < max ? every : max;
	return prev < max / 2 ? 2 * prev : max;
}

int ckpt_settled(const struct ckpt *c, int64_t id)
{
	if (c == NULL || id < 1)
		return -1;
	if (is_complete(c->dir, id))
		return 1;
	return is_declined(c, id) ? -1 : 0;
}

int ckpt_complete(const struct ckpt *c, int64_t id)
{
	return c != NULL && id >= 1 && is_complete(c->dir, id);
}

int ckpt_latest(const char *dir, int64_t *id, int64_t *mtime_ns)
{
	int64_t *ids;
	struct stat st;
	char *p;
	int rc = 0;

	if (list_ckpts(dir, 1, &ids) > 0) {
		p = path_of("%s/ckpt-%lld/COMPLETE", dir, (long long)ids[0]);
		if (stat(p, &st) == 0) {
			*id = ids[0];
			*mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
			rc = 1;
		}
		free(p);
	}
	free(ids);
	return rc;
}

/* ---- operations on a directory ------------------------------------------ */

/* Checks that dir is a checkpoint directory (holds stages/). Returns 0,
 * or -1 with a message. */
static int check_ckpt_dir(const char *dir, char *err, size_t errlen)
{
	char *p = path_of("%s/stages", dir);
	struct stat st;
	int rc = -1;

	if (stat(dir, &st) < 0)
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		snprintf(err, errlen, "%s: not a directory", dir);
	else if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
		snprintf(err, errlen,
			 "%s: not a checkpoint directory (no stages/ in it: a stage run with "
			 "--checkpoint-dir makes one)",
			 dir);
	else
		rc = 0;
	free(p);
	return rc;
}

static int64_t mtime_of(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* The stage identity in the header of the snapshot file dir/name, or NULL. */
static char *snap_identity(int dfd, const char *name)
{
	uint8_t hdr[HDR_LEN];
	struct hdr h;
	uint32_t ilen;
	char *id = NULL;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return NULL;
	if (pread(fd, hdr, HDR_LEN, 0) == HDR_LEN && memcmp(hdr, "RTAICKPT", 8) == 0 &&
	    (hdr_decode(hdr, &h), ilen = h.ilen) < 65536) {
		id = xcalloc(1, (size_t)ilen + 1);
		if (pread(fd, id, ilen, HDR_LEN) != (ssize_t)ilen) {
			free(id);
			id = NULL;
		}
	}
	close(fd);
	return id;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_snap(const void *a, const void *b)
{
	return strcmp(((const struct ckpt_snap_info *)a)->key,
		      ((const struct ckpt_snap_info *)b)->key);
}

/* Fills ci from DIR/ckpt-ID. Returns 0, 1 when the checkpoint is gone (a
 * prune meanwhile), or -1 with a message. */
static int info_of(const char *dir, int64_t id, struct ckpt_info *ci, char *err, size_t errlen)
{
	char *d = path_of("%s/ckpt-%lld", dir, (long long)id);
	DIR *dp = opendir(d);
	struct dirent *e;
	struct stat st;
	size_t cap = 0, dcap = 0;
	int64_t newest = -1, done = -1;
	int rc = -1;

	memset(ci, 0, sizeof(*ci));
	ci->id = id;
	if (dp == NULL) {
		if (errno == ENOENT || errno == ENOTDIR)
			rc = 1;
		else
			snprintf(err, errlen, "%s: %s", d, strerror(errno));
		goto out;
	}
	if (fstat(dirfd(dp), &st) == 0)
		newest = mtime_of(&st);
	while ((e = readdir(dp)) != NULL) {
		size_t n = strlen(e->d_name);

		if (fstatat(dirfd(dp), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		ci->bytes += (uint64_t)st.st_size;
		if (strcmp(e->d_name, "COMPLETE") == 0) {
			ci->complete = 1;
			done = mtime_of(&st);
		} else if (e->d_name[0] != '.' && n > 5 &&
			   strcmp(e->d_name + n - 5, ".snap") == 0) {
			if (ci->nsnaps == cap) {
				cap = cap ? 2 * cap : 8;
				ci->snaps = xrealloc(ci->snaps, cap * sizeof(*ci->snaps));
			}
			ci->snaps[ci->nsnaps].key = xstrdup(e->d_name);
			ci->snaps[ci->nsnaps].key[n - 5] = '\0';
			ci->snaps[ci->nsnaps].identity = snap_identity(dirfd(dp), e->d_name);
			ci->nsnaps++;
		} else if (e->d_name[0] != '.' && strstr(e->d_name, ".declined.") != NULL) {
			size_t kn = (size_t)(strstr(e->d_name, ".declined.") - e->d_name);

			if (ci->ndeclined == dcap) {
				dcap = dcap ? 2 * dcap : 4;
				ci->declined = xrealloc(ci->declined, dcap * sizeof(*ci->declined));
			}
			ci->declined[ci->ndeclined] = xmalloc(kn + 1);
			memcpy(ci->declined[ci->ndeclined], e->d_name, kn);
			ci->declined[ci->ndeclined++][kn] = '\0';
		}
		if (e->d_name[0] != '.' && (newest < 0 || mtime_of(&st) > newest))
			newest = mtime_of(&st);
	}
	closedir(dp);
	if (ci->nsnaps > 1)
		qsort(ci->snaps, ci->nsnaps, sizeof(*ci->snaps), cmp_snap);
	if (ci->ndeclined > 1)
		qsort(ci->declined, ci->ndeclined, sizeof(*ci->declined), cmp_str);
	ci->mtime_ns = ci->complete ? done : newest;
	rc = 0;
out:
	free(d);
	return rc;
}

static void info_free(struct ckpt_info *ci)
{
	for (size_t k = 0; k < ci->nsnaps; k++) {
		free(ci->snaps[k].key);
		free(ci->snaps[k].identity);
	}
	free(ci->snaps);
	for (size_t k = 0; k < ci->ndeclined; k++)
		free(ci->declined[k]);
	free(ci->declined);
}

int ckpt_list(const char *dir, struct ckpt_info **out, size_t *n, char *err, size_t errlen)
{
	int64_t *ids = NULL;
	size_t nids, k = 0;
	struct ckpt_info *v = NULL;
	int rc;

	*out = NULL;
	*n = 0;
	if (check_ckpt_dir(dir, err, errlen) < 0)
		return -1;
	nids = list_ckpts(dir, 0, &ids);
	if (nids > 0)
		v = xcalloc(nids, sizeof(*v));
	for (size_t i = nids; i-- > 0;) { /* list_ckpts: newest first */
		rc = info_of(dir, ids[i], &v[k], err, errlen);
		if (rc < 0) {
			info_free(&v[k]);
			ckpt_list_free(v, k);
			free(ids);
			return -1;
		}
		if (rc == 0)
			k++;
		else
			info_free(&v[k]);
	}
	free(ids);
	if (k == 0) {
		free(v);
		v = NULL;
	}
	*out = v;
	*n = k;
	return 0;
}

void ckpt_list_free(struct ckpt_info *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		info_free(&v[i]);
	free(v);
}

struct live {
	const char *dir;
	char *msg;
	size_t msglen;
};

/* each_stage: 1, with the registration's key and identity in the
 * message, when its stage is running (the registration flock'ed). */
static int live_one(int dfd, const char *name, int fd, void *arg)
{
	struct live *lv = arg;
	struct buf b = {0};
	const char *ident = "?";
	char *reg, *nl;

	(void)dfd;
	if (!(flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK))
		return 0;
	/* The registration reads "run R\nIDENTITY\n" ("run R source" for
	 * the source). */
	reg = path_of("%s/stages/%s", lv->dir, name);
	if (read_file(reg, &b) == 0) {
		buf_putc(&b, 0);
		if ((nl = strchr((char *)b.p, '\n')) != NULL) {
			ident = nl + 1;
			if ((nl = strchr(nl + 1, '\n')) != NULL)
				*nl = '\0';
		}
	}
	snprintf(lv->msg, lv->msglen, "%s: a stage is running: %s (%s is locked)", lv->dir, ident,
		 reg);
	free(reg);
	buf_free(&b);
	return 1;
}

/* Whether a stage of dir is live: 1 with the first live registration's
 * key and identity in msg, else 0. */
static int live_stage(const char *dir, char *msg, size_t msglen)
{
	struct live lv = { dir, msg, msglen };

	return each_stage(dir, live_one, &lv);
}

int ckpt_prune(const char *dir, int keep, int force, int64_t **removed, char *err, size_t errlen)
{
	int64_t *all = NULL, latest = 0, *gone = NULL;
	size_t na, kept = 0;
	int lockfd, rc = 0;

	if (removed != NULL)
		*removed = NULL;
	if (keep < 1) {
		snprintf(err, errlen, "keep %d: expected at least 1", keep);
		return -1;
	}
	if (check_ckpt_dir(dir, err, errlen) < 0)
		return -1;
	if ((lockfd = lock_dir(dir, err, errlen)) < 0)
		return -1;
	if (!force && live_stage(dir, err, errlen)) {
		rc = -2;
		goto out;
	}
	na = list_ckpts(dir, 0, &all); /* newest first */
	for (size_t i = 0; i < na; i++)
		if (is_complete(dir, all[i])) {
			latest = all[i];
			break;
		}
	if (na > 0)
		gone = xcalloc(na, sizeof(*gone));
	for (size_t i = 0; i < na; i++) {
		int complete = is_complete(dir, all[i]);

		if (complete && kept < (size_t)keep) {
			kept++;
			continue;
		}
		if (!complete && all[i] > latest)
			continue; /* maybe in progress */
		if (remove_ckpt(dir, all[i]) < 0) {
			snprintf(err, errlen, "%s/ckpt-%lld: %s", dir, (long long)all[i],
				 strerror(errno));
			rc = -1;
			goto out;
		}
		gone[rc++] = all[i];
	}
	if (rc > 0 && fsync_path(dir) < 0) {
		snprintf(err, errlen, "%s: fsync: %s", dir, strerror(errno));
		rc = -1;
	}
out:
	close(lockfd);
	free(all);
	if (rc > 0 && removed != NULL)
		*removed = gone;
	else
		free(gone);
	return rc;
}

const char *ckpt_dir(const struct ckpt *c)
{
	return c->dir;
}

const char *ckpt_dir_id(const struct ckpt *c)
{
	return c->dirid;
}

const char *ckpt_identity(const struct ckpt *c)
{
	return c->identity;
}

void ckpt_close(struct ckpt *c)
{
	if (c == NULL)
		return;
	if (c->bg_live) {
		char err[256];

		(void)ckpt_wait(c, err, sizeof(err));
	}
	buf_free(&c->bg_buf);
	buf_free(&c->bg_seals);
	if (c->regfd >= 0)
		close(c->regfd);
	free(c->dir);
	free(c->tool);
	free(c->identity);
	free(c);
}

/* A stage refused at its start as a stranger to the pipeline running in
 * DIR (c->stranger) takes no part in its run: its registration goes
 * (under DIR/lock), or that pipeline's stages would wait for its part of
 * every checkpoint, and none would complete again. Ours while we hold its
 * flock. The checkpoints after the last complete one that the pipeline's
 * stages wrote while it was registered are complete then: it marks them
 * (mark_complete), as the last of their writers would have. A stage of
 * the pipeline itself refused (a corrupt snapshot) stays registered: no
 * checkpoint completes without it. */
static void leave(struct ckpt *c)
{
	char err[256];
	int64_t *all, *done;
	size_t na, nd;
	int lockfd;

	if (c == NULL || c->regfd < 0 || !c->stranger)
		return;
	if ((lockfd = lock_dir(c->dir, err, sizeof(err))) >= 0) {
		char *reg = path_of("%s/stages/%s", c->dir, c->key);

		unlink(reg);
		free(reg);
		na = list_ckpts(c->dir, 0, &all);	/* newest first */
		nd = list_ckpts(c->dir, 1, &done);
		for (size_t i = na; i-- > 0;)
			if ((nd == 0 || all[i] > done[0]) && mark_complete(c, all[i], err, sizeof(err)) < 0)
				cli_warn("%s", err);
		free(all);
		free(done);
		close(lockfd);
	}
	close(c->regfd);
	c->regfd = -1;
}

int ckpt_source_start(struct ckpt *c, int64_t *id, struct buf *state)
{
	char err[1024];
	int rc;

	*id = 0;
	if (c == NULL)
		return 0;
	if (ckpt_source(c, err, sizeof(err)) < 0 ||
	    (rc = ckpt_restore(c, id, state, err, sizeof(err))) < 0) {
		leave(c);
		cli_die(RTAI_EXIT_SNAPSHOT, "%s", err);
	}
	return rc;
}

int ckpt_stage(struct ckpt **out, int64_t *id, const char *tool, const char *dir, int argc,
	       char **argv, const char *stage_name,
	       int (*load)(const uint8_t *p, size_t n, char *err, size_t errlen))
{
	struct buf st = { 0 };
	char err[1024];
	int rc;

	*id = 0;
	if (ckpt_open(out, tool, dir, argc, argv, stage_name, err, sizeof(err)) < 0) {
		cli_warn("%s", err);
		return RTAI_EXIT_FAIL;
	}
	if (*out == NULL)
		return 0;
	rc = ckpt_restore(*out, id, &st, err, sizeof(err));
	if (rc < 0)
		cli_warn("%s", err);
	else if (rc == 1 && load(st.p, st.len, err, sizeof(err)) < 0) {
		cli_warn("%s: checkpoint %lld: %s", ckpt_dir(*out), (long long)*id, err);
		rc = -1;
	} else if (rc == 1) {
		rd_resumed = *id;	/* its input must continue *id of DIR (frame.h) */
		snprintf(rd_resumed_dir, sizeof(rd_resumed_dir), "%s", (*out)->dirid);
	}
	buf_free(&st);
	if (rc < 0)
		leave(*out);
	return rc < 0 ? RTAI_EXIT_SNAPSHOT : 0;
}
