#!/usr/bin/env bats
# rtai-sink-redis and rtai-join --redis against a Redis Cluster of 3 masters
# (redis-server --cluster-enabled yes on free loopback ports, joined with
# redis-cli --cluster create): keys routed by slot to every node, a slot
# moved by hand mid-stream (ASK, then MOVED), a live reshard with
# redis-cli --cluster reshard while a stream runs, and a node down at start.
# Values are checked against what the input says, read back from each node
# where the key lives and with redis-cli -c.

load common

setup_file() {
	cluster_start "$BATS_FILE_TMPDIR/cluster"
}

teardown_file() {
	cluster_stop
}

setup_local() {
	local port
	for port in $CLUSTER_PORTS; do
		redis-cli -p "$port" flushall >/dev/null
	done
}

teardown_local() {
	[ -z "${KILL_AT_END:-}" ] || kill $KILL_AT_END 2>/dev/null || true
}

# node_of SLOT: "PORT ID" of the master serving SLOT, as CLUSTER NODES says.
node_of() {
	redis-cli -p "${CLUSTER_PORTS%% *}" cluster nodes | python3 -c '
import sys
slot = int(sys.argv[1])
for line in sys.stdin:
    f = line.split()
    if "master" not in f[2]:
        continue
    for r in f[8:]:
        if r.startswith("["):
            continue
        a, _, b = r.partition("-")
        if int(a) <= slot <= int(b or a):
            print(f[1].split("@")[0].split(":")[1], f[0])' "$1"
}

# Keys per node, one count per line, in CLUSTER_PORTS order.
node_sizes() {
	local port
	for port in $CLUSTER_PORTS; do
		redis-cli -p "$port" dbsize
	done
}

total_keys() {
	node_sizes | awk '{ n += $1 } END { print n + 0 }'
}

# keys_are N: whether the nodes hold N keys in all.
keys_are() {
	[ "$(total_keys)" -eq "$1" ]
}

# passed_are N: whether N records came out of --pass into passed.jsonl
# (each one acknowledged by its node).
passed_are() {
	[ "$(wc -l <passed.jsonl)" -eq "$1" ]
}

@test "redis-cluster: SET records into 3 masters: every value right, keys on every node, no redirect, --pass in order" {
	python3 - <<-'EOF' >in.jsonl
	import json, random
	random.seed(7)
	alpha = "abcdefghijklmnopqrstuvwxyz0123456789:_-"
	for i in range(3000):
	    if i % 3 == 0:      # a hash tag: all keys of a group share one slot
	        k = "{g%d}%d" % (i % 17, i)
	    else:
	        k = "".join(random.choice(alpha) for _ in range(random.randint(1, 20))) + str(i)
	    print(json.dumps({"id": k, "v": "val%d" % (i * 7)}))
	EOF
	rtai-cat in.jsonl | rtai-parse >in.rtai
	run sh -c "rtai-sink-redis -v -u $CLUSTER_URL -k 's:{id}' --value v --pass <in.rtai 2>err.txt | rtai-cat -p >passed.jsonl; cat err.txt"
	echo "$output"
	[ "$status" -eq 0 ]
	assert_output --partial '3000 written, 0 retried, 0 failed'
	assert_output --partial 'a cluster of 3 masters serving 16384 of 16384 slots'
	# Every key went straight to its master: Redis computed the same slots.
	assert_output --partial 'cluster: 0 records sent again to another node (MOVED, ASK)'
	# --pass: every record, in input order.
	run python3 -c '
import json, sys
a = [json.loads(l) for l in open("in.jsonl")]
b = [json.loads(l) for l in open("passed.jsonl")]
print(len(a), len(b), a == b)'
	echo "$output"
	[ "$output" = "3000 3000 True" ]
	# Read where each key lives.
	cluster_dump >got.txt
	python3 -c '
import json
for l in open("in.jsonl"):
    r = json.loads(l)
    print("s:%s %s" % (r["id"], r["v"]))' | sort >want.txt
	run diff want.txt got.txt
	echo "$output"
	[ "$status" -eq 0 ]
	# Spread over all three nodes.
	run node_sizes
	echo "$output"
	[ "${#lines[@]}" -eq 3 ]
	for n in "${lines[@]}"; do [ "$n" -gt 500 ]; done
	# And read back through redis-cli -c, which follows redirections itself.
	sed -n '1~150p' want.txt >sample.txt
	while read -r k v; do
		got=$(redis-cli -c -p "${CLUSTER_PORTS##* }" get "$k")
		[ "$got" = "$v" ] || { echo "$k: $got, want $v"; false; }
	done <sample.txt
}

