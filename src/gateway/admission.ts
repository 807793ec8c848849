/**
 * Admission control per chat model: a fixed number of slots (requests generating at once), a bounded
 * queue with a wait limit, and fair share between callers. When a slot frees, it goes to the waiting
 * caller with the fewest requests running on this model; among equals, to the one served longest ago
 * (round robin), then to its longest-waiting request. One caller's burst or long generation cannot
 * starve another's short request.
 */
import { GatewayHttpError } from './errors.js';

export type AdmissionLimits = { slots: number; maxQueue: number; queueTimeoutMs: number };

/** A held slot; `release()` is idempotent. */
export type Slot = { release(): void };

type Waiter = {
  caller: string;
  enqueuedAt: number;
  grant: (slot: Slot) => void;
  fail: (error: unknown) => void;
};

/** What the metrics read. */
export type SchedulerStats = { running: number; waiting: number };

export type SchedulerEvents = {
  /** A request got its slot after `waitMs` in line (0 when a slot was free). */
  onGranted?: (waitMs: number) => void;
  /** A request was refused: the queue was full, or it waited past the queue timeout. */
  onRejected?: (reason: 'queue_full' | 'queue_timeout') => void;
};

/** Whole seconds for `Retry-After`, between 1 and 60. */
const seconds = (ms: number) => Math.min(60, Math.max(1, Math.ceil(ms / 1000)));

export class ModelScheduler {
  private readonly running = new Map<string, number>();
  /** When each caller last got a slot (a grant counter), for round robin among equals. */
  private readonly served = new Map<string, number>();
  private grants = 0;
  private readonly queue: Waiter[] = [];
  private busy = 0;
  /** Moving average of how long a request holds its slot, for `Retry-After`. */
  private holdMs = 1_000;

  constructor(
    readonly model: string,
    readonly limits: AdmissionLimits,
    private readonly events: SchedulerEvents = {},
    private readonly now: () => number = Date.now,
  ) {}

  stats(): SchedulerStats {
    return { running: this.busy, waiting: this.queue.length };
  }

  /** About how long until a slot frees for a request joining the queue now. */
  private retryAfter(): string {
    return String(seconds((this.holdMs * (this.queue.length + 1)) / this.limits.slots));
  }

  /**
   * A slot for `caller`: at once when one is free (and nobody waits), else after waiting in line.
   * Throws 429 when the queue is full, 503 when the wait passes `queueTimeoutMs`, and the signal's
   * reason when it fires while waiting.
   */
  acquire(caller: string, signal: AbortSignal): Promise<Slot> {
    signal.throwIfAborted();
    if (this.busy < this.limits.slots && this.queue.length === 0) return Promise.resolve(this.take(caller, 0));
    if (this.queue.length >= this.limits.maxQueue) {
      this.events.onRejected?.('queue_full');
      return Promise.reject(
        new GatewayHttpError({
          status: 429,
          message: `The model "${this.model}" is busy: ${this.limits.slots} requests are running and ${this.queue.length} are waiting, the most it queues. Retry later.`,
          type: 'requests',
          code: 'model_overloaded',
          headers: { 'retry-after': this.retryAfter() },
        }),
      );
    }
    return new Promise<Slot>((resolve, reject) => {
      const waiter: Waiter = {
        caller,
        enqueuedAt: this.now(),
        grant: (slot) => {
          cleanup();
          resolve(slot);
        },
        fail: (error) => {
          cleanup();
          reject(error);
        },
      };
      const leave = (error: unknown) => {
        const index = this.queue.indexOf(waiter);
        if (index < 0) return;
        this.queue.splice(index, 1);
        waiter.fail(error);
      };
      const timer = setTimeout(() => {
        this.events.onRejected?.('queue_timeout');
        leave(
          new GatewayHttpError({
            status: 503,
            message: `The model "${this.model}" had no free slot within ${this.limits.queueTimeoutMs} ms. Retry later.`,
            type: 'server_error',
            code: 'queue_timeout',
            headers: { 'retry-after': this.retryAfter() },
          }),
        );
      }, this.limits.queueTimeoutMs);
      const onAbort = () => leave(signal.reason);
      const cleanup = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private take(caller: string, waitMs: number): Slot {
    this.busy++;
    this.running.set(caller, (this.running.get(caller) ?? 0) + 1);
    this.served.set(caller, ++this.grants);
    this.events.onGranted?.(waitMs);
    const started = this.now();
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.busy--;
        const left = (this.running.get(caller) ?? 1) - 1;
        if (left > 0) this.running.set(caller, left);
        else this.running.delete(caller);
        if (left === 0 && !this.queue.some((waiter) => waiter.caller === caller)) this.served.delete(caller);
        this.holdMs = 0.8 * this.holdMs + 0.2 * (this.now() - started);
        this.next();
      },
    };
  }

  /** Hands free slots to waiting callers: the fewest running, then the one served longest ago, then the longest waiting. */
  private next(): void {
    const rank = (caller: string): [number, number] => [this.running.get(caller) ?? 0, this.served.get(caller) ?? 0];
    while (this.busy < this.limits.slots && this.queue.length > 0) {
      let chosen = 0;
      for (let i = 1; i < this.queue.length; i++) {
        const [running, served] = rank((this.queue[i] as Waiter).caller);
        const [bestRunning, bestServed] = rank((this.queue[chosen] as Waiter).caller);
        if (running < bestRunning || (running === bestRunning && served < bestServed)) chosen = i;
      }
      const [waiter] = this.queue.splice(chosen, 1) as [Waiter];
      waiter.grant(this.take(waiter.caller, this.now() - waiter.enqueuedAt));
    }
  }
}
