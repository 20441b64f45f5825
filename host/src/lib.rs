//! Host data path (placeholder until the data-path work lands).
