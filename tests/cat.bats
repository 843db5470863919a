#!/usr/bin/env bats
# rtai-cat: lines in, stream out, print back; captures; replay.

load common

@test "cat: lines in, stream out, print back identical" {
	sample_clicks >in.jsonl
	printf 'plain text\n\n  spaced  \n' >>in.jsonl
	run sh -c 'rtai-cat in.jsonl | rtai-cat -p'
	echo "$output"
	assert_success
	[ "$output" = "$(cat in.jsonl)" ]
}

@test "cat: the stream starts with the RTAI header, version 2, flag EOS" {
	echo hi | rtai-cat >out.rtai
	run sh -c 'head -c 8 out.rtai | od -An -tx1 | tr -d " \n"'
	echo "$output"
	assert_output "5254414902010000"
}

@test "cat: a finished stream ends with an end-of-stream frame (kind 5)" {
	echo hi | rtai-cat >out.rtai
	run python3 -c '
import struct, sys
b = open("out.rtai", "rb").read()
off, kinds = 8, []
while off < len(b):
    (n,) = struct.unpack_from("<I", b, off)
    kinds.append(b[off + 4])
    off += 4 + n
print(kinds, off == len(b))'
	echo "$output"
	assert_output "[1, 5] True"
}

@test "cat: concatenated streams stay valid" {
	echo a | rtai-cat >a.rtai
	printf 'b\nc\n' | rtai-cat >b.rtai
	run sh -c 'cat a.rtai b.rtai | rtai-cat -p'
	echo "$output"
	assert_success
	assert_output "$(printf 'a\nb\nc')"
}

@test "cat: streams and text files mix, in order" {
	echo a | rtai-cat >a.rtai
	echo b >b.txt
	run rtai-cat -p a.rtai b.txt a.rtai
	assert_success
	assert_output "$(printf 'a\nb\na')"
}

@test "cat: zstd capture round trip (-o FILE.zst)" {
	sample_clicks >in.jsonl
	rtai-cat -o cap.rtai.zst in.jsonl
	run zstd -t cap.rtai.zst
	assert_success
	run rtai-cat -p cap.rtai.zst
	assert_success
	[ "$output" = "$(cat in.jsonl)" ]
}

@test "cat: -z compresses stdout and zstd text input is read" {
	sample_clicks | zstd -q >in.jsonl.zst
	rtai-cat -z in.jsonl.zst >cap.zst
	run sh -c 'zstd -dc cap.zst | head -c 4'
	assert_output RTAI
	run rtai-cat -p cap.zst
	[ "$output" = "$(sample_clicks)" ]
}

@test "cat: -o writes in place and leaves no temporary file" {
	sample_clicks | rtai-cat -o cap.rtai
	run ls -A
	assert_output cap.rtai
}

@test "cat: -o creates its file exclusively: a symbolic link there is replaced, never followed" {
	echo precious >victim
	ln -s victim cap.rtai
	sample_clicks | rtai-cat -o cap.rtai
	run cat victim
	assert_output precious
	[ -f cap.rtai ] && [ ! -L cap.rtai ]
	run sh -c 'rtai-cat -p cap.rtai | wc -l'
	assert_output "$(sample_clicks | wc -l)"
	# a dangling link, too: no file is created where it points
	ln -s nowhere dangling.rtai
	sample_clicks | rtai-cat -o dangling.rtai
	[ ! -e nowhere ] && [ -f dangling.rtai ] && [ ! -L dangling.rtai ]
}

@test "cat: -o replaces an existing file with a new one, as > does; a FIFO or /dev/stdout is written as it is" {
	echo old >cap.rtai
	ln cap.rtai other-name
	sample_clicks | rtai-cat -o cap.rtai
	# a new file: the old one lives on under its other name
	run cat other-name
	assert_output old
	run sh -c 'rtai-cat -p cap.rtai | wc -l'
	assert_output "$(sample_clicks | wc -l)"
	run sh -c 'rtai-cat -o /dev/stdout "$1" | rtai-cat -p | wc -l' _ "$RTAI_SRC/tests/data/clicks.jsonl"
	echo "$output"
	assert_output "$(sample_clicks | wc -l)"
	mkdir adir
	run rtai-cat -o adir "$RTAI_SRC/tests/data/clicks.jsonl"
	echo "$output"
	assert_failure 1
	assert_output "rtai-cat: adir: Is a directory"
}

