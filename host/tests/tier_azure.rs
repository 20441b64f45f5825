//! The blob tier on the Azure Blob API, against Azurite: single PUTs and multipart uploads
//! carry the CRC32C as metadata and verify on get; an object whose metadata disagrees is
//! refused, as is one written without the metadata; range reads; clearing a prefix; a
//! missing container fails `check` in one line.
//! Needs `DPUKIT_AZURITE_URL` (scripts/test.sh); skipped without it.

#[path = "common/azurite.rs"]
mod azurite;

use bytes::Bytes;
use dpukit_host::tier::{BlobKey, BlobLocation, BlobOptions, BlobTier, TierError};
use dpukit_kernels::crc32c::crc32c;

fn pattern(seed: u64, len: usize) -> Bytes {
    (0..len)
        .map(|i| ((i as u64).wrapping_mul(31) ^ seed.wrapping_mul(0x9E37)) as u8)
        .collect::<Vec<u8>>()
        .into()
}

fn options(url: &str) -> BlobOptions {
    BlobOptions {
        emulator: true,
        endpoint: Some(url.to_string()),
        multipart_threshold_bytes: 1 << 20,
        part_size_bytes: 256 << 10,
        part_concurrency: 3,
        ..BlobOptions::default()
    }
}

#[test]
fn chunks_travel_with_their_crc32c_and_large_ones_go_multipart() {
    let Some(url) = azurite::shared_url("chunks_travel_with_their_crc32c") else { return };
    let container = azurite::container_name("tier-azure");
    azurite::create_container(&url, &container);
    let loc = BlobLocation::parse(&format!("azure://{container}/runs/a")).unwrap();
    let blob = BlobTier::open(&loc, &options(&url)).unwrap();
    blob.check().unwrap();
    let info = blob.info();
    assert_eq!((info.kind.as_str(), info.emulator), ("azure", true));
    assert_eq!(info.endpoint.as_deref(), Some(format!("{url}/devstoreaccount1").as_str()));

    let small = pattern(1, 100_000);
    let large = pattern(2, (1 << 20) + 12_345);
    let a = blob.put_chunk("node0000", 0, small.clone()).unwrap();
    let b = blob.put_chunk("node0000", 1, large.clone()).unwrap();
    let counts = blob.upload_counts();
    assert_eq!((counts.single_puts, counts.multipart_puts), (1, 1), "{counts:?}");
    assert_eq!(counts.parts, 5, "1 MiB + 12 KiB in 256 KiB parts: {counts:?}");
    assert_eq!(blob.get(&a).unwrap(), small);
    assert_eq!(blob.get(&b).unwrap(), large);
    assert_eq!(blob.get_range_unverified(&b, 1000..3000).unwrap(), large.slice(1000..3000));
    let both =
        blob.get_ranges_unverified(&[(a.clone(), 0..100_000), (b.clone(), 0..large.len() as u64)]).unwrap();
    assert_eq!((crc32c(&both[0]), crc32c(&both[1])), (a.crc32c, b.crc32c));
    assert_eq!(blob.list(None).unwrap(), vec![a.clone(), b.clone()]);

    // The same bytes under a key with another CRC: the metadata says the key's CRC, the
    // bytes do not match it, and the tier refuses the object.
    let lie = BlobKey::new("node0000", 2, a.crc32c ^ 1).unwrap();
    blob.put(&lie, small.clone()).unwrap();
    assert!(matches!(blob.get(&lie).unwrap_err(), TierError::CorruptBlob { .. }));

    // Another prefix of the same container sees nothing; clearing one prefix leaves the other.
    let other = BlobTier::open(&loc.join("other"), &options(&url)).unwrap();
    assert!(other.list(None).unwrap().is_empty());
    other.put_chunk("node0001", 0, small.clone()).unwrap();
    assert_eq!(blob.clear().unwrap(), 3);
    assert!(blob.list(None).unwrap().is_empty());
    assert_eq!(other.list(None).unwrap().len(), 1);
}

#[test]
fn an_object_without_crc32c_metadata_is_not_trusted() {
    use object_store::azure::MicrosoftAzureBuilder;
    use object_store::{ObjectStoreExt, PutPayload};
    let Some(url) = azurite::shared_url("an_object_without_crc32c_metadata_is_not_trusted") else { return };
    let container = azurite::container_name("tier-meta");
    azurite::create_container(&url, &container);
    let blob = BlobTier::open(&BlobLocation::parse(&format!("azure://{container}")).unwrap(), &options(&url))
        .unwrap();
    // Right bytes under the right key, but written without the metadata.
    let data = pattern(7, 4096);
    let key = BlobKey::new("node0000", 0, crc32c(&data)).unwrap();
    let raw = MicrosoftAzureBuilder::new()
        .with_account("devstoreaccount1")
        .with_access_key(
            "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
        )
        .with_endpoint(format!("{url}/devstoreaccount1"))
        .with_allow_http(true)
        .with_container_name(&container)
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(raw.put(&key.to_string().as_str().into(), PutPayload::from(data.clone()))).unwrap();
    let e = blob.get(&key).unwrap_err();
    assert!(matches!(e, TierError::BlobMetadata { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!("blob {key}: crc32c metadata is none, the key says otherwise; object not trusted")
    );
    // Written through the tier, the same bytes verify.
    blob.put(&key, data.clone()).unwrap();
    assert_eq!(blob.get(&key).unwrap(), data);
}

#[test]
fn missing_container_is_one_clear_line() {
    let Some(url) = azurite::shared_url("missing_container_is_one_clear_line") else { return };
    let loc = BlobLocation::parse("azure://no-such-container/x").unwrap();
    let blob = BlobTier::open(&loc, &options(&url)).unwrap();
    let e = blob.check().unwrap_err().to_string();
    assert_eq!(
        e,
        "blob tier azure://no-such-container/x: container not found (create it first, or check the account)"
    );
}

#[test]
fn stopped_server_fails_in_seconds() {
    // A port nothing listens on: every retry is refused; the retry bounds end it quickly.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let loc = BlobLocation::parse("azure://ckpt").unwrap();
    let opts = BlobOptions { max_retries: 2, retry_timeout_ms: 2_000, ..options(&url) };
    let blob = BlobTier::open(&loc, &opts).unwrap();
    let t0 = std::time::Instant::now();
    let e = blob.check().unwrap_err().to_string();
    assert!(t0.elapsed() < std::time::Duration::from_secs(10), "took {:?}", t0.elapsed());
    assert!(e.starts_with("blob tier azure://ckpt: cannot reach the blob service at"), "{e}");
    assert!(!e.contains('\n'), "{e}");
}
