#!/usr/bin/env bats
# rtai-sink-kafka against librdkafka's mock cluster (3 brokers on free
# loopback ports, tests/kafka-mock), with kcat as the independent client:
# what rtai-sink-kafka produces kcat reads back. Streams are decoded by
# tests/kafkatool.py, written from rtai-record(5), not from rtai's code.
# The helpers it shares with kafka.bats (rtai-kafka) are in kafka.bash.

load common
load kafka

# ---- rtai-sink-kafka: what kcat reads back -----------------------------------------------

@test "sink-kafka: records as JSON, keys by template in murmur2's partitions, event time as timestamp, headers" {
	kafka_start out:4
	run sh -c 'rtai-cat "$RTAI_SRC/tests/data/clicks.jsonl" | rtai-parse -t event_time |
		rtai-sink-kafka -b "$KAFKA_BROKERS" -t out -k "user:{user_id}" -H src=rtai -H "act={action}" -v'
	echo "$output"
	assert_success
	assert_output --partial "20 records: 20 delivered, 0 failed, 0 skipped, 0 dead-lettered"
	kcat -C -b "$KAFKA_BROKERS" -t out -e -q -J >got.json
	run python3 - <<'PY'
import json, os, subprocess
from datetime import datetime
src = [json.loads(l) for l in open(os.environ["RTAI_SRC"] + "/tests/data/clicks.jsonl")]
got = [json.loads(l) for l in open("got.json")]
assert len(got) == len(src), len(got)
tool = os.environ["RTAI_SRC"] + "/tests/kafkatool.py"
seen = {}
for m in got:
    v = json.loads(m["payload"])
    # the payload is the record: same fields and values (times as ISO 8601)
    match = [s for s in src if s["user_id"] == v["user_id"] and s["item_id"] == v["item_id"]
             and s["event_time"][:19] == v["event_time"][:19] and s["amount"] == v["amount"]]
    assert match, v
    assert m["key"] == "user:" + v["user_id"], m
    ms = int(datetime.fromisoformat(match[0]["event_time"].replace("Z", "+00:00")).timestamp() * 1000)
    assert m["ts"] == ms, (m["ts"], ms)
    assert m["headers"] == ["src", "rtai", "act", v["action"]], m["headers"]
    want = seen.setdefault(m["key"], int(subprocess.check_output(["python3", tool, "partition", m["key"], "4"])))
    assert m["partition"] == want, (m["key"], m["partition"], want)
print("ok", len(seen), "keys")
PY
	echo "$output"
	assert_output --regexp '^ok [0-9]+ keys$'
}

@test "sink-kafka: --raw sends the payload as it is; -t renders a topic per record" {
	kafka_start
	printf 'plain text\n{"not":"parsed"}\n' | rtai-cat | rtai-sink-kafka -b "$KAFKA_BROKERS" -t raw --raw
	run sh -c "kcat -C -b '$KAFKA_BROKERS' -t raw -e -q -f '%s|%K\n' | LC_ALL=C sort"
	echo "$output"
	assert_success
	assert_output "$(printf 'plain text|-1\n{"not":"parsed"}|-1')"
	rtai-cat "$RTAI_SRC/tests/data/clicks.jsonl" | rtai-sink-kafka -b "$KAFKA_BROKERS" -t 'clicks-{action}' -k '{user_id}'
	for a in $(jq -r .action "$RTAI_SRC/tests/data/clicks.jsonl" | sort -u); do
		want=$(jq -c "select(.action == \"$a\")" "$RTAI_SRC/tests/data/clicks.jsonl" | wc -l)
		got=$(kcat -C -b "$KAFKA_BROKERS" -t "clicks-$a" -e -q | wc -l)
		echo "$a: $got of $want"
		[ "$got" -eq "$want" ]
	done
}

@test "sink-kafka: -z lz4, zstd, snappy and gzip: kcat reads the same values back" {
	kafka_start
	rtai-cat "$RTAI_SRC/tests/data/clicks.jsonl" | rtai-cat -p >want.jsonl
	for z in lz4 zstd snappy gzip none; do
		run sh -c "rtai-cat '$RTAI_SRC/tests/data/clicks.jsonl' | rtai-sink-kafka -b '$KAFKA_BROKERS' -t z-$z -z $z -X partitioner=murmur2 -k 'k'"
		echo "$output"
		echo "$z: $output"
		assert_success
		run sh -c "kcat -C -b '$KAFKA_BROKERS' -t z-$z -e -q | diff want.jsonl -"
		echo "$output"
		assert_success
	done
}

