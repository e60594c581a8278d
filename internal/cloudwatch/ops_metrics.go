package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/awsproto"
)

// Current AWS quotas for PutMetricData (raised in 2023): 1000 metric data
// per call, 150 values per datum, 30 dimensions per metric.
const (
	maxMetricData     = 1000
	maxValuesPerDatum = 150
	maxDimensions     = 30
	// AWS refuses magnitudes outside [8.515920e-109, 1.174271e+108].
	minMagnitude = 8.515920e-109
	maxMagnitude = 1.174271e+108
	// maxDatapointsPerCall is GetMetricStatistics' limit.
	maxDatapointsPerCall = 1440
	listMetricsPage      = 500
)

var standardUnits = map[string]bool{}

func init() {
	for _, u := range strings.Fields(`Seconds Microseconds Milliseconds Bytes Kilobytes Megabytes Gigabytes Terabytes Bits Kilobits Megabits Gigabits Terabits Percent Count Bytes/Second Kilobytes/Second Megabytes/Second Gigabytes/Second Terabytes/Second Bits/Second Kilobits/Second Megabits/Second Gigabits/Second Terabits/Second Count/Second None`) {
		standardUnits[u] = true
	}
}

func checkValue(v float64, member string) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return invalidParam("The value %v for parameter %s is invalid.", v, member)
	}
	if a := math.Abs(v); a != 0 && (a < minMagnitude || a > maxMagnitude) {
		return invalidParam("The value %v for parameter %s is not within the range of %e to %e.", v, member, minMagnitude, maxMagnitude)
	}
	return nil
}

func checkDims(dims []Dimension, member string) error {
	if len(dims) > maxDimensions {
		return invalidParam("The collection %s must not have a size greater than %d.", member, maxDimensions)
	}
	seen := map[string]bool{}
	for i, d := range dims {
		if d.Name == "" {
			return missingParam(fmt.Sprintf("%s.member.%d.Name", member, i+1))
		}
		if d.Value == "" {
			return missingParam(fmt.Sprintf("%s.member.%d.Value", member, i+1))
		}
		if len(d.Name) > 255 || len(d.Value) > 1024 {
			return invalidParam("The dimension %s.member.%d is too long.", member, i+1)
		}
		if seen[d.Name] {
			return invalidParam("No duplicate dimension names allowed: %s.", d.Name)
		}
		seen[d.Name] = true
	}
	return nil
}

// PutMetricData stores metric data.
func (s *Service) PutMetricData(ctx context.Context, in *PutMetricDataInput) (*empty, error) {
	if in.Namespace == "" {
		return nil, missingParam("Namespace")
	}
	if strings.HasPrefix(in.Namespace, "AWS/") {
		return nil, invalidParam("The value AWS/ for parameter Namespace is invalid.")
	}
	if len(in.Namespace) > 255 {
		return nil, invalidParam("The parameter Namespace must be at most 255 characters.")
	}
	if len(in.MetricData) == 0 {
		return nil, missingParam("MetricData")
	}
	if len(in.MetricData) > maxMetricData {
		return nil, invalidParam("The collection MetricData must not have a size greater than %d.", maxMetricData)
	}
	now := s.now()
	points := make([]point, 0, len(in.MetricData))
	for i, d := range in.MetricData {
		p, err := s.datumPoint(in.Namespace, d, fmt.Sprintf("MetricData.member.%d", i+1), now)
		if err != nil {
			return nil, err
		}
		points = append(points, p)
	}
	if err := s.metrics.put(points, now); err != nil {
		return nil, limitExceeded("This server keeps at most %d metrics.", s.metrics.limits.MaxMetrics)
	}
	return nil, nil
}

