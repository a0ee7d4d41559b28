#!/usr/bin/env node
// s3dbjs.mjs: drives s3db.js 21.6.2 (the JS library s3db-cpp must stay wire-compatible with) for
// the interop tests and the side-by-side benchmarks. Install first: npm ci --prefix tests/interop
//
// PROTOCOL. `node tests/interop/s3dbjs.mjs < command.json`
//   stdin : one JSON object, the command.
//   stdout: exactly one line, the JSON result, exit status 0. Nothing else is ever written to stdout
//           (console output of s3db.js and the AWS SDK is sent to stderr).
//   error : exit status 1, nothing on stdout, and the LAST line of stderr is
//           {"error":{"name":..,"message":..,"code":..,"status":..}} (earlier stderr lines are noise:
//           warnings of Node or the SDK). A bad command is an error with name "UsageError".
//
// Every command has "op" and "connection", an s3db.js connection string:
//   http://KEY:SECRET@127.0.0.1:7480/BUCKET/PREFIX   (S3 at that origin, path style; PREFIX optional)
//   memory://BUCKET/PREFIX                           (s3db.js MemoryClient: lives in this process only,
//                                                     so only useful for "bench")
// For http(s) connections the bucket is created when missing (s3db.js cannot connect without it),
// unless "ensure_bucket": false. "passphrase" (optional, any command) is the key of `secret`
// fields (s3db.js's `security.passphrase`; its default is "secret"). "security" (optional, any
// command) is merged into s3db.js's `security` as given: {bcrypt:{rounds}, argon2:{memoryCost,
// timeCost, parallelism}, pepper} for `password` fields.
// "resource" is either a name (its definition is read from the s3db.json under the connection, as
// s3db.js does on connect; that is how a bucket written by s3db-cpp is read) or an s3db.js resource
// config {name, attributes, behavior, partitions, timestamps, idSize, ...}, which is created first
// (createResource; a no-op when the stored definition is the same).
//
//   {"op":"create_resource", "connection", "resource":{...}}
//       -> {"name","version","map":{attribute path: metadata key},"hash"}
//   {"op":"insert", "connection", "resource", "records":[{...}, ...]}       sequential, in order
//       -> {"records":[what insert() returned, ...]}
//   {"op":"get", "connection", "resource", "ids":[...]}  -> {"records":[record | null when missing]}
//   {"op":"update", "connection", "resource", "updates":[{"id", "fields":{...}}, ...]}
//       -> {"records":[what update() returned, ...]}
//   {"op":"delete", "connection", "resource", "ids":[...]} -> {"deleted":n}
//   {"op":"list", "connection", "resource", "limit"?}    -> {"ids":[...],"records":[...]}
//       (s3db.js lists at most 1000 records when no limit is given; ids in key order, records not)
//   {"op":"list_partition", "connection", "resource", "partition":"byRegion", "values":{"region":"eu"},
//    "limit"?}                                           -> {"ids":[...],"records":[...]}
//   {"op":"count", "connection", "resource", "partition"?, "values"?} -> {"count":n}
//   {"op":"raw_objects", "connection", "prefix"?:"resource=users/"}
//       -> {"bucket","prefix","objects":[{"key","relative_key","size","etag","content_type",
//            "metadata":{name: value},"body" | "body_base64"}]}
//       Straight from S3 (ListObjectsV2 + GetObject with the AWS SDK, no s3db.js decoding), in key
//       order; "key" is the full key, "relative_key" drops the connection's prefix. Metadata names are
//       as the server returns them (lowercase). "body" is the body as UTF-8 text, or "body_base64"
//       when it is not valid UTF-8.
//   {"op":"verify_password", "checks":[{"plaintext","hash","pepper"?}, ...]} -> {"results":[bool, ...]}
//       s3db.js's own verifyPassword (compact or full hashes); needs no connection.
//   {"op":"clear", "connection"}  -> {"deleted":n}
//       Deletes every object under the connection's prefix (http(s) only; the prefix must not be
//       empty), e.g. after a test.
//   {"op":"batch", "connection"?, "passphrase"?, "commands":[{command}, ...]}
//       -> {"results":[result of each command, ...]}
//       Runs the commands in order in this one process (a node start costs ~2 s), sharing one
//       connected s3db.js database per connection and passphrase (it sees what the commands
//       before it wrote: nothing else may change s3db.json while a batch runs). A command
//       without "connection", "passphrase", "security" or "ensure_bucket" takes the batch's. The first
//       failing command fails the batch; its message starts with "command <index> (<op>): ",
//       unless that command has "allow_error": true: its result is then {"error":{"name",
//       "message"}} and the batch goes on. "batch" and "bench" cannot be batched.
//   {"op":"bench", "connection", "workload":"insert|get|update|list", "n":1000, "concurrency":16,
//    "resource"?:{config}}
//       -> {"workload","n","concurrency","backend","ops","seconds","ops_per_s","cpu_user_s",
//           "cpu_system_s","cpu_s","cpu_us_per_op","setup_seconds"}
//       Works under a fresh sub-prefix of the connection (deleted afterwards). Records are
//       {id:"id<8 digits>", name:"user-<i>", email:"user<i>@example.com", age:20+i%50, active:i%2==0}
//       in a resource "bench" with those 4 attributes, unless "resource" gives another config.
//       Only the timed phase is measured: wall time and this process's CPU (process.cpuUsage, all
//       threads of node, not the server's). get/update/list first insert the n records untimed;
//       "list" times one list({limit:n}) and counts each record as one op. s3db.js's own pool
//       runs at the same concurrency (parallelism). The run fails if any operation failed.
//
// Records are what s3db.js returns (a Buffer as {"type":"Buffer","data":[...]}, in records sent too): the fields plus id and its own extras (_etag, _v,
// _lastModified as an ISO string, ...; s3db.js drops the `_…` extras that its update() writes back
// into metadata).
//
// How s3db.js is set up here, and why (the quirks are observed with 21.6.2 on Node 20):
// - Imported from 's3db.js/lite': the main entry needs a recker API that the installable recker
//   lacks (see package.json overrides and stubs/).
// - useReckerHandler:false: the default HTTP handler (recker) merges concurrent GET/HEAD requests
//   to the same path whatever their query, so two ListObjectsV2 with different prefixes get one
//   answer and update() deletes live data (its enableDedup:false would avoid that, but recker
//   1.0.56 then fails every DeleteObject: "Invalid response status code 204"). The SDK's own
//   handler is used instead, with the fix of drainEmptyBodies() (node_support.mjs).
// - executorPool.retryableErrors is set to network/throttling errors: by default the Database passes
//   an empty list, which its TasksPool reads as "retry every error", so each 404 (get of a missing
//   id, the first connect to an empty prefix) and each 412 is retried 3 times over ~7 s.
// - Partition references are written after insert/update/delete return (asyncPartitions defaults to
//   true); every command waits for those writes before it answers, and fails if one failed.
// - parallelism follows "concurrency" for bench, else s3db.js's default (10).
// - On RGW, metadata names read back get their leading '-' turned into '_' again (see
//   restoreRgwMetadataNames): RGW renames `_v`, `_map`, `_pluginmap`, ... and s3db.js does not
//   find them otherwise.
import { Buffer } from 'node:buffer';
import { format } from 'node:util';

