/**
 * Validation of a /publish body: shape (one event, an array, or {"events": [...]}), limits,
 * and every event against EventSchema. All-or-nothing: the result is either every event
 * accepted or every problem listed as {index, field, message}.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { AcceptedEvent, EventInput } from './event.js';
import { AppError, type ErrorDetail } from './errors.js';
import { EventSchema } from './schemas.js';
import { normaliseTimestamp } from './timestamp.js';

export interface PublishLimits {
  /** Most events in one request. */
  readonly maxEvents: number;
  /** Most bytes of one serialised payload. */
  readonly maxPayloadBytes: number;
}

export interface EventValidator {
  (body: unknown): AcceptedEvent[];
  /** The same rules, piece by piece, for an intake that builds events itself (/v1/logs). */
  readonly rules: EventRules;
}

/**
 * The /publish rules for events an intake builds itself from another format, so that it can
 * check each value once where it is made (a resource's topic once for all its records)
 * instead of building an event object to validate. Same limits, same compiled schema for
 * the name fields, same messages, and the same order: the schema's problems of an event
 * (topic, event_id, source), else its first name that is not well-formed, else the payload. What it cannot check (the builder's duty, tested there):
 * the timestamp is already normaliseTimestamp's output and the payload text is JSON of an
 * object with finite numbers only.
 */
export interface EventRules {
  readonly limits: PublishLimits;
  /** null when `value` passes the schema's rules for `field`, else /publish's message. */
  field(field: NameField, value: string): string | null;
  /** /publish's message for a name field that is not well-formed Unicode (checked next). */
  readonly notWellFormed: string;
  /** null when a payload of `bytes` serialised bytes fits, else /publish's message. */
  payloadBytes(bytes: number): string | null;
}

export type NameField = 'topic' | 'event_id' | 'source';

/** Compiles the event schema once; the returned function throws AppError on any problem. */
export function createEventValidator(limits: PublishLimits): EventValidator {
  // validateSchema false: Ajv would first compile the JSON Schema meta-schema to check our
  // own (constant, tested) schema against it, ~40 ms of every start against ~10 ms for the
  // event schema itself; the compiled validator is the same either way.
  const ajv = new Ajv({ allErrors: true, strict: false, validateSchema: false });
  // The schema says "date-time" (for OpenAPI); the real check is normaliseTimestamp, run once
  // per event below, so the parse is not done twice.
  ajv.addFormat('date-time', { type: 'string', validate: () => true });
  const check = ajv.compile<EventInput>(EventSchema);
  const rules = eventRules(ajv, limits);

  const validate = (body: unknown): AcceptedEvent[] => {
    const items = unwrapBody(body);
    if (items.length === 0) {
      throw new AppError('empty_batch', 'the request holds no events');
    }
    if (items.length > limits.maxEvents) {
      throw new AppError(
        'batch_too_large',
        `${items.length} events in one request; the limit is ${limits.maxEvents}`,
      );
    }
    const accepted: AcceptedEvent[] = new Array<AcceptedEvent>(items.length);
    const details: ErrorDetail[] = [];
    for (let index = 0; index < items.length; index++) {
      const item: unknown = items[index];
      const valid = check(item);
      const timestamp = timestampOf(item);
      if (!valid || timestamp === null) {
        if (!valid) details.push(...describe(index, check));
        if (timestamp === null)
          details.push({ index, field: 'timestamp', message: TIMESTAMP_MESSAGE });
        continue;
      }
      const problem = extraChecks(item, limits);
      if (typeof problem !== 'string') {
        details.push({ index, ...problem });
        continue;
      }
      accepted[index] = {
        topic: item.topic,
        event_id: item.event_id,
        timestamp: timestamp ?? item.timestamp,
        source: item.source,
        payload: problem,
      };
    }
    if (details.length > 0) {
      throw new AppError(
        'validation_failed',
        `${new Set(details.map((d) => d.index)).size} of ${items.length} events are invalid; nothing was accepted`,
        { details },
      );
    }
    return accepted;
  };
  return Object.assign(validate, { rules });
}

function eventRules(ajv: Ajv, limits: PublishLimits): EventRules {
  // The very subschemas EventSchema holds, so the rules cannot drift apart.
  const checks: Record<NameField, ValidateFunction> = {
    topic: ajv.compile(EventSchema.properties.topic),
    event_id: ajv.compile(EventSchema.properties.event_id),
    source: ajv.compile(EventSchema.properties.source),
  };
  return {
    limits,
    field(field, value) {
      const check = checks[field];
      if (check(value)) return null;
      const err = check.errors?.[0];
      if (err === undefined) return 'is invalid';
      return FRIENDLY[`${err.keyword}:${field}`] ?? err.message ?? 'is invalid';
    },
    notWellFormed: WELL_FORMED_MESSAGE,
    payloadBytes: (bytes) =>
      bytes > limits.maxPayloadBytes ? payloadMessage(bytes, limits) : null,
  };
}

