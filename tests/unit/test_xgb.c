/* test_xgb.c - unit tests of lib/xgb: the UBJSON walk on hand-made values,
 * every prefix of a real model refused without a crash (XGBoost 1.7 itself
 * crashes on some), and predictions of a loaded model equal to those of
 * the booster that trained it. */
#include "config.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xgboost/c_api.h>

#include "buf.h"
#include "xgb.h"
#include "tap.h"

static char why[256], err[700];

static int check(const char *p, size_t n)
{
	return xgb_check_ubjson((const uint8_t *)p, n, why, sizeof(why));
}

#define UBJ(s) check(s, sizeof(s) - 1)

static void test_ubjson(void)
{
	is_int(UBJ("{}"), 0, "an empty object");
	is_int(UBJ("{U\x01" "aSU\x02hi}"), 0, "a string member");
	is_int(UBJ("{U\x01" "a[$d#U\x02\0\0\0\0\0\0\0\0}"), 0, "a typed array of float32");
	is_int(UBJ("{U\x01" "a[$d#U\x03\0\0\0\0\0\0\0\0}"), -1, "a typed array cut short");
	is_str(why, "byte 10: truncated: a count runs past the end", "... says where");
	is_int(UBJ("{U\x01" "a[U\x05" "TFZ]}"), 0, "an array of mixed values");
	is_int(UBJ("{U\x01" "a[#U\x02iUU\x05}"), 0, "a counted array");
	is_int(UBJ("{U\x01" "a{#U\x01U\x01" "bT}"), 0, "a counted object");
	is_int(UBJ("{L\0\0\0\0\0\0\0\x01" "aD\0\0\0\0\0\0\0\0}"), 0, "int64 lengths, float64");
	is_int(UBJ("{I\xff\xff" "a}"), -1, "a negative length");
	is_int(UBJ("{U\x01" "a[$Z#U\x05}"), -1, "a typed array of nulls is refused");
	is_int(UBJ("{U\x01" "a[$d]}"), -1, "a typed array without a count");
	is_int(UBJ("{U\x01" "aX}"), -1, "an unknown marker");
	is_str(why, "byte 4: unknown marker", "... says which byte");
	is_int(UBJ("{}}"), -1, "bytes after the end");
	is_int(UBJ("[]"), -1, "the top must be an object");
	is_int(check("", 0), -1, "empty input");
	{
		struct buf b = { 0 };

		for (int i = 0; i < 100; i++)
			buf_puts(&b, "{U\x01" "a");
		buf_putc(&b, 'T');
		for (int i = 0; i < 100; i++)
			buf_putc(&b, '}');
		is_int(check((const char *)b.p, b.len), -1, "nesting 100 deep is refused");
		is_str(why, "byte 257: nested too deep", "... at depth 65");
		buf_free(&b);
	}
}

/* Trains a small booster on y = x0 + x1 > 0 with names a, b, c. */
static BoosterHandle train(void)
{
	enum { N = 300, F = 3 };
	static float xs[N * F], ys[N];
	DMatrixHandle d;
	BoosterHandle h;
	const char *names[] = { "a", "b", "c" };
	unsigned s = 7;

	for (int i = 0; i < N * F; i++) {
		s = s * 1103515245u + 12345u;
		xs[i] = (float)((s >> 8) % 2000) / 1000.0f - 1.0f;
	}
	for (int i = 0; i < N; i++)
		ys[i] = xs[i * F] + xs[i * F + 1] > 0;
	XGDMatrixCreateFromMat(xs, N, F, NAN, &d);
	XGDMatrixSetFloatInfo(d, "label", ys, N);
	XGDMatrixSetStrFeatureInfo(d, "feature_name", names, F);
	XGBoosterCreate(&d, 1, &h);
	XGBoosterSetStrFeatureInfo(h, "feature_name", names, F);
	XGBoosterSetParam(h, "objective", "binary:logistic");
	XGBoosterSetParam(h, "max_depth", "3");
	XGBoosterSetParam(h, "nthread", "1");
	for (int it = 0; it < 5; it++)
		XGBoosterUpdateOneIter(h, it, d);
	XGDMatrixFree(d);
	return h;
}

