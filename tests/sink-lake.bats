#!/usr/bin/env bats
# rtai-sink-lake: the tables it writes, read back by readers that are not
# rtai's (DuckDB and hyparquet, tests/lakeread.js) and compared with rows
# computed independently (tests/lakegen.py, jq, DuckDB's own JSON reader);
# the Delta log replayed in Python; exactly-once across kill -9; faults.

load common

setup_local() {
	need_node_modules @duckdb/node-api hyparquet hyparquet-compressors
	GEN="python3 $RTAI_SRC/tests/lakegen.py"
	READ="node $RTAI_SRC/tests/lakeread.js"
	export NODE_PATH=$RTAI_NODE_MODULES
	# A finished stream of no record: the input of a resumed sink that
	# has nothing more to write (an empty input would be a cut, rtai(7)).
	rtai-cat -o empty.rtai /dev/null
}

# The stream's source in ck: its barriers are the input's, where these
# tests put them (tests/ckpt-source.c); a checkpoint completes only in a
# run with a source, and a resumed stage takes only the source's clean end
# for the end of its input.
SRC="$RTAI_BUILD/tests/ckpt-source --checkpoint-dir ck"

clicks() {
	rtai-cat "$RTAI_SRC/tests/data/clicks.jsonl" | rtai-parse -t event_time
}

# duck SQL: runs one query with DuckDB, prints the rows as JSON lines.
duck() {
	node -e '
	require("@duckdb/node-api").DuckDBInstance.create().then(async db => {
		const r = await (await db.connect()).runAndReadAll(process.argv[1]);
		for (const row of r.getRowsJson()) console.log(JSON.stringify(row));
	}).catch(e => { console.error(e.message); process.exit(1); });' "$1"
}

# Waits until a sink has opened a file (so it has read the log already).
wait_open() {
	for _ in $(seq 1 200); do
		[ "$(find "$1" -name '.part-*.tmp' | wc -l)" -gt 0 ] && return 0
		sleep 0.05
	done
	echo "no file opened in $1" >&2
	return 1
}

# table_holds TABLE WANT N: TABLE read with DuckDB and with hyparquet
# (readers that are not ours) holds exactly WANT's N rows, for each.
table_holds() {
	run $READ -o got-duckdb.jsonl "$1" duckdb -o got-hyparquet.jsonl "$1" hyparquet
	echo "$output"
	assert_success
	for engine in duckdb hyparquet; do
		run $GEN check "$2" got-$engine.jsonl
		echo "$engine: $output"
		assert_success
		assert_output "$3 rows equal"
	done
}

# Every version's files: the log replays to exactly the files on disk.
replay_ok() {
	run $GEN replay "$1"
	echo "$output"
	assert_success
}

# ---- options ------------------------------------------------------------------

@test "sink-lake: --help lists every option and exits 0; --version" {
	run rtai-sink-lake --help
	echo "$output"
	assert_success
	for o in --partition-by --compression --row-group-rows --roll-rows --roll-bytes \
		--roll-interval --exactly-once --app-id --pass --on-error --dlq --optimize \
		--vacuum --verbose --max-frame --checkpoint-dir --stage-name --help --version; do
		assert_output --partial -- "$o"
	done
	run rtai-sink-lake --version
	echo "$output"
	assert_success
	assert_output --partial rtai-sink-lake
}

@test "sink-lake: usage errors exit 2 with a hint" {
	for args in "" "a b" "--compression lz4 t" "--on-error maybe t" "--on-error dlq t" \
		"--dlq x.rtai --on-error skip t" "--app-id a/b t" "--app-id= t" "--roll-bytes 12X t" \
		"--roll-rows 0 t" "--roll-interval soon t" "--row-group-rows 0 t" \
		"--partition-by a,,b t" "--optimize --vacuum 1h t" "--pass --vacuum 1h t" "--nope t"; do
		run rtai-sink-lake $args </dev/null
		echo "$args: $output"
		assert_failure 2
		assert_output --partial "rtai-sink-lake"
	done
	run rtai-sink-lake </dev/null
	echo "$output"
	assert_output --partial "table's directory is needed"
	run rtai-sink-lake --compression lz4 t </dev/null
	echo "$output"
	assert_output --partial "expected zstd, snappy or none"
}

# ---- what readers read -----------------------------------------------------------

@test "sink-lake: the clicks table as DuckDB reads it: every row, value and type of the input" {
	clicks | rtai-sink-lake t
	# The expected rows, from the JSON with jq: times in microseconds.
	jq -c '{user_id: ["s", .user_id], item_id: ["s", .item_id], action: ["s", .action],
		amount: ["f", .amount], event_time: ["t", (.event_time | fromdateiso8601 * 1000000 | tostring)],
		dt: ["s", .event_time[0:10]], hr: ["s", .event_time[11:13]]}' \
		"$RTAI_SRC/tests/data/clicks.jsonl" >want.jsonl
	table_holds t want.jsonl 20
	run duck "SELECT typeof(amount), typeof(event_time), typeof(user_id) FROM read_parquet('t/**/*.parquet') LIMIT 1"
	echo "$output"
	assert_output '["DOUBLE","TIMESTAMP WITH TIME ZONE","VARCHAR"]'
	replay_ok t
}

@test "sink-lake: random schemas, nulls, unicode and extremes read back equal (DuckDB, hyparquet)" {
	local seed opts gen reads=
	for seed in 1 2 3 4 5 6 7 8 9 10 11 12; do
		opts="--roll-rows $((seed * 37)) --row-group-rows $((seed * 11))"
		gen=
		case $((seed % 4)) in
		0) opts="$opts --compression none" ;;
		1) opts="$opts -p part"; gen="--partition-by part" ;;
		2) opts="$opts --compression snappy"; gen="--schema" ;;
		3) opts="$opts -p part --compression snappy"; gen="--partition-by part --schema" ;;
		esac
		$GEN gen "$seed" 400 s$seed.rtai want$seed.jsonl $gen
		run rtai-sink-lake $opts t$seed <s$seed.rtai
		echo "seed $seed ($opts): $output"
		assert_success
		replay_ok t$seed
		reads="$reads -o got$seed-duckdb.jsonl t$seed duckdb -o got$seed-hyparquet.jsonl t$seed hyparquet"
	done
	# Every table read by both readers in one process (node starts once).
	run $READ $reads
	echo "$output"
	assert_success
	for seed in 1 2 3 4 5 6 7 8 9 10 11 12; do
		for engine in duckdb hyparquet; do
			run $GEN check want$seed.jsonl got$seed-$engine.jsonl
			echo "seed $seed, $engine: $output"
			assert_success
			assert_output "400 rows equal"
		done
	done
}