@test "cat: kill -9 during a capture leaves a file read up to its last whole frame, then reported cut" {
	for name in cap.rtai cap.rtai.zst; do
		rtai-cat --rate 5000 --loop 0 -o "$name" "$RTAI_SRC/tests/data/clicks.jsonl" &
		pid=$!
		for _ in $(seq 1 600); do
			[ "$(stat -c %s "$name" 2>/dev/null || echo 0)" -gt 3000 ] && break
			sleep 0.05
		done
		kill -9 "$pid"
		wait "$pid" || true
		run sh -c "rtai-cat -p $name 2>err | wc -l; cat err"
		echo "$name: $output"
		[ "${lines[0]}" -gt 10 ]
		assert_line --index 1 --partial "rtai-cat: $name: byte "
		assert_line --index 1 --partial "the stream was cut"
		run sh -c "rtai-cat -p $name >/dev/null"
		assert_failure 4
		# every line read is a whole record
		run sh -c "rtai-cat -p $name 2>/dev/null | jq -c .user_id | sort -u"
		assert_output "$(sample_clicks | jq -c .user_id | sort -u)"
	done
}

@test "cat: a last line without newline is kept; CRLF is stripped" {
	printf 'a\r\nb' | rtai-cat >s.rtai
	run rtai-cat -p s.rtai
	assert_output "$(printf 'a\nb')"
}

@test "cat: text that is not a stream is framed, not rejected" {
	run sh -c 'printf "xx" | rtai-cat | rtai-cat -p'
	assert_success
	assert_output xx
}

@test "cat: empty input gives an empty stream" {
	run sh -c 'rtai-cat </dev/null | od -An -tx1 | tr -d " \n" | cut -c1-32'
	echo "$output"
	assert_output '52544149020100001400000005000000'
	run sh -c 'rtai-cat </dev/null | rtai-cat -p'
	assert_success
	assert_output ''
}

@test "cat: a cut stream is a clear error with the byte offset, status 4" {
	sample_clicks | rtai-cat >s.rtai
	head -c 50 s.rtai >cut.rtai
	run rtai-cat -p cut.rtai
	echo "$output"
	assert_failure 4
	assert_output --partial "rtai-cat: cut.rtai: byte 8: the stream was cut inside a frame (42 of 120 bytes): its writer ended without an end-of-stream frame"
}

@test "cat: a truncated version 1 stream is the error it always was" {
	sample_clicks | rtai-cat >s.rtai
	{ printf 'RTAI\001\000\000\000'; tail -c +9 s.rtai | head -c 42; } >cut1.rtai
	run rtai-cat -p cut1.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial "rtai-cat: cut1.rtai: byte 8: truncated frame: 42 of 120 bytes"
}

@test "cat: a version 2 stream without its end-of-stream frame is cut; all its records are read" {
	sample_clicks | rtai-cat >s.rtai
	size=$(stat -c %s s.rtai)
	head -c $((size - 24)) s.rtai >noeos.rtai
	run sh -c 'rtai-cat -p noeos.rtai | wc -l'
	echo "$output"
	assert_output --partial "rtai-cat: noeos.rtai: byte $((size - 24)): the stream was cut: its writer ended without an end-of-stream frame (a crashed or killed upstream stage?)"
	assert_line "$(sample_clicks | wc -l)"
	run rtai-cat -p noeos.rtai
	assert_failure 4
	# passed on, the cut stays a cut: no end-of-stream frame downstream
	run sh -c 'rtai-cat noeos.rtai | rtai-cat -p >/dev/null'
	echo "$output"
	assert_failure 4
	assert_output --partial "rtai-cat: stdin: byte "
}

@test "cat: a version 1 stream without an end-of-stream frame ends normally" {
	sample_clicks | rtai-cat >s.rtai
	size=$(stat -c %s s.rtai)
	{ printf 'RTAI\001\000\000\000'; tail -c +9 s.rtai | head -c $((size - 8 - 24)); } >v1.rtai
	run sh -c 'rtai-cat -p v1.rtai | wc -l'
	echo "$output"
	assert_success
	assert_output "$(sample_clicks | wc -l)"
}

