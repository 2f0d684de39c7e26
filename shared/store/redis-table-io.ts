/**
 * The forwarding table on Redis: consistent reads (paged between two head reads, or one MULTI) and
 * atomic writes (staged full table renamed into place, or a version-checked delta), each write
 * fenced by the writer's controller term and announcing itself from inside its script. docs/store.md describes the protocol.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ScriptRunner } from './redis-scripts.ts';
import { execResults } from './redis-transaction.ts';
import type { StoreKeys } from './store-keys.ts';
import { announcementText } from './table-announcement.ts';
import type { StoredFields, StoredTable, TableHead, TableReader } from './table-follower.ts';
import type { FullTableWrite, TableWrite, TableWriter } from './table-publisher.ts';

/** Listener fields per HSET while a full table is staged; each chunk is one round trip. */
const STAGING_CHUNK = 500;
/** A staging hash left behind by a publisher that died mid-publish disappears after this. */
const STAGING_TTL_MS = 60_000;
/** Listener fields asked for per HSCAN page when reading the whole table. */
const SCAN_PAGE = 500;
/** Bounds one paged read (10^4 pages is 5 million listeners). */
const MAX_SCAN_PAGES = 10_000;
/** Paged reads that may be spoiled by concurrent publishes before reading atomically instead. */
const SCAN_ATTEMPTS = 3;

function headOf(generation: unknown, version: unknown, term: unknown, source: string): TableHead | null {
  if (version === null || generation === null) return null;
  const v = Number(version);
  if (typeof generation !== 'string' || !Number.isSafeInteger(v) || v < 1) {
    throw new Error(`${source}: the version or generation key does not hold a table head`);
  }
  // A table written before terms existed has no term key: term 0, below any controller's.
  const t = term === null ? 0 : Number(term);
  return { generation, version: v, term: Number.isSafeInteger(t) && t >= 0 ? t : 0 };
}

/** Table reads and writes on `cmd` under `k`; `runScript` calls the scripts of redis-scripts.ts. */
export function redisTableIo(cmd: Redis, k: StoreKeys, runScript: ScriptRunner): TableReader & TableWriter {
  const readHead = async (): Promise<TableHead | null> => {
    const [gen, ver, term] = execResults(
      await cmd.multi().get(k.tableGeneration).get(k.tableVersion).get(k.tableTerm).exec(),
    );
    return headOf(gen, ver, term, k.tableVersion);
  };
  const readAllAtOnce = async (): Promise<StoredTable | null> => {
    const [gen, ver, term, fields] = execResults(
      await cmd.multi().get(k.tableGeneration).get(k.tableVersion).get(k.tableTerm).hgetall(k.table).exec(),
    );
    const head = headOf(gen, ver, term, k.tableVersion);
    return head && { ...head, fields: Object.entries(fields as Record<string, string>) };
  };
  // One HGETALL of a big table is one big reply parsed in one go, stalling the event loop; reading
  // it in HSCAN pages between two head reads is as consistent, because every change bumps the version.
  const readAll = async (): Promise<StoredTable | null> => {
    for (let attempt = 0; attempt < SCAN_ATTEMPTS; attempt++) {
      const before = await readHead();
      if (before === null) return null;
      const fields = new Map<string, string>();
      let cursor = '0';
      for (let page = 0; page < MAX_SCAN_PAGES; page++) {
        const [next, flat] = await cmd.hscan(k.table, cursor, 'COUNT', SCAN_PAGE);
        for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i]!, flat[i + 1]!);
        cursor = next;
        if (cursor === '0') break;
      }
      const after = await readHead();
      if (
        cursor === '0' &&
        after?.generation === before.generation &&
        after.version === before.version &&
        after.term === before.term
      ) {
        return { ...before, fields };
      }
    }
    // Publishes kept landing during the scan: fall back to one atomic read.
    return readAllAtOnce();
  };
  const readSome = async (keys: readonly string[]): Promise<StoredFields | null> => {
    let tx = cmd.multi().get(k.tableGeneration).get(k.tableVersion).get(k.tableTerm);
    if (keys.length > 0) tx = tx.hmget(k.table, ...keys);
    const [gen, ver, term, values] = execResults(await tx.exec());
    const head = headOf(gen, ver, term, k.tableVersion);
    return head && { ...head, values: keys.length > 0 ? (values as (string | null)[]) : [] };
  };
  const writeFull = async (
    fields: ReadonlyMap<string, string>,
    newGeneration: string,
    write: FullTableWrite,
  ): Promise<TableHead> => {
    const staging = k.tableStaging(randomBytes(6).toString('hex'));
    try {
      let chunk: string[] = [];
      const flush = async (): Promise<void> => {
        execResults(
          await cmd
            .multi()
            .hset(staging, ...chunk)
            .pexpire(staging, STAGING_TTL_MS)
            .exec(),
        );
        chunk = [];
      };
      for (const [key, value] of fields) {
        chunk.push(key, value);
        if (chunk.length >= STAGING_CHUNK * 2) await flush();
      }
      if (chunk.length > 0) await flush();
      // The staging hash is nobody's table yet; the commit is the write that must not outlive the term.
      write.signal?.throwIfAborted();
      const reply = (await runScript('syCommitFullTable', [
        staging,
        k.table,
        k.tableVersion,
        k.tableGeneration,
        k.tableTerm,
        k.controllerTerm,
        fields.size,
        newGeneration,
        k.tableChannel,
        write.term,
        write.minVersion,
        write.minGeneration,
      ])) as [string, number];
      return { generation: String(reply[0]), version: Number(reply[1]), term: write.term };
    } finally {
      // After a commit the staging key is gone already; after a failure this removes the partial copy.
      await cmd.del(staging).catch(() => undefined);
    }
  };
  const writeDelta = async (
    base: TableHead,
    changed: ReadonlyMap<string, string>,
    removed: readonly string[],
    write: TableWrite,
  ): Promise<TableHead | null> => {
    const next = { generation: base.generation, version: base.version + 1, term: write.term };
    const message = announcementText({ kind: 'delta', ...next, changed: [...changed.keys()], removed });
    const args: (string | number)[] = [
      k.table,
      k.tableVersion,
      k.tableGeneration,
      k.tableTerm,
      k.controllerTerm,
      base.generation,
      String(base.version),
      k.tableChannel,
      message,
      changed.size,
      write.term,
    ];
    for (const [key, value] of changed) args.push(key, value);
    args.push(...removed);
    write.signal?.throwIfAborted();
    const applied = await runScript('syCommitDeltaTable', args);
    return Number(applied) === 1 ? next : null;
  };
  return { readHead, readAll, readSome, writeFull, writeDelta };
}
