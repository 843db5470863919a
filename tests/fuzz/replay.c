/* replay.c - runs a fuzz harness over files, without libFuzzer.
 *
 * Linked with one harness into an ordinary program (built by the normal
 * compiler in `make check`, under the sanitizers when they are enabled),
 * it feeds files to LLVMFuzzerTestOneInput: those named on the command
 * line (a directory stands for the files in it), or with no arguments the
 * committed corpus of the harness, $RTAI_SRC/tests/fuzz/corpus/CORPUS. So
 * every seed, and every input that once crashed a harness, is replayed by
 * the test suite. Output is TAP, one test per file: a crash or a broken
 * invariant kills the program, and the test driver reports it.
 *
 *   tests/fuzz/replay_json crash-1234       reproduce one input
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ntests;

/* Feeds one file to the harness; returns 0, or -1 when it cannot be read. */
static int feed(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *data = NULL, *exact;
	size_t len = 0, cap = 0, got;

	if (fp == NULL) {
		printf("not ok %d - %s: %s\n", ++ntests, path, strerror(errno));
		return -1;
	}
	do {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 65536;
			data = realloc(data, cap);
			if (data == NULL) {
				fprintf(stderr, "replay: out of memory\n");
				exit(99);
			}
		}
		got = fread(data + len, 1, cap - len, fp);
		len += got;
	} while (got > 0);
	if (ferror(fp)) {
		printf("not ok %d - %s: read error\n", ++ntests, path);
		free(data);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	/* An exact-size copy, so that the sanitizers see a read past its end. */
	exact = malloc(len ? len : 1);
	if (exact == NULL) {
		fprintf(stderr, "replay: out of memory\n");
		exit(99);
	}
	if (len)
		memcpy(exact, data, len);
	free(data);
	fflush(stdout);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	printf("ok %d - %s\n", ++ntests, path);
	return 0;
}

/* Feeds a file, or every file in a directory in name order. */
static int feed_path(const char *path)
{
	struct dirent **names;
	struct stat st;
	int n, ret = 0;

	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return feed(path);
	n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		printf("not ok %d - %s: %s\n", ++ntests, path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			size_t len = strlen(path) + strlen(names[i]->d_name) + 2;
			char *sub = malloc(len);

			if (sub == NULL) {
				fprintf(stderr, "replay: out of memory\n");
				exit(99);
			}
			snprintf(sub, len, "%s/%s", path, names[i]->d_name);
			if (feed(sub) < 0)
				ret = -1;
			free(sub);
		}
		free(names[i]);
	}
	free(names);
	return ret;
}

int main(int argc, char **argv)
{
	const char *src = getenv("RTAI_SRC");
	char corpus[4096];
	int status = 0;

	if (argc < 2) {
		snprintf(corpus, sizeof(corpus), "%s/tests/fuzz/corpus/%s",
			 src != NULL && *src != '\0' ? src : SRCDIR, CORPUS);
		if (feed_path(corpus) < 0)
			status = 1;
	}
	for (int i = 1; i < argc; i++)
		if (feed_path(argv[i]) < 0)
			status = 1;
	if (ntests == 0) {
		printf("not ok 1 - no inputs\n");
		ntests = 1;
		status = 1;
	}
	printf("1..%d\n", ntests);
	return status;
}
