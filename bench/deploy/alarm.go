package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/cutover/cutover/test/ecs/ecstest"
)

var flagAlarmRuns = flag.Int("alarm-runs", 0, "alarm rollbacks to time on group 0 after the deployments; 0 skips")

// alarmRow is one timed alarm rollback.
type alarmRow struct {
	runtime          string
	toAlarm, toBack  time.Duration // first 5xx → deployment failed; → production back on the original
	window           time.Duration
	requests, failed int
}

// alarmRollbacks deploys a version answering 500 to group 0 with a 10%
// canary under load, with an alarm on the replacement target group's
// HTTPCode_Target_5XX_Count (one 60 s period, threshold 0) that the group
// watches and rolls back on, and times, from the first 500 a client
// receives, how long until the deployment fails and until the production
// listener sends nothing to the replacement.
func (w *world) alarmRollbacks(ctx context.Context, runs int) ([]alarmRow, error) {
	cfg := w.srv.AWSConfig()
	cw := cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) { o.BaseEndpoint = aws.String(w.srv.Endpoint) })
	bad, err := w.taskDef(ctx, "v2", map[string]string{"STATUS_CODE": "500"})
	if err != nil {
		return nil, err
	}
	svc := "svc-00"
	window := time.Duration(float64(time.Minute) / *flagTimeScale)
	var rows []alarmRow
	for run := 0; run < runs; run++ {
		prod, repl, lbDim, err := w.prodAndReplacement(ctx, 0)
		if err != nil {
			return nil, err
		}
		alarm := fmt.Sprintf("svc-00-5xx-%d", run)
		if _, err := cw.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{
			AlarmName: aws.String(alarm), Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String("HTTPCode_Target_5XX_Count"),
			Dimensions: []cwtypes.Dimension{{Name: aws.String("LoadBalancer"), Value: aws.String(lbDim)},
				{Name: aws.String("TargetGroup"), Value: aws.String(repl[strings.LastIndex(repl, ":")+1:])}},
			Statistic: cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(0),
			ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold, TreatMissingData: aws.String("notBreaching"),
		}); err != nil {
			return nil, fmt.Errorf("PutMetricAlarm: %w", err)
		}
		if _, err := w.cd.UpdateDeploymentGroup(ctx, &codedeploy.UpdateDeploymentGroupInput{
			ApplicationName: aws.String("bench"), CurrentDeploymentGroupName: aws.String(svc),
			AlarmConfiguration:        &cdtypes.AlarmConfiguration{Enabled: true, Alarms: []cdtypes.Alarm{{Name: aws.String(alarm)}}},
			AutoRollbackConfiguration: &cdtypes.AutoRollbackConfiguration{Enabled: true, Events: []cdtypes.AutoRollbackEvent{cdtypes.AutoRollbackEventDeploymentStopOnAlarm}},
		}); err != nil {
			return nil, fmt.Errorf("UpdateDeploymentGroup: %w", err)
		}

		load := ecstest.StartLoad(w.urls[0], 4, 2*time.Millisecond, 5*time.Minute, 2_000_000)
		content := fmt.Sprintf(`{"version":0.0,"Resources":[{"TargetService":{"Type":"AWS::ECS::Service","Properties":{"TaskDefinition":%q,"LoadBalancerInfo":{"ContainerName":"web","ContainerPort":8080}}}}]}`, bad)
		out, err := w.cd.CreateDeployment(ctx, &codedeploy.CreateDeploymentInput{
			ApplicationName: aws.String("bench"), DeploymentGroupName: aws.String(svc), DeploymentConfigName: aws.String("CodeDeployDefault.ECSCanary10Percent5Minutes"),
			Revision: &cdtypes.RevisionLocation{RevisionType: cdtypes.RevisionLocationTypeAppSpecContent, AppSpecContent: &cdtypes.AppSpecContent{Content: aws.String(content)}},
		})
		if err != nil {
			load.Stop()
			return nil, fmt.Errorf("CreateDeployment: %w", err)
		}
		id := aws.ToString(out.DeploymentId)
		// Poll the deployment and the production listener every 10 ms.
		var failedAt, backAt time.Time
		shifted := false
		deadline := time.Now().Add(5 * time.Minute)
		for (failedAt.IsZero() || backAt.IsZero()) && time.Now().Before(deadline) {
			now := time.Now()
			if failedAt.IsZero() {
				if g, err := w.cd.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: aws.String(id)}); err == nil {
					switch g.DeploymentInfo.Status {
					case cdtypes.DeploymentStatusFailed, cdtypes.DeploymentStatusStopped:
						failedAt = now
					case cdtypes.DeploymentStatusSucceeded:
						load.Stop()
						return nil, fmt.Errorf("deployment %s succeeded: the alarm never fired", id)
					}
				}
			}
			if weights, err := w.listenerWeights(ctx, prod); err == nil {
				if weights[repl] > 0 {
					shifted = true
				} else if shifted && backAt.IsZero() {
					backAt = now
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
		results := load.Stop()
		if failedAt.IsZero() || backAt.IsZero() {
			return nil, fmt.Errorf("deployment %s: no failure (%v) or traffic never back (%v)", id, failedAt, backAt)
		}
		r := alarmRow{runtime: w.rt, window: window, requests: len(results)}
		var first time.Time
		for _, res := range results {
			switch {
			case res.Status == 500:
				if first.IsZero() || res.End.Before(first) {
					first = res.End
				}
			case !res.OK():
				r.failed++
			}
		}
		if first.IsZero() {
			return nil, fmt.Errorf("deployment %s: no client saw a 500", id)
		}
		r.toAlarm, r.toBack = failedAt.Sub(first), backAt.Sub(first)
		fmt.Fprintf(os.Stderr, "%s: alarm rollback %d: first 5xx → failed %v, → traffic back %v (window %v), %d requests, %d failed at the load balancer\n",
			w.rt, run+1, r.toAlarm.Round(time.Millisecond), r.toBack.Round(time.Millisecond), window, r.requests, r.failed)
		rows = append(rows, r)
		// Wait for the rollback to end, and for the alarm to see a whole
		// period without errors: the next run's new alarm must not start
		// from this run's 5xx counts.
		if err := w.waitGroupIdle(ctx, svc); err != nil {
			return nil, err
		}
		if err := waitAlarmOK(ctx, cw, alarm); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

func waitAlarmOK(ctx context.Context, cw *cloudwatch.Client, name string) error {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		out, err := cw.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{name}})
		if err == nil && len(out.MetricAlarms) == 1 && out.MetricAlarms[0].StateValue == cwtypes.StateValueOk {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("alarm %s did not return to OK", name)
}

// prodAndReplacement names group i's production listener, the target group
// a deployment would put its replacement on (the one production does not
// forward to), and its load balancer's CloudWatch dimension.
func (w *world) prodAndReplacement(ctx context.Context, i int) (listener, replacement, lbDim string, err error) {
	g, err := w.cd.GetDeploymentGroup(ctx, &codedeploy.GetDeploymentGroupInput{ApplicationName: aws.String("bench"), DeploymentGroupName: aws.String(fmt.Sprintf("svc-%02d", i))})
	if err != nil {
		return "", "", "", err
	}
	pair := g.DeploymentGroupInfo.LoadBalancerInfo.TargetGroupPairInfoList[0]
	listener = pair.ProdTrafficRoute.ListenerArns[0]
	weights, err := w.listenerWeights(ctx, listener)
	if err != nil {
		return "", "", "", err
	}
	for _, tg := range pair.TargetGroups {
		out, err := w.elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{aws.ToString(tg.Name)}})
		if err != nil {
			return "", "", "", err
		}
		arn := aws.ToString(out.TargetGroups[0].TargetGroupArn)
		if weights[arn] == 0 {
			replacement = arn
			lb := out.TargetGroups[0].LoadBalancerArns[0]
			lbDim = lb[strings.Index(lb, ":loadbalancer/")+len(":loadbalancer/"):]
		}
	}
	if replacement == "" {
		return "", "", "", errors.New("both target groups get production traffic")
	}
	return listener, replacement, lbDim, nil
}

