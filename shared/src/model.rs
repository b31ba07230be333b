//! The normalized queue model every source maps into and every reader serves.
//!
//! Field names follow Symbee's response (the vocabulary users already know),
//! serialized as camelCase JSON. Vendor enumerations grow over time, so each
//! is an [`open_enum!`] that keeps an unknown value as its string: a new
//! Symbee task type must never fail a poll.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Declares a string enumeration whose unknown values survive a round trip.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($variant,)+
            /// A value this build does not know yet, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The wire string of this value.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(text) => text,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Ok(Self::from(text.as_ref()))
            }
        }
    };
}

open_enum!(
    /// Which of our sources reported a queue.
    SourceName {
        Symbee = "symbee",
        Connect = "connect",
        EightByEight = "8x8",
        Clarity = "clarity",
    }
);

open_enum!(
    /// Who delivers the queue's work (Symbee's `queueInfo.deliveryProvider`).
    DeliveryProvider {
        Amazon = "AMAZON",
        Symbee = "SYMBEE",
        EightByEight = "8X8",
        Clarity = "CLARITY",
    }
);

open_enum!(
    /// The kind of work a queue holds (Symbee's `queueInfo.taskType`).
    TaskType {
        AmazonAny = "AMAZON_ANY",
        RoutedEmail = "ROUTED_EMAIL",
        Webchat = "WEBCHAT",
        Sms = "SMS",
        SmsPinpoint = "SMS_PINPOINT",
        SmsWebhook = "SMS_WEBHOOK",
        PreviewDial = "PREVIEW_DIAL",
        SocialWhatsapp = "SOCIAL_WHATSAPP",
        SocialLine = "SOCIAL_LINE",
        SocialFbMessenger = "SOCIAL_FBMESSENGER",
        SocialTwitterDm = "SOCIAL_TWITTERDM",
        SocialOther = "SOCIAL_OTHER",
        InstantMessage = "INSTANT_MESSAGE",
        UcCall = "UC_CALL",
        GenericTask = "GENERIC_TASK",
        Call = "CALL",
    }
);

open_enum!(
    /// Whether a queue is taking work (Symbee's `openClosedState`).
    OpenClosedState {
        ForcedOpen = "FORCED_OPEN",
        ForcedClosed = "FORCED_CLOSED",
        OperatingHoursOpen = "OPERATING_HOURS_OPEN",
        OperatingHoursClosed = "OPERATING_HOURS_CLOSED",
        OperatingHoursUnknown = "OPERATING_HOURS_UNKNOWN",
    }
);

/// The counters a queue (or one channel of it) reports. `None` means the
/// source cannot supply the figure: never a made-up zero.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    pub agents_staffed: Option<u64>,
    pub agents_available: Option<u64>,
    pub agents_working: Option<u64>,
    pub agents_in_wrap: Option<u64>,
    pub agents_in_error: Option<u64>,
    pub agents_unavailable: Option<u64>,
    pub items_in_queue: Option<u64>,
    pub items_scheduled: Option<u64>,
    pub items_being_delivered: Option<u64>,
    /// Age of the oldest waiting item, in seconds, whatever unit the source used.
    pub oldest_item: Option<u64>,
    /// Seconds a contact joining now would wait (docs/estimated-wait.md);
    /// `null` when unknown (and in data written before estimates).
    #[serde(default)]
    pub estimated_wait_time: Option<u64>,
    /// Who computed `estimatedWaitTime`: the vendor or our model.
    #[serde(default)]
    pub estimated_wait_source: Option<EstimateSource>,
}

/// Who computed an estimated wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EstimateSource {
    /// The contact-center platform's own figure (Connect's ESTIMATED_WAIT_TIME).
    Vendor,
    /// Ours, from the figures and their recent history.
    Model,
}

