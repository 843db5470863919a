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

# The tools this build made: every program configure chose (RTAI_TOOLS,
# from make check), each of which must exist; outside make check, the
# rtai-* programs found. Never none: a test that checked nothing fails.
tools_checked() {
	local tool n=0
	if [ -n "${RTAI_TOOLS-}" ]; then
		for tool in $RTAI_TOOLS; do
			built "$tool"
			echo "$RTAI_BUILD/$tool"
			n=$((n + 1))
		done
	else
		for tool in "$RTAI_BUILD"/rtai-*; do
			[ -x "$tool" ] && [ -f "$tool" ] || continue
			echo "$tool"
			n=$((n + 1))
		done
	fi
	[ "$n" -gt 0 ] || { echo "no tools to check in $RTAI_BUILD" >&2; return 1; }
}

@test "man: every tool has a page, and every page names an EXAMPLES section" {
	tools=$(tools_checked)
	n=0
	for tool in $tools; do
		name=${tool##*/}
		[ -f "$RTAI_SRC/man/$name.1" ] || { echo "no man page for $name"; false; }
		grep -q '^\.Sh EXAMPLES' "$RTAI_SRC/man/$name.1" || { echo "$name.1 has no EXAMPLES"; false; }
		n=$((n + 1))
	done
	echo "# $n tools checked" >&3
	[ "$n" -gt 0 ]
}

@test "man: every option in a tool's --help appears in its page" {
	tools=$(tools_checked)
	n=0
	for tool in $tools; do
		name=${tool##*/}
		opts=$("$tool" --help | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u)
		[ -n "$opts" ] || { echo "$name --help lists no options"; false; }
		for o in $opts; do
			grep -qE -- "(Fl \\\\?-${o#--}|\\\\-\\\\-${o#--})" "$RTAI_SRC/man/$name.1" \
				|| { echo "$name.1 does not document $o"; false; }
			n=$((n + 1))
		done
	done
	echo "# $n options checked" >&3
	[ "$n" -gt 0 ]
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
