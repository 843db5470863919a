#!/usr/bin/env bats
# The README's examples whose output is a feature value: each test runs the
# README's own command text (extracted from README; an example that reads a
# live source runs with the same options over a finite rtai-gen input, as its
# comment says) and checks every value it writes against a python3 brute
# force over the same input.

load common

teardown_local() { redis_stop; }

# readme_block TEXT: the README's indented code paragraph (consecutive lines
# indented by 4 spaces) that contains TEXT, with the indentation kept.
# Fails loudly when no paragraph has it, so a changed README is noticed.
readme_block() {
	local block
	block=$(awk -v pat="$1" '
		/^    / { blk = blk $0 "\n"; next }
		{ if (index(blk, pat)) { printf "%s", blk; found = 1; exit } blk = "" }
		END { if (!found && index(blk, pat)) { printf "%s", blk; found = 1 } exit !found }
	' "$RTAI_SRC/README") || { echo "no README example contains: $1" >&2; return 1; }
	printf '%s\n' "$block"
}

# subst BLOCK OLD NEW: BLOCK with its first OLD replaced by NEW; fails when
# OLD is not in BLOCK (the README changed: the test must be looked at).
subst() {
	[[ $1 == *"$2"* ]] || { echo "the example has no '$2': $1" >&2; return 1; }
	printf '%s' "${1/"$2"/"$3"}"
}

# Python helpers for the brute forces: times in integer milliseconds, and
# float sums compared with the exact sum of the values in range.
write_pyhelp() {
	cat >rtaihelp.py <<-'PY'
	import datetime, json
	from fractions import Fraction as F
	EPS = F(2) ** -52
	def ms(s):
	    d = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
	    return (d - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) // datetime.timedelta(milliseconds=1)
	def iso(m):
	    return datetime.datetime.fromtimestamp(m // 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (m % 1000)
	def close(got, xs):
	    """got is a float within rounding of the exact sum of xs"""
	    exact, mag = sum(F(x) for x in xs), sum(abs(F(x)) for x in xs)
	    return type(got) is float and abs(F(got) - exact) <= (len(xs) + 2) * EPS * mag
	def lines(name):
	    return [json.loads(l) for l in open(name)]
	PY
}

@test "readme: rolling hour every 5 minutes, --delay 10m: every window's count and sum:amount equal a python3 brute force (late records included)" {
	block=$(readme_block '--sliding 1h/5m --delay 10m')
	echo "$block"
	# clicks.jsonl: out of order by up to 8 minutes (within the delay), and 2%
	# late by over an hour, so some records are late for part of their windows
	rtai-gen clicks -n 4000 --keys 20 --step 3s --disorder 8m --late 0.02 --late-by 1h >clicks.jsonl
	bash -e -o pipefail -c "$block" >out.jsonl
	write_pyhelp
	cat >check.py <<-'PY'
	import sys
	from rtaihelp import *
	H, S, D = 3600000, 300000, 600000
	clicks, out = lines("clicks.jsonl"), lines("out.jsonl")
	# arrival order: the watermark is the largest time so far minus the delay;
	# a record counts in each of its windows whose end is past the watermark
	wins, top, partial = {}, None, 0
	for c in clicks:
	    t = ms(c["event_time"])
	    top = t if top is None else max(top, t)
	    w = top - D
	    starts = range((t - H) // S * S + S, t // S * S + 1, S)
	    kept = [s for s in starts if s + H > w]
	    partial += 0 < len(kept) < len(starts)
	    for s in kept:
	        wins.setdefault((c["user_id"], s), []).append(float(c["amount"]))
	want = sorted(wins.items(), key=lambda kv: (kv[0][1], kv[0][0]))
	bad = 0
	if len(out) != len(want):
	    bad += 1; print("windows: got", len(out), "want", len(want))
	for o, ((u, s), xs) in zip(out, want):
	    if (o["user_id"], o["window_start"], o["window_end"], o["count"]) != (u, iso(s), iso(s + H), len(xs)) \
	       or not close(o["sum_amount"], xs) or len(o) != 5:
	        bad += 1
	        if bad < 6: print("got", o, "want", u, iso(s), len(xs), float(sum(F(x) for x in xs)))
	print(len(out), "windows,", bad, "wrong; records late for some of their windows:", partial > 0)
	sys.exit(bad > 0 or partial == 0)
	PY
	run python3 check.py
	echo "$output"
	assert_success
	assert_output --regexp '^[0-9]+ windows, 0 wrong; records late for some of their windows: True$'
}

@test "readme: live tumbling --emit update --idle 5s: each window's updates count 1, 2, ... and the last equals a python3 brute force" {
	block=$(readme_block '--tumbling 1m --emit update --idle 5s')
	echo "$block"
	# The README's live source, ended: -n 3000 added (3 s at its rate), and
	# a tap of what it generated for the brute force.
	block=$(subst "$block" 'rtai-gen clicks --rate 1000 --start now ' 'rtai-gen clicks --rate 1000 --start now -n 3000 ')
	block=$(subst "$block" ' | rtai-cat | ' ' | tee gen.jsonl | rtai-cat | ')
	echo "--- run as:"
	echo "$block"
	timeout 120 bash -e -o pipefail -c "${block%$'\n'} | rtai-cat -p >all.out"
	write_pyhelp
	cat >check.py <<-'PY'
	import sys
	from rtaihelp import *
	want = {}
	for c in lines("gen.jsonl"):
	    s = ms(c["event_time"]) // 60000 * 60000
	    k = (c["user_id"], iso(s), iso(s + 60000))
	    want[k] = want.get(k, 0) + 1
	last, bad = {}, 0
	for o in lines("all.out"):
	    k = (o["user_id"], o["window_start"], o["window_end"])
	    if list(o) != ["user_id", "window_start", "window_end", "count"] or o["count"] != last.get(k, 0) + 1:
	        bad += 1; print("unexpected", o, "after", last.get(k)); continue
	    last[k] = o["count"]
	if last != want:
	    bad += 1
	    print("final counts differ:", sorted(set(last.items()) ^ set(want.items()))[:10])
	print(len(want), "windows,", sum(want.values()), "clicks,", bad, "wrong")
	sys.exit(bad > 0 or sum(want.values()) != 3000)
	PY
	run python3 check.py
	echo "$output"
	assert_success
	assert_output --regexp '^[0-9]+ windows, 3000 clicks, 0 wrong$'
}

@test "readme: per-card velocity --over 1h into Redis --hash --fields: every record's tx_1h, amount_1h, max_1h and each card's hash equal a python3 brute force" {
	redis_start
	block=$(readme_block 'rtai-gen transactions --rate 2000 --start now')
	echo "$block"
	# The README's live source made finite and replayable: -n 6000 --keys 50
	# --step 2s instead of --rate 2000 --start now (3h20m of event time, so
	# transactions leave the hour); the rest as printed, into a private
	# Redis, with taps of the input and of rtai-window's output.
	block=$(subst "$block" 'rtai-gen transactions --rate 2000 --start now ' 'rtai-gen transactions -n 6000 --keys 50 --step 2s ')
	block=$(subst "$block" ' | rtai-cat | ' ' | tee tx.jsonl | rtai-cat | ')
	block=$(subst "$block" ' | rtai-sink-redis ' " | tee over.rtai | rtai-sink-redis -u $REDIS_URL ")
	echo "--- run as:"
	echo "$block"
	timeout 120 bash -e -o pipefail -c "$block"
	rtai-cat -p over.rtai >over.jsonl
	for k in $(rcli --scan --pattern 'features:card:*'); do
		printf '%s\t%s\n' "$k" "$(rcli ttl "$k")" >>ttl.txt
		rcli hgetall "$k" | paste - - | sed "s/^/$k\t/"
	done >redis.txt
	head -6 redis.txt ttl.txt
	write_pyhelp
	cat >check.py <<-'PY'
	import sys
	from rtaihelp import *
	H = 3600000
	tx, out = lines("tx.jsonl"), lines("over.jsonl")
	assert len(tx) == len(out) == 6000, (len(tx), len(out))
	by, last, bad, left = {}, {}, 0, 0
	for c, o in zip(sorted(tx, key=lambda c: ms(c["event_time"])), out):
	    a, t = c["account_id"], ms(c["event_time"])
	    by.setdefault(a, []).append((t, float(c["amount"])))
	    xs = [x for s, x in by[a] if t - H < s <= t]
	    left += len(xs) < len(by[a])
	    want = dict(c, amount=float(c["amount"]))
	    got = {k: v for k, v in o.items() if k not in ("tx_1h", "amount_1h", "max_1h")}
	    if got != want or o["tx_1h"] != len(xs) or type(o["tx_1h"]) is not int \
	       or not close(o["amount_1h"], xs) or o["max_1h"] != max(xs):
	        bad += 1
	        if bad < 6: print("got", o, "want", len(xs), float(sum(F(x) for x in xs)), max(xs))
	    last[a] = o
	# Redis: one hash per card, exactly the three fields, of its latest record
	redis, ttl = {}, {}
	for l in open("redis.txt"):
	    k, f, v = l.rstrip("\n").split("\t")
	    redis.setdefault(k, {})[f] = v
	for l in open("ttl.txt"):
	    k, v = l.split()
	    ttl[k] = int(v)
	if sorted(redis) != sorted("features:card:" + a for a in last):
	    bad += 1; print("keys", sorted(redis)[:5], "want", sorted(last)[:5])
	for a, o in last.items():
	    h = redis.get("features:card:" + a, {})
	    if sorted(h) != ["amount_1h", "max_1h", "tx_1h"] or h["tx_1h"] != str(o["tx_1h"]) \
	       or float(h["amount_1h"]) != o["amount_1h"] or float(h["max_1h"]) != o["max_1h"]:
	        bad += 1; print("redis", a, h, "want", o)
	    if not 0 < ttl.get("features:card:" + a, -9) <= 7200:
	        bad += 1; print("ttl", a, ttl.get("features:card:" + a))
	print(len(out), "records,", len(last), "cards,", bad, "wrong; the hour left some behind:", left > 0)
	sys.exit(bad > 0 or left == 0)
	PY
	run python3 check.py
	echo "$output"
	assert_success
	assert_output '6000 records, 50 cards, 0 wrong; the hour left some behind: True'
}

@test "readme: join --fields country,tier adds exactly those fields of the matching profile (python3 brute force)" {
	block=$(readme_block '--fields country,tier')
	echo "$block"
	rtai-gen clicks -n 1000 --keys 30 --step 1s >clicks.jsonl
	# profiles of u1..u20 (u21..u30 have none): other fields must not be added
	python3 -c 'import json, random
r = random.Random(7)
for i in range(1, 21):
    print(json.dumps({"user_id": "u%d" % i, "country": r.choice(["FR", "DE", "US"]), "tier": r.choice(["free", "gold"]), "age": r.randint(18, 80)}))' >users.jsonl
	bash -e -o pipefail -c "$block" >out.jsonl
	write_pyhelp
	cat >check.py <<-'PY'
	import sys
	from rtaihelp import *
	users = {u["user_id"]: u for u in lines("users.jsonl")}
	clicks, out = lines("clicks.jsonl"), lines("out.jsonl")
	bad, matched = 0, 0
	if len(out) != len(clicks): bad += 1; print("records", len(out), "want", len(clicks))
	for c, o in zip(clicks, out):
	    want = dict(c, amount=float(c["amount"]), event_time=ms(c["event_time"]))
	    if c["user_id"] in users:
	        matched += 1
	        want.update({f: users[c["user_id"]][f] for f in ("country", "tier")})
	    got = dict(o, event_time=ms(o["event_time"]))
	    if got != want:
	        bad += 1
	        if bad < 6: print("got", o, "want", want)
	print(len(out), "records,", matched, "matched,", bad, "wrong")
	sys.exit(bad > 0 or matched in (0, len(clicks)))
	PY
	run python3 check.py
	echo "$output"
	assert_success
	assert_output --regexp '^1000 records, [0-9]+ matched, 0 wrong$'
}

@test "readme: --as-of updated_at --ttl 30d: each click joins the profile version valid at its time, none older than 30 days (python3 brute force)" {
	block=$(readme_block '--as-of updated_at --ttl 30d')
	echo "$block"
	# 2000 clicks of 20 users, 30 minutes apart: 41 days
	rtai-gen clicks -n 2000 --keys 20 --step 30m >clicks.jsonl
	rtai-cat clicks.jsonl | rtai-parse -t event_time >capture.rtai
	# versions from 60 days before the first click to 45 days after, some
	# users with none, and u1 with only two versions valid from the same time
	# (the later line, tier "second", wins)
	python3 -c 'import datetime, json, random
r = random.Random(11)
t0 = datetime.datetime(2026, 11, 24, 10, tzinfo=datetime.timezone.utc)
rows = []
for i in range(2, 19):
    for _ in range(r.randint(1, 6)):
        t = t0 + datetime.timedelta(seconds=r.randint(-60 * 86400, 45 * 86400))
        rows.append({"user_id": "u%d" % i, "tier": r.choice(["free", "silver", "gold"]), "score": r.randint(0, 99),
                     "updated_at": t.strftime("%Y-%m-%dT%H:%M:%SZ")})
r.shuffle(rows)
t = (t0 + datetime.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
rows += [{"user_id": "u1", "tier": "first", "score": 1, "updated_at": t}, {"user_id": "u1", "tier": "second", "score": 2, "updated_at": t}]
for x in rows: print(json.dumps(x))' >users-history.jsonl
	bash -e -o pipefail -c "$block"
	write_pyhelp
	cat >check.py <<-'PY'
	import sys
	from rtaihelp import *
	TTL = 30 * 86400000
	hist = {}
	for n, v in enumerate(lines("users-history.jsonl")):
	    hist.setdefault(v["user_id"], []).append((ms(v["updated_at"]), n, v))
	clicks, out = lines("clicks.jsonl"), lines("training.jsonl")
	bad, kinds = 0, {"match": 0, "none": 0, "expired": 0, "tie": 0}
	if len(out) != len(clicks): bad += 1; print("records", len(out), "want", len(clicks))
	for c, o in zip(clicks, out):
	    t = ms(c["event_time"])
	    want = dict(c, amount=float(c["amount"]), event_time=t)
	    vs = [x for x in hist.get(c["user_id"], []) if x[0] <= t]
	    if not vs:
	        kinds["none"] += 1
	    else:
	        vf, _, v = max(vs, key=lambda x: (x[0], x[1]))
	        if vf < t - TTL:
	            kinds["expired"] += 1
	        else:
	            kinds["match"] += 1
            kinds["tie"] += v["tier"] == "second"
	            want.update({k: x for k, x in v.items() if k not in want})
	            want["updated_at"] = vf
	    got = dict(o, event_time=ms(o["event_time"]))
	    if "updated_at" in got: got["updated_at"] = ms(got["updated_at"])
	    if got != want:
	        bad += 1
	        if bad < 6: print("got", o, "want", want)
	print(len(out), "records,", bad, "wrong;", "every case occurs:", min(kinds.values()) > 0, kinds)
	sys.exit(bad > 0 or min(kinds.values()) == 0)
	PY
	run python3 check.py
	echo "$output"
	assert_success
	assert_output --regexp '^2000 records, 0 wrong; every case occurs: True'
}

@test "readme: the profiling pipeline (tumbling --emit update | join): every update's clicks_1m and profile equal a python3 brute force" {
	block=$(readme_block 'rtai-lat -n --slo')
	echo "$block"
	# The README's pipeline as printed (its source is bounded: -d 10s), with
	# taps of the generated clicks and of what reaches rtai-lat.
	block=$(subst "$block" ' | rtai-cat --marker-interval' ' | tee gen.jsonl | rtai-cat --marker-interval')
	block=$(subst "$block" ' | rtai-lat -n ' ' | tee joined.rtai | rtai-lat -n ')
	python3 -c 'import json
for i in range(1, 601): print(json.dumps({"user_id": "u%d" % i, "country": ["FR", "DE", "US"][i % 3], "tier": ["free", "gold"][i % 2]}))' >users.jsonl
	echo "--- run as:"
	echo "$block"
	printf '%s\necho "${PIPESTATUS[*]}" >status\n' "${block%$'\n'}" >pipeline.sh
	timeout 120 bash pipeline.sh
	# every stage ends 0; rtai-lat may say 3 when the SLO was breached (a
	# loaded machine: this test asserts no timing)
	run cat status
	echo "$output"
	assert_output --regexp '^0 0 0 0 0 0 0 [03]$'
	[ -s latency.json ] && [ -s latency.svg ]
	rtai-cat -p joined.rtai >joined.jsonl
	write_pyhelp
	cat >check.py <<-'PY'
	import sys
	from rtaihelp import *
	users = {u["user_id"]: u for u in lines("users.jsonl")}
	want, n = {}, 0
	for c in lines("gen.jsonl"):
	    n += 1
	    s = ms(c["event_time"]) // 60000 * 60000
	    k = (c["user_id"], iso(s), iso(s + 60000))
	    want[k] = want.get(k, 0) + 1
	last, bad, joined = {}, 0, 0
	for o in lines("joined.jsonl"):
	    k = (o["user_id"], o["window_start"], o["window_end"])
	    prof = {f: v for f, v in users.get(o["user_id"], {}).items() if f != "user_id"}
	    joined += bool(prof)
	    if o != dict(user_id=k[0], window_start=k[1], window_end=k[2], clicks_1m=last.get(k, 0) + 1, **prof):
	        bad += 1
	        if bad < 6: print("unexpected", o, "after", last.get(k), "profile", prof)
	        continue
	    last[k] = o["clicks_1m"]
	if last != want:
	    bad += 1
	    print("final counts differ:", sorted(set(last.items()) ^ set(want.items()))[:10])
	print(len(want), "windows,", bad, "wrong; some joined, some not:", 0 < joined < n)
	sys.exit(bad > 0 or not 0 < joined < n)
	PY
	run python3 check.py
	echo "$output"
	assert_success
	assert_output --regexp '^[0-9]+ windows, 0 wrong; some joined, some not: True$'
}

@test "readme: the fraud loop's features(): tx_10m and the as-of credit_limit, new_account equal a python3 brute force" {
	block=$(readme_block 'features() { rtai-window')
	# the block up to the end of features(): generating, capturing, the function
	block=$(printf '%s\n' "$block" | awk '{ print } /--fields credit_limit,new_account; }/ { exit }')
	echo "$block"
	[[ $block == *'--fields credit_limit,new_account; }'* ]]
	bash -e -o pipefail -c "$block"$'\nfeatures < capture.rtai | rtai-cat -p >feat.jsonl'
	write_pyhelp
	cat >check.py <<-'PY'
	import sys
	from rtaihelp import *
	M = 600000
	acc = {}
	for n, v in enumerate(lines("accounts.jsonl")):
	    acc.setdefault(v["account_id"], []).append((ms(v["event_time"]), n, v))
	tx, out = lines("tx.jsonl"), lines("feat.jsonl")
	assert len(tx) == len(out) == 4000, (len(tx), len(out))
	by, bad, left, kinds = {}, 0, 0, set()
	for c, o in zip(sorted(tx, key=lambda c: ms(c["event_time"])), out):
	    a, t = c["account_id"], ms(c["event_time"])
	    by.setdefault(a, []).append(t)
	    n10 = sum(1 for s in by[a] if t - M < s <= t)
	    left += n10 < len(by[a])
	    want = dict(c, amount=float(c["amount"]), event_time=t, tx_10m=n10)
	    vs = [x for x in acc.get(a, []) if x[0] <= t]
	    if vs:
	        v = max(vs, key=lambda x: (x[0], x[1]))[2]
	        want.update(credit_limit=v["credit_limit"], new_account=v["new_account"])
	        kinds.add(v["new_account"])
	    else:
	        kinds.add(None)
	    got = dict(o, event_time=ms(o["event_time"]))
	    if got != want or type(o["tx_10m"]) is not int:
	        bad += 1
	        if bad < 6: print("got", o, "want", want)
	print(len(out), "transactions,", bad, "wrong; the range left some behind:", left > 0, "; versions seen:", sorted(kinds, key=str))
	sys.exit(bad > 0 or left == 0)
	PY
	run python3 check.py
	echo "$output"
	assert_success
	assert_output --regexp '^4000 transactions, 0 wrong; the range left some behind: True'
}
