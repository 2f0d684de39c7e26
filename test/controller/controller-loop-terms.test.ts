/**
 * The loop as one leadership term's writer (docs/store.md, "Controller terms"): it writes everything
 * again after the store reconnects, stops for good when the store refuses its term, and a pass in
 * flight writes nothing once the term has ended. The store is the in-process one, shared by the
 * loop and the test through one backend.
 */
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  ControllerLoop,
  type StoreRefusal,
  type TablePublisher,
} from '../../controller/loop/controller-loop.ts';
import { LogWriter } from '../../controller/loop/log-writer.ts';
import { termPublisher } from '../../controller/loop/term-publisher.ts';
import { ManifestSource } from '../../controller/sources/manifest/source.ts';
import { silentLogger } from '../../shared/log.ts';
import { MemoryBackend } from '../../shared/store/memory-backend.ts';
import { MemoryStore } from '../../shared/store/memory-store.ts';
import { parseAnnouncement } from '../../shared/store/table-announcement.ts';
import { eventually } from '../store/await-events.ts';

const dir = mkdtempSync(join(tmpdir(), 'sy-terms-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const EXTRA = `---
apiVersion: v1
kind: Service
metadata: {name: extra, namespace: demo}
spec: {type: LoadBalancer, ports: [{port: 81, nodePort: 30081}]}
`;

/** A manifest source over a fresh copy of the demo, a store on `backend`, and the announcements seen. */
function setup(name: string) {
  const file = join(dir, `${name}.yaml`);
  copyFileSync('examples/demo.yaml', file);
  const backend = new MemoryBackend();
  const store = new MemoryStore({ backend });
  const announced: string[] = [];
  const detach = backend.link({ connected: () => {}, announced: (t) => announced.push(t) });
  const source = new ManifestSource(file, silentLogger());
  const close = async () => {
    detach();
    await source.stop();
    await store.close();
  };
  return { file, backend, store, announced, source, close };
}

describe('ControllerLoop under a term', { timeout: 20_000 }, () => {
  it('writes the table whole, the node states and the pool statuses again after the store reconnects, though nothing changed', async () => {
    const { backend, store, announced, source, close } = setup('reconnect');
    const loop = new ControllerLoop({
      source,
      writer: new LogWriter(silentLogger()),
      publisher: termPublisher(store, 1),
      logger: silentLogger(),
      debounceMs: 10,
    });
    try {
      await loop.start();
      await loop.idle();
      const version = backend.version;
      assert.ok(backend.nodeStates !== null && backend.poolStatuses !== null);
      // What a Redis that restarted (or failed over) may have lost besides the table.
      backend.nodeStates = null;
      backend.poolStatuses = null;
      announced.length = 0;
      backend.setAvailable(false);
      backend.setAvailable(true);
      await eventually(
        () => backend.nodeStates !== null && backend.poolStatuses !== null && backend.version > version,
        5000,
        'everything written again',
      );
      assert.deepEqual(
        announced.map((t) => parseAnnouncement(t)?.kind),
        ['full'],
        'the table was written whole, once',
      );
      assert.equal(backend.tableTerm, 1);
    } finally {
      await loop.stop();
      await close();
    }
  });

  it('stops writing for good once the store refuses its term, and reports the refusal', async () => {
    const { file, backend, store, source, close } = setup('refused');
    const refusals: StoreRefusal[] = [];
    let deposed = 0;
    const loop = new ControllerLoop({
      source,
      writer: new LogWriter(silentLogger()),
      publisher: termPublisher(store, 1),
      logger: silentLogger(),
      debounceMs: 10,
      onStoreRefused: (r) => refusals.push(r),
      onDeposed: () => deposed++,
    });
    const newer = new MemoryStore({ backend });
    try {
      await loop.start();
      await loop.idle();
      const states = [{ node: 'kind-worker', ready: false, excludeFromExternalLB: false }];
      await newer.publishNodeStates(states, { term: 2 });
      const version = backend.version;
      // A change the old leader would publish.
      appendFileSync(file, EXTRA);
      source.reload();
      await eventually(() => deposed === 1, 5000, 'the loop to learn it was deposed');
      await loop.idle();
      assert.deepEqual(refusals, ['stale-term']);
      assert.equal(backend.version, version, 'its table was refused');
      assert.deepEqual(backend.nodeStates, states, 'the newer term stands');
      // Later changes find it stopped.
      appendFileSync(file, EXTRA.replace('extra', 'extra-2').replace('81', '82').replace('30081', '30082'));
      source.reload();
      await loop.idle();
      assert.equal(backend.version, version);
      assert.equal(deposed, 1);
    } finally {
      await loop.stop();
      await newer.close();
      await close();
    }
  });

  it('writes nothing to the store from a pass in flight once its term has ended', async () => {
    const { backend, store, source, close } = setup('in-flight');
    const term = new AbortController();
    const inner = termPublisher(store, 1, term.signal);
    let reached: () => void = () => {};
    const publishing = new Promise<void>((resolve) => {
      reached = resolve;
    });
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The table write waits on the way (a slow link), long enough for the term to end under it.
    const publisher: TablePublisher = {
      ...inner,
      publish: async (table, opts) => {
        reached();
        await gate;
        await inner.publish(table, opts);
      },
    };
    const loop = new ControllerLoop({
      source,
      writer: new LogWriter(silentLogger()),
      publisher,
      logger: silentLogger(),
    });
    try {
      const started = loop.start();
      await publishing;
      term.abort();
      const stopped = loop.stop();
      release();
      await started;
      await stopped;
      assert.equal(backend.version, 0, 'no table');
      assert.equal(backend.nodeStates, null, 'no node states');
      assert.equal(backend.poolStatuses, null, 'no pool statuses');
    } finally {
      await loop.stop();
      await close();
    }
  });
});
