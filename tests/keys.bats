#!/usr/bin/env bats
# The one key rule (rtai(7), "Keys"; lib/key.h): rtai-window -k, --over and
# rtai-join --on group and match records by the text of their key fields.
# The groups are computed independently in Python and compared with each
# tool's.

load common

setup_file() {
	export KEYS_JSONL='{"u":42,"v":1}
{"u":"42","v":2}
{"u":42.0,"v":4}
{"u":true,"v":8}
{"u":"true","v":16}
{"u":1.5,"v":32}
{"u":"1.5","v":64}
{"u":"é","v":128}
{"u":"é","v":256}
{"u":"e","v":512}'
}

# The key text of a JSON value, as key.h defines it.
keytext_py='
import json, math, sys
def text(x):
    if isinstance(x, bool): return "true" if x else "false"
    if isinstance(x, int): return str(x)
    if isinstance(x, float):
        return str(int(x)) if x == math.floor(x) and abs(x) < 9e18 else repr(x)
    return x
'

mkin() {
	n=0
	while IFS= read -r line; do
		n=$((n + 1))
		echo "$n $line"
	done <<<"$KEYS_JSONL" | mkstream in.rtai
}

@test "keys: rtai-window groups ints, strings that look like ints, floats, bools and unicode by text" {
	mkin
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1h -a sum:v <in.rtai | show | sort'
	echo "$output"
	assert_success
	expected=$(python3 -c "$keytext_py"'
first, sums = {}, {}
for line in sys.stdin:
    r = json.loads(line)
    k = text(r["u"])
    first.setdefault(k, r["u"])
    sums[k] = sums.get(k, 0) + r["v"]
for k in sums:
    print(json.dumps({"u": first[k], "window_start": 0, "window_end": 3600, "sum_v": sums[k]},
                     separators=(",", ":")))
' <<<"$KEYS_JSONL" | sort)
	echo "expected: $expected"
	[ "$(echo "$output" | wc -l)" -eq 5 ]
	assert_output "$expected"
}

@test "keys: --over keeps one range per key text" {
	mkin
	run bash -o pipefail -c 'rtai-window -k u --over 1h -a sum:v <in.rtai | show'
	echo "$output"
	assert_success
	expected=$(python3 -c "$keytext_py"'
sums = {}
for line in sys.stdin:
    r = json.loads(line)
    k = text(r["u"])
    sums[k] = sums.get(k, 0) + r["v"]
    r["sum_v"] = sums[k]
    print(json.dumps(r, separators=(",", ":")))
' <<<"$KEYS_JSONL")
	assert_output "$expected"
}

@test "keys: rtai-join matches the same key texts" {
	mkin
	cat >t.jsonl <<-'EOF'
	{"id":"42","g":"A"}
	{"id":"true","g":"B"}
	{"id":1.5,"g":"C"}
	{"id":"é","g":"D"}
	EOF
	run bash -o pipefail -c 'rtai-join -t t.jsonl --on u --table-key id <in.rtai | show'
	echo "$output"
	assert_success
	expected=$(python3 -c "$keytext_py"'
rows = {}
with open("t.jsonl") as f:
    for line in f:
        r = json.loads(line)
        rows[text(r["id"])] = r["g"]
for line in sys.stdin:
    r = json.loads(line)
    g = rows.get(text(r["u"]))
    if g is not None:
        r["g"] = g
    print(json.dumps(r, separators=(",", ":")))
' <<<"$KEYS_JSONL")
	assert_output "$expected"
}

@test "keys: a null key field is no key, in all three tools" {
	mkstream in.rtai <<-'EOF'
	1 {"u":"a","v":1}
	2 {"u":null,"v":2}
	EOF
	echo '{"id":"a","g":"A"}' >t.jsonl
	run sh -c 'rtai-window -k u --tumbling 1h <in.rtai >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output --partial 'stdin: record 2: field "u": null (a key field)'
	run sh -c 'rtai-window -k u --over 1h <in.rtai >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output --partial 'stdin: record 2: field "u": null (a key field)'
	run sh -c 'rtai-join -t t.jsonl --on u --table-key id <in.rtai >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output --partial 'record 2: field "u": null (--on): no key'
	run bash -o pipefail -c 'rtai-join -t t.jsonl --on u --table-key id --on-error skip <in.rtai 2>/dev/null | show'
	echo "$output"
	assert_success
	assert_output '{"u":"a","v":1,"g":"A"}'
}
