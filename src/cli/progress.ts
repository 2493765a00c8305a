/** A one-line progress bar on stderr, redrawn at most every 100 ms; plain lines when not a TTY. */
export class ProgressBar {
  private lastDrawMs = 0;
  private lastPlainPercent = -1;
  private readonly startedMs = Date.now();

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  update(done: number, extra = ''): void {
    const now = Date.now();
    if (now - this.lastDrawMs < 100 && done < this.total) return;
    this.lastDrawMs = now;
    const fraction = this.total === 0 ? 1 : Math.min(1, done / this.total);
    const percent = Math.floor(fraction * 100);
    const rate = done / Math.max(0.001, (now - this.startedMs) / 1000);
    const text = `${this.label} ${bar(fraction, 30)} ${String(percent).padStart(3)}% ${done.toLocaleString('en-US')}/${this.total.toLocaleString('en-US')} ${Math.round(rate).toLocaleString('en-US')}/s ${extra}`;
    if (this.stream.isTTY) {
      this.stream.write(`\r${text.padEnd(this.stream.columns ? this.stream.columns - 1 : 100)}`);
    } else if (percent >= this.lastPlainPercent + 10 || (done >= this.total && this.lastPlainPercent < 100)) {
      this.lastPlainPercent = percent;
      this.stream.write(`${text}\n`);
    }
  }

  finish(extra = ''): void {
    this.lastDrawMs = 0;
    this.update(this.total, extra);
    if (this.stream.isTTY) this.stream.write('\n');
  }
}

function bar(fraction: number, width: number): string {
  const full = Math.round(fraction * width);
  return `[${'█'.repeat(full)}${'░'.repeat(width - full)}]`;
}
