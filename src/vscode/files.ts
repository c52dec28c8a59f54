// Files in the chat panel (docs/protocol.md §2.3.5): sending one picked in VS Code's open dialog
// or pasted into the composer, saving a received one through VS Code's save dialog, and the
// bytes of a verified image for the panel to decode itself (never a URL: the CSP stays as it is,
// docs/extension.md "The chat panel's security").
import * as vscode from 'vscode';
import { MAX_FILE_BYTES, fileNameProblem, isPreviewableImage, mimeForFileName, mimeProblem, sendableFileName } from '../core/payload';
import type { ChatSession } from './chatSession';
import { previewableSize } from './filesImage';

const num = (n: number): string => n.toLocaleString('en-US');

/** The name and type a file is sent under: the local name made sendable, the type checked (§2.3.5). */
export function outgoingFileMeta(localName: string, mime?: string): { name: string; mime: string } {
  const name = sendableFileName(localName);
  const type = mime !== undefined && mime !== '' && mimeProblem(mime) === undefined ? mime : mimeForFileName(name);
  return { name, mime: type };
}

/** Refuses a file over 8 MiB before reading it (§2.3.5 "Sending"). */
export function fileTooLarge(size: number): string | undefined {
  return size > MAX_FILE_BYTES ? `This file is too large to send: ${num(size)} bytes, and a file can be at most ${num(MAX_FILE_BYTES)} bytes (8 MiB).` : undefined;
}

/** SMC: Send File… and the panel's attach button: the open dialog, then the file. */
export async function pickAndSendFile(session: ChatSession): Promise<void> {
  const picked = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: 'Send to the room', title: 'Send a file to the room' });
  const uri = picked?.[0];
  if (!uri) return;
  const stat = await vscode.workspace.fs.stat(uri);
  const big = fileTooLarge(stat.size);
  if (big) throw new Error(big);
  const bytes = await vscode.workspace.fs.readFile(uri);
  const again = fileTooLarge(bytes.length);
  if (again) throw new Error(again);
  const local = uri.path.split('/').pop() ?? 'file';
  await session.sendFile({ ...outgoingFileMeta(local), bytes });
}

/** A file pasted into the composer (its bytes as base64 from the webview, checked again here). */
export async function sendPastedFile(session: ChatSession, name: string, mime: string, data: string): Promise<string> {
  const bytes = Buffer.from(data, 'base64');
  const big = fileTooLarge(bytes.length);
  if (big) throw new Error(big);
  return (await session.sendFile({ ...outgoingFileMeta(name, mime), bytes })).key;
}

/**
 * A complete file to save where the user chooses (§2.3.5 "Saving": the name is only a
 * suggestion), or an Error. Its name was checked by the protocol's rule (no path, no device
 * name), and is checked again.
 */
export function fileToSave(session: ChatSession, key: string): { name: string; bytes: Buffer } {
  const room = session.currentRoom;
  const item = room ? session.timeline(room.room).get(key) : undefined;
  if (!room || !item?.file || item.deleted) throw new Error('This file is no longer available.');
  if (item.file.state !== 'complete') throw new Error(item.file.state === 'failed' ? `This file failed: ${item.file.error ?? 'it could not be verified'}.` : 'This file has not arrived completely yet.');
  const bytes = session.features(room.room).fileBytes(key);
  if (!bytes) throw new Error('This file is no longer held in memory; ask its sender to send it again.');
  return { name: fileNameProblem(item.file.name) === undefined ? item.file.name : 'file', bytes };
}

/** The save dialog for a file checked by fileToSave; resolves when the user has chosen (or not). */
export async function saveWithDialog(file: { name: string; bytes: Buffer }): Promise<void> {
  const { name, bytes } = file;
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  const target = await vscode.window.showSaveDialog({
    title: `Save "${name}" from the chat`,
    saveLabel: 'Save',
    ...(folder ? { defaultUri: vscode.Uri.joinPath(folder, name) } : {}),
  });
  if (!target) return;
  await vscode.workspace.fs.writeFile(target, bytes);
  void vscode.window.showInformationMessage(`Saved ${name} (${num(bytes.length)} bytes).`);
}

/** The bytes of a verified image for the panel, only when its type and signature agree (§2.3.5 "Images"). */
export function imageBytes(session: ChatSession, key: string): { mime: string; data: string } {
  const room = session.currentRoom;
  const item = room ? session.timeline(room.room).get(key) : undefined;
  const bytes = room && item?.file && !item.deleted ? session.features(room.room).fileBytes(key) : undefined;
  if (!item?.file || !bytes || !isPreviewableImage(item.file.mime, bytes) || !previewableSize(item.file.mime, bytes)) throw new Error('This file cannot be previewed.');
  return { mime: item.file.mime, data: bytes.toString('base64') };
}
