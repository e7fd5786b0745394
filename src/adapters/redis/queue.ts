/**
 * Queue port on a Redis Stream with one consumer group shared by every instance; each
 * instance is one consumer (`consumerName`). A delivery id is the stream entry id.
 *
 * Keys (hash tag = namespace, so all of them live in one slot):
 *   {ns}:stream    the entries not yet acked (acked ones are XDELed, so it stays bounded)
 *   {ns}:received  events enqueued, lifetime
 *   {ns}:depth     events enqueued and not yet acked; changed only inside the ENQUEUE and
 *                  ACK scripts, atomically with XADD and XACK, so it is exact and survives
 *                  a restart exactly as far as the AOF does.
 *
 * Where a take gets its deliveries from, in this order:
 *   1. `retry`: leases this instance released (or read after their taker gave up), re-claimed
 *      first (see retake);
 *   2. this consumer's own pending entries left by an earlier process with the same name
 *      (read once, at the first takes);
 *   3. XAUTOCLAIM, every claimIdleMs/2: entries idle longer than claimIdleMs in any
 *      consumer's pending list (a dead instance, or a read whose reply was lost);
 *   4. XREADGROUP '>' with a short BLOCK, so aborts and close are noticed within blockMs.
 * Reads go over a dedicated connection, one at a time, so a blocking read never delays an
 * enqueue and never queues behind another blocking read (which would trip the timeout).
 *
 * States: open -> intake stopped (enqueue rejects; takes hand out what this instance still
 * holds and new entries up to the last one it enqueued, then resolve null) -> closed.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AcceptedEvent } from '../../domain/event.js';
import { AppError } from '../../domain/errors.js';
import type { Delivery, Lease, Queue, QueueStats } from '../../ports/queue.js';
import {
  EVENT_SEPARATOR,
  compareIds,
  encodeEvent,
  parseAutoClaim,
  parseReadBlob,
  type ReadBlob,
} from './codec.js';
import { streamPositions } from '../positions.js';
import { closeRedis, connectRedis } from './connection.js';
import { ACK, ENQUEUE, FLOOR, READ, runScript, runScriptBuffer } from './scripts.js';

export interface RedisQueueOptions {
  readonly url: string;
  /** Key prefix; several deployments (or test runs) share one Redis without colliding. */
  readonly namespace: string;
  readonly consumerName: string;
  /** Entries pending this long in another consumer's list are taken over. */
  readonly claimIdleMs: number;
  readonly queueMax: number;
  readonly log?: Logger | undefined;
  /** XREADGROUP BLOCK; bounds how long an abort or close waits. Default 1000. */
  readonly blockMs?: number;
  /** Bound on every other command; an enqueue during an outage fails within it. Default 2000. */
  readonly commandTimeoutMs?: number;
}

export interface RedisQueue extends Queue {
  readonly keys: { readonly stream: string; readonly received: string; readonly depth: string };
  /**
   * An entry id such that no id below it can ever be delivered again (see FLOOR), or null
   * when the group is missing. The store prunes its applied delivery ids below it.
   */
  deliveryFloor(): Promise<string | null>;
}

export const GROUP = 'workers';
const ACK_CHUNK = 5_000;
const RETRY_AFTER_S = 1;
/** ioredis's rejection of a command it never wrote (no connection, offline queue off). */
const NOT_SENT = "Stream isn't writeable and enableOfflineQueue options is false";

