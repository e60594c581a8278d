package sns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

const (
	// maxTopics bounds this server's topics (SNS's default quota is far
	// higher; each topic here is a few records).
	maxTopics      = 10000
	maxTagsPerRes  = 50
	maxPolicyBytes = 30 * 1024
	pageSize       = 100
)

var topicNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

func (s *Service) topicARN(name string) string {
	return fmt.Sprintf("arn:aws:sns:%s:%s:%s", s.region, s.account, name)
}

// parseTopicARN checks that arn names a topic of this region and account
// and returns the topic's name. param names the parameter in errors.
func (s *Service) parseTopicARN(arn, param string) (string, error) {
	a, err := awsproto.ParseARN(arn)
	if err != nil || a.Service != "sns" || a.Region != s.region || !topicNameRE.MatchString(a.Resource) {
		return "", invalidParam("%s", param)
	}
	if a.AccountID != s.account {
		return "", authorizationError("User is not authorized to access %s", truncate(arn))
	}
	return a.Resource, nil
}

func (s *Service) getTopic(tx store.Tx, arn string) (*topic, *store.Record, error) {
	t, rec, err := store.GetJSON[topic](tx, kindTopic, arn)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, notFound("Topic")
	}
	return t, rec, err
}

// settableTopicAttrs are the attributes a client may set, each with its
// check. Attributes that configure AWS-only features (KMS, FIFO, data
// protection) are refused rather than stored without effect.
var settableTopicAttrs = map[string]func(string) error{
	"DisplayName": func(v string) error {
		if len(v) > 100 {
			return invalidParam("DisplayName must be at most 100 characters")
		}
		return nil
	},
	"Policy":         checkPolicyDoc,
	"DeliveryPolicy": func(v string) error { _, err := parseTopicPolicy(v); return err },
	"SignatureVersion": func(v string) error {
		if v != "1" && v != "2" {
			return invalidParam("SignatureVersion: must be 1 or 2")
		}
		return nil
	},
	"TracingConfig": func(v string) error {
		if v != "PassThrough" && v != "Active" {
			return invalidParam("TracingConfig: must be PassThrough or Active")
		}
		return nil
	},
}

// feedbackAttrs configure delivery-status logging to CloudWatch Logs, which
// this server does not do; they are kept and shown, without effect.
var feedbackAttrs = func() map[string]bool {
	m := map[string]bool{}
	for _, p := range []string{"HTTP", "Application", "Lambda", "SQS", "Firehose"} {
		m[p+"SuccessFeedbackRoleArn"] = true
		m[p+"SuccessFeedbackSampleRate"] = true
		m[p+"FailureFeedbackRoleArn"] = true
	}
	return m
}()

func checkTopicAttr(name, value string, creating bool) error {
	if check, ok := settableTopicAttrs[name]; ok {
		return check(value)
	}
	if feedbackAttrs[name] {
		if strings.HasSuffix(name, "SampleRate") {
			if n, err := strconv.Atoi(value); err != nil || n < 0 || n > 100 {
				return invalidParam("%s: must be an integer from 0 to 100", name)
			}
		}
		return nil
	}
	switch name {
	case "FifoTopic", "ContentBasedDeduplication":
		if creating && value == "false" {
			return nil
		}
		return invalidParam("%s: FIFO topics are not supported by this server", name)
	case "KmsMasterKeyId", "ArchivePolicy", "FifoThroughputScope":
		return invalidParam("%s: not supported by this server", name)
	}
	return invalidParam("AttributeName")
}

func checkPolicyDoc(v string) error {
	if len(v) > maxPolicyBytes {
		return invalidParam("Policy Error: policy is larger than %d bytes", maxPolicyBytes)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(v), &doc); err != nil {
		return invalidParam("Policy Error: null")
	}
	return nil
}

// defaultPolicy is the access policy SNS gives a new topic. It is shown,
// not enforced: every signed request of a known key may use every topic.
func (s *Service) defaultPolicy(arn string) string {
	doc := map[string]any{
		"Version": "2008-10-17",
		"Id":      "__default_policy_ID",
		"Statement": []any{map[string]any{
			"Sid":       "__default_statement_ID",
			"Effect":    "Allow",
			"Principal": map[string]any{"AWS": "*"},
			"Action": []string{"SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
				"SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"},
			"Resource":  arn,
			"Condition": map[string]any{"StringEquals": map[string]any{"AWS:SourceOwner": s.account}},
		}},
	}
	b, _ := json.Marshal(doc)
	return string(b)
}

