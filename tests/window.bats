#!/usr/bin/env bats
# rtai-window: windows, watermarks, lateness, sessions, update mode, idle
# advance, processing time; every expected output below is worked out by
# hand from the rules in rtai-window(1).

load common

# ---- tumbling windows, order, times of results --------------------------------

@test "window: tumbling counts and sums per key; end of input fires the rest" {
	mkstream in.rtai <<-'EOF'
	10 {"u":"a","x":1}
	20 {"u":"b","x":2}
	30 {"u":"a","x":4}
	70 {"u":"a","x":3}
	EOF
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m -a count -a sum:x <in.rtai | show'
	echo "$output"
	assert_success
	# W = 70 after the 4th record fires [0,60); [60,120) fires at the end.
	assert_output - <<-'EOF'
	{"u":"a","window_start":0,"window_end":60,"count":2,"sum_x":5}
	{"u":"b","window_start":0,"window_end":60,"count":1,"sum_x":2}
	{"u":"a","window_start":60,"window_end":120,"count":1,"sum_x":3}
	EOF
}

@test "window: a result's event time is its end - 1ns, its ingest time the latest of its records" {
	mkstream in.rtai <<-'EOF'
	50 {"u":"a"}
	10 {"u":"a"}
	EOF
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m --delay 1m <in.rtai | show -t'
	echo "$output"
	assert_success
	assert_output '{"u":"a","window_start":0,"window_end":60,"count":2} event=59999999999 ingest=2'
}

@test "window: end of input fires in order of window end, then key" {
	mkstream in.rtai <<-'EOF'
	70 {"u":"c"}
	10 {"u":"b"}
	75 {"u":"a"}
	5 {"u":"a"}
	65 {"u":"b"}
	EOF
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m --delay 1h <in.rtai | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"u":"a","window_start":0,"window_end":60,"count":1}
	{"u":"b","window_start":0,"window_end":60,"count":1}
	{"u":"a","window_start":60,"window_end":120,"count":1}
	{"u":"b","window_start":60,"window_end":120,"count":1}
	{"u":"c","window_start":60,"window_end":120,"count":1}
	EOF
}

@test "window: several key fields; keys of different types; no key at all" {
	mkstream in.rtai <<-'EOF'
	1 {"u":"a","n":2,"x":1}
	2 {"u":"a","n":1,"x":1}
	3 {"u":"a","n":2,"x":1}
	4 {"u":"a","n":2.5,"x":1}
	EOF
	run bash -o pipefail -c 'rtai-window -k u,n --tumbling 1m <in.rtai | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"u":"a","n":1,"window_start":0,"window_end":60,"count":1}
	{"u":"a","n":2,"window_start":0,"window_end":60,"count":2}
	{"u":"a","n":2.5,"window_start":0,"window_end":60,"count":1}
	EOF
	run bash -o pipefail -c 'rtai-window --tumbling 1m -a sum:x <in.rtai | show'
	echo "$output"
	assert_output '{"window_start":0,"window_end":60,"sum_x":4}'
}

@test "window: negative event times use floor division" {
	mkstream in.rtai <<-'EOF'
	-30 {"u":"a"}
	-60 {"u":"a"}
	-61 {"u":"a"}
	-0.000000001 {"u":"a"}
	0 {"u":"a"}
	EOF
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m --delay 1h <in.rtai | show'
	echo "$output"
	assert_success
	# -61 s is in [-120, -60); -60 s, -30 s and -1 ns in [-60, 0); 0 in [0, 60).
	assert_output - <<-'EOF'
	{"u":"a","window_start":-120,"window_end":-60,"count":1}
	{"u":"a","window_start":-60,"window_end":0,"count":3}
	{"u":"a","window_start":0,"window_end":60,"count":1}
	EOF
}

@test "window: --offset shifts the alignment" {
	mkstream in.rtai <<-'EOF'
	10 {"u":"a"}
	20 {"u":"a"}
	-50 {"u":"a"}
	EOF
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m --offset 15s --delay 1h <in.rtai | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"u":"a","window_start":-105,"window_end":-45,"count":1}
	{"u":"a","window_start":-45,"window_end":15,"count":1}
	{"u":"a","window_start":15,"window_end":75,"count":1}
	EOF
	# an offset of a whole window changes nothing
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m --offset 2m --delay 1h <in.rtai | show'
	assert_output --partial '{"u":"a","window_start":0,"window_end":60,"count":2}'
}

@test "window: 1w weeks start on Thursdays (the epoch's weekday); --offset 4d gives ISO weeks" {
	# 2026-11-25, a Wednesday, 12:00 UTC, in seconds since the epoch
	t=$(python3 -c 'import datetime as d; print(int(d.datetime(2026,11,25,12,tzinfo=d.timezone.utc).timestamp()))')
	echo "$t {\"u\":\"a\"}" | mkstream in.rtai
	for case in ":3:2026-11-19" "--offset 4d:0:2026-11-23"; do
		opt=${case%%:*} rest=${case#*:} wd=${rest%%:*} day=${rest#*:}
		run bash -o pipefail -c "rtai-window --tumbling 1w $opt <in.rtai | show"
		echo "$opt: $output"
		assert_success
		# python3: the window's start, weekday (Monday 0) and date
		run python3 -c 'import datetime as d, json, sys
s = d.datetime.fromtimestamp(json.loads(sys.argv[1])["window_start"], d.timezone.utc)
print(s.weekday(), s.date(), s.time())' "$output"
		echo "$output"
		assert_output "$wd $day 00:00:00"
	done
}

@test "window: an aggregate's field that never occurs is named at the end (a typo)" {
	run bash -o pipefail -c "rtai-cat $RTAI_SRC/tests/data/clicks.jsonl | rtai-parse -t event_time \
		| rtai-window -k user_id --tumbling 1h -a sum:amout -a count:amount 2>err | show >out.txt"
	assert_success
	run head -1 out.txt
	echo "$output"
	assert_output '{"user_id":"u1","window_start":1795514400,"window_end":1795518000,"sum_amout":null,"count_amount":7}'
	run cat err
	echo "$output"
	assert_output 'rtai-window: field "amout" of -a sum:amout never occurred in 20 records (misspelt?)'
	run bash -o pipefail -c "rtai-cat $RTAI_SRC/tests/data/clicks.jsonl | rtai-parse -t event_time \
		| rtai-window -k user_id --over 1h -a sum:amout -a max:amount 2>&1 >/dev/null"
	echo "$output"
	assert_output 'rtai-window: field "amout" of -a sum:amout never occurred in 20 records (misspelt?)'
}

# ---- watermark, delay, lateness ---------------------------------------------------

@test "window: out-of-order records within --delay are counted" {
	mkstream in.rtai <<-'EOF'
	10 {"u":"a","x":1}
	70 {"u":"a","x":2}
	30 {"u":"a","x":4}
	125 {"u":"a","x":8}
	50 {"u":"a","x":16}
	EOF
	# delay 1m: W = 10-60, 70-60 = 10, 10, 125-60 = 65 (fires [0,60)), 65.
	# The record at 50 then arrives after [0,60) fired: it is late.
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m --delay 1m -a sum:x -v <in.rtai 2>err | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"u":"a","window_start":0,"window_end":60,"sum_x":5}
	{"u":"a","window_start":60,"window_end":120,"sum_x":2}
	{"u":"a","window_start":120,"window_end":180,"sum_x":8}
	EOF
	run cat err
	echo "$output"
	assert_output --partial "rtai-window: 5 records, 1 late (dropped), 3 windows fired"
}

@test "window: late records without lateness are dropped and counted, or kept with --late" {
	mkstream in.rtai <<-'EOF'
	10 {"u":"a","x":1}
	70 {"u":"a","x":2}
	20 {"u":"a","x":3}
	59.999999999 {"u":"b","x":4}
	60 {"u":"b","x":5}
	EOF
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m -a sum:x <in.rtai 2>err | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"u":"a","window_start":0,"window_end":60,"sum_x":1}
	{"u":"a","window_start":60,"window_end":120,"sum_x":2}
	{"u":"b","window_start":60,"window_end":120,"sum_x":5}
	EOF
	run cat err
	assert_output "rtai-window: 2 late records dropped (keep them with --late FILE; accept them with --delay or --lateness)"
	# one late record: singular
	printf '%s\n' '70 {"u":"a"}' '10 {"u":"a"}' | mkstream one.rtai
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m <one.rtai 2>&1 >/dev/null'
	assert_output "rtai-window: 1 late record dropped (keep them with --late FILE; accept them with --delay or --lateness)"
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m -a sum:x --late late.rtai <in.rtai >/dev/null'
	echo "$output"
	assert_success
	assert_output ''
	run bash -o pipefail -c 'show -t <late.rtai'
	echo "$output"
	assert_output - <<-'EOF'
	{"u":"a","x":3} event=20000000000 ingest=3
	{"u":"b","x":4} event=59999999999 ingest=4
	EOF
}

@test "window: with --lateness a late record fires its window again, until end + lateness" {
	mkstream in.rtai <<-'EOF'
	10 {"u":"a"}
	70 {"u":"a"}
	20 {"u":"a"}
	100 {"u":"a"}
	30 {"u":"a"}
	130 {"u":"a"}
	EOF
	# W: 10, 70 (fires [0,60) count 1), 70 (20 is accepted: fires again with
	# 2), 100 (drops [0,60): 60 + 40 <= 100), 100 (30 is late), 130 (fires
	# [60,120) with 2); the end fires [120,180).
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m --lateness 40s -v <in.rtai 2>err | show -t'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"u":"a","window_start":0,"window_end":60,"count":1} event=59999999999 ingest=1
	{"u":"a","window_start":0,"window_end":60,"count":2} event=59999999999 ingest=3
	{"u":"a","window_start":60,"window_end":120,"count":2} event=119999999999 ingest=4
	{"u":"a","window_start":120,"window_end":180,"count":1} event=179999999999 ingest=6
	EOF
	run cat err
	assert_output --partial "6 records, 1 late (dropped), 3 windows fired, 1 fired again"
}

