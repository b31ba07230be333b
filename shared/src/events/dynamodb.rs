//! [`AnnouncedStore`] in the snapshot table: one base item and a journal.
//!
//! Every PutEvents call's accepted entries are journalled at once, as one
//! small item (`levels` / `announced#<uuid v7>`), so whatever EventBridge
//! took is on record before anything else happens: a cut-off cycle, a
//! crash or a cold start cannot make it go out again. Rewriting the whole
//! state (about 100 KB at 10,000 queues) per call would cost a hundred
//! write units a call; the journal costs one. At the end of a send the
//! journal is folded into the base item (`levels` / `announced`), which
//! records the last journal key it holds, and the folded entries are
//! deleted; a fold cut off half-way leaves entries that loading skips.
//!
//! Formats: the base item of builds before wave 3 has no `format` and keys
//! queues by id alone; it loads as [`AnnouncedState::legacy`] and is
//! rewritten as `announced-v2` on the first fold.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::AnnouncedStore;
use super::ledger::AnnouncedState;
use crate::levels::Level;
use crate::model::SourceState;
use crate::store::StoreError;
use crate::store::dynamodb::sdk_failure;
use crate::store::layout::{ATTR_BODY, ATTR_FORMAT, ATTR_PK, ATTR_SK};

const PK: &str = "levels";
const BASE_SK: &str = "announced";
const JOURNAL_PREFIX: &str = "announced#";
const FORMAT_V2: &str = "announced-v2";

pub struct DynamoAnnouncedStore {
    client: Client,
    table: String,
    /// Journal keys written or read and not yet folded, ascending.
    journal: Mutex<Vec<String>>,
}

impl DynamoAnnouncedStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            journal: Mutex::new(Vec::new()),
        }
    }
}

/// The base item's body: levels grouped by level, queue hashes in hex.
#[derive(Default, Serialize, Deserialize)]
struct Base {
    #[serde(default)]
    levels: BTreeMap<Level, Vec<String>>,
    #[serde(default)]
    legacy: BTreeMap<Level, Vec<String>>,
    #[serde(default)]
    sources: BTreeMap<String, SourceState>,
    /// The last journal key folded into this item.
    #[serde(default)]
    through: Option<String>,
}

/// One journal entry: what one PutEvents call got accepted.
#[derive(Default, Serialize, Deserialize)]
struct Entry {
    #[serde(default)]
    levels: BTreeMap<String, Level>,
    #[serde(default)]
    sources: BTreeMap<String, SourceState>,
}

fn grouped(levels: &HashMap<u64, Level>) -> BTreeMap<Level, Vec<String>> {
    let mut grouped: BTreeMap<Level, Vec<String>> = BTreeMap::new();
    for (queue, level) in levels {
        grouped
            .entry(*level)
            .or_default()
            .push(format!("{queue:016x}"));
    }
    for hashes in grouped.values_mut() {
        hashes.sort_unstable();
    }
    grouped
}

fn ungrouped(grouped: BTreeMap<Level, Vec<String>>) -> Result<HashMap<u64, Level>, StoreError> {
    let mut levels = HashMap::new();
    for (level, hashes) in grouped {
        for hash in hashes {
            levels.insert(parse_hash(&hash)?, level);
        }
    }
    Ok(levels)
}

fn parse_hash(hash: &str) -> Result<u64, StoreError> {
    u64::from_str_radix(hash, 16)
        .map_err(|e| StoreError::corrupt_by(format!("announced levels: queue key {hash:?}"), e))
}

fn deflate(json: &[u8]) -> Vec<u8> {
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(json);
    encoder.finish().unwrap_or_default()
}

fn inflate(body: &[u8]) -> Result<Vec<u8>, StoreError> {
    let mut json = Vec::new();
    flate2::read::DeflateDecoder::new(body)
        .read_to_end(&mut json)
        .map_err(|e| StoreError::corrupt_by("announced levels are not deflated", e))?;
    Ok(json)
}

/// The base item's body as this build writes it.
fn encode_base(state: &AnnouncedState, through: Option<String>) -> Vec<u8> {
    let base = Base {
        levels: grouped(&state.levels),
        legacy: grouped(&state.legacy),
        sources: state.sources.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        through,
    };
    deflate(&serde_json::to_vec(&base).unwrap_or_default())
}

