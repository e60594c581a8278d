package main

import (
	"io"
	"testing"

	"github.com/cutover/cutover/internal/demo"
	"github.com/cutover/cutover/internal/server"
)

// TestDemoConfig checks how --demo adjusts the server: host processes
// always (an explicit other runtime is refused), and the demo's time scale
// unless --time-scale was given.
func TestDemoConfig(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		wantRuntime string
		wantScale   float64
		wantErr     bool
	}{
		{"defaults", nil, "process", demo.TimeScale, false},
		{"explicit time scale kept", []string{"--time-scale", "60"}, "process", 60, false},
		{"explicit process runtime", []string{"--runtime", "process"}, "process", demo.TimeScale, false},
		{"docker refused", []string{"--runtime", "docker"}, "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := newServerCommand()
			cmd.SetOut(io.Discard)
			if err := cmd.ParseFlags(tt.args); err != nil {
				t.Fatal(err)
			}
			cfg := server.Config{}
			cfg.Runtime, _ = cmd.Flags().GetString("runtime")
			cfg.TimeScale, _ = cmd.Flags().GetFloat64("time-scale")
			err := demoConfig(cmd, &cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if err == nil && (cfg.Runtime != tt.wantRuntime || cfg.TimeScale != tt.wantScale) {
				t.Errorf("runtime %q scale %g; want %q %g", cfg.Runtime, cfg.TimeScale, tt.wantRuntime, tt.wantScale)
			}
		})
	}
}
