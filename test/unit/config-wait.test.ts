import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, DEFAULTS, loadConfig } from '../../src/config.js';

void describe('configuration: WAIT_TIMEOUT_MS', () => {
  void it('defaults to 30 s and is read from the environment or its flag', () => {
    assert.equal(loadConfig([], {}).waitTimeoutMs, DEFAULTS.WAIT_TIMEOUT_MS);
    assert.equal(DEFAULTS.WAIT_TIMEOUT_MS, 30_000);
    assert.equal(loadConfig([], { WAIT_TIMEOUT_MS: '250' }).waitTimeoutMs, 250);
    assert.equal(
      loadConfig(['--wait-timeout-ms', '7'], { WAIT_TIMEOUT_MS: '250' }).waitTimeoutMs,
      7,
    );
  });

  void it('refuses a value that is not a whole number of milliseconds setTimeout can hold, naming the variable', () => {
    for (const bad of ['0', '-5', '1.5', 'soon', '2147483648']) {
      assert.throws(
        () => loadConfig([], { WAIT_TIMEOUT_MS: bad }),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.variable === 'WAIT_TIMEOUT_MS' &&
          err.message.startsWith('invalid configuration: WAIT_TIMEOUT_MS ') &&
          !err.message.includes('\n'),
        bad,
      );
    }
  });
});
