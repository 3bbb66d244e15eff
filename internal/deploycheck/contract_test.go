package deploycheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var (
	// contractCite is how code cites a section of the contract.
	contractCite = regexp.MustCompile(`CONTRACT §(\d+)`)
	// contractSection is a numbered section heading of docs/contract.md.
	contractSection = regexp.MustCompile(`(?m)^## (\d+)\. \S`)
)

// TestContractSectionsCited: every "CONTRACT §N" in the Go code names a
// numbered section of docs/contract.md, and the sections are numbered 1, 2,
// 3, … in order, so that a citation cannot point at a section that is not
// there or has moved.
func TestContractSectionsCited(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "docs", "contract.md"))
	if err != nil {
		t.Fatal(err)
	}
	var sections []string
	for _, m := range contractSection.FindAllStringSubmatch(string(doc), -1) {
		sections = append(sections, m[1])
	}
	for i, n := range sections {
		if want := strconv.Itoa(i + 1); n != want {
			t.Errorf("docs/contract.md: section %d is numbered %s; number them 1, 2, 3, … in order", i+1, n)
		}
	}
	cited := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range contractCite.FindAllStringSubmatch(string(src), -1) {
			cited++
			if !slices.Contains(sections, m[1]) {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s cites CONTRACT §%s, which docs/contract.md does not have (sections %v)", rel, m[1], sections)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if cited < 10 || len(sections) < 8 {
		t.Errorf("found %d citations and %d sections: the walk or the patterns are broken", cited, len(sections))
	}
}
