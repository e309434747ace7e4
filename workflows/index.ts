export { referralWorkflow } from './referral';
