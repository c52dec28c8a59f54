// $SMC_HOME that cannot be used (not writable, a file, a read-only file system): the file
// stores throw the system's error (EACCES … mkdir '/x/y'), which does not say that the
// directory is $SMC_HOME or how to choose another. The commands turn it into one line that does.
import { isAbsolute, relative, resolve } from 'node:path';
import { smcHome } from '../node/fileStores';

const CAUSES: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'not permitted',
  EROFS: 'read-only file system',
  ENOTDIR: 'a part of the path is a file, not a directory',
  EEXIST: 'a file of that name is in the way',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the path is too long',
};

/** Whether `path` is `dir` or inside it. */
function within(dir: string, path: string): boolean {
  const rel = relative(resolve(dir), resolve(path));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** A one-line explanation if `err` is a file system error on $SMC_HOME (or a parent of it). */
export function homeProblem(err: unknown, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as NodeJS.ErrnoException;
  const cause = e.code !== undefined ? CAUSES[e.code] : undefined;
  if (cause === undefined || typeof e.path !== 'string') return undefined;
  const home = smcHome(env);
  // mkdir of a parent fails first when $SMC_HOME does not exist yet: that path is above it.
  if (!within(home, e.path) && !within(e.path, home)) return undefined;
  const origin = env.SMC_HOME !== undefined && env.SMC_HOME.length > 0 ? 'SMC_HOME' : 'the default SMC_HOME';
  return `cannot use ${home} (${origin}), where smc keeps its keys and state: ${cause} (${e.code}${e.syscall !== undefined ? ` on ${e.syscall}` : ''} ${e.path}). ` +
    'Set SMC_HOME to a directory you can write (it is created, mode 0700), or fix the permissions of this one';
}
