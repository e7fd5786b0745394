/**
 * The aggregator environment exactly as docker-compose.yml sets it, for running the same
 * topology as local processes: every variable of the service comes from the compose file;
 * only what names the compose network (service hostnames, the shared namespace) is pointed
 * at this machine's services and the test's own namespace.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const COMPOSE_FILE = fileURLToPath(new URL('../../../docker-compose.yml', import.meta.url));

interface ComposeFile {
  readonly services: Record<string, { readonly environment?: Record<string, string | number> }>;
}

/** `${NAME:-default}` as compose interpolates it with NAME unset. */
function interpolate(value: string): string {
  return value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
}

export function composeAggregatorEnv(
  service: string,
  local: { redisUrl: string; databaseUrl: string; namespace: string },
): Record<string, string> {
  const compose = parse(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true }) as ComposeFile;
  const environment = compose.services[service]?.environment;
  if (environment === undefined)
    throw new Error(`docker-compose.yml has no ${service} environment`);
  const env = Object.fromEntries(
    Object.entries(environment).map(([k, v]) => [k, interpolate(String(v))]),
  );
  return {
    ...env,
    REDIS_URL: local.redisUrl,
    DATABASE_URL: local.databaseUrl,
    NAMESPACE: local.namespace,
    LOG_LEVEL: 'warn',
  };
}
