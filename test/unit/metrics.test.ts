import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AcceptedEvent } from '../../src/domain/event.js';
import { createMetrics, MAX_TOPIC_LABELS } from '../../src/metrics.js';

const NO_COUNTERS = () =>
  Promise.resolve({
    unique_processed: 0,
    duplicate_dropped: 0,
    stored: 0,
    expired: 0,
    stored_bytes: 0,
  });

const event = (topic: string): AcceptedEvent => ({
  topic,
  event_id: 'e',
  timestamp: '2025-10-24T00:00:00.000Z',
  source: 's',
  payload: '{}',
});

void describe('metrics', () => {
  void it('reads the store counters once per scrape, fresh at every scrape', async () => {
    let reads = 0;
    let expired = 0;
    const metrics = createMetrics(
      () => Promise.resolve(0),
      async () => {
        reads++;
        await new Promise((r) => setTimeout(r, 5));
        return { ...(await NO_COUNTERS()), stored: 7, expired, stored_bytes: 70 };
      },
    );
    const first = await metrics.registry.metrics();
    assert.equal(reads, 1, 'stored, stored bytes and expired share one read');
    assert.match(first, /^logsieve_events_stored 7$/m);
    assert.match(first, /^logsieve_stored_bytes 70$/m);
    assert.match(first, /^logsieve_events_expired_total 0$/m);
    expired = 3;
    const second = await metrics.registry.metrics();
    assert.equal(reads, 2);
    assert.match(second, /^logsieve_events_expired_total 3$/m);
  });

  void it('gives topics their own label up to a bound, then counts the rest under _other', async () => {
    const metrics = createMetrics(
      () => Promise.resolve(0),
      () =>
        Promise.resolve({
          unique_processed: 0,
          duplicate_dropped: 0,
          stored: 0,
          expired: 0,
          stored_bytes: 0,
        }),
    );
    const topics = Array.from({ length: MAX_TOPIC_LABELS + 5 }, (_, i) => `t${i}`);
    metrics.accepted(topics.map(event));
    metrics.accepted([event('t0'), event(`t${MAX_TOPIC_LABELS + 1}`)]);
    const text = await metrics.registry.metrics();
    const lines = text.split('\n').filter((l) => l.startsWith('logsieve_events_received_total{'));
    assert.equal(lines.length, MAX_TOPIC_LABELS + 1);
    assert.ok(lines.includes('logsieve_events_received_total{topic="t0"} 2'));
    assert.ok(lines.includes('logsieve_events_received_total{topic="_other"} 6'));
  });

  void it('counts single-event requests like batches, including past the topic bound', async () => {
    const metrics = createMetrics(() => Promise.resolve(0), NO_COUNTERS);
    const topics = Array.from({ length: MAX_TOPIC_LABELS + 3 }, (_, i) => `t${i}`);
    for (const t of topics) metrics.accepted([event(t)]);
    metrics.accepted([event('t1')]);
    metrics.accepted([event(`t${MAX_TOPIC_LABELS + 2}`)]);
    const text = await metrics.registry.metrics();
    const lines = text.split('\n').filter((l) => l.startsWith('logsieve_events_received_total{'));
    assert.equal(lines.length, MAX_TOPIC_LABELS + 1);
    assert.ok(lines.includes('logsieve_events_received_total{topic="t1"} 2'));
    assert.ok(lines.includes('logsieve_events_received_total{topic="_other"} 4'));
  });

  void it('observes publish latency per status code', async () => {
    const metrics = createMetrics(() => Promise.resolve(0), NO_COUNTERS);
    metrics.publishLatency(0.002, 202);
    metrics.publishLatency(0.004, 202);
    metrics.publishLatency(0.5, 503);
    const text = await metrics.registry.metrics();
    assert.match(text, /^logsieve_publish_duration_seconds_count\{status="202"\} 2$/m);
    assert.match(text, /^logsieve_publish_duration_seconds_count\{status="503"\} 1$/m);
    assert.match(text, /^logsieve_publish_duration_seconds_bucket\{le="0.0025",status="202"\} 1$/m);
  });
});
