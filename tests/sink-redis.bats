#!/usr/bin/env bats
# rtai-sink-redis: every mode against a real redis-server on a free loopback
# port, TTLs, --only-newer out of order, --pass ordering, faults (down at
# start, restart mid-stream, error replies), passwords, a Unix socket.

load common

setup_local() {
	SINK_PY=$BATS_TEST_TMPDIR/mkstream.py
	cat >"$SINK_PY" <<'PY'
# Reads lines and writes an rtai stream, flushing after each line:
#   EVENT_NS JSON    a binary record with that event time ('-': none)
#   W EVENT_NS       a watermark
#   M                a latency marker without stamps
#   @wait FILE       waits until FILE exists (to act between records)
# A string "@time:NS" in the JSON becomes a value of type time.
import json, os, sys, time
sys.path.insert(0, os.environ["RTAI_SRC"] + "/contrib/python")
import rtai_stream as rs
w = rs.Writer()
w.flush()
for line in sys.stdin:
    line = line.rstrip("\n")
    if not line:
        continue
    head, _, rest = line.partition(" ")
    if head == "W":
        w.put(rs.WATERMARK, rs.ENC_NONE, b"", 0, int(rest))
    elif head == "M":
        w.put(rs.MARKER, rs.ENC_NONE, b"", 0, None)
    elif head == "@wait":
        while not os.path.exists(rest):
            time.sleep(0.01)
        continue
    else:
        rec = json.loads(rest)
        for k, v in rec.items():
            if isinstance(v, str) and v.startswith("@time:"):
                rec[k] = rs.Time(int(v[6:]))
        w.write_record(rec, event_ns=None if head == "-" else int(head))
    w.flush()
w.close()
PY
}

teardown_local() {
	[ -z "${CONT_AT_END:-}" ] || kill -CONT $CONT_AT_END 2>/dev/null || true
	[ -z "${KILL_AT_END:-}" ] || kill -9 $KILL_AT_END 2>/dev/null || true
	redis_stop
}

mkstream() {
	python3 "$SINK_PY"
}

# Waits (up to 10s) until redis-cli ARGS prints WANT.
wait_for() {
	local want=$1 i
	shift
	for i in $(seq 1 200); do
		[ "$(rcli "$@" 2>/dev/null)" = "$want" ] && return 0
		sleep 0.05
	done
	echo "timed out waiting for '$*' to be '$want'" >&2
	return 1
}

# Starts redis-server again on the port and directory of the last
# redis_start, with the same persistence arguments.
redis_restart_here() {
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$REDIS_DIR" \
		--save '' --daemonize yes \
		--pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" \
		--unixsocket "$REDIS_DIR/redis.sock" --unixsocketperm 700 "$@" >/dev/null
	wait_for PONG ping
}

# ---- modes ------------------------------------------------------------------

@test "sink-redis: --value writes SET key value; the last record of a key wins" {
	redis_start
	cp "$RTAI_SRC/tests/data/clicks.jsonl" .
	run sh -c 'rtai-cat clicks.jsonl | rtai-sink-redis -u "$REDIS_URL" -k "user:{user_id}:amount" --value amount'
	echo "$output"
	assert_success
	assert_output ''
	run rcli mget user:u1:amount user:u2:amount user:u3:amount
	assert_output "$(printf '27.0\n28.5\n25.5')"
	run rcli dbsize
	assert_output 3
}

@test "sink-redis: --hash writes every field; --fields only those" {
	redis_start
	cp "$RTAI_SRC/tests/data/clicks.jsonl" .
	rtai-cat clicks.jsonl | rtai-sink-redis -u "$REDIS_URL" -k 'f:{user_id}' --hash
	run rcli hgetall f:u2
	assert_output "$(printf 'user_id\nu2\nitem_id\ni4\naction\nclick\namount\n28.5\nevent_time\n2026-11-24T10:00:57Z')"
	rtai-cat clicks.jsonl | rtai-sink-redis -u "$REDIS_URL" -k 'g:{user_id}' --fields action,amount
	run rcli hgetall g:u3
	assert_output "$(printf 'action\nbuy\namount\n25.5')"
}

@test "sink-redis: --replace: the hash equals the record; absent and null fields are removed" {
	redis_start
	printf '%s\n' '1000 {"u":"a","risk":5,"x":1,"y":7}' '2000 {"u":"a","x":2,"risk":null}' | mkstream >in.rtai
	run rtai-sink-redis -u "$REDIS_URL" -k 'h:{u}' --hash --replace --ttl 1h <in.rtai
	echo "$output"
	assert_success
	run rcli hgetall h:a
	echo "$output"
	assert_output "$(printf 'u\na\nx\n2')"
	run rcli pttl h:a
	[ "$output" -gt 3000000 ]
	# Without --replace a deleted account keeps its old risk (HSET merges).
	rcli del h:a >/dev/null
	rtai-sink-redis -u "$REDIS_URL" -k 'h:{u}' --hash <in.rtai
	run rcli hget h:a risk
	assert_output ''
	run rcli hget h:a y
	assert_output 7
	# --fields may name a field that a record lacks (a left join's miss).
	rcli del h:a >/dev/null
	run rtai-sink-redis -u "$REDIS_URL" -k 'h:{u}' --hash --replace --fields risk,x,tier <in.rtai
	echo "$output"
	assert_success
	run rcli hgetall h:a
	assert_output "$(printf 'x\n2')"
	# With --only-newer an older record replaces nothing; the version stays.
	printf '%s\n' '3000 {"u":"b","risk":9}' '2000 {"u":"b","x":1}' | mkstream >old.rtai
	run rtai-sink-redis -v -u "$REDIS_URL" -k 'h:{u}' --hash --replace --only-newer <old.rtai
	echo "$output"
	assert_success
	assert_output --partial '1 written, 1 older skipped'
	run rcli hgetall h:b
	assert_output "$(printf '_event_time\n3000\nu\nb\nrisk\n9')"
	run rtai-sink-redis -k 'h:{u}' --value x --replace </dev/null
	echo "$output"
	assert_failure 2
	assert_output --partial -- '--replace is for --hash'
}

@test "sink-redis: --json writes the record as JSON; values render as text" {
	redis_start
	printf '%s\n' '- {"k":"a","n":7,"f":0.5,"b":true,"z":null,"o":{"x":[1,2]}}' | mkstream >in.rtai
	rtai-sink-redis -u "$REDIS_URL" -k 'j:{k}' --json <in.rtai
	run rcli get j:a
	assert_output '{"k":"a","n":7,"f":0.5,"b":true,"z":null,"o":{"x":[1,2]}}'
	rtai-sink-redis -u "$REDIS_URL" -k 'h:{k}:{n}:{b}' --hash <in.rtai
	run rcli hgetall h:a:7:true
	assert_output "$(printf 'k\na\nn\n7\nf\n0.5\nb\ntrue\nz\n\no\n{"x":[1,2]}')"
	rtai-sink-redis -u "$REDIS_URL" -k 'v:{k}' --value z <in.rtai
	run rcli strlen v:a
	assert_output 0
}

