package codedeploy

import (
	"context"

	"github.com/cutover/cutover/internal/appspec"
	"github.com/cutover/cutover/internal/awsproto"
)

// prepareLambda checks a Lambda revision against the group and returns its
// AppSpec: the revision must be a Lambda AppSpec whose function, alias and
// versions exist (the engine checks those through ValidateLambda).
func (s *Service) prepareLambda(ctx context.Context, g *DeploymentGroup, loc *RevisionLocation) (string, error) {
	content, err := inlineRevisionContent(loc, PlatformLambda)
	if err != nil {
		return "", err
	}
	if kind, err := appspec.Detect([]byte(content)); err == nil && kind != appspec.KindLambda {
		return "", awsproto.Errorf("InvalidRevisionException", "The revision is an AppSpec for the %s compute platform, but deployment group %s deploys to Lambda.", kind, g.DeploymentGroupName)
	}
	spec, err := appspec.ParseLambda([]byte(content))
	if err != nil {
		return "", awsproto.Errorf("InvalidRevisionException", "The AppSpec file is invalid: %v", err)
	}
	if h := s.hooks.p.Load(); h != nil && h.ValidateLambda != nil {
		if err := h.ValidateLambda(ctx, &g.DeploymentGroupInfo, spec); err != nil {
			return "", err
		}
	}
	return content, nil
}
