package lambda

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	lsdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/cutover/cutover/internal/awsproto"
)

func TestCreateFunctionReturnsAWSConfiguration(t *testing.T) {
	e := newEnv(t)
	zipb := smallZip("one")
	out, err := e.client.CreateFunction(e.ctx, &lsdk.CreateFunctionInput{
		FunctionName: aws.String("fn"), Role: aws.String(testRole), Runtime: types.RuntimeProvidedal2023,
		Handler: aws.String("bootstrap"), Code: &types.FunctionCode{ZipFile: zipb},
		Description: aws.String("d"), Timeout: aws.Int32(30), MemorySize: aws.Int32(256),
		Environment: &types.Environment{Variables: map[string]string{"AB": "1"}},
		Tags:        map[string]string{"team": "x"},
	})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(zipb)
	switch {
	case aws.ToString(out.FunctionArn) != e.arn("fn"),
		aws.ToString(out.CodeSha256) != base64.StdEncoding.EncodeToString(sum[:]),
		out.CodeSize != int64(len(zipb)),
		aws.ToString(out.Version) != "$LATEST",
		out.State != types.StateActive,
		out.LastUpdateStatus != types.LastUpdateStatusSuccessful,
		aws.ToString(out.RevisionId) == "",
		out.PackageType != types.PackageTypeZip,
		len(out.Architectures) != 1 || out.Architectures[0] != types.ArchitectureX8664,
		aws.ToInt32(out.Timeout) != 30 || aws.ToInt32(out.MemorySize) != 256,
		out.Environment == nil || out.Environment.Variables["AB"] != "1",
		aws.ToString(out.Description) != "d", aws.ToString(out.Role) != testRole:
		t.Fatalf("CreateFunction answered %+v", out)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000-0700", aws.ToString(out.LastModified)); err != nil || !strings.HasSuffix(aws.ToString(out.LastModified), "+0000") {
		t.Fatalf("LastModified %q: %v", aws.ToString(out.LastModified), err)
	}
	got, err := e.client.GetFunction(e.ctx, &lsdk.GetFunctionInput{FunctionName: aws.String("fn")})
	if err != nil {
		t.Fatal(err)
	}
	if got.Tags["team"] != "x" || aws.ToString(got.Configuration.CodeSha256) != aws.ToString(out.CodeSha256) || aws.ToString(got.Code.RepositoryType) != "S3" {
		t.Fatalf("GetFunction: %+v", got)
	}

	// Publish on create makes version 1.
	pub, err := e.client.CreateFunction(e.ctx, &lsdk.CreateFunctionInput{
		FunctionName: aws.String("pub"), Role: aws.String(testRole), Runtime: types.RuntimeProvidedal2,
		Handler: aws.String("h"), Code: &types.FunctionCode{ZipFile: zipb}, Publish: true,
	})
	if err != nil || aws.ToString(pub.Version) != "1" || aws.ToString(pub.FunctionArn) != e.arn("pub")+":1" {
		t.Fatalf("Publish on create: %+v %v", pub, err)
	}
}

