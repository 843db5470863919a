/* ckpt.h - checkpoints: each stage's snapshot of a checkpoint, stored
 * durably in one directory for the whole pipeline, and restored on restart.
 *
 * The peer rule is Flink's aligned checkpoints, an instance of the
 * Chandy-Lamport snapshot (Chandy and Lamport, "Distributed snapshots",
 * ACM TOCS 3(1), 1985; Carbone et al., "Lightweight asynchronous snapshots
 * for distributed dataflows", 2015): a source injects barrier N with its
 * read position (barrier.h); every stage that keeps state writes its
 * snapshot of N when the barrier passes, then forwards the barrier; N is
 * complete once every stage has written N; after a crash every stage loads
 * its snapshot of the latest complete checkpoint and the source rewinds to
 * the position recorded in it, so every record after that position is
 * processed again, and every record before it is in the state already.
 *
 * Rtai has no job manager that knows the pipeline's stages, so the stages
 * tell the directory themselves. The directory DIR (--checkpoint-dir, or
 * else $RTAI_CHECKPOINT_DIR) holds:
 *
 *   DIR/lock               taken (flock, briefly) by every registration
 *                          and every completion check, so they serialize
 *   DIR/run                the number of the current run (text)
 *   DIR/source             the identity of the pipeline's source, written
 *                          by the first source that used DIR (ckpt_source)
 *   DIR/stages/KEY         one registration per stage ("run R", or "run R
 *                          source" for the source, then its identity),
 *                          flock'ed for as long as the stage lives
 *   DIR/ckpt-N/KEY.snap    the snapshot of stage KEY for checkpoint N
 *   DIR/ckpt-N/COMPLETE    written when checkpoint N became complete
 *
 * Completion rule. A run is one start of the pipeline: the first stage to
 * register while no registration is live (none is flock'ed, so every
 * process of the last run has exited) starts run R+1 and removes the
 * registrations of stages that are not running; every stage registering
 * while another is live joins the current run. Checkpoint N is complete
 * when every stage registered in the current run has written its snapshot
 * of N in this run; the stage whose write makes it so (under DIR/lock)
 * writes DIR/ckpt-N/COMPLETE. A stage killed mid-run stays registered, so
 * no later checkpoint of that run completes without it. A checkpoint
 * completes only in a run where a source (ckpt_source) registered: a
 * barrier that reaches a run without one came from elsewhere (a capture
 * replayed with the barriers of the run that wrote it), and a rerun
 * resumed from it would read its input from the start over state that
 * holds part of it already; ckpt_write declines it. Only a complete
 * checkpoint is ever restored; the last 3 complete ones are kept, older
 * ones (complete or not) are removed.
 *
 * What this does not guarantee (the limits, documented in rtai(7)):
 * - Stages register when they start, within milliseconds of each other in
 *   a shell pipeline, and the first barrier comes one checkpoint interval
 *   later. A stage that registers after a checkpoint of its run completed
 *   without it is refused when it restores (ckpt_restore) rather than
 *   trusted: its records before that checkpoint are not in it.
 * - Only stages that call ckpt_open take part. A stateless stage (rtai-map)
 *   needs not; but records written past the last registered stage, to a
 *   program that is not rtai (| jq, a file), are not covered: after a
 *   restart such a reader may see records again (those after the latest
 *   complete checkpoint) or miss some (those written before it and not yet
 *   read when it died). A pipeline is exactly-once only up to its last
 *   registered stage; end it in a sink that registers.
 * - Restart the pipeline only after every process of the previous run has
 *   exited (a shell waits for every process of a pipeline): a process of
 *   the previous run still alive makes the new stages join its run.
 * - One source per directory; a second pipeline in the same directory is
 *   refused when its source's identity differs (ckpt_source), not when only
 *   its later stages differ: give each pipeline its own directory.
 * - Stage identity is the tool's name and its options and operands as
 *   written, minus the --checkpoint-* options: "rtai-cat a.rtai" run from
 *   two directories is the same stage. Changing a stage's options makes it
 *   another stage, whose snapshot the old checkpoints lack (refused).
 * - flock(2) and rename(2) are atomic on local file systems; a directory on
 *   NFS or another network file system is not supported.
 */