@test "sink-redis: a time in a key renders as ISO 8601" {
	redis_start
	echo '- {"u":"a","t":"@time:1795514400123000000","v":1}' | mkstream |
		rtai-sink-redis -u "$REDIS_URL" -k 'k:{u}:{t}' --value t
	run rcli get k:a:2026-11-24T10:00:00.123Z
	assert_output 2026-11-24T10:00:00.123Z
}

@test "sink-redis: --ttl expires keys, in the same round trip as SET and HSET" {
	redis_start
	cp "$RTAI_SRC/tests/data/clicks.jsonl" .
	rtai-cat clicks.jsonl | rtai-sink-redis -u "$REDIS_URL" -k 's:{user_id}' --value amount --ttl 1h
	rtai-cat clicks.jsonl | rtai-sink-redis -u "$REDIS_URL" -k 'h:{user_id}' --hash --ttl 90s
	rtai-cat clicks.jsonl | rtai-sink-redis -u "$REDIS_URL" -k 'n:{user_id}' --json
	for k in s:u1 s:u2 s:u3; do
		t=$(rcli pttl $k)
		echo "$k $t"
		[ "$t" -gt 3500000 ] && [ "$t" -le 3600000 ]
	done
	t=$(rcli pttl h:u1)
	echo "h:u1 $t"
	[ "$t" -gt 80000 ] && [ "$t" -le 90000 ]
	run rcli pttl n:u1
	assert_output -- -1
	run sh -c 'rtai-cat clicks.jsonl | rtai-sink-redis --dry-run -k "h:{user_id}" --hash --ttl 90s | head -2'
	assert_output "$(printf 'HSET h:u1 user_id u1 item_id i0 action view amount 0.0 event_time 2026-11-24T10:00:00Z\nPEXPIRE h:u1 90000')"
	run sh -c 'rtai-cat clicks.jsonl | rtai-sink-redis --dry-run -k "s:{user_id}" --value amount --ttl 1h | head -1'
	assert_output 'SET s:u1 0.0 PX 3600000'
}

@test "sink-redis: a key template without a {field} is warned about" {
	run sh -c 'rtai-cat "$RTAI_SRC/tests/data/clicks.jsonl" | rtai-sink-redis --dry-run -k user_id --value amount 2>err | head -2'
	echo "$output"
	assert_output "$(printf 'SET user_id 0.0\nSET user_id 1.5')"
	run cat err
	echo "$output"
	assert_output "rtai-sink-redis: --key: 'user_id' has no {field}: every record goes to that one key (did you mean -k '{user_id}'?)"
	run sh -c 'rtai-cat "$RTAI_SRC/tests/data/clicks.jsonl" | rtai-sink-redis --dry-run -k "{user_id}" --value amount 2>&1 >/dev/null'
	assert_output ''
}

@test "sink-redis: a TTL expires the key" {
	redis_start
	echo '- {"k":"a","v":1}' | mkstream | rtai-sink-redis -u "$REDIS_URL" -k 'x:{k}' --value v --ttl 50ms
	wait_for 0 exists x:a
}

# ---- --only-newer -------------------------------------------------------------

@test "sink-redis: --only-newer keeps the newest value whatever the order (SET)" {
	redis_start
	cat >in.txt <<-'EOF'
	300 {"k":"a","v":"third"}
	100 {"k":"a","v":"first"}
	200 {"k":"a","v":"second"}
	5 {"k":"b","v":"early"}
	1795514400000000000 {"k":"c","v":"2026"}
	999999999999999999 {"k":"c","v":"1999"}
	EOF
	mkstream <in.txt >in.rtai
	run rtai-sink-redis -v -u "$REDIS_URL" -k 'o:{k}' --value v --only-newer --ttl 1h <in.rtai
	echo "$output"
	assert_success
	assert_output --partial '3 written, 3 older skipped, 0 retried, 0 failed'
	run rcli mget o:a o:a:_event_time o:b o:c o:c:_event_time
	assert_output "$(printf 'third\n300\nearly\n2026\n1795514400000000000')"
	t=$(rcli pttl o:a:_event_time)
	[ "$t" -gt 3500000 ]
	# The same event time overwrites: a window's later update wins.
	echo '300 {"k":"a","v":"third, updated"}' | mkstream |
		rtai-sink-redis -u "$REDIS_URL" -k 'o:{k}' --value v --only-newer
	run rcli get o:a
	assert_output 'third, updated'
}

@test "sink-redis: --only-newer with --hash and --json; negative times compare right" {
	redis_start
	cat >in.txt <<-'EOF'
	20 {"k":"a","v":2}
	10 {"k":"a","v":1,"w":9}
	30 {"k":"a","v":3}
	-5 {"k":"n","v":"minus five"}
	-50 {"k":"n","v":"minus fifty"}
	-1 {"k":"n","v":"minus one"}
	EOF
	mkstream <in.txt | rtai-sink-redis -u "$REDIS_URL" -k 'h:{k}' --hash --only-newer
	run rcli hgetall h:a
	assert_output "$(printf '_event_time\n30\nk\na\nv\n3')"
	run rcli hmget h:n v _event_time
	assert_output "$(printf 'minus one\n-1')"
	mkstream <in.txt | rtai-sink-redis -u "$REDIS_URL" -k 'j:{k}' --json --only-newer
	run rcli get j:a
	assert_output '{"k":"a","v":3}'
}

@test "sink-redis: --only-newer calls the script by the SHA-1 that Redis gives it" {
	redis_start
	echo '7 {"k":"a","v":1}' | mkstream >in.rtai
	run sh -c 'rtai-sink-redis --dry-run -k "o:{k}" --value v --only-newer <in.rtai'
	echo "$output"
	assert_output --regexp '^EVALSHA [0-9a-f]{40} 2 o:a o:a:_event_time 7 0 1$'
	sha=$(echo "$output" | cut -d' ' -f2)
	rtai-sink-redis -u "$REDIS_URL" -k 'o:{k}' --value v --only-newer <in.rtai
	run rcli script exists "$sha"
	assert_output 1
	run sh -c 'rtai-sink-redis --dry-run -k "o:{k}" --hash --ttl 2s --only-newer <in.rtai'
	assert_output "EVALSHA $sha 1 o:a 7 2000 k a v 1"
}

@test "sink-redis: --only-newer after SCRIPT FLUSH loads the script again" {
	redis_start
	echo '1 {"k":"a","v":1}' | mkstream | rtai-sink-redis -u "$REDIS_URL" -k 'o:{k}' --value v --only-newer
	mkfifo in
	rtai-sink-redis -v -u "$REDIS_URL" -k 'o:{k}' --value v --only-newer <in 2>err &
	pid=$!
	exec 7>in
	echo '2 {"k":"a","v":2}' | mkstream >&7
	wait_for 2 get o:a
	rcli script flush
	printf '3 {"k":"a","v":3}\n' | mkstream >&7
	exec 7>&-
	wait "$pid"
	cat err
	run rcli get o:a
	assert_output 3
	run cat err
	assert_output --partial 'NOSCRIPT'
	assert_output --partial '2 written, 0 older skipped, 1 retried, 0 failed'
}

