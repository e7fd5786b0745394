/**
 * The wire formats' one assumption about names, made explicit: the U+001F-joined apply_batch
 * arguments (src/adapters/postgres/apply.ts) carry topic, event_id and source raw, so they
 * hold only while validation refuses the separators in every name field. Loosening
 * NO_CONTROL_PATTERN or TOPIC_PATTERN makes this fail before it corrupts a batch.
 * (The Redis and log formats escape names as JSON and carry any string; see their tests.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../../src/domain/errors.js';
import { createEventValidator } from '../../src/domain/validate.js';
import { makeEvent } from '../helpers/events.js';
import { FORBIDDEN } from '../helpers/hostile.js';

const validate = createEventValidator({ maxEvents: 10, maxPayloadBytes: 64 * 1024 });

void describe('names never hold a wire separator', () => {
  for (const field of ['topic', 'event_id', 'source'] as const) {
    void it(`${field}: every control character, separator and lone surrogate is refused`, () => {
      for (const c of FORBIDDEN) {
        for (const value of [c, `a${c}`, `a${c}b`]) {
          assert.throws(
            () => validate(makeEvent({ [field]: value })),
            (err: unknown) =>
              err instanceof AppError &&
              err.code === 'validation_failed' &&
              err.details.some((d) => d.field === field),
            `${field} ${JSON.stringify(value)}`,
          );
        }
      }
    });
  }

  void it('a validated payload is JSON text with no raw control character', () => {
    // Controls are JSON escapes in a payload; lone surrogates are refused there too.
    const controls = FORBIDDEN.filter((c) => c.isWellFormed());
    const [e] = validate(
      makeEvent({ payload: { s: controls.join(''), [controls.join('')]: controls } }),
    );
    assert.ok(e !== undefined);
    const raw = [...e.payload].filter((c) => (c.codePointAt(0) ?? 0) < 0x20);
    assert.deepEqual(raw, [], e.payload);
    for (const lone of FORBIDDEN.filter((c) => !c.isWellFormed())) {
      assert.throws(
        () => validate(makeEvent({ payload: { s: `a${lone}b` } })),
        (err: unknown) => err instanceof AppError && err.details.some((d) => d.field === 'payload'),
      );
    }
  });
});
