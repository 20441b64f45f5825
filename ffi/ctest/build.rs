//! Compiles the C peer (`c/peer.c`) against the ABI header, so Rust tests can call a
//! C producer/consumer and a C layout dump.

fn main() {
    let include = std::env::var("DEP_DPUKIT_FFI_ABI_INCLUDE").expect("dpukit-ffi exports its include dir");
    println!("cargo:rerun-if-changed=c/peer.c");
    println!("cargo:rerun-if-changed={include}/dpu_offload.h");
    cc::Build::new()
        .file("c/peer.c")
        .include(&include)
        .std("c11")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .compile("dpukit_c_peer");
}
