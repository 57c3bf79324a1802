/**
 * The test lab: real MySQL 9.7 / MariaDB 10.11 servers for integration tests.
 *
 * startCluster: loopback replication cluster (every server on 127.0.0.1).
 * startNetLab: each node is an "ECS host" in its own network namespace with
 * its own address, mysqld and sshd, plus a floating address (root required).
 *
 * Prerequisites come from scripts/setup.sh (apt packages, MySQL 9.7 from sid
 * under HEIR_LAB_CACHE, default /var/cache/heir-lab). Set HEIR_LAB_KEEP=1 to
 * keep a lab's folder (datadirs, logs) after teardown.
 */
export type { LabFlavor, LabNode, LabCluster, ClusterOptions } from './cluster';
export { startCluster } from './cluster';
export { freePort } from './ports';
export { HEIR_GRANTS, REPL_GRANTS, grantFamily, grantStatements } from './grants';
export type { GrantFamily, GrantItem } from './grants';
export { startNetLab } from './netlab';
export type { NetLab, NetLabOptions } from './netlab';
export { queryTcp, describeSettings } from './server';
export type { LabSettings } from './server';
