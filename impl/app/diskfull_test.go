package app_test

// A database whose disk fills up: writes are answered 503 with Retry-After
// (not 500), reads go on, nothing stored is lost, and the same writes
// succeed once there is room again. The disk is a real one, a small tmpfs
// mounted for the test, filled by a file.

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountSmallDisk mounts a tmpfs of size bytes owned by uid:gid on a fresh
// directory, unmounted when the test ends. It skips where mounting is not
// allowed (not root).
func mountSmallDisk(t *testing.T, size int64, uid, gid int) string {
	t.Helper()
	// Not under t.TempDir, whose parent only root may enter: the cluster's
	// user must reach its tablespace.
	dir, err := os.MkdirTemp("", "sdr-full-disk-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(dir) })
	opts := fmt.Sprintf("size=%d,mode=0700,uid=%d,gid=%d", size, uid, gid)
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("mounting a small tmpfs to fill needs root: %v", err)
		}
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			// Something still holds a file there: detach it now, the
			// kernel frees it when the last one is closed.
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// fillDisk writes zeros to a file in dir until the disk has no room left,
// and returns a function that removes it.
func fillDisk(t *testing.T, dir string) func() {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			break
		}
	}
	// The last partial chunk, byte by page, so that not even a page is left.
	small := make([]byte, 4096)
	for {
		if _, err := f.Write(small); err != nil {
			break
		}
	}
	f.Close()
	removed := false
	t.Cleanup(func() {
		if !removed {
			os.Remove(path)
		}
	})
	return func() {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		removed = true
	}
}