func (s *Service) createTopic(ctx context.Context, in *CreateTopicInput) (*CreateTopicOutput, error) {
	if strings.HasSuffix(in.Name, ".fifo") {
		return nil, invalidParam("Topic Name: FIFO topics are not supported by this server")
	}
	if !topicNameRE.MatchString(in.Name) {
		return nil, invalidParam("Topic Name")
	}
	if in.DataProtectionPolicy != "" {
		return nil, invalidParam("DataProtectionPolicy: not supported by this server")
	}
	for k, v := range in.Attributes {
		if err := checkTopicAttr(k, v, true); err != nil {
			return nil, err
		}
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	arn := s.topicARN(in.Name)
	attrs := map[string]string{}
	for k, v := range in.Attributes {
		if k == "FifoTopic" || k == "ContentBasedDeduplication" || v == "" {
			continue
		}
		attrs[k] = v
	}
	err := s.db.Update(ctx, func(tx store.Tx) error {
		t, _, err := s.getTopic(tx, arn)
		if err == nil {
			// CreateTopic is idempotent only for the same configuration.
			for k, v := range attrs {
				if t.Attributes[k] != v {
					return invalidParam("Attributes Reason: Topic already exists with different attributes")
				}
			}
			if len(in.Tags) > 0 && !sameTags(t.Tags, in.Tags) {
				return invalidParam("Tags Reason: Topic already exists with different tags")
			}
			return nil
		}
		if awsproto.AsError(err) == nil {
			return err
		}
		if n, err := tx.Count(kindTopic, store.ListOptions{}); err != nil {
			return err
		} else if n >= maxTopics {
			return topicLimit()
		}
		t = &topic{ARN: arn, Name: in.Name, Attributes: attrs, Tags: mergeTags(nil, in.Tags), Created: s.now()}
		if _, ok := t.Attributes["Policy"]; !ok {
			t.Attributes["Policy"] = s.defaultPolicy(arn)
		}
		return store.PutJSON(tx, &store.Record{Kind: kindTopic, Key: arn}, t)
	})
	if err != nil {
		return nil, err
	}
	return &CreateTopicOutput{TopicArn: arn}, nil
}

// deleteTopic removes the topic and its subscriptions. Deleting a topic
// that does not exist succeeds, as SNS documents.
func (s *Service) deleteTopic(ctx context.Context, in *TopicARNInput) (*empty, error) {
	if _, err := s.parseTopicARN(in.TopicArn, "TopicArn"); err != nil {
		return nil, err
	}
	return nil, s.db.Update(ctx, func(tx store.Tx) error {
		if err := tx.Delete(kindTopic, in.TopicArn, -1); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		}
		subs, err := tx.List(kindSub, store.ListOptions{Index: in.TopicArn, KeysOnly: true})
		if err != nil {
			return err
		}
		for _, r := range subs {
			if err := tx.Delete(kindSub, r.Key, -1); err != nil {
				return err
			}
		}
		// Pending deliveries find their subscription gone and end.
		return nil
	})
}

var listTopicsScope = awsproto.TokenScope("sns/ListTopics")

