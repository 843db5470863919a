#!/usr/bin/env bats
# valgrind memcheck over every tool: the sample pipeline, its error paths,
# a live pipeline of concurrent stages, Redis, and a stop by SIGTERM. No
# invalid access, no uninitialised value, no definite or indirect leak:
# valgrind's status 99 fails the test. The whole suite can also run under
# valgrind: RTAI_EXEC_PREFIX='valgrind -q --error-exitcode=99 ...' make check.

load common

VG="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect"

setup_local() {
	if ! command -v valgrind >/dev/null; then
		skip "valgrind is not installed"
	fi
	if [[ "${RTAI_EXEC_PREFIX:-}" == *valgrind* ]]; then
		skip "the whole suite already runs under valgrind"
	fi
	if grep -q __asan_init "$RTAI_BUILD/rtai-cat"; then
		skip "an AddressSanitizer build: valgrind cannot run it (ASan checks it instead)"
	fi
	cp "$RTAI_SRC"/tests/data/*.jsonl .
}

teardown_local() {
	redis_stop
	kafka_stop
}

# vg TOOL ARGS...: runs a built tool under memcheck.
vg() {
	local tool=$1
	shift
	$VG "$RTAI_BUILD/$tool" "$@"
}

@test "valgrind: the sample pipeline, stage by stage" {
	run vg rtai-cat --marker-interval 1ms clicks.jsonl -o raw.rtai
	echo "$output"
	assert_success
	run vg rtai-cat -p --meta raw.rtai
	assert_success
	if built rtai-gen; then
		run vg rtai-gen clicks -n 500 --disorder 2s --late 0.05 --bad 0.01 -z 1.1
		assert_success
	fi
	built rtai-parse || return 0
	run sh -c "$VG $RTAI_BUILD/rtai-parse -t event_time -f user_id:string -f amount:float? <raw.rtai >typed.rtai"
	echo "$output"
	assert_success
	if built rtai-window; then
		for w in "--sliding 1m/20s" "--session 10s"; do
			run sh -c "$VG $RTAI_BUILD/rtai-window $w -k user_id -a count -a sum:amount -a p95:amount -a distinct:item_id -a stddev:amount <typed.rtai >/dev/null"
			echo "$w: $output"
			assert_success
		done
		run sh -c "$VG $RTAI_BUILD/rtai-window --tumbling 1m -k user_id --emit update <typed.rtai >/dev/null"
		assert_success
	fi
	if built rtai-join; then
		run sh -c "$VG $RTAI_BUILD/rtai-join -t users.jsonl --on user_id <typed.rtai >joined.rtai"
		echo "$output"
		assert_success
		run sh -c "$VG $RTAI_BUILD/rtai-join -t users-history.jsonl --on user_id --as-of updated_at <typed.rtai >/dev/null"
		echo "$output"
		assert_success
	fi
	if built rtai-sink-redis; then
		run sh -c "$VG $RTAI_BUILD/rtai-sink-redis -k 'u:{user_id}' --hash --ttl 1h --dry-run <typed.rtai >/dev/null"
		echo "$output"
		assert_success
	fi
	if built rtai-map; then
		# Enough records for LuaJIT to compile traces; strings, zones,
		# int64 boxes and a script with state and several records out.
		printf 'local n = 0\nfunction map(r) n = n + 1; r.n = n; return {r, {k = r.user_id}} end\n' >m.lua
		for i in 1 2 3 4 5 6 7 8; do cat typed.rtai; done >typed8.rtai
		run sh -c "$VG $RTAI_BUILD/rtai-map -w 'amount == nil or amount >= 0' -s 'x:float=amount' -s 'h=hour(event_time, \"Europe/Paris\")' -s 'u=user_id .. \"!\"' -s 'b=9007199254740993LL + 1' -r item_id=item -d action --script m.lua <typed8.rtai >/dev/null"
		echo "$output"
		assert_success
	fi
	if built rtai-lat; then
		run sh -c "$VG $RTAI_BUILD/rtai-lat -q --json lat.json --prom lat.prom --hgrm lat.hgrm --svg lat.svg <raw.rtai >/dev/null"
		echo "$output"
		assert_success
	fi
}

@test "valgrind: error paths end without leaks (status 1, 2, 4 or 5, never 99)" {
	printf '{"user_id":"u1","amount":"x"}\nnot json\n' | "$RTAI_BUILD/rtai-cat" >bad.rtai
	printf 'RTAI\001\000\000\000\377\377\377\077' >huge.rtai
	head -c 50 bad.rtai >cut.rtai
	run vg rtai-cat -p cut.rtai
	echo "$output"
	assert_failure 4	# a cut stream
	run vg rtai-cat --bogus
	assert_failure 2
	run sh -c "$VG $RTAI_BUILD/rtai-cat -o /dev/full bad.rtai"
	assert_failure 1
	if built rtai-parse; then
		run sh -c "$VG $RTAI_BUILD/rtai-parse -f amount:float <bad.rtai >/dev/null"
		echo "$output"
		assert_failure 1
		run sh -c "$VG $RTAI_BUILD/rtai-parse -f amount:float --dlq dlq.rtai <bad.rtai >/dev/null"
		echo "$output"
		assert_failure 5	# every record dead-lettered
		run sh -c "$VG $RTAI_BUILD/rtai-parse <huge.rtai >/dev/null"
		assert_failure 1
		run vg rtai-parse --schema nosuch.json
		assert_failure 2
	fi
	if built rtai-window; then
		run sh -c "$VG $RTAI_BUILD/rtai-window --tumbling 1m -k nosuch <bad.rtai >/dev/null"
		echo "$output"
		assert_failure 1
		run vg rtai-window --tumbling 0s
		assert_failure 2
	fi
	if built rtai-join; then
		run sh -c "$VG $RTAI_BUILD/rtai-join -t users.jsonl --on nosuch <bad.rtai >/dev/null"
		echo "$output"
		assert_failure 1
		run sh -c "$VG $RTAI_BUILD/rtai-join -t users.jsonl --on nosuch --dlq jdlq.rtai <bad.rtai >/dev/null"
		echo "$output"
		assert_failure 5	# every record dead-lettered
		run vg rtai-join -t nosuch.jsonl --on user_id
		assert_failure 1
	fi
	if built rtai-sink-redis; then
		run sh -c "$VG $RTAI_BUILD/rtai-sink-redis -k '{nosuch}' --json --dry-run <bad.rtai >/dev/null"
		echo "$output"
		assert_failure 1
		run sh -c "$VG $RTAI_BUILD/rtai-sink-redis --retry-for 0 -u redis://:pw@127.0.0.1:1 -k k --json <bad.rtai"
		echo "$output"
		assert_failure 1
	fi
	if built rtai-map; then
		run sh -c "$VG $RTAI_BUILD/rtai-map -s 'x=amount * 2' <bad.rtai >/dev/null"
		echo "$output"
		assert_failure 1
		run sh -c "$VG $RTAI_BUILD/rtai-map -s 'x=amount * 2' --dlq mdlq.rtai <bad.rtai >/dev/null"
		echo "$output"
		assert_failure 5
		run vg rtai-map -w 'amount > > 1'
		assert_failure 2
		run vg rtai-map --script nosuch.lua
		assert_failure 2
	fi
	if built rtai-lat; then
		run sh -c "$VG $RTAI_BUILD/rtai-lat -q <huge.rtai >/dev/null"
		assert_failure 1
		run vg rtai-lat --slo 'p99<'
		assert_failure 2
	fi
}

@test "valgrind: a live pipeline, every stage under memcheck at once" {
	built rtai-parse && built rtai-window && built rtai-lat || return 0
	run bash -o pipefail -c "
		$VG $RTAI_BUILD/rtai-cat --marker-interval 1ms clicks.jsonl |
		$VG $RTAI_BUILD/rtai-parse -t event_time |
		$VG $RTAI_BUILD/rtai-lat -q |
		$VG $RTAI_BUILD/rtai-window --tumbling 10s -k user_id -a count -a sum:amount |
		$VG $RTAI_BUILD/rtai-cat -p"
	echo "$output"
	assert_success
	assert_output --partial '"count":'
}

@test "valgrind: Redis, written and read back" {
	built rtai-sink-redis || return 0
	redis_start
	"$RTAI_BUILD/rtai-cat" clicks.jsonl | "$RTAI_BUILD/rtai-parse" -t event_time >typed.rtai
	for mode in "--hash --only-newer --ttl 1h" "--json" "--value amount"; do
		run sh -c "$VG $RTAI_BUILD/rtai-sink-redis -u $REDIS_URL -k 'f:{user_id}:${mode%% *}' $mode <typed.rtai"
		echo "$mode: $output"
		assert_success
	done
	if built rtai-join; then
		run sh -c "$VG $RTAI_BUILD/rtai-join --redis $REDIS_URL --redis-key 'f:{user_id}:--hash' <typed.rtai >/dev/null"
		echo "$output"
		assert_success
	fi
}

@test "valgrind: rtai-score, its batches, a multi-class model and its error paths" {
	built rtai-score || return 0
	/usr/bin/python3 - <<-'EOF'
	import numpy as np, xgboost as xgb
	x = np.arange(300, dtype=np.float32).reshape(100, 3) % 17
	b = xgb.train({"objective": "binary:logistic", "max_depth": 2, "nthread": 1},
	              xgb.DMatrix(x, label=(x[:, 0] > 8), feature_names=["amount", "a", "b"]), 3)
	b.save_model("m.json"); b.save_model("m.ubj")
	xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 2, "nthread": 1},
	          xgb.DMatrix(x, label=x[:, 0] % 3), 2).save_model("multi.json")
	EOF
	"$RTAI_BUILD/rtai-cat" clicks.jsonl | "$RTAI_BUILD/rtai-parse" -t event_time >typed.rtai
	for args in "0 -m m.json --features amount,amount,amount" "0 -m m.ubj --features amount,x,y --allow-absent -v" \
		"0 -m multi.json --features amount,amount,amount --margin --batch 3" \
		"5 -m m.json --features user_id,amount,amount --on-error skip --threads 2"; do
		run sh -c "$VG $RTAI_BUILD/rtai-score ${args#? } <typed.rtai >/dev/null"
		echo "$args: $output"
		[ "$status" -eq "${args%% *}" ]
	done
	echo hello >bad.json
	head -c 50 m.ubj >cut.ubj
	for args in "-m bad.json" "-m cut.ubj" "-m m.json" "-m m.json --features user_id,amount,amount" "--threads x"; do
		run sh -c "$VG $RTAI_BUILD/rtai-score $args <typed.rtai >/dev/null"
		echo "$args: $output"
		[ "$status" -eq 1 ] || [ "$status" -eq 2 ]
	done
}

@test "valgrind: stopped by SIGTERM mid-stream, every tool frees what it holds" {
	built rtai-parse || return 0
	"$RTAI_BUILD/rtai-cat" clicks.jsonl | "$RTAI_BUILD/rtai-parse" -t event_time >typed.rtai
	cmds=(
		"rtai-parse|$VG $RTAI_BUILD/rtai-parse"
		"rtai-window|$VG $RTAI_BUILD/rtai-window --tumbling 1m -k user_id"
		"rtai-join|$VG $RTAI_BUILD/rtai-join -t users.jsonl --on user_id"
		"rtai-lat|$VG $RTAI_BUILD/rtai-lat -q"
		"rtai-map|$VG $RTAI_BUILD/rtai-map -s x=amount -w user_id~=nil"
	)
	for entry in "${cmds[@]}"; do
		IFS='|' read -r tool cmd <<<"$entry"
		built "$tool" || continue
		# The last tool's output must not pass for this one's start.
		rm -f in.fifo out.rtai err.txt
		mkfifo in.fifo
		{ cat typed.rtai; exec sleep 30; } >in.fifo 2>/dev/null &
		feeder=$!
		$cmd <in.fifo >out.rtai 2>err.txt &
		pid=$!
		# Until it has started (the stream header is out), then a moment
		# to read: whatever it holds then is what the stop must free.
		for _ in $(seq 200); do
			[ -s out.rtai ] && break
			sleep 0.05
		done
		sleep 0.3
		kill -TERM $pid
		# A stage drains (rtai(7), SIGNALS): its input ends next.
		kill $feeder 2>/dev/null || true
		wait $feeder 2>/dev/null || true
		status=0
		wait $pid || status=$?
		echo "$tool: $status $(cat err.txt)"
		[ "$status" -eq 0 ]
	done
}

@test "valgrind: Kafka in and out on the mock cluster: assigned, a group, --pass, errors" {
	built rtai-kafka || return 0
	kafka_start t:2
	printf 'k1:one\nk2:two\nk3:\n' | kcat -P -b "$KAFKA_BROKERS" -t t -K: -Z -H h=v
	run sh -c "rtai-cat clicks.jsonl | rtai-parse -t event_time | $VG $RTAI_BUILD/rtai-sink-kafka -b '$KAFKA_BROKERS' -t t -k '{user_id}' -H 'a={action}' -z lz4 --pass >passed.rtai"
	echo "$output"
	assert_success
	run sh -c "$VG $RTAI_BUILD/rtai-kafka -b '$KAFKA_BROKERS' -t t -e >assigned.rtai"
	echo "$output"
	assert_success
	run sh -c "$VG $RTAI_BUILD/rtai-kafka -b '$KAFKA_BROKERS' -G vg -t t -X session.timeout.ms=6000 -e >group.rtai"
	echo "$output"
	assert_success
	run sh -c "$VG $RTAI_BUILD/rtai-kafka -b '$KAFKA_BROKERS' -t t -e --max-frame 64 --on-error skip >/dev/null"
	echo "$output"
	[ "$status" -eq 5 ]
	run sh -c "$VG $RTAI_BUILD/rtai-kafka -b '$KAFKA_BROKERS' -t nope -e >/dev/null"
	echo "$output"
	[ "$status" -eq 1 ]
	run sh -c "printf 'not json\n' | rtai-cat | $VG $RTAI_BUILD/rtai-sink-kafka -b '$KAFKA_BROKERS' -t t"
	echo "$output"
	[ "$status" -eq 1 ]
}

@test "valgrind: rtai-map mallocs nothing per record (the same count for 20 records and for 160)" {
	built rtai-map || return 0
	"$RTAI_BUILD/rtai-cat" clicks.jsonl | "$RTAI_BUILD/rtai-parse" -t event_time >typed.rtai
	for i in 1 2 3 4 5 6 7 8; do cat typed.rtai; done >typed8.rtai
	printf 'local n = 0\nfunction map(r) n = n + 1; r.n = n; return {r, {k = r.user_id}} end\n' >m.lua
	for f in typed.rtai typed8.rtai; do
		valgrind "$RTAI_BUILD/rtai-map" -w 'amount > 1' -s 'x=amount * 1.1' -s 'u=user_id .. "!"' \
			-s 'h=hour(event_time, "Europe/Paris")' -d item_id --script m.lua <$f 2>&1 >/dev/null |
			grep -o 'total heap usage: [0-9,]* allocs' >>allocs.txt
	done
	run cat allocs.txt
	echo "$output"
	assert_line --index 0 "$(sed -n 2p allocs.txt)"
	[ "$(wc -l <allocs.txt)" -eq 2 ]
}
