"""ckpt_check.py - independent checks of rtai-cat's checkpoint barriers.

    ckpt_check.py ends INPUT          the byte offset after each record of
                                      INPUT (an rtai capture, plain or .zst,
                                      or text lines), one per line
    ckpt_check.py barriers INPUT OUT [FIRST [BASE]]
                                      OUT is `rtai-cat -p --meta` output of a
                                      source reading INPUT: checks that the
                                      barriers number FIRST, FIRST+1, ...
                                      (FIRST 1 by default), that each carries
                                      the number of records before it (BASE,
                                      the records a resumed run skipped, plus
                                      those in OUT) and the offset after the
                                      last of them; prints
                                      "BARRIERS RECORDS LAST_TYPE" or the
                                      first bad barrier, exit 1
Reads files with its own parser (rtai-record(5)), not rtai's.
"""
import json
import subprocess
import sys


def ends(path):
    raw = open(path, "rb").read()
    if path.endswith(".zst"):
        raw = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
    out = []
    if raw[:4] != b"RTAI":
        off = 0
        for line in raw.split(b"\n")[:-1]:
            off += len(line) + 1
            out.append(off)
        return out
    off = 0
    while off < len(raw):
        if raw[off:off + 4] == b"RTAI":
            off += 8
            continue
        n = int.from_bytes(raw[off:off + 4], "little")
        kind = raw[off + 4]
        off += 4 + n
        if kind == 1:
            out.append(off)
    return out


def barriers(path, out, first=1, base=0):
    e = ends(path)
    seen, want, nb, last = 0, first, 0, None
    for line in open(out):
        o = json.loads(line)
        if o.get("_kind") == "barrier":
            b = o["_barrier"]
            s = b["sources"][0]
            good = (b["checkpoint"] == want and s["source"] == "rtai-cat" and
                    s["input"] == path and s["records"] == base + seen and
                    s["offset"] == (e[s["records"] - 1] if s["records"] > 0 else 0))
            if not good:
                print("bad barrier after %d records: %s" % (seen, line.strip()))
                sys.exit(1)
            want, nb, last = want + 1, nb + 1, b["type"]
        elif "_kind" not in o:
            seen += 1
    print(nb, seen, last)


if sys.argv[1] == "ends":
    for x in ends(sys.argv[2]):
        print(x)
else:
    barriers(sys.argv[2], sys.argv[3], *[int(a) for a in sys.argv[4:6]])
