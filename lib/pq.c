/* pq.c - the Parquet writer (pq.h). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>
#ifdef HAVE_SNAPPY
#include <snappy-c.h>
#endif

#include "pq.h"
#include "rec.h"
#include "thrift.h"

/* parquet.thrift numbers. */
enum { T_BOOLEAN = 0, T_INT64 = 2, T_DOUBLE = 5, T_BYTE_ARRAY = 6 };
enum { E_PLAIN = 0, E_RLE = 3, E_RLE_DICTIONARY = 8 };
enum { PAGE_DATA = 0, PAGE_DICTIONARY = 2 };
enum { CT_UTF8 = 0, CT_TIMESTAMP_MICROS = 10 };

#define OUT_FLUSH (1u << 20)	/* write() the output in pieces this big */
#define STATS_MAX 4096		/* longer strings get no min/max in the footer */

const struct pq_options pq_defaults = {
	.codec = PQ_ZSTD,
	.zstd_level = 3,
	.rg_rows = 122880,
	.rg_bytes = 64u << 20,
	.dict_max_bytes = 1u << 20,
	.created_by = "rtai version " PACKAGE_VERSION,
};

struct pq_col {
	char *name;
	enum pq_type type;
	int set;		/* set in the current row */
	struct buf def;		/* a definition level (0/1) per row */
	struct buf vals;	/* PLAIN values; bools one byte each */
	uint32_t nvals;
	/* Dictionary of a string or bytes chunk: idx holds a u32 per value,
	 * dents the offset in vals of each distinct value's length prefix,
	 * slots a hash table of dents indexes + 1. */
	int dict_on;
	struct buf idx, dents;
	uint32_t *slots, nslots, ndict;
	size_t dict_bytes;
	/* Chunk statistics; strings as offsets into vals. */
	int64_t nulls;
	int has_mm;
	int64_t imin, imax;
	double fmin, fmax;
	uint32_t smin, smax;
	struct pq_stats file;	/* the same over the file */
};

/* ---- RLE / bit-packed hybrid --------------------------------------------- */

int pq_bit_width(uint32_t max)
{
	int w = 0;

	while (max != 0) {
		w++;
		max >>= 1;
	}
	return w;
}

static inline uint32_t at(const void *v, size_t esize, size_t i)
{
	return esize == 1 ? ((const uint8_t *)v)[i] : ((const uint32_t *)v)[i];
}

static size_t run_len(const void *v, size_t esize, size_t i, size_t n)
{
	uint32_t x = at(v, esize, i);
	size_t j = i + 1;

	while (j < n && at(v, esize, j) == x)
		j++;
	return j - i;
}

void pq_rle_encode(struct buf *out, const void *v, size_t esize, size_t n, int width)
{
	size_t i = 0, vbytes = (size_t)(width + 7) / 8;

	while (i < n) {
		size_t r = run_len(v, esize, i, n);

		if (r >= 8) {
			uint32_t x = at(v, esize, i);

			tc_uvarint(out, (uint64_t)r << 1);
			for (size_t k = 0; k < vbytes; k++)
				buf_putc(out, (uint8_t)(x >> (8 * k)));
			i += r;
			continue;
		}
		/* Bit-packed groups of 8 until a run of 8 starts or input ends. */
		size_t j = i, groups = 0;

		do {
			j += 8;
			groups++;
		} while (j < n && run_len(v, esize, j, n) < 8);
		tc_uvarint(out, (uint64_t)groups << 1 | 1);
		uint8_t *p = buf_reserve(out, groups * (size_t)width);
		memset(p, 0, groups * (size_t)width);
		for (size_t k = 0; k < groups * 8; k++) {
			uint32_t x = i + k < n ? at(v, esize, i + k) : 0;
			size_t bit = k * (size_t)width;

			for (int b = 0; b < width; b++, bit++)
				if (x >> b & 1)
					p[bit / 8] |= (uint8_t)(1u << (bit % 8));
		}
		out->len += groups * (size_t)width;
		i = j < n ? j : n;
	}
}

/* ---- writer set-up -------------------------------------------------------- */

struct pq_writer *pq_open(int fd, const struct pq_colspec *cols, size_t ncols,
			  const struct pq_options *o)
{
	struct pq_writer *w = xcalloc(1, sizeof(*w));

	w->fd = fd;
	w->o = *o;
	w->ncols = ncols;
	w->c = xcalloc(ncols ? ncols : 1, sizeof(*w->c));
	for (size_t i = 0; i < ncols; i++) {
		w->c[i].name = xstrdup(cols[i].name);
		w->c[i].type = cols[i].type;
		w->c[i].dict_on = cols[i].type == PQ_STRING || cols[i].type == PQ_BYTES;
	}
	buf_append(&w->out, "PAR1", 4);
	w->offset = 4;
	return w;
}

