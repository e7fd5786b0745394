import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, DEFAULTS, loadConfig, MIN_API_KEY_LENGTH } from '../../src/config.js';

function configError(argv: string[], env: Record<string, string>): ConfigError {
  let caught: unknown;
  try {
    loadConfig(argv, env);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected ConfigError, got ${String(caught)}`);
  return caught;
}

void describe('configuration', () => {
  void it('uses the documented defaults when nothing is set', () => {
    const c = loadConfig([], {});
    assert.equal(c.port, 8080);
    assert.equal(c.dataDir, './data');
    assert.equal(c.workers, DEFAULTS.WORKERS);
    assert.equal(c.queueMax, DEFAULTS.QUEUE_MAX);
    assert.equal(c.queueMaxBytes, 1024 * 1024 * 1024);
    assert.equal(c.maxPayloadBytes, 64 * 1024);
    assert.equal(c.maxBatchEvents, 10_000);
    assert.equal(c.maxBodyBytes, 10 * 1024 * 1024);
    assert.deepEqual(c.apiKeys, []);
    assert.equal(c.queue, 'embedded');
    assert.equal(c.store, 'sqlite');
    assert.equal(c.role, 'all');
    assert.equal(c.otlpTopicAttribute, 'service.name');
    assert.ok(Object.isFrozen(c));
  });

  void it('reads environment variables', () => {
    const c = loadConfig([], {
      PORT: '9000',
      DATA_DIR: '/tmp/x',
      WORKERS: '4',
      QUEUE_MAX: '50',
      QUEUE_MAX_BYTES: '2097152',
      API_KEYS: 'key-aaaaaaaaaaaaaaaa, key-bbbbbbbbbbbbbbbb',
      LOG_LEVEL: 'WARN',
    });
    assert.equal(c.port, 9000);
    assert.equal(c.dataDir, '/tmp/x');
    assert.equal(c.workers, 4);
    assert.equal(c.queueMax, 50);
    assert.equal(c.queueMaxBytes, 2 * 1024 * 1024);
    assert.deepEqual(c.apiKeys, ['key-aaaaaaaaaaaaaaaa', 'key-bbbbbbbbbbbbbbbb']);
    assert.equal(c.logLevel, 'warn');
  });

  void it('reads the access variables; keys of exactly 16 characters are accepted', () => {
    const c = loadConfig([], {
      API_KEYS: 'sixteen-chars-xx',
      READ_API_KEYS: 'reader-key-00001,reader-key-00002',
      PUBLIC_READS: 'true',
      METRICS_PUBLIC: '1',
      MAX_SUBSCRIBERS: '5',
    });
    assert.equal(MIN_API_KEY_LENGTH, 16);
    assert.deepEqual(c.apiKeys, ['sixteen-chars-xx']);
    assert.deepEqual(c.readApiKeys, ['reader-key-00001', 'reader-key-00002']);
    assert.equal(c.publicReads, true);
    assert.equal(c.metricsPublic, true);
    assert.equal(c.maxSubscribers, 5);
    const d = loadConfig([], {});
    assert.equal(d.maxSubscribers, 1_000);
    assert.equal(d.publicReads, false);
    assert.equal(d.tls, null);
  });

  void it('reads STORE_CHECK_INTERVAL: a duration, "off", 24 h by default', () => {
    assert.equal(loadConfig([], {}).storeCheckIntervalMs, 86_400_000);
    assert.equal(loadConfig([], { STORE_CHECK_INTERVAL: '90s' }).storeCheckIntervalMs, 90_000);
    assert.equal(loadConfig([], { STORE_CHECK_INTERVAL: 'off' }).storeCheckIntervalMs, null);
    for (const bad of ['forever', '0', '500ms', 'soon']) {
      assert.match(
        configError([], { STORE_CHECK_INTERVAL: bad }).message,
        /STORE_CHECK_INTERVAL must be a duration such as 30m, 12h or 7d, or "off"/,
      );
    }
  });

  void it('lets a flag win over its environment variable', () => {
    const c = loadConfig(['--port', '9100', '--queue-max', '7'], { PORT: '9000', QUEUE_MAX: '5' });
    assert.equal(c.port, 9100);
    assert.equal(c.queueMax, 7);
  });

  void it('treats an empty variable as unset', () => {
    assert.equal(loadConfig([], { PORT: '  ' }).port, 8080);
  });

  void it('does not mutate the environment or argv it is given', () => {
    const env = { PORT: '9000' };
    const argv = ['--workers', '3'];
    loadConfig(argv, env);
    assert.deepEqual(env, { PORT: '9000' });
    assert.deepEqual(argv, ['--workers', '3']);
  });

  const bad: [string, Record<string, string>][] = [
    ['PORT', { PORT: 'abc' }],
    ['PORT', { PORT: '70000' }],
    ['WORKERS', { WORKERS: '0' }],
    ['WORKERS', { WORKERS: '-1' }],
    ['QUEUE_MAX', { QUEUE_MAX: '1.5' }],
    ['QUEUE_MAX_BYTES', { QUEUE_MAX_BYTES: '1gb' }],
    ['QUEUE_MAX_BYTES', { QUEUE_MAX_BYTES: '1000' }],
    ['MAX_PAYLOAD_BYTES', { MAX_PAYLOAD_BYTES: 'lots' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['ROLE', { ROLE: 'api' }],
    ['ROLE', { ROLE: 'worker' }],
    ['ROLE', { ROLE: 'boss' }],
    ['API_KEYS', { API_KEYS: 'short' }],
    ['API_KEYS', { API_KEYS: 'fifteen-chars-x' }],
    ['READ_API_KEYS', { READ_API_KEYS: 'fifteen-chars-x' }],
    ['READ_API_KEYS', { READ_API_KEYS: 'a-long-enough-key, short' }],
    ['PUBLIC_READS', { PUBLIC_READS: 'yes please' }],
    ['METRICS_PUBLIC', { METRICS_PUBLIC: 'maybe' }],
    ['MAX_SUBSCRIBERS', { MAX_SUBSCRIBERS: '0' }],
    ['TLS_KEY_FILE', { TLS_CERT_FILE: '/tmp/cert.pem' }],
    ['QUEUE', { QUEUE: 'kafka' }],
    ['OTLP_TOPIC_ATTRIBUTE', { OTLP_TOPIC_ATTRIBUTE: 'service name' }],
    ['RETENTION_MAX_AGE', { RETENTION_MAX_AGE: '7' }],
    ['RETENTION_MAX_AGE', { RETENTION_MAX_AGE: '3 days' }],
    ['RETENTION_MAX_AGE', { RETENTION_MAX_AGE: '500ms' }],
    ['RETENTION_MAX_AGE', { RETENTION_MAX_AGE: '-1h' }],
    ['RETENTION_MAX_BYTES', { RETENTION_MAX_BYTES: '10 parsecs' }],
    ['RETENTION_MAX_BYTES', { RETENTION_MAX_BYTES: '0' }],
    ['RETENTION_MAX_BYTES', { RETENTION_MAX_BYTES: '-5MB' }],
    ['DEDUP_WINDOW', { DEDUP_WINDOW: 'always' }],
    ['FAULT_DURING_EXPIRY', { FAULT_DURING_EXPIRY: 'maybe' }],
  ];
  for (const [variable, env] of bad) {
    void it(`rejects ${JSON.stringify(env)} with one ConfigError naming ${variable}`, () => {
      const err = configError([], env);
      assert.equal(err.variable, variable);
      assert.match(err.message, new RegExp(`\\b${variable}\\b`));
      assert.equal(err.message.split('\n').length, 1);
    });
  }

  void it('reports a bad flag value under the variable name', () => {
    assert.equal(configError(['--workers', 'many'], {}).variable, 'WORKERS');
  });

  void it('rejects an unknown flag', () => {
    assert.match(configError(['--prot', '1'], {}).message, /prot/);
  });

  void it('rejects a queue/store mismatch, naming the variable to fix', () => {
    assert.equal(configError([], { QUEUE: 'redis' }).variable, 'STORE');
    assert.equal(configError([], { STORE: 'postgres' }).variable, 'QUEUE');
  });

  void it('accepts cluster mode with QUEUE=redis and STORE=postgres', () => {
    const c = loadConfig([], { QUEUE: 'redis', STORE: 'postgres' });
    assert.equal(c.queue, 'redis');
    assert.equal(c.store, 'postgres');
  });

  void it('keeps everything forever by default', () => {
    assert.deepEqual(loadConfig([], {}).retention, {
      maxAgeMs: null,
      maxBytes: null,
      dedupWindowMs: null,
    });
  });

  void it('reads retention durations and sizes with their units', () => {
    const c = loadConfig([], {
      RETENTION_MAX_AGE: '90s',
      RETENTION_MAX_BYTES: '500MB',
      DEDUP_WINDOW: '7d',
    });
    assert.deepEqual(c.retention, {
      maxAgeMs: 90_000,
      maxBytes: 500_000_000,
      dedupWindowMs: 7 * 86_400_000,
    });
    const d = (v: string) => loadConfig([], { RETENTION_MAX_AGE: v }).retention.maxAgeMs;
    assert.equal(d('30m'), 30 * 60_000);
    assert.equal(d('12h'), 12 * 3_600_000);
    assert.equal(d('2w'), 14 * 86_400_000);
    assert.equal(d('forever'), null);
    const b = (v: string) => loadConfig([], { RETENTION_MAX_BYTES: v }).retention.maxBytes;
    assert.equal(b('123456'), 123_456);
    assert.equal(b('2GB'), 2e9);
    assert.equal(b('1GiB'), 2 ** 30);
    assert.equal(b('1.5mb'), 1_500_000);
    assert.equal(b('none'), null);
    assert.equal(loadConfig(['--dedup-window', 'forever'], {}).retention.dedupWindowMs, null);
  });
});
