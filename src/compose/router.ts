import { z } from 'zod';
import {
  AbortedError,
  ConflictError,
  InvalidArgumentError,
  KumikiError,
  TimeoutError,
  throwIfAborted,
  UnavailableError,
} from '../core/errors.js';
import type {
  GenerateOptions,
  GenerateResult,
  ModelDescription,
  ModelRunner,
  OutputSchema,
  RunnerCapabilities,
  StreamPart,
} from '../core/runner.js';
import { implementing, parseArgument } from '../core/validate.js';
import { parseGenerateOptions } from '../internal/structured-output.js';

/** One primary endpoint of a router: any ModelRunner (a vLLM server, llama.cpp in-process, …). */
export type RouterEndpoint = {
  /** Unique name, used in metrics and in `describeModel().extra.router`. */
  name: string;
  runner: ModelRunner;
  /** Share of traffic under `weighted`, tie-breaker under `least-outstanding`; default 1. */
  weight?: number;
  /** Most requests in flight at once on this endpoint; default unlimited. */
  maxConcurrency?: number;
};

export type RouterStrategy = 'least-outstanding' | 'weighted';

export type RouterHealthCheck = {
  /** Time between two checks of every endpoint, in ms. */
  intervalMs: number;
  /** A check that takes longer fails; default: `intervalMs`. */
  timeoutMs?: number;
  /**
   * `generate` (default) asks for one token at temperature 0; `describe` calls `runner.describeModel()`,
   * which many remote runners answer without contacting the server.
   */
  probe?: 'describe' | 'generate';
};

export type RouterCircuitBreaker = {
  /** Consecutive retryable failures that open the circuit; default 5. */
  failureThreshold?: number;
  /** How long an open circuit stays open before one trial request is let through; default 30 000 ms. */
  coolDownMs?: number;
};

export type RouterOptions = {
  endpoints: readonly RouterEndpoint[];
  /** How a primary endpoint is picked; default `least-outstanding`. */
  strategy?: RouterStrategy;
  /** Runners tried in order when no primary endpoint can take the request. */
  fallback?: readonly ModelRunner[];
  /** Periodic probes; unhealthy endpoints are skipped until a probe succeeds again. Default: none. */
  healthCheck?: RouterHealthCheck;
  circuitBreaker?: RouterCircuitBreaker;
  /** Attempts per request, the first included, each on another endpoint; default: every endpoint and fallback once. */
  retry?: { maxAttempts?: number };
  /** Deadline of a whole request (queueing and every attempt); `TimeoutError` past it. Default: none. */
  deadlineMs?: number;
};

export type CircuitState = 'closed' | 'open' | 'half-open';

export type EndpointMetrics = {
  /** Attempts sent to the endpoint. */
  requests: number;
  successes: number;
  /** Attempts that failed with any error other than the caller's abort or the router's deadline. */
  failures: number;
  inFlight: number;
  state: CircuitState;
  /** False while the last health check failed. */
  healthy: boolean;
  /** Over the last 128 successful attempts; `undefined` before the first. */
  latencyMs: { p50: number; p95: number } | undefined;
};

export type RouterMetrics = {
  /** Primary endpoints by name, then fallbacks as `fallback:0`, `fallback:1`, … */
  endpoints: Record<string, EndpointMetrics>;
  /** Requests waiting for a free slot now. */
  queued: number;
};

/** A ModelRunner that spreads requests over several runners. */
export type RouterRunner = ModelRunner & {
  metrics(): RouterMetrics;
  /** Stops the health checks. Disposes none of the endpoint or fallback runners: their owner does. */
  dispose(): Promise<void>;
};

const runnerSchema = implementing<ModelRunner>('must be a kumiki ModelRunner (specificationVersion kumiki.runner.v1)', {
  fields: { specificationVersion: 'kumiki.runner.v1' },
  methods: ['generate', 'stream'],
});

