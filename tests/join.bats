#!/usr/bin/env bats
# rtai-join: tables, changelogs, point in time, Redis.

load common

setup_local() {
	cp "$RTAI_SRC/tests/data/users.jsonl" "$RTAI_SRC/tests/data/users-history.jsonl" .
}

teardown_local() {
	exec 5>&- 6>&-
	redis_stop
}

# events: JSON lines on stdin to typed records with event times from "ts".
events() {
	rtai-cat | rtai-parse -t ts
}

# clicks N: the first N sample clicks as typed records, event_time as time.
clicks() {
	sample_clicks | head -"$1" | rtai-cat | rtai-parse -t event_time
}

# wait_lines FILE N: waits (at most 10 s) until FILE has N lines.
wait_lines() {
	local i
	for i in $(seq 1 200); do
		[ "$(wc -l <"$1")" -ge "$2" ] && return 0
		sleep 0.05
	done
	echo "timed out waiting for line $2 of $1:"
	cat "$1"
	return 1
}

# ---- tables ----------------------------------------------------------------

@test "join: left join adds the row's fields and passes unmatched records on" {
	clicks 3 >in.rtai
	run sh -c 'rtai-join -t users.jsonl --on user_id <in.rtai | rtai-cat -p'
	echo "$output"
	assert_success
	assert_line --index 0 '{"user_id":"u1","item_id":"i0","action":"view","amount":0.0,"event_time":"2026-11-24T10:00:00.000Z","country":"FR","tier":"gold"}'
	assert_line --index 1 '{"user_id":"u2","item_id":"i1","action":"click","amount":1.5,"event_time":"2026-11-24T10:00:03.000Z","country":"DE","tier":"free"}'
	assert_line --index 2 '{"user_id":"u3","item_id":"i2","action":"buy","amount":3.0,"event_time":"2026-11-24T10:00:06.000Z"}'
	[ "${#lines[@]}" -eq 3 ]
}

@test "join: a --fields name that no table row has is named at the end (a typo)" {
	run sh -c "rtai-cat $RTAI_SRC/tests/data/clicks.jsonl | rtai-parse \
		| rtai-join -t users.jsonl --on user_id --fields teir,country 2>err | rtai-cat -p | head -1"
	echo "$output"
	assert_output '{"user_id":"u1","item_id":"i0","action":"view","amount":0.0,"event_time":"2026-11-24T10:00:00Z","country":"FR"}'
	run cat err
	echo "$output"
	assert_output 'rtai-join: --fields: field "teir" occurred in no row of the table (misspelt?)'
	run sh -c "rtai-cat $RTAI_SRC/tests/data/clicks.jsonl | rtai-parse \
		| rtai-join -t users.jsonl --on user_id --fields tier,country 2>&1 >/dev/null"
	assert_output ''
}

@test "join: --inner drops records without a match; times and frames kept" {
	clicks 3 >in.rtai
	rtai-join -t users.jsonl --on user_id --inner <in.rtai >out.rtai
	run rtai-cat -p out.rtai
	echo "$output"
	[ "${#lines[@]}" -eq 2 ]
	assert_line --index 1 --partial '"user_id":"u2"'
	run sh -c 'rtai-cat -p --meta out.rtai | jq -r ._event_time'
	assert_output "$(printf '2026-11-24T10:00:00.000Z\n2026-11-24T10:00:03.000Z')"
	run sh -c 'rtai-cat -p --meta in.rtai | head -1 | jq -r ._ingest_time'
	ingest=$output
	run sh -c 'rtai-cat -p --meta out.rtai | head -1 | jq -r ._ingest_time'
	assert_output "$ingest"
}

@test "join: JSON records (not parsed) join too; unmatched ones pass unchanged" {
	run sh -c "printf '%s\n' '{\"user_id\":\"u2\",\"n\":1}' '{\"user_id\":\"u9\",\"n\":2}' | rtai-cat | rtai-join -t users.jsonl -k user_id | rtai-cat -p"
	echo "$output"
	assert_success
	assert_output "$(printf '%s\n' '{"user_id":"u2","n":1,"country":"DE","tier":"free"}' '{"user_id":"u9","n":2}')"
}

@test "join: multi-field keys, --table-key, and keys compared as text" {
	cat >aff.jsonl <<'EOF'
{"uid":"u1","item":"i0","affinity":0.9}
{"uid":"u1","item":"i1","affinity":0.2}
{"uid":"u2","item":"i0","affinity":0.5}
{"uid":"7","item":"42","affinity":0.7}
EOF
	cat >ev.jsonl <<'EOF'
{"user_id":"u1","item_id":"i1"}
{"user_id":"u2","item_id":"i1"}
{"user_id":"u2","item_id":"i0"}
{"user_id":7,"item_id":42.0}
{"user_id":"u1i","item_id":"1"}
EOF
	run sh -c 'rtai-cat ev.jsonl | rtai-parse | rtai-join -t aff.jsonl --on user_id,item_id --table-key uid,item | rtai-cat -p'
	echo "$output"
	assert_success
	assert_output "$(cat <<'EOF'
{"user_id":"u1","item_id":"i1","affinity":0.2}
{"user_id":"u2","item_id":"i1"}
{"user_id":"u2","item_id":"i0","affinity":0.5}
{"user_id":7,"item_id":42.0,"affinity":0.7}
{"user_id":"u1i","item_id":"1"}
EOF
)"
}

@test "join: --fields picks row fields; a clash keeps the stream's value; --prefix renames" {
	cat >t.jsonl <<'EOF'
{"user_id":"u1","action":"from-table","tier":"gold","country":"FR"}
EOF
	echo '{"user_id":"u1","action":"view"}' | rtai-cat | rtai-parse >in.rtai
	run sh -c 'rtai-join -t t.jsonl --on user_id <in.rtai | rtai-cat -p'
	echo "$output"
	assert_output '{"user_id":"u1","action":"view","tier":"gold","country":"FR"}'
	run sh -c 'rtai-join -t t.jsonl --on user_id --fields country,action,nosuch <in.rtai 2>err | rtai-cat -p'
	echo "$output"
	assert_output '{"user_id":"u1","action":"view","country":"FR"}'
	run cat err
	assert_output 'rtai-join: --fields: field "nosuch" occurred in no row of the table (misspelt?)'
	run sh -c 'rtai-join -t t.jsonl --on user_id --prefix user_ <in.rtai | rtai-cat -p'
	echo "$output"
	assert_output '{"user_id":"u1","action":"view","user_action":"from-table","user_tier":"gold","user_country":"FR"}'
	run sh -c 'rtai-join -t t.jsonl --on user_id --fields user_id,tier --prefix p. <in.rtai | rtai-cat -p'
	echo "$output"
	assert_output '{"user_id":"u1","action":"view","p.user_id":"u1","p.tier":"gold"}'
}

@test "join: the table may be an rtai stream, zstd-compressed or not; later rows win" {
	printf '%s\n' '{"user_id":"u1","tier":"old"}' '{"user_id":"u1","tier":"new"}' >t.jsonl
	rtai-cat t.jsonl | rtai-parse >t.rtai
	rtai-cat -o t.rtai.zst t.jsonl
	zstd -q t.jsonl -o t.jsonl.zst
	echo '{"user_id":"u1"}' | rtai-cat >in.rtai
	for t in t.jsonl t.rtai t.rtai.zst t.jsonl.zst; do
		run sh -c "rtai-join -t $t --on user_id <in.rtai | rtai-cat -p"
		echo "$t: $output"
		assert_output '{"user_id":"u1","tier":"new"}'
	done
}

