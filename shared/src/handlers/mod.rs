//! Lambda entry points: each turns its trigger's event into a domain call
//! and decides how errors surface for that trigger.

pub mod api;
pub mod contact_flow;
pub mod poller;
