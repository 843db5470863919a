# scripts/packages.sh - the Debian packages rtai needs, and how they are
# installed. Sourced by scripts/check, scripts/quickstart and scripts/bench.

RTAI_BUILD_PACKAGES="build-essential autoconf automake pkgconf libjansson-dev libzstd-dev libhiredis-dev"
RTAI_TEST_PACKAGES="bats bats-assert bats-support redis-server redis-tools jq zstd python3 groff-base util-linux procps prometheus clang libclang-rt-14-dev valgrind cppcheck"
RTAI_BENCH_PACKAGES="jq miller hyperfine time redis-server redis-tools zstd"

# rtai_install_packages "PKG..." installs the missing ones (root, apt-get), or
# prints the command and fails.
rtai_install_packages() {
	missing=
	for p in $1; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' \
			|| missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "rtai: please install:$missing" >&2
		return 1
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "rtai: missing packages; run: sudo apt-get install$missing" >&2
		return 1
	fi
	echo "rtai: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
}
