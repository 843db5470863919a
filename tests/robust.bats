#!/usr/bin/env bats
# Robustness: every tool against bad input, faults and hostile streams.
#
# Each case ends in the documented result, or in exit status 1 with a
# message naming the tool, the input and the record number or byte offset.
# Never a signal (status >= 128), never a hang (every run is bounded by
# timeout 10), never a silent wrong result. Tools that are not built are
# skipped, with a note in the test output.

load common

# The tools that read a stream, with minimal arguments, and the stream each
# is fed: raw (JSON payloads, as rtai-cat writes them) or typed (binary
# records with event times, as rtai-parse -t writes them).
TOOLS=(
	"rtai-cat|raw|rtai-cat"
	"rtai-cat|raw|rtai-cat -p"
	"rtai-parse|raw|rtai-parse"
	"rtai-window|typed|rtai-window --tumbling 1m -k user_id -a count -a sum:amount"
	"rtai-join|typed|rtai-join -t users.jsonl --on user_id"
	"rtai-sink-redis|typed|rtai-sink-redis -k k:{user_id} --json --dry-run"
	"rtai-lat|raw|rtai-lat -q"
)

setup_local() {
	cp "$RTAI_SRC"/tests/data/users.jsonl .
	printf '{"user_id":"u1","amount":1}\n{"user_id":"u2","amount":2}\n{"user_id":"u1","amount":3}\n' >small.jsonl
	rtai-cat small.jsonl >raw.rtai
	rtai-parse -f user_id:string -f amount:float <raw.rtai >typed.rtai
	# typed.rtai has no event times: give it some, for rtai-window.
	python3 "$RTAI_SRC/tests/robust.py" with-times <typed.rtai >t.rtai && mv t.rtai typed.rtai
}

teardown_local() {
	redis_stop
}

hostile() {
	python3 "$RTAI_SRC/tests/robust.py" "$@"
}

# run_tool CMD INPUT: runs CMD with INPUT on stdin, bounded by timeout 10;
# sets status, with stdout in out.bin and stderr in err.txt (and in err).
run_tool() {
	run_quiet "$@"
	err=$(cat err.txt)
	output=$(head -c 2000 out.bin | tr -d '\0')
}

# run_tool without reading the results back, for the loops of many runs.
run_quiet() {
	status=0
	timeout 10 $1 <"$2" >out.bin 2>err.txt || status=$?
}

# The rules every run obeys: no signal, no hang, status 0, 1 or 4 (a cut
# stream), and a status 1 or 4 explained by a message naming the tool and a
# place.
assert_sane() {
	local tool=$1 what=$2
	if [ "$status" -eq 4 ]; then
		grep -qE "^$tool: stdin: byte [0-9]+: the stream was cut" err.txt && return 0
		echo "$what: status 4 without the message of a cut stream: $(cat err.txt)"
		return 1
	fi
	if [ "$status" -ge 124 ] || [ "$status" -gt 1 ]; then
		echo "$what: status $status (a signal, a timeout or a usage error): $(cat err.txt)"
		return 1
	fi
	if [ "$status" -eq 1 ] &&
		! grep -qE "^$tool: (stdin: (record [0-9]+|byte [0-9]+)|stdin is not an rtai stream)" err.txt; then
		echo "$what: status 1 without a message naming the input and a place: $(cat err.txt)"
		return 1
	fi
}

# Frame boundaries of a stream file, one offset per line (0, 8, ...).
boundaries() {
	python3 - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
o, out = 8, [0, 8]
while o + 4 <= len(d):
    o += 4 + struct.unpack_from("<I", d, o)[0]
    out.append(o)
print("\n".join(map(str, out)))
PY
}

# ---- bad input --------------------------------------------------------------

@test "robust: text that is not a stream is refused by every reader of streams" {
	echo 'plain text' >text.txt
	for entry in "${TOOLS[@]}"; do
		IFS='|' read -r tool kind cmd <<<"$entry"
		built "$tool" || continue
		run_tool "$cmd" text.txt
		echo "$cmd: $status $err"
		assert_sane "$tool" "$cmd"
		if [ "$tool" = rtai-cat ]; then
			[ "$status" -eq 0 ]	# documented: text becomes records
		else
			[ "$status" -eq 1 ]
			[ "$err" = "$tool: stdin is not an rtai stream; pipe text through rtai-cat first" ]
		fi
	done
}

@test "robust: empty input is an empty stream, and success" {
	for entry in "${TOOLS[@]}"; do
		IFS='|' read -r tool kind cmd <<<"$entry"
		built "$tool" || continue
		run_tool "$cmd" /dev/null
		echo "$cmd: $status $err"
		[ "$status" -eq 0 ]
		[ -z "$err" ]
		if [ -s out.bin ] && [ "$cmd" != "rtai-cat -p" ]; then
			# A stream with no records: rtai-cat -p prints nothing.
			run rtai-cat -p out.bin
			[ "$status" -eq 0 ] && [ -z "$output" ]
		fi
	done
}

# The same stream as version 1 (no end-of-stream promise, no EOS frame): a
# stream that existing captures may still be.
as_v1() {
	python3 - "$1" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
assert d[4] == 2 and d[5] & 1
d[4], d[5] = 1, 0
o, last = 8, 8
while o + 4 <= len(d):
    last = o
    o += 4 + struct.unpack_from("<I", d, o)[0]
assert d[last + 4] == 5, "the last frame is not an end-of-stream frame"
sys.stdout.buffer.write(bytes(d[:last]))
PY
}

# cut_offsets FILE: every offset of the header and the first frame, then
# the end of the second frame and around it.
cut_offsets() {
	mapfile -t bounds < <(boundaries "$1")
	seq 0 "${bounds[2]}"
	echo $((bounds[2] + 1)) $((bounds[2] + 4)) $((bounds[3] - 1)) "${bounds[3]}"
}

