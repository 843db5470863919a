/* test_errpol.c - unit tests of the one error policy: the option words and
 * their checks, skip and dlq counts, the dead letter (the frame as read with
 * an _error field when it is a record), the tool's own letter, and the
 * all-dropped exit status. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "errpol.h"
#include "frame.h"
#include "rec.h"
#include "rtime.h"
#include "tap.h"

static struct frame frame(uint8_t enc, const char *payload)
{
	struct frame f;

	memset(&f, 0, sizeof(f));
	f.kind = RTAI_K_DATA;
	f.enc = enc;
	f.ingest_ns = 11;
	f.event_ns = RTAI_TIME_UNSET;
	f.payload = (const uint8_t *)payload;
	f.len = (uint32_t)strlen(payload);
	return f;
}

static int letter(void *arg, const struct frame *f, const char *reason, struct buf *out,
		  uint8_t *enc)
{
	(void)f;
	buf_printf(out, "{\"by\":\"%s\",\"reason\":\"%s\"}", (const char *)arg, reason);
	*enc = RTAI_E_JSON;
	return 0;
}

/* The dead letters in path, one "enc:payload-as-JSON" a line. */
static void slurp(const char *path, struct buf *b)
{
	struct frame_rd rd;
	struct frame f;
	struct rec r = { 0 };

	buf_reset(b);
	if (rd_open(&rd, path) < 0)
		return;
	while (rd_frame(&rd, &f) == 1) {
		if (f.kind != RTAI_K_DATA)
			continue;
		buf_printf(b, "%d:", f.enc);
		if (rec_from_frame(&r, &f) == 0)
			rec_to_json(&r, b);
		else
			buf_append(b, f.payload, f.len);
		buf_putc(b, '\n');
	}
	rd_close(&rd);
	rec_free(&r);
	buf_putc(b, '\0');
}

int main(void)
{
	char dir[] = "/tmp/rtai-errpol-XXXXXX", path[64];
	struct errpol ep = ERRPOL_INIT;
	struct frame good, text;
	struct buf b = { 0 };
	int rc;

	cli_init("test_errpol", NULL);
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/dead.rtai", dir);

	/* The words. */
	errpol_mode_arg(&ep, "skip");
	is_int(ep.mode, ERRPOL_SKIP, "skip is a policy");
	errpol_mode_arg(&ep, "fail");
	is_int(ep.mode, ERRPOL_FAIL, "fail is a policy");
	ep = (struct errpol)ERRPOL_INIT;
	errpol_dlq_arg(&ep, path);
	errpol_check(&ep);
	is_int(ep.mode, ERRPOL_DLQ, "--dlq alone means --on-error dlq");

	/* fail: -1, nothing counted. */
	good = frame(RTAI_E_JSON, "{\"a\":1}");
	text = frame(RTAI_E_RAW, "not json");
	ep.mode = ERRPOL_FAIL;
	rc = errpol_refuse(&ep, &good, "in: record 1: bad", "bad");
	ok(rc < 0, "fail stops");
	is_int(errpol_dropped(&ep), 0, "... counting nothing");

	/* skip: counted, the first kept. */
	ep.mode = ERRPOL_SKIP;
	rc = errpol_refuse(&ep, &good, "in: record 1: bad", "bad");
	ok(rc == 0, "skip goes on");
	rc = errpol_refuse(&ep, NULL, "in: line 2: worse", "worse");
	ok(rc == 0, "... with no frame too");
	is_int(ep.skipped, 2, "... counting both");
	is_str(ep.first, "in: record 1: bad", "... keeping the first message");

	/* dlq: a record gets _error, other payloads go as read. */
	ep.mode = ERRPOL_DLQ;
	errpol_open(&ep);
	rc = errpol_refuse(&ep, &good, "in: record 3: too big", "too big");
	ok(rc == 0, "dlq goes on");
	rc = errpol_refuse(&ep, &text, "in: record 4: not JSON", "not JSON");
	ok(rc == 0, "... text too");
	is_int(ep.dead, 2, "... counting them");
	errpol_close(&ep);
	slurp(path, &b);
	is_str((const char *)b.p, "3:{\"a\":1,\"_error\":\"too big\"}\n1:not json\n",
	       "a record with _error, text as read");

	/* The all-dropped status. */
	is_int(errpol_status(&ep, 4, RTAI_EXIT_OK, "done"), RTAI_EXIT_ALLDROP,
	       "every record refused: exit 5");
	is_int(errpol_status(&ep, 5, RTAI_EXIT_OK, "done"), RTAI_EXIT_OK, "one got through: 0");
	is_int(errpol_status(&ep, 0, RTAI_EXIT_OK, "done"), RTAI_EXIT_OK, "no records: 0");
	is_int(errpol_status(&ep, 4, RTAI_EXIT_FAIL, "done"), RTAI_EXIT_FAIL,
	       "an error status stays");
	errpol_free(&ep);

	/* A tool's own letter. */
	ep = (struct errpol)ERRPOL_INIT;
	errpol_dlq_arg(&ep, path);
	errpol_check(&ep);
	ep.letter = letter;
	ep.letter_arg = "parse";
	errpol_open(&ep);
	errpol_refuse(&ep, &text, "in: record 1: not JSON", "not JSON");
	errpol_close(&ep);
	slurp(path, &b);
	is_str((const char *)b.p, "2:{\"by\":\"parse\",\"reason\":\"not JSON\"}\n",
	       "the tool's letter, as JSON");
	errpol_free(&ep);
	errpol_free(NULL);

	buf_free(&b);
	unlink(path);
	rmdir(dir);
	return tap_done();
}
