// `npm run bench`: runs the benchmark scenarios of issue 2 §4, issue 3 and issue 4 against the
// real programs, each beside a baseline measured in the same run, and writes the results into
// docs/benchmarks.md (the hand-written header above the results is kept).
//
//   node out/bench/run.js                 every scenario; rewrites the results in the doc
//   node out/bench/run.js --only fanout   one scenario (repeatable); updates its section only
//   node out/bench/run.js --quick         a fast smoke run: short phases, small data; prints
//                                         to stdout and out/bench/quick.md, never the doc
//   node out/bench/run.js --list          the scenario names
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describeMachine } from './lib/machine';
import { loadAverage } from './lib/proc';
import { mergeSections, renderRunHeader, renderScenario, type Scenario, type ScenarioResult } from './lib/report';
import { REPO } from './lib/servers';
import { SCENARIOS } from './scenarios';

const DOC = path.join(REPO, 'docs', 'benchmarks.md');

const DOC_HEADER = `# Benchmarks

\`npm run bench\` builds the programs and runs every scenario below against the real ones: the
relay is \`node dist/cli.js relay --rate 0\` in its own process with a fresh data directory, loaded
over loopback TCP by the benchmark process, and measured from outside (CPU time and resident
memory from \`/proc/<pid>\`). It takes about 6 minutes on a 2-core machine.

- \`npm run bench -- --only NAME\` runs one scenario (repeat \`--only\` for several) and updates
  only its section here; \`npm run bench -- --list\` names them.
- \`npm run bench -- --quick\` is a smoke run with short phases and small data (2 000 instead of
  10 000 messages, 100 000 instead of 1 000 000); it prints its results and writes
  \`out/bench/quick.md\`, never this file.

Every relay figure stands beside a **baseline measured in the same run under the same load
generator**: a bare Node fan-out server (\`bench/baselineServer.ts\`, its own process) that splits
lines, parses them, acks at once and writes each message to the other sockets of its room — no
storage, no validation, no limits, no presence. The distance between the two columns is what
durability and the protocol's checks cost. Client and extension figures have their own
baselines, named in each section.

| scenario (\`--only\`) | what it measures | baseline |
|---|---|---|
| \`fanout\` | 1 publisher → 50 subscribers in one room, 200-char bodies, as fast as the server takes them: deliveries/s and server CPU µs per delivery | bare fan-out server |
| \`durable-acks\` | one publisher with 64 sends in flight: acked msg/s, ack latency; then paced at 500 msg/s: ack latency | bare server (acks without disk); raw write + fdatasync of this disk |
| \`many-rooms\` | 100 rooms × 5 members, 2 000 msg/s in total: latency of every delivery | bare fan-out server |
| \`idle-memory\` | RSS per connection with 1 000 connections (after hello; after hello + join) | bare server |
| \`restart\` | spawn to \`listening\` and RSS with 1 000 000 stored messages in 100 rooms | bare Node server start; reading the data directory once |
| \`open-verify\` | RoomCipher.open (all of §2.4) on real envelopes, per second | raw node:crypto calls; Ed25519 alone |
| \`client-join\` | a RelayClient joining a room with 10 000 stored messages, until all are verified | bare line client fetching the same frames |
| \`chat-json\` | \`smc chat --json\` start to the last of 10 000 stored messages printed | Node start + bare catch-up printing raw lines |
| \`bundle-size\` | production dist/extension.js (without the webview) | empty extension, same build |
| \`extension-host\` | in code-server + Chromium: activation time as VS Code records it; panel open to first paint on 10 000 messages | built-in extensions' activation; panel on a 10-message room |
| \`pg-store\` | the PostgreSQL store alone (no relay): acked appends/s at 64 in flight for 1 and 3 instances, one room and a room each; ack latency at 500 msg/s | bare \`pg\` clients inserting 64 rows per transaction |
| \`relay-cluster\` | relay processes: 1 on the embedded store, 1 on PostgreSQL, 3 on one PostgreSQL: acked msg/s at 64 in flight, ack p50/p99 at 500 msg/s, fan-out 1 → 50 spread over the relays (deliveries/s, relay and PostgreSQL CPU per delivery) | bare \`pg\` clients inserting 64 rows per transaction, same run |
| \`private-rooms\` | private rooms (MLS) at 10, 50, 200 members: CPU and size of a remove, an add and its Welcome, an own update; messages opened/s; a joiner's join request to its first message shown through the relay, the admin online | node:crypto floor of each operation; a link room's join to first message |
| \`private-send-rate\` | one private-room member with the real stores of \`smc chat\` (MLS state in secrets.json, history log): messages sent at once, acked/s | a link room's RelayClient, same relay |
| \`private-commit\` | a private room's commit → ack (§3.6) on the embedded store, on PostgreSQL, on two relays of one PostgreSQL (and → \`rekey\` on the other relay) | a plain message of the same room → ack |
| \`panel-features\` | search over 10 000 messages; an 8 MiB file through the relay (and at its default limits: rate_limited refusals, peak memory); the panel on 10 000 messages with reactions and edits: open, scroll | bare substring scan; the same bytes as text messages; a room of plain messages |
| \`private-file\` | an 8 MiB file in a private room (one MLS seal per chunk, paced at 80 chunks/s after 100) through one relay at its default limits: MiB/s to the receiver's verified bytes, rate_limited refusals | the same file in a link room, same relay, same run |

Latencies are exact percentiles over every sample (nearest rank), taken with
\`process.hrtime.bigint()\` after a warm-up; \`n\` is given for each. Everything above this line is
hand-written and kept by the runs; everything below is generated.

## Results

<!-- results: generated by \`npm run bench\` -->
`;

