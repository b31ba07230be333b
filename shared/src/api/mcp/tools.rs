//! The five read-only tools: their definitions (`tools.json`), their
//! arguments, and their answers from the same reader the HTTP routes use.
//!
//! Each call is one read of the store and no vendor call. A bad argument
//! is a tool result with `isError` (the model can read it and try again),
//! never a protocol error; so is a store that cannot be read.

use std::sync::{Arc, OnceLock};

use chrono::Utc;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use serde_json::{Map, Value, json};

use super::super::{Api, QueuePoints};
use super::protocol::clip;
use crate::api::request::Params;
use crate::contact_flow::{MAX_QUEUE_IDS, ask, best_of, freshness, valid_queue_id, wait_for};
use crate::levels::Level;
use crate::model::{QueueStats, SourceName, format_rfc3339};
use crate::store::{QueueMatch, StoreError};

/// The tool definitions, parsed once per cold start. Kept as JSON beside
/// this file: the schemas are the contract, and read as one.
pub fn definitions() -> &'static [Tool] {
    static TOOLS: OnceLock<Vec<Tool>> = OnceLock::new();
    TOOLS.get_or_init(|| {
        serde_json::from_str(include_str!("tools.json"))
            .expect("tools.json holds valid tool definitions (a unit test reads it)")
    })
}

/// What went wrong with a call, in words for the model.
struct Refusal(String);

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Self {
        tracing::warn!(
            code = error.code(),
            reason = error.reason(),
            "mcp tool: the store failed"
        );
        Refusal(if error.is_transient() {
            format!(
                "the snapshot store is unavailable ({}); try again shortly",
                error.reason()
            )
        } else {
            format!(
                "the snapshot store cannot be used as configured ({}); an operator must fix it",
                error.reason()
            )
        })
    }
}

type Answer = Result<(Value, String), Refusal>;

/// Reads the arguments object strictly: only the tool's own keys.
struct Args<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> Args<'a> {
    fn new(map: &'a Map<String, Value>, allowed: &[&str]) -> Result<Self, Refusal> {
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(Refusal(format!(
                "unknown argument {:?}; this tool takes {}",
                clip(unknown),
                if allowed.is_empty() {
                    "no arguments".to_owned()
                } else {
                    allowed.join(", ")
                }
            )));
        }
        Ok(Self { map })
    }

    fn text(&self, name: &str) -> Result<Option<&'a str>, Refusal> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.len() <= 512 && !s.chars().any(char::is_control) => {
                Ok(Some(s.as_str()).filter(|s| !s.trim().is_empty()))
            }
            Some(Value::String(_)) => Err(Refusal(format!(
                "{name} must be at most 512 characters, without control characters"
            ))),
            Some(_) => Err(Refusal(format!("{name} must be a string"))),
        }
    }

    fn required_text(&self, name: &str) -> Result<&'a str, Refusal> {
        self.text(name)?
            .ok_or_else(|| Refusal(format!("{name} is required")))
    }

    fn integer(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Option<u64>, Refusal> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_u64()
                // 50.0 is an integer in JSON Schema's sense.
                .or_else(|| {
                    value
                        .as_f64()
                        .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                        .map(|f| f as u64)
                })
                .filter(|n| range.contains(n))
                .map(Some)
                .ok_or_else(|| {
                    Refusal(format!(
                        "{name} must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ))
                }),
        }
    }

    fn source(&self) -> Result<Option<SourceName>, Refusal> {
        Ok(self.text("source")?.map(|s| SourceName::from(s.trim())))
    }
}

impl Api {
    /// Answers `tools/call` for `name` with `arguments`, or `None` when no
    /// tool has that name.
    pub(super) async fn call_tool(
        &self,
        name: &str,
        arguments: &Map<String, Value>,
    ) -> Option<CallToolResult> {
        let answer = match name {
            "list_queues" => self.list_queues(arguments).await,
            "get_queue" => self.get_queue(arguments).await,
            "queue_history" => self.queue_history(arguments).await,
            "best_queue" => self.best_queue(arguments).await,
            "source_health" => self.source_health(arguments).await,
            _ => return None,
        };
        Some(match answer {
            Ok((structured, summary)) => {
                let mut result = CallToolResult::structured(structured);
                // One short line for clients that show text only.
                result.content = vec![ContentBlock::text(summary)];
                result
            }
            Err(Refusal(message)) => CallToolResult::error(vec![ContentBlock::text(message)]),
        })
    }

