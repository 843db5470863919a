/* outfile.c - output files that must not be left behind half written. */
#include "config.h"
#include "outfile.h"

#include <stdlib.h>
#include <string.h>
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
	rtai_die(RTAI_EXIT_FAIL, "%s: too many output files open at once", path);
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