func TestCreateFunctionRefusesBadInput(t *testing.T) {
	e := newEnv(t)
	e.createSmall("taken", "x")
	good := func() *lsdk.CreateFunctionInput {
		return &lsdk.CreateFunctionInput{FunctionName: aws.String("f"), Role: aws.String(testRole), Runtime: types.RuntimeProvidedal2023,
			Handler: aws.String("h"), Code: &types.FunctionCode{ZipFile: smallZip("y")}}
	}
	tests := []struct {
		name   string
		change func(*lsdk.CreateFunctionInput)
		code   string
		msg    string
	}{
		{"exists", func(in *lsdk.CreateFunctionInput) { in.FunctionName = aws.String("taken") }, "ResourceConflictException", "Function already exist: taken"},
		{"unsupported runtime", func(in *lsdk.CreateFunctionInput) { in.Runtime = types.RuntimeNodejs20x }, "InvalidParameterValueException", "provided.al2023, provided.al2"},
		{"no runtime", func(in *lsdk.CreateFunctionInput) { in.Runtime = "" }, "InvalidParameterValueException", "Runtime and Handler are mandatory"},
		{"invalid zip", func(in *lsdk.CreateFunctionInput) { in.Code.ZipFile = []byte("not a zip") }, "InvalidParameterValueException", "Could not unzip"},
		{"zip slip", func(in *lsdk.CreateFunctionInput) {
			in.Code.ZipFile = makeZip(map[string][]byte{"../evil": []byte("x")}, 0o644)
		}, "InvalidParameterValueException", "Could not unzip"},
		{"no code source", func(in *lsdk.CreateFunctionInput) { in.Code = &types.FunctionCode{} }, "InvalidParameterValueException", "source for function code"},
		{"timeout too long", func(in *lsdk.CreateFunctionInput) { in.Timeout = aws.Int32(901) }, "ValidationException", "less than or equal to 900"},
		{"timeout zero", func(in *lsdk.CreateFunctionInput) { in.Timeout = aws.Int32(0) }, "ValidationException", "greater than or equal to 1"},
		{"memory too large", func(in *lsdk.CreateFunctionInput) { in.MemorySize = aws.Int32(10241) }, "InvalidParameterValueException", "10240"},
		{"memory too small", func(in *lsdk.CreateFunctionInput) { in.MemorySize = aws.Int32(64) }, "ValidationException", "128"},
		{"bad role", func(in *lsdk.CreateFunctionInput) { in.Role = aws.String("admin") }, "ValidationException", "at 'role'"},
		{"bad name", func(in *lsdk.CreateFunctionInput) { in.FunctionName = aws.String("bad name!") }, "ValidationException", "functionName"},
		{"qualified name", func(in *lsdk.CreateFunctionInput) { in.FunctionName = aws.String("f:1") }, "InvalidParameterValueException", "qualifier"},
		{"reserved env", func(in *lsdk.CreateFunctionInput) {
			in.Environment = &types.Environment{Variables: map[string]string{"AWS_REGION": "x"}}
		}, "InvalidParameterValueException", "Reserved keys used in this request: AWS_REGION"},
		{"bad env name", func(in *lsdk.CreateFunctionInput) {
			in.Environment = &types.Environment{Variables: map[string]string{"1X": "x"}}
		}, "ValidationException", "environment.variables"},
		{"architecture", func(in *lsdk.CreateFunctionInput) { in.Architectures = []types.Architecture{"sparc"} }, "ValidationException", "architectures"},
		{"image without uri", func(in *lsdk.CreateFunctionInput) {
			in.PackageType, in.Runtime, in.Handler = types.PackageTypeImage, "", nil
		}, "InvalidParameterValueException", "ImageUri"},
		{"s3 object missing", func(in *lsdk.CreateFunctionInput) {
			in.Code = &types.FunctionCode{S3Bucket: aws.String("b"), S3Key: aws.String("k")}
		}, "InvalidParameterValueException", "NoSuchKey"},
		{"aws tag", func(in *lsdk.CreateFunctionInput) { in.Tags = map[string]string{"aws:x": "y"} }, "InvalidParameterValueException", "aws:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := good()
			tc.change(in)
			_, err := e.client.CreateFunction(e.ctx, in)
			wantCode(t, err, tc.code)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("message %q lacks %q", err, tc.msg)
			}
		})
	}
	// Nothing was created by the refused requests.
	out, err := e.client.ListFunctions(e.ctx, &lsdk.ListFunctionsInput{})
	if err != nil || len(out.Functions) != 1 {
		t.Fatalf("ListFunctions after refusals: %+v %v", out, err)
	}
	e.svc.sweeps.Wait()
	codes, _ := os.ReadDir(filepath.Join(e.dataDir, "code"))
	if len(codes) != 1 {
		t.Fatalf("%d code files on disk, want 1", len(codes))
	}
}

