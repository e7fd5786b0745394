import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LogRate } from '../../src/log-rate.js';

void describe('log rate', () => {
  void it('admits one line per interval and counts what it held back', () => {
    let t = 0;
    const rate = new LogRate(1_000, () => t);
    assert.equal(rate.admit(), 0);
    for (let i = 0; i < 5; i++) {
      t += 100;
      assert.equal(rate.admit(), -1);
    }
    t = 1_000;
    assert.equal(rate.admit(), 5, 'the next line says how many were held back');
    assert.equal(rate.admit(), -1);
  });
});
