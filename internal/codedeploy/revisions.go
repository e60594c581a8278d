package codedeploy

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

var bundleTypes = []string{"tar", "tgz", "zip", "YAML", "JSON"}

// repoRe is a GitHub "owner/repository" name.
var repoRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)

// checkRevision validates a revision location and returns it normalised:
// inline content gets its SHA-256 filled in. forLookup allows an inline
// revision to be named by sha256 alone, as Get and BatchGet may.
func checkRevision(r *RevisionLocation, forLookup bool) (*RevisionLocation, error) {
	const exc = "InvalidRevisionException"
	if r == nil {
		return nil, awsproto.Errorf("RevisionRequiredException", "A revision is required.")
	}
	out := *r
	switch t := str(r.RevisionType); t {
	case "S3":
		l := r.S3Location
		if l == nil {
			return nil, awsproto.Errorf(exc, "An S3 revision needs s3Location.")
		}
		if isBlank(str(l.Bucket)) {
			return nil, awsproto.Errorf(exc, "The S3 bucket of the revision is required.")
		}
		if isBlank(str(l.Key)) {
			return nil, awsproto.Errorf(exc, "The S3 key of the revision is required.")
		}
		if l.BundleType != nil && !oneOf(*l.BundleType, bundleTypes...) {
			return nil, awsproto.Errorf(exc, "Bundle type %q is invalid: it must be one of tar, tgz, zip, YAML, JSON.", *l.BundleType)
		}
		out = RevisionLocation{RevisionType: r.RevisionType, S3Location: l}
	case "GitHub":
		l := r.GitHubLocation
		if l == nil {
			return nil, awsproto.Errorf(exc, "A GitHub revision needs gitHubLocation.")
		}
		if !repoRe.MatchString(str(l.Repository)) {
			return nil, awsproto.Errorf(exc, "GitHub repository %q is invalid: it must be in the form owner/repository.", str(l.Repository))
		}
		if isBlank(str(l.CommitID)) {
			return nil, awsproto.Errorf(exc, "The commit ID of the GitHub revision is required.")
		}
		out = RevisionLocation{RevisionType: r.RevisionType, GitHubLocation: l}
	case "String":
		if r.String == nil {
			return nil, awsproto.Errorf(exc, "A String revision needs string.")
		}
		content, sum, err := checkContent(r.String.Content, r.String.Sha256, forLookup)
		if err != nil {
			return nil, err
		}
		out = RevisionLocation{RevisionType: r.RevisionType, String: &RawString{Content: content, Sha256: sum}}
	case "AppSpecContent":
		if r.AppSpecContent == nil {
			return nil, awsproto.Errorf(exc, "An AppSpecContent revision needs appSpecContent.")
		}
		content, sum, err := checkContent(r.AppSpecContent.Content, r.AppSpecContent.Sha256, forLookup)
		if err != nil {
			return nil, err
		}
		out = RevisionLocation{RevisionType: r.RevisionType, AppSpecContent: &AppSpecContent{Content: content, Sha256: sum}}
	case "":
		return nil, awsproto.Errorf(exc, "The revision type is required.")
	default:
		return nil, awsproto.Errorf(exc, "Revision type %q is invalid: it must be one of S3, GitHub, String, AppSpecContent.", t)
	}
	return &out, nil
}

// checkContent computes the SHA-256 of inline content; a sha256 the client
// gives must match it.
func checkContent(content, given *string, forLookup bool) (*string, *string, error) {
	if content == nil || *content == "" {
		if forLookup && given != nil && *given != "" {
			return nil, ptr(strings.ToLower(*given)), nil
		}
		return nil, nil, awsproto.Errorf("InvalidRevisionException", "The revision content is required.")
	}
	sum := sha256.Sum256([]byte(*content))
	h := hex.EncodeToString(sum[:])
	if given != nil && *given != "" && !strings.EqualFold(*given, h) {
		return nil, nil, awsproto.Errorf("InvalidRevisionException", "The sha256 %q does not match the SHA-256 of the content (%s).", *given, h)
	}
	return content, &h, nil
}