@test "sink-lake: partition values with / = : % and spaces: Hive-escaped directories, URI-encoded log paths" {
	printf '%s\n' '{"p":"a/b=c:d%e","n":1}' '{"p":"x y","n":2}' '{"p":"","n":3}' '{"n":4}' |
		rtai-cat | rtai-parse | rtai-sink-lake -p p t
	run ls t
	echo "$output"
	assert_line 'p=a%2Fb%3Dc%3Ad%25e'
	assert_line 'p=x y'
	assert_line 'p=__HIVE_DEFAULT_PARTITION__'
	run jq -r 'select(.add) | .add | [.path, (.partitionValues.p | tostring)] | @tsv' t/_delta_log/*.json
	echo "$output"
	assert_line --partial $'p=a%252Fb%253Dc%253Ad%2525e/part-'
	assert_line --regexp $'^p=x%20y/part-.*\tx y$'
	assert_line --regexp $'^p=__HIVE_DEFAULT_PARTITION__/part-.*\tnull$'
	run duck "SELECT p, sum(n)::INT FROM read_parquet('t/**/*.parquet', hive_partitioning = true, hive_types = {'p': VARCHAR}) GROUP BY p ORDER BY p NULLS LAST"
	echo "$output"
	assert_output '["a/b=c:d%e",1]
["x y",2]
[null,7]'
	replay_ok t
}

@test "sink-lake: a query for one hour reads only that hour's directory" {
	printf '%s\n' '{"t":"2026-11-24T10:05:00Z","v":1}' '{"t":"2026-11-24T11:05:00Z","v":2}' \
		'{"t":"2026-11-25T10:05:00Z","v":3}' | rtai-cat | rtai-parse -t t | rtai-sink-lake t
	# Every other hour's file is made unreadable: a query that opened one would fail.
	for f in t/dt=2026-11-24/hr=11/*.parquet t/dt=2026-11-25/hr=10/*.parquet; do
		echo garbage >"$f"
	done
	run duck "SELECT v FROM read_parquet('t/**/*.parquet', hive_partitioning = true, hive_types = {'dt': VARCHAR, 'hr': VARCHAR}) WHERE dt = '2026-11-24' AND hr = '10'"
	echo "$output"
	assert_success
	assert_output '["1"]'
	run duck "SELECT v FROM read_parquet('t/**/*.parquet', hive_partitioning = true)"
	echo "$output"
	assert_failure
}

@test "sink-lake: a million events equal DuckDB's own reading of the JSON" {
	rtai-gen clicks -n 1000000 --keys 100000 --step 10ms --seed 42 >c.jsonl
	rtai-cat c.jsonl | rtai-parse -t event_time | rtai-sink-lake t
	q="SELECT user_id, item_id, action, amount::DOUBLE AS amount, epoch_us(event_time::TIMESTAMPTZ) AS t"
	run duck "WITH a AS ($q FROM read_json('c.jsonl')), b AS ($q FROM read_parquet('t/**/*.parquet'))
		SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b),
		       (SELECT count(*) FROM (FROM a EXCEPT ALL FROM b)), (SELECT count(*) FROM (FROM b EXCEPT ALL FROM a))"
	echo "$output"
	assert_output '["1000000","1000000","0","0"]'
	# Repetitive strings are dictionary-encoded; row groups of 122880 rows.
	run duck "SELECT DISTINCT encodings FROM parquet_metadata('t/**/*.parquet') WHERE path_in_schema = 'action'"
	echo "$output"
	assert_output --partial RLE_DICTIONARY
	run duck "SELECT max(row_group_num_rows) FROM parquet_metadata('t/**/*.parquet')"
	echo "$output"
	assert_output '["122880"]'
	replay_ok t
}

@test "sink-lake: column statistics in the footer and the log agree with the data" {
	clicks | rtai-sink-lake t
	run duck "SELECT stats_min_value, stats_max_value, stats_null_count FROM parquet_metadata('t/**/*.parquet') WHERE path_in_schema = 'amount'"
	echo "$output"
	want=$(jq -s -c '[(map(.amount) | min | tostring), (map(.amount) | max | tostring), "0"]' "$RTAI_SRC/tests/data/clicks.jsonl")
	echo "want $want"
	[ "$(echo "$output" | jq -c '[(.[0] | tonumber | . + 0 | tostring), (.[1] | tonumber | tostring), .[2]]')" = "$want" ]
	run sh -c "jq -r 'select(.add) | .add.stats' t/_delta_log/*.json | jq -c '[.numRecords, .minValues.user_id, .maxValues.user_id, .nullCount.amount, .minValues.event_time, .maxValues.event_time]'"
	echo "$output"
	want=$(jq -s -c '[length, (map(.user_id) | min), (map(.user_id) | max), 0, (map(.event_time) | min | sub("Z$"; ".000Z")), (map(.event_time) | max | sub("Z$"; ".000Z"))]' "$RTAI_SRC/tests/data/clicks.jsonl")
	assert_output "$want"
}

# ---- schema ------------------------------------------------------------------------

@test "sink-lake: a new field adds a nullable column: a metaData action, older files read it as null" {
	printf '%s\n' '{"t":1795514400,"a":1}' | rtai-cat | rtai-parse -t t | rtai-sink-lake t
	printf '%s\n' '{"t":1795514401,"a":2,"b":"new"}' | rtai-cat | rtai-parse -t t | rtai-sink-lake t
	run sh -c "jq -r 'select(.metaData) | .metaData.schemaString | fromjson | [.fields[].name] | join(\",\")' t/_delta_log/*.json"
	echo "$output"
	assert_output 't,a,dt,hr
t,a,b,dt,hr'
	run duck "SELECT a::INT, b FROM read_parquet('t/**/*.parquet', union_by_name = true) ORDER BY a"
	echo "$output"
	assert_output '[1,null]
[2,"new"]'
	replay_ok t
}

