// Private rooms as the system tests set them up (docs/protocol.md §3.4): real `smc` processes,
// each member with its own $SMC_HOME below one folder. `PrivateChats` keeps the running chats
// (to kill them after a test) and waits on them, saying on a timeout what each printed last;
// `privateRoomWith` makes a room, invites and joins its members, as most tests start;
// `privateRoomSuite` is the per-test folder, relay and chats of a suite.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonChat, runSmcAsync, type ChatLine, type SmcRun } from './cliProcess';
import { RelayProcess } from './relayProcess';
import { until } from './until';

/** The lines of `c`'s output that are the event `event` (`invite`, `member_added`, ...). */
export function events(c: JsonChat, event: string): ChatLine[] {
  return c.lines.filter((l) => l.event === event);
}

/** The running `smc chat --json` of one test, each in `dir/<who>` as its $SMC_HOME. */
export class PrivateChats {
  readonly chats: JsonChat[] = [];

  /** `timeoutMs`: how long `wait` waits by default. */
  constructor(readonly dir: string, readonly timeoutMs = 60_000) {}

  home(who: string): string {
    return join(this.dir, who);
  }

  /** Starts `smc chat --json ARGS` as `who`. */
  chat(who: string, args: string[]): JsonChat {
    const c = new JsonChat(this.home(who), args);
    this.chats.push(c);
    return c;
  }

  /** Waits for a state (never for a time); a timeout says what the chats printed last. */
  wait<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = this.timeoutMs): Promise<T> {
    return until(what, check, timeoutMs, () => this.lastWords());
  }

  lastWords(): string {
    return this.chats.map((c) => `${c.stderr.slice(-6).join('\n')}\n${JSON.stringify(c.lines.slice(-6))}`).join('\n---\n');
  }

  /** `smc room new --private --name ROOM --relay RELAY ...args` as `who`; fails the test unless it succeeds. */
  async create(relay: string, { who = 'alice', room = 'team', args = [] }: { who?: string; room?: string; args?: string[] } = {}): Promise<SmcRun> {
    const made = await runSmcAsync(this.home(who), ['room', 'new', '--private', '--name', room, '--relay', relay, ...args]);
    assert.equal(made.code, 0, made.stderr);
    return made;
  }

  /** The next invite `admin` makes (`/invite ARGS`). */
  async invite(admin: JsonChat, args = ''): Promise<string> {
    const before = events(admin, 'invite').length;
    admin.send(`/invite${args}`);
    await this.wait('an invite', () => events(admin, 'invite').length > before);
    return String(events(admin, 'invite')[before]!.invite);
  }

  /**
   * `who` joins by `link` (`--name NAME --timeout 60 LINK`); resolves once every chat of
   * `seenBy` shows NAME added (§3.4: the admin's commit).
   */
  async join(who: string, link: string, seenBy: JsonChat | JsonChat[], name = who): Promise<JsonChat> {
    const c = this.chat(who, ['--name', name, '--timeout', '60', link]);
    for (const s of [seenBy].flat()) await this.wait(`${name} added`, () => events(s, 'member_added').some((e) => e.name === name));
    return c;
  }

  /** Waits until the joiner `c` says it was added to `room`, or ends; fails the test unless added. */
  async joined(c: JsonChat, room = 'team', what = 'joined'): Promise<void> {
    const added = (): boolean => c.stderr.some((l) => l.includes(`added to private room "${room}"`));
    await this.wait(what, () => added() || c.child.exitCode !== null);
    assert.ok(added(), c.stderr.join('\n'));
  }

  /** alice makes `team` and one invite, then ends (no admin stays online); returns the invite. */
  async inviteThenOffline(relay: string, createArgs: string[] = []): Promise<string> {
    await this.create(relay, { args: createArgs });
    const alice = this.chat('alice', ['--name', 'alice', 'team']);
    const link = await this.invite(alice);
    alice.end();
    assert.equal(await alice.exit, 0);
    return link;
  }

  /** Kills every chat still running (a test's afterEach). */
  killAll(): void {
    for (const c of this.chats.splice(0)) c.kill();
  }
}

export interface PrivateRoomSetup<M extends readonly string[]> {
  /** `smc room new`'s output. */
  made: SmcRun;
  /** The creator's running chat (an admin of the room). */
  admin: JsonChat;
  /** The members' running chats, in the order of `members`. */
  members: { -readonly [K in keyof M]: JsonChat };
  /** The invites, one a member, in that order. */
  invites: string[];
}

/**
 * The creator (`alice`, or `admin`) makes the private room `room` (default `team`) on `relay`
 * and opens it; then each of `members` joins by an invite of its own, in turn, and is seen
 * added by the creator and by every member before it. `names` gives display names other than
 * the home folder's (`--name`).
 */
export async function privateRoomWith<const M extends readonly string[]>(
  chats: PrivateChats,
  relay: string,
  members: M,
  { admin = 'alice', room = 'team', names = {}, createArgs = [] }: { admin?: string; room?: string; names?: Record<string, string>; createArgs?: string[] } = {},
): Promise<PrivateRoomSetup<M>> {
  const made = await chats.create(relay, { who: admin, room, args: createArgs });
  const creator = chats.chat(admin, ['--name', names[admin] ?? admin, room]);
  const joined: JsonChat[] = [];
  const invites: string[] = [];
  for (const who of members) {
    const link = await chats.invite(creator);
    invites.push(link);
    joined.push(await chats.join(who, link, [creator, ...joined], names[who] ?? who));
  }
  // One chat a name of `members`, in its order: the tuple type says so.
  return { made, admin: creator, members: joined as PrivateRoomSetup<M>['members'], invites };
}

/** What `privateRoomSuite` gives a test: its folder, its relay, its chats. */
export interface PrivateRoomSuite {
  readonly dir: string;
  readonly relay: RelayProcess;
  readonly chats: PrivateChats;
  /** `127.0.0.1:PORT` of the relay. */
  readonly relayAddr: string;
}

/**
 * The hooks of a private-room suite in the calling `describe`: for each test a folder of its own
 * (`prefix`…), a real relay with its data in `dir/relay` (`relayArgs` added), and `PrivateChats`
 * waiting `timeoutMs` by default; after it every chat is killed, the relay stopped and the
 * folder removed. A suite's own afterEach registered before this call runs first.
 */
export function privateRoomSuite(prefix: string, { timeoutMs = 60_000, relayArgs = [] }: { timeoutMs?: number; relayArgs?: string[] } = {}): PrivateRoomSuite {
  let current: { dir: string; relay: RelayProcess; chats: PrivateChats } | undefined;
  const now = (): { dir: string; relay: RelayProcess; chats: PrivateChats } => {
    if (current === undefined) throw new Error('no test is running');
    return current;
  };
  beforeEach(async () => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    const relay = await RelayProcess.start({ dataDir: join(dir, 'relay'), args: relayArgs });
    current = { dir, relay, chats: new PrivateChats(dir, timeoutMs) };
  });
  afterEach(async () => {
    if (current === undefined) return;
    const { dir, relay, chats } = current;
    current = undefined;
    chats.killAll();
    await relay.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    get dir() { return now().dir; },
    get relay() { return now().relay; },
    get chats() { return now().chats; },
    get relayAddr() { return `127.0.0.1:${now().relay.port}`; },
  };
}
