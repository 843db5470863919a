/* outfile.c - creating output files safely. */
#include "config.h"
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"

#define OUTFILE_MAX 16

static char *tracked[OUTFILE_MAX];	/* temporary names still to remove */

static void unlink_tracked(void)
{
	for (size_t i = 0; i < OUTFILE_MAX; i++)
		if (tracked[i] != NULL) {
			unlink(tracked[i]);
			free(tracked[i]);
			tracked[i] = NULL;
		}
}

void outfile_track(const char *path)
{
	static int registered;

	if (!registered) {
		atexit(unlink_tracked);
		registered = 1;
	}
	for (size_t i = 0; i < OUTFILE_MAX; i++)
		if (tracked[i] == NULL) {
			tracked[i] = xstrdup(path);
			return;
		}
	cli_die(RTAI_EXIT_FAIL, "%s: too many output files open at once", path);
}

void outfile_untrack(const char *path)
{
	if (path == NULL)
		return;
	for (size_t i = 0; i < OUTFILE_MAX; i++)
		if (tracked[i] != NULL && strcmp(tracked[i], path) == 0) {
			free(tracked[i]);
			tracked[i] = NULL;
			return;
		}
}

int outfile_open_stream(const char *path)
{
	struct stat st, target;

	for (int tries = 0; tries < 4; tries++) {
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);

		if (fd >= 0 || errno != EEXIST)
			return fd;
		if (lstat(path, &st) < 0) {
			if (errno == ENOENT)
				continue;	/* removed meanwhile: create it */
			return -1;
		}
		if (S_ISDIR(st.st_mode)) {
			errno = EISDIR;
			return -1;
		}
		if (stat(path, &target) == 0 && !S_ISREG(target.st_mode) &&
		    !S_ISDIR(target.st_mode))
			return open(path, O_WRONLY | O_CLOEXEC);	/* a FIFO, a device */
		if (unlink(path) < 0 && errno != ENOENT)
			return -1;
	}
	errno = EEXIST;
	return -1;
}

int outfile_write_all(int fd, const void *buf, size_t n)
{
	const unsigned char *p = buf;

	while (n > 0) {
		ssize_t put = write(fd, p, n);

		if (put < 0 && errno == EINTR)
			continue;
		if (put < 0)
			return -1;
		p += put;
		n -= (size_t)put;
	}
	return 0;
}

int outfile_replace(const char *path, const void *p, size_t n)
{
	const char *slash = strrchr(path, '/');
	struct stat st;
	mode_t mask;
	char *tmp;
	int fd, err;

	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return -1;
		if (outfile_write_all(fd, p, n) < 0) {
			err = errno;
			close(fd);
			errno = err;
			return -1;
		}
		return close(fd);
	}
	/* In path's directory, so that the rename stays in one file system. */
	/* "dir/.NAME.XXXXXX": beside it, hidden, the name unpredictable. */
	tmp = xmalloc(strlen(path) + 16);
	if (slash != NULL)
		sprintf(tmp, "%.*s.%s.XXXXXX", (int)(slash - path + 1), path, slash + 1);
	else
		sprintf(tmp, ".%s.XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		free(tmp);
		return -1;
	}
	outfile_track(tmp);
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask) < 0 || outfile_write_all(fd, p, n) < 0) {
		err = errno;
		close(fd);
		goto fail;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		err = errno;
		goto fail;
	}
	outfile_untrack(tmp);
	free(tmp);
	return 0;
fail:
	unlink(tmp);
	outfile_untrack(tmp);
	free(tmp);
	errno = err;
	return -1;
}
