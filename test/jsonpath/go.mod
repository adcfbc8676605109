// Checks JOB_DONE_JSONPATH (src/waiter.ts) and JOB_ENDED_JSONPATH (src/queue.ts) with client-go's own jsonpath, at the
// version of the waiter's kubectl (test/e2e/kubectl/go.mod): keep them equal.
module cdk8s-migrated-app/test/jsonpath

go 1.26.0

require k8s.io/client-go v0.36.6
