/**
 * The PostgreSQL store with a queue of another encoding: sequence positions (the embedded
 * and in-memory queues' "1", "2", ...) instead of Redis stream ids, against the unchanged
 * store contract. Proof that the store persists what the queue's `positions` encode and
 * parses nothing itself.
 */
import { describe, it } from 'node:test';
import { sequencePositions } from '../../src/adapters/positions.js';
import { openPostgresStore } from '../../src/adapters/postgres/store.js';
import {
  DATABASE_URL,
  clusterServicesSkipReason,
  dropPostgresSchema,
  randomNamespace,
} from '../cluster/services.js';
import { runStoreContract, sequenceIds, type StoreOpener } from './store.contract.js';

const skip = await clusterServicesSkipReason();

if (skip !== null) {
  void describe('PostgreSQL store with sequence positions', () => {
    void it('store contract', { skip }, () => undefined);
  });
} else {
  const open: StoreOpener = async (opts = {}) => {
    const namespace = randomNamespace();
    const store = await openPostgresStore({
      url: DATABASE_URL,
      namespace,
      poolMax: 4,
      consumerName: 'contract-seq',
      positions: sequencePositions,
      ...(opts.retention ? { retention: opts.retention } : {}),
    });
    return {
      store,
      nextDeliveryId: sequenceIds,
      // The default partition span (retention tests are the other file's).
      granularity: 100_000,
      cleanup: async () => {
        await store.close();
        await dropPostgresSchema(DATABASE_URL, namespace);
      },
    };
  };
  runStoreContract('postgres, sequence positions', open);
}
