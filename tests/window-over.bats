#!/usr/bin/env bats
# rtai-window --over: per-record rolling aggregates over (t - RANGE, t] of
# the record's key. Every expected output below is worked out by hand from
# the rules in rtai-window(1).

load common

# ---- the range -----------------------------------------------------------------

@test "over: the range is (t - RANGE, t]: a record exactly RANGE older is outside" {
	mkstream in.rtai <<-'EOF'
	0 {"id":1,"v":1}
	5 {"id":2,"v":2}
	10 {"id":3,"v":3}
	15 {"id":4,"v":4}
	25 {"id":5,"v":5}
	EOF
	run bash -o pipefail -c 'rtai-window --over 10s -a count -a sum:v <in.rtai | show'
	echo "$output"
	assert_success
	# 10 drops 0 (exactly 10 s older), 15 drops 5, 25 drops 15.
	assert_output - <<-'EOF'
	{"id":1,"v":1,"count":1,"sum_v":1}
	{"id":2,"v":2,"count":2,"sum_v":3}
	{"id":3,"v":3,"count":2,"sum_v":5}
	{"id":4,"v":4,"count":2,"sum_v":7}
	{"id":5,"v":5,"count":1,"sum_v":5}
	EOF
	# one nanosecond inside the range still counts
	mkstream in2.rtai <<-'EOF'
	0 {"id":1}
	9.999999999 {"id":2}
	10 {"id":3}
	EOF
	run bash -o pipefail -c 'rtai-window --over 10s <in2.rtai | show'
	echo "$output"
	assert_output - <<-'EOF'
	{"id":1,"count":1}
	{"id":2,"count":2}
	{"id":3,"count":2}
	EOF
}

@test "over: peers with the same event time all count, the record itself included" {
	mkstream in.rtai <<-'EOF'
	0 {"id":1,"v":1}
	3 {"id":2,"v":2}
	3 {"id":3,"v":5}
	3 {"id":4,"v":1}
	4 {"id":5,"v":7}
	EOF
	# In event order every peer at 3 sees all three; last: the last to arrive.
	run bash -o pipefail -c 'rtai-window --over 10s -a count -a sum:v -a last:v <in.rtai | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"id":1,"v":1,"count":1,"sum_v":1,"last_v":1}
	{"id":2,"v":2,"count":4,"sum_v":9,"last_v":1}
	{"id":3,"v":5,"count":4,"sum_v":9,"last_v":1}
	{"id":4,"v":1,"count":4,"sum_v":9,"last_v":1}
	{"id":5,"v":7,"count":5,"sum_v":16,"last_v":7}
	EOF
	# In arrival order a peer sees those that arrived before it.
	run bash -o pipefail -c 'rtai-window --over 10s --order arrival -a count -a sum:v -a last:v <in.rtai | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"id":1,"v":1,"count":1,"sum_v":1,"last_v":1}
	{"id":2,"v":2,"count":2,"sum_v":3,"last_v":2}
	{"id":3,"v":5,"count":3,"sum_v":8,"last_v":5}
	{"id":4,"v":1,"count":4,"sum_v":9,"last_v":1}
	{"id":5,"v":7,"count":5,"sum_v":16,"last_v":7}
	EOF
}