@test "cat: a header of an unknown version is refused" {
	printf 'RTAI\003\001\000\000' >v3.rtai
	run rtai-cat -p v3.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial "rtai-cat: v3.rtai: byte 0: rtai stream version 3 is not supported (this reader reads versions 1 to 2)"
}

@test "cat: an oversized frame length is rejected without allocating it" {
	printf 'RTAI\001\000\000\000\377\377\377\077' >huge.rtai
	run rtai-cat -p huge.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial "huge.rtai: byte 8: frame of 1073741823 bytes exceeds the limit of 16777216 bytes (--max-frame)"
}

@test "cat: --max-frame lowers the limit; RTAI_MAX_FRAME too" {
	printf '%0200d\n' 0 | rtai-cat >s.rtai
	run rtai-cat -p --max-frame 100 s.rtai
	assert_failure 1
	assert_output --partial "exceeds the limit of 100 bytes"
	RTAI_MAX_FRAME=100 run rtai-cat -p s.rtai
	assert_failure 1
	run rtai-cat -p --max-frame 10 s.rtai
	assert_failure 2
	assert_output --partial "--max-frame: '10': too small"
}

@test "cat: a line longer than --max-frame is an error" {
	printf '%0200d\n' 0 >long.txt
	run rtai-cat --max-frame 100 long.txt
	assert_failure 1
	assert_output --partial "long.txt: byte 0: line longer than 100 bytes"
}

@test "cat: a missing file is reported and the others still copied" {
	echo ok >a.txt
	run sh -c 'rtai-cat nosuch.txt a.txt | rtai-cat -p'
	echo "$output"
	assert_output --partial "rtai-cat: nosuch.txt: No such file or directory"
	assert_output --partial ok
	run rtai-cat -p nosuch.txt a.txt
	assert_failure 1
}

@test "cat: refuses to write a binary stream to a terminal" {
	command -v script >/dev/null || skip "script(1) is not installed"
	run script -qec "rtai-cat $RTAI_SRC/tests/data/sample.jsonl" /dev/null
	echo "$output"
	assert_output --partial "refusing to write a binary rtai stream to a terminal"
}

@test "cat: unknown frame kinds pass through unchanged" {
	python3 - <<'PY' >odd.rtai
import struct, sys
out = sys.stdout.buffer
out.write(b"RTAI\x02\x01\x00\x00")
body = struct.pack("<BBHqq", 77, 0, 0x8001, 5, 6) + b"xyz"
out.write(struct.pack("<I", len(body)) + body)
body = struct.pack("<BBHqq", 5, 0, 0, 0, 0)
out.write(struct.pack("<I", len(body)) + body)
PY
	rtai-cat odd.rtai >copy.rtai
	# all but the end-of-stream frame's stamp, which is the writer's own
	run cmp -n $(($(stat -c %s odd.rtai) - 16)) odd.rtai copy.rtai
	echo "$output"
	assert_success
	run rtai-cat -p --meta odd.rtai
	assert_output --partial '"_kind":"unknown","_kind_code":77'
}

@test "cat: --meta shows recorded times; reading a capture re-stamps ingest" {
	echo a | rtai-cat >a.rtai
	sleep 0.05
	rtai-cat a.rtai >b.rtai
	rtai-cat --keep-time a.rtai >c.rtai
	ta=$(rtai-cat -p --meta a.rtai)
	tb=$(rtai-cat -p --meta b.rtai)
	tc=$(rtai-cat -p --meta c.rtai)
	echo "$ta $tb $tc"
	[ "$ta" != "$tb" ]
	[ "$ta" = "$tc" ]
	[[ "$ta" == '{"_ingest_time":"20'*'","_event_time":null,"_raw":"a"}' ]]
}

@test "cat: --meta needs -p" {
	run rtai-cat --meta
	assert_failure 2
	assert_output --partial "--meta needs -p"
}

@test "cat: bad option values are usage errors" {
	run rtai-cat --speed 0
	assert_failure 2
	run rtai-cat --rate abc
	assert_failure 2
	assert_output --partial "--rate: 'abc': not a number"
	run rtai-cat --replay=wall
	assert_failure 2
	run rtai-cat --marker-interval 10
	assert_failure 2
	assert_output --partial "missing unit"
	run rtai-cat --loop 2
	assert_failure 2
	assert_output --partial "--loop needs files"
	run rtai-cat --bogus
	assert_failure 2
	assert_output --partial "Try 'rtai-cat --help'"
}

