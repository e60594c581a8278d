package sns

import (
	"encoding/xml"
	"sort"
	"time"
)

// Wire shapes: inputs decode from the Query form along `query` tags,
// outputs encode as XML inside <ActionResult>.

type Tag struct {
	Key   string `query:"Key" xml:"Key" json:"key"`
	Value string `query:"Value" xml:"Value" json:"value"`
}

// attrMap is an attribute map as Query's XML spells it:
// <entry><key>..</key><value>..</value></entry>, in key order.
type attrMap map[string]string

func (m attrMap) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	type entry struct {
		Key   string `xml:"key"`
		Value string `xml:"value"`
	}
	for _, k := range keys {
		if err := e.EncodeElement(entry{k, m[k]}, xml.StartElement{Name: xml.Name{Local: "entry"}}); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

type CreateTopicInput struct {
	Name                 string            `query:"Name,required"`
	Attributes           map[string]string `query:"Attributes"`
	Tags                 []Tag             `query:"Tags"`
	DataProtectionPolicy string            `query:"DataProtectionPolicy"`
}

type CreateTopicOutput struct {
	TopicArn string `xml:"TopicArn"`
}

type TopicARNInput struct {
	TopicArn string `query:"TopicArn,required"`
}

type ListTopicsInput struct {
	NextToken string `query:"NextToken"`
}

type topicEntry struct {
	TopicArn string `xml:"TopicArn"`
}

type ListTopicsOutput struct {
	Topics    []topicEntry `xml:"Topics>member"`
	NextToken string       `xml:"NextToken,omitempty"`
}

type AttributesOutput struct {
	Attributes attrMap `xml:"Attributes"`
}

type SetTopicAttributesInput struct {
	TopicArn       string `query:"TopicArn,required"`
	AttributeName  string `query:"AttributeName,required"`
	AttributeValue string `query:"AttributeValue"`
}

type SubscribeInput struct {
	TopicArn              string            `query:"TopicArn,required"`
	Protocol              string            `query:"Protocol,required"`
	Endpoint              string            `query:"Endpoint"`
	Attributes            map[string]string `query:"Attributes"`
	ReturnSubscriptionArn bool              `query:"ReturnSubscriptionArn"`
}

type SubscriptionARNOutput struct {
	SubscriptionArn string `xml:"SubscriptionArn"`
}

type ConfirmSubscriptionInput struct {
	TopicArn                  string `query:"TopicArn,required"`
	Token                     string `query:"Token,required"`
	AuthenticateOnUnsubscribe string `query:"AuthenticateOnUnsubscribe"`
}

type SubscriptionARNInput struct {
	SubscriptionArn string `query:"SubscriptionArn,required"`
}

type ListSubscriptionsInput struct {
	NextToken string `query:"NextToken"`
}

type ListSubscriptionsByTopicInput struct {
	TopicArn  string `query:"TopicArn,required"`
	NextToken string `query:"NextToken"`
}

type subscriptionEntry struct {
	SubscriptionArn string `xml:"SubscriptionArn"`
	Owner           string `xml:"Owner"`
	Protocol        string `xml:"Protocol"`
	Endpoint        string `xml:"Endpoint"`
	TopicArn        string `xml:"TopicArn"`
}

type ListSubscriptionsOutput struct {
	Subscriptions []subscriptionEntry `xml:"Subscriptions>member"`
	NextToken     string              `xml:"NextToken,omitempty"`
}

type SetSubscriptionAttributesInput struct {
	SubscriptionArn string `query:"SubscriptionArn,required"`
	AttributeName   string `query:"AttributeName,required"`
	AttributeValue  string `query:"AttributeValue"`
}

// MessageAttributeValue is one message attribute; BinaryValue is base64 on
// the wire and stays so, which is also how a notification carries it.
type MessageAttributeValue struct {
	DataType    string  `query:"DataType" json:"dataType"`
	StringValue *string `query:"StringValue" json:"stringValue,omitempty"`
	BinaryValue *string `query:"BinaryValue" json:"binaryValue,omitempty"`
}

type PublishInput struct {
	TopicArn               string                           `query:"TopicArn"`
	TargetArn              string                           `query:"TargetArn"`
	PhoneNumber            string                           `query:"PhoneNumber"`
	Message                string                           `query:"Message,required"`
	Subject                *string                          `query:"Subject"`
	MessageStructure       string                           `query:"MessageStructure"`
	MessageAttributes      map[string]MessageAttributeValue `query:"MessageAttributes,key=Name,value=Value"`
	MessageDeduplicationId string                           `query:"MessageDeduplicationId"`
	MessageGroupId         string                           `query:"MessageGroupId"`
}

type PublishOutput struct {
	MessageId string `xml:"MessageId"`
}

type TagResourceInput struct {
	ResourceArn string `query:"ResourceArn,required"`
	Tags        []Tag  `query:"Tags,required"`
}

type UntagResourceInput struct {
	ResourceArn string   `query:"ResourceArn,required"`
	TagKeys     []string `query:"TagKeys,required"`
}

type ResourceARNInput struct {
	ResourceArn string `query:"ResourceArn,required"`
}

type ListTagsOutput struct {
	Tags []Tag `xml:"Tags>member"`
}

type empty struct{}

// Stored shapes.

const (
	kindTopic    = "sns.topic"        // key: topic ARN
	kindSub      = "sns.subscription" // key: subscription ARN, index: topic ARN
	kindMessage  = "sns.message"      // key: message id
	kindDelivery = "sns.delivery"     // key: due time/delivery id, index: message id
	kindSigning  = "sns.signing"      // key: "key"
)

type topic struct {
	ARN        string            `json:"arn"`
	Name       string            `json:"name"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Tags       []Tag             `json:"tags,omitempty"`
	Created    time.Time         `json:"created"`
}

const (
	statePending   = "pending"
	stateConfirmed = "confirmed"
	// stateDeleted is an unsubscribed subscription kept until its token
	// expires, so that the SubscribeURL of its UnsubscribeConfirmation can
	// restore it and SubscriptionsDeleted can count it, as in SNS.
	stateDeleted = "deleted"
)

type subscription struct {
	ARN      string `json:"arn"`
	TopicARN string `json:"topicArn"`
	Protocol string `json:"protocol"`
	Endpoint string `json:"endpoint"`
	State    string `json:"state"`
	Token    string `json:"token,omitempty"`
	// TokenExpires ends the token's use (and a pending or deleted
	// subscription's life).
	TokenExpires  time.Time         `json:"tokenExpires"`
	Authenticated bool              `json:"authenticated,omitempty"`
	Attributes    map[string]string `json:"attributes,omitempty"`
	Created       time.Time         `json:"created"`
}

const (
	typeNotification  = "Notification"
	typeConfirmation  = "SubscriptionConfirmation"
	typeUnsubscribed  = "UnsubscribeConfirmation"
	defaultSigVersion = "1"
)

// message is what was accepted, kept until its last delivery ends.
type message struct {
	ID         string                           `json:"id"`
	Type       string                           `json:"type"`
	TopicARN   string                           `json:"topicArn"`
	Subject    string                           `json:"subject,omitempty"`
	Message    string                           `json:"message"`
	Timestamp  time.Time                        `json:"timestamp"`
	Attributes map[string]MessageAttributeValue `json:"attributes,omitempty"`
	// PerProtocol holds MessageStructure=json's protocol-specific bodies.
	PerProtocol map[string]string `json:"perProtocol,omitempty"`
	// Token and SubscribeURL are set on confirmations.
	Token        string `json:"token,omitempty"`
	SubscribeURL string `json:"subscribeUrl,omitempty"`
}

// delivery is one message on its way to one endpoint.
type delivery struct {
	ID        string    `json:"id"`
	MessageID string    `json:"messageId"`
	SubARN    string    `json:"subArn"`
	Protocol  string    `json:"protocol"`
	Endpoint  string    `json:"endpoint"`
	Due       time.Time `json:"due"`
	// Attempts counts attempts begun; Owner is set while one is claimed.
	Attempts int    `json:"attempts"`
	Owner    string `json:"owner,omitempty"`
}
