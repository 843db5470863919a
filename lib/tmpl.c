/* tmpl.c - templates of text with {field} placeholders. */
#include "config.h"
#include "tmpl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tmpl_compile(struct tmpl *t, const char *text, char *err, size_t errlen)
{
	size_t len = strlen(text), cap = 4;
	char *o;

	memset(t, 0, sizeof(*t));
	/* Literal parts shrink when "{{" becomes "{", so text fits. */
	t->text = xmalloc(len + 1);
	t->part = xmalloc(cap * sizeof(*t->part));
	o = t->text;
	for (size_t i = 0; i < len;) {
		struct tmpl_part p = { .s = o };

		if (text[i] == '{' && text[i + 1] != '{') {
			const char *close = strchr(text + i + 1, '}');
			const char *open = strchr(text + i + 1, '{');

			if (close == NULL || (open != NULL && open < close)) {
				snprintf(err, errlen, "column %zu: '{' without a closing '}'", i + 1);
				goto bad;
			}
			if (close == text + i + 1) {
				snprintf(err, errlen, "column %zu: empty placeholder '{}'", i + 1);
				goto bad;
			}
			p.n = (size_t)(close - text - i - 1);
			if (p.n > 255) {
				snprintf(err, errlen, "column %zu: field name longer than 255 bytes", i + 1);
				goto bad;
			}
			memcpy(o, text + i + 1, p.n);
			o += p.n;
			p.field = 1;
			t->nfields++;
			i = (size_t)(close - text) + 1;
		} else {
			while (i < len) {
				if (text[i] == '{' && text[i + 1] == '{') {
					*o++ = '{';
					i += 2;
				} else if (text[i] == '}' && text[i + 1] == '}') {
					*o++ = '}';
					i += 2;
				} else if (text[i] == '}') {
					snprintf(err, errlen, "column %zu: '}' without an opening '{' (write '}}' for a brace)",
						 i + 1);
					goto bad;
				} else if (text[i] == '{') {
					break;
				} else {
					*o++ = text[i++];
				}
			}
			p.n = (size_t)(o - p.s);
		}
		if (t->n == cap) {
			cap *= 2;
			t->part = xrealloc(t->part, cap * sizeof(*t->part));
		}
		t->part[t->n++] = p;
	}
	*o = '\0';
	return 0;
bad:
	tmpl_free(t);
	return -1;
}

int tmpl_render(const struct tmpl *t, const struct rec *r, struct buf *out, char *err,
		size_t errlen)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct tmpl_part *p = &t->part[i];
		const struct rec_field *f;

		if (!p->field) {
			buf_append(out, p->s, p->n);
			continue;
		}
		f = rec_get(r, p->s, p->n);
		if (f == NULL) {
			snprintf(err, errlen, "no field \"%.*s\"", (int)p->n, p->s);
			return -1;
		}
		if (f->v.type == RT_NULL) {
			snprintf(err, errlen, "field \"%.*s\" is null", (int)p->n, p->s);
			return -1;
		}
		val_text(&f->v, out);
	}
	return 0;
}

void tmpl_free(struct tmpl *t)
{
	if (t == NULL)
		return;
	free(t->part);
	free(t->text);
	memset(t, 0, sizeof(*t));
}
