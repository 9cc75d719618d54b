//! The ingest log (`--queue nats://…`): NATS JetStream between the HTTP edge and the store.
//!
//! A collector with a queue answers a batch once JetStream has stored every event of it (each
//! published with its uid as `Nats-Msg-Id`, so a copy re-sent within the stream's duplicate
//! window is dropped by the stream itself). `collector sink` processes, any number of them
//! sharing one durable consumer, take the events from the stream, store them idempotently
//! (the store's uid and once-per-lead keys), and only then acknowledge them: a sink killed
//! mid-batch leaves its messages unacknowledged, and they are delivered again.
//!
//! A store that is down or slow therefore no longer turns into 503s for pages while the stream
//! has room. The stream keeps at most `max_bytes` and `max_age` of events not yet stored
//! (work-queue retention: an acknowledged event leaves the stream); when it is full, new
//! events are refused and pages are answered 503 and retry (DiscardPolicy::New: nothing
//! accepted is ever dropped).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::postback::Call;
use crate::store::{Inserted, NewEvent, Store};

/// The stream's subjects: `clickscript.events.CAMPAIGN`.
const SUBJECT_PREFIX: &str = "clickscript.events";

/// The durable consumer every sink shares (each message goes to one of them).
const CONSUMER: &str = "sink";

/// Deliveries of a message no sink reads (JSON of an unknown shape) before it is dropped:
/// at 30 s apart, an hour for a rolling upgrade to bring a sink that reads it.
const UNREAD_DELIVERIES: i64 = 120;

/// An ingest log failure.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// NATS could not be reached, or JetStream refused (its message says why).
    #[error("ingest log: {0}")]
    Nats(String),
    /// The stream is at its limits: nothing more is taken until sinks catch up.
    #[error("ingest log full: {0}")]
    Full(String),
}

fn nats(e: impl std::fmt::Display) -> QueueError {
    let text = e.to_string();
    if text.contains("maximum") && (text.contains("exceeded") || text.contains("limit")) {
        QueueError::Full(text)
    } else {
        QueueError::Nats(text)
    }
}

/// How the stream is made (when it is not there yet) and how the sinks read it.
#[derive(Clone, Debug)]
pub struct QueueOptions {
    /// The stream's name.
    pub stream: String,
    /// Most bytes of events waiting to be stored; beyond, new events are refused (503).
    pub max_bytes: i64,
    /// Longest an event may wait to be stored; an event older is dropped by the stream, so it
    /// is set long (days): sinks are expected back well before.
    pub max_age: Duration,
    /// How long a uid is remembered by the stream, so that a re-sent copy is dropped there.
    pub duplicate_window: Duration,
    /// Copies of the stream in a NATS cluster (1 on a single server; 3 in production).
    pub replicas: usize,
    /// How long a sink has to store a message before it is delivered again.
    pub ack_wait: Duration,
}

impl Default for QueueOptions {
    fn default() -> QueueOptions {
        QueueOptions {
            stream: "CLICKSCRIPT_EVENTS".into(),
            max_bytes: 1 << 30,
            max_age: Duration::from_secs(7 * 24 * 3600),
            duplicate_window: Duration::from_secs(10 * 60),
            replicas: 1,
            ack_wait: Duration::from_secs(30),
        }
    }
}

/// An event as it travels through the stream: what the store needs to insert it.
#[derive(Serialize, Deserialize)]
struct Queued {
    uid: String,
    campaign: String,
    event_id: String,
    category: String,
    txn: String,
    once: bool,
    ts: u64,
    body: String,
    postbacks: Vec<Call>,
}

impl Queued {
    fn of(e: &NewEvent) -> Queued {
        Queued {
            uid: e.uid.clone(),
            campaign: e.campaign.clone(),
            event_id: e.event_id.clone(),
            category: e.category.into(),
            txn: e.txn.clone(),
            once: e.once,
            ts: e.ts,
            body: e.body.clone(),
            postbacks: e.postbacks.clone(),
        }
    }

    fn into_event(self) -> Option<NewEvent> {
        let category = match self.category.as_str() {
            "lead" => "lead",
            "engagement" => "engagement",
            "click" => "click",
            "conversion" => "conversion",
            _ => return None,
        };
        Some(NewEvent {
            uid: self.uid,
            campaign: self.campaign,
            event_id: self.event_id,
            category,
            txn: self.txn,
            once: self.once,
            ts: self.ts,
            body: self.body,
            postbacks: self.postbacks,
        })
    }
}

