/* tap.h - a few macros that print TAP, for the C unit tests of lib/. */
#ifndef RTAI_TAP_H
#define RTAI_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...) do { \
	int ok_ = (cond) ? 1 : 0;	/* evaluated once: cond may have effects */ \
	tap_n++; \
	if (ok_) { \
		printf("ok %d - ", tap_n); \
	} else { \
		tap_failed++; \
		printf("not ok %d - ", tap_n); \
	} \
	printf(__VA_ARGS__); \
	printf("\n"); \
	if (!ok_) \
		printf("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
} while (0)

#define is_int(got, want, ...) do { \
	long long g_ = (long long)(got), w_ = (long long)(want); \
	ok(g_ == w_, __VA_ARGS__); \
	if (g_ != w_) \
		printf("#   got %lld, want %lld\n", g_, w_); \
} while (0)

#define is_str(got, want, ...) do { \
	const char *g_ = (got), *w_ = (want); \
	int same_ = g_ != NULL && strcmp(g_, w_) == 0; \
	ok(same_, __VA_ARGS__); \
	if (!same_) \
		printf("#   got '%s', want '%s'\n", g_ ? g_ : "(null)", w_); \
} while (0)

/* ok() that the gn bytes at gp equal the wn bytes at wp; when not, the
 * first byte where they differ and what follows it on each side. */
#define is_bytes(gp, gn, wp, wn, ...) do { \
	const char *gb_ = (const char *)(gp), *wb_ = (const char *)(wp); \
	size_t gn_ = (gn), wn_ = (wn), j_ = 0; \
	int same_ = gn_ == wn_ && (wn_ == 0 || memcmp(gb_, wb_, wn_) == 0); \
	ok(same_, __VA_ARGS__); \
	if (!same_) { \
		while (j_ < gn_ && j_ < wn_ && gb_[j_] == wb_[j_]) \
			j_++; \
		printf("#   first difference at byte %zu of %zu/%zu: '%.*s' vs '%.*s'\n", j_, gn_, \
		       wn_, (int)(gn_ - j_ < 80 ? gn_ - j_ : 80), gb_ ? gb_ + j_ : "", \
		       (int)(wn_ - j_ < 80 ? wn_ - j_ : 80), wb_ ? wb_ + j_ : ""); \
	} \
} while (0)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed != 0;
}

#endif