// revisionIdentity is what makes two registrations the same revision.
func revisionIdentity(r *RevisionLocation) string {
	parts := []string{str(r.RevisionType)}
	switch {
	case r.S3Location != nil:
		l := r.S3Location
		parts = append(parts, str(l.Bucket), str(l.Key), str(l.BundleType), str(l.Version), str(l.ETag))
	case r.GitHubLocation != nil:
		parts = append(parts, str(r.GitHubLocation.Repository), str(r.GitHubLocation.CommitID))
	case r.String != nil:
		parts = append(parts, str(r.String.Sha256))
	case r.AppSpecContent != nil:
		parts = append(parts, str(r.AppSpecContent.Sha256))
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:16])
}

func revisionKey(app string, r *RevisionLocation) string { return app + "/" + revisionIdentity(r) }

type registerApplicationRevisionInput struct {
	ApplicationName *string           `json:"applicationName"`
	Description     *string           `json:"description"`
	Revision        *RevisionLocation `json:"revision"`
}

// registerApplicationRevision records a revision; registering it again
// updates its description and registerTime and keeps its usage history.
func (s *Service) registerApplicationRevision(ctx context.Context, in *registerApplicationRevisionInput) (*empty, error) {
	app, err := appName(in.ApplicationName)
	if err != nil {
		return nil, err
	}
	if len(str(in.Description)) > maxDescription {
		return nil, awsproto.Errorf("DescriptionTooLongException", "The description is longer than %d characters.", maxDescription)
	}
	loc, err := checkRevision(in.Revision, false)
	if err != nil {
		return nil, err
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if _, _, err := loadApp(tx, app); err != nil {
			return err
		}
		key := revisionKey(app, loc)
		var rev Revision
		rec, err := getJSON(tx, kindRevision, key, &rev)
		if isNotFound(err) {
			rec = &store.Record{Kind: kindRevision, Key: key, Index: app}
			rev = Revision{ApplicationName: app, Info: GenericRevisionInfo{DeploymentGroups: []string{}}}
		} else if err != nil {
			return err
		}
		rev.Location = *loc
		rev.Info.Description = in.Description
		rev.Info.RegisterTime = ptr(s.nowTime())
		return putJSON(tx, rec, rev)
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "application revision registered", "application", app, "revision_type", str(loc.RevisionType))
	return nil, nil
}

// MarkRevisionUsed records that group deployed the revision at time t, for
// the engine: it registers the revision if needed and updates
// deploymentGroups, firstUsedTime and lastUsedTime.
func (s *Service) MarkRevisionUsed(ctx context.Context, app, group string, loc *RevisionLocation, t awsproto.Time) error {
	norm, err := checkRevision(loc, false)
	if err != nil {
		return err
	}
	return s.st.Update(ctx, func(tx store.Tx) error {
		key := revisionKey(app, norm)
		var rev Revision
		rec, err := getJSON(tx, kindRevision, key, &rev)
		if isNotFound(err) {
			rec = &store.Record{Kind: kindRevision, Key: key, Index: app}
			rev = Revision{ApplicationName: app, Location: *norm, Info: GenericRevisionInfo{DeploymentGroups: []string{}, RegisterTime: &t}}
		} else if err != nil {
			return err
		}
		if !slices.Contains(rev.Info.DeploymentGroups, group) {
			rev.Info.DeploymentGroups = append(rev.Info.DeploymentGroups, group)
		}
		if rev.Info.FirstUsedTime == nil {
			rev.Info.FirstUsedTime = &t
		}
		rev.Info.LastUsedTime = &t
		return putJSON(tx, rec, rev)
	})
}

type revisionInput struct {
	ApplicationName *string           `json:"applicationName"`
	Revision        *RevisionLocation `json:"revision"`
}

type getApplicationRevisionOutput struct {
	ApplicationName string               `json:"applicationName"`
	Revision        *RevisionLocation    `json:"revision"`
	RevisionInfo    *GenericRevisionInfo `json:"revisionInfo"`
}

