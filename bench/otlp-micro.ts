/**
 * Main-thread cost of POST /v1/logs per record, in process, without HTTP or the store:
 * protobuf decode, then mapping with /publish's rules (protobufjs messages), and the wire
 * reader that /v1/logs uses for protobuf (src/otlp/wire.ts), over bench/otlp.ts's bodies (O1's
 * 20,000 records in exports of 500), next to W1's JSON.parse + validation of the same
 * events. `node dist/bench/otlp-micro.js [passes]`; the first 3 passes warm up.
 * Numbers are CPU µs (user + system, process.cpuUsage) per record, which hold up under CPU
 * contention better than wall time or end-to-end rates.
 */
import { cpuUsage } from 'node:process';
import { createEventValidator } from '../src/domain/validate.js';
import { countRecords, mapLogsRequest } from '../src/otlp/map.js';
import { loadOtlpLogsCodec } from '../src/otlp/schema.js';
import { mapLogsProtobuf } from '../src/otlp/wire.js';
import { makeEvents } from './load.js';
import { otlpBodies } from './otlp.js';

const passes = Math.max(4, Number(process.argv[2] ?? 10));
const validate = createEventValidator({ maxEvents: 1000, maxPayloadBytes: 65_536 });
const codec = loadOtlpLogsCodec();
const wireSchema = codec.wire;
if (wireSchema === null) throw new Error('no wire schema');
const bodies = otlpBodies('micro');
const w1 = makeEvents(20_000, 0.3, 'micro');
const w1Bodies: string[] = [];
for (let i = 0; i < w1.length; i += 500) w1Bodies.push(JSON.stringify(w1.slice(i, i + 500)));

let decode = 0;
let map = 0;
let publish = 0;
let wire = 0;
let records = 0;
function cpu(): number {
  const u = cpuUsage();
  return u.user + u.system;
}
let events = 0;
for (let pass = 0; pass < passes; pass++) {
  const counted = pass >= 3;
  for (const body of bodies) {
    const t0 = cpu();
    const request = codec.decodeProtobuf(body);
    const t1 = cpu();
    const n = countRecords(request);
    const { events: mapped, problems } = mapLogsRequest(request, {
      topicAttribute: 'service.name',
      receivedAt: new Date(),
      rules: validate.rules,
    });
    const t2 = cpu();
    if (problems.length > 0 || mapped.length !== n) throw new Error('bench records refused');
    const t3 = cpu();
    const fast = mapLogsProtobuf(
      body,
      { topicAttribute: 'service.name', receivedAt: new Date(), rules: validate.rules },
      wireSchema,
    );
    const t4 = cpu();
    if (fast === null || fast.events.length !== n) throw new Error('wire reader did not take it');
    if (counted) {
      decode += t1 - t0;
      map += t2 - t1;
      wire += t4 - t3;
      records += n;
    }
  }
  for (const body of w1Bodies) {
    const t0 = cpu();
    const accepted = validate(JSON.parse(body));
    const t1 = cpu();
    if (counted) {
      publish += t1 - t0;
      events += accepted.length;
    }
  }
}
const us = (micros: number, n: number): string => (micros / n).toFixed(2);
console.log(
  `O1 per record: decode ${us(decode, records)} µs, map+rules ${us(map, records)} µs, ` +
    `total ${us(decode + map, records)} µs; wire reader ${us(wire, records)} µs; W1 per event: JSON.parse+validate ${us(publish, events)} µs`,
);
