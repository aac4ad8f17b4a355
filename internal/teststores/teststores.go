// Package teststores gives the tests of the packages built on sqlstore its
// stores on a migrated database. (The store's own tests cannot import it.)
package teststores

import (
	"context"
	"testing"

	"github.com/iagente/iagente-sdr/impl/sqlstore"
)

// Open opens the database at url, migrates it, and returns its stores,
// closed when the test ends.
func Open(t testing.TB, url string) *sqlstore.Stores {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return sqlstore.NewStores(db)
}