void pq_free(struct pq_writer *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->ncols; i++) {
		struct pq_col *c = &w->c[i];

		free(c->name);
		buf_free(&c->def);
		buf_free(&c->vals);
		buf_free(&c->idx);
		buf_free(&c->dents);
		free(c->slots);
		buf_free(&c->file.smin);
		buf_free(&c->file.smax);
	}
	free(w->c);
	buf_free(&w->out);
	buf_free(&w->rgs);
	buf_free(&w->page);
	buf_free(&w->comp);
	buf_free(&w->tmp);
	ZSTD_freeCCtx(w->zctx);
	free(w);
}

/* ---- values ------------------------------------------------------------------ */

static void put_null(struct pq_col *c)
{
	buf_putc(&c->def, 0);
	c->nulls++;
}

void pq_put_null(struct pq_writer *w, size_t col)
{
	w->c[col].set = 1;
	put_null(&w->c[col]);
}

static void mm_int(struct pq_col *c, int64_t v)
{
	if (!c->has_mm || v < c->imin)
		c->imin = v;
	if (!c->has_mm || v > c->imax)
		c->imax = v;
	c->has_mm = 1;
}

void pq_put_bool(struct pq_writer *w, size_t col, int v)
{
	struct pq_col *c = &w->c[col];

	c->set = 1;
	buf_putc(&c->def, 1);
	buf_putc(&c->vals, v != 0);
	c->nvals++;
	mm_int(c, v != 0);
	w->rg_buffered++;
}

void pq_put_int64(struct pq_writer *w, size_t col, int64_t v)
{
	struct pq_col *c = &w->c[col];

	c->set = 1;
	buf_putc(&c->def, 1);
	buf_append(&c->vals, &v, 8);
	c->nvals++;
	mm_int(c, v);
	w->rg_buffered += 8;
}

void pq_put_double(struct pq_writer *w, size_t col, double v)
{
	struct pq_col *c = &w->c[col];

	c->set = 1;
	buf_putc(&c->def, 1);
	buf_append(&c->vals, &v, 8);
	c->nvals++;
	w->rg_buffered += 8;
	if (isnan(v))
		return;	/* NaN has no place in min/max (parquet.thrift, Statistics) */
	if (!c->has_mm || v < c->fmin)
		c->fmin = v;
	if (!c->has_mm || v > c->fmax)
		c->fmax = v;
	/* A zero bound is written -0.0 as min and +0.0 as max (parquet.thrift). */
	if (c->fmin == 0)
		c->fmin = -0.0;
	if (c->fmax == 0)
		c->fmax = 0.0;
	c->has_mm = 1;
}

static const uint8_t *sval(const struct pq_col *c, uint32_t off, uint32_t *n)
{
	memcpy(n, c->vals.p + off, 4);
	return c->vals.p + off + 4;
}

static int bytes_cmp(const void *a, size_t an, const void *b, size_t bn)
{
	size_t n = an < bn ? an : bn;
	int r = n == 0 ? 0 : memcmp(a, b, n);	/* an empty buf's pointer may be NULL */

	return r != 0 ? r : (an > bn) - (an < bn);
}

static void dict_grow(struct pq_col *c)
{
	uint32_t n = c->nslots ? c->nslots * 2 : 1024;
	uint32_t *s = xcalloc(n, sizeof(*s));
	const uint32_t *d = (const uint32_t *)c->dents.p;

	for (uint32_t e = 0; e < c->ndict; e++) {
		uint32_t len;
		const uint8_t *p = sval(c, d[e], &len);
		uint32_t h = (uint32_t)rec_hash(p, len, 0) & (n - 1);

		while (s[h] != 0)
			h = (h + 1) & (n - 1);
		s[h] = e + 1;
	}
	free(c->slots);
	c->slots = s;
	c->nslots = n;
}

/* Looks the value just appended at off up in the dictionary, adding it
 * when new; turns the dictionary off when it grows too big. */
