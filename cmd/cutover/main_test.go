package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestEndpointURL(t *testing.T) {
	tests := []struct {
		name, flag, env, want string
	}{
		{"default", "", "", defaultEndpoint},
		{"environment", "", "https://127.0.0.1:7743", "https://127.0.0.1:7743"},
		{"flag wins over environment", "http://10.0.0.1:7700", "https://127.0.0.1:7743", "http://10.0.0.1:7700"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CUTOVER_ENDPOINT", tt.env)
			f := clientFlags{endpoint: tt.flag}
			if got := f.endpointURL(); got != tt.want {
				t.Errorf("endpointURL() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewLogger(t *testing.T) {
	tests := []struct {
		level, format string
		wantErr       bool
	}{
		{"info", "text", false},
		{"debug", "json", false},
		{"WARN", "JSON", false},
		{"loud", "text", true},
		{"info", "xml", true},
	}
	for _, tt := range tests {
		_, err := newLogger(tt.level, tt.format)
		if (err != nil) != tt.wantErr {
			t.Errorf("newLogger(%q, %q) error = %v, want error %v", tt.level, tt.format, err, tt.wantErr)
		}
	}
}

func TestCommands(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"version"}, "cutover dev"},
		{[]string{"server", "--help"}, "--tls-addr"},
		{[]string{"applications", "--help"}, "--endpoint-url"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			root := newRootCommand()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetArgs(tt.args)
			if err := root.Execute(); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, out.String())
			}
		})
	}
}
