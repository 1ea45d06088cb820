package validate

import (
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// The base builds as `kubectl apply -k deploy/k8s` builds it (kustomize's
// own library, offline), into exactly the manifests the directory holds
// (the keyring Secret left out), each strictly valid, in namespace davgate,
// with the image the base's images: names.
func TestKustomizeBuild(t *testing.T) {
	files := load(t)
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), root)
	if err != nil {
		t.Fatalf("kustomize build deploy/k8s: %v", err)
	}
	built := newSet()
	for _, r := range m.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		name := r.GetKind() + "/" + r.GetName()
		if err := built.add(name, b); err != nil {
			t.Errorf("built %s: %v", name, err)
		}
		if r.GetNamespace() != "davgate" {
			t.Errorf("built %s in namespace %q, want davgate", name, r.GetNamespace())
		}
		if r.GetLabels()["app.kubernetes.io/part-of"] != "davgate" {
			t.Errorf("built %s lacks the label app.kubernetes.io/part-of: davgate", name)
		}
	}
	if want := len(files.Files) - 1; len(built.Files) != want {
		t.Errorf("the build holds %d objects, the directory %d besides the keyring Secret", len(built.Files), want)
	}
	if _, ok := built.Secrets["davgate-keyring"]; ok {
		t.Errorf("the build holds the keyring Secret: applying it would replace the real keyring")
	}
	base := files.Kustomizations["."]
	img := built.Deployments["davgate"].Spec.Template.Spec.Containers[0].Image
	if want := base.Images[0].NewName + ":" + base.Images[0].NewTag; img != want || strings.Contains(img, "localhost") {
		t.Errorf("built image = %q, want %q", img, want)
	}
}
