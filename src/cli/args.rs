//! The argument grammar (clap derive): subcommands, flags, help text and examples.
//! Knob values stay strings here and are parsed in `knobs`, so a bad value is one line
//! naming the flag, the same whether it came from a flag or from `--vary`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// What `-t` counts in `dpukit accel`.
macro_rules! accel_time_notes {
    () => {
        "-t SECONDS is time-based, after --warmup SECONDS that are not counted, on each side's own clock: \
         the wall clock on the host side and on a measured device (--device thread, process:, dpdk:); \
         on the simulator (--device sim, the default, and sim-paced) the offload layer's host clock, which \
         is measured host time plus waits for completions the simulator models, so there it counts \
         modelled seconds, not wall time (the simulator is slower or faster than the device it models). \
         --max-wall bounds the wall time of the offload side; the result says which limit ended it."
    };
}

/// Appended to the long help of every command that takes knobs.
macro_rules! knob_notes {
    () => {
        "\n\nSizes take a binary suffix, powers of 1024: 512, 4k, 64KiB, 1m, 1MiB, 1g, 1GiB.\n\
         Knob names follow fio (--bs, --iodepth, --size, --numjobs) and accel_perf (-w, -q, -o, -y). \
         accel_perf's -t (run for N seconds) is not supported: a run moves a fixed number of bytes \
         (--size per node), so results of the two modes cover the same work; `dpukit accel` runs one op \
         for a time."
    };
}

