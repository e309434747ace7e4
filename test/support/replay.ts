import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { WORKFLOWS_PATH } from './temporal-binaries';

const silent = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** The workflows as the worker runs them, bundled once per replay test file. */
export const bundleForReplay = (): Promise<WorkflowBundleWithSourceMap> =>
  bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: silent });
