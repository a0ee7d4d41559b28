// What the s3db.js sides of the benches share: the errors worth retrying, a promise pool, and the
// count of the S3 requests s3db.js sends, taken where it hands them to the store.
import { drainEmptyBodies } from '../tests/interop/node_support.mjs';

// Network and throttling errors only: s3db.js's default empty list means "retry everything",
// which retries each 404/412 three times (see tests/interop/s3dbjs.mjs).
export const RETRYABLE = ['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNREFUSED', 'SlowDown', 'ServiceUnavailable',
    'InternalError', 'RequestTimeout', 'NetworkingError', 'TimeoutError'];

const SDK_COMMANDS = {
    PutObjectCommand: 'put', GetObjectCommand: 'get', HeadObjectCommand: 'head', CopyObjectCommand: 'copy',
    DeleteObjectCommand: 'remove', DeleteObjectsCommand: 'remove_many', ListObjectsV2Command: 'list',
};

/// Requests counted so far, by kind ('other': any further SDK command).
export const requests = { put: 0, get: 0, head: 0, copy: 0, remove: 0, remove_many: 0, list: 0, other: 0 };
export const total = (r = requests) => Object.values(r).reduce((a, b) => a + b, 0);
export function resetRequests() {
    for (const k of Object.keys(requests)) requests[k] = 0;
}

/// Counts every command the SDK client sends, and drains the empty bodies s3db.js leaves unread.
export function instrumentSdk(awsClient) {
    awsClient.middlewareStack.add((next, context) => async (args) => {
        requests[SDK_COMMANDS[context.commandName] ?? 'other']++;
        return next(args);
    }, { step: 'initialize', name: 's3dbBenchCountRequests' });
    drainEmptyBodies(awsClient);
}

/// The MemoryClient has no SDK: count the calls its storage receives, one per S3 request it stands for.
export function instrumentMemory(storage) {
    const ops = { put: 'put', get: 'get', head: 'head', copy: 'copy', delete: 'remove', deleteMultiple: 'remove_many', list: 'list' };
    for (const [method, op] of Object.entries(ops)) {
        const original = storage[method].bind(storage);
        storage[method] = (...args) => {
            requests[op]++;
            return original(...args);
        };
    }
}

/// Runs fn(0..n-1) on `concurrency` promise workers.
export async function runPool(n, concurrency, fn) {
    let next = 0;
    const worker = async () => {
        for (let i = next++; i < n; i = next++) await fn(i);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
}

/// An s3db.js database on `connection` (memory:// or http(s)://), connected, its requests counted.
export async function openCounted(S3db, connection, concurrency) {
    const s3 = /^https?:/.test(connection);
    const db = new S3db({
        connectionString: connection,
        logLevel: 'silent',
        parallelism: concurrency,
        executorPool: { retryableErrors: RETRYABLE, concurrency },
        ...(s3 ? { clientOptions: { httpClientOptions: { useReckerHandler: false } } } : {}),
    });
    await db.connect();
    if (s3) instrumentSdk(db.client.client);
    else instrumentMemory(db.client.storage);
    return db;
}
