#!/usr/bin/env bats
# Scale-out (issue 16, rtai(7) "WHEN ONE MACHINE IS NOT ENOUGH"): two copies
# of the flagship pipeline
#   rtai-kafka -G features --replay | rtai-parse | rtai-window | rtai-sink-redis
# in one consumer group on a 4-partition topic keyed by user, into a Redis
# Cluster of 3 masters; one copy is stopped mid-run (SIGTERM to its source,
# as a user stops it) and the other takes over its partitions, reading again
# from the offsets the stopped copy committed, which --replay held back to
# the first message of its oldest open window. At the end every feature in
# Redis equals a single-copy run's, and both equal a brute force of the
# windows in python3 from the events produced.
# The Kafka cluster is librdkafka's mock (tests/kafka-mock); the events go in
# through rtai-sink-kafka (event time as the Kafka timestamp, keys by the Java
# client's murmur2), checked with kcat and kafkatool.py's own murmur2.

load common
load kafka

# Short group timeouts: a join or a rebalance takes seconds, not minutes.
# Small fetches: a backlog comes in from the partitions in turns of a few
# dozen messages, not one partition after another; and --max-drift 1s pauses
# a partition more than 1 s ahead of the slowest, so event time moves on
# evenly over the partitions (the watermark is one for all of them: without
# it, a sanitized run once saw a copy reading its partitions again after
# the rebalance drop 225 records as late).
GROUPX="-X session.timeout.ms=6000 -X heartbeat.interval.ms=500 -X auto.commit.interval.ms=500
	-X max.partition.fetch.bytes=4096"
WINDOW="--tumbling 5s"	# the windows (brute: 5000 ms, every 5000)
REPLAY=5s+3s	# --replay SIZE+SLACK for them: SIZE, and the delay
DELAY=3s	# rtai-window --delay: events are up to 0.5 s out of order, and the
		# partitions of a copy up to 1.5 s apart as they come in

ktool() { python3 "$RTAI_SRC/tests/kafkatool.py" "$@"; }

setup_local() {
	command -v kcat >/dev/null || { echo "kcat is not installed (scripts/packages.sh)" >&2; return 1; }
	cluster_start "$BATS_TEST_TMPDIR/cluster"
}

teardown_local() {
	local pid
	# Each copy's stages are children of its subshell.
	for pid in ${BG_PIDS:-}; do
		pkill -KILL -P "$pid" 2>/dev/null || true
		kill -9 "$pid" 2>/dev/null || true
	done
	kafka_stop
	cluster_stop
}

# copy NAME [OPTION...]: starts one copy of the pipeline in the background
# (WINDOW, DELAY and REPLAY as set; KEY2, the second sink's key template),
# its source's pid in NAME.pid, what the source wrote in NAME.rtai (tee),
# every stage's standard error in NAME.err; sets PID to the pipeline, whose
# status is that of the last stage that failed (pipefail), or 0.
copy() {
	local name=$1 key2=${KEY2:-}
	shift
	[ -n "$key2" ] || key2='window:{user_id}:{window_start}'
	# shellcheck disable=SC2086
	( set -o pipefail; sh -c 'echo $$ >"$0.pid"; exec rtai-kafka "$@"' "$name" -b "$KAFKA_BROKERS" -t clicks \
		-G "$GROUP" --replay "$REPLAY" --max-drift 1s $GROUPX -v "$@" |
		tee "$name.rtai" |
		rtai-parse -t event_time |
		rtai-window -k user_id $WINDOW --delay "$DELAY" \
			-a clicks=count -a spend=sum:amount |
		rtai-sink-redis -v -u "$CLUSTER_URL" -k 'features:user:{user_id}' --hash --only-newer --pass |
		rtai-sink-redis -v -u "$CLUSTER_URL" -k "$key2" --hash
	) 2>"$name.err" 3>&- &
	PID=$!
	BG_PIDS="${BG_PIDS:-} $PID"
}

# assigned NAME N: NAME's source was last assigned N partitions.
assigned() {
	[ "$(grep 'group features:' "$1.err" | tail -1)" = "rtai-kafka: group features: assigned $2 partitions" ]
}

