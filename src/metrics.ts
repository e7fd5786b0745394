/**
 * Prometheus metrics (prom-client), one registry per app. Counters are per process (they
 * reset at restart, as Prometheus expects; `rate()` handles that); lifetime totals are in
 * /stats. Read at scrape time instead: the queue depth, and the store's retention figures
 * (`logsieve_events_stored`, `logsieve_stored_bytes`, and the counter
 * `logsieve_events_expired_total`, which survives restarts as the store's count does). Those
 * are the whole store's, so every cluster instance reports the same value: aggregate them
 * across instances with max(), not sum().
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AcceptedEvent } from './domain/event.js';
import type { ApplyResult, StoreCounters } from './ports/store.js';

export interface Metrics {
  readonly registry: Registry;
  accepted(events: readonly AcceptedEvent[]): void;
  rejected(reason: string): void;
  publishLatency(seconds: number, status: number): void;
  applied(result: ApplyResult, lagSeconds: readonly number[]): void;
  /** One answered ingest request (labels are bounded sets chosen by the caller). */
  ingestRequest(labels: IngestLabels): void;
  /** Events accepted (durably queued) by one ingest route in one body format. */
  ingestAccepted(route: string, format: string, events: number): void;
  /** A /stats answer whose counters broke the invariant of an exact backend. */
  statsMismatch(): void;
}

export interface IngestLabels {
  readonly route: string;
  readonly format: string;
  readonly encoding: string;
  readonly status: number;
}

/**
 * Topics get their own label value up to this many; later ones share `_other`, so a client
 * inventing topics cannot grow the registry (and every scrape) without bound.
 */
export const MAX_TOPIC_LABELS = 1_000;

