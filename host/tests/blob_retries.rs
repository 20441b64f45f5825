//! Blob-tier retries are counted from object_store's own log events: a service that
//! answers every request with 503 makes object_store retry each request `max_retries`
//! times, and the counter sees exactly those retries.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dpukit_host::logs::{blob_retries, RetryCounter};
use dpukit_host::tier::{BlobLocation, BlobOptions, BlobTier};
use tracing_subscriber::layer::SubscriberExt;

/// Answers every HTTP request with 503 and counts them.
fn unavailable_service() -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/devstoreaccount1", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            // Read the request head and any body, then answer.
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    let mut body = vec![0; len];
                    let _ = reader.read_exact(&mut body);
                    seen.fetch_add(1, Ordering::SeqCst);
                    let _ = stream.write_all(
                        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                    break;
                }
            }
        }
    });
    (url, requests)
}

#[test]
fn every_retry_object_store_makes_is_counted() {
    let (url, requests) = unavailable_service();
    let subscriber = tracing_subscriber::registry().with(RetryCounter::layer());
    let _guard = tracing::subscriber::set_default(subscriber);
    let before = blob_retries().expect("the counter is installed");
    let options = BlobOptions {
        emulator: true,
        endpoint: Some(url),
        max_retries: 2,
        retry_timeout_ms: 10_000,
        init_backoff_ms: 1,
        max_backoff_ms: 5,
        ..BlobOptions::default()
    };
    let location = BlobLocation::parse("azure://retries/x").unwrap();
    let tier = BlobTier::open(&location, &options).unwrap();
    assert!(tier.check().is_err(), "a service that answers 503 cannot pass the check");
    let retries = blob_retries().unwrap() - before;
    let served = requests.load(Ordering::SeqCst);
    // Each request is tried once and retried twice: the retries are two of every three.
    assert!(served >= 3, "{served} requests");
    assert_eq!(retries * 3, served * 2, "{retries} retries counted for {served} requests");
}