#ifndef RTAI_CKPT_H
#define RTAI_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* The snapshot file format version that ckpt_write writes and
 * ckpt_restore reads. A snapshot file is, little-endian:
 *   "RTAICKPT"  8 bytes magic
 *   u32         format version (1)
 *   u32         identity length L (bytes)
 *   i64         checkpoint id
 *   u64         run number
 *   u64         state length S (bytes)
 *   L bytes     the stage identity (text)
 *   S bytes     the state, opaque here (the engine versions its own)
 *   u32         CRC-32 (ISO 3309, as zlib and PNG) of every byte before it
 */
#define CKPT_FORMAT 1
/* Complete checkpoints kept by the pruning in ckpt_write. */
#define CKPT_KEEP 3

struct ckpt; /* one stage's handle on DIR; NULL when checkpoints are off */

/* Opens checkpoints for a stage. dir is --checkpoint-dir DIR or NULL, in
 * which case $RTAI_CHECKPOINT_DIR is used; when both are NULL or empty,
 * checkpoints are off: *out = NULL, returns 0. tool is the tool's name
 * ("rtai-window"); argc/argv are main()'s (argv[0] is not used): the stage
 * identity is tool plus the arguments, shell-quoted and separated by
 * spaces, minus every --checkpoint-* option and its argument and every
 * -v or --verbose (a summary on stderr in every stage that checkpoints:
 * a rerun with it added resumes). stage_name
 * (--stage-name NAME, or NULL) names the stage instead of its options, so
 * two stages with the same options in one pipeline are told apart; the
 * options still make the identity a snapshot must match.
 * DIR is created (mode 0777 less the umask) when missing; the stage
 * registers in DIR/stages/ and holds its registration's flock until
 * ckpt_close or exit. Returns 0 and *out (free with ckpt_close), or -1 and
 * a message in err: DIR given but empty, DIR not usable ("DIR: mkdir:
 * Permission denied"), or a
 * live stage with the same identity already registered ("... use
 * --stage-name NAME to tell them apart"). */
int ckpt_open(struct ckpt **out, const char *tool, const char *dir, int argc, char **argv,
	      const char *stage_name, char *err, size_t errlen);

/* A stage's start, in one call: ckpt_open, ckpt_restore, then load (the
 * tool's decoder of its own state) with the restored bytes (borrowed for
 * the call) when a checkpoint is resumed. load returns 0, or -1 with a
 * message in err. Returns 0 with *out (NULL when checkpoints are off) and
 * *id (the checkpoint resumed, 0 for a fresh start; when resumed, sets
 * rd_resumed and rd_resumed_dir, frame.h: standard input without a resume
 * frame of that checkpoint and directory before its first record, or at
 * its end, is then a cut stream, not one to go on with); or, after a message
 * on stderr, RTAI_EXIT_FAIL (DIR unusable, or a live stage of the same
 * identity) or RTAI_EXIT_SNAPSHOT (the snapshot refused by ckpt_restore or
 * by load; when refused as a stranger to the pipeline running in DIR, a
 * stage that joined its run after one of its checkpoints completed, its
 * registration is removed, so that pipeline does not wait for it, and the
 * checkpoints its stages wrote while it was registered are marked
 * complete then). */
int ckpt_stage(struct ckpt **out, int64_t *id, const char *tool, const char *dir, int argc,
	       char **argv, const char *stage_name,
	       int (*load)(const uint8_t *p, size_t n, char *err, size_t errlen));

/* For a source (rtai-cat, rtai-kafka), after ckpt_open: records its
 * identity as DIR's source when DIR has none yet, and marks its
 * registration as the source's, which lets this run's checkpoints
 * complete (ckpt_write). Returns 0, or -1 with a
 * message when DIR/source names another identity ("DIR: used by another
 * pipeline, whose source is ...") or on I/O errors. c NULL: returns 0. */
int ckpt_source(struct ckpt *c, char *err, size_t errlen);

