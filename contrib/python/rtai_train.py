#!/usr/bin/python3
"""rtai_train.py - train an XGBoost model on a training set that rtai built.

    /usr/bin/python3 rtai_train.py --features amount,tx_10m,credit_limit \\
        --label fraud train.jsonl fraud.json

The training set is JSON Lines, one record per example, as `rtai-cat -p`
prints the output of rtai-window --over and rtai-join --as-of. Feature
values are read as rtai-score reads them: numbers as float32, true and
false as 1 and 0, null, absent, NaN and infinite values as missing (NaN);
any other type is an error naming the line. The label is 0 or 1
(binary:logistic). The model is saved with its feature names, so
`rtai-score -m MODEL` maps them to fields without --features; as JSON, or
as UBJSON when MODEL ends in .ubj. The file is written under a fresh
temporary name in its directory and renamed into place.

Small and fast on purpose (few shallow trees, one thread, a fixed seed):
the same training set gives the same model bytes. Uses Debian's
python3-xgboost (1.7); run it with /usr/bin/python3 when another python3
comes first on PATH.
"""
import argparse
import json
import math
import os
import sys
import tempfile

try:
    import numpy as np
    import xgboost as xgb
except ImportError as e:  # pragma: no cover
    sys.exit("rtai_train.py: %s (install python3-xgboost, and run /usr/bin/python3)" % e)


def column(value, where, name):
    """A feature value as rtai-score reads it."""
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        v = float(np.float32(value))
        return v if math.isfinite(v) else math.nan
    raise ValueError("%s: field \"%s\": expected a number, true, false or null, got %s"
                     % (where, name, type(value).__name__))


def load(path, features, label):
    rows, labels = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = "%s: line %d" % (path, n)
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise ValueError("%s: not JSON: %s" % (where, e))
            if label not in rec or rec[label] not in (0, 1, True, False):
                raise ValueError("%s: label \"%s\": expected 0 or 1, got %s"
                                 % (where, label, json.dumps(rec.get(label))))
            rows.append([column(rec.get(k), where, k) for k in features])
            labels.append(float(rec[label]))
    if not rows:
        raise ValueError("%s: no training examples" % path)
    return np.array(rows, dtype=np.float32), np.array(labels, dtype=np.float32)


def save(booster, path):
    raw = booster.save_raw(raw_format="ubj" if path.endswith(".ubj") else "json")
    fd, tmp = tempfile.mkstemp(prefix=".rtai_train.", dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main():
    ap = argparse.ArgumentParser(description="Train an XGBoost binary classifier on JSON Lines.")
    ap.add_argument("--features", required=True, help="feature fields, comma-separated")
    ap.add_argument("--label", required=True, help="the label field (0 or 1)")
    ap.add_argument("--rounds", type=int, default=20, help="boosting rounds (default 20)")
    ap.add_argument("--depth", type=int, default=4, help="tree depth (default 4)")
    ap.add_argument("train", help="training set, JSON Lines")
    ap.add_argument("model", help="the model file to write (.json or .ubj)")
    args = ap.parse_args()
    features = [f for f in args.features.split(",")]
    if any(not f for f in features):
        ap.error("--features: empty field name")
    try:
        x, y = load(args.train, features, args.label)
    except (OSError, ValueError) as e:
        sys.exit("rtai_train.py: %s" % e)
    d = xgb.DMatrix(x, label=y, feature_names=features, missing=math.nan)
    params = {"objective": "binary:logistic", "max_depth": args.depth, "eta": 0.3,
              "nthread": 1, "seed": 0, "eval_metric": "auc"}
    booster = xgb.train(params, d, args.rounds)
    p = booster.predict(d)
    acc = float(((p > 0.5) == (y > 0.5)).mean())
    auc = booster.eval(d).split(":")[-1]
    print("rtai_train.py: %d examples, %d positive, %d features, %d rounds: training accuracy "
          "%.4f, auc %s -> %s" % (len(y), int(y.sum()), len(features), args.rounds, acc, auc,
                                   args.model), file=sys.stderr)
    try:
        save(booster, args.model)
    except OSError as e:
        sys.exit("rtai_train.py: %s: %s" % (args.model, e))


if __name__ == "__main__":
    main()
