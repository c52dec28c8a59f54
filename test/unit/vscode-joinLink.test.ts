// vscode://smc-chat.smc/join?invite=… links: the key only ever comes from a fragment.
import { strict as assert } from 'node:assert';
import { inviteFromJoinUri } from '../../src/vscode/joinLink';

const INVITE = 'smc://127.0.0.1:7878/Team%20Chat#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

describe('join links', () => {
  it('takes the invite, with its fragment, from the decoded query', () => {
    assert.deepEqual(inviteFromJoinUri('/join', `invite=${INVITE}`, ''), { ok: true, invite: INVITE });
  });

  it('takes the key from the link fragment when the invite came without one', () => {
    const [base, key] = INVITE.split('#');
    assert.deepEqual(inviteFromJoinUri('/join', `invite=${base}`, key ?? ''), { ok: true, invite: INVITE });
  });

  it('does not decode the invite a second time (room names keep their encoding)', () => {
    const r = inviteFromJoinUri('/join', `invite=${INVITE}`, '');
    assert.ok(r.ok && r.invite.includes('Team%20Chat'));
  });

  it('refuses other paths, other parameters (a key in a query), and links without a key', () => {
    assert.equal(inviteFromJoinUri('/open', `invite=${INVITE}`, '').ok, false);
    assert.equal(inviteFromJoinUri('/join', `invite=${INVITE}&key=AAAA`, '').ok, false);
    assert.equal(inviteFromJoinUri('/join', 'key=AAAA', '').ok, false);
    assert.equal(inviteFromJoinUri('/join', '', '').ok, false);
    assert.equal(inviteFromJoinUri('/join', 'invite=smc://h:1/x', '').ok, false);
    const r = inviteFromJoinUri('/join', 'invite=x&secretkey=SEKRET', '');
    assert.ok(!r.ok && !r.reason.includes('SEKRET'));
  });
});
