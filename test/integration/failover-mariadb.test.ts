// Failover against real MariaDB 10.11 servers (loopback lab).
import { failoverSuite } from './failover-suite';

failoverSuite('mariadb');
