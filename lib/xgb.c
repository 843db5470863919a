/* xgb.c - XGBoost models for inference (see xgb.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <xgboost/c_api.h>

#include "buf.h"
#include "cli.h"
#include "xgb.h"

#define XGB_MAX_MODEL (1u << 30)	/* bytes: larger files are refused */
#define UBJ_MAX_DEPTH 64

struct xgb {
	BoosterHandle h;
	size_t nfeat;			/* columns */
	char **names;			/* nfeat names, or NULL */
	char *objective;
	int rounds;
	size_t nout[2];			/* outputs per row: values, margins */
	char conf[2][160];		/* prediction configs: values, margins */
};

static long long predict(struct xgb *m, const float *x, size_t rows, int margin,
			 const float **out, char *err, size_t err_len);

/* ---- messages -------------------------------------------------------------- */

/* XGBoost's last error without its time stamp, source position and stack
 * trace: "[15:21:36] ./src/common/json.cc:407: Expecting: ..." gives
 * "Expecting: ...". */
static void last_error(char *out, size_t n)
{
	const char *e = XGBGetLastError(), *p, *nl;
	size_t len;

	if (e == NULL || *e == '\0')
		e = "unknown error";
	if (e[0] == '[' && (p = strstr(e, "] ")) != NULL)
		e = p + 2;
	p = strchr(e, ' ');
	if (p != NULL && p > e && p[-1] == ':' && memchr(e, '/', (size_t)(p - e)) != NULL)
		e = p + 1;
	nl = strchr(e, '\n');
	len = nl != NULL ? (size_t)(nl - e) : strlen(e);
	while (len > 0 && (e[len - 1] == ' ' || e[len - 1] == ':'))
		len--;
	snprintf(out, n, "%.*s", (int)len, e);
}

/* XGBoost's log lines (warnings about the model, mostly). */
static void log_line(const char *msg)
{
	const char *p;

	if (msg[0] == '[' && (p = strstr(msg, "] ")) != NULL)
		msg = p + 2;
	cli_warn("xgboost: %s", msg);
}

/* ---- UBJSON -------------------------------------------------------------------- */

struct ubj {
	const uint8_t *p;
	size_t n, off;
	char *why;
	size_t why_len;
};

static int ubj_fail(struct ubj *u, const char *what)
{
	snprintf(u->why, u->why_len, "byte %zu: %s", u->off, what);
	return -1;
}

/* Bytes of a fixed-size value of type t, or -1 for a type with a length
 * or contents. */
static int ubj_fixed(uint8_t t)
{
	switch (t) {
	case 'Z': case 'N': case 'T': case 'F': return 0;
	case 'i': case 'U': case 'C': return 1;
	case 'I': return 2;
	case 'l': case 'd': return 4;
	case 'L': case 'D': return 8;
	default: return -1;
	}
}

/* Reads an integer of type t (a length or a count): 0 and *v, or -1. */
static int ubj_int(struct ubj *u, uint8_t t, uint64_t *v)
{
	int w = t == 'i' || t == 'U' ? 1 : t == 'I' ? 2 : t == 'l' ? 4 : t == 'L' ? 8 : 0;
	uint64_t x = 0;

	if (w == 0)
		return ubj_fail(u, "expected an integer marker (i, U, I, l, L) for a length");
	if (u->n - u->off < (size_t)w)
		return ubj_fail(u, "truncated integer");
	for (int i = 0; i < w; i++)
		x = x << 8 | u->p[u->off + (size_t)i];
	if (t != 'U' && (x >> (8 * w - 1)) & 1)
		return ubj_fail(u, "negative length");
	u->off += (size_t)w;
	*v = x;
	return 0;
}

static int ubj_marker(struct ubj *u, uint8_t *t)
{
	if (u->off >= u->n)
		return ubj_fail(u, "truncated: expected a value");
	*t = u->p[u->off++];
	return 0;
}

