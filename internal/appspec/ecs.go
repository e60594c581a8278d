package appspec

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ECS is a parsed ECS AppSpec.
type ECS struct {
	Service ECSService
	// Hooks in document order; at most one per event.
	Hooks []Hook
}

// ECSService is the one AWS::ECS::Service resource.
type ECSService struct {
	LogicalName string // the resource's key, "TargetService" in the guide

	// TaskDefinition as written. The guide documents a full ARN; cutover
	// also takes "family:revision" and "family" (latest ACTIVE revision),
	// which its own ECS resolves the way ECS's CreateTaskSet does.
	TaskDefinition         string
	TaskDefinitionFamily   string
	TaskDefinitionRevision int // 0 when only the family was given

	ContainerName string
	ContainerPort int

	PlatformVersion          string               // "" when absent (ECS then uses LATEST)
	NetworkConfiguration     *AwsvpcConfiguration // nil when absent: keep the service's own
	CapacityProviderStrategy []CapacityProviderStrategyItem
}

// AwsvpcConfiguration is NetworkConfiguration.AwsvpcConfiguration.
type AwsvpcConfiguration struct {
	Subnets        []string
	SecurityGroups []string
	AssignPublicIp string // ENABLED or DISABLED
}

// CapacityProviderStrategyItem is one entry of CapacityProviderStrategy.
type CapacityProviderStrategyItem struct {
	CapacityProvider string
	Weight           int
	Base             int
}

// Hook returns the hook for event, if the AppSpec has one.
func (e *ECS) Hook(event string) (Hook, bool) { return findHook(e.Hooks, event) }

var (
	taskDefARNRE    = regexp.MustCompile(`^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition/([A-Za-z0-9_-]{1,255}):(\d+)$`)
	taskDefFamRevRE = regexp.MustCompile(`^([A-Za-z0-9_-]{1,255}):(\d+)$`)
	taskDefFamilyRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
)

// parseTaskDefinition splits a task definition reference into family and
// revision (0 = latest).
func parseTaskDefinition(s string) (family string, rev int, err error) {
	var m []string
	switch {
	case strings.HasPrefix(s, "arn:"):
		if m = taskDefARNRE.FindStringSubmatch(s); m == nil {
			return "", 0, fmt.Errorf("%q is not a task definition ARN (arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>)", s)
		}
	case taskDefFamilyRE.MatchString(s):
		return s, 0, nil
	default:
		if m = taskDefFamRevRE.FindStringSubmatch(s); m == nil {
			return "", 0, fmt.Errorf("%q is not a task definition ARN, family:revision or family", s)
		}
	}
	rev, err = strconv.Atoi(m[2])
	if err != nil || rev < 1 {
		return "", 0, fmt.Errorf("task definition revision in %q must be a positive number", s)
	}
	return m[1], rev, nil
}

func checkContainerPort(p int64) error {
	if p < 1 || p > 65535 {
		return fmt.Errorf("must be a port number from 1 to 65535, found %d", p)
	}
	return nil
}

func checkAssignPublicIP(s string) error {
	if s != "ENABLED" && s != "DISABLED" {
		return fmt.Errorf("must be ENABLED or DISABLED, found %q", s)
	}
	return nil
}

// Limits of ECS's CapacityProviderStrategyItem.
func checkWeight(w int64) error {
	if w < 0 || w > 1000 {
		return fmt.Errorf("must be from 0 to 1000, found %d", w)
	}
	return nil
}

func checkBase(b int64) error {
	if b < 0 || b > 100000 {
		return fmt.Errorf("must be from 0 to 100000, found %d", b)
	}
	return nil
}

// ParseECS parses and validates an ECS AppSpec, YAML or JSON.
func ParseECS(content []byte) (*ECS, error) {
	d, err := parseResourceDoc(content, "an ECS", typeECSService)
	if err != nil {
		return nil, err
	}
	spec := &ECS{Service: ECSService{LogicalName: d.name}}
	if err := parseECSProperties(d.props, d.propPath, &spec.Service); err != nil {
		return nil, err
	}
	if spec.Hooks, err = d.parseHooks(ECSHookEvents(), "ECS"); err != nil {
		return nil, err
	}
	return spec, nil
}

