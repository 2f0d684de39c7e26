/**
 * `Status` objects, the body the real API server sends with every error (and with a successful
 * DELETE). Reasons and messages follow k8s.io/apimachinery/pkg/api/errors so clients that look at
 * `reason` or `code` behave as they would against a real cluster.
 */

/** The `Status` kind as it travels on the wire. */
export interface ApiStatus {
  readonly kind: 'Status';
  readonly apiVersion: 'v1';
  readonly metadata: Record<string, never>;
  readonly status: 'Success' | 'Failure';
  readonly message?: string;
  readonly reason?: string;
  readonly details?: {
    readonly name?: string;
    readonly group?: string;
    readonly kind?: string;
    uid?: string;
  };
  readonly code: number;
}

/** What a failed operation names: the resource plural, its group and the object name. */
export interface StatusTarget {
  readonly plural: string;
  readonly group: string;
  readonly name: string;
}

function failure(code: number, reason: string, message: string, target?: StatusTarget): ApiStatus {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(target ? { details: { name: target.name, group: target.group, kind: target.plural } } : {}),
    code,
  };
}

/** `services "web" not found` style name of an object, with its group where it has one. */
function qualified(t: StatusTarget): string {
  return t.group === '' ? t.plural : `${t.plural}.${t.group}`;
}

/** 404: the object does not exist. */
export function notFound(t: StatusTarget): ApiStatus {
  return failure(404, 'NotFound', `${qualified(t)} "${t.name}" not found`, t);
}

/** 409: create of an object whose name is taken. */
export function alreadyExists(t: StatusTarget): ApiStatus {
  return failure(409, 'AlreadyExists', `${qualified(t)} "${t.name}" already exists`, t);
}

/** 409: a write carried a stale resourceVersion (optimistic concurrency lost). */
export function conflict(t: StatusTarget): ApiStatus {
  return failure(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(t)} "${t.name}": the object has been modified; ` +
      'please apply your changes to the latest version and try again',
    t,
  );
}

/** 400: the request itself is malformed. */
export function badRequest(message: string): ApiStatus {
  return failure(400, 'BadRequest', message);
}

/** 422: the object fails validation. */
export function invalid(message: string, t?: StatusTarget): ApiStatus {
  return failure(422, 'Invalid', message, t);
}

/** 410: the requested resourceVersion is older than the retained history. */
export function expired(requested: string, oldest: number): ApiStatus {
  return failure(410, 'Expired', `too old resource version: ${requested} (${oldest})`);
}

/** 401: missing or wrong bearer token. */
export function unauthorized(): ApiStatus {
  return failure(401, 'Unauthorized', 'Unauthorized');
}

/** 404 for a path that names no resource. */
export function pathNotFound(path: string): ApiStatus {
  return failure(404, 'NotFound', `the server could not find the requested resource (${path})`);
}

/** 405: the verb does not apply to this path. */
export function methodNotAllowed(method: string, path: string): ApiStatus {
  return failure(
    405,
    'MethodNotAllowed',
    `the server does not allow this method on the requested resource (${method} ${path})`,
  );
}

/** 415: a PATCH content type the server does not take. */
export function unsupportedMediaType(contentType: string): ApiStatus {
  return failure(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format: ${contentType}`,
  );
}

/** 413: body too large. */
export function tooLarge(limit: number): ApiStatus {
  return failure(413, 'RequestEntityTooLarge', `the request body is larger than ${limit} bytes`);
}

/** 503: the server is (made) unavailable. */
export function unavailable(): ApiStatus {
  return failure(503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
}

/** 200 body of a DELETE that removed the object at once. */
export function deleted(t: StatusTarget, uid: string): ApiStatus {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: { name: t.name, group: t.group, kind: t.plural, uid },
    code: 200,
  };
}
