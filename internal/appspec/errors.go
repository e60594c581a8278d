package appspec

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is what every parse or validation failure returns. Path is the key
// path of the offending value in the document's own spelling
// ("Resources[0].TargetService.Properties.LoadBalancerInfo.ContainerPort",
// "hooks.BeforeInstall[1].timeout"); Line and Column are 1-based and zero when
// not known (for example when a parsed value is re-validated).
type Error struct {
	Path   string
	Line   int
	Column int
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("appspec: ")
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// UnsupportedOSError is returned by ParseServerWithOptions when the AppSpec's
// os is valid but not the host's. The agent reports it as the deployment's
// failure, as AWS's agent does ("unsupported operating system").
type UnsupportedOSError struct {
	OS     string // what the AppSpec asks for
	HostOS string // what this agent supports
	Line   int
}

func (e *UnsupportedOSError) Error() string {
	loc := ""
	if e.Line > 0 {
		loc = fmt.Sprintf("line %d: ", e.Line)
	}
	return fmt.Sprintf("appspec: %sos: the AppSpec is for %q but this agent runs on %q; deploy it to a %s instance instead",
		loc, e.OS, e.HostOS, e.OS)
}

// errAt builds an *Error located at n (n may be nil).
func errAt(n *yaml.Node, path, format string, args ...any) *Error {
	e := &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	return e
}

// locate turns a plain error from a value checker into an *Error at n.
func locate(n *yaml.Node, path string, err error) error {
	if err == nil {
		return nil
	}
	return errAt(n, path, "%s", err.Error())
}

// atPath turns a plain error from a value checker into an *Error without a
// line, for Validate methods that work on parsed values.
func atPath(path string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Path: path, Msg: err.Error()}
}
