/* test_parquet.c - unit tests of the Thrift compact writer (lib/thrift.c)
 * and the Parquet encoders (lib/pq.c): byte-exact encodings worked out by
 * hand from the specs, and a small file whose layout is checked. */
#include "config.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "pq.h"
#include "tap.h"
#include "thrift.h"

static int same(const struct buf *b, const char *want, size_t n)
{
	int eq = b->len == n && memcmp(b->p, want, n) == 0;

	if (!eq) {
		printf("#   got ");
		for (size_t i = 0; i < b->len; i++)
			printf("%02x ", b->p[i]);
		printf("\n");
	}
	return eq;
}

static void test_varints(void)
{
	struct buf b = { 0 };

	tc_uvarint(&b, 0);
	tc_uvarint(&b, 127);
	tc_uvarint(&b, 128);
	tc_uvarint(&b, 300);
	ok(same(&b, "\x00\x7f\x80\x01\xac\x02", 6), "unsigned LEB128 varints");
	buf_reset(&b);
	tc_varint(&b, 0);
	tc_varint(&b, -1);
	tc_varint(&b, 1);
	tc_varint(&b, -2);
	tc_varint(&b, 2147483647);
	ok(same(&b, "\x00\x01\x02\x03\xfe\xff\xff\xff\x0f", 9), "zigzag varints");
	buf_reset(&b);
	tc_varint(&b, INT64_MIN);
	ok(b.len == 10 && b.p[0] == 0xff && b.p[9] == 0x01, "zigzag of INT64_MIN is 2^64-1: ten bytes");
	buf_free(&b);
}

static void test_thrift(void)
{
	struct buf b = { 0 };
	struct tc t = { .b = &b };

	tc_i32(&t, 1, 5);		/* delta 1, i32: 0x15, zigzag 5 = 10 */
	tc_i64(&t, 3, -3);		/* delta 2, i64: 0x26, zigzag -3 = 5 */
	tc_bin(&t, 4, "ab", 2);		/* delta 1, binary: 0x18, len 2 */
	tc_i32(&t, 20, 1);		/* delta 16: long form 0x05, zigzag 20 = 40 */
	tc_struct_begin(&t, 21);	/* delta 1, struct: 0x1c */
	tc_bool(&t, 1, 1);		/* 0x11 */
	tc_bool(&t, 2, 0);		/* 0x12 */
	tc_struct_end(&t);		/* 0x00 */
	tc_list(&t, 22, TC_I32, 2);	/* 0x19, 0x25 */
	tc_list_i32(&t, 3);
	tc_list_i32(&t, 8);
	tc_list(&t, 23, TC_STRUCT, 20);	/* 0x19, 0xfc, 20 */
	tc_stop(&t);
	ok(same(&b, "\x15\x0a\x26\x05\x18\x02" "ab" "\x05\x28\x02\x1c\x11\x12\x00"
		"\x19\x25\x06\x10\x19\xfc\x14\x00", 23),
	   "compact protocol: short and long field headers, bools, nested struct, lists");
	is_int(t.depth, 0, "the struct stack is back at the outermost level");
	buf_free(&b);
}

static void test_rle(void)
{
	struct buf b = { 0 };
	uint8_t ones[100], mixed[10] = { 1, 0, 1, 1, 0, 0, 0, 1, 1, 1 };
	uint32_t idx[20];

	memset(ones, 1, sizeof(ones));
	pq_rle_encode(&b, ones, 1, 100, 1);
	ok(same(&b, "\xc8\x01\x01", 3), "100 ones at width 1: one RLE run (header 200, value 1)");
	buf_reset(&b);
	/* Two groups of 8 (header (2<<1)|1 = 5), LSB first: 10001101 = 0x8d,
	 * then 1,1 and six zeros of padding = 0x03. */
	pq_rle_encode(&b, mixed, 1, 10, 1);
	ok(same(&b, "\x05\x8d\x03", 3), "10 mixed bits: one bit-packed run of 2 groups, padded");
	buf_reset(&b);
	for (int i = 0; i < 20; i++)
		idx[i] = i < 4 ? (uint32_t)i : 5;
	/* 0,1,2,3,5,5,5,5 bit-packed at width 3 (3 bytes), then 12 more 5s:
	 * a run of 12 (header 24) of value 5. */
	pq_rle_encode(&b, idx, 4, 20, 3);
	ok(same(&b, "\x03\x88\xd6\xb6\x18\x05", 6), "width 3: a bit-packed group, then an RLE run");
	buf_reset(&b);
	pq_rle_encode(&b, idx, 4, 0, 3);
	is_int(b.len, 0, "no values, no bytes");
	is_int(pq_bit_width(0), 0, "bit width of 0");
	is_int(pq_bit_width(1), 1, "bit width of 1");
	is_int(pq_bit_width(255), 8, "bit width of 255");
	is_int(pq_bit_width(256), 9, "bit width of 256");
	buf_free(&b);
}

