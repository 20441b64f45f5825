//! Where the blob tier is and how it is reached: the tier URL grammar, the store's options
//! (uploads, retries, timeouts), credentials and opening the store.
//!
//! **Grammar.** A blob tier is a directory on this machine (`PATH` or `file:///ABS/PATH`,
//! `object_store`'s `LocalFileSystem`; a mounted file system such as a FUSE cache is one),
//! an Azure Blob container and key prefix (`azure://CONTAINER[/PREFIX]`) or an S3-compatible
//! bucket and key prefix (`s3://BUCKET[/PREFIX]`: AWS S3, or any endpoint speaking its API
//! such as AIStore, MinIO, Garage or the S3 gateways of JuiceFS and Alluxio). Other schemes
//! are refused at the boundary with the list of accepted forms; no other store is compiled in.
//!
//! **Credentials** come from the environment the way `object_store`'s builders read them.
//! Azure: `AZURE_STORAGE_ACCOUNT_NAME` with `AZURE_STORAGE_ACCOUNT_KEY`, a SAS
//! (`AZURE_STORAGE_SAS_KEY`), a service principal or a managed identity. S3: the standard
//! AWS variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION` / `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`, web identity, container
//! credentials, instance metadata). Secrets never reach a result or an error message.
//!
//! **S3 endpoints.** Without an endpoint the tier is AWS S3 in the region given (default
//! `us-east-1`), addressed virtual-hosted style as AWS asks. With one (`--blob-endpoint` or
//! `AWS_ENDPOINT_URL`) it is any S3-compatible service, addressed path style
//! (`ENDPOINT/BUCKET/KEY`), which every such service accepts; `path_style` overrides either.
//!
//! **Emulator.** `object_store`'s own emulator mode (`with_use_emulator`) takes its endpoint
//! only from the `AZURITE_BLOB_STORAGE_URL` environment variable. The tier reads the same
//! switch (`AZURE_STORAGE_USE_EMULATOR=true`, or [`BlobOptions::emulator`]) and endpoint
//! (`AZURITE_BLOB_STORAGE_URL`, or [`BlobOptions::endpoint`], default
//! `http://127.0.0.1:10000`) but builds the path-style account URL itself
//! (`ENDPOINT/devstoreaccount1`, Azurite's well-known account and key unless the
//! environment names others), so one process can reach several emulators.

#![forbid(unsafe_code)]

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use serde::{Deserialize, Serialize};

use super::TierError;

/// Azurite's documented well-known account.
const EMULATOR_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's documented well-known account key (public, for the emulator only).
const EMULATOR_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// Azurite's default blob endpoint.
const EMULATOR_DEFAULT_URL: &str = "http://127.0.0.1:10000";
/// The accepted forms, for errors.
pub const BLOB_URL_FORMS: &str =
    "a directory path, file:///ABS/PATH, azure://CONTAINER[/PREFIX] or s3://BUCKET[/PREFIX]";
/// The region of an S3 tier when neither the options nor the environment name one.
const S3_DEFAULT_REGION: &str = "us-east-1";
/// Credentials an S3 emulator is given when the environment has none (emulators accept any).
const S3_EMULATOR_KEY: &str = "dpukit";

/// Where the blob tier lives, parsed once from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobLocation {
    /// A directory on this machine.
    Local(PathBuf),
    /// An Azure Blob container and a key prefix in it (`""` for the container's root).
    Azure {
        /// Container name (checked against Azure's naming rules).
        container: String,
        /// Key prefix, `/`-separated segments without empty ones.
        prefix: String,
    },
    /// An S3 (or S3-compatible) bucket and a key prefix in it (`""` for the bucket's root).
    S3 {
        /// Bucket name (checked against S3's naming rules).
        bucket: String,
        /// Key prefix, `/`-separated segments without empty ones.
        prefix: String,
    },
}

