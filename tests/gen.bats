#!/usr/bin/env bats
# rtai-gen: synthetic streams, deterministic by seed, with keys, skew,
# disorder, late and bad records.

load common

teardown_local() {
	redis_stop
}

@test "gen: clicks have the documented fields and compact JSON" {
	run rtai-gen clicks -n 3
	echo "$output"
	assert_success
	assert_line --index 0 '{"user_id":"u703","item_id":"i5205","action":"view","amount":0.00,"event_time":"2026-11-24T10:00:00.000Z"}'
	assert_line --index 2 --regexp '^\{"user_id":"u[0-9]+","item_id":"i[0-9]+","action":"(view|click|buy)","amount":[0-9]+\.[0-9]{2},"event_time":"2026-11-24T10:00:00\.002Z"\}$'
	rtai-gen clicks -n 1000 >c.jsonl
	run sh -c 'jq -c . c.jsonl | wc -l'
	assert_output 1000
	run grep -c ' ' c.jsonl
	assert_output 0
	run sh -c "jq -r .action c.jsonl | sort -u | tr '\n' ' '"
	assert_output 'buy click view '
	# buys carry an amount, the rest 0.00
	run jq -r 'select(.action != "buy") | .amount' c.jsonl
	refute_output --partial '.'
	run jq -r 'select(.action == "buy") | select(.amount < 1 or .amount > 500)' c.jsonl
	assert_output ''
}

@test "gen: transactions and sensors have their fields" {
	run sh -c 'rtai-gen transactions -n 500 | jq -c "keys"  | sort -u'
	echo "$output"
	assert_output '["account_id","amount","country","event_time","merchant"]'
	run sh -c 'rtai-gen transactions -n 500 | jq -r ".account_id[:4], .merchant[:1], (.country|length)" | sort -u | tr "\n" " "'
	assert_output '2 acct m '
	run sh -c 'rtai-gen sensors -n 500 | jq -c "keys" | sort -u'
	assert_output '["device_id","event_time","humidity","status","temperature"]'
	run sh -c 'rtai-gen sensors -n 2000 | jq -r "select(.temperature < 13 or .temperature > 32 or .humidity < 30 or .humidity > 70)"'
	assert_output ''
	run sh -c 'rtai-gen sensors -n 2000 | jq -r .status | sort -u | tr "\n" " "'
	assert_output 'error ok warn '
	# each device stays near its own base temperature
	run sh -c 'rtai-gen sensors -n 5000 --keys 3 | jq -r "[.device_id, .temperature] | @tsv" |
		awk "{ if (!(\$1 in lo) || \$2 < lo[\$1]) lo[\$1] = \$2; if (\$2 > hi[\$1]) hi[\$1] = \$2 }
		     END { for (d in lo) if (hi[d] - lo[d] > 4.01) print d, lo[d], hi[d] }"'
	assert_output ''
}

@test "gen: the same seed gives the same bytes; another seed differs" {
	rtai-gen clicks -n 2000 --seed 42 --zipf 1 --disorder 1s --late 0.1 --bad 0.1 >a
	rtai-gen clicks -n 2000 --seed 42 --zipf 1 --disorder 1s --late 0.1 --bad 0.1 >b
	run cmp a b
	assert_success
	rtai-gen clicks -n 2000 --seed 43 --zipf 1 --disorder 1s --late 0.1 --bad 0.1 >c
	run cmp -s a c
	assert_failure
	# the default seed is 1
	rtai-gen sensors -n 100 >d
	run sh -c 'rtai-gen sensors -n 100 -s 1 | cmp - d'
	assert_success
}

@test "gen: -n counts records; -n 0 writes nothing" {
	run sh -c 'rtai-gen transactions -n 12345 | wc -l'
	assert_output 12345
	run sh -c 'rtai-gen sensors --count 7 --bad 0.5 | wc -l'
	assert_output 7
	run rtai-gen clicks -n 0
	assert_success
	assert_output ''
}