const optionsSchema = z
  .object({
    endpoints: z
      .array(
        z
          .object({
            name: z.string().min(1),
            runner: runnerSchema,
            weight: z.number().positive().finite().optional(),
            maxConcurrency: z.number().int().min(1).optional(),
          })
          .strict(),
      )
      .min(1, 'give at least one endpoint')
      .refine((list) => new Set(list.map((endpoint) => endpoint.name)).size === list.length, {
        message: 'endpoint names must be unique',
      }),
    strategy: z.enum(['least-outstanding', 'weighted']).optional(),
    fallback: z.array(runnerSchema).optional(),
    healthCheck: z
      .object({
        intervalMs: z.number().int().min(1),
        timeoutMs: z.number().int().min(1).optional(),
        probe: z.enum(['describe', 'generate']).optional(),
      })
      .strict()
      .optional(),
    circuitBreaker: z
      .object({
        failureThreshold: z.number().int().min(1).optional(),
        coolDownMs: z.number().int().min(1).optional(),
      })
      .strict()
      .optional(),
    retry: z
      .object({ maxAttempts: z.number().int().min(1).optional() })
      .strict()
      .optional(),
    deadlineMs: z.number().int().min(1).optional(),
  })
  .strict();

const LATENCY_WINDOW = 128;

type Slot = {
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

function newSlot(label: string, runner: ModelRunner, weight = 1, maxConcurrency = Infinity): Slot {
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

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}

function intersectCapabilities(runners: readonly ModelRunner[]): RunnerCapabilities {
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
class RequestScope {
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

/**
 * Routes every request to one of several ModelRunners: least-outstanding-requests or smooth weighted
 * round-robin, per-endpoint concurrency limits with queueing, health checks, a circuit breaker per
 * endpoint, retries of retryable failures on another endpoint, a fallback chain and a deadline over
 * all attempts. Streams switch endpoints only before their first part.
 */
export function createRouterRunner(options: RouterOptions): RouterRunner {
  const parsed = parseArgument(optionsSchema, options, 'createRouterRunner options');
  const strategy = parsed.strategy ?? 'least-outstanding';
  const threshold = parsed.circuitBreaker?.failureThreshold ?? 5;
  const coolDownMs = parsed.circuitBreaker?.coolDownMs ?? 30_000;
  const primaries = parsed.endpoints.map((endpoint) =>
    newSlot(endpoint.name, endpoint.runner, endpoint.weight, endpoint.maxConcurrency),
  );
  const fallbacks = (parsed.fallback ?? []).map((runner, i) => newSlot(`fallback:${i}`, runner));
  const slots = [...primaries, ...fallbacks];
  const maxAttempts = parsed.retry?.maxAttempts ?? slots.length;
  const capabilities = intersectCapabilities(slots.map((slot) => slot.runner));
  const first = primaries[0] as Slot;
  let disposed = false;
  let waiters: (() => void)[] = [];

  const wake = () => {
    const woken = waiters;
    waiters = [];
    for (const resolve of woken) resolve();
  };

  /** Whether the circuit lets a request through now; moves open → half-open after the cool-down. */
  const admits = (slot: Slot): boolean => {
    if (slot.state === 'open' && Date.now() - slot.openedAt >= coolDownMs) slot.state = 'half-open';
    if (slot.state === 'open') return false;
    return slot.state === 'closed' || !slot.trialInFlight;
  };

  const pickPrimary = (candidates: Slot[]): Slot => {
    if (strategy === 'weighted') {
      const total = candidates.reduce((sum, slot) => sum + slot.weight, 0);
      let best = candidates[0] as Slot;
      for (const slot of candidates) {
        slot.currentWeight += slot.weight;
        if (slot.currentWeight > best.currentWeight) best = slot;
      }
      best.currentWeight -= total;
      return best;
    }
    let best = candidates[0] as Slot;
    for (const slot of candidates) {
      if (slot.inFlight < best.inFlight || (slot.inFlight === best.inFlight && slot.weight > best.weight)) best = slot;
    }
    return best;
  };

  /**
   * The next slot for a request, or `wait` when every usable primary is saturated, or `none` when
   * nothing is left to try.
   */
  const choose = (tried: ReadonlySet<Slot>): Slot | 'wait' | 'none' => {
    const usable = primaries.filter((slot) => !tried.has(slot) && slot.healthy && admits(slot));
    const free = usable.filter((slot) => slot.inFlight < slot.maxConcurrency);
    if (free.length > 0) return pickPrimary(free);
    if (usable.length > 0) return 'wait';
    return fallbacks.find((slot) => !tried.has(slot) && slot.healthy && admits(slot)) ?? 'none';
  };

  const acquire = (slot: Slot): void => {
    slot.inFlight++;
    slot.requests++;
    if (slot.state === 'half-open') slot.trialInFlight = true;
  };

  /** Records an attempt's outcome; `stopped` (caller's abort, router's deadline) is not the endpoint's fault. */
  const release = (slot: Slot, started: number, outcome: 'success' | 'failure' | 'stopped', retryable = false) => {
    slot.inFlight--;
    const wasTrial = slot.state === 'half-open' && slot.trialInFlight;
    if (wasTrial) slot.trialInFlight = false;
    if (outcome === 'success') {
      slot.successes++;
      slot.consecutiveFailures = 0;
      slot.state = 'closed';
      const elapsed = Date.now() - started;
      if (slot.latencies.length < LATENCY_WINDOW) slot.latencies.push(elapsed);
      else slot.latencies[slot.latencyNext] = elapsed;
      slot.latencyNext = (slot.latencyNext + 1) % LATENCY_WINDOW;
    } else if (outcome === 'failure') {
      slot.failures++;
      if (retryable) {
        slot.consecutiveFailures++;
        if (wasTrial || slot.consecutiveFailures >= threshold) {
          slot.state = 'open';
          slot.openedAt = Date.now();
        }
      }
    }
    wake();
  };

  const waitForSlot = async (scope: RequestScope): Promise<void> => {
    let resolve: () => void = () => {};
    const turn = new Promise<void>((done) => {
      resolve = done;
    });
    waiters.push(resolve);
    try {
      await scope.race(turn);
    } finally {
      waiters = waiters.filter((waiter) => waiter !== resolve);
    }
  };

  const retryable = (error: unknown) => KumikiError.isInstance(error) && error.isRetryable;

  const checkCall = (options: GenerateOptions, operation: string): GenerateOptions => {
    if (disposed)
      throw new ConflictError({
        message: `${operation} on a disposed router. Create a new router with createRouterRunner.`,
        component: 'router',
      });
    const call = parseGenerateOptions(options);
    const refuse = (path: string, message: string) =>
      new InvalidArgumentError({ argument: 'generate options', issues: [{ path, message }], component: 'router' });
    if (call.schema !== undefined && capabilities.structuredOutput.length === 0)
      throw refuse('schema', 'not every endpoint of this router supports structured output');
    if (call.tools !== undefined && !capabilities.tools)
      throw refuse('tools', 'not every endpoint of this router supports tool calls');
    throwIfAborted(call.abortSignal, operation);
    return call;
  };

  type Routed<T> = { value: T; slot: Slot; started: number };

  /**
   * The attempt loop shared by generate and stream. `attempt` runs one endpoint; on success the slot
   * stays acquired and the caller releases it.
   */
  async function route<T>(
    scope: RequestScope,
    operation: string,
    attempt: (slot: Slot) => Promise<T>,
  ): Promise<Routed<T>> {
    const tried = new Set<Slot>();
    const errors: string[] = [];
    let lastError: unknown;
    while (tried.size < maxAttempts) {
      if (scope.stop) throw scope.error();
      const slot = choose(tried);
      if (slot === 'wait') {
        await waitForSlot(scope);
        continue;
      }
      if (slot === 'none') break;
      tried.add(slot);
      acquire(slot);
      const started = Date.now();
      try {
        return { value: await scope.race(attempt(slot)), slot, started };
      } catch (error) {
        if (scope.stop) {
          release(slot, started, 'stopped');
          throw scope.error();
        }
        release(slot, started, 'failure', retryable(error));
        if (!retryable(error)) throw error;
        lastError = error;
        errors.push(`${slot.label}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    const states = slots.map((slot) => `${slot.label} ${slot.healthy ? slot.state : 'unhealthy'}`).join(', ');
    throw new UnavailableError({
      message:
        errors.length > 0
          ? `${operation} failed on every endpoint tried (${errors.join('; ')}). Check the servers, or add a fallback runner.`
          : `${operation}: no endpoint can take the request (${states}). Wait for the circuits to close or the health checks to pass, or add a fallback runner.`,
      cause: lastError,
      component: 'router',
    });
  }

  const withSignal = (call: GenerateOptions, signal: AbortSignal): GenerateOptions => ({
    ...call,
    abortSignal: signal,
  });

  async function generate<T = unknown>(
    options: GenerateOptions & { schema?: OutputSchema<T> },
  ): Promise<GenerateResult<T>> {
    const call = checkCall(options, 'Router generate');
    const scope = new RequestScope(call.abortSignal, parsed.deadlineMs, 'Router generate');
    try {
      const { value, slot, started } = await route(scope, 'Router generate', (slot) =>
        slot.runner.generate<T>(withSignal(call, scope.signal) as GenerateOptions & { schema?: OutputSchema<T> }),
      );
      release(slot, started, 'success');
      return value;
    } finally {
      scope.close();
    }
  }

  async function* stream(options: GenerateOptions): AsyncGenerator<StreamPart> {
    const call = checkCall(options, 'Router stream');
    const scope = new RequestScope(call.abortSignal, parsed.deadlineMs, 'Router stream');
    try {
      // Route until an endpoint yields its first part; from then on the stream stays on that endpoint.
      const { value, slot, started } = await route(scope, 'Router stream', async (slot) => {
        const iterator = slot.runner.stream(withSignal(call, scope.signal))[Symbol.asyncIterator]();
        try {
          return { iterator, first: await iterator.next() };
        } catch (error) {
          await iterator.return?.().catch(() => {});
          throw error;
        }
      });
      const { iterator } = value;
      let result = value.first;
      let outcome: 'success' | 'failure' | 'stopped' = 'stopped';
      let failedRetryably = false;
      try {
        while (!result.done) {
          yield result.value;
          result = await scope.race(iterator.next());
        }
        outcome = 'success';
      } catch (error) {
        if (scope.stop) throw scope.error();
        outcome = 'failure';
        failedRetryably = retryable(error);
        throw error;
      } finally {
        if (outcome !== 'success') await iterator.return?.().catch(() => {});
        release(slot, started, outcome, failedRetryably);
      }
    } finally {
      scope.close();
    }
  }

  async function probe(slot: Slot, health: RouterHealthCheck): Promise<void> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), health.timeoutMs ?? health.intervalMs);
    try {
      const work =
        health.probe === 'describe'
          ? slot.runner.describeModel()
          : slot.runner.generate({ prompt: 'ping', maxTokens: 1, temperature: 0, abortSignal: controller.signal });
      work.catch(() => {});
      const timedOut = new Promise((_, reject) => {
        controller.signal.addEventListener('abort', () => reject(new Error('health check timed out')));
      });
      await Promise.race([work, timedOut]);
      slot.healthy = true;
    } catch {
      slot.healthy = false;
    } finally {
      clearTimeout(timer);
    }
  }

  let healthTimer: ReturnType<typeof setTimeout> | undefined;
  const health = parsed.healthCheck;
  if (health) {
    const tick = async () => {
      await Promise.all(slots.map((slot) => probe(slot, health)));
      wake();
      if (!disposed) healthTimer = setTimeout(tick, health.intervalMs);
    };
    healthTimer = setTimeout(tick, health.intervalMs);
  }

  return {
    specificationVersion: 'kumiki.runner.v1',
    provider: 'router',
    modelId: first.runner.modelId,
    capabilities,
    async describeModel(): Promise<ModelDescription> {
      const description = await first.runner.describeModel();
      return { ...description, extra: { ...description.extra, router: primaries.map((slot) => slot.label).join(',') } };
    },
    generate: generate as ModelRunner['generate'],
    stream,
    metrics(): RouterMetrics {
      const endpoints: Record<string, EndpointMetrics> = {};
      for (const slot of slots) {
        admits(slot);
        const sorted = [...slot.latencies].sort((a, b) => a - b);
        endpoints[slot.label] = {
          requests: slot.requests,
          successes: slot.successes,
          failures: slot.failures,
          inFlight: slot.inFlight,
          state: slot.state,
          healthy: slot.healthy,
          latencyMs: sorted.length > 0 ? { p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95) } : undefined,
        };
      }
      return { endpoints, queued: waiters.length };
    },
    async dispose(): Promise<void> {
      disposed = true;
      if (healthTimer !== undefined) clearTimeout(healthTimer);
    },
  };
}
