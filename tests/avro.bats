#!/usr/bin/env bats
# rtai-parse --format avro: Confluent wire format and plain Avro binary,
# schemas from a directory or a schema registry, logical types, reader-schema
# projection, and bad data through the error policy. Every value is written
# by python3-avro (tests/avrotool.py), not by rtai.

load common

avrotool() { /usr/bin/python3 "$RTAI_SRC/tests/avrotool.py" "$@"; }

setup_local() {
	mkdir -p schemas
	avrotool schemas schemas
}

teardown_local() {
	if [ -n "${REG_PID:-}" ]; then
		kill "$REG_PID" 2>/dev/null || true
		wait "$REG_PID" 2>/dev/null || true
	fi
	kafka_stop
}

# registry_start [USER:PASS]: serves schemas/ on a free loopback port as a
# schema registry; sets REG_URL.
registry_start() {
	avrotool registry "$PWD/schemas" "$PWD/port" "$@" &
	REG_PID=$!
	for _ in $(seq 1 100); do
		[ -s port ] && break
		sleep 0.05
	done
	[ -s port ] || { echo "the registry did not start" >&2; return 1; }
	REG_URL=http://127.0.0.1:$(cat port)
}

@test "avro: Confluent-framed values decode to exactly what python3-avro wrote" {
	avrotool frames in.rtai
	run sh -c 'rtai-parse --format avro --avro-schemas schemas <in.rtai | rtai-cat -p'
	echo "$output"
	assert_success
	# Compared as parsed JSON: the same fields, values and types.
	diff <(echo "$output" | jq -S -c .) <(avrotool expect | jq -S -c .)
}

@test "avro: types: ints stay ints to 64 bits, bytes are bytes, times are times" {
	avrotool frames in.rtai
	run sh -c 'rtai-parse --format avro --avro-schemas schemas <in.rtai | rtai-cat -p | sed -n 4p'
	echo "$output"
	assert_success
	assert_output --partial '"count":9223372036854775807'
	assert_output --partial '"small":7'
	run sh -c 'rtai-parse --format avro --avro-schemas schemas -t ts <in.rtai | rtai-cat -p --meta | head -2 | jq -r ._event_time'
	echo "$output"
	assert_output "$(printf '%s\n' 2026-11-24T10:00:00.000Z 2026-11-24T10:00:01.001Z)"
}

@test "avro: rtai-kafka | rtai-parse --format avro: values kcat produced to Kafka decode to what python3-avro wrote, schemas from the registry" {
	built rtai-kafka || skip "rtai-kafka is not in this build"
	command -v kcat >/dev/null || { echo "kcat is not installed (scripts/packages.sh)" >&2; return 1; }
	kafka_start clicks:1
	avrotool msgfiles vals
	(cd vals && kcat -P -b "$KAFKA_BROKERS" -t clicks -p 0 $(seq 0 5))
	registry_start
	run sh -c "rtai-kafka -b '$KAFKA_BROKERS' -t clicks -e | rtai-parse --format avro --schema-registry '$REG_URL' -t ts | rtai-cat -p"
	echo "$output"
	assert_success
	diff <(echo "$output" | jq -S -c .) <(avrotool expect | jq -S -c .)
	assert_equal "$(cat schemas/requests)" /schemas/ids/1
}

@test "avro: plain Avro binary with --avro-schema" {
	avrotool frames in.rtai plain
	run sh -c 'rtai-parse --format avro --avro-schema schemas/1.avsc <in.rtai | rtai-cat -p'
	echo "$output"
	assert_success
	diff <(echo "$output" | jq -S -c .) <(avrotool expect | jq -S -c .)
}

@test "avro: a reader schema that adds a field with a default" {
	avrotool frames in.rtai
	run sh -c 'rtai-parse --format avro --avro-schemas schemas --avro-reader-schema schemas/2.avsc <in.rtai | rtai-cat -p'
	echo "$output"
	assert_success
	diff <(echo "$output" | jq -S -c .) <(avrotool expect v2 | jq -S -c .)
}

@test "avro: schemas from a schema registry, each id fetched once, with basic auth" {
	avrotool frames in.rtai
	registry_start reader:s3cret
	run sh -c "RTAI_REGISTRY_AUTH=reader:s3cret rtai-parse --format avro --schema-registry '$REG_URL' <in.rtai | rtai-cat -p"
	echo "$output"
	assert_success
	diff <(echo "$output" | jq -S -c .) <(avrotool expect | jq -S -c .)
	assert_equal "$(cat schemas/requests)" /schemas/ids/1
	run sh -c "rtai-parse --format avro --schema-registry '$REG_URL' --registry-auth reader:wrong <in.rtai >/dev/null"
	echo "$output"
	assert_failure 1
	assert_output --partial 'HTTP 401: Unauthorized'
}

