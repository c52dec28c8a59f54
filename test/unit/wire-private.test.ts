// The client → relay frames that private rooms add (docs/protocol.md §3.6): a commit's `send`
// with `epoch`, `next` and `rot`, and `reset`. The relay's parser checks their form only; what
// they mean (the rotation signature, the owner's hash) is the relay's to verify.
import { strict as assert } from 'node:assert';
import { parseClientFrame } from '../../src/core/wire/validate';

const ROOM = 'AAAAAAAAAAAAAAAAAAAAAA';
const ID = 'BBBBBBBBBBBBBBBBBBBBBB';
const KEY = 'K'.repeat(43);
const SIG = 'S'.repeat(86);

function line(fields: Record<string, unknown>): string {
  return JSON.stringify(fields);
}

function refused(fields: Record<string, unknown>): string {
  const r = parseClientFrame(line(fields));
  assert.equal(r.ok, false, `accepted ${line(fields)}`);
  if (r.ok) return '';
  assert.equal(r.code, 'bad_request');
  if (fields.rid !== undefined) assert.equal(r.rid, fields.rid);
  return r.message;
}

describe('wire: private rooms, client frames (§3.6)', () => {
  const commit = { t: 'send', rid: 3, room: ROOM, id: ID, body: 'AgAA', epoch: 6, next: KEY, rot: SIG };

  it('send with a rotation: epoch, next and rot are kept', () => {
    assert.deepEqual(parseClientFrame(line(commit)), { ok: true, frame: commit });
  });

  it('send without a rotation stays as in §1.5 (no epoch, next or rot keys)', () => {
    const plain = { t: 'send', rid: 3, room: ROOM, id: ID, body: 'AgAA' };
    assert.deepEqual(parseClientFrame(line(plain)), { ok: true, frame: plain });
  });

  it('epoch, next and rot come together', () => {
    for (const missing of ['epoch', 'next', 'rot']) {
      const f: Record<string, unknown> = { ...commit };
      delete f[missing];
      assert.match(refused(f), /come together/);
    }
    assert.match(refused({ t: 'send', rid: 3, room: ROOM, id: ID, body: 'AgAA', epoch: 6 }), /come together/);
  });

  it('each rotation field has its form', () => {
    for (const epoch of [-1, 1.5, '6', null, 2 ** 53]) assert.match(refused({ ...commit, epoch }), /"epoch"/);
    for (const next of ['K'.repeat(42), 'K'.repeat(44), 'K'.repeat(42) + '=', 7, null]) assert.match(refused({ ...commit, next }), /"next"/);
    for (const rot of ['S'.repeat(85), 'S'.repeat(87), 'S'.repeat(85) + '+', 7]) assert.match(refused({ ...commit, rot }), /"rot"/);
  });

  it('a commit is never ephemeral', () => {
    assert.match(refused({ ...commit, eph: true }), /ephemeral/);
    const r = parseClientFrame(line({ ...commit, eph: false }));
    assert.deepEqual(r, { ok: true, frame: commit });
  });

  const reset = { t: 'reset', rid: 9, room: ROOM, owner: KEY, epoch: 0, auth: KEY, sig: SIG };

  it('reset: every field kept', () => {
    assert.deepEqual(parseClientFrame(line(reset)), { ok: true, frame: reset });
    const noRid: Record<string, unknown> = { ...reset };
    delete noRid.rid;
    assert.deepEqual(parseClientFrame(line(noRid)), { ok: true, frame: noRid });
  });

  it('reset: each field required, in its form', () => {
    const bad: Record<string, unknown[]> = {
      room: ['A'.repeat(21), 'A'.repeat(23), 7, undefined],
      owner: ['K'.repeat(42), 7, undefined],
      epoch: [-1, '0', 0.5, undefined],
      auth: ['K'.repeat(44), null, undefined],
      sig: ['S'.repeat(43), undefined],
    };
    for (const [field, values] of Object.entries(bad)) {
      for (const value of values) {
        const f: Record<string, unknown> = { ...reset };
        if (value === undefined) delete f[field];
        else f[field] = value;
        assert.match(refused(f), new RegExp(`"${field}"`));
      }
    }
  });
});