/* A source's start after ckpt_open, in one call: ckpt_source, then
 * ckpt_restore into state (the caller's buf, reset and filled; it frees
 * it). Returns 1 with *id when a checkpoint is resumed (announced on
 * stderr), 0 on a fresh start (*id = 0); on a refusal (another
 * pipeline's directory, a snapshot refused) removes the source's
 * registration when DIR is another pipeline's (as ckpt_stage), prints
 * "TOOL: message" on stderr and
 * exits with RTAI_EXIT_SNAPSHOT, as rtai-cat and rtai-kafka both must.
 * c NULL: returns 0. */
int ckpt_source_start(struct ckpt *c, int64_t *id, struct buf *state);

/* Loads this stage's snapshot of the latest complete checkpoint. Returns 1
 * with *id set and state reset and filled with the state's bytes (the
 * caller's buf, which it owns and frees), after announcing "TOOL: resuming
 * from checkpoint N of DIR" on stderr; 0 when there is no complete
 * checkpoint (a fresh start; *id = 0, state empty); -1 with a message naming
 * the file when the snapshot is missing from the checkpoint, truncated,
 * corrupt (checksum), of another format version, or written by another
 * stage identity (RTAI_EXIT_SNAPSHOT is the tool's exit status then).
 * c NULL: returns 0. */
int ckpt_restore(struct ckpt *c, int64_t *id, struct buf *state, char *err, size_t errlen);

/* Writes this stage's snapshot of checkpoint id (>= 1): len bytes at state
 * (not kept) go to a mkstemp(3) file in DIR/ckpt-ID/, written, fsynced,
 * renamed to KEY.snap (under DIR/lock) and the directory fsynced. Then,
 * still under DIR/lock, marks checkpoint id complete when every stage registered in this run has
 * written it, and prunes to the last CKPT_KEEP complete checkpoints.
 * Returns 1 when this write completed the checkpoint, 0 when others are
 * still to write it, -1 with a message on error (disk full, permissions;
 * no source registered in this run: "no source of DIR runs in this
 * pipeline ..., checkpoint N not taken", nothing written; a stage whose
 * snapshot is in the complete checkpoint before id is not registered in
 * this run: "not completed: checkpoint M holds the state of
 * a stage that is not in this run (IDENTITY) ...", as completing id would
 * in the end prune the only copy of that state, Flink's refusal of state
 * no operator takes):
 * nothing complete is touched then, so the previous complete checkpoint
 * stays usable, and the stage declines id (ckpt_settled) so that nobody
 * waits for it. c NULL: returns 0. */
int ckpt_write(struct ckpt *c, int64_t id, const void *state, size_t len, char *err, size_t errlen);

/* Writes this stage's snapshot of checkpoint id in the background: the
 * synchronous part of Flink's asynchronous snapshots here, the rest in a
 * thread. save(b, arg) serializes the state into b (c's own buffer,
 * emptied first and reused, so it allocates nothing once grown) in the
 * calling thread, except the checksums of the images it seals (snap_seal,
 * deferred: snap_defer_begin in snap.h); a writer thread then computes
 * those and does what ckpt_write does (write,
 * fsync, rename, completion) while the stage goes on, so the records wait
 * for the serialization only, not for the disk. The barrier may be
 * forwarded right after this call; checkpoint id completes when the
 * thread has written. The thread starts with every signal blocked, so
 * signals reach the stage's thread as before.
 * One snapshot is in flight per stage: the call first waits for the
 * previous one (ckpt_wait) and fails if that failed. A process killed
 * while the thread writes leaves at most a temporary file, which a later
 * prune removes with its checkpoint.
 * Returns 0 when the write is on its way (c NULL: 0, nothing done), -1
 * with a message when the previous snapshot failed or no thread could be
 * started. */
int ckpt_write_bg(struct ckpt *c, int64_t id, void (*save)(struct buf *b, void *arg), void *arg,
		  char *err, size_t errlen);

