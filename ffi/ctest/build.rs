//! Compiles the C peer (`c/peer.c`) against the ABI header, so Rust tests can call a
//! C producer/consumer and a C layout dump.

fn main() {
    let include = std::env::var("DEP_DPUKIT_FFI_ABI_INCLUDE").expect("dpukit-ffi exports its include dir");
    println!("cargo:rerun-if-changed=c/peer.c");
    println!("cargo:rerun-if-changed=../../dpu-sim/tests/c/xor_kernel.c");
    println!("cargo:rerun-if-changed={include}/dpu_offload.h");
    cc::Build::new()
        .file("c/peer.c")
        // The engine tests' C kernel, compiled in (the shared-object path is tested in
        // dpu-sim/tests/engine.rs).
        .file("../../dpu-sim/tests/c/xor_kernel.c")
        .include(&include)
        .std("c11")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .compile("dpukit_c_peer");
}