@test "gen: without -n, writes until the reader goes away, then exits 0" {
	run bash -o pipefail -c 'rtai-gen clicks | head -n 3 | wc -l'
	echo "$output"
	assert_success
	assert_output 3
	run bash -o pipefail -c 'rtai-gen sensors --rate 1000 --start now | head -n 2 | wc -l'
	assert_success
	assert_output 2
}

@test "gen: --keys bounds the key space to 1..N" {
	run sh -c 'rtai-gen clicks -n 3000 --keys 5 | jq -r .user_id | sort -u | tr "\n" " "'
	echo "$output"
	assert_output 'u1 u2 u3 u4 u5 '
	run sh -c 'rtai-gen transactions -n 10 -k 1 | jq -r .account_id | sort -u'
	assert_output acct1
	run sh -c 'rtai-gen sensors -n 3000 --zipf 2 --keys 4 | jq -r .device_id | sort -u | tr "\n" " "'
	assert_output 'dev1 dev2 dev3 dev4 '
}

@test "gen: --zipf skews keys: key 1 is far more frequent than under uniform" {
	rtai-gen clicks -n 20000 --keys 1000 --zipf 1.1 | jq -r .user_id | sort | uniq -c | sort -rn >z
	rtai-gen clicks -n 20000 --keys 1000 | jq -r .user_id | sort | uniq -c | sort -rn >u
	head -3 z u
	# Zipf(1.1) over 1000 keys: P(key 1) = 1/H = 0.17 (about 3400 of 20000);
	# uniform: 20 expected, rarely above 45.
	run awk 'NR == 1 { print $2; exit }' z
	assert_output u1
	run awk 'NR == 1 { exit !($1 > 3000 && $1 < 3800) }' z
	assert_success
	run awk 'NR == 1 { exit !($1 < 60) }' u
	assert_success
	# key 2 comes about 2^1.1 = 2.14 times less often than key 1
	run awk '$2 == "u1" { a = $1 } $2 == "u2" { b = $1 } END { r = a / b; exit !(r > 1.9 && r < 2.4) }' z
	assert_success
}

@test "gen: --disorder keeps every event time within the bound of the largest before it" {
	rtai-gen clicks -n 5000 --disorder 50ms --step 1ms >d.jsonl
	run python3 - d.jsonl <<'PY'
import json, sys
from datetime import datetime
def ms(s): return int(datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000 + 0.5)
mx, worst, back = None, 0, 0
for i, line in enumerate(open(sys.argv[1])):
    t = ms(json.loads(line)["event_time"]); c = 1795514400000 + i
    assert c - 50 < t <= c, (i, t, c)
    if mx is not None and t < mx: back += 1; worst = max(worst, mx - t)
    mx = t if mx is None else max(mx, t)
print(worst, back)
assert worst < 50 and worst > 40 and back > 1000
PY
	echo "$output"
	assert_success
	# without --disorder, event times never go back
	run sh -c 'rtai-gen sensors -n 3000 | jq -r .event_time | sort -c'
	assert_success
}

@test "gen: --late makes about that fraction of records late by --late-by" {
	rtai-gen transactions -n 10000 --late 0.1 >l.jsonl
	rtai-gen transactions -n 10000 >n.jsonl
	# late records are exactly 1h behind their on-time selves; the rest unchanged
	run python3 - l.jsonl n.jsonl <<'PY'
import json, sys
from datetime import datetime
def ms(s): return int(datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000 + 0.5)
late = 0
for a, b in zip(open(sys.argv[1]), open(sys.argv[2])):
    a, b = json.loads(a), json.loads(b)
    d = ms(b.pop("event_time")) - ms(a.pop("event_time"))
    assert a == b and d in (0, 3600000), d
    late += d != 0
print(late)
assert 850 < late < 1150
PY
	echo "$output"
	assert_success
	run sh -c 'rtai-gen clicks -n 2000 --late 1 --late-by 10m | jq -r .event_time | head -1'
	assert_output 2026-11-24T09:50:00.000Z
}

