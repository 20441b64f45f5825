//! The blob tier on the S3 API, against an S3-compatible server (moto, started by
//! scripts/s3.sh): single PUTs and multipart uploads carry the CRC32C as user metadata and
//! verify on get; an object whose metadata disagrees is refused, as is one written without
//! it; range reads; clearing a prefix; a missing bucket and a stopped server are one line.
//! Needs `DPUKIT_S3_URL` (scripts/test.sh); skipped without it.

#[path = "common/s3.rs"]
mod s3;

use bytes::Bytes;
use dpukit_host::tier::{BlobKey, BlobLocation, BlobOptions, BlobTier, TierError};
use dpukit_kernels::crc32c::crc32c;

fn pattern(seed: u64, len: usize) -> Bytes {
    (0..len)
        .map(|i| ((i as u64).wrapping_mul(29) ^ seed.wrapping_mul(0x9E37)) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// S3's smallest part is 5 MiB (every part but the last): a 6 MiB threshold with 5 MiB
/// parts makes an 11 MiB chunk a three-part upload.
fn options(url: &str) -> BlobOptions {
    BlobOptions {
        emulator: true,
        endpoint: Some(url.to_string()),
        multipart_threshold_bytes: 6 << 20,
        part_size_bytes: 5 << 20,
        part_concurrency: 2,
        ..BlobOptions::default()
    }
}

#[test]
fn chunks_travel_with_their_crc32c_and_large_ones_go_multipart() {
    let Some(url) = s3::shared_url("chunks_travel_with_their_crc32c") else { return };
    let bucket = s3::bucket_name("tier-s3");
    s3::create_bucket(&url, &bucket);
    let loc = BlobLocation::parse(&format!("s3://{bucket}/runs/a")).unwrap();
    let blob = BlobTier::open(&loc, &options(&url)).unwrap();
    blob.check().unwrap();
    let info = blob.info();
    assert_eq!((info.kind.as_str(), info.emulator), ("s3", true));
    assert_eq!(info.endpoint.as_deref(), Some(url.as_str()));

    let small = pattern(1, 100_000);
    let large = pattern(2, (11 << 20) + 4321);
    let a = blob.put_chunk("node0000", 0, small.clone()).unwrap();
    let b = blob.put_chunk("node0000", 1, large.clone()).unwrap();
    let counts = blob.upload_counts();
    assert_eq!((counts.single_puts, counts.multipart_puts), (1, 1), "{counts:?}");
    assert_eq!(counts.parts, 3, "11 MiB + 4321 B in 5 MiB parts: {counts:?}");
    assert_eq!(blob.get(&a).unwrap(), small);
    assert_eq!(blob.get(&b).unwrap(), large);
    assert_eq!(blob.get_range_unverified(&b, 1000..3000).unwrap(), large.slice(1000..3000));
    let both =
        blob.get_ranges_unverified(&[(a.clone(), 0..100_000), (b.clone(), 0..large.len() as u64)]).unwrap();
    assert_eq!((crc32c(&both[0]), crc32c(&both[1])), (a.crc32c, b.crc32c));
    assert_eq!(blob.list(None).unwrap(), vec![a.clone(), b.clone()]);

    // The same bytes under a key with another CRC: refused on get.
    let lie = BlobKey::new("node0000", 2, a.crc32c ^ 1).unwrap();
    blob.put(&lie, small.clone()).unwrap();
    assert!(matches!(blob.get(&lie).unwrap_err(), TierError::CorruptBlob { .. }));

    // Another prefix of the same bucket sees nothing; clearing one prefix leaves the other.
    let other = BlobTier::open(&loc.join("other"), &options(&url)).unwrap();
    assert!(other.list(None).unwrap().is_empty());
    other.put_chunk("node0001", 0, small.clone()).unwrap();
    assert_eq!(blob.clear().unwrap(), 3);
    assert!(blob.list(None).unwrap().is_empty());
    assert_eq!(other.list(None).unwrap().len(), 1);
}

#[test]
fn an_object_without_crc32c_metadata_is_not_trusted() {
    use object_store::aws::AmazonS3Builder;
    use object_store::{ObjectStoreExt, PutPayload};
    let Some(url) = s3::shared_url("an_object_without_crc32c_metadata_is_not_trusted") else { return };
    let bucket = s3::bucket_name("tier-s3-meta");
    s3::create_bucket(&url, &bucket);
    let data = pattern(3, 5000);
    let key = BlobKey::new("node0000", 0, crc32c(&data)).unwrap();
    // Written by another tool, straight through the S3 API: no crc32c metadata.
    let raw = AmazonS3Builder::new()
        .with_bucket_name(&bucket)
        .with_endpoint(&url)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("dpukit")
        .with_secret_access_key("dpukit")
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let path = object_store::path::Path::from(format!("{key}"));
    rt.block_on(raw.put(&path, PutPayload::from(data.clone()))).unwrap();

    let blob =
        BlobTier::open(&BlobLocation::parse(&format!("s3://{bucket}")).unwrap(), &options(&url)).unwrap();
    let e = blob.get(&key).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("blob {key}: crc32c metadata is none, the key says otherwise; object not trusted")
    );
    blob.put(&key, data.clone()).unwrap();
    assert_eq!(blob.get(&key).unwrap(), data);
}

#[test]
fn missing_bucket_is_one_clear_line() {
    let Some(url) = s3::shared_url("missing_bucket_is_one_clear_line") else { return };
    let loc = BlobLocation::parse("s3://no-such-bucket/x").unwrap();
    let blob = BlobTier::open(&loc, &options(&url)).unwrap();
    let e = blob.check().unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "blob tier s3://no-such-bucket/x: bucket not found at {url} (create it first, or check the endpoint and region)"
        )
    );
}

#[test]
fn stopped_server_fails_in_seconds() {
    // A port nothing listens on: every retry is refused; the retry bounds end it quickly.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let loc = BlobLocation::parse("s3://ckpt").unwrap();
    let opts = BlobOptions { max_retries: 2, retry_timeout_ms: 2_000, ..options(&url) };
    let blob = BlobTier::open(&loc, &opts).unwrap();
    let t0 = std::time::Instant::now();
    let e = blob.check().unwrap_err().to_string();
    assert!(t0.elapsed() < std::time::Duration::from_secs(10), "took {:?}", t0.elapsed());
    assert!(e.starts_with(&format!("blob tier s3://ckpt: cannot reach the blob service at {url}")), "{e}");
    assert!(!e.contains('\n'), "{e}");
}