@test "cat: --help lists every option; --version" {
	run rtai-cat --help
	assert_success
	for o in --output --zstd --print --meta --replay --speed --rate --loop \
		--keep-time --progress --marker-interval --max-frame --verbose --help --version; do
		assert_output --partial -- "$o"
	done
	run rtai-cat --version
	assert_success
	assert_output --regexp '^rtai-cat \(rtai\) [0-9]'
}

@test "cat: the man page examples run" {
	run_man_examples rtai-cat.1
}

# A capture of 11 records with event times 0, 100ms, ..., 1s after 10:00.
make_timed_capture() {
	PYTHONPATH=$RTAI_SRC/contrib/python python3 - <<'PY' >timed.rtai
import rtai_stream as rs
w = rs.Writer()
t0 = 1795514400 * 10**9
for i in range(11):
    w.write_record({"i": i}, ingest_ns=t0, event_ns=t0 + i * 100 * 10**6)
PY
}

# ingest_gaps_ms: gaps between the _ingest_time of consecutive lines, in ms.
ingest_gaps_ms() {
	python3 -c '
import json, sys
from datetime import datetime
def ns(s):
    d, frac = s.rstrip("Z").split(".")
    return int(datetime.fromisoformat(d + "+00:00").timestamp()) * 10**9 + int(frac.ljust(9, "0"))
ts = [ns(json.loads(l)["_ingest_time"]) for l in sys.stdin]
print(" ".join("%.3f" % ((b - a) / 1e6) for a, b in zip(ts, ts[1:])))'
}

@test "cat: --replay --speed 10 paces a 1 s capture over about 0.1 s" {
	make_timed_capture
	start=$(date +%s%N)
	rtai-cat --replay --speed 10 timed.rtai >out.rtai
	end=$(date +%s%N)
	elapsed_ms=$(( (end - start) / 1000000 ))
	echo "elapsed: $elapsed_ms ms"
	# It did wait (no upper bound: a loaded machine may be slow; the
	# speed factor is checked exactly by the ingest times below).
	[ "$elapsed_ms" -ge 90 ]
	# The ingest times are the scheduled times: exactly 10 ms apart.
	gaps=$(rtai-cat -p --meta out.rtai | ingest_gaps_ms)
	echo "$gaps"
	[ "$gaps" = "10.000 10.000 10.000 10.000 10.000 10.000 10.000 10.000 10.000 10.000" ]
	# Event times are kept.
	run sh -c "rtai-cat -p --meta out.rtai | head -2 | jq -r ._event_time"
	assert_output "$(printf '2026-11-24T10:00:00.000Z\n2026-11-24T10:00:00.100Z')"
}

@test "cat: --replay=ingest paces by recorded ingest times" {
	PYTHONPATH=$RTAI_SRC/contrib/python python3 - <<'PY' >ing.rtai
import rtai_stream as rs
w = rs.Writer()
for i in range(4):
    w.write_record({"i": i}, ingest_ns=10**18 + i * 200 * 10**6)
PY
	rtai-cat --replay=ingest --speed 4 ing.rtai >out.rtai
	gaps=$(rtai-cat -p --meta out.rtai | ingest_gaps_ms)
	echo "$gaps"
	[ "$gaps" = "50.000 50.000 50.000" ]
}

@test "cat: --rate spaces records evenly, and stamps the scheduled time" {
	seq 1 6 | rtai-cat --rate 50 >out.rtai
	gaps=$(rtai-cat -p --meta out.rtai | ingest_gaps_ms)
	echo "$gaps"
	[ "$gaps" = "20.000 20.000 20.000 20.000 20.000" ]
	run sh -c 'rtai-cat -p out.rtai | tr "\n" " "'
	assert_output "1 2 3 4 5 6 "
}

