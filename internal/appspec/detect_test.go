package appspec

import "testing"

func TestDetect(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want Kind
		err  bool
	}{
		{"ECS yaml", ecsGuideYAML, KindECS, false},
		{"ECS json", ecsGuideJSON, KindECS, false},
		{"Lambda yaml", lambdaGuideYAML, KindLambda, false},
		{"Lambda lower-case json", lambdaLowerJSON, KindLambda, false},
		{"Server", serverGuide, KindServer, false},
		{"Server without os but with hooks mapping", "version: 0.0\nhooks:\n  AfterInstall: []\n", KindServer, false},
		{"Server minimal", "version: 0.0\nos: linux\n", KindServer, false},
		{"os wins over Resources", "version: 0.0\nos: linux\nResources:\n  - x: {Type: AWS::ECS::Service}\n", KindServer, false},
		{"unknown resource type", "version: 0.0\nResources:\n  - x: {Type: AWS::S3::Bucket}\n", KindUnknown, true},
		{"only version", "version: 0.0\n", KindUnknown, true},
		{"hooks list without resources", "version: 0.0\nHooks:\n  - BeforeInstall: f\n", KindUnknown, true},
		{"not YAML", "{", KindUnknown, true},
		{"empty", "", KindUnknown, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Detect([]byte(tc.doc))
			if got != tc.want || (err != nil) != tc.err {
				t.Errorf("Detect = %v, %v; want %v, error %v", got, err, tc.want, tc.err)
			}
		})
	}
	for k, s := range map[Kind]string{KindServer: "Server", KindECS: "ECS", KindLambda: "Lambda", KindUnknown: "Unknown"} {
		if k.String() != s {
			t.Errorf("%d.String() = %q", k, k.String())
		}
	}
}
