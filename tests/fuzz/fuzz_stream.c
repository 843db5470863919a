/* fuzz_stream.c - libFuzzer harness for the stream reader.
 *
 * The reader is fed the way a pipe feeds it: read() returns short counts
 * of varying size. The binary is linked with -Wl,--wrap=read, so every
 * read() in frame.c comes here first; reads of the harness's descriptor
 * are served from the fuzz input in chunks, any other read goes through.
 *
 * Input layout:
 *   byte 0   bits 0-1: how to read (0 as rtai-cat does: rd_is_stream, then
 *            frames or lines; 1 rd_frame; 2 rd_line; 3 rd_frame_buffered
 *            with rd_fill, as tools that poll() do); bits 2-3: the frame
 *            limit (64, 300, 4096 bytes or the default)
 *   byte 1   seeds the chunk sizes; bits 0-2 also cap them (1 byte to 64 KiB)
 *   rest     the bytes of the input
 *
 * Invariants checked besides memory safety: a frame or line returned lies
 * inside the input at the offset the reader reports, with the bytes the
 * input holds there (source metadata and value where RTAI_F_META puts
 * them; no value for a tombstone), within the frame limit; offsets only
 * grow; the reader ends in a bounded number of calls; only a stream whose
 * header promised an end-of-stream frame is reported cut. Metadata,
 * barriers and schemas are decoded as the tools decode them.
 */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "barrier.h"
#include "buf.h"
#include "frame.h"
#include "rec.h"

ssize_t __real_read(int fd, void *p, size_t n);
ssize_t __wrap_read(int fd, void *p, size_t n);

static struct {
	int fd;			/* the descriptor served from data */
	const uint8_t *data;
	size_t len, off;
	uint32_t rng;		/* xorshift state for chunk sizes */
	size_t max_chunk;
} feed = { .fd = -1 };

ssize_t __wrap_read(int fd, void *p, size_t n)
{
	size_t chunk;

	if (fd != feed.fd || feed.fd < 0)
		return __real_read(fd, p, n);
	feed.rng ^= feed.rng << 13;
	feed.rng ^= feed.rng >> 17;
	feed.rng ^= feed.rng << 5;
	chunk = 1 + feed.rng % feed.max_chunk;
	if (chunk > n)
		chunk = n;
	if (chunk > feed.len - feed.off)
		chunk = feed.len - feed.off;
	memcpy(p, feed.data + feed.off, chunk);
	feed.off += chunk;
	return (ssize_t)chunk;
}

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static struct rec rec;
static struct buf json;

/* A frame must be where the reader says, with the input's bytes. */
static void check_frame(const uint8_t *d, size_t n, int plain,
			const struct frame *f, uint64_t *last)
{
	CHECK(f->kind != 0 && f->kind != RTAI_K_EOS);
	CHECK((uint64_t)f->len + RTAI_FRAME_FIXED <= rd_max_frame);
	CHECK(*last == UINT64_MAX || f->offset > *last);
	*last = f->offset;
	CHECK(!(f->flags & RTAI_F_TOMBSTONE) || f->len == 0);
	CHECK((f->meta != NULL) == ((f->flags & RTAI_F_META) != 0));
	if (plain) {
		uint64_t at = f->offset + 4 + RTAI_FRAME_FIXED;

		if (f->meta != NULL) {
			CHECK(f->meta == f->payload - f->meta_len);
			CHECK(f->meta_len == 0 || memcmp(d + at + 4, f->meta, f->meta_len) == 0);
			at += 4 + (uint64_t)f->meta_len;
		}
		CHECK(at + f->len <= n);
		CHECK(d[f->offset + 4] == f->kind);
		CHECK(f->len == 0 || memcmp(d + at, f->payload, f->len) == 0);
	}
	if (f->meta != NULL && rec_decode(&rec, f->meta, f->meta_len) == 0) {
		buf_reset(&json);
		rec_to_json(&rec, &json);
	}
	if (f->kind == RTAI_K_DATA && rec_from_frame(&rec, f) == 0) {
		buf_reset(&json);
		rec_to_json(&rec, &json);
	} else if (f->kind == RTAI_K_MARKER) {
		marker_stamps(f, NULL, NULL);
	} else if (f->kind == RTAI_K_BARRIER) {
		struct barrier b;
		char err[200];

		if (barrier_decode(f, &rec, &b, err, sizeof(err)) == 0) {
			const char *why;

			CHECK(b.checkpoint >= 1);
			CHECK(rec_json_check(b.sources, b.sources_len, &why) == 0);
		}
	} else if (f->kind == RTAI_K_SCHEMA) {
		const char *why;

		(void)rec_json_check((const char *)f->payload, f->len, &why);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t limits[] = { 64, 300, 4096, RTAI_MAX_FRAME_DEFAULT };
	static const size_t chunks[] = { 1, 2, 3, 7, 64, 512, 4096, 65536 };
	struct frame_rd rd;
	struct frame f;
	const uint8_t *d, *line;
	size_t n, len, calls = 0, bound;
	uint64_t last = UINT64_MAX;
	int mode, plain, st, zeros = 0;

	if (size < 2)
		return 0;
	mode = data[0] & 3;
	rd_max_frame = limits[(data[0] >> 2) & 3];
	feed.rng = 0x9e3779b9u ^ data[1] ^ (uint32_t)size << 8;
	feed.max_chunk = chunks[data[1] & 7];
	d = data + 2;
	n = size - 2;
	plain = !(n >= 4 && d[0] == 0x28 && d[1] == 0xb5 && d[2] == 0x2f && d[3] == 0xfd);
	/* Plain input: a frame takes 24 bytes, a line at least 1. */
	bound = plain ? n + 4 : SIZE_MAX;
	feed.data = d;
	feed.len = n;
	feed.off = 0;
	feed.fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CHECK(feed.fd > 0);
	rd_open_fd(&rd, feed.fd, "fuzz");

	if (mode == 0) {
		st = rd_is_stream(&rd);
		mode = st == 1 ? 1 : st == 0 ? 2 : -1;
	}
	if (mode == 1) {
		while ((st = rd_frame(&rd, &f)) > 0) {
			CHECK(++calls <= bound);
			check_frame(d, n, plain, &f, &last);
		}
	} else if (mode == 2) {
		uint64_t before;

		while (before = rd.pos, (st = rd_line(&rd, &line, &len)) > 0) {
			CHECK(++calls <= bound);
			CHECK(len <= rd_max_frame);
			CHECK(rd.pos > before);
			if (plain) {
				CHECK(before + len <= n);
				CHECK(len == 0 || memcmp(d + before, line, len) == 0);
			}
		}
	} else if (mode == 3) {
		for (;;) {
			st = rd_frame_buffered(&rd, &f);
			if (st == 2) {
				ssize_t got = rd_fill(&rd);

				if (got < 0)
					break;
				/* A fill that adds nothing twice means the end was
				 * reached and the reader did not say so: a livelock. */
				zeros = got == 0 ? zeros + 1 : 0;
				CHECK(zeros <= 2);
				continue;
			}
			if (st <= 0)
				break;
			CHECK(++calls <= bound);
			check_frame(d, n, plain, &f, &last);
		}
	}
	CHECK(!rd.cut || (st < 0 && rd.promised));
	rd_close(&rd);
	feed.fd = -1;
	rec_reset(&rec);
	return 0;
}