impl BlobLocation {
    /// Parses `PATH`, `file:///ABS/PATH`, `azure://CONTAINER[/PREFIX]` or `s3://BUCKET[/PREFIX]`.
    pub fn parse(text: &str) -> Result<BlobLocation, TierError> {
        // Echoed escaped: an error is one line.
        let bad = |reason: String| TierError::BadBlobUrl { url: text.escape_debug().to_string(), reason };
        let t = text.trim();
        if t.is_empty() {
            return Err(bad(format!("empty; accepted forms: {BLOB_URL_FORMS}")));
        }
        let key_prefix = |prefix: &str| -> Result<String, TierError> {
            let prefix = prefix.trim_matches('/');
            if !prefix.is_empty() {
                ObjectPath::parse(prefix)
                    .map_err(|_| bad(format!("prefix `{}` is not a valid key", prefix.escape_debug())))?;
            }
            Ok(prefix.to_string())
        };
        if let Some(rest) = t.strip_prefix("azure://") {
            let (container, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            validate_container(container).map_err(|r| bad(r.to_string()))?;
            return Ok(BlobLocation::Azure { container: container.to_string(), prefix: key_prefix(prefix)? });
        }
        if let Some(rest) = t.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            validate_bucket(bucket).map_err(|r| bad(r.to_string()))?;
            return Ok(BlobLocation::S3 { bucket: bucket.to_string(), prefix: key_prefix(prefix)? });
        }
        if let Some(path) = t.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(bad("file:// takes an absolute path (file:///ABS/PATH)".into()));
            }
            return Ok(BlobLocation::Local(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = t.split_once("://") {
            return Err(bad(format!(
                "scheme `{scheme}://` is not supported; accepted forms: {BLOB_URL_FORMS}"
            )));
        }
        Ok(BlobLocation::Local(PathBuf::from(t)))
    }

    /// The same location with `segment` appended to its prefix (a store) or path (local).
    pub fn join(&self, segment: &str) -> BlobLocation {
        let joined = |prefix: &str| {
            if prefix.is_empty() {
                segment.to_string()
            } else {
                format!("{prefix}/{segment}")
            }
        };
        match self {
            BlobLocation::Local(p) => BlobLocation::Local(p.join(segment)),
            BlobLocation::Azure { container, prefix } => {
                BlobLocation::Azure { container: container.clone(), prefix: joined(prefix) }
            }
            BlobLocation::S3 { bucket, prefix } => {
                BlobLocation::S3 { bucket: bucket.clone(), prefix: joined(prefix) }
            }
        }
    }
}

impl fmt::Display for BlobLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobLocation::Local(p) => write!(f, "{}", p.display()),
            BlobLocation::Azure { container, prefix } if prefix.is_empty() => {
                write!(f, "azure://{container}")
            }
            BlobLocation::Azure { container, prefix } => write!(f, "azure://{container}/{prefix}"),
            BlobLocation::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            BlobLocation::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// Azure container names: 3..=63 of `a-z 0-9 -`, starting and ending with a letter or digit,
/// no `--`.
fn validate_container(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("missing container (azure://CONTAINER[/PREFIX])");
    }
    if !(3..=63).contains(&name.len()) {
        return Err("container name must be 3 to 63 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err("container name takes only a-z, 0-9 and -");
    }
    if name.starts_with('-') || name.ends_with('-') || name.contains("--") {
        return Err("container name must start and end with a letter or digit, without --");
    }
    Ok(())
}

/// S3 bucket names: 3..=63 of `a-z 0-9 . -`, starting and ending with a letter or digit,
/// no `..` (AWS's general-purpose bucket rules, which S3-compatible services follow).
fn validate_bucket(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("missing bucket (s3://BUCKET[/PREFIX])");
    }
    if !(3..=63).contains(&name.len()) {
        return Err("bucket name must be 3 to 63 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.') {
        return Err("bucket name takes only a-z, 0-9, . and -");
    }
    let edge = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    if !edge(name.bytes().next()) || !edge(name.bytes().last()) || name.contains("..") {
        return Err("bucket name must start and end with a letter or digit, without ..");
    }
    Ok(())
}

/// How the blob tier uploads, retries and times out. Every field is a bound; defaults make
/// a stopped server fail within seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlobOptions {
    /// The service is an emulator (Azurite for Azure, also on with
    /// `AZURE_STORAGE_USE_EMULATOR=true`; an S3 emulator at `endpoint`): the result says its
    /// figures are not the real service's, and an emulator without credentials in the
    /// environment gets its well-known ones.
    pub emulator: bool,
    /// Service endpoint. Azure: the emulator's base URL (else `AZURITE_BLOB_STORAGE_URL`, else
    /// `http://127.0.0.1:10000`), or an account URL overriding the default one. S3: the
    /// S3-compatible service's URL (else `AWS_ENDPOINT_URL`; none: AWS S3).
    pub endpoint: Option<String>,
    /// S3 region (else `AWS_REGION` / `AWS_DEFAULT_REGION`, else `us-east-1`).
    pub region: Option<String>,
    /// S3 addressing: path style (`ENDPOINT/BUCKET/KEY`) or virtual-hosted
    /// (`BUCKET.ENDPOINT/KEY`); `None`: path style with an endpoint, virtual-hosted on AWS.
    pub path_style: Option<bool>,
    /// Objects of at least this many bytes go up as multipart (Put Block / Put Block List).
    pub multipart_threshold_bytes: u64,
    /// Part (block) size of a multipart upload.
    pub part_size_bytes: u64,
    /// Parts of one multipart upload in flight at once.
    pub part_concurrency: u32,
    /// Chunks the background copier uploads at once.
    pub upload_concurrency: u32,
    /// Chunks a reader fetches from the blob tier at once.
    pub read_concurrency: u32,
    /// Retries of a request on a transient error (object_store `RetryConfig::max_retries`).
    pub max_retries: u32,
    /// No retry starts after this long since the first attempt (`RetryConfig::retry_timeout`).
    pub retry_timeout_ms: u64,
    /// First backoff between retries; doubles up to `max_backoff_ms`.
    pub init_backoff_ms: u64,
    /// Longest backoff between retries.
    pub max_backoff_ms: u64,
    /// Whole-request timeout.
    pub request_timeout_ms: u64,
    /// Connection timeout.
    pub connect_timeout_ms: u64,
}

