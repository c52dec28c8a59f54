// The Node transport of the client core: one TCP connection (node:net) carrying NDJSON lines
// (docs/protocol.md §1.1), or TLS (node:tls) pinned to the relay certificate's SHA-256 fingerprint
// from an smcs:// invite (§1.8). Incoming lines go through FrameDecoder, so a relay (or anything
// posing as one) cannot make the client buffer an endless line. Used by `smc chat` and by the
// VS Code extension host, which is Node too.
import { isIP, connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { FrameDecoder } from '../core/wire/codec';
import { TypedEmitter } from '../core/client/emitter';
import type { Transport, TransportEvents, TransportFactory } from '../core/client/types';

/**
 * Lines from the relay are bounded by its maxFrame (§1.1), which the client learns only from
 * `welcome`; this bound is far above any relay's sensible maxFrame and still caps memory.
 */
export const MAX_INCOMING_LINE = 4 * 1024 * 1024;

/** How long a graceful close may take before the socket is destroyed. */
const CLOSE_GRACE_MS = 1_000;

class TcpTransport extends TypedEmitter<TransportEvents> implements Transport {
  private readonly socket: Socket;
  private readonly decoder: FrameDecoder;
  private closed = false;
  private failure?: Error;

  constructor(host: string, port: number, maxLine: number, pin?: string) {
    super();
    this.decoder = new FrameDecoder(maxLine, {
      line: (text) => this.emit('line', text),
      error: (code) => this.fail(new Error(code === 'frame_too_large' ? `the relay sent a line over ${maxLine} bytes` : 'the relay sent invalid UTF-8')),
    });
    if (pin === undefined) {
      this.socket = connect({ host, port });
      this.socket.on('connect', () => this.emit('open'));
    } else {
      // §1.8: self-signed certificates are expected, so no CA check; the pin is the check, made
      // before a single byte is written. SNI only for host names (never for IP addresses).
      const tls: TLSSocket = tlsConnect({ host, port, rejectUnauthorized: false, ...(isIP(host) === 0 ? { servername: host } : {}) });
      tls.on('secureConnect', () => {
        const got = tls.getPeerCertificate().fingerprint256?.replace(/:/g, '').toLowerCase();
        if (got !== pin) {
          this.fail(new Error(`the relay's TLS certificate does not match the invite (expected SHA-256 ${pin}, got ${got ?? 'none'}): someone may be intercepting the connection`));
          return;
        }
        this.emit('open');
      });
      this.socket = tls;
    }
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => {
      if (!this.closed) this.decoder.push(chunk);
    });
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      this.failure ??= new Error(describeSocketError(err));
    });
    this.socket.on('close', () => this.finish());
    // The far side closing its half ends the conversation (§1.7: the relay closes after bye).
    this.socket.on('end', () => this.socket.end());
  }

  write(line: string): void {
    if (this.closed || this.socket.destroyed) return;
    this.socket.write(line + '\n');
  }

  close(): void {
    if (this.closed) return;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.socket.destroy();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.decoder.stop();
    this.emit('close', this.failure);
  }
}

function describeSocketError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED': return 'connection refused: no relay listening there';
    case 'ECONNRESET': return 'connection reset by the relay';
    case 'ETIMEDOUT': return 'connection timed out';
    case 'ENOTFOUND': case 'EAI_AGAIN': return 'host name not found';
    case 'EHOSTUNREACH': case 'ENETUNREACH': return 'host unreachable';
    default: return err.code !== undefined ? `network error ${err.code}` : err.message;
  }
}

/** The TransportFactory for Node (the RelayClient default). */
export function createTcpTransport(host: string, port: number): Transport {
  return new TcpTransport(host, port, MAX_INCOMING_LINE);
}

/**
 * A TransportFactory speaking TLS to a relay whose certificate has this SHA-256 fingerprint
 * (64 hex digits, as in an smcs:// invite, §2.7); any other certificate closes the connection.
 */
export function createTlsTransportFactory(fingerprint: string): TransportFactory {
  const pin = fingerprint.replace(/:/g, '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(pin)) throw new Error('a TLS certificate fingerprint is 64 hex digits (SHA-256)');
  return (host, port) => new TcpTransport(host, port, MAX_INCOMING_LINE, pin);
}
