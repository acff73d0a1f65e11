//! driftless library (placeholder).
