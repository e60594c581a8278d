package lambda

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/store"
)

var (
	roleRe    = regexp.MustCompile(`^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$`)
	envNameRe = regexp.MustCompile(`^[a-zA-Z]([a-zA-Z0-9_])+$`)
	handlerRe = regexp.MustCompile(`^[^\s]+$`)
)

// reservedEnv are the variables Lambda sets itself and refuses in a
// function's Environment.
var reservedEnv = map[string]bool{
	"_HANDLER": true, "_X_AMZN_TRACE_ID": true, "AWS_DEFAULT_REGION": true, "AWS_REGION": true,
	"AWS_EXECUTION_ENV": true, "AWS_LAMBDA_FUNCTION_NAME": true, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": true,
	"AWS_LAMBDA_FUNCTION_VERSION": true, "AWS_LAMBDA_INITIALIZATION_TYPE": true, "AWS_LAMBDA_LOG_GROUP_NAME": true,
	"AWS_LAMBDA_LOG_STREAM_NAME": true, "AWS_ACCESS_KEY": true, "AWS_ACCESS_KEY_ID": true,
	"AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true, "AWS_LAMBDA_RUNTIME_API": true,
	"LAMBDA_TASK_ROOT": true, "LAMBDA_RUNTIME_DIR": true,
}

type environmentInput struct {
	Variables map[string]string `json:"Variables"`
}

type createFunctionInput struct {
	FunctionName  string            `json:"FunctionName"`
	Runtime       string            `json:"Runtime"`
	Role          string            `json:"Role"`
	Handler       string            `json:"Handler"`
	Code          *codeInput        `json:"Code"`
	Description   string            `json:"Description"`
	Timeout       *int              `json:"Timeout"`
	MemorySize    *int              `json:"MemorySize"`
	Publish       bool              `json:"Publish"`
	PackageType   string            `json:"PackageType"`
	Environment   *environmentInput `json:"Environment"`
	Tags          map[string]string `json:"Tags"`
	Architectures []string          `json:"Architectures"`
}

// validateConfig checks a configuration as AWS does on create and update.
func validateConfig(c *funcConfig) error {
	switch {
	case c.Role == "":
		return validation("role", "null", "Member must not be null")
	case !roleRe.MatchString(c.Role):
		return validation("role", c.Role, `Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+`)
	case len(c.Description) > 256:
		return validation("description", c.Description, "Member must have length less than or equal to 256")
	case c.Timeout < 1:
		return validation("timeout", strconv.Itoa(c.Timeout), "Member must have value greater than or equal to 1")
	case c.Timeout > 900:
		return validation("timeout", strconv.Itoa(c.Timeout), "Member must have value less than or equal to 900")
	case c.MemorySize < 128:
		return validation("memorySize", strconv.Itoa(c.MemorySize), "Member must have value greater than or equal to 128")
	case c.MemorySize > 10240:
		return errInvalidParam("'MemorySize' value failed to satisfy constraint: Member must have value less than or equal to 10240")
	case len(c.Handler) > 128 || (c.Handler != "" && !handlerRe.MatchString(c.Handler)):
		return validation("handler", c.Handler, `Member must satisfy regular expression pattern: [^\s]+`)
	case len(c.Architectures) != 1 || (c.Architectures[0] != "x86_64" && c.Architectures[0] != "arm64"):
		return validation("architectures", "["+strings.Join(c.Architectures, ", ")+"]", "Member must have length less than or equal to 1 and contain x86_64 or arm64")
	}
	switch c.PackageType {
	case "Zip":
		if c.Runtime == "" || c.Handler == "" {
			return errInvalidParam("Runtime and Handler are mandatory parameters for functions created with deployment packages.")
		}
		if !slices.Contains(supportedRuntimes, c.Runtime) {
			return errInvalidParam("The runtime parameter of %s is not supported by this Lambda service. Supported runtimes: %s.", c.Runtime, strings.Join(supportedRuntimes, ", "))
		}
	case "Image":
		if c.Runtime != "" || c.Handler != "" {
			return errInvalidParam("Runtime and Handler are not supported for functions created with container images.")
		}
	default:
		return validation("packageType", c.PackageType, "Member must satisfy enum value set: [Zip, Image]")
	}
	return validateEnv(c.Env)
}

