import twoRegion from '../../cdk/config/two-region';
import { synth } from './fixture';
import { apiSuite } from './suites/api';
import { controlTableSuite } from './suites/control-table';
import { functionsSuite } from './suites/functions';
import { iamSuite } from './suites/iam';
import { mirrorConfigSuite } from './suites/mirror-config';
import { monitoringSuite } from './suites/monitoring';
import { nagSuite } from './suites/nag';
import { storageSuite } from './suites/storage';

// One synthesis (with bundling) for every suite: it is most of this file's run time.
const deployment = synth(twoRegion);

controlTableSuite(deployment);
storageSuite(deployment);
functionsSuite(deployment);
mirrorConfigSuite(deployment);
apiSuite(deployment);
iamSuite(deployment);
monitoringSuite(deployment);
nagSuite(deployment);
