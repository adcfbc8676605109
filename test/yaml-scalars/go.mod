// Checks the library's model of how Go's YAML readers resolve a plain scalar (goYamlReadsNonString in
// src/validation.ts) against the readers themselves, at the versions the appliers on the e2e node build with
// (test/e2e/modules/*/go.mod): kubectl, Helm and Argo CD read through sigs.k8s.io/yaml and go.yaml.in/yaml/v2,
// kustomize (Flux) through go.yaml.in/yaml/v3. kubectl v0.36.6 builds with v2.4.3, whose resolve.go is the same as
// v2.4.4's; Helm and Argo CD with v3.0.5, whose resolve() is the same as v3.0.4's (diffed in the module cache).
module cdk8s-migrated-app/test/yaml-scalars

go 1.26.0

require (
	go.yaml.in/yaml/v2 v2.4.4
	go.yaml.in/yaml/v3 v3.0.4
)
