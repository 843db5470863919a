"""lakegen.py - streams with random schemas for tests/sink-lake.bats, the rows a
reader must return for them, and checks of a Delta table written by
rtai-sink-lake, all computed here, independently of rtai's C code.

    lakegen.py gen SEED N STREAM EXPECTED [--partition-by FIELD]
                   [--barrier-every K] [--schema]
        writes N random records (a schema of 3 to 8 random fields: int,
        float, string, bool, time, json; nulls, absent fields, unicode and
        extremes) as an rtai stream to STREAM, with a barrier (checkpoint
        1, 2, ...) after every K records, and a schema frame first with
        --schema; EXPECTED gets the rows as lakeread.js prints them.
    lakegen.py check EXPECTED ACTUAL
        the two row files hold the same rows (as multisets; a column that a
        row lacks is null); prints the first differences.
    lakegen.py replay TABLE
        the log replays to exactly the live files: versions 0..N with no
        gap, every live file on disk, every data file on disk either live
        or removed by some version, no temporary file left.
"""
import json
import math
import os
import random
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "contrib", "python"))
import rtai_stream as rs  # noqa: E402

HOUR = 3600 * 10**9
BASE = 1795514400 * 10**9  # 2026-11-24T10:00:00Z

NAMES = ["user_id", "amount", "n", "ok", "when", "payload", "größe", "名前", "a b", "x.y",
         "emoji😀", "Z", "count_7d", "ratio"]
STRINGS = ["", "a", "hello world", "ünïcödé", "日本語テキスト", "😀🎉", "tab\there", "new\nline",
           "nul\x00byte", "quote\"s", "back\\slash", "x" * 5000, "a/b=c:d%e", "%41", "  "]
PART_VALUES = ["a/b", "k=v", "12:30", "100%", "%2F", "plain", "with space", "ü", "a#b?c"]


def rand_value(rnd, t):
    if t == "int":
        return rnd.choice([0, 1, -1, 2**63 - 1, -2**63, 42, rnd.randint(-2**63, 2**63 - 1),
                           rnd.randint(-1000, 1000)])
    if t == "float":
        return rnd.choice([0.0, -0.0, 1.5, -2.25, float("nan"), float("inf"), float("-inf"),
                           1e308, 5e-324, -1e-300, rnd.uniform(-1e6, 1e6), 0.1])
    if t == "string":
        return rnd.choice(STRINGS + ["s%d" % rnd.randint(0, 20)])
    if t == "bool":
        return rnd.random() < 0.5
    if t == "time":
        return rs.Time(rnd.choice([BASE, BASE + rnd.randint(0, 10**13), -1, -10**9 - 1,
                                   BASE + 999, 0, 2**63 - 1, -2**63 + 1]))
    if t == "json":
        return rnd.choice([{"a": 1}, [1, 2, 3], {"nested": {"k": ["v", None, True]}}, [],
                           {"ü": "😀"}])
    raise ValueError(t)


