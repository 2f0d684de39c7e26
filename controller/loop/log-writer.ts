/**
 * The outcome writer for manifest mode: there is no API server to write status to, so allocations,
 * events and pool counts become log lines (and `switchyard status` shows them from the store).
 */
import type { Logger } from '../../shared/log.ts';
import type { PoolStatus, ServiceOutcome } from '../allocate/reconcile-allocations.ts';
import type { OutcomeWriter } from './controller-loop.ts';

/** Writes outcomes to the log only. */
export class LogWriter implements OutcomeWriter {
  private readonly logger: Logger;

  constructor(logger: Logger) {
    this.logger = logger;
  }

  async writeService(o: ServiceOutcome): Promise<void> {
    const service = `${o.namespace}/${o.name}`;
    if (o.ips.length > 0) {
      this.logger.info(
        { event: 'service-allocated', service, vip: o.ips.join(','), pool: o.pool },
        `${service} has ${o.ips.join(', ')}`,
      );
    } else {
      this.logger.info({ event: 'service-pending', service }, `${service} has no IP`);
    }
  }

  async recordEvents(o: ServiceOutcome): Promise<void> {
    const service = `${o.namespace}/${o.name}`;
    for (const e of o.events) {
      const level = e.type === 'Warning' ? 'warn' : 'info';
      this.logger[level]({ event: 'service-event', service, reason: e.reason }, `${service}: ${e.message}`);
    }
  }

  async writePoolStatus(s: PoolStatus): Promise<void> {
    this.logger.debug({ event: 'pool-status', pool: s.name, ...s }, 'pool status');
  }
}
