#!/usr/bin/env bats
# rtai-lat: latency, freshness, throughput, per-hop latency, reports, SLOs.

load common

setup_local() {
	export PYTHONPATH=$RTAI_SRC/contrib/python
	# mkstream.py N MODE: N records whose times are set in the past, so
	# that latency or freshness is known up to the test's own run time.
	#   ingest-seq  record i was ingested i seconds ago (latency i s)
	#   event       ingested now, event time 30 s ago (freshness 30 s)
	#   untimed     no ingest time (0)
	cat >mkstream.py <<'PY'
import sys, time
import rtai_stream as rs
n, mode = int(sys.argv[1]), sys.argv[2]
w = rs.Writer()
now = time.time_ns()
for i in range(1, n + 1):
    if mode == "ingest-seq":
        w.write_record({"i": i}, ingest_ns=now - i * 10**9)
    elif mode == "event":
        w.write_record({"i": i}, ingest_ns=now, event_ns=now - 30 * 10**9)
    elif mode == "untimed":
        w.write_record({"i": i}, ingest_ns=0)
w.close()
PY
	# slow.py: a stage that takes 0.3 s per record and stamps markers.
	cat >slow.py <<'PY'
import time
import rtai_stream as rs
w = rs.Writer()
for f in rs.Reader():
    if f.kind == rs.DATA:
        time.sleep(0.3)
        w.write(f)
        w.flush()
    elif f.kind == rs.MARKER:
        w.write_marker(f, "slow")
    else:
        w.write(f)
w.close()
PY
}

# ms_now: wall clock in milliseconds.
ms_now() { echo $(( $(date +%s%N) / 1000000 )); }

# ---- pass-through ------------------------------------------------------

@test "lat: passes the stream on byte for byte" {
	rtai-cat "$RTAI_SRC/tests/data/clicks.jsonl" >in.rtai
	run sh -c 'rtai-lat -q -i 0 <in.rtai >out.rtai'
	echo "$output"
	assert_success
	assert_output ''
	# all but the stamp of the end-of-stream frame, the writer's own
	cmp -n $(($(stat -c %s in.rtai) - 16)) in.rtai out.rtai
	run sh -c 'tail -c 24 out.rtai | od -An -tx1 | tr -d " \n" | cut -c1-12'
	assert_output '140000000500'
}

@test "lat: -n consumes the stream and summarises on stderr" {
	run sh -c "rtai-cat $RTAI_SRC/tests/data/clicks.jsonl | rtai-lat -n -i 0 2>err >out"
	assert_success
	run cat err
	echo "$output"
	assert_line --regexp '^rtai-lat: 20 records in [0-9.]+s: [0-9.]+ records/s, [0-9.]+ MB/s$'
	assert_line --regexp '^ +p50 +p90 +p95 +p99 +p99\.9 +max +mean$'
	assert_line --regexp '^latency( +[0-9.]+(ns|us|ms|s)){7}$'
	assert_line 'freshness    (no values)'
	assert_line 'latency distribution:'
	[ ! -s out ]
}

@test "lat: --no-pass is -n; -q prints no summary" {
	run sh -c "rtai-cat $RTAI_SRC/tests/data/clicks.jsonl | rtai-lat --no-pass --quiet -i 0 --json r.json"
	echo "$output"
	assert_success
	assert_output ''
	run jq .records r.json
	assert_output 20
}

@test "lat: frames of every kind are forwarded; markers get rtai-lat's stamp" {
	cat >kinds.py <<'PY'
import rtai_stream as rs
w = rs.Writer()
w.write_record({"a": 1}, ingest_ns=1795514400000000000)
w.put(rs.WATERMARK, rs.ENC_NONE, b"", 1795514400000000000, 1795514400000000000)
w.put(99, rs.ENC_RAW, b"future", 1795514400000000000)
w.put(rs.MARKER, rs.ENC_NONE, b"", 1795514400000000000)
w.close()
PY
	run sh -c 'python3 kinds.py | rtai-lat -q -i 0 | rtai-cat -p --meta'
	echo "$output"
	assert_success
	assert_line --index 0 --partial '"a":1'
	assert_line --index 1 --partial '"_kind":"watermark"'
	assert_line --index 2 --partial '"_kind_code":99'
	assert_line --index 3 --regexp '"_stamps":\[\{"stage":"rtai-lat","time":"[0-9T:.Z-]+"\}\]'
}

# ---- latency, freshness, known distributions -----------------------------

@test "lat: --json and --prom print numbers in the shortest text that reads back (python3 repr)" {
	python3 mkstream.py 300 ingest-seq | rtai-lat -n -q -i 0 --json r.json --prom r.prom
	cat r.json r.prom
	run python3 -c '
import json, re, sys
def digits(t):
    return len(re.sub("[^0-9]", "", re.split("[eE]", t)[0]).strip("0")) or 1
toks = []
json.load(open("r.json"), parse_float=toks.append)
for line in open("r.prom"):
    if not line.startswith("#"):
        toks.append(line.split()[-1])
bad = [t for t in toks if "." in t or "e" in t
       if digits(t) != digits(repr(float(t))) or re.search("[.]\\d*0$", t) and not t.endswith(".0")]
print(len(toks), "numbers; not shortest:", bad)
sys.exit(bool(bad) or len(toks) < 20)'
	echo "$output"
	assert_success
}