// TestProtocolErrors checks what the SDK itself would refuse to send, and
// the wire form of errors (header, body casing, status).
func TestProtocolErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, method, path, body string
		status                   int
		code, bodyHas            string
	}{
		{"missing role", "POST", "/2015-03-31/functions", `{"FunctionName":"f","Runtime":"provided.al2","Handler":"h","Code":{"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}}`,
			400, "ValidationException", `"message":"1 validation error detected: Value null at 'role'`},
		{"bad json", "POST", "/2015-03-31/functions", `{`, 400, "InvalidRequestContentException", `"Type":"User"`},
		{"not found", "GET", "/2015-03-31/functions/nope", "", 404, "ResourceNotFoundException", `"Message":"Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope"`},
		{"unknown path", "GET", "/2015-03-31/nothing", "", 404, "UnknownOperationException", ""},
		{"bad max items", "GET", "/2015-03-31/functions/?MaxItems=0", "", 400, "ValidationException", "maxItems"},
		{"bad marker", "GET", "/2015-03-31/functions/?Marker=zzz", "", 400, "InvalidParameterValueException", "Marker"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.raw(tc.method, tc.path, []byte(tc.body))
			if resp.StatusCode != tc.status || resp.Header.Get("X-Amzn-ErrorType") != tc.code || !strings.Contains(string(body), tc.bodyHas) {
				t.Fatalf("%d %s %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body)
			}
		})
	}
	// Unsigned and wrongly signed requests.
	resp, err := http.Get(e.srv.URL + "/2015-03-31/functions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-ErrorType") != "MissingAuthenticationTokenException" {
		t.Fatalf("unsigned: %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
	bad := lsdk.New(lsdk.Options{Region: testRegion, BaseEndpoint: aws.String(e.srv.URL), RetryMaxAttempts: 1,
		Credentials: aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDUNKNOWN", SecretAccessKey: "x"}, nil
		})})
	_, err = bad.ListFunctions(e.ctx, &lsdk.ListFunctionsInput{})
	wantCode(t, err, "UnrecognizedClientException")
}

