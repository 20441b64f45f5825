//! Software DPU (being built).
