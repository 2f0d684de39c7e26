/**
 * Errors a user can cause are values, not exceptions: each carries a stable code and names the
 * object, the field and the fix, so it can become a log line, a Kubernetes Event or a status condition.
 */

import { PROBLEMS, type ProblemCode } from './problems.ts';

/** One problem found in user input. */
export interface Problem {
  /** Stable, machine-readable code from the catalog (`shared/problems.ts`), e.g. `table.invalid-vip`. */
  readonly code: ProblemCode;
  /** The object at fault, e.g. `listener 2 (default/web)` or `IPAddressPool prod`. */
  readonly object: string;
  /** Path of the field at fault, e.g. `listeners[2].vip`. */
  readonly field: string;
  /** The offending value, rendered for a person. */
  readonly value: string;
  /** What is wrong and how to fix it. */
  readonly message: string;
}

/** Either the parsed value or the problems that prevented it. */
export type Result<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly problems: readonly Problem[] };

/** One line for a person: object, field, value, message. */
export function formatProblem(p: Problem): string {
  return `${p.object}: ${p.field}=${p.value}: ${p.message} [${p.code}]`;
}

/** A problem with `code` about `object`, its value rendered for a person. */
export function problemOf(
  code: ProblemCode,
  object: string,
  field: string,
  value: unknown,
  message: string,
): Problem {
  return { code, object, field, value: show(value), message };
}

/**
 * Collects what was found about one object. Each finding joins `problems` (the input is refused)
 * or `warnings` (it is accepted) by its code's severity in the catalog, so a code cannot be an
 * error in one place and a warning in another.
 */
export class ProblemCollector {
  readonly problems: Problem[] = [];
  readonly warnings: Problem[] = [];
  readonly object: string;
  constructor(object: string) {
    this.object = object;
  }

  /** Record one finding; `object` overrides the collector's own for a part of it. */
  report(code: ProblemCode, field: string, value: unknown, message: string, object = this.object): void {
    const found = problemOf(code, object, field, value, message);
    (PROBLEMS[code].severity === 'warning' ? this.warnings : this.problems).push(found);
  }
}

/** Thrown only at a boundary that must stop (a CLI command), carrying the problems to print. */
export class UserError extends Error {
  readonly problems: readonly Problem[];
  readonly exitCode: number;
  constructor(problems: readonly Problem[], exitCode = 2) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'UserError';
    this.problems = problems;
    this.exitCode = exitCode;
  }
}

/** Render a value for an error message without dumping whole objects. Never throws. */
export function show(value: unknown): string {
  if (value === undefined) return '(missing)';
  if (typeof value === 'string') return JSON.stringify(value);
  const text = render(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * JSON where possible. User documents can hold what JSON cannot: YAML aliases build circular
 * structures, and nesting can be too deep to walk; rendering one for a message must not turn a
 * user error into a crash.
 */
function render(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    try {
      const seen = new WeakSet<object>();
      const text = JSON.stringify(value, (_key, v: unknown) => {
        if (typeof v === 'bigint') return `${v}n`;
        if (typeof v === 'object' && v !== null) {
          if (seen.has(v)) return '[circular]';
          seen.add(v);
        }
        return v;
      });
      if (text !== undefined) return text;
    } catch {
      // Too deep even with cycles cut: say what it is.
    }
    if (Array.isArray(value)) return '[...]';
    return typeof value === 'object' && value !== null ? '{...}' : typeof value;
  }
}
