import { Client, Connection } from '@temporalio/client';

export interface TemporalSettings {
  address: string;
  namespace: string;
}

export const temporalSettingsFromEnv = (env = process.env): TemporalSettings => ({
  address: env.TEMPORAL_ADDRESS ?? 'localhost:7233',
  namespace: env.TEMPORAL_NAMESPACE ?? 'default',
});

export async function connectTemporalClient(settings: TemporalSettings): Promise<Client> {
  const connection = await Connection.connect({ address: settings.address });
  return new Client({ connection, namespace: settings.namespace });
}
