// The admin token of docs/protocol.md §1.7: the single line of `<data>/admin-token`, created with a
// random value at first start, mode 0600. An empty file disables `admin`. Compared in constant
// time (over SHA-256 digests, so that the length of the token leaks nothing either).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export const ADMIN_TOKEN_FILE = 'admin-token';

export class AdminToken {
  private constructor(private readonly digest: Buffer | undefined) {}

  /** Reads `<dataDir>/admin-token`, creating it (0600, 32 random bytes) when missing. */
  static async load(dataDir: string): Promise<AdminToken> {
    const path = join(dataDir, ADMIN_TOKEN_FILE);
    let token: string;
    try {
      const handle = await open(path, 'wx', 0o600);
      try {
        token = randomBytes(32).toString('base64url');
        await handle.writeFile(token + '\n');
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      token = ((await readFile(path, 'utf8')).split('\n')[0] ?? '').trim();
    }
    return new AdminToken(token === '' ? undefined : sha256(token));
  }

  /** Admin is disabled by an empty token file. */
  get enabled(): boolean {
    return this.digest !== undefined;
  }

  matches(candidate: string | undefined): boolean {
    if (this.digest === undefined || candidate === undefined) return false;
    return timingSafeEqual(this.digest, sha256(candidate));
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
