//! Host vs offload from Rust, without the command line: load a scenario file and a
//! profile, compare, print the table and write the HTML report.
//!
//!     cargo run --release --example compare -- examples/fan-out-write.toml bluefield-3 out.html

use dpukit_host::report::{render_comparison_table, render_html, Document};
use dpukit_host::run::{compare, RunOptions};
use dpukit_host::spec::ScenarioSpec;
use dpukit_sim::profile::Profile;
use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let file = args.next().unwrap_or_else(|| "examples/fan-out-write.toml".into());
    let profile = args.next().unwrap_or_else(|| "bluefield-2".into());
    let html_out = args.next();

    let spec = ScenarioSpec::from_toml_str(&std::fs::read_to_string(&file)?, &file)?;
    let profile = Profile::load(&profile)?;
    let c = compare(&spec, &profile, &RunOptions::default())?;
    print!("{}", render_comparison_table(&c));
    if let Some(path) = html_out {
        std::fs::write(&path, render_html(&[Document::Comparison(Box::new(c))]))?;
        eprintln!("wrote {path}");
    }
    Ok(())
}
