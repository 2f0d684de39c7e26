import { MemoryBackend } from '../../shared/store/memory-backend.ts';
import { MemoryStore } from '../../shared/store/memory-store.ts';
import type { Store } from '../../shared/store/store.ts';
import { type StoreNamespace, storeContract } from './store-contract.ts';

storeContract({
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
      bumpVersion: async (by) => backend.bumpVersion(by),
      announceRaw: async (text) => backend.announceRaw(text),
      head: async () => ({ generation: backend.generation ?? '', version: backend.version }),
      closeAll: async () => {
        await Promise.all(clients.map((c) => c.close()));
      },
    };
  },
});