@test "join: -v reports rows, versions, hits and misses" {
	clicks 6 >in.rtai
	run sh -c 'rtai-join -v -t users.jsonl --on user_id <in.rtai 2>&1 >/dev/null'
	echo "$output"
	assert_success
	assert_line --index 0 --regexp '^rtai-join: users.jsonl: 2 rows, 2 versions, loaded in '
	assert_line --index 1 'rtai-join: table: 2 rows, 2 versions, 2 keys; records: 6, hits 4, misses 2, skipped 0; changes: 2 upserts, 0 deletes, 0 tombstones, 0 truncates, 0 skipped'
}

@test "join: a null key is no key (skipped here); watermarks, markers and unknown frames pass in order" {
	PYTHONPATH=$RTAI_SRC/contrib/python python3 - <<'PY' >in.rtai
import rtai_stream as rs
w = rs.Writer()
w.write_record({"user_id": "u1"}, event_ns=1)
w.put(rs.WATERMARK, rs.ENC_NONE, event_ns=5)
w.write_record({"user_id": None}, event_ns=6)
w.put(77, rs.ENC_NONE, b"opaque")
w.put(rs.MARKER, rs.ENC_NONE, ingest_ns=9)
w.write_record({"user_id": "u2"}, event_ns=7)
PY
	run sh -c 'rtai-join -t users.jsonl --on user_id --on-error skip <in.rtai 2>/dev/null | rtai-cat -p --meta | jq -c "[._kind, .user_id, .tier, ._event_time, (._stamps // [] | map(.stage))]"'
	echo "$output"
	assert_success
	assert_output "$(cat <<'EOF'
[null,"u1","gold","1970-01-01T00:00:00.000000001Z",[]]
["watermark",null,null,"1970-01-01T00:00:00.000000005Z",[]]
["unknown",null,null,null,[]]
["marker",null,null,null,["rtai-join"]]
[null,"u2","free","1970-01-01T00:00:00.000000007Z",[]]
EOF
)"
}

# ---- bad input --------------------------------------------------------------

@test "join: a malformed table line is an error naming the file and line" {
	printf '%s\n' '{"user_id":"u1","tier":"a"}' '{"user_id":"u2",' '{"user_id":"u3","tier":"c"}' >t.jsonl
	echo '{"user_id":"u3"}' | rtai-cat >in.rtai
	run rtai-join -t t.jsonl --on user_id <in.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial "rtai-join: t.jsonl: line 2: invalid JSON at column"
	run sh -c 'rtai-join -t t.jsonl --on user_id --on-error skip <in.rtai 2>err.txt | rtai-cat -p; cat err.txt'
	echo "$output"
	assert_line --index 0 '{"user_id":"u3","tier":"c"}'
	assert_output --partial "rtai-join: t.jsonl: line 2: invalid JSON"
	assert_output --partial "(skipped)"
}

@test "join: a table row without the key field is an error naming the line" {
	printf '%s\n' '{"user_id":"u1"}' '{"id":"u2"}' >t.jsonl
	run rtai-join -t t.jsonl --on user_id </dev/null
	echo "$output"
	assert_failure 1
	assert_output 'rtai-join: t.jsonl: line 2: no key field "user_id" (--on)'
	run rtai-join -t t.jsonl --on user_id --table-key uid </dev/null
	assert_failure 1
	assert_output 'rtai-join: t.jsonl: line 1: no key field "uid" (--table-key)'
	echo '{"id":1}' | rtai-cat | rtai-parse >t2.rtai
	run rtai-join -t t2.rtai --on user_id </dev/null
	assert_failure 1
	assert_output 'rtai-join: t2.rtai: record 1: no key field "user_id" (--on)'
}

@test "join: a record without the key field fails, or is skipped with --on-error skip" {
	printf '%s\n' '{"user_id":"u1"}' '{"uid":"u2"}' '{"user_id":"u2"}' | rtai-cat | rtai-parse >in.rtai
	# stopped by a bad record, its output is not a finished stream: no
	# end-of-stream frame, and the stage after says so (rtai-record(5))
	run sh -c 'rtai-join -t users.jsonl --on user_id <in.rtai 2>err.txt | rtai-cat -p 2>cat.txt; cat err.txt cat.txt'
	echo "$output"
	assert_line --index 0 '{"user_id":"u1","country":"FR","tier":"gold"}'
	assert_line --index 1 'rtai-join: stdin: record 2: no field "user_id" (--on)'
	assert_line --index 2 'rtai-join: use --on-error skip or --on-error dlq --dlq FILE to go on'
	assert_line --index 3 --partial 'rtai-cat: stdin: byte 78: the stream was cut'
	[ "${#lines[@]}" -eq 4 ]
	run rtai-join -t users.jsonl --on user_id <in.rtai
	assert_failure 1
	run sh -c 'rtai-join -t users.jsonl --on user_id --on-error skip -v <in.rtai 2>err.txt | rtai-cat -p; cat err.txt'
	echo "$output"
	assert_line --index 0 '{"user_id":"u1","country":"FR","tier":"gold"}'
	assert_line --index 1 '{"user_id":"u2","country":"DE","tier":"free"}'
	assert_output --partial 'rtai-join: stdin: record 2: no field "user_id" (--on)'
	assert_output --partial 'records: 3, hits 2, misses 0, skipped 1'
	# without -v: counted, the first named
	run sh -c 'rtai-join -t users.jsonl --on user_id --on-error skip <in.rtai 2>&1 >/dev/null'
	echo "$output"
	assert_success
	assert_output 'rtai-join: records: 3, skipped 1; 0 bad changes skipped; first: stdin: record 2: no field "user_id" (--on)'
	# dlq: the record as read, with _error
	run sh -c 'rtai-join -t users.jsonl --on user_id --dlq bad.rtai <in.rtai 2>/dev/null | rtai-cat -p | wc -l'
	echo "$output"
	assert_success
	assert_output 2
	run sh -c 'rtai-cat -p bad.rtai | jq -c "[.uid, ._error]"'
	echo "$output"
	assert_output '["u2","no field \"user_id\" (--on)"]'
	# every record refused: status 5
	run sh -c 'printf "%s\n" "{\"uid\":1}" | rtai-cat | rtai-parse | rtai-join -t users.jsonl --on user_id --on-error skip >/dev/null'
	echo "$output"
	assert_failure 5
	assert_output --partial 'rtai-join: every record (1) was skipped: nothing was joined (exit status 5)'
}

@test "join: raw text records are refused with a hint; a non-stream input too" {
	echo 'not json' | rtai-cat >in.rtai
	run rtai-join -t users.jsonl --on user_id <in.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial 'stdin: record 1: invalid JSON'
	assert_output --partial 'pipe the stream through rtai-parse first'
	run sh -c 'echo "{\"user_id\":1}" | rtai-join -t users.jsonl --on user_id'
	echo "$output"
	assert_failure 1
	assert_output --partial 'stdin is not an rtai stream; pipe text through rtai-cat first'
}

@test "join: a missing table file is an error" {
	run rtai-join -t nosuch.jsonl --on user_id </dev/null
	echo "$output"
	assert_failure 1
	assert_output 'rtai-join: nosuch.jsonl: No such file or directory'
}

@test "join: --max-rows refuses a table that is too large" {
	run rtai-join -t users-history.jsonl --on user_id --max-rows 2 </dev/null
	echo "$output"
	assert_failure 1
	assert_output 'rtai-join: users-history.jsonl: line 4: more than 2 rows (--max-rows)'
	run rtai-join -t users-history.jsonl --on user_id --as-of updated_at --max-rows 4 </dev/null
	assert_failure 1
	assert_output 'rtai-join: users-history.jsonl: line 5: more than 4 rows and versions (--max-rows)'
	run sh -c 'rtai-join -t users.jsonl --on user_id --max-rows 2 </dev/null | rtai-cat -p'
	assert_success
}

