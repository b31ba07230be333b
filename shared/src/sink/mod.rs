//! Where per-queue records go: one trait, Kinesis the implementation.
//!
//! Records sit beside Symbee's interaction event feed, so each carries an
//! envelope consumers can filter (`eventType`) and deduplicate (`eventId`).
//! Partial failure is normal for PutRecords and is reported per record,
//! never silently dropped.

pub mod kinesis;
pub mod record;

use async_trait::async_trait;

pub use record::{PreparedRecord, QueueRecord};

/// Whose records these are: the Symbee tenant, which consumers of the
/// interaction event feed already filter by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    pub company_code: String,
    pub environment: String,
}

/// A Kinesis stream, named either way the API accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamRef {
    Name(String),
    Arn(String),
}

impl StreamRef {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with("arn:") {
            let parts: Vec<&str> = text.splitn(6, ':').collect();
            let valid = parts.len() == 6
                && parts[2] == "kinesis"
                && parts[5]
                    .strip_prefix("stream/")
                    .is_some_and(|n| !n.is_empty());
            if !valid {
                return Err(format!(
                    "must be a stream name or arn:aws:kinesis:REGION:ACCOUNT:stream/NAME, not {text:?}"
                ));
            }
            return Ok(Self::Arn(text.to_owned()));
        }
        let valid_name = text.len() <= 128
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid_name {
            return Err(format!(
                "must be a stream name (letters, digits, _ . -, at most 128) or an ARN, not {text:?}"
            ));
        }
        Ok(Self::Name(text.to_owned()))
    }
}

/// A record that could not be delivered, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedRecord {
    pub queue_id: String,
    pub code: String,
    pub message: String,
}

/// What became of one batch of records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishReport {
    pub sent: usize,
    pub failed: Vec<FailedRecord>,
    /// PutRecords calls made, retries included.
    pub calls: usize,
}

#[async_trait]
pub trait RecordSink: Send + Sync {
    /// Delivers every record it can; what it cannot is listed in the report.
    async fn publish(&self, records: Vec<PreparedRecord>) -> PublishReport;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_named_or_arns() {
        assert_eq!(
            StreamRef::parse("queue-stats"),
            Ok(StreamRef::Name("queue-stats".into()))
        );
        assert!(matches!(
            StreamRef::parse("arn:aws:kinesis:us-east-1:123456789012:stream/qs"),
            Ok(StreamRef::Arn(_))
        ));
        for bad in [
            "arn:aws:s3:::bucket",
            "arn:aws:kinesis:us-east-1:1:stream/",
            "has space",
        ] {
            assert!(StreamRef::parse(bad).is_err(), "{bad}");
        }
        assert!(StreamRef::parse(&"x".repeat(129)).is_err());
    }
}
