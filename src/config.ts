/**
 * Configuration: environment variables and matching CLI flags (`--queue-max 5000` for
 * QUEUE_MAX) into one frozen Config, or one ConfigError naming the bad variable. This is the
 * only module that reads `process.env`; parsing never mutates its input.
 */
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import type { Composition } from './adapters/composition.js';
import { compositionNamed, compositionOf, compositions } from './adapters/registry.js';
import { parseDuration, parseSize, type RetentionPolicy } from './domain/retention.js';

export type Role = 'all' | 'api' | 'worker';
/** A registered composition's QUEUE / STORE alias (src/adapters/registry.ts). */
export type QueueKind = string;
export type StoreKind = string;
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly workers: number;
  readonly queueMax: number;
  /** Embedded mode: bytes of queued records on disk before /publish answers 503. */
  readonly queueMaxBytes: number;
  readonly batchMax: number;
  readonly maxPayloadBytes: number;
  readonly maxBatchEvents: number;
  readonly maxBodyBytes: number;
  readonly apiKeys: readonly string[];
  readonly logLevel: LogLevel;
  /** MODE: the registered composition this process opens (src/adapters/registry.ts). */
  readonly mode: string;
  readonly queue: QueueKind;
  readonly store: StoreKind;
  readonly redisUrl: string;
  readonly databaseUrl: string;
  readonly consumerName: string;
  readonly claimIdleMs: number;
  readonly role: Role;
  /** Seconds a drain may take at SIGTERM before the process exits anyway. */
  readonly shutdownTimeoutS: number;
  /** Longest a POST /publish?wait=true waits for processing before it answers 504. */
  readonly waitTimeoutMs: number;
  /** Embedded mode: how long a consumer waits for a fuller batch (CONSUMER_LINGER_MS). */
  readonly consumerLingerMs: number;
  /**
   * Embedded mode: the store's full check runs again this long after the last one ended
   * (STORE_CHECK_INTERVAL); null: only after start.
   */
  readonly storeCheckIntervalMs: number | null;
  /** Redis stream/key prefix and Postgres schema, so several deployments can share servers. */
  readonly namespace: string;
  readonly pgPoolMax: number;
  /**
   * Fault injection for tests: SIGKILL this process right after a batch's store commit and
   * before its queue ack (FAULT_AFTER_COMMIT=kill). Never set it in production.
   */
  readonly faultAfterCommit: 'kill' | null;
  /** The OTLP resource attribute whose value names an OTLP record's topic (POST /v1/logs). */
  readonly otlpTopicAttribute: string;
  /** RETENTION_MAX_AGE, RETENTION_MAX_BYTES, DEDUP_WINDOW (src/domain/retention.ts). */
  readonly retention: RetentionPolicy;
  /**
   * Fault injection for tests: SIGKILL this process inside an expiry step, after its rows
   * are deleted and before its transaction commits (FAULT_DURING_EXPIRY=kill).
   */
  readonly faultDuringExpiry: 'kill' | null;
  /** Read-only keys (READ_API_KEYS): every read, never /publish. */
  readonly readApiKeys: readonly string[];
  /** PUBLIC_READS=true: reads stay open while keys guard writes. */
  readonly publicReads: boolean;
  /** METRICS_PUBLIC=true: /metrics stays open (for a scraper without a key). */
  readonly metricsPublic: boolean;
  /** TLS_CERT_FILE + TLS_KEY_FILE (PEM paths): serve HTTPS. Both or neither. */
  readonly tls: { readonly certFile: string; readonly keyFile: string } | null;
  /** Most concurrent /subscribe streams; 503 beyond. */
  readonly maxSubscribers: number;
}

/** The shortest key accepted in API_KEYS / READ_API_KEYS (a guessable key is no key). */
export const MIN_API_KEY_LENGTH = 16;

