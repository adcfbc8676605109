// Package scalars records how Go's YAML readers resolve plain scalars, for the unit tests of the
// library's model of them (test/validation.test.ts reads scalars.json), and checks that the
// record still holds:
//
//	go test ./...            fails if a reader resolves a value other than scalars.json says
//	UPDATE=1 go test ./...   writes what the readers say into scalars.json (review the diff)
package scalars

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	yamlv2 "go.yaml.in/yaml/v2"
	yamlv3 "go.yaml.in/yaml/v3"
)

// A value, and what each reader makes of it when it is written as a plain (unquoted) scalar.
type scalar struct {
	Value string `json:"value"`
	// The Go type that go.yaml.in/yaml/v2 decodes it to in an interface{}, as sigs.k8s.io/yaml
	// v1.6.0 does before it converts to JSON: "string", "int", "uint64", "float64", "bool" or
	// "<nil>"; "error" when the document does not parse.
	V2 string `json:"v2"`
	// The tag go.yaml.in/yaml/v3 resolves it to ("!!str", "!!int", "!!float"...), or "error".
	V3 string `json:"v3"`
}

func v2(value string) string {
	var doc map[string]interface{}
	if err := yamlv2.Unmarshal([]byte("v: "+value+"\n"), &doc); err != nil {
		return "error"
	}
	v, ok := doc["v"]
	if !ok {
		return "error"
	}
	return fmt.Sprintf("%T", v)
}

func v3(value string) string {
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal([]byte("v: "+value+"\n"), &doc); err != nil {
		return "error"
	}
	if len(doc.Content) != 1 || len(doc.Content[0].Content) != 2 || doc.Content[0].Content[1].Kind != yamlv3.ScalarNode {
		return "error"
	}
	return doc.Content[0].Content[1].ShortTag()
}

func TestScalars(t *testing.T) {
	raw, err := os.ReadFile("scalars.json")
	if err != nil {
		t.Fatal(err)
	}
	var recorded []scalar
	if err := json.Unmarshal(raw, &recorded); err != nil {
		t.Fatal(err)
	}
	if len(recorded) < 100 {
		t.Fatalf("scalars.json has %d values; expected the edge cases and the sample", len(recorded))
	}
	read := make([]scalar, len(recorded))
	for i, s := range recorded {
		read[i] = scalar{Value: s.Value, V2: v2(s.Value), V3: v3(s.Value)}
	}
	if os.Getenv("UPDATE") == "1" {
		var out bytes.Buffer
		out.WriteString("[\n")
		for i, s := range read {
			line, _ := json.Marshal(s)
			out.Write(line)
			if i < len(read)-1 {
				out.WriteString(",")
			}
			out.WriteString("\n")
		}
		out.WriteString("]\n")
		if err := os.WriteFile("scalars.json", out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	for i, s := range read {
		if s != recorded[i] {
			t.Errorf("%q: the readers say v2 %s, v3 %s; scalars.json says v2 %s, v3 %s", s.Value, s.V2, s.V3, recorded[i].V2, recorded[i].V3)
		}
	}
}