def tag(v, t):
    if v is None:
        return None
    if t == "int":
        return ["i", str(v)]
    if t == "float":
        if math.isnan(v):
            return ["f", "NaN"]
        if math.isinf(v):
            return ["f", "Infinity" if v > 0 else "-Infinity"]
        if v == 0 and math.copysign(1, v) < 0:
            return ["f", "-0"]
        return ["f", v]
    if t == "string":
        return ["s", v]
    if t == "bool":
        return ["b", v]
    if t == "time":
        return ["t", str(v // 1000)]
    if t == "json":
        return ["s", json.dumps(v, separators=(",", ":"))]
    raise ValueError(t)


def schema_type(t):
    return t


def gen(args):
    seed, n, stream, expected = int(args[0]), int(args[1]), args[2], args[3]
    pby = None
    every = 0
    schema = False
    i = 4
    while i < len(args):
        if args[i] == "--partition-by":
            pby = args[i + 1]
            i += 2
        elif args[i] == "--barrier-every":
            every = int(args[i + 1])
            i += 2
        elif args[i] == "--schema":
            schema = True
            i += 1
        else:
            raise SystemExit("lakegen.py gen: unknown argument " + args[i])
    rnd = random.Random(seed)
    names = rnd.sample(NAMES, rnd.randint(3, 8))
    types = {nm: rnd.choice(["int", "float", "string", "bool", "time", "json"]) for nm in names}
    if pby:
        types[pby] = "partition"
    rows = []
    seen = set()
    with open(stream, "wb") as out:
        w = rs.Writer(out)
        if schema:
            fields = [{"name": nm, "type": types[nm], "optional": True} for nm in names]
            w.put(6, rs.ENC_JSON, json.dumps({"fields": fields}).encode(), 0, None)
        ckpt = 0
        for k in range(n):
            rec = {}
            for nm in names:
                r = rnd.random()
                if r < 0.1:
                    continue
                rec[nm] = None if r < 0.25 else rand_value(rnd, types[nm])
            if pby:
                rec[pby] = rnd.choice(PART_VALUES)
            ev = BASE + rnd.randint(-HOUR, 3 * HOUR) + rnd.randint(0, 999)
            w.write_record(rec, ingest_ns=k + 1, event_ns=ev)
            row = {}
            for nm, v in rec.items():
                if nm == pby:
                    continue
                row[nm] = tag(v, types[nm])
                if v is not None:
                    seen.add(nm)
            if pby:
                row[pby] = ["s", rec[pby]]
            else:
                h = ev // HOUR * HOUR // 10**9
                import datetime
                d = datetime.datetime.fromtimestamp(h, datetime.timezone.utc)
                row["dt"] = ["s", d.strftime("%Y-%m-%d")]
                row["hr"] = ["s", d.strftime("%H")]
            rows.append(row)
            if every and (k + 1) % every == 0:
                ckpt += 1
                w.put(rs.BARRIER, rs.ENC_REC, rs.encode_record(
                    {"checkpoint": ckpt, "type": "checkpoint",
                     "sources": [{"source": "lakegen", "records": k + 1}]}), 0, None)
        w.close()
    cols = seen | ({pby} if pby else {"dt", "hr"})
    with open(expected, "w") as f:
        for row in rows:
            full = {c: row.get(c) for c in cols}
            f.write(json.dumps(full, sort_keys=True, ensure_ascii=False) + "\n")


def canon(path, keys):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(json.loads(line))
    return out


def check(args):
    a, b = canon(args[0], None), canon(args[1], None)
    keys = set()
    for r in a + b:
        keys |= set(r)
    def norm(v):
        # Floats compare by value: a reader's 0 and the writer's 0.0 are one double.
        if isinstance(v, list) and v[0] == "f" and not isinstance(v[1], str):
            return ["f", float(v[1]).hex()]
        return v
    dump = lambda r: json.dumps({k: norm(r.get(k)) for k in sorted(keys)}, ensure_ascii=False)
    sa, sb = sorted(map(dump, a)), sorted(map(dump, b))
    if sa == sb:
        print("%d rows equal" % len(sa))
        return 0
    print("expected %d rows, read %d" % (len(sa), len(sb)))
    from collections import Counter
    ca, cb = Counter(sa), Counter(sb)
    for r in list((ca - cb).elements())[:3]:
        print("missing: " + r[:600])
    for r in list((cb - ca).elements())[:3]:
        print("extra:   " + r[:600])
    return 1


def replay(args):
    from urllib.parse import unquote
    table = args[0]
    log = os.path.join(table, "_delta_log")
    names = sorted(n for n in os.listdir(log) if n.endswith(".json") and not n.startswith("."))
    live, ever = {}, set()
    for i, n in enumerate(names):
        if n != "%020d.json" % i:
            print("version %d missing: found %s" % (i, n))
            return 1
        with open(os.path.join(log, n)) as f:
            for line in f:
                a = json.loads(line)
                if "add" in a:
                    p = unquote(a["add"]["path"])
                    live[p] = a["add"]
                    ever.add(p)
                if "remove" in a:
                    live.pop(unquote(a["remove"]["path"]), None)
    on_disk = set()
    for root, dirs, files in os.walk(table):
        if os.path.relpath(root, table).startswith("_delta_log"):
            for f in files:
                if f.startswith("."):
                    print("temporary file left in the log: " + f)
                    return 1
            continue
        for f in files:
            on_disk.add(os.path.relpath(os.path.join(root, f), table))
    bad = 0
    for p, add in live.items():
        full = os.path.join(table, p)
        if not os.path.exists(full):
            print("live file missing: " + p)
            bad = 1
        elif os.path.getsize(full) != add["size"]:
            print("size differs: %s: log %d, disk %d" % (p, add["size"], os.path.getsize(full)))
            bad = 1
        stats = json.loads(add["stats"])
        with open(full, "rb") as f:
            f.seek(-8, 2)
            tail = f.read(8)
        if tail[4:] != b"PAR1":
            print("not a whole Parquet file: " + p)
            bad = 1
        if not isinstance(stats.get("numRecords"), int):
            print("no numRecords: " + p)
            bad = 1
    for p in sorted(on_disk - ever):
        print("a file no version mentions: " + p)
        bad = 1
    if not bad:
        print("%d versions, %d live files, %d files on disk" % (len(names), len(live), len(on_disk)))
    return bad


if __name__ == "__main__":
    cmd = sys.argv[1]
    sys.exit({"gen": gen, "check": check, "replay": replay}[cmd](sys.argv[2:]) or 0)
