#!/usr/bin/env bats
# contrib/python/rtai_stream.py: a Python filter in the middle of a pipeline.

load common

setup_local() {
	export PYTHONPATH=$RTAI_SRC/contrib/python
}

@test "python: a filter in the middle of a pipeline adds a field" {
	cat >score.py <<'PY'
import rtai_stream as rs
r, w = rs.Reader(), rs.Writer()
for f in r:
    if f.kind == rs.DATA:
        rec = f.record()
        rec["score"] = round(rec["amount"] * 2, 1)
        w.write_record(rec, like=f)
    else:
        w.write(f)
w.close()
PY
	run bash -o pipefail -c "rtai-cat $RTAI_SRC/tests/data/clicks.jsonl | python3 score.py | rtai-cat -p >out"
	assert_success
	run head -2 out
	echo "$output"
	assert_line --index 0 '{"user_id":"u1","item_id":"i0","action":"view","amount":0.0,"event_time":"2026-11-24T10:00:00Z","score":0.0}'
	assert_line --index 1 '{"user_id":"u2","item_id":"i1","action":"click","amount":1.5,"event_time":"2026-11-24T10:00:03Z","score":3.0}'
}

@test "python: ingest and event times, and unknown frames, survive the filter" {
	cat >copy.py <<'PY'
import rtai_stream as rs
w = rs.Writer()
for f in rs.Reader():
    w.write(f)
w.close()
PY
	cat >gen.py <<'PY'
import rtai_stream as rs
w = rs.Writer()
w.write_record({"a": 1, "t": rs.Time(1795514400000000000)}, ingest_ns=5, event_ns=7)
w.write_record({"b": [1, 2]}, binary=False, ingest_ns=6)
w.put(42, rs.ENC_NONE, b"opaque", ingest_ns=1)
w.close()
PY
	python3 gen.py >in.rtai
	python3 copy.py <in.rtai >out.rtai
	# the same but for the end-of-stream frame's stamp (its last 16 bytes)
	run cmp -n $(($(stat -c %s in.rtai) - 16)) in.rtai out.rtai
	echo "$output"
	assert_success
	run rtai-cat -p --meta out.rtai
	echo "$output"
	assert_line --index 0 '{"_ingest_time":"1970-01-01T00:00:00.000000005Z","_event_time":"1970-01-01T00:00:00.000000007Z","a":1,"t":"2026-11-24T10:00:00.000Z"}'
	assert_line --index 1 '{"_ingest_time":"1970-01-01T00:00:00.000000006Z","_event_time":null,"b":[1,2]}'
	assert_line --index 2 --partial '"_kind":"unknown","_kind_code":42'
}

@test "python: the reader rejects text that is not a stream" {
	run python3 -c 'import io, rtai_stream as rs; list(rs.Reader(io.BytesIO(b"hello world\n")))'
	assert_failure
	assert_output --partial "not an rtai stream"
}

@test "python: the ten-line writer in rtai-record(5) makes a valid stream" {
	man_examples rtai-record.5 | tr -d '\0' >writer.py
	run bash -o pipefail -c "printf '{\"a\":1}\n{\"b\":2}\n' | python3 writer.py | rtai-cat -p"
	echo "$output"
	assert_success
	assert_output "$(printf '{"a":1}\n{"b":2}')"
}

@test "python: a filter whose reader goes away ends quietly" {
	cat >copy.py <<'PY'
import rtai_stream as rs
w = rs.Writer()
for f in rs.Reader():
    w.write(f)
    w.flush()
PY
	run bash -c "rtai-cat --loop 200 $RTAI_SRC/tests/data/clicks.jsonl | python3 copy.py | rtai-cat -p | head -1"
	echo "$output"
	assert_success
	refute_output --partial Traceback
}

@test "python: the writer writes version 2 and, at close() or exit, the end-of-stream frame" {
	python3 -c 'import rtai_stream as rs; w = rs.Writer(); w.write_record({"a": 1}); w.close()' >ok.rtai
	run sh -c 'head -c 8 ok.rtai | od -An -tx1 | tr -d " \n"'
	echo "$output"
	assert_output "5254414902010000"
	run rtai-cat -p ok.rtai
	echo "$output"
	assert_success
	assert_output '{"a":1}'
	python3 -c 'import rtai_stream as rs; w = rs.Writer(); w.write_record({"a": 1})' >exit.rtai
	run cmp -n $(($(stat -c %s ok.rtai) - 16)) ok.rtai exit.rtai
	assert_success
	# a writer that dies of an exception: a cut stream, for the C tools and for Python
	python3 -c 'import rtai_stream as rs; w = rs.Writer(); w.write_record({"a": 1}); w.flush(); 1/0' >cut.rtai || true
	run rtai-cat -p cut.rtai
	echo "$output"
	assert_failure 4
	assert_output --partial "the stream was cut"
	run python3 -c 'import rtai_stream as rs; [print(f.record()) for f in rs.Reader(open("cut.rtai", "rb"))]'
	echo "$output"
	assert_failure
	assert_line --index 0 "{'a': 1}"
	assert_output --partial "CutStream: the stream was cut"
}

@test "python: the reader reads version 1 streams as before" {
	python3 -c '
import struct, sys
o = sys.stdout.buffer
o.write(b"RTAI\x01\x00\x00\x00")
body = struct.pack("<BBHqq", 1, 2, 0, 5, 0) + b"{\"a\":1}"
o.write(struct.pack("<I", len(body)) + body)' >v1.rtai
	run python3 -c 'import rtai_stream as rs; [print(f.record()) for f in rs.Reader(open("v1.rtai", "rb"))]'
	echo "$output"
	assert_success
	assert_output "{'a': 1}"
}

@test "python: source metadata, tombstones and bytes round-trip through the C tools" {
	cat >meta.py <<'PY'
import rtai_stream as rs
w = rs.Writer()
meta = rs.encode_record({"topic": "t", "partition": 0, "offset": 42, "key": b"\x00k",
                         "timestamp": rs.Time(1795514400000000000)})
w.write_record({"v": b"\xff\x01"}, ingest_ns=1, event_ns=None)
w.put(rs.DATA, rs.ENC_JSON, b'{"a":1}', 2, None, meta=meta)
w.put(rs.DATA, rs.ENC_NONE, b"", 3, None, flags=rs.F_TOMBSTONE, meta=meta)
w.close()
PY
	python3 meta.py >m.rtai
	rtai-cat m.rtai >copy.rtai
	run python3 -c '
import rtai_stream as rs
for f in rs.Reader(open("copy.rtai", "rb")):
    print(f.record(), f.metadata(), f.tombstone)'
	echo "$output"
	assert_success
	assert_line --index 0 "{'v': b'\xff\x01'} {} False"
	assert_line --index 1 "{'a': 1} {'topic': 't', 'partition': 0, 'offset': 42, 'key': b'\x00k', 'timestamp': 1795514400000000000} False"
	assert_line --index 2 "None {'topic': 't', 'partition': 0, 'offset': 42, 'key': b'\x00k', 'timestamp': 1795514400000000000} True"
}
