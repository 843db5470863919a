/* revoke.c - revoke frames and the source partitions of data frames. */
#include "config.h"
#include "revoke.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The payload of either frame: a horizon of INT64_MIN is left out. */
static void encode(const char *topic, size_t tlen, int32_t partition, int64_t horizon_ns,
		   struct buf *out)
{
	struct rec r = { 0 };

	rec_add(&r, "topic", 5, val_str(topic, tlen));
	rec_add(&r, "partition", 9, val_int(partition));
	if (horizon_ns != INT64_MIN)
		rec_add(&r, "horizon", 7, val_time(horizon_ns));
	rec_encode(&r, out);
	rec_free(&r);
}

void revoke_encode(const char *topic, size_t tlen, int32_t partition, struct buf *out)
{
	encode(topic, tlen, partition, INT64_MIN, out);
}

void assign_encode(const char *topic, size_t tlen, int32_t partition, int64_t horizon_ns,
		   struct buf *out)
{
	encode(topic, tlen, partition, horizon_ns, out);
}

int partition_frame_decode(const struct frame *f, struct rec *scratch, const char **topic,
			   size_t *tlen, int32_t *partition, int64_t *horizon_ns, char *err,
			   size_t errlen)
{
	const char *what = f->kind == RTAI_K_ASSIGN ? "assign frame" : "revoke frame";
	const struct rec_field *t, *p, *h;

	if (f->enc != RTAI_E_REC || rec_decode(scratch, f->payload, f->len) < 0) {
		snprintf(err, errlen, "%s: %s", what,
			 f->enc != RTAI_E_REC ? "not a binary record" : scratch->err);
		return -1;
	}
	t = rec_getz(scratch, "topic");
	p = rec_getz(scratch, "partition");
	h = rec_getz(scratch, "horizon");
	if (t == NULL || t->v.type != RT_STR) {
		snprintf(err, errlen, "%s: field \"topic\": missing or not a string", what);
		return -1;
	}
	if (p == NULL || p->v.type != RT_INT || p->v.i < 0 || p->v.i > INT32_MAX) {
		snprintf(err, errlen, "%s: field \"partition\": missing or not a partition", what);
		return -1;
	}
	if (f->kind == RTAI_K_ASSIGN && (h == NULL || h->v.type != RT_TIME)) {
		snprintf(err, errlen, "%s: field \"horizon\": missing or not a time", what);
		return -1;
	}
	*topic = t->v.s.p;
	*tlen = t->v.s.n;
	*partition = (int32_t)p->v.i;
	*horizon_ns = f->kind == RTAI_K_ASSIGN ? h->v.i : INT64_MIN;
	return 0;
}

uint32_t srcparts_find(const struct srcparts *s, const char *topic, size_t tlen,
		       int32_t partition)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (s->v[i].partition == partition && s->v[i].tlen == tlen &&
		    memcmp(s->v[i].topic, topic, tlen) == 0)
			return i + 1;
	return 0;
}

uint32_t srcparts_add(struct srcparts *s, const char *topic, size_t tlen, int32_t partition)
{
	uint32_t tag = srcparts_find(s, topic, tlen, partition);

	if (tag != 0)
		return tag;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n].topic = xmalloc(tlen + 1);
	memcpy(s->v[s->n].topic, topic, tlen);
	s->v[s->n].topic[tlen] = '\0';
	s->v[s->n].tlen = tlen;
	s->v[s->n].partition = partition;
	s->v[s->n].floor = INT64_MIN;
	return ++s->n;
}

uint32_t srcparts_tag(struct srcparts *s, const struct frame *f)
{
	const struct rec_field *t, *p;
	const uint8_t *end;
	uint32_t tag;

	if (f->meta_len == 0)
		return 0;
	if (s->npre > 0 && f->meta_len >= s->npre && memcmp(f->meta, s->pre, s->npre) == 0)
		return s->pre_tag;
	if (rec_decode(&s->scratch, f->meta, f->meta_len) < 0)
		return 0;
	t = rec_getz(&s->scratch, "topic");
	p = rec_getz(&s->scratch, "partition");
	if (t == NULL || t->v.type != RT_STR || p == NULL || p->v.type != RT_INT ||
	    p->v.i < 0 || p->v.i > INT32_MAX)
		return 0;
	tag = srcparts_add(s, t->v.s.p, t->v.s.n, (int32_t)p->v.i);
	/* Through the later of the two fields: the partition's value is the 8
	 * bytes after its name, the topic's ends its bytes. */
	end = (const uint8_t *)p->name + p->nlen + 8;
	if ((const uint8_t *)t->v.s.p + t->v.s.n > end)
		end = (const uint8_t *)t->v.s.p + t->v.s.n;
	s->npre = 0;
	if ((size_t)(end - f->meta) <= sizeof(s->pre)) {
		s->npre = (size_t)(end - f->meta);
		memcpy(s->pre, f->meta, s->npre);
		s->pre_tag = tag;
	}
	return tag;
}

void srcparts_free(struct srcparts *s)
{
	for (uint32_t i = 0; i < s->n; i++)
		free(s->v[i].topic);
	free(s->v);
	rec_free(&s->scratch);
	memset(s, 0, sizeof(*s));
}