@test "join: usage errors" {
	run rtai-join
	assert_failure 2
	assert_output --partial 'nothing to join with: give --table, --updates or --redis'
	run rtai-join -t users.jsonl
	assert_failure 2
	assert_output --partial -- '--on FIELD is needed'
	run rtai-join -t users.jsonl --on a,b --table-key x
	assert_failure 2
	assert_output --partial -- '--table-key names 1 fields, --on 2'
	run rtai-join -t users.jsonl --on a,,b
	assert_failure 2
	assert_output --partial -- "--on: empty field name in 'a,,b'"
	run rtai-join -t users.jsonl --on a --ttl 1h
	assert_failure 2
	assert_output --partial -- '--ttl needs --as-of'
	run rtai-join -t users.jsonl --on a --ttl 10
	assert_failure 2
	run rtai-join -t users.jsonl --on a --redis redis://127.0.0.1:1 --redis-key k
	assert_failure 2
	assert_output --partial -- '--redis cannot be combined with --table or --updates'
	run rtai-join --redis redis://127.0.0.1:1
	assert_failure 2
	assert_output --partial -- '--redis needs --redis-key'
	run rtai-join --redis redis://127.0.0.1:1 --redis-key 'a:{b' 
	assert_failure 2
	assert_output --partial -- "--redis-key: "
	run rtai-join --redis http://x --redis-key k
	assert_failure 2
	assert_output --partial -- "--redis: "
	run rtai-join --redis redis://127.0.0.1:1 --redis-key k --as-of t
	assert_failure 2
	run rtai-join -t users.jsonl --on a --redis-key k
	assert_failure 2
	assert_output --partial -- '--redis-key needs --redis'
	run rtai-join -t users.jsonl --on a --cache 5
	assert_failure 2
	assert_output --partial -- '--cache and --cache-ttl need --redis'
	run rtai-join -t users.jsonl --on a --on-error maybe
	assert_failure 2
	assert_output --partial -- "--on-error: 'maybe': expected fail, skip or dlq"
	run rtai-join -t users.jsonl --on a --on-error dlq
	assert_failure 2
	assert_output --partial -- "--on-error dlq needs --dlq FILE"
	run rtai-join -t users.jsonl --on a --on-error skip --dlq x.rtai
	assert_failure 2
	assert_output --partial -- "--dlq needs --on-error dlq"
	run rtai-join -t users.jsonl --on a --max-rows 0
	assert_failure 2
	run rtai-join -t users.jsonl --on a extra
	assert_failure 2
	assert_output --partial "unexpected argument 'extra'"
	run rtai-join --bogus
	assert_failure 2
	assert_output --partial "Try 'rtai-join --help'"
}

@test "join: --max-frame limits the frames read" {
	printf '{"user_id":"u1","pad":"%0200d"}\n' 0 | rtai-cat >in.rtai
	run rtai-join -t users.jsonl --on user_id --max-frame 100 <in.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial 'exceeds the limit of 100 bytes (--max-frame)'
}

# ---- point in time -----------------------------------------------------------

@test "join: --as-of picks the version valid at each record's event time" {
	# users-history: u1 free from 09:00:00, gold from 10:00:20; u2 free from
	# 10:00:10, deleted at 10:00:40; u3 free from 10:00:30.
	cat >ev.jsonl <<'EOF'
{"user_id":"u1","ts":"2026-11-24T08:59:59Z"}
{"user_id":"u1","ts":"2026-11-24T09:00:00Z"}
{"user_id":"u1","ts":"2026-11-24T10:00:19.999Z"}
{"user_id":"u1","ts":"2026-11-24T10:00:20Z"}
{"user_id":"u2","ts":"2026-11-24T10:00:09Z"}
{"user_id":"u2","ts":"2026-11-24T10:00:39Z"}
{"user_id":"u2","ts":"2026-11-24T10:00:40Z"}
{"user_id":"u3","ts":"2026-11-24T12:00:00Z"}
EOF
	events <ev.jsonl >ev.rtai
	run sh -c 'rtai-join -t users-history.jsonl --on user_id --as-of updated_at --fields tier <ev.rtai | rtai-cat -p | jq -c "[.user_id, .tier]"'
	echo "$output"
	assert_success
	assert_output "$(cat <<'EOF'
["u1",null]
["u1","free"]
["u1","free"]
["u1","gold"]
["u2",null]
["u2","free"]
["u2",null]
["u3","free"]
EOF
)"
}

@test "join: --as-of ties: among versions with the same valid-from the last wins" {
	cat >h.jsonl <<'EOF'
{"k":"a","v":2,"at":"2026-01-01T00:00:10Z"}
{"k":"a","v":1,"at":"2026-01-01T00:00:00Z"}
{"k":"a","v":3,"at":"2026-01-01T00:00:10Z"}
{"k":"a","v":4,"at":"2026-01-01T00:00:20Z"}
EOF
	printf '%s\n' '{"k":"a","ts":"2026-01-01T00:00:05Z"}' '{"k":"a","ts":"2026-01-01T00:00:10Z"}' \
		'{"k":"a","ts":"2026-01-01T00:00:19Z"}' '{"k":"a","ts":"2026-01-01T00:00:20Z"}' >ev.jsonl
	events <ev.jsonl >ev.rtai
	run sh -c 'rtai-join -t h.jsonl --on k --as-of at --fields v -v <ev.rtai 2>err.txt | rtai-cat -p | jq -c .v; cat err.txt'
	echo "$output"
	assert_line --index 0 1
	assert_line --index 1 3
	assert_line --index 2 3
	assert_line --index 3 4
	assert_output --partial 'table: 1 rows, 4 versions, 1 keys; records: 4, hits 4'
}

@test "join: --ttl: a version older than the record by more than DUR does not match" {
	# u1 is gold from 10:00:20; with --ttl 15s it serves records until
	# 10:00:35 inclusive.
	printf '%s\n' '{"user_id":"u1","ts":"2026-11-24T10:00:35Z"}' \
		'{"user_id":"u1","ts":"2026-11-24T10:00:35.001Z"}' \
		'{"user_id":"u1","ts":"2026-11-24T10:00:20Z"}' >ev.jsonl
	events <ev.jsonl >ev.rtai
	run sh -c 'rtai-join -t users-history.jsonl --on user_id --as-of updated_at --ttl 15s --fields tier <ev.rtai | rtai-cat -p | jq -c .tier'
	echo "$output"
	assert_output "$(printf '"gold"\nnull\n"gold"')"
}

@test "join: --as-of valid-from may be epoch numbers or typed times" {
	printf '%s\n' '{"k":"a","v":1,"at":1795514400}' '{"k":"a","v":2,"at":1795514410000}' >h.jsonl
	rtai-cat h.jsonl | rtai-parse -f at:time >h.rtai
	printf '%s\n' '{"k":"a","ts":"2026-11-24T10:00:05Z"}' '{"k":"a","ts":"2026-11-24T10:00:10Z"}' >ev.jsonl
	events <ev.jsonl >ev.rtai
	for t in h.jsonl h.rtai; do
		run sh -c "rtai-join -t $t --on k --as-of at --fields v <ev.rtai | rtai-cat -p | jq -c .v"
		echo "$t: $output"
		assert_output "$(printf '1\n2')"
	done
}

@test "join: --as-of needs event times and valid-from times: clear errors" {
	echo '{"user_id":"u1"}' | rtai-cat | rtai-parse >in.rtai
	run rtai-join -t users-history.jsonl --on user_id --as-of updated_at <in.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial 'rtai-join: stdin: record 1: no event time: --as-of joins a record as of its event time (give it one with rtai-parse -t FIELD)'
	printf '%s\n' '{"user_id":"u1","updated_at":"2026-11-24T10:00:00Z"}' '{"user_id":"u2"}' >h.jsonl
	run rtai-join -t h.jsonl --on user_id --as-of updated_at </dev/null
	echo "$output"
	assert_failure 1
	assert_output 'rtai-join: h.jsonl: line 2: no field "updated_at" (--as-of) and no change time: cannot place the row in time'
	printf '%s\n' '{"user_id":"u1","updated_at":"last tuesday"}' >h.jsonl
	run rtai-join -t h.jsonl --on user_id --as-of updated_at </dev/null
	echo "$output"
	assert_failure 1
	assert_output --partial 'rtai-join: h.jsonl: line 1: field "updated_at" (--as-of): string: '
}

