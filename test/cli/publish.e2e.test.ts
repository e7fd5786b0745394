/** `logsieve publish` end to end: the built CLI against the built server (and stubs). */
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planBatches } from '../../src/cli/generate.js';
import type { PublishReport } from '../../src/cli/report.js';
import { freePort, makeDataDir, removeDir, sleep } from '../helpers/tmp.js';
import { fakeAggregator, json, startStub } from '../client/stub.js';
import { CLI_JS, runCli, serveOn, SERVER_BUILT, startCli } from './support.js';

const skip = SERVER_BUILT ? false : 'dist/src/main.js is not built';

function report(stdout: string): PublishReport {
  return JSON.parse(stdout) as PublishReport;
}

void test(
  '20,000 events with 30 % duplicates: the /stats delta matches the report exactly',
  { skip },
  async () => {
    const dir = await makeDataDir('logsieve-cli');
    const server = await serveOn(await freePort(), dir);
    try {
      const args = ['--count', '20000', '--dup-ratio', '0.3', '--batch', '500', '--seed', 'e2e'];
      const res = await runCli([
        'publish',
        '--url',
        server.url,
        ...args,
        '--concurrency',
        '8',
        '--json',
      ]);
      assert.equal(res.code, 0, res.stderr + res.stdout);
      const r = report(res.stdout);
      assert.equal(r.sent, 20_000);
      assert.equal(r.accepted, 20_000);
      assert.equal(r.unique_sent, 14_000);
      assert.equal(r.duplicates_sent, 6_000);
      assert.deepEqual(r.delta, {
        received: 20_000,
        unique_processed: 14_000,
        duplicate_dropped: 6_000,
      });
      assert.equal(r.stats_after?.queue_depth, 0);
      assert.deepEqual(r.verification, { checked: true, ok: true, problems: [] });
      assert.equal(r.failed_batches, 0);
      assert.ok(r.latency_ms.p50 > 0 && r.latency_ms.p99 >= r.latency_ms.p50);
      // The flavour split is a function of the seed alone.
      const planned = { immediate: 0, cross_batch: 0, late: 0 };
      for (const b of planBatches({
        count: 20_000,
        dupRatio: 0.3,
        batchSize: 500,
        topics: ['login', 'order', 'payment'],
        sources: ['checkout-svc', 'auth-svc', 'web'],
        seed: 'e2e',
        deterministic: true,
      })) {
        for (const k of ['immediate', 'cross_batch', 'late'] as const)
          planned[k] += b.duplicates[k];
      }
      assert.deepEqual(r.duplicates_by_kind, planned);

      const stats = await runCli(['stats', '--url', server.url]);
      assert.equal(stats.code, 0, stats.stderr);
      assert.match(stats.stdout, /received\s+20,000/);
      assert.match(stats.stdout, /unique\s+14,000/);
      assert.match(stats.stdout, /invariant\s+ok/);
    } finally {
      await server.stop();
      await removeDir(dir);
    }
  },
);

void test(
  'the server killed and restarted mid-run: nothing lost, nothing counted twice',
  { skip },
  async () => {
    const dir = await makeDataDir('logsieve-cli');
    const port = await freePort();
    let server = await serveOn(port, dir);
    try {
      const run = startCli([
        'publish',
        '--url',
        server.url,
        '--count',
        '20000',
        '--dup-ratio',
        '0.3',
        '--batch',
        '200',
        '--concurrency',
        '4',
        '--rate',
        '8000',
        '--seed',
        'restart',
        '--max-retry-time',
        '30',
        '--json',
      ]);
      // Kill once the run is under way (bounded wait), not after a fixed sleep that a slow
      // machine could overrun before the CLI has even read /stats.
      for (let i = 0; i < 500; i++) {
        const s = await fetch(`${server.url}/stats`).then(
          (r) => r.json() as Promise<{ received: number }>,
          () => ({ received: 0 }),
        );
        if (s.received >= 3_000) break;
        await sleep(20);
      }
      await server.stop('SIGKILL');
      await sleep(700); // connections are refused meanwhile
      server = await serveOn(port, dir);
      const res = await run.done;
      assert.equal(res.code, 0, res.stderr + res.stdout);
      const r = report(res.stdout);
      assert.ok(r.network_errors > 0 && r.retries > 0, 'the outage was seen and retried');
      assert.equal(r.sent, 20_000);
      assert.equal(r.unique_sent, 14_000);
      assert.equal(r.delta?.unique_processed, 14_000, 'every unique event stored once');
      assert.ok((r.delta?.duplicate_dropped ?? 0) >= 6_000);
      assert.ok((r.delta?.duplicate_dropped ?? 0) <= 6_000 + r.maybe_redelivered);
      assert.equal(r.verification.ok, true, r.verification.problems.join('; '));
    } finally {
      await server.stop();
      await removeDir(dir);
    }
  },
);

