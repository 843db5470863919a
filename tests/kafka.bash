# kafka.bash - what tests/kafka.bats (rtai-kafka) and tests/sink-kafka.bats
# (rtai-sink-kafka) share: kcat as the independent client, background tools
# and the mock cluster stopped at the end of every test. The cluster itself
# (kafka_start, kafka_stop) is in common.bash, which valgrind.bats uses too.
# Loaded after common: `load common` then `load kafka`.

setup_local() {
	command -v kcat >/dev/null || { echo "kcat is not installed (scripts/packages.sh)" >&2; return 1; }
}

teardown_local() {
	local pid
	for pid in ${BG_PIDS:-}; do kill -9 "$pid" 2>/dev/null || true; done
	kafka_stop
}

# bg_wait PID: waits for a background tool and sets STATUS (bats' `run`
# cannot wait: it runs in a subshell).
bg_wait() {
	STATUS=0
	wait "$1" || STATUS=$?
}