/// A connection to the ingest log.
#[derive(Clone)]
pub struct Queue {
    client: async_nats::Client,
    js: jetstream::Context,
    options: Arc<QueueOptions>,
}

impl Queue {
    /// Connects to NATS at `url` and makes the stream if it is not there (an existing stream's
    /// settings are the operator's: they are not changed).
    pub async fn connect(url: &str, options: QueueOptions) -> Result<Queue, QueueError> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .name("clickscript-collector")
            .connect(url)
            .await
            // Said without the URL's credentials.
            .map_err(|e| nats(e.to_string().replace(url, &crate::store::display_url(url))))?;
        let mut js = jetstream::new(client.clone());
        js.set_timeout(Duration::from_secs(5));
        let made = js
            .get_or_create_stream(stream::Config {
                name: options.stream.clone(),
                subjects: vec![format!("{SUBJECT_PREFIX}.>")],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                discard: stream::DiscardPolicy::New,
                max_bytes: options.max_bytes,
                max_age: options.max_age,
                duplicate_window: options.duplicate_window,
                num_replicas: options.replicas.max(1),
                ..Default::default()
            })
            .await
            .map_err(nats)?;
        // A stream made before keeps its operator's settings: said when they are not these.
        let have = &made.cached_info().config;
        if have.max_bytes != options.max_bytes || have.duplicate_window != options.duplicate_window
        {
            crate::log_line!(
                "ingest log: stream {} keeps its own limits (max_bytes {}, duplicate window {:?}), not these (max_bytes {}, duplicate window {:?}); change them with the nats CLI",
                options.stream,
                have.max_bytes,
                have.duplicate_window,
                options.max_bytes,
                options.duplicate_window
            );
        }
        Ok(Queue {
            client,
            js,
            options: Arc::new(options),
        })
    }

    /// Whether the connection to NATS is up.
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Appends a batch to the stream; returns, once JetStream has stored every event, which of
    /// them the stream had already (a copy re-sent within the duplicate window).
    pub async fn publish(&self, events: &[NewEvent]) -> Result<Vec<Inserted>, QueueError> {
        let mut acks = Vec::with_capacity(events.len());
        for e in events {
            let payload = serde_json::to_vec(&Queued::of(e)).map_err(nats)?;
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, e.uid.as_str());
            let ack = self
                .js
                .publish_with_headers(
                    format!("{SUBJECT_PREFIX}.{}", e.campaign),
                    headers,
                    payload.into(),
                )
                .await
                .map_err(nats)?;
            acks.push(ack);
        }
        let mut out = Vec::with_capacity(acks.len());
        for ack in acks {
            let ack = ack.await.map_err(nats)?;
            out.push(match ack.duplicate {
                true => Inserted::Duplicate,
                false => Inserted::New,
            });
        }
        Ok(out)
    }

    /// Events in the stream not yet stored: waiting for a sink, or taken and not yet
    /// acknowledged (the queue's lag).
    pub async fn lag(&self) -> Result<u64, QueueError> {
        let mut stream = self
            .js
            .get_stream(&self.options.stream)
            .await
            .map_err(nats)?;
        Ok(stream.info().await.map_err(nats)?.state.messages)
    }

    async fn consumer(&self) -> Result<consumer::PullConsumer, QueueError> {
        let stream = self
            .js
            .get_stream(&self.options.stream)
            .await
            .map_err(nats)?;
        stream
            .get_or_create_consumer(
                CONSUMER,
                consumer::pull::Config {
                    durable_name: Some(CONSUMER.into()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: self.options.ack_wait,
                    max_ack_pending: 20_000,
                    ..Default::default()
                },
            )
            .await
            .map_err(nats)
    }
}

/// What a sink has done, for its log and metrics.
#[derive(Debug, Default, Clone, Copy)]
pub struct SinkCounts {
    /// Events stored now.
    pub stored: u64,
    /// Events the store had already (a re-sent copy, or a once-per-lead event reported twice).
    pub duplicates: u64,
    /// Messages that are no event at all (dropped, and said).
    pub unreadable: u64,
}

