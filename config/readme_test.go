package config

import (
	"bytes"
	"os"
	"regexp"
	"testing"
)

// Every TOML example in the README must load, so a key renamed in the code but not in the README
// fails here. An example showing one section only gets a connection to stand beside.
func TestReadmeExamplesLoad(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```toml\n(.*?)```").FindAllSubmatch(readme, -1)
	if len(blocks) < 3 {
		t.Fatalf("found %d TOML examples in README.md; the pattern no longer matches its code fences", len(blocks))
	}
	for i, b := range blocks {
		example := b[1]
		if !bytes.Contains(example, []byte("[connections.")) {
			example = append([]byte("[connections.database]\ndriver = \"database\"\n"), example...)
		}
		if _, err := Parse(example, func(string) (string, bool) { return "", false }); err != nil {
			t.Errorf("README TOML example %d does not load:\n%s\nerror: %v", i+1, b[1], err)
		}
	}
}