@test "avro: --schema-registry without a usable libcurl: a clear error, exit 1; other formats never load it" {
	# libcurl is loaded with dlopen(3) for --schema-registry only: a
	# libcurl.so.4 without its functions stands for one that is missing
	# or broken.
	avrotool frames in.rtai
	mkdir fakelib
	echo 'int rtai_not_curl;' >fakelib/empty.c
	${CC:-cc} -shared -fPIC -o fakelib/libcurl.so.4 fakelib/empty.c
	registry_start
	run sh -c "LD_LIBRARY_PATH=$PWD/fakelib rtai-parse --format avro --schema-registry '$REG_URL' <in.rtai >/dev/null"
	echo "$output"
	assert_failure 1
	assert_output --partial 'rtai-parse: --schema-registry: libcurl.so.4 has no curl_'
	[ ! -s schemas/requests ]
	run sh -c "LD_LIBRARY_PATH=$PWD/fakelib rtai-parse --format avro --avro-schemas schemas <in.rtai | rtai-cat -p"
	echo "$output"
	assert_success
	diff <(echo "$output" | jq -S -c .) <(avrotool expect | jq -S -c .)
}

@test "avro: an unknown id from the registry is asked for once and dead-lettered" {
	avrotool bad in.rtai
	registry_start
	run sh -c "rtai-parse --format avro --schema-registry '$REG_URL' --on-error skip -v <in.rtai >/dev/null"
	echo "$output"
	assert_success
	assert_output --partial 'schema id 99: GET '
	assert_output --partial 'HTTP 404: Schema 99 not found'
	assert_equal "$(grep -c /schemas/ids/99 schemas/requests)" 1
}

@test "avro: bad data goes through the error policy, each fault named" {
	avrotool bad in.rtai
	run sh -c 'rtai-parse --format avro --avro-schemas schemas --on-error dlq --dlq bad.rtai <in.rtai | rtai-cat -p | wc -l'
	echo "$output"
	assert_success
	assert_line --index 0 --partial '1 parsed, 0 skipped, 5 dead-lettered'
	run sh -c 'rtai-cat -p bad.rtai | jq -r .reason'
	echo "$output"
	assert_line --index 0 --partial 'not the Confluent wire format: the first byte is not 0'
	assert_line --index 1 --partial 'shorter than its 5-byte header'
	assert_line --index 2 --partial 'schema id 99: schemas/99.avsc: No such file'
	assert_line --index 3 --partial 'invalid or truncated Avro data'
	assert_line --index 4 --partial '2 bytes after the value'
}

@test "avro: option and schema errors" {
	run sh -c 'echo x | rtai-cat | rtai-parse --format avro'
	echo "$output"
	assert_failure 1
	assert_output --partial 'no Avro schema yet'
	run rtai-parse --format avro --avro-schemas schemas --avro-schema schemas/1.avsc
	echo "$output"
	assert_failure 2
	assert_output --partial 'takes one of --avro-schemas DIR, --schema-registry URL and --avro-schema FILE'
	run rtai-parse --avro-schemas schemas
	assert_failure 2
	assert_output --partial 'need --format avro'
	run rtai-parse --format avro --avro-schema schemas/bad.avsc
	echo "$output"
	assert_failure 2
	assert_output --partial 'unknown type "nope"'
	run rtai-parse --format avro --avro-schema nonexistent.avsc
	assert_failure 2
	assert_output --partial 'nonexistent.avsc: No such file'
	echo '"string"' >notrecord.avsc
	run rtai-parse --format avro --avro-schemas schemas --avro-reader-schema notrecord.avsc
	echo "$output"
	assert_failure 2
	assert_output --partial 'must be a record'
	run rtai-parse --format avro --schema-registry http://127.0.0.1:1 --registry-auth nocolon
	assert_failure 2
	assert_output --partial 'expected USER:PASSWORD'
}

@test "avro: text frames are refused with a hint" {
	run sh -c 'echo hello | rtai-cat | rtai-parse --format avro --avro-schemas schemas --json >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output --partial 'not the Confluent wire format'
}

