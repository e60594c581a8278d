package demo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// setUp finds or makes every resource, in dependency order. Each step
// looks first, so a second run on the same data dir changes nothing that
// works.
func (d *demo) setUp(ctx context.Context) error {
	var err error
	if d.blueTG, err = d.targetGroup(ctx, BlueTG); err != nil {
		return err
	}
	if d.greenTG, err = d.targetGroup(ctx, GreenTG); err != nil {
		return err
	}
	if err := d.loadBalancer(ctx); err != nil {
		return err
	}
	groupExists, err := d.findGroupListeners(ctx)
	if err != nil {
		return err
	}
	if !groupExists {
		if err := d.createListeners(ctx); err != nil {
			return err
		}
	}
	d.say("load balancer %s: production listener :%d, test listener :%d", Name, d.prod.port, d.test.port)
	if _, err := d.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(Name)}); err != nil {
		return fmt.Errorf("demo: creating cluster %s: %w", Name, err)
	}
	if err := d.service(ctx); err != nil {
		return err
	}
	if err := d.codeDeploy(ctx, groupExists); err != nil {
		return err
	}
	return nil
}

func (d *demo) targetGroup(ctx context.Context, name string) (string, error) {
	got, err := d.elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{name}})
	if err == nil && len(got.TargetGroups) == 1 {
		return aws.ToString(got.TargetGroups[0].TargetGroupArn), nil
	}
	if err != nil && errorCode(err) != "TargetGroupNotFound" {
		return "", fmt.Errorf("demo: looking up target group %s: %w", name, err)
	}
	// Health checks every 5 s (ELB's minimum), healthy after two: a new
	// task takes traffic within about ten seconds.
	out, err := d.elb.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String(name), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(containerPort),
		TargetType: elbtypes.TargetTypeEnumIp, VpcId: aws.String("vpc-local"),
		HealthCheckPath: aws.String("/health"), HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(2),
		HealthyThresholdCount: aws.Int32(2),
	})
	if err != nil {
		return "", fmt.Errorf("demo: creating target group %s: %w", name, err)
	}
	return aws.ToString(out.TargetGroups[0].TargetGroupArn), nil
}

func (d *demo) loadBalancer(ctx context.Context) error {
	got, err := d.elb.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{Name}})
	if err == nil && len(got.LoadBalancers) == 1 {
		d.lbARN = aws.ToString(got.LoadBalancers[0].LoadBalancerArn)
		return nil
	}
	if err != nil && errorCode(err) != "LoadBalancerNotFound" {
		return fmt.Errorf("demo: looking up load balancer %s: %w", Name, err)
	}
	out, err := d.elb.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String(Name), Subnets: []string{"subnet-a", "subnet-b"}})
	if err != nil {
		return fmt.Errorf("demo: creating load balancer %s: %w", Name, err)
	}
	d.lbARN = aws.ToString(out.LoadBalancers[0].LoadBalancerArn)
	return nil
}

// findGroupListeners reads the production and test listeners from an
// existing deployment group: the group is the record of which is which.
func (d *demo) findGroupListeners(ctx context.Context) (bool, error) {
	g, err := d.cd.GetDeploymentGroup(ctx, &codedeploy.GetDeploymentGroupInput{ApplicationName: aws.String(Name), DeploymentGroupName: aws.String(Name)})
	if err != nil {
		if c := errorCode(err); c == "ApplicationDoesNotExistException" || c == "DeploymentGroupDoesNotExistException" {
			return false, nil
		}
		return false, fmt.Errorf("demo: looking up deployment group %s: %w", Name, err)
	}
	lbi := g.DeploymentGroupInfo.LoadBalancerInfo
	if lbi == nil || len(lbi.TargetGroupPairInfoList) == 0 {
		return false, fmt.Errorf("demo: deployment group %s has no target group pair; delete it (aws deploy delete-deployment-group) to let the demo remake it", Name)
	}
	pair := lbi.TargetGroupPairInfoList[0]
	routes := []*cdtypes.TrafficRoute{pair.ProdTrafficRoute, pair.TestTrafficRoute}
	dst := []*listener{&d.prod, &d.test}
	for i, r := range routes {
		if r == nil || len(r.ListenerArns) == 0 {
			return false, fmt.Errorf("demo: deployment group %s lacks a production or test listener", Name)
		}
		out, err := d.elb.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: r.ListenerArns[:1]})
		if err != nil || len(out.Listeners) == 0 {
			return false, fmt.Errorf("demo: reading listener %s: %v", r.ListenerArns[0], err)
		}
		*dst[i] = listener{arn: aws.ToString(out.Listeners[0].ListenerArn), port: aws.ToInt32(out.Listeners[0].Port)}
	}
	return true, nil
}

