/**
 * System errors that say this process ran out of something (descriptors, local ports, buffer or
 * kernel memory), not that the peer is at fault. A connect to a backend or a health probe failing
 * with one says nothing about the backend: blaming it would eject every healthy backend while the
 * speaker is exhausted and keep them out after it recovers.
 */
const LOCAL_ERROR_CODES: ReadonlySet<string> = new Set([
  'EMFILE',
  'ENFILE',
  'EADDRNOTAVAIL',
  'ENOBUFS',
  'ENOMEM',
]);

/** Whether `code` (a system error name such as `EMFILE`) is a shortage of this process's own. */
export function isLocalErrorCode(code: string): boolean {
  return LOCAL_ERROR_CODES.has(code);
}