@test "window: a late record into a window never seen before fires it at once" {
	mkstream in.rtai <<-'EOF'
	130 {"u":"a"}
	20 {"u":"b"}
	EOF
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m --lateness 2m <in.rtai | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"u":"b","window_start":0,"window_end":60,"count":1}
	{"u":"a","window_start":120,"window_end":180,"count":1}
	EOF
}

@test "window: watermark frames go downstream, and an incoming one moves the watermark" {
	mkstream in.rtai <<-'EOF'
	10 {"u":"a"}
	wm:120
	20 {"u":"a"}
	130 {"u":"a"}
	EOF
	# The watermark 120 fires [0,60); the record at 20 is then late.
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m -v <in.rtai 2>err | show -w'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"u":"a","window_start":0,"window_end":60,"count":1}
	wm 130
	{"u":"a","window_start":120,"window_end":180,"count":1}
	EOF
	run cat err
	assert_output --partial "3 records, 1 late (dropped)"
}

@test "window: a cascaded second window sums the results of the first" {
	mkstream in.rtai <<-'EOF'
	5 {"u":"a"}
	15 {"u":"a"}
	16 {"u":"a"}
	30 {"u":"b"}
	65 {"u":"a"}
	61 {"u":"b"}
	EOF
	# First: 10s windows a[0,10)=1 a[10,20)=2 b[30,40)=1 a[60,70)=1, and
	# b[60,70)=1 (61 arrives at W = 65, before [60,70) ends).
	# Their event times 9.99.., 19.99.., 39.99.., 69.99.. put them in the
	# second's minute windows: a[0,60)=3 b[0,60)=1 a[60,120)=1 b[60,120)=1.
	run bash -o pipefail -c 'rtai-window -k u --tumbling 10s <in.rtai |
		rtai-window -k u --tumbling 1m -a n=sum:count -a windows=count | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"u":"a","window_start":0,"window_end":60,"n":3,"windows":2}
	{"u":"b","window_start":0,"window_end":60,"n":1,"windows":1}
	{"u":"a","window_start":60,"window_end":120,"n":1,"windows":1}
	{"u":"b","window_start":60,"window_end":120,"n":1,"windows":1}
	EOF
}

@test "window: in a cascade the first's watermark follows the results it fired" {
	mkstream in.rtai <<-'EOF'
	5 {"u":"a"}
	125 {"u":"a"}
	EOF
	rtai-window -k u --tumbling 10s <in.rtai >mid.rtai
	run bash -o pipefail -c 'show -w <mid.rtai'
	echo "$output"
	assert_output - <<-'EOF'
	{"u":"a","window_start":0,"window_end":10,"count":1}
	wm 125
	{"u":"a","window_start":120,"window_end":130,"count":1}
	EOF
	# The second fires [0,60) on that watermark, before the next result.
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m <mid.rtai | show -w'
	echo "$output"
	assert_output - <<-'EOF'
	{"u":"a","window_start":0,"window_end":60,"count":1}
	wm 129.999999999
	{"u":"a","window_start":120,"window_end":180,"count":1}
	EOF
}

# ---- sliding and session windows ------------------------------------------------

@test "window: sliding windows hold each record in every window that covers it" {
	mkstream in.rtai <<-'EOF'
	10 {"u":"a"}
	25 {"u":"a"}
	50 {"u":"a"}
	EOF
	# 30s/10s: 10 is in [-10,20) [0,30) [10,40); 25 in [0,30) [10,40) [20,50);
	# 50 in [30,60) [40,70) [50,80). W = 50 fires those ending by 50.
	run bash -o pipefail -c 'rtai-window -k u --sliding 30s/10s <in.rtai | show -t'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"u":"a","window_start":-10,"window_end":20,"count":1} event=19999999999 ingest=1
	{"u":"a","window_start":0,"window_end":30,"count":2} event=29999999999 ingest=2
	{"u":"a","window_start":10,"window_end":40,"count":2} event=39999999999 ingest=2
	{"u":"a","window_start":20,"window_end":50,"count":1} event=49999999999 ingest=2
	{"u":"a","window_start":30,"window_end":60,"count":1} event=59999999999 ingest=3
	{"u":"a","window_start":40,"window_end":70,"count":1} event=69999999999 ingest=3
	{"u":"a","window_start":50,"window_end":80,"count":1} event=79999999999 ingest=3
	EOF
}

@test "window: sliding: a record late for some of its windows still counts in the others" {
	mkstream in.rtai <<-'EOF'
	45 {"u":"a"}
	25 {"u":"a"}
	EOF
	# W = 45: [0,30) [10,40) have fired; 25 goes into [20,50) only.
	run bash -o pipefail -c 'rtai-window -k u --sliding 30s/10s -v <in.rtai 2>err | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"u":"a","window_start":20,"window_end":50,"count":2}
	{"u":"a","window_start":30,"window_end":60,"count":1}
	{"u":"a","window_start":40,"window_end":70,"count":1}
	EOF
	run cat err
	assert_output --partial "2 records, 0 late, 1 late for some windows"
}

@test "window: sliding with a size that is not a multiple of the slide" {
	mkstream in.rtai <<-'EOF'
	12 {"u":"a"}
	EOF
	# 25s/10s: s in {-10, 0, 10} with s <= 12 < s + 25.
	run bash -o pipefail -c 'rtai-window --sliding 25s/10s <in.rtai | show'
	echo "$output"
	assert_output - <<-'EOF'
	{"window_start":-10,"window_end":15,"count":1}
	{"window_start":0,"window_end":25,"count":1}
	{"window_start":10,"window_end":35,"count":1}
	EOF
}

@test "window: sessions grow, merge when a record bridges two, and stay per key" {
	mkstream in.rtai <<-'EOF'
	0 {"u":"a","x":1}
	18 {"u":"a","x":2}
	9 {"u":"a","x":3}
	40 {"u":"a","x":4}
	41 {"u":"b","x":5}
	50 {"u":"a","x":6}
	EOF
	# gap 10s: a[0,10) and a[18,28); 9 opens [9,19), which touches both:
	# one session [0,28) of 3 records. 40 opens [40,50); 50 touches it at
	# 50, making [40,60). b is separate.
	run bash -o pipefail -c 'rtai-window -k u --session 10s --delay 1m -a count -a first:x -a last:x <in.rtai | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"u":"a","window_start":0,"window_end":28,"count":3,"first_x":1,"last_x":2}
	{"u":"b","window_start":41,"window_end":51,"count":1,"first_x":5,"last_x":5}
	{"u":"a","window_start":40,"window_end":60,"count":2,"first_x":4,"last_x":6}
	EOF
}

@test "window: sessions fire on the watermark; a record is late when its session is" {
	mkstream in.rtai <<-'EOF'
	0 {"u":"a"}
	5 {"u":"a"}
	30 {"u":"a"}
	12 {"u":"a"}
	3 {"u":"b"}
	EOF
	# W = 30 fires a[0,15) and drops it. 12 opens [12,22), which ends
	# before W: late. b's [3,13) is late too.
	run bash -o pipefail -c 'rtai-window -k u --session 10s -v <in.rtai 2>err | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"u":"a","window_start":0,"window_end":15,"count":2}
	{"u":"a","window_start":30,"window_end":40,"count":1}
	EOF
	run cat err
	assert_output --partial "5 records, 2 late (dropped)"
}

@test "window: a record that would reach a session already written is late: sessions never overlap" {
	mkstream in.rtai <<-'EOF'
	0 {"u":"a","x":1}
	12 {"u":"a","x":2}
	5 {"u":"a","x":3}
	40 {"u":"a","x":4}
	EOF
	# gap 10s, lateness 0: W = 12 fires a[0,10) and drops it. 5 would open
	# [5,15), which ends after W, but it touches [0,10), already written:
	# late, else a[0,10) and a[5,22) would both be written.
	run bash -o pipefail -c 'rtai-window -k u --session 10s --late late.rtai -v -a count -a sum:x <in.rtai 2>err | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"u":"a","window_start":0,"window_end":10,"count":1,"sum_x":1}
	{"u":"a","window_start":12,"window_end":22,"count":1,"sum_x":2}
	{"u":"a","window_start":40,"window_end":50,"count":1,"sum_x":4}
	EOF
	run cat err
	echo "$output"
	assert_output --partial "4 records, 1 late (to late.rtai)"
	run bash -o pipefail -c 'show <late.rtai'
	assert_output '{"u":"a","x":3}'
}

@test "window: random session streams against a python3 brute force (no overlap, exact sessions)" {
	# tests/sessioncheck.py: per trial, sessions of one key never overlap or
	# touch, they are the sessionization of the records not late, and the
	# late records are those a simple list model finds.
	run python3 "$RTAI_SRC/tests/sessioncheck.py" 200 13
	echo "$output" | cut -c1-2000
	assert_success
	assert_output "ok 200"
}

# ---- update mode --------------------------------------------------------------------

