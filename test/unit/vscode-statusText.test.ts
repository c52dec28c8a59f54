// The status bar's text (src/vscode/statusText.ts): the patterns the host tests rely on.
import { strict as assert } from 'node:assert';
import { statusView } from '../../src/vscode/statusText';

describe('status bar text', () => {
  const base = { relay: '127.0.0.1:7878', online: 0, unread: 0 };
  it('says offline, connecting, connected', () => {
    assert.equal(statusView({ ...base, state: 'offline' }).text, '$(circle-slash) SMC offline');
    assert.equal(statusView({ ...base, state: 'connecting' }).text, '$(sync~spin) SMC connecting…');
    assert.equal(statusView({ ...base, state: 'connected' }).text, '$(plug) SMC connected');
    assert.equal(statusView({ ...base, state: 'connected', roomName: 'Team', online: 3 }).text, '$(lock) Team · 3 online');
    // A private room has no presence (§3): its members are counted instead of "0 online".
    assert.equal(statusView({ ...base, state: 'connected', roomName: 'Team', online: 0, members: 2 }).text, '$(lock) Team · 2 members');
    assert.equal(statusView({ ...base, state: 'connected', roomName: 'Solo', online: 0, members: 1 }).text, '$(lock) Solo · 1 member');
    assert.match(statusView({ ...base, state: 'connected', roomName: 'Team', online: 0, members: 2 }).tooltip, /Room: Team \(2 members\)/);
  });

  it('adds the unread count and a tooltip with the relay and fingerprint', () => {
    const v = statusView({ ...base, state: 'connected', roomName: 'Team', online: 2, unread: 4, fingerprint: '21FE 31DF 0000 0000 0000 0000 0000 0000' });
    assert.equal(v.text, '$(lock) Team · 2 online $(bell-dot) 4');
    assert.match(v.tooltip, /127\.0\.0\.1:7878/);
    assert.match(v.tooltip, /21FE 31DF 0000/);
    assert.match(v.tooltip, /4 unread messages/);
  });

  it('names the rooms the unread messages are in (issue 11)', () => {
    const v = statusView({ ...base, state: 'connected', roomName: 'Team', online: 2, unread: 4, unreadRooms: [{ name: 'Team', count: 3 }, { name: 'Ops $(zap)', count: 1 }] });
    assert.match(v.tooltip, /4 unread messages: 3 in Team, 1 in Ops \$\u200B\(zap\)/);
    assert.equal(v.command, 'smc.toggleConnection');
  });

  it('a room name cannot inject status bar icons or lines', () => {
    const v = statusView({ ...base, state: 'connected', roomName: '$(alert) fake\nline', online: 1 });
    assert.doesNotMatch(v.text, /\$\(alert\)/);
    assert.doesNotMatch(v.text, /\n/);
  });
});
