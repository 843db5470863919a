/* barrier.c - the payload of a checkpoint barrier frame (kind 3). */
#include "config.h"
#include "barrier.h"

#include <stdio.h>
#include <string.h>

#include "ckpt.h"
#include "cli.h"
#include "rtime.h"

void barrier_encode(const struct barrier *b, struct buf *out)
{
	struct rec_field f[3] = {
		{ "checkpoint", 10, val_int(b->checkpoint) },
		{ "type", 4, b->savepoint ? val_str("savepoint", 9) : val_str("checkpoint", 10) },
		{ "sources", 7, { .type = RT_JSON } },
	};
	struct rec r = { .f = f, .n = 3, .cap = 3 };

	f[2].v.s.p = b->sources != NULL ? b->sources : "[]";
	f[2].v.s.n = b->sources != NULL ? (uint32_t)b->sources_len : 2;
	rec_encode(&r, out);
}

int barrier_decode(const struct frame *f, struct rec *scratch,
		   struct barrier *b, char *err, size_t errlen)
{
	const struct rec_field *id, *type, *src;

	if (f->enc != RTAI_E_REC) {
		snprintf(err, errlen, "barrier: expected a binary record (encoding 3), got encoding %u",
			 f->enc);
		return -1;
	}
	if (rec_decode(scratch, f->payload, f->len) < 0) {
		snprintf(err, errlen, "barrier: %s", scratch->err);
		return -1;
	}
	id = rec_getz(scratch, "checkpoint");
	type = rec_getz(scratch, "type");
	src = rec_getz(scratch, "sources");
	if (id == NULL || id->v.type != RT_INT || id->v.i < 1) {
		snprintf(err, errlen, "barrier: field \"checkpoint\": expected an int >= 1, got %s",
			 id == NULL ? "nothing" : rt_type_name(id->v.type));
		return -1;
	}
	if (type == NULL || type->v.type != RT_STR ||
	    !((type->v.s.n == 10 && memcmp(type->v.s.p, "checkpoint", 10) == 0) ||
	      (type->v.s.n == 9 && memcmp(type->v.s.p, "savepoint", 9) == 0))) {
		snprintf(err, errlen, "barrier: field \"type\": expected \"checkpoint\" or \"savepoint\"");
		return -1;
	}
	if (src == NULL || src->v.type != RT_JSON || src->v.s.n == 0 || src->v.s.p[0] != '[') {
		snprintf(err, errlen, "barrier: field \"sources\": expected a JSON array, got %s",
			 src == NULL ? "nothing" : rt_type_name(src->v.type));
		return -1;
	}
	b->checkpoint = id->v.i;
	b->savepoint = type->v.s.n == 9;
	b->sources = src->v.s.p;
	b->sources_len = src->v.s.n;
	return 0;
}

void barrier_put(struct frame_wr *w, const struct barrier *b, int64_t ingest_ns)
{
	struct buf p = { 0 };

	barrier_encode(b, &p);
	wr_put(w, RTAI_K_BARRIER, RTAI_E_REC, 0, ingest_ns, RTAI_TIME_UNSET, p.p, p.len);
	wr_flush(w);
	buf_free(&p);
}

/* barrier_take's save() for ckpt_write_bg: the source's snapshot, copied
 * into the writer's buffer while the caller's bytes are still there. */
struct snap_ref {
	const void *p;
	size_t n;
};

static void copy_snap(struct buf *b, void *arg)
{
	const struct snap_ref *s = arg;

	buf_append(b, s->p, s->n);
}

int barrier_take(struct ckpt *c, struct frame_wr *w, int64_t id, int savepoint,
		 const void *snap, size_t snap_len, const void *sources, size_t len)
{
	char err[1024];
	struct barrier b = { .checkpoint = id, .savepoint = savepoint,
			     .sources = sources, .sources_len = len };
	struct snap_ref s = { snap, snap_len };
	int rc = barrier_wait(c) < 0 ? 1 : 0;

	if (ckpt_write_bg(c, id, copy_snap, &s, err, sizeof(err)) < 0) {
		cli_warn("%s", err);
		return -1;
	}
	barrier_put(w, &b, cli_now_ns());
	return rc;
}

int barrier_wait(struct ckpt *c)
{
	char err[1024];

	if (ckpt_wait(c, err, sizeof(err)) < 0) {
		cli_warn("%s", err);
		return -1;
	}
	return 0;
}

int barrier_read(const struct frame_rd *rd, const struct frame *f, struct rec *scratch,
		 struct barrier *b)
{
	char err[512];

	if (barrier_decode(f, scratch, b, err, sizeof(err)) == 0)
		return 0;
	cli_warn("%s: after record %llu: %s", rd->name, (unsigned long long)rd->nrec, err);
	return -1;
}
