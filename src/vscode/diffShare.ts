// Share Diff (issue 12; docs/protocol.md §2.3.6): SMC: Share Diff sends the working tree's
// `git diff` (or one file's) as a patch; the reader previews it in VS Code's diff editor and may
// apply it to their checkout after confirming. A patch from the network is hostile: its paths
// passed patchPaths (no `..`, no `.git`, no symbolic link or submodule) when it was received, and
// are checked again here through the snippets' path guard, each resolved inside the workspace
// folder with links followed; `git apply --check` runs before anything is written.
import * as vscode from 'vscode';
import { spawn } from 'node:child_process';
import { realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { MAX_PATCH_DIFF_BYTES, patchPaths, type PatchShare } from '../core/payload';
import type { ChatSession } from './chatSession';
import type { PatchView } from '../shared/messages';
import { markInvisible } from '../shared/visibleText';
import { applyHunks, patchTarget, splitDiff } from './diffShareApply';
import { checkSnippetPath } from './pathGuard';

/** The scheme of the preview's right-hand (patched) documents. */
export const PATCH_SCHEME = 'smc-patch';

interface Run { code: number; stdout: string; stderr: string }

/** Runs git without a shell (arguments are never parsed by one), `input` on its stdin. */
function git(cwd: string, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn('git', args, { cwd, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => resolve({ code: -1, stdout: '', stderr: e.message }));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.end(input ?? '');
  });
}

const firstLine = (s: string): string => s.split('\n').find((l) => l.trim() !== '')?.trim() ?? '';

/** The workspace folder of the active editor, else the first one. */
function currentFolder(): vscode.WorkspaceFolder | undefined {
  const active = vscode.window.activeTextEditor?.document.uri;
  return (active ? vscode.workspace.getWorkspaceFolder(active) : undefined) ?? vscode.workspace.workspaceFolders?.[0];
}

/** SMC: Share Diff: the working tree's changes, or the active file's, to the current room. */
export async function shareDiff(session: ChatSession): Promise<void> {
  const folder = currentFolder();
  if (!folder || folder.uri.scheme !== 'file') throw new Error('Open a folder under git to share its diff.');
  const top = await git(folder.uri.fsPath, ['rev-parse', '--show-toplevel']);
  if (top.code !== 0) throw new Error(`${folder.name} is not in a git repository: ${firstLine(top.stderr)}`);
  const topDir = top.stdout.trim();
  // §2.3.6 `root`: the repository's top level relative to the workspace folder; a folder inside
  // a repository shares its own part, relative to itself (`--relative`).
  const rel = relative(folder.uri.fsPath, topDir);
  const inside = rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
  const cwd = inside ? topDir : folder.uri.fsPath;
  const root = inside ? rel.split(sep).join('/') : '';
  const args = ['diff', '--no-color', '--no-ext-diff', '--src-prefix=a/', '--dst-prefix=b/', ...(inside ? [] : ['--relative'])];
  const active = vscode.window.activeTextEditor?.document.uri;
  const activeRel = active?.scheme === 'file' ? relative(cwd, active.fsPath) : undefined;
  if (activeRel !== undefined && activeRel !== '' && !activeRel.startsWith('..') && !isAbsolute(activeRel)) {
    const all = { label: 'All changes in the working tree', scope: undefined as string | undefined };
    const one = { label: `Changes to ${activeRel.split(sep).join('/')}`, scope: activeRel };
    const pick = await vscode.window.showQuickPick([all, one], { title: 'SMC: Share Diff', placeHolder: 'Which changes to share with the room?' });
    if (!pick) return;
    if (pick.scope !== undefined) args.push('--', pick.scope);
  }
  const diff = await git(cwd, args);
  if (diff.code !== 0) throw new Error(`git diff failed: ${firstLine(diff.stderr)}`);
  if (diff.stdout.trim() === '') {
    void vscode.window.showInformationMessage('SMC: there are no changes to share (git diff is empty).');
    return;
  }
  const head = await git(cwd, ['rev-parse', 'HEAD']);
  const base = head.code === 0 && /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(head.stdout.trim()) ? head.stdout.trim() : undefined;
  if (Buffer.byteLength(diff.stdout, 'utf8') > MAX_PATCH_DIFF_BYTES) {
    // §2.3.6: a larger diff goes as a file of type text/x-diff.
    await session.sendFile({ name: 'changes.diff', mime: 'text/x-diff', bytes: Buffer.from(diff.stdout, 'utf8') });
    void vscode.window.showInformationMessage('SMC: the diff is larger than 32 KiB; it was sent as the file changes.diff.');
    return;
  }
  const read = patchPaths(diff.stdout);
  if (!read.ok) throw new Error(`This diff cannot be shared: ${read.reason}.`);
  const patch: PatchShare = { root, paths: read.paths, diff: diff.stdout, ...(base !== undefined ? { base } : {}) };
  await session.sendPatch(patch);
}

/** The shared patch of an item of the current room, or an Error. */
function patchOf(session: ChatSession, key: string): { patch: PatchView; name: string } {
  const room = session.currentRoom;
  const item = room ? session.timeline(room.room).get(key) : undefined;
  if (!item?.patch || item.deleted) throw new Error('This patch is no longer available.');
  return { patch: item.patch, name: item.name };
}

