/**
 * Load generation for `npm run bench`: pre-serialised request bodies sent over keep-alive
 * node:http connections, so the generator's own ceiling stays far above the server's.
 */
import http from 'node:http';

export interface BenchEvent {
  topic: string;
  event_id: string;
  timestamp: string;
  source: string;
  payload: Record<string, unknown>;
}

/** `total` events of which `dupRatio` are copies of earlier ones, deterministically mixed. */
export function makeEvents(
  total: number,
  dupRatio: number,
  runId: string,
  seed = 42,
): BenchEvent[] {
  let state = seed >>> 0;
  const rand = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const uniqueCount = Math.round(total * (1 - dupRatio));
  const topics = ['login', 'order', 'payment', 'app/prod/api'];
  const unique: BenchEvent[] = [];
  for (let i = 0; i < uniqueCount; i++) {
    unique.push({
      topic: topics[i % topics.length] as string,
      event_id: `${runId}-${i}`,
      timestamp: new Date(Date.UTC(2025, 9, 24, 0, 0, 0, i)).toISOString(),
      source: `svc-${i % 7}`,
      payload: { user: `u${i % 1000}`, amount: i % 997, tags: ['a', 'b'], ok: true },
    });
  }
  const all = [...unique];
  for (let i = uniqueCount; i < total; i++)
    all.push(unique[Math.floor(rand() * uniqueCount)] as BenchEvent);
  // Shuffle the duplicates in among the originals (a copy may arrive before its original).
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [all[i], all[j]] = [all[j] as BenchEvent, all[i] as BenchEvent];
  }
  return all;
}

export interface LoadResult {
  readonly requests: number;
  readonly seconds: number;
  readonly latenciesMs: number[];
  readonly statuses: Record<number, number>;
}

/** Sends every body once, `concurrency` at a time, over keep-alive connections. */
export async function sendAll(
  url: string | readonly string[],
  bodies: readonly Buffer[],
  concurrency: number,
  headers: Record<string, string> = {},
  path = '/publish',
): Promise<LoadResult> {
  const targets = (typeof url === 'string' ? [url] : url).map((u) => new URL(path, u));
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latenciesMs: number[] = new Array<number>(bodies.length);
  const statuses: Record<number, number> = {};
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    while (next < bodies.length) {
      const i = next++;
      const body = bodies[i] as Buffer;
      const t0 = process.hrtime.bigint();
      const status = await post(targets[i % targets.length] as URL, body, agent, headers);
      latenciesMs[i] = Number(process.hrtime.bigint() - t0) / 1e6;
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  agent.destroy();
  return { requests: bodies.length, seconds, latenciesMs, statuses };
}

function post(
  url: URL,
  body: Buffer,
  agent: http.Agent,
  headers: Record<string, string>,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': body.length, ...headers },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

export async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

/**
 * Sends every body once through autocannon (its own HTTP/1.1 client, far faster than
 * node:http), over `connections` keep-alive connections. The rate is timed from the start to
 * the last response: autocannon only notices the end of a run at its 1-second tick, which
 * would make a 5,000-request run look several times slower than it is. Latency has 1 ms
 * resolution. `onAnswered` runs as the last response arrives (long before autocannon
 * returns), with how many were 2xx (events accepted), so a caller can start watching the
 * server then rather than during the load, for exactly the events it took.
 */
export async function sendAllFast(
  url: string,
  bodies: readonly Buffer[],
  connections: number,
  onAnswered?: (accepted: number) => void,
): Promise<{
  requests: number;
  seconds: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}> {
  const { default: autocannon } = await import('autocannon');
  let next = 0;
  let lastResponse = process.hrtime.bigint();
  let answered = 0;
  let accepted = 0;
  const started = process.hrtime.bigint();
  const result = await autocannon({
    url,
    connections,
    amount: bodies.length,
    requests: [
      {
        method: 'POST',
        path: '/publish',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length] }),
        onResponse: (status: number) => {
          lastResponse = process.hrtime.bigint();
          if (status >= 200 && status < 300) accepted++;
          if (++answered === bodies.length) onAnswered?.(accepted);
        },
      },
    ],
  });
  return {
    requests: result.requests.total,
    seconds: Number(lastResponse - started) / 1e9,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}