func (s *Service) datumPoint(ns string, d MetricDatum, path string, now time.Time) (point, error) {
	if d.MetricName == "" {
		return point{}, missingParam(path + ".MetricName")
	}
	if len(d.MetricName) > 255 {
		return point{}, invalidParam("The parameter %s.MetricName must be at most 255 characters.", path)
	}
	if err := checkDims(d.Dimensions, path+".Dimensions"); err != nil {
		return point{}, err
	}
	if d.Unit != "" && !standardUnits[d.Unit] {
		return point{}, invalidParam("The unit %s for parameter %s.Unit is invalid.", d.Unit, path)
	}
	res := int64(60)
	if d.StorageResolution != nil {
		switch *d.StorageResolution {
		case 1:
			res = 1
		case 60:
		default:
			return point{}, invalidParam("The value %d for parameter %s.StorageResolution is invalid. Valid values are 1 and 60.", *d.StorageResolution, path)
		}
	}
	t := now
	if d.Timestamp != "" {
		var err error
		if t, err = d.Timestamp.parse(path + ".Timestamp"); err != nil {
			return point{}, err
		}
		// AWS accepts data up to two weeks old and two hours ahead.
		if t.Before(now.Add(-14*24*time.Hour)) || t.After(now.Add(2*time.Hour)) {
			return point{}, invalidParam("The parameter %s.Timestamp must specify a time no more than two weeks in the past and no more than two hours in the future.", path)
		}
	}
	p := point{ns: ns, name: d.MetricName, dims: d.Dimensions, t: t, res: res}
	p.b.unit = d.Unit
	n := 0
	if d.Value != nil {
		n++
	}
	if d.StatisticValues != nil {
		n++
	}
	if len(d.Values) > 0 {
		n++
	}
	switch {
	case n == 0:
		return point{}, missingParam(path + ".Value")
	case n > 1:
		return point{}, invalidCombination("The parameters %s.Value, %s.StatisticValues and %s.Values are mutually exclusive.", path, path, path)
	case d.Value != nil:
		if err := checkValue(*d.Value, path+".Value"); err != nil {
			return point{}, err
		}
		p.b.count, p.b.sum, p.b.min, p.b.max = 1, *d.Value, *d.Value, *d.Value
		p.b.values, p.b.weights = []float64{*d.Value}, []float64{1}
	case d.StatisticValues != nil:
		sv := d.StatisticValues
		for name, v := range map[string]*float64{"SampleCount": sv.SampleCount, "Sum": sv.Sum, "Minimum": sv.Minimum, "Maximum": sv.Maximum} {
			if v == nil {
				return point{}, missingParam(path + ".StatisticValues." + name)
			}
			if err := checkValue(*v, path+".StatisticValues."+name); err != nil {
				return point{}, err
			}
		}
		if *sv.SampleCount <= 0 || *sv.Minimum > *sv.Maximum {
			return point{}, invalidParam("The parameter %s.StatisticValues is not consistent (SampleCount must be positive and Minimum at most Maximum).", path)
		}
		p.b.count, p.b.sum, p.b.min, p.b.max = *sv.SampleCount, *sv.Sum, *sv.Minimum, *sv.Maximum
	default:
		if len(d.Values) > maxValuesPerDatum {
			return point{}, invalidParam("The collection %s.Values must not have a size greater than %d.", path, maxValuesPerDatum)
		}
		if len(d.Counts) > 0 && len(d.Counts) != len(d.Values) {
			return point{}, invalidParam("The parameters %s.Values and %s.Counts must be of the same size.", path, path)
		}
		for i, v := range d.Values {
			if err := checkValue(v, path+".Values"); err != nil {
				return point{}, err
			}
			c := 1.0
			if len(d.Counts) > 0 {
				c = d.Counts[i]
				if math.IsNaN(c) || c < 0 || math.IsInf(c, 0) {
					return point{}, invalidParam("The value %v for parameter %s.Counts is invalid.", c, path)
				}
			}
			if c == 0 {
				continue
			}
			if p.b.count == 0 {
				p.b.min, p.b.max = v, v
			}
			p.b.min, p.b.max = math.Min(p.b.min, v), math.Max(p.b.max, v)
			p.b.count += c
			p.b.sum += v * c
			p.b.values = append(p.b.values, v)
			p.b.weights = append(p.b.weights, c)
		}
	}
	return p, nil
}

var basicStats = map[string]bool{"SampleCount": true, "Average": true, "Sum": true, "Minimum": true, "Maximum": true}

func validPeriod(p int32) bool {
	switch {
	case p <= 0:
		return false
	case p == 1 || p == 5 || p == 10 || p == 20 || p == 30:
		return true
	}
	return p%60 == 0
}

