/**
 * `npm run bench:workflow-heap -- [history.binpb] [workflows]`
 *
 * The live heap one cached workflow holds in the worker's workflow context: the workflow bundle loaded into the SDK's
 * reusable V8 context (as the worker loads it), then N workflows created from a recorded history's first event (its
 * type and input) and activated once, all kept, and the heap after a full collection compared with before them. What
 * the service's RSS grows by for each cached referral beyond this is outside the workflow's own objects (the heap's
 * headroom over them, the SDK core's state for the run). It drives the SDK's workflow creator directly
 * (`@temporalio/worker/lib/workflow/reusable-vm`, not the SDK's public API), so it runs on this thread, not a worker's.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import proto from '@temporalio/proto';
import { parseWorkflowCode } from '@temporalio/worker/lib/worker';
import { ReusableVMWorkflowCreator } from '@temporalio/worker/lib/workflow/reusable-vm';
import Long from 'long';
import { buildWorkflowBundle } from '../../runtime/workflow-bundle';

const { temporal } = proto;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const historyPath = path.resolve(
  process.argv[2] ?? path.join(ROOT, 'test/histories/v17-claim-register-qualify-complete.binpb'),
);
const count = Number(process.argv[3] ?? 300);
if (!Number.isSafeInteger(count) || count < 10 || count > 10_000)
  throw new Error(`workflows: 10 to 10,000, not ${count}`);
const collect = (globalThis as { gc?: () => void }).gc;
if (!collect) throw new Error('run with node --expose-gc');

const history = temporal.api.history.v1.History.decode(await readFile(historyPath));
const started = history.events[0]?.workflowExecutionStartedEventAttributes;
if (!started?.workflowType?.name) throw new Error(`${historyPath} does not begin with a workflow's start`);
const type = started.workflowType.name;

const bundle = parseWorkflowCode((await buildWorkflowBundle()).code);
// every activity counts as registered: the workflow only schedules them here, nothing runs them
const creator = await ReusableVMWorkflowCreator.create(
  bundle,
  5_000,
  { has: () => true } as unknown as Set<string>,
  undefined,
);

async function startWorkflow(i: number) {
  const runId = `heap-run-${i}`;
  const workflowId = `heap-workflow-${i}`;
  const now = new Date();
  const workflow = await creator.createWorkflow({
    info: {
      workflowType: type,
      workflowId,
      runId,
      firstExecutionRunId: runId,
      taskQueue: 'heap',
      namespace: 'default',
      attempt: 1,
      historyLength: 3,
      historySize: 0,
      continueAsNewSuggested: false,
      searchAttributes: {},
      typedSearchAttributes: [],
      memo: {},
      unsafe: { isReplaying: false, now: Date.now },
      startTime: now,
      runStartTime: now,
      priority: {},
    } as never,
    randomnessSeed: [i, 1],
    now: now.getTime(),
    showStackTraceSources: false,
  });
  const completion = await workflow.activate({
    runId,
    timestamp: { seconds: Long.fromNumber(Math.floor(now.getTime() / 1000)), nanos: 0 },
    isReplaying: false,
    historyLength: 3,
    jobs: [
      {
        initializeWorkflow: {
          workflowId,
          workflowType: type,
          arguments: started!.input?.payloads ?? [],
          randomnessSeed: Long.fromNumber(i),
          firstExecutionRunId: runId,
          attempt: 1,
          headers: {},
        },
      },
    ],
  });
  if (completion.failed) throw new Error(`${type} failed its first activation: ${completion.failed.failure?.message}`);
  return workflow;
}

const kept = [];
// the first few settle what every workflow shares (compiled code, the context's caches)
for (let i = 0; i < 5; i++) kept.push(await startWorkflow(i));
collect();
const before = process.memoryUsage().heapUsed;
for (let i = 5; i < 5 + count; i++) kept.push(await startWorkflow(i));
collect();
const after = process.memoryUsage().heapUsed;
console.log(
  `${type} from ${path.basename(historyPath)}: ${((after - before) / count / 1024).toFixed(1)} KB of live heap for ` +
    `each of ${count} workflows activated once and kept`,
);
for (const workflow of kept) await workflow.dispose();
await creator.destroy();
