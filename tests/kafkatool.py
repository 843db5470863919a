"""kafkatool.py - independent helpers for tests/kafka.bats and tests/sink-kafka.bats.

  show [FILE]       decodes an rtai stream (rtai-record(5), written here from
                    the spec, not from rtai's code) and prints one JSON line
                    per data frame in the shape of `kcat -C -J`: topic,
                    partition, offset, ts (ms), headers (a flat list of
                    name, value), key and payload (strings, or
                    {"b64": ...} when not UTF-8), plus "tombstone": true for
                    a null value and "ingest" (ns) with --times.
  barriers FILE     checks the checkpoint barriers (kind 3) of a stream of
                    rtai-kafka against its data frames: ids increase by 1,
                    and each barrier's "sources" holds, for every partition
                    read before it, the offset after the last message of it
                    read before the barrier (and nothing else); prints one
                    line per barrier, "ID TYPE TOPIC:PARTITION=OFFSET...",
                    or the first bad barrier and exits 1.
  kcat [FILE]       normalises `kcat -C -J` lines to the same shape.
  partition KEY N   the partition of KEY among N by the Java client's
                    murmur2 (org.apache.kafka.common.utils.Utils.murmur2).
  binfiles DIR N    writes N files of random bytes (DIR/0..N-1); kcat skips
                    empty files, so none is empty.
"""
import base64
import json
import os
import random
import struct
import sys

F_META = 0x0002
F_TOMBSTONE = 0x0004
K_DATA, K_BARRIER, K_EOS = 1, 3, 5


def text(b):
    if b is None:
        return None
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(b).decode()}


def decode_record(p):
    (n,) = struct.unpack_from("<H", p, 0)
    at, rec = 2, {}
    for _ in range(n):
        t, nl = p[at], p[at + 1]
        name = p[at + 2:at + 2 + nl].decode()
        at += 2 + nl
        if t in (0, 1, 2):
            v = [None, False, True][t]
        elif t in (3, 6):
            (v,) = struct.unpack_from("<q", p, at)
            at += 8
        elif t == 4:
            (v,) = struct.unpack_from("<d", p, at)
            at += 8
        elif t in (5, 7, 8):
            (ln,) = struct.unpack_from("<I", p, at)
            v = p[at + 4:at + 4 + ln]
            at += 4 + ln
            if t == 5:
                v = v.decode()
            elif t == 7:
                v = json.loads(v)
        else:
            raise ValueError("unknown type %d" % t)
        rec[name] = v
    if at != len(p):
        raise ValueError("record: %d bytes left over" % (len(p) - at))
    return rec


def frames(f):
    buf = f.read()
    at = 0
    eos = promised = False
    while at < len(buf):
        if buf[at:at + 4] == b"RTAI":
            if buf[at + 4] not in (1, 2):
                raise ValueError("version %d" % buf[at + 4])
            # Version 2 with flag 0x01: the writer promises an EOS frame.
            promised = buf[at + 4] == 2 and bool(buf[at + 5] & 1)
            eos = False
            at += 8
            continue
        (ln,) = struct.unpack_from("<I", buf, at)
        kind, enc, flags, ingest, event = struct.unpack_from("<BBHqq", buf, at + 4)
        payload = buf[at + 24:at + 4 + ln]
        if len(payload) != ln - 20:
            raise ValueError("truncated frame at byte %d" % at)
        at += 4 + ln
        if kind == K_EOS:
            eos = True
            continue
        yield kind, enc, flags, ingest, event, payload
    if promised and not eos:
        sys.stderr.write("kafkatool: the stream was cut: no end-of-stream frame\n")
        sys.exit(4)


