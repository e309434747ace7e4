/**
 * `npm run bench:workflow-heap -- [--history FILE] [--count N] [--created-only] [--preload-sdk] [--out DIR]`
 *
 * The live heap one cached workflow holds in the worker's workflow context: the workflow bundle loaded into the SDK's
 * reusable V8 context (as the worker loads it), then workflows created from a recorded history's first event (its
 * type and input) and given their first activation (as a new referral's first task gives it), all kept; the heap
 * after full collections at N and at 2N kept, and the difference over N is what each holds. A workflow after its first
 * activation is a referral just begun (a claim waiting for its first write): later activations add its facts.
 * `--created-only` stops at creation, before the workflow runs (its context and the modules loaded into each workflow);
 * `--preload-sdk` also preloads the workflow SDK's own modules into the shared context, as the worker does not.
 * It drives the SDK's workflow creator directly (`@temporalio/worker/lib/...`, not the SDK's public API, checked by
 * the type checker against the installed SDK), on this thread rather than a worker thread.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { TypedSearchAttributes } from '@temporalio/common';
import proto from '@temporalio/proto';
import { bundleWorkflowCode } from '@temporalio/worker';
import { parseWorkflowCode } from '@temporalio/worker/lib/worker';
import { ReusableVMWorkflowCreator } from '@temporalio/worker/lib/workflow/reusable-vm';
import type { WorkflowInfo } from '@temporalio/workflow';
import { WORKFLOW_BUNDLE_OPTIONS } from '../../runtime/workflow-bundle';
import { RESULT_FORMAT, resultStamp } from './report';
import { runEnvironment } from './run-environment';

const { temporal, coresdk } = proto;
const { Payload } = temporal.api.common.v1;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WARM_UP = 20;

const { values } = parseArgs({
  options: {
    history: { type: 'string', default: path.join(ROOT, 'test/histories/v17-claim-register-qualify-complete.binpb') },
    count: { type: 'string', default: '300' },
    'created-only': { type: 'boolean', default: false },
    'preload-sdk': { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const began = new Date();
const environment = runEnvironment();
const outDir = path.resolve(values.out ?? path.join(ROOT, 'bench/results'));
const workerVersion = (
  JSON.parse(await readFile(path.join(ROOT, 'node_modules/@temporalio/worker/package.json'), 'utf8')) as {
    version: string;
  }
).version;
const historyPath = path.resolve(values.history);
const count = Number(values.count);
if (!Number.isSafeInteger(count) || count < 10 || count > 10_000)
  throw new Error(`--count: 10 to 10,000, not ${values.count}`);
const collect = (globalThis as { gc?: () => void }).gc;
if (!collect) throw new Error('run with node --expose-gc');
const liveHeap = async () => {
  collect();
  // what the first collection's finalisers let go, the second frees
  await new Promise(setImmediate);
  collect();
  return process.memoryUsage().heapUsed;
};

const history = temporal.api.history.v1.History.decode(await readFile(historyPath));
const started = history.events[0]?.workflowExecutionStartedEventAttributes;
if (!started?.workflowType?.name) throw new Error(`${historyPath} does not begin with a workflow's start`);
const type = started.workflowType.name;
const input = started.input?.payloads ?? [];

// built here either way, so both arms carry what webpack leaves behind; the slope below leaves it out anyway
const { code } = await bundleWorkflowCode({
  ...WORKFLOW_BUNDLE_OPTIONS,
  preloadModules: [
    ...WORKFLOW_BUNDLE_OPTIONS.preloadModules,
    ...(values['preload-sdk'] ? ['@temporalio/workflow'] : []),
  ],
});

/** Every activity the workflow schedules counts as registered: here nothing runs them, they are only scheduled. */
class EveryActivity extends Set<string> {
  override has(): boolean {
    return true;
  }
}
const beforeContext = await liveHeap();
const creator = await ReusableVMWorkflowCreator.create(parseWorkflowCode(code), 5_000, new EveryActivity(), undefined);
// the shared context: the bundle's code, its source map's consumer, the preloaded modules
const contextBytes = (await liveHeap()) - beforeContext;