    async fn list_queues(&self, arguments: &Map<String, Value>) -> Answer {
        let args = Args::new(
            arguments,
            &[
                "source",
                "taskType",
                "level",
                "nameContains",
                "instanceId",
                "limit",
            ],
        )?;
        let limit = args.integer("limit", 1..=500)?.unwrap_or(50) as usize;
        let level = match args.text("level")? {
            None => None,
            Some(text) => Some(
                serde_json::from_value::<Level>(json!(text.trim().to_ascii_lowercase())).map_err(
                    |_| {
                        Refusal(format!(
                            "level must be critical, warning, normal or unknown, not {:?}",
                            clip(text)
                        ))
                    },
                )?,
            ),
        };
        let name = args.text("nameContains")?.map(str::to_lowercase);
        // The HTTP filters, applied by the HTTP code.
        let mut params = Params::new();
        for (argument, param) in [
            ("source", "source"),
            ("taskType", "taskType"),
            ("instanceId", "instanceId"),
        ] {
            if let Some(value) = args.text(argument)? {
                params.insert(param.to_owned(), vec![value.trim().to_owned()]);
            }
        }
        let Some(snapshot) = self.filtered_snapshot(&params).await? else {
            return Err(Refusal(
                "no snapshot has been written yet; the poller may not have run".to_owned(),
            ));
        };
        let mut queues: Vec<QueueStats> = snapshot
            .queues
            .into_iter()
            .filter(|q| level.is_none_or(|l| q.level.unwrap_or_default() == l))
            .filter(|q| {
                name.as_ref()
                    .is_none_or(|n| q.queue_name.to_lowercase().contains(n))
            })
            .collect();
        // Worst first: level, then the longest wait, then the most waiting.
        queues.sort_by(|a, b| {
            b.level
                .unwrap_or_default()
                .cmp(&a.level.unwrap_or_default())
                .then(b.counters.oldest_item.cmp(&a.counters.oldest_item))
                .then(b.counters.items_in_queue.cmp(&a.counters.items_in_queue))
                .then(a.queue_name.cmp(&b.queue_name))
        });
        let total = queues.len();
        queues.truncate(limit);
        let count = |l: Level| queues.iter().filter(|q| q.level == Some(l)).count();
        let mut summary = format!(
            "{} of {total} queues, worst first ({} critical, {} warning)",
            queues.len(),
            count(Level::Critical),
            count(Level::Warning)
        );
        if let Some(first) = queues.first() {
            summary.push_str(&format!("; first: {}", one_line(first)));
        }
        let structured = json!({
            "snapshotId": snapshot.snapshot_id,
            "observedAt": format_rfc3339(&snapshot.observed_at),
            "queues": queues,
            "total": total,
            "truncated": total > queues.len(),
        });
        Ok((structured, summary))
    }

    async fn get_queue(&self, arguments: &Map<String, Value>) -> Answer {
        let args = Args::new(arguments, &["queueId", "source"])?;
        let queue_id = args.required_text("queueId")?;
        let source = args.source()?;
        let latest = match self
            .bounded(self.reader.latest_queue(queue_id, source.as_ref()))
            .await?
        {
            QueueMatch::Found(latest) => latest,
            QueueMatch::NotFound => return Err(not_found(queue_id, source.as_ref())),
            QueueMatch::Ambiguous(sources) => return Err(ambiguous(queue_id, &sources)),
        };
        let summary = one_line(&latest.queue);
        let structured = json!({
            "snapshotId": latest.snapshot_id,
            "observedAt": format_rfc3339(&latest.observed_at),
            "queue": latest.queue,
        });
        Ok((structured, summary))
    }

