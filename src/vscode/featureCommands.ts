// The palette commands of the chat features (issue 12): SMC: Share Diff and SMC: Send File…,
// and the content provider of the patch previews. Registered by extension.ts beside commands.ts.
import * as vscode from 'vscode';
import type { ChatSession } from './chatSession';
import { registerPatchPreviews, shareDiff } from './diffShare';
import { pickAndSendFile } from './files';

export function registerFeatureCommands(session: ChatSession, openChat: () => void): vscode.Disposable[] {
  const run = (what: () => Promise<void>) => async (): Promise<void> => {
    try {
      await what();
    } catch (e) {
      void vscode.window.showErrorMessage(`SMC: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  return [
    registerPatchPreviews(),
    vscode.commands.registerCommand('smc.shareDiff', run(async () => {
      await shareDiff(session);
      openChat();
    })),
    vscode.commands.registerCommand('smc.sendFile', run(() => pickAndSendFile(session))),
  ];
}
