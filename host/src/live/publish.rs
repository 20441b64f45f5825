//! The objects the read scenarios read, written to the blob tier before the timed phase
//! (as a previous job would have) and shared by every process as one catalog.

#![forbid(unsafe_code)]

use crate::cluster::Cluster;
use crate::live::env::{datagen, max_stored, object_seed, tier_err, wire_err, Env};
use crate::plugin::{Plugin, PLUGIN_FORWARD, PLUGIN_OPCODE};
use crate::run::RunError;
use crate::scenario::codec;
use crate::spec::ScenarioSpec;
use crate::tier::BlobKey;
use bytes::Bytes;
use dpukit_kernels::compress;
use dpukit_kernels::registry::{codec_for, UserArgs};
use serde::{Deserialize, Serialize};

// Fan-out write

pub(super) fn shard_name(node: u32) -> String {
    format!("node{node:04}")
}

// Published objects (setup of the read scenarios, untimed)

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum ObjectName {
    /// The model every node loads (fan-out read).
    Model,
    /// The shard node N wrote (fan-in read).
    Shard(u32),
}

impl ObjectName {
    pub(super) fn shard(self) -> String {
        match self {
            ObjectName::Model => "model".into(),
            ObjectName::Shard(n) => shard_name(n),
        }
    }
    pub(super) fn seed_id(self) -> u64 {
        match self {
            ObjectName::Model => u64::MAX,
            ObjectName::Shard(n) => n as u64,
        }
    }
}

/// One published chunk: where it is and what it must verify to.
#[derive(Debug, Clone)]
pub(super) struct PubChunk {
    pub(super) key: BlobKey,
    pub(super) stored_len: u32,
    pub(super) raw_len: u32,
}

pub(super) type Catalog = Vec<(ObjectName, Vec<PubChunk>)>;

/// Every process's published objects, in object order (the model, then shards by writer).
pub(super) fn share_catalog(cluster: &dyn Cluster, mine: Catalog) -> Result<Catalog, RunError> {
    type Wire = Vec<(ObjectName, Vec<(String, u32, u32)>)>;
    let wire: Wire = mine
        .into_iter()
        .map(|(name, chunks)| {
            (name, chunks.into_iter().map(|c| (c.key.to_string(), c.stored_len, c.raw_len)).collect())
        })
        .collect();
    let all = cluster.all_gather(serde_json::to_vec(&wire).map_err(wire_err)?).map_err(RunError::Cluster)?;
    let mut catalog = Catalog::new();
    for bytes in all {
        let wire: Wire = serde_json::from_slice(&bytes).map_err(wire_err)?;
        for (name, chunks) in wire {
            let chunks = chunks
                .into_iter()
                .map(|(key, stored_len, raw_len)| {
                    BlobKey::parse(&key).map(|key| PubChunk { key, stored_len, raw_len }).map_err(wire_err)
                })
                .collect::<Result<Vec<_>, _>>()?;
            catalog.push((name, chunks));
        }
    }
    catalog.sort_by_key(|(name, _)| match name {
        ObjectName::Model => (0, 0),
        ObjectName::Shard(n) => (1, *n),
    });
    Ok(catalog)
}

/// Writes the objects to the blob tier, as a previous job would have (untimed): each
/// chunk produced as the scenario produces one (compressed, then the plugin op forward).
pub(super) fn publish(
    spec: &ScenarioSpec,
    env: &Env,
    names: &[ObjectName],
    plugin: Option<&Plugin>,
) -> Result<Catalog, RunError> {
    let gen = datagen(spec);
    let chunk = spec.chunk_size_bytes as usize;
    let mut raw = vec![0u8; chunk];
    let mut comp = vec![0u8; max_stored(spec, chunk)];
    let mut sealed = vec![0u8; if plugin.is_some() { comp.len().max(chunk) } else { 0 }];
    let mut catalog = Vec::new();
    for &name in names {
        let seed = object_seed(spec, name.seed_id());
        let mut chunks = Vec::new();
        for i in 0..spec.chunks_per_object() {
            let len = chunk.min((spec.object_size_bytes - i * chunk as u64) as usize);
            gen.fill(seed, i * chunk as u64, &mut raw[..len]);
            let stored: &[u8] = match codec(spec).and_then(|(a, l)| codec_for(a, l).ok()) {
                Some(codec) => {
                    let n = compress::compress(&codec, &raw[..len], &mut comp)?;
                    &comp[..n]
                }
                None => &raw[..len],
            };
            let stored: &[u8] = match (plugin, &spec.plugin) {
                (Some(p), Some(ps)) => {
                    let args = UserArgs {
                        opcode: PLUGIN_OPCODE,
                        arg0: ps.arg,
                        arg1: PLUGIN_FORWARD,
                        ..UserArgs::default()
                    };
                    let n = stored.len();
                    p.kernel().run(&args, stored, &mut sealed[..n]).map_err(|status| {
                        RunError::Job(format!(
                            "publishing {} chunk {i}: plugin op `{}` failed: {status}",
                            name.shard(),
                            p.name()
                        ))
                    })?;
                    &sealed[..n]
                }
                _ => stored,
            };
            let key =
                env.blob.put_chunk(&name.shard(), i, Bytes::copy_from_slice(stored)).map_err(tier_err)?;
            chunks.push(PubChunk { key, stored_len: stored.len() as u32, raw_len: len as u32 });
        }
        catalog.push((name, chunks));
    }
    Ok(catalog)
}
