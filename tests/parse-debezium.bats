#!/usr/bin/env bats
# rtai-parse --debezium: change events unwrapped into records with _op and
# the change time as event time.

load common

setup_local() {
	cat >changes.jsonl <<'EOF'
{"schema":{"type":"struct"},"payload":{"op":"c","before":null,"after":{"id":1,"name":"Ann"},"source":{"ts_ms":1795514400000,"db":"shop"},"ts_ms":1795514400500}}
{"op":"u","before":{"id":1,"name":"Ann"},"after":{"id":1,"name":"Anne"},"source":{"ts_ms":1795514401000}}
{"op":"r","before":null,"after":{"id":2,"name":"Bob"},"ts_ms":1795514401500}
{"op":"d","before":{"id":1,"name":"Anne"},"after":null,"source":{"ts_ms":1795514402000}}
null
{"schema":{},"payload":null}

{"topic":"db.users","key":"{\"schema\":{},\"payload\":{\"id\":2}}","payload":null,"ts":1795514402500}
{"op":"t","before":null,"after":null,"source":{"ts_ms":1795514403000}}
EOF
}

@test "parse --debezium: rows with _op, change times as event times, {\"_op\":\"t\"} for a truncate, tombstones dropped" {
	run sh -c 'rtai-cat changes.jsonl | rtai-parse --debezium -v 2>err.txt | rtai-cat -p --meta | jq -c "del(._ingest_time)"; cat err.txt'
	echo "$output"
	assert_output "$(cat <<'EOF'
{"_event_time":"2026-11-24T10:00:00.000Z","_op":"c","id":1,"name":"Ann"}
{"_event_time":"2026-11-24T10:00:01.000Z","_op":"u","id":1,"name":"Anne"}
{"_event_time":"2026-11-24T10:00:01.500Z","_op":"r","id":2,"name":"Bob"}
{"_event_time":"2026-11-24T10:00:02.000Z","_op":"d","id":1,"name":"Anne"}
{"_event_time":"2026-11-24T10:00:02.500Z","_op":"d","id":2}
{"_event_time":"2026-11-24T10:00:03.000Z","_op":"t"}
rtai-parse: 6 parsed, 0 skipped, 0 dead-lettered, 3 blank
EOF
)"
}

@test "parse --debezium: the schema and -t apply to the unwrapped row" {
	run sh -c "head -2 changes.jsonl | rtai-cat | rtai-parse --debezium -f id:float -f name:string --keep _op,id | rtai-cat -p"
	echo "$output"
	assert_success
	assert_output "$(printf '%s\n' '{"id":1.0,"_op":"c"}' '{"id":1.0,"_op":"u"}')"
	echo '{"op":"c","before":null,"after":{"id":1,"at":"2026-01-01T00:00:00Z"},"source":{"ts_ms":1}}' >at.jsonl
	run sh -c "rtai-cat at.jsonl | rtai-parse --debezium -t at | rtai-cat -p --meta | jq -r ._event_time"
	assert_output '2026-01-01T00:00:00.000Z'
}

@test "parse --debezium: an event of an unknown shape is a bad record" {
	printf '%s\n' '{"id":1}' '{"op":"x","after":{}}' '[1]' | rtai-cat >in.rtai
	run rtai-parse --debezium in.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial 'in.rtai: record 1 (byte 8): unknown changelog shape: not a Debezium change event'
	run sh -c 'rtai-parse --debezium --on-error skip -v in.rtai 2>&1 >/dev/null'
	echo "$output"
	assert_line --index 1 --partial 'record 2 (byte '
	assert_line --index 1 --partial 'unknown changelog shape: op "x" (expected c, r, u, d or t)'
	assert_line --index 2 --partial 'record 3 (byte '
	assert_line --index 2 --partial 'unknown changelog shape: an array, expected an object'
}

@test "parse --debezium: binary envelopes (parsed before) unwrap too" {
	sed -n 2p changes.jsonl | rtai-cat | rtai-parse >env.rtai
	run sh -c 'rtai-parse --debezium env.rtai | rtai-cat -p'
	echo "$output"
	assert_output '{"_op":"u","id":1,"name":"Anne"}'
}

