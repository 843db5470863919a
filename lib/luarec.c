/* luarec.c - rtai records in Lua (see luarec.h). */
#include "config.h"

#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "cli.h"
#include "luarec.h"
#include "rtime.h"

#define LR_TCDATA 10		/* lua_type() of LuaJIT's cdata (lj_obj.h) */
#define LR_MAX_PARAMS 100	/* fields passed as arguments; more are looked up */
#define TWO53 9007199254740992.0

struct lr_expr {
	char *text;		/* as given */
	int ref;		/* the compiled function, in the registry */
	char **params;		/* field names it reads as globals */
	size_t *plen;
	uint32_t *hint;		/* per param: where it was found last */
	size_t np;
	uint64_t reads, found;	/* field reads; those that found a field */
	char *missing;		/* the first name read and not found */
};

struct lr {
	lua_State *L;
	int env;		/* the expressions' environment (sandbox) */
	int proxy;		/* r: a view of the current record */
	int box;		/* function(hi, lo) -> int64 cdata */
	int tostr;		/* tostring */
	int script;		/* the script's function, or LUA_NOREF */
	struct lr_expr *x;
	size_t nx;
	struct lr_expr *running;	/* the expression running, or NULL */
	struct lr_rec *cur;	/* the record of the run */
	struct lr_rec **pool;	/* records made from a script's tables */
	size_t npool;
	struct lr_rec **outs;	/* the records a script returned */
	size_t nouts;
	struct lr_rec *outs_one;
	char zone[128];		/* the TZ set last, "" for none */
	char err[1024];
};

/* ---- records --------------------------------------------------------- */

void lr_rec_frame(struct lr_rec *r, const struct frame *f)
{
	r->f = f;
	r->decoded = 0;
	r->changed = 0;
	r->event_ns = f->event_ns;
}

int lr_rec_decode(struct lr_rec *r)
{
	if (r->decoded)
		return 0;
	if (rec_from_frame(&r->rec, r->f) < 0)
		return -1;
	r->decoded = 1;
	return 0;
}

void lr_rec_free(struct lr_rec *r)
{
	if (r != NULL)
		rec_free(&r->rec);
}

/* ---- helpers ------------------------------------------------------------- */

