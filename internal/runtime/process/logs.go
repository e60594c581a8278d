package process

import (
	"bytes"
	"io"
	"os"
)

// tailFile returns the last n lines of the file (all of it when n <= 0),
// reading backwards in chunks so a long log costs only what is returned.
func tailFile(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if n <= 0 {
		return io.ReadAll(f)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	const chunk = 64 << 10
	size := st.Size()
	var buf []byte
	for off := size; off > 0; {
		step := int64(chunk)
		if off < step {
			step = off
		}
		off -= step
		b := make([]byte, step)
		if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
			return nil, err
		}
		buf = append(b, buf...)
		// n lines need n newlines, plus one for a final line that ends in
		// one; counting n+1 guarantees the cut below has what it needs.
		if bytes.Count(buf, []byte{'\n'}) > n {
			break
		}
	}
	return lastLines(buf, n), nil
}

// lastLines returns the last n lines of b; a trailing newline does not start
// a new line.
func lastLines(b []byte, n int) []byte {
	end := len(b)
	if end > 0 && b[end-1] == '\n' {
		end--
	}
	i := end
	for count := 0; i > 0; i-- {
		if b[i-1] == '\n' {
			count++
			if count == n {
				break
			}
		}
	}
	return b[i:]
}