const WELL_FORMED_MESSAGE = 'must be well-formed Unicode (no lone surrogates)';

/**
 * True when the JSON text JSON.stringify wrote holds a lone surrogate (in a value or a key).
 * JSON.stringify writes a paired surrogate as the character itself and a lone one as the
 * escape `\udXXX` (lowercase hex), and doubles a backslash of the data, so a lone surrogate
 * is exactly an escape `\ud8..`-`\udf..` after an even run of backslashes, however it got
 * into the data. The cheap `includes` keeps the regular expression off ordinary payloads.
 */
export function hasLoneSurrogate(jsonText: string): boolean {
  return jsonText.includes('\\ud') && LONE_SURROGATE.test(jsonText);
}
const LONE_SURROGATE = /(?<!\\)(?:\\\\)*\\ud[89a-f][0-9a-f]{2}/;
const payloadMessage = (bytes: number, limits: PublishLimits): string =>
  `is ${bytes} bytes serialised; the limit is ${limits.maxPayloadBytes}`;

const TIMESTAMP_MESSAGE = 'must be an RFC 3339 date-time with an offset or Z';

/** The normalised timestamp; null when present but invalid; undefined when not a string. */
function timestampOf(item: unknown): string | null | undefined {
  if (item === null || typeof item !== 'object') return undefined;
  const value = (item as { timestamp?: unknown }).timestamp;
  return typeof value === 'string' ? normaliseTimestamp(value) : undefined;
}

function unwrapBody(body: unknown): unknown[] {
  if (Array.isArray(body)) return body;
  if (body !== null && typeof body === 'object' && 'events' in body) {
    const keys = Object.keys(body);
    const events = body.events;
    if (keys.length === 1 && Array.isArray(events)) return events;
    throw new AppError('invalid_body', 'a body with "events" must be exactly {"events": [ ... ]}');
  }
  if (body !== null && typeof body === 'object') return [body];
  throw new AppError(
    'invalid_body',
    'the body must be an event, an array of events or {"events": [...]}',
  );
}

/**
 * Checks JSON Schema cannot express. Returns the serialised payload when all pass, so the
 * payload is serialised exactly once.
 */
function extraChecks(
  item: EventInput,
  limits: PublishLimits,
): string | { field: string; message: string } {
  for (const field of ['topic', 'event_id', 'source'] as const) {
    if (!item[field].isWellFormed()) {
      return { field, message: WELL_FORMED_MESSAGE };
    }
  }
  let payload: string;
  try {
    payload = JSON.stringify(item.payload);
  } catch {
    // Only a structure nested deeper than the stack allows gets here (RangeError).
    return { field: 'payload', message: 'is nested too deeply' };
  }
  // JSON.stringify writes null for Infinity (what 1e400 parses to): refuse instead of
  // silently changing the value. Only payloads whose text has a null need the walk.
  if (payload.includes('null') && hasNonFiniteNumber(item.payload)) {
    return {
      field: 'payload',
      message: 'numbers must be finite (1e400 and the like cannot be stored)',
    };
  }
  if (hasLoneSurrogate(payload)) return { field: 'payload', message: WELL_FORMED_MESSAGE };
  const bytes = Buffer.byteLength(payload);
  if (bytes > limits.maxPayloadBytes) {
    return { field: 'payload', message: payloadMessage(bytes, limits) };
  }
  return payload;
}

const FRIENDLY: Record<string, string> = {
  'pattern:topic': 'must start with a letter or digit and use only A-Z a-z 0-9 . _ : / -',
  'pattern:event_id': 'must not contain control characters',
  'pattern:source': 'must not contain control characters',
};

function describe(index: number, check: ValidateFunction): ErrorDetail[] {
  const seen = new Set<string>();
  const out: ErrorDetail[] = [];
  for (const err of check.errors ?? []) {
    const detail = toDetail(index, err);
    const key = `${detail.field ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(detail);
  }
  return out;
}

function toDetail(index: number, err: ErrorObject): ErrorDetail {
  if (err.keyword === 'required') {
    const field = String((err.params as { missingProperty: string }).missingProperty);
    return { index, field, message: 'is required' };
  }
  if (err.keyword === 'additionalProperties') {
    const field = String((err.params as { additionalProperty: string }).additionalProperty);
    return { index, field, message: 'is not an event field' };
  }
  const field = err.instancePath.replace(/^\//, '').split('/')[0] || '(event)';
  if (field === '(event)' && err.keyword === 'type') {
    return { index, field, message: 'an event must be a JSON object' };
  }
  const message = FRIENDLY[`${err.keyword}:${field}`] ?? err.message ?? 'is invalid';
  return { index, field, message };
}

/** Iterative, so no payload depth can overflow the stack here. */
function hasNonFiniteNumber(root: unknown): boolean {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) return true;
    } else if (value !== null && typeof value === 'object') {
      for (const v of Array.isArray(value) ? value : Object.values(value)) stack.push(v);
    }
  }
  return false;
}
