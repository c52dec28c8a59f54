// The extension's settings (package.json contributes.configuration), read in one place.
import * as vscode from 'vscode';
import { userInfo } from 'node:os';

export interface Settings {
  relayHost: string;
  relayPort: number;
  displayName: string;
  localRelayHost: string;
  localRelayPort: number;
  notifications: boolean;
}

function port(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65_535 ? value : fallback;
}

function defaultDisplayName(): string {
  try {
    const name = userInfo().username;
    return name.length > 0 ? name : 'anonymous';
  } catch {
    return 'anonymous';
  }
}

/** A display name as §2.3 allows it: 1-64 characters, no control characters. */
export function cleanDisplayName(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  // eslint-disable-next-line no-control-regex
  const s = raw.replace(/[\u0000-\u001F\u007F]/g, '').trim();
  const chars = [...s];
  if (chars.length === 0) return undefined;
  return chars.slice(0, 64).join('');
}

export function readSettings(): Settings {
  const c = vscode.workspace.getConfiguration('smc');
  const host = c.get<string>('relay.host')?.trim() || '127.0.0.1';
  const localHost = c.get<string>('localRelay.host')?.trim() || '127.0.0.1';
  return {
    relayHost: host,
    relayPort: port(c.get('relay.port'), 7878),
    displayName: cleanDisplayName(c.get('displayName')) ?? cleanDisplayName(defaultDisplayName()) ?? 'anonymous',
    localRelayHost: localHost,
    localRelayPort: port(c.get('localRelay.port'), 7878),
    notifications: c.get<boolean>('notifications') ?? true,
  };
}

/** Loopback bind addresses need no confirmation; anything else exposes the relay. */
export function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || /^127\./.test(host);
}
