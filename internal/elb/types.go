package elb

import "github.com/cutover/cutover/internal/awsproto/query"

// Wire shapes of the ELBv2 API (botocore elbv2 2015-12-01). One Go type
// serves both directions: `query` tags drive the form decoder, `xml` tags the
// answer, where every list is wrapped in <member>. Optional members are
// pointers so that absent and zero differ on the way in and absent members
// are omitted on the way out. The same normalized shapes are what the store
// keeps, so what Describe* returns is exactly what was validated.

type Tag struct {
	Key   string  `query:",required"`
	Value *string `xml:",omitempty"`
}

type Matcher struct {
	HttpCode *string `xml:",omitempty"`
	GrpcCode *string `xml:",omitempty"`
}

type TargetDescription struct {
	Id               string  `query:",required"`
	Port             *int32  `query:",min=1,max=65535" xml:",omitempty"`
	AvailabilityZone *string `xml:",omitempty"`
}

type Action struct {
	Type                string                     `query:",required"`
	TargetGroupArn      *string                    `xml:",omitempty"`
	Order               *int32                     `query:",min=1,max=50000" xml:",omitempty"`
	RedirectConfig      *RedirectActionConfig      `xml:",omitempty"`
	FixedResponseConfig *FixedResponseActionConfig `xml:",omitempty"`
	ForwardConfig       *ForwardActionConfig       `xml:",omitempty"`
}

type RedirectActionConfig struct {
	Protocol   *string `xml:",omitempty"`
	Port       *string `xml:",omitempty"`
	Host       *string `xml:",omitempty"`
	Path       *string `xml:",omitempty"`
	Query      *string `xml:",omitempty"`
	StatusCode string  `query:",required"`
}

type FixedResponseActionConfig struct {
	MessageBody *string `xml:",omitempty"`
	StatusCode  string  `query:",required"`
	ContentType *string `xml:",omitempty"`
}

type ForwardActionConfig struct {
	TargetGroups                []TargetGroupTuple           `xml:"TargetGroups>member"`
	TargetGroupStickinessConfig *TargetGroupStickinessConfig `xml:",omitempty"`
}

type TargetGroupTuple struct {
	TargetGroupArn *string `xml:",omitempty"`
	Weight         *int32  `xml:",omitempty"`
}

type TargetGroupStickinessConfig struct {
	Enabled         *bool  `xml:",omitempty"`
	DurationSeconds *int32 `xml:",omitempty"`
}

type RuleCondition struct {
	Field                   *string                     `xml:",omitempty"`
	Values                  []string                    `xml:"Values>member,omitempty"`
	HostHeaderConfig        *ValuesConditionConfig      `xml:",omitempty"`
	PathPatternConfig       *ValuesConditionConfig      `xml:",omitempty"`
	HttpHeaderConfig        *HttpHeaderConditionConfig  `xml:",omitempty"`
	QueryStringConfig       *QueryStringConditionConfig `xml:",omitempty"`
	HttpRequestMethodConfig *ValuesConditionConfig      `xml:",omitempty"`
	SourceIpConfig          *ValuesConditionConfig      `xml:",omitempty"`
	RegexValues             []string                    `xml:"RegexValues>member,omitempty"`
}

// ValuesConditionConfig is the shape of HostHeaderConfig, PathPatternConfig,
// HttpRequestMethodConfig and SourceIpConfig.
type ValuesConditionConfig struct {
	Values      []string `xml:"Values>member"`
	RegexValues []string `xml:"RegexValues>member,omitempty"`
}

type HttpHeaderConditionConfig struct {
	HttpHeaderName *string  `xml:",omitempty"`
	Values         []string `xml:"Values>member"`
	RegexValues    []string `xml:"RegexValues>member,omitempty"`
}

type QueryStringConditionConfig struct {
	Values []QueryStringKeyValuePair `xml:"Values>member"`
}

type QueryStringKeyValuePair struct {
	Key   *string `xml:",omitempty"`
	Value *string `xml:",omitempty"`
}

type LoadBalancerState struct {
	Code   string
	Reason *string `xml:",omitempty"`
}

