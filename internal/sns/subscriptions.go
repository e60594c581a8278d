package sns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

const (
	// tokenLife is how long a confirmation token works (SNS: 3 days); a
	// pending subscription that was not confirmed by then is removed, and
	// so is an unsubscribed one that was not restored.
	tokenLife = 3 * 24 * time.Hour
	// pendingConfirmation is what SNS shows in place of an unconfirmed
	// subscription's ARN.
	pendingConfirmation = "pending confirmation"
	pendingListed       = "PendingConfirmation"
	maxSubsPerTopic     = 1000
	maxEndpointLen      = 2048
)

func newToken() string {
	b := make([]byte, 64)
	if _, err := rand.Read(b); err != nil {
		panic("sns: no randomness for a token: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// parseSubARN checks a subscription ARN's form and returns its topic ARN.
func (s *Service) parseSubARN(arn string) (string, error) {
	i := strings.LastIndexByte(arn, ':')
	if i < 0 {
		return "", invalidParam("SubscriptionArn")
	}
	topicARN, id := arn[:i], arn[i+1:]
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		return "", invalidParam("SubscriptionArn")
	}
	if _, err := s.parseTopicARN(topicARN, "SubscriptionArn"); err != nil {
		return "", err
	}
	return topicARN, nil
}

func (s *Service) getSub(tx store.Tx, arn string) (*subscription, *store.Record, error) {
	sub, rec, err := store.GetJSON[subscription](tx, kindSub, arn)
	if errors.Is(err, store.ErrNotFound) || (err == nil && sub.State == stateDeleted) {
		return nil, nil, notFound("Subscription")
	}
	return sub, rec, err
}

// checkEndpoint validates an http or https endpoint URL.
func checkEndpoint(protocol, endpoint string) error {
	switch protocol {
	case "http", "https":
	case "email", "email-json", "sms", "sqs", "application", "lambda", "firehose":
		return invalidParam("Protocol: %s subscriptions are not supported by this server (only http and https)", protocol)
	default:
		return invalidParam("Invalid protocol type: %s", truncate(protocol))
	}
	u, err := url.Parse(endpoint)
	if endpoint == "" || len(endpoint) > maxEndpointLen || err != nil || u.Host == "" || u.Hostname() == "" {
		return invalidParam("Invalid endpoint URL: %s", truncate(endpoint))
	}
	if u.Scheme != protocol {
		return invalidParam("Endpoint must match the specified protocol")
	}
	return nil
}

// checkSubAttr validates one subscription attribute given the topic's
// delivery policy.
func checkSubAttr(name, value, topicPolicy string) error {
	switch name {
	case "RawMessageDelivery":
		if value != "true" && value != "false" {
			return invalidParam("RawMessageDelivery: must be true or false")
		}
		return nil
	case "DeliveryPolicy":
		base, _ := parseTopicPolicy(topicPolicy)
		_, err := parseSubPolicy(value, base)
		return err
	case "FilterPolicy", "FilterPolicyScope", "RedrivePolicy", "SubscriptionRoleArn", "ReplayPolicy":
		return invalidParam("%s: not supported by this server", name)
	}
	return invalidParam("AttributeName")
}

// subscribe creates a pending subscription and sends it a
// SubscriptionConfirmation. Subscribing an endpoint again returns the
// existing subscription (sending a pending one its confirmation again),
// as SNS does.
func (s *Service) subscribe(ctx context.Context, in *SubscribeInput) (*SubscriptionARNOutput, error) {
	if _, err := s.parseTopicARN(in.TopicArn, "TopicArn"); err != nil {
		return nil, err
	}
	if err := checkEndpoint(in.Protocol, in.Endpoint); err != nil {
		return nil, err
	}
	attrs := map[string]string{}
	for k, v := range in.Attributes {
		attrs[k] = v
	}
	if attrs["RawMessageDelivery"] == "false" {
		delete(attrs, "RawMessageDelivery")
	}
	now := s.now()
	var (
		arn     string
		pending bool
	)
	err := s.db.Update(ctx, func(tx store.Tx) error {
		t, _, err := s.getTopic(tx, in.TopicArn)
		if err != nil {
			return err
		}
		for k, v := range attrs {
			if err := checkSubAttr(k, v, t.Attributes["DeliveryPolicy"]); err != nil {
				return err
			}
		}
		subs, recs, err := store.ListJSON[subscription](tx, kindSub, store.ListOptions{Index: in.TopicArn})
		if err != nil {
			return err
		}
		live := 0
		for i, sub := range subs {
			if sub.State == stateDeleted {
				continue
			}
			live++
			if sub.Protocol != in.Protocol || sub.Endpoint != in.Endpoint {
				continue
			}
			if !sameAttrs(sub.Attributes, attrs) {
				return invalidParam("Attributes Reason: Subscription already exists with different attributes")
			}
			arn, pending = sub.ARN, sub.State == statePending
			if !pending {
				return nil
			}
			sub.TokenExpires = now.Add(tokenLife)
			if err := store.PutJSON(tx, recs[i], sub); err != nil {
				return err
			}
			return s.enqueueConfirmation(tx, sub, typeConfirmation, now)
		}
		if live >= maxSubsPerTopic {
			return subscriptionLimit()
		}
		sub := &subscription{ARN: in.TopicArn + ":" + uuid.NewString(), TopicARN: in.TopicArn, Protocol: in.Protocol,
			Endpoint: in.Endpoint, State: statePending, Token: newToken(), TokenExpires: now.Add(tokenLife),
			Attributes: attrs, Created: now}
		if len(sub.Attributes) == 0 {
			sub.Attributes = nil
		}
		arn, pending = sub.ARN, true
		if err := store.PutJSON(tx, &store.Record{Kind: kindSub, Key: sub.ARN, Index: sub.TopicARN}, sub); err != nil {
			return err
		}
		return s.enqueueConfirmation(tx, sub, typeConfirmation, now)
	})
	if err != nil {
		return nil, err
	}
	s.signal()
	if pending && !in.ReturnSubscriptionArn {
		return &SubscriptionARNOutput{SubscriptionArn: pendingConfirmation}, nil
	}
	return &SubscriptionARNOutput{SubscriptionArn: arn}, nil
}

func sameAttrs(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// subscribeURL is the link that confirms (or restores) a subscription with
// a plain GET, like SNS's SubscribeURL.
func (s *Service) subscribeURL(topicARN, token string) string {
	q := url.Values{"Action": {"ConfirmSubscription"}, "TopicArn": {topicARN}, "Token": {token}}
	return s.publicURL + PublicPrefix + "confirm?" + q.Encode()
}

func (s *Service) unsubscribeURL(subARN string) string {
	q := url.Values{"Action": {"Unsubscribe"}, "SubscriptionArn": {subARN}}
	return s.publicURL + PublicPrefix + "unsubscribe?" + q.Encode()
}

func (s *Service) certURL() string { return s.publicURL + PublicPrefix + s.signer.certName }

// enqueueConfirmation stores a SubscriptionConfirmation or
// UnsubscribeConfirmation for sub and its delivery, in tx.
func (s *Service) enqueueConfirmation(tx store.Tx, sub *subscription, typ string, now time.Time) error {
	text := "You have chosen to subscribe to the topic " + sub.TopicARN +
		".\nTo confirm the subscription, visit the SubscribeURL included in this message."
	if typ == typeUnsubscribed {
		text = "You have chosen to deactivate subscription " + sub.ARN +
			".\nTo cancel this operation and restore the subscription, visit the SubscribeURL included in this message."
	}
	m := &message{ID: uuid.NewString(), Type: typ, TopicARN: sub.TopicARN, Message: text, Timestamp: now,
		Token: sub.Token, SubscribeURL: s.subscribeURL(sub.TopicARN, sub.Token)}
	return s.enqueue(tx, m, []*subscription{sub}, now)
}

// confirmSubscription confirms a pending subscription, or restores an
// unsubscribed one, by its token. Signed or not: the SubscribeURL link
// reaches it without a signature.
func (s *Service) confirmSubscription(ctx context.Context, in *ConfirmSubscriptionInput) (*SubscriptionARNOutput, error) {
	if _, err := s.parseTopicARN(in.TopicArn, "TopicArn"); err != nil {
		return nil, err
	}
	if in.Token == "" || len(in.Token) > 1024 {
		return nil, invalidParam("Token")
	}
	authOnUnsub := false
	switch strings.ToLower(in.AuthenticateOnUnsubscribe) {
	case "", "false":
	case "true":
		authOnUnsub = true
	default:
		return nil, invalidParam("AuthenticateOnUnsubscribe: must be true or false")
	}
	_, signed := awsproto.PrincipalFrom(ctx)
	now := s.now()
	var arn string
	err := s.db.Update(ctx, func(tx store.Tx) error {
		if _, _, err := s.getTopic(tx, in.TopicArn); err != nil {
			return err
		}
		subs, recs, err := store.ListJSON[subscription](tx, kindSub, store.ListOptions{Index: in.TopicArn})
		if err != nil {
			return err
		}
		for i, sub := range subs {
			if sub.Token != in.Token {
				continue
			}
			if sub.State == stateConfirmed {
				arn = sub.ARN
				return nil
			}
			if !now.Before(sub.TokenExpires) {
				break
			}
			if sub.State == stateDeleted {
				// Restoring while the endpoint has subscribed anew keeps the
				// new subscription.
				for _, other := range subs {
					if other.State != stateDeleted && other.Protocol == sub.Protocol && other.Endpoint == sub.Endpoint {
						arn = other.ARN
						return tx.Delete(kindSub, sub.ARN, recs[i].Version)
					}
				}
			}
			sub.State = stateConfirmed
			sub.Authenticated = signed && authOnUnsub
			arn = sub.ARN
			return store.PutJSON(tx, recs[i], sub)
		}
		return invalidParam("Token")
	})
	if err != nil {
		return nil, err
	}
	return &SubscriptionARNOutput{SubscriptionArn: arn}, nil
}

// unsubscribe deletes a subscription; a confirmed one is sent an
// UnsubscribeConfirmation whose SubscribeURL restores it. The unsigned
// UnsubscribeURL link is refused for a subscription confirmed with
// AuthenticateOnUnsubscribe.
func (s *Service) unsubscribe(ctx context.Context, in *SubscriptionARNInput) (*empty, error) {
	if _, err := s.parseSubARN(in.SubscriptionArn); err != nil {
		return nil, err
	}
	_, signed := awsproto.PrincipalFrom(ctx)
	now := s.now()
	err := s.db.Update(ctx, func(tx store.Tx) error {
		sub, rec, err := s.getSub(tx, in.SubscriptionArn)
		if err != nil {
			return err
		}
		if sub.Authenticated && !signed {
			return authorizationError("The subscription requires an authenticated Unsubscribe request")
		}
		if sub.State == statePending {
			return tx.Delete(kindSub, sub.ARN, rec.Version)
		}
		sub.State = stateDeleted
		sub.Token = newToken()
		sub.TokenExpires = now.Add(tokenLife)
		if err := store.PutJSON(tx, rec, sub); err != nil {
			return err
		}
		return s.enqueueConfirmation(tx, sub, typeUnsubscribed, now)
	})
	if err != nil {
		return nil, err
	}
	s.signal()
	return nil, nil
}

// sweepSubscriptions removes pending and unsubscribed subscriptions whose
// token expired.
func (s *Service) sweepSubscriptions(ctx context.Context) error {
	now := s.now()
	return s.db.Update(ctx, func(tx store.Tx) error {
		subs, recs, err := store.ListJSON[subscription](tx, kindSub, store.ListOptions{})
		if err != nil {
			return err
		}
		for i, sub := range subs {
			if sub.State != stateConfirmed && !now.Before(sub.TokenExpires) {
				if err := tx.Delete(kindSub, sub.ARN, recs[i].Version); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

var (
	listSubsScope        = awsproto.TokenScope("sns/ListSubscriptions")
	listSubsByTopicScope = awsproto.TokenScope("sns/ListSubscriptionsByTopic")
)

func (s *Service) listSubscriptions(ctx context.Context, in *ListSubscriptionsInput) (*ListSubscriptionsOutput, error) {
	return s.listSubs(ctx, listSubsScope, in.NextToken, store.ListOptions{})
}

func (s *Service) listSubscriptionsByTopic(ctx context.Context, in *ListSubscriptionsByTopicInput) (*ListSubscriptionsOutput, error) {
	if _, err := s.parseTopicARN(in.TopicArn, "TopicArn"); err != nil {
		return nil, err
	}
	// The token is bound to its topic.
	scope := listSubsByTopicScope + awsproto.TokenScope("/"+in.TopicArn)
	return s.listSubs(ctx, scope, in.NextToken, store.ListOptions{Index: in.TopicArn})
}

func (s *Service) listSubs(ctx context.Context, scope awsproto.TokenScope, token string, opts store.ListOptions) (*ListSubscriptionsOutput, error) {
	after, err := scope.After(token)
	if err != nil {
		return nil, invalidParam("NextToken")
	}
	out := &ListSubscriptionsOutput{Subscriptions: []subscriptionEntry{}}
	err = s.db.View(ctx, func(tx store.Tx) error {
		if opts.Index != "" {
			if _, _, err := s.getTopic(tx, opts.Index); err != nil {
				return err
			}
		}
		for {
			opts.After, opts.Limit = after, pageSize+1
			subs, recs, err := store.ListJSON[subscription](tx, kindSub, opts)
			if err != nil {
				return err
			}
			for i, sub := range subs {
				if sub.State == stateDeleted {
					after = recs[i].Key
					continue
				}
				if len(out.Subscriptions) == pageSize {
					out.NextToken = scope.Encode(struct {
						After string `json:"a"`
					}{after})
					return nil
				}
				out.Subscriptions = append(out.Subscriptions, s.entry(sub))
				after = recs[i].Key
			}
			if len(subs) <= pageSize {
				return nil
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) entry(sub *subscription) subscriptionEntry {
	arn := sub.ARN
	if sub.State == statePending {
		arn = pendingListed
	}
	return subscriptionEntry{SubscriptionArn: arn, Owner: s.account, Protocol: sub.Protocol,
		Endpoint: redactEndpoint(sub.Endpoint), TopicArn: sub.TopicARN}
}

// redactEndpoint hides the password of an endpoint with basic-auth
// credentials, as SNS does in its answers.
func redactEndpoint(e string) string {
	u, err := url.Parse(e)
	if err != nil || u.User == nil {
		return e
	}
	if _, ok := u.User.Password(); !ok {
		return e
	}
	u.User = url.UserPassword(u.User.Username(), "xxxxx")
	return strings.Replace(u.String(), ":xxxxx@", ":****@", 1)
}

func (s *Service) getSubscriptionAttributes(ctx context.Context, in *SubscriptionARNInput) (*AttributesOutput, error) {
	if _, err := s.parseSubARN(in.SubscriptionArn); err != nil {
		return nil, err
	}
	out := attrMap{}
	err := s.db.View(ctx, func(tx store.Tx) error {
		sub, _, err := s.getSub(tx, in.SubscriptionArn)
		if err != nil {
			return err
		}
		topicPolicy := ""
		if t, _, err := s.getTopic(tx, sub.TopicARN); err == nil {
			topicPolicy = t.Attributes["DeliveryPolicy"]
		} else if awsproto.AsError(err) == nil {
			return err
		}
		for k, v := range sub.Attributes {
			out[k] = v
		}
		out["SubscriptionArn"] = sub.ARN
		out["TopicArn"] = sub.TopicARN
		out["Owner"] = s.account
		out["Protocol"] = sub.Protocol
		out["Endpoint"] = redactEndpoint(sub.Endpoint)
		out["PendingConfirmation"] = boolString(sub.State == statePending)
		out["ConfirmationWasAuthenticated"] = boolString(sub.Authenticated)
		out["SubscriptionPrincipal"] = "arn:aws:iam::" + s.account + ":root"
		if _, ok := out["RawMessageDelivery"]; !ok {
			out["RawMessageDelivery"] = "false"
		}
		p, err := effectivePolicy(topicPolicy, sub.Attributes["DeliveryPolicy"])
		if err != nil {
			return err
		}
		out["EffectiveDeliveryPolicy"] = p.subEffectiveJSON()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &AttributesOutput{Attributes: out}, nil
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func (s *Service) setSubscriptionAttributes(ctx context.Context, in *SetSubscriptionAttributesInput) (*empty, error) {
	if _, err := s.parseSubARN(in.SubscriptionArn); err != nil {
		return nil, err
	}
	return nil, s.db.Update(ctx, func(tx store.Tx) error {
		sub, rec, err := s.getSub(tx, in.SubscriptionArn)
		if err != nil {
			return err
		}
		topicPolicy := ""
		if t, _, err := s.getTopic(tx, sub.TopicARN); err == nil {
			topicPolicy = t.Attributes["DeliveryPolicy"]
		} else if awsproto.AsError(err) == nil {
			return err
		}
		name, value := in.AttributeName, in.AttributeValue
		clear := value == "" && name == "DeliveryPolicy" || value == "false" && name == "RawMessageDelivery"
		if !clear {
			if err := checkSubAttr(name, value, topicPolicy); err != nil {
				return err
			}
		}
		if sub.Attributes == nil {
			sub.Attributes = map[string]string{}
		}
		if clear {
			delete(sub.Attributes, name)
		} else {
			sub.Attributes[name] = value
		}
		return store.PutJSON(tx, rec, sub)
	})
}
