/* csvrec.c - one CSV or TSV record into fields (see csvrec.h). */
#include "config.h"

#ifdef HAVE_CSV
#include <csv.h>
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "csvrec.h"
#include "rec.h"

/* libcsv's field callback: appends the field's bytes and its slot. The
 * pointer is fixed up after the record, since text may move as it grows. */
static void on_field(void *s, size_t len, void *data)
{
	struct csvrec *c = data;
	struct csvfield *f;

	if (c->failed)
		return;
	if (c->n == UINT32_MAX || len > UINT32_MAX) {
		c->failed = 1;
		return;
	}
	f = (struct csvfield *)buf_reserve(&c->fields, sizeof(*f));
	f->p = (const char *)(uintptr_t)c->text.len;	/* an offset until fix-up */
	f->n = (uint32_t)len;
	f->null = s == NULL;
	c->fields.len += sizeof(*f);
	if (len > 0)
		buf_append(&c->text, s, len);
	c->n++;
}

#ifdef HAVE_CSV
static void on_record(int term, void *data)
{
	(void)term;
	(void)data;
}
#endif

int csvrec_init(struct csvrec *c, unsigned char delim, int tsv)
{
	memset(c, 0, sizeof(*c));
	c->delim = tsv ? '\t' : delim;
	if (tsv)
		return 0;
#ifndef HAVE_CSV
	snprintf(c->err, sizeof(c->err), "built without libcsv: CSV cannot be read (TSV can)");
	return -1;
#else
	struct csv_parser *p = malloc(sizeof(*p));
	if (p == NULL || csv_init(p, CSV_STRICT | CSV_STRICT_FINI | CSV_EMPTY_IS_NULL) != 0) {
		free(p);
		snprintf(c->err, sizeof(c->err), "cannot set up the CSV parser");
		return -1;
	}
	csv_set_delim(p, delim);
	c->parser = p;
	return 0;
#endif
}

void csvrec_free(struct csvrec *c)
{
	if (c == NULL)
		return;
#ifdef HAVE_CSV
	if (c->parser != NULL) {
		csv_free(c->parser);
		free(c->parser);
		c->parser = NULL;
	}
#endif
	buf_free(&c->text);
	buf_free(&c->fields);
}

/* Splits p[0..n) at every delimiter: TSV, and CSV records without a quote,
 * whose fields RFC 4180 makes plain text between delimiters. libcsv, which
 * reads a byte at a time (about 33 instructions a byte here), is left the
 * records that quote. */
static int split_plain(struct csvrec *c, const char *p, size_t n)
{
	size_t start = 0;

	for (;;) {
		const char *tab = memchr(p + start, c->delim, n - start);
		size_t end = tab != NULL ? (size_t)(tab - p) : n;

		on_field(end > start ? (void *)(p + start) : NULL, end - start, c);
		if (tab == NULL)
			break;
		start = end + 1;
	}
	return 0;
}

int csvrec_parse(struct csvrec *c, const char *p, size_t n)
{
	struct csvfield *f;

	buf_reset(&c->text);
	buf_reset(&c->fields);
	c->n = 0;
	c->failed = 0;
	if (c->parser == NULL || memchr(p, '"', n) == NULL) {
		split_plain(c, p, n);
	}
#ifdef HAVE_CSV
	else {
		struct csv_parser *cp = c->parser;

		if (csv_parse(cp, p, n, on_field, on_record, c) != n ||
		    csv_fini(cp, on_field, on_record, c) != 0) {
			int e = csv_error(cp);

			snprintf(c->err, sizeof(c->err), "field %u: %s", c->n + 1,
				 e == CSV_EPARSE ? "malformed quotes (a quote inside an unquoted field, "
						   "text after a closing quote, or a quote never closed)" :
						   csv_strerror(e));
			/* Leave the parser ready for the next record. */
			csv_free(cp);
			csv_init(cp, CSV_STRICT | CSV_STRICT_FINI | CSV_EMPTY_IS_NULL);
			csv_set_delim(cp, c->delim);
			return -1;
		}
	}
#endif
	if (c->failed) {
		snprintf(c->err, sizeof(c->err), "field %u: too large", c->n + 1);
		return -1;
	}
	if (c->n == 0)		/* an empty line: one empty field */
		on_field(NULL, 0, c);
	f = (struct csvfield *)c->fields.p;
	for (uint32_t i = 0; i < c->n; i++)
		f[i].p = (const char *)c->text.p + (uintptr_t)f[i].p;
	return (int)c->n;
}

/* JSON's number grammar (RFC 8259 section 6); *integral says no fraction
 * and no exponent. */
static int json_number(const char *p, size_t n, int *integral)
{
	size_t i = 0;

	*integral = 1;
	if (i < n && p[i] == '-')
		i++;
	if (i == n)
		return 0;
	if (p[i] == '0')
		i++;
	else if (p[i] >= '1' && p[i] <= '9')
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
	else
		return 0;
	if (i < n && p[i] == '.') {
		*integral = 0;
		if (++i == n || p[i] < '0' || p[i] > '9')
			return 0;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		*integral = 0;
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		if (i == n || p[i] < '0' || p[i] > '9')
			return 0;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
	}
	return i == n;
}

void csv_infer(const struct csvfield *f, struct val *out)
{
	char tmp[64];
	int integral;

	if (f->null) {
		*out = val_null();
		return;
	}
	if (f->n == 4 && memcmp(f->p, "true", 4) == 0) {
		*out = val_bool(1);
		return;
	}
	if (f->n == 5 && memcmp(f->p, "false", 5) == 0) {
		*out = val_bool(0);
		return;
	}
	if (f->n > 0 && f->n < sizeof(tmp) && json_number(f->p, f->n, &integral)) {
		char *end;

		memcpy(tmp, f->p, f->n);
		tmp[f->n] = '\0';
		errno = 0;
		if (integral) {
			long long v = strtoll(tmp, &end, 10);

			if (errno == 0 && *end == '\0') {
				*out = val_int(v);
				return;
			}
		}
		errno = 0;
		double d = strtod(tmp, &end);
		if (errno == 0 && *end == '\0') {
			*out = val_float(d);
			return;
		}
	}
	*out = val_str(f->p, f->n);
}