/// Today-so-far figures for a queue (sources that have them, e.g. Connect).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Intraday {
    /// Start of "today" in the configured time zone, RFC 3339.
    #[serde(with = "rfc3339")]
    pub since: DateTime<Utc>,
    /// Percentage answered within each threshold, keyed by threshold seconds.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub service_level: BTreeMap<String, Option<f64>>,
    pub contacts_handled: Option<u64>,
    pub contacts_abandoned: Option<u64>,
    /// Seconds.
    pub avg_handle_time: Option<f64>,
    /// Seconds.
    pub avg_queue_answer_time: Option<f64>,
}

/// Slots of one channel across a queue's agents.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlotCounts {
    pub active: u64,
    pub available: u64,
    pub max: u64,
}

/// Agent-level detail (Connect GetCurrentUserData), refreshed in rotation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentDetail {
    /// Agents by their current status name (Available, Break, Lunch...).
    pub by_state: BTreeMap<String, u64>,
    /// Slots by channel (VOICE, CHAT, TASK...).
    pub slots_by_channel: BTreeMap<String, SlotCounts>,
    #[serde(with = "rfc3339")]
    pub as_of: DateTime<Utc>,
}

/// A vendor's averages over the interactions in progress, in seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VendorAverages {
    pub waiting_time: Option<f64>,
    pub handling_time: Option<f64>,
    pub talking_time: Option<f64>,
}

/// One queue as one source saw it at one poll.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    pub source: SourceName,
    pub queue_id: String,
    pub queue_name: String,
    pub delivery_provider: DeliveryProvider,
    pub task_type: TaskType,
    pub open_closed_state: OpenClosedState,
    #[serde(flatten)]
    pub counters: Counters,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents_online: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots_active: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots_available: Option<u64>,
    /// Per-channel breakdown (`VOICE`, `CHAT`, `TASK`) where the source has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<BTreeMap<String, Counters>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intraday: Option<Intraday>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents: Option<AgentDetail>,
    /// The site (location) the queue belongs to, where the source has sites (8x8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The vendor's own live averages over the calls in progress, in seconds (8x8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_averages: Option<VendorAverages>,
    /// The Amazon Connect instance the queue belongs to (Connect only):
    /// `instanceId`, `region`, `instanceAlias`.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<InstanceRef>,
    /// `normal`, `warning`, `critical` or `unknown`, from the `QUEUE_LEVELS`
    /// rules (set by the poller; absent in data written before levels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    /// True when the figures are carried over from an earlier poll because
    /// the source failed this time.
    #[serde(default)]
    pub stale: bool,
    /// When these figures were observed, present on stale queues.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "rfc3339_opt")]
    pub as_of: Option<DateTime<Utc>>,
    /// What last set the waiting figures, where contact events are on
    /// (Connect): the `poll`, or the contact `events` since it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<UpdatedBy>,
    /// When the waiting figures were last set (with `updatedBy`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "rfc3339_opt")]
    pub updated_at: Option<DateTime<Utc>>,
    /// How close the wait estimate served when each contact arrived came to
    /// its true wait, over the last hour (Connect, with contact events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate_accuracy: Option<EstimateAccuracy>,
}

/// What last set a queue's waiting figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdatedBy {
    Poll,
    Events,
}

/// The served wait estimate against answered contacts' true waits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EstimateAccuracy {
    /// Mean absolute error, seconds (`null` before any contact is scored).
    pub mae_seconds: Option<f64>,
    /// Mean of estimate minus wait, seconds: positive when it ran long.
    pub bias_seconds: Option<f64>,
    /// Answered contacts scored.
    pub contacts: u64,
    /// The start of the window scored.
    #[serde(with = "rfc3339")]
    pub since: DateTime<Utc>,
}

