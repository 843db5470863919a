#!/usr/bin/env bats
# rtai-score: XGBoost predictions added to records. Every score is checked
# against Debian's python3-xgboost predicting the same rows (an independent
# computation); the fraud loop of rtai-score(1) runs end to end.

load common

PY=/usr/bin/python3

# Models trained once for the file by python3-xgboost, on data with
# missing values so that the trees learn a branch for them:
#   bin.json, bin.ubj  binary:logistic on a, b, c (8 rounds)
#   multi.json         multi:softprob, 3 classes, on a, b, c
#   noname.json        binary:logistic without feature names
setup_file() {
	"$PY" -c 'import xgboost' || { echo "python3-xgboost is missing (scripts/check installs it)" >&2; return 1; }
	cd "$BATS_FILE_TMPDIR" || return 1
	"$PY" - <<-'EOF'
	import numpy as np, xgboost as xgb
	rng = np.random.default_rng(7)
	x = rng.normal(size=(600, 3)).astype(np.float32)
	x[:, 2] = (x[:, 2] > 0)
	x[rng.random(600) < 0.1, 0] = np.nan
	y = ((np.nan_to_num(x[:, 0], nan=1.0) + x[:, 1] + x[:, 2]) > 0.5).astype(int)
	p = {"max_depth": 3, "nthread": 1, "seed": 0}
	b = xgb.train(dict(p, objective="binary:logistic"), xgb.DMatrix(x, label=y, feature_names=["a", "b", "c"]), 8)
	b.save_model("bin.json"); b.save_model("bin.ubj")
	m = xgb.train(dict(p, objective="multi:softprob", num_class=3),
	              xgb.DMatrix(x, label=(x[:, 1] > -0.5).astype(int) + (x[:, 1] > 0.5), feature_names=["a", "b", "c"]), 4)
	m.save_model("multi.json")
	xgb.train(dict(p, objective="binary:logistic"), xgb.DMatrix(x, label=y), 3).save_model("noname.json")
	EOF
	cat >agree.py <<-'EOF'
	import json, math, sys
	import numpy as np, xgboost as xgb
	model, feats, outs = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
	margin = len(sys.argv) > 4
	b = xgb.Booster(model_file=model)
	recs = [json.loads(l) for l in sys.stdin]
	def col(v):
	    if v is None: return math.nan
	    v = float(v)
	    return v if math.isfinite(v) else math.nan
	x = np.array([[col(r.get(f)) for f in feats] for r in recs], dtype=np.float32).reshape(len(recs), len(feats))
	p = b.predict(xgb.DMatrix(x, missing=math.nan, feature_names=b.feature_names and feats), output_margin=margin).reshape(len(recs), -1)
	for r, want in zip(recs, p):
	    got = [r[o] for o in outs]
	    if got != [float(w) for w in want]:
	        sys.exit("disagree: %s: python %s" % (json.dumps(r), [float(w) for w in want]))
	print("%d rows agree" % len(recs))
	EOF
}

