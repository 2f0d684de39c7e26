/**
 * A follower refuses a table older than the one it holds: a lower version of the same generation
 * is taken only when a newer controller term wrote it (docs/store.md, "Following the table"). The
 * store is scripted (a TableReader over plain data), so each case sets exactly the head it offers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../shared/log.ts';
import type { ForwardingTable } from '../../shared/model.ts';
import { listenerKey } from '../../shared/model.ts';
import { announcementText } from '../../shared/store/table-announcement.ts';
import { encodeListeners } from '../../shared/store/table-codec.ts';
import {
  type StoredTable,
  supersedes,
  TableFollower,
  type TableHead,
  type TableReader,
} from '../../shared/store/table-follower.ts';
import { EventQueue, eventually } from './await-events.ts';
import { makeTable } from './table-fixture.ts';

/** A store whose head and listeners the test sets directly. */
class ScriptedStore implements TableReader {
  head: TableHead = { generation: 'g1', version: 1, term: 1 };
  fields = new Map<string, string>();
  reads = 0;

  async set(head: TableHead, table: ForwardingTable): Promise<void> {
    this.head = head;
    this.fields = await encodeListeners(table.listeners);
  }

  async readHead(): Promise<TableHead> {
    return this.head;
  }

  async readAll(): Promise<StoredTable> {
    this.reads++;
    return { ...this.head, fields: [...this.fields] };
  }

  async readSome(keys: readonly string[]) {
    return { ...this.head, values: keys.map((k) => this.fields.get(k) ?? null) };
  }
}

function follow(store: ScriptedStore) {
  const tables = new EventQueue<ForwardingTable>();
  const follower = new TableFollower(
    store,
    { onTable: (t) => tables.push(t) },
    { source: 'scripted', logger: silentLogger(), resyncIntervalMs: 0, retryMs: 10 },
  );
  return { follower, tables };
}

const keys = (t: ForwardingTable): string[] => t.listeners.map(listenerKey).sort();

describe('a table follower and the terms of the tables it is offered', { timeout: 10_000 }, () => {
  it('orders heads: another generation, a higher version or a newer term supersede; nothing else does', () => {
    const held = { generation: 'g', version: 10, term: 3 };
    assert.equal(supersedes({ generation: 'h', version: 1, term: 0 }, held), true);
    assert.equal(supersedes({ generation: 'g', version: 11, term: 3 }, held), true);
    assert.equal(supersedes({ generation: 'g', version: 4, term: 4 }, held), true);
    assert.equal(supersedes({ generation: 'g', version: 9, term: 3 }, held), false);
    assert.equal(supersedes({ generation: 'g', version: 9, term: 2 }, held), false);
    assert.equal(supersedes({ generation: 'g', version: 10, term: 3 }, held), false);
    assert.equal(supersedes({ generation: 'g', version: 9 }, held), false, 'no term reads as 0');
  });

  it('refuses a whole load of a lower version of the same generation written under an older or equal term, keeping the table held', async () => {
    const store = new ScriptedStore();
    const held = makeTable(3);
    await store.set({ generation: 'g1', version: 10, term: 4 }, held);
    const { follower, tables } = follow(store);
    try {
      follower.connected();
      await tables.next((t) => t.version === 10);
      for (const [i, term] of [4, 3].entries()) {
        // A Redis that failed over to a replica missing the last publishes: version 8 of the same history.
        await store.set({ generation: 'g1', version: 8, term }, makeTable(1, 50));
        follower.connected();
        await eventually(() => follower.stats.olderRefused === i + 1, 5000, `the reload under term ${term}`);
        assert.equal(follower.version, 10, `term ${term}: the held version stays`);
      }
      assert.equal(tables.pending().length, 0, 'no older table was delivered');
      assert.deepEqual(follower.stats.fullLoads, 3);
    } finally {
      await follower.close();
    }
  });

  it('takes a lower version of the same generation when a newer term wrote it', async () => {
    const store = new ScriptedStore();
    await store.set({ generation: 'g1', version: 10, term: 4 }, makeTable(3));
    const { follower, tables } = follow(store);
    try {
      follower.connected();
      await tables.next((t) => t.version === 10);
      const next = makeTable(2, 20);
      await store.set({ generation: 'g1', version: 8, term: 5 }, next);
      follower.connected();
      const got = await tables.next((t) => t.version === 8, 5000, 'the newer term table');
      assert.deepEqual(keys(got), keys(next));
      assert.equal(follower.stats.olderRefused, 0);
    } finally {
      await follower.close();
    }
  });

  it('ignores an announcement of a lower version with an older or equal term, and reloads for one with a newer term', async () => {
    const store = new ScriptedStore();
    await store.set({ generation: 'g1', version: 10, term: 4 }, makeTable(3));
    const { follower, tables } = follow(store);
    try {
      follower.connected();
      await tables.next((t) => t.version === 10);
      const reads = store.reads;
      follower.announced(announcementText({ kind: 'full', generation: 'g1', version: 9, term: 4 }));
      follower.announced(announcementText({ kind: 'full', generation: 'g1', version: 7, term: 2 }));
      follower.announced(
        announcementText({ kind: 'delta', generation: 'g1', version: 9, term: 3, changed: [], removed: [] }),
      );
      const next = makeTable(4, 30);
      await store.set({ generation: 'g1', version: 9, term: 5 }, next);
      follower.announced(announcementText({ kind: 'full', generation: 'g1', version: 9, term: 5 }));
      const got = await tables.next((t) => t.version === 9, 5000, 'the newer term table');
      assert.deepEqual(keys(got), keys(next));
      assert.equal(store.reads, reads + 1, 'only the newer term announcement was read');
    } finally {
      await follower.close();
    }
  });
});
