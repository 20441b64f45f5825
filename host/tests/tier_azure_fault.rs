//! Azurite stopped in the middle of a fan-out write's copy (SIGTERM: Azurite saves its
//! metadata and exits), then restarted on the same data folder: the checks of
//! `common/blob_fault.rs`. Needs `DPUKIT_AZURITE_BIN` (scripts/test.sh); skipped without it.

#[path = "common/azurite.rs"]
mod azurite;
#[path = "common/blob_fault.rs"]
mod blob_fault;

use std::sync::{Arc, Mutex};

use azurite::Azurite;
use dpukit_host::tier::BlobOptions;

#[test]
fn stopped_azurite_keeps_acknowledged_chunks_and_the_copy_resumes() {
    let Some(bin) = azurite::bin("stopped_azurite_keeps_acknowledged_chunks") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("azurite");
    std::fs::create_dir(&data).unwrap();
    let server = Arc::new(Mutex::new(Azurite::start(&bin, &data)));
    let url = server.lock().unwrap().url();
    azurite::create_container(&url, "fault");
    let options = BlobOptions {
        emulator: true,
        endpoint: Some(url),
        upload_concurrency: 2,
        max_retries: 1,
        retry_timeout_ms: 1_000,
        ..BlobOptions::default()
    };
    let stopped = Arc::clone(&server);
    blob_fault::stopped_mid_copy_then_resumed(
        "azure://fault/ckpt",
        options,
        move || stopped.lock().unwrap().stop(),
        || server.lock().unwrap().restart(),
    );
}
