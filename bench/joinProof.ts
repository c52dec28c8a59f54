// Microbenchmark (issue 7 §1.3): what one join proof check (PROTOCOL.md §1.9) costs the relay.
// verifyJoinProof is the relay's whole check: two b64u decodes, one SHA-256 (room id bound to
// the auth key), one Ed25519 verification. The baseline is node:crypto's Ed25519 verify alone
// over the same bytes with a ready KeyObject. Also timed: a proof for another room (refused by
// the hash before any signature check) and a proof over another challenge (refused by Ed25519).
// Run: npx tsc -p tsconfig.json --outDir out && node out/bench/joinProof.js [iterations]
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import {
  deriveRoomAuthKey, generateChallenge, joinProofMessage, makeJoinProof, roomIdForAuthKey, verifyJoinProof,
} from '../src/core/crypto/roomAuth';

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function time(label: string, n: number, fn: (i: number) => boolean, expect: boolean): number {
  for (let i = 0; i < Math.min(1000, n); i++) fn(i);
  const t0 = process.hrtime.bigint();
  let agree = 0;
  for (let i = 0; i < n; i++) if (fn(i) === expect) agree++;
  const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
  if (agree !== n) throw new Error(`${label}: ${n - agree} of ${n} gave the wrong answer`);
  console.log(`${label.padEnd(58)} ${us.toFixed(1).padStart(7)} µs/join  ${Math.round(1e6 / us).toLocaleString('en-US').padStart(9)}/s`);
  return us;
}

const n = Number(process.argv[2] ?? '20000');
const rooms = Array.from({ length: 64 }, () => {
  const auth = deriveRoomAuthKey(randomBytes(32));
  const room = roomIdForAuthKey(auth.publicKey);
  const challenge = generateChallenge();
  const proof = makeJoinProof(auth, challenge, room);
  return { key: auth, room, challenge, auth: proof.auth, proof: proof.proof };
});
const other = generateChallenge();
console.log(`node ${process.version}, ${n} joins per line, 64 rooms`);
time('verifyJoinProof, valid proof (the relay per join)', n, (i) => {
  const r = rooms[i % 64] as (typeof rooms)[number];
  return verifyJoinProof(r.room, r.challenge, r.auth, r.proof);
}, true);
time('verifyJoinProof, proof replayed on another connection', n, (i) => {
  const r = rooms[i % 64] as (typeof rooms)[number];
  return verifyJoinProof(r.room, other, r.auth, r.proof);
}, false);
time('verifyJoinProof, another room\'s key (refused by the hash)', n, (i) => {
  const r = rooms[i % 64] as (typeof rooms)[number];
  const s = rooms[(i + 1) % 64] as (typeof rooms)[number];
  return verifyJoinProof(s.room, r.challenge, r.auth, r.proof);
}, false);
const ready = rooms.map((r) => ({
  key: createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, r.key.publicKey]), format: 'der', type: 'spki' }),
  msg: joinProofMessage(r.challenge, r.room),
  sig: Buffer.from(r.proof, 'base64url'),
}));
time('baseline: node:crypto Ed25519 verify, KeyObject ready', n, (i) => {
  const r = ready[i % 64] as (typeof ready)[number];
  return verify(null, r.msg, r.key, r.sig);
}, true);
