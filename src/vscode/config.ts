// The extension's settings (package.json contributes.configuration), read in one place.
import * as vscode from 'vscode';
import { userInfo } from 'node:os';
import { isPort } from '../core/hostPort';
import { displayNameFromLogin } from '../core/keys/displayName';

export interface Settings {
  relayHost: string;
  relayPort: number;
  displayName: string;
  localRelayHost: string;
  localRelayPort: number;
  notifications: boolean;
}

function port(value: unknown, fallback: number): number {
  return typeof value === 'number' && isPort(value) ? value : fallback;
}

function loginName(): string {
  try {
    return userInfo().username;
  } catch {
    return '';
  }
}

/**
 * The configured display name, trimmed, or undefined when there is none. It is not cleaned
 * further: a name with invisible or bidi control characters is refused where it would be sent
 * (displayNameProblem in src/core/keys/displayName.ts, the one rule), with an error that says
 * so, rather than silently changed into another name.
 */
export function cleanDisplayName(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const s = raw.trim();
  return s.length === 0 ? undefined : s;
}


export function readSettings(): Settings {
  const c = vscode.workspace.getConfiguration('smc');
  const host = c.get<string>('relay.host')?.trim() || '127.0.0.1';
  const localHost = c.get<string>('localRelay.host')?.trim() || '127.0.0.1';
  return {
    relayHost: host,
    relayPort: port(c.get('relay.port'), 7878),
    displayName: cleanDisplayName(c.get('displayName')) ?? displayNameFromLogin(loginName()) ?? 'anonymous',
    localRelayHost: localHost,
    localRelayPort: port(c.get('localRelay.port'), 7878),
    notifications: c.get<boolean>('notifications') ?? true,
  };
}

/** Loopback bind addresses need no confirmation; anything else exposes the relay. */
export function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || /^127\./.test(host);
}
