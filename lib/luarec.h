/* luarec.h - rtai records in Lua: expressions and scripts run by LuaJIT.
 *
 * An engine (struct lr) holds one Lua state. Expressions such as
 * "amount > 100" are compiled once, at start; each run reads the fields it
 * names from the record bound to the run (struct lr_rec), which is decoded
 * only when a field is read, so "-w true" never decodes anything. The
 * names an expression reads as globals are found in its bytecode at
 * compile time and passed to it as arguments: only those fields enter Lua,
 * and every other field leaves byte for byte as it came.
 *
 * Values in Lua (the rule of rtai-map(1), "VALUES"):
 *   null -> nil          bool -> boolean       float -> number
 *   string, json, bytes -> string (json as its text)
 *   int -> number when |i| <= 2^53, else a boxed LuaJIT int64 (cdata, 2^53
 *          and above cannot all be doubles); int64 cdata come back as ints
 *   time -> number of seconds since the epoch, with a fraction
 *   _event_time, _ingest_time -> the frame's times, in seconds (or nil)
 * Back from Lua (lr_value, and r.NAME = v in scripts): see lr_value().
 *
 * Sandbox: expressions and sandboxed scripts see the helpers (hour, minute,
 * dow, date, parse_time, format_time, fields, null), math, string, table,
 * bit, and the safe base functions (pairs, tostring, pcall, ...); never io,
 * os, require, load, loadstring, dofile, getfenv, setfenv, debug, jit or
 * ffi. A script loaded with sandbox 0 runs with the whole standard library.
 *
 * Time zones: helpers given a zone set the TZ environment variable (and
 * call tzset()) when the zone differs from the last one: a process that
 * uses an engine must not rely on TZ elsewhere.
 */
#ifndef RTAI_LUAREC_H
#define RTAI_LUAREC_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "rec.h"

/* The record a run reads and changes. */
struct lr_rec {
	struct rec rec;		/* its fields, once decoded */
	const struct frame *f;	/* the frame it came from */
	int decoded;			/* rec holds the frame's fields */
	int changed;			/* a field was set, removed or renamed */
	int64_t event_ns;		/* event time; RTAI_TIME_UNSET for none */
};

/* Binds r to the frame f (borrowed: f and its payload must outlive the
 * runs on r): nothing is decoded yet, nothing changed, the event time is
 * the frame's. */
void lr_rec_frame(struct lr_rec *r, const struct frame *f);
/* Decodes the frame's payload into r->rec unless done already. Returns 0,
 * or -1 with r->rec.err saying why ("binary record: truncated string"). */
int lr_rec_decode(struct lr_rec *r);
/* Frees r's memory. Accepts NULL. */
void lr_rec_free(struct lr_rec *r);

struct lr;

/* A new engine with its sandbox and helpers. Aborts with a message when
 * LuaJIT cannot start (out of memory). Free with lr_free(). */
struct lr *lr_new(void);
/* Frees the engine and its Lua state. Accepts NULL. */
void lr_free(struct lr *lr);
/* The last error: "column 9: unexpected symbol near '<eof>'" from
 * lr_compile(), "attempt to compare nil with number" from a run. Valid
 * until the next call. */
const char *lr_err(const struct lr *lr);

/* Compiles an expression. Returns its id (0, 1, ...), or -1 with
 * lr_err() giving the 1-based column (and line, for several lines) of the
 * syntax error and Lua's message. text is copied. */
int lr_compile(struct lr *lr, const char *text);

/* Runs expression id on r and tests its result as Lua does: nil and false
 * are false, anything else (0 and "" too) is true. Returns 1 or 0, or -1
 * on a runtime error (a nil in arithmetic, a record that cannot be
 * decoded) with lr_err() set. */
int lr_test(struct lr *lr, int id, struct lr_rec *r);

/* What lr_value() makes of a Lua value. */
enum lr_want {
	LR_ANY = -1,			/* by the value and the field's old type */
	LR_INT = RT_INT, LR_FLOAT = RT_FLOAT, LR_STR = RT_STR,
	LR_BOOL = RT_TRUE, LR_TIME = RT_TIME, LR_JSON = RT_JSON,
};

/* Runs expression id on r (decoding r first) and converts its result into
 * *out, the value of the field name (the field may not exist yet):
 *   nil (or null) -> null; boolean -> bool; string -> string; int64 -> int;
 *   number -> int when it is whole and within 2^53, else float; but a
 *   number set to an existing float field stays float, to an existing
 *   time field becomes a time (seconds, rounded to the microsecond), and a
 *   string set to an existing json field stays json when it is JSON.
 * With want other than LR_ANY the result must convert to that type:
 * LR_INT takes whole numbers, int64 and decimal strings; LR_FLOAT numbers
 * and numeric strings; LR_STR strings, numbers and booleans; LR_BOOL any
 * value, by its truth; LR_TIME seconds and ISO 8601 or epoch strings;
 * LR_JSON JSON text, numbers and booleans. Infinities and NaN are errors.
 * Strings are copied into r->rec's arena. Returns 0, or -1 with lr_err(). */
int lr_value(struct lr *lr, int id, struct lr_rec *r, const char *name,
	     size_t nlen, enum lr_want want, struct val *out);
/* Runs expression id on r and converts its result to an event time in ns
 * (seconds, an ISO 8601 or epoch string; nil gives RTAI_TIME_UNSET).
 * Returns 0, or -1 with lr_err(). */
int lr_time(struct lr *lr, int id, struct lr_rec *r, int64_t *ns);

/* A name expression id read as a field on every run without ever finding
 * it, when it found no field at all (a misspelt name?); NULL when it found
 * one, or read none (a constant such as "true"). */
const char *lr_missing(const struct lr *lr, int id);

/* Loads the script at path: a Lua chunk that returns a function, or
 * defines a global function map(r). It runs once, now; its globals live as
 * long as the engine (state kept between records). sandbox 0 gives it the
 * whole standard library (io, os, require, ffi...). Returns 0, or -1 with
 * lr_err() ("script.lua:3: '=' expected near 'x'"). */
int lr_script_load(struct lr *lr, const char *path, int sandbox);

/* Calls the script's function with r, then emit(arg, rec) for each record
 * it returns, in order: r itself (the function returned it, or a list
 * holding it), or records made from tables of fields (their fields sorted
 * by name, the event time from r unless the table sets _event_time; they
 * are owned by the engine, valid until the next call). nil or false, or an
 * empty list, emits nothing. Every returned value is converted before the
 * first emit, so an error emits nothing. Returns the number of records
 * emitted, or -1 with lr_err(). */
int lr_script(struct lr *lr, struct lr_rec *r,
	      void (*emit)(void *arg, struct lr_rec *rec), void *arg);

/* Bytes of memory the Lua state holds now. */
size_t lr_mem(const struct lr *lr);
/* Stops (on 0) or restarts (on 1) Lua's garbage collector. While it is
 * stopped, lr_mem() grows by exactly what runs allocate: how the tests
 * show which expressions allocate nothing per record. */
void lr_gc(struct lr *lr, int on);

#endif
