#!/usr/bin/env bats
# rtai-map: filters, derived fields, projections and scripts in Lua, checked
# against jq and Python computing the same thing on the same JSON; types and
# times that survive; errors at start and on chosen records.

load common

setup_local() {
	sample_clicks >clicks.jsonl
	rtai-cat clicks.jsonl | rtai-parse -t event_time >typed.rtai
}

# py CODE: runs Python with rtai_stream importable.
py() {
	PYTHONPATH="$RTAI_SRC/contrib/python" python3 -c "$@"
}

# ---- options, help, man --------------------------------------------------------

@test "map: --help lists every option on stdout, exit 0; --version; a bad option exits 2" {
	run rtai-map --help
	echo "$output"
	assert_success
	for o in --where --set --drop --rename --keep --script --no-sandbox --on-error \
		--dlq --max-frame --verbose --help --version; do
		assert_output --partial -- "$o"
	done
	run rtai-map --version
	assert_success
	assert_output --partial "rtai-map (rtai)"
	run rtai-map --bogus
	echo "$output"
	assert_failure 2
	assert_output --partial "rtai-map --help"
}

@test "map: the examples of rtai-map(1) run" {
	run_man_examples rtai-map.1
}

@test "map: usage errors exit 2 with what was expected" {
	for args in "" "-s x" "-s :int=1" "-s x:uint=1" "-r a" "-r =b" "-d ''" "--keep a,,b" \
		"-d _event_time" "-s _ingest_time=1" "-s _event_time:int=1" "-r _ingest_time=x" \
		"--on-error maybe -w true" "--dlq x.rtai --on-error skip -w true" \
		"--on-error dlq -w true" "--no-sandbox -w true" \
		"--script a.lua --script b.lua" "--max-frame 0 -w true"; do
		run sh -c "rtai-map $args <typed.rtai >/dev/null"
		echo "[$args] $output"
		assert_failure 2
		assert_output --partial "rtai-map: "
	done
	run rtai-map
	assert_output --partial "nothing to do"
	run rtai-map -s x
	assert_output --partial "expected NAME=EXPR"
	run rtai-map -s x:uint=1
	assert_output --partial "unknown type 'uint'"
}

# ---- filters and derived fields, checked against jq ----------------------------

# same_json A B: the two files hold the same JSON values line by line
# (numbers compared as Python reads them: 24.750000000000004 == 24.750000000000004).
same_json() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b), (len(a), len(b))
for i, (x, y) in enumerate(zip(a, b)):
    assert x == y, (i, x, y)
print(len(a), "lines agree")
EOF
}

@test "map: -w and -s agree with jq's select and assignment" {
	rtai-map -w 'amount > 10' -s 'amount_usd=amount * 1.1' <typed.rtai | rtai-cat -p |
		jq -c 'del(.event_time)' >map.json
	jq -c 'select(.amount > 10) | .amount_usd = .amount * 1.1 | del(.event_time)' clicks.jsonl >jq.json
	run same_json map.json jq.json
	echo "$output"
	assert_success
	assert_output "13 lines agree"
}

@test "map: several -w combine with and" {
	rtai-map -w 'amount > 5' -w 'action ~= "view"' -w 'user_id == "u2" or user_id == "u3"' \
		<typed.rtai | rtai-cat -p | jq -c '[.user_id, .amount]' >map.json
	jq -c 'select(.amount > 5 and .action != "view" and (.user_id == "u2" or .user_id == "u3")) | [.user_id, .amount]' \
		clicks.jsonl >jq.json
	run cat map.json
	echo "$output"
	[ -s map.json ]
	cmp map.json jq.json
}

@test "map: Lua's truth: 0 and \"\" are true, nil and false are not" {
	run sh -c "rtai-map -w '0' -w '\"\"' <typed.rtai | rtai-cat -p | wc -l"
	assert_output 20
	run sh -c "rtai-map -w 'nil' <typed.rtai | rtai-cat -p | wc -l"
	assert_output 0
	run sh -c "rtai-map -w 'amount > 1e9' <typed.rtai | rtai-cat -p | wc -l"
	assert_output 0
}

@test "map: operations run in the order given, each seeing the last" {
	run sh -c "rtai-map -s 'a=amount*2' -w 'a > 50' -s 'b=a+1' -r b=c -d a --keep user_id,c <typed.rtai | rtai-cat -p"
	echo "$output"
	assert_success
	jq -c 'select(.amount * 2 > 50) | {user_id, c: (.amount * 2 + 1)}' clicks.jsonl >jq.json
	echo "$output" >map.json
	same_json map.json jq.json
}

