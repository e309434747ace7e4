/**
 * Builds the workflow bundle once and writes it to a file: what the worker otherwise builds with webpack at every
 * start (seconds of CPU and a few hundred MB at boot). The Docker image runs it at build time; a worker given
 * WORKFLOW_BUNDLE_PATH loads the file instead of bundling.
 *
 *   node --import tsx scripts/bundle-workflows.ts [out-file]     (default: $WORKFLOW_BUNDLE_PATH)
 *   node --import tsx scripts/bundle-workflows.ts -              (to standard output: how a worker builds it apart)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOW_BUNDLE_OPTIONS } from '../runtime/workflow-bundle';

const target = process.argv[2] ?? process.env.WORKFLOW_BUNDLE_PATH;
if (!target) {
  console.error('usage: node --import tsx scripts/bundle-workflows.ts <out-file>   (or set WORKFLOW_BUNDLE_PATH)');
  process.exit(2);
}
const { code } = await bundleWorkflowCode({ ...WORKFLOW_BUNDLE_OPTIONS });
if (target === '-') {
  // webpack's own log goes to standard error, so the output is the bundle alone
  process.stdout.write(code);
} else {
  const out = path.resolve(target);
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, code);
  console.log(`workflow bundle written to ${out} (${Math.round(code.length / 1024)} KiB)`);
}