interface Args {
  only: string[];
  quick: boolean;
  list: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { only: [], quick: false, list: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') args.quick = true;
    else if (a === '--list') args.list = true;
    else if (a === '--only') args.only.push(argv[++i] ?? '');
    else if (a?.startsWith('--only=')) args.only.push(a.slice('--only='.length));
    else throw new Error(`unknown argument ${a}; use --only NAME, --quick or --list`);
  }
  return args;
}

function log(message: string): void {
  const t = new Date().toISOString().slice(11, 19);
  process.stdout.write(`[bench ${t}] ${message}\n`);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.list) {
    for (const s of SCENARIOS) process.stdout.write(`${s.id.padEnd(16)} ${s.title}\n`);
    return;
  }
  const unknown = args.only.filter((id) => !SCENARIOS.some((s) => s.id === id));
  if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')}; --list names them`);
  const chosen: Scenario[] = args.only.length ? SCENARIOS.filter((s) => args.only.includes(s.id)) : SCENARIOS;

  const startedAt = new Date().toISOString();
  const loadBefore = loadAverage();
  const t0 = performance.now();
  const results: ScenarioResult[] = [];
  const shared = new Map<string, number>();
  for (const s of chosen) {
    log(`${s.id}: start`);
    let r: ScenarioResult;
    try {
      r = await s.run({ quick: args.quick, log, shared });
    } catch (e) {
      // A scenario that breaks is reported as such, with its reason; the others still run.
      const reason = e instanceof Error ? e.message.split('\n')[0] ?? String(e) : String(e);
      r = { id: s.id, title: s.title, status: 'failed', metrics: [], notes: [`The scenario failed: ${reason}`], limits: [], measuredAt: new Date().toISOString() };
      log(`${s.id}: FAILED: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    }
    results.push(r);
    log(`${s.id}: ${r.status}`);
    process.stdout.write(renderScenario(r).replace(/<!--.*-->\n?/g, '') + '\n\n');
  }
  const durationS = (performance.now() - t0) / 1000;
  const loadAfter = loadAverage();
  const cores = describeMachine().cores;
  const busy = Math.max(loadBefore[0] ?? 0, loadAfter[0] ?? 0) > cores * 0.75;
  const sharedNote =
    `The machine is shared with other engineers, whose builds and tests may run at any time (load average ${loadBefore[0]?.toFixed(2)} ` +
    `before the run, ${loadAfter[0]?.toFixed(2)} after, on ${cores} cores${busy ? ': busy' : ': fairly quiet'}), so CPU-bound and latency ` +
    'figures carry that noise; the two columns of a row were measured seconds to minutes apart under the same conditions.';
  const header = renderRunHeader({
    machine: describeMachine(),
    startedAt,
    durationS,
    loadBefore,
    sharedNote,
    args: `npm run bench${args.only.length ? ' -- ' + args.only.map((o) => `--only ${o}`).join(' ') : ''}${args.quick ? ' --quick' : ''}`,
  });
  const sections = results.map((r) => ({ id: r.id, text: renderScenario(r) }));

  if (args.quick) {
    mkdirSync(path.join(REPO, 'out', 'bench'), { recursive: true });
    const file = path.join(REPO, 'out', 'bench', 'quick.md');
    writeFileSync(file, mergeSections(DOC_HEADER, header, sections));
    log(`quick run: results in ${path.relative(REPO, file)} (docs/benchmarks.md untouched)`);
    return;
  }
  // A full run rewrites the results; --only keeps the other scenarios' sections as they were.
  const existing = existsSync(DOC) ? readFileSync(DOC, 'utf8') : DOC_HEADER;
  const marker = '<!-- results: generated by `npm run bench` -->';
  const handWritten = existing.includes(marker) ? existing.slice(0, existing.indexOf(marker) + marker.length) + '\n' : DOC_HEADER;
  const base = args.only.length ? existing : handWritten;
  const ordered = args.only.length ? sections : SCENARIOS.map((s) => sections.find((x) => x.id === s.id)).filter((x) => x !== undefined);
  writeFileSync(DOC, mergeSections(base, args.only.length ? undefined : header, ordered));
  log(`results written to docs/benchmarks.md in ${durationS.toFixed(0)} s`);
}

// An interrupted run exits through process.exit, so that the exit hooks of lib/servers.ts stop
// every relay it started and remove their temp directories.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
