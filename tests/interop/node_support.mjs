// node_support.mjs: what the two node drivers of s3db.js 21.6.2 share (tests/interop/s3dbjs.mjs and
// bench/s3dbjs_bench.mjs): reading their command from stdin, and the fix its AWS SDK client needs to
// run against a real S3 server with the SDK's own HTTP handler.
import { Buffer } from 'node:buffer';
import { Readable } from 'node:stream';

/// The whole of stdin as UTF-8 text.
export function readStdin() {
    return new Promise((resolve, reject) => {
        const chunks = [];
        process.stdin.on('data', (c) => chunks.push(c));
        process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        process.stdin.on('error', reject);
    });
}

/// get() reads the body of a record only when ContentLength > 0, so with the SDK's HTTP handler
/// the socket of every empty-bodied GetObject stays busy; after 50 (the agent's maxSockets) every
/// request waits forever. Reading the empty body frees it; nothing stored or returned changes.
export function drainEmptyBodies(awsClient) {
    awsClient.middlewareStack.add((next, context) => async (args) => {
        const result = await next(args);
        const out = result.output;
        if (context.commandName === 'GetObjectCommand' && out?.Body && out.ContentLength === 0) {
            await out.Body.transformToByteArray();
            const empty = Readable.from([]);
            empty.transformToByteArray = async () => new Uint8Array(0);
            empty.transformToString = async () => '';
            empty.transformToWebStream = () => Readable.toWeb(Readable.from([]));
            out.Body = empty;
        }
        return result;
    }, { step: 'initialize', name: 's3dbjsDrainEmptyBodies' });
}

/// Ceph RGW hands user-metadata names back with every '_' turned into '-' (`_v` → `-v`), so s3db.js
/// does not see its own markers: records come back with a field "-v" (and, after an update, the
/// `-contentlength`, `-etag`, ... that its update() writes into metadata), a body-only object's
/// `_map` and any `_pluginmap` are not found. AWS S3 and MinIO keep the names. Turning a leading
/// '-' back into '_' (s3db.js never writes a name starting with '-'; s3db-cpp's S3 transport does
/// the same) makes s3db.js behave on RGW as it does on S3.
export function restoreRgwMetadataNames(awsClient) {
    awsClient.middlewareStack.add((next, context) => async (args) => {
        const result = await next(args);
        const meta = result.output?.Metadata;
        if ((context.commandName === 'GetObjectCommand' || context.commandName === 'HeadObjectCommand') && meta) {
            const fixed = {};
            for (const [k, v] of Object.entries(meta)) fixed[k.startsWith('-') ? `_${k.slice(1)}` : k] = v;
            result.output.Metadata = fixed;
        }
        return result;
    }, { step: 'initialize', name: 's3dbjsRestoreRgwMetadataNames' });
}