@test "sink-redis: --only-newer: no record can write another key's version" {
	redis_start
	# A record whose key is u1's version key, with a huge time as its value,
	# then u1's own record: u1 must be written, the first refused.
	printf '%s\n' '1000 {"user_id":"u1:_event_time","v":"9999999999999999999"}' \
		'2000 {"user_id":"u1","v":5}' | mkstream >in.rtai
	for mode in "--value v" "--json"; do
		rcli flushall >/dev/null
		run rtai-sink-redis -u "$REDIS_URL" -k 'f:{user_id}' $mode --only-newer --on-error skip <in.rtai
		echo "$mode: $output"
		assert_success
		assert_output --partial 'rtai-sink-redis: 1 written, 0 older skipped, 0 retried, 0 failed, 1 skipped, 0 dead-lettered; first: stdin: record 1: key f:u1:_event_time ends in ":_event_time", where --only-newer keeps the event time of key f:u1; no record may write there'
		run rcli get f:u1:_event_time
		assert_output 2000
		run rcli exists f:u1
		assert_output 1
	done
	run rcli get f:u1
	assert_output '{"user_id":"u1","v":5}'
}

@test "sink-redis: --only-newer needs event times" {
	redis_start
	echo '- {"k":"a","v":1}' | mkstream >in.rtai
	run rtai-sink-redis -u "$REDIS_URL" -k 'o:{k}' --value v --only-newer <in.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial 'rtai-sink-redis: stdin: record 1: no event time (--only-newer compares event times'
	assert_output --partial '0 written, 0 older skipped, 0 retried, 1 failed'
}

# ---- pipelining, --pass --------------------------------------------------------

@test "sink-redis: a lone record is written at once, without waiting for more" {
	redis_start
	mkfifo in
	rtai-sink-redis -u "$REDIS_URL" -k 'l:{k}' --value v <in &
	pid=$!
	exec 7>in
	echo '- {"k":"a","v":1}' | mkstream >&7
	wait_for 1 get l:a
	echo '- {"k":"b","v":2}' | mkstream >&7
	wait_for 2 get l:b
	exec 7>&-
	wait "$pid"
}

@test "sink-redis: SIGTERM drains: the input is read to its end and written" {
	redis_start
	mkfifo in
	rtai-sink-redis -v -u "$REDIS_URL" -k 't:{k}' --value v <in 2>err &
	pid=$!
	exec 7>in
	echo '- {"k":"a","v":1}' | mkstream >&7
	wait_for 1 get t:a
	kill -TERM "$pid"
	# A stage drains (rtai(7), SIGNALS): what comes after is written too.
	sleep 0.2
	kill -0 "$pid"
	echo '- {"k":"b","v":2}' | mkstream >&7
	exec 7>&-
	st=0
	wait "$pid" || st=$?
	[ "$st" -eq 0 ]
	run cat err
	assert_output --partial '2 written, 0 retried, 0 failed'
}

@test "sink-redis: --inflight bounds the pipeline; all records arrive" {
	redis_start
	seq 1 3000 | awk '{ printf "- {\"i\":%d}\n", $1 }' | mkstream >in.rtai
	for n in 1 7 100000; do
		rcli flushall >/dev/null
		run rtai-sink-redis -v --inflight "$n" -u "$REDIS_URL" -k 'i:{i}' --value i <in.rtai
		echo "$output"
		assert_success
		assert_output --partial '3000 written, 0 retried, 0 failed'
		run rcli dbsize
		assert_output 3000
		run rcli get i:2999
		assert_output 2999
	done
}

@test "sink-redis: --inflight-bytes bounds the memory of the pipeline in bytes" {
	redis_start
	python3 -c '
import json
for i in range(100):
    print("- " + json.dumps({"i": i, "v": "x" * 65536}))' | mkstream >big.rtai
	# Redis holds its replies for a while: the sink must stop reading once
	# 300000 bytes await them, not at 10000 commands (640 MB of these).
	rcli client pause 500 >/dev/null
	run sh -c "rtai-sink-redis -v -u '$REDIS_URL' -k 'b:{i}' --value v --pass --inflight-bytes 300000 <big.rtai | rtai-cat -p | wc -l"
	echo "$output"
	assert_success
	assert_line --index 0 'rtai-sink-redis: connected to redis://127.0.0.1:'"$REDIS_PORT"
	assert_output --partial '100 written, 0 retried, 0 failed'
	assert_line 100
	peak=$(echo "$output" | sed -n 's/.*in flight at most: [0-9]* commands, \([0-9]*\) bytes/\1/p')
	echo "peak: $peak"
	[ "$peak" -le $((300000 + 2 * 65600 + 200)) ]
	run rcli dbsize
	assert_output 100
	run rtai-sink-redis -k 'b:{i}' --value v --inflight-bytes 0 </dev/null
	assert_failure 2
}

@test "sink-redis: --pass forwards every frame once acknowledged, in order" {
	redis_start
	cat >in.txt <<-'EOF'
	10 {"k":"a","v":1}
	W 10
	20 {"k":"b","v":2}
	- {"k":"c","v":3}
	W 30
	EOF
	mkstream <in.txt >in.rtai
	rtai-cat -p --meta in.rtai >want
	rtai-sink-redis --pass -u "$REDIS_URL" -k 'p:{k}' --value v <in.rtai >out.rtai
	run rtai-cat -p --meta out.rtai
	echo "$output"
	assert_output "$(cat want)"
	run rcli mget p:a p:b p:c
	assert_output "$(printf '1\n2\n3')"
}

@test "sink-redis: --pass: a record is forwarded only after Redis has it" {
	redis_start
	seq 1 30 | awk '{ printf "- {\"i\":%d}\n", $1 }' | mkstream >in.rtai
	# Each forwarded record's key must already be readable when it arrives.
	rtai-sink-redis --pass --inflight 50 -u "$REDIS_URL" -k 'i:{i}' --value i <in.rtai |
		rtai-cat -p | while read -r line; do
			i=$(echo "$line" | jq .i)
			[ "$(rcli get "i:$i")" = "$i" ] || { echo "i:$i not yet written"; exit 1; }
		done
}

@test "sink-redis: --pass stamps markers; without --pass nothing is written out" {
	redis_start
	printf '%s\n' '- {"k":"a","v":1}' M 'W 5' | mkstream >in.rtai
	rtai-sink-redis --pass -u "$REDIS_URL" -k 'm:{k}' --value v <in.rtai >out.rtai
	run rtai-cat -p --meta out.rtai
	echo "$output"
	# The marker leaves at once, ahead of the record still awaiting its reply.
	assert_line --index 0 --partial '"_kind":"marker"'
	assert_line --index 0 --partial '"stage":"rtai-sink-redis"'
	assert_line --index 1 --partial '"k":"a"'
	assert_line --index 2 --partial '"_kind":"watermark"'
	run sh -c 'rtai-sink-redis -u "$REDIS_URL" -k "m:{k}" --value v <in.rtai | wc -c'
	assert_output 0
}

# ---- safety ----------------------------------------------------------------------

