import type { IntakeDependencies } from '../intake/deps';
import type { ApiKey } from '../runtime/api-keys';

/** What the API needs: the intake's dependencies plus the keys it authenticates with. */
export interface AppDependencies extends IntakeDependencies {
  apiKeys: ApiKey[];
}

export type AppEnv = {
  Variables: { deps: AppDependencies; actor: string; role: ApiKey['role']; requestId: string };
};
