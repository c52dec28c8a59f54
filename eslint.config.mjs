// Lint rules that hold the architecture in place (STYLE.md): only src/vscode/ may import
// 'vscode'; the webview never imports Node built-ins; nothing uses Math.random for anything.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
      'no-restricted-imports': ['error', { paths: [{ name: 'vscode', message: 'Only src/vscode/ may import vscode: the core runs in plain Node.' }] }],
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