@test "window: --emit update emits the current result on every change, and nothing at firing" {
	mkstream in.rtai <<-'EOF'
	10 {"u":"a","x":1}
	20 {"u":"a","x":2}
	70 {"u":"a","x":4}
	30 {"u":"a","x":8}
	EOF
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m --emit update -a sum:x -v <in.rtai 2>err | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"u":"a","window_start":0,"window_end":60,"sum_x":1}
	{"u":"a","window_start":0,"window_end":60,"sum_x":3}
	{"u":"a","window_start":60,"window_end":120,"sum_x":4}
	EOF
	run cat err
	assert_output --partial "4 records, 1 late (dropped), 0 windows fired, 3 updates"
	# with lateness, a late record updates the fired window again
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m --emit update --lateness 1m -a sum:x <in.rtai | show'
	assert_line --index 3 '{"u":"a","window_start":0,"window_end":60,"sum_x":11}'
}

# ---- the clock: idle advance and processing time -------------------------------------

@test "window: --idle advances the watermark with the wall clock on a quiet input" {
	mkstream a.rtai <<-'EOF'
	0.1 {"u":"a"}
	0.5 {"u":"a"}
	EOF
	mkstream b.rtai <<-'EOF'
	0.7 {"u":"a"}
	100 {"u":"a"}
	EOF
	# After 100ms without input W grows with the clock from 0.5s: [0,1)
	# fires while the input is still open. Then 0.7 is late, and [100,101)
	# is far ahead of W.
	mkfifo in
	rtai-window -k u --tumbling 1s --idle 100ms -v <in >out.rtai 2>err 3>&- &
	pid=$!
	exec 8>in
	cat a.rtai >&8
	for _ in $(seq 1 600); do
		show <out.rtai 2>/dev/null | grep -q '"window_end":1,' && break
		sleep 0.05
	done
	# the window is still running: its stream has no end yet (show says
	# so on stderr)
	run bash -c 'show <out.rtai 2>/dev/null'
	echo "$output"
	assert_output '{"u":"a","window_start":0,"window_end":1,"count":2}'
	cat b.rtai >&8
	exec 8>&-
	wait $pid
	run show <out.rtai
	echo "$output"
	assert_output - <<-'EOF'
	{"u":"a","window_start":0,"window_end":1,"count":2}
	{"u":"a","window_start":100,"window_end":101,"count":1}
	EOF
	run cat err
	assert_output --partial "4 records, 1 late (dropped)"
	# without --idle the quiet time changes nothing
	run bash -o pipefail -c '{ cat a.rtai; sleep 0.3; cat b.rtai; } | rtai-window -k u --tumbling 1s | show'
	echo "$output"
	assert_output - <<-'EOF'
	{"u":"a","window_start":0,"window_end":1,"count":3}
	{"u":"a","window_start":100,"window_end":101,"count":1}
	EOF
}

@test "window: --time processing windows by the wall clock and fires on it" {
	mkstream a.rtai <<-'EOF'
	- {"u":"a"}
	- {"u":"a"}
	- {"u":"a"}
	EOF
	mkstream b.rtai <<-'EOF'
	- {"u":"a"}
	EOF
	start=$(date +%s%N)
	run bash -o pipefail -c '{ cat a.rtai; sleep 0.5; cat b.rtai; } |
		rtai-window -k u --time processing --tumbling 100ms | show -t'
	echo "$output"
	end=$(date +%s%N)
	assert_success
	# Not deterministic: check the invariants. 4 records in all, in at least
	# two windows (half a second apart), each 100ms wide and aligned, within
	# the time the command ran.
	python3 -c '
import json, sys
start, end = int(sys.argv[1]), int(sys.argv[2])
rows = [json.loads(l.split(" event=")[0]) for l in sys.stdin if l.strip()]
assert len(rows) >= 2, rows
assert sum(r["count"] for r in rows) == 4, rows
for r in rows:
    s, e = round(r["window_start"] * 1e9), round(r["window_end"] * 1e9)
    assert e - s == 100000000 and s % 100000000 == 0, r
    assert start - 100000000 <= s <= end, (start, s, end)
' "$start" "$end" <<<"$output"
}

# ---- aggregates through the tool -------------------------------------------------

@test "window: every aggregate, with hand-computed values" {
	mkstream in.rtai <<-'EOF'
	30 {"u":"a","x":4,"item":"i1"}
	10 {"u":"a","x":2,"item":"i2"}
	20 {"u":"a","x":9,"item":"i1"}
	40 {"u":"a","x":null,"item":"i3"}
	50 {"u":"a","x":2.5,"item":"i2"}
	EOF
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m -a count -a n=count:x -a sum:x -a avg:x \
		-a min:x -a max:x -a first:item -a last:item -a distinct:item -a stddev:x <in.rtai | show'
	echo "$output"
	assert_success
	# x = 4 2 9 2.5 (null skipped): sum 17.5, avg 4.375, sample variance
	# (0.140625 + 5.640625 + 21.390625 + 3.515625) / 3; items by time
	# i2 i1 i1 i3 i2.
	python3 -c '
import json, math, sys
r = json.loads(sys.stdin.read())
assert r["count"] == 5 and r["n"] == 4, r
assert r["sum_x"] == 17.5 and r["avg_x"] == 4.375, r
assert r["min_x"] == 2 and r["max_x"] == 9, r
assert r["first_item"] == "i2" and r["last_item"] == "i2", r
assert r["distinct_item"] == 3, r
assert abs(r["stddev_x"] - math.sqrt(30.6875 / 3)) < 1e-12, r
' <<<"$output"
}

@test "window: percentiles are within 1% of the exact value" {
	python3 -c 'for i in range(1, 1001): print("%d {\"u\":\"a\",\"x\":%d}" % (i % 60, i))' >in.txt
	mkstream in.rtai <in.txt
	run bash -o pipefail -c 'rtai-window --tumbling 1m -a p50:x -a p90:x -a p95:x -a p99:x -a mid=p50:x <in.rtai | show'
	echo "$output"
	assert_success
	# exact: the value of rank floor(q * 999) in 1..1000
	python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
for name, q in (("p50_x", .5), ("p90_x", .9), ("p95_x", .95), ("p99_x", .99), ("mid", .5)):
    exact = int(q * 999) + 1
    assert abs(r[name] - exact) <= 0.01 * exact, (name, r[name], exact)
' <<<"$output"
}

@test "window: an empty aggregate is null; ints stay ints" {
	mkstream in.rtai <<-'EOF'
	1 {"u":"a","x":null}
	2 {"u":"b","x":3}
	EOF
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m -a sum:x -a max:x -a stddev:x -a distinct:x <in.rtai | show'
	echo "$output"
	assert_output - <<-'EOF'
	{"u":"a","window_start":0,"window_end":60,"sum_x":null,"max_x":null,"stddev_x":null,"distinct_x":0}
	{"u":"b","window_start":0,"window_end":60,"sum_x":3,"max_x":3,"stddev_x":null,"distinct_x":1}
	EOF
}

@test "window: a sum's type and value do not depend on the order of arrival, in every kind of window (python3 exact sums)" {
	# Issue #13: ints max, min, 1 gave 0 but max, 1, min gave 0.0. Every
	# order of each triple, through tumbling, sliding, session and --over:
	# an int when all are ints and the exact sum fits in 64 bits, else the
	# float nearest the exact sum.
	# One key per order, so each kind of window runs once; keys in turn.
	cat >check.py <<-'PY'
	import itertools, json, subprocess, sys
	from fractions import Fraction as F
	triples = [(2**63 - 1, -2**63, 1), (2**63 - 1, 1, -1), (-2**63, -1, 1), (2**63 - 1, 1, 1),
	           (2**63 - 1, 1, 1.5), (3, 4, 0.5)]
	want, lines = {}, []
	for tr in triples:
	    exact = sum(F(x) for x in tr)
	    ints = all(type(x) is int for x in tr) and -2**63 <= exact < 2**63
	    for perm in itertools.permutations(tr):
	        k = "k%d" % len(want)
	        want[k] = (perm, exact, ints)
	        t = 10 * len(want)    # each key's own 3 s, all in one minute
	        lines += ["%d %s" % (t + i + 1, json.dumps({"k": k, "v": v})) for i, v in enumerate(perm)]
	subprocess.run(["bash", "-c", "mkstream in.rtai"], input="\n".join(lines) + "\n", text=True, check=True)
	bad = n = 0
	for kind, opt in [("tumbling", "--tumbling 1m"), ("sliding", "--sliding 1m/30s"),
	                  ("session", "--session 1m"), ("over", "--over 10s")]:
	    out = subprocess.run(["bash", "-o", "pipefail", "-c", "rtai-window -k k %s -a sum:v <in.rtai | show" % opt],
	                         capture_output=True, text=True)
	    if out.returncode != 0 or out.stderr:
	        bad += 1
	        print(kind, "status", out.returncode, out.stderr)
	    got = {}
	    for line in out.stdout.splitlines():
	        r = json.loads(line)
	        got[r["k"]] = r["sum_v"]   # a key's last result holds all three
	    for k, (perm, exact, ints) in want.items():
	        g = got.get(k)
	        ok = (type(g) is int and g == exact) if ints else (type(g) is float and g == float(exact))
	        n += 1
	        if not ok:
	            bad += 1
	            print(kind, perm, "got", repr(g), "want", exact, "as int" if ints else "as float")
	print(n, "sums,", bad, "wrong")
	sys.exit(bad > 0)
	PY
	run python3 check.py
	echo "$output"
	assert_success
	assert_output '144 sums, 0 wrong'
}

# ---- real input: JSON through rtai-cat and rtai-parse ---------------------------

