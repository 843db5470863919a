/* rtai-gen - synthetic event streams for the classic real-time AI cases.
 *
 * Writes JSON Lines on stdout: a clickstream, card transactions or IoT
 * sensor readings, with a chosen key space and skew, pace, event-time
 * disorder, late records and malformed lines; or the account profiles that
 * the transactions' fraud labels (--labels) depend on. The output is a
 * function of the options alone (a fixed PRNG and a synthetic clock),
 * unless the clock is the wall clock (--start now).
 */
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "frame.h"
#include "rtime.h"
#include "sig.h"

/* ---- options ---------------------------------------------------------- */

enum kind { KIND_CLICKS, KIND_TRANSACTIONS, KIND_SENSORS, KIND_ACCOUNTS };

#define NS_PER_MS INT64_C(1000000)
#define MAX_KEYS 1000000000LL		/* key ids fit any int */
#define MAX_ZIPF_KEYS 100000000LL	/* the CDF table: 8 bytes a key */
#define MAX_LABEL_KEYS 10000000LL	/* --labels: 16 bytes a key */

static struct {
	enum kind kind;			/* KIND argument */
	long long count;		/* -n: records, -1 = no limit */
	int64_t duration;		/* --duration: clock span, ns; -1 = none */
	double rate;			/* --rate: records per second, 0 = unpaced */
	long long keys;			/* --keys: size of the key space */
	double zipf;			/* --zipf: skew exponent, 0 = uniform */
	int64_t disorder;		/* --disorder: max lag of event times, ns */
	double late;			/* --late: fraction of late records */
	int64_t late_by;		/* --late-by: how far behind they are, ns */
	double bad;			/* --bad: fraction of malformed lines */
	uint64_t seed;			/* --seed */
	int live;			/* --start now: the wall clock */
	int64_t start;			/* --start TIME: synthetic clock origin, ns */
	int64_t step;			/* --step: synthetic clock tick, ns; 0 = default */
	const char *labels;		/* --labels FILE: tx ids, fraud labels there */
	double noise;			/* --label-noise: fraction of labels flipped */
} opt = {
	.count = -1,
	.duration = -1,
	.keys = 1000,
	.late_by = 3600 * RTAI_NS_PER_SEC,
	.seed = 1,
	.start = INT64_C(1795514400) * RTAI_NS_PER_SEC,	/* 2026-11-24T10:00:00Z */
	.noise = 0.02,
};

enum {
	OPT_DISORDER = 256, OPT_LATE, OPT_LATE_BY, OPT_BAD, OPT_START, OPT_STEP,
	OPT_VERSION, OPT_LABELS, OPT_LABEL_NOISE,
};

