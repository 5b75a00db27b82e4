// Command stampede-nodesim runs many simulated Nomad client nodes in one process against real servers:
// each node is a real github.com/hashicorp/nomad/client.Client (registration, heartbeats, allocation
// watching, status updates: the same RPCs a real client sends), with Nomad's in-process mock driver
// (`mock_driver`, tasks that "run" for `run_for` without a process) instead of real task drivers, an
// in-memory client state store, and fixed, declared resources instead of host fingerprints. It plays
// the role HashiCorp's nomad-nodesim played for C2M-style floods (written here against the v1.6 client
// package; the nodesim module itself is not served by the module proxy reachable from this workplace).
//
//	stampede-nodesim -servers 127.0.0.1:4647,127.0.0.1:4657 -nodes 1000 -data-dir /tmp/sim
//
// It prints `started N/M` lines while nodes come up, then `ready N` when every node has contacted a
// server, and runs until SIGINT/SIGTERM, when it shuts every node down.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/nomad/client"
	"github.com/hashicorp/nomad/client/config"
	"github.com/hashicorp/nomad/client/serviceregistration"
	"github.com/hashicorp/nomad/client/state"
	"github.com/hashicorp/nomad/helper/pluginutils/catalog"
	"github.com/hashicorp/nomad/helper/pluginutils/loader"
	"github.com/hashicorp/nomad/helper/pluginutils/singleton"
	"github.com/hashicorp/nomad/helper/pointer"
	"github.com/hashicorp/nomad/nomad/structs"
	structsc "github.com/hashicorp/nomad/nomad/structs/config"
)

type options struct {
	servers    []string
	nodes      int
	dataDir    string
	prefix     string
	datacenter string
	nodeClass  string
	cpuMHz     int
	memoryMB   int
	startRate  float64
	ca, cert   string
	key        string
	logLevel   string
}

func parseFlags() (*options, error) {
	o := &options{}
	servers := flag.String("servers", "", "comma-separated server RPC addresses (host:port), required")
	flag.IntVar(&o.nodes, "nodes", 100, "number of simulated client nodes")
	flag.StringVar(&o.dataDir, "data-dir", "", "directory for per-node alloc dirs and logs, required")
	flag.StringVar(&o.prefix, "prefix", "sim", "node names are PREFIX-NNNNN")
	flag.StringVar(&o.datacenter, "datacenter", "dc1", "datacenter of the nodes")
	flag.StringVar(&o.nodeClass, "node-class", "nodesim", "node class of the nodes")
	flag.IntVar(&o.cpuMHz, "cpu", 4000, "CPU of each node, MHz")
	flag.IntVar(&o.memoryMB, "memory", 8192, "memory of each node, MB")
	flag.Float64Var(&o.startRate, "start-rate", 200, "nodes started per second")
	flag.StringVar(&o.ca, "ca", "", "CA certificate (TLS RPC)")
	flag.StringVar(&o.cert, "cert", "", "client certificate (TLS RPC)")
	flag.StringVar(&o.key, "key", "", "client key (TLS RPC)")
	flag.StringVar(&o.logLevel, "log-level", "warn", "client log level (trace..error), logged to DATA_DIR/clients.log")
	flag.Parse()
	for _, s := range strings.Split(*servers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.servers = append(o.servers, s)
		}
	}
	switch {
	case len(o.servers) == 0:
		return nil, fmt.Errorf("-servers is required")
	case o.dataDir == "":
		return nil, fmt.Errorf("-data-dir is required")
	case o.nodes < 1:
		return nil, fmt.Errorf("-nodes %d: must be at least 1", o.nodes)
	case o.startRate <= 0:
		return nil, fmt.Errorf("-start-rate %v: must be positive", o.startRate)
	case (o.ca != "" || o.cert != "" || o.key != "") && (o.ca == "" || o.cert == "" || o.key == ""):
		return nil, fmt.Errorf("-ca, -cert and -key go together")
	}
	return o, nil
}

// No Consul here: the client wants these interfaces; nothing in the simulated jobs uses them.
type noConsul struct{}