func parseECSProperties(n *yaml.Node, path string, svc *ECSService) error {
	fs, err := fields(n, path, true)
	if err != nil {
		return err
	}
	var haveTD, haveLB bool
	for _, f := range fs {
		switch strings.ToLower(f.key) {
		case "taskdefinition":
			s, err := nonEmptyText(f.val, f.path)
			if err != nil {
				return err
			}
			s = strings.TrimSpace(s)
			fam, rev, err := parseTaskDefinition(s)
			if err != nil {
				return locate(f.val, f.path, err)
			}
			svc.TaskDefinition, svc.TaskDefinitionFamily, svc.TaskDefinitionRevision = s, fam, rev
			haveTD = true
		case "loadbalancerinfo":
			if err := parseLoadBalancerInfo(f.val, f.path, svc); err != nil {
				return err
			}
			haveLB = true
		case "platformversion":
			s, err := nonEmptyText(f.val, f.path)
			if err != nil {
				return err
			}
			svc.PlatformVersion = strings.TrimSpace(s)
		case "networkconfiguration":
			nc, err := parseNetworkConfiguration(f.val, f.path)
			if err != nil {
				return err
			}
			svc.NetworkConfiguration = nc
		case "capacityproviderstrategy":
			cps, err := parseCapacityProviderStrategy(f.val, f.path)
			if err != nil {
				return err
			}
			svc.CapacityProviderStrategy = cps
		default:
			return errAt(f.kn, f.path, "unknown property; an AWS::ECS::Service has TaskDefinition, LoadBalancerInfo, PlatformVersion, NetworkConfiguration and CapacityProviderStrategy")
		}
	}
	if !haveTD {
		return errAt(n, joinPath(path, "TaskDefinition"), "missing; the task definition ARN to deploy is required")
	}
	if !haveLB {
		return errAt(n, joinPath(path, "LoadBalancerInfo"), "missing; ContainerName and ContainerPort say where traffic goes")
	}
	return nil
}

func parseLoadBalancerInfo(n *yaml.Node, path string, svc *ECSService) error {
	fs, err := fields(n, path, true)
	if err != nil {
		return err
	}
	var haveName, havePort bool
	for _, f := range fs {
		switch strings.ToLower(f.key) {
		case "containername":
			s, err := nonEmptyText(f.val, f.path)
			if err != nil {
				return err
			}
			svc.ContainerName, haveName = strings.TrimSpace(s), true
		case "containerport":
			// The guide says ContainerPort is a number. A quoted "8080" is
			// taken too: the service is Java and its JSON binding coerces
			// numeric strings by default (inferred, not verified against AWS).
			p, err := integer(f.val, f.path, true)
			if err != nil {
				return err
			}
			if err := checkContainerPort(p); err != nil {
				return locate(f.val, f.path, err)
			}
			svc.ContainerPort, havePort = int(p), true
		default:
			return errAt(f.kn, f.path, "unknown key; LoadBalancerInfo has ContainerName and ContainerPort")
		}
	}
	if !haveName {
		return errAt(n, joinPath(path, "ContainerName"), "missing; name the container that receives traffic")
	}
	if !havePort {
		return errAt(n, joinPath(path, "ContainerPort"), "missing; give the container port that receives traffic")
	}
	return nil
}

func parseNetworkConfiguration(n *yaml.Node, path string) (*AwsvpcConfiguration, error) {
	fs, err := fields(n, path, true)
	if err != nil {
		return nil, err
	}
	var nc *AwsvpcConfiguration
	for _, f := range fs {
		if strings.ToLower(f.key) != "awsvpcconfiguration" {
			return nil, errAt(f.kn, f.path, "unknown key; NetworkConfiguration has only AwsvpcConfiguration")
		}
		if nc, err = parseAwsvpc(f.val, f.path); err != nil {
			return nil, err
		}
	}
	if nc == nil {
		return nil, errAt(n, joinPath(path, "AwsvpcConfiguration"), "missing; leave NetworkConfiguration out to keep the service's own")
	}
	return nc, nil
}

// parseAwsvpc reads AwsvpcConfiguration. The guide: "All or none of the
// settings under NetworkConfiguration must be specified", so all three keys
// are required once the section is there.
func parseAwsvpc(n *yaml.Node, path string) (*AwsvpcConfiguration, error) {
	fs, err := fields(n, path, true)
	if err != nil {
		return nil, err
	}
	nc := &AwsvpcConfiguration{}
	var haveSubnets, haveSGs, haveIP bool
	for _, f := range fs {
		switch strings.ToLower(f.key) {
		case "subnets":
			if nc.Subnets, err = stringList(f.val, f.path); err != nil {
				return nil, err
			}
			haveSubnets = true
		case "securitygroups":
			if nc.SecurityGroups, err = stringList(f.val, f.path); err != nil {
				return nil, err
			}
			haveSGs = true
		case "assignpublicip":
			s, err := text(f.val, f.path)
			if err != nil {
				return nil, err
			}
			if err := checkAssignPublicIP(s); err != nil {
				return nil, locate(f.val, f.path, err)
			}
			nc.AssignPublicIp, haveIP = s, true
		default:
			return nil, errAt(f.kn, f.path, "unknown key; AwsvpcConfiguration has Subnets, SecurityGroups and AssignPublicIp")
		}
	}
	if err := checkAwsvpc(nc, haveSubnets, haveSGs, haveIP); err != nil {
		return nil, locate(n, path, err)
	}
	return nc, nil
}