@test "sink-lake: a conflicting type: fail stops and removes its files, skip counts, dlq keeps the record" {
	printf '%s\n' '{"t":1795514400,"a":1}' '{"t":1795514401,"a":"x"}' '{"t":1795514402,"a":3.5}' >in.jsonl
	run sh -c "rtai-cat in.jsonl | rtai-parse -t t | rtai-sink-lake t"
	echo "$output"
	assert_failure 1
	assert_output --partial 'record 2: field "a": the table'"'"'s column is int, the value is string'
	run find t -name '*.parquet*'
	echo "$output"
	assert_output ''
	[ ! -e t/_delta_log/00000000000000000000.json ]

	run sh -c "rtai-cat in.jsonl | rtai-parse -t t | rtai-sink-lake --on-error skip t"
	echo "$output"
	assert_success
	assert_output --partial '2 skipped'
	assert_output --partial '; first: stdin: record 2: field "a"'
	run duck "SELECT a FROM read_parquet('t/**/*.parquet')"
	echo "$output"
	assert_output '["1"]'

	rm -rf t
	run sh -c "rtai-cat in.jsonl | rtai-parse -t t | rtai-sink-lake --on-error dlq --dlq bad.rtai t"
	echo "$output"
	assert_success
	run rtai-cat -p bad.rtai
	echo "$output"
	assert_output --partial '"a":"x"'
	assert_output --partial '"_error":"field \"a\": the table'
	[ "$(echo "$output" | wc -l)" -eq 2 ]
}

@test "sink-lake: all-null records before the table has a column go through the error policy; after, they are rows of nulls" {
	# lakegen.py's seed 31: the first record's fields are all null (its
	# event time is the frame's, not a field), as are 78 later ones.
	$GEN gen 31 3000 s31.rtai want31.jsonl
	run sh -c "rtai-cat -p s31.rtai | grep -c -E '^\{(\"[^\"]*\":null,?)*\}\$'"
	echo "$output"
	assert_output 79
	run rtai-sink-lake t <s31.rtai
	echo "$output"
	assert_failure 1
	assert_output --partial 'stdin: record 1: no field has a value and the table has no column yet'
	[ ! -e t/_delta_log/00000000000000000000.json ]

	run rtai-sink-lake --on-error dlq --dlq bad.rtai t31 <s31.rtai
	echo "$output"
	assert_success
	assert_output --partial '1 dead-lettered'
	run rtai-cat -p bad.rtai
	echo "$output"
	[ "$(echo "$output" | wc -l)" -eq 1 ]
	# Every file has a column: both readers read the table, all but the
	# first record, the other 78 all-null records as rows of nulls.
	run $READ -o got-duckdb.jsonl t31 duckdb -o got-hyparquet.jsonl t31 hyparquet
	echo "$output"
	assert_success
	for engine in duckdb hyparquet; do
		run $GEN check want31.jsonl got-$engine.jsonl
		echo "$engine: $output"
		assert_output --partial 'expected 3000 rows, read 2999'
		refute_output --partial 'extra: '
		[ "$(echo "$output" | grep -c '^missing: ')" -eq 1 ]
	done
}

@test "sink-lake: a record without event time goes through the error policy; all dropped exits 5" {
	run sh -c "rtai-cat '$RTAI_SRC/tests/data/clicks.jsonl' | rtai-parse | rtai-sink-lake t"
	echo "$output"
	assert_failure 1
	assert_output --partial 'record 1: no event time to partition by (parse with rtai-parse -t FIELD'
	run sh -c "rtai-cat '$RTAI_SRC/tests/data/clicks.jsonl' | rtai-parse | rtai-sink-lake --on-error skip t"
	echo "$output"
	assert_failure 5
	assert_output --partial '20 skipped'
	# A field named like a partition column is a conflict too.
	run sh -c "echo '{\"t\":1795514400,\"dt\":\"x\"}' | rtai-cat | rtai-parse -t t | rtai-sink-lake t2"
	echo "$output"
	assert_failure 1
	assert_output --partial 'field "dt" has the name of a partition column'
}

@test "sink-lake: the stream's schema frame declares the columns" {
	python3 - <<'EOF' >s.rtai
import json, os, sys
sys.path.insert(0, os.environ["RTAI_SRC"] + "/contrib/python")
import rtai_stream as rs
w = rs.Writer()
w.put(6, rs.ENC_JSON, json.dumps({"fields": [{"name": "x", "type": "float"}, {"name": "y", "type": "null"},
      {"name": "z", "type": "time"}]}).encode())
w.write_record({"x": 1, "y": None}, event_ns=1795514400 * 10**9)
w.close()
EOF
	rtai-sink-lake t <s.rtai
	run sh -c "jq -r 'select(.metaData) | .metaData.schemaString | fromjson | [.fields[] | .name + \":\" + .type] | join(\",\")' t/_delta_log/*.json"
	echo "$output"
	assert_output 'x:double,z:timestamp,dt:string,hr:string'
	run duck "SELECT x, z FROM read_parquet('t/**/*.parquet')"
	echo "$output"
	assert_output '[1,null]'
}

# ---- commits ------------------------------------------------------------------------

@test "sink-lake: files roll by rows, and each roll is one commit" {
	clicks | rtai-sink-lake -v --roll-rows 6 t 2>err
	cat err
	run ls t/_delta_log
	echo "$output"
	assert_line 00000000000000000003.json
	refute_line 00000000000000000004.json
	run sh -c "jq -r 'select(.add) | .add.stats | fromjson | .numRecords' t/_delta_log/*.json | tr '\n' ' '"
	echo "$output"
	assert_output '6 6 6 2 '
	replay_ok t
}

@test "sink-lake: --exactly-once holds rolled files for a barrier; --max-frame bounds a frame" {
	clicks | rtai-sink-lake -v --exactly-once --roll-rows 5 t 2>err
	cat err
	run ls t/_delta_log
	echo "$output"
	assert_output 00000000000000000000.json
	run sh -c "jq -r 'select(.add) | .add.path' t/_delta_log/*.json | wc -l"
	echo "$output"
	assert_output 4
	run sh -c "printf '{\"t\":1795514400,\"s\":\"%0300d\"}\n' 1 | rtai-cat | rtai-parse -t t | rtai-sink-lake --max-frame 200 t2"
	echo "$output"
	assert_failure 1
	assert_output --partial 'rtai-sink-lake: stdin: byte'
	[ ! -e t2/_delta_log ]
}

@test "sink-lake: --roll-bytes and --roll-interval roll files too" {
	clicks | rtai-sink-lake --roll-bytes 1 t
	run sh -c "jq -r 'select(.add) | .add.path' t/_delta_log/*.json | wc -l"
	echo "$output"
	assert_output 20
	# A file open for 200ms is committed while the input is still open.
	mkfifo in
	rtai-sink-lake --roll-interval 200ms t2 <in &
	pid=$!
	exec 7>in
	clicks >&7
	for _ in $(seq 1 100); do [ -e t2/_delta_log/00000000000000000000.json ] && break; sleep 0.05; done
	run ls t2/_delta_log
	echo "$output"
	exec 7>&-
	wait $pid
	echo "$output"
	assert_line 00000000000000000000.json
}

