/* errpol.c - the one error policy (see errpol.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "errpol.h"
#include "snap.h"

void errpol_mode_arg(struct errpol *ep, const char *arg)
{
	if (strcmp(arg, "fail") == 0)
		ep->mode = ERRPOL_FAIL;
	else if (strcmp(arg, "skip") == 0)
		ep->mode = ERRPOL_SKIP;
	else if (strcmp(arg, "dlq") == 0)
		ep->mode = ERRPOL_DLQ;
	else
		cli_usage_error("--on-error: '%s': expected fail, skip or dlq", arg);
	ep->mode_set = 1;
}

void errpol_dlq_arg(struct errpol *ep, const char *path)
{
	if (path[0] == '\0')
		cli_usage_error("--dlq: an empty file name");
	ep->dlq_path = path;
}

void errpol_check(struct errpol *ep)
{
	if (ep->dlq_path != NULL && !ep->mode_set)
		ep->mode = ERRPOL_DLQ;
	if (ep->dlq_path != NULL && ep->mode != ERRPOL_DLQ)
		cli_usage_error("--dlq needs --on-error dlq");
	if (ep->mode == ERRPOL_DLQ && ep->dlq_path == NULL)
		cli_usage_error("--on-error dlq needs --dlq FILE");
}

void errpol_open(struct errpol *ep)
{
	size_t n;

	if (ep->mode != ERRPOL_DLQ || ep->dlq_open)
		return;
	n = strlen(ep->dlq_path);
	if (ep->resume) {
		char err[1024];

		if (wr_open_at(&ep->dlq, ep->dlq_path,
			       n > 4 && strcmp(ep->dlq_path + n - 4, ".zst") == 0, ep->dlq_len, err,
			       sizeof(err)) < 0)
			cli_die(RTAI_EXIT_FAIL, "--dlq %s: %s: the dead-letter stream changed since "
				"the checkpoint resumed (truncated, replaced or removed?)",
				ep->dlq_path, err);
	} else {
		wr_open_path(&ep->dlq, ep->dlq_path,
			     n > 4 && strcmp(ep->dlq_path + n - 4, ".zst") == 0, 0);
	}
	ep->dlq_open = 1;
}

/* The dead letter of f: the tool's own letter, or the frame as read with
 * an "_error" field when its payload is a record, or the frame as read. */
static void dead_letter(struct errpol *ep, const struct frame *f, const char *reason)
{
	struct frame o = *f;
	uint8_t enc = f->enc;

	buf_reset(&ep->enc);
	if (ep->letter != NULL && ep->letter(ep->letter_arg, f, reason, &ep->enc, &enc) == 0) {
		wr_put_meta(&ep->dlq, f->kind, enc, f->flags & ~RTAI_F_TOMBSTONE, f->ingest_ns,
			    f->event_ns, f->meta, f->meta_len, ep->enc.p, ep->enc.len);
		return;
	}
	if (ep->letter == NULL && f->kind == RTAI_K_DATA && rec_from_frame(&ep->rec, f) == 0) {
		rec_set(&ep->rec, "_error", 6, val_str(reason, strlen(reason)));
		rec_encode(&ep->rec, &ep->enc);
		o.enc = RTAI_E_REC;
		o.payload = ep->enc.p;
		o.len = (uint32_t)ep->enc.len;
	}
	wr_frame(&ep->dlq, &o);
}

int errpol_refuse(struct errpol *ep, const struct frame *f, const char *where,
		  const char *reason)
{
	if (ep->mode == ERRPOL_FAIL) {
		cli_warn("%s", where);
		cli_warn("use --on-error skip or --on-error dlq --dlq FILE to go on");
		return -1;
	}
	if (ep->first[0] == '\0')
		snprintf(ep->first, sizeof(ep->first), "%s", where);
	if (ep->verbose)
		cli_warn("%s", where);
	if (ep->mode == ERRPOL_SKIP || f == NULL) {
		ep->skipped++;
		return 0;
	}
	dead_letter(ep, f, reason);
	ep->dead++;
	return 0;
}

void errpol_flush(struct errpol *ep)
{
	if (ep->dlq_open)
		wr_flush(&ep->dlq);
}

int errpol_sync(struct errpol *ep, char *err, size_t errlen)
{
	if (!ep->dlq_open)
		return 0;
	if (wr_sync(&ep->dlq, &ep->dlq_len) < 0) {
		snprintf(err, errlen, "--dlq %s: %s%s", ep->dlq_path, strerror(errno),
			 errno == ESPIPE ? " (checkpoints need a dead-letter stream that is a "
					   "regular file)" : "");
		return -1;
	}
	return 0;
}

void errpol_save(const struct errpol *ep, struct buf *b)
{
	snap_u64(b, ep->skipped);
	snap_u64(b, ep->dead);
	snap_u64(b, ep->dlq_len);
	snap_bytes(b, ep->first, strlen(ep->first));
}

void errpol_load(struct errpol *ep, struct snap_rd *r)
{
	const uint8_t *first;
	size_t n;

	ep->skipped = snap_get_u64(r);
	ep->dead = snap_get_u64(r);
	ep->dlq_len = snap_get_u64(r);
	first = snap_get_bytes(r, sizeof(ep->first) - 1, &n);
	if (first == NULL)
		return;
	memcpy(ep->first, first, n);
	ep->first[n] = '\0';
	ep->resume = ep->mode == ERRPOL_DLQ;
}

void errpol_close(struct errpol *ep)
{
	if (!ep->dlq_open)
		return;
	wr_close(&ep->dlq);
	ep->dlq_open = 0;
}

int errpol_status(const struct errpol *ep, uint64_t nin, int status, const char *done)
{
	if (status != RTAI_EXIT_OK || nin == 0 || errpol_dropped(ep) != nin)
		return status;
	cli_warn("every record (%llu) was %s: nothing was %s (exit status %d)",
		  (unsigned long long)nin,
		  ep->dead == 0 ? "skipped" : ep->skipped == 0 ? "dead-lettered"
							: "skipped or dead-lettered",
		  done, RTAI_EXIT_ALLDROP);
	return RTAI_EXIT_ALLDROP;
}

void errpol_free(struct errpol *ep)
{
	if (ep == NULL)
		return;
	rec_free(&ep->rec);
	buf_free(&ep->enc);
}
