package config

import (
	"errors"
	"io/fs"
)

// LoadOffline is Load for checking a configuration away from where it runs, in CI say: the
// subject key is not required, and a file the configuration names (subject_key_file,
// http.token_file, the TLS CA, certificate and key) that does not exist here is no problem;
// each such file is returned in absent, as "field: path". A named file that does exist is read
// and checked as Load does, and every other rule applies. On error the configuration is nil.
func LoadOffline(path string, getenv func(string) string) (c *Config, absent []string, err error) {
	data, err := readFile(path, maxConfigSize)
	if err != nil {
		return nil, nil, err
	}
	c, err = Parse(data)
	if err != nil {
		return nil, nil, err
	}
	var all problems
	all.addErr(c.ApplyEnv(getenv))
	all.addErr(c.Validate())
	all.addErr(c.Resolve())
	var p problems
	for _, e := range all {
		var fe *FieldError
		var pe *fs.PathError
		if errors.As(e, &fe) && errors.As(e, &pe) && errors.Is(pe, fs.ErrNotExist) {
			absent = append(absent, fe.Field+": "+pe.Path)
			continue
		}
		p = append(p, e)
	}
	if err := p.join(); err != nil {
		return nil, absent, err
	}
	return c, absent, nil
}