import { drainEmptyBodies, readStdin, restoreRgwMetadataNames } from './node_support.mjs';

// Keep stdout for the one result line: anything the libraries print goes to stderr.
const toStderr = (...args) => process.stderr.write(format(...args) + '\n');
console.log = console.info = console.warn = console.debug = console.trace = toStderr;
process.removeAllListeners('warning');
// The SDK warns on every run that it will need Node 22 from 2027; it runs on 20 today.
process.on('warning', (w) => {
    if (!String(w.message).startsWith('NodeVersionSupportWarning')) toStderr(`warning: ${w.name}: ${String(w.message).replace(/\s+/g, ' ')}`);
});

class UsageError extends Error {
    constructor(message) { super(message); this.name = 'UsageError'; }
}

const { S3db } = await import('s3db.js/lite');
const sdk = await import('@aws-sdk/client-s3');

const RETRYABLE = ['ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ECONNREFUSED',
    'SlowDown', 'ServiceUnavailable', 'InternalError', 'RequestTimeout', 'ThrottlingException',
    'NetworkingError', 'TimeoutError'];

function need(cmd, field, type) {
    const v = cmd[field];
    const ok = type === 'array' ? Array.isArray(v) : typeof v === type && v !== null;
    if (!ok) throw new UsageError(`"${field}" must be ${type === 'array' ? 'an array' : `a ${type}`} for op "${cmd.op}"`);
    return v;
}

