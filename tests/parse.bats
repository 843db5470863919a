#!/usr/bin/env bats
# rtai-parse: JSON payloads to typed records, schema on write, event time,
# bad-record policies.

load common

# parse_lines ARGS...: stdin lines through rtai-cat, rtai-parse ARGS, and
# back to text with rtai-cat -p --meta.
parse_lines() {
	rtai-cat | rtai-parse "$@" | rtai-cat -p
}

# A record as a typed binary one prints its types in rtai-cat -p: floats
# keep a decimal point, times print as ISO strings.

# ---- the happy path ----------------------------------------------------------

@test "parse: without a schema every field keeps its JSON type" {
	run sh -c "echo '{\"s\":\"x\",\"i\":3,\"f\":2.50,\"e\":1e2,\"b\":true,\"n\":null,\"o\":{\"a\": [1, 2]}}' | rtai-cat | rtai-parse | rtai-cat -p"
	echo "$output"
	assert_success
	assert_output '{"s":"x","i":3,"f":2.5,"e":100.0,"b":true,"n":null,"o":{"a":[1,2]}}'
}

@test "parse: floats print the shortest text that reads back as the same double (python3 repr)" {
	# Issue #13: 627.42000000000007 printed 17 digits; an integral float
	# keeps its .0. Random doubles of every magnitude, subnormals too.
	python3 - >in.jsonl <<'PY'
import random, struct, json
random.seed(13)
vals = [627.42000000000007, 21236.619999999992, 0.1, 0.30000000000000004, 3.0, -0.0, 1e16,
        1e-7, 2.0**63, 5e-324, 1.7976931348623157e308, 123456789012345678.0, 1e15, 1e22]
for _ in range(3000):
    while True:
        d = struct.unpack('<d', random.getrandbits(64).to_bytes(8, 'little'))[0]
        if d == d and abs(d) != float('inf'):
            break
    vals.append(d)
    vals.append(round(random.uniform(-1e6, 1e6), random.randint(0, 8)))
for v in vals:
    print(json.dumps({"v": v}))
PY
	rtai-cat in.jsonl | rtai-parse -f v:float | rtai-cat -p >out.jsonl
	# Same value, as many significant digits as repr (notation may differ:
	# 1e+15 for 1000000000000000.0), a float's "." or exponent.
	run python3 -c '
import json, re, sys
def digits(t):
    return len(re.sub("[^0-9]", "", re.split("[eE]", t)[0]).strip("0")) or 1
bad = 0
for a, b in zip(open("in.jsonl"), open("out.jsonl")):
    v = json.loads(a)["v"]
    got = b.strip()[len("{\"v\":"):-1]
    if float(got) != v or str(float(got)) != str(v) or digits(got) != digits(repr(v)) \
       or not re.search("[.e]", got):
        bad += 1
        print("want", repr(v), "got", got)
n = sum(1 for _ in open("out.jsonl"))
print(n, "values,", bad, "differ")
sys.exit(bad != 0 or n != 6014)'
	echo "$output"
	assert_success
	assert_output --partial '6014 values, 0 differ'
}

@test "parse: an integer beyond int64 reads as a float (the nearest double), so -f v:float takes it" {
	run sh -c "echo '{\"v\":9223372036854775808,\"n\":-99999999999999999999,\"s\":\"18446744073709551616\"}' \
		| rtai-cat | rtai-parse -f v:float | rtai-cat -p"
	echo "$output"
	assert_success
	# python3: repr(float(2**63)) = 9.223372036854776e+18, repr(-1e20) = -1e+20
	assert_output '{"v":9.223372036854776e+18,"n":-1e+20,"s":"18446744073709551616"}'
	run sh -c "echo '{\"v\":9223372036854775807}' | rtai-cat | rtai-parse | rtai-cat -p"
	assert_output '{"v":9223372036854775807}'
}

@test "parse: the README's --strict example parses every click; a run that parses none exits 5" {
	run bash -o pipefail -c "rtai-cat $RTAI_SRC/tests/data/clicks.jsonl | rtai-parse --strict \
		-f user_id:string -f item_id:string -f action:string -f amount:float? -t event_time \
		--dlq bad.rtai | rtai-cat -p | wc -l"
	echo "$output"
	assert_success
	assert_output "$(wc -l <"$RTAI_SRC/tests/data/clicks.jsonl")"
	run rtai-cat -p bad.rtai
	assert_output ''
	# Without every field declared, --strict dead-letters all 20: status 5
	rm -f bad.rtai
	run sh -c "rtai-cat $RTAI_SRC/tests/data/clicks.jsonl | rtai-parse --strict -f user_id:string \
		-f amount:float? -t event_time --dlq bad.rtai >/dev/null"
	echo "$output"
	assert_failure 5
	assert_output --partial 'rtai-parse: every record (20) was dead-lettered: nothing was parsed (exit status 5)'
	run sh -c "printf '%s\n' x y | rtai-cat | rtai-parse --on-error skip >/dev/null"
	echo "$output"
	assert_failure 5
	assert_output --partial 'every record (2) was skipped'
	# one good record is enough for status 0
	run sh -c "printf '%s\n' x '{\"a\":1}' | rtai-cat | rtai-parse --on-error skip >/dev/null"
	assert_success
}

@test "parse: a --keep name that never occurs is named at the end (a typo)" {
	run bash -o pipefail -c "rtai-cat $RTAI_SRC/tests/data/clicks.jsonl | rtai-parse --keep user_id,amout 2>err | rtai-cat -p | head -1"
	echo "$output"
	assert_output '{"user_id":"u1"}'
	run cat err
	echo "$output"
	assert_output 'rtai-parse: --keep field "amout" never occurred in 20 records (misspelt?)'
	# a declared field counts even when absent
	run sh -c "echo '{\"a\":1}' | rtai-cat | rtai-parse -f b:int? --keep a,b 2>&1 >/dev/null"
	assert_output ''
}

