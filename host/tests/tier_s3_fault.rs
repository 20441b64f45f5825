//! The S3 server stopped in the middle of a fan-out write's copy (SIGSTOP: it hangs with
//! every connection open, as a server that stops answering does; its objects stay in its
//! memory), then continued (SIGCONT): the checks of `common/blob_fault.rs`. Requests to
//! the stopped server end by their timeout. Needs `DPUKIT_S3_BIN` (scripts/test.sh);
//! skipped without it.

#[path = "common/blob_fault.rs"]
mod blob_fault;
#[path = "common/s3.rs"]
mod s3;

use dpukit_host::tier::BlobOptions;

#[test]
fn a_hung_s3_server_keeps_acknowledged_chunks_and_the_copy_resumes() {
    let Some(bin) = s3::bin("a_hung_s3_server_keeps_acknowledged_chunks") else { return };
    let server = s3::Moto::start(&bin);
    let url = server.url();
    s3::create_bucket(&url, "fault");
    let options = BlobOptions {
        emulator: true,
        endpoint: Some(url),
        upload_concurrency: 2,
        max_retries: 1,
        retry_timeout_ms: 1_000,
        request_timeout_ms: 1_000,
        ..BlobOptions::default()
    };
    let pid = server.pid();
    blob_fault::stopped_mid_copy_then_resumed(
        "s3://fault/ckpt",
        options,
        move || s3::signal(pid, "STOP"),
        || s3::signal(pid, "CONT"),
    );
}
