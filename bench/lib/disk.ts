// The floor under every durable ack: how long this machine's disk takes to write a small
// record and sync it (what a group commit waits for, §1.5), measured in the same run.
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LatencyRecorder, nowNs, type LatencySummary } from './stats';

export function measureSyncLatency(samples: number, recordBytes = 300): LatencySummary {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smc-bench-disk-'));
  const fd = openSync(path.join(dir, 'log'), 'a');
  const record = Buffer.alloc(recordBytes, 0x61);
  const rec = new LatencyRecorder(samples);
  try {
    for (let i = 0; i < samples; i++) {
      const t0 = nowNs();
      writeSync(fd, record);
      fdatasyncSync(fd);
      rec.record(nowNs() - t0);
    }
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  return rec.summary();
}
