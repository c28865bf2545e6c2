// Package manifestcheck decodes every Kubernetes manifest of deploy/k8s strictly against the API's own
// Go types (core and apps from k8s.io/api, KEDA's ScaledObject, prometheus-operator's ServiceMonitor
// and PrometheusRule, kustomize's Kustomization): an unknown or misspelt field, a wrong type or an
// unregistered kind fails the test. Run: `go test ./...` here, or through tests/ops/manifests.test.ts.
package manifestcheck

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	kustomize "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// manifestsDir is deploy/k8s of the repository (override with MANIFESTS_DIR).
func manifestsDir() string {
	if dir := os.Getenv("MANIFESTS_DIR"); dir != "" {
		return dir
	}
	return filepath.Join("..", "..", "deploy", "k8s")
}

func strictDecoder(t *testing.T) runtime.Decoder {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, kedav1alpha1.AddToScheme, monitoringv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatalf("building the scheme: %v", err)
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}

// documents splits a multi-document YAML file, dropping empty documents (comments only).
func documents(data []byte) ([][]byte, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		var probe map[string]any
		if err := yaml.Unmarshal(doc, &probe); err != nil {
			return nil, err
		}
		if len(probe) > 0 {
			docs = append(docs, doc)
		}
	}
}

// decodeManifest decodes one document: a Kustomization with kustomize's types, anything else with the scheme.
func decodeManifest(decoder runtime.Decoder, doc []byte) (string, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return "", err
	}
	if head.Kind == "Kustomization" {
		var k kustomize.Kustomization
		return head.APIVersion + "/" + head.Kind, yaml.UnmarshalStrict(doc, &k)
	}
	obj, gvk, err := decoder.Decode(doc, nil, nil)
	if err != nil {
		return head.APIVersion + "/" + head.Kind, err
	}
	if _, loose := obj.(runtime.Unstructured); loose {
		return gvk.String(), errors.New("decoded without a registered type")
	}
	return gvk.GroupVersion().String() + "/" + gvk.Kind, nil
}

func TestEveryManifestDecodesStrictly(t *testing.T) {
	decoder := strictDecoder(t)
	kinds := map[string]int{}
	err := filepath.WalkDir(manifestsDir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		docs, err := documents(data)
		if err != nil {
			t.Errorf("%s: not YAML: %v", path, err)
			return nil
		}
		for i, doc := range docs {
			kind, err := decodeManifest(decoder, doc)
			if err != nil {
				t.Errorf("%s (document %d, %s): %v", path, i+1, kind, err)
				continue
			}
			kinds[kind]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The kinds the deployment is made of: a file that went missing, or a kind decoded as something else, fails here.
	for _, want := range []string{
		"apps/v1/Deployment", "v1/Service", "v1/ConfigMap", "v1/Secret", "batch/v1/Job", "v1/Namespace",
		"autoscaling/v2/HorizontalPodAutoscaler", "policy/v1/PodDisruptionBudget", "networking.k8s.io/v1/Ingress",
		"keda.sh/v1alpha1/ScaledObject", "monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule",
		"kustomize.config.k8s.io/v1beta1/Kustomization",
	} {
		if kinds[want] == 0 {
			t.Errorf("no %s among the manifests (found %v)", want, kinds)
		}
	}
	t.Logf("decoded strictly: %v", kinds)
}

// The check itself must be able to fail: a misspelt field, an unknown kind and a wrong type are refused.
func TestStrictDecodingRefusesWhatKubernetesWouldRefuse(t *testing.T) {
	decoder := strictDecoder(t)
	bad := map[string]string{
		"unknown field": "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: x }\nspec:\n  replica: 2\n  selector: { matchLabels: { a: b } }\n  template: { metadata: { labels: { a: b } }, spec: { containers: [{ name: c, image: i }] } }\n",
		"unknown kind":  "apiVersion: apps/v1\nkind: Deploymint\nmetadata: { name: x }\n",
		"wrong type":    "apiVersion: v1\nkind: Service\nmetadata: { name: x }\nspec: { ports: [{ port: eighty }] }\n",
		"KEDA field":    "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: { name: x }\nspec: { scaleTargetRef: { name: w }, maxReplicas: 3, triggers: [] }\n",
		"rule field":    "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: { name: x }\nspec: { groups: [{ name: g, rules: [{ alert: A, expression: up == 0 }] }] }\n",
		"kustomize":     "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresource: [a.yaml]\n",
	}
	for name, doc := range bad {
		if _, err := decodeManifest(decoder, []byte(doc)); err == nil {
			t.Errorf("%s: accepted, should be refused:\n%s", name, doc)
		}
	}
}
