package cloudwatch

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/cutover/cutover/internal/awsproto/cbor"
)

// The wire types below serve all three protocols at once: `json` tags name
// members for JSON 1.0 and (by fxamacker's fallback) CBOR, `xml` tags shape
// the Query answers, and Query inputs are decoded by field name, which is the
// model's member name. Lists in XML are wrapped in <member>, as Query does.

// inTime is a timestamp in a request. It is kept as RFC 3339 text because
// the Query decoder fills string fields only; JSON and CBOR numbers are
// turned into that text as they are decoded, so all three arrive alike.
type inTime string

func (t *inTime) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = inTime(s)
		return nil
	}
	secs, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(secs) || math.IsInf(secs, 0) || math.Abs(secs) > 1e12 {
		return fmt.Errorf("timestamp %q is not epoch seconds", b)
	}
	whole, frac := math.Modf(secs)
	*t = inTime(time.Unix(int64(whole), int64(math.Round(frac*1e3))*1e6).UTC().Format(time.RFC3339Nano))
	return nil
}

func (t *inTime) UnmarshalCBOR(b []byte) error {
	tm, err := cbor.DecodeTime(b)
	if err != nil {
		return err
	}
	*t = inTime(tm.Format(time.RFC3339Nano))
	return nil
}

// parse reads the timestamp; Query clients send ISO 8601 (with or without
// fraction and zone) or, rarely, epoch seconds.
func (t inTime) parse(member string) (time.Time, error) {
	s := string(t)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if tm, err := time.Parse(layout, s); err == nil {
			return tm.UTC(), nil
		}
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(secs) && math.Abs(secs) < 1e12 {
		return time.Unix(0, int64(secs*1e9)).UTC(), nil
	}
	return time.Time{}, invalidParam("The parameter %s must be a timestamp.", member)
}

// outTime is a timestamp in an answer: epoch seconds in JSON, tag 1 in CBOR,
// ISO 8601 in XML.
type outTime struct{ time.Time }

func newOutTime(t time.Time) *outTime {
	if t.IsZero() {
		return nil
	}
	return &outTime{t}
}

func (t outTime) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(t.UnixMilli())/1000, 'f', -1, 64), nil
}

func (t outTime) MarshalCBOR() ([]byte, error) { return cbor.EncodeTime(t.Time) }

func (t outTime) MarshalText() ([]byte, error) {
	return []byte(t.UTC().Format("2006-01-02T15:04:05.000Z")), nil
}

// statMap is a map of extended statistics (p99 → value); XML needs its
// entries spelled out, the other codecs take the map as is.
type statMap map[string]float64

func (m statMap) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		entry := struct {
			Key   string  `xml:"key"`
			Value float64 `xml:"value"`
		}{k, m[k]}
		if err := e.EncodeElement(entry, xml.StartElement{Name: xml.Name{Local: "entry"}}); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

type Dimension struct {
	Name  string `json:"Name" xml:"Name"`
	Value string `json:"Value" xml:"Value"`
}

type DimensionFilter struct {
	Name  string  `json:"Name"`
	Value *string `json:"Value,omitempty"`
}

type StatisticSet struct {
	SampleCount *float64 `json:"SampleCount"`
	Sum         *float64 `json:"Sum"`
	Minimum     *float64 `json:"Minimum"`
	Maximum     *float64 `json:"Maximum"`
}

type MetricDatum struct {
	MetricName        string        `json:"MetricName"`
	Dimensions        []Dimension   `json:"Dimensions"`
	Timestamp         inTime        `json:"Timestamp"`
	Value             *float64      `json:"Value"`
	StatisticValues   *StatisticSet `json:"StatisticValues"`
	Values            []float64     `json:"Values"`
	Counts            []float64     `json:"Counts"`
	Unit              string        `json:"Unit"`
	StorageResolution *int32        `json:"StorageResolution"`
}

type PutMetricDataInput struct {
	Namespace  string        `json:"Namespace"`
	MetricData []MetricDatum `json:"MetricData"`
}

type GetMetricStatisticsInput struct {
	Namespace          string      `json:"Namespace"`
	MetricName         string      `json:"MetricName"`
	Dimensions         []Dimension `json:"Dimensions"`
	StartTime          inTime      `json:"StartTime"`
	EndTime            inTime      `json:"EndTime"`
	Period             *int32      `json:"Period"`
	Statistics         []string    `json:"Statistics"`
	ExtendedStatistics []string    `json:"ExtendedStatistics"`
	Unit               string      `json:"Unit"`
}

type Datapoint struct {
	Timestamp          *outTime `json:"Timestamp,omitempty" xml:"Timestamp,omitempty"`
	SampleCount        *float64 `json:"SampleCount,omitempty" xml:"SampleCount,omitempty"`
	Average            *float64 `json:"Average,omitempty" xml:"Average,omitempty"`
	Sum                *float64 `json:"Sum,omitempty" xml:"Sum,omitempty"`
	Minimum            *float64 `json:"Minimum,omitempty" xml:"Minimum,omitempty"`
	Maximum            *float64 `json:"Maximum,omitempty" xml:"Maximum,omitempty"`
	Unit               string   `json:"Unit,omitempty" xml:"Unit,omitempty"`
	ExtendedStatistics statMap  `json:"ExtendedStatistics,omitempty" xml:"ExtendedStatistics,omitempty"`
}