@test "sink-kafka: --pass forwards every frame, in order, once Kafka has it" {
	kafka_start
	rtai-cat "$RTAI_SRC/tests/data/clicks.jsonl" | rtai-parse -t event_time >in.rtai
	run sh -c 'rtai-sink-kafka -b "$KAFKA_BROKERS" -t p -k "{user_id}" --pass <in.rtai >out.rtai'
	echo "$output"
	assert_success
	run sh -c 'rtai-cat -p in.rtai >want; rtai-cat -p out.rtai | diff want -'
	echo "$output"
	assert_success
	[ "$(kcat -C -b "$KAFKA_BROKERS" -t p -e -q | wc -l)" -eq 20 ]
}

@test "sink-kafka: brokers lost and back mid-stream: every record delivered once" {
	kafka_start lose:3
	mkfifo in
	rtai-sink-kafka -b "$KAFKA_BROKERS" -t lose -k '{n}' -v <in >/dev/null 2>err.txt 3>&- &
	pid=$!
	BG_PIDS=$pid
	exec {w}>in
	seq 1 500 | awk '{ print "{\"n\":" $1 "}" }' | rtai-cat >&$w
	sleep 1
	for b in 1 2 3; do kafka_cmd down $b; done
	seq 501 1000 | awk '{ print "{\"n\":" $1 "}" }' | rtai-cat >&$w
	sleep 2
	for b in 1 2 3; do kafka_cmd up $b; done
	exec {w}>&-
	bg_wait $pid
	cat err.txt
	[ "$STATUS" -eq 0 ]
	grep -q "1000 records: 1000 delivered, 0 failed" err.txt
	run sh -c "kcat -C -b '$KAFKA_BROKERS' -t lose -e -q | jq .n | sort -n | uniq | wc -l"
	echo "$output"
	assert_output 1000
	run sh -c "kcat -C -b '$KAFKA_BROKERS' -t lose -e -q | wc -l"
	echo "$output"
	assert_output 1000
}

@test "sink-kafka: a message not acknowledged within --retry-for fails: exit 1 whatever the error policy" {
	kafka_start gone:1
	for mode in fail skip "dlq --dlq dead.rtai"; do
		rm -f in
		mkfifo in
		rtai-sink-kafka -b "$KAFKA_BROKERS" -t gone --retry-for 1500ms --on-error $mode <in >/dev/null 2>err 3>&- &
		pid=$!
		BG_PIDS=$pid
		exec {w}>in
		sleep 1
		for b in 1 2 3; do kafka_cmd down $b; done
		echo '{"a":1}' | rtai-cat >&$w
		exec {w}>&-
		bg_wait $pid
		cat err
		for b in 1 2 3; do kafka_cmd up $b; done
		[ "$STATUS" -eq 1 ]
		grep -q 'rtai-sink-kafka: topic "gone" partition 0: key null: not delivered: Local: Message timed out (--retry-for waits longer)' err
		grep -q '1 records: 0 delivered, 1 failed, 0 skipped, 0 dead-lettered' err
	done
}

@test "sink-kafka: bad records: not a record, a key field missing, too large; fail or skip" {
	kafka_start
	printf '{"user_id":"u1"}\nnot json\n{"x":1}\n{"user_id":"u2"}\n' | rtai-cat >in.rtai
	run sh -c 'rtai-sink-kafka -b "$KAFKA_BROKERS" -t bad -k "{user_id}" <in.rtai'
	echo "$output"
	assert_failure 1
	assert_output --partial 'rtai-sink-kafka: stdin: record 2: '
	assert_output --partial '(--raw sends a payload that is not a record as it is)'
	run sh -c 'rtai-sink-kafka -b "$KAFKA_BROKERS" -t skipped -k "{user_id}" --on-error skip <in.rtai'
	echo "$output"
	assert_success
	assert_output --partial '4 records: 2 delivered, 0 failed, 2 skipped, 0 dead-lettered; first: stdin: record 2: '
	refute_output --partial 'record 3'
	run sh -c 'rtai-sink-kafka -v -b "$KAFKA_BROKERS" -t skipped2 -k "{user_id}" --on-error skip <in.rtai'
	echo "$output"
	assert_success
	assert_output --partial 'rtai-sink-kafka: stdin: record 3: key: no field "user_id"'
	[ "$(kcat -C -b "$KAFKA_BROKERS" -t skipped -e -q | wc -l)" -eq 2 ]
	head -c 3000 /dev/zero | tr '\0' x | rtai-cat >big.rtai
	run sh -c 'rtai-sink-kafka -b "$KAFKA_BROKERS" -t big --raw -X message.max.bytes=1000 <big.rtai'
	echo "$output"
	assert_failure 1
	assert_output --partial 'rtai-sink-kafka: stdin: record 1: Failed to produce message: Broker: Message size too large'
	run sh -c 'rtai-sink-kafka -b "$KAFKA_BROKERS" -t big --raw -X message.max.bytes=1000 --on-error skip <big.rtai'
	echo "$output"
	assert_failure 5
}

