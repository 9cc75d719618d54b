//! The postback worker: claims due calls from the `postbacks` table, makes them (bounded
//! concurrency, a timeout each, signed), records every attempt, and retries by the policy of
//! [`crate::postback::Policy`]. A call is claimed with a lease before it is made, so no other
//! worker makes it meanwhile; a stop lets calls in flight finish and leaves the rest pending for
//! the next start.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use tokio::sync::{watch, Notify, Semaphore};

use crate::catalog::Catalog;
use crate::postback::{retry_after, signature, Answer, Next, Policy};
use crate::store::{now_ms, Attempt, DueCall, Store};

/// The header carrying a postback's signature.
pub const SIGNATURE_HEADER: &str = "X-Clickscript-Signature";

/// The worker's settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Longest a call may take.
    pub timeout: Duration,
    /// When to retry and when to give up.
    pub policy: Policy,
    /// How often the table is looked at when nothing wakes the worker.
    pub poll: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            concurrency: 8,
            timeout: Duration::from_secs(10),
            policy: Policy::default(),
            poll: Duration::from_secs(1),
        }
    }
}

/// A running worker: wake it when calls were queued; stop it to finish.
pub struct Worker {
    /// Poked by ingest after it queued calls, so they go at once.
    pub wake: Arc<Notify>,
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<()>,
}

impl Worker {
    /// Starts the worker on `store`, signing with the campaigns' secrets in `catalog`.
    pub fn start(store: Store, catalog: Arc<RwLock<Catalog>>, settings: Settings) -> Worker {
        let wake = Arc::new(Notify::new());
        let (stop, stopped) = watch::channel(false);
        let done = tokio::spawn(run(store, catalog, settings, wake.clone(), stopped));
        Worker { wake, stop, done }
    }

    /// Stops claiming, lets the calls in flight finish, and returns when they have.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.done.await;
    }
}

async fn run(
    store: Store,
    catalog: Arc<RwLock<Catalog>>,
    settings: Settings,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    // This worker's claims are `WORKER:N`, N counting its claims, so that an attempt is
    // recorded under the claim it was made under and a stop releases only this worker's.
    let worker = match crate::auth::random_hex(8) {
        Ok(w) => w,
        Err(e) => {
            warn_line!("postbacks: none will be sent: {e}");
            return;
        }
    };
    let mut claims = 0u64;
    let client = match reqwest::Client::builder()
        .timeout(settings.timeout)
        // A redirect is not followed: the signature covers the URL the campaign set, and a
        // receiver cannot send the call (and its lead data) anywhere else. A 3xx is a failure.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Clickscript-Collector/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            warn_line!("postbacks: no HTTP client, none will be sent: {e}");
            return;
        }
    };
    let slots = settings.concurrency.max(1);
    let permits = Arc::new(Semaphore::new(slots));
    // A claim outlives the call's timeout, so it never lapses while the call is made; a claim
    // of a collector that died is due again once it lapses.
    let lease = (settings.timeout + Duration::from_secs(30)).as_millis() as i64;
    while !*stop.borrow() {
        let free = permits.available_permits() as i64;
        claims += 1;
        let claim = format!("{worker}:{claims}");
        let due = match free {
            0 => Vec::new(),
            _ => store
                .claim_postbacks(free, lease, claim)
                .await
                .unwrap_or_else(|e| {
                    warn_line!("postbacks: cannot claim calls: {e}");
                    Vec::new()
                }),
        };
        if due.is_empty() {
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(settings.poll) => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        for call in due {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let (store, catalog, client, policy, wake) = (
                store.clone(),
                catalog.clone(),
                client.clone(),
                settings.policy,
                wake.clone(),
            );
            tokio::spawn(async move {
                make(&store, &catalog, &client, policy, call).await;
                drop(permit);
                // A place is free: claim the next call now rather than at the next poll.
                wake.notify_one();
            });
        }
    }
    // Stopping: the calls in flight finish (each within its timeout); nothing new is claimed.
    let _ = permits.acquire_many(slots as u32).await;
    if let Err(e) = store.release_postbacks(worker).await {
        warn_line!("postbacks: {e}");
    }
}

/// Most of a receiver's answer read before the connection is dropped.
const MAX_ANSWER_BODY: usize = 64 * 1024;

