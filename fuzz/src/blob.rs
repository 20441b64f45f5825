//! Blob objects as the blob tier reads them back: an object name (what `list` parses into a
//! key), the object's bytes and its `crc32c` metadata, each of which may disagree with the
//! others. Properties: a key that parses names exactly one object (printing it gives the
//! name it was parsed from, so `list` then `get` reads the object that was listed);
//! `get` returns an object only when its bytes match the key's CRC32C, and then exactly
//! the bytes stored; the metadata check accepts only the key's own CRC32C.
//!
//! Input: byte 0 switches, a length-prefixed object name, a length-prefixed metadata
//! value, then the object's bytes.

use std::sync::Arc;

use bytes::Bytes as Buf;
use dpukit_host::tier::{BlobKey, BlobTier, TierError};
use dpukit_kernels::crc32c::crc32c;
use object_store::memory::InMemory;

use crate::{assert_one_line, Bytes};

pub fn target(data: &[u8]) {
    let mut input = Bytes(data);
    let switches = input.u8();
    let name_len = usize::from(input.u8());
    let name = String::from_utf8_lossy(input.take(name_len)).into_owned();
    let meta_len = usize::from(input.u8() % 32);
    let meta = String::from_utf8_lossy(input.take(meta_len)).into_owned();
    let body = input.rest();

    let key = match BlobKey::parse(&name) {
        Ok(key) => key,
        Err(e) => {
            assert_one_line("blob key", &e.to_string());
            // The name of the body's own key, so the bytes still get checked.
            let key = BlobKey::new("fuzz", u64::from(switches), crc32c(body)).expect("a valid shard");
            if switches & 1 != 0 {
                BlobKey { crc32c: key.crc32c ^ 1, ..key }
            } else {
                key
            }
        }
    };
    let printed = key.to_string();
    assert_eq!(BlobKey::parse(&printed).ok().as_ref(), Some(&key), "a printed key does not parse back");
    if BlobKey::parse(&name).is_ok() {
        assert_eq!(printed, name, "two object names parse to one key");
    }

    // The metadata check.
    let verdict = key.verify_object(body, Some(Some(meta.as_str())));
    let matches = crc32c(body) == key.crc32c;
    match &verdict {
        Ok(()) => {
            assert!(matches && meta == format!("{:08x}", key.crc32c), "metadata {meta:?} accepted for {key}")
        }
        Err(e) => assert_one_line("blob metadata", &e.to_string()),
    }
    assert!(key.verify_object(body, Some(None)).is_err(), "an object without metadata accepted");
    assert_eq!(key.verify_object(body, None).is_ok(), matches);

    // A whole-object read through the tier, over an in-memory store.
    let tier = BlobTier::with_store(Arc::new(InMemory::new())).expect("a runtime");
    tier.put(&key, Buf::copy_from_slice(body)).expect("in-memory put");
    match tier.get(&key) {
        Ok(bytes) => {
            assert!(matches, "get returned an object whose bytes do not match {key}");
            assert_eq!(&bytes[..], body);
        }
        Err(e @ TierError::CorruptBlob { .. }) => {
            assert!(!matches, "get refused a matching object");
            assert_one_line("blob get", &e.to_string());
        }
        Err(e) => panic!("get {key}: {e}"),
    }
    assert_eq!(tier.list(None).expect("list"), vec![key], "list does not give back the stored key");
}
