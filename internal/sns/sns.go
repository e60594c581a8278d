// Package sns is an SNS subset: topics, HTTP/HTTPS subscriptions with
// SNS's confirmation handshake, and Publish with durable, signed delivery
// in SNS's own HTTP format. It speaks the Query protocol (SigV4 service
// "sns"), so the AWS CLI and SDKs work against it unchanged.
//
// Everything lives in the store: topics, subscriptions, accepted messages
// and their pending deliveries (written in the transaction that accepts the
// message), and the RSA key that signs what is delivered. Run drives the
// deliveries: each one is claimed in the store before it is attempted, so a
// restart resumes them and two replicas never attempt the same one at once.
package sns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/awsproto/query"
	"github.com/cutover/cutover/internal/clock"
	"github.com/cutover/cutover/internal/store"
)

const (
	// SigningName is SNS's SigV4 service name.
	SigningName = "sns"
	// XMLNamespace and APIVersion are SNS's Query protocol constants.
	XMLNamespace = "http://sns.amazonaws.com/doc/2010-03-31/"
	APIVersion   = "2010-03-31"
	// PublicPrefix is the path under which PublicHandler expects to be
	// mounted; the URLs put in delivered messages start with it.
	PublicPrefix = "/sns/"
)

// Config configures a Service.
type Config struct {
	Region    string
	AccountID string
	Store     store.Store
	Clock     clock.Clock
	Log       *slog.Logger
	// PublicURL is the base (scheme://host:port) that subscribers reach
	// this server at; SigningCertURL, SubscribeURL and UnsubscribeURL are
	// built on it.
	PublicURL string
	// DataDir is accepted for symmetry with other services; the signing key
	// lives in the store so that replicas share it, and no file is written.
	DataDir string
	// HTTPClient makes the deliveries; nil means a default client. Its
	// redirects are never followed, as SNS follows none.
	HTTPClient *http.Client
	// Workers bounds the deliveries attempted at once (default 16).
	Workers int
}

// Service is the SNS API and its delivery workers.
type Service struct {
	region, account string
	db              store.Store
	clk             clock.Clock
	log             *slog.Logger
	publicURL       string
	client          *http.Client
	workers         int
	owner           string // this process's name on delivery claims
	signer          *signer

	q   *query.Service // the signed API
	pub *query.Service // the unsigned confirm and unsubscribe links

	wake chan struct{}
	// attempted, when set by a test, hears of every finished attempt.
	attempted chan attemptEvent
}

// New returns the service, creating the signing key on first use.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("sns: a store is required")
	}
	if cfg.PublicURL == "" {
		return nil, errors.New("sns: a public URL is required (the base of SubscribeURL and SigningCertURL)")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	client := &http.Client{}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		client = &c
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s := &Service{
		region: cfg.Region, account: cfg.AccountID, db: cfg.Store, clk: cfg.Clock, log: cfg.Log,
		publicURL: strings.TrimRight(cfg.PublicURL, "/"), client: client, workers: cfg.Workers,
		owner: uuid.NewString(),
		q:     query.New(cfg.Log, XMLNamespace, APIVersion),
		pub:   query.New(cfg.Log, XMLNamespace, APIVersion),
		wake:  make(chan struct{}, 1),
	}
	sg, err := loadSigner(context.Background(), cfg.Store)
	if err != nil {
		return nil, fmt.Errorf("sns: signing key: %w", err)
	}
	s.signer = sg
	s.register()
	return s, nil
}

func (s *Service) register() {
	q := s.q
	query.Handle(q, "CreateTopic", s.createTopic)
	query.Handle(q, "DeleteTopic", s.deleteTopic)
	query.Handle(q, "ListTopics", s.listTopics)
	query.Handle(q, "GetTopicAttributes", s.getTopicAttributes)
	query.Handle(q, "SetTopicAttributes", s.setTopicAttributes)
	query.Handle(q, "Subscribe", s.subscribe)
	query.Handle(q, "ConfirmSubscription", s.confirmSubscription)
	query.Handle(q, "Unsubscribe", s.unsubscribe)
	query.Handle(q, "ListSubscriptions", s.listSubscriptions)
	query.Handle(q, "ListSubscriptionsByTopic", s.listSubscriptionsByTopic)
	query.Handle(q, "GetSubscriptionAttributes", s.getSubscriptionAttributes)
	query.Handle(q, "SetSubscriptionAttributes", s.setSubscriptionAttributes)
	query.Handle(q, "Publish", s.publish)
	query.Handle(q, "TagResource", s.tagResource)
	query.Handle(q, "UntagResource", s.untagResource)
	query.Handle(q, "ListTagsForResource", s.listTagsForResource)

	// The links in delivered messages reach the same operations without a
	// signature, as SNS's own SubscribeURL and UnsubscribeURL do.
	query.Handle(s.pub, "ConfirmSubscription", s.confirmSubscription)
	query.Handle(s.pub, "Unsubscribe", s.unsubscribe)
}

// Register wires the signed API into a router under "sns". maxBody must
// leave room for a 256 KiB message form-encoded (1 MiB or more).
func (s *Service) Register(rt *awsproto.Router, maxBody int64) {
	s.q.Register(rt, maxBody, SigningName)
}

// Operations lists the API's actions.
func (s *Service) Operations() []string { return s.q.Operations() }

func (s *Service) now() time.Time { return s.clk.Now().UTC() }

// signal wakes the dispatcher without blocking.
func (s *Service) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
