// The "Chat end to end with SMC" walkthrough (package.json contributes.walkthroughs) ticks a step
// when its work is done, however it was done: from the walkthrough's button, the palette, a
// keybinding or a notification. VS Code's walkthrough service is created lazily (when the
// Welcome page is first shown), so its `onCommand:` completion events miss every command run
// before that, e.g. SMC: Start Relay from the palette (issue 11). Two signals cover both cases:
// - a context key per step (`smc.walkthrough.relay`…), which the steps' `onContext:` completion
//   events watch while the service exists;
// - `welcome.markStepComplete` with the step's full id, which creates the service if needed and
//   records the step as done (it is stored, so it stays ticked after a reload).
import * as vscode from 'vscode';

/** The walkthrough's id in package.json. */
export const WALKTHROUGH_ID = 'smc.gettingStarted';

/** Step ids in package.json, by what completes them. */
export const WALKTHROUGH_STEPS = {
  relay: 'smc.relay',
  room: 'smc.room',
  invite: 'smc.invite',
  chat: 'smc.chat',
} as const;
export type WalkthroughStep = keyof typeof WALKTHROUGH_STEPS;

/** The context key the step's `onContext:` completion event watches. */
export function stepContextKey(step: WalkthroughStep): string {
  return `smc.walkthrough.${step}`;
}

/** `publisher.name#walkthrough#step`, the id VS Code gives an extension's walkthrough step. */
export function fullStepId(extensionId: string, step: WalkthroughStep): string {
  return `${extensionId}#${WALKTHROUGH_ID}#${WALKTHROUGH_STEPS[step]}`;
}

export class Walkthrough {
  private readonly done = new Set<WalkthroughStep>();

  constructor(private readonly extensionId: string, private readonly log: (event: string, fields?: Record<string, unknown>) => void) {}

  /** Marks a step done (once per session); never throws: the walkthrough is a nicety. */
  complete(step: WalkthroughStep): void {
    if (this.done.has(step)) return;
    this.done.add(step);
    void Promise.resolve(vscode.commands.executeCommand('setContext', stepContextKey(step), true)).catch(() => undefined);
    // An internal workbench command (VS Code ≥ 1.56, code-server included); if a host lacks it,
    // the context key and the onCommand events still tick the step while the page is open.
    void Promise.resolve(vscode.commands.executeCommand('welcome.markStepComplete', fullStepId(this.extensionId, step))).catch((e: unknown) => {
      this.log('walkthrough step not marked', { step, error: e instanceof Error ? e.message : String(e) });
    });
  }
}