static struct lr *engine(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

static int fail(struct lr *lr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct lr *lr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(lr->err, sizeof(lr->err), fmt, ap);
	va_end(ap);
	return -1;
}

/* ns since the epoch as seconds, split so the fraction keeps its digits. */
static double ns_to_sec(int64_t ns)
{
	int64_t s = rtime_floordiv(ns, RTAI_NS_PER_SEC);

	return (double)s + (double)(ns - s * RTAI_NS_PER_SEC) / 1e9;
}

/* Seconds as ns, rounded to the microsecond. Returns 0 or -1 out of range. */
static int sec_to_ns(double s, int64_t *ns)
{
	double us;

	if (!isfinite(s) || fabs(s) > 9.2e9 * 1000)
		return -1;
	us = round(s * 1e6);
	*ns = (int64_t)us * 1000;
	return 0;
}

static void push_box(struct lr *lr, int64_t i)
{
	lua_State *L = lr->L;

	lua_rawgeti(L, LUA_REGISTRYINDEX, lr->box);
	lua_pushnumber(L, (double)(i >> 32));
	lua_pushnumber(L, (double)(uint32_t)i);
	lua_call(L, 2, 1);
}

static void push_val(struct lr *lr, const struct val *v)
{
	lua_State *L = lr->L;

	switch (v->type) {
	case RT_NULL: lua_pushnil(L); break;
	case RT_FALSE: lua_pushboolean(L, 0); break;
	case RT_TRUE: lua_pushboolean(L, 1); break;
	case RT_INT:
		if (v->i >= -(INT64_C(1) << 53) && v->i <= (INT64_C(1) << 53))
			lua_pushnumber(L, (double)v->i);
		else
			push_box(lr, v->i);
		break;
	case RT_FLOAT: lua_pushnumber(L, v->f); break;
	case RT_TIME: lua_pushnumber(L, ns_to_sec(v->i)); break;
	default: lua_pushlstring(L, v->s.p, v->s.n); break;	/* string, json, bytes */
	}
}

static int is_name(const char *name, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(name, lit, n) == 0;
}

/* Pushes the field name of the current record (nil when absent), counting
 * the read for the expression running. Returns -1 when the record cannot
 * be decoded (nothing pushed, lr->err set). */
static int push_field(struct lr *lr, const char *name, size_t n, uint32_t *hint)
{
	struct lr_rec *r = lr->cur;
	struct lr_expr *x = lr->running;
	struct rec_field *f = NULL;

	if (is_name(name, n, "_event_time") || is_name(name, n, "_ingest_time")) {
		int64_t t = name[1] == 'e' ? r->event_ns : r->f ? r->f->ingest_ns : RTAI_TIME_UNSET;

		if (t == RTAI_TIME_UNSET)
			lua_pushnil(lr->L);
		else
			lua_pushnumber(lr->L, ns_to_sec(t));
		if (x != NULL)
			x->reads++, x->found++;
		return 0;
	}
	if (lr_rec_decode(r) < 0)
		return fail(lr, "%s", r->rec.err);
	if (hint != NULL && *hint < r->rec.n && r->rec.f[*hint].nlen == n &&
	    memcmp(r->rec.f[*hint].name, name, n) == 0) {
		f = &r->rec.f[*hint];
	} else {
		f = rec_get(&r->rec, name, n);
		if (f != NULL && hint != NULL)
			*hint = (uint32_t)(f - r->rec.f);
	}
	if (x != NULL) {
		x->reads++;
		if (f != NULL)
			x->found++;
		else if (x->missing == NULL)
			x->missing = xstrndup(name, n);
	}
	if (f == NULL)
		lua_pushnil(lr->L);
	else
		push_val(lr, &f->v);
	return 0;
}

/* __index of the sandbox and of r: a field of the current record. */
static int l_index(lua_State *L)
{
	struct lr *lr = engine(L);
	const char *k;
	size_t n;

	if (lua_type(L, 2) != LUA_TSTRING || lr->cur == NULL)
		return 0;
	k = lua_tolstring(L, 2, &n);
	if (push_field(lr, k, n, NULL) < 0)
		return luaL_error(L, "%s", lr->err);
	return 1;
}

static int l_readonly(lua_State *L)
{
	return luaL_error(L, "cannot assign to '%s' in an expression (use -s, or --script)",
			  lua_tostring(L, 2) ? lua_tostring(L, 2) : "?");
}

/* ---- Lua values to rtai values ----------------------------------------- */

static int lua_null(lua_State *L, int idx)
{
	return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL;
}

/* An int64/uint64 cdata as an int64. Returns 0, or -1 for any other cdata
 * or a uint64 above INT64_MAX. */
static int cdata_int(struct lr *lr, int idx, int64_t *out)
{
	lua_State *L = lr->L;
	const char *s;
	char *end;
	long long v;

	lua_rawgeti(L, LUA_REGISTRYINDEX, lr->tostr);
	lua_pushvalue(L, idx < 0 ? idx - 1 : idx);
	lua_call(L, 1, 1);
	s = lua_tostring(L, -1);
	errno = 0;
	v = s ? strtoll(s, &end, 10) : 0;
	if (s == NULL || end == s || errno != 0 ||
	    (strcmp(end, "LL") != 0 && strcmp(end, "ULL") != 0)) {
		fail(lr, "%s is not an integer", s ? s : "a cdata value");
		lua_pop(L, 1);
		return -1;
	}
	lua_pop(L, 1);
	*out = v;
	return 0;
}

static const char *lua_kind(lua_State *L, int idx)
{
	return lua_type(L, idx) == LR_TCDATA ? "cdata" : lua_typename(L, lua_type(L, idx));
}

/* A number as an rtai value by the rules of lr_value() (old: the field's
 * type before, or -1). */
static int number_val(struct lr *lr, double d, int old, enum lr_want want,
		      struct val *out)
{
	int64_t ns;

	if (!isfinite(d))
		return fail(lr, "the result is not a finite number (%g)", d);
	if (want == LR_TIME || (want == LR_ANY && old == RT_TIME)) {
		if (sec_to_ns(d, &ns) < 0)
			return fail(lr, "%.17g seconds is out of the range of times", d);
		*out = val_time(ns);
		return 0;
	}
	if (want == LR_FLOAT || (want == LR_ANY && old == RT_FLOAT)) {
		*out = val_float(d);
		return 0;
	}
	if (want == LR_INT) {
		if (d != floor(d) || fabs(d) >= 9223372036854775808.0)
			return fail(lr, "expected an int, got %.17g", d);
		*out = val_int((int64_t)d);
		return 0;
	}
	if (d == floor(d) && fabs(d) <= TWO53)
		*out = val_int((int64_t)d);
	else
		*out = val_float(d);
	return 0;
}

/* Converts the Lua value at idx into *out, as lr_value() says; old is the
 * type the field had (-1: new). Strings are copied into rec's arena. */
static int to_val(struct lr *lr, int idx, int old, enum lr_want want,
		  struct rec *rec, struct val *out)
{
	lua_State *L = lr->L;
	int t = lua_type(L, idx);
	const char *s, *why;
	size_t n;
	int64_t i;
	double d;
	char *end;

	if (want == LR_BOOL) {
		*out = val_bool(lua_toboolean(L, idx) && !lua_null(L, idx));
		return 0;
	}
	if (t == LUA_TNIL || lua_null(L, idx)) {
		*out = val_null();
		return 0;
	}
	switch (t) {
	case LUA_TBOOLEAN:
		if (want == LR_STR) {
			*out = lua_toboolean(L, idx) ? val_str("true", 4) : val_str("false", 5);
			return 0;
		}
		if (want == LR_JSON) {
			*out = lua_toboolean(L, idx) ? val_str("true", 4) : val_str("false", 5);
			out->type = RT_JSON;
			return 0;
		}
		if (want != LR_ANY)
			break;
		*out = val_bool(lua_toboolean(L, idx));
		return 0;
	case LUA_TNUMBER:
		d = lua_tonumber(L, idx);
		if (want == LR_STR || want == LR_JSON) {
			struct buf b = { 0 };
			struct val v;

			if (number_val(lr, d, -1, LR_ANY, &v) < 0)
				return -1;
			val_to_json(&v, &b);
			*out = val_str(rec_strdup(rec, (const char *)b.p, b.len), b.len);
			buf_free(&b);
			if (want == LR_JSON)
				out->type = RT_JSON;
			return 0;
		}
		return number_val(lr, d, old, want, out);
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &n);
		if (want == LR_INT) {
			long long v;

			if (cli_parse_int(s, INT64_MIN, INT64_MAX, &v, &why) < 0 || strlen(s) != n)
				return fail(lr, "expected an int, got the string \"%.40s\"", s);
			*out = val_int(v);
			return 0;
		}
		if (want == LR_FLOAT) {
			errno = 0;
			d = strtod(s, &end);
			if (end == s || *end != '\0' || (size_t)(end - s) != n || !isfinite(d))
				return fail(lr, "expected a float, got the string \"%.40s\"", s);
			*out = val_float(d);
			return 0;
		}
		if (want == LR_TIME) {
			if (rtime_parse_time(s, n, RTAI_TU_AUTO, &i, &why) < 0)
				return fail(lr, "expected a time, got the string \"%.40s\": %s", s, why);
			*out = val_time(i);
			return 0;
		}
		if (want == LR_JSON || (want == LR_ANY && old == RT_JSON)) {
			if (rec_json_check(s, n, &why) < 0) {
				if (want == LR_JSON)
					return fail(lr, "expected JSON text: %s", why);
			} else {
				*out = val_str(rec_strdup(rec, s, n), n);
				out->type = RT_JSON;
				return 0;
			}
		}
		*out = val_str(rec_strdup(rec, s, n), n);
#ifdef RT_BYTES
		if (want == LR_ANY && old == RT_BYTES)
			out->type = RT_BYTES;
#endif
		return 0;
	case LR_TCDATA:
		if (cdata_int(lr, idx, &i) < 0)
			return -1;
		if (want == LR_ANY || want == LR_INT) {
			*out = val_int(i);
			return 0;
		}
		if (want == LR_FLOAT) {
			*out = val_float((double)i);
			return 0;
		}
		if (want == LR_STR || want == LR_JSON) {
			char num[32];

			n = (size_t)snprintf(num, sizeof(num), "%lld", (long long)i);
			*out = val_str(rec_strdup(rec, num, n), n);
			if (want == LR_JSON)
				out->type = RT_JSON;
			return 0;
		}
		return number_val(lr, (double)i, old, want, out);
	case LUA_TTABLE:
		return fail(lr, "a table cannot be a field's value (a list of records is for --script)");
	default:
		break;
	}
	return fail(lr, "expected %s, got %s",
		    want == LR_ANY ? "a value for a field" : rt_type_name(want), lua_kind(L, idx));
}

