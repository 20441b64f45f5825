//! Every call into DPDK, through the shim (`host/dpdk/shim.c`): EAL started once per
//! process and cleaned up at exit, devices configured and started once, and queue pairs
//! handed out one per node and taken back when the node is done.
//!
//! EAL can be started only once in a process: the first device fixes its arguments, a
//! later one asking for others is refused in one line, and a failed start stays failed.

use super::sys;
use dpukit_ffi::ResolvedBuf;
use std::ffi::{c_char, CStr, CString};
use std::ptr::NonNull;
use std::sync::{Mutex, OnceLock};

const ERR_BYTES: usize = 256;

/// EAL, started once in this process.
#[derive(Debug)]
pub struct Eal {
    args: Vec<String>,
}

static EAL: OnceLock<Result<Eal, String>> = OnceLock::new();

extern "C" fn cleanup_at_exit() {
    // SAFETY: runs once, at process exit, after every queue pair of the kit was dropped
    // or abandoned with its thread; the shim stops the started devices, then EAL.
    unsafe { sys::dk_eal_cleanup() };
}

fn err_line(buf: &[c_char]) -> String {
    // SAFETY: the shim writes a NUL-terminated line into the buffer (vsnprintf); the
    // buffer is zeroed first, so it is terminated even when the shim wrote nothing.
    unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
}

impl Eal {
    /// EAL started with `args` (without the program name), or why not. The first call in
    /// the process starts it; later ones must ask for the same arguments.
    pub fn start(args: &[String]) -> Result<&'static Eal, String> {
        let started = EAL.get_or_init(|| Eal::init(args));
        match started {
            Ok(eal) if eal.args == args => Ok(eal),
            Ok(eal) => Err(format!(
                "DPDK EAL already runs in this process with `{}`; it starts once per process, so every \
                 dpdk device of a run takes the same --dpdk-eal",
                eal.args_line()
            )),
            Err(why) => Err(why.clone()),
        }
    }

    fn init(args: &[String]) -> Result<Eal, String> {
        let mut owned = vec![CString::new("dpukit").expect("no NUL")];
        for a in args {
            owned.push(CString::new(a.as_str()).map_err(|_| format!("EAL argument {a:?} holds a NUL byte"))?);
        }
        let mut argv: Vec<*mut c_char> = owned.iter().map(|c| c.as_ptr() as *mut c_char).collect();
        argv.push(std::ptr::null_mut());
        let mut err = [0 as c_char; ERR_BYTES];
        // SAFETY: argv is argc NUL-terminated strings and a NULL, owned by `owned` and
        // `argv`, which EAL may reorder but not free, and which are kept for the life of
        // the process below (EAL may keep pointers into them). `err` is ERR_BYTES long.
        let rc = unsafe {
            sys::dk_eal_init((argv.len() - 1) as i32, argv.as_mut_ptr(), err.as_mut_ptr(), ERR_BYTES)
        };
        std::mem::forget(owned);
        std::mem::forget(argv);
        if rc < 0 {
            let hint = if args.iter().any(|a| a == "--no-huge") {
                "check the EAL arguments"
            } else {
                "check hugepages (HugePages_Free in /proc/meminfo), the rights to use them and the device \
                 (root, or the README's capabilities), and the EAL arguments"
            };
            return Err(format!("{} with `{}`: {hint}", err_line(&err), args.join(" ")));
        }
        // SAFETY: `cleanup_at_exit` is an `extern "C" fn()` that stays valid for the life
        // of the process.
        unsafe { libc::atexit(cleanup_at_exit) };
        Ok(Eal { args: args.to_vec() })
    }

    /// The EAL arguments, as one line for reports.
    pub fn args_line(&self) -> String {
        self.args.join(" ")
    }
}

/// What a compressdev device says it is and can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub dev_id: u8,
    pub driver: String,
    pub name: String,
    /// DPDK's release (`rte_version()`): a PMD carries no version of its own.
    pub dpdk_version: String,
    /// 0: no limit stated.
    pub max_queue_pairs: u16,
    /// RTE_COMP_FF_* of its DEFLATE capability; `None`: it offers no DEFLATE.
    pub deflate_flags: Option<u64>,
    pub deflate_windows: (u16, u16),
}

impl DeviceInfo {
    pub fn has(&self, flag: u64) -> bool {
        self.deflate_flags.is_some_and(|f| f & flag != 0)
    }
}

