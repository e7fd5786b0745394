/**
 * An OpenTelemetry SDK exporter (protobuf, gzip) ships logs to the BUILT server while it is
 * SIGKILLed and restarted on the same DATA_DIR. Every record of every export the exporter
 * saw succeed is stored exactly once; the exports that failed are shipped again after the
 * restart (as a collector's retry queue would), and those that had in fact been stored
 * before the kill come back as duplicates: content-hashed records included, because the
 * same record hashes equal on every export.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeverityNumber } from '@opentelemetry/api-logs';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { allEvents, waitIdle } from '../helpers/http.js';
import { exportBatch, otlpExporter, OtelService } from '../helpers/otel.js';
import { spawnServer } from '../helpers/server.js';
import { makeDataDir, removeDir, sleep } from '../helpers/tmp.js';

const BATCH = 50;

interface Batch {
  readonly seqs: number[];
  readonly records: ReadableLogRecord[];
}

void describe('OTLP export across SIGKILL and restart', () => {
  void it('stores every record the exporter saw succeed exactly once', async () => {
    const dataDir = await makeDataDir();
    let server = await spawnServer({ DATA_DIR: dataDir, WORKERS: '2', BATCH_MAX: '200' });
    const services = ['orders', 'billing'].map(
      (name) => new OtelService({ 'service.name': name, 'service.instance.id': `${name}-1` }),
    );
    let seq = 0;
    const nextBatch = (): Batch => {
      const seqs: number[] = [];
      for (let i = 0; i < BATCH; i++, seq++) {
        seqs.push(seq);
        // Half carry log.record.uid, half dedup by content hash.
        const attributes =
          seq % 2 === 0 ? { seq, 'log.record.uid': `uid-${seq}` } : { seq, kind: 'hashed' };
        (services[seq % 2] as OtelService).emit({
          body: `record ${seq}`,
          severityNumber: SeverityNumber.INFO,
          severityText: 'INFO',
          attributes,
          timestamp: Date.UTC(2025, 0, 1) + seq,
        });
      }
      return { seqs, records: services.flatMap((s) => s.take()) };
    };

    const succeeded: Batch[] = [];
    const failed: Batch[] = [];
    let stop = false;
    // The URL is read per export: after the restart the server listens on a new port.
    let url = server.url;
    const shipper = async (): Promise<void> => {
      while (!stop) {
        const batch = nextBatch();
        const exporter = otlpExporter(url, {
          encoding: 'protobuf',
          gzip: true,
          timeoutMillis: 2_000,
        });
        const ok = await exportBatch(exporter, batch.records);
        await exporter.shutdown();
        (ok ? succeeded : failed).push(batch);
      }
    };
    try {
      const shippers = [shipper(), shipper()];
      for (let i = 0; i < 1_000 && succeeded.length < 20; i++) await sleep(10);
      assert.ok(succeeded.length >= 20, 'the exporters got successes before the kill');
      const exit = await server.kill('SIGKILL');
      assert.equal(exit.signal, 'SIGKILL');
      // Let some exports fail against the dead server, then bring it back.
      await sleep(300);
      server = await server.restart();
      url = server.url;
      for (let i = 0; i < 1_000 && succeeded.length < 30; i++) await sleep(10);
      stop = true;
      await Promise.all(shippers);

      // The exports in flight at the kill aimed at the old port: they cannot have succeeded.
      assert.ok(failed.length > 0, 'some exports failed across the kill');
      // What a collector's retry queue does with the exports that failed.
      const retry = otlpExporter(server.url, { encoding: 'protobuf', gzip: true });
      for (const batch of failed.splice(0)) {
        assert.ok(await exportBatch(retry, batch.records), 'a re-export after restart succeeds');
        succeeded.push(batch);
      }
      await retry.shutdown();

      const s = await waitIdle(server.url, 60_000);
      const rows = await allEvents(server.url);
      const stored = new Map<number, number>();
      for (const row of rows) {
        const n = (row.payload.attributes as { seq: number }).seq;
        stored.set(n, (stored.get(n) ?? 0) + 1);
      }
      const expected = succeeded.flatMap((b) => b.seqs);
      for (const n of expected) {
        assert.equal(stored.get(n), 1, `record ${n} is stored exactly once`);
      }
      assert.equal(rows.length, expected.length, 'nothing stored that was never exported');
      assert.equal(s.unique_processed, rows.length);
      assert.equal(s.received, s.unique_processed + s.duplicate_dropped + s.queue_depth);
    } finally {
      stop = true;
      await server.kill('SIGKILL');
      await removeDir(dataDir);
    }
  });
});
