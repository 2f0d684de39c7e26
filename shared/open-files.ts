/**
 * The open-file (descriptor) limits of a Linux process, as `/proc/<pid>/limits` states them. Used
 * by the speaker (its default connection cap), the benchmark and the reliability tests (how many
 * connections a machine can hold).
 */
import { readFileSync } from 'node:fs';

/** Soft and hard RLIMIT_NOFILE; null where unlimited or not stated. */
export interface OpenFileLimits {
  readonly soft: number | null;
  readonly hard: number | null;
}

const UNKNOWN: OpenFileLimits = { soft: null, hard: null };

/** Parse the "Max open files" line of a `/proc/<pid>/limits` text. */
export function parseOpenFileLimits(limitsText: string): OpenFileLimits {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limitsText);
  if (m === null) return UNKNOWN;
  const value = (raw: string | undefined) => {
    const n = Number(raw);
    return Number.isSafeInteger(n) && n > 0 ? n : null;
  };
  return { soft: value(m[1]), hard: value(m[2]) };
}

/** This process's limits; unknown (nulls) where /proc cannot be read (not Linux, no /proc). */
export function readOpenFileLimits(): OpenFileLimits {
  try {
    return parseOpenFileLimits(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return UNKNOWN;
  }
}
