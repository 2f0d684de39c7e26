/**
 * `SWITCHYARD_*` environment variables as flag twins (`SWITCHYARD_REDIS_URL` is `--redis-url`).
 * yargs reads every `SWITCHYARD_*` variable and its strict mode then rejects the ones that are not
 * options of the command being run, which would make a shared environment (a Pod spec, a compose
 * file) crash every command but one. So before parsing, variables that name no option of the
 * invoked command are removed from this process's environment and reported as warnings.
 */
import yargs, { type CommandModule } from 'yargs';
import { PASSWORD_ENV, SENTINEL_PASSWORD_ENV } from '../shared/store/redis-options.ts';

/** Environment prefix of every flag twin. */
export const ENV_PREFIX = 'SWITCHYARD_';

// biome-ignore lint/suspicious/noExplicitAny: yargs command modules differ in their argument types.
type AnyCommand = CommandModule<any, any>;

/** The name and aliases a command is invoked by. */
export function commandNames(cmd: AnyCommand): string[] {
  const first = (Array.isArray(cmd.command) ? cmd.command : [cmd.command ?? '']).map(
    (c) => c.split(' ')[0] ?? '',
  );
  const aliases = cmd.aliases === undefined ? [] : Array.isArray(cmd.aliases) ? cmd.aliases : [cmd.aliases];
  return [...first, ...aliases];
}

/** Every option name and alias of `cmd` (none for an unknown command). */
export function optionNames(cmd: AnyCommand | undefined): Set<string> {
  const y = yargs([]);
  if (typeof cmd?.builder === 'function') cmd.builder(y);
  else if (cmd?.builder) y.options(cmd.builder);
  // getOptions() is public in yargs but missing from @types/yargs.
  const opts = (
    y as unknown as { getOptions(): { key: Record<string, unknown>; alias: Record<string, string[]> } }
  ).getOptions();
  const names = new Set(Object.keys(opts.key));
  for (const list of Object.values(opts.alias)) for (const a of list) names.add(a);
  return names;
}

/**
 * Remove `SWITCHYARD_*` variables that are not options of the command named in `args` (nor one of
 * `globalOptions`); returns the removed variable names.
 */
export function dropUnknownEnvOptions(
  args: readonly string[],
  commands: readonly AnyCommand[],
  globalOptions: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): string[] {
  const invoked = args.find((a) => !a.startsWith('-'));
  const cmd = commands.find((c) => invoked !== undefined && commandNames(c).includes(invoked));
  const known = optionNames(cmd);
  for (const g of globalOptions) known.add(g);
  const dropped: string[] = [];
  for (const name of Object.keys(env)) {
    if (!name.startsWith(ENV_PREFIX)) continue;
    const flag = name.slice(ENV_PREFIX.length).toLowerCase().replaceAll('_', '-');
    if (!known.has(flag) && !SECRET_ENV.includes(name)) {
      dropped.push(name);
      delete env[name];
    }
  }
  return dropped;
}

/** Secrets read from the environment by the modules that need them; they are not flags. */
export const SECRET_ENV: readonly string[] = [PASSWORD_ENV, SENTINEL_PASSWORD_ENV];

/**
 * Hide the secret variables from the parser (it would take them for unknown flags) and return the
 * function that puts them back, to be called once parsing and validation are done.
 */
export function hideSecretEnv(env: NodeJS.ProcessEnv = process.env): () => void {
  const saved = new Map<string, string>();
  for (const name of SECRET_ENV) {
    const value = env[name];
    if (value !== undefined) {
      saved.set(name, value);
      delete env[name];
    }
  }
  return () => {
    for (const [name, value] of saved) env[name] = value;
  };
}