@test "cat: --keep-time keeps recorded ingest times; plain copies re-stamp" {
	make_timed_capture
	rtai-cat --keep-time timed.rtai >kept.rtai
	run sh -c 'rtai-cat -p --meta kept.rtai | head -1 | jq -r ._ingest_time'
	assert_output 2026-11-24T10:00:00.000Z
	rtai-cat timed.rtai >fresh.rtai
	run sh -c 'rtai-cat -p --meta fresh.rtai | head -1 | jq -r ._ingest_time'
	refute_output 2026-11-24T10:00:00.000Z
}

@test "cat: --loop repeats a file and moves event time forward each pass" {
	make_timed_capture
	run sh -c 'rtai-cat --loop 3 timed.rtai | rtai-cat -p --meta | jq -r ._event_time | sed -n "1p;11p;12p;23p;33p"'
	echo "$output"
	assert_output "$(printf '%s\n' 2026-11-24T10:00:00.000Z 2026-11-24T10:00:01.000Z \
		2026-11-24T10:00:01.000000001Z 2026-11-24T10:00:02.000000002Z 2026-11-24T10:00:03.000000002Z)"
	run sh -c 'rtai-cat --loop 2 timed.rtai | rtai-cat -p | wc -l'
	assert_output 22
}

@test "cat: --progress reports records and bytes on stderr" {
	run sh -c "rtai-cat --progress $RTAI_SRC/tests/data/clicks.jsonl 2>err >/dev/null; cat err"
	echo "$output"
	assert_output --partial "rtai-cat: 20 records"
	assert_output --partial "100%"
}

@test "cat: --marker-interval injects latency markers stamped by rtai-cat" {
	run sh -c "rtai-cat --marker-interval 1ms $RTAI_SRC/tests/data/clicks.jsonl | rtai-cat -p --meta | grep marker"
	echo "$output"
	assert_success
	assert_line --index 0 --partial '"_kind":"marker"'
	assert_line --index 0 --partial '"_stamps":[{"stage":"rtai-cat","time":"'
	# Passing through a second rtai-cat adds a second stamp.
	run sh -c "rtai-cat --marker-interval 1h $RTAI_SRC/tests/data/clicks.jsonl | rtai-cat | rtai-cat -p --meta | grep -c '\"stage\":\"rtai-cat\".*\"stage\":\"rtai-cat\"'"
	assert_output 1
}

@test "cat: a lone record leaves at once, while the input stays open" {
	mkfifo in
	(echo first; sleep 3; echo second) >in &
	rtai-cat <in | rtai-cat -p >out &
	for _ in $(seq 1 40); do
		[ -s out ] && break
		sleep 0.05
	done
	run cat out
	echo "$output"
	assert_output first
	wait
	run cat out
	assert_output "$(printf 'first\nsecond')"
}

@test "cat: SIGTERM drains a pipe; on a file it stops reading, flushes what was read and exits cleanly" {
	mkfifo in
	(echo a; echo b; exec sleep 10) >in &
	writer=$!
	rtai-cat <in >out.rtai &
	pid=$!
	for _ in $(seq 1 40); do
		[ "$(rtai-cat -p out.rtai 2>/dev/null | wc -l)" -ge 2 ] && break
		sleep 0.05
	done
	kill -TERM $pid
	# Reading a pipe, rtai-cat is a stage: it drains (rtai(7), SIGNALS).
	sleep 0.2
	kill -0 $pid
	kill $writer 2>/dev/null || true
	st=0
	wait $pid || st=$?	# not "run wait": run's subshell cannot wait for it
	echo "status $st"
	[ "$st" -eq 0 ]
	run rtai-cat -p out.rtai
	assert_output "$(printf 'a\nb')"
	# Reading a file operand, it is the source: it stops at once.
	rm -f out.rtai
	mkfifo in2
	(echo c; echo d; exec sleep 10) >in2 &
	writer=$!
	rtai-cat in2 >out.rtai &
	pid=$!
	for _ in $(seq 1 40); do
		[ "$(rtai-cat -p out.rtai 2>/dev/null | wc -l)" -ge 2 ] && break
		sleep 0.05
	done
	kill -TERM $pid
	st=0
	wait $pid || st=$?
	kill $writer 2>/dev/null || true
	[ "$st" -eq 0 ]
	run rtai-cat -p out.rtai
	echo "$output"
	assert_success
	assert_output "$(printf 'c\nd')"
}