@test "lat: percentiles of a known latency distribution are within 0.1%" {
	t0=$(ms_now)
	python3 mkstream.py 1000 ingest-seq | rtai-lat -n -q -i 0 --json r.json
	t1=$(ms_now)
	cat r.json
	# Record i has latency i s plus at most the test's run time (t1 - t0).
	for pair in p50:500 p90:900 p95:950 p99:990 p999:999 max:1000 min:1; do
		key=${pair%%:*} want=$(( ${pair#*:} * 1000 ))
		got=$(jq ".latency_ms.$key" r.json)
		run awk -v g="$got" -v w="$want" -v t=$((t1 - t0)) \
			'BEGIN { exit !(g >= w && g <= (w + t) * 1.001 + 1) }'
		echo "$key: got $got ms, want $want ms (+ up to $((t1 - t0)) ms)"
		assert_success
	done
	run jq '.records, .latency_ms.count, .freshness_ms.count, .freshness_ms.p50' r.json
	assert_output "$(printf '1000\n1000\n0\nnull')"
}

@test "lat: freshness follows event times" {
	t0=$(ms_now)
	python3 mkstream.py 50 event | rtai-lat -n -q -i 0 --json r.json
	t1=$(ms_now)
	run jq '.freshness_ms.count, .freshness_ms.p50, .latency_ms.p50' r.json
	echo "$output"
	assert_line --index 0 50
	run awk -v g="$(jq .freshness_ms.p50 r.json)" -v t=$((t1 - t0)) \
		'BEGIN { exit !(g >= 30000 && g <= (30000 + t) * 1.001) }'
	assert_success
	# Ingested now: latency is far below freshness.
	run awk -v g="$(jq .latency_ms.p99 r.json)" -v t=$((t1 - t0)) 'BEGIN { exit !(g <= t + 1) }'
	assert_success
}

@test "lat: records without an ingest time count for throughput only" {
	run sh -c 'python3 mkstream.py 5 untimed | rtai-lat -n -i 0 --json r.json'
	echo "$output"
	assert_success
	assert_line '(5 records had no ingest time)'
	run jq '.records, .untimed, .latency_ms.count' r.json
	assert_output "$(printf '5\n5\n0')"
}

@test "lat: event times in the future count as freshness 0, and say so" {
	python3 -c '
import time, rtai_stream as rs
w = rs.Writer(); now = time.time_ns()
for i in range(3):
    w.write_record({"i": i}, ingest_ns=now, event_ns=now + 3600 * 10**9)
w.close()' >future.rtai
	run rtai-lat -n -i 0 --json r.json --svg c.svg future.rtai
	echo "$output"
	assert_success
	assert_line --regexp '^freshness( +0ns){7}$'
	assert_line "(3 freshness values were negative, counted as 0: event times in the future, such as a window's end)"
	run jq -c '[.freshness_ms.count, .freshness_ms.clamped, .latency_ms.clamped]' r.json
	assert_output '[3,3,0]'
	run grep -c 'freshness: every value 0' c.svg
	assert_output 1
}

# ---- delays, stages, coordinated omission --------------------------------

@test "lat: a slow stage shows up in latency and in its own row" {
	head -4 "$RTAI_SRC/tests/data/clicks.jsonl" >four.jsonl
	run sh -c "rtai-cat --rate 50 --marker-interval 1ms four.jsonl \
		| python3 slow.py | rtai-parse | rtai-lat -n -i 0 --json r.json"
	echo "$output"
	assert_success
	assert_line --regexp '^ +2 slow +'
	run jq -c '[.stages[] | [.hop, .stage]]' r.json
	echo "$output"
	assert_output '[[1,"rtai-cat"],[2,"slow"],[3,"rtai-parse"],[4,"rtai-lat"]]'
	# Loose sanity only: each record waits 0.3 s in the slow stage.
	run jq -e '.latency_ms.p50 >= 200' r.json
	assert_success
	run jq -e '(.stages[] | select(.stage == "slow") | .p50_ms) >= 200' r.json
	assert_success
	run jq -e '[.stages[] | select(.stage != "slow") | .p50_ms] | max < 200' r.json
	echo "$output"
	assert_success
}

@test "lat: a delay in a program that does not stamp shows in the next stage's row" {
	# The stream is stamped first, then held 0.3 s by programs that do not
	# stamp: every record is at least 300 ms old when rtai-lat reads it,
	# however long rtai-cat itself took.
	rtai-cat --marker-interval 1ms "$RTAI_SRC/tests/data/clicks.jsonl" >stamped.rtai
	run sh -c "(sleep 0.3; cat stamped.rtai) | cat | rtai-lat -n -i 0 --json r.json"
	echo "$output"
	assert_success
	run jq -c '[.stages[] | .stage]' r.json
	assert_output '["rtai-cat","rtai-lat"]'
	run jq -e '.latency_ms.p50 >= 200 and .stages[1].p50_ms >= 200 and .stages[0].p50_ms < 200' r.json
	assert_success
}

@test "lat: a stalled pipeline shows up as latency (coordinated omission)" {
	# 250 records of 4 kB due every 5 ms; the next stage stops reading for
	# 1 s, the pipe fills and rtai-cat blocks. Records due during the
	# stall keep their scheduled ingest time, so most of them show the
	# stall (stamping the time of the write would hide all but the ~16
	# that fit in the pipe).
	awk 'BEGIN { s = sprintf("%4000s", ""); gsub(/ /, "x", s); for (i = 0; i < 250; i++) print s }' >big.txt
	run sh -c 'rtai-cat --rate 200 big.txt | (sleep 1; cat) | rtai-lat -n -i 0 --json r.json'
	echo "$output"
	assert_success
	run jq -e '.records == 250 and .latency_ms.p50 >= 100' r.json
	jq .latency_ms r.json
	assert_success
}

# ---- interval lines and signals -------------------------------------------

@test "lat: interval lines appear while the input is idle" {
	run sh -c "(rtai-cat $RTAI_SRC/tests/data/clicks.jsonl; sleep 1) | rtai-lat -n -i 200ms -q --slo 'p99<1s' --slo 'freshness.p99<5s'"
	echo "$output"
	assert_success
	assert_line --index 0 --regexp '^ +elapsed +rec/s +MB/s +lat\.p50 +lat\.p99 +lat\.max +fresh\.p50 +fresh\.p99 +p99<1s freshness\.p99<5s$'
	# One interval saw the records; idle ones show 0 and dashes.
	assert_line --regexp '^ +[0-9.]+ms +[0-9]+ +[0-9.]+ +[0-9.]+(ns|us|ms) .* ok +-$'
	assert_line --regexp '^ +[0-9.]+(ms|s) +0 +0\.00 +- +- +- +- +- +- +-$'
	[ "${#lines[@]}" -ge 3 ]
}

@test "lat: -i 0 prints no interval lines" {
	run sh -c "(rtai-cat $RTAI_SRC/tests/data/clicks.jsonl; sleep 0.3) | rtai-lat -n -i 0 -q"
	echo "$output"
	assert_success
	assert_output ''
}

@test "lat: SIGINT and SIGTERM drain: at the end of the input the summary prints, exit 0" {
	for sig in INT TERM; do
		rm -f fifo
		mkfifo fifo
		rtai-lat -n -i 0 <fifo 2>err &
		pid=$!
		exec {w}>fifo
		rtai-cat "$RTAI_SRC/tests/data/clicks.jsonl" >&$w
		sleep 0.3
		kill -"$sig" "$pid"
		# A stage drains (rtai(7), SIGNALS): it reads on until its input ends.
		sleep 0.2
		kill -0 "$pid"
		exec {w}>&-
		st=0
		wait "$pid" || st=$?
		cat err
		[ "$st" -eq 0 ]
		grep -q '^rtai-lat: 20 records in ' err
		grep -q '^latency ' err
	done
}

# ---- reports --------------------------------------------------------------

@test "lat: --json has the keys of the report" {
	run sh -c "rtai-cat --marker-interval 1ms $RTAI_SRC/tests/data/clicks.jsonl \
		| rtai-parse -t event_time | rtai-lat -n -q -i 0 --name demo --slo 'p99<1h' --json r.json"
	echo "$output"
	assert_success
	run jq -c 'keys' r.json
	echo "$output"
	assert_output '["bytes","bytes_per_s","duration_s","freshness_ms","latency_ms","markers","name","rate_per_s","records","slo","stages","start","untimed"]'
	run jq -c '.latency_ms | keys' r.json
	assert_output '["clamped","count","max","mean","min","p50","p90","p95","p99","p999","stddev"]'
	run jq -c '.freshness_ms | keys' r.json
	assert_output '["clamped","count","max","mean","min","p50","p90","p95","p99","p999","stddev"]'
	run jq -c '.name, .records, .freshness_ms.count, [.stages[].stage], (.stages[0] | keys)' r.json
	echo "$output"
	assert_line --index 0 '"demo"'
	assert_line --index 1 20
	assert_line --index 2 20
	assert_line --index 3 '["rtai-cat","rtai-parse","rtai-lat"]'
	assert_line --index 4 '["count","hop","max_ms","mean_ms","p50_ms","p99_ms","stage"]'
	run jq -c '.slo[0] | [.rule, .metric, .limit_ms, .held, .intervals, .breached_intervals]' r.json
	assert_output '["p99<1h","latency",3600000,true,0,0]'
	run jq -e '.latency_ms.p50 <= .latency_ms.p90 and .latency_ms.p90 <= .latency_ms.p99 and .latency_ms.p99 <= .latency_ms.max' r.json
	assert_success
}

# prom_check FILE: the text exposition format's rules, checked by a small
# parser: HELP and TYPE before a family's samples and once each, valid
# metric and label names, escaped label values, numeric values,
# histograms with cumulative buckets ending at le="+Inf" equal to _count,
# summaries with quantile labels, a newline at the end.
prom_check() {
	python3 - "$1" <<'PY'
import math, re, sys
text = open(sys.argv[1]).read()
assert text.endswith("\n"), "no newline at the end"
name_re = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
sample_re = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$')
label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
types, helps, seen_done, samples = {}, set(), set(), []
current = None
for n, line in enumerate(text.split("\n")[:-1], 1):
    if line.startswith("# HELP "):
        name = line.split(" ")[2]
        assert name_re.match(name), (n, line)
        assert name not in helps, (n, "second HELP", name)
        helps.add(name)
        continue
    if line.startswith("# TYPE "):
        _, _, name, typ = line.split(" ")
        assert typ in ("counter", "gauge", "histogram", "summary", "untyped"), (n, line)
        assert name not in types, (n, "second TYPE", name)
        types[name] = typ
        if current:
            seen_done.add(current)
        current = name
        continue
    assert not line.startswith("#") or line.startswith("# "), (n, line)
    if line.startswith("#") or line == "":
        continue
    m = sample_re.match(line)
    assert m, (n, "bad sample line", line)
    name, labels, value = m.group(1), m.group(3) or "", m.group(4)
    base = re.sub(r"_(bucket|sum|count|total)$", "", name)
    fam = name if name in types else base
    assert fam in types, (n, "sample before its TYPE", name)
    assert fam == current, (n, "family not contiguous", name)
    lab, rest = {}, labels
    while rest:
        lm = label_re.match(rest)
        assert lm, (n, "bad labels", labels)
        assert lm.group(1) not in lab, (n, "duplicate label")
        lab[lm.group(1)] = lm.group(2)
        rest = rest[lm.end():]
    if value not in ("+Inf", "-Inf", "NaN"):
        float(value)
    samples.append((fam, name, lab, value))
for fam, typ in types.items():
    mine = [s for s in samples if s[0] == fam]
    if typ == "histogram":
        groups = {}
        for f, name, lab, v in mine:
            key = tuple(sorted((k, x) for k, x in lab.items() if k != "le"))
            groups.setdefault(key, {"b": [], "sum": None, "count": None})
            if name.endswith("_bucket"):
                groups[key]["b"].append((float(lab["le"]), float(v)))
            elif name.endswith("_sum"):
                groups[key]["sum"] = float(v)
            elif name.endswith("_count"):
                groups[key]["count"] = float(v)
        for key, g in groups.items():
            les = [b[0] for b in g["b"]]
            assert les == sorted(les) and les[-1] == math.inf, (fam, "buckets")
            counts = [b[1] for b in g["b"]]
            assert counts == sorted(counts), (fam, "not cumulative")
            assert g["count"] == counts[-1] and g["sum"] is not None, (fam, "_count")
    if typ == "summary":
        for f, name, lab, v in mine:
            if name == fam:
                assert 0 <= float(lab["quantile"]) <= 1, (fam, lab)
    if typ == "counter":
        for f, name, lab, v in mine:
            assert name.endswith("_total") and float(v) >= 0, (fam, name)
print("ok", len(types), "families", len(samples), "samples")
PY
}

@test "lat: --prom writes valid Prometheus text exposition" {
	run sh -c "rtai-cat --marker-interval 1ms $RTAI_SRC/tests/data/clicks.jsonl \
		| rtai-parse -t event_time | rtai-lat -n -q -i 0 --name 'cl\"icks' \
			--slo 'p99<1h' --slo 'freshness.p50<1s' --prom m.prom"
	echo "$output"
	cat m.prom
	run prom_check m.prom
	echo "$output"
	assert_success
	assert_output --regexp '^ok 7 families'
	run grep -c '^# TYPE' m.prom
	assert_output 7
	run grep -E '^rtai_(records_total|latency_seconds_count|latency_seconds_bucket\{.*le="\+Inf"\}|slo_ok)' m.prom
	echo "$output"
	assert_line 'rtai_latency_seconds_bucket{pipeline="cl\"icks",le="+Inf"} 20'
	assert_line 'rtai_latency_seconds_count{pipeline="cl\"icks"} 20'
	assert_line 'rtai_records_total{pipeline="cl\"icks"} 20'
	assert_line 'rtai_slo_ok{pipeline="cl\"icks",rule="p99<1h"} 1'
	assert_line 'rtai_slo_ok{pipeline="cl\"icks",rule="freshness.p50<1s"} 0'
	run grep -c '^rtai_stage_latency_seconds{pipeline="cl\\"icks",hop="2",stage="rtai-parse",quantile="0.99"} ' m.prom
	assert_output 1
	run sh -c 'ls | grep tmp'
	assert_output ''
}

@test "lat: --prom passes promtool check metrics" {
	command -v promtool >/dev/null || skip "promtool is not installed (Debian package prometheus)"
	rtai-cat --marker-interval 1ms "$RTAI_SRC/tests/data/clicks.jsonl" \
		| rtai-lat -n -q -i 0 --slo 'p99<1h' --prom m.prom
	run promtool check metrics <m.prom
	echo "$output"
	assert_success
}

@test "lat: --prom is rewritten every interval" {
	(rtai-cat "$RTAI_SRC/tests/data/clicks.jsonl"; sleep 0.8) | rtai-lat -n -q -i 100ms --prom m.prom &
	pid=$!
	for _ in $(seq 1 50); do
		[ -f m.prom ] && break
		sleep 0.05
	done
	run grep '^rtai_records_total' m.prom
	echo "$output"
	assert_output 'rtai_records_total 20'
	kill -0 "$pid"	# still running: the file came from an interval
	wait "$pid"
}

# ---- the checkpoint directory (--checkpoint-dir, RTAI_CHECKPOINT_DIR) --------

# ckpt_lines: 3000 JSON lines of 7 keys with event times "t".
ckpt_lines() {
	python3 -c '
import json
for i in range(3000):
    print(json.dumps({"u": "u%d" % (i % 7), "n": i,
                      "t": "2026-11-24T10:%02d:%02dZ" % (i // 60 % 60, i % 60)}))'
}

# latest_complete DIR: the id of DIR's newest complete checkpoint, from ls.
latest_complete() {
	ls -d "$1"/ckpt-*/COMPLETE | sed 's|.*/ckpt-||; s|/COMPLETE||' | sort -n | tail -1
}

# prom_ckpt_check FILE DIR AFTER: the checkpoint gauges of FILE against
# DIR's newest COMPLETE (its id from ls, its mtime from stat): the age is
# at least 0 (the report was written after it) and at most AFTER (the
# time the run ended) minus its mtime.
prom_ckpt_check() {
	python3 - "$1" "$2" "$(latest_complete "$2")" "$3" <<'PY'
import os, re, sys
path, d, want, after = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
m = os.stat("%s/ckpt-%d/COMPLETE" % (d, want)).st_mtime
vals = dict(re.findall(r"^(rtai_checkpoint_\w+)(?:\{[^}]*\})? (\S+)$", open(path).read(), re.M))
assert int(vals["rtai_checkpoint_id"]) == want, (vals, want)
age = float(vals["rtai_checkpoint_age_seconds"])
assert -0.001 <= age <= after - m + 0.001, (age, after - m)
print("ok", want)
PY
}

@test "lat: --prom with --checkpoint-dir: the age and id of the latest complete checkpoint, as ls and stat see them" {
	ckpt_lines >in.jsonl
	rtai-cat --checkpoint-dir ck --checkpoint-interval 200ms --rate 2000 in.jsonl |
		rtai-parse -t t | rtai-window --checkpoint-dir ck -k u --tumbling 1m |
		rtai-lat -n -q -i 0 --name p --checkpoint-dir ck --prom m.prom
	after=$(date +%s.%N)
	cat m.prom | grep checkpoint
	run prom_check m.prom
	echo "$output"
	assert_success
	run prom_ckpt_check m.prom ck "$after"
	echo "$output"
	assert_output "ok $(latest_complete ck)"
	run grep -c '^rtai_checkpoint_id{pipeline="p"} [0-9]*$' m.prom
	assert_output 1
}

@test "lat: --prom with \$RTAI_CHECKPOINT_DIR: the same gauges; unset or empty, none" {
	ckpt_lines >in.jsonl
	export RTAI_CHECKPOINT_DIR=$PWD/ck
	rtai-cat --checkpoint-interval 200ms --rate 2000 in.jsonl | rtai-parse -t t |
		rtai-window -k u --tumbling 1m | rtai-lat -n -q -i 0 --prom m.prom
	after=$(date +%s.%N)
	run prom_ckpt_check m.prom ck "$after"
	echo "$output"
	assert_output "ok $(latest_complete ck)"
	rtai-cat -o cap.rtai in.jsonl
	for v in unset empty; do
		if [ $v = unset ]; then unset RTAI_CHECKPOINT_DIR; else export RTAI_CHECKPOINT_DIR=; fi
		rtai-lat -n -q -i 0 --prom m2.prom cap.rtai
		run grep -c checkpoint m2.prom
		echo "$v: $output"
		assert_output 0
	done
}

@test "lat: --prom with a checkpoint directory without a complete checkpoint: the families, no samples" {
	sample_clicks | rtai-cat -o cap.rtai
	run rtai-lat -n -q -i 0 --checkpoint-dir fresh --prom m.prom cap.rtai
	echo "$output"
	assert_success
	run prom_check m.prom
	echo "$output"
	assert_success
	run grep checkpoint m.prom
	echo "$output"
	assert_line --index 1 '# TYPE rtai_checkpoint_age_seconds gauge'
	assert_line --index 3 '# TYPE rtai_checkpoint_id gauge'
	[ "${#lines[@]}" -eq 4 ]
}

# ---- rtai-lat as a checkpoint stage: its figures span restarts --------------

newer_than() { [ -n "$(latest_complete "$1" 2>/dev/null)" ] && [ "$(latest_complete "$1")" -gt "$2" ]; }

@test "lat: --checkpoint-dir: killed -9 twice and rerun, the report counts every record once, as an uninterrupted run" {
	# 5 s of input at --rate 20000: long enough that on a loaded machine a
	# run is still going when a newer checkpoint completes and the kill comes
	seq 1 100000 >big.txt
	rtai-cat big.txt | rtai-lat -n -q -i 0 --json plain.json
	: >statuses
	for i in 1 2; do
		before=$(latest_complete ck 2>/dev/null || true)
		# the same command line every time: rtai-cat the source of
		# barriers, rtai-lat the last registered stage ($!)
		rtai-cat --checkpoint-dir ck --checkpoint-interval 200ms --rate 20000 big.txt 2>"cat.$i" |
			rtai-lat -n -q -i 0 --checkpoint-dir ck --json r.json 2>"lat.$i" &
		pid=$!
		wait_until newer_than ck "${before:-0}" || { kill -9 "$pid"; false; }
		kill -9 "$pid"
		wait "$pid" || echo "$?" >>statuses
		wait
	done
	rtai-cat --checkpoint-dir ck --checkpoint-interval 200ms --rate 20000 big.txt 2>cat.3 |
		rtai-lat -n -q -i 0 --checkpoint-dir ck --json r.json 2>lat.3
	cat cat.* lat.*
	run cat statuses
	echo "$output"
	assert_output "$(printf '137\n137')"	# each run was cut by the kill (128 + 9)
	run grep -h 'rtai-lat: resuming from checkpoint' lat.2 lat.3
	echo "$output"
	[ "${#lines[@]}" -eq 2 ]
	# every record once: the count of lines, and the bytes of an
	# uninterrupted run; every record in the latency histogram
	run jq -c '[.records, .latency_ms.count, .untimed]' r.json
	echo "$output"
	assert_output "[$(wc -l <big.txt),$(wc -l <big.txt),0]"
	[ "$(jq .bytes r.json)" = "$(jq .bytes plain.json)" ]
}

@test "lat: --checkpoint-dir: a damaged snapshot is refused, naming the file (exit 6); a foreign one too" {
	seq 1 5000 >big.txt
	rtai-cat --checkpoint-dir ck --checkpoint-interval 100ms --rate 20000 big.txt |
		rtai-lat -n -i 0 --checkpoint-dir ck 2>/dev/null
	id=$(latest_complete ck)
	snap=$(ls ck/ckpt-$id/rtai-lat-*.snap)
	cp "$snap" good.snap
	# one bit of the state flipped (past the 40-byte header and the identity)
	python3 -c '
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) - 20] ^= 1
open(p, "wb").write(b)' "$snap"
	rtai-cat -o empty.rtai </dev/null
	run rtai-lat -n -i 0 --checkpoint-dir ck <empty.rtai
	echo "$output"
	[ "$status" -eq 6 ]
	assert_output --partial "rtai-lat: $snap: corrupt: checksum mismatch"
	# another stage's snapshot in its place (rtai-cat's, with a valid checksum)
	cp ck/ckpt-$id/rtai-cat-*.snap "$snap"
	run rtai-lat -n -i 0 --checkpoint-dir ck <empty.rtai
	echo "$output"
	[ "$status" -eq 6 ]
	assert_output --partial "rtai-lat: $snap: written by stage 'rtai-cat big.txt'"
	cp good.snap "$snap"
	# a finished empty stream from a source that did not resume: cut
	run rtai-lat -n -i 0 --checkpoint-dir ck <empty.rtai
	echo "$output"
	assert_failure 4
	assert_output --partial "rtai-lat: stdin: byte 32: taken as cut: this stage resumed from checkpoint $id"
	# the pipeline again: the source resumes too
	run sh -c "rtai-cat --checkpoint-dir ck --checkpoint-interval 100ms --rate 20000 big.txt 2>/dev/null |
		rtai-lat -n -i 0 --checkpoint-dir ck"
	echo "$output"
	assert_success
	assert_line --index 0 "rtai-lat: resuming from checkpoint $id of ck"
	# the figures of the snapshot and of the rest of the input: every record once
	[[ "${lines[1]}" =~ ^rtai-lat:\ ([0-9]+)\ records\ in ]]
	[ "${BASH_REMATCH[1]}" -eq 5000 ]
}

@test "lat: --stage-name tells two like rtai-lat stages of one pipeline apart" {
	seq 1 5000 >big.txt
	run bash -c 'rtai-cat --checkpoint-dir ck --checkpoint-interval 100ms --rate 20000 big.txt |
		rtai-lat -q -i 0 --checkpoint-dir ck | rtai-lat -q -i 0 --checkpoint-dir ck >/dev/null;
		echo "statuses ${PIPESTATUS[*]}"'
	echo "$output"
	assert_output --partial "a running stage is registered as this one"
	assert_output --regexp "statuses [0-9]+ (1 [0-9]+|[0-9]+ 1)\$"	# one of them refused
	rm -rf ck
	rtai-cat --checkpoint-dir ck --checkpoint-interval 100ms --rate 20000 big.txt |
		rtai-lat -q -i 0 --checkpoint-dir ck --stage-name a |
		rtai-lat -q -i 0 --checkpoint-dir ck --stage-name b --json b.json >/dev/null
	run sh -c "ls ck/ckpt-$(latest_complete ck) | grep -c '^rtai-lat-.*\.snap$'"
	assert_output 2
	[ "$(jq .records b.json)" -eq 5000 ]
}

@test "lat: --checkpoint-dir: a savepoint (SIGTERM to the source) ends the run with the report; the rerun adds the rest" {
	seq 1 200000 >big.txt
	rtai-cat -o big.rtai big.txt
	mkfifo p.fifo
	rtai-cat --checkpoint-dir ck --rate 20000 big.rtai >p.fifo 2>cat.1 &
	cat_pid=$!
	rtai-lat -n -q -i 0 --checkpoint-dir ck --json r.json <p.fifo 2>lat.1 &
	lat_pid=$!
	wait_until test -e ck/source || { kill -9 "$cat_pid" "$lat_pid"; false; }
	wait_until sh -c '[ $(ls ck/stages | wc -l) -eq 2 ]' || { kill -9 "$cat_pid" "$lat_pid"; false; }
	sleep 0.2
	kill -TERM "$cat_pid"
	wait "$cat_pid"
	wait "$lat_pid"
	first=$(jq .records r.json)
	[ "$first" -gt 0 ] && [ "$first" -lt 200000 ]
	rtai-cat --checkpoint-dir ck big.rtai 2>cat.2 | rtai-lat -n -q -i 0 --checkpoint-dir ck --json r.json 2>lat.2
	cat cat.* lat.*
	run jq -c '[.records, .latency_ms.count]' r.json
	echo "$output"
	assert_output "[200000,200000]"
	run cat lat.2
	assert_output "rtai-lat: resuming from checkpoint 1 of ck"
}

@test "lat: --hgrm writes HdrHistogram's percentile distribution" {
	python3 mkstream.py 1000 ingest-seq | rtai-lat -n -q -i 0 --hgrm h.hgrm
	cat h.hgrm
	run head -2 h.hgrm
	assert_line --index 0 '       Value     Percentile TotalCount 1/(1-Percentile)'
	run tail -3 h.hgrm
	assert_line --index 0 --regexp '^#\[Mean    = +[0-9]+\.[0-9]{3}, StdDeviation   = +[0-9]+\.[0-9]{3}\]$'
	assert_line --index 1 --regexp '^#\[Max     = +100[0-9]{4}\.[0-9]{3}, Total count    = +1000\]$'
	assert_line --index 2 '#[Buckets =           41, SubBuckets     =         2048]'
	run awk '
		NR == 2 { if ($0 != "") exit 1; next }
		NR > 2 && !/^#/ {
			n++
			if ($2 < last || $1 < lastv) exit 2
			last = $2; lastv = $1
			if ($2 < 1 && NF != 4) exit 3
			if ($2 == 1 && NF != 3) exit 4
			if ($2 < 1 && ($4 - 1 / (1 - $2)) ^ 2 > 0.01) exit 5
			final = $0
		}
		END { if (n < 50 || final !~ / 1\.000000000000 +1000$/) exit 6 }' h.hgrm
	echo "awk: $status"
	assert_success
	# The median row: 500 s (+ the run time) in ms.
	run awk '$2 == "0.500000000000" { exit !($1 >= 500000 && $1 < 502000) }' h.hgrm
	assert_success
}

@test "lat: --svg draws a well-formed chart with the SLO lines" {
	python3 mkstream.py 200 ingest-seq >in.rtai
	run sh -c "rtai-lat -n -q -i 0 --name 'a<b' --slo 'p99<150s' --slo 'p50<=5m' --svg c.svg <in.rtai"
	echo "$output"
	assert_failure 3
	run python3 - <<'PY'
import xml.etree.ElementTree as ET
ns = {"s": "http://www.w3.org/2000/svg"}
root = ET.parse("c.svg").getroot()
assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
assert root.get("viewBox") == "0 0 900 600"
lines = root.findall(".//s:polyline", ns)
assert len(lines) == 1, len(lines)
pts = [tuple(map(float, p.split(","))) for p in lines[0].get("points").split()]
assert len(pts) > 20 and all(0 <= x <= 900 and 0 <= y <= 600 for x, y in pts)
xs = [x for x, y in pts]; ys = [y for x, y in pts]
assert xs == sorted(xs) and ys == sorted(ys, reverse=True), "curve goes right and up"
texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
print(texts)
assert "a<b: latency by percentile" in texts
assert any(t.startswith("p99<150s BREACHED") for t in texts)
assert any(t.startswith("p50<=5m held") for t in texts)
assert {"0%", "90%", "99%"} <= set(texts)
assert len(root.findall(".//s:g[@class='slo']", ns)) == 2
PY
	echo "$output"
	assert_success
}

@test "lat: empty input gives well-formed empty reports" {
	run sh -c "rtai-cat </dev/null | rtai-lat -n -i 0 --slo 'p99<1s' --json r.json --prom m.prom --hgrm h.hgrm --svg c.svg"
	echo "$output"
	assert_success
	assert_line --index 0 --regexp '^rtai-lat: 0 records in [0-9.]+s: 0\.0 records/s, 0\.000 MB/s$'
	assert_line --regexp '^slo p99<1s +no data$'
	run jq -c '[.records, .latency_ms.p50, .stages, .slo[0].held]' r.json
	assert_output '[0,null,[],null]'
	run prom_check m.prom
	assert_success
	run grep -c . h.hgrm
	assert_output 4
	run python3 -c 'import xml.etree.ElementTree as E; r = E.parse("c.svg").getroot(); print([t.text for t in r.iter("{http://www.w3.org/2000/svg}text") if t.text == "no timed records"])'
	assert_output "['no timed records']"
}

# ---- objectives -------------------------------------------------------------

@test "lat: an SLO breached over the run exits 3; held rules exit 0" {
	python3 mkstream.py 100 ingest-seq >in.rtai
	# Latencies grow by the seconds between making the stream and reading
	# it: the limits leave room for a slow, loaded machine.
	run rtai-lat -n -i 0 --json r.json --slo 'p50<1h' --slo 'max<=160s' --slo 'rate>0' in.rtai
	echo "$output"
	assert_success
	assert_line --regexp '^slo p50<1h +held +[0-9.]+s$'
	assert_line --regexp '^slo rate>0 +held +[0-9.]+ records/s$'
	run rtai-lat -n -i 0 --json r.json --slo 'p50<1h' --slo 'p99<10s' --slo 'freshness.p99<5s' in.rtai
	echo "$output"
	assert_failure 3
	assert_line --regexp '^slo p99<10s +BREACHED +(1m[3-5][0-9]|2m[0-9]+)s$'
	assert_line --regexp '^slo freshness\.p99<5s +no data$'
	run jq -c '[.slo[] | .held]' r.json
	assert_output '[true,false,null]'
	run jq -c '.slo[1] | [.metric, .limit_ms, .value_ms > 99000]' r.json
	assert_output '["latency",10000,true]'
}

@test "lat: a window's --delay longer than the SLO's limit is reported as a breach (exit 3), never a silent pass" {
	# Issue #13 item 8: rtai-window --over --delay 1s holds each record
	# until an event time 1 s later has arrived; rtai-gen --start now paces
	# event times by the clock, so p99 latency is at least about 1 s, and
	# p99<10ms can never hold. (The stream does not carry a stage's delay,
	# so rtai-lat cannot say so at start: rtai-window(1) and the README say
	# it.) Slowness only adds latency, so this asserts no timing.
	run bash -o pipefail -c 'rtai-gen clicks -n 2000 --rate 1000 --start now | rtai-cat | rtai-parse -t event_time \
		| rtai-window -k user_id --over 1h --delay 1s -a c=count | rtai-lat -n -i 0 --slo "p99<10ms" --json r.json'
	echo "$output"
	assert_failure 3
	assert_line --regexp '^slo p99<10ms +BREACHED '
	run jq -c '[.records, .slo[0].held, .latency_ms.p99 >= 900]' r.json
	echo "$output"
	assert_output '[2000,false,true]'
}

@test "lat: interval lines flag breaches per rule and the report counts them" {
	run sh -c "(python3 mkstream.py 10 ingest-seq; sleep 0.5) | rtai-lat -n -q -i 200ms --slo 'p50<1s' --slo 'p50<1h' --json r.json"
	echo "$output"
	assert_failure 3
	assert_line --regexp ' BREACH +ok$'
	run jq -c '[.slo[] | [.held, .breached_intervals, .intervals >= 1]]' r.json
	assert_output '[[false,1,true],[true,0,true]]'
}

@test "lat: hop and rate rules" {
	run sh -c "rtai-cat --marker-interval 1ms $RTAI_SRC/tests/data/clicks.jsonl \
		| rtai-lat -n -i 0 --slo 'hop.rtai-cat.p99<1h' --slo 'hop.nowhere.p50<1s' --slo 'rate>=1e12' --json r.json"
	echo "$output"
	assert_failure 3
	run jq -c '[.slo[] | [.metric, .stage, .held]]' r.json
	assert_output '[["hop","rtai-cat",true],["hop","nowhere",null],["rate",null,false]]'
}

@test "lat: SLO rules that do not parse are usage errors" {
	for rule in 'p99' 'p99>1s' 'p0<1s' 'p101<1s' 'q99<1s' 'lat.p99<1s' 'p99<1x' 'rate<5' 'rate>x' 'p9x<1s' ''; do
		run rtai-lat -n --slo "$rule" </dev/null
		echo "$rule: $output"
		assert_failure 2
		assert_line --index 0 --partial "rtai-lat: --slo: '$rule'"
		assert_line "Try 'rtai-lat --help' for more information."
	done
	run rtai-lat -n --slo 'latency.p99.9 <= 250ms' --slo 'freshness.mean<1d' --slo 'p100<1s' -q </dev/null
	echo "$output"
	assert_success
}

# ---- errors and options -----------------------------------------------------

@test "lat: text input is refused with a hint" {
	run sh -c 'echo hello | rtai-lat -n -q -i 0'
	echo "$output"
	assert_failure 1
	assert_output 'rtai-lat: stdin is not an rtai stream; pipe text through rtai-cat first'
}

@test "lat: a truncated stream is reported, the summary still printed" {
	rtai-cat "$RTAI_SRC/tests/data/clicks.jsonl" | head -c 300 >cut.rtai
	run rtai-lat -n -i 0 cut.rtai
	echo "$output"
	assert_failure 4
	assert_line --index 0 --regexp '^rtai-lat: cut\.rtai: byte [0-9]+: the stream was cut inside a frame'
	assert_line --regexp '^rtai-lat: [0-9]+ records in'
}

@test "lat: a missing file is reported; the others are read" {
	rtai-cat "$RTAI_SRC/tests/data/clicks.jsonl" >a.rtai
	run rtai-lat -n -i 0 nope.rtai a.rtai
	echo "$output"
	assert_failure 1
	assert_line --index 0 'rtai-lat: nope.rtai: No such file or directory'
	assert_line --regexp '^rtai-lat: 20 records in'
}

@test "lat: a report that cannot be written fails the run" {
	run sh -c "rtai-cat $RTAI_SRC/tests/data/clicks.jsonl | rtai-lat -n -q -i 0 --json nodir/r.json"
	echo "$output"
	assert_failure 1
	assert_output 'rtai-lat: nodir/r.json: No such file or directory'
}

@test "lat: bad options are usage errors" {
	run rtai-lat -i 5x
	echo "$output"
	assert_failure 2
	assert_line --index 0 --partial "rtai-lat: --interval: '5x'"
	run rtai-lat --bogus
	assert_failure 2
	assert_line "Try 'rtai-lat --help' for more information."
	run rtai-lat --max-frame 3
	assert_failure 2
	assert_line --index 0 --partial "rtai-lat: --max-frame: '3'"
}

@test "lat: --max-frame limits the frames accepted" {
	python3 -c 'import rtai_stream as rs; w = rs.Writer(); w.write_record({"s": "x" * 500}, ingest_ns=1); w.close()' >big.rtai
	run rtai-lat -n -q -i 0 --max-frame 100 big.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial 'exceeds the limit of 100 bytes (--max-frame)'
}

@test "lat: --help and --version" {
	run rtai-lat --help
	assert_success
	assert_line --index 0 'Usage: rtai-lat [OPTION]... [FILE]...'
	for o in --no-pass --interval --quiet --slo --json --prom --hgrm --svg --name --checkpoint-dir --max-frame --help --version; do
		assert_output --partial -- "$o"
	done
	run rtai-lat --version
	assert_success
	assert_output --regexp '^rtai-lat \(rtai\) '
}

@test "lat: the examples of the man page run" {
	run_man_examples rtai-lat.1
}

@test "lat: reports go through an unpredictable temporary name: a link planted at NAME.tmp.PID is never followed" {
	rtai-cat "$RTAI_SRC/tests/data/clicks.jsonl" >in.rtai
	echo precious >victim
	mkfifo in.fifo
	rtai-lat -n -q -i 0 --prom m.prom --json r.json <in.fifo &
	pid=$!
	# the names of the temporary files before: NAME.tmp.PID
	ln -s victim "m.prom.tmp.$pid"
	ln -s victim "r.json.tmp.$pid"
	cat in.rtai >in.fifo
	wait "$pid"
	run cat victim
	assert_output precious
	run prom_check m.prom
	assert_success
	run jq .records r.json
	assert_output 20
	# nothing left behind but the planted links, and the reports readable
	# as the umask says
	run sh -c 'ls -A | sort'
	echo "$output"
	assert_output "$(printf '%s\n' in.fifo in.rtai m.prom "m.prom.tmp.$pid" mkstream.py r.json "r.json.tmp.$pid" slow.py victim | sort)"
	run stat -c %a m.prom
	assert_output "$(printf '%o' $((0666 & ~$(umask))))"
}