impl Default for BlobOptions {
    fn default() -> Self {
        BlobOptions {
            emulator: false,
            endpoint: None,
            region: None,
            path_style: None,
            multipart_threshold_bytes: 16 << 20,
            part_size_bytes: 8 << 20,
            part_concurrency: 4,
            upload_concurrency: 4,
            read_concurrency: 4,
            max_retries: 3,
            retry_timeout_ms: 10_000,
            init_backoff_ms: 100,
            max_backoff_ms: 2_000,
            request_timeout_ms: 30_000,
            connect_timeout_ms: 5_000,
        }
    }
}

impl BlobOptions {
    /// Checks every bound; the error names the field.
    pub fn validate(&self) -> Result<(), TierError> {
        let bad = |field, reason: String| Err(TierError::BadConfig { field, reason });
        // Azure's smallest useful block is far below this; 5 MiB is S3's minimum part, kept
        // so the same options work on every store with multipart uploads.
        if !(64 << 10..=4000 << 20).contains(&self.part_size_bytes) {
            return bad(
                "blob part_size_bytes",
                format!("must be 64 KiB..=4000 MiB, got {}", self.part_size_bytes),
            );
        }
        if self.multipart_threshold_bytes == 0 {
            return bad("blob multipart_threshold_bytes", "must be at least 1".into());
        }
        for (field, v) in [
            ("blob part_concurrency", self.part_concurrency),
            ("blob upload_concurrency", self.upload_concurrency),
            ("blob read_concurrency", self.read_concurrency),
        ] {
            if !(1..=256).contains(&v) {
                return bad(field, format!("must be 1..=256, got {v}"));
            }
        }
        if self.max_retries > 100 {
            return bad("blob max_retries", format!("must be at most 100, got {}", self.max_retries));
        }
        for (field, v) in [
            ("blob retry_timeout_ms", self.retry_timeout_ms),
            ("blob init_backoff_ms", self.init_backoff_ms),
            ("blob max_backoff_ms", self.max_backoff_ms),
            ("blob request_timeout_ms", self.request_timeout_ms),
            ("blob connect_timeout_ms", self.connect_timeout_ms),
        ] {
            if v == 0 || v > 3_600_000 {
                return bad(field, format!("must be 1..=3600000 ms, got {v}"));
            }
        }
        if self.max_backoff_ms < self.init_backoff_ms {
            return bad("blob max_backoff_ms", "must be at least init_backoff_ms".into());
        }
        if let Some(e) = &self.endpoint {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                return bad("blob endpoint", format!("`{e}` is not an http:// or https:// URL"));
            }
            if e.contains(['?', '#', '@']) {
                // Results record the endpoint; a SAS or user info in it would leak.
                return bad(
                    "blob endpoint",
                    "must not carry a query string or credentials (give a SAS in AZURE_STORAGE_SAS_KEY)"
                        .into(),
                );
            }
        }
        if let Some(r) = &self.region {
            if r.is_empty() || !r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return bad("blob region", format!("`{}` is not a region name", r.escape_debug()));
            }
        }
        Ok(())
    }

    /// Emulator on by option or by `AZURE_STORAGE_USE_EMULATOR`.
    pub fn emulator_on(&self) -> bool {
        self.emulator
            || std::env::var("AZURE_STORAGE_USE_EMULATOR")
                .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
    }

    fn retry(&self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(self.init_backoff_ms),
                max_backoff: Duration::from_millis(self.max_backoff_ms),
                base: 2.0,
            },
            max_retries: self.max_retries as usize,
            retry_timeout: Duration::from_millis(self.retry_timeout_ms),
        }
    }

    fn client(&self) -> ClientOptions {
        ClientOptions::new()
            .with_timeout(Duration::from_millis(self.request_timeout_ms))
            .with_connect_timeout(Duration::from_millis(self.connect_timeout_ms))
    }
}

