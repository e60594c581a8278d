package codedeploy

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

var (
	instanceNameRe = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,100}$`)
	iamUserArnRe   = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:user/[A-Za-z0-9/+=,.@_-]{1,512}$`)
	iamSessionRe   = regexp.MustCompile(`^arn:aws[a-z-]*:sts::[0-9]{12}:assumed-role/[A-Za-z0-9+=,.@_-]{1,64}/[A-Za-z0-9+=,.@_-]{2,64}$`)
)

const maxInstancesPerCall = 100

func instanceName(v *string) (string, error) {
	if v == nil || *v == "" {
		return "", awsproto.Errorf("InstanceNameRequiredException", "An on-premises instance name is required.")
	}
	if !instanceNameRe.MatchString(*v) {
		return "", awsproto.Errorf("InvalidInstanceNameException", "Instance name %q is invalid: it must be 1 to 100 characters from letters, digits and + = , . @ _ -.", *v)
	}
	return *v, nil
}

type registerOnPremisesInstanceInput struct {
	InstanceName  *string `json:"instanceName"`
	IamSessionArn *string `json:"iamSessionArn"`
	IamUserArn    *string `json:"iamUserArn"`
}

func (s *Service) registerOnPremisesInstance(ctx context.Context, in *registerOnPremisesInstanceInput) (*empty, error) {
	name, err := instanceName(in.InstanceName)
	if err != nil {
		return nil, err
	}
	switch {
	case in.IamUserArn != nil && in.IamSessionArn != nil:
		return nil, awsproto.Errorf("MultipleIamArnsProvidedException", "Both an IAM user ARN and an IAM session ARN were given; give exactly one.")
	case in.IamUserArn == nil && in.IamSessionArn == nil:
		return nil, awsproto.Errorf("IamArnRequiredException", "An IAM user ARN or an IAM session ARN is required.")
	case in.IamUserArn != nil && *in.IamUserArn == "":
		return nil, awsproto.Errorf("IamUserArnRequiredException", "The IAM user ARN is empty.")
	case in.IamUserArn != nil && !iamUserArnRe.MatchString(*in.IamUserArn):
		return nil, awsproto.Errorf("InvalidIamUserArnException", "IAM user ARN %q is invalid: it must look like arn:aws:iam::<account>:user/<name>.", *in.IamUserArn)
	case in.IamSessionArn != nil && !iamSessionRe.MatchString(*in.IamSessionArn):
		return nil, awsproto.Errorf("InvalidIamSessionArnException", "IAM session ARN %q is invalid: it must look like arn:aws:sts::<account>:assumed-role/<role>/<session>.", *in.IamSessionArn)
	}
	info := InstanceInfo{
		InstanceName:  name,
		IamUserArn:    str(in.IamUserArn),
		IamSessionArn: str(in.IamSessionArn),
		InstanceArn:   s.instanceArn(name),
		RegisterTime:  ptr(s.nowTime()),
		Tags:          []Tag{},
	}
	arn := info.IamArn()
	err = s.st.Update(ctx, func(tx store.Tx) error {
		var old InstanceInfo
		rec, err := getJSON(tx, kindInstance, name, &old)
		switch {
		case isNotFound(err):
			rec = &store.Record{Kind: kindInstance, Key: name}
		case err != nil:
			return err
		case old.Registered():
			return awsproto.Errorf("InstanceNameAlreadyRegisteredException", "The on-premises instance name %s is already registered.", name)
		}
		// A deregistered name may be registered again; it starts afresh.
		same, _, err := listJSON[InstanceInfo](tx, kindInstance, store.ListOptions{Index: arn})
		if err != nil {
			return err
		}
		for _, o := range same {
			if o.Registered() && o.InstanceName != name {
				if in.IamUserArn != nil {
					return awsproto.Errorf("IamUserArnAlreadyRegisteredException", "The IAM user ARN %s is already registered with on-premises instance %s.", arn, o.InstanceName)
				}
				return awsproto.Errorf("IamSessionArnAlreadyRegisteredException", "The IAM session ARN %s is already registered with on-premises instance %s.", arn, o.InstanceName)
			}
		}
		rec.Index = arn
		return putJSON(tx, rec, info)
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "on-premises instance registered", "instance", name, "iam_arn", arn)
	return nil, nil
}

type instanceNameInput struct {
	InstanceName *string `json:"instanceName"`
}

// deregisterOnPremisesInstance marks the instance deregistered and keeps
// its record, because AWS goes on listing deregistered instances.
// Deregistering an unknown name succeeds: the operation models no
// "not registered" error.
func (s *Service) deregisterOnPremisesInstance(ctx context.Context, in *instanceNameInput) (*empty, error) {
	name, err := instanceName(in.InstanceName)
	if err != nil {
		return nil, err
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		var info InstanceInfo
		rec, err := getJSON(tx, kindInstance, name, &info)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if !info.Registered() {
			return nil
		}
		info.DeregisterTime = ptr(s.nowTime())
		return putJSON(tx, rec, info)
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "on-premises instance deregistered", "instance", name)
	return nil, nil
}

func loadInstance(tx store.Tx, name string) (*InstanceInfo, *store.Record, error) {
	var info InstanceInfo
	rec, err := getJSON(tx, kindInstance, name, &info)
	if isNotFound(err) {
		return nil, nil, awsproto.Errorf("InstanceNotRegisteredException", "The on-premises instance %s is not registered.", name)
	}
	if err != nil {
		return nil, nil, err
	}
	if info.Tags == nil {
		info.Tags = []Tag{}
	}
	return &info, rec, nil
}

// GetOnPremisesInstance returns an instance, registered or deregistered.
func (s *Service) GetOnPremisesInstance(ctx context.Context, name string) (*InstanceInfo, error) {
	var info *InstanceInfo
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		info, _, err = loadInstance(tx, name)
		return err
	})
	return info, err
}

