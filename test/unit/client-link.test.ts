// The link (src/core/client/link.ts) alone, over scripted transports: hello and welcome
// (§1.3), its one phase, request ids and what is open when a connection drops, keepalive,
// reconnect with backoff, bye (§1.7), an old relay (§1.9), and a relay that sends what is
// not docs/protocol.md (malformed lines, frames before welcome, a reconnect at the worst moment).
import { strict as assert } from 'node:assert';
import { RelayLink, type LinkHooks, type RoutedFrame } from '../../src/core/client/link';
import { DEFAULT_TUNING } from '../../src/core/client/relayClient';
import type { OpenRequest } from '../../src/core/client/roomState';
import type { ClientError, ClientTuning, ConnectionState } from '../../src/core/client/types';
import type { RelayFrameFailure } from '../../src/core/wire/relayFrames';
import { ScriptedNetwork, welcomeFrame } from '../helpers/scriptedTransport';
import { until } from '../helpers/until';

interface Recorded {
  states: string[];
  errors: ClientError[];
  frames: RoutedFrame[];
  ignored: RelayFrameFailure[];
  lost: OpenRequest[][];
  welcomed: number;
  closed: number;
  log: string[];
}

function setup(tuning: Partial<ClientTuning> = {}): { link: RelayLink; net: ScriptedNetwork; rec: Recorded } {
  const net = new ScriptedNetwork();
  const rec: Recorded = { states: [], errors: [], frames: [], ignored: [], lost: [], welcomed: 0, closed: 0, log: [] };
  const hooks: LinkHooks = {
    log: (e) => rec.log.push(e),
    state: (s: ConnectionState, d?: string) => rec.states.push(d === undefined ? s : `${s}: ${d}`),
    error: (e) => rec.errors.push(e),
    welcomed: () => rec.welcomed++,
    frame: (f) => rec.frames.push(f),
    ignored: (f) => rec.ignored.push(f),
    lost: (r) => rec.lost.push(r),
    closed: () => rec.closed++,
  };
  const link = new RelayLink({
    host: '127.0.0.1', port: 7, agent: 'smc-test/0', transport: net.factory,
    tuning: { ...DEFAULT_TUNING, reconnectBaseMs: 5, reconnectMaxMs: 20, ...tuning },
  }, hooks);
  return { link, net, rec };
}

/** Connects and gets welcomed on the first transport. */
function welcomed(tuning: Partial<ClientTuning> = {}): ReturnType<typeof setup> {
  const s = setup(tuning);
  s.link.connect();
  s.net.last.open();
  s.net.last.frame(welcomeFrame());
  return s;
}

