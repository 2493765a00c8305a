/** Time comes from a clock passed in, never from `Date.now()` inside the core. */
export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };

/**
 * The sandbox clock: wall time plus an offset that operators move forward (never back) to
 * make holds, auto-confirms and end of day fall due. The offset is kept in the database by
 * whoever owns the clock, so a restart keeps the sandbox's notion of "now".
 */
export class SandboxClock implements Clock {
  constructor(
    private offsetMs = 0,
    private readonly wall: Clock = systemClock,
  ) {}

  nowMs(): number {
    return this.wall.nowMs() + this.offsetMs;
  }

  get offset(): number {
    return this.offsetMs;
  }

  advance(seconds: number): void {
    if (!Number.isSafeInteger(seconds) || seconds < 0) throw new RangeError('the clock only moves forward by whole seconds');
    this.offsetMs += seconds * 1000;
  }
}
