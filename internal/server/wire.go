package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	awscd "github.com/aws/aws-sdk-go-v2/service/codedeploy"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cutover/cutover/internal/agentcmd"
	"github.com/cutover/cutover/internal/awsproto"
	"github.com/cutover/cutover/internal/awsproto/jsonrpc"
	"github.com/cutover/cutover/internal/awsproto/sigv4"
	"github.com/cutover/cutover/internal/clock"
	"github.com/cutover/cutover/internal/cloudwatch"
	"github.com/cutover/cutover/internal/codedeploy"
	"github.com/cutover/cutover/internal/credentials"
	"github.com/cutover/cutover/internal/ecs"
	"github.com/cutover/cutover/internal/elb"
	"github.com/cutover/cutover/internal/elb/proxy"
	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/lambda"
	"github.com/cutover/cutover/internal/runtime"
	"github.com/cutover/cutover/internal/runtime/docker"
	"github.com/cutover/cutover/internal/runtime/process"
	"github.com/cutover/cutover/internal/s3"
	"github.com/cutover/cutover/internal/sns"
	"github.com/cutover/cutover/internal/store/sqlite"
	"github.com/cutover/cutover/internal/triggers"
	"github.com/cutover/cutover/internal/watch"
	"github.com/cutover/cutover/internal/watch/awsapi"
)

