import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { bundleForReplay } from '../support/replay';

const { temporal } = proto;

const HISTORIES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../histories');
const files = readdirSync(HISTORIES)
  .filter((f) => f.endsWith('.binpb'))
  .sort();

describe('recorded referral histories', () => {
  it('given the recorded histories of every main path, then there are some to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(20);
  });

  it('when each is replayed against the current workflow code, then none is non-deterministic', async () => {
    const workflowBundle = await bundleForReplay();
    const histories = files.map((file) => ({
      workflowId: file.replace(/\.binpb$/, ''),
      history: temporal.api.history.v1.History.decode(readFileSync(path.join(HISTORIES, file))),
    }));
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle }, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
  }, 120_000);
});
