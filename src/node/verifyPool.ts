// A SignatureVerifier (src/core/crypto/signatureVerifier.ts) that spreads big batches of §2.4
// step 3 checks over worker threads: Ed25519 verification is what limits how fast a client
// opens a room's history (docs/benchmarks.md §6), and node:crypto verifies on the calling
// thread only. Keys stay in the client's thread; workers get signatures, public keys and signed
// bytes (signatureBatch.ts). Workers start on the first big batch, are unref'd while idle (they
// never keep a process alive), stop after idleMs without work or on close(), and a worker that
// fails hands its jobs back to in-thread verification, so no message is lost.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { verifySignature, type SignatureItem, type SignatureVerifier } from '../core/crypto/index';
import { isPackable, packSignatures } from './signatureBatch';
import type { VerifyAnswer, VerifyJob } from './verifyWorker';

export interface VerifyPoolOptions {
  /** Worker threads at most (default min(os.availableParallelism(), 4)). */
  size?: number;
  /** Smaller batches (and each worker's share at least this) are verified in-thread (default 64). */
  minBatch?: number;
  /** The bundled worker script (default verifyWorker.js next to this module or bundle). */
  workerPath?: string;
  /** Idle workers stop after this long (default 10 000 ms). */
  idleMs?: number;
  /** Debug log (no secrets: counts and error messages only). */
  log?: (event: string, fields?: Record<string, unknown>) => void;
}

/** After this many worker failures the pool stops starting workers and verifies in-thread. */
const MAX_WORKER_FAILURES = 3;

interface Job {
  items: readonly SignatureItem[];
  resolve: (results: boolean[]) => void;
}

interface Slot {
  worker: Worker;
  jobs: Map<number, Job>;
  /** Items sent and not answered yet: new work goes to the least loaded worker. */
  load: number;
}

/** The worker script: next to this file (out/src/node/ under tsc) or this bundle (dist/). */
export function defaultWorkerPath(): string {
  return join(__dirname, 'verifyWorker.js');
}

export class WorkerSignatureVerifier implements SignatureVerifier {
  private readonly size: number;
  private readonly minBatch: number;
  private readonly workerPath: string;
  private readonly idleMs: number;
  private readonly log: NonNullable<VerifyPoolOptions['log']>;
  private slots: Slot[] = [];
  private nextJob = 1;
  private failures = 0;
  private idleTimer?: ReturnType<typeof setTimeout>;

  constructor(options: VerifyPoolOptions = {}) {
    this.size = Math.max(0, options.size ?? Math.min(availableParallelism(), 4));
    this.minBatch = Math.max(1, options.minBatch ?? 64);
    this.workerPath = options.workerPath ?? defaultWorkerPath();
    this.idleMs = options.idleMs ?? 10_000;
    this.log = options.log ?? (() => undefined);
  }

  /** Worker threads running now. */
  get threads(): number {
    return this.slots.length;
  }

  verifyBatch(items: readonly SignatureItem[]): Promise<boolean[]> {
    if (items.length < this.minBatch || !items.every(isPackable) || !this.startWorkers()) {
      return Promise.resolve(items.map(verifySignature));
    }
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    // Each worker's share is at least minBatch, so a batch never costs more messages than it saves.
    const parts = Math.max(1, Math.min(this.slots.length, Math.floor(items.length / this.minBatch)));
    const per = Math.ceil(items.length / parts);
    const shares: Promise<boolean[]>[] = [];
    for (let at = 0; at < items.length; at += per) shares.push(this.post(items.slice(at, at + per)));
    return Promise.all(shares).then((r) => r.flat());
  }

  /** Starts the workers ahead of a big batch (a worker takes tens of ms to start); idle ones stop again. */
  warm(): void {
    if (this.startWorkers()) this.armIdle();
  }

  /** Stops every worker; their unfinished jobs are verified in-thread. Usable again afterwards. */
  async close(): Promise<void> {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const slots = this.slots;
    this.slots = [];
    for (const s of slots) this.rescue(s);
    await Promise.all(slots.map((s) => s.worker.terminate().catch(() => undefined)));
  }

  private startWorkers(): boolean {
    if (this.failures >= MAX_WORKER_FAILURES || this.size === 0) return this.slots.length > 0;
    if (this.slots.length < this.size && !existsSync(this.workerPath)) {
      if (this.slots.length === 0) this.log('verify_pool_unavailable', { reason: 'worker script not found' });
      return this.slots.length > 0;
    }
    while (this.slots.length < this.size) {
      let worker: Worker;
      try {
        worker = new Worker(this.workerPath);
      } catch (err) {
        this.failed(undefined, err);
        break;
      }
      const slot: Slot = { worker, jobs: new Map(), load: 0 };
      worker.unref();
      worker.on('message', (answer: VerifyAnswer) => this.answered(slot, answer));
      worker.on('error', (err) => this.failed(slot, err));
      worker.on('exit', (code) => {
        if (this.slots.includes(slot)) this.failed(slot, new Error(`worker exited with code ${code}`));
      });
      this.slots.push(slot);
    }
    return this.slots.length > 0;
  }

  private post(items: readonly SignatureItem[]): Promise<boolean[]> {
    const slot = this.slots.reduce((a, b) => (b.load < a.load ? b : a));
    const job = this.nextJob++;
    return new Promise((resolve) => {
      slot.jobs.set(job, { items, resolve });
      slot.load += items.length;
      slot.worker.ref();
      const data = packSignatures(items);
      const msg: VerifyJob = { job, data };
      try {
        slot.worker.postMessage(msg, [data.buffer as ArrayBuffer]);
      } catch (err) {
        this.failed(slot, err);
      }
    });
  }

  private answered(slot: Slot, answer: VerifyAnswer): void {
    const job = slot.jobs.get(answer.job);
    if (job === undefined) return;
    slot.jobs.delete(answer.job);
    slot.load -= job.items.length;
    if (answer.results.length !== job.items.length) {
      // Not what this pool's worker answers: trust nothing from it.
      job.resolve(job.items.map(verifySignature));
    } else {
      job.resolve(Array.from(answer.results, (r) => r === 1));
    }
    if (slot.jobs.size === 0) {
      slot.worker.unref();
      this.armIdle();
    }
  }

  /** A worker failed: drop it, verify its jobs in-thread; too many failures stop the workers. */
  private failed(slot: Slot | undefined, err: unknown): void {
    this.failures++;
    this.log('verify_worker_failed', { error: err instanceof Error ? err.message : String(err), failures: this.failures });
    if (slot === undefined) return;
    const wasRunning = this.slots.includes(slot);
    this.slots = this.slots.filter((s) => s !== slot);
    this.rescue(slot);
    if (wasRunning) void slot.worker.terminate().catch(() => undefined);
  }

  private rescue(slot: Slot): void {
    for (const job of slot.jobs.values()) job.resolve(job.items.map(verifySignature));
    slot.jobs.clear();
    slot.load = 0;
  }

  private armIdle(): void {
    if (this.idleTimer !== undefined || this.slots.some((s) => s.jobs.size > 0)) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.slots.every((s) => s.jobs.size === 0)) void this.close();
    }, this.idleMs);
    this.idleTimer.unref();
  }
}