@test "redis-cluster: --hash records into the cluster, with --ttl: HGETALL of each key equals its record" {
	python3 -c '
import json
for i in range(1200):
    print(json.dumps({"id": "h%d" % i, "a": i, "b": "x%d" % (i % 13)}))' >in.jsonl
	run sh -c "rtai-cat in.jsonl | rtai-parse | rtai-sink-redis -u $CLUSTER_URL -k 'h:{id}' --hash --fields a,b --ttl 1h -v 2>&1"
	echo "$output"
	[ "$status" -eq 0 ]
	assert_output --partial '1200 written, 0 retried, 0 failed'
	cluster_dump >got.txt
	run python3 -c '
import json
want = {}
for l in open("in.jsonl"):
    r = json.loads(l)
    want["h:" + r["id"]] = {"a": str(r["a"]), "b": r["b"]}
got = {}
for l in open("got.txt"):
    k, _, v = l.rstrip("\n").partition(" ")
    v = json.loads(v)
    got[k] = dict(zip(v[0::2], v[1::2]))
print(len(want), len(got), want == got)'
	echo "$output"
	[ "$output" = "1200 1200 True" ]
	# The TTL went to each key's node with its HSET.
	ttl=$(redis-cli -c -p "${CLUSTER_PORTS%% *}" pttl h:h77)
	[ "$ttl" -gt 0 ]
	[ "$ttl" -le 3600000 ]
	run node_sizes
	for n in "${lines[@]}"; do [ "$n" -gt 200 ]; done
}

@test "redis-cluster: a slot moved by hand mid-stream (MIGRATING, MIGRATE, then NODE): ASK then MOVED, nothing lost, last write wins" {
	slot=$(redis-cli -p "${CLUSTER_PORTS%% *}" cluster keyslot hot)
	read -r xport xid < <(node_of "$slot")
	for p in $CLUSTER_PORTS; do [ "$p" = "$xport" ] || { yport=$p; break; }; done
	yid=$(redis-cli -p "$yport" cluster myid)
	echo "slot $slot: from $xport ($xid) to $yport ($yid)"
	cat >gen.py <<-'EOF'
	import json, os, sys, time
	def out(k, v):
	    print(json.dumps({"id": k, "v": v}))
	def wait(f):
	    sys.stdout.flush()
	    while not os.path.exists(f):
	        time.sleep(0.01)
	hot = ["{hot}a%d" % i for i in range(400)]
	cold = ["c%d" % i for i in range(200)]
	new = ["{hot}b%d" % i for i in range(100)]
	for k in hot + cold:
	    out(k, "p1")
	wait("go2")
	for r in ("p2x", "p2"):
	    for k in hot + cold + new:
	        out(k, r)
	wait("go3")
	for r in ("p3x", "p3y", "p3"):
	    for k in hot + cold:
	        out(k, r)
	EOF
	mkfifo in.fifo
	(python3 gen.py | rtai-cat | rtai-parse >in.fifo) &
	KILL_AT_END=$!
	(rtai-sink-redis -v -u "$CLUSTER_URL" -k 'k:{id}' --value v --pass <in.fifo 2>err.txt |
		rtai-cat -p >passed.jsonl; echo $? >sink.status) &
	wait_until passed_are 600
	wait_until keys_are 600
	# Half of the slot's keys move to y; the slot is migrating: x answers
	# ASK for the keys it no longer has (and for new ones).
	redis-cli -p "$yport" cluster setslot "$slot" importing "$xid"
	redis-cli -p "$xport" cluster setslot "$slot" migrating "$yid"
	keys=$(for i in $(seq 0 2 398); do printf 'k:{hot}a%d ' "$i"; done)
	# shellcheck disable=SC2086
	redis-cli -p "$xport" migrate 127.0.0.1 "$yport" "" 0 5000 keys $keys
	touch go2
	wait_until passed_are 2000
	# The rest moves, and y owns the slot: x answers MOVED.
	keys=$(redis-cli -p "$xport" cluster getkeysinslot "$slot" 1000 | tr '\n' ' ')
	# shellcheck disable=SC2086
	redis-cli -p "$xport" migrate 127.0.0.1 "$yport" "" 0 5000 keys $keys
	for p in "$yport" "$xport" $CLUSTER_PORTS; do
		redis-cli -p "$p" cluster setslot "$slot" node "$yid"
	done
	touch go3
	wait_until [ -s sink.status ]
	cat err.txt
	[ "$(cat sink.status)" -eq 0 ]
	[ "$(wc -l <passed.jsonl)" -eq 3800 ]
	run cat err.txt
	assert_output --partial '3800 written, 0 retried, 0 failed'
	assert_output --partial ": ASK $slot 127.0.0.1:$yport"
	assert_output --partial ": MOVED $slot 127.0.0.1:$yport"
	refute_output --partial 'cluster: 0 records sent again'
	# Every key holds its last value, and the slot's keys are all on y.
	cluster_dump >got.txt
	python3 -c '
for i in range(400): print("k:{hot}a%d p3" % i)
for i in range(200): print("k:c%d p3" % i)
for i in range(100): print("k:{hot}b%d p2" % i)' | sort >want.txt
	run diff want.txt got.txt
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(redis-cli -p "$xport" cluster countkeysinslot "$slot")" -eq 0 ]
	[ "$(redis-cli -p "$yport" cluster countkeysinslot "$slot")" -eq 500 ]
}

