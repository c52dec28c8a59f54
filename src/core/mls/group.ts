// One member's view of one MLS group (docs/protocol.md §3): the only type the rest of SMC uses.
// A group changes only in two ways, both in the room's seq order (§3.3): process() applies the
// next message the relay delivered, and a commit of our own takes effect only when process()
// meets it again at its seq (or confirmOwnCommit() is told its seq by the relay's ack). So
// every member walks the same sequence of epochs and nobody forks.
import type { ClientState, KeyPackage, LeafIndex, PrivateMessage, Proposal, ProposalWithSender } from 'ts-mls' with { 'resolution-mode': 'import' };
import { randomBytes } from 'node:crypto';
import { fingerprint, type Identity } from '../crypto/identity';
import { smcClientConfig } from './config';
export type { CommitIntent } from './commitIntent';
import { memberFromLeaf, type MlsMember } from './credential';
import { MlsError, asMlsError } from './errors';
import { deriveEpochAuthSeed } from './epochAuth';
import { createKeyPackage, decodeWhole, readKeyPackage, type OwnKeyPackage } from './keyPackage';
import { loadMls, type Mls } from './library';
import { decodeIntent, encodeIntent, type CommitIntent } from './commitIntent';
import { decodeRecord, encodeRecord } from './record';
import { readState, writeState } from './savedState';
import { checkRoles, effectiveAdmins, ROSTER_EXTENSION_TYPE, rosterExtension, rosterIn } from './roles';

/** A commit of ours, sent but not yet ordered by the relay. */
export interface PendingCommit {
  /** The epoch this commit ends (the group's epoch when it was made). */
  readonly fromEpoch: bigint;
  /** The MLSMessage to send to the room. */
  readonly message: Uint8Array;
  /** For an add: the MLSMessage (mls_welcome) for the joiners. */
  readonly welcome: Uint8Array | undefined;
  readonly intent: CommitIntent;
}

/** What applying one delivered message did. */
export type Incoming =
  | { readonly kind: 'application'; readonly sender: MlsMember; readonly plaintext: Uint8Array; readonly authenticatedData: Uint8Array; readonly epoch: bigint }
  | {
    readonly kind: 'commit';
    /** Our own pending commit, met at its seq. */
    readonly own: boolean;
    readonly committer: MlsMember;
    /** The epoch the group is now in. */
    readonly epoch: bigint;
    readonly added: readonly MlsMember[];
    readonly removed: readonly MlsMember[];
    /** Our own pending commit that this one beat (§3.3): retry it with commit(lostIntent). */
    readonly lostIntent: CommitIntent | undefined;
  }
  /** A commit removed us: the group is over for this member. */
  | { readonly kind: 'removed'; readonly committer: MlsMember; readonly epoch: bigint }
  /** A proposal (a member asking to leave): held until a commit applies it. */
  | { readonly kind: 'proposal'; readonly sender: MlsMember }
  /** §3.3: a commit for an epoch already ended, or a message of an old epoch: every member ignores it. */
  | { readonly kind: 'stale'; readonly epoch: bigint };

/** §3.5: a commit as the room's rules see it, before it is applied. */
export interface CommitSummary {
  readonly committer: MlsMember;
  readonly adds: readonly Buffer[];
  /** Each removed member, and who proposed it (the committer, or the member itself leaving). */
  readonly removes: readonly { readonly member: MlsMember; readonly proposer: MlsMember | undefined }[];
  /** The roster a GroupContextExtensions proposal sets (§3.5); null when it sets a malformed one. */
  readonly newRoster: readonly Buffer[] | null | undefined;
  /** Proposals of any other kind (updates, PSKs, reinit...). */
  readonly others: readonly string[];
}

/** §3.5: returns a reason to refuse the commit, or undefined to apply it. */
export type CommitRule = (commit: CommitSummary, group: MlsGroup) => string | undefined;

/** §3.5: the default rule, the room's roles, checked against the roster and members before the commit. */
export const roleRule: CommitRule = (commit, group) => checkRoles({ ...commit, members: group.members(), roster: group.roster() });

export class MlsGroup {
  private constructor(
    private readonly mls: Mls,
    private readonly identity: Identity,
    private state: ClientState,
    private pending: { readonly commit: PendingCommit; readonly next: ClientState; readonly consumed: readonly Uint8Array[] } | undefined,
    private readonly rule: CommitRule,
  ) {}

