package engine

import (
	"fmt"
	"time"

	"github.com/cutover/cutover/internal/codedeploy"
)

// Shift is one step of a traffic schedule: At after AllowTraffic starts,
// the replacement gets Weight percent of production traffic and the
// original the rest.
type Shift struct {
	At     time.Duration
	Weight int
}

// Schedule turns a deployment config's trafficRoutingConfig into its
// shifts. Weights are absolute (each step sets, never adds), so a step
// applied twice, or late after a restart, leads to the same listener.
//   - AllAtOnce (or no config): 100 at once.
//   - TimeBasedCanary p/i: p at once, 100 after i minutes.
//   - TimeBasedLinear p/i: p, 2p, ... every i minutes, ending at 100.
func Schedule(trc *codedeploy.TrafficRoutingConfig) ([]Shift, error) {
	if trc == nil || trc.Type == nil || *trc.Type == "AllAtOnce" {
		return []Shift{{0, 100}}, nil
	}
	switch *trc.Type {
	case "TimeBasedCanary":
		c := trc.TimeBasedCanary
		if c == nil || c.CanaryPercentage == nil || c.CanaryInterval == nil {
			return nil, fmt.Errorf("TimeBasedCanary needs canaryPercentage and canaryInterval")
		}
		p, i := int(*c.CanaryPercentage), time.Duration(*c.CanaryInterval)*time.Minute
		if p <= 0 || p >= 100 || i < 0 {
			return nil, fmt.Errorf("canary %d%% every %v is out of range", p, i)
		}
		return []Shift{{0, p}, {i, 100}}, nil
	case "TimeBasedLinear":
		l := trc.TimeBasedLinear
		if l == nil || l.LinearPercentage == nil || l.LinearInterval == nil {
			return nil, fmt.Errorf("TimeBasedLinear needs linearPercentage and linearInterval")
		}
		p, i := int(*l.LinearPercentage), time.Duration(*l.LinearInterval)*time.Minute
		if p <= 0 || p >= 100 || i < 0 {
			return nil, fmt.Errorf("linear %d%% every %v is out of range", p, i)
		}
		var out []Shift
		for k := 0; ; k++ {
			w := (k + 1) * p
			if w >= 100 {
				out = append(out, Shift{time.Duration(k) * i, 100})
				return out, nil
			}
			out = append(out, Shift{time.Duration(k) * i, w})
		}
	}
	return nil, fmt.Errorf("traffic routing type %q is unknown", *trc.Type)
}
