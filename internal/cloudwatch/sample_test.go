package cloudwatch

import (
	"testing"

	"github.com/cutover/cutover/internal/elb/proxy"
)

// TestSampleMirrorsProxy keeps Sample convertible from the proxy's, which is
// how the server feeds Collect: cloudwatch.Sample(s) for each proxy.Sample.
func TestSampleMirrorsProxy(t *testing.T) {
	p := proxy.Sample{Namespace: proxy.NamespaceALB, MetricName: "RequestCount", Dimensions: map[string]string{"LoadBalancer": "app/x/1"}, Value: 3, Cumulative: true}
	if s := Sample(p); s.Namespace != "AWS/ApplicationELB" || s.Value != 3 || !s.Cumulative {
		t.Errorf("converted %+v", s)
	}
	if proxy.NamespaceNLB != "AWS/NetworkELB" {
		t.Errorf("NLB namespace %q", proxy.NamespaceNLB)
	}
}