@test "robust: a version 2 stream cut at any byte offset is reported as cut (status 4)" {
	for entry in "${TOOLS[@]}"; do
		IFS='|' read -r tool kind cmd <<<"$entry"
		built "$tool" || continue
		size=$(stat -c %s "$kind.rtai")
		for i in $(cut_offsets "$kind.rtai") "$size"; do
			head -c "$i" "$kind.rtai" >cut.rtai
			run_quiet "$cmd" cut.rtai
			assert_sane "$tool" "$cmd, cut at $i"
			if [ "$i" -eq 0 ] || [ "$i" -eq "$size" ] || { [ "$i" -lt 4 ] && [ "$tool" = rtai-cat ]; }; then
				# Nothing, the whole stream (or, for rtai-cat, text).
				[ "$status" -eq 0 ] || { echo "$cmd, cut at $i: $(cat err.txt)"; false; }
			elif [ "$i" -lt 8 ]; then
				[ "$status" -eq 1 ] || { echo "$cmd, cut at $i: status $status"; false; }
			else
				[ "$status" -eq 4 ] || { echo "$cmd, cut at $i: status $status: $(cat err.txt)"; false; }
				grep -q "^$tool: stdin: byte [0-9]*: the stream was cut" err.txt ||
					{ echo "$cmd, cut at $i: $(cat err.txt)"; false; }
			fi
		done
	done
}

@test "robust: a version 1 stream cut at every byte offset fails at the cut frame, or ends at a boundary" {
	for entry in "${TOOLS[@]}"; do
		IFS='|' read -r tool kind cmd <<<"$entry"
		built "$tool" || continue
		as_v1 "$kind.rtai" >v1.rtai
		mapfile -t bounds < <(boundaries v1.rtai)
		for i in $(cut_offsets v1.rtai); do
			head -c "$i" v1.rtai >cut.rtai
			run_quiet "$cmd" cut.rtai
			assert_sane "$tool" "$cmd, cut at $i"
			at=0
			for b in "${bounds[@]}"; do
				[ "$b" -le "$i" ] && at=$b
			done
			if [ "$at" -eq "$i" ] || { [ "$i" -lt 4 ] && [ "$tool" = rtai-cat ]; }; then
				# A frame boundary (or, for rtai-cat, text).
				[ "$status" -eq 0 ] || { echo "$cmd, cut at boundary $i: $(cat err.txt)"; false; }
			elif [ "$i" -lt 4 ]; then
				[ "$status" -eq 1 ] || { echo "$cmd, cut at $i: status $status"; false; }
			else
				[ "$status" -eq 1 ] || { echo "$cmd, cut at $i: success (silent)"; false; }
				grep -q "^$tool: stdin: byte $at: truncated frame" err.txt ||
					{ echo "$cmd, cut at $i: $(cat err.txt)"; false; }
			fi
		done
	done
}

@test "robust: a huge length field is refused before anything is allocated" {
	hostile huge-length >huge.rtai
	for entry in "${TOOLS[@]}"; do
		IFS='|' read -r tool kind cmd <<<"$entry"
		built "$tool" || continue
		run_tool "$cmd" huge.rtai
		echo "$cmd: $status $err"
		[ "$status" -eq 1 ]
		[ "$err" = "$tool: stdin: byte 8: frame of 1073741823 bytes exceeds the limit of 16777216 bytes (--max-frame)" ]
	done
}

@test "robust: flipped bytes in a valid stream: no signal, no hang, a message for each failure" {
	# The format carries no checksum: a flipped payload byte is other data,
	# so only the rules of every run are checked here. Every byte of the
	# header and of the first frame's header, then every third byte.
	for kind in raw typed; do
		mkdir flip-$kind
		python3 - $kind <<'PY'
import sys
kind = sys.argv[1]
d = open(kind + ".rtai", "rb").read()
for i in list(range(32)) + list(range(32, len(d), 3)):
    f = bytearray(d)
    f[i] ^= 0xff
    open("flip-%s/%04d" % (kind, i), "wb").write(f)
PY
	done
	for entry in "${TOOLS[@]}"; do
		IFS='|' read -r tool kind cmd <<<"$entry"
		built "$tool" || continue
		for f in flip-$kind/*; do
			run_quiet "$cmd" "$f"
			assert_sane "$tool" "$cmd, byte ${f#*/} flipped"
		done
	done
}

@test "robust: zero-length payloads are records like any other" {
	hostile zero-raw >zero-raw.rtai
	hostile zero-rec >zero-rec.rtai
	for entry in "${TOOLS[@]}"; do
		IFS='|' read -r tool kind cmd <<<"$entry"
		built "$tool" || continue
		for z in zero-raw zero-rec; do
			run_tool "$cmd" $z.rtai
			echo "$cmd <$z: $status $err"
			assert_sane "$tool" "$cmd <$z"
			case "$cmd $z" in
			"rtai-cat zero-"* | "rtai-lat -q zero-"*)
				# Forwarded unchanged.
				[ "$status" -eq 0 ]
				cmp -s out.bin $z.rtai || python3 "$RTAI_SRC/tests/robust.py" same-frames $z.rtai out.bin ;;
			"rtai-cat -p zero-raw" | "rtai-parse zero-raw")
				# An empty raw record: an empty line, or a blank one skipped.
				[ "$status" -eq 0 ] ;;
			*)
				[ "$status" -eq 1 ]
				grep -q "^$tool: stdin: record 2" err.txt ;;
			esac
		done
	done
}

