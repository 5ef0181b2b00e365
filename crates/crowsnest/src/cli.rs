//! Command-line flags. Every default is stated in the flag's help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Crowsnest: find what is installed in container and VM images, and what is wrong with it.
#[derive(Parser, Debug)]
#[command(name = "crowsnest", version, about, long_about = None)]
pub struct Cli {
    /// Flags shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// More log output on stderr (-v info, -vv debug, -vvv trace); CROWSNEST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command understands.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Where Crowsnest keeps its state (vulnerability database, store). Default:
    /// $XDG_DATA_HOME/crowsnest, else ~/.local/share/crowsnest.
    #[arg(long, env = "CROWSNEST_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// The vulnerability database file. Default: DATA_DIR/vulndb.sqlite.
    #[arg(long, env = "CROWSNEST_DB", global = true, value_name = "FILE")]
    pub db: Option<PathBuf>,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Scan an image archive, OCI layout or root directory and print its inventory.
    Scan(Box<ScanArgs>),
    /// Manage the vulnerability database (OSV records).
    #[command(subcommand)]
    Db(DbCommand),
    /// Measure scan speed and memory on an image against the gzip+sha256 floor.
    Bench(BenchArgs),
    /// Serve the HTTP API (Alibaba Cloud and Huawei Cloud operations) over the inventory store,
    /// with scan workers in-process.
    Serve(ServeArgs),
    /// Run scan workers that claim scan-task jobs from a shared store (PostgreSQL for several
    /// machines) until SIGINT or SIGTERM.
    Worker(WorkerArgs),
    /// Manage tenants (accounts) of the store.
    #[command(subcommand)]
    Tenants(TenantsCommand),
    /// Manage API access keys and tokens.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Developer tools.
    #[command(subcommand)]
    Dev(DevCommand),
    /// Connect, list, synchronise and remove container registries.
    #[command(subcommand)]
    Registry(crate::registry::RegistryCommand),
    /// VM disk images (raw, qcow2, vmdk): inspect, scan, import into the catalogue.
    #[command(subcommand)]
    Vm(VmCommand),
    /// Run the host agent: report this host's images, containers and pods to a server.
    Agent(crate::agent::AgentArgs),
}

/// Where the inventory store is.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// The store: a `postgres://user@host/db` URL, or a SQLite file path. Default: the SQLite
    /// file DATA_DIR/crowsnest.db, created on first start.
    #[arg(long, env = "CROWSNEST_DATABASE", value_name = "URL")]
    pub database: Option<String>,
}

/// `crowsnest serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CROWSNEST_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The directory `POST /api/v1/vm-images` imports disk images from (a request names a
    /// file inside it). Without it, imports through the API are refused.
    #[arg(long, env = "CROWSNEST_VM_IMPORT_DIR")]
    pub vm_import_dir: Option<PathBuf>,
    /// Where disk images uploaded to `POST /api/v1/vm-images` are kept, one directory per
    /// tenant. Default: DATA_DIR/vm-uploads.
    #[arg(long, env = "CROWSNEST_VM_UPLOAD_DIR")]
    pub vm_upload_dir: Option<PathBuf>,
    /// The heartbeat interval asked of host agents, seconds.
    #[arg(long, default_value_t = 30)]
    pub agent_heartbeat_secs: u64,
    /// A host agent with no heartbeat or report for this long is offline, seconds.
    #[arg(long, default_value_t = 90)]
    pub agent_offline_after_secs: u64,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Scan workers run in this process; 0 leaves the jobs to `crowsnest worker` processes.
    #[arg(long, env = "CROWSNEST_WORKERS", default_value_t = 2)]
    pub workers: usize,
    /// How often registries' cron schedules are checked, in seconds; 0 runs no scheduled syncs
    /// in this process. Several servers may share a store: each due run is claimed by one.
    #[arg(long, env = "CROWSNEST_SCHEDULE_TICK_SECS", default_value_t = 1.0)]
    pub schedule_tick_secs: f64,
    /// Worker timings.
    #[command(flatten)]
    pub timing: WorkerTiming,
}

/// `crowsnest worker`.
#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// The store holding the jobs (the server's; PostgreSQL when workers run on other machines).
    #[command(flatten)]
    pub store: StoreArgs,
    /// Workers (threads) in this process.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// This process's worker id, recorded as the lease owner; workers are ID-0, ID-1, ...
    /// Default: HOSTNAME-PID.
    #[arg(long)]
    pub id: Option<String>,
    /// Worker timings.
    #[command(flatten)]
    pub timing: WorkerTiming,
}