fn c_text(raw: &[c_char]) -> String {
    let bytes: Vec<u8> = raw.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn info_of(dev_id: u8) -> Result<DeviceInfo, String> {
    let mut raw = sys::dk_dev_info::default();
    let mut err = [0 as c_char; ERR_BYTES];
    // SAFETY: EAL is up (a device id exists only then); `raw` and `err` are writable and
    // of the sizes the shim writes.
    let rc = unsafe { sys::dk_dev_info_get(dev_id as i32, &mut raw, err.as_mut_ptr(), ERR_BYTES) };
    if rc < 0 {
        return Err(err_line(&err));
    }
    Ok(DeviceInfo {
        dev_id,
        driver: c_text(&raw.driver_name),
        name: c_text(&raw.dev_name),
        dpdk_version: c_text(&raw.dpdk_version),
        max_queue_pairs: raw.max_queue_pairs,
        deflate_flags: (raw.has_deflate != 0).then_some(raw.deflate_flags),
        deflate_windows: (raw.deflate_window_min, raw.deflate_window_max),
    })
}

/// The Debian package that ships a PMD (`compress_mlx5`: librte-compress-mlx5-23; the QAT
/// PMD is in librte-common-qat23).
fn debian_package(pmd: &str) -> String {
    if pmd.ends_with("qat") {
        return "librte-common-qat23".into();
    }
    let base = format!("librte-{}", pmd.replace('_', "-"));
    if base.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{base}-23")
    } else {
        format!("{base}23")
    }
}

/// A started device and its queue pairs not in use.
struct Started {
    info: DeviceInfo,
    queue_pairs: u16,
    free: Vec<u16>,
}

static STARTED: Mutex<Vec<Started>> = Mutex::new(Vec::new());

/// Checksums the PMD computes over the uncompressed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    /// None from the PMD (the device computes the trailer's on the host CPU).
    None,
    Crc32,
    Adler32,
}

/// One stateless raw-DEFLATE operation.
pub struct DeflateJob<'a> {
    pub src: &'a [u8],
    pub dst: &'a mut [u8],
    pub compress: bool,
    pub level: u8,
    pub checksum: Checksum,
    pub outcome: Outcome,
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outcome {
    /// Not run yet.
    #[default]
    Pending,
    Done {
        consumed: u32,
        produced: u32,
        checksum: u32,
    },
    /// The output did not fit.
    OutOfSpace,
    /// The PMD answered an error status (for a decompression: corrupt input).
    Error(i32),
    /// The PMD refused the job's arguments.
    InvalidArgs,
    /// No mbuf or op for it.
    NoResources,
    /// It did not come back in time; the queue pair is unusable from then on.
    Timeout,
}

/// One queue pair of a started device, owned by one node.
pub struct Queue {
    raw: NonNull<sys::dk_qp>,
    pub info: DeviceInfo,
    pub qp_id: u16,
    /// Queue pairs the device was configured with.
    pub queue_pairs: u16,
    burst: u16,
    jobs: Vec<sys::dk_job>,
    broken: bool,
}

// SAFETY: a queue pair is used by one thread at a time (its `&mut self` methods); DPDK's
// rule is that one queue pair is not driven by two threads at once, which ownership keeps.
unsafe impl Send for Queue {}

/// The mbuf segment size: DEFLATE's window, well under an mbuf's 64 KiB limit.
const SEG_BYTES: u32 = 32 * 1024;

impl Queue {
    /// A free queue pair of the device `pmd` names (or `dev_id`), started with
    /// `queue_pairs` pairs if it is not yet; bursts of up to `burst` jobs of at most
    /// `max_bytes` in and out.
    pub fn open(
        pmd: &str,
        dev_id: Option<u8>,
        queue_pairs: u16,
        burst: u16,
        max_bytes: usize,
    ) -> Result<Queue, String> {
        let mut err = [0 as c_char; ERR_BYTES];
        let id = match dev_id {
            Some(id) => id,
            None => {
                let name = CString::new(pmd).map_err(|_| "PMD name holds a NUL byte".to_string())?;
                // SAFETY: EAL is up (callers hold an `Eal`); `name` is NUL-terminated and
                // `err` ERR_BYTES long.
                let rc = unsafe { sys::dk_dev_find(name.as_ptr(), err.as_mut_ptr(), ERR_BYTES) };
                if rc < 0 {
                    return Err(format!(
                        "{}: is the PMD installed (Debian: {}), its device allowed in the EAL arguments \
                         (-a or --vdev) and bound to a driver the PMD drives?",
                        err_line(&err),
                        debian_package(pmd)
                    ));
                }
                rc as u8
            }
        };
        let mut started = STARTED.lock().unwrap_or_else(|e| e.into_inner());
        let at = match started.iter().position(|s| s.info.dev_id == id) {
            Some(at) => at,
            None => {
                let info = info_of(id)?;
                let pairs = if info.max_queue_pairs > 0 {
                    queue_pairs.min(info.max_queue_pairs)
                } else {
                    queue_pairs
                };
                let inflight = (u32::from(burst) * 2).max(64);
                // SAFETY: EAL is up; `id` names a device EAL found; `err` is ERR_BYTES long.
                let rc =
                    unsafe { sys::dk_dev_start(id as i32, pairs, inflight, err.as_mut_ptr(), ERR_BYTES) };
                if rc < 0 {
                    return Err(err_line(&err));
                }
                started.push(Started { info, queue_pairs: pairs, free: (0..pairs).rev().collect() });
                started.len() - 1
            }
        };
        let dev = &mut started[at];
        let Some(qp_id) = dev.free.pop() else {
            return Err(format!(
                "all {} queue pairs of compressdev {} ({}) are in use: give --dpdk-queue-pairs at least the \
                 nodes of the run",
                dev.queue_pairs, dev.info.name, dev.info.driver
            ));
        };
        let max_bytes =
            u32::try_from(max_bytes).map_err(|_| format!("buffers of {max_bytes} bytes are too large"))?;
        // SAFETY: the device is started and `qp_id` is one of its queue pairs, free (no
        // other Queue holds it); `err` is ERR_BYTES long.
        let raw = unsafe {
            sys::dk_qp_open(id as i32, qp_id, burst, max_bytes, SEG_BYTES, err.as_mut_ptr(), ERR_BYTES)
        };
        let Some(raw) = NonNull::new(raw) else {
            dev.free.push(qp_id);
            return Err(err_line(&err));
        };
        Ok(Queue {
            raw,
            info: dev.info.clone(),
            qp_id,
            queue_pairs: dev.queue_pairs,
            burst,
            jobs: Vec::with_capacity(burst as usize),
            broken: false,
        })
    }