@test "avro: container files (null and deflate codecs) read through rtai-cat decode to what python3-avro reads" {
	avrotool container a.avro deflate
	avrotool container b.avro null
	run sh -c 'rtai-cat --format avro a.avro b.avro | rtai-parse --format avro | rtai-cat -p'
	echo "$output"
	assert_success
	[ "$(echo "$output" | wc -l)" -eq 12 ]
	diff <(echo "$output" | jq -S -c .) <(avrotool read a.avro b.avro | jq -S -c .)
	# One schema frame for both files (the same schema), then one data frame a datum.
	run sh -c 'rtai-cat --format avro a.avro b.avro | rtai-cat -p --meta | jq -r "._kind // \"data\"" | uniq -c'
	echo "$output"
	assert_equal "$(echo "$output" | awk '{print $1, $2}' | tr '\n' ' ')" "1 schema 12 data "
	run sh -c 'rtai-cat --format avro a.avro | rtai-cat -p --meta | head -1 | jq -c "._schema.format, ._schema.schema.name, ._schema.schema.fields[10].type.logicalType"'
	echo "$output"
	assert_output "$(printf '%s\n' '"avro"' '"Click"' '"timestamp-millis"')"
	run sh -c 'rtai-cat --format avro a.avro | rtai-parse --format avro -t ts | rtai-cat -p --meta | sed -n 2p | jq -r ._event_time'
	echo "$output"
	assert_output 2026-11-24T10:00:01.001Z
}

@test "avro: two container files with different schemas: each gets its own schema frame" {
	avrotool container a.avro null
	avrotool container b.avro deflate v2
	run sh -c 'rtai-cat --format avro a.avro b.avro | rtai-cat -p --meta | jq -r "._kind // \"data\"" | uniq -c'
	echo "$output"
	assert_equal "$(echo "$output" | awk '{print $1, $2}' | tr '\n' ' ')" "1 schema 6 data 1 schema 6 data "
	run sh -c 'rtai-cat --format avro a.avro b.avro | rtai-parse --format avro | rtai-cat -p'
	echo "$output"
	assert_success
	diff <(echo "$output" | jq -S -c .) <(avrotool read a.avro b.avro | jq -S -c .)
	[ "$(echo "$output" | jq -r '.country // "none"' | sort | uniq -c | awk '{print $1 $2}' | tr '\n' ' ')" = "6FR 6none " ]
}

@test "avro: a corrupt container file is an error naming the file and the datum" {
	avrotool container a.avro deflate
	# Flip a byte in the second block (datums 4 to 6): the first block's go out.
	/usr/bin/python3 -c 'import sys; d = bytearray(open("a.avro", "rb").read()); d[-20] ^= 0xff; open("flip.avro", "wb").write(d)'
	run sh -c 'rtai-cat --format avro flip.avro >out.rtai'
	echo "$output"
	assert_failure 1
	assert_output --partial 'rtai-cat: flip.avro: datum 4: not a valid Avro datum or block'
	run sh -c 'rtai-parse --format avro <out.rtai | rtai-cat -p | jq -r .user_id | tr "\n" " "'
	echo "$output"
	assert_output "u0 u1 u2 "
	printf 'hello' >text.avro
	run rtai-cat --format avro text.avro
	echo "$output"
	assert_failure 1
	assert_output --partial 'rtai-cat: text.avro: not an Avro object container file: no "Obj" 1 magic at byte 0'
	head -c 40 a.avro >short.avro
	run rtai-cat --format avro short.avro
	echo "$output"
	assert_failure 1
	assert_output --partial "short.avro: the header's metadata is truncated"
	run rtai-cat --format avro missing.avro
	assert_failure 1
	assert_output --partial 'missing.avro: No such file or directory'
}

@test "avro: rtai-cat --format avro usage errors: standard input, -p, --no-header" {
	avrotool container a.avro null
	run sh -c 'rtai-cat --format avro <a.avro'
	echo "$output"
	assert_failure 2
	assert_output --partial 'reads files'
	run rtai-cat --format avro -p a.avro
	echo "$output"
	assert_failure 2
	assert_output --partial 'rtai-parse --format avro'
	run rtai-cat --format avro --no-header a.avro
	echo "$output"
	assert_failure 2
	assert_output --partial '--no-header needs --format csv or tsv'
	run rtai-cat --help
	assert_success
	assert_output --partial 'avro reads'
}

