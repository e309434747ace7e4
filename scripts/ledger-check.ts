/**
 * `npm run ledger:check`: the points ledger's invariants over the whole database (DATABASE_URL). Prints each
 * offender and exits 1 when any rule is broken, 0 when all hold.
 */
import { createDatabase } from '../db/connection';
import { checkLedger } from '../db/ledger';
import { loadConfig, requireSetting } from '../runtime/config';

const db = createDatabase(requireSetting(loadConfig().databaseUrl, 'DATABASE_URL'), { max: 1 });
try {
  const offences = await checkLedger(db);
  for (const o of offences) console.log(`${o.rule}: ${o.subject} (${o.detail})`);
  console.log(
    offences.length === 0 ? 'ledger check: every invariant holds' : `ledger check: ${offences.length} offence(s)`,
  );
  process.exitCode = offences.length === 0 ? 0 : 1;
} finally {
  await db.destroy();
}
