//! Offloadable kernels (being built).