/// A base item's body: `format` says which build wrote it.
fn decode_base(
    format: Option<&str>,
    body: &[u8],
) -> Result<(AnnouncedState, Option<String>), StoreError> {
    let json = inflate(body)?;
    match format {
        // Before wave 3: `{level: [hash of the queue id alone]}`.
        None => {
            let legacy: BTreeMap<Level, Vec<String>> = serde_json::from_slice(&json)
                .map_err(|e| StoreError::corrupt_by("announced levels", e))?;
            Ok((
                AnnouncedState {
                    legacy: ungrouped(legacy)?,
                    ..AnnouncedState::default()
                },
                None,
            ))
        }
        Some(FORMAT_V2) => {
            let base: Base = serde_json::from_slice(&json)
                .map_err(|e| StoreError::corrupt_by("announced levels", e))?;
            Ok((
                AnnouncedState {
                    levels: ungrouped(base.levels)?,
                    legacy: ungrouped(base.legacy)?,
                    sources: base.sources.into_iter().collect(),
                },
                base.through,
            ))
        }
        Some(other) => Err(StoreError::corrupt(format!(
            "announced levels in format {other:?}, newer than this build"
        ))),
    }
}

fn encode_entry(delta: &AnnouncedState) -> String {
    let entry = Entry {
        levels: delta
            .levels
            .iter()
            .map(|(k, v)| (format!("{k:016x}"), *v))
            .collect(),
        sources: delta.sources.iter().map(|(k, v)| (k.clone(), *v)).collect(),
    };
    serde_json::to_string(&entry).unwrap_or_default()
}

fn apply_entry(state: &mut AnnouncedState, body: &str) -> Result<(), StoreError> {
    let entry: Entry = serde_json::from_str(body)
        .map_err(|e| StoreError::corrupt_by("announced levels journal", e))?;
    for (hash, level) in entry.levels {
        state.levels.insert(parse_hash(&hash)?, level);
    }
    state.sources.extend(entry.sources);
    Ok(())
}