// openParts opens the store and credentials and registers every service on
// a new router. Each opened part registers its closer so a failure halfway
// (or Shutdown) releases it.
func (s *Server) openParts(ctx context.Context) error {
	db, err := sqlite.Open(ctx, filepath.Join(s.cfg.DataDir, DBFile), s.log.With("component", "store"))
	if err != nil {
		return fmt.Errorf("server: opening store: %w", err)
	}
	s.store = db
	s.closers = append(s.closers, db.Close)
	s.registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "cutover_store_commits_total",
			Help: "Transactions the store committed.",
		}, func() float64 { return float64(db.Stats().Commits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "cutover_store_writes_total",
			Help: "Writes the store's commits held; writes/commits is how many share one sync.",
		}, func() float64 { return float64(db.Stats().Writes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "cutover_store_syncs_total",
			Help: "WAL syncs that made the store's commits durable; each covers every commit before it.",
		}, func() float64 { return float64(db.Stats().Syncs) }),
	)

	tokenKey, err := pagingTokenKey(ctx, db)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	awsproto.SetTokenKey(tokenKey)

	creds, err := credentials.Load(s.cfg.DataDir, s.log.With("component", "credentials"))
	if err != nil {
		return fmt.Errorf("server: loading credentials: %w", err)
	}
	s.keys = credKeys{creds}

	verifier := sigv4.New(creds, s.cfg.Region, s.cfg.Now)
	s.router = awsproto.NewRouter(verifier, s.log.With("component", "router"))
	public := s.fallback()
	s.router.Fallback = public

	// Deployments are timed on the engine's clock, which --time-scale
	// speeds up; CodeDeploy stamps createTime on the same clock so that
	// durations it reports (completeTime - createTime) add up.
	clk := clock.Scaled(s.cfg.TimeScale)
	// (s.cfg.Now, always set by New, is the real clock or a test's.)
	cdNow := s.cfg.Now
	if s.cfg.TimeScale > 1 {
		cdNow = clk.Now
	}
	// SNS: topics for trigger notifications and alarm actions, delivered
	// to HTTP/S subscribers; its certificate and confirmation links are
	// served unsigned under /sns/.
	topics, err := sns.New(sns.Config{
		Region:    s.cfg.Region,
		AccountID: s.cfg.AccountID,
		Store:     db,
		Clock:     clk,
		Log:       s.log.With("service", "sns"),
		PublicURL: s.Endpoint(),
	})
	if err != nil {
		return fmt.Errorf("server: starting sns: %w", err)
	}
	topics.Register(s.router, MaxQueryBody)
	public.Handle("/sns/", topics.PublicHandler())

	// Trigger notifications are written by CodeDeploy in the deployment's
	// own transaction and sent by the dispatcher, woken after each commit.
	dispatcher, err := triggers.NewDispatcher(triggers.Config{
		Store:     db,
		Publisher: topics,
		Clock:     clk,
		Log:       s.log.With("component", "triggers"),
		Owner:     s.owner("triggers"),
	})
	if err != nil {
		return fmt.Errorf("server: starting the trigger dispatcher: %w", err)
	}
	cd, err := codedeploy.New(codedeploy.Config{
		Region:         s.cfg.Region,
		AccountID:      s.cfg.AccountID,
		Store:          db,
		Log:            s.log.With("service", "codedeploy"),
		Now:            cdNow,
		TriggersQueued: dispatcher.Wake,
	})
	if err != nil {
		return fmt.Errorf("server: starting codedeploy: %w", err)
	}
	s.registerJSON(cd.JSON(), "codedeploy")

	// S3 holds revision bundles; object bytes live under <data-dir>/s3 and
	// their metadata in the store. The verifier supplies the seed signature
	// that chunk-signed uploads chain from.
	objects, err := s3.New(s3.Config{
		Region:  s.cfg.Region,
		DataDir: filepath.Join(s.cfg.DataDir, "s3"),
		Store:   db,
		Log:     s.log.With("service", "s3"),
		Now:     s.cfg.Now,
		Seeds:   verifier,
	})
	if err != nil {
		return fmt.Errorf("server: starting s3: %w", err)
	}
	objects.Register(s.router)
	// Server deployments' S3 revisions are checked against the stored
	// bundles (bundleType, eTag, version), in cutover's S3 or the one
	// --s3-endpoint names; Lambda reads function code from the same place.
	var bundles bundleStore = objects
	if s.cfg.S3Endpoint != "" {
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(s.cfg.Region))
		if err != nil {
			return fmt.Errorf("server: AWS configuration for --s3-endpoint: %w", err)
		}
		bundles = s3.Remote{Client: awss3.NewFromConfig(awsCfg, func(o *awss3.Options) {
			o.BaseEndpoint = aws.String(s.cfg.S3Endpoint)
			o.UsePathStyle = true
		})}
	}
	cd.SetBundles(bundles)

	// The load balancer: the proxy binds listener ports on LBBind; the ELBv2
	// control plane re-applies the stored configuration as it starts, so
	// listeners come back after a restart. The proxy closes before the
	// store (closers run in reverse).
	// The engine is made after the services that wake it.
	var engineRef atomic.Pointer[engine.Engine]

	// A target's health change wakes the ECS scheduler (made below), which
	// waits for its tasks to become healthy.
	var ecsRef atomic.Pointer[ecs.Service]
	px := proxy.New(proxy.Options{BindAddr: s.cfg.LBBind, NoIOUring: s.cfg.LBNoIOUring, Log: s.log.With("component", "lb"), Now: s.cfg.Now, TimeScale: s.cfg.TimeScale,
		OnHealthChange: func(string) {
			if e := ecsRef.Load(); e != nil {
				e.Wake()
			}
		}})
	s.closers = append(s.closers, px.Close)
	lb, err := elb.New(elb.Config{
		Region:    s.cfg.Region,
		AccountID: s.cfg.AccountID,
		Store:     db,
		DataPlane: px,
		Log:       s.log.With("service", "elasticloadbalancing"),
		Now:       s.cfg.Now,
	})
	if err != nil {
		return fmt.Errorf("server: starting the load balancer: %w", err)
	}
	lb.Query().Register(s.router, MaxQueryBody, elb.SigningName)
	s.registry.MustRegister(px.Metrics())

	// ECS: the API over the store, registering task endpoints with the load
	// balancer above; its scheduler runs tasks on the chosen runtime.
	rt, err := s.openRuntime(ctx)
	if err != nil {
		return err
	}
	ecsCfg := ecs.Config{
		Region:    s.cfg.Region,
		AccountID: s.cfg.AccountID,
		Store:     db,
		LB:        lb,
		Log:       s.log,
		Now:       s.cfg.Now,
		Owner:     s.owner("ecs"),
		// A task set that moved wakes the deployments waiting on it.
		OnTaskSetChange: func() {
			if e := engineRef.Load(); e != nil {
				e.NotifyAll()
			}
		},
	}
	if rt != nil {
		// Assigned only when set: a nil *process.Runtime in the interface
		// would not compare equal to nil.
		ecsCfg.Runtime = rt
	}
	ecsSvc, err := ecs.New(ecsCfg)
	if err != nil {
		return fmt.Errorf("server: starting ecs: %w", err)
	}
	ecsRef.Store(ecsSvc)
	s.registerJSON(ecsSvc.JSON(), ecs.SigningName)

	// CloudWatch: metrics pushed with PutMetricData and the load balancer's
	// own (as AWS/ApplicationELB and AWS/NetworkELB), and alarms evaluated
	// on the same clock as deployments.
	cw, err := cloudwatch.New(cloudwatch.Config{
		Region:    s.cfg.Region,
		AccountID: s.cfg.AccountID,
		Store:     db,
		Clock:     clk,
		Log:       s.log.With("service", "monitoring"),
	})
	if err != nil {
		return fmt.Errorf("server: starting cloudwatch: %w", err)
	}
	cw.Register(s.router, MaxQueryBody)
	cw.AddSource(func() []cloudwatch.Sample { return lbSamples(px) })

	// The agent command service: hosts' agents long-poll it for the
	// lifecycle commands of server deployments. Held polls are released as
	// soon as shutdown starts, so they do not hold it up.
	agents, err := agentcmd.New(agentcmd.Config{
		Store:   db,
		Clock:   clk,
		Log:     s.log.With("service", "codedeploy-commands"),
		DataDir: s.cfg.DataDir,
		// A command that changed state wakes its deployment at once.
		Notify: func(id string) {
			if e := engineRef.Load(); e != nil {
				e.Notify(id)
			}
		},
		// The store re-check runs on the clock; keep it every 2 s of real
		// time however fast --time-scale runs the clock.
		Recheck: time.Duration(float64(agentcmd.DefaultRecheck) * max(s.cfg.TimeScale, 1)),
	})
	if err != nil {
		return fmt.Errorf("server: starting the agent command service: %w", err)
	}
	agents.Register(s.router)
	for _, srv := range []*http.Server{s.httpSrv, s.tlsSrv} {
		if srv != nil {
			srv.RegisterOnShutdown(agents.Close)
		}
	}

	// Lambda runs functions as host processes through the Runtime API; the
	// functions reach cutover's APIs with the root key. It serves Lambda
	// deployments and the hook functions of every deployment.
	// On the docker runtime, PackageType Image functions run in containers.
	// Lambda keeps real time under --time-scale: a function's timeout
	// bounds real work, which the scale does not speed up.
	root := creds.Root()
	var images lambda.Launcher
	if s.cfg.Runtime == "docker" {
		dl, err := lambda.NewDockerLauncher(ctx, lambda.DockerOptions{Owner: s.owner("functions"), Log: s.log.With("component", "lambda-docker")})
		if err != nil {
			return fmt.Errorf("server: connecting Lambda to Docker: %w", err)
		}
		s.closers = append(s.closers, dl.Close)
		images = dl
	}
	fns, err := lambda.New(lambda.Config{
		Region:          s.cfg.Region,
		AccountID:       s.cfg.AccountID,
		Store:           db,
		Images:          images,
		Log:             s.log.With("service", "lambda"),
		DataDir:         filepath.Join(s.cfg.DataDir, "lambda"),
		Objects:         bundleReader{bundles},
		EndpointURL:     s.Endpoint(),
		AccessKeyID:     root.AccessKeyID,
		SecretAccessKey: root.SecretAccessKey,
	})
	if err != nil {
		return fmt.Errorf("server: starting lambda: %w", err)
	}
	s.closers = append(s.closers, fns.Close)
	fns.Register(s.router)

	// The deployment engine advances CodeDeploy deployments through ECS and
	// the load balancer's weights, on a clock --time-scale can speed up.
	eng, err := engine.New(engine.Config{
		Store:       db,
		CodeDeploy:  cd,
		ECS:         engine.ECSAdapter{ECS: ecsSvc},
		Traffic:     lb,
		Alarms:      cw,
		Functions:   fns,
		Hooks:       &engine.Hooks{Lambda: &engine.FunctionHooks{Functions: fns}},
		Agents:      agents,
		HostTargets: lb,
		Clock:       clk,
		Owner:       s.owner("engine"),
		Log:         s.log.With("component", "engine"),
	})
	if err != nil {
		return fmt.Errorf("server: starting the deployment engine: %w", err)
	}
	engineRef.Store(eng)
	// A deployment reacts to its alarms as soon as they change.
	cw.OnStateChange(func(string, string, string) { eng.NotifyAll() })

	// The registry watcher deploys new images. It acts through the same
	// ECS, CodeDeploy and Lambda APIs a user calls, served in process by
	// this router with the root key; registry notifications arrive on
	// /watch/ (token-authenticated).
	sdk := aws.Config{
		Region:       s.cfg.Region,
		Credentials:  awscreds.NewStaticCredentialsProvider(root.AccessKeyID, root.SecretAccessKey, ""),
		HTTPClient:   awsapi.HandlerClient(s.router, awsproto.Principal{AccessKeyID: root.AccessKeyID, Root: true}),
		BaseEndpoint: aws.String("http://cutover.internal"),
	}
	watcher, err := watch.New(watch.Config{
		Store:      db,
		Clock:      clk,
		Log:        s.log.With("component", "watch"),
		ECS:        awsapi.ECS{Client: awsecs.NewFromConfig(sdk)},
		CodeDeploy: awsapi.CodeDeploy{Client: awscd.NewFromConfig(sdk)},
		Lambda:     awsapi.Lambda{Client: awslambda.NewFromConfig(sdk)},
		Owner:      s.owner("watch"),
	})
	if err != nil {
		return fmt.Errorf("server: starting the registry watcher: %w", err)
	}
	watcher.Register(s.router)
	public.Handle("/watch/", watcher.NotificationHandler())
	s.registry.MustRegister(watcher.Collectors()...)

	if !s.cfg.APIOnly {
		if rt != nil {
			s.loops = append(s.loops, ecsSvc.Run)
		}
		s.loops = append(s.loops, eng.Run, cw.Run, dispatcher.Run, topics.Run, agents.Run, watcher.Run, func(ctx context.Context) error {
			// Alarm actions publish to SNS while the server runs.
			cw.NotifySNS(ctx, topics)
			return nil
		})
	}
	return nil
}

