// Package spec decodes the deployment specification the command service
// hands the agent: a PKCS#7 SignedData envelope (PEM) with the JSON attached,
// whose fields are read as AWS's agent reads them
// (deployment_specification.rb).
package spec

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/smallstep/pkcs7"
)

// Formats of GenericEnvelope.
const (
	FormatPKCS7 = "PKCS7/JSON"
	FormatText  = "TEXT/JSON"
	// DeploymentSystem is the only deployment system the agent serves.
	DeploymentSystem = "CodeDeploy"
)

// Revision types.
const (
	RevisionS3             = "S3"
	RevisionGitHub         = "GitHub"
	RevisionLocalFile      = "Local File"
	RevisionLocalDirectory = "Local Directory"
)

// Bundle types.
const (
	BundleTar       = "tar"
	BundleTgz       = "tgz"
	BundleZip       = "zip"
	BundleDirectory = "directory"
)

// Spec is a deployment specification.
type Spec struct {
	DeploymentID        string
	DeploymentGroupID   string
	DeploymentGroupName string
	ApplicationName     string
	DeploymentCreator   string // "user" unless the service says otherwise
	DeploymentType      string // IN_PLACE or BLUE_GREEN
	AppSpecFilename     string // "appspec.yml" unless the service says otherwise
	// FileExistsBehavior is the deployment's value (DISALLOW by default);
	// the AppSpec's own file_exists_behavior wins over it.
	FileExistsBehavior         string
	AllPossibleLifecycleEvents []string
	Revision                   Revision
}

// Revision says where the bundle is.
type Revision struct {
	Type  string
	S3    *S3Revision
	Local *LocalRevision
	// GitHub is recognised but cannot be fetched offline.
	GitHub *GitHubRevision
}

// S3Revision is an object in a bucket.
type S3Revision struct {
	Bucket, Key, BundleType, Version, ETag string
}

// LocalRevision is a file or directory on the host.
type LocalRevision struct {
	Location, BundleType string
}

// GitHubRevision is a commit of a GitHub repository.
type GitHubRevision struct {
	Account, Repository, CommitID, BundleType string
}

type wire struct {
	DeploymentID               string   `json:"DeploymentId"`
	DeploymentGroupID          string   `json:"DeploymentGroupId"`
	DeploymentGroupName        string   `json:"DeploymentGroupName"`
	ApplicationName            string   `json:"ApplicationName"`
	DeploymentCreator          string   `json:"DeploymentCreator"`
	DeploymentType             string   `json:"DeploymentType"`
	AppSpecFilename            string   `json:"AppSpecFilename"`
	AllPossibleLifecycleEvents []string `json:"AllPossibleLifecycleEvents"`
	AgentActionOverrides       *struct {
		AgentOverrides *struct {
			FileExistsBehavior string `json:"FileExistsBehavior"`
		} `json:"AgentOverrides"`
	} `json:"AgentActionOverrides"`
	Revision *struct {
		RevisionType string `json:"RevisionType"`
		S3Revision   *struct {
			Bucket     string `json:"Bucket"`
			Key        string `json:"Key"`
			BundleType string `json:"BundleType"`
			Version    string `json:"Version"`
			ETag       string `json:"ETag"`
		} `json:"S3Revision"`
		LocalRevision *struct {
			Location   string `json:"Location"`
			BundleType string `json:"BundleType"`
		} `json:"LocalRevision"`
		GitHubRevision *struct {
			Account    string `json:"Account"`
			Repository string `json:"Repository"`
			CommitID   string `json:"CommitId"`
			BundleType string `json:"BundleType"`
		} `json:"GitHubRevision"`
	} `json:"Revision"`
}

// Open returns the JSON inside an envelope. PKCS7/JSON is parsed and its
// signature checked against the certificate it carries (and, when roots is
// not nil, the signer must chain to roots). AWS's agent ignores the
// verification result; this agent refuses a tampered specification.
// TEXT/JSON is refused, as AWS's agent does outside codedeploy-local.
func Open(format, payload string, roots *x509.CertPool) ([]byte, error) {
	switch format {
	case FormatPKCS7:
	case FormatText:
		return nil, errors.New("unsupported deployment specification format TEXT/JSON; the agent accepts only PKCS7/JSON")
	default:
		return nil, fmt.Errorf("unsupported deployment specification format %q; the agent accepts only PKCS7/JSON", format)
	}
	block, _ := pem.Decode([]byte(payload))
	if block == nil {
		return nil, errors.New("deployment specification: the PKCS7/JSON payload is not PEM")
	}
	p7, err := pkcs7.Parse(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("deployment specification: parse PKCS#7: %w", err)
	}
	if len(p7.Content) == 0 {
		return nil, errors.New("deployment specification: the PKCS#7 message carries no content (detached signature)")
	}
	if roots != nil {
		err = p7.VerifyWithChain(roots)
	} else {
		err = p7.Verify()
	}
	if err != nil {
		return nil, fmt.Errorf("deployment specification: signature: %w", err)
	}
	return p7.Content, nil
}

