/* rtime.c - times and durations. */
#include "rtime.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

int rtime_parse_tunit(const char *s, enum rtime_tunit *out)
{
	static const struct { const char *name; enum rtime_tunit u; } t[] = {
		{ "auto", RTAI_TU_AUTO }, { "s", RTAI_TU_S }, { "ms", RTAI_TU_MS },
		{ "us", RTAI_TU_US }, { "ns", RTAI_TU_NS },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(s, t[i].name) == 0) {
			*out = t[i].u;
			return 0;
		}
	return -1;
}

static int64_t unit_ns(const char *u, size_t n)
{
	static const struct { const char *name; int64_t ns; } t[] = {
		{ "ns", 1 }, { "us", 1000 }, { "ms", 1000000 },
		{ "s", RTAI_NS_PER_SEC }, { "m", 60 * RTAI_NS_PER_SEC },
		{ "h", 3600 * RTAI_NS_PER_SEC }, { "d", 86400 * RTAI_NS_PER_SEC },
		{ "w", 7 * 86400 * RTAI_NS_PER_SEC },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strlen(t[i].name) == n && memcmp(u, t[i].name, n) == 0)
			return t[i].ns;
	return 0;
}

int rtime_parse_duration(const char *s, size_t n, int64_t *ns, const char **why)
{
	const char *p = s, *end = s + n;
	int64_t total = 0;

	if (n == 0) {
		*why = "empty duration";
		return -1;
	}
	if (n == 1 && s[0] == '0') {
		*ns = 0;
		return 0;
	}
	while (p < end) {
		int64_t ip = 0, mult;
		double frac = 0, scale = 0.1;
		const char *u;
		int digits = 0;

		while (p < end && *p >= '0' && *p <= '9') {
			if (ip > (INT64_MAX - 9) / 10) {
				*why = "duration too large";
				return -1;
			}
			ip = ip * 10 + (*p++ - '0');
			digits++;
		}
		if (p < end && *p == '.') {
			p++;
			while (p < end && *p >= '0' && *p <= '9') {
				frac += (*p++ - '0') * scale;
				scale /= 10;
				digits++;
			}
		}
		if (digits == 0) {
			*why = p < end && *p == '-' ? "negative duration" : "expected a number";
			return -1;
		}
		u = p;
		while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			p++;
		if (p == u) {
			*why = "missing unit (ns, us, ms, s, m, h, d)";
			return -1;
		}
		mult = unit_ns(u, (size_t)(p - u));
		if (mult == 0) {
			*why = "unknown unit (expected ns, us, ms, s, m, h, d)";
			return -1;
		}
		if (ip > INT64_MAX / mult || INT64_MAX - ip * mult < (int64_t)(frac * mult) ||
		    INT64_MAX - ip * mult - (int64_t)(frac * mult) < total) {
			*why = "duration too large";
			return -1;
		}
		total += ip * mult + (int64_t)llround(frac * (double)mult);
	}
	*ns = total;
	return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	*y = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y += *m <= 2;
}

static int digits(const char **p, const char *end, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (*p >= end || **p < '0' || **p > '9')
			return -1;
		v = v * 10 + (*(*p)++ - '0');
	}
	*out = v;
	return 0;
}