static void test_file(void)
{
	char path[] = "/tmp/test_parquet.XXXXXX";
	int fd = mkstemp(path);
	struct pq_colspec cols[] = { { "s", PQ_STRING }, { "i", PQ_INT64 }, { "f", PQ_DOUBLE },
				     { "b", PQ_BOOL } };
	struct pq_options o = pq_defaults;
	struct pq_writer *w;
	uint8_t head[4], tail[8];
	const struct pq_stats *st;
	off_t size;
	int rc;

	ok(fd >= 0, "temporary file");
	o.rg_rows = 3;	/* two row groups for five rows */
	w = pq_open(fd, cols, 4, &o);
	for (int r = 0; r < 5; r++) {
		if (r != 2)
			pq_put_bytes(w, 0, r % 2 ? "b" : "a", 1);
		pq_put_int64(w, 1, r == 4 ? INT64_MIN : r);
		pq_put_double(w, 2, r == 1 ? NAN : -r * 0.5);
		if (r != 0)
			pq_put_bool(w, 3, r % 2);
		rc = pq_end_row(w);
		ok(rc == 0, "row %d", r);
	}
	rc = pq_close(w);
	ok(rc == 0, "close: %s", w->err);
	st = pq_col_stats(w, 0);
	ok(st->nulls == 1 && st->smin.len == 1 && st->smin.p[0] == 'a' && st->smax.p[0] == 'b',
	   "string statistics: one null, min a, max b");
	st = pq_col_stats(w, 1);
	ok(st->imin == INT64_MIN && st->imax == 3 && st->nulls == 0, "int statistics");
	st = pq_col_stats(w, 2);
	ok(st->fmin == -2.0 && st->fmax == 0 && signbit(st->fmax) == 0,
	   "double statistics skip NaN; a zero max is +0.0");
	st = pq_col_stats(w, 3);
	ok(st->nulls == 1 && st->imin == 0 && st->imax == 1, "bool statistics");
	is_int(w->nrg, 2, "two row groups");
	size = lseek(fd, 0, SEEK_END);
	ok(size > 12 && (uint64_t)size == w->offset, "the file holds every byte counted");
	ok(pread(fd, head, 4, 0) == 4 && memcmp(head, "PAR1", 4) == 0, "starts with PAR1");
	ok(pread(fd, tail, 8, size - 8) == 8 && memcmp(tail + 4, "PAR1", 4) == 0,
	   "ends with PAR1");
	pq_free(w);
	close(fd);
	if (getenv("TEST_PARQUET_KEEP") != NULL)
		printf("# kept %s\n", path);
	else
		unlink(path);

	/* A failed write is reported, not ignored. */
	fd = open("/dev/full", O_WRONLY);
	if (fd >= 0) {
		w = pq_open(fd, cols, 1, &o);
		pq_put_bytes(w, 0, "x", 1);
		pq_end_row(w);
		rc = pq_close(w);
		ok(rc < 0 && strstr(w->err, "write") != NULL, "/dev/full: %s", w->err);
		pq_free(w);
		close(fd);
	}
}

/* What the writer writes, the reader reads back: every type, nulls,
 * dictionary and PLAIN chunks, several row groups, every codec. */
