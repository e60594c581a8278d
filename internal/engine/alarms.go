package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/cutover/cutover/internal/codedeploy"
)

// AlarmStates reads CloudWatch alarm states. *cloudwatch.Service
// satisfies it.
type AlarmStates interface {
	AlarmState(ctx context.Context, name string) (state string, exists bool, err error)
}

// alarmConfig is the alarm configuration a deployment is watched with: its
// own override when it has one, else its group's.
func (e *Engine) alarmConfig(ctx context.Context, d *codedeploy.Deployment) (*codedeploy.AlarmConfiguration, error) {
	if d.OverrideAlarmConfiguration != nil {
		return d.OverrideAlarmConfiguration, nil
	}
	g, err := e.cd.GetDeploymentGroup(ctx, d.ApplicationName, d.DeploymentGroupName)
	if err != nil {
		// A deleted group is the platform step's failure to report.
		return nil, nil
	}
	return g.AlarmConfiguration, nil
}

// checkAlarms fails the deployment when one of its alarms is in ALARM, or
// when alarm states cannot be read and the configuration does not say to
// ignore that. It is the same for every compute platform. A rollback
// deployment is never stopped by alarms: they are usually still firing
// because of what it is undoing.
func (e *Engine) checkAlarms(ctx context.Context, d *codedeploy.Deployment) (*failure, error) {
	if d.Creator == codedeploy.CreatorRollback {
		return nil, nil
	}
	cfg, err := e.alarmConfig(ctx, d)
	if err != nil || cfg == nil || !cfg.Enabled || len(cfg.Alarms) == 0 {
		return nil, err
	}
	var active, unreadable []string
	for _, a := range cfg.Alarms {
		name := deref(a.Name)
		if name == "" {
			continue
		}
		if e.cfg.Alarms == nil {
			unreadable = append(unreadable, name+" (no CloudWatch service)")
			continue
		}
		state, exists, err := e.cfg.Alarms.AlarmState(ctx, name)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			unreadable = append(unreadable, fmt.Sprintf("%s (%v)", name, err))
		case !exists:
			unreadable = append(unreadable, name+" (it does not exist)")
		case state == "ALARM":
			active = append(active, name)
		}
	}
	f := &failure{code: "ALARM_ACTIVE", rollbackEvent: "DEPLOYMENT_STOP_ON_ALARM"}
	switch {
	case len(active) > 0:
		f.message = "One or more alarms have been activated according to the Amazon CloudWatch metrics you selected, and the affected deployments have been stopped. Activated alarms: " + strings.Join(active, ", ")
	case len(unreadable) > 0 && !cfg.IgnorePollAlarmFailure:
		f.message = "The deployment was stopped because the state of its alarms could not be retrieved from Amazon CloudWatch: " + strings.Join(unreadable, ", ")
	default:
		return nil, nil
	}
	return f, nil
}
