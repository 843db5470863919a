/* rtai-checkpoint - list and prune the checkpoints of a directory.
 *
 * A pipeline run with --checkpoint-dir DIR (or $RTAI_CHECKPOINT_DIR)
 * leaves DIR/ckpt-N, one per checkpoint (lib/ckpt.h has the layout).
 * "list" shows each with its age, size and stages; "prune" removes all but
 * the newest complete ones, and refuses while a stage of DIR is running.
 * The directory walking is lib/ckpt's (ckpt_list, ckpt_prune).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ckpt.h"
#include "cli.h"
#include "rec.h"
#include "rtime.h"

/* ---- options ---------------------------------------------------------- */

static struct {
	int verbose;	/* -v: list: stage identities; prune: what went */
	int json;	/* --json: list as JSON lines */
	long long keep;	/* --keep N: complete checkpoints prune keeps */
	int keep_set;	/* --keep given */
	int force;	/* --force: prune while a stage runs */
} opt = {
	.keep = CKPT_KEEP,
};

enum { OPT_JSON = 256, OPT_KEEP, OPT_FORCE, OPT_VERSION };

static const struct option longopts[] = {
	{ "verbose", no_argument, NULL, 'v' },		/* more detail */
	{ "json", no_argument, NULL, OPT_JSON },	/* list as JSON lines */
	{ "keep", required_argument, NULL, OPT_KEEP },	/* complete ones kept */
	{ "force", no_argument, NULL, OPT_FORCE },	/* prune while live */
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void usage(int status)
{
	FILE *fp = status == 0 ? stdout : stderr;

	fprintf(fp,
		"Usage: rtai-checkpoint list [-v] [--json] DIR\n"
		"  or:  rtai-checkpoint prune [-v] [--keep N] [--force] DIR\n"
		"List or prune the checkpoints of the checkpoint directory DIR (the\n"
		"--checkpoint-dir or $RTAI_CHECKPOINT_DIR of a pipeline).\n"
		"\n"
		"list: one line per checkpoint, oldest first, tab-separated: its id,\n"
		"complete, declined (a stage could not write its snapshot) or incomplete,\n"
		"its age, its size in bytes and the number of stages that wrote a\n"
		"snapshot of it.\n"
		"  -v, --verbose            add a line per snapshot (its stage key and identity)\n"
		"                           and per stage that declined it\n"
		"      --json               one JSON object per checkpoint instead\n"
		"\n"
		"prune: remove every complete checkpoint but the newest N, and every\n"
		"incomplete one older than the newest complete one.\n"
		"      --keep N             complete checkpoints to keep (default %d, at least 1)\n"
		"      --force              prune even while a stage of DIR is running\n"
		"  -v, --verbose            print each checkpoint removed\n"
		"\n"
		"  -h, --help               show this help and exit\n"
		"      --version            show the version and exit\n"
		"\n"
		"Exit status: 0 ok, 1 DIR missing, not a checkpoint directory, a stage\n"
		"running (prune) or an I/O error, 2 usage.\n"
		"See rtai-checkpoint(1) and rtai(7).\n",
		CKPT_KEEP);
	exit(status);
}

/* ---- list ---------------------------------------------------------------- */

/* An age in whole units: "42s", "3m07s", "2h03m", "4d05h". */
static void fmt_age(int64_t ns, char *b, size_t n)
{
	long long s = ns < 0 ? 0 : (long long)(ns / RTAI_NS_PER_SEC);

	if (s < 60)
		snprintf(b, n, "%llds", s);
	else if (s < 3600)
		snprintf(b, n, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(b, n, "%lldh%02lldm", s / 3600, s / 60 % 60);
	else
		snprintf(b, n, "%lldd%02lldh", s / 86400, s / 3600 % 24);
}

static void put_json(struct buf *b, const struct ckpt_info *ci, int64_t now)
{
	char t[RTAI_TIME_BUFSZ];

	buf_printf(b, "{\"id\":%lld,\"complete\":%s,\"time\":\"", (long long)ci->id,
		   ci->complete ? "true" : "false");
	buf_append(b, t, rtime_fmt_time(ci->mtime_ns, t));
	buf_puts(b, "\",\"age_s\":");
	json_put_double(b, (double)(now - ci->mtime_ns) / 1e9);
	buf_printf(b, ",\"bytes\":%llu,\"snapshots\":%zu,\"stages\":[",
		   (unsigned long long)ci->bytes, ci->nsnaps);
	for (size_t k = 0; k < ci->nsnaps; k++) {
		const struct ckpt_snap_info *s = &ci->snaps[k];

		buf_puts(b, k ? ",{\"key\":" : "{\"key\":");
		json_put_str(b, s->key, strlen(s->key));
		buf_puts(b, ",\"identity\":");
		if (s->identity == NULL)
			buf_puts(b, "null");
		else
			json_put_str(b, s->identity, strlen(s->identity));
		buf_putc(b, '}');
	}
	buf_puts(b, "],\"declined\":[");
	for (size_t k = 0; k < ci->ndeclined; k++) {
		if (k > 0)
			buf_putc(b, ',');
		json_put_str(b, ci->declined[k], strlen(ci->declined[k]));
	}
	buf_puts(b, "]}\n");
}

static int do_list(const char *dir)
{
	struct ckpt_info *v;
	struct buf b = { 0 };
	char err[1024], age[32];
	int64_t now = cli_now_ns();
	size_t n;

	if (ckpt_list(dir, &v, &n, err, sizeof(err)) < 0) {
		cli_warn("%s", err);
		return RTAI_EXIT_FAIL;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ckpt_info *ci = &v[i];

		if (opt.json) {
			put_json(&b, ci, now);
			continue;
		}
		fmt_age(now - ci->mtime_ns, age, sizeof(age));
		buf_printf(&b, "%lld\t%s\t%s\t%llu\t%zu\n", (long long)ci->id,
			   ci->complete ? "complete" : ci->ndeclined > 0 ? "declined" : "incomplete",
			   age, (unsigned long long)ci->bytes, ci->nsnaps);
		for (size_t k = 0; opt.verbose && k < ci->nsnaps; k++)
			buf_printf(&b, "  stage %s %s\n", ci->snaps[k].key,
				   ci->snaps[k].identity != NULL ? ci->snaps[k].identity
								 : "(unreadable header)");
		for (size_t k = 0; opt.verbose && k < ci->ndeclined; k++)
			buf_printf(&b, "  declined by %s\n", ci->declined[k]);
	}
	if (b.len > 0)
		fwrite(b.p, 1, b.len, stdout);
	buf_free(&b);
	ckpt_list_free(v, n);
	return RTAI_EXIT_OK;
}

/* ---- prune --------------------------------------------------------------- */

static int do_prune(const char *dir)
{
	int64_t *gone;
	char err[1024];
	int n = ckpt_prune(dir, (int)opt.keep, opt.force, &gone, err, sizeof(err));

	if (n == -2) {
		cli_warn("%s: stop the pipeline first, or prune anyway with --force", err);
		return RTAI_EXIT_FAIL;
	}
	if (n < 0) {
		cli_warn("%s", err);
		return RTAI_EXIT_FAIL;
	}
	for (int i = 0; opt.verbose && i < n; i++)
		printf("removed %s/ckpt-%lld\n", dir, (long long)gone[i]);
	free(gone);
	return RTAI_EXIT_OK;
}

/* ---- main ------------------------------------------------------------- */

int main(int argc, char **argv)
{
	const char *cmd;
	int c, status;

	cli_init("rtai-checkpoint", argv);
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'v': opt.verbose = 1; break;
		case OPT_JSON: opt.json = 1; break;
		case OPT_KEEP:
			opt.keep = cli_opt_int("--keep", optarg, 1, 1000000000);
			opt.keep_set = 1;
			break;
		case OPT_FORCE: opt.force = 1; break;
		case 'h': usage(RTAI_EXIT_OK); break;
		case OPT_VERSION: cli_version(); break;
		default: cli_usage_hint();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		cli_usage_error("give a command: list DIR or prune DIR");
	cmd = argv[0];
	if (strcmp(cmd, "list") != 0 && strcmp(cmd, "prune") != 0)
		cli_usage_error("'%s': unknown command (expected list or prune)", cmd);
	if (argc < 2)
		cli_usage_error("%s: give the checkpoint directory DIR", cmd);
	if (argc > 2)
		cli_usage_error("%s: one DIR only (got %d)", cmd, argc - 1);
	if (strcmp(cmd, "list") == 0 && (opt.keep_set || opt.force))
		cli_usage_error("--keep and --force apply to prune");
	if (strcmp(cmd, "prune") == 0 && opt.json)
		cli_usage_error("--json applies to list");

	status = strcmp(cmd, "list") == 0 ? do_list(argv[1]) : do_prune(argv[1]);
	/* A closed pipe (| head) ends the listing quietly. */
	if ((fflush(stdout) == EOF || ferror(stdout)) && errno != EPIPE) {
		cli_warnx_errno("stdout");
		status = RTAI_EXIT_FAIL;
	}
	return status;
}