export const DEFAULTS = {
  PORT: 8080,
  HOST: '0.0.0.0',
  DATA_DIR: './data',
  WORKERS: 2,
  QUEUE_MAX: 200_000,
  QUEUE_MAX_BYTES: 1024 * 1024 * 1024,
  BATCH_MAX: 2_000,
  MAX_PAYLOAD_BYTES: 64 * 1024,
  MAX_BATCH_EVENTS: 10_000,
  MAX_BODY_BYTES: 10 * 1024 * 1024,
  LOG_LEVEL: 'info',
  QUEUE: 'embedded',
  STORE: 'sqlite',
  REDIS_URL: 'redis://127.0.0.1:6379',
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
  CLAIM_IDLE_MS: 30_000,
  ROLE: 'all',
  SHUTDOWN_TIMEOUT_S: 30,
  WAIT_TIMEOUT_MS: 30_000,
  // Embedded mode. Every consumer batch is a message to the store thread and a SQLite commit
  // (about one WAL page per event for random dedup keys, plus one per index touched), and a
  // thread wake-up is expensive on the 2-vCPU VMs measured: under W2 (single-event requests)
  // 5 ms gave batches of ~35 events (~15 without), and 20 ms gave 11 % more requests/s and
  // 8 % less process CPU per request than 5 ms (BENCHMARKS "W2, Session 5", 10 interleaved
  // rounds). POST /publish?wait=true does not pay it (Queue.expedite), and a pause in the
  // stream of a tenth of it ends it (LogQueueOptions.pauseMs): a lone event is stored ~4 ms
  // after its 202, not ~22 (BENCHMARKS "W2, session 11").
  CONSUMER_LINGER_MS: 20,
  // Embedded mode: damage to rows no read reaches (an old event nobody asks for) would
  // otherwise be found only at the next start. A full check costs ~4-5 s of CPU per million
  // events, paced to a quarter of a core (reader-thread.ts).
  STORE_CHECK_INTERVAL: '24h',
  NAMESPACE: 'logsieve',
  PG_POOL_MAX: 10,
  OTLP_TOPIC_ATTRIBUTE: 'service.name',
  PUBLIC_READS: 'false',
  METRICS_PUBLIC: 'false',
  MAX_SUBSCRIBERS: 1_000,
} as const;

type VarName =
  | keyof typeof DEFAULTS
  | 'API_KEYS'
  | 'READ_API_KEYS'
  | 'TLS_CERT_FILE'
  | 'TLS_KEY_FILE'
  | 'CONSUMER_NAME'
  | 'FAULT_AFTER_COMMIT'
  | RetentionVar
  | 'FAULT_DURING_EXPIRY'
  | 'MODE';

/** Retention variables: unset means keep forever / no bound. */
type RetentionVar = 'RETENTION_MAX_AGE' | 'RETENTION_MAX_BYTES' | 'DEDUP_WINDOW';

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`invalid configuration: ${variable} ${message}`);
    this.name = 'ConfigError';
  }
}

const VAR_NAMES: readonly VarName[] = [
  ...(Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]),
  'API_KEYS',
  'READ_API_KEYS',
  'TLS_CERT_FILE',
  'TLS_KEY_FILE',
  'CONSUMER_NAME',
  'FAULT_AFTER_COMMIT',
  'RETENTION_MAX_AGE',
  'RETENTION_MAX_BYTES',
  'DEDUP_WINDOW',
  'FAULT_DURING_EXPIRY',
  'MODE',
];

/**
 * HOST as given, refused when it cannot be an address: dotted numbers that are not an IPv4
 * address (999.1.1.1 was left to getaddrinfo, which failed with ENOTFOUND after the backend
 * had opened). A name is resolved when the server listens (run.ts names HOST if it fails).
 */
function hostOf(host: string): string {
  if (/^[0-9.]+$/.test(host) && isIP(host) !== 4) {
    throw new ConfigError('HOST', `is not an IPv4 address or a host name, got "${host}"`);
  }
  return host;
}

const flagOf = (v: string): string => v.toLowerCase().replace(/_/g, '-');

