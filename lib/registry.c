/* registry.c - a Confluent Schema Registry client (see registry.h). */
#include "config.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

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
	static int inited;
	struct registry *g;
	size_t n;

	if (!inited && curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return NULL;
	inited = 1;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	g->curl = curl_easy_init();
	g->url = strdup(url);
	g->auth = auth != NULL ? strdup(auth) : NULL;
	if (g->curl == NULL || g->url == NULL || (auth != NULL && g->auth == NULL)) {
		registry_free(g);
		return NULL;
	}
	n = strlen(g->url);
	while (n > 0 && g->url[n - 1] == '/')
		g->url[--n] = '\0';
	curl_easy_setopt(g->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(g->curl, CURLOPT_WRITEDATA, g);
	curl_easy_setopt(g->curl, CURLOPT_ERRORBUFFER, g->err);
	curl_easy_setopt(g->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(g->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(g->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (g->auth != NULL) {
		curl_easy_setopt(g->curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(g->curl, CURLOPT_USERPWD, g->auth);
	}
	return g;
}

void registry_free(struct registry *g)
{
	if (g == NULL)
		return;
	if (g->curl != NULL)
		curl_easy_cleanup(g->curl);
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
	curl_easy_setopt(g->curl, CURLOPT_URL, url);
	rc = curl_easy_perform(g->curl);
	if (rc != CURLE_OK) {
		snprintf(g->why, sizeof(g->why), "GET %s: %s", url,
			 g->err[0] != '\0' ? g->err : curl_easy_strerror(rc));
		*why = g->why;
		return -1;
	}
	curl_easy_getinfo(g->curl, CURLINFO_RESPONSE_CODE, &code);
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
