/** The retention loop against a fake expirer: backlog pace, idle pace, failures, stop. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { idleIntervalMs, startExpiry } from '../../src/consumer/expiry.js';
import { KEEP_FOREVER, type RetentionPolicy } from '../../src/domain/retention.js';
import type { EventExpirer, ExpiryStep } from '../../src/ports/store.js';
import { sleep } from '../helpers/tmp.js';

const log = pino({ level: 'silent' });
const byAge = (ms: number): RetentionPolicy => ({ ...KEEP_FOREVER, maxAgeMs: ms });

/** Answers `more` for the first `backlog` steps; records overlapping calls. */
class FakeExpirer implements EventExpirer {
  calls = 0;
  inFlight = 0;
  overlapped = false;
  failNext = 0;
  constructor(private backlog: number) {}
  async expire(): Promise<ExpiryStep> {
    this.calls++;
    this.inFlight++;
    if (this.inFlight > 1) this.overlapped = true;
    await sleep(2);
    this.inFlight--;
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('store down');
    }
    const more = this.backlog > 0;
    if (more) this.backlog--;
    return { expired: more ? 10 : 0, keysForgotten: 0, more };
  }
}

void describe('retention loop', () => {
  void it('does not run at all when the policy keeps everything', async () => {
    const fake = new FakeExpirer(0);
    const loop = startExpiry({ store: fake, policy: KEEP_FOREVER, log });
    await sleep(50);
    await loop.stop();
    assert.equal(fake.calls, 0);
  });

  void it('works through a backlog step after step, one at a time, then idles', async () => {
    const fake = new FakeExpirer(20);
    let removed = 0;
    // An idle interval of 5 s: every call beyond the backlog's would have to wait for it.
    const loop = startExpiry({
      store: fake,
      policy: byAge(3_600_000),
      log,
      onStep: (n) => (removed += n),
    });
    for (let i = 0; i < 400 && fake.calls < 21; i++) await sleep(10);
    await sleep(50);
    await loop.stop();
    assert.equal(fake.calls, 21, 'the backlog, then one step that found nothing, then idle');
    assert.equal(removed, 200);
    assert.equal(fake.overlapped, false, 'two steps ran at once');
  });

  void it('retries after a failed step and stop() waits for the step in flight', async () => {
    const fake = new FakeExpirer(0);
    fake.failNext = 1;
    const loop = startExpiry({ store: fake, policy: byAge(1_000), log });
    for (let i = 0; i < 200 && fake.calls < 2; i++) await sleep(10);
    assert.ok(fake.calls >= 2, 'the failed step was retried');
    await loop.stop();
    assert.equal(fake.inFlight, 0);
    const after = fake.calls;
    await sleep(250);
    assert.equal(fake.calls, after, 'a stopped loop calls no more');
  });

  void it('idles a tenth of the shortest duration, between 0.1 s and 5 s', () => {
    assert.equal(idleIntervalMs(byAge(10_000)), 1_000);
    assert.equal(idleIntervalMs(byAge(1_000)), 100);
    assert.equal(idleIntervalMs(byAge(7 * 86_400_000)), 5_000);
    assert.equal(idleIntervalMs({ ...KEEP_FOREVER, maxBytes: 1 }), 1_000);
    assert.equal(idleIntervalMs({ ...byAge(86_400_000), dedupWindowMs: 2_000 }), 200);
  });
});
