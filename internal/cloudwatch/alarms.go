package cloudwatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

// Store kinds. History keys start with the zero-padded time so that a
// listing is in time order and retention can drop from the front.
const (
	kindAlarm   = "cloudwatch.alarm"
	kindHistory = "cloudwatch.alarmhistory"
	// historyRetention is how long AWS keeps alarm history.
	historyRetention = 30 * 24 * time.Hour
	maxActions       = 5
)

const (
	StateOK               = "OK"
	StateAlarm            = "ALARM"
	StateInsufficientData = "INSUFFICIENT_DATA"
)

var staticOperators = map[string]string{
	"GreaterThanOrEqualToThreshold": "greater than or equal to",
	"GreaterThanThreshold":          "greater than",
	"LessThanThreshold":             "less than",
	"LessThanOrEqualToThreshold":    "less than or equal to",
}

var anomalyOperators = map[string]bool{
	"LessThanLowerOrGreaterThanUpperThreshold": true,
	"LessThanLowerThreshold":                   true,
	"GreaterThanUpperThreshold":                true,
}

// alarm is the stored form of a metric alarm.
type alarm struct {
	Name                    string      `json:"name"`
	Description             string      `json:"description,omitempty"`
	ActionsEnabled          bool        `json:"actionsEnabled"`
	OKActions               []string    `json:"okActions,omitempty"`
	AlarmActions            []string    `json:"alarmActions,omitempty"`
	InsufficientDataActions []string    `json:"insufficientDataActions,omitempty"`
	Namespace               string      `json:"namespace"`
	MetricName              string      `json:"metricName"`
	Statistic               string      `json:"statistic,omitempty"`
	ExtendedStatistic       string      `json:"extendedStatistic,omitempty"`
	Dimensions              []Dimension `json:"dimensions,omitempty"`
	Period                  int32       `json:"period"`
	EvaluationPeriods       int32       `json:"evaluationPeriods"`
	DatapointsToAlarm       int32       `json:"datapointsToAlarm"`
	Unit                    string      `json:"unit,omitempty"`
	Threshold               float64     `json:"threshold"`
	ComparisonOperator      string      `json:"comparisonOperator"`
	TreatMissingData        string      `json:"treatMissingData"`
	Tags                    []Tag       `json:"tags,omitempty"`
	ConfigUpdated           time.Time   `json:"configUpdated"`
	State                   string      `json:"state"`
	StateReason             string      `json:"stateReason"`
	StateReasonData         string      `json:"stateReasonData,omitempty"`
	StateUpdated            time.Time   `json:"stateUpdated"`
	StateTransitioned       time.Time   `json:"stateTransitioned"`
	// NextEval is when the evaluator next looks at the alarm: the end of
	// the period after the last one evaluated.
	NextEval time.Time `json:"nextEval"`
}

func (s *Service) alarmArn(name string) string {
	return fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", s.region, s.account, name)
}

func (s *Service) wire(a *alarm) MetricAlarm {
	nz := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	dims := a.Dimensions
	if dims == nil {
		dims = []Dimension{}
	}
	return MetricAlarm{
		AlarmName: a.Name, AlarmArn: s.alarmArn(a.Name), AlarmDescription: a.Description,
		AlarmConfigurationUpdatedTimestamp: newOutTime(a.ConfigUpdated),
		ActionsEnabled:                     a.ActionsEnabled,
		OKActions:                          nz(a.OKActions), AlarmActions: nz(a.AlarmActions), InsufficientDataActions: nz(a.InsufficientDataActions),
		StateValue: a.State, StateReason: a.StateReason, StateReasonData: a.StateReasonData,
		StateUpdatedTimestamp: newOutTime(a.StateUpdated),
		MetricName:            a.MetricName, Namespace: a.Namespace, Statistic: a.Statistic, ExtendedStatistic: a.ExtendedStatistic,
		Dimensions: dims, Period: a.Period, Unit: a.Unit, EvaluationPeriods: a.EvaluationPeriods, DatapointsToAlarm: a.DatapointsToAlarm,
		Threshold: a.Threshold, ComparisonOperator: a.ComparisonOperator, TreatMissingData: a.TreatMissingData,
		StateTransitionedTimestamp: newOutTime(a.StateTransitioned),
	}
}

type historyRecord struct {
	AlarmName string    `json:"alarmName"`
	Time      time.Time `json:"time"`
	Type      string    `json:"type"`
	Summary   string    `json:"summary"`
	Data      string    `json:"data"`
}