@test "join: a point-in-time training set from a captured stream and a profile history" {
	clicks 20 >capture.rtai
	run sh -c 'rtai-join -t users-history.jsonl --on user_id --as-of updated_at --fields tier <capture.rtai | rtai-cat -p | jq -r "[.event_time[14:19], .user_id, .tier // \"-\"] | join(\" \")"'
	echo "$output"
	assert_success
	assert_output "$(cat <<'EOF'
00:00 u1 free
00:03 u2 -
00:06 u3 -
00:09 u1 free
00:12 u2 free
00:15 u3 -
00:18 u1 free
00:21 u2 free
00:24 u3 -
00:27 u1 gold
00:30 u2 free
00:33 u3 free
00:36 u1 gold
00:39 u2 free
00:42 u3 free
00:45 u1 gold
00:48 u2 -
00:51 u3 free
00:54 u1 gold
00:57 u2 -
EOF
)"
}

# ---- changelogs ---------------------------------------------------------------

@test "join: --updates from a file: Debezium events with and without the schema wrapper" {
	cat >changes.jsonl <<'EOF'
{"op":"r","before":null,"after":{"user_id":"u3","country":"IT","tier":"free"},"source":{"ts_ms":1795514400000},"ts_ms":1795514400100}
{"schema":{"type":"struct"},"payload":{"op":"u","before":{"user_id":"u1","country":"FR","tier":"gold"},"after":{"user_id":"u1","country":"FR","tier":"platinum"},"source":{"ts_ms":1795514401000}}}
{"op":"d","before":{"user_id":"u2","country":"DE","tier":"free"},"after":null,"source":{"ts_ms":1795514402000}}
null
{"schema":{"type":"struct"},"payload":null}

{"user_id":"u4","country":"NL","tier":"free"}
EOF
	printf '%s\n' '{"user_id":"u1"}' '{"user_id":"u2"}' '{"user_id":"u3"}' '{"user_id":"u4"}' | rtai-cat | rtai-parse >in.rtai
	run sh -c 'rtai-join -t users.jsonl --on user_id --updates changes.jsonl -v <in.rtai 2>err.txt | rtai-cat -p; cat err.txt'
	echo "$output"
	assert_line --index 0 '{"user_id":"u1","country":"FR","tier":"platinum"}'
	assert_line --index 1 '{"user_id":"u2"}'
	assert_line --index 2 '{"user_id":"u3","country":"IT","tier":"free"}'
	assert_line --index 3 '{"user_id":"u4","country":"NL","tier":"free"}'
	assert_output --partial 'table: 3 rows, 3 versions, 3 keys; records: 4, hits 3, misses 1, skipped 0; changes: 5 upserts, 1 deletes, 3 tombstones, 0 truncates, 0 skipped'
}

@test "join: --updates alone builds the table from the changelog" {
	printf '%s\n' '{"user_id":"u1","tier":"a"}' '{"user_id":"u1","tier":"b"}' >changes.jsonl
	echo '{"user_id":"u1"}' | rtai-cat >in.rtai
	run sh -c 'rtai-join --updates changes.jsonl --on user_id <in.rtai | rtai-cat -p'
	echo "$output"
	assert_output '{"user_id":"u1","tier":"b"}'
}

@test "join: a primary-key change, as an update or as delete, tombstone and create" {
	cat >changes.jsonl <<'EOF'
{"op":"u","before":{"user_id":"u1","tier":"gold"},"after":{"user_id":"u7","tier":"gold"},"source":{"ts_ms":1}}
{"op":"d","before":{"user_id":"u2"},"after":null,"source":{"ts_ms":2}}
{"topic":"db.users","partition":0,"offset":9,"key":"{\"schema\":{},\"payload\":{\"user_id\":\"u2\"}}","payload":null}
{"op":"c","before":null,"after":{"user_id":"u8","tier":"free"},"source":{"ts_ms":3}}
EOF
	printf '%s\n' '{"user_id":"u1"}' '{"user_id":"u7"}' '{"user_id":"u2"}' '{"user_id":"u8"}' | rtai-cat | rtai-parse >in.rtai
	run sh -c 'rtai-join -t users.jsonl --on user_id --updates changes.jsonl --fields tier <in.rtai | rtai-cat -p'
	echo "$output"
	assert_output "$(cat <<'EOF'
{"user_id":"u1"}
{"user_id":"u7","tier":"gold"}
{"user_id":"u2"}
{"user_id":"u8","tier":"free"}
EOF
)"
}

@test "join: a kcat-style message: JSON text payloads, and a tombstone deleting its key" {
	cat >changes.jsonl <<'EOF'
{"topic":"db.users","key":"{\"user_id\":\"u5\"}","payload":"{\"op\":\"c\",\"before\":null,\"after\":{\"user_id\":\"u5\",\"tier\":\"x\"},\"source\":{\"ts_ms\":5}}"}
{"topic":"db.users","key":{"user_id":"u1"},"payload":null,"ts":6}
EOF
	printf '%s\n' '{"user_id":"u5"}' '{"user_id":"u1"}' | rtai-cat | rtai-parse >in.rtai
	run sh -c 'rtai-join -t users.jsonl --on user_id --updates changes.jsonl --fields tier <in.rtai | rtai-cat -p'
	echo "$output"
	assert_output "$(printf '%s\n' '{"user_id":"u5","tier":"x"}' '{"user_id":"u1"}')"
}

@test "join: --updates as an rtai stream; records with _op change the table" {
	printf '%s\n' '{"user_id":"u1","_op":"d"}' '{"user_id":"u9","tier":"new","_op":"c"}' '{"user_id":"u2","tier":"plain"}' |
		rtai-cat | rtai-parse >changes.rtai
	printf '%s\n' '{"user_id":"u1"}' '{"user_id":"u9"}' '{"user_id":"u2"}' | rtai-cat | rtai-parse >in.rtai
	run sh -c 'rtai-join -t users.jsonl --on user_id --updates changes.rtai --fields tier <in.rtai | rtai-cat -p'
	echo "$output"
	assert_output "$(printf '%s\n' '{"user_id":"u1"}' '{"user_id":"u9","tier":"new"}' '{"user_id":"u2","tier":"plain"}')"
}

@test "join: Debezium op t truncates the table" {
	printf '%s\n' '{"op":"t","before":null,"after":null,"source":{"ts_ms":1}}' '{"user_id":"u2","tier":"back"}' >changes.jsonl
	printf '%s\n' '{"user_id":"u1"}' '{"user_id":"u2"}' | rtai-cat | rtai-parse >in.rtai
	run sh -c 'rtai-join -t users.jsonl --on user_id --updates changes.jsonl --fields tier <in.rtai | rtai-cat -p'
	echo "$output"
	assert_output "$(printf '%s\n' '{"user_id":"u1"}' '{"user_id":"u2","tier":"back"}')"
}

