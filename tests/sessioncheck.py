"""sessioncheck.py - rtai-window --session against a brute force.

    sessioncheck.py TRIALS SEED

Generates TRIALS random streams (a few keys, event times out of order by
up to a few gaps), runs `rtai-window -k u --session GAP --delay D --late
FILE -a count -a sum:x` on each (lateness 0), and checks, independently of
rtai's code:
  - no two sessions written for one key overlap or touch;
  - the sessions written are exactly the sessionization of the records
    that were not late (per key, sorted by time, a new session when a
    record comes more than GAP after the last one): bounds, count, sum;
  - the late records are those a simple model finds late: in arrival
    order, a record is late when its session, merged with what it touches
    (fired sessions included), ends at or before W, or reaches a session
    that already fired (W = largest time so far - D, moved after each
    record; a session fires when W reaches its end).
Prints one line per failing trial (its input and what differed) and exits 1
on any failure; prints "ok TRIALS" otherwise.
"""
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "contrib", "python"))
import rtai_stream as rs  # noqa: E402

NS = 10**9


def gen(rnd):
    gap = rnd.choice([2, 3, 5, 10])
    delay = rnd.choice([0, 0, 1, 3, 8])
    keys = "abc"[: rnd.randint(1, 3)]
    t, recs = 0, []
    for i in range(rnd.randint(5, 60)):
        t += rnd.choice([0, 1, 1, 2, 3, gap, gap + 1, 2 * gap])
        back = rnd.choice([0, 0, 0, rnd.randint(0, 3 * gap)])
        recs.append((max(0, t - back), rnd.choice(keys), i + 1))
    return gap, delay, recs


def sessionize(recs, gap):
    """(key, start, end, count, sum) of every session of the given records."""
    out = []
    for k in sorted({r[1] for r in recs}):
        cur = None
        for t, _, x in sorted(r for r in recs if r[1] == k):
            if cur is not None and t <= cur[2]:
                cur = [k, cur[1], t + gap, cur[3] + 1, cur[4] + x]
                continue
            if cur is not None:
                out.append(tuple(cur))
            cur = [k, t, t + gap, 1, x]
        out.append(tuple(cur))
    return sorted(out)


def model_late(recs, gap, delay):
    """The ids of the records that are late, by the rule in rtai-window(1)."""
    W, late = None, set()
    held = {}    # key -> [start, end] of sessions not fired
    fired = {}   # key -> [start, end] of fired sessions
    for t, k, x in recs:
        s, e = t, t + gap
        touch = [b for b in held.get(k, []) if b[0] <= e and t <= b[1]]
        reach = [b for b in fired.get(k, []) if b[0] <= e and t <= b[1]]
        for b in touch:
            s, e = min(s, b[0]), max(e, b[1])
        if (W is not None and e <= W) or reach:
            late.add(x)
        else:
            held[k] = [b for b in held.get(k, []) if b not in touch] + [[s, e]]
        W = t - delay if W is None else max(W, t - delay)
        for kk in held:
            fired.setdefault(kk, []).extend(b for b in held[kk] if b[1] <= W)
            held[kk] = [b for b in held[kk] if b[1] > W]
    return late


def run(recs, gap, delay, tmp):
    inp, late = os.path.join(tmp, "in.rtai"), os.path.join(tmp, "late.rtai")
    for p in (inp, late):
        if os.path.exists(p):
            os.unlink(p)
    with open(inp, "wb") as f:
        w = rs.Writer(f)
        for n, (t, k, x) in enumerate(recs):
            w.write_record({"u": k, "x": x}, ingest_ns=n + 1, event_ns=t * NS)
        w.close()
    p = subprocess.run(["rtai-window", "-k", "u", "--session", "%ds" % gap, "--delay", "%ds" % delay,
                        "--late", late, "-a", "count", "-a", "sum:x"],
                       stdin=open(inp, "rb"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if p.returncode != 0:
        raise SystemExit("rtai-window exited %d: %s" % (p.returncode, p.stderr.decode()))
    wins = []
    for f in rs.Reader(__import__("io").BytesIO(p.stdout)):
        if f.kind == rs.DATA:
            r = f.record()
            wins.append((r["u"], r["window_start"] // NS, r["window_end"] // NS, r["count"], r["sum_x"]))
    with open(late, "rb") as f:
        lates = {fr.record()["x"] for fr in rs.Reader(f) if fr.kind == rs.DATA}
    return wins, lates


def check(recs, gap, delay, tmp):
    wins, lates = run(recs, gap, delay, tmp)
    errs = []
    for k in {w[0] for w in wins}:
        ws = sorted(w for w in wins if w[0] == k)
        for a, b in zip(ws, ws[1:]):
            if b[1] <= a[2]:
                errs.append("sessions of %s overlap or touch: %s %s" % (k, a, b))
    kept = [r for r in recs if r[2] not in lates]
    want = sessionize(kept, gap) if kept else []
    if sorted(wins) != want:
        errs.append("written %s, brute force of the records not late %s" % (sorted(wins), want))
    ml = model_late(recs, gap, delay)
    if lates != ml:
        errs.append("late %s, model %s" % (sorted(lates), sorted(ml)))
    return errs


def main():
    trials, seed = int(sys.argv[1]), int(sys.argv[2])
    rnd, bad = random.Random(seed), 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(trials):
            gap, delay, recs = gen(rnd)
            errs = check(recs, gap, delay, tmp)
            if errs:
                bad += 1
                print("trial %d: --session %ds --delay %ds, records (t, key, x) %s: %s"
                      % (i, gap, delay, recs, "; ".join(errs)))
    if bad:
        sys.exit(1)
    print("ok", trials)


if __name__ == "__main__":
    main()