// Parse reads the specification JSON.
func Parse(data []byte) (*Spec, error) {
	var w wire
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("deployment specification: %w", err)
	}
	missing := func(f string) error { return fmt.Errorf("deployment specification: %s is missing", f) }
	s := &Spec{
		DeploymentID:               w.DeploymentID,
		DeploymentGroupID:          w.DeploymentGroupID,
		DeploymentGroupName:        w.DeploymentGroupName,
		ApplicationName:            w.ApplicationName,
		DeploymentCreator:          w.DeploymentCreator,
		DeploymentType:             w.DeploymentType,
		AppSpecFilename:            w.AppSpecFilename,
		AllPossibleLifecycleEvents: w.AllPossibleLifecycleEvents,
		FileExistsBehavior:         "DISALLOW",
	}
	if strings.HasPrefix(s.DeploymentID, "arn:") {
		s.DeploymentID = s.DeploymentID[strings.LastIndexByte(s.DeploymentID, '/')+1:]
	}
	for _, f := range []struct{ name, v string }{
		{"DeploymentId", s.DeploymentID}, {"DeploymentGroupId", s.DeploymentGroupID},
		{"DeploymentGroupName", s.DeploymentGroupName}, {"ApplicationName", s.ApplicationName},
	} {
		if f.v == "" {
			return nil, missing(f.name)
		}
	}
	// Both become directory names under the root.
	for _, f := range []struct{ name, v string }{{"DeploymentId", s.DeploymentID}, {"DeploymentGroupId", s.DeploymentGroupID}} {
		if f.v == "." || f.v == ".." || strings.ContainsAny(f.v, "/\\\x00") {
			return nil, fmt.Errorf("deployment specification: %s %q cannot name a directory", f.name, f.v)
		}
	}
	if s.DeploymentCreator == "" {
		s.DeploymentCreator = "user"
	}
	if s.DeploymentType == "" {
		s.DeploymentType = "IN_PLACE"
	}
	if s.AppSpecFilename == "" {
		s.AppSpecFilename = "appspec.yml"
	}
	if o := w.AgentActionOverrides; o != nil && o.AgentOverrides != nil && o.AgentOverrides.FileExistsBehavior != "" {
		b := strings.ToUpper(o.AgentOverrides.FileExistsBehavior)
		switch b {
		case "DISALLOW", "OVERWRITE", "RETAIN":
		default:
			return nil, fmt.Errorf("deployment specification: FileExistsBehavior must be DISALLOW, OVERWRITE or RETAIN, found %q", o.AgentOverrides.FileExistsBehavior)
		}
		s.FileExistsBehavior = b
	}
	if w.Revision == nil {
		return nil, missing("Revision")
	}
	r := w.Revision
	s.Revision.Type = r.RevisionType
	switch r.RevisionType {
	case RevisionS3:
		if r.S3Revision == nil {
			return nil, missing("Revision.S3Revision")
		}
		x := r.S3Revision
		if x.Bucket == "" || x.Key == "" {
			return nil, missing("Revision.S3Revision.Bucket or Key")
		}
		if err := checkBundleType(x.BundleType, false); err != nil {
			return nil, err
		}
		s.Revision.S3 = &S3Revision{Bucket: x.Bucket, Key: x.Key, BundleType: x.BundleType, Version: x.Version, ETag: x.ETag}
	case RevisionLocalFile, RevisionLocalDirectory:
		if r.LocalRevision == nil {
			return nil, missing("Revision.LocalRevision")
		}
		x := r.LocalRevision
		if x.Location == "" {
			return nil, missing("Revision.LocalRevision.Location")
		}
		if err := checkBundleType(x.BundleType, r.RevisionType == RevisionLocalDirectory); err != nil {
			return nil, err
		}
		s.Revision.Local = &LocalRevision{Location: x.Location, BundleType: x.BundleType}
	case RevisionGitHub:
		if r.GitHubRevision == nil {
			return nil, missing("Revision.GitHubRevision")
		}
		x := r.GitHubRevision
		s.Revision.GitHub = &GitHubRevision{Account: x.Account, Repository: x.Repository, CommitID: x.CommitID, BundleType: x.BundleType}
	case "":
		return nil, missing("Revision.RevisionType")
	default:
		return nil, fmt.Errorf("deployment specification: unsupported RevisionType %q (S3, GitHub, Local File or Local Directory)", r.RevisionType)
	}
	return s, nil
}

func checkBundleType(t string, dir bool) error {
	switch t {
	case BundleTar, BundleTgz, BundleZip:
		return nil
	case BundleDirectory:
		if dir {
			return nil
		}
	}
	return fmt.Errorf("deployment specification: unsupported BundleType %q (tar, tgz or zip)", t)
}