/// Which blob tier a run used, without secrets (recorded in every result).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobTierInfo {
    /// `local`, `azure` or `s3`.
    pub kind: String,
    /// True when the tier is an emulator (Azurite, an S3 emulator): its figures say nothing
    /// of the real service's speed.
    pub emulator: bool,
    /// The tier URL as given (directory, `azure://container/prefix` or `s3://bucket/prefix`).
    pub location: String,
    /// The service endpoint (no query string, no credentials); `None` for a local directory.
    pub endpoint: Option<String>,
    /// A directory tier: the file system it is on (a FUSE mount is a cache's client, not a
    /// local disk) and whether puts are fsynced. Absent for object stores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<super::MountInfo>,
}

/// An opened remote store, before the tier wraps it.
pub(crate) struct OpenedStore {
    pub store: Arc<dyn ObjectStore>,
    pub info: BlobTierInfo,
    /// The store keeps object attributes (user metadata).
    pub attributes: bool,
}

/// Builds the Azure store for a container (no request is made yet).
pub(crate) fn open_azure(
    container: &str,
    opts: &BlobOptions,
    location: &str,
) -> Result<OpenedStore, TierError> {
    opts.validate()?;
    let emulator = opts.emulator_on();
    let mut b = MicrosoftAzureBuilder::from_env()
        .with_container_name(container)
        .with_retry(opts.retry())
        .with_client_options(opts.client());
    let endpoint = if emulator {
        let base = match &opts.endpoint {
            Some(e) => e.clone(),
            None => std::env::var("AZURITE_BLOB_STORAGE_URL").unwrap_or_else(|_| EMULATOR_DEFAULT_URL.into()),
        };
        let account =
            b.get_config_value(&AzureConfigKey::AccountName).unwrap_or_else(|| EMULATOR_ACCOUNT.to_string());
        let has_secret = [AzureConfigKey::AccessKey, AzureConfigKey::SasKey, AzureConfigKey::Token]
            .iter()
            .any(|k| b.get_config_value(k).is_some_and(|v| !v.is_empty()));
        let endpoint = format!("{}/{account}", base.trim_end_matches('/'));
        b = b
            .with_use_emulator(false)
            .with_account(account)
            .with_endpoint(endpoint.clone())
            .with_allow_http(true);
        if !has_secret {
            b = b.with_access_key(EMULATOR_ACCOUNT_KEY);
        }
        Some(endpoint)
    } else {
        if let Some(e) = &opts.endpoint {
            b = b.with_endpoint(e.clone());
        }
        opts.endpoint.clone().or_else(|| {
            b.get_config_value(&AzureConfigKey::AccountName)
                .map(|a| format!("https://{a}.blob.core.windows.net"))
        })
    };
    let store = b.build().map_err(|e| TierError::BlobAccess {
        location: location.to_string(),
        reason: format!("cannot configure Azure: {}", first_line(&e.to_string())),
    })?;
    let endpoint = endpoint.map(|e| e.split(['?', '#']).next().unwrap_or_default().to_string());
    Ok(OpenedStore {
        store: Arc::new(store),
        info: BlobTierInfo {
            kind: "azure".into(),
            emulator,
            location: location.to_string(),
            endpoint,
            mount: None,
        },
        attributes: true,
    })
}

