package agentcmd

import (
	"encoding/json"
	"strings"
)

// errorCodes maps the agent's numeric error_code (hook_executor.rb) to
// CodeDeploy's diagnostics ErrorCode names. 7 is the agent failing a
// command it was running when it restarted.
var errorCodes = map[int]string{
	0: "Success",
	1: "ScriptMissing",
	2: "ScriptNotExecutable",
	3: "ScriptTimedOut",
	4: "ScriptFailed",
	5: "UnknownError",
	6: "OutputsLeftOpen",
	7: "UnknownError",
}

// agentDiagnostics is the JSON payload of PutHostCommandComplete.
type agentDiagnostics struct {
	ErrorCode  *int   `json:"error_code"`
	ScriptName string `json:"script_name"`
	Message    string `json:"message"`
	Log        string `json:"log"`
}

// parseDiagnostics reads the agent's account of a finished command. The
// payload is free text to the API, so one that is not the agent's JSON is
// kept as the message rather than refused.
func parseDiagnostics(env *Envelope, st Status) Diagnostics {
	fallback := "UnknownError"
	if st == StatusSucceeded {
		fallback = "Success"
	}
	if env == nil || env.Payload == "" {
		return Diagnostics{ErrorCode: fallback}
	}
	var d agentDiagnostics
	if !strings.EqualFold(env.Format, "JSON") || json.Unmarshal([]byte(env.Payload), &d) != nil {
		return Diagnostics{ErrorCode: fallback, Message: env.Payload}
	}
	code := fallback
	if d.ErrorCode != nil {
		if name, ok := errorCodes[*d.ErrorCode]; ok {
			code = name
		} else {
			code = "UnknownError"
		}
	}
	return Diagnostics{ErrorCode: code, ScriptName: d.ScriptName, Message: d.Message, LogTail: d.Log}
}

// parseNoop reads IsCommandNoop from an acknowledgement's diagnostics.
func parseNoop(env *Envelope) bool {
	if env == nil || env.Payload == "" {
		return false
	}
	var d struct {
		IsCommandNoop bool `json:"IsCommandNoop"`
	}
	return json.Unmarshal([]byte(env.Payload), &d) == nil && d.IsCommandNoop
}