@test "join: a changelog event of an unknown shape is an error naming the file and line" {
	printf '%s\n' '{"user_id":"u1","tier":"a"}' '{"op":"x","before":null,"after":{"user_id":"u1"}}' >changes.jsonl
	echo '{"user_id":"u1"}' | rtai-cat >in.rtai
	run rtai-join -t users.jsonl --on user_id --updates changes.jsonl <in.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial 'rtai-join: changes.jsonl: line 2: unknown changelog shape: op "x" (expected c, r, u, d or t)'
	for bad in '[1,2]' '{"schema":{},"payload":{"a":1}}' '{"op":"d","before":null,"after":null}' \
		'{"op":"c","before":null,"after":null}' '{"op":"u","after":[1]}' '{"user_id":"u1","_op":"z"}'; do
		echo "$bad" >changes.jsonl
		run rtai-join -t users.jsonl --on user_id --updates changes.jsonl <in.rtai
		echo "$bad: $output"
		assert_failure 1
		assert_output --partial 'rtai-join: changes.jsonl: line 1: unknown changelog shape'
	done
	printf '%s\n' '{"op":"x","before":null,"after":{}}' '{"user_id":"u1","tier":"b"}' >changes.jsonl
	run sh -c 'rtai-join -t users.jsonl --on user_id --updates changes.jsonl --on-error skip -v --fields tier <in.rtai 2>err.txt | rtai-cat -p; cat err.txt'
	echo "$output"
	assert_line --index 0 '{"user_id":"u1","tier":"b"}'
	assert_output --partial 'changes.jsonl: line 1: unknown changelog shape: op "x" (expected c, r, u, d or t) (skipped)'
	assert_output --partial '3 upserts, 0 deletes, 0 tombstones, 0 truncates, 1 skipped'
}

@test "join: --as-of with a changelog: Debezium change times are the valid-from times" {
	# u1 becomes platinum at 10:00:30 (source.ts_ms); u2 is deleted at 10:00:15.
	cat >changes.jsonl <<'EOF'
{"op":"u","before":{"user_id":"u1"},"after":{"user_id":"u1","tier":"platinum"},"source":{"ts_ms":1795514430000}}
{"op":"d","before":{"user_id":"u2","updated_at":"2026-11-24T10:00:10Z"},"after":null,"source":{"ts_ms":1795514415000}}
null
EOF
	clicks 13 >in.rtai
	run sh -c 'rtai-join -t users-history.jsonl --updates changes.jsonl --on user_id --as-of updated_at --fields tier <in.rtai | rtai-cat -p | jq -r "[.event_time[14:19], .user_id, .tier // \"-\"] | join(\" \")"'
	echo "$output"
	assert_success
	assert_output "$(cat <<'EOF'
00:00 u1 free
00:03 u2 -
00:06 u3 -
00:09 u1 free
00:12 u2 free
00:15 u3 -
00:18 u1 free
00:21 u2 -
00:24 u3 -
00:27 u1 gold
00:30 u2 -
00:33 u3 free
00:36 u1 platinum
EOF
)"
}

@test "join: a changelog arriving while the stream flows (FIFOs)" {
	mkfifo in.fifo up.fifo
	rtai-join -t users.jsonl --on user_id --updates up.fifo --fields tier <in.fifo 2>err.txt | rtai-cat -p >out.txt &
	exec 5>in.fifo 6>up.fifo
	send() { echo "$1" | rtai-cat | rtai-parse >&5; }
	change() { echo "$1" >&6; }

	send '{"user_id":"u1","n":1}'
	wait_lines out.txt 1
	change '{"op":"c","before":null,"after":{"user_id":"u3","tier":"new"},"source":{"ts_ms":1}}'
	send '{"user_id":"u3","n":2}'
	wait_lines out.txt 2
	change '{"schema":{},"payload":{"op":"u","before":{"user_id":"u1","tier":"gold"},"after":{"user_id":"u1","tier":"platinum"},"source":{"ts_ms":2}}}'
	send '{"user_id":"u1","n":3}'
	wait_lines out.txt 3
	change '{"op":"d","before":{"user_id":"u2"},"after":null,"source":{"ts_ms":3}}'
	change 'null'
	send '{"user_id":"u2","n":4}'
	wait_lines out.txt 4
	change '{"op":"u","before":{"user_id":"u3","tier":"new"},"after":{"user_id":"u4","tier":"new"},"source":{"ts_ms":4}}'
	send '{"user_id":"u3","n":5}'
	send '{"user_id":"u4","n":6}'
	wait_lines out.txt 6
	change '{"user_id":"u2","tier":"again"}'
	change '{"topic":"t","key":{"user_id":"u4"},"payload":null}'
	send '{"user_id":"u2","n":7}'
	send '{"user_id":"u4","n":8}'
	wait_lines out.txt 8
	exec 5>&- 6>&-
	wait
	run cat out.txt err.txt
	echo "$output"
	assert_output "$(cat <<'EOF'
{"user_id":"u1","n":1,"tier":"gold"}
{"user_id":"u3","n":2,"tier":"new"}
{"user_id":"u1","n":3,"tier":"platinum"}
{"user_id":"u2","n":4}
{"user_id":"u3","n":5}
{"user_id":"u4","n":6,"tier":"new"}
{"user_id":"u2","n":7,"tier":"again"}
{"user_id":"u4","n":8}
EOF
)"
}

@test "join: SIGHUP reloads the table file" {
	mkfifo in.fifo
	sh -c 'echo $$ >join.pid; exec rtai-join -v -t users.jsonl --on user_id --fields tier' <in.fifo 2>err.txt | rtai-cat -p >out.txt &
	exec 5>in.fifo
	echo '{"user_id":"u1"}' | rtai-cat >&5
	wait_lines out.txt 1
	echo '{"user_id":"u1","tier":"reloaded"}' >users.jsonl
	kill -HUP "$(cat join.pid)"
	for _ in $(seq 1 100); do grep -q reloaded err.txt && break; sleep 0.05; done
	echo '{"user_id":"u1"}' | rtai-cat >&5
	wait_lines out.txt 2
	exec 5>&-
	wait
	run cat out.txt err.txt
	echo "$output"
	assert_line --index 0 '{"user_id":"u1","tier":"gold"}'
	assert_line --index 1 '{"user_id":"u1","tier":"reloaded"}'
	assert_output --partial 'rtai-join: users.jsonl: reloaded'
}

@test "join: SIGHUP while the first table load waits for its FIFO does not end it; the table is read again after" {
	mkfifo t.fifo in.fifo
	(sh -c 'echo $$ >join.pid; exec rtai-join -t t.fifo --on user_id --fields tier' <in.fifo >out.rtai 2>err.txt
	 echo $? >status.txt) &
	exec 5>in.fifo
	# Wait until rtai-join blocks opening t.fifo (no writer yet).
	for _ in $(seq 1 200); do
		[ -s join.pid ] && [ "$(cat /proc/$(cat join.pid)/comm 2>/dev/null)" = rtai-join ] &&
			[ "$(cat /proc/$(cat join.pid)/wchan 2>/dev/null)" = wait_for_partner ] && break
		sleep 0.05
	done
	echo "wchan: $(cat /proc/$(cat join.pid)/wchan)"
	kill -HUP "$(cat join.pid)"
	echo '{"user_id":"u1","tier":"first"}' >first.jsonl
	echo '{"user_id":"u1","tier":"second"}' >second.jsonl
	# A FIFO write waits for its reader: bounded, so a dead rtai-join fails here.
	timeout 10 sh -c 'cat first.jsonl >t.fifo'
	# The SIGHUP asked for a reload: rtai-join opens the FIFO again.
	timeout 10 sh -c 'cat second.jsonl >t.fifo'
	echo '{"user_id":"u1"}' | rtai-cat >&5
	exec 5>&-
	wait
	run sh -c 'cat status.txt err.txt; rtai-cat -p out.rtai'
	echo "$output"
	assert_line --index 0 0
	assert_line --index 1 '{"user_id":"u1","tier":"second"}'
	refute_output --partial 'Interrupted'
}