@test "sink-lake: a version taken by another writer: appends retry at the next one, a schema change stops" {
	clicks | rtai-sink-lake t
	mkfifo in
	rtai-sink-lake t <in 2>err &
	pid=$!
	exec 7>in
	clicks >&7
	wait_open t
	# Another writer commits version 1 meanwhile: an append.
	echo '{"commitInfo":{"operation":"WRITE"}}' >t/_delta_log/00000000000000000001.json
	exec 7>&-
	rc=0
	wait $pid || rc=$?
	cat err
	[ "$rc" -eq 0 ]
	run jq -c 'select(.add) | .add.partitionValues' t/_delta_log/00000000000000000002.json
	echo "$output"
	assert_output '{"dt":"2026-11-24","hr":"10"}'

	rtai-sink-lake t <in 2>err &
	pid=$!
	exec 7>in
	clicks >&7
	wait_open t
	jq -c 'select(.metaData) | .metaData.configuration = {"x":"1"} | {metaData: .metaData}' \
		t/_delta_log/00000000000000000000.json >t/_delta_log/00000000000000000003.json
	exec 7>&-
	rc=0
	wait $pid || rc=$?
	cat err
	[ "$rc" -eq 1 ]
	run cat err
	echo "$output"
	assert_output --partial 'version 3 was committed by another writer meanwhile and it changed the schema or protocol of the table'
	[ ! -e t/_delta_log/00000000000000000004.json ]
	replay_ok t
}

@test "sink-lake: a full disk (a file size limit) fails loudly and publishes nothing" {
	rtai-gen clicks -n 200000 --seed 3 | rtai-cat | rtai-parse -t event_time >big.rtai
	run sh -c "ulimit -f 200; rtai-sink-lake t <big.rtai"
	echo "$output"
	assert_failure 1
	assert_output --partial 'File too large'
	[ ! -e t/_delta_log/00000000000000000000.json ]
	run find t -name '*part-*'
	echo "$output"
	assert_output ''
}

# ---- exactly once ------------------------------------------------------------------

@test "sink-lake: barriers: one commit per checkpoint with a txn; a replayed run adds nothing" {
	$GEN gen 21 300 s.rtai want.jsonl --barrier-every 40
	rtai-sink-lake t <s.rtai
	run sh -c "jq -c 'select(.txn) | .txn | [.appId, .version]' t/_delta_log/*.json | tr '\n' ' '"
	echo "$output"
	assert_output '["rtai-sink-lake",1] ["rtai-sink-lake",2] ["rtai-sink-lake",3] ["rtai-sink-lake",4] ["rtai-sink-lake",5] ["rtai-sink-lake",6] ["rtai-sink-lake",7] '
	run rtai-sink-lake -v t <s.rtai
	echo "$output"
	assert_success
	assert_output --partial '280 already committed (replayed)'
	# The 20 records after the last barrier are committed at the end, without a txn, twice.
	run sh -c "$READ t duckdb | wc -l"
	echo "$output"
	assert_output 320
	replay_ok t
}

# The versions of a table that hold a txn action (1) and those that hold none (0).
txn_versions() {
	for f in "$1"/_delta_log/*.json; do
		jq -s 'if any(.[]; .txn != null) then 1 else 0 end' "$f"
	done | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }'
}

@test "sink-lake: --checkpoint-dir: it registers, checkpoints imply --exactly-once, a rerun resumes; --stage-name" {
	$GEN gen 24 300 s.rtai want.jsonl --barrier-every 40
	# Without checkpoints, files that roll before the first barrier are committed at once.
	run rtai-sink-lake --roll-rows 10 t0 <s.rtai
	assert_success
	run txn_versions t0
	echo "$output"
	assert_output --regexp '^0:([2-9]|[1-9][0-9]+) 1:7 $'
	# With them, every commit but the one after the last barrier holds a txn.
	run sh -c "$SRC <s.rtai | rtai-sink-lake --roll-rows 10 --checkpoint-dir ck t"
	echo "$output"
	assert_success
	run txn_versions t
	echo "$output"
	assert_output "0:1 1:7 "
	run sh -c "ls ck/stages; ls ck/ckpt-7"
	echo "$output"
	assert_line --regexp '^rtai-sink-lake-[0-9a-f]{16}$'
	assert_line COMPLETE
	assert_line --regexp '^rtai-sink-lake-[0-9a-f]{16}\.snap$'
	run sh -c "$READ t duckdb >got.jsonl && $GEN check want.jsonl got.jsonl"
	echo "$output"
	assert_output "300 rows equal"
	# The same command line again resumes (from RTAI_CHECKPOINT_DIR too).
	run sh -c "$SRC <empty.rtai | RTAI_CHECKPOINT_DIR=ck rtai-sink-lake --roll-rows 10 t"
	echo "$output"
	assert_success
	assert_output --partial "resuming from checkpoint 7 of ck"
	# --stage-name names the registration: the key is the tool and the name (lib/ckpt.c).
	run sh -c "${SRC}2 <s.rtai | rtai-sink-lake --checkpoint-dir ck2 --stage-name hist t2"
	echo "$output"
	assert_success
	key=rtai-sink-lake-$(printf 'rtai-sink-lake\nhist' | sha1sum | cut -c1-16)
	[ -e "ck2/stages/$key" ]
	[ -e "ck2/ckpt-7/$key.snap" ]
}

@test "sink-lake: --checkpoint-dir: a file that cannot be written leaves its checkpoint incomplete (nothing staged, nothing committed)" {
	# Barriers 1 and 2 after 100 and 200 clicks, barrier 3 after 100000 more:
	# the file of checkpoint 3 is too large for the file size limit, so its
	# commit fails at barrier 3.
	rtai-gen clicks -n 100200 --seed 5 | rtai-cat | rtai-parse -t event_time >c.rtai
	python3 - c.rtai b.rtai <<'EOF'
import os, sys
sys.path.insert(0, os.path.join(os.environ["RTAI_SRC"], "contrib", "python"))
import rtai_stream as rs
w = rs.Writer(open(sys.argv[2], "wb"))
n = ck = 0
for f in rs.Reader(open(sys.argv[1], "rb")):
    if f.kind != rs.DATA:
        continue
    w.write(f)
    n += 1
    if n in (100, 200, 100200):
        ck += 1
        w.put(rs.BARRIER, rs.ENC_REC, rs.encode_record(
            {"checkpoint": ck, "type": "checkpoint", "sources": [{"source": "t", "records": n}]}))
w.close()
EOF
	run sh -c "ulimit -f 200; $SRC <b.rtai | rtai-sink-lake --checkpoint-dir ck t"
	echo "$output"
	assert_failure 1
	assert_output --partial 'File too large'
	run sh -c "jq -c 'select(.txn) | .txn.version' t/_delta_log/*.json | tr '\n' ' '; ls -d ck/ckpt-*/COMPLETE"
	echo "$output"
	assert_output "1 2 ck/ckpt-1/COMPLETE
ck/ckpt-2/COMPLETE"
}