/** Reads `--port 9000` style flags; a flag wins over its environment variable. */
export function loadConfig(
  argv: readonly string[] = process.argv.slice(2),
  env: Readonly<Record<string, string | undefined>> = process.env,
): Config {
  let flags: Record<string, string | boolean | undefined>;
  try {
    flags = parseArgs({
      args: [...argv],
      options: Object.fromEntries(VAR_NAMES.map((v) => [flagOf(v), { type: 'string' as const }])),
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new ConfigError('(flags)', (err as Error).message);
  }
  const raw = (name: VarName): string | undefined => {
    const fromFlag = flags[flagOf(name)];
    const value = typeof fromFlag === 'string' ? fromFlag : env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  return parseConfig(raw);
}

function parseConfig(raw: (name: VarName) => string | undefined): Config {
  const str = (name: keyof typeof DEFAULTS): string => raw(name) ?? String(DEFAULTS[name]);
  const int = (name: keyof typeof DEFAULTS, min: number, max: number): number => {
    const text = str(name);
    if (!/^\d+$/.test(text)) throw new ConfigError(name, `must be a whole number, got "${text}"`);
    const n = Number(text);
    if (n < min || n > max)
      throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
    return n;
  };
  const oneOf = <T extends string>(name: keyof typeof DEFAULTS, allowed: readonly T[]): T => {
    const text = str(name).toLowerCase();
    if (!(allowed as readonly string[]).includes(text)) {
      throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${text}"`);
    }
    return text as T;
  };

  const keyList = (name: 'API_KEYS' | 'READ_API_KEYS'): readonly string[] => {
    const text = raw(name);
    const keys = (text ?? '')
      .split(',')
      .map((k) => k.trim())
      .filter((k) => k.length > 0);
    // API_KEYS="$K1,$K2" with both unset is ",": refused, never read as "no keys" (open).
    if (text !== undefined && keys.length === 0) {
      throw new ConfigError(name, `holds no key ("${text}"); unset it to run without keys`);
    }
    for (const key of keys) {
      if (key.length < MIN_API_KEY_LENGTH || /\s/.test(key)) {
        throw new ConfigError(
          name,
          `keys must be at least ${MIN_API_KEY_LENGTH} characters without spaces`,
        );
      }
    }
    return Object.freeze(keys);
  };
  const bool = (name: keyof typeof DEFAULTS): boolean => {
    const text = str(name).toLowerCase();
    if (text === 'true' || text === '1') return true;
    if (text === 'false' || text === '0') return false;
    throw new ConfigError(name, `must be true or false, got "${text}"`);
  };
  const apiKeys = keyList('API_KEYS');
  const readApiKeys = keyList('READ_API_KEYS');
  const certFile = raw('TLS_CERT_FILE');
  const keyFile = raw('TLS_KEY_FILE');
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError(
      certFile === undefined ? 'TLS_CERT_FILE' : 'TLS_KEY_FILE',
      'must be set together with ' + (certFile === undefined ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE'),
    );
  }

  const composition = resolveMode(raw);
  const role = oneOf<Role>('ROLE', ['all', 'api', 'worker']);
  if (!composition.splitsRoles && role !== 'all') {
    // One process owns an embedded DATA_DIR: without consumers nothing would ever drain it,
    // and without the API nothing would ever fill it.
    throw new ConfigError(
      'ROLE',
      `must be "all" in ${composition.mode} mode (api and worker split a cluster), got "${role}"`,
    );
  }
  const namespace = str('NAMESPACE');
  if (!/^[a-z][a-z0-9_]{0,40}$/.test(namespace)) {
    throw new ConfigError('NAMESPACE', 'must match ^[a-z][a-z0-9_]{0,40}$');
  }
  const consumerName = raw('CONSUMER_NAME') ?? `${hostname()}-${process.pid}`;
  const batchMax = int('BATCH_MAX', 1, 50_000);
  const queueMax = int('QUEUE_MAX', 1, 100_000_000);
  // A request larger than the whole queue could never be accepted, only retried forever:
  // the effective per-request limit is the smaller of the two (413 above it).
  const maxBatchEvents = Math.min(int('MAX_BATCH_EVENTS', 1, 1_000_000), queueMax);

  const config: Config = Object.freeze({
    port: int('PORT', 0, 65_535),
    host: hostOf(str('HOST')),
    dataDir: str('DATA_DIR'),
    workers: int('WORKERS', 1, 64),
    queueMax,
    queueMaxBytes: int('QUEUE_MAX_BYTES', 1024 * 1024, Number.MAX_SAFE_INTEGER),
    batchMax,
    maxPayloadBytes: int('MAX_PAYLOAD_BYTES', 2, 16 * 1024 * 1024),
    maxBatchEvents,
    maxBodyBytes: int('MAX_BODY_BYTES', 1024, 1024 * 1024 * 1024),
    apiKeys,
    readApiKeys,
    publicReads: bool('PUBLIC_READS'),
    metricsPublic: bool('METRICS_PUBLIC'),
    tls:
      certFile !== undefined && keyFile !== undefined ? Object.freeze({ certFile, keyFile }) : null,
    maxSubscribers: int('MAX_SUBSCRIBERS', 1, 1_000_000),
    logLevel: oneOf<LogLevel>('LOG_LEVEL', [
      'fatal',
      'error',
      'warn',
      'info',
      'debug',
      'trace',
      'silent',
    ]),
    mode: composition.mode,
    queue: composition.queue,
    store: composition.store,
    redisUrl: str('REDIS_URL'),
    databaseUrl: str('DATABASE_URL'),
    consumerName,
    claimIdleMs: int('CLAIM_IDLE_MS', 100, 86_400_000),
    role,
    shutdownTimeoutS: int('SHUTDOWN_TIMEOUT_S', 1, 3_600),
    // Up to what setTimeout can hold (a larger delay would fire at once).
    waitTimeoutMs: int('WAIT_TIMEOUT_MS', 1, 2_147_483_647),
    consumerLingerMs: int('CONSUMER_LINGER_MS', 0, 60_000),
    storeCheckIntervalMs: checkInterval(str('STORE_CHECK_INTERVAL')),
    namespace,
    pgPoolMax: int('PG_POOL_MAX', 1, 1_000),
    faultAfterCommit: parseFault('FAULT_AFTER_COMMIT', raw('FAULT_AFTER_COMMIT')),
    otlpTopicAttribute: attributeName('OTLP_TOPIC_ATTRIBUTE', str('OTLP_TOPIC_ATTRIBUTE')),
    retention: parseRetention(raw),
    faultDuringExpiry: parseFault('FAULT_DURING_EXPIRY', raw('FAULT_DURING_EXPIRY')),
  });
  const problem = composition.check?.(config) ?? null;
  if (problem !== null) throw new ConfigError(problem.variable, problem.message);
  return config;
}

/**
 * MODE names a registered composition; without it, QUEUE and STORE (defaults embedded and
 * sqlite) select the composition registered for that pair. A pair no composition serves is
 * refused with the MODE to use instead, naming the variable that does not fit.
 */
function resolveMode(raw: (name: VarName) => string | undefined): Composition {
  const all = compositions();
  const list = (pick: (c: Composition) => string): string => [...new Set(all.map(pick))].join(', ');
  const queueRaw = raw('QUEUE')?.toLowerCase();
  const storeRaw = raw('STORE')?.toLowerCase();
  const modeRaw = raw('MODE')?.toLowerCase();
  if (modeRaw !== undefined) {
    const named = compositionNamed(modeRaw);
    if (named === undefined) {
      throw new ConfigError('MODE', `must be one of ${list((c) => c.mode)}, got "${modeRaw}"`);
    }
    for (const [variable, value, wanted] of [
      ['QUEUE', queueRaw, named.queue],
      ['STORE', storeRaw, named.store],
    ] as const) {
      if (value !== undefined && value !== wanted) {
        throw new ConfigError(
          variable,
          `must be ${wanted} (or unset) with MODE=${named.mode}, got "${value}"`,
        );
      }
    }
    return named;
  }
  const queue = queueRaw ?? String(DEFAULTS.QUEUE);
  const store = storeRaw ?? String(DEFAULTS.STORE);
  if (!all.some((c) => c.queue === queue)) {
    throw new ConfigError('QUEUE', `must be one of ${list((c) => c.queue)}, got "${queue}"`);
  }
  if (!all.some((c) => c.store === store)) {
    throw new ConfigError('STORE', `must be one of ${list((c) => c.store)}, got "${store}"`);
  }
  const pair = compositionOf(queue, store);
  if (pair !== undefined) return pair;
  // Name the variable the user set to leave the default pair; keep the one they chose.
  const byQueue = all.find((c) => c.queue === queue);
  const byStore = all.find((c) => c.store === store);
  const fix =
    queueRaw !== undefined && byQueue !== undefined
      ? { variable: 'STORE', use: byQueue }
      : { variable: 'QUEUE', use: byStore ?? byQueue };
  const use = fix.use as Composition;
  const [value, other] =
    fix.variable === 'STORE' ? [store, `QUEUE=${queue}`] : [queue, `STORE=${store}`];
  throw new ConfigError(
    fix.variable,
    `"${value}" does not pair with ${other}; use MODE=${use.mode} (QUEUE=${use.queue} with STORE=${use.store})`,
  );
}

/** An OTLP attribute key: 1-255 characters, no whitespace or control characters. */
function attributeName(name: string, value: string): string {
  if (value.length > 255 || !/^[^\s\p{Cc}]+$/u.test(value)) {
    throw new ConfigError(
      name,
      `must be an attribute key (1-255 characters, no spaces), got "${value}"`,
    );
  }
  return value;
}

function parseRetention(raw: (name: VarName) => string | undefined): RetentionPolicy {
  const duration = (name: RetentionVar): number | null => {
    const r = parseDuration(raw(name) ?? 'forever');
    if (!r.ok) throw new ConfigError(name, r.error);
    return r.ms;
  };
  const size = parseSize(raw('RETENTION_MAX_BYTES') ?? 'none');
  if (!size.ok) throw new ConfigError('RETENTION_MAX_BYTES', size.error);
  return Object.freeze({
    maxAgeMs: duration('RETENTION_MAX_AGE'),
    maxBytes: size.bytes,
    dedupWindowMs: duration('DEDUP_WINDOW'),
  });
}

/** STORE_CHECK_INTERVAL: a duration (at least 1s), or "off". */
function checkInterval(text: string): number | null {
  if (text.trim().toLowerCase() === 'off') return null;
  const r = parseDuration(text);
  if (!r.ok || r.ms === null) {
    throw new ConfigError(
      'STORE_CHECK_INTERVAL',
      `must be a duration such as 30m, 12h or 7d, or "off", got "${text}"`,
    );
  }
  return r.ms;
}

function parseFault(name: VarName, value: string | undefined): 'kill' | null {
  if (value === undefined) return null;
  if (value === 'kill') return 'kill';
  throw new ConfigError(name, `must be "kill" or unset, got "${value}"`);
}