impl QueueStats {
    /// A queue with every optional field empty; sources fill in what they have.
    pub fn new(
        source: SourceName,
        queue_id: impl Into<String>,
        queue_name: impl Into<String>,
        delivery_provider: DeliveryProvider,
        task_type: TaskType,
        open_closed_state: OpenClosedState,
    ) -> Self {
        Self {
            source,
            queue_id: queue_id.into(),
            queue_name: queue_name.into(),
            delivery_provider,
            task_type,
            open_closed_state,
            counters: Counters::default(),
            agents_online: None,
            slots_active: None,
            slots_available: None,
            channels: None,
            intraday: None,
            agents: None,
            site: None,
            vendor_averages: None,
            instance: None,
            level: None,
            stale: false,
            as_of: None,
            updated_by: None,
            updated_at: None,
            estimate_accuracy: None,
        }
    }
}

/// Puts queues in the one order every snapshot has, by source then queue
/// id: the poller builds snapshots in it and the store reads them back in
/// it, so the two compare equal and API answers are stable.
pub fn sort_canonical(queues: &mut [QueueStats]) {
    queues.sort_by(|a, b| {
        (a.source.as_str(), a.queue_id.as_str()).cmp(&(b.source.as_str(), b.queue_id.as_str()))
    });
}

/// Whether a source answered in one poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceState {
    Ok,
    Error,
}

/// A machine-readable code and a human message; never holds a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub code: String,
    pub message: String,
}

/// One Amazon Connect instance: its id, the Region it lives in and its
/// alias (DescribeInstance's, or the id when that cannot be read). A stack
/// polls several; each is a source of its own in the snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRef {
    pub instance_id: String,
    pub region: String,
    pub instance_alias: String,
}

/// How one source fared in one poll. A Connect stack has one per instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    pub source: SourceName,
    /// The Connect instance this entry is about (Connect only).
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<InstanceRef>,
    pub status: SourceState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    pub latency_ms: u64,
    pub queue_count: usize,
}

/// One poll: every enabled source's status and every queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub snapshot_id: String,
    /// When the cycle started polling.
    #[serde(with = "rfc3339")]
    pub observed_at: DateTime<Utc>,
    pub sources: Vec<SourceStatus>,
    pub queues: Vec<QueueStats>,
}