@test "sink-lake: --checkpoint-dir: a corrupt or truncated snapshot, or a table that lost commits, exits 6" {
	$GEN gen 25 200 s.rtai want.jsonl --barrier-every 50
	run sh -c "$SRC <s.rtai | rtai-sink-lake --checkpoint-dir ck t"
	echo "$output"
	assert_success
	snap=$(ls ck/ckpt-4/rtai-sink-lake-*.snap)
	cp -r ck ck.good
	# a bit flipped in the state (before the CRC-32 at the end)
	python3 -c '
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[-6] ^= 1
open(sys.argv[1], "wb").write(b)' "$snap"
	run sh -c "$SRC <empty.rtai | rtai-sink-lake --checkpoint-dir ck t"
	echo "$output"
	assert_failure 6
	assert_output --partial "$snap"
	# truncated
	rm -rf ck && cp -r ck.good ck
	truncate -s 20 "$snap"
	run sh -c "$SRC <empty.rtai | rtai-sink-lake --checkpoint-dir ck t"
	echo "$output"
	assert_failure 6
	assert_output --partial "$snap"
	# The table as it was before checkpoint 4's commit (version 3): 4 is
	# complete, and its snapshot stages its files: they are committed from
	# there (recover-and-commit), and the table is whole.
	rm -rf ck && cp -r ck.good ck && cp -r t t.good
	rm t/_delta_log/00000000000000000003.json
	run sh -c "$SRC <empty.rtai | rtai-sink-lake --checkpoint-dir ck t"
	echo "$output"
	assert_success
	assert_output --partial "t: checkpoint 4 was complete but not committed: committed from the snapshot, 4 files, 50 rows (table version 3)"
	run sh -c "jq -c 'select(.txn) | .txn.version' t/_delta_log/*.json | tr '\n' ' '"
	echo "$output"
	assert_output "1 2 3 4 "
	run sh -c "$READ t duckdb >got.jsonl && $GEN check want.jsonl got.jsonl"
	echo "$output"
	assert_output "200 rows equal"
	replay_ok t
	# Without checkpoint 3's commit as well, rows are missing: refused.
	rm -rf ck t && cp -r ck.good ck && cp -r t.good t
	rm t/_delta_log/00000000000000000002.json t/_delta_log/00000000000000000003.json
	run sh -c "$SRC <empty.rtai | rtai-sink-lake --checkpoint-dir ck t"
	echo "$output"
	assert_failure 6
	assert_output --partial "last commit of --app-id rtai-sink-lake is checkpoint 2, but checkpoint 4 of ck is complete and needs checkpoint 3 committed"
	# A file that checkpoint 4 staged is gone: refused, naming it.
	rm -rf ck t && cp -r ck.good ck && cp -r t.good t
	gone=$(jq -r 'select(.add) | .add.path' t/_delta_log/00000000000000000003.json | head -n 1)
	[ -n "$gone" ]
	rm t/_delta_log/00000000000000000003.json "t/$gone"
	run sh -c "$SRC <empty.rtai | rtai-sink-lake --checkpoint-dir ck t"
	echo "$output"
	assert_failure 6
	assert_output --partial "t/$gone: staged for checkpoint 4, which is complete in ck but not committed, and missing"
	# and a table removed
	rm -rf ck && cp -r ck.good ck
	rm -rf t
	run sh -c "$SRC <empty.rtai | rtai-sink-lake --checkpoint-dir ck t"
	echo "$output"
	assert_failure 6
	assert_output --partial "is none, but checkpoint 4"
}

