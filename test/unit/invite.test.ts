// Invite links (PROTOCOL.md §2.7): round trips, and every malformed case refused with a
// message that says what is wrong and never contains the key.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { encodeB64u, formatInvite, generateRoomKey, Invite, InviteError, parseInvite } from '../../src/core/crypto';

const key = generateRoomKey();
const k = encodeB64u(key);
const fp = 'ab'.repeat(32);

function refuses(text: string, message: RegExp): void {
  assert.throws(() => parseInvite(text), (e: unknown) => {
    assert.ok(e instanceof InviteError, `not an InviteError: ${String(e)}`);
    assert.match(e.message, message);
    assert.ok(!e.message.includes(k), 'the message contains the key');
    assert.ok(!e.message.includes(k.slice(0, 20)), 'the message contains part of the key');
    return true;
  }, text);
}

describe('invites', () => {
  it('round-trips plain, TLS, IPv6 and host-name invites', () => {
    const cases: Invite[] = [
      { host: '127.0.0.1', port: 7878, name: 'Team Chat', key },
      { host: 'relay.example.com', port: 443, name: 'ops', key, tls: { fingerprint: fp } },
      { host: '::1', port: 1, name: 'ipv6 room', key },
      { host: 'fe80::1', port: 65535, name: 'Équipe / α?#&%', key, tls: { fingerprint: fp } },
      { host: 'localhost', port: 9000, name: '😀', key },
    ];
    for (const inv of cases) {
      const text = formatInvite(inv);
      assert.deepEqual(parseInvite(text), inv, text);
      assert.ok(text.endsWith('#' + k));
    }
    assert.equal(formatInvite(cases[2]!), `smc://[::1]:1/ipv6%20room#${k}`);
    assert.equal(formatInvite(cases[1]!), `smcs://relay.example.com:443/ops?fp=${fp}#${k}`);
  });

  it('round-trips any room name and key', () => {
    fc.assert(fc.property(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 100 }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.integer({ min: 1, max: 65535 }),
      (name, bytes, port) => {
        const inv: Invite = { host: 'example.org', port, name, key: Buffer.from(bytes) };
        assert.deepEqual(parseInvite(formatInvite(inv)), inv);
      }), { numRuns: 300 });
  });

  it('accepts surrounding whitespace, an uppercase scheme and a colon-separated fingerprint', () => {
    assert.equal(parseInvite(`  smc://127.0.0.1:7878/a#${k}\n`).name, 'a');
    assert.equal(parseInvite(`SMC://127.0.0.1:7878/a#${k}`).port, 7878);
    const colons = fp.toUpperCase().match(/../g)!.join(':');
    assert.deepEqual(parseInvite(`smcs://h:1/a?fp=${colons}#${k}`).tls, { fingerprint: fp });
  });

  it('says exactly what is wrong with a malformed invite', () => {
    refuses('', /the invite is empty/);
    refuses('   ', /the invite is empty/);
    refuses(`127.0.0.1:7878/a#${k}`, /starts with smc:\/\/ or smcs:\/\//);
    refuses(`https://127.0.0.1:7878/a#${k}`, /unknown scheme 'https:\/\/'/);
    refuses('smc://127.0.0.1:7878/a', /no key after '#'/);
    refuses('smc://127.0.0.1:7878/a#', /no key after '#'/);
    refuses(`smc://127.0.0.1:7878/a#${k.slice(0, 42)}`, /key must be 32 bytes of base64url/);
    refuses(`smc://127.0.0.1:7878/a#${k}AA`, /key must be 32 bytes of base64url/);
    refuses(`smc://127.0.0.1:7878/a#${k.slice(0, 40)}+/=`, /key must be 32 bytes of base64url/);
    refuses(`smc://127.0.0.1:0/a#${k}`, /port must be 1-65535/);
    refuses(`smc://127.0.0.1:65536/a#${k}`, /port must be 1-65535/);
    refuses(`smc://127.0.0.1:-1/a#${k}`, /port must be 1-65535/);
    refuses(`smc://127.0.0.1:80x/a#${k}`, /port must be 1-65535/);
    refuses(`smc://127.0.0.1/a#${k}`, /no port/);
    refuses(`smc://127.0.0.1:/a#${k}`, /no port/);
    refuses(`smc://:7878/a#${k}`, /no host/);
    refuses(`smc://127.0.0.1:7878#${k}`, /no room name/);
    refuses(`smc://127.0.0.1:7878/#${k}`, /no room name/);
    refuses(`smc://127.0.0.1:7878/%E0%A4#${k}`, /not valid URL encoding/);
    refuses(`smc://::1:7878/a#${k}`, /IPv6 address must be in brackets/);
    refuses(`smc://[::1:7878/a#${k}`, /must end with '\]'/);
    refuses(`smc://[nope]:7878/a#${k}`, /'nope' is not an IPv6 address/);
    refuses(`smc://[::1]/a#${k}`, /no port/);
    refuses(`smc://[::1]x:1/a#${k}`, /expected ':PORT'/);
    refuses(`smc://bad_host!:7878/a#${k}`, /not a valid host name/);
    refuses(`smc://user@host:7878/a#${k}`, /user name/);
    refuses(`smc://host:7878/a?fp=${fp}#${k}`, /only in an smcs:\/\//);
    refuses(`smcs://host:7878/a#${k}`, /needs the relay's certificate fingerprint/);
    refuses(`smcs://host:7878/a?fp=abc#${k}`, /64 hex digits/);
    refuses(`smcs://host:7878/a?fp=${fp}&fp=${fp}#${k}`, /more than one 'fp='/);
    refuses(`smcs://host:7878/a?x=1#${k}`, /unknown invite parameter 'x'/);
    refuses(`smc://host:7878/${'n'.repeat(257)}#${k}`, /longer than 256 characters/);
  });

  it('refuses to format an invalid invite', () => {
    assert.throws(() => formatInvite({ host: 'h', port: 0, name: 'a', key }), InviteError);
    assert.throws(() => formatInvite({ host: 'h', port: 1, name: '', key }), InviteError);
    assert.throws(() => formatInvite({ host: 'h h', port: 1, name: 'a', key }), InviteError);
    assert.throws(() => formatInvite({ host: 'h', port: 1, name: 'a', key: key.subarray(0, 16) }), InviteError);
    assert.throws(() => formatInvite({ host: 'h', port: 1, name: 'a', key, tls: { fingerprint: 'zz' } }), InviteError);
    assert.throws(() => formatInvite({ host: 'h', port: 1, name: 'a\uD800', key }), InviteError);
  });
});
