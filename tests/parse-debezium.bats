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

@test "parse --debezium: rows with _op, change times as event times, tombstones and truncates dropped" {
	run sh -c 'rtai-cat changes.jsonl | rtai-parse --debezium -v 2>err.txt | rtai-cat -p --meta | jq -c "del(._ingest_time)"; cat err.txt'
	echo "$output"
	assert_output "$(cat <<'EOF'
{"_event_time":"2026-11-24T10:00:00.000Z","_op":"c","id":1,"name":"Ann"}
{"_event_time":"2026-11-24T10:00:01.000Z","_op":"u","id":1,"name":"Anne"}
{"_event_time":"2026-11-24T10:00:01.500Z","_op":"r","id":2,"name":"Bob"}
{"_event_time":"2026-11-24T10:00:02.000Z","_op":"d","id":1,"name":"Anne"}
{"_event_time":"2026-11-24T10:00:02.500Z","_op":"d","id":2}
rtai-parse: 5 parsed, 0 skipped, 0 dead-lettered, 4 blank
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