// GetMetricStatistics answers statistics of one metric per period.
func (s *Service) GetMetricStatistics(ctx context.Context, in *GetMetricStatisticsInput) (*GetMetricStatisticsOutput, error) {
	switch {
	case in.Namespace == "":
		return nil, missingParam("Namespace")
	case in.MetricName == "":
		return nil, missingParam("MetricName")
	case in.StartTime == "":
		return nil, missingParam("StartTime")
	case in.EndTime == "":
		return nil, missingParam("EndTime")
	case in.Period == nil:
		return nil, missingParam("Period")
	}
	start, err := in.StartTime.parse("StartTime")
	if err != nil {
		return nil, err
	}
	end, err := in.EndTime.parse("EndTime")
	if err != nil {
		return nil, err
	}
	if !end.After(start) {
		return nil, invalidParam("The parameter StartTime must be less than the parameter EndTime.")
	}
	if !validPeriod(*in.Period) {
		return nil, invalidParam("The parameter Period must be 1, 5, 10, 20, 30 or a multiple of 60.")
	}
	if len(in.Statistics) == 0 && len(in.ExtendedStatistics) == 0 {
		return nil, missingParam("Statistics or ExtendedStatistics")
	}
	if len(in.Statistics) > 5 || len(in.ExtendedStatistics) > 10 {
		return nil, invalidParam("Too many statistics requested.")
	}
	for _, st := range in.Statistics {
		if !basicStats[st] {
			return nil, invalidParam("The parameter Statistics.member must be one of SampleCount, Average, Sum, Minimum, Maximum; got %s.", st)
		}
	}
	for _, st := range in.ExtendedStatistics {
		if _, ok := parsePercentile(st); !ok {
			return nil, invalidParam("The value %s for parameter ExtendedStatistics is not a valid percentile (p0.0 to p100).", st)
		}
	}
	if err := checkDims(in.Dimensions, "Dimensions"); err != nil {
		return nil, err
	}
	period := int64(*in.Period)
	// Align the range to the period, as CloudWatch rounds StartTime down.
	from := time.Unix(start.Unix()-mod(start.Unix(), period), 0).UTC()
	if n := (end.Unix() - from.Unix() + period - 1) / period; n > maxDatapointsPerCall {
		return nil, invalidCombination("You have requested up to %d datapoints, which exceeds the limit of %d. You may reduce the datapoints requested by increasing Period, or decreasing the time range.", n, maxDatapointsPerCall)
	}
	aggs := s.metrics.aggregate(in.Namespace, in.MetricName, in.Dimensions, in.Unit, from, end, period)
	out := &GetMetricStatisticsOutput{Label: in.MetricName, Datapoints: []Datapoint{}}
	for t, b := range aggs {
		dp := Datapoint{Timestamp: newOutTime(time.Unix(t, 0).UTC()), Unit: b.unit}
		if dp.Unit == "" {
			dp.Unit = "None"
		}
		for _, st := range in.Statistics {
			v, _ := statistic(b, st)
			switch st {
			case "SampleCount":
				dp.SampleCount = ptr(v)
			case "Average":
				dp.Average = ptr(v)
			case "Sum":
				dp.Sum = ptr(v)
			case "Minimum":
				dp.Minimum = ptr(v)
			case "Maximum":
				dp.Maximum = ptr(v)
			}
		}
		for _, st := range in.ExtendedStatistics {
			if v, ok := statistic(b, st); ok {
				if dp.ExtendedStatistics == nil {
					dp.ExtendedStatistics = statMap{}
				}
				dp.ExtendedStatistics[st] = v
			}
		}
		out.Datapoints = append(out.Datapoints, dp)
	}
	sort.Slice(out.Datapoints, func(i, j int) bool { return out.Datapoints[i].Timestamp.Before(out.Datapoints[j].Timestamp.Time) })
	return out, nil
}

type metricDataToken struct {
	Query  int `json:"q"`
	Offset int `json:"o"`
}

const metricDataScope = awsproto.TokenScope("cloudwatch/GetMetricData")

