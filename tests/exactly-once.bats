#!/usr/bin/env bats
# Exactly-once end to end (issue 14's "Done when", rtai(7) "Checkpoints"):
#   rtai-cat --checkpoint-interval 100ms --rate R capture | rtai-parse |
#     STAGES... | rtai-sink-redis
# into a redis-server of the test's own, with a random stage killed -9 at a
# random moment, several times, the same command line run again each time
# until a run finishes; then every key and value in Redis must be what an
# uninterrupted run (no checkpoints) writes into another database.
# Every other kill is of the sink while Redis holds its replies back
# (CLIENT PAUSE), the moment a sink that let a barrier pass before its
# writes were acknowledged would lose them.
#
# A case is one @test line: exactly_once NAME 'SINK OPTIONS' 'STAGE' ...,
# the stages between rtai-parse and the sink. A stage whose --help offers
# --checkpoint-dir takes part in the checkpoints (RTAI_CHECKPOINT_DIR).
# exactly_once_lake is the same ending in rtai-sink-lake: the table's rows,
# read by DuckDB (tests/lakeread.js), against an uninterrupted run's table;
# every other kill is of the sink after it was stopped (SIGSTOP) a while,
# so barriers pass the stages before it while its commits wait.
# The random seed is printed; EXACTLY_ONCE_SEED=N replays a run's choices.

load common

# The capture: deterministic (rtai-gen's fixed seed and clock), 40000 clicks
# of 50 users 1 ms apart in event time, up to 20 ms out of order.
setup_local() {
	unset RTAI_CHECKPOINT_DIR
	redis_start
	rtai-gen clicks -n 40000 -k 50 --disorder 20ms >clicks.jsonl
	rtai-cat -o cap.rtai clicks.jsonl
	PARSE="rtai-parse -t event_time"
	KILL_AT_END=
}

# pause_sink PID: holds the sink back before it is killed: Redis holds its
# replies back (CLIENT PAUSE) for a while. exactly_once_lake stops the
# sink itself instead.
pause_sink() {
	rcli client pause 400 all >/dev/null
	sleep "0.$((100 + RANDOM % 200))"
}

teardown_local() {
	[ -z "${KILL_AT_END:-}" ] || kill -9 $KILL_AT_END 2>/dev/null || true
	redis_stop
}

