//! Logging set-up shared by every function: JSON lines, one per event,
//! which CloudWatch Logs Insights can query field by field.

/// Installs the JSON subscriber; `RUST_LOG` overrides the level (default info).
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_ansi(false)
        .without_time() // Lambda stamps every line itself.
        .with_target(false)
        .try_init();
}