/* ---- r, the record in scripts ------------------------------------------- */

/* r.NAME = v: sets (or with nil removes) a field of the current record. */
static int l_newindex(lua_State *L)
{
	struct lr *lr = engine(L);
	struct lr_rec *r = lr->cur;
	struct rec_field *f;
	struct val v;
	const char *k;
	size_t n;

	if (r == NULL)
		return luaL_error(L, "r: no record here (it is a view of the record being mapped)");
	if (lua_type(L, 2) != LUA_TSTRING)
		return luaL_error(L, "r: field names are strings, not %s", lua_kind(L, 2));
	k = lua_tolstring(L, 2, &n);
	if (n == 0 || n > 255)
		return luaL_error(L, "r: a field name has 1 to 255 bytes, not %d", (int)n);
	if (is_name(k, n, "_ingest_time"))
		return luaL_error(L, "r._ingest_time cannot be set: it measures latency");
	if (is_name(k, n, "_event_time")) {
		if (lua_isnil(L, 3)) {
			r->event_ns = RTAI_TIME_UNSET;
			return 0;
		}
		if (to_val(lr, 3, RT_TIME, LR_TIME, &r->rec, &v) < 0)
			return luaL_error(L, "r._event_time: %s", lr->err);
		r->event_ns = v.i;
		return 0;
	}
	if (lr_rec_decode(r) < 0)
		return luaL_error(L, "%s", r->rec.err);
	f = rec_get(&r->rec, k, n);
	if (lua_isnil(L, 3)) {
		if (f != NULL) {
			rec_del(&r->rec, (uint32_t)(f - r->rec.f));
			r->changed = 1;
		}
		return 0;
	}
	if (to_val(lr, 3, f ? f->v.type : -1, LR_ANY, &r->rec, &v) < 0)
		return luaL_error(L, "r.%s: %s", k, lr->err);
	if (f != NULL) {
		f->v = v;
	} else {
		if (r->rec.n >= rec_max_fields)
			return luaL_error(L, "r.%s: the record would have more than %u fields", k,
					  rec_max_fields);
		rec_add(&r->rec, rec_strdup(&r->rec, k, n), n, v);
	}
	r->changed = 1;
	return 0;
}

/* fields(r): a new table of the current record's fields. */
static int l_fields(lua_State *L)
{
	struct lr *lr = engine(L);
	struct lr_rec *r = lr->cur;

	if (r == NULL)
		return luaL_error(L, "fields: no record here");
	if (lr_rec_decode(r) < 0)
		return luaL_error(L, "%s", r->rec.err);
	lua_createtable(L, 0, (int)r->rec.n);
	for (uint32_t i = 0; i < r->rec.n; i++) {
		lua_pushlstring(L, r->rec.f[i].name, r->rec.f[i].nlen);
		push_val(lr, &r->rec.f[i].v);
		lua_rawset(L, -3);
	}
	return 1;
}

/* ---- time helpers ------------------------------------------------------------ */

/* Switches TZ to zone (once per change of zone). Returns 0, or -1 for a
 * zone that is neither in the zoneinfo database nor a POSIX TZ rule. */
static int use_zone(struct lr *lr, const char *zone)
{
	const char *dir = getenv("TZDIR");
	char path[512];
	struct stat st;

	if (strcmp(lr->zone, zone) == 0)
		return 0;
	if (strlen(zone) >= sizeof(lr->zone) || strstr(zone, "..") != NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "/usr/share/zoneinfo",
		 zone[0] == ':' ? zone + 1 : zone);
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
		/* A POSIX rule names an offset: "EST5EDT", "UTC-3". */
		if (strpbrk(zone, "0123456789") == NULL)
			return -1;
	}
	if (setenv("TZ", zone, 1) < 0)
		return -1;
	tzset();
	snprintf(lr->zone, sizeof(lr->zone), "%s", zone);
	return 0;
}

static int is_utc(const char *z)
{
	return strcmp(z, "UTC") == 0 || strcmp(z, "Z") == 0 || strcmp(z, "Etc/UTC") == 0;
}

/* Argument arg as seconds since the epoch: a number, or a time string. */
static double arg_time(lua_State *L, int arg)
{
	const char *s, *why;
	size_t n;
	int64_t ns;

	if (lua_type(L, arg) == LUA_TNUMBER)
		return lua_tonumber(L, arg);
	if (lua_type(L, arg) == LUA_TSTRING) {
		s = lua_tolstring(L, arg, &n);
		if (rtime_parse_time(s, n, RTAI_TU_AUTO, &ns, &why) < 0)
			return luaL_error(L, "bad argument #%d: \"%s\": %s", arg, s, why);
		return ns_to_sec(ns);
	}
	return luaL_error(L, "bad argument #%d: a time (seconds or a string) expected, got %s",
			  arg, lua_kind(L, arg));
}