/* Skips n bytes of contents. */
static int ubj_skip(struct ubj *u, uint64_t n)
{
	if (n > u->n - u->off)
		return ubj_fail(u, "truncated: a length runs past the end");
	u->off += (size_t)n;
	return 0;
}

static int ubj_value(struct ubj *u, uint8_t t, int depth);

/* The length-prefixed bytes of a string or an object key. */
static int ubj_string(struct ubj *u)
{
	uint8_t lt;
	uint64_t len;

	if (ubj_marker(u, &lt) < 0 || ubj_int(u, lt, &len) < 0)
		return -1;
	return ubj_skip(u, len);
}

/* An array ('[') or object ('{') after its opening marker. */
static int ubj_container(struct ubj *u, int object, int depth)
{
	uint8_t type = 0, t, end = object ? '}' : ']';
	uint64_t count = 0;
	int counted = 0;

	if (depth > UBJ_MAX_DEPTH)
		return ubj_fail(u, "nested too deep");
	if (u->off < u->n && u->p[u->off] == '$') {
		u->off++;
		if (ubj_marker(u, &type) < 0)
			return -1;
		if (ubj_fixed(type) <= 0 && type != 'S' && type != 'H' && type != '[' && type != '{')
			return ubj_fail(u, "unsupported container element type");
		if (u->off >= u->n || u->p[u->off] != '#')
			return ubj_fail(u, "a typed container without a count ('#')");
	}
	if (u->off < u->n && u->p[u->off] == '#') {
		u->off++;
		if (ubj_marker(u, &t) < 0 || ubj_int(u, t, &count) < 0)
			return -1;
		counted = 1;
	}
	if (counted && type != 0 && ubj_fixed(type) > 0 && !object) {
		uint64_t w = (uint64_t)ubj_fixed(type);

		if (count > (u->n - u->off) / w)
			return ubj_fail(u, "truncated: a count runs past the end");
		return ubj_skip(u, count * w);
	}
	for (uint64_t i = 0;; i++) {
		if (counted && i == count)
			return 0;
		if (counted && count - i > u->n - u->off)	/* a byte at least each */
			return ubj_fail(u, "truncated: a count runs past the end");
		if (!counted) {
			if (u->off >= u->n)
				return ubj_fail(u, "truncated: a container does not end");
			if (u->p[u->off] == end) {
				u->off++;
				return 0;
			}
		}
		if (object && ubj_string(u) < 0)
			return -1;
		if (type != 0)
			t = type;
		else if (ubj_marker(u, &t) < 0)
			return -1;
		if (ubj_value(u, t, depth + 1) < 0)
			return -1;
	}
}

/* A value whose marker t has been read. */
static int ubj_value(struct ubj *u, uint8_t t, int depth)
{
	int w = ubj_fixed(t);

	while (t == 'N') {		/* no-op */
		if (ubj_marker(u, &t) < 0)
			return -1;
		w = ubj_fixed(t);
	}
	if (w >= 0)
		return ubj_skip(u, (uint64_t)w);
	switch (t) {
	case 'S': case 'H': return ubj_string(u);
	case '[': return ubj_container(u, 0, depth);
	case '{': return ubj_container(u, 1, depth);
	default:
		u->off--;
		return ubj_fail(u, "unknown marker");
	}
}

int xgb_check_ubjson(const uint8_t *p, size_t n, char *why, size_t why_len)
{
	struct ubj u = { .p = p, .n = n, .why = why, .why_len = why_len };

	if (n == 0 || p[0] != '{')
		return ubj_fail(&u, "expected an object ('{')");
	u.off = 1;
	if (ubj_container(&u, 1, 1) < 0)
		return -1;
	if (u.off != n)
		return ubj_fail(&u, "bytes after the end of the model");
	return 0;
}

/* ---- loading ------------------------------------------------------------------- */

