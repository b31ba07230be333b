//! Amazon Connect contact events as the stack's rule delivers them to its
//! SQS queue: the EventBridge envelope around the contact's detail, in the
//! documented shape (fixtures/events/connect-contact-*.json). Built for
//! the simulated floor (the local run, the lag bench) and the tests, and
//! sent the way EventBridge's SQS target sends them: one event a message.

use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::simulation::{ContactMove, MoveKind};

/// One contact event.
#[derive(Clone, Debug, PartialEq)]
pub struct ContactEventSpec<'a> {
    pub kind: MoveKind,
    pub contact_id: &'a str,
    /// `arn:aws:connect:REGION:ACCOUNT:instance/ID/queue/QUEUE`.
    pub queue_arn: &'a str,
    pub channel: &'a str,
    /// When the contact entered the queue.
    pub enqueued: DateTime<Utc>,
    /// When this happened.
    pub at: DateTime<Utc>,
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A stable event id (EventBridge's is a UUID): the same event twice has
/// the same id, as a redelivery does.
fn event_id(parts: &[&str]) -> String {
    let hash = |salt: u64| {
        parts.iter().fold(0xcbf2_9ce4_8422_2325 ^ salt, |h, part| {
            part.bytes()
                .chain([0])
                .fold(h, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
        })
    };
    let (a, b) = (hash(1), hash(2));
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

/// The event as the SQS message body holds it.
pub fn contact_event(spec: &ContactEventSpec<'_>) -> Value {
    let instance_arn = spec
        .queue_arn
        .split("/queue/")
        .next()
        .unwrap_or(spec.queue_arn);
    let mut parts = instance_arn.split(':');
    let (region, account) = (
        parts.nth(3).unwrap_or("us-east-1"),
        parts.next().unwrap_or("000000000000"),
    );
    let event_type = spec.kind.event_type();
    let at = stamp(spec.at);
    let mut detail = json!({
        "eventType": event_type,
        "contactId": spec.contact_id,
        "initialContactId": spec.contact_id,
        "channel": spec.channel,
        "instanceArn": instance_arn,
        "initiationMethod": "INBOUND",
        "initiationTimestamp": stamp(spec.enqueued),
        "queueInfo": {
            "queueArn": spec.queue_arn,
            "queueType": "STANDARD",
            "enqueueTimestamp": stamp(spec.enqueued),
        },
    });
    match spec.kind {
        MoveKind::Queued => {}
        MoveKind::ConnectedToAgent => {
            detail["agentInfo"] = json!({
                "agentArn": format!("{instance_arn}/agent/{:08x}", spec.contact_id.len()),
                "connectedToAgentTimestamp": at,
            });
        }
        MoveKind::Disconnected => detail["disconnectTimestamp"] = json!(at),
    }
    json!({
        "version": "0",
        "id": event_id(&[spec.contact_id, event_type, &at]),
        "detail-type": "Amazon Connect Contact Event",
        "source": "aws.connect",
        "account": account,
        "time": at,
        "region": region,
        "resources": [format!("{instance_arn}/contact/{}", spec.contact_id), instance_arn],
        "detail": detail,
    })
}

/// A floor's move as an event, its floor seconds placed on the wall clock
/// by `wall` (floor seconds in, UTC out).
pub fn from_move(moved: &ContactMove, wall: impl Fn(f64) -> DateTime<Utc>) -> Value {
    contact_event(&ContactEventSpec {
        kind: moved.kind,
        contact_id: &moved.contact_id,
        queue_arn: &moved.queue_arn,
        channel: moved.channel,
        enqueued: wall(moved.enqueued_at),
        at: wall(moved.at),
    })
}

/// The floor's contact events since the last call, placed on the wall
/// clock: the floor's `now` is now, and `speed` floor seconds pass in one
/// wall second.
pub fn take_events(floor: &mut crate::simulation::Floor, speed: f64) -> Vec<Value> {
    let (wall_now, floor_now) = (Utc::now(), floor.now());
    let speed = if speed > 0.0 { speed } else { 1.0 };
    let wall = |t: f64| {
        wall_now - chrono::Duration::milliseconds(((floor_now - t) / speed * 1000.0) as i64)
    };
    floor
        .take_contact_events()
        .iter()
        .map(|moved| from_move(moved, wall))
        .collect()
}

/// Sends events to the stack's SQS queue, ten a call (SendMessageBatch's
/// limit), as EventBridge's target would one by one.
#[derive(Clone)]
pub struct EventSender {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl EventSender {
    pub fn new(client: aws_sdk_sqs::Client, url: &str) -> Self {
        Self {
            client,
            url: url.to_owned(),
        }
    }

    /// Creates (or finds) the queue `name` and sends to it.
    pub async fn create(client: aws_sdk_sqs::Client, name: &str) -> Result<Self, String> {
        let url = client
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| format!("create SQS queue {name}: {e:?}"))?
            .queue_url
            .ok_or_else(|| format!("create SQS queue {name}: no URL"))?;
        Ok(Self::new(client, &url))
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `events`; returns when each batch was on the queue, one
    /// instant per event, in order.
    pub async fn send(&self, events: &[Value]) -> Result<Vec<Instant>, String> {
        let mut on_queue = Vec::with_capacity(events.len());
        for batch in events.chunks(10) {
            let entries = batch
                .iter()
                .enumerate()
                .map(|(i, event)| {
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(event.to_string())
                        .build()
                        .map_err(|e| e.to_string())
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| format!("SendMessageBatch: {e:?}"))?;
            if !output.failed().is_empty() {
                return Err(format!(
                    "SendMessageBatch refused {} of {}",
                    output.failed().len(),
                    batch.len()
                ));
            }
            on_queue.extend(std::iter::repeat_n(Instant::now(), batch.len()));
        }
        Ok(on_queue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../fixtures/events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    /// The documented fixtures, rebuilt field by field (ids aside).
    #[test]
    fn events_have_the_documented_shape() {
        for (kind, file) in [
            (MoveKind::Queued, "connect-contact-queued.json"),
            (
                MoveKind::ConnectedToAgent,
                "connect-contact-connected-to-agent.json",
            ),
            (MoveKind::Disconnected, "connect-contact-disconnected.json"),
        ] {
            let documented = fixture(file);
            let d = &documented["detail"];
            let time = |v: &Value| {
                DateTime::parse_from_rfc3339(v.as_str().unwrap())
                    .unwrap()
                    .with_timezone(&Utc)
            };
            let at = match kind {
                MoveKind::Queued => time(&d["queueInfo"]["enqueueTimestamp"]),
                MoveKind::ConnectedToAgent => time(&d["agentInfo"]["connectedToAgentTimestamp"]),
                MoveKind::Disconnected => time(&d["disconnectTimestamp"]),
            };
            let built = contact_event(&ContactEventSpec {
                kind,
                contact_id: d["contactId"].as_str().unwrap(),
                queue_arn: d["queueInfo"]["queueArn"].as_str().unwrap(),
                channel: d["channel"].as_str().unwrap(),
                enqueued: time(&d["queueInfo"]["enqueueTimestamp"]),
                at,
            });
            for pointer in [
                "/source",
                "/detail-type",
                "/account",
                "/region",
                "/detail/eventType",
                "/detail/contactId",
                "/detail/channel",
                "/detail/instanceArn",
                "/detail/queueInfo/queueArn",
                "/detail/queueInfo/enqueueTimestamp",
                "/detail/agentInfo/connectedToAgentTimestamp",
                "/detail/disconnectTimestamp",
            ] {
                assert_eq!(
                    built.pointer(pointer),
                    documented.pointer(pointer),
                    "{file} {pointer}"
                );
            }
        }
    }

    #[test]
    fn the_same_event_has_the_same_id_and_another_another() {
        let spec = |kind| ContactEventSpec {
            kind,
            contact_id: "c1",
            queue_arn: "arn:aws:connect:us-west-2:1:instance/i/queue/q",
            channel: "VOICE",
            enqueued: DateTime::UNIX_EPOCH,
            at: DateTime::UNIX_EPOCH,
        };
        let one = contact_event(&spec(MoveKind::Queued));
        assert_eq!(one["id"], contact_event(&spec(MoveKind::Queued))["id"]);
        assert_ne!(
            one["id"],
            contact_event(&spec(MoveKind::Disconnected))["id"]
        );
        assert_eq!(one["region"], "us-west-2");
        assert_eq!(
            one["detail"]["instanceArn"],
            "arn:aws:connect:us-west-2:1:instance/i"
        );
    }
}