# gone PID: the process has exited (or is a zombie).
gone() {
	! kill -0 "$1" 2>/dev/null || [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# all_gone PID...: every one has exited.
all_gone() {
	local p
	for p in "$@"; do gone "$p" || return 1; done
}

# registered DIR TOOL N: N registrations of TOOL in DIR are held by running
# stages: their files are locked (flock), as /proc/locks shows (reading it
# takes no lock, so a stage registering meanwhile is not disturbed).
registered() {
	local f ino n=0
	for f in "$1"/stages/"$2"-*; do
		[ -e "$f" ] || continue
		ino=$(stat -c %i "$f")
		grep -q ":$ino " /proc/locks && n=$((n + 1))
	done
	[ "$n" -ge "$3" ]
}

# poll N CMD...: runs CMD every 10 ms until it holds, for at most N seconds.
poll() {
	local i
	for i in $(seq $(($1 * 100))); do
		"${@:2}" && return 0
		sleep 0.01
	done
	return 1
}

# run_once ATTEMPT KILL: runs the pipeline of STAGES (global; stage 0 the
# source, the last the sink) once, each stage a process of its own joined
# by FIFOs, so each one's pid is known; its standard error goes to
# err.ATTEMPT.I. The stages after the source are started first and the
# source only once every stage that checkpoints holds its registration:
# a stage that registers after a checkpoint of its run completed is refused
# (rtai(7)), which the interval alone cannot rule out on a loaded machine.
# KILL 1: after a random 0-1 s, kill -9 a random stage, if it still runs
# (a full run lasts 4 s at --rate 10000, so the first runs are all killed).
# Waits (at most 5 minutes, then fails) for every stage to exit; sets
# STATUSES to their exit statuses and KILLED to the stage killed, or -1.
run_once() {
	local a=$1 n=${#STAGES[@]} i pids=() tool
	rm -f fifo.*
	for ((i = 1; i < n; i++)); do mkfifo "fifo.$i"; done
	# Each opens its output FIFO first, so all but the source start at once.
	for ((i = n - 1; i >= 1; i--)); do
		if ((i == n - 1)); then
			(eval "exec ${STAGES[i]}") <"fifo.$i" 2>"err.$a.$i" &
		else
			(eval "exec ${STAGES[i]}") >"fifo.$((i + 1))" <"fifo.$i" 2>"err.$a.$i" &
		fi
		pids[i]=$!
	done
	KILL_AT_END="${pids[*]}"
	for ((i = 1; i < n; i++)); do
		tool=${STAGES[i]%% *}
		"$tool" --help | grep -q -- --checkpoint-dir || continue
		# rtai-parse takes part only with --on-error skip or dlq (the place of
		# its dead letters): else it never registers, and waiting is in vain.
		[[ $tool != rtai-parse || ${STAGES[i]} =~ --on-error[=\ ](skip|dlq) ]] || continue
		poll 60 registered "$RTAI_CHECKPOINT_DIR" "$tool" \
			"$(printf '%s\n' "${STAGES[@]:1}" | grep -c "^$tool ")" || {
			echo "attempt $a: $tool never registered; starting the source anyway" >&2
			# what the test saw, to tell why
			ls -li "$RTAI_CHECKPOINT_DIR/stages" >&2
			cat /proc/locks >&2
			ps -o pid,stat,wchan:20,args -p "${pids[*]:1}" >&2 || true
		}
	done
	(eval "exec ${STAGES[0]}") >fifo.1 2>"err.$a.0" &
	pids[0]=$!
	KILL_AT_END="${pids[*]}"
	KILLED=-1
	if [ "$2" = 1 ]; then
		sleep "$(printf '0.%03d' $((RANDOM % 1000)))"
		i=$((RANDOM % n))
		# Every other kill, the sink is held back a while (pause_sink), so
		# barriers reach it while its writes are not durable yet, and the
		# sink is the stage killed.
		if ((RANDOM % 2)); then
			pause_sink "${pids[n - 1]}"
			i=$((n - 1))
		fi
		if ! gone "${pids[i]}"; then
			kill -9 "${pids[i]}" && KILLED=$i
		fi
	fi
	if ! poll 300 all_gone "${pids[@]}"; then
		echo "attempt $a: the pipeline did not end within 5 minutes" >&2
		kill -9 "${pids[@]}" 2>/dev/null
		return 1
	fi
	STATUSES=()
	for ((i = 0; i < n; i++)); do
		STATUSES[i]=0
		wait "${pids[i]}" || STATUSES[i]=$?
	done
	KILL_AT_END=
}

# exactly_once NAME SINK_OPTS STAGE...: the test of one case.
exactly_once() {
	local name=$1 sink=$2
	shift 2
	local seed=${EXACTLY_ONCE_SEED:-$(( $(date +%s%N) % 100000 ))}
	echo "case $name, seed $seed (EXACTLY_ONCE_SEED=$seed to replay)"
	RANDOM=$seed

	# What an uninterrupted run writes, without checkpoints, into DB 1.
	local mid="" s
	for s in "$@"; do mid+=" | $s"; done
	run bash -o pipefail -c "rtai-cat cap.rtai | $PARSE $mid | rtai-sink-redis -u $REDIS_URL/1 $sink"
	echo "$output"
	assert_success

	export RTAI_CHECKPOINT_DIR=$PWD/ckpt
	STAGES=("rtai-cat --checkpoint-interval 100ms --rate 10000 cap.rtai" "$PARSE" "$@"
		"rtai-sink-redis -u $REDIS_URL/0 $sink")
	kill_and_rerun

	redis_dump 1 >want
	redis_dump 0 >got
	echo "$(wc -l <want) keys"
	[ -s want ]
	diff want got
}

# kill_and_rerun: runs STAGES, killed at random four times (a kill that
# comes after the run ended counts as none), then until a run ends by
# itself; at most 12 runs. Fails unless the last run ended with every
# status 0, after at least 2 kills, and no stage refused its snapshot.
kill_and_rerun() {
	local kills=0 a st
	for a in $(seq 1 12); do
		run_once "$a" "$((kills < 4))"
		if ((KILLED >= 0)); then
			echo "run $a: killed ${STAGES[KILLED]%% *}; statuses ${STATUSES[*]}"
		else
			echo "run $a: not killed; statuses ${STATUSES[*]}"
		fi
		if ((KILLED >= 0)); then
			kills=$((kills + 1))
			continue
		fi
		for st in "${STATUSES[@]}"; do
			if [ "$st" -ne 0 ]; then
				tail -n 5 err."$a".*
				false
			fi
		done
		break
	done
	((KILLED < 0))
	echo "$kills kills"
	[ "$kills" -ge 2 ]
	# the runs after a kill resumed (after the first complete checkpoint)
	grep -h 'resuming from checkpoint' err.* | sort | uniq -c
	# no stage ever refused its snapshot (status 6: the registration race)
	run grep -l 'missing, or left by an earlier run\|missing: checkpoint' err.*
	echo "$output"
	assert_failure
}

# exactly_once_lake NAME SINK_OPTS STAGE...: as exactly_once, ending in
# rtai-sink-lake SINK_OPTS TABLE; the rows of the table, read by DuckDB and
# sorted, against those of an uninterrupted run's table (no checkpoints).
exactly_once_lake() {
	local name=$1 sink=$2
	shift 2
	local seed=${EXACTLY_ONCE_SEED:-$(( $(date +%s%N) % 100000 ))}
	echo "case $name, seed $seed (EXACTLY_ONCE_SEED=$seed to replay)"
	RANDOM=$seed
	need_node_modules @duckdb/node-api
	pause_sink() {
		kill -STOP "$1"
		sleep "0.$((100 + RANDOM % 200))"
	}

	local mid="" s
	for s in "$@"; do mid+=" | $s"; done
	run bash -o pipefail -c "rtai-cat cap.rtai | $PARSE $mid | rtai-sink-lake $sink want.lake"
	echo "$output"
	assert_success

	export RTAI_CHECKPOINT_DIR=$PWD/ckpt
	STAGES=("rtai-cat --checkpoint-interval 100ms --rate 10000 cap.rtai" "$PARSE" "$@"
		"rtai-sink-lake $sink got.lake")
	kill_and_rerun

	NODE_PATH=$RTAI_NODE_MODULES node "$RTAI_SRC/tests/lakeread.js" want.lake duckdb |
		LC_ALL=C sort >want
	NODE_PATH=$RTAI_NODE_MODULES node "$RTAI_SRC/tests/lakeread.js" got.lake duckdb |
		LC_ALL=C sort >got
	echo "$(wc -l <want) rows"
	[ -s want ]
	diff want got >diffs || { head -n 20 diffs; echo "$(grep -c '^[<>]' diffs) rows differ"; false; }
}

@test "exactly-once: tumbling windows, kill -9 at random, rerun: Redis holds what an uninterrupted run writes" {
	exactly_once tumbling "-k 'w:{user_id}:{window_start}' --hash" \
		"rtai-window -k user_id --tumbling 1s --delay 20ms -a count -a sum:amount -a distinct:item_id"
	# and the uninterrupted run is right: the counts per user and second, by python3
	run python3 - <<'PY'
import collections, datetime, json
want = collections.Counter()
for line in open("clicks.jsonl"):
    r = json.loads(line)
    t = datetime.datetime.fromisoformat(r["event_time"].replace("Z", "+00:00"))
    want[r["user_id"], t.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S.000Z")] += 1
got = {}
for line in open("want"):
    key, _, fields = line.rstrip("\n").split(" ", 2)
    f = dict(kv.split("=", 1) for kv in fields.split(" "))
    got[f["user_id"], f["window_start"]] = int(f["count"])
print(got == dict(want), len(got))
PY
	echo "$output"
	[[ "$output" =~ ^True\ [0-9]+$ ]]
}

@test "exactly-once: sliding windows, kill -9 at random, rerun: Redis holds what an uninterrupted run writes" {
	exactly_once sliding "-k 'w:{user_id}:{window_start}' --hash" \
		"rtai-window -k user_id --sliding 2s/500ms --delay 20ms -a count -a sum:amount -a p90:amount"
}

@test "exactly-once: session windows, kill -9 at random, rerun: Redis holds what an uninterrupted run writes" {
	exactly_once session "-k 's:{user_id}:{window_start}:{window_end}' --hash" \
		"rtai-window -k user_id --session 150ms --delay 20ms -a count -a first:item_id -a last:item_id"
}

@test "exactly-once: the latest window of each user, replaced whole (--replace): as an uninterrupted run" {
	exactly_once latest "-k 'latest:{user_id}' --hash --replace" \
		"rtai-window -k user_id --tumbling 500ms --delay 20ms -a count -a max:amount"
}

@test "exactly-once: --over ranges, kill -9 at random, rerun: Redis holds what an uninterrupted run writes" {
	exactly_once over "-k 'o:{user_id}:{event_time}' --hash" \
		"rtai-window -k user_id --over 1s --delay 20ms -a count -a sum:amount -a max:amount"
}

# The issue's whole pipeline: cat | parse | window --over | join (a table
# and a changelog of versions, point in time) | sink-redis. The changelog
# is a file, so each rerun reads it from its start (rtai-join(1)).
@test "exactly-once: --over then rtai-join with a changelog (--as-of), kill -9 at random, rerun: as an uninterrupted run" {
	python3 - <<'PY'
import json
users = sorted({json.loads(l)["user_id"] for l in open("clicks.jsonl")})
with open("profiles.jsonl", "w") as t, open("changes.jsonl", "w") as c:
    for i, u in enumerate(users):
        t.write(json.dumps({"user_id": u, "tier": "free", "valid_from": "2026-11-24T09:00:00Z"}) + "\n")
        for k, s in enumerate((5 + i % 7, 17 + i % 11, 30 + i % 5)):
            c.write(json.dumps({"user_id": u, "tier": "t%d" % k,
                                "valid_from": "2026-11-24T10:00:%02dZ" % s}) + "\n")
PY
	exactly_once join "-k 'j:{user_id}:{event_time}' --hash" \
		"rtai-window -k user_id --over 1s --delay 20ms -a count -a sum:amount" \
		"rtai-join -t profiles.jsonl -u changes.jsonl --on user_id --as-of valid_from --fields tier"
	# and the uninterrupted run joined each click to the version of its time
	run python3 - <<'PY'
import collections, json
vers = collections.defaultdict(list)
for f in ("profiles.jsonl", "changes.jsonl"):
    for l in open(f):
        r = json.loads(l)
        vers[r["user_id"]].append((r["valid_from"].replace("Z", ".000Z"), r["tier"]))
bad = n = 0
for line in open("want"):
    key, _, fields = line.rstrip("\n").split(" ", 2)
    f = dict(kv.split("=", 1) for kv in fields.split(" "))
    want = max(v for v in vers[f["user_id"]] if v[0] <= f["event_time"])[1]
    n += 1
    bad += f.get("tier") != want
print(bad, n)
PY
	echo "$output"
	[[ "$output" =~ ^0\ [0-9]+$ ]]
	[ "${output#0 }" -gt 1000 ]
}

# The same, ending in the lake: its files of checkpoint N are staged in its
# snapshot of N and committed (with a txn of N) once N is complete, or by
# the rerun from that snapshot; files of a checkpoint that never completed
# are removed, and the rerun writes their records again.
@test "exactly-once: tumbling windows into rtai-sink-lake, kill -9 at random, rerun: the table holds what an uninterrupted run's holds" {
	exactly_once_lake lake "--exactly-once" \
		"rtai-window -k user_id --tumbling 1s --delay 20ms -a count -a sum:amount -a distinct:item_id"
	# and each click is counted in one window exactly: the counts sum to the clicks
	run python3 -c '
import json, sys
rows = [json.loads(l) for l in open("got")]
print(sum(int(r["count"][1]) for r in rows), len(rows))'
	echo "$output"
	[ "${output%% *}" -eq "$(wc -l <clicks.jsonl)" ]
}
