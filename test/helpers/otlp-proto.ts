/**
 * The upstream OTLP .proto files (proto/ at the package root) loaded with protobufjs, as
 * the tests that build requests byte for byte need them: a fresh Root each call, so a test
 * may change its copy without touching another's.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/** proto/ at the package root, seen from dist/test/helpers/. */
const PROTO_DIR = fileURLToPath(new URL('../../../proto/', import.meta.url));

export function loadLogsRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
  root.loadSync('opentelemetry/proto/collector/logs/v1/logs_service.proto');
  return root;
}

/** ExportLogsServiceRequest of a freshly loaded Root. */
export function exportLogsRequestType(): protobuf.Type {
  return loadLogsRoot().lookupType(
    'opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest',
  );
}