static void test_roundtrip(enum pq_codec codec)
{
	char path[] = "/tmp/test_parquet.XXXXXX", err[512];
	int fd = mkstemp(path), rc;
	struct pq_colspec cols[] = { { "s", PQ_STRING }, { "i", PQ_INT64 }, { "f", PQ_DOUBLE },
				     { "b", PQ_BOOL }, { "t", PQ_TIME_US }, { "u", PQ_BYTES } };
	struct pq_options o = pq_defaults;
	struct pq_writer *w;
	struct pq_file f;
	char s[32];
	int same = 1;

	o.codec = codec;
	o.rg_rows = 97;
	w = pq_open(fd, cols, 6, &o);
	for (int r = 0; r < 1000; r++) {
		snprintf(s, sizeof(s), "v%d", r % 7);
		if (r % 5)
			pq_put_bytes(w, 0, s, strlen(s));
		pq_put_int64(w, 1, (int64_t)r * 1000003 - 7);
		if (r % 3)
			pq_put_double(w, 2, r / 8.0);
		pq_put_bool(w, 3, r % 2);
		pq_put_int64(w, 4, -r);
		snprintf(s, sizeof(s), "unique-%d", r);
		pq_put_bytes(w, 5, s, strlen(s));
		pq_end_row(w);
	}
	rc = pq_close(w);
	ok(rc == 0, "codec %d: written", codec);
	pq_free(w);
	close(fd);
	rc = pq_read_file(path, &f, err, sizeof(err));
	ok(rc == 0, "codec %d: read back: %s", codec, rc ? err : "ok");
	if (rc == 0) {
		size_t at[6] = { 0 };

		same = f.rows == 1000 && f.ncols == 6;
		for (uint64_t r = 0; same && r < f.rows; r++) {
			uint32_t n;
			int64_t i;
			double d;

			snprintf(s, sizeof(s), "v%d", (int)(r % 7));
			same &= f.c[0].def[r] == (r % 5 != 0);
			if (f.c[0].def[r]) {
				memcpy(&n, f.c[0].vals.p + at[0], 4);
				same &= n == strlen(s) && memcmp(f.c[0].vals.p + at[0] + 4, s, n) == 0;
				at[0] += 4 + n;
			}
			memcpy(&i, f.c[1].vals.p + 8 * r, 8);
			same &= i == (int64_t)r * 1000003 - 7;
			if (r % 3) {
				memcpy(&d, f.c[2].vals.p + at[2], 8);
				same &= d == r / 8.0;
				at[2] += 8;
			}
			same &= f.c[2].def[r] == (r % 3 != 0);
			same &= f.c[3].vals.p[r] == r % 2;
			memcpy(&i, f.c[4].vals.p + 8 * r, 8);
			same &= i == -(int64_t)r && f.c[4].type == PQ_TIME_US;
		}
		same &= f.c[0].type == PQ_STRING && f.c[5].type == PQ_BYTES;
		ok(same, "codec %d: every value, null and type as written", codec);
	}
	pq_file_free(&f);
	unlink(path);
}

/* Damaged files are refused with a reason, never read past their end. */
static void test_damaged(void)
{
	char path[] = "/tmp/test_parquet.XXXXXX", err[512];
	int fd = mkstemp(path), rc, refused = 0, tries = 0;
	struct pq_colspec cols[] = { { "s", PQ_STRING }, { "i", PQ_INT64 } };
	struct pq_writer *w = pq_open(fd, cols, 2, &pq_defaults);
	struct pq_file f;
	struct buf b = { 0 };
	off_t size;

	for (int r = 0; r < 300; r++) {
		pq_put_bytes(w, 0, r % 2 ? "x" : "yy", r % 2 ? 1 : 2);
		pq_put_int64(w, 1, r);
		pq_end_row(w);
	}
	pq_close(w);
	pq_free(w);
	size = lseek(fd, 0, SEEK_END);
	buf_reserve(&b, (size_t)size);
	b.len = (size_t)pread(fd, b.p, (size_t)size, 0);
	close(fd);
	/* Every single byte changed in turn (but the magic), and truncations. */
	for (size_t k = 4; k + 4 < b.len; k++) {
		uint8_t keep = b.p[k];

		b.p[k] ^= 0x5a;
		fd = open(path, O_WRONLY | O_TRUNC);
		rc = (int)write(fd, b.p, b.len);
		close(fd);
		rc = pq_read_file(path, &f, err, sizeof(err));
		refused += rc < 0 && strstr(err, path) != NULL;
		tries++;
		pq_file_free(&f);
		b.p[k] = keep;
	}
	ok(refused > 0, "changed bytes: %d of %d files refused with a message, the rest read", refused, tries);
	fd = open(path, O_WRONLY | O_TRUNC);
	rc = (int)write(fd, b.p, b.len / 2);
	close(fd);
	rc = pq_read_file(path, &f, err, sizeof(err));
	ok(rc < 0 && strstr(err, "PAR1") != NULL, "half a file: %s", err);
	pq_file_free(&f);
	buf_free(&b);
	unlink(path);
}

int main(void)
{
	test_roundtrip(PQ_ZSTD);
	test_roundtrip(PQ_UNCOMPRESSED);
#ifdef HAVE_SNAPPY
	test_roundtrip(PQ_SNAPPY);
#endif
	test_damaged();
	test_varints();
	test_thrift();
	test_rle();
	test_file();
	return tap_done();
}
