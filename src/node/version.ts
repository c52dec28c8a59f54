// The program's version: injected at build time by esbuild (`__SMC_VERSION__`), or read from
// package.json when running the tsc output under out/ (tests), where no define exists.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

function fromPackageJson(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'smc' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not here: look one level up
    }
    dir = dirname(dir);
  }
  return '0.0.0-dev';
}

export const SMC_VERSION: string = typeof __SMC_VERSION__ === 'string' ? __SMC_VERSION__ : fromPackageJson();
