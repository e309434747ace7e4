import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../runtime/config';

describe('configuration', () => {
  it('given no settings, when the configuration is loaded, then the embedded defaults apply', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      databaseUrl: undefined,
      embeddedPostgresPort: 54_329,
      port: 3_000,
      dataDir: path.resolve('.data'),
      logLevel: 'info',
      apiKeys: undefined,
      unreferredOrderRetention: '90 days',
      temporal: {
        address: undefined,
        namespace: 'default',
        devServer: { port: 7_233, uiPort: 8_233, httpPort: 7_243, metricsPort: 7_253 },
      },
    });
  });

  it('given settings, when the configuration is loaded, then they are typed and checked', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://u:p@db:5432/referrals',
      TEMPORAL_ADDRESS: 'temporal:7233',
      TEMPORAL_PORT: '9233',
      API_KEYS: 'shop:commerce:0123456789abcdef,ops:admin:fedcba9876543210',
      PORT: '8080',
      UNREFERRED_ORDER_RETENTION: '30 days',
    });
    expect(config.unreferredOrderRetention).toBe('30 days');
    expect(config.databaseUrl).toBe('postgres://u:p@db:5432/referrals');
    expect(config.temporal.devServer).toMatchObject({ port: 9_233, httpPort: 9_243 });
    expect(config.apiKeys?.map((k) => `${k.name}:${k.role}`)).toEqual(['shop:commerce', 'ops:admin']);
    expect(config.port).toBe(8_080);
  });

  it('given pool and cache sizes, then they are whole numbers above 0; left out, the code defaults apply', () => {
    expect(loadConfig({}).databasePoolSize).toBeUndefined();
    expect(loadConfig({ DATABASE_POOL_SIZE: '30' }).databasePoolSize).toBe(30);
    expect(() => loadConfig({ DATABASE_POOL_SIZE: '0' })).toThrow(/DATABASE_POOL_SIZE/);
    expect(() => loadConfig({ DATABASE_POOL_SIZE: 'ten' })).toThrow(/DATABASE_POOL_SIZE/);
    expect(loadConfig({}).workerMaxCachedWorkflows).toBeUndefined();
    expect(loadConfig({ WORKER_MAX_CACHED_WORKFLOWS: '1000' }).workerMaxCachedWorkflows).toBe(1000);
    expect(loadConfig({}).workerMaxConcurrentWorkflowTasks).toBeUndefined();
    expect(loadConfig({ WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '8' }).workerMaxConcurrentWorkflowTasks).toBe(8);
    expect(() => loadConfig({ WORKER_MAX_CACHED_WORKFLOWS: '-1' })).toThrow(/WORKER_MAX_CACHED_WORKFLOWS/);
  });

  it('given a worker metrics address, then it is an IP address and a real port, as the SDK binds it; left out, no metrics are served', () => {
    expect(loadConfig({}).workerMetricsAddress).toBeUndefined();
    expect(loadConfig({ WORKER_METRICS_ADDRESS: '0.0.0.0:9464' }).workerMetricsAddress).toBe('0.0.0.0:9464');
    expect(loadConfig({ WORKER_METRICS_ADDRESS: '[::1]:9464' }).workerMetricsAddress).toBe('[::1]:9464');
    const refused = ['9464', '0.0.0.0', '0.0.0.0:0', '0.0.0.0:70000', 'http://0.0.0.0:9464', 'a b:1'];
    // host names pass a host:port pattern, and the SDK refuses them only as the runtime starts
    refused.push('worker:9464', 'localhost:9464', '999.1.1.1:9464', '[1.2.3.4]:9464', '::1:9464');
    for (const bad of refused)
      expect(() => loadConfig({ WORKER_METRICS_ADDRESS: bad })).toThrow(/WORKER_METRICS_ADDRESS/);
  });

  it('given variables set to nothing, then they take their defaults; ports are plain numbers with room for their neighbours', () => {
    expect(loadConfig({ PORT: '', TEMPORAL_NAMESPACE: '  ', LOG_LEVEL: '', DATA_DIR: '' })).toMatchObject({
      port: 3_000,
      logLevel: 'info',
      temporal: { namespace: 'default' },
    });
    expect(() => loadConfig({ PORT: '0x10' })).toThrow(/PORT/);
    expect(() => loadConfig({ PORT: '1e3' })).toThrow(/PORT/);
    expect(() => loadConfig({ TEMPORAL_PORT: '65530' })).toThrow(/TEMPORAL_HTTP_PORT/);
  });

  it('given malformed settings, when the configuration is loaded, then it refuses naming every variable at fault', () => {
    const load = () =>
      loadConfig({
        PORT: 'eighty',
        DATABASE_URL: 'mysql://x',
        API_KEYS: 'shop:owner:short',
        LOG_LEVEL: 'loud',
        UNREFERRED_ORDER_RETENTION: '300000 years',
      });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/PORT/);
    expect(load).toThrow(/DATABASE_URL/);
    expect(load).toThrow(/API_KEYS/);
    expect(load).toThrow(/LOG_LEVEL/);
    expect(load).toThrow(/UNREFERRED_ORDER_RETENTION/);
  });
});