@test "sink-lake: kill -9 mid-write, then restart, several times: the table equals an uninterrupted run's" {
	$GEN gen 22 3000 s.rtai want.jsonl --barrier-every 250
	# Feed the stream in pieces; kill the sink while it holds uncommitted files:
	# each piece ends with records after its last barrier (a cut that fell
	# just after a barrier moves on by 10 frames), so the sink has a file open.
	python3 - s.rtai <<'EOF' >pieces
import struct, sys
data = open(sys.argv[1], "rb").read()
off, starts, kinds = 8, [], []
while off < len(data):
    n = struct.unpack_from("<I", data, off)[0]
    starts.append(off)
    kinds.append(data[off + 4])
    off += 4 + n
for cut in (len(starts) // 5, len(starts) // 2, len(starts) * 4 // 5):
    if kinds[cut - 1] != 1:
        cut += 10
    assert all(k == 1 for k in kinds[cut - 10:cut]), cut
    print(starts[cut])
EOF
	has_open_file() { [ "$(find t -name '.part-*.tmp' | wc -l)" -gt 0 ]; }
	for cut in $(cat pieces); do
		mkfifo in
		rtai-sink-lake --app-id job1 t <in &
		pid=$!
		exec 7>in
		head -c "$cut" s.rtai >&7
		# Wait until the sink has read it all (its open files exist), then kill it.
		wait_until has_open_file
		sleep 0.3
		kill -9 $pid
		wait $pid || true
		exec 7>&-
		rm in
		# Readers see whole commits only: the log's files all exist and are whole.
		run sh -c "$READ t duckdb | wc -l"
		echo "after a kill at byte $cut: $output rows"
		assert_success
		[ $((output % 250)) -eq 0 ]
	done
	# The restart replays the whole stream: committed checkpoints are skipped.
	run rtai-sink-lake -v --app-id job1 t <s.rtai
	echo "$output"
	assert_success
	table_holds t want.jsonl 3000
	replay_ok t
}

# ---- two-phase commit: a checkpoint's files are committed once it is complete ----------

# lake_pipeline SUFFIX: rtai-cat s.rtai (a checkpoint every 200 ms, 1500
# records/s) | rtai-sink-lake --pass t | ckpt-sink, a registered stage after
# the sink that holds each barrier while the file "hold" exists, all in ck.
# The pids go to cat.pid, sink.pid and down.pid, stderr to cat.SUFFIX,
# sink.SUFFIX and down.SUFFIX; the status is the first failing stage's.
lake_pipeline() {
	(
		set -o pipefail
		sh -c 'echo $$ >cat.pid; exec rtai-cat --checkpoint-dir ck --checkpoint-interval 200ms --rate 1500 s.rtai' 2>"cat.$1" |
			sh -c 'echo $$ >sink.pid; exec rtai-sink-lake --pass --checkpoint-dir ck t' 2>"sink.$1" |
			sh -c 'echo $$ >down.pid; exec "$0" --checkpoint-dir ck --checkpoint-hold hold out.txt' \
				"$RTAI_BUILD/tests/ckpt-sink" 2>"down.$1"
	)
}

# lake_hold: once checkpoint 2 is complete, the stage after the sink holds
# the next barrier; prints the id of the checkpoint held (incomplete: the
# sink wrote its snapshot before it forwarded the barrier).
lake_hold() {
	wait_until test -e ck/ckpt-2/COMPLETE || return 1
	touch hold
	wait_until grep -q '^holding' down.1 || return 1
	sed -n 's/^holding //p' down.1 | head -n 1
}

lake_kill_all() {
	kill -9 "$(cat sink.pid)" "$(cat down.pid)" "$(cat cat.pid)" 2>/dev/null || true
	{ wait "$1"; } 2>/dev/null || true	# no "Killed" notice in the output
}

# The last txn version in the log.
last_txn() { jq -r 'select(.txn) | .txn.version' t/_delta_log/*.json | tail -n 1; }

# The uninterrupted run's rows are want.jsonl (lakegen.py computes them):
# the rerun's table must hold each exactly once, and the log replay to the
# files on disk.
lake_rerun_ok() {
	rm -f hold
	run lake_pipeline 2
	echo "$output"
	cat sink.2 cat.2 down.2
	assert_success
	run grep -c 'resuming from checkpoint' sink.2
	assert_output 1
	table_holds t want.jsonl 3000
	replay_ok t
}

# lake_kill_before_completion: the sink killed -9 while checkpoint N is
# held after it: it wrote its snapshot of N, staging N's files, and never
# learned that N completed (it did not). Writes N to the file "held".
lake_kill_before_completion() {
	local bg n
	lake_pipeline 1 &
	bg=$!
	n=$(lake_hold) || { lake_kill_all $bg; return 1; }
	sleep 0.5	# time for a wrong commit of n
	ls ck/ckpt-"$n"/rtai-sink-lake-*.snap >/dev/null &&
		[ ! -e ck/ckpt-"$n"/COMPLETE ] &&
		[ "$(last_txn)" -eq $((n - 1)) ] || { lake_kill_all $bg; return 1; }
	lake_kill_all $bg
	echo "$n" >held
}

@test "sink-lake: two-phase commit: killed after its snapshot of N, before N completes: the rerun equals an uninterrupted run" {
	$GEN gen 34 3000 s.rtai want.jsonl
	lake_kill_before_completion
	n=$(cat held)
	echo "held and killed at checkpoint $n"
	[[ "$n" =~ ^[0-9]+$ ]]
	# N's files were written and fsynced, and are in no version.
	staged=$(find t -name "part-rtai-sink-lake-c$(printf %020d "$n")-*.parquet")
	echo "staged for $n: $staged"
	[ -n "$staged" ]
	for f in $staged; do
		run grep -l "${f##*/}" t/_delta_log/*.json
		assert_failure
	done
	lake_rerun_ok
	grep "resuming from checkpoint $((n - 1)) of ck" sink.2
	run grep 'committed from the snapshot' sink.2
	assert_failure
}

@test "sink-lake: two-phase commit: killed after N completed, before its commit: the rerun commits N from the snapshot" {
	$GEN gen 32 3000 s.rtai want.jsonl
	lake_pipeline 1 &
	bg=$!
	run lake_hold
	echo "$output"
	assert_success
	n=$output
	# The sink is stopped; the stage after it writes its snapshot of N:
	# N completes while the sink has not committed it.
	kill -STOP "$(cat sink.pid)"
	rm hold
	wait_until test -e ck/ckpt-"$n"/COMPLETE || { lake_kill_all $bg; false; }
	run last_txn
	echo "$output"
	[ "$output" -eq $((n - 1)) ]
	lake_kill_all $bg
	lake_rerun_ok
	grep "resuming from checkpoint $n of ck" sink.2
	grep "t: checkpoint $n was complete but not committed: committed from the snapshot" sink.2
	run last_txn
	[ "$output" -gt "$n" ]
}