    async fn queue_history(&self, arguments: &Map<String, Value>) -> Answer {
        let args = Args::new(arguments, &["queueId", "source", "minutes"])?;
        let queue_id = args.required_text("queueId")?;
        let source = args.source()?;
        let max_minutes = self.config.history_retention_hours * 60;
        let minutes = args
            .integer("minutes", 1..=max_minutes)?
            .unwrap_or(60.min(max_minutes));
        let since = Utc::now() - chrono::Duration::minutes(minutes as i64);
        let (points, found) = match self.queue_points(queue_id, source.as_ref(), since).await? {
            QueuePoints::Points { points, source } => (points, source),
            QueuePoints::Ambiguous(sources) => return Err(ambiguous(queue_id, &sources)),
            QueuePoints::NotFound => return Err(not_found(queue_id, source.as_ref())),
        };
        let summary = format!(
            "{} observations of queue {} over the last {minutes} minutes",
            points.len(),
            clip(queue_id)
        );
        let structured = json!({
            "queueId": queue_id,
            "source": found,
            "minutes": minutes,
            "points": points.iter().map(|p| json!({
                "observedAt": format_rfc3339(&p.observed_at),
                "snapshotId": p.snapshot_id,
                "queue": p.queue,
            })).collect::<Vec<_>>(),
        });
        Ok((structured, summary))
    }

