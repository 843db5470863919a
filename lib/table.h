/* table.h - lookup tables for enrichment: rows by key, every version of a
 * row by valid-from time, and records joined with rows.
 *
 * Keys. A key is built from one or more fields of a record or a row
 * (tab_key): each value as text, so 42, 42.0 and "42" are the same key, as
 * they are once written to Redis or a CSV file; each part is prefixed by
 * its length, so ("a:b", "c") and ("a", "b:c") differ.
 *
 * Rows. A row keeps only the fields a join adds (tab_sel: the chosen
 * fields, or all but the key fields; renamed by a prefix), already in the
 * binary record layout of rec.h, so that joining is a memcpy.
 *
 * Versions. Without valid-from times (TAB_NOW) a key has at most one row,
 * replaced by an upsert and removed by a delete. With them, every upsert
 * and delete is kept as a version; tab_find(at) returns the version with
 * the greatest valid-from <= at, the last to arrive among equal times, or
 * nothing when that version is a delete. Nothing valid after `at` is ever
 * returned: joins stay free of leakage from the future.
 *
 * The hash table grows by doubling, so it ends sized to the table; lookups
 * allocate nothing.
 */
#ifndef RTAI_TABLE_H
#define RTAI_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "rec.h"

#define TAB_NOW INT64_MIN	/* "no valid-from": the unversioned table */

/* ---- keys ---------------------------------------------------------- */

/* Field names, as parsed from "a,b,c". */
struct tab_names {
	char **name;		/* NUL-terminated copies */
	uint8_t *len;
	size_t n;
};

/* Splits a comma-separated list. Returns 0, or -1 with a reason in err
 * ("empty field name", "field name longer than 255 bytes"). */
int tab_names_parse(struct tab_names *l, const char *list, char *err, size_t errsz);
void tab_names_free(struct tab_names *l);

enum { TAB_KEY_OK = 0, TAB_KEY_MISSING = -1, TAB_KEY_NULL = -2 };

/* Appends the key of r built from the named fields to out. Returns
 * TAB_KEY_OK, or TAB_KEY_MISSING / TAB_KEY_NULL with *bad set to the index
 * of the first field that is absent / null. */
int tab_key(const struct tab_names *names, const struct rec *r, struct buf *out,
	    size_t *bad);

/* ---- the fields a join adds ------------------------------------------ */

struct tab_sel {
	struct tab_names fields;	/* fields to add; none: all but skip */
	struct tab_names skip;		/* the table's key fields */
	const char *prefix;		/* prepended to each added name, or NULL */
	size_t nprefix;
	uint8_t *seen;			/* NULL, or fields.n + 1 flags that
					 * tab_sel_encode() sets: [i] field i
					 * occurred in a row, [fields.n] a row
					 * was encoded (for typo warnings) */
};

/* Appends the chosen fields of row to out in the binary layout of rec.h
 * (without the leading count), renamed by the prefix; stores their number
 * in *nf. Returns 0, or -1 with err set when a prefixed name exceeds 255
 * bytes. */
int tab_sel_encode(const struct tab_sel *s, const struct rec *row, struct buf *out,
		   uint32_t *nf, char *err, size_t errsz);

/* Writes to out (reset first) the binary record r followed by the n row
 * fields in enc[0..len) whose names r does not have: on a clash the
 * record's value is kept. payload/plen is r's binary encoding (r may
 * borrow from it). Returns the number of fields added, or -1 when the
 * result would exceed 65535 fields. */
int tab_join_into(struct buf *out, const uint8_t *payload, size_t plen,
		  const struct rec *r, const uint8_t *enc, size_t len, uint32_t n);

/* ---- the table ------------------------------------------------------ */

struct tab_ver {
	int64_t from;		/* valid-from, TAB_NOW when unversioned */
	uint32_t nf;		/* fields in enc */
	uint32_t len;		/* bytes of enc */
	uint8_t dead;		/* a delete: no match from `from` on */
	uint8_t enc[];		/* tab_sel_encode() output */
};

struct tab_ent;
struct tab_slot {
	uint64_t hash;
	struct tab_ent *e;	/* NULL: an empty slot */
};

struct tab {
	struct tab_slot *slot;	/* open addressing, linear probing */
	size_t mask;		/* slots - 1; slots is a power of two */
	size_t nkeys;		/* keys in use */
	uint64_t nver;		/* versions stored (rows, or history) */
	uint64_t nlive;		/* keys whose latest version is a row */
	uint64_t seed;		/* hash seed */
	int bulk;		/* loading: new keys go in mem, not malloc */
	struct arena mem;	/* keys added in bulk, freed with the table */
};

