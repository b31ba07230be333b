//! Realtime queue statistics for Amazon Connect and Symbee Connect.
//!
//! The library behind every function in `functions/`: the normalized model,
//! the sources that fill it, the store and the stream it goes to, and the
//! poll loop that ties them together. Binaries only wire these up.

pub mod api;
pub mod aws;
pub mod backoff;
pub mod config;
pub mod contact_flow;
pub mod estimate;
pub mod events;
pub mod gzip;
pub mod handlers;
pub mod levels;
pub mod limiter;
pub mod model;
pub mod poller;
pub mod secrets;
pub mod sink;
pub mod source;
pub mod store;
pub mod telemetry;
pub mod wiring;