// GetMetricData answers MetricStat queries (metric math is refused).
func (s *Service) GetMetricData(ctx context.Context, in *GetMetricDataInput) (*GetMetricDataOutput, error) {
	if len(in.MetricDataQueries) == 0 {
		return nil, missingParam("MetricDataQueries")
	}
	if len(in.MetricDataQueries) > 500 {
		return nil, invalidParam("The collection MetricDataQueries must not have a size greater than 500.")
	}
	if in.StartTime == "" {
		return nil, missingParam("StartTime")
	}
	if in.EndTime == "" {
		return nil, missingParam("EndTime")
	}
	start, err := in.StartTime.parse("StartTime")
	if err != nil {
		return nil, err
	}
	end, err := in.EndTime.parse("EndTime")
	if err != nil {
		return nil, err
	}
	if !end.After(start) {
		return nil, invalidParam("The parameter StartTime must be less than the parameter EndTime.")
	}
	desc := true
	switch in.ScanBy {
	case "", "TimestampDescending":
	case "TimestampAscending":
		desc = false
	default:
		return nil, invalidParam("The value %s for parameter ScanBy is invalid.", in.ScanBy)
	}
	maxPoints := 100_800
	if in.MaxDatapoints != nil {
		if *in.MaxDatapoints <= 0 {
			return nil, invalidParam("The parameter MaxDatapoints must be positive.")
		}
		maxPoints = int(*in.MaxDatapoints)
	}
	var tok metricDataToken
	if in.NextToken != "" {
		if err := metricDataScope.Decode(in.NextToken, &tok); err != nil || tok.Query < 0 || tok.Query >= len(in.MetricDataQueries) || tok.Offset < 0 {
			return nil, invalidToken()
		}
	}
	ids := map[string]bool{}
	for i, q := range in.MetricDataQueries {
		path := fmt.Sprintf("MetricDataQueries.member.%d", i+1)
		if q.Id == "" {
			return nil, missingParam(path + ".Id")
		}
		if ids[q.Id] {
			return nil, invalidParam("The value %s for parameter %s.Id is not unique.", q.Id, path)
		}
		ids[q.Id] = true
		if q.Expression != "" {
			return nil, invalidParam("Metric math is not supported by this server: %s.Expression must be empty; use MetricStat.", path)
		}
		if q.MetricStat == nil {
			return nil, missingParam(path + ".MetricStat")
		}
		ms := q.MetricStat
		if ms.Metric == nil || ms.Metric.Namespace == "" || ms.Metric.MetricName == "" {
			return nil, missingParam(path + ".MetricStat.Metric")
		}
		if ms.Period == nil || !validPeriod(*ms.Period) {
			return nil, invalidParam("The parameter %s.MetricStat.Period must be 1, 5, 10, 20, 30 or a multiple of 60.", path)
		}
		if _, ok := parsePercentile(ms.Stat); !ok && !basicStats[ms.Stat] {
			return nil, invalidParam("The value %s for parameter %s.MetricStat.Stat is not supported.", ms.Stat, path)
		}
	}
	out := &GetMetricDataOutput{MetricDataResults: []MetricDataResult{}}
	budget := maxPoints
	for qi := tok.Query; qi < len(in.MetricDataQueries); qi++ {
		q := in.MetricDataQueries[qi]
		if q.ReturnData != nil && !*q.ReturnData {
			continue
		}
		ms := q.MetricStat
		period := int64(*ms.Period)
		from := time.Unix(start.Unix()-mod(start.Unix(), period), 0).UTC()
		aggs := s.metrics.aggregate(ms.Metric.Namespace, ms.Metric.MetricName, ms.Metric.Dimensions, ms.Unit, from, end, period)
		keys := make([]int64, 0, len(aggs))
		for k := range aggs {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if desc {
				return keys[i] > keys[j]
			}
			return keys[i] < keys[j]
		})
		label := q.Label
		if label == "" {
			label = ms.Metric.MetricName
		}
		res := MetricDataResult{Id: q.Id, Label: label, Timestamps: []outTime{}, Values: []float64{}, StatusCode: "Complete"}
		offset := 0
		if qi == tok.Query {
			offset = tok.Offset
		}
		for i := offset; i < len(keys); i++ {
			if budget == 0 {
				res.StatusCode = "PartialData"
				out.NextToken = metricDataScope.Encode(metricDataToken{Query: qi, Offset: i})
				break
			}
			v, ok := statistic(aggs[keys[i]], ms.Stat)
			if !ok {
				continue
			}
			res.Timestamps = append(res.Timestamps, outTime{time.Unix(keys[i], 0).UTC()})
			res.Values = append(res.Values, v)
			budget--
		}
		out.MetricDataResults = append(out.MetricDataResults, res)
		if out.NextToken != "" {
			break
		}
	}
	return out, nil
}

type listToken struct {
	After string `json:"a"`
}

const listMetricsScope = awsproto.TokenScope("cloudwatch/ListMetrics")

// ListMetrics lists metrics matching the filters, 500 per page.
func (s *Service) ListMetrics(ctx context.Context, in *ListMetricsInput) (*ListMetricsOutput, error) {
	for i, f := range in.Dimensions {
		if f.Name == "" {
			return nil, missingParam(fmt.Sprintf("Dimensions.member.%d.Name", i+1))
		}
	}
	if len(in.Dimensions) > 10 {
		return nil, invalidParam("The collection Dimensions must not have a size greater than 10.")
	}
	var since time.Time
	switch in.RecentlyActive {
	case "":
	case "PT3H":
		since = s.now().Add(-3 * time.Hour)
	default:
		return nil, invalidParam("The value %s for parameter RecentlyActive is invalid. Valid value: PT3H.", in.RecentlyActive)
	}
	var tok listToken
	if in.NextToken != "" {
		if err := listMetricsScope.Decode(in.NextToken, &tok); err != nil {
			return nil, invalidToken()
		}
	}
	out := &ListMetricsOutput{Metrics: []Metric{}}
	for _, sr := range s.metrics.list(in.Namespace, in.MetricName, in.Dimensions, since) {
		k := seriesKey(sr.ns, sr.name, sr.dims)
		if tok.After != "" && k <= tok.After {
			continue
		}
		if len(out.Metrics) == listMetricsPage {
			out.NextToken = listMetricsScope.Encode(listToken{After: seriesKey(out.Metrics[len(out.Metrics)-1].Namespace, out.Metrics[len(out.Metrics)-1].MetricName, out.Metrics[len(out.Metrics)-1].Dimensions)})
			break
		}
		out.Metrics = append(out.Metrics, Metric{Namespace: sr.ns, MetricName: sr.name, Dimensions: append([]Dimension{}, sr.dims...)})
	}
	return out, nil
}

var _ = errors.New