@test "gen: --bad makes about that fraction malformed, in four documented faults" {
	rtai-gen clicks -n 20000 --bad 0.05 >b.jsonl
	rtai-gen clicks -n 20000 >g.jsonl
	run sh -c 'diff g.jsonl b.jsonl | grep -c "^>"'
	echo "$output"
	[ "$output" -gt 850 ] && [ "$output" -lt 1150 ]
	# truncated lines are not JSON
	run sh -c 'grep -cv "}\$" b.jsonl'
	[ "$output" -gt 150 ] && [ "$output" -lt 350 ]
	run sh -c 'grep "}\$" b.jsonl | jq -c . >/dev/null'
	assert_success
	# wrong types, missing times, bad times
	run sh -c 'grep -c "\"amount\":\"" b.jsonl'
	[ "$output" -gt 150 ] && [ "$output" -lt 350 ]
	run sh -c 'grep "}\$" b.jsonl | grep -vc event_time'
	[ "$output" -gt 150 ] && [ "$output" -lt 350 ]
	run sh -c 'grep -c "/11/2026 25:61:00" b.jsonl'
	[ "$output" -gt 150 ] && [ "$output" -lt 350 ]
	run sh -c 'rtai-gen sensors -n 2000 --bad 1 | grep -c "\"temperature\":\""'
	[ "$output" -gt 350 ] && [ "$output" -lt 650 ]
}

@test "gen: every bad line fails rtai-parse, every other one parses" {
	rtai-gen clicks -n 5000 --bad 0.02 >b.jsonl
	rtai-gen clicks -n 5000 >g.jsonl
	nbad=$(diff g.jsonl b.jsonl | grep -c "^>")
	run sh -c 'rtai-cat b.jsonl | rtai-parse -t event_time -f user_id:string -f amount:float \
		--on-error dlq --dlq dlq.rtai | rtai-cat -p | wc -l'
	echo "$nbad bad; $output"
	assert_success
	assert_output --partial "$nbad dead-lettered"
	assert_line "$((5000 - nbad))"
	run sh -c 'rtai-cat -p dlq.rtai | jq -r .payload >dead.jsonl; diff g.jsonl b.jsonl | sed -n "s/^> //p" | cmp - dead.jsonl'
	assert_success
	# the default policy stops at the first one
	first=$(diff g.jsonl b.jsonl | sed -n '1s/^\([0-9]*\).*/\1/p')
	run sh -c 'rtai-cat b.jsonl | rtai-parse -t event_time -f amount:float >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output --partial "stdin: record $first"
}

@test "gen: --start sets the synthetic clock; --step its tick" {
	run sh -c 'rtai-gen clicks -n 3 --start 2030-01-01T00:00:59.999Z | jq -r .event_time'
	echo "$output"
	assert_output "$(printf '2030-01-01T00:00:59.999Z\n2030-01-01T00:01:00.000Z\n2030-01-01T00:01:00.001Z')"
	run sh -c 'rtai-gen sensors -n 2 --start 0 --step 1h | jq -r .event_time'
	assert_output "$(printf '1970-01-01T00:00:00.000Z\n1970-01-01T01:00:00.000Z')"
	run sh -c 'rtai-gen sensors -n 2 --start 1795514400000 | jq -r .event_time | head -1'
	assert_output 2026-11-24T10:00:00.000Z
	run sh -c 'rtai-gen sensors -n 2 --start 1969-12-31T23:59:59.9995Z --step 1ms | jq -r .event_time'
	assert_output "$(printf '1969-12-31T23:59:59.999Z\n1970-01-01T00:00:00.000Z')"
}