int rtime_parse_iso(const char *s, size_t n, int64_t *ns, const char **why)
{
	const char *p = s, *end = s + n;
	int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0;
	int64_t frac = 0, days, t;
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	*why = "not an ISO 8601 time (expected e.g. 2026-11-24T10:00:00Z)";
	if (digits(&p, end, 4, &y) < 0 || p >= end || *p++ != '-' ||
	    digits(&p, end, 2, &mo) < 0 || p >= end || *p++ != '-' ||
	    digits(&p, end, 2, &d) < 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))) {
		*why = "date out of range";
		return -1;
	}
	if (p < end && (*p == 'T' || *p == 't' || *p == ' ')) {
		p++;
		if (digits(&p, end, 2, &h) < 0 || p >= end || *p++ != ':' ||
		    digits(&p, end, 2, &mi) < 0)
			return -1;
		if (p < end && *p == ':') {
			p++;
			if (digits(&p, end, 2, &sec) < 0)
				return -1;
			if (p < end && (*p == '.' || *p == ',')) {
				int64_t scale = 100000000;
				int nd = 0;

				p++;
				while (p < end && *p >= '0' && *p <= '9') {
					frac += (*p++ - '0') * scale;
					scale /= 10;
					nd++;
				}
				if (nd == 0)
					return -1;
			}
		}
		if (h > 24 || mi > 59 || sec > 60 || (h == 24 && (mi || sec || frac))) {
			*why = "time of day out of range";
			return -1;
		}
		if (p < end) {
			if (*p == 'Z' || *p == 'z') {
				p++;
			} else if (*p == '+' || *p == '-') {
				int sign = *p++ == '-' ? -1 : 1;

				if (digits(&p, end, 2, &oh) < 0)
					return -1;
				if (p < end && *p == ':')
					p++;
				if (p < end && digits(&p, end, 2, &om) < 0)
					return -1;
				if (oh > 23 || om > 59) {
					*why = "UTC offset out of range";
					return -1;
				}
				oh *= sign;
				om *= sign;
			} else {
				return -1;
			}
		}
	}
	if (p != end)
		return -1;
	days = days_from_civil(y, (unsigned)mo, (unsigned)d);
	t = days * 86400 + h * 3600 + mi * 60 + sec - (oh * 3600 + om * 60);
	/* Every time rtime_fmt_time() prints reads back: the whole int64 range
	 * but RTAI_TIME_UNSET, 1677-09-21T00:12:43.145224193Z to
	 * 2262-04-11T23:47:16.854775807Z. */
	if (t > INT64_MAX / RTAI_NS_PER_SEC || t < INT64_MIN / RTAI_NS_PER_SEC - 1 ||
	    (t == INT64_MAX / RTAI_NS_PER_SEC && frac > INT64_MAX % RTAI_NS_PER_SEC) ||
	    (t == INT64_MIN / RTAI_NS_PER_SEC - 1 &&
	     frac <= RTAI_NS_PER_SEC + INT64_MIN % RTAI_NS_PER_SEC)) {
		*why = "time out of range";
		return -1;
	}
	/* t * 1e9 alone may not fit when t < 0; (t + 1) * 1e9 always does. */
	*ns = t < 0 ? (t + 1) * RTAI_NS_PER_SEC - (RTAI_NS_PER_SEC - frac)
		    : t * RTAI_NS_PER_SEC + frac;
	return 0;
}

/* The unit of an int by its magnitude, compared as ints: as a double,
 * 99999999999999992 would round up to 1e17. */
enum rtime_tunit rtime_tunit_auto(int64_t v)
{
	uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	if (mag < UINT64_C(100000000000))
		return RTAI_TU_S;
	if (mag < UINT64_C(100000000000000))
		return RTAI_TU_MS;
	if (mag < UINT64_C(100000000000000000))
		return RTAI_TU_US;
	return RTAI_TU_NS;
}

static enum rtime_tunit auto_unit(double mag)
{
	mag = fabs(mag);
	if (mag < 1e11)
		return RTAI_TU_S;
	if (mag < 1e14)
		return RTAI_TU_MS;
	if (mag < 1e17)
		return RTAI_TU_US;
	return RTAI_TU_NS;
}

static int64_t tunit_ns(enum rtime_tunit u)
{
	switch (u) {
	case RTAI_TU_S: return RTAI_NS_PER_SEC;
	case RTAI_TU_MS: return 1000000;
	case RTAI_TU_US: return 1000;
	default: return 1;
	}
}

int rtime_epoch_i64(int64_t v, enum rtime_tunit u, int64_t *ns, const char **why)
{
	int64_t m;

	if (u == RTAI_TU_AUTO)
		u = rtime_tunit_auto(v);
	m = tunit_ns(u);
	if (v > INT64_MAX / m || v < (INT64_MIN + 1) / m) {
		*why = "time out of range";
		return -1;
	}
	*ns = v * m;
	return 0;
}

