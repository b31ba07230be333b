//! The contact-flow lookup, invoked synchronously by Amazon Connect.

use std::task::{Context as TaskContext, Poll};

use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{LambdaEvent, LambdaInvocation, Runtime, layers::TracingLayer, service_fn};
use serde_json::Value;

use crate::contact_flow::{Attributes, ContactFlowLookup};

/// Always answers with the full attribute map; see `contact_flow`.
pub async fn handle(
    event: LambdaEvent<Value>,
    lookup: &ContactFlowLookup,
) -> Result<Attributes, lambda_runtime::Error> {
    Ok(lookup.answer(&event.payload).await)
}

/// Serves the lookup on the Lambda runtime until the process ends. A flow
/// gets its attribute map even for an event that is not JSON at all.
pub async fn run(lookup: &ContactFlowLookup) -> Result<(), lambda_runtime::Error> {
    Runtime::new(service_fn(|event| handle(event, lookup)))
        .layer(TracingLayer::new())
        .layer(AnyPayloadLayer)
        .run()
        .await
}

/// Lets every payload through to the handler. The runtime parses the raw
/// event before any handler sees it, and an event `serde_json` cannot read
/// (empty, truncated, invalid UTF-8, nested past its depth limit) would
/// become a Lambda error: the flow would take its error branch instead of
/// reading `status`. Such a payload is handed on as JSON `null`, which the
/// lookup answers like an event that names no queue.
#[derive(Clone, Copy, Debug, Default)]
pub struct AnyPayloadLayer;

impl<S> Layer<S> for AnyPayloadLayer {
    type Service = AnyPayload<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AnyPayload { inner }
    }
}

#[derive(Clone, Debug)]
pub struct AnyPayload<S> {
    inner: S,
}

impl<S: Service<LambdaInvocation>> Service<LambdaInvocation> for AnyPayload<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut invocation: LambdaInvocation) -> Self::Future {
        if let Err(err) = readable(&invocation.body) {
            // The error says where parsing stopped, never what the body held.
            tracing::warn!(error = %err, bytes = invocation.body.len(), "the contact-flow event is not JSON; answering as for an event without a queue");
            invocation.body = bytes::Bytes::from_static(b"null");
        }
        self.inner.call(invocation)
    }
}

/// Whether the runtime will be able to parse `body` into a `Value`: parsed
/// the same way, since skipping a value (`IgnoredAny`) neither checks its
/// strings' UTF-8 nor counts its depth. A contact-flow event is a few KB.
pub fn readable(body: &[u8]) -> Result<(), serde_json::Error> {
    serde_json::from_slice::<Value>(body).map(drop)
}