  /** §3.3: a new group with `identity` as its only member, at epoch 0. */
  static async create(identity: Identity, options: { rule?: CommitRule } = {}): Promise<MlsGroup> {
    const mls = await loadMls();
    const own = await createKeyPackage(identity);
    // §3.5: the creator is the first admin.
    const state = await mls.lib.createGroup(new Uint8Array(randomBytes(32)), own.keyPackage, own.privateKeys,
      [rosterExtension([identity.publicKey])], mls.suite, smcClientConfig(mls.lib));
    return new MlsGroup(mls, identity, state, undefined, options.rule ?? roleRule);
  }

  /** §3.4: the group a Welcome for `own` opens. */
  static async join(identity: Identity, own: OwnKeyPackage, welcome: Uint8Array, options: { rule?: CommitRule } = {}): Promise<MlsGroup> {
    const mls = await loadMls();
    const decoded = decodeWhole(mls.lib.decodeMlsMessage, welcome);
    if (decoded?.wireformat !== 'mls_welcome') throw new MlsError('malformed', 'not an MLS Welcome');
    const state = await asMlsError('bad_welcome', 'the Welcome does not open for this KeyPackage', () => mls.lib.joinGroup(
      decoded.welcome, own.keyPackage, own.privateKeys, mls.lib.emptyPskIndex, mls.suite, undefined, undefined, smcClientConfig(mls.lib)));
    const group = new MlsGroup(mls, identity, state, undefined, options.rule ?? roleRule);
    group.checkOwnLeaf();
    return group;
  }

  /** Imports what export() gave, for `identity` (the export holds no identity seed, §3.7). */
  static async import(bytes: Uint8Array, identity: Identity, options: { rule?: CommitRule } = {}): Promise<MlsGroup> {
    const mls = await loadMls();
    const record = decodeRecord(bytes, ['state']);
    const state = readState(mls, record.state, identity);
    let pending: MlsGroup['pending'];
    if (record.pendingState !== undefined && record.pendingCommit !== undefined && record.pendingIntent !== undefined) {
      pending = {
        commit: {
          fromEpoch: state.groupContext.epoch,
          message: record.pendingCommit,
          welcome: record.pendingWelcome,
          intent: decodeIntent(record.pendingIntent),
        },
        next: readState(mls, record.pendingState, identity),
        consumed: [],
      };
    }
    const group = new MlsGroup(mls, identity, state, pending, options.rule ?? roleRule);
    group.checkOwnLeaf();
    return group;
  }

  /**
   * §3.7: the whole state as bytes, to keep as a secret. It includes a pending commit, so that
   * a member that crashes after sending one recognises it when the relay delivers it. The
   * identity seed, which ts-mls keeps in its state as the MLS signature key, is left out.
   */
  export(): Uint8Array {
    const fields: Record<string, Uint8Array> = { state: writeState(this.mls, this.state) };
    if (this.pending !== undefined) {
      fields.pendingState = writeState(this.mls, this.pending.next);
      fields.pendingCommit = this.pending.commit.message;
      if (this.pending.commit.welcome !== undefined) fields.pendingWelcome = this.pending.commit.welcome;
      fields.pendingIntent = encodeIntent(this.pending.commit.intent);
    }
    return encodeRecord(fields);
  }

  get epoch(): bigint {
    return this.state.groupContext.epoch;
  }

  get groupId(): Uint8Array {
    return this.state.groupContext.groupId;
  }

  /** Whether a commit removed this member (then only export() and members() still work). */
  get removed(): boolean {
    return this.state.groupActiveState.kind === 'removedFromGroup';
  }

  get pendingCommit(): PendingCommit | undefined {
    return this.pending?.commit;
  }

  /** The members, in leaf order, each bound to its SMC identity (§3.2). */
  members(): MlsMember[] {
    return membersOf(this.state);
  }

  /** §3.5: the roster in the group context (it may still list members who left). */
  roster(): Buffer[] {
    return rosterIn(this.state.groupContext.extensions) ?? [];
  }

  /** §3.5: the admins' identity keys. */
  admins(): Buffer[] {
    return effectiveAdmins(this.roster(), this.members());
  }

