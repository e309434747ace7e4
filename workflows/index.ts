export { pointLotWorkflow } from './lot';
export { referralLifecycle, referralWorkflow } from './referral';
export { inboxRetentionWorkflow } from './inbox-retention';
export { termsMoveWorkflow } from './terms-move-batch';
