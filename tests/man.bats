#!/usr/bin/env bats
# Every man page is well-formed mdoc, and every tool has one.

load common

@test "man: every page formats without warnings" {
	for page in "$RTAI_SRC"/man/*.[1-9]; do
		run sh -c "groff -mdoc -Tutf8 -ww -z '$page' 2>&1"
		echo "$page: $output"
		assert_output ''
	done
}

@test "man: every tool has a page, and every page names an EXAMPLES section" {
	for tool in "$RTAI_BUILD"/rtai-*; do
		[ -x "$tool" ] && [ -f "$tool" ] || continue
		name=${tool##*/}
		[ -f "$RTAI_SRC/man/$name.1" ] || { echo "no man page for $name"; false; }
		grep -q '^\.Sh EXAMPLES' "$RTAI_SRC/man/$name.1" || { echo "$name.1 has no EXAMPLES"; false; }
	done
}

@test "man: every option in a tool's --help appears in its page" {
	for tool in "$RTAI_BUILD"/rtai-*; do
		[ -x "$tool" ] && [ -f "$tool" ] || continue
		name=${tool##*/}
		for o in $("$tool" --help | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u); do
			grep -qE -- "(Fl \\\\?-${o#--}|\\\\-\\\\-${o#--})" "$RTAI_SRC/man/$name.1" \
				|| { echo "$name.1 does not document $o"; false; }
		done
	done
}

@test "man: the examples of rtai(7) run" {
	run_man_examples rtai.7
}

@test "man: rtai-gen(1) renders its quoted key lists right (it rendered (\"u1\", \"u2, ...\"))" {
	run sh -c "groff -mdoc -Tascii -P-c '$RTAI_SRC/man/rtai-gen.1' | col -b | tr '\t\n' '  ' | tr -s ' '"
	assert_output --partial '(the key, "u1", "u2", ...)'
	assert_output --partial '("i1" to "i10000", uniform)'
	assert_output --partial '(the key, "acct1", ...)'
	assert_output --partial '("m1" to "m5000")'
	assert_output --partial '(the key, "dev1", ...)'
}
