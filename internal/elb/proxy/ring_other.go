//go:build !linux

package proxy

import "errors"

// Without io_uring every client connection is served by its goroutine.

type ringSet struct{}

type ringClient struct{}

func startRings(*Proxy, int) (*ringSet, error) { return nil, errNoRing }

func (*ringSet) adopt(*httpConn) bool { return false }

func (*ringSet) stop() {}

func (*ringClient) kill(*httpConn)     {}
func (*ringClient) wakeIdle(*httpConn) {}

func (*ringBconn) close() {}

var errNoRing = errors.New("io_uring is not available on this system")

func (p *Proxy) ringCounts() (served, handoffs uint64, ok bool) { return 0, 0, false }
