import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';

export type Role = 'commerce' | 'admin';

export interface ApiKey {
  /** the actor named in logs and audit entries */
  name: string;
  role: Role;
  secret: string;
}

/** `API_KEYS`: comma-separated `name:role:secret`. A malformed entry stops the service at boot. */
export function parseApiKeys(value: string): ApiKey[] {
  const keys = value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const [name, role, ...rest] = entry.split(':');
      const secret = rest.join(':');
      if (!name || (role !== 'commerce' && role !== 'admin') || secret.length < 16) {
        throw new Error(
          `API_KEYS entry "${name ?? ''}:${role ?? ''}:…" must be name:role:secret, role commerce|admin, secret ≥ 16 chars`,
        );
      }
      return { name, role, secret } as ApiKey;
    });
  if (keys.length === 0) throw new Error('API_KEYS has no keys');
  return keys;
}

export const formatApiKeys = (keys: ApiKey[]): string => keys.map((k) => `${k.name}:${k.role}:${k.secret}`).join(',');

/**
 * The embedded default's keys: made once for the data folder and kept there, so restarts keep working clients.
 */
export async function loadOrCreateLocalApiKeys(file: string): Promise<ApiKey[]> {
  if (existsSync(file)) return parseApiKeys((await readFile(file, 'utf8')).trim());
  const keys: ApiKey[] = [
    { name: 'local-commerce', role: 'commerce', secret: randomBytes(24).toString('base64url') },
    { name: 'local-admin', role: 'admin', secret: randomBytes(24).toString('base64url') },
  ];
  await writeFile(file, `${formatApiKeys(keys)}\n`, { mode: 0o600 });
  return keys;
}