export function createMetrics(
  queueDepth: () => Promise<number>,
  storeCounters: () => Promise<StoreCounters>,
  /**
   * The store's first MAX_TOPIC_LABELS topics by name at start: they keep their labels
   * across restarts. Topics first seen later take the labels left, in the order they come
   * (a label cannot move once a counter has it).
   */
  knownTopics: readonly string[] = [],
): Metrics {
  const registry = new Registry();
  const labelled = new Set<string>(knownTopics.slice(0, MAX_TOPIC_LABELS));
  const label = (topic: string): string => {
    if (labelled.has(topic)) return topic;
    if (labelled.size >= MAX_TOPIC_LABELS) return '_other';
    labelled.add(topic);
    return topic;
  };
  // prom-client's own names already start with process_ or nodejs_: logsieve_process_cpu_...
  collectDefaultMetrics({ register: registry, prefix: 'logsieve_' });
  // One read of the store's counters per scrape, shared by the three metrics below (in
  // cluster mode each is a PostgreSQL query): concurrent calls join the one in flight.
  let reading: Promise<StoreCounters> | null = null;
  const countersOnce = (): Promise<StoreCounters> =>
    (reading ??= storeCounters().finally(() => {
      reading = null;
    }));
  const received = new Counter({
    name: 'logsieve_events_received_total',
    help: 'Valid events accepted by /publish (durably queued).',
    labelNames: ['topic'],
    registers: [registry],
  });
  const unique = new Counter({
    name: 'logsieve_events_unique_total',
    help: 'Unique events stored by this process.',
    labelNames: ['topic'],
    registers: [registry],
  });
  const duplicates = new Counter({
    name: 'logsieve_events_duplicate_total',
    help: 'Duplicate events dropped by this process.',
    labelNames: ['topic'],
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'logsieve_publish_rejected_total',
    help: 'Rejected ingest requests (/publish, /v1/logs), by error code.',
    labelNames: ['reason'],
    registers: [registry],
  });
  new Gauge({
    name: 'logsieve_queue_depth',
    help: 'Accepted events not yet applied to the store.',
    registers: [registry],
    async collect() {
      this.set(await queueDepth());
    },
  });
  // Retention: read from the store's lifetime counters at scrape time (not per process).
  const fromCounters = (name: string, help: string, pick: (c: StoreCounters) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        // A store outage must not fail the whole scrape: the gauge keeps its last value.
        try {
          this.set(pick(await countersOnce()));
        } catch {
          // the store's own errors are logged where they happen
        }
      },
    });
  };
  fromCounters('logsieve_events_stored', 'Events retained now.', (c) => c.stored);
  // A lifetime count, so a counter (rate() and increase() apply), read from the store at
  // scrape time: it survives restarts, as the store's counter does.
  new Counter({
    name: 'logsieve_events_expired_total',
    help: 'Events removed by retention, lifetime (from the store).',
    registers: [registry],
    async collect() {
      try {
        const expired = (await countersOnce()).expired;
        this.reset();
        this.inc(expired);
      } catch {
        // as for the gauges above: the last value stays
      }
    },
  });
  fromCounters(
    'logsieve_stored_bytes',
    'Bytes of the retained events (topic, event_id, timestamp, source, payload).',
    (c) => c.stored_bytes,
  );
  const latency = new Histogram({
    name: 'logsieve_publish_duration_seconds',
    help: 'Time to answer POST /publish.',
    labelNames: ['status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const ingestRequests = new Counter({
    name: 'logsieve_ingest_requests_total',
    help: 'Answered ingest requests (/publish, /v1/logs) by body format, content encoding and status.',
    labelNames: ['route', 'format', 'encoding', 'status'],
    registers: [registry],
  });
  const ingestEvents = new Counter({
    name: 'logsieve_ingest_events_total',
    help: 'Events accepted (durably queued) by ingest route and body format.',
    labelNames: ['route', 'format'],
    registers: [registry],
  });
  const mismatches = new Counter({
    name: 'logsieve_stats_invariant_mismatch_total',
    help: '/stats answers whose counters broke received = unique + duplicates + queue depth (an exact backend: a bug).',
    registers: [registry],
  });
  const lag = new Histogram({
    name: 'logsieve_processing_lag_seconds',
    help: 'Time from an event timestamp to its processing (event-time lag).',
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600],
    registers: [registry],
  });

  // Label children looked up once, not hashed from a label object on every request: both
  // key sets are bounded (HTTP status codes; topics by MAX_TOPIC_LABELS plus `_other`).
  const latencyByStatus = new Map<number, Histogram.Internal<'status'>>();
  const receivedByTopic = new Map<string, Counter.Internal>();
  const receivedFor = (topic: string): Counter.Internal => {
    let child = receivedByTopic.get(topic);
    if (child === undefined) {
      child = received.labels(topic);
      receivedByTopic.set(topic, child);
    }
    return child;
  };

  return {
    registry,
    accepted(events) {
      // A single-event request (the common case under W2) skips the per-request map.
      if (events.length === 1) {
        receivedFor(label((events[0] as AcceptedEvent).topic)).inc();
        return;
      }
      const byTopic = new Map<string, number>();
      for (const e of events) {
        const topic = label(e.topic);
        byTopic.set(topic, (byTopic.get(topic) ?? 0) + 1);
      }
      for (const [topic, n] of byTopic) receivedFor(topic).inc(n);
    },
    rejected(reason) {
      rejected.inc({ reason });
    },
    publishLatency(seconds, status) {
      let child = latencyByStatus.get(status);
      if (child === undefined) {
        child = latency.labels(String(status));
        latencyByStatus.set(status, child);
      }
      child.observe(seconds);
    },
    applied(result, lagSeconds) {
      const stored = new Map<string, number>();
      const dropped = new Map<string, number>();
      for (const item of result.items) {
        const target =
          item.status === 'stored' ? stored : item.status === 'duplicate' ? dropped : null;
        if (target === null) continue;
        const topic = label(item.topic);
        target.set(topic, (target.get(topic) ?? 0) + 1);
      }
      for (const [topic, n] of stored) unique.inc({ topic }, n);
      for (const [topic, n] of dropped) duplicates.inc({ topic }, n);
      for (const s of lagSeconds) lag.observe(Math.max(0, s));
    },
    ingestRequest({ route, format, encoding, status }) {
      ingestRequests.inc({ route, format, encoding, status: String(status) });
    },
    ingestAccepted(route, format, events) {
      ingestEvents.inc({ route, format }, events);
    },
    statsMismatch() {
      mismatches.inc();
    },
  };
}
