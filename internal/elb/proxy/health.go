package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// normalizeHealth fills ELBv2's defaults into unset health check fields.
func normalizeHealth(hc HealthCheck) HealthCheck {
	if hc.Protocol == "" {
		hc.Protocol = "HTTP"
	}
	if hc.Path == "" {
		hc.Path = "/"
	}
	if hc.Port == "" {
		hc.Port = "traffic-port"
	}
	if hc.Matcher == "" {
		hc.Matcher = "200"
	}
	if hc.Interval <= 0 {
		hc.Interval = 30 * time.Second
	}
	if hc.Timeout <= 0 {
		hc.Timeout = 5 * time.Second
	}
	if hc.HealthyThreshold <= 0 {
		hc.HealthyThreshold = 5
	}
	if hc.UnhealthyThreshold <= 0 {
		hc.UnhealthyThreshold = 2
	}
	return hc
}

// checkLoop runs one target's health checks until ctx ends. The first check
// runs at once: a new target that passes it is in service without waiting
// a whole interval.
func (p *Proxy) checkLoop(ctx context.Context, g *group, t *target, hc HealthCheck, gen int) {
	addr := t.addr
	if hc.Port != "traffic-port" {
		host, _, _ := net.SplitHostPort(t.addr)
		addr = net.JoinHostPort(host, hc.Port)
	}
	codes, err := parseMatcher(hc.Matcher)
	if err != nil {
		p.log.Warn("invalid health check matcher, using 200", "target_group", g.arn, "matcher", hc.Matcher, "err", err)
		codes = []codeRange{{200, 200}}
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		ok, reason, desc := p.checkOnce(ctx, hc, addr, codes)
		if ctx.Err() != nil {
			return
		}
		g.record(t, gen, ok, reason, desc)
		timer.Reset(p.scaled(hc.Interval))
	}
}

func (p *Proxy) checkOnce(ctx context.Context, hc HealthCheck, addr string, codes []codeRange) (ok bool, reason, desc string) {
	ctx, cancel := context.WithTimeout(ctx, hc.Timeout)
	defer cancel()
	if hc.Protocol == "TCP" {
		c, err := p.dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			return failReason(err)
		}
		c.Close()
		return true, "", ""
	}
	path := hc.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return false, ReasonFailedHealthChecks, err.Error()
	}
	req.Header.Set("User-Agent", "ELB-HealthChecker/2.0")
	resp, err := p.hcClient.Do(req)
	if err != nil {
		return failReason(err)
	}
	// ELB reads at most a small part of the body; drain a bounded amount so
	// the response completes cleanly.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	for _, r := range codes {
		if resp.StatusCode >= r.lo && resp.StatusCode <= r.hi {
			return true, "", ""
		}
	}
	return false, ReasonResponseCodeMismatch, fmt.Sprintf("Health checks failed with these codes: [%d]", resp.StatusCode)
}

func failReason(err error) (bool, string, string) {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return false, ReasonTimeout, reasonText[ReasonTimeout]
	}
	return false, ReasonFailedHealthChecks, reasonText[ReasonFailedHealthChecks]
}

type codeRange struct{ lo, hi int }

// parseMatcher reads ELBv2's HttpCode syntax: "200", "200,302", "200-299".
func parseMatcher(s string) ([]codeRange, error) {
	var out []codeRange
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("matcher %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
				return nil, fmt.Errorf("matcher %q: %w", s, err)
			}
		}
		if a < 100 || b > 599 || a > b {
			return nil, fmt.Errorf("matcher %q: codes must be within 100-599", s)
		}
		out = append(out, codeRange{a, b})
	}
	return out, nil
}
