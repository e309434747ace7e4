import { open } from 'node:fs/promises';
import path from 'node:path';
import { readLivePidFile, removePidFile, type ProcessRecord } from './pid-file';
import { processStartTicks } from './process-table';

export class DataFolderInUseError extends Error {}

/**
 * One `npm start` per data folder. With the folder held, any server found running on its files is a leftover of a
 * killed run and may be stopped; without it, a second start would stop the servers of the first.
 * Returns the release function; a lock whose holder is gone is taken over.
 */
export async function lockDataFolder(dataDir: string): Promise<() => Promise<void>> {
  const file = path.join(dataDir, 'npm-start.pid');
  const record = `${JSON.stringify({ pid: process.pid, startTicks: processStartTicks(process.pid) ?? '' } satisfies ProcessRecord)}\n`;
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const handle = await open(file, 'wx', 0o644);
      await handle.writeFile(record);
      await handle.close();
      return () => removePidFile(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = await readLivePidFile(file);
    if (holder) {
      throw new DataFolderInUseError(`${dataDir} is in use by another npm start (pid ${holder.pid}): stop it, or set DATA_DIR to another folder`);
    }
    await removePidFile(file);
  }
  throw new DataFolderInUseError(`could not take ${file}: another npm start is starting on ${dataDir}`);
}