@test "gen: --start now follows the wall clock" {
	before=$(date +%s)
	run sh -c 'rtai-gen clicks -n 3 --start now | jq -r ".event_time | sub(\"\\\\.[0-9]+Z\$\"; \"Z\") | fromdate"'
	after=$(date +%s)
	echo "$before $output $after"
	assert_success
	for t in $output; do
		[ "$t" -ge "$before" ] && [ "$t" -le "$after" ]
	done
}

@test "gen: --rate paces records and sets the synthetic step to 1/rate" {
	run sh -c 'rtai-gen clicks -n 4 --rate 200 | jq -r .event_time'
	echo "$output"
	assert_output "$(printf '2026-11-24T10:00:00.%03dZ\n' 0 5 10 15)"
	run sh -c 'rtai-gen clicks -n 3 -r 1000 --step 1m | jq -r .event_time'
	assert_output "$(printf '2026-11-24T10:0%d:00.000Z\n' 0 1 2)"
}

@test "gen: --duration covers a span of the clock; -n stops first if smaller" {
	run sh -c 'rtai-gen clicks --duration 1s | wc -l'
	assert_output 1000
	run sh -c 'rtai-gen clicks -d 1s --step 300ms | wc -l'
	assert_output 4
	run sh -c 'rtai-gen clicks --rate 1000 --duration 100ms | wc -l'
	assert_output 100
	run sh -c 'rtai-gen clicks -d 1s -n 10 | wc -l'
	assert_output 10
	run sh -c 'rtai-gen clicks -d 0 | wc -l'
	assert_output 0
	# live: stops by the wall clock (how many records depends on the machine)
	run sh -c 'rtai-gen sensors --start now --rate 100 --duration 200ms | wc -l'
	echo "$output"
	assert_success
	[ "$output" -ge 1 ] && [ "$output" -le 21 ]
}

@test "gen: SIGTERM ends a paced stream cleanly with whole lines" {
	rtai-gen clicks --rate 100 --start now >s.jsonl &
	pid=$!
	sleep 0.3
	kill -TERM $pid
	st=0
	wait $pid || st=$?
	echo "status $st"
	[ "$st" -eq 0 ]
	run jq -c . s.jsonl
	assert_success
	[ -n "$output" ]
}

@test "gen: a write error is reported" {
	[ -w /dev/full ] || skip "no /dev/full"
	run sh -c 'rtai-gen clicks -n 10 >/dev/full'
	echo "$output"
	assert_failure 1
	assert_output --partial "rtai-gen: stdout: write: No space left on device"
}

@test "gen: bad arguments and option values are usage errors" {
	run rtai-gen
	assert_failure 2
	assert_output --partial "rtai-gen: missing KIND (clicks, transactions, sensors or accounts)"
	run rtai-gen pageviews
	assert_failure 2
	assert_output --partial "rtai-gen: 'pageviews': unknown kind"
	run rtai-gen clicks sensors
	assert_failure 2
	assert_output --partial "too many arguments"
	run rtai-gen clicks -n -1
	assert_failure 2
	assert_output --partial "--count: '-1'"
	run rtai-gen clicks -n 1e3
	assert_failure 2
	assert_output --partial "not an integer"
	run rtai-gen clicks --rate 0
	assert_failure 2
	assert_output --partial "--rate: '0': out of range"
	run rtai-gen clicks --keys 0
	assert_failure 2
	assert_output --partial "--keys: '0'"
	run rtai-gen clicks --zipf -1
	assert_failure 2
	assert_output --partial "--zipf: '-1'"
	run rtai-gen clicks --zipf 1 --keys 200000000
	assert_failure 2
	assert_output --partial "--zipf: at most 100000000 keys"
	run rtai-gen clicks --late 1.5
	assert_failure 2
	assert_output --partial "--late: '1.5': out of range (expected 0 to 1)"
	run rtai-gen clicks --bad x
	assert_failure 2
	assert_output --partial "--bad: 'x': not a number"
	run rtai-gen clicks --disorder 10
	assert_failure 2
	assert_output --partial "--disorder: '10': missing unit"
	run rtai-gen clicks --late-by soon
	assert_failure 2
	assert_output --partial "--late-by: 'soon'"
	run rtai-gen clicks --duration 1y
	assert_failure 2
	assert_output --partial "--duration: '1y'"
	run rtai-gen clicks --seed abc
	assert_failure 2
	assert_output --partial "--seed: 'abc'"
	run rtai-gen clicks --start yesterday
	assert_failure 2
	assert_output --partial "--start: 'yesterday'"
	run rtai-gen clicks --start now --step 1s
	assert_failure 2
	assert_output --partial "--step needs a synthetic clock"
	run rtai-gen clicks --step 0
	assert_failure 2
	assert_output --partial "--step: must be positive"
	run rtai-gen clicks --bogus
	assert_failure 2
	assert_output --partial "Try 'rtai-gen --help'"
}

