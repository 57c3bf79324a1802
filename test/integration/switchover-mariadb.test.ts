import { switchoverSuite } from './switchover-suite';

switchoverSuite('mariadb');
