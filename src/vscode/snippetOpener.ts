// "Open in editor" for a snippet from the network (PRODUCT.md: open the same place in your own
// checkout). The path is hostile: checkSnippetPath refuses anything that escapes the
// workspace, and for files on disk the real path (symlinks resolved) must stay inside the
// workspace folder too.
import * as vscode from 'vscode';
import { realpath } from 'node:fs/promises';
import { sep } from 'node:path';
import type { SnippetView } from '../shared/messages';
import { checkSnippetPath, snippetRange } from './pathGuard';

async function insideFolder(folder: vscode.Uri, target: vscode.Uri): Promise<boolean> {
  if (folder.scheme !== 'file') return true; // virtual file systems have no symlinks to follow
  try {
    const [root, real] = await Promise.all([realpath(folder.fsPath), realpath(target.fsPath)]);
    return real === root || real.startsWith(root.endsWith(sep) ? root : root + sep);
  } catch {
    return false;
  }
}

async function exists(uri: vscode.Uri): Promise<boolean> {
  try {
    const stat = await vscode.workspace.fs.stat(uri);
    return (stat.type & vscode.FileType.File) !== 0;
  } catch {
    return false;
  }
}

/**
 * The group to open a snippet in, given the chat's: a group that already shows code (not the
 * chat's), else a new one beside the chat.
 */
function columnBeside(chatColumn: vscode.ViewColumn | undefined): vscode.ViewColumn {
  if (chatColumn === undefined) return vscode.ViewColumn.Beside;
  const other = vscode.window.visibleTextEditors.find((e) => e.viewColumn !== undefined && e.viewColumn !== chatColumn);
  return other?.viewColumn ?? vscode.ViewColumn.Beside;
}

/**
 * Opens the snippet's file at its lines beside the chat (in `chatColumn`'s neighbour), or
 * throws an Error whose message says why not.
 */
export async function openSnippet(snippet: SnippetView, chatColumn?: vscode.ViewColumn): Promise<void> {
  const check = checkSnippetPath(snippet.path);
  if (!check.ok) throw new Error(check.reason);
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length === 0) throw new Error(`Open the folder that contains ${check.segments.join('/')} to open this snippet.`);
  for (const folder of folders) {
    const target = vscode.Uri.joinPath(folder.uri, ...check.segments);
    if (!(await exists(target))) continue;
    if (!(await insideFolder(folder.uri, target))) throw new Error('The snippet path leads outside the workspace (through a link); it was not opened.');
    const doc = await vscode.workspace.openTextDocument(target);
    const { from, to } = snippetRange(snippet.start, snippet.end, doc.lineCount);
    const range = new vscode.Range(from, 0, to, doc.lineAt(to).range.end.character);
    const editor = await vscode.window.showTextDocument(doc, { preview: true, viewColumn: columnBeside(chatColumn) });
    // The lines selected, with the cursor on the snippet's first line (anchor at its end).
    editor.selection = new vscode.Selection(range.end, range.start);
    editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
    return;
  }
  throw new Error(`${check.segments.join('/')} is not in this workspace.`);
}