@test "robust: frames of unknown kinds pass through unchanged and in order" {
	hostile unknown-kind raw >unknown-raw.rtai
	hostile unknown-kind typed >unknown-typed.rtai
	for entry in "${TOOLS[@]}"; do
		IFS='|' read -r tool kind cmd <<<"$entry"
		built "$tool" || continue
		case $cmd in *-p | *--dry-run) continue ;; esac
		run_tool "$cmd" unknown-$kind.rtai
		echo "$cmd: $status $err"
		[ "$status" -eq 0 ]
		run python3 "$RTAI_SRC/tests/robust.py" has-unknown out.bin
		echo "$output"
		assert_success
	done
}

@test "robust: invalid UTF-8: refused in JSON text, replaced when printed from binary" {
	hostile utf8-json >utf8-json.rtai
	hostile utf8-typed >utf8-typed.rtai
	if built rtai-parse; then
		run_tool rtai-parse utf8-json.rtai
		echo "$err"
		[ "$status" -eq 1 ]
		grep -q '^rtai-parse: stdin: record 2 (byte [0-9]*): invalid JSON at column 13: unable to decode byte 0xff' err.txt
	fi
	run_tool "rtai-cat -p" utf8-typed.rtai
	[ "$status" -eq 0 ]
	# U+FFFD, so the output stays valid JSON and valid UTF-8.
	[ "$output" = "$(printf '{"user_id":"u\357\277\2751","amount":2.0,"event_time":"2026-11-24T10:00:00.000Z"}')" ]
	for entry in "${TOOLS[@]}"; do
		IFS='|' read -r tool kind cmd <<<"$entry"
		built "$tool" || continue
		run_tool "$cmd" utf8-typed.rtai
		assert_sane "$tool" "$cmd"
		[ "$status" -eq 0 ] || [ "$tool" = rtai-parse ] || { echo "$cmd: $err"; false; }
	done
}

@test "robust: deeply nested, wide and enormous JSON" {
	built rtai-parse || return 0
	hostile nested-json >nested.rtai
	run_tool rtai-parse nested.rtai
	echo "$err"
	[ "$status" -eq 1 ]
	grep -q '^rtai-parse: stdin: record 2 (byte 128): invalid JSON at column [0-9]*: maximum parsing depth reached' err.txt
	hostile wide-json >wide.rtai
	run_tool rtai-parse wide.rtai
	echo "$err"
	[ "$status" -eq 1 ]
	grep -q '^rtai-parse: stdin: record 2 (byte 128): 5000 fields exceed the limit of 4096 (--max-fields or RTAI_MAX_FIELDS)' err.txt
	# 3 MB of JSON in one record is within the default limit, not within 1 MB.
	hostile long-json >long.rtai
	run_tool rtai-parse long.rtai
	[ "$status" -eq 0 ]
	run_tool "rtai-parse --max-frame 1000000" long.rtai
	echo "$err"
	[ "$status" -eq 1 ]
	grep -q '^rtai-parse: stdin: byte 128: frame of 3000[0-9]* bytes exceeds the limit of 1000000 bytes (--max-frame)' err.txt
}

@test "robust: numbers out of range, NaN and infinities" {
	if built rtai-parse; then
		hostile range-json >range.rtai
		run_tool "rtai-parse --on-error skip -v" range.rtai
		echo "$err"
		[ "$status" -eq 0 ]
		grep -q '^rtai-parse: stdin: record 2 (byte 128): invalid JSON at column 30: real number overflow' err.txt
		# an integer beyond int64 reads as a float (the nearest double)
		grep -q '2 parsed, 1 skipped' err.txt
		hostile nan-json >nan-json.rtai
		run_tool rtai-parse nan-json.rtai
		[ "$status" -eq 1 ]
		grep -q "^rtai-parse: stdin: record 2 (byte 128): invalid JSON at column 28: invalid token near 'NaN'" err.txt
	fi
	# Binary records can hold them: JSON has no NaN, so they print as null.
	hostile nan-typed >nan.rtai
	run_tool "rtai-cat -p" nan.rtai
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c '"amount":null' out.bin)" -eq 3 ]
	grep -q '"amount":2.0' out.bin
	for entry in "${TOOLS[@]}"; do
		IFS='|' read -r tool kind cmd <<<"$entry"
		built "$tool" || continue
		run_tool "$cmd" nan.rtai
		echo "$cmd: $status $err"
		[ "$status" -eq 0 ]
	done
}

@test "robust: duplicate keys are refused, in JSON and in binary records" {
	built rtai-parse || return 0
	hostile dup-json >dup-json.rtai
	run_tool rtai-parse dup-json.rtai
	echo "$err"
	[ "$status" -eq 1 ]
	grep -q "^rtai-parse: stdin: record 2 (byte 128): invalid JSON at column 25: duplicate object key" err.txt
	hostile dup-typed >dup-typed.rtai
	run_tool rtai-parse dup-typed.rtai
	echo "$err"
	[ "$status" -eq 1 ]
	grep -q "^rtai-parse: stdin: record 1 (byte 8): duplicate field name in binary record" err.txt
}

