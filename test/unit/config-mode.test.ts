/**
 * MODE selects a registered composition (src/adapters/registry.ts); QUEUE/STORE stay as its
 * aliases. A pair no composition serves is refused in one line that names the MODE to use.
 * This file does not import the memory fixture, so MODE=memory is unknown here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig([], env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

void describe('MODE', () => {
  void it('defaults to embedded, with the embedded queue and store', () => {
    const c = loadConfig([], {});
    assert.deepEqual([c.mode, c.queue, c.store], ['embedded', 'embedded', 'sqlite']);
  });

  void it('MODE=cluster means QUEUE=redis with STORE=postgres, and allows a split ROLE', () => {
    const c = loadConfig(['--mode', 'cluster'], { ROLE: 'worker' });
    assert.deepEqual(
      [c.mode, c.queue, c.store, c.role],
      ['cluster', 'redis', 'postgres', 'worker'],
    );
  });

  void it('the QUEUE/STORE aliases select the same composition', () => {
    assert.equal(loadConfig([], { QUEUE: 'redis', STORE: 'postgres' }).mode, 'cluster');
    assert.equal(loadConfig([], { MODE: 'Cluster', QUEUE: 'redis' }).mode, 'cluster');
  });

  void it('refuses an unknown MODE, listing the registered ones', () => {
    const err = configError({ MODE: 'memory' });
    assert.equal(err.variable, 'MODE');
    assert.match(err.message, /embedded, cluster/);
  });

  void it('refuses a QUEUE or STORE that contradicts MODE', () => {
    assert.equal(configError({ MODE: 'embedded', QUEUE: 'redis' }).variable, 'QUEUE');
    assert.equal(configError({ MODE: 'cluster', STORE: 'sqlite' }).variable, 'STORE');
  });

  void it('a mixed pair names the MODE to use, in one line', () => {
    const err = configError({ QUEUE: 'redis', STORE: 'sqlite' });
    assert.equal(err.variable, 'STORE');
    assert.match(err.message, /use MODE=cluster \(QUEUE=redis with STORE=postgres\)/);
    assert.equal(err.message.split('\n').length, 1);
    assert.match(configError({ QUEUE: 'embedded', STORE: 'postgres' }).message, /MODE=embedded/);
  });

  void it('checks the cluster URLs only in cluster mode', () => {
    assert.equal(loadConfig([], { REDIS_URL: 'not a url' }).redisUrl, 'not a url');
    assert.equal(configError({ MODE: 'cluster', REDIS_URL: 'http://x' }).variable, 'REDIS_URL');
    assert.equal(configError({ MODE: 'cluster', DATABASE_URL: 'nope' }).variable, 'DATABASE_URL');
  });
});