func (s *Service) addHistory(tx store.Tx, h historyRecord) error {
	// The sequence orders items written at the same instant (a fake clock,
	// or a state change and its actions); it starts from the real time so
	// that it keeps growing across restarts.
	key := fmt.Sprintf("%020d/%020d/%s", h.Time.UnixNano(), s.histSeq.Add(1), h.AlarmName)
	return store.PutJSON(tx, &store.Record{Kind: kindHistory, Key: key, Index: h.AlarmName}, h)
}

func checkActions(list []string, member string) error {
	if len(list) > maxActions {
		return invalidParam("The collection %s must not have a size greater than %d.", member, maxActions)
	}
	for _, a := range list {
		if _, err := awsproto.ParseARN(a); err != nil || len(a) > 1024 {
			return invalidParam("Invalid arn syntax: %s", a)
		}
	}
	return nil
}

func validAlarmPeriod(p int32) bool {
	return p == 10 || p == 20 || p == 30 || (p >= 60 && p%60 == 0)
}

// PutMetricAlarm creates or replaces a metric alarm. An update keeps the
// alarm's state, as AWS does, and the next evaluation decides afresh.
func (s *Service) PutMetricAlarm(ctx context.Context, in *PutMetricAlarmInput) (*empty, error) {
	switch {
	case in.AlarmName == "":
		return nil, missingParam("AlarmName")
	case len(in.AlarmName) > 255:
		return nil, invalidParam("The parameter AlarmName must be at most 255 characters.")
	case len(in.Metrics) > 0 || in.ThresholdMetricId != "":
		return nil, invalidParam("Alarms on metric math (Metrics, ThresholdMetricId) are not supported by this server; use MetricName, Namespace and Statistic.")
	case in.MetricName == "":
		return nil, missingParam("MetricName")
	case in.Namespace == "":
		return nil, missingParam("Namespace")
	case in.Statistic != "" && in.ExtendedStatistic != "":
		return nil, invalidCombination("Exactly one of Statistic and ExtendedStatistic must be specified.")
	case in.Statistic == "" && in.ExtendedStatistic == "":
		return nil, invalidCombination("Exactly one of Statistic and ExtendedStatistic must be specified.")
	case in.Statistic != "" && !basicStats[in.Statistic]:
		return nil, invalidParam("The value %s for parameter Statistic is invalid.", in.Statistic)
	case in.Period == nil:
		return nil, missingParam("Period")
	case !validAlarmPeriod(*in.Period):
		return nil, invalidParam("Period must be 10, 20, 30 or a multiple of 60.")
	case in.EvaluationPeriods == nil:
		return nil, missingParam("EvaluationPeriods")
	case *in.EvaluationPeriods < 1:
		return nil, invalidParam("The parameter EvaluationPeriods must be greater than or equal to 1.")
	case in.ComparisonOperator == "":
		return nil, missingParam("ComparisonOperator")
	case anomalyOperators[in.ComparisonOperator]:
		return nil, invalidParam("Anomaly detection alarms (ComparisonOperator %s) are not supported by this server.", in.ComparisonOperator)
	case staticOperators[in.ComparisonOperator] == "":
		return nil, invalidParam("The value %s for parameter ComparisonOperator is invalid.", in.ComparisonOperator)
	case in.Threshold == nil:
		return nil, missingParam("Threshold")
	}
	if in.ExtendedStatistic != "" {
		if _, ok := parsePercentile(in.ExtendedStatistic); !ok {
			return nil, invalidParam("The value %s for parameter ExtendedStatistic is invalid.", in.ExtendedStatistic)
		}
	}
	if int64(*in.Period)*int64(*in.EvaluationPeriods) > 7*24*3600 {
		return nil, invalidParam("The product of Period and EvaluationPeriods must not exceed 604800 seconds (7 days).")
	}
	m := *in.EvaluationPeriods
	if in.DatapointsToAlarm != nil {
		m = *in.DatapointsToAlarm
		if m < 1 || m > *in.EvaluationPeriods {
			return nil, invalidParam("DatapointsToAlarm must be between 1 and EvaluationPeriods (%d).", *in.EvaluationPeriods)
		}
	}
	tmd := in.TreatMissingData
	switch tmd {
	case "":
		tmd = "missing"
	case "missing", "ignore", "breaching", "notBreaching":
	default:
		return nil, invalidParam("The value %s for parameter TreatMissingData is invalid. Valid values: breaching, notBreaching, ignore, missing.", tmd)
	}
	if in.Unit != "" && !standardUnits[in.Unit] {
		return nil, invalidParam("The unit %s for parameter Unit is invalid.", in.Unit)
	}
	if err := checkDims(in.Dimensions, "Dimensions"); err != nil {
		return nil, err
	}
	for member, list := range map[string][]string{"OKActions": in.OKActions, "AlarmActions": in.AlarmActions, "InsufficientDataActions": in.InsufficientDataActions} {
		if err := checkActions(list, member); err != nil {
			return nil, err
		}
	}
	if in.AlarmDescription != nil && len(*in.AlarmDescription) > 1024 {
		return nil, invalidParam("The parameter AlarmDescription must be at most 1024 characters.")
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.db.Update(ctx, func(tx store.Tx) error {
		a, rec, err := store.GetJSON[alarm](tx, kindAlarm, in.AlarmName)
		created := errors.Is(err, store.ErrNotFound)
		if err != nil && !created {
			return err
		}
		if created {
			a = &alarm{Name: in.AlarmName, State: StateInsufficientData, StateReason: "Unchecked: Initial alarm creation",
				StateUpdated: now, StateTransitioned: now, ActionsEnabled: true, NextEval: now}
			rec = &store.Record{Kind: kindAlarm, Key: in.AlarmName}
			if n, err := tx.Count(kindAlarm, store.ListOptions{}); err != nil {
				return err
			} else if n >= maxAlarms {
				return limitExceeded("The maximum number of alarms (%d) has been reached.", maxAlarms)
			}
		}
		a.Description = deref(in.AlarmDescription)
		if in.ActionsEnabled != nil {
			a.ActionsEnabled = *in.ActionsEnabled
		} else {
			a.ActionsEnabled = true
		}
		a.OKActions, a.AlarmActions, a.InsufficientDataActions = in.OKActions, in.AlarmActions, in.InsufficientDataActions
		a.Namespace, a.MetricName, a.Statistic, a.ExtendedStatistic = in.Namespace, in.MetricName, in.Statistic, in.ExtendedStatistic
		a.Dimensions, a.Period, a.EvaluationPeriods, a.DatapointsToAlarm = in.Dimensions, *in.Period, *in.EvaluationPeriods, m
		a.Unit, a.Threshold, a.ComparisonOperator, a.TreatMissingData = in.Unit, *in.Threshold, in.ComparisonOperator, tmd
		if len(in.Tags) > 0 || created {
			a.Tags = in.Tags
		}
		a.ConfigUpdated = now
		// Re-evaluate soon with the new configuration.
		a.NextEval = now
		if err := store.PutJSON(tx, rec, a); err != nil {
			return err
		}
		verb, typ := "updated", "Update"
		if created {
			verb, typ = "created", "Create"
		}
		cfg, _ := json.Marshal(s.wire(a))
		data, _ := json.Marshal(map[string]any{"version": "1.0", "type": typ, strings.ToLower(typ[:1]) + typ[1:] + "dAlarm": json.RawMessage(cfg)})
		return s.addHistory(tx, historyRecord{AlarmName: a.Name, Time: now, Type: "ConfigurationUpdate",
			Summary: fmt.Sprintf("Alarm %q %s", a.Name, verb), Data: string(data)})
	})
	if err != nil {
		return nil, err
	}
	return nil, nil
}

// maxAlarms bounds the alarms of this server (AWS's default quota is far
// higher, but each alarm costs an evaluation per period here).
const maxAlarms = 5000

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

type describeToken struct {
	After string `json:"a"`
}

const describeScope = awsproto.TokenScope("cloudwatch/DescribeAlarms")

// DescribeAlarms lists metric alarms in name order.
func (s *Service) DescribeAlarms(ctx context.Context, in *DescribeAlarmsInput) (*DescribeAlarmsOutput, error) {
	limit := 50
	if in.MaxRecords != nil {
		if *in.MaxRecords < 1 || *in.MaxRecords > 100 {
			return nil, invalidParam("The parameter MaxRecords must be between 1 and 100.")
		}
		limit = int(*in.MaxRecords)
	}
	if len(in.AlarmNames) > 100 {
		return nil, invalidParam("The collection AlarmNames must not have a size greater than 100.")
	}
	if in.AlarmNamePrefix != "" && len(in.AlarmNames) > 0 {
		return nil, invalidCombination("AlarmNamePrefix and AlarmNames cannot be used together.")
	}
	switch in.StateValue {
	case "", StateOK, StateAlarm, StateInsufficientData:
	default:
		return nil, invalidParam("The value %s for parameter StateValue is invalid.", in.StateValue)
	}
	wantMetric := len(in.AlarmTypes) == 0
	for _, t := range in.AlarmTypes {
		switch t {
		case "MetricAlarm":
			wantMetric = true
		case "CompositeAlarm":
		default:
			return nil, invalidParam("The value %s for parameter AlarmTypes is invalid.", t)
		}
	}
	var tok describeToken
	if in.NextToken != "" {
		if err := describeScope.Decode(in.NextToken, &tok); err != nil {
			return nil, invalidToken()
		}
	}
	out := &DescribeAlarmsOutput{MetricAlarms: []MetricAlarm{}, CompositeAlarms: []struct{}{}}
	if !wantMetric {
		return out, nil
	}
	names := map[string]bool{}
	for _, n := range in.AlarmNames {
		names[n] = true
	}
	var alarms []*alarm
	err := s.db.View(ctx, func(tx store.Tx) error {
		var err error
		alarms, _, err = store.ListJSON[alarm](tx, kindAlarm, store.ListOptions{Prefix: in.AlarmNamePrefix, After: tok.After})
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, a := range alarms {
		if len(names) > 0 && !names[a.Name] {
			continue
		}
		if in.StateValue != "" && a.State != in.StateValue {
			continue
		}
		if in.ActionPrefix != "" && !hasActionPrefix(a, in.ActionPrefix) {
			continue
		}
		if len(out.MetricAlarms) == limit {
			out.NextToken = describeScope.Encode(describeToken{After: out.MetricAlarms[limit-1].AlarmName})
			break
		}
		out.MetricAlarms = append(out.MetricAlarms, s.wire(a))
	}
	return out, nil
}

func hasActionPrefix(a *alarm, prefix string) bool {
	for _, l := range [][]string{a.OKActions, a.AlarmActions, a.InsufficientDataActions} {
		for _, x := range l {
			if strings.HasPrefix(x, prefix) {
				return true
			}
		}
	}
	return false
}

type historyToken struct {
	Key string `json:"k"`
}

const historyScope = awsproto.TokenScope("cloudwatch/DescribeAlarmHistory")

// DescribeAlarmHistory lists history items, newest first unless ScanBy says
// otherwise. History of deleted alarms stays, as in AWS.
func (s *Service) DescribeAlarmHistory(ctx context.Context, in *DescribeAlarmHistoryInput) (*DescribeAlarmHistoryOutput, error) {
	limit := 100
	if in.MaxRecords != nil {
		if *in.MaxRecords < 1 || *in.MaxRecords > 100 {
			return nil, invalidParam("The parameter MaxRecords must be between 1 and 100.")
		}
		limit = int(*in.MaxRecords)
	}
	switch in.HistoryItemType {
	case "", "ConfigurationUpdate", "StateUpdate", "Action":
	default:
		return nil, invalidParam("The value %s for parameter HistoryItemType is invalid.", in.HistoryItemType)
	}
	desc := true
	switch in.ScanBy {
	case "", "TimestampDescending":
	case "TimestampAscending":
		desc = false
	default:
		return nil, invalidParam("The value %s for parameter ScanBy is invalid.", in.ScanBy)
	}
	var from, to time.Time
	var err error
	if in.StartDate != "" {
		if from, err = in.StartDate.parse("StartDate"); err != nil {
			return nil, err
		}
	}
	if in.EndDate != "" {
		if to, err = in.EndDate.parse("EndDate"); err != nil {
			return nil, err
		}
	}
	var tok historyToken
	if in.NextToken != "" {
		if err := historyScope.Decode(in.NextToken, &tok); err != nil {
			return nil, invalidToken()
		}
	}
	var items []*historyRecord
	var recs []*store.Record
	err = s.db.View(ctx, func(tx store.Tx) error {
		var err error
		items, recs, err = store.ListJSON[historyRecord](tx, kindHistory, store.ListOptions{Index: in.AlarmName})
		return err
	})
	if err != nil {
		return nil, err
	}
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	if desc {
		sort.Slice(idx, func(i, j int) bool { return recs[idx[i]].Key > recs[idx[j]].Key })
	}
	out := &DescribeAlarmHistoryOutput{AlarmHistoryItems: []AlarmHistoryItem{}}
	lastKey := ""
	for _, i := range idx {
		h, key := items[i], recs[i].Key
		if tok.Key != "" && (desc && key >= tok.Key || !desc && key <= tok.Key) {
			continue
		}
		if in.HistoryItemType != "" && h.Type != in.HistoryItemType {
			continue
		}
		if !from.IsZero() && h.Time.Before(from) || !to.IsZero() && !h.Time.Before(to) {
			continue
		}
		if len(out.AlarmHistoryItems) == limit {
			out.NextToken = historyScope.Encode(historyToken{Key: lastKey})
			break
		}
		lastKey = key
		out.AlarmHistoryItems = append(out.AlarmHistoryItems, AlarmHistoryItem{AlarmName: h.AlarmName, AlarmType: "MetricAlarm",
			Timestamp: newOutTime(h.Time), HistoryItemType: h.Type, HistorySummary: h.Summary, HistoryData: h.Data})
	}
	return out, nil
}

// DeleteAlarms deletes alarms. As the current API reference says, names
// that match no alarm are skipped and the others are still deleted (older
// docs said an error deletes nothing); the model's ResourceNotFound is
// therefore never returned here.
func (s *Service) DeleteAlarms(ctx context.Context, in *AlarmNamesInput) (*empty, error) {
	if len(in.AlarmNames) == 0 {
		return nil, missingParam("AlarmNames")
	}
	if len(in.AlarmNames) > 100 {
		return nil, invalidParam("The collection AlarmNames must not have a size greater than 100.")
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return nil, s.db.Update(ctx, func(tx store.Tx) error {
		for _, n := range in.AlarmNames {
			if err := tx.Delete(kindAlarm, n, -1); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				return err
			}
			if err := s.addHistory(tx, historyRecord{AlarmName: n, Time: now, Type: "ConfigurationUpdate",
				Summary: fmt.Sprintf("Alarm %q deleted", n), Data: `{"version":"1.0","type":"Delete"}`}); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetAlarmState sets the state until the next evaluation, which may change
// it again; actions run as for any transition.
func (s *Service) SetAlarmState(ctx context.Context, in *SetAlarmStateInput) (*empty, error) {
	switch {
	case in.AlarmName == "":
		return nil, missingParam("AlarmName")
	case in.StateValue == "":
		return nil, missingParam("StateValue")
	case in.StateReason == "":
		return nil, missingParam("StateReason")
	case len(in.StateReason) > 1023:
		return nil, invalidParam("The parameter StateReason must be at most 1023 characters.")
	}
	switch in.StateValue {
	case StateOK, StateAlarm, StateInsufficientData:
	default:
		return nil, invalidParam("The value %s for parameter StateValue is invalid.", in.StateValue)
	}
	if in.StateReasonData != "" && !json.Valid([]byte(in.StateReasonData)) {
		return nil, invalidFormat("The parameter StateReasonData must be valid JSON.")
	}
	_, err := s.transition(ctx, in.AlarmName, func(a *alarm) (string, string, string, bool) {
		return in.StateValue, in.StateReason, in.StateReasonData, true
	})
	return nil, err
}

// EnableAlarmActions turns actions on for the named alarms; unknown names
// are skipped, as AWS does.
func (s *Service) EnableAlarmActions(ctx context.Context, in *AlarmNamesInput) (*empty, error) {
	return nil, s.setActions(ctx, in.AlarmNames, true)
}

// DisableAlarmActions turns actions off for the named alarms.
func (s *Service) DisableAlarmActions(ctx context.Context, in *AlarmNamesInput) (*empty, error) {
	return nil, s.setActions(ctx, in.AlarmNames, false)
}

func (s *Service) setActions(ctx context.Context, names []string, on bool) error {
	if len(names) == 0 {
		return missingParam("AlarmNames")
	}
	if len(names) > 100 {
		return invalidParam("The collection AlarmNames must not have a size greater than 100.")
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Update(ctx, func(tx store.Tx) error {
		for _, n := range names {
			a, rec, err := store.GetJSON[alarm](tx, kindAlarm, n)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if a.ActionsEnabled == on {
				continue
			}
			a.ActionsEnabled = on
			a.ConfigUpdated = now
			if err := store.PutJSON(tx, rec, a); err != nil {
				return err
			}
		}
		return nil
	})
}

// AlarmState reports an alarm's state, for the deployment engine.
func (s *Service) AlarmState(ctx context.Context, name string) (state string, exists bool, err error) {
	err = s.db.View(ctx, func(tx store.Tx) error {
		a, _, err := store.GetJSON[alarm](tx, kindAlarm, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		state, exists = a.State, true
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("cloudwatch: reading alarm %q: %w", name, err)
	}
	return state, exists, nil
}

// OnTransition registers a hook called after every committed state change
// of an alarm whose actions are enabled (SNS notifications plug in here).
// Hooks run on the evaluator's goroutine (or the SetAlarmState request's)
// and should not block.
func (s *Service) OnTransition(fn func(alarm MetricAlarm, oldState, newState string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, fn)
}

// OnStateChange registers a function called after every committed change
// of any alarm's state, whether or not its actions are enabled: deployments
// watch alarm states, not actions. It runs on the evaluator's goroutine (or
// the SetAlarmState request's) and should not block.
func (s *Service) OnStateChange(fn func(alarm, oldState, newState string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watchers = append(s.watchers, fn)
}
