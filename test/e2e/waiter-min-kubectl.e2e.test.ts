/*
 * The waiter in every Job state, with the oldest kubectl it supports (v1.31:
 * `kubectl wait --for=create` is new in 1.31; src/waiter.ts says why), built
 * by cluster/build.sh from modules/kubectl/min.mod: support/waiter-cases.ts.
 */
import { buildEnv } from './support/harness';
import { waiterCases } from './support/waiter-cases';

waiterCases(buildEnv().MIN_KUBECTL, buildEnv().MIN_KUBECTL_VERSION);