setup_local() {
	cp "$BATS_FILE_TMPDIR"/*.json "$BATS_FILE_TMPDIR"/*.ubj .
}

teardown_local() {
	redis_stop
}

# Rows with numbers, null, booleans, ints and an absent-free shape.
rows() {
	cat <<-'EOF'
	{"id":1,"a":0.5,"b":-0.25,"c":1}
	{"id":2,"a":null,"b":1.5,"c":0}
	{"id":3,"a":-1,"b":0.75,"c":true}
	{"id":4,"a":2.25,"b":-2,"c":false}
	{"id":5,"a":-0.125,"b":0.0625,"c":0,"score":"replaced"}
	EOF
}

# agree MODEL FEATURES OUTPUTS [margin] < scored.jsonl: python3-xgboost
# predicts each line's features (null, absent, NaN, inf: missing; bools:
# 0/1) and prints "N rows agree", or the first disagreement.
agree() {
	"$PY" "$BATS_FILE_TMPDIR/agree.py" "$@"
}

score_rows() {
	rows | rtai-cat | rtai-parse | rtai-score "$@" | rtai-cat -p
}
export -f rows agree score_rows
export PY

# ---- options ---------------------------------------------------------------

@test "score: --help lists every option on stdout; --version" {
	run rtai-score --help
	echo "$output"
	assert_success
	for o in --model --features --allow-absent --field --margin --on-error --dlq --threads --batch \
		--verbose --max-frame --help --version; do
		assert_output --partial -- "$o"
	done
	run rtai-score --version
	assert_success
	assert_output --regexp '^rtai-score \(rtai\) '
}

@test "score: usage errors exit 2" {
	run rtai-score
	echo "$output"
	assert_failure 2
	assert_output --partial 'give a model: -m MODEL'
	run rtai-score -m bin.json --threads 0
	echo "$output"
	assert_failure 2
	assert_output --partial -- '--threads'
	run rtai-score -m bin.json --batch 70000
	assert_failure 2
	assert_output --partial -- '--batch'
	run rtai-score -m bin.json --on-error maybe
	assert_failure 2
	assert_output --partial "--on-error: 'maybe': expected fail, skip or dlq"
	run rtai-score -m bin.json --on-error dlq
	assert_failure 2
	assert_output --partial -- '--on-error dlq needs --dlq FILE'
	run rtai-score -m bin.json --on-error skip --dlq x.rtai
	assert_failure 2
	assert_output --partial -- '--dlq needs --on-error dlq'
	run rtai-score -m bin.json --field ''
	assert_failure 2
	assert_output --partial -- '--field: give a name'
	run rtai-score -m bin.json --features 'a,,c'
	assert_failure 2
	assert_output --partial -- '--features'
	run rtai-score -m bin.json a b
	assert_failure 2
	assert_output --partial 'one input at most'
	run rtai-score -m bin.json --bogus
	assert_failure 2
	run rtai-score -m bin.json --max-frame 10
	assert_failure 2
}

# ---- predictions ---------------------------------------------------------------

@test "score: binary:logistic probabilities equal python3-xgboost's, JSON and UBJSON models" {
	run bash -o pipefail -c 'score_rows -m bin.json >j.jsonl && score_rows -m bin.ubj >u.jsonl && cat j.jsonl'
	echo "$output"
	assert_success
	assert_line --index 0 --regexp '^\{"id":1,"a":0.5,"b":-0.25,"c":1,"score":0\.[0-9]+\}$'
	# a field called score is replaced where it stands
	assert_line --index 4 --regexp '^\{"id":5,"a":-0.125,"b":0.0625,"c":0,"score":[0-9.e-]+\}$'
	run agree bin.json a,b,c score <j.jsonl
	echo "$output"
	assert_success
	assert_output '5 rows agree'
	run cmp j.jsonl u.jsonl
	assert_success
}

@test "score: --margin gives the raw margin; -f names the field" {
	run bash -o pipefail -c 'score_rows -m bin.json --margin -f logit >m.jsonl && cat m.jsonl'
	echo "$output"
	assert_success
	assert_line --index 0 --regexp '"logit":-?[0-9]'
	run agree bin.json a,b,c logit margin <m.jsonl
	echo "$output"
	assert_output '5 rows agree'
	# the probability is the logistic of the margin
	run bash -o pipefail -c 'score_rows -m bin.json >p.jsonl && paste -d" " <(jq .logit m.jsonl) <(jq .score p.jsonl) |
		awk "{ d = 1 / (1 + exp(-\$1)) - \$2; if (d > 1e-6 || d < -1e-6) print \"off\", \$0 }"'
	echo "$output"
	assert_success
	assert_output ''
}

@test "score: a multi-class model adds one field per class, NAME_0 to NAME_K-1" {
	run bash -o pipefail -c 'score_rows -m multi.json -f p >c.jsonl && cat c.jsonl'
	echo "$output"
	assert_success
	run jq -c 'keys_unsorted[-3:]' c.jsonl
	assert_line --index 0 '["p_0","p_1","p_2"]'
	run agree multi.json a,b,c p_0,p_1,p_2 <c.jsonl
	echo "$output"
	assert_output '5 rows agree'
	run sh -c 'jq ".p_0 + .p_1 + .p_2" c.jsonl | awk "{ if (\$1 < 0.9999 || \$1 > 1.0001) print }"'
	assert_output ''
	run bash -o pipefail -c 'score_rows -m multi.json --margin -f p | agree multi.json a,b,c p_0,p_1,p_2 margin'
	echo "$output"
	assert_output '5 rows agree'
}

@test "score: NaN and infinite values are missing values, as null is" {
	mkstream in.rtai <<-'EOF'
	- {"a":NaN,"b":1.5,"c":0}
	- {"a":Infinity,"b":1.5,"c":0}
	- {"a":-Infinity,"b":1.5,"c":0}
	- {"a":null,"b":1.5,"c":0}
	- {"a":1e300,"b":1.5,"c":0}
	EOF
	run bash -o pipefail -c 'rtai-score -m bin.json <in.rtai | rtai-cat -p | jq .score | uniq | wc -l'
	echo "$output"
	assert_success
	assert_output 1
	run bash -o pipefail -c 'rtai-score -m bin.json <in.rtai | rtai-cat -p | tail -1 | jq -c "{a:null,b,c,score}" | agree bin.json a,b,c score'
	echo "$output"
	assert_output '1 rows agree'
}

@test "score: --features maps a model's columns to fields; a model without names needs it" {
	run bash -o pipefail -c 'rows | jq -c "{x: .a, y: .b, z: .c}" | rtai-cat | rtai-parse |
		rtai-score -m bin.json --features x,y,z | rtai-cat -p | jq -c "{a: .x, b: .y, c: .z, score}" |
		agree bin.json a,b,c score'
	echo "$output"
	assert_success
	assert_output '5 rows agree'
	run bash -o pipefail -c 'score_rows -m noname.json </dev/null'
	echo "$output"
	assert_failure 1
	assert_output --partial 'noname.json: the model stores no feature names: name its 3 columns with --features A,B,...'
	run bash -o pipefail -c 'score_rows -m noname.json --features a,b,c | agree noname.json a,b,c score'
	echo "$output"
	assert_output '5 rows agree'
	run rtai-score -m bin.json --features a,b </dev/null
	echo "$output"
	assert_failure 1
	assert_output --partial 'bin.json: the model takes 3 features, --features names 2'
}

@test "score: --threads 2 gives the same scores as one thread" {
	rtai-gen sensors -n 2000 | jq -c '{a: .temperature, b: .humidity, c: (.status == "ok")}' |
		rtai-cat | rtai-parse >in.rtai
	run bash -o pipefail -c 'rtai-score -m bin.json <in.rtai | rtai-cat -p >1.jsonl &&
		rtai-score -m bin.json --threads 2 <in.rtai | rtai-cat -p >2.jsonl && cmp 1.jsonl 2.jsonl && wc -l <1.jsonl'
	echo "$output"
	assert_success
	assert_output 2000
}

# ---- batching -------------------------------------------------------------------

@test "score: buffered records go in one call (--batch caps it); -v counts the calls" {
	rtai-gen sensors -n 3000 | jq -c '{a: .temperature, b: .humidity, c: 1}' | rtai-cat | rtai-parse >in.rtai
	run sh -c 'rtai-score -m bin.json -v <in.rtai 2>&1 >/dev/null'
	echo "$output"
	assert_success
	assert_output --partial 'bin.json: binary:logistic, 8 rounds, 1 output per row, features: a, b, c'
	# a file is read 64 KiB at a time: far fewer calls than records
	calls=$(echo "$output" | sed -n 's/.*3000 scored in \([0-9]*\) calls.*/\1/p')
	[ "$calls" -ge 12 ] && [ "$calls" -lt 100 ]
	run sh -c 'rtai-score -m bin.json -v --batch 1 <in.rtai 2>&1 >/dev/null'
	echo "$output"
	assert_output --partial '3000 records, 3000 scored in 3000 calls (1.0 a call), 0 skipped'
	run sh -c 'rtai-score -m bin.json -v --batch 1000 <in.rtai 2>&1 >/dev/null'
	assert_output --regexp '3000 scored in [0-9]+ calls'
	run bash -o pipefail -c 'rtai-score -m bin.json --batch 7 <in.rtai | rtai-cat -p | md5sum; rtai-score -m bin.json <in.rtai | rtai-cat -p | md5sum'
	echo "$output"
	[ "${lines[0]}" = "${lines[1]}" ]
}

