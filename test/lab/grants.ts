/** The lab grants exactly what heir documents and checks: the list lives in src/mysql/privileges.ts. */
export { APPLIER_KILL_GRANTS, HEIR_GRANTS, REPL_GRANTS, SALVAGE_GRANTS, grantFamily, grantStatements } from '../../src/mysql/privileges';
export type { GrantFamily, GrantItem } from '../../src/mysql/privileges';