@test "parse --debezium feeds rtai-join --updates, point in time" {
	rtai-cat changes.jsonl | rtai-parse --debezium >changes.rtai
	printf '%s\n' '{"id":1,"ts":"2026-11-24T09:59:59Z"}' '{"id":1,"ts":"2026-11-24T10:00:00.500Z"}' \
		'{"id":1,"ts":"2026-11-24T10:00:01Z"}' '{"id":1,"ts":"2026-11-24T10:00:02Z"}' \
		'{"id":2,"ts":"2026-11-24T10:00:02Z"}' '{"id":2,"ts":"2026-11-24T10:00:03Z"}' |
		rtai-cat | rtai-parse -t ts >ev.rtai
	run sh -c 'rtai-join --updates changes.rtai --on id --as-of updated_at --fields name <ev.rtai | rtai-cat -p | jq -c "[.id, .name]"'
	echo "$output"
	assert_output "$(cat <<'EOF'
[1,null]
[1,"Ann"]
[1,"Anne"]
[1,null]
[2,"Bob"]
[2,null]
EOF
)"
}

@test "parse --debezium: a truncate in rtai-parse's output clears rtai-join's table" {
	cat >trunc.jsonl <<'EOF'
{"op":"c","before":null,"after":{"id":1,"name":"Ann"},"source":{"ts_ms":1795514400000}}
{"op":"c","before":null,"after":{"id":2,"name":"Bob"},"source":{"ts_ms":1795514401000}}
{"op":"t","before":null,"after":null,"source":{"ts_ms":1795514402000}}
{"op":"c","before":null,"after":{"id":3,"name":"Cy"},"source":{"ts_ms":1795514403000}}
EOF
	rtai-cat trunc.jsonl | rtai-parse --debezium >trunc.rtai
	printf '%s\n' '{"id":1,"ts":"2026-11-24T10:00:01.500Z"}' '{"id":2,"ts":"2026-11-24T10:00:01.500Z"}' \
		'{"id":1,"ts":"2026-11-24T10:00:05Z"}' '{"id":2,"ts":"2026-11-24T10:00:05Z"}' \
		'{"id":3,"ts":"2026-11-24T10:00:05Z"}' | rtai-cat | rtai-parse -t ts >ev.rtai
	# As a table file and as a changelog: after the truncate only 3 is left.
	for src in '-t trunc.rtai' '--updates trunc.rtai'; do
		run sh -c "rtai-join $src --on id --fields name -v <ev.rtai 2>err.txt | rtai-cat -p | jq -c '[.id, .name]'; cat err.txt"
		echo "$output"
		assert_line --index 0 '[1,null]'
		assert_line --index 1 '[2,null]'
		assert_line --index 2 '[1,null]'
		assert_line --index 3 '[2,null]'
		assert_line --index 4 '[3,"Cy"]'
		assert_output --partial '3 upserts, 0 deletes, 0 tombstones, 1 truncates, 0 skipped'
	done
	# Point in time: the rows live until the truncate's change time.
	run sh -c "rtai-join --updates trunc.rtai --on id --as-of at --fields name <ev.rtai | rtai-cat -p | jq -c '[.id, .name]'"
	echo "$output"
	assert_output "$(printf '%s\n' '[1,"Ann"]' '[2,"Bob"]' '[1,null]' '[2,null]' '[3,"Cy"]')"
}

@test "parse --debezium: a truncate passes the schema options, which apply to rows" {
	sed -n 9p changes.jsonl | rtai-cat >t.rtai
	run sh -c 'rtai-parse --debezium -f id:int -f name:string -f at:time --strict -t at t.rtai | rtai-cat -p --meta | jq -c "select(._kind == null) | del(._ingest_time)"'
	echo "$output"
	assert_success
	assert_output '{"_event_time":"2026-11-24T10:00:03.000Z","_op":"t"}'
	# The schema frame says so: _op, and every other field optional.
	run sh -c 'rtai-parse --debezium -f id:int -f name:string -f at:time --strict -t at t.rtai | rtai-cat -p --meta | jq -c "select(._kind == \"schema\") | ._schema"'
	echo "$output"
	assert_output '{"fields":[{"name":"_op","type":"string","optional":false},{"name":"id","type":"int","optional":true},{"name":"name","type":"string","optional":true},{"name":"at","type":"time","optional":true}],"event_time":"at"}'
	# --strict does not refuse _op, and --keep does not drop it.
	run sh -c 'head -1 changes.jsonl | rtai-cat | rtai-parse --debezium -f id:int -f name:string --strict --keep id | rtai-cat -p'
	echo "$output"
	assert_success
	assert_output '{"id":1,"_op":"c"}'
}

