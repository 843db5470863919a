/* outfile.h - creating output files safely (issue #13 items 12 and 13).
 *
 * Two kinds of output file:
 * - streams that grow for as long as the pipeline runs (rtai-cat -o
 *   captures, --dlq, --late) are written in place, so a kill -9 leaves
 *   every frame flushed so far readable (rtai-record(5): read up to the
 *   last whole frame, then reported cut): outfile_open_stream();
 * - reports rewritten whole (--prom, --svg, --json, --hgrm) go through a
 *   temporary file renamed over the name, so a reader sees the old report
 *   or the new one, never half: outfile_replace().
 * Neither ever opens a path through a symbolic link planted there, nor a
 * temporary file whose name another user could guess (mkstemp, as
 * OpenBSD's and glibc's do). A tool that keeps a temporary name registers
 * it with outfile_track(), so an exit before the rename removes it.
 */
#ifndef RTAI_OUTFILE_H
#define RTAI_OUTFILE_H

#include <stddef.h>

/* Opens path for a stream written in place. The file is created
 * exclusively (O_CREAT | O_EXCL | O_NOFOLLOW): never through a symbolic
 * link, never onto a file that appears meanwhile. An existing regular file
 * or symbolic link at path is replaced, as a shell's '>' replaces: removed,
 * then created anew, so a link's target is never written. An existing path
 * that is not a regular file after links (a FIFO, a device, /dev/stdout) is
 * written as it is. Returns the descriptor (close-on-exec), or -1 with
 * errno set (EISDIR for a directory). */
int outfile_open_stream(const char *path);

/* Replaces path with the n bytes at p: they go to a temporary file made by
 * mkstemp(3) in path's directory (an unpredictable name, created
 * exclusively, mode 0666 less the umask once written), which is renamed over
 * path. A path that exists and is not a regular file (a FIFO, /dev/stdout)
 * is written in place instead. Returns 0, or -1 with errno set and the
 * temporary file removed. */
int outfile_replace(const char *path, const void *p, size_t n);

/* Writes all n bytes of p to fd, retrying short writes and EINTR (POSIX
 * write(2) may write less than asked). Returns 0, or -1 with errno set;
 * after an error, how much was written is unknown. */
int outfile_write_all(int fd, const void *p, size_t n);

/* Registers path (copied) for removal at exit. At most 16 at once; exits
 * 1 with a message beyond that (a tool has a handful of outputs). */
void outfile_track(const char *path);

/* Forgets path (renamed into place, or removed by the caller). Unknown
 * paths and NULL are ignored. */
void outfile_untrack(const char *path);

#endif