@test "sink-kafka: --dlq: bad records and records Kafka refuses go to the dead-letter stream; --pass forwards the rest" {
	kafka_start
	printf '{"user_id":"u1"}\nnot json\n{"x":1}\n{"user_id":"u2"}\n' >in.jsonl
	rtai-cat in.jsonl >in.rtai
	run sh -c 'rtai-sink-kafka -b "$KAFKA_BROKERS" -t good -k "{user_id}" --pass --dlq dead.rtai <in.rtai >out.rtai'
	echo "$output"
	assert_success
	assert_output --partial '4 records: 2 delivered, 0 failed, 0 skipped, 2 dead-lettered; first: stdin: record 2: '
	run rtai-cat -p out.rtai
	echo "$output"
	assert_output "$(sed -n '1p;4p' in.jsonl)"
	[ "$(kcat -C -b "$KAFKA_BROKERS" -t good -e -q | wc -l)" -eq 2 ]
	# Records 2 (not a record: its payload as it came) and 3 (with _error).
	run rtai-cat -p dead.rtai
	echo "$output"
	assert_line --index 0 'not json'
	run sh -c 'rtai-cat -p dead.rtai | sed -n 2p | jq -c "[.x, (._error | test(\"user_id\"))]"'
	echo "$output"
	assert_output '[1,true]'
	# Refused by the producer: larger than message.max.bytes.
	head -c 3000 /dev/zero | tr '\0' x | rtai-cat >big.rtai
	run sh -c 'rtai-sink-kafka -b "$KAFKA_BROKERS" -t big --raw -X message.max.bytes=1000 --dlq bigdead.rtai <big.rtai'
	echo "$output"
	assert_failure 5
	assert_output --partial 'every record (1) was dead-lettered: nothing was delivered (exit status 5)'
	run sh -c 'rtai-cat -p bigdead.rtai | tr -d "\n" | wc -c'
	echo "$output"
	assert_output 3000
	# Refused by the broker, in the delivery report (the mock answers the
	# next Produce request with MESSAGE_TOO_LARGE, code 10): the records
	# are kept until their report and dead-lettered with the reason.
	kafka_cmd topic refused 1
	kafka_cmd produce-error 10
	printf '{"a":1}\n{"a":2}\n' | rtai-cat >two.rtai
	run sh -c 'rtai-sink-kafka -b "$KAFKA_BROKERS" -t refused --dlq two-dead.rtai <two.rtai'
	echo "$output"
	assert_failure 5
	run sh -c 'rtai-cat -p two-dead.rtai | jq -c "[.a, ._error]"'
	echo "$output"
	assert_output "$(printf '%s\n' '[1,"refused: Broker: Message size too large"]' '[2,"refused: Broker: Message size too large"]')"
	kafka_cmd produce-error 10
	run sh -c 'rtai-sink-kafka -b "$KAFKA_BROKERS" -t refused <two.rtai'
	echo "$output"
	assert_failure 1
	assert_output --partial 'rtai-sink-kafka: topic "refused" partition 0: key null: refused: Broker: Message size too large'
	# A failed delivery is not a refusal: never dead-lettered (see above).
}

@test "sink-kafka: brokers unreachable at start: an announced, bounded retry, then exit 1" {
	run sh -c 'echo "{}" | rtai-cat | rtai-sink-kafka -b 127.0.0.1:1 -t t --retry-for 1500ms'
	echo "$output"
	assert_failure 1
	assert_line --index 0 --partial "rtai-sink-kafka: brokers 127.0.0.1:1: not reachable ("
	assert_line --index 1 --partial "not reachable after 1.500s"
}

