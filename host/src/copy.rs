//! Resuming an interrupted blob copy (`dpukit copy`): after a fan-out write whose copy to
//! the blob tier failed or was killed, the chunks each node acknowledged but never marked
//! copied are read back from its local tier, verified against their manifest CRC32C,
//! uploaded, and marked copied. Chunks already marked are not uploaded again.
//!
//! A run directory is one that holds `blob-tier.json` (written by every live run): the tier
//! URL, the run's own part of it and the blob options. The tier can be overridden (same
//! run segment appended), e.g. to copy to another container.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::live::env::{BlobRecord, BLOB_RECORD_FILE};
use crate::run::RunError;
use crate::tier::{
    BlobCopier, BlobCopierConfig, BlobLocation, BlobOptions, BlobTier, CopyJob, LocalTier, LocalTierConfig,
    Manifest,
};
use dpukit_kernels::crc32c::crc32c;

/// How long a resume waits for its last uploads to finish.
const RESUME_DRAIN_TIMEOUT: Duration = Duration::from_secs(600);
/// Most chunks read ahead of the uploads (the copier's staging queue bounds memory too).
const RESUME_BATCH_CHUNKS: usize = 64;

/// Changes to a run's recorded blob options (endpoint, retries, ...) for its resume.
pub type AdjustOptions = Arc<dyn Fn(&mut BlobOptions) + Send + Sync>;

/// What to resume and where to.
#[derive(Clone, Default)]
pub struct ResumeOptions {
    /// Another tier URL instead of the recorded one (the run's segment is appended).
    pub blob: Option<String>,
    /// Applied to the recorded blob options of each run before it resumes.
    pub adjust: Option<AdjustOptions>,
}

impl std::fmt::Debug for ResumeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResumeOptions")
            .field("blob", &self.blob)
            .field("adjust", &self.adjust.is_some())
            .finish()
    }
}

/// Outcome of resuming one run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumedRun {
    /// The run directory.
    pub dir: PathBuf,
    /// Where its objects went.
    pub location: String,
    /// Acknowledged chunks in its manifests.
    pub acknowledged_chunks: u64,
    /// Chunks already marked copied before the resume (not uploaded again).
    pub already_copied_chunks: u64,
    /// Chunks uploaded and marked now.
    pub uploaded_chunks: u64,
    /// Bytes uploaded now.
    pub uploaded_bytes: u64,
    /// Chunks whose local copy does not verify (not uploaded; named, one line each).
    pub unverifiable: Vec<String>,
    /// Partial uploads of a killed run removed from a directory tier (see
    /// [`remove_partial_uploads`]).
    pub partial_uploads_removed: u64,
}

/// Deepest directory level searched for partial uploads (a run's keys are a few levels deep).
const MAX_PARTIAL_DEPTH: usize = 16;

/// object_store's directory store writes an object to `NAME#N` and renames it to `NAME` once
/// complete; an upload killed midway leaves `NAME#N` behind, which no listing shows. Removes
/// every such file under `dir` and returns how many there were.
pub fn remove_partial_uploads(dir: &Path) -> Result<u64, RunError> {
    fn is_partial(name: &str) -> bool {
        matches!(name.rsplit_once('#'), Some((_, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    }
    fn walk(dir: &Path, depth: usize, removed: &mut u64) -> Result<(), RunError> {
        let io = |p: &Path, e: std::io::Error| RunError::Io { path: p.display().to_string(), source: e };
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io(dir, e))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| io(&path, e))?;
            if kind.is_dir() && depth < MAX_PARTIAL_DEPTH {
                walk(&path, depth + 1, removed)?;
            } else if kind.is_file() && is_partial(&entry.file_name().to_string_lossy()) {
                std::fs::remove_file(&path).map_err(|e| io(&path, e))?;
                tracing::info!(path = %path.display(), "removed a partial upload");
                *removed += 1;
            }
        }
        Ok(())
    }
    let mut removed = 0;
    walk(dir, 0, &mut removed)?;
    Ok(removed)
}

