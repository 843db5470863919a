#!/usr/bin/env python3
"""seeds.py - writes the seed corpus of the fuzz harnesses.

Run from the source tree: python3 tests/fuzz/seeds.py. It rewrites the
seed-* files of tests/fuzz/corpus/*/ (crash-* files, inputs that once
crashed a harness, are kept). The seeds are small, valid or nearly valid
inputs that show each harness the shapes worth mutating.
"""

import io
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "contrib", "python"))
import rtai_stream as rs  # noqa: E402

CORPUS = os.path.join(HERE, "corpus")
T0 = 1795514400000000000  # 2026-11-24T10:00:00Z

SAMPLE = {
    "user_id": "u1", "item_id": "i7", "action": "click", "amount": 1.5,
    "qty": 3, "ok": True, "bad": False, "none": None, "at": rs.Time(T0),
    "tags": ["a", "b"], "geo": {"lat": 48.1, "lon": 11.5},
    "text": "caf\u00e9 \u2603 \U0001f600", "ctl": "tab\there\nnew\"q\\",
}


def write(kind, name, data):
    d = os.path.join(CORPUS, kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def stream(frames, close=True):
    """A stream of frames (put() arguments), finished with its
    end-of-stream frame unless close is False (a cut stream)."""
    out = io.BytesIO()
    w = rs.Writer(out)
    for fr in frames:
        w.put(*fr)
    if close:
        w.put(rs.EOS, rs.ENC_NONE, b"", T0, None)
    w.closed = True  # not again at exit
    return out.getvalue()


def zstd(data):
    import subprocess
    return subprocess.run(["zstd", "-q", "-c"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def stream_seeds():
    # Byte 0: mode (bits 0-1) and frame limit (bits 2-3); byte 1: chunks.
    clicks = open(os.path.join(HERE, "..", "data", "clicks.jsonl"), "rb").read()
    lines = clicks.splitlines()[:4]
    raw = stream([(rs.DATA, rs.ENC_RAW, l, T0 + i, None) for i, l in enumerate(lines)])
    binary = stream([(rs.DATA, rs.ENC_REC, rs.encode_record(SAMPLE), T0, T0 + 5)])
    mixed = stream([
        (rs.DATA, rs.ENC_JSON, json.dumps({"a": 1}).encode(), T0, T0),
        (rs.WATERMARK, rs.ENC_NONE, b"", T0, T0 + 10),
        (rs.BARRIER, rs.ENC_NONE, b"", T0, None),
        (rs.MARKER, rs.ENC_NONE, b"\x08rtai-cat" + struct.pack("<q", T0), T0, None),
        (77, 9, b"xyz", 5, 6, 0x8000),
        (rs.DATA, rs.ENC_RAW, b"", T0, None),
        (rs.EOS, rs.ENC_NONE, b"", T0, None),
    ]) + stream([(rs.DATA, rs.ENC_RAW, b"after", 1, None)])
    meta = rs.encode_record({"topic": "t", "partition": 0, "offset": 42, "key": b"\x00k",
                             "timestamp": rs.Time(T0), "headers": {"h": "v"}})
    barrier = rs.encode_record({"checkpoint": 1, "type": "checkpoint",
                                "sources": [{"topic": "t", "partition": 0, "offset": 42}]})
    schema = json.dumps({"fields": [{"name": "a", "type": "bytes", "optional": True}],
                         "event_time": "t"}).encode()
    v2 = stream([
        (rs.SCHEMA, rs.ENC_JSON, schema, T0, None),
        (rs.DATA, rs.ENC_JSON, b'{"a":1}', T0, T0, 0, meta),
        (rs.DATA, rs.ENC_NONE, b"", T0, None, rs.F_TOMBSTONE, meta),
        (rs.DATA, rs.ENC_REC, rs.encode_record({"b": b"\xff\x00"}), T0, None),
        (rs.BARRIER, rs.ENC_REC, barrier, T0, None),
    ])
    cut = v2[:-24]
    for i, (name, data) in enumerate([
        ("raw", raw), ("binary", binary), ("mixed", mixed),
        ("zstd", zstd(mixed)), ("text", clicks[:300] + b"\r\nlast"),
        ("text-zstd", zstd(clicks[:200])), ("empty", b""),
        ("huge-length", rs.HEADER + b"\xff\xff\xff\x3f"),
        ("short-length", rs.HEADER + b"\x05\x00\x00\x00" + b"\x00" * 8),
        ("kind-zero", rs.HEADER + struct.pack("<I", 20) + b"\x00" * 20),
        ("version-3", b"RTAI\x03\x01\x00\x00"),
        ("v2-meta", v2), ("v2-cut", cut), ("v2-cut-frame", cut[:-5]),
        ("v2-cut-zstd", zstd(cut)[:-3]), ("v1-no-eos", b"RTAI\x01\x00\x00\x00" + cut[8:]),
        ("meta-too-long", rs.HEADER + struct.pack("<IBBHqqI", 24, 1, 2, 2, 0, 0, 99)),
    ]):
        for mode in range(4):
            write("stream", "%s-%d" % (name, mode),
                  bytes([mode | (i % 4) << 2, (i * 37 + mode) & 0xff]) + data)


def record_seeds():
    write("record", "sample", rs.encode_record(SAMPLE))
    write("record", "empty", struct.pack("<H", 0))
    write("record", "strings", rs.encode_record({"": "", "k": "\xff", "n": "x" * 300}))
    write("record", "invalid-utf8", struct.pack("<H", 1) + bytes([rs.T_STR, 2]) + b"\xff\xfe"
          + struct.pack("<I", 3) + b"\xc0\x80\xed")
    write("record", "numbers", rs.encode_record({
        "max": 2**63 - 1, "min": -2**63, "nan": float("nan"), "inf": float("inf"),
        "ninf": float("-inf"), "neg0": -0.0, "tiny": 5e-324, "t": rs.Time(-1)}))
    write("record", "nested", rs.encode_record({"deep": [[[[{"a": [1, {"b": None}]}]]]],
                                                "esc": {"s": "\u0001\ud7ff"}}))
    write("record", "order", rs.encode_record({
        "i": 2**53 + 1, "f": float(2**53), "j": 2**53, "nan": float("nan"), "t": rs.Time(5),
        "s": "x", "h": -0.5, "z": 0, "nz": -0.0, "big": 1e300, "neg": -2**63, "jn": [1]}))
    write("record", "truncated", rs.encode_record(SAMPLE)[:-3])
    write("record", "dup", struct.pack("<H", 2) + rs.encode_record({"a": 1})[2:] * 2)
    write("record", "bytes", rs.encode_record({"k": b"\x00\xff", "e": b"", "s": "x"}))
    write("record", "bytes-truncated", rs.encode_record({"k": b"\x00\xff\x01"})[:-1])


def json_seeds():
    clicks = open(os.path.join(HERE, "..", "data", "clicks.jsonl"), "rb").read()
    for i, l in enumerate(clicks.splitlines()[:3]):
        write("json", "clicks-%d" % i, l)
    sample = dict(SAMPLE)
    sample["at"] = "2026-11-24T10:00:00Z"
    write("json", "sample", json.dumps(sample, ensure_ascii=False).encode())
    write("json", "escapes", br'{"s":"\u00e9\ud83d\ude00\n\t\"\\\/","n\u0000v":1}')
    write("json", "nul-value", br'{"s":"a\u0000b"}')
    write("json", "numbers", b'{"a":1e308,"b":-9223372036854775808,"c":0.1,"d":-0.0,'
          b'"e":1E-400,"f":9223372036854775807,"g":123456789012345678}')
    write("json", "nested", b'{"a":' + b'[' * 60 + b'1' + b']' * 60 + b'}')
    write("json", "dup", b'{"a":1,"a":2}')
    write("json", "not-object", b'[1,2]')
    write("json", "whitespace", b' \t\r\n{ "a" : [ 1 , { } ] , "b" : { "c" : [ ] } } \n')
    write("json", "empty", b"{}")


def time_seeds():
    # Byte 0 picks the unit of rtime_parse_time: auto, s, ms, us, ns.
    for i, s in enumerate([
        "2026-11-24T10:00:00Z", "2026-11-24T10:00:00.123456789Z", "2026-11-24",
        "2026-11-24 12:00:00+02:00", "1969-12-31T23:59:59.999-0430", "0000-01-01T00:00Z",
        "9999-12-31T23:59:60.999999999+23:59", "2000-02-29T24:00:00",
        "1795514400", "1795514400123", "-1.5", "1e18", "250ms", "1h30m", "1.5s", "0",
        "99999999999999999999", "2w3d4h5m6s7ms8us9ns", "1.999999999999999999999ns",
    ]):
        write("time", "%02d" % i, bytes([i % 5]) + s.encode())
    write("time", "int64-max", b"\x00" + struct.pack("<q", 2**63 - 1))
    write("time", "int64-min", b"\x01" + struct.pack("<q", -2**63))
    write("time", "double-nan", b"\x02" + struct.pack("<d", float("nan")))


def jflat_seeds():
    clicks = open(os.path.join(HERE, "..", "data", "clicks.jsonl"), "rb").read()
    for i, l in enumerate(clicks.splitlines()[:3]):
        write("jflat", "clicks-%d" % i, l)
    for name, text in [
        ("types", b'{"s":"x","i":-12,"f":1.25,"e":1e3,"t":true,"n":null,"z":0,"neg0":-0.0}'),
        ("ws", b' {\t"a" : 1 ,\r\n"b":"two"} '),
        ("escape", br'{"a":"x\"y\u00e9"}'), ("nested", b'{"a":{"b":1},"c":[1]}'),
        ("dup", b'{"a":1,"a":2}'), ("big", b'{"i":9223372036854775808,"j":123456789012345678901}'),
        ("exact", b'{"f":0.1,"g":1.7976931348623157e308,"h":5e-324,"k":1E+2}'),
        ("utf8", '{"k\u00e9":"\u2603\U0001f600"}'.encode()),
        ("bad-utf8", b'{"a":"\xff"}'), ("trailing", b'{"a":1} x'), ("empty", b'{}'),
        ("lead-zero", b'{"a":01}'), ("control", b'{"a":"\x01"}'), ("nul", b'{"a\u0000":1}'),
    ]:
        write("jflat", name, text)


def tmpl_seeds():
    rec = json.dumps(dict(SAMPLE, at="2026-11-24T10:00:00Z")).encode()
    for i, t in enumerate([
        "features:user:{user_id}:clicks", "{user_id}{item_id}", "{{literal}}", "plain",
        "{amount}:{qty}:{ok}:{none}:{tags}:{geo}", "{missing}", "{", "}", "{}", "a{b",
        "{{{user_id}}}", "{" + "x" * 300 + "}", "",
    ]):
        write("tmpl", "%02d" % i, t.encode() + b"\n" + rec)


def debezium_seeds():
    after = {"user_id": "u1", "tier": "gold", "n": 3}
    envelopes = [
        {"op": "c", "before": None, "after": after, "source": {"ts_ms": 1795514400000}},
        {"op": "u", "before": dict(after, tier="silver"), "after": after, "ts_ms": 1},
        {"op": "d", "before": after, "after": None, "source": {"ts_ms": 2}},
        {"op": "r", "after": after}, {"op": "t", "before": None, "after": None},
    ]
    i = 0
    for e in envelopes:
        for shape in (e, {"schema": {"type": "struct"}, "payload": e},
                      {"topic": "users", "key": {"user_id": "u1"}, "payload": e, "ts": 5},
                      {"topic": "users", "key": "u1", "value": json.dumps(e)}):
            write("debezium", "%02d" % i, bytes([i % 2]) + json.dumps(shape).encode())
            i += 1
    for text in [b"null", b"", b'{"topic":"t","key":{"id":1},"payload":null}',
                 b'{"user_id":"u1","_op":"d"}', b'{"op":"x","after":{}}', b'[1]',
                 b'{"schema":{},"payload":null}', b'{"op":"u","after":[1]}']:
        write("debezium", "%02d" % i, bytes([i % 2]) + text)
        i += 1


def resp_seeds():
    for i, args in enumerate([
        [b"SET", b"k", b"v"], [b"HSET", b"user:u1", b"f", b"1.5"],
        [b"SET", b"a b", b"x\r\nFLUSHALL\r\n"], [b"SET", b'"q"', b"\\", b"\x00\x7f\xfe"],
        [b""], [b"PING"], [b"EVALSHA", b"0" * 40, b"1", b"k", b"\t\n"],
    ]):
        write("resp", "%02d" % i, b"\xff".join(args))
    write("resp", "raw-command", b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
    write("resp", "raw-short", b"*2\r\n$3\r\nGET\r\n$9\r\nk\r\n")
    write("resp", "raw-huge", b"*99999999999\r\n$99999999999999999999\r\n")


def redisurl_seeds():
    for i, (pw, rest) in enumerate([
        (b"s3cret-pass", b"127.0.0.1:6379/2"), (b"s3cret-pass", b"localhost"),
        (b"s3cret-pass", b"[::1]:6380"), (b"s3cret-pass", b"unix/tmp/redis.sock?db=3"),
        (b"p%40ssword", b"host:99999"), (b"hunter22", b"h:0/16"), (b"hunter22", b""),
        (b"user:pass-word", b"h"), (b"longpassword", b"h:12x"), (b"longpassword", b"h/-1"),
    ]):
        write("redisurl", "%02d" % i, pw + b"\xff" + rest)


def table_seeds():
    # Byte 0: prefix, chosen fields, versioned; u16 row length; row; record.
    rows = [rs.encode_record({"user_id": "u1", "a": 1, "b": "x", "c": True, "t": rs.Time(T0)}),
            rs.encode_record({"user_id": 42, "n" * 254: 1.5, "a": None}),
            rs.encode_record({})]
    recs = [rs.encode_record({"user_id": "u1", "item": "i", "a": 5}),
            rs.encode_record({"item": "no key"}),
            rs.encode_record({"user_id": 42.0, "b": [1, 2]})]
    i = 0
    for row in rows:
        for r in recs:
            write("table", "%02d" % i, bytes([i % 8]) + struct.pack("<H", len(row)) + row + r)
            i += 1


if __name__ == "__main__":
    for kind in ("stream", "record", "json", "time", "jflat", "tmpl", "debezium",
                 "resp", "redisurl", "table"):
        d = os.path.join(CORPUS, kind)
        if os.path.isdir(d):
            for n in os.listdir(d):
                if n.startswith("seed-"):
                    os.unlink(os.path.join(d, n))
    stream_seeds()
    record_seeds()
    json_seeds()
    time_seeds()
    jflat_seeds()
    tmpl_seeds()
    debezium_seeds()
    resp_seeds()
    redisurl_seeds()
    table_seeds()