@test "map: -d, -r and --keep agree with jq; absent names change nothing" {
	rtai-map -d item_id -d nosuch -r action=kind -r nosuch=x <typed.rtai | rtai-cat -p |
		jq -c 'del(.event_time)' >map.json
	jq -c 'del(.item_id, .event_time) | with_entries(if .key == "action" then .key = "kind" else . end)' \
		clicks.jsonl >jq.json
	same_json map.json jq.json
	rtai-map --keep amount,user_id,nosuch <typed.rtai | rtai-cat -p >map.json
	jq -c '{user_id, amount}' clicks.jsonl >jq.json
	same_json map.json jq.json
	# Renaming onto an existing name replaces that field, in the old one's place.
	run sh -c "echo '{\"a\":1,\"b\":2,\"c\":3}' | rtai-cat | rtai-parse | rtai-map -r c=a | rtai-cat -p"
	assert_output '{"b":2,"a":3}'
}

@test "map: fields with odd names through r[...]; helpers win over fields by bare name" {
	run sh -c "echo '{\"user-id\":\"u1\",\"hour\":99,\"t\":\"2026-11-24T22:30:00Z\"}' | rtai-cat | rtai-parse -t t \
		| rtai-map -s 'u=r[\"user-id\"] .. \"!\"' -s 'h=r.hour' -s 'hh=hour(t)' | rtai-cat -p"
	echo "$output"
	assert_success
	assert_output '{"user-id":"u1","hour":99,"t":"2026-11-24T22:30:00.000Z","u":"u1!","h":99,"hh":22}'
}

# ---- types survive ----------------------------------------------------------------

@test "map: untouched fields and frames leave byte for byte" {
	# Only -w: every frame as it came, the stream identical.
	rtai-map -w true <typed.rtai >same.rtai
	# (all but the stamp of the end-of-stream frame, each writer's own)
	cmp -n $(($(stat -c %s typed.rtai) - 16)) typed.rtai same.rtai
	# A field set then dropped: every record re-encoded, yet identical,
	# ingest and event times included.
	rtai-map -s 'x=amount * 3' -s 'y=user_id .. "?"' -d x -d y <typed.rtai >again.rtai
	cmp -n $(($(stat -c %s typed.rtai) - 16)) typed.rtai again.rtai
}

@test "map: ingest and event times pass unchanged; _event_time sets or clears the event time" {
	rtai-cat -p --meta typed.rtai | jq -c '[._ingest_time, ._event_time]' >before.json
	rtai-map -s 'x=1' <typed.rtai | rtai-cat -p --meta | jq -c '[._ingest_time, ._event_time]' >after.json
	cmp before.json after.json
	run sh -c "rtai-map -s '_event_time=event_time + 3600' <typed.rtai | rtai-cat -p --meta | head -1 | jq -c '[._event_time, .event_time]'"
	echo "$output"
	assert_output '["2026-11-24T11:00:00.000Z","2026-11-24T10:00:00.000Z"]'
	run sh -c "rtai-map -s '_event_time=nil' <typed.rtai | rtai-cat -p --meta | head -1 | jq -c '._event_time'"
	assert_output null
	run sh -c "rtai-map -s '_event_time:time=\"2026-01-01T00:00:00Z\"' -s 'lag=_ingest_time - _event_time > 0' <typed.rtai | rtai-cat -p --meta | head -1 | jq -c '[._event_time, .lag]'"
	echo "$output"
	assert_output '["2026-01-01T00:00:00.000Z",true]'
}

@test "map: an int64 above 2^53 stays exact, in and out of Lua" {
	printf '{"id":9007199254740993,"neg":-9223372036854775808,"small":41}\n' | rtai-cat | rtai-parse >big.rtai
	rtai-map -s 'id2=id' -s 'id3=id + 1' -s 'neg2=neg' -s 'small=small + 1' -s 'same=id == 9007199254740993LL' \
		<big.rtai | rtai-cat -p >out.json
	cat out.json
	run python3 -c "
import json
r = json.load(open('out.json'))
assert r['id2'] == 9007199254740993 and r['id3'] == 9007199254740994, r
assert r['neg2'] == -9223372036854775808 and r['small'] == 42 and r['same'] is True, r
print('exact')"
	echo "$output"
	assert_output exact
}

