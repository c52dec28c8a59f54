// A transport the test drives, for the client core without a relay process: it records the
// frames the client writes and hands it the lines a relay (honest or not) would send. A
// factory of them stands for the network: every (re)connect takes the next transport.
import type { Transport, TransportEvents, TransportFactory } from '../../src/core/client/types';

export class ScriptedTransport implements Transport {
  readonly sent: Record<string, unknown>[] = [];
  private readonly listeners: { [E in keyof TransportEvents]: ((...args: TransportEvents[E]) => void)[] } = { open: [], line: [], close: [] };
  closed = false;

  write(line: string): void {
    if (!this.closed) this.sent.push(JSON.parse(line) as Record<string, unknown>);
  }

  close(): void {
    this.end();
  }

  on<E extends keyof TransportEvents>(event: E, listener: (...args: TransportEvents[E]) => void): void {
    this.listeners[event].push(listener);
  }

  open(): void {
    for (const l of this.listeners.open) l();
  }

  /** One line from the relay, as it is (not necessarily JSON). */
  line(text: string): void {
    for (const l of this.listeners.line) l(text);
  }

  frame(f: Record<string, unknown>): void {
    this.line(JSON.stringify(f));
  }

  /** The connection ends (from the relay's side, or after close()). */
  end(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.listeners.close) l(error);
  }

  /** The frames written so far of type `t`. */
  of(t: string): Record<string, unknown>[] {
    return this.sent.filter((f) => f.t === t);
  }
}

/** Hands out a new ScriptedTransport per connection attempt and keeps them in order. */
export class ScriptedNetwork {
  readonly transports: ScriptedTransport[] = [];
  readonly factory: TransportFactory = () => {
    const t = new ScriptedTransport();
    this.transports.push(t);
    return t;
  };

  get last(): ScriptedTransport {
    const t = this.transports[this.transports.length - 1];
    if (t === undefined) throw new Error('no connection was made');
    return t;
  }
}

/** A welcome as a v2 relay sends it (§1.3, §1.9). */
export function welcomeFrame(maxFrame = 65_536): Record<string, unknown> {
  return { t: 'welcome', v: 2, agent: 'scripted-relay', maxFrame, time: 0, challenge: 'A'.repeat(43) };
}

