/* bench-xgb.c - XGBoost's own prediction throughput, the peer of
 * rtai-score in scripts/bench: the same model, the same feature rows
 * (float32, row after row, in a file), through the C API that rtai-score
 * uses, one thread.
 *
 *   bench-xgb MODEL MATRIX NFEAT batch   predict every row, 256 rows a call
 *   bench-xgb MODEL MATRIX NFEAT single  predict rows one a call (at most
 *                                        20000): prints the mean us a call
 *
 * Built by scripts/bench: cc -O2 bench-xgb.c -lxgboost.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xgboost/c_api.h>

#define BATCH 256

static void check(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "bench-xgb: %s: %s\n", what, XGBGetLastError());
		exit(1);
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const float *predict(BoosterHandle h, const float *x, size_t rows, size_t nf)
{
	static const char conf[] = "{\"type\":0,\"training\":false,\"iteration_begin\":0,"
		"\"iteration_end\":0,\"strict_shape\":false,\"missing\":NaN,\"cache_id\":0}";
	char arr[128];
	const bst_ulong *shape;
	bst_ulong dim;
	const float *out;

	snprintf(arr, sizeof(arr), "{\"data\":[%ju,true],\"shape\":[%zu,%zu],\"typestr\":\"<f4\","
		 "\"version\":3}", (uintmax_t)(uintptr_t)x, rows, nf);
	check(XGBoosterPredictFromDense(h, arr, conf, NULL, &shape, &dim, &out), "predict");
	return out;
}

int main(int argc, char **argv)
{
	BoosterHandle h;
	FILE *fp;
	float *x;
	size_t nf, rows, cap = 1 << 20, n = 0, got;
	double sum = 0, t0;

	if (argc != 5) {
		fprintf(stderr, "usage: bench-xgb MODEL MATRIX NFEAT batch|single\n");
		return 2;
	}
	nf = (size_t)strtoul(argv[3], NULL, 10);
	fp = fopen(argv[2], "rb");
	if (fp == NULL || nf == 0) {
		perror(argv[2]);
		return 1;
	}
	x = malloc(cap * sizeof(*x));
	while ((got = fread(x + n, sizeof(*x), cap - n, fp)) > 0) {
		n += got;
		if (n == cap)
			x = realloc(x, (cap *= 2) * sizeof(*x));
	}
	fclose(fp);
	rows = n / nf;
	check(XGBoosterCreate(NULL, 0, &h), "create");
	check(XGBoosterLoadModel(h, argv[1]), argv[1]);
	check(XGBoosterSetParam(h, "nthread", "1"), "nthread");
	if (strcmp(argv[4], "single") == 0) {
		size_t calls = rows < 20000 ? rows : 20000;

		t0 = now();
		for (size_t i = 0; i < calls; i++)
			sum += predict(h, x + i * nf, 1, nf)[0];
		printf("%.2f\n", (now() - t0) / (double)calls * 1e6);
	} else {
		for (size_t i = 0; i < rows; i += BATCH) {
			size_t k = rows - i < BATCH ? rows - i : BATCH;
			const float *out = predict(h, x + i * nf, k, nf);

			for (size_t j = 0; j < k; j++)
				sum += out[j];
		}
		fprintf(stderr, "bench-xgb: %zu rows, mean prediction %.6f\n", rows, sum / (double)rows);
	}
	XGBoosterFree(h);
	free(x);
	return 0;
}
