// The extension's settings (package.json contributes.configuration), read in one place.
import * as vscode from 'vscode';
import { userInfo } from 'node:os';
import { isPort } from '../core/hostPort';
import { displayNameFromLogin } from '../core/keys/displayName';
import { normalizeCertFingerprint } from '../core/crypto/invite';

export interface Settings {
  relayHost: string;
  relayPort: number;
  /**
   * smc.relay.tlsFingerprint normalized (64 lowercase hex digits): the team relay speaks TLS
   * with this certificate (docs/protocol.md §1.8). Undefined for plain TCP, or when the setting
   * is not a fingerprint (then relayTlsProblem says why).
   */
  relayTlsFingerprint?: string;
  relayTlsProblem?: string;
  displayName: string;
  localRelayHost: string;
  localRelayPort: number;
  /** smc.localRelay.leaseSeconds: how long the local relay outlives the last window that renews its lease. */
  localRelayLeaseSeconds: number;
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
  const tls = readTlsFingerprint(c.get('relay.tlsFingerprint'));
  return {
    relayHost: host,
    relayPort: port(c.get('relay.port'), 7878),
    ...tls,
    displayName: cleanDisplayName(c.get('displayName')) ?? displayNameFromLogin(loginName()) ?? 'anonymous',
    localRelayHost: localHost,
    localRelayPort: port(c.get('localRelay.port'), 7878),
    localRelayLeaseSeconds: leaseSeconds(c.get('localRelay.leaseSeconds')),
    notifications: c.get<boolean>('notifications') ?? true,
  };
}

/** 5 s to a week; 300 s when unset or out of range. */
function leaseSeconds(v: unknown): number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 5 && v <= 604_800 ? v : 300;
}

/** smc.relay.tlsFingerprint: empty is plain TCP; anything else must be a SHA-256 fingerprint. */
export function readTlsFingerprint(raw: unknown): { relayTlsFingerprint?: string; relayTlsProblem?: string } {
  const s = typeof raw === 'string' ? raw.trim() : '';
  if (s === '') return {};
  const fp = normalizeCertFingerprint(s);
  return fp !== undefined
    ? { relayTlsFingerprint: fp }
    : { relayTlsProblem: 'The setting smc.relay.tlsFingerprint is not a SHA-256 certificate fingerprint (64 hex digits, colons allowed; the relay prints it when it starts with --tls-cert). Fix it, or empty it for a relay without TLS.' };
}

/** Loopback bind addresses need no confirmation; anything else exposes the relay. */
export function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || /^127\./.test(host);
}