def show(f, times):
    for kind, enc, flags, ingest, event, payload in frames(f):
        if kind != K_DATA:
            continue
        if not flags & F_META:
            raise ValueError("a data frame without RTAI_F_META")
        (ml,) = struct.unpack_from("<I", payload, 0)
        meta = decode_record(payload[4:4 + ml])
        value = payload[4 + ml:]
        out = {"topic": meta["topic"], "partition": meta["partition"],
               "offset": meta["offset"]}
        if "timestamp" in meta:
            out["ts"] = meta["timestamp"] // 1000000
        hdrs = meta.get("headers")
        if hdrs is not None:
            out["headers"] = [x for kv in hdrs.items() for x in kv]
        out["key"] = text(meta.get("key"))
        if "error" in meta:
            out["error"] = meta["error"]	# a dead letter's reason
        if flags & F_TOMBSTONE:
            if value:
                raise ValueError("a tombstone with a value")
            out["payload"] = None
            out["tombstone"] = True
        else:
            out["payload"] = text(value)
        if times:
            out["ingest"] = ingest
        print(json.dumps(out, sort_keys=True))


def barriers(f):
    nxt, last = {}, None
    for kind, enc, flags, ingest, event, payload in frames(f):
        if kind == K_DATA:
            (ml,) = struct.unpack_from("<I", payload, 0)
            meta = decode_record(payload[4:4 + ml])
            k = (meta["topic"], meta["partition"])
            nxt[k] = max(nxt.get(k, 0), meta["offset"] + 1)
        elif kind == K_BARRIER:
            b = decode_record(payload)
            got = {(s["topic"], s["partition"]): s["offset"] for s in b["sources"]
                   if s.get("source") == "rtai-kafka"}
            pos = " ".join("%s:%d=%d" % (t, p, o) for (t, p), o in sorted(got.items()))
            line = "%d %s %s" % (b["checkpoint"], b["type"], pos)
            if (last is not None and b["checkpoint"] != last + 1) or \
                    len(got) != len(b["sources"]) or \
                    any(got.get(k, -1) < o for k, o in nxt.items()) or \
                    any(o != nxt[k] for k, o in got.items() if k in nxt):
                sys.exit("bad barrier: %s; expected %s" % (line, sorted(nxt.items())))
            last = b["checkpoint"]
            print(line)


def kcat(f):
    for line in f:
        m = json.loads(line)
        out = {k: m[k] for k in ("topic", "partition", "offset", "key", "payload")}
        if m.get("ts", -1) >= 0:
            out["ts"] = m["ts"]
        if m.get("headers"):
            out["headers"] = m["headers"]
        if m["payload"] is None:
            out["tombstone"] = True
        print(json.dumps(out, sort_keys=True))


def murmur2(data):
    m, r = 0x5bd1e995, 24
    length = len(data)
    h = (0x9747b28c ^ length) & 0xffffffff
    for i in range(0, length - length % 4, 4):
        k = struct.unpack_from("<I", data, i)[0]
        k = (k * m) & 0xffffffff
        k ^= k >> r
        k = (k * m) & 0xffffffff
        h = (h * m) & 0xffffffff
        h ^= k
    rest = length % 4
    tail = data[length - rest:]
    if rest == 3:
        h ^= tail[2] << 16
    if rest >= 2:
        h ^= tail[1] << 8
    if rest >= 1:
        h ^= tail[0]
        h = (h * m) & 0xffffffff
    h ^= h >> 13
    h = (h * m) & 0xffffffff
    h ^= h >> 15
    return h


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "show":
        times = "--times" in args
        args = [a for a in args if a != "--times"]
        with open(args[0], "rb") if args and args[0] != "-" else sys.stdin.buffer as f:
            show(f, times)
    elif cmd == "barriers":
        with open(args[0], "rb") as f:
            barriers(f)
    elif cmd == "kcat":
        with open(args[0]) if args else sys.stdin as f:
            kcat(f)
    elif cmd == "partition":
        print((murmur2(args[0].encode()) & 0x7fffffff) % int(args[1]))
    elif cmd == "binfiles":
        rnd = random.Random(7)
        os.makedirs(args[0], exist_ok=True)
        for i in range(int(args[1])):
            n = rnd.randrange(1, 3000)
            with open(os.path.join(args[0], str(i)), "wb") as f:
                f.write(bytes(rnd.randrange(256) for _ in range(n)))
    else:
        sys.exit("kafkatool.py: unknown command " + cmd)


if __name__ == "__main__":
    main()