@test "sink-lake: two-phase commit: files of an uncommitted checkpoint never reach the table; ours are removed, others counted" {
	$GEN gen 33 3000 s.rtai want.jsonl
	lake_kill_before_completion
	n=$(cat held)
	echo "held and killed at checkpoint $n"
	[[ "$n" =~ ^[0-9]+$ ]]
	f=$(find t -name "part-rtai-sink-lake-c$(printf %020d "$n")-*.parquet" | head -n 1)
	[ -n "$f" ]
	d=${f%/*}
	# One more file named as this sink's, of a checkpoint never taken, and
	# one that is not named so.
	cp "$f" "$d/part-rtai-sink-lake-c00000000000000000099-00000.zstd.parquet"
	cp "$f" "$d/other-writer.parquet"
	rm -f hold
	run lake_pipeline 2
	echo "$output"
	cat sink.2
	assert_success
	[ ! -e "$d/part-rtai-sink-lake-c00000000000000000099-00000.zstd.parquet" ]
	[ -e "$d/other-writer.parquet" ]
	grep -F "t: 1 files that no version holds and not named part-rtai-sink-lake-* (another writer's, or left by --optimize) were left in place, such as $d/other-writer.parquet" sink.2
	run grep -c other-writer t/_delta_log/*.json
	assert_failure
	rm "$d/other-writer.parquet"
	run $READ t duckdb
	echo "${#lines[@]} rows"
	printf '%s\n' "${lines[@]}" >got.jsonl
	run $GEN check want.jsonl got.jsonl
	echo "$output"
	assert_output "3000 rows equal"
	replay_ok t
}

@test "sink-lake: two-phase commit: a stage after --pass that cannot write its snapshot, but runs on, declines it: the sink ends, exit 1" {
	# The window after the sink runs under a file size limit of 1 kB (as
	# a full disk; its stderr goes through a pipe, which has none): its
	# registration fits, its snapshots do not. It writes them in the
	# background and runs on; each one it fails it declines
	# (ckpt-N/KEY.declined.RUN), so the source sends the next barrier and
	# the sink stops waiting at the end of its input, where both used to
	# wait for ever (Flink's declineCheckpoint).
	# The first barrier comes after 400 ms: every stage has registered by
	# then, also a sanitized build on a busy machine (with 50 ms, one run
	# saw checkpoint 1 complete before the window registered, and the
	# window refuse to run).
	rtai-gen clicks -n 20000 --keys 2000 --step 10ms --seed 1 | rtai-cat | rtai-parse -t event_time >c.rtai
	run timeout 120 bash -c 'rtai-cat --checkpoint-dir ck --checkpoint-interval 400ms --rate 10000 c.rtai |
		{ rtai-sink-lake --pass --checkpoint-dir ck t 2>sink.err; echo $? >sink.status; } |
		{ (trap "" XFSZ; ulimit -f 1; exec rtai-window --checkpoint-dir ck -k user_id --tumbling 1h -a count 2>&1 >/dev/null); echo $? >win.status; } |
		cat >win.err'
	echo "$output"
	cat sink.err
	head -c 400 win.err
	assert_success	# the pipeline ended (timeout says 124)
	[ "$(cat sink.status)" -eq 1 ]
	grep -F "could not write its snapshot, or ended without it" sink.err
	grep -F "File too large (checkpoint 1 not taken" win.err
	ls ck/ckpt-1/rtai-window-*.declined.*
	[ ! -e ck/ckpt-1/COMPLETE ]
	# the window learns of its failed snapshot (written in the
	# background) at the next barrier, which the source sends once
	# checkpoint 1 was declined, and exits 1 then
	[ "$(cat win.status)" -eq 1 ]
	# nothing was committed: the table has no version
	[ ! -e t/_delta_log/00000000000000000000.json ] || ! grep -q '"txn"' t/_delta_log/*.json
}

@test "sink-lake: two-phase commit: at the end of its input the sink waits for its last checkpoint; one that cannot complete stays staged, exit 1" {
	# 14 kB: the --pass output fits in the pipe to a stage that stopped reading.
	$GEN gen 35 30 s.rtai want.jsonl --barrier-every 10
	# Checkpoints 1 to 3 from the file; the registered stage after the
	# sink writes 1, then stops reading (alive): 2 and 3 stay incomplete.
	{ $SRC --checkpoint-stages 3 <s.rtai | sh -c 'echo $$ >sink.pid; exec rtai-sink-lake --pass --checkpoint-dir ck t' 2>sink.err && echo 0 >sink.status || echo $? >sink.status; } |
		"$RTAI_BUILD/tests/ckpt-sink" --checkpoint-dir ck --checkpoint-stall 1 out.txt 2>down.err &
	down=$!
	wait_until test -e sink.pid
	wait_until sh -c 'ls ck/ckpt-3/rtai-sink-lake-*.snap' || { kill -9 $down; false; }
	sleep 0.5
	# The input has ended; the sink waits while the stage that has not
	# written 3 runs.
	kill -0 "$(cat sink.pid)"
	[ ! -e sink.status ]
	[ ! -e ck/ckpt-3/COMPLETE ]
	kill -9 $down
	{ wait $down; } 2>/dev/null || true
	wait_until test -s sink.status || { cat sink.err; ps -ef | grep '[r]tai-sink-lake'; false; }
	cat sink.err sink.status
	# 1, its --pass stream cut (no end-of-stream frame: nothing to write to
	# the stage that died)
	[ "$(cat sink.status)" -eq 1 ]
	grep -F "t: checkpoint 3 of ck cannot complete (a stage of the pipeline could not write its snapshot, or ended without it)" sink.err
	run sh -c "jq -r 'select(.txn) | .txn.version' t/_delta_log/*.json | tr '\n' ' '"
	echo "$output"
	assert_output "1 "
	# 2 and 3 stay staged, in no version; a rerun resumes from 1 and
	# removes them: the table holds checkpoint 1's rows, the first 10.
	ls t/*/*/part-rtai-sink-lake-c00000000000000000002-* t/*/*/part-rtai-sink-lake-c00000000000000000003-*
	run sh -c "$SRC <empty.rtai | rtai-sink-lake --pass --checkpoint-dir ck t | $RTAI_BUILD/tests/ckpt-sink --checkpoint-dir ck out.txt"
	echo "$output"
	assert_success
	assert_output --partial "rtai-sink-lake: resuming from checkpoint 1 of ck"
	run sh -c 'ls t/*/*/part-rtai-sink-lake-c0000000000000000000[23]-* 2>/dev/null | wc -l'
	assert_output 0
	head -n 10 want.jsonl >want1.jsonl
	run sh -c "$READ t duckdb >got.jsonl && $GEN check want1.jsonl got.jsonl"
	echo "$output"
	assert_output "10 rows equal"
	replay_ok t
}

@test "sink-lake: --pass forwards frames once committed; barriers too" {
	$GEN gen 23 100 s.rtai want.jsonl --barrier-every 30
	rtai-sink-lake --pass t <s.rtai >out.rtai
	run bash -c "show <out.rtai | grep -c '^kind 3'"
	assert_output 3
	run bash -c "show <out.rtai | grep -vc '^kind'"
	assert_output 100
	# A skipped record is not forwarded.
	printf '%s\n' '{"t":1795514400,"a":1}' '{"t":1795514401,"a":"x"}' | rtai-cat | rtai-parse -t t |
		rtai-sink-lake --pass --on-error skip t2 2>/dev/null | rtai-cat -p >got
	run cat got
	echo "$output"
	assert_output '{"t":"2026-11-24T10:00:00.000Z","a":1}'
}

# ---- signals, maintenance, man page --------------------------------------------------

# catches_int PID: waits (10 s at most) until PID has its SIGINT handler, as
# /proc/PID/status's SigCgt mask shows (bit 1 is signal 2), so that a
# signal sent next meets the tool's handler, not the start-up's default.
catches_int() {
	local mask
	for _ in $(seq 200); do
		mask=$(awk '/^SigCgt:/ { print $2 }' "/proc/$1/status" 2>/dev/null) || true
		[ -n "$mask" ] && [ $((0x$mask & 2)) -ne 0 ] && return 0
		sleep 0.05
	done
	echo "pid $1 has no SIGINT handler after 10 s" >&2
	return 1
}

@test "sink-lake: the first SIGINT is ignored (the input drains and is committed), the second aborts 130" {
	mkfifo in
	rtai-sink-lake t <in &
	pid=$!
	exec 7>in
	clicks >&7
	catches_int $pid
	kill -INT $pid
	sleep 0.2
	kill -0 $pid
	clicks >&7
	exec 7>&-
	rc=0
	wait $pid || rc=$?
	[ "$rc" -eq 0 ]
	run sh -c "$READ t duckdb | wc -l"
	assert_output 40

	rtai-sink-lake t2 <in &
	pid=$!
	exec 7>in
	clicks >&7
	catches_int $pid
	kill -INT $pid
	sleep 0.1
	# Two signals that arrive while one is pending count as one: send the
	# second again until the sink is gone (10 s at most), then end its
	# input, so a sink that ignored them ends with status 0, not a hang.
	for _ in $(seq 100); do
		kill -INT $pid 2>/dev/null || break
		sleep 0.1
	done
	exec 7>&-
	rc=0
	wait $pid || rc=$?
	echo "status $rc"
	[ "$rc" -eq 130 ]
	[ ! -e t2/_delta_log/00000000000000000000.json ]
}

@test "sink-lake: a table partitioned otherwise is refused; a foreign log checkpoint is refused" {
	clicks | rtai-sink-lake t
	run sh -c "rtai-cat '$RTAI_SRC/tests/data/clicks.jsonl' | rtai-parse -t event_time | rtai-sink-lake -p action t"
	echo "$output"
	assert_failure 2
	assert_output --partial 'the table is partitioned by ["dt","hr"]: give the same --partition-by'
	mkdir -p t2/_delta_log
	echo '{"version":10,"size":3}' >t2/_delta_log/_last_checkpoint
	run sh -c "rtai-sink-lake t2 </dev/null"
	echo "$output"
	assert_failure 1
	assert_output --partial 'the log starts at a checkpoint written by another writer'
}

@test "sink-lake: --vacuum deletes files no version holds once older than the retention" {
	clicks | rtai-sink-lake t
	mkdir -p t/dt=2026-01-01/hr=00
	echo old >t/dt=2026-01-01/hr=00/orphan.parquet
	echo new >t/dt=2026-11-24/hr=10/recent.parquet
	touch -d '3 days ago' t/dt=2026-01-01/hr=00/orphan.parquet
	run rtai-sink-lake --vacuum 48h t
	echo "$output"
	assert_success
	assert_output --partial '1 files removed'
	[ ! -e t/dt=2026-01-01 ]
	[ -e t/dt=2026-11-24/hr=10/recent.parquet ]
	run sh -c "$READ t duckdb | wc -l"
	assert_output 20
	run rtai-sink-lake --vacuum 1h nowhere
	echo "$output"
	assert_failure 1
	assert_output --partial 'not a Delta table'
}

@test "sink-lake: --optimize compacts each partition's small files in one commit; readers see the same rows" {
	local t reads=
	for seed in 33 32; do
		t=t$seed
		gen=; opts=
		[ $seed = 32 ] && { gen="--partition-by part"; opts="-p part --compression snappy"; }
		$GEN gen $seed 400 s$seed.rtai want$seed.jsonl $gen
		rtai-sink-lake $opts --roll-rows 25 --row-group-rows 9 $t <s$seed.rtai
		before=$(jq -r 'select(.add) | .add.path' $t/_delta_log/*.json | wc -l)
		run rtai-sink-lake --optimize $t
		echo "$output"
		assert_success
		assert_output --regexp "$before files compacted into [0-9]+ \(version [0-9]+\)"
		last=$(ls $t/_delta_log/*.json | tail -1)
		run jq -c 'select(.add or .remove) | (.add // .remove).dataChange' "$last"
		refute_output --partial true
		run jq -r '.commitInfo.operation // empty' "$last"
		assert_output OPTIMIZE
		replay_ok $t
		reads="$reads -o got$seed-duckdb.jsonl $t duckdb -o got$seed-hyparquet.jsonl $t hyparquet"
	done
	# Both tables read by both readers in one process (node starts once).
	run $READ $reads
	echo "$output"
	assert_success
	for seed in 33 32; do
		for engine in duckdb hyparquet; do
			run $GEN check want$seed.jsonl got$seed-$engine.jsonl
			echo "seed $seed, $engine: $output"
			assert_output "400 rows equal"
		done
	done
	# The compacted files go once the retention has passed (seed 32's table).
	mv t32 t
	run rtai-sink-lake --vacuum 0s t
	echo "$output"
	assert_success
	run sh -c "find t -name '*.parquet' | wc -l"
	echo "$output files"
	want=$(python3 -c "
import json, glob
live = set()
for f in sorted(glob.glob('t/_delta_log/*.json')):
    for l in open(f):
        a = json.loads(l)
        if 'add' in a: live.add(a['add']['path'])
        if 'remove' in a: live.discard(a['remove']['path'])
print(len(live))")
	[ "$output" -eq "$want" ]
	replay_ok t
	run sh -c "$READ t duckdb | wc -l"
	assert_output 400
}

@test "sink-lake: --optimize leaves files of --roll-bytes and lone files alone; a second run changes nothing" {
	clicks | rtai-sink-lake --roll-rows 5 t
	run rtai-sink-lake --optimize --roll-bytes 1 t
	echo "$output"
	assert_output --partial '0 files compacted'
	run rtai-sink-lake --optimize t
	echo "$output"
	assert_success
	assert_output --partial '4 files compacted into 1 (version 4)'
	run rtai-sink-lake --optimize t
	assert_output --partial '0 files compacted'
	run sh -c "rtai-sink-lake --optimize nowhere"
	assert_failure 1
	assert_output --partial 'not a Delta table'
}

@test "sink-lake: memcheck: writing, checkpoints, --pass, --optimize, --vacuum and an error path" {
	command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; false; }
	if grep -q __asan_init "$RTAI_BUILD/rtai-sink-lake"; then
		skip "an AddressSanitizer build: valgrind cannot run it (ASan checks it instead)"
	fi
	vg="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect $RTAI_BUILD/rtai-sink-lake"
	$GEN gen 41 300 s.rtai want.jsonl --partition-by part --barrier-every 70
	run $vg --pass -p part --roll-rows 20 t <s.rtai
	assert_success
	run $vg -p part t <s.rtai
	assert_success
	run $vg --optimize t
	echo "$output"
	assert_success
	run $vg --vacuum 0s t
	assert_success
	run sh -c "$SRC <s.rtai | $vg --checkpoint-dir ck -p part t4"
	echo "$output"
	assert_success
	run sh -c "$SRC <empty.rtai | $vg --checkpoint-dir ck -p part t4"
	echo "$output"
	assert_success
	assert_output --partial "resuming from checkpoint 4 of ck"
	printf '%s\n' '{"t":1795514400,"a":1}' '{"t":1795514401,"a":"x"}' | rtai-cat | rtai-parse -t t >bad.rtai
	run $vg t2 <bad.rtai
	echo "$output"
	assert_failure 1
	run $vg --on-error dlq --dlq d.rtai t3 <bad.rtai
	assert_success
}

@test "sink-lake: the examples of rtai-sink-lake(1) run" {
	run_man_examples rtai-sink-lake.1
}
