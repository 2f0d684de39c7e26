/**
 * The REST verbs of the fake API server over its object store: GET, LIST (selectors, limit and
 * continue), WATCH, POST, PUT, PATCH (JSON, merge and strategic-merge) and DELETE, each answering
 * with the object or with a `Status` exactly where a real API server would.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as status from './api-status.ts';
import type { KubeObject, ObjectStore } from './object-store.ts';
import { applyPatch, type Json } from './patch.ts';
import { apiVersionOf, type ResourceType } from './resources.ts';
import { parseFieldSelector, parseLabelSelector } from './selector.ts';
import { WatchStream } from './watch-stream.ts';

/** The verbs counted by the server, as Kubernetes audit logs name them. */
export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

/** A request routed to one resource. */
export interface ResourceRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly verb: Verb;
  readonly resource: ResourceType;
  readonly namespace: string | null;
  readonly name: string | null;
  readonly subresource: 'status' | null;
  readonly query: URLSearchParams;
  /** Parsed JSON body (null when there is none). */
  readonly body: Json;
}

/** What the handler needs from the server around it. */
export interface RestContext {
  readonly store: ObjectStore;
  readonly bookmarkIntervalMs: number;
  /** Register a new watch so the server can cut it on demand. */
  readonly trackWatch: (w: WatchStream) => void;
}

/** A complete JSON answer; watches stream instead and answer null. */
export interface Reply {
  readonly code: number;
  readonly body: unknown;
}

/** Answer with JSON and the status code. */
export function sendJson(res: ServerResponse, reply: Reply): void {
  const text = JSON.stringify(reply.body);
  res.writeHead(reply.code, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** The reply carrying a `Status` (its code is the HTTP code). */
export function fail(s: status.ApiStatus): Reply {
  return { code: s.code, body: s };
}

function ok(code: number, body: unknown): Reply {
  return { code, body };
}

/** The verb a request means, from its method and whether it names an object; null if none fits. */
export function verbOf(method: string, hasName: boolean, query: URLSearchParams): Verb | null {
  const watch = query.get('watch');
  if (method === 'GET') {
    if (watch === 'true' || watch === '1') return hasName ? null : 'watch';
    return hasName ? 'get' : 'list';
  }
  if (method === 'POST') return hasName ? null : 'create';
  if (!hasName) return null;
  if (method === 'PUT') return 'update';
  if (method === 'PATCH') return 'patch';
  if (method === 'DELETE') return 'delete';
  return null;
}

function isObject(v: Json): v is KubeObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && typeof v.metadata === 'object';
}

function objectBody(r: ResourceRequest): KubeObject | status.ApiStatus {
  const b = r.body;
  if (typeof b !== 'object' || b === null || Array.isArray(b))
    return status.badRequest('the request body must be an object');
  const obj: KubeObject = isObject(b) ? b : { ...b, metadata: {} };
  const want = apiVersionOf(r.resource);
  if (
    (obj.apiVersion !== undefined && obj.apiVersion !== want) ||
    (obj.kind !== undefined && obj.kind !== r.resource.kind)
  ) {
    return status.badRequest(
      `the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${want})`,
    );
  }
  return obj;
}

function isStatus(v: KubeObject | status.ApiStatus): v is status.ApiStatus {
  return (v as { kind?: unknown }).kind === 'Status';
}

/** Continue tokens are an offset into the sorted list; good enough for paging tests, not a snapshot. */
function encodeContinue(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString('base64url');
}

function decodeContinue(token: string): number | null {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString()) as { offset?: unknown };
    return typeof v.offset === 'number' && v.offset >= 0 ? v.offset : null;
  } catch {
    return null;
  }
}

function list(ctx: RestContext, r: ResourceRequest): Reply {
  const labels = parseLabelSelector(r.query.get('labelSelector'));
  const fields = parseFieldSelector(r.query.get('fieldSelector'));
  if (!labels.ok) return fail(status.badRequest(labels.message));
  if (!fields.ok) return fail(status.badRequest(fields.message));
  const all = ctx.store.list(r.resource, r.namespace).filter((o) => labels.match(o) && fields.match(o));
  const token = r.query.get('continue');
  const offset = token ? decodeContinue(token) : 0;
  if (offset === null) return fail(status.badRequest('invalid continue token'));
  const limit = Number(r.query.get('limit') ?? 0);
  const end = limit > 0 ? offset + limit : all.length;
  const items = all.slice(offset, end);
  const metadata: Record<string, unknown> = { resourceVersion: String(ctx.store.resourceVersion) };
  if (end < all.length) {
    metadata.continue = encodeContinue(end);
    metadata.remainingItemCount = all.length - end;
  }
  return ok(200, {
    kind: `${r.resource.kind}List`,
    apiVersion: apiVersionOf(r.resource),
    metadata,
    items,
  });
}

