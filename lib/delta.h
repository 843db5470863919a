/* delta.h - a Delta Lake transaction log: replay and atomic commits.
 *
 * The rules come from the Delta Transaction Log Protocol (delta-io/delta,
 * PROTOCOL.md): a table is a directory whose _delta_log/ holds one JSON
 * file per version, %020d.json, each a line per action (protocol,
 * metaData, add, remove, txn, commitInfo). Replaying the versions in order
 * gives the live files (added and not removed since), the latest metaData,
 * and the last version of each application's txn. A version is written
 * once: writers race to create the next file and one wins ("mutual
 * exclusion" in PROTOCOL.md), here by link() of an exclusively created
 * temporary file, which fails with EEXIST for the loser.
 *
 * This reader replays JSON commits only: a table whose log has been
 * checkpointed by another writer (_last_checkpoint, *.checkpoint.parquet)
 * and its JSON commits cleaned up is refused with a message.
 *
 * Paths: the log holds paths relative to the table, URI-encoded; the
 * directories of a partitioned table are named COLUMN=VALUE with the
 * value Hive-escaped. The maps here are keyed by relative paths in the
 * encoding of delta_uri_encode() (decoded first, so that any writer's
 * encoding of a path finds the same key).
 */
#ifndef RTAI_DELTA_H
#define RTAI_DELTA_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"

struct delta_table {
	char *dir;		/* the table directory */
	int64_t version;	/* the last version replayed; -1: no log yet */
	int64_t meta_version;	/* version of the latest metaData or protocol */
	json_t *protocol;	/* the latest protocol action's value, or NULL */
	json_t *meta;		/* the latest metaData action's value, or NULL */
	json_t *live;		/* object: path key -> its add action's value */
	json_t *known;		/* object: path key -> true, every path ever added */
	json_t *txn;		/* object: appId -> version (integer) */
	char err[512];		/* why the last call failed */
};

/* Sets t up for the table at dir (copied); reads nothing yet. */
void delta_init(struct delta_table *t, const char *dir);
/* Frees everything t holds. Accepts NULL. */
void delta_free(struct delta_table *t);

/* Replays the versions after t->version that exist. Returns 0, or -1
 * with t->err ("TABLE/_delta_log/00000000000000000003.json: line 2: ...")
 * for an unreadable or malformed log, or a log that starts at a
 * checkpoint. */
int delta_update(struct delta_table *t);

/* Writes actions (a JSON array of action objects, borrowed) as version
 * t->version + 1, durably (the file and the directory are fsynced), and
 * applies them to t. Returns 0; 1 when that version exists already
 * (another writer won: delta_update(), check, retry or give up); -1 with
 * t->err on an I/O error (nothing becomes visible then). */
int delta_commit(struct delta_table *t, json_t *actions);

/* The version of app_id's last txn action, or -1. */
int64_t delta_txn_version(const struct delta_table *t, const char *app_id);

/* Appends s with the characters that Hive escapes in partition directory
 * names (control characters, " # % ' * / : = ? \ { [ ] ^ and DEL; Spark's
 * ExternalCatalogUtils.escapePathName) as %XX, upper-case hex. */
void delta_hive_escape(struct buf *out, const char *s, size_t n);
/* Appends the URI encoding of a relative path: every byte but
 * A-Z a-z 0-9 - . _ ~ / = as %XX (RFC 3986 percent-encoding). */
void delta_uri_encode(struct buf *out, const char *s, size_t n);
/* Appends the decoding of %XX sequences. Returns 0, or -1 for a malformed
 * escape. */
int delta_uri_decode(struct buf *out, const char *s, size_t n);

/* A random version 4 UUID, "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", into
 * out (37 bytes), from getrandom(). */
void delta_uuid(char out[37]);

#endif
