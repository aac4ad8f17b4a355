package app_test

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/internal/syncbuf"
)

// A new SQLite database, and the WAL and shared-memory files SQLite makes
// beside it, are for their owner alone: they hold the organizations' leads
// and messages. One that exists keeps its mode, and when others may read
// it the start says so.
func TestSQLiteDatabaseFileIsPrivate(t *testing.T) {
	// open starts the service on path, runs while (if not nil) and stops
	// it, and returns what it logged.
	open := func(t *testing.T, path string, while func()) string {
		t.Helper()
		logs := &syncbuf.Buffer{}
		cfg := app.Defaults()
		cfg.DatabaseURL = "sqlite:" + path
		cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		cfg.WebhookDispatchOff = true
		a, err := app.Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if while != nil {
			while()
		}
		a.Close()
		return logs.String()
	}
	const warning = "other users of this host may read the SQLite database"

	t.Run("new", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "new.db")
		// While it runs: the migrations wrote through the WAL, and SQLite
		// made its WAL and shared-memory files.
		var seen []string
		logs := open(t, path, func() {
			for _, f := range []string{path, path + "-wal", path + "-shm"} {
				info, err := os.Stat(f)
				if err != nil {
					t.Errorf("%s: %v", filepath.Base(f), err)
					continue
				}
				if mode := info.Mode().Perm(); mode != 0o600 {
					t.Errorf("%s has mode %v, want -rw-------", filepath.Base(f), mode)
					continue
				}
				seen = append(seen, filepath.Base(f))
			}
		})
		if strings.Contains(logs, warning) {
			t.Errorf("a database it created itself was said to be readable: %s", logs)
		}
		t.Logf("private: %v", seen)
	})

	t.Run("existing, readable by others", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "old.db")
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o644); err != nil { // whatever the umask
			t.Fatal(err)
		}
		logs := open(t, path, nil)
		if !strings.Contains(logs, warning) || !strings.Contains(logs, "-rw-r--r--") {
			t.Errorf("no warning for a database others may read: %s", logs)
		}
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if mode := info.Mode().Perm(); mode != fs.FileMode(0o644) {
			t.Errorf("the existing database's mode changed to %v", mode)
		}
	})
}