@test "sink-redis: keys and values with CR LF and spaces cannot inject commands" {
	redis_start
	cat >in.txt <<-'EOF'
	- {"k":"a\r\nSET injected 1","v":"x\r\nFLUSHALL\r\n"}
	- {"k":"b c","v":"*1\r\n$8\r\nFLUSHALL\r\n"}
	EOF
	mkstream <in.txt >in.rtai
	rtai-sink-redis -u "$REDIS_URL" -k '{k}' --value v <in.rtai
	rtai-sink-redis -u "$REDIS_URL" -k 'h{k}' --hash <in.rtai
	run rcli dbsize
	assert_output 4
	run rcli exists injected
	assert_output 0
	run rcli --no-raw get "$(printf 'a\r\nSET injected 1')"
	assert_output '"x\r\nFLUSHALL\r\n"'
	run rcli --no-raw get 'b c'
	assert_output '"*1\r\n$8\r\nFLUSHALL\r\n"'
	run rtai-sink-redis --dry-run -k '{k}' --value v <in.rtai
	assert_output "$(printf '%s\n' 'SET "a\r\nSET injected 1" "x\r\nFLUSHALL\r\n"' \
		'SET "b c" "*1\r\n$8\r\nFLUSHALL\r\n"')"
}

# ---- connection ------------------------------------------------------------------

@test "sink-redis: a password in the URL or RTAI_REDIS_PASSWORD; never printed" {
	REDIS_AUTH=s3cret
	redis_start --requirepass s3cret
	echo '- {"k":"a","v":1}' | mkstream >in.rtai
	run rtai-sink-redis -u "redis://:s3cret@127.0.0.1:$REDIS_PORT" -k 'a:{k}' --value v <in.rtai
	assert_success
	run rcli get a:a
	assert_output 1
	RTAI_REDIS_PASSWORD=s3cret run rtai-sink-redis -u "$REDIS_URL/2" -k 'b:{k}' --value v <in.rtai
	assert_success
	run rcli -n 2 get b:a
	assert_output 1
	run rtai-sink-redis -u "redis://:wrong@127.0.0.1:$REDIS_PORT" -k 'c:{k}' --value v <in.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial "rtai-sink-redis: redis://:***@127.0.0.1:$REDIS_PORT: AUTH: WRONGPASS"
	refute_output --partial wrong@
	run rtai-sink-redis -u "$REDIS_URL" -k 'c:{k}' --value v <in.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial "NOAUTH Authentication required. (give the password in the URL or in RTAI_REDIS_PASSWORD)"
}

@test "sink-redis: the password is not visible in ps" {
	# A prefix such as valgrind shows its own copy of the arguments.
	[ -z "${RTAI_EXEC_PREFIX:-}" ] || skip "ps shows RTAI_EXEC_PREFIX's copy of the arguments"
	REDIS_AUTH=s3cret
	redis_start --requirepass s3cret
	mkfifo in
	rtai-sink-redis -u "redis://:s3cret@127.0.0.1:$REDIS_PORT" -k 'a:{k}' --value v <in &
	pid=$!
	exec 7>in
	echo '- {"k":"a","v":1}' | mkstream >&7
	wait_for 1 get a:a
	# The tool may run under a wrapper (RTAI_EXEC_PREFIX); look at them all.
	run sh -c "ps -o args= -p $pid; ps -o args= --ppid $pid"
	echo "$output"
	assert_output --partial 'redis://:***@127.0.0.1'
	refute_output --partial s3cret
	exec 7>&-
	wait "$pid"
}

@test "sink-redis: a unix socket, and a database" {
	redis_start
	echo '- {"k":"a","v":1}' | mkstream >in.rtai
	run rtai-sink-redis -v -u "unix://$REDIS_SOCK?db=5" -k 'u:{k}' --value v <in.rtai
	echo "$output"
	assert_success
	assert_output --partial "connected to unix://$REDIS_SOCK?db=5"
	run rcli -n 5 get u:a
	assert_output 1
}

@test "sink-redis: Redis down at start, then up within --retry-for; it says at once that it retries, and for how long" {
	redis_start
	redis_stop
	echo '- {"k":"a","v":1}' | mkstream >in.rtai
	rtai-sink-redis -u "$REDIS_URL" --retry-for 20s -k 'd:{k}' --value v <in.rtai 2>err &
	pid=$!
	# Said while Redis is still down, not only when it gives up.
	for _ in $(seq 1 200); do
		grep -q 'trying again' err && break
		sleep 0.05
	done
	cat err
	run cat err
	assert_output "rtai-sink-redis: $REDIS_URL: connect: Connection refused; trying again for up to 20.000s (--retry-for)"
	redis_restart_here
	wait "$pid"
	run rcli get d:a
	assert_output 1
}

@test "sink-redis: Redis never up: exit 1 after --retry-for, clearly" {
	redis_start
	redis_stop
	echo '- {"k":"a","v":1}' | mkstream >in.rtai
	run rtai-sink-redis -u "redis://:pw@127.0.0.1:$REDIS_PORT" --retry-for 300ms -k 'd:{k}' --value v <in.rtai
	echo "$output"
	assert_failure 1
	assert_output --regexp "rtai-sink-redis: redis://:\*\*\*@127.0.0.1:$REDIS_PORT: connect: Connection refused \(gave up after [0-9.]+ms\); --retry-for waits longer"
	run rtai-sink-redis -u "unix://$BATS_TEST_TMPDIR/nosock" --retry-for 0 -k 'd:{k}' --value v <in.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial "unix://$BATS_TEST_TMPDIR/nosock: connect: No such file or directory"
}

@test "sink-redis: a Redis restart mid-stream loses nothing: unacknowledged commands are resent" {
	redis_start --appendonly yes --appendfsync always
	{
		seq 1 10 | awk '{ printf "- {\"i\":%d}\n", $1 }'
		echo '@wait go1'
		seq 11 20 | awk '{ printf "- {\"i\":%d}\n", $1 }'
		echo '@wait go2'
		seq 21 30 | awk '{ printf "- {\"i\":%d}\n", $1 }'
	} >in.txt
	mkstream <in.txt | rtai-sink-redis -v -u "$REDIS_URL" --retry-for 20s -k 'r:{i}' --value i 2>err &
	pid=$!
	wait_for 10 dbsize
	# Hold the next commands unanswered, then kill the server under them.
	rcli client pause 20000 write
	touch go1
	for _ in $(seq 1 200); do
		rcli info clients | grep -q '^blocked_clients:1' && break
		sleep 0.05
	done
	sleep 0.2
	kill -9 "$(cat "$REDIS_DIR/redis.pid")"
	redis_restart_here --appendonly yes --appendfsync always
	touch go2
	wait "$pid"
	cat err
	run rcli dbsize
	assert_output 30
	for i in 1 10 11 20 21 30; do
		[ "$(rcli get r:$i)" = "$i" ]
	done
	# Records 11 to 20 were sent before the kill (at least the first, which
	# the paused server held): each was sent again, and counted.
	n=$(sed -n 's/.*reconnecting to send \([0-9]*\) unacknowledged commands again/\1/p' err)
	echo "resent: $n"
	[ "$n" -ge 1 ] && [ "$n" -le 10 ]
	run cat err
	assert_output --partial "redis://127.0.0.1:$REDIS_PORT: the server closed the connection; reconnecting to send $n unacknowledged commands again"
	assert_output --partial "rtai-sink-redis: 30 written, $n retried, 0 failed"
}