func validateEnv(env map[string]string) error {
	size := 0
	var reserved []string
	for k, v := range env {
		if !envNameRe.MatchString(k) {
			return validation("environment.variables", k, "Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+")
		}
		if reservedEnv[k] {
			reserved = append(reserved, k)
		}
		size += len(k) + len(v)
	}
	if len(reserved) > 0 {
		slices.Sort(reserved)
		return errInvalidParam("Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: %s", strings.Join(reserved, ", "))
	}
	if size > 4096 {
		return errInvalidParam("Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: %d", size)
	}
	return nil
}

func validateTags(tags map[string]string) error {
	if len(tags) > 50 {
		return errInvalidParam("Number of tags exceeds resource tag limit.")
	}
	for k, v := range tags {
		if k == "" || len(k) > 128 {
			return errInvalidParam("Tag keys must be between 1 and 128 characters in length.")
		}
		if len(v) > 256 {
			return errInvalidParam("Tag values must be at most 256 characters in length.")
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return errInvalidParam("Tag keys starting with 'aws:' are reserved.")
		}
	}
	return nil
}

func (s *Service) createFunction(r *http.Request) (int, any, error) {
	var in createFunctionInput
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	if in.FunctionName == "" {
		return 0, nil, validation("functionName", "null", "Member must not be null")
	}
	name, err := s.unqualifiedName(in.FunctionName)
	if err != nil {
		return 0, nil, err
	}
	if in.Code == nil {
		return 0, nil, validation("code", "null", "Member must not be null")
	}
	c := funcConfig{
		Name: name, Version: latest, Runtime: in.Runtime, Role: in.Role, Handler: in.Handler,
		Description: in.Description, Timeout: 3, MemorySize: 128, PackageType: in.PackageType,
		Architectures: in.Architectures,
	}
	if c.PackageType == "" {
		c.PackageType = "Zip"
	}
	if c.Architectures == nil {
		c.Architectures = []string{"x86_64"}
	}
	if in.Timeout != nil {
		c.Timeout = *in.Timeout
	}
	if in.MemorySize != nil {
		c.MemorySize = *in.MemorySize
	}
	if in.Environment != nil && len(in.Environment.Variables) > 0 {
		c.Env = in.Environment.Variables
	}
	if err := validateConfig(&c); err != nil {
		return 0, nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return 0, nil, err
	}
	// Code stored now is unreferenced until the function is committed;
	// the read lock keeps a concurrent sweep from taking it.
	s.codeMu.RLock()
	defer s.codeMu.RUnlock()
	if err := s.setCode(r.Context(), &c, *in.Code); err != nil {
		return 0, nil, err
	}
	c.LastModified = s.clock.Now()
	c.RevisionID = uuid.NewString()
	var out *funcConfig
	err = s.update(r.Context(), func(tx store.Tx) error {
		if _, err := tx.Get(kindFunction, name); err == nil {
			return errConflict("Function already exist: %s", name)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		fn := &functionRec{Latest: c, Tags: in.Tags}
		rec := &store.Record{Kind: kindFunction, Key: name}
		out = &fn.Latest
		if in.Publish {
			v, err := s.publish(tx, fn, "")
			if err != nil {
				return err
			}
			out = v
		}
		return store.PutJSON(tx, rec, fn)
	})
	if err != nil {
		s.sweepLater() // the zip stored for a refused function
		return 0, nil, err
	}
	return http.StatusCreated, s.wireConfig(out, out.Version != latest), nil
}

// setCode stores the package of a Zip function (or notes the image of an
// Image function) in c.
func (s *Service) setCode(ctx context.Context, c *funcConfig, in codeInput) error {
	if c.PackageType == "Image" {
		if in.ImageURI == "" {
			return errInvalidParam("ImageUri must be provided for functions with PackageType Image.")
		}
		if in.ZipFile != nil || in.S3Bucket != "" {
			return errInvalidParam("Please don't provide ZipFile or S3 code for functions with PackageType Image.")
		}
		sum := sha256Base64([]byte(in.ImageURI))
		c.ImageURI, c.CodeSha256, c.CodeSize, c.Blob = in.ImageURI, sum, 0, ""
		return nil
	}
	if in.ImageURI != "" {
		return errInvalidParam("Please don't provide ImageUri when creating or updating a function with PackageType Zip.")
	}
	b, err := s.loadZip(ctx, in)
	if err != nil {
		return err
	}
	z, err := s.code.put(b)
	if err != nil {
		return err
	}
	c.Blob, c.CodeSha256, c.CodeSize = z.Blob, z.Sha256, z.Size
	return nil
}

// publish freezes fn's $LATEST as a new version, or returns the last
// version when nothing changed since it was published. The caller stores
// fn afterwards.
func (s *Service) publish(tx store.Tx, fn *functionRec, description string) (*funcConfig, error) {
	name := fn.Latest.Name
	if fn.LastVersion > 0 {
		last, _, err := store.GetJSON[funcConfig](tx, kindVersion, versionKey(name, fn.LastVersion))
		switch {
		case errors.Is(err, store.ErrNotFound):
			// The last version was deleted: publish the next number, as
			// Lambda never reuses one.
		case err != nil:
			return nil, fmt.Errorf("lambda: reading version %d of %s: %w", fn.LastVersion, name, err)
		case fn.Latest.sameAs(last):
			return last, nil
		}
	}
	fn.LastVersion++
	v := fn.Latest
	v.Version = strconv.Itoa(fn.LastVersion)
	v.Env = maps.Clone(fn.Latest.Env)
	v.Architectures = slices.Clone(fn.Latest.Architectures)
	if description != "" {
		v.Description = description
	}
	v.LastModified = s.clock.Now()
	v.RevisionID = uuid.NewString()
	if err := store.PutJSON(tx, &store.Record{Kind: kindVersion, Key: versionKey(name, fn.LastVersion)}, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// getFunctionRec reads a function or answers ResourceNotFoundException.
func (s *Service) getFunctionRec(tx store.Tx, name string) (*functionRec, *store.Record, error) {
	fn, rec, err := store.GetJSON[functionRec](tx, kindFunction, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, errNotFound("Function not found: %s", s.functionARN(name))
	}
	return fn, rec, err
}

// resolved is what a qualifier names: a version's configuration, reached
// directly or through an alias.
type resolved struct {
	fn     *functionRec
	config *funcConfig
	alias  *aliasRec // set when the qualifier is an alias
}

// resolve finds the configuration a qualifier names ("" and $LATEST are
// the unpublished version).
func (s *Service) resolve(tx store.Tx, name, qualifier string) (*resolved, error) {
	fn, _, err := s.getFunctionRec(tx, name)
	if err != nil {
		return nil, err
	}
	if qualifier == "" || qualifier == latest {
		return &resolved{fn: fn, config: &fn.Latest}, nil
	}
	if versionNumRe.MatchString(qualifier) {
		v, err := s.getVersion(tx, name, qualifier)
		if err != nil {
			return nil, err
		}
		return &resolved{fn: fn, config: v}, nil
	}
	a, _, err := store.GetJSON[aliasRec](tx, kindAlias, aliasKey(name, qualifier))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotFound("Function not found: %s:%s", s.functionARN(name), qualifier)
	}
	if err != nil {
		return nil, err
	}
	v, err := s.versionConfig(tx, fn, a.Version)
	if err != nil {
		return nil, err
	}
	return &resolved{fn: fn, config: v, alias: a}, nil
}

func (s *Service) versionConfig(tx store.Tx, fn *functionRec, version string) (*funcConfig, error) {
	if version == latest {
		return &fn.Latest, nil
	}
	return s.getVersion(tx, fn.Latest.Name, version)
}

func (s *Service) getVersion(tx store.Tx, name, version string) (*funcConfig, error) {
	n, err := strconv.Atoi(version)
	if err != nil || n < 1 {
		return nil, errNotFound("Function not found: %s:%s", s.functionARN(name), version)
	}
	v, _, err := store.GetJSON[funcConfig](tx, kindVersion, versionKey(name, n))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotFound("Function not found: %s:%s", s.functionARN(name), version)
	}
	return v, err
}

// lookup parses a function name and Qualifier parameter and resolves them.
func (s *Service) lookup(ctx context.Context, rawName, qualParam string) (*resolved, string, error) {
	ref, err := s.parseName(rawName)
	if err != nil {
		return nil, "", err
	}
	q, err := qualified(ref, qualParam)
	if err != nil {
		return nil, "", err
	}
	var res *resolved
	err = s.store.View(ctx, func(tx store.Tx) error {
		res, err = s.resolve(tx, ref.Name, q)
		return err
	})
	return res, q, err
}

type functionCodeLocation struct {
	RepositoryType string `json:"RepositoryType"`
	Location       string `json:"Location,omitempty"`
	ImageURI       string `json:"ImageUri,omitempty"`
}

type getFunctionOutput struct {
	Configuration functionConfiguration `json:"Configuration"`
	Code          functionCodeLocation  `json:"Code"`
	Tags          map[string]string     `json:"Tags,omitempty"`
}

// configFor answers a resolved qualifier: the version's configuration,
// under the ARN the caller used (an alias ARN for an alias).
func (s *Service) configFor(res *resolved, q string) functionConfiguration {
	out := s.wireConfig(res.config, q != "")
	if res.alias != nil {
		out.FunctionArn = s.functionARN(res.config.Name) + ":" + res.alias.Name
	}
	return out
}

func (s *Service) getFunction(r *http.Request) (int, any, error) {
	res, q, err := s.lookup(r.Context(), r.PathValue("FunctionName"), r.URL.Query().Get("Qualifier"))
	if err != nil {
		return 0, nil, err
	}
	out := getFunctionOutput{Configuration: s.configFor(res, q), Tags: res.fn.Tags}
	if res.config.PackageType == "Image" {
		out.Code = functionCodeLocation{RepositoryType: "ECR", ImageURI: res.config.ImageURI}
	} else {
		out.Code = functionCodeLocation{RepositoryType: "S3", Location: "file://" + s.code.path(res.config.Blob)}
	}
	return http.StatusOK, out, nil
}

func (s *Service) getFunctionConfiguration(r *http.Request) (int, any, error) {
	res, q, err := s.lookup(r.Context(), r.PathValue("FunctionName"), r.URL.Query().Get("Qualifier"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.configFor(res, q), nil
}

type listFunctionsOutput struct {
	Functions  []functionConfiguration `json:"Functions"`
	NextMarker string                  `json:"NextMarker,omitempty"`
}

type listMarker struct {
	After string `json:"a"`
}

// page cuts items (sorted by their key) after the marker's key.
func page[T any](scope awsproto.TokenScope, marker string, max int, items []T, key func(T) string) ([]T, string, error) {
	start := 0
	if marker != "" {
		var m listMarker
		if err := scope.Decode(marker, &m); err != nil {
			return nil, "", errInvalidParam("Invalid Marker: %s", marker)
		}
		start, _ = slices.BinarySearchFunc(items, m.After, func(it T, after string) int {
			k := key(it)
			if k <= after {
				return -1
			}
			return 1
		})
	}
	items = items[start:]
	next := ""
	if len(items) > max {
		items = items[:max]
		next = scope.Encode(listMarker{After: key(items[max-1])})
	}
	return items, next, nil
}

// configKey orders a function's versions: $LATEST first, then by number.
func configKey(c *funcConfig) string {
	if c.Version == latest {
		return c.Name + "/"
	}
	n, _ := strconv.Atoi(c.Version)
	return versionKey(c.Name, n)
}

func (s *Service) listFunctions(r *http.Request) (int, any, error) {
	marker, max, err := listParams(r)
	if err != nil {
		return 0, nil, err
	}
	all := false
	switch v := r.URL.Query().Get("FunctionVersion"); v {
	case "":
	case "ALL":
		all = true
	default:
		return 0, nil, validation("functionVersion", v, "Member must satisfy enum value set: [ALL]")
	}
	var items []*funcConfig
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		fns, _, err := store.ListJSON[functionRec](tx, kindFunction, store.ListOptions{})
		if err != nil {
			return err
		}
		for _, fn := range fns {
			items = append(items, &fn.Latest)
			if all {
				vs, _, err := store.ListJSON[funcConfig](tx, kindVersion, store.ListOptions{Prefix: fn.Latest.Name + "/"})
				if err != nil {
					return err
				}
				items = append(items, vs...)
			}
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	slices.SortFunc(items, func(a, b *funcConfig) int { return strings.Compare(configKey(a), configKey(b)) })
	items, next, err := page(awsproto.TokenScope("lambda.ListFunctions"), marker, max, items, configKey)
	if err != nil {
		return 0, nil, err
	}
	out := listFunctionsOutput{Functions: []functionConfiguration{}, NextMarker: next}
	for _, c := range items {
		out.Functions = append(out.Functions, s.wireConfig(c, all && c.Version != latest))
	}
	return http.StatusOK, out, nil
}

type listVersionsOutput struct {
	Versions   []functionConfiguration `json:"Versions"`
	NextMarker string                  `json:"NextMarker,omitempty"`
}

func (s *Service) listVersions(r *http.Request) (int, any, error) {
	marker, max, err := listParams(r)
	if err != nil {
		return 0, nil, err
	}
	name, err := s.unqualifiedName(r.PathValue("FunctionName"))
	if err != nil {
		return 0, nil, err
	}
	var items []*funcConfig
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		fn, _, err := s.getFunctionRec(tx, name)
		if err != nil {
			return err
		}
		vs, _, err := store.ListJSON[funcConfig](tx, kindVersion, store.ListOptions{Prefix: name + "/"})
		items = append([]*funcConfig{&fn.Latest}, vs...)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	items, next, err := page(awsproto.TokenScope("lambda.ListVersionsByFunction/"+name), marker, max, items, configKey)
	if err != nil {
		return 0, nil, err
	}
	out := listVersionsOutput{Versions: []functionConfiguration{}, NextMarker: next}
	for _, c := range items {
		out.Versions = append(out.Versions, s.wireConfig(c, true))
	}
	return http.StatusOK, out, nil
}

func (s *Service) deleteFunction(r *http.Request) (int, any, error) {
	ref, err := s.parseName(r.PathValue("FunctionName"))
	if err != nil {
		return 0, nil, err
	}
	q, err := qualified(ref, r.URL.Query().Get("Qualifier"))
	if err != nil {
		return 0, nil, err
	}
	if err := s.DeleteFunction(r.Context(), ref.Name, q); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// DeleteFunction deletes a function with its versions and aliases, or only
// one version when qualifier names one, and stops their environments.
func (s *Service) DeleteFunction(ctx context.Context, name, qualifier string) error {
	switch {
	case qualifier == latest:
		return errInvalidParam("$LATEST version cannot be deleted without deleting the function.")
	case qualifier != "" && !versionNumRe.MatchString(qualifier):
		return errInvalidParam("Deletion of aliases is not supported. Use DeleteAlias to delete alias %s.", qualifier)
	}
	err := s.update(ctx, func(tx store.Tx) error {
		_, frec, err := s.getFunctionRec(tx, name)
		if err != nil {
			return err
		}
		aliases, _, err := store.ListJSON[aliasRec](tx, kindAlias, store.ListOptions{Prefix: name + "/"})
		if err != nil {
			return err
		}
		if qualifier != "" {
			if _, err := s.getVersion(tx, name, qualifier); err != nil {
				return err
			}
			var users []string
			for _, a := range aliases {
				if _, weighted := a.Weights[qualifier]; a.Version == qualifier || weighted {
					users = append(users, a.Name)
				}
			}
			if len(users) > 0 {
				return errConflict("Unable to delete version because the following aliases reference it: [%s]", strings.Join(users, ", "))
			}
			n, _ := strconv.Atoi(qualifier)
			return tx.Delete(kindVersion, versionKey(name, n), -1)
		}
		for _, kind := range []string{kindVersion, kindAlias} {
			recs, err := tx.List(kind, store.ListOptions{Prefix: name + "/", KeysOnly: true})
			if err != nil {
				return err
			}
			for _, rec := range recs {
				if err := tx.Delete(kind, rec.Key, -1); err != nil {
					return err
				}
			}
		}
		return tx.Delete(kindFunction, name, frec.Version)
	})
	if err != nil {
		return err
	}
	s.closePools(name, qualifier)
	s.sweepLater()
	return nil
}

// sweepLater removes unused code once no request is between storing a
// zip and committing the function that references it. It runs in the
// background so that a request holding the read lock never waits on itself.
func (s *Service) sweepLater() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.sweeps.Add(1)
	go func() {
		defer s.sweeps.Done()
		s.sweepCode(context.Background())
	}()
}

// sweepCode removes code no version references any more; a failure only
// leaves a file behind, so it is logged.
func (s *Service) sweepCode(ctx context.Context) {
	s.codeMu.Lock()
	defer s.codeMu.Unlock()
	keep := map[string]bool{}
	err := s.store.View(ctx, func(tx store.Tx) error {
		fns, _, err := store.ListJSON[functionRec](tx, kindFunction, store.ListOptions{})
		if err != nil {
			return err
		}
		for _, fn := range fns {
			keep[fn.Latest.Blob] = true
		}
		vs, _, err := store.ListJSON[funcConfig](tx, kindVersion, store.ListOptions{})
		for _, v := range vs {
			keep[v.Blob] = true
		}
		return err
	})
	if err == nil {
		err = s.code.sweep(keep)
	}
	if err != nil {
		s.log.Warn("lambda: removing unused code", "err", err)
	}
}

type updateCodeInput struct {
	codeInput
	Publish       bool     `json:"Publish"`
	DryRun        bool     `json:"DryRun"`
	RevisionID    string   `json:"RevisionId"`
	Architectures []string `json:"Architectures"`
}

func (s *Service) updateFunctionCode(r *http.Request) (int, any, error) {
	name, err := s.unqualifiedName(r.PathValue("FunctionName"))
	if err != nil {
		return 0, nil, err
	}
	var in updateCodeInput
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	var cur *functionRec
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		cur, _, err = s.getFunctionRec(tx, name)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	if in.RevisionID != "" && in.RevisionID != cur.Latest.RevisionID {
		return 0, nil, errPrecondition()
	}
	next := cur.Latest
	if in.Architectures != nil {
		next.Architectures = in.Architectures
		if err := validateConfig(&next); err != nil {
			return 0, nil, err
		}
	}
	s.codeMu.RLock()
	defer s.codeMu.RUnlock()
	// Whatever happens, the code that was replaced (or stored for a dry
	// run or a refused update) may be unused now.
	defer s.sweepLater()
	if err := s.setCode(r.Context(), &next, in.codeInput); err != nil {
		return 0, nil, err
	}
	if in.DryRun {
		return http.StatusOK, s.wireConfig(&next, false), nil
	}
	out, err := s.updateLatest(r.Context(), name, cur.Latest.RevisionID, func(fn *functionRec) {
		fn.Latest.Blob, fn.Latest.CodeSha256, fn.Latest.CodeSize = next.Blob, next.CodeSha256, next.CodeSize
		fn.Latest.ImageURI, fn.Latest.Architectures = next.ImageURI, next.Architectures
	}, in.Publish)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.wireConfig(out, out.Version != latest), nil
}

// updateLatest changes $LATEST if it is still at revision rev, publishes
// it when asked, and retires the environments running the old $LATEST.
func (s *Service) updateLatest(ctx context.Context, name, rev string, change func(*functionRec), publish bool) (*funcConfig, error) {
	var out *funcConfig
	err := s.update(ctx, func(tx store.Tx) error {
		fn, rec, err := s.getFunctionRec(tx, name)
		if err != nil {
			return err
		}
		if fn.Latest.RevisionID != rev {
			return errPrecondition()
		}
		change(fn)
		fn.Latest.LastModified = s.clock.Now()
		fn.Latest.RevisionID = uuid.NewString()
		out = &fn.Latest
		if publish {
			if out, err = s.publish(tx, fn, ""); err != nil {
				return err
			}
		}
		return store.PutJSON(tx, rec, fn)
	})
	if err != nil {
		return nil, err
	}
	s.closePools(name, latest)
	return out, nil
}

type updateConfigInput struct {
	Role        *string           `json:"Role"`
	Handler     *string           `json:"Handler"`
	Description *string           `json:"Description"`
	Timeout     *int              `json:"Timeout"`
	MemorySize  *int              `json:"MemorySize"`
	Environment *environmentInput `json:"Environment"`
	Runtime     *string           `json:"Runtime"`
	RevisionID  string            `json:"RevisionId"`
}

func (s *Service) updateFunctionConfiguration(r *http.Request) (int, any, error) {
	name, err := s.unqualifiedName(r.PathValue("FunctionName"))
	if err != nil {
		return 0, nil, err
	}
	var in updateConfigInput
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	var cur *functionRec
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		cur, _, err = s.getFunctionRec(tx, name)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	if in.RevisionID != "" && in.RevisionID != cur.Latest.RevisionID {
		return 0, nil, errPrecondition()
	}
	apply := func(c *funcConfig) {
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = *v
			}
		}
		set(&c.Role, in.Role)
		set(&c.Handler, in.Handler)
		set(&c.Description, in.Description)
		set(&c.Runtime, in.Runtime)
		if in.Timeout != nil {
			c.Timeout = *in.Timeout
		}
		if in.MemorySize != nil {
			c.MemorySize = *in.MemorySize
		}
		if in.Environment != nil {
			c.Env = in.Environment.Variables
			if len(c.Env) == 0 {
				c.Env = nil
			}
		}
	}
	next := cur.Latest
	apply(&next)
	if err := validateConfig(&next); err != nil {
		return 0, nil, err
	}
	out, err := s.updateLatest(r.Context(), name, cur.Latest.RevisionID, func(fn *functionRec) { apply(&fn.Latest) }, false)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.wireConfig(out, false), nil
}

type publishVersionInput struct {
	CodeSha256  string `json:"CodeSha256"`
	Description string `json:"Description"`
	RevisionID  string `json:"RevisionId"`
}

func (s *Service) publishVersion(r *http.Request) (int, any, error) {
	name, err := s.unqualifiedName(r.PathValue("FunctionName"))
	if err != nil {
		return 0, nil, err
	}
	var in publishVersionInput
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	if len(in.Description) > 256 {
		return 0, nil, validation("description", in.Description, "Member must have length less than or equal to 256")
	}
	var out *funcConfig
	err = s.update(r.Context(), func(tx store.Tx) error {
		fn, rec, err := s.getFunctionRec(tx, name)
		if err != nil {
			return err
		}
		if in.RevisionID != "" && in.RevisionID != fn.Latest.RevisionID {
			return errPrecondition()
		}
		if in.CodeSha256 != "" && in.CodeSha256 != fn.Latest.CodeSha256 {
			return errInvalidParam("CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST (%s). Please try again with the current CodeSHA256.", in.CodeSha256, fn.Latest.CodeSha256)
		}
		before := fn.LastVersion
		if out, err = s.publish(tx, fn, in.Description); err != nil || fn.LastVersion == before {
			return err
		}
		return store.PutJSON(tx, rec, fn)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, s.wireConfig(out, true), nil
}
