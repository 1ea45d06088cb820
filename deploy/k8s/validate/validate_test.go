package validate

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// root is deploy/k8s, the kustomize base.
const root = ".."

func load(t *testing.T) *Set {
	t.Helper()
	s, err := Load(root, "validate")
	if err != nil {
		t.Fatalf("load deploy/k8s: %v", err)
	}
	return s
}

// davgate is the one Deployment of the base.
func davgate(t *testing.T, s *Set) *appsv1.Deployment {
	t.Helper()
	d, ok := s.Deployments["davgate"]
	if !ok || len(s.Deployments) != 1 {
		t.Fatalf("want one Deployment, davgate; have %v", keys(s.Deployments))
	}
	return d
}

// Every manifest is listed by its directory's kustomization, every listed
// resource exists, and only the keyring Secret is left out (applying the
// base must never overwrite the real keyring).
func TestKustomizationListsEveryManifest(t *testing.T) {
	s := load(t)
	listed := map[string]bool{}
	for dir, k := range s.Kustomizations {
		if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
			t.Errorf("%s/kustomization.yaml: %s %s", dir, k.APIVersion, k.Kind)
		}
		for _, r := range k.Resources {
			p := filepath.Join(dir, r)
			if st, err := os.Stat(filepath.Join(root, p)); err != nil {
				t.Errorf("%s/kustomization.yaml lists %s: %v", dir, r, err)
			} else if st.IsDir() && s.Kustomizations[p] == nil {
				t.Errorf("%s/kustomization.yaml lists %s, which has no kustomization.yaml", dir, r)
			}
			listed[p] = true
		}
	}
	for f := range s.Files {
		if !listed[f] && f != "keyring-secret.yaml" {
			t.Errorf("%s is in no kustomization's resources", f)
		}
	}
	if listed["keyring-secret.yaml"] {
		t.Errorf("keyring-secret.yaml is a resource: kubectl apply -k would replace the real keyring with the example")
	}
	if base := s.Kustomizations["."]; base == nil || len(base.Images) != 1 || base.Images[0].Name != davgate(t, s).Spec.Template.Spec.Containers[0].Image {
		t.Errorf("the base's images: must set the davgate container's image")
	}
}

// Three replicas, probes on /readyz and /healthz, resources, and a
// non-root container on a read-only root with no capabilities.
func TestDeployment(t *testing.T) {
	d := davgate(t, load(t))
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas = %v, want 3", ptrString(d.Spec.Replicas))
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("the selector %v does not select the pod template's labels %v (%v)", d.Spec.Selector, d.Spec.Template.Labels, err)
	}
	pod := d.Spec.Template.Spec
	if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and a non-zero runAsUser", psc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("automountServiceAccountToken must be false: davgate does not talk to the API server")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	checkProbe(t, "readiness", c.ReadinessProbe, "/readyz", c)
	checkProbe(t, "liveness", c.LivenessProbe, "/healthz", c)
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container securityContext %+v: want readOnlyRootFilesystem, runAsNonRoot, no privilege escalation, all capabilities dropped", sc)
	}
}

// checkProbe wants an HTTP GET of path on one of c's named ports.
func checkProbe(t *testing.T, what string, p *corev1.Probe, path string, c corev1.Container) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s probe: want an HTTP GET of %s", what, path)
		return
	}
	if p.HTTPGet.Path != path {
		t.Errorf("%s probe path = %s, want %s", what, p.HTTPGet.Path, path)
	}
	if !hasPort(c, p.HTTPGet.Port) {
		t.Errorf("%s probe port %s is not a port of the container", what, p.HTTPGet.Port.String())
	}
}

func hasPort(c corev1.Container, port intstr.IntOrString) bool {
	for _, p := range c.Ports {
		if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
			return true
		}
	}
	return false
}

