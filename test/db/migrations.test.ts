import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { migrations } from '../../db/migrations';

describe('migrations', () => {
  it('given the migrations folder, when the runner lists migrations, then every file is there in timestamp order', () => {
    const folder = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../db/migrations');
    const files = readdirSync(folder)
      .filter((f) => /^\d{4}_\d{2}_\d{2}_\d{4}_.+\.ts$/.test(f))
      .map((f) => f.replace(/\.ts$/, ''))
      .sort();
    expect(Object.keys(migrations)).toEqual(files);
  });
});