static void save(BoosterHandle h, const char *format, const char *path, struct buf *copy)
{
	char conf[64];
	bst_ulong len;
	const char *p;
	int fd;

	snprintf(conf, sizeof(conf), "{\"format\":\"%s\"}", format);
	XGBoosterSaveModelToBuffer(h, conf, &len, &p);
	buf_reset(copy);
	buf_append(copy, p, (size_t)len);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, copy->p, copy->len) != (ssize_t)copy->len)
		perror(path);
	if (fd >= 0)
		close(fd);
}

static void test_model(void)
{
	char dir[] = "/tmp/test_xgb.XXXXXX", path[64], cut[64];
	BoosterHandle h = train();
	struct buf ubj = { 0 }, js = { 0 };
	struct xgb *m;
	const float *got, *want;
	float rows[6] = { 0.5f, 0.25f, 0, -0.5f, NAN, 1 };
	const bst_ulong *shape;
	bst_ulong dim;
	int refused = 0, fd;

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/m.ubj", dir);
	snprintf(cut, sizeof(cut), "%s/cut.ubj", dir);
	save(h, "ubj", path, &ubj);
	m = xgb_load(path, 1, err, sizeof(err));
	ok(m != NULL, "a UBJSON model loads: %s", m ? "yes" : err);
	if (m != NULL) {
		is_int(xgb_nfeatures(m), 3, "three features");
		is_str(xgb_feature_name(m, 1), "b", "named as trained");
		is_str(xgb_objective(m), "binary:logistic", "its objective");
		is_int(xgb_rounds(m), 5, "five rounds");
		is_int(xgb_noutputs(m, 0), 1, "one output");
		ok(xgb_predict(m, rows, 2, 0, &got, err, sizeof(err)) == 0, "predicts");
		{
			float a = got[0], b = got[1];
			char arr[128];

			snprintf(arr, sizeof(arr), "{\"data\":[%ju,true],\"shape\":[2,3],\"typestr\":"
				 "\"<f4\",\"version\":3}", (uintmax_t)(uintptr_t)rows);
			XGBoosterPredictFromDense(h, arr, "{\"type\":0,\"training\":false,"
						  "\"iteration_begin\":0,\"iteration_end\":0,"
						  "\"strict_shape\":false,\"missing\":NaN,\"cache_id\":0}",
						  NULL, &shape, &dim, &want);
			ok(a == want[0] && b == want[1], "the same as the trained booster's, bit for "
			   "bit (%.9g %.9g)", a, b);
			ok(a > 0.5f && b < 0.5f, "and sensible");
		}
		xgb_free(m);
	}
	/* Every prefix of the file: refused with a message, never a crash. */
	for (size_t n = 0; n < ubj.len; n++) {
		fd = open(cut, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || write(fd, ubj.p, n) != (ssize_t)n)
			break;
		close(fd);
		m = xgb_load(cut, 1, err, sizeof(err));
		if (m == NULL && strstr(err, "cut.ubj: ") != NULL)
			refused++;
		xgb_free(m);
	}
	is_int(refused, ubj.len, "each of the %zu prefixes of a UBJSON model is refused", ubj.len);

	snprintf(path, sizeof(path), "%s/m.json", dir);
	save(h, "json", path, &js);
	m = xgb_load(path, 2, err, sizeof(err));
	ok(m != NULL && xgb_nfeatures(m) == 3, "a JSON model loads");
	xgb_free(m);
	fd = open(cut, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0 && write(fd, js.p, js.len / 2) == (ssize_t)(js.len / 2))
		close(fd);
	m = xgb_load(cut, 1, err, sizeof(err));
	ok(m == NULL && strstr(err, "XGBoost cannot load this JSON model: ") != NULL,
	   "half a JSON model is refused: %s", err);
	m = xgb_load(dir, 1, err, sizeof(err));
	ok(m == NULL && strstr(err, "is a directory") != NULL, "a directory: %s", err);

	unlink(cut);
	unlink(path);
	snprintf(path, sizeof(path), "%s/m.ubj", dir);
	unlink(path);
	rmdir(dir);
	XGBoosterFree(h);
	buf_free(&ubj);
	buf_free(&js);
}

int main(void)
{
	test_ubjson();
	test_model();
	return tap_done();
}
