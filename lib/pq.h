/* pq.h - a compact Apache Parquet file writer: flat schemas of optional
 * columns, data page v1, PLAIN and dictionary (RLE_DICTIONARY) encodings,
 * definition levels in the RLE/bit-packed hybrid, zstd or snappy pages,
 * column statistics, a Thrift compact footer (thrift.h).
 *
 * The rules come from the Parquet format specification (parquet-format:
 * parquet.thrift, Encodings.md, LogicalTypes.md); peer writers checked
 * against are parquet-mr and DuckDB. Every column is OPTIONAL (max
 * definition level 1, no repetition): a null is a definition level of 0.
 *
 *   struct pq_colspec cols[] = { { "user", PQ_STRING }, { "n", PQ_INT64 } };
 *   struct pq_writer *w = pq_open(fd, cols, 2, &pq_defaults);
 *   pq_put_str(w, 0, "u1", 2); pq_put_null(w, 1); pq_end_row(w);
 *   if (pq_close(w) < 0) ... w->err ...
 *   pq_free(w);
 *
 * Values are buffered per column until a row group is full (rg_rows rows
 * or rg_bytes of buffered values), then written as one column chunk each:
 * a dictionary page when the column's distinct values are few, then one
 * data page. Memory: a row group's values, held once (plus 4 bytes per
 * value for dictionary indices of string columns). Steady-state writing
 * allocates nothing once the buffers have grown to a row group.
 */
#ifndef RTAI_PQ_H
#define RTAI_PQ_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Column types, with their Parquet physical and logical types. */
enum pq_type {
	PQ_BOOL,	/* BOOLEAN */
	PQ_INT64,	/* INT64 */
	PQ_DOUBLE,	/* DOUBLE */
	PQ_STRING,	/* BYTE_ARRAY, logical STRING (UTF-8 by contract) */
	PQ_BYTES,	/* BYTE_ARRAY, no logical type */
	PQ_TIME_US,	/* INT64, logical TIMESTAMP(isAdjustedToUTC, MICROS) */
};

/* Compression codecs, numbered as parquet.thrift's CompressionCodec. */
enum pq_codec { PQ_UNCOMPRESSED = 0, PQ_SNAPPY = 1, PQ_ZSTD = 6 };

struct pq_colspec {
	const char *name;	/* copied by pq_open() */
	enum pq_type type;
};

struct pq_options {
	enum pq_codec codec;
	int zstd_level;		/* 1..19 */
	uint32_t rg_rows;	/* rows per row group at most */
	size_t rg_bytes;	/* buffered value bytes that end a row group */
	size_t dict_max_bytes;	/* a chunk's dictionary at most this big, else PLAIN */
	const char *created_by;	/* FileMetaData.created_by */
};
/* zstd level 3, 122880 rows (DuckDB's row group) or 64 MiB, 1 MiB dictionary
 * pages (parquet-mr's default). */
extern const struct pq_options pq_defaults;

/* A column's statistics over the whole file so far (min and max ignore
 * nulls and NaN; has_minmax is 0 when no value qualified). */
struct pq_stats {
	int64_t nulls;
	int has_minmax;
	int64_t imin, imax;	/* PQ_BOOL (0/1), PQ_INT64, PQ_TIME_US */
	double fmin, fmax;	/* PQ_DOUBLE */
	struct buf smin, smax;	/* PQ_STRING, PQ_BYTES */
};

struct pq_col;
struct pq_writer {
	int fd;			/* written with write(); not closed here */
	struct pq_options o;
	struct pq_col *c;
	size_t ncols;
	uint64_t rows;		/* rows ended so far */
	uint32_t rg_nrows;	/* rows in the row group being buffered */
	size_t rg_buffered;	/* its value bytes */
	uint64_t offset;	/* bytes written to fd (or pending in out) */
	uint32_t nrg;		/* row groups written */
	struct buf out;		/* bytes not yet written to fd */
	struct buf rgs;		/* the footer's RowGroup structs so far */
	struct buf page, comp, tmp;	/* scratch for a page */
	void *zctx;		/* ZSTD_CCtx */
	int failed;		/* a write failed: every later call fails */
	char err[256];		/* why the last call failed */
};

