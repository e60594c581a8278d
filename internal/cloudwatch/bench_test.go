package cloudwatch

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// BenchmarkPutMetricData measures PutMetricData through the real SDK (CBOR,
// SigV4) and router: each call carries 20 datums of 4 metrics × 5 instances.
// Run in parallel (-cpu sets the clients); datums/s is reported.
//
//	go test -run '^$' -bench PutMetricData -benchtime 5s ./internal/cloudwatch
func BenchmarkPutMetricData(b *testing.B) {
	e := newEnv(b)
	// The SDK signs with the real clock and the metric store keeps two
	// weeks, so the service's clock follows real time here.
	e.clk.Set(time.Now())
	client := e.client()
	data := make([]types.MetricDatum, 0, 20)
	for m := range 4 {
		for i := range 5 {
			data = append(data, types.MetricDatum{
				MetricName: aws.String(fmt.Sprintf("m%d", m)), Value: aws.Float64(float64(i)), Unit: types.StandardUnitCount,
				Dimensions: []types.Dimension{{Name: aws.String("Instance"), Value: aws.String(fmt.Sprintf("i-%d", i))}},
			})
		}
	}
	in := &cw.PutMetricDataInput{Namespace: aws.String("Bench"), MetricData: data}
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := client.PutMetricData(e.ctx, in); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*len(data))/time.Since(start).Seconds(), "datums/s")
}
