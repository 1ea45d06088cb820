// Package validate checks deploy/k8s offline: the base builds with
// kustomize's library (as kubectl apply -k builds it), every manifest decodes
// strictly into its k8s.io/api type (an unknown or misspelt field is an
// error), and the invariants the deployment relies on hold (three
// replicas, probes, a non-root read-only container, a PodDisruptionBudget
// and a NetworkPolicy that select the Deployment's pods, the keyring and
// config mounted where davgate.yaml expects them).
//
// It is a module of its own so that the Kubernetes API types stay out of
// davgate's dependencies. Run: cd deploy/k8s/validate && go test ./...
package validate
