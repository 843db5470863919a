/* cli.h - conventions shared by every rtai tool: exit codes, messages,
 * checked number parsing.
 *
 * Messages go to stderr as "rtai-NAME: where: what". cli_progname is set
 * once by cli_init() from the tool's name, never from argv[0], so a message
 * names the tool however it was invoked.
 */
#ifndef RTAI_CLI_H
#define RTAI_CLI_H

#include <stdint.h>
#include <stdio.h>

/* Exit statuses: one table for every tool, repeated in each man page's
 * EXIT STATUS section and in rtai(7). */
enum {
	RTAI_EXIT_OK = 0,	/* success */
	RTAI_EXIT_FAIL = 1,	/* runtime error: bad input, I/O, a server */
	RTAI_EXIT_USAGE = 2,	/* bad options or arguments */
	RTAI_EXIT_SLO = 3,	/* rtai-lat: a service-level objective breached */
	RTAI_EXIT_CUT = 4,	/* an input stream was cut: its writer promised an
				 * end-of-stream frame and ended without one
				 * (rtai-record(5)); nothing was published as final */
	RTAI_EXIT_ALLDROP = 5,	/* records came in and every one was dropped,
				 * skipped or dead-lettered */
	RTAI_EXIT_SNAPSHOT = 6,	/* a checkpoint snapshot was refused (corrupt,
				 * foreign, taken with other options) */
	RTAI_EXIT_ABORT = 130,	/* aborted by a second SIGINT (128 + SIGINT) */
};

extern const char *cli_progname;	/* "rtai-cat", ... */

/* Sets the program name (and argv[0], so getopt's messages name the tool
 * too), ignores SIGPIPE (a closed pipe is then seen as EPIPE and ends the
 * tool quietly) and makes stderr line-buffered (64 KiB): each line leaves
 * in one write(2) at its newline, so the stages of a pipeline writing to
 * one file never split each other's lines; text without a newline (a
 * progress line redrawn with \r) needs fflush(stderr). */
void cli_init(const char *name, char **argv);
/* After getopt's own message: "Try 'rtai-NAME --help'...", exit 2. */
void cli_usage_hint(void) __attribute__((noreturn));

/* "rtai-NAME: " + message + "\n" on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* cli_warn() with ": strerror(errno)" appended. */
void cli_warnx_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* cli_warn(), then exit(status). */
void cli_die(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
/* Usage error: message, a hint to run --help, exit 2. */
void cli_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* Prints "rtai-NAME (rtai) VERSION" to stdout and exits 0. */
void cli_version(void) __attribute__((noreturn));

/* Checked integer parse: the whole of s must be a decimal integer within
 * [min, max]. Returns 0 and stores *out, or -1 with a reason in *why
 * (a static string). */
int cli_parse_int(const char *s, long long min, long long max,
		   long long *out, const char **why);
/* Checked double parse: finite, whole string. Same contract. */
int cli_parse_double(const char *s, double *out, const char **why);

/* Option helpers: parse or exit 2 naming the option. */
long long cli_opt_int(const char *opt, const char *arg, long long min,
		       long long max);
double cli_opt_double(const char *opt, const char *arg, double min,
		       double max);
/* A duration such as "250ms" or "1h", in ns; exits 2 when bad. */
int64_t cli_opt_duration(const char *opt, const char *arg);

/* Monotonic and wall clocks in ns. */
int64_t cli_now_ns(void);	/* CLOCK_REALTIME */
int64_t cli_mono_ns(void);	/* CLOCK_MONOTONIC */
/* Sleeps until the CLOCK_MONOTONIC time t (ns); returns early on a signal. */
void cli_sleep_until_mono(int64_t t);

#endif