/// Resumes every run directory at or directly under `work_dir`.
pub fn resume_copy(work_dir: &Path, opts: &ResumeOptions) -> Result<Vec<ResumedRun>, RunError> {
    let io = |p: &Path, e: std::io::Error| RunError::Io { path: p.display().to_string(), source: e };
    let mut dirs = Vec::new();
    if work_dir.join(BLOB_RECORD_FILE).is_file() {
        dirs.push(work_dir.to_path_buf());
    } else {
        for entry in std::fs::read_dir(work_dir).map_err(|e| io(work_dir, e))? {
            let path = entry.map_err(|e| io(work_dir, e))?.path();
            if path.join(BLOB_RECORD_FILE).is_file() {
                dirs.push(path);
            }
        }
        dirs.sort();
    }
    if dirs.is_empty() {
        return Err(RunError::NotUsable {
            path: work_dir.display().to_string(),
            reason: format!(
                "no run directory here (none holds {BLOB_RECORD_FILE}); give the --work-dir of the run"
            ),
        });
    }
    dirs.iter().map(|d| resume_dir(d, opts)).collect()
}

fn resume_dir(dir: &Path, opts: &ResumeOptions) -> Result<ResumedRun, RunError> {
    let tier = RunError::Tier;
    let record_path = dir.join(BLOB_RECORD_FILE);
    let text = std::fs::read_to_string(&record_path)
        .map_err(|e| RunError::Io { path: record_path.display().to_string(), source: e })?;
    let record: BlobRecord = serde_json::from_str(&text).map_err(|e| RunError::NotUsable {
        path: record_path.display().to_string(),
        reason: format!("not a blob tier record: {e}"),
    })?;
    let location = match &opts.blob {
        Some(url) => BlobLocation::parse(url).map_err(tier)?.join(&record.segment),
        None => BlobLocation::parse(&record.location).map_err(tier)?,
    };
    let mut options = record.blob_options;
    if let Some(adjust) = &opts.adjust {
        adjust(&mut options);
    }
    let blob = Arc::new(BlobTier::open(&location, &options).map_err(tier)?);
    blob.check().map_err(tier)?;
    let partial_uploads_removed = match &location {
        BlobLocation::Local(path) => remove_partial_uploads(path)?,
        // Azure keeps a killed upload's blocks uncommitted and drops them itself. S3 keeps a
        // killed multipart upload's parts, invisible to listings, until a bucket lifecycle
        // rule (AbortIncompleteMultipartUpload) or an abort removes them; object_store cannot
        // list them, so README's S3 section asks for the rule.
        BlobLocation::Azure { .. } | BlobLocation::S3 { .. } => 0,
    };
    let config = BlobCopierConfig {
        upload_concurrency: options.upload_concurrency as usize,
        ..BlobCopierConfig::default()
    };
    let mut copier = BlobCopier::start(Arc::clone(&blob), config).map_err(tier)?;
    let mut out = ResumedRun {
        dir: dir.to_path_buf(),
        location: location.to_string(),
        acknowledged_chunks: 0,
        already_copied_chunks: 0,
        uploaded_chunks: 0,
        uploaded_bytes: 0,
        unverifiable: Vec::new(),
        partial_uploads_removed,
    };

    let mut nodes: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| RunError::Io { path: dir.display().to_string(), source: e })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("manifest.jsonl").is_file())
        .collect();
    nodes.sort();
    for node in nodes {
        let mut manifest = Manifest::open(node.join("manifest.jsonl")).map_err(tier)?;
        let state = manifest.state().clone();
        out.acknowledged_chunks += state.chunks.len() as u64;
        out.already_copied_chunks += state.chunks.values().filter(|e| e.copied.is_some()).count() as u64;
        let todo: Vec<_> = state.not_copied().cloned().collect();
        let longest = todo.iter().map(|r| r.stored_len_bytes).max().unwrap_or(0) as usize;
        if todo.is_empty() {
            continue;
        }
        let buffer = longest.div_ceil(4096).max(1) * 4096;
        let cfg = LocalTierConfig {
            buffer_size_bytes: buffer,
            max_inflight_bytes: (buffer as u64) * 4,
            ..LocalTierConfig::default()
        };
        let mut local = LocalTier::open(&node, cfg).map_err(tier)?;
        for batch in todo.chunks(RESUME_BATCH_CHUNKS) {
            for r in batch {
                let data = match local.read_chunk(&r.shard, r.offset_bytes, r.stored_len_bytes as usize) {
                    Ok(d) if crc32c(&d) == r.crc32c => d,
                    Ok(_) => {
                        out.unverifiable.push(format!(
                            "{} chunk {}: CRC32C mismatch on the local tier",
                            r.shard, r.chunk_index
                        ));
                        continue;
                    }
                    Err(e) => {
                        out.unverifiable.push(format!("{} chunk {}: {e}", r.shard, r.chunk_index));
                        continue;
                    }
                };
                let job = CopyJob {
                    shard: r.shard.clone(),
                    chunk_index: r.chunk_index,
                    crc32c: r.crc32c,
                    data: data.into(),
                    local_durable_at: Instant::now(),
                };
                copier.enqueue(job, RESUME_DRAIN_TIMEOUT).map_err(|e| RunError::Copy(e.to_string()))?;
            }
            mark(&copier, &mut manifest, &mut out)?;
            if let Some(why) = copier.broken() {
                return Err(resume_failed(&out, &why));
            }
        }
        copier.wait_idle(RESUME_DRAIN_TIMEOUT);
        mark(&copier, &mut manifest, &mut out)?;
        if let Some(why) = copier.broken() {
            return Err(resume_failed(&out, &why));
        }
    }
    copier.shutdown();
    Ok(out)
}