describe('client link (scripted transport)', () => {
  it('says hello on open, is welcomed, and goes from idle to opening to open', () => {
    const { link, net, rec } = setup();
    assert.equal(link.phase, 'idle');
    link.connect();
    assert.equal(link.phase, 'opening');
    net.last.open();
    assert.deepEqual(net.last.sent, [{ t: 'hello', v: 2, agent: 'smc-test/0' }]);
    assert.equal(link.connected, false);
    net.last.frame(welcomeFrame(4_096));
    assert.equal(link.phase, 'open');
    assert.equal(link.connected, true);
    assert.equal(link.writable, true);
    assert.equal(link.maxFrame, 4_096);
    assert.equal(link.challenge, 'A'.repeat(43));
    assert.equal(rec.welcomed, 1);
    assert.deepEqual(rec.states, ['connecting', 'connected']);
  });

  it('gives each request its own rid and forgets it once answered', () => {
    const { link, net } = welcomed();
    const a = link.request({ t: 'ping' }, { kind: 'ping' });
    const b = link.request({ t: 'leave', room: 'r' }, { kind: 'leave', resolve: () => undefined });
    assert.notEqual(a, b);
    assert.deepEqual(net.last.of('ping'), [{ t: 'ping', rid: a }]);
    assert.equal(link.peek(a)?.kind, 'ping');
    assert.equal(link.take(a)?.kind, 'ping');
    assert.equal(link.peek(a), undefined);
    assert.deepEqual([...link.openRequests()].map((r) => r.kind), ['leave']);
  });

  it('hands frames after the welcome to its owner, keeps pong and bye, logs unknown types', () => {
    const { link, net, rec } = welcomed();
    let left = 0;
    const rid = link.request({ t: 'leave', room: 'r' }, { kind: 'leave', resolve: () => left++ });
    net.last.frame({ t: 'joined', rid: 9, room: 'r', head: 0, sid: 's' });
    net.last.frame({ t: 'pong', rid });
    net.last.frame({ t: 'surprise' });
    assert.deepEqual(rec.frames.map((f) => f.t), ['joined']);
    assert.equal(left, 1, 'a pong settles whatever waited for its rid');
    assert.ok(rec.log.includes('unknown_frame'));
    net.last.frame({ t: 'bye', reason: 'shutdown' });
    assert.equal(link.phase, 'bye');
    assert.equal(link.writable, false, 'nothing new is sent after bye (§1.7)');
    assert.equal(link.connected, true, 'acks after bye are still handled');
  });

  for (const [what, line] of [
    ['a line that is not JSON', '{"t":"msg"'],
    ['a frame without a type', '{"room":"r"}'],
    ['an array', '[1,2]'],
    ['a number', '42'],
    ['a type that is not a string', '{"t":7}'],
  ] as const) {
    it(`drops the connection on ${what}, and reconnects`, async () => {
      const { link, net, rec } = welcomed();
      const rid = link.request({ t: 'ping' }, { kind: 'ping' });
      net.last.line(line);
      assert.deepEqual(rec.errors.map((e) => e.code), ['protocol_error', 'connection_failed'], 'said once as what it is, then as an outage');
      assert.equal(net.transports[0]!.closed, true);
      assert.deepEqual(rec.lost.at(-1)?.map((r) => r.kind), ['ping'], `rid ${rid} was open on the dropped connection`);
      assert.equal(link.peek(rid), undefined);
      assert.equal(link.phase, 'waiting');
      await until('a reconnect', () => (net.transports.length === 2 ? true : undefined));
      assert.equal(link.phase, 'opening');
      await link.disconnect();
    });
  }

  it('a malformed msg or ack after the welcome is a protocol error; a malformed joined or page is ignored (its rid reported)', () => {
    for (const [f, fatal] of [
      [{ t: 'msg', room: 'r', id: 'x', body: 'b', seq: -1 }, true],
      [{ t: 'msg', room: 'r', id: 7, body: 'b', seq: 1 }, true],
      [{ t: 'ack', rid: 1, room: 'r', id: 'x', seq: 'one' }, true],
      [{ t: 'joined', rid: 3, room: 'r', head: 1.5 }, false],
      [{ t: 'page', room: 'r', from: 1, more: true }, false],
      [{ t: 'presence', room: 'r', members: 'all' }, false],
    ] as const) {
      const { link, net, rec } = welcomed();
      net.last.frame(f);
      assert.equal(rec.frames.length, 0, JSON.stringify(f));
      if (fatal) {
        assert.equal(rec.errors[0]?.code, 'protocol_error', JSON.stringify(f));
        assert.ok(net.last.closed);
      } else {
        assert.equal(rec.errors.length, 0, JSON.stringify(f));
        assert.equal(rec.ignored[0]?.t, f.t);
        if (f.t === 'joined') assert.equal(rec.ignored[0]?.rid, 3);
      }
      void link.disconnect();
    }
  });

  it('a welcome with a malformed challenge is an old relay, not a reconnect loop', () => {
    const { link, net, rec } = setup();
    link.connect();
    net.last.open();
    net.last.frame({ ...welcomeFrame(), challenge: 'A'.repeat(42) });
    assert.equal(rec.errors[0]?.code, 'relay_too_old');
    assert.equal(link.phase, 'idle');
  });

  it('refuses frames before the welcome (except error and bye)', () => {
    const { link, net, rec } = setup();
    link.connect();
    net.last.open();
    net.last.frame({ t: 'bye', reason: 'x' });
    net.last.frame({ t: 'error', code: 'server_busy', message: 'busy' });
    assert.deepEqual(rec.frames.map((f) => f.t), ['error']);
    assert.equal(rec.errors.length, 0);
    net.last.frame({ t: 'msg', room: 'r', seq: 1, id: 'x', body: 'y' });
    assert.equal(rec.errors[0]?.code, 'protocol_error');
    assert.ok(net.transports[0]!.closed);
    void link.disconnect();
  });

  it('ignores what an old transport says once a new one exists (a reconnect at the worst moment)', async () => {
    const { link, net, rec } = welcomed();
    const old = net.last;
    old.end(new Error('reset'));
    await until('a reconnect', () => (net.transports.length === 2 ? true : undefined));
    old.frame({ t: 'joined', rid: 1, room: 'r', head: 0, sid: 's' });
    old.frame(welcomeFrame());
    old.end();
    assert.equal(rec.frames.length, 0);
    assert.equal(rec.welcomed, 1);
    assert.equal(link.phase, 'opening');
    assert.equal(rec.errors.filter((e) => e.code === 'connection_failed').length, 1, 'one outage, said once');
    assert.match(rec.errors[0]!.message, /Lost the connection to the relay at 127\.0\.0\.1:7 \(reset\); reconnecting\./);
    await link.disconnect();
    assert.equal(link.phase, 'idle');
  });

  it('says the relay is shutting down when it closes after bye', async () => {
    const { link, net, rec } = welcomed();
    net.last.frame({ t: 'bye', reason: 'shutdown' });
    net.last.end();
    assert.match(rec.states.at(-1)!, /^connecting: the relay is shutting down; retrying in/);
    await link.disconnect();
  });

  it('stops for a relay without a challenge (protocol v1): idle, offline, no reconnect', async () => {
    const { link, net, rec } = setup();
    link.connect();
    net.last.open();
    net.last.frame({ t: 'welcome', v: 1, agent: 'old', maxFrame: 65_536, time: 0 });
    assert.equal(rec.errors.at(-1)?.code, 'relay_too_old');
    assert.equal(link.phase, 'idle');
    assert.equal(rec.states.at(-1), 'offline: the relay is too old (protocol v1)');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(net.transports.length, 1);
  });

  it('pings after silence and drops a connection that does not answer, then reconnects', async () => {
    const { link, net, rec } = welcomed({ pingAfterMs: 40, deadAfterMs: 80 });
    const first = net.last;
    await until('a ping', () => (first.of('ping').length > 0 ? true : undefined));
    await until('the drop', () => (first.closed ? true : undefined));
    assert.ok(rec.log.includes('dead_connection'));
    await until('a reconnect', () => (net.transports.length >= 2 ? true : undefined));
    await link.disconnect();
  });

  it('gives up on a connection never welcomed after deadAfterMs', async () => {
    const { link, net, rec } = setup({ deadAfterMs: 60 });
    link.connect();
    net.last.open();
    await until('the drop', () => (net.transports[0]!.closed ? true : undefined));
    assert.ok(rec.log.includes('connect_timeout'));
    assert.match(rec.errors[0]!.message, /Cannot reach the relay at 127\.0\.0\.1:7 \(no answer from the relay\); retrying\./);
    await link.disconnect();
  });

  it('disconnect runs its hook before closing, reports offline, and does not reconnect', async () => {
    const { link, net, rec } = welcomed();
    const order: string[] = [];
    const t = net.last;
    const closing = link.disconnect(() => order.push(`before, closed=${t.closed}`));
    order.push(`after, closed=${t.closed}`);
    await closing;
    assert.deepEqual(order, ['before, closed=false', 'after, closed=true']);
    assert.equal(rec.states.at(-1), 'offline');
    assert.equal(link.phase, 'idle');
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(net.transports.length, 1);
  });

  it('names an IPv6 relay as [host]:port in its sentences', async () => {
    const net = new ScriptedNetwork();
    const errors: ClientError[] = [];
    const link = new RelayLink({ host: '::1', port: 7, agent: 'a', transport: net.factory, tuning: DEFAULT_TUNING }, {
      log: () => undefined, state: () => undefined, error: (e) => errors.push(e), welcomed: () => undefined, frame: () => undefined,
      ignored: () => undefined, lost: () => undefined, closed: () => undefined,
    });
    link.connect();
    net.last.end(new Error('refused'));
    assert.match(errors[0]!.message, /at \[::1\]:7 \(refused\)/);
    await link.disconnect();
  });

  it('a factory that throws is an outage like any other, retried', async () => {
    let calls = 0;
    const net = new ScriptedNetwork();
    const errors: ClientError[] = [];
    const link = new RelayLink({
      host: 'h', port: 1, agent: 'a', tuning: { ...DEFAULT_TUNING, reconnectBaseMs: 5, reconnectMaxMs: 10 },
      transport: (h, p) => {
        if (calls++ === 0) throw new Error('no route');
        return net.factory(h, p);
      },
    }, { log: () => undefined, state: () => undefined, error: (e) => errors.push(e), welcomed: () => undefined, frame: () => undefined, ignored: () => undefined, lost: () => undefined, closed: () => undefined });
    link.connect();
    assert.match(errors[0]!.message, /Cannot reach the relay at h:1 \(no route\)/);
    await until('the retry', () => (net.transports.length === 1 ? true : undefined));
    await link.disconnect();
  });
});