/// The parts of an http(s) connection string s3db.js uses, for the plain SDK client.
function parseS3Connection(connection) {
    const url = new URL(connection);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    return {
        endpoint: url.origin,
        accessKeyId: decodeURIComponent(url.username),
        secretAccessKey: decodeURIComponent(url.password),
        bucket: parts[0] || 's3db',
        prefix: parts.slice(1).join('/'),
    };
}

function sdkClient(c) {
    return new sdk.S3Client({
        endpoint: c.endpoint, region: 'us-east-1', forcePathStyle: true,
        credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey },
    });
}

async function ensureBucket(c) {
    const s3 = sdkClient(c);
    try {
        await s3.send(new sdk.HeadBucketCommand({ Bucket: c.bucket }));
    } catch (e) {
        if (e?.$metadata?.httpStatusCode !== 404) throw e;
        try {
            await s3.send(new sdk.CreateBucketCommand({ Bucket: c.bucket }));
        } catch (e2) {  // another process may have created it meanwhile
            if (e2?.name !== 'BucketAlreadyOwnedByYou' && e2?.name !== 'BucketAlreadyExists') throw e2;
        }
    } finally {
        s3.destroy();
    }
}

async function openDatabase(cmd, { parallelism } = {}) {
    const connection = need(cmd, 'connection', 'string');
    const s3 = parseS3Connection(connection);
    if (s3 && cmd.ensure_bucket !== false) await ensureBucket(s3);
    const options = {
        connectionString: connection,
        logLevel: 'silent',
        ...(cmd.passphrase !== undefined || cmd.security !== undefined
            ? { security: { ...(cmd.security ?? {}), ...(cmd.passphrase !== undefined ? { passphrase: need(cmd, 'passphrase', 'string') } : {}) } }
            : {}),
        executorPool: { retryableErrors: RETRYABLE, ...(parallelism ? { concurrency: parallelism } : {}) },
    };
    if (parallelism) options.parallelism = parallelism;
    if (s3) options.clientOptions = { httpClientOptions: { useReckerHandler: false } };
    const db = new S3db(options);
    await db.connect();  // creates the client; what it reads (s3db.json) needs neither shim below
    if (s3) {
        drainEmptyBodies(db.client.client);
        restoreRgwMetadataNames(db.client.client);
    }
    return db;
}

/// Partition reference writes run in setImmediate after the call returns: track them so a command
/// answers only once the bucket holds everything, and fails if one of them failed.
function trackPartitionWrites(resource) {
    const pending = new Set();
    const errors = [];
    for (const method of ['createPartitionReferences', 'deletePartitionReferences', 'handlePartitionReferenceUpdates']) {
        const original = resource[method].bind(resource);
        resource[method] = (...args) => {
            const p = original(...args);
            pending.add(p);
            p.catch(() => {}).finally(() => pending.delete(p));
            return p;
        };
    }
    resource.on('partitionIndexError', (e) => errors.push(e));
    return async function settle() {
        do {
            await new Promise((r) => setImmediate(r));
            await Promise.allSettled([...pending]);
        } while (pending.size);
        if (errors.length) {
            const e = errors[0];
            const err = new Error(`partition reference ${e.operation} failed for id ${e.id}: ${e.message}`);
            err.name = 'PartitionIndexError';
            throw err;
        }
    };
}

async function openResource(db, spec) {
    let resource;
    if (typeof spec === 'string') {
        resource = db.resources[spec];
        if (!resource) {
            throw new UsageError(`resource "${spec}" is not defined in this database's s3db.json; ` +
                'pass its config instead of its name');
        }
    } else if (spec && typeof spec === 'object' && typeof spec.name === 'string') {
        resource = await db.createResource(spec);
    } else {
        throw new UsageError('"resource" must be a resource name or a config object with a "name"');
    }
    // A resource is tracked once, however often a batch opens it.
    if (!tracked.has(resource)) tracked.set(resource, trackPartitionWrites(resource));
    return { resource, settle: tracked.get(resource) };
}
const tracked = new WeakMap();

