package cloudwatch

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/awsproto"
)

// Publisher publishes a message to an SNS topic. sns.(*Service) is one; the
// interface keeps this package from depending on SNS.
type Publisher interface {
	Publish(ctx context.Context, topicARN, subject, message string) (messageID string, err error)
}

// publishTimeout bounds one publish from an alarm hook, which runs on the
// evaluator's goroutine.
const publishTimeout = 10 * time.Second

// NotifySNS makes every state change of an alarm with actions enabled
// publish CloudWatch's alarm notification to each SNS topic among the
// actions of the new state (AlarmActions, OKActions or
// InsufficientDataActions). Other actions are skipped with a log line.
// ctx bounds the hook's life (the server's).
func (s *Service) NotifySNS(ctx context.Context, p Publisher) {
	s.OnTransition(AlarmNotifier(ctx, p, s.region, s.account, s.log))
}

// AlarmNotifier is the OnTransition hook behind NotifySNS.
func AlarmNotifier(ctx context.Context, p Publisher, region, accountID string, log *slog.Logger) func(alarm MetricAlarm, oldState, newState string) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(a MetricAlarm, oldState, newState string) {
		var actions []string
		switch newState {
		case StateAlarm:
			actions = a.AlarmActions
		case StateOK:
			actions = a.OKActions
		case StateInsufficientData:
			actions = a.InsufficientDataActions
		}
		if len(actions) == 0 {
			return
		}
		subject, body, err := alarmNotification(a, oldState, newState, region, accountID)
		if err != nil {
			log.Error("cloudwatch: building alarm notification", "alarm", a.AlarmName, "err", err)
			return
		}
		for _, arn := range actions {
			parsed, err := awsproto.ParseARN(arn)
			if err != nil || parsed.Service != "sns" {
				log.Info("cloudwatch: alarm action skipped; only SNS topics are notified", "alarm", a.AlarmName, "action", arn)
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, publishTimeout)
			id, err := p.Publish(pctx, arn, subject, body)
			cancel()
			if err != nil {
				log.Warn("cloudwatch: publishing alarm notification", "alarm", a.AlarmName, "topic", arn, "err", err)
				continue
			}
			log.Info("cloudwatch: alarm notification published", "alarm", a.AlarmName, "topic", arn, "state", newState, "message_id", id)
		}
	}
}

// alarmMessage is CloudWatch's alarm notification, in its field order.
type alarmMessage struct {
	AlarmName                          string       `json:"AlarmName"`
	AlarmDescription                   *string      `json:"AlarmDescription"`
	AWSAccountID                       string       `json:"AWSAccountId"`
	AlarmConfigurationUpdatedTimestamp string       `json:"AlarmConfigurationUpdatedTimestamp"`
	NewStateValue                      string       `json:"NewStateValue"`
	NewStateReason                     string       `json:"NewStateReason"`
	StateChangeTime                    string       `json:"StateChangeTime"`
	Region                             string       `json:"Region"`
	AlarmArn                           string       `json:"AlarmArn"`
	OldStateValue                      string       `json:"OldStateValue"`
	OKActions                          []string     `json:"OKActions"`
	AlarmActions                       []string     `json:"AlarmActions"`
	InsufficientDataActions            []string     `json:"InsufficientDataActions"`
	Trigger                            alarmTrigger `json:"Trigger"`
}

type alarmTrigger struct {
	MetricName                       string           `json:"MetricName"`
	Namespace                        string           `json:"Namespace"`
	StatisticType                    string           `json:"StatisticType"`
	Statistic                        string           `json:"Statistic,omitempty"`
	ExtendedStatistic                string           `json:"ExtendedStatistic,omitempty"`
	Unit                             *string          `json:"Unit"`
	Dimensions                       []alarmDimension `json:"Dimensions"`
	Period                           int32            `json:"Period"`
	EvaluationPeriods                int32            `json:"EvaluationPeriods"`
	DatapointsToAlarm                int32            `json:"DatapointsToAlarm,omitempty"`
	ComparisonOperator               string           `json:"ComparisonOperator"`
	Threshold                        float64          `json:"Threshold"`
	TreatMissingData                 string           `json:"TreatMissingData"`
	EvaluateLowSampleCountPercentile string           `json:"EvaluateLowSampleCountPercentile"`
}

// alarmDimension is spelled in lower case in the notification, unlike
// everywhere else in CloudWatch.
type alarmDimension struct {
	Value string `json:"value"`
	Name  string `json:"name"`
}

