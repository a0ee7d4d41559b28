#!/usr/bin/env node
// s3dbjs_bench.mjs: the s3db.js side of bench/database.cpp. Runs the database workloads through
// s3db.js 21.6.2 (installed in tests/interop/node_modules: npm ci --prefix tests/interop) and
// measures them inside node, so node's start-up and s3db.js's connect are not counted.
//
//   node bench/s3dbjs_bench.mjs < command.json      ->  one JSON line on stdout
//
// command: {"connection": "memory://BUCKET/PREFIX" | "http://KEY:SECRET@HOST:PORT/BUCKET/PREFIX",
//           "n": 2000, "concurrency": 16, "workloads": ["insert", "get", "update", "list"], "warmup": 2000,
//           "rounds": 1}
// result:  {"results": [{"workload", "ops", "seconds", "ops_per_s", "cpu_us_per_op",
//                        "requests_per_op", "requests": {"put": .., "get": .., ...}, "faults_per_op",
//                        "ops_per_s_rounds"}, ...]}
// errors:  exit status 1, the last line of stderr is {"error": "..."}.
//
// The workloads run in the order given over the same n records (get/update/list need insert to
// have run first), each on `concurrency` promise workers; "list" is one list({limit: n}) counted
// as n ops. With "warmup": w, the same workloads first run untimed on a second resource of w records,
// so the JIT has compiled s3db.js's paths and the heap has grown before anything is measured. With
// "rounds": r, the workloads run r times, each on a fresh resource, and each workload reports its
// fastest round (a busy machine only ever slows a round down); "ops_per_s_rounds" has them all. The records and resource are the ones bench/database.cpp uses for s3db-cpp. CPU is
// process.cpuUsage() (every thread of node); requests are counted where s3db.js hands them to the
// store: the AWS SDK client's middleware stack (S3) or the MemoryClient's storage (memory).
// The bucket must exist (database.cpp creates it); nothing is deleted here.
import { format } from 'node:util';

import { readStdin } from '../tests/interop/node_support.mjs';
import { openCounted, requests, resetRequests, runPool, total } from './s3dbjs_counting.mjs';

// stdout carries the one result line: whatever the libraries print goes to stderr.
const toStderr = (...args) => process.stderr.write(format(...args) + '\n');
console.log = console.info = console.warn = console.debug = console.trace = toStderr;
process.removeAllListeners('warning');

// The entry point tests/interop/s3dbjs.mjs uses, for the same reason (see its header).
const { S3db } = await import('../tests/interop/node_modules/s3db.js/dist/lite.js');

const ATTRIBUTES = {
    name: 'string|required', email: 'string', age: 'number|integer', active: 'boolean', tags: 'array|items:string',
};
const idOf = (i) => `id${String(i).padStart(8, '0')}`;
const record = (i) => ({
    id: idOf(i), name: `user-${i}`, email: `user${i}@example.com`, age: 20 + (i % 50), active: i % 2 === 0,
    tags: [`t${i % 7}`, 'bench'],
});

/// Runs each workload over records 0..n-1 of `resource`; one result per workload.
async function runWorkloads(resource, workloads, n, concurrency) {
    const results = [];
    for (const workload of workloads) {
        // Records, ids and expected names are built before the clock starts (as in database.cpp).
        const records = workload === 'insert' ? Array.from({ length: n }, (_, i) => record(i)) : [];
        const ids = Array.from({ length: n }, (_, i) => idOf(i));
        const names = Array.from({ length: n }, (_, i) => `user-${i}`);
        resetRequests();
        const cpu0 = process.cpuUsage();
        const faults0 = process.resourceUsage().minorPageFault;
        const t0 = process.hrtime.bigint();
        let ops = n;
        if (workload === 'insert') {
            await runPool(n, concurrency, (i) => resource.insert(records[i]));
        } else if (workload === 'get') {
            await runPool(n, concurrency, async (i) => {
                const r = await resource.get(ids[i]);
                if (r.name !== names[i]) throw new Error(`get ${ids[i]} read ${JSON.stringify(r.name)}`);
            });
        } else if (workload === 'update') {
            await runPool(n, concurrency, (i) => resource.update(ids[i], { age: 21 + (i % 50) }));
        } else if (workload === 'list') {
            const records = await resource.list({ limit: n });
            ops = records.length;
            if (ops !== n) throw new Error(`list returned ${ops} of ${n} records`);
        } else {
            throw new Error(`unknown workload "${workload}"`);
        }
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const cpu = process.cpuUsage(cpu0);
        results.push({
            workload, ops, seconds, ops_per_s: ops / seconds, cpu_us_per_op: (cpu.user + cpu.system) / ops,
            requests_per_op: total() / ops, requests: { ...requests },
            faults_per_op: (process.resourceUsage().minorPageFault - faults0) / ops,
        });
    }
    return results;
}

async function main(cmd) {
    const { connection, n, concurrency = 1, workloads = ['insert', 'get', 'update', 'list'], warmup = 0, rounds = 1 } = cmd;
    if (typeof connection !== 'string' || !Number.isInteger(n) || n < 1 || !Number.isInteger(concurrency) || concurrency < 1)
        throw new Error('the command needs "connection", a positive integer "n" and "concurrency"');
    const db = await openCounted(S3db, connection, concurrency);
    if (warmup > 0) await runWorkloads(await db.createResource({ name: 'bench_warmup', attributes: ATTRIBUTES }), workloads, warmup, concurrency);
    let results;
    for (let r = 0; r < rounds; ++r) {
        const name = rounds > 1 ? `bench_r${r}` : 'bench';
        const round = await runWorkloads(await db.createResource({ name, attributes: ATTRIBUTES }), workloads, n, concurrency);
        results = results ? results.map((best, i) => (round[i].ops_per_s > best.ops_per_s ? { ...round[i], ops_per_s_rounds: best.ops_per_s_rounds } : best))
            : round.map((x) => ({ ...x, ops_per_s_rounds: [] }));
        round.forEach((x, i) => results[i].ops_per_s_rounds.push(x.ops_per_s));
    }
    await db.disconnect();
    return { results };
}

// s3db.js keeps timers and sockets alive: exit explicitly once the line is out.
try {
    const result = await main(JSON.parse(await readStdin()));
    process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0));
} catch (e) {
    process.stderr.write('\n' + JSON.stringify({ error: String(e?.stack ?? e) }) + '\n', () => process.exit(1));
}
