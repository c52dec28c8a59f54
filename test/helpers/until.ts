// The one wait of the plain-Node suites: poll a condition until it holds, or fail naming what
// was awaited. Tests wait for states, never for a fixed time (docs/testing.md), so a slow,
// loaded machine makes a test slower, not red.

/** How long `until` waits by default: generous, below the usual 30 s mocha timeout of a test. */
export const UNTIL_TIMEOUT_MS = 20_000;

/**
 * Calls `check` every `everyMs` until it returns something other than `undefined` or `false`,
 * and resolves with that. After `timeoutMs` it rejects with "timed out waiting for <what>",
 * followed by `detail()` (e.g. the screen or the output so far) when given.
 */
export async function until<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = UNTIL_TIMEOUT_MS,
  detail?: () => string,
  everyMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${detail ? `\n${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** `until` for a plain condition, condition first (the private-room suites' order); resolves once it holds. */
export async function untilTrue(cond: () => boolean, what: string, timeoutMs = UNTIL_TIMEOUT_MS): Promise<void> {
  await until(what, cond, timeoutMs, undefined, 5);
}