#[derive(Debug, Parser)]
#[command(
    name = "dpukit",
    version,
    about = "Run storage scenarios host-only and offloaded to a simulated DPU, and compare them",
    long_about = "Run storage scenarios host-only and offloaded to a simulated DPU, and compare them.\n\n\
        Every figure in a result is either measured on this machine or modelled by the simulator's \
        timing model for a hardware profile, and every report says which.\n\n\
        Scenarios: fan-out-write (checkpoint), fan-out-read (model broadcast), fan-in-read (gather), \
        kv-cache (inference KV cache).",
    after_help = "Examples:\n  dpukit compare fan-out-write --profile bluefield-3 --size 256m\n  \
        dpukit run kv-cache --mode offload --out kv.json\n  \
        dpukit sweep fan-out-write --vary chunk=64k,1m --vary profile=bluefield-2,bluefield-3\n  \
        dpukit profiles show bluefield-2\n  dpukit report dpukit-out/comparison.json --format html --out r.html\n  \
        dpukit validate --quick"
)]
pub struct Cli {
    /// Print no progress and no status lines (results still go to stdout and files)
    #[arg(long, global = true)]
    pub quiet: bool,
    /// Log what the run does on stderr: -v each phase and blob-tier retry, -vv each node
    /// (RUST_LOG, e.g. RUST_LOG=dpukit_host=debug, overrides it); warnings show without it
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one scenario in one mode and write its JSON result
    #[command(
        long_about = concat!(
            "Run one scenario in one mode (host or offload) and write its JSON result.\n\n\
            Prints a short table (every figure tagged [meas] or [model]) and writes the result to \
            dpukit-result.json or the --out path.",
            knob_notes!()
        ),
        after_help = "Example:\n  dpukit run fan-out-write --mode offload --profile bluefield-3 --nodes 8 --size 256m --chunk 1m --out bf3.json\n  \
            dpukit run fan-out-read --mode offload --scale --nodes 10000 --size 10g --chunk 1m --calibration dpukit-calibration.json"
    )]
    Run(RunArgs),
    /// Run host and offload mode on the same seed and compare them side by side
    #[command(
        long_about = concat!(
            "Run host mode and offload mode on the same seed and put them side by side: \
            throughput, latency p50/p99/p99.9, host CPU-ns per byte and host cores freed, modelled DPU \
            utilization per resource and the bottleneck, verification, fallbacks, simulator lag.\n\n\
            Writes comparison.json, comparison.csv and report.html (a self-contained page with charts) \
            into the out directory (./dpukit-out/ by default).",
            knob_notes!()
        ),
        after_help = "Example:\n  dpukit compare fan-out-read --profile bluefield-2 --nodes 4 --size 128m --no-peers --out-dir out/\n  \
            dpukit compare fan-out-read --scale --nodes 4096 --size 140g --calibration dpukit-calibration.json"
    )]
    Compare(CompareArgs),
    /// Run the cross product of varied knobs and chart it
    #[command(
        long_about = concat!(
            "Run the cross product of the --vary lists, in host mode, offload mode or both, \
            and write sweep.json, sweep.csv, sweep.svg and sweep.html into the out directory.\n\n\
            Knobs that can vary: chunk (bs), size, nodes (numjobs), queue-depth (iodepth, qd), batch, \
            compress, compressibility, skew, cache-chunks, readers, seed, kv-requests, shift, profile. \
            At most 256 runs.",
            knob_notes!()
        ),
        after_help = "Example:\n  dpukit sweep fan-out-write --size 64m --vary chunk=4k,64k,1m --vary profile=bluefield-2,bluefield-3 --mode both\n  \
            dpukit sweep fan-out-read --scale --size 10g --vary nodes=16,128,1024,10000 --calibration dpukit-calibration.json"
    )]
    Sweep(SweepArgs),
    /// One op at a time, host CPU and offload side by side, in accel_perf's terms
    #[command(
        long_about = concat!(
            "Run one op (copy, crc32c, copy_crc32c, compress, decompress, lookup, insert, or user:NAME, \
            the op of the C kernel plugin given with --plugin) at one transfer size and queue depth for a \
            time, on this machine's CPU and offloaded to --device (the simulated device of --profile by \
            default; thread, sim-paced, process:CMD or dpdk:PMD as in `dpukit run`), and print accel_perf's summary (per thread: transfers/s, bandwidth, failed, \
            miscompares) for each side, with latency p50/p99/p99.9, host CPU per op, the host's own cost of \
            offloading (prepare, submit, poll; ns and TSC cycles), device utilisation per resource and the \
            bottleneck. Every figure is tagged [meas] or [model].\n\n",
            accel_time_notes!(),
            "\n\nWrites the JSON result to --out. With --vary, runs the cross product of the lists (as \
            `dpukit sweep accel`) and writes accel-sweep.json and accel-sweep.csv into --out-dir."
        ),
        after_help = "Examples:\n  dpukit accel -w crc32c -o 4k -q 32 -t 2 --profile bluefield-3\n  \
            dpukit accel -w compress --algorithm gzip -l 1 -q 1 --profile intel-dsa-iaa --vary o=4k,16k\n  \
            dpukit accel -w decompress --algorithm zstd -l 3 --input shard.bin --mode host -T 2\n  \
            dpukit accel -w copy_crc32c -C 4 -o 16k -y --output-format json\n  \
            dpukit accel -w compress --algorithm gzip -l 1 -y --device thread\n  \
            dpukit accel -w user:cipher --plugin ./libcipher.so --plugin-arg 90 --profile bf3-cipher.toml -y"
    )]
    Accel(AccelArgs),
    /// Measure this machine's host-side costs for scale mode and save them as JSON
    #[command(
        long_about = "Measure what the host side of the data path costs on this machine: CPU-ns per byte of \
            each kernel (CRC32C, every codec, the data generator, memcpy) at two buffer sizes, per-job \
            overheads of the offload layer, local-tier writes (with fdatasync) and reads, blob-tier GET \
            (one, and a reader's batch at once) and PUT, manifest appends, and how many cores the machine really gives. Takes a few seconds. \
            Scale mode (`run --scale`, `compare --scale`, `sweep --scale`) reads the file with \
            --calibration, and records it in every result. With --device-profile it measures instead the \
            kernels as the dedicated-thread device (`--device thread`) runs them, and writes the \
            `host-cores` profile that models that device, every figure measured by this run.",
        after_help = "Example:\n  dpukit calibrate --out dpukit-calibration.json\n  \
            dpukit run fan-out-read --scale --nodes 4096 --size 140g --calibration dpukit-calibration.json\n  \
            dpukit calibrate --device-profile host-thread.toml\n  \
            dpukit compare fan-out-write --device thread"
    )]
    Calibrate(CalibrateArgs),
    /// Hold scale mode against live runs on this machine: both figures per case and their difference
    #[command(
        long_about = "Run each case (a scenario on 1, 2 or 4 nodes of this machine, in host or offload mode) \
            live and in scale mode, in rounds: live runs of every case, a fresh calibration and every case \
            modelled from it, live runs again. Prints per case the live throughput [meas], the modelled one \
            [model], their difference and the load the rest of the machine put on it during the live runs, \
            then the mean difference against the goal (10 %; each case within 20 %), and writes it all as \
            JSON (every round's calibration figures and load included). Cases outside the goal are measured \
            again in extra rounds while it would fail. Exits with status 1 when it fails.\n\n\
            Run it on an otherwise idle machine, in the build you care about (a debug build compares debug \
            kernels with debug kernels): other work during the live runs or the calibration moves the figures. \
            The full case list takes about 5 minutes in a debug build; --quick takes 4 cases and 2 rounds.",
        after_help = "Example:\n  dpukit validate --quick\n  \
            dpukit validate --rounds 6 --scenario fan-out-read,fan-in-read --out validation.json"
    )]
    Validate(ValidateArgs),
    /// List, show or check hardware profiles
    #[command(
        long_about = "List the shipped hardware profiles, show every figure of one with its source and \
            confidence (measured, vendor, derived, assumed), or check a profile file.",
        after_help = "Examples:\n  dpukit profiles list\n  dpukit profiles show bluefield-3\n  dpukit profiles check my-dpu.toml"
    )]
    Profiles {
        #[command(subcommand)]
        action: ProfilesAction,
    },
    /// List the named workload presets (MLPerf Storage checkpoints, a model broadcast)
    #[command(
        long_about = "List the named workloads that --preset takes: the scenario, node count and size per \
            node at their published full size, with the source of the figures. A live run scales a preset \
            down to at most 8 nodes and 64 MiB per node and prints the factor; --scale runs it full size.",
        after_help = "Example:\n  dpukit presets\n  dpukit compare --preset mlperf-ckpt-70b\n  \
            dpukit compare --preset mlperf-ckpt-70b --scale --calibration dpukit-calibration.json"
    )]
    Presets,
    /// Resume an interrupted blob copy from the manifests of a fan-out write
    #[command(
        long_about = "Resume the copy of a fan-out write to its blob tier after it failed or was killed: \
            for every run directory under --work-dir (each holds blob-tier.json), read the chunks its nodes \
            acknowledged but never marked copied back from their local tier, verify each against its \
            manifest CRC32C, upload it and mark it copied. Chunks already marked copied are not uploaded \
            again. The tier is the one the run recorded unless --blob names another (the run's own \
            <scenario>-<mode>-seed<seed> part is appended).",
        after_help = "Example:\n  dpukit run fan-out-write --mode host --work-dir ckpt --blob azure://ckpt/runs\n  \
            dpukit copy --work-dir ckpt"
    )]
    Copy(CopyArgs),
    /// Render result files as a table, CSV, SVG or HTML
    #[command(
        long_about = "Render one or more result files (from run, compare or sweep) as a terminal table, \
            CSV (one row per run), an SVG chart or a self-contained HTML page. Writes to stdout, or to --out.",
        after_help = "Example:\n  dpukit report host.json offload.json --format csv --out runs.csv"
    )]
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Where to write the calibration
    #[arg(long, value_name = "FILE.json", default_value = "dpukit-calibration.json")]
    pub out: PathBuf,
    /// Directory to measure the local and blob tiers in (the system temp dir by default)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Instead of the calibration: write the profile that models `--device thread` on this
    /// machine (a `host-cores` profile, every figure measured by this run)
    #[arg(long, value_name = "OUT.toml", conflicts_with_all = ["out", "dir"])]
    pub device_profile: Option<PathBuf>,
    /// With --device-profile: the device to measure instead of `thread`: `dpdk:PMD` writes
    /// the `on-cpu-accelerator` profile of that compressdev device (needs the `dpdk` feature).
    /// Example: --device-profile compress-isal.toml --device dpdk:compress_isal
    #[arg(long, value_name = "SPEC", requires = "device_profile")]
    pub device: Option<dpukit_host::device::DeviceChoice>,
    /// With --device dpdk:PMD: DPDK's EAL arguments (as `run --dpdk-eal`)
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true, requires = "device")]
    pub dpdk_eal: Option<String>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Four cases (one per scenario, both modes) and 2 rounds, instead of ten cases and 4 rounds
    #[arg(long)]
    pub quick: bool,
    /// Rounds over every case [default: 4, --quick 2]
    #[arg(long, value_name = "N")]
    pub rounds: Option<String>,
    /// Extra rounds for the cases outside the goal while it would fail [default: 2, --quick 1]
    #[arg(long, value_name = "N")]
    pub remeasure: Option<String>,
    /// Only these scenarios' cases: fan-out-read, fan-out-write, fan-in-read (repeat or comma-separate)
    #[arg(long, value_name = "SCENARIO", value_delimiter = ',')]
    pub scenario: Vec<String>,
    /// Bytes per node of every case (object or shard); powers of 1024 [default: 16m]
    #[arg(long, value_name = "SIZE")]
    pub size: Option<String>,
    /// Chunk size of every case; powers of 1024 [default: 1m]
    #[arg(long, value_name = "SIZE")]
    pub chunk: Option<String>,
    /// Hardware profile of the offload cases: a shipped name or a TOML path [default: bluefield-2]
    #[arg(long, value_name = "NAME|PATH")]
    pub profile: Option<String>,
    /// Where to write the JSON
    #[arg(long, value_name = "FILE.json", default_value = "dpukit-validation.json")]
    pub out: PathBuf,
    /// Instead of scale mode: hold this device against its model. `thread`: fan-out write and
    /// fan-in read on one node, with the kernels on a dedicated host thread (measured) and
    /// with the simulator running the host-cores profile of that thread (modelled; measured
    /// each round by `calibrate --device-profile`, or --profile PATH.toml) [default rounds: 3,
    /// size 64m]. `dpdk:PMD` (feature `dpdk`): fan-out write with gzip on one node through
    /// that compressdev device (measured) and through the simulator with its profile
    /// (modelled; measured each round by `calibrate --device-profile --device dpdk:PMD`, or
    /// --profile PATH.toml), goal 15 %
    #[arg(long, value_name = "thread|dpdk:PMD", conflicts_with_all = ["quick", "remeasure"])]
    pub device: Option<String>,
    /// With --device dpdk:PMD: DPDK's EAL arguments (as `run --dpdk-eal`)
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true, requires = "device")]
    pub dpdk_eal: Option<String>,
}

