/** Reading the replies of a Redis MULTI or pipeline, where each command can fail on its own. */

/** What ioredis resolves `exec()` with: one [error, result] pair per command, or null when aborted. */
export type ExecReply = [Error | null, unknown][] | null;

/** The results of a MULTI or pipeline, throwing the first error in it. */
export function execResults(reply: ExecReply): unknown[] {
  if (reply === null) throw new Error('the Redis transaction was aborted');
  return reply.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}
