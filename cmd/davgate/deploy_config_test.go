package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The configurations shipped under deploy/ load with davgate's own loader
// (unknown keys, bad values and missing settings are errors there): the
// systemd example and the davgate.yaml of the Kubernetes ConfigMap, which
// must name Redis, since its three replicas share one store.
func TestDeployConfigsLoad(t *testing.T) {
	t.Run("systemd", func(t *testing.T) {
		if _, err := loadConfig("../../deploy/systemd/davgate.yaml"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("k8s configmap", func(t *testing.T) {
		b, err := os.ReadFile("../../deploy/k8s/configmap.yaml")
		if err != nil {
			t.Fatal(err)
		}
		var cm struct {
			Kind string
			Data map[string]string
		}
		if err := yaml.Unmarshal(b, &cm); err != nil || cm.Kind != "ConfigMap" || cm.Data["davgate.yaml"] == "" {
			t.Fatalf("deploy/k8s/configmap.yaml: kind %q, no davgate.yaml (%v)", cm.Kind, err)
		}
		cfg, err := parseConfig([]byte(cm.Data["davgate.yaml"]))
		if err != nil {
			t.Fatalf("davgate.yaml of deploy/k8s/configmap.yaml: %v", err)
		}
		if !strings.HasPrefix(cfg.Store, "redis://") && !strings.HasPrefix(cfg.Store, "rediss://") {
			t.Errorf("store = %q: several replicas need Redis", cfg.Store)
		}
		if cfg.MetricsListen == "" || len(cfg.TrustedProxies) == 0 {
			t.Errorf("metrics_listen %q, trusted_proxies %v: the probes and the ingress need both", cfg.MetricsListen, cfg.TrustedProxies)
		}
	})
}

// Every deploy/ file or folder the README names exists.
func TestReadmeDeployPathsExist(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range regexp.MustCompile(`deploy/[A-Za-z0-9_./-]*[A-Za-z0-9_-]`).FindAllString(string(b), -1) {
		if seen[p] {
			continue
		}
		seen[p] = true
		if _, err := os.Stat(filepath.Join("../..", p)); err != nil {
			t.Errorf("README names %s: %v", p, err)
		}
	}
	if len(seen) < 10 {
		t.Errorf("README names only %d deploy/ paths: %v", len(seen), seen)
	}
}