void test(
  'a tiny server queue answers 503 and the publisher retries until all is in',
  { skip },
  async () => {
    const dir = await makeDataDir('logsieve-cli');
    const server = await serveOn(await freePort(), dir, { QUEUE_MAX: '150' });
    try {
      const res = await runCli([
        'publish',
        '--url',
        server.url,
        '--count',
        '5000',
        '--dup-ratio',
        '0.2',
        '--batch',
        '100',
        '--concurrency',
        '8',
        '--seed',
        'busy',
        '--json',
      ]);
      assert.equal(res.code, 0, res.stderr + res.stdout);
      const r = report(res.stdout);
      assert.deepEqual(r.delta, {
        received: 5_000,
        unique_processed: 4_000,
        duplicate_dropped: 1_000,
      });
      assert.equal(r.retries, r.http_errors, 'every 503 was retried');
      assert.equal(r.maybe_redelivered, 0, 'a 503 enqueues nothing');
    } finally {
      await server.stop();
      await removeDir(dir);
    }
  },
);

void test(
  'an aggregator that comes up after the run started: the report still shows its /stats, and says why it cannot verify',
  { skip },
  async () => {
    const dir = await makeDataDir('logsieve-cli');
    const port = await freePort();
    let server: Awaited<ReturnType<typeof serveOn>> | null = null;
    try {
      const run = startCli([
        'publish',
        '--url',
        `http://127.0.0.1:${port}`,
        '--count',
        '500',
        '--dup-ratio',
        '0.3',
        '--batch',
        '50',
        '--concurrency',
        '2',
        '--max-retry-time',
        '30',
        '--json',
      ]);
      await sleep(1_500); // /stats before the run, and the first batches, are refused
      server = await serveOn(port, dir);
      const res = await run.done;
      const r = report(res.stdout);
      assert.equal(r.accepted, 500, res.stderr);
      assert.equal(r.stats_before, null);
      // Read after the run all the same (found by an outside probe: it was left out).
      assert.equal(r.stats_after?.received, 500);
      assert.equal(r.stats_after?.queue_depth, 0);
      assert.equal(r.drained, true);
      assert.equal(r.delta, null);
      assert.equal(r.verification.ok, false);
      assert.deepEqual(r.verification.problems, [
        '/stats was not readable before the run: there is nothing to compare it with',
      ]);
      assert.equal(res.code, 1);
    } finally {
      await server?.stop();
      await removeDir(dir);
    }
  },
);

void test('a wrong API key is rejected once, not retried, and exits 3', { skip }, async () => {
  const dir = await makeDataDir('logsieve-cli');
  const server = await serveOn(await freePort(), dir, { API_KEYS: 'right-key-123-abcdef' });
  try {
    const bad = await runCli([
      'publish',
      '--url',
      server.url,
      '--count',
      '100',
      '--concurrency',
      '1',
      '--api-key',
      'wrong-key-456-abcdef',
      '--json',
    ]);
    assert.equal(bad.code, 3, bad.stderr + bad.stdout);
    const r = report(bad.stdout);
    assert.equal(r.retries, 0);
    assert.equal(r.failures[0]?.status, 401);
    assert.equal(r.failures[0]?.code, 'rejected');
    const good = await runCli([
      'publish',
      '--url',
      server.url,
      '--count',
      '100',
      '--api-key',
      'right-key-123-abcdef',
      '--json',
    ]);
    assert.equal(good.code, 0, good.stderr + good.stdout);
    // The key from LOGSIEVE_API_KEY when --api-key is not given (the compose publisher has
    // no other way to get one; found by an outside probe), and --api-key wins over it.
    const env = { LOGSIEVE_API_KEY: 'right-key-123-abcdef' };
    const fromEnv = await runCli(
      ['publish', '--url', server.url, '--count', '100', '--json'],
      undefined,
      env,
    );
    assert.equal(fromEnv.code, 0, fromEnv.stderr + fromEnv.stdout);
    const stats = await runCli(['stats', '--url', server.url, '--json'], undefined, env);
    assert.equal(stats.code, 0, stats.stderr + stats.stdout);
    const flagWins = await runCli(
      ['publish', '--url', server.url, '--count', '10', '--api-key', 'wrong-key-456-abcdef'],
      undefined,
      env,
    );
    assert.equal(flagWins.code, 3, flagWins.stderr + flagWins.stdout);
  } finally {
    await server.stop();
    await removeDir(dir);
  }
});