func (noConsul) Datacenters() ([]string, error) { return nil, nil }
func (noConsul) Service(string, string, *consulapi.QueryOptions) ([]*consulapi.CatalogService, *consulapi.QueryMeta, error) {
	return nil, &consulapi.QueryMeta{}, nil
}
func (noConsul) Proxies() (map[string][]string, error)                          { return nil, nil }
func (noConsul) RegisterWorkload(*serviceregistration.WorkloadServices) error   { return nil }
func (noConsul) RemoveWorkload(*serviceregistration.WorkloadServices)          {}
func (noConsul) UpdateWorkload(_, _ *serviceregistration.WorkloadServices) error { return nil }
func (noConsul) AllocRegistrations(string) (*serviceregistration.AllocRegistration, error) {
	return nil, nil
}
func (noConsul) UpdateTTL(_, _, _, _ string) error { return nil }

// pluginLoader returns a loader that knows only the built-in mock driver, shared by every node (the
// singleton loader dispenses one instance, as the agent does for its own drivers).
func pluginLoader(logger hclog.Logger) (loader.PluginCatalog, error) {
	internal := map[loader.PluginID]*loader.InternalPluginConfig{}
	for id, reg := range catalog.Catalog() {
		if id.Name != "mock_driver" || reg.Config == nil {
			continue
		}
		internal[id] = &loader.InternalPluginConfig{Factory: reg.Config.Factory, Config: reg.Config.Config}
	}
	if len(internal) == 0 {
		return nil, fmt.Errorf("the mock driver is not in this Nomad build's plugin catalog (built with the `release` tag?)")
	}
	l, err := loader.NewPluginLoader(&loader.PluginLoaderConfig{
		Logger:            logger,
		PluginDir:         "",
		InternalPlugins:   internal,
		SupportedVersions: loader.AgentSupportedApiVersions,
	})
	if err != nil {
		return nil, fmt.Errorf("plugin loader: %w", err)
	}
	return singleton.NewSingletonLoader(logger, l), nil
}

func nodeConfig(o *options, i int, logger hclog.InterceptLogger, plugins loader.PluginCatalog) (*config.Config, error) {
	name := fmt.Sprintf("%s-%05d", o.prefix, i)
	root := filepath.Join(o.dataDir, name)
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, fmt.Errorf("creating %s: %w", root, err)
	}
	cfg := config.DefaultConfig()
	cfg.Logger = logger.NamedIntercept(name)
	cfg.Servers = o.servers
	cfg.Region = "global"
	cfg.StateDir = filepath.Join(root, "client")
	cfg.AllocDir = filepath.Join(root, "alloc")
	// In-memory client state (no bolt file per node).
	cfg.StateDBFactory = state.GetStateDBFactory(true)
	cfg.NoHostUUID = true
	// Declared resources instead of the host's (the cpu/memory fingerprinters honour these).
	cfg.CpuCompute = o.cpuMHz
	cfg.MemoryMB = o.memoryMB
	cfg.DiskTotalMB = 100_000
	cfg.DiskFreeMB = 100_000
	cfg.NetworkSpeed = 1000
	cfg.NetworkInterface = "lo"
	// DefaultConfig has these two swapped; the agent always overrides them.
	cfg.MinDynamicPort = structs.DefaultMinDynamicPort
	cfg.MaxDynamicPort = structs.DefaultMaxDynamicPort
	cfg.MaxKillTimeout = 30 * time.Second
	cfg.Options = map[string]string{
		// Only what a scheduler needs; no host probing per node (and no cloud metadata probing at all).
		"fingerprint.allowlist": "arch,cpu,host,memory,network,nomad,signal,storage",
		"driver.allowlist":      "mock_driver",
	}
	cfg.ChrootEnv = map[string]string{}
	cfg.ConsulConfig = structsc.DefaultConsulConfig()
	cfg.ConsulConfig.ClientAutoJoin = pointer.Of(false)
	cfg.ConsulConfig.AutoAdvertise = pointer.Of(false)
	cfg.VaultConfig = &structsc.VaultConfig{Enabled: pointer.Of(false)}
	cfg.DisableRemoteExec = true
	cfg.StatsCollectionInterval = time.Minute // host stats per node: keep the /proc reads down
	cfg.GCInterval = time.Minute
	cfg.GCMaxAllocs = 10_000
	cfg.GCDiskUsageThreshold = 100
	cfg.GCInodeUsageThreshold = 100
	cfg.ACLEnabled = false
	cfg.NomadServiceDiscovery = true
	cfg.Artifact = &config.ArtifactConfig{HTTPReadTimeout: 5 * time.Second, HTTPMaxBytes: 1 << 20,
		GCSTimeout: 5 * time.Second, GitTimeout: 5 * time.Second, HgTimeout: 5 * time.Second, S3Timeout: 5 * time.Second}
	// The task API (a unix socket per task, served by the agent's HTTP server) has no server here: the
	// agent always sets this, and a task start dereferences it.
	cfg.APIListenerRegistrar = config.NoopAPIListenerRegistrar{}
	cfg.PluginLoader = plugins
	cfg.PluginSingletonLoader = plugins
	cfg.TLSConfig = &structsc.TLSConfig{}
	if o.ca != "" {
		cfg.TLSConfig = &structsc.TLSConfig{EnableRPC: true, EnableHTTP: true, VerifyServerHostname: true,
			CAFile: o.ca, CertFile: o.cert, KeyFile: o.key}
	}
	cfg.Node = &structs.Node{
		Datacenter: o.datacenter,
		Name:       name,
		NodeClass:  o.nodeClass,
		HTTPAddr:   "127.0.0.1:1", // nothing serves a simulated node's HTTP API
		TLSEnabled: o.ca != "",
		Meta:       map[string]string{"stampede_nodesim": "true"},
		// The agent always sets both (convertClientConfig); NewClient reads Reserved.DiskMB.
		Reserved:          &structs.Resources{},
		ReservedResources: &structs.NodeReservedResources{},
	}
	cfg.Node.Canonicalize()
	return cfg, nil
}

