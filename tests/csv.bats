#!/usr/bin/env bats
# CSV and TSV: rtai-cat --format csv|tsv frames records (quoted newlines,
# CRLF, byte order marks, one header per file), rtai-parse --format csv|tsv
# types them. Files come from Python's csv module, the independent reader
# and writer every value is compared with.

load common

# pycsv_write FILE DIALECT [BOM]: a file with awkward values written by
# Python's csv module (excel dialect: CRLF, minimal quoting; or QUOTE_ALL as
# a spreadsheet export does, with a byte order mark when BOM is 1).
pycsv_write() {
	/usr/bin/python3 - "$@" <<'PY'
import csv, sys
path, dialect = sys.argv[1], sys.argv[2]
bom = len(sys.argv) > 3 and sys.argv[3] == "1"
rows = [
    ["user_id", "comment", "amount", "event_time"],
    ["u1", "plain", "1.5", "2026-11-24T10:00:00Z"],
    ["u2", "with, comma", "2", "2026-11-24T10:00:01Z"],
    ["u3", 'say "hi"', "-3.25", "2026-11-24T10:00:02Z"],
    ["u4", "two\nlines", "0", "2026-11-24T10:00:03Z"],
    ["u5", "crlf\r\ninside", "1e3", "2026-11-24T10:00:04Z"],
    ["u6", "", "7", "2026-11-24T10:00:05Z"],
    ["u7", "ünïcödé ✓", "12345678901", "2026-11-24T10:00:06Z"],
]
with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
    w = csv.writer(f, quoting=csv.QUOTE_ALL if dialect == "all" else csv.QUOTE_MINIMAL)
    w.writerows(rows)
PY
}

