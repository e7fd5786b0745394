/**
 * The real OpenTelemetry JS SDK as an OTLP client for tests: log records are made by
 * @opentelemetry/sdk-logs (a LoggerProvider per service, captured in memory) and shipped by
 * the project's own OTLP/HTTP exporters (JSON and protobuf, gzip or not), exactly as an
 * instrumented application would ship them. `exportBatch` resolves with the exporter's own
 * verdict, so a test knows which records the exporter saw succeed.
 */
import { ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import type { AnyValueMap, SeverityNumber } from '@opentelemetry/api-logs';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPLogExporter as JsonExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  InMemoryLogRecordExporter,
  LoggerProvider,
  SimpleLogRecordProcessor,
  type LogRecordExporter,
  type ReadableLogRecord,
} from '@opentelemetry/sdk-logs';

export type Encoding = 'json' | 'protobuf';

export interface ExporterOptions {
  readonly encoding: Encoding;
  readonly gzip: boolean;
  readonly headers?: Record<string, string>;
  readonly timeoutMillis?: number;
}

export function otlpExporter(baseUrl: string, opts: ExporterOptions): LogRecordExporter {
  const config = {
    url: `${baseUrl}/v1/logs`,
    compression: opts.gzip ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE,
    headers: opts.headers ?? {},
    timeoutMillis: opts.timeoutMillis ?? 10_000,
  };
  return opts.encoding === 'json' ? new JsonExporter(config) : new ProtoExporter(config);
}

export interface RecordSpec {
  readonly body: string | AnyValueMap;
  readonly severityNumber: SeverityNumber;
  readonly severityText: string;
  readonly attributes?: AnyValueMap;
  /** 32 and 16 hex digits: the record is emitted inside this span. */
  readonly traceId?: string;
  readonly spanId?: string;
  /** Milliseconds since the epoch. */
  readonly timestamp?: number;
}

/** One instrumented service: its records are captured, not exported, until `take`. */
export class OtelService {
  private readonly memory = new InMemoryLogRecordExporter();
  private readonly provider: LoggerProvider;

  constructor(resource: Record<string, string>) {
    this.provider = new LoggerProvider({
      resource: resourceFromAttributes(resource),
      processors: [new SimpleLogRecordProcessor({ exporter: this.memory })],
    });
  }

  emit(spec: RecordSpec): void {
    const logger = this.provider.getLogger('logsieve-test', '1.2.3');
    const context =
      spec.traceId !== undefined && spec.spanId !== undefined
        ? trace.setSpanContext(ROOT_CONTEXT, {
            traceId: spec.traceId,
            spanId: spec.spanId,
            traceFlags: TraceFlags.SAMPLED,
          })
        : ROOT_CONTEXT;
    logger.emit({
      body: spec.body,
      severityNumber: spec.severityNumber,
      severityText: spec.severityText,
      ...(spec.attributes !== undefined ? { attributes: spec.attributes } : {}),
      ...(spec.timestamp !== undefined ? { timestamp: spec.timestamp } : {}),
      context,
    });
  }

  /** The records emitted since the last call. */
  take(): ReadableLogRecord[] {
    const records = [...this.memory.getFinishedLogRecords()];
    this.memory.reset();
    return records;
  }
}

/** Ships `records` in one export call; true when the exporter reports success. */
export function exportBatch(
  exporter: LogRecordExporter,
  records: ReadableLogRecord[],
): Promise<boolean> {
  return new Promise((resolve) => {
    exporter.export(records, (result) => resolve(result.code === ExportResultCode.SUCCESS));
  });
}