fn jitter() -> f64 {
    getrandom::u64()
        .map(|r| (r >> 11) as f64 / (1u64 << 53) as f64)
        .unwrap_or(0.5)
}

/// Where a call went, for the log: scheme, host and path, not the query (it carries lead data).
fn target(url: &str) -> String {
    reqwest::Url::parse(url)
        .map(|u| {
            format!(
                "{}://{}{}",
                u.scheme(),
                u.host_str().unwrap_or(""),
                u.path()
            )
        })
        .unwrap_or_else(|_| "(bad URL)".into())
}

/// Makes one call and records the attempt.
async fn make(
    store: &Store,
    catalog: &RwLock<Catalog>,
    client: &reqwest::Client,
    policy: Policy,
    call: DueCall,
) {
    let secret = catalog
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .campaigns
        .get(&call.campaign)
        .and_then(|c| c.postback_secret.clone());
    let at = now_ms();
    let started = Instant::now();
    let (answer, status, error) = match secret {
        None => (
            Answer::Status(0, None),
            None,
            Some("the campaign no longer exists or has no postback_secret".to_owned()),
        ),
        Some(secret) => send(client, &secret, &call).await,
    };
    let latency_ms = started.elapsed().as_millis() as i64;
    let made = call.attempts + 1;
    let (done, next_at) = match policy.next(made, answer, jitter()) {
        Next::Delivered => (Some("delivered"), at),
        Next::Failed => (Some("failed"), at),
        Next::Retry(wait) => (None, now_ms() + wait.as_millis() as i64),
    };
    log_line!(
        "postback {} {} {} attempt={made} status={} latency_ms={latency_ms} -> {}",
        call.id,
        call.method,
        target(&call.url),
        status.map_or("-".into(), |s| s.to_string()),
        done.unwrap_or("retry")
    );
    let attempt = Attempt {
        at,
        status,
        latency_ms,
        error,
        done,
        next_at,
    };
    let id = call.id;
    if let Err(e) = store.record_attempt(call, attempt).await {
        // The claim lapses and the call is made again: at least once, never lost.
        warn_line!("postbacks: cannot record attempt of {id}: {e}");
    }
}

/// Sends the call: (what came back, its status, what went wrong).
async fn send(
    client: &reqwest::Client,
    secret: &str,
    call: &DueCall,
) -> (Answer, Option<u16>, Option<String>) {
    let unix = (now_ms() / 1000) as u64;
    let body = call.body.clone().unwrap_or_default();
    let method = match call.method.as_str() {
        "POST" => reqwest::Method::POST,
        _ => reqwest::Method::GET,
    };
    // The request target as it goes on the request line: what the signature covers.
    let target = reqwest::Url::parse(&call.url)
        .map(|u| match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        })
        .unwrap_or_default();
    let signed = signature(secret, unix, method.as_str(), &target, &body);
    let mut request = client
        .request(method, &call.url)
        .header(SIGNATURE_HEADER, signed)
        .header("Idempotency-Key", &call.idempotency_key);
    if let Some(kind) = &call.content_type {
        if let Ok(v) = HeaderValue::from_str(kind) {
            request = request.header(CONTENT_TYPE, v);
        }
        request = request.body(body);
    }
    match request.send().await {
        Ok(response) => {
            let code = response.status().as_u16();
            let after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry_after(v, std::time::SystemTime::now()));
            // The answer's body is not needed; reading a little of it lets a short answer's
            // connection be reused, and a long one is dropped rather than read.
            let mut response = response;
            let mut read = 0usize;
            while let Ok(Some(chunk)) = response.chunk().await {
                read += chunk.len();
                if read > MAX_ANSWER_BODY {
                    break;
                }
            }
            let error = match code {
                200..=299 => None,
                300..=399 => Some(format!(
                    "HTTP {code}: redirects are not followed; set the URL it redirects to"
                )),
                _ => Some(format!("HTTP {code}")),
            };
            (Answer::Status(code, after), Some(code), error)
        }
        Err(e) => {
            let why = if e.is_timeout() {
                "timed out".to_owned()
            } else if e.is_connect() {
                format!("cannot connect: {e}")
            } else {
                format!("no answer: {e}")
            };
            (Answer::NoAnswer, None, Some(why))
        }
    }
}