// OnPremisesInstanceByIAMArn returns the registered instance whose agent
// signs as arn (an IAM user or session ARN), for the agent command service
// to map a HostIdentifier to an instance. It answers
// InstanceNotRegisteredException when none is registered with that ARN.
func (s *Service) OnPremisesInstanceByIAMArn(ctx context.Context, arn string) (*InstanceInfo, error) {
	var found *InstanceInfo
	err := s.st.View(ctx, func(tx store.Tx) error {
		all, _, err := listJSON[InstanceInfo](tx, kindInstance, store.ListOptions{Index: arn})
		if err != nil {
			return err
		}
		for i := range all {
			if all[i].Registered() {
				found = &all[i]
				return nil
			}
		}
		return awsproto.Errorf("InstanceNotRegisteredException", "No registered on-premises instance has the IAM ARN %s.", arn)
	})
	return found, err
}

type getOnPremisesInstanceOutput struct {
	InstanceInfo *InstanceInfo `json:"instanceInfo"`
}

func (s *Service) getOnPremisesInstance(ctx context.Context, in *instanceNameInput) (*getOnPremisesInstanceOutput, error) {
	name, err := instanceName(in.InstanceName)
	if err != nil {
		return nil, err
	}
	info, err := s.GetOnPremisesInstance(ctx, name)
	if err != nil {
		return nil, err
	}
	return &getOnPremisesInstanceOutput{InstanceInfo: info}, nil
}

type listOnPremisesInstancesInput struct {
	RegistrationStatus *string     `json:"registrationStatus"`
	TagFilters         []TagFilter `json:"tagFilters"`
	NextToken          *string     `json:"nextToken"`
}

type listOnPremisesInstancesOutput struct {
	InstanceNames []string `json:"instanceNames"`
	NextToken     string   `json:"nextToken,omitempty"`
}

// matchesTagFilters reports whether the instance has a tag matching any
// filter (filters are OR-ed, as in deployment groups).
func matchesTagFilters(tags []Tag, filters []TagFilter) bool {
	if len(filters) == 0 {
		return true
	}
	for _, f := range filters {
		for _, t := range tags {
			switch str(f.Type) {
			case "KEY_ONLY":
				if str(t.Key) == str(f.Key) {
					return true
				}
			case "VALUE_ONLY":
				if str(t.Value) == str(f.Value) {
					return true
				}
			default:
				if str(t.Key) == str(f.Key) && str(t.Value) == str(f.Value) {
					return true
				}
			}
		}
	}
	return false
}