@test "over: aggregates depend only on the records in range (issue #13's examples)" {
	# A large float that left the range does not stay in the small ones'
	# sum and stddev: at 23 the range (13, 23] holds 2.0 and 1.0.
	mkstream in.rtai <<-'EOF'
	5 {"k":"a","f":1e9}
	12 {"k":"a","f":1.0}
	14 {"k":"a","f":2.0}
	23 {"k":"a","f":1.0}
	EOF
	run bash -o pipefail -c 'rtai-window -k k --over 10s -a count -a sum:f -a stddev:f <in.rtai | show'
	echo "$output"
	assert_success
	# python3: statistics.stdev([2.0, 1.0]) = 0.7071067811865476
	assert_line -n 3 '{"k":"a","f":1.0,"count":2,"sum_f":3.0,"stddev_f":0.7071067811865476}'
	# Int sums are exact whenever they fit: at 11 the range (1, 11] holds 1
	# and 2; INT64_MAX + 1 alone does not fit and is the float nearest 2^63.
	mkstream in2.rtai <<-'EOF'
	0 {"k":"a","f":9223372036854775807}
	5 {"k":"a","f":1}
	11 {"k":"a","f":2}
	12 {"k":"a","f":3}
	EOF
	for order in event arrival; do
		run bash -o pipefail -c "rtai-window -k k --over 10s --order $order -a sum:f <in2.rtai | show"
		echo "$output"
		assert_success
		assert_output - <<-'EOF'
		{"k":"a","f":9223372036854775807,"sum_f":9223372036854775807}
		{"k":"a","f":1,"sum_f":9.223372036854776e+18}
		{"k":"a","f":2,"sum_f":3}
		{"k":"a","f":3,"sum_f":6}
		EOF
	done
}

@test "over: sums, averages and stddev of adversarial magnitudes match a python3 brute force" {
	# Ints near INT64_MAX and INT64_MIN, floats from 1e-3 to 1e17, three
	# keys, ties; the brute force uses exact fractions over each range.
	cat >gen.py <<-'PY'
	import json, random, sys
	random.seed(int(sys.argv[1]))
	t = 0
	for i in range(1500):
	    t += random.choice([0, 0, 1, 2, 3])
	    c = random.randrange(8)
	    if c == 0: v = 2**63 - 1 - random.randrange(3)
	    elif c == 1: v = -2**63 + random.randrange(3)
	    elif c == 2: v = random.randrange(-50, 50)
	    elif c == 3: v = random.choice([1e9, 1e15, 1e17, -1e16, 3.5e12])
	    elif c == 4: v = random.randrange(-1000, 1000) / 8
	    elif c == 5: v = random.randrange(1000) / 1000
	    else: v = float(random.randrange(100))
	    print(t, json.dumps({"k": random.randrange(3), "v": v, "i": i}))
	PY
	cat >check.py <<-'PY'
	import json, sys
	from fractions import Fraction as F
	R = int(sys.argv[1])
	recs = [(int(l.split()[0]), json.loads(l.split(" ", 1)[1])) for l in open("in.txt")]
	out = {r["i"]: r for r in map(json.loads, open("out.txt"))}
	eps, bad = F(2) ** -52, 0
	for t, r in recs:
	    xs = [x["v"] for u, x in recs if x["k"] == r["k"] and t - R < u <= t]
	    o = out[r["i"]]
	    n, exact, mag = len(xs), sum(F(x) for x in xs), sum(abs(F(x)) for x in xs)
	    if all(type(x) is int for x in xs) and -2**63 <= exact < 2**63:
	        ok = type(o["sum_v"]) is int and o["sum_v"] == exact
	    else:
	        tol = (n + 2) * eps * mag
	        ok = type(o["sum_v"]) is float and abs(F(o["sum_v"]) - exact) <= tol \
	            and abs(F(o["avg_v"]) - exact / n) <= tol / n
	    if n > 1:
	        mean = exact / n
	        var = sum((F(x) - mean) ** 2 for x in xs) / (n - 1)
	        tol = 8 * n * eps * sum(F(x) ** 2 for x in xs) / (n - 1)
	        ok = ok and abs(F(o["stddev_v"]) ** 2 - var) <= tol
	    if not ok:
	        bad += 1
	        if bad < 5:
	            print("record", r["i"], "at", t, "values", xs, "got", o)
	print(len(recs), "records,", bad, "wrong")
	sys.exit(bad > 0)
	PY
	for seed in 1 2; do
		python3 gen.py $seed >in.txt
		mkstream in.rtai <in.txt
		run bash -o pipefail -c 'rtai-window -k k --over 7s -a sum:v -a avg:v -a stddev:v <in.rtai | show >out.txt'
		echo "$output"
		assert_success
		run python3 check.py 7
		echo "$output"
		assert_success
		assert_output '1500 records, 0 wrong'
	done
}

