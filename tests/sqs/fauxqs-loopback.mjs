// fauxqs (the SQS emulator from npm) on 127.0.0.1 only: its CLI and startFauxqs() listen on
// 0.0.0.0. QueueUrls are built from the Host header (sqsStore.host unset), so they name the address
// the client used: fauxqs finds queues by the exact URL.
//   FAUXQS_PORT=4566 node fauxqs-loopback.mjs
import { buildApp } from 'fauxqs';
import { SqsStore } from './node_modules/fauxqs/dist/sqs/sqsStore.js';
import { SnsStore } from './node_modules/fauxqs/dist/sns/snsStore.js';
import { S3Store } from './node_modules/fauxqs/dist/s3/s3Store.js';

const port = +(process.env.FAUXQS_PORT || 4566);
const sqsStore = new SqsStore();
sqsStore.host = undefined;
const app = buildApp({ logger: false, stores: { sqsStore, snsStore: new SnsStore(), s3Store: new S3Store() } });
console.log('fauxqs listening on', await app.listen({ port, host: '127.0.0.1' }));
process.on('SIGTERM', async () => {
    await app.close();
    process.exit(0);
});