func (s *Service) listTopics(ctx context.Context, in *ListTopicsInput) (*ListTopicsOutput, error) {
	after, err := listTopicsScope.After(in.NextToken)
	if err != nil {
		return nil, invalidParam("NextToken")
	}
	var keys []string
	err = s.db.View(ctx, func(tx store.Tx) error {
		recs, err := tx.List(kindTopic, store.ListOptions{After: after, Limit: pageSize + 1, KeysOnly: true})
		for _, r := range recs {
			keys = append(keys, r.Key)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	page, next := awsproto.PageKeys(listTopicsScope, keys, pageSize)
	out := &ListTopicsOutput{Topics: []topicEntry{}, NextToken: next}
	for _, k := range page {
		out.Topics = append(out.Topics, topicEntry{TopicArn: k})
	}
	return out, nil
}

func (s *Service) getTopicAttributes(ctx context.Context, in *TopicARNInput) (*AttributesOutput, error) {
	if _, err := s.parseTopicARN(in.TopicArn, "TopicArn"); err != nil {
		return nil, err
	}
	out := attrMap{}
	err := s.db.View(ctx, func(tx store.Tx) error {
		t, _, err := s.getTopic(tx, in.TopicArn)
		if err != nil {
			return err
		}
		subs, _, err := store.ListJSON[subscription](tx, kindSub, store.ListOptions{Index: in.TopicArn})
		if err != nil {
			return err
		}
		counts := map[string]int{}
		for _, sub := range subs {
			counts[sub.State]++
		}
		maps.Copy(out, t.Attributes)
		out["TopicArn"] = t.ARN
		out["Owner"] = s.account
		out["SubscriptionsConfirmed"] = strconv.Itoa(counts[stateConfirmed])
		out["SubscriptionsPending"] = strconv.Itoa(counts[statePending])
		out["SubscriptionsDeleted"] = strconv.Itoa(counts[stateDeleted])
		if _, ok := out["DisplayName"]; !ok {
			out["DisplayName"] = ""
		}
		p, err := parseTopicPolicy(t.Attributes["DeliveryPolicy"])
		if err != nil {
			return fmt.Errorf("sns: stored delivery policy of %s: %w", t.ARN, err)
		}
		out["EffectiveDeliveryPolicy"] = p.effectiveJSON()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &AttributesOutput{Attributes: out}, nil
}

func (s *Service) setTopicAttributes(ctx context.Context, in *SetTopicAttributesInput) (*empty, error) {
	if _, err := s.parseTopicARN(in.TopicArn, "TopicArn"); err != nil {
		return nil, err
	}
	name, value := in.AttributeName, in.AttributeValue
	// An empty value clears the optional attributes (the policy goes back
	// to the default).
	if value != "" || (name != "DisplayName" && name != "DeliveryPolicy" && name != "Policy" && !feedbackAttrs[name]) {
		if err := checkTopicAttr(name, value, false); err != nil {
			return nil, err
		}
	}
	return nil, s.db.Update(ctx, func(tx store.Tx) error {
		t, rec, err := s.getTopic(tx, in.TopicArn)
		if err != nil {
			return err
		}
		if t.Attributes == nil {
			t.Attributes = map[string]string{}
		}
		switch {
		case value == "" && name == "Policy":
			t.Attributes[name] = s.defaultPolicy(t.ARN)
		case value == "":
			delete(t.Attributes, name)
		default:
			t.Attributes[name] = value
		}
		return store.PutJSON(tx, rec, t)
	})
}

var tagKeyRE = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

func checkTags(tags []Tag) error {
	if len(tags) > maxTagsPerRes {
		return tagLimit()
	}
	seen := map[string]bool{}
	for _, t := range tags {
		switch {
		case t.Key == "" || len(t.Key) > 128:
			return invalidParam("Tags Reason: a tag key must be 1 to 128 characters long")
		case len(t.Value) > 256:
			return invalidParam("Tags Reason: a tag value must be at most 256 characters long")
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return invalidParam("Tags Reason: tag keys must not start with 'aws:'")
		case !tagKeyRE.MatchString(t.Key) || !tagKeyRE.MatchString(t.Value):
			return invalidParam("Tags Reason: tags may contain only letters, numbers, spaces and _ . : / = + - @")
		case seen[t.Key]:
			return invalidParam("Tags Reason: Duplicated keys are not allowed.")
		}
		seen[t.Key] = true
	}
	return nil
}

// mergeTags sets add on top of have, keeping have's order.
func mergeTags(have, add []Tag) []Tag {
	out := slices.Clone(have)
	for _, t := range add {
		i := slices.IndexFunc(out, func(x Tag) bool { return x.Key == t.Key })
		if i >= 0 {
			out[i].Value = t.Value
		} else {
			out = append(out, t)
		}
	}
	return out
}

func sameTags(a, b []Tag) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]string{}
	for _, t := range a {
		m[t.Key] = t.Value
	}
	for _, t := range b {
		if v, ok := m[t.Key]; !ok || v != t.Value {
			return false
		}
	}
	return true
}

// taggedTopic resolves a tagging operation's ResourceArn.
func (s *Service) taggedTopic(tx store.Tx, arn string) (*topic, *store.Record, error) {
	if _, err := s.parseTopicARN(arn, "ResourceArn"); err != nil {
		return nil, nil, err
	}
	t, rec, err := store.GetJSON[topic](tx, kindTopic, arn)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, resourceNotFound()
	}
	return t, rec, err
}

func (s *Service) tagResource(ctx context.Context, in *TagResourceInput) (*empty, error) {
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	return nil, s.db.Update(ctx, func(tx store.Tx) error {
		t, rec, err := s.taggedTopic(tx, in.ResourceArn)
		if err != nil {
			return err
		}
		merged := mergeTags(t.Tags, in.Tags)
		if len(merged) > maxTagsPerRes {
			return tagLimit()
		}
		t.Tags = merged
		return store.PutJSON(tx, rec, t)
	})
}

func (s *Service) untagResource(ctx context.Context, in *UntagResourceInput) (*empty, error) {
	for _, k := range in.TagKeys {
		if k == "" || len(k) > 128 {
			return nil, invalidParam("TagKeys Reason: a tag key must be 1 to 128 characters long")
		}
	}
	return nil, s.db.Update(ctx, func(tx store.Tx) error {
		t, rec, err := s.taggedTopic(tx, in.ResourceArn)
		if err != nil {
			return err
		}
		t.Tags = slices.DeleteFunc(t.Tags, func(x Tag) bool { return slices.Contains(in.TagKeys, x.Key) })
		return store.PutJSON(tx, rec, t)
	})
}

func (s *Service) listTagsForResource(ctx context.Context, in *ResourceARNInput) (*ListTagsOutput, error) {
	out := &ListTagsOutput{Tags: []Tag{}}
	err := s.db.View(ctx, func(tx store.Tx) error {
		t, _, err := s.taggedTopic(tx, in.ResourceArn)
		if err != nil {
			return err
		}
		out.Tags = append(out.Tags, t.Tags...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
