// @vscode/test-cli configuration: runs the same integration suite (test/integration/, compiled
// to out/test/integration/) in a desktop VS Code downloaded by @vscode/test-electron, for
// contributors with internet access and a display:
//   npm run build && npx tsc -p tsconfig.json --outDir out && npx vscode-test
// Offline machines and CI run it in code-server instead (scripts/test-host.mjs); see
// docs/testing.md. Both load the work tree as the extension under development.
import { defineConfig } from '@vscode/test-cli';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Fresh folders per run: the keys test searches everything this VS Code writes for the room
// key, so it must know the user data folder (SMC_TEST_USER_DATA_DIR).
const userDataDir = mkdtempSync(join(tmpdir(), 'smc-vscode-ud-'));

export default defineConfig({
  label: 'integration',
  files: 'out/test/integration/**/*.test.js',
  version: 'stable',
  // A fresh, empty workspace: the suite must not depend on (or write into) the repository.
  workspaceFolder: mkdtempSync(join(tmpdir(), 'smc-ws-integration-')),
  launchArgs: ['--disable-extensions', '--disable-workspace-trust', `--user-data-dir=${userDataDir}`],
  env: { SMC_TEST_USER_DATA_DIR: userDataDir },
  mocha: { ui: 'bdd', timeout: 60_000, color: true },
});