// fullDiskDatabases returns a SQLite file and, when PostgreSQL is
// configured, a database in a tablespace, each on its own small disk.
func fullDiskDatabases(t *testing.T) map[string]struct{ url, disk string } {
	t.Helper()
	out := map[string]struct{ url, disk string }{}
	disk := mountSmallDisk(t, 16<<20, os.Getuid(), os.Getgid())
	out["sqlite"] = struct{ url, disk string }{"sqlite:" + filepath.Join(disk, "sdr.db"), disk}

	admin := os.Getenv("TEST_POSTGRES_URL")
	if admin == "" {
		if os.Getenv("REQUIRE_POSTGRES") == "1" {
			t.Fatal("REQUIRE_POSTGRES=1 but TEST_POSTGRES_URL is not set")
		}
		t.Log("TEST_POSTGRES_URL is not set: PostgreSQL skipped")
		return out
	}
	adminDB, err := sql.Open("postgres", admin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { adminDB.Close() })
	// The tablespace's directory must belong to the cluster's own user.
	var dataDir string
	if err := adminDB.QueryRow("SHOW data_directory").Scan(&dataDir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dataDir)
	if err != nil {
		t.Skipf("the cluster's data directory is not on this machine (%v): PostgreSQL skipped", err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	// A new database copies template1 into its tablespace (about 8 MB).
	pgDisk := mountSmallDisk(t, 48<<20, int(st.Uid), int(st.Gid))
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "full_" + hex.EncodeToString(b)
	if _, err := adminDB.Exec(fmt.Sprintf("CREATE TABLESPACE %s LOCATION '%s'", name, pgDisk)); err != nil {
		t.Fatal(err)
	}
	if _, err := adminDB.Exec(fmt.Sprintf("CREATE DATABASE %s TABLESPACE %s", name, name)); err != nil {
		t.Fatal(err)
	}
	// Before the disk is unmounted (cleanups run last first).
	t.Cleanup(func() {
		if _, err := adminDB.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Logf("drop database: %v", err)
		}
		if _, err := adminDB.Exec("DROP TABLESPACE IF EXISTS " + name); err != nil {
			t.Logf("drop tablespace: %v", err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	out["postgres"] = struct{ url, disk string }{u.String(), pgDisk}
	return out
}

// TestFullDisk fills the database's disk under a running service.
func TestFullDisk(t *testing.T) {
	for name, d := range fullDiskDatabases(t) {
		t.Run(name, func(t *testing.T) {
			e := startOutageApp(t, d.url)
			var first struct {
				ID   int64  `json:"id"`
				Name string `json:"name"`
			}
			res, b, _ := e.do(t, "POST", "/api/v1/leads", `{"name":"Antes","phone":"5511988880000"}`)
			if res.StatusCode != http.StatusCreated || json.Unmarshal(b, &first) != nil {
				t.Fatalf("before the disk filled: %d %s", res.StatusCode, b)
			}
			free := fillDisk(t, d.disk)

			// A database may still find room in pages it has (PostgreSQL's
			// relations, SQLite's write-ahead log after a checkpoint):
			// writes succeed until one needs more disk.
			stored, refusedAt := 1, -1
			for i := 1; i <= 2000 && refusedAt < 0; i++ {
				res, b, _ := e.do(t, "POST", "/api/v1/leads", fmt.Sprintf(`{"phone":"55119888%05d"}`, i),
					"Idempotency-Key", fmt.Sprintf("full-%d", i))
				switch res.StatusCode {
				case http.StatusCreated:
					stored++
				case http.StatusServiceUnavailable:
					wantUnavailable(t, "POST /leads on a full disk", res, b)
					refusedAt = i
				default:
					t.Fatalf("POST /leads %d on a full disk: %d %s", i, res.StatusCode, b)
				}
			}
			if refusedAt < 0 {
				t.Fatalf("2,000 leads were stored on a full disk")
			}
			t.Logf("on the full disk, %d leads were stored before one was refused", stored-1)
			for _, line := range strings.Split(e.logs.String(), "\n") {
				if strings.Contains(line, "database unavailable") {
					t.Logf("the log said: %s", line)
					break
				}
			}
			res, b, _ = e.do(t, "PATCH", fmt.Sprintf("/api/v1/leads/%d", first.ID), `{"name":"Depois"}`)
			if res.StatusCode != http.StatusServiceUnavailable && res.StatusCode != http.StatusOK {
				t.Errorf("PATCH on a full disk: %d %s", res.StatusCode, b)
			}
			patched := res.StatusCode == http.StatusOK
			res, b, _ = e.do(t, "GET", fmt.Sprintf("/api/v1/leads/%d", first.ID), "")
			if res.StatusCode != http.StatusOK {
				t.Errorf("GET /leads/{id} on a full disk: %d %s", res.StatusCode, b)
			}
			if res, b, _ := e.do(t, "GET", "/readyz", ""); res.StatusCode != http.StatusOK {
				t.Errorf("/readyz on a full disk (reads work): %d %s", res.StatusCode, b)
			}

			free()
			// The refused request, retried with its key, runs once there
			// is room: it was not half-done.
			var retried *http.Response
			if !eventually(15*time.Second, func() bool {
				retried, b, _ = e.do(t, "POST", "/api/v1/leads", fmt.Sprintf(`{"phone":"55119888%05d"}`, refusedAt),
					"Idempotency-Key", fmt.Sprintf("full-%d", refusedAt))
				return retried.StatusCode != http.StatusServiceUnavailable && retried.StatusCode != http.StatusConflict
			}) || retried.StatusCode != http.StatusCreated || retried.Header.Get("Idempotent-Replayed") != "" {
				t.Fatalf("the refused lead after the disk was freed: %d %s", retried.StatusCode, b)
			}
			stored++
			var list struct {
				Meta struct{ Total int } `json:"meta"`
			}
			res, b, _ = e.do(t, "GET", "/api/v1/leads?per_page=1", "")
			if res.StatusCode != http.StatusOK || json.Unmarshal(b, &list) != nil || list.Meta.Total != stored {
				t.Errorf("after the disk was freed: %d %s; want %d leads", res.StatusCode, b, stored)
			}
			var again struct{ Name string }
			res, b, _ = e.do(t, "GET", fmt.Sprintf("/api/v1/leads/%d", first.ID), "")
			if res.StatusCode != http.StatusOK || json.Unmarshal(b, &again) != nil || (!patched && again.Name != first.Name) {
				t.Errorf("the lead stored before: %d %s", res.StatusCode, b)
			}
		})
	}
}