/* The broken-down time of argument 1, in the zone of argument zarg (UTC
 * when absent). */
static void arg_tm(lua_State *L, int zarg, struct tm *tm)
{
	struct lr *lr = engine(L);
	double s = arg_time(L, 1);
	time_t t;

	if (!isfinite(s) || fabs(s) > 1e15)
		luaL_error(L, "bad argument #1: %g seconds is not a time", s);
	t = (time_t)floor(s);
	if (lua_isnoneornil(L, zarg) || is_utc(luaL_checkstring(L, zarg))) {
		gmtime_r(&t, tm);
		return;
	}
	if (use_zone(lr, lua_tostring(L, zarg)) < 0)
		luaL_error(L, "unknown time zone \"%s\" (expected a name such as Europe/Paris, or UTC)",
			   lua_tostring(L, zarg));
	localtime_r(&t, tm);
}

/* hour(t [, zone]): 0 to 23. Fast in UTC: no calendar needed. */
static int l_hour(lua_State *L)
{
	struct tm tm;

	if (lua_isnoneornil(L, 2) && lua_type(L, 1) == LUA_TNUMBER) {
		double s = lua_tonumber(L, 1);

		if (isfinite(s) && fabs(s) < 1e15) {
			int64_t h = rtime_floordiv((int64_t)floor(s), 3600) % 24;

			lua_pushnumber(L, (double)(h < 0 ? h + 24 : h));
			return 1;
		}
	}
	arg_tm(L, 2, &tm);
	lua_pushnumber(L, tm.tm_hour);
	return 1;
}

static int l_minute(lua_State *L)
{
	struct tm tm;

	arg_tm(L, 2, &tm);
	lua_pushnumber(L, tm.tm_min);
	return 1;
}

/* dow(t [, zone]): ISO 8601, 1 for Monday to 7 for Sunday. */
static int l_dow(lua_State *L)
{
	struct tm tm;

	arg_tm(L, 2, &tm);
	lua_pushnumber(L, tm.tm_wday == 0 ? 7 : tm.tm_wday);
	return 1;
}

/* date(t [, zone]): "2026-11-24". */
static int l_date(lua_State *L)
{
	struct tm tm;
	char s[32];

	arg_tm(L, 2, &tm);
	lua_pushlstring(L, s, strftime(s, sizeof(s), "%Y-%m-%d", &tm));
	return 1;
}

/* parse_time(s): seconds since the epoch from ISO 8601 text or an epoch
 * number (its unit decided by magnitude, as rtai-parse does). */
static int l_parse_time(lua_State *L)
{
	const char *why;
	int64_t ns;

	if (lua_type(L, 1) == LUA_TNUMBER) {
		if (rtime_epoch_f64(lua_tonumber(L, 1), RTAI_TU_AUTO, &ns, &why) < 0)
			return luaL_error(L, "parse_time: %s", why);
		lua_pushnumber(L, ns_to_sec(ns));
		return 1;
	}
	lua_pushnumber(L, arg_time(L, 1));
	return 1;
}

/* format_time(t [, format [, zone]]): ISO 8601 UTC by default, else
 * strftime(3) in the zone. */
static int l_format_time(lua_State *L)
{
	char s[256];
	size_t n;

	if (lua_isnoneornil(L, 2) && lua_isnoneornil(L, 3)) {
		int64_t ns;

		if (sec_to_ns(arg_time(L, 1), &ns) < 0)
			return luaL_error(L, "bad argument #1: not a time");
		lua_pushlstring(L, s, rtime_fmt_time(ns, s));
		return 1;
	} else {
		struct tm tm;
		const char *fmt = lua_isnoneornil(L, 2) ? "%Y-%m-%dT%H:%M:%S%z" : luaL_checkstring(L, 2);

		arg_tm(L, 3, &tm);
		n = strftime(s, sizeof(s), fmt, &tm);
		if (n == 0 && fmt[0] != '\0')
			return luaL_error(L, "format_time: the result of \"%s\" is empty or too long", fmt);
		lua_pushlstring(L, s, n);
		return 1;
	}
}

/* ---- the state ------------------------------------------------------------- */

/* Runs once, with the whole standard library: the pieces the sandbox is
 * built from. GGET is found from a probe, not hard-coded: opcodes differ
 * between LuaJIT versions. */
static const char bootstrap[] =
	"local ffi = require('ffi')\n"
	"local jutil = require('jit.util')\n"
	"local band, rshift = bit.band, bit.rshift\n"
	"local i64 = ffi.typeof('int64_t')\n"
	"local GGET = band(jutil.funcbc(loadstring('return x'), 1), 0xff)\n"
	"local M = {}\n"
	"function M.box(hi, lo) return i64(hi) * 4294967296LL + lo end\n"
	"function M.globals(fn)\n"
	"  local names, seen = {}, {}\n"
	"  for pc = 1, 1e9 do\n"
	"    local ins = jutil.funcbc(fn, pc)\n"
	"    if not ins then break end\n"
	"    if band(ins, 0xff) == GGET then\n"
	"      local k = jutil.funck(fn, -rshift(ins, 16) - 1)\n"
	"      if type(k) == 'string' and not seen[k] then\n"
	"        seen[k] = true; names[#names + 1] = k\n"
	"      end\n"
	"    end\n"
	"  end\n"
	"  return names\n"
	"end\n"
	"function M.sandbox(helpers)\n"
	"  local E = {}\n"
	"  for _, k in ipairs({'assert', 'error', 'ipairs', 'next', 'pairs', 'pcall',\n"
	"      'select', 'tonumber', 'tostring', 'type', 'unpack', 'xpcall'}) do\n"
	"    E[k] = _G[k]\n"
	"  end\n"
	"  for _, lib in ipairs({'math', 'string', 'table', 'bit'}) do\n"
	"    local t = {}\n"
	"    for k, v in pairs(_G[lib]) do t[k] = v end\n"
	"    E[lib] = t\n"
	"  end\n"
	"  E.string.dump = nil\n"
	"  for k, v in pairs(helpers) do E[k] = v end\n"
	"  return E\n"
	"end\n"
	"return M\n";

