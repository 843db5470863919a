/* rtime.h - times and durations, parsed and printed in one place.
 *
 * Times are int64 nanoseconds since 1970-01-01T00:00:00Z (negative before);
 * RTAI_TIME_UNSET marks "no time". Durations are non-negative int64 ns.
 * Parsers take a pointer and a length (the text need not be NUL-terminated),
 * return 0 and store the result, or return -1 and point *why at a static
 * reason such as "unknown unit 'x'".
 */
#ifndef RTAI_RTIME_H
#define RTAI_RTIME_H

#include <stddef.h>
#include <stdint.h>

#define RTAI_TIME_UNSET INT64_MIN
#define RTAI_NS_PER_SEC INT64_C(1000000000)

/* Units of an epoch number. AUTO decides by magnitude (ints compared as
 * ints): below 1e11 seconds, below 1e14 milliseconds, below 1e17
 * microseconds, else nanoseconds. So any time from 1973-03-03 to
 * 2262-04-11 (where int64 nanoseconds end; later times are out of range
 * in every unit) is read right in every unit. */
enum rtime_tunit { RTAI_TU_AUTO, RTAI_TU_S, RTAI_TU_MS, RTAI_TU_US, RTAI_TU_NS };

/* The unit AUTO reads an int in (never RTAI_TU_AUTO): for hints such as
 * "these look like milliseconds". */
enum rtime_tunit rtime_tunit_auto(int64_t v);

/* "s", "ms", "us", "ns" or "auto"; returns -1 for anything else. */
int rtime_parse_tunit(const char *s, enum rtime_tunit *out);

/* A duration: "250ms", "10s", "1.5s", "5m", "2h", "1d", "1h30m", or "0".
 * Units: ns, us, ms, s, m, h, d, w. */
int rtime_parse_duration(const char *s, size_t n, int64_t *ns, const char **why);

/* ISO 8601: "2026-11-24", "2026-11-24T10:00:00", "...10:00:00.123456789Z",
 * "...10:00+02:00", a space instead of T. No offset means UTC. */
int rtime_parse_iso(const char *s, size_t n, int64_t *ns, const char **why);

/* An epoch number in the given unit; fails when out of range or not finite. */
int rtime_epoch_i64(int64_t v, enum rtime_tunit u, int64_t *ns, const char **why);
int rtime_epoch_f64(double v, enum rtime_tunit u, int64_t *ns, const char **why);

/* Text that is either an epoch number (in unit u) or ISO 8601. */
int rtime_parse_time(const char *s, size_t n, enum rtime_tunit u, int64_t *ns,
		    const char **why);

/* Formats t as ISO 8601 UTC with milliseconds, or micro/nanoseconds when
 * needed: "2026-11-24T10:00:00.000Z". out must hold RTAI_TIME_BUFSZ bytes.
 * Returns the length written (without the NUL). */
#define RTAI_TIME_BUFSZ 48
size_t rtime_fmt_time(int64_t t, char *out);

/* Formats a duration for people: "1.50ms", "2.000s", "3h0m". out must hold
 * RTAI_TIME_BUFSZ bytes. */
size_t rtime_fmt_duration(int64_t ns, char *out);

/* floor(a / b) and the matching non-negative remainder, for b > 0. */
static inline int64_t rtime_floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && a < 0) ? q - 1 : q;
}

#endif