@test "robust: missing and wrongly typed fields name the record and the field" {
	if built rtai-parse; then
		hostile missing-json >m.rtai
		run_tool "rtai-parse -f user_id:string -f amount:float" m.rtai
		echo "$err"
		[ "$status" -eq 1 ]
		grep -q '^rtai-parse: stdin: record 2 (byte 128): field "user_id": missing' err.txt
		hostile types-json >t.rtai
		run_tool "rtai-parse -f user_id:string -f amount:float" t.rtai
		echo "$err"
		[ "$status" -eq 1 ]
		grep -q '^rtai-parse: stdin: record 2 (byte 128): field "user_id": expected string, got int' err.txt
	fi
	hostile missing-typed >mt.rtai
	hostile types-typed >tt.rtai
	if built rtai-window; then
		run_tool "rtai-window --tumbling 1m -k user_id -a sum:amount" tt.rtai
		echo "$err"
		[ "$status" -eq 1 ]
		[ "$err" = 'rtai-window: stdin: record 2: field "amount": expected number, got string' ]
		run_tool "rtai-window --tumbling 1m -k user_id -a sum:amount" mt.rtai
		echo "$err"
		[ "$status" -eq 1 ]
		[ "$err" = 'rtai-window: stdin: record 2: field "user_id": missing (a key field)' ]
	fi
	if built rtai-join; then
		run_tool "rtai-join -t users.jsonl --on user_id" mt.rtai
		echo "$err"
		[ "$status" -eq 1 ]
		[ "$err" = 'rtai-join: stdin: record 2: no field "user_id" (--on)
rtai-join: use --on-error skip or --on-error dlq --dlq FILE to go on' ]
	fi
	if built rtai-sink-redis; then
		run_tool "rtai-sink-redis -k k:{user_id} --json --dry-run" mt.rtai
		echo "$err"
		[ "$status" -eq 1 ]
		grep -q '^rtai-sink-redis: stdin: record 2: key: no field "user_id"' err.txt
	fi
}

@test "robust: times that do not parse name the record, the field and the text" {
	built rtai-parse || return 0
	hostile time-json >time.rtai
	run_tool "rtai-parse -t event_time --on-error skip -v" time.rtai
	echo "$err"
	[ "$status" -eq 0 ]
	grep -q '^rtai-parse: stdin: record 2 (byte 128): field "event_time": "yesterday": not an ISO 8601 time' err.txt
	grep -q '^rtai-parse: stdin: record 3 (byte [0-9]*): field "event_time": "2026-13-45T99:00:00Z": date out of range' err.txt
}

@test "robust: rtai-join's table and changelog are inputs too, checked alike" {
	built rtai-join || return 0
	printf '{"user_id":"u1","tier":"a"}\nnot json\n' >bad.jsonl
	printf '{"user_id":"u1","tier":"a"}\n{"tier":"b"}\n' >nokey.jsonl
	rtai-cat users.jsonl >upd.rtai
	head -c 40 upd.rtai >cut.rtai
	hostile huge-length >huge.rtai
	cases=(
		"-t bad.jsonl|1|rtai-join: bad.jsonl: line 2: invalid JSON at column 3: invalid token near 'not'"
		"-t nokey.jsonl|1|rtai-join: nokey.jsonl: line 2: no key field \"user_id\" (--on)"
		"-t huge.rtai|1|rtai-join: huge.rtai: byte 8: frame of 1073741823 bytes exceeds the limit of 16777216 bytes (--max-frame)"
		"-t users.jsonl -u cut.rtai|4|rtai-join: cut.rtai: byte 8: the stream was cut inside a frame (32 of 69 bytes): its writer ended without an end-of-stream frame (a crashed or killed upstream stage?)"
		"-t users.jsonl -u huge.rtai|1|rtai-join: huge.rtai: byte 8: frame of 1073741823 bytes exceeds the limit of 16777216 bytes (--max-frame)"
	)
	for entry in "${cases[@]}"; do
		IFS='|' read -r args code want <<<"$entry"
		run_tool "rtai-join --on user_id $args" typed.rtai
		echo "$args: $status $err"
		[ "$status" -eq "$code" ]
		[ "$(head -1 err.txt)" = "$want" ]
	done
}

# ---- limits -------------------------------------------------------------------

@test "robust: --max-frame bounds every reader of streams" {
	printf '{"user_id":"u1","amount":1,"pad":"%0200d"}\n' 0 | rtai-cat >big-raw.rtai
	rtai-parse <big-raw.rtai >big-typed.rtai
	python3 "$RTAI_SRC/tests/robust.py" with-times <big-typed.rtai >t.rtai && mv t.rtai big-typed.rtai
	for entry in "${TOOLS[@]}"; do
		IFS='|' read -r tool kind cmd <<<"$entry"
		built "$tool" || continue
		run_tool "$cmd --max-frame 100" big-$kind.rtai
		echo "$cmd: $status $err"
		[ "$status" -eq 1 ]
		grep -q "^$tool: stdin: byte 8: frame of [0-9]* bytes exceeds the limit of 100 bytes (--max-frame)" err.txt
	done
}

@test "robust: --max-fields, --max-keys and --max-rows bound a hostile stream" {
	if built rtai-parse; then
		run_tool "rtai-parse --max-fields 1" raw.rtai
		echo "$err"
		[ "$status" -eq 1 ]
		grep -q '^rtai-parse: stdin: record 1 (byte 8): 2 fields exceed the limit of 1 (--max-fields or RTAI_MAX_FIELDS)' err.txt
	fi
	if built rtai-window; then
		run_tool "rtai-window --tumbling 1m -k amount --max-keys 2" typed.rtai
		echo "$err"
		[ "$status" -eq 1 ]
		[ "$err" = 'rtai-window: stdin: record 3: more than 2 keys with open windows (--max-keys 2)' ]
	fi
	if built rtai-join; then
		run_tool "rtai-join -t users.jsonl --on user_id --max-rows 1" typed.rtai
		echo "$err"
		[ "$status" -eq 1 ]
		[ "$err" = 'rtai-join: users.jsonl: line 2: more than 1 rows (--max-rows)' ]
	fi
}

# ---- faults -------------------------------------------------------------------

@test "robust: a closed downstream (| head -1) ends every stage quietly and promptly" {
	built rtai-gen || return 0
	cp "$RTAI_SRC"/tests/data/users.jsonl .
	src='rtai-gen clicks | rtai-cat'
	typed="$src | rtai-parse -t event_time"
	pipes=(
		"rtai-cat|$src | rtai-cat -p | head -1"
		"rtai-parse|$typed | rtai-cat -p | head -1"
		"rtai-window|$typed | rtai-window --tumbling 1s -k user_id | rtai-cat -p | head -1"
		"rtai-join|$typed | rtai-join -t users.jsonl --on user_id | rtai-cat -p | head -1"
		"rtai-sink-redis|$typed | rtai-sink-redis -k k:{user_id} --json --dry-run | head -1"
		"rtai-lat|$src | rtai-lat -q | rtai-cat -p | head -1"
	)
	for entry in "${pipes[@]}"; do
		IFS='|' read -r tool pipeline <<<"$entry"
		built "$tool" && built rtai-parse || continue
		run timeout 10 bash -o pipefail -c "$pipeline"
		echo "$pipeline: $status: $output"
		assert_success
		# One line, and not a word on stderr (run merges it into output).
		[ "${#lines[@]}" -eq 1 ]
		[[ "${lines[0]}" == '{'* || "${lines[0]}" == SET* ]]
	done
}

@test "robust: a full disk (/dev/full) is an error and exit status 1, never success" {
	hostile nan-typed >late.rtai
	for entry in "${TOOLS[@]}"; do
		IFS='|' read -r tool kind cmd <<<"$entry"
		built "$tool" || continue
		status=0
		timeout 10 $cmd <$kind.rtai >/dev/full 2>err.txt || status=$?
		echo "$cmd >/dev/full: $status $(cat err.txt)"
		[ "$status" -eq 1 ]
		grep -q "^$tool: .*No space left on device" err.txt
	done
	# Files named by options, through a symlink: a tool that replaced its
	# output by a rename instead of writing to the device would replace the
	# link here (and fail the test), not /dev/full itself.
	ln -s /dev/full full
	files=(
		"rtai-cat|rtai-cat -o full|raw"
		"rtai-parse|rtai-parse -f amount:int --dlq full|raw"
		"rtai-window|rtai-window --tumbling 1s --late full|late"
		"rtai-lat|rtai-lat -q --json full|raw"
		"rtai-lat|rtai-lat -q --prom full|raw"
		"rtai-lat|rtai-lat -q --hgrm full|raw"
		"rtai-lat|rtai-lat -q --svg full|raw"
	)
	for entry in "${files[@]}"; do
		IFS='|' read -r tool cmd input <<<"$entry"
		built "$tool" || continue
		status=0
		timeout 10 $cmd <$input.rtai >/dev/null 2>err.txt || status=$?
		echo "$cmd: $status $(cat err.txt)"
		[ "$status" -eq 1 ]
		grep -q "^$tool: full: .*No space left on device" err.txt
		[ -L full ]
	done
}

# feed FILE: starts a writer of FILE into the FIFO in.fifo that then keeps
# it open, as a live source does; sets feeder.
feed() {
	# The last run's output must not pass for this one's progress.
	rm -f in.fifo out.bin err.txt
	mkfifo in.fifo
	{ cat "$1"; exec sleep 30; } >in.fifo 2>/dev/null &
	feeder=$!
}

# count_out RAW: the records in out.bin (lines when RAW is text).
count_out() {
	if [ "$1" = text ]; then
		wc -l <out.bin
	else
		rtai-cat -p out.bin 2>/dev/null | wc -l
	fi
}

@test "robust: SIGTERM and SIGINT mid-stream: a stage drains, then flushes the output and prints the summary" {
	printf '{"user_id":"u%d","amount":%d}\n' 1 1 2 2 3 3 4 4 | rtai-cat >sig-raw.rtai
	# Event times a minute apart: each record fires the window before it.
	rtai-parse -f user_id:string -f amount:float <sig-raw.rtai |
		python3 "$RTAI_SRC/tests/robust.py" with-times 60 >sig-typed.rtai
	# tool|input|command|records out before the signal|records out after|summary
	runs=(
		"rtai-cat|raw|rtai-cat|4|4|"
		"rtai-parse|raw|rtai-parse -v|4|4|^rtai-parse: 4 parsed"
		"rtai-window|typed|rtai-window -v --tumbling 1m -k user_id|3|4|^rtai-window: 4 records"
		"rtai-join|typed|rtai-join -v -t users.jsonl --on user_id|4|4|records: 4,"
		"rtai-sink-redis|typed|rtai-sink-redis -v -k k:{user_id} --json --dry-run|4|4|^rtai-sink-redis: 4 written"
		"rtai-lat|raw|rtai-lat|4|4|^rtai-lat: 4 records"
	)
	for sig in TERM INT; do
		for entry in "${runs[@]}"; do
			IFS='|' read -r tool kind cmd before after summary <<<"$entry"
			built "$tool" || continue
			how=stream
			[ "$tool" = rtai-sink-redis ] && how=text
			feed sig-$kind.rtai
			$cmd <in.fifo >out.bin 2>err.txt &
			pid=$!
			for _ in $(seq 200); do
				[ "$(count_out $how)" -ge "$before" ] && break
				sleep 0.05
			done
			kill -$sig $pid
			# A stage drains: it is still there, reading, until its
			# input ends.
			sleep 0.1
			kill -0 $pid
			kill $feeder 2>/dev/null || true
			wait $feeder 2>/dev/null || true
			status=0
			wait $pid || status=$?
			echo "$cmd, SIG$sig: status $status, $(count_out $how) records: $(cat err.txt)"
			[ "$status" -eq 0 ]
			[ "$(count_out $how)" -eq "$after" ]
			[ -z "$summary" ] || grep -qE "$summary" err.txt
		done
	done
}

# peak_kb CMD INPUT: the peak resident size (kB) of CMD reading INPUT while
# its standard output is a pipe that nobody reads: once the pipe is full it
# must block, not keep reading into memory.
peak_kb() {
	local cmd=$1 input=$2 pid stall last=-1 same=0 rchar hwm
	rm -f stall.fifo
	mkfifo stall.fifo
	sleep 60 <stall.fifo >/dev/null 2>&1 &
	stall=$!
	$cmd <"$input" >stall.fifo 2>/dev/null &
	pid=$!
	# Blocked: in a pipe write, or reading nothing more for a while.
	for _ in $(seq 300); do
		case $(cat /proc/$pid/wchan 2>/dev/null) in *pipe_write*) break ;; esac
		rchar=$(awk '/^rchar/ { print $2 }' /proc/$pid/io 2>/dev/null)
		if [ "$rchar" = "$last" ]; then
			same=$((same + 1))
			[ $same -ge 10 ] && break
		else
			same=0
			last=$rchar
		fi
		sleep 0.05
	done
	hwm=$(awk '/^VmHWM/ { print $2 }' /proc/$pid/status)
	kill $pid $stall 2>/dev/null || true
	wait $pid $stall 2>/dev/null || true
	echo "$hwm"
}

