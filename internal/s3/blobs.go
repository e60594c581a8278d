package s3

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// blobs keeps object and part bytes as files under dir: new bytes go to
// tmp/, are fsynced and renamed into blobs/xx/ under a fresh random name,
// and only then does the metadata that names them get committed. A crash
// therefore leaves at worst an unreferenced file, which sweep removes.
type blobs struct{ dir string }

func newBlobs(dir string) (*blobs, error) {
	for _, d := range []string{"tmp", "blobs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("s3: data dir: %w", err)
		}
	}
	return &blobs{dir: dir}, nil
}

func (b *blobs) path(name string) string {
	return filepath.Join(b.dir, "blobs", name[:2], name)
}

// create opens a temporary file for new bytes.
func (b *blobs) create() (*os.File, error) {
	return os.CreateTemp(filepath.Join(b.dir, "tmp"), "up-*")
}

// discard removes a temporary file that will not be committed.
func (b *blobs) discard(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}

// commit makes a temporary file durable under a new blob name.
func (b *blobs) commit(f *os.File) (string, error) {
	if err := f.Sync(); err != nil {
		b.discard(f)
		return "", fmt.Errorf("s3: sync upload: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("s3: close upload: %w", err)
	}
	var rnd [16]byte
	rand.Read(rnd[:])
	name := hex.EncodeToString(rnd[:])
	dst := b.path(name)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("s3: blob dir: %w", err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("s3: rename upload: %w", err)
	}
	// The rename is durable only once the directory is synced.
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return "", err
	}
	return name, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("s3: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("s3: sync dir: %w", err)
	}
	return nil
}

func (b *blobs) open(name string) (*os.File, error) {
	if len(name) < 3 {
		return nil, fmt.Errorf("s3: bad blob name %q", name)
	}
	return os.Open(b.path(name))
}

// remove deletes a blob no metadata refers to any more. A failure only
// leaves garbage for the next sweep, so it is not reported.
func (b *blobs) remove(name string) {
	if len(name) >= 3 {
		os.Remove(b.path(name))
	}
}

// sweep deletes temporary files and every blob not in keep. It runs at
// start, before any request could be creating new blobs.
func (b *blobs) sweep(keep map[string]bool) (removed int, err error) {
	tmp, _ := os.ReadDir(filepath.Join(b.dir, "tmp"))
	for _, e := range tmp {
		if os.Remove(filepath.Join(b.dir, "tmp", e.Name())) == nil {
			removed++
		}
	}
	err = filepath.WalkDir(filepath.Join(b.dir, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || keep[d.Name()] {
			return nil
		}
		if os.Remove(p) == nil {
			removed++
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return removed, fmt.Errorf("s3: sweep: %w", err)
	}
	return removed, nil
}

// copyBlob writes src's bytes (all of them) into a new committed blob.
func (b *blobs) copyBlob(srcs ...string) (string, error) {
	f, err := b.create()
	if err != nil {
		return "", fmt.Errorf("s3: create: %w", err)
	}
	for _, s := range srcs {
		in, err := b.open(s)
		if err != nil {
			b.discard(f)
			return "", fmt.Errorf("s3: open blob: %w", err)
		}
		_, err = io.Copy(f, in)
		in.Close()
		if err != nil {
			b.discard(f)
			return "", fmt.Errorf("s3: copy blob: %w", err)
		}
	}
	return b.commit(f)
}
