package lambda

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/awsproto"
)

// Store record kinds. Version keys are "<function>/<10-digit number>" so
// that the store's byte order is version order; alias keys are
// "<function>/<alias>".
const (
	kindFunction = "lambda.function"
	kindVersion  = "lambda.version"
	kindAlias    = "lambda.alias"
)

const (
	latest = "$LATEST"
	// lastModifiedLayout is how Lambda writes LastModified (a string, not
	// an epoch number like other JSON services).
	lastModifiedLayout = "2006-01-02T15:04:05.000-0700"
)

// supportedRuntimes are the runtimes cutover can run: custom runtimes,
// whose bootstrap talks to the Runtime API.
var supportedRuntimes = []string{"provided.al2023", "provided.al2"}

// funcConfig is one version's configuration, $LATEST included. Published
// versions are frozen copies of $LATEST at the time of publishing.
type funcConfig struct {
	Name          string            `json:"name"`
	Version       string            `json:"version"`
	Runtime       string            `json:"runtime,omitempty"`
	Role          string            `json:"role"`
	Handler       string            `json:"handler,omitempty"`
	Description   string            `json:"description,omitempty"`
	Timeout       int               `json:"timeout"`
	MemorySize    int               `json:"memorySize"`
	Env           map[string]string `json:"env,omitempty"`
	PackageType   string            `json:"packageType"`
	ImageURI      string            `json:"imageUri,omitempty"`
	CodeSha256    string            `json:"codeSha256"`
	CodeSize      int64             `json:"codeSize"`
	Blob          string            `json:"blob,omitempty"` // hex SHA-256: the zip's file name under code/
	Architectures []string          `json:"architectures"`
	LastModified  time.Time         `json:"lastModified"`
	RevisionID    string            `json:"revisionId"`
}

// sameAs reports whether publishing c would make a version equal to v
// (AWS publishes nothing new when neither code nor configuration changed).
func (c *funcConfig) sameAs(v *funcConfig) bool {
	return c.CodeSha256 == v.CodeSha256 && c.Runtime == v.Runtime && c.Role == v.Role &&
		c.Handler == v.Handler && c.Timeout == v.Timeout && c.MemorySize == v.MemorySize &&
		maps.Equal(c.Env, v.Env) && c.ImageURI == v.ImageURI && slices.Equal(c.Architectures, v.Architectures)
}

// functionRec is a function: its $LATEST configuration, tags and the
// number of the last version published.
type functionRec struct {
	Latest      funcConfig        `json:"latest"`
	Tags        map[string]string `json:"tags,omitempty"`
	LastVersion int               `json:"lastVersion"`
}

type aliasRec struct {
	Function    string             `json:"function"`
	Name        string             `json:"name"`
	Version     string             `json:"version"`
	Description string             `json:"description,omitempty"`
	Weights     map[string]float64 `json:"weights,omitempty"`
	RevisionID  string             `json:"revisionId"`
}

func versionKey(fn string, n int) string {
	return fmt.Sprintf("%s/%010d", fn, n)
}

func aliasKey(fn, alias string) string { return fn + "/" + alias }

// Wire shapes, as Lambda's model names their members.

type environmentResponse struct {
	Variables map[string]string `json:"Variables"`
}

type functionConfiguration struct {
	FunctionName     string               `json:"FunctionName"`
	FunctionArn      string               `json:"FunctionArn"`
	Runtime          string               `json:"Runtime,omitempty"`
	Role             string               `json:"Role"`
	Handler          string               `json:"Handler,omitempty"`
	CodeSize         int64                `json:"CodeSize"`
	Description      string               `json:"Description"`
	Timeout          int                  `json:"Timeout"`
	MemorySize       int                  `json:"MemorySize"`
	LastModified     string               `json:"LastModified"`
	CodeSha256       string               `json:"CodeSha256"`
	Version          string               `json:"Version"`
	Environment      *environmentResponse `json:"Environment,omitempty"`
	TracingConfig    map[string]string    `json:"TracingConfig"`
	RevisionID       string               `json:"RevisionId"`
	State            string               `json:"State"`
	LastUpdateStatus string               `json:"LastUpdateStatus"`
	PackageType      string               `json:"PackageType"`
	Architectures    []string             `json:"Architectures"`
	EphemeralStorage map[string]int       `json:"EphemeralStorage"`
	SnapStart        map[string]string    `json:"SnapStart"`
	LoggingConfig    map[string]string    `json:"LoggingConfig"`
}

