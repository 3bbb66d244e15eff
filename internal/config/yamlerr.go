package config

import (
	"errors"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// go.yaml.in/yaml/v3 (the maintained successor of gopkg.in/yaml.v3) still
// reports decoding problems only as the strings of *yaml.TypeError, in
// yaml.v3's words ("line N: field x not found in type T", "line N: mapping
// key "x" already defined at line M"): v3.0.6 has no typed error carrying
// the line (checked in its source: TypeError{Errors []string} is all). So
// the lines are still split with these patterns; the tests of
// config_test.go pin the messages that come out, so a change of wording in
// an upgrade fails them.
var (
	// yamlLine splits one message of a *yaml.TypeError.
	yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)
	// yamlUnknown is the message yaml gives an unknown key under KnownFields.
	yamlUnknown = regexp.MustCompile(`^field (.*) not found in type \S+$`)

	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

// describeYAMLError turns an error of the YAML decoder into problems that
// name the field path and the line, for example
//
//	kafka.tls.enabeld: unknown key (line 9)
//
// yaml.v3 names only the Go type of the mapping holding an unknown key, so
// the document is walked again to find each key's path.
func describeYAMLError(data []byte, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return &msgError{msg: strings.TrimPrefix(err.Error(), "yaml: "), err: ErrSyntax}
	}
	var root yaml.Node
	paths := newPathIndex()
	if yaml.Unmarshal(data, &root) == nil {
		paths.walk(&root, reflect.TypeFor[Config](), "")
	}
	var p problems
	for _, msg := range te.Errors {
		m := yamlLine.FindStringSubmatch(msg)
		if m == nil {
			p.addErr(&msgError{msg: msg, err: ErrInvalid})
			continue
		}
		line, _ := strconv.Atoi(m[1])
		rest := m[2]
		if u := yamlUnknown.FindStringSubmatch(rest); u != nil {
			if path, ok := paths.unknown[lineKey{line, u[1]}]; ok {
				p.add(path, ErrUnknownKey, "unknown key (line %d)", line)
			} else {
				p.addErr(&lineError{line: line, msg: "unknown key " + strconv.Quote(u[1]), err: ErrUnknownKey})
			}
			continue
		}
		sentinel := ErrInvalid
		if strings.HasPrefix(rest, "mapping key ") {
			sentinel = ErrDuplicate // "mapping key "x" already defined at line N"
		}
		if path, ok := paths.valueAt(line, rest); ok {
			p.add(path, sentinel, "%s (line %d)", rest, line)
		} else {
			p.addErr(&lineError{line: line, msg: rest, err: sentinel})
		}
	}
	return p.join()
}

// valueInfo is a value of the document and its path.
type valueInfo struct {
	path   string
	scalar bool
	value  string
}

type lineKey struct {
	line int
	key  string
}

// pathIndex maps positions in a YAML document to configuration field paths.
type pathIndex struct {
	// unknown maps a key that the configuration lacks to its path.
	unknown map[lineKey]string
	// values maps a line to the values that start on it.
	values map[int][]valueInfo
	// seen stops the walk from visiting a node twice (aliases), which also
	// bounds it on "billion laughs" documents.
	seen map[*yaml.Node]bool
}

func newPathIndex() *pathIndex {
	return &pathIndex{
		unknown: map[lineKey]string{},
		values:  map[int][]valueInfo{},
		seen:    map[*yaml.Node]bool{},
	}
}

// walk visits n, decoded into a value of type t at path.
func (x *pathIndex) walk(n *yaml.Node, t reflect.Type, path string) {
	if n == nil || x.seen[n] {
		return
	}
	x.seen[n] = true
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			x.walk(c, t, path)
		}
		return
	case yaml.AliasNode:
		x.walk(n.Alias, t, path)
		return
	}
	if path != "" {
		x.values[n.Line] = append(x.values[n.Line], valueInfo{path, n.Kind == yaml.ScalarNode, n.Value})
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Value == "<<" {
				x.walkMerge(v, t, path)
				continue
			}
			sub := joinPath(path, k.Value)
			if ft, ok := fields[k.Value]; ok {
				x.walk(v, ft, sub)
			} else {
				x.unknown[lineKey{k.Line, k.Value}] = sub
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			x.walk(c, t.Elem(), path+"["+strconv.Itoa(i)+"]")
		}
	}
}

// walkMerge visits the value of a merge key "<<": a mapping, an alias of
// one, or a sequence of those.
func (x *pathIndex) walkMerge(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.SequenceNode {
		for _, c := range n.Content {
			x.walk(c, t, path)
		}
		return
	}
	x.walk(n, t, path)
}

// valueAt returns the path of the value on line that msg is about: the
// deepest one when the values there are nested (as "redis" and "redis.db"
// are on the first line of the mapping under "redis"), else the only
// scalar whose text msg quotes (yaml.v3 writes "cannot unmarshal !!str
// `maybe` into bool"), as in a flow mapping.
func (x *pathIndex) valueAt(line int, msg string) (string, bool) {
	at := x.values[line]
	if len(at) == 0 {
		return "", false
	}
	deepest := at[0]
	for _, v := range at[1:] {
		if len(v.path) > len(deepest.path) {
			deepest = v
		}
	}
	nested := true
	for _, v := range at {
		if v.path != deepest.path && !strings.HasPrefix(deepest.path, v.path+".") && !strings.HasPrefix(deepest.path, v.path+"[") {
			nested = false
		}
	}
	if nested {
		return deepest.path, true
	}
	found := ""
	for _, v := range at {
		if v.scalar && strings.Contains(msg, "`"+v.value+"`") {
			if found != "" {
				return "", false
			}
			found = v.path
		}
	}
	return found, found != ""
}

// yamlFields maps the YAML keys of struct type t to the types of its fields.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := make(map[string]reflect.Type, t.NumField())
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
