/* rtai-score - a model's prediction added to each record.
 *
 * Loads an XGBoost model (JSON or UBJSON, lib/xgb), maps its features to
 * record fields by name, and adds the prediction to every record. Records
 * that are already in the input buffer are scored together, as one call,
 * up to --batch; scoring never waits for more input, so a lone record
 * leaves at once and a burst goes through in batches. Other frames pass
 * through in order; latency markers carry this stage's stamp.
 */
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "errpol.h"
#include "frame.h"
#include "rec.h"
#include "sig.h"
#include "xgb.h"

/* ---- options ---------------------------------------------------------- */

static struct {
	const char *model;		/* -m: the model file */
	const char *field;		/* --field: the prediction's name */
	const char *features;		/* --features: fields for the columns */
	int margin;			/* --margin: raw margins */
	long long threads;		/* --threads: XGBoost's threads */
	long long batch;		/* --batch: most rows per call */
	int allow_absent;		/* --allow-absent: absent = missing */
	int verbose;			/* -v */
} opt = {
	.field = "score",
	.threads = 1,
	.batch = 256,
};

enum { OPT_FEATURES = 256, OPT_MARGIN, OPT_THREADS, OPT_BATCH, OPT_ALLOW_ABSENT, OPT_ON_ERROR,
       OPT_DLQ, OPT_MAX_FRAME, OPT_VERSION };

static const struct option longopts[] = {
	{ "model", required_argument, NULL, 'm' },		/* XGBoost model file */
	{ "field", required_argument, NULL, 'f' },		/* output field name */
	{ "features", required_argument, NULL, OPT_FEATURES },	/* fields, in column order */
	{ "margin", no_argument, NULL, OPT_MARGIN },		/* raw margin, no link */
	{ "threads", required_argument, NULL, OPT_THREADS },	/* XGBoost threads */
	{ "batch", required_argument, NULL, OPT_BATCH },	/* most records per call */
	{ "allow-absent", no_argument, NULL, OPT_ALLOW_ABSENT },	/* absent = missing */
	{ "on-error", required_argument, NULL, OPT_ON_ERROR },	/* fail, skip or dlq */
	{ "dlq", required_argument, NULL, OPT_DLQ },		/* dead-letter stream */
	{ "verbose", no_argument, NULL, 'v' },			/* model and counts */
	{ "max-frame", required_argument, NULL, OPT_MAX_FRAME },	/* frame size limit */
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void usage(int status)
{
	FILE *fp = status == 0 ? stdout : stderr;

	fputs("Usage: rtai-score -m MODEL [OPTION]... [FILE]\n"
	      "Add an XGBoost model's prediction to each record of an rtai stream.\n"
	      "With no FILE, or when FILE is -, read standard input.\n"
	      "\n"
	      "Model:\n"
	      "  -m, --model FILE         an XGBoost model saved as JSON or UBJSON\n"
	      "      --features A,B,...   the record fields for the model's columns, in order\n"
	      "                           (default: the feature names stored in the model)\n"
	      "      --allow-absent       a feature field absent from a record is a missing\n"
	      "                           value (warned once); by default it is an error\n"
	      "\n"
	      "Output:\n"
	      "  -f, --field NAME         the prediction's field (default score); a model of\n"
	      "                           K outputs per row (multi-class) adds NAME_0 ..\n"
	      "                           NAME_K-1\n"
	      "      --margin             the raw margin (log-odds for binary:logistic)\n"
	      "                           instead of the probability\n"
	      ERRPOL_HELP
	      "                           (a record whose feature is not a number; each\n"
	      "                           with an _error field)\n"
	      "\n"
	      "Speed:\n"
	      "      --threads N          XGBoost's threads (default 1)\n"
	      "      --batch N            score at most N buffered records per call\n"
	      "                           (default 256); never waits to fill a batch\n"
	      "\n"
	      "Other:\n"
	      "  -v, --verbose            describe the model, and report counts at exit\n"
	      "      --max-frame BYTES    largest frame accepted (default 16777216)\n"
	      "  -h, --help               show this help and exit\n"
	      "      --version            show the version and exit\n"
	      "\n"
	      "Missing values: null, absent (with --allow-absent), NaN and infinite\n"
	      "fields are XGBoost's missing value; true and false are 1 and 0.\n"
	      "\n"
	      "Example:\n"
	      "  rtai-cat tx.jsonl | rtai-parse -t event_time | rtai-score -m fraud.json\n"
	      "\n"
	      "See rtai-score(1) and rtai(7).\n", fp);
	exit(status);
}

/* ---- the model and its fields --------------------------------------------- */

static struct xgb *model;
static size_t nfeat;			/* columns */
static char **fname;			/* the field of each column */
static size_t *flen;
static size_t nout;			/* outputs per row */
static char **oname;			/* their fields */
static size_t *olen;

/* Splits "a,b,c" into names of 1 to 255 bytes. */
static size_t split_names(const char *arg, char ***names)
{
	size_t n = 0;
	const char *p = arg;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == 0 || len > 255)
			cli_usage_error("--features: '%s': field names must have 1 to 255 bytes", arg);
		*names = xrealloc(*names, (n + 1) * sizeof(**names));
		(*names)[n++] = xstrndup(p, len);
		if (comma == NULL)
			return n;
		p = comma + 1;
	}
}