/* Reads the whole file into *out. Returns 0, or -1 with a message. */
static int read_file(const char *path, struct buf *out, char *err, size_t n)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0) {
		snprintf(err, n, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(err, n, "%s: is a directory (expected a model file)", path);
		close(fd);
		return -1;
	}
	for (;;) {
		buf_reserve(out, 65536);
		got = read(fd, out->p + out->len, out->cap - out->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		out->len += (size_t)got;
		if (out->len > XGB_MAX_MODEL) {
			snprintf(err, n, "%s: larger than %u bytes, too large for a model", path,
				 XGB_MAX_MODEL);
			close(fd);
			return -1;
		}
	}
	if (got < 0) {
		snprintf(err, n, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* 'j' for JSON, 'u' for UBJSON, 0 for neither. */
static int model_format(const struct buf *b)
{
	size_t i = 0;

	while (i < b->len && (b->p[i] == ' ' || b->p[i] == '\n' || b->p[i] == '\r' || b->p[i] == '\t'))
		i++;
	if (i == b->len || b->p[i] != '{')
		return 0;
	if (i == 0 && b->len > 1 && memchr("iUIlL$#", b->p[1], 7) != NULL)
		return 'u';
	return 'j';
}

/* The objective and the boosted rounds, from the model's configuration. */
static int read_config(struct xgb *m, char *err, size_t n)
{
	bst_ulong len;
	const char *text;
	json_t *root, *name;
	json_error_t je;

	if (XGBoosterSaveJsonConfig(m->h, &len, &text) != 0) {
		last_error(err, n);
		return -1;
	}
	root = json_loadb(text, (size_t)len, 0, &je);
	name = json_object_get(json_object_get(json_object_get(root, "learner"), "objective"), "name");
	m->objective = xstrdup(json_is_string(name) ? json_string_value(name) : "unknown");
	json_decref(root);
	if (XGBoosterBoostedRounds(m->h, &m->rounds) != 0) {
		last_error(err, n);
		return -1;
	}
	return 0;
}

/* Outputs per row: one prediction of a row of missing values. */
static int probe(struct xgb *m, int margin, char *err, size_t n)
{
	float *row = xmalloc(m->nfeat * sizeof(*row));
	const float *out;
	long long got;

	for (size_t i = 0; i < m->nfeat; i++)
		row[i] = NAN;
	got = predict(m, row, 1, margin, &out, err, n);
	free(row);
	if (got < 0)
		return -1;
	if (got == 0) {
		snprintf(err, n, "XGBoost gave no prediction for a row");
		return -1;
	}
	m->nout[margin] = (size_t)got;
	return 0;
}

struct xgb *xgb_load(const char *path, int nthread, char *err, size_t err_len)
{
	struct xgb *m = xcalloc(1, sizeof(*m));
	struct buf b = { 0 };
	char why[200], nt[24];
	bst_ulong nf, nnames;
	const char **names;
	int fmt;

	XGBRegisterLogCallback(log_line);
	if (read_file(path, &b, err, err_len) < 0)
		goto fail;
	fmt = model_format(&b);
	if (fmt == 0) {
		snprintf(err, err_len, "%s: not an XGBoost model in JSON or UBJSON (save it with "
			 "save_model(\"model.json\") or save_model(\"model.ubj\"))", path);
		goto fail;
	}
	if (fmt == 'u' && xgb_check_ubjson(b.p, b.len, why, sizeof(why)) < 0) {
		snprintf(err, err_len, "%s: not a complete UBJSON model: %s", path, why);
		goto fail;
	}
	if (XGBoosterCreate(NULL, 0, &m->h) != 0 ||
	    XGBoosterLoadModelFromBuffer(m->h, b.p, (bst_ulong)b.len) != 0) {
		last_error(why, sizeof(why));
		snprintf(err, err_len, "%s: XGBoost cannot load this %s model: %s", path,
			 fmt == 'j' ? "JSON" : "UBJSON", why);
		goto fail;
	}
	snprintf(nt, sizeof(nt), "%d", nthread);
	if (XGBoosterSetParam(m->h, "nthread", nt) != 0 ||
	    XGBoosterGetNumFeature(m->h, &nf) != 0 ||
	    XGBoosterGetStrFeatureInfo(m->h, "feature_name", &nnames, &names) != 0) {
		last_error(why, sizeof(why));
		snprintf(err, err_len, "%s: %s", path, why);
		goto fail;
	}
	if (nf == 0) {
		snprintf(err, err_len, "%s: the model takes no features (an untrained model?)", path);
		goto fail;
	}
	m->nfeat = (size_t)nf;
	if (nnames == nf) {
		m->names = xcalloc(m->nfeat, sizeof(*m->names));
		for (size_t i = 0; i < m->nfeat; i++)
			m->names[i] = xstrdup(names[i]);
	}
	if (read_config(m, why, sizeof(why)) < 0 || probe(m, 0, why, sizeof(why)) < 0 ||
	    probe(m, 1, why, sizeof(why)) < 0) {
		snprintf(err, err_len, "%s: %s", path, why);
		goto fail;
	}
	buf_free(&b);
	return m;
fail:
	buf_free(&b);
	xgb_free(m);
	return NULL;
}

void xgb_free(struct xgb *m)
{
	if (m == NULL)
		return;
	if (m->h != NULL)
		XGBoosterFree(m->h);
	if (m->names != NULL)
		for (size_t i = 0; i < m->nfeat; i++)
			free(m->names[i]);
	free(m->names);
	free(m->objective);
	free(m);
}

size_t xgb_nfeatures(const struct xgb *m) { return m->nfeat; }
const char *xgb_feature_name(const struct xgb *m, size_t i) { return m->names ? m->names[i] : NULL; }
const char *xgb_objective(const struct xgb *m) { return m->objective; }
int xgb_rounds(const struct xgb *m) { return m->rounds; }
size_t xgb_noutputs(const struct xgb *m, int margin) { return m->nout[margin != 0]; }

/* ---- prediction ------------------------------------------------------------------ */

/* Predicts; returns the number of values XGBoost gave, or -1 with err. */
static long long predict(struct xgb *m, const float *x, size_t rows, int margin,
			 const float **out, char *err, size_t err_len)
{
	/* The array interface (NumPy's __array_interface__, version 3) of x,
	 * and the config: "cache_id": 0 is required by 1.7's in-place
	 * prediction though undocumented (without it: "Invalid cast, from
	 * Null to Integer"); NaN is the missing value. */
	char arr[128];
	const bst_ulong *shape;
	bst_ulong dim, total = 1;

	margin = margin != 0;
	if (m->conf[margin][0] == '\0')
		snprintf(m->conf[margin], sizeof(m->conf[margin]),
			 "{\"type\":%d,\"training\":false,\"iteration_begin\":0,\"iteration_end\":0,"
			 "\"strict_shape\":false,\"missing\":NaN,\"cache_id\":0}", margin);
	snprintf(arr, sizeof(arr), "{\"data\":[%ju,true],\"shape\":[%zu,%zu],\"typestr\":\"<f4\","
		 "\"version\":3}", (uintmax_t)(uintptr_t)x, rows, m->nfeat);
	if (XGBoosterPredictFromDense(m->h, arr, m->conf[margin], NULL, &shape, &dim, out) != 0) {
		last_error(err, err_len);
		return -1;
	}
	for (bst_ulong i = 0; i < dim; i++)
		total *= shape[i];
	return (long long)total;
}

int xgb_predict(struct xgb *m, const float *x, size_t rows, int margin,
		const float **out, char *err, size_t err_len)
{
	long long got = predict(m, x, rows, margin, out, err, err_len);

	if (got < 0)
		return -1;
	if ((unsigned long long)got != (unsigned long long)rows * m->nout[margin != 0]) {
		snprintf(err, err_len, "XGBoost gave %lld values for %zu rows (expected %zu per row)",
			 got, rows, m->nout[margin != 0]);
		return -1;
	}
	return 0;
}
