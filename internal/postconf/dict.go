package postconf

// dict is an ordered name=value table: postconf's in-memory copy of main.cf
// (plus -o overrides) or of one master.cf entry's "-o name=value" settings.
// Postfix keeps these in hash tables and so reports on them in hash order;
// we keep insertion order (the order of the file, then of the command line),
// which makes every warning about them deterministic.
type dict struct {
	names  []string
	values map[string]string
}

func newDict() *dict { return &dict{values: map[string]string{}} }

// get returns the value of name.
func (d *dict) get(name string) (string, bool) {
	if d == nil {
		return "", false
	}
	v, ok := d.values[name]
	return v, ok
}

// set stores name=value; an existing name keeps its position.
func (d *dict) set(name, value string) {
	if _, ok := d.values[name]; !ok {
		d.names = append(d.names, name)
	}
	d.values[name] = value
}

// del removes name.
func (d *dict) del(name string) {
	if _, ok := d.values[name]; !ok {
		return
	}
	delete(d.values, name)
	for i, n := range d.names {
		if n == name {
			d.names = append(d.names[:i:i], d.names[i+1:]...)
			break
		}
	}
}

// keys returns a snapshot of the names in order.
func (d *dict) keys() []string {
	if d == nil {
		return nil
	}
	return append([]string(nil), d.names...)
}

// len returns the number of entries.
func (d *dict) len() int {
	if d == nil {
		return 0
	}
	return len(d.names)
}