@test "join: SIGHUP to a --redis join is ignored: it goes on joining" {
	redis_start
	rcli hset user:u1 tier gold >/dev/null
	mkfifo in.fifo
	(sh -c "echo \$\$ >join.pid; exec rtai-join --redis $REDIS_URL --redis-key 'user:{user_id}'" <in.fifo 2>err.txt |
		rtai-cat -p >out.txt; echo "${PIPESTATUS[0]}" >status.txt) &
	exec 5>in.fifo
	echo '{"user_id":"u1"}' | rtai-cat >&5
	wait_lines out.txt 1
	kill -HUP "$(cat join.pid)"
	echo '{"user_id":"u1"}' | rtai-cat >&5
	wait_lines out.txt 2
	exec 5>&-
	wait
	run cat status.txt out.txt err.txt
	echo "$output"
	assert_line --index 0 0
	assert_line --index 1 '{"user_id":"u1","tier":"gold"}'
	assert_line --index 2 '{"user_id":"u1","tier":"gold"}'
}

# ---- Redis ----------------------------------------------------------------------

@test "join: --redis reads each record's hash; numbers come back as numbers" {
	redis_start
	rcli hset user:u1 tier gold score 0.75 visits 12 zip 02139 >/dev/null
	rcli hset user:u2 tier free >/dev/null
	clicks 4 >in.rtai
	run sh -c "rtai-join --redis $REDIS_URL --redis-key 'user:{user_id}' -v <in.rtai 2>err.txt | rtai-cat -p; cat err.txt"
	echo "$output"
	assert_line --index 0 '{"user_id":"u1","item_id":"i0","action":"view","amount":0.0,"event_time":"2026-11-24T10:00:00.000Z","tier":"gold","score":0.75,"visits":12,"zip":"02139"}'
	assert_line --index 1 '{"user_id":"u2","item_id":"i1","action":"click","amount":1.5,"event_time":"2026-11-24T10:00:03.000Z","tier":"free"}'
	assert_line --index 2 '{"user_id":"u3","item_id":"i2","action":"buy","amount":3.0,"event_time":"2026-11-24T10:00:06.000Z"}'
	assert_line --index 3 --partial '"user_id":"u1","item_id":"i3"'
	assert_line --index 4 'rtai-join: records: 4, hits 3, misses 1, skipped 0; redis: 3 lookups in 1 round trips, 1 cache hits'
}

@test "join: --redis with --inner, --fields, --prefix and a time in the key" {
	redis_start
	rcli hset 'f:u1:2026-11-24T10:00:00.000Z' clicks 3 last view >/dev/null
	clicks 2 >in.rtai
	run sh -c "rtai-join --redis $REDIS_URL --redis-key 'f:{user_id}:{event_time}' --inner --fields clicks --prefix f_ <in.rtai | rtai-cat -p"
	echo "$output"
	assert_success
	assert_output '{"user_id":"u1","item_id":"i0","action":"view","amount":0.0,"event_time":"2026-11-24T10:00:00.000Z","f_clicks":3}'
}

@test "join: --redis with a password (URL or RTAI_REDIS_PASSWORD), a database, a unix socket" {
	REDIS_AUTH=s3cret redis_start --requirepass s3cret
	REDIS_AUTH=s3cret rcli -n 2 hset user:u1 tier db2 >/dev/null
	echo '{"user_id":"u1"}' | rtai-cat >in.rtai
	run sh -c "rtai-join --redis redis://:s3cret@127.0.0.1:$REDIS_PORT/2 --redis-key 'user:{user_id}' <in.rtai | rtai-cat -p"
	echo "$output"
	assert_output '{"user_id":"u1","tier":"db2"}'
	run sh -c "RTAI_REDIS_PASSWORD=s3cret rtai-join --redis unix://$REDIS_SOCK?db=2 --redis-key 'user:{user_id}' <in.rtai | rtai-cat -p"
	echo "$output"
	assert_output '{"user_id":"u1","tier":"db2"}'
	run rtai-join --redis "redis://:wrong@127.0.0.1:$REDIS_PORT" --redis-key 'user:{user_id}' <in.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial "rtai-join: redis://:***@127.0.0.1:$REDIS_PORT"
	refute_output --partial wrong
	run rtai-join --redis "redis://127.0.0.1:$REDIS_PORT" --redis-key 'user:{user_id}' <in.rtai
	assert_failure 1
	assert_output --partial 'NOAUTH'
}

@test "join: --redis: an unreachable server, a missing key field, an error reply" {
	run rtai-join --redis redis://127.0.0.1:1 --redis-key 'user:{user_id}' </dev/null
	echo "$output"
	assert_failure 1
	assert_output --partial 'rtai-join: redis://127.0.0.1:1: connect: Connection refused'
	redis_start
	rcli set user:u2 plain >/dev/null
	rcli hset user:u1 tier gold >/dev/null
	printf '%s\n' '{"user_id":"u1"}' '{"uid":"u1"}' '{"user_id":"u2"}' '{"user_id":"u1"}' | rtai-cat >in.rtai
	run sh -c "rtai-join --redis $REDIS_URL --redis-key 'user:{user_id}' <in.rtai 2>err.txt | rtai-cat -p 2>/dev/null; cat err.txt"
	echo "$output"
	assert_line --index 0 '{"user_id":"u1","tier":"gold"}'
	assert_line --index 1 'rtai-join: stdin: record 2: no field "user_id" (--redis-key)'
	assert_line --index 2 'rtai-join: use --on-error skip or --on-error dlq --dlq FILE to go on'
	[ "${#lines[@]}" -eq 3 ]
	run sh -c "rtai-join --redis $REDIS_URL --redis-key 'user:{user_id}' --on-error skip -v <in.rtai 2>err.txt | rtai-cat -p; cat err.txt"
	echo "$output"
	assert_line --index 0 '{"user_id":"u1","tier":"gold"}'
	assert_line --index 1 '{"user_id":"u1","tier":"gold"}'
	assert_output --partial 'record 3: redis: HGETALL user:u2: WRONGTYPE'
}

@test "join: --redis cache: --cache-ttl keeps a row, --cache 0 reads it again" {
	redis_start
	rcli hset user:u1 tier gold >/dev/null
	for cache in "--cache-ttl 1h" "--cache 0"; do
		rm -f in.fifo out.txt
		mkfifo in.fifo
		rtai-join --redis "$REDIS_URL" --redis-key 'user:{user_id}' $cache -v <in.fifo 2>err.txt | rtai-cat -p >out.txt &
		exec 5>in.fifo
		echo '{"user_id":"u1"}' | rtai-cat >&5
		wait_lines out.txt 1
		rcli hset user:u1 tier platinum >/dev/null
		echo '{"user_id":"u1"}' | rtai-cat >&5
		wait_lines out.txt 2
		exec 5>&-
		wait
		rcli hset user:u1 tier gold >/dev/null
		run cat out.txt err.txt
		echo "$cache: $output"
		assert_line --index 0 '{"user_id":"u1","tier":"gold"}'
		if [ "$cache" = "--cache 0" ]; then
			assert_line --index 1 '{"user_id":"u1","tier":"platinum"}'
			assert_line --index 2 --partial 'redis: 2 lookups in 2 round trips, 0 cache hits'
		else
			assert_line --index 1 '{"user_id":"u1","tier":"gold"}'
			assert_line --index 2 --partial 'redis: 1 lookups in 1 round trips, 1 cache hits'
		fi
	done
}

@test "join: --redis pipelines a burst: 1000 records, few round trips" {
	redis_start
	for i in $(seq 0 9); do echo "HSET user:u$i n $i"; done | rcli >/dev/null
	seq 0 999 | awk '{ printf "{\"user_id\":\"u%d\",\"i\":%d}\n", $1 % 20, $1 }' | rtai-cat | rtai-parse >in.rtai
	run sh -c "rtai-join --redis $REDIS_URL --redis-key 'user:{user_id}' --cache 0 -v <in.rtai 2>err.txt | rtai-cat -p >out.txt; cat err.txt; grep -c '\"n\"' out.txt; sed -n 13p out.txt"
	echo "$output"
	assert_line --index 0 --regexp 'records: 1000, hits 500, misses 500, skipped 0; redis: ([0-9]+) lookups in ([0-9]) round trips'
	assert_line --index 1 500
	assert_line --index 2 '{"user_id":"u12","i":12}'
}