type GetMetricStatisticsOutput struct {
	Label      string      `json:"Label" xml:"Label"`
	Datapoints []Datapoint `json:"Datapoints" xml:"Datapoints>member"`
}

type Metric struct {
	Namespace  string      `json:"Namespace,omitempty" xml:"Namespace,omitempty"`
	MetricName string      `json:"MetricName,omitempty" xml:"MetricName,omitempty"`
	Dimensions []Dimension `json:"Dimensions,omitempty" xml:"Dimensions>member,omitempty"`
}

type MetricStat struct {
	Metric *Metric `json:"Metric"`
	Period *int32  `json:"Period"`
	Stat   string  `json:"Stat"`
	Unit   string  `json:"Unit"`
}

type MetricDataQuery struct {
	Id         string      `json:"Id"`
	MetricStat *MetricStat `json:"MetricStat"`
	Expression string      `json:"Expression"`
	Label      string      `json:"Label"`
	ReturnData *bool       `json:"ReturnData"`
	Period     *int32      `json:"Period"`
	AccountId  string      `json:"AccountId"`
}

type GetMetricDataInput struct {
	MetricDataQueries []MetricDataQuery `json:"MetricDataQueries"`
	StartTime         inTime            `json:"StartTime"`
	EndTime           inTime            `json:"EndTime"`
	NextToken         string            `json:"NextToken"`
	ScanBy            string            `json:"ScanBy"`
	MaxDatapoints     *int32            `json:"MaxDatapoints"`
}

type MessageData struct {
	Code  string `json:"Code,omitempty" xml:"Code,omitempty"`
	Value string `json:"Value,omitempty" xml:"Value,omitempty"`
}

type MetricDataResult struct {
	Id         string        `json:"Id" xml:"Id"`
	Label      string        `json:"Label" xml:"Label"`
	Timestamps []outTime     `json:"Timestamps" xml:"Timestamps>member"`
	Values     []float64     `json:"Values" xml:"Values>member"`
	StatusCode string        `json:"StatusCode" xml:"StatusCode"`
	Messages   []MessageData `json:"Messages,omitempty" xml:"Messages>member,omitempty"`
}

type GetMetricDataOutput struct {
	MetricDataResults []MetricDataResult `json:"MetricDataResults" xml:"MetricDataResults>member"`
	NextToken         string             `json:"NextToken,omitempty" xml:"NextToken,omitempty"`
	Messages          []MessageData      `json:"Messages,omitempty" xml:"Messages>member,omitempty"`
}

type ListMetricsInput struct {
	Namespace      string            `json:"Namespace"`
	MetricName     string            `json:"MetricName"`
	Dimensions     []DimensionFilter `json:"Dimensions"`
	NextToken      string            `json:"NextToken"`
	RecentlyActive string            `json:"RecentlyActive"`
}

type ListMetricsOutput struct {
	Metrics   []Metric `json:"Metrics" xml:"Metrics>member"`
	NextToken string   `json:"NextToken,omitempty" xml:"NextToken,omitempty"`
}

type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type PutMetricAlarmInput struct {
	AlarmName                        string            `json:"AlarmName"`
	AlarmDescription                 *string           `json:"AlarmDescription"`
	ActionsEnabled                   *bool             `json:"ActionsEnabled"`
	OKActions                        []string          `json:"OKActions"`
	AlarmActions                     []string          `json:"AlarmActions"`
	InsufficientDataActions          []string          `json:"InsufficientDataActions"`
	MetricName                       string            `json:"MetricName"`
	Namespace                        string            `json:"Namespace"`
	Statistic                        string            `json:"Statistic"`
	ExtendedStatistic                string            `json:"ExtendedStatistic"`
	Dimensions                       []Dimension       `json:"Dimensions"`
	Period                           *int32            `json:"Period"`
	Unit                             string            `json:"Unit"`
	EvaluationPeriods                *int32            `json:"EvaluationPeriods"`
	DatapointsToAlarm                *int32            `json:"DatapointsToAlarm"`
	Threshold                        *float64          `json:"Threshold"`
	ComparisonOperator               string            `json:"ComparisonOperator"`
	TreatMissingData                 string            `json:"TreatMissingData"`
	Metrics                          []MetricDataQuery `json:"Metrics"`
	ThresholdMetricId                string            `json:"ThresholdMetricId"`
	Tags                             []Tag             `json:"Tags"`
	EvaluateLowSampleCountPercentile string            `json:"EvaluateLowSampleCountPercentile"`
}

