/**
 * A runtime whose clock and timers move only when a test advances them (test support; not exported
 * by the package).
 */
import type { Runtime, Timer } from './runtime.js';

/** Clock and timers under a test's control: `advance` moves time and runs the timers that fall due. */
export class ManualRuntime implements Runtime {
  nowMs = 0;
  #timers: { at: number; seq: number; callback: () => void; cancelled: boolean }[] = [];
  #seq = 0;
  now(): number {
    return this.nowMs;
  }
  random(): number {
    return 0.5;
  }
  setTimer(delayMs: number, callback: () => void): Timer {
    const timer = { at: this.nowMs + delayMs, seq: this.#seq++, callback, cancelled: false };
    this.#timers.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  }
  sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => this.setTimer(delayMs, resolve));
  }
  defer(callback: () => void): void {
    queueMicrotask(callback);
  }
  /** Moves the clock forward by `ms`, running due timers in order. */
  advance(ms: number): void {
    const target = this.nowMs + ms;
    for (;;) {
      this.#timers = this.#timers.filter((t) => !t.cancelled);
      const due = this.#timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.#timers.splice(this.#timers.indexOf(due), 1);
      this.nowMs = due.at;
      due.callback();
    }
    this.nowMs = target;
  }
}