@test "redis-cluster: redis-cli --cluster reshard moves 200 slots while a stream runs: nothing lost, every key its last value" {
	cat >gen.py <<-'EOF'
	import json, os, sys, time
	keys = ["u%d" % i for i in range(3000)]
	n = r = 0
	while not os.path.exists("stop"):
	    for k in keys:
	        print(json.dumps({"id": k, "v": "r%d" % r}))
	    n += len(keys)
	    r += 1
	    sys.stdout.flush()
	    time.sleep(0.02)
	for k in keys:
	    print(json.dumps({"id": k, "v": "final-" + k}))
	n += len(keys)
	open("count", "w").write("%d\n" % n)
	EOF
	read -r _ xid < <(node_of 0)
	yid=$(redis-cli -p "${CLUSTER_PORTS##* }" cluster myid)
	[ "$xid" != "$yid" ] || yid=$(redis-cli -p "$(echo "$CLUSTER_PORTS" | cut -d' ' -f2)" cluster myid)
	(python3 gen.py | rtai-cat | rtai-parse | rtai-sink-redis -v -u "$CLUSTER_URL" -k 'r:{id}' --value v 2>err.txt; echo $? >sink.status) &
	KILL_AT_END=$!
	wait_until keys_are 3000
	run redis-cli --cluster reshard "127.0.0.1:${CLUSTER_PORTS%% *}" --cluster-from "$xid" \
		--cluster-to "$yid" --cluster-slots 200 --cluster-yes
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	touch stop
	wait_until [ -s sink.status ]
	cat err.txt
	[ "$(cat sink.status)" -eq 0 ]
	run cat err.txt
	assert_output --partial "$(cat count) written, 0 retried, 0 failed"
	refute_output --partial 'cluster: 0 records sent again'
	cluster_dump >got.txt
	python3 -c '
for i in range(3000): print("r:u%d final-u%d" % (i, i))' | sort >want.txt
	run diff want.txt got.txt
	echo "$output"
	[ "$status" -eq 0 ]
	cluster_wait_ok
}

@test "redis-cluster: rtai-join --redis looks keys up on every node" {
	for i in $(seq 0 59); do
		redis-cli -c -p "${CLUSTER_PORTS%% *}" hset "user:u$i" tier "t$i" n "$i" >/dev/null
	done
	run node_sizes
	echo "$output"
	for n in "${lines[@]}"; do [ "$n" -gt 5 ]; done
	python3 -c '
import json
for i in range(300):
    print(json.dumps({"user_id": "u%d" % (i * 7 % 80), "i": i}))' >in.jsonl
	run sh -c "rtai-cat in.jsonl | rtai-parse | rtai-join --redis $CLUSTER_URL --redis-key 'user:{user_id}' --cache 16 | rtai-cat -p >out.jsonl"
	echo "$output"
	[ "$status" -eq 0 ]
	run python3 -c '
import json
want = []
for l in open("in.jsonl"):
    r = json.loads(l)
    n = int(r["user_id"][1:])
    if n < 60:
        r["tier"] = "t%d" % n
        r["n"] = n
    want.append(r)
got = [json.loads(l) for l in open("out.jsonl")]
print(len(want), len(got), want == got)'
	echo "$output"
	[ "$output" = "300 300 True" ]
}

@test "redis-cluster: --help of both tools says a cluster master will do" {
	run rtai-sink-redis --help
	echo "$output"
	[ "$status" -eq 0 ]
	assert_output --partial 'any master of a Redis Cluster'
	run rtai-join --help
	echo "$output"
	[ "$status" -eq 0 ]
	assert_output --partial 'any master of a Redis Cluster'
}

# Last: it stops a node for good.
@test "redis-cluster: a master down at start: a clear error naming it, exit status 1" {
	down=${CLUSTER_PORTS##* }
	redis_stop_dir "$CLUSTER_DIR/$down"
	echo '{"id":"a","v":1}' | rtai-cat | rtai-parse >in.rtai
	run rtai-sink-redis -u "$CLUSTER_URL" --retry-for 300ms -k 'k:{id}' --value v <in.rtai
	echo "$output"
	[ "$status" -eq 1 ]
	assert_output --partial "rtai-sink-redis: cluster node redis://127.0.0.1:$down: connect: Connection refused"
	assert_output --partial "--retry-for waits longer"
	run rtai-join --redis "$CLUSTER_URL" --redis-key 'user:{id}' <in.rtai
	echo "$output"
	[ "$status" -eq 1 ]
	assert_output --partial "rtai-join: cluster node redis://127.0.0.1:$down: connect: Connection refused"
}
