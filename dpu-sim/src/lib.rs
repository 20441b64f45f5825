//! The software DPU: hardware profiles ([`profile`]) and their figures as data
//! ([`sensitivity`]), the timing model on a virtual clock ([`timing`]), the engine that
//! executes descriptors from queue pairs ([`engine`]), live emulation on wall time
//! ([`live`]) and C kernel plugins ([`plugin`]).
//!
//! It knows the ABI (`dpukit-ffi`) and the kernels (`dpukit-kernels`), never scenarios or
//! storage tiers.

pub mod des;
pub mod engine;
pub mod live;
pub mod plugin;
pub mod profile;
pub mod sensitivity;
pub mod timing;