#[async_trait]
impl AnnouncedStore for DynamoAnnouncedStore {
    async fn load(&self) -> Result<AnnouncedState, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", ATTR_PK)
                .expression_attribute_values(":pk", AttributeValue::S(PK.to_owned()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_failure)?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        let mut state = AnnouncedState::default();
        let mut through = None;
        let mut journal = Vec::new();
        // Sort keys come back ascending: the base ("announced") first,
        // then the journal in the order it was written.
        for item in items {
            let sk = item
                .get(ATTR_SK)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            if sk == BASE_SK {
                let format = item
                    .get(ATTR_FORMAT)
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str);
                let body = item
                    .get(ATTR_BODY)
                    .and_then(|v| v.as_b().ok())
                    .ok_or_else(|| {
                        StoreError::corrupt(format!("announced levels lack {ATTR_BODY}"))
                    })?;
                (state, through) = decode_base(format, body.as_ref())?;
            } else if sk.starts_with(JOURNAL_PREFIX) {
                journal.push(sk.clone());
                if through.as_ref().is_some_and(|t| sk <= *t) {
                    // Folded into the base already; its delete was cut off.
                    continue;
                }
                let body = item
                    .get(ATTR_BODY)
                    .and_then(|v| v.as_s().ok())
                    .ok_or_else(|| {
                        StoreError::corrupt(format!(
                            "announced levels journal {sk} lacks {ATTR_BODY}"
                        ))
                    })?;
                apply_entry(&mut state, body)?;
            }
        }
        *self.journal.lock().await = journal;
        Ok(state)
    }

    async fn append(&self, delta: &AnnouncedState) -> Result<(), StoreError> {
        let sk = format!("{JOURNAL_PREFIX}{}", uuid::Uuid::now_v7());
        self.client
            .put_item()
            .table_name(&self.table)
            .item(ATTR_PK, AttributeValue::S(PK.to_owned()))
            .item(ATTR_SK, AttributeValue::S(sk.clone()))
            .item(ATTR_BODY, AttributeValue::S(encode_entry(delta)))
            .send()
            .await
            .map_err(sdk_failure)?;
        let mut journal = self.journal.lock().await;
        // uuid v7 keys ascend; keep the list sorted even if calls overlap.
        let at = journal.partition_point(|k| *k < sk);
        journal.insert(at, sk);
        Ok(())
    }

    async fn fold(&self, whole: &AnnouncedState) -> Result<(), StoreError> {
        let folded: Vec<String> = self.journal.lock().await.clone();
        // One poller writes (reserved concurrency 1): no condition needed.
        self.client
            .put_item()
            .table_name(&self.table)
            .item(ATTR_PK, AttributeValue::S(PK.to_owned()))
            .item(ATTR_SK, AttributeValue::S(BASE_SK.to_owned()))
            .item(ATTR_FORMAT, AttributeValue::S(FORMAT_V2.to_owned()))
            .item(
                ATTR_BODY,
                AttributeValue::B(Blob::new(encode_base(whole, folded.last().cloned()))),
            )
            .send()
            .await
            .map_err(sdk_failure)?;
        // The base holds them now; deleting is tidiness, and loading skips
        // any delete that does not happen.
        for chunk in folded.chunks(25) {
            let requests = chunk
                .iter()
                .map(|sk| {
                    WriteRequest::builder()
                        .delete_request(
                            DeleteRequest::builder()
                                .key(ATTR_PK, AttributeValue::S(PK.to_owned()))
                                .key(ATTR_SK, AttributeValue::S(sk.clone()))
                                .build()
                                .expect("key is set"),
                        )
                        .build()
                })
                .collect();
            let _ = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await;
        }
        self.journal.lock().await.retain(|sk| !folded.contains(sk));
        Ok(())
    }

    async fn journal_len(&self) -> usize {
        self.journal.lock().await.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> AnnouncedState {
        let levels = [Level::Normal, Level::Warning, Level::Critical];
        AnnouncedState {
            levels: (0..10_000u64)
                .map(|i| {
                    (
                        crate::model::queue_hash(
                            &crate::model::SourceName::Connect,
                            &format!("arn:aws:connect:queue/{i}"),
                        ),
                        levels[(i % 3) as usize],
                    )
                })
                .collect(),
            sources: HashMap::from([("symbee".to_owned(), SourceState::Error)]),
            legacy: HashMap::from([(7, Level::Critical)]),
        }
    }

    #[test]
    fn the_base_round_trips_and_stays_small() {
        let state = state();
        let body = encode_base(&state, Some("announced#x".into()));
        assert!(body.len() < 200_000, "{} bytes", body.len());
        let (decoded, through) = decode_base(Some(FORMAT_V2), &body).unwrap();
        assert_eq!(decoded, state);
        assert_eq!(through.as_deref(), Some("announced#x"));
        assert!(decode_base(Some(FORMAT_V2), b"not deflate").is_err());
        assert!(
            decode_base(Some("announced-v9"), &body)
                .unwrap_err()
                .to_string()
                .contains("newer")
        );
    }

    #[test]
    fn a_base_from_before_wave_3_loads_as_legacy_levels() {
        // As builds before wave 3 wrote it: hashes of the queue id alone.
        let old = deflate(br#"{"critical":["00000000000000ff"],"normal":["0000000000000001"]}"#);
        let (state, through) = decode_base(None, &old).unwrap();
        assert!(state.levels.is_empty() && through.is_none());
        assert_eq!(
            state.legacy,
            HashMap::from([(0xff, Level::Critical), (1, Level::Normal)])
        );
    }

    #[test]
    fn a_journal_entry_applies_its_delta() {
        let delta = AnnouncedState {
            levels: HashMap::from([(0xabc, Level::Warning)]),
            sources: HashMap::from([("8x8".to_owned(), SourceState::Ok)]),
            legacy: HashMap::new(),
        };
        let mut state = AnnouncedState::default();
        apply_entry(&mut state, &encode_entry(&delta)).unwrap();
        assert_eq!(state, delta);
        assert!(apply_entry(&mut state, "{").is_err());
    }
}
