//! Fan-in read: a gather. `readers` nodes read every shard the `nodes` writers produced;
//! reader `r` takes the shards of writers `r + shift`, `r + shift + readers`, ... (mod
//! `nodes`), so every shard is read once in all.

#![forbid(unsafe_code)]

use crate::spec::ScenarioSpec;

/// The writers whose shards `reader` reads, in the order it reads them.
pub(crate) fn shards_of(spec: &ScenarioSpec, reader: u32) -> impl Iterator<Item = u32> + '_ {
    let nodes = spec.nodes;
    let shift = spec.read_shift % nodes;
    (0..nodes).filter(move |&w| ((w + nodes - shift) % nodes) % spec.readers == reader)
}

/// How many shards `reader` reads: [`shards_of`]'s count, without walking every writer (a
/// modelled run may have 100,000).
pub(crate) fn shard_count(spec: &ScenarioSpec, reader: u32) -> u32 {
    (spec.nodes - reader).div_ceil(spec.readers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ScenarioKind;

    #[test]
    fn every_shard_is_read_once_and_the_count_agrees() {
        for (nodes, readers, shift) in [(1, 1, 0), (4, 2, 1), (12, 3, 2), (7, 7, 6), (9, 4, 0)] {
            let mut spec = ScenarioSpec::defaults(ScenarioKind::FanInRead);
            spec.nodes = nodes;
            spec.readers = readers;
            spec.read_shift = shift;
            let mut seen = Vec::new();
            for r in 0..readers {
                let mine: Vec<u32> = shards_of(&spec, r).collect();
                assert_eq!(mine.len() as u32, shard_count(&spec, r), "{nodes} nodes, reader {r}");
                seen.extend(mine);
            }
            seen.sort_unstable();
            assert_eq!(seen, (0..nodes).collect::<Vec<_>>());
        }
    }
}
