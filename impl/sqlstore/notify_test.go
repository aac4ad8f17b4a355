package sqlstore

import (
	"context"
	"testing"
	"time"
)

// receive waits up to 10s for a notification.
func receive(t *testing.T, ch <-chan Notification, what string) Notification {
	t.Helper()
	select {
	case n := <-ch:
		return n
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no notification within 10s", what)
		return Notification{}
	}
}

func TestNotifier(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		n := f.db.NewNotifier(nil)
		t.Cleanup(func() { n.Close() })
		if n.Shared() != (f.db.Dialect() == Postgres) {
			t.Errorf("Shared() = %v on %s", n.Shared(), f.db.Dialect())
		}
		ch, cancel, err := n.Subscribe(ctx, "iagente_test")
		if err != nil {
			t.Fatal(err)
		}
		other, cancelOther, err := n.Subscribe(ctx, "iagente_other")
		if err != nil {
			t.Fatal(err)
		}
		defer cancelOther()

		if err := n.Notify(ctx, "iagente_test", "hello"); err != nil {
			t.Fatal(err)
		}
		if got := receive(t, ch, "own notification"); got.Channel != "iagente_test" || got.Payload != "hello" || got.Resync {
			t.Errorf("received %+v", got)
		}
		select {
		case got := <-other:
			t.Errorf("a subscriber of another channel received %+v", got)
		default:
		}

		cancel()
		if err := n.Notify(ctx, "iagente_test", "after"); err != nil {
			t.Fatal(err)
		}
		if err := n.Notify(ctx, "iagente_other", "to other"); err != nil {
			t.Fatal(err)
		}
		if got := receive(t, other, "other channel"); got.Payload != "to other" {
			t.Errorf("received %+v", got)
		}
		select {
		case got := <-ch:
			t.Errorf("an ended subscription received %+v", got)
		default:
		}
	})
}

// TestNotifierAcrossProcesses: what one process notifies, another hears,
// also after the listening connection was cut and lib/pq made a new one.
func TestNotifierAcrossProcesses(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		if f.db.Dialect() != Postgres {
			t.Skip("SQLite is served by one process")
		}
		ctx := context.Background()
		listening := f.db.NewNotifier(nil)
		t.Cleanup(func() { listening.Close() })
		ch, _, err := listening.Subscribe(ctx, "iagente_test")
		if err != nil {
			t.Fatal(err)
		}
		// Another process: its own pool and notifier.
		second := openStore(t, f.dbURL)
		sending := second.NewNotifier(nil)
		t.Cleanup(func() { sending.Close() })

		if err := sending.Notify(ctx, "iagente_test", sending.ID()); err != nil {
			t.Fatal(err)
		}
		if got := receive(t, ch, "from another process"); got.Payload != sending.ID() || got.Resync {
			t.Errorf("received %+v, want the sender's id", got)
		}

		// Cut the listener's connection, as a restart of the database or a
		// network failure would.
		var cut int
		err = f.db.pool.Get(&cut, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN %'`)
		if err != nil || cut != 1 {
			t.Fatalf("terminated %d listening connections (%v), want 1", cut, err)
		}
		if got := receive(t, ch, "after the reconnection"); !got.Resync || got.Channel != "iagente_test" {
			t.Errorf("after the reconnection received %+v, want a Resync", got)
		}
		if err := sending.Notify(ctx, "iagente_test", "again"); err != nil {
			t.Fatal(err)
		}
		if got := receive(t, ch, "on the new connection"); got.Payload != "again" {
			t.Errorf("received %+v, want the notification sent after the reconnection", got)
		}
	})
}

func TestNotifierSubscriberThatFallsBehind(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		if f.db.Dialect() == Postgres {
			t.Skip("the buffering is the same on both; SQLite's in-process delivery makes it deterministic")
		}
		ctx := context.Background()
		n := f.db.NewNotifier(nil)
		ch, _, err := n.Subscribe(ctx, "iagente_test")
		if err != nil {
			t.Fatal(err)
		}
		for range subscriptionBuffer + 5 {
			if err := n.Notify(ctx, "iagente_test", "x"); err != nil {
				t.Fatal(err)
			}
		}
		for range subscriptionBuffer {
			<-ch
		}
		select {
		case got := <-ch:
			t.Fatalf("received %+v beyond the buffer", got)
		default:
		}
		if err := n.Notify(ctx, "iagente_test", "later"); err != nil {
			t.Fatal(err)
		}
		if got := <-ch; !got.Resync {
			t.Errorf("after missing notifications the subscriber got %+v, want a Resync first", got)
		}
		if got := <-ch; got.Payload != "later" {
			t.Errorf("then %+v, want the new notification", got)
		}
	})
}
