/* test_snap.c - a tool's tagged state (snap_open_tagged, snap_close_tagged):
 * a good image reads back, and another tool's or version's tag, a cut image,
 * bytes left over and a tool's own check are refused with their messages. */
#include "config.h"

#include <stdlib.h>

#include "snap.h"
#include "tap.h"

#define TAG "rtai-test 1"

int main(void)
{
	struct buf img = { 0 }, other = { 0 };
	struct snap_rd r;
	char err[256];

	snap_bytes(&img, TAG, strlen(TAG));
	snap_u64(&img, 42);
	snap_u32(&img, 7);

	is_int(snap_open_tagged(&r, img.p, img.len, TAG, "rtai-test", err, sizeof(err)), 0,
	       "the tag is read");
	is_int(snap_get_u64(&r), 42, "then the state");
	is_int(snap_get_u32(&r), 7, "all of it");
	is_int(snap_close_tagged(&r, 1, err, sizeof(err)), 0, "a whole image ends well");

	is_int(snap_open_tagged(&r, img.p, img.len, "rtai-test 2", "rtai-test", err, sizeof(err)), -1,
	       "another version's tag is refused");
	is_str(err, "not a snapshot of rtai-test (\"rtai-test 2\" expected)", "... and says which");
	snap_bytes(&other, "rtai-other 1", strlen("rtai-other 1"));
	is_int(snap_open_tagged(&r, other.p, other.len, TAG, "rtai-test", err, sizeof(err)), -1,
	       "another tool's tag is refused");
	is_int(snap_open_tagged(&r, img.p, 3, TAG, "rtai-test", err, sizeof(err)), -1,
	       "an image cut in its tag is refused");
	is_int(snap_open_tagged(&r, "", 0, TAG, "rtai-test", err, sizeof(err)), -1,
	       "an empty image is refused");

	snap_open_tagged(&r, img.p, img.len, TAG, "rtai-test", err, sizeof(err));
	snap_get_u64(&r);
	is_int(snap_close_tagged(&r, 1, err, sizeof(err)), -1, "bytes left over are refused when whole");
	is_str(err, "a corrupt snapshot: byte 23: bytes after the state", "... at the byte they start");
	snap_open_tagged(&r, img.p, img.len, TAG, "rtai-test", err, sizeof(err));
	snap_get_u64(&r);
	is_int(snap_close_tagged(&r, 0, err, sizeof(err)), 0, "... and allowed when an engine's image follows");

	snap_open_tagged(&r, img.p, img.len - 2, TAG, "rtai-test", err, sizeof(err));
	snap_get_u64(&r);
	snap_get_u32(&r);
	is_int(snap_close_tagged(&r, 0, err, sizeof(err)), -1, "a cut image is refused");
	ok(strncmp(err, "a corrupt snapshot: byte ", 25) == 0, "... as corrupt: %s", err);

	snap_open_tagged(&r, img.p, img.len, TAG, "rtai-test", err, sizeof(err));
	snap_get_u64(&r);
	snap_get_u32(&r);
	snap_fail(&r, "a negative run time");
	is_int(snap_close_tagged(&r, 1, err, sizeof(err)), -1, "a tool's own check fails the image");
	is_str(err, "a corrupt snapshot: byte 27: a negative run time", "... with its reason");

	/* Deferred seals (ckpt_write_bg's writer thread computes them): an
	 * image with another inside, sealed later, is the image sealed at once. */
	{
		struct buf now = { 0 }, later = { 0 }, list = { 0 };
		struct buf *bs[2] = { &now, &later };

		for (int k = 0; k < 2; k++) {
			size_t outer, inner;

			if (k == 1)
				snap_defer_begin(&list);
			snap_bytes(bs[k], TAG, strlen(TAG));
			outer = snap_begin(bs[k], "OUTR", 1);
			snap_u64(bs[k], 42);
			inner = snap_begin(bs[k], "INNR", 2);
			snap_bytes(bs[k], "abc", 3);
			snap_seal(bs[k], inner, 7);
			snap_u32(bs[k], 9);
			snap_seal(bs[k], outer, 11);
			if (k == 1)
				snap_defer_end();
		}
		is_int(now.len, later.len, "a deferred seal writes the same bytes");
		ok(memcmp(now.p, later.p, now.len) != 0, "... but no checksums before snap_seal_list");
		is_int(list.len > 0, 1, "... and lists the two seals");
		snap_seal_list(later.p, &list);
		ok(memcmp(now.p, later.p, now.len) == 0,
		   "snap_seal_list seals inner then outer: the bytes are those of sealing at once");
		is_int(snap_open(&r, later.p + 4 + strlen(TAG), later.len - 4 - strlen(TAG), "OUTR", 1,
				 11, "test", err, sizeof(err)), 0, "... and snap_open accepts the outer image");
		later.p[later.len - 1] ^= 1;
		is_int(snap_open(&r, later.p + 4 + strlen(TAG), later.len - 4 - strlen(TAG), "OUTR", 1,
				 11, "test", err, sizeof(err)), -1, "... whose checksum covers its body");
		{
			size_t head = snap_begin(&list, "NOWW", 1);

			snap_u32(&list, 5);
			snap_seal(&list, head, 3);
			is_int(snap_open(&r, list.p + head, list.len - head, "NOWW", 1, 3, "test", err,
					 sizeof(err)), 0, "after snap_defer_end, snap_seal seals at once again");
		}
		buf_free(&now);
		buf_free(&later);
		buf_free(&list);
	}

	buf_free(&img);
	buf_free(&other);
	return tap_done();
}