func (s *Service) wireConfig(c *funcConfig, qualifiedARN bool) functionConfiguration {
	arn := s.functionARN(c.Name)
	if qualifiedARN {
		arn += ":" + c.Version
	}
	out := functionConfiguration{
		FunctionName: c.Name, FunctionArn: arn, Runtime: c.Runtime, Role: c.Role, Handler: c.Handler,
		CodeSize: c.CodeSize, Description: c.Description, Timeout: c.Timeout, MemorySize: c.MemorySize,
		LastModified: c.LastModified.UTC().Format(lastModifiedLayout), CodeSha256: c.CodeSha256,
		Version: c.Version, TracingConfig: map[string]string{"Mode": "PassThrough"}, RevisionID: c.RevisionID,
		State: "Active", LastUpdateStatus: "Successful", PackageType: c.PackageType, Architectures: c.Architectures,
		EphemeralStorage: map[string]int{"Size": 512},
		SnapStart:        map[string]string{"ApplyOn": "None", "OptimizationStatus": "Off"},
		LoggingConfig:    map[string]string{"LogFormat": "Text", "LogGroup": "/aws/lambda/" + c.Name},
	}
	if len(c.Env) > 0 {
		out.Environment = &environmentResponse{Variables: c.Env}
	}
	return out
}

type aliasConfiguration struct {
	AliasArn        string            `json:"AliasArn"`
	Name            string            `json:"Name"`
	FunctionVersion string            `json:"FunctionVersion"`
	Description     string            `json:"Description"`
	RoutingConfig   *aliasRoutingWire `json:"RoutingConfig,omitempty"`
	RevisionID      string            `json:"RevisionId"`
}

type aliasRoutingWire struct {
	AdditionalVersionWeights map[string]float64 `json:"AdditionalVersionWeights"`
}

func (s *Service) wireAlias(a *aliasRec) aliasConfiguration {
	out := aliasConfiguration{AliasArn: s.functionARN(a.Function) + ":" + a.Name, Name: a.Name,
		FunctionVersion: a.Version, Description: a.Description, RevisionID: a.RevisionID}
	if len(a.Weights) > 0 {
		out.RoutingConfig = &aliasRoutingWire{AdditionalVersionWeights: a.Weights}
	}
	return out
}

func (s *Service) functionARN(name string) string {
	return awsproto.ARN{Partition: "aws", Service: "lambda", Region: s.region, AccountID: s.account, Resource: "function:" + name}.String()
}

// Names.

var (
	bareName            = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	qualifierRe         = regexp.MustCompile(`^(\$LATEST|[a-zA-Z0-9_-]{1,128})$`)
	aliasNameRe         = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)
	versionNumRe        = regexp.MustCompile(`^[0-9]{1,10}$`)
	regionRe            = regexp.MustCompile(`^[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d$`)
	accountRe           = regexp.MustCompile(`^\d{12}$`)
	functionNamePattern = `(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?`
)

// fnRef is a function named by a request: its bare name and the qualifier
// the name carried, if any.
type fnRef struct {
	Name      string
	Qualifier string
}

// parseName accepts every form AWS does: "name", "name:qualifier",
// "account:function:name[:qualifier]" and the full ARN.
func (s *Service) parseName(raw string) (fnRef, error) {
	bad := func() (fnRef, error) {
		return fnRef{}, validation("functionName", raw, "Member must satisfy regular expression pattern: "+functionNamePattern)
	}
	if raw == "" || len(raw) > 256 {
		return bad()
	}
	rest := raw
	if strings.HasPrefix(raw, "arn:") {
		a, err := awsproto.ParseARN(raw)
		if err != nil || a.Service != "lambda" || !strings.HasPrefix(a.Partition, "aws") || !regionRe.MatchString(a.Region) || !accountRe.MatchString(a.AccountID) {
			return bad()
		}
		if a.Region != s.region || a.AccountID != s.account {
			return fnRef{}, errNotFound("Function not found: %s", raw)
		}
		rest, _ = strings.CutPrefix(a.Resource, "function:")
		if rest == a.Resource {
			return bad()
		}
	} else if acct, after, ok := strings.Cut(raw, ":function:"); ok {
		if !accountRe.MatchString(acct) {
			return bad()
		}
		if acct != s.account {
			return fnRef{}, errNotFound("Function not found: %s", raw)
		}
		rest = after
	}
	name, qual, hasQual := strings.Cut(rest, ":")
	if !bareName.MatchString(name) || (hasQual && !qualifierRe.MatchString(qual)) {
		return bad()
	}
	return fnRef{Name: name, Qualifier: qual}, nil
}

// qualified merges the qualifier carried by a name with the Qualifier
// parameter; AWS refuses the two when they disagree.
func qualified(ref fnRef, param string) (string, error) {
	if param != "" && !qualifierRe.MatchString(param) {
		return "", validation("qualifier", param, `Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)`)
	}
	if ref.Qualifier != "" && param != "" && ref.Qualifier != param {
		return "", errInvalidParam("The derived qualifier from the function name does not match the specified qualifier.")
	}
	if param != "" {
		return param, nil
	}
	return ref.Qualifier, nil
}

// unqualified refuses a qualified name for operations on the function as
// a whole.
func (s *Service) unqualifiedName(raw string) (string, error) {
	ref, err := s.parseName(raw)
	if err != nil {
		return "", err
	}
	if ref.Qualifier != "" {
		return "", errInvalidParam("Unsupported function name: %s. A qualifier is not allowed for this operation.", raw)
	}
	return ref.Name, nil
}
