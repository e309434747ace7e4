import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { WORKFLOW_BUNDLE_OPTIONS } from '../../runtime/workflow-bundle';

const silent = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** The workflows as the worker runs them, bundled once per replay test file. */
export const bundleForReplay = (): Promise<WorkflowBundleWithSourceMap> =>
  bundleWorkflowCode({ ...WORKFLOW_BUNDLE_OPTIONS, logger: silent });
