import type { Client } from '@temporalio/client';
import type { DB } from '../db/connection';
import type { ApiKey } from '../runtime/api-keys';
import type { Logger } from '../runtime/logger';

/** What the API needs from the outside world; tests pass their own. */
export interface AppDependencies {
  db: DB;
  temporal: Client;
  clock: () => Date;
  apiKeys: ApiKey[];
  logger: Logger;
  taskQueue: string;
  /** How long a request waits on a workflow update before answering 503 (the inbox finishes the delivery). */
  workflowCallTimeoutMs?: number;
}

export type AppEnv = {
  Variables: { deps: AppDependencies; actor: string; role: ApiKey['role']; requestId: string };
};

/** The instant a Temporal call made for a request gives up (then the API answers 503 and the inbox retries). */
export const workflowCallDeadline = (deps: AppDependencies): number => Date.now() + (deps.workflowCallTimeoutMs ?? 10_000);
