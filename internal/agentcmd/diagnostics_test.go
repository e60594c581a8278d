package agentcmd

import "testing"

func TestParseDiagnostics(t *testing.T) {
	j := func(p string) *Envelope { return &Envelope{Format: "JSON", Payload: p} }
	for _, tc := range []struct {
		name string
		env  *Envelope
		st   Status
		want Diagnostics
	}{
		{"success", j(`{"error_code":0,"script_name":"","message":"Succeeded: ","log":""}`), StatusSucceeded, Diagnostics{ErrorCode: "Success", Message: "Succeeded: "}},
		{"script missing", j(`{"error_code":1,"script_name":"s.sh","message":"m","log":""}`), StatusFailed, Diagnostics{ErrorCode: "ScriptMissing", ScriptName: "s.sh", Message: "m"}},
		{"not executable", j(`{"error_code":2}`), StatusFailed, Diagnostics{ErrorCode: "ScriptNotExecutable"}},
		{"timed out", j(`{"error_code":3}`), StatusFailed, Diagnostics{ErrorCode: "ScriptTimedOut"}},
		{"failed with log", j(`{"error_code":4,"script_name":"f.sh","message":"exit 3","log":"[stderr]x\n"}`), StatusFailed,
			Diagnostics{ErrorCode: "ScriptFailed", ScriptName: "f.sh", Message: "exit 3", LogTail: "[stderr]x\n"}},
		{"unknown", j(`{"error_code":5,"message":"boom"}`), StatusFailed, Diagnostics{ErrorCode: "UnknownError", Message: "boom"}},
		{"outputs left open", j(`{"error_code":6}`), StatusFailed, Diagnostics{ErrorCode: "OutputsLeftOpen"}},
		{"agent restarted", j(`{"error_code":7,"message":"Failing in-progress lifecycle event after an agent restart."}`), StatusFailed,
			Diagnostics{ErrorCode: "UnknownError", Message: "Failing in-progress lifecycle event after an agent restart."}},
		{"code out of range", j(`{"error_code":42}`), StatusFailed, Diagnostics{ErrorCode: "UnknownError"}},
		{"no code, succeeded", j(`{"message":"CompletedNoopCommand"}`), StatusSucceeded, Diagnostics{ErrorCode: "Success", Message: "CompletedNoopCommand"}},
		{"no diagnostics, failed", nil, StatusFailed, Diagnostics{ErrorCode: "UnknownError"}},
		{"not JSON", j(`oops`), StatusFailed, Diagnostics{ErrorCode: "UnknownError", Message: "oops"}},
		{"other format", &Envelope{Format: "TEXT", Payload: "plain words"}, StatusFailed, Diagnostics{ErrorCode: "UnknownError", Message: "plain words"}},
		{"code of wrong type", j(`{"error_code":"4"}`), StatusFailed, Diagnostics{ErrorCode: "UnknownError", Message: `{"error_code":"4"}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseDiagnostics(tc.env, tc.st); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseNoop(t *testing.T) {
	for _, tc := range []struct {
		env  *Envelope
		want bool
	}{
		{&Envelope{Format: "JSON", Payload: `{"IsCommandNoop":true}`}, true},
		{&Envelope{Format: "JSON", Payload: `{"IsCommandNoop":false}`}, false},
		{&Envelope{Format: "JSON", Payload: `nope`}, false},
		{nil, false},
	} {
		if got := parseNoop(tc.env); got != tc.want {
			t.Errorf("%+v: %v", tc.env, got)
		}
	}
}
