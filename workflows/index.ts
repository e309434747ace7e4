export { pointLotWorkflow } from './lot';
export { referralWorkflow } from './referral';
