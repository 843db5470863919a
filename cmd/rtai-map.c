/* rtai-map - filter, project and derive fields with Lua expressions.
 *
 * Each data frame runs through the operations in the order given: -w keeps
 * the records an expression holds true for, -s sets a field from one, -d,
 * -r and --keep drop, rename and keep fields, and a --script function
 * comes last. Expressions run in LuaJIT (lib/luarec.h); only the fields
 * they name enter Lua, so every other field leaves byte for byte as it
 * came, and a record nothing changed leaves as its very frame. Runtime
 * errors go through --on-error, naming the record.
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "errpol.h"
#include "frame.h"
#include "luarec.h"
#include "rec.h"
#include "rtime.h"
#include "sig.h"


/* ---- options ---------------------------------------------------------- */

enum op_kind { OP_WHERE, OP_SET, OP_DROP, OP_RENAME, OP_KEEP };

struct op {
	enum op_kind kind;
	const char *opt;		/* "-w", "-s"...: for messages */
	const char *arg;		/* the option's argument as given */
	const char *text;		/* the expression (-w, -s) */
	int expr;			/* its id in the engine */
	char *name;			/* -s NAME, -d NAME, -r OLD */
	size_t nlen;
	char *to;			/* -r NEW */
	size_t tolen;
	enum lr_want want;		/* -s NAME:TYPE */
	int event;			/* -s _event_time=... */
	char **keep;			/* --keep A,B */
	size_t *keeplen, nkeep;
};

static struct {
	struct op *ops;			/* in the order given */
	size_t nops;
	const char *script;		/* --script FILE */
	int no_sandbox;			/* --no-sandbox */
	int verbose;			/* -v */
} opt;

enum {
	OPT_KEEP = 256, OPT_SCRIPT, OPT_NO_SANDBOX, OPT_ON_ERROR, OPT_DLQ,
	OPT_MAX_FRAME, OPT_VERSION,
};

