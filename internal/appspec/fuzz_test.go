package appspec

import (
	"errors"
	"testing"
)

// Seeds shared by the fuzz targets: the guide examples and a few broken
// documents.
func fuzzSeeds(f *testing.F) {
	for _, s := range []string{
		ecsGuideYAML, ecsGuideJSON, ecsMinimal, lambdaGuideYAML, lambdaGuideJSON, lambdaLowerJSON,
		serverGuide, serverPermissions,
		"", "{", "version: 0.0\n", "- a\n", "a: &x 1\nb: *x\n",
		"version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: ../a\n",
		"version: 0.0\nos: linux\npermissions:\n  - object: /x\n    acls: [\"d:u::7\"]\n    context: {type: t, range: \"s0-s1:c0.c3\"}\n",
	} {
		f.Add([]byte(s))
	}
}

// checkError fails unless err is one of the package's error types.
func checkError(t *testing.T, err error) {
	var e *Error
	var u *UnsupportedOSError
	if !errors.As(err, &e) && !errors.As(err, &u) {
		t.Fatalf("error %T is not an appspec error: %v", err, err)
	}
}

func FuzzParseECS(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseECS(b)
		if err != nil {
			checkError(t, err)
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("accepted document does not validate: %v\n%s", err, b)
		}
		if k, err := Detect(b); err != nil || k != KindECS {
			t.Fatalf("accepted ECS document detected as %v, %v\n%s", k, err, b)
		}
	})
}

func FuzzParseLambda(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseLambda(b)
		if err != nil {
			checkError(t, err)
			return
		}
		if err := l.Validate(); err != nil {
			t.Fatalf("accepted document does not validate: %v\n%s", err, b)
		}
		if k, err := Detect(b); err != nil || k != KindLambda {
			t.Fatalf("accepted Lambda document detected as %v, %v\n%s", k, err, b)
		}
	})
}

func FuzzParseServer(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseServerWithOptions(b, ServerOptions{HostOS: "linux"})
		if err != nil {
			checkError(t, err)
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted document does not validate: %v\n%s", err, b)
		}
		for _, fl := range s.Files {
			if _, err := s.SourceIn("/bundle", fl); err != nil {
				t.Fatalf("accepted source %q refused: %v", fl.Source, err)
			}
		}
		for _, scripts := range s.Hooks {
			for _, sc := range scripts {
				if _, err := s.ScriptIn("/bundle", sc); err != nil {
					t.Fatalf("accepted script %q refused: %v", sc.Location, err)
				}
			}
		}
		if k, err := Detect(b); err != nil || k != KindServer {
			t.Fatalf("accepted Server document detected as %v, %v\n%s", k, err, b)
		}
	})
}

func FuzzDetect(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := Detect(b); err != nil {
			checkError(t, err)
		}
	})
}
