"""streamtool.py - small rtai streams for tests, with exact times.

    streamtool.py mk FILE      lines "SECONDS JSON" on stdin -> an rtai stream
                               of binary records with those event times ("-"
                               for none); "wm:SECONDS" writes a watermark
                               frame, "marker" a fresh latency marker,
                               "barrier:N" / "savepoint:N" a checkpoint barrier
                               of checkpoint N (rtai-record(5)),
                               "revoke:TOPIC:P" a revoke frame of partition P,
                               "assign:TOPIC:P:SECONDS" an assign frame with
                               that horizon.
                               "SECONDS@TOPIC:P JSON" gives the record the
                               source metadata of a Kafka message of P.
                               Record n gets ingest time n ns.
    streamtool.py show [-w] [-t]
                               an rtai stream on stdin -> one line per record:
                               JSON with time values in seconds; -t adds the
                               frame's event time (ns) and ingest time, -w
                               prints watermarks as "wm SECONDS"; other frames
                               print as "kind N". A cut stream (no end-of-stream
                               frame) prints what it holds, then the error on
                               stderr, and exits 4.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "contrib", "python"))
import rtai_stream as rs  # noqa: E402


def mk(path):
    with open(path, "wb") as out:
        w, n = rs.Writer(out), 0
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            t, _, rest = line.partition(" ")
            if t.startswith("wm:"):
                w.put(rs.WATERMARK, rs.ENC_NONE, b"", 0, int(round(float(t[3:]) * 1e9)))
                continue
            if t.startswith("barrier:") or t.startswith("savepoint:"):
                kind, _, cid = t.partition(":")
                rec = {"checkpoint": int(cid), "type": "checkpoint" if kind == "barrier" else kind,
                       "sources": [{"source": "streamtool.py", "records": n}]}
                w.put(rs.BARRIER, rs.ENC_REC, rs.encode_record(rec), 0, None)
                continue
            if t.startswith("revoke:"):
                _, topic, p = t.split(":")
                w.put(rs.REVOKE, rs.ENC_REC, rs.encode_record({"topic": topic, "partition": int(p)}),
                      0, None)
                continue
            if t.startswith("assign:"):
                _, topic, p, h = t.split(":")
                rec = {"topic": topic, "partition": int(p), "horizon": rs.Time(int(round(float(h) * 1e9)))}
                w.put(rs.ASSIGN, rs.ENC_REC, rs.encode_record(rec), 0, None)
                continue
            if t == "marker":
                w.put(rs.MARKER, rs.ENC_NONE, b"", 0, None)
                continue
            n += 1
            t, _, src = t.partition("@")
            ev = None if t == "-" else int(round(float(t) * 1e9))
            if src:
                topic, _, p = src.partition(":")
                meta = rs.encode_record({"topic": topic, "partition": int(p), "offset": n})
                w.put(rs.DATA, rs.ENC_REC, rs.encode_record(json.loads(rest)), n, ev, meta=meta)
                continue
            w.write_record(json.loads(rest), ingest_ns=n, event_ns=ev)
        w.close()


def sec(ns):
    return ns // 10**9 if ns % 10**9 == 0 else ns / 1e9


def show(opts):
    try:
        show_frames(opts)
    except rs.CutStream as e:
        sys.stdout.flush()
        print("streamtool.py: %s" % e, file=sys.stderr)
        sys.exit(4)


def show_frames(opts):
    for f in rs.Reader(sys.stdin.buffer):
        if f.kind == rs.WATERMARK:
            if "-w" in opts:
                print("wm", sec(f.event_ns))
            continue
        if f.kind != rs.DATA:
            print("kind", f.kind)
            continue
        r = {k: (sec(v) if isinstance(v, rs.Time) else v) for k, v in f.record().items()}
        line = json.dumps(r, separators=(",", ":"))
        if "-t" in opts:
            line += " event=%d ingest=%d" % (f.event_ns, f.ingest_ns)
        print(line)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "mk":
        mk(sys.argv[2])
    elif len(sys.argv) >= 2 and sys.argv[1] == "show":
        show(sys.argv[2:])
    else:
        sys.exit("usage: streamtool.py mk FILE | show [-w] [-t]")
