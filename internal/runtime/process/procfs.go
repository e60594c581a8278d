package process

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// procStat is what cutover needs from /proc/<pid>/stat: the process state
// (to see zombies) and its start time (to tell a process from a later one
// that was given the same pid).
type procStat struct {
	State     byte
	StartTime uint64 // clock ticks after boot (field 22)
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) is in parentheses and may itself contain
	// spaces and parentheses, so fields are counted from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	fields := bytes.Fields(b[i+2:])
	// fields[0] is field 3 (state); field 22 (starttime) is fields[19].
	if len(fields) < 20 || len(fields[0]) != 1 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	st, err := strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: start time: %w", pid, err)
	}
	return procStat{State: fields[0][0], StartTime: st}, nil
}

// alive reports whether pid is still the process that was started at
// startTime and has not exited (a zombie has exited: only its parent has not
// collected it yet).
func alive(pid int, startTime uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := readProcStat(pid)
	if err != nil {
		return false
	}
	if st.State == 'Z' || st.State == 'X' || st.State == 'x' {
		return false
	}
	return st.StartTime == startTime
}
