/**
 * The OTLP workload of `npm run bench` (O1): 20,000 log records, 30 % of them re-exported
 * copies of earlier ones (what an exporter's retry sends), in ExportLogsServiceRequests of
 * 500 records, protobuf, encoded once before timing with protobufjs from the same upstream
 * .proto files the server compiles. Records carry no log.record.uid, so every one goes
 * through the content hash (the costlier path).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { makeEvents } from './load.js';

/** proto/ at the package root, seen from dist/bench/. */
const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));

export function otlpBodies(runId: string, total = 20_000, batch = 500): Buffer[] {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
  root.loadSync('opentelemetry/proto/collector/logs/v1/logs_service.proto');
  const request = root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest');
  // The W1 event mix (same duplicate pattern), each event turned into a log record.
  const events = makeEvents(total, 0.3, runId);
  const bodies: Buffer[] = [];
  for (let i = 0; i < events.length; i += batch) {
    const byService = new Map<string, object[]>();
    for (const e of events.slice(i, i + batch)) {
      const ms = BigInt(Date.parse(e.timestamp));
      const record = {
        timeUnixNano: (ms * 1_000_000n).toString(),
        severityNumber: 9,
        severityText: 'INFO',
        body: { stringValue: `${e.topic} ${e.event_id}` },
        attributes: [
          { key: 'user', value: { stringValue: String(e.payload.user) } },
          { key: 'amount', value: { intValue: String(e.payload.amount) } },
          { key: 'ok', value: { boolValue: true } },
        ],
      };
      const list = byService.get(e.topic) ?? [];
      list.push(record);
      byService.set(e.topic, list);
    }
    const message = request.fromObject({
      resourceLogs: [...byService].map(([service, logRecords]) => ({
        resource: {
          attributes: [
            { key: 'service.name', value: { stringValue: service } },
            { key: 'service.instance.id', value: { stringValue: `${service}-1` } },
          ],
        },
        scopeLogs: [{ scope: { name: 'bench', version: '1' }, logRecords }],
      })),
    });
    bodies.push(Buffer.from(request.encode(message).finish()));
  }
  return bodies;
}
