// Package client calls the watch API (JSON 1.1, X-Amz-Target
// Cutover_Watch_20261125.*, SigV4 signing name cutover-watch). There is no
// AWS SDK client for cutover's own API, so this signs with the SDK's v4
// signer and the caller's AWS credentials, as the SDK clients do.
package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	targetPrefix = "Cutover_Watch_20261125"
	signingName  = "cutover-watch"
)

// Client calls one server.
type Client struct {
	Endpoint    string // e.g. http://127.0.0.1:7700
	Region      string
	Credentials aws.CredentialsProvider
	// HTTP sends the requests (an *http.Client or the AWS config's
	// HTTPClient, which carries a custom CA bundle); nil: http.DefaultClient.
	HTTP interface {
		Do(*http.Request) (*http.Response, error)
	}
}

// APIError is an error the server answered with.
type APIError struct {
	Code    string
	Message string
	Status  int
}

func (e *APIError) Error() string     { return fmt.Sprintf("%s: %s", e.Code, e.Message) }
func (e *APIError) ErrorCode() string { return e.Code }

// Call invokes operation op with in (any JSON-encodable value) and decodes
// the answer into out (nil to drop it).
func (c *Client) Call(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encoding %s request: %w", op, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.Endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", targetPrefix+"."+op)
	creds, err := c.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("%s: retrieving AWS credentials: %w", op, err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), signingName, c.Region, time.Now()); err != nil {
		return fmt.Errorf("%s: signing: %w", op, err)
	}
	var resp *http.Response
	if c.HTTP != nil {
		resp, err = c.HTTP.Do(req)
	} else {
		resp, err = http.DefaultClient.Do(req)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("%s: reading the answer: %w", op, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
			Msg     string `json:"Message"`
		}
		json.Unmarshal(raw, &e)
		code := e.Type
		if i := strings.LastIndex(code, "#"); i >= 0 {
			code = code[i+1:]
		}
		if code == "" {
			code = http.StatusText(resp.StatusCode)
		}
		msg := e.Message
		if msg == "" {
			msg = e.Msg
		}
		return &APIError{Code: code, Message: msg, Status: resp.StatusCode}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s: decoding the answer: %w", op, err)
	}
	return nil
}
