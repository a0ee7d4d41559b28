#!/usr/bin/env node
// s3dbjs_ec_bench.mjs: the s3db.js side of bench/eventual_consistency.cpp. Runs s3db.js 21.6.2's own
// EventualConsistencyPlugin (tests/interop/node_modules) on the same workload: `batches` batches of
// `batch` random add/sub over `records` records of `wallets.balance`, each batch written by
// `concurrency` promise workers and then consolidated (resource.consolidate), as the C++ bench does.
//
//   node bench/s3dbjs_ec_bench.mjs < command.json      ->  one JSON line on stdout
//
// command: {"connection": "http://KEY:SECRET@HOST:PORT/BUCKET/PREFIX" | "memory://BUCKET/PREFIX",
//           "batches": 5, "batch": 100, "records": 10, "concurrency": 8, "gc": true}
// result:  {"transactions", "seconds", "tx_per_s", "requests_per_tx", "requests": {...},
//           "write_requests", "consolidate_requests", "gc_requests", "exact": bool, "mismatches": [...]}
//
// Requests are counted where s3db.js hands them to the store, as in bench/s3dbjs_bench.mjs: a
// middleware on the AWS SDK client's stack (one count per command sent, retries of the SDK
// included as one), or the MemoryClient's storage calls. The plugin runs with enableCoordinator
// false and autoConsolidate false (no timers: consolidation and GC are called by hand, like the C++
// side); GC is its runGarbageCollection (a no-op in effect, reference §11.8, but it pays its lock).
import { format } from 'node:util';

import { readStdin } from '../tests/interop/node_support.mjs';
import { openCounted, requests, resetRequests, runPool, total } from './s3dbjs_counting.mjs';

const toStderr = (...args) => process.stderr.write(format(...args) + '\n');
console.log = console.info = console.warn = console.debug = console.trace = toStderr;
process.removeAllListeners('warning');

// node-cron is not installed with s3db.js here; nothing of this run needs a timer (consolidation
// and GC are called by hand), so the cron manager hands out stubs.
process.env.S3DB_DISABLE_CRON = 'true';
const { S3db } = await import('../tests/interop/node_modules/s3db.js/dist/lite.js');
const { EventualConsistencyPlugin } = await import(
    '../tests/interop/node_modules/s3db.js/dist/plugins/eventual-consistency/index.js');

function lcg(seed) {
    let s = seed >>> 0;
    return () => {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        return s;
    };
}

async function main(cmd) {
    const { connection, batches = 5, batch = 100, records = 10, concurrency = 8, gc = true } = cmd;
    const db = await openCounted(S3db, connection, concurrency);
    const wallets = await db.createResource({
        name: 'wallets', attributes: { owner: 'string|optional', balance: 'number|optional' }, behavior: 'body-overflow',
    });
    const plugin = new EventualConsistencyPlugin({
        resources: { wallets: ['balance'] }, mode: 'async', autoConsolidate: false, enableCoordinator: false,
        enableAnalytics: false, logLevel: 'silent',
    });
    await db.usePlugin(plugin);
    const handler = plugin.fieldHandlers.get('wallets').get('balance');

    const model = {};
    const firstBatch = {};  // per record, the net of the first batch (to tell what a mismatch is)
    const next = lcg(12345);
    const ops = [];
    for (let i = 0; i < batches * batch; ++i) {
        const id = `w${next() % records}`;
        const amount = 1 + (next() % 100);
        const sub = next() % 3 === 0;
        ops.push({ id, amount, sub });
        model[id] = (model[id] ?? 0) + (sub ? -amount : amount);
        if (i < batch) firstBatch[id] = (firstBatch[id] ?? 0) + (sub ? -amount : amount);
    }
    resetRequests();
    let write = 0, consolidate = 0, collect = 0;
    const t0 = process.hrtime.bigint();
    for (let b = 0; b < batches; ++b) {
        let before = total();
        await runPool(batch, concurrency, async (i) => {
            const op = ops[b * batch + i];
            if (op.sub) await wallets.sub(op.id, 'balance', op.amount);
            else await wallets.add(op.id, 'balance', op.amount);
        });
        write += total() - before;
        before = total();
        await wallets.consolidate('balance');
        consolidate += total() - before;
        if (gc) {
            before = total();
            await plugin._runGC(handler, 'wallets', 'balance');
            collect += total() - before;
        }
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const counted = { ...requests };
    const n = batches * batch;
    const mismatches = [];
    for (const [id, v] of Object.entries(model)) {
        const rec = await wallets.get(id).catch(() => null);
        if (!rec || rec.balance !== v) mismatches.push({ id, expected: v, got: rec ? rec.balance : null, first_batch: firstBatch[id] ?? 0 });
    }
    await db.disconnect();
    return {
        transactions: n, seconds, tx_per_s: n / seconds, requests_per_tx: (write + consolidate + collect) / n,
        requests: counted, write_requests: write, consolidate_requests: consolidate, gc_requests: collect,
        exact: mismatches.length === 0, mismatches,
    };
}

try {
    const result = await main(JSON.parse(await readStdin()));
    process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0));
} catch (e) {
    process.stderr.write('\n' + JSON.stringify({ error: String(e?.stack ?? e) }) + '\n', () => process.exit(1));
}
