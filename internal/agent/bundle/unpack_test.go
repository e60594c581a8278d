package bundle

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type member struct {
	name, body, link string
	typ              byte
}

func writeTar(t *testing.T, path string, ms ...member) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range ms {
		h := &tar.Header{Name: m.name, Typeflag: m.typ, Linkname: m.link, Mode: 0o644}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(m.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(m.body))
	}
	tw.Close()
	os.WriteFile(path, buf.Bytes(), 0o644)
}

func writeZip(t *testing.T, path string, ms ...member) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range ms {
		h := &zip.FileHeader{Name: m.name}
		body := m.body
		switch m.typ {
		case tar.TypeSymlink:
			h.SetMode(fs.ModeSymlink | 0o777)
			body = m.link
		case tar.TypeChar:
			h.SetMode(fs.ModeDevice | fs.ModeCharDevice | 0o644)
		default:
			h.SetMode(0o644)
		}
		w, _ := zw.CreateHeader(h)
		w.Write([]byte(body))
	}
	zw.Close()
	os.WriteFile(path, buf.Bytes(), 0o644)
}

func TestUnpackRefusesHostileArchives(t *testing.T) {
	ok := member{name: "appspec.yml", body: "version: 0.0\n"}
	for _, tc := range []struct {
		name    string
		zip     bool
		members []member
		want    string
	}{
		{"dot-dot path", false, []member{ok, {name: "../evil.txt", body: "x"}}, "climbs out of the bundle"},
		{"nested dot-dot", false, []member{ok, {name: "a/../../evil.txt", body: "x"}}, "climbs out of the bundle"},
		{"absolute path", false, []member{ok, {name: "/tmp/evil.txt", body: "x"}}, "absolute path"},
		{"absolute symlink", false, []member{ok, {name: "etc", typ: tar.TypeSymlink, link: "/etc"}}, "absolute path"},
		{"relative symlink out", false, []member{ok, {name: "up", typ: tar.TypeSymlink, link: "../.."}}, "outside the bundle"},
		{"symlink then write through it", false, []member{ok, {name: "d", typ: tar.TypeSymlink, link: "."}, {name: "d/../evil.txt", body: "x"}}, "climbs out"},
		{"link via a link to the root", false, []member{ok, {name: "l", typ: tar.TypeSymlink, link: "."}, {name: "l/s", typ: tar.TypeSymlink, link: "../q"}}, "outside the bundle"},
		{"replace a link with a file", false, []member{ok, {name: "sub", typ: tar.TypeSymlink, link: "."}, {name: "sub", body: "x"}}, "replaces a symbolic link"},
		{"hard link out", false, []member{ok, {name: "h", typ: tar.TypeLink, link: "../../etc/passwd"}}, "hard link"},
		{"hard link absolute", false, []member{ok, {name: "h", typ: tar.TypeLink, link: "/etc/passwd"}}, "hard link"},
		{"character device", false, []member{ok, {name: "null", typ: tar.TypeChar}}, "device"},
		{"block device", false, []member{ok, {name: "sda", typ: tar.TypeBlock}}, "device"},
		{"fifo", false, []member{ok, {name: "pipe", typ: tar.TypeFifo}}, "device, pipe"},
		{"zip dot-dot", true, []member{ok, {name: "../evil.txt", body: "x"}}, "climbs out"},
		{"zip absolute", true, []member{ok, {name: "/evil.txt", body: "x"}}, "absolute path"},
		{"zip backslash dot-dot", true, []member{ok, {name: `..\evil.txt`, body: "x"}}, "climbs out"},
		{"zip symlink out", true, []member{ok, {name: "up", typ: tar.TypeSymlink, link: "../../etc"}}, "outside the bundle"},
		{"zip device", true, []member{ok, {name: "null", typ: tar.TypeChar}}, "device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			archive := filepath.Join(dir, "bundle")
			kind := "tar"
			if tc.zip {
				kind = "zip"
				writeZip(t, archive, tc.members...)
			} else {
				writeTar(t, archive, tc.members...)
			}
			dst := filepath.Join(dir, "deploy", "archive")
			os.MkdirAll(filepath.Dir(dst), 0o755)
			err := Unpack(archive, kind, dst)
			var he *HostileError
			if !errors.As(err, &he) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a refusal saying %q", err, tc.want)
			}
			if _, err := os.Stat(dst); !errors.Is(err, fs.ErrNotExist) {
				t.Error("the refused archive's directory was left behind")
			}
			// Nothing outside the destination.
			for _, p := range []string{filepath.Join(dir, "evil.txt"), filepath.Join(dir, "deploy", "evil.txt"), filepath.Join(dir, "q")} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s written outside the destination", p)
				}
			}
		})
	}
}

func TestUnpackKeepsSafeLinksAndStripsTopDir(t *testing.T) {
	dir := t.TempDir()
	archive := filepath.Join(dir, "b.tar")
	writeTar(t, archive,
		member{name: "rev/appspec.yml", body: "version: 0.0\n"},
		member{name: "rev/a/file.txt", body: "hi"},
		member{name: "rev/a/link", typ: tar.TypeSymlink, link: "file.txt"},
		member{name: "rev/a/hard", typ: tar.TypeLink, link: "rev/a/file.txt"},
	)
	dst := filepath.Join(dir, "out")
	if err := Unpack(archive, "tar", dst); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"appspec.yml", "a/link", "a/hard"} {
		if _, err := os.Stat(filepath.Join(dst, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

func TestStripTopDirLinkRecheck(t *testing.T) {
	// rev/x -> ../y is inside before the lone top directory is stripped and
	// outside after: refused.
	dir := t.TempDir()
	archive := filepath.Join(dir, "b.tar")
	writeTar(t, archive,
		member{name: "rev/appspec.yml", body: "version: 0.0\n"},
		member{name: "rev/x", typ: tar.TypeSymlink, link: "../y"},
	)
	if err := Unpack(archive, "tar", filepath.Join(dir, "out")); err == nil {
		t.Fatal("a link that leaves the bundle after stripping was accepted")
	}
}

func TestUnpackRejectsGarbage(t *testing.T) {
	dir := t.TempDir()
	archive := filepath.Join(dir, "b")
	os.WriteFile(archive, []byte("not an archive"), 0o644)
	for _, kind := range []string{"tar", "tgz", "zip", "rar"} {
		if err := Unpack(archive, kind, filepath.Join(dir, "out-"+kind)); err == nil {
			t.Errorf("%s: garbage accepted", kind)
		}
	}
}