func lbSamples(px *proxy.Proxy) []cloudwatch.Sample {
	snap := px.Metrics().Snapshot()
	out := make([]cloudwatch.Sample, len(snap))
	for i, x := range snap {
		out[i] = cloudwatch.Sample(x)
	}
	return out
}

// openRuntime starts the container runtime ECS tasks run on.
func (s *Server) openRuntime(ctx context.Context) (runtime.Runtime, error) {
	var rt runtime.Runtime
	if s.cfg.Runtime == "auto" {
		// Docker when a Docker engine answers, else host processes.
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		d, err := docker.New(pctx, docker.Options{Owner: s.owner("tasks"), Log: s.log.With("component", "runtime")})
		cancel()
		if err == nil {
			s.cfg.Runtime = "docker"
			s.closers = append(s.closers, d.Close)
			s.log.Info("runtime auto: a Docker engine answers; tasks run in containers")
			return d, nil
		}
		s.cfg.Runtime = "process"
		s.log.Info("runtime auto: no Docker engine answers; tasks run as host processes", "reason", err)
	}
	switch s.cfg.Runtime {
	case "", "none":
		return nil, nil
	case "process":
		p, err := process.New(process.Options{StateDir: filepath.Join(s.cfg.DataDir, "runtime"), Log: s.log.With("component", "runtime")})
		if err != nil {
			return nil, fmt.Errorf("server: starting the process runtime: %w", err)
		}
		rt = p
	case "docker":
		// Each data dir owns its own containers: two servers sharing one
		// Docker daemon must not adopt, or sweep away, each other's tasks.
		d, err := docker.New(ctx, docker.Options{Owner: s.owner("tasks"), Log: s.log.With("component", "runtime")})
		if err != nil {
			return nil, fmt.Errorf("server: connecting to Docker: %w", err)
		}
		rt = d
	default:
		return nil, fmt.Errorf("server: unknown runtime %q (want process, docker, auto or none)", s.cfg.Runtime)
	}
	// Closing a runtime stops watching tasks but leaves them running, so a
	// restarted server adopts them.
	s.closers = append(s.closers, rt.Close)
	return rt, nil
}