static const luaL_Reg helpers[] = {
	{ "hour", l_hour },
	{ "minute", l_minute },
	{ "dow", l_dow },
	{ "date", l_date },
	{ "parse_time", l_parse_time },
	{ "format_time", l_format_time },
	{ "fields", l_fields },
	{ NULL, NULL },
};

static int panic(lua_State *L)
{
	cli_die(RTAI_EXIT_FAIL, "LuaJIT: %s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "panic");
}

/* Pushes a table of the helpers (closures over lr). */
static void push_helpers(struct lr *lr)
{
	lua_State *L = lr->L;

	lua_newtable(L);
	for (const luaL_Reg *h = helpers; h->name != NULL; h++) {
		lua_pushlightuserdata(L, lr);
		lua_pushcclosure(L, h->func, 1);
		lua_setfield(L, -2, h->name);
	}
	lua_pushlightuserdata(L, NULL);
	lua_setfield(L, -2, "null");
}

/* Pushes a metatable {__index = l_index, __newindex = ni}. */
static void push_meta(struct lr *lr, lua_CFunction ni)
{
	lua_State *L = lr->L;

	lua_newtable(L);
	lua_pushlightuserdata(L, lr);
	lua_pushcclosure(L, l_index, 1);
	lua_setfield(L, -2, "__index");
	lua_pushlightuserdata(L, lr);
	lua_pushcclosure(L, ni, 1);
	lua_setfield(L, -2, "__newindex");
}

struct lr *lr_new(void)
{
	struct lr *lr = xcalloc(1, sizeof(*lr));
	lua_State *L = luaL_newstate();

	if (L == NULL)
		cli_die(RTAI_EXIT_FAIL, "LuaJIT: cannot create a Lua state (out of memory?)");
	lr->L = L;
	lr->script = LUA_NOREF;
	lua_atpanic(L, panic);
	luaL_openlibs(L);
	if (luaL_loadbuffer(L, bootstrap, sizeof(bootstrap) - 1, "=rtai") != 0 ||
	    lua_pcall(L, 0, 1, 0) != 0)
		cli_die(RTAI_EXIT_FAIL, "LuaJIT: %s", lua_tostring(L, -1));
	/* stack: M */
	lua_getfield(L, -1, "box");
	lr->box = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_getglobal(L, "tostring");
	lr->tostr = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_setfield(L, LUA_REGISTRYINDEX, "rtai.M");

	/* r: an empty table whose metatable reads and writes the record. */
	lua_newtable(L);
	push_meta(lr, l_newindex);
	lua_setmetatable(L, -2);
	lr->proxy = luaL_ref(L, LUA_REGISTRYINDEX);

	/* The expressions' environment: the sandbox, r, and the fields. */
	lua_getfield(L, LUA_REGISTRYINDEX, "rtai.M");
	lua_getfield(L, -1, "sandbox");
	push_helpers(lr);
	lua_call(L, 1, 1);
	lua_rawgeti(L, LUA_REGISTRYINDEX, lr->proxy);
	lua_setfield(L, -2, "r");
	push_meta(lr, l_readonly);
	lua_setmetatable(L, -2);
	lr->env = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pop(L, 1);
	return lr;
}

void lr_free(struct lr *lr)
{
	if (lr == NULL)
		return;
	lua_close(lr->L);
	for (size_t i = 0; i < lr->nx; i++) {
		struct lr_expr *x = &lr->x[i];

		for (size_t j = 0; j < x->np; j++)
			free(x->params[j]);
		free(x->params);
		free(x->plen);
		free(x->hint);
		free(x->text);
		free(x->missing);
	}
	free(lr->x);
	for (size_t i = 0; i < lr->npool; i++) {
		lr_rec_free(lr->pool[i]);
		free(lr->pool[i]);
	}
	free(lr->pool);
	free(lr->outs);
	free(lr);
}

const char *lr_err(const struct lr *lr)
{
	return lr->err;
}

size_t lr_mem(const struct lr *lr)
{
	return (size_t)lua_gc(lr->L, LUA_GCCOUNT, 0) * 1024 +
	       (size_t)lua_gc(lr->L, LUA_GCCOUNTB, 0);
}

void lr_gc(struct lr *lr, int on)
{
	lua_gc(lr->L, on ? LUA_GCRESTART : LUA_GCSTOP, 0);
}

/* ---- compiling ---------------------------------------------------------------- */

/* Lua's message without the "expr:LINE: " prefix; *line gets LINE. */
static const char *strip_where(const char *msg, int *line)
{
	const char *p = strncmp(msg, "expr:", 5) == 0 ? msg + 5 : NULL;
	char *end;
	long l;

	*line = 0;
	if (p == NULL)
		return msg;
	l = strtol(p, &end, 10);
	if (end == p || strncmp(end, ": ", 2) != 0)
		return msg;
	*line = (int)l;
	return end + 2;
}

/* Compiles "return (" prefix ")" and returns Lua's status; the message,
 * if any, is left in lr->err. */
static int try_load(struct lr *lr, const char *head, const char *text, size_t n,
		    const char *tail)
{
	struct buf b = { 0 };
	int st;

	buf_puts(&b, head);
	buf_append(&b, text, n);
	buf_puts(&b, tail);
	st = luaL_loadbuffer(lr->L, (const char *)b.p, b.len, "=expr");
	buf_free(&b);
	if (st != 0)
		snprintf(lr->err, sizeof(lr->err), "%s", lua_tostring(lr->L, -1));
	return st;
}

/* A syntax error of text as "line L, column C: message". The column is
 * where the offending token ends in the shortest prefix of text that
 * fails the same way (Lua's parser reports lines only). */
static int syntax_error(struct lr *lr, const char *text)
{
	char full[sizeof(lr->err)], msg[sizeof(lr->err)];
	size_t n = strlen(text), at = 0;
	int line, nlines = 1;
	const char *m;

	snprintf(full, sizeof(full), "%s", lr->err);
	m = strip_where(full, &line);
	snprintf(msg, sizeof(msg), "%s", m);
	for (size_t i = 0; i < n; i++)
		nlines += text[i] == '\n';
	if (line > nlines) {
		/* It fails only at the ")" closing it: it ends too early. */
		char *near = strstr(msg, " near ");

		at = n;
		if (near != NULL)
			snprintf(near, sizeof(msg) - (size_t)(near - msg), " at the end of the expression");
	} else {
		for (size_t k = 1; k <= n; k++) {
			if (try_load(lr, "return (", text, k, "") != 0) {
				lua_pop(lr->L, 1);
				if (strcmp(lr->err, full) == 0) {
					at = k;
					break;
				}
			} else {
				lua_pop(lr->L, 1);
			}
		}
	}
	/* From where the token ends to where it starts: "near 'then'". */
	{
		const char *near = strstr(msg, " near '"), *tok = near ? near + 7 : NULL;
		const char *q = tok ? strrchr(tok, '\'') : NULL;
		size_t tn = q && q > tok ? (size_t)(q - tok) : 0;

		if (tn > 0 && at >= tn && memcmp(text + at - tn, tok, tn) == 0) {
			at -= tn - 1;
		} else if (tn > 0 && at == 0) {
			char *t = xstrndup(tok, tn);
			const char *hit = strstr(text, t);

			free(t);
			if (hit != NULL)
				at = (size_t)(hit - text) + 1;
		}
	}
	if (at == 0)
		return fail(lr, "%s", msg);
	{
		size_t col = at, l = 1;

		for (size_t i = 0; i < at && i < n; i++)
			if (text[i] == '\n')
				l++, col = at - i - 1;
		if (line > nlines)
			col++;
		if (nlines > 1)
			return fail(lr, "line %zu, column %zu: %s", l, col, msg);
		return fail(lr, "column %zu: %s", col, msg);
	}
}

int lr_compile(struct lr *lr, const char *text)
{
	lua_State *L = lr->L;
	struct lr_expr x = { 0 };
	size_t n = strlen(text), np = 0;
	struct buf head = { 0 };
	int top = lua_gettop(L);

	if (try_load(lr, "return (", text, n, "\n)") != 0) {
		lua_pop(L, 1);
		return syntax_error(lr, text);
	}
	/* The globals it reads that the sandbox lacks are fields: arguments. */
	lua_getfield(L, LUA_REGISTRYINDEX, "rtai.M");
	lua_getfield(L, -1, "globals");
	lua_pushvalue(L, -3);
	lua_call(L, 1, 1);
	lua_rawgeti(L, LUA_REGISTRYINDEX, lr->env);
	np = lua_objlen(L, -2);
	for (size_t i = 1; i <= np && np <= LR_MAX_PARAMS; i++) {
		const char *name;
		size_t len;

		lua_rawgeti(L, -2, (int)i);
		lua_rawget(L, -2);		/* env[name], raw: no field lookup */
		if (!lua_isnil(L, -1)) {
			lua_pop(L, 1);
			continue;
		}
		lua_pop(L, 1);
		lua_rawgeti(L, -2, (int)i);
		name = lua_tolstring(L, -1, &len);
		x.params = xrealloc(x.params, (x.np + 1) * sizeof(*x.params));
		x.plen = xrealloc(x.plen, (x.np + 1) * sizeof(*x.plen));
		x.params[x.np] = xstrndup(name, len);
		x.plen[x.np] = len;
		x.np++;
		lua_pop(L, 1);
	}
	lua_settop(L, top);
	if (x.np > 0) {
		buf_puts(&head, "local ");
		for (size_t i = 0; i < x.np; i++) {
			buf_puts(&head, x.params[i]);
			buf_putc(&head, i + 1 < x.np ? ',' : ' ');
		}
		buf_puts(&head, "= ... return (");
		buf_putc(&head, '\0');
		if (try_load(lr, (const char *)head.p, text, n, "\n)") != 0)
			cli_die(RTAI_EXIT_FAIL, "LuaJIT: %s: %s", text, lr->err);
	} else if (try_load(lr, "return (", text, n, "\n)") != 0) {
		cli_die(RTAI_EXIT_FAIL, "LuaJIT: %s: %s", text, lr->err);
	}
	buf_free(&head);
	lua_rawgeti(L, LUA_REGISTRYINDEX, lr->env);
	lua_setfenv(L, -2);
	x.ref = luaL_ref(L, LUA_REGISTRYINDEX);
	x.hint = xcalloc(x.np + 1, sizeof(*x.hint));
	x.text = xstrdup(text);
	lr->x = xrealloc(lr->x, (lr->nx + 1) * sizeof(*lr->x));
	lr->x[lr->nx] = x;
	lr->err[0] = '\0';
	return (int)lr->nx++;
}

/* ---- running -------------------------------------------------------------------- */

/* "attempt to index global 'io' (a nil value)": says why, once. */
static void hint_sandbox(struct lr *lr)
{
	static const char *const gone[] = {
		"io", "os", "require", "load", "loadstring", "loadfile", "dofile", "debug",
		"package", "ffi", "jit", "getfenv", "setfenv", "module", "collectgarbage",
		"rawget", "rawset", "rawequal", "setmetatable", "getmetatable", "newproxy",
	};
	size_t len = strlen(lr->err);

	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
		char q[40];

		snprintf(q, sizeof(q), " '%s' (a nil value)", gone[i]);
		if (strstr(lr->err, q) != NULL) {
			snprintf(lr->err + len, sizeof(lr->err) - len,
				 " (%s is outside the sandbox: see SANDBOX in rtai-map(1))", gone[i]);
			return;
		}
	}
}

