// scripts/bench-duckdb.js - runs one DuckDB job for scripts/bench.
//
//   node scripts/bench-duckdb.js RUNS SETUP_SQL QUERY_SQL
//
// Runs SETUP_SQL once (untimed: views over the job's input), then QUERY_SQL
// RUNS times, each on a fresh connection of one in-memory database using
// every core, and prints one line of JSON: the median and every run's time
// in seconds (the query alone, as DuckDB's own timing would report it, not
// the start of node), and the first run's result when QUERY_SQL returns rows
// (COPY statements return none). Needs @duckdb/node-api on NODE_PATH.
'use strict';
const { DuckDBInstance } = require('@duckdb/node-api');

async function main() {
	const [runs, setup, query] = process.argv.slice(2);
	const n = parseInt(runs, 10);
	const db = await DuckDBInstance.create(':memory:');
	const con = await db.connect();
	if (setup)
		await con.run(setup);
	const secs = [];
	let rows = null;
	for (let i = 0; i < n; i++) {
		const t0 = process.hrtime.bigint();
		const r = await con.runAndReadAll(query);
		const t1 = process.hrtime.bigint();
		secs.push(Number(t1 - t0) / 1e9);
		if (i === 0)
			rows = r.getRowsJson();
	}
	const sorted = [...secs].sort((a, b) => a - b);
	const median = sorted[Math.floor((sorted.length - 1) / 2)];
	const threads = (await con.runAndReadAll("select current_setting('threads')")).getRows()[0][0];
	process.stdout.write(JSON.stringify({ median, secs, threads: Number(threads), rows }) + '\n');
}
main().catch((e) => { process.stderr.write(`bench-duckdb: ${e.message}\n`); process.exit(1); });
