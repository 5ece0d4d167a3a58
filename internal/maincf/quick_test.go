package maincf

import "testing"

func TestQuickExpand(t *testing.T) {
	vals := map[string]string{"x": "X", "e": ""}
	lk := func(n string) (string, bool) { v, ok := vals[n]; return v, ok }
	for in, want := range map[string]string{
		"[$x] [${x}] [$(x)] [$x_y] [${x}_y] [$$x] [$$$x] [a$$]":      "[X] [X] [X] [] [X_y] [$x] [$X] [a$]",
		"${x?yes} ${e?yes} ${undef?yes} ${x:no} ${e:no} ${undef:no}": "yes    no no",
		"${x?${e:{inner}}}":    "inner",
		"${{3.6} >=level {2}}": "true",
	} {
		got, err := Expand(in, lk)
		if err != nil || got != want {
			t.Errorf("Expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
