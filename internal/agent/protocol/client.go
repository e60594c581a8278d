// Package protocol is the agent's client for the CodeDeploy command service
// (CodeDeployCommandService_v20141006, AWS JSON 1.1, SigV4 service
// codedeploy-commands), spoken as AWS's agent 1.8.1 speaks it.
package protocol

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	// TargetPrefix is the X-Amz-Target prefix of every call.
	TargetPrefix = "CodeDeployCommandService_v20141006"
	// SigningName is the SigV4 service name.
	SigningName = "codedeploy-commands"
	// VersionHeader carries the agent's version, signed like AWS's plugin.
	VersionHeader = "x-amz-codedeploy-agent-version"
	contentType   = "application/x-amz-json-1.1"
	// maxResponse bounds a reply; a deployment specification is a few KB.
	maxResponse = 4 << 20
)

// Command statuses (DeploymentCommandStatus).
const (
	StatusPending    = "Pending"
	StatusInProgress = "InProgress"
	StatusSucceeded  = "Succeeded"
	StatusFailed     = "Failed"
)

// HostCommand is a HostCommandInstance.
type HostCommand struct {
	HostCommandIdentifier string `json:"HostCommandIdentifier"`
	HostIdentifier        string `json:"HostIdentifier"`
	DeploymentExecutionID string `json:"DeploymentExecutionId"`
	CommandName           string `json:"CommandName"`
	Nonce                 int64  `json:"Nonce,omitempty"`
}

// Envelope is the service's envelope for specifications and diagnostics.
type Envelope struct {
	Format  string `json:"Format"`
	Payload string `json:"Payload"`
}

// DeploymentSpecification is GetDeploymentSpecification's answer.
type DeploymentSpecification struct {
	DeploymentSystem        string `json:"DeploymentSystem"`
	DeploymentSpecification *struct {
		GenericEnvelope *Envelope `json:"GenericEnvelope"`
		VariantID       string    `json:"VariantId,omitempty"`
		VariantEnvelope *Envelope `json:"VariantEnvelope,omitempty"`
	} `json:"DeploymentSpecification"`
}

// Diagnostics is the JSON payload of PutHostCommandComplete, with the keys
// and order AWS's agent writes.
type Diagnostics struct {
	ErrorCode  int    `json:"error_code"`
	ScriptName string `json:"script_name"`
	Message    string `json:"message"`
	Log        string `json:"log"`
}

// Credentials gives the key to sign with; it is asked on every call so a
// refreshed session key is picked up.
type Credentials interface {
	Retrieve(ctx context.Context) (aws.Credentials, error)
}

// Client calls the command service.
type Client struct {
	Endpoint     string
	Region       string
	AgentVersion string
	Credentials  Credentials
	// HTTP must have a timeout above the service's long poll (AWS's agent
	// reads for 80 s).
	HTTP   *http.Client
	Now    func() time.Time
	signer *v4.Signer
}

// NewClient returns a client for endpoint.
func NewClient(endpoint, region, agentVersion string, creds Credentials, hc *http.Client) *Client {
	return &Client{
		Endpoint: strings.TrimRight(endpoint, "/"), Region: region, AgentVersion: agentVersion,
		Credentials: creds, HTTP: hc, Now: time.Now, signer: v4.NewSigner(),
	}
}

// APIError is an error the service answered with.
type APIError struct {
	Status  int
	Type    string // __type without its namespace
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d): %s", e.Type, e.Status, e.Message)
}

var throttleRE = regexp.MustCompile(`(?i)throttl|rateexceeded`)

// IsThrottle reports whether err is the service asking the agent to slow
// down; AWS's agent matches the same words.
func IsThrottle(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	return ae.Status == http.StatusTooManyRequests || throttleRE.MatchString(ae.Type) || throttleRE.MatchString(ae.Message)
}

// PollHostCommand asks for the host's next command; nil when there is none.
func (c *Client) PollHostCommand(ctx context.Context, hostID string) (*HostCommand, error) {
	var out struct {
		HostCommand *HostCommand `json:"HostCommand"`
	}
	if err := c.call(ctx, "PollHostCommand", map[string]string{"HostIdentifier": hostID}, &out); err != nil {
		return nil, err
	}
	return out.HostCommand, nil
}

