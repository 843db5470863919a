/* sig.h - how a tool stops on a signal.
 *
 * SIGINT and SIGTERM set sig_stop; readers (frame.h) then report the end
 * of their input, so a tool flushes, prints its summary and exits as at a
 * normal end. The signal table of rtai(7) says what each signal means.
 */
#ifndef RTAI_SIG_H
#define RTAI_SIG_H

/* Set to 1 by the handler that sig_catch_stop() installs; never reset. */
extern volatile int sig_stop;

/* Set to 1 by SIGHUP (reload what the tool reloads: rtai-join's table) and
 * by SIGUSR1 (take a checkpoint now); the event loop (loop.h) clears them
 * when it hands them to the tool. A tool that neither reloads nor takes
 * checkpoints ignores them: neither signal ends a tool. */
extern volatile int sig_reload;
extern volatile int sig_checkpoint;

/* Installs that handler for SIGINT and SIGTERM, without SA_RESTART so a
 * blocked read() returns EINTR and the reader sees sig_stop, and the
 * handlers that set sig_reload and sig_checkpoint. Cannot fail. */
void sig_catch_stop(void);

/* For a stage that is not a source and stops only at the end of its input
 * (rtai(7)'s signal table: the terminal sends SIGINT to the whole pipeline,
 * the source ends the stream and every later stage writes all of it): the
 * first SIGINT or SIGTERM is ignored, the second ends the process at once
 * with status RTAI_EXIT_ABORT, 130 (_exit: no end-of-stream frame, nothing flushed or
 * committed). sig_stop stays 0; SIGHUP and SIGUSR1 are ignored. The
 * handler has no SA_RESTART: a blocked poll() returns EINTR, which the
 * event loop (loop.h) takes as a wake-up. Cannot fail. */
void sig_catch_drain(void);

#endif