@test "over: several keys interleaved; min and max as records leave the range" {
	mkstream in.rtai <<-'EOF'
	0 {"k":"a","v":5}
	1 {"k":"b","v":4}
	2 {"k":"a","v":9}
	4 {"k":"a","v":1}
	11 {"k":"a","v":3}
	12 {"k":"b","v":8}
	13 {"k":"a","v":2}
	15 {"k":"a","v":7}
	EOF
	# a at 11 drops 5@0 (max stays 9@2); at 13 9@2 leaves (max 3); at 15
	# 1@4 leaves (min 2). b at 12 drops 4@1.
	run bash -o pipefail -c 'rtai-window -k k --over 10s -a count -a min:v -a max:v <in.rtai | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"k":"a","v":5,"count":1,"min_v":5,"max_v":5}
	{"k":"b","v":4,"count":1,"min_v":4,"max_v":4}
	{"k":"a","v":9,"count":2,"min_v":5,"max_v":9}
	{"k":"a","v":1,"count":3,"min_v":1,"max_v":9}
	{"k":"a","v":3,"count":3,"min_v":1,"max_v":9}
	{"k":"b","v":8,"count":1,"min_v":8,"max_v":8}
	{"k":"a","v":2,"count":3,"min_v":1,"max_v":3}
	{"k":"a","v":7,"count":3,"min_v":2,"max_v":7}
	EOF
}

@test "over: the record passes on unchanged: fields, event time, ingest time" {
	mkstream in.rtai <<-'EOF'
	1.5 {"k":"a","s":"x","n":null,"f":2.5}
	2 {"k":"a","s":"y","n":1,"f":0.5}
	EOF
	run bash -o pipefail -c 'rtai-window -k k --over 1m -a sum:f <in.rtai | show -t'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"k":"a","s":"x","n":null,"f":2.5,"sum_f":2.5} event=1500000000 ingest=1
	{"k":"a","s":"y","n":1,"f":0.5,"sum_f":3.0} event=2000000000 ingest=2
	EOF
}

# ---- order, delay, lateness ------------------------------------------------------

@test "over: out-of-order records within --delay leave in event-time order; late ones go aside" {
	mkstream in.rtai <<-'EOF'
	10 {"id":1,"v":1}
	7 {"id":2,"v":2}
	12 {"id":3,"v":3}
	4 {"id":4,"v":4}
	6 {"id":5,"v":5}
	7 {"id":6,"v":9}
	20 {"id":7,"v":6}
	EOF
	# W = largest - 5s: 5 after id 1, 7 after id 3, so 4 and 6 are late
	# (t < W) and 7 is not (t = W); 20 makes W = 15 and 7, 7, 10, 12 leave,
	# then the watermark; 20 leaves at the end.
	run bash -o pipefail -c 'rtai-window --over 5s --delay 5s --late late.rtai -v -a count -a sum:v <in.rtai 2>err | show -w'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"id":2,"v":2,"count":2,"sum_v":11}
	{"id":6,"v":9,"count":2,"sum_v":11}
	{"id":1,"v":1,"count":3,"sum_v":12}
	{"id":3,"v":3,"count":2,"sum_v":4}
	wm 15
	{"id":7,"v":6,"count":1,"sum_v":6}
	EOF
	run cat err
	echo "$output"
	assert_output --partial "rtai-window: 7 records, 2 late (to late.rtai), 5 emitted; peak state 1 keys"
	run bash -o pipefail -c 'show -t <late.rtai'
	echo "$output"
	assert_output - <<-'EOF'
	{"id":4,"v":4} event=4000000000 ingest=4
	{"id":5,"v":5} event=6000000000 ingest=5
	EOF
	# Without --late every record is emitted: 4 and 6 leave at once (nothing
	# had left yet, so their ranges (-1, 4] and (1, 6] are all held), then
	# count for the records after them: at 7, (2, 7] holds 4, 6, 7, 7.
	run bash -o pipefail -c 'rtai-window --over 5s --delay 5s -a count -a sum:v <in.rtai 2>err | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"id":4,"v":4,"count":1,"sum_v":4}
	{"id":5,"v":5,"count":2,"sum_v":9}
	{"id":2,"v":2,"count":4,"sum_v":20}
	{"id":6,"v":9,"count":4,"sum_v":20}
	{"id":1,"v":1,"count":4,"sum_v":17}
	{"id":3,"v":3,"count":2,"sum_v":4}
	{"id":7,"v":6,"count":1,"sum_v":6}
	EOF
	run cat err
	assert_output "rtai-window: 2 late records emitted at once over the part of their range still held (wait for out-of-order records with --delay; set late ones aside with --late FILE)"
	# python3 brute force over (t - 5, t]: a late record (left at once)
	# over the records that arrived up to it; the others, which leave after
	# the last arrival, over all
	run python3 -c '
