//! C kernel plugins: a C function implementing the header's `dpu_kernel_fn` runs a user
//! opcode on the device side. A plugin is either compiled in (an entry function linked
//! into the program) or loaded from a shared object at run time; either way it exports
//! `const struct dpu_kernel_plugin *dpu_kernel_plugin_v1(void)` (or another symbol name).
//!
//! The device resolves and bounds-checks the descriptor's buffers before calling the
//! plugin, and checks what the plugin reports (status, output length) after. What the
//! plugin does inside its buffers is its own business: C code is trusted to stay within
//! `src_len` and `dst_cap`, as on the real device's SDK. Plugins must be thread-safe.
//!
//! All `unsafe` of plugin loading and calling is in this module.

use dpukit_ffi::bindings as b;
use dpukit_ffi::Status;
use dpukit_kernels::registry::{UserArgs, UserKernel, UserOutput};
use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("plugin {path}: cannot load shared object: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("plugin {path}: symbol `{symbol}` not found (a plugin exports `const struct dpu_kernel_plugin *{symbol}(void)`)")]
    MissingSymbol { path: PathBuf, symbol: String },
    #[error("plugin {origin}: entry function returned NULL")]
    NullPlugin { origin: String },
    #[error("plugin {origin}: built against ABI {major}.{minor}, this kit speaks {want_major}.x")]
    AbiMismatch { origin: String, major: u32, minor: u32, want_major: u32 },
    #[error("plugin {origin}: `run` is NULL")]
    NullRun { origin: String },
    #[error("plugin {origin}: name is NULL or not UTF-8")]
    BadName { origin: String },
}

/// A C kernel, ready to bind to a user opcode.
pub struct CKernel {
    name: String,
    run: unsafe extern "C" fn(*mut core::ffi::c_void, *const b::dpu_kernel_io, *mut b::dpu_kernel_out) -> u16,
    ctx: *mut core::ffi::c_void,
    // Keeps the shared object mapped while the kernel can be called.
    _lib: Option<Arc<libloading::Library>>,
}

// SAFETY: the plugin contract (header and module doc) requires thread-safe kernels; `ctx`
// is only passed back to the plugin's own `run`.
unsafe impl Send for CKernel {}
// SAFETY: as above.
unsafe impl Sync for CKernel {}

impl std::fmt::Debug for CKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CKernel").field("name", &self.name).finish()
    }
}

impl CKernel {
    /// Loads a plugin from a shared object; `symbol` defaults to `dpu_kernel_plugin_v1`.
    pub fn load(path: &Path, symbol: Option<&str>) -> Result<CKernel, PluginError> {
        let symbol = symbol.unwrap_or("dpu_kernel_plugin_v1");
        // SAFETY: loading a shared object runs its initialisers; the user named this file
        // as a dpukit plugin, which is the trust decision.
        let lib = unsafe { libloading::Library::new(path) }
            .map_err(|e| PluginError::Open { path: path.to_owned(), reason: e.to_string() })?;
        let entry: b::dpu_kernel_plugin_entry_fn = {
            // SAFETY: the symbol's type is the header's `dpu_kernel_plugin_entry_fn`.
            let sym = unsafe {
                lib.get::<unsafe extern "C" fn() -> *const b::dpu_kernel_plugin>(symbol.as_bytes())
            }
            .map_err(|_| PluginError::MissingSymbol { path: path.to_owned(), symbol: symbol.to_owned() })?;
            Some(*sym)
        };
        let lib = Arc::new(lib);
        // SAFETY: `entry` comes from the library kept alive in `lib`.
        unsafe { Self::from_entry_inner(entry, path.display().to_string(), Some(lib)) }
    }

    /// A compiled-in plugin from its entry function.
    ///
    /// # Safety
    /// `entry` must follow the header's plugin contract: return NULL or a pointer to a
    /// `dpu_kernel_plugin` valid for the program's lifetime, whose `run` is thread-safe.
    pub unsafe fn from_entry(
        entry: b::dpu_kernel_plugin_entry_fn,
        origin: &str,
    ) -> Result<CKernel, PluginError> {
        // SAFETY: forwarded contract.
        unsafe { Self::from_entry_inner(entry, origin.to_owned(), None) }
    }

    unsafe fn from_entry_inner(
        entry: b::dpu_kernel_plugin_entry_fn,
        origin: String,
        lib: Option<Arc<libloading::Library>>,
    ) -> Result<CKernel, PluginError> {
        let entry = entry.ok_or_else(|| PluginError::NullPlugin { origin: origin.clone() })?;
        // SAFETY: calling the plugin's entry point per its contract.
        let plugin = unsafe { entry() };
        // SAFETY: NULL or a pointer to a static descriptor (contract).
        let plugin =
            unsafe { plugin.as_ref() }.ok_or_else(|| PluginError::NullPlugin { origin: origin.clone() })?;
        if plugin.abi_major != b::DPU_ABI_VERSION_MAJOR {
            return Err(PluginError::AbiMismatch {
                origin,
                major: plugin.abi_major,
                minor: plugin.abi_minor,
                want_major: b::DPU_ABI_VERSION_MAJOR,
            });
        }
        let run = plugin.run.ok_or_else(|| PluginError::NullRun { origin: origin.clone() })?;
        if plugin.name.is_null() {
            return Err(PluginError::BadName { origin });
        }
        // SAFETY: non-null, NUL-terminated static string (contract).
        let name = unsafe { CStr::from_ptr(plugin.name) }
            .to_str()
            .map_err(|_| PluginError::BadName { origin: origin.clone() })?
            .to_owned();
        Ok(CKernel { name, run, ctx: plugin.ctx, _lib: lib })
    }
}

impl UserKernel for CKernel {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&self, args: &UserArgs, src: &[u8], dst: &mut [u8]) -> Result<UserOutput, Status> {
        let io = b::dpu_kernel_io {
            src: src.as_ptr(),
            src_len: src.len() as u64,
            dst: if dst.is_empty() { std::ptr::null_mut() } else { dst.as_mut_ptr() },
            dst_cap: dst.len() as u64,
            seed: args.arg0,
            aux: args.arg1,
            opcode: args.opcode,
            algo: args.algo,
            level: args.level,
            reserved0: 0,
            flags: 0,
        };
        let mut out = b::dpu_kernel_out::default();
        // SAFETY: `io` describes live, bounds-checked buffers for the duration of the
        // call; the plugin promises to stay within them and to be thread-safe.
        let status = unsafe { (self.run)(self.ctx, &io, &mut out) };
        match Status::try_from(status) {
            Ok(Status::Ok) => {}
            Ok(st) => return Err(st),
            Err(_) => return Err(Status::KernelError),
        }
        if out.dst_len > dst.len() as u64 {
            return Err(Status::KernelError);
        }
        Ok(UserOutput { result: out.result, dst_len: out.dst_len as usize })
    }
}