async function startWorkflow(i: number) {
  const runId = `heap-run-${i}`;
  const workflowId = `heap-workflow-${i}`;
  const now = new Date();
  const info: WorkflowInfo = {
    workflowType: type,
    workflowId,
    runId,
    firstExecutionRunId: runId,
    originalExecutionRunId: runId,
    taskQueue: 'heap',
    namespace: 'default',
    attempt: 1,
    historyLength: 3,
    historySize: 0,
    continueAsNewSuggested: false,
    targetWorkerDeploymentVersionChanged: false,
    taskTimeoutMs: 10_000,
    searchAttributes: {},
    typedSearchAttributes: new TypedSearchAttributes(),
    memo: {},
    // the SDK replaces the clock and the random source with its own when it creates the workflow
    unsafe: {
      isReplaying: false,
      isReplayingHistoryEvents: false,
      now: Date.now,
      random: {
        random: Math.random,
        uuid4: () => crypto.randomUUID(),
        fillRandom: (bytes) => crypto.getRandomValues(bytes),
      },
    },
    startTime: now,
    runStartTime: now,
  };
  const workflow = await creator.createWorkflow({
    info,
    randomnessSeed: [i, 1],
    now: now.getTime(),
    showStackTraceSources: false,
  });
  if (values['created-only']) return workflow;
  const activation = coresdk.workflow_activation.WorkflowActivation.fromObject({
    runId,
    timestamp: { seconds: Math.floor(now.getTime() / 1000) },
    isReplaying: false,
    historyLength: 3,
    jobs: [
      {
        initializeWorkflow: {
          workflowId,
          workflowType: type,
          // each workflow its own copy, as each gets its own from the server
          arguments: input.map((payload) => Payload.decode(Payload.encode(payload).finish())),
          randomnessSeed: i,
          firstExecutionRunId: runId,
          attempt: 1,
        },
      },
    ],
  });
  const completion = await workflow.activate(activation);
  if (completion.failed) throw new Error(`${type} failed its first activation: ${completion.failed.failure?.message}`);
  // a workflow that ended in its first task would be measured as a finished one
  const ended = completion.successful?.commands?.find(
    (command) =>
      command.completeWorkflowExecution || command.failWorkflowExecution || command.continueAsNewWorkflowExecution,
  );
  if (ended) throw new Error(`${type} ended in its first activation: ${JSON.stringify(ended)}`);
  // as the worker does after every activation: what the workflow logged leaves it
  await workflow.getAndResetSinkCalls();
  return workflow;
}

const warmUp = [];
for (let i = 0; i < WARM_UP; i++) warmUp.push(await startWorkflow(i));
for (const workflow of warmUp) await workflow.dispose();
const kept = [];
for (let i = WARM_UP; i < WARM_UP + count; i++) kept.push(await startWorkflow(i));
const atCount = await liveHeap();
for (let i = WARM_UP + count; i < WARM_UP + 2 * count; i++) kept.push(await startWorkflow(i));
const atTwiceCount = await liveHeap();
const perWorkflowBytes = (atTwiceCount - atCount) / count;
const result = {
  format: `workflow-heap/${RESULT_FORMAT.workflowHeap}`,
  date: began.toISOString(),
  history: path.relative(ROOT, historyPath),
  workflowType: type,
  options: { count, createdOnly: values['created-only'], preloadSdk: values['preload-sdk'] },
  versions: { node: process.version, temporalWorker: workerVersion },
  environment: await environment,
  sharedContextBytes: contextBytes,
  perWorkflowBytes,
};
console.log(
  `${type} from ${path.basename(historyPath)}${values['created-only'] ? ', created only' : ', first activation'}` +
    `${values['preload-sdk'] ? ', workflow SDK preloaded' : ''}: ` +
    `${(perWorkflowBytes / 1024).toFixed(1)} KB of live heap for each workflow kept (${count} to ${2 * count} kept); ` +
    `the shared context ${(contextBytes / 2 ** 20).toFixed(1)} MB`,
);
const stamp = resultStamp(began);
const variant = `${values['created-only'] ? '-created-only' : ''}${values['preload-sdk'] ? '-preload-sdk' : ''}`;
await mkdir(outDir, { recursive: true });
const file = path.join(outDir, `${stamp}-workflow-heap-${path.basename(historyPath, '.binpb')}${variant}.json`);
await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
console.log(`written to ${path.relative(process.cwd(), file)}`);
for (const workflow of kept) await workflow.dispose();
await creator.destroy();
