/* ckpt-source.c - a source whose barriers come from its input, for tests.
 *
 *   ckpt-source --checkpoint-dir DIR [--checkpoint-stages N] [FILE]
 *
 * Copies the stream on standard input (or FILE) to standard output, frame
 * by frame, flushing after each. It registers in DIR as the pipeline's
 * source (ckpt_source): a checkpoint completes only in a run where a source
 * registered (lib/ckpt.h), so a test that writes its barriers by hand, to
 * put them exactly where it wants among the records, runs them through
 * this instead of rtai-cat --checkpoint-dir, which injects its own. At each
 * barrier it writes its own snapshot (empty) before forwarding it. It
 * holds no position to go back to, so it restores nothing: started again,
 * it copies its input from the start, and the test feeds it what comes
 * after the checkpoint the stages resume from. Started again when DIR
 * has a complete checkpoint, it resumes from it as a source (announced
 * on stderr) and sends its resume frame first, as rtai-cat does. Before its first barrier
 * it waits (up to 60 s) until N stages, itself included
 * (--checkpoint-stages, default 2), are registered in its run: reading a
 * file it would otherwise be at the end before the stages after it
 * start, and complete checkpoints alone (rtai-cat's first barrier comes
 * an interval after its start). Exit: 0, 1 on errors, 4 on a cut stream,
 * 6 when DIR is another pipeline's.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "barrier.h"
#include "buf.h"
#include "ckpt.h"
#include "cli.h"
#include "frame.h"
#include "rec.h"

/* The number of registrations in DIR/stages/ of DIR's current run: their
 * first line "run R" or "run R source", R that of DIR/run (lib/ckpt.h). */
static int registered(const char *dir)
{
	char path[4096], want[64], line[64];
	FILE *fp;
	DIR *dp;
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof(path), "%s/run", dir);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	if (fgets(line, sizeof(line), fp) == NULL)
		line[0] = '\0';
	fclose(fp);
	snprintf(want, sizeof(want), "%.*s", (int)strcspn(line, "\n"), line);
	snprintf(path, sizeof(path), "%s/stages", dir);
	if ((dp = opendir(path)) == NULL)
		return 0;
	while ((e = readdir(dp)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/stages/%s", dir, e->d_name);
		if ((fp = fopen(path, "r")) == NULL)
			continue;
		if (fgets(line, sizeof(line), fp) != NULL &&
		    strncmp(line, want, strlen(want)) == 0 &&
		    (line[strlen(want)] == '\n' || line[strlen(want)] == ' '))
			n++;
		fclose(fp);
	}
	closedir(dp);
	return n;
}

/* ckpt_source_start, minus its announcement "ckpt-source: resuming from
 * checkpoint N of DIR" (the tests compare the stages' standard error with
 * what it would be without this helper): ckpt_source, then ckpt_restore
 * with standard error on a temporary file, whose lines but that one are
 * written on after. Sets *id (0 for a fresh start); exits 6 on a
 * refusal. */
static void resume(struct ckpt *c, int64_t *id)
{
	struct buf state = { 0 };
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO), rc;
	char line[2048], err[1024];

	if (tmp == NULL || saved < 0)
		cli_die(RTAI_EXIT_FAIL, "tmpfile: %s", strerror(errno));
	if (ckpt_source(c, err, sizeof(err)) < 0)
		cli_die(RTAI_EXIT_SNAPSHOT, "%s", err);
	fflush(stderr);
	dup2(fileno(tmp), STDERR_FILENO);
	rc = ckpt_restore(c, id, &state, err, sizeof(err));
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	while (fgets(line, sizeof(line), tmp) != NULL)
		if (strstr(line, ": resuming from checkpoint ") == NULL)
			fputs(line, stderr);
	fclose(tmp);
	buf_free(&state);
	if (rc < 0)
		cli_die(RTAI_EXIT_SNAPSHOT, "%s", err);
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *path = NULL;
	int stages = 2, first = 1;
	struct ckpt *c = NULL;
	struct frame_rd rd;
	struct frame_wr out;
	struct frame f;
	struct rec scratch = { 0 };
	char err[1024];
	int64_t resumed = 0;
	int st, rc = 0;

	cli_init("ckpt-source", argv);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--checkpoint-dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--checkpoint-stages") == 0 && i + 1 < argc)
			stages = atoi(argv[++i]);
		else if (path == NULL)
			path = argv[i];
		else
			cli_usage_error("usage: ckpt-source --checkpoint-dir DIR [--checkpoint-stages N] [FILE]");
	}
	if (dir == NULL)
		cli_usage_error("usage: ckpt-source --checkpoint-dir DIR [--checkpoint-stages N] [FILE]");
	if (ckpt_open(&c, "ckpt-source", dir, argc, argv, NULL, err, sizeof(err)) < 0)
		cli_die(RTAI_EXIT_FAIL, "%s", err);
	resume(c, &resumed);
	if (path == NULL)
		rd_open_fd(&rd, STDIN_FILENO, "stdin");
	else if (rd_open(&rd, path) < 0)
		cli_die(RTAI_EXIT_FAIL, "%s", rd.err);
	wr_open_fd(&out, STDOUT_FILENO, "stdout", 0);
	if (resumed > 0)
		wr_resume(&out, resumed, ckpt_dir_id(c), cli_now_ns());
	while ((st = rd_frame(&rd, &f)) > 0) {
		if (f.kind == RTAI_K_BARRIER) {
			struct barrier b;

			if (barrier_decode(&f, &scratch, &b, err, sizeof(err)) < 0)
				cli_die(RTAI_EXIT_FAIL, "%s", err);
			for (int i = 0; first && i < 6000 && registered(dir) < stages; i++)
				usleep(10000);
			first = 0;
			if (ckpt_write(c, b.checkpoint, "", 0, err, sizeof(err)) < 0)
				cli_die(RTAI_EXIT_FAIL, "%s", err);
		}
		wr_frame(&out, &f);
		wr_flush(&out);
	}
	if (st < 0) {
		cli_warn("%s", rd.err);
		rc = rd.cut ? RTAI_EXIT_CUT : RTAI_EXIT_FAIL;
		wr_abandon(&out);
	} else {
		wr_close(&out);
	}
	rd_close(&rd);
	rec_free(&scratch);
	ckpt_close(c);
	return rc;
}
