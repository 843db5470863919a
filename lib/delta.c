/* delta.c - the Delta Lake transaction log (delta.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "delta.h"
#include "outfile.h"

void delta_init(struct delta_table *t, const char *dir)
{
	memset(t, 0, sizeof(*t));
	t->dir = xstrdup(dir);
	t->version = -1;
	t->meta_version = -1;
	t->live = json_object();
	t->known = json_object();
	t->txn = json_object();
}

void delta_free(struct delta_table *t)
{
	if (t == NULL)
		return;
	free(t->dir);
	json_decref(t->protocol);
	json_decref(t->meta);
	json_decref(t->live);
	json_decref(t->known);
	json_decref(t->txn);
	t->dir = NULL;
	t->protocol = t->meta = t->live = t->known = t->txn = NULL;
}

static int fail(struct delta_table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int fail(struct delta_table *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->err, sizeof(t->err), fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- paths ------------------------------------------------------------------ */

static const char hex[] = "0123456789ABCDEF";

static void pct(struct buf *out, uint8_t c)
{
	buf_putc(out, '%');
	buf_putc(out, (uint8_t)hex[c >> 4]);
	buf_putc(out, (uint8_t)hex[c & 15]);
}

void delta_hive_escape(struct buf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)s[i];

		if (c < 0x20 || c == 0x7f || strchr("\"#%'*/:=?\\{[]^", c) != NULL)
			pct(out, c);
		else
			buf_putc(out, c);
	}
}

void delta_uri_encode(struct buf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)s[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    (c != 0 && strchr("-._~/=", c) != NULL))
			buf_putc(out, c);
		else
			pct(out, c);
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int delta_uri_decode(struct buf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			buf_putc(out, (uint8_t)s[i]);
			continue;
		}
		if (i + 2 >= n)
			return -1;
		int h = hexval(s[i + 1]), l = hexval(s[i + 2]);

		if (h < 0 || l < 0)
			return -1;
		buf_putc(out, (uint8_t)(h << 4 | l));
		i += 2;
	}
	return 0;
}

void delta_uuid(char out[37])
{
	uint8_t r[16];
	size_t got = 0;

	while (got < sizeof(r)) {
		ssize_t k = getrandom(r + got, sizeof(r) - got, 0);

		if (k > 0)
			got += (size_t)k;
	}
	r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
	r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11],
		 r[12], r[13], r[14], r[15]);
}

/* ---- replay -------------------------------------------------------------------- */

/* The canonical key of an action's path: decoded, then encoded again by
 * delta_uri_encode() (writers differ in what they escape). */
static int decoded(struct delta_table *t, json_t *action, struct buf *b)
{
	const char *p = json_string_value(json_object_get(action, "path"));
	struct buf d = { 0 };
	int rc = 0;

	buf_reset(b);
	if (p == NULL || delta_uri_decode(&d, p, strlen(p)) < 0)
		rc = fail(t, "a path that is missing or badly URI-encoded");
	else
		delta_uri_encode(b, (const char *)d.p, d.len);
	buf_putc(b, 0);
	buf_free(&d);
	return rc;
}

/* Applies one action (a line of a commit) to t. */
static int apply(struct delta_table *t, json_t *line, int64_t version)
{
	const char *key;
	json_t *v;
	struct buf b = { 0 };
	int rc = 0;

	if (!json_is_object(line))
		return fail(t, "expected an action object");
	json_object_foreach(line, key, v) {
		if (strcmp(key, "protocol") == 0) {
			json_decref(t->protocol);
			t->protocol = json_incref(v);
			t->meta_version = version;
		} else if (strcmp(key, "metaData") == 0) {
			json_decref(t->meta);
			t->meta = json_incref(v);
			t->meta_version = version;
		} else if (strcmp(key, "add") == 0) {
			if ((rc = decoded(t, v, &b)) < 0)
				break;
			json_object_set(t->live, (char *)b.p, v);
			json_object_set_new(t->known, (char *)b.p, json_true());
		} else if (strcmp(key, "remove") == 0) {
			if ((rc = decoded(t, v, &b)) < 0)
				break;
			json_object_del(t->live, (char *)b.p);
		} else if (strcmp(key, "txn") == 0) {
			const char *app = json_string_value(json_object_get(v, "appId"));
			json_t *ver = json_object_get(v, "version");

			if (app == NULL || !json_is_integer(ver)) {
				rc = fail(t, "a txn action without appId or version");
				break;
			}
			json_object_set(t->txn, app, ver);
		}
	}
	buf_free(&b);
	return rc;
}

