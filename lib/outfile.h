/* outfile.h - output files that must not be left behind half written.
 *
 * A tool that writes a file through a temporary name registers that name
 * here; if the process exits (exit(), a fatal error) before the rename,
 * the temporary file is removed at exit. A kill -9 cannot be caught: what
 * it leaves is the temporary file, never a half-written final name.
 */
#ifndef RTAI_OUTFILE_H
#define RTAI_OUTFILE_H

/* Registers path (copied) for removal at exit. At most 16 at once; exits
 * 1 with a message beyond that (a tool has a handful of outputs). */
void outfile_track(const char *path);

/* Forgets path (renamed into place, or removed by the caller). Unknown
 * paths and NULL are ignored. */
void outfile_untrack(const char *path);

#endif