@test "parse --debezium --key: an update that moves the primary key deletes the old key first" {
	cat >move.jsonl <<'EOF'
{"op":"c","before":null,"after":{"id":1,"name":"Ann"},"source":{"ts_ms":1795514400000}}
{"op":"u","before":{"id":1,"name":"Ann"},"after":{"id":2,"name":"Ann"},"source":{"ts_ms":1795514402000}}
{"op":"u","before":{"id":2,"name":"Ann"},"after":{"id":2,"name":"Anne"},"source":{"ts_ms":1795514403000}}
EOF
	run sh -c 'rtai-cat move.jsonl | rtai-parse --debezium --key id | rtai-cat -p --meta | jq -c "del(._ingest_time)"'
	echo "$output"
	assert_success
	assert_output "$(cat <<'EOF'
{"_event_time":"2026-11-24T10:00:00.000Z","_op":"c","id":1,"name":"Ann"}
{"_event_time":"2026-11-24T10:00:02.000Z","_op":"d","id":1}
{"_event_time":"2026-11-24T10:00:02.000Z","_op":"u","id":2,"name":"Ann"}
{"_event_time":"2026-11-24T10:00:03.000Z","_op":"u","id":2,"name":"Anne"}
EOF
)"
	rtai-cat move.jsonl | rtai-parse --debezium --key id >move.rtai
	printf '%s\n' '{"id":1,"ts":"2026-11-24T10:00:01Z"}' '{"id":2,"ts":"2026-11-24T10:00:01Z"}' \
		'{"id":1,"ts":"2026-11-24T10:00:05Z"}' '{"id":2,"ts":"2026-11-24T10:00:05Z"}' |
		rtai-cat | rtai-parse -t ts >ev.rtai
	# The table after the changes: 1 is gone, 2 has the row.
	for src in '-t move.rtai' '--updates move.rtai'; do
		run sh -c "rtai-join $src --on id --fields name <ev.rtai | rtai-cat -p | jq -c '[.id, .name]'"
		echo "$output"
		assert_output "$(printf '%s\n' '[1,null]' '[2,"Anne"]' '[1,null]' '[2,"Anne"]')"
	done
	# Point in time: 1 until the move, 2 after it.
	run sh -c "rtai-join --updates move.rtai --on id --as-of at --fields name <ev.rtai | rtai-cat -p | jq -c '[.id, .name]'"
	echo "$output"
	assert_output "$(printf '%s\n' '[1,"Ann"]' '[2,null]' '[1,null]' '[2,"Anne"]')"
	# Without --key and without a message key there is no key to compare.
	run sh -c 'rtai-cat move.jsonl | rtai-parse --debezium | rtai-cat -p | jq -c "[._op, .id]"'
	echo "$output"
	assert_output "$(printf '%s\n' '["c",1]' '["u",2]' '["u",2]')"
}

@test "parse --debezium: the Kafka message key names the primary key (kcat -J)" {
	cat >msg.jsonl <<'EOF'
{"topic":"db.users","key":"{\"schema\":{},\"payload\":{\"id\":7}}","payload":{"op":"u","before":{"id":6,"name":"Ann"},"after":{"id":7,"name":"Ann"},"source":{"ts_ms":1795514402000}}}
{"topic":"db.users","key":{"id":7},"payload":{"op":"u","before":{"id":7,"name":"Ann"},"after":{"id":7,"name":"Anne"},"source":{"ts_ms":1795514403000}}}
{"topic":"db.users","key":"7","payload":{"op":"u","before":{"id":7},"after":{"id":8},"source":{"ts_ms":1795514404000}}}
EOF
	run sh -c 'rtai-cat msg.jsonl | rtai-parse --debezium | rtai-cat -p | jq -c "[._op, .id]"'
	echo "$output"
	assert_success
	# The third key is not an object: it names no fields, so no delete.
	assert_output "$(printf '%s\n' '["d",6]' '["u",7]' '["u",7]' '["u",8]')"
	# --key wins over the message key; a before image without the key
	# field (the third) is nothing to compare.
	run sh -c 'rtai-cat msg.jsonl | rtai-parse --debezium --key name | rtai-cat -p | jq -c "[._op, .id, .name]"'
	echo "$output"
	assert_output "$(printf '%s\n' '["u",7,"Ann"]' '["d",null,"Ann"]' '["u",7,"Anne"]' '["u",8,null]')"
}