// createListeners makes the production listener (forwarding to blue) and
// the test listener (to green) on free ports. Listeners a half-finished
// earlier run left on the load balancer are removed first: without the
// deployment group nothing says which was which.
func (d *demo) createListeners(ctx context.Context) error {
	old, err := d.elb.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(d.lbARN)})
	if err != nil {
		return fmt.Errorf("demo: listing listeners: %w", err)
	}
	for _, l := range old.Listeners {
		if _, err := d.elb.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: l.ListenerArn}); err != nil {
			return fmt.Errorf("demo: removing a stale listener: %w", err)
		}
	}
	for _, l := range []struct {
		dst *listener
		tg  string
	}{{&d.prod, d.blueTG}, {&d.test, d.greenTG}} {
		port, err := freePort(d.cfg.LBHost)
		if err != nil {
			return err
		}
		out, err := d.elb.CreateListener(ctx, &elbv2.CreateListenerInput{
			LoadBalancerArn: aws.String(d.lbARN), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(port),
			DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(l.tg)}},
		})
		if err != nil {
			return fmt.Errorf("demo: creating a listener on port %d: %w", port, err)
		}
		*l.dst = listener{arn: aws.ToString(out.Listeners[0].ListenerArn), port: port}
	}
	return nil
}

// freePort asks the kernel for a port that is free now. Another program
// could take it before the load balancer binds it; the listener then fails
// to create and the demo says so.
func freePort(host string) (int32, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("demo: finding a free port on %s: %w", host, err)
	}
	defer ln.Close()
	return int32(ln.Addr().(*net.TCPAddr).Port), nil
}

func (d *demo) registerTaskDefinition(ctx context.Context, version string) (string, error) {
	image := "process:" + d.cfg.AppCommand[0]
	out, err := d.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(Name), NetworkMode: ecstypes.NetworkModeAwsvpc,
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		Cpu:                     aws.String("256"), Memory: aws.String("512"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: aws.String(containerName), Image: aws.String(image), EntryPoint: d.cfg.AppCommand,
			Essential: aws.Bool(true), Memory: aws.Int32(64),
			PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(containerPort), Protocol: ecstypes.TransportProtocolTcp}},
			Environment:  []ecstypes.KeyValuePair{{Name: aws.String("VERSION"), Value: aws.String(version)}},
		}},
	})
	if err != nil {
		return "", fmt.Errorf("demo: registering task definition %s (%s): %w", Name, version, err)
	}
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn), nil
}

// service finds the demo's ECS service or creates it with v1 on the blue
// target group.
func (d *demo) service(ctx context.Context) error {
	got, err := d.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(Name), Services: []string{Name}})
	if err != nil {
		return fmt.Errorf("demo: looking up service %s: %w", Name, err)
	}
	for _, s := range got.Services {
		if aws.ToString(s.Status) == "ACTIVE" {
			d.say("ECS service %s exists; reusing it", Name)
			return nil
		}
	}
	td, err := d.registerTaskDefinition(ctx, "v1")
	if err != nil {
		return err
	}
	_, err = d.ecs.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String(Name), ServiceName: aws.String(Name), TaskDefinition: aws.String(td),
		DesiredCount: aws.Int32(2), LaunchType: ecstypes.LaunchTypeFargate,
		DeploymentController: &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeCodeDeploy},
		LoadBalancers:        []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(d.blueTG), ContainerName: aws.String(containerName), ContainerPort: aws.Int32(containerPort)}},
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-a"}}},
	})
	if err != nil {
		return fmt.Errorf("demo: creating service %s: %w", Name, err)
	}
	d.say("created ECS service %s: 2 tasks of v1 (%s)", Name, strings.Join(d.cfg.AppCommand, " "))
	return nil
}