/// Builds the S3 store for a bucket (no request is made yet).
pub(crate) fn open_s3(bucket: &str, opts: &BlobOptions, location: &str) -> Result<OpenedStore, TierError> {
    opts.validate()?;
    let mut b = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(opts.retry())
        .with_client_options(opts.client());
    if let Some(e) = &opts.endpoint {
        b = b.with_endpoint(e.clone());
    }
    if let Some(r) = &opts.region {
        b = b.with_region(r.clone());
    }
    let region = b.get_config_value(&AmazonS3ConfigKey::Region).unwrap_or_else(|| S3_DEFAULT_REGION.into());
    b = b.with_region(region.clone());
    let endpoint = b.get_config_value(&AmazonS3ConfigKey::Endpoint).filter(|e| !e.is_empty());
    let path_style = opts.path_style.unwrap_or(endpoint.is_some());
    b = b.with_virtual_hosted_style_request(!path_style);
    if endpoint.as_deref().is_some_and(|e| e.starts_with("http://")) {
        b = b.with_allow_http(true);
    }
    if opts.emulator && b.get_config_value(&AmazonS3ConfigKey::AccessKeyId).is_none_or(|k| k.is_empty()) {
        b = b.with_access_key_id(S3_EMULATOR_KEY).with_secret_access_key(S3_EMULATOR_KEY);
    }
    let store = b.build().map_err(|e| TierError::BlobAccess {
        location: location.to_string(),
        reason: format!("cannot configure S3: {}", first_line(&e.to_string())),
    })?;
    let endpoint = endpoint
        .map(|e| e.split(['?', '#']).next().unwrap_or_default().trim_end_matches('/').to_string())
        .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
    Ok(OpenedStore {
        store: Arc::new(store),
        info: BlobTierInfo {
            kind: "s3".into(),
            emulator: opts.emulator,
            location: location.to_string(),
            endpoint: Some(endpoint),
            mount: None,
        },
        attributes: true,
    })
}