@test "robust: a stalled consumer keeps each stage's memory flat as input grows (backpressure)" {
	built rtai-gen || return 0
	rtai-gen clicks -n 100000 | rtai-cat >big-raw.rtai
	rtai-gen clicks -n 10000 | rtai-cat >small-raw.rtai
	rtai-parse -t event_time <big-raw.rtai >big-typed.rtai
	rtai-parse -t event_time <small-raw.rtai >small-typed.rtai
	stages=(
		"rtai-cat|raw|rtai-cat"
		"rtai-parse|raw|rtai-parse -t event_time"
		"rtai-window|typed|rtai-window --tumbling 1m -k user_id --emit update"
		"rtai-join|typed|rtai-join -t users.jsonl --on user_id"
		"rtai-sink-redis|typed|rtai-sink-redis -k k:{user_id} --json --dry-run"
		"rtai-lat|raw|rtai-lat -q"
	)
	for entry in "${stages[@]}"; do
		IFS='|' read -r tool kind cmd <<<"$entry"
		built "$tool" || continue
		small=$(peak_kb "$cmd" small-$kind.rtai)
		big=$(peak_kb "$cmd" big-$kind.rtai)
		echo "$cmd: peak RSS ${small} kB with 10k records, ${big} kB with 100k"
		echo "# $cmd: peak RSS ${small} kB with 10k records, ${big} kB with 100k" >&3
		[ -n "$small" ] && [ -n "$big" ]
		# Ten times the input, at most 2 MiB more memory.
		[ "$big" -le $((small + 2048)) ]
	done
}