@test "sink-redis: a connection lost while idle is reopened for the next record" {
	redis_start
	mkfifo in
	rtai-sink-redis -v -u "$REDIS_URL" -k 'z:{k}' --value v <in 2>err &
	pid=$!
	exec 7>in
	echo '- {"k":"a","v":1}' | mkstream >&7
	wait_for 1 get z:a
	rcli client kill type normal >/dev/null
	for _ in $(seq 1 200); do
		grep -q 'reconnecting when there is more' err && break
		sleep 0.05
	done
	echo '- {"k":"b","v":2}' | mkstream >&7
	wait_for 2 get z:b
	exec 7>&-
	wait "$pid"
	run cat err
	assert_output --partial 'the server closed the connection; reconnecting when there is more to write'
	assert_output --partial '2 written, 0 retried, 0 failed'
}

@test "sink-redis: Redis gone for good mid-stream: exit 1, counted; --pass output kept" {
	redis_start
	mkfifo in
	rtai-sink-redis --pass --retry-for 300ms -u "$REDIS_URL" -k 'g:{k}' --value v <in >out.rtai 2>err &
	pid=$!
	exec 7>in
	echo '- {"k":"a","v":1}' | mkstream >&7
	wait_for 1 get g:a
	redis_stop
	echo '- {"k":"b","v":2}' | mkstream >&7
	st=0
	wait "$pid" || st=$?
	exec 7>&-
	cat err
	[ "$st" -eq 1 ]
	run cat err
	assert_output --regexp "redis://127.0.0.1:$REDIS_PORT: connect: Connection refused \(gave up after [0-9.]+ms\); --retry-for waits longer"
	assert_output --partial '1 written, 0 retried, 1 failed'
	run rtai-cat -p out.rtai
	assert_output '{"k":"a","v":1}'
}

# ---- errors ------------------------------------------------------------------------

@test "sink-redis: an error reply fails, naming the record, the key and Redis's message" {
	redis_start
	rcli set w:u2 a-string >/dev/null
	cp "$RTAI_SRC/tests/data/clicks.jsonl" .
	run sh -c 'rtai-cat clicks.jsonl | rtai-sink-redis -u "$REDIS_URL" -k "w:{user_id}" --hash'
	echo "$output"
	assert_failure 1
	assert_line --index 0 'rtai-sink-redis: stdin: record 2: key w:u2: WRONGTYPE Operation against a key holding the wrong kind of value'
	assert_output --regexp 'rtai-sink-redis: [0-9]+ written, 0 retried, [0-9]+ failed'
	run rcli hget w:u1 user_id
	assert_output u1
}

@test "sink-redis: --on-error skip counts error replies and goes on; -v reports each" {
	redis_start
	rcli set w:u2 a-string >/dev/null
	cp "$RTAI_SRC/tests/data/clicks.jsonl" .
	n=$(jq -s '[.[] | select(.user_id == "u2")] | length' clicks.jsonl)
	total=$(wc -l <clicks.jsonl)
	run sh -c 'rtai-cat clicks.jsonl | rtai-sink-redis --on-error skip -u "$REDIS_URL" -k "w:{user_id}" --hash --ttl 1h'
	echo "$output"
	assert_success
	assert_output --partial "rtai-sink-redis: $((total - n)) written, 0 retried, 0 failed, $n skipped, 0 dead-lettered; first: stdin: record 2: key w:u2: WRONGTYPE"
	refute_output --partial 'stdin: record 20: key w:u2: WRONGTYPE'
	run rcli hget w:u3 amount
	assert_output 25.5
	run sh -c 'rtai-cat clicks.jsonl | rtai-sink-redis -v --on-error skip -u "$REDIS_URL" -k "w:{user_id}" --hash'
	echo "$output"
	assert_success
	assert_output --partial 'stdin: record 20: key w:u2: WRONGTYPE'
	[ "$(grep -c 'key w:u2: WRONGTYPE' <<<"$output")" -eq "$n" ]
}

@test "sink-redis: --dlq: bad records and error replies go to the dead-letter stream, as they came, with _error" {
	redis_start
	rcli set w:b a-string >/dev/null
	printf '%s\n' '- {"k":"a","v":1}' '- {"v":2}' '- {"k":"b","v":3}' '- {"k":"c","v":4}' >in.txt
	mkstream <in.txt >in.rtai
	for pass in "" --pass; do
		rm -f dead.rtai out.rtai
		rcli del w:a w:c >/dev/null
		run sh -c "rtai-sink-redis $pass --dlq dead.rtai -u '$REDIS_URL' -k 'w:{k}' --hash <in.rtai >out.rtai"
		echo "$pass: $output"
		assert_success
		assert_output --partial 'rtai-sink-redis: 2 written, 0 retried, 0 failed, 0 skipped, 2 dead-lettered; first: stdin: record 2: key: no field "k"'
		# The dead letters: records 2 and 3, in input order, each with its reason.
		run sh -c 'rtai-cat -p dead.rtai | jq -c "del(._error)"'
		echo "$output"
		assert_output "$(sed -n '2p;3p' in.txt | cut -d' ' -f2- | jq -c .)"
		run sh -c 'rtai-cat -p dead.rtai | jq -r ._error'
		echo "$output"
		assert_line --index 0 'key: no field "k"'
		assert_line --index 1 --partial 'key w:b: WRONGTYPE'
		run rcli hget w:c v
		assert_output 4
		if [ -n "$pass" ]; then
			run rtai-cat -p out.rtai
			assert_output "$(sed -n '1p;4p' in.txt | cut -d' ' -f2- | jq -c .)"
		else
			[ ! -s out.rtai ]
		fi
	done
	# Every record dead-lettered: exit 5; the stream is a finished one.
	printf '%s\n' '- {"v":1}' | mkstream >none.rtai
	run sh -c "rtai-sink-redis --on-error dlq --dlq d2.rtai.zst -u '$REDIS_URL' -k 'w:{k}' --json <none.rtai"
	echo "$output"
	assert_failure 5
	assert_output --partial 'every record (1) was dead-lettered: nothing was written (exit status 5)'
	run sh -c 'rtai-cat -p d2.rtai.zst | jq -c "del(._error)"'
	echo "$output"
	assert_output '{"v":1}'
	run rtai-sink-redis --on-error skip -u "$REDIS_URL" -k 'w:{k}' --json <none.rtai
	echo "$output"
	assert_failure 5
}

@test "sink-redis: --on-error skip: a failed record is not forwarded by --pass" {
	redis_start
	rcli set w:b a-string >/dev/null
	printf '%s\n' '- {"k":"a"}' '- {"k":"b"}' '- {"k":"c"}' | mkstream >in.rtai
	rtai-sink-redis --pass --on-error skip -u "$REDIS_URL" -k 'w:{k}' --hash <in.rtai >out.rtai 2>err
	run rtai-cat -p out.rtai
	assert_output "$(printf '{"k":"a"}\n{"k":"c"}')"
}

