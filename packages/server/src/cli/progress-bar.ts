/**
 * A one-line progress bar on stderr: redrawn in place on a terminal, or printed as a line at
 * most once a second elsewhere (logs, CI), always with a final line.
 */
import type { Writable } from 'node:stream';

export interface ProgressState {
  /** Input bytes whose rows the server has acknowledged. */
  bytesDone: number;
  /** Input size in bytes, when known (files; not stdin). */
  bytesTotal?: number;
  rows: number;
}

const BAR_WIDTH = 24;
const LINE_INTERVAL_MS = 1000;
const REDRAW_INTERVAL_MS = 100;

function megabytes(bytes: number): string {
  return (bytes / 1e6).toFixed(bytes < 10e6 ? 2 : 1);
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  if (seconds < 60) return `${Math.round(seconds)}s`;
  return `${Math.floor(seconds / 60)}m${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
}

export class ProgressBar {
  private readonly started = performance.now();
  private lastDrawMs = -Infinity;
  private lastLength = 0;
  private state: ProgressState = { bytesDone: 0, rows: 0 };
  private drawnState: ProgressState | undefined;

  constructor(private readonly out: Writable & { isTTY?: boolean }, private readonly label: string) {}

  update(state: ProgressState): void {
    this.state = state;
    const now = performance.now();
    if (now - this.lastDrawMs < (this.out.isTTY ? REDRAW_INTERVAL_MS : LINE_INTERVAL_MS)) return;
    this.lastDrawMs = now;
    this.draw(false);
  }

  finish(): void {
    // Off a terminal, a line already printed for this very state is not printed again.
    if (!this.out.isTTY && this.drawnState === this.state) return;
    this.draw(true);
  }

  /** The text of the bar for the current state. */
  text(): string {
    const { bytesDone, bytesTotal, rows } = this.state;
    const seconds = (performance.now() - this.started) / 1000;
    const rate = seconds > 0 ? bytesDone / 1e6 / seconds : 0;
    const parts = [this.label];
    if (bytesTotal !== undefined && bytesTotal > 0) {
      const fraction = Math.min(1, bytesDone / bytesTotal);
      const filled = Math.round(fraction * BAR_WIDTH);
      parts.push(`[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`, `${Math.floor(fraction * 100)}%`.padStart(4),
        `${megabytes(bytesDone)}/${megabytes(bytesTotal)} MB`);
      if (fraction > 0 && fraction < 1) parts.push(`ETA ${duration(seconds * (1 - fraction) / fraction)}`);
    } else parts.push(`${megabytes(bytesDone)} MB`);
    parts.push(`${rows.toLocaleString('en-US')} rows`, `${rate.toFixed(1)} MB/s`, duration(seconds));
    return parts.join('  ');
  }

  private draw(final: boolean): void {
    this.drawnState = this.state;
    const text = this.text();
    if (this.out.isTTY) {
      this.out.write(`\r${text.padEnd(this.lastLength)}${final ? '\n' : ''}`);
      this.lastLength = text.length;
    } else this.out.write(`${text}\n`);
  }
}
