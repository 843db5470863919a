/* sig.h - how a tool stops on a signal: the signal table of rtai(7).
 *
 * A tool is a source (it reads files, a terminal, a generator or Kafka:
 * nothing upstream will end its input) or a stage (it reads a pipe from
 * an upstream tool). Ctrl-C sends SIGINT to every process of the pipeline
 * at once, so:
 *
 *   SIGINT, SIGTERM (first)  source: sig_stop is set; the tool stops
 *                            reading, writes what it holds, ends its
 *                            stream with the end-of-stream frame, exits 0.
 *                            stage: sig_draining is set and nothing else:
 *                            the stage reads on until its input ends (its
 *                            source drains), so no record that left the
 *                            source is lost.
 *   SIGINT (second)          abort at once: _exit(130) (RTAI_EXIT_ABORT),
 *                            no end-of-stream frame, so every later stage
 *                            sees a cut stream.
 *   SIGUSR1                  sig_checkpoint (take a checkpoint now).
 *   SIGHUP                   sig_reload (reload what the tool reloads).
 *
 * Neither SIGUSR1 nor SIGHUP ever ends a tool. SIGTERM stops as SIGINT
 * does until checkpoints (and savepoints) exist. The peers: Flink's
 * "stop with savepoint" drains the sources first; a shell pipeline's
 * SIGINT reaches every process of the foreground process group (POSIX
 * 2017, General Terminal Interface 11.1.9).
 */
#ifndef RTAI_SIG_H
#define RTAI_SIG_H

/* Set to 1 in a source by its first SIGINT or SIGTERM; never reset.
 * Readers (frame.h) then report the end of their input. */
extern volatile int sig_stop;

/* Set to 1 in a stage by its first SIGINT or SIGTERM; never reset. The
 * stage goes on; a tool may say so with -v. */
extern volatile int sig_draining;

/* Set to 1 by SIGHUP (reload what the tool reloads: rtai-join's table) and
 * by SIGUSR1 (take a checkpoint now); the event loop (loop.h) clears them
 * when it hands them to the tool. A tool that neither reloads nor takes
 * checkpoints ignores them: neither signal ends a tool. */
extern volatile int sig_reload;
extern volatile int sig_checkpoint;

/* Installs the handlers of the table above, without SA_RESTART so that a
 * blocked read() or poll() returns EINTR. The role comes from standard
 * input: a pipe or a socket makes the tool a stage, anything else (a
 * file, a terminal, /dev/null) a source. Cannot fail. */
void sig_catch_stop(void);

/* Makes the tool a source (1) or a stage (0) whatever its standard input
 * is: rtai-cat and rtai-parse with file operands, rtai-gen and rtai-kafka
 * are sources. Call after sig_catch_stop(). */
void sig_set_source(int source);

/* For a tool that reads its file operands (argc of them, argv[0..argc-1]):
 * a source when there is at least one and none is "-" (standard input);
 * otherwise the role stays as standard input made it. */
void sig_from_operands(int argc, char *const argv[]);

#endif