@test "parse: CSV input is named as such; a UTF-8 byte order mark is skipped; a wrong epoch unit is hinted" {
	run sh -c "printf 'user_id,amount\nu1,2.5\n' | rtai-cat | rtai-parse >/dev/null"
	echo "$output"
	assert_failure 1
	assert_output --partial "rtai-parse: stdin: record 1 (byte 8): invalid JSON at column 4: '[' or '{' expected near 'user' (this looks like CSV, not JSON: read it with --format csv)"
	run sh -c "printf '\357\273\277{\"a\":1}\n{\"a\":2}\n' | rtai-cat | rtai-parse | rtai-cat -p"
	echo "$output"
	assert_success
	assert_output "$(printf '%s\n' '{"a":1}' '{"a":2}')"
	run sh -c "echo '{\"t\":1795514400000}' | rtai-cat | rtai-parse -t t --time-format s >/dev/null"
	echo "$output"
	assert_failure 1
	assert_output --partial 'field "t": 1795514400000: time out of range with --time-format s (its magnitude says ms: --time-format ms, or auto)'
}

@test "parse: the output is binary records (encoding 3) with ingest times unchanged" {
	echo '{"a":1}' | rtai-cat >in.rtai
	rtai-parse in.rtai >out.rtai
	run rtai-cat -p --meta in.rtai
	in_ingest=$(echo "$output" | jq -r ._ingest_time)
	run rtai-cat -p --meta out.rtai
	echo "$output"
	assert_output "{\"_ingest_time\":\"$in_ingest\",\"_event_time\":null,\"a\":1}"
	# kind 1, encoding 3 at bytes 12 and 13 (after the header and length)
	run sh -c 'od -An -tu1 -j12 -N2 out.rtai | tr -s " "'
	assert_output ' 1 3'
}

@test "parse: -t sets the event time and the field becomes a time value" {
	sample_clicks | head -2 >in.jsonl
	run sh -c "rtai-cat in.jsonl | rtai-parse -t event_time | rtai-cat -p --meta | jq -c '[._event_time, .event_time, .amount]'"
	echo "$output"
	assert_success
	assert_output "$(printf '%s\n' '["2026-11-24T10:00:00.000Z","2026-11-24T10:00:00.000Z",0]' '["2026-11-24T10:00:03.000Z","2026-11-24T10:00:03.000Z",1.5]')"
}

@test "parse: ISO 8601 times with fractions, offsets, a space, a date" {
	cat >in.jsonl <<'EOF'
{"t":"2026-11-24T10:00:00.123456789Z"}
{"t":"2026-11-24T12:00:00+02:00"}
{"t":"2026-11-24 10:00:00.5"}
{"t":"2026-11-24"}
{"t":"1969-12-31T23:59:59Z"}
EOF
	run sh -c 'rtai-cat in.jsonl | rtai-parse -t t | rtai-cat -p --meta | jq -r ._event_time'
	echo "$output"
	assert_success
	assert_output "$(printf '%s\n' 2026-11-24T10:00:00.123456789Z 2026-11-24T10:00:00.000Z \
		2026-11-24T10:00:00.500Z 2026-11-24T00:00:00.000Z 1969-12-31T23:59:59.000Z)"
}

@test "parse: epoch numbers, --time-format auto decides by magnitude" {
	cat >in.jsonl <<'EOF'
{"t":1795514400}
{"t":1795514400.25}
{"t":1795514400000}
{"t":1795514400000000}
{"t":1795514400000000001}
{"t":"1795514400"}
EOF
	run sh -c 'rtai-cat in.jsonl | rtai-parse -t t | rtai-cat -p --meta | jq -r ._event_time'
	echo "$output"
	assert_success
	assert_output "$(printf '%s\n' 2026-11-24T10:00:00.000Z 2026-11-24T10:00:00.250Z \
		2026-11-24T10:00:00.000Z 2026-11-24T10:00:00.000Z 2026-11-24T10:00:00.000000001Z \
		2026-11-24T10:00:00.000Z)"
}

@test "parse: --time-format auto compares ints as ints; times end with int64 nanoseconds in 2262" {
	# 99999999999999992 is below 1e17, so microseconds (a time in 5138:
	# out of range), not nanoseconds in 1973 as a double comparison gave;
	# 1e17 itself is nanoseconds: python3 -c 'import datetime;
	# print(datetime.datetime.utcfromtimestamp(1e8))' gives 1973-03-03 09:46:40.
	run sh -c "echo '{\"t\":100000000000000000}' | rtai-cat | rtai-parse -t t | rtai-cat -p"
	echo "$output"
	assert_success
	assert_output '{"t":"1973-03-03T09:46:40.000Z"}'
	for t in 99999999999999992 9300000000 9300000000000; do
		run sh -c "echo '{\"t\":$t}' | rtai-cat | rtai-parse -t t >/dev/null"
		echo "$t: $output"
		assert_failure
		assert_output --partial "field \"t\": $t: time out of range"
	done
	# The last second int64 nanoseconds hold, in seconds: 2262-04-11T23:47:16Z
	run sh -c "echo '{\"t\":9223372036}' | rtai-cat | rtai-parse -t t | rtai-cat -p"
	echo "$output"
	assert_output '{"t":"2262-04-11T23:47:16.000Z"}'
}

@test "parse: --time-format s, ms, us, ns fix the unit" {
	for u in s:1795514400 ms:1795514400000 us:1795514400000000 ns:1795514400000000000; do
		run sh -c "echo '{\"t\":${u#*:}}' | rtai-cat | rtai-parse -t t --time-format ${u%%:*} | rtai-cat -p"
		echo "$u: $output"
		assert_success
		assert_output '{"t":"2026-11-24T10:00:00.000Z"}'
	done
	# 5 read as milliseconds, not seconds
	run sh -c "echo '{\"t\":5}' | rtai-cat | rtai-parse -t t --time-format ms | rtai-cat -p"
	assert_output '{"t":"1970-01-01T00:00:00.005Z"}'
}

@test "parse: --time-format rejects an unknown unit" {
	run rtai-parse --time-format days
	echo "$output"
	assert_failure 2
	assert_output --partial "rtai-parse: --time-format: 'days': expected s, ms, us, ns or auto"
}

