/**
 * The programs the benchmark drives, the Debian packages that provide them, and their versions.
 * The check runs before anything starts so a missing tool is one clear message, not a failed run.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** A program the benchmark runs. */
export interface Tool {
  readonly command: string;
  /** The Debian package that installs it. */
  readonly debianPackage: string;
  /** Arguments that make it print its version. */
  readonly versionArgs: readonly string[];
  /** Whether the benchmark can run without it (it then does less, and says so). */
  readonly optional: boolean;
}

/** Everything the benchmark runs besides Node itself. */
export const TOOLS: readonly Tool[] = [
  { command: 'haproxy', debianPackage: 'haproxy', versionArgs: ['-v'], optional: false },
  { command: 'wrk', debianPackage: 'wrk', versionArgs: ['-v'], optional: false },
  { command: 'nginx', debianPackage: 'nginx-light', versionArgs: ['-v'], optional: false },
  { command: 'iperf3', debianPackage: 'iperf3', versionArgs: ['--version'], optional: false },
  { command: 'taskset', debianPackage: 'util-linux', versionArgs: ['--version'], optional: true },
];

/** Where each tool was found (absolute path), or null. */
export type ToolPaths = Readonly<Record<string, string | null>>;

/** Find `command` on PATH or in the sbin folders Debian puts daemons in. */
export function findCommand(command: string, pathEnv = process.env['PATH'] ?? ''): string | null {
  const dirs = [...pathEnv.split(delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'].filter((d) => d !== '');
  for (const dir of dirs) {
    const full = join(dir, command);
    try {
      accessSync(full, constants.X_OK);
      return full;
    } catch {
      // not in this folder
    }
  }
  return null;
}

/** Locate every tool. */
export function locateTools(): ToolPaths {
  return Object.fromEntries(TOOLS.map((t) => [t.command, findCommand(t.command)]));
}

/**
 * The message for missing required tools, naming the Debian packages to install; null when
 * nothing required is missing.
 */
export function missingToolsMessage(paths: ToolPaths): string | null {
  const missing = TOOLS.filter((t) => !t.optional && !paths[t.command]);
  if (missing.length === 0) return null;
  const pkgs = [...new Set(missing.map((t) => t.debianPackage))].join(' ');
  return (
    `bench: missing ${missing.map((t) => t.command).join(', ')}.\n` +
    `Install the Debian packages: sudo apt-get install -y --no-install-recommends ${pkgs}`
  );
}

/** The first line of a tool's version output that carries a version number (some print to stderr). */
export function versionLine(output: string): string {
  const line = output.split('\n').find((l) => /\d+\.\d+/.test(l));
  return (line ?? output.split('\n')[0] ?? '').trim();
}

/** Ask a tool for its version; `null` if it is not installed, the raw error text if it fails. */
export function toolVersion(path: string | null, tool: Tool): Promise<string | null> {
  if (!path) return Promise.resolve(null);
  return new Promise((resolve) => {
    execFile(path, [...tool.versionArgs], { timeout: 10_000 }, (_err, stdout, stderr) => {
      // wrk -v exits 1 and haproxy/nginx write to stderr: the text, not the status, is the answer.
      resolve(versionLine(`${stdout}\n${stderr}`) || 'unknown');
    });
  });
}
