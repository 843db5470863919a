"""overcheck.py - rtai-window --over (event order, no --late) against a brute force.

    overcheck.py TRIALS SEED

Generates TRIALS random streams (a few keys, event times out of order by
up to a few ranges), runs `rtai-window -k u --over RANGE --delay D -a count
-a sum:x` on each, and checks, independently of rtai's code:
  - every record is written exactly once (none dropped, whatever its
    lateness);
  - a record that is not late (t >= W at its arrival, W = largest time so
    far - D) leaves when W passes it, with the count and sum of the records
    of its key in (t - RANGE, t] that arrived before it left (its peers
    included): what a batch computation over those records gives;
  - a late record leaves at once with at least the records of its range
    within RANGE of its key's newest time and of the newest time that had
    left, and at most those of its range within RANGE of its key's newest
    time (rtai-window(1): "exact when every record of its key in its range
    is within range of the key's newest event time"); exact when both agree.
Prints one line per failing trial and exits 1 on any failure; "ok TRIALS"
otherwise.
"""
import io
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "contrib", "python"))
import rtai_stream as rs  # noqa: E402

NS = 10**9


def gen(rnd):
    rng = rnd.choice([3, 5, 10])
    delay = rnd.choice([0, 0, 2, 5])
    keys = "abc"[: rnd.randint(1, 3)]
    t, recs = 0, []
    for i in range(rnd.randint(5, 80)):
        t += rnd.choice([0, 1, 1, 2, 3])
        back = rnd.choice([0, 0, 0, rnd.randint(0, 3 * rng)])
        recs.append((max(0, t - back), rnd.choice(keys), rnd.randint(-50, 50), i + 1))
    return rng, delay, recs


def model(recs, rng, delay):
    """id -> ("exact", count, sum) or ("bounds", lo, hi, sum if lo == hi)."""
    W = maxt = now = None
    waiting, left, want = [], {}, {}

    def release(limit):
        nonlocal now
        out = sorted((r for r in waiting if limit is None or r[0] < limit), key=lambda r: (r[0], r[3]))
        for r in out:
            waiting.remove(r)
        for tt in sorted({r[0] for r in out}):
            group = [r for r in out if r[0] == tt]
            for r in group:
                left.setdefault(r[1], []).append(r)
            now = tt
            for t, k, _, i in group:
                xs = [s[2] for s in left[k] if t - rng < s[0] <= t]
                want[i] = ("exact", len(xs), sum(xs))

    for r in recs:
        t, k, x, i = r
        if W is not None and t < W:
            held = left.get(k, [])
            newest = max([s[0] for s in held] + [t])
            hi = [s for s in held if t - rng < s[0] <= t and s[0] > newest - rng]
            lo = [s for s in hi if now is not None and s[0] > now - rng]
            want[i] = ("bounds", len(lo) + 1, len(hi) + 1,
                       sum(s[2] for s in hi) + x if len(lo) == len(hi) else None)
            left.setdefault(k, []).append(r)
            continue
        waiting.append(r)
        maxt = t if maxt is None else max(maxt, t)
        if W is None or maxt - delay > W:
            W = maxt - delay
            release(W)
    release(None)
    return want


def run(recs, rng, delay, tmp):
    inp = os.path.join(tmp, "in.rtai")
    with open(inp, "wb") as f:
        w = rs.Writer(f)
        for n, (t, k, x, i) in enumerate(recs):
            w.write_record({"u": k, "x": x, "id": i}, ingest_ns=n + 1, event_ns=t * NS)
        w.close()
    p = subprocess.run(["rtai-window", "-k", "u", "--over", "%ds" % rng, "--delay", "%ds" % delay,
                        "-a", "count", "-a", "sum:x"],
                       stdin=open(inp, "rb"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if p.returncode != 0:
        raise SystemExit("rtai-window exited %d: %s" % (p.returncode, p.stderr.decode()))
    got = []
    for f in rs.Reader(io.BytesIO(p.stdout)):
        if f.kind == rs.DATA:
            r = f.record()
            got.append((r["id"], r["count"], r["sum_x"]))
    return got


def check(recs, rng, delay, tmp):
    got, want, errs = run(recs, rng, delay, tmp), model(recs, rng, delay), []
    ids = sorted(g[0] for g in got)
    if ids != sorted(want):
        errs.append("written ids %s, want every id once" % ids)
    for i, c, s in got:
        w = want.get(i)
        if w is None:
            continue
        if w[0] == "exact" and (c, s) != w[1:]:
            errs.append("id %d: count %d sum %d, brute force %d %d" % (i, c, s, w[1], w[2]))
        if w[0] == "bounds" and not (w[1] <= c <= w[2] and (w[3] is None or s == w[3])):
            errs.append("id %d (late): count %d sum %d, brute force between %d and %d (sum %s)"
                        % (i, c, s, w[1], w[2], w[3]))
    return errs


def main():
    trials, seed = int(sys.argv[1]), int(sys.argv[2])
    rnd, bad = random.Random(seed), 0
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(trials):
            rng, delay, recs = gen(rnd)
            errs = check(recs, rng, delay, tmp)
            if errs:
                bad += 1
                print("trial %d: --over %ds --delay %ds, records (t, key, x, id) %s: %s"
                      % (n, rng, delay, recs, "; ".join(errs)))
    if bad:
        sys.exit(1)
    print("ok", trials)


if __name__ == "__main__":
    main()
