/**
 * An OTLP logs export request as the decoder hands it to the mapping: the protobufjs
 * message itself (no `toObject` copy). Protobuf and OTLP JSON requests both arrive in this
 * one shape (JSON goes through `fromObject`), so the same record maps and hashes equal in
 * either encoding. Field names follow the OTLP proto (opentelemetry-proto v1.11.0, proto/).
 *
 * What reading a message directly means (src/otlp/map.ts relies on each point):
 * - An unset field reads its default from the message prototype: "" / 0 / a zero Long /
 *   an empty list (for bytes too: a plain `[]`, not a Uint8Array), and `null` for an unset message field. Plain
 *   objects (tests, hand-built requests) leave it `undefined`; the mapping treats
 *   undefined, null and the default alike.
 * - The members of AnyValue's `value` oneof have prototype defaults too, so which one is
 *   set is an OWN property (`Object.hasOwn`), never `!== undefined`.
 * - 64-bit integers are `Long`s (protobufjs loads the `long` package; `unsigned` set for
 *   fixed64), a number if `long` is absent, or decimal text in hand-built requests.
 */

/** protobufjs's Long: the two 32-bit halves of a 64-bit integer. */
export interface OtlpLongBits {
  readonly low: number;
  readonly high: number;
  readonly unsigned?: boolean;
}

export type OtlpInt64 = OtlpLongBits | number | string;

/** A bytes field: a Uint8Array (a Buffer from decode), or the prototype's plain `[]`. */
export type Bytes = Uint8Array | readonly number[];

export interface OtlpAnyValue {
  readonly stringValue?: string;
  readonly boolValue?: boolean;
  /** int64. */
  readonly intValue?: OtlpInt64;
  readonly doubleValue?: number;
  readonly arrayValue?: { readonly values?: readonly OtlpAnyValue[] } | null;
  readonly kvlistValue?: { readonly values?: readonly OtlpKeyValue[] } | null;
  readonly bytesValue?: Bytes;
}

export interface OtlpKeyValue {
  readonly key?: string;
  readonly value?: OtlpAnyValue | null;
}

export interface OtlpLogRecord {
  /** fixed64 nanoseconds since the epoch; unset or 0 = unknown. */
  readonly timeUnixNano?: OtlpInt64;
  readonly observedTimeUnixNano?: OtlpInt64;
  readonly severityNumber?: number;
  readonly severityText?: string;
  readonly body?: OtlpAnyValue | null;
  readonly attributes?: readonly OtlpKeyValue[];
  readonly droppedAttributesCount?: number;
  readonly flags?: number;
  readonly traceId?: Bytes;
  readonly spanId?: Bytes;
  readonly eventName?: string;
}

export interface OtlpScope {
  readonly name?: string;
  readonly version?: string;
  readonly attributes?: readonly OtlpKeyValue[];
  readonly droppedAttributesCount?: number;
}

export interface OtlpScopeLogs {
  readonly scope?: OtlpScope | null;
  readonly logRecords?: readonly OtlpLogRecord[];
}

export interface OtlpResource {
  readonly attributes?: readonly OtlpKeyValue[];
  readonly droppedAttributesCount?: number;
}

export interface OtlpResourceLogs {
  readonly resource?: OtlpResource | null;
  readonly scopeLogs?: readonly OtlpScopeLogs[];
}

export interface OtlpExportRequest {
  readonly resourceLogs?: readonly OtlpResourceLogs[];
}
