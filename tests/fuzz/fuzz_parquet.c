/* fuzz_parquet.c - libFuzzer harness for the Parquet reader (lib/pqread.c,
 * pq_read_mem): footers, page headers, levels, dictionaries, compressed
 * pages, as --optimize reads them back.
 *
 * Input: the bytes of a file. Invariants besides memory safety: a file
 * that reads has, in every column, one definition level per row and as
 * many values as levels that say "value", each of its type's size; a
 * refused file says why, naming the file.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "pq.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pq_file f;
	char err[512];

	if (pq_read_mem(data, size, "input", &f, err, sizeof(err)) < 0) {
		CHECK(strncmp(err, "input: ", 7) == 0);
		pq_file_free(&f);
		return 0;
	}
	for (size_t i = 0; i < f.ncols; i++) {
		const struct pq_column *c = &f.c[i];
		uint64_t set = 0;
		size_t at = 0;

		for (uint64_t r = 0; r < f.rows; r++)
			set += c->def[r] != 0;
		CHECK(set == c->nvals);
		for (uint64_t v = 0; v < c->nvals; v++) {
			uint32_t n;

			switch (c->type) {
			case PQ_BOOL: at += 1; break;
			case PQ_INT64: case PQ_DOUBLE: case PQ_TIME_US: at += 8; break;
			default:
				CHECK(at + 4 <= c->vals.len);
				memcpy(&n, c->vals.p + at, 4);
				at += 4 + (size_t)n;
			}
			CHECK(at <= c->vals.len);
		}
		CHECK(at == c->vals.len);
	}
	pq_file_free(&f);
	return 0;
}