/// Formats a timestamp the way every contract in this project shows it:
/// RFC 3339, UTC, millisecond precision, `Z` suffix.
pub fn format_rfc3339(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Serde adapter for [`format_rfc3339`].
pub mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_rfc3339(at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// Serde adapter for an optional [`rfc3339`] timestamp.
pub mod rfc3339_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => super::rfc3339::serialize(at, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapper(#[serde(with = "super::rfc3339")] DateTime<Utc>);
        Ok(Option::<Wrapper>::deserialize(d)?.map(|Wrapper(at)| at))
    }
}

// ---- Levels ----

/// How busy a queue is, as the `QUEUE_LEVELS` rules decide (`levels`):
/// part of the vocabulary, since every queue carries one. The one place
/// the level names are spelled.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Stale figures, or none the rules look at.
    #[default]
    Unknown,
    Normal,
    Warning,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Normal => "normal",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

// ---- Queue identity ----

/// The part of a queue id that names it regardless of spelling: the queue
/// uuid of a Connect queue ARN, or the id itself. A bare Connect queue id
/// and its ARN therefore land in the same shard and match each other.
pub fn queue_key(queue_id: &str) -> &str {
    match queue_id.rfind("/queue/") {
        Some(at) if queue_id.starts_with("arn:") => &queue_id[at + "/queue/".len()..],
        _ => queue_id,
    }
}

/// Whether `requested` names the queue `queue_id`: the same id, or a queue
/// ARN and its bare Connect queue id either way round.
pub fn names_queue(requested: &str, queue_id: &str) -> bool {
    requested == queue_id || queue_key(requested) == queue_key(queue_id)
}

/// A queue's identity as every piece of per-queue state keys it: its
/// source and its id (DESIGN, "A queue is (source, queueId)"), an ARN and
/// its bare Connect id alike. Two sources reporting one id are two queues.
pub fn queue_hash(source: &SourceName, queue_id: &str) -> u64 {
    Fnv1a::new()
        .write(source.as_str().as_bytes())
        // No source name holds a NUL: "a" + "\0b" never meets "a\0" + "b".
        .write(b"\0")
        .write(queue_key(queue_id).as_bytes())
        .finish()
}

/// Whether `queue` is the one asked for: `requested` names it (see
/// [`names_queue`]) and, when a source is given, it is that source's.
pub fn is_queue(requested: &str, source: Option<&SourceName>, queue: &QueueStats) -> bool {
    source.is_none_or(|s| *s == queue.source) && names_queue(requested, &queue.queue_id)
}

/// Splits `"<source>:<queueId>"` into its source and id; text without a
/// known source before its first colon (an ARN, a plain id) is an id of
/// any source.
pub fn split_source(text: &str) -> (Option<SourceName>, &str) {
    if let Some((prefix, id)) = text.split_once(':') {
        let source = SourceName::from(prefix);
        if !matches!(source, SourceName::Other(_)) && !id.is_empty() {
            return (Some(source), id);
        }
    }
    (None, text)
}

/// 64-bit FNV-1a: tiny, fast and the same on every build and platform
/// (std's hasher is randomly seeded). Also the API's ETag.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    Fnv1a::new().write(bytes).finish()
}

/// FNV-1a fed in pieces: a key made of several strings hashes without
/// first being formatted into one.
#[derive(Clone, Copy, Debug)]
pub struct Fnv1a(u64);

impl Fnv1a {
    pub fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    pub fn write(mut self, bytes: &[u8]) -> Self {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        self
    }

    pub fn finish(self) -> u64 {
        self.0
    }
}

impl Default for Fnv1a {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_enum_values_round_trip_as_strings() {
        let task: TaskType = serde_json::from_str("\"SOCIAL_MASTODON\"").unwrap();
        assert_eq!(task, TaskType::Other("SOCIAL_MASTODON".into()));
        assert_eq!(serde_json::to_string(&task).unwrap(), "\"SOCIAL_MASTODON\"");
        let known: TaskType = serde_json::from_str("\"SMS_PINPOINT\"").unwrap();
        assert_eq!(known, TaskType::SmsPinpoint);
    }

    #[test]
    fn counters_flatten_into_the_queue_and_unknown_figures_are_null() {
        let queue = QueueStats::new(
            SourceName::Connect,
            "q1",
            "Queue 1",
            DeliveryProvider::Amazon,
            TaskType::AmazonAny,
            OpenClosedState::OperatingHoursUnknown,
        );
        let json = serde_json::to_value(&queue).unwrap();
        assert_eq!(json["itemsBeingDelivered"], serde_json::Value::Null);
        assert_eq!(json["stale"], false);
        assert!(json.get("asOf").is_none());
        let back: QueueStats = serde_json::from_value(json).unwrap();
        assert_eq!(back, queue);
    }

    #[test]
    fn timestamps_are_utc_millis() {
        let at = DateTime::parse_from_rfc3339("2026-11-22T01:02:03.456789+02:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_rfc3339(&at), "2026-11-21T23:02:03.456Z");
    }

    #[test]
    fn an_arn_and_its_bare_id_are_one_queue() {
        let arn = "arn:aws:connect:us-east-1:123456789012:instance/abc/queue/0d6b-42";
        assert_eq!(queue_key(arn), "0d6b-42");
        assert_eq!(queue_key("email-customer-care"), "email-customer-care");
        assert!(
            names_queue(arn, "0d6b-42") && names_queue("0d6b-42", arn) && names_queue(arn, arn)
        );
        assert!(!names_queue("0d6b-43", arn) && !names_queue("email", "sms"));
    }

    #[test]
    fn fnv1a_gives_the_published_answers() {
        // Test vectors from the FNV reference (draft-eastlake-fnv): stored
        // shard keys and ETags depend on them.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
        // In pieces, the same answer.
        assert_eq!(
            Fnv1a::new().write(b"foo").write(b"bar").finish(),
            fnv1a(b"foobar")
        );
    }
}
