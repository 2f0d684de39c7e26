/**
 * Every key and channel name the store uses, derived from one prefix. docs/store.md describes each
 * one (type, TTL, writer); a key not named here does not exist.
 */
import { DEFAULT_KEY_PREFIX } from './store.ts';

/** Key names for one prefix. */
export interface StoreKeys {
  readonly prefix: string;
  /** Hash: listener key (`vip:port/TCP`) → listener JSON. */
  readonly table: string;
  /** String: the table's version, an integer incremented by every publish. */
  readonly tableVersion: string;
  /** String: random id of the table's history, set when the version key is created. */
  readonly tableGeneration: string;
  /** String: the controller term that wrote the table's current version. */
  readonly tableTerm: string;
  /** Pub/sub channel of table announcements. */
  readonly tableChannel: string;
  /** Hash with a short TTL that a full publish fills before renaming it onto `table`. */
  tableStaging(token: string): string;
  /** Set: node names that have heartbeated (an index; the per-speaker keys carry the TTL). */
  readonly speakers: string;
  /** Hash with TTL: one speaker's registration. */
  speaker(node: string): string;
  /** Hash: node name → node-state JSON, written by the controller. */
  readonly nodeStates: string;
  /** String: JSON array of pool statuses, written by the controller. */
  readonly pools: string;
  /** Hash with TTL: the lease of one VIP (holder, token, epoch). */
  lease(vip: string): string;
  /** String, no TTL: the last epoch granted for one VIP. */
  leaseEpoch(vip: string): string;
  /**
   * Hash with TTL (lease TTL + one TTL): a copy of one VIP's lease with its expiry (`until`, in
   * Redis' clock), so a lease key lost under a live holder still refuses others until then.
   */
  leaseGuard(vip: string): string;
  /**
   * String, no TTL: the highest controller term the store has accepted; every controller write
   * checks it and refuses a lower term.
   */
  readonly controllerTerm: string;
  /** String, no TTL: random marker created when missing; with the server's run_id, the store's incarnation. */
  readonly incarnation: string;
}

/** Whether `prefix` is usable: 1-64 characters of letters, digits, `_ . : -`. */
export function isValidKeyPrefix(prefix: string): boolean {
  return /^[A-Za-z0-9_.:-]{1,64}$/.test(prefix);
}

/** The key names under `prefix`. */
export function storeKeys(prefix: string = DEFAULT_KEY_PREFIX): StoreKeys {
  return {
    prefix,
    table: `${prefix}table`,
    tableVersion: `${prefix}table:version`,
    tableGeneration: `${prefix}table:generation`,
    tableTerm: `${prefix}table:term`,
    tableChannel: `${prefix}table:announce`,
    tableStaging: (token) => `${prefix}table:staging:${token}`,
    speakers: `${prefix}speakers`,
    speaker: (node) => `${prefix}speaker:${node}`,
    nodeStates: `${prefix}node-states`,
    pools: `${prefix}pools`,
    // The braces are a Redis Cluster hash tag: a VIP's lease, epoch and guard keys share a slot, so
    // one script may touch all three if the store ever runs on a cluster.
    lease: (vip) => `${prefix}lease:{${vip}}`,
    leaseEpoch: (vip) => `${prefix}lease-epoch:{${vip}}`,
    leaseGuard: (vip) => `${prefix}lease-guard:{${vip}}`,
    controllerTerm: `${prefix}controller-term`,
    incarnation: `${prefix}incarnation`,
  };
}
