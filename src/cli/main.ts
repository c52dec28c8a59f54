// The `smc` command: one program, subcommands dispatched from the table below. A subcommand is
// a module exporting a Command; adding one is an import and a table entry.
import { SMC_VERSION } from '../node/version';
import { smcCommand, smcNote, type Command } from './command';
import { relayCommand } from './relay';
import { roomCommand } from './room';
import { chatCommand } from './chat';
import { terminalSafe } from './terminalText';

const COMMANDS: Record<string, Command> = {
  relay: relayCommand,
  room: roomCommand,
  chat: chatCommand,
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, cmd]) => `  ${name.padEnd(width)}  ${cmd.summary}`);
  return [
    'smc — Secure Message Communication: end-to-end encrypted chat through a relay that cannot read it.',
    '',
    'Usage: smc <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Options:',
    '  -h, --help     show this help (or `smc <command> --help`)',
    '  -v, --version  print the version',
    '',
  ].join('\n') + smcNote();
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '-v' || name === '--version') {
    process.stdout.write(`smc ${SMC_VERSION}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`smc: unknown command "${terminalSafe(name)}". Run "${smcCommand()} --help" for the list.\n`);
    return 2;
  }
  return command.run(rest);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    // Exit explicitly: a stopped relay may leave handles (timers of a closed store) behind.
    // Standard output and error are synchronous on Linux for files and pipes, so no log is lost.
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`smc: ${terminalSafe(err instanceof Error ? err.message : String(err))}\n`);
      process.exit(1);
    },
  );
}
