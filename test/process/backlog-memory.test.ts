/**
 * A big backlog at start-up must not need memory in proportion to its payloads: the queue
 * keeps positions and reads payloads back when consumers take them. The server runs with a
 * heap far smaller than the backlog (--max-old-space-size), which the previous design (whole
 * segments decoded to text, every queued event held in memory) cannot survive.
 */
import assert from 'node:assert/strict';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { encodeRecord } from '../../src/adapters/log/codec.js';
import { segmentPath } from '../../src/adapters/log/segments.js';
import { stats, waitIdle } from '../helpers/http.js';
import { spawnServer } from '../helpers/server.js';
import { makeDataDir, removeDir } from '../helpers/tmp.js';

const EVENTS = 2_500;
const PAD = 'x'.repeat(60 * 1024);
const HEAP_MB = 96;

void describe('start-up with a full queue', () => {
  void it(`recovers ${EVENTS} events of 60 KiB (~150 MB) with a ${HEAP_MB} MB heap`, async () => {
    const dataDir = await makeDataDir('logsieve-backlog');
    try {
      // The backlog a crash can leave: acknowledged, never applied. Written as a segment of
      // the pre-framing format, which every version reads.
      const queueDir = join(dataDir, 'queue');
      await mkdir(queueDir, { recursive: true });
      const file = await open(segmentPath(queueDir, 1), 'w');
      for (let i = 1; i <= EVENTS; i++) {
        const line = encodeRecord(i, {
          topic: 'backlog',
          event_id: `b${i}`,
          timestamp: '2025-10-24T00:00:00.000Z',
          source: 's',
          payload: JSON.stringify({ i, pad: PAD }),
        });
        await file.write(line);
      }
      await file.close();

      const server = await spawnServer({
        DATA_DIR: dataDir,
        NODE_OPTIONS: `--max-old-space-size=${HEAP_MB}`,
        QUEUE_MAX_BYTES: String(4 * 1024 * 1024 * 1024),
      });
      try {
        const first = await stats(server.url);
        assert.equal(first.received, EVENTS);
        const s = await waitIdle(server.url, 240_000);
        assert.equal(s.received, EVENTS);
        assert.equal(s.unique_processed, EVENTS);
        assert.equal(s.duplicate_dropped, 0);
        const one = await fetch(`${server.url}/events/backlog/b${EVENTS}`);
        assert.equal(one.status, 200);
        const body = (await one.json()) as { payload: { pad: string } };
        assert.equal(body.payload.pad, PAD, 'a payload read back from the log is intact');
      } finally {
        await server.kill('SIGKILL');
      }
    } finally {
      await removeDir(dataDir);
    }
  });
});
