//! Where the blob tier is and how it is reached: the tier URL grammar, the store's options
//! (uploads, retries, timeouts), credentials and opening the store.
//!
//! **Grammar.** A blob tier is a directory on this machine (`PATH` or `file:///ABS/PATH`,
//! `object_store`'s `LocalFileSystem`) or an Azure Blob container and key prefix
//! (`azure://CONTAINER[/PREFIX]`). Other schemes are refused at the boundary with the list
//! of accepted forms; no other store is compiled in.
//!
//! **Credentials** come from the environment the way `object_store`'s
//! `MicrosoftAzureBuilder::from_env` reads them: `AZURE_STORAGE_ACCOUNT_NAME` with
//! `AZURE_STORAGE_ACCOUNT_KEY`, a SAS (`AZURE_STORAGE_SAS_KEY`), a service principal or a
//! managed identity. Secrets never reach a result or an error message.
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
pub const BLOB_URL_FORMS: &str = "a directory path, file:///ABS/PATH or azure://CONTAINER[/PREFIX]";

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
}

impl BlobLocation {
    /// Parses `PATH`, `file:///ABS/PATH` or `azure://CONTAINER[/PREFIX]`.
    pub fn parse(text: &str) -> Result<BlobLocation, TierError> {
        // Echoed escaped: an error is one line.
        let bad = |reason: String| TierError::BadBlobUrl { url: text.escape_debug().to_string(), reason };
        let t = text.trim();
        if t.is_empty() {
            return Err(bad(format!("empty; accepted forms: {BLOB_URL_FORMS}")));
        }
        if let Some(rest) = t.strip_prefix("azure://") {
            let (container, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            validate_container(container).map_err(|r| bad(r.to_string()))?;
            let prefix = prefix.trim_matches('/');
            if !prefix.is_empty() {
                ObjectPath::parse(prefix)
                    .map_err(|_| bad(format!("prefix `{}` is not a valid key", prefix.escape_debug())))?;
            }
            return Ok(BlobLocation::Azure { container: container.to_string(), prefix: prefix.to_string() });
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

    /// The same location with `segment` appended to its prefix (Azure) or path (local).
    pub fn join(&self, segment: &str) -> BlobLocation {
        match self {
            BlobLocation::Local(p) => BlobLocation::Local(p.join(segment)),
            BlobLocation::Azure { container, prefix } => BlobLocation::Azure {
                container: container.clone(),
                prefix: if prefix.is_empty() { segment.to_string() } else { format!("{prefix}/{segment}") },
            },
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

/// How the blob tier uploads, retries and times out. Every field is a bound; defaults make
/// a stopped server fail within seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlobOptions {
    /// Use the Azure Storage emulator (Azurite); also on with `AZURE_STORAGE_USE_EMULATOR=true`.
    pub emulator: bool,
    /// Blob service endpoint: the emulator's base URL (else `AZURITE_BLOB_STORAGE_URL`, else
    /// `http://127.0.0.1:10000`), or an Azure account URL overriding the default one.
    pub endpoint: Option<String>,
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
    /// `local` or `azure`.
    pub kind: String,
    /// True when the tier is the Azure Storage emulator: its figures say nothing of Azure's speed.
    pub emulator: bool,
    /// The tier URL as given (directory, or `azure://container/prefix`).
    pub location: String,
    /// The service endpoint (no query string, no credentials); `None` for a local directory.
    pub endpoint: Option<String>,
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
        info: BlobTierInfo { kind: "azure".into(), emulator, location: location.to_string(), endpoint },
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
        for (bad, want) in [
            ("s3://bucket/x", "scheme `s3://` is not supported"),
            ("gs://bucket", "azure://CONTAINER[/PREFIX]"),
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