type AvailabilityZone struct {
	ZoneName string
	SubnetId string `xml:",omitempty"`
}

type LoadBalancer struct {
	LoadBalancerArn       string
	DNSName               string
	CanonicalHostedZoneId string
	CreatedTime           query.Time
	LoadBalancerName      string
	Scheme                string
	VpcId                 string `xml:",omitempty"`
	State                 LoadBalancerState
	Type                  string
	AvailabilityZones     []AvailabilityZone `xml:"AvailabilityZones>member"`
	SecurityGroups        []string           `xml:"SecurityGroups>member,omitempty"`
	IpAddressType         string
}

type TargetGroup struct {
	TargetGroupArn             string
	TargetGroupName            string
	Protocol                   string
	Port                       int32
	VpcId                      string `xml:",omitempty"`
	HealthCheckProtocol        string
	HealthCheckPort            string
	HealthCheckEnabled         bool
	HealthCheckIntervalSeconds int32
	HealthCheckTimeoutSeconds  int32
	HealthyThresholdCount      int32
	UnhealthyThresholdCount    int32
	HealthCheckPath            *string  `xml:",omitempty"`
	Matcher                    *Matcher `xml:",omitempty"`
	LoadBalancerArns           []string `xml:"LoadBalancerArns>member"`
	TargetType                 string
	ProtocolVersion            *string `xml:",omitempty"`
	IpAddressType              string
}

type TargetGroupAttribute struct {
	Key   *string `xml:",omitempty"`
	Value *string `xml:",omitempty"`
}

type Listener struct {
	ListenerArn     string
	LoadBalancerArn string
	Port            int32
	Protocol        string
	DefaultActions  []Action `xml:"DefaultActions>member"`
}

type Rule struct {
	RuleArn    string
	Priority   string
	Conditions []RuleCondition `xml:"Conditions>member"`
	Actions    []Action        `xml:"Actions>member"`
	IsDefault  bool
}

type RulePriorityPair struct {
	RuleArn  *string
	Priority *int32 `query:",min=1,max=50000"`
}

type TargetHealth struct {
	State       string
	Reason      *string `xml:",omitempty"`
	Description *string `xml:",omitempty"`
}

type TargetHealthDescription struct {
	Target          TargetDescription
	HealthCheckPort string
	TargetHealth    TargetHealth
}

type TagDescription struct {
	ResourceArn string
	Tags        []Tag `xml:"Tags>member"`
}

// Inputs and outputs, one pair per action.

type CreateLoadBalancerInput struct {
	Name           string `query:",required"`
	Subnets        []string
	SubnetMappings []struct{ SubnetId *string }
	SecurityGroups []string
	Scheme         *string
	Tags           []Tag
	Type           *string
	IpAddressType  *string
}

type LoadBalancersOutput struct {
	LoadBalancers []LoadBalancer `xml:"LoadBalancers>member"`
	NextMarker    *string        `xml:",omitempty"`
}

type DescribeLoadBalancersInput struct {
	LoadBalancerArns []string
	Names            []string
	Marker           *string
	PageSize         *int32 `query:",min=1,max=400"`
}

type DeleteLoadBalancerInput struct {
	LoadBalancerArn string `query:",required"`
}

type Empty struct{}

type CreateTargetGroupInput struct {
	Name                       string `query:",required"`
	Protocol                   *string
	ProtocolVersion            *string
	Port                       *int32 `query:",min=1,max=65535"`
	VpcId                      *string
	HealthCheckProtocol        *string
	HealthCheckPort            *string
	HealthCheckEnabled         *bool
	HealthCheckPath            *string
	HealthCheckIntervalSeconds *int32 `query:",min=5,max=300"`
	HealthCheckTimeoutSeconds  *int32 `query:",min=2,max=120"`
	HealthyThresholdCount      *int32 `query:",min=2,max=10"`
	UnhealthyThresholdCount    *int32 `query:",min=2,max=10"`
	Matcher                    *Matcher
	TargetType                 *string
	Tags                       []Tag
	IpAddressType              *string
}