@test "parse: without -t the event time passes through" {
	echo '{"t":"2026-11-24T10:00:00Z","a":1}' | rtai-cat | rtai-parse -t t >timed.rtai
	run sh -c 'rtai-parse timed.rtai | rtai-cat -p --meta | jq -r ._event_time'
	echo "$output"
	assert_output 2026-11-24T10:00:00.000Z
	run sh -c 'echo "{\"a\":1}" | rtai-cat | rtai-parse | rtai-cat -p --meta | jq -r ._event_time'
	assert_output null
}

@test "parse: --json writes compact JSON payloads (encoding 2)" {
	run sh -c "echo '{ \"a\" : 1, \"t\": 1795514400 }' | rtai-cat | rtai-parse --json -t t | rtai-cat -p --meta"
	echo "$output"
	assert_success
	assert_output --partial '"_event_time":"2026-11-24T10:00:00.000Z","a":1,"t":"2026-11-24T10:00:00.000Z"}'
	echo '{"a":1}' | rtai-cat | rtai-parse --json >out.rtai
	run sh -c 'od -An -tu1 -j12 -N2 out.rtai | tr -s " "'
	assert_output ' 1 2'
}

@test "parse: JSON and binary payloads are read as well as raw lines" {
	printf '{"a":1,"b":"x"}\n' | rtai-cat | rtai-parse --json >json.rtai
	rtai-parse json.rtai >rec.rtai
	run sh -c 'rtai-parse -f a:float -f b:string rec.rtai | rtai-cat -p'
	echo "$output"
	assert_success
	assert_output '{"a":1.0,"b":"x"}'
	run sh -c 'rtai-parse -f a:float json.rtai | rtai-cat -p'
	assert_output '{"a":1.0,"b":"x"}'
}

@test "parse: binary records are re-typed under a schema" {
	echo '{"n":2,"t":"2026-11-24T10:00:00Z","s":"x"}' | rtai-cat | rtai-parse -t t >rec.rtai
	run sh -c 'rtai-parse -f n:float -f t:time -f s:string rec.rtai | rtai-cat -p --meta'
	echo "$output"
	assert_success
	assert_output --partial '"_event_time":"2026-11-24T10:00:00.000Z","n":2.0,"t":"2026-11-24T10:00:00.000Z","s":"x"}'
	run rtai-parse -f t:string rec.rtai
	assert_failure 1
	assert_output --partial 'record 1 (byte 8): field "t": expected string, got time'
}

@test "parse: a payload encoding that is not a record is a bad record" {
	python3 - <<'PY' >odd.rtai
import struct, sys
out = sys.stdout.buffer
out.write(b"RTAI\x01\x00\x00\x00")
body = struct.pack("<BBHqq", 1, 9, 0, 5, 0) + b"{}"
out.write(struct.pack("<I", len(body)) + body)
PY
	run rtai-parse odd.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial 'odd.rtai: record 1 (byte 8): payload encoding 9 is not a record'
}

@test "parse: strings with escapes, non-ASCII text and nesting are read right" {
	printf '%s\n' '{"a":"x\"y\u00e9","b":"h\u00e9 €","c":{"d":[1,"\n"]},"e":-0.0,"f":1.5e-7}' | rtai-cat >in.rtai
	run sh -c 'rtai-parse in.rtai | rtai-cat -p'
	echo "$output"
	assert_success
	assert_output '{"a":"x\"yé","b":"hé €","c":{"d":[1,"\n"]},"e":-0.0,"f":1.5e-07}'
}

@test "parse: several inputs in turn, and - for stdin" {
	echo '{"a":1}' | rtai-cat >a.rtai
	echo '{"a":2}' | rtai-cat >b.rtai
	run sh -c 'rtai-parse a.rtai - b.rtai <a.rtai | rtai-cat -p'
	echo "$output"
	assert_output "$(printf '{"a":1}\n{"a":1}\n{"a":2}')"
}

# ---- the schema -------------------------------------------------------------------

@test "parse: -f checks and orders declared fields; ints widen to floats" {
	run sh -c "echo '{\"x\":true,\"amount\":3,\"user\":\"u1\",\"n\":7}' | rtai-cat \
		| rtai-parse -f user:string -f amount:float -f n:int -f x:bool | rtai-cat -p"
	echo "$output"
	assert_success
	assert_output '{"user":"u1","amount":3.0,"n":7,"x":true}'
}

@test "parse: undeclared fields follow the declared ones in input order" {
	run sh -c "echo '{\"c\":1,\"b\":2,\"a\":3}' | rtai-cat | rtai-parse -f a:int | rtai-cat -p"
	echo "$output"
	assert_output '{"a":3,"c":1,"b":2}'
}

@test "parse: a json field takes nested objects and arrays" {
	run sh -c "echo '{\"o\":{\"k\":[1,{\"z\":null}]},\"l\":[]}' | rtai-cat \
		| rtai-parse --strict -f o:json -f l:json | rtai-cat -p"
	echo "$output"
	assert_output '{"o":{"k":[1,{"z":null}]},"l":[]}'
	run sh -c "echo '{\"o\":1}' | rtai-cat | rtai-parse -f o:json"
	echo "$output"
	assert_failure 1
	assert_output --partial 'field "o": expected json, got int'
}

@test "parse: a time field converts ISO strings and epoch numbers" {
	run sh -c "echo '{\"a\":\"2026-11-24T10:00:00Z\",\"b\":1795514400}' | rtai-cat \
		| rtai-parse -f a:time -f b:time | rtai-cat -p --meta"
	echo "$output"
	assert_output --partial '"_event_time":null,"a":"2026-11-24T10:00:00.000Z","b":"2026-11-24T10:00:00.000Z"}'
}