/* Loads the model and names the columns and the outputs; exits on error. */
static void setup_model(void)
{
	char err[600];
	size_t ngiven = 0;
	char **given = NULL;

	if (opt.features != NULL)
		ngiven = split_names(opt.features, &given);
	model = xgb_load(opt.model, (int)opt.threads, err, sizeof(err));
	if (model == NULL)
		cli_die(RTAI_EXIT_FAIL, "%s", err);
	nfeat = xgb_nfeatures(model);
	if (given != NULL && ngiven != nfeat)
		cli_die(RTAI_EXIT_FAIL, "%s: the model takes %zu features, --features names %zu",
			 opt.model, nfeat, ngiven);
	if (given == NULL && xgb_feature_name(model, 0) == NULL)
		cli_die(RTAI_EXIT_FAIL, "%s: the model stores no feature names: name its %zu "
			 "columns with --features A,B,...", opt.model, nfeat);
	fname = given != NULL ? given : xcalloc(nfeat, sizeof(*fname));
	flen = xcalloc(nfeat, sizeof(*flen));
	for (size_t i = 0; i < nfeat; i++) {
		if (given == NULL)
			fname[i] = xstrdup(xgb_feature_name(model, i));
		flen[i] = strlen(fname[i]);
		if (flen[i] == 0 || flen[i] > 255)
			cli_die(RTAI_EXIT_FAIL, "%s: feature %zu: a name of %zu bytes cannot be a "
				 "field name (rename it with --features)", opt.model, i + 1, flen[i]);
	}
	nout = xgb_noutputs(model, opt.margin);
	oname = xcalloc(nout, sizeof(*oname));
	olen = xcalloc(nout, sizeof(*olen));
	for (size_t k = 0; k < nout; k++) {
		struct buf b = { 0 };

		if (nout == 1)
			buf_puts(&b, opt.field);
		else
			buf_printf(&b, "%s_%zu", opt.field, k);
		if (b.len > 255)
			cli_usage_error("--field: '%s': the field name is longer than 255 bytes",
					 opt.field);
		buf_putc(&b, '\0');
		oname[k] = (char *)b.p;
		olen[k] = b.len - 1;
	}
	if (opt.verbose) {
		fprintf(stderr, "%s: %s: %s, %d rounds, %zu output%s per row, features:",
			cli_progname, opt.model, xgb_objective(model), xgb_rounds(model), nout,
			nout == 1 ? "" : "s");
		for (size_t i = 0; i < nfeat; i++)
			fprintf(stderr, "%s %s", i ? "," : "", fname[i]);
		fputc('\n', stderr);
	}
}

