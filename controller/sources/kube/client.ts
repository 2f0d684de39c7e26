/**
 * How the controller reaches the Kubernetes API: the kubeconfig, the typed API clients, per-call
 * options (patch content type, a request timeout) and the classification of a failed call. The
 * controller's `kube-*.ts` modules are the only ones that import `@kubernetes/client-node`; the
 * rest of the controller sees plain typed objects and outcomes.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  ApiException,
  type ConfigurationOptions,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig,
  type ObservableMiddleware,
  setHeaderMiddleware,
} from '@kubernetes/client-node';
import { UserError } from '../../../shared/errors.ts';

/** The API clients the controller uses, built from one kubeconfig. */
export interface KubeClients {
  readonly kubeConfig: KubeConfig;
  readonly core: CoreV1Api;
  readonly discovery: DiscoveryV1Api;
  readonly coordination: CoordinationV1Api;
  readonly custom: CustomObjectsApi;
}

/** The API group, version and plural of Switchyard's IP pools. */
export const POOL_RESOURCE = {
  group: 'switchyard.io',
  version: 'v1beta1',
  plural: 'ipaddresspools',
} as const;

/** Longest wait for one API call (not a watch) before it counts as failed. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/**
 * Load a kubeconfig: the file when `path` is given; otherwise `$KUBECONFIG`, `~/.kube/config`, or
 * the in-cluster service account, in that order (client-node's default chain).
 */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

/** Where a pod's service account token is mounted; its presence means "running in a cluster". */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** A kubeconfig and where it came from (for the start-up log line). */
export interface ResolvedKubeConfig {
  readonly kubeConfig: KubeConfig;
  /** The file, `$KUBECONFIG`, or `in-cluster`. */
  readonly from: string;
  /** The API server URL of the current context. */
  readonly server: string;
}

function kubeconfigProblem(field: string, value: string, message: string): UserError {
  return new UserError([{ code: 'controller.kubeconfig', object: 'controller', field, value, message }]);
}

/**
 * The controller's kubeconfig: `--kubeconfig FILE`; else `$KUBECONFIG` (one or more files); else
 * the in-cluster service account; else `~/.kube/config`. A kubeconfig that cannot be read, or
 * none at all, is a UserError naming what to set: client-node would otherwise quietly fall back
 * on http://localhost:8080 and retry it forever.
 */
export function resolveKubeConfig(
  path: string | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
  /** Prefix of the service-account mount (tests; client-node's `pathPrefix`). */
  root = '',
): ResolvedKubeConfig {
  const kc = new KubeConfig();
  let from = '';
  let field = '--kubeconfig';
  try {
    if (path) {
      [from, field] = [path, '--kubeconfig'];
      kc.loadFromFile(path);
    } else if (env.KUBECONFIG) {
      [from, field] = ['$KUBECONFIG', '$KUBECONFIG'];
      for (const [i, file] of env.KUBECONFIG.split(':').filter(Boolean).entries()) {
        if (i === 0) kc.loadFromFile(file);
        else {
          const more = new KubeConfig();
          more.loadFromFile(file);
          kc.mergeConfig(more);
        }
      }
    } else if (env.KUBERNETES_SERVICE_HOST && existsSync(`${root}${SERVICE_ACCOUNT_DIR}/token`)) {
      [from, field] = ['in-cluster', 'service account'];
      kc.loadFromCluster(root);
    } else if (existsSync(join(homedir(), '.kube', 'config'))) {
      from = join(homedir(), '.kube', 'config');
      field = '~/.kube/config';
      kc.loadFromFile(from);
    } else {
      throw kubeconfigProblem(
        '--kubeconfig',
        '(missing)',
        'no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG, run in a pod with a service account, or pass --config FILE to run from a manifest',
      );
    }
  } catch (err) {
    if (err instanceof UserError) throw err;
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw kubeconfigProblem(
      field,
      from,
      `cannot load the kubeconfig (${why}); point it at a readable kubeconfig file`,
    );
  }
  const server = kc.getCurrentCluster()?.server;
  if (!server) {
    throw kubeconfigProblem(
      field,
      from,
      'the kubeconfig has no current context with a cluster; set current-context',
    );
  }
  return { kubeConfig: kc, from, server };
}

/** Build the API clients for `kc`. */
export function makeKubeClients(kc: KubeConfig): KubeClients {
  return {
    kubeConfig: kc,
    core: kc.makeApiClient(CoreV1Api),
    discovery: kc.makeApiClient(DiscoveryV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
  };
}

/**
 * Per-call options: abort the call after `timeoutMs`, and for a PATCH send `contentType` (client-node
 * 2.x sends JSON patch unless a middleware overrides the header).
 */
export function callOptions(
  timeoutMs: number,
  contentType?: string,
): ConfigurationOptions<ObservableMiddleware> {
  // setHeaderMiddleware builds the client's own Observable; the timeout rides on its `pre` hook.
  const base = setHeaderMiddleware(
    contentType ? 'Content-Type' : 'Accept',
    contentType ?? 'application/json',
  );
  const middleware: ObservableMiddleware = {
    pre: (ctx) => {
      ctx.setSignal(AbortSignal.timeout(timeoutMs));
      return base.pre(ctx);
    },
    post: (rsp) => base.post(rsp),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

/** Why an API call failed, in the terms the caller decides on. */
export interface ApiFailure {
  /** HTTP status; 0 when no answer came (refused, reset, timed out). */
  readonly code: number;
  /** The Status `reason` (e.g. `Conflict`, `NotFound`), or `Unreachable` / `Timeout`. */
  readonly reason: string;
  readonly message: string;
  /** Worth trying again later: conflicts, throttling, server errors and no answer at all. */
  readonly retriable: boolean;
}

function retriable(code: number): boolean {
  return code === 0 || code === 409 || code === 429 || code >= 500;
}

/** Classify anything a client-node call rejected with. */
export function apiFailure(err: unknown): ApiFailure {
  if (err instanceof ApiException) {
    const code = Number(err.code);
    let reason = `HTTP${code}`;
    let message = String(err.message).split('\n')[0] ?? '';
    try {
      const s = JSON.parse(String(err.body)) as { reason?: unknown; message?: unknown };
      if (typeof s.reason === 'string') reason = s.reason;
      if (typeof s.message === 'string') message = s.message;
    } catch {
      // Not a Status body (a proxy's HTML page, say): keep the generic reason.
    }
    return { code, reason, message, retriable: retriable(code) };
  }
  const e = err as { name?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
    return { code: 0, reason: 'Timeout', message: String(e.message), retriable: true };
  }
  const cause = e?.cause?.code ?? e?.cause?.message;
  return {
    code: 0,
    reason: 'Unreachable',
    message: cause ? `${String(e?.message)}: ${String(cause)}` : String(e?.message ?? err),
    retriable: true,
  };
}

/** The result of one write: done, or why not. */
export type WriteOutcome = { readonly ok: true } | { readonly ok: false; readonly failure: ApiFailure };

/** Run one API call and turn its rejection into a classified failure. */
export async function writeOutcome(call: () => Promise<unknown>): Promise<WriteOutcome> {
  try {
    await call();
    return { ok: true };
  } catch (err) {
    return { ok: false, failure: apiFailure(err) };
  }
}

/** The error an informer or a call ended with, as one log-friendly line. */
export function describeFailure(f: ApiFailure): string {
  return f.code === 0 ? `${f.reason}: ${f.message}` : `${f.code} ${f.reason}: ${f.message}`;
}
