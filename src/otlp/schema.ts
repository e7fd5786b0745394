/**
 * The OTLP logs schema: the OpenTelemetry project's own .proto definitions
 * (opentelemetry-proto v1.11.0, vendored unchanged in proto/ with their licence), compiled
 * once at start-up by protobufjs into a decoder and encoder. No hand-written wire decoding.
 *
 * Why not @opentelemetry/otlp-transformer: its current releases only SERIALISE requests
 * (hand-written writers for exporters) and ship no request decoder; the older releases that
 * carried a protobufjs root pin an old SDK. protobufjs reads the upstream .proto files as
 * they are, so a new OTLP field is one file copy away.
 *
 * Both encodings end in the same shape, the protobufjs message itself (./types.ts; no
 * `toObject` copy: it was ~35 % of the decode, each 64-bit time through Long -> string):
 * - protobuf: `decode` (throws on malformed wire data, which the route answers 400);
 * - OTLP JSON (the protobuf JSON mapping plus OTLP's rules): lowerCamelCase names, 64-bit
 *   integers as strings or numbers, enums as numbers, and trace/span ids as HEX (not the
 *   base64 of the generic mapping). json.ts checks every value against those rules and
 *   hands `fromObject` exact values (ids as bytes, 64-bit integers as decimal text); unknown fields
 *   are ignored, as the OTLP spec requires of receivers.
 * Nesting deeper than protobufjs's recursion limit (100 message levels, protoc's default) is
 * refused in both encodings, which also bounds the recursion of the mapping.
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { AppError } from '../domain/errors.js';
import { normaliseOtlpJson } from './json.js';
import type { OtlpExportRequest, OtlpResource, OtlpScope } from './types.js';
import { compileWireSchema, type WireSchema } from './wire.js';

/** proto/ at the package root, seen from dist/src/otlp/. */
const PROTO_DIR = fileURLToPath(new URL('../../../proto/', import.meta.url));
const LOGS_SERVICE = 'opentelemetry/proto/collector/logs/v1/logs_service.proto';

export interface OtlpLogsCodec {
  /** An `application/x-protobuf` ExportLogsServiceRequest. Throws AppError('invalid_otlp'). */
  decodeProtobuf(body: Uint8Array): OtlpExportRequest;
  /** An OTLP JSON ExportLogsServiceRequest, already JSON-parsed. Throws AppError('invalid_otlp'). */
  decodeJson(body: unknown): OtlpExportRequest;
  /**
   * The wire reader's view of the compiled schema (src/otlp/wire.ts), or null when the
   * schema is not the one it expects (then every protobuf body takes `decodeProtobuf`).
   */
  readonly wire: WireSchema | null;
  /** A full-success ExportLogsServiceResponse in the protobuf encoding. */
  readonly successProtobuf: Uint8Array;
  /** The same in OTLP JSON. */
  readonly successJson: string;
}

/**
 * The reflection type is compiled from the same .proto files ./types.ts mirrors; the mapping
 * reads only the fields declared there, in the ways types.ts states.
 */
const asRequest = (message: protobuf.Message): OtlpExportRequest => message as OtlpExportRequest;

export function loadOtlpLogsCodec(protoDir: string = PROTO_DIR): OtlpLogsCodec {
  const root = new protobuf.Root();
  // Imports in the .proto files are relative to the proto root, as protoc's -I would be.
  root.resolvePath = (_origin, target) => join(protoDir, target);
  root.loadSync(LOGS_SERVICE, { keepCase: false });
  root.resolveAll();
  const request = root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest');
  const resource = root.lookupType('opentelemetry.proto.resource.v1.Resource');
  const scope = root.lookupType('opentelemetry.proto.common.v1.InstrumentationScope');
  const response = root.lookupType(
    'opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse',
  );

  return {
    decodeProtobuf(body) {
      try {
        return asRequest(request.decode(body));
      } catch (cause) {
        throw new AppError(
          'invalid_otlp',
          `the body is not an OTLP ExportLogsServiceRequest (protobuf): ${(cause as Error).message}`,
          { cause },
        );
      }
    },
    decodeJson(body) {
      try {
        // Checked and made exact first: fromObject converts what it should refuse (json.ts).
        return asRequest(request.fromObject(normaliseOtlpJson(request, body)));
      } catch (cause) {
        if (cause instanceof AppError) throw cause;
        throw new AppError(
          'invalid_otlp',
          `the body is not an OTLP ExportLogsServiceRequest (JSON): ${(cause as Error).message}`,
          { cause },
        );
      }
    },
    wire: compileWireSchema(root, {
      resource: (bytes) => resource.decode(bytes) as OtlpResource,
      scope: (bytes) => scope.decode(bytes) as OtlpScope,
    }),
    successProtobuf: response.encode(response.create({})).finish(),
    successJson: JSON.stringify(response.toObject(response.create({}))),
  };
}