/// How workers time leases, retries and jobs (every default is the worker library's).
#[derive(Args, Debug, Clone)]
pub struct WorkerTiming {
    /// How long a job's lease lasts without a heartbeat, in seconds; a dead worker's job is
    /// claimed again after this.
    #[arg(long, default_value_t = 60.0)]
    pub lease_secs: f64,
    /// How often a running job's lease is renewed, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub heartbeat_secs: f64,
    /// How long an idle worker waits before looking for jobs again, in seconds.
    #[arg(long, default_value_t = 2.0)]
    pub poll_secs: f64,
    /// A job running longer fails with response_timed_out, in seconds.
    #[arg(long, default_value_t = 1800.0)]
    pub job_timeout_secs: f64,
    /// Claims a job gets before its failure is final.
    #[arg(long, default_value_t = 3)]
    pub max_attempts: i64,
    /// Wait before the first retry of a failed job, in seconds; doubled for each later retry.
    #[arg(long, default_value_t = 5.0)]
    pub backoff_secs: f64,
    /// Timeout of each registry request, in seconds.
    #[arg(long, default_value_t = 60.0)]
    pub registry_timeout_secs: f64,
    /// A task still unfinished this many seconds after its creation ends TIMEOUT.
    #[arg(long, default_value_t = 86400.0)]
    pub task_timeout_secs: f64,
    /// POST each finished task here as JSON, signed in X-Crowsnest-Signature (sha256=HMAC).
    #[arg(long, env = "CROWSNEST_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// The webhook's HMAC-SHA256 secret.
    #[arg(
        long,
        env = "CROWSNEST_WEBHOOK_SECRET",
        hide_env_values = true,
        default_value = ""
    )]
    pub webhook_secret: String,
}

/// `crowsnest tenants ...`.
#[derive(Subcommand, Debug)]
pub enum TenantsCommand {
    /// Create a tenant and print its id.
    Create(TenantCreateArgs),
}

/// `crowsnest tenants create`.
#[derive(Args, Debug)]
pub struct TenantCreateArgs {
    /// A unique display name.
    #[arg(long)]
    pub name: String,
    /// The cloud account id (Alibaba aliUid, Huawei domain id); unique.
    #[arg(long)]
    pub account_id: String,
    /// Huawei project ids that belong to this tenant (repeat or comma-separate).
    #[arg(long = "project-id", value_delimiter = ',')]
    pub project_ids: Vec<String>,
    /// The region the project ids are in.
    #[arg(long, default_value = "cn-north-4")]
    pub region: String,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `crowsnest keys ...`.
#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create an AccessKey pair for a tenant and print it (the secret is shown only once).
    Create(KeyCreateArgs),
    /// Create an X-Auth-Token for a tenant (Huawei token authentication) and print it.
    Token(TokenCreateArgs),
}

/// `crowsnest keys create`.
#[derive(Args, Debug)]
pub struct KeyCreateArgs {
    /// The tenant id (from `crowsnest tenants create`).
    #[arg(long)]
    pub tenant: i64,
    /// Actions the key may call, RAM style: `yundun-sas:DescribeImageInstances`,
    /// `yundun-sas:*`, `ecs:DescribeImages`, `hss:*`, or `*` (repeat or comma-separate).
    #[arg(long = "action", value_delimiter = ',', required = true)]
    pub actions: Vec<String>,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `crowsnest keys token`.
#[derive(Args, Debug)]
pub struct TokenCreateArgs {
    /// The tenant id.
    #[arg(long)]
    pub tenant: i64,
    /// Actions the token may call (as for keys).
    #[arg(long = "action", value_delimiter = ',', required = true)]
    pub actions: Vec<String>,
    /// Lifetime in hours.
    #[arg(long, default_value_t = 24)]
    pub hours: i64,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `crowsnest dev ...`.
#[derive(Subcommand, Debug)]
pub enum DevCommand {
    /// Fill the store with a synthetic inventory, for load tests.
    Seed(SeedArgs),
}

/// `crowsnest dev seed`.
#[derive(Args, Debug)]
pub struct SeedArgs {
    /// Images (each with one placement) to generate.
    #[arg(long, default_value_t = 1000)]
    pub images: u64,
    /// Tenants the images are dealt to.
    #[arg(long, default_value_t = 1)]
    pub tenants: u32,
    /// Hosts per tenant, each holding `--images-per-host` of the images locally
    /// (ListLocalImages).
    #[arg(long, default_value_t = 0)]
    pub hosts: u32,
    /// Local images per seeded host.
    #[arg(long, default_value_t = 100)]
    pub images_per_host: u32,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `crowsnest db ...`.
#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Import OSV records: a directory of JSON/YAML records, one record file, or an osv.dev
    /// `all.zip` per ecosystem. Replaces what an earlier import of the same path stored.
    Import(DbImportArgs),
    /// Download each ecosystem's `all.zip` and import the ones that changed (resumable).
    Update(DbUpdateArgs),
    /// Say what is loaded: records per ecosystem, sources, when.
    Status(DbStatusArgs),
    /// Match every stored inventory (`scan --save`) not yet matched against the current
    /// database, without reading the images again, and update its vulnerability counts.
    Rematch(DbRematchArgs),
}

/// `crowsnest db rematch`.
#[derive(Args, Debug)]
pub struct DbRematchArgs {
    /// The store holding the inventories.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Where new critical findings are announced.
    #[command(flatten)]
    pub webhook: WebhookArgs,
}

/// The webhook that hears of images with new CRITICAL findings after a re-match (the same
/// URL, secret and signature as `serve`'s and `worker`'s task webhook).
#[derive(Args, Debug, Clone, Default)]
pub struct WebhookArgs {
    /// POST each image with new CRITICAL findings here as JSON, signed in
    /// X-Crowsnest-Signature (sha256=HMAC).
    #[arg(long, env = "CROWSNEST_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// The webhook's HMAC-SHA256 secret.
    #[arg(
        long,
        env = "CROWSNEST_WEBHOOK_SECRET",
        hide_env_values = true,
        default_value = ""
    )]
    pub webhook_secret: String,
}

