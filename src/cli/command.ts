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

/**
 * When hints and help texts say `smc` but `smc` is not what the user ran (a checkout, no
 * `npm link`): one line saying what to type instead and how to get `smc`. Empty otherwise.
 */
export function smcNote(): string {
  const smc = smcCommand();
  return smc === 'smc' ? '' : `(Here "smc" is ${smc}; run "npm link" in the checkout to install the smc command.)\n`;
}

/** The option or argument named in a node:util parseArgs error ('--bogus', '-z', 'x'). */
function quotedWord(message: string): string {
  // Greedy: the word itself may contain a quote (--it's).
  const m = /'(.*)'/.exec(message.split(/\n|\. (?:To specify|This command|Did you)/)[0]!);
  return (m?.[1] ?? '').replace(/ <value>$/, '');
}

/**
 * What is wrong, in our words, for a node:util parseArgs error (its own text has an unbalanced
 * quote and advice about '--' that fits no smc command).
 */
export function describeArgumentError(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  const word = quotedWord(message);
  let what: string;
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      what = `unknown option ${word}`;
      break;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      what = / does not take an argument/.test(message) ? `${word.replace(/=.*$/, '')} takes no value`
        : / is ambiguous/.test(message) ? `${word} needs a value (one that starts with a dash goes as ${word}=-VALUE)`
          : `${word} needs a value`;
      break;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      what = `unexpected argument ${shellQuote(word)}`;
      break;
    default:
      what = message.split('. ')[0]!;
  }
  return what;
}

/**
 * A parseArgs error as one line naming the command's --help; `command` is the words after
 * `smc`, e.g. 'chat' or 'room new'.
 */
export function argumentErrorMessage(err: unknown, command: string): string {
  return `${describeArgumentError(err)}; the options are in: ${smcCommand()} ${command} --help`;
}