@test "cat: a closed downstream pipe ends rtai-cat quietly" {
	run sh -c "yes '{\"a\":1}' | head -100000 | rtai-cat | head -c 100 >/dev/null; echo done"
	assert_output done
	run sh -c "rtai-cat --loop 0 $RTAI_SRC/tests/data/clicks.jsonl | rtai-cat -p | head -1"
	echo "$output"
	assert_success
	refute_output --partial "rtai-cat:"
}

@test "cat: a full disk is an error, not success" {
	run rtai-cat -o /dev/full "$RTAI_SRC/tests/data/clicks.jsonl"
	echo "$output"
	assert_failure 1
	assert_output --partial "rtai-cat: /dev/full: write: No space left on device"
}

@test "cat: -p --meta puts the times first in typed records, empty ones included" {
	PYTHONPATH=$RTAI_SRC/contrib/python python3 - <<'PY' >typed.rtai
import rtai_stream as rs
w = rs.Writer()
w.write_record({"a": 1, "b": "x"}, ingest_ns=0, event_ns=1000000)
w.write_record({}, ingest_ns=0)
PY
	run rtai-cat -p --meta typed.rtai
	echo "$output"
	assert_success
	assert_line --index 0 '{"_ingest_time":"1970-01-01T00:00:00.000Z","_event_time":"1970-01-01T00:00:00.001Z","a":1,"b":"x"}'
	assert_line --index 1 '{"_ingest_time":"1970-01-01T00:00:00.000Z","_event_time":null}'
}

@test "cat: -p --meta prints source metadata as _ fields; bytes as base64; a tombstone as _value null" {
	PYTHONPATH=$RTAI_SRC/contrib/python python3 - <<'PY' >m.rtai
import rtai_stream as rs
w = rs.Writer()
meta = rs.encode_record({"topic": "t", "partition": 3, "offset": 42, "key": b"\x00k\xff",
                         "timestamp": rs.Time(1795514400000000000), "headers": {"h": "v"}})
w.write_record({"v": b"\xff\x01"}, ingest_ns=1)
w.put(rs.DATA, rs.ENC_JSON, b'{"a":1}', 2, None, meta=meta)
w.put(rs.DATA, rs.ENC_RAW, b"hello", 3, None, meta=meta)
w.put(rs.DATA, rs.ENC_NONE, b"", 4, None, flags=rs.F_TOMBSTONE, meta=meta)
w.put(rs.DATA, rs.ENC_RAW, b"", 5, None, meta=meta)
w.close()
PY
	key=$(python3 -c 'import base64; print(base64.b64encode(b"\x00k\xff").decode())')
	v=$(python3 -c 'import base64; print(base64.b64encode(b"\xff\x01").decode())')
	run rtai-cat -p --meta m.rtai
	echo "$output"
	assert_success
	meta='"_topic":"t","_partition":3,"_offset":42,"_key":"'$key'","_timestamp":"2026-11-24T10:00:00.000Z","_headers":{"h":"v"}'
	assert_line --index 0 '{"_ingest_time":"1970-01-01T00:00:00.000000001Z","_event_time":null,"v":"'$v'"}'
	assert_line --index 1 '{"_ingest_time":"1970-01-01T00:00:00.000000002Z","_event_time":null,'"$meta"',"a":1}'
	assert_line --index 2 '{"_ingest_time":"1970-01-01T00:00:00.000000003Z","_event_time":null,'"$meta"',"_raw":"hello"}'
	assert_line --index 3 '{"_ingest_time":"1970-01-01T00:00:00.000000004Z","_event_time":null,'"$meta"',"_value":null}'
	# a tombstone is not an empty value
	assert_line --index 4 '{"_ingest_time":"1970-01-01T00:00:00.000000005Z","_event_time":null,'"$meta"',"_raw":""}'
	# every line is JSON that jq reads
	run sh -c 'rtai-cat -p --meta m.rtai | jq -c "._key"'
	assert_line --index 1 "\"$key\""
	# without --meta: the values; the tombstone's is null
	run rtai-cat -p m.rtai
	echo "$output"
	assert_output "$(printf '%s\n' '{"v":"'$v'"}' '{"a":1}' hello null '')"
	# forwarded, the metadata goes with each record
	rtai-cat m.rtai | rtai-cat >copy.rtai
	run sh -c 'rtai-cat -p --meta copy.rtai | jq -r "._offset"'
	assert_output "$(printf '%s\n' null 42 42 42 42)"
}

