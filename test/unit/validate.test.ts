import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError, type ErrorDetail } from '../../src/domain/errors.js';
import { createEventValidator } from '../../src/domain/validate.js';
import { makeEvent, makeEvents } from '../helpers/events.js';

const validate = createEventValidator({ maxEvents: 10_000, maxPayloadBytes: 64 * 1024 });

/** Runs `fn`, expecting an AppError with `code`; returns it. */
function rejection(fn: () => unknown, code: string): AppError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof AppError, `expected AppError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

const fieldsOf = (details: readonly ErrorDetail[]): string[] =>
  details.map((d) => `${d.index ?? '-'}:${d.field ?? '-'}`).sort();

/** Expects exactly one bad field on the single event `body`. */
function badField(body: unknown, field: string, v = validate): ErrorDetail {
  const err = rejection(() => v(body), 'validation_failed');
  assert.deepEqual(fieldsOf(err.details), [`0:${field}`]);
  return err.details[0] as ErrorDetail;
}

void describe('event validation: body shapes', () => {
  void it('accepts a single event, normalising the timestamp and serialising the payload', () => {
    const e = makeEvent({ timestamp: '2025-10-24T07:00:00+07:00', payload: { a: [1, 'x'] } });
    assert.deepEqual(validate(e), [
      {
        topic: e.topic,
        event_id: e.event_id,
        timestamp: '2025-10-24T00:00:00.000Z',
        source: e.source,
        payload: '{"a":[1,"x"]}',
      },
    ]);
  });

  void it('accepts an array and {"events": [...]} in request order', () => {
    const events = makeEvents(3);
    const ids = events.map((e) => e.event_id);
    assert.deepEqual(
      validate(events).map((e) => e.event_id),
      ids,
    );
    assert.deepEqual(
      validate({ events }).map((e) => e.event_id),
      ids,
    );
  });

  void it('rejects {"events": [...]} with any other key', () => {
    rejection(() => validate({ events: makeEvents(1), extra: 1 }), 'invalid_body');
    rejection(() => validate({ events: 'nope' }), 'invalid_body');
  });

  void it('rejects bodies that are not an event, an array or an envelope', () => {
    for (const body of [null, 42, 'text', true]) rejection(() => validate(body), 'invalid_body');
  });

  void it('rejects an empty array and an empty envelope as empty_batch', () => {
    rejection(() => validate([]), 'empty_batch');
    rejection(() => validate({ events: [] }), 'empty_batch');
  });

  void it('accepts 10,000 events and rejects 10,001 as batch_too_large', () => {
    const e = makeEvent();
    assert.equal(validate(Array.from({ length: 10_000 }, () => e)).length, 10_000);
    rejection(() => validate(Array.from({ length: 10_001 }, () => e)), 'batch_too_large');
  });
});

void describe('event validation: all-or-nothing details', () => {
  void it('lists every bad item as {index, field, message} and accepts none', () => {
    const body = [
      makeEvent(),
      { ...makeEvent(), source: undefined },
      makeEvent(),
      { ...makeEvent(), timestamp: '2025-10-24T00:00:00', extra: true },
      5,
    ];
    const err = rejection(() => validate(body), 'validation_failed');
    assert.deepEqual(fieldsOf(err.details), ['1:source', '3:extra', '3:timestamp', '4:(event)']);
    for (const d of err.details) {
      assert.deepEqual(Object.keys(d).sort(), ['field', 'index', 'message']);
      assert.equal(typeof d.message, 'string');
      assert.ok(d.message.length > 0);
    }
    assert.match(err.message, /3 of 5/);
  });

  void it('names each missing field', () => {
    for (const field of ['topic', 'event_id', 'timestamp', 'source', 'payload'] as const) {
      const e: Record<string, unknown> = { ...makeEvent() };
      delete e[field];
      assert.equal(badField(e, field).message, 'is required');
    }
  });

  void it('names an extra top-level field', () => {
    assert.equal(
      badField({ ...makeEvent(), level: 'info' }, 'level').message,
      'is not an event field',
    );
  });

  void it('names mistyped fields', () => {
    badField({ ...makeEvent(), topic: 5 }, 'topic');
    badField({ ...makeEvent(), event_id: 123 }, 'event_id');
    badField({ ...makeEvent(), timestamp: 1729728000 }, 'timestamp');
    badField({ ...makeEvent(), source: null }, 'source');
  });

  void it('rejects a payload that is an array, null, a string or a number', () => {
    for (const payload of [[1, 2], null, 'x', 3]) badField({ ...makeEvent(), payload }, 'payload');
  });

  void it('rejects a timestamp without offset with a message that says so', () => {
    const d = badField(makeEvent({ timestamp: '2025-10-24T00:00:00' }), 'timestamp');
    assert.match(d.message, /offset or Z/);
    badField(makeEvent({ timestamp: '2025-02-30T00:00:00Z' }), 'timestamp');
  });
});

void describe('event validation: string limits and characters', () => {
  void it('accepts 200-character names and rejects 201', () => {
    const ok = 'a'.repeat(200);
    const long = 'a'.repeat(201);
    assert.equal(validate(makeEvent({ topic: ok, event_id: ok, source: ok })).length, 1);
    badField(makeEvent({ topic: long }), 'topic');
    badField(makeEvent({ event_id: long }), 'event_id');
    badField(makeEvent({ source: long }), 'source');
  });

  void it('rejects empty names', () => {
    badField(makeEvent({ topic: '' }), 'topic');
    badField(makeEvent({ event_id: '' }), 'event_id');
    badField(makeEvent({ source: '' }), 'source');
  });

  void it('accepts hierarchical topics and rejects topics outside the pattern', () => {
    assert.equal(validate(makeEvent({ topic: 'app/prod/api:v1.2_x-y' })).length, 1);
    for (const topic of ['-x', '/app', 'a b', 'ö', 'a\nb']) badField(makeEvent({ topic }), 'topic');
  });

  void it('rejects control characters in event_id and source', () => {
    for (const bad of ['a\u0000b', 'a\nb', 'tab\t', '\u001f', '\u007f', '\u0085', '\u009f']) {
      badField(makeEvent({ event_id: bad }), 'event_id');
      badField(makeEvent({ source: bad }), 'source');
    }
  });

  void it('accepts unicode outside the control ranges in event_id and source', () => {
    assert.equal(validate(makeEvent({ event_id: '注文-\u{1F600}-é', source: 'שרת' })).length, 1);
  });

  void it('rejects lone surrogates in event_id and source', () => {
    const d = badField(makeEvent({ event_id: 'x\uD800y' }), 'event_id');
    assert.match(d.message, /well-formed/);
    badField(makeEvent({ source: '\uDC00' }), 'source');
  });
});

void describe('event validation: payload size', () => {
  const small = createEventValidator({ maxEvents: 10, maxPayloadBytes: 100 });
  // {"s":"..."} is 8 bytes of framing around the string.
  const payloadOf = (bytes: number): Record<string, unknown> => ({ s: 'x'.repeat(bytes - 8) });

  void it('accepts a payload exactly at the limit', () => {
    assert.equal(small(makeEvent({ payload: payloadOf(100) })).length, 1);
  });

  void it('rejects a payload one byte over the limit, naming its size', () => {
    const d = badField(makeEvent({ payload: payloadOf(101) }), 'payload', small);
    assert.match(d.message, /101 bytes/);
  });

  void it('counts bytes, not characters', () => {
    // 31 three-byte characters: 93 + 8 = 101 bytes but only 39 characters.
    badField(makeEvent({ payload: { s: '€'.repeat(31) } }), 'payload', small);
  });
});
