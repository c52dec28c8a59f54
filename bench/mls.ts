// Benchmark of private rooms (issue 10, docs/protocol.md §3): what MLS costs one member through
// our interface (src/core/mls/) over ts-mls, at 10, 50 and 200 members. Per size: the CPU time
// and size of a commit that removes a member, of one that adds a member (and its Welcome, which
// carries the ratchet tree), of a member's own update, the time another member takes to apply
// each, and application messages opened per second by a receiver. Targets (issue 10): removing a
// member of a 50-member room ≤ 200 ms of CPU; 2 000 messages/s opened.
// Standalone (not in bench/run.ts): npx tsc -p tsconfig.json --outDir out && node out/bench/mls.js [sizes...]
import { generateIdentity, type Identity } from '../src/core/crypto/identity';
import { MlsGroup, createKeyPackage, type OwnKeyPackage } from '../src/core/mls';

const sizes = process.argv.length > 2 ? process.argv.slice(2).map(Number) : [10, 50, 200];
const MESSAGES = 2000;

/** CPU milliseconds (user + system) and wall milliseconds of `f`. */
async function measure<T>(f: () => Promise<T>): Promise<{ value: T; cpuMs: number; wallMs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const value = await f();
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  return { value, cpuMs: (cpu.user + cpu.system) / 1000, wallMs };
}

const kb = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;
const ms = (n: number): string => `${n.toFixed(1)} ms`;

async function room(n: number): Promise<{ ids: Identity[]; admin: MlsGroup; other: MlsGroup; kps: OwnKeyPackage[] }> {
  const ids = Array.from({ length: n }, () => generateIdentity());
  const admin = await MlsGroup.create(ids[0]!);
  const kps = await Promise.all(ids.slice(1).map((id) => createKeyPackage(id)));
  const c = await admin.commit({ kind: 'add', keyPackages: kps.map((k) => k.publicBytes) });
  admin.confirmOwnCommit();
  // The member at the far end of the tree, so that its path is as long as anyone's.
  const other = await MlsGroup.join(ids[n - 1]!, kps[n - 2]!, c.welcome!);
  return { ids, admin, other, kps };
}

async function main(): Promise<void> {
  console.log(`node ${process.version}, cipher suite 1, ts-mls 1.6.4 through src/core/mls; ${MESSAGES} messages per size`);
  console.log('members | commit           | make (CPU)  | apply (CPU) | commit size | Welcome size');
  for (const n of sizes) {
    const { ids, admin, other } = await room(n);
    const rows: string[] = [];
    const row = (what: string, make: { cpuMs: number }, apply: { cpuMs: number }, size: number, welcome?: number): void => {
      rows.push(`${String(n).padStart(7)} | ${what.padEnd(16)} | ${ms(make.cpuMs).padStart(11)} | ${ms(apply.cpuMs).padStart(11)} | ${kb(size).padStart(11)} | ${welcome === undefined ? '' : kb(welcome)}`);
    };
    // Remove a member in the middle of the tree (the target: ≤ 200 ms CPU at 50).
    const victim = ids[Math.floor(n / 2)]!.publicKey;
    const rm = await measure(() => admin.commit({ kind: 'remove', identityKeys: [victim] }));
    const rmApply = await measure(() => other.process(rm.value.message));
    admin.confirmOwnCommit();
    row('remove 1', rm, rmApply, rm.value.message.length);
    // Add one member: the commit, and the Welcome with the ratchet tree.
    const joiner = generateIdentity();
    const kp = await createKeyPackage(joiner);
    const add = await measure(() => admin.commit({ kind: 'add', keyPackages: [kp.publicBytes] }));
    const addApply = await measure(() => other.process(add.value.message));
    admin.confirmOwnCommit();
    row('add 1', add, addApply, add.value.message.length, add.value.welcome!.length);
    const join = await measure(() => MlsGroup.join(joiner, kp, add.value.welcome!));
    rows.push(`${String(n).padStart(7)} | ${'join (Welcome)'.padEnd(16)} | ${''.padStart(11)} | ${ms(join.cpuMs).padStart(11)} |`);
    // A member's own update (the daily one, §3.7).
    const up = await measure(() => other.commit({ kind: 'update' }));
    const upApply = await measure(() => admin.process(up.value.message));
    other.confirmOwnCommit();
    row('update (own)', up, upApply, up.value.message.length);
    // State size, as saved at rest.
    const state = admin.export().length;
    for (const r of rows) console.log(r);
    // Messages opened per second by one receiver (all from one sender, in order, as the relay delivers them).
    const msgs: Uint8Array[] = [];
    const body = new TextEncoder().encode(JSON.stringify({ id: 'AAECAwQFBgcICQoLDA0ODw', ts: Date.now(), name: 'George', type: 'text', text: 'Bonjour Jacques, c\'est George. '.repeat(3) }));
    const enc = await measure(async () => { for (let i = 0; i < MESSAGES; i++) msgs.push(await admin.encrypt(body)); });
    const open = await measure(async () => { for (const m of msgs) { const r = await other.process(m); if (r.kind !== 'application') throw new Error('not opened'); } });
    console.log(`${String(n).padStart(7)} | messages: ${Math.round(MESSAGES / (enc.wallMs / 1000))}/s sealed, ${Math.round(MESSAGES / (open.wallMs / 1000))}/s opened (${(open.cpuMs * 1000 / MESSAGES).toFixed(0)} µs CPU each), ${msgs[0]!.length} B each; saved state ${kb(state)}`);
  }
}

main().catch((err: unknown) => { console.error(err); process.exit(1); });