/* A runtime error's message, with "expr:1: " cut and fields called fields
 * ("local 'amount'" is what Lua calls an argument). */
static void runtime_error(struct lr *lr, struct lr_expr *x)
{
	const char *msg = lua_tostring(lr->L, -1);
	int line;
	char *p;

	snprintf(lr->err, sizeof(lr->err), "%s",
		 msg == NULL ? "an error that is not a string" : strip_where(msg, &line));
	lua_pop(lr->L, 1);
	hint_sandbox(lr);
	if (x == NULL)
		return;
	for (const char *w = "global '"; w != NULL; w = w[0] == 'g' ? "local '" : NULL) {
		if ((p = strstr(lr->err, w)) != NULL) {
			size_t wl = strlen(w);

			memmove(p + 7, p + wl, strlen(p + wl) + 1);
			memcpy(p, "field '", 7);
		}
	}
}

/* Runs expression id on r, leaving its result on the stack. */
static int run(struct lr *lr, int id, struct lr_rec *r)
{
	lua_State *L = lr->L;
	struct lr_expr *x = &lr->x[id];

	lr->cur = r;
	lr->running = x;
	lua_rawgeti(L, LUA_REGISTRYINDEX, x->ref);
	for (size_t i = 0; i < x->np; i++)
		if (push_field(lr, x->params[i], x->plen[i], &x->hint[i]) < 0) {
			lua_settop(L, 0);
			lr->running = NULL;
			return -1;
		}
	if (lua_pcall(L, (int)x->np, 1, 0) != 0) {
		runtime_error(lr, x);
		lua_settop(L, 0);
		lr->running = NULL;
		return -1;
	}
	lr->running = NULL;
	return 0;
}

