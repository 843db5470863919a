/* fuzz_time.c - libFuzzer harness for times, durations and numbers.
 *
 * Byte 0 picks the epoch unit for rtime_parse_time; the rest is the text,
 * also read as an int64 and a double for the epoch converters. Invariants
 * besides memory safety: durations are never negative and "Nns" parses
 * back to N; an ISO time formats as ISO text that parses back to the same
 * instant (within years 0000 to 9999, which is what the format can say);
 * formatted times and durations fit their buffer; the checked number
 * parsers agree with their range.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "rtime.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

/* ISO text formatted by rtime_fmt_time must read back as t. */
static void round_trip(int64_t t)
{
	char out[RTAI_TIME_BUFSZ];
	const char *why;
	int64_t back;
	size_t n = rtime_fmt_time(t, out);

	CHECK(n < RTAI_TIME_BUFSZ && strlen(out) == n);
	if (t == RTAI_TIME_UNSET || !(out[0] >= '0' && out[0] <= '9') || out[4] != '-')
		return;
	CHECK(rtime_parse_iso(out, n, &back, &why) == 0);
	CHECK(back == t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum rtime_tunit units[] = {
		RTAI_TU_AUTO, RTAI_TU_S, RTAI_TU_MS, RTAI_TU_US, RTAI_TU_NS,
	};
	char tmp[RTAI_TIME_BUFSZ], z[256];
	const char *s, *why;
	int64_t ns, i64, back;
	long long ll;
	double d;
	size_t n;

	if (size < 1)
		return 0;
	s = (const char *)data + 1;
	n = size - 1;

	if (rtime_parse_duration(s, n, &ns, &why) == 0) {
		CHECK(ns >= 0);
		snprintf(z, sizeof(z), "%lldns", (long long)ns);
		CHECK(rtime_parse_duration(z, strlen(z), &back, &why) == 0 && back == ns);
		CHECK(rtime_fmt_duration(ns, tmp) < RTAI_TIME_BUFSZ);
	} else {
		CHECK(why != NULL);
	}
	if (rtime_parse_iso(s, n, &ns, &why) == 0)
		round_trip(ns);
	else
		CHECK(why != NULL);
	if (rtime_parse_time(s, n, units[data[0] % 5], &ns, &why) == 0)
		CHECK(rtime_fmt_time(ns, tmp) < RTAI_TIME_BUFSZ);

	if (n >= 8) {
		memcpy(&i64, s, 8);
		memcpy(&d, s, 8);
		round_trip(i64);
		CHECK(rtime_fmt_duration(i64 < 0 ? -(i64 + 1) : i64, tmp) < RTAI_TIME_BUFSZ);
		if (rtime_epoch_i64(i64, units[data[0] % 5], &ns, &why) == 0)
			round_trip(ns);
		if (rtime_epoch_f64(d, units[data[0] % 5], &ns, &why) == 0)
			round_trip(ns);
	}

	if (n < sizeof(z)) {
		memcpy(z, s, n);
		z[n] = '\0';
		if (cli_parse_int(z, -1000, 1000000, &ll, &why) == 0)
			CHECK(ll >= -1000 && ll <= 1000000);
		if (cli_parse_double(z, &d, &why) == 0)
			CHECK(isfinite(d));
	}
	return 0;
}
