package lambda

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"

	"github.com/google/uuid"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

type routingInput struct {
	AdditionalVersionWeights map[string]float64 `json:"AdditionalVersionWeights"`
}

type createAliasInput struct {
	Name            string        `json:"Name"`
	FunctionVersion string        `json:"FunctionVersion"`
	Description     string        `json:"Description"`
	RoutingConfig   *routingInput `json:"RoutingConfig"`
}

func checkAliasName(name string) error {
	if name == "" {
		return validation("name", "null", "Member must not be null")
	}
	if !aliasNameRe.MatchString(name) || versionNumRe.MatchString(name) {
		return validation("name", name, "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)")
	}
	return nil
}

func checkVersionParam(v string) error {
	if v == "" {
		return validation("functionVersion", "null", "Member must not be null")
	}
	if v != latest && !versionNumRe.MatchString(v) {
		return validation("functionVersion", v, `Member must satisfy regular expression pattern: (\$LATEST|[0-9]+)`)
	}
	return nil
}

// checkWeights applies the constraints of the model and of AWS to a
// routing configuration, before anything is read.
func checkWeights(version string, weights map[string]float64) error {
	for k, w := range weights {
		if !versionNumRe.MatchString(k) {
			return validation("routingConfig.additionalVersionWeights", k, "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [0-9]+]")
		}
		if w < 0 || w > 1 || math.IsNaN(w) {
			return validation("routingConfig.additionalVersionWeights", fmt.Sprintf("{%s=%v}", k, w),
				"Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0]")
		}
	}
	if len(weights) > 1 {
		return errInvalidParam("Number of items in AdditionalVersionWeights cannot be greater than 1.")
	}
	if len(weights) > 0 && version == latest {
		return errInvalidParam("$LATEST is not supported for an alias pointing to more than 1 version")
	}
	for k := range weights {
		if k == version {
			return errInvalidParam("Invalid function version %s. Function version %s is already included in routing configuration.", k, k)
		}
	}
	return nil
}