/* ---- the batch -------------------------------------------------------------- */

static struct frame_wr out;
static int status = RTAI_EXIT_OK;

static struct pending {
	struct frame f;		/* payload: in pdata, from off */
	size_t off;
	unsigned long long no;		/* record number */
	struct rec rec;
	int row;			/* its row in x, or -1 when skipped */
} *pend;
static int npend;			/* records in the batch */
static struct buf pdata;		/* their payloads, copied out of the reader */
static float *x;			/* --batch rows of nfeat columns */
static struct buf obuf;			/* an encoded output record */
static int absent_warned;		/* --allow-absent said so once */

static struct errpol ep = ERRPOL_INIT;	/* --on-error, --dlq */

/* rd_on_block(): before waiting for input, the output and the dead
 * letters so far leave (a lone record at once; a DLQ whole if killed). */
static void flush_outputs(void *arg)
{
	(void)arg;
	wr_flush(&out);
	errpol_flush(&ep);
}
static unsigned long long nrecords, nscored, nbatches, nframes;

/* Queues a data frame; the reader may move its buffer afterwards. */
static void queue(const struct frame_rd *rd, const struct frame *f)
{
	struct pending *p = &pend[npend++];

	p->f = *f;
	p->off = pdata.len;
	p->no = (unsigned long long)rd->nrec;
	buf_append(&pdata, f->payload, f->len);
}

/* A feature's value as a float32 column: NaN (missing) for null, NaN and
 * infinities (beyond float32's range too), 0 and 1 for false and true.
 * Returns 0, or -1 for a type that is not a number. */
static int column(const struct val *v, float *out)
{
	switch (v->type) {
	case RT_NULL: *out = NAN; return 0;
	case RT_FALSE: *out = 0; return 0;
	case RT_TRUE: *out = 1; return 0;
	case RT_INT: *out = (float)v->i; return 0;
	case RT_FLOAT:
		*out = (float)v->f;
		if (!isfinite(*out))
			*out = NAN;
		return 0;
	default: return -1;
	}
}

/* Decodes a queued record into its row. Returns 0, or -1 with the reason
 * in msg. */
static int prepare(struct pending *p, float *row, char *msg, size_t n)
{
	struct buf absent = { 0 };
	int ret = 0, nabsent = 0;

	rec_reset(&p->rec);
	if (rec_from_frame(&p->rec, &p->f) < 0) {
		snprintf(msg, n, "%s%s", p->rec.err,
			 p->f.enc == RTAI_E_RAW ? " (parse raw lines with rtai-parse first)" : "");
		return -1;
	}
	for (size_t j = 0; j < nfeat; j++) {
		const struct rec_field *fl = rec_get(&p->rec, fname[j], flen[j]);

		if (fl == NULL) {
			row[j] = NAN;
			if (!absent_warned || !opt.allow_absent)
				buf_printf(&absent, "%s\"%s\"", nabsent++ ? ", " : "", fname[j]);
		} else if (column(&fl->v, &row[j]) < 0) {
			snprintf(msg, n, "field \"%s\": expected a number, true, false or null (a "
				 "feature of the model), got %s", fname[j], rt_type_name(fl->v.type));
			ret = -1;
			goto out;
		}
	}
	if (absent.len > 0 && !opt.allow_absent) {
		snprintf(msg, n, "feature%s absent from the record: %.*s (map the model's features "
			 "to fields with --features, or let absent fields be missing values with "
			 "--allow-absent)", nabsent > 1 ? "s" : "", (int)absent.len,
			 (const char *)absent.p);
		ret = -1;
	} else if (absent.len > 0) {
		cli_warn("record %llu: absent features, scored as missing values (warned once): "
			  "%.*s", p->no, (int)absent.len, (const char *)absent.p);
		absent_warned = 1;
	}
out:
	buf_free(&absent);
	return ret;
}

