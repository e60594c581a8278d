package codedeploy

import (
	"crypto/sha256"
	"encoding/hex"

	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cd "github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
)

func TestRevisions(t *testing.T) {
	e := newEnv(t)
	e.apps(t)
	reg := func(r *types.RevisionLocation, desc string) error {
		_, err := e.client.RegisterApplicationRevision(bg, &cd.RegisterApplicationRevisionInput{ApplicationName: aws.String("web"), Revision: r, Description: aws.String(desc)})
		return err
	}
	ok(t, reg(s3Rev("bucket", "app/v1.zip"), "v1"))
	ok(t, reg(s3Rev("bucket", "app/v2.zip"), "v2"))
	ok(t, reg(s3Rev("other", "app/v3.zip"), "v3"))
	gh := &types.RevisionLocation{RevisionType: types.RevisionLocationTypeGitHub, GitHubLocation: &types.GitHubLocation{Repository: aws.String("me/repo"), CommitId: aws.String("abc123")}}
	ok(t, reg(gh, "github"))
	spec := "version: 0.0\nResources: []\n"
	ok(t, reg(appSpecRev(spec), "inline"))
	sum := sha256.Sum256([]byte(spec))

	// Inline revisions get their SHA-256 and can be found by it.
	got := must[*cd.GetApplicationRevisionOutput](t)(e.client.GetApplicationRevision(bg, &cd.GetApplicationRevisionInput{ApplicationName: aws.String("web"),
		Revision: &types.RevisionLocation{RevisionType: types.RevisionLocationTypeAppSpecContent, AppSpecContent: &types.AppSpecContent{Sha256: aws.String(hex.EncodeToString(sum[:]))}}}))
	if aws.ToString(got.Revision.AppSpecContent.Content) != spec || aws.ToString(got.Revision.AppSpecContent.Sha256) != hex.EncodeToString(sum[:]) ||
		aws.ToString(got.RevisionInfo.Description) != "inline" || got.RevisionInfo.RegisterTime == nil || got.RevisionInfo.DeploymentGroups == nil {
		t.Fatalf("inline revision %+v %+v", got.Revision, got.RevisionInfo)
	}
	// Re-registering updates description and registerTime.
	first := must[*cd.GetApplicationRevisionOutput](t)(e.client.GetApplicationRevision(bg, &cd.GetApplicationRevisionInput{ApplicationName: aws.String("web"), Revision: s3Rev("bucket", "app/v1.zip")})).RevisionInfo
	ok(t, reg(s3Rev("bucket", "app/v1.zip"), "v1 again"))
	again := must[*cd.GetApplicationRevisionOutput](t)(e.client.GetApplicationRevision(bg, &cd.GetApplicationRevisionInput{ApplicationName: aws.String("web"), Revision: s3Rev("bucket", "app/v1.zip")})).RevisionInfo
	if aws.ToString(again.Description) != "v1 again" || !again.RegisterTime.After(*first.RegisterTime) {
		t.Fatalf("re-register: %+v", again)
	}

	list := func(in cd.ListApplicationRevisionsInput) []string {
		in.ApplicationName = aws.String("web")
		var keys []string
		p := cd.NewListApplicationRevisionsPaginator(e.client, &in)
		for p.HasMorePages() {
			for _, r := range must[*cd.ListApplicationRevisionsOutput](t)(p.NextPage(bg)).Revisions {
				switch r.RevisionType {
				case types.RevisionLocationTypeS3:
					keys = append(keys, aws.ToString(r.S3Location.Key))
				default:
					keys = append(keys, string(r.RevisionType))
				}
			}
		}
		return keys
	}
	if all := list(cd.ListApplicationRevisionsInput{}); len(all) != 5 {
		t.Fatalf("all revisions: %v", all)
	}
	if got := list(cd.ListApplicationRevisionsInput{SortBy: types.ApplicationRevisionSortByRegisterTime, SortOrder: types.SortOrderDescending}); !slices.Equal(got, []string{"app/v1.zip", "AppSpecContent", "GitHub", "app/v3.zip", "app/v2.zip"}) {
		t.Fatalf("by registerTime descending: %v", got)
	}
	if got := list(cd.ListApplicationRevisionsInput{S3Bucket: aws.String("bucket"), S3KeyPrefix: aws.String("app/v2")}); !slices.Equal(got, []string{"app/v2.zip"}) {
		t.Fatalf("bucket and prefix: %v", got)
	}
	must[*cd.CreateDeploymentGroupOutput](t)(e.client.CreateDeploymentGroup(bg, &cd.CreateDeploymentGroupInput{ApplicationName: aws.String("web"), DeploymentGroupName: aws.String("g"), ServiceRoleArn: aws.String(testRole)}))
	ok(t, e.svc.UpdateDeploymentGroupState(bg, "web", "g", func(g *DeploymentGroupInfo) error {
		g.TargetRevision = &RevisionLocation{RevisionType: ptr("S3"), S3Location: &S3Location{Bucket: ptr("bucket"), Key: ptr("app/v2.zip"), BundleType: ptr("zip")}}
		return nil
	}))
	if got := list(cd.ListApplicationRevisionsInput{Deployed: types.ListStateFilterActionInclude}); !slices.Equal(got, []string{"app/v2.zip"}) {
		t.Fatalf("deployed include: %v", got)
	}
	if got := list(cd.ListApplicationRevisionsInput{Deployed: types.ListStateFilterActionExclude}); len(got) != 4 || slices.Contains(got, "app/v2.zip") {
		t.Fatalf("deployed exclude: %v", got)
	}
	ok(t, e.svc.MarkRevisionUsed(bg, "web", "g", &RevisionLocation{RevisionType: ptr("GitHub"), GitHubLocation: &GitHubLocation{Repository: ptr("me/repo"), CommitID: ptr("abc123")}}, e.svc.nowTime()))
	used := must[*cd.GetApplicationRevisionOutput](t)(e.client.GetApplicationRevision(bg, &cd.GetApplicationRevisionInput{ApplicationName: aws.String("web"), Revision: gh})).RevisionInfo
	if !slices.Equal(used.DeploymentGroups, []string{"g"}) || used.FirstUsedTime == nil || used.LastUsedTime == nil {
		t.Fatalf("used revision %+v", used)
	}
	if got := list(cd.ListApplicationRevisionsInput{SortBy: types.ApplicationRevisionSortByLastUsedTime, SortOrder: types.SortOrderDescending}); got[0] != "GitHub" {
		t.Fatalf("by lastUsedTime: %v", got)
	}

	b := must[*cd.BatchGetApplicationRevisionsOutput](t)(e.client.BatchGetApplicationRevisions(bg, &cd.BatchGetApplicationRevisionsInput{ApplicationName: aws.String("web"),
		Revisions: []types.RevisionLocation{*s3Rev("bucket", "app/v1.zip"), *s3Rev("bucket", "missing.zip"), *gh}}))
	if aws.ToString(b.ApplicationName) != "web" || len(b.Revisions) != 2 || !strings.Contains(aws.ToString(b.ErrorMessage), "missing.zip") {
		t.Fatalf("batch get: %+v", b)
	}

	before := e.snapshot(t)
	bad := []struct {
		name string
		err  error
		code string
	}{
		{"no app", reg2(e, "nope", s3Rev("b", "k"), ""), "ApplicationDoesNotExistException"},
		{"bad app", reg2(e, "a b", s3Rev("b", "k"), ""), "InvalidApplicationNameException"},
		{"long description", reg2(e, "web", s3Rev("b", "k"), strings.Repeat("d", 257)), "DescriptionTooLongException"},
		{"no key", reg2(e, "web", &types.RevisionLocation{RevisionType: "S3", S3Location: &types.S3Location{Bucket: aws.String("b")}}, ""), "InvalidRevisionException"},
		{"bundle type", reg2(e, "web", &types.RevisionLocation{RevisionType: "S3", S3Location: &types.S3Location{Bucket: aws.String("b"), Key: aws.String("k"), BundleType: "rar"}}, ""), "InvalidRevisionException"},
		{"revision type", reg2(e, "web", &types.RevisionLocation{RevisionType: "FTP"}, ""), "InvalidRevisionException"},
		{"github repo", reg2(e, "web", &types.RevisionLocation{RevisionType: "GitHub", GitHubLocation: &types.GitHubLocation{Repository: aws.String("repo"), CommitId: aws.String("a")}}, ""), "InvalidRevisionException"},
		{"sha mismatch", reg2(e, "web", &types.RevisionLocation{RevisionType: "AppSpecContent", AppSpecContent: &types.AppSpecContent{Content: aws.String("x"), Sha256: aws.String("00")}}, ""), "InvalidRevisionException"},
		{"no content", reg2(e, "web", &types.RevisionLocation{RevisionType: "String", String_: &types.RawString{}}, ""), "InvalidRevisionException"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) { wantCode(t, c.err, c.code) })
	}
	_, err := e.client.GetApplicationRevision(bg, &cd.GetApplicationRevisionInput{ApplicationName: aws.String("web"), Revision: s3Rev("bucket", "nope.zip")})
	wantType[*types.RevisionDoesNotExistException](t, err)
	_, err = e.client.ListApplicationRevisions(bg, &cd.ListApplicationRevisionsInput{ApplicationName: aws.String("web"), S3KeyPrefix: aws.String("app/")})
	wantType[*types.BucketNameFilterRequiredException](t, err)
	_, err = e.client.ListApplicationRevisions(bg, &cd.ListApplicationRevisionsInput{ApplicationName: aws.String("web"), SortBy: "size"})
	wantType[*types.InvalidSortByException](t, err)
	_, err = e.client.ListApplicationRevisions(bg, &cd.ListApplicationRevisionsInput{ApplicationName: aws.String("web"), SortOrder: "up"})
	wantType[*types.InvalidSortOrderException](t, err)
	_, err = e.client.ListApplicationRevisions(bg, &cd.ListApplicationRevisionsInput{ApplicationName: aws.String("web"), Deployed: "maybe"})
	wantType[*types.InvalidDeployedStateFilterException](t, err)
	_, err = e.client.ListApplicationRevisions(bg, &cd.ListApplicationRevisionsInput{ApplicationName: aws.String("web"), S3Bucket: aws.String("UPPER")})
	wantType[*types.InvalidBucketNameFilterException](t, err)
	_, err = e.client.ListApplicationRevisions(bg, &cd.ListApplicationRevisionsInput{ApplicationName: aws.String("web"), NextToken: aws.String("!!")})
	wantType[*types.InvalidNextTokenException](t, err)
	_, err = e.client.BatchGetApplicationRevisions(bg, &cd.BatchGetApplicationRevisionsInput{ApplicationName: aws.String("web"), Revisions: make([]types.RevisionLocation, 26)})
	wantType[*types.BatchLimitExceededException](t, err)
	_, err = e.client.BatchGetApplicationRevisions(bg, &cd.BatchGetApplicationRevisionsInput{ApplicationName: aws.String("web"), Revisions: []types.RevisionLocation{}})
	wantType[*types.RevisionRequiredException](t, err)
	if _, typ, _ := e.raw(t, "RegisterApplicationRevision", `{"applicationName":"web"}`); typ != "RevisionRequiredException" {
		t.Fatalf("missing revision: %s", typ)
	}
	e.unchanged(t, before, "refused revision requests")
}

func reg2(e *env, app string, r *types.RevisionLocation, desc string) error {
	_, err := e.client.RegisterApplicationRevision(bg, &cd.RegisterApplicationRevisionInput{ApplicationName: aws.String(app), Revision: r, Description: aws.String(desc)})
	return err
}