// GetDeploymentSpecification fetches the specification of an execution.
func (c *Client) GetDeploymentSpecification(ctx context.Context, executionID, hostID string) (*DeploymentSpecification, error) {
	var out DeploymentSpecification
	err := c.call(ctx, "GetDeploymentSpecification", map[string]string{"DeploymentExecutionId": executionID, "HostIdentifier": hostID}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// PutHostCommandAcknowledgement acknowledges a command and returns the
// status the service gives it ("" when it gives none).
func (c *Client) PutHostCommandAcknowledgement(ctx context.Context, commandID string, noop bool) (string, error) {
	payload, _ := json.Marshal(struct {
		IsCommandNoop bool `json:"IsCommandNoop"`
	}{noop})
	in := struct {
		Diagnostics           Envelope `json:"Diagnostics"`
		HostCommandIdentifier string   `json:"HostCommandIdentifier"`
	}{Envelope{"JSON", string(payload)}, commandID}
	var out struct {
		CommandStatus string `json:"CommandStatus"`
	}
	if err := c.call(ctx, "PutHostCommandAcknowledgement", in, &out); err != nil {
		return "", err
	}
	return out.CommandStatus, nil
}

// PutHostCommandComplete reports a command's end.
func (c *Client) PutHostCommandComplete(ctx context.Context, commandID, status string, d Diagnostics) error {
	payload, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode diagnostics: %w", err)
	}
	in := struct {
		CommandStatus         string   `json:"CommandStatus"`
		Diagnostics           Envelope `json:"Diagnostics"`
		HostCommandIdentifier string   `json:"HostCommandIdentifier"`
	}{status, Envelope{"JSON", string(payload)}, commandID}
	return c.call(ctx, "PutHostCommandComplete", in, nil)
}

// PostHostCommandUpdate tells the service a command is still running and
// when it expects it to end. AWS's agent 1.8.1 never calls it.
func (c *Client) PostHostCommandUpdate(ctx context.Context, commandID string, eta time.Time) (string, error) {
	in := struct {
		HostCommandIdentifier   string `json:"HostCommandIdentifier"`
		EstimatedCompletionTime int64  `json:"EstimatedCompletionTime"`
	}{commandID, eta.Unix()}
	var out struct {
		CommandStatus string `json:"CommandStatus"`
	}
	err := c.call(ctx, "PostHostCommandUpdate", in, &out)
	return out.CommandStatus, err
}

func (c *Client) call(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: encode request: %w", op, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Amz-Target", TargetPrefix+"."+op)
	req.Header.Set("X-Amz-Content-Sha256", hash)
	version := c.AgentVersion
	if version == "" {
		version = "UNKNOWN_VERSION"
	}
	req.Header.Set(VersionHeader, version)
	creds, err := c.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("%s: credentials: %w", op, err)
	}
	if creds.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", creds.SessionToken)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	if err := c.signer.SignHTTP(ctx, creds, req, hash, SigningName, c.Region, now().UTC()); err != nil {
		return fmt.Errorf("%s: sign: %w", op, err)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("%s: read reply: %w", op, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %w", op, decodeError(resp, data))
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: decode reply: %w", op, err)
	}
	return nil
}

func decodeError(resp *http.Response, data []byte) *APIError {
	var body struct {
		Type     string `json:"__type"`
		Message  string `json:"message"`
		MessageU string `json:"Message"`
	}
	_ = json.Unmarshal(data, &body)
	e := &APIError{Status: resp.StatusCode, Type: body.Type, Message: body.Message}
	if e.Message == "" {
		e.Message = body.MessageU
	}
	if e.Type == "" {
		e.Type = resp.Header.Get("X-Amzn-Errortype")
	}
	if i := strings.LastIndexAny(e.Type, "#"); i >= 0 {
		e.Type = e.Type[i+1:]
	}
	if i := strings.IndexByte(e.Type, ':'); i >= 0 {
		e.Type = e.Type[:i]
	}
	if e.Type == "" {
		e.Type = http.StatusText(resp.StatusCode)
	}
	if e.Message == "" {
		e.Message = strings.TrimSpace(string(data))
	}
	return e
}