static void dict_add(struct pq_writer *w, struct pq_col *c, uint32_t off,
		     const void *p, size_t n)
{
	uint32_t h, e;
	const uint32_t *d;

	if (c->ndict * 2 >= c->nslots)
		dict_grow(c);
	d = (const uint32_t *)c->dents.p;
	h = (uint32_t)rec_hash(p, n, 0) & (c->nslots - 1);
	while ((e = c->slots[h]) != 0) {
		uint32_t len;
		const uint8_t *q = sval(c, d[e - 1], &len);

		if (len == n && memcmp(q, p, n) == 0) {
			buf_append(&c->idx, &(uint32_t){ e - 1 }, 4);
			return;
		}
		h = (h + 1) & (c->nslots - 1);
	}
	c->dict_bytes += 4 + n;
	if (c->dict_bytes > w->o.dict_max_bytes) {
		c->dict_on = 0;
		return;
	}
	c->slots[h] = ++c->ndict;
	buf_append(&c->dents, &off, 4);
	buf_append(&c->idx, &(uint32_t){ c->ndict - 1 }, 4);
}

void pq_put_bytes(struct pq_writer *w, size_t col, const void *p, size_t n)
{
	struct pq_col *c = &w->c[col];
	uint32_t off = (uint32_t)c->vals.len, len = (uint32_t)n;

	c->set = 1;
	buf_putc(&c->def, 1);
	buf_append(&c->vals, &len, 4);
	buf_append(&c->vals, p, n);
	c->nvals++;
	w->rg_buffered += 4 + n;
	if (c->dict_on)
		dict_add(w, c, off, p, n);
	if (!c->has_mm) {
		c->smin = c->smax = off;
		c->has_mm = 1;
		return;
	}
	uint32_t ln;
	const uint8_t *q = sval(c, c->smin, &ln);

	if (bytes_cmp(p, n, q, ln) < 0)
		c->smin = off;
	q = sval(c, c->smax, &ln);
	if (bytes_cmp(p, n, q, ln) > 0)
		c->smax = off;
}

/* ---- output ------------------------------------------------------------------ */

static int fail(struct pq_writer *w, const char *fmt, const char *what)
{
	w->failed = 1;
	snprintf(w->err, sizeof(w->err), fmt, what);
	return -1;
}

static int out_write(struct pq_writer *w)
{
	size_t done = 0;

	while (done < w->out.len) {
		ssize_t k = write(w->fd, w->out.p + done, w->out.len - done);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return fail(w, "write: %s", strerror(errno));
		done += (size_t)k;
	}
	buf_reset(&w->out);
	return 0;
}

static void out_append(struct pq_writer *w, const void *p, size_t n)
{
	buf_append(&w->out, p, n);
	w->offset += n;
}

/* Compresses w->page into w->comp (or points at it); returns the body. */
static int compress_page(struct pq_writer *w, const struct buf **body)
{
	size_t bound, k;

	*body = &w->page;
	switch (w->o.codec) {
	case PQ_UNCOMPRESSED:
		return 0;
	case PQ_ZSTD:
		if (w->zctx == NULL)
			w->zctx = ZSTD_createCCtx();
		bound = ZSTD_compressBound(w->page.len);
		buf_reset(&w->comp);
		buf_reserve(&w->comp, bound);
		k = ZSTD_compressCCtx(w->zctx, w->comp.p, bound, w->page.p, w->page.len,
				      w->o.zstd_level);
		if (ZSTD_isError(k))
			return fail(w, "zstd: %s", ZSTD_getErrorName(k));
		w->comp.len = k;
		*body = &w->comp;
		return 0;
	case PQ_SNAPPY:
#ifdef HAVE_SNAPPY
		bound = snappy_max_compressed_length(w->page.len);
		buf_reset(&w->comp);
		buf_reserve(&w->comp, bound);
		k = bound;
		if (snappy_compress((const char *)w->page.p, w->page.len,
				    (char *)w->comp.p, &k) != SNAPPY_OK)
			return fail(w, "snappy: %s", "compression failed");
		w->comp.len = k;
		*body = &w->comp;
		return 0;
#else
		return fail(w, "%s", "snappy: not built in (configure found no libsnappy)");
#endif
	}
	return fail(w, "%s", "unknown codec");
}

/* Writes w->page as a page of the given type: header, then body.
 * nvalues counts rows (data) or dictionary entries. */