  isAdmin(identityKey: Uint8Array): boolean {
    return this.admins().some((a) => a.equals(Buffer.from(identityKey)));
  }

  /** This member. */
  self(): MlsMember {
    const leafIndex = this.state.privatePath.leafIndex;
    if (this.removed) return { leafIndex, identityKey: Buffer.from(this.identity.publicKey), fingerprint: fingerprint(this.identity.publicKey) };
    return this.memberAt(leafIndex);
  }

  /** §3.6: this epoch's room-auth seed (an Ed25519 seed), from the MLS exporter. A secret. */
  epochAuthSeed(): Promise<Buffer> {
    return deriveEpochAuthSeed(this.state.keySchedule.exporterSecret, this.mls);
  }

  /**
   * §3.6: the room-auth seed of the epoch our pending commit starts (for the `next` and `rot`
   * of its send). A secret; undefined when no commit of ours is pending.
   */
  async pendingEpochAuthSeed(): Promise<Buffer | undefined> {
    if (this.pending === undefined) return undefined;
    return deriveEpochAuthSeed(this.pending.next.keySchedule.exporterSecret, this.mls);
  }

  /**
   * What the clear header of a delivered message says (RFC 9420 §6.3.2: group id, epoch and
   * content type are not encrypted), without applying it; undefined when it is no PrivateMessage.
   */
  peek(bytes: Uint8Array): { readonly contentType: 'application' | 'proposal' | 'commit'; readonly epoch: bigint; readonly ours: boolean } | undefined {
    const decoded = decodeWhole(this.mls.lib.decodeMlsMessage, bytes);
    if (decoded?.wireformat !== 'mls_private_message') return undefined;
    const m = decoded.privateMessage;
    return { contentType: m.contentType, epoch: m.epoch, ours: Buffer.from(m.groupId).equals(Buffer.from(this.groupId)) };
  }

  /** The MLS epoch authenticator, which members may compare out of band to detect a fork. */
  epochAuthenticator(): Uint8Array {
    return this.state.keySchedule.epochAuthenticator;
  }

