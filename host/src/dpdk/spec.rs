//! `--device dpdk:PMD` and its options; parsed with or without the `dpdk` feature, so a
//! build without it says so in one line.

#![forbid(unsafe_code)]

/// What `--device dpdk:...` says in a build without the feature.
pub const NOT_BUILT: &str = "this dpukit was built without DPDK: cargo build --features dpdk";

/// PMDs that are software on this host: their figures are this CPU's, never a DPU's.
const SOFTWARE_PMDS: [&str; 3] = ["compress_isal", "compress_zlib", "compress_null"];

/// A compressdev device and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkSpec {
    /// The PMD: `compress_isal`, `compress_zlib`, `compress_mlx5`, `compress_qat`, ...
    pub pmd: String,
    /// EAL arguments (`--dpdk-eal`, split as a shell splits words); `None`: the default
    /// for the PMD ([`DpdkSpec::eal_args`]).
    pub eal: Option<String>,
    /// The compressdev id (`--dpdk-dev-id`); `None`: the first device of the PMD.
    pub dev_id: Option<u8>,
    /// Queue pairs configured on the device (`--dpdk-queue-pairs`): one per node of a run.
    pub queue_pairs: u16,
    /// Ops per enqueue burst (`--dpdk-burst`).
    pub burst: u16,
}

/// Queue pairs configured when none is asked for: one per node of the kit's usual runs.
pub const DEFAULT_QUEUE_PAIRS: u16 = 8;
/// Ops per burst when none is asked for.
pub const DEFAULT_BURST: u16 = 32;
/// The largest burst the shim takes.
pub const MAX_BURST: u16 = 256;

impl DpdkSpec {
    /// `PMD` of `dpdk:PMD`: a DPDK driver name (lower-case letters, digits, `_`).
    pub fn parse(pmd: &str) -> Result<DpdkSpec, String> {
        let pmd = pmd.trim();
        if pmd.is_empty() {
            return Err("--device dpdk:PMD needs a PMD, e.g. dpdk:compress_isal".into());
        }
        if !pmd.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err(format!(
                "--device dpdk:{}: a PMD name is lower-case letters, digits and `_` (e.g. compress_isal)",
                pmd.escape_debug()
            ));
        }
        Ok(DpdkSpec {
            pmd: pmd.to_string(),
            eal: None,
            dev_id: None,
            queue_pairs: DEFAULT_QUEUE_PAIRS,
            burst: DEFAULT_BURST,
        })
    }

    /// The form `--device` takes.
    pub fn spec(&self) -> String {
        format!("dpdk:{}", self.pmd)
    }

    /// Whether the PMD is software running on this host's CPU.
    pub fn is_software(&self) -> bool {
        SOFTWARE_PMDS.contains(&self.pmd.as_str())
    }

    /// The EAL arguments (without the program name): `--dpdk-eal`'s, or for a software PMD
    /// a virtual device with no hugepages, no PCI scan, no shared config and a file prefix
    /// of this process's own (`--no-huge --no-pci -m 512 --no-shconf
    /// --file-prefix=dpukit-PID --vdev=PMD0 -l 0`); for a hardware PMD, hugepages kept in
    /// memory (`--in-memory -l 0`; its PCI device is the user's to allow, see the README).
    pub fn eal_args(&self) -> Result<Vec<String>, String> {
        if let Some(eal) = &self.eal {
            return shell_words::split(eal).map_err(|e| format!("--dpdk-eal {eal:?}: {e}"));
        }
        let mut args: Vec<String> = Vec::new();
        if self.is_software() {
            // Without hugepages EAL runs in legacy memory mode, which `--in-memory` refuses:
            // no shared config and a prefix of this process's own keep runs apart instead.
            args.extend(["--no-huge", "--no-pci", "-m", "512", "--no-shconf"].map(String::from));
            args.push(format!("--file-prefix=dpukit-{}", std::process::id()));
            args.push(format!("--vdev={}0", self.pmd));
        } else {
            args.push("--in-memory".into());
        }
        // EAL says why it failed; compressdev's and the PMDs' logs are left out: an op's
        // error is its status, counted by the run, and closing the virtual devices at exit
        // logs a spurious error in DPDK 22.11.
        args.extend(
            [
                "--no-telemetry",
                "--log-level=lib.eal:error",
                "--log-level=lib.compressdev:critical",
                "--log-level=pmd.compress.*:critical",
                "-l",
                "0",
            ]
            .map(String::from),
        );
        Ok(args)
    }

    /// Checks the numeric options.
    pub fn check(&self) -> Result<(), String> {
        if self.queue_pairs == 0 {
            return Err("--dpdk-queue-pairs must be at least 1".into());
        }
        if self.burst == 0 || self.burst > MAX_BURST {
            return Err(format!("--dpdk-burst {} out of range 1..={MAX_BURST}", self.burst));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_software_pmd_gets_a_virtual_device_and_no_hugepages() {
        let s = DpdkSpec::parse("compress_isal").unwrap();
        assert!(s.is_software());
        let a = s.eal_args().unwrap();
        for want in ["--no-huge", "--no-pci", "--no-shconf", "--vdev=compress_isal0"] {
            assert!(a.iter().any(|x| x == want), "{a:?} lacks {want}");
        }
        let hw = DpdkSpec::parse("compress_mlx5").unwrap();
        assert!(!hw.is_software());
        assert!(!hw.eal_args().unwrap().iter().any(|x| x.starts_with("--vdev") || x == "--no-pci"));
    }

    #[test]
    fn user_eal_arguments_are_split_as_a_shell_splits_words() {
        let mut s = DpdkSpec::parse("compress_mlx5").unwrap();
        s.eal = Some("-a '0000:03:00.0,class=compress' -l 0".into());
        assert_eq!(s.eal_args().unwrap(), ["-a", "0000:03:00.0,class=compress", "-l", "0"]);
        s.eal = Some("-a 'unclosed".into());
        assert!(s.eal_args().is_err());
    }

    #[test]
    fn bad_pmd_names_and_options_are_one_line_each() {
        assert!(DpdkSpec::parse("").is_err());
        assert!(DpdkSpec::parse("compress isal").unwrap_err().contains("lower-case"));
        let mut s = DpdkSpec::parse("compress_zlib").unwrap();
        s.burst = 0;
        assert!(s.check().is_err());
        s.burst = 32;
        s.queue_pairs = 0;
        assert!(s.check().is_err());
    }
}