static const struct option longopts[] = {
	{ "count", required_argument, NULL, 'n' },		/* records to write */
	{ "duration", required_argument, NULL, 'd' },		/* clock span to cover */
	{ "rate", required_argument, NULL, 'r' },		/* records per second */
	{ "keys", required_argument, NULL, 'k' },		/* key space size */
	{ "zipf", required_argument, NULL, 'z' },		/* key skew exponent */
	{ "disorder", required_argument, NULL, OPT_DISORDER },	/* out-of-order bound */
	{ "late", required_argument, NULL, OPT_LATE },		/* fraction of late records */
	{ "late-by", required_argument, NULL, OPT_LATE_BY },	/* how late they are */
	{ "bad", required_argument, NULL, OPT_BAD },		/* fraction of bad lines */
	{ "seed", required_argument, NULL, 's' },		/* PRNG seed */
	{ "start", required_argument, NULL, OPT_START },	/* clock origin or now */
	{ "step", required_argument, NULL, OPT_STEP },		/* synthetic clock tick */
	{ "labels", required_argument, NULL, OPT_LABELS },	/* fraud labels file */
	{ "label-noise", required_argument, NULL, OPT_LABEL_NOISE },	/* labels flipped */
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void usage(int status)
{
	FILE *fp = status == 0 ? stdout : stderr;

	fputs("Usage: rtai-gen [OPTION]... KIND\n"
	      "Write a synthetic event stream as JSON Lines on standard output.\n"
	      "KIND is one of:\n"
	      "  clicks        user_id, item_id, action, amount, event_time\n"
	      "  transactions  account_id, amount, merchant, country, event_time\n"
	      "  sensors       device_id, temperature, humidity, status, event_time\n"
	      "  accounts      the profiles of the transactions' accounts, two versions\n"
	      "                each: account_id, home_country, credit_limit, new_account,\n"
	      "                event_time (when the version starts)\n"
	      "\n"
	      "How much, how fast:\n"
	      "  -n, --count N            write N records (default: no limit, until the\n"
	      "                           reader goes away)\n"
	      "  -d, --duration DUR       stop once the clock has advanced by DUR\n"
	      "  -r, --rate N             N records per second of wall time (default: as\n"
	      "                           fast as possible)\n"
	      "\n"
	      "Keys and time:\n"
	      "  -k, --keys N             N distinct keys (default 1000)\n"
	      "  -z, --zipf S             Zipf-skewed keys with exponent S (default 0:\n"
	      "                           uniform); key 1 is the most frequent\n"
	      "      --start TIME|now     synthetic clock origin (ISO 8601 or epoch; default\n"
	      "                           2026-11-24T10:00:00Z), or now for the wall clock\n"
	      "      --step DUR           synthetic clock tick per record (default 1/rate\n"
	      "                           with --rate, else 1ms)\n"
	      "      --disorder DUR       event times lag the clock by up to DUR (whole ms)\n"
	      "      --late FRACTION      this fraction of records is late ...\n"
	      "      --late-by DUR        ... by DUR more than the others (default 1h)\n"
	      "      --bad FRACTION       this fraction of lines is malformed\n"
	      "\n"
	      "Fraud labels (transactions):\n"
	      "      --labels FILE        give each transaction a tx_id, and write its fraud\n"
	      "                           label to FILE: {\"tx_id\":...,\"fraud\":0 or 1}, by\n"
	      "                           the rule in rtai-gen(1) (accounts: the profiles)\n"
	      "      --label-noise FRACTION  flip this fraction of labels (default 0.02)\n"
	      "  -s, --seed N             PRNG seed (default 1): same options, same bytes\n"
	      "\n"
	      "Other:\n"
	      "  -h, --help               show this help and exit\n"
	      "      --version            show the version and exit\n"
	      "\n"
	      "Examples:\n"
	      "  rtai-gen clicks -n 1000000 >clicks.jsonl\n"
	      "  rtai-gen clicks --rate 10000 --start now | rtai-cat | rtai-parse ...\n"
	      "  rtai-gen transactions -n 1000 --disorder 5s --late 0.01 --bad 0.001\n"
	      "  rtai-gen transactions -n 1000 --labels labels.jsonl; rtai-gen accounts\n"
	      "\n"
	      "See rtai-gen(1) and rtai(7).\n", fp);
	exit(status);
}

/* ---- the PRNG: xoshiro256**, seeded by splitmix64 ----------------------- */

/* Two independent generators: one for the records, one for the faults
 * (--late, --bad), so that asking for faults leaves every other record as
 * it was. */
struct prng {
	uint64_t s[4];
};
static struct prng rng, fault_rng, label_rng;

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void prng_seed(struct prng *g, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		g->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t next64(struct prng *g)
{
	uint64_t *s = g->s, r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

/* Uniform in [0, 1). */
static inline double uniform_g(struct prng *g)
{
	return (double)(next64(g) >> 11) * 0x1p-53;
}

/* Uniform in [0, n) (Lemire's multiply; the bias is below 2^-32 here). */
static inline uint64_t below_g(struct prng *g, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)next64(g) * n) >> 64);
}

static inline double uniform(void) { return uniform_g(&rng); }
static inline uint64_t below(uint64_t n) { return below_g(&rng, n); }

/* ---- keys ---------------------------------------------------------------- */

static double *zipf_cdf;		/* cumulative weights, NULL if uniform */

/* P(key k) proportional to 1/k^s for k = 1..n; the table is built once so
 * each draw is a binary search and allocates nothing. */
static void zipf_init(long long n, double s)
{
	double sum = 0;

	zipf_cdf = xmalloc((size_t)n * sizeof(*zipf_cdf));
	for (long long k = 0; k < n; k++) {
		sum += pow((double)(k + 1), -s);
		zipf_cdf[k] = sum;
	}
}