/* Starts a file on fd (writes "PAR1" into the buffer). cols are copied.
 * Returns the writer (never NULL: out-of-memory aborts). */
struct pq_writer *pq_open(int fd, const struct pq_colspec *cols, size_t ncols,
			  const struct pq_options *o);

/* Sets column col of the current row. A column not set in a row is null.
 * Strings and bytes are copied. Setting a column twice in one row is a
 * programming error (the second value wins only for fixed-width types:
 * do not). */
void pq_put_null(struct pq_writer *w, size_t col);
void pq_put_bool(struct pq_writer *w, size_t col, int v);
void pq_put_int64(struct pq_writer *w, size_t col, int64_t v);	/* INT64 and TIME_US */
void pq_put_double(struct pq_writer *w, size_t col, double v);
void pq_put_bytes(struct pq_writer *w, size_t col, const void *p, size_t n);

/* Ends the current row: columns not set become null. Writes a row group
 * when it is full. Returns 0, or -1 with w->err set when writing failed. */
int pq_end_row(struct pq_writer *w);

/* Writes the pending row group and the footer, and write()s every byte
 * (the caller fsyncs and closes fd). Returns 0, or -1 with w->err. */
int pq_close(struct pq_writer *w);

/* Bytes written or pending so far, plus the values buffered: an estimate
 * of the file's size for rolling (compression makes it an upper bound). */
uint64_t pq_size_estimate(const struct pq_writer *w);

/* The statistics of column col over every row ended so far. */
const struct pq_stats *pq_col_stats(const struct pq_writer *w, size_t col);

/* Frees the writer (not fd). Accepts NULL. */
void pq_free(struct pq_writer *w);

/* ---- reading ------------------------------------------------------------------ */

/* A whole file decoded into memory, column by column: enough to read back
 * the files this writer makes (flat OPTIONAL or REQUIRED columns of the
 * types above, data pages v1, PLAIN or dictionary encodings, any of the
 * codecs above), for compaction. Other files are refused with a reason. */
struct pq_column {
	char *name;
	enum pq_type type;
	uint8_t *def;		/* per row: 1 value, 0 null */
	struct buf vals;	/* the values, PLAIN: 8 bytes each for INT64,
				 * DOUBLE and TIME_US, 1 byte per bool, u32
				 * length + bytes for STRING and BYTES */
	uint64_t nvals;
};

struct pq_file {
	uint64_t rows;
	size_t ncols;
	struct pq_column *c;
};

/* Reads and decodes the file at path. Returns 0, or -1 with a message in
 * err ("path: what"). pq_file_free() releases f in either case. */
int pq_read_file(const char *path, struct pq_file *f, char *err, size_t errsz);
/* The same from the n bytes of a file in memory (borrowed); name is used
 * in messages. */
int pq_read_mem(const uint8_t *p, size_t n, const char *name, struct pq_file *f, char *err,
		size_t errsz);
/* Frees what pq_read_file() filled in. Accepts NULL. */
void pq_file_free(struct pq_file *f);

/* ---- encoders, exposed for the unit tests ------------------------------- */

/* Appends n values (each below 2^width, width 0..32) in the RLE/bit-packed
 * hybrid encoding (Encodings.md "Run Length Encoding / Bit-Packing
 * Hybrid"), without a length prefix: runs of 8 or more equal values as RLE
 * runs, the rest as bit-packed groups of 8 (the last group padded with
 * zeros). v holds n values of esize bytes (1 or 4). */
void pq_rle_encode(struct buf *out, const void *v, size_t esize, size_t n, int width);

/* The bit width needed for values 0..max. */
int pq_bit_width(uint32_t max);

#endif
