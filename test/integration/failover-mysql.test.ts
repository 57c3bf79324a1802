// Failover against real MySQL 9.7 servers (loopback lab).
import { failoverSuite } from './failover-suite';

failoverSuite('mysql');
