package validate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Kustomization is the part of a kustomization.yaml the base uses; any
// other field is an error, so a typo cannot pass for a feature.
type Kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"`
	Resources  []string `json:"resources"`
	Labels     []struct {
		Pairs map[string]string `json:"pairs"`
	} `json:"labels,omitempty"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
	} `json:"images,omitempty"`
}

// Set is every object of a directory tree of manifests, by kind and then
// by name.
type Set struct {
	Deployments     map[string]*appsv1.Deployment
	StatefulSets    map[string]*appsv1.StatefulSet
	Services        map[string]*corev1.Service
	ConfigMaps      map[string]*corev1.ConfigMap
	Secrets         map[string]*corev1.Secret
	PDBs            map[string]*policyv1.PodDisruptionBudget
	NetworkPolicies map[string]*networkingv1.NetworkPolicy
	// Files maps each manifest's path (relative to the root) to its kind.
	Files map[string]string
	// Kustomizations by directory (relative to the root, "." for it).
	Kustomizations map[string]*Kustomization
}

// Load strictly decodes every .yaml file under root, one object a file,
// except those under skip (a directory name such as "validate").
func Load(root string, skip ...string) (*Set, error) {
	s := newSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			for _, sk := range skip {
				if d.Name() == sk {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".yml") {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := s.add(rel, b); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		return nil
	})
	return s, err
}

func newSet() *Set {
	return &Set{
		Deployments: map[string]*appsv1.Deployment{}, StatefulSets: map[string]*appsv1.StatefulSet{},
		Services: map[string]*corev1.Service{}, ConfigMaps: map[string]*corev1.ConfigMap{},
		Secrets: map[string]*corev1.Secret{}, PDBs: map[string]*policyv1.PodDisruptionBudget{},
		NetworkPolicies: map[string]*networkingv1.NetworkPolicy{},
		Files:           map[string]string{}, Kustomizations: map[string]*Kustomization{},
	}
}

// add decodes one file into the type its kind names.
func (s *Set) add(rel string, b []byte) error {
	if strings.Contains(string(b), "\n---") {
		return fmt.Errorf("one object a file, please")
	}
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(b, &tm); err != nil {
		return err
	}
	if filepath.Base(rel) == "kustomization.yaml" {
		k := &Kustomization{}
		if err := strictDecode(b, k); err != nil {
			return err
		}
		s.Kustomizations[filepath.Dir(rel)] = k
		return nil
	}
	s.Files[rel] = tm.Kind
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		return put(b, s.Deployments)
	case "apps/v1 StatefulSet":
		return put(b, s.StatefulSets)
	case "v1 Service":
		return put(b, s.Services)
	case "v1 ConfigMap":
		return put(b, s.ConfigMaps)
	case "v1 Secret":
		return put(b, s.Secrets)
	case "policy/v1 PodDisruptionBudget":
		return put(b, s.PDBs)
	case "networking.k8s.io/v1 NetworkPolicy":
		return put(b, s.NetworkPolicies)
	default:
		return fmt.Errorf("kind %q of %q is not one this base uses", tm.Kind, tm.APIVersion)
	}
}

// put strictly decodes b into a new T and files it under its name; a name
// used twice for one kind is an error.
func put[T any, PT interface {
	*T
	GetName() string
}](b []byte, m map[string]PT) error {
	o := PT(new(T))
	if err := strictDecode(b, o); err != nil {
		return err
	}
	name := o.GetName()
	if name == "" {
		return fmt.Errorf("no metadata.name")
	}
	if _, dup := m[name]; dup {
		return fmt.Errorf("a second object named %q of this kind", name)
	}
	m[name] = o
	return nil
}

// strictDecode decodes YAML into v as the API server would in strict mode:
// field names match exactly (encoding/json alone ignores case, so
// readOnlyRootFileSystem would pass for readOnlyRootFilesystem), and an
// unknown or repeated field is an error.
func strictDecode(b []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(b)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, v, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}
