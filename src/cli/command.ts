// The shape of an `smc` subcommand (see main.ts), and what their printed hints share.
import { basename, relative } from 'node:path';

export interface Command {
  /** One line for `smc --help`. */
  summary: string;
  /** Runs with the arguments after the subcommand's name; resolves to the exit code. */
  run(args: string[]): Promise<number>;
}

/** Exit codes that scripts can rely on (documented in each subcommand's --help). */
export const EXIT = {
  ok: 0,
  other: 1,
  usage: 2,
  cannotListen: 3,
  dataDir: 4,
} as const;

/** How the user can run `smc` again: the installed command, or this very script from a checkout. */
export function smcCommand(): string {
  const script = process.argv[1] ?? '';
  if (basename(script) === 'smc') return 'smc';
  const rel = relative(process.cwd(), script);
  return `node ${shellQuote(rel.startsWith('..') || rel === '' ? script : rel)}`;
}

/** Quotes a word for a POSIX shell, so that the printed commands can be pasted as they are. */
export function shellQuote(s: string): string {
  return /^[\w.,:/@%+=-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}