@test "sink-redis: bad records: a missing key or value field, an undecodable payload" {
	redis_start
	printf '%s\n' '- {"k":"a","v":1}' '- {"v":2}' '- {"k":"c"}' '- {"k":"d","v":4}' | mkstream >in.rtai
	run rtai-sink-redis -u "$REDIS_URL" -k 'b:{k}' --value v <in.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial 'rtai-sink-redis: stdin: record 2: key: no field "k"'
	assert_output --partial '1 written, 0 retried, 1 failed'
	run rcli exists b:d
	assert_output 0
	run rtai-sink-redis --on-error skip -u "$REDIS_URL" -k 'b:{k}' --value v <in.rtai
	echo "$output"
	assert_success
	assert_output --partial '2 written, 0 retried, 0 failed, 2 skipped, 0 dead-lettered; first: stdin: record 2: key: no field "k"'
	run sh -c 'printf "not json\n" | rtai-cat | rtai-sink-redis -u "$REDIS_URL" -k "b:{k}" --json'
	echo "$output"
	assert_failure 1
	assert_output --partial 'stdin: record 1: '
	run rtai-sink-redis -u "$REDIS_URL" -k 'b:{k}' --fields k,nope <in.rtai
	assert_failure 1
	assert_output --partial 'record 1: no field "nope" (--fields)'
}

@test "sink-redis: input that is not a stream, or truncated" {
	redis_start
	run sh -c 'echo "{\"k\":1}" | rtai-sink-redis -u "$REDIS_URL" -k k --json'
	echo "$output"
	assert_failure 1
	assert_output --partial 'stdin is not an rtai stream; pipe text through rtai-cat first'
	echo '- {"k":"a","v":1}' | mkstream >in.rtai
	head -c 30 in.rtai >cut.rtai
	run rtai-sink-redis -u "$REDIS_URL" -k 'k' --json <cut.rtai
	echo "$output"
	assert_failure 4
	assert_output --partial 'stdin: byte 8: the stream was cut inside a frame'
}

@test "sink-redis: --dry-run prints commands and connects to nothing" {
	cp "$RTAI_SRC/tests/data/clicks.jsonl" .
	run sh -c 'rtai-cat clicks.jsonl | rtai-sink-redis -u redis://127.0.0.1:1 -k "c:{user_id}" --json --dry-run | tail -1'
	echo "$output"
	assert_success
	assert_output 'SET c:u2 "{\"user_id\":\"u2\",\"item_id\":\"i4\",\"action\":\"click\",\"amount\":28.5,\"event_time\":\"2026-11-24T10:00:57Z\"}"'
	run sh -c 'rtai-cat clicks.jsonl | rtai-sink-redis -k "c:{user_id}" --fields action --dry-run | wc -l'
	assert_output 20
}

@test "sink-redis: bad options are usage errors" {
	run rtai-sink-redis --json
	assert_failure 2
	assert_output --partial 'a key template is needed'
	run rtai-sink-redis -k k
	assert_failure 2
	assert_output --partial 'say what to write: --value FIELD, --hash or --json'
	run rtai-sink-redis -k k --json --hash
	assert_failure 2
	assert_output --partial 'exclude each other'
	run rtai-sink-redis -k 'k:{a' --json
	assert_failure 2
	assert_output --partial "--key: 'k:{a': column 3: '{' without a closing '}'"
	run rtai-sink-redis -k k --json -u 'http://:hunter2@x'
	echo "$output"
	assert_failure 2
	assert_output --partial "--url: 'http://:***@x': expected redis://"
	refute_output --partial hunter2
	run rtai-sink-redis -k k --json --ttl 0
	assert_failure 2
	assert_output --partial 'give at least 1ms'
	run rtai-sink-redis -k k --json --ttl 5
	assert_failure 2
	run rtai-sink-redis -k k --json --inflight 0
	assert_failure 2
	run rtai-sink-redis -k k --json --retry-for x
	assert_failure 2
	run rtai-sink-redis -k k --json --on-error maybe
	assert_failure 2
	assert_output --partial "--on-error: 'maybe': expected fail, skip or dlq"
	run rtai-sink-redis -k k --json --on-error dlq
	echo "$output"
	assert_failure 2
	assert_output --partial "--on-error dlq needs --dlq FILE"
	run rtai-sink-redis -k k --json --on-error fail --dlq d.rtai
	echo "$output"
	assert_failure 2
	assert_output --partial "--dlq needs --on-error dlq"
	run rtai-sink-redis -k k --hash --fields a,,b
	assert_failure 2
	run rtai-sink-redis -k k --json --pass --dry-run
	assert_failure 2
	run rtai-sink-redis -k k --json extra
	assert_failure 2
	assert_output --partial "unexpected argument 'extra'"
	run rtai-sink-redis -k k --json --max-frame 1
	assert_failure 2
	run rtai-sink-redis --bogus
	assert_failure 2
	assert_output --partial "Try 'rtai-sink-redis --help'"
}

# ---- checkpoints (--checkpoint-dir, rtai(7) "Checkpoints") ----------------------

# snap_counts FILE: the counts in a snapshot of rtai-sink-redis, read with
# the format of lib/ckpt.h and the sink's state (a tag, then written, older
# and failed as u64), by python3: "TAG WRITTEN OLDER FAILED".
snap_counts() {
	python3 - "$1" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"RTAICKPT"
ver, idlen, cid, run, slen = struct.unpack_from("<IIqQQ", b, 8)
st = b[8 + 32 + idlen:8 + 32 + idlen + slen]
tn = struct.unpack_from("<I", st, 0)[0]
print(st[4:4 + tn].decode(), *struct.unpack_from("<QQQ", st, 4 + tn))
PY
}

# cat_records FILE: the records before the barrier, from rtai-cat's snapshot.
cat_records() {
	python3 -c '
import json, sys
s = open(sys.argv[1], "rb").read()
i = s.index(b"[{")
print(json.JSONDecoder().raw_decode(s[i:].decode("latin-1"))[0][0]["records"])' "$1"
}

size_above() { [ "$(stat -c %s "$1")" -gt "$2" ]; }

