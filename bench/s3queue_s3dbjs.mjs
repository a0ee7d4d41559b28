#!/usr/bin/env node
// s3queue_s3dbjs.mjs: the s3db.js side of bench/s3_queue.cpp. Runs s3db.js 21.6.2's S3QueuePlugin
// (tests/interop/node_modules) with the same messages, workers and concurrency as the C++ bench,
// and prints one JSON line with its requests per message and messages per second.
//
//   node bench/s3queue_s3dbjs.mjs < command.json   ->  one JSON line on stdout
//
// command: {"connection": "http://KEY:SECRET@HOST:PORT/BUCKET/PREFIX", "messages": 1000, "workers": 4,
//           "concurrency": 4, "pollInterval": 100, "visibilityTimeout": 30000, "enableCoordinator": true,
//           "timeoutSeconds": 600}
// result:  {"messages", "completed", "enqueue_seconds", "process_seconds", "enqueue_requests",
//           "process_requests", "requests_per_message", "requests": {put, get, head, ...}, ...}
//
// Workers: `workers` databases in this node process (each its own client, its own S3QueuePlugin with
// a worker id of its own and `concurrency` concurrent handlers), standing for the C++ bench's worker
// processes; node runs them on one thread, which is no handicap here: both sides wait on RGW.
// The producer is one more database that enqueues the messages one after the other (as the C++
// bench does), before the workers start.
// Requests are counted where s3db.js hands them to S3: a middleware on each database's AWS SDK
// client counts every command (PutObject, GetObject, HeadObject, CopyObject, DeleteObject(s),
// ListObjectsV2), as bench/s3dbjs_bench.mjs does; each command the SDK retries counts once. The
// bench's own "done yet?" check is an in-process counter of the plugin's message-completed events,
// so it sends nothing. s3db.js's default options otherwise (coordinator on, ordering guarantee on);
// autoAcknowledge is on so the handler need not call ctx.ack() (the C++ default).
// The bucket is created if missing; the prefix should be fresh; nothing is deleted here.
import { createRequire } from 'node:module';
import { format } from 'node:util';

import { readStdin, restoreRgwMetadataNames } from '../tests/interop/node_support.mjs';
import { RETRYABLE, instrumentSdk, requests, resetRequests, total } from './s3dbjs_counting.mjs';

const toStderr = (...args) => process.stderr.write(format(...args) + '\n');
console.log = console.info = console.warn = console.debug = console.trace = toStderr;
process.removeAllListeners('warning');

const { S3db } = await import('../tests/interop/node_modules/s3db.js/dist/lite.js');
const { S3QueuePlugin } = await import('../tests/interop/node_modules/s3db.js/dist/plugins/s3-queue.plugin.js');

// node-cron (an optional dependency of s3db.js) is not in tests/interop's lock: S3Queue's timers (a
// cache clean-up, the coordinator's work loop) then run on s3db.js's own setInterval-based stand-in,
// the one it uses under NODE_ENV=test, without setting NODE_ENV (which changes other behaviour).
const { CronManager } = await import('../tests/interop/node_modules/s3db.js/dist/concerns/cron-manager.js');
const loadCron = CronManager.prototype._loadCron;
CronManager.prototype._loadCron = async function () {
    try {
        return await loadCron.call(this);
    } catch {
        this._cron = this._createTestCronStub();
        return this._cron;
    }
};

/// Creates the connection's bucket when missing (bench/s3_queue.cpp does too; this is for running alone).
async function ensureBucket(connection) {
    const sdk = createRequire(new URL('../tests/interop/package.json', import.meta.url))('@aws-sdk/client-s3');
    const url = new URL(connection);
    const bucket = url.pathname.split('/').filter(Boolean)[0];
    const s3 = new sdk.S3Client({ endpoint: url.origin, region: 'us-east-1', forcePathStyle: true,
        credentials: { accessKeyId: decodeURIComponent(url.username), secretAccessKey: decodeURIComponent(url.password) } });
    try {
        await s3.send(new sdk.CreateBucketCommand({ Bucket: bucket }));
    } catch (e) {
        if (e?.name !== 'BucketAlreadyOwnedByYou' && e?.name !== 'BucketAlreadyExists') throw e;
    } finally {
        s3.destroy();
    }
}