recs = [(10, 1), (7, 2), (12, 3), (4, 4), (6, 5), (7, 9), (20, 6)]
late = {3, 4}
for i in [3, 4, 1, 5, 0, 2, 6]:
    t = recs[i][0]
    xs = [v for j, (u, v) in enumerate(recs) if t - 5 < u <= t and (j <= i or i not in late)]
    print(len(xs), sum(xs))'
	echo "$output"
	assert_output "$(printf '%s\n' '1 4' '2 9' '4 20' '4 20' '4 17' '2 4' '1 6')"
	# one late record: the warning's grammar
	printf '%s\n' '5 {"v":1}' '1 {"v":2}' | mkstream one.rtai
	run bash -o pipefail -c 'rtai-window --over 5s <one.rtai 2>&1 >/dev/null'
	assert_output "rtai-window: 1 late record emitted at once over the part of its range still held (wait for out-of-order records with --delay; set late ones aside with --late FILE)"
}

@test "over: random out-of-order streams: every record is emitted, with the values of a python3 brute force" {
	# tests/overcheck.py: without --late every record is written once; one
	# that was not late has the count and sum of its key's records in
	# (t - range, t] that arrived before it left; a late one, those of its
	# range still held (between the bounds that the man page's rule gives).
	run python3 "$RTAI_SRC/tests/overcheck.py" 200 7
	echo "$output" | cut -c1-2000
	assert_success
	assert_output "ok 200"
}

@test "over: at the end of input every waiting record leaves, in event-time order" {
	mkstream in.rtai <<-'EOF'
	10 {"id":1,"v":1}
	7 {"id":2,"v":2}
	12 {"id":3,"v":3}
	4 {"id":4,"v":4}
	6 {"id":5,"v":5}
	7 {"id":6,"v":9}
	20 {"id":7,"v":6}
	EOF
	# With an hour of delay nothing is late and all wait for the end.
	run bash -o pipefail -c 'rtai-window --over 5s --delay 1h -a count -a sum:v <in.rtai | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"id":4,"v":4,"count":1,"sum_v":4}
	{"id":5,"v":5,"count":2,"sum_v":9}
	{"id":2,"v":2,"count":4,"sum_v":20}
	{"id":6,"v":9,"count":4,"sum_v":20}
	{"id":1,"v":1,"count":4,"sum_v":17}
	{"id":3,"v":3,"count":2,"sum_v":4}
	{"id":7,"v":6,"count":1,"sum_v":6}
	EOF
}

