// The relay's structured log: one line per event, as text (`key=value`) or JSON
// (--log-format json). Callers pass only metadata; no body or tag is ever a field (docs/protocol.md
// §2.8). Values are escaped so that nothing a client sends can forge a log line.

export type LogFormat = 'text' | 'json';
export type LogLevel = 'info' | 'warn' | 'error';
export type LogFields = Record<string, string | number | boolean | undefined>;

export interface RelayLogger {
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  /** Writes anything held back (FoldingLogger's summaries); the relay calls it as it stops. */
  flush?(): void;
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

/** Bare words stay bare; anything with spaces, quotes, `=` or control chars is JSON-quoted. */
function textValue(v: string | number | boolean): string {
  if (typeof v !== 'string') return String(v);
  return /^[A-Za-z0-9_.:/@+\-[\]]+$/.test(v) ? v : JSON.stringify(v);
}

/**
 * docs/relay.md "The log": a log that a crowd of short connections cannot flood. Events that carry an
 * `addr` (conn_open, conn_close, limit, protocol_error, join_refused, ...) are counted per
 * remote address in windows of `windowMs`: the first `perWindow` of a window are written as
 * they are, one line each; the rest are counted, and when the window ends one line
 * `log_folded` says how many were left out, per event, for that address. Events without an
 * address (start, store.*, shutdown) are always written. `perWindow` 0 writes everything.
 */
export interface FoldOptions {
  perWindow: number;
  windowMs: number;
  /** Clock, for tests. */
  now?: () => number;
}

/** Addresses tracked at once; beyond it, new addresses share one entry ("*"). */
const MAX_FOLD_ADDRESSES = 10_000;

interface FoldEntry {
  start: number;
  written: number;
  folded: number;
  byEvent: Map<string, number>;
}

export class FoldingLogger implements RelayLogger {
  private readonly entries = new Map<string, FoldEntry>();
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(
    private readonly inner: RelayLogger,
    private readonly options: FoldOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  // Bound, so that callers may pass `log.warn` around as a function (as the CLI does).
  readonly info = (event: string, fields?: LogFields): void => {
    if (this.admit(event, fields)) this.inner.info(event, fields);
  };

  readonly warn = (event: string, fields?: LogFields): void => {
    if (this.admit(event, fields)) this.inner.warn(event, fields);
  };

  readonly error = (event: string, fields?: LogFields): void => {
    if (this.admit(event, fields)) this.inner.error(event, fields);
  };

  /** Writes the summary of every window with folded events, ended or not (at shutdown). */
  flush(): void {
    for (const [key, entry] of this.entries) this.summarize(key, entry);
    this.entries.clear();
    this.stopTimer();
  }

  private admit(event: string, fields: LogFields | undefined): boolean {
    const addr = fields?.addr;
    if (this.options.perWindow === 0 || typeof addr !== 'string') return true;
    const now = this.now();
    let key = hostOf(addr);
    let entry = this.entries.get(key);
    if (entry && now - entry.start >= this.options.windowMs) {
      this.summarize(key, entry);
      this.entries.delete(key);
      entry = undefined;
    }
    if (!entry) {
      if (this.entries.size >= MAX_FOLD_ADDRESSES) {
        key = '*';
        entry = this.entries.get(key);
      }
      if (!entry) {
        entry = { start: now, written: 0, folded: 0, byEvent: new Map() };
        this.entries.set(key, entry);
        this.startTimer();
      }
    }
    if (entry.written < this.options.perWindow) {
      entry.written++;
      return true;
    }
    entry.folded++;
    entry.byEvent.set(event, (entry.byEvent.get(event) ?? 0) + 1);
    return false;
  }

  private summarize(key: string, entry: FoldEntry): void {
    if (entry.folded === 0) return;
    const fields: LogFields = { addr: key, folded: entry.folded, windowMs: this.options.windowMs };
    for (const [event, count] of entry.byEvent) fields[`n_${event}`] = count;
    this.inner.warn('log_folded', fields);
  }

  /** Ends windows that are over, so that their summary is written even if the address went quiet. */
  private sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (now - entry.start >= this.options.windowMs) {
        this.summarize(key, entry);
        this.entries.delete(key);
      }
    }
    if (this.entries.size === 0) this.stopTimer();
  }

  private startTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sweep(), Math.max(10, Math.floor(this.options.windowMs / 4)));
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * The host part of "1.2.3.4:5" or "[::1]:5", as formatAddress writes them for the log. Lenient on
 * purpose ("unknown:0" gives "unknown"): it reads the relay's own fields, never user input, so it
 * does not need parseHostPort's checks.
 */
export function hostOf(addr: string): string {
  if (addr.startsWith('[')) {
    const end = addr.indexOf(']');
    return end === -1 ? addr : addr.slice(1, end);
  }
  const colon = addr.lastIndexOf(':');
  return colon === -1 ? addr : addr.slice(0, colon);
}