@test "avro: a bad schema frame and a CSV header are refused by rtai-parse --format avro" {
	/usr/bin/python3 - <<-'PY'
	import os, sys
	sys.path.insert(0, os.path.join(os.environ["RTAI_SRC"], "contrib", "python"))
	import rtai_stream
	with open("bad.rtai", "wb") as f:
	    w = rtai_stream.Writer(f)
	    w.put(6, rtai_stream.ENC_JSON, b'{"format":"avro","schema":{"type":"nope"}}')
	    w.close()
	PY
	run sh -c 'rtai-parse --format avro <bad.rtai'
	echo "$output"
	assert_failure 1
	assert_output --partial "the avro schema frame's schema"
	printf 'a,b\n1,2\n' >x.csv
	run sh -c 'rtai-cat --format csv x.csv | rtai-parse --format avro'
	echo "$output"
	assert_failure 1
	assert_output --partial 'a csv header from rtai-cat --format csv, but --format is avro'
}

@test "avro: the sample tests/data/clicks.avro of the man pages' examples decodes to what python3-avro reads" {
	run sh -c 'rtai-cat --format avro "$RTAI_SRC/tests/data/clicks.avro" | rtai-parse --format avro | rtai-cat -p'
	echo "$output"
	assert_success
	[ "$(echo "$output" | wc -l)" -eq 6 ]
	diff <(echo "$output" | jq -S -c .) <(avrotool read "$RTAI_SRC/tests/data/clicks.avro" | jq -S -c .)
}

@test "avro: --avro-key decodes Kafka keys in the Confluent wire format (a string, a record) into _key" {
	avrotool keyed in.rtai
	# The first two keys are Avro (schemas 3 and 4); the third is plain
	# text, which --on-error skip counts.
	run sh -c 'rtai-parse --format avro --avro-schemas schemas --meta --avro-key --on-error skip <in.rtai 2>err | rtai-cat -p'
	echo "$output"
	cat err
	assert_success
	grep -q '2 parsed, 4 skipped' err
	[ "$(echo "$output" | wc -l)" -eq 2 ]
	# python3-avro wrote the keys from each value's user_id (and n = 1).
	diff <(echo "$output" | jq -c '._key') \
	     <(avrotool expect | head -2 | jq -c 'if .user_id == "u0" then .user_id else {user_id, n: 1} end')
	# The value decodes as without --avro-key.
	diff <(echo "$output" | jq -S -c 'del(._key, ._topic, ._partition, ._offset)') <(avrotool expect | head -2 | jq -S -c .)
	# A string key is a string, so it works as a window key.
	run sh -c 'rtai-parse --format avro --avro-schemas schemas --meta --avro-key --on-error skip <in.rtai 2>/dev/null | rtai-cat -p | head -1 | jq -r "._key | type"'
	echo "$output"
	assert_output string
}

@test "avro: --avro-key: a key that is not Avro goes through the error policy with its record number" {
	avrotool keyed in.rtai
	run sh -c 'rtai-parse --format avro --avro-schemas schemas --meta --avro-key <in.rtai >/dev/null'
	echo "$output"
	assert_failure 1
	assert_output --partial 'stdin: record 3 (byte 370): the Kafka key is not in the Confluent wire format'
	run sh -c 'rtai-parse --format avro --avro-schemas schemas --meta --avro-key --on-error skip <in.rtai >/dev/null'
	echo "$output"
	assert_success
	assert_output --partial '4 skipped'
	# Without --avro-key, the key stays the bytes Kafka delivered (base64).
	run sh -c 'rtai-parse --format avro --avro-schemas schemas --meta <in.rtai | rtai-cat -p | sed -n 3p | jq -r ._key | base64 -d'
	echo "$output"
	assert_output u2
}

@test "avro: --avro-key usage errors: needs --format avro, --meta and schemas by id" {
	run rtai-parse --avro-key --meta </dev/null
	echo "$output"
	assert_failure 2
	assert_output --partial '--avro-key'
	assert_output --partial 'need --format avro'
	run rtai-parse --format avro --avro-schemas schemas --avro-key </dev/null
	echo "$output"
	assert_failure 2
	assert_output --partial 'it needs --meta'
	run rtai-parse --format avro --avro-schema schemas/1.avsc --meta --avro-key </dev/null
	echo "$output"
	assert_failure 2
	assert_output --partial 'give --avro-schemas DIR or --schema-registry URL'
}
