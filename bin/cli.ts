/**
 * The root of the `switchyard` command line: global flags and the subcommands. Each subcommand is a
 * yargs module exported by its binary's `main.ts`, imported only when it runs (commands.ts); logic
 * lives in the modules those wire together.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { formatProblem, UserError } from '../shared/errors.ts';
import { commandsFor, GLOBAL_OPTIONS } from './commands.ts';
import { dropUnknownEnvOptions, hideSecretEnv } from './env-options.ts';

const args = hideBin(process.argv);
const commands = await commandsFor(args);
for (const name of dropUnknownEnvOptions(args, commands, GLOBAL_OPTIONS)) {
  process.stderr.write(`warning: ignoring ${name}: not an option of this command\n`);
}
const restoreSecrets = hideSecretEnv();

try {
  await yargs(args)
    .scriptName('switchyard')
    .env('SWITCHYARD')
    .option('log-level', {
      type: 'string',
      default: 'info',
      choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
      describe: 'Least severe log level written',
    })
    .option('log-format', {
      type: 'string',
      default: 'json',
      choices: ['json', 'pretty'],
      describe: 'NDJSON for machines, or colourised lines for people',
    })
    // After validation, before any handler: the modules that read secrets find them again.
    .middleware(() => restoreSecrets())
    .command(commands)
    .demandCommand(1, 'Name a command: see `switchyard --help`.')
    // Errors from handlers reach the catch below (one line per problem, no usage dump); only
    // mistakes in the command line itself get yargs' message and the usage.
    .fail((msg, err, y) => {
      if (err) throw err;
      y.showHelp();
      process.stderr.write(`\nerror: ${msg}\n`);
      process.exit(2);
    })
    .strict()
    .help()
    .alias('help', 'h')
    .version()
    .parseAsync();
} catch (err) {
  // A user error is one clear line per problem and a non-zero exit, never a stack trace.
  if (err instanceof UserError) {
    for (const p of err.problems) process.stderr.write(`error: ${formatProblem(p)}\n`);
    process.exit(err.exitCode);
  }
  throw err;
}