@test "score: a lone record is scored at once, while the input stays open" {
	run timeout 20 "$PY" - <<-'EOF'
	import os, subprocess, sys
	sys.path.insert(0, os.environ["RTAI_SRC"] + "/contrib/python")
	import rtai_stream as rs
	p = subprocess.Popen(["rtai-score", "-m", "bin.json"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
	w = rs.Writer(p.stdin)
	r = iter(rs.Reader(p.stdout))
	for i in range(3):
	    w.write_record({"a": 0.5, "b": float(i), "c": 1})
	    w.flush()
	    f = next(r)          # blocks until rtai-score has written it
	    print(i, sorted(f.record()))
	w.close()            # the end-of-stream frame: a finished stream
	p.stdin.close()
	print("rest", list(r), p.wait())
	EOF
	echo "$output"
	assert_success
	assert_line --index 0 "0 ['a', 'b', 'c', 'score']"
	assert_line --index 2 "2 ['a', 'b', 'c', 'score']"
	assert_line --index 3 "rest [] 0"
}

@test "score: SIGHUP and SIGUSR1 are ignored; SIGTERM or SIGINT drains: it ends cleanly when its input ends" {
	for stop in SIGTERM SIGINT; do
	run timeout 20 "$PY" - "$stop" <<-'EOF'
	import os, signal, subprocess, sys, time
	sys.path.insert(0, os.environ["RTAI_SRC"] + "/contrib/python")
	import rtai_stream as rs
	p = subprocess.Popen(["rtai-score", "-m", "bin.json"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
	w = rs.Writer(p.stdin)
	r = iter(rs.Reader(p.stdout))
	for i, sig in enumerate([signal.SIGHUP, signal.SIGUSR1]):
	    w.write_record({"a": 0.5, "b": float(i), "c": 1})
	    w.flush()
	    print(i, "score" in next(r).record())
	    p.send_signal(sig)
	w.write_record({"a": 0.5, "b": 2.0, "c": 1})
	w.flush()
	print(2, "score" in next(r).record())
	p.send_signal(getattr(signal, sys.argv[1]))
	# A stage drains (rtai(7), SIGNALS): it reads on until its input ends.
	time.sleep(0.2)
	print("running", p.poll() is None)
	w.write_record({"a": 0.5, "b": 3.0, "c": 1})
	w.close()
	p.stdin.close()
	print("rest", ["score" in f.record() for f in r], p.wait())
	EOF
	echo "$output"
	assert_success
	assert_output - <<-'EOF'
	0 True
	1 True
	2 True
	running True
	rest [True] 0
	EOF
	done
}

@test "score: watermarks, markers and barriers pass in order; markers carry rtai-score's stamp" {
	mkstream in.rtai <<-'EOF'
	1 {"a":1,"b":1,"c":1}
	wm:1
	marker
	2 {"a":2,"b":2,"c":0}
	EOF
	run bash -o pipefail -c 'rtai-score -m bin.json <in.rtai | show -w'
	echo "$output"
	assert_success
	assert_line --index 0 --regexp '^\{"a":1,"b":1,"c":1,"score":'
	assert_line --index 1 'wm 1'
	assert_line --index 2 'kind 4'
	assert_line --index 3 --regexp '^\{"a":2,"b":2,"c":0,"score":'
	run bash -o pipefail -c 'rtai-score -m bin.json <in.rtai | rtai-cat -p --meta | grep -c rtai-score'
	echo "$output"
	assert_output 1
	# event and ingest times are kept
	run bash -o pipefail -c 'rtai-score -m bin.json <in.rtai | show -t | grep -o "event=.*"'
	echo "$output"
	assert_output - <<-'EOF'
	event=1000000000 ingest=1
	event=2000000000 ingest=2
	EOF
}

# ---- bad input ------------------------------------------------------------------

@test "score: features absent from the records: an error at the first record naming them" {
	run bash -o pipefail -c 'printf "%s\n" "{\"a\":1,\"b\":2,\"c\":1}" "{\"b\":2}" "{\"a\":1}" | rtai-cat | rtai-parse | rtai-score -m bin.json 2>err | rtai-cat -p; s=$?; cat err; exit $s'
	echo "$output"
	assert_failure 1
	assert_line --index 0 --partial '"score":'
	assert_output --partial 'rtai-score: stdin: record 2: features absent from the record: "a", "c" (map the model'"'"'s features to fields with --features, or let absent fields be missing values with --allow-absent)'
	run bash -o pipefail -c 'printf "%s\n" "{\"b\":2}" | rtai-cat | rtai-parse | rtai-score -m bin.json --features b,a,b'
	assert_failure 1
	assert_output --partial 'record 1: feature absent from the record: "a"'
}

@test "score: --allow-absent scores absent features as missing, with one warning" {
	run bash -o pipefail -c 'printf "%s\n" "{\"b\":2}" "{\"b\":-1,\"c\":1}" "{\"a\":1,\"b\":0,\"c\":0}" | rtai-cat | rtai-parse |
		rtai-score -m bin.json --allow-absent 2>err | rtai-cat -p >s.jsonl; cat err'
	echo "$output"
	assert_success
	assert_output 'rtai-score: record 1: absent features, scored as missing values (warned once): "a", "c"'
	run agree bin.json a,b,c score <s.jsonl
	echo "$output"
	assert_output '3 rows agree'
}

@test "score: a feature that is not a number fails at its record; --on-error skip drops and counts it" {
	run bash -o pipefail -c 'rows | sed "3s/-1/\"x\"/" | rtai-cat | rtai-parse | rtai-score -m bin.json 2>err | rtai-cat -p; s=$?; cat err; exit $s'
	echo "$output"
	assert_failure 1
	assert_output --partial 'rtai-score: stdin: record 3: field "a": expected a number, true, false or null (a feature of the model), got string'
	# the records before it were written
	assert_line --index 1 --partial '"id":2'
	run bash -o pipefail -c 'rows | sed "3s/-1/\"x\"/" | rtai-cat | rtai-parse | rtai-score -m bin.json --on-error skip | rtai-cat -p | jq -c .id'
	echo "$output"
	assert_success
	assert_output --partial 'record 3: field "a": expected a number'
	assert_output --partial 'rtai-score: 5 records, 1 skipped, 0 dead-lettered; first: stdin: record 3: field "a"'
	run bash -o pipefail -c 'rows | sed "3s/-1/\"x\"/" | rtai-cat | rtai-parse | rtai-score -m bin.json --on-error skip 2>/dev/null | rtai-cat -p | jq -c .id | tr "\n" " "'
	assert_output '1 2 4 5 '
	# every record skipped: status 5
	run bash -o pipefail -c 'echo "{\"a\":\"x\",\"b\":1,\"c\":1}" | rtai-cat | rtai-parse | rtai-score -m bin.json --on-error skip >/dev/null'
	echo "$output"
	assert_failure 5
	assert_output --partial 'rtai-score: every record (1) was skipped: nothing was scored (exit status 5)'
	# dlq: the record as read, with _error
	run bash -o pipefail -c 'rows | sed "3s/-1/\"x\"/" | rtai-cat | rtai-parse | rtai-score -m bin.json --dlq bad.rtai | rtai-cat -p | jq -c .id | tr "\n" " "'
	echo "$output"
	assert_success
	assert_output --partial '1 2 4 5 '
	run sh -c 'rtai-cat -p bad.rtai | jq -c "[.id, .a, ._error]"'
	echo "$output"
	assert_output '[3,"x","field \"a\": expected a number, true, false or null (a feature of the model), got string"]'
}

@test "score: raw lines are refused with a hint; a cut stream is an error" {
	run bash -o pipefail -c 'echo "not json" | rtai-cat | rtai-score -m bin.json >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output --partial 'record 1:'
	assert_output --partial '(parse raw lines with rtai-parse first)'
	rows | rtai-cat | rtai-parse >good.rtai
	head -c $(( $(wc -c <good.rtai) - 3 )) good.rtai >cut.rtai
	run rtai-score -m bin.json cut.rtai
	echo "$output"
	assert_failure
	assert_output --partial 'cut.rtai: byte'
}

@test "score: a corrupt, truncated or unknown model file is a clear error at start" {
	echo 'hello' >garbage.bin
	head -c 100 bin.ubj >cut.ubj
	head -c 300 bin.json >cut.json
	echo '{"learner": 5}' >odd.json
	run rtai-score -m garbage.bin </dev/null
	echo "$output"
	assert_failure 1
	assert_output 'rtai-score: garbage.bin: not an XGBoost model in JSON or UBJSON (save it with save_model("model.json") or save_model("model.ubj"))'
	run rtai-score -m cut.ubj </dev/null
	echo "$output"
	assert_failure 1
	assert_output --regexp '^rtai-score: cut.ubj: not a complete UBJSON model: byte [0-9]+: truncated'
	run rtai-score -m cut.json </dev/null
	echo "$output"
	assert_failure 1
	assert_output --regexp '^rtai-score: cut.json: XGBoost cannot load this JSON model: .*position: 300'
	run rtai-score -m odd.json </dev/null
	echo "$output"
	assert_failure 1
	assert_output --partial 'odd.json: XGBoost cannot load this JSON model: Invalid cast'
	run rtai-score -m missing.json </dev/null
	echo "$output"
	assert_failure 1
	assert_output 'rtai-score: missing.json: No such file or directory'
	run rtai-score -m . </dev/null
	assert_failure 1
	assert_output --partial 'is a directory'
	# at start: nothing is read first (the input here would never end)
	mkfifo never
	run timeout 10 sh -c 'exec 3<>never; exec rtai-score -m garbage.bin <never'
	echo "$output"
	assert_failure 1
}

@test "score: --max-frame bounds the frames read" {
	{ rows; printf '{"a":1,"b":2,"c":0,"note":"%0200d"}\n' 0; } | rtai-cat | rtai-parse >in.rtai
	run sh -c 'rtai-score -m bin.json --max-frame 100 in.rtai >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output 'rtai-score: in.rtai: byte 358: frame of 265 bytes exceeds the limit of 100 bytes (--max-frame)'
	run bash -o pipefail -c 'rtai-score -m bin.json --max-frame 4096 in.rtai | rtai-cat -p | wc -l'
	assert_output 6
}

# ---- the loop -------------------------------------------------------------------

@test "score: the man page's examples run" {
	redis_start
	cp "$RTAI_SRC/contrib/python/rtai_train.py" .
	run_man_examples rtai-score.1
}

# The fraud loop: features by --over and --as-of, labels by tx_id, a model
# trained by contrib/python/rtai_train.py, then the live stream scored
# through the same stages into Redis and an alert stream.
@test "score: the loop: training/serving agreement, offline = replayed, Redis and alerts" {
	redis_start
	rtai-gen transactions -n 4000 --keys 100 --step 2s --labels labels.jsonl >tx.jsonl
	rtai-gen accounts --keys 100 >accounts.jsonl
	rtai-cat tx.jsonl | rtai-parse -t event_time >capture.rtai
	features() {
		rtai-window -k account_id --over 10m -a tx_10m=count |
			rtai-join -t accounts.jsonl --on account_id --as-of event_time \
				--fields credit_limit,new_account
	}
	export -f features
	run bash -o pipefail -c 'features <capture.rtai | rtai-join -t labels.jsonl --on tx_id --fields fraud --inner | rtai-cat -p >train.jsonl'
	echo "$output"
	assert_success
	run "$PY" "$RTAI_SRC/contrib/python/rtai_train.py" --features amount,tx_10m,credit_limit,new_account \
		--label fraud train.jsonl fraud.json
	echo "$output"
	assert_success
	assert_output --regexp 'rtai_train.py: 4000 examples, [0-9]+ positive, 4 features, 20 rounds: training accuracy 0\.9[0-9]+'
	# offline: the capture, as fast as it reads
	run bash -o pipefail -c 'features <capture.rtai | rtai-score -m fraud.json | rtai-cat -p >offline.jsonl'
	echo "$output"
	assert_success
	# the model's predictions for the training rows, by python3-xgboost
	run agree fraud.json amount,tx_10m,credit_limit,new_account score <offline.jsonl
	echo "$output"
	assert_output '4000 rows agree'
	# the same capture replayed live (paced by event time, 2000x), with
	# latency markers, into Redis and an alert stream
	run bash -o pipefail -c 'rtai-cat --replay --speed 2000 --marker-interval 10ms capture.rtai | features |
		rtai-score -m fraud.json |
		rtai-sink-redis -u "$REDIS_URL" -k "score:{tx_id}" --hash --fields score,account_id --pass |
		rtai-lat -i 0 -q --json lat.json | rtai-cat -p | tee live.jsonl | jq -c "select(.score >= 0.5)" >alerts.jsonl'
	echo "$output"
	assert_success
	run cmp offline.jsonl live.jsonl
	assert_success
	run sh -c 'jq -r "[.tx_id, .score] | @tsv" offline.jsonl | sort >a; jq -r "[.tx_id, .score] | @tsv" live.jsonl | sort >b; cmp a b && wc -l <a'
	assert_output 4000
	# Redis holds every score, as the stream had it
	run rcli hget score:tx17 score
	echo "redis: $output"
	awk -v a="$output" -v b="$(jq -r 'select(.tx_id == "tx17") | .score' offline.jsonl)" 'BEGIN { exit !(a + 0 == b + 0) }'
	run rcli dbsize
	assert_output 4000
	# the alerts are the scores at or above 0.5, and mostly fraud
	run sh -c 'wc -l <alerts.jsonl'
	[ "$output" -gt 50 ]
	run bash -c "jq -r 'select(.score >= 0.5) | .tx_id' offline.jsonl | cmp - <(jq -r .tx_id alerts.jsonl) && echo same"
	assert_output same
	run "$PY" -c '
import json
labels = {r["tx_id"]: r["fraud"] for r in map(json.loads, open("labels.jsonl"))}
alerts = [json.loads(l)["tx_id"] for l in open("alerts.jsonl")]
print(sum(labels[t] for t in alerts) / len(alerts) > 0.8)'
	assert_output True
	# rtai-lat saw rtai-score as a hop
	run jq -r '[.stages[].stage] | join(" ")' lat.json
	echo "$output"
	assert_output --partial rtai-score
}