@test "over: --order arrival emits at once over what has arrived" {
	mkstream in.rtai <<-'EOF'
	10 {"id":1,"v":1}
	15 {"id":2,"v":2}
	12 {"id":3,"v":3}
	30 {"id":4,"v":4}
	21 {"id":5,"v":5}
	25 {"id":6,"v":6}
	32 {"id":7,"v":7}
	19 {"id":8,"v":8}
	EOF
	# 12 does not see 15 (newer); 21 sees 12 and 15, which 30 had pushed
	# out of its own range; 19 is late (W = 32 - 10).
	run bash -o pipefail -c 'rtai-window --over 10s --delay 10s --order arrival --late late.rtai -a count -a sum:v -a max:v <in.rtai 2>/dev/null | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"id":1,"v":1,"count":1,"sum_v":1,"max_v":1}
	{"id":2,"v":2,"count":2,"sum_v":3,"max_v":2}
	{"id":3,"v":3,"count":2,"sum_v":4,"max_v":3}
	{"id":4,"v":4,"count":1,"sum_v":4,"max_v":4}
	{"id":5,"v":5,"count":3,"sum_v":10,"max_v":5}
	{"id":6,"v":6,"count":2,"sum_v":11,"max_v":6}
	{"id":7,"v":7,"count":3,"sum_v":17,"max_v":7}
	EOF
	# in event order: the batch result over the sorted records
	run bash -o pipefail -c 'rtai-window --over 10s --delay 10s --order event --late late.rtai -a count -a sum:v -a max:v <in.rtai 2>/dev/null | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"id":1,"v":1,"count":1,"sum_v":1,"max_v":1}
	{"id":3,"v":3,"count":2,"sum_v":4,"max_v":3}
	{"id":2,"v":2,"count":3,"sum_v":6,"max_v":3}
	{"id":5,"v":5,"count":3,"sum_v":10,"max_v":5}
	{"id":6,"v":6,"count":2,"sum_v":11,"max_v":6}
	{"id":4,"v":4,"count":3,"sum_v":15,"max_v":6}
	{"id":7,"v":7,"count":3,"sum_v":17,"max_v":7}
	EOF
}

@test "over: watermarks from upstream move W and are replaced; markers pass at once" {
	mkstream in.rtai <<-'EOF'
	1 {"id":1}
	2 {"id":2}
	marker
	wm:5
	3 {"id":3}
	6 {"id":4}
	EOF
	# The marker overtakes the waiting records; wm:5 lets 1 and 2 leave and
	# makes 3 late; W stays 5 (6 - 1h is less), and 6 leaves at the end.
	run bash -o pipefail -c 'rtai-window --over 10s --delay 1h --late late.rtai <in.rtai 2>/dev/null | show -w'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	kind 4
	{"id":1,"count":1}
	{"id":2,"count":2}
	wm 5
	{"id":4,"count":3}
	EOF
	run bash -o pipefail -c 'rtai-window --over 10s --delay 1h <in.rtai | rtai-cat -p --meta | grep marker'
	echo "$output"
	assert_output --partial '"rtai-window"'
}

@test "over: --idle lets W follow the clock, so waiting records leave on a quiet input" {
	mkstream a.rtai <<-'EOF'
	0.1 {"id":1}
	0.5 {"id":2}
	EOF
	mkstream b.rtai <<-'EOF'
	0.7 {"id":3}
	2 {"id":4}
	EOF
	# After 100ms without input W grows from 0.5 with the clock: a second
	# later 0.7 is late.
	run bash -o pipefail -c '{ cat a.rtai; sleep 1; cat b.rtai; } |
		rtai-window --over 10s --idle 100ms --late late.rtai -v 2>err | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"id":1,"count":1}
	{"id":2,"count":2}
	{"id":4,"count":3}
	EOF
	run cat err
	assert_output --partial "4 records, 1 late (to late.rtai)"
	run bash -o pipefail -c '{ cat a.rtai; sleep 0.3; cat b.rtai; } | rtai-window --over 10s | show'
	echo "$output"
	assert_output - <<-'EOF'
	{"id":1,"count":1}
	{"id":2,"count":2}
	{"id":3,"count":3}
	{"id":4,"count":4}
	EOF
}

@test "over: SIGTERM drains: at the end of the input waiting records leave, the summary prints" {
	mkstream a.rtai <<-'EOF'
	1 {"id":1}
	2 {"id":2}
	EOF
	mkfifo in
	(cat a.rtai; exec sleep 10) >in &
	writer=$!
	rtai-window --over 1m --delay 1h -v <in >out.rtai 2>err &
	pid=$!
	# the watermark frame shows that both records were read
	for _ in $(seq 1 40); do
		[ "$(wc -c <out.rtai)" -gt 8 ] && break
		sleep 0.05
	done
	kill -TERM $pid
	# A stage drains (rtai(7), SIGNALS): it reads on until its input ends.
	sleep 0.2
	kill -0 $pid
	kill $writer 2>/dev/null || true
	st=0
	wait $pid || st=$?	# not "run wait": run's subshell cannot wait for it
	echo "status $st"
	[ "$st" -eq 0 ]
	run bash -o pipefail -c 'show <out.rtai'
	echo "$output"
	assert_output - <<-'EOF'
	{"id":1,"count":1}
	{"id":2,"count":2}
	EOF
	run cat err
	assert_output --partial "2 records, 0 late, 2 emitted"
}

