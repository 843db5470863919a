#!/usr/bin/env bats
# Checkpoints (rtai(7) "Checkpoints"): rtai-cat as the source of barriers,
# resuming from the latest complete checkpoint, exactly once with a
# registered sink (tests/ckpt-sink) killed -9 and rerun; every option and
# error path of rtai-cat's checkpoints. Positions and counts are checked
# by tests/ckpt_check.py and python3, which parse the files themselves.

load common

check() { python3 "$RTAI_SRC/tests/ckpt_check.py" "$@"; }
SINK=$RTAI_BUILD/tests/ckpt-sink	# run directly, so that $! is its pid

# latest_complete DIR: the id of DIR's latest complete checkpoint, or 0.
latest_complete() {
	local c n=0
	for c in "$1"/ckpt-*; do
		[ -f "$c/COMPLETE" ] && [ "${c##*-}" -gt "$n" ] && n=${c##*-}
	done
	echo "$n"
}

newer_than() { [ "$(latest_complete "$1")" -gt "$2" ]; }

# savepoint_windows: t.jsonl (in.jsonl's n = 1..20000, 1 s apart, keyed
# by n % 7) and its capture t.rtai, run through rtai-cat and $win into
# first.rtai with checkpoints in d (4 s of records), stopped with a
# savepoint (SIGTERM to the source) once one checkpoint is complete.
savepoint_windows() {
	jq -c '{n, x: (.n % 7), t: (1795860000 + .n | todate)}' in.jsonl >t.jsonl
	rtai-cat t.jsonl | rtai-parse -t t >t.rtai
	sh -c 'rtai-cat --checkpoint-dir d --checkpoint-interval 100ms --rate 5000 t.rtai &
		echo $! >cat.pid; wait' |
		sh -c "$win" >first.rtai 2>first.err &
	wait_until newer_than d 0	# ckpt-1, or a later one when a busy machine started the window late
	kill -TERM "$(cat cat.pid)"	# stop with a savepoint
	wait
}

# windows_match FILE...: the windows of the captures FILE... are those of
# t.jsonl, each once, with the counts python3 gives (brute_windows).
windows_match() {
	rtai-cat -p "$@" | jq -c '[.x, .window_start, .count]' | sort >got
	brute_windows >want
	run diff got want
	echo "$output"
	assert_success
	[ "$(wc -l <want)" -gt 1000 ]
}

# brute_windows: t.jsonl's (x, window_start, count) of 100 s windows, a
# line each ([x, start, count], sorted), counted by python3.
brute_windows() {
	python3 -c '
import collections, datetime, json
c = collections.Counter()
for line in open("t.jsonl"):
    r = json.loads(line)
    c[(r["x"], (1795860000 + r["n"]) // 100 * 100)] += 1
for (x, s), n in c.items():
    t = datetime.datetime.fromtimestamp(s, datetime.timezone.utc)
    print(json.dumps([x, t.strftime("%Y-%m-%dT%H:%M:%S.000Z"), n], separators=(",", ":")))
' | sort
}
has_incomplete_after() {
	local c
	for c in "$1"/ckpt-*; do
		[ "${c##*-}" -gt "$2" ] && [ ! -f "$c/COMPLETE" ] && return 0
	done
	return 1
}

setup_local() {
	unset RTAI_CHECKPOINT_DIR
	seq 1 20000 | sed 's/.*/{"n":&}/' >in.jsonl
	rtai-cat -o cap.rtai in.jsonl
	rtai-cat -o cap.rtai.zst in.jsonl
}

@test "checkpoint: barriers carry each input's position (plain, zstd, text), ids from 1" {
	for f in cap.rtai cap.rtai.zst in.jsonl; do
		rm -rf d
		rtai-cat --checkpoint-dir d --checkpoint-interval 1ms --rate 100000 "$f" |
			rtai-cat -p --meta >"out.$f"
		run check barriers "$f" "out.$f"
		echo "$f: $output"
		assert_success
		# some barriers, all 20000 records, every barrier a checkpoint
		[[ "$output" =~ ^[1-9][0-9]*\ 20000\ checkpoint$ ]]
	done
}

@test "checkpoint: a slow input gets its barriers between records, not after every 64" {
	# rtai-cat reads the clock every 64 records at full speed, and at
	# once after a read that had to wait: four lines 0.3 s apart, an
	# interval of 100 ms, so a barrier follows each of the last three
	mkfifo f
	(for i in 1 2 3 4; do echo "{\"n\":$i}"; sleep 0.3; done >f) &
	rtai-cat --checkpoint-dir d --checkpoint-interval 100ms f | rtai-cat -p --meta >out
	wait
	run jq -r 'if ._kind == "barrier" then "b" else (._raw | fromjson | .n | tostring) end' out
	echo "$output"
	assert_success
	[ "$(grep -c b <<<"$output")" -ge 2 ]
	# the last record is followed by a barrier: it was read after a wait
	[ "$(tail -2 <<<"$output" | tr '\n' ' ')" = "4 b " ]
}

@test "checkpoint: the barrier payload is as rtai-record(5) says" {
	rtai-cat --checkpoint-dir d --checkpoint-interval 1ms --rate 100000 cap.rtai |
		rtai-cat -p --meta >out
	run sh -c "jq -c 'select(._kind == \"barrier\") | ._barrier | [.checkpoint, .type,
		(.sources[0] | keys)]' out | head -1"
	echo "$output"
	assert_output '[1,"checkpoint",["input","offset","records","source"]]'
}

@test "checkpoint: a rerun resumes after the last complete checkpoint: the rest, once" {
	rtai-cat --checkpoint-dir d --checkpoint-interval 1ms --rate 100000 cap.rtai |
		rtai-cat -p --meta >first
	run check barriers cap.rtai first
	echo "$output"
	assert_success
	last=$(jq -s '[.[] | select(._kind == "barrier")] | last | ._barrier' first)
	id=$(jq .checkpoint <<<"$last")
	recs=$(jq '.sources[0].records' <<<"$last")
	run sh -c 'rtai-cat --checkpoint-dir d cap.rtai 2>err | rtai-cat -p >second; cat err'
	echo "$output"
	assert_success
	assert_output "rtai-cat: resuming from checkpoint $id of d"
	# the records after the recorded position, each once
	run python3 -c '
import sys
a = open("in.jsonl").read().splitlines()
b = open("second").read().splitlines()
print(b == a[int(sys.argv[1]):], len(b))' "$recs"
	echo "$output"
	assert_output "True $((20000 - recs))"
}

@test "checkpoint: a resumed run's barriers go on from the checkpoint's id and position" {
	rtai-cat --checkpoint-dir d --checkpoint-interval 1ms --rate 100000 cap.rtai.zst >/dev/null
	id=$(ls d | sed -n 's/^ckpt-//p' | sort -n | tail -1)
	recs=$(python3 -c '
import json, sys
s = open(sys.argv[1], "rb").read()
s = s[s.index(b"[{"):].decode("latin-1")	# the JSON, then the CRC-32 (which may hold a "]")
print(json.JSONDecoder().raw_decode(s)[0][0]["records"])' d/ckpt-$id/rtai-cat-*.snap)
	rtai-cat --checkpoint-dir d --checkpoint-interval 1ms --rate 100000 cap.rtai.zst 2>/dev/null |
		rtai-cat -p --meta >second
	run check barriers cap.rtai.zst second $((id + 1)) "$recs"
	echo "$output"
	assert_success
	[[ "$output" =~ \ $((20000 - recs))\ checkpoint$ ]]
}

@test "checkpoint: kill -9 of a registered sink, three times, then a full run: each record once" {
	seq 1 200000 >big.txt
	rtai-cat -o big.rtai big.txt
	export RTAI_CHECKPOINT_DIR=$PWD/d
	: >statuses
	for i in 1 2 3; do
		before=$(latest_complete d)
		{ rtai-cat --checkpoint-interval 200ms --rate 100000 big.rtai 2>"cat.$i"; } |
			"$SINK" out.txt 2>"sink.$i" &
		pid=$!
		wait_until newer_than d "$before" || { kill -9 "$pid"; false; }	# one completed
		sleep 0.1
		kill -9 "$pid"
		wait "$pid" || echo "$?" >>statuses
		wait
	done
	rtai-cat --checkpoint-interval 200ms big.rtai 2>cat.4 | "$SINK" out.txt 2>sink.4
	cat statuses cat.* sink.* | grep -v '^barrier'
	# every run was killed mid-way (137 = SIGKILL), and each rerun resumed
	run cat statuses
	assert_output "$(printf '137\n137\n137')"
	run grep -h resuming cat.2 cat.3 cat.4
	echo "$output"
	[ "${#lines[@]}" -eq 3 ]
	run python3 -c '
got = open("out.txt").read().splitlines()
want = open("big.txt").read().splitlines()
print(got == want, len(got), len(set(got)))'
	echo "$output"
	assert_output "True 200000 200000"
}

@test "checkpoint: a sink killed before its checkpoint completes: the source resumes from the one before" {
	export RTAI_CHECKPOINT_DIR=$PWD/d
	# The sink stops reading after checkpoint 3 while the source goes on: the
	# source's later checkpoints stay incomplete without the sink's part.
	{ rtai-cat --checkpoint-interval 50ms --rate 2000 cap.rtai 2>cat.1; } |
		"$SINK" --checkpoint-stall 3 out.txt 2>sink.1 &
	pid=$!
	wait_until newer_than d 2 || { kill -9 "$pid"; false; }
	done_id=3
	wait_until has_incomplete_after d "$done_id" || { kill -9 "$pid"; false; }
	kill -9 "$pid"
	wait "$pid" || true
	wait
	[ "$(latest_complete d)" -eq "$done_id" ]
	rtai-cat --checkpoint-interval 200ms cap.rtai 2>cat.2 | "$SINK" out.txt 2>sink.2
	run cat sink.2
	echo "$output"
	assert_line --index 0 "ckpt-sink: resuming from checkpoint 3 of $PWD/d"
	run cat cat.2
	echo "$output"
	assert_output "rtai-cat: resuming from checkpoint $done_id of $PWD/d"
	run python3 -c 'print(open("out.txt").read() == open("in.jsonl").read())'
	assert_output True
}

@test "checkpoint: SIGUSR1 injects a barrier at once; SIGTERM stops with a savepoint and EOS" {
	rtai-cat --checkpoint-dir d --rate 10000 cap.rtai >first.rtai &
	pid=$!
	wait_until test -e d/source	# its signal handlers are in place
	kill -USR1 "$pid"
	wait_until test -e d/ckpt-1/COMPLETE
	kill -TERM "$pid"
	st=0
	wait "$pid" || st=$?
	[ "$st" -eq 0 ]
	rtai-cat -p --meta first.rtai >first	# a cut stream would exit 4
	run check barriers cap.rtai first
	echo "$output"
	assert_success
	[[ "$output" =~ ^2\ [0-9]+\ savepoint$ ]]
	run jq -r 'select(._kind == "barrier") | ._barrier.type' first
	assert_output "$(printf 'checkpoint\nsavepoint')"
	# and the next run sends the rest after the savepoint
	rtai-cat --checkpoint-dir d --rate 10000 cap.rtai 2>err >second.rtai
	run cat err
	assert_output "rtai-cat: resuming from checkpoint 2 of d"
	run sh -c 'cat first.rtai second.rtai | rtai-cat -p | cmp - in.jsonl && echo same'
	echo "$output"
	assert_output same
}

@test "checkpoint: SIGTERM on a text input stops at a line's end: the savepoint resumes, no half line sent" {
	# Larger than one read (256 KiB), so the stop comes with part of a
	# line in the buffer: it must be neither sent nor recorded as read.
	seq 1 300000 | sed 's/.*/{"n":&}/' >big.jsonl
	rtai-cat --checkpoint-dir d --rate 100000 big.jsonl >first.rtai &
	pid=$!
	wait_until test -e d/source
	sleep 0.5
	kill -TERM "$pid"
	st=0
	wait "$pid" || st=$?
	[ "$st" -eq 0 ]
	rtai-cat --checkpoint-dir d big.jsonl 2>err >second.rtai
	run cat err
	echo "$output"
	assert_output --partial "resuming from checkpoint"
	run sh -c 'cat first.rtai second.rtai | rtai-cat -p | cmp - big.jsonl && echo same'
	echo "$output"
	assert_output same
}

@test "checkpoint: without checkpoints SIGTERM is SIGINT: no barrier, a finished stream" {
	rtai-cat --rate 10000 cap.rtai >first.rtai &
	pid=$!
	wait_until test -s first.rtai	# its signal handlers are in place
	kill -TERM "$pid"
	st=0
	wait "$pid" || st=$?
	[ "$st" -eq 0 ]
	run sh -c 'rtai-cat -p --meta first.rtai | grep -c barrier'
	echo "$output"
	assert_output 0
	run rtai-cat -p first.rtai
	assert_success
}

@test "checkpoint: an input shorter than the recorded position is an error" {
	rtai-cat --checkpoint-dir d --checkpoint-interval 1ms --rate 100000 in.jsonl >/dev/null
	head -c 100 in.jsonl >short && mv short in.jsonl
	run rtai-cat --checkpoint-dir d in.jsonl
	echo "$output"
	assert_failure 1
	assert_output --partial "rtai-cat: in.jsonl: byte 100: the input ends before the position recorded"
	assert_output --partial "the input changed since checkpoint"
	assert_output --partial "remove d to start afresh"
}

@test "checkpoint: an input changed before the recorded position is an error, the stream cut" {
	rtai-cat --checkpoint-dir d --checkpoint-interval 1ms --rate 100000 cap.rtai >/dev/null
	{ echo '{"new":1}'; cat in.jsonl; } | rtai-cat -o cap.rtai
	run sh -c 'rtai-cat --checkpoint-dir d cap.rtai | rtai-cat -p >/dev/null'
	echo "$output"
	assert_failure 4	# the stage after sees a cut stream, not a short whole one
	assert_output --partial "rtai-cat: cap.rtai: byte "
	assert_output --partial "the input changed since checkpoint"
}

@test "checkpoint: a truncated or corrupt snapshot is refused, naming the file (status 6)" {
	rtai-cat --checkpoint-dir d --checkpoint-interval 1ms --rate 100000 cap.rtai >/dev/null
	newest=$(ls -d d/ckpt-* | sort -t- -k2 -n | tail -1)
	snap=$(ls "$newest"/rtai-cat-*.snap)
	cp "$snap" good
	truncate -s 30 "$snap"
	run rtai-cat --checkpoint-dir d cap.rtai
	echo "$output"
	assert_failure 6
	assert_output --partial "rtai-cat: $snap: truncated"
	cp good "$snap"
	printf 'X' | dd of="$snap" bs=1 seek=60 conv=notrunc 2>/dev/null
	run rtai-cat --checkpoint-dir d cap.rtai
	echo "$output"
	assert_failure 6
	assert_output --partial "rtai-cat: $snap: corrupt: checksum mismatch"
}

@test "checkpoint: a directory of another pipeline is refused (status 6)" {
	rtai-cat --checkpoint-dir d cap.rtai >/dev/null
	run rtai-cat --checkpoint-dir d in.jsonl
	echo "$output"
	assert_failure 6
	assert_output --partial "rtai-cat: d: used by another pipeline, whose source is 'rtai-cat cap.rtai', not 'rtai-cat in.jsonl'"
}

@test "checkpoint: a resumed stage whose source failed at start reads a cut stream: no window fired as final; the rerun is exact" {
	# in.jsonl's records n = 1..20000, 1 s apart, keyed by n % 7: windows
	# of 100 s.
	win="rtai-window --checkpoint-dir d -k x --tumbling 100s -a count"
	savepoint_windows
	# The source refuses its options (status 2) and writes nothing: the
	# window, resumed with windows open, must not take the empty input for
	# the end of the stream.
	run bash -c "set -o pipefail; rtai-cat --checkpoint-dir d --rate 1O000 t.rtai | $win >second.rtai"
	echo "$output"
	assert_failure 4
	assert_output --partial "rtai-window: resuming from checkpoint"
	assert_output --partial "rtai-window: stdin: byte 0: the stream was cut before it began: this stage resumed from checkpoint"
	run rtai-cat -p second.rtai
	assert_failure 4
	[ -z "$(rtai-cat -p second.rtai 2>/dev/null)" ]
	# The same behind a stateless stage that did start, and ended its
	# empty input as a finished empty stream: the input has no resume
	# frame of the window's checkpoint (rtai-record(5)).
	run bash -c "set -o pipefail; rtai-cat --checkpoint-dir d --rate 1O000 t.rtai | rtai-parse | $win >second.rtai"
	echo "$output"
	assert_failure 4
	assert_output --regexp "rtai-window: stdin: byte [0-9]+: taken as cut: this stage resumed from checkpoint [0-9]+, and no source before it did"
	[ -z "$(rtai-cat -p second.rtai 2>/dev/null)" ]
	# And a plain rtai-cat, which reads its input again from the start:
	# the windows would count it twice.
	run bash -c "set -o pipefail; rtai-cat t.rtai | $win >second.rtai"
	echo "$output"
	assert_failure 4
	assert_output --partial "and no source before it did (one failed at start: see its message; or one has no --checkpoint-dir)"
	[ -z "$(rtai-cat -p second.rtai 2>/dev/null)" ]
	# A source of another directory: its checkpoint is not the window's.
	rm -rf other
	rtai-cat --checkpoint-dir other --checkpoint-interval 1ms --rate 20000 t.rtai 2>/dev/null | head -c 100000 >/dev/null || true
	run bash -c "set -o pipefail; rtai-cat --checkpoint-dir other t.rtai | $win >second.rtai"
	echo "$output"
	assert_failure 4
	assert_output --regexp "rtai-window: stdin: byte [0-9]+: taken as cut: this stage resumed from checkpoint [0-9]+, but the source before it from checkpoint [0-9]+ of another directory"
	# The source resumed, the window given no --checkpoint-dir: a fresh
	# window would count only the records after the checkpoint, and
	# publish the low counts as final. It refuses the resume frame
	# (rd_keeps_state), before any record.
	run bash -c "set -o pipefail; rtai-cat --checkpoint-dir d t.rtai | rtai-window -k x --tumbling 100s -a count >second.rtai"
	echo "$output"
	assert_failure 1
	assert_output --regexp "rtai-window: stdin: byte [0-9]+: a resume frame of checkpoint [0-9]+: the source resumed, but this stage did not \(no --checkpoint-dir, or not the source's\), so its results would lack every record before it; give it the source's --checkpoint-dir"
	[ -z "$(rtai-cat -p second.rtai 2>/dev/null)" ]
	# Nor does the source complete a checkpoint of its own meanwhile:
	# the window's state is in the checkpoint it resumed from and nowhere
	# else, and pruning would remove it in the end.
	n=$(latest_complete d)
	[ "$n" -ge 1 ]
	run bash -c "set -o pipefail; rtai-cat --checkpoint-dir d --checkpoint-interval 1ms --rate 100000 t.rtai | rtai-parse >/dev/null"
	echo "$output"
	assert_failure 1
	assert_output --regexp "rtai-cat: checkpoint [0-9]+: not completed: checkpoint $n holds the state of a stage that is not in this run \\(rtai-window -k x --tumbling 100s -a count\\), which completing it would prune in the end"
	[ "$(latest_complete d)" = "$n" ]
	# The rerun: first's windows and third's are every window once, with
	# the counts a brute force gives.
	bash -c "set -o pipefail; rtai-cat --checkpoint-dir d t.rtai | $win >third.rtai"
	windows_match first.rtai third.rtai
}

@test "checkpoint: a stage rerun with -v resumes; with other options it is refused, naming the command line its snapshot was written by" {
	win="rtai-window --checkpoint-dir d -k x --tumbling 100s -a count"
	savepoint_windows
	n=$(latest_complete d)
	# Another aggregate: the window's snapshot is not this stage's, and
	# the message shows the command line that wrote it.
	run bash -c "rtai-cat --checkpoint-dir d t.rtai | { $win -a sum:n >second.rtai; echo status \$?; }"
	echo "$output"
	assert_output --partial "status 6"
	assert_output --partial "ckpt-$n/rtai-window-"
	assert_output --partial "missing: checkpoint $n holds no snapshot of this stage (rtai-window -k x --tumbling 100s -a count -a sum:n), but of 'rtai-window -k x --tumbling 100s -a count': if that is this stage with other options, run it as written there to resume"
	[ "$(latest_complete d)" = "$n" ]
	# -v (or --verbose) changes no state, and is not part of the
	# identity: the rerun with it resumes, and first's windows and
	# third's are every window once, with the counts a brute force gives.
	run bash -c "set -o pipefail; rtai-cat --checkpoint-dir d t.rtai | rtai-window --verbose --checkpoint-dir d -v -k x --tumbling 100s -a count >third.rtai"
	echo "$output"
	assert_success
	assert_output --partial "rtai-window: resuming from checkpoint $n of d"
	windows_match first.rtai third.rtai
}

@test "checkpoint: a resume frame passes every stage, first; a window that did not resume refuses it; a malformed one is an error naming its byte" {
	export PYTHONPATH=$RTAI_SRC/contrib/python
	python3 -c '
import sys, rtai_stream as rs
w = rs.Writer()
w.put(rs.RESUME, rs.ENC_REC, rs.encode_record({"checkpoint": 3, "directory": "1:2"}), 1795514400000000000)
w.write_record({"a": "x", "t": "2026-11-24T10:00:00Z"}, ingest_ns=1795514400000000000)
w.close()' >res.rtai
	run sh -c 'rtai-parse -t t <res.rtai | rtai-lat -q -i 0 | rtai-cat -p --meta | head -n 1'
	echo "$output"
	assert_success
	assert_output '{"_kind":"resume","_ingest_time":"2026-11-24T10:00:00.000Z","_event_time":null,"_resume":{"checkpoint":3,"directory":"1:2"}}'
	# but not a window that did not resume from it: its windows would
	# lack what came before checkpoint 3 (a resumed one writes its own,
	# first: window.bats)
	run sh -c 'rtai-parse -t t <res.rtai | rtai-window -k a --tumbling 1m -a count >w.rtai'
	echo "$output"
	assert_failure 1
	assert_output --partial 'rtai-window: stdin: byte 8: a resume frame of checkpoint 3: the source resumed, but this stage did not'
	[ -z "$(rtai-cat -p w.rtai 2>/dev/null)" ]
	# --over too; and a file operand is not a resumed pipeline's stream
	run sh -c 'rtai-parse -t t <res.rtai | rtai-window -k a --over 1m -a count >w.rtai'
	assert_failure 1
	assert_output --partial 'a resume frame of checkpoint 3: the source resumed, but this stage did not'
	rtai-parse -t t <res.rtai >parsed.rtai
	run rtai-window -k a --tumbling 1m -a count parsed.rtai
	assert_success
	python3 -c '
import rtai_stream as rs
w = rs.Writer()
w.put(rs.RESUME, rs.ENC_RAW, b"3", 1795514400000000000)
w.close()' >bad.rtai
	run rtai-cat -p --meta bad.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial 'rtai-cat: bad.rtai: byte 8: a resume frame (kind 9): expected a binary record with an int "checkpoint" >= 1'
}

@test "checkpoint: an empty --checkpoint-dir is an error, not checkpoints off" {
	run rtai-cat --checkpoint-dir= cap.rtai
	assert_failure 1
	assert_output "rtai-cat: --checkpoint-dir: the directory name is empty"
	run rtai-window --checkpoint-dir '' -k n --tumbling 1m -a count <cap.rtai
	assert_failure 1
	assert_output "rtai-window: --checkpoint-dir: the directory name is empty"
	# RTAI_CHECKPOINT_DIR empty: off
	RTAI_CHECKPOINT_DIR= run sh -c 'rtai-cat cap.rtai | rtai-cat -p | wc -l'
	assert_output 20000
}

@test "checkpoint: a second pipeline refused in a running one's directory leaves it: its checkpoints go on completing" {
	jq -c '{n, x: (.n % 7), t: (1795860000 + .n | todate)}' in.jsonl >t.jsonl
	rtai-cat -o long.rtai t.jsonl t.jsonl t.jsonl t.jsonl t.jsonl t.jsonl
	sh -c 'rtai-cat --checkpoint-dir d --checkpoint-interval 100ms --rate 10000 long.rtai &
		echo $! >cat.pid; wait' |
		rtai-parse -t t | rtai-window --checkpoint-dir d -k x --tumbling 1m -a count >a.rtai 2>a.err &
	wait_until test -e d/ckpt-1/COMPLETE
	# B: another source (refused: another pipeline's directory), another
	# window (refused: a checkpoint of the run completed before it).
	run bash -c "rtai-cat --checkpoint-dir d t.jsonl | rtai-parse -t t |
		rtai-window --checkpoint-dir d -k x --tumbling 5m -a count >b.rtai"
	echo "$output"
	assert_output --partial "rtai-cat: d: used by another pipeline"
	assert_output --partial "or another pipeline is running in d"
	# Neither stays registered, so A's next checkpoints complete.
	run grep -l -- '--tumbling 5m\|t.jsonl' d/stages/*
	assert_failure
	n=$(latest_complete d)
	echo "latest complete after B: $n"
	wait_until newer_than d "$((n + 1))" || { ls -R d; cat d/stages/*; false; }
	kill -TERM "$(cat cat.pid)"
	wait
	# A itself was never refused, nor told of B.
	run cat a.err
	echo "$output"
	refute_output --partial "used by another"
	refute_output --partial "missing"
}

@test "checkpoint: a second live source of the same command line is refused" {
	rtai-cat --checkpoint-dir d --rate 1000 cap.rtai >/dev/null &
	pid=$!
	wait_until test -e d/source
	run rtai-cat --checkpoint-dir d cap.rtai
	kill "$pid"
	wait "$pid" || true
	echo "$output"
	assert_failure 1
	assert_output --partial "a running stage is registered as this one (rtai-cat cap.rtai)"
	assert_output --partial "--checkpoint-dir"
}

@test "checkpoint: a source's snapshot that cannot be written (file size limit, as a full disk) fails loudly; its checkpoints never complete" {
	long=$(printf 'c%.0s' $(seq 150)).rtai
	cp cap.rtai "$long"
	run bash -o pipefail -c '(trap "" XFSZ; ulimit -f 1
		exec rtai-cat --checkpoint-dir d --checkpoint-interval 1ms --rate 100000 \
			"$1" "$1" "$1" "$1" "$1") | rtai-cat -p --meta >out' _ "$long"
	echo "${output:0:600}"
	assert_failure 1
	assert_output --partial "File too large (checkpoint 1 not taken; the last complete one stays)"
	# The snapshot is written in the background (barrier_take), so the
	# barriers go on; each checkpoint is declined by the source, and none
	# completes.
	run sh -c 'ls d/ckpt-*/COMPLETE 2>/dev/null | wc -l'
	assert_output 0
	n=$(ls d/ckpt-*/rtai-cat-*.declined.* | wc -l)
	echo "$n declined"
	[ "$n" -ge 1 ]
	run grep -vc '"_kind"' out
	assert_output 100000
}

@test "checkpoint: RTAI_CHECKPOINT_DIR makes a file-reading rtai-cat the source" {
	export RTAI_CHECKPOINT_DIR=$PWD/env
	rtai-cat cap.rtai >/dev/null
	run cat env/source
	assert_output "rtai-cat cap.rtai"
	run ls env/stages
	assert_output --regexp '^rtai-cat-[0-9a-f]{16}$'
}

@test "checkpoint: RTAI_CHECKPOINT_DIR leaves -p and a stage reading a pipe alone; barriers pass" {
	rtai-cat --checkpoint-dir d --checkpoint-interval 1ms --rate 100000 cap.rtai >with.rtai
	export RTAI_CHECKPOINT_DIR=$PWD/env
	run sh -c 'rtai-cat <with.rtai | rtai-cat -p --meta | grep -c "\"_kind\":\"barrier\""'
	echo "$output"
	want=$(rtai-cat -p --meta with.rtai | grep -c '"_kind":"barrier"')
	assert_output "$want"
	[ "$want" -gt 0 ]
	rtai-cat -p cap.rtai >/dev/null
	[ ! -e env ]
}

@test "checkpoint: a source drops the barriers of its input, and counts them" {
	rtai-cat --checkpoint-dir d --checkpoint-interval 1ms --rate 100000 cap.rtai >with.rtai
	n=$(python3 -c '
b = open("with.rtai", "rb").read()
off, n = 8, 0
while off < len(b):
    k = b[off + 4]; n += k == 3; off += 4 + int.from_bytes(b[off:off + 4], "little")
print(n)')
	run sh -c 'rtai-cat --checkpoint-dir e with.rtai 2>err | rtai-cat -p --meta | grep -c barrier; cat err'
	echo "$output"
	assert_line --index 0 0
	assert_line --index 1 --partial "with.rtai: byte "
	assert_line --index 1 --partial "a barrier frame in the input: dropped, as every barrier and resume frame"
	assert_line --index 2 "rtai-cat: $n barrier and resume frames of the input dropped"
}

@test "checkpoint: usage errors" {
	run rtai-cat --checkpoint-interval 1s cap.rtai
	echo "$output"
	assert_failure 2
	assert_output --partial "--checkpoint-interval needs --checkpoint-dir DIR or RTAI_CHECKPOINT_DIR"
	run rtai-cat --checkpoint-dir d -p cap.rtai
	echo "$output"
	assert_failure 2
	assert_output --partial "checkpoints need a source of records: -p prints text"
	run rtai-cat --checkpoint-dir d - <cap.rtai
	echo "$output"
	assert_failure 2
	assert_output --partial "standard input cannot be read again"
	run rtai-cat --checkpoint-dir d <cap.rtai
	echo "$output"
	assert_failure 2
	run rtai-cat --checkpoint-dir d --loop 2 cap.rtai
	echo "$output"
	assert_failure 2
	assert_output --partial "--loop is not resumable"
	run rtai-cat --checkpoint-dir d --format avro x.avro
	echo "$output"
	assert_failure 2
	run rtai-cat --checkpoint-dir d --checkpoint-interval 0s cap.rtai
	echo "$output"
	assert_failure 2
	run rtai-cat --checkpoint-dir d --checkpoint-interval soon cap.rtai
	echo "$output"
	assert_failure 2
	assert_output --partial "--checkpoint-interval"
	[ ! -e d ]
}

@test "checkpoint: a checkpoint directory that cannot be made is an error" {
	touch file
	run rtai-cat --checkpoint-dir file/d cap.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial "rtai-cat: file/d: mkdir: Not a directory"
}

@test "checkpoint: barriers of a capture replayed with no source of DIR in the pipeline are declined (exit 1), and no checkpoint completes; replayed as the source, the capture's barriers are dropped and the values are right" {
	python3 -c '
for i in range(1, 301):
    print("%d {\"u\":\"u%d\"}" % (i, i % 7))
    if i % 100 == 0:
        print("barrier:%d" % (i // 100))' >lines.txt
	mkstream cap.rtai <lines.txt
	W='rtai-window --checkpoint-dir ck -k u --tumbling 100s -a count'
	run bash -c "rtai-cat cap.rtai | $W >/dev/null"
	echo "$output"
	assert_failure 1
	assert_output --partial "rtai-window: checkpoint 1: no source of ck runs in this pipeline"
	assert_output --partial "capture replayed with the barriers of the run that wrote it"
	assert_output --partial "(checkpoint 1 not taken)"
	run bash -c "$W <cap.rtai >/dev/null"
	assert_failure 1
	assert_output --partial "no source of ck runs in this pipeline"
	run bash -c "ls ck/ckpt-*/COMPLETE"
	assert_failure
	# the same capture as the source: a fresh start, every record counted
	run bash -o pipefail -c "rtai-cat --checkpoint-dir ck cap.rtai 2>src.err | $W 2>win.err | rtai-cat -p | jq -c '[.u, .window_start, .count]' | sort"
	echo "$output"
	assert_success
	python3 -c '
import collections, datetime, json
c = collections.Counter()
for line in open("lines.txt"):
    t, _, r = line.strip().partition(" ")
    if ":" not in t:
        c[(json.loads(r)["u"], int(t) // 100 * 100)] += 1
for (u, w), n in c.items():
    t = datetime.datetime.fromtimestamp(w, datetime.timezone.utc)
    print(json.dumps([u, t.strftime("%Y-%m-%dT%H:%M:%S.000Z"), n], separators=(",", ":")))' | sort >want.txt
	assert_output "$(cat want.txt)"
	run cat src.err win.err
	echo "$output"
	assert_output --partial "barrier and resume frames of the input dropped"
	refute_output --partial resuming
	refute_output --partial "no source"
}

@test "checkpoint: --help lists the options" {
	run rtai-cat --help
	assert_success
	assert_output --partial "--checkpoint-dir DIR"
	assert_output --partial "--checkpoint-interval DUR"
	assert_output --partial "-v, --verbose"
}

# over_lines N: N records of 12 keys, event times up to 2s behind a clock
# that moves on by up to 10 ms a record (peers share times: 1 ms steps).
over_lines() {
	python3 - "$1" <<-'EOF'
	import json, random, sys
	random.seed(11)
	t = 1000.0
	for i in range(int(sys.argv[1])):
	    t += random.randrange(10) / 1000
	    ev = t - random.randrange(2000) / 1000
	    rec = {"u": "u%d" % random.randrange(12), "n": i, "amount": random.randrange(-50, 1000),
	           "item": random.choice("abcdefg")}
	    print("%.3f %s" % (ev, json.dumps(rec)))
	EOF
}

OVER_WIN='rtai-window -k u --over 5s --delay 2s -a count -a sum:amount -a max:amount -a distinct:item -a p95:amount'

# last_barrier FILE: the number of barriers in the stream FILE (written so
# far: a cut stream is read up to its last whole frame).
last_barrier() { show <"$1" 2>/dev/null | grep -c '^kind 3$'; }
caught_up() { [ "$(last_barrier "$1")" -eq "$(latest_complete "$2")" ]; }

@test "checkpoint: rtai-window --over killed -9 mid-stream and rerun: the output after the resume is the uninterrupted run's tail" {
	over_lines 6000 >lines.txt
	mkstream over.rtai <lines.txt
	run bash -o pipefail -c "$OVER_WIN <over.rtai | show >want.txt"
	echo "${output:0:600}"
	assert_success
	# The values, independently: --delay 2s covers the disorder, so each
	# record leaves in event-time order (ties in arrival order) with the
	# records of its key in (t - 5s, t], its peers included.
	python3 - >expect.txt <<-'EOF'
	import json
	recs = []
	for i, line in enumerate(open("lines.txt")):
	    t, _, rest = line.strip().partition(" ")
	    recs.append((round(float(t) * 1000), i, json.loads(rest)))
	recs.sort(key=lambda r: (r[0], r[1]))
	per = {}
	for s, _, x in recs:
	    per.setdefault(x["u"], []).append((s, x))
	for t, i, r in recs:
	    rng = [x for (s, x) in per[r["u"]] if t - 5000 < s <= t]
	    a = [x["amount"] for x in rng]
	    print(json.dumps([r["n"], len(a), sum(a), max(a), len({x["item"] for x in rng})],
	                     separators=(",", ":")))
	EOF
	run bash -c "jq -c '[.n, .count, .sum_amount, .max_amount, .distinct_item]' want.txt | diff - expect.txt"
	echo "${output:0:600}"
	assert_success

	# The pipeline, killed -9 in its stage once checkpoint 2 is complete:
	# the source is stopped first, so the stage's output holds every
	# barrier it forwarded (it flushes before it waits for input).
	export RTAI_CHECKPOINT_DIR=$PWD/d
	{ sh -c 'echo $$ >cat.pid; exec rtai-cat --checkpoint-interval 200ms --rate 3000 over.rtai' \
		2>cat.1; } | $OVER_WIN >crash.rtai 2>win.1 &
	win=$!
	wait_until newer_than d 1 || { kill -9 "$win"; false; }
	kill -STOP "$(cat cat.pid)"
	wait_until caught_up crash.rtai d || { kill -9 "$win" "$(cat cat.pid)"; false; }
	kill -9 "$win" "$(cat cat.pid)"
	wait "$win" || true
	wait
	id=$(latest_complete d)
	run cat cat.1 win.1
	echo "$output"
	refute_output --partial resuming

	# The same command line again: both resume from that checkpoint.
	run bash -o pipefail -c "rtai-cat --checkpoint-interval 200ms --rate 3000 over.rtai 2>cat.2 |
		$OVER_WIN >re.rtai 2>win.2"
	echo "$output"
	assert_success
	run cat win.2
	echo "$output"
	assert_output "rtai-window: resuming from checkpoint $id of $PWD/d"
	run cat cat.2
	assert_output "rtai-cat: resuming from checkpoint $id of $PWD/d"
	# What went out before barrier $id, then the rerun: the uninterrupted
	# run's records, each once, in its order; the rerun's part is its tail.
	show <crash.rtai 2>/dev/null | awk -v id="$id" '/^kind 3$/ && ++n == id { exit } { print }' |
		grep -v '^kind' >before.txt
	show <re.rtai | grep -v '^kind' >after.txt
	run bash -c "cat before.txt after.txt | diff - want.txt"
	echo "${output:0:600}"
	assert_success
	run bash -c "tail -n $(wc -l <after.txt) want.txt | diff - after.txt"
	assert_success
	# mid-stream: records on both sides of the resume
	[ -s before.txt ] && [ -s after.txt ]
}

# ---- rtai-join (a table, a changelog beside the stream) --------------------------

# join_data: 40000 events of 20 users a second apart (event time "ts"), a
# table of the users' countries valid from before them, and a changelog of
# 400 versions of their tiers at distinct times among the events, not in
# time order. join_want: each event's n, tier and country as of its time,
# computed here from the files (the version with the greatest valid-from
# not after the event; none: the table's row).
join_data() {
	python3 - <<-'EOF2'
	import json, random
	random.seed(11)
	t0 = 1764000000
	with open("ev.jsonl", "w") as f:
	    for i in range(40000):
	        f.write(json.dumps({"user_id": "u%d" % random.randrange(20), "n": i, "ts": t0 + i}) + "\n")
	with open("table.jsonl", "w") as f:
	    for u in range(20):
	        f.write(json.dumps({"user_id": "u%d" % u, "country": "c%d" % (u % 7), "updated_at": t0 - 100}) + "\n")
	times = random.sample(range(t0, t0 + 40000), 400)
	with open("changes.jsonl", "w") as f:
	    for j, t in enumerate(times):
	        f.write(json.dumps({"user_id": "u%d" % random.randrange(20), "tier": "t%d" % j, "updated_at": t}) + "\n")
	EOF2
	rtai-cat ev.jsonl | rtai-parse -t ts >ev.rtai
}

join_want() {
	python3 - <<-'EOF2'
	import json
	rows = {}
	for name in ("table.jsonl", "changes.jsonl"):
	    for line in open(name):
	        r = json.loads(line)
	        rows.setdefault(r["user_id"], []).append(r)
	for line in open("ev.jsonl"):
	    e = json.loads(line)
	    vs = [r for r in rows[e["user_id"]] if r["updated_at"] <= e["ts"]]
	    r = max(vs, key=lambda r: r["updated_at"]) if vs else {}
	    print(json.dumps([e["n"], r.get("tier"), r.get("country")], separators=(",", ":")))
	EOF2
}

JOIN='rtai-join -v -t table.jsonl -u changes.jsonl --on user_id --as-of updated_at'

@test "checkpoint: rtai-join killed -9 three times and rerun: what it wrote up to each resumed checkpoint, then the full run, is the uninterrupted join" {
	join_data
	join_want >want.txt
	# the uninterrupted join agrees with the computation
	run bash -o pipefail -c "$JOIN <ev.rtai 2>/dev/null | rtai-cat -p | jq -c '[.n, .tier, .country]' | cmp - want.txt && echo same"
	echo "$output"
	assert_output same
	export RTAI_CHECKPOINT_DIR=$PWD/d
	: >statuses
	for i in 1 2 3; do
		before=$(latest_complete d)
		{ rtai-cat --checkpoint-interval 200ms --rate 20000 ev.rtai 2>"cat.$i"; } |
			$JOIN >"out.$i.rtai" 2>"join.$i" &
		pid=$!
		wait_until newer_than d "$before" || { kill -9 "$pid"; false; }	# one completed
		sleep 0.1
		kill -9 "$pid"
		wait "$pid" || echo "$?" >>statuses
		wait
	done
	rtai-cat --checkpoint-interval 200ms ev.rtai 2>cat.4 | $JOIN >out.4.rtai 2>join.4
	cat statuses cat.* join.*
	run cat statuses
	assert_output "$(printf '137\n137\n137')"
	# each rerun resumed, rtai-cat and rtai-join from the same checkpoint
	for i in 2 3 4; do
		run cat "join.$i"
		assert_line --index 0 --regexp "^rtai-join: resuming from checkpoint [0-9]+ of $PWD/d\$"
		id=$(sed -n 's/^rtai-join: resuming from checkpoint \([0-9]*\) .*/\1/p' "join.$i")
		echo "$id" >"resumed.$i"
		run cat "cat.$i"
		assert_output "rtai-cat: resuming from checkpoint $id of $PWD/d"
	done
	# the changelog was not applied again: 20 rows and 400 versions, once
	run tail -n 1 join.4
	assert_output --partial "table: 20 rows, 420 versions, 20 keys"
	assert_output --partial "changes: 420 upserts"
	# run i's output up to the barrier of the checkpoint run i+1 resumed from
	# (all of it when it died before writing that barrier), then the last
	# run's: the uninterrupted join, record for record
	for i in 1 2 3; do
		rtai-cat -p --meta "out.$i.rtai" >"out.$i.json" 2>/dev/null || true
	done
	rtai-cat -p --meta out.4.rtai >out.4.json
	run python3 - <<-'EOF2'
	import json
	got = []
	for i in (1, 2, 3, 4):
	    stop = int(open("resumed.%d" % (i + 1)).read()) if i < 4 else None
	    for line in open("out.%d.json" % i):
	        o = json.loads(line)
	        if o.get("_kind") == "barrier":
	            if o["_barrier"]["checkpoint"] == stop:
	                break
	            continue
	        if "_kind" in o:
	            continue
	        got.append(json.dumps([o["n"], o.get("tier"), o.get("country")], separators=(",", ":")))
	want = open("want.txt").read().splitlines()
	print(got == want, len(got), len(set(got)))
	EOF2
	echo "$output"
	assert_output "True 40000 40000"
}

@test "checkpoint: rtai-join refuses a corrupt snapshot or one of other options (status 6), naming the file" {
	join_data
	export RTAI_CHECKPOINT_DIR=$PWD/d
	# an interval that leaves the join time to register (rtai(7))
	rtai-cat --checkpoint-interval 300ms --rate 40000 ev.rtai | $JOIN --stage-name j >/dev/null 2>&1
	[ "$(latest_complete d)" -gt 0 ]
	newest=$(ls -d d/ckpt-* | sort -t- -k2 -n | tail -1)
	snap=$(ls "$newest"/rtai-join-*.snap)
	cp "$snap" good
	# the same stage name with other options: not its snapshot
	run bash -c "rtai-join -t table.jsonl -u changes.jsonl --on user_id --stage-name j </dev/null"
	echo "$output"
	assert_failure 6
	assert_output --partial "$newest/"
	printf 'X' | dd of="$snap" bs=1 seek=200 conv=notrunc 2>/dev/null
	run bash -c "$JOIN --stage-name j </dev/null"
	echo "$output"
	assert_failure 6
	assert_output --partial "rtai-join: $PWD/$snap: corrupt: checksum mismatch"
	cp good "$snap"
	truncate -s 100 "$snap"
	run bash -c "$JOIN --stage-name j </dev/null"
	echo "$output"
	assert_failure 6
	assert_output --partial "rtai-join: $PWD/$snap: truncated"
	cp good "$snap"
	# The pipeline run again resumes (a resumed stage takes an input that
	# no source resumed from the same checkpoint as cut, rtai(7)), and
	# a finished stream of no record from a plain rtai-cat is one.
	env -u RTAI_CHECKPOINT_DIR rtai-cat -o empty.rtai /dev/null
	run bash -c "$JOIN --stage-name j <empty.rtai"
	echo "$output"
	assert_failure 4
	assert_line --index 0 "rtai-join: resuming from checkpoint ${newest##*-} of $PWD/d"
	assert_output --partial "rtai-join: stdin: byte 32: taken as cut: this stage resumed from checkpoint ${newest##*-}, and no source before it did"
	run bash -c "rtai-cat --checkpoint-interval 300ms --rate 40000 ev.rtai 2>/dev/null | $JOIN --stage-name j >/dev/null"
	echo "$output"
	assert_success
	assert_line --index 0 "rtai-join: resuming from checkpoint ${newest##*-} of $PWD/d"
}

# The input of the rtai-parse tests: every 97th line not JSON, every 89th
# a string where an int is declared; the bad lines, in order, by python3.
parse_input() {
	python3 -c '
for i in range(1, 30001):
    print("oops %d" % i if i % 97 == 0 else
          "{\"n\":\"x%d\"}" % i if i % 89 == 0 else "{\"n\":%d}" % i)' >in.jsonl
	rtai-cat -o pin.rtai in.jsonl
	python3 -c '
import json, sys
for line in open("in.jsonl"):
    line = line.rstrip("\n")
    try:
        ok = isinstance(json.loads(line)["n"], int)
    except ValueError:
        ok = False
    if not ok:
        print(line)' >bad.want
}

@test "checkpoint: rtai-parse killed -9 twice and rerun: the DLQ holds each bad record once (plain and .zst)" {
	parse_input
	[ "$(wc -l <bad.want)" -eq 643 ]
	export RTAI_CHECKPOINT_DIR
	for dlq in bad.rtai bad.rtai.zst; do
		RTAI_CHECKPOINT_DIR=$PWD/d.$dlq
		rm -f out.txt statuses
		for i in 1 2; do
			before=$(latest_complete "$RTAI_CHECKPOINT_DIR")
			{ set +e	# the sink's status (4, a cut stream) is not the test's
			  rtai-cat --checkpoint-interval 100ms --rate 5000 pin.rtai 2>"cat.$i" |
				{ echo "$BASHPID" >parse.pid
				  exec rtai-parse --json -f n:int --dlq "$dlq" 2>"parse.$i"; } |
				"$SINK" out.txt 2>"sink.$i"; echo "${PIPESTATUS[1]}" >>statuses; } &
			wait_until newer_than "$RTAI_CHECKPOINT_DIR" "$before" ||
				{ kill -9 "$(cat parse.pid)"; false; }
			sleep 0.2	# dead letters after the checkpoint, to be cut back
			kill -9 "$(cat parse.pid)"
			wait
		done
		rtai-cat --checkpoint-interval 100ms pin.rtai 2>cat.3 |
			rtai-parse --json -f n:int --dlq "$dlq" 2>parse.3 | "$SINK" out.txt 2>sink.3
		echo "${PIPESTATUS[*]}" >>statuses
		cat statuses cat.? parse.?
		run cat statuses
		assert_output "$(printf '137\n137\n0 0 0')"
		run grep -h resuming parse.2 parse.3
		echo "$output"
		[ "${#lines[@]}" -eq 2 ]
		# the summary counts span the restarts
		run cat parse.3
		assert_output --partial "rtai-parse: 29357 parsed, 0 skipped, 643 dead-lettered, 0 blank"
		# the dead letters, in input order, each once; the DLQ a whole stream
		run sh -c "rtai-cat -p '$dlq' | jq -r .payload >bad.got && cmp bad.want bad.got"
		echo "$output"
		assert_success
		run python3 -c '
got = open("out.txt").read().splitlines()
print(len(got), len(set(got)))'
		assert_output "29357 29357"
	done
	run zstd -t bad.rtai.zst
	assert_success
}

@test "checkpoint: rtai-parse takes part only under skip or dlq; a DLQ cut short since the checkpoint is an error" {
	parse_input
	export RTAI_CHECKPOINT_DIR=$PWD/d
	# 200 ms between barriers: a stage that registers after the run's
	# first checkpoint completed is refused (status 6), and a sanitizer
	# build on a loaded machine can take more than 50 ms to start
	rtai-cat --checkpoint-interval 200ms --rate 50000 pin.rtai 2>/dev/null |
		rtai-parse --on-error skip -f n:int 2>/dev/null | "$SINK" out.txt 2>/dev/null
	run ls d/stages
	echo "$output"
	[[ "$output" == *rtai-parse-* ]]
	rm -rf d out.txt
	# under fail it holds nothing: a stateless stage, not registered
	rtai-cat --checkpoint-interval 200ms --rate 50000 cap.rtai 2>/dev/null |
		rtai-parse 2>/dev/null | "$SINK" out.txt 2>/dev/null
	run ls d/stages
	echo "$output"
	[[ "$output" != *rtai-parse-* ]]
	[ -n "$(latest_complete d | grep -v '^0$')" ]
	rm -rf d out.txt
	rtai-cat --checkpoint-dir d --checkpoint-interval 200ms --rate 50000 pin.rtai 2>/dev/null |
		rtai-parse --checkpoint-dir d -f n:int --dlq bad.rtai 2>/dev/null |
		"$SINK" --checkpoint-dir d out.txt 2>/dev/null
	: >bad.rtai	# emptied since
	run sh -c 'rtai-cat --checkpoint-dir d pin.rtai 2>/dev/null |
		rtai-parse --checkpoint-dir d -f n:int --dlq bad.rtai >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output --regexp "^rtai-parse: resuming from checkpoint [0-9]+ of d
rtai-parse: --dlq bad.rtai: bad.rtai: 0 bytes, fewer than the [0-9]+ expected: the dead-letter stream changed since the checkpoint resumed \(truncated, replaced or removed\?\)$"
}

# snap_pos DIR: "ID OFFSET RECORDS SCHEMAS" of rtai-cat's snapshot of the
# latest complete checkpoint of DIR, read by python3 from the file.
snap_pos() {
	local id
	id=$(latest_complete "$1")
	python3 -c '
import json, sys
s = open(sys.argv[2], "rb").read()
s = s[s.index(b"[{"):].decode("latin-1")	# the JSON, then the CRC-32
p = json.JSONDecoder().raw_decode(s)[0][0]
print(sys.argv[1], p["offset"], p["records"], p.get("schemas", "-"))' "$id" "$1/ckpt-$id"/rtai-cat-*.snap
}

@test "checkpoint: a resume from a late checkpoint seeks in a plain file (-v says so), reads zstd up to it; the output is the uninterrupted run's tail" {
	seq 1 200000 | sed 's/.*/{"n":&}/' >big.jsonl
	rtai-cat -o big.rtai big.jsonl
	rtai-cat -o big.rtai.zst big.jsonl
	for f in big.rtai big.jsonl big.rtai.zst; do
		rm -rf d
		# the first run ends (a closed pipe) about 70% into the file;
		# paced, so that snapshots (written in the background) complete
		# before head ends the run, also on a loaded machine
		rtai-cat --checkpoint-dir d --checkpoint-interval 1ms --rate 500000 "$f" 2>/dev/null |
			head -c 4500000 >/dev/null || true
		read -r id off recs schemas < <(snap_pos d)
		echo "$f: checkpoint $id at byte $off, record $recs, $schemas schema frames"
		[ "$recs" -gt 100000 ] && [ "$schemas" = 0 ]
		rtai-cat -v --checkpoint-dir d --checkpoint-interval 1ms "$f" 2>err |
			rtai-cat -p --meta >second
		cat err
		if [ "$f" = big.rtai.zst ]; then
			how="by reading up to it: zstd input cannot seek"
		else
			how="by seeking"
		fi
		run cat err
		assert_output "$(printf '%s\n' "rtai-cat: resuming from checkpoint $id of d" \
			"rtai-cat: $f: resuming at byte $off (record $recs) $how")"
		# the barriers after go on from the recorded record index and offset
		run check barriers "$f" second $((id + 1)) "$recs"
		echo "$output"
		assert_success
		[[ "$output" =~ \ $((200000 - recs))\ checkpoint$ ]]
		# the records are the uninterrupted run's, after the position
		run python3 -c '
import json, sys
a = open(sys.argv[1]).read().splitlines()
b = [o["_raw"] for o in map(json.loads, open("second")) if "_kind" not in o]
print(b == a[int(sys.argv[2]):], len(b))' big.jsonl "$recs"
		echo "$output"
		assert_output "True $((200000 - recs))"
	done
	# --progress after a resume by seeking counts the bytes gone past as
	# done: it ends at 100%, not at the share this run read
	rm -rf d
	rtai-cat --checkpoint-dir d --checkpoint-interval 1ms --rate 500000 big.jsonl 2>/dev/null |
		head -c 4500000 >/dev/null || true
	rtai-cat --progress --checkpoint-dir d big.jsonl 2>err >/dev/null
	run sh -c "tr '\r' '\n' <err | grep ' records ' | tail -n 1"
	echo "$output"
	assert_output --regexp ' 100%$'
}

@test "checkpoint: resuming CSV text seeks after its header, which goes out again; a capture with schema frames is read up to the position" {
	{ echo 'a,b'; seq 1 100000 | sed 's/.*/&,x&/'; } >big.csv
	rtai-cat --format csv -o csv.rtai big.csv
	for f in big.csv csv.rtai; do
		rm -rf d
		fmt=()
		[ "$f" = big.csv ] && fmt=(--format csv)
		# paced, so that snapshots (written in the background) complete
		# before head ends the run
		rtai-cat "${fmt[@]}" --checkpoint-dir d --checkpoint-interval 1ms --rate 500000 "$f" \
			2>/dev/null | head -c 2000000 >/dev/null || true
		read -r id off recs schemas < <(snap_pos d)
		echo "$f: checkpoint $id at byte $off, record $recs, $schemas schema frames"
		[ "$recs" -gt 10000 ]
		rtai-cat "${fmt[@]}" -v --checkpoint-dir d "$f" 2>err | rtai-cat -p --meta >second
		cat err
		if [ "$f" = big.csv ]; then
			how="by seeking"
			[ "$schemas" = 0 ]
		else
			how="by reading up to it: schema frames come before it, and are sent again"
			[ "$schemas" = 1 ]
		fi
		run cat err
		assert_output "$(printf '%s\n' "rtai-cat: resuming from checkpoint $id of d" \
			"rtai-cat: $f: resuming at byte $off (record $recs) $how")"
		# the resume frame of the checkpoint first (rtai-record(5)), the
		# header next, then the rows after the position, as in the file
		run python3 -c '
import json, sys
rows = open("big.csv").read().splitlines()
out = [json.loads(l) for l in open("second")]
res = out.pop(0)["_resume"]["checkpoint"] if out[0].get("_kind") == "resume" else None
head = out[0]["_schema"]["header"] if out[0].get("_kind") == "schema" else None
data = [o["_raw"] for o in out if "_kind" not in o]
print(res, head, len(data), data == rows[1 + int(sys.argv[1]):])' "$recs"
		echo "$output"
		assert_output "$id a,b $((100000 - recs)) True"
	done
}