int lr_test(struct lr *lr, int id, struct lr_rec *r)
{
	int t;

	if (run(lr, id, r) < 0)
		return -1;
	t = lua_toboolean(lr->L, -1) && !lua_null(lr->L, -1);
	lua_pop(lr->L, 1);
	return t;
}

int lr_value(struct lr *lr, int id, struct lr_rec *r, const char *name,
	     size_t nlen, enum lr_want want, struct val *out)
{
	struct rec_field *f;
	int st;

	if (lr_rec_decode(r) < 0)
		return fail(lr, "%s", r->rec.err);
	if (run(lr, id, r) < 0)
		return -1;
	f = rec_get(&r->rec, name, nlen);
	st = to_val(lr, -1, f ? f->v.type : -1, want, &r->rec, out);
	lua_pop(lr->L, 1);
	return st;
}

int lr_time(struct lr *lr, int id, struct lr_rec *r, int64_t *ns)
{
	struct val v;
	int st;

	if (run(lr, id, r) < 0)
		return -1;
	if (lua_isnil(lr->L, -1) || lua_null(lr->L, -1)) {
		*ns = RTAI_TIME_UNSET;
		lua_pop(lr->L, 1);
		return 0;
	}
	st = to_val(lr, -1, RT_TIME, LR_TIME, &r->rec, &v);
	lua_pop(lr->L, 1);
	if (st == 0)
		*ns = v.i;
	return st;
}

const char *lr_missing(const struct lr *lr, int id)
{
	const struct lr_expr *x = &lr->x[id];

	return x->reads > 0 && x->found == 0 ? x->missing : NULL;
}

/* ---- scripts ---------------------------------------------------------------------- */

int lr_script_load(struct lr *lr, const char *path, int sandbox)
{
	lua_State *L = lr->L;

	if (luaL_loadfile(L, path) != 0) {
		fail(lr, "%s", lua_tostring(L, -1));
		lua_settop(L, 0);
		return -1;
	}
	if (sandbox) {
		lua_getfield(L, LUA_REGISTRYINDEX, "rtai.M");
		lua_getfield(L, -1, "sandbox");
		push_helpers(lr);
		lua_call(L, 1, 1);
		lua_remove(L, -2);
	} else {
		lua_pushvalue(L, LUA_GLOBALSINDEX);
		push_helpers(lr);
		lua_pushnil(L);
		while (lua_next(L, -2) != 0) {
			lua_pushvalue(L, -2);
			lua_insert(L, -2);
			lua_settable(L, -5);
		}
		lua_pop(L, 1);
	}
	/* stack: chunk, env */
	lua_pushvalue(L, -1);
	lua_setfenv(L, -3);
	lua_insert(L, -2);
	lr->cur = NULL;
	if (lua_pcall(L, 0, 1, 0) != 0) {
		fail(lr, "%s", lua_tostring(L, -1));
		lua_settop(L, 0);
		return -1;
	}
	if (lua_type(L, -1) != LUA_TFUNCTION) {
		lua_pop(L, 1);
		lua_getfield(L, -1, "map");
	}
	if (lua_type(L, -1) != LUA_TFUNCTION) {
		lua_settop(L, 0);
		return fail(lr, "%s: the script neither returns a function nor defines map(r)", path);
	}
	lr->script = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_settop(L, 0);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	const struct rec_field *x = a, *y = b;
	int c = memcmp(x->name, y->name, x->nlen < y->nlen ? x->nlen : y->nlen);

	return c != 0 ? c : (int)x->nlen - (int)y->nlen;
}