# ---- aggregates and input kinds ----------------------------------------------------

@test "over: every aggregate, named as for the other windows" {
	mkstream in.rtai <<-'EOF'
	0 {"s":"x","v":2}
	1 {"s":"y","v":4}
	2 {"s":"x","v":null}
	3 {"s":null,"v":6}
	4 {"s":"z","v":8}
	EOF
	# At 3 the range (0, 3] holds y/4, x/null, null/6; at 4 (1, 4] holds
	# x/null, null/6, z/8. p50 of {4, 6} is 4 within 1%.
	run bash -o pipefail -c 'rtai-window --over 3s -a n=count -a count:v -a distinct:s -a first:s \
		-a last:s -a avg:v -a stddev:v -a min:v -a p50:v <in.rtai | show'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"s":"x","v":2,"n":1,"count_v":1,"distinct_s":1,"first_s":"x","last_s":"x","avg_v":2.0,"stddev_v":null,"min_v":2,"p50_v":1.993661701417345}
	{"s":"y","v":4,"n":2,"count_v":2,"distinct_s":2,"first_s":"x","last_s":"y","avg_v":3.0,"stddev_v":1.4142135623730951,"min_v":2,"p50_v":1.993661701417345}
	{"s":"x","v":null,"n":3,"count_v":2,"distinct_s":2,"first_s":"x","last_s":"x","avg_v":3.0,"stddev_v":1.4142135623730951,"min_v":2,"p50_v":1.993661701417345}
	{"s":null,"v":6,"n":3,"count_v":2,"distinct_s":2,"first_s":"y","last_s":"x","avg_v":5.0,"stddev_v":1.4142135623730951,"min_v":4,"p50_v":4.0148353330285875}
	{"s":"z","v":8,"n":3,"count_v":2,"distinct_s":2,"first_s":"x","last_s":"z","avg_v":7.0,"stddev_v":1.4142135623730951,"min_v":6,"p50_v":5.989510371172621}
	EOF
}

@test "over: raw JSON through rtai-cat and rtai-parse: per-card velocity" {
	cat >tx.jsonl <<-'EOF'
	{"card":"c1","amount":10,"time":"2026-01-01T10:00:00Z"}
	{"card":"c1","amount":20,"time":"2026-01-01T10:30:00Z"}
	{"card":"c2","amount":5,"time":"2026-01-01T10:40:00Z"}
	{"card":"c1","amount":7,"time":"2026-01-01T11:00:00Z"}
	{"card":"c1","amount":1,"time":"2026-01-01T11:29:59.999Z"}
	EOF
	run bash -o pipefail -c 'rtai-cat tx.jsonl | rtai-parse -t time | rtai-window -k card --over 1h \
		-a tx_1h=count -a sum:amount | rtai-cat -p | jq -c "del(.time)"'
	echo "$output"
	assert_success
	# 11:00 drops 10:00 (exactly an hour older); 11:29:59.999 keeps 10:30.
	assert_output - <<-'EOF'
	{"card":"c1","amount":10,"tx_1h":1,"sum_amount":10}
	{"card":"c1","amount":20,"tx_1h":2,"sum_amount":30}
	{"card":"c2","amount":5,"tx_1h":1,"sum_amount":5}
	{"card":"c1","amount":7,"tx_1h":2,"sum_amount":27}
	{"card":"c1","amount":1,"tx_1h":3,"sum_amount":28}
	EOF
}