@test "map: typed sets convert or fail; untyped ones follow the value and the old type" {
	run sh -c "rtai-map -s 'a:int=\"42\"' -s 'b:float=3' -s 'c:string=amount' -s 'd:bool=nil' \
		-s 'e:json=\"[1,2]\"' -s 'f:time=0' -s 'amount=amount*2' -s 'g=2.5*2' -s 'h=\"x\"' <typed.rtai \
		| rtai-cat -p | head -1"
	echo "$output"
	assert_output '{"user_id":"u1","item_id":"i0","action":"view","amount":0.0,"event_time":"2026-11-24T10:00:00.000Z","a":42,"b":3.0,"c":"0","d":false,"e":[1,2],"f":"1970-01-01T00:00:00.000Z","g":5,"h":"x"}'
	run sh -c "rtai-map -s 'a:int=amount' <typed.rtai >/dev/null"
	echo "$output"
	assert_failure 1
	assert_output --partial "record 2 (byte "
	assert_output --partial "-s 'a:int=amount': expected an int, got 1.5"
	for e in 'x=1/0' 'x={}' 'x=tostring' 'x:json="{"'; do
		run sh -c "rtai-map -s '$e' <typed.rtai >/dev/null"
		echo "$e: $output"
		assert_failure 1
		assert_output --partial "record 1 (byte 8)"
	done
}

@test "map: JSON payloads (no rtai-parse) are read as records" {
	run sh -c "rtai-cat clicks.jsonl | rtai-map -w 'amount >= 27' -s 'x=amount + 1' | rtai-cat -p"
	echo "$output"
	assert_success
	assert_line --index 0 '{"user_id":"u1","item_id":"i3","action":"view","amount":27.0,"event_time":"2026-11-24T10:00:54Z","x":28}'
	# Unchanged JSON payloads pass as they came.
	run sh -c "rtai-cat clicks.jsonl | rtai-map -w 'amount >= 28' | rtai-cat -p"
	assert_output "$(tail -1 clicks.jsonl)"
}

# ---- times ---------------------------------------------------------------------------

@test "map: time helpers agree with Python's zoneinfo" {
	printf '%s\n' 2026-03-29T00:30:00Z 2026-03-29T01:30:00Z 2026-11-24T23:59:59.999Z \
		2026-12-31T23:00:00Z 1969-12-31T23:59:59Z |
		while read -r t; do echo "{\"t\":\"$t\"}"; done | rtai-cat | rtai-parse -t t >t.rtai
	rtai-map --keep t -s 'h=hour(t)' -s 'hp=hour(t, "Europe/Paris")' -s 'm=minute(t, "Asia/Kolkata")' \
		-s 'd=dow(t)' -s 'dn=dow(t, "America/New_York")' -s 'day=date(t, "Pacific/Auckland")' \
		-s 'f=format_time(t, "%Y-%m-%d %H:%M %Z", "Europe/Paris")' -s 'iso=format_time(t)' \
		-s 'back=parse_time(format_time(t)) == t' -s 'ms=parse_time(1795514400000)' \
		<t.rtai | rtai-cat -p >map.json
	cat map.json
	run python3 - <<'EOF'
import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
for line in open("map.json"):
    r = json.loads(line)
    t = datetime.fromisoformat(r["t"].replace("Z", "+00:00"))
    z = lambda n: t.astimezone(ZoneInfo(n))
    assert r["h"] == t.hour and r["hp"] == z("Europe/Paris").hour, r
    assert r["m"] == z("Asia/Kolkata").minute, r
    assert r["d"] == t.isoweekday() and r["dn"] == z("America/New_York").isoweekday(), r
    assert r["day"] == z("Pacific/Auckland").strftime("%Y-%m-%d"), r
    assert r["f"] == z("Europe/Paris").strftime("%Y-%m-%d %H:%M %Z"), r
    assert r["iso"] == r["t"] and r["back"] is True, r
    assert r["ms"] == 1795514400, r
print("agree")
EOF
	echo "$output"
	assert_output agree
	run sh -c "rtai-map -s 'h=hour(t, \"Mars/Olympus\")' <t.rtai >/dev/null"
	echo "$output"
	assert_failure 1
	assert_output --partial 'unknown time zone "Mars/Olympus"'
	run sh -c "rtai-map -s 'h=parse_time(\"yesterday\")' <t.rtai >/dev/null"
	assert_failure 1
	assert_output --partial 'yesterday'
}