// owner names this server in store leases. It must stay the same across
// restarts so a restarted server takes its leases back at once; the data
// dir is part of it because two servers on one host have two stores.
func (s *Server) owner(role string) string {
	host, _ := os.Hostname()
	dir := s.cfg.DataDir
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs // ./cutover-data and its absolute path are the same owner
	}
	sum := sha256.Sum256([]byte(dir))
	return fmt.Sprintf("%s@%s/%s", role, host, hex.EncodeToString(sum[:4]))
}

func (s *Server) registerJSON(svc *jsonrpc.Service, signingNames ...string) {
	svc.Register(s.router, MaxJSONBody, signingNames...)
	for _, n := range signingNames {
		s.jsonServices[n] = svc
	}
}

// credKeys adapts the credential store to what the server shows the user.
type credKeys struct{ c *credentials.Store }

func (k credKeys) Generated() bool { return k.c.Generated() }
func (k credKeys) RootKey() (string, string) {
	r := k.c.Root()
	return r.AccessKeyID, r.SecretAccessKey
}
func (k credKeys) Path() string { return k.c.Path() }

// SecretSource says where a user finds the root secret on later starts:
// the environment variable when the root key came from there, else the file.
func (k credKeys) SecretSource() string {
	if id := os.Getenv(credentials.EnvAccessKeyID); id != "" && id == k.c.Root().AccessKeyID {
		return "$" + credentials.EnvSecretAccessKey
	}
	return k.c.Path()
}

// bundleStore is where revision bundles and function code are read:
// *s3.Service or s3.Remote.
type bundleStore interface {
	Head(ctx context.Context, bucket, key, version string) (s3.ObjectInfo, error)
	Open(ctx context.Context, bucket, key, version string) (io.ReadCloser, s3.ObjectInfo, error)
}

// bundleReader reads S3 objects for Lambda's Code.S3Bucket.
type bundleReader struct{ s bundleStore }

func (b bundleReader) Open(ctx context.Context, bucket, key, version string) (io.ReadCloser, error) {
	rc, _, err := b.s.Open(ctx, bucket, key, version)
	return rc, err
}