@test "parse --debezium --key: usage errors" {
	run rtai-parse --key id </dev/null
	echo "$output"
	assert_failure 2
	assert_output --partial 'rtai-parse: --key needs --debezium'
	run rtai-parse --debezium --key id, </dev/null
	echo "$output"
	assert_failure 2
	assert_output --partial "rtai-parse: --key: 'id,': empty field name"
}

@test "parse --debezium feeds rtai-join --as-of: a delete is valid from its change time, not from its before image's time" {
	cat >del.jsonl <<'EOF'
{"op":"c","before":null,"after":{"id":1,"name":"Ann","updated_at":"2026-11-24T10:00:00Z"},"source":{"ts_ms":1795514400000}}
{"op":"d","before":{"id":1,"name":"Ann","updated_at":"2026-11-24T10:00:00Z"},"after":null,"source":{"ts_ms":1795514460000}}
EOF
	rtai-cat del.jsonl | rtai-parse --debezium >del.rtai
	printf '%s\n' '{"id":1,"ts":"2026-11-24T10:00:30Z"}' '{"id":1,"ts":"2026-11-24T10:02:00Z"}' |
		rtai-cat | rtai-parse -t ts >ev.rtai
	# The row lived from 10:00:00 until its delete at 10:01:00, as when
	# rtai-join reads the envelopes themselves.
	for log in del.jsonl del.rtai; do
		run sh -c "rtai-join --updates $log --on id --as-of updated_at --fields name <ev.rtai | rtai-cat -p | jq -c '[.ts, .name]'"
		echo "$output"
		assert_output "$(printf '%s\n' '["2026-11-24T10:00:30.000Z","Ann"]' '["2026-11-24T10:02:00.000Z",null]')"
	done
	# A hand-written delete without a frame time still says when itself.
	printf '%s\n' '{"id":1,"name":"Ann","updated_at":"2026-11-24T10:00:00Z"}' \
		'{"_op":"d","id":1,"updated_at":"2026-11-24T10:01:00Z"}' >rows.jsonl
	run sh -c "rtai-join --updates rows.jsonl --on id --as-of updated_at --fields name <ev.rtai | rtai-cat -p | jq -c '[.ts, .name]'"
	echo "$output"
	assert_output "$(printf '%s\n' '["2026-11-24T10:00:30.000Z","Ann"]' '["2026-11-24T10:02:00.000Z",null]')"
}

@test "parse --debezium: rtai-kafka's metadata key names the primary key" {
	PYTHONPATH=$RTAI_SRC/contrib/python python3 - <<'PY' >k.rtai
import rtai_stream as rs
w = rs.Writer()
def msg(key, value, offset):
    meta = rs.encode_record({"topic": "db.users", "partition": 0, "offset": offset, "key": key})
    w.put(rs.DATA, rs.ENC_RAW, value, offset + 1, None, meta=meta)
msg(b'{"schema":{},"payload":{"id":7}}',
    b'{"op":"u","before":{"id":6,"name":"Ann"},"after":{"id":7,"name":"Ann"},"source":{"ts_ms":1795514402000}}', 0)
msg(b'not json',
    b'{"op":"u","before":{"id":7},"after":{"id":8},"source":{"ts_ms":1795514403000}}', 1)
w.close()
PY
	run sh -c 'rtai-parse --debezium k.rtai | rtai-cat -p | jq -c "[._op, .id]"'
	echo "$output"
	assert_success
	# A key that is not a JSON object names no fields: no delete.
	assert_output "$(printf '%s\n' '["d",6]' '["u",7]' '["u",8]')"
	# Each record keeps its message's metadata.
	run sh -c 'rtai-parse --debezium --meta k.rtai | rtai-cat -p | jq -c "[._op, .id, ._offset]"'
	echo "$output"
	assert_output "$(printf '%s\n' '["d",6,0]' '["u",7,0]' '["u",8,1]')"
}