static void log_path(const struct delta_table *t, int64_t v, char *out, size_t n)
{
	snprintf(out, n, "%s/_delta_log/%020lld.json", t->dir, (long long)v);
}

static int read_all(int fd, struct buf *b)
{
	for (;;) {
		uint8_t *p = buf_reserve(b, 65536);
		ssize_t k = read(fd, p, 65536);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			return 0;
		b->len += (size_t)k;
	}
}

int delta_update(struct delta_table *t)
{
	char path[4096];
	struct buf b = { 0 };
	int rc = 0;

	for (;;) {
		int64_t v = t->version + 1;
		int fd;

		log_path(t, v, path, sizeof(path));
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT) {
			char lc[4096];

			snprintf(lc, sizeof(lc), "%s/_delta_log/_last_checkpoint", t->dir);
			if (v == 0 && access(lc, F_OK) == 0)
				rc = fail(t, "%s: the log starts at a checkpoint written by another "
					  "writer: only tables whose every JSON commit is kept can be read", lc);
			break;
		}
		if (fd < 0) {
			rc = fail(t, "%s: %s", path, strerror(errno));
			break;
		}
		buf_reset(&b);
		if (read_all(fd, &b) < 0) {
			rc = fail(t, "%s: %s", path, strerror(errno));
			close(fd);
			break;
		}
		close(fd);
		size_t at = 0, line = 0;

		while (at < b.len && rc == 0) {
			uint8_t *nl = memchr(b.p + at, '\n', b.len - at);
			size_t end = nl != NULL ? (size_t)(nl - b.p) : b.len;
			json_error_t je;
			json_t *j;

			line++;
			if (end > at) {
				j = json_loadb((const char *)b.p + at, end - at, 0, &je);
				if (j == NULL) {
					rc = fail(t, "%s: line %zu: %s", path, line, je.text);
					break;
				}
				if (apply(t, j, v) < 0) {
					char why[sizeof(t->err)];

					snprintf(why, sizeof(why), "%s", t->err);
					rc = fail(t, "%s: line %zu: %s", path, line, why);
				}
				json_decref(j);
			}
			at = end + 1;
		}
		if (rc < 0)
			break;
		t->version = v;
	}
	buf_free(&b);
	return rc;
}

int64_t delta_txn_version(const struct delta_table *t, const char *app_id)
{
	json_t *v = json_object_get(t->txn, app_id);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

/* ---- commits ------------------------------------------------------------------- */

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int delta_commit(struct delta_table *t, json_t *actions)
{
	char dir[4096], tmp[4200], path[4096];
	size_t i;
	json_t *a;
	int fd, rc = -1;
	struct buf b = { 0 };

	snprintf(dir, sizeof(dir), "%s/_delta_log", t->dir);
	if (mkdir(t->dir, 0777) < 0 && errno != EEXIST)
		return fail(t, "%s: %s", t->dir, strerror(errno));
	if (mkdir(dir, 0777) < 0 && errno != EEXIST)
		return fail(t, "%s: %s", dir, strerror(errno));
	json_array_foreach(actions, i, a) {
		char *s = json_dumps(a, JSON_COMPACT | JSON_ENSURE_ASCII);

		buf_puts(&b, s);
		buf_putc(&b, '\n');
		free(s);
	}
	snprintf(tmp, sizeof(tmp), "%s/.rtai-commit.XXXXXX", dir);
	fd = mkstemp(tmp);
	if (fd < 0) {
		fail(t, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (outfile_write_all(fd, (const char *)b.p, b.len) < 0 || fsync(fd) < 0) {
		fail(t, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) < 0) {
		fail(t, "%s: %s", tmp, strerror(errno));
		unlink(tmp);
		goto out;
	}
	log_path(t, t->version + 1, path, sizeof(path));
	if (link(tmp, path) < 0) {
		int e = errno;

		unlink(tmp);
		if (e == EEXIST) {
			rc = 1;
			goto out;
		}
		fail(t, "%s: %s", path, strerror(e));
		goto out;
	}
	unlink(tmp);
	if (fsync_dir(dir) < 0) {
		fail(t, "%s: fsync: %s", dir, strerror(errno));
		goto out;
	}
	t->version++;
	json_array_foreach(actions, i, a)
		if (apply(t, a, t->version) < 0)
			goto out;
	rc = 0;
out:
	buf_free(&b);
	return rc;
}