static const struct option longopts[] = {
	{ "where", required_argument, NULL, 'w' },		/* keep if EXPR is true */
	{ "set", required_argument, NULL, 's' },		/* NAME[:TYPE]=EXPR */
	{ "drop", required_argument, NULL, 'd' },		/* remove a field */
	{ "rename", required_argument, NULL, 'r' },		/* OLD=NEW */
	{ "keep", required_argument, NULL, OPT_KEEP },		/* only these fields */
	{ "script", required_argument, NULL, OPT_SCRIPT },	/* a Lua map(r) */
	{ "no-sandbox", no_argument, NULL, OPT_NO_SANDBOX },	/* the script may do I/O */
	{ "on-error", required_argument, NULL, OPT_ON_ERROR },	/* fail, skip or dlq */
	{ "dlq", required_argument, NULL, OPT_DLQ },		/* dead-letter stream */
	{ "max-frame", required_argument, NULL, OPT_MAX_FRAME },	/* frame size limit */
	{ "verbose", no_argument, NULL, 'v' },			/* each error, a summary */
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void usage(int status)
{
	FILE *fp = status == 0 ? stdout : stderr;

	fputs("Usage: rtai-map [OPTION]... [FILE]...\n"
	      "Filter records, derive, drop, rename and keep fields with Lua expressions\n"
	      "(LuaJIT). Operations run in the order given, then the --script.\n"
	      "With no FILE, or when FILE is -, read standard input.\n"
	      "\n"
	      "Operations:\n"
	      "  -w, --where EXPR         keep the records for which EXPR is true (not nil\n"
	      "                           or false); several -w must all hold\n"
	      "  -s, --set NAME[:TYPE]=EXPR  set field NAME to EXPR; TYPE (int, float,\n"
	      "                           string, bool, time, json) fixes its type;\n"
	      "                           _event_time sets the frame's event time\n"
	      "  -d, --drop NAME          remove field NAME\n"
	      "  -r, --rename OLD=NEW     rename field OLD to NEW\n"
	      "      --keep A,B,...       keep only these fields\n"
	      "      --script FILE        run FILE's map(r) on each record: it returns r,\n"
	      "                           nil (drop), a table of fields, or a list of them\n"
	      "      --no-sandbox         let the --script use io, os, require, load, ffi\n"
	      "\n"
	      "In expressions, fields are Lua values by name (amount, r[\"user-id\"]);\n"
	      "times are seconds since the epoch; helpers: hour(t [,zone]), minute,\n"
	      "dow (1 = Monday), date, parse_time(s), format_time(t [,fmt [,zone]]).\n"
	      "\n"
	      "Errors (a runtime error in an expression, a record that cannot be read):\n"
	      ERRPOL_HELP
	      "                           (each record with an _error field)\n"
	      "\n"
	      "Other:\n"
	      "      --max-frame BYTES    largest frame accepted (default 16777216)\n"
	      "  -v, --verbose            report each failing record, and print a summary\n"
	      "  -h, --help               show this help and exit\n"
	      "      --version            show the version and exit\n"
	      "\n"
	      "Examples:\n"
	      "  rtai-map -w 'amount > 100' -s 'amount_usd=amount * 1.1' <clicks.rtai\n"
	      "  rtai-map -s 'is_night=hour(event_time, \"Europe/Paris\") < 6' -d item_id\n"
	      "\n"
	      "See rtai-map(1), rtai-record(5) and rtai(7).\n", fp);
	exit(status);
}

static struct op *op_new(enum op_kind kind, const char *o, const char *arg)
{
	struct op *op;

	opt.ops = xrealloc(opt.ops, (opt.nops + 1) * sizeof(*opt.ops));
	op = &opt.ops[opt.nops++];
	*op = (struct op){ .kind = kind, .opt = o, .arg = arg, .expr = -1, .want = LR_ANY };
	return op;
}

/* A field name from an option: trimmed, 1 to 255 bytes. */
static char *name_arg(const char *o, const char *arg, const char *p, size_t n, size_t *len)
{
	while (n > 0 && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if (n == 0)
		cli_usage_error("%s '%s': empty field name", o, arg);
	if (n > 255)
		cli_usage_error("%s '%s': a field name has at most 255 bytes", o, arg);
	if ((n == 11 && memcmp(p, "_event_time", 11) == 0 && strcmp(o, "-s") != 0) ||
	    (n == 12 && memcmp(p, "_ingest_time", 12) == 0))
		cli_usage_error("%s '%s': %.*s is the frame's time, not a field%s", o, arg, (int)n, p,
				 p[1] == 'e' ? " (-s _event_time=EXPR sets it, =nil clears it)"
					     : "; it cannot be changed: it measures latency");
	*len = n;
	return xstrndup(p, n);
}

/* -s NAME[:TYPE]=EXPR */
static void set_opt(const char *arg)
{
	static const struct { const char *name; enum lr_want want; } types[] = {
		{ "int", LR_INT }, { "float", LR_FLOAT }, { "string", LR_STR },
		{ "bool", LR_BOOL }, { "time", LR_TIME }, { "json", LR_JSON },
	};
	const char *eq = strchr(arg, '='), *colon;
	struct op *op;
	size_t n;

	if (eq == NULL)
		cli_usage_error("-s '%s': expected NAME=EXPR, e.g. -s 'amount_usd=amount * 1.1'", arg);
	op = op_new(OP_SET, "-s", arg);
	op->text = eq + 1;
	n = (size_t)(eq - arg);
	colon = memchr(arg, ':', n);
	if (colon != NULL) {
		const char *t = colon + 1;
		size_t tn = (size_t)(eq - t), i;

		while (tn > 0 && t[tn - 1] == ' ')
			tn--;
		for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strlen(types[i].name) == tn && memcmp(types[i].name, t, tn) == 0)
				break;
		if (i == sizeof(types) / sizeof(types[0]))
			cli_usage_error("-s '%s': unknown type '%.*s' (expected int, float, string, bool, time or json)",
					 arg, (int)tn, t);
		op->want = types[i].want;
		n = (size_t)(colon - arg);
	}
	op->name = name_arg("-s", arg, arg, n, &op->nlen);
	if (op->nlen == 11 && memcmp(op->name, "_event_time", 11) == 0) {
		if (op->want != LR_ANY && op->want != LR_TIME)
			cli_usage_error("-s '%s': the event time is a time", arg);
		op->event = 1;
	}
}

/* -r OLD=NEW */
static void rename_opt(const char *arg)
{
	const char *eq = strchr(arg, '=');
	struct op *op;

	if (eq == NULL)
		cli_usage_error("-r '%s': expected OLD=NEW", arg);
	op = op_new(OP_RENAME, "-r", arg);
	op->name = name_arg("-r", arg, arg, (size_t)(eq - arg), &op->nlen);
	op->to = name_arg("-r", arg, eq + 1, strlen(eq + 1), &op->tolen);
}

/* --keep A,B,C */
static void keep_opt(const char *arg)
{
	struct op *op = op_new(OP_KEEP, "--keep", arg);
	const char *p = arg;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		op->keep = xrealloc(op->keep, (op->nkeep + 1) * sizeof(*op->keep));
		op->keeplen = xrealloc(op->keeplen, (op->nkeep + 1) * sizeof(*op->keeplen));
		op->keep[op->nkeep] = name_arg("--keep", arg, p, n, &op->keeplen[op->nkeep]);
		op->nkeep++;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
}

static void ops_free(void)
{
	for (size_t i = 0; i < opt.nops; i++) {
		struct op *op = &opt.ops[i];

		free(op->name);
		free(op->to);
		for (size_t j = 0; j < op->nkeep; j++)
			free(op->keep[j]);
		free(op->keep);
		free(op->keeplen);
	}
	free(opt.ops);
}

/* ---- state ------------------------------------------------------------- */

static struct frame_wr out;		/* stdout */
static struct errpol ep = ERRPOL_INIT;	/* --on-error, --dlq */

/* rd_on_block(): before waiting for input, the output and the dead
 * letters so far leave (a lone record at once; a DLQ whole if killed). */
static void flush_outputs(void *arg)
{
	(void)arg;
	wr_flush(&out);
	errpol_flush(&ep);
}
static struct lr *lr;			/* the Lua engine; NULL without expressions */
static struct lr_rec cur;		/* the record being mapped */
static struct buf enc;			/* an encoded record */
static int reshapes;			/* some operation changes records */

static struct {
	uint64_t in, out, filtered;
} count;

/* ---- one record ------------------------------------------------------------- */

/* Writes r: its frame as it came when nothing changed, else the record
 * encoded anew, with the frame's ingest time and the record's event time. */
static void emit(void *arg, struct lr_rec *r)
{
	struct frame o = *r->f;

	(void)arg;
	o.event_ns = r->event_ns;
	if (r->changed) {
		buf_reset(&enc);
		rec_encode(&r->rec, &enc);
		o.enc = RTAI_E_REC;
		o.payload = enc.p;
		o.len = (uint32_t)enc.len;
	}
	wr_frame(&out, &o);
	count.out++;
}

/* Runs one operation on cur. Returns 1 to go on, 0 when the record is
 * filtered out, -1 on an error (the reason in *why). */
static int apply(const struct op *op, const char **why)
{
	struct rec_field *f;
	struct val v;
	int64_t ns;
	int st;

	*why = NULL;
	switch (op->kind) {
	case OP_WHERE:
		if ((st = lr_test(lr, op->expr, &cur)) < 0)
			return *why = lr_err(lr), -1;
		return st;
	case OP_SET:
		if (op->event) {
			if (lr_time(lr, op->expr, &cur, &ns) < 0)
				return *why = lr_err(lr), -1;
			cur.event_ns = ns;
			return 1;
		}
		if (lr_value(lr, op->expr, &cur, op->name, op->nlen, op->want, &v) < 0)
			return *why = lr_err(lr), -1;
		if (rec_get(&cur.rec, op->name, op->nlen) == NULL && cur.rec.n >= rec_max_fields)
			return *why = "the record would have more fields than allowed (RTAI_MAX_FIELDS)", -1;
		rec_set(&cur.rec, op->name, op->nlen, v);
		cur.changed = 1;
		return 1;
	default:
		break;
	}
	if (lr_rec_decode(&cur) < 0)
		return *why = cur.rec.err, -1;
	switch (op->kind) {
	case OP_DROP:
		if ((f = rec_get(&cur.rec, op->name, op->nlen)) != NULL) {
			rec_del(&cur.rec, (uint32_t)(f - cur.rec.f));
			cur.changed = 1;
		}
		break;
	case OP_RENAME:
		if ((f = rec_get(&cur.rec, op->name, op->nlen)) == NULL ||
		    (op->nlen == op->tolen && memcmp(op->name, op->to, op->nlen) == 0))
			break;
		f->name = op->to;
		f->nlen = (uint8_t)op->tolen;
		/* The old field of the new name, if any, gives way. */
		for (uint32_t i = 0; i < cur.rec.n; i++)
			if (&cur.rec.f[i] != f && cur.rec.f[i].nlen == op->tolen &&
			    memcmp(cur.rec.f[i].name, op->to, op->tolen) == 0) {
				rec_del(&cur.rec, i);
				break;
			}
		cur.changed = 1;
		break;
	case OP_KEEP:
		for (uint32_t i = 0; i < cur.rec.n;) {
			size_t k;

			for (k = 0; k < op->nkeep; k++)
				if (op->keeplen[k] == cur.rec.f[i].nlen &&
				    memcmp(op->keep[k], cur.rec.f[i].name, op->keeplen[k]) == 0)
					break;
			if (k < op->nkeep) {
				i++;
			} else {
				rec_del(&cur.rec, i);
				cur.changed = 1;
			}
		}
		break;
	default:
		break;
	}
	return 1;
}

/* ---- bad records -------------------------------------------------------------- */

/* Applies --on-error to the record in f. Returns 0 to go on, -1 to stop. */
static int refuse(const struct frame_rd *rd, const struct frame *f,
		  const struct op *op, const char *reason)
{
	char where[1024];

	if (op != NULL)
		snprintf(where, sizeof(where), "%s: record %llu (byte %llu): %s '%s': %s", rd->name,
			 (unsigned long long)rd->nrec, (unsigned long long)f->offset, op->opt,
			 op->arg, reason);
	else
		snprintf(where, sizeof(where), "%s: record %llu (byte %llu): --script %s: %s",
			 rd->name, (unsigned long long)rd->nrec, (unsigned long long)f->offset,
			 opt.script, reason);
	return errpol_refuse(&ep, f, where, reason);
}

/* ---- the main loop -------------------------------------------------------------- */

/* One data frame through every operation. Returns 0, or -1 to stop. */
static int map_one(const struct frame_rd *rd, const struct frame *f)
{
	const char *why;
	int st, n;

	count.in++;
	lr_rec_frame(&cur, f);
	for (size_t i = 0; i < opt.nops; i++) {
		st = apply(&opt.ops[i], &why);
		if (st < 0)
			return refuse(rd, f, &opt.ops[i], why);
		if (st == 0) {
			count.filtered++;
			return 0;
		}
	}
	if (opt.script == NULL) {
		emit(NULL, &cur);
		return 0;
	}
	if ((n = lr_script(lr, &cur, emit, NULL)) < 0)
		return refuse(rd, f, NULL, lr_err(lr));
	if (n == 0)
		count.filtered++;
	return 0;
}

/* Maps one input. Returns 0, -1 after a message, -2 to stop. */
static int map_input(const char *path)
{
	struct frame_rd rd;
	struct frame f;
	int st, ret = 0;

	if (rd_open(&rd, path) < 0) {
		cli_warn("%s", rd.err);
		return -1;
	}
	rd_on_block(&rd, flush_outputs, NULL);
	while ((st = rd_frame(&rd, &f)) > 0) {
		if (f.kind == RTAI_K_DATA) {
			if (map_one(&rd, &f) < 0) {
				ret = -2;
				break;
			}
		} else if (f.kind == RTAI_K_MARKER) {
			wr_marker(&out, &f, "rtai-map");
		} else if (f.kind != RTAI_K_SCHEMA || !reshapes) {
			/* A schema no longer holds once fields change: none is sent. */
			wr_frame(&out, &f);
		}
	}
	if (st < 0) {
		cli_warn("%s", rd.err);
		ret = -1;
	}
	rd_close(&rd);
	return ret;
}

/* Compiles every expression, or exits 2 naming the one that fails. */
static void compile(void)
{
	for (size_t i = 0; i < opt.nops; i++) {
		struct op *op = &opt.ops[i];

		if (op->kind == OP_WHERE || op->kind == OP_SET) {
			if (lr == NULL)
				lr = lr_new();
			if ((op->expr = lr_compile(lr, op->text)) < 0)
				cli_usage_error("%s '%s': syntax error: %s", op->opt, op->arg, lr_err(lr));
		}
		if (op->kind != OP_WHERE)
			reshapes = 1;
	}
	if (opt.script != NULL) {
		if (lr == NULL)
			lr = lr_new();
		if (lr_script_load(lr, opt.script, !opt.no_sandbox) < 0)
			cli_usage_error("--script: %s", lr_err(lr));
		reshapes = 1;
	}
}

/* At the end: counts, and expressions that never found a field they read. */
static void summary(void)
{
	char lua[64] = "";

	for (size_t i = 0; i < opt.nops && count.in > 0; i++) {
		const struct op *op = &opt.ops[i];
		const char *name;

		if (op->expr >= 0 && (name = lr_missing(lr, op->expr)) != NULL)
			cli_warn("warning: %s '%s': no record had a field \"%s\" (nor any other field it reads): a misspelt name?",
				  op->opt, op->arg, name);
	}
	if (errpol_dropped(&ep) == 0 && !opt.verbose)
		return;
	/* one line through cli_warn, as rtai-parse's */
	if (lr != NULL && opt.verbose)
		snprintf(lua, sizeof(lua), "; Lua holds %zu KiB", lr_mem(lr) / 1024);
	cli_warn("%llu records in, %llu out, %llu filtered out, %llu skipped, %llu dead-lettered%s%s%s",
		 (unsigned long long)count.in, (unsigned long long)count.out,
		 (unsigned long long)count.filtered, (unsigned long long)ep.skipped,
		 (unsigned long long)ep.dead, lua,
		 ep.first[0] != '\0' && !opt.verbose ? "; first: " : "",
		 ep.first[0] != '\0' && !opt.verbose ? ep.first : "");
}

int main(int argc, char **argv)
{
	static char *stdin_only[] = { "-", NULL };
	const char *max_frame = NULL;
	char **files;
	int c, nfiles, st = 0, status = RTAI_EXIT_OK;

	cli_init("rtai-map", argv);
	while ((c = getopt_long(argc, argv, "w:s:d:r:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'w': op_new(OP_WHERE, "-w", optarg)->text = optarg; break;
		case 's': set_opt(optarg); break;
		case 'd': {
			struct op *op = op_new(OP_DROP, "-d", optarg);

			op->name = name_arg("-d", optarg, optarg, strlen(optarg), &op->nlen);
			break;
		}
		case 'r': rename_opt(optarg); break;
		case OPT_KEEP: keep_opt(optarg); break;
		case OPT_SCRIPT:
			if (opt.script != NULL)
				cli_usage_error("--script: one script at most");
			opt.script = optarg;
			break;
		case OPT_NO_SANDBOX: opt.no_sandbox = 1; break;
		case OPT_ON_ERROR: errpol_mode_arg(&ep, optarg); break;
		case OPT_DLQ: errpol_dlq_arg(&ep, optarg); break;
		case OPT_MAX_FRAME: max_frame = optarg; break;
		case 'v': opt.verbose = ep.verbose = 1; break;
		case 'h': usage(RTAI_EXIT_OK); break;
		case OPT_VERSION: cli_version(); break;
		default: cli_usage_hint();
		}
	}
	argc -= optind;
	argv += optind;
	rd_set_max_frame(max_frame);
	errpol_check(&ep);
	if (opt.no_sandbox && opt.script == NULL)
		cli_usage_error("--no-sandbox needs --script: expressions always run in the sandbox");
	if (opt.nops == 0 && opt.script == NULL)
		cli_usage_error("nothing to do: give -w, -s, -d, -r, --keep or --script");
	compile();
	files = argc > 0 ? argv : stdin_only;
	nfiles = argc > 0 ? argc : 1;

	sig_catch_stop();
	sig_from_operands(argc, argv);
	signal(SIGHUP, SIG_IGN);	/* nothing to reload */
	signal(SIGUSR1, SIG_IGN);	/* no checkpoint of its own */
	wr_open_fd(&out, 1, "stdout", 0);
	errpol_open(&ep);
	for (int i = 0; i < nfiles && !sig_stop; i++) {
		st = map_input(files[i]);
		if (st < 0)
			status = rd_cut_seen ? RTAI_EXIT_CUT : RTAI_EXIT_FAIL;
		if (st == -2)
			break;
	}
	summary();
	status = errpol_status(&ep, count.in, status, "mapped");
	if (st == -2)		/* stopped by --on-error fail: not a clean end */
		wr_abandon(&out);
	else
		wr_close(&out);
	errpol_close(&ep);

	lr_free(lr);
	lr_rec_free(&cur);
	errpol_free(&ep);
	buf_free(&enc);
	ops_free();
	return status;
}
