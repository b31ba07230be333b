//! The control surface every stand-in shares, written once: faults queued
//! for the next requests (from a test, or from a script over
//! `POST /_standin/faults`), a log of what was asked and how it was
//! answered, and, for vendors that sign in, the credentials accepted and
//! the tokens issued. A stand-in holds these parts and says where
//! ([`Controlled`], [`Logs`], [`SignsIn`]); the verbs come with the
//! traits, so every stand-in is driven the same way and a new one gets
//! them by naming its parts.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{MethodRouter, post};
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;

use crate::bearer::Tokens;

/// Faults waiting for the requests they will be applied to, in order.
pub struct Faults<F>(Mutex<VecDeque<F>>);

impl<F> Default for Faults<F> {
    fn default() -> Self {
        Self(Mutex::new(VecDeque::new()))
    }
}

impl<F> Faults<F> {
    pub async fn extend(&self, faults: impl IntoIterator<Item = F>) {
        self.0.lock().await.extend(faults);
    }

    pub async fn clear(&self) {
        self.0.lock().await.clear();
    }

    /// The next fault, whatever the request.
    pub async fn next(&self) -> Option<F> {
        self.0.lock().await.pop_front()
    }

    /// The next fault if it is meant for this kind of request (a sign-in
    /// fault waits for a sign-in); otherwise it stays first in line.
    pub async fn next_if(&self, meant_for_this: impl FnOnce(&F) -> bool) -> Option<F> {
        let mut queue = self.0.lock().await;
        if queue.front().is_some_and(meant_for_this) {
            queue.pop_front()
        } else {
            None
        }
    }
}

/// Every request answered, in order.
pub struct RequestLog<L>(Mutex<Vec<L>>);

impl<L> Default for RequestLog<L> {
    fn default() -> Self {
        Self(Mutex::new(Vec::new()))
    }
}

impl<L: Clone> RequestLog<L> {
    pub async fn record(&self, entry: L) {
        self.0.lock().await.push(entry);
    }

    pub async fn entries(&self) -> Vec<L> {
        self.0.lock().await.clone()
    }

    pub async fn count_where(&self, matches: impl Fn(&L) -> bool) -> usize {
        self.0.lock().await.iter().filter(|e| matches(e)).count()
    }
}

/// The credentials a signing-in vendor accepts now, and the bearer tokens
/// it has issued.
pub struct SignIn<A> {
    accepted: Mutex<A>,
    pub tokens: Tokens,
}

impl<A: Clone> SignIn<A> {
    pub fn new(accepted: A, token_ttl: Duration) -> Self {
        Self {
            accepted: Mutex::new(accepted),
            tokens: Tokens::new(token_ttl),
        }
    }

    pub async fn accepted(&self) -> A {
        self.accepted.lock().await.clone()
    }
}

// Test equipment, awaited where it is called and never sent to another
// task: the `Send` bound these async methods leave open is not needed.
/// A stand-in that takes faults.
#[allow(async_fn_in_trait)]
pub trait Controlled {
    type Fault;

    fn faults(&self) -> &Faults<Self::Fault>;

    /// Queues faults for the next requests, one each, in order.
    async fn inject(&self, faults: impl IntoIterator<Item = Self::Fault>) {
        self.faults().extend(faults).await;
    }

    /// Drops faults not yet applied.
    async fn clear_faults(&self) {
        self.faults().clear().await;
    }
}

/// A stand-in that logs the requests it answered.
#[allow(async_fn_in_trait)]
pub trait Logs {
    type Entry: Clone;

    fn request_log(&self) -> &RequestLog<Self::Entry>;

    /// Every request answered so far, in order.
    async fn log(&self) -> Vec<Self::Entry> {
        self.request_log().entries().await
    }

    /// How many answered requests `matches` picks.
    async fn count_where(&self, matches: impl Fn(&Self::Entry) -> bool) -> usize {
        self.request_log().count_where(matches).await
    }
}

/// A stand-in for a vendor whose clients sign in for a bearer token.
#[allow(async_fn_in_trait)]
pub trait SignsIn {
    type Accepted: Clone;

    fn sign_in(&self) -> &SignIn<Self::Accepted>;

    /// How long tokens issued from now on live.
    async fn set_token_ttl(&self, ttl: Duration) {
        self.sign_in().tokens.set_ttl(ttl).await;
    }

    /// Every token issued so far stops working, as at expiry or when the
    /// vendor revokes them.
    async fn expire_tokens(&self) {
        self.sign_in().tokens.expire_all().await;
    }

    /// The credentials accepted from now on (a rotation on the vendor's side).
    async fn set_accepted(&self, accepted: Self::Accepted) {
        *self.sign_in().accepted.lock().await = accepted;
    }
}

/// `POST /_standin/faults` with a JSON array of a stand-in's faults: the
/// same control for scripts, on any stand-in whose state is `Arc<S>` and
/// keeps its faults where `faults` says.
pub fn faults_route<S, F>(faults: fn(&S) -> &Faults<F>) -> MethodRouter<Arc<S>>
where
    S: Send + Sync + 'static,
    F: DeserializeOwned + Send + 'static,
{
    post(
        move |State(state): State<Arc<S>>, Json(queued): Json<Vec<F>>| async move {
            faults(&state).extend(queued).await;
            StatusCode::NO_CONTENT
        },
    )
}

/// Says where a stand-in keeps its control parts (in `self.shared`), which
/// gives it the verbs of [`Controlled`], and of [`Logs`] and [`SignsIn`]
/// where it has a log and signs clients in:
/// `controls!(ClarityStandin { faults: ClarityFault, log: Logged, sign_in: Accepted });`
#[macro_export]
macro_rules! controls {
    ($standin:ty { faults: $fault:ty $(, log: $entry:ty)? $(, sign_in: $accepted:ty)? $(,)? }) => {
        impl $crate::control::Controlled for $standin {
            type Fault = $fault;

            fn faults(&self) -> &$crate::control::Faults<$fault> {
                &self.shared.faults
            }
        }
        $(
            impl $crate::control::Logs for $standin {
                type Entry = $entry;

                fn request_log(&self) -> &$crate::control::RequestLog<$entry> {
                    &self.shared.log
                }
            }
        )?
        $(
            impl $crate::control::SignsIn for $standin {
                type Accepted = $accepted;

                fn sign_in(&self) -> &$crate::control::SignIn<$accepted> {
                    &self.shared.sign_in
                }
            }
        )?
    };
}
