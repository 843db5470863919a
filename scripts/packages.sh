# scripts/packages.sh - the Debian packages rtai needs, and how they are
# installed. Sourced by scripts/check, scripts/quickstart and scripts/bench.

RTAI_BUILD_PACKAGES="build-essential autoconf automake pkgconf libjansson-dev libzstd-dev zlib1g-dev libhiredis-dev"
RTAI_TEST_PACKAGES="bats bats-assert bats-support redis-server redis-tools jq zstd python3 groff-base util-linux procps prometheus clang libclang-rt-14-dev valgrind cppcheck"
RTAI_BENCH_PACKAGES="jq miller hyperfine time redis-server redis-tools zstd"
# The optional libraries (configure.ac's RTAI_OPTIONAL lines): a tool whose
# library is missing is skipped, so scripts/check installs them all and CI
# builds and tests every tool.
RTAI_OPTIONAL_PACKAGES="librdkafka-dev kcat libavro-dev python3-avro libcurl4-openssl-dev libcsv-dev libluajit2-5.1-dev libxgboost-dev python3-xgboost libsnappy-dev"
RTAI_BUILD_PACKAGES="$RTAI_BUILD_PACKAGES $RTAI_OPTIONAL_PACKAGES"
# Independent readers the tests and benchmarks check rtai against (npm):
# DuckDB (its Parquet reader is built in) and hyparquet.
RTAI_NPM_PACKAGES="@duckdb/node-api@1.5.6-r.1 hyparquet@1.33.0 hyparquet-compressors"
# Node.js and npm from Debian only where the machine has none: a machine
# with its own Node.js cannot take Debian's npm beside it.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	RTAI_TEST_PACKAGES="$RTAI_TEST_PACKAGES nodejs npm"
	RTAI_BENCH_PACKAGES="$RTAI_BENCH_PACKAGES nodejs npm"
fi

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

# rtai_install_npm DIR installs RTAI_NPM_PACKAGES into DIR/node_modules once
# (tests and scripts/bench set NODE_PATH=DIR/node_modules). Nothing is fetched
# at run time by a test: this runs from scripts/check and scripts/bench only.
rtai_install_npm() {
	dir=$1
	marker="$dir/.installed"
	if [ -f "$marker" ] && [ "$(cat "$marker")" = "$RTAI_NPM_PACKAGES" ]; then
		return 0
	fi
	mkdir -p "$dir"
	[ -f "$dir/package.json" ] || echo '{"name":"rtai-test-deps","private":true}' >"$dir/package.json"
	echo "rtai: installing npm packages $RTAI_NPM_PACKAGES into $dir" >&2
	# shellcheck disable=SC2086
	(cd "$dir" && npm install --no-audit --no-fund --silent $RTAI_NPM_PACKAGES >/dev/null) || return 1
	echo "$RTAI_NPM_PACKAGES" >"$marker"
}