func (s *Service) getApplicationRevision(ctx context.Context, in *revisionInput) (*getApplicationRevisionOutput, error) {
	app, err := appName(in.ApplicationName)
	if err != nil {
		return nil, err
	}
	loc, err := checkRevision(in.Revision, true)
	if err != nil {
		return nil, err
	}
	var rev Revision
	err = s.st.View(ctx, func(tx store.Tx) error {
		if _, _, err := loadApp(tx, app); err != nil {
			return err
		}
		_, err := getJSON(tx, kindRevision, revisionKey(app, loc), &rev)
		if isNotFound(err) {
			return awsproto.Errorf("RevisionDoesNotExistException", "No application revision found for revision %s", describeRevision(loc))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &getApplicationRevisionOutput{ApplicationName: app, Revision: &rev.Location, RevisionInfo: &rev.Info}, nil
}

// describeRevision names a revision in an error message.
func describeRevision(r *RevisionLocation) string {
	switch {
	case r.S3Location != nil:
		return "s3://" + str(r.S3Location.Bucket) + "/" + str(r.S3Location.Key)
	case r.GitHubLocation != nil:
		return str(r.GitHubLocation.Repository) + "@" + str(r.GitHubLocation.CommitID)
	case r.String != nil:
		return "with sha256 " + str(r.String.Sha256)
	case r.AppSpecContent != nil:
		return "with sha256 " + str(r.AppSpecContent.Sha256)
	}
	return str(r.RevisionType)
}

type listApplicationRevisionsInput struct {
	ApplicationName *string `json:"applicationName"`
	SortBy          *string `json:"sortBy"`
	SortOrder       *string `json:"sortOrder"`
	S3Bucket        *string `json:"s3Bucket"`
	S3KeyPrefix     *string `json:"s3KeyPrefix"`
	Deployed        *string `json:"deployed"`
	NextToken       *string `json:"nextToken"`
}

type listApplicationRevisionsOutput struct {
	Revisions []RevisionLocation `json:"revisions"`
	NextToken string             `json:"nextToken,omitempty"`
}

var bucketRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

func (s *Service) listApplicationRevisions(ctx context.Context, in *listApplicationRevisionsInput) (*listApplicationRevisionsOutput, error) {
	app, err := appName(in.ApplicationName)
	if err != nil {
		return nil, err
	}
	if v := in.SortBy; v != nil && !oneOf(*v, "registerTime", "firstUsedTime", "lastUsedTime") {
		return nil, awsproto.Errorf("InvalidSortByException", "sortBy %q is invalid: it must be registerTime, firstUsedTime or lastUsedTime.", *v)
	}
	if v := in.SortOrder; v != nil && !oneOf(*v, "ascending", "descending") {
		return nil, awsproto.Errorf("InvalidSortOrderException", "sortOrder %q is invalid: it must be ascending or descending.", *v)
	}
	if v := in.Deployed; v != nil && !oneOf(*v, "include", "exclude", "ignore") {
		return nil, awsproto.Errorf("InvalidDeployedStateFilterException", "deployed %q is invalid: it must be include, exclude or ignore.", *v)
	}
	if in.S3KeyPrefix != nil && str(in.S3Bucket) == "" {
		return nil, awsproto.Errorf("BucketNameFilterRequiredException", "An s3Bucket is required when s3KeyPrefix is given.")
	}
	if in.S3Bucket != nil && !bucketRe.MatchString(*in.S3Bucket) {
		return nil, awsproto.Errorf("InvalidBucketNameFilterException", "The bucket name %q is invalid.", *in.S3Bucket)
	}
	if in.S3KeyPrefix != nil && len(*in.S3KeyPrefix) > 1024 {
		return nil, awsproto.Errorf("InvalidKeyPrefixFilterException", "The key prefix is longer than 1024 characters.")
	}
	// Pages are offsets into the filtered, sorted list, so the scope fixes
	// the application and every filter.
	scope := strings.Join([]string{"revisions", app, str(in.SortBy), str(in.SortOrder), str(in.S3Bucket), str(in.S3KeyPrefix), str(in.Deployed)}, "\x00")
	tok, err := decodeToken(scope, in.NextToken)
	if err != nil {
		return nil, err
	}
	var revs []Revision
	deployed := map[string]bool{}
	err = s.st.View(ctx, func(tx store.Tx) error {
		if _, _, err := loadApp(tx, app); err != nil {
			return err
		}
		var err error
		if revs, _, err = listJSON[Revision](tx, kindRevision, store.ListOptions{Prefix: app + "/"}); err != nil {
			return err
		}
		groups, _, err := listJSON[DeploymentGroup](tx, kindGroup, store.ListOptions{Prefix: app + "/"})
		for _, g := range groups {
			if g.TargetRevision != nil {
				if norm, err := checkRevision(g.TargetRevision, true); err == nil {
					deployed[revisionIdentity(norm)] = true
				}
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	revs = slices.DeleteFunc(revs, func(r Revision) bool {
		if in.S3Bucket != nil {
			l := r.Location.S3Location
			if l == nil || str(l.Bucket) != *in.S3Bucket || !strings.HasPrefix(str(l.Key), str(in.S3KeyPrefix)) {
				return true
			}
		}
		switch str(in.Deployed) {
		case "include":
			return !deployed[revisionIdentity(&r.Location)]
		case "exclude":
			return deployed[revisionIdentity(&r.Location)]
		}
		return false
	})
	if in.SortBy != nil {
		at := func(r Revision) int64 {
			var t *awsproto.Time
			switch *in.SortBy {
			case "registerTime":
				t = r.Info.RegisterTime
			case "firstUsedTime":
				t = r.Info.FirstUsedTime
			default:
				t = r.Info.LastUsedTime
			}
			if t == nil {
				return 0
			}
			return t.UnixMilli()
		}
		desc := str(in.SortOrder) == "descending"
		slices.SortStableFunc(revs, func(a, b Revision) int {
			c := cmp.Compare(at(a), at(b))
			if desc {
				c = -c
			}
			return c
		})
	}
	if tok.Offset > len(revs) {
		return nil, awsproto.Errorf("InvalidNextTokenException", "The next token %q is invalid.", str(in.NextToken))
	}
	revs = revs[tok.Offset:]
	out := &listApplicationRevisionsOutput{Revisions: []RevisionLocation{}}
	if len(revs) > s.pageSize {
		revs = revs[:s.pageSize]
		out.NextToken = encodeToken(scope, pageToken{Offset: tok.Offset + s.pageSize})
	}
	for _, r := range revs {
		out.Revisions = append(out.Revisions, r.Location)
	}
	return out, nil
}

type batchGetApplicationRevisionsInput struct {
	ApplicationName *string            `json:"applicationName"`
	Revisions       []RevisionLocation `json:"revisions"`
}

type batchGetApplicationRevisionsOutput struct {
	ApplicationName string         `json:"applicationName"`
	ErrorMessage    string         `json:"errorMessage,omitempty"`
	Revisions       []RevisionInfo `json:"revisions"`
}

func (s *Service) batchGetApplicationRevisions(ctx context.Context, in *batchGetApplicationRevisionsInput) (*batchGetApplicationRevisionsOutput, error) {
	app, err := appName(in.ApplicationName)
	if err != nil {
		return nil, err
	}
	if len(in.Revisions) == 0 {
		return nil, awsproto.Errorf("RevisionRequiredException", "At least one revision is required.")
	}
	if len(in.Revisions) > 25 {
		return nil, awsproto.Errorf("BatchLimitExceededException", "At most 25 revisions may be given; %d were.", len(in.Revisions))
	}
	locs := make([]*RevisionLocation, len(in.Revisions))
	for i := range in.Revisions {
		if locs[i], err = checkRevision(&in.Revisions[i], true); err != nil {
			return nil, err
		}
	}
	out := &batchGetApplicationRevisionsOutput{ApplicationName: app, Revisions: []RevisionInfo{}}
	var missing []string
	err = s.st.View(ctx, func(tx store.Tx) error {
		if _, _, err := loadApp(tx, app); err != nil {
			return err
		}
		for _, loc := range locs {
			var rev Revision
			_, err := getJSON(tx, kindRevision, revisionKey(app, loc), &rev)
			if isNotFound(err) {
				missing = append(missing, describeRevision(loc))
				continue
			}
			if err != nil {
				return err
			}
			out.Revisions = append(out.Revisions, RevisionInfo{RevisionLocation: &rev.Location, GenericRevisionInfo: &rev.Info})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		out.ErrorMessage = "Application revisions not found: " + strings.Join(missing, ", ")
	}
	return out, nil
}
