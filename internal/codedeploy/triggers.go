package codedeploy

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/triggers"
)

// Deployment trigger events, named as TriggerEventType.
const (
	EventDeploymentStart    = "DeploymentStart"
	EventDeploymentSuccess  = "DeploymentSuccess"
	EventDeploymentFailure  = "DeploymentFailure"
	EventDeploymentStop     = "DeploymentStop"
	EventDeploymentRollback = "DeploymentRollback"
	EventDeploymentReady    = "DeploymentReady"
)

// statusEvent is the trigger event a change of a deployment's status
// fires, or "". Leaving Ready for InProgress is not a new start.
func statusEvent(before, after string) string {
	switch after {
	case StatusInProgress:
		if before == StatusCreated || before == StatusQueued || before == "" {
			return EventDeploymentStart
		}
	case StatusReady:
		return EventDeploymentReady
	case StatusSucceeded:
		return EventDeploymentSuccess
	case StatusFailed:
		return EventDeploymentFailure
	case StatusStopped:
		return EventDeploymentStop
	}
	return ""
}

// subjectWord heads a notification's subject, as AWS's do
// ("SUCCEEDED: AWS CodeDeploy d-... in us-east-1 to app").
var subjectWord = map[string]string{
	EventDeploymentStart:    "CREATED",
	EventDeploymentSuccess:  "SUCCEEDED",
	EventDeploymentFailure:  "FAILED",
	EventDeploymentStop:     "STOPPED",
	EventDeploymentRollback: "ROLLBACK",
	EventDeploymentReady:    "READY",
}

// deploymentMessage is the JSON body of a deployment trigger
// notification. Times and counts are strings, as AWS sends them.
type deploymentMessage struct {
	Region              string            `json:"region"`
	AccountID           string            `json:"accountId"`
	EventTriggerName    string            `json:"eventTriggerName"`
	ApplicationName     string            `json:"applicationName"`
	DeploymentID        string            `json:"deploymentId"`
	DeploymentGroupName string            `json:"deploymentGroupName"`
	CreateTime          string            `json:"createTime"`
	CompleteTime        string            `json:"completeTime,omitempty"`
	DeploymentOverview  map[string]string `json:"deploymentOverview"`
	Status              string            `json:"status"`
	ErrorInformation    *triggerErrorInfo `json:"errorInformation,omitempty"`
}

type triggerErrorInfo struct {
	ErrorCode    string `json:"ErrorCode"`
	ErrorMessage string `json:"ErrorMessage"`
}

func epochString(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// queueTriggers writes the notifications event fires for d to the outbox,
// one per trigger of g that lists the event.
func (s *Service) queueTriggers(tx store.Tx, g *DeploymentGroup, d *Deployment, event string) error {
	for _, tc := range g.TriggerConfigurations {
		if !slices.Contains(tc.TriggerEvents, event) {
			continue
		}
		m := deploymentMessage{
			Region: s.region, AccountID: s.account, EventTriggerName: str(tc.TriggerName),
			ApplicationName: d.ApplicationName, DeploymentID: d.DeploymentID, DeploymentGroupName: d.DeploymentGroupName,
			CreateTime: epochString(d.CreateTime.Time), Status: d.Status,
			DeploymentOverview: map[string]string{"Failed": "0", "InProgress": "0", "Pending": "0", "Skipped": "0", "Succeeded": "0"},
		}
		if d.CompleteTime != nil {
			m.CompleteTime = epochString(d.CompleteTime.Time)
		}
		if o := d.DeploymentOverview; o != nil {
			m.DeploymentOverview = map[string]string{
				"Failed": strconv.FormatInt(o.Failed, 10), "InProgress": strconv.FormatInt(o.InProgress, 10),
				"Pending": strconv.FormatInt(o.Pending, 10), "Skipped": strconv.FormatInt(o.Skipped, 10),
				"Succeeded": strconv.FormatInt(o.Succeeded, 10),
			}
		}
		if e := d.ErrorInformation; e != nil {
			m.ErrorInformation = &triggerErrorInfo{ErrorCode: e.Code, ErrorMessage: e.Message}
		}
		body, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("encoding trigger %s: %w", str(tc.TriggerName), err)
		}
		n := triggers.Notification{
			Target: str(tc.TriggerTargetArn), Trigger: str(tc.TriggerName), Ref: d.DeploymentID, Event: event,
			Subject: fmt.Sprintf("%s: AWS CodeDeploy %s in %s to %s", subjectWord[event], d.DeploymentID, s.region, d.ApplicationName),
			Message: string(body),
		}
		if err := triggers.Enqueue(tx, n); err != nil {
			return err
		}
	}
	return nil
}

// validTriggerTarget accepts an SNS topic ARN or, as a cutover extension,
// an absolute http(s) URL that receives the message as a webhook.
func validTriggerTarget(target string) bool {
	if snsArnRe.MatchString(target) {
		return true
	}
	if !triggers.IsWebhook(target) {
		return false
	}
	u, err := url.Parse(target)
	return err == nil && u.Host != "" && !strings.ContainsAny(target, " \t\r\n")
}
