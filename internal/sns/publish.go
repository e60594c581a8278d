package sns

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/cutover/cutover/internal/store"
)

const (
	// maxMessageBytes is SNS's limit on a message and its attributes.
	maxMessageBytes  = 256 * 1024
	maxSubjectLen    = 100
	maxMsgAttributes = 10
)

// publish is the API's Publish.
func (s *Service) publish(ctx context.Context, in *PublishInput) (*PublishOutput, error) {
	switch {
	case in.PhoneNumber != "":
		return nil, invalidParam("PhoneNumber: SMS is not supported by this server")
	case in.TopicArn != "" && in.TargetArn != "" && in.TopicArn != in.TargetArn:
		return nil, invalidParam("TopicArn or TargetArn Reason: Only one of TopicArn or TargetArn may be specified")
	case in.TopicArn == "" && in.TargetArn == "":
		return nil, invalidParam("TopicArn or TargetArn Reason: no value for required parameter")
	case in.MessageGroupId != "" || in.MessageDeduplicationId != "":
		return nil, invalidParam("MessageGroupId: FIFO topics are not supported by this server")
	}
	arn, param := in.TopicArn, "TopicArn"
	if arn == "" {
		arn, param = in.TargetArn, "TargetArn"
	}
	if _, err := s.parseTopicARN(arn, param); err != nil {
		return nil, err
	}
	m, err := buildMessage(in)
	if err != nil {
		return nil, err
	}
	m.TopicARN = arn
	id, err := s.accept(ctx, m)
	if err != nil {
		return nil, err
	}
	return &PublishOutput{MessageId: id}, nil
}

// Publish publishes message to a topic for the rest of cutover (deployment
// triggers, alarm actions): the same checks and the same durable path as
// the API's Publish. A missing topic is an *awsproto.Error NotFound.
func (s *Service) Publish(ctx context.Context, topicARN, subject, msg string) (string, error) {
	if _, err := s.parseTopicARN(topicARN, "TopicArn"); err != nil {
		return "", err
	}
	in := &PublishInput{TopicArn: topicARN, Message: msg}
	if subject != "" {
		in.Subject = &subject
	}
	m, err := buildMessage(in)
	if err != nil {
		return "", err
	}
	m.TopicARN = topicARN
	return s.accept(ctx, m)
}

// buildMessage validates a Publish's message, subject, structure and
// attributes.
func buildMessage(in *PublishInput) (*message, error) {
	if in.Message == "" {
		return nil, invalidParam("Empty message")
	}
	if !utf8.ValidString(in.Message) {
		return nil, invalidParam("Message must be valid UTF-8")
	}
	m := &message{Type: typeNotification, Message: in.Message}
	if in.Subject != nil {
		if err := checkSubject(*in.Subject); err != nil {
			return nil, err
		}
		m.Subject = *in.Subject
	}
	size := len(in.Message)
	switch in.MessageStructure {
	case "":
	case "json":
		var per map[string]any
		if err := json.Unmarshal([]byte(in.Message), &per); err != nil {
			return nil, invalidParam("Message Structure - JSON message body failed to parse")
		}
		def, ok := per["default"].(string)
		if !ok {
			return nil, invalidParam("Message Structure - No default entry in JSON message body")
		}
		m.Message = def
		m.PerProtocol = map[string]string{}
		for _, p := range []string{"http", "https"} {
			if v, ok := per[p]; ok {
				str, ok := v.(string)
				if !ok {
					return nil, invalidParam("Message Structure - the %s entry must be a string", p)
				}
				m.PerProtocol[p] = str
			}
		}
	default:
		return nil, invalidParam("MessageStructure: must be json")
	}
	if len(in.MessageAttributes) > maxMsgAttributes {
		return nil, invalidParam("Too many message attributes; at most %d are allowed", maxMsgAttributes)
	}
	for name, v := range in.MessageAttributes {
		n, err := checkMessageAttribute(name, v)
		if err != nil {
			return nil, err
		}
		size += n
	}
	if size > maxMessageBytes {
		return nil, invalidParam("Message too long")
	}
	if len(in.MessageAttributes) > 0 {
		m.Attributes = in.MessageAttributes
	}
	return m, nil
}

// checkSubject applies SNS's rules: ASCII, starting with a letter, digit or
// punctuation, no control characters (line breaks included), at most 100
// characters.
func checkSubject(sub string) error {
	if sub == "" || len(sub) > maxSubjectLen {
		return invalidParam("Subject")
	}
	for i := 0; i < len(sub); i++ {
		c := sub[i]
		if c < 0x20 || c >= 0x7f {
			return invalidParam("Subject")
		}
	}
	if sub[0] == ' ' {
		return invalidParam("Subject")
	}
	return nil
}

var attrNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,256}$`)

// checkMessageAttribute validates one message attribute and returns the
// bytes it counts towards the message size.
func checkMessageAttribute(name string, v MessageAttributeValue) (int, error) {
	lower := strings.ToLower(name)
	if !attrNameRE.MatchString(name) || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") ||
		strings.Contains(name, "..") || strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") {
		return 0, invalidValue("The message attribute name '%s' is invalid.", truncate(name))
	}
	base, custom, _ := strings.Cut(v.DataType, ".")
	if len(v.DataType) > 256 || (custom == "" && strings.Contains(v.DataType, ".")) {
		return 0, invalidValue("The message attribute '%s' has an invalid message attribute type.", truncate(name))
	}
	switch base {
	case "String", "Number":
		if v.StringValue == nil || *v.StringValue == "" {
			return 0, invalidValue("The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", truncate(name), base)
		}
		if !utf8.ValidString(*v.StringValue) {
			return 0, invalidValue("The message attribute '%s' must be valid UTF-8.", truncate(name))
		}
		if base == "Number" {
			if _, err := strconv.ParseFloat(*v.StringValue, 64); err != nil {
				return 0, invalidValue("The message attribute '%s' with type 'Number' must contain a valid numeric value.", truncate(name))
			}
		}
		if v.DataType == "String.Array" {
			var arr []any
			if err := json.Unmarshal([]byte(*v.StringValue), &arr); err != nil {
				return 0, invalidValue("The message attribute '%s' with type 'String.Array' must contain a JSON array.", truncate(name))
			}
		}
		return len(name) + len(v.DataType) + len(*v.StringValue), nil
	case "Binary":
		if v.BinaryValue == nil || *v.BinaryValue == "" {
			return 0, invalidValue("The message attribute '%s' must contain non-empty message attribute value for message attribute type 'Binary'.", truncate(name))
		}
		raw, err := base64.StdEncoding.DecodeString(*v.BinaryValue)
		if err != nil {
			return 0, invalidValue("The message attribute '%s' has an invalid binary value.", truncate(name))
		}
		return len(name) + len(v.DataType) + len(raw), nil
	}
	return 0, invalidValue("The message attribute '%s' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.", truncate(name))
}

// accept stores m with one delivery per confirmed subscription of its
// topic, in one transaction: once the id is returned, every delivery is
// durable.
func (s *Service) accept(ctx context.Context, m *message) (string, error) {
	now := s.now()
	m.ID = uuid.NewString()
	m.Timestamp = now
	err := s.db.Update(ctx, func(tx store.Tx) error {
		if _, _, err := s.getTopic(tx, m.TopicARN); err != nil {
			return err
		}
		subs, _, err := store.ListJSON[subscription](tx, kindSub, store.ListOptions{Index: m.TopicARN})
		if err != nil {
			return err
		}
		var to []*subscription
		for _, sub := range subs {
			if sub.State == stateConfirmed {
				to = append(to, sub)
			}
		}
		return s.enqueue(tx, m, to, now)
	})
	if err != nil {
		return "", err
	}
	s.signal()
	return m.ID, nil
}

// enqueue stores m and a delivery of it to each of subs, due now. A
// message nobody is to receive is not stored.
func (s *Service) enqueue(tx store.Tx, m *message, subs []*subscription, now time.Time) error {
	if len(subs) == 0 {
		return nil
	}
	if err := store.PutJSON(tx, &store.Record{Kind: kindMessage, Key: m.ID}, m); err != nil {
		return fmt.Errorf("storing message %s: %w", m.ID, err)
	}
	for _, sub := range subs {
		d := &delivery{ID: uuid.NewString(), MessageID: m.ID, SubARN: sub.ARN, Protocol: sub.Protocol,
			Endpoint: sub.Endpoint, Due: now}
		if err := store.PutJSON(tx, &store.Record{Kind: kindDelivery, Key: deliveryKey(d), Index: m.ID}, d); err != nil {
			return fmt.Errorf("storing delivery of %s: %w", m.ID, err)
		}
	}
	return nil
}

func deliveryKey(d *delivery) string {
	return fmt.Sprintf("%020d/%s", d.Due.UnixNano(), d.ID)
}
