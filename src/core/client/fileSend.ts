// What sending a file takes in either kind of room (docs/protocol.md §2.3.5): the file message
// and its chunks made from what a UI hands over, and the promise that says when all are acked.
// RelayClient (link rooms) and LocalFeatureRoom (private rooms) each queue them their own way.
import { fileMessages } from '../payload/fileTransfer';
import type { ClientError, OutgoingFileContent } from './types';

/** §2.3.5: the file message (id `id`) and its chunks (ids from `newId`); throws PayloadTooLargeError over 8 MiB. */
export function filePayloads(file: OutgoingFileContent, id: string, ts: number, name: string, newId: () => string): ReturnType<typeof fileMessages> {
  return fileMessages({
    id, ts, name, fileName: file.name, bytes: file.bytes,
    ...(file.mime !== undefined ? { mime: file.mime } : {}),
    ...(file.text !== undefined && file.text !== '' ? { text: file.text } : {}),
    ...(file.reply !== undefined ? { reply: file.reply } : {}),
    ...(file.mentions !== undefined ? { mentions: file.mentions } : {}),
  }, newId);
}

/** A file being sent: how many chunks follow its message, which of its sends are not acked yet, and its `done`. */
export interface FileUpload {
  /** The file message's id. */
  file: string;
  chunks: number;
  /** The ids of the file message and its chunks not acked yet. */
  unacked: Set<string>;
  /** Chunks acked so far. */
  acked: number;
  resolve(): void;
  reject(err: ClientError): void;
}

/** An upload's `done`, settled by the sender; a caller that never waits for it gets no unhandled rejection. */
export function uploadDone(): { done: Promise<void>; resolve(): void; reject(err: ClientError): void } {
  let resolve!: () => void;
  let reject!: (err: ClientError) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  done.catch(() => undefined);
  return { done, resolve, reject };
}
