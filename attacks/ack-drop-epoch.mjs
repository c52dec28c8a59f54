// Attack (malicious relay / lost ack): bob's send is stored but its ack dropped; alice then
// commits (/update) so the epoch moves; bob is killed (KILL=1) or kept alive (KILL=0) with his
// connection cut by the proxy. Is X shown exactly once, and does bob chat on?
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { GateProxy } = require('../out/test/helpers/gateProxy.js');
const CLI = '/work/wt/k-attack/dist/cli.js';
const dir = mkdtempSync(join(tmpdir(), 'k-ack-'));
const relay = spawn(process.execPath, [CLI, 'relay', '--host', '127.0.0.1', '--port', '0', '--log-format', 'json', '--data', join(dir, 'relay')]);
const port = await new Promise((res) => createInterface({ input: relay.stdout }).on('line', (l) => { const j = JSON.parse(l); if (j.port) res(j.port); }));
const proxy = await GateProxy.start(port);
const chat = (who, args) => {
  const c = spawn(process.execPath, [CLI, 'chat', '--json', ...args], { env: { ...process.env, SMC_HOME: join(dir, who) } });
  c.lines = []; c.err = [];
  createInterface({ input: c.stdout }).on('line', (l) => c.lines.push(JSON.parse(l)));
  createInterface({ input: c.stderr }).on('line', (l) => c.err.push(l));
  c.say = (t) => c.stdin.write(t + '\n');
  c.texts = () => c.lines.filter((l) => l.text !== undefined).map((l) => l.text);
  return c;
};
const wait = async (f, what, ms = 30000) => { const end = Date.now() + ms; while (!f()) { if (Date.now() > end) throw new Error('timeout ' + what); await new Promise((r) => setTimeout(r, 20)); } };
spawnSync(process.execPath, [CLI, 'room', 'new', '--private', '--name', 'team', '--relay', `127.0.0.1:${port}`], { env: { ...process.env, SMC_HOME: join(dir, 'alice') } });
const alice = chat('alice', ['--name', 'alice', 'team']);
alice.say('/invite');
await wait(() => alice.lines.some((l) => l.event === 'invite'), 'invite');
const link = alice.lines.find((l) => l.event === 'invite').invite.replace(`:${port}/`, `:${proxy.port}/`);
let bob = chat('bob', ['--name', 'bob', '--timeout', '60', link]);
await wait(() => alice.lines.some((l) => l.event === 'member_added'), 'added');
alice.say('hi'); await wait(() => bob.texts().includes('hi'), 'bob reads');
proxy.dropToClient = (f) => f.t === 'ack';
bob.say('X with lost ack');
await wait(() => alice.texts().includes('X with lost ack'), 'alice has X');
alice.say('/update');
await wait(() => alice.lines.some((l) => l.event === undefined) && proxy.fromRelay.some((f) => f.t === 'rekey'), 'rekey seen by bob side');
alice.say('after update');
proxy.dropToClient = () => false;
try {
  if (process.env.KILL === '1') {
    bob.kill('SIGKILL'); await new Promise((r) => bob.on('exit', r));
    bob = chat('bob', ['--name', 'bob', 'team']);
  }
  await wait(() => bob.texts().includes('after update'), 'bob reads after update');
  bob.say('bob goes on'); await wait(() => alice.texts().includes('bob goes on'), 'alice reads bob goes on');
  console.log('OK');
} catch (e) { console.log('FAIL', e.message); }
console.log('alice texts', alice.texts());
console.log('bob texts', bob.texts(), bob.err.slice(-3));
for (const c of [alice, bob]) c.kill('SIGKILL'); relay.kill('SIGKILL'); await proxy.close();