# ---- scripts -------------------------------------------------------------------------

@test "map: --script returns r, nil, a table or a list, keeping state; agrees with Python" {
	cat >s.lua <<'EOF'
local total = {}
function map(r)
  if r.action == "view" then return nil end
  total[r.user_id] = (total[r.user_id] or 0) + r.amount
  r.running = total[r.user_id]
  r.item_id = nil
  if r.action == "buy" then
    return {r, {user_id = r.user_id, kind = "receipt", _event_time = r.event_time + 60}}
  end
  return r
end
EOF
	rtai-map --script s.lua <typed.rtai | rtai-cat -p --meta | jq -c 'del(._ingest_time)' >map.json
	python3 - <<'EOF' >py.json
import json
from datetime import datetime, timedelta
total = {}
for line in open("clicks.jsonl"):
    r = json.loads(line)
    if r["action"] == "view":
        continue
    t = datetime.fromisoformat(r["event_time"].replace("Z", "+00:00"))
    iso = lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    total[r["user_id"]] = total.get(r["user_id"], 0) + r["amount"]
    out = {"_event_time": iso(t), "user_id": r["user_id"], "action": r["action"],
           "amount": r["amount"], "event_time": iso(t), "running": total[r["user_id"]]}
    print(json.dumps(out))
    if r["action"] == "buy":
        print(json.dumps({"_event_time": iso(t + timedelta(seconds=60)), "kind": "receipt", "user_id": r["user_id"]}))
EOF
	run same_json map.json py.json
	echo "$output"
	assert_success
	assert_output "19 lines agree"
}

@test "map: a script may return a function; bad returns and errors fail the record" {
	echo 'return function(r) r.n = 1; return {} end' >empty.lua
	run sh -c "rtai-map --script empty.lua <typed.rtai | rtai-cat -p | wc -l"
	assert_output 0
	for body in 'return 5' 'return {1}' 'return {{[1]=2, x=1}}' 'return {r, "x"}' 'error("boom")' \
		'r._ingest_time = 1' 'return {x = {}}'; do
		printf 'return function(r) %s end\n' "$body" >bad.lua
		run sh -c "rtai-map --script bad.lua <typed.rtai >/dev/null"
		echo "$body: $output"
		assert_failure 1
		assert_output --partial "stdin: record 1 (byte 8): --script bad.lua: "
	done
	echo 'x = = 1' >syntax.lua
	run rtai-map --script syntax.lua
	echo "$output"
	assert_failure 2
	assert_output --partial "syntax.lua:1:"
	echo 'local x = 1' >nofn.lua
	run rtai-map --script nofn.lua
	assert_failure 2
	assert_output --partial "neither returns a function nor defines map(r)"
	echo 'error("at load")' >loaderr.lua
	run rtai-map --script loaderr.lua
	assert_failure 2
	assert_output --partial "at load"
	run rtai-map --script nosuch.lua
	assert_failure 2
	assert_output --partial "nosuch.lua"
}

@test "map: the sandbox: no io, os, require or load, unless --script --no-sandbox" {
	for e in 'io.open("/etc/passwd")' 'os.execute("true")' 'require("ffi")' 'load("return 1")' \
		'loadstring("return 1")' 'dofile("/dev/null")' 'getfenv(0)' 'debug.getinfo(1)'; do
		run sh -c "rtai-map -w '$e' <typed.rtai >/dev/null"
		echo "$e: $output"
		assert_failure 1
		assert_output --partial "outside the sandbox"
	done
	echo 'function map(r) r.has_io = io ~= nil; r.has_os = os ~= nil; return r end' >probe.lua
	run sh -c "rtai-map --script probe.lua <typed.rtai | rtai-cat -p | head -1 | jq -c '[.has_io, .has_os]'"
	assert_output '[false,false]'
	cat >io.lua <<'EOF'
local f = assert(io.open("lines.txt", "w"))
function map(r) f:write(r.user_id, "\n"); f:flush(); return r end
EOF
	rtai-map --script io.lua --no-sandbox <typed.rtai >/dev/null
	jq -r .user_id clicks.jsonl >want.txt
	cmp lines.txt want.txt
}

# ---- errors on records ------------------------------------------------------------------

