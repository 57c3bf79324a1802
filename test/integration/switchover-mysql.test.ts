import { switchoverSuite } from './switchover-suite';

switchoverSuite('mysql');
