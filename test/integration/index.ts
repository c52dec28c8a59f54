// Entry point of the integration suite inside a real VS Code extension host: the workbench
// (code-server here, @vscode/test-electron on a desktop, see .vscode-test.mjs) loads the
// extension under development and calls `run()`; a rejection fails the suite. Mocha's output
// goes through console.log, which the host forwards to the test runner.
import Mocha from 'mocha';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

export async function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', reporter: 'spec', color: false, timeout: 60_000 });
  const grep = process.env.SMC_INTEGRATION_GREP;
  if (grep) mocha.grep(grep);
  for (const f of readdirSync(__dirname).sort()) {
    if (f.endsWith('.test.js')) mocha.addFile(join(__dirname, f));
  }
  await mocha.loadFilesAsync();
  const failures = await new Promise<number>((res) => mocha.run(res));
  if (failures > 0) throw new Error(`${failures} integration test(s) failed`);
}