static int write_page(struct pq_writer *w, int type, uint32_t nvalues, int encoding,
		      uint64_t *unc, uint64_t *comp)
{
	const struct buf *body;
	struct tc t = { .b = &w->tmp };

	if (w->page.len > INT32_MAX)
		return fail(w, "%s", "a page larger than 2 GiB (lower --row-group-rows)");
	if (compress_page(w, &body) < 0)
		return -1;
	buf_reset(&w->tmp);
	tc_i32(&t, 1, type);
	tc_i32(&t, 2, (int32_t)w->page.len);
	tc_i32(&t, 3, (int32_t)body->len);
	if (type == PAGE_DATA) {
		tc_struct_begin(&t, 5);
		tc_i32(&t, 1, (int32_t)nvalues);
		tc_i32(&t, 2, encoding);
		tc_i32(&t, 3, E_RLE);
		tc_i32(&t, 4, E_RLE);
		tc_struct_end(&t);
	} else {
		tc_struct_begin(&t, 7);
		tc_i32(&t, 1, (int32_t)nvalues);
		tc_i32(&t, 2, E_PLAIN);
		tc_struct_end(&t);
	}
	tc_stop(&t);
	out_append(w, w->tmp.p, w->tmp.len);
	out_append(w, body->p, body->len);
	*unc += w->tmp.len + w->page.len;
	*comp += w->tmp.len + body->len;
	return 0;
}

static int phys_type(enum pq_type t)
{
	switch (t) {
	case PQ_BOOL: return T_BOOLEAN;
	case PQ_INT64: case PQ_TIME_US: return T_INT64;
	case PQ_DOUBLE: return T_DOUBLE;
	default: return T_BYTE_ARRAY;
	}
}

/* The min or max of a chunk as Statistics bytes (PLAIN, without the
 * length of byte arrays). */
static void stat_bytes(const struct pq_col *c, int max, struct buf *b)
{
	uint32_t n;
	const uint8_t *p;
	uint8_t bit;

	switch (c->type) {
	case PQ_BOOL:
		bit = (uint8_t)(max ? c->imax : c->imin);
		buf_putc(b, bit);
		break;
	case PQ_INT64: case PQ_TIME_US:
		buf_append(b, max ? &c->imax : &c->imin, 8);
		break;
	case PQ_DOUBLE:
		buf_append(b, max ? &c->fmax : &c->fmin, 8);
		break;
	default:
		p = sval(c, max ? c->smax : c->smin, &n);
		buf_append(b, p, n);
	}
}

/* Folds a chunk's statistics into the file's. */
static void stats_fold(struct pq_col *c)
{
	struct pq_stats *s = &c->file;
	uint32_t n;
	const uint8_t *p;

	s->nulls += c->nulls;
	if (!c->has_mm)
		return;
	switch (c->type) {
	case PQ_BOOL: case PQ_INT64: case PQ_TIME_US:
		if (!s->has_minmax || c->imin < s->imin)
			s->imin = c->imin;
		if (!s->has_minmax || c->imax > s->imax)
			s->imax = c->imax;
		break;
	case PQ_DOUBLE:
		if (!s->has_minmax || c->fmin < s->fmin)
			s->fmin = c->fmin;
		if (!s->has_minmax || c->fmax > s->fmax)
			s->fmax = c->fmax;
		break;
	default:
		p = sval(c, c->smin, &n);
		if (!s->has_minmax || bytes_cmp(p, n, s->smin.p, s->smin.len) < 0) {
			buf_reset(&s->smin);
			buf_append(&s->smin, p, n);
		}
		p = sval(c, c->smax, &n);
		if (!s->has_minmax || bytes_cmp(p, n, s->smax.p, s->smax.len) > 0) {
			buf_reset(&s->smax);
			buf_append(&s->smax, p, n);
		}
	}
	s->has_minmax = 1;
}

/* Whether a dictionary makes the chunk smaller than PLAIN. */
static int use_dict(const struct pq_col *c)
{
	if (!c->dict_on || c->nvals == 0)
		return 0;
	size_t ib = ((size_t)pq_bit_width(c->ndict - 1) * c->nvals + 7) / 8;

	return c->dict_bytes + ib < c->vals.len;
}