func TestGetFunctionResolvesNamesAsAWS(t *testing.T) {
	e := newEnv(t)
	e.createSmall("fn", "a")
	if _, err := e.client.PublishVersion(e.ctx, &lsdk.PublishVersionInput{FunctionName: aws.String("fn")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.CreateAlias(e.ctx, &lsdk.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, qualifier      string
		wantVersion, wantARN string
		code                 string
	}{
		{name: "fn", wantVersion: "$LATEST", wantARN: e.arn("fn")},
		{name: "fn", qualifier: "$LATEST", wantVersion: "$LATEST", wantARN: e.arn("fn") + ":$LATEST"},
		{name: "fn:1", wantVersion: "1", wantARN: e.arn("fn") + ":1"},
		{name: "fn", qualifier: "live", wantVersion: "1", wantARN: e.arn("fn") + ":live"},
		{name: testAccount + ":function:fn", wantVersion: "$LATEST", wantARN: e.arn("fn")},
		{name: testAccount + ":function:fn:live", wantVersion: "1", wantARN: e.arn("fn") + ":live"},
		{name: e.arn("fn"), qualifier: "1", wantVersion: "1", wantARN: e.arn("fn") + ":1"},
		{name: e.arn("fn") + ":1", qualifier: "1", wantVersion: "1", wantARN: e.arn("fn") + ":1"},
		{name: e.arn("fn") + ":1", qualifier: "live", code: "InvalidParameterValueException"},
		{name: "fn", qualifier: "2", code: "ResourceNotFoundException"},
		{name: "fn", qualifier: "nolias", code: "ResourceNotFoundException"},
		{name: "arn:aws:lambda:eu-west-1:" + testAccount + ":function:fn", code: "ResourceNotFoundException"},
		{name: "999999999999:function:fn", code: "ResourceNotFoundException"},
		{name: "arn:aws:s3:::bucket", code: "ValidationException"},
		{name: "other", code: "ResourceNotFoundException"},
	}
	for _, tc := range tests {
		t.Run(tc.name+"/"+tc.qualifier, func(t *testing.T) {
			in := &lsdk.GetFunctionConfigurationInput{FunctionName: aws.String(tc.name)}
			if tc.qualifier != "" {
				in.Qualifier = aws.String(tc.qualifier)
			}
			out, err := e.client.GetFunctionConfiguration(e.ctx, in)
			if tc.code != "" {
				wantCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(out.Version) != tc.wantVersion || aws.ToString(out.FunctionArn) != tc.wantARN {
				t.Fatalf("got version %s arn %s", aws.ToString(out.Version), aws.ToString(out.FunctionArn))
			}
			v, err := e.svc.ResolveVersion(e.ctx, tc.name, tc.qualifier)
			if err != nil || v != tc.wantVersion {
				t.Fatalf("ResolveVersion = %q, %v", v, err)
			}
		})
	}
}

func TestListFunctionsPages(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"e", "a", "c", "b", "d"} {
		e.createSmall(n, n)
	}
	if _, err := e.client.PublishVersion(e.ctx, &lsdk.PublishVersionInput{FunctionName: aws.String("c")}); err != nil {
		t.Fatal(err)
	}
	var names []string
	p := lsdk.NewListFunctionsPaginator(e.client, &lsdk.ListFunctionsInput{MaxItems: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, f := range out.Functions {
			names = append(names, aws.ToString(f.FunctionName))
		}
	}
	if strings.Join(names, ",") != "a,b,c,d,e" || pages != 3 {
		t.Fatalf("paged %v in %d pages", names, pages)
	}
	all, err := e.client.ListFunctions(e.ctx, &lsdk.ListFunctionsInput{FunctionVersion: types.FunctionVersionAll})
	if err != nil || len(all.Functions) != 6 || aws.ToString(all.Functions[3].Version) != "1" || aws.ToString(all.Functions[3].FunctionArn) != e.arn("c")+":1" {
		t.Fatalf("ListFunctions ALL: %v", err)
	}
}

func TestUpdateAndPublish(t *testing.T) {
	e := newEnv(t)
	created := e.createSmall("fn", "v1")
	// A stale RevisionId changes nothing.
	_, err := e.client.UpdateFunctionConfiguration(e.ctx, &lsdk.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn"), Timeout: aws.Int32(9), RevisionId: aws.String("stale")})
	wantCode(t, err, "PreconditionFailedException")
	_, err = e.client.UpdateFunctionConfiguration(e.ctx, &lsdk.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn"), Timeout: aws.Int32(901)})
	wantCode(t, err, "ValidationException")
	_, err = e.client.UpdateFunctionConfiguration(e.ctx, &lsdk.UpdateFunctionConfigurationInput{FunctionName: aws.String("nope"), Timeout: aws.Int32(9)})
	wantCode(t, err, "ResourceNotFoundException")

	v1, err := e.client.PublishVersion(e.ctx, &lsdk.PublishVersionInput{FunctionName: aws.String("fn"), Description: aws.String("first")})
	if err != nil || aws.ToString(v1.Version) != "1" || aws.ToString(v1.Description) != "first" {
		t.Fatalf("PublishVersion: %+v %v", v1, err)
	}
	// Nothing changed: AWS answers the existing version.
	again, err := e.client.PublishVersion(e.ctx, &lsdk.PublishVersionInput{FunctionName: aws.String("fn")})
	if err != nil || aws.ToString(again.Version) != "1" {
		t.Fatalf("unchanged publish: %+v %v", again, err)
	}
	_, err = e.client.PublishVersion(e.ctx, &lsdk.PublishVersionInput{FunctionName: aws.String("fn"), CodeSha256: aws.String("AAAA")})
	wantCode(t, err, "InvalidParameterValueException")

	upd, err := e.client.UpdateFunctionCode(e.ctx, &lsdk.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ZipFile: smallZip("v2"), RevisionId: created.RevisionId})
	if err != nil || aws.ToString(upd.CodeSha256) == aws.ToString(created.CodeSha256) || aws.ToString(upd.RevisionId) == aws.ToString(created.RevisionId) {
		t.Fatalf("UpdateFunctionCode: %+v %v", upd, err)
	}
	_, err = e.client.UpdateFunctionCode(e.ctx, &lsdk.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ZipFile: []byte("junk")})
	wantCode(t, err, "InvalidParameterValueException")
	_, err = e.client.UpdateFunctionCode(e.ctx, &lsdk.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ImageUri: aws.String("repo/img:1")})
	wantCode(t, err, "InvalidParameterValueException")
	dry, err := e.client.UpdateFunctionCode(e.ctx, &lsdk.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ZipFile: smallZip("dry"), DryRun: true})
	if err != nil || aws.ToString(dry.CodeSha256) == aws.ToString(upd.CodeSha256) {
		t.Fatalf("DryRun: %v", err)
	}
	cur, _ := e.client.GetFunctionConfiguration(e.ctx, &lsdk.GetFunctionConfigurationInput{FunctionName: aws.String("fn")})
	if aws.ToString(cur.CodeSha256) != aws.ToString(upd.CodeSha256) {
		t.Fatal("DryRun changed the code")
	}
	pub, err := e.client.UpdateFunctionCode(e.ctx, &lsdk.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ZipFile: smallZip("v3"), Publish: true})
	if err != nil || aws.ToString(pub.Version) != "2" {
		t.Fatalf("UpdateFunctionCode Publish: %+v %v", pub, err)
	}
	cfg, err := e.client.UpdateFunctionConfiguration(e.ctx, &lsdk.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn"),
		Environment: &types.Environment{Variables: map[string]string{"KK": "v"}}, MemorySize: aws.Int32(512)})
	if err != nil || cfg.Environment.Variables["KK"] != "v" || aws.ToInt32(cfg.MemorySize) != 512 || aws.ToInt32(cfg.Timeout) != 3 {
		t.Fatalf("UpdateFunctionConfiguration: %+v %v", cfg, err)
	}
	v3, err := e.client.PublishVersion(e.ctx, &lsdk.PublishVersionInput{FunctionName: aws.String("fn"), CodeSha256: cfg.CodeSha256})
	if err != nil || aws.ToString(v3.Version) != "3" {
		t.Fatalf("publish after config change: %+v %v", v3, err)
	}
	// Version 1 kept its configuration and code.
	old, err := e.client.GetFunctionConfiguration(e.ctx, &lsdk.GetFunctionConfigurationInput{FunctionName: aws.String("fn"), Qualifier: aws.String("1")})
	if err != nil || aws.ToString(old.CodeSha256) != aws.ToString(created.CodeSha256) || old.Environment != nil {
		t.Fatalf("version 1 changed: %+v %v", old, err)
	}
	var versions []string
	p := lsdk.NewListVersionsByFunctionPaginator(e.client, &lsdk.ListVersionsByFunctionInput{FunctionName: aws.String("fn"), MaxItems: aws.Int32(3)})
	for p.HasMorePages() {
		out, err := p.NextPage(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range out.Versions {
			versions = append(versions, aws.ToString(v.Version))
		}
	}
	if strings.Join(versions, ",") != "$LATEST,1,2,3" {
		t.Fatalf("versions %v", versions)
	}
	_, err = e.client.ListVersionsByFunction(e.ctx, &lsdk.ListVersionsByFunctionInput{FunctionName: aws.String("nope")})
	wantCode(t, err, "ResourceNotFoundException")
}

