/* registry.h - a Confluent Schema Registry client, on libcurl (loaded with
 * dlopen at the first registry_new(), so the tools that never fetch a
 * schema do not pay for loading it).
 *
 * Fetches the schema of an id with the registry's documented REST call
 * GET {URL}/schemas/ids/{id} (Confluent Schema Registry API reference),
 * whose answer is {"schema": "<the schema as a JSON string>", ...}; an error
 * answer is {"error_code": N, "message": "..."}. HTTP basic authentication
 * takes "USER:PASSWORD". The caller caches what it got (avrorec.h does), so
 * each id is asked once.
 */
#ifndef RTAI_REGISTRY_H
#define RTAI_REGISTRY_H

#include <stdint.h>

#include "buf.h"

struct registry;

/* A client for the registry at url (http:// or https://, without a
 * trailing path), with auth ("USER:PASSWORD") or NULL; timeout in ms for
 * each request. Returns NULL when libcurl cannot be loaded or started, or
 * memory runs out: registry_load_error() then says which. Free with
 * registry_free(). Both strings are copied. */
struct registry *registry_new(const char *url, const char *auth, long timeout_ms);

/* Why the last registry_new() returned NULL: "cannot load libcurl: ..." (the
 * dynamic loader's message), "libcurl.so.4 has no curl_easy_init", or "out
 * of memory". A static string. */
const char *registry_load_error(void);
void registry_free(struct registry *g);	/* accepts NULL */

/* Fetches the schema of id into out (replacing its contents: the schema's
 * JSON text). Returns 0, or -1 with *why set (valid until the next call):
 * "GET http://host/schemas/ids/42: HTTP 404: Schema 42 not found", or the
 * connection error. */
int registry_get(struct registry *g, int64_t id, struct buf *out, const char **why);

#endif