# commit_failed NAME: NAME's source said that a commit of its offsets
# failed, as one does while the group rebalances ("Group rebalance in
# progress"). The member that takes its partitions then reads them from an
# earlier commit: read again, at least once, as --replay promises when a
# commit fails (rtai-kafka(1)); the features stay exact.
commit_failed() {
	if grep -q 'rtai-kafka: committing offsets:\|Offset commit (manual) failed' "$1.err"; then
		echo "$1's commit failed: the member after it read from an earlier commit"
		return 0
	fi
	return 1
}

# ends: "PARTITION END" for each partition of clicks (END: the offset after
# its last message), as kcat reads them.
ends() {
	kcat -C -b "$KAFKA_BROKERS" -t clicks -e -q -f '%p %o\n' |
		awk '{ if ($2 + 1 > e[$1]) e[$1] = $2 + 1 } END { for (p in e) print p, e[p] }' | sort
}

# read_to NAME ENDS: NAME's source wrote, of every partition in the file
# ENDS ("PARTITION END" lines), the message before END.
read_to() {
	ktool show "$1.rtai" 2>/dev/null | jq -r '"\(.partition) \(.offset + 1)"' |
		sort -k1,1n -k2,2n | awk '{ e[$1] = $2 } END { for (p in e) print p, e[p] }' |
		sort >"$1.ends"
	cmp -s "$1.ends" "$2"
}

# read_to_all ENDS NAME...: the sources of NAME... together wrote, of every
# partition in ENDS, the message before END.
read_to_all() {
	local ends=$1 name
	shift
	for name in "$@"; do ktool show "$name.rtai" 2>/dev/null; done |
		jq -r '"\(.partition) \(.offset + 1)"' |
		sort -k1,1n -k2,2n | awk '{ e[$1] = $2 } END { for (p in e) print p, e[p] }' |
		sort >all.ends
	cmp -s all.ends "$ends"
}

# read_all N NAME...: the sources of the copies NAME... wrote N messages.
read_all() {
	local n=$1 name sum=0
	shift
	for name in "$@"; do
		sum=$((sum + $(ktool show "$name.rtai" 2>/dev/null | wc -l)))
	done
	[ "$sum" -ge "$n" ]
}

# features: every hash in the cluster, one line per key, fields sorted
# (_event_time, --only-newer's version, left out: compared on its own below).
features() {
	cluster_dump | python3 -c '
import json, sys
for line in sys.stdin:
    k, _, v = line.rstrip("\n").partition(" ")
    a = json.loads(v)
    h = dict(zip(a[0::2], a[1::2]))
    h.pop("_event_time", None)
    print(k, json.dumps(h, sort_keys=True))'
}

