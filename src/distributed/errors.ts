import { KumikiError } from '../core/errors.js';

/** A job that failed on every attempt and was left in the queue's failed set. */
export type ParkedJob = {
  jobId: string;
  /** The sources of the job: they keep the version they had before the run. */
  sources: string[];
  attempts: number;
  /** The error of the last attempt. */
  reason: string;
};

/**
 * Jobs of a distributed ingest failed on every attempt ("poison" jobs) and were parked in the
 * queue's failed set. The other jobs were written; prune did not run. Fix the cause and run the
 * ingest again: what was written is unchanged and costs nothing.
 */
export class ParkedJobsError extends KumikiError {
  readonly parked: readonly ParkedJob[];
  /** Jobs of the run that were written. */
  readonly completedJobs: number;
  constructor(options: { parked: readonly ParkedJob[]; completedJobs: number; queue: string; collection: string }) {
    const first = options.parked[0];
    const sources = first ? `${first.sources.slice(0, 3).join(', ')}${first.sources.length > 3 ? ', …' : ''}` : '';
    super('KUMIKI_PARKED_JOBS', {
      message: `${options.parked.length} of ${options.parked.length + options.completedJobs} ingest jobs into "${options.collection}" failed on every attempt and were parked in the failed set of queue "${options.queue}"${first ? ` (first: job ${first.jobId} with ${sources}, after ${first.attempts} attempts: ${first.reason})` : ''}. Their sources keep the version they had; prune did not run. Fix the cause and run the ingest again: what was written is unchanged and costs nothing.`,
      isRetryable: false,
      component: 'distributed',
    });
    this.name = 'ParkedJobsError';
    this.parked = options.parked;
    this.completedJobs = options.completedJobs;
  }
  static override isInstance = (error: unknown): error is ParkedJobsError =>
    KumikiError.isInstance(error) && error.name === 'ParkedJobsError';
}