/// Scale mode: a discrete-event model of the scenario on a cluster, instead of a live run.
#[derive(Debug, Args)]
#[command(next_help_heading = "Scale mode")]
pub struct ScaleArgs {
    /// Model the scenario as a discrete-event simulation of a cluster (up to 100,000 nodes)
    /// instead of running it live; host-side costs come from a calibration of this machine
    #[arg(long)]
    pub scale: bool,
    /// Calibration file from `dpukit calibrate` (without it, a quick calibration runs first)
    #[arg(long, value_name = "FILE.json", requires = "scale")]
    pub calibration: Option<PathBuf>,
    /// Put every node on this machine (shared cores and local tier, no network), as a live run does
    #[arg(long, requires = "scale")]
    pub colocated: bool,
    /// NIC bandwidth per node and direction, Gb/s [default: the profile's network, else 100]
    #[arg(long, value_name = "GBIT", requires = "scale")]
    pub nic_gbps: Option<f64>,
    /// Blob tier aggregate bandwidth, GB/s [default: 100]
    #[arg(long, value_name = "GBYTE", requires = "scale")]
    pub blob_gbps: Option<f64>,
    /// Blob tier latency per request, microseconds [default: 5000]
    #[arg(long, value_name = "US", requires = "scale")]
    pub blob_latency_us: Option<u64>,
    /// Fabric oversubscription (1 = non-blocking) [default: 1]
    #[arg(long, value_name = "RATIO", requires = "scale")]
    pub oversubscription: Option<f64>,
    /// Host cores per node [default: this machine's]
    #[arg(long, value_name = "N", requires = "scale")]
    pub host_cores: Option<u32>,
    /// Chunks per event (batching; default: the fewest that keep the run near 40 M events)
    #[arg(long, value_name = "N", requires = "scale")]
    pub chunks_per_event: Option<u32>,
}