@test "parse: nothing but ints is coerced: wrong types are bad records" {
	while IFS='|' read -r decl json want; do
		run sh -c "echo '$json' | rtai-cat | rtai-parse -f $decl"
		echo "$decl $json: $output"
		assert_failure 1
		assert_output --partial "rtai-parse: stdin: record 1 (byte 8): $want"
	done <<'EOF'
a:int|{"a":"3"}|field "a": expected int, got string
a:int|{"a":3.0}|field "a": expected int, got float
a:float|{"a":"3.5"}|field "a": expected float, got string
a:string|{"a":3}|field "a": expected string, got int
a:bool|{"a":1}|field "a": expected bool, got int
a:bool|{"a":"true"}|field "a": expected bool, got string
a:time|{"a":true}|field "a": expected time, got bool
a:string|{"a":{"b":1}}|field "a": expected string, got json
EOF
}

@test "parse: a required field missing or null is a bad record" {
	run sh -c "echo '{\"b\":1}' | rtai-cat | rtai-parse -f a:int"
	echo "$output"
	assert_failure 1
	assert_output --partial 'record 1 (byte 8): field "a": missing'
	run sh -c "echo '{\"a\":null}' | rtai-cat | rtai-parse -f a:int"
	assert_failure 1
	assert_output --partial 'field "a": expected int, got null'
}

@test "parse: an optional field (?) may be missing or null" {
	printf '%s\n' '{"a":1}' '{"a":null}' '{}' | rtai-cat >in.rtai
	run sh -c 'rtai-parse -f a:float? in.rtai | rtai-cat -p'
	echo "$output"
	assert_success
	assert_output "$(printf '{"a":1.0}\n{"a":null}\n{}')"
}

@test "parse: --strict refuses undeclared fields, but not the -t field" {
	run sh -c "echo '{\"a\":1,\"t\":5,\"zz\":0}' | rtai-cat | rtai-parse --strict -f a:int -t t"
	echo "$output"
	assert_failure 1
	assert_output --partial 'record 1 (byte 8): field "zz": not in the schema (--strict)'
	run sh -c "echo '{\"a\":1,\"t\":5}' | rtai-cat | rtai-parse --strict -f a:int -t t | rtai-cat -p"
	assert_success
	assert_output '{"a":1,"t":"1970-01-01T00:00:05.000Z"}'
}

@test "parse: --strict needs a schema" {
	run rtai-parse --strict
	echo "$output"
	assert_failure 2
	assert_output --partial "rtai-parse: --strict needs a schema (-f or --schema)"
}

@test "parse: --keep projects, after the schema is checked" {
	run sh -c "echo '{\"a\":1,\"b\":2,\"c\":3,\"t\":5}' | rtai-cat \
		| rtai-parse -f b:float --keep c,b -t t | rtai-cat -p --meta"
	echo "$output"
	assert_success
	assert_output --partial '"_event_time":"1970-01-01T00:00:05.000Z","b":2.0,"c":3}'
	run sh -c "echo '{\"a\":1,\"b\":\"x\"}' | rtai-cat | rtai-parse -f b:float --keep a"
	assert_failure 1
	assert_output --partial 'field "b": expected float, got string'
	run rtai-parse --keep a,,b
	assert_failure 2
	assert_output --partial "--keep: 'a,,b': empty field name"
}

@test "parse: --schema reads the same declarations from a JSON file" {
	cat >schema.json <<'EOF'
{"fields": [
  {"name": "user_id", "type": "string"},
  {"name": "amount", "type": "float", "optional": true},
  {"name": "t", "type": "time", "optional": false}
]}
EOF
	printf '%s\n' '{"amount":2,"user_id":"u1","t":0}' '{"user_id":"u2","t":1}' | rtai-cat >in.rtai
	run sh -c 'rtai-parse --schema schema.json --strict in.rtai | rtai-cat -p'
	echo "$output"
	assert_success
	assert_output "$(printf '%s\n' '{"user_id":"u1","amount":2.0,"t":"1970-01-01T00:00:00.000Z"}' \
		'{"user_id":"u2","t":"1970-01-01T00:00:01.000Z"}')"
}