func checkAwsvpc(nc *AwsvpcConfiguration, haveSubnets, haveSGs, haveIP bool) error {
	var missing []string
	if !haveSubnets {
		missing = append(missing, "Subnets")
	}
	if !haveSGs {
		missing = append(missing, "SecurityGroups")
	}
	if !haveIP {
		missing = append(missing, "AssignPublicIp")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s; all or none of the network settings must be given", strings.Join(missing, ", "))
	}
	// ECS's AwsVpcConfiguration limits.
	if len(nc.Subnets) < 1 || len(nc.Subnets) > 16 {
		return fmt.Errorf("Subnets must list 1 to 16 subnets, found %d", len(nc.Subnets))
	}
	if len(nc.SecurityGroups) < 1 || len(nc.SecurityGroups) > 5 {
		return fmt.Errorf("SecurityGroups must list 1 to 5 security groups, found %d", len(nc.SecurityGroups))
	}
	return checkAssignPublicIP(nc.AssignPublicIp)
}

func parseCapacityProviderStrategy(n *yaml.Node, path string) ([]CapacityProviderStrategyItem, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, errAt(n, path, "expected a list of {CapacityProvider, Weight, Base}, found %s", describe(n))
	}
	var out []CapacityProviderStrategyItem
	for i, c := range n.Content {
		ip := indexPath(path, i)
		fs, err := fields(c, ip, true)
		if err != nil {
			return nil, err
		}
		var it CapacityProviderStrategyItem
		var haveCP bool
		for _, f := range fs {
			switch strings.ToLower(f.key) {
			case "capacityprovider":
				s, err := nonEmptyText(f.val, f.path)
				if err != nil {
					return nil, err
				}
				it.CapacityProvider, haveCP = strings.TrimSpace(s), true
			case "weight":
				w, err := integer(f.val, f.path, true)
				if err != nil {
					return nil, err
				}
				if err := checkWeight(w); err != nil {
					return nil, locate(f.val, f.path, err)
				}
				it.Weight = int(w)
			case "base":
				b, err := integer(f.val, f.path, true)
				if err != nil {
					return nil, err
				}
				if err := checkBase(b); err != nil {
					return nil, locate(f.val, f.path, err)
				}
				it.Base = int(b)
			default:
				return nil, errAt(f.kn, f.path, "unknown key; a capacity provider strategy item has CapacityProvider, Weight and Base")
			}
		}
		if !haveCP {
			return nil, errAt(c, joinPath(ip, "CapacityProvider"), "missing")
		}
		out = append(out, it)
	}
	if err := checkStrategy(out); err != nil {
		return nil, locate(n, path, err)
	}
	return out, nil
}

// checkStrategy applies ECS's rules across items.
func checkStrategy(items []CapacityProviderStrategyItem) error {
	seen := map[string]bool{}
	bases := 0
	for _, it := range items {
		if seen[it.CapacityProvider] {
			return fmt.Errorf("capacity provider %q is listed twice", it.CapacityProvider)
		}
		seen[it.CapacityProvider] = true
		if it.Base > 0 {
			bases++
		}
	}
	if bases > 1 {
		return errors.New("only one capacity provider in a strategy can have a Base")
	}
	return nil
}

// Validate checks a parsed (or hand-built) ECS AppSpec against the same rules
// ParseECS applies.
func (e *ECS) Validate() error {
	s := &e.Service
	const p = "Resources[0].Properties"
	if s.LogicalName == "" {
		return &Error{Path: "Resources[0]", Msg: "the resource needs a logical name"}
	}
	fam, rev, err := parseTaskDefinition(s.TaskDefinition)
	if err != nil {
		return atPath(p+".TaskDefinition", err)
	}
	if fam != s.TaskDefinitionFamily || rev != s.TaskDefinitionRevision {
		return atPath(p+".TaskDefinition", errors.New("family and revision do not match the task definition"))
	}
	if strings.TrimSpace(s.ContainerName) == "" {
		return atPath(p+".LoadBalancerInfo.ContainerName", errors.New("missing"))
	}
	if err := checkContainerPort(int64(s.ContainerPort)); err != nil {
		return atPath(p+".LoadBalancerInfo.ContainerPort", err)
	}
	if nc := s.NetworkConfiguration; nc != nil {
		if err := checkAwsvpc(nc, nc.Subnets != nil, nc.SecurityGroups != nil, nc.AssignPublicIp != ""); err != nil {
			return atPath(p+".NetworkConfiguration.AwsvpcConfiguration", err)
		}
	}
	for i, it := range s.CapacityProviderStrategy {
		ip := indexPath(p+".CapacityProviderStrategy", i)
		if strings.TrimSpace(it.CapacityProvider) == "" {
			return atPath(ip+".CapacityProvider", errors.New("missing"))
		}
		if err := checkWeight(int64(it.Weight)); err != nil {
			return atPath(ip+".Weight", err)
		}
		if err := checkBase(int64(it.Base)); err != nil {
			return atPath(ip+".Base", err)
		}
	}
	if err := checkStrategy(s.CapacityProviderStrategy); err != nil {
		return atPath(p+".CapacityProviderStrategy", err)
	}
	return checkHooks(e.Hooks, ECSHookEvents(), "ECS")
}
