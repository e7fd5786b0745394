/**
 * An OTLP logs export request as the decoder hands it to the mapping: the protobuf message
 * converted to plain objects (protobufjs `toObject` with 64-bit integers as decimal strings,
 * enums as numbers, bytes as Uint8Array, unset fields absent). Protobuf and OTLP JSON
 * requests both arrive in this one shape, so the same record hashes equal in either encoding.
 * Field names follow the OTLP proto (opentelemetry-proto v1.11.0, see proto/).
 */

export interface OtlpAnyValue {
  readonly stringValue?: string;
  readonly boolValue?: boolean;
  /** int64, decimal. */
  readonly intValue?: string;
  readonly doubleValue?: number;
  readonly arrayValue?: { readonly values?: readonly OtlpAnyValue[] };
  readonly kvlistValue?: { readonly values?: readonly OtlpKeyValue[] };
  readonly bytesValue?: Uint8Array;
}

export interface OtlpKeyValue {
  readonly key?: string;
  readonly value?: OtlpAnyValue;
}

export interface OtlpLogRecord {
  /** fixed64 nanoseconds since the epoch, decimal; absent or "0" = unknown. */
  readonly timeUnixNano?: string;
  readonly observedTimeUnixNano?: string;
  readonly severityNumber?: number;
  readonly severityText?: string;
  readonly body?: OtlpAnyValue;
  readonly attributes?: readonly OtlpKeyValue[];
  readonly droppedAttributesCount?: number;
  readonly flags?: number;
  readonly traceId?: Uint8Array;
  readonly spanId?: Uint8Array;
  readonly eventName?: string;
}

export interface OtlpScope {
  readonly name?: string;
  readonly version?: string;
  readonly attributes?: readonly OtlpKeyValue[];
  readonly droppedAttributesCount?: number;
}

export interface OtlpScopeLogs {
  readonly scope?: OtlpScope;
  readonly logRecords?: readonly OtlpLogRecord[];
}

export interface OtlpResource {
  readonly attributes?: readonly OtlpKeyValue[];
  readonly droppedAttributesCount?: number;
}

export interface OtlpResourceLogs {
  readonly resource?: OtlpResource;
  readonly scopeLogs?: readonly OtlpScopeLogs[];
}

export interface OtlpExportRequest {
  readonly resourceLogs?: readonly OtlpResourceLogs[];
}