func run() error {
	o, err := parseFlags()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.dataDir, 0o750); err != nil {
		return fmt.Errorf("creating %s: %w", o.dataDir, err)
	}
	logf, err := os.Create(filepath.Join(o.dataDir, "clients.log"))
	if err != nil {
		return fmt.Errorf("creating the client log: %w", err)
	}
	defer logf.Close()
	logger := hclog.NewInterceptLogger(&hclog.LoggerOptions{
		Name: "nodesim", Level: hclog.LevelFromString(o.logLevel), Output: io.Writer(logf),
	})
	plugins, err := pluginLoader(logger)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var (
		mu      sync.Mutex
		clients []*client.Client
		ready   atomic.Int64
		wg      sync.WaitGroup
	)
	shutdown := func() {
		mu.Lock()
		defer mu.Unlock()
		var sw sync.WaitGroup
		for _, c := range clients {
			sw.Add(1)
			go func(c *client.Client) { defer sw.Done(); _ = c.Shutdown() }(c)
		}
		sw.Wait()
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / o.startRate)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	// NewClient blocks until the node's first fingerprints are in (~0.1 s): start nodes concurrently,
	// paced by -start-rate, at most 64 starting at a time.
	sem := make(chan struct{}, 64)
	errs := make(chan error, o.nodes)
	var started atomic.Int64
	var starting sync.WaitGroup
loop:
	for i := 0; i < o.nodes; i++ {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errs:
			errs <- err
			break loop
		case <-tick.C:
		}
		sem <- struct{}{}
		starting.Add(1)
		go func(i int) {
			defer starting.Done()
			defer func() { <-sem }()
			cfg, err := nodeConfig(o, i, logger, plugins)
			if err != nil {
				errs <- err
				return
			}
			c, err := client.NewClient(cfg, noConsul{}, noConsul{}, noConsul{}, nil)
			if err != nil {
				errs <- fmt.Errorf("starting node %s: %w", cfg.Node.Name, err)
				return
			}
			mu.Lock()
			clients = append(clients, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case <-c.Ready():
					ready.Add(1)
				case <-ctx.Done():
				}
			}()
			if n := started.Add(1); n%100 == 0 || int(n) == o.nodes {
				fmt.Printf("started %d/%d, %d contacted a server (%.1f s)\n", n, o.nodes, ready.Load(), time.Since(start).Seconds())
			}
		}(i)
	}
	starting.Wait()
	select {
	case err := <-errs:
		shutdown()
		return err
	default:
	}
	if ctx.Err() != nil {
		shutdown()
		return fmt.Errorf("interrupted while starting nodes (%d of %d started)", started.Load(), o.nodes)
	}
	wg.Wait()
	if ctx.Err() == nil {
		fmt.Printf("ready %d (%.1f s)\n", ready.Load(), time.Since(start).Seconds())
	}
	<-ctx.Done()
	fmt.Println("shutting down")
	shutdown()
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "stampede-nodesim: error: %v\n", err)
		os.Exit(1)
	}
}