/// Takes events from the stream into `store` until `stop`, `batch` at a time: each batch is
/// stored in one transaction and acknowledged only after its commit. A batch the store
/// refuses (down, full) is handed back to the stream and tried again after a pause.
pub async fn sink(
    queue: Queue,
    store: Store,
    wake_postbacks: Arc<tokio::sync::Notify>,
    batch: usize,
    mut stop: tokio::sync::watch::Receiver<bool>,
    counts: Arc<std::sync::Mutex<SinkCounts>>,
) -> Result<(), QueueError> {
    // The stream or its consumer may be missing or unreachable for a while (NATS restarting):
    // the sink waits for them rather than sitting idle.
    let mut consumer = loop {
        match queue.consumer().await {
            Ok(c) => break c,
            Err(e) => {
                warn_line!("sink: {e}; trying again in 2 s");
                pause(&mut stop, Duration::from_secs(2)).await;
                if *stop.borrow() {
                    return Ok(());
                }
            }
        }
    };
    let mut failing_since: Option<std::time::Instant> = None;
    while !*stop.borrow() {
        let fetched = consumer
            .fetch()
            .max_messages(batch.max(1))
            .expires(Duration::from_millis(500))
            .messages()
            .await;
        let mut messages = match fetched {
            Ok(m) => m,
            Err(e) => {
                warn_line!("sink: cannot fetch from the ingest log: {e}");
                pause(&mut stop, Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut taken = Vec::new();
        let mut failed = None;
        while let Some(m) = messages.next().await {
            match m {
                Ok(m) => taken.push(m),
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed.filter(|_| taken.is_empty()) {
            // The consumer is gone or JetStream unavailable (NATS restarted without its
            // state): said, paused, and the consumer made again.
            warn_line!("sink: {e}; making the consumer again");
            pause(&mut stop, Duration::from_secs(1)).await;
            match queue.consumer().await {
                Ok(c) => consumer = c,
                Err(e) => warn_line!("sink: {e}"),
            }
            continue;
        }
        if taken.is_empty() {
            continue;
        }
        let mut events = Vec::with_capacity(taken.len());
        let mut kept = Vec::with_capacity(taken.len());
        for m in taken {
            let read = serde_json::from_slice::<serde_json::Value>(&m.payload);
            match read
                .as_ref()
                .ok()
                .and_then(|v| Queued::deserialize(v).ok())
                .and_then(Queued::into_event)
            {
                Some(e) => {
                    events.push(e);
                    kept.push(m);
                }
                // JSON of a shape this sink does not know (a newer collector's, during a
                // rolling upgrade): handed back for a sink that knows it, for a while; after
                // that it is no event any sink here reads, and it is dropped, said.
                None if read.is_ok() && m.info().is_ok_and(|i| i.delivered < UNREAD_DELIVERIES) => {
                    let _ = m
                        .ack_with(jetstream::AckKind::Nak(Some(Duration::from_secs(30))))
                        .await;
                }
                // Not JSON at all: nothing any sink could store.
                None => {
                    warn_line!("sink: dropped a message of {} that is no event", m.subject);
                    counts.lock().unwrap_or_else(|e| e.into_inner()).unreadable += 1;
                    let _ = m.ack_with(jetstream::AckKind::Term).await;
                }
            }
        }
        let calls = events.iter().any(|e| !e.postbacks.is_empty());
        match store.insert_batch(events).await {
            Ok(results) => {
                if let Some(since) = failing_since.take() {
                    log_line!(
                        "sink: the store is back after {:.1} s",
                        since.elapsed().as_secs_f64()
                    );
                }
                let new = results.iter().filter(|r| **r == Inserted::New).count() as u64;
                {
                    let mut c = counts.lock().unwrap_or_else(|e| e.into_inner());
                    c.stored += new;
                    c.duplicates += results.len() as u64 - new;
                }
                if calls && new > 0 {
                    wake_postbacks.notify_one();
                }
                for m in kept {
                    if let Err(e) = m.ack().await {
                        // Delivered again after ack_wait, and then a duplicate: nothing lost.
                        warn_line!("sink: cannot acknowledge: {e}");
                    }
                }
            }
            Err(e) => {
                if failing_since.is_none() {
                    failing_since = Some(std::time::Instant::now());
                    warn_line!(
                        "sink: the store refused a batch, holding the stream until it is back: {e}"
                    );
                }
                for m in kept {
                    let _ = m
                        .ack_with(jetstream::AckKind::Nak(Some(Duration::from_secs(1))))
                        .await;
                }
                pause(&mut stop, Duration::from_secs(1)).await;
            }
        }
    }
    Ok(())
}

async fn pause(stop: &mut tokio::sync::watch::Receiver<bool>, wait: Duration) {
    tokio::select! {
        () = tokio::time::sleep(wait) => {}
        _ = stop.changed() => {}
    }
}
