package codedeploy

import (
	"context"
	"fmt"
	"strings"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

type createApplicationInput struct {
	ApplicationName *string `json:"applicationName"`
	ComputePlatform *string `json:"computePlatform"`
	Tags            []Tag   `json:"tags"`
}

type createApplicationOutput struct {
	ApplicationID string `json:"applicationId"`
}

func (s *Service) createApplication(ctx context.Context, in *createApplicationInput) (*createApplicationOutput, error) {
	name, err := appName(in.ApplicationName)
	if err != nil {
		return nil, err
	}
	platform := PlatformServer
	if in.ComputePlatform != nil {
		if !oneOf(*in.ComputePlatform, computePlatforms...) {
			return nil, awsproto.Errorf("InvalidComputePlatformException", "Compute platform %q is invalid: it must be one of Server, Lambda, ECS.", *in.ComputePlatform)
		}
		platform = *in.ComputePlatform
	}
	if err := checkTags(in.Tags, "InvalidTagsToAddException", maxResourceTags); err != nil {
		return nil, err
	}
	app := Application{
		ApplicationInfo: ApplicationInfo{
			ApplicationID:   newID(),
			ApplicationName: name,
			CreateTime:      s.nowTime(),
			ComputePlatform: platform,
		},
		Tags: mergeTags(nil, in.Tags),
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(kindApplication, name); err == nil {
			return awsproto.Errorf("ApplicationAlreadyExistsException", "%s already exists", name)
		} else if !isNotFound(err) {
			return err
		}
		n, err := tx.Count(kindApplication, store.ListOptions{})
		if err != nil {
			return err
		}
		if n >= maxApplications {
			return awsproto.Errorf("ApplicationLimitExceededException", "The maximum number of applications (%d) has been reached.", maxApplications)
		}
		return putJSON(tx, &store.Record{Kind: kindApplication, Key: name}, app)
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "application created", "application", name, "compute_platform", platform)
	return &createApplicationOutput{ApplicationID: app.ApplicationID}, nil
}

// loadApp reads an application or answers ApplicationDoesNotExistException.
func loadApp(tx store.Tx, name string) (*Application, *store.Record, error) {
	var app Application
	rec, err := getJSON(tx, kindApplication, name, &app)
	if isNotFound(err) {
		return nil, nil, awsproto.Errorf("ApplicationDoesNotExistException", "No application found for name: %s", name)
	}
	if err != nil {
		return nil, nil, err
	}
	return &app, rec, nil
}

// GetApplication returns the named application for in-process callers (the
// engine); a missing one is ApplicationDoesNotExistException.
func (s *Service) GetApplication(ctx context.Context, name string) (*Application, error) {
	var app *Application
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		app, _, err = loadApp(tx, name)
		return err
	})
	return app, err
}

type applicationNameInput struct {
	ApplicationName *string `json:"applicationName"`
}

type getApplicationOutput struct {
	Application *ApplicationInfo `json:"application"`
}

func (s *Service) getApplication(ctx context.Context, in *applicationNameInput) (*getApplicationOutput, error) {
	name, err := appName(in.ApplicationName)
	if err != nil {
		return nil, err
	}
	app, err := s.GetApplication(ctx, name)
	if err != nil {
		return nil, err
	}
	return &getApplicationOutput{Application: &app.ApplicationInfo}, nil
}

type updateApplicationInput struct {
	ApplicationName    *string `json:"applicationName"`
	NewApplicationName *string `json:"newApplicationName"`
}

// updateApplication renames an application. Its deployment groups,
// revisions and ECS service claims are keyed by the application name, so
// they are re-keyed in the same transaction: a reader sees either the old
// name everywhere or the new one everywhere.
func (s *Service) updateApplication(ctx context.Context, in *updateApplicationInput) (*empty, error) {
	oldName, err := appName(in.ApplicationName)
	if err != nil {
		return nil, err
	}
	newName, err := appName(in.NewApplicationName)
	if err != nil {
		return nil, err
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		app, rec, err := loadApp(tx, oldName)
		if err != nil {
			return err
		}
		if newName == oldName {
			return nil
		}
		if _, err := tx.Get(kindApplication, newName); err == nil {
			return awsproto.Errorf("ApplicationAlreadyExistsException", "%s already exists", newName)
		} else if !isNotFound(err) {
			return err
		}
		if err := tx.Delete(kindApplication, oldName, rec.Version); err != nil {
			return fmt.Errorf("removing application %q: %w", oldName, err)
		}
		app.ApplicationName = newName
		if err := putJSON(tx, &store.Record{Kind: kindApplication, Key: newName}, app); err != nil {
			return err
		}
		return s.moveAppChildren(tx, oldName, newName)
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "application renamed", "application", oldName, "new_name", newName)
	return nil, nil
}