@test "map: hostile records: runtime errors on chosen records, per policy, with record numbers" {
	# Records 3 and 7 have a string amount, record 5 none at all.
	jq -c 'if input_line_number == 3 or input_line_number == 7 then .amount = "x"
		elif input_line_number == 5 then del(.amount) else . end' clicks.jsonl |
		rtai-cat | rtai-parse -t event_time >hostile.rtai
	run sh -c "rtai-map -s 'double=amount * 2' <hostile.rtai >out.rtai"
	echo "$output"
	assert_failure 1
	assert_output --partial "rtai-map: stdin: record 3 (byte "
	assert_output --partial "attempt to perform arithmetic on field 'amount' (a string value)"
	assert_output --partial "use --on-error skip"
	run sh -c "rtai-cat -p out.rtai 2>err | wc -l"
	assert_output 2
	# stopped by the error, the output is not a finished stream
	run cat err
	assert_output --partial "rtai-cat: out.rtai: byte 257: the stream was cut"
	run sh -c "rtai-map -v --on-error skip -s 'double=amount * 2' <hostile.rtai | rtai-cat -p | wc -l"
	echo "$output"
	assert_output --partial "record 3 "
	assert_output --partial "record 5 "
	assert_output --partial "record 7 "
	assert_output --partial "20 records in, 17 out, 0 filtered out, 3 skipped, 0 dead-lettered"
	assert_line --index 4 17
	run sh -c "rtai-map --dlq dlq.rtai -s 'double=amount * 2' <hostile.rtai | rtai-cat -p | wc -l"
	echo "$output"
	assert_success
	assert_output --partial "3 dead-lettered; first: stdin: record 3"
	run sh -c "rtai-cat -p dlq.rtai | jq -c '[.item_id, .amount, ._error]'"
	echo "$output"
	assert_line --index 0 '["i2","x","attempt to perform arithmetic on field '"'"'amount'"'"' (a string value)"]'
	assert_line --index 1 '["i4",null,"attempt to perform arithmetic on field '"'"'amount'"'"' (a nil value)"]'
	assert_line --index 2 '["i1","x","attempt to perform arithmetic on field '"'"'amount'"'"' (a string value)"]'
}

