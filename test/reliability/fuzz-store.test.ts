/**
 * Fuzzing what a speaker reads from the store: listener values (any text, any JSON, valid documents
 * with a field replaced, a valid listener under the wrong key), announcements, and sequences of
 * publishes, garbage writes and garbage announcements seen by the table follower. Decoding must give
 * typed problems, never throw; a table with any bad listener is refused whole (never applied in
 * part) and the last good one stays; against a real redis-server, garbage in every key the speaker
 * reads leaves the subscriber on its last good table and it follows the next good publish.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { silentLogger } from '../../shared/log.ts';
import { type ForwardingTable, listenerKey } from '../../shared/model.ts';
import type { RedisStore } from '../../shared/store/redis-store.ts';
import { storeKeys } from '../../shared/store/store-keys.ts';
import { announcementText, parseAnnouncement } from '../../shared/store/table-announcement.ts';
import { decodeListener, decodeListeners } from '../../shared/store/table-codec.ts';
import {
  type StoredTable,
  TableFollower,
  type TableHead,
  type TableReader,
} from '../../shared/store/table-follower.ts';
import { parseTable } from '../../shared/table-parse.ts';
import { renderListener } from '../../shared/table-render.ts';
import { startRedis, type TestRedis } from '../harness/redis.ts';
import { EventQueue } from '../store/await-events.ts';
import { openRedisStore, rawClient, uniquePrefix } from '../store/redis-test-store.ts';
import { makeTable } from '../store/table-fixture.ts';
import { assertProblem, CASES, fuzzParameters, fuzzSeed } from './fuzz.ts';
import { report, scaled } from './scale.ts';

const seed = fuzzSeed('fuzz-store');
const GOOD = makeTable(3).listeners;
const GOOD_DOCS = GOOD.map((l) => [listenerKey(l), JSON.stringify(renderListener(l))] as const);

/** Text for a store value: valid, a valid document with one field replaced, any JSON, any text. */
const storedText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...GOOD_DOCS.map(([, t]) => t)),
  fc
    .record({
      base: fc.nat(GOOD.length - 1),
      field: fc.oneof(
        fc.constantFrom(...Object.keys(renderListener(GOOD[0]!))),
        fc.string({ maxLength: 10 }),
      ),
      value: fc.anything({ maxDepth: 2, withNullPrototype: true }),
    })
    .map(({ base, field, value }) => {
      const doc = renderListener(GOOD[base]!);
      Object.defineProperty(doc, field, { value, enumerable: true, writable: true, configurable: true });
      return JSON.stringify(doc) ?? 'null';
    }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.constantFrom(
    '',
    'null',
    '[]',
    '{}',
    '"x"',
    `${'['.repeat(50_000)}${']'.repeat(50_000)}`,
    '{"__proto__":{"a":1}}',
  ),
);
const storeKey = fc.oneof(fc.constantFrom(...GOOD_DOCS.map(([k]) => k)), fc.string({ maxLength: 30 }));

