package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// secretName is a field name that suggests a secret.
var secretName = regexp.MustCompile(`(?i)password|token|secret|key`)

// notSecret are the fields whose name suggests a secret but which hold
// none, each with the reason:
//   - a name ending in "File" is the path of a file holding a secret (or a
//     TLS key): the path is not secret, Resolve or the TLS client reads the
//     file, and check-config prints the path to help find it;
//   - a name starting with "Has" is a bool saying whether the secret was
//     given;
//   - KeyPrefix is the prefix of the store's Redis keys.
func notSecret(f reflect.StructField) bool {
	switch {
	case strings.HasSuffix(f.Name, "File") && f.Type.Kind() == reflect.String:
		return true
	case strings.HasPrefix(f.Name, "Has") && f.Type.Kind() == reflect.Bool:
		return true
	case f.Name == "KeyPrefix":
		return true
	}
	return false
}

var secretTypes = []reflect.Type{reflect.TypeFor[Secret](), reflect.TypeFor[SecretKey]()}

// walkFields calls fn for every field of struct type t and of the structs
// it holds (through slices, arrays, pointers and maps), with its path.
func walkFields(t reflect.Type, path string, fn func(path string, f reflect.StructField)) {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		walkFields(t.Elem(), path+"[]", fn)
	case reflect.Struct:
		if t.PkgPath() != reflect.TypeFor[Config]().PkgPath() {
			return // time.Location, Date: not configuration structs
		}
		for f := range t.Fields() {
			p := f.Name
			if path != "" {
				p = path + "." + f.Name
			}
			fn(p, f)
			walkFields(f.Type, p, fn)
		}
	}
}

// TestSecretFieldsAreSecrets fails when a field of Config whose name
// suggests a secret is not of a type that never prints it, so a new
// password or token cannot be added as a plain string.
func TestSecretFieldsAreSecrets(t *testing.T) {
	found := 0
	walkFields(reflect.TypeFor[Config](), "", func(path string, f reflect.StructField) {
		if !secretName.MatchString(f.Name) || notSecret(f) {
			return
		}
		found++
		if slices.Contains(secretTypes, f.Type) {
			return
		}
		t.Errorf("%s is a %s: a field named like a secret must be a Secret or a SecretKey (or, if it holds none, be listed in notSecret with the reason)", path, f.Type)
	})
	if found < 4 { // the two passwords, the API token, the subject key
		t.Errorf("found %d secret fields, want at least 4: the walk is broken", found)
	}
}

// TestSecretsNeverShow sets every Secret and SecretKey field of a Config,
// found by reflection, and checks that no way of printing or encoding the
// configuration shows one.
func TestSecretsNeverShow(t *testing.T) {
	c := Default()
	var values []string
	var set func(v reflect.Value)
	set = func(v reflect.Value) {
		for _, fv := range v.Fields() {
			switch fv.Type() {
			case reflect.TypeFor[Secret]():
				s := fmt.Sprintf("s3cret-%d", len(values))
				fv.SetString(s)
				values = append(values, s)
				continue
			case reflect.TypeFor[SecretKey]():
				var k SecretKey
				for j := range k {
					k[j] = byte(0xa0 + j)
				}
				fv.Set(reflect.ValueOf(k))
				values = append(values, "a0a1a2a3", "a0 a1 a2 a3", "160 161 162 163")
				continue
			}
			if fv.Kind() == reflect.Struct && fv.Type().PkgPath() == reflect.TypeFor[Config]().PkgPath() {
				set(fv)
			}
		}
	}
	set(reflect.ValueOf(c).Elem())
	if len(values) < 6 {
		t.Fatalf("set %d secrets, want the two passwords, the API token and the subject key", len(values))
	}
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{
		"String": c.String(), "%v": fmt.Sprintf("%v", *c), "%+v": fmt.Sprintf("%+v", *c), "%#v": fmt.Sprintf("%#v", *c),
		"%+v kafka": fmt.Sprintf("%+v", c.Kafka), "%#v kafka": fmt.Sprintf("%#v", c.Kafka),
		"%+v redis": fmt.Sprintf("%+v", c.Redis), "%#v redis": fmt.Sprintf("%#v", c.Redis),
		"%x key": fmt.Sprintf("%x", c.SubjectKey), "%v key": fmt.Sprintf("%v", c.SubjectKey),
		"%d key": fmt.Sprintf("%d", c.SubjectKey), "%s token": c.APIToken.String(),
		"json": string(j),
	} {
		for _, s := range values {
			if strings.Contains(out, s) {
				t.Errorf("%s shows %q:\n%s", name, s, out)
			}
		}
	}
	if got := fmt.Sprintf("%v|%v|%x", Secret("x"), Secret(""), SecretKey{}); got != "<redacted>||" {
		t.Errorf("Secret and SecretKey print as %q, want \"<redacted>||\"", got)
	}
}