@test "sink-kafka: the first SIGINT is left to the source; a second aborts with 130" {
	kafka_start
	mkfifo in
	rtai-sink-kafka -b "$KAFKA_BROKERS" -t sig -v <in >/dev/null 2>err.txt 3>&- &
	pid=$!
	BG_PIDS=$pid
	exec {w}>in
	seq 1 10 | awk '{ print "{\"n\":" $1 "}" }' | rtai-cat >&$w
	sleep 0.5
	kill -INT $pid
	seq 11 20 | awk '{ print "{\"n\":" $1 "}" }' | rtai-cat >&$w
	exec {w}>&-
	bg_wait $pid
	cat err.txt
	[ "$STATUS" -eq 0 ]
	grep -q "20 records: 20 delivered" err.txt
	rtai-sink-kafka -b "$KAFKA_BROKERS" -t sig <in >/dev/null 2>&1 3>&- &
	pid=$!
	BG_PIDS=$pid
	exec {w}>in
	sleep 0.5
	kill -INT $pid
	sleep 0.2
	kill -INT $pid
	bg_wait $pid
	exec {w}>&-
	[ "$STATUS" -eq 130 ]
}

@test "sink-kafka: usage errors exit 2 with the reason" {
	run rtai-sink-kafka -b x:1
	echo "$output"
	assert_failure 2
	assert_output --partial "a topic is needed: -t TOPIC"
	run rtai-sink-kafka -t t
	echo "$output"
	assert_failure 2
	assert_output --partial "brokers are needed: -b host:port"
	run rtai-sink-kafka -b x:1 -t t -z brotli
	echo "$output"
	assert_failure 2
	assert_output --partial "-z 'brotli': expected lz4, zstd, snappy, gzip or none"
	run rtai-sink-kafka -b x:1 -t t -H novalue
	echo "$output"
	assert_failure 2
	assert_output --partial "-H 'novalue': expected NAME=VALUE"
	run rtai-sink-kafka -b x:1 -t t -k '{unclosed'
	echo "$output"
	assert_failure 2
	assert_output --partial "-k '{unclosed':"
	run rtai-sink-kafka -b x:1 -t '{}'
	echo "$output"
	assert_failure 2
	run rtai-sink-kafka -b x:1 -t t -X no.such=1
	echo "$output"
	assert_failure 2
	assert_output --partial 'No such configuration property: "no.such"'
	run rtai-sink-kafka -b x:1 -t t -F missing.conf
	echo "$output"
	assert_failure 2
	run rtai-sink-kafka -b x:1 -t t --inflight 0
	echo "$output"
	assert_failure 2
	run rtai-sink-kafka -b x:1 -t t --retry-for 0
	echo "$output"
	assert_failure 2
	run rtai-sink-kafka -b x:1 -t t --on-error dlq
	echo "$output"
	assert_failure 2
	assert_output --partial "--on-error dlq needs --dlq FILE"
	run rtai-sink-kafka -b x:1 -t t --on-error skip --dlq d.rtai
	echo "$output"
	assert_failure 2
	assert_output --partial "--dlq needs --on-error dlq"
	run rtai-sink-kafka -b x:1 -t t --on-error maybe
	echo "$output"
	assert_failure 2
	assert_output --partial "--on-error: 'maybe': expected fail, skip or dlq"
	run rtai-sink-kafka -b x:1 -t t extra
	echo "$output"
	assert_failure 2
	assert_output --partial "unexpected argument 'extra'"
}

@test "sink-kafka: -F reads properties from a file" {
	kafka_start
	printf 'bootstrap.servers=%s\n# a comment\ncompression.codec=zstd\n' "$KAFKA_BROKERS" >p.conf
	run sh -c 'echo "{\"a\":1}" | rtai-cat | rtai-sink-kafka -F p.conf -t f'
	echo "$output"
	assert_success
	run kcat -C -b "$KAFKA_BROKERS" -t f -e -q
	echo "$output"
	assert_output '{"a":1}'
}

@test "sink-kafka: the examples of rtai-sink-kafka(1) run against the mock cluster" {
	kafka_start
	run_man_examples rtai-sink-kafka.1
}

@test "sink-kafka: --help lists every option; --version" {
	run rtai-sink-kafka --help
	echo "$output"
	assert_success
	for o in -b -t -k -H --raw -z -X -F --pass --inflight --retry-for --on-error --dlq -v --max-frame --version; do
		assert_output --partial -- "$o"
	done
	run rtai-sink-kafka --version
	echo "$output"
	assert_success
	assert_output --partial "rtai-sink-kafka (rtai)"
}