/* An empty table. Set t->bulk while loading a file: its keys and first
 * rows are then packed in large blocks (faster to load, to look up and to
 * free); a delete does not return such a key's memory until tab_free(). */
void tab_init(struct tab *t);
/* Makes room for n keys in all, so that loading them does not grow the
 * hash table step by step (a hint: more keys still fit). */
void tab_reserve(struct tab *t, size_t n);
/* Frees every row. Accepts NULL. t may be reused after tab_init(). */
void tab_free(struct tab *t);

/* Stores a version of the row under key: with from == TAB_NOW it replaces
 * the key's row; otherwise it is added to the key's history. enc/len/nf
 * come from tab_sel_encode() and are copied. */
void tab_upsert(struct tab *t, const uint8_t *key, size_t klen, int64_t from,
		const uint8_t *enc, size_t len, uint32_t nf);
/* Deletes key: with at == TAB_NOW the row goes; otherwise a delete version
 * valid from `at` is added. Returns 1 if the key had a row, else 0. */
int tab_delete(struct tab *t, const uint8_t *key, size_t klen, int64_t at);
/* Deletes every key (a truncated source table), in the same way. */
void tab_clear(struct tab *t, int64_t at);

/* The row for key as of time at (TAB_NOW on an unversioned table: the
 * row), or NULL when there is none, it is a delete, or (ttl > 0) it is
 * older than at - ttl. The row stays valid until the next change. */
const struct tab_ver *tab_find(const struct tab *t, const uint8_t *key, size_t klen,
			       int64_t at, int64_t ttl);

/* Lookups in bursts: a lookup costs a cache miss for the slot and one for
 * the row, so a tool that has several keys at hand hashes them all and
 * prefetches their slots (tab_prefetch), then their rows
 * (tab_prefetch_row), then finds them (tab_find_h): the misses overlap. */
uint64_t tab_hash(const struct tab *t, const uint8_t *key, size_t klen);
static inline void tab_prefetch(const struct tab *t, uint64_t hash)
{
	__builtin_prefetch(&t->slot[hash & t->mask]);
}
void tab_prefetch_row(const struct tab *t, uint64_t hash);
/* For a key of several versions (--as-of), whose versions are blocks of
 * their own, two steps more, each after the previous one's lines came in:
 * deep 0 prefetches the entry's array of versions, deep 1 the versions
 * it points to (8 at most), which tab_find_h's binary search reads. A key
 * of one version, or not at its home slot, is left to tab_find_h. */
void tab_prefetch_versions(const struct tab *t, uint64_t hash, int deep);
/* tab_find() with the key's tab_hash(). */
const struct tab_ver *tab_find_h(const struct tab *t, const uint8_t *key, size_t klen,
				 uint64_t hash, int64_t at, int64_t ttl);

/* ---- snapshots (checkpoints, rtai(7)) --------------------------------- */

/* The version of the image tab_snapshot() writes and tab_restore() reads. */
#define TAB_SNAP_VERSION 1

/* Appends the image of t to out: every key with every version it holds
 * (valid-from in ns or TAB_NOW, delete or row, the row's encoded fields),
 * in the order a lookup sees them. The image is, little-endian (snap.h):
 * "RTTB", u32 version, u64 body length, u64 checksum of the body
 * (rec_hash), then the body: u64 keys; per key its bytes (u32 length),
 * u32 versions, and per version i64 valid-from, u8 delete, u32 fields,
 * the encoded fields (u32 length). Which options made the rows (--as-of,
 * --fields, --prefix) is not in it: the caller keeps them in its
 * checkpoint identity. Cannot fail; allocates only in out; changes
 * nothing. Time and bytes grow with the versions stored. */
void tab_snapshot(const struct tab *t, struct buf *out);

/* Loads an image of len bytes at p (borrowed: nothing points into it
 * afterwards) into t, which must be empty (fresh from tab_init()). After
 * it every tab_find() answers as on the table that was snapshotted. Keys
 * are packed as in bulk loading (t->bulk). Returns 0, or -1 with err set
 * when t is not empty, or the image is not a table snapshot, of another
 * version, truncated or padded (length), corrupt (checksum), or
 * inconsistent (a key twice, versions out of order, fields that do not
 * parse): never a partly read table taken as whole. After -1 t may hold
 * part of the image: tab_free() it. */
int tab_restore(struct tab *t, const void *p, size_t len, char *err, size_t errlen);

#endif
