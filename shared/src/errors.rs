//! Error types shared across capabilities: a leaf, so a store or a source
//! can keep an underlying cause without importing the other.

use std::error::Error as StdError;

/// Any error kept as a cause (`#[source]`), thread-safe.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;