/// `crowsnest db import`.
#[derive(Args, Debug)]
pub struct DbImportArgs {
    /// Paths to import, in order.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The store whose saved inventories are re-matched once the import is done (skipped
    /// when the default store does not exist yet).
    #[command(flatten)]
    pub store: StoreArgs,
    /// Where new critical findings the re-match finds are announced.
    #[command(flatten)]
    pub webhook: WebhookArgs,
}

/// `crowsnest db update`.
#[derive(Args, Debug)]
pub struct DbUpdateArgs {
    /// Where the archives are: `<BASE>/<Ecosystem>/all.zip`. Default: osv.dev's public bucket.
    #[arg(long, env = "CROWSNEST_OSV_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,
    /// Ecosystems to download (repeat or comma-separate). Default: the OS distributions and
    /// language ecosystems Crowsnest catalogs.
    #[arg(long = "ecosystem", value_delimiter = ',', value_name = "NAME")]
    pub ecosystems: Vec<String>,
    /// Never show a progress bar (it is shown on a terminal by default).
    #[arg(long)]
    pub no_progress: bool,
    /// The store whose saved inventories are re-matched once the update is done (skipped
    /// when the default store does not exist yet).
    #[command(flatten)]
    pub store: StoreArgs,
    /// Where new critical findings the re-match finds are announced.
    #[command(flatten)]
    pub webhook: WebhookArgs,
}

/// `crowsnest db status`.
#[derive(Args, Debug)]
pub struct DbStatusArgs {
    /// Output format: table or json.
    #[arg(short, long, default_value = "table")]
    pub format: String,
}

/// `crowsnest scan`.
#[derive(Args, Debug)]
pub struct ScanArgs {
    /// The image: an OCI layout directory, an oci-archive or docker-archive tar (plain, gzip
    /// or zstd), optionally followed by `:TAG` to pick one image among several; or a registry
    /// image `REGISTRY/REPO[:TAG][@DIGEST]` (also `docker://…`), streamed without a local copy.
    #[arg(required_unless_present = "rootfs", conflicts_with = "rootfs")]
    pub image: Option<String>,
    /// Scan a directory holding a root filesystem instead (e.g. `/`).
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
    /// Output format: table, json, cyclonedx, spdx, sarif.
    #[arg(short, long, default_value = "table")]
    pub format: String,
    /// Write the report to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Stop with image_oversized when the layers unpack to more than this many bytes.
    #[arg(long, default_value_t = 8 << 30, value_name = "BYTES")]
    pub max_unpacked_bytes: u64,
    /// Never show a progress bar (it is shown on a terminal by default).
    #[arg(long)]
    pub no_progress: bool,
    /// Only report vulnerabilities of these severities (comma-separated: UNKNOWN, LOW, MEDIUM,
    /// HIGH, CRITICAL). Default: all.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub severity: Vec<String>,
    /// Exit with this code when any reported vulnerability remains (a CI gate). Default 0.
    #[arg(long, default_value_t = 0, value_name = "CODE")]
    pub exit_code: u8,
    /// List packages only: do not match against the vulnerability database.
    #[arg(long)]
    pub skip_db: bool,
    /// Pulling from a registry (`crowsnest scan REGISTRY/REPO:TAG`).
    #[command(flatten)]
    pub registry: crate::registry::PullArgs,
    /// Also store the inventory and its vulnerability counts under the image's digest, so
    /// `db update`/`db import`/`db rematch` re-match it later without the image.
    #[arg(long)]
    pub save: bool,
    /// The store `--save` writes to.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Which analyzers run and their settings.
    #[command(flatten)]
    pub analyzers: AnalyzerArgs,
}

