/**
 * Prometheus text exposition (format 0.0.4), written by hand: counters, histograms, gauges.
 * Label sets are bounded: routes are the gateway's fixed route names, models are configured names.
 */

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const WAIT_BUCKETS = [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

type Labels = Record<string, string>;

const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labelText = (labels: Labels) => {
  const entries = Object.entries(labels);
  return entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
};

class CounterFamily {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  add(labels: Labels, by = 1): void {
    const key = labelText(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [labels, value] of this.values) lines.push(`${this.name}${labels} ${value}`);
    return lines;
  }
}

class HistogramFamily {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}
  observe(labels: Labels, value: number): void {
    const key = labelText(labels);
    let entry = this.series.get(key);
    if (!entry) {
      entry = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, entry);
    }
    for (let i = 0; i < this.buckets.length; i++)
      if (value <= (this.buckets[i] as number)) entry.counts[i] = (entry.counts[i] ?? 0) + 1;
    entry.sum += value;
    entry.count++;
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const entry of this.series.values()) {
      this.buckets.forEach((bound, i) => {
        lines.push(`${this.name}_bucket${labelText({ ...entry.labels, le: String(bound) })} ${entry.counts[i]}`);
      });
      lines.push(`${this.name}_bucket${labelText({ ...entry.labels, le: '+Inf' })} ${entry.count}`);
      lines.push(`${this.name}_sum${labelText(entry.labels)} ${entry.sum}`);
      lines.push(`${this.name}_count${labelText(entry.labels)} ${entry.count}`);
    }
    return lines;
  }
}

/** Gauges read when rendered, one value per label set. */
class GaugeFamily {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => [Labels, number][],
  ) {}
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    for (const [labels, value] of this.read()) lines.push(`${this.name}${labelText(labels)} ${value}`);
    return lines;
  }
}

/** Per model: requests holding a slot and requests waiting for one. */
export type QueueReading = { model: string; running: number; waiting: number };

/** The gateway's metrics; `render()` gives the body of GET /metrics. */
export class GatewayMetrics {
  readonly requests = new CounterFamily(
    'kumiki_gateway_requests_total',
    'Requests answered, by route, method and status.',
  );
  readonly duration = new HistogramFamily(
    'kumiki_gateway_request_duration_seconds',
    'Time from receiving a request to the end of its response (streams included), by route.',
    DURATION_BUCKETS,
  );
  readonly tokens = new CounterFamily(
    'kumiki_gateway_tokens_total',
    'Tokens reported by runners and embedders, by model and kind (prompt, completion, embedding).',
  );
  readonly rateLimited = new CounterFamily(
    'kumiki_gateway_rate_limited_total',
    'Requests refused with 429, by limit (requests, tokens).',
  );
  readonly queueWait = new HistogramFamily(
    'kumiki_gateway_queue_wait_seconds',
    'Time a generation request waited for a slot of its model, by model.',
    WAIT_BUCKETS,
  );
  readonly queueRejected = new CounterFamily(
    'kumiki_gateway_queue_rejected_total',
    'Requests refused by admission control, by model and reason (queue_full → 429, queue_timeout → 503).',
  );
  private readonly slots: GaugeFamily;
  private readonly waiting: GaugeFamily;
  inFlight = 0;

  constructor(queues: () => QueueReading[] = () => []) {
    this.slots = new GaugeFamily('kumiki_gateway_slots_busy', 'Generation requests holding a slot, by model.', () =>
      queues().map((queue) => [{ model: queue.model }, queue.running]),
    );
    this.waiting = new GaugeFamily(
      'kumiki_gateway_queue_depth',
      'Generation requests waiting for a slot, by model.',
      () => queues().map((queue) => [{ model: queue.model }, queue.waiting]),
    );
  }

  render(): string {
    return [
      ...this.requests.render(),
      ...this.duration.render(),
      ...this.tokens.render(),
      ...this.rateLimited.render(),
      ...this.queueWait.render(),
      ...this.queueRejected.render(),
      ...this.slots.render(),
      ...this.waiting.render(),
      '# HELP kumiki_gateway_requests_in_flight Requests being handled now (open streams included).',
      '# TYPE kumiki_gateway_requests_in_flight gauge',
      `kumiki_gateway_requests_in_flight ${this.inFlight}`,
      '',
    ].join('\n');
  }
}