func (s *Service) listOnPremisesInstances(ctx context.Context, in *listOnPremisesInstancesInput) (*listOnPremisesInstancesOutput, error) {
	if v := in.RegistrationStatus; v != nil && !oneOf(*v, "Registered", "Deregistered") {
		return nil, awsproto.Errorf("InvalidRegistrationStatusException", "registrationStatus %q is invalid: it must be Registered or Deregistered.", *v)
	}
	for _, f := range in.TagFilters {
		if err := checkTagFilter(f.Key, f.Value, f.Type, "InvalidTagFilterException"); err != nil {
			return nil, err
		}
	}
	tok, err := decodeToken("instances", in.NextToken)
	if err != nil {
		return nil, err
	}
	if tok.Offset != 0 {
		return nil, awsproto.Errorf("InvalidNextTokenException", "The next token %q is invalid.", str(in.NextToken))
	}
	var all []InstanceInfo
	err = s.st.View(ctx, func(tx store.Tx) error {
		var err error
		all, _, err = listJSON[InstanceInfo](tx, kindInstance, store.ListOptions{After: tok.After})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := &listOnPremisesInstancesOutput{InstanceNames: []string{}}
	for _, info := range all {
		switch str(in.RegistrationStatus) {
		case "Registered":
			if !info.Registered() {
				continue
			}
		case "Deregistered":
			if info.Registered() {
				continue
			}
		}
		if !matchesTagFilters(info.Tags, in.TagFilters) {
			continue
		}
		if len(out.InstanceNames) == s.pageSize {
			out.NextToken = encodeToken("instances", pageToken{After: out.InstanceNames[len(out.InstanceNames)-1]})
			break
		}
		out.InstanceNames = append(out.InstanceNames, info.InstanceName)
	}
	return out, nil
}

type batchGetOnPremisesInstancesInput struct {
	InstanceNames []*string `json:"instanceNames"`
}

type batchGetOnPremisesInstancesOutput struct {
	InstanceInfos []*InstanceInfo `json:"instanceInfos"`
}

func (s *Service) batchGetOnPremisesInstances(ctx context.Context, in *batchGetOnPremisesInstancesInput) (*batchGetOnPremisesInstancesOutput, error) {
	names, err := instanceNames(in.InstanceNames)
	if err != nil {
		return nil, err
	}
	if len(names) > 100 {
		return nil, awsproto.Errorf("BatchLimitExceededException", "At most 100 instance names may be given; %d were.", len(names))
	}
	out := &batchGetOnPremisesInstancesOutput{InstanceInfos: []*InstanceInfo{}}
	err = s.st.View(ctx, func(tx store.Tx) error {
		for _, n := range names {
			info, _, err := loadInstance(tx, n)
			if awsproto.AsError(err) != nil {
				continue // unknown names are left out of the answer
			}
			if err != nil {
				return err
			}
			out.InstanceInfos = append(out.InstanceInfos, info)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func instanceNames(in []*string) ([]string, error) {
	if len(in) == 0 {
		return nil, awsproto.Errorf("InstanceNameRequiredException", "At least one on-premises instance name is required.")
	}
	names := make([]string, 0, len(in))
	for _, n := range in {
		name, err := instanceName(n)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names, nil
}

type instanceTagsInput struct {
	Tags          []Tag     `json:"tags"`
	InstanceNames []*string `json:"instanceNames"`
}

func (in *instanceTagsInput) check() ([]string, error) {
	names, err := instanceNames(in.InstanceNames)
	if err != nil {
		return nil, err
	}
	if len(names) > maxInstancesPerCall {
		return nil, awsproto.Errorf("InstanceLimitExceededException", "At most %d on-premises instances may be given in one call; %d were.", maxInstancesPerCall, len(names))
	}
	if len(in.Tags) == 0 {
		return nil, awsproto.Errorf("TagRequiredException", "At least one tag is required.")
	}
	for _, t := range in.Tags {
		if err := checkTag(t, "InvalidTagException"); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// editInstanceTags applies edit to the tags of every named instance, all or
// none: one unregistered instance or one instance over the tag limit stops
// the whole call.
func (s *Service) editInstanceTags(ctx context.Context, names []string, edit func([]Tag) []Tag) error {
	return s.st.Update(ctx, func(tx store.Tx) error {
		type pending struct {
			rec  *store.Record
			info *InstanceInfo
		}
		var todo []pending
		for _, n := range names {
			info, rec, err := loadInstance(tx, n)
			if err != nil {
				return err
			}
			if !info.Registered() {
				return awsproto.Errorf("InstanceNotRegisteredException", "The on-premises instance %s is not registered.", n)
			}
			info.Tags = edit(info.Tags)
			if len(info.Tags) > maxInstanceTags {
				return awsproto.Errorf("TagLimitExceededException", "On-premises instance %s would have %d tags; the maximum is %d.", n, len(info.Tags), maxInstanceTags)
			}
			todo = append(todo, pending{rec, info})
		}
		for _, p := range todo {
			if err := putJSON(tx, p.rec, p.info); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Service) addTagsToOnPremisesInstances(ctx context.Context, in *instanceTagsInput) (*empty, error) {
	names, err := in.check()
	if err != nil {
		return nil, err
	}
	if err := s.editInstanceTags(ctx, names, func(have []Tag) []Tag { return mergeTags(have, in.Tags) }); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "on-premises instance tags added", "instances", strings.Join(names, ","))
	return nil, nil
}

func (s *Service) removeTagsFromOnPremisesInstances(ctx context.Context, in *instanceTagsInput) (*empty, error) {
	names, err := in.check()
	if err != nil {
		return nil, err
	}
	remove := func(have []Tag) []Tag {
		return slices.DeleteFunc(slices.Clone(have), func(h Tag) bool {
			return slices.ContainsFunc(in.Tags, func(t Tag) bool {
				return str(t.Key) == str(h.Key) && (t.Value == nil || str(t.Value) == str(h.Value))
			})
		})
	}
	if err := s.editInstanceTags(ctx, names, remove); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "on-premises instance tags removed", "instances", strings.Join(names, ","))
	return nil, nil
}
