// lakeread.js - reads a Delta table written by rtai-sink-lake with readers
// that are not rtai's, for tests/sink-lake.bats:
//
//   NODE_PATH=$RTAI_NODE_MODULES node lakeread.js TABLE duckdb|hyparquet [WHERE]
//   NODE_PATH=$RTAI_NODE_MODULES node lakeread.js -o OUT TABLE ENGINE [-o OUT TABLE ENGINE]...
//
// The second form reads several tables in one process (node and DuckDB
// start once: most of a read's time), each table's rows into its file OUT.
// The Delta log is replayed here (add and remove actions, in version
// order) to find the live files; DuckDB reads them with read_parquet
// (hive_partitioning, partition columns as VARCHAR, union_by_name for
// files written before a column was added), hyparquet reads each file and
// the partition values come from the log. Each row prints as one JSON
// object whose values are [type, value] pairs: ["i","42"] (int64, as
// text), ["f",1.5] (double; "NaN", "Infinity", "-Infinity", "-0" as
// strings), ["s","text"], ["b",true], ["t","MICROSECONDS"] (a UTC
// timestamp), ["x","HEX"] (bytes), or null. WHERE (DuckDB only) filters.
'use strict';
const fs = require('fs');
const path = require('path');

function replay(table) {
	const dir = path.join(table, '_delta_log');
	const names = fs.readdirSync(dir).filter(n => /^\d{20}\.json$/.test(n)).sort();
	const live = new Map();
	names.forEach((n, i) => {
		if (n !== String(i).padStart(20, '0') + '.json')
			throw new Error(`${dir}: version ${i} is missing`);
		for (const line of fs.readFileSync(path.join(dir, n), 'utf8').split('\n')) {
			if (!line) continue;
			const a = JSON.parse(line);
			if (a.add) live.set(decodeURIComponent(a.add.path), a.add);
			if (a.remove) live.delete(decodeURIComponent(a.remove.path));
		}
	});
	return live;
}

function num(v) {
	if (Number.isNaN(v)) return 'NaN';
	if (v === Infinity) return 'Infinity';
	if (v === -Infinity) return '-Infinity';
	if (v === 0 && 1 / v < 0) return '-0';
	return v;
}

async function duckdb(table, live, where, out) {
	const { DuckDBInstance } = require('@duckdb/node-api');
	const inst = await DuckDBInstance.create(':memory:');
	const c = await inst.connect();
	const files = [...live.keys()].map(p => `'${path.join(table, p).replace(/'/g, "''")}'`);
	if (files.length === 0) return;
	const pcols = Object.keys([...live.values()][0].partitionValues || {});
	const types = pcols.map(p => `'${p}': VARCHAR`).join(', ');
	const src = `read_parquet([${files.join(', ')}], hive_partitioning = true, ` +
		`union_by_name = true${pcols.length ? `, hive_types = {${types}}` : ''})`;
	const desc = (await c.runAndReadAll(`DESCRIBE SELECT * FROM ${src}`)).getRows();
	const sel = [], tags = [];
	for (const [name, type] of desc) {
		const q = `"${name.replace(/"/g, '""')}"`;
		if (type.startsWith('TIMESTAMP')) { sel.push(`CAST(epoch_us(${q}) AS VARCHAR)`); tags.push('t'); }
		else if (type === 'BIGINT') { sel.push(`CAST(${q} AS VARCHAR)`); tags.push('i'); }
		else if (type === 'DOUBLE') { sel.push(q); tags.push('f'); }
		else if (type === 'BOOLEAN') { sel.push(q); tags.push('b'); }
		else if (type === 'BLOB') { sel.push(`hex(${q})`); tags.push('x'); }
		else if (type === 'VARCHAR') { sel.push(q); tags.push('s'); }
		else throw new Error(`column ${name}: unexpected type ${type}`);
	}
	const r = await c.runAndReadAll(`SELECT ${sel.join(', ')} FROM ${src}${where ? ' WHERE ' + where : ''}`);
	for (const row of r.getRows()) {
		const o = {};
		desc.forEach(([name], i) => {
			const v = row[i];
			o[name] = v === null ? null : [tags[i], tags[i] === 'f' ? num(v) : v];
		});
		out.push(JSON.stringify(o) + '\n');
	}
}

async function hyparquet(table, live, out) {
	const { parquetReadObjects, asyncBufferFromFile } = await import(require.resolve('hyparquet'));
	const { compressors } = await import(require.resolve('hyparquet-compressors'));
	const parsers = {
		timestampFromMicroseconds: v => ({ t: BigInt(v).toString() }),
		timestampFromMilliseconds: v => { throw new Error('a millisecond timestamp'); },
		timestampFromNanoseconds: v => { throw new Error('a nanosecond timestamp'); },
		dateFromDays: v => { throw new Error('a date'); },
		stringFromBytes: b => b === undefined || b === null ? b : new TextDecoder().decode(b),
	};
	for (const [p, add] of live) {
		const file = await asyncBufferFromFile(path.join(table, p));
		const rows = await parquetReadObjects({ file, compressors, parsers });
		for (const row of rows) {
			const o = {};
			for (const [k, v] of Object.entries(row)) {
				if (v === null || v === undefined) o[k] = null;
				else if (typeof v === 'bigint') o[k] = ['i', v.toString()];
				else if (typeof v === 'number') o[k] = ['f', num(v)];
				else if (typeof v === 'boolean') o[k] = ['b', v];
				else if (typeof v === 'string') o[k] = ['s', v];
				else if (v instanceof Uint8Array) o[k] = ['x', Buffer.from(v).toString('hex').toUpperCase()];
				else if (v.t !== undefined) o[k] = ['t', v.t];
				else throw new Error(`${p}: column ${k}: unexpected value ${v}`);
			}
			for (const [k, v] of Object.entries(add.partitionValues || {}))
				o[k] = v === null ? null : ['s', v];
			out.push(JSON.stringify(o) + '\n');
		}
	}
}

async function read(table, engine, where) {
	const live = replay(table);
	const out = [];
	if (engine === 'duckdb') await duckdb(table, live, where, out);
	else if (engine === 'hyparquet') await hyparquet(table, live, out);
	else throw new Error('engine: duckdb or hyparquet');
	return out.join('');
}

(async () => {
	const args = process.argv.slice(2);
	if (args[0] !== '-o') {
		const [table, engine, where] = args;
		process.stdout.write(await read(table, engine, where));
		return;
	}
	for (let i = 0; i < args.length; i += 4) {
		if (args[i] !== '-o' || args[i + 3] === undefined)
			throw new Error('usage: -o OUT TABLE ENGINE [-o OUT TABLE ENGINE]...');
		fs.writeFileSync(args[i + 1], await read(args[i + 2], args[i + 3]));
	}
})().catch(e => { console.error('lakeread.js: ' + (e.stack || e)); process.exit(1); });