@test "window: a raw JSON clickstream through rtai-cat and rtai-parse" {
	sample_clicks >clicks.jsonl
	run bash -o pipefail -c 'rtai-cat clicks.jsonl | rtai-parse -t event_time |
		rtai-window -k user_id --tumbling 1m -a count -a sum:amount | rtai-cat -p | head -3'
	echo "$output"
	assert_success
	assert_line --index 0 --regexp '^\{"user_id":"u[0-9]+","window_start":"2026-11-24T10:00:00.000Z","window_end":"2026-11-24T10:01:00.000Z","count":[0-9]+,"sum_amount":[0-9.]+\}$'
	# the counts add up to the number of records
	total=$(rtai-cat clicks.jsonl | rtai-parse -t event_time | rtai-window -k user_id --tumbling 1h |
		rtai-cat -p | python3 -c 'import json,sys; print(sum(json.loads(l)["count"] for l in sys.stdin))')
	[ "$total" -eq "$(wc -l <clicks.jsonl)" ]
}

# ---- other frames ----------------------------------------------------------------------

@test "window: latency markers and unknown frames pass through; barriers too" {
	python3 - "$RTAI_SRC" <<-'PY' >in.rtai
	import sys, struct
	sys.path.insert(0, sys.argv[1] + "/contrib/python")
	import rtai_stream as rs
	w = rs.Writer()
	w.write_record({"u": "a"}, ingest_ns=1, event_ns=10**9)
	w.put(rs.MARKER, rs.ENC_NONE, b"", 5, None)
	w.put(rs.BARRIER, rs.ENC_NONE, b"b1", 6, None)
	w.put(77, 0, b"xyz", 7, None)
	w.close()
	PY
	run bash -o pipefail -c 'rtai-window --tumbling 1m <in.rtai | rtai-cat -p --meta'
	echo "$output"
	assert_success
	assert_line --index 0 --partial '"_kind":"marker"'
	assert_line --index 0 --partial '"stage":"rtai-window"'
	assert_line --index 1 --partial '"_kind":"barrier"'
	assert_line --index 2 --partial '"_kind_code":77'
	assert_line --index 3 --partial '"_kind":"watermark"'
	assert_line --index 3 --partial '"_event_time":"1970-01-01T00:00:01.000Z"'
	assert_line --index 4 --partial '"window_start":"1970-01-01T00:00:00.000Z"'
}

# ---- errors ------------------------------------------------------------------------------

@test "window: a record without event time is an error in event time" {
	mkstream in.rtai <<-'EOF'
	1 {"u":"a"}
	- {"u":"a"}
	EOF
	run rtai-window -k u --tumbling 1m in.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial "rtai-window: in.rtai: record 2: no event time (set it with rtai-parse -t FIELD, or window by arrival with --time processing)"
}

@test "window: a wrong-typed aggregate field names the record and the field" {
	mkstream in.rtai <<-'EOF'
	1 {"u":"a","amount":1}
	2 {"u":"a","amount":"12.50"}
	EOF
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m -a sum:amount <in.rtai >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output 'rtai-window: stdin: record 2: field "amount": expected number, got string'
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m -a max:u <in.rtai >/dev/null'
	assert_failure 1
	assert_output 'rtai-window: stdin: record 1: field "u": expected number or time, got string'
}

@test "window: a missing key field is an error" {
	mkstream in.rtai <<-'EOF'
	1 {"u":"a"}
	2 {"user":"a"}
	EOF
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m <in.rtai >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output 'rtai-window: stdin: record 2: field "u": missing (a key field)'
}

@test "window: raw text and non-stream input are errors with a hint" {
	run bash -o pipefail -c 'echo hello | rtai-cat | rtai-window --tumbling 1m >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output --partial "rtai-window: stdin: record 1: invalid JSON"
	assert_output --partial "(parse raw lines with rtai-parse first)"
	run bash -o pipefail -c 'echo "{\"u\":1}" | rtai-window --tumbling 1m >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output --partial "stdin is not an rtai stream; pipe text through rtai-cat first"
	mkstream in.rtai <<-'EOF'
	1 {"u":"a"}
	EOF
	head -c 20 in.rtai >cut.rtai
	run rtai-window --tumbling 1m cut.rtai
	assert_failure 4
	assert_output --partial "cut.rtai: byte 8: the stream was cut inside a frame"
	run rtai-window --tumbling 1m nosuch.rtai
	assert_failure 1
	assert_output --partial "rtai-window: nosuch.rtai: No such file or directory"
}

@test "window: --max-keys has a default, and 0 lifts it" {
	run rtai-window --help
	assert_output --partial "(default 10000000; 0: no limit)"
	mkstream in.rtai <<-'EOF'
	1 {"u":"a"}
	2 {"u":"b"}
	3 {"u":"c"}
	EOF
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m --max-keys 0 <in.rtai | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"u":"a","window_start":0,"window_end":60,"count":1}
	{"u":"b","window_start":0,"window_end":60,"count":1}
	{"u":"c","window_start":0,"window_end":60,"count":1}
	EOF
}

@test "window: --max-keys turns too many keys into a clear error" {
	mkstream in.rtai <<-'EOF'
	1 {"u":"a"}
	2 {"u":"b"}
	70 {"u":"a"}
	71 {"u":"c"}
	EOF
	# [0,60) of a and b fires at W = 70, freeing b: a and c fit in 2.
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m --max-keys 2 <in.rtai | show'
	echo "$output"
	assert_success
	assert_line --index 3 '{"u":"c","window_start":60,"window_end":120,"count":1}'
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m --delay 1h --max-keys 2 <in.rtai >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output "rtai-window: stdin: record 4: more than 2 keys with open windows (--max-keys 2)"
}

@test "window: SIGTERM drains: the input is read to its end, windows fire, the summary prints, exit 0" {
	mkstream in.rtai <<-'EOF'
	10 {"u":"a"}
	70 {"u":"a"}
	EOF
	mkfifo in
	rtai-window -k u --tumbling 1m -v <in >out.rtai 2>err 3>&- &
	pid=$!
	exec 8>in
	cat in.rtai >&8
	for _ in $(seq 1 600); do
		show <out.rtai 2>/dev/null | grep -q '"window_end":60,' && break
		sleep 0.05
	done
	kill -TERM $pid
	# A stage drains (rtai(7), SIGNALS): it reads on until its input ends.
	sleep 0.2
	kill -0 $pid
	exec 8>&-
	st=0
	wait $pid || st=$?
	echo "exit status $st"
	[ "$st" -eq 0 ]
	run show <out.rtai
	echo "$output"
	assert_output - <<-'EOF'
	{"u":"a","window_start":0,"window_end":60,"count":1}
	{"u":"a","window_start":60,"window_end":120,"count":1}
	EOF
	run cat err
	assert_output --partial "rtai-window: 2 records, 0 late, 2 windows fired"
}

@test "window: bad options are usage errors" {
	run rtai-window -k u
	assert_failure 2
	assert_output --partial "give a window: --tumbling SIZE, --sliding SIZE/SLIDE or --session GAP"
	run rtai-window --tumbling 1m --session 5m
	assert_failure 2
	assert_output --partial "give one of --tumbling, --sliding and --session"
	run rtai-window --tumbling 0
	assert_failure 2
	assert_output --partial "--tumbling: '0': must be longer than 0"
	run rtai-window --tumbling 10
	assert_failure 2
	assert_output --partial "missing unit"
	run rtai-window --sliding 1h
	assert_failure 2
	assert_output --partial "--sliding: '1h': expected SIZE/SLIDE, such as 1h/5m"
	run rtai-window --sliding 5m/1h
	assert_failure 2
	assert_output --partial "the slide is longer than the window"
	run rtai-window --session 5m --offset 1m
	assert_failure 2
	assert_output --partial "--offset applies to tumbling and sliding windows"
	run rtai-window --tumbling 1m --time wall
	assert_failure 2
	assert_output --partial "--time: 'wall': expected event or processing"
	run rtai-window --tumbling 1m --time processing --delay 1m
	assert_failure 2
	assert_output --partial "--delay, --lateness, --late and --idle apply to --time event"
	run rtai-window --tumbling 1m --emit sometimes
	assert_failure 2
	assert_output --partial "--emit: 'sometimes': expected final or update"
	run rtai-window --tumbling 1m --max-keys -1
	assert_failure 2
	run rtai-window --tumbling 1m --idle 0
	assert_failure 2
	run rtai-window --tumbling 1m -a median:x
	assert_failure 2
	assert_output --partial "-a 'median:x': unknown function 'median'"
	run rtai-window --tumbling 1m -a sum
	assert_failure 2
	assert_output --partial "sum needs a field"
	run rtai-window --tumbling 1m -k window_end
	assert_failure 2
	assert_output --partial 'output field "window_end" would appear twice'
	run rtai-window --tumbling 1m -k u, 
	assert_failure 2
	assert_output --partial "--key: 'u,': field names must have 1 to 255 bytes"
	run rtai-window --tumbling 1m a b
	assert_failure 2
	assert_output --partial "one input at most"
	run rtai-window --tumbling 100000d
	assert_failure 2
	assert_output --partial "too long (at most 36 years)"
	run rtai-window --bogus
	assert_failure 2
	assert_output --partial "Try 'rtai-window --help'"
}