/// The analyzers `crowsnest scan` and `crowsnest vm scan` run, and their settings.
#[derive(Args, Debug)]
pub struct AnalyzerArgs {
    /// The analyses to run (comma-separated): vuln (packages against the vulnerability
    /// database), baseline (unsafe image settings), secret (credentials in files), malware
    /// (YARA rules and a SHA-256 blocklist). Default: all four.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "LIST",
        default_value = "vuln,baseline,secret,malware"
    )]
    pub scanners: Vec<String>,
    /// A directory of your own YARA rules (*.yar, *.yara, searched recursively), compiled
    /// beside the bundled webshell and test-signature rules (repeat for several).
    #[arg(long = "yara-rules", value_name = "DIR")]
    pub yara_rules: Vec<PathBuf>,
    /// A file of SHA-256 digests of malicious files, one `HEX description` a line, added to
    /// the bundled blocklist (repeat for several).
    #[arg(long = "malware-blocklist", value_name = "FILE")]
    pub malware_blocklist: Vec<PathBuf>,
    /// Files larger than this are not scanned for malware.
    #[arg(long, default_value_t = 32 << 20, value_name = "BYTES")]
    pub malware_max_file_bytes: u64,
    /// Do not look for secrets in paths matching GLOB (`srv/fixtures/**`), or, as RULE=GLOB,
    /// not for that rule there (`jwt=srv/web/**`). Adds to the default allowlist (docs,
    /// licences, certificates, packages' test fixtures). Repeat for several.
    #[arg(long = "secret-allow", value_name = "[RULE=]GLOB")]
    pub secret_allow: Vec<String>,
    /// Do not run this secret rule at all (repeat for several).
    #[arg(long = "secret-skip-rule", value_name = "RULE")]
    pub secret_skip_rule: Vec<String>,
    /// Only the first BYTES of each file are searched for secrets.
    #[arg(long, default_value_t = 2 << 20, value_name = "BYTES")]
    pub secret_max_file_bytes: u64,
}

/// `crowsnest bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The image to scan (default: the shared fixture acme-shop.oci.tar beside the repository).
    pub image: Option<String>,
    /// How many timed runs (after one warm-up run).
    #[arg(long, default_value_t = 5)]
    pub runs: u32,
}

/// `crowsnest vm ...`.
#[derive(Subcommand, Debug)]
pub enum VmCommand {
    /// Print what a disk image holds (OS, architecture, boot mode, drivers, checks) as JSON.
    Inspect(VmInspectArgs),
    /// Scan a disk image's root filesystem and print its inventory (like `crowsnest scan`).
    Scan(VmScanArgs),
    /// Import a disk image as a custom image of a tenant (ECS DescribeImages serves it).
    Import(VmImportArgs),
}

/// `crowsnest vm inspect`.
#[derive(Args, Debug)]
pub struct VmInspectArgs {
    /// The disk image file (raw, qcow2 or monolithicSparse vmdk; a qcow2 backing file is opened beside it).
    pub image: PathBuf,
}

/// `crowsnest vm scan`.
#[derive(Args, Debug)]
pub struct VmScanArgs {
    /// The disk image file (raw, qcow2 or monolithicSparse vmdk).
    pub image: PathBuf,
    /// Output format: table, json, cyclonedx, spdx, sarif.
    #[arg(short, long, default_value = "table")]
    pub format: String,
    /// List packages only: do not match against the vulnerability database.
    #[arg(long)]
    pub skip_db: bool,
    /// Which analyzers run and their settings (as `crowsnest scan`).
    #[command(flatten)]
    pub analyzers: AnalyzerArgs,
}

/// `crowsnest vm import`.
#[derive(Args, Debug)]
pub struct VmImportArgs {
    /// The disk image file (raw, qcow2 or monolithicSparse vmdk).
    pub image: PathBuf,
    /// The image name.
    #[arg(long)]
    pub name: String,
    /// The owning tenant id.
    #[arg(long)]
    pub tenant: i64,
    /// The region the image is listed in.
    #[arg(long, default_value = "cn-hangzhou")]
    pub region: String,
    /// The image id (default: a fresh `m-…`).
    #[arg(long)]
    pub image_id: Option<String>,
    /// A description.
    #[arg(long, default_value = "")]
    pub description: String,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}