/// Two RGW 16 quirks that would stop s3db.js's queue on RGW, worked around in the request (neither
/// adds a request):
///  * RGW compares If-Match with the bare ETag and refuses a quoted one (412), which s3db.js sends
///    (through the AWS SDK): every claim would fail. Sent bare, as s3db-cpp's S3 transport does.
///  * RGW hands `metadata_updatedat` back as `metadata-updatedat`; s3db.js's updateConditional
///    merges what it read into what it writes, so both names go out, which RGW signs as one header:
///    SignatureDoesNotMatch (403) on every ack. The name s3db.js wrote ('_') is kept.
function rgwRequestFixes(awsClient) {
    awsClient.middlewareStack.add((next) => async (args) => {
        const input = args.input ?? {};
        if (typeof input.IfMatch === 'string') input.IfMatch = input.IfMatch.replace(/"/g, '');
        if (input.Metadata) {
            const byHeader = new Map();
            for (const k of Object.keys(input.Metadata)) {
                const h = k.toLowerCase().replace(/_/g, '-');
                const seen = byHeader.get(h);
                if (seen === undefined) byHeader.set(h, k);
                else if (k.includes('_') && !seen.includes('_')) {
                    delete input.Metadata[seen];
                    byHeader.set(h, k);
                } else delete input.Metadata[k];
            }
        }
        return next(args);
    }, { step: 'initialize', name: 's3queueBenchRgwRequestFixes' });
}

async function open(connection, concurrency, queueOptions) {
    const db = new S3db({
        connectionString: connection, logLevel: 'silent', parallelism: Math.max(10, concurrency),
        executorPool: { retryableErrors: RETRYABLE, concurrency: Math.max(10, concurrency) },
        clientOptions: { httpClientOptions: { useReckerHandler: false } },
    });
    await db.connect();  // the client exists from here: the shim and the counter go on before the plugin
    restoreRgwMetadataNames(db.client.client);
    rgwRequestFixes(db.client.client);
    instrumentSdk(db.client.client);
    if (!db.resources.jobs) await db.createResource({ name: 'jobs', attributes: { n: 'number' }, behavior: 'body-overflow' });
    const plugin = new S3QueuePlugin({ resource: 'jobs', autoStart: false, logLevel: 'silent', ...queueOptions });
    await db.usePlugin(plugin);
    return { db, plugin };
}

async function main(cmd) {
    const { connection, messages = 1000, workers = 1, concurrency = 4, pollInterval = 100, visibilityTimeout = 30000,
        enableCoordinator = true, timeoutSeconds = 600 } = cmd;
    await ensureBucket(connection);
    const queueOptions = { concurrency, pollInterval, visibilityTimeout, enableCoordinator, autoAcknowledge: true };
    const producer = await open(connection, 1, queueOptions);
    const consumers = [];
    for (let w = 0; w < workers; ++w) consumers.push(await open(connection, concurrency, queueOptions));
    let completed = 0, handled = 0;
    for (const c of consumers) c.plugin.on('plg:s3-queue:message-completed', () => ++completed);

    resetRequests();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < messages; ++i) await producer.db.resources.jobs.enqueue({ n: i });
    const t1 = process.hrtime.bigint();
    const enqueue = { ...requests };

    resetRequests();
    for (const c of consumers) await c.plugin.startProcessing(async () => { ++handled; });
    const deadline = Date.now() + timeoutSeconds * 1000;
    while (completed < messages && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const t2 = process.hrtime.bigint();
    const process_requests = { ...requests };
    for (const c of consumers) await c.plugin.stopProcessing();
    for (const c of [producer, ...consumers]) await c.db.disconnect().catch(() => {});

    const all = Object.fromEntries(Object.keys(requests).map((k) => [k, enqueue[k] + process_requests[k]]));
    return {
        messages, workers, concurrency, enableCoordinator, completed, handled,
        enqueue_seconds: Number(t1 - t0) / 1e9, process_seconds: Number(t2 - t1) / 1e9,
        enqueue_requests: total(enqueue), process_requests: total(process_requests),
        requests_per_message: total(all) / messages, requests: all,
    };
}

try {
    const result = await main(JSON.parse(await readStdin()));
    process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0));
} catch (e) {
    process.stderr.write('\n' + JSON.stringify({ error: String(e?.stack ?? e) }) + '\n', () => process.exit(1));
}