@test "sink-redis: --checkpoint-dir: a checkpoint completes only once Redis acknowledged every write before its barrier; a rerun resumes" {
	redis_start
	seq 1 20000 | sed 's/.*/{"n":&}/' >in.jsonl
	rtai-cat -o cap.rtai in.jsonl
	export RTAI_CHECKPOINT_DIR=$PWD/d
	mkfifo src
	rtai-cat --rate 4000 cap.rtai >src 2>cat.1 &
	cat_pid=$!
	# tee shows what reached the sink
	tee seen.rtai <src | rtai-sink-redis -v -u "$REDIS_URL" -k 'n:{n}' --value n 2>sink.1 &
	sink_pid=$!
	redis_pid=$(cat "$REDIS_DIR/redis.pid")
	KILL_AT_END="$cat_pid $sink_pid"	# teardown_local: when a wait fails
	CONT_AT_END=$redis_pid
	wait_until test -e d/source	# the source's signal handlers are in place
	wait_until test "$(rcli exists n:1)" = 1
	kill -STOP "$redis_pid"
	# records reach the sink that Redis cannot acknowledge, then barrier 1
	size=$(stat -c %s seen.rtai)
	wait_until size_above seen.rtai "$size"
	kill -USR1 "$cat_pid"
	wait_until compgen -G 'd/ckpt-1/rtai-cat-*.snap' >/dev/null
	size=$(stat -c %s seen.rtai)
	wait_until size_above seen.rtai "$size"	# the barrier, and more, reached the sink
	sleep 1
	run ls d/ckpt-1
	echo "$output"
	refute_output --partial COMPLETE
	refute_output --partial rtai-sink-redis
	kill -CONT "$redis_pid"
	wait_until test -e d/ckpt-1/COMPLETE
	# the sink's snapshot counts exactly the records before the barrier
	run snap_counts d/ckpt-1/rtai-sink-redis-*.snap
	echo "$output"
	assert_output "rtai-sink-redis 1 $(cat_records d/ckpt-1/rtai-cat-*.snap) 0 0"
	# a savepoint stops the pipeline (unless it ended already); the same
	# command line goes on from its latest complete checkpoint
	kill -TERM "$cat_pid" 2>/dev/null || true
	wait "$cat_pid"
	wait "$sink_pid"
	id=$(ls d | sed -n 's/^ckpt-//p' | sort -n | tail -1)
	[ -e "d/ckpt-$id/COMPLETE" ]
	rtai-cat --rate 4000 cap.rtai 2>cat.2 |
		rtai-sink-redis -v -u "$REDIS_URL" -k 'n:{n}' --value n 2>sink.2
	run cat sink.2
	echo "$output"
	assert_line --index 0 "rtai-sink-redis: resuming from checkpoint $id of $PWD/d"
	assert_output --partial "rtai-sink-redis: 20000 written, 0 retried, 0 failed"
	run cat cat.2
	assert_output "rtai-cat: resuming from checkpoint $id of $PWD/d"
	run rcli dbsize
	assert_output 20000
	redis_dump >got
	seq 1 20000 | sed 's/.*/n:& string &/' | LC_ALL=C sort >want
	cmp got want
}

@test "sink-redis: --checkpoint-dir with --pass: the barrier is forwarded after the records before it" {
	redis_start
	seq 1 3000 | sed 's/.*/{"n":&}/' >in.jsonl
	rtai-cat -o cap.rtai in.jsonl
	rtai-cat --checkpoint-dir d --checkpoint-interval 200ms --rate 3000 cap.rtai |
		rtai-sink-redis --checkpoint-dir d --pass -u "$REDIS_URL" -k 'n:{n}' --value n |
		rtai-cat -p --meta >out
	run python3 "$RTAI_SRC/tests/ckpt_check.py" barriers cap.rtai out
	echo "$output"
	assert_success
	[[ "$output" =~ ^[1-9][0-9]*\ 3000\ checkpoint$ ]]
	# every checkpoint that is kept is complete, the sink's part in it
	n=0
	for c in d/ckpt-*; do
		[ -e "$c/COMPLETE" ] || continue
		run snap_counts "$c"/rtai-sink-redis-*.snap
		assert_output "rtai-sink-redis 1 $(cat_records "$c"/rtai-cat-*.snap) 0 0"
		n=$((n + 1))
	done
	[ "$n" -gt 0 ]
}

@test "sink-redis: --checkpoint-dir: a damaged snapshot is refused, naming the file (status 6)" {
	redis_start
	seq 1 1000 | sed 's/.*/{"n":&}/' >in.jsonl
	rtai-cat -o cap.rtai in.jsonl
	rtai-cat --checkpoint-dir d --checkpoint-interval 200ms --rate 2000 cap.rtai |
		rtai-sink-redis --checkpoint-dir d -u "$REDIS_URL" -k 'n:{n}' --value n
	c=$(ls -d d/ckpt-* | sort -t- -k2 -n | tail -1)
	[ -e "$c/COMPLETE" ]
	snap=$(ls "$c"/rtai-sink-redis-*.snap)
	truncate -s 40 "$snap"
	run rtai-sink-redis --checkpoint-dir d -u "$REDIS_URL" -k 'n:{n}' --value n </dev/null
	echo "$output"
	assert_failure 6
	assert_output --partial "rtai-sink-redis: $snap: truncated"
}

@test "sink-redis: --stage-name tells two like sinks apart; --dry-run takes no part in checkpoints" {
	redis_start
	seq 1 600 | sed 's/.*/{"n":&}/' | rtai-cat -o cap.rtai
	# Paced (3 s at most), so that the first sink is still running when the
	# second registers: two like stages are found while both run.
	run bash -o pipefail -c 'rtai-cat --checkpoint-dir d --rate 200 cap.rtai |
		rtai-sink-redis --checkpoint-dir d --pass -u "$1" -k "n:{n}" --value n |
		rtai-sink-redis --checkpoint-dir d --pass -u "$1" -k "n:{n}" --value n >/dev/null' _ "$REDIS_URL"
	echo "$output"
	assert_failure 1
	assert_output --partial "--stage-name"
	rm -rf d
	run bash -o pipefail -c 'rtai-cat --checkpoint-dir d --checkpoint-interval 200ms --rate 1000 cap.rtai |
		rtai-sink-redis --checkpoint-dir d --pass -u "$1" -k "n:{n}" --value n |
		rtai-sink-redis --checkpoint-dir d --stage-name second --pass -u "$1" -k "n:{n}" --value n >/dev/null' _ "$REDIS_URL"
	echo "$output"
	assert_success
	# both sinks wrote their part of the checkpoints
	c=$(ls -d d/ckpt-* | sort -t- -k2 -n | tail -1)
	run ls "$c"
	echo "$output"
	assert_line COMPLETE
	[ "$(grep -c '^rtai-sink-redis-.*\.snap$' <<<"$output")" -eq 2 ]
	export RTAI_CHECKPOINT_DIR=$PWD/e
	run rtai-sink-redis -k 'n:{n}' --value n --dry-run <cap.rtai
	echo "$output"
	assert_success
	[ ! -e e ]
}

@test "sink-redis: --help lists every option; --version" {
	run rtai-sink-redis --help
	assert_success
	for o in --url --retry-for --key --value --hash --fields --json --ttl --only-newer \
		--replace --inflight --inflight-bytes --pass --on-error --dlq --dry-run --verbose --max-frame \
		--checkpoint-dir --stage-name --help --version; do
		assert_output --partial -- "$o"
	done
	run rtai-sink-redis --version
	assert_success
	assert_output --regexp '^rtai-sink-redis \(rtai\) [0-9]'
}

# The clicks of each user in the hour up to its latest click, counted by
# brute force in Python: what the flagship example must leave in Redis.
expected_last_hour() {
	python3 - "$1" <<'PY'
import json, sys, datetime
def ns(s):
    d = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    return int(d.timestamp()) * 10**9 + d.microsecond * 1000
by = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    by.setdefault(r["user_id"], []).append(ns(r["event_time"]))
for u in sorted(by):
    last = max(by[u])
    print(u, sum(1 for t in by[u] if last - 3600 * 10**9 < t <= last))
PY
}

