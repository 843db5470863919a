# common.bash - shared set-up for the bats tests of rtai.
#
# Every test runs in its own temporary directory with the built tools first
# on PATH. RTAI_EXEC_PREFIX runs each tool under a prefix, for example
#   RTAI_EXEC_PREFIX='valgrind -q --error-exitcode=99 --leak-check=full' make check
# (as zstd's --exec-prefix and jq's $VALGRIND allow).

# bats-support's and bats-assert's load.bash find each of their 15 files with
# $(dirname ...), a process each, and every test loads them again: 0.3 s of
# CPU a test. While they load, dirname is this function (for their absolute
# paths: the text before the last slash); then it is the program again.
dirname() { printf '%s\n' "${1%/*}"; }
load /usr/lib/bats/bats-support/load.bash
load /usr/lib/bats/bats-assert/load.bash
unset -f dirname

: "${RTAI_SRC:=$(cd "$BATS_TEST_DIRNAME/.." && pwd)}"
: "${RTAI_BUILD:=$RTAI_SRC}"
export RTAI_SRC RTAI_BUILD

# _rtai_python DIR: python3 in DIR runs the interpreter that python3 on
# PATH runs, found once. A version manager's python3 on PATH (pyenv's shim)
# is a shell script that starts several processes to choose the interpreter
# on every call, about 0.8 s of CPU each; the tests call python3 hundreds of
# times. The wrapper execs the interpreter by the path it reports itself
# (sys.executable), so a virtual environment stays in effect. It is a bash
# script: dash drops the exported functions (mkstream, show) from the
# environment, and python scripts run them with bash -c.
_rtai_python() {
	local py
	py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || return 0
	[ -x "$py" ] || return 0
	printf '#!/bin/bash\nexec "%s" "$@"\n' "$py" >"$1/python3"
	chmod +x "$1/python3"
}

# Wrappers so that pipelines of tools run under the prefix too.
_rtai_wrappers() {
	local dir=$BATS_RUN_TMPDIR/rtai-bin tool
	if [ ! -d "$dir" ]; then
		mkdir -p "$dir.$$"
		for tool in "$RTAI_BUILD"/rtai-*; do
			[ -x "$tool" ] && [ -f "$tool" ] || continue
			printf '#!/bin/sh\nexec %s "%s" "$@"\n' "${RTAI_EXEC_PREFIX:-}" "$tool" \
				>"$dir.$$/${tool##*/}"
			chmod +x "$dir.$$/${tool##*/}"
		done
		_rtai_python "$dir.$$"
		mv "$dir.$$" "$dir" 2>/dev/null || rm -rf "$dir.$$"
	fi
	PATH=$dir:$PATH
}
_rtai_wrappers
export PATH

# built TOOL: whether TOOL was built. A tool that this build configured
# (make check exports its programs as RTAI_TOOLS) but that is missing fails
# the test at once (exit, even from `built X || continue`). A tool left out
# at configure time (its optional library was missing) returns 1 with a
# note, so the caller moves on. Run outside make check (no RTAI_TOOLS),
# every rtai-* tool is expected.
built() {
	[ -x "$RTAI_BUILD/$1" ] && return 0
	case " ${RTAI_TOOLS-$1} " in
	*" $1 "*)
		echo "$1 is configured in this build but was not built ($RTAI_BUILD/$1)" >&2
		exit 1 ;;
	esac
	echo "# $1 is not in this build (configure left it out): skipped" >&3
	return 1
}

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	if declare -F setup_local >/dev/null; then setup_local; fi
}

teardown() {
	if declare -F teardown_local >/dev/null; then teardown_local; fi
}

# A sample clickstream (JSON Lines) with known contents.
sample_clicks() {
	cat "$RTAI_SRC/tests/data/clicks.jsonl"
}

# ---- redis-server on a free loopback port ---------------------------------
# redis_start [ARGS...] starts a private server in $BATS_TEST_TMPDIR and sets
# REDIS_PORT and REDIS_URL; redis_stop stops it. Tests call redis_stop in
# teardown_local. Extra ARGS go to redis-server (e.g. --requirepass s3cret).

