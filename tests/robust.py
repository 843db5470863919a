#!/usr/bin/env python3
"""robust.py - hostile and broken rtai streams for tests/robust.bats.

    python3 robust.py CASE [ARG] >FILE      write a stream; see CASES
    python3 robust.py with-times [STEP] <IN >OUT   event times STEP s apart
    python3 robust.py has-unknown FILE      check the unknown-kind frame
    python3 robust.py same-frames A B       same frames, ingest times aside
"""

import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "contrib", "python"))
import rtai_stream as rs  # noqa: E402

T0 = 1795514400000000000  # 2026-11-24T10:00:00Z
GOOD = {"user_id": "u1", "item_id": "i1", "action": "view", "amount": 1.5,
        "event_time": "2026-11-24T10:00:00Z"}


def out():
    return sys.stdout.buffer


def stream(frames):
    """frames: (kind, enc, payload[, event_ns[, flags]]) tuples."""
    w = rs.Writer(out())
    for i, fr in enumerate(frames):
        kind, enc, payload = fr[:3]
        event = fr[3] if len(fr) > 3 else None
        flags = fr[4] if len(fr) > 4 else 0
        w.put(kind, enc, payload, T0 + i, event, flags)
    w.close()


def jline(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def rec(obj):
    """A binary record; event_time given as an rs.Time."""
    return rs.encode_record(obj)


def typed(**over):
    r = {"user_id": "u1", "item_id": "i1", "action": "view", "amount": 1.5,
         "event_time": rs.Time(T0)}
    r.update(over)
    return {k: v for k, v in r.items() if v is not DROP}


DROP = object()


def raw_records(*payloads):
    """JSON payloads, with event times so that rtai-window takes them."""
    stream([(rs.DATA, rs.ENC_RAW, p, T0) for p in payloads])


def typed_records(*recs):
    stream([(rs.DATA, rs.ENC_REC, rec(r), T0) for r in recs])


UNKNOWN = (77, 9, b"opaque\x00bytes", T0 + 5, 0x8000)


def good_frame(kind):
    if kind == "typed":
        return (rs.DATA, rs.ENC_REC, rec(typed()), T0)
    return (rs.DATA, rs.ENC_RAW, jline(GOOD))


def with_times(step="1"):
    """Copies a stream, giving data frame i the event time T0 + i * step s."""
    w = rs.Writer(out())
    n = 0
    for f in rs.Reader(sys.stdin.buffer):
        if f.kind == rs.DATA:
            f.event_ns = T0 + n * int(step) * 1000000000
            n += 1
        w.write(f)
    w.close()


def has_unknown(path):
    """The unknown frame is there, unchanged, between data frames."""
    frames = list(rs.Reader(open(path, "rb")))
    kinds = [f.kind for f in frames]
    if 77 not in kinds:
        sys.exit("no frame of kind 77 in %s: %r" % (path, kinds))
    i = kinds.index(77)
    f = frames[i]
    got = (f.kind, f.enc, f.flags, f.ingest_ns, f.event_ns, f.payload)
    want = (77, 9, 0x8000 | rs.F_EVENT, T0 + 1, T0 + 5, b"opaque\x00bytes")
    if got != want:
        sys.exit("frame changed: %r, expected %r" % (got, want))
    if kinds.count(rs.DATA) >= 2 and not (rs.DATA in kinds[:i] and rs.DATA in kinds[i + 1:]):
        sys.exit("frame out of order: %r" % kinds)


def same_frames(a, b):
    """Both streams hold the same frames, ingest times aside."""
    def key(f):
        return (f.kind, f.enc, f.flags, f.event_ns, f.payload)
    fa = [key(f) for f in rs.Reader(open(a, "rb"))]
    fb = [key(f) for f in rs.Reader(open(b, "rb"))]
    if fa != fb:
        sys.exit("frames differ:\n%r\n%r" % (fa, fb))


CASES = {
    # A frame of a kind no tool knows, between two good records.
    "unknown-kind": lambda kind="raw": stream([
        good_frame(kind), UNKNOWN, good_frame(kind)]),
    # Zero-length payloads, in each encoding.
    "zero-raw": lambda: raw_records(jline(GOOD), b""),
    "zero-json": lambda: stream([(rs.DATA, rs.ENC_RAW, jline(GOOD)),
                                 (rs.DATA, rs.ENC_JSON, b"")]),
    "zero-rec": lambda: stream([(rs.DATA, rs.ENC_REC, rec(typed()), T0),
                                (rs.DATA, rs.ENC_REC, b"", T0)]),
    # A length field far beyond any limit.
    "huge-length": lambda: out().write(rs.HEADER + struct.pack("<I", 0x3fffffff) + b"\x01"),
    # Invalid UTF-8: in JSON text, and in a binary string.
    "utf8-json": lambda: raw_records(jline(GOOD), b'{"user_id":"u\xff\xfe1","amount":1}'),
    "utf8-typed": lambda: stream([
        (rs.DATA, rs.ENC_REC, struct.pack("<H", 3)
         + bytes([rs.T_STR, 7]) + b"user_id" + struct.pack("<I", 3) + b"u\xff1"
         + bytes([rs.T_FLOAT, 6]) + b"amount" + struct.pack("<d", 2.0)
         + bytes([rs.T_TIME, 10]) + b"event_time" + struct.pack("<q", T0), T0)]),
    # Deeply nested and enormous JSON.
    "nested-json": lambda: raw_records(jline(GOOD),
                                       b'{"user_id":"u1","deep":' + b"[" * 100000
                                       + b"]" * 100000 + b"}"),
    "wide-json": lambda: raw_records(jline(GOOD), jline({"f%d" % i: i for i in range(5000)})),
    "long-json": lambda: raw_records(jline(GOOD), jline(dict(GOOD, item_id="x" * 3000000))),
    # Numbers out of range, NaN and infinities.
    "range-json": lambda: raw_records(jline(GOOD), b'{"user_id":"u1","amount":1e999}',
                                      b'{"user_id":"u1","amount":99999999999999999999}'),
    "nan-json": lambda: raw_records(jline(GOOD), b'{"user_id":"u1","amount":NaN}'),
    "nan-typed": lambda: typed_records(typed(amount=float("nan")), typed(amount=float("inf")),
                                       typed(amount=float("-inf")), typed(amount=2.0)),
    # Duplicate keys.
    "dup-json": lambda: raw_records(jline(GOOD), b'{"user_id":"u1","user_id":"u2"}'),
    "dup-typed": lambda: stream([(rs.DATA, rs.ENC_REC, struct.pack("<H", 2)
                                  + rec({"user_id": "u1"})[2:] + rec({"user_id": "u2"})[2:], T0)]),
    # Missing and wrongly typed fields.
    "missing-json": lambda: raw_records(jline(GOOD), jline({"item_id": "i1"})),
    "types-json": lambda: raw_records(jline(GOOD), jline({"user_id": 5, "amount": "x",
                                                          "event_time": True})),
    "missing-typed": lambda: typed_records(typed(), typed(user_id=DROP, amount=DROP)),
    "types-typed": lambda: typed_records(typed(), typed(user_id=5, amount="x")),
    # Times that do not parse.
    "time-json": lambda: raw_records(jline(GOOD), jline(dict(GOOD, event_time="yesterday")),
                                     jline(dict(GOOD, event_time="2026-13-45T99:00:00Z"))),
    # Not JSON at all.
    "garbage-json": lambda: raw_records(jline(GOOD), b"this is not json", b"[1,2]"),
}


if __name__ == "__main__":
    cmd, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if cmd == "with-times":
        with_times(*args)
    elif cmd == "has-unknown":
        has_unknown(*args)
    elif cmd == "same-frames":
        same_frames(*args)
    elif cmd in CASES:
        CASES[cmd](*args)
        sys.stdout.flush()
    else:
        sys.exit("usage: robust.py CASE [ARG]\ncases: " + " ".join(sorted(CASES)))
