// The shape of an `smc` subcommand (see main.ts).
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