/* A key id in [1, keys]. */
static long long draw_key(void)
{
	double u;
	long long lo = 0, hi = opt.keys - 1;

	if (zipf_cdf == NULL)
		return 1 + (long long)below((uint64_t)opt.keys);
	u = uniform() * zipf_cdf[opt.keys - 1];
	while (lo < hi) {		/* first k with cdf[k] > u */
		long long mid = lo + (hi - lo) / 2;

		if (zipf_cdf[mid] > u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo + 1;
}

/* ---- formatting ------------------------------------------------------------ */

static struct buf line;			/* the record being built */
static struct buf label;		/* --labels: its label line */

static void put(const char *s)
{
	buf_puts(&line, s);
}

static void put_uint(uint64_t v)
{
	char d[24];
	int n = 0;

	do
		d[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0)
		buf_putc(&line, (uint8_t)d[--n]);
}

/* v / 10^decimals with exactly that many decimals: 1234, 2 -> "12.34". */
static void put_fixed(int64_t v, int decimals)
{
	uint64_t a, scale = 1;

	for (int i = 0; i < decimals; i++)
		scale *= 10;
	if (v < 0)
		buf_putc(&line, '-');
	a = v < 0 ? -(uint64_t)v : (uint64_t)v;
	put_uint(a / scale);
	buf_putc(&line, '.');
	for (uint64_t f = a % scale, s = scale / 10; s > 0; s /= 10)
		buf_putc(&line, (uint8_t)('0' + f / s % 10));
}

/* A time in ms as "2026-11-24T10:00:00.123Z"; the part up to the seconds
 * is formatted once per second. */
static void put_time_ms(int64_t ms)
{
	static int64_t cached_sec = INT64_MIN;
	static char prefix[RTAI_TIME_BUFSZ];
	static size_t plen;
	int64_t sec = rtime_floordiv(ms, 1000), frac = ms - sec * 1000;

	if (sec != cached_sec) {
		plen = rtime_fmt_time(sec * RTAI_NS_PER_SEC, prefix);
		plen -= 5;		/* drop ".000Z" */
		cached_sec = sec;
	}
	buf_append(&line, prefix, plen);
	buf_putc(&line, '.');
	buf_putc(&line, (uint8_t)('0' + frac / 100));
	buf_putc(&line, (uint8_t)('0' + frac / 10 % 10));
	buf_putc(&line, (uint8_t)('0' + frac % 10));
	buf_putc(&line, 'Z');
}

/* ---- records ---------------------------------------------------------------- */

/* Malformed lines, one of these chosen uniformly: */
enum bad {
	BAD_NONE,
	BAD_TRUNCATED,		/* the line cut in the middle: not JSON */
	BAD_TYPE,		/* the number field (amount, temperature) as a string */
	BAD_MISSING,		/* no event_time field */
	BAD_TIME,		/* an event_time that is not a time */
};

/* Each kind writes the fields before event_time, with the same draws
 * whether the line is bad or not; put_num() quotes its number for BAD_TYPE. */

static void put_num(int64_t v, int decimals, enum bad bad)
{
	if (bad == BAD_TYPE)
		buf_putc(&line, '"');
	put_fixed(v, decimals);
	if (bad == BAD_TYPE)
		buf_putc(&line, '"');
}

static const char *const actions[] = { "view", "click", "buy" };

static void gen_click(enum bad bad)
{
	long long user = draw_key();
	uint64_t item = 1 + below(10000), a = below(100);
	int act = a < 70 ? 0 : a < 95 ? 1 : 2;
	int64_t cents = 100 + (int64_t)below(49901);	/* drawn always */

	put("{\"user_id\":\"u");
	put_uint((uint64_t)user);
	put("\",\"item_id\":\"i");
	put_uint(item);
	put("\",\"action\":\"");
	put(actions[act]);
	put("\",\"amount\":");
	put_num(act == 2 ? cents : 0, 2, bad);
}

static const struct { const char *code; unsigned weight; } countries[] = {
	{ "US", 40 }, { "GB", 10 }, { "DE", 10 }, { "FR", 8 }, { "IN", 8 },
	{ "BR", 6 }, { "JP", 6 }, { "CA", 5 }, { "NG", 4 }, { "AU", 3 },
};

/* Draws a country by weight from c in [0, 100). */
static const char *country(uint64_t c)
{
	size_t i = 0;

	while (c >= countries[i].weight) {
		c -= countries[i].weight;
		i++;
	}
	return countries[i].code;
}

static uint64_t ntx;			/* transactions so far: tx_id */
static long long tx_acct;		/* the last transaction's account */
static int64_t tx_cents;		/* and amount */

static void gen_transaction(enum bad bad)
{
	long long acct = draw_key();
	double u = uniform();
	int64_t cents = 100 + (int64_t)(u * u * u * 200000);	/* mostly small */
	uint64_t merchant = 1 + below(5000), c = below(100);

	tx_acct = acct;
	tx_cents = cents;
	ntx++;
	if (opt.labels != NULL) {
		put("{\"tx_id\":\"tx");
		put_uint(ntx);
		put("\",\"account_id\":\"acct");
	} else {
		put("{\"account_id\":\"acct");
	}
	put_uint((uint64_t)acct);
	put("\",\"amount\":");
	put_num(cents, 2, bad);
	put(",\"merchant\":\"m");
	put_uint(merchant);
	put("\",\"country\":\"");
	put(country(c));
	buf_putc(&line, '"');
}

/* ---- accounts and fraud labels ------------------------------------------------ */

#define DAY_MS INT64_C(86400000)
#define NEW_FOR_MS (90 * DAY_MS)	/* an account is new for 90 days */
#define BURST_MS INT64_C(600000)	/* three transactions in 10 minutes */

/* The profile of account k, a function of k, --seed and --start alone, so
 * that the accounts and the transactions' labels agree. */
struct account {
	int64_t opened_ms;		/* in the 365 days before --start */
	int64_t limit;			/* credit limit, whole units */
	const char *home;		/* home country */
};

static struct account account(long long k)
{
	static const int64_t limits[] = { 500, 1000, 2000, 5000, 10000 };
	uint64_t h = (uint64_t)k ^ (opt.seed * UINT64_C(0x9e3779b97f4a7c15)), a, b, c;
	int64_t start_ms = rtime_floordiv(opt.start, NS_PER_MS);

	a = splitmix64(&h);
	b = splitmix64(&h);
	c = splitmix64(&h);
	return (struct account){
		.opened_ms = start_ms - 1000 - (int64_t)(a % (365 * 86400)) * 1000,
		.limit = limits[b % 5],
		.home = country(c % 100),
	};
}

static int64_t *recent;			/* per account: its last two event times, ms */

/* The fraud rule of rtai-gen(1): the amount is more than half the credit
 * limit, and the account is new or this is its third transaction within
 * 10 minutes; then --label-noise flips it. */
static int fraud_label(long long acct, int64_t cents, int64_t ms)
{
	struct account a = account(acct);
	int64_t *r = &recent[2 * (acct - 1)];
	int burst = r[0] > ms - BURST_MS && r[0] <= ms && r[1] > ms - BURST_MS && r[1] <= ms;
	int fraud = cents * 2 > a.limit * 100 && (ms - a.opened_ms < NEW_FOR_MS || burst);

	r[0] = r[1];
	r[1] = ms;
	if (opt.noise > 0 && uniform_g(&label_rng) < opt.noise)
		fraud = !fraud;
	return fraud;
}

/* Account k's two profile versions, as the account was opened and once
 * it is no longer new: into line. */
static void gen_account(long long k, int version)
{
	struct account a = account(k);

	buf_reset(&line);
	put("{\"account_id\":\"acct");
	put_uint((uint64_t)k);
	put("\",\"home_country\":\"");
	put(a.home);
	put("\",\"credit_limit\":");
	put_uint((uint64_t)a.limit);
	put(version == 0 ? ",\"new_account\":true" : ",\"new_account\":false");
	put(",\"event_time\":\"");
	put_time_ms(a.opened_ms + (version == 0 ? 0 : NEW_FOR_MS));
	put("\"}\n");
}

static void gen_sensor(enum bad bad)
{
	long long dev = draw_key();
	uint64_t h = (uint64_t)dev;
	int64_t base = 150 + (int64_t)(splitmix64(&h) % 150);	/* 15.0 .. 29.9 C */
	int64_t temp = base - 20 + (int64_t)below(41);		/* +-2.0 C */
	int64_t hum = 300 + (int64_t)below(401);		/* 30.0 .. 70.0 % */
	uint64_t s = below(1000);

	put("{\"device_id\":\"dev");
	put_uint((uint64_t)dev);
	put("\",\"temperature\":");
	put_num(temp, 1, bad);
	put(",\"humidity\":");
	put_fixed(hum, 1);
	put(",\"status\":\"");
	put(s < 970 ? "ok" : s < 995 ? "warn" : "error");
	buf_putc(&line, '"');
}

/* One line for the clock time now_ns, into line. */
static void gen_record(int64_t now_ns)
{
	int64_t ms = rtime_floordiv(now_ns, NS_PER_MS);
	int64_t disorder_ms = opt.disorder / NS_PER_MS;
	int late = opt.late > 0 && uniform_g(&fault_rng) < opt.late;
	enum bad bad = BAD_NONE;

	if (opt.bad > 0 && uniform_g(&fault_rng) < opt.bad)
		bad = (enum bad)(1 + below_g(&fault_rng, 4));
	if (disorder_ms > 0)
		ms -= (int64_t)below((uint64_t)disorder_ms);
	if (late)
		ms -= opt.late_by / NS_PER_MS;

	buf_reset(&line);
	switch (opt.kind) {
	case KIND_CLICKS: gen_click(bad); break;
	case KIND_TRANSACTIONS: gen_transaction(bad); break;
	case KIND_SENSORS: gen_sensor(bad); break;
	case KIND_ACCOUNTS: break;
	}
	if (bad == BAD_TIME) {
		put(",\"event_time\":\"");
		put_uint(1 + below_g(&fault_rng, 28));	/* day/month/year order */
		put("/11/2026 25:61:00\"");
	} else if (bad != BAD_MISSING) {
		put(",\"event_time\":\"");
		put_time_ms(ms);
		buf_putc(&line, '"');
	}
	buf_putc(&line, '}');
	if (bad == BAD_TRUNCATED)
		line.len /= 2;
	buf_putc(&line, '\n');
	if (opt.kind == KIND_TRANSACTIONS && opt.labels != NULL) {
		buf_reset(&label);
		buf_puts(&label, "{\"tx_id\":\"tx");
		buf_printf(&label, "%llu\",\"fraud\":%d}\n", (unsigned long long)ntx,
			   fraud_label(tx_acct, tx_cents, ms));
	}
}

/* ---- main ------------------------------------------------------------------- */

static enum kind parse_kind(const char *s)
{
	if (strcmp(s, "clicks") == 0)
		return KIND_CLICKS;
	if (strcmp(s, "transactions") == 0)
		return KIND_TRANSACTIONS;
	if (strcmp(s, "sensors") == 0)
		return KIND_SENSORS;
	if (strcmp(s, "accounts") == 0)
		return KIND_ACCOUNTS;
	cli_usage_error("'%s': unknown kind (expected clicks, transactions, sensors or accounts)",
			 s);
}

static void parse_start(const char *s)
{
	const char *why;

	if (strcmp(s, "now") == 0) {
		opt.live = 1;
		return;
	}
	if (rtime_parse_time(s, strlen(s), RTAI_TU_AUTO, &opt.start, &why) < 0)
		cli_usage_error("--start: '%s': %s (expected now, ISO 8601 or an epoch number)",
				 s, why);
}

int main(int argc, char **argv)
{
	struct frame_wr out, lab;
	int64_t t0_mono = 0, t0_clock, clock;
	int c, step_set = 0, noise_set = 0, other_set = 0;

	cli_init("rtai-gen", argv);
	while ((c = getopt_long(argc, argv, "n:d:r:k:z:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': opt.count = cli_opt_int("--count", optarg, 0, INT64_MAX); break;
		case 'd': opt.duration = cli_opt_duration("--duration", optarg); break;
		case 'r': opt.rate = cli_opt_double("--rate", optarg, 1e-3, 1e9); break;
		case 'k': opt.keys = cli_opt_int("--keys", optarg, 1, MAX_KEYS); break;
		case 'z': opt.zipf = cli_opt_double("--zipf", optarg, 0, 100); other_set = 1; break;
		case OPT_DISORDER:
			opt.disorder = cli_opt_duration("--disorder", optarg);
			other_set = 1;
			break;
		case OPT_LATE: opt.late = cli_opt_double("--late", optarg, 0, 1); other_set = 1; break;
		case OPT_LATE_BY:
			opt.late_by = cli_opt_duration("--late-by", optarg);
			other_set = 1;
			break;
		case OPT_BAD: opt.bad = cli_opt_double("--bad", optarg, 0, 1); other_set = 1; break;
		case OPT_LABELS:
			if (*optarg == '\0')
				cli_usage_error("--labels: give a file name");
			opt.labels = optarg;
			break;
		case OPT_LABEL_NOISE:
			opt.noise = cli_opt_double("--label-noise", optarg, 0, 1);
			noise_set = 1;
			break;
		case 's': opt.seed = (uint64_t)cli_opt_int("--seed", optarg, 0, INT64_MAX); break;
		case OPT_START: parse_start(optarg); break;
		case OPT_STEP:
			opt.step = cli_opt_duration("--step", optarg);
			step_set = 1;
			break;
		case 'h': usage(RTAI_EXIT_OK); break;
		case OPT_VERSION: cli_version(); break;
		default: cli_usage_hint();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		cli_usage_error(argc == 0 ? "missing KIND (clicks, transactions, sensors or accounts)"
					   : "too many arguments: one KIND only");
	opt.kind = parse_kind(argv[0]);
	if (step_set && opt.live)
		cli_usage_error("--step needs a synthetic clock, not --start now");
	if (step_set && opt.step <= 0)
		cli_usage_error("--step: must be positive");
	if (opt.kind == KIND_ACCOUNTS && (other_set || opt.rate > 0 || opt.duration >= 0 ||
					 step_set || opt.labels != NULL || noise_set))
		cli_usage_error("accounts: only -n, --keys, --seed and --start apply (a profile per "
				 "key, from the seed and the start)");
	if (opt.labels != NULL && opt.kind != KIND_TRANSACTIONS)
		cli_usage_error("--labels applies to transactions");
	if (noise_set && opt.labels == NULL)
		cli_usage_error("--label-noise applies to --labels");
	if (opt.labels != NULL && opt.keys > MAX_LABEL_KEYS)
		cli_usage_error("--labels: at most %lld keys (--keys %lld)", MAX_LABEL_KEYS, opt.keys);
	if (opt.zipf > 0 && opt.keys > MAX_ZIPF_KEYS)
		cli_usage_error("--zipf: at most %lld keys (--keys %lld)", MAX_ZIPF_KEYS, opt.keys);
	if (!step_set)
		opt.step = NS_PER_MS;

	prng_seed(&rng, opt.seed);
	prng_seed(&fault_rng, opt.seed ^ UINT64_C(0x5eedfa17));
	prng_seed(&label_rng, opt.seed ^ UINT64_C(0x1abe15));
	if (opt.zipf > 0)
		zipf_init(opt.keys, opt.zipf);

	sig_catch_stop();
	sig_set_source(1);	/* it makes its records: nothing upstream */
	wr_open_fd(&out, 1, "stdout", 1);
	t0_mono = cli_mono_ns();
	t0_clock = opt.live ? cli_now_ns() : opt.start;
	if (opt.live)
		opt.start = t0_clock;		/* accounts open before it */
	if (opt.kind == KIND_ACCOUNTS) {
		for (long long i = 0; i < 2 * opt.keys && (opt.count < 0 || i < opt.count) &&
				      !sig_stop; i++) {
			gen_account(1 + i / 2, (int)(i % 2));
			wr_bytes(&out, line.p, line.len);
		}
		goto done;
	}
	if (opt.labels != NULL) {
		size_t n = strlen(opt.labels);

		wr_open_path(&lab, opt.labels, n > 4 && strcmp(opt.labels + n - 4, ".zst") == 0, 1);
		recent = xcalloc(2 * (size_t)opt.keys, sizeof(*recent));
		for (long long i = 0; i < 2 * opt.keys; i++)
			recent[i] = INT64_MIN;
	}
	for (long long i = 0; (opt.count < 0 || i < opt.count) && !sig_stop; i++) {
		if (opt.rate > 0) {
			int64_t due = t0_mono + (int64_t)((double)i * 1e9 / opt.rate);

			if (due > cli_mono_ns()) {
				wr_flush(&out);		/* each record leaves on time */
				cli_sleep_until_mono(due);
				if (sig_stop)
					break;
			}
		}
		if (opt.live)
			clock = cli_now_ns();
		else if (opt.rate > 0 && !step_set)
			clock = opt.start + (int64_t)((double)i * 1e9 / opt.rate);
		else
			clock = opt.start + (int64_t)i * opt.step;
		if (opt.duration >= 0 && clock - t0_clock >= opt.duration)
			break;
		gen_record(clock);
		wr_bytes(&out, line.p, line.len);
		if (opt.labels != NULL)
			wr_bytes(&lab, label.p, label.len);
	}
	if (opt.labels != NULL)
		wr_close(&lab);
done:
	wr_close(&out);
	buf_free(&line);
	buf_free(&label);
	free(recent);
	free(zipf_cdf);
	return RTAI_EXIT_OK;
}
