/* lru.c - a bounded cache of byte keys (see lru.h). */
#include "config.h"
#include "lru.h"

#include <stdlib.h>
#include <string.h>

void lru_init(struct lru *c, uint32_t cap)
{
	size_t slots = 4;

	memset(c, 0, sizeof(*c));
	if (cap < 1)
		cap = 1;
	while (slots < (size_t)cap * 2)
		slots *= 2;
	c->cap = cap;
	c->e = xcalloc(cap, sizeof(*c->e));
	c->idx = xcalloc(slots, sizeof(*c->idx));
	c->mask = slots - 1;
	c->head = c->tail = LRU_NIL;
}

void lru_free(struct lru *c)
{
	if (c == NULL || c->e == NULL)
		return;
	for (uint32_t i = 0; i < c->n; i++) {
		buf_free(&c->e[i].key);
		buf_free(&c->e[i].val);
	}
	free(c->e);
	free(c->idx);
	memset(c, 0, sizeof(*c));
}

static size_t find_slot(const struct lru *c, const void *key, size_t n, uint64_t hash)
{
	size_t i = hash & c->mask;

	for (;;) {
		uint32_t x = c->idx[i];

		if (x == 0)
			return i;
		if (c->e[x - 1].hash == hash && c->e[x - 1].key.len == n &&
		    (n == 0 || memcmp(c->e[x - 1].key.p, key, n) == 0))
			return i;
		i = (i + 1) & c->mask;
	}
}

static void unlink_ent(struct lru *c, uint32_t i)
{
	struct lru_ent *e = &c->e[i];

	if (e->prev != LRU_NIL)
		c->e[e->prev].next = e->next;
	else
		c->head = e->next;
	if (e->next != LRU_NIL)
		c->e[e->next].prev = e->prev;
	else
		c->tail = e->prev;
}

static void push_front(struct lru *c, uint32_t i)
{
	c->e[i].prev = LRU_NIL;
	c->e[i].next = c->head;
	if (c->head != LRU_NIL)
		c->e[c->head].prev = i;
	c->head = i;
	if (c->tail == LRU_NIL)
		c->tail = i;
}

/* Removes slot i from the index, shifting the rest of its run back. */
static void index_remove(struct lru *c, size_t i)
{
	size_t j = i;

	c->idx[i] = 0;
	for (;;) {
		size_t k;

		j = (j + 1) & c->mask;
		if (c->idx[j] == 0)
			return;
		k = c->e[c->idx[j] - 1].hash & c->mask;
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		c->idx[i] = c->idx[j];
		c->idx[j] = 0;
		i = j;
	}
}

uint32_t lru_get(struct lru *c, const void *key, size_t n, uint64_t hash)
{
	uint32_t x = c->idx[find_slot(c, key, n, hash)];

	if (x == 0)
		return LRU_NIL;
	if (c->head != x - 1) {
		unlink_ent(c, x - 1);
		push_front(c, x - 1);
	}
	return x - 1;
}

uint32_t lru_put(struct lru *c, const void *key, size_t n, uint64_t hash)
{
	uint32_t i;
	struct lru_ent *e;

	if (c->n < c->cap) {
		i = c->n++;
	} else {
		i = c->tail;
		e = &c->e[i];
		index_remove(c, find_slot(c, e->key.p, e->key.len, e->hash));
		unlink_ent(c, i);
	}
	e = &c->e[i];
	buf_reset(&e->key);
	buf_append(&e->key, key, n);
	buf_reset(&e->val);
	e->hash = hash;
	e->stamp = 0;
	e->tag = 0;
	e->aux = 0;
	e->state = 0;
	c->idx[find_slot(c, key, n, hash)] = i + 1;
	push_front(c, i);
	return i;
}
