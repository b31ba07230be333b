//! Every integration test of the library, linked as one binary: each test
//! binary links the whole AWS SDK, and a dozen links cost CI minutes. Each
//! module below was once a test file of its own and still reads as one;
//! `common` is the harness they share (moto, the stand-ins, the wiring).
//!
//! `cargo test -p queue-stats --test e2e` runs them all; a module alone:
//! `cargo test -p queue-stats --test e2e level_events::`. scripts/test.sh
//! runs them under cargo-nextest (`.config/nextest.toml`) where it can.

mod common;

mod api;
mod clarity_pipeline;
mod connect_instances;
mod connect_pipeline;
mod contact_events;
mod contact_flow;
mod credentialed_sources;
mod eight_by_eight_pipeline;
mod estimated_wait;
mod level_events;
mod partial_failures;
mod poller_handler;
mod snapshot_store;
mod source_contract;
mod symbee_pipeline;