/// While a batch runs: its databases, one per connection and passphrase, connected on first use
/// and disconnected when it ends. Commands of a batch run one after another, and nothing else
/// writes s3db.json meanwhile, so a database connected earlier in the batch is up to date.
let batchDatabases = null;

async function withResource(cmd, fn, dbOptions) {
    if (batchDatabases && !dbOptions) {
        const key = JSON.stringify([cmd.connection, cmd.passphrase ?? null, cmd.ensure_bucket ?? true, cmd.security ?? null]);
        if (!batchDatabases.has(key)) batchDatabases.set(key, openDatabase(cmd));
        const { resource, settle } = await openResource(await batchDatabases.get(key), cmd.resource);
        const result = await fn(resource);
        await settle();
        return result;
    }
    const db = await openDatabase(cmd, dbOptions);
    try {
        const { resource, settle } = await openResource(db, cmd.resource);
        const result = await fn(resource);
        await settle();
        return result;
    } finally {
        await db.disconnect();
    }
}

async function listOf(resource, opts) {
    const records = await resource.list(opts);
    // list() drops records it could not read; say so instead of answering with fewer.
    const ids = await resource.listIds(opts);
    if (records.length !== ids.length) {
        throw new Error(`list returned ${records.length} records for ${ids.length} ids`);
    }
    return { ids, records };
}

async function rawObjects(cmd) {
    const connection = need(cmd, 'connection', 'string');
    const c = parseS3Connection(connection);
    if (!c) throw new UsageError('raw_objects needs an http(s):// connection');
    const base = c.prefix ? `${c.prefix}/` : '';
    const prefix = base + (cmd.prefix ?? '');
    const s3 = sdkClient(c);
    try {
        const keys = [];
        let token;
        do {
            const page = await s3.send(new sdk.ListObjectsV2Command({ Bucket: c.bucket, Prefix: prefix, ContinuationToken: token }));
            for (const o of page.Contents ?? []) keys.push(o.Key);
            token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
        const objects = [];
        for (const key of keys) {
            const r = await s3.send(new sdk.GetObjectCommand({ Bucket: c.bucket, Key: key }));
            const bytes = Buffer.from(await r.Body.transformToByteArray());
            const o = {
                key,
                relative_key: key.startsWith(base) ? key.slice(base.length) : key,
                size: bytes.length,
                etag: r.ETag,
                content_type: r.ContentType ?? null,
                metadata: r.Metadata ?? {},
            };
            let text = null;
            try { text = new TextDecoder('utf-8', { fatal: true }).decode(bytes); } catch { /* binary */ }
            if (text !== null) o.body = text; else o.body_base64 = bytes.toString('base64');
            objects.push(o);
        }
        return { bucket: c.bucket, prefix, objects };
    } finally {
        s3.destroy();
    }
}

async function deletePrefix(c, prefix) {
    const s3 = sdkClient(c);
    let deleted = 0;
    try {
        for (;;) {
            const page = await s3.send(new sdk.ListObjectsV2Command({ Bucket: c.bucket, Prefix: prefix }));
            const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key }));
            if (!keys.length) return deleted;
            deleted += keys.length;
            const r = await s3.send(new sdk.DeleteObjectsCommand({ Bucket: c.bucket, Delete: { Objects: keys, Quiet: true } }));
            if (r.Errors?.length) throw new Error(`cleanup failed: ${r.Errors[0].Key}: ${r.Errors[0].Message}`);
        }
    } finally {
        s3.destroy();
    }
}

const BENCH_RESOURCE = {
    name: 'bench',
    attributes: { name: 'string', email: 'string', age: 'number|integer', active: 'boolean' },
};
const benchRecord = (i) => ({
    id: `id${String(i).padStart(8, '0')}`,
    name: `user-${i}`, email: `user${i}@example.com`, age: 20 + (i % 50), active: i % 2 === 0,
});

