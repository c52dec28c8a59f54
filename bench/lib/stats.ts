// Latency summaries for the benchmarks: every sample is kept (runs are bounded, at most a few
// hundred thousand samples) and sorted once, so percentiles are exact rather than bucketed.

export interface LatencySummary {
  n: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

/** Collects durations in nanoseconds (from process.hrtime.bigint differences). */
export class LatencyRecorder {
  private samples: Float64Array;
  private count = 0;

  constructor(expected = 1024) {
    this.samples = new Float64Array(Math.max(16, expected));
  }

  record(ns: number): void {
    if (this.count === this.samples.length) {
      const grown = new Float64Array(this.samples.length * 2);
      grown.set(this.samples);
      this.samples = grown;
    }
    this.samples[this.count++] = ns;
  }

  get n(): number {
    return this.count;
  }

  summary(): LatencySummary {
    const sorted = this.samples.slice(0, this.count).sort();
    const at = (q: number): number => {
      if (sorted.length === 0) return NaN;
      // Nearest-rank percentile: the smallest sample with at least q of the samples at or below it.
      const rank = Math.max(1, Math.ceil(q * sorted.length));
      return (sorted[rank - 1] ?? NaN) / 1e6;
    };
    let sum = 0;
    for (const v of sorted) sum += v;
    return {
      n: sorted.length,
      p50Ms: at(0.5),
      p99Ms: at(0.99),
      maxMs: sorted.length ? (sorted[sorted.length - 1] ?? NaN) / 1e6 : NaN,
      meanMs: sorted.length ? sum / sorted.length / 1e6 : NaN,
    };
  }
}

/** Monotonic nanoseconds as a Number (exact to well beyond a benchmark's lifetime). */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
