/* global __ENV, __VU, __ITER */
// k6 load script (https://k6.io), for running against a deployment from another machine:
//   k6 run -e URL=http://localhost:8080 -e BATCH=500 -e DUP_RATIO=0.3 bench/k6.js
// Each iteration publishes one batch (BATCH=1 for single-event requests) in which DUP_RATIO
// of the events repeat ids this virtual user sent before. Thresholds mirror the W2 goals.
// `npm run bench` is the reproducible benchmark of record; this script is not run in CI.
import http from 'k6/http';
import { check } from 'k6';
import { Counter } from 'k6/metrics';

const URL = __ENV.URL || 'http://localhost:8080';
const BATCH = Number(__ENV.BATCH || 500);
const DUP_RATIO = Number(__ENV.DUP_RATIO || 0.3);
const TOPICS = (__ENV.TOPICS || 'login,order,payment').split(',');

export const options = {
  scenarios: {
    publish: {
      executor: 'constant-vus',
      vus: Number(__ENV.VUS || 16),
      duration: __ENV.DURATION || '30s',
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{name:publish}': ['p(99)<20'],
  },
};

const eventsSent = new Counter('events_sent');
const duplicatesSent = new Counter('duplicates_sent');
const sentIds = [];

export default function () {
  const events = [];
  for (let i = 0; i < BATCH; i++) {
    const dup = sentIds.length > 0 && Math.random() < DUP_RATIO;
    const id = dup
      ? sentIds[Math.floor(Math.random() * sentIds.length)]
      : `${__VU}-${__ITER}-${i}-${Date.now()}`;
    if (!dup) {
      sentIds.push(id);
      if (sentIds.length > 10000) sentIds.shift();
    } else {
      duplicatesSent.add(1);
    }
    events.push({
      topic: TOPICS[i % TOPICS.length],
      event_id: id,
      timestamp: new Date().toISOString(),
      source: `k6-vu-${__VU}`,
      payload: { iteration: __ITER, index: i, note: 'k6 load' },
    });
  }
  // A duplicate keeps its first topic, so the dedup key (topic, event_id) really repeats.
  for (const e of events) e.topic = TOPICS[hash(e.event_id) % TOPICS.length];
  const res = http.post(`${URL}/publish`, JSON.stringify(BATCH === 1 ? events[0] : events), {
    headers: { 'content-type': 'application/json' },
    tags: { name: 'publish' },
  });
  check(res, { 'accepted (202)': (r) => r.status === 202 });
  eventsSent.add(events.length);
}

function hash(s) {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return h;
}

export function handleSummary(data) {
  const stats = http.get(`${URL}/stats`).json();
  return {
    stdout:
      `events sent ${data.metrics.events_sent.values.count}, duplicates sent ` +
      `${data.metrics.duplicates_sent ? data.metrics.duplicates_sent.values.count : 0}\n` +
      `aggregator /stats: ${JSON.stringify(stats)}\n`,
  };
}