// moveAppChildren re-keys an application's groups and revisions from
// oldApp to newApp (newApp == "" deletes them).
func (s *Service) moveAppChildren(tx store.Tx, oldApp, newApp string) error {
	groups, recs, err := listJSON[DeploymentGroup](tx, kindGroup, store.ListOptions{Prefix: oldApp + "/"})
	if err != nil {
		return err
	}
	for i, g := range groups {
		if err := tx.Delete(kindGroup, recs[i].Key, recs[i].Version); err != nil {
			return fmt.Errorf("removing deployment group %q: %w", recs[i].Key, err)
		}
		for _, svc := range g.ECSServices {
			if err := s.releaseECSService(tx, svc); err != nil {
				return err
			}
		}
		if newApp == "" {
			continue
		}
		g.ApplicationName = newApp
		if err := putJSON(tx, &store.Record{Kind: kindGroup, Key: groupKey(newApp, g.DeploymentGroupName), Index: g.DeploymentConfigName}, g); err != nil {
			return err
		}
		if err := moveDeployments(tx, oldApp, g.DeploymentGroupName, newApp, g.DeploymentGroupName); err != nil {
			return err
		}
		for _, svc := range g.ECSServices {
			if err := s.claimECSService(tx, svc, groupKey(newApp, g.DeploymentGroupName)); err != nil {
				return err
			}
		}
	}
	revs, rrecs, err := listJSON[Revision](tx, kindRevision, store.ListOptions{Prefix: oldApp + "/"})
	if err != nil {
		return err
	}
	for i, r := range revs {
		if err := tx.Delete(kindRevision, rrecs[i].Key, rrecs[i].Version); err != nil {
			return fmt.Errorf("removing revision %q: %w", rrecs[i].Key, err)
		}
		if newApp == "" {
			continue
		}
		r.ApplicationName = newApp
		key := newApp + "/" + strings.TrimPrefix(rrecs[i].Key, oldApp+"/")
		if err := putJSON(tx, &store.Record{Kind: kindRevision, Key: key, Index: newApp}, r); err != nil {
			return err
		}
	}
	return nil
}

// deleteApplication removes an application with its groups and revisions.
// Deleting an application that does not exist succeeds, as it does on AWS.
func (s *Service) deleteApplication(ctx context.Context, in *applicationNameInput) (*empty, error) {
	name, err := appName(in.ApplicationName)
	if err != nil {
		return nil, err
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		rec, err := tx.Get(kindApplication, name)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tx.Delete(kindApplication, name, rec.Version); err != nil {
			return fmt.Errorf("removing application %q: %w", name, err)
		}
		return s.moveAppChildren(tx, name, "")
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "application deleted", "application", name)
	return nil, nil
}

type nextTokenInput struct {
	NextToken *string `json:"nextToken"`
}

type listApplicationsOutput struct {
	Applications []string `json:"applications"`
	NextToken    string   `json:"nextToken,omitempty"`
}

func (s *Service) listApplications(ctx context.Context, in *nextTokenInput) (*listApplicationsOutput, error) {
	keys, next, err := s.pageKeys(ctx, kindApplication, "", in.NextToken)
	if err != nil {
		return nil, err
	}
	return &listApplicationsOutput{Applications: keys, NextToken: next}, nil
}

// pageKeys lists one page of keys of a kind under prefix (returned without
// the prefix), in key order, with the token for the next page.
func (s *Service) pageKeys(ctx context.Context, kind, prefix string, token *string) ([]string, string, error) {
	scope := kind + "/" + prefix
	tok, err := decodeToken(scope, token)
	if err != nil {
		return nil, "", err
	}
	if tok.After != "" && !strings.HasPrefix(tok.After, prefix) {
		return nil, "", awsproto.Errorf("InvalidNextTokenException", "The next token %q is invalid.", *token)
	}
	var recs []*store.Record
	err = s.st.View(ctx, func(tx store.Tx) error {
		var err error
		recs, err = tx.List(kind, store.ListOptions{Prefix: prefix, After: tok.After, Limit: s.pageSize + 1, KeysOnly: true})
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("listing %s: %w", kind, err)
	}
	next := ""
	if len(recs) > s.pageSize {
		recs = recs[:s.pageSize]
		next = encodeToken(scope, pageToken{After: recs[len(recs)-1].Key})
	}
	keys := make([]string, len(recs))
	for i, r := range recs {
		keys[i] = strings.TrimPrefix(r.Key, prefix)
	}
	return keys, next, nil
}

type batchGetApplicationsInput struct {
	ApplicationNames []*string `json:"applicationNames"`
}

type batchGetApplicationsOutput struct {
	ApplicationsInfo []ApplicationInfo `json:"applicationsInfo"`
}

func (s *Service) batchGetApplications(ctx context.Context, in *batchGetApplicationsInput) (*batchGetApplicationsOutput, error) {
	if len(in.ApplicationNames) == 0 {
		return nil, awsproto.Errorf("ApplicationNameRequiredException", "At least one application name is required.")
	}
	if len(in.ApplicationNames) > 100 {
		return nil, awsproto.Errorf("BatchLimitExceededException", "At most 100 application names may be given; %d were.", len(in.ApplicationNames))
	}
	names := make([]string, 0, len(in.ApplicationNames))
	for _, n := range in.ApplicationNames {
		name, err := appName(n)
		if err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	out := &batchGetApplicationsOutput{ApplicationsInfo: []ApplicationInfo{}}
	err := s.st.View(ctx, func(tx store.Tx) error {
		for _, name := range names {
			app, _, err := loadApp(tx, name)
			if err != nil {
				return err
			}
			out.ApplicationsInfo = append(out.ApplicationsInfo, app.ApplicationInfo)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
