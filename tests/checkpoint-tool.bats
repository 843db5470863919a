#!/usr/bin/env bats
# rtai-checkpoint: list and prune the checkpoints of a directory. The
# directories are made by real pipelines (rtai-cat --checkpoint-dir |
# rtai-parse | rtai-window, and tests/ckpt-sink to leave checkpoints
# incomplete); what the tool prints is checked against ls, find, stat and
# python3 reading the snapshot headers (rtai(7), lib/ckpt.h) itself.

load common

SINK=$RTAI_BUILD/tests/ckpt-sink
WIN='rtai-window -k u --tumbling 1m'

setup_local() {
	unset RTAI_CHECKPOINT_DIR
	python3 -c '
import json
for i in range(3000):
    print(json.dumps({"u": "u%d" % (i % 7), "n": i,
                      "t": "2026-11-24T10:%02d:%02dZ" % (i // 60 % 60, i % 60)}))' >in.jsonl
}

# pipeline DIR: a run to the end (1.5 s), with a checkpoint every 200 ms:
# time for every stage to register before the first completes.
pipeline() {
	rtai-cat --checkpoint-dir "$1" --checkpoint-interval 200ms --rate 2000 in.jsonl |
		rtai-parse -t t | $WIN --checkpoint-dir "$1" >/dev/null
}

# expect_list DIR: the listing's fields but the age, from ls/find/stat.
expect_list() {
	local c id
	for c in $(ls -d "$1"/ckpt-* 2>/dev/null | sort -t- -k2 -n); do
		id=${c##*-}
		printf '%s\t%s\t%s\t%s\n' "$id" \
			"$([ -f "$c/COMPLETE" ] && echo complete || echo incomplete)" \
			"$(find "$c" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')" \
			"$(ls "$c" | grep -c '\.snap$')"
	done
}

# snap_identities DIR N: "  stage KEY IDENTITY" per snapshot of ckpt-N,
# from the header (magic, version, identity length at byte 12, the
# identity at byte 40).
snap_identities() {
	python3 - "$1/ckpt-$2" <<-'EOF'
	import os, struct, sys
	d = sys.argv[1]
	for f in sorted(n for n in os.listdir(d) if n.endswith(".snap") and not n.startswith(".")):
	    b = open(os.path.join(d, f), "rb").read()
	    if b[:8] != b"RTAICKPT" or len(b) < 40:
	        print("  stage %s (unreadable header)" % f[:-5])
	        continue
	    n = struct.unpack_from("<I", b, 12)[0]
	    print("  stage %s %s" % (f[:-5], b[40:40 + n].decode()))
	EOF
}

has_incomplete() { ls -d "$1"/ckpt-* 2>/dev/null | while read -r c; do [ -f "$c/COMPLETE" ] || echo "$c"; done | grep -q .; }
complete_count() { ls "$1"/ckpt-*/COMPLETE 2>/dev/null | wc -l; }

# stalled DIR: checkpoints 1 to 3 complete, 4 incomplete (the sink stops
# after 3 while the source and the window go on; the source keeps one
# checkpoint in flight, so 4 is the last it injects), then all killed.
# The sink is killed -9; the window and the source then end on the closed
# pipe.
stalled() {
	{ rtai-cat --checkpoint-dir "$1" --checkpoint-interval 200ms --rate 1500 in.jsonl 2>cat.err |
		rtai-parse -t t | $WIN --checkpoint-dir "$1" 2>win.err; } |
		"$SINK" --checkpoint-dir "$1" --checkpoint-stall 3 out.txt 2>sink.err &
	pid=$!
	wait_until test -e "$1/ckpt-3/COMPLETE" || { kill -9 "$pid"; false; }
	wait_until test -e "$1/ckpt-4" || { kill -9 "$pid"; false; }
	sleep 1	# five intervals: no barrier 5 while 4 is in flight
	kill -9 "$pid"
	wait "$pid" || true
	wait
	[ ! -e "$1/ckpt-5" ]
	[ ! -e "$1/ckpt-4/COMPLETE" ]
}

@test "checkpoint-tool: list: a line per checkpoint, oldest first; state, bytes and snapshots as find and ls see them" {
	pipeline ck
	[ "$(complete_count ck)" -eq 3 ]	# the stages' own pruning keeps 3
	run rtai-checkpoint list ck
	echo "$output"
	assert_success
	[ "${#lines[@]}" -eq 3 ]
	run sh -c 'rtai-checkpoint list ck | cut -f1,2,4,5'
	assert_output "$(expect_list ck)"
	run sh -c 'rtai-checkpoint list ck | cut -f3'
	echo "$output"
	for a in "${lines[@]}"; do [[ "$a" =~ ^[0-9]+s$ ]]; done
	# two stages wrote each: rtai-cat and rtai-window
	run sh -c 'rtai-checkpoint list ck | cut -f5 | sort -u'
	assert_output 2
}

@test "checkpoint-tool: list -v: each snapshot's stage key and the identity its header holds" {
	pipeline ck
	run rtai-checkpoint -v list ck
	echo "$output"
	assert_success
	for id in $(ls ck | sed -n 's/^ckpt-//p' | sort -n); do
		got=$(rtai-checkpoint list --verbose ck | awk -v id="$id" '
			/^[0-9]/ { on = ($1 == id); next } on')
		[ "$got" = "$(snap_identities ck "$id")" ]
	done
	# the identities are the command lines typed, less --checkpoint-*
	assert_output --partial " rtai-cat in.jsonl"
	assert_output --partial " rtai-window -k u --tumbling 1m"
}

@test "checkpoint-tool: list --json: the same checkpoints; age_s is now - the mtime stat gives" {
	pipeline ck
	before=$(date +%s.%N)
	rtai-checkpoint list --json ck >list.json
	after=$(date +%s.%N)
	run sh -c "jq -r '[.id, (if .complete then \"complete\" else \"incomplete\" end), .bytes, .snapshots] | @tsv' list.json"
	echo "$output"
	assert_output "$(expect_list ck)"
	run python3 - "$before" "$after" <<-'EOF'
	import json, os, sys
	lo, hi = float(sys.argv[1]), float(sys.argv[2])
	ok = 0
	for line in open("list.json"):
	    c = json.loads(line)
	    m = os.stat("ck/ckpt-%d/COMPLETE" % c["id"]).st_mtime
	    assert lo - m - 0.001 <= c["age_s"] <= hi - m + 0.001, (c, lo - m, hi - m)
	    keys = sorted(s["key"] for s in c["stages"])
	    files = sorted(f[:-5] for f in os.listdir("ck/ckpt-%d" % c["id"]) if f.endswith(".snap"))
	    assert keys == files, (keys, files)
	    assert all(s["identity"] for s in c["stages"])
	    ok += 1
	print(ok)
	EOF
	echo "$output"
	assert_output 3
}

@test "checkpoint-tool: list: ages in whole units, from COMPLETE's mtime" {
	pipeline ck
	now=$(date +%s)
	ids=($(ls ck | sed -n 's/^ckpt-//p' | sort -n))
	touch -d "@$((now - 187))" "ck/ckpt-${ids[0]}/COMPLETE"
	touch -d "@$((now - 7384))" "ck/ckpt-${ids[1]}/COMPLETE"
	touch -d "@$((now - 200000))" "ck/ckpt-${ids[2]}/COMPLETE"
	run sh -c 'rtai-checkpoint list ck | cut -f3'
	echo "$output"
	# 187 s (and the seconds since), 2 h 3 min 4 s, 2 d 7 h 33 min
	[[ "${lines[0]}" =~ ^3m(0[7-9]|[1-5][0-9])s$ ]]
	[ "${lines[1]}" = 2h03m ]
	[ "${lines[2]}" = 2d07h ]
}

@test "checkpoint-tool: list: checkpoints a stalled sink left incomplete, with fewer snapshots" {
	stalled ck
	run rtai-checkpoint list ck
	echo "$output"
	assert_success
	printf '%s\n' "$output" | cut -f1,2,4,5 >got
	run cat got
	assert_output "$(expect_list ck)"
	# the complete ones hold three snapshots, the incomplete ones fewer (no
	# sink's; the last may lack the window's too)
	run sh -c "rtai-checkpoint list ck | awk -F'\t' '{print \$2, (\$5 == 3 ? 3 : \$5 < 3 ? \"less\" : \$5)}' | sort -u"
	echo "$output"
	assert_output "$(printf 'complete 3\nincomplete less')"
	run sh -c "rtai-checkpoint list ck | awk -F'\t' '\$2 == \"complete\" {print \$1}'"
	assert_output "$(printf '1\n2\n3')"
}

@test "checkpoint-tool: list: a checkpoint a stage declined says so; -v and --json name the stage" {
	# The window runs under a file size limit of 1 kB (as a full disk): its
	# registration fits, its snapshots of 2000 keys do not, so it declines
	# checkpoint 1 (ckpt-1/KEY.declined.RUN) and exits at the next barrier.
	# The first barrier after 400 ms: the window has registered by then.
	rtai-gen clicks -n 20000 --keys 2000 --step 10ms --seed 1 | rtai-cat | rtai-parse -t event_time >c.rtai
	run timeout 60 bash -c 'rtai-cat --checkpoint-dir ck --checkpoint-interval 400ms --rate 10000 c.rtai |
		(trap "" XFSZ; ulimit -f 1; exec rtai-window --checkpoint-dir ck -k user_id --tumbling 1h -a count 2>win.err >/dev/null)'
	echo "$output"
	[ "$status" -ne 124 ]
	key=$(basename ck/ckpt-1/*.declined.* | sed 's/\.declined\..*//')
	[ -n "$key" ]
	[ ! -e ck/ckpt-1/COMPLETE ]
	run rtai-checkpoint list ck
	echo "$output"
	assert_success
	[ "$(printf '%s\n' "$output" | awk -F'\t' '$1 == 1 {print $2}')" = declined ]
	run rtai-checkpoint list -v ck
	assert_line "  declined by $key"
	run sh -c "rtai-checkpoint list --json ck | jq -c 'select(.id == 1) | [.complete, .declined]'"
	assert_output "[false,[\"$key\"]]"
	# a checkpoint nobody declined has an empty list
	pipeline ok
	run sh -c "rtai-checkpoint list --json ok | jq -c '.declined' | sort -u"
	assert_output '[]'
}

@test "checkpoint-tool: prune --keep N: the newest N complete stay, older incomplete ones go, newer ones stay" {
	stalled ck
	# A checkpoint that never completed between complete ones (as one a
	# stage failed to write leaves): checkpoint 2 without its COMPLETE.
	rm ck/ckpt-2/COMPLETE
	newer=$(ls ck | sed -n 's/^ckpt-//p' | awk '$1 > 3' | sort -n)
	[ -n "$newer" ]
	run rtai-checkpoint prune --keep 1 -v ck
	echo "$output"
	assert_success
	assert_output "$(printf 'removed ck/ckpt-2\nremoved ck/ckpt-1')"
	run sh -c "ls ck | sed -n 's/^ckpt-//p' | sort -n"
	assert_output "$(printf '3\n%s' "$newer")"
	# nothing else of the directory was touched
	run ls ck
	assert_output "$(printf 'ckpt-%s\n' 3 $newer | sort; printf 'lock\nrun\nsource\nstages')"
}

@test "checkpoint-tool: prune: by default the newest 3 complete stay; a second prune removes nothing" {
	pipeline ck
	ids=($(ls ck | sed -n 's/^ckpt-//p' | sort -n))
	[ "${#ids[@]}" -eq 3 ]
	# two older complete checkpoints, as copies of real ones under lower ids
	[ "${ids[0]}" -gt 2 ]
	cp -a "ck/ckpt-${ids[0]}" "ck/ckpt-$((ids[0] - 2))"
	cp -a "ck/ckpt-${ids[1]}" "ck/ckpt-$((ids[0] - 1))"
	[ "$(complete_count ck)" -eq 5 ]
	run rtai-checkpoint prune ck
	echo "$output"
	assert_success
	assert_output ''
	run sh -c "ls ck | sed -n 's/^ckpt-//p' | sort -n"
	assert_output "$(printf '%s\n' "${ids[@]}")"
	run rtai-checkpoint prune -v ck
	assert_success
	assert_output ''
}

@test "checkpoint-tool: prune refuses while a stage of the directory runs (its registration is locked); --force prunes" {
	pipeline ck
	ids=($(ls ck | sed -n 's/^ckpt-//p' | sort -n))
	mkfifo in.fifo
	sleep 600 >in.fifo &
	feeder=$!
	$WIN --checkpoint-dir ck <in.fifo >/dev/null 2>win.err &
	win=$!
	reg=$(ls ck/stages/rtai-window-*)
	# The stage has its registration locked once it says it resumes (a
	# probe with flock(1) would take the lock itself for a moment, and a
	# stage starting then would find it taken and refuse to run).
	wait_until grep -q 'resuming from checkpoint' win.err || { cat win.err; kill -9 "$win" "$feeder"; false; }
	run rtai-checkpoint prune --keep 1 ck
	echo "$output"
	[ "$status" -eq 1 ]
	assert_output "rtai-checkpoint: ck: a stage is running: rtai-window -k u --tumbling 1m ($reg is locked): stop the pipeline first, or prune anyway with --force"
	[ "$(ls -d ck/ckpt-* | wc -l)" -eq 3 ]
	run rtai-checkpoint prune --keep 1 --force ck
	echo "$output"
	assert_success
	kill -9 "$win"
	kill "$feeder"
	wait "$win" || true
	wait "$feeder" || true
	run sh -c "ls ck | sed -n 's/^ckpt-//p'"
	assert_output "${ids[2]}"
	# with the stage gone, prune runs without --force
	run rtai-checkpoint prune ck
	echo "$output"
	assert_success
}

@test "checkpoint-tool: list of a directory without checkpoints yet prints nothing; a header it cannot read is said so" {
	mkfifo in.fifo
	sleep 600 >in.fifo &
	feeder=$!
	$WIN --checkpoint-dir fresh <in.fifo >/dev/null 2>win.err &
	win=$!
	wait_until test -d fresh/stages || { kill -9 "$win" "$feeder"; false; }
	run rtai-checkpoint list fresh
	echo "$output"
	assert_success
	assert_output ''
	kill -9 "$win"
	kill "$feeder"
	wait "$win" || true
	wait "$feeder" || true
	pipeline ck
	id=$(ls ck | sed -n 's/^ckpt-//p' | sort -n | tail -1)
	printf 'not a snapshot' >"ck/ckpt-$id/zz.snap"
	run sh -c "rtai-checkpoint list -v ck | tail -1"
	echo "$output"
	assert_output "  stage zz (unreadable header)"
	run sh -c "rtai-checkpoint list --json ck | tail -1 | jq -c '[.snapshots, .stages[-1]]'"
	echo "$output"
	assert_output '[3,{"key":"zz","identity":null}]'
}

@test "checkpoint-tool: errors: a missing DIR, not a checkpoint directory, a file" {
	run rtai-checkpoint list nosuch
	echo "$output"
	[ "$status" -eq 1 ]
	assert_output "rtai-checkpoint: nosuch: No such file or directory"
	mkdir plain
	for cmd in list prune; do
		run rtai-checkpoint "$cmd" plain
		echo "$output"
		[ "$status" -eq 1 ]
		assert_output --partial "rtai-checkpoint: plain: not a checkpoint directory (no stages/ in it"
	done
	[ ! -e plain/lock ]	# prune made nothing in it
	: >afile
	run rtai-checkpoint prune afile
	echo "$output"
	[ "$status" -eq 1 ]
	assert_output "rtai-checkpoint: afile: not a directory"
}

@test "checkpoint-tool: usage errors exit 2: no command, an unknown one, no DIR, two, bad --keep, an option of the other command" {
	mkdir -p d/stages
	for args in "" "show d" "list" "prune" "list d d" "prune --keep 0 d" "prune --keep x d" \
		"list --keep 2 d" "list --force d" "prune --json d" "list --nosuch d"; do
		run rtai-checkpoint $args
		echo "$args: $output"
		[ "$status" -eq 2 ]
		assert_output --partial "rtai-checkpoint"
	done
	run rtai-checkpoint show d
	assert_output --partial "'show': unknown command (expected list or prune)"
	run rtai-checkpoint list
	assert_output --partial "list: give the checkpoint directory DIR"
	run rtai-checkpoint prune --keep 0 d
	assert_output --partial "--keep"
}

@test "checkpoint-tool: --help lists every option; --version" {
	run rtai-checkpoint --help
	echo "$output"
	assert_success
	for o in --verbose --json --keep --force --help --version; do
		assert_output --partial -- "$o"
	done
	run rtai-checkpoint --version
	assert_success
	assert_output --partial "rtai-checkpoint (rtai)"
}

@test "checkpoint-tool: the examples of rtai-checkpoint(1) run" {
	run_man_examples rtai-checkpoint.1
}