/// How far the modelled figures depend on the profile's figures.
#[derive(Debug, Args)]
#[command(next_help_heading = "Sensitivity")]
pub struct SensitivityArgs {
    /// Perturb each profile figure the run used, one at a time, and rank them by how far they
    /// move throughput, speedup, p99 and cores freed: off, top (tables show the top 3, the JSON
    /// all) or all (every figure of the profile, used or not) [default: top with --scale or
    /// --sensitivity-calibration; otherwise off for a live compare, whose sensitivity needs a
    /// calibration of this machine first, about 10 s]
    #[arg(long, value_enum, value_name = "off|top|all")]
    pub sensitivity: Option<SensitivityArg>,
    /// Size of each perturbation, percent of the figure (whole-number figures take the nearest
    /// valid neighbour) [default: 25]
    #[arg(long, value_name = "PCT")]
    pub sensitivity_pct: Option<f64>,
    /// Live compare: the calibration file (from `dpukit calibrate`) scale mode uses to model the
    /// sensitivity; turns it on. Without it, --sensitivity top|all calibrates this machine first
    #[arg(long, value_name = "FILE.json")]
    pub sensitivity_calibration: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SensitivityArg {
    Off,
    Top,
    All,
}

#[derive(Debug, Subcommand)]
pub enum ProfilesAction {
    /// List the shipped profiles
    #[command(after_help = "Example:\n  dpukit profiles list")]
    List,
    /// Show every figure of a profile with its source and confidence, and the counts by confidence
    #[command(
        long_about = "Show every figure of a profile with its source and confidence (measured, vendor, \
            derived, assumed) and how many figures have each. With --scenario, also which figures \
            matter for that scenario (at its default knobs): those of the device resources and op \
            kinds it uses, ranked by how far ±25 % on each moves the modelled device time per chunk.",
        after_help = "Example:\n  dpukit profiles show bluefield-2\n  dpukit profiles show ./my-dpu.toml\n  \
            dpukit profiles show bluefield-3 --scenario fan-out-write"
    )]
    Show {
        /// A shipped profile name or a path to a profile TOML file
        #[arg(value_name = "NAME|PATH")]
        name: String,
        /// fan-out-write, fan-out-read, fan-in-read or kv-cache: list the figures that matter for it
        #[arg(long, value_name = "SCENARIO")]
        scenario: Option<String>,
    },
    /// Load and validate a profile file
    #[command(after_help = "Example:\n  dpukit profiles check ./my-dpu.toml")]
    Check {
        #[arg(value_name = "PATH")]
        path: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Host,
    Offload,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IoEngineArg {
    #[value(name = "io_uring")]
    IoUring,
    Psync,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SweepMode {
    Host,
    Offload,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
    Svg,
    Html,
}

/// What `run`, `compare` and `sweep` print on stdout (fio's --output-format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
}

/// Repetitions of each run.
#[derive(Debug, Args)]
#[command(next_help_heading = "Repeats")]
pub struct RepeatArgs {
    /// Run each run N times on the same seed, each with fresh state (new run directory,
    /// blob-tier part, devices and the kit's caches; not the OS page cache), and report every
    /// figure's median, min, max and spread; compare states the speedup's range [default: 1].
    /// Example: --repeat 5
    #[arg(long, value_name = "N")]
    pub repeat: Option<String>,
}

/// What a run prints and which latency percentiles it reports.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// What to print on stdout (fio --output-format): table, the JSON result, or CSV (one
    /// row per run); the files are written either way. Example: --output-format json | jq .throughput
    #[arg(long, value_enum, value_name = "table|json|csv", default_value = "table")]
    pub output_format: OutputFormat,
    /// Latency percentiles to report, `:`-separated, 0..=100, at most 20 (fio
    /// --percentile_list) [default: 1:5:10:20:30:40:50:60:70:80:90:95:99:99.5:99.9:99.95:99.99].
    /// Example: --percentile-list 50:90:99:99.9
    #[arg(long, value_name = "P1:P2:...")]
    pub percentile_list: Option<String>,
    /// Record a timeline: per interval of each node's clock (wall clock in host mode, the
    /// modelled host clock in offload mode) bytes, ops, latency p50/p99 and host CPU, per node
    /// and in total, into the JSON, a timeline CSV and the HTML chart (fio's bandwidth logs);
    /// 1ms..=1h. Example: --log-interval 100ms
    #[arg(long, value_name = "DURATION")]
    pub log_interval: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// host: the CPU runs every kernel (all measured); offload: kernels go to the simulated DPU
    #[arg(long, value_enum, value_name = "host|offload")]
    pub mode: ModeArg,
    /// Run as one node per MPI rank (implied when started by mpirun or srun); needs a build
    /// with `--features mpi`
    #[arg(long)]
    pub mpi: bool,
    /// Where to write the JSON result
    #[arg(long, value_name = "FILE.json", default_value = "dpukit-result.json")]
    pub out: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub repeat: RepeatArgs,
    #[command(flatten)]
    pub scale: ScaleArgs,
    // Last, so the options above keep the default heading.
    #[command(flatten)]
    pub knobs: Knobs,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Directory for comparison.json, comparison.csv and report.html (created if missing)
    #[arg(long, value_name = "DIR", default_value = "dpukit-out")]
    pub out_dir: PathBuf,
    /// Run as one node per MPI rank (implied when started by mpirun or srun); needs a build
    /// with `--features mpi`
    #[arg(long)]
    pub mpi: bool,
    #[command(flatten)]
    pub sensitivity: SensitivityArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub repeat: RepeatArgs,
    #[command(flatten)]
    pub scale: ScaleArgs,
    // Last, so the options above keep the default heading.
    #[command(flatten)]
    pub knobs: Knobs,
}

