import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryBackend } from '../../shared/store/memory-backend.ts';
import { MemoryStore } from '../../shared/store/memory-store.ts';
import type { Store } from '../../shared/store/store.ts';
import { continuityContract } from './continuity-contract.ts';
import { type StoreFixture, type StoreNamespace, storeContract } from './store-contract.ts';
import { termContract } from './term-contract.ts';

const fixture: StoreFixture = {
  name: 'memory',
  setup: async () => {},
  teardown: async () => {},
  namespace: async (): Promise<StoreNamespace> => {
    const backend = new MemoryBackend();
    const clients: Store[] = [];
    return {
      client() {
        const s = new MemoryStore({ backend });
        clients.push(s);
        return s;
      },
      writeRawListener: async (key, text) => backend.writeRawListener(key, text),
      deleteLeaseKey: async (vip) => backend.dropLeaseKey(vip),
      leaseKeyExists: async (vip) => backend.liveLease(vip) !== undefined,
      bumpVersion: async (by) => backend.bumpVersion(by),
      announceRaw: async (text) => backend.announceRaw(text),
      head: async () => ({
        generation: backend.generation ?? '',
        version: backend.version,
        term: backend.tableTerm,
      }),
      closeAll: async () => {
        await Promise.all(clients.map((c) => c.close()));
      },
    };
  },
};

storeContract(fixture);
continuityContract(fixture);
termContract(fixture);

describe('memory store incarnation', { timeout: 10_000 }, () => {
  it('draws a new incarnation when the backend is wiped, as a Redis restart without persistence does', async () => {
    const backend = new MemoryBackend();
    const store = new MemoryStore({ backend });
    const first = await store.incarnation();
    assert.equal(await new MemoryStore({ backend }).incarnation(), first);
    backend.wipe();
    const wiped = await store.incarnation();
    assert.notEqual(wiped, first);
    assert.equal(await store.incarnation(), wiped);
    await store.close();
  });
});