  /** Encrypts an application message for the current epoch (§3.3). */
  async encrypt(plaintext: Uint8Array, authenticatedData: Uint8Array = new Uint8Array(0)): Promise<Uint8Array> {
    this.checkActive();
    const result = await asMlsError('not_allowed', 'could not encrypt for the group', () =>
      this.mls.lib.createApplicationMessage(this.state, plaintext, this.mls.suite, authenticatedData));
    this.state = result.newState;
    result.consumed.forEach(this.mls.lib.zeroOutUint8Array);
    return this.mls.lib.encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: result.privateMessage });
  }

  /**
   * §3.3: makes a commit and keeps it pending; the group does not change until the commit is
   * met at its seq. One commit may be pending at a time.
   */
  async commit(intent: CommitIntent): Promise<PendingCommit> {
    this.checkActive();
    if (this.pending !== undefined) throw new MlsError('not_allowed', 'a commit of ours is already waiting for its seq');
    const proposals = await this.proposalsFor(intent);
    const result = await asMlsError('not_allowed', `could not make the ${intent.kind} commit`, () => this.mls.lib.createCommit(
      { state: this.state, cipherSuite: this.mls.suite },
      { extraProposals: proposals, ratchetTreeExtension: true }));
    // `consumed` holds secrets of the current epoch too, which this member still needs if the
    // commit loses its race (§3.3): they are wiped only when the commit takes effect.
    const commit: PendingCommit = {
      fromEpoch: this.epoch,
      message: this.mls.lib.encodeMlsMessage(result.commit),
      welcome: result.welcome === undefined ? undefined
        : this.mls.lib.encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: result.welcome }),
      intent,
    };
    this.pending = { commit, next: result.newState, consumed: result.consumed };
    return commit;
  }

  /** §3.3: the relay gave our pending commit the first commit's place in its epoch (its ack came first). */
  confirmOwnCommit(): Incoming {
    if (this.pending === undefined) throw new MlsError('not_allowed', 'no commit of ours is waiting');
    const before = this.members();
    const self = this.self();
    this.state = this.pending.next;
    this.pending.consumed.forEach(this.mls.lib.zeroOutUint8Array);
    this.pending = undefined;
    return { kind: 'commit', own: true, committer: self, epoch: this.epoch, ...diffMembers(before, this.members()), lostIntent: undefined };
  }

  /** Forgets our pending commit (the relay refused it); the intent may be committed again. */
  abandonOwnCommit(): CommitIntent | undefined {
    const intent = this.pending?.commit.intent;
    this.pending = undefined;
    return intent;
  }

  /** §3.5: asks the group to remove this member; any member's next commit applies it. */
  async proposeLeave(): Promise<Uint8Array> {
    this.checkActive();
    const proposal: Proposal = { proposalType: 'remove', remove: { removed: this.state.privatePath.leafIndex } };
    const result = await this.mls.lib.createProposal(this.state, false, proposal, this.mls.suite);
    this.state = result.newState;
    result.consumed.forEach(this.mls.lib.zeroOutUint8Array);
    return this.mls.lib.encodeMlsMessage(result.message);
  }

  /** §3.3: applies the next message of the room, in seq order. */
  async process(bytes: Uint8Array): Promise<Incoming> {
    if (this.pending !== undefined && Buffer.from(bytes).equals(Buffer.from(this.pending.commit.message))) return this.confirmOwnCommit();
    this.checkActive();
    const decoded = decodeWhole(this.mls.lib.decodeMlsMessage, bytes);
    if (decoded?.wireformat !== 'mls_private_message') throw new MlsError('malformed', 'not an MLS PrivateMessage');
    const message = decoded.privateMessage;
    if (!Buffer.from(message.groupId).equals(Buffer.from(this.groupId))) throw new MlsError('undecryptable', 'a message of another group');
    // §3.3: one commit ends each epoch; a later commit for an ended epoch, and any message of
    // an ended epoch, are ignored by every member alike.
    if (message.epoch < this.epoch) return { kind: 'stale', epoch: message.epoch };
    if (message.epoch > this.epoch) throw new MlsError('undecryptable', `a message of epoch ${message.epoch}, and this member is in epoch ${this.epoch}`);

    if (message.contentType === 'application') return this.openApplication(message);

    const before = this.members();
    let summary: CommitSummary | undefined;
    let refusal: string | undefined;
    let proposer: MlsMember | undefined;
    const inspect = (incoming: { kind: 'commit'; senderLeafIndex: LeafIndex | undefined; proposals: ProposalWithSender[] } | { kind: 'proposal'; proposal: ProposalWithSender }): 'accept' | 'reject' => {
      if (incoming.kind === 'proposal') {
        // §3.5: the only proposal a member sends alone is its own removal (leaving).
        const { proposal, senderLeafIndex } = incoming.proposal;
        if (proposal.proposalType !== 'remove' || senderLeafIndex === undefined || proposal.remove.removed !== senderLeafIndex) return 'reject';
        proposer = this.memberAt(senderLeafIndex);
        return 'accept';
      }
      summary = this.summarize(incoming.senderLeafIndex, incoming.proposals);
      refusal = summary === undefined ? 'a commit from no member' : this.rule(summary, this);
      return refusal === undefined ? 'accept' : 'reject';
    };
    const result = await asMlsError('undecryptable', 'the message does not decrypt or verify for this member', () =>
      this.mls.lib.processPrivateMessage(this.state, message, this.mls.lib.emptyPskIndex, this.mls.suite, inspect));
    // A refused message leaves the state as it was, and what ts-mls lists as consumed is then
    // still part of it: wipe only what an applied message used up.
    const applied = result.kind === 'applicationMessage' || result.actionTaken === 'accept';
    if (applied) result.consumed.forEach(this.mls.lib.zeroOutUint8Array);

    if (result.kind === 'applicationMessage') throw new MlsError('malformed', 'an application message labelled as a handshake');
    if (message.contentType === 'proposal') {
      if (result.actionTaken === 'reject' || proposer === undefined) throw new MlsError('rejected_commit', 'a proposal other than a member leaving');
      this.state = result.newState;
      return { kind: 'proposal', sender: proposer };
    }
    if (result.actionTaken === 'reject' || summary === undefined) {
      // ts-mls hands back the state it had, so nothing changed; the commit does not end the
      // epoch (§3.5), and the next valid commit for this epoch will.
      throw new MlsError('rejected_commit', refusal ?? 'a commit the room rules refuse');
    }
    const lostIntent = this.pending?.commit.intent;
    this.pending = undefined;
    this.state = result.newState;
    const committer = summary.committer;
    if (this.removed) return { kind: 'removed', committer, epoch: this.epoch };
    return { kind: 'commit', own: false, committer, epoch: this.epoch, ...diffMembers(before, this.members()), lostIntent };
  }

  /**
   * The proposals of a commit for `intent`. A promotion is a roster change, which §3.5 makes a
   * commit of its own (ts-mls 1.6.4 also mis-encrypts the path of a commit that changes the
   * group context extensions together with a removal: fixed upstream in 2.0.0-rc.12, #468).
   */
  private async proposalsFor(intent: CommitIntent): Promise<Proposal[]> {
    if (intent.kind !== 'promote') {
      if (intent.kind === 'add') {
        const roster = this.roster();
        for (const bytes of intent.keyPackages) {
          const { identityKey } = await readKeyPackage(bytes, this.mls);
          if (roster.some((a) => a.equals(identityKey))) throw new MlsError('not_allowed', 'that identity is still on the roster: commit a promote with no keys (which drops members who left) first');
        }
      }
      return this.changesFor(intent);
    }
    if (Object.keys(this.state.unappliedProposals).length > 0) throw new MlsError('not_allowed', 'a member asked to leave: commit that (an update) before changing the roster');
    const members = this.members();
    for (const key of intent.identityKeys) {
      if (!members.some((m) => m.identityKey.equals(Buffer.from(key)))) throw new MlsError('not_allowed', 'only a member can be promoted');
    }
    const roster = [...this.admins(), ...intent.identityKeys.map((k) => Buffer.from(k))];
    const extensions = this.state.groupContext.extensions.filter((e) => e.extensionType !== ROSTER_EXTENSION_TYPE);
    return [{ proposalType: 'group_context_extensions', groupContextExtensions: { extensions: [...extensions, rosterExtension(roster)] } }];
  }

  private async changesFor(intent: CommitIntent): Promise<Proposal[]> {
    switch (intent.kind) {
      case 'update':
      case 'promote':
        return [];
      case 'add': {
        const proposals: Proposal[] = [];
        const present = new Set(this.members().map((m) => m.identityKey.toString('hex')));
        for (const bytes of intent.keyPackages) {
          const { keyPackage, identityKey } = await readKeyPackage(bytes, this.mls);
          if (present.has(identityKey.toString('hex'))) throw new MlsError('not_allowed', 'that identity is already a member');
          present.add(identityKey.toString('hex'));
          proposals.push({ proposalType: 'add', add: { keyPackage: keyPackage satisfies KeyPackage } });
        }
        if (proposals.length === 0) throw new MlsError('not_allowed', 'an add needs at least one KeyPackage');
        return proposals;
      }
      case 'remove': {
        const members = this.members();
        const self = this.self();
        const proposals: Proposal[] = [];
        for (const key of intent.identityKeys) {
          const member = members.find((m) => m.identityKey.equals(Buffer.from(key)));
          if (member === undefined) throw new MlsError('not_allowed', 'that identity is not a member');
          if (member.leafIndex === self.leafIndex) throw new MlsError('not_allowed', 'a member leaves with proposeLeave(), it cannot commit its own removal');
          proposals.push({ proposalType: 'remove', remove: { removed: member.leafIndex } });
        }
        if (proposals.length === 0) throw new MlsError('not_allowed', 'a remove needs at least one member');
        return proposals;
      }
    }
  }

  private summarize(committerLeaf: number | undefined, proposals: ProposalWithSender[]): CommitSummary | undefined {
    if (committerLeaf === undefined) return undefined;
    const committer = this.memberAt(committerLeaf);
    const adds: Buffer[] = [];
    const removes: { member: MlsMember; proposer: MlsMember | undefined }[] = [];
    const others: string[] = [];
    let newRoster: Buffer[] | null | undefined;
    for (const { proposal, senderLeafIndex } of proposals) {
      if (proposal.proposalType === 'add') adds.push(Buffer.from(proposal.add.keyPackage.leafNode.credential.credentialType === 'basic' ? proposal.add.keyPackage.leafNode.credential.identity : new Uint8Array(0)));
      else if (proposal.proposalType === 'remove') removes.push({ member: this.memberAt(proposal.remove.removed), proposer: senderLeafIndex === undefined ? undefined : this.memberAt(senderLeafIndex) });
      else if (proposal.proposalType === 'group_context_extensions') newRoster = rosterIn(proposal.groupContextExtensions.extensions) ?? null;
      else others.push(String(proposal.proposalType));
    }
    return { committer, adds, removes, newRoster, others };
  }

  /**
   * An application message of the current epoch. This is what ts-mls's processPrivateMessage
   * does for one (unprotect with this epoch's secrets, keep the advanced secret tree), done
   * here because its result does not name the sender, which SMC shows.
   */
  private async openApplication(message: PrivateMessage): Promise<Incoming> {
    const s = this.state;
    const result = await asMlsError('undecryptable', 'the message does not decrypt or verify for this member', () => this.mls.protection.unprotectPrivateMessage(
      s.keySchedule.senderDataSecret, message, s.secretTree, s.ratchetTree, s.groupContext, s.clientConfig.keyRetentionConfig, this.mls.suite));
    result.consumed.forEach(this.mls.lib.zeroOutUint8Array);
    const content = result.content.content;
    if (content.contentType !== 'application' || content.sender.senderType !== 'member') throw new MlsError('malformed', 'an application message not from a member');
    this.state = { ...s, secretTree: result.tree };
    return {
      kind: 'application',
      sender: this.memberAt(content.sender.leafIndex),
      plaintext: content.applicationData,
      authenticatedData: content.authenticatedData,
      epoch: this.epoch,
    };
  }

  private memberAt(leafIndex: number): MlsMember {
    const node = this.state.ratchetTree[leafIndex * 2];
    if (node?.nodeType !== 'leaf') throw new MlsError('bad_credential', `leaf ${leafIndex} is not an SMC member`);
    const leaf = node.leaf;
    // The sender of every message is looked up here: its §3.2 checks (strict key checks, the
    // fingerprint's SHA-256) are made once per leaf node, and the cached answer is taken only
    // while the leaf's index, signature key and credential are still the bytes it was made from.
    const cached = memberCache.get(leaf);
    if (cached !== undefined && cached.member.leafIndex === leafIndex && cached.signatureKey.equals(leaf.signaturePublicKey)
      && leaf.credential.credentialType === 'basic' && cached.member.identityKey.equals(leaf.credential.identity)) return cached.member;
    const member = memberFromLeaf(leafIndex, leaf.credential, leaf.signaturePublicKey);
    if (member === undefined) throw new MlsError('bad_credential', `leaf ${leafIndex} is not an SMC member`);
    memberCache.set(leaf, { member, signatureKey: Buffer.from(leaf.signaturePublicKey) });
    return member;
  }

  private checkActive(): void {
    if (this.removed) throw new MlsError('not_allowed', 'this member was removed from the group');
  }

  private checkOwnLeaf(): void {
    if (!this.self().identityKey.equals(this.identity.publicKey)) throw new MlsError('bad_state', 'the group state belongs to another identity');
  }
}

/** memberAt's checked members, per leaf node object of ts-mls (dropped with the node). */
const memberCache = new WeakMap<object, { member: MlsMember; signatureKey: Buffer }>();

function membersOf(state: ClientState): MlsMember[] {
  const members: MlsMember[] = [];
  state.ratchetTree.forEach((node, nodeIndex) => {
    if (nodeIndex % 2 !== 0 || node?.nodeType !== 'leaf') return;
    const member = memberFromLeaf(nodeIndex / 2, node.leaf.credential, node.leaf.signaturePublicKey);
    if (member !== undefined) members.push(member);
  });
  return members;
}

function diffMembers(before: readonly MlsMember[], after: readonly MlsMember[]): { added: MlsMember[]; removed: MlsMember[] } {
  const key = (m: MlsMember): string => `${m.leafIndex}:${m.identityKey.toString('hex')}`;
  const was = new Set(before.map(key));
  const is = new Set(after.map(key));
  return { added: after.filter((m) => !was.has(key(m))), removed: before.filter((m) => !is.has(key(m))) };
}
