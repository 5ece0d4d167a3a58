package dict

import "os"

// environTable is Postfix's environ:name table: a key is looked up as the
// name of an environment variable of the process. The name after
// "environ:" is not used.
type environTable struct {
	name   string
	lookup func(string) (string, bool)
}

func openEnviron(r *Registry, name string) (Table, error) {
	lookup := r.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	return &environTable{name: name, lookup: lookup}, nil
}

func (e *environTable) Type() string { return "environ" }
func (e *environTable) Name() string { return e.name }
func (e *environTable) Flags() Flags { return Fixed }
func (e *environTable) Lookup(key string) (string, bool, error) {
	v, ok := e.lookup(key)
	return v, ok, nil
}