describe(`fuzz: store values as the speaker reads them (seed ${seed})`, {
  timeout: scaled(180_000, 3_600_000),
}, () => {
  it('decodeListener returns a listener stored under its own key or typed problems, never throws', () => {
    let accepted = 0;
    fc.assert(
      fc.property(storeKey, storedText, (key, text) => {
        const r = decodeListener(key, text, 'switchyard:table');
        if (r.ok) {
          accepted++;
          assert.equal(listenerKey(r.value), key);
          const again = parseTable({ listeners: [renderListener(r.value)] });
          assert.ok(again.ok);
          assert.deepEqual(again.value.listeners[0], r.value);
        } else {
          assert.ok(r.problems.length > 0);
          for (const p of r.problems) assertProblem(p, ['store.', 'table.']);
        }
      }),
      fuzzParameters(seed),
    );
    report('fuzz-store-coverage', { decodedOk: accepted });
    assert.ok(accepted > 0, 'valid values were exercised too');
  });

  it('decodeListeners refuses the whole set when any value is bad: never a partial table', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(storeKey, storedText), { maxLength: 4 }), async (extra) => {
        const entries = new Map<string, string>(GOOD_DOCS);
        for (const [k, t] of extra) entries.set(k, t);
        const r = await decodeListeners(entries, 'switchyard:table');
        const allGood = [...entries].every(([k, t]) => decodeListener(k, t, 's').ok);
        assert.equal(r.ok, allGood);
        if (r.ok) assert.equal(r.value.size, entries.size);
      }),
      fuzzParameters(seed, Math.ceil(CASES / 5)),
    );
  });

  it('parseAnnouncement never throws and returns only well-formed announcements', () => {
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 100 }),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      fc
        .record(
          {
            generation: fc.oneof(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 0 })),
            version: fc.oneof(fc.integer(), fc.double(), fc.jsonValue({ maxDepth: 0 })),
            full: fc.jsonValue({ maxDepth: 0 }),
            changed: fc.oneof(fc.array(fc.string({ maxLength: 8 })), fc.jsonValue({ maxDepth: 1 })),
            removed: fc.oneof(fc.array(fc.string({ maxLength: 8 })), fc.jsonValue({ maxDepth: 1 })),
          },
          { requiredKeys: [] },
        )
        .map((o) => JSON.stringify(o)),
    );
    fc.assert(
      fc.property(text, (t) => {
        const a = parseAnnouncement(t);
        if (a === null) return;
        assert.ok(a.generation !== '' && Number.isSafeInteger(a.version) && a.version >= 1);
        assert.deepEqual(parseAnnouncement(announcementText(a)), a);
      }),
      fuzzParameters(seed),
    );
  });

  it('the table follower applies only whole, valid tables through garbage writes and announcements', async () => {
    type Op =
      | { op: 'write'; key: string; text: string }
      | { op: 'remove'; key: string }
      | { op: 'announce-garbage'; text: string }
      | { op: 'full' };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ op: fc.constant('write' as const), key: storeKey, text: storedText }),
      fc.record({ op: fc.constant('remove' as const), key: storeKey }),
      fc.record({ op: fc.constant('announce-garbage' as const), text: fc.string({ maxLength: 40 }) }),
      fc.record({ op: fc.constant('full' as const) }),
    );
    let delivered = 0;
    let refusals = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 8 }), async (ops) => {
        const fields = new Map<string, string>(GOOD_DOCS);
        let head: TableHead = { generation: 'g1', version: 1 };
        /** The store's fields at every version, to check what the follower delivers. */
        const history = new Map<number, Map<string, string>>([[1, new Map(fields)]]);
        const reader: TableReader = {
          readHead: async () => head,
          readAll: async (): Promise<StoredTable> => ({ ...head, fields: [...fields] }),
          readSome: async (keys) => ({ ...head, values: keys.map((k) => fields.get(k) ?? null) }),
        };
        const tables: ForwardingTable[] = [];
        const follower = new TableFollower(
          reader,
          { onTable: (t) => tables.push(t), onRefused: () => refusals++ },
          { source: 'fuzz', logger: silentLogger(), resyncIntervalMs: 0, retryMs: 5 },
        );
        const settle = async () => {
          for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
        };
        follower.connected();
        await settle();
        for (const o of ops) {
          if (o.op === 'announce-garbage') follower.announced(o.text);
          else if (o.op === 'full') follower.announced(announcementText({ kind: 'full', ...head }));
          else {
            if (o.op === 'write') fields.set(o.key, o.text);
            else fields.delete(o.key);
            head = { generation: 'g1', version: head.version + 1 };
            history.set(head.version, new Map(fields));
            follower.announced(
              announcementText({
                kind: 'delta',
                ...head,
                changed: o.op === 'write' ? [o.key] : [],
                removed: o.op === 'remove' ? [o.key] : [],
              }),
            );
          }
          await settle();
        }
        // Repair: a whole good table as the next version; the follower must reach it.
        fields.clear();
        for (const [k, t] of GOOD_DOCS) fields.set(k, t);
        head = { generation: 'g1', version: head.version + 1 };
        history.set(head.version, new Map(fields));
        follower.announced(announcementText({ kind: 'full', ...head }));
        for (let i = 0; i < 200 && tables.at(-1)?.version !== head.version; i++) await settle();
        await follower.close();
        for (const t of tables) {
          const stored = history.get(t.version)!;
          assert.ok(
            [...stored].every(([k, text]) => decodeListener(k, text, 's').ok),
            'a delivered version held no bad value',
          );
          assert.deepEqual(
            t.listeners.map(listenerKey).sort(),
            [...stored.keys()].sort(),
            `version ${t.version} delivered whole`,
          );
        }
        assert.equal(tables.at(-1)?.version, head.version, 'the follower reached the repaired table');
        delivered += tables.length;
      }),
      fuzzParameters(seed, Math.ceil(CASES / 20)),
    );
    report('fuzz-store-follower', { tablesDelivered: delivered, refusals });
    assert.ok(refusals > 0, 'refusals were exercised');
  });
});