@test "gen: --labels gives transactions a tx_id and writes their fraud labels aside" {
	run rtai-gen transactions -n 3 --labels labels.jsonl
	echo "$output"
	assert_success
	assert_line --index 0 --regexp '^\{"tx_id":"tx1","account_id":"acct[0-9]+","amount":'
	assert_line --index 2 --regexp '^\{"tx_id":"tx3",'
	run cat labels.jsonl
	echo "$output"
	assert_line --index 0 --regexp '^\{"tx_id":"tx1","fraud":[01]\}$'
	assert_line --index 2 --regexp '^\{"tx_id":"tx3","fraud":[01]\}$'
	# the transactions are those without --labels, plus their ids; one
	# label per line
	rtai-gen transactions -n 3000 --disorder 2s --late 0.01 --labels l2.jsonl >with
	rtai-gen transactions -n 3000 --disorder 2s --late 0.01 >without
	run sh -c 'sed "s/^{\"tx_id\":\"tx[0-9]*\",/{/" with | cmp - without && wc -l <l2.jsonl'
	echo "$output"
	assert_output 3000
	run sh -c 'jq -r .tx_id l2.jsonl | uniq | wc -l'
	assert_output 3000
}

@test "gen: the fraud rule of rtai-gen(1), checked independently, and --label-noise" {
	rtai-gen transactions -n 20000 --keys 200 --step 2s --disorder 5s --labels exact.jsonl --label-noise 0 >tx.jsonl
	rtai-gen transactions -n 20000 --keys 200 --step 2s --disorder 5s --labels noisy.jsonl >/dev/null
	rtai-gen accounts --keys 200 >accounts.jsonl
	run python3 - <<-'EOF'
	import json
	from datetime import datetime
	def ms(s): return round(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)
	acct = {}
	for r in map(json.loads, open("accounts.jsonl")):
	    if r["new_account"]:
	        acct[r["account_id"]] = (ms(r["event_time"]), r["credit_limit"])
	recent, rule = {}, {}
	for r in map(json.loads, open("tx.jsonl")):
	    t = ms(r["event_time"])
	    opened, limit = acct[r["account_id"]]
	    prev = recent.setdefault(r["account_id"], [])
	    burst = len(prev) == 2 and all(t - 600000 < p <= t for p in prev)
	    rule[r["tx_id"]] = int(r["amount"] > limit / 2 and (t - opened < 90 * 86400000 or burst))
	    recent[r["account_id"]] = (prev + [t])[-2:]
	exact = {r["tx_id"]: r["fraud"] for r in map(json.loads, open("exact.jsonl"))}
	noisy = {r["tx_id"]: r["fraud"] for r in map(json.loads, open("noisy.jsonl"))}
	print("exact", exact == rule, "fraud %.2f" % (sum(rule.values()) / len(rule)))
	flipped = sum(noisy[k] != rule[k] for k in rule) / len(rule)
	print("noise", 0.015 < flipped < 0.025)
	EOF
	echo "$output"
	assert_success
	assert_line --index 0 --regexp '^exact True fraud 0\.[01][0-9]$'
	assert_line --index 1 'noise True'
}