type TargetGroupsOutput struct {
	TargetGroups []TargetGroup `xml:"TargetGroups>member"`
	NextMarker   *string       `xml:",omitempty"`
}

type DescribeTargetGroupsInput struct {
	LoadBalancerArn *string
	TargetGroupArns []string
	Names           []string
	Marker          *string
	PageSize        *int32 `query:",min=1,max=400"`
}

type ModifyTargetGroupInput struct {
	TargetGroupArn             string `query:",required"`
	HealthCheckProtocol        *string
	HealthCheckPort            *string
	HealthCheckPath            *string
	HealthCheckEnabled         *bool
	HealthCheckIntervalSeconds *int32 `query:",min=5,max=300"`
	HealthCheckTimeoutSeconds  *int32 `query:",min=2,max=120"`
	HealthyThresholdCount      *int32 `query:",min=2,max=10"`
	UnhealthyThresholdCount    *int32 `query:",min=2,max=10"`
	Matcher                    *Matcher
}

type TargetGroupAttributesOutput struct {
	Attributes []TargetGroupAttribute `xml:"Attributes>member"`
}

type ModifyTargetGroupAttributesInput struct {
	TargetGroupArn string                 `query:",required"`
	Attributes     []TargetGroupAttribute `query:",required"`
}

type TargetGroupArnInput struct {
	TargetGroupArn string `query:",required"`
}

type TargetsInput struct {
	TargetGroupArn string              `query:",required"`
	Targets        []TargetDescription `query:",required"`
}

type DescribeTargetHealthInput struct {
	TargetGroupArn string `query:",required"`
	Targets        []TargetDescription
}

type DescribeTargetHealthOutput struct {
	TargetHealthDescriptions []TargetHealthDescription `xml:"TargetHealthDescriptions>member"`
}

type CreateListenerInput struct {
	LoadBalancerArn string `query:",required"`
	Protocol        *string
	Port            *int32 `query:",min=1,max=65535"`
	SslPolicy       *string
	Certificates    []struct{ CertificateArn *string }
	DefaultActions  []Action `query:",required"`
	Tags            []Tag
}

type ListenersOutput struct {
	Listeners  []Listener `xml:"Listeners>member"`
	NextMarker *string    `xml:",omitempty"`
}

type DescribeListenersInput struct {
	LoadBalancerArn *string
	ListenerArns    []string
	Marker          *string
	PageSize        *int32 `query:",min=1,max=400"`
}

type ModifyListenerInput struct {
	ListenerArn    string `query:",required"`
	Port           *int32 `query:",min=1,max=65535"`
	Protocol       *string
	SslPolicy      *string
	Certificates   []struct{ CertificateArn *string }
	DefaultActions []Action
}

type ListenerArnInput struct {
	ListenerArn string `query:",required"`
}

type CreateRuleInput struct {
	ListenerArn string          `query:",required"`
	Conditions  []RuleCondition `query:",required"`
	Priority    int32           `query:",required,min=1,max=50000"`
	Actions     []Action        `query:",required"`
	Tags        []Tag
}

type RulesOutput struct {
	Rules      []Rule  `xml:"Rules>member"`
	NextMarker *string `xml:",omitempty"`
}

type DescribeRulesInput struct {
	ListenerArn *string
	RuleArns    []string
	Marker      *string
	PageSize    *int32 `query:",min=1,max=400"`
}

type ModifyRuleInput struct {
	RuleArn    string `query:",required"`
	Conditions []RuleCondition
	Actions    []Action
}

type SetRulePrioritiesInput struct {
	RulePriorities []RulePriorityPair `query:",required"`
}

type RuleArnInput struct {
	RuleArn string `query:",required"`
}

type AddTagsInput struct {
	ResourceArns []string `query:",required"`
	Tags         []Tag    `query:",required"`
}

type RemoveTagsInput struct {
	ResourceArns []string `query:",required"`
	TagKeys      []string `query:",required"`
}

type DescribeTagsInput struct {
	ResourceArns []string `query:",required"`
}

type DescribeTagsOutput struct {
	TagDescriptions []TagDescription `xml:"TagDescriptions>member"`
}
