/* lru.h - a bounded cache of byte keys, evicting the least recently used.
 *
 * Entries live in one array allocated up front and are named by index, so
 * an index stays valid until the entry is evicted; a full cache reuses the
 * evicted entry's buffers, so the steady state allocates nothing. What an
 * entry holds (val, and the caller's stamp/tag/state) is up to the caller.
 *
 *	uint32_t i = lru_get(&c, key, n, h);
 *	if (i == LRU_NIL) {
 *		i = lru_put(&c, key, n, h);
 *		buf_append(&c.e[i].val, ...);
 *	}
 */
#ifndef RTAI_LRU_H
#define RTAI_LRU_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define LRU_NIL UINT32_MAX

struct lru_ent {
	uint64_t hash;		/* of the key, as given */
	struct buf key;		/* the key bytes */
	struct buf val;		/* the caller's value */
	int64_t stamp;		/* the caller's: e.g. when val was fetched */
	uint64_t tag;		/* the caller's */
	uint32_t aux;		/* the caller's */
	int state;		/* the caller's */
	uint32_t prev, next;	/* recency list: head is the most recent */
};

struct lru {
	struct lru_ent *e;	/* cap entries, n in use */
	uint32_t cap, n;
	uint32_t head, tail;	/* most and least recently used */
	uint32_t *idx;		/* hash index: entry + 1, 0 = empty */
	size_t mask;
};

/* An empty cache of at most cap (>= 1) entries. */
void lru_init(struct lru *c, uint32_t cap);
/* Frees everything. Accepts NULL. */
void lru_free(struct lru *c);
/* The entry for key (moved to the front), or LRU_NIL. */
uint32_t lru_get(struct lru *c, const void *key, size_t n, uint64_t hash);
/* Adds key, which must not be present, at the front; when full, the least
 * recently used entry is evicted and reused. The new entry's val is empty,
 * stamp, tag, aux and state are 0. Returns its index. */
uint32_t lru_put(struct lru *c, const void *key, size_t n, uint64_t hash);

#endif