@test "over: JSON payloads are read too; a field named like an aggregate is replaced" {
	cat >in.jsonl <<-'EOF'
	{"k":"a","count":"old","t":1}
	{"k":"a","count":"old","t":2}
	EOF
	run bash -o pipefail -c 'rtai-cat in.jsonl | rtai-parse --json -t t --time-format s \
		| rtai-window -k k --over 1m | rtai-cat -p | jq -c "del(.t)"'
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	{"k":"a","count":1}
	{"k":"a","count":2}
	EOF
}

# ---- errors ---------------------------------------------------------------------------

@test "over: bad records are errors naming the record and the field" {
	mkstream nokey.rtai <<-'EOF'
	1 {"k":"a","v":1}
	2 {"v":2}
	EOF
	run bash -c 'rtai-window -k k --over 1m <nokey.rtai >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output 'rtai-window: stdin: record 2: field "k": missing (a key field)'
	mkstream badval.rtai <<-'EOF'
	1 {"k":"a","v":"x"}
	EOF
	run bash -c 'rtai-window -k k --over 1m -a sum:v --order arrival <badval.rtai >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output 'rtai-window: stdin: record 1: field "v": expected number, got string'
	mkstream notime.rtai <<-'EOF'
	- {"k":"a"}
	EOF
	run bash -c 'rtai-window -k k --over 1m <notime.rtai >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output 'rtai-window: stdin: record 1: no event time (set it with rtai-parse -t FIELD)'
	run bash -c 'echo "{\"k\":1}" | rtai-cat | rtai-window --over 1m >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output --partial 'rtai-window: stdin: record 1: no event time'
}

@test "over: a raw line that is not JSON is a bad record with a hint" {
	python3 -c '
import sys
sys.path.insert(0, sys.argv[1] + "/contrib/python")
import rtai_stream as rs
w = rs.Writer(open("raw.rtai", "wb"))
w.put(rs.DATA, rs.ENC_RAW, b"not json", 1, 5 * 10**9)
w.close()
' "$RTAI_SRC"
	run bash -c 'rtai-window --over 1m <raw.rtai >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output --partial 'rtai-window: stdin: record 1: '
	assert_output --partial '(parse raw lines with rtai-parse first)'
}

@test "over: --max-keys counts the keys with records in range" {
	mkstream in.rtai <<-'EOF'
	1 {"k":"a"}
	2 {"k":"b"}
	13 {"k":"c"}
	14 {"k":"d"}
	15 {"k":"e"}
	EOF
	# At 13, a and b are out of range: c and d make two keys; e a third.
	run bash -c 'rtai-window -k k --over 10s --max-keys 2 <in.rtai >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output 'rtai-window: stdin: record 5: more than 2 keys with records in range (--max-keys 2)'
	run bash -c 'rtai-window -k k --over 10s --max-keys 3 --order arrival <in.rtai >/dev/null'
	echo "$output"
	assert_success
}

@test "over: bad options are usage errors" {
	run rtai-window --over 1h --tumbling 1m
	assert_failure 2
	assert_output --partial "--over: give it without --tumbling, --sliding and --session"
	run rtai-window --over 0
	assert_failure 2
	assert_output --partial "--over: '0': must be longer than 0"
	run rtai-window --over 1x
	assert_failure 2
	assert_output --partial "--over"
	run rtai-window --over 1h --order random
	assert_failure 2
	assert_output --partial "--order: 'random': expected event or arrival"
	run rtai-window --tumbling 1h --order arrival
	assert_failure 2
	assert_output --partial "--order applies to --over"
	for o in "--offset 1m" "--lateness 1m" "--emit update" "--time processing"; do
		run rtai-window --over 1h $o
		echo "$o: $output"
		assert_failure 2
		assert_output --partial "--over: --offset, --lateness, --emit update and --time processing apply to --tumbling, --sliding and --session"
	done
	run rtai-window -k count --over 1h
	assert_failure 2
	assert_output --partial 'output field "count" would appear twice'
	run rtai-window
	assert_failure 2
	assert_output --partial "(or --over RANGE)"
}

@test "over: --help shows --over and --order" {
	run rtai-window --help
	assert_success
	assert_output --partial "--over RANGE"
	assert_output --partial "--order event|arrival"
}
