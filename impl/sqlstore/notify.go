package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/iagente/iagente-sdr/impl/faultlog"
)

// DeliveriesChannel is the notification channel on which a process that
// committed webhook deliveries tells the others' dispatchers to look.
const DeliveriesChannel = "iagente_deliveries"

// Notification is one message on a channel of a Notifier.
type Notification struct {
	Channel string
	Payload string
	// Resync says that notifications may have been missed: the connection
	// to the database was lost and is back, or the subscriber fell behind.
	// A subscriber that keeps state from notifications (a cache) should
	// rebuild it; one that only wakes up should wake up.
	Resync bool
}

// Notifier carries small notifications between the processes that share the
// database, so that a change committed by one replica can reach the others
// at once: on PostgreSQL, LISTEN/NOTIFY over one dedicated connection
// (lib/pq's Listener, which reconnects by itself); on SQLite, which only
// one process serves, within the process.
//
// Delivery is best effort, as NOTIFY's is: a notification sent while a
// listener is reconnecting is lost, and the subscriber gets a Resync
// instead. Whatever must not be missed needs a safety net of its own (the
// dispatcher's poll).
type Notifier struct {
	id       string
	db       *DB
	logger   *slog.Logger
	listener *pq.Listener // nil on SQLite
	// reconnects logs the listener's failed reconnections while the
	// database is away: the first, one every faultlog.DefaultEvery, and
	// the reconnection.
	reconnects *faultlog.Log

	mu     sync.Mutex
	subs   map[string][]*subscription
	closed bool
	stop   chan struct{}
	done   chan struct{}
}

type subscription struct {
	ch     chan Notification
	missed bool // a notification did not fit; send Resync when there is room
}

// subscriptionBuffer is how many notifications a subscriber may leave
// unread before it is sent a Resync instead of the rest.
const subscriptionBuffer = 64

// Listener reconnection backoff, as lib/pq's Listener takes it.
const (
	listenerMinReconnect = 50 * time.Millisecond
	listenerMaxReconnect = 5 * time.Second
	// listenerPing is how often an idle listener checks its connection,
	// as lib/pq advises: a connection that died silently is otherwise
	// noticed only when TCP gives up on it.
	listenerPing = 30 * time.Second
)

// NewNotifier starts a Notifier over the database; logger may be nil. Close
// it when done.
func (s *DB) NewNotifier(logger *slog.Logger) *Notifier {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	n := &Notifier{id: hex.EncodeToString(id[:]), db: s, logger: logger, subs: map[string][]*subscription{},
		reconnects: &faultlog.Log{Logger: logger, Level: slog.LevelWarn,
			Msg: "notification listener could not reconnect", Recovered: "notification listener reconnected"},
		stop: make(chan struct{}), done: make(chan struct{})}
	if s.dialect != Postgres {
		close(n.done)
		return n
	}
	n.listener = pq.NewListener(s.dsn, listenerMinReconnect, listenerMaxReconnect, n.onListenerEvent)
	go n.run()
	return n
}

// ID identifies this Notifier among the processes: a sender can put it in
// the payload, and a subscriber can then tell its own notifications apart.
func (n *Notifier) ID() string { return n.id }

// Shared reports whether notifications reach other processes (PostgreSQL)
// or only this one (SQLite).
func (n *Notifier) Shared() bool { return n.listener != nil }

func (n *Notifier) onListenerEvent(ev pq.ListenerEventType, err error) {
	switch ev {
	case pq.ListenerEventDisconnected:
		n.logger.Warn("notification listener lost its connection; reconnecting", "err", fmt.Sprint(err))
	case pq.ListenerEventConnectionAttemptFailed:
		n.reconnects.Failed(fmt.Errorf("%v", err))
	case pq.ListenerEventReconnected:
		if !n.reconnects.Succeeded() {
			n.logger.Info("notification listener reconnected")
		}
	}
}

// run hands the listener's notifications to the subscribers until Close.
func (n *Notifier) run() {
	defer close(n.done)
	ping := time.NewTicker(listenerPing)
	defer ping.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-ping.C:
			go func() { _ = n.listener.Ping() }() // a dead connection makes the listener reconnect
		case pn := <-n.listener.Notify:
			if pn == nil {
				// lib/pq sends nil after a reconnection: anything sent
				// meanwhile is lost.
				n.deliverAll(Notification{Resync: true})
				continue
			}
			n.deliver(Notification{Channel: pn.Channel, Payload: pn.Extra})
		}
	}
}

func (n *Notifier) deliverAll(msg Notification) {
	n.mu.Lock()
	channels := make([]string, 0, len(n.subs))
	for c := range n.subs {
		channels = append(channels, c)
	}
	n.mu.Unlock()
	for _, c := range channels {
		msg.Channel = c
		n.deliver(msg)
	}
}

// deliver gives msg to every subscriber of its channel without waiting for
// any of them.
func (n *Notifier) deliver(msg Notification) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range n.subs[msg.Channel] {
		if s.missed {
			select {
			case s.ch <- Notification{Channel: msg.Channel, Resync: true}:
				s.missed = false
			default:
				continue
			}
		}
		select {
		case s.ch <- msg:
		default:
			s.missed = true
		}
	}
}

// Subscribe returns the notifications sent on channel from now on (by any
// process, this one included) and the function that ends the
// subscription. On PostgreSQL it returns once the server listens on the
// channel, or with ctx's error.
func (n *Notifier) Subscribe(ctx context.Context, channel string) (<-chan Notification, func(), error) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, nil, errors.New("notifier closed")
	}
	s := &subscription{ch: make(chan Notification, subscriptionBuffer)}
	n.subs[channel] = append(n.subs[channel], s)
	n.mu.Unlock()
	cancel := func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		list := n.subs[channel]
		for i, x := range list {
			if x == s {
				n.subs[channel] = append(list[:i:i], list[i+1:]...)
				break
			}
		}
	}
	if n.listener != nil {
		// Listen waits for the server's answer, and for a connection while
		// there is none. A channel listened on already answers at once.
		listened := make(chan error, 1)
		go func() {
			err := n.listener.Listen(channel)
			if errors.Is(err, pq.ErrChannelAlreadyOpen) {
				err = nil
			}
			listened <- err
		}()
		select {
		case err := <-listened:
			if err != nil {
				cancel()
				return nil, nil, fmt.Errorf("listen on %s: %w", channel, err)
			}
		case <-ctx.Done():
			cancel()
			return nil, nil, fmt.Errorf("listen on %s: %w", channel, ctx.Err())
		}
	}
	return s.ch, cancel, nil
}

// Notify sends payload (at most a few kilobytes) on channel to every
// subscriber of every process. On PostgreSQL the notification is its own
// transaction, sent at once: it does not wait for, or roll back with, the
// caller's.
func (n *Notifier) Notify(ctx context.Context, channel, payload string) error {
	if n.listener == nil {
		n.deliver(Notification{Channel: channel, Payload: payload})
		return nil
	}
	st, err := n.db.queueStatement(ctx, `SELECT pg_notify(?, ?)`)
	if err != nil {
		return err
	}
	if _, err := st.ExecContext(ctx, channel, payload); err != nil {
		return fmt.Errorf("notify %s: %w", channel, err)
	}
	return nil
}

// Close stops listening. The subscribers' channels are left open and
// receive nothing more.
func (n *Notifier) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	if n.listener == nil {
		return nil
	}
	close(n.stop)
	<-n.done
	return n.listener.Close()
}