# ---- documentation ------------------------------------------------------------------

@test "join: the man page examples run" {
	redis_start
	run_man_examples rtai-join.1
}

@test "join: the man page's examples 1 to 4 (table, as-of training set, changelog, Redis) give the rows of a python3 brute force" {
	redis_start
	cp -r "$RTAI_SRC/tests/data/." .
	n=0
	while IFS= read -r -d '' block; do
		n=$((n + 1))
		[ "$n" -le 4 ] || break
		block=${block//redis:\/\/127.0.0.1:6379/$REDIS_URL}
		echo "--- example $n:"
		echo "$block"
		timeout 120 bash -e -o pipefail -c "$block" >ex$n.out
		cat ex$n.out
		[ -s ex$n.out ]
		# the same without its final head, for every record
		full=$(printf '%s' "$block" | sed -E 's/ \| head -[0-9]+$//')
		if [ "$full" != "$block" ]; then
			timeout 120 bash -e -o pipefail -c "$full" >full$n.out
		fi
	done < <(man_examples rtai-join.1)
	[ "$n" -ge 4 ]
	# examples 1, 3 and 4 print their first records; 2 counts its training set
	[ -s full1.out ] && [ -s full3.out ] && [ -s full4.out ] && [ -s training.jsonl ]
	cat >check.py <<-'PY'
	import datetime, json, sys
	def sec(s): return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
	def rows(f): return [json.loads(l, object_pairs_hook=list) for l in open(f)]
	def parsed(c):
	    # rtai-parse -t writes the event time back as ISO 8601 with milliseconds
	    return [(k, v.replace("Z", ".000Z") if k == "event_time" else v) for k, v in c]
	clicks = rows("clicks.jsonl")
	users = {}
	for r in rows("users.jsonl"):
	    users[dict(r)["user_id"]] = [(k, v) for k, v in r if k != "user_id"]
	bad = 0
	def same(what, got, want):
	    global bad
	    if got != want:
	        bad += 1
	        print(what, "has", len(got), "lines, want", len(want))
	        for i, (g, w) in enumerate(zip(got, want)):
	            if g != w:
	                print("line %d:\n got  %s\n want %s" % (i + 1, g, w))
	def left(c, row):
	    return c + [kv for kv in row if kv[0] not in dict(c)]
	# 1: the table's country and tier added to each click (a left join)
	want = [left(parsed(c), [kv for kv in users.get(dict(c)["user_id"], []) if kv[0] in ("country", "tier")]) for c in clicks]
	same("example 1, every record", rows("full1.out"), want)
	same("example 1", rows("ex1.out"), want[:3])
	# 2: the tier of the version valid at the click's time: greatest updated_at
	# at or before it, not more than 1 day older, not a delete; no match dropped
	hist = [dict(r) for r in rows("users-history.jsonl")]
	want = []
	for c in clicks:
	    d, t = dict(c), sec(dict(c)["event_time"])
	    vs = [h for h in hist if h["user_id"] == d["user_id"] and sec(h["updated_at"]) <= t]
	    if not vs:
	        continue
	    v = max(vs, key=lambda h: sec(h["updated_at"]))
	    if v.get("_op") == "d" or sec(v["updated_at"]) < t - 86400:
	        continue
	    want.append(parsed(c) + [("tier", v["tier"])])
	same("example 2, training.jsonl", rows("training.jsonl"), want)
	same("example 2", open("ex2.out").read().split(), [str(len(want))])
	# 3: the changelog's update (applied before any record) replaces u3's row;
	# every field of the row, prefixed with user_
	ch = json.loads(open("changes.jsonl").read())
	assert ch["op"] == "u"
	row = dict(ch["after"])
	table = dict(users)
	key = row.pop("user_id")
	table[key] = list(row.items())
	want = [c + [("user_" + k, v) for k, v in table.get(dict(c)["user_id"], [])] for c in clicks]
	same("example 3, every record", rows("full3.out"), want)
	same("example 3", rows("ex3.out"), want[:3])
	# 4: the hash user:u1 = {clicks_last_hour: 7} read back, the value a number
	want = [c + ([("clicks_last_hour", 7)] if dict(c)["user_id"] == "u1" else []) for c in clicks]
	same("example 4, every record", rows("full4.out"), want)
	same("example 4", rows("ex4.out"), want[:1])
	print(bad, "wrong")
	sys.exit(bad > 0)
	PY
	run python3 check.py
	echo "$output"
	assert_success
	assert_output "0 wrong"
}

@test "join: --help lists every option; --version" {
	run rtai-join --help
	assert_success
	for o in --table --on --table-key --inner --fields --prefix --updates --as-of --ttl \
		--redis --redis-key --cache --cache-ttl --on-error --dlq --max-rows --max-frame \
		--verbose --checkpoint-dir --stage-name --help --version; do
		assert_output --partial -- "$o"
	done
	run rtai-join --version
	assert_success
	assert_output --regexp '^rtai-join \(rtai\) [0-9]'
}

@test "join: --updates without --as-of warns once when records are over an hour behind the changelog" {
	# A capture from 10:30 replayed against a changelog that reached 12:00.
	cat >changes.jsonl <<'EOF'
{"op":"c","before":null,"after":{"id":1,"name":"Ann"},"source":{"ts_ms":1795514400000}}
{"op":"u","before":{"id":1,"name":"Ann"},"after":{"id":1,"name":"Anne"},"source":{"ts_ms":1795521600000}}
EOF
	printf '%s\n' '{"id":1,"ts":"2026-11-24T10:30:00Z"}' '{"id":1,"ts":"2026-11-24T10:40:00Z"}' |
		rtai-cat | rtai-parse -t ts >ev.rtai
	rtai-cat changes.jsonl | rtai-parse --debezium >changes.rtai
	for log in changes.jsonl changes.rtai; do
		run sh -c "rtai-join --updates $log --on id --fields name <ev.rtai 2>err.txt | rtai-cat -p | jq -r .name; cat err.txt"
		echo "$output"
		assert_line --index 0 'Anne'
		assert_line --index 1 'Anne'
		assert_line --index 2 "rtai-join: stdin: record 1: event time 2026-11-24T10:30:00.000Z is over an hour before a change already applied from $log (2026-11-24T12:00:00.000Z): without --as-of a record joins the row as it is now, so a replayed capture sees values from its future (join as of each record's time with --as-of FIELD)"
		[ "${#lines[@]}" -eq 3 ]
	done
	# As of each record's time: the value it had then, and no warning.
	run sh -c 'rtai-join --updates changes.rtai --on id --as-of at --fields name <ev.rtai 2>err.txt | rtai-cat -p | jq -r .name; cat err.txt'
	echo "$output"
	assert_output "$(printf '%s\n' Ann Ann)"
	# Within the hour (a live stream's lag), or without change times: no warning.
	sed 's/1795521600000/1795517400000/' changes.jsonl >near.jsonl
	printf '%s\n' '{"id":1,"name":"Ann"}' '{"id":1,"name":"Anne"}' >rows.jsonl
	for log in near.jsonl rows.jsonl; do
		run sh -c "rtai-join --updates $log --on id --fields name <ev.rtai 2>err.txt | rtai-cat -p | jq -r .name; cat err.txt"
		echo "$output"
		assert_output "$(printf '%s\n' Anne Anne)"
	done
}

# ---- checkpoints (rtai(7) "Checkpoints"; tests/checkpoint.bats kills a pipeline) ----

# The stream's source in ck: its barriers are the input's, where these
# tests put them (tests/ckpt-source.c); a checkpoint completes only in a
# run with a source.
SRC="$RTAI_BUILD/tests/ckpt-source --checkpoint-dir ck"

# wait_file FILE: waits (at most 60 s) until FILE exists.
wait_file() {
	local i
	for i in $(seq 1 1200); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	echo "timed out waiting for $1"
	return 1
}

@test "join: --checkpoint-dir: the snapshot holds the table and the changelog's position; a rerun skips the changes it holds" {
	unset RTAI_CHECKPOINT_DIR
	mkfifo in.fifo up.fifo j.fifo
	J='rtai-join -v -t users.jsonl --on user_id --updates up.fifo --fields tier --checkpoint-dir ck'
	$SRC <in.fifo | $J >j.fifo 2>err1 &
	pid=$!
	rtai-cat -p <j.fifo >out1.txt 2>/dev/null &
	exec 5>in.fifo 6>up.fifo
	send() { printf '%s\n' "$@" | mkstream part.rtai; cat part.rtai >&5; }
	change() { echo "$1" >>changes.jsonl; echo "$1" >&6; }

	change '{"user_id":"u1","tier":"silver"}'
	change '{"user_id":"u3","tier":"new"}'
	send '- {"user_id":"u3","n":1}'
	wait_lines out1.txt 1
	send 'barrier:1'
	wait_file ck/ckpt-1/COMPLETE
	change '{"user_id":"u1","tier":"platinum"}'
	send '- {"user_id":"u1","n":2}'
	wait_lines out1.txt 2
	kill -9 "$pid"
	exec 5>&- 6>&-
	wait "$pid" || true
	wait
	run cat out1.txt
	echo "$output"
	assert_output "$(printf '%s\n' '{"user_id":"u3","n":1,"tier":"new"}' '{"user_id":"u1","n":2,"tier":"platinum"}')"
	run cat err1
	echo "$output"
	refute_output --partial resuming

	# The rerun: the changelog is sent again from its start (here a file of
	# that name), the stream from after barrier 1. The table comes from the
	# snapshot (the file is not loaded), the first two changes are skipped,
	# the third is applied.
	rm up.fifo
	cp changes.jsonl up.fifo
	printf '%s\n' '- {"user_id":"u1","n":2}' '- {"user_id":"u3","n":3}' '- {"user_id":"u2","n":4}' |
		mkstream tail.rtai
	run sh -c "$SRC <tail.rtai | $J 2>err2 | rtai-cat -p; cat err2"
	echo "$output"
	assert_success
	assert_line --index 0 '{"user_id":"u1","n":2,"tier":"platinum"}'
	assert_line --index 1 '{"user_id":"u3","n":3,"tier":"new"}'
	assert_line --index 2 '{"user_id":"u2","n":4,"tier":"free"}'
	assert_line --index 3 "rtai-join: resuming from checkpoint 1 of ck"
	assert_line --index 4 "rtai-join: up.fifo: end of the changelog; the table stays as it is"
	# 2 rows of the file and 2 changes before the checkpoint, 1 after: each
	# applied once (7 upserts if the changelog were applied from its start)
	assert_line --index 5 "rtai-join: table: 3 rows, 3 versions, 3 keys; records: 4, hits 4, misses 0, skipped 0; changes: 5 upserts, 0 deletes, 0 tombstones, 0 truncates, 0 skipped"
	[ "${#lines[@]}" -eq 6 ]

	# A changelog that no longer holds what the snapshot has: an error
	head -n 1 changes.jsonl >up.fifo
	pos=$(head -n 2 changes.jsonl | wc -c)
	run sh -c "$SRC <tail.rtai 2>/dev/null | $J >/dev/null"
	echo "$output"
	assert_failure 1
	assert_output --partial "rtai-join: up.fifo: byte $(head -n 1 changes.jsonl | wc -c): it ends after 1 changes, before the position recorded (change 2, byte $pos): the changelog changed since checkpoint 1 of ck was taken"
	assert_output --partial "remove ck to start afresh"
	{ echo '{"user_id":"u1","tier":"a longer tier than before"}'; sed -n 2,3p changes.jsonl; } >up.fifo
	run sh -c "$SRC <tail.rtai 2>/dev/null | $J >/dev/null"
	echo "$output"
	assert_failure 1
	assert_output --partial "rtai-join: up.fifo: byte "
	assert_output --partial ": change 2 ends past byte $pos, where change 2 ended when the checkpoint was taken"
}

@test "join: --checkpoint-dir: barriers come from the stream only; the changelog's are not taken or forwarded" {
	printf '%s\n' '- {"user_id":"u3","n":1}' '- {"user_id":"u1","n":2}' 'barrier:1' \
		'- {"user_id":"u2","n":3}' 'barrier:2' '- {"user_id":"u3","n":4}' | mkstream s.rtai
	printf '%s\n' 'barrier:7' '- {"user_id":"u3","tier":"new"}' 'barrier:8' \
		'- {"user_id":"u2","tier":"gone"}' 'barrier:9' | mkstream up.rtai
	J='rtai-join -v -t users.jsonl --on user_id -u up.rtai --fields tier --checkpoint-dir ck'
	run sh -c "$SRC <s.rtai | $J 2>/dev/null | rtai-cat -p --meta | jq -c '[._barrier.checkpoint, .n, .tier]'"
	echo "$output"
	assert_success
	assert_output "$(printf '%s\n' '[null,1,"new"]' '[null,2,"gold"]' '[1,null,null]' '[null,3,"gone"]' \
		'[2,null,null]' '[null,4,"new"]')"
	run ls ck
	assert_output "$(printf '%s\n' ckpt-1 ckpt-2 lock run source stages)"
	# checkpoint 2 holds the whole changelog as read: a rerun applies none of
	# it again (2 rows of the file and 2 changes: 4 upserts, not 6)
	: | mkstream empty.rtai
	run sh -c "$SRC <empty.rtai 2>/dev/null | $J 2>&1 >/dev/null"
	echo "$output"
	assert_line --index 0 "rtai-join: resuming from checkpoint 2 of ck"
	assert_output --partial "changes: 4 upserts"
}

@test "join: --checkpoint-dir: a savepoint is snapshotted and forwarded, and ends the stage" {
	printf '%s\n' '- {"user_id":"u1","n":1}' 'savepoint:1' '- {"user_id":"u2","n":2}' | mkstream s.rtai
	run sh -c "$SRC <s.rtai | RTAI_CHECKPOINT_DIR=ck rtai-join -t users.jsonl --on user_id --fields tier | rtai-cat -p --meta | jq -c '[._barrier.type, .n]'"
	echo "$output"
	assert_success		# a finished stream: rtai-cat -p found its end-of-stream frame
	assert_output "$(printf '%s\n' '[null,1]' '["savepoint",null]')"
	[ -e ck/ckpt-1/COMPLETE ]
}

@test "join: --checkpoint-dir with --redis: the stage takes part, without its cache" {
	redis_start
	redis-cli -p "$REDIS_PORT" HSET user:u1 tier gold >/dev/null
	printf '%s\n' '- {"user_id":"u1","n":1}' 'barrier:1' '- {"user_id":"u1","n":2}' | mkstream s.rtai
	J="rtai-join --redis redis://127.0.0.1:$REDIS_PORT --redis-key user:{user_id} --checkpoint-dir ck"
	run sh -c "$SRC <s.rtai | $J | rtai-cat -p --meta | jq -c '[._barrier.checkpoint, .n, .tier]'"
	echo "$output"
	assert_success
	assert_output "$(printf '%s\n' '[null,1,"gold"]' '[1,null,null]' '[null,2,"gold"]')"
	[ -e ck/ckpt-1/COMPLETE ]
	redis-cli -p "$REDIS_PORT" HSET user:u1 tier platinum >/dev/null
	printf '%s\n' '- {"user_id":"u1","n":2}' | mkstream tail.rtai
	run sh -c "$SRC <tail.rtai | $J | rtai-cat -p"
	echo "$output"
	assert_success
	assert_output "$(printf '%s\n' 'rtai-join: resuming from checkpoint 1 of ck' '{"user_id":"u1","n":2,"tier":"platinum"}')"
}