/* ckpt_write_bg with a second step: save(b, arg) serializes the start of
 * the state in the calling thread, then fill(b, arg) appends the rest in
 * the writer thread, before the checksums and the write, while the stage
 * goes on with its records (Flink's asynchronous part of a snapshot). The
 * state must stay as it was at the barrier for fill, or fill must see
 * to it: rtai-window's windows do (win_snapshot_finish, win.h). fill
 * always runs once per save: when no thread can be started, in the
 * calling thread before the -1. fill NULL: ckpt_write_bg. With verbose on,
 * ckpt_wait reports fill's time too ("... serialized in S ms (F ms more
 * in the writer thread), written in the background in W ms"). */
int ckpt_write_async(struct ckpt *c, int64_t id, void (*save)(struct buf *b, void *arg),
		     void (*fill)(struct buf *b, void *arg), void *arg, char *err, size_t errlen);

/* With on set, ckpt_wait reports on stderr each snapshot ckpt_write_bg
 * wrote: "TOOL: checkpoint N: snapshot of B bytes serialized in S ms,
 * written in the background in W ms" (B the state's bytes, S the time
 * save took, W the writer thread's, fsync included). For -v and the
 * benchmarks. c NULL: nothing. */
void ckpt_verbose(struct ckpt *c, int on);

/* Waits for the snapshot ckpt_write_bg started, if any (joins its
 * thread). Returns 0 (none in flight, or it was written), -1 with a
 * message naming the checkpoint and the file when it was not; the previous complete
 * checkpoint stays usable either way. A stage calls it before it exits,
 * so that its last checkpoint is in place when the pipeline has ended.
 * c NULL: returns 0. */
int ckpt_wait(struct ckpt *c, char *err, size_t errlen);

/* For a sink that commits a checkpoint outside the pipeline once it is
 * complete (rtai-sink-lake: Flink's two-phase commit, whose commit step
 * runs on notifyCheckpointComplete), after writing its own snapshot of
 * id: whether id is complete, or can still become so in this run.
 * Returns 1 when it is complete; 0 when it is not yet and another stage
 * of the run whose process is alive (registration flock'ed) has still to
 * write its snapshot of id; -1 when it never will: a stage of the run
 * declined it (ckpt_settled), or every stage of the run that has not
 * written id has died (a kill, a crash), or id < 1, or c is NULL. Looked
 * at under DIR/lock, so that a stage's snapshot and the completion it
 * causes are seen together. A DIR/lock that cannot be taken
 * returns 0 (ask again). For the end of a sink's input: it waits while 0
 * (asking every millisecond or so); during the run ckpt_complete is
 * enough. */
int ckpt_outcome(const struct ckpt *c, int64_t id);

/* Whether checkpoint id is complete: 1 yes, 0 not (yet, or pruned). For a
 * source that commits its positions elsewhere (Kafka) once they are safe. */
int ckpt_complete(const struct ckpt *c, int64_t id);

/* For a source that keeps one checkpoint in flight: whether id is settled.
 * Returns 1 when it is complete; -1 when a stage of this run declined it
 * (its snapshot could not be written: ckpt_write, ckpt_write_bg), so it
 * never will be, and the next may be taken (Flink aborts a declined
 * checkpoint and triggers the next), and when c is NULL or id < 1; 0
 * while neither. A stage that dies without declining is not seen here
 * (ckpt_outcome looks for that, under DIR/lock). Reads the directory,
 * without the lock: each marker is one file, created whole. c's own
 * stage's refusal is known without its marker, which a broken directory
 * may refuse too: a source whose own snapshot of id could not be written
 * (ckpt_write_bg, in the writer thread) sees -1 once the thread has
 * failed, before any ckpt_wait. */
int ckpt_settled(const struct ckpt *c, int64_t id);

/* How long a source waits, in ns, before the barrier after a declined
 * checkpoint: every (its interval, ns; at least 1 ms is used) after the
 * first declined in a row, then twice the last wait prev each time, up to
 * 60 s; prev is 0 after a checkpoint that completed. So a full disk
 * costs a snapshot attempt and a warning at a falling rate, not one per
 * interval, and checkpoints resume at their interval once one completes. */
int64_t ckpt_backoff(int64_t prev, int64_t every);