redis_start() {
	local tries=0 port
	command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; return 1; }
	while [ $tries -lt 20 ]; do
		port=$(( 20000 + (RANDOM * 7 + $$ + tries * 131) % 40000 ))
		REDIS_DIR=$BATS_TEST_TMPDIR/redis-$port
		mkdir -p "$REDIS_DIR"
		redis-server --port "$port" --bind 127.0.0.1 --dir "$REDIS_DIR" \
			--save '' --appendonly no --daemonize yes \
			--pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" \
			--unixsocket "$REDIS_DIR/redis.sock" --unixsocketperm 700 "$@" >/dev/null 2>&1
		local i
		for i in $(seq 1 50); do
			if [ -s "$REDIS_DIR/redis.pid" ] && redis-cli -p "$port" ${REDIS_AUTH:+-a "$REDIS_AUTH" --no-auth-warning} ping 2>/dev/null | grep -q PONG; then
				REDIS_PORT=$port
				REDIS_URL=redis://127.0.0.1:$port
				REDIS_SOCK=$REDIS_DIR/redis.sock
				export REDIS_PORT REDIS_URL REDIS_SOCK REDIS_DIR
				return 0
			fi
			if grep -q "Address already in use" "$REDIS_DIR/redis.log" 2>/dev/null; then break; fi
			sleep 0.1
		done
		redis_stop_dir "$REDIS_DIR"
		tries=$((tries + 1))
	done
	echo "could not start redis-server" >&2
	return 1
}

redis_stop_dir() {
	local pidfile=$1/redis.pid pid
	[ -s "$pidfile" ] || return 0
	pid=$(cat "$pidfile")
	kill "$pid" 2>/dev/null || true
	# Gone, or a zombie: a daemonized server's parent is init, which may
	# reap it only seconds later, but it has closed its port already.
	for _ in $(seq 1 250); do
		kill -0 "$pid" 2>/dev/null || break
		[ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ] || break
		sleep 0.02
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$pidfile"
}

redis_stop() {
	[ -n "${REDIS_DIR:-}" ] && redis_stop_dir "$REDIS_DIR"
	return 0
}

rcli() {
	redis-cli -p "$REDIS_PORT" ${REDIS_AUTH:+-a "$REDIS_AUTH" --no-auth-warning} "$@"
}