/* A record from the table at idx into out: its fields sorted by name. */
static int table_rec(struct lr *lr, int idx, struct lr_rec *out)
{
	lua_State *L = lr->L;
	struct lr_rec *r = lr->cur;

	rec_reset(&out->rec);
	out->f = r->f;
	out->decoded = 1;
	out->changed = 1;
	out->event_ns = r->event_ns;
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		struct val v;
		const char *k;
		size_t n;

		if (lua_type(L, -2) != LUA_TSTRING) {
			lua_pop(L, 2);
			return fail(lr, "a record's field names are strings, not %s", lua_kind(L, -2));
		}
		k = lua_tolstring(L, -2, &n);
		if (n == 0 || n > 255) {
			lua_pop(L, 2);
			return fail(lr, "a field name has 1 to 255 bytes, not %zu", n);
		}
		if (is_name(k, n, "_event_time")) {
			if (to_val(lr, -1, RT_TIME, LR_TIME, &out->rec, &v) < 0) {
				lua_pop(L, 2);
				return -1;
			}
			out->event_ns = v.type == RT_TIME ? v.i : RTAI_TIME_UNSET;
		} else if (is_name(k, n, "_ingest_time")) {
			lua_pop(L, 2);
			return fail(lr, "_ingest_time cannot be set: it measures latency");
		} else {
			if (to_val(lr, -1, -1, LR_ANY, &out->rec, &v) < 0) {
				char why[sizeof(lr->err)];

				snprintf(why, sizeof(why), "%s", lr->err);
				lua_pop(L, 2);
				return fail(lr, "field \"%.*s\": %s", (int)n, k, why);
			}
			if (out->rec.n >= rec_max_fields) {
				lua_pop(L, 2);
				return fail(lr, "a record of more than %u fields", rec_max_fields);
			}
			rec_add(&out->rec, rec_strdup(&out->rec, k, n), n, v);
		}
		lua_pop(L, 1);
	}
	qsort(out->rec.f, out->rec.n, sizeof(*out->rec.f), by_name);
	for (uint32_t i = 1; i < out->rec.n; i++)
		if (by_name(&out->rec.f[i - 1], &out->rec.f[i]) == 0)
			return fail(lr, "field \"%.*s\" twice", out->rec.f[i].nlen, out->rec.f[i].name);
	return 0;
}

/* The record value at idx as a record to emit: r itself, or a new one in
 * the pool at slot *used. */
static int out_rec(struct lr *lr, int idx, size_t *used, struct lr_rec **out)
{
	lua_State *L = lr->L;

	lua_rawgeti(L, LUA_REGISTRYINDEX, lr->proxy);
	if (lua_rawequal(L, idx < 0 ? idx - 1 : idx, -1)) {
		lua_pop(L, 1);
		*out = lr->cur;
		return 0;
	}
	lua_pop(L, 1);
	if (lua_type(L, idx) != LUA_TTABLE)
		return fail(lr, "expected r or a table of fields, got %s", lua_kind(L, idx));
	if (*used == lr->npool) {
		lr->pool = xrealloc(lr->pool, (lr->npool + 1) * sizeof(*lr->pool));
		lr->pool[lr->npool++] = xcalloc(1, sizeof(**lr->pool));
	}
	*out = lr->pool[(*used)++];
	return table_rec(lr, idx < 0 ? lua_gettop(L) + idx + 1 : idx, *out);
}

/* Whether the table at the top is a list of records: it has [1], or is
 * empty. r (a table with a metatable) is not. */
static int is_list(lua_State *L)
{
	int empty;

	if (lua_getmetatable(L, -1)) {
		lua_pop(L, 1);
		return 0;
	}
	if (lua_objlen(L, -1) > 0)
		return 1;
	lua_pushnil(L);
	empty = lua_next(L, -2) == 0;
	if (!empty)
		lua_pop(L, 2);
	return empty;
}

int lr_script(struct lr *lr, struct lr_rec *r,
	      void (*emit)(void *arg, struct lr_rec *rec), void *arg)
{
	lua_State *L = lr->L;
	size_t used = 0, n;
	int ret = -1;

	lr->cur = r;
	lr->running = NULL;
	lua_rawgeti(L, LUA_REGISTRYINDEX, lr->script);
	lua_rawgeti(L, LUA_REGISTRYINDEX, lr->proxy);
	if (lua_pcall(L, 1, 1, 0) != 0) {
		runtime_error(lr, NULL);
		goto out;
	}
	if (!lua_toboolean(L, -1) || lua_null(L, -1)) {
		ret = 0;
		goto out;
	}
	if (lua_type(L, -1) != LUA_TTABLE) {
		fail(lr, "map() returned %s: expected r, nil, a table of fields, or a list of them",
		     lua_kind(L, -1));
		goto out;
	}
	n = is_list(L) ? lua_objlen(L, -1) : 0;
	if (n > lr->nouts) {
		lr->outs = xrealloc(lr->outs, n * sizeof(*lr->outs));
		lr->nouts = n;
	}
	if (!is_list(L)) {
		if (out_rec(lr, -1, &used, &lr->outs_one) < 0) {
			char why[sizeof(lr->err)];

			snprintf(why, sizeof(why), "%s", lr->err);
			fail(lr, "map() returned a table: %s", why);
			goto out;
		}
		emit(arg, lr->outs_one);
		ret = 1;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		lua_rawgeti(L, -1, (int)i + 1);
		if (out_rec(lr, -1, &used, &lr->outs[i]) < 0) {
			char why[sizeof(lr->err)];

			snprintf(why, sizeof(why), "%s", lr->err);
			fail(lr, "map() returned a list: element %zu: %s", i + 1, why);
			goto out;
		}
		lua_pop(L, 1);
	}
	for (size_t i = 0; i < n; i++)
		emit(arg, lr->outs[i]);
	ret = (int)n;
out:
	lua_settop(L, 0);
	lr->cur = NULL;
	return ret;
}
