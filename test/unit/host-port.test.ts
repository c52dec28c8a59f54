// The one rule for "HOST:PORT" (src/core/hostPort.ts): IPv6 in brackets, the port range, the
// whitespace, and the IP address checks against node:net, whose rule the core copies.
import { strict as assert } from 'node:assert';
// node:net only for its pure isIPv4/isIPv6, the reference the core's copy is compared with; no socket.
// eslint-disable-next-line no-restricted-imports
import * as net from 'node:net';
import fc from 'fast-check';
import { formatHostPort, isHostName, isIPv4, isIPv6, isPort, parseHostPort } from '../../src/core/hostPort';

describe('host:port', () => {
  it('formats IPv6 hosts in brackets, others as they are', () => {
    assert.equal(formatHostPort('127.0.0.1', 7878), '127.0.0.1:7878');
    assert.equal(formatHostPort('relay.example.com', 1), 'relay.example.com:1');
    assert.equal(formatHostPort('::1', 65535), '[::1]:65535');
    assert.equal(formatHostPort('fe80::1%eth0', 7878), '[fe80::1%eth0]:7878');
  });

  it('parses what it formats', () => {
    for (const [host, port] of [['127.0.0.1', 7878], ['::1', 1], ['::ffff:1.2.3.4', 65535], ['fe80::1%eth0', 80], ['localhost', 9000], ['my_host', 2]] as const) {
      assert.deepEqual(parseHostPort(formatHostPort(host, port)), { host, port });
    }
  });

  it('ignores surrounding whitespace, refuses whitespace inside', () => {
    assert.deepEqual(parseHostPort('  127.0.0.1:7878\n'), { host: '127.0.0.1', port: 7878 });
    assert.deepEqual(parseHostPort('\t[::1]:7878 '), { host: '::1', port: 7878 });
    for (const bad of ['my host:7878', '127.0.0.1 :7878', '127.0.0.1: 7878', '[ ::1]:7878', '[::1] :7878']) {
      assert.equal(parseHostPort(bad), undefined, bad);
    }
  });

  it('takes ports 1 to 65535 only, in at most five digits', () => {
    assert.deepEqual(parseHostPort('h:1'), { host: 'h', port: 1 });
    assert.deepEqual(parseHostPort('h:65535'), { host: 'h', port: 65535 });
    assert.deepEqual(parseHostPort('h:07878'), { host: 'h', port: 7878 });
    for (const bad of ['h:0', 'h:00000', 'h:65536', 'h:70000', 'h:123456', 'h:', 'h:-1', 'h:+1', 'h:1e3', 'h:0x10', 'h:1.5', '[::1]:0', '[::1]:65536']) {
      assert.equal(parseHostPort(bad), undefined, bad);
    }
    assert.ok(isPort(1) && isPort(65535));
    for (const bad of [0, 65536, -1, 1.5, NaN, Infinity]) assert.ok(!isPort(bad), String(bad));
  });

  it('wants an IPv6 address in brackets, and only an IPv6 address there', () => {
    for (const bad of ['::1:7878', '::1', '[::1]', '[::1]7878', '[]:7878', '[1.2.3.4]:7878', '[:]:7878', '[::1:7878', '::1]:7878', '[[::1]]:7878', '[::g]:7878', 'x', '', ':7878']) {
      assert.equal(parseHostPort(bad), undefined, bad);
    }
    assert.deepEqual(parseHostPort('[2001:db8::1]:443'), { host: '2001:db8::1', port: 443 });
  });

  it('checks IP addresses exactly as node:net does', () => {
    const samples = ['1.2.3.4', '255.255.255.255', '256.1.1.1', '01.2.3.4', '1.2.3', '::', '::1', '1::', 'fe80::1%eth0', 'fe80::1%',
      '::ffff:1.2.3.4', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', 'localhost', ''];
    for (const s of samples) {
      assert.equal(isIPv4(s), net.isIPv4(s), `isIPv4(${s})`);
      assert.equal(isIPv6(s), net.isIPv6(s), `isIPv6(${s})`);
    }
    const chars = fc.constantFrom(...'0123456789abcdefABCDEF:.%g'.split(''));
    fc.assert(fc.property(fc.array(chars, { maxLength: 45 }).map((a) => a.join('')), (s) => {
      assert.equal(isIPv4(s), net.isIPv4(s), `isIPv4(${s})`);
      assert.equal(isIPv6(s), net.isIPv6(s), `isIPv6(${s})`);
    }), { numRuns: 20_000 });
    fc.assert(fc.property(fc.ipV4(), fc.ipV6(), (v4, v6) => isIPv4(v4) && isIPv6(v6) && !isIPv4(v6) && !isIPv6(v4)));
  });

  it('knows a host name from what is not one', () => {
    for (const ok of ['localhost', 'relay.example.com', 'a-b.c', 'x', 'relay.example.com.']) assert.ok(isHostName(ok), ok);
    for (const bad of ['', '-a', 'a-', 'a..b', 'my_host', 'a b', `${'a'.repeat(64)}.com`, `${'a.'.repeat(127)}ab`]) assert.ok(!isHostName(bad), bad);
  });
});