// The PodDisruptionBudget, the Service and the NetworkPolicy select the
// Deployment's pods, and name its ports.
func TestSelectorsMatchThePods(t *testing.T) {
	s := load(t)
	d := davgate(t, s)
	pods := labels.Set(d.Spec.Template.Labels)
	c := d.Spec.Template.Spec.Containers[0]

	pdb, ok := s.PDBs["davgate"]
	if !ok {
		t.Fatalf("no PodDisruptionBudget davgate")
	}
	if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err != nil || sel.Empty() || !sel.Matches(pods) {
		t.Errorf("the PodDisruptionBudget's selector %v does not select davgate's pods (%v)", pdb.Spec.Selector, err)
	}
	if m := pdb.Spec.MinAvailable; m == nil || m.Type != intstr.Int || m.IntVal < 1 || m.IntVal >= *d.Spec.Replicas {
		t.Errorf("PodDisruptionBudget minAvailable = %v: want 1 to replicas-1, so that a node drain can go on", m)
	}

	svc, ok := s.Services["davgate"]
	if !ok || !labels.SelectorFromSet(svc.Spec.Selector).Matches(pods) || len(svc.Spec.Selector) == 0 {
		t.Fatalf("Service davgate missing or not selecting davgate's pods")
	}
	for _, p := range svc.Spec.Ports {
		if !hasPort(c, p.TargetPort) {
			t.Errorf("Service port %s targets %s, which the container lacks", p.Name, p.TargetPort.String())
		}
	}

	np, ok := s.NetworkPolicies["davgate"]
	if !ok {
		t.Fatalf("no NetworkPolicy davgate")
	}
	if sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector); err != nil || sel.Empty() || !sel.Matches(pods) {
		t.Errorf("NetworkPolicy davgate does not select davgate's pods")
	}
	if !slices.Contains(np.Spec.PolicyTypes, "Ingress") || !slices.Contains(np.Spec.PolicyTypes, "Egress") {
		t.Errorf("NetworkPolicy davgate policyTypes = %v, want Ingress and Egress", np.Spec.PolicyTypes)
	}
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			if p.Port == nil || !hasPort(c, *p.Port) {
				t.Errorf("NetworkPolicy davgate admits port %v, which the container lacks", p.Port)
			}
		}
	}
}

// davgateYAML is the part of davgate.yaml the manifests depend on
// (cmd/davgate's TestDeployConfigsLoad loads all of it with davgate's
// own loader).
type davgateYAML struct {
	Listen        string `json:"listen"`
	MetricsListen string `json:"metrics_listen"`
	MasterKeyFile string `json:"master_key_file"`
	Store         string `json:"store"`
	Shutdown      struct {
		Drain   string `json:"drain"`
		Cleanup string `json:"cleanup"`
	} `json:"shutdown"`
}

// stopTime is how long davgate may take to stop after SIGTERM:
// shutdown.drain plus shutdown.cleanup (defaults 60 s and 15 s).
func (c davgateYAML) stopTime(t *testing.T) time.Duration {
	t.Helper()
	total := time.Duration(0)
	for _, d := range []struct{ v, def string }{{c.Shutdown.Drain, "60s"}, {c.Shutdown.Cleanup, "15s"}} {
		if d.v == "" {
			d.v = d.def
		}
		v, err := time.ParseDuration(d.v)
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
		total += v
	}
	return total
}

