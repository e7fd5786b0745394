/**
 * Test doubles on loopback: a programmable HTTP stub, and a fake aggregator that dedups in
 * memory and serves /stats, so the client and the CLI can be driven through failures the
 * real server does not produce on demand.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StubRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

export type StubHandler = (
  req: StubRequest,
  res: ServerResponse,
  index: number,
) => void | Promise<void>;

export interface Stub {
  readonly url: string;
  readonly port: number;
  readonly requests: StubRequest[];
  close(): Promise<void>;
}

export async function startStub(handler: StubHandler, port = 0): Promise<Stub> {
  const requests: StubRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: StubRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(r);
      Promise.resolve(handler(r, res, requests.length - 1)).catch((err: unknown) => {
        res.statusCode = 599;
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function json(res: ServerResponse, status: number, body: unknown, headers = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** Decides, per POST /publish, whether to refuse it; undefined means accept. */
export type Refusal = (
  index: number,
) => { status: number; headers?: Record<string, string> } | undefined;

/** A minimal in-memory aggregator with the real counters' semantics. */
export function fakeAggregator(refuse: Refusal = () => undefined): {
  handler: StubHandler;
  seen: Set<string>;
} {
  const seen = new Set<string>();
  const stats = { received: 0, unique_processed: 0, duplicate_dropped: 0 };
  let publishes = 0;
  const handler: StubHandler = (req, res) => {
    if (req.method === 'GET' && req.url === '/stats') {
      return json(res, 200, {
        ...stats,
        queue_depth: 0,
        rejected: 0,
        topics: [],
        uptime_seconds: 1,
        started_at: '2025-01-01T00:00:00.000Z',
        workers: 1,
        mode: 'fake',
      });
    }
    if (req.method === 'POST' && req.url === '/publish') {
      const refusal = refuse(publishes++);
      if (refusal !== undefined) {
        return json(
          res,
          refusal.status,
          { error: 'queue_full', message: 'busy', details: [] },
          refusal.headers,
        );
      }
      const events = JSON.parse(req.body) as { topic: string; event_id: string }[];
      for (const e of events) {
        const key = `${e.topic}\u0000${e.event_id}`;
        stats.received += 1;
        if (seen.has(key)) stats.duplicate_dropped += 1;
        else {
          seen.add(key);
          stats.unique_processed += 1;
        }
      }
      return json(res, 202, { accepted: events.length });
    }
    return json(res, 404, { error: 'not_found', message: req.url, details: [] });
  };
  return { handler, seen };
}
