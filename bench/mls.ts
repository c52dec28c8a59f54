// Benchmark of private rooms (issue 10, docs/protocol.md §3): what MLS costs one member through
// our interface (src/core/mls/) over ts-mls, at 10, 50 and 200 members. Per size: the CPU time
// and size of a commit that removes a member, of one that adds a member (and its Welcome, which
// carries the ratchet tree), of a member's own update, the time another member takes to apply
// each, and application messages opened per second by a receiver. Targets (issue 10): removing a
// member of a 50-member room ≤ 200 ms of CPU; 2 000 messages/s opened.
// In `npm run bench` as the scenario `private-rooms` (bench/scenarios/privateRooms.ts), which adds
// the same-run baselines and the join through a real relay. Alone, as a table:
//   npx tsc -p tsconfig.json --outDir out && node out/bench/mls.js [sizes...]
import { generateIdentity, type Identity } from '../src/core/crypto/identity';
import { MlsGroup, createKeyPackage, type OwnKeyPackage } from '../src/core/mls';

/** CPU milliseconds (user + system) and wall milliseconds of `f`. */
export async function measure<T>(f: () => Promise<T>): Promise<{ value: T; cpuMs: number; wallMs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const value = await f();
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  return { value, cpuMs: (cpu.user + cpu.system) / 1000, wallMs };
}

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

export interface CommitFigures { makeCpuMs: number; applyCpuMs: number; bytes: number }

export interface SizeFigures {
  members: number;
  remove: CommitFigures;
  add: CommitFigures & { welcomeBytes: number };
  joinCpuMs: number;
  update: CommitFigures;
  stateBytes: number;
  sealedPerS: number;
  openedPerS: number;
  openCpuUs: number;
  messageBytes: number;
}

/** Every figure of one room size; `messages` application messages sealed, then opened. */
export async function measureSize(n: number, messages: number): Promise<SizeFigures> {
  const { ids, admin, other } = await room(n);
  // Remove a member in the middle of the tree (the target: ≤ 200 ms CPU at 50).
  const victim = ids[Math.floor(n / 2)]!.publicKey;
  const rm = await measure(() => admin.commit({ kind: 'remove', identityKeys: [victim] }));
  const rmApply = await measure(() => other.process(rm.value.message));
  admin.confirmOwnCommit();
  // Add one member: the commit, and the Welcome with the ratchet tree.
  const joiner = generateIdentity();
  const kp = await createKeyPackage(joiner);
  const add = await measure(() => admin.commit({ kind: 'add', keyPackages: [kp.publicBytes] }));
  const addApply = await measure(() => other.process(add.value.message));
  admin.confirmOwnCommit();
  const join = await measure(() => MlsGroup.join(joiner, kp, add.value.welcome!));
  // A member's own update (the daily one, §3.7).
  const up = await measure(() => other.commit({ kind: 'update' }));
  const upApply = await measure(() => admin.process(up.value.message));
  other.confirmOwnCommit();
  const stateBytes = admin.export().length;
  // Messages opened per second by one receiver (all from one sender, in order, as the relay delivers them).
  const msgs: Uint8Array[] = [];
  const body = new TextEncoder().encode(JSON.stringify({ id: 'AAECAwQFBgcICQoLDA0ODw', ts: Date.now(), name: 'George', type: 'text', text: 'Bonjour Jacques, c\'est George. '.repeat(3) }));
  const enc = await measure(async () => { for (let i = 0; i < messages; i++) msgs.push(await admin.encrypt(body, Buffer.from('AAECAwQFBgcICQoLDA0ODw'))); });
  const open = await measure(async () => { for (const m of msgs) { const r = await other.process(m); if (r.kind !== 'application') throw new Error('not opened'); } });
  return {
    members: n,
    remove: { makeCpuMs: rm.cpuMs, applyCpuMs: rmApply.cpuMs, bytes: rm.value.message.length },
    add: { makeCpuMs: add.cpuMs, applyCpuMs: addApply.cpuMs, bytes: add.value.message.length, welcomeBytes: add.value.welcome!.length },
    joinCpuMs: join.cpuMs,
    update: { makeCpuMs: up.cpuMs, applyCpuMs: upApply.cpuMs, bytes: up.value.message.length },
    stateBytes,
    sealedPerS: messages / (enc.wallMs / 1000),
    openedPerS: messages / (open.wallMs / 1000),
    openCpuUs: (open.cpuMs * 1000) / messages,
    messageBytes: msgs[0]!.length,
  };
}

async function main(): Promise<void> {
  const sizes = process.argv.length > 2 ? process.argv.slice(2).map(Number) : [10, 50, 200];
  const MESSAGES = 2000;
  const kb = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;
  const ms = (n: number): string => `${n.toFixed(1)} ms`;
  console.log(`node ${process.version}, cipher suite 1, ts-mls through src/core/mls; ${MESSAGES} messages per size`);
  console.log('members | commit           | make (CPU)  | apply (CPU) | commit size | Welcome size');
  for (const n of sizes) {
    const f = await measureSize(n, MESSAGES);
    const row = (what: string, c: CommitFigures, welcome?: number): void =>
      console.log(`${String(n).padStart(7)} | ${what.padEnd(16)} | ${ms(c.makeCpuMs).padStart(11)} | ${ms(c.applyCpuMs).padStart(11)} | ${kb(c.bytes).padStart(11)} | ${welcome === undefined ? '' : kb(welcome)}`);
    row('remove 1', f.remove);
    row('add 1', f.add, f.add.welcomeBytes);
    console.log(`${String(n).padStart(7)} | ${'join (Welcome)'.padEnd(16)} | ${''.padStart(11)} | ${ms(f.joinCpuMs).padStart(11)} |`);
    row('update (own)', f.update);
    console.log(`${String(n).padStart(7)} | messages: ${Math.round(f.sealedPerS)}/s sealed, ${Math.round(f.openedPerS)}/s opened (${f.openCpuUs.toFixed(0)} µs CPU each), ${f.messageBytes} B each; saved state ${kb(f.stateBytes)}`);
  }
}

if (require.main === module) main().catch((err: unknown) => { console.error(err); process.exit(1); });
