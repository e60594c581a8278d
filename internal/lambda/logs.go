package lambda

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// maxPending bounds what an environment's output keeps between two cuts;
// older output is dropped (the invocation's log keeps its end).
const maxPending = 1 << 20

// logPipe collects an environment's stdout and stderr and splits them per
// invocation. The split is exact without racing the reader: when an
// invocation ends, a unique mark is written into the pipe behind
// everything the function wrote before answering, so the output that
// precedes the mark is the invocation's.
type logPipe struct {
	r, w *os.File
	done chan struct{}

	mu     sync.Mutex
	buf    []byte
	mark   []byte
	markCh chan []byte
	seq    int
	prefix string
}

func newLogPipe() (*logPipe, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("lambda: creating output pipe: %w", err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	p := &logPipe{r: r, w: w, done: make(chan struct{}), prefix: "\x00cutover-mark-" + hex.EncodeToString(b) + "-"}
	go p.read()
	return p, nil
}

func (p *logPipe) read() {
	defer close(p.done)
	chunk := make([]byte, 32<<10)
	for {
		n, err := p.r.Read(chunk)
		if n > 0 {
			p.mu.Lock()
			p.buf = append(p.buf, chunk[:n]...)
			if p.mark != nil {
				if i := bytes.Index(p.buf, p.mark); i >= 0 {
					out := bytes.Clone(p.buf[:i])
					p.buf = append(p.buf[:0], p.buf[i+len(p.mark):]...)
					p.markCh <- out
					p.mark, p.markCh = nil, nil
				}
			}
			if p.mark == nil && len(p.buf) > maxPending {
				p.buf = append(p.buf[:0], p.buf[len(p.buf)-maxPending:]...)
			}
			p.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// cut returns what the process wrote since the last cut.
func (p *logPipe) cut() []byte {
	p.mu.Lock()
	p.seq++
	mark := []byte(fmt.Sprintf("%s%d\x00", p.prefix, p.seq))
	ch := make(chan []byte, 1)
	p.mark, p.markCh = mark, ch
	p.mu.Unlock()
	if _, err := p.w.Write(mark); err == nil {
		// The reader only waits on the pipe, so the mark arrives at once;
		// the bound only guards against a pipe that was closed under us.
		select {
		case out := <-ch:
			return out
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mark, p.markCh = nil, nil
	out := bytes.Clone(p.buf)
	p.buf = p.buf[:0]
	return out
}

// close ends the reader once the process (and all it started) is gone.
func (p *logPipe) close() {
	p.w.Close()
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
		// A stray descendant still holds the pipe; stop reading anyway.
	}
	p.r.Close()
	<-p.done
}

// logFiles keeps each function's invocation logs in logs/<function>.log,
// rotated to .log.1 past maxLogFile, as a stand-in for CloudWatch Logs.
type logFiles struct {
	dir string
	mu  sync.Mutex
}

const maxLogFile = 8 << 20

func newLogFiles(dir string) (*logFiles, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lambda: creating %s: %w", dir, err)
	}
	return &logFiles{dir: dir}, nil
}

func (l *logFiles) path(function string) string { return filepath.Join(l.dir, function+".log") }

func (l *logFiles) append(function string, text []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	path := l.path(function)
	if st, err := os.Stat(path); err == nil && st.Size()+int64(len(text)) > maxLogFile {
		if err := os.Rename(path, path+".1"); err != nil {
			return fmt.Errorf("lambda: rotating %s: %w", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("lambda: opening %s: %w", path, err)
	}
	_, err = f.Write(text)
	return errors.Join(err, f.Close())
}

func (l *logFiles) close() error { return nil }