#[derive(Debug, Args)]
#[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
pub struct SweepArgs {
    /// `sweep accel ...`: vary the knobs of `dpukit accel` instead of a scenario's
    #[command(subcommand)]
    pub target: Option<SweepTarget>,
    /// KNOB=V1,V2,...: a knob and its values; repeat for a cross product
    #[arg(long, value_name = "KNOB=V1,V2", required = true)]
    pub vary: Vec<String>,
    /// Which modes to run at each point
    #[arg(long, value_enum, default_value = "both")]
    pub mode: SweepMode,
    /// Directory for sweep.json, sweep.csv, sweep.svg and sweep.html (created if missing)
    #[arg(long, value_name = "DIR", default_value = "dpukit-out")]
    pub out_dir: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub repeat: RepeatArgs,
    #[command(flatten)]
    pub scale: ScaleArgs,
    // Last, so the options above keep the default heading.
    #[command(flatten)]
    pub knobs: Knobs,
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The --work-dir of the interrupted run (or one run directory in it)
    #[arg(long, value_name = "DIR", required = true)]
    pub work_dir: PathBuf,
    #[command(flatten)]
    pub blob: BlobArgs,
}

/// Where the blob tier is and how it is reached. Credentials come from the environment
/// (Azure: AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY, AZURE_STORAGE_SAS_KEY,
/// or a managed identity; S3: AWS_ACCESS_KEY_ID with AWS_SECRET_ACCESS_KEY, a session token,
/// a role), never from flags.
#[derive(Debug, Clone, Args, Default, PartialEq, Eq)]
#[command(next_help_heading = "Blob tier")]
pub struct BlobArgs {
    /// The blob tier: a directory (a mounted file system too), file:///ABS/PATH,
    /// azure://CONTAINER[/PREFIX] or s3://BUCKET[/PREFIX]
    /// [default: blob/ in the run's directory]; a run keeps its objects under
    /// <scenario>-<mode>-seed<seed>/ there
    #[arg(long, value_name = "URL")]
    pub blob: Option<String>,
    /// The service is an emulator: Azurite at --blob-endpoint, else AZURITE_BLOB_STORAGE_URL,
    /// else http://127.0.0.1:10000 (also on with AZURE_STORAGE_USE_EMULATOR=true); for s3://,
    /// an S3 emulator at --blob-endpoint. The result marks its figures as an emulator's
    #[arg(long)]
    pub blob_emulator: bool,
    /// Blob service endpoint: the emulator's URL, an Azure account URL instead of
    /// https://ACCOUNT.blob.core.windows.net, or an S3-compatible service's URL (AIStore,
    /// MinIO, a JuiceFS or Alluxio S3 gateway; else AWS_ENDPOINT_URL, else AWS S3)
    #[arg(long, value_name = "URL")]
    pub blob_endpoint: Option<String>,
    /// S3 region [default: AWS_REGION, else us-east-1]
    #[arg(long, value_name = "REGION")]
    pub blob_region: Option<String>,
    /// S3 addressing: path (ENDPOINT/BUCKET/KEY) or virtual-hosted (BUCKET.ENDPOINT/KEY)
    /// [default: path with --blob-endpoint, virtual-hosted on AWS]
    #[arg(long, value_name = "path|virtual-hosted")]
    pub blob_addressing: Option<String>,
    /// Objects at least this large are uploaded in parts (Put Block / Put Block List) [default: 16m]
    #[arg(long, value_name = "SIZE")]
    pub blob_multipart_threshold: Option<String>,
    /// Part size of a multipart upload [default: 8m]
    #[arg(long, value_name = "SIZE")]
    pub blob_part_size: Option<String>,
    /// Parts of one multipart upload in flight [default: 4]
    #[arg(long, value_name = "N")]
    pub blob_part_concurrency: Option<String>,
    /// Chunks the background copy uploads at once [default: 4]
    #[arg(long, value_name = "N")]
    pub blob_upload_concurrency: Option<String>,
    /// Chunks a reader fetches from the blob tier at once [default: 4]
    #[arg(long, value_name = "N")]
    pub blob_read_concurrency: Option<String>,
    /// Retries of a request after a transient error [default: 3]
    #[arg(long, value_name = "N")]
    pub blob_retries: Option<String>,
    /// No retry starts after this long, e.g. 10s, 500ms [default: 10s]
    #[arg(long, value_name = "DURATION")]
    pub blob_retry_timeout: Option<String>,
    /// Timeout of one request [default: 30s]
    #[arg(long, value_name = "DURATION")]
    pub blob_timeout: Option<String>,
    /// Connection timeout [default: 5s]
    #[arg(long, value_name = "DURATION")]
    pub blob_connect_timeout: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Result files written by run, compare or sweep
    #[arg(value_name = "RESULT.json", required = true)]
    pub files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write here instead of stdout
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The scenario and its knobs. Names follow fio and accel_perf where the meaning is the
/// same. accel_perf's -t (seconds) has no equivalent: a run moves a fixed number of bytes
/// (--size per node), so it is refused with a hint rather than silently ignored.
#[derive(Debug, Args)]
#[command(next_help_heading = "Scenario knobs")]
pub struct Knobs {
    /// fan-out-write (default), fan-out-read, fan-in-read or kv-cache
    #[arg(value_name = "SCENARIO")]
    pub scenario: Option<String>,
    /// The scenario, as accel_perf's -w workload
    #[arg(short = 'w', long = "workload", value_name = "SCENARIO", conflicts_with = "scenario")]
    pub workload: Option<String>,
    /// A scenario as TOML (examples/*.toml); flags given on the command line override it
    #[arg(long, value_name = "FILE.toml")]
    pub scenario_file: Option<PathBuf>,
    /// A named workload at its published size (see `dpukit presets`); live runs scale it down
    /// and say by how much, --scale runs it full size; flags given beside it override it
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// Hardware profile: a shipped name (see `dpukit profiles list`) or a TOML path [default: bluefield-2]
    #[arg(long, value_name = "NAME|PATH")]
    pub profile: Option<String>,
    /// Simulated nodes (fio --numjobs)
    #[arg(long, visible_alias = "numjobs", value_name = "N")]
    pub nodes: Option<String>,
    /// Shard size per node (writes) or object size (reads) (fio --size); powers of 1024
    #[arg(long, value_name = "SIZE")]
    pub size: Option<String>,
    /// Chunk size (fio --bs, accel_perf -o transfer size); powers of 1024
    #[arg(long, short = 'o', visible_alias = "bs", value_name = "SIZE")]
    pub chunk: Option<String>,
    /// Descriptors in flight per node (fio --iodepth, accel_perf -q)
    #[arg(long = "queue-depth", short = 'q', visible_alias = "iodepth", value_name = "N")]
    pub queue_depth: Option<String>,
    /// Descriptors per doorbell (1..=queue depth)
    #[arg(long, value_name = "N")]
    pub batch: Option<String>,
    /// Compression of stored chunks: lz4, zstd:3, gzip:6, zlib:6 or none
    #[arg(long, value_name = "ALG[:LEVEL]")]
    pub compress: Option<String>,
    /// Target compressibility of generated data, 1.0 (incompressible) ..= 8.0
    #[arg(long, value_name = "RATIO")]
    pub compressibility: Option<String>,
    /// Zipf exponent of key popularity (0 = uniform)
    #[arg(long, value_name = "S")]
    pub skew: Option<String>,
    /// Cache capacity per node, in chunks
    #[arg(long, value_name = "N")]
    pub cache_chunks: Option<String>,
    /// Readers of fan-in-read (1..=nodes)
    #[arg(long, value_name = "N")]
    pub readers: Option<String>,
    /// Seed of data and operation order; host and offload replay the same seed
    #[arg(long, value_name = "N")]
    pub seed: Option<String>,
    /// KV cache: requests per node
    #[arg(long, value_name = "N")]
    pub kv_requests: Option<String>,
    /// KV cache: share of requests that reuse a popular prefix, 0.0..=1.0
    #[arg(long, value_name = "SHARE")]
    pub kv_prefix_sharing: Option<String>,
    /// KV cache: tokens per block (vLLM 16, TensorRT-LLM 64, LMCache 256)
    #[arg(long, value_name = "N")]
    pub kv_block_tokens: Option<String>,
    /// Fan-out read: never fetch chunks from peers, only from the blob tier
    #[arg(long)]
    pub no_peers: bool,
    /// Reads: node r reads what node (r + N) mod nodes wrote (fan-in read) or starts in its
    /// segment (fan-out read), so no node reads its own bytes back from its page cache
    #[arg(long, value_name = "N")]
    pub shift: Option<String>,
    /// IOR's -C: the same as --shift 1
    #[arg(short = 'C', long, conflicts_with = "shift")]
    pub reorder_tasks: bool,
    /// Read back and verify everything (accel_perf -y); on by default
    #[arg(short = 'y', long)]
    pub verify: bool,
    /// Skip the read-back verification
    #[arg(long, conflicts_with = "verify")]
    pub no_verify: bool,
    /// Directory for the local and blob tiers (a temporary one, removed after, by default)
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// O_DIRECT on the local tier (fio --direct=1)
    #[arg(long)]
    pub direct: bool,
    /// A C kernel plugin (.so exporting dpu_kernel_plugin_v1) run on every chunk: forward
    /// after compression and before the checksum, inverse when a chunk is verified; on the
    /// CPU in host mode, on the device's cores in offload mode at the profile's
    /// [[user_kernels]] cost. Example: --plugin ./libxor.so
    #[arg(long, value_name = "PATH.so")]
    pub plugin: Option<PathBuf>,
    /// The plugin's argument, passed as `seed` on every call (a key). Example: --plugin-arg 90
    #[arg(long, value_name = "N", requires = "plugin")]
    pub plugin_arg: Option<u64>,
    /// The local tier's I/O engine (fio --ioengine): io_uring, or psync (pread/pwrite +
    /// fdatasync). Without it: io_uring, falling back to psync where the kernel refuses it.
    /// The result records the engine used. Example: --ioengine psync
    #[arg(long, value_enum, value_name = "io_uring|psync")]
    pub ioengine: Option<IoEngineArg>,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Not supported: runs are sized in bytes (--size), not seconds (accel_perf -t)
    #[arg(short = 't', value_name = "SECONDS", hide = true)]
    pub time: Option<String>,
    #[command(flatten)]
    pub blob: BlobArgs,
}

/// The device of the offload side (`--device`) and its DPDK options: the same for
/// scenarios (`run`, `compare`, `sweep`) and for `dpukit accel`.
#[derive(Debug, Clone, Args)]
pub struct DeviceArgs {
    /// The device serving each queue pair of the offload side (one per node; one in `dpukit
    /// accel`): `sim`, the profile's simulated DPU (modelled times; the default); `thread`,
    /// the kernels on a dedicated host thread per queue pair, on a core of its own when the
    /// machine allows (pinned, the process's other threads kept off it; measured times);
    /// `sim-paced`, the simulated DPU on a thread of its own holding each completion to its
    /// modelled time (modelled times, its lag behind them measured); `process:CMD [ARGS]`, a
    /// program serving the queue pair from its own process over shared memory (measured
    /// times; one process per queue pair; CMD and ARGS split as a shell splits words, quotes
    /// kept, nothing expanded); `dpdk:PMD`, a DPDK compressdev queue pair (measured times;
    /// feature `dpdk`; ops it cannot run go to the host CPU, counted). The result names the device and labels its figures measured or modelled.
    /// Example: --device thread, --device 'process:./dpu-device --verbose'
    #[arg(id = "device", long = "device", value_name = "SPEC")]
    pub choice: Option<dpukit_host::device::DeviceChoice>,
    /// With --device dpdk:PMD: DPDK's EAL arguments, split as a shell splits words. Default
    /// for a software PMD: --no-huge --no-pci -m 512 --no-shconf --file-prefix=dpukit-PID
    /// --vdev=PMD0 -l 0; for a
    /// hardware PMD: --in-memory -l 0 (allow its PCI device with -a, see the README).
    /// Example: --dpdk-eal "-a 0000:03:00.0,class=compress -l 0 --in-memory"
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub dpdk_eal: Option<String>,
    /// With --device dpdk:PMD: the compressdev id [default: the PMD's first device]
    #[arg(long, value_name = "ID")]
    pub dpdk_dev_id: Option<u8>,
    /// With --device dpdk:PMD: queue pairs configured on the device, one per node [default: 8]
    #[arg(long, value_name = "N")]
    pub dpdk_queue_pairs: Option<u16>,
    /// With --device dpdk:PMD: ops per enqueue burst, at most the slots in flight [default: 32]
    #[arg(long, value_name = "N")]
    pub dpdk_burst: Option<u16>,
}

/// What `sweep` varies when it is not a scenario.
#[derive(Debug, Subcommand)]
pub enum SweepTarget {
    /// Vary `dpukit accel`'s knobs: o, q, C, T, batch, w, l, algorithm, compressibility, seed, profile
    #[command(
        after_help = "Example:\n  dpukit sweep accel -w crc32c -q 32 --vary o=4k,64k,1m --vary profile=bluefield-2,bluefield-3"
    )]
    Accel(Box<AccelArgs>),
}