export async function openRedisQueue(opts: RedisQueueOptions): Promise<RedisQueue> {
  const blockMs = opts.blockMs ?? 1_000;
  const commandTimeoutMs = opts.commandTimeoutMs ?? 2_000;
  const prefix = `{${opts.namespace}}`;
  const keys = {
    stream: `${prefix}:stream`,
    received: `${prefix}:received`,
    depth: `${prefix}:depth`,
  };
  const cmd = await connectRedis({
    url: opts.url,
    name: `logsieve:${opts.consumerName}:cmd`,
    commandTimeoutMs,
    log: opts.log,
  });
  try {
    await ensureGroup(cmd, keys.stream);
  } catch (err) {
    cmd.disconnect();
    throw err;
  }

  let reader: Redis | null = null;
  let connectingReader: Promise<Redis> | null = null;
  let closed = false;
  let intakeStopped = false;
  /** Highest id this instance enqueued: the drain bound once intake stops. */
  let lastEnqueued: string | null = null;
  let drainedPastBound = false;
  /** Ids this instance holds (leased, or waiting in `retry`): never handed out twice here. */
  const held = new Set<string>();
  const retry: Delivery[] = [];
  let ownCursor: string | null = '0';
  let claimCursor = '0-0';
  let nextClaimAt = 0;
  const claimEveryMs = Math.max(50, Math.floor(opts.claimIdleMs / 2));
  /** Reads are serialised on the reader connection. */
  let readChain: Promise<unknown> = Promise.resolve();

  const unavailable = (cause: unknown): AppError =>
    new AppError('unavailable', 'the queue (Redis) is unreachable; retry shortly', {
      retryAfter: RETRY_AFTER_S,
      cause,
    });
  /**
   * An ENQUEUE that failed after it was sent: a command timeout (a hung Redis runs it when
   * it wakes) or a connection lost before the reply. SPEC's 503 promises that nothing of the
   * request is ever stored, which nobody can promise here, so this is a 504: the events may
   * be queued, and sending them again is safe (duplicates are dropped). Only a command the
   * client never wrote (no connection: enableOfflineQueue is off) is a 503.
   */
  const enqueueFailure = (cause: unknown): AppError =>
    cause instanceof Error && cause.message === NOT_SENT
      ? unavailable(cause)
      : new AppError(
          'outcome_unknown',
          'the queue (Redis) did not confirm the write: the events may have been queued; sending them again is safe (duplicates are dropped)',
          { retryAfter: RETRY_AFTER_S, cause },
        );

  async function getReader(): Promise<Redis> {
    if (reader !== null) return reader;
    connectingReader ??= connectRedis({
      url: opts.url,
      name: `logsieve:${opts.consumerName}:read`,
      commandTimeoutMs: blockMs + commandTimeoutMs,
      log: opts.log,
    }).finally(() => {
      connectingReader = null;
    });
    reader = await connectingReader;
    if (closed) reader.disconnect();
    return reader;
  }

  function fresh(ds: readonly Delivery[]): Delivery[] {
    return ds.filter((d) => !held.has(d.id));
  }

  /** XREADGROUP without blocking, through the READ script (one compact reply). */
  async function readNow(conn: Redis, max: number, from: string): Promise<ReadBlob> {
    const reply = await runScriptBuffer(
      conn,
      READ,
      [keys.stream],
      [GROUP, opts.consumerName, max, from],
    );
    return parseReadBlob(reply);
  }

  /** One read step (sources 2-4). Runs alone on the reader connection. */
  async function readOnce(max: number): Promise<Delivery[] | null> {
    const conn = await getReader();
    if (ownCursor !== null) {
      const own = await readNow(conn, max, ownCursor);
      ownCursor = own.lastId;
      const ds = fresh(own.deliveries);
      if (ds.length > 0 || ownCursor !== null) return ds;
    }
    if (Date.now() >= nextClaimAt) {
      const reply = await cmd.call('XAUTOCLAIM', [
        keys.stream,
        GROUP,
        opts.consumerName,
        opts.claimIdleMs,
        claimCursor,
        'COUNT',
        max,
      ]);
      const claimed = parseAutoClaim(reply);
      claimCursor = claimed.cursor;
      if (claimCursor === '0-0') nextClaimAt = Date.now() + claimEveryMs;
      const ds = fresh(claimed.deliveries);
      if (ds.length > 0) {
        opts.log?.info({ entries: ds.length }, 'claimed entries idle in another consumer');
        return ds;
      }
    }
    if (intakeStopped) {
      if (lastEnqueued === null || drainedPastBound) return null;
      const { deliveries: ds, lastId } = await readNow(conn, max, '>');
      if (lastId === null) return null;
      if (compareIds(lastId, lastEnqueued) >= 0) drainedPastBound = true;
      return ds;
    }
    // Under load there are entries waiting: take them with the compact script reply. When
    // there are none, wait for an entry newer than the newest one now (a plain XREAD, which
    // hands out nothing, so its small reply is all we decode), then read through the script
    // again; another instance may have taken the entry meanwhile (take loops on []).
    const ready = await readNow(conn, max, '>');
    if (ready.lastId !== null) return ready.deliveries;
    const woke = await conn.call('XREAD', [
      'COUNT',
      1,
      'BLOCK',
      blockMs,
      'STREAMS',
      keys.stream,
      ready.waitAfter,
    ]);
    if (woke === null) return [];
    return (await readNow(conn, max, '>')).deliveries;
  }

  /** Serialises `readOnce`, recreating the group if Redis lost it. */
  function read(max: number): Promise<Delivery[] | null> {
    const run = readChain.then(async () => {
      if (closed) return null;
      try {
        return await readOnce(max);
      } catch (err) {
        if (err instanceof Error && err.message.startsWith('NOGROUP')) {
          await ensureGroup(cmd, keys.stream);
          return [];
        }
        throw err;
      }
    });
    readChain = run.catch(() => undefined);
    return run;
  }

  /**
   * Released deliveries, re-claimed before they are handed out again: one that another
   * instance took over and acked meanwhile is dropped (the store may already have forgotten
   * its delivery id, so applying it again could count it twice), and the claim resets the
   * idle time of the others so no one takes them over while this instance retries.
   */
  async function retake(max: number): Promise<Delivery[]> {
    const batch = retry.splice(0, max);
    let reply: unknown;
    try {
      reply = await cmd.call(
        'XCLAIM',
        [keys.stream, GROUP, opts.consumerName, 0].concat(
          batch.map((d) => d.id),
          'JUSTID',
        ),
      );
    } catch (err) {
      retry.unshift(...batch);
      throw err;
    }
    const still = new Set(Array.isArray(reply) ? reply.map(String) : []);
    for (const d of batch) if (!still.has(d.id)) held.delete(d.id);
    return batch.filter((d) => still.has(d.id));
  }

  function lease(ds: Delivery[]): Lease {
    for (const d of ds) held.add(d.id);
    return { deliveries: ds };
  }

  return {
    keys,
    positions: streamPositions,

    async enqueue(events: readonly AcceptedEvent[]): Promise<string[]> {
      if (intakeStopped || closed) {
        throw new AppError('unavailable', 'the aggregator is shutting down', {
          retryAfter: RETRY_AFTER_S,
        });
      }
      if (events.length === 0) return [];
      const args = [opts.queueMax, events.length, events.map(encodeEvent).join(EVENT_SEPARATOR)];
      let reply: unknown;
      try {
        reply = await runScript(cmd, ENQUEUE, [keys.stream, keys.received, keys.depth], args);
      } catch (err) {
        // Refused by the script itself: a bug, not an outage, so no retry would help.
        if (err instanceof Error && err.message.startsWith('ENQUEUE:')) {
          throw new AppError('internal', err.message, { cause: err });
        }
        throw enqueueFailure(err);
      }
      if (!Array.isArray(reply)) throw new AppError('internal', 'unexpected reply from ENQUEUE');
      const [status, ...rest] = reply as unknown[];
      if (status === 'full') {
        throw new AppError(
          'queue_full',
          `the queue holds ${String(rest[0])} events; ${events.length} more would exceed ${opts.queueMax}`,
          { retryAfter: RETRY_AFTER_S },
        );
      }
      const ids = typeof rest[0] === 'string' ? rest[0].split(',') : [];
      if (ids.length !== events.length) {
        throw new AppError('internal', 'ENQUEUE answered another number of ids');
      }
      const last = ids.at(-1);
      if (last !== undefined && (lastEnqueued === null || compareIds(last, lastEnqueued) > 0)) {
        lastEnqueued = last;
      }
      return ids;
    },

    async stats(): Promise<QueueStats> {
      let values: (string | null)[];
      try {
        // One MGET: both counters from the same instant.
        values = await cmd.mget(keys.received, keys.depth);
      } catch (err) {
        throw unavailable(err);
      }
      return { received: Number(values[0] ?? 0), depth: Number(values[1] ?? 0) };
    },

    async deliveryFloor(): Promise<string | null> {
      const floor = await runScript(cmd, FLOOR, [keys.stream], [GROUP]);
      return typeof floor === 'string' ? floor : null;
    },

    async ready(): Promise<boolean> {
      try {
        return (await cmd.ping()) === 'PONG';
      } catch {
        return false;
      }
    },

    async take(max: number, signal?: AbortSignal): Promise<Lease | null> {
      while (!closed && signal?.aborted !== true) {
        if (retry.length > 0) {
          const again = await retake(max);
          if (again.length > 0) return { deliveries: again };
          continue;
        }
        const pending = read(max);
        let outcome: Delivery[] | null | typeof ABORTED;
        try {
          outcome = await raceAbort(pending, signal);
        } catch (err) {
          // close() cuts the read off; that is the end of this take, not a failure.
          if (closed) return null;
          throw err;
        }
        if (outcome === ABORTED) {
          // The read may still hand us entries: keep them for the next taker.
          void pending.then(
            (ds) => {
              if (ds !== null && ds.length > 0) retry.push(...lease(ds).deliveries);
            },
            () => undefined,
          );
          return null;
        }
        if (outcome === null) {
          if (closed || intakeStopped) return null;
          continue;
        }
        if (outcome.length > 0) return lease(outcome);
      }
      return null;
    },

    async ack(l: Lease): Promise<void> {
      const ids = l.deliveries.map((d) => d.id);
      try {
        for (let i = 0; i < ids.length; i += ACK_CHUNK) {
          await runScript(
            cmd,
            ACK,
            [keys.stream, keys.depth],
            [GROUP, ...ids.slice(i, i + ACK_CHUNK)],
          );
        }
      } finally {
        // Unacked after a failure: XAUTOCLAIM brings them back once idle; the store answers
        // 'redelivered' for the ones it already committed.
        for (const id of ids) held.delete(id);
      }
    },

    release(l: Lease): Promise<void> {
      if (!closed) retry.push(...l.deliveries);
      return Promise.resolve();
    },

    stopIntake(): void {
      intakeStopped = true;
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      intakeStopped = true;
      // A read in flight is cut off; its entries stay pending under this consumer and are
      // read again by the next process with this name or claimed by another instance.
      reader?.disconnect();
      const connecting = connectingReader;
      if (connecting !== null)
        void connecting.then(
          (r) => r.disconnect(),
          () => undefined,
        );
      await closeRedis(cmd, commandTimeoutMs);
    },
  };
}

/** Creates the group (from the stream's start, so nothing enqueued earlier is skipped). */
async function ensureGroup(redis: Redis, stream: string): Promise<void> {
  try {
    await redis.call('XGROUP', ['CREATE', stream, GROUP, '0', 'MKSTREAM']);
  } catch (err) {
    if (!(err instanceof Error && err.message.startsWith('BUSYGROUP'))) throw err;
  }
}

const ABORTED = Symbol('aborted');

function raceAbort<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T | typeof ABORTED> {
  if (signal === undefined) return p;
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