/* The latest complete checkpoint of the directory dir, without registering:
 * returns 1 with *id and *mtime_ns (when DIR/ckpt-N/COMPLETE was written,
 * CLOCK_REALTIME ns), 0 when there is none or dir cannot be read. For
 * reports (rtai-lat --prom). */
int ckpt_latest(const char *dir, int64_t *id, int64_t *mtime_ns);

/* ---- operations on a directory (rtai-checkpoint) ----------------------- */

/* One snapshot file of a checkpoint, as ckpt_list reads its header. */
struct ckpt_snap_info {
	char *key;	/* the file name less ".snap" (the stage's key) */
	char *identity; /* the stage identity in its header, or NULL when the
			 * header cannot be read (not a snapshot, truncated) */
};

/* One checkpoint DIR/ckpt-ID, as ckpt_list finds it. */
struct ckpt_info {
	int64_t id;
	int complete;		/* DIR/ckpt-ID/COMPLETE exists */
	int64_t mtime_ns;	/* CLOCK_REALTIME ns: COMPLETE's mtime when complete,
				 * else the newest file's (the directory's when empty) */
	uint64_t bytes;		/* sizes of the regular files in DIR/ckpt-ID, summed
				 * (snapshots, COMPLETE, temporary files of a write) */
	size_t nsnaps;		/* KEY.snap files: the stages that wrote it */
	struct ckpt_snap_info *snaps; /* nsnaps entries, sorted by key */
	size_t ndeclined;	/* KEY.declined.RUN files: the stages that
				 * declined it (ckpt_settled), of any run */
	char **declined;	/* their KEYs, sorted, owned */
};

/* Lists the checkpoints of the directory dir, without registering and
 * without DIR/lock (a checkpoint pruned meanwhile is left out). dir is a
 * checkpoint directory when it holds DIR/stages/, which every stage's
 * ckpt_open makes. Returns 0 with *out (oldest first, free with
 * ckpt_list_free) and *n (0 and *out NULL when there is none yet), or -1
 * with a message: "DIR: No such file or directory", "DIR: not a
 * checkpoint directory (no stages/ in it)", or a read error naming the
 * file. */
int ckpt_list(const char *dir, struct ckpt_info **out, size_t *n, char *err, size_t errlen);
/* Frees what ckpt_list returned. Accepts NULL. */
void ckpt_list_free(struct ckpt_info *v, size_t n);

/* Removes checkpoints of the directory dir, under DIR/lock (so no stage's
 * completion check or pruning runs meanwhile): every complete checkpoint
 * but the newest keep (>= 1), and every incomplete one older than the
 * newest complete one (a checkpoint that can never complete: the stages
 * that take part in it have moved on). Incomplete checkpoints newer than
 * the newest complete one stay (they may be in progress). Unless force
 * is set, refuses when a stage of dir is live (its DIR/stages/KEY is
 * flock'ed by a running process: tested with flock LOCK_NB), as
 * ckpt_write prunes by itself while stages run. Returns the number of
 * checkpoints removed and, when removed is not NULL, their ids in
 * *removed (newest first; free() it; NULL when none); -1 with a message
 * (as ckpt_list's, or a removal that failed); -2 when a stage is live,
 * with a message naming it. */
int ckpt_prune(const char *dir, int keep, int force, int64_t **removed, char *err,
	       size_t errlen);

/* The directory in use and the stage identity (valid until ckpt_close). */
const char *ckpt_dir(const struct ckpt *c);
/* The directory's identity, "DEV:INODE" in hex (stat(2) at ckpt_open):
 * the same directory whatever path names it, another one otherwise. A
 * source's resume frame carries it (wr_resume, frame.h). Valid until
 * ckpt_close. */
const char *ckpt_dir_id(const struct ckpt *c);
const char *ckpt_identity(const struct ckpt *c);

/* Waits for a snapshot in flight (ckpt_wait, its outcome ignored: call
 * ckpt_wait first to know it), releases the registration's flock (the
 * registration stays, for this run's completion rule) and frees c.
 * Accepts NULL. */
void ckpt_close(struct ckpt *c);

#endif
