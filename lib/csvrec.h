/* csvrec.h - one CSV (RFC 4180) or TSV record into its fields.
 *
 * CSV is parsed by libcsv (csv.h), strict: a quote inside an unquoted field
 * and a quoted field left open at the end of the record are errors. TSV
 * follows the IANA text/tab-separated-values registration: fields split at
 * tabs, no quoting (a field cannot hold a tab or a newline).
 *
 * A record is the bytes of exactly one record, without its line ending
 * (rtai-cat --format csv frames one record per frame: see rd_set_csv() in
 * frame.h); a quoted field may hold commas, doubled quotes, and newlines.
 * The parser keeps its buffers between records, so parsing allocates
 * nothing once they have grown to the largest record.
 */
#ifndef RTAI_CSVREC_H
#define RTAI_CSVREC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct csvfield {
	const char *p;		/* the field's bytes, unquoted; valid until the next parse */
	uint32_t n;		/* bytes */
	int null;		/* empty and not quoted ("" is an empty string, not null) */
};

struct csvrec {
	void *parser;		/* struct csv_parser *, NULL for TSV */
	unsigned char delim;	/* ',' (or --delimiter) for CSV, '\t' for TSV */
	struct buf text;	/* the fields' bytes, back to back */
	struct buf fields;	/* struct csvfield[n]; p is fixed up after parsing */
	uint32_t n;		/* fields in the last record */
	int failed;		/* a field callback ran out of room */
	char err[160];		/* the last error: "field 3: quote inside an unquoted field" */
};

/* Prepares c for CSV with the given delimiter (tsv: 0 for CSV, 1 for TSV,
 * whose delimiter is always a tab). Returns 0, or -1 when libcsv cannot
 * allocate (c->err set). Free with csvrec_free(). */
int csvrec_init(struct csvrec *c, unsigned char delim, int tsv);
/* Frees the parser and buffers. Accepts NULL and a zeroed struct. */
void csvrec_free(struct csvrec *c);

/* Parses the record p[0..n) into fields. Returns the number of fields (at
 * least 1: an empty record is one null field), or -1 with c->err set to
 * "field N: what" (N counted from 1, the column). The fields are
 * csvrec_field(c, 0..n-1), valid until the next call. A trailing "\r" has
 * already been taken off by the reader. */
int csvrec_parse(struct csvrec *c, const char *p, size_t n);

static inline const struct csvfield *csvrec_field(const struct csvrec *c, uint32_t i)
{
	return (const struct csvfield *)c->fields.p + i;
}

/* The value of a field by the inference rule of rtai-parse(1) --format csv,
 * for a column with no declared type: empty and unquoted: null; true or
 * false: a bool; an integer in JSON's syntax that fits in int64 (no leading
 * zeros, so "007" stays a string): an int; a number in JSON's syntax: a
 * float; anything else: a string. Strings borrow the field's bytes.
 * Declares struct val by pointer so this header needs no rec.h. */
struct val;
void csv_infer(const struct csvfield *f, struct val *out);

#endif