/**
 * The folder a patch applies in: the reader's workspace folder joined with `root`, every path
 * of the patch checked by the snippets' guard and resolved (links followed) inside the folder.
 */
async function applyDir(patch: PatchView): Promise<{ folder: vscode.WorkspaceFolder; dir: string }> {
  const folder = currentFolder();
  if (!folder || folder.uri.scheme !== 'file') throw new Error('Open the folder this patch is for to preview or apply it.');
  const target = await patchTarget(await realpath(folder.uri.fsPath), patch.root, patch.paths, { realpath, checkPath: checkSnippetPath });
  if (!target.ok) throw new Error(target.reason);
  return { folder, dir: target.dir };
}

/** The preview's patched documents, by URI path. */
const previews = new Map<string, string>();
let previewCount = 0;

/** Registers the content provider of the preview's patched side. */
export function registerPatchPreviews(): vscode.Disposable {
  return vscode.workspace.registerTextDocumentContentProvider(PATCH_SCHEME, {
    provideTextDocumentContent: (uri) => previews.get(uri.path) ?? '',
  });
}

/** Opens the diff editor: the reader's file on the left, the file as the patch would make it on the right. */
export async function previewPatch(session: ChatSession, key: string): Promise<void> {
  const { patch, name } = patchOf(session, key);
  const { dir } = await applyDir(patch);
  const files = splitDiff(patch.diff);
  const resources: [vscode.Uri, vscode.Uri, vscode.Uri][] = [];
  const id = ++previewCount;
  for (const f of files) {
    const path = f.newPath ?? f.oldPath;
    if (path === undefined) continue;
    let original = '';
    if (f.oldPath !== undefined) {
      try {
        original = Buffer.from(await vscode.workspace.fs.readFile(vscode.Uri.file(join(dir, ...f.oldPath.split('/'))))).toString('utf8');
      } catch {
        throw new Error(`${markInvisible(f.oldPath)} is not in your checkout: the patch does not apply here.`);
      }
    }
    const patched = f.binary ? undefined : f.newPath === undefined ? '' : applyHunks(original, f.hunks);
    if (patched === undefined) throw new Error(`The patch does not apply to your copy of ${markInvisible(path)} (its lines differ).`);
    const left = vscode.Uri.from({ scheme: PATCH_SCHEME, path: `/${id}/before/${path}` });
    const right = vscode.Uri.from({ scheme: PATCH_SCHEME, path: `/${id}/after/${path}` });
    previews.set(left.path, original);
    previews.set(right.path, patched);
    resources.push([vscode.Uri.file(join(dir, ...path.split('/'))), left, right]);
  }
  if (resources.length === 0) throw new Error('This patch changes no text file that can be previewed.');
  const title = `Patch from ${markInvisible(name)}`;
  if (resources.length === 1) {
    const [resource, left, right] = resources[0]!;
    await vscode.commands.executeCommand('vscode.diff', left, right, `${title}: ${markInvisible(relative(dir, resource.fsPath))}`, { preview: true });
  } else {
    await vscode.commands.executeCommand('vscode.changes', title, resources);
  }
}

/**
 * Checks that the patch applies to the reader's checkout (`git apply --check`), or throws an
 * Error that says why not; then `confirm` asks and applies (returned, not awaited by the panel:
 * a modal may stay open longer than a panel request waits).
 */
export async function checkPatch(session: ChatSession, key: string): Promise<{ confirm: () => Promise<void> }> {
  const { patch, name } = patchOf(session, key);
  const { dir } = await applyDir(patch);
  const check = await git(dir, ['apply', '--check', '--verbose', '-'], patch.diff);
  if (check.code !== 0) {
    throw new Error(`The patch from ${markInvisible(name)} does not apply to your checkout; nothing was changed. git says: ${markInvisible(lastProblem(check.stderr))}`);
  }
  return {
    confirm: async () => {
      const list = patch.paths.slice(0, 20).map((p) => `  ${markInvisible(p)}`).join('\n');
      const more = patch.paths.length > 20 ? `\n  … and ${patch.paths.length - 20} more` : '';
      const apply = { title: 'Apply Patch' };
      const choice = await vscode.window.showWarningMessage(
        `Apply the patch from ${markInvisible(name)} to your checkout?`,
        { modal: true, detail: `It changes ${patch.paths.length} file${patch.paths.length === 1 ? '' : 's'} in ${markInvisible(dir)}:\n${list}${more}\n\nPreview it first if you have not.` },
        apply,
      );
      if (choice !== apply) return;
      const done = await git(dir, ['apply', '-'], patch.diff);
      if (done.code !== 0) throw new Error(`The patch could not be applied; git says: ${markInvisible(lastProblem(done.stderr))}`);
      void vscode.window.showInformationMessage(`SMC: applied the patch from ${markInvisible(name)} (${patch.paths.length} file${patch.paths.length === 1 ? '' : 's'}).`);
    },
  };
}

/** git's "error: …" line (its verbose output starts with "Checking patch …"). */
function lastProblem(stderr: string): string {
  return stderr.split('\n').find((l) => l.startsWith('error:'))?.trim() ?? firstLine(stderr);
}
