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
