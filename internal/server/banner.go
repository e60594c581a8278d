package server

import (
	"fmt"
	"io"
	"strings"
)

// Banner tells the person who started the server how to reach it. The
// secret is shown only on the start that generated it: later starts point at
// the credentials file instead, so secrets do not pile up in logs.
func (s *Server) Banner(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "\ncutover %s is serving\n", s.cfg.Version)
	fmt.Fprintf(&b, "  endpoint:        %s\n", s.Endpoint())
	if tls := s.TLSEndpoint(); tls != "" {
		fmt.Fprintf(&b, "  TLS endpoint:    %s\n", tls)
		if ca := s.CAFile(); ca != "" {
			fmt.Fprintf(&b, "  CA certificate:  %s   (aws --ca-bundle, or AWS_CA_BUNDLE)\n", ca)
		}
	}
	fmt.Fprintf(&b, "  region:          %s\n", s.cfg.Region)
	fmt.Fprintf(&b, "  data dir:        %s\n", s.cfg.DataDir)

	id, secret, generated := s.RootCredentials()
	if generated {
		fmt.Fprintf(&b, "\nA root key pair was generated (kept in %s). Use it with:\n\n", s.CredentialsFile())
		fmt.Fprintf(&b, "  export AWS_ACCESS_KEY_ID=%s\n", id)
		fmt.Fprintf(&b, "  export AWS_SECRET_ACCESS_KEY=%s\n", secret)
		fmt.Fprintf(&b, "  export AWS_DEFAULT_REGION=%s\n", s.cfg.Region)
	} else {
		fmt.Fprintf(&b, "\n  access key:      %s   (secret in %s)\n", id, s.keys.SecretSource())
	}
	fmt.Fprintf(&b, "\nThen, for example:\n\n  aws deploy list-applications --endpoint-url %s\n", s.Endpoint())
	if tls := s.TLSEndpoint(); tls != "" && s.CAFile() != "" {
		fmt.Fprintf(&b, "  aws deploy list-applications --endpoint-url %s --ca-bundle %s\n", tls, s.CAFile())
	}
	b.WriteString("\n")
	io.WriteString(w, b.String())
}
