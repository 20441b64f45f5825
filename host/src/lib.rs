//! The host data path of dpukit: the offload interface with its host and DPU backends
//! ([`offload`], over the DMA slot pool in [`dma`]) and its single-op microbenchmarks
//! ([`accel`]), the storage tiers ([`tier`], resumed
//! copies in [`copy`], staging buffers in [`staging`]), the four scenarios (each defined
//! once in `scenario`, run live by `live` through [`run`], their nodes spread over
//! processes by [`cluster`], and modelled at scale by [`scale`] from a [`calibrate`]d
//! machine; [`validate`] holds the two against each other), their knobs ([`spec`],
//! [`preset`]), metrics ([`metrics`]), the result document ([`result`]), where it came
//! from ([`provenance`]) and its renderings ([`report`]), and how far a modelled result
//! depends on the profile's figures ([`sensitivity`]).
//!
//! It knows the ABI, the kernels and the simulator; the command line sits above it.

pub mod accel;
pub mod calibrate;
pub mod cluster;
pub mod copy;
mod cores;
pub mod device;
pub mod dma;
pub mod dpdk;
mod live;
pub mod logs;
pub mod metrics;
pub mod offload;
pub mod placement;
pub mod plugin;
pub mod preset;
pub mod process;
pub mod provenance;
pub mod repeat;
pub mod report;
pub mod result;
pub mod run;
pub mod scale;
mod scenario;
pub mod sensitivity;
pub mod spec;
pub mod staging;
pub mod thread_device;
pub mod tier;
pub mod validate;