/// `dpukit accel`: accel_perf's flags where the meaning is the same.
#[derive(Debug, Clone, Args)]
pub struct AccelArgs {
    /// The op (accel_perf -w): copy, crc32c, copy_crc32c, compress, decompress, lookup, insert,
    /// or user:NAME, the op of the C kernel plugin named NAME (give it with --plugin)
    #[arg(short = 'w', long = "workload", value_name = "OP", default_value = "crc32c")]
    pub workload: String,
    /// Transfer size: bytes of one buffer (accel_perf -o); powers of 1024 [default: 4k]
    #[arg(short = 'o', long = "transfer-size", visible_alias = "bs", value_name = "SIZE")]
    pub transfer_size: Option<String>,
    /// Ops in flight per thread (accel_perf -q) [default: 32]
    #[arg(short = 'q', long = "queue-depth", visible_alias = "iodepth", value_name = "N")]
    pub queue_depth: Option<String>,
    /// Seconds to run, time-based, after the warm-up (accel_perf -t); see the clock note in --help [default: 1]
    #[arg(short = 't', long = "time", value_name = "SECONDS")]
    pub time: Option<String>,
    /// Seconds run first and not counted, on the same clock as -t [default: 0.2]
    #[arg(long, value_name = "SECONDS")]
    pub warmup: Option<String>,
    /// Wall-clock budget of the offload side (on the simulator -t counts modelled seconds) [default: 60]
    #[arg(long, value_name = "SECONDS")]
    pub max_wall: Option<String>,
    /// Check every result against the host kernel (accel_perf -y); miscompares are counted
    #[arg(short = 'y', long)]
    pub verify: bool,
    /// Buffers per op, each of the transfer size (accel_perf -C): copy, crc32c, copy_crc32c;
    /// a CRC covers all of them (chained descriptors on the device) [default: 1]
    #[arg(short = 'C', long = "buffers", value_name = "N")]
    pub buffers: Option<String>,
    /// Host threads, each with its own buffers (accel_perf -T); the offload side runs one queue [default: 1]
    #[arg(short = 'T', long = "threads", value_name = "N")]
    pub threads: Option<String>,
    /// Compression level of compress and decompress (accel_perf -l): lz4 0, zstd 1-19, gzip and zlib 1-9
    /// [default: lz4 0, zstd 1, gzip and zlib 6]
    #[arg(short = 'l', long = "level", value_name = "N")]
    pub level: Option<String>,
    /// Algorithm of compress and decompress: lz4, zstd, gzip, zlib [default: lz4]
    #[arg(long, value_name = "ALG")]
    pub algorithm: Option<String>,
    /// Hardware profile of the offload side: a shipped name or a TOML path [default: bluefield-2]
    #[arg(long, value_name = "NAME|PATH")]
    pub profile: Option<String>,
    /// Jobs per doorbell on the offload side (1..=queue depth) [default: 1]
    #[arg(long, value_name = "N")]
    pub batch: Option<String>,
    /// Seed of the generated data and of the keys [default: 1]
    #[arg(long, value_name = "N")]
    pub seed: Option<String>,
    /// Use this file's bytes (e.g. a checkpoint shard) instead of generated data
    #[arg(long, value_name = "FILE", conflicts_with = "compressibility")]
    pub input: Option<PathBuf>,
    /// Target compressibility of generated data, 1.0 (incompressible) ..= 8.0 [default: 2.0]
    #[arg(long, value_name = "RATIO")]
    pub compressibility: Option<String>,
    /// Which sides run: host, offload or both
    #[arg(long, value_enum, default_value = "both")]
    pub mode: SweepMode,
    /// Where to write the JSON result
    #[arg(long, value_name = "FILE.json", default_value = "dpukit-accel.json")]
    pub out: PathBuf,
    /// KNOB=V1,V2,...: run the cross product of these lists (as `dpukit sweep accel`)
    #[arg(long, value_name = "KNOB=V1,V2")]
    pub vary: Vec<String>,
    /// Directory for accel-sweep.json and accel-sweep.csv of a --vary run (created if missing)
    #[arg(long, value_name = "DIR", default_value = "dpukit-out")]
    pub out_dir: PathBuf,
    /// The C kernel plugin (.so exporting dpu_kernel_plugin_v1) of a -w user:NAME op, named
    /// NAME: a length-preserving transform of one buffer, forward, on the CPU on the host
    /// side and on the device's cores offloaded (the simulator at the profile's
    /// [[user_kernels]] cost for NAME). Example: -w user:cipher --plugin ./libcipher.so
    #[arg(long, value_name = "PATH.so")]
    pub plugin: Option<PathBuf>,
    /// The plugin's argument, passed as `seed` on every call. Example: --plugin-arg 90
    #[arg(long, value_name = "N", requires = "plugin")]
    pub plugin_arg: Option<u64>,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}
