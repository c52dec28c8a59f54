// The relay's structured log: one line per event, as text (`key=value`) or JSON
// (--log-format json). Callers pass only metadata; no body or tag is ever a field (§2.8, issue
// 2 §2). Values are escaped so that nothing a client sends can forge a log line.

export type LogFormat = 'text' | 'json';
export type LogLevel = 'info' | 'warn' | 'error';
export type LogFields = Record<string, string | number | boolean | undefined>;

export interface RelayLogger {
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

export interface LoggerOptions {
  format: LogFormat;
  /** Where lines go (default: standard output). */
  write?: (line: string) => void;
  /** Clock, for tests. */
  now?: () => Date;
}

export function createLogger(options: LoggerOptions): RelayLogger {
  const write = options.write ?? ((line: string) => process.stdout.write(line));
  const now = options.now ?? (() => new Date());
  const emit = (level: LogLevel, event: string, fields: LogFields = {}): void => {
    const ts = now().toISOString();
    if (options.format === 'json') {
      const record: Record<string, unknown> = { ts, level, event };
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) record[k] = v;
      write(JSON.stringify(record) + '\n');
      return;
    }
    let line = `${ts} ${level.padEnd(5)} ${event}`;
    for (const [k, v] of Object.entries(fields)) {
      if (v !== undefined) line += ` ${k}=${textValue(v)}`;
    }
    write(line + '\n');
  };
  return {
    info: (event, fields) => emit('info', event, fields),
    warn: (event, fields) => emit('warn', event, fields),
    error: (event, fields) => emit('error', event, fields),
  };
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: RelayLogger = { info() {}, warn() {}, error() {} };

/** Bare words stay bare; anything with spaces, quotes, `=` or control chars is JSON-quoted. */
function textValue(v: string | number | boolean): string {
  if (typeof v !== 'string') return String(v);
  return /^[A-Za-z0-9_.:/@+\-[\]]+$/.test(v) ? v : JSON.stringify(v);
}