/* Writes a scored record. */
static void put_scored(struct pending *p, const float *y)
{
	for (size_t k = 0; k < nout; k++)
		rec_set(&p->rec, oname[k], olen[k], val_float((double)y[k]));
	buf_reset(&obuf);
	rec_encode(&p->rec, &obuf);
	wr_put(&out, RTAI_K_DATA, RTAI_E_REC, p->f.flags, p->f.ingest_ns, p->f.event_ns,
	       obuf.p, obuf.len);
}

/* Applies --on-error to a record whose features cannot be read. Its
 * metadata is not kept: only the payload was copied out of the reader.
 * Returns 0 to go on, -1 to stop (reported). */
static int refuse(const char *name, const struct pending *p, const char *msg)
{
	char where[800];
	struct frame f = p->f;

	f.meta = NULL;
	f.meta_len = 0;
	f.flags &= (uint16_t)~RTAI_F_META;
	snprintf(where, sizeof(where), "%s: record %llu: %s", name, p->no, msg);
	return errpol_refuse(&ep, &f, where, msg);
}

/* Scores the queued records as one call and writes them in order. Returns
 * 0, or -1 after a message about the first bad record (those before it are
 * written) or a failed prediction. */
static int drain(const char *name)
{
	char msg[600];
	int n = npend, rows = 0, bad = -1, ret = 0;
	const float *y = NULL;

	npend = 0;
	if (n == 0)
		return 0;
	for (int i = 0; i < n && bad < 0; i++) {
		struct pending *p = &pend[i];

		p->f.payload = pdata.p + p->off;
		p->row = -1;
		if (prepare(p, x + (size_t)rows * nfeat, msg, sizeof(msg)) == 0) {
			p->row = rows++;
		} else if (refuse(name, p, msg) < 0) {
			bad = i;
		}
	}
	buf_reset(&pdata);
	nrecords += (unsigned long long)(bad < 0 ? n : bad + 1);
	if (rows > 0) {
		if (xgb_predict(model, x, (size_t)rows, opt.margin, &y, msg, sizeof(msg)) < 0) {
			cli_warn("%s: record %llu: XGBoost: %s", name, pend[0].no, msg);
			return -1;
		}
		nbatches++;
		nscored += (unsigned long long)rows;
	}
	for (int i = 0; i < (bad < 0 ? n : bad); i++)
		if (pend[i].row >= 0)
			put_scored(&pend[i], y + (size_t)pend[i].row * nout);
	if (bad >= 0)
		ret = -1;	/* reported by refuse() */
	return ret;
}

/* ---- the loop -------------------------------------------------------------------- */

/* Passes a frame that is not a record on, after the records before it. */
static void forward(const struct frame *f)
{
	nframes++;
	if (f->kind == RTAI_K_MARKER)
		wr_marker(&out, f, "rtai-score");
	else if (f->kind != RTAI_K_SCHEMA)	/* the records gain fields: no schema */
		wr_frame(&out, f);
}

/* Reads the input to its end. Returns 0, or -1 after a message. */
static int run(struct frame_rd *rd)
{
	struct frame f;

	for (;;) {
		int st = rd_frame_buffered(rd, &f);

		if (st == 1 && f.kind == RTAI_K_DATA) {
			queue(rd, &f);
			if (npend == opt.batch && drain(rd->name) < 0)
				return -1;
			continue;
		}
		/* Anything else, or nothing more without waiting: score now. */
		if (drain(rd->name) < 0)
			return -1;
		if (st == 1) {
			forward(&f);
			continue;
		}
		if (st == 0 || sig_stop)
			return 0;
		if (st < 0) {
			cli_warn("%s", rd->err);
			return -1;
		}
		wr_flush(&out);
		if (rd_fill(rd) < 0) {
			cli_warn("%s", rd->err);
			return -1;
		}
	}
}