@test "parse: a bad --schema file is a usage error naming the problem" {
	while IFS='|' read -r text want; do
		printf '%s\n' "$text" >s.json
		run rtai-parse --schema s.json
		echo "$text: $output"
		assert_failure 2
		assert_output --partial "rtai-parse: --schema: s.json: $want"
	done <<'EOF'
{"fields": [}|line 1 column 13: 
[]|expected a JSON object {"fields": [...]}
{"fields": {}}|"fields" must be an array
{"fields": [], "strict": true}|unknown key "strict" (expected "fields" or "event_time")
{"fields": [1]}|field 1: expected an object
{"fields": [{"type": "int"}]}|field 1: "name" must be a string
{"fields": [{"name": "a", "type": "integer"}]}|field 1: "type" must be one of string, int, float, bool, time, json, bytes
{"fields": [{"name": "a", "type": "int", "optional": 1}]}|field 1: "optional" must be true or false
{"fields": [{"name": "a", "type": "int", "opt": true}]}|field 1: unknown key "opt" (expected name, type, optional)
{"fields": [{"name": "a", "type": "int"}, {"name": "a", "type": "int"}]}|field 2: field "a" is declared twice
{"fields": [{"name": "", "type": "int"}]}|field 1: empty field name
EOF
	run rtai-parse --schema nosuch.json
	assert_failure 2
	assert_output --partial "rtai-parse: --schema: nosuch.json:"
}

@test "parse: bad -f declarations are usage errors" {
	run rtai-parse -f amount
	echo "$output"
	assert_failure 2
	assert_output --partial "-f: 'amount': expected NAME:TYPE, e.g. amount:float"
	run rtai-parse -f amount:double
	assert_failure 2
	assert_output --partial "unknown type 'double' (expected string, int, float, bool, time, json or bytes)"
	run rtai-parse -f :int
	assert_failure 2
	assert_output --partial "-f: empty field name"
	run rtai-parse -f a:int -f a:float
	assert_failure 2
	assert_output --partial 'field "a" is declared twice'
	run rtai-parse -f t:string -t t
	assert_failure 2
	assert_output --partial "-t t: the field is declared string; the time field must be of type time"
}

@test "parse: a field name may hold colons; the last one gives the type" {
	run sh -c "echo '{\"a:b\":1}' | rtai-cat | rtai-parse --strict -f a:b:float | rtai-cat -p"
	echo "$output"
	assert_output '{"a:b":1.0}'
}

# ---- bad input ----------------------------------------------------------------------

@test "parse: bad records stop the tool with where, why and a hint" {
	sample_clicks >in.jsonl
	echo '{"user_id":"u9","amount":"2.5","event_time":"2026-11-24T10:01:00Z"}' >>in.jsonl
	sample_clicks >>in.jsonl
	rtai-cat in.jsonl >in.rtai
	run sh -c 'rtai-parse -f amount:float -t event_time in.rtai | rtai-cat -p | wc -l'
	echo "$output"
	assert_output --partial 'rtai-parse: in.rtai: record 21 (byte '
	assert_output --partial '): field "amount": expected float, got string'
	assert_output --partial 'rtai-parse: use --on-error skip or --on-error dlq --dlq FILE to go on'
	assert_line 20
	run rtai-parse -f amount:float -t event_time in.rtai
	assert_failure 1
}

@test "parse: the byte offset is that of the bad frame in its input" {
	printf '%s\n' '{"a":1}' '{"a":"x"}' | rtai-cat >in.rtai
	# header 8, then a frame of 4 + 20 + 7 bytes
	run rtai-parse -f a:int in.rtai
	echo "$output"
	assert_output --partial 'in.rtai: record 2 (byte 39): field "a": expected int, got string'
}

@test "parse: each kind of bad payload gets a clear reason" {
	while IFS='|' read -r args json want; do
		run sh -c "printf '%s\n' '$json' | rtai-cat | rtai-parse $args"
		echo "$json: $output"
		assert_failure 1
		assert_output --partial "rtai-parse: stdin: record 1 (byte 8): $want"
	done <<'EOF'
|hello world|invalid JSON at column
|[1,2]|expected a JSON object, got an array
|"text"|invalid JSON at column
|{"a":1|invalid JSON at column
|{"a":NaN}|invalid JSON at column
|{"a":1,"a":2}|invalid JSON at column
|{"a":1e999}|invalid JSON at column
-t t|{"a":1}|field "t": missing (the -t time field)
-t t|{"t":"yesterday"}|field "t": "yesterday": not an ISO 8601 time
-t t|{"t":"2026-13-01"}|field "t": "2026-13-01": date out of range
-t t|{"t":"2026-11-24T25:00:00Z"}|field "t": "2026-11-24T25:00:00Z": time of day out of range
-t t|{"t":null}|field "t": expected time, got null
-t t|{"t":[1]}|field "t": expected time, got json
-t t --time-format s|{"t":9999999999999999}|field "t": 9999999999999999: time out of range
-t t --time-format s|{"t":1e300}|field "t": 1e+300: time out of range
-t t|{"t":"99999999999999999999"}|field "t": "99999999999999999999": time out of range
-t t|{"t":-1e300}|field "t": -1e+300: time out of range
EOF
}

@test "parse: duplicate keys are reported as such" {
	run sh -c "echo '{\"a\":1,\"a\":2}' | rtai-cat | rtai-parse"
	echo "$output"
	assert_failure 1
	assert_output --partial 'duplicate object key'
}

@test "parse: a binary record with a field name twice is a bad record" {
	python3 - <<'PY' >dup.rtai
import struct, sys
out = sys.stdout.buffer
out.write(b"RTAI\x01\x00\x00\x00")
rec = struct.pack("<H", 2) + bytes([3, 1]) + b"a" + struct.pack("<q", 1) + bytes([3, 1]) + b"a" + struct.pack("<q", 2)
body = struct.pack("<BBHqq", 1, 3, 0, 5, 0) + rec
out.write(struct.pack("<I", len(body)) + body)
PY
	run rtai-parse dup.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial 'rtai-parse: dup.rtai: record 1 (byte 8): duplicate field name in binary record'
}

@test "parse: a corrupt binary record is a bad record" {
	python3 - <<'PY' >bad.rtai
import struct, sys
out = sys.stdout.buffer
out.write(b"RTAI\x01\x00\x00\x00")
body = struct.pack("<BBHqq", 1, 3, 0, 5, 0) + b"\x05\x00\x03"
out.write(struct.pack("<I", len(body)) + body)
PY
	run rtai-parse bad.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial 'rtai-parse: bad.rtai: record 1 (byte 8): binary record: field 1: truncated'
}

@test "parse: input that is not an rtai stream is a clear error" {
	sample_clicks >in.jsonl
	run rtai-parse in.jsonl
	echo "$output"
	assert_failure 1
	assert_output --partial "rtai-parse: in.jsonl is not an rtai stream; pipe text through rtai-cat first"
}

@test "parse: a truncated stream is reported; records before it are written" {
	sample_clicks | rtai-cat >s.rtai
	size=$(stat -c %s s.rtai)
	head -c $((size - 24 - 10)) s.rtai >cut.rtai
	run sh -c 'rtai-parse cut.rtai | rtai-cat -p | wc -l'
	echo "$output"
	assert_output --partial "rtai-parse: cut.rtai: byte "
	assert_output --partial "the stream was cut inside a frame"
	assert_line 19
	run rtai-parse cut.rtai
	assert_failure 4
}

@test "parse: a missing input is reported and the next one read" {
	echo '{"a":1}' | rtai-cat >a.rtai
	run sh -c 'rtai-parse nosuch.rtai a.rtai | rtai-cat -p'
	echo "$output"
	assert_output --partial "rtai-parse: nosuch.rtai: No such file or directory"
	assert_output --partial '{"a":1}'
	run rtai-parse nosuch.rtai a.rtai
	assert_failure 1
}

# ---- policies -------------------------------------------------------------------------

@test "parse: --on-error skip counts bad records, goes on, and sums up" {
	printf '%s\n' '{"a":1}' 'oops' '{"a":"x"}' '{"a":2}' | rtai-cat >in.rtai
	run sh -c 'rtai-parse -f a:int --on-error skip in.rtai 2>err.txt | rtai-cat -p; cat err.txt'
	echo "$output"
	assert_success
	assert_output "$(printf '%s\n' '{"a":1}' '{"a":2}' \
		'rtai-parse: 2 parsed, 2 skipped, 0 dead-lettered, 0 blank; first: in.rtai: record 2 (byte 39): invalid JSON at column 4: '"'"'['"'"' or '"'"'{'"'"' expected near '"'"'oops'"'"'')"
	run rtai-parse -f a:int --on-error skip in.rtai
	assert_success
}

@test "parse: --on-error rejects an unknown policy; dlq needs --dlq and back" {
	run rtai-parse --on-error ignore
	echo "$output"
	assert_failure 2
	assert_output --partial "--on-error: 'ignore': expected fail, skip or dlq"
	run rtai-parse --on-error dlq
	assert_failure 2
	assert_output --partial "--on-error dlq needs --dlq FILE"
	run rtai-parse --on-error skip --dlq x.rtai
	assert_failure 2
	assert_output --partial "--dlq needs --on-error dlq"
	[ ! -e x.rtai ]
}

@test "parse: --dlq writes bad records with number, offset, reason and payload" {
	printf '%s\n' '{"a":1}' 'oops' '{"a":"x"}' '{"a":2}' | rtai-cat >in.rtai
	run sh -c 'rtai-parse -f a:int --dlq dead.rtai in.rtai | rtai-cat -p'
	echo "$output"
	assert_success
	assert_output "$(printf '%s\n' \
		"rtai-parse: 2 parsed, 0 skipped, 2 dead-lettered, 0 blank; first: in.rtai: record 2 (byte 39): invalid JSON at column 4: '[' or '{' expected near 'oops'" \
		'{"a":1}' '{"a":2}')"
	run rtai-cat -p dead.rtai
	echo "$output"
	assert_output "$(printf '%s\n' \
		'{"record":2,"offset":39,"input":"in.rtai","reason":"invalid JSON at column 4: '"'"'['"'"' or '"'"'{'"'"' expected near '"'"'oops'"'"'","payload":"oops"}' \
		'{"record":3,"offset":67,"input":"in.rtai","reason":"field \"a\": expected int, got string","payload":"{\"a\":\"x\"}"}')"
}

@test "parse: dead letters keep the original ingest and event times" {
	printf '%s\n' '{"a":"x","t":5}' | rtai-cat | rtai-parse -t t --json >timed.rtai
	# every record dead-lettered: status 5
	run sh -c 'rtai-parse -f a:int --dlq dead.rtai timed.rtai >/dev/null 2>&1'
	assert_failure 5
	run sh -c 'rtai-cat -p --meta timed.rtai | jq -c "[._ingest_time, ._event_time]"'
	want=$output
	run sh -c 'rtai-cat -p --meta dead.rtai | jq -c "[._ingest_time, ._event_time]"'
	echo "$output"
	assert_output "$want"
}

@test "parse: a binary bad record is dead-lettered as its JSON text, or as hex" {
	printf '%s\n' '{"a":"x"}' | rtai-cat | rtai-parse >rec.rtai
	python3 - <<'PY' >>rec.rtai
import struct, sys
out = sys.stdout.buffer
out.write(b"RTAI\x01\x00\x00\x00")  # a second stream, version 1
body = struct.pack("<BBHqq", 1, 3, 0, 5, 0) + b"\x05\x00\x03"
out.write(struct.pack("<I", len(body)) + body)
PY
	run sh -c 'rtai-parse -f a:int --dlq dead.rtai rec.rtai >/dev/null 2>&1'
	assert_failure 5
	run sh -c 'rtai-cat -p dead.rtai | jq -c "[.reason, .payload, .payload_hex]"'
	echo "$output"
	assert_output "$(printf '%s\n' '["field \"a\": expected int, got string","{\"a\":\"x\"}",null]' \
		'["binary record: field 1: truncated",null,"050003"]')"
}

@test "parse: --dlq FILE.zst compresses; the file is written atomically" {
	printf '%s\n' 'oops' | rtai-cat >in.rtai
	run sh -c 'rtai-parse --dlq dead.rtai.zst in.rtai >out.rtai 2>/dev/null'
	assert_failure 5
	run zstd -t dead.rtai.zst
	assert_success
	run sh -c 'rtai-cat -p dead.rtai.zst | jq -r .payload'
	assert_output oops
	run ls
	assert_output "$(printf '%s\n' dead.rtai.zst in.rtai out.rtai)"
}

@test "parse: blank payloads are skipped and counted" {
	printf '%s\n' '{"a":1}' '' '   ' '{"a":2}' | rtai-cat >in.rtai
	run sh -c 'rtai-parse in.rtai 2>err.txt | rtai-cat -p; cat err.txt'
	echo "$output"
	assert_success
	assert_output "$(printf '%s\n' '{"a":1}' '{"a":2}' \
		'rtai-parse: 2 parsed, 0 skipped, 0 dead-lettered, 2 blank')"
}

@test "parse: no summary when all is well, always one with -v" {
	echo '{"a":1}' | rtai-cat >in.rtai
	run sh -c 'rtai-parse in.rtai 2>&1 >/dev/null'
	assert_output ''
	run sh -c 'rtai-parse -v in.rtai 2>&1 >/dev/null'
	echo "$output"
	assert_output 'rtai-parse: 1 parsed, 0 skipped, 0 dead-lettered, 0 blank'
	run sh -c 'rtai-parse --verbose in.rtai 2>&1 >/dev/null'
	assert_output 'rtai-parse: 1 parsed, 0 skipped, 0 dead-lettered, 0 blank'
}

@test "parse: -v reports each bad record under skip" {
	printf '%s\n' 'x' '{"a":1}' 'y' | rtai-cat >in.rtai
	run sh -c 'rtai-parse -v --on-error skip in.rtai 2>&1 >/dev/null'
	echo "$output"
	assert_output "$(printf '%s\n' \
		"rtai-parse: in.rtai: record 1 (byte 8): invalid JSON at column 1: '[' or '{' expected near 'x'" \
		"rtai-parse: in.rtai: record 3 (byte 64): invalid JSON at column 1: '[' or '{' expected near 'y'" \
		'rtai-parse: 1 parsed, 2 skipped, 0 dead-lettered, 0 blank')"
}

# ---- limits ---------------------------------------------------------------------------

@test "parse: --max-fields limits fields per record" {
	echo '{"a":1,"b":2,"c":3}' | rtai-cat >in.rtai
	run rtai-parse --max-fields 2 in.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial 'record 1 (byte 8): 3 fields exceed the limit of 2 (--max-fields or RTAI_MAX_FIELDS)'
	run sh -c 'rtai-parse --max-fields 3 in.rtai | rtai-cat -p'
	assert_output '{"a":1,"b":2,"c":3}'
	run rtai-parse --max-fields 0
	assert_failure 2
	assert_output --partial -- "--max-fields"
}

@test "parse: --max-fields applies to binary records too" {
	echo '{"a":1,"b":2,"c":3}' | rtai-cat | rtai-parse >rec.rtai
	run rtai-parse --max-fields 2 rec.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial 'binary record: 3 fields exceed the limit of 2 (--max-fields or RTAI_MAX_FIELDS)'
}

@test "parse: --max-frame rejects larger frames" {
	printf '{"a":"%0200d"}\n' 0 | rtai-cat >in.rtai
	run sh -c 'rtai-parse --max-frame 100 in.rtai >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output --partial "in.rtai: byte 8: frame of 228 bytes exceeds the limit of 100 bytes (--max-frame)"
	run rtai-parse --max-frame 10 in.rtai
	assert_failure 2
}

@test "parse: a big record with many fields, none twice" {
	python3 -c 'import json; print(json.dumps({"f%d" % i: i for i in range(300)}))' | rtai-cat | rtai-parse >rec.rtai
	run sh -c 'rtai-parse rec.rtai | rtai-cat -p | jq -c "[length, .f299]"'
	echo "$output"
	assert_output '[300,299]'
}

# ---- other frames -----------------------------------------------------------------------

@test "parse: watermarks, barriers, markers and unknown frames pass through in order" {
	python3 - <<'PY' >mixed.rtai
import struct, sys
out = sys.stdout.buffer
out.write(b"RTAI\x01\x00\x00\x00")
def frame(kind, enc, flags, ingest, event, payload=b""):
    body = struct.pack("<BBHqq", kind, enc, flags, ingest, event) + payload
    out.write(struct.pack("<I", len(body)) + body)
frame(1, 1, 0, 10, 0, b'{"a":1}')
frame(2, 0, 1, 11, 1795514400000000000)
frame(3, 0, 0, 12, 0, b"ckpt")
frame(77, 0, 0x8000, 13, 0, b"xyz")
frame(4, 0, 0, 14, 0, b"")
frame(1, 1, 0, 15, 0, b'{"a":2}')
PY
	run sh -c 'rtai-parse mixed.rtai | rtai-cat -p --meta | jq -c "[._kind // .a, ._kind_code, (._stamps // [] | map(.stage))]"'
	echo "$output"
	assert_success
	assert_output "$(printf '%s\n' '[1,null,[]]' '["watermark",null,[]]' '["barrier",null,[]]' \
		'["unknown",77,[]]' '["marker",null,["rtai-parse"]]' '[2,null,[]]')"
}

@test "parse: SIGTERM ends cleanly with what was parsed" {
	mkfifo in.fifo
	(printf '%s\n' '{"a":1}' | rtai-cat; exec sleep 5) >in.fifo 3>&- &
	feeder=$!
	rtai-parse -v in.fifo >out.rtai 2>err.txt 3>&- &
	pid=$!
	for _ in $(seq 1 50); do
		[ -s out.rtai ] && [ "$(rtai-cat -p out.rtai 2>/dev/null)" = '{"a":1}' ] && break
		sleep 0.1
	done
	kill -TERM $pid
	st=0
	wait $pid || st=$?
	kill $feeder
	[ "$st" -eq 0 ]
	run cat err.txt
	assert_output 'rtai-parse: 1 parsed, 0 skipped, 0 dead-lettered, 0 blank'
	run rtai-cat -p out.rtai
	assert_output '{"a":1}'
}

# ---- the command line -------------------------------------------------------------------

@test "parse: --help lists every option; --version; a bad option exits 2" {
	run rtai-parse --help
	assert_success
	for o in --field --schema --strict --keep --time-field --time-format --on-error \
		--dlq --checkpoint-dir --stage-name --json --max-fields --max-frame --verbose --help \
		--version; do
		assert_output --partial -- "$o"
	done
	run rtai-parse --version
	assert_success
	assert_output --partial "rtai-parse (rtai)"
	run rtai-parse --bogus
	assert_failure 2
	run rtai-parse -t ''
	assert_failure 2
	assert_output --partial "-t: empty field name"
}

@test "parse: the man page examples run" {
	run_man_examples rtai-parse.1
}

@test "parse: --meta unwraps source metadata into _ fields; rtai-window -k _key groups by it" {
	PYTHONPATH=$RTAI_SRC/contrib/python python3 - <<'PY' >m.rtai
import rtai_stream as rs
w = rs.Writer()
for i, (key, v) in enumerate([(b"a", 1), (b"b", 2), (b"a", 3)]):
    meta = rs.encode_record({"topic": "t", "partition": 0, "offset": 40 + i, "key": key,
                             "timestamp": rs.Time(1795514400000000000 + i)})
    w.put(rs.DATA, rs.ENC_JSON, b'{"v":%d}' % v, i, None, meta=meta)
meta = rs.encode_record({"topic": "t", "partition": 0, "offset": 43, "key": b"b",
                         "timestamp": rs.Time(1795514400000000003)})
w.put(rs.DATA, rs.ENC_NONE, b"", 3, None, flags=rs.F_TOMBSTONE, meta=meta)
w.close()
PY
	run sh -c 'rtai-parse --meta m.rtai | rtai-cat -p'
	echo "$output"
	assert_success
	assert_line --index 0 '{"_topic":"t","_partition":0,"_offset":40,"_key":"YQ==","_timestamp":"2026-11-24T10:00:00.000Z","v":1}'
	assert_line --index 3 '{"_topic":"t","_partition":0,"_offset":43,"_key":"Yg==","_timestamp":"2026-11-24T10:00:00.000000003Z","_value":null}'
	# the unwrapped fields are fields: typed, grouped by, time-stamped
	run sh -c 'rtai-parse --meta -t _timestamp -f _offset:int m.rtai | rtai-window -k _key --tumbling 1h -a count -a sum:v | rtai-cat -p | jq -c "[._key, .count, .sum_v]"'
	echo "$output"
	a=$(python3 -c 'import base64; print(base64.b64encode(b"a").decode())')
	b=$(python3 -c 'import base64; print(base64.b64encode(b"b").decode())')
	assert_output "$(printf '%s\n' '["'$a'",2,4]' '["'$b'",2,2]')"
	# without --meta the metadata goes on with the parsed record, and a
	# tombstone goes on as it came
	run sh -c 'rtai-parse m.rtai | rtai-cat -p --meta | jq -c "[._offset, .v, ._value]"'
	echo "$output"
	assert_output "$(printf '%s\n' '[40,1,null]' '[41,2,null]' '[42,3,null]' '[43,null,null]')"
	run sh -c 'rtai-parse -v m.rtai >/dev/null'
	echo "$output"
	assert_output --partial "3 parsed, 0 skipped, 0 dead-lettered, 0 blank, 1 tombstones passed on"
}

@test "parse: --meta refuses a record field that clashes with its metadata" {
	PYTHONPATH=$RTAI_SRC/contrib/python python3 - <<'PY' >m.rtai
import rtai_stream as rs
w = rs.Writer()
w.put(rs.DATA, rs.ENC_JSON, b'{"_topic":"x"}', 0, None, meta=rs.encode_record({"topic": "t"}))
w.close()
PY
	run rtai-parse --meta m.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial 'record 1 (byte 8): field "_topic" is both in the record and in its source metadata'
}

@test "parse: a bytes field takes base64 text (RFC 4648) or bytes" {
	printf '%s\n' '{"k":"AP8="}' '{"k":""}' '{"k":"not base64!"}' >in.jsonl
	run sh -c 'rtai-cat in.jsonl | rtai-parse -f k:bytes --on-error skip -v | rtai-cat -p'
	echo "$output"
	assert_line '{"k":"AP8="}'
	assert_line '{"k":""}'
	assert_output --partial 'record 3 (byte '
	assert_output --partial 'field "k": expected bytes as base64 text, got "not base64!"'
	# the bytes are the decoded ones, not the text (checked by Python's base64)
	rtai-cat in.jsonl | rtai-parse -f k:bytes --on-error skip 2>/dev/null >b.rtai
	run env PYTHONPATH=$RTAI_SRC/contrib/python python3 -c '
import base64, rtai_stream as rs
for f in rs.Reader(open("b.rtai", "rb")):
    if f.kind == rs.DATA:
        v = f.record()["k"]
        print(type(v).__name__, v == base64.b64decode("AP8=") or v == b"")'
	echo "$output"
	assert_output "$(printf '%s\n' 'bytes True' 'bytes True')"
}

@test "parse: -f and --schema write a schema frame first; an upstream one is replaced, or passed on" {
	run sh -c "rtai-cat $RTAI_SRC/tests/data/clicks.jsonl | rtai-parse -f user_id:string -f amount:float? -t event_time --keep user_id,amount,event_time | rtai-cat -p --meta | head -1 | jq -c ._schema"
	echo "$output"
	assert_success
	assert_output '{"fields":[{"name":"user_id","type":"string","optional":false},{"name":"amount","type":"float","optional":true},{"name":"event_time","type":"time","optional":false}],"event_time":"event_time"}'
	# the schema frame's payload is a --schema file, event_time included
	rtai-cat "$RTAI_SRC/tests/data/clicks.jsonl" | rtai-parse -f user_id:string -t event_time |
		rtai-cat -p --meta | head -1 | jq -c ._schema >schema.json
	run sh -c "rtai-cat $RTAI_SRC/tests/data/clicks.jsonl | rtai-parse --schema schema.json | rtai-cat -p | head -1"
	echo "$output"
	assert_output '{"user_id":"u1","event_time":"2026-11-24T10:00:00.000Z","item_id":"i0","action":"view","amount":0.0}'
	# a second rtai-parse with a schema replaces the first one's; without, passes it on
	run sh -c "rtai-cat $RTAI_SRC/tests/data/clicks.jsonl | rtai-parse -f user_id:string | rtai-parse -f amount:float | rtai-cat -p --meta | jq -c 'select(._kind == \"schema\") | ._schema.fields[0].name'"
	echo "$output"
	assert_output '"amount"'
	run sh -c "rtai-cat $RTAI_SRC/tests/data/clicks.jsonl | rtai-parse -f user_id:string | rtai-parse | rtai-cat -p --meta | jq -c 'select(._kind == \"schema\") | ._schema.fields[0].name'"
	echo "$output"
	assert_output '"user_id"'
	# without a schema, none is written
	run sh -c "rtai-cat $RTAI_SRC/tests/data/clicks.jsonl | rtai-parse | rtai-cat -p --meta | jq -r ._kind | sort -u"
	echo "$output"
	assert_output null
}

@test "parse: a --schema file's event_time must be a field name" {
	echo '{"fields":[],"event_time":3}' >s.json
	run rtai-parse --schema s.json
	echo "$output"
	assert_failure 2
	assert_output --partial 'rtai-parse: --schema: s.json: "event_time" must be a field name'
}
