//! Local HTTP stand-ins for the vendor APIs we poll, speaking their wire
//! formats, with faults on demand.
//!
//! They are test equipment and the local demo's upstreams, never product
//! code: they deliberately share no types with `queue-stats`, so a test that
//! passes proves our client agrees with the documented wire format, not
//! with itself.

pub mod aws_front;
pub mod bearer;
pub mod clarity;
pub mod connect;
pub mod contact_events;
pub mod control;
pub mod eight_by_eight;
pub mod eventbridge;
pub mod simulation;
pub mod symbee;

/// Serves `app` on `bind` (port 0 picks one) until the process ends, and
/// says where: every stand-in starts this way (Clarity, which tracks each
/// connection's NTLM handshake, serves with connection info instead).
pub async fn serve(
    bind: std::net::SocketAddr,
    app: axum::Router,
) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}