# ---- a Redis Cluster of masters on free loopback ports ------------------------
# cluster_start DIR [N] starts N (default 3) cluster-enabled redis-servers
# with their files in DIR, joins them with redis-cli --cluster create (no
# replicas) and waits for cluster_state:ok. Sets CLUSTER_PORTS (a
# space-separated list), CLUSTER_URL (the first node) and CLUSTER_DIR.
# cluster_stop stops them all. A node's bus port is its port + 10000.
cluster_start() {
	local dir=$1 n=${2:-3} tries=0 base port i ok
	command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; return 1; }
	while [ $tries -lt 20 ]; do
		base=$(( 20000 + (RANDOM * 7 + $$ + tries * 131) % 25000 ))
		CLUSTER_DIR=$dir
		CLUSTER_PORTS=
		ok=1
		for i in $(seq 0 $((n - 1))); do
			port=$((base + i))
			mkdir -p "$dir/$port"
			CLUSTER_PORTS="$CLUSTER_PORTS${CLUSTER_PORTS:+ }$port"
			redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/$port" \
				--cluster-enabled yes --cluster-config-file nodes.conf \
				--save '' --appendonly no --daemonize yes \
				--pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log" >/dev/null 2>&1
		done
		for port in $CLUSTER_PORTS; do
			for i in $(seq 1 50); do
				redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
				grep -q "Address already in use" "$dir/$port/redis.log" 2>/dev/null && { ok=0; break; }
				sleep 0.1
			done
			redis-cli -p "$port" ping 2>/dev/null | grep -q PONG || ok=0
		done
		if [ $ok = 1 ]; then
			local addrs=
			for port in $CLUSTER_PORTS; do addrs="$addrs 127.0.0.1:$port"; done
			# shellcheck disable=SC2086
			redis-cli --cluster create $addrs --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1 || ok=0
		fi
		if [ $ok = 1 ] && cluster_wait_ok; then
			CLUSTER_URL=redis://127.0.0.1:${CLUSTER_PORTS%% *}
			export CLUSTER_PORTS CLUSTER_URL CLUSTER_DIR
			return 0
		fi
		cluster_stop
		rm -rf "${dir:?}"/*
		tries=$((tries + 1))
	done
	echo "could not start a Redis Cluster" >&2
	return 1
}

# cluster_wait_ok: waits (60 s at most) until every node says cluster_state:ok
# and agrees on who serves every slot.
cluster_wait_ok() {
	local i port good
	for i in $(seq 1 600); do
		good=1
		for port in $CLUSTER_PORTS; do
			redis-cli -p "$port" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || good=0
		done
		[ $good = 1 ] && redis-cli --cluster check "127.0.0.1:${CLUSTER_PORTS%% *}" 2>&1 |
			grep -q 'All 16384 slots covered' && return 0
		sleep 0.1
	done
	echo "the cluster never became ok" >&2
	return 1
}

cluster_stop() {
	local port
	for port in ${CLUSTER_PORTS:-}; do
		redis_stop_dir "$CLUSTER_DIR/$port"
	done
	return 0
}

# cluster_dump: every string key of every node with its value, "KEY VALUE"
# sorted, read from each node with one read-only script (so every key is
# read where it lives).
cluster_dump() {
	local port
	for port in $CLUSTER_PORTS; do
		redis-cli -p "$port" --raw eval "local out = {}
for _, k in ipairs(redis.call('KEYS', '*')) do
  if redis.call('TYPE', k).ok == 'string' then out[#out + 1] = k .. ' ' .. redis.call('GET', k)
  else out[#out + 1] = k .. ' ' .. cjson.encode(redis.call('HGETALL', k)) end
end
return out" 0
	done | sort
}

# redis_dump [DB]: every key of database DB (default 0) of the server of
# redis_start with its value, one line per key, sorted: "KEY string VALUE"
# or "KEY hash F1=V1 F2=V2..." (fields sorted), from one read-only script
# (so thousands of keys cost one round trip). Other types print their type.
redis_dump() {
	rcli -n "${1:-0}" --raw eval "
local out = {}
for _, k in ipairs(redis.call('KEYS', '*')) do
  local t = redis.call('TYPE', k).ok
  if t == 'string' then out[#out + 1] = {k, t, redis.call('GET', k)}
  elseif t == 'hash' then out[#out + 1] = {k, t, redis.call('HGETALL', k)}
  else out[#out + 1] = {k, t} end
end
return cjson.encode(out)" 0 | python3 -c '
import json, sys
rows = []
for r in json.loads(sys.stdin.read() or "[]"):
    if r[1] == "hash":
        v = r[2]
        r[2] = " ".join(sorted("%s=%s" % (v[i], v[i + 1]) for i in range(0, len(v), 2)))
    rows.append(" ".join(r))
for line in sorted(rows):
    print(line)'
}

# ---- man page examples ------------------------------------------------------
# man_examples PAGE prints the example blocks of PAGE's EXAMPLES section
# (each .Bd -literal ... .Ed block), one per record, separated by NUL bytes,
# with mdoc escapes undone. run_man_examples PAGE runs each block with bash
# -e -o pipefail in the test's directory, after copying tests/data/* there,
# so examples can use clicks.jsonl and the other sample files by name.
# A redis://127.0.0.1:6379 in an example is pointed at $REDIS_URL when a
# test has started one with redis_start, and localhost:9092 at
# $KAFKA_BROKERS when it has started the Kafka mock cluster (kafka_start).
man_examples() {
	awk '
		/^\.Sh / { ex = ($2 == "EXAMPLES") ; next }
		ex && /^\.Bd -literal/ { inblk = 1; blk = ""; next }
		ex && inblk && /^\.Ed/ { inblk = 0; printf "%s%c", blk, 0; next }
		ex && inblk { gsub(/\\e/, "\\"); gsub(/\\-/, "-"); gsub(/\\\(aq/, "\047");
			gsub(/\\&/, ""); blk = blk $0 "\n" }
	' "$RTAI_SRC/man/$1"
}

run_man_examples() {
	local page=$1 block n=0
	cp -r "$RTAI_SRC/tests/data/." .
	while IFS= read -r -d '' block; do
		n=$((n + 1))
		if [ -n "${REDIS_URL:-}" ]; then
			block=${block//redis:\/\/127.0.0.1:6379/$REDIS_URL}
		fi
		if [ -n "${KAFKA_BROKERS:-}" ]; then
			block=${block//localhost:9092/$KAFKA_BROKERS}
		fi
		echo "--- example $n of $page:"
		echo "$block"
		run bash -e -o pipefail -c "$block"
		echo "$output"
		assert_success
	done < <(man_examples "$page")
	[ "$n" -gt 0 ] || { echo "no examples in $page" >&2; return 1; }
}

# ---- streams with exact times (tests/streamtool.py) ---------------------------
# mkstream FILE: lines "SECONDS JSON" on stdin become an rtai stream of
# binary records with those event times ("-": none; "wm:SECONDS": a
# watermark; "marker": a latency marker); record n gets ingest time n ns.
# show [-w] [-t]: a stream on stdin as one JSON line per record, times in
# seconds; -t adds event and ingest ns, -w prints watermarks.
mkstream() { python3 "$RTAI_SRC/tests/streamtool.py" mk "$1"; }
show() { python3 "$RTAI_SRC/tests/streamtool.py" show "$@"; }
export -f mkstream show

# ---- independent readers from npm (DuckDB, hyparquet) -----------------------
# scripts/check installs them into .deps-node (scripts/packages.sh,
# rtai_install_npm) and exports RTAI_NODE_MODULES. need_node_modules fails
# the test, loudly, when they are missing: a test that needs a reader never
# skips itself. Run JavaScript with: NODE_PATH=$RTAI_NODE_MODULES node -e ...
: "${RTAI_NODE_MODULES:=$RTAI_SRC/.deps-node/node_modules}"
export RTAI_NODE_MODULES
need_node_modules() {
	local m
	for m in "$@"; do
		[ -d "$RTAI_NODE_MODULES/$m" ] && continue
		echo "npm package $m is missing from $RTAI_NODE_MODULES; scripts/check installs it" >&2
		return 1
	done
}

# ---- librdkafka's mock Kafka cluster (tests/kafka-mock) -----------------------
# kafka_start [TOPIC:PARTITIONS]... starts a cluster of 3 brokers on free
# loopback ports (the kernel picks them), with those topics, and sets
# KAFKA_BROKERS (the bootstrap list); kafka_cmd sends it a command ("topic T
# 4", "down 2", "up 2"; see tests/kafka-mock.c) and fails unless it answers
# "ok"; kafka_stop stops it (tests call it in teardown_local). The helper is
# a check program: `make check` builds it.
kafka_start() {
	local bin=$RTAI_BUILD/tests/kafka-mock i
	[ -x "$bin" ] || { echo "$bin is not built: make check builds it (needs librdkafka)" >&2; return 1; }
	KAFKA_DIR=$BATS_TEST_TMPDIR/kafka
	mkdir -p "$KAFKA_DIR"
	rm -f "$KAFKA_DIR/in"
	mkfifo "$KAFKA_DIR/in"
	# fd 3 closed: bats waits for every holder of it before it ends a test.
	"$bin" "$@" <"$KAFKA_DIR/in" >"$KAFKA_DIR/out" 2>"$KAFKA_DIR/err" 3>&- &
	KAFKA_PID=$!
	exec {KAFKA_FD}>"$KAFKA_DIR/in"
	KAFKA_ANSWERS=0
	for i in $(seq 1 100); do
		if [ -s "$KAFKA_DIR/out" ]; then
			KAFKA_BROKERS=$(head -1 "$KAFKA_DIR/out")
			export KAFKA_BROKERS KAFKA_DIR KAFKA_PID
			return 0
		fi
		kill -0 "$KAFKA_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "kafka-mock did not start: $(cat "$KAFKA_DIR/err")" >&2
	kafka_stop
	return 1
}

kafka_cmd() {
	local i
	echo "$*" >&"$KAFKA_FD"
	KAFKA_ANSWERS=$((KAFKA_ANSWERS + 1))
	for i in $(seq 1 200); do
		if [ "$(wc -l <"$KAFKA_DIR/out")" -gt "$KAFKA_ANSWERS" ]; then
			[ "$(sed -n "$((KAFKA_ANSWERS + 1))p" "$KAFKA_DIR/out")" = ok ] && return 0
			sed -n "$((KAFKA_ANSWERS + 1))p" "$KAFKA_DIR/out" >&2
			return 1
		fi
		sleep 0.02
	done
	echo "kafka-mock did not answer '$*'" >&2
	return 1
}

kafka_stop() {
	[ -n "${KAFKA_PID:-}" ] || return 0
	[ -z "${KAFKA_FD:-}" ] || exec {KAFKA_FD}>&-
	kill "$KAFKA_PID" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$KAFKA_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -9 "$KAFKA_PID" 2>/dev/null || true
	wait "$KAFKA_PID" 2>/dev/null || true
	KAFKA_PID= KAFKA_FD=
	return 0
}

# wait_until CMD...: polls CMD every 10 ms, for at most 120 s of wall
# clock (a slow, sanitized build; counted in seconds, not in polls, as a
# CMD may take a second itself), and fails loudly when it never holds. Not
# a timing assertion: a test waits for a state, however long it takes.
wait_until() {
	local end=$((SECONDS + 120))
	while [ "$SECONDS" -lt "$end" ]; do
		"$@" && return 0
		sleep 0.01
	done
	"$@" && return 0
	echo "never happened: $*" >&2
	return 1
}