static void summary(void)
{
	if (opt.verbose)
		fprintf(stderr, "%s: %llu records, %llu scored in %llu calls (%.1f a call), "
			"%llu skipped, %llu dead-lettered, %llu other frames\n", cli_progname,
			nrecords, nscored, nbatches,
			nbatches ? (double)nscored / (double)nbatches : 0.0,
			(unsigned long long)ep.skipped, (unsigned long long)ep.dead, nframes);
	else if (errpol_dropped(&ep) > 0)
		cli_warn("%llu records, %llu skipped, %llu dead-lettered; first: %s", nrecords,
			  (unsigned long long)ep.skipped, (unsigned long long)ep.dead, ep.first);
}

int main(int argc, char **argv)
{
	const char *max_frame = NULL, *path = "-";
	struct frame_rd rd;
	int c;

	cli_init("rtai-score", argv);
	while ((c = getopt_long(argc, argv, "m:f:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': opt.model = optarg; break;
		case 'f':
			if (*optarg == '\0')
				cli_usage_error("--field: give a name");
			opt.field = optarg;
			break;
		case OPT_FEATURES: opt.features = optarg; break;
		case OPT_MARGIN: opt.margin = 1; break;
		case OPT_THREADS: opt.threads = cli_opt_int("--threads", optarg, 1, 256); break;
		case OPT_BATCH: opt.batch = cli_opt_int("--batch", optarg, 1, 65536); break;
		case OPT_ALLOW_ABSENT: opt.allow_absent = 1; break;
		case OPT_ON_ERROR: errpol_mode_arg(&ep, optarg); break;
		case OPT_DLQ: errpol_dlq_arg(&ep, optarg); break;
		case 'v': opt.verbose = ep.verbose = 1; break;
		case OPT_MAX_FRAME: max_frame = optarg; break;
		case 'h': usage(RTAI_EXIT_OK); break;
		case OPT_VERSION: cli_version(); break;
		default: cli_usage_hint();
		}
	}
	argc -= optind;
	argv += optind;
	rd_set_max_frame(max_frame);
	rec_set_max_fields(NULL);
	errpol_check(&ep);
	if (opt.model == NULL)
		cli_usage_error("give a model: -m MODEL (an XGBoost model saved as JSON or UBJSON)");
	if (argc > 1)
		cli_usage_error("one input at most (got %d)", argc);
	if (argc == 1)
		path = argv[0];

	setup_model();
	if (rd_open(&rd, path) < 0)
		cli_die(RTAI_EXIT_FAIL, "%s", rd.err);
	pend = xcalloc((size_t)opt.batch, sizeof(*pend));
	x = xmalloc((size_t)opt.batch * nfeat * sizeof(*x));
	sig_catch_stop();
	signal(SIGHUP, SIG_IGN);		/* nothing to reload */
	signal(SIGUSR1, SIG_IGN);		/* nothing to checkpoint */
	wr_open_fd(&out, 1, "stdout", 0);
	rd_on_block(&rd, flush_outputs, NULL);
	errpol_open(&ep);

	if (run(&rd) < 0)
		status = rd.cut ? RTAI_EXIT_CUT : RTAI_EXIT_FAIL;
	summary();
	errpol_close(&ep);
	status = errpol_status(&ep, nrecords, status, "scored");
	wr_close(&out);
	rd_close(&rd);
	for (long long i = 0; i < opt.batch; i++)
		rec_free(&pend[i].rec);
	free(pend);
	errpol_free(&ep);
	free(x);
	buf_free(&pdata);
	buf_free(&obuf);
	for (size_t i = 0; i < nfeat; i++)
		free(fname[i]);
	for (size_t k = 0; k < nout; k++)
		free(oname[k]);
	free(fname);
	free(flen);
	free(oname);
	free(olen);
	xgb_free(model);
	return status;
}
