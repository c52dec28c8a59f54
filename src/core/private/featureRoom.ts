// The chat features (docs/protocol.md §2.3.1-2.3.6) for a room whose client is not RelayClient:
// a private room (§3.3: the payload P is the same, sealed by MLS). Its verified messages go
// through a RoomFeatures here, as RelayClient's do for link rooms, and its sends through the
// same checks, so that `smc chat` and the panel show and refuse the same things in both kinds
// of room. No MLS here: the room is only a PayloadSender.
import { RoomFeatures } from '../client/roomFeatures';
import { ClientError, type ChatMessage, type EffectEvent, type FileEvent, type MessageView, type OutgoingContent, type OutgoingFileContent, type ReplyRef } from '../client/types';
import { PayloadTooLargeError, type Payload } from '../crypto/payload';
import { filePayloads, uploadDone, type FileUpload } from '../client/fileSend';

/** What a private room offers to send: any §2.3 payload, checked by encodePayload (ClientError). */
export interface PayloadSender {
  sendText(text: string): ChatMessage;
  sendPayload(content: Omit<Payload, 'id' | 'ts' | 'name'>): ChatMessage;
}

export interface LocalFeatureEvents {
  message(m: ChatMessage): void;
  effects(e: EffectEvent): void;
  file(e: FileEvent): void;
  /**
   * §3.3: an own message goes on under a new id (the room's `renamed`), its bookkeeping here
   * already moved: a UI re-keys what it shows of `from` (its number, its item, its features).
   */
  renamed?(from: string, to: string): void;
}


/** A file being sent: its message, how many chunks follow it, and when all are acked. */
export interface FileSend {
  message: ChatMessage;
  chunks: number;
  done: Promise<void>;
}

export class LocalFeatureRoom {
  private readonly features: RoomFeatures;
  private readonly uploads = new Map<string, FileUpload>();
  /** Chunk id -> its file's upload. */
  private readonly chunkOf = new Map<string, FileUpload>();

  constructor(
    private readonly room: string,
    ownFingerprint: string,
    private readonly sender: PayloadSender,
    private readonly events: LocalFeatureEvents,
  ) {
    this.features = new RoomFeatures(room, ownFingerprint);
  }

  /** A verified message of the room: to the features, then to the events (chunks become file events). */
  receive(m: ChatMessage): void {
    const out = this.features.receive(m);
    if (out.message !== undefined) this.events.message(out.message);
    for (const e of out.effects) this.events.effects(e);
    for (const f of out.files) this.events.file(f);
  }

  /** An own message's fate (the private room's `outgoing`): a file's progress. */
  outgoing(o: { id: string; state: string; error?: string }): void {
    const upload = this.chunkOf.get(o.id) ?? this.uploads.get(o.id);
    if (upload === undefined) return;
    if (o.state === 'failed') {
      this.forget(upload);
      upload.reject(new ClientError('relay_error', `The file could not be sent: ${o.error ?? 'refused by the relay'}`));
      return;
    }
    if (o.state !== 'sent' || !upload.unacked.delete(o.id)) return;
    if (o.id !== upload.file) {
      upload.acked++;
      this.events.file({ room: this.room, file: upload.file, state: 'uploading', acked: upload.acked, chunks: upload.chunks });
    }
    if (upload.unacked.size > 0) return;
    this.forget(upload);
    this.events.file({ room: this.room, file: upload.file, state: 'uploaded', chunks: upload.chunks });
    upload.resolve();
  }

  sendText(text: string): ChatMessage {
    return this.sent(this.sender.sendText(text));
  }

  sendPayload(content: OutgoingContent): ChatMessage {
    const problem = this.features.outgoingProblem(content);
    if (problem !== undefined) throw new ClientError('invalid_message', `This message cannot be sent: ${problem}.`);
    const p: Omit<Payload, 'id' | 'ts' | 'name'> = { type: content.type };
    for (const f of ['text', 'snippet', 'reply', 'mentions', 'target', 'emoji', 'patch'] as const) {
      if (content[f] !== undefined) (p as Record<string, unknown>)[f] = content[f];
    }
    return this.sent(this.sender.sendPayload(p));
  }

  /**
   * §2.3.5: the file message, then its chunks (their `target` is the id the room gave the file
   * message). Checked whole before anything is sent: over 8 MiB, or a name against the rules.
   */
  sendFile(file: OutgoingFileContent): FileSend {
    let parts: ReturnType<typeof filePayloads>;
    try {
      // The ids, time and name are the room's to give (sendPayload): placeholders until then.
      parts = filePayloads(file, 'AAAAAAAAAAAAAAAAAAAAAA', 0, 'x', () => 'AAAAAAAAAAAAAAAAAAAAAA');
    } catch (err) {
      if (err instanceof PayloadTooLargeError) throw new ClientError('message_too_large', err.message, this.room);
      throw err;
    }
    const strip = ({ id: _id, ts: _ts, name: _name, ...rest }: Payload): Omit<Payload, 'id' | 'ts' | 'name'> => rest;
    const message = this.sent(this.sender.sendPayload(strip(parts.file)));
    const { done, resolve, reject } = uploadDone();
    const upload: FileUpload = { file: message.id, chunks: parts.chunks.length, unacked: new Set([message.id]), acked: 0, resolve, reject };
    this.uploads.set(message.id, upload);
    for (const c of parts.chunks) {
      const sent = this.sender.sendPayload({ ...strip(c), target: message.id });
      upload.unacked.add(sent.id);
      this.chunkOf.set(sent.id, upload);
    }
    return { message, chunks: parts.chunks.length, done };
  }

  /**
   * The private room's `renamed` (§3.3): an own message that was stale for everyone went again
   * under a new id. A file's upload follows it (it completes when the new ids are acked), the
   * features know the message under its new id (a later edit, reply or reaction of it names
   * the new id, and others' effects on it apply), then the UI is told.
   */
  renamed(from: string, to: string): void {
    const upload = this.uploads.get(from) ?? this.chunkOf.get(from);
    if (upload !== undefined) {
      if (upload.unacked.delete(from)) upload.unacked.add(to);
      if (upload.file === from) {
        this.uploads.delete(from);
        upload.file = to;
        this.uploads.set(to, upload);
      } else {
        this.chunkOf.delete(from);
        this.chunkOf.set(to, upload);
      }
    }
    this.features.renamed(from, to);
    this.events.renamed?.(from, to);
  }

  replyTo(id: string): ReplyRef | undefined {
    return this.features.replyTo(id);
  }

  view(id: string): MessageView | undefined {
    return this.features.view(id);
  }

  private sent(m: ChatMessage): ChatMessage {
    for (const e of this.features.sent(m)) this.events.effects(e);
    return m;
  }

  private forget(upload: FileUpload): void {
    this.uploads.delete(upload.file);
    for (const id of upload.unacked) this.chunkOf.delete(id);
  }
}
