// A verification worker thread (verifyPool.ts): checks the Ed25519 signatures of §2.4 step 3
// for a packed batch and answers one byte per item (1 = verifies). It never sees a room key or a
// body: only signatures, public keys and signed bytes. Bundled to dist/verifyWorker.js.
import { parentPort } from 'node:worker_threads';
import { verifySignature } from '../core/crypto/signatureVerifier';
import { unpackSignatures } from './signatureBatch';

/** A job from the pool: `data` is packSignatures() of its items. */
export interface VerifyJob {
  job: number;
  data: Uint8Array;
}

/** The answer: results[i] is 1 when item i verifies, else 0. */
export interface VerifyAnswer {
  job: number;
  results: Uint8Array;
}

const port = parentPort;
if (port !== null) {
  port.on('message', (msg: VerifyJob) => {
    const items = unpackSignatures(msg.data);
    const results = new Uint8Array(items.length);
    for (let i = 0; i < items.length; i++) results[i] = verifySignature(items[i]!) ? 1 : 0;
    const answer: VerifyAnswer = { job: msg.job, results };
    port.postMessage(answer, [results.buffer]);
  });
}
