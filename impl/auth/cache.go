package auth

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/faultlog"
)

// KeyCache remembers keys verified against the database for a short while,
// so that a busy key costs one lookup per TTL instead of one per request.
//
// A key that stops being valid (revoked, regenerated, deleted) is
// forgotten at once: in this process because the store counts such commits
// (an entry verified before the last of them is not trusted), on other
// replicas through Forget, which the service wires to PostgreSQL
// notifications. The TTL bounds what a lost notification can cost: an
// entry older than it is verified again, so a revoked key is refused within
// TTL on every replica whatever happens to the notifications.
type KeyCache struct {
	TTL time.Duration
	// Size bounds the entries; past it an arbitrary entry makes room.
	Size int

	mu      sync.Mutex
	entries map[[32]byte]cachedKey
}

type cachedKey struct {
	key      impl.APIKey
	verified time.Time
	gen      uint64 // the store's KeysChanged when it was verified
}

// generation is a store that counts its own key-invalidating commits.
type generation interface{ KeysChanged() uint64 }

func (c *KeyCache) get(sum [32]byte, now time.Time, gen uint64) (*impl.APIKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[sum]
	if !ok || e.gen != gen || now.Sub(e.verified) >= c.TTL || now.Before(e.verified) {
		return nil, false
	}
	k := e.key
	return &k, true
}

func (c *KeyCache) put(sum [32]byte, k *impl.APIKey, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[[32]byte]cachedKey{}
	}
	if _, ok := c.entries[sum]; !ok && len(c.entries) >= max(c.Size, 1) {
		for victim := range c.entries {
			delete(c.entries, victim)
			break
		}
	}
	c.entries[sum] = cachedKey{key: *k, verified: now, gen: gen}
}

// noteUse records a use in the cached copy, so that the next touch is due
// an interval later.
func (c *KeyCache) noteUse(sum [32]byte, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[sum]; ok {
		e.key.LastUsedAt = &t
		c.entries[sum] = e
	}
}

// Forget drops key id, or every key for impl's purge value (any id < 1):
// it stopped being valid, or changes may have been missed.
func (c *KeyCache) Forget(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id < 1 {
		clear(c.entries)
		return
	}
	for sum, e := range c.entries {
		if e.key.ID == id {
			delete(c.entries, sum)
		}
	}
}

// Len returns the number of cached keys.
func (c *KeyCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// usage is a pending write of a key's last use.
type usage struct {
	id int64
	at time.Time
}

// UsageWriter writes keys' last use off the request path: Authenticate
// queues, Run writes. A full queue drops the write; the next use an
// interval later queues it again.
type UsageWriter struct {
	Keys   impl.APIKeyStore
	Logger *slog.Logger
	// Timeout bounds each write.
	Timeout time.Duration

	once  sync.Once
	q     chan usage
	fails *faultlog.Log // writes that fail together while the database is away
}

func (w *UsageWriter) queue() chan usage {
	w.once.Do(func() {
		w.q = make(chan usage, 1024)
		w.fails = &faultlog.Log{Logger: w.Logger, Level: slog.LevelWarn, Msg: "record an API key's last use"}
	})
	return w.q
}

func (w *UsageWriter) add(id int64, at time.Time) {
	select {
	case w.queue() <- usage{id, at}:
	default:
	}
}

// Run writes queued uses until ctx ends.
func (w *UsageWriter) Run(ctx context.Context) {
	q := w.queue()
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-q:
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.Timeout)
			if err := w.Keys.TouchAPIKey(wctx, u.id, u.at); err != nil {
				w.fails.Failed(err, "api_key_id", u.id)
			} else {
				w.fails.Succeeded()
			}
			cancel()
		}
	}
}