    /// Runs up to a burst of jobs (the rest are left `Pending`), waiting up to `timeout`
    /// for each to come back.
    pub fn run(&mut self, jobs: &mut [DeflateJob<'_>], timeout: std::time::Duration) {
        let n = jobs.len().min(self.burst as usize);
        self.jobs.clear();
        for j in jobs[..n].iter_mut() {
            self.jobs.push(sys::dk_job {
                src: j.src.as_ptr(),
                src_len: j.src.len() as u32,
                dst: j.dst.as_mut_ptr(),
                dst_cap: u32::try_from(j.dst.len()).unwrap_or(u32::MAX),
                compress: i32::from(j.compress),
                level: i32::from(j.level),
                chksum: match j.checksum {
                    Checksum::None => sys::DK_CHKSUM_NONE as i32,
                    Checksum::Crc32 => sys::DK_CHKSUM_CRC32 as i32,
                    Checksum::Adler32 => sys::DK_CHKSUM_ADLER32 as i32,
                },
                ..Default::default()
            });
        }
        // SAFETY: `self.raw` is an open queue pair driven only here (`&mut self`); each job
        // points at `src_len` readable bytes and `dst_cap` writable ones borrowed from
        // `jobs` for this call (a `&[u8]` and a `&mut [u8]`, so they do not overlap); the
        // shim copies in before it enqueues and out after it dequeues, and keeps no
        // pointer into them once it returns (an op that never came back holds only
        // mbufs of its own pool).
        unsafe {
            sys::dk_qp_run(self.raw.as_ptr(), self.jobs.as_mut_ptr(), n as u16, timeout.as_nanos() as u64)
        };
        for (j, raw) in jobs[..n].iter_mut().zip(&self.jobs) {
            j.outcome = match raw.status as u32 {
                sys::DK_OK => Outcome::Done {
                    consumed: raw.consumed,
                    produced: raw.produced,
                    checksum: raw.checksum as u32,
                },
                sys::DK_OUT_OF_SPACE => Outcome::OutOfSpace,
                sys::DK_ERROR => Outcome::Error(raw.pmd_status),
                sys::DK_INVALID_ARGS => Outcome::InvalidArgs,
                sys::DK_TIMEOUT => {
                    self.broken = true;
                    Outcome::Timeout
                }
                _ => Outcome::NoResources,
            };
        }
    }

    /// Whether an op never came back (the queue pair can take no more).
    pub fn broken(&self) -> bool {
        self.broken
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: `self.raw` came from dk_qp_open and is closed once, here; the shim keeps
        // the pools of a queue pair whose ops never came back.
        unsafe { sys::dk_qp_close(self.raw.as_ptr()) };
        if !self.broken {
            let mut started = STARTED.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(dev) = started.iter_mut().find(|s| s.info.dev_id == self.info.dev_id) {
                dev.free.push(self.qp_id);
            }
        }
    }
}

/// The bytes of a buffer a descriptor names, to read.
pub(super) fn read(b: &ResolvedBuf) -> &[u8] {
    // SAFETY: `resolve` placed the range inside a region the host registered; the
    // registration contract keeps the host off a buffer while its descriptor is in flight,
    // which lasts until this device posts its completion, after every use of the slice.
    unsafe { b.as_slice() }
}

/// A descriptor's source to read and destination to write, for as long as its destination
/// is borrowed mutably (the device keeps one `ResolvedBuf` per descriptor's destination).
pub(super) fn split<'a>(src: &'a ResolvedBuf, dst: &'a mut ResolvedBuf) -> (&'a [u8], &'a mut [u8]) {
    assert!(!src.overlaps(dst), "a descriptor's source and destination were checked disjoint");
    // SAFETY: both ranges lie in registered regions the host keeps off while the
    // descriptor is in flight (as `read`); they do not overlap (asserted), and the
    // destination's one handle is borrowed mutably for as long as the slice lives.
    unsafe { (src.as_slice(), dst.as_mut_slice()) }
}