// checkAliasTargets checks inside tx that the versions an alias points to
// exist.
func (s *Service) checkAliasTargets(tx store.Tx, fn *functionRec, version string, weights map[string]float64) error {
	if _, err := s.versionConfig(tx, fn, version); err != nil {
		return err
	}
	for k := range weights {
		if _, err := s.getVersion(tx, fn.Latest.Name, k); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) createAlias(r *http.Request) (int, any, error) {
	name, err := s.unqualifiedName(r.PathValue("FunctionName"))
	if err != nil {
		return 0, nil, err
	}
	var in createAliasInput
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	if err := checkAliasName(in.Name); err != nil {
		return 0, nil, err
	}
	if err := checkVersionParam(in.FunctionVersion); err != nil {
		return 0, nil, err
	}
	if len(in.Description) > 256 {
		return 0, nil, validation("description", in.Description, "Member must have length less than or equal to 256")
	}
	var weights map[string]float64
	if in.RoutingConfig != nil && len(in.RoutingConfig.AdditionalVersionWeights) > 0 {
		weights = in.RoutingConfig.AdditionalVersionWeights
	}
	if err := checkWeights(in.FunctionVersion, weights); err != nil {
		return 0, nil, err
	}
	a := &aliasRec{Function: name, Name: in.Name, Version: in.FunctionVersion, Description: in.Description, Weights: weights, RevisionID: uuid.NewString()}
	err = s.update(r.Context(), func(tx store.Tx) error {
		fn, _, err := s.getFunctionRec(tx, name)
		if err != nil {
			return err
		}
		if _, err := tx.Get(kindAlias, aliasKey(name, in.Name)); err == nil {
			return errConflict("Alias already exists: %s:%s", s.functionARN(name), in.Name)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := s.checkAliasTargets(tx, fn, a.Version, a.Weights); err != nil {
			return err
		}
		return store.PutJSON(tx, &store.Record{Kind: kindAlias, Key: aliasKey(name, in.Name), Index: a.Version}, a)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, s.wireAlias(a), nil
}

// getAliasRec reads an alias or answers ResourceNotFoundException.
func (s *Service) getAliasRec(tx store.Tx, fn, alias string) (*aliasRec, *store.Record, error) {
	a, rec, err := store.GetJSON[aliasRec](tx, kindAlias, aliasKey(fn, alias))
	if errors.Is(err, store.ErrNotFound) {
		if _, _, ferr := s.getFunctionRec(tx, fn); ferr != nil {
			return nil, nil, ferr
		}
		return nil, nil, errNotFound("Alias not found: %s:%s", s.functionARN(fn), alias)
	}
	return a, rec, err
}

func (s *Service) aliasParams(r *http.Request) (string, string, error) {
	name, err := s.unqualifiedName(r.PathValue("FunctionName"))
	if err != nil {
		return "", "", err
	}
	alias := r.PathValue("Name")
	if err := checkAliasName(alias); err != nil {
		return "", "", err
	}
	return name, alias, nil
}

func (s *Service) getAlias(r *http.Request) (int, any, error) {
	name, alias, err := s.aliasParams(r)
	if err != nil {
		return 0, nil, err
	}
	var a *aliasRec
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		a, _, err = s.getAliasRec(tx, name, alias)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.wireAlias(a), nil
}

type updateAliasInput struct {
	FunctionVersion *string       `json:"FunctionVersion"`
	Description     *string       `json:"Description"`
	RoutingConfig   *routingInput `json:"RoutingConfig"`
	RevisionID      string        `json:"RevisionId"`
}

func (s *Service) updateAlias(r *http.Request) (int, any, error) {
	name, alias, err := s.aliasParams(r)
	if err != nil {
		return 0, nil, err
	}
	var in updateAliasInput
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	if in.FunctionVersion != nil {
		if err := checkVersionParam(*in.FunctionVersion); err != nil {
			return 0, nil, err
		}
	}
	if in.Description != nil && len(*in.Description) > 256 {
		return 0, nil, validation("description", *in.Description, "Member must have length less than or equal to 256")
	}
	a, err := s.changeAlias(r.Context(), name, alias, in.RevisionID, func(a *aliasRec) error {
		if in.FunctionVersion != nil {
			a.Version = *in.FunctionVersion
		}
		if in.Description != nil {
			a.Description = *in.Description
		}
		if in.RoutingConfig != nil {
			a.Weights = in.RoutingConfig.AdditionalVersionWeights
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.wireAlias(a), nil
}

// changeAlias applies change to an alias (at revision rev unless rev is
// empty) after checking the routing it ends with.
func (s *Service) changeAlias(ctx context.Context, name, alias, rev string, change func(*aliasRec) error) (*aliasRec, error) {
	var out *aliasRec
	err := s.update(ctx, func(tx store.Tx) error {
		a, rec, err := s.getAliasRec(tx, name, alias)
		if err != nil {
			return err
		}
		if rev != "" && rev != a.RevisionID {
			return errPrecondition()
		}
		if err := change(a); err != nil {
			return err
		}
		if len(a.Weights) == 0 {
			a.Weights = nil
		}
		if err := checkWeights(a.Version, a.Weights); err != nil {
			return err
		}
		fn, _, err := s.getFunctionRec(tx, name)
		if err != nil {
			return err
		}
		if err := s.checkAliasTargets(tx, fn, a.Version, a.Weights); err != nil {
			return err
		}
		a.RevisionID = uuid.NewString()
		rec.Index = a.Version
		out = a
		return store.PutJSON(tx, rec, a)
	})
	return out, err
}

type listAliasesOutput struct {
	Aliases    []aliasConfiguration `json:"Aliases"`
	NextMarker string               `json:"NextMarker,omitempty"`
}

func (s *Service) listAliases(r *http.Request) (int, any, error) {
	marker, max, err := listParams(r)
	if err != nil {
		return 0, nil, err
	}
	name, err := s.unqualifiedName(r.PathValue("FunctionName"))
	if err != nil {
		return 0, nil, err
	}
	version := r.URL.Query().Get("FunctionVersion")
	if version != "" {
		if err := checkVersionParam(version); err != nil {
			return 0, nil, err
		}
	}
	var items []*aliasRec
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		if _, _, err := s.getFunctionRec(tx, name); err != nil {
			return err
		}
		items, _, err = store.ListJSON[aliasRec](tx, kindAlias, store.ListOptions{Prefix: name + "/", Index: version})
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	items, next, err := page(awsproto.TokenScope("lambda.ListAliases/"+name+"/"+version), marker, max, items, func(a *aliasRec) string { return a.Name })
	if err != nil {
		return 0, nil, err
	}
	out := listAliasesOutput{Aliases: []aliasConfiguration{}, NextMarker: next}
	for _, a := range items {
		out.Aliases = append(out.Aliases, s.wireAlias(a))
	}
	return http.StatusOK, out, nil
}

func (s *Service) deleteAlias(r *http.Request) (int, any, error) {
	name, alias, err := s.aliasParams(r)
	if err != nil {
		return 0, nil, err
	}
	err = s.update(r.Context(), func(tx store.Tx) error {
		err := tx.Delete(kindAlias, aliasKey(name, alias), -1)
		if errors.Is(err, store.ErrNotFound) {
			return nil // AWS answers 204 for an alias that is not there
		}
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// AliasRouting returns the version an alias points to and its additional
// version weights (nil when it routes to one version). function may be any
// form of function name Lambda accepts, without a qualifier.
func (s *Service) AliasRouting(ctx context.Context, function, alias string) (string, map[string]float64, error) {
	name, err := s.unqualifiedName(function)
	if err != nil {
		return "", nil, err
	}
	if err := checkAliasName(alias); err != nil {
		return "", nil, err
	}
	var a *aliasRec
	err = s.store.View(ctx, func(tx store.Tx) error {
		a, _, err = s.getAliasRec(tx, name, alias)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return a.Version, maps.Clone(a.Weights), nil
}

// SetAliasRouting points an alias at version with the given additional
// version weights (nil or empty: all traffic to version). It sets the
// routing rather than adjusting it, so repeating a call is harmless, which
// is what a deployment step that may run twice needs. Errors are
// *awsproto.Error as UpdateAlias answers them.
func (s *Service) SetAliasRouting(ctx context.Context, function, alias, version string, extra map[string]float64) error {
	name, err := s.unqualifiedName(function)
	if err != nil {
		return err
	}
	if err := checkAliasName(alias); err != nil {
		return err
	}
	if err := checkVersionParam(version); err != nil {
		return err
	}
	weights := maps.Clone(extra)
	if err := checkWeights(version, weights); err != nil {
		return err
	}
	_, err = s.changeAlias(ctx, name, alias, "", func(a *aliasRec) error {
		if a.Version == version && maps.Equal(a.Weights, weights) {
			return errUnchanged
		}
		a.Version, a.Weights = version, weights
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

var errUnchanged = errors.New("unchanged")

// ResolveVersion returns the version a qualifier names: "" and $LATEST
// give "$LATEST", a version number itself, an alias its primary version.
// It fails with ResourceNotFoundException when the function or qualifier
// does not exist.
func (s *Service) ResolveVersion(ctx context.Context, function, qualifier string) (string, error) {
	res, _, err := s.lookup(ctx, function, qualifier)
	if err != nil {
		return "", err
	}
	return res.config.Version, nil
}

// sortedVersions lists the keys of weights in numeric order (for stable
// messages and tests).
func sortedVersions(weights map[string]float64) []string {
	keys := slices.Collect(maps.Keys(weights))
	slices.SortFunc(keys, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	return keys
}