/// Appends the copies done so far to the manifest. The lag of a resumed copy is unknown
/// (the chunk became durable in an earlier process): it is recorded as 0.
fn mark(copier: &BlobCopier, manifest: &mut Manifest, out: &mut ResumedRun) -> Result<(), RunError> {
    let copied = copier.take_copied();
    let marks: Vec<_> = copied
        .iter()
        .map(|c| {
            let mut m = c.to_record();
            m.lag_ns = 0;
            m
        })
        .collect();
    manifest.mark_copied(&marks).map_err(|e| RunError::Copy(e.to_string()))?;
    out.uploaded_chunks += copied.len() as u64;
    out.uploaded_bytes += copied.iter().map(|c| c.len_bytes).sum::<u64>();
    Ok(())
}

fn resume_failed(out: &ResumedRun, why: &str) -> RunError {
    RunError::Copy(format!(
        "blob copy of {} to {} failed again after {} chunks ({}); rerun `dpukit copy` when the tier is back",
        out.dir.display(),
        out.location,
        out.uploaded_chunks,
        crate::tier::first_line(why)
    ))
}

#[cfg(test)]
mod partial_tests {
    use super::*;

    #[test]
    fn only_staged_upload_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("run/node0")).unwrap();
        for f in [
            "run/node0/c1#1",
            "run/node0/c2#42",
            "run/a#1",
            "run/node0/c3",
            "run/node0/odd#x",
            "run/node0/tag#",
        ] {
            std::fs::write(d.join(f), b"x").unwrap();
        }
        assert_eq!(remove_partial_uploads(d).unwrap(), 3);
        for kept in ["run/node0/c3", "run/node0/odd#x", "run/node0/tag#"] {
            assert!(d.join(kept).exists(), "{kept} removed");
        }
        assert!(!d.join("run/node0/c1#1").exists() && !d.join("run/a#1").exists());
        assert_eq!(remove_partial_uploads(&d.join("missing")).unwrap(), 0);
    }
}
