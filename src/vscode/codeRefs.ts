// References like `src/relay/server.ts:120` in any message (issue 12): a click opens that place
// in the reader's own workspace, through the same path guard as snippets (pathGuard.ts,
// snippetOpener.ts): nothing outside a workspace folder, no link followed out of it.
import type * as vscode from 'vscode';
import { openSnippet } from './snippetOpener';

/** Opens `path` at `line` beside the chat, or throws an Error that says why not. */
export async function openCodeRef(path: string, line: number, chatColumn?: vscode.ViewColumn): Promise<void> {
  try {
    await openSnippet({ lang: '', path, start: line, end: line, code: '' }, chatColumn);
  } catch (e) {
    // The guard's words name a "snippet"; here it is a reference in a message.
    throw new Error((e instanceof Error ? e.message : String(e)).replace(/snippet path/g, 'path').replace(/this snippet/g, 'it'));
  }
}
