//! Wire types (placeholder).
