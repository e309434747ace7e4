import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOW_BUNDLE_OPTIONS } from '../../runtime/workflow-bundle';
import { TASK_QUEUE } from '../../workflows/shared';
import { API_KEYS } from './http';

/** `worker.ts` or `api/server.ts` in a process of its own, as production runs them, with what it printed kept. */
export interface ServiceProcess {
  child: ChildProcess;
  /** everything it wrote to stdout and stderr so far */
  output: () => string;
  /** how it ended, once it did */
  exit: () => string | undefined;
  /** throws, with the end of its output, when it ended */
  assertAlive: () => void;
  /** resolves once the output contains `text`; rejects when the process exits first or the time is up */
  waitFor: (text: string, timeoutMs?: number) => Promise<void>;
  /** SIGKILL, then waits for the exit */
  kill: () => Promise<void>;
  /** SIGTERM, then waits for the exit */
  stop: () => Promise<void>;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function spawnServiceProcess(
  entry: 'worker.ts' | 'api/server.ts',
  settings: { databaseUrl: string; temporalAddress: string; apiPort?: number; bundle?: string; namespace?: string },
): ServiceProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATABASE_URL: settings.databaseUrl,
      TEMPORAL_ADDRESS: settings.temporalAddress,
      ...(settings.namespace ? { TEMPORAL_NAMESPACE: settings.namespace } : {}),
      API_KEYS: API_KEYS.map((k) => `${k.name}:${k.role}:${k.secret}`).join(','),
      ...(settings.apiPort ? { PORT: String(settings.apiPort) } : {}),
      ...(settings.bundle ? { WORKFLOW_BUNDLE_PATH: settings.bundle } : {}),
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-500_000);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exit = () =>
    child.exitCode !== null
      ? `exit ${child.exitCode}`
      : child.signalCode !== null
        ? `signal ${child.signalCode}`
        : undefined;
  const ended = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const end = async (signal: NodeJS.Signals) => {
    if (exit() === undefined) child.kill(signal);
    await ended;
  };
  return {
    child,
    output: () => output,
    exit,
    assertAlive: () => {
      const how = exit();
      if (how) throw new Error(`${entry} ended (${how}):\n${output.slice(-4_000)}`);
    },
    waitFor: async (text, timeoutMs = 90_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!output.includes(text)) {
        const how = exit();
        if (how) throw new Error(`${entry} ended (${how}) before it printed ${text}:\n${output.slice(-4_000)}`);
        if (Date.now() > deadline)
          throw new Error(`${entry} did not print ${text} within ${timeoutMs} ms:\n${output.slice(-4_000)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    kill: () => end('SIGKILL'),
    stop: () => end('SIGTERM'),
  };
}

/** The workflow bundle once per test file, so each worker start takes seconds rather than a webpack build. */
export async function writeWorkflowBundle(file: string): Promise<string> {
  const { code } = await bundleWorkflowCode({ ...WORKFLOW_BUNDLE_OPTIONS });
  await writeFile(file, code);
  return file;
}

/** Whether a worker polls the referral task queue. */
export async function workerPolls(address: string, namespace = 'default'): Promise<boolean> {
  const connection = await Connection.connect({ address });
  try {
    const { pollers } = await connection.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: TASK_QUEUE },
      taskQueueType: 1,
    });
    return (pollers?.length ?? 0) > 0;
  } finally {
    await connection.close();
  }
}
