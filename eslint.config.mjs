// Lint rules that hold the architecture in place (README "Development", docs/extension.md):
// only src/vscode/ may import 'vscode'; src/core/ imports no Node built-in but node:crypto and
// none of the programs around it; the webview never imports Node built-ins; nothing uses
// Math.random for anything.
//
// What src/core/ may import, and why: it is the code the terminal client, the relay's tests and
// the VS Code extension host share, so it may use only what all of them have. node:crypto (and
// the Buffer global) exist in Node and in VS Code's Electron extension host alike, and
// re-implementing AES-GCM, HKDF or Ed25519 would be worse than a dependency; so node:crypto is
// allowed and nothing else of Node. What touches the platform (sockets, files, threads, timers'
// unref) comes in from outside as the transport does (src/core/client/types.ts Transport,
// src/core/keys/stores.ts SecretStore/StateStore, the SignatureVerifier seam), implemented in
// src/node/ or src/vscode/. Small rules that would need another module are written in plain
// TypeScript (src/core/hostPort.ts checks IP addresses as node:net does). Pure npm packages
// (unhomoglyph) are allowed. src/core/ never imports src/node, src/cli, src/relay, src/vscode.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const VSCODE_ONLY_IN_EXTENSION = { name: 'vscode', message: 'Only src/vscode/ may import vscode: the core runs in plain Node.' };
// Bare names ('fs', 'fs/promises') and node: names, except crypto (see above).
const CORE_FORBIDDEN_BUILTINS = [
  ...builtinModules.filter((m) => !m.startsWith('_') && m !== 'crypto'),
  ...builtinModules.filter((m) => !m.startsWith('_')).map((m) => `node:${m}`).filter((m) => m !== 'node:crypto'),
  'crypto',
];

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', '.vscode-test/**', 'test-results/**', '.smc/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'Use node:crypto (or crypto.getRandomValues in the webview).' }],
    },
  },
  {
    files: ['src/**/*.ts', 'test/unit/**/*.ts', 'test/system/**/*.ts', 'bench/**/*.ts', 'scripts/**'],
    ignores: ['src/vscode/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: [VSCODE_ONLY_IN_EXTENSION] }],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [
          VSCODE_ONLY_IN_EXTENSION,
          ...CORE_FORBIDDEN_BUILTINS.map((name) => ({
            name,
            message: name === 'crypto'
              ? "Write 'node:crypto'."
              : 'src/core/ imports no Node built-in but node:crypto: take the platform as a parameter (a transport, a store) implemented in src/node/ (eslint.config.mjs says why).',
          })),
        ],
        patterns: [{
          regex: '^(\\.\\./)+(node|cli|relay|vscode)(/|$)',
          message: 'src/core/ is what the programs share: it never imports src/node, src/cli, src/relay or src/vscode.',
        }],
      }],
    },
  },
  {
    // test/unit runs first and fast (docs/testing.md): a test that starts a process or opens a
    // socket belongs in test/system.
    files: ['test/unit/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'vscode', message: 'Only src/vscode/ may import vscode: the core runs in plain Node.' }],
        patterns: [{
          group: ['node:child_process', 'child_process', 'node:net', 'net', 'node:tls', 'tls', 'node:http', 'http', 'node:https', 'https', '**/helpers/relayProcess', '**/helpers/lineClient', '**/helpers/scriptedRelay', '**/helpers/replayProxy', '**/helpers/postgres', '**/helpers/cliProcess', '**/helpers/terminal'],
          message: 'test/unit is pure logic in one process: a test that starts a process or opens a socket goes in test/system (docs/testing.md).',
        }],
      }],
    },
  },
  {
    // The extension and the terminal client are two programs over the same core: neither
    // imports the other (what both need, such as the version, lives in src/node or src/core).
    files: ['src/vscode/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^(\\.\\./)+cli(/|$)', message: 'src/vscode/ never imports the CLI (src/cli): put what both need in src/node/ or src/core/.' }] }],
    },
  },
  {
    files: ['src/shared/**/*.ts', 'webview/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'vscode', message: 'The webview and the shared message map never import vscode.' }],
        patterns: [{ group: ['node:*', 'fs', 'net', 'crypto', 'path', 'os', 'child_process'], message: 'The webview runs in a browser: no Node built-ins.' }],
      }],
    },
  },
  {
    files: ['scripts/**/*.mjs', 'eslint.config.mjs', '.vscode-test.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