# Runs the man page's first example (the flagship) on ./clicks.jsonl and
# prints "user count" for each user, as Redis holds them.
flagship_in_redis() {
	local block
	block=$(man_examples rtai-sink-redis.1 | tr '\0' '\n' | sed -n '1,/^redis-cli/p' | sed '$d')
	block=${block//redis:\/\/127.0.0.1:6379/$REDIS_URL}
	echo "$block" >flagship.sh
	bash -e -o pipefail flagship.sh >flagship.log 2>&1 || { cat flagship.sh flagship.log; return 1; }
	for u in $(python3 -c 'import json,sys; print(" ".join(sorted({json.loads(l)["user_id"] for l in open("clicks.jsonl")})))'); do
		echo "$u $(rcli get "features:user:$u:clicks_last_hour")"
	done
}

@test "sink-redis: the flagship example writes the true clicks of the last hour (checked by brute force)" {
	redis_start
	# The sample (a minute of clicks), then three hours of clicks at uneven
	# gaps, where a window that has only just opened holds far fewer.
	cp "$RTAI_SRC/tests/data/clicks.jsonl" .
	run flagship_in_redis
	echo "$output"
	assert_success
	assert_output "$(expected_last_hour clicks.jsonl)"
	assert_output --partial 'u1 7'
	rcli flushall >/dev/null
	python3 - <<'PY' >clicks.jsonl
import json, random, datetime
random.seed(7)
t = datetime.datetime(2026, 11, 24, 8, 0, tzinfo=datetime.timezone.utc)
for i in range(900):
    t += datetime.timedelta(seconds=random.choice([1, 5, 20, 40]))
    print(json.dumps({"user_id": "u%d" % random.randint(1, 3), "item_id": "i%d" % i,
                      "event_time": t.strftime("%Y-%m-%dT%H:%M:%SZ")}))
PY
	expected_last_hour clicks.jsonl
	run flagship_in_redis
	echo "$output"
	assert_success
	assert_output "$(expected_last_hour clicks.jsonl)"
	# The version kept beside the value is the latest click's event time.
	last=$(python3 -c 'import json,datetime; print(max(int(datetime.datetime.fromisoformat(json.loads(l)["event_time"].replace("Z","+00:00")).timestamp()) for l in open("clicks.jsonl") if json.loads(l)["user_id"] == "u1") * 10**9)')
	run rcli get features:user:u1:clicks_last_hour:_event_time
	assert_output "$last"
}

# The README's pipeline (its first example, as the README prints it), on
# 6000 generated clicks of 50 users two seconds apart (3h20m of event time,
# so clicks leave the hour), into a private Redis. Prints the block it ran.
readme_flagship() {
	local block
	block=$(awk '/^    rtai-gen clicks --rate 20000/ { on = 1 } on { print; if (!/\\$/) exit }' "$RTAI_SRC/README")
	case $block in
	*'rtai-gen clicks --rate 20000 '*'rtai-window -k user_id --over 1h -a clicks_1h=count -a spend_1h=sum:amount'*'rtai-sink-redis --key '*'rtai-lat --slo '*) ;;
	*) echo "the README's first pipeline is not the one this test knows: $block" >&2; return 1 ;;
	esac
	block=${block/rtai-gen clicks --rate 20000 /rtai-gen clicks --rate 20000 -n 6000 --keys 50 --step 2s }
	block=${block/rtai-sink-redis /rtai-sink-redis -u $REDIS_URL }
	printf '%s >out.rtai 2>err.txt\necho "${PIPESTATUS[*]}" >status\n' "$block"
}

@test "sink-redis: the README's flagship pipeline: clicks_1h and spend_1h of every click, and in Redis, equal a python3 brute force" {
	redis_start
	python3 -c 'import json
for i in range(1, 51): print(json.dumps({"user_id": "u%d" % i, "tier": ["free", "silver", "gold"][i % 3]}))' >profiles.jsonl
	readme_flagship >flagship.sh
	cat flagship.sh
	bash flagship.sh
	cat err.txt status
	# Every stage ends 0; rtai-lat may say 3 when the SLO was breached (a
	# loaded machine: this test asserts no timing).
	run cat status
	assert_output --regexp '^0 0 0 0 0 0 [03]$'
	# The same clicks again (rtai-gen: same options, same bytes).
	rtai-gen clicks -n 6000 --keys 50 --step 2s >clicks.jsonl
	rtai-cat -p out.rtai >out.jsonl
	for u in $(seq 1 50); do
		rcli hgetall "features:user:u$u" | paste - - | sed "s/^/u$u\t/"
	done >redis.txt
	run rcli dbsize
	echo "$output"
	assert_output "$(python3 -c 'import json; print(len({json.loads(l)["user_id"] for l in open("clicks.jsonl")}))')"
	cat >check.py <<-'PY'
	import datetime, json, sys
	from fractions import Fraction as F
	def ns(s):
	    d = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
	    return (d - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) // datetime.timedelta(microseconds=1) * 1000
	H, eps = 3600 * 10**9, F(2) ** -52
	clicks = [json.loads(l) for l in open("clicks.jsonl")]
	out = [json.loads(l) for l in open("out.jsonl")]
	tier = {p["user_id"]: p["tier"] for p in map(json.loads, open("profiles.jsonl"))}
	assert len(out) == len(clicks) == 6000, (len(out), len(clicks))
	by, bad, last, left = {}, 0, {}, 0
	def close(got, xs):
	    exact, mag = sum(F(x) for x in xs), sum(abs(F(x)) for x in xs)
	    return type(got) is float and abs(F(got) - exact) <= (len(xs) + 2) * eps * mag
	for c, o in zip(clicks, out):
	    u, t = c["user_id"], ns(c["event_time"])
	    by.setdefault(u, []).append((t, float(c["amount"])))
	    xs = [a for s, a in by[u] if t - H < s <= t]
	    ok = (o["user_id"], o["item_id"], ns(o["event_time"])) == (u, c["item_id"], t) \
	        and o["clicks_1h"] == len(xs) and type(o["clicks_1h"]) is int \
	        and close(o["spend_1h"], xs) and o["tier"] == tier[u]
	    if not ok:
	        bad += 1
	        if bad < 5: print("click", c, "got", o, "want", len(xs), float(sum(F(x) for x in xs)))
	    last[u] = (o, xs)
	    left += len(xs) < len(by[u])
	# Redis holds each user's latest click, its features and its profile.
	redis = {}
	for line in open("redis.txt"):
	    u, f, v = line.rstrip("\n").split("\t")
	    redis.setdefault(u, {})[f] = v
	assert sorted(redis) == sorted(last), (sorted(redis), sorted(last))
	for u, h in sorted(redis.items()):
	    o, xs = last[u]
	    ok = h.get("clicks_1h") == str(len(xs)) and close(float(h.get("spend_1h", "nan")), xs) \
	        and float(h["spend_1h"]) == o["spend_1h"] and h.get("tier") == tier[u] \
	        and h.get("item_id") == o["item_id"]
	    if not ok:
	        bad += 1
	        print("redis", u, h, "want", len(xs), float(sum(F(x) for x in xs)))
	print(len(out), "records,", len(last), "users,", bad, "wrong;", "hour left some clicks behind:", left > 0)
	sys.exit(bad > 0 or left == 0)
	PY
	run python3 check.py
	echo "$output"
	assert_success
	assert_output '6000 records, 50 users, 0 wrong; hour left some clicks behind: True'
}

@test "sink-redis: the examples of the man page run" {
	redis_start
	run_man_examples rtai-sink-redis.1
}
