/* ckpt-sink.c - a tiny registered sink for tests/checkpoint.bats.
 *
 *   ckpt-sink [--checkpoint-dir DIR] [--checkpoint-stall N] [--checkpoint-hold F] FILE
 *
 * Appends the bytes of each record of the stream on standard input, and a
 * newline, to FILE. It takes part in checkpoints (lib/ckpt.h) as a sink
 * that commits per checkpoint: at each barrier it syncs FILE and writes
 * FILE's length as its snapshot; started again, it cuts FILE back to the
 * length of the checkpoint it resumes from, so every record is in FILE
 * exactly once however often the pipeline is killed and rerun (Flink's
 * two-phase-commit sinks do the same with transactions). It prints each
 * barrier it commits as "barrier ID" on stderr. --checkpoint-stall N: after
 * committing checkpoint N it stops reading (sleeps until killed), so the
 * source's later checkpoints stay incomplete; a --checkpoint-* option, it is
 * not part of the stage's identity. --checkpoint-hold F: at each barrier,
 * while the file F exists, it prints "holding ID" on stderr (once) and
 * waits before writing its snapshot, so the checkpoint stays incomplete
 * with the stages before it past the barrier (tests/sink-lake.bats makes
 * it complete, by removing F, while it holds an earlier stage). Exit: 0, 1 on errors, 4 on a cut
 * stream, 6 when a snapshot is refused.
 */
#include "config.h"

#include <fcntl.h>
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

int main(int argc, char **argv)
{
	const char *dir = NULL, *path = NULL, *hold = NULL;
	long long stall = 0;
	struct ckpt *c = NULL;
	struct frame_rd rd;
	struct frame f;
	struct rec scratch = { 0 };
	struct buf state = { 0 };
	char err[1024];
	int64_t id = 0;
	long long len = 0;
	int fd, st, rc = 0;

	cli_init("ckpt-sink", argv);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--checkpoint-dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--checkpoint-stall") == 0 && i + 1 < argc)
			stall = cli_opt_int("--checkpoint-stall", argv[++i], 1, INT64_MAX);
		else if (strcmp(argv[i], "--checkpoint-hold") == 0 && i + 1 < argc)
			hold = argv[++i];
		else if (path == NULL)
			path = argv[i];
		else
			path = NULL, i = argc;
	}
	if (path == NULL)
		cli_usage_error("usage: ckpt-sink [--checkpoint-dir DIR] [--checkpoint-stall N] "
				"[--checkpoint-hold F] FILE");
	if (ckpt_open(&c, "ckpt-sink", dir, argc, argv, NULL, err, sizeof(err)) < 0)
		cli_die(RTAI_EXIT_FAIL, "%s", err);
	if ((st = ckpt_restore(c, &id, &state, err, sizeof(err))) < 0)
		cli_die(RTAI_EXIT_SNAPSHOT, "%s", err);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		cli_die(RTAI_EXIT_FAIL, "%s: cannot open", path);
	buf_putc(&state, 0);
	if (ftruncate(fd, st == 1 ? atoll((const char *)state.p) : 0) < 0)
		cli_die(RTAI_EXIT_FAIL, "%s: cannot truncate", path);
	rd_open_fd(&rd, STDIN_FILENO, "stdin");
	while ((st = rd_frame(&rd, &f)) > 0) {
		if (f.kind == RTAI_K_DATA) {
			if (write(fd, f.payload, f.len) != (ssize_t)f.len || write(fd, "\n", 1) != 1)
				cli_die(RTAI_EXIT_FAIL, "%s: write failed", path);
		} else if (f.kind == RTAI_K_BARRIER) {
			struct barrier b;

			if (barrier_decode(&f, &scratch, &b, err, sizeof(err)) < 0)
				cli_die(RTAI_EXIT_FAIL, "%s", err);
			if (hold != NULL && access(hold, F_OK) == 0) {
				fprintf(stderr, "holding %lld\n", (long long)b.checkpoint);
				while (access(hold, F_OK) == 0)
					usleep(10000);
			}
			len = lseek(fd, 0, SEEK_END);
			fsync(fd);
			buf_reset(&state);
			buf_printf(&state, "%lld", len);
			if (ckpt_write(c, b.checkpoint, state.p, state.len, err, sizeof(err)) < 0)
				cli_die(RTAI_EXIT_FAIL, "%s", err);
			fprintf(stderr, "barrier %lld\n", (long long)b.checkpoint);
			while (stall > 0 && b.checkpoint >= stall)
				pause();
		}
	}
	if (st < 0) {
		cli_warn("%s", rd.err);
		rc = rd.cut ? RTAI_EXIT_CUT : RTAI_EXIT_FAIL;
	}
	close(fd);
	rd_close(&rd);
	rec_free(&scratch);
	buf_free(&state);
	ckpt_close(c);
	return rc;
}