function watch(ctx: RestContext, r: ResourceRequest): Reply | null {
  const labels = parseLabelSelector(r.query.get('labelSelector'));
  const fields = parseFieldSelector(r.query.get('fieldSelector'));
  if (!labels.ok) return fail(status.badRequest(labels.message));
  if (!fields.ok) return fail(status.badRequest(fields.message));
  const rvText = r.query.get('resourceVersion') ?? '';
  const fromRv = rvText === '' || rvText === '0' ? null : Number(rvText);
  if (fromRv !== null && !Number.isSafeInteger(fromRv)) {
    return fail(status.badRequest(`invalid resourceVersion: ${JSON.stringify(rvText)}`));
  }
  const timeoutS = Number(r.query.get('timeoutSeconds') ?? 0);
  const bookmarks = r.query.get('allowWatchBookmarks') === 'true';
  const stream = new WatchStream(
    r.res,
    { resource: r.resource, namespace: r.namespace, labels: labels.match, fields: fields.match },
    {
      timeoutMs: Number.isFinite(timeoutS) && timeoutS > 0 ? timeoutS * 1000 : 0,
      bookmarkIntervalMs: bookmarks ? ctx.bookmarkIntervalMs : 0,
      currentRv: () => ctx.store.resourceVersion,
    },
  );
  ctx.trackWatch(stream);
  // Replay and subscribe in the same tick, so no change falls between them.
  if (fromRv === null) {
    stream.sendInitial(ctx.store.list(r.resource, r.namespace));
  } else {
    const history = ctx.store.historySince(fromRv, rvText);
    if (!history.ok) {
      stream.fail(history.status);
      return null;
    }
    for (const e of history.events) stream.send(e);
  }
  const unsubscribe = ctx.store.subscribe((e) => stream.send(e));
  stream.onClose(unsubscribe);
  return null;
}

function patch(ctx: RestContext, r: ResourceRequest, name: string): Reply {
  const current = ctx.store.get(r.resource, r.namespace, name);
  const target = { plural: r.resource.plural, group: r.resource.group, name };
  if (!current) return fail(status.notFound(target));
  const contentType = (r.req.headers['content-type'] ?? '').split(';')[0]!.trim();
  const outcome = applyPatch(contentType, current, r.body);
  if (outcome === null) return fail(status.unsupportedMediaType(contentType));
  if (!outcome.ok) return fail(status.invalid(outcome.message, target));
  if (!isObject(outcome.value)) return fail(status.invalid('the patched object has no metadata', target));
  const result = ctx.store.update(r.resource, r.namespace, name, outcome.value, r.subresource);
  if (!result.ok) return fail(result.status);
  return ok(200, result.value);
}

function remove(ctx: RestContext, r: ResourceRequest, name: string): Reply {
  const opts = (typeof r.body === 'object' && r.body !== null && !Array.isArray(r.body) ? r.body : {}) as {
    preconditions?: { uid?: string; resourceVersion?: string };
  };
  const result = ctx.store.delete(r.resource, r.namespace, name, opts.preconditions ?? {});
  if (!result.ok) return fail(result.status);
  const uid = result.value.metadata.uid;
  return ok(
    200,
    status.deleted(
      { plural: r.resource.plural, group: r.resource.group, name },
      typeof uid === 'string' ? uid : '',
    ),
  );
}

/** Serve one request routed to a resource: the reply, or null when a watch took over the response. */
export function handleResource(ctx: RestContext, r: ResourceRequest): Reply | null {
  const { store } = ctx;
  const name = r.name;
  switch (r.verb) {
    case 'list':
      return list(ctx, r);
    case 'watch':
      return watch(ctx, r);
    case 'get': {
      const obj = name === null ? undefined : store.get(r.resource, r.namespace, name);
      if (!obj) {
        return fail(
          status.notFound({ plural: r.resource.plural, group: r.resource.group, name: name ?? '' }),
        );
      }
      return ok(200, obj);
    }
    case 'create': {
      if (r.subresource) return fail(status.methodNotAllowed('POST', r.req.url ?? ''));
      const obj = objectBody(r);
      if (isStatus(obj)) return fail(obj);
      const result = store.create(r.resource, r.namespace, obj);
      return result.ok ? ok(201, result.value) : fail(result.status);
    }
    case 'update': {
      const obj = objectBody(r);
      if (isStatus(obj)) return fail(obj);
      const result = store.update(r.resource, r.namespace, name!, obj, r.subresource);
      return result.ok ? ok(200, result.value) : fail(result.status);
    }
    case 'patch':
      return patch(ctx, r, name!);
    case 'delete':
      if (r.subresource) return fail(status.methodNotAllowed('DELETE', r.req.url ?? ''));
      return remove(ctx, r, name!);
  }
}