/* Writes one column chunk of the row group and its ColumnChunk struct. */
static int write_chunk(struct pq_writer *w, struct pq_col *c, uint32_t nrows, struct tc *rg,
		       uint64_t *rg_unc, uint64_t *rg_comp)
{
	uint64_t unc = 0, comp = 0, dict_off = 0, data_off;
	int dict = use_dict(c), enc = dict ? E_RLE_DICTIONARY : E_PLAIN;
	size_t mark;

	if (dict) {
		const uint32_t *d = (const uint32_t *)c->dents.p;

		dict_off = w->offset;
		buf_reset(&w->page);
		for (uint32_t e = 0; e < c->ndict; e++) {
			uint32_t n;
			const uint8_t *p = sval(c, d[e], &n);

			buf_append(&w->page, p - 4, 4 + (size_t)n);
		}
		if (write_page(w, PAGE_DICTIONARY, c->ndict, E_PLAIN, &unc, &comp) < 0)
			return -1;
	}
	data_off = w->offset;
	buf_reset(&w->page);
	/* Definition levels: a u32 length, then the hybrid encoding, width 1. */
	buf_append(&w->page, "\0\0\0\0", 4);
	pq_rle_encode(&w->page, c->def.p, 1, nrows, 1);
	uint32_t dl = (uint32_t)(w->page.len - 4);

	memcpy(w->page.p, &dl, 4);
	if (dict) {
		int bw = pq_bit_width(c->ndict - 1);

		if (bw == 0)
			bw = 1;
		buf_putc(&w->page, (uint8_t)bw);
		pq_rle_encode(&w->page, c->idx.p, 4, c->nvals, bw);
	} else if (c->type == PQ_BOOL) {
		mark = w->page.len;
		uint8_t *p = buf_reserve(&w->page, (c->nvals + 7) / 8);

		memset(p, 0, (c->nvals + 7) / 8);
		for (uint32_t i = 0; i < c->nvals; i++)
			if (c->vals.p[i])
				p[i / 8] |= (uint8_t)(1u << (i % 8));
		w->page.len = mark + (c->nvals + 7) / 8;
	} else {
		buf_append(&w->page, c->vals.p, c->vals.len);
	}
	if (write_page(w, PAGE_DATA, nrows, enc, &unc, &comp) < 0)
		return -1;

	/* ColumnChunk { file_offset, meta_data: ColumnMetaData } */
	tc_elem_struct_begin(rg);
	tc_i64(rg, 2, (int64_t)(dict ? dict_off : data_off));
	tc_struct_begin(rg, 3);
	tc_i32(rg, 1, phys_type(c->type));
	tc_list(rg, 2, TC_I32, dict ? 3 : 2);
	tc_list_i32(rg, E_RLE);
	tc_list_i32(rg, enc);
	if (dict)
		tc_list_i32(rg, E_PLAIN);
	tc_list(rg, 3, TC_BINARY, 1);
	tc_list_bin(rg, c->name, strlen(c->name));
	tc_i32(rg, 4, w->o.codec);
	tc_i64(rg, 5, nrows);
	tc_i64(rg, 6, (int64_t)unc);
	tc_i64(rg, 7, (int64_t)comp);
	tc_i64(rg, 9, (int64_t)data_off);
	if (dict)
		tc_i64(rg, 11, (int64_t)dict_off);
	tc_struct_begin(rg, 12);	/* Statistics */
	tc_i64(rg, 3, c->nulls);
	if (c->has_mm) {
		uint32_t n1 = 0, n2 = 0;

		if (c->type == PQ_STRING || c->type == PQ_BYTES) {
			sval(c, c->smin, &n1);
			sval(c, c->smax, &n2);
		}
		if (n1 <= STATS_MAX && n2 <= STATS_MAX) {
			buf_reset(&w->tmp);
			stat_bytes(c, 1, &w->tmp);
			tc_bin(rg, 5, w->tmp.p, w->tmp.len);
			buf_reset(&w->tmp);
			stat_bytes(c, 0, &w->tmp);
			tc_bin(rg, 6, w->tmp.p, w->tmp.len);
		}
	}
	tc_struct_end(rg);
	tc_struct_end(rg);	/* ColumnMetaData */
	tc_struct_end(rg);	/* ColumnChunk */
	*rg_unc += unc;
	*rg_comp += comp;
	return 0;
}

static void chunk_reset(struct pq_col *c)
{
	buf_reset(&c->def);
	buf_reset(&c->vals);
	buf_reset(&c->idx);
	buf_reset(&c->dents);
	if (c->slots != NULL)
		memset(c->slots, 0, c->nslots * sizeof(*c->slots));
	c->ndict = 0;
	c->dict_bytes = 0;
	c->dict_on = c->type == PQ_STRING || c->type == PQ_BYTES;
	c->nvals = 0;
	c->nulls = 0;
	c->has_mm = 0;
}

