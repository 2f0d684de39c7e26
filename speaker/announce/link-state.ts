/**
 * Whether the client-facing interface can carry traffic, read from the kernel's operational state
 * (`/sys/class/net/<if>/operstate`). A speaker whose link is down may still reach the store another
 * way and renew its leases, black-holing its VIPs: the cluster speaker gives them up instead, as
 * keepalived's `track_interface` does. Reading one small sysfs file is cheap enough for every
 * keep-alive tick.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from '../../shared/log.ts';

/** Operational states in which a link carries traffic; `unknown` is what many virtual links report. */
const UP_STATES = new Set(['up', 'unknown']);

/** The link's operational state, or null when it cannot be read. */
export function readOperState(iface: string, sysfs = '/sys/class/net'): string | null {
  try {
    return readFileSync(`${sysfs}/${iface}/operstate`, 'utf8').trim();
  } catch {
    return null;
  }
}

/**
 * A check of `iface`'s link, or null (with a warning) when its state cannot be read at start, so a
 * system without sysfs is not taken for one whose link is down. An interface that disappears later
 * reads as down.
 */
export function linkWatch(iface: string, logger: Logger, sysfs = '/sys/class/net'): (() => boolean) | null {
  if (readOperState(iface, sysfs) === null) {
    logger.warn(
      { event: 'link-watch-off', interface: iface },
      `cannot read ${sysfs}/${iface}/operstate; the link state is not watched`,
    );
    return null;
  }
  return () => UP_STATES.has(readOperState(iface, sysfs) ?? 'down');
}