@test "gen: accounts: two profile versions per key, from the seed and the start" {
	run rtai-gen accounts --keys 3
	echo "$output"
	assert_success
	assert_line --index 0 --regexp '^\{"account_id":"acct1","home_country":"[A-Z]{2}","credit_limit":(500|1000|2000|5000|10000),"new_account":true,"event_time":"20[0-9-]+T[0-9:]+\.000Z"\}$'
	assert_line --index 1 --regexp '^\{"account_id":"acct1",.*"new_account":false,'
	assert_line --index 5 --regexp '^\{"account_id":"acct3",.*"new_account":false,'
	[ "${#lines[@]}" -eq 6 ]
	# opened within the year before --start; no longer new 90 days later
	run sh -c 'rtai-gen accounts --keys 500 --start 2026-01-01T00:00:00Z | jq -rs "
		[range(0; length; 2) as \$i | [.[\$i], .[\$i + 1]]] |
		map(((.[1].event_time | sub(\"\\\\.000Z\"; \"Z\") | fromdate) - (.[0].event_time | sub(\"\\\\.000Z\"; \"Z\") | fromdate)) / 86400) | unique | @text"'
	echo "$output"
	assert_output '[90]'
	run sh -c 'rtai-gen accounts --keys 500 | wc -l'
	assert_output 1000
	run sh -c 'rtai-gen accounts --keys 500 --start 2026-01-01T00:00:00Z | jq -r "select(.new_account) | .event_time" | sort | sed -n "1p;\$p"'
	echo "$output"
	assert_line --index 0 --regexp '^2025-0[12]-'
	assert_line --index 1 --regexp '^2025-1[12]-'
	run sh -c 'rtai-gen accounts -k 50 -s 3 | md5sum; rtai-gen accounts -k 50 -s 3 | md5sum; rtai-gen accounts -k 50 -s 4 | md5sum'
	[ "${lines[0]}" = "${lines[1]}" ] && [ "${lines[0]}" != "${lines[2]}" ]
	run sh -c 'rtai-gen accounts -k 50 -n 7 | wc -l'
	assert_output 7
	for o in "--rate 10" "--zipf 1" "--bad 0.1" "--step 1s" "--labels x" "--duration 1s"; do
		run rtai-gen accounts $o
		echo "$o: $output"
		assert_failure 2
		assert_output --partial 'accounts: only -n, --keys, --seed and --start apply'
	done
	run rtai-gen clicks --labels x
	assert_failure 2
	assert_output --partial -- '--labels applies to transactions'
	run rtai-gen transactions --label-noise 0.1
	assert_failure 2
	assert_output --partial -- '--label-noise applies to --labels'
	run rtai-gen transactions --labels x --label-noise 2
	assert_failure 2
	run rtai-gen transactions --labels x --keys 20000000
	assert_failure 2
	assert_output --partial -- '--labels: at most 10000000 keys'
	run rtai-gen transactions --labels ''
	assert_failure 2
	[ ! -e x ]
}

@test "gen: --help lists every option; --version" {
	run rtai-gen --help
	assert_success
	for o in --count --duration --rate --keys --zipf --start --step --disorder \
		--late --late-by --bad --seed --labels --label-noise --help --version \
		clicks transactions sensors accounts; do
		assert_output --partial -- "$o"
	done
	run rtai-gen --version
	assert_success
	assert_output --regexp '^rtai-gen \(rtai\) [0-9]'
}

@test "gen: man page examples run" {
	redis_start
	run_man_examples rtai-gen.1
	run rcli hget features:user:u1 clicks
	echo "$output"
	[ "$output" -gt 0 ]
}
