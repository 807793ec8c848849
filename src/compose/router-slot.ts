/** The router's state per endpoint (a slot: counters, circuit, latencies) and per request (its cancellation). */
import { AbortedError, type KumikiError, TimeoutError } from '../core/errors.js';
import type { ModelRunner, RunnerCapabilities } from '../core/runner.js';

export type CircuitState = 'closed' | 'open' | 'half-open';

export const LATENCY_WINDOW = 128;

export type Slot = {
  label: string;
  runner: ModelRunner;
  weight: number;
  maxConcurrency: number;
  requests: number;
  successes: number;
  failures: number;
  inFlight: number;
  consecutiveFailures: number;
  state: CircuitState;
  openedAt: number;
  trialInFlight: boolean;
  healthy: boolean;
  currentWeight: number;
  latencies: number[];
  latencyNext: number;
};

export function newSlot(label: string, runner: ModelRunner, weight = 1, maxConcurrency = Infinity): Slot {
  return {
    label,
    runner,
    weight,
    maxConcurrency,
    requests: 0,
    successes: 0,
    failures: 0,
    inFlight: 0,
    consecutiveFailures: 0,
    state: 'closed',
    openedAt: 0,
    trialInFlight: false,
    healthy: true,
    currentWeight: 0,
    latencies: [],
    latencyNext: 0,
  };
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}

export function intersectCapabilities(runners: readonly ModelRunner[]): RunnerCapabilities {
  const [first, ...rest] = runners as [ModelRunner, ...ModelRunner[]];
  return {
    streaming: runners.every((runner) => runner.capabilities.streaming),
    structuredOutput: first.capabilities.structuredOutput.filter((mode) =>
      rest.every((runner) => runner.capabilities.structuredOutput.includes(mode)),
    ),
    tools: runners.every((runner) => runner.capabilities.tools),
    seed: runners.every((runner) => runner.capabilities.seed),
  };
}

/** Why a request stopped: the caller's abort and the router's deadline are not the endpoint's fault. */
type Stop = { kind: 'aborted'; reason: unknown } | { kind: 'deadline' };

/** One request's cancellation: the caller's signal plus the router's deadline, as one signal for attempts. */
export class RequestScope {
  readonly controller = new AbortController();
  stop: Stop | undefined;
  private readonly timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onAbort: () => void;
  private readonly stopped: Promise<never>;
  private rejectStopped: (error: unknown) => void = () => {};

  constructor(
    private readonly caller: AbortSignal | undefined,
    private readonly deadlineMs: number | undefined,
    private readonly operation: string,
  ) {
    this.stopped = new Promise<never>((_, reject) => {
      this.rejectStopped = reject;
    });
    this.stopped.catch(() => {});
    this.onAbort = () => this.halt({ kind: 'aborted', reason: caller?.reason });
    caller?.addEventListener('abort', this.onAbort, { once: true });
    if (deadlineMs !== undefined) this.timer = setTimeout(() => this.halt({ kind: 'deadline' }), deadlineMs);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  private halt(stop: Stop): void {
    if (this.stop) return;
    this.stop = stop;
    this.rejectStopped(this.error());
    this.controller.abort(this.error());
  }

  /** The error a stopped request ends with. */
  error(): KumikiError {
    if (this.stop?.kind === 'deadline')
      return new TimeoutError({ operation: this.operation, timeoutMs: this.deadlineMs as number, component: 'router' });
    return new AbortedError({
      operation: this.operation,
      cause: this.stop?.kind === 'aborted' ? this.stop.reason : undefined,
      component: 'router',
    });
  }

  /** Settles with `work`, or rejects as soon as the caller aborts or the deadline passes. */
  race<T>(work: Promise<T>): Promise<T> {
    work.catch(() => {});
    return Promise.race([work, this.stopped]);
  }

  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.caller?.removeEventListener('abort', this.onAbort);
  }
}