func TestAliases(t *testing.T) {
	e := newEnv(t)
	e.createSmall("fn", "a")
	for i, c := range []string{"b", "c"} {
		if _, err := e.client.UpdateFunctionCode(e.ctx, &lsdk.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ZipFile: smallZip(c), Publish: true}); err != nil {
			t.Fatalf("publish %d: %v", i+1, err)
		}
	}
	created, err := e.client.CreateAlias(e.ctx, &lsdk.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("1"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.25}}})
	if err != nil || aws.ToString(created.AliasArn) != e.arn("fn")+":live" || created.RoutingConfig.AdditionalVersionWeights["2"] != 0.25 {
		t.Fatalf("CreateAlias: %+v %v", created, err)
	}
	errs := []struct {
		name string
		in   lsdk.CreateAliasInput
		code string
	}{
		{"exists", lsdk.CreateAliasInput{Name: aws.String("live"), FunctionVersion: aws.String("1")}, "ResourceConflictException"},
		{"numeric name", lsdk.CreateAliasInput{Name: aws.String("12"), FunctionVersion: aws.String("1")}, "ValidationException"},
		{"unknown version", lsdk.CreateAliasInput{Name: aws.String("x"), FunctionVersion: aws.String("9")}, "ResourceNotFoundException"},
		{"bad version", lsdk.CreateAliasInput{Name: aws.String("x"), FunctionVersion: aws.String("v1")}, "ValidationException"},
		{"weight above 1", lsdk.CreateAliasInput{Name: aws.String("x"), FunctionVersion: aws.String("1"),
			RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 1.5}}}, "ValidationException"},
		{"weight below 0", lsdk.CreateAliasInput{Name: aws.String("x"), FunctionVersion: aws.String("1"),
			RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": -0.1}}}, "ValidationException"},
		{"two extra versions", lsdk.CreateAliasInput{Name: aws.String("x"), FunctionVersion: aws.String("1"),
			RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.1, "3": 0.1}}}, "InvalidParameterValueException"},
		{"extra is primary", lsdk.CreateAliasInput{Name: aws.String("x"), FunctionVersion: aws.String("1"),
			RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"1": 0.1}}}, "InvalidParameterValueException"},
		{"latest with weights", lsdk.CreateAliasInput{Name: aws.String("x"), FunctionVersion: aws.String("$LATEST"),
			RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"1": 0.1}}}, "InvalidParameterValueException"},
		{"unknown extra", lsdk.CreateAliasInput{Name: aws.String("x"), FunctionVersion: aws.String("1"),
			RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"7": 0.1}}}, "ResourceNotFoundException"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.FunctionName = aws.String("fn")
			_, err := e.client.CreateAlias(e.ctx, &in)
			wantCode(t, err, tc.code)
		})
	}
	_, err = e.client.GetAlias(e.ctx, &lsdk.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("x")})
	wantCode(t, err, "ResourceNotFoundException")
	if !strings.Contains(err.Error(), "Alias not found") {
		t.Fatal(err)
	}

	_, err = e.client.UpdateAlias(e.ctx, &lsdk.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), RevisionId: aws.String("old")})
	wantCode(t, err, "PreconditionFailedException")
	_, err = e.client.UpdateAlias(e.ctx, &lsdk.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("2")})
	wantCode(t, err, "InvalidParameterValueException") // 2 is the extra version already
	upd, err := e.client.UpdateAlias(e.ctx, &lsdk.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("2"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{}}, Description: aws.String("moved"), RevisionId: created.RevisionId})
	if err != nil || aws.ToString(upd.FunctionVersion) != "2" || upd.RoutingConfig != nil || aws.ToString(upd.Description) != "moved" {
		t.Fatalf("UpdateAlias: %+v %v", upd, err)
	}
	if _, err := e.client.CreateAlias(e.ctx, &lsdk.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("beta"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	var names []string
	p := lsdk.NewListAliasesPaginator(e.client, &lsdk.ListAliasesInput{FunctionName: aws.String("fn"), MaxItems: aws.Int32(1)})
	for p.HasMorePages() {
		out, err := p.NextPage(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range out.Aliases {
			names = append(names, aws.ToString(a.Name))
		}
	}
	if strings.Join(names, ",") != "beta,live" {
		t.Fatalf("aliases %v", names)
	}
	byVersion, err := e.client.ListAliases(e.ctx, &lsdk.ListAliasesInput{FunctionName: aws.String("fn"), FunctionVersion: aws.String("1")})
	if err != nil || len(byVersion.Aliases) != 1 || aws.ToString(byVersion.Aliases[0].Name) != "beta" {
		t.Fatalf("ListAliases by version: %+v %v", byVersion, err)
	}
	if _, err := e.client.DeleteAlias(e.ctx, &lsdk.DeleteAliasInput{FunctionName: aws.String("fn"), Name: aws.String("beta")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.DeleteAlias(e.ctx, &lsdk.DeleteAliasInput{FunctionName: aws.String("fn"), Name: aws.String("beta")}); err != nil {
		t.Fatalf("deleting a missing alias: %v", err)
	}
	_, err = e.client.GetAlias(e.ctx, &lsdk.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("beta")})
	wantCode(t, err, "ResourceNotFoundException")
}

func TestInProcessAliasRouting(t *testing.T) {
	e := newEnv(t)
	e.createSmall("fn", "a")
	for _, c := range []string{"b", "c"} {
		if _, err := e.client.UpdateFunctionCode(e.ctx, &lsdk.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ZipFile: smallZip(c), Publish: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.client.CreateAlias(e.ctx, &lsdk.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SetAliasRouting(e.ctx, "fn", "live", "1", map[string]float64{"2": 0.1}); err != nil {
		t.Fatal(err)
	}
	before, _ := e.client.GetAlias(e.ctx, &lsdk.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")})
	// Setting the same routing again is a no-op (a repeated deployment step).
	if err := e.svc.SetAliasRouting(e.ctx, e.arn("fn"), "live", "1", map[string]float64{"2": 0.1}); err != nil {
		t.Fatal(err)
	}
	after, _ := e.client.GetAlias(e.ctx, &lsdk.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")})
	if aws.ToString(before.RevisionId) != aws.ToString(after.RevisionId) {
		t.Fatal("repeating SetAliasRouting changed the alias")
	}
	v, extra, err := e.svc.AliasRouting(e.ctx, "fn", "live")
	if err != nil || v != "1" || extra["2"] != 0.1 || len(extra) != 1 {
		t.Fatalf("AliasRouting = %s %v %v", v, extra, err)
	}
	if err := e.svc.SetAliasRouting(e.ctx, "fn", "live", "2", nil); err != nil {
		t.Fatal(err)
	}
	if v, extra, _ := e.svc.AliasRouting(e.ctx, "fn", "live"); v != "2" || extra != nil {
		t.Fatalf("after shift: %s %v", v, extra)
	}
	errs := []struct {
		name, fn, alias, version string
		extra                    map[string]float64
		code                     string
	}{
		{"weight", "fn", "live", "2", map[string]float64{"3": 2}, "ValidationException"},
		{"no function", "nope", "live", "1", nil, "ResourceNotFoundException"},
		{"no alias", "fn", "dead", "1", nil, "ResourceNotFoundException"},
		{"no version", "fn", "live", "8", nil, "ResourceNotFoundException"},
		{"no extra version", "fn", "live", "1", map[string]float64{"8": 0.5}, "ResourceNotFoundException"},
		{"two extras", "fn", "live", "1", map[string]float64{"2": 0.5, "3": 0.1}, "InvalidParameterValueException"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			err := e.svc.SetAliasRouting(e.ctx, tc.fn, tc.alias, tc.version, tc.extra)
			ae := awsAPIError(err)
			if ae == nil || ae.Code != tc.code {
				t.Fatalf("want %s, got %v", tc.code, err)
			}
		})
	}
	if _, _, err := e.svc.AliasRouting(e.ctx, "fn", "dead"); awsAPIError(err) == nil || awsAPIError(err).Code != "ResourceNotFoundException" {
		t.Fatalf("AliasRouting of a missing alias: %v", err)
	}
	if v, _, _ := e.svc.AliasRouting(e.ctx, "fn", "live"); v != "2" {
		t.Fatal("a refused SetAliasRouting changed the alias")
	}
}

func TestDeleteFunction(t *testing.T) {
	e := newEnv(t)
	e.createSmall("fn", "a")
	if _, err := e.client.UpdateFunctionCode(e.ctx, &lsdk.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ZipFile: smallZip("b"), Publish: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.UpdateFunctionCode(e.ctx, &lsdk.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ZipFile: smallZip("c"), Publish: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.CreateAlias(e.ctx, &lsdk.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("2")}); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.DeleteFunction(e.ctx, &lsdk.DeleteFunctionInput{FunctionName: aws.String("fn"), Qualifier: aws.String("2")})
	wantCode(t, err, "ResourceConflictException")
	_, err = e.client.DeleteFunction(e.ctx, &lsdk.DeleteFunctionInput{FunctionName: aws.String("fn"), Qualifier: aws.String("$LATEST")})
	wantCode(t, err, "InvalidParameterValueException")
	_, err = e.client.DeleteFunction(e.ctx, &lsdk.DeleteFunctionInput{FunctionName: aws.String("fn"), Qualifier: aws.String("live")})
	wantCode(t, err, "InvalidParameterValueException")
	_, err = e.client.DeleteFunction(e.ctx, &lsdk.DeleteFunctionInput{FunctionName: aws.String("fn"), Qualifier: aws.String("5")})
	wantCode(t, err, "ResourceNotFoundException")
	if _, err := e.client.DeleteFunction(e.ctx, &lsdk.DeleteFunctionInput{FunctionName: aws.String("fn:1")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetFunction(e.ctx, &lsdk.GetFunctionInput{FunctionName: aws.String("fn"), Qualifier: aws.String("1")})
	wantCode(t, err, "ResourceNotFoundException")
	e.svc.sweeps.Wait()
	codes, _ := os.ReadDir(filepath.Join(e.dataDir, "code"))
	if len(codes) != 1 { // version 2 and $LATEST share code "c"; version 1's "b" is unused now
		t.Fatalf("%d code files after deleting version 1, want 1", len(codes))
	}
	if _, err := e.client.DeleteFunction(e.ctx, &lsdk.DeleteFunctionInput{FunctionName: aws.String(e.arn("fn"))}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetAlias(e.ctx, &lsdk.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")})
	wantCode(t, err, "ResourceNotFoundException")
	_, err = e.client.DeleteFunction(e.ctx, &lsdk.DeleteFunctionInput{FunctionName: aws.String("fn")})
	wantCode(t, err, "ResourceNotFoundException")
	e.svc.sweeps.Wait()
	codes, _ = os.ReadDir(filepath.Join(e.dataDir, "code"))
	if len(codes) != 0 {
		t.Fatalf("%d code files after deleting the function", len(codes))
	}
	// The name is free again.
	e.createSmall("fn", "again")
}

func TestTags(t *testing.T) {
	e := newEnv(t)
	e.createSmall("fn", "a")
	arn := e.arn("fn")
	if _, err := e.client.TagResource(e.ctx, &lsdk.TagResourceInput{Resource: aws.String(arn), Tags: map[string]string{"a": "1", "b": "2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.UntagResource(e.ctx, &lsdk.UntagResourceInput{Resource: aws.String(arn), TagKeys: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	out, err := e.client.ListTags(e.ctx, &lsdk.ListTagsInput{Resource: aws.String(arn)})
	if err != nil || len(out.Tags) != 1 || out.Tags["b"] != "2" {
		t.Fatalf("ListTags: %+v %v", out, err)
	}
	_, err = e.client.TagResource(e.ctx, &lsdk.TagResourceInput{Resource: aws.String(arn + ":1"), Tags: map[string]string{"a": "1"}})
	wantCode(t, err, "InvalidParameterValueException")
	_, err = e.client.ListTags(e.ctx, &lsdk.ListTagsInput{Resource: aws.String(e.arn("nope"))})
	wantCode(t, err, "ResourceNotFoundException")
	_, err = e.client.ListTags(e.ctx, &lsdk.ListTagsInput{Resource: aws.String("fn")})
	wantCode(t, err, "ValidationException")
	_, err = e.client.TagResource(e.ctx, &lsdk.TagResourceInput{Resource: aws.String(arn), Tags: map[string]string{"aws:x": "1"}})
	wantCode(t, err, "InvalidParameterValueException")
	resp, body := e.raw("DELETE", "/2017-03-31/tags/"+strings.ReplaceAll(arn, ":", "%3A"), nil)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "tagKeys") {
		t.Fatalf("untag without keys: %d %s", resp.StatusCode, body)
	}
}

// memObjects is an in-memory S3 for the ObjectReader seam.
type memObjects map[string][]byte

func (m memObjects) Open(ctx context.Context, bucket, key, version string) (io.ReadCloser, error) {
	b, ok := m[bucket+"/"+key]
	if !ok {
		return nil, &awsproto.Error{Code: "NoSuchKey", Message: "The specified key does not exist.", Status: 404}
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func TestCodeFromS3(t *testing.T) {
	zipb := smallZip("s3")
	e := newEnv(t, envOpts{objects: memObjects{"bundles/fn.zip": zipb}})
	out, err := e.client.CreateFunction(e.ctx, &lsdk.CreateFunctionInput{FunctionName: aws.String("fn"), Role: aws.String(testRole),
		Runtime: types.RuntimeProvidedal2023, Handler: aws.String("h"), Code: &types.FunctionCode{S3Bucket: aws.String("bundles"), S3Key: aws.String("fn.zip")}})
	sum := sha256.Sum256(zipb)
	if err != nil || aws.ToString(out.CodeSha256) != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Fatalf("CreateFunction from S3: %v", err)
	}
	_, err = e.client.UpdateFunctionCode(e.ctx, &lsdk.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), S3Bucket: aws.String("bundles"), S3Key: aws.String("missing.zip")})
	wantCode(t, err, "InvalidParameterValueException")
	if !strings.Contains(err.Error(), "NoSuchKey") {
		t.Fatal(err)
	}
	// Without an object reader, S3 code is refused in AWS's terms.
	_, err = (&Service{}).loadZip(e.ctx, codeInput{S3Bucket: "b", S3Key: "k"})
	if ae := awsAPIError(err); ae == nil || ae.Code != "InvalidParameterValueException" {
		t.Fatalf("S3 code without a reader: %v", err)
	}
}

func TestImageFunctionsAreStoredButNeedALauncher(t *testing.T) {
	e := newEnv(t)
	out, err := e.client.CreateFunction(e.ctx, &lsdk.CreateFunctionInput{FunctionName: aws.String("img"), Role: aws.String(testRole),
		PackageType: types.PackageTypeImage, Code: &types.FunctionCode{ImageUri: aws.String("registry.local/fn:1")}})
	if err != nil || out.PackageType != types.PackageTypeImage {
		t.Fatalf("CreateFunction Image: %+v %v", out, err)
	}
	got, err := e.client.GetFunction(e.ctx, &lsdk.GetFunctionInput{FunctionName: aws.String("img")})
	if err != nil || aws.ToString(got.Code.ImageUri) != "registry.local/fn:1" {
		t.Fatalf("GetFunction Image: %+v %v", got, err)
	}
	_, err = e.client.Invoke(e.ctx, &lsdk.InvokeInput{FunctionName: aws.String("img")})
	wantCode(t, err, "InvalidRuntimeException")
	if !strings.Contains(err.Error(), "no container launcher") {
		t.Fatal(err)
	}
}

func awsAPIError(err error) *awsproto.Error { return awsproto.AsError(err) }

var _ = json.Valid
