//! The contact events' queue on Amazon SQS: long-polled receives and
//! batched deletes.

use std::time::Duration;

use async_trait::async_trait;

use super::{EventQueue, MAX_RECEIVE, QueueError, QueuedMessage};

pub struct SqsEventQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsEventQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: &str) -> Self {
        Self {
            client,
            url: url.to_owned(),
        }
    }
}

fn failed(error: impl std::error::Error + Send + Sync + 'static) -> QueueError {
    QueueError(crate::aws::describe_error(&error))
}

#[async_trait]
impl EventQueue for SqsEventQueue {
    async fn receive(&self, wait: Duration) -> Result<Vec<QueuedMessage>, QueueError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(MAX_RECEIVE as i32)
            // SQS counts whole seconds, 0 to 20: 0 returns at once.
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .send()
            .await
            .map_err(failed)?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                Some(QueuedMessage {
                    body: m.body.unwrap_or_default(),
                    receipt: m.receipt_handle?,
                })
            })
            .collect())
    }

    async fn delete(&self, receipts: Vec<String>) -> Result<(), QueueError> {
        for chunk in receipts.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .build()
                        .map_err(failed)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(failed)?;
            // A message not deleted comes back after its visibility timeout:
            // applying it again changes nothing (the ledger drops repeats).
            if !output.failed.is_empty() {
                return Err(QueueError(format!(
                    "{} of {} deletes failed",
                    output.failed.len(),
                    chunk.len()
                )));
            }
        }
        Ok(())
    }
}
