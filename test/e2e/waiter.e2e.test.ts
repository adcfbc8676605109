/*
 * The waiter in every Job state, with the kubectl of the default waiter image
 * (v1.36.6, built by cluster/build.sh): support/waiter-cases.ts.
 */
import { KUBECTL } from './support';
import { buildEnv } from './support/harness';
import { waiterCases } from './support/waiter-cases';

waiterCases(KUBECTL, buildEnv().WAITER_KUBECTL_VERSION);