// codeDeploy finds or makes the application, the canary config and the
// blue/green deployment group.
func (d *demo) codeDeploy(ctx context.Context, groupExists bool) error {
	if _, err := d.cd.GetApplication(ctx, &codedeploy.GetApplicationInput{ApplicationName: aws.String(Name)}); err != nil {
		if errorCode(err) != "ApplicationDoesNotExistException" {
			return fmt.Errorf("demo: looking up application %s: %w", Name, err)
		}
		if _, err := d.cd.CreateApplication(ctx, &codedeploy.CreateApplicationInput{ApplicationName: aws.String(Name), ComputePlatform: cdtypes.ComputePlatformEcs}); err != nil {
			return fmt.Errorf("demo: creating application %s: %w", Name, err)
		}
	}
	if _, err := d.cd.GetDeploymentConfig(ctx, &codedeploy.GetDeploymentConfigInput{DeploymentConfigName: aws.String(ConfigName)}); err != nil {
		if errorCode(err) != "DeploymentConfigDoesNotExistException" {
			return fmt.Errorf("demo: looking up deployment config %s: %w", ConfigName, err)
		}
		_, err := d.cd.CreateDeploymentConfig(ctx, &codedeploy.CreateDeploymentConfigInput{
			DeploymentConfigName: aws.String(ConfigName), ComputePlatform: cdtypes.ComputePlatformEcs,
			TrafficRoutingConfig: &cdtypes.TrafficRoutingConfig{
				Type:            cdtypes.TrafficRoutingTypeTimeBasedCanary,
				TimeBasedCanary: &cdtypes.TimeBasedCanary{CanaryPercentage: 20, CanaryInterval: int32(CanaryInterval.Minutes())},
			},
		})
		if err != nil {
			return fmt.Errorf("demo: creating deployment config %s: %w", ConfigName, err)
		}
	}
	if groupExists {
		return nil
	}
	_, err := d.cd.CreateDeploymentGroup(ctx, &codedeploy.CreateDeploymentGroupInput{
		ApplicationName: aws.String(Name), DeploymentGroupName: aws.String(Name),
		ServiceRoleArn:       aws.String("arn:aws:iam::000000000000:role/CodeDeploy"),
		DeploymentConfigName: aws.String(ConfigName),
		DeploymentStyle: &cdtypes.DeploymentStyle{
			DeploymentType: cdtypes.DeploymentTypeBlueGreen, DeploymentOption: cdtypes.DeploymentOptionWithTrafficControl,
		},
		EcsServices: []cdtypes.ECSService{{ClusterName: aws.String(Name), ServiceName: aws.String(Name)}},
		LoadBalancerInfo: &cdtypes.LoadBalancerInfo{TargetGroupPairInfoList: []cdtypes.TargetGroupPairInfo{{
			TargetGroups:     []cdtypes.TargetGroupInfo{{Name: aws.String(BlueTG)}, {Name: aws.String(GreenTG)}},
			ProdTrafficRoute: &cdtypes.TrafficRoute{ListenerArns: []string{d.prod.arn}},
			TestTrafficRoute: &cdtypes.TrafficRoute{ListenerArns: []string{d.test.arn}},
		}}},
		// The old version goes as soon as the new one has all traffic, and
		// a failure rolls back: the demo should end quickly either way.
		BlueGreenDeploymentConfiguration: &cdtypes.BlueGreenDeploymentConfiguration{
			DeploymentReadyOption: &cdtypes.DeploymentReadyOption{ActionOnTimeout: cdtypes.DeploymentReadyActionContinueDeployment},
			TerminateBlueInstancesOnDeploymentSuccess: &cdtypes.BlueInstanceTerminationOption{
				Action: cdtypes.InstanceActionTerminate, TerminationWaitTimeInMinutes: 0,
			},
		},
		AutoRollbackConfiguration: &cdtypes.AutoRollbackConfiguration{Enabled: true, Events: []cdtypes.AutoRollbackEvent{cdtypes.AutoRollbackEventDeploymentFailure}},
	})
	if err != nil {
		return fmt.Errorf("demo: creating deployment group %s: %w", Name, err)
	}
	d.say("created CodeDeploy application %s, deployment group %s (blue/green, %s)", Name, Name, ConfigName)
	return nil
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (d *demo) cleanup(ctx context.Context) error {
	_, err := d.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String(Name), Service: aws.String(Name), Force: aws.Bool(true)})
	if err != nil && errorCode(err) != "ServiceNotFoundException" {
		return fmt.Errorf("demo: deleting service %s: %w", Name, err)
	}
	// A deleted service's tasks are asked to stop at once (desired status
	// STOPPED) but stop a moment later: wait for the last status.
	for {
		running := 0
		for _, desired := range []ecstypes.DesiredStatus{ecstypes.DesiredStatusRunning, ecstypes.DesiredStatusStopped} {
			out, err := d.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(Name), DesiredStatus: desired})
			if err != nil {
				return fmt.Errorf("demo: listing tasks: %w", err)
			}
			for i := 0; i < len(out.TaskArns); i += 100 {
				tasks, err := d.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(Name), Tasks: out.TaskArns[i:min(i+100, len(out.TaskArns))]})
				if err != nil {
					return fmt.Errorf("demo: describing tasks: %w", err)
				}
				for _, t := range tasks.Tasks {
					if aws.ToString(t.LastStatus) != "STOPPED" {
						running++
					}
				}
			}
		}
		if running == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo: %d tasks still running: %w", running, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