@test "map: hostile expressions: every bad one stops at start with status 2, never a crash" {
	for e in 'amount >' '(' ')' 'end' 'a b' '"abc' "'" '[[' 'function' 'return 1' 'x = 1' \
		'1 +* 2' '--' 'a..' '{' 'r[' '\' "$(printf 'a\001')" 'amount > > 3' \
		"$(head -c 300 /dev/zero | tr '\0' '(')"; do
		run rtai-map -w "$e"
		echo "[${e:0:40}] $output"
		assert_failure 2
		assert_output --partial "syntax error"
	done
	run rtai-map -w 'amount > > 3'
	assert_output --partial "-w 'amount > > 3': syntax error: column 10: unexpected symbol near '>'"
	run rtai-map -s 'x=(amount + )'
	assert_output --partial "column 11: unexpected symbol near ')'"
	run rtai-map -w 'amount >'
	assert_output --partial "column 9: unexpected symbol at the end of the expression"
	run rtai-map -w "$(printf 'a and\nb > = 1')"
	assert_output --partial "line 2, column 5: unexpected symbol near '='"
}

@test "map: runtime errors that are not syntax: assignment, error(), a record that is not one" {
	run sh -c "rtai-map -w '(function() x = 1 end)()' <typed.rtai >/dev/null"
	echo "$output"
	assert_failure 1
	assert_output --partial "cannot assign to 'x' in an expression"
	run sh -c "rtai-map -w 'error(\"custom\")' <typed.rtai >/dev/null"
	assert_failure 1
	assert_output --partial "custom"
	run sh -c "printf 'not json\n{\"a\":1}\n' | rtai-cat | rtai-map -w 'a == 1' --on-error skip | rtai-cat -p"
	echo "$output"
	assert_success
	assert_output --partial '{"a":1}'
	assert_output --partial "1 skipped"
}

@test "map: every record failing exits 5; a filter dropping all exits 0" {
	run sh -c "rtai-map --on-error skip -s 'x=nosuch + 1' <typed.rtai >/dev/null"
	echo "$output"
	assert_failure 5
	assert_output --partial "20 skipped"
	run sh -c "rtai-map -w false <typed.rtai >/dev/null"
	assert_success
}

@test "map: an expression that never finds a field it reads is warned about at the end" {
	run sh -c "rtai-map -w 'amout == nil' -w 'true' -s 'x=amount' <typed.rtai >/dev/null"
	echo "$output"
	assert_success
	assert_output "rtai-map: warning: -w 'amout == nil': no record had a field \"amout\" (nor any other field it reads): a misspelt name?"
}

# ---- the stream ---------------------------------------------------------------------------

@test "map: watermarks, markers, unknown kinds pass in order; a schema only when records keep their shape" {
	py '
import json, rtai_stream as rs, sys
w = rs.Writer(open("mixed.rtai", "wb"))
w.put(6, rs.ENC_JSON, b"{\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}", 1, None)
w.write_record({"a": 1}, ingest_ns=2, event_ns=10**9)
w.put(rs.WATERMARK, rs.ENC_NONE, b"", 3, 2 * 10**9)
w.put(rs.MARKER, rs.ENC_NONE, b"", 4, None)
w.put(77, rs.ENC_RAW, b"future", 5, None)
w.write_record({"a": 2}, ingest_ns=6, event_ns=3 * 10**9)
w.close()'
	run sh -c "rtai-map -w 'a > 1' <mixed.rtai | rtai-cat -p --meta | jq -c '[._kind // .a]'"
	echo "$output"
	assert_output "$(printf '%s\n' '["schema"]' '["watermark"]' '["marker"]' '["unknown"]' '[2]')"
	run sh -c "rtai-map -w 'a > 1' <mixed.rtai | python3 $RTAI_SRC/tests/streamtool.py show -w"
	assert_line --index 0 "kind 6"
	run sh -c "rtai-map -s 'b=a' <mixed.rtai | python3 $RTAI_SRC/tests/streamtool.py show -w"
	echo "$output"
	refute_line "kind 6"
	assert_line --index 0 '{"a":1,"b":1}'
	run sh -c "rtai-map -w true <mixed.rtai | rtai-cat -p --meta | grep marker"
	assert_output --partial '"stage":"rtai-map"'
}

@test "map: a lone record leaves at once, while the input stays open" {
	mkfifo in
	(rtai-cat typed.rtai 2>/dev/null | head -c 200 >/dev/null; sample_clicks | head -1 | rtai-cat; sleep 3) >in &
	rtai-map -s 'x=1' <in | rtai-cat -p >out &
	for _ in $(seq 1 60); do
		[ -s out ] && break
		sleep 0.05
	done
	run cat out
	echo "$output"
	assert_output --partial '"x":1'
	wait
}

@test "map: several inputs in turn; an unreadable one is reported, the rest mapped" {
	run bash -o pipefail -c "rtai-map -w 'amount > 27' typed.rtai nosuch.rtai typed.rtai | rtai-cat -p"
	echo "$output"
	assert_failure 1
	assert_output --partial "nosuch.rtai"
	[ "$(echo "$output" | grep -c '"amount":28.5')" -eq 2 ]
	head -c 100 typed.rtai >cut.rtai
	run sh -c "rtai-map -w true --max-frame 1000 cut.rtai >/dev/null"
	echo "$output"
	assert_failure 4
	assert_output --partial "cut.rtai: byte 8: the stream was cut"
}

@test "map: SIGHUP and SIGUSR1 are ignored; SIGTERM drains: it ends cleanly when its input ends" {
	mkfifo in
	(sample_clicks | head -2 | rtai-cat; sleep 1; sample_clicks | tail -1 | rtai-cat; exec sleep 30) >in &
	feeder=$!
	rtai-map -s 'x=1' <in >out.rtai 2>err.txt &
	pid=$!
	for _ in $(seq 1 60); do
		[ "$(rtai-cat -p out.rtai 2>/dev/null | wc -l)" -ge 2 ] && break
		sleep 0.05
	done
	kill -HUP $pid
	kill -USR1 $pid
	for _ in $(seq 1 60); do
		[ "$(rtai-cat -p out.rtai 2>/dev/null | wc -l)" -ge 3 ] && break
		sleep 0.05
	done
	kill -0 $pid
	kill -TERM $pid
	# A stage drains (rtai(7), SIGNALS): it reads on until its input ends.
	sleep 0.2
	kill -0 $pid
	kill $feeder 2>/dev/null || true
	st=0
	wait $pid || st=$?
	echo "status $st: $(cat err.txt)"
	[ "$st" -eq 0 ]
	run sh -c "rtai-cat -p out.rtai | jq -c '[.item_id, .x]'"
	echo "$output"
	assert_output "$(printf '%s\n' '["i0",1]' '["i1",1]' '["i4",1]')"
}