// MetricAlarm is DescribeAlarms' shape; the stored alarm is Alarm.
type MetricAlarm struct {
	AlarmName                          string      `json:"AlarmName" xml:"AlarmName"`
	AlarmArn                           string      `json:"AlarmArn" xml:"AlarmArn"`
	AlarmDescription                   string      `json:"AlarmDescription,omitempty" xml:"AlarmDescription,omitempty"`
	AlarmConfigurationUpdatedTimestamp *outTime    `json:"AlarmConfigurationUpdatedTimestamp,omitempty" xml:"AlarmConfigurationUpdatedTimestamp,omitempty"`
	ActionsEnabled                     bool        `json:"ActionsEnabled" xml:"ActionsEnabled"`
	OKActions                          []string    `json:"OKActions" xml:"OKActions>member"`
	AlarmActions                       []string    `json:"AlarmActions" xml:"AlarmActions>member"`
	InsufficientDataActions            []string    `json:"InsufficientDataActions" xml:"InsufficientDataActions>member"`
	StateValue                         string      `json:"StateValue" xml:"StateValue"`
	StateReason                        string      `json:"StateReason" xml:"StateReason"`
	StateReasonData                    string      `json:"StateReasonData,omitempty" xml:"StateReasonData,omitempty"`
	StateUpdatedTimestamp              *outTime    `json:"StateUpdatedTimestamp,omitempty" xml:"StateUpdatedTimestamp,omitempty"`
	MetricName                         string      `json:"MetricName" xml:"MetricName"`
	Namespace                          string      `json:"Namespace" xml:"Namespace"`
	Statistic                          string      `json:"Statistic,omitempty" xml:"Statistic,omitempty"`
	ExtendedStatistic                  string      `json:"ExtendedStatistic,omitempty" xml:"ExtendedStatistic,omitempty"`
	Dimensions                         []Dimension `json:"Dimensions" xml:"Dimensions>member"`
	Period                             int32       `json:"Period" xml:"Period"`
	Unit                               string      `json:"Unit,omitempty" xml:"Unit,omitempty"`
	EvaluationPeriods                  int32       `json:"EvaluationPeriods" xml:"EvaluationPeriods"`
	DatapointsToAlarm                  int32       `json:"DatapointsToAlarm" xml:"DatapointsToAlarm"`
	Threshold                          float64     `json:"Threshold" xml:"Threshold"`
	ComparisonOperator                 string      `json:"ComparisonOperator" xml:"ComparisonOperator"`
	TreatMissingData                   string      `json:"TreatMissingData" xml:"TreatMissingData"`
	StateTransitionedTimestamp         *outTime    `json:"StateTransitionedTimestamp,omitempty" xml:"StateTransitionedTimestamp,omitempty"`
}

type DescribeAlarmsInput struct {
	AlarmNames      []string `json:"AlarmNames"`
	AlarmNamePrefix string   `json:"AlarmNamePrefix"`
	AlarmTypes      []string `json:"AlarmTypes"`
	StateValue      string   `json:"StateValue"`
	ActionPrefix    string   `json:"ActionPrefix"`
	MaxRecords      *int32   `json:"MaxRecords"`
	NextToken       string   `json:"NextToken"`
}

type DescribeAlarmsOutput struct {
	MetricAlarms    []MetricAlarm `json:"MetricAlarms" xml:"MetricAlarms>member"`
	CompositeAlarms []struct{}    `json:"CompositeAlarms" xml:"CompositeAlarms>member"`
	NextToken       string        `json:"NextToken,omitempty" xml:"NextToken,omitempty"`
}

type DescribeAlarmHistoryInput struct {
	AlarmName       string   `json:"AlarmName"`
	AlarmTypes      []string `json:"AlarmTypes"`
	HistoryItemType string   `json:"HistoryItemType"`
	StartDate       inTime   `json:"StartDate"`
	EndDate         inTime   `json:"EndDate"`
	MaxRecords      *int32   `json:"MaxRecords"`
	NextToken       string   `json:"NextToken"`
	ScanBy          string   `json:"ScanBy"`
}

type AlarmHistoryItem struct {
	AlarmName       string   `json:"AlarmName" xml:"AlarmName"`
	AlarmType       string   `json:"AlarmType" xml:"AlarmType"`
	Timestamp       *outTime `json:"Timestamp" xml:"Timestamp"`
	HistoryItemType string   `json:"HistoryItemType" xml:"HistoryItemType"`
	HistorySummary  string   `json:"HistorySummary" xml:"HistorySummary"`
	HistoryData     string   `json:"HistoryData" xml:"HistoryData"`
}

type DescribeAlarmHistoryOutput struct {
	AlarmHistoryItems []AlarmHistoryItem `json:"AlarmHistoryItems" xml:"AlarmHistoryItems>member"`
	NextToken         string             `json:"NextToken,omitempty" xml:"NextToken,omitempty"`
}

type AlarmNamesInput struct {
	AlarmNames []string `json:"AlarmNames"`
}

type SetAlarmStateInput struct {
	AlarmName       string `json:"AlarmName"`
	StateValue      string `json:"StateValue"`
	StateReason     string `json:"StateReason"`
	StateReasonData string `json:"StateReasonData"`
}
