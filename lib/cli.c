/* cli.c - messages, exit codes, checked numbers, clocks. */
#include "config.h"
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rtime.h"

const char *cli_progname = "rtai";

void cli_init(const char *name, char **argv)
{
	static char errbuf[1 << 16];	/* one line's room, however long */

	cli_progname = name;
	if (argv != NULL && argv[0] != NULL)
		argv[0] = (char *)name;
	signal(SIGPIPE, SIG_IGN);
	/* Line-buffered stderr: a line printed in pieces (a summary built
	 * field by field) leaves in one write(2) at its newline, so another
	 * stage writing to the same file cannot split it. */
	setvbuf(stderr, errbuf, _IOLBF, sizeof(errbuf));
}

static void vwarn(const char *fmt, va_list ap, int err)
{
	char msg[4096];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (err)
		fprintf(stderr, "%s: %s: %s\n", cli_progname, msg, strerror(err));
	else
		fprintf(stderr, "%s: %s\n", cli_progname, msg);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap, 0);
	va_end(ap);
}

void cli_warnx_errno(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap, err);
	va_end(ap);
}

void cli_die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap, 0);
	va_end(ap);
	exit(status);
}

void cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap, 0);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", cli_progname);
	exit(RTAI_EXIT_USAGE);
}

void cli_usage_hint(void)
{
	fprintf(stderr, "Try '%s --help' for more information.\n", cli_progname);
	exit(RTAI_EXIT_USAGE);
}

void cli_version(void)
{
	printf("%s (rtai) %s\n", cli_progname, PACKAGE_VERSION);
	exit(RTAI_EXIT_OK);
}

int cli_parse_int(const char *s, long long min, long long max,
		   long long *out, const char **why)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0') {
		*why = "empty";
		return -1;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *end != '\0') {
		*why = "not an integer";
		return -1;
	}
	if (errno == ERANGE || v < min) {
		*why = v < 0 || errno == ERANGE ? "out of range" : "too small";
		return -1;
	}
	if (v > max) {
		*why = "too large";
		return -1;
	}
	*out = v;
	return 0;
}

int cli_parse_double(const char *s, double *out, const char **why)
{
	char *end;
	double v;

	if (s == NULL || *s == '\0') {
		*why = "empty";
		return -1;
	}
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0') {
		*why = "not a number";
		return -1;
	}
	if (errno == ERANGE || !isfinite(v)) {
		*why = "out of range";
		return -1;
	}
	*out = v;
	return 0;
}

long long cli_opt_int(const char *opt, const char *arg, long long min,
		       long long max)
{
	const char *why;
	long long v;

	if (cli_parse_int(arg, min, max, &v, &why) < 0)
		cli_usage_error("%s: '%s': %s (expected an integer from %lld to %lld)",
				 opt, arg, why, min, max);
	return v;
}

double cli_opt_double(const char *opt, const char *arg, double min,
		       double max)
{
	const char *why;
	double v;

	if (cli_parse_double(arg, &v, &why) < 0)
		cli_usage_error("%s: '%s': %s", opt, arg, why);
	if (v < min || v > max)
		cli_usage_error("%s: '%s': out of range (expected %g to %g)",
				 opt, arg, min, max);
	return v;
}

int64_t cli_opt_duration(const char *opt, const char *arg)
{
	const char *why;
	int64_t ns;

	if (rtime_parse_duration(arg, strlen(arg), &ns, &why) < 0)
		cli_usage_error("%s: '%s': %s (expected a duration such as 250ms, 10s, 5m, 2h, 1d)",
				 opt, arg, why);
	return ns;
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t cli_now_ns(void) { return clock_ns(CLOCK_REALTIME); }
int64_t cli_mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

void cli_sleep_until_mono(int64_t t)
{
	struct timespec ts = { t / 1000000000, t % 1000000000 };

	if (t <= 0)
		return;
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}
