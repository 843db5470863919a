#!/usr/bin/env bats
# rtai-kafka as the checkpoint source of a pipeline (rtai(7) "Checkpoints"),
# against librdkafka's mock cluster (tests/kafka-mock): barriers carry each
# partition's next offset (checked by tests/kafkatool.py against the data
# frames before them), the offsets of a complete checkpoint are committed to
# Kafka (read back by kafka-mock's own consumer, rd_kafka_committed) and
# nothing else is, and a rerun resumes at them: with a registered sink
# (tests/ckpt-sink) killed -9 mid-run, every message is in its file once.
# A group join takes 3 to 5 s on the mock: one test uses a group.

load common
load kafka

export GROUPX="-X session.timeout.ms=6000 -X heartbeat.interval.ms=500"
SINK=$RTAI_BUILD/tests/ckpt-sink	# run directly, so that $! is its pid

ktool() { python3 "$RTAI_SRC/tests/kafkatool.py" "$@"; }
lines_at_least() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }
# latest_complete DIR: the id of DIR's latest complete checkpoint, or 0.
latest_complete() {
	local c n=0
	for c in "$1"/ckpt-*; do
		[ -f "$c/COMPLETE" ] && [ "${c##*-}" -gt "$n" ] && n=${c##*-}
	done
	echo "$n"
}
stages_are() { [ "$(ls "$1"/stages 2>/dev/null | wc -l)" -eq "$2" ]; }
newer_than() { [ "$(latest_complete "$1")" -gt "$2" ]; }
# next_offsets TOPIC [MAX]: "PARTITION OFFSET" per partition, the offset after
# its last message (of those whose value is <= MAX), as kcat reads the topic.
next_offsets() {
	kcat -C -b "$KAFKA_BROKERS" -t "$1" -e -q -J |
		jq -r --argjson max "${2:-1e18}" 'select((.payload | tonumber) <= $max) | [.partition, .offset] | @tsv' |
		sort -k1,1n -k2,2n | awk '{ n[$1] = $2 + 1 } END { for (p in n) print p, n[p] }' | sort -n
}

setup_local() {
	unset RTAI_CHECKPOINT_DIR
	command -v kcat >/dev/null || { echo "kcat is not installed (scripts/packages.sh)" >&2; return 1; }
}

@test "kafka checkpoint: barriers carry each partition's next offset; SIGTERM: a savepoint, committed to the group; a rerun resumes after it" {
	kafka_start t:3
	seq 1 300 | awk '{ print "k" $1 ":" $1 }' | kcat -P -b "$KAFKA_BROKERS" -t t -K:
	cmd='rtai-kafka -b "$KAFKA_BROKERS" -G g -t t $GROUPX --checkpoint-dir d --checkpoint-interval 100ms'
	{ sh -c "echo \$\$ >kpid; exec $cmd" 2>k.1 3>&-; echo $? >kst; } |
		tee one.rtai | "$SINK" --checkpoint-dir d out.txt 2>s.1 &
	sink=$!
	BG_PIDS=$sink
	wait_until lines_at_least out.txt 300
	before=$(latest_complete d)
	wait_until newer_than d "$before"	# a checkpoint after every message
	kill -TERM "$(cat kpid)"
	bg_wait "$sink"
	wait_until test -s kst	# rtai-kafka ended (a bare wait would wait for the cluster)
	cat k.1 s.1
	[ "$STATUS" -eq 0 ]
	[ "$(cat kst)" -eq 0 ]
	run ktool barriers one.rtai
	echo "$output"
	assert_success
	# the last barrier is the savepoint, complete, with every message before it
	last=${lines[${#lines[@]} - 1]}
	[[ "$last" == *" savepoint "* ]]
	id=${last%% *}
	[ "$(latest_complete d)" -eq "$id" ]
	want=$(next_offsets t)
	echo "$want"
	[ "$(echo "$want" | wc -l)" -eq 3 ]
	[ "$last" = "$id savepoint $(echo "$want" | awk '{ printf "%st:%s=%s", (NR > 1 ? " " : ""), $1, $2 }')" ]
	# the group's committed offsets are the savepoint's
	kafka_cmd committed g t 3 "$PWD/committed"
	run cat committed
	echo "$output"
	assert_output "$want"
	# the same command line again: it resumes after the savepoint
	seq 301 330 | awk '{ print "k" $1 ":" $1 }' | kcat -P -b "$KAFKA_BROKERS" -t t -K:
	{ sh -c "exec $cmd -e" 2>k.2 3>&-; } | tee two.rtai | "$SINK" --checkpoint-dir d out.txt 2>s.2
	cat k.2 s.2
	run cat k.2
	assert_output "rtai-kafka: resuming from checkpoint $id of d"
	run sh -c "python3 '$RTAI_SRC/tests/kafkatool.py' show two.rtai | jq -r .payload | sort -n | paste -sd' '"
	echo "$output"
	assert_output "$(seq 301 330 | paste -sd' ')"
	run sh -c 'sort -n out.txt | uniq | wc -l; wc -l <out.txt'
	assert_output "$(printf '330\n330')"
}

@test "kafka checkpoint: a sink killed -9 mid-run, the same command rerun: every message once; committed: the complete checkpoint's offsets only" {
	kafka_start t:3
	seq 1 1000 | awk '{ print "k" $1 ":" $1 }' | kcat -P -b "$KAFKA_BROKERS" -t t -K:
	{ sh -c 'echo $$ >kpid; exec rtai-kafka -b "$KAFKA_BROKERS" -t t --checkpoint-dir d' 2>k.1 3>&-; echo $? >kst; } |
		"$SINK" --checkpoint-dir d out.txt 2>s.1 &
	sink=$!
	BG_PIDS=$sink
	wait_until lines_at_least out.txt 1000
	kill -USR1 "$(cat kpid)"	# checkpoint 1, after the first 1000
	wait_until test -e d/ckpt-1/COMPLETE
	seq 1001 1500 | awk '{ print "k" $1 ":" $1 }' | kcat -P -b "$KAFKA_BROKERS" -t t -K:
	wait_until lines_at_least out.txt 1500
	kill -9 "$sink"
	# more messages: rtai-kafka writes them, finds its reader gone and ends
	# (bash waits for the whole pipeline)
	seq 1501 1600 | awk '{ print "k" $1 ":" $1 }' | kcat -P -b "$KAFKA_BROKERS" -t t -K:
	bg_wait "$sink"
	[ "$STATUS" -eq 137 ]
	cat k.1 s.1
	[ "$(cat kst)" -eq 0 ]
	[ "$(latest_complete d)" -eq 1 ]
	# committed (group rtai-kafka, as -p or no -G commits): checkpoint 1's
	# offsets, those after the first 1000 messages, not what was written after it
	kafka_cmd committed rtai-kafka t 3 "$PWD/committed"
	run cat committed
	echo "$output"
	assert_output "$(next_offsets t 1000)"
	# the same command line (with -e, to end): the sink cuts its file back
	# to checkpoint 1, the source resumes at its offsets
	rtai-kafka -b "$KAFKA_BROKERS" -t t --checkpoint-dir d -e 2>k.2 | "$SINK" --checkpoint-dir d out.txt 2>s.2
	cat k.2 s.2
	run cat k.2
	assert_output "rtai-kafka: resuming from checkpoint 1 of d"
	run python3 -c '
got = [int(x) for x in open("out.txt").read().split()]
print(sorted(got) == list(range(1, 1601)), len(got))'
	echo "$output"
	assert_output "True 1600"
}

@test "kafka checkpoint: a stage that never writes its snapshot: one checkpoint in flight, nothing committed, the savepoint reported" {
	kafka_start t:2
	seq 1 100 | awk '{ print "k" $1 ":" $1 }' | kcat -P -b "$KAFKA_BROKERS" -t t -K:
	# The sink registers and is stopped before the source starts: it never
	# writes a snapshot. It reads a FIFO that this shell holds open until
	# rtai-kafka has it, so that the sink's open does not wait for a writer.
	mkfifo p
	exec {hold}<>p
	# (no child keeps a copy of that descriptor, or p would never lose its reader)
	{ sh -c 'echo $$ >spid; exec "$1" --checkpoint-dir d out.txt' sh "$SINK" <p 2>s.1 3>&- {hold}>&- & }
	wait_until test -s spid
	BG_PIDS=$(cat spid)
	wait_until stages_are d 1
	kill -STOP "$(cat spid)"
	{ sh -c 'echo $$ >kpid; exec rtai-kafka -b "$KAFKA_BROKERS" -t t -X group.id=g3 --checkpoint-dir d --checkpoint-interval 1s' >p 2>k.1 3>&-; echo $? >kst; } {hold}>&- &
	wait_until test -s kpid
	BG_PIDS="$BG_PIDS $(cat kpid)"
	wait_until stages_are d 2
	exec {hold}>&-
	wait_until test -e d/ckpt-1	# one interval after the start
	sleep 2.5	# two intervals more: no barrier 2 while 1 is in flight
	run ls d
	echo "$output"
	refute_output --partial ckpt-2
	kill -TERM "$(cat kpid)"	# the savepoint, 2, waits for the sink
	wait_until test -e d/ckpt-2
	kill -9 "$(cat spid)"
	wait_until test -s kst
	cat k.1 s.1
	[ "$(cat kst)" -eq 0 ]
	run cat k.1
	assert_output --partial "savepoint 2 did not complete"
	[ "$(latest_complete d)" -eq 0 ]
	kafka_cmd committed g3 t 2 "$PWD/committed"
	run cat committed
	echo "$output"
	assert_output "$(printf '0 none\n1 none')"
}

@test "kafka checkpoint: its own snapshot cannot be written: said each time, the next after a back-off, exit 1" {
	kafka_start t:1
	seq 1 10 | kcat -P -b "$KAFKA_BROKERS" -t t
	# Every checkpoint's directory is taken by a file: no snapshot can be
	# written there (as a full disk). At a 20 ms interval, 2 s make about
	# a hundred checkpoints; doubling waits (20, 40, 80 ms ... rtai(7))
	# make about seven.
	mkdir d
	for i in $(seq 1 400); do : >"d/ckpt-$i"; done
	run bash -c 'timeout --preserve-status -s TERM 2 rtai-kafka -b "$KAFKA_BROKERS" -t t \
		-X group.id=g4 --checkpoint-dir d --checkpoint-interval 20ms >/dev/null'
	echo "status $status"
	echo "$output" | head -20
	[ "$status" -eq 1 ]
	n=$(printf '%s\n' "$output" | grep -c 'not taken')
	echo "$n failures said"
	[ "$n" -ge 3 ] && [ "$n" -le 15 ]
}

@test "kafka checkpoint: usage errors, --help" {
	run rtai-kafka -b x:1 -t t --checkpoint-interval 1s
	echo "$output"
	assert_failure 2
	assert_output --partial "--checkpoint-interval needs --checkpoint-dir DIR or RTAI_CHECKPOINT_DIR"
	run rtai-kafka -b x:1 -t t --checkpoint-dir d --checkpoint-interval 0
	echo "$output"
	assert_failure 2
	assert_output --partial "--checkpoint-interval: '0': expected a duration above 0"
	run rtai-kafka -b x:1 -t t --checkpoint-dir d --checkpoint-interval soon
	echo "$output"
	assert_failure 2
	touch notadir
	run rtai-kafka -b x:1 -t t --checkpoint-dir notadir/d
	echo "$output"
	assert_failure 1
	assert_output --partial "notadir/d"
	run rtai-kafka --help
	echo "$output"
	assert_success
	assert_output --partial -- "--checkpoint-dir DIR"
	assert_output --partial -- "--checkpoint-interval DUR"
}