# pycsv_read FILE...: Python's reading of the files as JSON lines of strings
# (each file's first row its header, BOM removed), for comparison.
pycsv_read() {
	/usr/bin/python3 - "$@" <<'PY'
import csv, json, sys
for path in sys.argv[1:]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            print(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
PY
}

@test "csv: Python's excel dialect (CRLF, quoted commas, quotes, newlines) reads back equal" {
	pycsv_write in.csv minimal
	run sh -c 'rtai-cat --format csv in.csv | rtai-parse --format csv --no-infer | rtai-cat -p'
	echo "$output"
	assert_success
	# An empty unquoted field is null; Python reads it as "".
	diff <(echo "$output" | jq -c 'with_entries(.value //= "")') <(pycsv_read in.csv)
}

@test "csv: a spreadsheet-style export (BOM, every field quoted) reads back equal" {
	pycsv_write in.csv all 1
	head -c 3 in.csv | od -An -tx1 | grep -q 'ef bb bf'
	run sh -c 'rtai-cat --format csv in.csv | rtai-parse --format csv --no-infer | rtai-cat -p'
	echo "$output"
	assert_success
	# Quoted empty fields are empty strings, not nulls.
	diff <(echo "$output") <(pycsv_read in.csv)
}

@test "csv: a second file's header is not data, and each file has its own columns" {
	pycsv_write a.csv minimal
	printf 'x,y\n1,2\n' >b.csv
	run sh -c 'rtai-cat --format csv a.csv b.csv | rtai-parse --format csv --no-infer | rtai-cat -p'
	echo "$output"
	assert_success
	assert_equal "$(echo "$output" | wc -l)" 8
	assert_line --index 7 '{"x":"1","y":"2"}'
}

@test "csv: values are typed by the inference rule without a schema" {
	printf 'i,f,e,b,s,z,n,q,big\n42,2.5,1e3,true,abc,007,,"",99999999999999999999\n' >in.csv
	run sh -c 'rtai-cat --format csv in.csv | rtai-parse --format csv | rtai-cat -p'
	echo "$output"
	assert_success
	assert_equal "$(echo "$output" | jq -c 'del(.big)')" '{"i":42,"f":2.5,"e":1000,"b":true,"s":"abc","z":"007","n":null,"q":""}'
	# An integer past int64 is a float, not an error and not a string.
	assert_equal "$(echo "$output" | jq -c '[(.big | type), .big == 1e20]')" '["number",true]'
	assert_output --partial '"e":1000.0'
}

@test "csv: declared types, event time from a column, optional fields null when empty" {
	pycsv_write in.csv minimal
	run sh -c 'rtai-cat --format csv in.csv | rtai-parse --format csv -f user_id:string -f amount:float -f comment:string? -t event_time | rtai-cat -p --meta'
	echo "$output"
	assert_success
	# Independent: Python's values, converted as the schema says.
	expected=$(pycsv_read in.csv | jq -c '{user_id, amount: (.amount | tonumber), comment: (if .comment == "" then null else .comment end)}')
	# (the schema frame that -f writes first is not a record)
	assert_equal "$(echo "$output" | head -1 | jq -r ._kind)" schema
	diff <(echo "$output" | jq -c 'select(._kind == null) | {user_id, amount, comment}') <(echo "$expected")
	assert_equal "$(echo "$output" | jq -r 'select(._kind == null) | ._event_time' | head -1)" 2026-11-24T10:00:00.000Z
	assert_equal "$(echo "$output" | jq -r 'select(._kind == null) | .amount | type' | sort -u)" number
}

@test "csv: --columns names a headerless file; --no-header in rtai-cat" {
	printf '1,2\n3,4\n' >in.csv
	run sh -c 'rtai-cat --format csv --no-header in.csv | rtai-parse --format csv --columns x,y | rtai-cat -p'
	echo "$output"
	assert_success
	assert_output "$(printf '%s\n' '{"x":1,"y":2}' '{"x":3,"y":4}')"
}

@test "csv: without rtai-cat --format csv the first line of the input is the header" {
	printf 'a,b\n1,2\n' >in.csv
	run sh -c 'rtai-cat in.csv | rtai-parse --format csv | rtai-cat -p'
	echo "$output"
	assert_success
	assert_output '{"a":1,"b":2}'
}

@test "csv: --delimiter ; reads semicolon-separated files" {
	printf 'a;b\n"x;y";2\n' >in.csv
	run sh -c 'rtai-cat --format csv in.csv | rtai-parse --format csv --delimiter ";" | rtai-cat -p'
	echo "$output"
	assert_success
	assert_output '{"a":"x;y","b":2}'
}

@test "tsv: tab-separated values with rtai-cat --format tsv" {
	printf 'a\tb\tc\nx y\t2\t\n' >in.tsv
	run sh -c 'rtai-cat --format tsv in.tsv | rtai-parse --format tsv | rtai-cat -p'
	echo "$output"
	assert_success
	assert_output '{"a":"x y","b":2,"c":null}'
}

@test "csv: bad rows go through the error policy with record and column" {
	printf 'u,amount\nu1,1\nu2\nu3,abc\n"u4,5\n' >in.csv
	run sh -c 'rtai-cat --format csv in.csv | rtai-parse --format csv -f amount:int >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output --partial 'rtai-parse: stdin: record 2'
	assert_output --partial '1 field, the header has 2'
	run sh -c 'rtai-cat --format csv in.csv | rtai-parse --format csv -f amount:int --on-error dlq --dlq bad.rtai 2>err | rtai-cat -p'
	echo "$output"
	assert_success
	assert_output '{"amount":1,"u":"u1"}'
	run cat err
	echo "$output"
	assert_output --partial '1 parsed, 0 skipped, 3 dead-lettered'
	run sh -c 'rtai-cat -p bad.rtai | jq -r .reason'
	echo "$output"
	assert_line --index 0 '1 field, the header has 2'
	assert_line --index 1 'column 2 ("amount"): expected int, got "abc"'
	assert_line --index 2 --partial 'malformed quotes'
}

@test "csv: a header with a duplicate or empty column name is an error" {
	printf 'a,a\n1,2\n' >dup.csv
	run sh -c 'rtai-cat --format csv dup.csv | rtai-parse --format csv >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output --partial 'header: column 2: "a" is also column 1'
	printf 'a,\n1,2\n' >empty.csv
	run sh -c 'rtai-cat empty.csv | rtai-parse --format csv >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output --partial 'header: column 2: empty name'
}

@test "csv: option errors" {
	run rtai-parse --format xml
	echo "$output"
	assert_failure 2
	assert_output --partial "--format: 'xml': expected json, csv, tsv or avro"
	run rtai-parse --columns a,b
	assert_failure 2
	assert_output --partial '--columns, --delimiter and --no-infer need --format csv or tsv'
	run rtai-parse --format csv --delimiter ab
	assert_failure 2
	assert_output --partial "--delimiter: 'ab'"
	run rtai-parse --format tsv --delimiter ';'
	assert_failure 2
	run rtai-parse --format csv --columns a,,b
	assert_failure 2
	assert_output --partial 'empty field name'
	run rtai-parse --format csv --debezium
	assert_failure 2
	run rtai-cat --format json
	assert_failure 2
	assert_output --partial "--format: 'json': expected lines, csv, tsv or avro"
	run rtai-cat --no-header
	assert_failure 2
	assert_output --partial '--no-header needs --format csv or tsv'
}

@test "csv: a TSV header read as --format csv is refused" {
	printf 'a\tb\n1\t2\n' >in.tsv
	run sh -c 'rtai-cat --format tsv in.tsv | rtai-parse --format csv >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output --partial 'a tsv header from rtai-cat --format tsv, but --format is csv'
}

@test "csv: rtai-cat -p --format csv prints the records as read" {
	pycsv_write in.csv minimal
	run sh -c 'rtai-cat --format csv -p in.csv | cmp - in.csv.lf'
	tr -d '\r' <in.csv >/dev/null
	# Line endings become \n; a CRLF inside quotes stays.
	/usr/bin/python3 -c 'import sys; d=open("in.csv","rb").read(); sys.stdout.buffer.write(d.replace(b"\r\n\"", b"\n\"").replace(b"Z\r\n", b"Z\n").replace(b"event_time\r\n", b"event_time\n"))' >expected
	run sh -c 'rtai-cat --format csv -p in.csv | cmp - expected'
	echo "$output"
	assert_success
}

@test "csv: a quoted field longer than the frame limit is an error, not a hang" {
	{ printf 'a\n"'; head -c 3000 /dev/zero | tr '\0' x; printf '"\n'; } >in.csv
	run sh -c 'rtai-cat --max-frame 1000 --format csv in.csv >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output --partial 'longer than 1000 bytes'
}
