/**
 * W2 against NATS JetStream, for `npm run bench -- --compare`: the same 5,000 single events
 * (20 % duplicates) published to a private `nats-server -js` over 16 connections with the
 * official client, deduplicated by `Nats-Msg-Id` = `topic/event_id`, so the two systems do the
 * same work: accept an event, acknowledge it, drop the repeats.
 *
 * What the acknowledgement means differs and the report says so: JetStream acks once the
 * message is in the stream's file store, which it fsyncs on a timer (`sync_interval`, 2 min by
 * default), not before the ack; logsieve's 202 follows an O_DSYNC write.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { BenchEvent } from './load.js';
import { percentile } from './load.js';
import { freePort } from './servers.js';

/** Debian's nats-server package installs here. */
export const NATS_SERVER = '/usr/sbin/nats-server';

export interface NatsServer {
  readonly url: string;
  stop(): Promise<void>;
}

export function natsAvailable(): boolean {
  return existsSync(NATS_SERVER);
}

/** A private JetStream server on a free port with its own store directory. */
export async function startNats(): Promise<NatsServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'logsieve-bench-nats-'));
  const child = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], {
    stdio: 'ignore',
  });
  await waitListening(port, child);
  return {
    url: `127.0.0.1:${port}`,
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitListening(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('nats-server did not start listening');
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

export interface NatsRound {
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  /** Messages the stream holds at the end: the unique events, if dedup held. */
  readonly stored: number;
  readonly duplicates: number;
}

/**
 * Publishes every event once, `connections` publishers at a time (one in flight each, as the
 * HTTP side has one request in flight per connection), into a fresh stream.
 */
export async function natsRound(
  server: NatsServer,
  events: readonly BenchEvent[],
  connections: number,
  stream: string,
): Promise<NatsRound> {
  const conns: NatsConnection[] = await Promise.all(
    Array.from({ length: connections }, () => connect({ servers: server.url })),
  );
  const first = conns[0] as NatsConnection;
  try {
    const jsm = await jetstreamManager(first);
    // The duplicate window must cover the whole run for dedup to be exact.
    await jsm.streams.add({
      name: stream,
      subjects: [`${stream}.>`],
      duplicate_window: 10 * 60 * 1e9,
    });
    const bodies = events.map((e) => ({
      subject: `${stream}.${e.topic.replace(/[^A-Za-z0-9_-]/g, '_')}`,
      id: `${e.topic}/${e.event_id}`,
      data: Buffer.from(JSON.stringify(e)),
    }));
    const latencies = new Array<number>(bodies.length);
    let next = 0;
    let duplicates = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      conns.map(async (nc) => {
        const js = jetstream(nc);
        while (next < bodies.length) {
          const i = next++;
          const b = bodies[i];
          if (b === undefined) break;
          const t0 = process.hrtime.bigint();
          const ack = await js.publish(b.subject, b.data, { msgID: b.id });
          latencies[i] = Number(process.hrtime.bigint() - t0) / 1e6;
          if (ack.duplicate) duplicates++;
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const info = await jsm.streams.info(stream);
    await jsm.streams.delete(stream);
    return {
      rate: bodies.length / seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      stored: info.state.messages,
      duplicates,
    };
  } finally {
    await Promise.all(conns.map((nc) => nc.close()));
  }
}
