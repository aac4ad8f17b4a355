// Package testctx has contexts for tests whose outcome must not depend on
// how fast a loaded machine runs them.
package testctx

import (
	"context"
	"time"
)

// most is how long DeadlineWhen waits for its condition.
const most = 10 * time.Second

// DeadlineWhen returns a context whose deadline passes as soon as cond
// holds (it is polled every millisecond), or after 10 seconds if it never
// does. Its Err is then context.DeadlineExceeded, as a timeout's is.
//
// A test of a deadline that passes while a request is in flight uses it
// with "the server has the request" as cond: a fixed 20 ms can pass before
// a busy machine has even sent the request.
func DeadlineWhen(cond func() bool) context.Context {
	c := &arrival{Context: context.Background(), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for end := time.Now().Add(most); !cond() && time.Now().Before(end); {
			time.Sleep(time.Millisecond)
		}
	}()
	return c
}

type arrival struct {
	context.Context
	done chan struct{}
}

func (c *arrival) Done() <-chan struct{} { return c.done }

func (c *arrival) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}