# ---- static checks and security -------------------------------------------------

@test "robust: cppcheck finds nothing (each exception explained in tests/cppcheck.supp)" {
	command -v cppcheck >/dev/null || skip "cppcheck is not installed"
	cd "$RTAI_SRC"
	run cppcheck -q --enable=warning,portability --error-exitcode=1 \
		--suppressions-list=tests/cppcheck.supp -I lib lib cmd tests/fuzz tests/unit
	echo "$output"
	assert_success
	assert_output ''
}

@test "robust: no shell, and no other program, is ever run (so never with record data)" {
	run grep -nE '\b(system|popen|execl|execle|execlp|execv|execve|execvp|execvpe|posix_spawnp?|fork)[[:space:]]*\(' \
		"$RTAI_SRC"/cmd/*.c "$RTAI_SRC"/lib/*.c
	echo "$output"
	assert_failure 1
}

@test "robust: files named by options are replaced atomically (a new file renamed over the old)" {
	hostile nan-typed >late.rtai
	printf '{"amount":"x"}\n' | rtai-cat >bad.rtai
	outs=(
		"rtai-cat|rtai-cat -o F|raw"
		"rtai-parse|rtai-parse -f amount:int --dlq F|bad"
		"rtai-window|rtai-window --tumbling 1s --late F|late"
		"rtai-lat|rtai-lat -q --json F|raw"
		"rtai-lat|rtai-lat -q --prom F|raw"
		"rtai-lat|rtai-lat -q --hgrm F|raw"
		"rtai-lat|rtai-lat -q --svg F|raw"
	)
	for entry in "${outs[@]}"; do
		IFS='|' read -r tool cmd input <<<"$entry"
		built "$tool" || continue
		echo old >F
		before=$(stat -c %i F)
		# Another name for the old file: a reader that opened it before
		# the rename still sees it whole.
		ln F old-link
		timeout 10 ${cmd} <$input.rtai >/dev/null 2>err.txt || true
		echo "$cmd: inode $before -> $(stat -c %i F): $(cat err.txt)"
		[ "$(stat -c %i F)" != "$before" ]
		[ "$(cat old-link)" = old ]
		[ "$(cat F)" != old ]
		rm -f old-link
		run ls
		refute_output --partial '.tmp.'
	done
}

# killed_while_waiting FILE N CMD: runs CMD (reading the stream in.rtai
# from a FIFO that stays open, so it then waits for more) in the
# background, waits until FILE holds N records, kills CMD's last process
# with SIGKILL, and checks that FILE reads back its N records and is then
# reported cut (status 4).
killed_while_waiting() {
	local file=$1 n=$2 cmd=$3 pid i got=
	rm -f "$file" in.fifo
	mkfifo in.fifo
	bash -c "exec $cmd" <in.fifo >/dev/null 2>err.txt &
	pid=$!
	exec 7>in.fifo
	cat in.rtai >&7
	for i in $(seq 1 200); do
		got=$(rtai-cat -p "$file" 2>/dev/null | wc -l)
		[ "$got" -ge "$n" ] && break
		sleep 0.05
	done
	kill -9 "$pid"
	exec 7>&-
	wait "$pid" || true
	echo "$cmd: $got of $n records in $file while it waited"
	run rtai-cat -p "$file"
	echo "$output"
	assert_failure 4
	assert_output --regexp "$file: byte [0-9]+: the stream was cut"
	[ "$(rtai-cat -p "$file" 2>/dev/null | wc -l)" -eq "$n" ]
}

@test "robust: a tool killed -9 while it waits for input keeps its dead letters and late records: the file reads to its last whole frame, then is reported cut" {
	# Issue #13 item 12: a --dlq written in place but held in a buffer was
	# empty after a kill -9.
	cp "$RTAI_SRC/tests/data/users.jsonl" .
	for i in 1 2 3 4 5 6 7; do echo "not json $i"; echo '{"user_id":"u1","a":1,"b":2}'; done | rtai-cat >in.rtai
	killed_while_waiting bad.rtai 7 'rtai-parse --on-error dlq --dlq bad.rtai'
	for i in 1 2 3 4 5; do echo '{"a":1,"b":"x"}'; echo '{"a":1,"b":2}'; done | rtai-cat | rtai-parse >in.rtai
	killed_while_waiting bad.rtai 5 "rtai-map -s 'c=a+b' --dlq bad.rtai"
	for i in 1 2 3 4; do echo '{"x":1}'; echo '{"user_id":"u1"}'; done | rtai-cat | rtai-parse >in.rtai
	killed_while_waiting bad.rtai.zst 4 'rtai-join -t users.jsonl --on user_id --on-error dlq --dlq bad.rtai.zst'
	printf '%s\n' '100 {"k":"a"}' '1 {"k":"a"}' '2 {"k":"a"}' '3 {"k":"a"}' | python3 "$RTAI_SRC/tests/streamtool.py" mk in.rtai
	killed_while_waiting late.rtai 3 'rtai-window -k k --tumbling 10s -a count --late late.rtai'
}

@test "robust: --dlq and --late never write through a symbolic link planted at their name" {
	echo secret >victim
	printf '%s\n' 'not json' '{"a":1}' | rtai-cat >in.rtai
	ln -s victim bad.rtai
	run sh -c 'rtai-parse --on-error dlq --dlq bad.rtai <in.rtai >/dev/null'
	echo "$output"
	assert_success
	[ ! -L bad.rtai ]
	run rtai-cat -p bad.rtai
	echo "$output"
	assert_output --partial '"payload":"not json"'
	printf '%s\n' '100 {"k":"a"}' '1 {"k":"a"}' | python3 "$RTAI_SRC/tests/streamtool.py" mk in2.rtai
	ln -s victim late.rtai
	run sh -c 'rtai-window -k k --tumbling 10s -a count --late late.rtai <in2.rtai >/dev/null'
	echo "$output"
	assert_success
	[ ! -L late.rtai ]
	[ "$(rtai-cat -p late.rtai | wc -l)" -eq 1 ]
	run cat victim
	assert_output secret
}

@test "robust: a Redis password appears neither in messages nor in ps" {
	for tool in rtai-sink-redis rtai-join; do
		built "$tool" || continue
		case $tool in
		rtai-sink-redis) args="--retry-for 0 -k k --json -u" ;;
		rtai-join) args="--redis-key u:{user_id} --redis" ;;
		esac
		status=0
		timeout 10 $tool $args 'redis://:s3cretpw@127.0.0.1:1' <typed.rtai >/dev/null 2>err.txt || status=$?
		echo "$tool: $status $(cat err.txt)"
		[ "$status" -eq 1 ]
		grep -q 'redis://:\*\*\*@127.0.0.1:1' err.txt
		! grep -q s3cretpw err.txt
		status=0
		RTAI_REDIS_PASSWORD=s3cretpw timeout 10 $tool $args redis://127.0.0.1:1 <typed.rtai >/dev/null 2>err.txt || status=$?
		echo "$tool: $status $(cat err.txt)"
		[ "$status" -eq 1 ]
		! grep -q s3cretpw err.txt
	done
	built rtai-sink-redis || return 0
	# A wrong password against a real server: refused, and still not shown.
	REDIS_AUTH=right-one
	redis_start --requirepass right-one
	status=0
	timeout 10 rtai-sink-redis --retry-for 0 -u "redis://:wrong-s3cret@127.0.0.1:$REDIS_PORT" -k k --json \
		<typed.rtai >/dev/null 2>err.txt || status=$?
	redis_stop
	echo "$status $(cat err.txt)"
	[ "$status" -eq 1 ]
	! grep -q wrong-s3cret err.txt
	if [ -n "${RTAI_EXEC_PREFIX:-}" ]; then
		# ps would show the prefix's own copy of the arguments.
		echo "# under RTAI_EXEC_PREFIX: the ps check is left out" >&3
		return 0
	fi
	# While it retries, ps shows the URL with the password as "***": the
	# same line for a short and a long password, so not even its length shows.
	for pw in s3cretpw a-much-longer-s3cret; do
		feed typed.rtai
		rtai-sink-redis -u "redis://:$pw@127.0.0.1:1" --retry-for 5s -k k --json <in.fifo >/dev/null 2>err.txt &
		pid=$!
		for _ in $(seq 100); do
			tr '\0' '|' </proc/$pid/cmdline | grep -q 'redis://:\*\*\*@' && break
			sleep 0.05
		done
		cmdline=$(tr '\0' '|' </proc/$pid/cmdline)
		kill $pid $feeder 2>/dev/null || true
		wait $pid $feeder 2>/dev/null || true
		echo "$pw: [$cmdline]"
		# One line (setproctitle's form) ending in its NUL, nothing after it.
		[[ "$cmdline" == *'rtai-sink-redis -u redis://:***@127.0.0.1:1 --retry-for 5s -k k --json|' ]]
		[ "$cmdline" = "${first:-$cmdline}" ]
		first=$cmdline
		! grep -q "$pw" err.txt
	done
	# rtai-join too, with the URL given as --redis=URL, connected to a
	# server that wants that password while it waits for its input.
	built rtai-join || return 0
	REDIS_AUTH=a-long-s3cret
	redis_start --requirepass a-long-s3cret
	rtai-join --redis-key 'u:{user_id}' --redis="redis://:a-long-s3cret@127.0.0.1:$REDIS_PORT" <>in.fifo >/dev/null 2>err.txt &
	pid=$!
	for _ in $(seq 100); do
		tr '\0' '|' </proc/$pid/cmdline | grep -q '\*\*\*@' && break
		sleep 0.05
	done
	cmdline=$(tr '\0' '|' </proc/$pid/cmdline)
	# A stage drains on SIGTERM, and this input never ends: kill it outright.
	kill -9 $pid 2>/dev/null || true
	wait $pid 2>/dev/null || true
	redis_stop
	echo "[$cmdline]"
	[[ "$cmdline" == *"rtai-join --redis-key u:{user_id} --redis=redis://:***@127.0.0.1:$REDIS_PORT|" ]]
	! grep -q a-long-s3cret err.txt
	! grep -q s3cretpw err.txt
}

@test "robust: RTAI_MAX_FIELDS bounds the fields per record in every tool" {
	built rtai-window || return 0
	echo '{"u":"a","x":1,"y":2}' | rtai-cat | rtai-parse >wide.rtai
	RTAI_MAX_FIELDS=2 run sh -c 'rtai-window -k u --tumbling 1m <wide.rtai >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output --partial "3 fields exceed the limit of 2 (--max-fields or RTAI_MAX_FIELDS)"
	RTAI_MAX_FIELDS=0 run rtai-window -k u --tumbling 1m <wide.rtai
	assert_failure 2
	assert_output --partial "RTAI_MAX_FIELDS: '0'"
	# rtai-parse's option wins over the environment.
	run sh -c 'rtai-cat -p wide.rtai | rtai-cat | RTAI_MAX_FIELDS=2 rtai-parse --max-fields 3 | rtai-cat -p'
	assert_success
	assert_output '{"u":"a","x":1,"y":2}'
}

@test "robust: a tool this build configured but did not make fails the tests that need it" {
	mkdir empty
	# (bats rewrites lines that start with its test keyword, even here)
	kw=@test
	{
		echo "load \"$RTAI_SRC/tests/common\""
		echo "$kw \"needs rtai-cat\" { built rtai-cat || true; }"
		echo "$kw \"needs rtai-nope, left out by configure\" { built rtai-nope || true; }"
	} >t.bats
	# A bats of its own, without this run's BATS_* variables (its filter).
	run env RTAI_BUILD="$PWD/empty" RTAI_TOOLS="rtai-cat" bash -c 'unset ${!BATS_@}; exec bats t.bats'
	echo "$output"
	assert_failure
	assert_line "not ok 1 needs rtai-cat"
	assert_line --partial "rtai-cat is configured in this build but was not built"
	assert_line "ok 2 needs rtai-nope, left out by configure"
}

# ---- signals (rtai(7), SIGNALS) ----------------------------------------------

# pipeline_bg CMD: runs CMD (a shell pipeline) in a process group of its
# own, as a terminal runs a foreground job; sets pg (its id).
pipeline_bg() {
	setsid bash -c "$1" 3>&- &
	pg=$!
}

# wait_started FILE: until a tool has written its stream header to FILE
# (so its signal handlers are in place).
wait_started() {
	for _ in $(seq 1 200); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	echo "nothing was written to $1" >&2
	return 1
}

@test "robust: Ctrl-C on a whole pipeline drains it: what the source wrote is counted at the end" {
	pipeline_bg 'rtai-gen -r 20000 -k 50 clicks | rtai-cat | rtai-parse -v -t event_time 2>parse.err |
		rtai-window -v -k user_id --tumbling 1s -a count 2>window.err | rtai-cat -p >out.jsonl;
		echo "${PIPESTATUS[*]}" >status'
	for _ in $(seq 1 200); do
		[ -s out.jsonl ] && break
		sleep 0.05
	done
	[ -s out.jsonl ]
	# SIGINT to every process of the group at once, as Ctrl-C does.
	kill -INT -- -"$pg"
	for _ in $(seq 1 200); do
		[ -s status ] && break
		sleep 0.05
	done
	cat status parse.err window.err
	# Every stage ended normally (the source stopped, the others drained).
	[ "$(cat status)" = "0 0 0 0 0" ]
	parsed=$(sed -n 's/^rtai-parse: \([0-9]*\) parsed.*/\1/p' parse.err)
	[ "$parsed" -gt 0 ]
	grep -q "^rtai-window: $parsed records" window.err
	# The counts of the windows add up to every record parsed (jq's sum).
	run jq -s 'map(.count) | add' out.jsonl
	assert_output "$parsed"
}

@test "robust: a second SIGINT aborts at once (status 130, no end-of-stream frame)" {
	mkfifo in
	rtai-window -k user_id --tumbling 1m -a count <in >out.rtai 2>err.txt &
	pid=$!
	exec 7>in
	wait_started out.rtai
	kill -INT "$pid"
	sleep 0.2
	# The first one is drain: the stage reads on.
	kill -0 "$pid"
	kill -INT "$pid"
	st=0
	wait "$pid" || st=$?
	exec 7>&-
	[ "$st" -eq 130 ]
	run rtai-cat -p out.rtai
	echo "$output"
	[ "$status" -eq 4 ]
	assert_output --partial "the stream was cut"
}

@test "robust: SIGHUP and SIGUSR1 never end a tool" {
	mkfifo in
	rtai-window -k user_id --tumbling 1m -a count <in >out.rtai 2>err.txt &
	pid=$!
	exec 7>in
	wait_started out.rtai
	kill -HUP "$pid"
	kill -USR1 "$pid"
	sleep 0.2
	kill -0 "$pid"
	exec 7>&-
	st=0
	wait "$pid" || st=$?
	[ "$st" -eq 0 ]
}