/// The first line of a message, trimmed (store errors can carry an XML body).
pub(crate) fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_with_a_line_break_is_echoed_on_one_line() {
        for text in ["s3://a\nb", "azure://ckpt/runs\n/x"] {
            let e = BlobLocation::parse(text).unwrap_err().to_string();
            assert!(!e.contains('\n'), "{e:?}");
        }
    }

    #[test]
    fn urls_parse_or_name_the_accepted_forms() {
        assert_eq!(BlobLocation::parse("/tmp/blob").unwrap(), BlobLocation::Local("/tmp/blob".into()));
        assert_eq!(BlobLocation::parse("rel/dir").unwrap(), BlobLocation::Local("rel/dir".into()));
        assert_eq!(BlobLocation::parse("file:///tmp/b").unwrap(), BlobLocation::Local("/tmp/b".into()));
        assert_eq!(
            BlobLocation::parse("azure://ckpt/runs/a/").unwrap(),
            BlobLocation::Azure { container: "ckpt".into(), prefix: "runs/a".into() }
        );
        assert_eq!(
            BlobLocation::parse("azure://ckpt").unwrap(),
            BlobLocation::Azure { container: "ckpt".into(), prefix: String::new() }
        );
        let loc = BlobLocation::parse("azure://ckpt/runs").unwrap();
        assert_eq!(loc.join("x").to_string(), "azure://ckpt/runs/x");
        assert_eq!(
            BlobLocation::parse("s3://ckpt.v2/runs/a/").unwrap(),
            BlobLocation::S3 { bucket: "ckpt.v2".into(), prefix: "runs/a".into() }
        );
        let loc = BlobLocation::parse("s3://ckpt").unwrap();
        assert_eq!(loc, BlobLocation::S3 { bucket: "ckpt".into(), prefix: String::new() });
        assert_eq!(loc.to_string(), "s3://ckpt");
        assert_eq!(loc.join("x").join("y").to_string(), "s3://ckpt/x/y");
        for (bad, want) in [
            ("gs://bucket/x", "scheme `gs://` is not supported"),
            ("gs://bucket", "s3://BUCKET[/PREFIX]"),
            ("s3://", "missing bucket"),
            ("s3://ab", "3 to 63"),
            ("s3://Upper", "only a-z"),
            ("s3://a..b", "without .."),
            ("s3://-ab", "start and end"),
            ("s3://ckpt/a//b", "not a valid key"),
            ("azure://", "missing container"),
            ("azure://AB", "3 to 63"),
            ("azure://Upper-case", "only a-z"),
            ("azure://a--b", "without --"),
            ("azure://ckpt/a//b", "not a valid key"),
            ("file://rel", "absolute path"),
            ("", "empty"),
        ] {
            let e = BlobLocation::parse(bad).unwrap_err().to_string();
            assert!(e.contains(want), "{bad}: {e}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn options_are_bounded() {
        BlobOptions::default().validate().unwrap();
        let cases: Vec<(BlobOptions, &str)> = vec![
            (BlobOptions { part_size_bytes: 1, ..BlobOptions::default() }, "part_size_bytes"),
            (BlobOptions { part_concurrency: 0, ..BlobOptions::default() }, "part_concurrency"),
            (BlobOptions { read_concurrency: 1000, ..BlobOptions::default() }, "read_concurrency"),
            (BlobOptions { retry_timeout_ms: 0, ..BlobOptions::default() }, "retry_timeout_ms"),
            (BlobOptions { max_backoff_ms: 1, ..BlobOptions::default() }, "max_backoff_ms"),
            (BlobOptions { endpoint: Some("localhost:1".into()), ..BlobOptions::default() }, "endpoint"),
            (BlobOptions { region: Some("us east".into()), ..BlobOptions::default() }, "region"),
            (
                BlobOptions {
                    endpoint: Some("https://a.blob.core.windows.net/?sig=x".into()),
                    ..BlobOptions::default()
                },
                "endpoint",
            ),
        ];
        for (o, field) in cases {
            let e = o.validate().unwrap_err().to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
    }
}