@test "cat: -p --meta prints a schema frame's JSON and a barrier's record" {
	PYTHONPATH=$RTAI_SRC/contrib/python python3 - <<'PY' >c.rtai
import rtai_stream as rs
w = rs.Writer()
w.put(rs.SCHEMA, rs.ENC_JSON, b'{"fields":[{"name":"a","type":"int","optional":false}]}', 1, None)
w.put(rs.BARRIER, rs.ENC_REC, rs.encode_record({"checkpoint": 7, "type": "savepoint",
      "sources": [{"topic": "t", "partition": 0, "offset": 42}]}), 2, None)
w.put(rs.SCHEMA, rs.ENC_JSON, b'{"fields":', 3, None)
w.close()
PY
	run sh -c 'rtai-cat -p --meta c.rtai 2>err'
	echo "$output"
	assert_failure 1
	assert_line --index 0 '{"_kind":"schema","_ingest_time":"1970-01-01T00:00:00.000000001Z","_event_time":null,"_schema":{"fields":[{"name":"a","type":"int","optional":false}]}}'
	assert_line --index 1 '{"_kind":"barrier","_ingest_time":"1970-01-01T00:00:00.000000002Z","_event_time":null,"_barrier":{"checkpoint":7,"type":"savepoint","sources":[{"topic":"t","partition":0,"offset":42}]}}'
	run cat err
	assert_output "rtai-cat: c.rtai: byte 206: schema frame: expected JSON text, got unexpected end of JSON text"
}

@test "cat: a frame whose metadata length exceeds it, or a tombstone with a value, is refused" {
	python3 - <<'PY' >bad.rtai
import struct, sys
o = sys.stdout.buffer
o.write(b"RTAI\x02\x01\x00\x00")
body = struct.pack("<BBHqqI", 1, 2, 0x0002, 0, 0, 99) + b"{}"
o.write(struct.pack("<I", len(body)) + body)
PY
	run rtai-cat -p bad.rtai
	echo "$output"
	assert_failure 1
	assert_output "rtai-cat: bad.rtai: byte 8: frame flag META: 99 bytes of metadata exceed the 2 bytes of the payload"
	python3 - <<'PY' >tomb.rtai
import struct, sys
o = sys.stdout.buffer
o.write(b"RTAI\x02\x01\x00\x00")
body = struct.pack("<BBHqq", 1, 2, 0x0004, 0, 0) + b"{}"
o.write(struct.pack("<I", len(body)) + body)
PY
	run rtai-cat -p tomb.rtai
	echo "$output"
	assert_failure 1
	assert_output "rtai-cat: tomb.rtai: byte 8: frame flag TOMBSTONE: expected no value, found 2 bytes"
}

@test "cat: --replay on records without event times warns that it cannot pace them" {
	rtai-cat "$RTAI_SRC/tests/data/clicks.jsonl" >c.rtai
	run sh -c 'rtai-cat --replay --speed 10 c.rtai 2>err | rtai-cat -p | wc -l; cat err'
	echo "$output"
	assert_line --index 0 20
	assert_line --index 1 "rtai-cat: c.rtai: record 1 has no event time: --replay cannot pace it and records without one go out unpaced (pipe the input through rtai-parse -t FIELD first, or pace by ingest times with --replay=ingest)"
	[ "${#lines[@]}" -eq 2 ]
	run sh -c "rtai-cat --replay $RTAI_SRC/tests/data/clicks.jsonl 2>&1 >/dev/null"
	echo "$output"
	assert_output "rtai-cat: $RTAI_SRC/tests/data/clicks.jsonl: text has no recorded times: --replay cannot pace it and it goes out unpaced (replay a capture: rtai-cat -o FILE first)"
	# with event times, or by ingest times, nothing to say
	run sh -c "rtai-cat $RTAI_SRC/tests/data/clicks.jsonl | rtai-parse -t event_time | rtai-cat --replay --speed 1000 2>&1 >/dev/null"
	assert_output ''
	run sh -c 'rtai-cat --replay=ingest --speed 1000 c.rtai 2>&1 >/dev/null'
	assert_output ''
}