func (w *world) listenerWeights(ctx context.Context, listener string) (map[string]int32, error) {
	out, err := w.elb.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{listener}})
	if err != nil {
		return nil, err
	}
	m := map[string]int32{}
	a := out.Listeners[0].DefaultActions[0]
	if a.ForwardConfig != nil {
		for _, tg := range a.ForwardConfig.TargetGroups {
			m[aws.ToString(tg.TargetGroupArn)] = aws.ToInt32(tg.Weight)
		}
	} else if a.TargetGroupArn != nil {
		m[*a.TargetGroupArn] = 1
	}
	return m, nil
}

// waitGroupIdle waits until the group's last deployment (the rollback) has
// ended.
func (w *world) waitGroupIdle(ctx context.Context, group string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		g, err := w.cd.GetDeploymentGroup(ctx, &codedeploy.GetDeploymentGroupInput{ApplicationName: aws.String("bench"), DeploymentGroupName: aws.String(group)})
		if err == nil && g.DeploymentGroupInfo.LastAttemptedDeployment != nil {
			switch g.DeploymentGroupInfo.LastAttemptedDeployment.Status {
			case cdtypes.DeploymentStatusSucceeded, cdtypes.DeploymentStatusFailed, cdtypes.DeploymentStatusStopped:
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("group %s still busy after 2 minutes", group)
}

func (b *bench) printAlarms() {
	if len(b.alarms) == 0 {
		return
	}
	fmt.Printf("\nAlarm rollbacks: a 10%% canary answering 500 under load, an alarm on the replacement's HTTPCode_Target_5XX_Count (Sum, one 60 s period, > 0), rollback on DEPLOYMENT_STOP_ON_ALARM, --time-scale %g\n\n", *flagTimeScale)
	fmt.Println("| runtime | run | first 5xx → deployment failed | first 5xx → production all on original | alarm window + 1 s | requests | failed at the load balancer |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|")
	for i, r := range b.alarms {
		fmt.Printf("| %s | %d | %s | %s | %s | %d | %d |\n", r.runtime, i+1, ms(r.toAlarm), ms(r.toBack), ms(r.window+time.Second), r.requests, r.failed)
	}
}