describe('garbage in every key a speaker reads, on a real redis-server', {
  timeout: scaled(120_000, 1_800_000),
}, () => {
  let redis: TestRedis;
  let raw: Redis;
  const stores: RedisStore[] = [];
  before(async () => {
    redis = await startRedis();
    raw = rawClient(redis);
  });
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    raw?.disconnect();
    await redis?.stop();
  });

  it('the subscriber keeps its last good table through every kind of garbage and follows the next good publish', async () => {
    const prefix = uniquePrefix();
    const keys = storeKeys(prefix);
    const pub = openRedisStore(redis, prefix);
    const sub = openRedisStore(redis, prefix);
    stores.push(pub, sub);
    const good = makeTable(4);
    await pub.publishTable(good);
    const tables = new EventQueue<ForwardingTable>();
    const received: ForwardingTable[] = [];
    const subscription = sub.subscribeTable(
      {
        onTable: (t) => {
          received.push(t);
          tables.push(t);
        },
      },
      { resyncIntervalMs: 200 },
    );
    await tables.next((t) => t.version === 1);
    const goodKeys = good.listeners.map(listenerKey).sort();
    const kinds = [
      'field',
      'new-field',
      'version',
      'generation',
      'table-type',
      'announce',
      'node-states',
      'speaker',
    ] as const;
    const garbage = fc.sample(storedText, { seed, numRuns: scaled(40, 1000) });
    const outcomes = new Map<string, number>();
    for (const [i, text] of garbage.entries()) {
      const kind = kinds[i % kinds.length]!;
      const field = listenerKey(good.listeners[i % good.listeners.length]!);
      if (kind === 'field') await raw.multi().hset(keys.table, field, text).incr(keys.tableVersion).exec();
      else if (kind === 'new-field')
        await raw.multi().hset(keys.table, `x${i}`, text).incr(keys.tableVersion).exec();
      else if (kind === 'version') await raw.set(keys.tableVersion, text);
      else if (kind === 'generation') await raw.set(keys.tableGeneration, text);
      else if (kind === 'table-type')
        await raw
          .multi()
          .del(keys.table)
          .lpush(keys.table, text || 'x')
          .exec();
      else if (kind === 'announce') await raw.publish(keys.tableChannel, text);
      else if (kind === 'node-states') await raw.set(keys.nodeStates, text);
      else await raw.multi().sadd(keys.speakers, 'n1').hset(keys.speaker('n1'), 'node', text).exec();
      // Every read a speaker makes answers with data, typed problems, or (garbage in the head
      // keys, a wrong type) a rejection that the follower treats like an unreachable store.
      const load = await sub.loadTable().then(
        (l) => l.state,
        () => 'rejected',
      );
      outcomes.set(`${kind}:${load}`, (outcomes.get(`${kind}:${load}`) ?? 0) + 1);
      await sub.nodeStates();
      await sub.listSpeakers();
      // Repair with a whole good publish; the subscriber must follow it.
      await raw.del(
        keys.table,
        keys.tableVersion,
        keys.tableGeneration,
        keys.nodeStates,
        keys.speakers,
        keys.speaker('n1'),
      );
      const published = await pub.publishTable(good);
      await tables.next(
        (t) => t.version === published.version && subscription.version === published.version,
        10_000,
        `the good table after ${kind} garbage`,
      );
    }
    report('fuzz-store-redis', {
      cases: garbage.length,
      delivered: received.length,
      outcomes: [...outcomes].map(([k, v]) => `${k}=${v}`).join(','),
    });
    for (const t of received)
      assert.deepEqual(t.listeners.map(listenerKey).sort(), goodKeys, 'only whole good tables');
  });
});
