/* registry.c - a Confluent Schema Registry client (see registry.h). */
#include "config.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

/* libcurl is loaded when the first client is made, not linked: it brings
 * some thirty libraries (TLS, Kerberos, LDAP) whose loading and
 * constructors cost about 20 ms of CPU at every start of rtai-parse,
 * although only --schema-registry uses it. The functions are looked up by
 * their documented names; libcurl.so.4 is the soname libcurl has kept
 * since 7.16 (2006). */
static struct {
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	const char *(*easy_strerror)(CURLcode);
	void (*easy_cleanup)(CURL *);
} cu;

static char load_err[512];

/* Loads libcurl once. Returns 0, or -1 with load_err set. */
static int curl_load(void)
{
	static int state;	/* 0 not tried, 1 loaded, -1 failed */
	void *h;
	const char *e;

	if (state != 0)
		return state > 0 ? 0 : -1;
	state = -1;
	if ((h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL)) == NULL) {
		e = dlerror();
		snprintf(load_err, sizeof(load_err), "cannot load libcurl: %s", e != NULL ? e : "dlopen failed");
		return -1;
	}
#define SYM(f, name) do { \
		*(void **)&cu.f = dlsym(h, name); \
		if (cu.f == NULL) { \
			snprintf(load_err, sizeof(load_err), "libcurl.so.4 has no %s", name); \
			return -1; \
		} \
	} while (0)
	SYM(global_init, "curl_global_init");
	SYM(easy_init, "curl_easy_init");
	SYM(easy_setopt, "curl_easy_setopt");
	SYM(easy_perform, "curl_easy_perform");
	SYM(easy_getinfo, "curl_easy_getinfo");
	SYM(easy_strerror, "curl_easy_strerror");
	SYM(easy_cleanup, "curl_easy_cleanup");
#undef SYM
	if (cu.global_init(CURL_GLOBAL_DEFAULT) != 0) {
		snprintf(load_err, sizeof(load_err), "curl_global_init failed");
		return -1;
	}
	state = 1;	/* the handle stays open for the life of the process */
	return 0;
}

const char *registry_load_error(void)
{
	return load_err[0] != '\0' ? load_err : "out of memory";
}

struct registry {
	CURL *curl;
	char *url;
	char *auth;
	struct buf body;		/* the last answer */
	char err[CURL_ERROR_SIZE];
	char why[1600];
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct registry *g = arg;

	if (g->body.len + size * n > (16u << 20))	/* no schema is this large */
		return 0;
	buf_append(&g->body, p, size * n);
	return size * n;
}

struct registry *registry_new(const char *url, const char *auth, long timeout_ms)
{
	struct registry *g;
	size_t n;

	if (curl_load() != 0)
		return NULL;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	g->curl = cu.easy_init();
	g->url = strdup(url);
	g->auth = auth != NULL ? strdup(auth) : NULL;
	if (g->curl == NULL || g->url == NULL || (auth != NULL && g->auth == NULL)) {
		registry_free(g);
		return NULL;
	}
	n = strlen(g->url);
	while (n > 0 && g->url[n - 1] == '/')
		g->url[--n] = '\0';
	cu.easy_setopt(g->curl, CURLOPT_WRITEFUNCTION, on_data);
	cu.easy_setopt(g->curl, CURLOPT_WRITEDATA, g);
	cu.easy_setopt(g->curl, CURLOPT_ERRORBUFFER, g->err);
	cu.easy_setopt(g->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	cu.easy_setopt(g->curl, CURLOPT_NOSIGNAL, 1L);
	cu.easy_setopt(g->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (g->auth != NULL) {
		cu.easy_setopt(g->curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		cu.easy_setopt(g->curl, CURLOPT_USERPWD, g->auth);
	}
	return g;
}

void registry_free(struct registry *g)
{
	if (g == NULL)
		return;
	if (g->curl != NULL)
		cu.easy_cleanup(g->curl);
	free(g->url);
	if (g->auth != NULL) {
		memset(g->auth, 0, strlen(g->auth));
		free(g->auth);
	}
	buf_free(&g->body);
	free(g);
}

int registry_get(struct registry *g, int64_t id, struct buf *out, const char **why)
{
	char url[1200];
	long code = 0;
	CURLcode rc;
	json_t *root, *schema, *msg;

	snprintf(url, sizeof(url), "%s/schemas/ids/%" PRId64, g->url, id);
	buf_reset(&g->body);
	g->err[0] = '\0';
	cu.easy_setopt(g->curl, CURLOPT_URL, url);
	rc = cu.easy_perform(g->curl);
	if (rc != CURLE_OK) {
		snprintf(g->why, sizeof(g->why), "GET %s: %s", url,
			 g->err[0] != '\0' ? g->err : cu.easy_strerror(rc));
		*why = g->why;
		return -1;
	}
	cu.easy_getinfo(g->curl, CURLINFO_RESPONSE_CODE, &code);
	root = json_loadb((const char *)g->body.p, g->body.len, 0, NULL);
	if (code != 200) {
		msg = json_object_get(root, "message");
		snprintf(g->why, sizeof(g->why), "GET %s: HTTP %ld%s%s", url, code,
			 json_is_string(msg) ? ": " : "", json_is_string(msg) ? json_string_value(msg) : "");
		json_decref(root);
		*why = g->why;
		return -1;
	}
	schema = json_object_get(root, "schema");
	if (!json_is_string(schema)) {
		snprintf(g->why, sizeof(g->why), "GET %s: the answer has no \"schema\" string", url);
		json_decref(root);
		*why = g->why;
		return -1;
	}
	buf_reset(out);
	buf_append(out, json_string_value(schema), json_string_length(schema));
	json_decref(root);
	return 0;
}
