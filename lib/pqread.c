/* pqread.c - reading back flat Parquet files (pq.h, pq_read_file): the
 * Thrift compact footer and page headers, RLE/bit-packed hybrid levels and
 * indices, PLAIN and dictionary pages, zstd/snappy. Every length and count
 * from the file is checked against the bytes that hold it. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>
#ifdef HAVE_SNAPPY
#include <snappy-c.h>
#endif

#include "pq.h"
#include "thrift.h"

/* ---- Thrift compact decoding ------------------------------------------------ */

struct tr {
	const uint8_t *p, *end;
	int bad;		/* ran past the end or met a malformed value */
};

static uint64_t tr_uvarint(struct tr *t)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		if (t->p >= t->end) {
			t->bad = 1;
			return 0;
		}
		uint8_t b = *t->p++;

		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	t->bad = 1;
	return 0;
}

static int64_t tr_varint(struct tr *t)
{
	uint64_t u = tr_uvarint(t);

	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* The next field header of a struct: returns its type (0 at the stop byte)
 * and sets *id. */
static int tr_field(struct tr *t, int16_t *last, int16_t *id)
{
	uint8_t b;

	if (t->p >= t->end) {
		t->bad = 1;
		return 0;
	}
	b = *t->p++;
	if (b == 0)
		return 0;
	if (b >> 4)
		*id = (int16_t)(*last + (b >> 4));
	else
		*id = (int16_t)tr_varint(t);
	*last = *id;
	return b & 0x0f;
}

/* A list header: returns the element count, sets *elem. */
static uint64_t tr_list(struct tr *t, int *elem)
{
	uint8_t b;
	uint64_t n;

	if (t->p >= t->end) {
		t->bad = 1;
		return 0;
	}
	b = *t->p++;
	*elem = b & 0x0f;
	n = b >> 4;
	if (n == 15)
		n = tr_uvarint(t);
	if (n > (uint64_t)(t->end - t->p)) {	/* every element takes a byte at least */
		t->bad = 1;
		return 0;
	}
	return n;
}

static const uint8_t *tr_bin(struct tr *t, size_t *n)
{
	uint64_t len = tr_uvarint(t);
	const uint8_t *p = t->p;

	if (t->bad || len > (uint64_t)(t->end - t->p)) {
		t->bad = 1;
		*n = 0;
		return NULL;
	}
	t->p += len;
	*n = len;
	return p;
}

static void tr_skip(struct tr *t, int type, int depth);

static void tr_skip_struct(struct tr *t, int depth)
{
	int16_t last = 0, id;
	int type;

	while (!t->bad && (type = tr_field(t, &last, &id)) != 0)
		tr_skip(t, type, depth + 1);
}

static void tr_skip(struct tr *t, int type, int depth)
{
	size_t n;
	int elem;
	uint64_t k;

	if (depth > 32) {
		t->bad = 1;
		return;
	}
	switch (type) {
	case TC_TRUE: case TC_FALSE: break;
	case TC_BYTE:
		if (t->p >= t->end)
			t->bad = 1;
		else
			t->p++;
		break;
	case TC_I16: case TC_I32: case TC_I64: tr_uvarint(t); break;
	case TC_DOUBLE:
		if (t->end - t->p < 8)
			t->bad = 1;
		else
			t->p += 8;
		break;
	case TC_BINARY: tr_bin(t, &n); break;
	case TC_LIST: case TC_SET:
		k = tr_list(t, &elem);
		while (k-- > 0 && !t->bad)
			tr_skip(t, elem, depth + 1);
		break;
	case TC_STRUCT: tr_skip_struct(t, depth); break;
	default: t->bad = 1;	/* maps are not in parquet.thrift's footer */
	}
}

/* ---- the footer -------------------------------------------------------------- */

struct chunk {
	int type, codec;
	int64_t nvalues, data_off, dict_off, comp_size;
};

struct meta {
	size_t nschema;
	struct { char *name; int type, repetition, converted, logical; } *schema;
	int64_t rows;
	size_t nrg;
	struct { size_t n; struct chunk *c; int64_t rows; } *rg;
};

static void meta_free(struct meta *m)
{
	for (size_t i = 0; i < m->nschema; i++)
		free(m->schema[i].name);
	free(m->schema);
	for (size_t i = 0; i < m->nrg; i++)
		free(m->rg[i].c);
	free(m->rg);
}

/* LogicalType: the id of the union's field set (STRING 1, TIMESTAMP 8...). */
static int read_logical(struct tr *t)
{
	int16_t last = 0, id = 0;
	int type, which = 0;

	while (!t->bad && (type = tr_field(t, &last, &id)) != 0) {
		which = id;
		tr_skip(t, type, 1);
	}
	return which;
}

static void read_schema_elem(struct tr *t, struct meta *m, size_t i)
{
	int16_t last = 0, id = 0;
	int type;
	size_t n;
	const uint8_t *p;

	m->schema[i].type = m->schema[i].converted = -1;
	while (!t->bad && (type = tr_field(t, &last, &id)) != 0) {
		if (id == 1 && type == TC_I32)
			m->schema[i].type = (int)tr_varint(t);
		else if (id == 3 && type == TC_I32)
			m->schema[i].repetition = (int)tr_varint(t);
		else if (id == 4 && type == TC_BINARY) {
			p = tr_bin(t, &n);
			free(m->schema[i].name);
			m->schema[i].name = p ? xstrndup((const char *)p, n) : NULL;
		} else if (id == 6 && type == TC_I32)
			m->schema[i].converted = (int)tr_varint(t);
		else if (id == 10 && type == TC_STRUCT)
			m->schema[i].logical = read_logical(t);
		else
			tr_skip(t, type, 1);
	}
}

static void read_colmeta(struct tr *t, struct chunk *c)
{
	int16_t last = 0, id = 0;
	int type;

	c->dict_off = -1;
	while (!t->bad && (type = tr_field(t, &last, &id)) != 0) {
		if (type == TC_I32 && id == 1)
			c->type = (int)tr_varint(t);
		else if (type == TC_I32 && id == 4)
			c->codec = (int)tr_varint(t);
		else if (type == TC_I64 && id == 5)
			c->nvalues = tr_varint(t);
		else if (type == TC_I64 && id == 7)
			c->comp_size = tr_varint(t);
		else if (type == TC_I64 && id == 9)
			c->data_off = tr_varint(t);
		else if (type == TC_I64 && id == 11)
			c->dict_off = tr_varint(t);
		else
			tr_skip(t, type, 2);
	}
}

static void read_rowgroup(struct tr *t, struct meta *m, size_t g)
{
	int16_t last = 0, id = 0, l2, id2;
	int type, elem, t2;
	uint64_t n;

	while (!t->bad && (type = tr_field(t, &last, &id)) != 0) {
		if (id == 1 && type == TC_LIST) {
			n = tr_list(t, &elem);
			if (elem != TC_STRUCT || m->rg[g].c != NULL) {
				t->bad = 1;
				return;
			}
			m->rg[g].c = xcalloc(n ? n : 1, sizeof(struct chunk));
			m->rg[g].n = n;
			for (uint64_t k = 0; k < n && !t->bad; k++) {
				l2 = 0;
				while (!t->bad && (t2 = tr_field(t, &l2, &id2)) != 0) {
					if (id2 == 3 && t2 == TC_STRUCT)
						read_colmeta(t, &m->rg[g].c[k]);
					else
						tr_skip(t, t2, 2);
				}
			}
		} else if (id == 3 && type == TC_I64) {
			m->rg[g].rows = tr_varint(t);
		} else {
			tr_skip(t, type, 1);
		}
	}
}

static int read_footer(struct tr *t, struct meta *m)
{
	int16_t last = 0, id = 0;
	int type, elem;
	uint64_t n;

	while (!t->bad && (type = tr_field(t, &last, &id)) != 0) {
		if (id == 2 && type == TC_LIST && m->schema == NULL) {
			n = tr_list(t, &elem);
			m->schema = xcalloc(n ? n : 1, sizeof(*m->schema));
			m->nschema = n;
			for (uint64_t k = 0; k < n && !t->bad; k++)
				read_schema_elem(t, m, k);
		} else if (id == 3 && type == TC_I64) {
			m->rows = tr_varint(t);
		} else if (id == 4 && type == TC_LIST && m->rg == NULL) {
			n = tr_list(t, &elem);
			m->rg = xcalloc(n ? n : 1, sizeof(*m->rg));
			m->nrg = n;
			for (uint64_t k = 0; k < n && !t->bad; k++)
				read_rowgroup(t, m, k);
		} else {
			tr_skip(t, type, 1);
		}
	}
	return t->bad ? -1 : 0;
}

/* ---- pages --------------------------------------------------------------------- */

struct rd {
	const char *path;
	char *err;
	size_t errsz;
	struct buf page;	/* a decompressed page */
	struct buf dict;	/* the chunk's dictionary, PLAIN */
	struct buf dents;	/* offsets of its entries in dict */
	uint32_t ndict;
	uint32_t *idx;		/* scratch: levels or indices */
	size_t idxcap;
};

static int bad(struct rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct rd *r, const char *fmt, ...)
{
	va_list ap;
	char msg[256];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(r->err, r->errsz, "%s: %s", r->path, msg);
	return -1;
}

/* Decodes n values of the hybrid encoding at width w into r->idx. */
static int rle_decode(struct rd *r, struct tr *t, uint64_t n, int w)
{
	uint64_t got = 0;
	size_t vb = (size_t)(w + 7) / 8;

	if (w > 32)
		return bad(r, "a bit width of %d", w);
	if (n > r->idxcap) {
		r->idx = xrealloc(r->idx, n * sizeof(*r->idx));
		r->idxcap = n;
	}
	while (got < n) {
		uint64_t h = tr_uvarint(t);

		if (t->bad)
			return bad(r, "truncated levels or indices");
		if (!(h & 1)) {
			uint64_t run = h >> 1;
			uint32_t v = 0;

			if ((size_t)(t->end - t->p) < vb)
				return bad(r, "a truncated RLE run");
			for (size_t k = 0; k < vb; k++)
				v |= (uint32_t)t->p[k] << (8 * k);
			t->p += vb;
			for (; run > 0 && got < n; run--)
				r->idx[got++] = v;
		} else {
			uint64_t groups = h >> 1;

			if (w > 0 && groups > (uint64_t)(t->end - t->p) / (uint64_t)w)
				return bad(r, "a truncated bit-packed run");
			for (uint64_t k = 0; k < groups * 8 && got < n; k++) {
				uint32_t v = 0;
				uint64_t bit = k * (uint64_t)w;

				for (int b = 0; b < w; b++, bit++)
					v |= (uint32_t)(t->p[bit / 8] >> (bit % 8) & 1) << b;
				r->idx[got++] = v;
			}
			t->p += groups * (uint64_t)w;
		}
	}
	return 0;
}

/* Decompresses a page of codec (0 none, 1 snappy, 6 zstd: parquet.thrift's
 * CompressionCodec) from the csize bytes at src into r->page, which holds
 * usize bytes after it. The size the header claims is checked against what
 * the compressed bytes say before anything is allocated for it, so a
 * corrupt header cannot ask for gigabytes. at is the page's byte offset,
 * for messages. Returns 0, or -1 after bad(). */
static int inflate_page(struct rd *r, int codec, const uint8_t *src, size_t csize, size_t usize,
			size_t at)
{
	size_t k;

	switch (codec) {
	case 0:
		if (usize != csize)
			return bad(r, "byte %zu: an uncompressed page whose sizes differ", at);
		buf_reset(&r->page);
		buf_reserve(&r->page, usize + 1);
		memcpy(r->page.p, src, csize);
		return 0;
	case 6: {
		unsigned long long fs = ZSTD_getFrameContentSize(src, csize);

		if (fs == ZSTD_CONTENTSIZE_ERROR ||
		    (fs != ZSTD_CONTENTSIZE_UNKNOWN && fs != (unsigned long long)usize) ||
		    (fs == ZSTD_CONTENTSIZE_UNKNOWN && usize > csize * 1024 + 65536))
			return bad(r, "byte %zu: a zstd page that does not decompress to its size",
				   at);
		buf_reset(&r->page);
		buf_reserve(&r->page, usize + 1);
		k = ZSTD_decompress(r->page.p, usize, src, csize);
		if (ZSTD_isError(k) || k != usize)
			return bad(r, "byte %zu: a zstd page that does not decompress to its size",
				   at);
		return 0;
	}
#ifdef HAVE_SNAPPY
	case 1:
		if (snappy_uncompressed_length((const char *)src, csize, &k) != SNAPPY_OK ||
		    k != usize)
			return bad(r, "byte %zu: a snappy page that does not decompress to its size",
				   at);
		buf_reset(&r->page);
		buf_reserve(&r->page, usize + 1);
		if (snappy_uncompress((const char *)src, csize, (char *)r->page.p, &k) !=
		    SNAPPY_OK || k != usize)
			return bad(r, "byte %zu: a snappy page that does not decompress to its size",
				   at);
		return 0;
#endif
	default:
		return bad(r, "compression codec %d is not read here", codec);
	}
}

/* Reads the page at *at into r->page (decompressed); sets the header's
 * fields. Returns 0 or -1. */
static int read_page(struct rd *r, const uint8_t *file, size_t size, size_t *at, int codec,
		     int *ptype, int64_t *nvalues, int *encoding)
{
	struct tr t = { file + *at, file + size, 0 };
	int16_t last = 0, id = 0, l2, id2;
	int type, t2;
	int64_t usize = -1, csize = -1;

	*ptype = -1;
	*nvalues = -1;
	*encoding = 0;
	while (!t.bad && (type = tr_field(&t, &last, &id)) != 0) {
		if (id == 1 && type == TC_I32)
			*ptype = (int)tr_varint(&t);
		else if (id == 2 && type == TC_I32)
			usize = tr_varint(&t);
		else if (id == 3 && type == TC_I32)
			csize = tr_varint(&t);
		else if ((id == 5 || id == 7) && type == TC_STRUCT) {
			l2 = 0;
			while (!t.bad && (t2 = tr_field(&t, &l2, &id2)) != 0) {
				if (id2 == 1 && t2 == TC_I32)
					*nvalues = tr_varint(&t);
				else if (id2 == 2 && t2 == TC_I32)
					*encoding = (int)tr_varint(&t);
				else
					tr_skip(&t, t2, 2);
			}
		} else {
			tr_skip(&t, type, 1);
		}
	}
	if (t.bad || usize < 0 || csize < 0 || *nvalues < 0 || csize > t.end - t.p)
		return bad(r, "byte %zu: a malformed page header", *at);
	if (inflate_page(r, codec, t.p, (size_t)csize, (size_t)usize, *at) < 0)
		return -1;
	r->page.len = (size_t)usize;
	*at = (size_t)(t.p - file) + (size_t)csize;
	return 0;
}

/* Appends one PLAIN value of type ty from *t to out. */
static int plain_value(struct tr *t, enum pq_type ty, struct buf *out)
{
	uint32_t n;

	if (ty == PQ_STRING || ty == PQ_BYTES) {
		if (t->end - t->p < 4)
			return -1;
		memcpy(&n, t->p, 4);
		if (n > (size_t)(t->end - t->p) - 4)
			return -1;
		buf_append(out, t->p, 4 + (size_t)n);
		t->p += 4 + (size_t)n;
		return 0;
	}
	if (t->end - t->p < 8)
		return -1;
	buf_append(out, t->p, 8);
	t->p += 8;
	return 0;
}

static int read_chunk(struct rd *r, const uint8_t *file, size_t size, const struct chunk *ch,
		      struct pq_column *col, int optional, uint64_t *row)
{
	size_t at = (size_t)(ch->dict_off >= 0 && ch->dict_off < ch->data_off ? ch->dict_off
									      : ch->data_off);
	int64_t seen = 0;

	r->ndict = 0;
	if (ch->data_off < 4 || (uint64_t)ch->data_off >= size)
		return bad(r, "a column chunk outside the file");
	while (seen < ch->nvalues) {
		int ptype, enc;
		int64_t nv;

		if (read_page(r, file, size, &at, ch->codec, &ptype, &nv, &enc) < 0)
			return -1;
		struct tr t = { r->page.p, r->page.p + r->page.len, 0 };

		if (ptype == 2) {	/* dictionary */
			/* Booleans are bit-packed in PLAIN: no dictionary holds them. */
			if (col->type == PQ_BOOL)
				return bad(r, "a dictionary page for a boolean column");
			buf_reset(&r->dict);
			buf_reset(&r->dents);
			for (int64_t i = 0; i < nv; i++) {
				uint32_t off = (uint32_t)r->dict.len;

				if (plain_value(&t, col->type, &r->dict) < 0)
					return bad(r, "a truncated dictionary page");
				buf_append(&r->dents, &off, 4);
			}
			r->ndict = (uint32_t)nv;
			continue;
		}
		if (ptype != 0)
			return bad(r, "page type %d is not read here (data pages v1 only)", ptype);
		if ((uint64_t)nv > (uint64_t)(ch->nvalues - seen))
			return bad(r, "a page with more values than its chunk");
		/* Definition levels. */
		col->def = xrealloc(col->def, *row + (size_t)nv + 1);
		if (optional) {
			uint32_t len;

			if (t.end - t.p < 4)
				return bad(r, "truncated definition levels");
			memcpy(&len, t.p, 4);
			if (len > (size_t)(t.end - t.p) - 4)
				return bad(r, "truncated definition levels");
			struct tr lv = { t.p + 4, t.p + 4 + len, 0 };

			if (rle_decode(r, &lv, (uint64_t)nv, 1) < 0)
				return -1;
			t.p += 4 + len;
			for (int64_t i = 0; i < nv; i++)
				col->def[*row + (size_t)i] = r->idx[i] != 0;
		} else {
			memset(col->def + *row, 1, (size_t)nv);
		}
		uint64_t nnn = 0;

		for (int64_t i = 0; i < nv; i++)
			nnn += col->def[*row + (size_t)i];
		if (enc == 2 || enc == 8) {	/* PLAIN_DICTIONARY, RLE_DICTIONARY */
			int w;

			if (t.p >= t.end)
				return bad(r, "a dictionary page without a bit width");
			w = *t.p++;
			if (rle_decode(r, &t, nnn, w) < 0)
				return -1;
			for (uint64_t i = 0; i < nnn; i++) {
				uint32_t off, end, e = r->idx[i];

				if (e >= r->ndict)
					return bad(r, "dictionary index %u of %u", e, r->ndict);
				memcpy(&off, r->dents.p + 4 * (size_t)e, 4);
				end = e + 1 < r->ndict ? ((const uint32_t *)r->dents.p)[e + 1]
						       : (uint32_t)r->dict.len;
				buf_append(&col->vals, r->dict.p + off, end - off);
			}
		} else if (enc == 0 && col->type == PQ_BOOL) {
			if ((uint64_t)(t.end - t.p) * 8 < nnn)
				return bad(r, "truncated booleans");
			for (uint64_t i = 0; i < nnn; i++)
				buf_putc(&col->vals, t.p[i / 8] >> (i % 8) & 1);
		} else if (enc == 0) {
			for (uint64_t i = 0; i < nnn; i++)
				if (plain_value(&t, col->type, &col->vals) < 0)
					return bad(r, "truncated values");
		} else {
			return bad(r, "encoding %d is not read here", enc);
		}
		col->nvals += nnn;
		*row += (uint64_t)nv;
		seen += nv;
	}
	return 0;
}

/* ---- the file -------------------------------------------------------------------- */

static int col_type(const struct meta *m, size_t i, enum pq_type *out)
{
	int t = m->schema[i].type, ct = m->schema[i].converted, lt = m->schema[i].logical;

	switch (t) {
	case 0: *out = PQ_BOOL; return 0;
	case 2: *out = (ct == 10 || lt == 8) ? PQ_TIME_US : PQ_INT64; return 0;
	case 5: *out = PQ_DOUBLE; return 0;
	case 6: *out = (ct == 0 || lt == 1) ? PQ_STRING : PQ_BYTES; return 0;
	default: return -1;
	}
}

int pq_read_mem(const uint8_t *p, size_t n, const char *name, struct pq_file *f, char *err,
		size_t errsz)
{
	struct rd r = { .path = name, .err = err, .errsz = errsz };
	struct meta m = { 0 };
	uint32_t flen;
	int rc = -1;

	memset(f, 0, sizeof(*f));
	if (n < 12 || memcmp(p, "PAR1", 4) != 0 || memcmp(p + n - 4, "PAR1", 4) != 0)
		return bad(&r, "not a Parquet file (no PAR1 at both ends)");
	memcpy(&flen, p + n - 8, 4);
	if (flen > n - 12)
		return bad(&r, "a footer longer than the file");
	struct tr t = { p + n - 8 - flen, p + n - 8, 0 };

	if (read_footer(&t, &m) < 0 || m.nschema < 1 || m.rows < 0) {
		bad(&r, "a malformed footer");
		goto out;
	}
	f->ncols = m.nschema - 1;
	f->rows = (uint64_t)m.rows;
	f->c = xcalloc(f->ncols ? f->ncols : 1, sizeof(*f->c));
	for (size_t i = 0; i < f->ncols; i++) {
		if (m.schema[i + 1].name == NULL || col_type(&m, i + 1, &f->c[i].type) < 0 ||
		    m.schema[i + 1].repetition == 2) {
			bad(&r, "column %zu: a type or nesting not read here", i + 1);
			goto out;
		}
		f->c[i].name = xstrdup(m.schema[i + 1].name);
	}
	for (size_t i = 0; i < f->ncols; i++) {
		uint64_t row = 0;

		for (size_t g = 0; g < m.nrg; g++) {
			if (m.rg[g].n != f->ncols) {
				bad(&r, "row group %zu has %zu columns, the schema %zu", g, m.rg[g].n,
				    f->ncols);
				goto out;
			}
			if (read_chunk(&r, p, n, &m.rg[g].c[i], &f->c[i],
				       m.schema[i + 1].repetition == 1, &row) < 0)
				goto out;
		}
		if (row != f->rows) {
			bad(&r, "column %s has %llu rows, the file %llu", f->c[i].name,
			    (unsigned long long)row, (unsigned long long)f->rows);
			goto out;
		}
	}
	rc = 0;
out:
	meta_free(&m);
	buf_free(&r.page);
	buf_free(&r.dict);
	buf_free(&r.dents);
	free(r.idx);
	return rc;
}

int pq_read_file(const char *path, struct pq_file *f, char *err, size_t errsz)
{
	struct buf file = { 0 };
	struct stat st;
	int fd, rc = -1;

	memset(f, 0, sizeof(*f));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	buf_reserve(&file, (size_t)st.st_size + 1);
	while (file.len < (size_t)st.st_size) {
		ssize_t k = read(fd, file.p + file.len, (size_t)st.st_size - file.len);

		if (k <= 0) {
			snprintf(err, errsz, "%s: %s", path,
				 k < 0 ? strerror(errno) : "shorter than its size");
			goto out;
		}
		file.len += (size_t)k;
	}
	rc = pq_read_mem(file.p, file.len, path, f, err, errsz);
out:
	close(fd);
	buf_free(&file);
	return rc;
}

void pq_file_free(struct pq_file *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->ncols; i++) {
		free(f->c[i].name);
		free(f->c[i].def);
		buf_free(&f->c[i].vals);
	}
	free(f->c);
	memset(f, 0, sizeof(*f));
}
