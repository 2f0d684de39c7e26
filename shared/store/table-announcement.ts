/**
 * The message published on the table channel after every publish. It carries no listener data, only
 * which version exists now, the controller term that wrote it and, for a small change, which
 * listener keys to read; a subscriber that cannot apply it exactly (gap, other generation,
 * unreadable message) reloads the whole table.
 */

/** A table announcement. `term` is absent in messages from a writer without one (read as 0). */
export type Announcement =
  /** The whole table was rewritten: reload it. */
  | {
      readonly kind: 'full';
      readonly generation: string;
      readonly version: number;
      readonly term?: number;
    }
  /** Version `version` is version − 1 with `changed` keys written and `removed` keys deleted. */
  | {
      readonly kind: 'delta';
      readonly generation: string;
      readonly version: number;
      readonly term?: number;
      readonly changed: readonly string[];
      readonly removed: readonly string[];
    };

/**
 * The wire text: `{"generation","version","term","full":true}` or
 * `{"generation","version","term","changed","removed"}` (`term` only when the announcement has one).
 */
export function announcementText(a: Announcement): string {
  const head = {
    generation: a.generation,
    version: a.version,
    ...(a.term !== undefined ? { term: a.term } : {}),
  };
  return a.kind === 'full'
    ? JSON.stringify({ ...head, full: true })
    : JSON.stringify({ ...head, changed: a.changed, removed: a.removed });
}

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

/** Parse an announcement; null when the text is not one (the subscriber then reloads everything). */
export function parseAnnouncement(text: string): Announcement | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof doc !== 'object' || doc === null) return null;
  const o = doc as Record<string, unknown>;
  const generation = o['generation'];
  const version = o['version'];
  const term = o['term'];
  if (typeof generation !== 'string' || generation === '') return null;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) return null;
  if (term !== undefined && (typeof term !== 'number' || !Number.isSafeInteger(term) || term < 0))
    return null;
  const head = { generation, version, ...(term !== undefined ? { term } : {}) };
  if (o['full'] === true) return { kind: 'full', ...head };
  const changed = o['changed'];
  const removed = o['removed'];
  if (!isStringList(changed) || !isStringList(removed)) return null;
  return { kind: 'delta', ...head, changed, removed };
}
