// Package testscript runs the project's command scenarios: one directory of
// .txtar scripts per command (postconf/, postcat/, qmqpd/, ...).
//
// Scripts run the project's commands in-process (registered in TestMain) and,
// under the [postfix] condition, the real Postfix 3.7.11 binaries for
// comparison. UPDATE_SCRIPTS=1 rewrites expected output inside the scripts.
package testscript

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/qmqpd-go/qmqpd/internal/testenv"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, commands())
}

// TestScripts runs every scenario directory below testscript/.
func TestScripts(t *testing.T) {
	dirs, err := filepath.Glob("*")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || dir == "testdata" {
			continue
		}
		t.Run(dir, func(t *testing.T) {
			testscript.Run(t, params(dir))
		})
	}
}

func params(dir string) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		UpdateScripts:       os.Getenv("UPDATE_SCRIPTS") != "",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("TZ", "UTC")
			env.Setenv("LANG", "C")
			env.Setenv("REAL_POSTCONF", testenv.RealPostconf)
			env.Setenv("REAL_POSTCAT", testenv.RealPostcat)
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "postfix":
				// Scripts that compare with real Postfix; in CI a missing
				// Postfix is an error, not a skip.
				if !testenv.HavePostfix() && testenv.Required() {
					return false, errMissingPostfix
				}
				return testenv.HavePostfix(), nil
			case "root":
				return os.Geteuid() == 0, nil
			}
			return false, errUnknownCondition(cond)
		},
	}
}
