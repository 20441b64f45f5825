//! Interoperability with the standard command-line tools: streams written by the kernels
//! decompress with `lz4 -d`, `zstd -d` and `gzip -d`, and the tools' output decompresses with
//! the kernels. The tools are required: a missing one fails the test and names the Debian
//! package that provides it (CI installs them).

use std::path::PathBuf;
use std::process::Command;

use dpukit_kernels::compress::{
    compress, decompress, deflate_decompress_with, isal_linked, max_compressed_len, Algorithm, Codec,
    InflateBackend,
};
use dpukit_kernels::datagen::{DataGen, Preset};

/// (algorithm, tool, Debian package, compress flags)
const TOOLS: [(Algorithm, &str, &str, &[&str]); 3] = [
    (Algorithm::Lz4, "lz4", "lz4", &["-1"]),
    (Algorithm::Zstd, "zstd", "zstd", &["-3", "-q"]),
    (Algorithm::Gzip, "gzip", "gzip", &["-6", "-n"]),
];

fn scratch_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("dpukit-kernels-interop-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).expect("write scratch file");
    path
}

/// Runs `tool args... -c file` and returns stdout; fails naming the apt package if absent.
fn run_tool(tool: &str, package: &str, args: &[&str], input: &[u8], name: &str) -> Vec<u8> {
    let path = scratch_file(name, input);
    let result = Command::new(tool).args(args).arg("-c").arg(&path).output();
    let _ = std::fs::remove_file(&path);
    let output = match result {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("the `{tool}` command is missing: install it with `apt-get install {package}`")
        }
        Err(e) => panic!("running `{tool}` failed: {e}"),
    };
    assert!(
        output.status.success(),
        "`{tool} {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn sample(preset: Preset, len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    DataGen::preset(preset).fill(2024, 0, &mut data);
    data
}

#[test]
fn kernel_output_decompresses_with_the_tools() {
    for (algorithm, tool, package, _) in TOOLS {
        for (preset, len) in
            [(Preset::TextLike, 300_000), (Preset::Incompressible, 70_001), (Preset::CheckpointLike, 0)]
        {
            let data = sample(preset, len);
            for level in [
                *dpukit_kernels::compress::levels(algorithm).start(),
                *dpukit_kernels::compress::levels(algorithm).end(),
            ] {
                let codec = Codec::new(algorithm, level).expect("valid level");
                let mut packed = vec![0u8; max_compressed_len(&codec, data.len())];
                let n = compress(&codec, &data, &mut packed).expect("compress");
                let name = format!("k2t-{tool}-{level}-{len}");
                let out = run_tool(tool, package, &["-d"], &packed[..n], &name);
                assert!(out == data, "{tool} -d disagrees with the kernel ({len} bytes, level {level})");
            }
        }
    }
}

#[test]
fn tool_output_decompresses_with_the_kernels() {
    for (algorithm, tool, package, flags) in TOOLS {
        for (preset, len) in
            [(Preset::TextLike, 300_000), (Preset::Incompressible, 70_001), (Preset::CheckpointLike, 0)]
        {
            let data = sample(preset, len);
            let name = format!("t2k-{tool}-{len}");
            let packed = run_tool(tool, package, flags, &data, &name);
            let mut out = vec![0u8; data.len()];
            let n = decompress(algorithm, &packed, &mut out)
                .unwrap_or_else(|e| panic!("{tool} output rejected: {e}"));
            assert_eq!(n, data.len());
            assert!(out == data, "kernel disagrees with {tool} ({len} bytes)");
        }
    }
}

/// `gzip`'s members back to back (as `cat a.gz b.gz` makes), one of data below the 3.5:1
/// ratio at which the kit inflates with ISA-L and one above it, read by each inflate
/// backend and by `decompress`; and `gzip -d` reads the kit's members concatenated.
#[test]
fn concatenated_gzip_members_both_ways_and_with_each_backend() {
    let dense = sample(Preset::CheckpointLike, 200_000);
    let text = sample(Preset::TextLike, 300_000);
    let mut members = run_tool("gzip", "gzip", &["-6", "-n"], &dense, "cat-dense");
    members.extend(run_tool("gzip", "gzip", &["-1", "-n"], &text, "cat-text"));
    let whole = [&dense[..], &text[..]].concat();
    let mut out = vec![0u8; whole.len()];
    let mut backends = vec![InflateBackend::Libdeflate];
    if isal_linked() {
        backends.push(InflateBackend::Isal);
    }
    for backend in backends {
        out.fill(0);
        let n = deflate_decompress_with(backend, Algorithm::Gzip, &members, &mut out)
            .unwrap_or_else(|e| panic!("{backend:?}: gzip's members rejected: {e}"));
        assert!(n == whole.len() && out == whole, "{backend:?} disagrees with gzip");
    }
    assert_eq!(decompress(Algorithm::Gzip, &members, &mut out), Ok(whole.len()));
    let mut kit_members = Vec::new();
    for (level, part) in [(1, &dense), (6, &text), (9, &dense)] {
        let codec = Codec::new(Algorithm::Gzip, level).expect("valid level");
        let mut packed = vec![0u8; max_compressed_len(&codec, part.len())];
        let n = compress(&codec, part, &mut packed).expect("compress");
        kit_members.extend_from_slice(&packed[..n]);
    }
    let back = run_tool("gzip", "gzip", &["-d"], &kit_members, "cat-kit");
    assert!(back == [&dense[..], &text[..], &dense[..]].concat(), "gzip -d disagrees with the kit's members");
}