/// Runs fn(0..n-1) on `concurrency` workers; any failure fails the run.
async function runPool(n, concurrency, fn) {
    let next = 0;
    const worker = async () => {
        for (let i = next++; i < n; i = next++) await fn(i);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
}

async function bench(cmd) {
    const workload = need(cmd, 'workload', 'string');
    if (!['insert', 'get', 'update', 'list'].includes(workload)) throw new UsageError(`unknown workload "${workload}"`);
    const n = need(cmd, 'n', 'number');
    const concurrency = cmd.concurrency ?? 1;
    if (!Number.isInteger(n) || n < 1 || !Number.isInteger(concurrency) || concurrency < 1) {
        throw new UsageError('"n" and "concurrency" must be positive integers');
    }
    // A fresh sub-prefix: no earlier run's objects, and safe to delete afterwards.
    const sub = `bench-${process.pid}-${Date.now().toString(36)}`;
    const base = need(cmd, 'connection', 'string').replace(/\/+$/, '');
    const s3 = parseS3Connection(base);
    if (s3 && new URL(base).pathname.split('/').filter(Boolean).length === 0) {
        throw new UsageError('bench needs a bucket in an http(s) connection: http://KEY:SECRET@HOST:PORT/BUCKET');
    }
    const connection = `${base}/${sub}`;
    const spec = cmd.resource ?? BENCH_RESOURCE;
    const setupStart = process.hrtime.bigint();
    const db = await openDatabase({ ...cmd, connection }, { parallelism: concurrency });
    try {
        const { resource, settle } = await openResource(db, spec);
        if (workload !== 'insert') {
            await runPool(n, concurrency, (i) => resource.insert(benchRecord(i)));
            await settle();
        }
        const setupSeconds = Number(process.hrtime.bigint() - setupStart) / 1e9;

        const cpu0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        let ops = n;
        if (workload === 'insert') {
            await runPool(n, concurrency, (i) => resource.insert(benchRecord(i)));
        } else if (workload === 'get') {
            await runPool(n, concurrency, async (i) => {
                const r = await resource.get(benchRecord(i).id);
                if (r.name !== `user-${i}`) throw new Error(`get ${r.id} read ${JSON.stringify(r.name)}`);
            });
        } else if (workload === 'update') {
            await runPool(n, concurrency, (i) => resource.update(benchRecord(i).id, { age: 21 + (i % 50) }));
        } else {
            const records = await resource.list({ limit: n });
            ops = records.length;
            if (ops !== n) throw new Error(`list returned ${ops} of ${n} records`);
        }
        await settle();
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const cpu = process.cpuUsage(cpu0);

        if (workload === 'insert' || workload === 'update') {  // the timed writes must all be there
            const count = await resource.count();
            if (count !== n) throw new Error(`${workload}: ${count} records stored, expected ${n}`);
        }
        const cpuS = (cpu.user + cpu.system) / 1e6;
        return {
            workload, n, concurrency, backend: s3 ? 's3' : new URL(connection).protocol.replace(':', ''),
            ops, seconds, ops_per_s: ops / seconds,
            cpu_user_s: cpu.user / 1e6, cpu_system_s: cpu.system / 1e6, cpu_s: cpuS,
            cpu_us_per_op: (cpuS * 1e6) / ops, setup_seconds: setupSeconds,
        };
    } finally {
        await db.disconnect();
        if (s3) {
            const c = parseS3Connection(connection);
            await deletePrefix(c, `${c.prefix}/`);
        }
    }
}

async function run(cmd) {
    if (!cmd || typeof cmd !== 'object' || Array.isArray(cmd)) throw new UsageError('the command must be a JSON object');
    switch (cmd.op) {
        case 'create_resource': {
            need(cmd, 'resource', 'object');
            return withResource(cmd, async (r) => ({
                name: r.name, version: r.version, map: r.schema.map, hash: r.getDefinitionHash(),
            }));
        }
        case 'insert': {
            const records = need(cmd, 'records', 'array');
            return withResource(cmd, async (r) => {
                const out = [];
                for (const rec of records) out.push(await r.insert(rec));
                return { records: out };
            });
        }
        case 'get': {
            const ids = need(cmd, 'ids', 'array');
            return withResource(cmd, async (r) => {
                const out = [];
                for (const id of ids) out.push(await r.getOrNull(id));
                return { records: out };
            });
        }
        case 'update': {
            const updates = need(cmd, 'updates', 'array');
            return withResource(cmd, async (r) => {
                const out = [];
                for (const u of updates) out.push(await r.update(u.id, u.fields ?? {}));
                return { records: out };
            });
        }
        case 'delete': {
            const ids = need(cmd, 'ids', 'array');
            return withResource(cmd, async (r) => {
                for (const id of ids) await r.delete(id);
                return { deleted: ids.length };
            });
        }
        case 'list':
            return withResource(cmd, (r) => listOf(r, cmd.limit ? { limit: cmd.limit } : {}));
        case 'list_partition': {
            const partition = need(cmd, 'partition', 'string');
            const values = need(cmd, 'values', 'object');
            return withResource(cmd, (r) => listOf(r, { partition, partitionValues: values, ...(cmd.limit ? { limit: cmd.limit } : {}) }));
        }
        case 'count':
            return withResource(cmd, async (r) => ({
                count: await r.count(cmd.partition ? { partition: cmd.partition, partitionValues: cmd.values ?? {} } : {}),
            }));
        case 'raw_objects':
            return rawObjects(cmd);
        case 'clear': {
            const c = parseS3Connection(need(cmd, 'connection', 'string'));
            if (!c || !c.prefix) throw new UsageError('clear needs an http(s):// connection with a prefix');
            return { deleted: await deletePrefix(c, `${c.prefix}/`) };
        }
        case 'verify_password': {
            const { verifyPassword } = await import('s3db.js/concerns/password-hashing');
            const results = [];
            for (const c of need(cmd, 'checks', 'array')) results.push(await verifyPassword(c.plaintext, c.hash, c.pepper));
            return { results };
        }
        case 'bench':
            return bench(cmd);
        case 'batch':
            return batch(cmd);
        default:
            throw new UsageError(`unknown op ${JSON.stringify(cmd.op)}`);
    }
}

async function batch(cmd) {
    const commands = need(cmd, 'commands', 'array');
    batchDatabases = new Map();
    try {
        return { results: await runBatch(cmd, commands) };
    } finally {
        const open = [...batchDatabases.values()];
        batchDatabases = null;
        for (const db of await Promise.allSettled(open)) if (db.status === 'fulfilled') await db.value.disconnect();
    }
}

async function runBatch(cmd, commands) {
    const results = [];
    for (const [i, sub] of commands.entries()) {
        if (!sub || typeof sub !== 'object' || Array.isArray(sub)) throw new UsageError(`command ${i} of the batch is not an object`);
        if (sub.op === 'batch' || sub.op === 'bench') throw new UsageError(`command ${i}: "${sub.op}" cannot be batched`);
        const full = { ...sub };
        for (const k of ['connection', 'passphrase', 'ensure_bucket', 'security']) if (full[k] === undefined && cmd[k] !== undefined) full[k] = cmd[k];
        try {
            results.push(await run(full));
        } catch (e) {
            if (sub.allow_error === true) {
                results.push({ error: { name: e?.name ?? 'Error', message: String(e?.message ?? e) } });
                continue;
            }
            if (e && typeof e === 'object') e.message = `command ${i} (${sub.op}): ${e.message}`;
            throw e;
        }
    }
    return results;
}

/// JSON.parse reviver: {"type":"Buffer","data":[bytes]} (what JSON.stringify makes of a Buffer, so
/// what this driver answers for `buffer`/`bits` fields) becomes a Buffer again, so that records
/// with binary fields can be sent to s3db.js, which encodes only real Buffers.
function reviveBuffers(_key, value) {
    if (value && typeof value === 'object' && value.type === 'Buffer' && Array.isArray(value.data) &&
        Object.keys(value).length === 2 && value.data.every((b) => Number.isInteger(b) && b >= 0 && b < 256)) {
        return Buffer.from(value.data);
    }
    return value;
}

// s3db.js keeps timers and sockets alive, so the process exits explicitly once the line is out.
try {
    const text = await readStdin();
    let cmd;
    try { cmd = JSON.parse(text, reviveBuffers); } catch (e) { throw new UsageError(`stdin is not JSON: ${e.message}`); }
    const result = await run(cmd);
    process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0));
} catch (e) {
    const error = {
        name: e?.name ?? 'Error',
        message: String(e?.message ?? e),
        code: e?.code ?? null,
        status: e?.statusCode ?? e?.$metadata?.httpStatusCode ?? null,
    };
    process.stderr.write('\n' + JSON.stringify({ error }) + '\n', () => process.exit(1));
}
