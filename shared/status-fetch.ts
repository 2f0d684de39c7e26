/**
 * Asking a speaker (or `switchyard run`) for its status report over HTTP, bounded in time. A refusal,
 * a timeout or something that is not a report is a value saying why, never an exception or a hang.
 */
import { isStatusReport, type StatusReport } from './status-model.ts';

/** How long one status request may take. */
export const STATUS_TIMEOUT_MS = 1000;

/** A report, or why there is none. */
export type StatusAnswer =
  | { readonly ok: true; readonly report: StatusReport }
  | {
      readonly ok: false;
      /** `refused`: nothing listens there; `timeout`; `bad-answer`: something else answered. */
      readonly why: 'refused' | 'timeout' | 'bad-answer' | 'unreachable';
      readonly detail: string;
    };

function causeCode(err: unknown): string | undefined {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  // fetch wraps the socket error; a refused port (or a port fetch itself blocks) is said in the cause.
  if (typeof cause?.code === 'string') return cause.code;
  return typeof cause?.message === 'string' ? cause.message : undefined;
}

/** `GET url` and expect a status report, within `timeoutMs`. */
export async function fetchStatus(url: string, timeoutMs: number = STATUS_TIMEOUT_MS): Promise<StatusAnswer> {
  let res: Response;
  try {
    res = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      headers: { accept: 'application/json' },
    });
  } catch (err) {
    const name = (err as { name?: unknown } | null)?.name;
    if (name === 'TimeoutError' || name === 'AbortError')
      return { ok: false, why: 'timeout', detail: `no answer within ${timeoutMs} ms` };
    const code = causeCode(err);
    if (code === 'ECONNREFUSED') return { ok: false, why: 'refused', detail: 'connection refused' };
    return {
      ok: false,
      why: 'unreachable',
      detail: code ?? (err instanceof Error ? err.message : String(err)),
    };
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok || !isStatusReport(body)) {
    const said = (body as { error?: unknown } | null)?.error;
    return {
      ok: false,
      why: 'bad-answer',
      detail: `HTTP ${res.status}${typeof said === 'string' ? ` (${said})` : ''}, not a Switchyard status report`,
    };
  }
  return { ok: true, report: body };
}

/** `http://host:port` (or a full URL) to the status URL: `/status` is added when no path is given. */
export function statusUrlOf(base: string): string | null {
  let u: URL;
  try {
    u = new URL(base);
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/status';
  return u.toString();
}