int rtime_epoch_f64(double v, enum rtime_tunit u, int64_t *ns, const char **why)
{
	double r;

	if (!isfinite(v)) {
		*why = "time is not a finite number";
		return -1;
	}
	if (u == RTAI_TU_AUTO)
		u = auto_unit(v);
	r = v * (double)tunit_ns(u);
	if (!(r < 9.2e18 && r > -9.2e18)) {
		*why = "time out of range";
		return -1;
	}
	/* Whole units and the fraction apart: a double of nanoseconds near
	 * 2026 is only good to 256 ns, while 1795514400.25 s is exact. */
	{
		double whole = floor(v);
		int64_t m = tunit_ns(u);

		*ns = (int64_t)whole * m + (int64_t)llround((v - whole) * (double)m);
	}
	return 0;
}

int rtime_parse_time(const char *s, size_t n, enum rtime_tunit u, int64_t *ns,
		    const char **why)
{
	char tmp[64], *end;
	size_t i = 0;
	int isint = 1;

	if (n > 0 && n < sizeof(tmp)) {
		if (s[0] == '-' || s[0] == '+')
			i = 1;
		for (; i < n; i++) {
			if (s[i] == '.' || s[i] == 'e' || s[i] == 'E')
				isint = 0;
			else if (s[i] < '0' || s[i] > '9')
				break;
		}
		if (i == n && !(n == 1 && (s[0] == '-' || s[0] == '+'))) {
			memcpy(tmp, s, n);
			tmp[n] = '\0';
			if (isint) {
				long long v;

				errno = 0;
				v = strtoll(tmp, &end, 10);
				if (errno == ERANGE) {
					*why = "time out of range";
					return -1;
				}
				return rtime_epoch_i64(v, u, ns, why);
			}
			return rtime_epoch_f64(strtod(tmp, &end), u, ns, why);
		}
	}
	return rtime_parse_iso(s, n, ns, why);
}

size_t rtime_fmt_time(int64_t t, char *out)
{
	int64_t secs = rtime_floordiv(t, RTAI_NS_PER_SEC);
	int64_t frac = t % RTAI_NS_PER_SEC;	/* secs * 1e9 may not fit */
	int64_t days = rtime_floordiv(secs, 86400), sod = secs - days * 86400, y;
	unsigned m, d;
	int n;

	if (t == RTAI_TIME_UNSET)
		return (size_t)snprintf(out, RTAI_TIME_BUFSZ, "unset");
	if (frac < 0)
		frac += RTAI_NS_PER_SEC;
	civil_from_days(days, &y, &m, &d);
	n = snprintf(out, RTAI_TIME_BUFSZ, "%04lld-%02u-%02uT%02d:%02d:%02d",
		     (long long)y, m, d, (int)(sod / 3600), (int)(sod / 60 % 60),
		     (int)(sod % 60));
	if (frac % 1000000 == 0)
		n += snprintf(out + n, RTAI_TIME_BUFSZ - n, ".%03lldZ", (long long)(frac / 1000000));
	else if (frac % 1000 == 0)
		n += snprintf(out + n, RTAI_TIME_BUFSZ - n, ".%06lldZ", (long long)(frac / 1000));
	else
		n += snprintf(out + n, RTAI_TIME_BUFSZ - n, ".%09lldZ", (long long)frac);
	return (size_t)n;
}

size_t rtime_fmt_duration(int64_t ns, char *out)
{
	double v = (double)ns;

	if (ns < 1000)
		return (size_t)snprintf(out, RTAI_TIME_BUFSZ, "%lldns", (long long)ns);
	if (ns < 1000000)
		return (size_t)snprintf(out, RTAI_TIME_BUFSZ, "%.2fus", v / 1e3);
	if (ns < RTAI_NS_PER_SEC)
		return (size_t)snprintf(out, RTAI_TIME_BUFSZ, "%.2fms", v / 1e6);
	if (ns < 60 * RTAI_NS_PER_SEC)
		return (size_t)snprintf(out, RTAI_TIME_BUFSZ, "%.3fs", v / 1e9);
	return (size_t)snprintf(out, RTAI_TIME_BUFSZ, "%lldm%02llds",
				(long long)(ns / (60 * RTAI_NS_PER_SEC)),
				(long long)(ns / RTAI_NS_PER_SEC % 60));
}