// The ConfigMap's davgate.yaml is where the container's --config names it,
// its keyring is where the Secret is mounted, its listeners are the
// container's ports, and its store is Redis (several replicas share it).
func TestConfigAndKeyringMounts(t *testing.T) {
	s := load(t)
	d := davgate(t, s)
	c := d.Spec.Template.Spec.Containers[0]
	mounts := map[string]corev1.Volume{} // mount path -> volume
	for _, m := range c.VolumeMounts {
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == m.Name {
				mounts[m.MountPath] = v
				if !m.ReadOnly {
					t.Errorf("volume %s is mounted read-write", m.Name)
				}
			}
		}
	}
	cfgPath := argAfter(c.Args, "--config")
	vol, ok := mounts[path.Dir(cfgPath)]
	if !ok || vol.ConfigMap == nil {
		t.Fatalf("--config %q is not in a mounted ConfigMap", cfgPath)
	}
	cm, ok := s.ConfigMaps[vol.ConfigMap.Name]
	if !ok {
		t.Fatalf("ConfigMap %s is not in the base", vol.ConfigMap.Name)
	}
	text, ok := cm.Data[path.Base(cfgPath)]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %s", cm.Name, path.Base(cfgPath))
	}
	var cfg davgateYAML
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		t.Fatalf("davgate.yaml in ConfigMap %s: %v", cm.Name, err)
	}
	if !strings.HasPrefix(cfg.Store, "redis://") && !strings.HasPrefix(cfg.Store, "rediss://") {
		t.Errorf("store = %q: three replicas need Redis", cfg.Store)
	}
	for _, l := range []string{cfg.Listen, cfg.MetricsListen} {
		_, port, _ := strings.Cut(l, ":")
		if !hasPort(c, intstr.Parse(port)) {
			t.Errorf("davgate listens on %s, which is not a container port", l)
		}
	}

	pod := d.Spec.Template.Spec
	pause := time.Duration(0)
	if l := c.Lifecycle; l != nil && l.PreStop != nil && l.PreStop.Sleep != nil {
		pause = time.Duration(l.PreStop.Sleep.Seconds) * time.Second
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= pause+cfg.stopTime(t) {
		t.Errorf("terminationGracePeriodSeconds %s: want more than the preStop pause %v plus shutdown.drain and cleanup %v",
			ptrString(g), pause, cfg.stopTime(t))
	}

	kv, ok := mounts[path.Dir(cfg.MasterKeyFile)]
	if !ok || kv.Secret == nil {
		t.Fatalf("master_key_file %s is not in a mounted Secret", cfg.MasterKeyFile)
	}
	if m := kv.Secret.DefaultMode; m == nil || *m&0o077&^0o040 != 0 {
		t.Errorf("keyring Secret defaultMode %v: group may read (fsGroup), no one else", m)
	}
	sec, ok := s.Secrets[kv.Secret.SecretName]
	if !ok {
		t.Fatalf("Secret %s is not shown in deploy/k8s (keyring-secret.yaml)", kv.Secret.SecretName)
	}
	if _, ok := sec.StringData[path.Base(cfg.MasterKeyFile)]; !ok {
		t.Errorf("Secret %s has no key %s", sec.Name, path.Base(cfg.MasterKeyFile))
	}
}

func ptrString[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

func argAfter(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

func keys[V any](m map[string]V) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}

// Redis, when the base runs its own, is reached by davgate only, keeps its
// data on a volume, and runs as non-root too.
func TestRedis(t *testing.T) {
	s := load(t)
	r, ok := s.StatefulSets["davgate-redis"]
	if !ok {
		t.Skip("no Redis StatefulSet: an external Redis")
	}
	if len(r.Spec.VolumeClaimTemplates) == 0 {
		t.Errorf("Redis keeps its data on no volume: a restart would log everyone out")
	}
	if psc := r.Spec.Template.Spec.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("Redis pod runs as root")
	}
	np, ok := s.NetworkPolicies["davgate-redis"]
	if !ok {
		t.Fatalf("no NetworkPolicy for Redis")
	}
	if sel, _ := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector); !sel.Matches(labels.Set(r.Spec.Template.Labels)) {
		t.Errorf("NetworkPolicy davgate-redis does not select Redis's pods")
	}
	davgatePods := labels.Set(davgate(t, s).Spec.Template.Labels)
	for _, rule := range np.Spec.Ingress {
		for _, peer := range rule.From {
			sel, err := metav1.LabelSelectorAsSelector(peer.PodSelector)
			if peer.PodSelector == nil || peer.NamespaceSelector != nil || peer.IPBlock != nil || err != nil || !sel.Matches(davgatePods) {
				t.Errorf("NetworkPolicy davgate-redis admits %+v, not only davgate's pods", peer)
			}
		}
	}
}