void test('503s from a stub are retried and the run still verifies', async () => {
  const fake = fakeAggregator((i) =>
    i < 4 ? { status: 503, headers: { 'retry-after': '0' } } : undefined,
  );
  const stub = await startStub(fake.handler);
  try {
    const res = await runCli([
      'publish',
      '--url',
      stub.url,
      '--count',
      '1000',
      '--batch',
      '100',
      '--concurrency',
      '2',
      '--json',
    ]);
    assert.equal(res.code, 0, res.stderr + res.stdout);
    const r = report(res.stdout);
    assert.equal(r.retries, 4);
    assert.equal(r.http_errors, 4);
    assert.equal(r.verification.ok, true);
    assert.equal(fake.seen.size, r.unique_sent);
  } finally {
    await stub.close();
  }
});

void test('a 400 is reported with the server details, sent once, and exits 3', async () => {
  const details = [{ index: 3, field: '/timestamp', message: 'must include an offset' }];
  const fake = fakeAggregator();
  const stub = await startStub((req, res, i) =>
    req.method === 'POST'
      ? json(res, 400, { error: 'validation_failed', message: '1 invalid event', details })
      : fake.handler(req, res, i),
  );
  try {
    const text = await runCli([
      'publish',
      '--url',
      stub.url,
      '--count',
      '50',
      '--concurrency',
      '1',
    ]);
    assert.equal(text.code, 3);
    assert.match(text.stdout, /error\s+rejected: HTTP 400 validation_failed: 1 invalid event/);
    assert.match(text.stdout, /item 3 \/timestamp: must include an offset/);
    assert.equal(stub.requests.filter((r) => r.method === 'POST').length, 1);
    const asJson = await runCli([
      'publish',
      '--url',
      stub.url,
      '--count',
      '50',
      '--concurrency',
      '1',
      '--json',
    ]);
    assert.deepEqual(report(asJson.stdout).failures[0]?.details, details);
  } finally {
    await stub.close();
  }
});

void test('the same --seed prints the same batches; another seed does not', async () => {
  const args = ['publish', '--count', '3000', '--dup-ratio', '0.3', '--batch', '250', '--dry-run'];
  const a = await runCli([...args, '--seed', 's1']);
  const b = await runCli([...args, '--seed', 's1']);
  const c = await runCli([...args, '--seed', 's2']);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout.trim().split('\n').length, 12);
  assert.equal(a.stdout, b.stdout);
  assert.notEqual(a.stdout, c.stdout);
});

void test('bad flags exit 2 with one line naming the flag', async () => {
  const r = await runCli(['publish', '--dup-ratio', '1.5']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--dup-ratio/);
  const u = await runCli(['publish', '--nope']);
  assert.equal(u.code, 2);
  const cmd = await runCli(['frobnicate']);
  assert.equal(cmd.code, 2);
});

void test('start runs the aggregator until SIGTERM', { skip }, async () => {
  const dir = await makeDataDir('logsieve-cli');
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      CLI_JS,
      'start',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--data-dir',
      dir,
      '--log-level',
      'warn',
    ],
    { stdio: 'ignore', env: { PATH: process.env.PATH ?? '' } },
  );
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  try {
    let healthy = false;
    for (let i = 0; i < 400 && !healthy; i++) {
      healthy = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (!healthy) await sleep(25);
    }
    assert.ok(healthy);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    child.kill('SIGKILL');
    await removeDir(dir);
  }
});