    async fn best_queue(&self, arguments: &Map<String, Value>) -> Answer {
        let args = Args::new(arguments, &["queueIds", "channel"])?;
        let ids: Vec<&str> = match arguments.get("queueIds") {
            Some(Value::Array(ids)) if (1..=MAX_QUEUE_IDS).contains(&ids.len()) => ids
                .iter()
                .map(|id| {
                    id.as_str()
                        .map(str::trim)
                        .filter(|id| valid_queue_id(id))
                        .ok_or_else(|| {
                            Refusal(
                                "each of queueIds must be a queue id (a non-empty string)"
                                    .to_owned(),
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(Refusal(format!(
                    "queueIds must be a list of 1 to {MAX_QUEUE_IDS} queue ids"
                )));
            }
        };
        let channel = args.text("channel")?.map(|c| c.trim().to_ascii_uppercase());
        let asks: Vec<_> = ids.iter().map(|id| ask(id, None)).collect();
        let found = self.bounded(self.reader.latest_queues(&asks)).await?;
        let stale_after = self.config.stale_after;
        let candidates: Vec<Value> = ids
            .iter()
            .zip(&found)
            .map(|(id, found)| match found {
                QueueMatch::Found(latest) => {
                    let stale = freshness(latest, stale_after).1;
                    json!({
                        "queueId": id,
                        "found": true,
                        "source": latest.queue.source,
                        "queueName": latest.queue.queue_name,
                        "estimatedWaitTime": if stale { None } else { wait_for(&latest.queue, channel.as_deref()) },
                        "stale": stale,
                        "ambiguous": false,
                    })
                }
                QueueMatch::NotFound => json!({ "queueId": id, "found": false, "stale": false, "ambiguous": false }),
                QueueMatch::Ambiguous(_) => json!({ "queueId": id, "found": false, "stale": false, "ambiguous": true }),
            })
            .collect();
        let latest: Vec<_> = found.into_iter().filter_map(QueueMatch::found).collect();
        let best = best_of(&latest, channel.as_deref(), stale_after);
        let summary = match best {
            Some((wait, queue)) => format!(
                "Best of {}: {} ({}), estimated wait {wait} s",
                ids.len(),
                queue.queue_name,
                queue.queue_id
            ),
            None => format!(
                "None of the {} queues has fresh figures with an estimated wait",
                ids.len()
            ),
        };
        let structured = json!({
            "bestQueueId": best.map(|(_, q)| &q.queue_id),
            "bestQueueName": best.map(|(_, q)| &q.queue_name),
            "bestEstimatedWaitTime": best.map(|(w, _)| w),
            "candidates": candidates,
        });
        Ok((structured, summary))
    }

    async fn source_health(&self, arguments: &Map<String, Value>) -> Answer {
        Args::new(arguments, &[])?;
        let stale_after = self.config.stale_after.as_secs();
        let Some(summary) = self.bounded(self.reader.latest_summary()).await? else {
            let structured = json!({
                "status": "no_snapshot", "snapshotId": None::<String>, "observedAt": None::<String>,
                "ageSeconds": None::<i64>, "staleAfterSeconds": stale_after, "sources": [],
            });
            return Ok((
                structured,
                "No snapshot has been written yet; the poller may not have run".to_owned(),
            ));
        };
        let age = (Utc::now() - summary.observed_at).num_seconds().max(0);
        let status = if age <= stale_after as i64 {
            "ok"
        } else {
            "stale"
        };
        let sources: Vec<String> = summary
            .sources
            .iter()
            .map(|s| {
                let name = match &s.instance {
                    Some(instance) => format!("{} {}", s.source, instance.instance_alias),
                    None => s.source.to_string(),
                };
                format!(
                    "{name} {}",
                    serde_json::to_value(s.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                )
            })
            .collect();
        let line = format!("Snapshot {age} s old ({status}); {}", sources.join(", "));
        let structured = json!({
            "status": status,
            "snapshotId": summary.snapshot_id,
            "observedAt": format_rfc3339(&summary.observed_at),
            "ageSeconds": age,
            "staleAfterSeconds": stale_after,
            "sources": summary.sources,
        });
        Ok((structured, line))
    }
}

/// A queue in one line: what a supervisor would say of it.
fn one_line(queue: &QueueStats) -> String {
    let figure = |v: Option<u64>| v.map_or("?".to_owned(), |v| v.to_string());
    format!(
        "{} ({}): {}, {} waiting, oldest {} s, {} agents available, estimated wait {} s{}",
        queue.queue_name,
        queue.source,
        queue.level.unwrap_or_default().as_str(),
        figure(queue.counters.items_in_queue),
        figure(queue.counters.oldest_item),
        figure(queue.counters.agents_available),
        figure(queue.counters.estimated_wait_time),
        if queue.stale { " (stale)" } else { "" }
    )
}

fn not_found(queue_id: &str, source: Option<&SourceName>) -> Refusal {
    let whose = source.map(|s| format!(" from {s}")).unwrap_or_default();
    Refusal(format!(
        "no queue {:?}{whose} in the latest snapshot",
        clip(queue_id)
    ))
}

fn ambiguous(queue_id: &str, sources: &[SourceName]) -> Refusal {
    let names: Vec<&str> = sources.iter().map(SourceName::as_str).collect();
    Refusal(format!(
        "queue {:?} is reported by {}: call again with source set to one of them",
        clip(queue_id),
        names.join(" and ")
    ))
}

/// The input schema of a tool, for tests and the fuzz target.
pub fn input_schema(name: &str) -> Option<Arc<JsonObject>> {
    definitions()
        .iter()
        .find(|t| t.name == name)
        .map(|t| t.input_schema.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_read_only_tools_each_with_input_and_output_schemas() {
        let tools = definitions();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(
            names,
            [
                "list_queues",
                "get_queue",
                "queue_history",
                "best_queue",
                "source_health"
            ]
        );
        for tool in tools {
            let annotations = tool.annotations.as_ref().expect("annotated");
            assert_eq!(annotations.read_only_hint, Some(true), "{}", tool.name);
            assert_eq!(annotations.destructive_hint, Some(false), "{}", tool.name);
            assert_eq!(tool.input_schema["type"], "object", "{}", tool.name);
            let output = tool.output_schema.as_ref().expect("an output schema");
            assert_eq!(output["type"], "object", "{}", tool.name);
            assert!(tool.description.as_ref().is_some_and(|d| d.len() > 40));
        }
    }

    #[test]
    fn the_limits_in_the_schemas_are_the_limits_the_code_enforces() {
        let list = input_schema("list_queues").unwrap();
        assert_eq!(list["properties"]["limit"]["maximum"], 500);
        let best = input_schema("best_queue").unwrap();
        assert_eq!(best["properties"]["queueIds"]["maxItems"], MAX_QUEUE_IDS);
    }
}
