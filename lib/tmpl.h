/* tmpl.h - templates of text with {field} placeholders, for Redis keys.
 *
 * "features:user:{user_id}:clicks" renders, for a record whose user_id is
 * "u1", as "features:user:u1:clicks". Values render as val_text() writes
 * them: strings as they are, numbers as JSON prints them, times as ISO
 * 8601, booleans as true/false, nested JSON as compact text. "{{" and "}}"
 * stand for literal braces.
 *
 *	struct tmpl t;
 *	if (tmpl_compile(&t, "user:{user_id}", err, sizeof(err)) < 0) ...
 *	buf_reset(&key);
 *	if (tmpl_render(&t, &rec, &key, err, sizeof(err)) < 0) ...
 *	tmpl_free(&t);
 */
#ifndef RTAI_TMPL_H
#define RTAI_TMPL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "rec.h"

struct tmpl_part {
	const char *s;		/* literal text, or the field name */
	size_t n;
	int field;		/* 1: s names a field */
};

struct tmpl {
	struct tmpl_part *part;	/* in order; they point into text */
	size_t n;
	size_t nfields;		/* placeholders among them */
	char *text;		/* the template, with "{{" and "}}" undone */
};

/* Compiles text. Returns 0, or -1 with a reason in err ("column 9: '{'
 * without a closing '}'", "column 5: empty placeholder '{}'"). Free t
 * with tmpl_free() after success. */
int tmpl_compile(struct tmpl *t, const char *text, char *err, size_t errlen);

/* Appends the rendering for r to out. Returns 0, or -1 with err set to
 * 'no field "user_id"' or 'field "user_id" is null' (out then holds a
 * partial rendering). Allocates nothing once out has grown. */
int tmpl_render(const struct tmpl *t, const struct rec *r, struct buf *out, char *err,
		size_t errlen);

/* Frees the template. Accepts NULL. */
void tmpl_free(struct tmpl *t);

#endif