static int flush_rg(struct pq_writer *w)
{
	struct tc rg = { .b = &w->rgs };
	uint64_t unc = 0, comp = 0, start = w->offset;

	if (w->rg_nrows == 0)
		return 0;
	tc_elem_struct_begin(&rg);	/* RowGroup */
	tc_list(&rg, 1, TC_STRUCT, w->ncols);
	for (size_t i = 0; i < w->ncols; i++) {
		if (write_chunk(w, &w->c[i], w->rg_nrows, &rg, &unc, &comp) < 0)
			return -1;
		stats_fold(&w->c[i]);
		chunk_reset(&w->c[i]);
		if (w->out.len >= OUT_FLUSH && out_write(w) < 0)
			return -1;
	}
	tc_i64(&rg, 2, (int64_t)unc);
	tc_i64(&rg, 3, w->rg_nrows);
	tc_i64(&rg, 5, (int64_t)start);
	tc_i64(&rg, 6, (int64_t)comp);
	tc_field(&rg, 7, TC_I16);
	tc_varint(rg.b, w->nrg);
	tc_struct_end(&rg);
	w->nrg++;
	w->rg_nrows = 0;
	w->rg_buffered = 0;
	return 0;
}

int pq_end_row(struct pq_writer *w)
{
	if (w->failed)
		return -1;
	for (size_t i = 0; i < w->ncols; i++) {
		if (!w->c[i].set)
			put_null(&w->c[i]);
		w->c[i].set = 0;
	}
	w->rows++;
	w->rg_nrows++;
	if (w->rg_nrows >= w->o.rg_rows || w->rg_buffered >= w->o.rg_bytes)
		return flush_rg(w);
	return 0;
}

/* SchemaElement of one column. */
static void schema_col(struct tc *t, const struct pq_col *c)
{
	tc_elem_struct_begin(t);
	tc_i32(t, 1, phys_type(c->type));
	tc_i32(t, 3, 1);	/* OPTIONAL */
	tc_bin(t, 4, c->name, strlen(c->name));
	if (c->type == PQ_STRING)
		tc_i32(t, 6, CT_UTF8);
	else if (c->type == PQ_TIME_US)
		tc_i32(t, 6, CT_TIMESTAMP_MICROS);
	if (c->type == PQ_STRING) {
		tc_struct_begin(t, 10);	/* LogicalType */
		tc_struct_begin(t, 1);	/* STRING */
		tc_struct_end(t);
		tc_struct_end(t);
	} else if (c->type == PQ_TIME_US) {
		tc_struct_begin(t, 10);
		tc_struct_begin(t, 8);	/* TIMESTAMP */
		tc_bool(t, 1, 1);	/* isAdjustedToUTC */
		tc_struct_begin(t, 2);	/* unit */
		tc_struct_begin(t, 2);	/* MICROS */
		tc_struct_end(t);
		tc_struct_end(t);
		tc_struct_end(t);
		tc_struct_end(t);
	}
	tc_struct_end(t);
}

int pq_close(struct pq_writer *w)
{
	struct tc t = { .b = &w->tmp };
	uint32_t len;

	if (w->failed || flush_rg(w) < 0)
		return -1;
	buf_reset(&w->tmp);
	tc_i32(&t, 1, 1);
	tc_list(&t, 2, TC_STRUCT, w->ncols + 1);
	tc_elem_struct_begin(&t);	/* the root */
	tc_str(&t, 4, "schema");
	tc_i32(&t, 5, (int32_t)w->ncols);
	tc_struct_end(&t);
	for (size_t i = 0; i < w->ncols; i++)
		schema_col(&t, &w->c[i]);
	tc_i64(&t, 3, (int64_t)w->rows);
	tc_list(&t, 4, TC_STRUCT, w->nrg);
	buf_append(&w->tmp, w->rgs.p, w->rgs.len);
	tc_str(&t, 6, w->o.created_by);
	tc_list(&t, 7, TC_STRUCT, w->ncols);	/* column_orders: TYPE_ORDER */
	for (size_t i = 0; i < w->ncols; i++) {
		tc_elem_struct_begin(&t);
		tc_struct_begin(&t, 1);
		tc_struct_end(&t);
		tc_struct_end(&t);
	}
	tc_stop(&t);
	len = (uint32_t)w->tmp.len;
	out_append(w, w->tmp.p, w->tmp.len);
	out_append(w, &len, 4);
	out_append(w, "PAR1", 4);
	return out_write(w);
}

uint64_t pq_size_estimate(const struct pq_writer *w)
{
	return w->offset + w->rg_buffered + w->rg_nrows * (uint64_t)w->ncols / 8;
}

const struct pq_stats *pq_col_stats(const struct pq_writer *w, size_t col)
{
	return &w->c[col].file;
}