@test "window: --max-frame limits frames" {
	mkstream in.rtai <<-'EOF'
	1 {"u":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
	EOF
	run rtai-window --tumbling 1m --max-frame 64 in.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial "exceeds the limit of 64 bytes (--max-frame)"
}

@test "window: -v prints the summary with peak state" {
	mkstream in.rtai <<-'EOF'
	1 {"u":"a"}
	2 {"u":"b"}
	3 {"u":"c"}
	EOF
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m -v <in.rtai 2>&1 >/dev/null'
	echo "$output"
	assert_success
	assert_output --regexp '^rtai-window: 3 records, 0 late, 3 windows fired; peak state 3 windows, 3 keys, [0-9.]+ MiB; max resident [0-9.]+ MiB$'
}

@test "window: --help lists every option; --version" {
	run rtai-window --help
	assert_success
	for o in --key --tumbling --sliding --session --offset --agg --time --delay --lateness \
		--late --idle --emit --max-keys --verbose --max-frame --checkpoint-dir --stage-name \
		--help --version; do
		assert_output --partial -- "$o"
	done
	run rtai-window --version
	assert_success
	assert_output --regexp '^rtai-window \(rtai\) [0-9]'
}

@test "window: the examples of the man page run" {
	run_man_examples rtai-window.1
}

@test "window: the man page's examples 1 to 4 (tumbling, sliding, session, cascade) give the values of a python3 brute force" {
	cp -r "$RTAI_SRC/tests/data/." .
	n=0
	while IFS= read -r -d '' block; do
		n=$((n + 1))
		[ "$n" -le 4 ] || break
		echo "--- example $n:"
		echo "$block"
		bash -e -o pipefail -c "$block" >ex$n.out
		cat ex$n.out
		[ -s ex$n.out ]
	done < <(man_examples rtai-window.1)
	[ "$n" -ge 4 ]
	cat >check.py <<-'PY'
	import datetime, json, sys
	UTC = datetime.timezone.utc
	def sec(s): return int(datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp())
	def iso(t): return datetime.datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
	clicks = [json.loads(l) for l in open("clicks.jsonl")]
	for c in clicks: c["t"] = sec(c["event_time"])
	def out(n): return [json.loads(l) for l in open("ex%d.out" % n)]
	def win(u, s, e, **agg): return dict(user_id=u, window_start=iso(s), window_end=iso(e), **agg)
	def order(ws): return sorted(ws, key=lambda w: (w["window_end"], w["user_id"]))
	bad = 0
	def same(n, got, want):
	    global bad
	    if got != want:
	        bad += 1
	        print("example", n, "got", got, "want", want, sep="\n")
	# 1: tumbling minutes, count and sum per user
	g = {}
	for c in clicks: g.setdefault((c["user_id"], c["t"] // 60 * 60), []).append(c)
	same(1, out(1), order([win(u, s, s + 60, count=len(cs), sum_amount=sum(c["amount"] for c in cs))
	                       for (u, s), cs in g.items()]))
	# 2: sliding hours every 5 minutes; the first three results (head -3);
	# p95 within 1% of the value of rank floor(0.95 (n - 1))
	g = {}
	for c in clicks:
	    for s in range((c["t"] - 3600) // 300 * 300 + 300, c["t"] + 1, 300):
	        g.setdefault((c["user_id"], s), []).append(c)
	want = order([win(u, s, s + 3600, clicks=len(cs), p95_amount=sorted(c["amount"] for c in cs)[int(0.95 * (len(cs) - 1))],
	                   distinct_item_id=len({c["item_id"] for c in cs})) for (u, s), cs in g.items()])[:3]
	got = out(2)
	for o, w in zip(got, want):
	    if abs(o["p95_amount"] - w["p95_amount"]) <= 0.01 * abs(w["p95_amount"]):
	        o["p95_amount"] = w["p95_amount"]
	same(2, got, want)
	# 3: sessions with a 30 s gap: count, first and last item by time
	ws = []
	for u in sorted({c["user_id"] for c in clicks}):
	    cs = sorted((c for c in clicks if c["user_id"] == u), key=lambda c: c["t"])
	    run = [cs[0]]
	    for c in cs[1:] + [None]:
	        if c is not None and c["t"] < run[-1]["t"] + 30:
	            run.append(c)
	            continue
	        ws.append(win(u, run[0]["t"], run[-1]["t"] + 30, count=len(run),
	                      first_item_id=run[0]["item_id"], last_item_id=run[-1]["item_id"]))
	        run = [c]
	same(3, out(3), order(ws))
	# 4: minute counts per user, then per hour the peak minute and the minutes
	m = {}
	for c in clicks: m[(c["user_id"], c["t"] // 60 * 60)] = m.get((c["user_id"], c["t"] // 60 * 60), 0) + 1
	h = {}
	for (u, s), k in m.items(): h.setdefault((u, s // 3600 * 3600), []).append(k)
	same(4, out(4), order([win(u, s, s + 3600, peak=max(ks), minutes=len(ks)) for (u, s), ks in h.items()]))
	print(bad, "wrong")
	sys.exit(bad > 0)
	PY
	run python3 check.py
	echo "$output"
	assert_success
}

@test "window: a cut input (kill -9 upstream) fires no window as final and exits 4" {
	clicks=$RTAI_SRC/tests/data/clicks.jsonl
	# ended cleanly, the same records fire their day's window at the end
	run sh -c "rtai-cat $clicks | rtai-parse -t event_time | rtai-window --tumbling 1d -a count | rtai-cat -p"
	echo "$output"
	assert_success
	assert_output --partial '"count":20'
	# an endless source, killed mid-stream while records flow
	bash -c '( rtai-cat --rate 1000 --loop 0 "$1" & echo $! >cat.pid; wait ) | tee copy.rtai |
		rtai-parse -t event_time 2>>err | rtai-window --tumbling 1d -a count >out.rtai 2>>err
		echo "${PIPESTATUS[@]}" >status' _ "$clicks" &
	bg=$!
	for _ in $(seq 1 600); do
		[ -s cat.pid ] && [ "$(stat -c %s copy.rtai 2>/dev/null || echo 0)" -gt 4000 ] && break
		sleep 0.05
	done
	kill -9 "$(cat cat.pid)"
	wait "$bg"
	run cat status err
	echo "$output"
	# (the source's subshell, tee, rtai-parse, rtai-window)
	assert_line --index 0 --regexp '^[0-9]+ 0 4 4$'
	assert_output --partial "rtai-parse: stdin: byte "
	assert_output --partial "rtai-window: stdin: byte "
	assert_output --partial "the stream was cut: its writer ended without an end-of-stream frame"
	# records came in (more than one pass of the file) ...
	run sh -c 'rtai-cat -p copy.rtai 2>/dev/null | wc -l'
	echo "$output"
	[ "$output" -gt 20 ]
	# ... and no window went out; the output is itself a cut stream
	run rtai-cat -p out.rtai
	echo "$output"
	assert_failure 4
	assert_output --partial "the stream was cut"
	refute_output --partial count
}

@test "window: schema frames do not go on (windows are new records)" {
	run sh -c "rtai-cat $RTAI_SRC/tests/data/clicks.jsonl | rtai-parse -f user_id:string -t event_time | rtai-window --tumbling 1d -a count | rtai-cat -p --meta | jq -r ._kind"
	echo "$output"
	assert_success
	refute_output --partial schema
	assert_output --partial watermark
}

# man_example PAGE N: block N of PAGE's EXAMPLES section (man_examples).
man_example() {
	local block n=0
	while IFS= read -r -d '' block; do
		n=$((n + 1))
		[ "$n" -eq "$2" ] && { printf '%s' "$block"; return 0; }
	done < <(man_examples "$1")
	echo "$1 has no example $2" >&2
	return 1
}

# run_tapped BLOCK: runs the example BLOCK as it is, with two taps added
# that change nothing it computes: `tee gen.jsonl` after its rtai-gen (the
# generated input, for the brute force) and `tee all.out` before its final
# tail (every output line, not only the last ones). Its own output goes to
# ex.out. Fails when the block has not the shape the taps need.
run_tapped() {
	local block=$1 tapped
	tapped=${block/"| rtai-cat \\"/"| tee gen.jsonl | rtai-cat \\"}
	[ "$tapped" != "$block" ] || { echo "no '| rtai-cat \\' after rtai-gen in the example" >&2; return 1; }
	block=$tapped
	tapped=$(printf '%s' "$block" | sed -E 's/\| tail -([0-9]+)$/| tee all.out | tail -\1/')
	[ "$tapped" != "$block" ] || { echo "no final '| tail -N' in the example" >&2; return 1; }
	echo "--- example, tapped:"
	echo "$tapped"
	timeout 120 bash -e -o pipefail -c "$tapped" >ex.out
	echo "--- its output:"
	cat ex.out
	[ -s ex.out ] && [ -s gen.jsonl ] && [ -s all.out ]
}

@test "window: the man page's example 5 (live, --idle, --emit update): every window's updates count 1, 2, ... up to a python3 brute force's count" {
	block=$(man_example rtai-window.1 5)
	[[ $block == *"--emit update"* ]]
	run_tapped "$block"
	cat >check.py <<-'PY'
	import datetime, json, sys
	UTC = datetime.timezone.utc
	def ms(s): return round(datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)
	def iso(m): return datetime.datetime.fromtimestamp(m // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (m % 1000)
	clicks = [json.loads(l) for l in open("gen.jsonl")]
	want = {}
	for c in clicks:
	    s = ms(c["event_time"]) // 1000 * 1000
	    want[(c["user_id"], iso(s), iso(s + 1000))] = want.get((c["user_id"], iso(s), iso(s + 1000)), 0) + 1
	seen, bad = {}, 0
	for l in open("all.out"):
	    o = json.loads(l)
	    k = (o["user_id"], o["window_start"], o["window_end"])
	    if sorted(o) != ["count", "user_id", "window_end", "window_start"] or k not in want:
	        bad += 1; print("unexpected", l.strip()); continue
	    # each record changes its window's count by one, and each change is written
	    seen[k] = seen.get(k, 0) + 1
	    if o["count"] != seen[k]:
	        bad += 1; print("update", seen[k], "of", k, "has count", o["count"])
	for k, n in want.items():
	    if seen.get(k) != n:
	        bad += 1; print(k, "final count", seen.get(k), "want", n)
	last = json.loads(open("ex.out").read())
	if last != json.loads(open("all.out").read().splitlines()[-1]) or want[(last["user_id"], last["window_start"], last["window_end"])] != last["count"]:
	    bad += 1; print("the example's line", last, "is not its window's final count")
	print(len(clicks), "clicks,", len(want), "windows,", bad, "wrong")
	sys.exit(bad > 0 or len(clicks) != 200)
	PY
	run python3 check.py
	echo "$output"
	assert_success
}

# over_check ORDER: checks all.out (records written by --over 1h -k
# account_id, as JSON, or as the HSET commands of rtai-sink-redis --dry-run)
# against a brute force over gen.jsonl, the records in arrival order.
over_check() {
	cat >over.py <<-'PY'
	import datetime, json, math, shlex, sys
	order, delay, H = sys.argv[1], 2000, 3600 * 1000
	def ms(s): return round(datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)
	recs = [json.loads(l) for l in open("gen.jsonl")]
	for r in recs: r["t"] = ms(r["event_time"])
	def feats(i, upto):
	    # the records of i's key, arrived at or before index upto, with event time in (t - 1h, t]
	    r = recs[i]
	    rng = [x for x in recs[:upto + 1] if x["account_id"] == r["account_id"] and r["t"] - H < x["t"] <= r["t"]]
	    return r, len(rng), sum(x["amount"] for x in rng), max((x["amount"] for x in rng), default=None)
	want, late = [], 0
	if order == "arrival":
	    want = [feats(i, i) for i in range(len(recs))]
	else:
	    # a record leaves once the watermark W = newest time - delay has passed it
	    # (W > t), in event-time order, ties in arrival order; a late one (t < W
	    # at its arrival) at once
	    W, held = -math.inf, []
	    for j, r in enumerate(recs):
	        if r["t"] < W:
	            late += 1
	            want.append(feats(j, j))
	            continue
	        held.append(j)
	        W = max(W, r["t"] - delay)
	        held.sort(key=lambda i: (recs[i]["t"], i))
	        while held and recs[held[0]]["t"] < W:
	            want.append(feats(held.pop(0), j))
	    want += [feats(i, len(recs) - 1) for i in held]
	got = []
	for l in open("all.out"):
	    if l.startswith("PEXPIRE "):
	        continue
	    if l.startswith("HSET "):
	        a = shlex.split(l)
	        f = dict(zip(a[2::2], a[3::2]))
	        got.append((a[1], int(f["tx_1h"]), float(f["amount_1h"]), float(f["max_1h"])))
	    else:
	        o = json.loads(l)
	        got.append((o, o["tx_1h"], o["amount_1h"], None))
	bad = 0
	for n, (g, (r, c, s, m)) in enumerate(zip(got, want)):
	    if isinstance(g[0], str):
	        ok = g[0] == "features:card:" + r["account_id"] and g[3] == m
	    else:
	        o = dict(g[0]); del o["tx_1h"], o["amount_1h"]
	        ok = o == {k: v for k, v in r.items() if k != "t"} and type(g[1]) is int
	    if not ok or g[1] != c or abs(g[2] - s) > 1e-9 * abs(s):
	        bad += 1
	        if bad <= 10: print("output", n + 1, "got", g, "want", r, c, s, m)
	if len(got) != len(recs):
	    bad += 1; print(len(got), "records written of", len(recs))
	print(len(recs), "records,", late, "late,", bad, "wrong")
	sys.exit(bad > 0)
	PY
	python3 over.py "$1"
}

@test "window: the man page's example 6 (--over 1h into rtai-sink-redis --dry-run): every HSET has a python3 brute force's count, sum and max" {
	block=$(man_example rtai-window.1 6)
	[[ $block == *"--over 1h --delay 2s"*"--dry-run | tail -3" ]]
	run_tapped "$block"
	# the example prints the tail of what it sends: the last HSET and PEXPIREs
	run bash -c 'diff <(tail -3 all.out) ex.out && grep -c "^HSET features:card:acct[0-9]* tx_1h [0-9]* amount_1h [0-9.e+-]* max_1h [0-9.e+-]*$" ex.out && grep -c "^PEXPIRE features:card:acct[0-9]* 7200000$" all.out'
	echo "$output"
	assert_success
	run over_check event
	echo "$output"
	assert_success
	assert_output --partial "2000 records,"
}

@test "window: the man page's example 7 (--over 1h --order arrival): every record has a python3 brute force's count and sum over what arrived" {
	block=$(man_example rtai-window.1 7)
	[[ $block == *"--over 1h --delay 2s --order arrival"*"| tail -3" ]]
	run_tapped "$block"
	run bash -c 'diff <(tail -3 all.out) ex.out'
	echo "$output"
	assert_success
	run over_check arrival
	echo "$output"
	assert_success
	assert_output --partial "2000 records,"
}

# ---- checkpoints (rtai(7), --checkpoint-dir) ------------------------------------

# 600 records of 8 keys, event times up to 3s behind a clock that moves
# on, a barrier after every 100th record (checkpoint 1 to 6); a savepoint
# in place of barrier N when given.
ckpt_lines() {
	python3 - "${1:-0}" <<-'EOF'
	import json, random, sys
	random.seed(7)
	t, sp = 0.0, int(sys.argv[1])
	for i in range(1, 601):
	    t += random.random() * 0.5
	    ev = t - random.random() * 3
	    rec = {"u": "u%d" % random.randrange(8), "amount": random.randrange(100),
	           "item": random.choice("abcde")}
	    print("%.3f %s" % (ev, json.dumps(rec)))
	    if i % 100 == 0:
	        print("%s:%d" % ("savepoint" if i // 100 == sp else "barrier", i // 100))
	EOF
}

CKPT_WIN='rtai-window -k u --tumbling 10s --delay 5s -a count -a sum:amount -a distinct:item -a p95:amount'
# The stream's source in ck: its barriers are the input's, where these
# tests put them (tests/ckpt-source.c); a checkpoint completes only in a
# run with a source.
SRC="$RTAI_BUILD/tests/ckpt-source --checkpoint-dir ck"

# bytes_upto LINES N FILE: the bytes of the stream of the first N lines
# of LINES, without its end-of-stream frame: where the next frame starts.
bytes_upto() {
	head -n "$2" "$1" | mkstream upto.rtai
	: | mkstream empty.rtai
	echo $(($(stat -c %s upto.rtai) - $(stat -c %s empty.rtai) + 8))
}

@test "window: --checkpoint-dir: killed -9 and restarted, it resumes from the last complete checkpoint; the output is the uninterrupted run's" {
	ckpt_lines >lines.txt
	mkstream all.rtai <lines.txt
	run bash -o pipefail -c "$CKPT_WIN <all.rtai | show >want.txt"
	echo "$output"
	assert_success
	# The values, independently: windows of 10s per key (--delay 5s covers
	# the 3s of disorder, so nothing is late).
	run bash -c "grep -v '^kind' want.txt | jq -c '[.u, .window_start, .count, .sum_amount, .distinct_item]' | sort"
	echo "$output"
	python3 - >expect.txt <<-'EOF'
	import json, math
	g = {}
	for line in open("lines.txt"):
	    t, _, rest = line.strip().partition(" ")
	    if ":" in t:
	        continue
	    r = json.loads(rest)
	    k = (r["u"], math.floor(float(t) / 10) * 10)
	    c, s, d = g.get(k, (0, 0, set()))
	    g[k] = (c + 1, s + r["amount"], d | {r["item"]})
	for (u, s), (c, a, d) in g.items():
	    print(json.dumps([u, s, c, a, len(d)], separators=(",", ":")))
	EOF
	assert_output "$(sort expect.txt)"
	[ "$(grep -c '^kind 3$' want.txt)" -eq 6 ]

	# The crashing run reads up to record 350 (barriers 1 to 3), then its
	# input stalls; it is killed -9 once checkpoint 3 is complete.
	mkfifo in.fifo
	n=$(bytes_upto lines.txt 353)
	( head -c "$n" all.rtai; exec sleep 600 ) >in.fifo &
	feeder=$!
	$SRC <in.fifo | $CKPT_WIN --checkpoint-dir ck >crash.rtai 2>crash.err &
	win=$!
	for _ in $(seq 1 600); do
		[ -e ck/ckpt-3/COMPLETE ] && break
		sleep 0.05
	done
	kill -9 "$win"
	kill "$feeder"
	wait "$win" || true
	wait "$feeder" || true
	wait	# the source too: a rerun starts once the last run has exited
	run cat crash.err
	echo "$output"
	[ -e ck/ckpt-3/COMPLETE ]
	refute_output --partial resuming

	# Restarted with the same command line on the records after barrier 3
	# (where a source that seeks resumes), it loads checkpoint 3.
	m=$(bytes_upto lines.txt 303)
	{ head -c 8 all.rtai; tail -c +"$((m + 1))" all.rtai; } >tail.rtai
	run bash -o pipefail -c "$SRC <tail.rtai | $CKPT_WIN --checkpoint-dir ck 2>re.err | show >re.txt"
	echo "$output"
	assert_success
	run cat re.err
	echo "$output"
	assert_output "rtai-window: resuming from checkpoint 3 of ck"
	# What went out before barrier 3, then the restarted run after the
	# source's resume frame (kind 9): the output of the uninterrupted run,
	# window for window.
	[ "$(head -n 1 re.txt)" = "kind 9" ]
	run bash -c "{ show <crash.rtai 2>/dev/null | awk '{ print } /^kind 3\$/ && ++n == 3 { exit }'; sed 1d re.txt; } | diff - want.txt"
	echo "$output"
	assert_success
}

@test "window: --checkpoint-dir: a savepoint snapshots and ends without firing; the restarted run goes on" {
	ckpt_lines >lines.txt
	mkstream all.rtai <lines.txt
	run bash -o pipefail -c "$CKPT_WIN <all.rtai | show >want.txt"
	assert_success
	# checkpoint 4 is a savepoint, then the input ends (a source stopped
	# by SIGTERM does that)
	ckpt_lines 4 | head -n 404 | mkstream sp.rtai
	run bash -o pipefail -c "$SRC <sp.rtai | RTAI_CHECKPOINT_DIR=ck $CKPT_WIN | show >first.txt"
	echo "$output"
	assert_success
	[ -e ck/ckpt-4/COMPLETE ]
	# the last thing out is the savepoint: no window fired at the end
	run tail -n 1 first.txt
	assert_output "kind 3"
	m=$(bytes_upto lines.txt 404)
	{ head -c 8 all.rtai; tail -c +"$((m + 1))" all.rtai; } >tail.rtai
	run bash -o pipefail -c "$SRC <tail.rtai | RTAI_CHECKPOINT_DIR=ck $CKPT_WIN | show >second.txt"
	echo "$output"
	assert_success
	assert_output "rtai-window: resuming from checkpoint 4 of ck"
	# the source's resume frame (kind 9) first
	[ "$(head -n 1 second.txt)" = "kind 9" ]
	run bash -c "{ cat first.txt; sed 1d second.txt; } | diff - want.txt"
	echo "$output"
	assert_success
}

@test "window: --checkpoint-dir -v: snapshots written in the background, each reported with its size; the output is unchanged" {
	ckpt_lines >lines.txt
	mkstream all.rtai <lines.txt
	run bash -o pipefail -c "$CKPT_WIN <all.rtai | show >want.txt"
	assert_success
	$SRC <all.rtai | rtai-window -v --checkpoint-dir ck ${CKPT_WIN#rtai-window} 2>err.txt | show >got.txt
	cat err.txt
	diff got.txt want.txt
	# one report per barrier, from the background writer, which also
	# serialized the windows (tumbling: win_snapshot_finish)
	[ "$(grep -c 'snapshot of [0-9]* bytes serialized in [0-9.]* ms ([0-9.]* ms more in the writer thread), written in the background in [0-9.]* ms$' err.txt)" -eq 6 ]
	# each kept checkpoint's file: the header (40 bytes), the identity, the
	# state of the size reported, a CRC-32
	for n in 4 5 6; do
		[ -e "ck/ckpt-$n/COMPLETE" ]
		b=$(sed -n "s/.*checkpoint $n: snapshot of \([0-9]*\) bytes.*/\1/p" err.txt)
		f=$(ls ck/ckpt-$n/rtai-window-*.snap)
		python3 -c 'import struct, sys, os
p = sys.argv[1]; h = open(p, "rb").read(40)
ilen, = struct.unpack_from("<I", h, 12); slen, = struct.unpack_from("<Q", h, 32)
assert slen == int(sys.argv[2]), (slen, sys.argv[2])
assert os.path.getsize(p) == 40 + ilen + slen + 4' "$f" "$b"
	done
	# sessions are serialized at the barrier, whole
	rm -rf ck
	$SRC <all.rtai | rtai-window -v --checkpoint-dir ck -k u --session 3s -a count 2>err.txt >/dev/null
	cat err.txt
	[ "$(grep -c 'snapshot of [0-9]* bytes serialized in [0-9.]* ms, written in the background in [0-9.]* ms$' err.txt)" -eq 6 ]
	! grep -q 'writer thread' err.txt
}

@test "window: --checkpoint-dir: a snapshot made with other options is refused (exit 6); --stage-name; --over never reads a window's" {
	ckpt_lines 1 | head -n 101 | mkstream sp.rtai
	run bash -o pipefail -c "$SRC <sp.rtai | rtai-window -k u --tumbling 10s --stage-name w --checkpoint-dir ck | show"
	echo "$output"
	assert_success
	[ -e ck/ckpt-1/COMPLETE ]
	# the same stage name with other options: the snapshot is not its own
	run bash -c "rtai-window -k u --tumbling 20s --stage-name w --checkpoint-dir ck <sp.rtai >/dev/null"
	echo "$output"
	assert_failure 6
	assert_output --partial "ck/ckpt-1/"
	# a damaged snapshot: refused, naming the file
	snap=$(ls ck/ckpt-1/rtai-window-*.snap)
	printf 'x' | dd of="$snap" bs=1 seek=60 conv=notrunc 2>/dev/null
	run bash -c "rtai-window -k u --tumbling 10s --stage-name w --checkpoint-dir ck <sp.rtai >/dev/null"
	echo "$output"
	assert_failure 6
	assert_output --partial "$snap"
	# --over under the windows' stage name: not its snapshot
	run bash -c "rtai-window -k u --over 10s --stage-name w --checkpoint-dir ck <sp.rtai >/dev/null"
	echo "$output"
	assert_failure 6
	assert_output --partial "ck/ckpt-1/"
}

VER_WIN='rtai-window -k u --tumbling 10s --delay 1h -a count -a sum:amount'

@test "window: --checkpoint-dir: the snapshot is the layout of rtai-window's image version 2, read back independently; a version 1 snapshot is refused (exit 6)" {
	ckpt_lines 1 | head -n 101 >sp.txt
	mkstream sp.rtai <sp.txt
	run bash -o pipefail -c "$SRC <sp.rtai | $VER_WIN --checkpoint-dir ck | show"
	echo "$output"
	assert_success
	refute_output --partial window_start	# nothing fired
	[ -e ck/ckpt-1/COMPLETE ]
	snap=$(ls ck/ckpt-1/rtai-window-*.snap)
	# Read with zlib and the layout of win.h and agg.h alone: the file's
	# CRC-32, the image's keys (slot and bytes) and windows (key slot,
	# start, ingest, fired, a count of 8 bytes, an int sum of a form byte
	# and 16); every byte accounted for; the counts and sums those of the
	# records (with --delay 1h nothing has fired at the savepoint: every
	# window is open, none dropped).
	run python3 - "$snap" <<-'EOF'
	import json, re, struct, sys, zlib
	from collections import Counter
	d = open(sys.argv[1], "rb").read()
	assert zlib.crc32(d[:-4]) == struct.unpack("<I", d[-4:])[0], "CRC-32"
	i = d.index(b"RTWS")
	ver, blen = struct.unpack_from("<IQ", d, i + 4)
	assert ver == 2, ver
	o = i + 24
	def get(fmt):
	    global o
	    v = struct.unpack_from("<" + fmt, d, o); o += struct.calcsize("<" + fmt); return v
	(n,) = get("I"); desc = d[o:o + n].decode(); o += n
	assert desc.endswith("aggregates=count=count,sum_amount=sum:amount"), desc
	get("q"); get("8Q")
	kcap, nk = get("II")
	keys = {}
	for _ in range(nk):
	    slot, n = get("II"); keys[slot] = d[o:o + n]; o += n
	(nw,) = get("I")
	got = {}
	for _ in range(nw):
	    slot, start, ingest, fired, count, form, n, isum = get("IqqBqBqq")
	    assert slot in keys and fired == 0 and form == 0 and n == count, (slot, fired, form)
	    user = re.search(rb"u[0-9]+", keys[slot]).group().decode()
	    got[(user, start // 10**9)] = (count, isum)
	assert o == i + 24 + blen == len(d) - 4, (o, i + 24 + blen, len(d))
	want = Counter(); sums = Counter()
	for line in open("sp.txt"):
	    t, _, rec = line.strip().partition(" ")
	    if ":" in t:
	        continue
	    r = json.loads(rec); w = (r["u"], int(float(t) // 10) * 10)
	    want[w] += 1; sums[w] += r["amount"]
	assert got == {w: (want[w], sums[w]) for w in want}, (got, want)
	print("keys %d windows %d: %d bytes" % (nk, nw, len(d)))
	# the same image as version 1: the checksums made right again
	d = bytearray(d); struct.pack_into("<I", d, i + 4, 1)
	struct.pack_into("<I", d, len(d) - 4, zlib.crc32(bytes(d[:-4])))
	open(sys.argv[1], "wb").write(d)
	EOF
	echo "$output"
	assert_success
	run bash -c "$VER_WIN --checkpoint-dir ck <sp.rtai >/dev/null"
	echo "$output"
	assert_failure 6
	assert_output --partial "rtai-window: ck: checkpoint 1: a window snapshot of version 1 (this build reads version 2)"
}

CKPT_OVER='rtai-window -k u --over 10s --delay 4s -a count -a sum:amount -a distinct:item -a p95:amount -a min:amount'

@test "window --over: --checkpoint-dir: a savepoint snapshots the records still waiting and ends; the restarted run goes on; other options or a damaged snapshot are refused (exit 6)" {
	ckpt_lines >lines.txt
	mkstream all.rtai <lines.txt
	run bash -o pipefail -c "$CKPT_OVER <all.rtai | show >want.txt"
	echo "$output"
	assert_success
	# The values, independently: --delay 4s covers the 3s of disorder, so
	# each record leaves in event-time order with the records of its key
	# in (t - 10s, t].
	python3 - >expect.txt <<-'EOF'
	import json
	recs = []
	for i, line in enumerate(open("lines.txt")):
	    t, _, rest = line.strip().partition(" ")
	    if ":" not in t:
	        recs.append((round(float(t) * 1000), i, json.loads(rest)))
	recs.sort(key=lambda r: (r[0], r[1]))
	for t, i, r in recs:
	    rng = [x for (s, _, x) in recs if x["u"] == r["u"] and t - 10000 < s <= t]
	    a = [x["amount"] for x in rng]
	    print(json.dumps([r["u"], r["amount"], len(a), sum(a), min(a), len({x["item"] for x in rng})],
	                     separators=(",", ":")))
	EOF
	run bash -c "grep -v '^kind' want.txt | jq -c '[.u, .amount, .count, .sum_amount, .min_amount, .distinct_item]' | diff - expect.txt"
	echo "$output"
	assert_success
	grep -v '^kind' want.txt >want.data
	# checkpoint 4 is a savepoint, then the input ends
	ckpt_lines 4 | head -n 404 | mkstream sp.rtai
	run bash -o pipefail -c "$SRC <sp.rtai | RTAI_CHECKPOINT_DIR=ck $CKPT_OVER | show >first.txt"
	echo "$output"
	assert_success
	[ -e ck/ckpt-4/COMPLETE ]
	# the last thing out is the savepoint; records of the 400 before it
	# still wait for the watermark, in the snapshot
	run tail -n 1 first.txt
	assert_output "kind 3"
	[ "$(grep -vc '^kind' first.txt)" -lt 400 ]
	m=$(bytes_upto lines.txt 404)
	{ head -c 8 all.rtai; tail -c +"$((m + 1))" all.rtai; } >tail.rtai
	run bash -o pipefail -c "$SRC <tail.rtai | RTAI_CHECKPOINT_DIR=ck $CKPT_OVER | show >second.txt"
	echo "$output"
	assert_success
	assert_output "rtai-window: resuming from checkpoint 4 of ck"
	run bash -c "cat first.txt second.txt | grep -v '^kind' | diff - want.data"
	echo "$output"
	assert_success
	# another range: another stage, not in the latest checkpoint (6)
	[ -e ck/ckpt-6/COMPLETE ]
	run bash -c "RTAI_CHECKPOINT_DIR=ck ${CKPT_OVER/10s/20s} <tail.rtai >/dev/null"
	echo "$output"
	assert_failure 6
	assert_output --partial "ck/ckpt-6/"
	# a damaged snapshot: refused, naming the file
	snap=$(ls ck/ckpt-6/rtai-window-*.snap)
	printf 'x' | dd of="$snap" bs=1 seek=80 conv=notrunc 2>/dev/null
	run bash -c "RTAI_CHECKPOINT_DIR=ck $CKPT_OVER <tail.rtai >/dev/null"
	echo "$output"
	assert_failure 6
	assert_output --partial "$snap"
}

@test "window: a revoke frame drops the open windows of its partition's keys unfired, and goes on" {
	# a and c come from partition 0 of clicks, b from partition 1. The
	# revoke of partition 0 drops [0,60) of a and c; b's fires at the end;
	# a comes back (read again by its new owner, here the same stream) and
	# its window starts afresh. A partition no record came from drops
	# nothing.
	mkstream in.rtai <<-'EOF'
	10@clicks:0 {"u":"a"}
	20@clicks:1 {"u":"b"}
	25@clicks:0 {"u":"c"}
	30@clicks:0 {"u":"a"}
	revoke:clicks:0
	revoke:other:0
	40@clicks:0 {"u":"a"}
	EOF
	run bash -o pipefail -c 'rtai-window -k u --tumbling 1m -a count <in.rtai 2>/dev/null | show -w'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	kind 7
	kind 7
	wm 40
	{"u":"a","window_start":0,"window_end":60,"count":1}
	{"u":"b","window_start":0,"window_end":60,"count":1}
	EOF
	run bash -c 'rtai-window -k u --tumbling 1m -a count <in.rtai >/dev/null'
	assert_success
	assert_output 'rtai-window: 2 open windows of 2 revoked partitions dropped unfired: their new owner in the consumer group writes them'
	# Sessions too, and -v names each partition.
	run bash -c 'rtai-window -v -k u --session 1m -a count <in.rtai | show'
	echo "$output"
	assert_success
	assert_line 'rtai-window: clicks [0] revoked: its open windows dropped, for its new owner to write'
	assert_line --partial ', 2 dropped for 2 revoked partitions;'
	assert_line '{"u":"a","window_start":40,"window_end":100,"count":1}'
	refute_line --partial '"u":"c"'
}

@test "window: --over: an assign frame's horizon, records that only rebuild ranges, a revoke drops waiting records and ranges" {
	# --over 60s --delay 10s. Partition 0 is read again from a commit with
	# horizon 100 s: a@50 is before it (dropped, counted); a@159 has
	# (99, 159] reaching before it, so its last owner emitted it: it only
	# rebuilds a's range; a@170's range (110, 170] was read again whole:
	# emitted, with a@159 in it. At the revoke, a@175 is still waiting: it
	# is dropped, and a's range with it; a@190 starts afresh. b, of
	# partition 1, is not touched.
	mkstream in.rtai <<-'EOF'
	assign:clicks:0:100
	50@clicks:0 {"u":"a"}
	159@clicks:0 {"u":"a"}
	170@clicks:0 {"u":"a"}
	175@clicks:0 {"u":"a"}
	181@clicks:1 {"u":"b"}
	revoke:clicks:0
	190@clicks:0 {"u":"a"}
	EOF
	run bash -o pipefail -c 'rtai-window -k u --over 60s --delay 10s -a n=count <in.rtai 2>err | show'
	echo "$output"
	cat err
	assert_success
	assert_output - <<-'EOF'
	kind 8
	{"u":"a","n":2}
	kind 7
	{"u":"b","n":1}
	{"u":"a","n":1}
	EOF
	run cat err
	assert_output - <<-'EOF'
	rtai-window: 1 waiting record of 1 revoked partition dropped unemitted: their new owner in the consumer group emits them
	rtai-window: 1 record before their partition's horizon dropped (late for its last owner)
	EOF
	# Arrival order: every record leaves at once, a@175 too (a's range
	# then holds 159, 170 and 175); the revoke drops the range.
	run bash -o pipefail -c 'rtai-window -k u --over 60s --delay 10s --order arrival -a n=count <in.rtai 2>/dev/null | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	kind 8
	{"u":"a","n":2}
	{"u":"a","n":3}
	{"u":"b","n":1}
	kind 7
	{"u":"a","n":1}
	EOF
	run bash -c 'rtai-window -v -k u --over 60s --delay 10s -a n=count <in.rtai >/dev/null'
	assert_success
	assert_line 'rtai-window: clicks [0] revoked: its records waiting and ranges dropped, for its new owner to write'
	assert_line --partial "6 records, 0 late, 3 emitted, 1 waiting dropped and 1 keys' ranges for 1 revoked partition, 1 read again into ranges only (their partition's last owner emitted them), 1 before their partition's horizon dropped;"
}

@test "window: a malformed revoke frame is an error naming where" {
	printf '%s\n' '10@clicks:0 {"u":"a"}' 'revoke:clicks:0' | mkstream in.rtai
	python3 - <<-'EOF'
	import os, sys
	sys.path.insert(0, os.path.join(os.environ["RTAI_SRC"], "contrib", "python"))
	import rtai_stream as rs
	with open("bad.rtai", "wb") as f:
	    w = rs.Writer(f)
	    w.put(rs.REVOKE, rs.ENC_REC, rs.encode_record({"topic": "clicks"}), 0, None)
	    w.close()
	EOF
	run rtai-window -k u --tumbling 1m <bad.rtai
	assert_failure
	assert_output --partial 'rtai-window: stdin: after record 0: revoke frame: field "partition": missing or not a partition'
}

@test "window: an assign frame's horizon keeps its partition's records out of windows that start before it" {
	# Sliding windows of 60 s every 30 s. Partition 0 is read again from a
	# commit whose horizon is 60 s: its windows that start before it, such
	# as [30,90), closed in the last owner, which wrote them whole. b, of
	# partition 1, has no horizon. A revoke forgets the horizon.
	mkstream in.rtai <<-'EOF'
	assign:clicks:0:60
	70@clicks:0 {"u":"a"}
	70@clicks:1 {"u":"b"}
	revoke:clicks:0
	80@clicks:0 {"u":"a"}
	EOF
	run bash -o pipefail -c 'rtai-window -v -k u --sliding 60s/30s -a count <in.rtai 2>err | show'
	echo "$output"
	cat err
	assert_success
	assert_output - <<-'EOF'
	kind 8
	kind 7
	{"u":"a","window_start":30,"window_end":90,"count":1}
	{"u":"b","window_start":30,"window_end":90,"count":1}
	{"u":"a","window_start":60,"window_end":120,"count":1}
	{"u":"b","window_start":60,"window_end":120,"count":1}
	EOF
	grep -F ', 1 record kept out of windows before their partition'"'"'s horizon' err
	# Alone, a's record goes only into [60,120).
	printf '%s\n' 'assign:clicks:0:60' '70@clicks:0 {"u":"a"}' | mkstream one.rtai
	run bash -o pipefail -c 'rtai-window -k u --sliding 60s/30s -a count <one.rtai | show'
	assert_output "$(printf '%s\n' 'kind 8' '{"u":"a","window_start":60,"window_end":120,"count":1}')"
	# An assign frame without a horizon is an error.
	python3 - <<-'EOF'
	import os, sys
	sys.path.insert(0, os.path.join(os.environ["RTAI_SRC"], "contrib", "python"))
	import rtai_stream as rs
	with open("bad.rtai", "wb") as f:
	    w = rs.Writer(f)
	    w.put(rs.ASSIGN, rs.ENC_REC, rs.encode_record({"topic": "clicks", "partition": 0}), 0, None)
	    w.close()
	EOF
	run rtai-window -k u --tumbling 1m <bad.rtai
	assert_failure
	assert_output --partial 'rtai-window: stdin: after record 0: assign frame: field "horizon": missing or not a time'
}
