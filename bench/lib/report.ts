// Result shapes shared by the scenarios, and the Markdown they become in docs/benchmarks.md.
import type { MachineInfo } from './machine';

export interface Metric {
  name: string;
  /** What SMC reached, formatted with its unit. */
  value: string;
  /** The same figure for the same-run baseline, or '—' where none applies. */
  baseline: string;
  /** The target from the issue, or '—'. */
  target: string;
  /** Whether the target is met; undefined when there is no target. */
  met?: boolean;
}

export interface ScenarioResult {
  id: string;
  title: string;
  /** 'not measured' when a dependency is missing: the reason goes in `notes`, nothing is faked. */
  status: 'measured' | 'not measured' | 'failed';
  metrics: Metric[];
  /** Method notes: what was loaded, n, what the baseline is. */
  notes: string[];
  /** "What limits us", written where a target is missed. */
  limits: string[];
  /** When this scenario's figures were measured (ISO time). */
  measuredAt: string;
}

export interface RunContext {
  quick: boolean;
  log(message: string): void;
  /**
   * Figures one scenario leaves for a later one of the same run to explain itself with (e.g.
   * the open/verify rate, used by the `smc chat` note). Absent when that scenario did not run.
   */
  shared: Map<string, number>;
}

export interface Scenario {
  id: string;
  title: string;
  run(ctx: RunContext): Promise<ScenarioResult>;
}

export function result(id: string, title: string): ScenarioResult {
  return { id, title, status: 'measured', metrics: [], notes: [], limits: [], measuredAt: new Date().toISOString() };
}

export const fmt = {
  int: (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a'),
  ms: (n: number): string => (Number.isFinite(n) ? `${n < 10 ? n.toFixed(2) : n.toFixed(1)} ms` : 'n/a'),
  us: (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)} µs` : 'n/a'),
  kib: (bytes: number): string => (Number.isFinite(bytes) ? `${(bytes / 1024).toFixed(1)} KiB` : 'n/a'),
  mib: (bytes: number): string => (Number.isFinite(bytes) ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : 'n/a'),
  kb: (bytes: number): string => (Number.isFinite(bytes) ? `${(bytes / 1000).toFixed(1)} KB` : 'n/a'),
  s: (ns: number): string => (Number.isFinite(ns) ? `${(ns / 1e9).toFixed(2)} s` : 'n/a'),
  ratio: (a: number, b: number): string => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : 'n/a'),
};

const SECTION_START = (id: string): string => `<!-- scenario:${id} -->`;
const SECTION_END = (id: string): string => `<!-- /scenario:${id} -->`;

export function renderScenario(r: ScenarioResult): string {
  const out: string[] = [SECTION_START(r.id), `### ${r.title}`, ''];
  out.push(`_Measured ${r.measuredAt.replace('T', ' ').slice(0, 16)} UTC${r.status === 'measured' ? '' : ` — **${r.status}**`}._`, '');
  if (r.metrics.length) {
    out.push('| metric | SMC | baseline (same run) | target | met |', '|---|---|---|---|---|');
    for (const m of r.metrics) {
      const met = m.met === undefined ? '—' : m.met ? 'yes' : '**no**';
      out.push(`| ${m.name} | ${m.value} | ${m.baseline} | ${m.target} | ${met} |`);
    }
    out.push('');
  }
  for (const n of r.notes) out.push(`- ${n}`);
  if (r.notes.length) out.push('');
  if (r.limits.length) {
    out.push('**What limits us:**', '');
    for (const l of r.limits) out.push(`- ${l}`);
    out.push('');
  }
  out.push(SECTION_END(r.id));
  return out.join('\n');
}

export interface RunInfo {
  machine: MachineInfo;
  startedAt: string;
  durationS: number;
  loadBefore: number[];
  sharedNote: string;
  args: string;
}

export function renderRunHeader(info: RunInfo): string {
  const m = info.machine;
  return [
    '<!-- run-header -->',
    `Run: \`${info.args}\`, started ${info.startedAt.replace('T', ' ').slice(0, 16)} UTC, took ${info.durationS.toFixed(0)} s.`,
    '',
    `| machine | |`,
    `|---|---|`,
    `| CPU | ${m.cpuModel} |`,
    `| cores | ${m.cores} |`,
    `| memory | ${m.memoryGiB.toFixed(1)} GiB |`,
    `| Node | ${m.node} |`,
    `| OS | ${m.os} |`,
    `| load average before the run (1/5/15 min) | ${info.loadBefore.map((x) => x.toFixed(2)).join(' / ')} |`,
    '',
    info.sharedNote,
    '<!-- /run-header -->',
  ].join('\n');
}

/**
 * Puts sections into the results part of the document: a section already present is replaced
 * in place (so `--only NAME` updates one scenario and keeps the others), a new one is appended.
 */
export function mergeSections(doc: string, header: string | undefined, sections: { id: string; text: string }[]): string {
  let out = doc;
  if (header !== undefined) {
    const re = /<!-- run-header -->[\s\S]*?<!-- \/run-header -->/;
    out = re.test(out) ? out.replace(re, () => header) : `${out.trimEnd()}\n\n${header}\n`;
  }
  for (const s of sections) {
    const start = out.indexOf(SECTION_START(s.id));
    const endMarker = SECTION_END(s.id);
    const end = out.indexOf(endMarker);
    if (start !== -1 && end !== -1) out = out.slice(0, start) + s.text + out.slice(end + endMarker.length);
    else out = `${out.trimEnd()}\n\n${s.text}\n`;
  }
  return out.endsWith('\n') ? out : out + '\n';
}
