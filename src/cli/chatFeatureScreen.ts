// What `smc chat` shows of the chat features (docs/protocol.md §2.3.1-2.3.5), for the
// interactive mode and --json alike, in link rooms and private rooms: numbered messages with
// their replies, edits, deletes and reactions, effect and file lines, and the commands and
// JSON objects that act on them (chatFeatures.ts). Everything from others goes through
// terminalSafe or jsonLine (chatFormat.ts).
import { applyView, type ChatMessage, type EffectEvent, type FileEvent } from '../core/client/index';
import {
  FeatureError, MessageNumbers, ReceivedFiles, featureErrorText, parseFeatureCommand, saveReceivedFile, sendInput,
  type FeatureInput, type FeatureRoom,
} from './chatFeatures';
import {
  formatEffect, formatFileEvent, formatMessage, formatSize, jsonEffect, jsonFileEvent, jsonMessage, type ShownOriginal, type Style,
} from './chatFormat';
import { jsonLine, terminalSafe } from './terminalText';

/** Where lines go: the interactive screen or stdout of --json. */
export type LineSink = (line: string) => void;

export class FeatureScreen {
  readonly numbers = new MessageNumbers();
  readonly files = new ReceivedFiles();
  /** Saves (--json) asked for before their file was complete: done when it is. */
  private readonly waitingSaves = new Map<string, { path: string; resolve: () => void }[]>();
  private readonly uploads = new Set<Promise<void>>();

  constructor(
    private readonly room: FeatureRoom,
    private readonly out: LineSink,
    private readonly err: LineSink,
    private readonly style: Style,
  ) {}

  /** The original of a reply (§2.3.1), as loaded here. */
  private readonly original = (id: string): ShownOriginal | undefined => {
    const v = this.room.view(id);
    if (v === undefined) return undefined;
    const o: ShownOriginal = { name: v.name, fingerprint: v.signer, deleted: v.deleted };
    const n = this.numbers.of(id);
    if (n !== undefined) o.n = n;
    const text = v.text ?? v.file?.name ?? v.snippet?.path;
    if (text !== undefined) o.text = text;
    return o;
  };

  /** A message for the screen, numbered, as it shows now (effects known applied). */
  line(m: ChatMessage): string {
    const shown = applyView(m, this.room.view(m.id));
    return formatMessage(shown, this.style, { n: this.numbers.number(m.id), original: this.original });
  }

  /** A change to a message on screen, or undefined. */
  effectLine(e: EffectEvent): string | undefined {
    if (e.change === 'deleted') this.files.forget(e.target);
    return formatEffect(e, this.style, this.numbers.of(e.target));
  }

  /** A file event: complete files are kept for /save; the line to show, or undefined. */
  fileLine(e: FileEvent): string | undefined {
    if (e.state === 'complete') this.kept(e);
    if (e.state === 'failed') this.saveFailed(e.file, e.error);
    return formatFileEvent(e, this.style, this.numbers.of(e.file), this.room.view(e.file)?.file?.name);
  }

  /** --json: the object line of a file event, or undefined. */
  fileJson(e: FileEvent): string | undefined {
    if (e.state === 'complete') this.kept(e);
    if (e.state === 'failed') this.saveFailed(e.file, e.error);
    return jsonFileEvent(e);
  }

  /** --json: the line of an effect. */
  effectJson(e: EffectEvent, withOwn: boolean): string {
    if (e.change === 'deleted') this.files.forget(e.target);
    return jsonEffect(e, withOwn);
  }

  /** --json: a message line (its effects applied). */
  messageJson(m: ChatMessage, withOwn: boolean): string {
    this.numbers.number(m.id);
    return jsonMessage(applyView(m, this.room.view(m.id)), withOwn);
  }

  /**
   * An interactive command of the features (`/reply 3 ok`); false when `cmd` is none of them.
   * Its outcome goes to the sinks; an own message sent is shown numbered.
   */
  async command(cmd: string, arg: string): Promise<boolean> {
    let input: FeatureInput | undefined;
    try {
      input = parseFeatureCommand(cmd, arg, this.numbers);
    } catch (e) {
      this.refused(e);
      return true;
    }
    if (input === undefined) return false;
    await this.run(input, (m) => this.out(this.line(m)));
    return true;
  }

  /** Does what an input asks (a command or a --json object); `shown` gets own content messages. */
  async run(input: FeatureInput, shown: (m: ChatMessage) => void): Promise<void> {
    if (input.kind === 'save') return this.save(input.file, input.path, false).catch((e: unknown) => this.refused(e, 'not saved'));
    try {
      const sent = await sendInput(this.room, input);
      if (sent.message.type !== 'reaction' && sent.message.type !== 'edit' && sent.message.type !== 'delete') shown(sent.message);
      if (sent.file !== undefined) {
        const done = sent.file.done.catch((e: unknown) => this.refused(e));
        this.uploads.add(done);
        void done.finally(() => this.uploads.delete(done));
      }
    } catch (e) {
      this.refused(e);
    }
  }

  /** --json: saves asked for before their file was complete, and uploads, settled. */
  async settled(): Promise<void> {
    await Promise.all([...this.uploads]);
  }

  /** Saves (--json: `wait`, the file may still be arriving) a received file to the user's path. */
  async save(id: string, path: string, wait: boolean): Promise<void> {
    const f = this.files.get(id);
    const n = this.numbers.of(id);
    const what = n !== undefined ? `[${n}]` : 'that message';
    if (f === undefined) {
      const v = this.room.view(id);
      if (v?.file === undefined) throw new FeatureError(v?.deleted === true ? `${what} was deleted` : `${what} is not a file`);
      if (!wait) throw new FeatureError(`${what} is not received whole (yet), or no longer held here; nothing to save`);
      return new Promise((resolve) => {
        const list = this.waitingSaves.get(id) ?? [];
        list.push({ path, resolve });
        this.waitingSaves.set(id, list);
      });
    }
    await saveReceivedFile(f.bytes, path);
    if (wait) this.out(jsonLine({ event: 'saved', file: id, path, size: f.bytes.length }));
    else this.out(this.style.dim(`-- saved ${what} ${terminalSafe(f.info.name)} (${formatSize(f.bytes.length)}) to ${terminalSafe(path)} --`));
  }

  /** --json `{"type":"save"}`: waits for its file (resolved when saved or failed). */
  saveLater(id: string, path: string): Promise<void> {
    return this.save(id, path, true).catch((e: unknown) => this.refused(e, 'not saved'));
  }

  /** How many saves wait for their file. */
  get savesWaiting(): number {
    let n = 0;
    for (const l of this.waitingSaves.values()) n += l.length;
    return n;
  }

  private kept(e: Extract<FileEvent, { state: 'complete' }>): void {
    this.files.keep(e);
    const waiting = this.waitingSaves.get(e.file);
    this.waitingSaves.delete(e.file);
    for (const w of waiting ?? []) void this.save(e.file, w.path, true).catch((x: unknown) => this.refused(x, 'not saved')).finally(w.resolve);
  }

  private saveFailed(file: string, error: string): void {
    const waiting = this.waitingSaves.get(file);
    this.waitingSaves.delete(file);
    for (const w of waiting ?? []) {
      this.err(`not saved to ${terminalSafe(w.path)}: ${error}`);
      w.resolve();
    }
  }

  private refused(e: unknown, what = 'not sent'): void {
    const text = featureErrorText(e);
    if (text === undefined) throw e;
    this.err(`${what}: ${text}`);
  }
}
