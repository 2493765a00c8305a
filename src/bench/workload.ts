/** Seeded randomness and account choice for benchmarks and simulations. */

/** mulberry32: a small, fast, seeded 32-bit generator; `next()` is uniform in [0, 1). */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform bigint in [min, max]. */
  bigint(min: bigint, max: bigint): bigint {
    return min + BigInt(Math.floor(this.next() * Number(max - min + 1n)));
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
}

export type Skew = 'uniform' | 'hot' | 'zipf';

/**
 * Picks the two accounts of a transfer.
 * - uniform: any two accounts.
 * - hot: every transfer touches account 0 (a platform's fee or guarantee account), in
 *   alternating directions so that no balance runs away.
 * - zipf: popularity falls with rank (s = 1), as sellers' sales do.
 */
export class AccountPicker {
  private readonly cdf: Float64Array | null;
  private flip = false;

  constructor(
    private readonly count: number,
    private readonly skew: Skew,
    private readonly random: Random,
  ) {
    if (count < 2) throw new Error('need at least two accounts');
    this.cdf = skew === 'zipf' ? zipfCdf(count, 1) : null;
  }

  pair(): [number, number] {
    if (this.skew === 'hot') {
      const other = 1 + this.random.int(this.count - 1);
      this.flip = !this.flip;
      return this.flip ? [0, other] : [other, 0];
    }
    const debit = this.one();
    let credit = this.one();
    while (credit === debit) credit = this.one();
    return [debit, credit];
  }

  private one(): number {
    if (this.cdf === null) return this.random.int(this.count);
    const u = this.random.next();
    let low = 0;
    let high = this.cdf.length - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      if ((this.cdf[middle] ?? 1) < u) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

function zipfCdf(n: number, s: number): Float64Array {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 1; k <= n; k++) {
    sum += 1 / k ** s;
    cdf[k - 1] = sum;
  }
  for (let i = 0; i < n; i++) cdf[i] = (cdf[i] ?? 0) / sum;
  return cdf;
}

/** The p-th percentile (0..100) of a list of numbers, by nearest rank. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? 0;
}