# clicks: starts the Kafka cluster with the 4-partition topic clicks, and
# writes fences (one user per partition, kafkatool.py's murmur2),
# first.jsonl, second.jsonl and events.jsonl (both).
clicks() {
	kafka_start clicks:4
	# One user per partition for the fences below (kafkatool.py's murmur2).
	for p in 0 1 2 3; do
		for k in $(seq 0 99); do
			[ "$(ktool partition "f$k" 4)" = "$p" ] && { echo "f$k"; break; }
		done
	done >fences
	[ "$(wc -l <fences)" -eq 4 ]
	# 5000 clicks of 20 users (5 a partition), 4 ms apart and up to 0.5 s
	# out of order, in two halves: before the stop (up to 12.5 s,
	# mid-window, ending with a fence in every partition at 12.5 s, so both
	# copies reach the same watermark) and after.
	python3 - <<-'EOF'
	import json, os, random, sys
	from datetime import datetime, timezone
	sys.path.insert(0, os.path.join(os.environ["RTAI_SRC"], "tests"))
	from kafkatool import murmur2
	random.seed(16)
	# 20 users, 5 on each partition: the partitions have the same event
	# rate, so a backlog taken from them in turns of 4 kB moves on evenly
	# in event time (one partition of 3 users ran 5 s ahead of one of 7).
	users, k = [], 0
	while len(users) < 20:
	    name = "u%d" % k
	    p = (murmur2(name.encode()) & 0x7fffffff) % 4
	    if sum(1 for u in users if u[1] == p) < 5:
	        users.append((name, p))
	    k += 1
	users = [u for u, _ in users]
	base = 1795860000000	# 2026-11-28T10:00:00Z, in ms
	n = 0
	def click(user, t, amount):
	    global n
	    n += 1
	    s = datetime.fromtimestamp((base + t) / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
	    return json.dumps({"user_id": user, "amount": amount, "event_time": s[:-3] + "Z",
	                       "id": "c%d" % n})
	def clicks(t0):
	    return [click(random.choice(users), t0 + i * 4 + random.randint(0, 500),
	                  random.randint(0, 10000) / 100) for i in range(2500)]
	with open("first.jsonl", "w") as f:
	    for line in clicks(0):
	        print(line, file=f)
	    for user in open("fences").read().split():
	        print(click(user, 12500, 0), file=f)
	with open("second.jsonl", "w") as f:
	    for line in clicks(12500):
	        print(line, file=f)
	EOF
	cat first.jsonl second.jsonl >events.jsonl
}

# produce FILE: the clicks of FILE in at 500 a second, as a live topic
# fills, keyed by user (murmur2), the event time as the Kafka timestamp.
produce() {
	rtai-cat --rate 500 "$1" | rtai-parse -t event_time |
		rtai-sink-kafka -b "$KAFKA_BROKERS" -t clicks -k '{user_id}'
}

# brute FILE [SIZE SLIDE [OFFSET]]: the features dumped in FILE (features)
# equal a brute force of the windows (SIZE ms every SLIDE ms, starting
# OFFSET ms after a multiple of SLIDE; 5000, 5000 and 0) in python3 from the
# clicks produced: every window, and each user's latest window under its
# flagship key.
brute() {
	python3 - "$1" "${2:-5000}" "${3:-5000}" "${4:-0}" <<-'EOF'
	import json, sys
	from collections import OrderedDict
	from datetime import datetime, timezone
	size, slide, off = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
	def ms(s):
	    return round(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)
	def fmt(t):
	    return datetime.fromtimestamp(t / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
	win = OrderedDict()
	for line in open("events.jsonl"):
	    e = json.loads(line)
	    t = ms(e["event_time"])
	    ws = (t - off) // slide * slide + off
	    while ws > t - size:
	        w = win.setdefault((e["user_id"], ws), [0, 0.0])
	        w[0] += 1
	        w[1] += e["amount"]	# in partition order: the user's clicks in order
	        ws -= slide
	want = {}
	for (user, ws), (n, spend) in win.items():
	    h = {"user_id": user, "window_start": fmt(ws), "window_end": fmt(ws + size),
	         "clicks": n, "spend": spend}
	    want["window:%s:%s" % (user, fmt(ws))] = h
	    k = "features:user:" + user
	    if k not in want or want[k]["window_start"] < h["window_start"]:
	        want[k] = h
	got = {}
	for line in open(sys.argv[1]):
	    k, _, v = line.rstrip("\n").partition(" ")
	    got[k] = json.loads(v)
	bad = 0
	for k in sorted(set(want) | set(got)):
	    w, g = want.get(k), got.get(k)
	    if w is None or g is None or any(str(w[f]) != g.get(f) for f in w if f != "spend") \
	            or float(g["spend"]) != w["spend"] or len(g) != len(w):
	        print("%s: want %s, got %s" % (k, w, g))
	        bad += 1
	print("%d keys, %d windows, %d wrong" % (len(got), len(win), bad))
	sys.exit(bad > 0)
	EOF
}

# join_run: copy a alone holds the four partitions and reads the first
# half; copy b joins, and each reads its two partitions again from their
# commits; the second half goes in; once both have read it all, both stop
# (SIGTERM to their sources) and exit 0. As WINDOW, DELAY, REPLAY and KEY2
# are set.
join_run() {
	GROUP=features
	copy a
	a=$PID
	wait_until assigned a 4
	run produce first.jsonl
	echo "$output"
	[ "$status" -eq 0 ]
	ends >ends1
	wait_until read_to a ends1
	copy b
	b=$PID
	wait_until assigned b 2
	wait_until assigned a 2
	run produce second.jsonl
	echo "$output"
	[ "$status" -eq 0 ]
	ends >ends2
	wait_until read_to_all ends2 a b
	kill -TERM "$(cat a.pid)" "$(cat b.pid)"
	bg_wait "$a"
	cat a.err
	[ "$STATUS" -eq 0 ]
	bg_wait "$b"
	cat b.err
	[ "$STATUS" -eq 0 ]
}

@test "scale-out: two copies in one group, one stopped mid-run: every feature equals one copy's and the brute force" {
	clicks

	# Two copies join; the clicks go in once the group has settled (two
	# partitions each), so no copy loses a partition it holds state of.
	GROUP=features
	copy a
	a=$PID
	copy b
	b=$PID
	wait_until assigned a 2
	wait_until assigned b 2
	run produce first.jsonl
	echo "$output"
	[ "$status" -eq 0 ]
	ends >ends1
	cat ends1
	wait_until read_all 2504 a b
	na=$(ktool show a.rtai 2>/dev/null | wc -l)
	nb=$(ktool show b.rtai 2>/dev/null | wc -l)
	echo "a read $na, b read $nb"
	[ $((na + nb)) -eq 2504 ]
	[ "$na" -gt 0 ] && [ "$nb" -gt 0 ]

	# Stop copy a as a user would: SIGTERM to its source. Its stream ends,
	# its open windows fire (partial), it commits the offsets --replay held
	# back and leaves the group; copy b takes its two partitions over.
	kill -TERM "$(cat a.pid)"
	bg_wait "$a"
	cat a.err
	[ "$STATUS" -eq 0 ]
	# a held messages back: windows were open when it stopped.
	held=$(sed -n 's/.*--replay: the commit holds back \([0-9]*\) messages.*/\1/p' a.err)
	echo "held back: $held of $na"
	[ "$held" -gt 0 ] && [ "$held" -lt "$na" ]
	wait_until assigned b 4
	# b reads a's partitions again from a's commit, up to where a stopped,
	# before the second half goes in.
	wait_until read_to b ends1
	run produce second.jsonl
	echo "$output"
	[ "$status" -eq 0 ]
	ends >ends2
	cat ends2
	wait_until read_to b ends2
	kill -TERM "$(cat b.pid)"
	bg_wait "$b"
	cat b.err
	[ "$STATUS" -eq 0 ]
	# What b read again is what a held back: from the first message of a's
	# oldest open window, [5 s, 10 s) (the watermark at the stop was 12.5 s
	# - 3 s), on, but for the messages of windows a had closed.
	ktool show a.rtai | jq -c '[.partition, .offset, .ts]' | sort >a.pos
	ktool show b.rtai | jq -c '[.partition, .offset, .ts]' | sort >b.pos
	comm -12 a.pos b.pos >both.pos
	echo "read by both: $(wc -l <both.pos)"
	run python3 -c '
import json, sys
base = 1795860000000
a = [json.loads(l) for l in open("a.pos")]
both = set(map(tuple, (json.loads(l) for l in open("both.pos"))))
skipped = 0
for p in sorted({x[0] for x in a}):
    first = min((o for q, o, t in a if q == p and t >= base + 5000), default=None)
    held = {(q, o, t) for q, o, t in a if q == p and first is not None and o >= first}
    want = {x for x in held if x[2] >= base + 5000}
    got = {x for x in both if x[0] == p}
    print(p, len(want), len(got), want == got)
    # Out of order by up to 0.5 s, some held messages belong to [0 s,
    # 5 s): a wrote that window whole, and b skips them, counted.
    skipped += len(held - want)
print("skipped", skipped)'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c ' True$')" -eq "$(grep -c . <(cut -d, -f1 a.pos | sort -u))" ]
	skipped=$(echo "$output" | sed -n 's/^skipped //p')
	[ $(($(wc -l <both.pos) + skipped)) -eq "$held" ]
	run grep -h 'late records' a.err
	[ "$status" -eq 1 ]
	# The group's default protocol is eager: as a left, b gave up its own
	# partitions too (its window dropped their open windows, a revoke frame
	# each) and got them back with a's, so it also read its own again from
	# its commit, and skipped what of them had closed.
	grep -q 'rtai-window: [0-9]* open windows\{0,1\} of [0-9]* revoked partitions\{0,1\} dropped unfired' b.err
	bskip=$(sed -n 's/.*; \([0-9]*\) messages read again skipped.*/\1/p' b.err)
	echo "skipped by b: $bskip, of a's partitions: $skipped"
	[ "$bskip" -ge "$skipped" ]
	features >two.txt

	# One copy alone, in a new group, over the whole topic. Its delay is
	# longer than the stream, so however librdkafka interleaves the
	# partitions' backlogs no record is late.
	for port in $CLUSTER_PORTS; do redis-cli -p "$port" flushall >/dev/null; done
	GROUP=alone DELAY=1h
	copy one -e
	bg_wait "$PID"
	cat one.err
	[ "$STATUS" -eq 0 ]
	run grep 'late records' one.err
	[ "$status" -eq 1 ]
	features >one.txt
	run diff one.txt two.txt
	echo "$output"
	[ "$status" -eq 0 ]

	# Each user is on one partition, the one murmur2 gives (kcat reads).
	kcat -C -b "$KAFKA_BROKERS" -t clicks -e -q -f '%k %p\n' | sort -u >user-part
	run sh -c "cut -d' ' -f1 user-part | uniq -d"
	echo "$output"
	[ -z "$output" ]
	while read -r k p; do
		[ "$(ktool partition "$k" 4)" = "$p" ] || { echo "$k on $p"; false; }
	done <user-part

	run brute two.txt
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "scale-out: a copy joins a running group: the copy that loses partitions drops their windows, and every feature equals the brute force" {
	clicks

	# Sliding windows of 4 s every 2 s: --replay 2s+5s (the slide, and the
	# size - the slide + the delay).
	WINDOW="--sliding 4s/2s" REPLAY=2s+5s
	# Copy b joins copy a (join_run). In the rebalance a gives its
	# partitions up (the eager protocol: all four), writes a revoke frame
	# for each, and its window drops their open windows unfired; each copy
	# then reads its two partitions again from the commit that --replay
	# held back to the first message of their oldest open window, [6 s,
	# 10 s) (a's watermark was 12.5 s - 3 s), and rebuilds those windows.
	join_run
	grep -q 'rtai-kafka: --replay: .*; [1-9][0-9]* partitions\{0,1\} revoked' a.err
	grep -q 'rtai-window: [1-9][0-9]* open windows\{0,1\} of [0-9]* revoked partitions\{0,1\} dropped unfired' a.err
	# b read a's old partitions from [6 s, 10 s) on, not from the start,
	# unless a's commit at the revoke failed (commit_failed).
	ktool show b.rtai | jq -r .ts | sort -n | head -1 >b.first
	echo "b's oldest message: $(cat b.first)"
	commit_failed a || [ "$(cat b.first)" -ge $((1795860000000 + 6000 - 500)) ]

	# Every feature equals the brute force. b started without a watermark:
	# without the horizon in the commit's metadata, the messages out of
	# order behind the commit would rewrite windows that a had closed, and
	# every record from 6 s on the windows that straddle 6 s ([4 s, 8 s)),
	# with part of their records: b's rtai-kafka skips the first, and its
	# rtai-window keeps the others out of those windows (the assign frame).
	grep -q 'rtai-kafka: --replay: .*; [1-9][0-9]* messages read again skipped' b.err
	features >two.txt
	run brute two.txt 4000 2000
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "scale-out: windows with --offset: a copy joins a running group: --replay with the slide added to the slack keeps every feature exact" {
	clicks

	# Sliding windows of 4 s every 2 s that start 1.8 s after an even
	# second: --replay 2s+7s, the slide and the size + the delay. The
	# horizon is aligned to the epoch, not to the windows, so the window
	# that straddles it starts up to a slide earlier than with no offset:
	# with the slack of windows without one (2s+5s), the horizon would be
	# 6 s, and [5.8 s, 9.8 s), still open in a (its watermark was 12.5 s -
	# 3 s), dropped at the revoke and kept out by the taking copies: lost.
	WINDOW="--sliding 4s/2s --offset 1800ms" REPLAY=2s+7s
	join_run
	grep -q 'rtai-window: [1-9][0-9]* open windows\{0,1\} of [0-9]* revoked partitions\{0,1\} dropped unfired' a.err
	features >two.txt
	run brute two.txt 4000 2000 1800
	echo "$output"
	[ "$status" -eq 0 ]
}

# brute_over FILE RANGE: every record's features dumped in FILE under
# event:{id} equal a brute force of --over RANGE ms in python3 from the
# clicks produced: the count and the sum of the amounts of its user's
# clicks in (t - RANGE, t].
brute_over() {
	python3 - "$1" "$2" <<-'EOF'
	import json, sys
	from datetime import datetime
	rng = int(sys.argv[2])
	def ms(s):
	    return round(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)
	ev = [json.loads(line) for line in open("events.jsonl")]
	by_user = {}
	for e in ev:
	    by_user.setdefault(e["user_id"], []).append((ms(e["event_time"]), e["amount"]))
	want = {}
	for e in ev:
	    t = ms(e["event_time"])
	    r = [a for u, a in by_user[e["user_id"]] if t - rng < u <= t]
	    want["event:" + e["id"]] = (len(r), sum(r))
	got = {}
	for line in open(sys.argv[1]):
	    k, _, v = line.rstrip("\n").partition(" ")
	    if k.startswith("event:"):
	        got[k] = json.loads(v)
	bad = 0
	for k in sorted(set(want) | set(got)):
	    w, g = want.get(k), got.get(k)
	    if w is None or g is None or int(g["clicks"]) != w[0] or abs(float(g["spend"]) - w[1]) > 1e-6:
	        print("%s: want %s, got %s" % (k, w, g))
	        bad += 1
	print("%d records, %d wrong" % (len(got), bad))
	sys.exit(bad > 0)
	EOF
}

@test "scale-out: --over: a copy joins a running group: every record's features equal the brute force, each written once or again the same" {
	clicks

	# Ranges of 3 s: --replay 3s+8s (any size, then the range + the delay).
	# A record behind the watermark is late for a range (for a window,
	# only once the window closed): the delay covers the 2 s from the last
	# click of the first half to the fences at 12.5 s, which may come in
	# before the last clicks of another partition.
	WINDOW="--over 3s" DELAY=5s REPLAY=3s+8s KEY2='event:{id}'
	# One broker leads every partition: one fetch takes a backlog from all
	# of a copy's partitions, 4 kB of each, and they keep within the delay
	# of each other in event time (the watermark is one for all: rtai(7)).
	for p in 0 1 2 3; do kafka_cmd leader clicks $p 1; done
	# Copy b joins. a gives its four partitions up (eager): a revoke frame
	# each, on which its window drops their records still waiting and
	# their ranges; each copy then reads its two partitions again from the
	# commit, held back to the horizon H (a's newest time, 12.5 s, - 8 s,
	# to a 3 s boundary: 3 s). A record whose range reaches before H only
	# rebuilds its user's range (a emitted it); every other is emitted.
	# With nothing left, a's watermark starts afresh: the partitions read
	# again are not late against 12.5 s. (The group may rebalance twice as
	# b joins: a gives up its two again, and reads them again.)
	join_run
	grep -q 'rtai-window: [1-9][0-9]* waiting records\{0,1\} of [1-9][0-9]* revoked partitions\{0,1\} dropped unemitted' a.err
	run grep -h 'late record' a.err b.err
	[ "$status" -eq 1 ]
	# b read a's old partitions from H on, not from the start, unless a's
	# commit at the revoke failed (commit_failed).
	ktool show b.rtai | jq -r .ts | sort -n | head -1 >b.first
	echo "b's oldest message: $(cat b.first)"
	commit_failed a || [ "$(cat b.first)" -ge $((1795860000000 + 3000 - 500)) ]

	features >two.txt
	run brute_over two.txt 3000
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | tail -1)" = "5004 records, 0 wrong" ]
}