// notificationTime is the notification's timestamp form:
// 2026-11-25T10:00:00.000+0000.
const notificationTime = "2006-01-02T15:04:05.000-0700"

var statisticNames = map[string]string{
	"Average": "AVERAGE", "Sum": "SUM", "Minimum": "MINIMUM", "Maximum": "MAXIMUM", "SampleCount": "SAMPLE_COUNT",
}

// alarmNotification builds the Subject and Message CloudWatch publishes.
func alarmNotification(a MetricAlarm, oldState, newState, region, accountID string) (subject, message string, err error) {
	regionName := regionNames[region]
	if regionName == "" {
		regionName = region
	}
	m := alarmMessage{
		AlarmName: a.AlarmName, AWSAccountID: accountID,
		NewStateValue: newState, NewStateReason: a.StateReason, Region: regionName, AlarmArn: a.AlarmArn, OldStateValue: oldState,
		OKActions: nonNil(a.OKActions), AlarmActions: nonNil(a.AlarmActions), InsufficientDataActions: nonNil(a.InsufficientDataActions),
		Trigger: alarmTrigger{
			MetricName: a.MetricName, Namespace: a.Namespace, Dimensions: []alarmDimension{},
			Period: a.Period, EvaluationPeriods: a.EvaluationPeriods, DatapointsToAlarm: a.DatapointsToAlarm,
			ComparisonOperator: a.ComparisonOperator, Threshold: a.Threshold, TreatMissingData: a.TreatMissingData,
		},
	}
	if a.AlarmDescription != "" {
		m.AlarmDescription = &a.AlarmDescription
	}
	if a.AlarmConfigurationUpdatedTimestamp != nil {
		m.AlarmConfigurationUpdatedTimestamp = a.AlarmConfigurationUpdatedTimestamp.UTC().Format(notificationTime)
	}
	if a.StateUpdatedTimestamp != nil {
		m.StateChangeTime = a.StateUpdatedTimestamp.UTC().Format(notificationTime)
	}
	if a.ExtendedStatistic != "" {
		m.Trigger.StatisticType, m.Trigger.ExtendedStatistic = "ExtendedStatistic", a.ExtendedStatistic
	} else {
		m.Trigger.StatisticType, m.Trigger.Statistic = "Statistic", statisticNames[a.Statistic]
	}
	if a.Unit != "" {
		m.Trigger.Unit = &a.Unit
	}
	for _, d := range a.Dimensions {
		m.Trigger.Dimensions = append(m.Trigger.Dimensions, alarmDimension{Value: d.Value, Name: d.Name})
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", "", fmt.Errorf("encoding notification of alarm %q: %w", a.AlarmName, err)
	}
	return alarmSubject(newState, a.AlarmName, regionName), string(b), nil
}

// alarmSubject is `ALARM: "name" in US East (N. Virginia)`, kept within
// SNS's subject rules (printable ASCII, at most 100 characters).
func alarmSubject(state, name, regionName string) string {
	s := fmt.Sprintf(`%s: "%s" in %s`, state, name, regionName)
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r >= 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// regionNames are the names CloudWatch notifications give regions.
var regionNames = map[string]string{
	"us-east-1":      "US East (N. Virginia)",
	"us-east-2":      "US East (Ohio)",
	"us-west-1":      "US West (N. California)",
	"us-west-2":      "US West (Oregon)",
	"af-south-1":     "Africa (Cape Town)",
	"ap-east-1":      "Asia Pacific (Hong Kong)",
	"ap-south-1":     "Asia Pacific (Mumbai)",
	"ap-northeast-1": "Asia Pacific (Tokyo)",
	"ap-northeast-2": "Asia Pacific (Seoul)",
	"ap-northeast-3": "Asia Pacific (Osaka)",
	"ap-southeast-1": "Asia Pacific (Singapore)",
	"ap-southeast-2": "Asia Pacific (Sydney)",
	"ca-central-1":   "Canada (Central)",
	"eu-central-1":   "EU (Frankfurt)",
	"eu-west-1":      "EU (Ireland)",
	"eu-west-2":      "EU (London)",
	"eu-west-3":      "EU (Paris)",
	"eu-north-1":     "EU (Stockholm)",
	"eu-south-1":     "EU (Milan)",
	"me-south-1":     "Middle East (Bahrain)",
	"sa-east-1":      "South America (Sao Paulo)",
}
